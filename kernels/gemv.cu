/* gemv.cu: grouped matrix-vector products for decode-sized batches (T <= 8 tokens), weights
 * streamed once from device memory in their stored format (NVFP4, BF16, F16, F32), float32
 * activations and accumulation; optional RMSNorm of x (the residual stream) folded in, optional
 * fused SwiGLU (silu(W.x) * (W2.x)), optional accumulation into y (the residual add).
 * SPDX-License-Identifier: MIT
 * Shapes: W [rows, cols], x [T, cols] (stride x_stride), y [T, rows] (stride y_stride).
 * Architectures: sm_80, 86, 89, 90. CPU reference: engine/cpu/cpu-ops.c glim_cpu_linear.
 *
 * Decode is bound by weight bytes and by latency, so every warp must have its loads in flight
 * at once: WPR warps share a row (each takes every WPR-th 256-column step), a lane takes 8
 * consecutive columns per step (4 packed bytes of NVFP4, 16 bytes of BF16), and UNROLL steps
 * are loaded before any is used. RMSNorm needs the whole row's sum of squares: each warp sums
 * x^2 over the columns it reads, the row's warps add them up, and the norm's scalar is applied
 * to the finished dot product: sum W (x * nw * inv) = inv * sum W (x * nw). */
#include "common.cuh"

#define GEMV_WARPS 8
#define GEMV_UNROLL 4
#define GEMV_STEP (32 * 8)             /* columns a warp covers per step */

/* ---- device helpers ---- */

/* The 8 E2M1 codes of q through the 16-entry table (64-byte aligned in shared memory): each
 * code's address is one shift and one LOP3 away ((q >> k) & 0x3c | base), with no separate
 * index scaling or base add; in plain C the compiler adds the base with an extra IMAD per code. */
__device__ __forceinline__ void
lut_e2m1x8 (uint32_t q, const float *lut, float *wv)
{
  const uint32_t base = (uint32_t) __cvta_generic_to_shared (lut);
  asm ("ld.shared.f32 %0, [%1];" : "=f"(wv[0]) : "r"(base | ((q << 2) & 0x3c)));
#pragma unroll
  for (int i = 1; i < 8; i++)
    asm ("ld.shared.f32 %0, [%1];" : "=f"(wv[i]) : "r"(base | ((q >> (4 * i - 2)) & 0x3c)));
}

/* acc[t] += scale * (the 8 weights . x[t]) for T tokens */
template <int T>
__device__ __forceinline__ void
dot8 (const float *wv, const float (*xv)[8], float scale, float *acc)
{
#pragma unroll
  for (int t = 0; t < T; t++) {
    float d = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; i++)
      d += wv[i] * xv[t][i];
    acc[t] += d * scale;
  }
}

/* 8 weights at column c of the row starting at element row_off; NVFP4 without its scale2
 * (applied to the finished dot product, as in the fast path). */
__device__ __forceinline__ void
load_w8 (const GkMatrix &w, size_t row_off, int c, float *wv, const float *lut)
{
  if (w.format == GK_WEIGHT_NVFP4) {
    uint32_t q = __ldg ((const uint32_t *) ((const uint8_t *) w.data + (row_off + c) / 2));
    float s = gk_fp8_e4m3 (__ldg (w.scales + (row_off + c) / 16));
#pragma unroll
    for (int i = 0; i < 8; i++)
      wv[i] = lut[(q >> (4 * i)) & 0xf] * s;
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

/* x'[t, c..c+8) = x * nw (the norm's scalar comes later); ss[t] += x^2 when normalising. */
template <int T>
__device__ __forceinline__ void
load_x8 (const GkGemvGroup &g, int c, float (*xv)[8], float *ss)
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
      for (int i = 0; i < 8; i++) {
        ss[t] += xv[t][i] * xv[t][i];
        xv[t][i] *= nw[i];
      }
  }
}

/* One warp's share of RPW NVFP4 rows (both matrices NVFP4 for SWIGLU): steps first,
 * first + WPR, ... Each row's weight and scale pointers are computed once and advance through
 * the columns, so every load is a pointer plus a constant (no per-load address arithmetic and no
 * re-read descriptors); rows past the matrix read its last row and their sums are dropped by the
 * caller. The U steps' loads of all rows go out before any is used; x is loaded once per step and
 * used for all RPW rows (x is fp32, 8x the bytes of the NVFP4 weights it meets, so reusing it
 * across rows is what keeps L1 from becoming the limit). Weights do not depend on the previous
 * kernel, so the first steps' loads are issued before gk_pdl_wait. */
