/* gemv-ring.cu: batch-1 NVFP4 matrix-vector products whose weights stream through a ring of
 * shared-memory stages (cp.async), so that a warp keeps its next steps' loads in flight while it
 * computes the current one. Same contract as gemv.cu (gk.h: GkGemvGroup) for one token; CPU
 * reference: engine/cpu/cpu-ops.c glim_cpu_linear (+ glim_cpu_silu_mul for SWIGLU).
 * Architectures: sm_80, 86, 89, 90 (cp.async).
 * SPDX-License-Identifier: MIT
 *
 * Why: gemv.cu's warps load a batch of steps into registers, then compute it, then load the
 * next: one full memory latency per batch, and registers bound the batch (H200: the batch-1
 * gate/up at ~0.9 TB/s, docs/PERFORMANCE.md). Here the loads go to shared memory and cost no
 * registers while in flight: each warp owns RING_RPW whole rows and a ring of NS stages of one
 * 256-column step each (lane l: the 4 bytes of columns 8l..8l+7 of each row, and 4 of the 16
 * scale bytes), and issues step s + NS - 1 before computing step s. Warps are independent (no
 * block barrier after the table), and a lane's columns and order of additions are gemv.cu's
 * with one warp per row. Groups in other formats, other shapes (columns not a multiple of 256)
 * or unaligned data take a plain per-element loop in the same kernel.
 * Status: opt-in (GLIMMER_GEMV=ring), not yet run on a GPU; tests/test-cuda-gemv.c checks it
 * against float64 and tests/bench-gemv.c times it. */
#include "common.cuh"

#define RING_WARPS 4
#define RING_RPW 4                        /* rows per warp */
#define RING_STEP 256                     /* columns per stage: 32 lanes x 8 */
#define RING_WORDS 36                     /* per row and stage: 32 weight words, 4 scale words */

template <int MODE>
struct RingShape {
  static constexpr int NM = MODE == GK_GEMV_SWIGLU ? 2 : 1;     /* matrices */
  static constexpr int NS = MODE == GK_GEMV_SWIGLU ? 4 : 8;     /* stages: 4.5 KB per warp */
};

