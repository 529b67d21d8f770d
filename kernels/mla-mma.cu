/* mla-mma.cu: absorbed-MLA decode attention on tensor cores, every head of a token in one CTA,
 * so each split of the latent cache is read from memory once per layer (not once per head).
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90 (mma.sync m16n8k16 bf16 -> f32, ldmatrix, movmatrix, cp.async:
 * no Hopper-only instructions, so it runs on an RTX 3090). Shape: Lkv 512, R 64 (C = 576), H <= 24.
 * CPU reference: engine/cpu/cpu-attention.c attend_task; float32 reference in tests/test-cuda.c.
 *
 * FlashMLA's shape, on mma.sync: a split takes a run of keys of token t and all heads. Per tile
 * of 16 keys (cp.async, STAGES deep):
 *   S^T [16 keys, 8 NT heads] = K [16, 576] . Q^T     (M = keys, N = heads padded to 8, 16, 24)
 *   online softmax per head (float32)
 *   O^T [512, 8 NT] += V^T [512, 16] . P^T [16, 8 NT]  (V = the latent part of the same keys)
 * Q and P are split into bf16 hi + lo parts (two products each), so scores and weights carry
 * about 16 mantissa bits instead of bf16's 8: the result stays within float32-reference noise
 * (the cache itself is bf16 and exact). Accumulation is float32. The splits' partial outputs,
 * maxima and sums go to GkMlaDecodeArgs.partial in the layout mla.cu's combine kernel reads.
 *
 * Two kernels:
 * - v1 (mla_decode_mma_kernel, GK_MLA_MMA_V1): grid (splits, T), one 4-warp CTA per split; each
 *   CTA sums the query's partial sums itself; softmax state in shared memory, 3 barriers a tile.
 * - v2 (mla_decode_mma2_kernel, GK_MLA_MMA; the default where mla-wgmma.cu's kernel does not
 *   run: compute capability other than 9.0, or more than 20 heads): mla_q_prep_kernel (unless
 *   the caller's gk_mla_query did it: q_ready) sums and splits the query once per token into
 *   q_mma; a CTA holds GROUPS independent 4-warp groups (own split,
 *   key stages, named barrier) sharing that query in shared memory. The four warps of a group
 *   split the 576 dims of S; after one barrier every warp sums the partials and keeps the
 *   online-softmax state of all heads in registers (identical in the four warps), turns P into
 *   mma B fragments with movmatrix (no P in shared memory, no third barrier), and adds its 128
 *   latent dims of O. Splits follow the key count and the device (gk_mla_splits). */
#include <float.h>

#include "common.cuh"

#define MMA_THREADS 128                 /* 4 warps */
#define MMA_KT 16                       /* keys per tile */
#define MMA_C 576
#define MMA_LKV 512
#define MMA_HMAX 24                     /* 3 n-tiles of 8 heads */
#define MMA_ROW (MMA_C + 8)             /* smem row in bf16: 1168 bytes, ldmatrix conflict-free */
#define MMA_PROW (MMA_KT + 8)           /* P row (one head) in bf16 */
#define MMA_MAX_QPARTS 16               /* gk_mla_absorb_parts bound (GLM: 12) */
#define MMA_LOG2E 1.44269504088896341f
#define MMA_LN2 0.693147180559945309f

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

/* cp.async of a K/V tile: keys key0 .. key0 + MMA_KT of the latent cache (MMA_C values each,
 * 16-byte chunks) into dst [MMA_KT][MMA_ROW]; keys at or past k_end become zeros (their source
 * address stays inside the split). Threads t, t + n, ... of the n that share the tile. */
__device__ __forceinline__ void
load_kv_tile (uint16_t *dst, const uint16_t *cache, int key0, int k_begin, int k_end, int t, int n)
{
  for (int i = t; i < MMA_KT * (MMA_C / 8); i += n) {
    int r = i / (MMA_C / 8), c = i % (MMA_C / 8);
    int key = key0 + r;
    bool valid = key < k_end;
    const uint16_t *src = cache + (size_t) (valid ? key : k_begin) * MMA_C + c * 8;
    cp_async16 (dst + (size_t) r * MMA_ROW + c * 8, src, valid);
  }
}

