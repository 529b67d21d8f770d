/* mla-wgmma.cu: the absorbed-MLA decode's split kernel on Hopper's warpgroup MMA (sm_90a alone;
 * the mma.sync kernels of mla-mma.cu run everywhere else and for shapes this one does not take).
 * SPDX-License-Identifier: MIT
 * Same contract as mla-mma.cu's v2 kernel: the query prepared once per token (bf16 hi and lo
 * rows, scaled, scores in base 2: mla-mma.cu's mla_q_prep_kernel, or in the decode mla.cu's
 * gk_mla_query), one split of a token's keys per CTA for all heads, partial outputs in the
 * layout mla.cu's combine reads. CPU reference:
 * engine/cpu/cpu-attention.c attend_task; float64 reference in tests/test-cuda.c (mla_check).
 *
 * Why: at long contexts the v2 kernel (mma.sync) is bound by its instructions, not by memory
 * (1.9 TB/s of the latent cache at 128k, 2 warps a scheduler, each S a chain of mma.sync). Here
 * the heads are wgmma's N, so 20 heads with their hi and lo query rows fill N = 40 exactly:
 * per tile of 64 keys, copied by the tensor memory accelerator (576 dims = 9 boxes of 64):
 *   S^T [64 keys, NQ] = K [64, 576] . Q^T        36 wgmma m64nNQk16, K and Q in shared memory
 *   online softmax per head (float32; the four warps' maxima meet in shared memory only when
 *   some head's running maximum moves, which after a split's first tiles is rare)
 *   O^T [512, NQ] += V^T [512, 64] . P^T          8 x 4 wgmma m64nNQk16, V^T the same tile read
 *                                                 M-major, P^T (hi and lo columns) in shared memory
 * NQ = 2 H rounded up to 8 columns: column 2 h is head h's hi part, 2 h + 1 its lo part, so
 * a lane holds both halves of a head's score (and of its output) in adjacent registers. One
 * warpgroup per CTA, one CTA per SM (two 72 KB key stages and the query), one wave of splits.
 * Exactness is v2's: the same bf16 cache, hi + lo query and weights, float32 sums. On the H200
 * it reads the cache at 3.4 TB/s at 128k (docs/PERFORMANCE.md, eighth session). */
#include <float.h>
#include <string.h>

#include "wgmma.cuh"

#define MW_C 576                        /* cache row: latent 512 + rope 64 */
#define MW_LKV 512
#define MW_BN 64                        /* keys per tile: wgmma's M */
#define MW_BOXES (MW_C / 64)            /* 64-dim boxes of a cache row */
#define MW_NQMAX 40                     /* hi and lo rows of up to 20 heads */
#define MW_LN2 0.693147180559945309f

/* shared memory for NQ query rows: alignment slack, two key stages, the query, P^T, the warps'
 * maxima and sums, two mbarriers */
static size_t
mw_smem (int NQ)
{
  return 1024 + (size_t) 2 * MW_BN * MW_C * 2 + (size_t) NQ * MW_C * 2 + (size_t) NQ * MW_BN * 2 +
         (size_t) 4 * (NQ / 2) * 4 + 2 * 8;
}

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)

/* d (+)= A . B, m64n(8 NT)k16, bf16, both operands in shared memory; TA 1: A is M-major */
template <int NT, int TA>
__device__ __forceinline__ void mw_mma (float (&d)[NT][4], uint64_t da, uint64_t db, int acc);

/* the specialisation for NT n-tiles (N = 8 NT) and A's major TA; ACC the accumulators' operand
 * list, TILES their "+f" list, DA .. PR the operand numbers after them */
#define MW_MMA(NT, N, ACC, TILES, DA, DB, PR, TA)                                             \
  template <>                                                                               \
  __device__ __forceinline__ void mw_mma<NT, TA> (float (&d)[NT][4], uint64_t da, uint64_t db, \
                                                  int acc)                                  \
  {                                                                                         \
    asm volatile ("{\n.reg .pred p;\nsetp.ne.b32 p, %" PR ", 0;\n"                          \
                  "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32.bf16.bf16 " ACC            \
                  ", %" DA ", %" DB ", p, 1, 1, " #TA ", 0;\n}\n"                            \
                  : TILES (d, 0)                                                            \
                  : "l"(da), "l"(db), "r"(acc));                                            \
  }