__device__ __forceinline__ void
cp_async4 (void *dst, const void *src)
{
  asm volatile ("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_addr (dst)), "l"(src));
}

/* the fast path takes group g: NVFP4 (both matrices), K a multiple of the step, 4-byte aligned
 * weights and scales, 16-byte aligned x and norm weights */
template <int MODE>
__device__ __forceinline__ bool
ring_takes (const GkGemvGroup &g)
{
  const int K = g.w.cols;
  bool ok = g.w.format == GK_WEIGHT_NVFP4 && K % RING_STEP == 0 &&
            ((uintptr_t) g.w.data & 3) == 0 && ((uintptr_t) g.w.scales & 3) == 0 &&
            ((uintptr_t) g.x & 15) == 0 && (g.norm_w == nullptr || ((uintptr_t) g.norm_w & 15) == 0);
  if (MODE == GK_GEMV_SWIGLU)
    ok = ok && g.w2.format == GK_WEIGHT_NVFP4 && g.w2.rows == g.w.rows && g.w2.cols == K &&
         ((uintptr_t) g.w2.data & 3) == 0 && ((uintptr_t) g.w2.scales & 3) == 0;
  return ok;
}

/* grid (row blocks, groups), RING_WARPS warps; warp w of block b takes rows
 * (b * RING_WARPS + w) * RING_RPW and the next RING_RPW - 1 of its group */
template <int MODE>
__global__ void __launch_bounds__ (RING_WARPS * 32)
gemv_ring_kernel (const GkGemvGroup *groups, int t_override, int early)
{
  constexpr int NM = RingShape<MODE>::NM, NS = RingShape<MODE>::NS;
  constexpr bool SW = MODE == GK_GEMV_SWIGLU;
  __shared__ __align__ (64) float lut[16];      /* gk_lut_e2m1x8 ORs offsets into its address */
  __shared__ __align__ (16) uint32_t ring[RING_WARPS][NS][NM][RING_RPW][RING_WORDS];
  gk_pdl_launch_dependents ();
  if (!early)
    gk_pdl_wait ();               /* the descriptors may be the previous kernel's output */
  if (threadIdx.x < 16)
    lut[threadIdx.x] = gk_e2m1 (threadIdx.x);
  __syncthreads ();
  const GkGemvGroup &g = groups[blockIdx.y];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row0 = (blockIdx.x * RING_WARPS + warp) * RING_RPW, rows = g.w.rows, K = g.w.cols;
  const int n_tok = t_override > 0 ? t_override : g.T;
  if (n_tok != 1 || row0 >= rows) {
    gk_pdl_wait ();               /* finish only after what this grid depends on */
    return;                       /* no block barrier follows */
  }
  const bool fast = ring_takes<MODE> (g);
  float acc[RING_RPW], acc2[RING_RPW], ss = 0.0f;
#pragma unroll
  for (int r = 0; r < RING_RPW; r++)
    acc[r] = acc2[r] = 0.0f;

  if (fast) {
    uint32_t (*st)[NM][RING_RPW][RING_WORDS] = ring[warp];
    /* this lane's sources: its word of each row, and one 4-byte part of a row's 16 scales */
    const uint8_t *wq[NM][RING_RPW];
#pragma unroll
    for (int m = 0; m < NM; m++)
#pragma unroll
      for (int r = 0; r < RING_RPW; r++) {
        const GkMatrix &w = m == 0 ? g.w : g.w2;
        wq[m][r] = (const uint8_t *) w.data + (size_t) min (row0 + r, rows - 1) * (K / 2) + lane * 4;
      }
    const int sm = lane / 16, sr = (lane / 4) % RING_RPW, sp = lane % 4;   /* lane < 16 NM */
    const GkMatrix &sw = sm == 0 ? g.w : g.w2;
    const uint8_t *sq = sw.scales + (size_t) min (row0 + sr, rows - 1) * (K / 16) + sp * 4;
    const int steps = K / RING_STEP;
    auto issue = [&] (int s) {
      if (s < steps) {
        int stage = s % NS;
#pragma unroll
        for (int m = 0; m < NM; m++)
#pragma unroll
          for (int r = 0; r < RING_RPW; r++)
            cp_async4 (&st[stage][m][r][lane], wq[m][r] + (size_t) s * (RING_STEP / 2));
        if (lane < 16 * NM)
          cp_async4 (&st[stage][sm][sr][32 + sp], sq + (size_t) s * (RING_STEP / 16));
      }
      cp_async_commit ();         /* an empty group past the end keeps the count uniform */
    };
#pragma unroll
    for (int s = 0; s < NS - 1; s++)
      issue (s);
    gk_pdl_wait ();               /* x (and y when accumulating) come from the previous kernel */
    for (int s = 0; s < steps; s++) {
      issue (s + NS - 1);
      cp_async_wait<NS - 1> ();   /* this lane's copies of step s have landed */
      __syncwarp ();              /* and every lane's */
      const int stage = s % NS, c = s * RING_STEP + lane * 8;
      float xv[1][8];
      {
        float4 a = *(const float4 *) (g.x + c), b = *(const float4 *) (g.x + c + 4);
        xv[0][0] = a.x; xv[0][1] = a.y; xv[0][2] = a.z; xv[0][3] = a.w;
        xv[0][4] = b.x; xv[0][5] = b.y; xv[0][6] = b.z; xv[0][7] = b.w;
        if (g.norm_w != nullptr) {
          float4 na = __ldg ((const float4 *) (g.norm_w + c));
          float4 nb = __ldg ((const float4 *) (g.norm_w + c + 4));
          const float nw[8] = { na.x, na.y, na.z, na.w, nb.x, nb.y, nb.z, nb.w };
#pragma unroll
          for (int i = 0; i < 8; i++) {
            ss += xv[0][i] * xv[0][i];
            xv[0][i] *= nw[i];
          }
        }
      }
#pragma unroll
      for (int r = 0; r < RING_RPW; r++) {
        float wv[8];
        const uint32_t sc = ((const uint8_t *) &st[stage][0][r][32])[lane / 2];
        gk_lut_e2m1x8 (st[stage][0][r][lane], lut, wv);
        gk_dot8<1> (wv, xv, gk_fp8_e4m3_fast (sc), &acc[r]);
        if (SW) {
          const uint32_t sc2 = ((const uint8_t *) &st[stage][NM - 1][r][32])[lane / 2];
          gk_lut_e2m1x8 (st[stage][NM - 1][r][lane], lut, wv);
          gk_dot8<1> (wv, xv, gk_fp8_e4m3_fast (sc2), &acc2[r]);
        }
      }
      __syncwarp ();              /* every lane has read the stage before it is refilled */
    }
    cp_async_wait<0> ();
  } else {
    /* any format or shape: lanes over the columns, one row at a time (scale2 applied here) */
    gk_pdl_wait ();
    for (int c = lane; c < K; c += 32) {
      float xc = g.x[c];
      if (g.norm_w != nullptr) {
        ss += xc * xc;
        xc *= g.norm_w[c];
      }
#pragma unroll
      for (int r = 0; r < RING_RPW; r++) {
        int rr = min (row0 + r, rows - 1);
        acc[r] += gk_matrix_at (g.w, rr, c) * xc;
        if (SW)
          acc2[r] += gk_matrix_at (g.w2, rr, c) * xc;
      }
    }
  }

  float inv = 1.0f;
  if (g.norm_w != nullptr)
    inv = rsqrtf (gk_warp_sum (ss) / (float) K + g.norm_eps);
  const float s1 = fast ? g.w.scale2 : 1.0f, s2 = fast && SW ? g.w2.scale2 : 1.0f;
#pragma unroll
  for (int r = 0; r < RING_RPW; r++) {
    float a = gk_warp_sum (acc[r]) * s1 * inv;
    float b = SW ? gk_warp_sum (acc2[r]) * s2 * inv : 0.0f;
    if (lane == r && row0 + r < rows) {
      float v = SW ? a / (1.0f + expf (-a)) * b : a;
      float *y = g.y + row0 + r;
      *y = g.accumulate ? *y + g.alpha * v : g.alpha * v;
    }
  }
}

template <int MODE>
static cudaError_t
launch (const GkGemvGroup *groups, int n_groups, int max_rows, int t_override, int flags,
        cudaStream_t stream)
{
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3 (GK_CEIL_DIV (max_rows, RING_WARPS * RING_RPW), n_groups);
  cfg.blockDim = dim3 (RING_WARPS * 32);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  int early = (flags & GK_GEMV_EARLY) != 0;
  cfg.numAttrs = early && gk_device_has_pdl () ? 1 : 0;
  cudaLaunchKernelEx (&cfg, gemv_ring_kernel<MODE>, groups, t_override, early);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_gemv_ring (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols, int mode, int T,
              int flags, cudaStream_t stream)
{
  (void) max_cols;
  if (T < 0 || n_groups <= 0 || max_rows <= 0 || max_cols <= 0)
    return cudaErrorInvalidValue;
  if (T > 1)
    return cudaErrorNotSupported;     /* one token only: gk_gemv takes batches */
  return mode == GK_GEMV_SWIGLU
             ? launch<GK_GEMV_SWIGLU> (groups, n_groups, max_rows, T, flags, stream)
             : launch<GK_GEMV_PLAIN> (groups, n_groups, max_rows, T, flags, stream);
}
