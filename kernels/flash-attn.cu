/* flash-attn.cu: causal flash attention for the prefill, the non-absorbed ("compute-friendly")
 * form of MLA: per head, Q [T, Dn + R] against K = [Kn (per head) | Kpe (shared by the heads)]
 * and V [keys, Dv], with the scores never leaving the registers.
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90 (mma.sync m16n8k16 bf16 -> f32, ldmatrix, cp.async: no
 * Hopper-only instructions). CPU reference: engine/cpu/cpu-attention.c (the absorbed form of
 * the same math); float64 reference in tests/test-cuda-flash.c.
 *
 * FlashAttention-2's shape on mma.sync: grid (query tiles of 64, heads), 4 warps, a warp owns
 * 16 query rows. Per tile of 32 keys (cp.async, double-buffered where shared memory allows):
 *   S [16, 32] = Q [16, P] . K^T          (P = head dims padded to 64, 128 or 256, zero tails)
 *   online softmax per row, float32, base 2 (log2 e folded into Q with the scale)
 *   O [16, P] = O * corr + P . V           (P straight from the S registers: no shared memory)
 * Q and P are split into bf16 hi + lo parts (two products each), so scores and weights carry
 * about 16 significant bits; K and V are bf16 and exact operands. `bf16` args select one
 * product each (measuring what the split costs). Key tiles past a tile's last query are
 * skipped (causal: about half the work), the diagonal ones masked.
 * Keys come in blocks, one launch each: between launches the unnormalised output stays in o and
 * the running max and sum in m, l; the last launch divides. */
#include <float.h>
#include <math.h>

#include "common.cuh"

#define FA_THREADS 128          /* 4 warps */
#define FA_BM 64                /* queries per CTA: 16 per warp */
#define FA_BN 32                /* keys per tile */
#define FA_LOG2E 1.4426950408889634f

/* shared memory in bytes: Q (hi, and lo when split) and `stages` K + V tiles, rows of P + 8
 * bf16 (the 16-byte skew keeps ldmatrix free of bank conflicts) */
static size_t
fa_smem (int P, bool split, int stages)
{
  size_t row = (size_t) (P + 8) * 2;
  return (size_t) (split ? 2 : 1) * FA_BM * row + (size_t) stages * 2 * FA_BN * row;
}

/* two floats -> packed bf16 pair (x0 in the low half), and the pair of what they leave over */
__device__ __forceinline__ void
fa_split2 (float x0, float x1, uint32_t &hi, uint32_t &lo)
{
  uint16_t h0 = gk_to_bf16 (x0), h1 = gk_to_bf16 (x1);
  hi = (uint32_t) h0 | ((uint32_t) h1 << 16);
  lo = (uint32_t) gk_to_bf16 (x0 - gk_bf16 (h0)) | ((uint32_t) gk_to_bf16 (x1 - gk_bf16 (h1)) << 16);
}

/* ---- kernels ---- */

/* grid (ceil(T / FA_BM), H), FA_THREADS threads, fa_smem (P, SPLIT, stages) bytes.
 * vec: every K/V/Kpe row segment is 16-byte aligned (cp.async); else element loads. */
