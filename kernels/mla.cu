/* mla.cu: Multi-head Latent Attention kernels over a bf16 latent cache of C = Lkv + R values per
 * token: latent norm + RoPE + cache write, W_UK absorption of the query, and split-key decode
 * attention with a combine pass (flash-decoding).
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90. CPU reference: engine/cpu/cpu-attention.c (absorbed form).
 * RoPE output layout follows transformers: de-interleaved [even' | odd'] (any layout works as
 * long as q_pe and k_pe agree). */
#include <float.h>

#include "common.cuh"

#define DECODE_THREADS 256
#define DECODE_WARPS (DECODE_THREADS / 32)
#define COMBINE_MAX_SPLITS 1024
#define DECODE_MAX_C 1088       /* Lkv + R bound for shared buffers (GLM: 576) */
/* the simple kernel takes GK_MLA_SIMPLE_SPLIT_KEYS (64) keys per split at least: 8 a warp */
#define ABSORB_ROWS 16          /* rows of W_UK per absorb block */

/* ---- device helpers ---- */

/* A token's latent kv[0 .. Lkv) normalised into its cache row (every thread of the block; red:
 * shared [32]; gk_block_sum's barriers inside) */
__device__ __forceinline__ void
latent_to_cache (const GkMlaCacheArgs &a, const float *kv, uint16_t *row, float *red)
{
  float ss = 0.0f;
  for (int i = threadIdx.x; i < a.Lkv; i += blockDim.x)
    ss += kv[i] * kv[i];
  ss = gk_block_sum (ss, red);
  float r = rsqrtf (ss / (float) a.Lkv + a.eps);
  for (int i = threadIdx.x; i < a.Lkv; i += blockDim.x)
    row[i] = gk_to_bf16 (a.kv_norm[i] * (kv[i] * r));
}

/* Pair j of a rope vector x (R = 2 half values) rotated by the angle whose sine and cosine are
 * sn, cs: y0 goes to position j and y1 to j + half of the output (the de-interleaved layout) */
__device__ __forceinline__ void
rope_pair (const float *x, int j, int half, int interleave, float sn, float cs, float &y0,
           float &y1)
{
  float x0 = interleave ? x[2 * j] : x[j];
  float x1 = interleave ? x[2 * j + 1] : x[j + half];
  y0 = x0 * cs - x1 * sn;
  y1 = x1 * cs + x0 * sn;
}

/* ---- kernels ---- */

/* One block per token: normalise the latent into the cache, then rotate k_pe and every head's
 * q_pe, one (vector, pair) per thread from a shared copy of the inputs. Each pair's angle is
 * turned into its sine and cosine once for all H + 1 vectors (sincosf of a large angle, far
 * into a long context, takes the slow argument reduction). */
__global__ void __launch_bounds__ (256)
mla_rope_cache_kernel (GkMlaCacheArgs a)
{
  __shared__ float red[32];
  __shared__ float sin_j[GK_MLA_MAX_R / 2], cos_j[GK_MLA_MAX_R / 2];
  extern __shared__ float pe[];      /* [(H + 1), R]: q_pe of each head, then k_pe */
  int t = blockIdx.x;
  int pos = *a.n_past + t;
  int C = a.Lkv + a.R, Dqk = a.Dn + a.R, half = a.R / 2;
  const float *kv = a.kva + (size_t) t * C;
  uint16_t *row = a.cache + (size_t) pos * C;
  float *qt = a.q + (size_t) t * a.H * Dqk;

  latent_to_cache (a, kv, row, red);

  for (int i = threadIdx.x; i < (a.H + 1) * a.R; i += blockDim.x) {
    int v = i / a.R, j = i % a.R;
    pe[i] = v < a.H ? qt[(size_t) v * Dqk + a.Dn + j] : kv[a.Lkv + j];
  }
  for (int j = threadIdx.x; j < half; j += blockDim.x)
    sincosf ((float) pos * a.inv_freq[j], &sin_j[j], &cos_j[j]);
  __syncthreads ();
  for (int i = threadIdx.x; i < (a.H + 1) * half; i += blockDim.x) {
    int v = i / half, j = i % half;
    float y0, y1;
    rope_pair (pe + v * a.R, j, half, a.interleave, sin_j[j], cos_j[j], y0, y1);
    if (v < a.H) {
      float *qv = qt + (size_t) v * Dqk + a.Dn;
      qv[j] = y0;
      qv[j + half] = y1;
    } else {
      row[a.Lkv + j] = gk_to_bf16 (y0);
      row[a.Lkv + j + half] = gk_to_bf16 (y1);
    }
  }
}

