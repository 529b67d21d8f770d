/* flash-attn.cu: causal flash attention for the prefill, the non-absorbed ("compute-friendly")
 * form of MLA: per head, Q [T, Dn + R] against K = [Kn (per head) | Kpe (shared by the heads)]
 * and V [keys, Dv], with the scores never leaving the registers.
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90 (mma.sync m16n8k16 f16 -> f32, ldmatrix, cp.async: no
 * Hopper-only instructions). CPU reference: engine/cpu/cpu-attention.c (the absorbed form of
 * the same math); float64 reference in tests/test-cuda-flash.c.
 *
 * FlashAttention-2's shape on mma.sync: a CTA takes BM queries of one head (BM 128 with 8 warps
 * where shared memory allows, sm_90 and sm_80 mostly; else 64 with 4 warps), a warp owns 16
 * query rows. Grid (heads, query tiles), the longest (last) query tiles first for every head, so
 * the last wave is short. Per tile of BN keys (64 where shared memory allows, else 32; cp.async,
 * double-buffered where shared memory allows):
 *   S [16, BN] = Q [16, P] . K^T          (P = head dims padded to 64, 128 or 256, zero tails)
 *   online softmax per row, float32, base 2 (log2 e folded into Q with the scale)
 *   O [16, P] = O * corr + P . V           (P straight from the S registers: no shared memory)
 * Operands: f16, one product each. Each is scaled by a power of two into f16's range first
 * (gk_f16_range_scale): Q per query row, here as it is staged from float32; K (Kn and Kpe) and V
 * per launch, before it: by gk_flash_kv_f16 from a float32 Kn|V and the bf16 latent cache, or
 * (an NVFP4 kv_b) by gk_flash_cache_f16 and an f16 GEMM, from a bound (gk.h GkFlashDirect). The
 * scales are undone in float32: on the scores before the softmax (one FMA with the exponent),
 * on O as it leaves. So every operand keeps 11 significant bits (P in [0, 1] too), a product's
 * rounding error is TF32's, and no magnitude the model produces overflows. Key tiles past a
 * CTA's last query are not loaded, those past a warp's last query not computed (causal: about
 * half the work); only the diagonal tiles (and the launch's last) are masked.
 * Keys come in blocks, one launch each: between launches the unnormalised output stays in o
 * (without V's scale) and the running max and sum in m, l; the last launch divides. */
#include "flash-common.cuh"

/* keys per tile (BN) and queries per CTA (BM, 16 per warp) are template arguments: BN 64 or 32,
 * BM 128 or 64 */

/* shared memory in bytes: BM rows of Q and `stages` K + V tiles of BN keys, rows of P + 8 f16
 * (the 16-byte skew keeps ldmatrix free of bank conflicts). For P 256: 101,376 bytes at
 * (64, 32, 2), exactly the 99 KB an sm_86 block may have. */
static size_t
fa_smem (int P, int bm, int bn, int stages)
{
  size_t row = (size_t) (P + 8) * 2;
  return (size_t) bm * row + (size_t) stages * 2 * bn * row;
}

/* d0 += A . (b0, b1) and d1 += A . (b2, b3): the two n-tiles of one ldmatrix x4 of B */
__device__ __forceinline__ void
fa_mma2 (float (&d0)[4], float (&d1)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
         uint32_t b2, uint32_t b3)
{
  gk_mma_f16 (d0, a[0], a[1], a[2], a[3], b0, b1);
  gk_mma_f16 (d1, a[0], a[1], a[2], a[3], b2, b3);
}

/* ---- K and V of a key block in f16 ---- */

/* |x| as ordered bits: atomicMax on them orders non-negative floats, NaN above infinity */
__device__ __forceinline__ unsigned
fa_abs_bits (float x)
{
  return __float_as_uint (x) & 0x7fffffffu;
}

/* grid (nk), one key per block: the largest |Kn| (every head) and |Kpe| into mx[0], |V| into
 * mx[1] */