#define MW_MMA2(NT, N, ACC, TILES, DA, DB, PR)                                               \
  MW_MMA (NT, N, ACC, TILES, DA, DB, PR, 0)                                                 \
  MW_MMA (NT, N, ACC, TILES, DA, DB, PR, 1)
MW_MMA2 (1, 8, WG_ACC4, WG_T, "4", "5", "6")
MW_MMA2 (2, 16, WG_ACC8, WG_T2, "8", "9", "10")
MW_MMA2 (3, 24, WG_ACC12, WG_T3, "12", "13", "14")
MW_MMA2 (4, 32, WG_ACC16, WG_T4, "16", "17", "18")
MW_MMA2 (5, 40, WG_ACC20, WG_T5, "20", "21", "22")
#undef MW_MMA2
#undef MW_MMA

#endif

/* grid (splits, T), 128 threads (one warpgroup), mw_smem (8 NT) bytes; the cache's tensor map
 * (boxes of 64 dims x 64 keys, 128-byte swizzle, rows past the cache read as zeros). Split s of
 * token t takes keys [s per, (s + 1) per) of its n_past + t + 1, per a multiple of the tile. */
template <int NT>
__global__ void __launch_bounds__ (128, 1)
mla_wgmma_kernel (GkMlaDecodeArgs a, const __grid_constant__ CUtensorMap cmap)
{
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int NQ = 8 * NT, BN = MW_BN, STAGE = BN * MW_C;     /* elements of a key stage */
  extern __shared__ __align__ (16) unsigned char smem_raw[];
  uint16_t *ks = (uint16_t *) (smem_raw + ((1024 - (smem_addr (smem_raw) & 1023)) & 1023));
  uint16_t *qs = ks + 2 * STAGE;                      /* [9 boxes][NQ][64], swizzled */
  uint16_t *ps = qs + NQ * MW_C;                      /* P^T [NQ][64 keys], swizzled */
  float *red = (float *) (ps + NQ * BN);              /* [4 warps][NQ / 2 heads] */
  uint64_t *bars = (uint64_t *) (red + 4 * NQ / 2);   /* full: stage 0, 1 */

  const int H = a.H, t = blockIdx.y, s = blockIdx.x;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, q4 = lane & 3;
  const int n_keys = *a.n_past + t + 1;
  if (!gk_mla_mma_takes (a, n_keys))                  /* short: mla.cu's simple kernel has it */
    return;
  const int splits = gk_mla_splits (a, n_keys);
  if (s >= splits)
    return;
  const int per = GK_CEIL_DIV (GK_CEIL_DIV (n_keys, splits), BN) * BN;
  const int k_begin = min (s * per, n_keys), k_end = min (n_keys, k_begin + per);
  const int n_tiles = GK_CEIL_DIV (k_end - k_begin, BN);

  if (tid == 0) {
    wg_bar_init (&bars[0], 1);
    wg_bar_init (&bars[1], 1);
    wg_bar_init_fence ();
  }
  __syncthreads ();
  /* tile i's keys into stage i & 1: nine boxes of 64 dims */
  auto issue = [&](int i) {
    if (tid != 0 || i >= n_tiles)
      return;
    uint64_t *bar = &bars[i & 1];
    wg_bar_expect (bar, (uint32_t) STAGE * 2);
#pragma unroll
    for (int b = 0; b < MW_BOXES; b++)
      wg_tma_load (ks + (size_t) (i & 1) * STAGE + b * BN * 64, &cmap, 64 * b, k_begin + i * BN,
                   bar);
  };
  issue (0);
  issue (1);

  /* the query: rows 2 h (hi) and 2 h + 1 (lo) of q_mma, zeros past 2 H */
  {
    const uint16_t *qsrc = a.q_mma + (size_t) t * H * 2 * MW_C;
    for (int i = tid; i < NQ * (MW_C / 8); i += 128) {
      int row = i / (MW_C / 8), d = (i % (MW_C / 8)) * 8;
      cp_async16 (qs + wg_at (NQ, row, d), qsrc + (size_t) (row < 2 * H ? row : 0) * MW_C + d,
                  row < 2 * H);
    }
    cp_async_commit ();
    cp_async_wait<0> ();
    wg_fence_smem ();
    __syncthreads ();
  }

  /* this lane's heads 4 j + q4 (S^T / O^T columns 8 j + 2 q4: hi, + 1: lo); its keys (S^T rows)
   * and latent dims (O^T rows) 16 warp + g and + 8 */
  float o[8][NT][4], m_run[NT], l_run[NT];
#pragma unroll
  for (int j = 0; j < NT; j++) {
#pragma unroll
    for (int i = 0; i < 8; i++)
      o[i][j][0] = o[i][j][1] = o[i][j][2] = o[i][j][3] = 0.0f;
    m_run[j] = -FLT_MAX;
    l_run[j] = 0.0f;
  }
  const uint64_t dq = wg_desc (qs, 16, 1024), dp = wg_desc (ps, 16, 1024);

  for (int i = 0; i < n_tiles; i++) {
    uint16_t *kt = ks + (size_t) (i & 1) * STAGE;
    wg_bar_wait (&bars[i & 1], (i >> 1) & 1);

    /* S^T: 36 k-steps of 16 dims; a step is 32 bytes into a 128-byte row, four a box */
    float sacc[NT][4];
    {
      const uint64_t dk = wg_desc (kt, 16, 1024);
      wg_fence ();
#pragma unroll
      for (int k = 0; k < MW_C / 16; k++) {
        const int blk = k >> 2, off = (k & 3) * 2;
        mw_mma<NT, 0> (sacc, dk + (uint64_t) (blk * BN * 8 + off),
                       dq + (uint64_t) (blk * NQ * 8 + off), k > 0);
      }
      wg_commit ();
      wg_wait<0> ();
    }

    /* scores (hi + lo) of the lane's two keys per head; keys past the split are -inf */
    const int key0 = k_begin + i * BN + warp * 16 + g;
    const bool v0 = key0 < k_end, v1 = key0 + 8 < k_end;
    float sc[NT][2];
    bool grow = false;
#pragma unroll
    for (int j = 0; j < NT; j++) {
      sc[j][0] = v0 ? sacc[j][0] + sacc[j][1] : -INFINITY;
      sc[j][1] = v1 ? sacc[j][2] + sacc[j][3] : -INFINITY;
      grow |= fmaxf (sc[j][0], sc[j][1]) > m_run[j];
    }
    /* a head's running max moves only when a key beats it: one vote of the warpgroup; if none
     * does, every correction is 1 and neither the maxima nor O are touched */
    if (__syncthreads_or (grow)) {
#pragma unroll
      for (int j = 0; j < NT; j++) {
        float mx = fmaxf (sc[j][0], sc[j][1]);
        mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 4));
        mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 8));
        mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 16));
        if (g == 0)
          red[warp * (NQ / 2) + 4 * j + q4] = mx;
      }
      __syncthreads ();