template <int T, int MODE, int RPW, int WPR>
__device__ __forceinline__ void
gemv_warp_fp4 (const GkGemvGroup &g, int row0, int first, int lane, const float *lut,
               float (*acc)[T], float (*acc2)[T], float *ss)
{
  constexpr bool SW = MODE == GK_GEMV_SWIGLU;
  constexpr int STRIDE = GEMV_STEP * WPR;         /* columns from one step to the warp's next */
  constexpr int U = SW ? GEMV_UNROLL / 2 : GEMV_UNROLL;   /* 2 x RPW x U words: <= 128 regs */
  const int cols = g.w.cols, last = g.w.rows - 1;
  const int c_begin = first * GEMV_STEP + lane * 8;
  const uint8_t *wq[RPW], *ws[RPW], *wq2[RPW], *ws2[RPW];
#pragma unroll
  for (int r = 0; r < RPW; r++) {
    size_t off = (size_t) min (row0 + r, last) * cols + c_begin;
    wq[r] = (const uint8_t *) g.w.data + off / 2;
    ws[r] = g.w.scales + off / 16;
    if (SW) {
      wq2[r] = (const uint8_t *) g.w2.data + off / 2;
      ws2[r] = g.w2.scales + off / 16;
    }
  }
  uint32_t q[RPW][U], q2[RPW][U], s[RPW][U], s2[RPW][U];
  auto load = [&] (int c0) {
#pragma unroll
    for (int u = 0; u < U; u++) {
      bool in = c0 + u * STRIDE < cols;
#pragma unroll
      for (int r = 0; r < RPW; r++) {
        q[r][u] = in ? __ldg ((const uint32_t *) (wq[r] + u * STRIDE / 2)) : 0u;
        s[r][u] = in ? __ldg (ws[r] + u * STRIDE / 16) : 0u;
        if (SW) {
          q2[r][u] = in ? __ldg ((const uint32_t *) (wq2[r] + u * STRIDE / 2)) : 0u;
          s2[r][u] = in ? __ldg (ws2[r] + u * STRIDE / 16) : 0u;
        }
      }
    }
#pragma unroll
    for (int r = 0; r < RPW; r++) {
      wq[r] += U * STRIDE / 2;
      ws[r] += U * STRIDE / 16;
      if (SW) {
        wq2[r] += U * STRIDE / 2;
        ws2[r] += U * STRIDE / 16;
      }
    }
  };
  if (c_begin < cols)
    load (c_begin);
  gk_pdl_wait ();         /* x (and y when accumulating) come from the previous kernel */
  for (int c0 = c_begin; c0 < cols; c0 += STRIDE * U) {
#pragma unroll
    for (int u = 0; u < U; u++) {
      int c = c0 + u * STRIDE;
      if (c >= cols)
        break;
      float xv[T][8], wv[8];
      load_x8<T> (g, c, xv, ss);
#pragma unroll
      for (int r = 0; r < RPW; r++) {
        lut_e2m1x8 (q[r][u], lut, wv);
        dot8<T> (wv, xv, gk_fp8_e4m3_fast (s[r][u]), acc[r]);
        if (SW) {
          lut_e2m1x8 (q2[r][u], lut, wv);
          dot8<T> (wv, xv, gk_fp8_e4m3_fast (s2[r][u]), acc2[r]);
        }
      }
    }
    if (c0 + STRIDE * U < cols)
      load (c0 + STRIDE * U);
  }
}

/* The same for BF16, F16 and F32 weights (and mixed pairs): one warp's share of RPW rows. */
template <int T, int MODE, int RPW>
__device__ __forceinline__ void
gemv_warp_share (const GkGemvGroup &g, int row0, int n_rows, int first, int wpr, int lane,
                 const float *lut, float (*acc)[T], float (*acc2)[T], float *ss)
{
  const int cols = g.w.cols;
  const int stride = GEMV_STEP * wpr;
  gk_pdl_wait ();         /* x (and y when accumulating) come from the previous kernel */
  for (int c0 = first * GEMV_STEP + lane * 8; c0 < cols; c0 += stride * GEMV_UNROLL) {
#pragma unroll
    for (int u = 0; u < GEMV_UNROLL; u++) {
      int c = c0 + u * stride;
      if (c >= cols)
        break;
      float xv[T][8];
      load_x8<T> (g, c, xv, ss);
#pragma unroll
      for (int r = 0; r < RPW; r++) {
        if (r >= n_rows)
          break;
        size_t row_off = (size_t) (row0 + r) * cols;
        float wv[8];
        load_w8 (g.w, row_off, c, wv, lut);
        dot8<T> (wv, xv, 1.0f, acc[r]);
        if (MODE == GK_GEMV_SWIGLU) {
          load_w8 (g.w2, row_off, c, wv, lut);
          dot8<T> (wv, xv, 1.0f, acc2[r]);
        }
      }
    }
  }
}

