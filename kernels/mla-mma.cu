/* mla-mma.cu: absorbed-MLA decode attention on tensor cores, every head of a token in one CTA,
 * so each split of the latent cache is read from memory once per layer (not once per head).
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90 (mma.sync m16n8k16 bf16 -> f32, ldmatrix, cp.async: no
 * Hopper-only instructions, so it runs on an RTX 3090). Shape: Lkv 512, R 64 (C = 576), H <= 24.
 * CPU reference: engine/cpu/cpu-attention.c attend_task; float32 reference in tests/test-cuda.c.
 *
 * FlashMLA's shape, on mma.sync: grid (splits, T); a CTA takes a run of keys of token t and all
 * heads. Per tile of 16 keys (cp.async, STAGES deep):
 *   S^T [16 keys, 24 heads] = K [16, 576] . Q^T       (M = keys, N = heads padded to 24)
 *   online softmax per head (float32, in shared memory)
 *   O^T [512, 24] += V^T [512, 16] . P^T [16, 24]       (V = the latent part of the same keys)
 * Q and P are split into bf16 hi + lo parts (two products each), so scores and weights carry
 * about 16 mantissa bits instead of bf16's 8: the result stays within float32-reference noise
 * (the cache itself is bf16 and exact). Accumulation is float32. The splits' partial outputs,
 * maxima and sums go to GkMlaDecodeArgs.partial in the layout mla.cu's combine kernel reads. */
#include <float.h>

#include "common.cuh"

#define MMA_THREADS 128                 /* 4 warps */
#define MMA_KT 16                       /* keys per tile */
#define MMA_C 576
#define MMA_LKV 512
#define MMA_HMAX 24                     /* 3 n-tiles of 8 heads */
#define MMA_ROW (MMA_C + 8)             /* smem row in bf16: 1168 bytes, ldmatrix conflict-free */
#define MMA_PROW (MMA_KT + 8)           /* P row (one head) in bf16 */
#define MMA_MIN_KEYS 64                 /* as mla.cu's decode_splits: the combine kernel agrees */
#define MMA_MAX_QPARTS 16               /* gk_mla_absorb_parts bound (GLM: 12) */

/* shared memory, in bytes, for H heads and S stages */
#define MMA_SMEM(H, S)                                                                     \
  ((size_t) (S) * MMA_KT * MMA_ROW * 2 +          /* K tiles */                            \
   (size_t) 2 * (H) * MMA_ROW * 2 +               /* Q hi, lo */                           \
   (size_t) 4 * MMA_KT * MMA_HMAX * 4 +           /* score partials of the 4 warps */      \
   (size_t) 2 * MMA_HMAX * MMA_PROW * 2 +         /* P hi, lo */                           \
   (size_t) 4 * MMA_HMAX * 4 + 16)                /* m, l, corr, (pad); zero chunk */

/* ---- device helpers (cp.async, ldmatrix: common.cuh) ---- */

/* B fragments (k16 x n8, "col" = stored [n][k]) of the three 8-head n-tiles at column k0 of a
 * [heads][row] bf16 array; rows at or past H read the zero chunk. */
__device__ __forceinline__ void
load_b3 (uint32_t (&b)[3][2], const uint16_t *base, int row, int k0, int H, const uint16_t *zero)
{
  int lane = threadIdx.x & 31;
  int n01 = (lane & 7) + (lane >> 4) * 8, kk = ((lane >> 3) & 1) * 8;
  const uint16_t *p01 = n01 < H ? base + (size_t) n01 * row + k0 + kk : zero;
  ldsm_x4 (b[0][0], b[0][1], b[1][0], b[1][1], p01);
  int n2 = 16 + (lane & 7);
  const uint16_t *p2 = n2 < H ? base + (size_t) n2 * row + k0 + kk : zero;
  ldsm_x2 (b[2][0], b[2][1], p2);
}

/* ---- kernels ---- */