/* Block (h, part) of the W_UK absorption, block Lkv/2 (rounded up to warps): thread j owns
 * columns 2j, 2j+1 of W_UK[h] and sums rows [part * rows_per_part, ...) for all T tokens into
 * q_lat_parts[t, h, part, :] (n_parts parts); the decode kernels add the parts up when they load
 * the query. qn: shared [T, rows_per_part]; lut: shared [16]. Waits for q (programmatic
 * dependent) itself. */
template <int T>
__device__ __forceinline__ void
absorb_part (float *q_lat, const float *q, const GkMatrix &kv_b, int H, int Dn, int Dv,
             int q_stride, int rows_per_part, int h, int part, int n_parts, float *qn, float *lut)
{
  if (threadIdx.x < 16)
    lut[threadIdx.x] = gk_e2m1 (threadIdx.x);
  int Lkv = kv_b.cols;
  int d0 = part * rows_per_part, nd = min (rows_per_part, Dn - d0);
  gk_pdl_wait ();                    /* q is the previous kernel's output */
  for (int i = threadIdx.x; i < T * rows_per_part; i += blockDim.x) {
    int t = i / rows_per_part, d = i % rows_per_part;
    qn[i] = d < nd ? q[(size_t) t * q_stride + (size_t) h * (q_stride / H) + d0 + d] : 0.0f;
  }
  __syncthreads ();
  int c = 2 * threadIdx.x;
  if (c >= Lkv)
    return;
  float acc0[T], acc1[T];
#pragma unroll
  for (int t = 0; t < T; t++)
    acc0[t] = acc1[t] = 0.0f;
  if (kv_b.format == GK_WEIGHT_NVFP4 && nd == ABSORB_ROWS) {
    /* all rows' bytes and scales in flight before any is used */
    uint8_t bytes[ABSORB_ROWS], sc[ABSORB_ROWS];
#pragma unroll
    for (int d = 0; d < ABSORB_ROWS; d++) {
      size_t off = (size_t) (h * (Dn + Dv) + d0 + d) * (size_t) Lkv + c;
      bytes[d] = __ldg ((const uint8_t *) kv_b.data + off / 2);
      sc[d] = __ldg (kv_b.scales + off / 16);
    }
#pragma unroll
    for (int d = 0; d < ABSORB_ROWS; d++) {
      float s = gk_fp8_e4m3 (sc[d]);       /* scale2 applied at the end */
      float w0 = lut[bytes[d] & 0xf] * s, w1 = lut[bytes[d] >> 4] * s;
#pragma unroll
      for (int t = 0; t < T; t++) {
        float qd = qn[t * rows_per_part + d];
        acc0[t] += w0 * qd;
        acc1[t] += w1 * qd;
      }
    }
  } else {
    for (int d = 0; d < nd; d++) {
      float w0, w1;
      if (kv_b.format == GK_WEIGHT_NVFP4) {
        size_t off = (size_t) (h * (Dn + Dv) + d0 + d) * (size_t) Lkv + c;
        uint8_t byte = __ldg ((const uint8_t *) kv_b.data + off / 2);
        float s = gk_fp8_e4m3 (__ldg (kv_b.scales + off / 16));   /* scale2 applied at the end */
        w0 = lut[byte & 0xf] * s;
        w1 = lut[byte >> 4] * s;
      } else {
        w0 = gk_matrix_at (kv_b, h * (Dn + Dv) + d0 + d, c);
        w1 = gk_matrix_at (kv_b, h * (Dn + Dv) + d0 + d, c + 1);
      }
#pragma unroll
      for (int t = 0; t < T; t++) {
        float qd = qn[t * rows_per_part + d];
        acc0[t] += w0 * qd;
        acc1[t] += w1 * qd;
      }
    }
  }
  float s2 = kv_b.format == GK_WEIGHT_NVFP4 ? kv_b.scale2 : 1.0f;
#pragma unroll
  for (int t = 0; t < T; t++) {
    float *out = q_lat + (((size_t) t * H + h) * n_parts + part) * Lkv;
    out[c] = acc0[t] * s2;
    out[c + 1] = acc1[t] * s2;
  }
}

