/* gemv.cu: grouped matrix-vector products for decode-sized batches (T <= 8 tokens), weights
 * streamed once from device memory in their stored format (NVFP4, BF16, F16, F32), float32
 * activations and accumulation; optional fused SwiGLU (silu(W.x) * (W2.x)).
 * SPDX-License-Identifier: MIT
 * Shapes: W [rows, cols], x [T, cols] (stride x_stride), y [T, rows] (stride y_stride).
 * Architectures: sm_80, 86, 89, 90. CPU reference: engine/cpu/cpu-ops.c glim_cpu_linear.
 *
 * Decode is bound by weight bytes, so the kernel's job is to keep many loads in flight: each
 * warp owns RPW rows; a lane takes 8 consecutive columns per step (4 packed bytes of NVFP4,
 * 16 bytes of BF16) and UNROLL steps are loaded before any is used. A warp-load covers 128
 * (NVFP4) or 512 (BF16) contiguous bytes of a row. x is read through L1 and reused by the RPW
 * rows of the warp. */
#include "common.cuh"

#define GEMV_WARPS 8
#define GEMV_UNROLL 4
#define GEMV_STEP (32 * 8)             /* columns a warp covers per step */

/* ---- device helpers ---- */

/* 8 weights of row `row_off` (element offset of the row) at column c. */
__device__ __forceinline__ void
load_w8 (const GkMatrix &w, size_t row_off, int c, float *wv)
{
  if (w.format == GK_WEIGHT_NVFP4) {
    uint32_t q = __ldg ((const uint32_t *) ((const uint8_t *) w.data + (row_off + c) / 2));
    float s = gk_fp8_e4m3 (__ldg (w.scales + (row_off + c) / 16)) * w.scale2;
#pragma unroll
    for (int i = 0; i < 8; i++)
      wv[i] = gk_e2m1 ((q >> (4 * i)) & 0xf) * s;
  } else if (w.format == GK_WEIGHT_BF16) {
    uint4 q = __ldg ((const uint4 *) ((const uint16_t *) w.data + row_off + c));
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
    float4 a = __ldg (p), b = __ldg (p + 1);
    wv[0] = a.x; wv[1] = a.y; wv[2] = a.z; wv[3] = a.w;
    wv[4] = b.x; wv[5] = b.y; wv[6] = b.z; wv[7] = b.w;
  }
}

/* x'[t, c..c+8) for every token: x as stored, or RMS-normalised with per-token inverse RMS
 * inv[t] and weights nw. */
template <int T>
__device__ __forceinline__ void
load_x8 (const GkGemvGroup &g, int c, const float *inv, float (*xv)[8])
{
  float nw[8];
  if (g.norm_w != nullptr) {
    const float4 *np = (const float4 *) (g.norm_w + c);
    float4 a = __ldg (np), b = __ldg (np + 1);
    nw[0] = a.x; nw[1] = a.y; nw[2] = a.z; nw[3] = a.w;
    nw[4] = b.x; nw[5] = b.y; nw[6] = b.z; nw[7] = b.w;
  }
#pragma unroll
  for (int t = 0; t < T; t++) {
    const float4 *xp = (const float4 *) (g.x + (size_t) t * g.x_stride + c);
    float4 a = __ldg (xp), b = __ldg (xp + 1);
    xv[t][0] = a.x; xv[t][1] = a.y; xv[t][2] = a.z; xv[t][3] = a.w;
    xv[t][4] = b.x; xv[t][5] = b.y; xv[t][6] = b.z; xv[t][7] = b.w;
    if (g.norm_w != nullptr)
#pragma unroll
      for (int i = 0; i < 8; i++)
        xv[t][i] = nw[i] * (xv[t][i] * inv[t]);
  }
}

/* Raw loads for NVFP4 (the common case) kept apart from their decoding, so all of a warp's
 * loads are in flight before the first is used. */
struct RawNvfp4 {
  uint32_t q;
  uint8_t  s;
};