__global__ void __launch_bounds__ (256)
flash_kv_max_kernel (unsigned *mx, GkFlashKvArgs a)
{
  __shared__ unsigned red[2];
  const int j = blockIdx.x, hkv = a.Dn + a.Dv;
  if (threadIdx.x < 2)
    red[threadIdx.x] = 0;
  __syncthreads ();
  unsigned mk = 0, mv = 0;
  const float *row = a.kv + (size_t) j * a.ldkv;
  for (int h = 0; h < a.H; h++)
    for (int d = threadIdx.x; d < hkv; d += blockDim.x) {
      unsigned b = fa_abs_bits (row[(size_t) h * a.hkv + d]);
      if (d < a.Dn)
        mk = max (mk, b);
      else
        mv = max (mv, b);
    }
  for (int d = threadIdx.x; d < a.R; d += blockDim.x)
    mk = max (mk, fa_abs_bits (gk_bf16 (a.pe[(size_t) j * a.ldpe + d])));
  atomicMax (&red[0], mk);
  atomicMax (&red[1], mv);
  __syncthreads ();
  if (threadIdx.x < 2)
    atomicMax (&mx[threadIdx.x], red[threadIdx.x]);
}

/* grid (nk): key j's Kn|V and Kpe scaled and rounded to f16 */
__global__ void __launch_bounds__ (256)
flash_kv_f16_kernel (uint16_t *knv, uint16_t *kpe, const unsigned *mx, GkFlashKvArgs a)
{
  const int j = blockIdx.x, hkv = a.Dn + a.Dv;
  const float sk = gk_f16_range_scale (__uint_as_float (mx[0]));
  const float sv = gk_f16_range_scale (__uint_as_float (mx[1]));
  const float *row = a.kv + (size_t) j * a.ldkv;
  uint16_t *out = knv + (size_t) j * a.ldkv;
  for (int h = 0; h < a.H; h++)
    for (int d = threadIdx.x; d < hkv; d += blockDim.x) {
      size_t at = (size_t) h * a.hkv + d;
      out[at] = __half_as_ushort (__float2half_rn (row[at] * (d < a.Dn ? sk : sv)));
    }
  for (int d = threadIdx.x; d < a.R; d += blockDim.x)
    kpe[(size_t) j * a.R + d] =
      __half_as_ushort (__float2half_rn (gk_bf16 (a.pe[(size_t) j * a.ldpe + d]) * sk));
}

/* ---- K and V of a key block straight from the cache (NVFP4 kv_b) ---- */

/* grid (ceil (rows / 8)), 256 threads: a warp a row, in f16, and the row's L1 norm into d->l1 */
__global__ void __launch_bounds__ (256)
flash_kvb_f16_kernel (uint16_t *dst, GkFlashDirect *d, GkMatrix w)
{
  const int row = blockIdx.x * 8 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= w.rows)
    return;
  const uint8_t *q = (const uint8_t *) w.data + (size_t) row * (w.cols / 2);
  const uint8_t *sc = w.scales + (size_t) row * (w.cols / 16);
  uint16_t *out = dst + (size_t) row * w.cols;
  float l1 = 0.0f;
  for (int b = lane; b < w.cols / 16; b += 32) {        /* a 16-element block a lane */
    float s = gk_fp8_e4m3 (sc[b]);
    for (int j = 0; j < 8; j++) {
      uint32_t byte = q[b * 8 + j];
      float lo = gk_e2m1 (byte & 0xfu) * s, hi = gk_e2m1 (byte >> 4) * s;
      out[b * 16 + 2 * j] = __half_as_ushort (__float2half_rn (lo));
      out[b * 16 + 2 * j + 1] = __half_as_ushort (__float2half_rn (hi));
      l1 += fabsf (lo) + fabsf (hi);
    }
  }
  l1 = gk_warp_sum<float> (l1);
  if (lane == 0)
    atomicMax (&d->l1, fa_abs_bits (l1));
}

/* grid (nk), 256 threads: the largest |latent| and |Kpe| of key j's cache row */
__global__ void __launch_bounds__ (256)
flash_cache_max_kernel (GkFlashDirect *d, const uint16_t *cache, int ldc, int Lkv, int R)
{
  const uint16_t *row = cache + (size_t) blockIdx.x * ldc;
  unsigned mc = 0, mp = 0;
  for (int i = threadIdx.x; i < Lkv + R; i += blockDim.x) {
    unsigned b = fa_abs_bits (gk_bf16 (row[i]));
    if (i < Lkv)
      mc = max (mc, b);
    else
      mp = max (mp, b);
  }
  mc = __reduce_max_sync (0xffffffffu, mc);
  mp = __reduce_max_sync (0xffffffffu, mp);
  if ((threadIdx.x & 31) == 0) {
    atomicMax (&d->c_max[0], mc);
    atomicMax (&d->c_max[1], mp);
  }
}