template <int P, bool SPLIT>
__global__ void __launch_bounds__ (FA_THREADS, 1)
flash_attn_kernel (GkFlashAttnArgs a, int stages, int vec)
{
  constexpr int ROW = P + 8;
  constexpr int NT = P / 8;             /* output n-tiles of 8 columns */
  constexpr int KS = P / 16;            /* k-steps over the qk dims */
  constexpr int CH = P / 8;             /* 16-byte chunks per row */
  extern __shared__ __align__ (16) unsigned char smem[];
  uint16_t *qhi = (uint16_t *) smem;                                 /* [BM][ROW] */
  uint16_t *qlo = qhi + (SPLIT ? FA_BM * ROW : 0);                   /* [BM][ROW] when split */
  uint16_t *kv = qhi + (size_t) (SPLIT ? 2 : 1) * FA_BM * ROW;       /* [stages][K, V][BN][ROW] */

  const int qt = gridDim.x - 1 - blockIdx.x;         /* the longest (last) query tiles first */
  const int h = blockIdx.y, i0 = qt * FA_BM;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, c2 = (lane & 3) * 2;
  const int Dn = a.Dn, Dqk = a.Dn + a.R, Dv = a.Dv;
  const int key_lim = a.k0 + a.nk;                   /* this launch's keys end here */
  /* keys any query of this tile sees, in this launch */
  const int k_end = min (key_lim, a.p0 + min (i0 + FA_BM, a.T));
  const int n_tiles = k_end > a.k0 ? GK_CEIL_DIV (k_end - a.k0, FA_BN) : 0;

  auto load_kv = [&](int tile, int stage) {
    uint16_t *ks = kv + (size_t) stage * 2 * FA_BN * ROW;
    int j0 = tile * FA_BN;
    for (int idx = tid; idx < 2 * FA_BN * CH; idx += FA_THREADS) {
      bool isv = idx >= FA_BN * CH;
      int r = (idx % (FA_BN * CH)) / CH, d0 = (idx % CH) * 8, j = j0 + r;
      bool live = a.k0 + j < k_end;
      uint16_t *dst = ks + (size_t) (isv ? FA_BN : 0) * ROW + (size_t) r * ROW + d0;
      const uint16_t *vrow = a.v + (size_t) j * a.ldkv + (size_t) h * a.hkv;
      const uint16_t *knrow = a.kn + (size_t) j * a.ldkv + (size_t) h * a.hkv;
      const uint16_t *perow = a.kpe + (size_t) j * a.ldpe - Dn;
      if (vec) {
        /* Dn, R, Dv are multiples of 8: a chunk lies in one source, or in the zero tail */
        const uint16_t *src = NULL;
        if (live)
          src = isv ? (d0 < Dv ? vrow + d0 : NULL)
                    : (d0 < Dn ? knrow + d0 : d0 < Dqk ? perow + d0 : NULL);
        cp_async16 (dst, src != NULL ? src : a.kpe, src != NULL);
      } else {
        for (int e = 0; e < 8; e++) {
          int d = d0 + e;
          uint16_t x = 0;
          if (live)
            x = isv ? (d < Dv ? vrow[d] : 0) : (d < Dn ? knrow[d] : d < Dqk ? perow[d] : 0);
          dst[e] = x;
        }
      }
    }
  };

  if (n_tiles > 0)
    load_kv (0, 0);
  cp_async_commit ();

  /* Q * scale * log2 e as bf16 hi (+ lo), zero past T and past Dqk */
  const float qs = a.scale * FA_LOG2E;
  for (int idx = tid; idx < FA_BM * P; idx += FA_THREADS) {
    int r = idx / P, d = idx % P, i = i0 + r;
    float x = 0.0f;
    if (i < a.T && d < Dqk)
      x = a.q[(size_t) i * a.ldq + (size_t) h * Dqk + d] * qs;
    uint16_t hi = gk_to_bf16 (x);
    qhi[r * ROW + d] = hi;
    if (SPLIT)
      qlo[r * ROW + d] = gk_to_bf16 (x - gk_bf16 (hi));
  }

  /* the state of rows row0 and row0 + 8 (this thread's accumulator rows) */
  const int row0 = i0 + warp * 16 + g;
  float o[NT][4], m_r[2], l_r[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    int i = row0 + 8 * r;
    bool in = !a.first && i < a.T;
    m_r[r] = in ? a.m[(size_t) i * a.H + h] : -INFINITY;
    l_r[r] = in && (lane & 3) == 0 ? a.l[(size_t) i * a.H + h] : 0.0f;   /* one lane per row */
  }
  float *orow = a.o + (size_t) a.o_lead + (size_t) h * Dv;
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      int i = row0 + (e >> 1) * 8, d = nt * 8 + c2 + (e & 1);
      o[nt][e] = !a.first && i < a.T && d < Dv ? orow[(size_t) i * a.ldo + d] : 0.0f;
    }

  const int qpos0 = a.p0 + row0;                     /* absolute positions of the two rows */
  for (int t = 0; t < n_tiles; t++) {
    int st = 0;
    if (stages == 2) {
      st = t & 1;
      if (t + 1 < n_tiles)
        load_kv (t + 1, (t + 1) & 1);
      cp_async_commit ();
      cp_async_wait<1> ();
    } else {
      cp_async_wait<0> ();
    }
    __syncthreads ();                                /* tile t (and Q) landed */
    const uint16_t *Ks = kv + (size_t) st * 2 * FA_BN * ROW;
    const uint16_t *Vs = Ks + (size_t) FA_BN * ROW;

    /* S = Q . K^T: 4 n-tiles of 8 keys */
    float s[4][4];
#pragma unroll
    for (int j = 0; j < 4; j++)
      s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < KS; ks++) {
      if (ks * 16 >= Dqk)
        break;
      int arow = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, acol = ks * 16 + (lane >> 4) * 8;
      uint32_t ah[4], al[4];
      ldsm_x4 (ah[0], ah[1], ah[2], ah[3], qhi + arow * ROW + acol);
      if (SPLIT)
        ldsm_x4 (al[0], al[1], al[2], al[3], qlo + arow * ROW + acol);
#pragma unroll
      for (int np = 0; np < 2; np++) {
        int n = np * 16 + (lane & 7) + (lane >> 4) * 8, k = ks * 16 + ((lane >> 3) & 1) * 8;
        uint32_t b0, b1, b2, b3;
        ldsm_x4 (b0, b1, b2, b3, Ks + n * ROW + k);
        gk_mma_bf16 (s[2 * np], ah[0], ah[1], ah[2], ah[3], b0, b1);
        gk_mma_bf16 (s[2 * np + 1], ah[0], ah[1], ah[2], ah[3], b2, b3);
        if (SPLIT) {
          gk_mma_bf16 (s[2 * np], al[0], al[1], al[2], al[3], b0, b1);
          gk_mma_bf16 (s[2 * np + 1], al[0], al[1], al[2], al[3], b2, b3);
        }
      }
    }

    /* causal mask (and the launch's key limit), then the online softmax of both rows */
    int kbase = a.k0 + t * FA_BN;
    float mx[2] = { -INFINITY, -INFINITY };
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int key = kbase + j * 8 + c2 + (e & 1), qpos = qpos0 + (e >> 1) * 8;
        if (key > qpos || key >= key_lim)
          s[j][e] = -INFINITY;
        mx[e >> 1] = fmaxf (mx[e >> 1], s[j][e]);
      }
    float m_use[2], corr[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      mx[r] = fmaxf (mx[r], __shfl_xor_sync (0xffffffffu, mx[r], 1));
      mx[r] = fmaxf (mx[r], __shfl_xor_sync (0xffffffffu, mx[r], 2));
      float m_new = fmaxf (m_r[r], mx[r]);
      m_use[r] = m_new == -INFINITY ? 0.0f : m_new;      /* no key yet: keep 0 * anything */
      corr[r] = exp2f (m_r[r] - m_use[r]);
      m_r[r] = m_new;
      l_r[r] *= corr[r];
    }
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        float p = exp2f (s[j][e] - m_use[e >> 1]);
        s[j][e] = p;
        l_r[e >> 1] += p;
      }
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
      o[nt][0] *= corr[0];
      o[nt][1] *= corr[0];
      o[nt][2] *= corr[1];
      o[nt][3] *= corr[1];
    }

    /* O += P . V: two k-steps of 16 keys, P's A fragments straight from S's accumulators */