/* grid (H, n_parts): absorb_part for every block */
template <int T>
__global__ void
mla_absorb_q_kernel (float *q_lat, const float *q, GkMatrix kv_b, int H, int Dn, int Dv,
                     int q_stride, int rows_per_part)
{
  extern __shared__ float qn[];      /* [T, rows_per_part] */
  __shared__ float lut[16];
  gk_pdl_launch_dependents ();
  absorb_part<T> (q_lat, q, kv_b, H, Dn, Dv, q_stride, rows_per_part, blockIdx.x, blockIdx.y,
                  gridDim.y, qn, lut);
}

/* The decode query in one launch, grid (H, n_parts + 1), block Lkv / 2 rounded up to warps:
 * blocks (h, part < n_parts) are the W_UK absorption's (absorb_part); block (h, n_parts)
 * rotates head h's q_pe of every token in place (and block (0, n_parts) also writes the tokens'
 * cache rows: the normalised latent and the rotated k_pe, as mla_rope_cache_kernel). The last
 * of a head's blocks to finish prepares its query for the tensor-core split kernels as
 * mla-mma.cu's mla_q_prep_kernel does (the same sums in the same order, the same bits). */
template <int T>
__global__ void
mla_query_kernel (GkMlaQueryArgs a)
{
  extern __shared__ float qn[];      /* absorption: [T, ABSORB_ROWS]; RoPE: [R] */
  __shared__ float lut[16], red[32];
  __shared__ float sin_j[GK_MLA_MAX_R / 2], cos_j[GK_MLA_MAX_R / 2];
  __shared__ bool last;
  gk_pdl_launch_dependents ();
  const GkMlaCacheArgs &c = a.rope;
  const int h = blockIdx.x, part = blockIdx.y, n_parts = gridDim.y - 1;
  const int C = c.Lkv + c.R, Dqk = c.Dn + c.R, half = c.R / 2;
  const float qscale = a.scale * 1.44269504088896341f;     /* scores in base 2 */
  if (part < n_parts) {
    absorb_part<T> (a.q_lat, c.q, a.kv_b, c.H, c.Dn, a.Dv, c.H * Dqk, ABSORB_ROWS, h, part,
                    n_parts, qn, lut);
  } else {
    gk_pdl_wait ();                  /* q and the latent are the previous kernels' output */
    for (int t = 0; t < c.T; t++) {
      const int pos = *c.n_past + t;
      const float *kv = c.kva + (size_t) t * C;
      float *qv = c.q + ((size_t) t * c.H + h) * Dqk + c.Dn;
      for (int j = threadIdx.x; j < half; j += blockDim.x)
        sincosf ((float) pos * c.inv_freq[j], &sin_j[j], &cos_j[j]);
      for (int i = threadIdx.x; i < c.R; i += blockDim.x)
        qn[i] = qv[i];
      uint16_t *row = c.cache + (size_t) pos * C;
      if (h == 0)
        latent_to_cache (c, kv, row, red);     /* its barriers order sin_j and qn too */
      else
        __syncthreads ();
      uint16_t *mh = a.q_mma + ((size_t) t * c.H + h) * 2 * C + c.Lkv, *ml = mh + C;
      for (int j = threadIdx.x; j < half; j += blockDim.x) {
        float y0, y1;
        rope_pair (qn, j, half, c.interleave, sin_j[j], cos_j[j], y0, y1);
        qv[j] = y0;
        qv[j + half] = y1;
        gk_bf16_hilo (y0 * qscale, mh[j], ml[j]);
        gk_bf16_hilo (y1 * qscale, mh[j + half], ml[j + half]);
        if (h == 0) {
          /* k_pe by rope_pair's arithmetic, written out: as a second rope_pair call the
           * compiler lays the loop out anew, and this launch's bits were checked as it is */
          const int i0 = c.interleave ? 2 * j : j, i1 = c.interleave ? 2 * j + 1 : j + half;
          const float sn = sin_j[j], cs = cos_j[j];
          float x0 = kv[c.Lkv + i0], x1 = kv[c.Lkv + i1];
          row[c.Lkv + j] = gk_to_bf16 (x0 * cs - x1 * sn);
          row[c.Lkv + j + half] = gk_to_bf16 (x1 * cs + x0 * sn);
        }
      }
      __syncthreads ();              /* sin_j, cos_j and qn are the next token's */
    }
  }
  /* the last of the head's n_parts + 1 blocks: q_mma's latent part, the parts summed in order */
  __syncthreads ();
  if (threadIdx.x == 0) {
    __threadfence ();
    last = atomicAdd (&a.done[h], 1u) == (unsigned int) n_parts;
  }
  __syncthreads ();
  if (!last)
    return;
  __threadfence ();
  for (int t = 0; t < c.T; t++) {
    const float *ql = a.q_lat + ((size_t) t * c.H + h) * n_parts * c.Lkv;
    uint16_t *mh = a.q_mma + ((size_t) t * c.H + h) * 2 * C, *ml = mh + C;
    for (int i = threadIdx.x; i < c.Lkv / 2; i += blockDim.x) {
      float v0 = 0.0f, v1 = 0.0f;
      for (int p = 0; p < n_parts; p++) {
        float2 x = __ldcg ((const float2 *) (ql + (size_t) p * c.Lkv) + i);
        v0 += x.x;
        v1 += x.y;
      }
      uint32_t hi, lo;
      gk_bf16x2_hilo (v0 * qscale, v1 * qscale, hi, lo);
      *(uint32_t *) (mh + 2 * i) = hi;
      *(uint32_t *) (ml + 2 * i) = lo;
    }
  }
  if (threadIdx.x == 0)
    a.done[h] = 0;                   /* for the next launch */
}