/* ---- kernels ---- */

/* The query of head h, token t at latent columns 4 i .. 4 i + 3: the absorb kernel's partial
 * sums added in order, times the softmax scale. Every part's float4 load is issued before they
 * are added, so the loads overlap instead of queueing. */
__device__ __forceinline__ void
q_lat_sum4 (const GkMlaDecodeArgs &a, int t, int h, int i, float scale, float (&v)[4])
{
  const float4 *ql = (const float4 *) (a.q_lat + ((size_t) t * a.H + h) * a.n_qparts * MMA_LKV) + i;
  float4 x[MMA_MAX_QPARTS];
#pragma unroll
  for (int part = 0; part < MMA_MAX_QPARTS; part++)
    if (part < a.n_qparts)
      x[part] = ql[(size_t) part * (MMA_LKV / 4)];
  v[0] = v[1] = v[2] = v[3] = 0.0f;
#pragma unroll
  for (int part = 0; part < MMA_MAX_QPARTS; part++)
    if (part < a.n_qparts) {
      v[0] += x[part].x;
      v[1] += x[part].y;
      v[2] += x[part].z;
      v[3] += x[part].w;
    }
#pragma unroll
  for (int e = 0; e < 4; e++)
    v[e] *= scale;
}

/* O^T = O^T * corr + V^T . P^T over one tile of 16 keys (K: [MMA_KT][MMA_ROW]), for this warp's
 * 128 latent dims: 8 m-tiles x NT n-tiles of 8 heads; P^T as hi and lo B fragments */
template <int NT, bool RESCALE = true>
__device__ __forceinline__ void
pv_tile (float (&o)[8][NT][4], const uint16_t *K, int warp, int lane, const float (&corr)[NT][2],
         const uint32_t (&bh)[NT][2], const uint32_t (&bl)[NT][2])
{
  int key = (lane & 7) + (lane >> 4) * 8, dsub = ((lane >> 3) & 1) * 8;
#pragma unroll
  for (int i = 0; i < 8; i++) {
    int m0 = warp * 128 + i * 16;
    uint32_t a0, a1, a2, a3;
    ldsm_x4_trans (a0, a1, a2, a3, K + (size_t) key * MMA_ROW + m0 + dsub);
#pragma unroll
    for (int j = 0; j < NT; j++) {
      if (RESCALE) {
        o[i][j][0] *= corr[j][0];
        o[i][j][1] *= corr[j][1];
        o[i][j][2] *= corr[j][0];
        o[i][j][3] *= corr[j][1];
      }
      gk_mma_bf16 (o[i][j], a0, a1, a2, a3, bh[j][0], bh[j][1]);
      gk_mma_bf16 (o[i][j], a0, a1, a2, a3, bl[j][0], bl[j][1]);
    }
  }
}