#pragma unroll
    for (int kk = 0; kk < 2; kk++) {
      uint32_t ph[4], pl[4];
#pragma unroll
      for (int q = 0; q < 4; q++) {
        int j = 2 * kk + (q >> 1), e0 = (q & 1) * 2;
        fa_split2 (s[j][e0], s[j][e0 + 1], ph[q], pl[q]);
      }
#pragma unroll
      for (int np = 0; np < NT / 2; np++) {
        if (np * 16 >= Dv)
          break;
        int key = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, col = np * 16 + (lane >> 4) * 8;
        uint32_t b0, b1, b2, b3;
        ldsm_x4_trans (b0, b1, b2, b3, Vs + key * ROW + col);
        gk_mma_bf16 (o[2 * np], ph[0], ph[1], ph[2], ph[3], b0, b1);
        gk_mma_bf16 (o[2 * np + 1], ph[0], ph[1], ph[2], ph[3], b2, b3);
        if (SPLIT) {
          gk_mma_bf16 (o[2 * np], pl[0], pl[1], pl[2], pl[3], b0, b1);
          gk_mma_bf16 (o[2 * np + 1], pl[0], pl[1], pl[2], pl[3], b2, b3);
        }
      }
    }
    __syncthreads ();                                /* every warp is done with this stage */
    if (stages == 1 && t + 1 < n_tiles) {
      load_kv (t + 1, 0);
      cp_async_commit ();
    }
  }
  cp_async_wait<0> ();

  /* the rows' sums over the 4 lanes that share them; the state out, or o normalised */
  float l_full[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    float v = l_r[r];
    v += __shfl_xor_sync (0xffffffffu, v, 1);
    v += __shfl_xor_sync (0xffffffffu, v, 2);
    l_full[r] = v;
  }
  float inv[2] = { 1.0f, 1.0f };
  if (a.last)
    for (int r = 0; r < 2; r++)
      inv[r] = l_full[r] > 0.0f ? 1.0f / l_full[r] : 0.0f;
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      int i = row0 + (e >> 1) * 8, d = nt * 8 + c2 + (e & 1);
      if (i < a.T && d < Dv)
        orow[(size_t) i * a.ldo + d] = o[nt][e] * inv[e >> 1];
    }
  if (!a.last && (lane & 3) == 0)
    for (int r = 0; r < 2; r++) {
      int i = row0 + 8 * r;
      if (i < a.T) {
        a.m[(size_t) i * a.H + h] = m_r[r];
        a.l[(size_t) i * a.H + h] = l_full[r];
      }
    }
}

