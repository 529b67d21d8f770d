/* gemm-fp4.cu: grouped GEMM of NVFP4 weights against bf16 hi + lo activations on tensor cores,
 * for the prefill's experts: every active expert's product in one launch, the weights read in
 * their stored 4-bit form and expanded in registers.
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90 (mma.sync m16n8k16 bf16 -> f32, ldmatrix, cp.async).
 * CPU reference: engine/cpu/cpu-ops.c glim_cpu_linear; float64 reference in
 * tests/test-cuda-prefill.c.
 *
 * Why: the cuBLAS path expands each expert's weights to float32 scratch before a TF32 GEMM:
 * at 8k tokens that writes and reads again ~2.4 GB per MoE layer, in ~200 launches. Here a
 * CTA stages its 128 x 64 tile of packed weights (4 KB) and scales with cp.async, and each
 * warp turns the codes it multiplies into bf16 (E2M1 x E4M3 has at most 6 significant bits:
 * exact in bf16) right before the mma.
 *
 * Exactness: Y = alpha * W . (Xhi + Xlo)^T with X split into bf16 halves (16 significant bits
 * together, gk_split_bf16), both products accumulated in float32: closer to float32 than the
 * TF32 GEMMs it replaces (11 bits).
 *
 * Tiles: a CTA of 8 warps takes 128 output features x 64 rows of one group, stepping through K
 * 64 columns at a time (two stages in flight); warp w takes features 32 (w % 4) .. + 32 and
 * rows 32 (w / 4) .. + 32: 2 x 4 mma tiles, hi and lo products into the same accumulators. */
#include <cuda_bf16.h>

#include "common.cuh"

#define G4_BM 128               /* output features per CTA */
#define G4_BN 64                /* rows (tokens) per CTA */
#define G4_BK 64                /* columns per stage */
#define G4_THREADS 256
#define G4_WROW 48              /* bytes per staged weight row: 32 of codes + padding (banks) */
#define G4_XROW (G4_BK + 8)     /* bf16 per staged activation row (ldmatrix without conflicts) */
#define G4_STAGE_BYTES (G4_BM * G4_WROW + 2 * G4_BN * G4_XROW * 2)

/* dynamic shared memory: 2 stages, then the tile's scales for all of K, then the code table */
__host__ __device__ static inline size_t
g4_scale_row (int K)
{
  return (size_t) K / 16 + 16;  /* bytes; the 16 of padding spread the rows over the banks */
}

static size_t
g4_smem (int K)
{
  return (size_t) 2 * G4_STAGE_BYTES + (size_t) G4_BM * g4_scale_row (K) + 16 * sizeof (float);
}

/* one bf16 pair (low half: the low nibble) of the byte's two codes times the block scale */
__device__ __forceinline__ uint32_t
g4_pair (uint32_t byte, float s, const float *lut)
{
  __nv_bfloat162 v = __floats2bfloat162_rn (lut[byte & 0xf] * s, lut[(byte >> 4) & 0xf] * s);
  return *reinterpret_cast<const uint32_t *> (&v);
}

