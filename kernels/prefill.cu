/* prefill.cu: the small kernels around the tensor-core GEMMs of prefill: NVFP4 -> bf16 weights
 * and float32 -> bf16 hi + lo activations (the bf16x2 GEMM inputs), float32 -> row-scaled f16
 * activations in the fp4 GEMM's column order (gemm-fp4.cu), MoE grouping on the device,
 * row gathers and scatters for MoE, SwiGLU, causal softmax over materialised scores, query
 * packing.
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90. CPU reference: engine/cpu/cpu-forward.c and
 * engine/cpu/cpu-attention.c (the same math, float32). */
#include <float.h>

#include "common.cuh"

#define MIN_GRID(a, b) ((a) < (b) ? (a) : (b))

/* ---- kernels ---- */

__global__ void
scatter_slots_kernel (float *slots, const float *y, const int32_t *tok, const int32_t *slot,
                      const float *w, int n_slots, int d)
{
  int i = blockIdx.x;
  float *o = slots + ((size_t) tok[i] * n_slots + slot[i]) * d;
  const float *r = y + (size_t) i * d;
  float wi = w[i];
  for (int j = threadIdx.x; j < d; j += blockDim.x)
    o[j] = wi * r[j];
}

/* grid (Tq, H), one block per row */
__global__ void __launch_bounds__ (256)
causal_softmax_kernel (float *p, const float *s, int Tq, int n_keys, int pos0)
{
  __shared__ float red[32];
  int i = blockIdx.x, h = blockIdx.y;
  size_t row = ((size_t) h * Tq + i) * n_keys;
  int valid = min (n_keys, pos0 + i + 1);
  float m = -FLT_MAX;
  for (int j = threadIdx.x; j < valid; j += blockDim.x)
    m = fmaxf (m, s[row + j]);
  /* block max */
  m = gk_warp_max (m);
  __syncthreads ();
  if ((threadIdx.x & 31) == 0)
    red[threadIdx.x >> 5] = m;
  __syncthreads ();
  m = (threadIdx.x & 31) < (blockDim.x >> 5) ? red[threadIdx.x & 31] : -FLT_MAX;
  m = gk_warp_max (m);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < valid; j += blockDim.x)
    sum += expf (s[row + j] - m);
  sum = gk_block_sum (sum, red);
  float inv = 1.0f / sum;
  for (int j = threadIdx.x; j < n_keys; j += blockDim.x)
    p[row + j] = j < valid ? expf (s[row + j] - m) * inv : 0.0f;
}

__global__ void
pack_qpe_kernel (float *qfull, const float *q, int Tq, int H, int Dn, int R, int Lkv, float scale)
{
  int i = blockIdx.x, h = blockIdx.y;
  int Dqk = Dn + R;
  for (int r = threadIdx.x; r < R; r += blockDim.x)
    qfull[((size_t) h * Tq + i) * (Lkv + R) + Lkv + r] =
      scale * q[((size_t) i * H + h) * Dqk + Dn + r];
}

__global__ void
bf16_to_f32_kernel (float *dst, const uint16_t *src, size_t n)
{
  size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    dst[i] = gk_bf16 (src[i]);
}

/* ---- launchers ---- */

extern "C" cudaError_t
gk_scatter_slots (float *slots, const float *y, const int32_t *tok, const int32_t *slot,
                  const float *w, int n, int n_slots, int d, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  scatter_slots_kernel<<<n, 256, 0, stream>>> (slots, y, tok, slot, w, n_slots, d);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_causal_softmax_f32 (float *p, const float *s, int H, int Tq, int n_keys, int pos0,
                       cudaStream_t stream)
{
  if (Tq <= 0)
    return cudaSuccess;
  causal_softmax_kernel<<<dim3 (Tq, H), 256, 0, stream>>> (p, s, Tq, n_keys, pos0);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_mla_pack_qpe_f32 (float *qfull, const float *q, int Tq, int H, int Dn, int R, int Lkv,
                     float scale, cudaStream_t stream)
{
  if (Tq <= 0)
    return cudaSuccess;
  pack_qpe_kernel<<<dim3 (Tq, H), 64, 0, stream>>> (qfull, q, Tq, H, Dn, R, Lkv, scale);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_bf16_to_f32 (float *dst, const uint16_t *src, size_t n, cudaStream_t stream)
{
  if (n == 0)
    return cudaSuccess;
  bf16_to_f32_kernel<<<(unsigned) GK_CEIL_DIV (n, 256), 256, 0, stream>>> (dst, src, n);
  return gk_check_launch ();
}

/* ---- float32 variants (TF32 GEMM path) ---- */

__global__ void
dequant_f32_kernel (float *dst, GkMatrix w)
{
  size_t n = (size_t) w.rows * (size_t) w.cols;
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (size_t) gridDim.x * blockDim.x) {
    if (w.format == GK_WEIGHT_NVFP4) {
      uint8_t byte = ((const uint8_t *) w.data)[i / 2];
      dst[i] = gk_e2m1 ((i & 1) ? (byte >> 4) : (byte & 0xf)) * gk_fp8_e4m3 (w.scales[i / 16]);
    } else {
      dst[i] = gk_matrix_at (w, (int) (i / w.cols), (int) (i % w.cols));
    }
  }
}

__global__ void
gather_f32_kernel (float *dst, const float *src, const int32_t *rows, int d)
{
  const float *s = src + (size_t) rows[blockIdx.x] * d;
  float *o = dst + (size_t) blockIdx.x * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x)
    o[i] = s[i];
}

__global__ void
silu_mul_f32_kernel (float *g, const float *u, size_t n)
{
  size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    g[i] = gk_silu_mul (g[i], u[i]);
  }
}