template <int T, int RPW, int MODE>
__device__ __forceinline__ void
gemv_rows_nvfp4 (const GkGemvGroup &g, int row0, int n_rows, int lane, float (*acc)[T],
                 float (*acc2)[T], const float *lut, const float *inv)
{
  const int cols = g.w.cols;
  for (int c0 = lane * 8; c0 < cols; c0 += GEMV_STEP * GEMV_UNROLL) {
    RawNvfp4 raw[RPW][GEMV_UNROLL], raw2[RPW][GEMV_UNROLL];
#pragma unroll
    for (int r = 0; r < RPW; r++)
#pragma unroll
      for (int u = 0; u < GEMV_UNROLL; u++) {
        int c = c0 + u * GEMV_STEP;
        if (r < n_rows && c < cols) {
          size_t off = (size_t) (row0 + r) * cols + c;
          raw[r][u].q = __ldg ((const uint32_t *) ((const uint8_t *) g.w.data + off / 2));
          raw[r][u].s = __ldg (g.w.scales + off / 16);
          if (MODE == GK_GEMV_SWIGLU) {
            raw2[r][u].q = __ldg ((const uint32_t *) ((const uint8_t *) g.w2.data + off / 2));
            raw2[r][u].s = __ldg (g.w2.scales + off / 16);
          }
        }
      }
#pragma unroll
    for (int u = 0; u < GEMV_UNROLL; u++) {
      int c = c0 + u * GEMV_STEP;
      if (c >= cols)
        break;
      float xv[T][8];
      load_x8<T> (g, c, inv, xv);
#pragma unroll
      for (int r = 0; r < RPW; r++) {
        if (r >= n_rows)
          break;
        float s = gk_fp8_e4m3 (raw[r][u].s);
        float wv[8];
#pragma unroll
        for (int i = 0; i < 8; i++)
          wv[i] = lut[(raw[r][u].q >> (4 * i)) & 0xf];
#pragma unroll
        for (int t = 0; t < T; t++) {
          float d = 0.0f;
#pragma unroll
          for (int i = 0; i < 8; i++)
            d += wv[i] * xv[t][i];
          acc[r][t] += d * s;
        }
        if (MODE == GK_GEMV_SWIGLU) {
          float s2 = gk_fp8_e4m3 (raw2[r][u].s);
#pragma unroll
          for (int i = 0; i < 8; i++)
            wv[i] = lut[(raw2[r][u].q >> (4 * i)) & 0xf];
#pragma unroll
          for (int t = 0; t < T; t++) {
            float d = 0.0f;
#pragma unroll
            for (int i = 0; i < 8; i++)
              d += wv[i] * xv[t][i];
            acc2[r][t] += d * s2;
          }
        }
      }
    }
  }
}

template <int T, int RPW, int MODE>
__device__ __forceinline__ void
gemv_rows_generic (const GkGemvGroup &g, int row0, int n_rows, int lane, float (*acc)[T],
                   float (*acc2)[T], const float *inv)
{
  const int cols = g.w.cols;
  for (int c = lane * 8; c < cols; c += GEMV_STEP) {
    float xv[T][8];
    load_x8<T> (g, c, inv, xv);
#pragma unroll
    for (int r = 0; r < RPW; r++) {
      if (r >= n_rows)
        break;
      size_t off = (size_t) (row0 + r) * cols;
      float wv[8];
      load_w8 (g.w, off, c, wv);
#pragma unroll
      for (int t = 0; t < T; t++)
#pragma unroll
        for (int i = 0; i < 8; i++)
          acc[r][t] += wv[i] * xv[t][i];
      if (MODE == GK_GEMV_SWIGLU) {
        load_w8 (g.w2, off, c, wv);
#pragma unroll
        for (int t = 0; t < T; t++)
#pragma unroll
          for (int i = 0; i < 8; i++)
            acc2[r][t] += wv[i] * xv[t][i];
      }
    }
  }
}

/* ---- kernels ---- */

