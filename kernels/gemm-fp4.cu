/* gemm-fp4.cu: grouped GEMM of NVFP4 weights against f16 activations (hi, or hi + lo) on
 * tensor cores, for the prefill's experts: every active expert's product in one launch, the
 * weights read in their stored 4-bit form and expanded in registers.
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90 (mma.sync m16n8k16 f16 -> f32, ldmatrix, cp.async). On
 * compute capability 9.0 gk_gemm_fp4 gives hi-only launches to gemm-fp4-wgmma.cu's kernel
 * instead (the same numbers on warpgroup MMA); this one takes hi + lo there, and everything
 * elsewhere. CPU reference: engine/cpu/cpu-ops.c glim_cpu_linear; float64 reference in
 * tests/test-cuda-prefill.c.
 *
 * Why: the cuBLAS path expands each expert's weights to float32 scratch before a TF32 GEMM:
 * at 8k tokens that writes and reads again ~2.4 GB per MoE layer, in ~200 launches. Here a
 * CTA stages its tile of packed weights and all of their scales with cp.async, and each warp
 * turns the codes it multiplies into f16 pairs with shifts and masks (gk_fp4_pair: exact,
 * 6 significant bits at most) right before the mma.
 *
 * Activations (gk_split_f16_mma): each row scaled by a power of two so that it fits f16, split
 * into f16 hi + lo (22 significant bits together, or hi alone: 11, TF32's), and its columns
 * permuted within every 32 so that a lane's A operand is whole words of codes: the k order of
 * an mma is free as long as A and B agree. Lane (g, q) takes word q of a row's 32-column
 * block, columns 8q .. 8q + 7, as the pairs (j, j + 4) gk_fp4_pair builds; mma m of the block
 * uses pairs 2m (its k 2q, 2q + 1) and 2m + 1 (k 2q + 8, 2q + 9), so its k = 16m + 8h + 2q + e
 * is column 8q + 4e + 2m + h, the order gk_split_f16_mma stores.
 *
 * Tiles: a CTA of 8 warps takes 128 output features x BN rows of one group (BN 128, or 64 for
 * small groups), stepping through K 64 columns at a time (three stages in flight, two with lo
 * halves; one barrier a step); warp w takes features 32 (w % 4) .. + 32 and rows (BN / 2)
 * (w / 4) .. + BN / 2. Each warp expands 32 rows of codes per 64 columns and reuses them for
 * BN / 2 rows of x (hi, and lo). */
#include <cuda_fp16.h>

#include "gemm-fp4.cuh"

#define G4_THREADS 256
#define G4_XROW (G4_BK + 8)     /* f16 per staged activation row (ldmatrix without conflicts) */

__host__ __device__ static constexpr size_t
g4_stage_bytes (int bn, bool lo)
{
  return (size_t) G4_BM * G4_WROW + (lo ? 2 : 1) * (size_t) bn * G4_XROW * 2;
}

/* stages in flight: three where two CTAs of them still fit an SM (hi only), else two */
__host__ __device__ static constexpr int
g4_stages (bool lo)
{
  return lo ? 2 : 3;
}

static size_t
g4_smem (int K, int bn, bool lo)
{
  return g4_stages (lo) * g4_stage_bytes (bn, lo) + (size_t) G4_BM * g4_scale_row (K);
}

