/* gemm-fp4-wgmma.cu: gemm-fp4.cu's NVFP4 grouped GEMM on Hopper's warpgroup MMA (sm_90a alone;
 * gk_gemm_fp4 takes it on compute capability 9.0 for f16 hi activations, the mma.sync kernel
 * everywhere else and for hi + lo). Same contract (gk.h GkGemmGroup), same numbers: the weights
 * expanded exactly to f16 in registers by gemm-fp4.cuh's g4_expand, the activations as
 * gk_split_f16_mma leaves them (their permuted k order is the one the expanded pairs follow),
 * float32 sums. CPU reference: engine/cpu/cpu-ops.c glim_cpu_linear; float64 reference in
 * tests/test-cuda-prefill.c.
 *
 * Why: the mma.sync kernel reaches about 45% of that instruction's peak, with every 16 rows of
 * activations brought in by ldmatrix for every mma. Here a CTA of two warpgroups takes 128
 * output features x BN activation rows (BN 256, or 128 where K's staged scales leave too little
 * shared memory): warp w of warpgroup v expands the codes of features 64 v + 16 w .. + 16 of a
 * 64-column stage into wgmma's A registers, and four m64nBNk16 products read the stage's
 * activations straight from shared memory (128-byte swizzle). Products of stage t run while the
 * codes of stage t + 1 are expanded (A registers in two sets taking turns) and stages t + 2 and
 * t + 3 load by cp.async.
 * SPDX-License-Identifier: MIT */
#include <cuda_fp16.h>

#include "gemm-fp4.cuh"
#include "wgmma.cuh"

#define GW_THREADS 256          /* two warpgroups */
#define GW_STAGES 4             /* stages of codes and activations; loads run two ahead */

/* a stage for bn activation rows: the rows (64 f16 each, swizzled), then 128 weight rows of
 * codes; both 1,024-byte multiples */
static constexpr size_t
gw_stage (int bn)
{
  return (size_t) bn * 128 + (size_t) G4_BM * G4_WROW;
}

static size_t
gw_smem (int K, int bn)
{
  return 1024 + GW_STAGES * gw_stage (bn) + (size_t) G4_BM * g4_scale_row (K);
}

/* grid (ceil(max_n / 128), ceil(max_rows / BN), n_groups), GW_THREADS threads, gw_smem (K, BN)
 * bytes; K a multiple of 64 (gk_gemm_fp4 asks for 256) */