/* this warp's part of a split's partial output: head h's row is base + h * hstride */
template <int NT>
__device__ __forceinline__ void
store_o_partial (const float (&o)[8][NT][4], float *base, size_t hstride, int H, int warp, int lane)
{
  int g = lane >> 2, c2 = (lane & 3) * 2;
#pragma unroll
  for (int i = 0; i < 8; i++)
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int h = 8 * j + c2 + (e & 1), d = warp * 128 + i * 16 + g + (e >> 1) * 8;
        if (h < H)
          base[h * hstride + d] = o[i][j][e];
      }
}

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
  int splits = gk_mla_splits (a, n_keys);       /* ceil(n_keys / 64), at most max_splits */
  if (s >= splits || n_keys < a.mma_min_keys)   /* short: mla.cu's simple kernel has it */
    return;
  int per = GK_CEIL_DIV (n_keys, splits);
  int k_begin = s * per, k_end = min (n_keys, k_begin + per);
  int n_tiles = k_end > k_begin ? GK_CEIL_DIV (k_end - k_begin, MMA_KT) : 0;
  const uint16_t *cache = a.cache;

  auto load_tile = [&](int tile, int stage) {
    load_kv_tile (kt + (size_t) stage * MMA_KT * MMA_ROW, cache, k_begin + tile * MMA_KT, k_begin,
                  k_end, tid, MMA_THREADS);
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
    float v[4];
    q_lat_sum4 (a, t, h, c / 4, a.scale, v);
#pragma unroll
    for (int e = 0; e < 4; e++)
      gk_bf16_hilo (v[e], qhi[(size_t) h * MMA_ROW + c + e], qlo[(size_t) h * MMA_ROW + c + e]);
  }
  int Dqk = a.Dn + a.R;
  for (int i = tid; i < H * (MMA_C - MMA_LKV); i += MMA_THREADS) {
    int h = i / (MMA_C - MMA_LKV), r = i % (MMA_C - MMA_LKV);
    gk_bf16_hilo (a.q[((size_t) t * H + h) * Dqk + a.Dn + r] * a.scale,
                qhi[(size_t) h * MMA_ROW + MMA_LKV + r], qlo[(size_t) h * MMA_ROW + MMA_LKV + r]);
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
      gk_bf16_hilo (p, phi[h * MMA_PROW + key], plo[h * MMA_PROW + key]);
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
      pv_tile<3> (o, K, warp, lane, cf, bh, bl);
    }
  }
  cp_async_wait<0> ();

  /* this split's partial output (relative to its max), max and sum per head */
  store_o_partial<3> (o, a.partial + ((size_t) t * H * a.max_splits + s) * (MMA_LKV + 2),
                      (size_t) a.max_splits * (MMA_LKV + 2), H, warp, lane);
  __syncthreads ();
  if (tid < H) {
    float *part = a.partial + (((size_t) t * H + tid) * a.max_splits + s) * (MMA_LKV + 2);
    part[MMA_LKV] = m_run[tid];
    part[MMA_LKV + 1] = l_run[tid];
  }
}

/* ---- v2: the query prepared once, groups of warps, softmax in registers ---- */

#define MMA2_GROUP 128                  /* threads of one group: 4 warps */

/* shared memory of a v2 CTA, in bytes: GROUPS x (STAGES key tiles + score partials) + the
 * query (hi, lo) of H heads + a zero chunk */
/* score partial row (one key), floats: 8 or 24, so the float2 stores and loads of a half-warp
 * (keys g..g+3, heads c2..c2+1) fall on distinct banks */
#define MMA2_SROW(NT) ((NT) == 1 ? 8 : 24)
#define MMA2_SMEM(H, G, S, NT)                                                             \
  ((size_t) (G) * ((S) * MMA_KT * MMA_ROW * 2 + 4 * MMA_KT * MMA2_SROW (NT) * 4) +         \
   (size_t) 2 * (H) * MMA_ROW * 2 + 16)