/* ---- launchers ---- */

/* the padded head dim a dim runs at (0: too wide) */
static int
fa_pad (int d)
{
  return d <= 0 ? 0 : d <= 64 ? 64 : d <= 128 ? 128 : d <= GK_FLASH_MAX_DIM ? 256 : 0;
}

/* 2 (double-buffered K/V), 1, or 0 where even one stage does not fit the device */
static int
fa_stages (int P, bool split)
{
  int dev = 0, optin = 0;
  if (cudaGetDevice (&dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
    return 0;
  if (fa_smem (P, split, 2) <= (size_t) optin)
    return 2;
  if (fa_smem (P, split, 1) <= (size_t) optin)
    return 1;
  return 0;
}

extern "C" int
gk_flash_attn_supported (int Dqk, int Dv, int bf16)
{
  int P = max (fa_pad (Dqk), fa_pad (Dv));
  return fa_pad (Dqk) > 0 && fa_pad (Dv) > 0 && fa_stages (P, !bf16) > 0;
}

template <int P, bool SPLIT>
static cudaError_t
fa_launch (const GkFlashAttnArgs *a, int vec, cudaStream_t stream)
{
  int stages = a->stages == 1 ? min (1, fa_stages (P, SPLIT)) : fa_stages (P, SPLIT);
  if (stages == 0)
    return cudaErrorInvalidValue;
  size_t smem = fa_smem (P, SPLIT, stages);
  cudaError_t e = cudaFuncSetAttribute (flash_attn_kernel<P, SPLIT>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  dim3 grid (GK_CEIL_DIV (a->T, FA_BM), a->H);
  flash_attn_kernel<P, SPLIT><<<grid, FA_THREADS, smem, stream>>> (*a, stages, vec);
  return gk_check_launch ();
}

static bool
fa_aligned (const void *p)
{
  return ((uintptr_t) p & 15) == 0;
}

extern "C" cudaError_t
gk_flash_attn (const GkFlashAttnArgs *a, cudaStream_t stream)
{
  int Dqk = a->Dn + a->R;
  if (a->T <= 0 || a->H <= 0 || a->Dn < 0 || a->R < 0 || a->k0 < 0 || a->nk < 0 ||
      a->k0 + a->nk > a->p0 + a->T || !gk_flash_attn_supported (Dqk, a->Dv, a->bf16))
    return cudaErrorInvalidValue;
  int vec = a->Dn % 8 == 0 && a->R % 8 == 0 && a->Dv % 8 == 0 && a->ldkv % 8 == 0 &&
            a->hkv % 8 == 0 && a->ldpe % 8 == 0 && fa_aligned (a->kn) && fa_aligned (a->v) &&
            fa_aligned (a->kpe);
  int P = max (fa_pad (Dqk), fa_pad (a->Dv));
  bool split = !a->bf16;
  switch (P) {
  case 64:
    return split ? fa_launch<64, true> (a, vec, stream) : fa_launch<64, false> (a, vec, stream);
  case 128:
    return split ? fa_launch<128, true> (a, vec, stream) : fa_launch<128, false> (a, vec, stream);
  default:
    return split ? fa_launch<256, true> (a, vec, stream) : fa_launch<256, false> (a, vec, stream);
  }
}