#define KEY_UNROLL 4

/* grid (H, max_splits, T). Every warp streams its own run of keys with its own online softmax:
 * lane l holds latent dims 2(l + 32j), 2(l + 32j) + 1 (j < Lkv/64) and the matching rope dims,
 * so a key's 576 values are loaded once (9 coalesced 128-byte loads per warp), used for the
 * score and then for the output. The block's warps merge in shared memory at the end. */
template <int NJ>
__global__ void __launch_bounds__ (DECODE_THREADS)
mla_decode_split_kernel (GkMlaDecodeArgs a)
{
  __shared__ float qs[DECODE_MAX_C];
  __shared__ float wm[DECODE_WARPS], wl[DECODE_WARPS];
  __shared__ float wo[DECODE_WARPS][512];
  int h = blockIdx.x, s = blockIdx.y, t = blockIdx.z;   /* heads fastest: blocks running
                                                        * together read the same keys (L2) */
  gk_pdl_launch_dependents ();
  gk_pdl_wait ();       /* the query and this step's key come from the kernels before */
  int C = a.Lkv + a.R, Dqk = a.Dn + a.R;
  int n_keys = *a.n_past + t + 1;
  int splits = gk_mla_splits (a, n_keys);   /* ceil(n_keys / 64): each warp 8 keys or more */
  if (s >= splits || gk_mla_mma_takes (a, n_keys))
    return;
  int per = GK_CEIL_DIV (n_keys, splits);
  int k_begin = s * per, k_end = min (n_keys, k_begin + per);

  /* q_lat is the sum of the absorb kernel's partials over its row blocks, added in order; up to
   * 16 parts' loads are in flight at once (one after another they cost one L2 latency each:
   * most of this kernel's time at short contexts) */
  const float *ql = a.q_lat + ((size_t) t * a.H + h) * a.n_qparts * a.Lkv;
  const float *qp = a.q + ((size_t) t * a.H + h) * Dqk + a.Dn;
  for (int i = threadIdx.x; i < C; i += blockDim.x) {
    float v;
    if (i < a.Lkv) {
      v = 0.0f;
      for (int p0 = 0; p0 < a.n_qparts; p0 += 16) {
        float x[16];
#pragma unroll
        for (int part = 0; part < 16; part++)
          x[part] = p0 + part < a.n_qparts ? ql[(size_t) (p0 + part) * a.Lkv + i] : 0.0f;
#pragma unroll
        for (int part = 0; part < 16; part++)
          v += x[part];
      }
    } else {
      v = qp[i - a.Lkv];
    }
    qs[i] = v * a.scale;
  }
  __syncthreads ();

  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int words = C / 2;                             /* uint32 words per key */
  int lat_words = a.Lkv / 2;
  float qv[NJ][2];
#pragma unroll
  for (int j = 0; j < NJ; j++) {
    int wi = lane + 32 * j;
    qv[j][0] = wi < words ? qs[2 * wi] : 0.0f;
    qv[j][1] = wi < words ? qs[2 * wi + 1] : 0.0f;
  }
  float o[NJ][2];
#pragma unroll
  for (int j = 0; j < NJ; j++)
    o[j][0] = o[j][1] = 0.0f;
  float m = -FLT_MAX, l = 0.0f;

  int wper = GK_CEIL_DIV (k_end - k_begin, DECODE_WARPS);
  int wb = k_begin + warp * wper, we = min (k_end, wb + wper);
  for (int k0 = wb; k0 < we; k0 += KEY_UNROLL) {
    uint32_t kv[KEY_UNROLL][NJ];
#pragma unroll
    for (int u = 0; u < KEY_UNROLL; u++) {
      const uint32_t *row = (const uint32_t *) (a.cache + (size_t) (k0 + u) * C);
#pragma unroll
      for (int j = 0; j < NJ; j++) {
        int wi = lane + 32 * j;
        kv[u][j] = (k0 + u < we && wi < words) ? __ldg (row + wi) : 0u;
      }
    }
#pragma unroll
    for (int u = 0; u < KEY_UNROLL; u++) {
      if (k0 + u >= we)
        break;
      float dot = 0.0f;
#pragma unroll
      for (int j = 0; j < NJ; j++)
        dot += qv[j][0] * __uint_as_float (kv[u][j] << 16) +
               qv[j][1] * __uint_as_float (kv[u][j] & 0xffff0000u);
      float score = gk_warp_sum (dot);
      float m_new = fmaxf (m, score);
      float corr = __expf (m - m_new), p = __expf (score - m_new);
      l = l * corr + p;
#pragma unroll
      for (int j = 0; j < NJ; j++) {
        int wi = lane + 32 * j;
        float c0 = wi < lat_words ? __uint_as_float (kv[u][j] << 16) : 0.0f;
        float c1 = wi < lat_words ? __uint_as_float (kv[u][j] & 0xffff0000u) : 0.0f;
        o[j][0] = o[j][0] * corr + p * c0;
        o[j][1] = o[j][1] * corr + p * c1;
      }
      m = m_new;
    }
  }

  /* merge the warps */
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int j = 0; j < NJ; j++) {
    int wi = lane + 32 * j;
    if (wi < lat_words) {
      wo[warp][2 * wi] = o[j][0];
      wo[warp][2 * wi + 1] = o[j][1];
    }
  }
  __syncthreads ();
  float M = -FLT_MAX;
  for (int w = 0; w < DECODE_WARPS; w++)
    M = fmaxf (M, wm[w]);
  float L = 0.0f;
  for (int w = 0; w < DECODE_WARPS; w++)
    L += wl[w] * (wm[w] == -FLT_MAX ? 0.0f : __expf (wm[w] - M));
  float *part = a.partial + (((size_t) t * a.H + h) * a.max_splits + s) * (a.Lkv + 2);
  for (int d = threadIdx.x; d < a.Lkv; d += blockDim.x) {
    float acc = 0.0f;
    for (int w = 0; w < DECODE_WARPS; w++)
      if (wm[w] != -FLT_MAX)
        acc += wo[w][d] * __expf (wm[w] - M);
    part[d] = acc;
  }
  if (threadIdx.x == 0) {
    part[a.Lkv] = M;
    part[a.Lkv + 1] = L;
  }
}