__device__ __forceinline__ uint32_t
movmatrix_trans (uint32_t x)
{
  uint32_t y;
  asm volatile ("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
  return y;
}

/* barrier of the 128 threads of group g (barrier 0 is __syncthreads) */
template <int GROUPS>
__device__ __forceinline__ void
group_sync (int g)
{
  if (GROUPS == 1)
    __syncthreads ();
  else if (g == 0)                       /* constant ids: ptxas reserves only these */
    asm volatile ("bar.sync 1, %0;\n" ::"n"(MMA2_GROUP) : "memory");
  else
    asm volatile ("bar.sync 2, %0;\n" ::"n"(MMA2_GROUP) : "memory");
}

/* B fragments (k16 x n8) of NT 8-head n-tiles at column k0 of a [heads][row] bf16 array; rows at
 * or past H read the zero chunk. */
template <int NT>
__device__ __forceinline__ void
load_bn (uint32_t (&b)[NT][2], const uint16_t *base, int k0, int H, const uint16_t *zero)
{
  int lane = threadIdx.x & 31, kk = ((lane >> 3) & 1) * 8;
  if (NT >= 2) {
    int n01 = (lane & 7) + (lane >> 4) * 8;
    const uint16_t *p01 = n01 < H ? base + (size_t) n01 * MMA_ROW + k0 + kk : zero;
    ldsm_x4 (b[0][0], b[0][1], b[NT >= 2 ? 1 : 0][0], b[NT >= 2 ? 1 : 0][1], p01);
  } else {
    int n0 = lane & 7;
    const uint16_t *p0 = n0 < H ? base + (size_t) n0 * MMA_ROW + k0 + kk : zero;
    ldsm_x2 (b[0][0], b[0][1], p0);
  }
  if (NT == 3) {
    int n2 = 16 + (lane & 7);
    const uint16_t *p2 = n2 < H ? base + (size_t) n2 * MMA_ROW + k0 + kk : zero;
    ldsm_x2 (b[NT - 1][0], b[NT - 1][1], p2);
  }
}

/* grid (H, T), 128 threads: q_mma[t, h] = bf16 hi and lo rows of
 * [sum over parts of q_lat[t, h] | rotated q_pe[t, h]] * scale * log2(e): the v2 kernel's scores
 * come out in base 2, so each softmax weight is one exp2. */
__global__ void __launch_bounds__ (128)
mla_q_prep_kernel (GkMlaDecodeArgs a)
{
  int h = blockIdx.x, t = blockIdx.y, H = a.H;
  if (!gk_mla_mma_takes (a, *a.n_past + t + 1))
    return;
  uint16_t *hi = a.q_mma + ((size_t) t * H + h) * 2 * MMA_C, *lo = hi + MMA_C;
  for (int i = threadIdx.x; i < MMA_LKV / 4; i += blockDim.x) {
    float v[4];
    q_lat_sum4 (a, t, h, i, a.scale * MMA_LOG2E, v);
    uint32_t h01, l01, h23, l23;
    gk_bf16x2_hilo (v[0], v[1], h01, l01);
    gk_bf16x2_hilo (v[2], v[3], h23, l23);
    *(uint2 *) (hi + 4 * i) = make_uint2 (h01, h23);
    *(uint2 *) (lo + 4 * i) = make_uint2 (l01, l23);
  }
  const float *qp = a.q + ((size_t) t * H + h) * (a.Dn + a.R) + a.Dn;
  for (int r = threadIdx.x; r < MMA_C - MMA_LKV; r += blockDim.x)
    gk_bf16_hilo (qp[r] * (a.scale * MMA_LOG2E), hi[MMA_LKV + r], lo[MMA_LKV + r]);
}

/* grid (ceil(max_splits / GROUPS), T), GROUPS x 128 threads, MMA2_SMEM bytes of shared memory.
 * Group g of CTA x takes split x * GROUPS + g. Needs q_mma from mla_q_prep_kernel. */
template <int GROUPS, int STAGES, int NT>
__global__ void __launch_bounds__ (GROUPS * MMA2_GROUP, 1)
mla_decode_mma2_kernel (GkMlaDecodeArgs a)
{
  extern __shared__ __align__ (16) unsigned char smem[];
  constexpr int SROW = MMA2_SROW (NT);
  const int H = a.H;
  static_assert (GROUPS == 1 || GROUPS == 2, "group_sync names two barriers");
  int tid = threadIdx.x, grp = tid / MMA2_GROUP, gtid = tid % MMA2_GROUP;
  int warp = gtid >> 5, lane = tid & 31;
  int t = blockIdx.y;
  int n_keys = *a.n_past + t + 1;
  if (!gk_mla_mma_takes (a, n_keys))       /* short: mla.cu's simple kernel has it */
    return;
  int splits = gk_mla_splits (a, n_keys);
  if ((int) blockIdx.x * GROUPS >= splits)   /* the whole CTA: before any barrier */
    return;

  uint16_t *kall = (uint16_t *) smem;                                  /* [G][STAGES][KT][ROW] */
  uint16_t *qhi = kall + (size_t) GROUPS * STAGES * MMA_KT * MMA_ROW;  /* [H][ROW] */
  uint16_t *qlo = qhi + (size_t) H * MMA_ROW;
  float *sall = (float *) (qlo + (size_t) H * MMA_ROW);                /* [G][4][KT][SROW] */
  uint16_t *zero = (uint16_t *) (sall + GROUPS * 4 * MMA_KT * SROW);  /* 16 zero bytes */
  uint16_t *kt = kall + (size_t) grp * STAGES * MMA_KT * MMA_ROW;
  float *spart = sall + (size_t) grp * 4 * MMA_KT * SROW;

  int s = blockIdx.x * GROUPS + grp;
  int per = GK_CEIL_DIV (n_keys, splits);
  int k_begin = min (s * per, n_keys), k_end = min (n_keys, k_begin + per);
  int n_tiles = s < splits && k_end > k_begin ? GK_CEIL_DIV (k_end - k_begin, MMA_KT) : 0;
  const uint16_t *cache = a.cache;

  /* the query, hi and lo rows of every head, by all threads (one cp.async group) */
  {
    const uint16_t *qsrc = a.q_mma + (size_t) t * H * 2 * MMA_C;
    for (int i = tid; i < H * 2 * (MMA_C / 8); i += GROUPS * MMA2_GROUP) {
      int row = i / (MMA_C / 8), c = i % (MMA_C / 8);        /* row = 2 h + (0 hi, 1 lo) */
      uint16_t *dst = ((row & 1) ? qlo : qhi) + (size_t) (row >> 1) * MMA_ROW + c * 8;
      cp_async16 (dst, qsrc + (size_t) row * MMA_C + c * 8, true);
    }
    cp_async_commit ();
  }

  auto load_tile = [&](int tile, int stage) {     /* the group's threads */
    load_kv_tile (kt + (size_t) stage * MMA_KT * MMA_ROW, cache, k_begin + tile * MMA_KT, k_begin,
                  k_end, gtid, MMA2_GROUP);
  };
  for (int st = 0; st < STAGES - 1; st++) {
    if (st < n_tiles)
      load_tile (st, st);
    cp_async_commit ();
  }
  if (tid < 8)
    zero[tid] = 0;
  cp_async_wait<STAGES - 1> ();          /* this thread's part of the query landed */
  __syncthreads ();                      /* everyone's; the only CTA-wide barrier */

  /* the lane's place in the mma fragments: keys (S^T rows) or latent dims (O^T rows) g, g + 8;
   * heads 8 j + c2, 8 j + c2 + 1 */
  const int g = lane >> 2, c2 = (lane & 3) * 2;
  float o[8][NT][4];
  float m_run[NT][2], l_run[NT][2];
#pragma unroll
  for (int j = 0; j < NT; j++) {
#pragma unroll
    for (int i = 0; i < 8; i++)
      o[i][j][0] = o[i][j][1] = o[i][j][2] = o[i][j][3] = 0.0f;
    m_run[j][0] = m_run[j][1] = -FLT_MAX;
    l_run[j][0] = l_run[j][1] = 0.0f;
  }

  for (int tile = 0; tile < n_tiles; tile++) {
    cp_async_wait<STAGES - 2> ();
    group_sync<GROUPS> (grp);              /* tile's data landed; the previous tile is done */
    {
      int nt = tile + STAGES - 1;
      if (nt < n_tiles)
        load_tile (nt, nt % STAGES);
      cp_async_commit ();
    }
    const uint16_t *K = kt + (size_t) (tile % STAGES) * MMA_KT * MMA_ROW;

    /* S^T partial over this warp's quarter of the 576 dims (9 k-steps); hi and lo products in
     * separate accumulators (shorter dependency chains) */
    float sh[NT][4], sl[NT][4];
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
      for (int e = 0; e < 4; e++)
        sh[j][e] = sl[j][e] = 0.0f;
#pragma unroll 3
    for (int ks = 0; ks < 9; ks++) {
      int k0 = (warp * 9 + ks) * 16;
      uint32_t a0, a1, a2, a3;
      int row = (lane & 7) + ((lane >> 3) & 1) * 8, col = k0 + (lane >> 4) * 8;
      ldsm_x4 (a0, a1, a2, a3, K + (size_t) row * MMA_ROW + col);
      uint32_t bh[NT][2], bl[NT][2];
      load_bn<NT> (bh, qhi, k0, H, zero);
      load_bn<NT> (bl, qlo, k0, H, zero);
#pragma unroll
      for (int j = 0; j < NT; j++) {
        gk_mma_bf16 (sh[j], a0, a1, a2, a3, bh[j][0], bh[j][1]);
        gk_mma_bf16 (sl[j], a0, a1, a2, a3, bl[j][0], bl[j][1]);
      }
    }
    {
      float *sp = spart + (size_t) warp * MMA_KT * SROW;
#pragma unroll
      for (int j = 0; j < NT; j++) {
        *(float2 *) (sp + g * SROW + 8 * j + c2) = make_float2 (sh[j][0] + sl[j][0], sh[j][1] + sl[j][1]);
        *(float2 *) (sp + (g + 8) * SROW + 8 * j + c2) =
            make_float2 (sh[j][2] + sl[j][2], sh[j][3] + sl[j][3]);
      }
    }
    group_sync<GROUPS> (grp);              /* the four warps' partials are in */

    /* every warp: the full scores of its fragment positions (same order in every warp, so the
     * four copies of the softmax state stay identical), then the online softmax per head: the
     * 16 keys of a head are in the 8 lanes of one c2 (xor 4, 8, 16) and two registers */
    int valid_keys = min (MMA_KT, k_end - (k_begin + tile * MMA_KT));
    bool live0 = g < valid_keys, live1 = g + 8 < valid_keys;
    float sc[NT][4];
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
      for (int half = 0; half < 2; half++) {
        float2 acc = make_float2 (0.0f, 0.0f);
#pragma unroll
        for (int w = 0; w < 4; w++) {
          float2 v = *(const float2 *) (spart + ((size_t) w * MMA_KT + g + 8 * half) * SROW + 8 * j + c2);
          acc.x += v.x;
          acc.y += v.y;
        }
        sc[j][2 * half] = acc.x;
        sc[j][2 * half + 1] = acc.y;
      }
    /* The running max of a head moves only when a key beats it, which after the first tiles
     * of a split is rare: one vote asks whether any head's does in this tile. If none, every
     * correction is 1 (no shuffles for the max, no rescaling of O). The scores are in base 2
     * (log2(e) is in the query), and each lane keeps its own part of a head's running sum
     * (its keys' weights), added across the head's 8 lanes once, at the end. Every warp takes
     * the same branch: the four copies of the state are identical. */
    float tmax[NT][2];
    bool grow = false;
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        tmax[j][e] = fmaxf (live0 ? sc[j][e] : -FLT_MAX, live1 ? sc[j][e + 2] : -FLT_MAX);
        grow |= tmax[j][e] > m_run[j][e];
      }
    grow = __any_sync (0xffffffffu, grow);
    float corr[NT][2];
    uint32_t bph[NT][2], bpl[NT][2];
#pragma unroll
    for (int j = 0; j < NT; j++) {
      float p[4];
#pragma unroll
      for (int e = 0; e < 2; e++) {
        float m_new = m_run[j][e];
        corr[j][e] = 1.0f;
        if (grow) {
          float mx = tmax[j][e];
          mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 4));
          mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 8));
          mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 16));
          m_new = fmaxf (m_new, mx);                 /* finite: key 0 of the tile is live */
          corr[j][e] = exp2f (m_run[j][e] - m_new);  /* m_run = -FLT_MAX: 0 */
          m_run[j][e] = m_new;
        }
        p[e] = live0 ? gk_exp2_fast (sc[j][e] - m_new) : 0.0f;
        p[e + 2] = live1 ? gk_exp2_fast (sc[j][e + 2] - m_new) : 0.0f;
        l_run[j][e] = l_run[j][e] * corr[j][e] + (p[e] + p[e + 2]);
      }
      /* P^T as B fragments: the S^T accumulator holds (key g, heads c2, c2 + 1), the B operand
       * wants (keys 2 (lane & 3) + {0, 1}, head lane >> 2): an 8x8 transpose per key half */
      uint32_t h01, l01, h23, l23;
      gk_bf16x2_hilo (p[0], p[1], h01, l01);
      gk_bf16x2_hilo (p[2], p[3], h23, l23);
      bph[j][0] = movmatrix_trans (h01);
      bph[j][1] = movmatrix_trans (h23);
      bpl[j][0] = movmatrix_trans (l01);
      bpl[j][1] = movmatrix_trans (l23);
    }

    /* O^T = O^T * corr + V^T . P^T over the 16 keys (one k-step), this warp's 128 dims */
    if (grow)
      pv_tile<NT, true> (o, K, warp, lane, corr, bph, bpl);
    else
      pv_tile<NT, false> (o, K, warp, lane, corr, bph, bpl);   /* every correction is 1 */
  }
  cp_async_wait<0> ();
  if (s >= splits)
    return;

  /* this split's partial output (relative to its max), max and sum per head; an empty split
   * writes zeros, -FLT_MAX and 0, which the combine weighs with 0 */
  float *base = a.partial + ((size_t) t * H * a.max_splits + s) * (MMA_LKV + 2);
  const size_t hstride = (size_t) a.max_splits * (MMA_LKV + 2);
  store_o_partial<NT> (o, base, hstride, H, warp, lane);
  /* a head's sum over its 8 lanes; the max back from base 2 to the combine's base e */