template <int T, int RPW, int MODE>
__global__ void __launch_bounds__ (GEMV_WARPS * 32)
gemv_warp_rows_kernel (const GkGemvGroup *groups, int t_override)
{
  /* E2M1 values by code: a shared table is conflict-free (16 entries in 16 banks) and costs
   * one load per weight instead of a dozen integer instructions */
  __shared__ float lut[16];
  __shared__ float red[GEMV_WARPS][T];
  __shared__ float inv[T];
  if (threadIdx.x < 16)
    lut[threadIdx.x] = gk_e2m1 (threadIdx.x);
  const GkGemvGroup &g = groups[blockIdx.y];
  int n_tok = t_override > 0 ? t_override : g.T;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (n_tok == T && g.norm_w != nullptr) {
    /* each block normalises x itself: sum of squares per token over all columns */
    float ss[T];
#pragma unroll
    for (int t = 0; t < T; t++)
      ss[t] = 0.0f;
    for (int c = threadIdx.x; c < g.w.cols; c += blockDim.x)
#pragma unroll
      for (int t = 0; t < T; t++) {
        float v = g.x[(size_t) t * g.x_stride + c];
        ss[t] += v * v;
      }
#pragma unroll
    for (int t = 0; t < T; t++) {
      float v = gk_warp_sum (ss[t]);
      if (lane == 0)
        red[warp][t] = v;
    }
    __syncthreads ();
    if (threadIdx.x < T) {
      float v = 0.0f;
      for (int w = 0; w < GEMV_WARPS; w++)
        v += red[w][threadIdx.x];
      inv[threadIdx.x] = rsqrtf (v / (float) g.w.cols + g.norm_eps);
    }
  }
  __syncthreads ();
  if (n_tok != T)
    return;                       /* the launcher runs one instance per distinct T */
  int row0 = (blockIdx.x * GEMV_WARPS + warp) * RPW;
  if (row0 >= g.w.rows)
    return;
  int n_rows = min (RPW, g.w.rows - row0);
  float acc[RPW][T], acc2[RPW][T];
#pragma unroll
  for (int r = 0; r < RPW; r++)
#pragma unroll
    for (int t = 0; t < T; t++)
      acc[r][t] = acc2[r][t] = 0.0f;
  if (g.w.format == GK_WEIGHT_NVFP4 && (MODE == GK_GEMV_PLAIN || g.w2.format == GK_WEIGHT_NVFP4))
    gemv_rows_nvfp4<T, RPW, MODE> (g, row0, n_rows, lane, acc, acc2, lut, inv);
  else
    gemv_rows_generic<T, RPW, MODE> (g, row0, n_rows, lane, acc, acc2, inv);
  float s2 = g.w.format == GK_WEIGHT_NVFP4 ? g.w.scale2 : 1.0f;
  float s2b = g.w2.format == GK_WEIGHT_NVFP4 ? g.w2.scale2 : 1.0f;
  if (g.w.format != GK_WEIGHT_NVFP4 || (MODE == GK_GEMV_SWIGLU && g.w2.format != GK_WEIGHT_NVFP4)) {
    /* the generic path applies scale2 inside load_w8 */
    s2 = 1.0f;
    s2b = 1.0f;
  }
#pragma unroll
  for (int r = 0; r < RPW; r++)
#pragma unroll
    for (int t = 0; t < T; t++) {
      float v = gk_warp_sum (acc[r][t]) * s2;
      if (MODE == GK_GEMV_SWIGLU) {
        float u = gk_warp_sum (acc2[r][t]) * s2b;
        v = v / (1.0f + expf (-v)) * u;
      }
      if (lane == 0 && r < n_rows) {
        float *y = g.y + (size_t) t * g.y_stride + row0 + r;
        *y = g.accumulate ? *y + g.alpha * v : g.alpha * v;
      }
    }
}

/* ---- launchers ---- */

template <int T, int MODE>
static void
launch_t (const GkGemvGroup *groups, int n_groups, int max_rows, int t_override,
          cudaStream_t stream)
{
  /* Four rows per warp when that still gives every SM a few blocks; otherwise one. */
  if ((size_t) max_rows * n_groups >= (size_t) 4 * GEMV_WARPS * 4 * 132) {
    dim3 grid (GK_CEIL_DIV (max_rows, GEMV_WARPS * 4), n_groups);
    gemv_warp_rows_kernel<T, 4, MODE><<<grid, GEMV_WARPS * 32, 0, stream>>> (groups, t_override);
  } else {
    dim3 grid (GK_CEIL_DIV (max_rows, GEMV_WARPS), n_groups);
    gemv_warp_rows_kernel<T, 1, MODE><<<grid, GEMV_WARPS * 32, 0, stream>>> (groups, t_override);
  }
}

template <int MODE>
static void
launch_mode (const GkGemvGroup *groups, int n_groups, int max_rows, int T, cudaStream_t stream)
{
  switch (T) {
  case 0:
  case 1: launch_t<1, MODE> (groups, n_groups, max_rows, T, stream); break;
  case 2: launch_t<2, MODE> (groups, n_groups, max_rows, T, stream); break;
  case 3: launch_t<3, MODE> (groups, n_groups, max_rows, T, stream); break;
  case 4: launch_t<4, MODE> (groups, n_groups, max_rows, T, stream); break;
  case 5: launch_t<5, MODE> (groups, n_groups, max_rows, T, stream); break;
  case 6: launch_t<6, MODE> (groups, n_groups, max_rows, T, stream); break;
  case 7: launch_t<7, MODE> (groups, n_groups, max_rows, T, stream); break;
  case 8: launch_t<8, MODE> (groups, n_groups, max_rows, T, stream); break;
  }
}

extern "C" cudaError_t
gk_gemv (const GkGemvGroup *groups, int n_groups, int max_rows, int mode, int T,
         cudaStream_t stream)
{
  if (T < 0 || T > GK_GEMV_MAX_T || n_groups <= 0 || max_rows <= 0)
    return cudaErrorInvalidValue;
  if (mode == GK_GEMV_SWIGLU)
    launch_mode<GK_GEMV_SWIGLU> (groups, n_groups, max_rows, T, stream);
  else
    launch_mode<GK_GEMV_PLAIN> (groups, n_groups, max_rows, T, stream);
  return gk_check_launch ();
}
