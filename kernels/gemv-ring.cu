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
 * registers while in flight: each warp owns RING_RPW rows and a ring of NS stages of one
 * 256-column step each (lane l: the 4 bytes of columns 8l..8l+7 of each row, and 4 of the 16
 * scale bytes), and issues its step j + NS - 1 before computing step j. With WPR 1 a warp takes
 * whole rows and warps are independent (no block barrier after the table; a lane's columns and
 * order of additions are gemv.cu's with one warp per row); where that leaves few warps per SM
 * (o_proj: 512 warps for 2,048 long rows), the block's 4 warps share one row group instead
 * (WPR 4: steps first, first + 4, ...) and add their sums in shared memory. Groups in other
 * formats, other shapes (columns not a multiple of 256) or unaligned data take a plain
 * per-element loop in the same kernel.
 * Status: opt-in (GLIMMER_GEMV=ring), not yet run on a GPU; tests/test-cuda-gemv.c checks it
 * against float64 (both row splits: o_proj's shape takes WPR 4) and tests/bench-gemv.c times
 * it. */
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
            ((uintptr_t) g.x & 15) == 0 &&
            (g.norm_w == nullptr || ((uintptr_t) g.norm_w & 15) == 0);
  if (MODE == GK_GEMV_SWIGLU)
    ok = ok && g.w2.format == GK_WEIGHT_NVFP4 && g.w2.rows == g.w.rows && g.w2.cols == K &&
         ((uintptr_t) g.w2.data & 3) == 0 && ((uintptr_t) g.w2.scales & 3) == 0;
  return ok;
}

/* grid (row blocks, groups), RING_WARPS warps; the WPR warps w of block b with the same w / WPR
 * take rows (b * RING_WARPS / WPR + w / WPR) * RING_RPW and the next RING_RPW - 1 of its group,
 * warp w its steps w % WPR, w % WPR + WPR, ... */
template <int MODE, int WPR>
__global__ void __launch_bounds__ (RING_WARPS * 32)
gemv_ring_kernel (const GkGemvGroup *groups, int t_override, int early)
{
  constexpr int NM = RingShape<MODE>::NM, NS = RingShape<MODE>::NS;
  constexpr bool SW = MODE == GK_GEMV_SWIGLU;
  __shared__ __align__ (64) float lut[16];      /* gk_lut_e2m1x8 ORs offsets into its address */
  __shared__ __align__ (16) uint32_t ring[RING_WARPS][NS][NM][RING_RPW][RING_WORDS];
  __shared__ float part[WPR > 1 ? RING_WARPS : 1][2 * RING_RPW + 1];
  gk_gemv_begin (lut, early);
  const GkGemvGroup &g = groups[blockIdx.y];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row0 = (blockIdx.x * (RING_WARPS / WPR) + warp / WPR) * RING_RPW;
  const int first = warp % WPR, rows = g.w.rows, K = g.w.cols;
  const int n_tok = t_override > 0 ? t_override : g.T;
  if (n_tok != 1 || row0 >= rows) {
    gk_pdl_wait ();               /* finish only after what this grid depends on */
    return;                       /* the block's barrier (WPR > 1) is skipped by all its warps:
                                   * they share row0 */
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
        size_t row = (size_t) min (row0 + r, rows - 1);
        wq[m][r] = (const uint8_t *) w.data + row * (K / 2) + lane * 4;
      }
    const int sm = lane / 16, sr = (lane / 4) % RING_RPW, sp = lane % 4;   /* lane < 16 NM */
    const GkMatrix &sw = sm == 0 ? g.w : g.w2;
    const uint8_t *sq = sw.scales + (size_t) min (row0 + sr, rows - 1) * (K / 16) + sp * 4;
    const int steps = K / RING_STEP;
    const int mine = first < steps ? (steps - first + WPR - 1) / WPR : 0;  /* this warp's steps */
    auto issue = [&] (int j) {
      if (j < mine) {
        int stage = j % NS, s = first + j * WPR;
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
    for (int j = 0; j < mine; j++) {
      issue (j + NS - 1);
      cp_async_wait<NS - 1> ();   /* this lane's copies of step j have landed */
      __syncwarp ();              /* and every lane's */
      const int stage = j % NS, c = (first + j * WPR) * RING_STEP + lane * 8;
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
    /* any format or shape: lanes over the columns, one row at a time (scale2 applied here);
     * with WPR > 1 the warps of a row group take interleaved runs of 32 columns */
    gk_pdl_wait ();
    for (int c = first * 32 + lane; c < K; c += 32 * WPR) {
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

  /* the warp's sums; with WPR > 1 the row group's warps add theirs in shared memory */
  float a[RING_RPW], b[RING_RPW], q = g.norm_w != nullptr ? gk_warp_sum (ss) : 0.0f;
#pragma unroll
  for (int r = 0; r < RING_RPW; r++) {
    a[r] = gk_warp_sum (acc[r]);
    b[r] = SW ? gk_warp_sum (acc2[r]) : 0.0f;
  }
  if (WPR > 1) {
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < RING_RPW; r++) {
        part[warp][r] = a[r];
        part[warp][RING_RPW + r] = b[r];
      }
      part[warp][2 * RING_RPW] = q;
    }
    __syncthreads ();
    if (first != 0)
      return;
    q = 0.0f;
#pragma unroll
    for (int r = 0; r < RING_RPW; r++)
      a[r] = b[r] = 0.0f;
    for (int w = warp; w < warp + WPR; w++) {
#pragma unroll
      for (int r = 0; r < RING_RPW; r++) {
        a[r] += part[w][r];
        b[r] += part[w][RING_RPW + r];
      }
      q += part[w][2 * RING_RPW];
    }
  }
  const float inv = g.norm_w != nullptr ? rsqrtf (q / (float) K + g.norm_eps) : 1.0f;
  const float s1 = fast ? g.w.scale2 : 1.0f, s2 = fast && SW ? g.w2.scale2 : 1.0f;
#pragma unroll
  for (int r = 0; r < RING_RPW; r++) {
    if (lane == r && row0 + r < rows) {
      float u = a[r] * s1 * inv, v = SW ? u / (1.0f + expf (-u)) * (b[r] * s2 * inv) : u;
      float *y = g.y + row0 + r;
      *y = g.accumulate ? *y + g.alpha * v : g.alpha * v;
    }
  }
}

template <int MODE, int WPR>
static cudaError_t
launch (const GkGemvGroup *groups, int n_groups, int max_rows, int t_override, int flags,
        cudaStream_t stream)
{
  int early = (flags & GK_GEMV_EARLY) != 0;
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg =
      gk_launch_config (dim3 (GK_CEIL_DIV (max_rows, RING_WARPS / WPR * RING_RPW), n_groups),
                        dim3 (RING_WARPS * 32), 0, stream, early, &attr);
  cudaLaunchKernelEx (&cfg, gemv_ring_kernel<MODE, WPR>, groups, t_override, early);
  return gk_check_launch ();
}

/* whole rows per warp (WPR 1) unless that gives fewer than 8 warps per SM and the rows are long
 * enough for 4 warps to share them (8 steps or more) */
template <int MODE>
static cudaError_t
launch_mode (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols, int t_override,
             int flags, cudaStream_t stream)
{
  const int sms = gk_device_sms (132);
  long warps = (long) GK_CEIL_DIV (max_rows, RING_RPW) * n_groups;
  if (warps < (long) sms * 8 && max_cols / RING_STEP >= 8)
    return launch<MODE, RING_WARPS> (groups, n_groups, max_rows, t_override, flags, stream);
  return launch<MODE, 1> (groups, n_groups, max_rows, t_override, flags, stream);
}

extern "C" cudaError_t
gk_gemv_ring (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols, int mode, int T,
              int flags, cudaStream_t stream)
{
  if (T < 0 || n_groups <= 0 || max_rows <= 0 || max_cols <= 0)
    return cudaErrorInvalidValue;
  if (T > 1)
    return cudaErrorNotSupported;     /* one token only: gk_gemv takes batches */
  return mode == GK_GEMV_SWIGLU
             ? launch_mode<GK_GEMV_SWIGLU> (groups, n_groups, max_rows, max_cols, T, flags, stream)
             : launch_mode<GK_GEMV_PLAIN> (groups, n_groups, max_rows, max_cols, T, flags, stream);
}
