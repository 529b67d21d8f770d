/* moe.cu: mixture-of-experts routing (sigmoid + bias, grouped top-k) and the device-side
 * construction of grouped-GEMV descriptors for the chosen experts, so a decode step's MoE runs
 * in two GEMV launches and can be captured in a CUDA graph.
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90. CPU reference: engine/cpu/cpu-route.c glim_cpu_route and
 * engine/cpu/cpu-forward.c moe_forward. */
#include <float.h>

#include "common.cuh"

#define ROUTE_MAX_E 1024

/* ---- kernels ---- */

/* The gate/up (SWIGLU) and down descriptors of token t's slot k (slot K: the shared expert, table
 * entry E). Gate/up groups live at groups[p], down groups at groups[n_pairs + p]. */
__device__ void
moe_write_groups (const GkMoeArgs &a, int t, int k)
{
  int n_slots = a.K + 1, p = t * n_slots + k, n_pairs = a.T * n_slots;
  int e = k < a.K ? a.idx[t * a.K + k] : a.E;
  GkGemvGroup g;
  memset (&g, 0, sizeof g);
  g.T = a.gate[e].rows > 0 ? 1 : 0;
  g.w = a.gate[e];
  g.w2 = a.up[e];
  g.x = a.x + (size_t) t * a.D;
  g.y = a.act + (size_t) p * a.F_max;
  g.norm_w = a.norm_w;
  g.norm_eps = a.norm_eps;
  g.alpha = 1.0f;
  a.groups[p] = g;
  memset (&g, 0, sizeof g);
  g.T = a.gate[e].rows > 0 ? 1 : 0;
  g.w = a.down[e];
  g.x = a.act + (size_t) p * a.F_max;
  g.y = a.slots + (size_t) p * a.D;
  g.alpha = k < a.K ? a.weight[t * a.K + k] : 1.0f;
  a.groups[n_pairs + p] = g;
}

/* Warp-wide argmax of v[i] over i = lane, lane + 32, ... < n not yet taken; ties go to the
 * lowest index (as the CPU reference). Returns -1 if nothing is left. */
__device__ int
warp_argmax_free (const float *v, const unsigned char *taken, int n)
{
  int lane = threadIdx.x & 31;
  float bv = -FLT_MAX;
  int bi = -1;
  for (int i = lane; i < n; i += 32)
    if (!taken[i] && (bi < 0 || v[i] > bv)) {
      bv = v[i];
      bi = i;
    }
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync (0xffffffffu, bv, o);
    int oi = __shfl_xor_sync (0xffffffffu, bi, o);
    if (oi >= 0 && (bi < 0 || ov > bv || (ov == bv && oi < bi))) {
      bv = ov;
      bi = oi;
    }
  }
  return bi;
}

/* Routing of token t by one warp (lane = threadIdx.x & 31): sigmoid scores, grouped masking,
 * then K rounds of a warp argmax; logits is the token's [E] row. */
struct RouteSmem {
  float scores[ROUTE_MAX_E], choice[ROUTE_MAX_E], gs[64];
  unsigned char taken[ROUTE_MAX_E], gt[64];
};

