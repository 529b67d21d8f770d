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
#define DECODE_MAX_C 1088       /* Lkv + R bound for shared buffers (GLM: 576) */
#define DECODE_MIN_KEYS 64      /* fewest keys worth a split */

/* ---- device helpers ---- */

/* Rotate x[0..R) for position pos in place (R/2 threads cooperate through shared `tmp`). */
__device__ void
rope_inplace (float *x, int R, int pos, const float *inv_freq, int interleave, float *tmp)
{
  int half = R / 2;
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    float s, c;
    sincosf ((float) pos * inv_freq[i], &s, &c);
    float a = interleave ? x[2 * i] : x[i];
    float b = interleave ? x[2 * i + 1] : x[i + half];
    tmp[i] = a * c - b * s;
    tmp[i + half] = b * c + a * s;
  }
  __syncthreads ();
  for (int i = threadIdx.x; i < R; i += blockDim.x)
    x[i] = tmp[i];
  __syncthreads ();
}

/* ---- kernels ---- */

__global__ void __launch_bounds__ (256)
mla_rope_cache_kernel (GkMlaCacheArgs a)
{
  __shared__ float red[32];
  __shared__ float tmp[2 * 512];
  __shared__ float kpe[1024];
  int t = blockIdx.x;
  int pos = *a.n_past + t;
  int C = a.Lkv + a.R, Dqk = a.Dn + a.R;
  const float *kv = a.kva + (size_t) t * C;
  uint16_t *row = a.cache + (size_t) pos * C;

  float ss = 0.0f;
  for (int i = threadIdx.x; i < a.Lkv; i += blockDim.x)
    ss += kv[i] * kv[i];
  ss = gk_block_sum (ss, red);
  float r = rsqrtf (ss / (float) a.Lkv + a.eps);
  for (int i = threadIdx.x; i < a.Lkv; i += blockDim.x)
    row[i] = gk_to_bf16 (a.kv_norm[i] * (kv[i] * r));

  for (int i = threadIdx.x; i < a.R; i += blockDim.x)
    kpe[i] = kv[a.Lkv + i];
  __syncthreads ();
  rope_inplace (kpe, a.R, pos, a.inv_freq, a.interleave, tmp);
  for (int i = threadIdx.x; i < a.R; i += blockDim.x)
    row[a.Lkv + i] = gk_to_bf16 (kpe[i]);
  for (int h = 0; h < a.H; h++)
    rope_inplace (a.q + ((size_t) t * a.H + h) * Dqk + a.Dn, a.R, pos, a.inv_freq, a.interleave,
                  tmp);
}

/* grid (H), block Lkv/2: thread j owns columns 2j, 2j+1 of W_UK[h] for all T tokens. */
template <int T>
__global__ void
mla_absorb_q_kernel (float *q_lat, const float *q, GkMatrix kv_b, int H, int Dn, int Dv,
                     int q_stride)
{
  extern __shared__ float qn[];      /* [T, Dn] */
  int h = blockIdx.x, Lkv = kv_b.cols;
  for (int i = threadIdx.x; i < T * Dn; i += blockDim.x) {
    int t = i / Dn, d = i % Dn;
    qn[i] = q[(size_t) t * q_stride + (size_t) h * (q_stride / H) + d];   /* q: [T, H, Dqk] */
  }
  __syncthreads ();
  int c = 2 * threadIdx.x;
  if (c >= Lkv)
    return;
  float acc0[T], acc1[T];
#pragma unroll
  for (int t = 0; t < T; t++)
    acc0[t] = acc1[t] = 0.0f;
  for (int d = 0; d < Dn; d++) {
    size_t off = (size_t) (h * (Dn + Dv) + d) * (size_t) Lkv + c;
    float w0, w1;
    if (kv_b.format == GK_WEIGHT_NVFP4) {
      uint8_t byte = ((const uint8_t *) kv_b.data)[off / 2];
      float s = gk_fp8_e4m3 (kv_b.scales[off / 16]);     /* scale2 applied at the end */
      w0 = gk_e2m1 (byte & 0xf) * s;
      w1 = gk_e2m1 (byte >> 4) * s;
    } else {
      w0 = gk_matrix_at (kv_b, h * (Dn + Dv) + d, c);
      w1 = gk_matrix_at (kv_b, h * (Dn + Dv) + d, c + 1);
    }
#pragma unroll
    for (int t = 0; t < T; t++) {
      float qd = qn[t * Dn + d];
      acc0[t] += w0 * qd;
      acc1[t] += w1 * qd;
    }
  }
  float s2 = kv_b.format == GK_WEIGHT_NVFP4 ? kv_b.scale2 : 1.0f;
#pragma unroll
  for (int t = 0; t < T; t++) {
    float *out = q_lat + ((size_t) t * H + h) * Lkv;
    out[c] = acc0[t] * s2;
    out[c + 1] = acc1[t] * s2;
  }
}