#pragma unroll
      for (int j = 0; j < NT; j++) {
        const int h = 4 * j + q4;
        float mx = fmaxf (fmaxf (red[h], red[NQ / 2 + h]), fmaxf (red[NQ + h], red[3 * NQ / 2 + h]));
        const float m_new = fmaxf (m_run[j], mx);     /* finite: the tile's first key is live */
        const float corr = exp2f (m_run[j] - m_new);  /* m_run = -FLT_MAX: 0 */
        m_run[j] = m_new;
        l_run[j] *= corr;
#pragma unroll
        for (int r = 0; r < 8; r++)
#pragma unroll
          for (int e = 0; e < 4; e++)
            o[r][j][e] *= corr;
      }
    }
    /* P^T: row 8 j + 2 q4 the hi parts of head 4 j + q4, the next row its lo parts; keys along
     * the 128-byte row (swizzled) */
#pragma unroll
    for (int j = 0; j < NT; j++) {
      const float p0 = gk_exp2_fast (sc[j][0] - m_run[j]), p1 = gk_exp2_fast (sc[j][1] - m_run[j]);
      l_run[j] += p0 + p1;
      uint32_t hi, lo;
      gk_bf16x2_hilo (p0, p1, hi, lo);
      const int n = 8 * j + 2 * q4, k = warp * 16 + g;
      ps[wg_at (NQ, n, k)] = (uint16_t) hi;
      ps[wg_at (NQ, n, k + 8)] = (uint16_t) (hi >> 16);
      ps[wg_at (NQ, n + 1, k)] = (uint16_t) lo;
      ps[wg_at (NQ, n + 1, k + 8)] = (uint16_t) (lo >> 16);
    }
    /* keys past the split's end: their weights are 0, but rows the cache never wrote could
     * hold anything (NaN times 0 is NaN), so the latent part of those rows becomes zeros */
    const int live = k_end - (k_begin + i * BN);
    if (live < BN)
      for (int c = tid; c < (BN - live) * (MW_LKV / 8); c += 128) {
        const int r = live + c / (MW_LKV / 8), b = (c % (MW_LKV / 8)) >> 3, ch = c & 7;
        *(uint4 *) (kt + b * BN * 64 + r * 64 + ch * 8) = make_uint4 (0, 0, 0, 0);
      }
    wg_fence_smem ();
    __syncthreads ();

    /* O^T += V^T . P^T: m-tile r is latent box r (64 dims, M-major: rows of 128 bytes are keys),
     * a k-step 16 keys (16 rows into the box, 32 bytes into P^T's rows) */
    {
      const uint64_t dv = wg_desc (kt, BN * 128, 1024);
      wg_fence ();
#pragma unroll
      for (int r = 0; r < 8; r++)
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++)
          mw_mma<NT, 1> (o[r], dv + (uint64_t) (r * BN * 8 + kk * 16 * 8), dp + (uint64_t) (kk * 2), 1);
      wg_commit ();
      wg_wait<0> ();
    }
    __syncthreads ();                                 /* the stage and P^T are free again */
    issue (i + 2);
  }

  /* this split's partial output (relative to its max), max (base e) and sum per head */
  float *base = a.partial + ((size_t) t * H * a.max_splits + s) * (MW_LKV + 2);
  const size_t hstride = (size_t) a.max_splits * (MW_LKV + 2);