/* grid (H, T, ceil(Lkv / 32)), DECODE_THREADS threads: merge the splits of one (token, head)
 * for 32 latent dims. Every block reads the splits' maxima and sums; then warp w adds splits w,
 * w + 8, ... (a coalesced 128-byte row each, several in flight) and the warps' sums are added
 * in a fixed order. Many blocks with many loads in flight: the partials (splits x H x 2 KB) are
 * read from L2 at its rate, not at one block's latency. */
__global__ void __launch_bounds__ (DECODE_THREADS)
mla_decode_combine_kernel (GkMlaDecodeArgs a)
{
  gk_pdl_launch_dependents ();    /* W_UV's GEMV may start loading weights */
  gk_pdl_wait ();                 /* the splits' partials */
  int h = blockIdx.x, t = blockIdx.y;
  int n_keys = *a.n_past + t + 1;
  int splits = gk_mla_splits (a, n_keys);
  const float *base = a.partial + ((size_t) t * a.H + h) * a.max_splits * (a.Lkv + 2);
  /* one thread per split loads its max and sum; the block combines them, and each split's
   * weight exp(m_s - M) / L goes to shared memory, so the output loop's loads are independent */
  __shared__ float wgt[COMBINE_MAX_SPLITS], red[32], wsum[DECODE_WARPS][32];
  const int stride = a.Lkv + 2;
  float m = -FLT_MAX;
  for (int s = threadIdx.x; s < splits; s += blockDim.x)
    m = fmaxf (m, base[s * stride + a.Lkv]);
  const float M = gk_block_max (m, red);
  float l = 0.0f;
  for (int s = threadIdx.x; s < splits; s += blockDim.x) {
    float e = __expf (base[s * stride + a.Lkv] - M);
    wgt[s] = e;
    l += base[s * stride + a.Lkv + 1] * e;
  }
  const float inv_l = 1.0f / gk_block_sum (l, red);   /* its barriers also publish wgt */
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int d = blockIdx.z * 32 + lane;
  float acc = 0.0f;
  if (d < a.Lkv) {
#pragma unroll 4
    for (int s = warp; s < splits; s += DECODE_WARPS)
      acc += base[s * stride + d] * wgt[s];
  }
  wsum[warp][lane] = acc;
  __syncthreads ();
  if (warp == 0 && d < a.Lkv) {
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < DECODE_WARPS; w++)
      sum += wsum[w][lane];
    a.o_lat[((size_t) t * a.H + h) * a.Lkv + d] = sum * inv_l;
  }
}