/* ---- kernels ---- */

/* Block: GEMV_WARPS warps; WPR warps share RPW rows, so a block covers
 * (GEMV_WARPS / WPR) * RPW rows; grid (row blocks, groups). */
template <int T, int MODE, int RPW, int WPR>
__global__ void __launch_bounds__ (GEMV_WARPS * 32, 2)
gemv_split_row_kernel (const GkGemvGroup *groups, int t_override, int early)
{
  __shared__ __align__ (64) float lut[16];      /* lut_e2m1x8 ORs offsets into its address */
  __shared__ float part[GEMV_WARPS][2 * RPW + 1][T];   /* per warp: dots, dots2, sum of squares */
  gk_pdl_launch_dependents ();
  if (!early)
    gk_pdl_wait ();               /* the descriptors may be the previous kernel's output */
  if (threadIdx.x < 16)
    lut[threadIdx.x] = gk_e2m1 (threadIdx.x);
  __syncthreads ();
  const GkGemvGroup &g = groups[blockIdx.y];
  int n_tok = t_override > 0 ? t_override : g.T;
  const int rows_per_block = (GEMV_WARPS / WPR) * RPW;
  if (n_tok != T || blockIdx.x * rows_per_block >= g.w.rows) {
    /* another instance has this group (one per distinct T), or the whole block is idle (no
     * barrier below is reached); finish only after what this grid depends on */
    gk_pdl_wait ();
    return;
  }
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int row0 = blockIdx.x * rows_per_block + (warp / WPR) * RPW;
  int n_rows = min (RPW, g.w.rows - row0);
  float acc[RPW][T], acc2[RPW][T], ss[T];
#pragma unroll
  for (int t = 0; t < T; t++) {
    ss[t] = 0.0f;
#pragma unroll
    for (int r = 0; r < RPW; r++)
      acc[r][t] = acc2[r][t] = 0.0f;
  }
  const bool fp4 = g.w.format == GK_WEIGHT_NVFP4 &&
                   (MODE == GK_GEMV_PLAIN || g.w2.format == GK_WEIGHT_NVFP4);
  if (n_rows > 0 && fp4)
    gemv_warp_fp4<T, MODE, RPW, WPR> (g, row0, warp % WPR, lane, lut, acc, acc2, ss);
  else if (n_rows > 0)
    gemv_warp_share<T, MODE, RPW> (g, row0, n_rows, warp % WPR, WPR, lane, lut, acc, acc2, ss);
  gk_pdl_wait ();                 /* every thread: it reads y below, and idle warps too */
#pragma unroll
  for (int t = 0; t < T; t++) {
#pragma unroll
    for (int r = 0; r < RPW; r++) {
      float a = gk_warp_sum (acc[r][t]);
      float b = MODE == GK_GEMV_SWIGLU ? gk_warp_sum (acc2[r][t]) : 0.0f;
      if (lane == 0) {
        part[warp][r][t] = a;
        part[warp][RPW + r][t] = b;
      }
    }
    float q = g.norm_w != nullptr ? gk_warp_sum (ss[t]) : 0.0f;
    if (lane == 0)
      part[warp][2 * RPW][t] = q;
  }
  __syncthreads ();
  /* the first warp of each row group writes: lane = (row r, token t) */
  if (warp % WPR != 0 || lane >= RPW * T)
    return;
  int r = lane / T, t = lane % T;
  if (r >= n_rows)
    return;
  float a = 0.0f, b = 0.0f, q = 0.0f;
  for (int w = warp; w < warp + WPR; w++) {
    a += part[w][r][t];
    b += part[w][RPW + r][t];
    q += part[w][2 * RPW][t];
  }
  float inv = g.norm_w != nullptr ? rsqrtf (q / (float) g.w.cols + g.norm_eps) : 1.0f;
  float s1 = g.w.format == GK_WEIGHT_NVFP4 ? g.w.scale2 : 1.0f;     /* both paths leave scale2 */
  float s2 = g.w2.format == GK_WEIGHT_NVFP4 ? g.w2.scale2 : 1.0f;   /* to this point */
  float v = a * s1 * inv;
  if (MODE == GK_GEMV_SWIGLU) {
    v = gk_silu_mul (v, b * s2 * inv);
  }
  float *y = g.y + (size_t) t * g.y_stride + row0 + r;
  *y = g.accumulate ? *y + g.alpha * v : g.alpha * v;
}

/* ---- launchers ---- */