__device__ __forceinline__ int
decode_splits (int n_keys, int max_splits)
{
  int s = GK_CEIL_DIV (n_keys, DECODE_MIN_KEYS);
  return s < max_splits ? s : max_splits;
}

/* grid (max_splits, H, T). Each block: keys of one split, online softmax, unnormalised output. */
__global__ void __launch_bounds__ (DECODE_THREADS)
mla_decode_split_kernel (GkMlaDecodeArgs a)
{
  __shared__ float qs[DECODE_MAX_C];
  __shared__ float sc[DECODE_WARPS];
  int s = blockIdx.x, h = blockIdx.y, t = blockIdx.z;
  int C = a.Lkv + a.R, Dqk = a.Dn + a.R;
  int n_keys = *a.n_past + t + 1;
  int splits = decode_splits (n_keys, a.max_splits);
  if (s >= splits)
    return;
  int per = GK_CEIL_DIV (n_keys, splits);
  int k_begin = s * per, k_end = min (n_keys, k_begin + per);

  const float *ql = a.q_lat + ((size_t) t * a.H + h) * a.Lkv;
  const float *qp = a.q + ((size_t) t * a.H + h) * Dqk + a.Dn;
  for (int i = threadIdx.x; i < C; i += blockDim.x)
    qs[i] = (i < a.Lkv ? ql[i] : qp[i - a.Lkv]) * a.scale;
  __syncthreads ();

  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float m = -FLT_MAX, l = 0.0f;
  float o0 = 0.0f, o1 = 0.0f;               /* dims 2*tid, 2*tid+1 (Lkv <= 2 * DECODE_THREADS) */
  int d0 = 2 * threadIdx.x;
  for (int k0 = k_begin; k0 < k_end; k0 += DECODE_WARPS) {
    int k = k0 + warp;
    float score = -FLT_MAX;
    if (k < k_end) {
      const uint32_t *row = (const uint32_t *) (a.cache + (size_t) k * C);
      float dot = 0.0f;
      for (int j = lane; j < C / 2; j += 32) {
        uint32_t u = row[j];
        dot += qs[2 * j] * __uint_as_float (u << 16) + qs[2 * j + 1] * __uint_as_float (u & 0xffff0000u);
      }
      score = gk_warp_sum (dot);
    }
    if (lane == 0)
      sc[warp] = score;
    __syncthreads ();
    float tile_max = -FLT_MAX;
    int n_tile = min (DECODE_WARPS, k_end - k0);
    for (int i = 0; i < n_tile; i++)
      tile_max = fmaxf (tile_max, sc[i]);
    float m_new = fmaxf (m, tile_max);
    float corr = expf (m - m_new);
    l *= corr;
    o0 *= corr;
    o1 *= corr;
    for (int i = 0; i < n_tile; i++) {
      float p = expf (sc[i] - m_new);
      l += p;
      if (d0 < a.Lkv) {
        uint32_t u = *(const uint32_t *) (a.cache + (size_t) (k0 + i) * C + d0);
        o0 += p * __uint_as_float (u << 16);
        o1 += p * __uint_as_float (u & 0xffff0000u);
      }
    }
    m = m_new;
    __syncthreads ();
  }
  float *part = a.partial + (((size_t) t * a.H + h) * a.max_splits + s) * (a.Lkv + 2);
  if (d0 < a.Lkv) {
    part[d0] = o0;
    part[d0 + 1] = o1;
  }
  if (threadIdx.x == 0) {
    part[a.Lkv] = m;
    part[a.Lkv + 1] = l;
  }
}

