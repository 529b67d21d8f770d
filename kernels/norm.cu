/* norm.cu: row-wise small ops: RMSNorm with fused residual add, embedding lookup, add, argmax,
 * and the float32 -> bf16 conversion of the prefill path.
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90. CPU references: engine/cpu/cpu-ops.c glim_cpu_rmsnorm,
 * glim_weight_row_to_f32 (embedding), glim_argmax (engine/glim-sampler.c). */
#include <float.h>
#include <limits.h>

#include "common.cuh"

/* ---- kernels ---- */

__global__ void __launch_bounds__ (256)
rmsnorm_block_per_row_kernel (float *y, float *x, const float *res, const float *w, int d,
                              int x_stride, int y_stride, float eps)
{
  __shared__ float red[32];
  float *xr = x + (size_t) blockIdx.x * x_stride;
  const float *rr = res ? res + (size_t) blockIdx.x * d : nullptr;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float v = xr[i];
    if (rr) {
      v += rr[i];
      xr[i] = v;
    }
    ss += v * v;
  }
  ss = gk_block_sum (ss, red);
  if (y == nullptr)
    return;
  float r = rsqrtf (ss / (float) d + eps);
  float *yr = y + (size_t) blockIdx.x * y_stride;
  for (int i = threadIdx.x; i < d; i += blockDim.x)
    yr[i] = w[i] * (xr[i] * r);
}

__global__ void
embed_kernel (float *out, const void *table, int format, const int32_t *ids, int d)
{
  size_t row = (size_t) ids[blockIdx.x] * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float v;
    if (format == GK_WEIGHT_BF16)
      v = gk_bf16 (((const uint16_t *) table)[row + i]);
    else if (format == GK_WEIGHT_F16)
      v = gk_half (((const uint16_t *) table)[row + i]);
    else
      v = ((const float *) table)[row + i];
    out[(size_t) blockIdx.x * d + i] = v;
  }
}

#define ARGMAX_BLOCKS 128

/* (value, index) reduction with ties to the lowest index, over a warp */
__device__ __forceinline__ void
argmax_warp (float &bv, int &bi)
{
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync (0xffffffffu, bv, o);
    int oi = __shfl_xor_sync (0xffffffffu, bi, o);
    if (ov > bv || (ov == bv && oi < bi)) {
      bv = ov;
      bi = oi;
    }
  }
}

/* ... and over a block (blockDim.x a multiple of 32); thread 0 gets the result */
__device__ __forceinline__ void
argmax_block (float &bv, int &bi)
{
  __shared__ float sv[32];
  __shared__ int si[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  argmax_warp (bv, bi);
  if (lane == 0) {
    sv[warp] = bv;
    si[warp] = bi;
  }
  __syncthreads ();
  if (warp == 0) {
    int n = blockDim.x >> 5;
    bv = lane < n ? sv[lane] : -FLT_MAX;
    bi = lane < n ? si[lane] : INT_MAX;
    argmax_warp (bv, bi);
  }
}

/* grid (ARGMAX_BLOCKS, T): each block the best of its slice of the vocabulary */
__global__ void __launch_bounds__ (256)
argmax_partial_kernel (float *pv, int *pi, const float *logits, int V)
{
  const float *l = logits + (size_t) blockIdx.y * V;
  int per = (V + gridDim.x - 1) / gridDim.x;
  int begin = blockIdx.x * per, end = min (V, begin + per);
  float bv = -FLT_MAX;
  int bi = INT_MAX;
  for (int i = begin + threadIdx.x; i < end; i += blockDim.x)
    if (l[i] > bv) {            /* strictly greater: the lowest index of each thread wins ties */
      bv = l[i];
      bi = i;
    }
  argmax_block (bv, bi);
  if (threadIdx.x == 0) {
    pv[blockIdx.y * gridDim.x + blockIdx.x] = bv;
    pi[blockIdx.y * gridDim.x + blockIdx.x] = bi;
  }
}

/* grid (T), ARGMAX_BLOCKS threads: the best of the partials */
__global__ void
argmax_final_kernel (int32_t *out, const float *pv, const int *pi)
{
  float bv = pv[blockIdx.x * blockDim.x + threadIdx.x];
  int bi = pi[blockIdx.x * blockDim.x + threadIdx.x];
  argmax_block (bv, bi);
  if (threadIdx.x == 0)
    out[blockIdx.x] = bi == INT_MAX ? 0 : bi;
}

__global__ void
f32_to_bf16_kernel (uint16_t *dst, const float *src, size_t n)
{
  size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    dst[i] = gk_to_bf16 (src[i]);
}

/* ---- launchers ---- */

extern "C" cudaError_t
gk_rmsnorm (float *y, float *x, const float *res, const float *w, int n, int d, int x_stride,
            int y_stride, float eps, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  rmsnorm_block_per_row_kernel<<<n, 256, 0, stream>>> (y, x, res, w, d, x_stride, y_stride, eps);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_embed (float *out, const void *table, int format, const int32_t *ids, int n, int d,
          cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  embed_kernel<<<n, 256, 0, stream>>> (out, table, format, ids, d);
  return gk_check_launch ();
}

extern "C" size_t
gk_argmax_scratch_bytes (int T)
{
  return (size_t) T * ARGMAX_BLOCKS * (sizeof (float) + sizeof (int));
}

extern "C" cudaError_t
gk_argmax (int32_t *out, const float *logits, int T, int V, void *scratch, cudaStream_t stream)
{
  if (T <= 0)
    return cudaSuccess;
  float *pv = (float *) scratch;
  int *pi = (int *) (pv + (size_t) T * ARGMAX_BLOCKS);
  argmax_partial_kernel<<<dim3 (ARGMAX_BLOCKS, T), 256, 0, stream>>> (pv, pi, logits, V);
  cudaError_t err = gk_check_launch ();
  if (err != cudaSuccess)
    return err;
  argmax_final_kernel<<<T, ARGMAX_BLOCKS, 0, stream>>> (out, pv, pi);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_f32_to_bf16 (uint16_t *dst, const float *src, size_t n, cudaStream_t stream)
{
  if (n == 0)
    return cudaSuccess;
  f32_to_bf16_kernel<<<(unsigned) GK_CEIL_DIV (n, 256), 256, 0, stream>>> (dst, src, n);
  return gk_check_launch ();
}