template <int T, int MODE, int RPW, int WPR>
static void
launch_shape (const GkGemvGroup *groups, int n_groups, int max_rows, int t_override, int flags,
              cudaStream_t stream)
{
  int early = (flags & GK_GEMV_EARLY) != 0;
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg =
      gk_launch_config (dim3 (GK_CEIL_DIV (max_rows, (GEMV_WARPS / WPR) * RPW), n_groups),
                        dim3 (GEMV_WARPS * 32), 0, stream, early, &attr);
  cudaLaunchKernelEx (&cfg, gemv_split_row_kernel<T, MODE, RPW, WPR>, groups, t_override, early);
}

template <int T, int MODE>
static void
launch_t (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols, int t_override,
          int flags, cudaStream_t stream)
{
  /* Rows per warp reuse x (T = 1 needs it most); warps per row split long rows until about
   * 12 warps per SM stream weights, each warp keeping 2 steps or more. Tuned on the H200 for
   * the GLM-4.7-Flash shapes: 24, 32 or 64 warps per SM, or 1 step per warp, were slower, and
   * 16 gave o_proj 8 warps a row where 4 take 5.3 us instead of 6.5 (bench-gemv;
   * docs/PERFORMANCE.md). Chunks of 2-8 tokens follow the same rule, not measured apart. */
  const int sms = gk_device_sms (132);
  const int rpw = T == 1 ? 4 : 1;
  long warps_wanted = (long) sms * 12;
  int steps = GK_CEIL_DIV (max_cols, GEMV_STEP);
  long row_warps = (long) GK_CEIL_DIV (max_rows, rpw) * n_groups;
  int wpr = 1;
  while (wpr < 8 && row_warps * wpr < warps_wanted && steps / (2 * wpr) >= 2)
    wpr *= 2;
  int forced = (flags >> 8) & 0xf;                  /* GK_GEMV_WPR(n) */
  if (forced == 1 || forced == 2 || forced == 4 || forced == 8)
    wpr = forced;
  if constexpr (T == 1) {
    switch (wpr) {
    case 1: launch_shape<T, MODE, 4, 1> (groups, n_groups, max_rows, t_override, flags, stream); break;
    case 2: launch_shape<T, MODE, 4, 2> (groups, n_groups, max_rows, t_override, flags, stream); break;
    case 4: launch_shape<T, MODE, 4, 4> (groups, n_groups, max_rows, t_override, flags, stream); break;
    default: launch_shape<T, MODE, 4, 8> (groups, n_groups, max_rows, t_override, flags, stream); break;
    }
  } else {
    switch (wpr) {
    case 1: launch_shape<T, MODE, 1, 1> (groups, n_groups, max_rows, t_override, flags, stream); break;
    case 2: launch_shape<T, MODE, 1, 2> (groups, n_groups, max_rows, t_override, flags, stream); break;
    case 4: launch_shape<T, MODE, 1, 4> (groups, n_groups, max_rows, t_override, flags, stream); break;
    default: launch_shape<T, MODE, 1, 8> (groups, n_groups, max_rows, t_override, flags, stream); break;
    }
  }
}

template <int MODE>
static void
launch_mode (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols, int T,
             int flags, cudaStream_t stream)
{
  switch (T) {
  case 0:
  case 1: launch_t<1, MODE> (groups, n_groups, max_rows, max_cols, T, flags, stream); break;
  case 2: launch_t<2, MODE> (groups, n_groups, max_rows, max_cols, T, flags, stream); break;
  case 3: launch_t<3, MODE> (groups, n_groups, max_rows, max_cols, T, flags, stream); break;
  case 4: launch_t<4, MODE> (groups, n_groups, max_rows, max_cols, T, flags, stream); break;
  case 5: launch_t<5, MODE> (groups, n_groups, max_rows, max_cols, T, flags, stream); break;
  case 6: launch_t<6, MODE> (groups, n_groups, max_rows, max_cols, T, flags, stream); break;
  case 7: launch_t<7, MODE> (groups, n_groups, max_rows, max_cols, T, flags, stream); break;
  case 8: launch_t<8, MODE> (groups, n_groups, max_rows, max_cols, T, flags, stream); break;
  }
}

extern "C" cudaError_t
gk_gemv (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols, int mode, int T,
         int flags, cudaStream_t stream)
{
  if (T < 0 || T > GK_GEMV_MAX_T || n_groups <= 0 || max_rows <= 0 || max_cols <= 0)
    return cudaErrorInvalidValue;
  if (mode == GK_GEMV_SWIGLU)
    launch_mode<GK_GEMV_SWIGLU> (groups, n_groups, max_rows, max_cols, T, flags, stream);
  else
    launch_mode<GK_GEMV_PLAIN> (groups, n_groups, max_rows, max_cols, T, flags, stream);
  return gk_check_launch ();
}