/* the latent's power of two and the K/V bound of gk_flash_cache_f16 */
__device__ __forceinline__ void
fa_direct_scales (const GkFlashDirect *d, float scale2, float &sc, float &bound)
{
  const float cmax = __uint_as_float (d->c_max[0]);
  sc = gk_f16_range_scale (cmax);
  bound = fmaxf (fabsf (scale2) * __uint_as_float (d->l1) * cmax, __uint_as_float (d->c_max[1]));
}

/* grid (nk), 256 threads: key j's latent times sc and Kpe times s in f16; block 0 publishes the
 * scales (every block computes the same ones) */
__global__ void __launch_bounds__ (256)
flash_cache_f16_kernel (uint16_t *c16, uint16_t *kpe, GkFlashDirect *d, const uint16_t *cache,
                        int ldc, int Lkv, int R, float scale2)
{
  float sc, bound;
  fa_direct_scales (d, scale2, sc, bound);
  const float s = gk_f16_range_scale (bound);
  const int j = blockIdx.x;
  const uint16_t *row = cache + (size_t) j * ldc;
  for (int i = threadIdx.x; i < Lkv; i += blockDim.x)
    c16[(size_t) j * Lkv + i] = __half_as_ushort (__float2half_rn (gk_bf16 (row[i]) * sc));
  for (int i = threadIdx.x; i < R; i += blockDim.x)
    kpe[(size_t) j * R + i] = __half_as_ushort (__float2half_rn (gk_bf16 (row[Lkv + i]) * s));
  if (j == 0 && threadIdx.x == 0) {
    d->kv_max[0] = d->kv_max[1] = __float_as_uint (bound);
    d->alpha = scale2 * (s / sc);                    /* exact: s and sc are powers of two */
    d->beta = 0.0f;
  }
}