__global__ void __launch_bounds__ (G4_THREADS)
gemm_fp4_kernel (const GkGemmGroup *groups, int K)
{
  extern __shared__ __align__ (16) unsigned char smem[];
  const GkGemmGroup &gr = groups[blockIdx.z];
  const int n0 = blockIdx.x * G4_BM, r0 = blockIdx.y * G4_BN;
  const int N = gr.w.rows, rows = gr.rows;
  if (n0 >= N || r0 >= rows)
    return;                                     /* the whole CTA, before any barrier */
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const size_t srow = g4_scale_row (K);
  unsigned char *scales = smem + 2 * G4_STAGE_BYTES;                 /* [BM][srow] */
  float *lut = (float *) (void *) (scales + (size_t) G4_BM * srow);  /* [16] */
  if (tid < 16)
    lut[tid] = gk_e2m1 (tid);

  const uint8_t *wdata = (const uint8_t *) gr.w.data;
  /* the tile's scales for all of K: row n0 + i, K / 16 bytes (a multiple of 16) */
  for (int i = tid; i < G4_BM * (K / 256); i += G4_THREADS) {
    int r = i / (K / 256), c = i % (K / 256);
    bool ok = n0 + r < N;
    cp_async16 (scales + (size_t) r * srow + c * 16,
                gr.w.scales + (size_t) (ok ? n0 + r : n0) * (K / 16) + c * 16, ok);
  }
  auto load_stage = [&](int kt, int st) {
    unsigned char *base = smem + (size_t) st * G4_STAGE_BYTES;
    /* codes: 128 rows x 32 bytes, one 16-byte piece per thread */
    {
      int r = tid >> 1, half = tid & 1;
      bool ok = n0 + r < N;
      cp_async16 (base + r * G4_WROW + half * 16,
                  wdata + (size_t) (ok ? n0 + r : n0) * (K / 2) + kt * (G4_BK / 2) + half * 16, ok);
    }
    /* activations: 64 rows x 64 bf16 of hi and of lo, two 16-byte pieces each per thread */
    uint16_t *xh = (uint16_t *) (void *) (base + G4_BM * G4_WROW);
    uint16_t *xl = xh + G4_BN * G4_XROW;
    for (int i = tid; i < G4_BN * (G4_BK / 8); i += G4_THREADS) {
      int r = i / (G4_BK / 8), c = i % (G4_BK / 8);
      bool ok = r0 + r < rows;
      size_t at = (size_t) (ok ? r0 + r : r0) * K + kt * G4_BK + c * 8;
      cp_async16 (xh + r * G4_XROW + c * 8, gr.xhi + at, ok);
      cp_async16 (xl + r * G4_XROW + c * 8, gr.xlo != nullptr ? gr.xlo + at : gr.xhi + at,
                  ok && gr.xlo != nullptr);
    }
  };

  const int KT = K / G4_BK;
  load_stage (0, 0);
  cp_async_commit ();

  const int wm = warp & 3, wn = warp >> 2, g = lane >> 2, q = lane & 3;
  float acc[2][4][4];
#pragma unroll
  for (int mi = 0; mi < 2; mi++)
#pragma unroll
    for (int ni = 0; ni < 4; ni++)
#pragma unroll
      for (int e = 0; e < 4; e++)
        acc[mi][ni][e] = 0.0f;

  for (int kt = 0; kt < KT; kt++) {
    if (kt + 1 < KT)
      load_stage (kt + 1, (kt + 1) & 1);
    cp_async_commit ();
    cp_async_wait<1> ();
    __syncthreads ();                           /* stage kt (and the scales, the table) landed */
    const unsigned char *base = smem + (size_t) (kt & 1) * G4_STAGE_BYTES;
    const uint16_t *xh = (const uint16_t *) (const void *) (base + G4_BM * G4_WROW);
    const uint16_t *xl = xh + G4_BN * G4_XROW;
#pragma unroll
    for (int ks = 0; ks < G4_BK / 16; ks++) {
      /* A: this warp's two 16-feature tiles, expanded from the codes: rows g and g + 8, columns
       * 2q, 2q + 1 (byte ks * 8 + q) and 2q + 8, 2q + 9 (byte ks * 8 + 4 + q) */
      uint32_t a[2][4];
#pragma unroll
      for (int mi = 0; mi < 2; mi++) {
        int ra = wm * 32 + mi * 16 + g, rb = ra + 8;
        int kb = kt * (G4_BK / 16) + ks;                     /* the scale block */
        float sa = gk_fp8_e4m3 (scales[(size_t) ra * srow + kb]);
        float sb = gk_fp8_e4m3 (scales[(size_t) rb * srow + kb]);
        const unsigned char *wa = base + ra * G4_WROW + ks * 8 + q;
        const unsigned char *wb = base + rb * G4_WROW + ks * 8 + q;
        a[mi][0] = g4_pair (wa[0], sa, lut);
        a[mi][1] = g4_pair (wb[0], sb, lut);
        a[mi][2] = g4_pair (wa[4], sa, lut);
        a[mi][3] = g4_pair (wb[4], sb, lut);
      }
      /* B: rows (tokens) wn * 32 + 8 ni .. of X, columns ks * 16 ..; x4 = two n-tiles */
#pragma unroll
      for (int np = 0; np < 2; np++) {
        int row = wn * 32 + np * 16 + (lane & 7) + (lane >> 4) * 8;
        int col = ks * 16 + ((lane >> 3) & 1) * 8;
        uint32_t bh[4], bl[4];
        ldsm_x4 (bh[0], bh[1], bh[2], bh[3], xh + row * G4_XROW + col);
        ldsm_x4 (bl[0], bl[1], bl[2], bl[3], xl + row * G4_XROW + col);
#pragma unroll
        for (int mi = 0; mi < 2; mi++)
#pragma unroll
          for (int h = 0; h < 2; h++) {
            float *d = acc[mi][2 * np + h];
            gk_mma_bf16 (d, a[mi][0], a[mi][1], a[mi][2], a[mi][3], bh[2 * h], bh[2 * h + 1]);
            gk_mma_bf16 (d, a[mi][0], a[mi][1], a[mi][2], a[mi][3], bl[2 * h], bl[2 * h + 1]);
          }
      }
    }
    __syncthreads ();                           /* before the next load overwrites this stage */
  }
  cp_async_wait<0> ();

  /* C [features, rows]: acc[mi][ni] holds (feature f, row r), (f, r + 1), (f + 8, r),
   * (f + 8, r + 1) with f = n0 + 32 wm + 16 mi + g, r = r0 + 32 wn + 8 ni + 2q; Y is [rows, N] */
#pragma unroll
  for (int mi = 0; mi < 2; mi++)
#pragma unroll
    for (int ni = 0; ni < 4; ni++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int f = n0 + wm * 32 + mi * 16 + g + (e >> 1) * 8;
        int r = r0 + wn * 32 + ni * 8 + 2 * q + (e & 1);
        if (f < N && r < rows)
          gr.y[(size_t) r * gr.ldy + f] = gr.alpha * acc[mi][ni][e];
      }
}

extern "C" int
gk_gemm_fp4_supported (int K)
{
  int dev = 0, optin = 0;
  if (K <= 0 || K % 256 != 0 || cudaGetDevice (&dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
    return 0;
  return g4_smem (K) <= (size_t) optin;
}

extern "C" cudaError_t
gk_gemm_fp4 (const GkGemmGroup *groups, int n_groups, int max_n, int max_rows, int K,
             cudaStream_t stream)
{
  if (n_groups <= 0 || max_n <= 0 || max_rows <= 0)
    return cudaSuccess;
  if (!gk_gemm_fp4_supported (K))
    return cudaErrorNotSupported;
  size_t smem = g4_smem (K);
  cudaError_t e = cudaFuncSetAttribute (gemm_fp4_kernel,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  dim3 grid (GK_CEIL_DIV (max_n, G4_BM), GK_CEIL_DIV (max_rows, G4_BN), n_groups);
  gemm_fp4_kernel<<<grid, G4_THREADS, smem, stream>>> (groups, K);
  return gk_check_launch ();
}