/* grid (H, T): merge the splits of one (token, head). */
__global__ void __launch_bounds__ (DECODE_THREADS)
mla_decode_combine_kernel (GkMlaDecodeArgs a)
{
  int h = blockIdx.x, t = blockIdx.y;
  int n_keys = *a.n_past + t + 1;
  int splits = decode_splits (n_keys, a.max_splits);
  const float *base = a.partial + ((size_t) t * a.H + h) * a.max_splits * (a.Lkv + 2);
  float M = -FLT_MAX;
  for (int s = 0; s < splits; s++)
    M = fmaxf (M, base[s * (a.Lkv + 2) + a.Lkv]);
  float L = 0.0f;
  for (int s = 0; s < splits; s++)
    L += base[s * (a.Lkv + 2) + a.Lkv + 1] * expf (base[s * (a.Lkv + 2) + a.Lkv] - M);
  float *out = a.o_lat + ((size_t) t * a.H + h) * a.Lkv;
  for (int d = threadIdx.x; d < a.Lkv; d += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < splits; s++)
      acc += base[s * (a.Lkv + 2) + d] * expf (base[s * (a.Lkv + 2) + a.Lkv] - M);
    out[d] = acc / L;
  }
}

/* ---- launchers ---- */

extern "C" cudaError_t
gk_mla_rope_cache (const GkMlaCacheArgs *args, cudaStream_t stream)
{
  if (args->R > 1024 || args->R % 2 != 0)
    return cudaErrorInvalidValue;
  if (args->T <= 0)
    return cudaSuccess;
  mla_rope_cache_kernel<<<args->T, 256, 0, stream>>> (*args);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_mla_absorb_q (float *q_lat, const float *q, const GkMatrix *kv_b, int T, int H, int Dn, int Dv,
                 int q_stride, cudaStream_t stream)
{
  int threads = kv_b->cols / 2;
  if (threads > 1024 || kv_b->cols % 2 != 0 || T < 1 || T > GK_GEMV_MAX_T)
    return cudaErrorInvalidValue;
  threads = GK_CEIL_DIV (threads, 32) * 32;
  size_t smem = (size_t) T * Dn * sizeof (float);
  switch (T) {
#define CASE(n) case n: mla_absorb_q_kernel<n><<<H, threads, smem, stream>>> (q_lat, q, *kv_b, H, Dn, Dv, q_stride); break;
  CASE (1) CASE (2) CASE (3) CASE (4) CASE (5) CASE (6) CASE (7) CASE (8)
#undef CASE
  }
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_mla_decode (const GkMlaDecodeArgs *args, cudaStream_t stream)
{
  if (args->Lkv + args->R > DECODE_MAX_C || args->Lkv > 2 * DECODE_THREADS || args->Lkv % 2 ||
      args->R % 2 || args->max_splits < 1)
    return cudaErrorInvalidValue;
  dim3 grid (args->max_splits, args->H, args->T);
  mla_decode_split_kernel<<<grid, DECODE_THREADS, 0, stream>>> (*args);
  cudaError_t err = gk_check_launch ();
  if (err != cudaSuccess)
    return err;
  mla_decode_combine_kernel<<<dim3 (args->H, args->T), DECODE_THREADS, 0, stream>>> (*args);
  return gk_check_launch ();
}