extern "C" cudaError_t
gk_flash_kvb_f16 (uint16_t *dst, GkFlashDirect *d, const GkMatrix *kv_b, cudaStream_t stream)
{
  if (kv_b->format != GK_WEIGHT_NVFP4 || kv_b->cols % 16 != 0 || kv_b->rows <= 0)
    return cudaErrorInvalidValue;
  cudaError_t e = cudaMemsetAsync (&d->l1, 0, sizeof d->l1, stream);
  if (e != cudaSuccess)
    return e;
  flash_kvb_f16_kernel<<<GK_CEIL_DIV (kv_b->rows, 8), 256, 0, stream>>> (dst, d, *kv_b);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_flash_cache_f16 (uint16_t *c16, uint16_t *kpe, GkFlashDirect *d, const uint16_t *cache,
                    int ldc, int nk, int Lkv, int R, float scale2, cudaStream_t stream)
{
  if (nk <= 0)
    return cudaSuccess;
  if (Lkv <= 0 || R < 0 || ldc < Lkv + R)
    return cudaErrorInvalidValue;
  cudaError_t e = cudaMemsetAsync (d->c_max, 0, sizeof d->c_max, stream);
  if (e != cudaSuccess)
    return e;
  flash_cache_max_kernel<<<nk, 256, 0, stream>>> (d, cache, ldc, Lkv, R);
  if ((e = gk_check_launch ()) != cudaSuccess)
    return e;
  flash_cache_f16_kernel<<<nk, 256, 0, stream>>> (c16, kpe, d, cache, ldc, Lkv, R, scale2);
  return gk_check_launch ();
}

/* ---- attention ---- */

/* grid (H, ceil(T / BM)), 2 * BM threads, fa_smem (P, BM, BN, stages) bytes.
 * vec: every K/V/Kpe row segment is 16-byte aligned (cp.async); else element loads.
 * FULL: Dn + R == Dv == P, so the mma loops run to compile-time bounds. Their runtime bounds
 * otherwise cut the loops into small blocks the compiler cannot interleave: every ldmatrix's
 * latency before its mma exposed, and NOPs between (ncu: 5.9 instructions per mma, the tensor
 * pipe 33% busy). */
template <int P, int BM, int BN, bool FULL>
__global__ void __launch_bounds__ (2 * BM, 1)
flash_attn_kernel (GkFlashAttnArgs a, int stages, int vec)
{
  constexpr int THREADS = 2 * BM;       /* BM / 16 warps */
  constexpr int ROW = P + 8;
  constexpr int NT = P / 8;             /* output n-tiles of 8 columns */
  constexpr int KS = P / 16;            /* k-steps over the qk dims */
  constexpr int CH = P / 8;             /* 16-byte chunks per row */
  constexpr int SN = BN / 8;         /* score n-tiles of 8 keys */
  extern __shared__ __align__ (16) unsigned char smem[];
  uint16_t *qs = (uint16_t *) smem;                                  /* [BM][ROW] */
  uint16_t *kv = qs + BM * ROW;                                      /* [stages][K, V][BN][ROW] */

  const int qt = gridDim.y - 1 - blockIdx.y;         /* the longest (last) query tiles first */
  const int h = blockIdx.x, i0 = qt * BM;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2;
  const int Dn = a.Dn, Dqk = FULL ? P : a.Dn + a.R, Dv = FULL ? P : a.Dv;
  const int key_lim = a.k0 + a.nk;                   /* this launch's keys end here */
  /* keys any query of this tile sees, in this launch */
  const int k_end = min (key_lim, a.p0 + min (i0 + BM, a.T));
  const int n_tiles = k_end > a.k0 ? GK_CEIL_DIV (k_end - a.k0, BN) : 0;

  /* a tile's K rows then V rows, in 16-byte chunks (not unrolled: the registers go to O) */
  auto load_kv = [&](int tile, int stage) {
    uint16_t *ks = kv + (size_t) stage * 2 * BN * ROW;
    const int j0 = tile * BN;
#pragma unroll 1
    for (int idx = tid; idx < 2 * BN * CH; idx += THREADS) {
      const bool isv = idx >= BN * CH;
      const int r = (idx % (BN * CH)) / CH, d0 = (idx % CH) * 8, j = j0 + r;
      const bool live = a.k0 + j < k_end;
      uint16_t *dst = ks + (size_t) (isv ? BN : 0) * ROW + (size_t) r * ROW + d0;
      if (vec) {
        /* Dn, R, Dv are multiples of 8: a chunk lies in one source, or in the zero tail */
        const uint16_t *src = fa_kv_chunk (a, h, j, d0, isv, live, Dn, Dqk, Dv);
        cp_async16 (dst, src != NULL ? src : a.kpe, src != NULL);
      } else {
        const size_t head = (size_t) j * a.ldkv + (size_t) h * a.hkv;
        for (int e = 0; e < 8; e++) {
          int d = d0 + e;
          uint16_t x = 0;
          if (live)
            x = isv ? (d < Dv ? a.v[head + d] : 0)
                    : (d < Dn ? a.kn[head + d] : d < Dqk ? a.kpe[(size_t) j * a.ldpe + d - Dn] : 0);
          dst[e] = x;
        }
      }
    }
  };

  if (n_tiles > 0)
    load_kv (0, 0);
  cp_async_commit ();

  /* Q, each row scaled into f16's range; K's and V's scales; the state of rows row0 and
   * row0 + 8 (this thread's accumulator rows), O with V's scale while it is in the registers */
  float qinv[2], fr[2], vsc;
  fa_stage_q<P> (a, h, i0, warp * 16, Dqk, qinv,
                 [&](int r, int d, uint16_t x) { qs[r * ROW + d] = x; });
  __syncwarp ();
  fa_kv_scales (a, qinv, vsc, fr);
  const int row0 = i0 + warp * 16 + g;
  float o[NT][4], m_r[2], l_r[2];
  fa_state_in<NT> (a, h, row0, Dv, vsc, o, m_r, l_r);

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
    const uint16_t *Ks = kv + (size_t) st * 2 * BN * ROW;
    const uint16_t *Vs = Ks + (size_t) BN * ROW;
    const int kbase = a.k0 + t * BN;

    /* a tile wholly past this warp's rows leaves their state as it is (every score -inf):
     * skipped, warp-uniform, the barriers still shared with the other warps */
    if (wlive && kbase <= wlast) {
      /* S = Q . K^T: SN n-tiles of 8 keys */
      float s[SN][4];
#pragma unroll
      for (int j = 0; j < SN; j++)
#pragma unroll
        for (int e = 0; e < 4; e++)
          s[j][e] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < KS; ks++) {
        if (ks * 16 >= Dqk)
          break;
        int arow = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, acol = ks * 16 + (lane >> 4) * 8;
        uint32_t aq[4];
        ldsm_x4 (aq[0], aq[1], aq[2], aq[3], qs + arow * ROW + acol);
#pragma unroll
        for (int np = 0; np < SN / 2; np++) {
          int n = np * 16 + (lane & 7) + (lane >> 4) * 8, k = ks * 16 + ((lane >> 3) & 1) * 8;
          uint32_t b0, b1, b2, b3;
          ldsm_x4 (b0, b1, b2, b3, Ks + n * ROW + k);
          fa_mma2 (s[2 * np], s[2 * np + 1], aq, b0, b1, b2, b3);
        }
      }

      /* causal mask (and the launch's key limit) where the tile reaches past this warp's first
       * row or the launch's keys, then the online softmax of both rows */
      const bool mask = kbase + BN - 1 > wfirst || kbase + BN > key_lim;
      fa_softmax<SN, NT> (s, o, m_r, l_r, fr, mask, kbase, qpos0, key_lim);

      /* O += P . V: k-steps of 16 keys, P's A fragments straight from S's accumulators */
#pragma unroll
      for (int kk = 0; kk < SN / 2; kk++) {
        uint32_t pa[4];
        fa_p_frag<SN> (s, kk, pa);
#pragma unroll
        for (int np = 0; np < NT / 2; np++) {
          if (np * 16 >= Dv)
            break;
          int key = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, col = np * 16 + (lane >> 4) * 8;
          uint32_t b0, b1, b2, b3;
          ldsm_x4_trans (b0, b1, b2, b3, Vs + key * ROW + col);
          fa_mma2 (o[2 * np], o[2 * np + 1], pa, b0, b1, b2, b3);
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

  fa_state_out<NT> (a, h, row0, Dv, vsc, o, m_r, l_r);
}

/* ---- launchers ---- */

/* the padded head dim a dim runs at (0: too wide) */
static int
fa_pad (int d)
{
  return d <= 0 ? 0 : d <= 64 ? 64 : d <= 128 ? 128 : d <= GK_FLASH_MAX_DIM ? 256 : 0;
}

/* The CTA shape for the padded dim P on the current device: *bm queries (128 or 64), *bn keys
 * per tile (64 or 32) and *stages K/V tiles in flight (2 or 1), the first that fits the
 * device's shared memory of (128, 64, 2), (128, 32, 2), (64, 32, 2), (128, 32, 1), (64, 32, 1);
 * want_bm (64 or 128), want_bn (32 or 64) and want_stages (1) restrict the choice, 0 leaves it
 * free. FALSE where none fits. */
static bool
fa_config (int P, int want_bm, int want_bn, int want_stages, int *bm, int *bn, int *stages)
{
  static const int shapes[5][3] = { { 128, 64, 2 }, { 128, 32, 2 }, { 64, 32, 2 },
                                    { 128, 32, 1 }, { 64, 32, 1 } };
  const size_t optin = gk_device_smem_optin ();
  for (int i = 0; i < 5; i++) {
    int b = shapes[i][0], n = shapes[i][1], st = shapes[i][2];
    if ((want_bm != 0 && b != want_bm) || (want_bn != 0 && n != want_bn) ||
        (want_stages == 1 && st != 1))
      continue;
    if (fa_smem (P, b, n, st) <= optin) {
      *bm = b;
      *bn = n;
      *stages = st;
      return true;
    }
  }
  return false;
}

extern "C" int
gk_flash_attn_supported (int Dqk, int Dv)
{
  int P = max (fa_pad (Dqk), fa_pad (Dv)), bm = 0, bn = 0, stages = 0;
  return fa_pad (Dqk) > 0 && fa_pad (Dv) > 0 && fa_config (P, 0, 0, 0, &bm, &bn, &stages);
}

extern "C" int
gk_flash_attn_shape (const GkFlashAttnArgs *a, int *bm, int *bn, int *stages)
{
  int Dqk = a->Dn + a->R, P = max (fa_pad (Dqk), fa_pad (a->Dv));
  if (fa_pad (Dqk) == 0 || fa_pad (a->Dv) == 0 || (a->bm != 0 && a->bm != 64 && a->bm != 128) ||
      (a->bn != 0 && a->bn != 32 && a->bn != 64))
    return 0;
  return fa_config (P, a->bm, a->bn, a->stages, bm, bn, stages);
}

template <int P, int BM, int BN, bool FULL>
static cudaError_t
fa_launch (const GkFlashAttnArgs *a, int stages, int vec, cudaStream_t stream)
{
  size_t smem = fa_smem (P, BM, BN, stages);
  cudaError_t e = cudaFuncSetAttribute (flash_attn_kernel<P, BM, BN, FULL>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  dim3 grid (a->H, GK_CEIL_DIV (a->T, BM));
  flash_attn_kernel<P, BM, BN, FULL><<<grid, 2 * BM, smem, stream>>> (*a, stages, vec);
  return gk_check_launch ();
}

/* 64-key tiles only with 128-query CTAs (fa_config's shapes) */
template <int P, bool FULL>
static cudaError_t
fa_launch_shape (const GkFlashAttnArgs *a, int bm, int bn, int stages, int vec,
                 cudaStream_t stream)
{
  if (bm == 128)
    return bn == 64 ? fa_launch<P, 128, 64, FULL> (a, stages, vec, stream)
                    : fa_launch<P, 128, 32, FULL> (a, stages, vec, stream);
  return fa_launch<P, 64, 32, FULL> (a, stages, vec, stream);
}

template <int P>
static cudaError_t
fa_launch_p (const GkFlashAttnArgs *a, int bm, int bn, int stages, int vec, cudaStream_t stream)
{
  if (a->Dn + a->R == P && a->Dv == P)
    return fa_launch_shape<P, true> (a, bm, bn, stages, vec, stream);
  return fa_launch_shape<P, false> (a, bm, bn, stages, vec, stream);
}

static bool
fa_aligned (const void *p)
{
  return ((uintptr_t) p & 15) == 0;
}

extern "C" cudaError_t
gk_flash_kv_f16 (uint16_t *knv, uint16_t *kpe, unsigned *kv_max, const GkFlashKvArgs *a,
                 cudaStream_t stream)
{
  if (a->nk <= 0)
    return cudaSuccess;
  if (a->H <= 0 || a->Dn < 0 || a->Dv < 0 || a->R < 0 || a->hkv < a->Dn + a->Dv ||
      a->ldkv < a->H * a->hkv)
    return cudaErrorInvalidValue;
  cudaError_t e = cudaMemsetAsync (kv_max, 0, 2 * sizeof (unsigned), stream);
  if (e != cudaSuccess)
    return e;
  flash_kv_max_kernel<<<a->nk, 256, 0, stream>>> (kv_max, *a);
  if ((e = gk_check_launch ()) != cudaSuccess)
    return e;
  flash_kv_f16_kernel<<<a->nk, 256, 0, stream>>> (knv, kpe, kv_max, *a);
  return gk_check_launch ();
}

/* the K/V/Kpe rows are whole 16-byte chunks (cp.async) */
static int
fa_vec (const GkFlashAttnArgs *a)
{
  return a->Dn % 8 == 0 && a->R % 8 == 0 && a->Dv % 8 == 0 && a->ldkv % 8 == 0 &&
         a->hkv % 8 == 0 && a->ldpe % 8 == 0 && fa_aligned (a->kn) && fa_aligned (a->v) &&
         fa_aligned (a->kpe);
}

extern "C" int
gk_flash_attn_wgmma (const GkFlashAttnArgs *a)
{
  int Dqk = a->Dn + a->R, P = max (fa_pad (Dqk), fa_pad (a->Dv));
  bool want = a->impl == GK_FLASH_WGMMA ||
              (a->impl == GK_FLASH_AUTO && a->bm == 0 && a->bn == 0 && a->stages == 0);
  return want && fa_pad (Dqk) > 0 && fa_pad (a->Dv) > 0 && fa_vec (a) &&
         gk_flash_wgmma_ready (P);
}

extern "C" cudaError_t
gk_flash_attn (const GkFlashAttnArgs *a, cudaStream_t stream)
{
  int bm = 0, bn = 0, stages = 0;
  if (a->T <= 0 || a->H <= 0 || a->Dn < 0 || a->R < 0 || a->k0 < 0 || a->nk < 0 ||
      a->k0 + a->nk > a->p0 + a->T || GK_CEIL_DIV (a->T, 64) > 65535 || a->kv_max == NULL ||
      a->impl < GK_FLASH_AUTO || a->impl > GK_FLASH_WGMMA)
    return cudaErrorInvalidValue;
  int P = max (fa_pad (a->Dn + a->R), fa_pad (a->Dv));
  if (gk_flash_attn_wgmma (a))
    return gk_flash_wgmma (a, P, stream);
  if (a->impl == GK_FLASH_WGMMA || !gk_flash_attn_shape (a, &bm, &bn, &stages))
    return cudaErrorInvalidValue;
  int vec = fa_vec (a);
  switch (P) {
  case 64:
    return fa_launch_p<64> (a, bm, bn, stages, vec, stream);
  case 128:
    return fa_launch_p<128> (a, bm, bn, stages, vec, stream);
  default:
    return fa_launch_p<256> (a, bm, bn, stages, vec, stream);
  }
}
