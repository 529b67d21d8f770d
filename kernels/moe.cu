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

/* One block per token; thread 0 does the (tiny) selection exactly as the CPU reference. */
__global__ void
route_kernel (GkRouteArgs a)
{
  __shared__ float scores[ROUTE_MAX_E], choice[ROUTE_MAX_E];
  __shared__ unsigned char taken[ROUTE_MAX_E];
  int t = blockIdx.x;
  for (int e = threadIdx.x; e < a.E; e += blockDim.x) {
    float s = 1.0f / (1.0f + expf (-a.logits[(size_t) t * a.E + e]));
    scores[e] = s;
    choice[e] = s + a.bias[e];
    taken[e] = 0;
  }
  __syncthreads ();
  if (threadIdx.x != 0)
    return;
  int G = a.n_group, per = a.E / G;
  if (G > 1) {
    float gs[64];
    unsigned char gt[64];
    for (int g = 0; g < G; g++) {
      float x = -FLT_MAX, y = -FLT_MAX;
      for (int i = 0; i < per; i++) {
        float v = choice[g * per + i];
        if (v > x) { y = x; x = v; } else if (v > y) { y = v; }
      }
      gs[g] = x + y;
      gt[g] = 0;
    }
    for (int k = 0; k < a.topk_group; k++) {
      int best = -1;
      for (int g = 0; g < G; g++)
        if (!gt[g] && (best < 0 || gs[g] > gs[best]))
          best = g;
      gt[best] = 1;
    }
    for (int g = 0; g < G; g++)
      if (!gt[g])
        for (int i = 0; i < per; i++)
          taken[g * per + i] = 1;
  }
  float sum = 0.0f;
  for (int k = 0; k < a.K; k++) {
    int best = -1;
    for (int e = 0; e < a.E; e++)
      if (!taken[e] && (best < 0 || choice[e] > choice[best]))
        best = e;
    taken[best] = 1;
    a.idx[t * a.K + k] = best;
    a.weight[t * a.K + k] = scores[best];
    sum += scores[best];
  }
  for (int k = 0; k < a.K; k++) {
    float w = a.weight[t * a.K + k];
    if (a.norm_topk_prob)
      w /= sum + 1e-20f;
    a.weight[t * a.K + k] = w * a.scaling;
  }
}

/* One thread per (token, slot); slot K is the shared expert (table entry E). */
__global__ void
moe_groups_kernel (GkMoeArgs a, int down)
{
  int p = blockIdx.x * blockDim.x + threadIdx.x;
  int n_slots = a.K + 1;
  if (p >= a.T * n_slots)
    return;
  int t = p / n_slots, k = p % n_slots;
  int e = k < a.K ? a.idx[t * a.K + k] : a.E;
  GkGemvGroup g;
  memset (&g, 0, sizeof g);
  g.T = a.gate[e].rows > 0 ? 1 : 0;
  if (!down) {
    g.w = a.gate[e];
    g.w2 = a.up[e];
    g.x = a.x + (size_t) t * a.D;
    g.y = a.act + (size_t) p * a.F_max;
    g.alpha = 1.0f;
  } else {
    g.w = a.down[e];
    g.x = a.act + (size_t) p * a.F_max;
    g.y = a.slots + (size_t) p * a.D;
    g.alpha = k < a.K ? a.weight[t * a.K + k] : 1.0f;
  }
  g.x_stride = 0;
  g.y_stride = 0;
  a.groups[p] = g;
}

__global__ void
moe_combine_kernel (float *out, const float *slots, int n_slots, int n_used, int D)
{
  int t = blockIdx.y;
  int d = blockIdx.x * blockDim.x + threadIdx.x;
  if (d >= D)
    return;
  float acc = 0.0f;
  for (int k = 0; k < n_used; k++)
    acc += slots[((size_t) t * n_slots + k) * D + d];
  out[(size_t) t * D + d] = acc;
}

/* ---- launchers ---- */

extern "C" cudaError_t
gk_route (const GkRouteArgs *args, cudaStream_t stream)
{
  if (args->E > ROUTE_MAX_E || args->n_group > 64 || args->E % args->n_group || args->K > args->E)
    return cudaErrorInvalidValue;
  if (args->T <= 0)
    return cudaSuccess;
  route_kernel<<<args->T, 256, 0, stream>>> (*args);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_moe_groups_gate_up (const GkMoeArgs *args, cudaStream_t stream)
{
  int n = args->T * (args->K + 1);
  moe_groups_kernel<<<GK_CEIL_DIV (n, 64), 64, 0, stream>>> (*args, 0);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_moe_groups_down (const GkMoeArgs *args, cudaStream_t stream)
{
  int n = args->T * (args->K + 1);
  moe_groups_kernel<<<GK_CEIL_DIV (n, 64), 64, 0, stream>>> (*args, 1);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_moe_combine (float *out, const float *slots, int T, int n_slots, int n_used, int D,
                cudaStream_t stream)
{
  if (T <= 0)
    return cudaSuccess;
  moe_combine_kernel<<<dim3 (GK_CEIL_DIV (D, 256), T), 256, 0, stream>>> (out, slots, n_slots,
                                                                          n_used, D);
  return gk_check_launch ();
}