#pragma unroll
  for (int j = 0; j < NT; j++)
#pragma unroll
    for (int e = 0; e < 2; e++) {
      l_run[j][e] += __shfl_xor_sync (0xffffffffu, l_run[j][e], 4);
      l_run[j][e] += __shfl_xor_sync (0xffffffffu, l_run[j][e], 8);
      l_run[j][e] += __shfl_xor_sync (0xffffffffu, l_run[j][e], 16);
    }
  if (warp == 0 && g == 0)
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        int h = 8 * j + c2 + e;
        if (h < H) {
          float m = m_run[j][e];
          base[h * hstride + MMA_LKV] = m == -FLT_MAX ? m : m * MMA_LN2;
          base[h * hstride + MMA_LKV + 1] = l_run[j][e];
        }
      }
}

/* ---- launchers ---- */

static int
mma_stages (int H)
{
  size_t optin = gk_device_smem_optin ();
  if (MMA_SMEM (H, 3) <= optin)
    return 3;
  if (MMA_SMEM (H, 2) <= optin)
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

/* ---- v2 launchers ---- */

/* the v2 kernel for H heads: groups and stages as many as fit in shared memory (2 x 3 on the
 * H100/H200, 2 x 2 on the A100, 1 x 2 on the RTX 30xx/40xx); NULL if none fits */
static const void *
mma2_kernel (int H, int *groups, int *stages, size_t *smem)
{
  size_t optin = gk_device_smem_optin ();
  if (H < 1 || H > MMA_HMAX || optin == 0)
    return NULL;
  int nt = GK_CEIL_DIV (H, 8);
  static const int shapes[][2] = { { 2, 3 }, { 2, 2 }, { 1, 2 } };
  for (int i = 0; i < 3; i++) {
    int G = shapes[i][0], S = shapes[i][1];
    size_t bytes = MMA2_SMEM (H, G, S, nt);
    if (bytes > optin)
      continue;
    *groups = G;
    *stages = S;
    *smem = bytes;
#define PICK(G_, S_)                                                                       \
    if (G == G_ && S == S_)                                                                \
      return nt == 1 ? (const void *) mla_decode_mma2_kernel<G_, S_, 1>                   \
           : nt == 2 ? (const void *) mla_decode_mma2_kernel<G_, S_, 2>                   \
                     : (const void *) mla_decode_mma2_kernel<G_, S_, 3>;
    PICK (2, 3) PICK (2, 2) PICK (1, 2)
#undef PICK
  }
  return NULL;
}

extern "C" int
gk_mla_decode_mma2_supported (const GkMlaDecodeArgs *a)
{
  int groups, stages;
  size_t smem;
  return a->Lkv == MMA_LKV && a->R == MMA_C - MMA_LKV && a->H >= 1 && a->H <= MMA_HMAX &&
         a->n_qparts >= 1 && a->n_qparts <= MMA_MAX_QPARTS && a->max_splits >= 1 &&
         a->q_mma != NULL && ((uintptr_t) a->q_mma & 15) == 0 &&
         ((uintptr_t) a->q_lat & 15) == 0 && mma2_kernel (a->H, &groups, &stages, &smem) != NULL;
}

extern "C" int
gk_mla_decode_split_target (int H)
{
  int wg = gk_mla_decode_wgmma_split_target (H);
  if (wg > 0)
    return wg;
  int groups, stages, n_sm = gk_device_sms (0), per_sm = 0;
  size_t smem;
  const void *k = mma2_kernel (H, &groups, &stages, &smem);
  if (k == NULL || n_sm == 0 ||
      cudaFuncSetAttribute (k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem) !=
          cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor (&per_sm, k, groups * MMA2_GROUP, smem) !=
          cudaSuccess)
    return 0;
  return n_sm * per_sm * groups;
}

/* the query prepared (q_mma), then the splits' partials by the v2 kernel or, a->kernel
 * GK_MLA_WGMMA, by mla-wgmma.cu's; a token the simple kernel takes is skipped by both
 * (a.kernel, a.mma_min_keys as resolved by gk_mla_decode) */
extern "C" cudaError_t
gk_mla_decode_mma2_splits (const GkMlaDecodeArgs *a, cudaStream_t stream)
{
  int groups, stages;
  size_t smem;
  const void *k = NULL;
  const bool wg = a->kernel == GK_MLA_WGMMA;
  if (wg ? !gk_mla_decode_wgmma_supported (a)
         : !gk_mla_decode_mma2_supported (a) ||
               (k = mma2_kernel (a->H, &groups, &stages, &smem)) == NULL)
    return cudaErrorInvalidValue;
  GkMlaDecodeArgs args = *a;
  args.kernel = wg ? GK_MLA_WGMMA : GK_MLA_MMA;  /* the split rule the combine uses */
  if (!a->q_ready)
    mla_q_prep_kernel<<<dim3 (a->H, a->T), 128, 0, stream>>> (args);
  cudaError_t e = gk_check_launch ();
  if (e != cudaSuccess || wg)
    return e != cudaSuccess ? e : gk_mla_decode_wgmma_splits (&args, stream);
  e = cudaFuncSetAttribute (k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  void *params[] = { &args };
  e = cudaLaunchKernel (k, dim3 (GK_CEIL_DIV (a->max_splits, groups), a->T),
                        dim3 (groups * MMA2_GROUP), params, smem, stream);
  return e != cudaSuccess ? e : gk_check_launch ();
}