#pragma unroll
  for (int j = 0; j < NT; j++) {
    const int h = 4 * j + q4;
    if (h < H)
#pragma unroll
      for (int r = 0; r < 8; r++) {
        const int d = r * 64 + warp * 16 + g;
        base[h * hstride + d] = o[r][j][0] + o[r][j][1];
        base[h * hstride + d + 8] = o[r][j][2] + o[r][j][3];
      }
    float l = l_run[j];
    l += __shfl_xor_sync (0xffffffffu, l, 4);
    l += __shfl_xor_sync (0xffffffffu, l, 8);
    l += __shfl_xor_sync (0xffffffffu, l, 16);
    if (g == 0)
      red[warp * (NQ / 2) + h] = l;
  }
  __syncthreads ();
  if (warp == 0 && g == 0)
#pragma unroll
    for (int j = 0; j < NT; j++) {
      const int h = 4 * j + q4;
      if (h < H) {
        const float m = m_run[j];
        base[h * hstride + MW_LKV] = m == -FLT_MAX ? m : m * MW_LN2;
        base[h * hstride + MW_LKV + 1] = red[h] + red[NQ / 2 + h] + red[NQ + h] + red[3 * NQ / 2 + h];
      }
    }
#endif
}

/* ---- launch ---- */

/* the kernel for nq query rows (2 H rounded up to 8); NULL past MW_NQMAX */
static const void *
mw_kernel (int nq)
{
  switch (nq) {
  case 8:
    return (const void *) mla_wgmma_kernel<1>;
  case 16:
    return (const void *) mla_wgmma_kernel<2>;
  case 24:
    return (const void *) mla_wgmma_kernel<3>;
  case 32:
    return (const void *) mla_wgmma_kernel<4>;
  case 40:
    return (const void *) mla_wgmma_kernel<5>;
  default:
    return NULL;
  }
}