template <int BN, bool LO>
__global__ void __launch_bounds__ (G4_THREADS, 2)
gemm_fp4_kernel (const GkGemmGroup *groups, int K)
{
  constexpr int NI = BN / 16;                   /* 8-row mma tiles per warp */
  constexpr size_t STAGE = g4_stage_bytes (BN, LO);
  constexpr int NST = g4_stages (LO);
  extern __shared__ __align__ (16) unsigned char smem[];
  const GkGemmGroup gr = groups[blockIdx.z];   /* in registers: not reloaded per stage */
  const int n0 = blockIdx.x * G4_BM, r0 = blockIdx.y * BN;
  const int N = gr.w.rows, rows = gr.rows;
  if (n0 >= N || r0 >= rows)
    return;                                     /* the whole CTA, before any barrier */
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const size_t srow = g4_scale_row (K);
  unsigned char *scales = smem + NST * STAGE;   /* [BM][srow] */

  const uint8_t *wdata = (const uint8_t *) gr.w.data;
  /* the tile's scales for all of K: row n0 + i, K / 16 bytes (a multiple of 16) */
  for (int i = tid; i < G4_BM * (K / 256); i += G4_THREADS) {
    int r = i / (K / 256), c = i % (K / 256);
    bool ok = n0 + r < N;
    cp_async16 (scales + (size_t) r * srow + c * 16,
                gr.w.scales + (size_t) (ok ? n0 + r : n0) * (K / 16) + c * 16, ok);
  }
  /* this thread's pieces of every stage: 16 bytes of one weight row's codes, and 16 bytes of
   * x (hi, and lo) from each of XJ rows; sources advance by a stage's columns */
  constexpr int XJ = BN * (G4_BK / 8) / G4_THREADS;
  const int wr = tid >> 1;
  const bool w_ok = n0 + wr < N;
  const uint8_t *wsrc = wdata + (size_t) (w_ok ? n0 + wr : n0) * (K / 2) + (tid & 1) * 16;
  const int wdst = wr * G4_WROW + (tid & 1) * 16;
  const int xr0 = tid / (G4_BK / 8), xc = tid % (G4_BK / 8);   /* row xr0 + j * XSTEP */
  constexpr int XSTEP = G4_THREADS / (G4_BK / 8);
  const uint16_t *xsrc = gr.xhi + (size_t) min (r0 + xr0, rows - 1) * K + xc * 8;
  const ptrdiff_t lo_off = LO ? gr.xlo - gr.xhi : 0;
  uint32_t x_ok = 0;                            /* bit j: row xr0 + j * XSTEP exists */
#pragma unroll
  for (int j = 0; j < XJ; j++)
    x_ok |= (uint32_t) (r0 + xr0 + j * XSTEP < rows) << j;
  auto load_stage = [&](int kt, int st) {
    unsigned char *base = smem + (size_t) st * STAGE;
    cp_async16 (base + wdst, wsrc + kt * (G4_BK / 2), w_ok);
    /* activations: BN rows x 64 f16 of hi (and of lo) */
    __half *xh = (__half *) (void *) (base + G4_BM * G4_WROW) + xr0 * G4_XROW + xc * 8;
#pragma unroll
    for (int j = 0; j < XJ; j++) {
      bool ok = (x_ok >> j) & 1;
      const uint16_t *src = xsrc + (ok ? (size_t) j * XSTEP * K : 0) + kt * G4_BK;
      cp_async16 (xh + j * XSTEP * G4_XROW, src, ok);
      if (LO)
        cp_async16 (xh + BN * G4_XROW + j * XSTEP * G4_XROW, src + lo_off, ok);
    }
  };

  const int KT = K / G4_BK;
#pragma unroll
  for (int st = 0; st < NST - 1; st++) {
    if (st < KT)
      load_stage (st, st);
    cp_async_commit ();                         /* the scales ride with stage 0 */
  }

  const int wm = warp & 3, wn = warp >> 2, g = lane >> 2, q = lane & 3;
  float acc[2][NI][4];
#pragma unroll
  for (int mi = 0; mi < 2; mi++)
#pragma unroll
    for (int ni = 0; ni < NI; ni++)
#pragma unroll
      for (int e = 0; e < 4; e++)
        acc[mi][ni][e] = 0.0f;

  for (int kt = 0; kt < KT; kt++) {
    cp_async_wait<NST - 2> ();
    /* stage kt (and the scales) landed for every thread, and every warp is done with stage
     * kt - 1, whose buffer the next load takes */
    __syncthreads ();
    if (kt + NST - 1 < KT)
      load_stage (kt + NST - 1, (kt + NST - 1) % NST);
    cp_async_commit ();
    const unsigned char *base = smem + (size_t) (kt % NST) * STAGE;
    const __half *xh = (const __half *) (const void *) (base + G4_BM * G4_WROW);
    const __half *xl = xh + BN * G4_XROW;
#pragma unroll
    for (int kb = 0; kb < G4_BK / 32; kb++) {
      uint32_t pa[2][4], pb[2][4];
#pragma unroll
      for (int mi = 0; mi < 2; mi++) {
        int ra = wm * 32 + mi * 16 + g;
        g4_expand (pa[mi], pb[mi], base + ra * G4_WROW + kb * 16 + 4 * q,
                   scales + (size_t) ra * srow + (kt * G4_BK + kb * 32) / 16 + (q >> 1), srow);
      }
#pragma unroll
      for (int m = 0; m < 2; m++)
#pragma unroll
        for (int np = 0; np < NI / 2; np++) {
          /* B: x rows wn * BN / 2 + 16 np .., logical k 16m .. 16m + 15 of block kb; x4 = two
           * 8-row tiles */
          int row = wn * (BN / 2) + np * 16 + (lane & 7) + (lane >> 4) * 8;
          int col = kb * 32 + m * 16 + ((lane >> 3) & 1) * 8;
          uint32_t bh[4], bl[4];
          ldsm_x4 (bh[0], bh[1], bh[2], bh[3], xh + row * G4_XROW + col);
          if (LO)
            ldsm_x4 (bl[0], bl[1], bl[2], bl[3], xl + row * G4_XROW + col);
#pragma unroll
          for (int mi = 0; mi < 2; mi++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
              float *d = acc[mi][2 * np + h];
              gk_mma_f16 (d, pa[mi][2 * m], pb[mi][2 * m], pa[mi][2 * m + 1], pb[mi][2 * m + 1],
                          bh[2 * h], bh[2 * h + 1]);
              if (LO)
                gk_mma_f16 (d, pa[mi][2 * m], pb[mi][2 * m], pa[mi][2 * m + 1],
                            pb[mi][2 * m + 1], bl[2 * h], bl[2 * h + 1]);
            }
        }
    }
  }
  cp_async_wait<0> ();

  /* C [features, rows]: acc[mi][ni] holds (feature f, row r), (f, r + 1), (f + 8, r),
   * (f + 8, r + 1) with f = n0 + 32 wm + 16 mi + g, r = r0 + (BN / 2) wn + 8 ni + 2q; Y is
   * [rows, N]. The weights were value / gk_fp4_f16_undo (), the rows x / xscale. */
  const float alpha = gr.alpha * gk_fp4_f16_undo ();
#pragma unroll
  for (int ni = 0; ni < NI; ni++)
#pragma unroll
    for (int e1 = 0; e1 < 2; e1++) {
      int r = r0 + wn * (BN / 2) + ni * 8 + 2 * q + e1;
      if (r >= rows)
        continue;
      float s = alpha * gr.xscale[r];
      float *y = gr.y + (size_t) r * gr.ldy;
#pragma unroll
      for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int e0 = 0; e0 < 2; e0++) {
          int f = n0 + wm * 32 + mi * 16 + g + e0 * 8;
          if (f < N)
            y[f] = s * acc[mi][ni][2 * e0 + e1];
        }
    }
}

