/* gemv.cu: grouped matrix-vector products for decode-sized batches (T <= 8 tokens), weights
 * streamed once from device memory in their stored format (NVFP4, BF16, F16, F32), float32
 * activations and accumulation; optional fused SwiGLU (silu(W.x) * (W2.x)).
 * SPDX-License-Identifier: MIT
 * Shapes: W [rows, cols], x [T, cols] (stride x_stride), y [T, rows] (stride y_stride).
 * Architectures: sm_80, 86, 89, 90. CPU reference: engine/cpu/cpu-ops.c glim_cpu_linear.
 * One warp per output row; each lane takes 8 consecutive columns per step (4 packed bytes of
 * NVFP4, 16 bytes of BF16), so a warp reads 128-512 contiguous bytes per step. */
#include "common.cuh"

#define GEMV_WARPS 8

/* ---- device helpers ---- */

/* Dot of 8 weights starting at column c of row r with 8 x values for each token. */
template <int T>
__device__ __forceinline__ void
gemv_step (const GkMatrix &w, size_t row_off, int c, const float *x, int x_stride, float *acc)
{
  float wv[8];
  if (w.format == GK_WEIGHT_NVFP4) {
    uint32_t q = *(const uint32_t *) ((const uint8_t *) w.data + (row_off + c) / 2);
    float s = gk_fp8_e4m3 (w.scales[(row_off + c) / 16]) * w.scale2;
#pragma unroll
    for (int i = 0; i < 8; i++)
      wv[i] = gk_e2m1 ((q >> (4 * i)) & 0xf) * s;
  } else if (w.format == GK_WEIGHT_BF16) {
    uint4 q = *(const uint4 *) ((const uint16_t *) w.data + row_off + c);
    const uint32_t u[4] = { q.x, q.y, q.z, q.w };
#pragma unroll
    for (int i = 0; i < 4; i++) {
      wv[2 * i] = __uint_as_float (u[i] << 16);
      wv[2 * i + 1] = __uint_as_float (u[i] & 0xffff0000u);
    }
  } else if (w.format == GK_WEIGHT_F16) {
    const uint16_t *p = (const uint16_t *) w.data + row_off + c;
#pragma unroll
    for (int i = 0; i < 8; i++)
      wv[i] = gk_half (p[i]);
  } else {
    const float4 *p = (const float4 *) ((const float *) w.data + row_off + c);
    float4 a = p[0], b = p[1];
    wv[0] = a.x; wv[1] = a.y; wv[2] = a.z; wv[3] = a.w;
    wv[4] = b.x; wv[5] = b.y; wv[6] = b.z; wv[7] = b.w;
  }
#pragma unroll
  for (int t = 0; t < T; t++) {
    const float4 *xp = (const float4 *) (x + (size_t) t * x_stride + c);
    float4 a = xp[0], b = xp[1];
    acc[t] += wv[0] * a.x + wv[1] * a.y + wv[2] * a.z + wv[3] * a.w +
              wv[4] * b.x + wv[5] * b.y + wv[6] * b.z + wv[7] * b.w;
  }
}

/* ---- kernels ---- */

template <int T, int MODE>
__global__ void __launch_bounds__ (GEMV_WARPS * 32)
gemv_warp_per_row_kernel (const GkGemvGroup *groups, int t_override)
{
  const GkGemvGroup g = groups[blockIdx.y];
  int n_tok = t_override > 0 ? t_override : g.T;
  if (n_tok != T)
    return;                       /* the launcher runs one instance per distinct T */
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int row = blockIdx.x * GEMV_WARPS + warp;
  if (row >= g.w.rows)
    return;
  size_t row_off = (size_t) row * (size_t) g.w.cols;
  float acc[T], acc2[T];
#pragma unroll
  for (int t = 0; t < T; t++)
    acc[t] = acc2[t] = 0.0f;
  for (int c = lane * 8; c < g.w.cols; c += 32 * 8) {
    gemv_step<T> (g.w, row_off, c, g.x, g.x_stride, acc);
    if (MODE == GK_GEMV_SWIGLU)
      gemv_step<T> (g.w2, row_off, c, g.x, g.x_stride, acc2);
  }
#pragma unroll
  for (int t = 0; t < T; t++) {
    float v = gk_warp_sum (acc[t]);
    if (MODE == GK_GEMV_SWIGLU) {
      float u = gk_warp_sum (acc2[t]);
      v = v / (1.0f + expf (-v)) * u;
    }
    if (lane == 0)
      g.y[(size_t) t * g.y_stride + row] = g.alpha * v;
  }
}

/* ---- launchers ---- */

template <int MODE>
static void
launch_all_t (const GkGemvGroup *groups, int n_groups, int max_rows, int T, cudaStream_t stream)
{
  dim3 grid (GK_CEIL_DIV (max_rows, GEMV_WARPS), n_groups);
  dim3 block (GEMV_WARPS * 32);
  /* With a T override only that instance runs; per-group T (MoE) is 0 or 1. */
  switch (T) {
  case 0:
  case 1: gemv_warp_per_row_kernel<1, MODE><<<grid, block, 0, stream>>> (groups, T); break;
  case 2: gemv_warp_per_row_kernel<2, MODE><<<grid, block, 0, stream>>> (groups, T); break;
  case 3: gemv_warp_per_row_kernel<3, MODE><<<grid, block, 0, stream>>> (groups, T); break;
  case 4: gemv_warp_per_row_kernel<4, MODE><<<grid, block, 0, stream>>> (groups, T); break;
  case 5: gemv_warp_per_row_kernel<5, MODE><<<grid, block, 0, stream>>> (groups, T); break;
  case 6: gemv_warp_per_row_kernel<6, MODE><<<grid, block, 0, stream>>> (groups, T); break;
  case 7: gemv_warp_per_row_kernel<7, MODE><<<grid, block, 0, stream>>> (groups, T); break;
  case 8: gemv_warp_per_row_kernel<8, MODE><<<grid, block, 0, stream>>> (groups, T); break;
  }
}

extern "C" cudaError_t
gk_gemv (const GkGemvGroup *groups, int n_groups, int max_rows, int mode, int T,
         cudaStream_t stream)
{
  if (T < 0 || T > GK_GEMV_MAX_T || n_groups <= 0 || max_rows <= 0)
    return cudaErrorInvalidValue;
  if (mode == GK_GEMV_SWIGLU)
    launch_all_t<GK_GEMV_SWIGLU> (groups, n_groups, max_rows, T, stream);
  else
    launch_all_t<GK_GEMV_PLAIN> (groups, n_groups, max_rows, T, stream);
  return gk_check_launch ();
}