__device__ void
route_token (const GkRouteArgs &a, int t, const float *logits, RouteSmem &sm)
{
  float *scores = sm.scores, *choice = sm.choice, *gs = sm.gs;
  unsigned char *taken = sm.taken, *gt = sm.gt;
  int lane = threadIdx.x & 31;
  for (int e = lane; e < a.E; e += 32) {
    float s = 1.0f / (1.0f + expf (-logits[e]));
    scores[e] = s;
    choice[e] = s + a.bias[e];
    taken[e] = 0;
  }
  __syncwarp ();
  int G = a.n_group, per = a.E / G;
  if (G > 1) {
    for (int g = lane; g < G; g += 32) {
      float x = -FLT_MAX, y = -FLT_MAX;
      for (int i = 0; i < per; i++) {
        float v = choice[g * per + i];
        if (v > x) { y = x; x = v; } else if (v > y) { y = v; }
      }
      gs[g] = x + y;
      gt[g] = 0;
    }
    __syncwarp ();
    for (int k = 0; k < a.topk_group; k++) {
      int best = warp_argmax_free (gs, gt, G);
      if (lane == 0)
        gt[best] = 1;
      __syncwarp ();
    }
    for (int e = lane; e < a.E; e += 32)
      if (!gt[e / per])
        taken[e] = 1;
    __syncwarp ();
  }
  float w = 0.0f, sum = 0.0f;
  int mine = -1;
  for (int k = 0; k < a.K; k++) {
    int best = warp_argmax_free (choice, taken, a.E);
    if (lane == 0)
      taken[best] = 1;
    __syncwarp ();
    sum += scores[best];
    if (lane == k) {
      mine = best;
      w = scores[best];
    }
  }
  if (lane < a.K) {
    if (a.norm_topk_prob)
      w /= sum + 1e-20f;
    a.idx[t * a.K + lane] = mine;
    a.weight[t * a.K + lane] = w * a.scaling;
  }
  if (a.moe != nullptr) {
    /* build this token's expert descriptors right here: one launch less per layer */
    __syncwarp ();
    const GkMoeArgs &m = *a.moe;
    for (int k = lane; k <= m.K; k += 32)
      moe_write_groups (m, t, k);
  }
}

/* One warp per token. */
__global__ void __launch_bounds__ (32)
route_kernel (GkRouteArgs a)
{
  __shared__ RouteSmem sm;
  route_token (a, blockIdx.x, a.logits + (size_t) blockIdx.x * a.E, sm);
}

/* The router's matrix-vector product and the routing in one launch: grid (row blocks, T), one
 * warp per expert row with all of a lane's 16-byte BF16 loads in flight (issued before waiting
 * on the previous kernel: the weights don't depend on it), x RMSNorm'd into shared memory by
 * every block; each block writes its logits, and the last block of a token to finish reads
 * them all back and routes (then resets the token's counter for the next call). */
#define ROUTER_WARPS 8
#define ROUTER_COLS_PER_LANE 8          /* bf16 per 16-byte load */

template <int LOADS>
__global__ void __launch_bounds__ (ROUTER_WARPS * 32)
router_route_kernel (GkRouteArgs a, GkRouterInput in)
{
  __shared__ RouteSmem sm;
  __shared__ float logits[ROUTE_MAX_E], red[32];
  __shared__ int last;
  extern __shared__ float xs[];                         /* [D] */
  gk_pdl_launch_dependents ();
  const int t = blockIdx.y, D = in.w.cols, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int e = blockIdx.x * ROUTER_WARPS + warp;
  const uint16_t *w = (const uint16_t *) in.w.data;
  uint4 q[LOADS];
#pragma unroll
  for (int i = 0; i < LOADS; i++) {
    int c = (i * 32 + lane) * ROUTER_COLS_PER_LANE;
    q[i] = e < a.E && c < D ? __ldg ((const uint4 *) (w + (size_t) e * D + c))
                            : make_uint4 (0, 0, 0, 0);
  }
  gk_pdl_wait ();                                       /* x is the previous kernel's output */
  const float *x = in.x + (size_t) t * in.x_stride;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < D; c += blockDim.x) {
    float v = x[c];
    ss += v * v;
    xs[c] = v * (in.norm_w ? in.norm_w[c] : 1.0f);
  }
  float inv = in.norm_w ? rsqrtf (gk_block_sum (ss, red) / (float) D + in.norm_eps) : 1.0f;
  __syncthreads ();
  if (e < a.E) {
    float acc = 0.0f;
#pragma unroll
    for (int i = 0; i < LOADS; i++) {
      int c = (i * 32 + lane) * ROUTER_COLS_PER_LANE;
      if (c >= D)
        break;
      const uint32_t u[4] = { q[i].x, q[i].y, q[i].z, q[i].w };
#pragma unroll
      for (int j = 0; j < 4; j++)
        acc += __uint_as_float (u[j] << 16) * xs[c + 2 * j] +
               __uint_as_float (u[j] & 0xffff0000u) * xs[c + 2 * j + 1];
    }
    acc = gk_warp_sum (acc);
    if (lane == 0)
      in.logits[(size_t) t * a.E + e] = acc * inv;
  }
  /* publish this block's logits, then count it; the last block sees every block's */
  __threadfence ();
  __syncthreads ();
  if (threadIdx.x == 0)
    last = atomicAdd (&in.done[t], 1u) == gridDim.x - 1;
  __syncthreads ();
  if (!last)
    return;
  __threadfence ();
  for (int i = threadIdx.x; i < a.E; i += blockDim.x)
    logits[i] = __ldcg (in.logits + (size_t) t * a.E + i);
  if (threadIdx.x == 0)
    in.done[t] = 0;
  __syncthreads ();
  if (warp == 0)
    route_token (a, t, logits, sm);
}

