/* flash-attn.cu: causal flash attention for the prefill, the non-absorbed ("compute-friendly")
 * form of MLA: per head, Q [T, Dn + R] against K = [Kn (per head) | Kpe (shared by the heads)]
 * and V [keys, Dv], with the scores never leaving the registers.
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90 (mma.sync m16n8k16 bf16 -> f32, ldmatrix, cp.async: no
 * Hopper-only instructions). CPU reference: engine/cpu/cpu-attention.c (the absorbed form of
 * the same math); float64 reference in tests/test-cuda-flash.c.
 *
 * FlashAttention-2's shape on mma.sync: a CTA takes BM queries of one head (BM 128 with 8 warps
 * where shared memory allows, sm_90 and sm_80 mostly; else 64 with 4 warps), a warp owns 16
 * query rows. Grid (heads, query tiles), the longest (last) query tiles first for every head, so
 * the last wave is short. Per tile of 32 keys (cp.async, double-buffered where shared memory
 * allows):
 *   S [16, 32] = Q [16, P] . K^T          (P = head dims padded to 64, 128 or 256, zero tails)
 *   online softmax per row, float32, base 2 (log2 e folded into Q with the scale)
 *   O [16, P] = O * corr + P . V           (P straight from the S registers: no shared memory)
 * Q and P are split into bf16 hi + lo parts (two products each), so scores and weights carry
 * about 16 significant bits; K and V are bf16 and exact operands. `bf16` args select one
 * product each (measuring what the split costs); Q.K's hi and lo products go to separate
 * accumulators (two independent mma chains). Key tiles past a CTA's last query are not loaded,
 * those past a warp's last query not computed (causal: about half the work); only the diagonal
 * tiles (and the launch's last) are masked.
 * Keys come in blocks, one launch each: between launches the unnormalised output stays in o and
 * the running max and sum in m, l; the last launch divides. */
#include <float.h>
#include <math.h>

#include "common.cuh"

#define FA_BN 32                /* keys per tile; queries per CTA (BM, 16 per warp) are a
                                 * template argument: 128 or 64 */
#define FA_LOG2E 1.4426950408889634f

/* shared memory in bytes: BM rows of Q (hi, and lo when split) and `stages` K + V tiles, rows
 * of P + 8 bf16 (the 16-byte skew keeps ldmatrix free of bank conflicts) */
static size_t
fa_smem (int P, bool split, int bm, int stages)
{
  size_t row = (size_t) (P + 8) * 2;
  return (size_t) (split ? 2 : 1) * bm * row + (size_t) stages * 2 * FA_BN * row;
}

/* d0 += A . (b0, b1) and d1 += A . (b2, b3): the two n-tiles of one ldmatrix x4 of B */
__device__ __forceinline__ void
fa_mma2 (float (&d0)[4], float (&d1)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
         uint32_t b2, uint32_t b3)
{
  gk_mma_bf16 (d0, a[0], a[1], a[2], a[3], b0, b1);
  gk_mma_bf16 (d1, a[0], a[1], a[2], a[3], b2, b3);
}

/* ---- kernels ---- */

/* grid (H, ceil(T / BM)), 2 * BM threads, fa_smem (P, SPLIT, BM, stages) bytes.
 * vec: every K/V/Kpe row segment is 16-byte aligned (cp.async); else element loads.
 * FULL: Dn + R == Dv == P, so the mma loops run to compile-time bounds. Their runtime bounds
 * otherwise cut the loops into small blocks the compiler cannot interleave: every ldmatrix's
 * latency before its mma exposed, and NOPs between (ncu: 5.9 instructions per mma, the tensor
 * pipe 33% busy). */