extern "C" cudaError_t
gk_dequant_f32 (float *dst, const GkMatrix *w, cudaStream_t stream)
{
  dequant_f32_kernel<<<2048, 256, 0, stream>>> (dst, *w);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_gather_f32 (float *dst, const float *src, const int32_t *rows, int n, int d, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  gather_f32_kernel<<<n, 256, 0, stream>>> (dst, src, rows, d);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_silu_mul_f32 (float *g, const float *u, size_t n, cudaStream_t stream)
{
  if (n == 0)
    return cudaSuccess;
  silu_mul_f32_kernel<<<(unsigned) GK_CEIL_DIV (n, 256), 256, 0, stream>>> (g, u, n);
  return gk_check_launch ();
}

/* ---- bf16 GEMM inputs (bf16x2 path) ---- */

/* One thread per 16-element NVFP4 block: 8 packed bytes and one e4m3 scale in, 16 bf16 out.
 * The product e2m1 * e4m3 is exact in float32 and again in bf16 (gk.h). */
template <bool ALIGNED>
__global__ void __launch_bounds__ (256)
dequant_bf16_nvfp4_kernel (uint16_t *dst, const uint8_t *q, const uint8_t *scales, size_t n_blocks)
{
  for (size_t b = (size_t) blockIdx.x * blockDim.x + threadIdx.x; b < n_blocks;
       b += (size_t) gridDim.x * blockDim.x) {
    uint2 packed;
    if (ALIGNED) {
      packed = *(const uint2 *) (q + b * 8);
    } else {
      const uint8_t *p = q + b * 8;
      packed.x = p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t) p[3] << 24);
      packed.y = p[4] | (p[5] << 8) | (p[6] << 16) | ((uint32_t) p[7] << 24);
    }
    float s = gk_fp8_e4m3 (scales[b]);
    uint32_t out[8];
    for (int j = 0; j < 8; j++) {
      uint32_t byte = ((j < 4 ? packed.x : packed.y) >> (8 * (j & 3))) & 0xffu;
      uint32_t lo = gk_to_bf16 (gk_e2m1 (byte & 0xfu) * s);
      uint32_t hi = gk_to_bf16 (gk_e2m1 (byte >> 4) * s);
      out[j] = lo | (hi << 16);                      /* element 2j first (little endian) */
    }
    uint4 *o = (uint4 *) (dst + b * 16);
    o[0] = make_uint4 (out[0], out[1], out[2], out[3]);
    o[1] = make_uint4 (out[4], out[5], out[6], out[7]);
  }
}

/* grid (n rows), threads over the columns */
__global__ void __launch_bounds__ (256)
split_bf16_kernel (uint16_t *hi, uint16_t *lo, const float *X, int ldx, const int32_t *rows,
                   int cols)
{
  size_t i = blockIdx.x;
  const float *x = X + (size_t) (rows != NULL ? rows[i] : (int32_t) i) * ldx;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = x[c];
    uint16_t h = gk_to_bf16 (v);
    hi[i * cols + c] = h;
    if (lo != NULL) {
      float hv = gk_bf16 (h);
      lo[i * cols + c] = isfinite (hv) ? gk_to_bf16 (v - hv) : (uint16_t) 0;
    }
  }
}

/* grid (n rows), threads over the columns: the row's largest |x|, then its scaled halves.
 * VPT > 0: a thread's values (at most VPT: cols <= VPT * blockDim.x) stay in registers between
 * the two passes, so the row is read (and silu computed) once; 0: read twice. */
template <int VPT>
__global__ void __launch_bounds__ (256)
split_f16_mma_kernel (uint16_t *hi, uint16_t *lo, float *xscale, const float *X, const float *U,
                      int ldx, const int32_t *rows, int cols)
{
  __shared__ float red[32];
  size_t i = blockIdx.x;
  size_t at = (size_t) (rows != NULL ? rows[i] : (int32_t) i) * ldx;
  auto value = [&](int c) { return U != NULL ? gk_silu_mul (X[at + c], U[at + c]) : X[at + c]; };
  auto store = [&](int c, float v) {
    __half h = __float2half_rn (v);
    int p = (c & ~31) | ((c & 2) << 3) | ((c & 1) << 3) | ((c >> 2) & 6) | ((c >> 2) & 1);
    hi[i * cols + p] = __half_as_ushort (h);
    if (lo != NULL) {
      float hv = __half2float (h);
      lo[i * cols + p] = isfinite (hv) ? __half_as_ushort (__float2half_rn (v - hv)) : 0;
    }
  };
  constexpr int NV = VPT > 0 ? VPT : 1;
  float m = 0.0f, v[NV];
  if (VPT > 0) {
#pragma unroll
    for (int k = 0; k < NV; k++) {
      int c = threadIdx.x + k * blockDim.x;
      v[k] = c < cols ? value (c) : 0.0f;
      m = fmaxf (m, isfinite (v[k]) ? fabsf (v[k]) : INFINITY);
    }
  } else {
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      float x = value (c);
      m = fmaxf (m, isfinite (x) ? fabsf (x) : INFINITY);
    }
  }
  const float s = gk_f16_range_scale (gk_block_max (m, red));
  if (threadIdx.x == 0)
    xscale[i] = 1.0f / s;                       /* exact: a power of two */
  if (VPT > 0) {
#pragma unroll
    for (int k = 0; k < NV; k++) {
      int c = threadIdx.x + k * blockDim.x;
      if (c < cols)
        store (c, v[k] * s);
    }
  } else {
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
      store (c, value (c) * s);
  }
}