__global__ void
moe_combine_kernel (float *out, const float *slots, int n_slots, int n_used, int D, int accumulate)
{
  gk_pdl_launch_dependents ();    /* the next layer's first GEMV may start loading weights */
  gk_pdl_wait ();                 /* the slots are the down GEMV's output */
  int t = blockIdx.y;
  int d = blockIdx.x * blockDim.x + threadIdx.x;
  if (d >= D)
    return;
  float acc = 0.0f;
  for (int k = 0; k < n_used; k++)
    acc += slots[((size_t) t * n_slots + k) * D + d];
  if (accumulate)
    out[(size_t) t * D + d] += acc;
  else
    out[(size_t) t * D + d] = acc;
}

/* ---- launchers ---- */

extern "C" cudaError_t
gk_route (const GkRouteArgs *args, cudaStream_t stream)
{
  if (args->E > ROUTE_MAX_E || args->n_group > 64 || args->E % args->n_group || args->K > args->E ||
      args->K > 32)
    return cudaErrorInvalidValue;
  if (args->T <= 0)
    return cudaSuccess;
  route_kernel<<<args->T, 32, 0, stream>>> (*args);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_router_route (const GkRouteArgs *args, const GkRouterInput *in, cudaStream_t stream)
{
  int D = in->w.cols, loads = GK_CEIL_DIV (D, 32 * ROUTER_COLS_PER_LANE);
  if (in->w.format != GK_WEIGHT_BF16 || in->w.rows != args->E || D % ROUTER_COLS_PER_LANE ||
      loads > 16 || (uintptr_t) in->w.data % 16)
    return cudaErrorNotSupported;
  if (args->E > ROUTE_MAX_E || args->n_group > 64 || args->E % args->n_group || args->K > args->E ||
      args->K > 32)
    return cudaErrorInvalidValue;
  if (args->T <= 0)
    return cudaSuccess;
  if (in->logits == NULL || in->done == NULL)
    return cudaErrorInvalidValue;
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg =
      gk_launch_config (dim3 (GK_CEIL_DIV (args->E, ROUTER_WARPS), args->T),
                        dim3 (ROUTER_WARPS * 32), (size_t) D * sizeof (float), stream, true, &attr);
  if (loads <= 4)
    cudaLaunchKernelEx (&cfg, router_route_kernel<4>, *args, *in);
  else if (loads <= 8)
    cudaLaunchKernelEx (&cfg, router_route_kernel<8>, *args, *in);
  else
    cudaLaunchKernelEx (&cfg, router_route_kernel<16>, *args, *in);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_moe_combine (float *out, const float *slots, int T, int n_slots, int n_used, int D,
                int accumulate, cudaStream_t stream)
{
  if (T <= 0)
    return cudaSuccess;
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg = gk_launch_config (dim3 (GK_CEIL_DIV (D, 256), T), dim3 (256), 0,
                                             stream, true, &attr);
  cudaLaunchKernelEx (&cfg, moe_combine_kernel, out, slots, n_slots, n_used, D, accumulate);
  return gk_check_launch ();
}