/* ---- launchers ---- */

extern "C" cudaError_t
gk_mla_rope_cache (const GkMlaCacheArgs *args, cudaStream_t stream)
{
  if (args->R % 2 != 0 || args->R > GK_MLA_MAX_R ||
      (size_t) (args->H + 1) * args->R * sizeof (float) > 48 * 1024)
    return cudaErrorInvalidValue;
  if (args->T <= 0)
    return cudaSuccess;
  size_t smem = (size_t) (args->H + 1) * args->R * sizeof (float);
  mla_rope_cache_kernel<<<args->T, 256, smem, stream>>> (*args);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_mla_query (const GkMlaQueryArgs *args, cudaStream_t stream)
{
  const GkMlaCacheArgs *c = &args->rope;
  int threads = GK_CEIL_DIV (args->kv_b.cols / 2, 32) * 32;
  if (c->R % 2 != 0 || c->R > GK_MLA_MAX_R || args->kv_b.cols != c->Lkv || c->Lkv % 2 != 0 ||
      threads > 1024 || threads < 32 || c->T < 1 || c->T > GK_GEMV_MAX_T)
    return cudaErrorInvalidValue;
  size_t smem = (size_t) max (c->T * ABSORB_ROWS, c->R) * sizeof (float);
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg = gk_launch_config (dim3 (c->H, gk_mla_absorb_parts (c->Dn) + 1),
                                             dim3 (threads), smem, stream, true, &attr);
  switch (c->T) {
#define CASE(n) case n: cudaLaunchKernelEx (&cfg, mla_query_kernel<n>, *args); break;
  CASE (1) CASE (2) CASE (3) CASE (4) CASE (5) CASE (6) CASE (7) CASE (8)
#undef CASE
  }
  return gk_check_launch ();
}

extern "C" int
gk_mla_absorb_parts (int Dn)
{
  return GK_CEIL_DIV (Dn, ABSORB_ROWS);
}

extern "C" cudaError_t
gk_mla_absorb_q (float *q_lat, const float *q, const GkMatrix *kv_b, int T, int H, int Dn, int Dv,
                 int q_stride, cudaStream_t stream)
{
  int threads = kv_b->cols / 2;
  if (threads > 1024 || kv_b->cols % 2 != 0 || T < 1 || T > GK_GEMV_MAX_T)
    return cudaErrorInvalidValue;
  threads = GK_CEIL_DIV (threads, 32) * 32;
  size_t smem = (size_t) T * ABSORB_ROWS * sizeof (float);
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg = gk_launch_config (dim3 (H, gk_mla_absorb_parts (Dn)), dim3 (threads),
                                             smem, stream, true, &attr);
  switch (T) {
#define CASE(n) case n: cudaLaunchKernelEx (&cfg, mla_absorb_q_kernel<n>, q_lat, q, *kv_b, H, Dn, Dv, q_stride, (int) ABSORB_ROWS); break;
  CASE (1) CASE (2) CASE (3) CASE (4) CASE (5) CASE (6) CASE (7) CASE (8)
#undef CASE
  }
  return gk_check_launch ();
}

/* the simple split kernel's instance for a cache row of Lkv + R values */
static void (*split_kernel (int Lkv, int R)) (GkMlaDecodeArgs)
{
  int words = (Lkv + R) / 2;                  /* uint32 words per cache row */
  return words <= 9 * 32 ? mla_decode_split_kernel<9>                       /* C <= 576 */
                         : mla_decode_split_kernel<(DECODE_MAX_C / 2 + 31) / 32>;
}

extern "C" int
gk_mla_decode_simple_fill (int Lkv, int R)
{
  int per_sm = 0, sms = gk_device_sms (0);
  if (sms == 0 || cudaOccupancyMaxActiveBlocksPerMultiprocessor (&per_sm, split_kernel (Lkv, R),
                                                                 DECODE_THREADS, 0) != cudaSuccess)
    return 0;
  return sms * per_sm;
}

extern "C" cudaError_t
gk_mla_decode (const GkMlaDecodeArgs *args, cudaStream_t stream)
{
  if (args->Lkv + args->R > DECODE_MAX_C || args->Lkv > 2 * DECODE_THREADS || args->Lkv % 2 ||
      args->max_splits > COMBINE_MAX_SPLITS ||
      args->R % 2 || args->max_splits < 1)
    return cudaErrorInvalidValue;
  /* resolve the kernel: AUTO takes wgmma, else v2, else v1, else simple; AUTO_V2 the same
   * without wgmma; AUTO_V1 v1, else simple */
  int want = args->kernel;
  int wg = (want == GK_MLA_AUTO || want == GK_MLA_WGMMA) && gk_mla_decode_wgmma_supported (args);
  int v2 = !wg && (want == GK_MLA_AUTO || want == GK_MLA_AUTO_V2 || want == GK_MLA_MMA) &&
           gk_mla_decode_mma2_supported (args);
  int v1 = !wg && !v2 &&
           (want == GK_MLA_AUTO || want == GK_MLA_AUTO_V2 || want == GK_MLA_AUTO_V1 ||
            want == GK_MLA_MMA_V1) &&
           gk_mla_decode_mma_supported (args);
  if ((want == GK_MLA_WGMMA && !wg) || (want == GK_MLA_MMA && !v2) ||
      (want == GK_MLA_MMA_V1 && !v1))
    return cudaErrorInvalidValue;
  GkMlaDecodeArgs r = *args;
  r.kernel = wg ? GK_MLA_WGMMA : v2 ? GK_MLA_MMA : v1 ? GK_MLA_MMA_V1 : GK_MLA_SIMPLE;
  if (want == GK_MLA_WGMMA || want == GK_MLA_MMA || want == GK_MLA_MMA_V1 ||
      r.kernel == GK_MLA_SIMPLE)
    r.mma_min_keys = 0;   /* asked for by name: it takes every token (simple: unused) */
  /* the simple kernel, where it takes tokens: its blocks resident at once bound its splits
   * (gk_mla_splits), so r carries that bound to every kernel here before any launch */
  const bool simple = r.kernel == GK_MLA_SIMPLE || r.mma_min_keys > 0;
  if (simple && r.simple_fill <= 0)
    r.simple_fill = gk_mla_decode_simple_fill (args->Lkv, args->R);
  cudaError_t err = cudaSuccess;
  if (wg || v2)
    err = gk_mla_decode_mma2_splits (&r, stream);
  else if (v1)
    err = gk_mla_decode_mma_splits (&r, stream);
  if (err == cudaSuccess && simple) {
    /* no token takes more splits than one wave holds: a grid of max_splits (264 on the H200)
     * would start thousands of blocks that return at once */
    int grid_splits = r.simple_fill > 0 ? max (1, r.simple_fill / (args->H * args->T)) : 0;
    grid_splits = grid_splits > 0 ? min (grid_splits, args->max_splits) : args->max_splits;
    cudaLaunchAttribute attr;
    cudaLaunchConfig_t cfg = gk_launch_config (dim3 (args->H, grid_splits, args->T),
                                               dim3 (DECODE_THREADS), 0, stream, true, &attr);
    cudaLaunchKernelEx (&cfg, split_kernel (args->Lkv, args->R), r);
    err = gk_check_launch ();
  }
  if (err != cudaSuccess)
    return err;
  /* a programmatic dependent of the split kernel: its blocks are resident, waiting, when the
   * last split finishes */
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg = gk_launch_config (dim3 (args->H, args->T, GK_CEIL_DIV (args->Lkv, 32)),
                                             dim3 (DECODE_THREADS), 0, stream, true, &attr);
  cudaLaunchKernelEx (&cfg, mla_decode_combine_kernel, r);
  return gk_check_launch ();
}