template <int BN>
__global__ void __launch_bounds__ (GW_THREADS, 1)
gemm_fp4_wgmma_kernel (const GkGemmGroup *groups, int K)
{
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int NT = BN / 8;
  constexpr size_t STAGE = gw_stage (BN);
  extern __shared__ __align__ (16) unsigned char smem_raw[];
  unsigned char *smem = smem_raw + ((1024 - (smem_addr (smem_raw) & 1023)) & 1023);
  const GkGemmGroup gr = groups[blockIdx.z];
  const int n0 = blockIdx.x * G4_BM, r0 = blockIdx.y * BN;
  const int N = gr.w.rows, rows = gr.rows;
  if (n0 >= N || r0 >= rows)
    return;                                     /* the whole CTA, before any barrier */
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, q = lane & 3;
  const size_t srow = g4_scale_row (K);
  unsigned char *scales = smem + GW_STAGES * STAGE;   /* [128][srow] */

  /* the tile's scales for all of K, with stage 0 */
  for (int i = tid; i < G4_BM * (K / 256); i += GW_THREADS) {
    int r = i / (K / 256), c = i % (K / 256);
    bool ok = n0 + r < N;
    cp_async16 (scales + (size_t) r * srow + c * 16,
                gr.w.scales + (size_t) (ok ? n0 + r : n0) * (K / 16) + c * 16, ok);
  }
  /* this thread's pieces of a stage: 16 bytes of one weight row's codes, and chunk xc (16 bytes)
   * of activation rows xr0, xr0 + 32, ..; a row's chunk c sits at c ^ (row % 8), the same for
   * all of them (32 is a multiple of 8). Rows past the group's read as zeros. */
  const int wr = tid >> 1;
  const bool w_ok = n0 + wr < N;
  const uint8_t *wsrc = (const uint8_t *) gr.w.data + (size_t) (w_ok ? n0 + wr : n0) * (K / 2) +
                        (tid & 1) * 16;
  const int wdst = BN * 128 + wr * G4_WROW + (tid & 1) * 16;
  const int xr0 = tid >> 3, xc = tid & 7;
  const int xdst = xr0 * 128 + ((xc ^ (xr0 & 7)) << 4);
  const uint16_t *xsrc = gr.xhi + (size_t) min (r0 + xr0, rows - 1) * K + xc * 8;
  auto load_stage = [&](int kt, int st) {
    unsigned char *base = smem + (size_t) st * STAGE;
    cp_async16 (base + wdst, wsrc + kt * (G4_BK / 2), w_ok);
#pragma unroll
    for (int j = 0; j < BN / 32; j++) {
      bool ok = r0 + xr0 + 32 * j < rows;
      cp_async16 (base + xdst + j * 32 * 128, xsrc + (ok ? (size_t) j * 32 * K : 0) + kt * G4_BK,
                  ok);
    }
  };

  const int KT = K / G4_BK;
#pragma unroll
  for (int st = 0; st < GW_STAGES - 2; st++) {
    if (st < KT)
      load_stage (st, st);
    cp_async_commit ();
  }

  float acc[NT][4];
#pragma unroll
  for (int j = 0; j < NT; j++)
#pragma unroll
    for (int e = 0; e < 4; e++)
      acc[j][e] = 0.0f;
  const int ra = (warp >> 2) * 64 + (warp & 3) * 16 + g;   /* this lane's feature rows ra, + 8 */

  /* One stage: its codes expanded into a (this warp's A operands of its four k-steps), its four
   * products issued; a's other set is the previous stage's, whose products may still run. */
  auto step = [&](int kt, uint32_t (&a)[4][4]) {
    cp_async_wait<GW_STAGES - 3> ();
    wg_fence_smem ();
    /* stage kt in for every thread; every product of stage kt - 2 done (each warpgroup waited
     * for it before its stage kt - 1 products were issued): its buffer takes stage kt + 2 */
    __syncthreads ();
    if (kt + GW_STAGES - 2 < KT)
      load_stage (kt + GW_STAGES - 2, (kt + GW_STAGES - 2) % GW_STAGES);
    cp_async_commit ();
    const unsigned char *base = smem + (size_t) (kt % GW_STAGES) * STAGE;
#pragma unroll
    for (int kb = 0; kb < G4_BK / 32; kb++) {
      uint32_t pa[4], pb[4];
      g4_expand (pa, pb, base + BN * 128 + ra * G4_WROW + kb * 16 + 4 * q,
                 scales + (size_t) ra * srow + (kt * G4_BK + kb * 32) / 16 + (q >> 1), srow);
#pragma unroll
      for (int m = 0; m < 2; m++) {
        a[2 * kb + m][0] = pa[2 * m];
        a[2 * kb + m][1] = pb[2 * m];
        a[2 * kb + m][2] = pa[2 * m + 1];
        a[2 * kb + m][3] = pb[2 * m + 1];
      }
    }
    const uint64_t dx = wg_desc (base, 16, 1024);
    wg_fence ();
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
      wg_mma_rs_f16<NT, 0> (acc, a[ks], dx + (uint64_t) (ks * 2));
    wg_commit ();
    wg_wait<1> ();                              /* stage kt - 1's products are done */
  };
  /* KT is a multiple of 4 (K of 256): two steps a turn, no conditional step (ptxas then sees
   * which products each wait retires; otherwise it serialises every wgmma) */
  uint32_t a0[4][4], a1[4][4];
  for (int kt = 0; kt < KT; kt += 2) {
    step (kt, a0);
    step (kt + 1, a1);
  }
  wg_wait<0> ();
  cp_async_wait<0> ();

  /* acc[j] holds (feature f, row r), (f, r + 1), (f + 8, r), (f + 8, r + 1) with f = n0 + ra,
   * r = r0 + 8 j + 2 q; Y is [rows, ldy]. The weights were value / gk_fp4_f16_undo (), the
   * rows x / xscale. */
  const float alpha = gr.alpha * gk_fp4_f16_undo ();
#pragma unroll
  for (int j = 0; j < NT; j++)
#pragma unroll
    for (int e1 = 0; e1 < 2; e1++) {
      int r = r0 + 8 * j + 2 * q + e1;
      if (r >= rows)
        continue;
      float s = alpha * gr.xscale[r];
      float *y = gr.y + (size_t) r * gr.ldy;
#pragma unroll
      for (int e0 = 0; e0 < 2; e0++) {
        int f = n0 + ra + 8 * e0;
        if (f < N)
          y[f] = s * acc[j][2 * e0 + e1];
      }
    }
#endif
}

/* BN for K on the current device (sm_90a code: compute capability 9.0 alone): 256 where the
 * shared memory holds it, else 128; 0 if neither fits or the device is not 9.0 */
static int
gw_bn (int K)
{
  int dev = 0, major = 0, minor = 0;
  if (K <= 0 || K % 256 != 0 || cudaGetDevice (&dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess ||
      major != 9 || minor != 0)
    return 0;
  size_t optin = gk_device_smem_optin ();
  return gw_smem (K, 256) <= optin ? 256 : gw_smem (K, 128) <= optin ? 128 : 0;
}

extern "C" int
gk_gemm_fp4_wgmma_ready (int K)
{
  return gw_bn (K) > 0;
}

template <int BN>
static cudaError_t
gw_launch (const GkGemmGroup *groups, int n_groups, int max_n, int max_rows, int K,
           cudaStream_t stream)
{
  size_t smem = gw_smem (K, BN);
  cudaError_t e = cudaFuncSetAttribute (gemm_fp4_wgmma_kernel<BN>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  dim3 grid (GK_CEIL_DIV (max_n, G4_BM), GK_CEIL_DIV (max_rows, BN), n_groups);
  gemm_fp4_wgmma_kernel<BN><<<grid, GW_THREADS, smem, stream>>> (groups, K);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_gemm_fp4_wgmma (const GkGemmGroup *groups, int n_groups, int max_n, int max_rows, int K,
                   cudaStream_t stream)
{
  switch (gw_bn (K)) {
  case 256:
    return gw_launch<256> (groups, n_groups, max_n, max_rows, K, stream);
  case 128:
    return gw_launch<128> (groups, n_groups, max_n, max_rows, K, stream);
  default:
    return cudaErrorNotSupported;
  }
}