template <int P, bool SPLIT, int BM, bool FULL>
__global__ void __launch_bounds__ (2 * BM, 1)
flash_attn_kernel (GkFlashAttnArgs a, int stages, int vec)
{
  constexpr int THREADS = 2 * BM;       /* BM / 16 warps */
  constexpr int ROW = P + 8;
  constexpr int NT = P / 8;             /* output n-tiles of 8 columns */
  constexpr int KS = P / 16;            /* k-steps over the qk dims */
  constexpr int CH = P / 8;             /* 16-byte chunks per row */
  extern __shared__ __align__ (16) unsigned char smem[];
  uint16_t *qhi = (uint16_t *) smem;                                 /* [BM][ROW] */
  uint16_t *qlo = qhi + (SPLIT ? BM * ROW : 0);                      /* [BM][ROW] when split */
  uint16_t *kv = qhi + (size_t) (SPLIT ? 2 : 1) * BM * ROW;          /* [stages][K, V][BN][ROW] */

  const int qt = gridDim.y - 1 - blockIdx.y;         /* the longest (last) query tiles first */
  const int h = blockIdx.x, i0 = qt * BM;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, c2 = (lane & 3) * 2;
  const int Dn = a.Dn, Dqk = FULL ? P : a.Dn + a.R, Dv = FULL ? P : a.Dv;
  const int key_lim = a.k0 + a.nk;                   /* this launch's keys end here */
  /* keys any query of this tile sees, in this launch */
  const int k_end = min (key_lim, a.p0 + min (i0 + BM, a.T));
  const int n_tiles = k_end > a.k0 ? GK_CEIL_DIV (k_end - a.k0, FA_BN) : 0;

  auto load_kv = [&](int tile, int stage) {
    uint16_t *ks = kv + (size_t) stage * 2 * FA_BN * ROW;
    int j0 = tile * FA_BN;
    for (int idx = tid; idx < 2 * FA_BN * CH; idx += THREADS) {
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
  for (int idx = tid; idx < BM * P; idx += THREADS) {
    int r = idx / P, d = idx % P, i = i0 + r;
    float x = 0.0f;
    if (i < a.T && d < Dqk)
      x = a.q[(size_t) i * a.ldq + (size_t) h * Dqk + d] * qs;
    uint16_t hi, lo;
    gk_bf16_hilo (x, hi, lo);
    qhi[r * ROW + d] = hi;
    if (SPLIT)
      qlo[r * ROW + d] = lo;
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
  /* this warp's 16 rows: absolute positions wfirst .. wlast; rows past T compute nothing */
  const int wfirst = a.p0 + i0 + warp * 16, wlast = wfirst + 15;
  const bool wlive = i0 + warp * 16 < a.T;
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
    const int kbase = a.k0 + t * FA_BN;

    /* a tile wholly past this warp's rows leaves their state as it is (every score -inf):
     * skipped, warp-uniform, the barriers still shared with the other warps */
    if (wlive && kbase <= wlast) {
      /* S = Q . K^T: 4 n-tiles of 8 keys; Qhi.K and Qlo.K in separate accumulators */
      float s[4][4], sl[4][4];
#pragma unroll
      for (int j = 0; j < 4; j++)
#pragma unroll
        for (int e = 0; e < 4; e++)
          s[j][e] = sl[j][e] = 0.0f;
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
          fa_mma2 (s[2 * np], s[2 * np + 1], ah, b0, b1, b2, b3);
          if (SPLIT)
            fa_mma2 (sl[2 * np], sl[2 * np + 1], al, b0, b1, b2, b3);
        }
      }
      if (SPLIT)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
          for (int e = 0; e < 4; e++)
            s[j][e] += sl[j][e];

      /* causal mask (and the launch's key limit) where the tile reaches past this warp's first
       * row or the launch's keys, then the online softmax of both rows */
      const bool mask = kbase + FA_BN - 1 > wfirst || kbase + FA_BN > key_lim;
      float mx[2] = { -INFINITY, -INFINITY };
#pragma unroll
      for (int j = 0; j < 4; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          int key = kbase + j * 8 + c2 + (e & 1), qpos = qpos0 + (e >> 1) * 8;
          if (mask && (key > qpos || key >= key_lim))
            s[j][e] = -INFINITY;
          mx[e >> 1] = fmaxf (mx[e >> 1], s[j][e]);
        }
      /* a row's running max moves only when a key beats it, after the first tiles rarely: one
       * vote asks whether any of the warp's rows' does; if none, every correction is 1 (exactly
       * what the update would compute) and O is not rescaled */
      const bool grow = __any_sync (0xffffffffu, mx[0] > m_r[0] || mx[1] > m_r[1]);
      float m_use[2], corr[2] = { 1.0f, 1.0f };
#pragma unroll
      for (int r = 0; r < 2; r++) {
        if (grow) {
          mx[r] = fmaxf (mx[r], __shfl_xor_sync (0xffffffffu, mx[r], 1));
          mx[r] = fmaxf (mx[r], __shfl_xor_sync (0xffffffffu, mx[r], 2));
          float m_new = fmaxf (m_r[r], mx[r]);
          m_use[r] = m_new == -INFINITY ? 0.0f : m_new;  /* no key yet: keep 0 * anything */
          corr[r] = exp2f (m_r[r] - m_use[r]);
          m_r[r] = m_new;
          l_r[r] *= corr[r];
        } else {
          m_use[r] = m_r[r] == -INFINITY ? 0.0f : m_r[r];
        }
      }
#pragma unroll
      for (int j = 0; j < 4; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          float p = exp2f (s[j][e] - m_use[e >> 1]);
          s[j][e] = p;
          l_r[e >> 1] += p;
        }
      if (grow)
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
          gk_bf16x2_hilo (s[j][e0], s[j][e0 + 1], ph[q], pl[q]);
        }
#pragma unroll
        for (int np = 0; np < NT / 2; np++) {
          if (np * 16 >= Dv)
            break;
          int key = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, col = np * 16 + (lane >> 4) * 8;
          uint32_t b0, b1, b2, b3;
          ldsm_x4_trans (b0, b1, b2, b3, Vs + key * ROW + col);
          fa_mma2 (o[2 * np], o[2 * np + 1], ph, b0, b1, b2, b3);
          if (SPLIT)
            fa_mma2 (o[2 * np], o[2 * np + 1], pl, b0, b1, b2, b3);
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

/* The CTA shape for the padded dim P on the current device: *bm queries (128 or 64) and *stages
 * K/V tiles in flight (2 or 1), the first that fits the device's shared memory of (128, 2),
 * (64, 2), (128, 1), (64, 1); want_bm (64 or 128) and want_stages (1) restrict the choice, 0
 * leaves it free. FALSE where none fits. */
static bool
fa_config (int P, bool split, int want_bm, int want_stages, int *bm, int *stages)
{
  static const int shapes[4][2] = { { 128, 2 }, { 64, 2 }, { 128, 1 }, { 64, 1 } };
  int dev = 0, optin = 0;
  if (cudaGetDevice (&dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
    return false;
  for (int i = 0; i < 4; i++) {
    int b = shapes[i][0], st = shapes[i][1];
    if ((want_bm != 0 && b != want_bm) || (want_stages == 1 && st != 1))
      continue;
    if (fa_smem (P, split, b, st) <= (size_t) optin) {
      *bm = b;
      *stages = st;
      return true;
    }
  }
  return false;
}

extern "C" int
gk_flash_attn_supported (int Dqk, int Dv, int bf16)
{
  int P = max (fa_pad (Dqk), fa_pad (Dv)), bm = 0, stages = 0;
  return fa_pad (Dqk) > 0 && fa_pad (Dv) > 0 && fa_config (P, !bf16, 0, 0, &bm, &stages);
}

extern "C" int
gk_flash_attn_shape (const GkFlashAttnArgs *a, int *bm, int *stages)
{
  int Dqk = a->Dn + a->R, P = max (fa_pad (Dqk), fa_pad (a->Dv));
  if (fa_pad (Dqk) == 0 || fa_pad (a->Dv) == 0 || (a->bm != 0 && a->bm != 64 && a->bm != 128))
    return 0;
  return fa_config (P, !a->bf16, a->bm, a->stages, bm, stages);
}

template <int P, bool SPLIT, int BM, bool FULL>
static cudaError_t
fa_launch (const GkFlashAttnArgs *a, int stages, int vec, cudaStream_t stream)
{
  size_t smem = fa_smem (P, SPLIT, BM, stages);
  cudaError_t e = cudaFuncSetAttribute (flash_attn_kernel<P, SPLIT, BM, FULL>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  dim3 grid (a->H, GK_CEIL_DIV (a->T, BM));
  flash_attn_kernel<P, SPLIT, BM, FULL><<<grid, 2 * BM, smem, stream>>> (*a, stages, vec);
  return gk_check_launch ();
}

template <int P, bool SPLIT>
static cudaError_t
fa_launch_bm (const GkFlashAttnArgs *a, int bm, int stages, int vec, cudaStream_t stream)
{
  bool full = a->Dn + a->R == P && a->Dv == P;
  if (full)
    return bm == 128 ? fa_launch<P, SPLIT, 128, true> (a, stages, vec, stream)
                     : fa_launch<P, SPLIT, 64, true> (a, stages, vec, stream);
  return bm == 128 ? fa_launch<P, SPLIT, 128, false> (a, stages, vec, stream)
                   : fa_launch<P, SPLIT, 64, false> (a, stages, vec, stream);
}

static bool
fa_aligned (const void *p)
{
  return ((uintptr_t) p & 15) == 0;
}

extern "C" cudaError_t
gk_flash_attn (const GkFlashAttnArgs *a, cudaStream_t stream)
{
  int bm = 0, stages = 0;
  if (a->T <= 0 || a->H <= 0 || a->Dn < 0 || a->R < 0 || a->k0 < 0 || a->nk < 0 ||
      a->k0 + a->nk > a->p0 + a->T || GK_CEIL_DIV (a->T, 64) > 65535 ||
      !gk_flash_attn_shape (a, &bm, &stages))
    return cudaErrorInvalidValue;
  int vec = a->Dn % 8 == 0 && a->R % 8 == 0 && a->Dv % 8 == 0 && a->ldkv % 8 == 0 &&
            a->hkv % 8 == 0 && a->ldpe % 8 == 0 && fa_aligned (a->kn) && fa_aligned (a->v) &&
            fa_aligned (a->kpe);
  int P = max (fa_pad (a->Dn + a->R), fa_pad (a->Dv));
  bool split = !a->bf16;
  switch (P) {
  case 64:
    return split ? fa_launch_bm<64, true> (a, bm, stages, vec, stream)
                 : fa_launch_bm<64, false> (a, bm, stages, vec, stream);
  case 128:
    return split ? fa_launch_bm<128, true> (a, bm, stages, vec, stream)
                 : fa_launch_bm<128, false> (a, bm, stages, vec, stream);
  default:
    return split ? fa_launch_bm<256, true> (a, bm, stages, vec, stream)
                 : fa_launch_bm<256, false> (a, bm, stages, vec, stream);
  }
}