static int
mw_nq (int H)
{
  return GK_CEIL_DIV (2 * H, 8) * 8;
}

/* whether the kernel for H heads runs on the current device (sm_90a code: compute capability
 * 9.0 alone) with its shared memory */
static bool
mw_ready (int H)
{
  int dev = 0, major = 0, minor = 0;
  cudaFuncAttributes attr;
  const void *k = H >= 1 ? mw_kernel (mw_nq (H)) : NULL;
  if (k == NULL || cudaGetDevice (&dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess)
    return false;
  if (major != 9 || minor != 0 || gk_device_smem_optin () < mw_smem (mw_nq (H)))
    return false;
  if (cudaFuncGetAttributes (&attr, k) != cudaSuccess) {
    (void) cudaGetLastError ();
    return false;
  }
  return true;
}

extern "C" int
gk_mla_decode_wgmma_supported (const GkMlaDecodeArgs *a)
{
  return a->Lkv == MW_LKV && a->R == MW_C - MW_LKV && a->H >= 1 && 2 * a->H <= MW_NQMAX &&
         a->max_splits >= 1 && a->cache_rows > 0 && a->q_mma != NULL &&
         ((uintptr_t) a->q_mma & 15) == 0 && ((uintptr_t) a->cache & 15) == 0 && mw_ready (a->H);
}

extern "C" int
gk_mla_decode_wgmma_split_target (int H)
{
  int per_sm = 0, n_sm = gk_device_sms (0);
  size_t smem = mw_smem (mw_nq (H));
  const void *k = 2 * H <= MW_NQMAX && mw_ready (H) ? mw_kernel (mw_nq (H)) : NULL;
  if (k == NULL || n_sm == 0 ||
      cudaFuncSetAttribute (k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem) !=
          cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor (&per_sm, k, 128, smem) != cudaSuccess) {
    (void) cudaGetLastError ();
    return 0;
  }
  return n_sm * per_sm;
}

extern "C" cudaError_t
gk_mla_decode_wgmma_splits (const GkMlaDecodeArgs *a, cudaStream_t stream)
{
  if (!gk_mla_decode_wgmma_supported (a))
    return cudaErrorInvalidValue;
  PFN_cuTensorMapEncodeTiled_v12000 encode = wg_tensor_map_encoder ();
  if (encode == NULL)
    return cudaErrorNotSupported;
  /* the layer's cache as rows of 576 bf16: boxes of 64 dims x 64 keys, 128-byte swizzle (the
   * kernel's tile layout); rows past cache_rows read as zeros */
  CUtensorMap map;
  memset (&map, 0, sizeof map);
  cuuint64_t dim[2] = { (cuuint64_t) MW_C, (cuuint64_t) a->cache_rows };
  cuuint64_t stride[1] = { (cuuint64_t) MW_C * 2 };
  cuuint32_t box[2] = { 64, MW_BN }, step[2] = { 1, 1 };
  if (encode (&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, (void *) a->cache, dim, stride, box,
              step, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
              CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
    return cudaErrorInvalidValue;
  const int nq = mw_nq (a->H);
  const void *k = mw_kernel (nq);
  size_t smem = mw_smem (nq);
  cudaError_t e = cudaFuncSetAttribute (k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  GkMlaDecodeArgs args = *a;
  void *params[] = { &args, &map };
  /* the most splits gk_mla_splits gives a token */
  int grid = a->split_target > 0 ? GK_CEIL_DIV (a->split_target, a->T) : a->max_splits;
  grid = max (1, min (grid, a->max_splits));
  e = cudaLaunchKernel (k, dim3 (grid, a->T), dim3 (128), params, smem, stream);
  return e != cudaSuccess ? e : gk_check_launch ();
}
