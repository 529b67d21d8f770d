/* prefill.cu: the small kernels around the tensor-core GEMMs of prefill: row gathers and
 * scatters for MoE, SwiGLU, causal softmax over materialised scores, query packing.
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90. CPU reference: engine/cpu/cpu-forward.c and
 * engine/cpu/cpu-attention.c (the same math, float32). */
#include <float.h>

#include "common.cuh"

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

/* ---- float32 linear for small matrices (router) ---- */

__global__ void __launch_bounds__ (256)
linear_f32_warp_per_output_kernel (float *y, const float *x, GkMatrix w, int T)
{
  size_t o = (size_t) blockIdx.x * 8 + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  if (o >= (size_t) T * w.rows)
    return;
  int t = (int) (o / w.rows), r = (int) (o % w.rows);
  const float *xr = x + (size_t) t * w.cols;
  float acc = 0.0f;
  for (int c = lane; c < w.cols; c += 32)
    acc += gk_matrix_at (w, r, c) * xr[c];
  acc = gk_warp_sum (acc);
  if (lane == 0)
    y[o] = acc;
}

extern "C" cudaError_t
gk_linear_f32 (float *y, const float *x, const GkMatrix *w, int T, cudaStream_t stream)
{
  size_t n = (size_t) T * w->rows;
  if (n == 0)
    return cudaSuccess;
  linear_f32_warp_per_output_kernel<<<(unsigned) GK_CEIL_DIV (n, 8), 256, 0, stream>>> (y, x, *w, T);
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

/* as dequant_f32_kernel, rounded to bf16 (exact for NVFP4 and BF16) */
__global__ void
dequant_bf16_kernel (uint16_t *dst, GkMatrix w)
{
  size_t n = (size_t) w.rows * (size_t) w.cols;
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (size_t) gridDim.x * blockDim.x) {
    float f;
    if (w.format == GK_WEIGHT_NVFP4) {
      uint8_t byte = ((const uint8_t *) w.data)[i / 2];
      f = gk_e2m1 ((i & 1) ? (byte >> 4) : (byte & 0xf)) * gk_fp8_e4m3 (w.scales[i / 16]);
    } else {
      f = gk_matrix_at (w, (int) (i / w.cols), (int) (i % w.cols));
    }
    dst[i] = gk_to_bf16 (f);
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
    float v = g[i];
    g[i] = v / (1.0f + expf (-v)) * u[i];
  }
}

extern "C" cudaError_t
gk_dequant_f32 (float *dst, const GkMatrix *w, cudaStream_t stream)
{
  dequant_f32_kernel<<<2048, 256, 0, stream>>> (dst, *w);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_dequant_bf16 (uint16_t *dst, const GkMatrix *w, cudaStream_t stream)
{
  dequant_bf16_kernel<<<2048, 256, 0, stream>>> (dst, *w);
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