/* grid (max_splits, T), MMA_THREADS threads, MMA_SMEM (H, STAGES) bytes of shared memory. */
template <int STAGES>
__global__ void __launch_bounds__ (MMA_THREADS)
mla_decode_mma_kernel (GkMlaDecodeArgs a)
{
  extern __shared__ __align__ (16) unsigned char smem[];
  const int H = a.H;
  uint16_t *kt = (uint16_t *) smem;                                   /* [STAGES][KT][ROW] */
  uint16_t *qhi = kt + (size_t) STAGES * MMA_KT * MMA_ROW;           /* [H][ROW] */
  uint16_t *qlo = qhi + (size_t) H * MMA_ROW;
  float *spart = (float *) (qlo + (size_t) H * MMA_ROW);             /* [4][KT][HMAX] */
  uint16_t *phi = (uint16_t *) (spart + 4 * MMA_KT * MMA_HMAX);      /* [HMAX][PROW] */
  uint16_t *plo = phi + MMA_HMAX * MMA_PROW;
  float *m_run = (float *) (plo + MMA_HMAX * MMA_PROW);              /* [HMAX] */
  float *l_run = m_run + MMA_HMAX, *corr = l_run + MMA_HMAX;
  uint16_t *zero = (uint16_t *) (corr + 2 * MMA_HMAX);               /* 16 zero bytes */

  int s = blockIdx.x, t = blockIdx.y;
  int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  int n_keys = *a.n_past + t + 1;
  int splits = min (GK_CEIL_DIV (n_keys, MMA_MIN_KEYS), a.max_splits);
  if (s >= splits || n_keys < a.mma_min_keys)   /* short: mla.cu's simple kernel has it */
    return;
  int per = GK_CEIL_DIV (n_keys, splits);
  int k_begin = s * per, k_end = min (n_keys, k_begin + per);
  int n_tiles = k_end > k_begin ? GK_CEIL_DIV (k_end - k_begin, MMA_KT) : 0;
  const uint16_t *cache = a.cache;

  /* K/V tile loader: 16 keys x 72 chunks of 16 bytes, 9 per thread */
  auto load_tile = [&](int tile, int stage) {
    uint16_t *dst = kt + (size_t) stage * MMA_KT * MMA_ROW;
    int key0 = k_begin + tile * MMA_KT;
    for (int i = tid; i < MMA_KT * (MMA_C / 8); i += MMA_THREADS) {
      int r = i / (MMA_C / 8), c = i % (MMA_C / 8);
      int key = key0 + r;
      bool valid = key < k_end;
      const uint16_t *src = cache + (size_t) (valid ? key : k_begin) * MMA_C + c * 8;
      cp_async16 (dst + (size_t) r * MMA_ROW + c * 8, src, valid);
    }
  };
  for (int st = 0; st < STAGES - 1; st++) {
    if (st < n_tiles)
      load_tile (st, st);
    cp_async_commit ();
  }

  /* the query of every head: [q_lat summed over parts | rotated q_pe] * scale, as hi + lo.
   * Every CTA reads all H x n_qparts x 512 partial sums (L2): a float4 per load, and all parts
   * of it issued before they are added, so the loads overlap instead of queueing. */
  for (int i = tid; i < H * (MMA_LKV / 4); i += MMA_THREADS) {
    int h = i / (MMA_LKV / 4), c = (i % (MMA_LKV / 4)) * 4;
    const float4 *ql = (const float4 *) (a.q_lat + ((size_t) t * H + h) * a.n_qparts * MMA_LKV + c);
    float4 x[MMA_MAX_QPARTS];
#pragma unroll
    for (int part = 0; part < MMA_MAX_QPARTS; part++)
      if (part < a.n_qparts)
        x[part] = ql[(size_t) part * (MMA_LKV / 4)];
    float v[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
#pragma unroll
    for (int part = 0; part < MMA_MAX_QPARTS; part++)
      if (part < a.n_qparts) {
        v[0] += x[part].x;
        v[1] += x[part].y;
        v[2] += x[part].z;
        v[3] += x[part].w;
      }
#pragma unroll
    for (int e = 0; e < 4; e++) {
      float q = v[e] * a.scale;
      uint16_t hi = gk_to_bf16 (q);
      qhi[(size_t) h * MMA_ROW + c + e] = hi;
      qlo[(size_t) h * MMA_ROW + c + e] = gk_to_bf16 (q - gk_bf16 (hi));
    }
  }
  int Dqk = a.Dn + a.R;
  for (int i = tid; i < H * (MMA_C - MMA_LKV); i += MMA_THREADS) {
    int h = i / (MMA_C - MMA_LKV), r = i % (MMA_C - MMA_LKV);
    float q = a.q[((size_t) t * H + h) * Dqk + a.Dn + r] * a.scale;
    uint16_t hi = gk_to_bf16 (q);
    qhi[(size_t) h * MMA_ROW + MMA_LKV + r] = hi;
    qlo[(size_t) h * MMA_ROW + MMA_LKV + r] = gk_to_bf16 (q - gk_bf16 (hi));
  }
  if (tid < MMA_HMAX) {
    m_run[tid] = -FLT_MAX;
    l_run[tid] = 0.0f;
  }
  if (tid < 8)
    zero[tid] = 0;

  /* O^T accumulators: warp w owns latent dims [128 w, 128 w + 128) = 8 m-tiles x 3 n-tiles */
  float o[8][3][4];
#pragma unroll
  for (int i = 0; i < 8; i++)
#pragma unroll
    for (int j = 0; j < 3; j++)
      o[i][j][0] = o[i][j][1] = o[i][j][2] = o[i][j][3] = 0.0f;

  for (int tile = 0; tile < n_tiles; tile++) {
    cp_async_wait<STAGES - 2> ();
    __syncthreads ();                      /* tile's data landed; the previous tile is done */
    {
      int nt = tile + STAGES - 1;
      if (nt < n_tiles)
        load_tile (nt, nt % STAGES);
      cp_async_commit ();
    }
    const uint16_t *K = kt + (size_t) (tile % STAGES) * MMA_KT * MMA_ROW;

    /* S^T partial over this warp's quarter of the 576 dims (9 k-steps) */
    float sacc[3][4];
#pragma unroll
    for (int j = 0; j < 3; j++)
      sacc[j][0] = sacc[j][1] = sacc[j][2] = sacc[j][3] = 0.0f;
#pragma unroll 3
    for (int ks = 0; ks < 9; ks++) {
      int k0 = (warp * 9 + ks) * 16;
      uint32_t a0, a1, a2, a3;
      int row = (lane & 7) + ((lane >> 3) & 1) * 8, col = k0 + (lane >> 4) * 8;
      ldsm_x4 (a0, a1, a2, a3, K + (size_t) row * MMA_ROW + col);
      uint32_t bh[3][2], bl[3][2];
      load_b3 (bh, qhi, MMA_ROW, k0, H, zero);
      load_b3 (bl, qlo, MMA_ROW, k0, H, zero);
#pragma unroll
      for (int j = 0; j < 3; j++) {
        gk_mma_bf16 (sacc[j], a0, a1, a2, a3, bh[j][0], bh[j][1]);
        gk_mma_bf16 (sacc[j], a0, a1, a2, a3, bl[j][0], bl[j][1]);
      }
    }
    {
      int g = lane >> 2, c2 = (lane & 3) * 2;
      float *sp = spart + (size_t) warp * MMA_KT * MMA_HMAX;
#pragma unroll
      for (int j = 0; j < 3; j++) {
        sp[g * MMA_HMAX + 8 * j + c2] = sacc[j][0];
        sp[g * MMA_HMAX + 8 * j + c2 + 1] = sacc[j][1];
        sp[(g + 8) * MMA_HMAX + 8 * j + c2] = sacc[j][2];
        sp[(g + 8) * MMA_HMAX + 8 * j + c2 + 1] = sacc[j][3];
      }
    }
    __syncthreads ();

    /* online softmax: each half-warp takes one head (lane & 15 = key): warp w does heads
     * 2w, 2w + 1, 2w + 8, 2w + 9, 2w + 16, 2w + 17 */
    int valid_keys = min (MMA_KT, k_end - (k_begin + tile * MMA_KT));
    for (int hb = warp * 2; hb < MMA_HMAX; hb += 8) {
      int h = hb + (lane >> 4), key = lane & 15;
      bool live = key < valid_keys && h < H;
      float sc = -FLT_MAX;
      if (live) {
        sc = 0.0f;
#pragma unroll
        for (int w = 0; w < 4; w++)
          sc += spart[((size_t) w * MMA_KT + key) * MMA_HMAX + h];
      }
      float tmax = sc;
#pragma unroll
      for (int off = 8; off > 0; off >>= 1)
        tmax = fmaxf (tmax, __shfl_xor_sync (0xffffffffu, tmax, off));
      float m_old = m_run[h], m_new = fmaxf (m_old, tmax);
      float p = live ? expf (sc - m_new) : 0.0f;
      float sum = p;
#pragma unroll
      for (int off = 8; off > 0; off >>= 1)
        sum += __shfl_xor_sync (0xffffffffu, sum, off);
      uint16_t hi = gk_to_bf16 (p);
      phi[h * MMA_PROW + key] = hi;
      plo[h * MMA_PROW + key] = gk_to_bf16 (p - gk_bf16 (hi));
      if (key == 0) {
        float cf = h < H ? expf (m_old - m_new) : 0.0f;   /* m_old = -FLT_MAX: 0 */
        corr[h] = cf;
        l_run[h] = l_run[h] * cf + sum;
        m_run[h] = m_new;
      }
    }
    __syncthreads ();

    /* O^T = O^T * corr + V^T . P^T over the 16 keys (one k-step) */
    {
      int c2 = (lane & 3) * 2;
      float cf[3][2];
#pragma unroll
      for (int j = 0; j < 3; j++) {
        cf[j][0] = corr[8 * j + c2];
        cf[j][1] = corr[8 * j + c2 + 1];
      }
      uint32_t bh[3][2], bl[3][2];
      load_b3 (bh, phi, MMA_PROW, 0, MMA_HMAX, zero);
      load_b3 (bl, plo, MMA_PROW, 0, MMA_HMAX, zero);
      int key = (lane & 7) + (lane >> 4) * 8, dsub = ((lane >> 3) & 1) * 8;
#pragma unroll
      for (int i = 0; i < 8; i++) {
        int m0 = warp * 128 + i * 16;
        uint32_t a0, a1, a2, a3;
        ldsm_x4_trans (a0, a1, a2, a3, K + (size_t) key * MMA_ROW + m0 + dsub);
#pragma unroll
        for (int j = 0; j < 3; j++) {
          o[i][j][0] *= cf[j][0];
          o[i][j][1] *= cf[j][1];
          o[i][j][2] *= cf[j][0];
          o[i][j][3] *= cf[j][1];
          gk_mma_bf16 (o[i][j], a0, a1, a2, a3, bh[j][0], bh[j][1]);
          gk_mma_bf16 (o[i][j], a0, a1, a2, a3, bl[j][0], bl[j][1]);
        }
      }
    }
  }
  cp_async_wait<0> ();

  /* this split's partial output (relative to its max), max and sum per head */
  int g = lane >> 2, c2 = (lane & 3) * 2;
#pragma unroll
  for (int i = 0; i < 8; i++)
#pragma unroll
    for (int j = 0; j < 3; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int h = 8 * j + c2 + (e & 1), d = warp * 128 + i * 16 + g + (e >> 1) * 8;
        if (h < H)
          a.partial[(((size_t) t * H + h) * a.max_splits + s) * (MMA_LKV + 2) + d] = o[i][j][e];
      }
  __syncthreads ();
  if (tid < H) {
    float *part = a.partial + (((size_t) t * H + tid) * a.max_splits + s) * (MMA_LKV + 2);
    part[MMA_LKV] = m_run[tid];
    part[MMA_LKV + 1] = l_run[tid];
  }
}

/* ---- launchers ---- */

static int
mma_stages (int H)
{
  int dev = 0, optin = 0;
  if (cudaGetDevice (&dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
    return 0;
  if (MMA_SMEM (H, 3) <= (size_t) optin)
    return 3;
  if (MMA_SMEM (H, 2) <= (size_t) optin)
    return 2;
  return 0;
}

extern "C" int
gk_mla_decode_mma_supported (const GkMlaDecodeArgs *a)
{
  return a->Lkv == MMA_LKV && a->R == MMA_C - MMA_LKV && a->H >= 1 && a->H <= MMA_HMAX &&
         a->n_qparts >= 1 && a->n_qparts <= MMA_MAX_QPARTS && a->max_splits >= 1 &&
         ((uintptr_t) a->q_lat & 15) == 0 && mma_stages (a->H) > 0;
}

extern "C" cudaError_t
gk_mla_decode_mma_splits (const GkMlaDecodeArgs *a, cudaStream_t stream)
{
  if (!gk_mla_decode_mma_supported (a))
    return cudaErrorInvalidValue;
  int stages = mma_stages (a->H);
  size_t smem = MMA_SMEM (a->H, stages);
  dim3 grid (a->max_splits, a->T);
  cudaError_t e;
  if (stages == 3) {
    e = cudaFuncSetAttribute (mla_decode_mma_kernel<3>,
                              cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
    if (e != cudaSuccess)
      return e;
    mla_decode_mma_kernel<3><<<grid, MMA_THREADS, smem, stream>>> (*a);
  } else {
    e = cudaFuncSetAttribute (mla_decode_mma_kernel<2>,
                              cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
    if (e != cudaSuccess)
      return e;
    mla_decode_mma_kernel<2><<<grid, MMA_THREADS, smem, stream>>> (*a);
  }
  return gk_check_launch ();
}