/* One block; dynamic shared memory: counts [E], fill positions [E]. */
__global__ void __launch_bounds__ (1024)
moe_group_block_kernel (int32_t *offsets, int32_t *tok, int32_t *slot, float *w,
                        const int32_t *idx, const float *weight, int T, int K, int E)
{
  extern __shared__ int32_t sh[];
  int32_t *count = sh, *fill = sh + E;
  int n = T * K;
  for (int e = threadIdx.x; e < E; e += blockDim.x)
    count[e] = 0;
  __syncthreads ();
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    int e = idx[i];
    if (e >= 0 && e < E)
      atomicAdd (&count[e], 1);
  }
  __syncthreads ();
  if (threadIdx.x == 0) {        /* E is small (64): a serial scan is a few hundred cycles */
    int32_t at = 0;
    for (int e = 0; e < E; e++) {
      offsets[e] = at;
      fill[e] = at;
      at += count[e];
    }
    offsets[E] = at;
  }
  __syncthreads ();
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    int e = idx[i];
    if (e < 0 || e >= E)
      continue;
    int p = atomicAdd (&fill[e], 1);
    tok[p] = i / K;
    slot[p] = i % K;
    w[p] = weight[i];
  }
}

extern "C" cudaError_t
gk_dequant_bf16 (uint16_t *dst, const GkMatrix *w, cudaStream_t stream)
{
  if (w->format != GK_WEIGHT_NVFP4 || w->cols % 16 != 0)
    return cudaErrorNotSupported;
  size_t n_blocks = (size_t) w->rows * (size_t) (w->cols / 16);
  if (n_blocks == 0)
    return cudaSuccess;
  unsigned grid = (unsigned) MIN_GRID (GK_CEIL_DIV (n_blocks, 256), 8192);
  const uint8_t *q = (const uint8_t *) w->data;
  if ((uintptr_t) dst % 16 != 0)
    return cudaErrorMisalignedAddress;
  if ((uintptr_t) q % 8 == 0)
    dequant_bf16_nvfp4_kernel<true><<<grid, 256, 0, stream>>> (dst, q, w->scales, n_blocks);
  else
    dequant_bf16_nvfp4_kernel<false><<<grid, 256, 0, stream>>> (dst, q, w->scales, n_blocks);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_split_bf16 (uint16_t *hi, uint16_t *lo, const float *X, int ldx, const int32_t *rows, int n,
               int cols, cudaStream_t stream)
{
  if (n <= 0 || cols <= 0)
    return cudaSuccess;
  int threads = cols >= 256 ? 256 : (int) GK_CEIL_DIV (cols, 32) * 32;
  split_bf16_kernel<<<n, threads, 0, stream>>> (hi, lo, X, ldx, rows, cols);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_split_f16_mma (uint16_t *hi, uint16_t *lo, float *xscale, const float *X, const float *U,
                  int ldx, const int32_t *rows, int n, int cols, cudaStream_t stream)
{
  if (cols % 32 != 0)
    return cudaErrorNotSupported;
  if (n <= 0 || cols <= 0)
    return cudaSuccess;
  int threads = cols >= 256 ? 256 : cols;
  if (cols <= 8 * threads)
    split_f16_mma_kernel<8><<<n, threads, 0, stream>>> (hi, lo, xscale, X, U, ldx, rows, cols);
  else if (cols <= 16 * threads)
    split_f16_mma_kernel<16><<<n, threads, 0, stream>>> (hi, lo, xscale, X, U, ldx, rows, cols);
  else
    split_f16_mma_kernel<0><<<n, threads, 0, stream>>> (hi, lo, xscale, X, U, ldx, rows, cols);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_moe_group (int32_t *offsets, int32_t *tok, int32_t *slot, float *w, const int32_t *idx,
              const float *weight, int T, int K, int E, cudaStream_t stream)
{
  if (E <= 0 || (size_t) E * 8 > 48 * 1024)
    return cudaErrorNotSupported;
  moe_group_block_kernel<<<1, 1024, (size_t) E * 8, stream>>> (offsets, tok, slot, w, idx, weight,
                                                               T, K, E);
  return gk_check_launch ();
}