template <int BN, bool LO>
static cudaError_t
launch (const GkGemmGroup *groups, int n_groups, int max_n, int max_rows, int K,
        cudaStream_t stream)
{
  size_t smem = g4_smem (K, BN, LO);
  cudaError_t e = cudaFuncSetAttribute (gemm_fp4_kernel<BN, LO>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  dim3 grid (GK_CEIL_DIV (max_n, G4_BM), GK_CEIL_DIV (max_rows, BN), n_groups);
  gemm_fp4_kernel<BN, LO><<<grid, G4_THREADS, smem, stream>>> (groups, K);
  return gk_check_launch ();
}

extern "C" int
gk_gemm_fp4_supported (int K, int lo)
{
  return K > 0 && K % 256 == 0 && g4_smem (K, 64, lo) <= gk_device_smem_optin ();
}

extern "C" cudaError_t
gk_gemm_fp4 (const GkGemmGroup *groups, int n_groups, int max_n, int max_rows, int K, int lo,
             int impl, cudaStream_t stream)
{
  if (n_groups <= 0 || max_n <= 0 || max_rows <= 0)
    return cudaSuccess;
  /* the wgmma kernel answers cudaErrorNotSupported where it does not run (no launch) */
  if (impl != GK_GEMM_FP4_MMA && !lo) {
    cudaError_t e = gk_gemm_fp4_wgmma (groups, n_groups, max_n, max_rows, K, stream);
    if (e != cudaErrorNotSupported || impl == GK_GEMM_FP4_WGMMA)
      return e;
  } else if (impl == GK_GEMM_FP4_WGMMA) {
    return cudaErrorNotSupported;            /* hi + lo: the mma.sync kernel's alone */
  }
  if (!gk_gemm_fp4_supported (K, lo))
    return cudaErrorNotSupported;
  /* 128-row tiles for groups of more than 64 rows where they fit (sm_86/89 have 99 KB) */
  if (max_rows > 64 && g4_smem (K, 128, lo) <= gk_device_smem_optin ())
    return lo ? launch<128, true> (groups, n_groups, max_n, max_rows, K, stream)
              : launch<128, false> (groups, n_groups, max_n, max_rows, K, stream);
  return lo ? launch<64, true> (groups, n_groups, max_n, max_rows, K, stream)
            : launch<64, false> (groups, n_groups, max_n, max_rows, K, stream);
}
