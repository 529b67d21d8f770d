/* gemv-dp4a.cu: one-token NVFP4 matrix-vector products in 8-bit integer dot products.
 * SPDX-License-Identifier: MIT
 * Same contract as gemv.cu (gk.h: GkGemvGroup) for one token; CPU reference:
 * engine/cpu/cpu-ops.c glim_cpu_linear (+ glim_cpu_silu_mul for SWIGLU). Architectures: sm_80,
 * 86, 89, 90 (dp4a and prmt are sm_61+).
 *
 * Why: at batch 1 the CUDA-core kernel (gemv.cu) is bound by issuing its own instructions, about
 * five per weight (a shift, a LOP3 and a shared-memory table load per E2M1 code, then the FMA;
 * docs/PERFORMANCE.md, fifth session). Here the codes become bytes in registers and dp4a
 * multiplies four of them at a time:
 * - twice an E2M1 value is an integer in [-12, 12]. Three prmt (byte permutes, one from a table of
 *   the eight magnitudes, one from their negatives, one choosing by the sign bits) turn four codes
 *   into four int8, with no memory access: 11 instructions for 8 weights;
 * - x is staged once per block as three int8 digits per element against a float scale per
 *   16 columns (the NVFP4 block): x ~= s (d0 + d1 / 254 + d2 / 254^2), |d| <= 127, an error of at
 *   most 2^-24 of the block's largest |x|, float32's own rounding. Each digit is one dp4a chain;
 *   the three chains are merged in int32 once per 16 weights, converted and scaled once;
 * - so about 2.8 instructions per weight instead of 5, and no shared-memory table in the chain.
 * Each lane takes 16 consecutive columns (8 bytes of codes, one scale byte) per 512-column step;
 * a warp takes RPW whole rows (the x digits it loads serve all of them). RMSNorm: the digits
 * are of x * norm_w, and the norm's scalar, from the sum of squares gathered while staging,
 * multiplies the finished sums. Groups of another format, or data not 8-byte aligned, run a
 * plain float loop in the same kernel (exact, slow). Staging x is a fixed cost per block: on
 * the H200 the kernel beats gemv.cu only on large launches, and splitting rows over warps (more
 * blocks, more staging) made every shape slower (docs/PERFORMANCE.md, ninth session). */
#include "common.cuh"

#define DP_WARPS 8
#define DP_THREADS (DP_WARPS * 32)
#define DP_STEP 512                        /* columns a warp covers per step */
#define DP_RADIX 254.0f

/* Twice the E2M1 magnitudes (codes 0-7) and their negatives, as prmt tables (bytes 0-7). */
#define DP_POS_LO 0x03020100u
#define DP_POS_HI 0x0C080604u
#define DP_NEG_LO 0xFDFEFF00u
#define DP_NEG_HI 0xF4F8FAFCu

__device__ __forceinline__ uint32_t
prmt (uint32_t a, uint32_t b, uint32_t sel)
{
  uint32_t d;
  asm ("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(sel));
  return d;
}

/* The 8 codes of q (column j in bits 4j..4j+3) as 8 int8 (twice their value): lo = columns
 * 0-3, hi = 4-7. */
__device__ __forceinline__ void
codes_i8 (uint32_t q, uint32_t &lo, uint32_t &hi)
{
  uint32_t mag = q & 0x77777777u;
  uint32_t sel = ((q >> 1) & 0x44444444u) | 0x32103210u;   /* byte j, or j + 4 if negative */
  uint32_t mh = mag >> 16;
  lo = prmt (prmt (DP_POS_LO, DP_POS_HI, mag), prmt (DP_NEG_LO, DP_NEG_HI, mag), sel);
  hi = prmt (prmt (DP_POS_LO, DP_POS_HI, mh), prmt (DP_NEG_LO, DP_NEG_HI, mh), sel >> 16);
}

__device__ __forceinline__ int
dp4a (uint32_t a, uint32_t b, int c)
{
  return __dp4a ((int) a, (int) b, c);
}

/* One 16-column block of one row: codes q (two words), x digits d0..d2 (16 bytes each):
 * the three digits' dot products merged, (I0 * 254 + I1) * 254 + I2, exact in int32
 * (|I0| <= 16 * 12 * 127). */
__device__ __forceinline__ int
block_dot (uint2 q, const uint4 &d0, const uint4 &d1, const uint4 &d2)
{
  uint32_t w0, w1, w2, w3;
  codes_i8 (q.x, w0, w1);
  codes_i8 (q.y, w2, w3);
  int i0 = dp4a (w3, d0.w, dp4a (w2, d0.z, dp4a (w1, d0.y, dp4a (w0, d0.x, 0))));
  int i1 = dp4a (w3, d1.w, dp4a (w2, d1.z, dp4a (w1, d1.y, dp4a (w0, d1.x, 0))));
  int i2 = dp4a (w3, d2.w, dp4a (w2, d2.z, dp4a (w1, d2.y, dp4a (w0, d2.x, 0))));
  return (i0 * 254 + i1) * 254 + i2;
}

/* 8 floats (half of a 16-column block; lanes l and l ^ 1 hold the two halves) as three int8
 * digits against the block's scale; returns the scale the block's products are multiplied by
 * (s / (2 * 254^2): the weights are doubled, the digits below d0 scaled up). Every lane of the
 * warp must call it (the halves exchange their maximum). */
__device__ __forceinline__ float
quantize8 (const float *v, uint2 &d0, uint2 &d1, uint2 &d2)
{
  float amax = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; j++)
    amax = fmaxf (amax, fabsf (v[j]));
  amax = fmaxf (amax, __shfl_xor_sync (0xffffffffu, amax, 1));
  const float r = amax > 0.0f ? 127.0f / amax : 0.0f;
  uint32_t b[3][2] = {};
#pragma unroll
  for (int j = 0; j < 8; j++) {
    float t = v[j] * r;               /* |t| <= 127 (rounding cannot reach 127.5) */
    float q0 = rintf (t);
    t = (t - q0) * DP_RADIX;          /* exact difference, |t| <= 127 */
    float q1 = rintf (t);
    t = (t - q1) * DP_RADIX;
    float q2 = rintf (t);
    const int sh = 8 * (j & 3);
    b[0][j >> 2] |= ((uint32_t) (int) q0 & 0xffu) << sh;
    b[1][j >> 2] |= ((uint32_t) (int) q1 & 0xffu) << sh;
    b[2][j >> 2] |= ((uint32_t) (int) q2 & 0xffu) << sh;
  }
  d0 = make_uint2 (b[0][0], b[0][1]);
  d1 = make_uint2 (b[1][0], b[1][1]);
  d2 = make_uint2 (b[2][0], b[2][1]);
  /* not finite: the scale carries inf/NaN into every product of the block */
  return amax / 127.0f / (2.0f * DP_RADIX * DP_RADIX);
}

/* dynamic shared memory for K columns: three digit rows, then a float per 16 columns */
static size_t
dp_smem (int K)
{
  return (size_t) 3 * K + (size_t) (K / 16) * sizeof (float);
}

/* ---- kernel ---- */

/* grid (row blocks of DP_WARPS * RPW rows, groups). early: as in gemv.cu (the descriptors and
 * weights may be read before gk_pdl_wait). */
template <int MODE, int RPW>
__global__ void __launch_bounds__ (DP_THREADS, 3)
gemv_dp4a_kernel (const GkGemvGroup *groups, int t_override, int early)
{
  constexpr bool SW = MODE == GK_GEMV_SWIGLU;
  constexpr int NM = SW ? 2 : 1;                /* matrices */
  constexpr int U = 8 / (NM * RPW) > 0 ? 8 / (NM * RPW) : 1;   /* steps whose loads are in flight
                                                 * together: 8 words of codes per lane */
  extern __shared__ __align__ (16) uint8_t dsm[];
  __shared__ float red[DP_WARPS];
  constexpr int ROWS = DP_WARPS * RPW;          /* rows per block */

  gk_pdl_launch_dependents ();
  if (!early)
    gk_pdl_wait ();
  const GkGemvGroup &g = groups[blockIdx.y];
  const int n_tok = t_override > 0 ? t_override : g.T;
  const int rows = g.w.rows, K = g.w.cols;
  if (n_tok != 1 || (int) blockIdx.x * ROWS >= rows) {
    gk_pdl_wait ();                              /* finish only after what this depends on */
    return;                                      /* whole block idle: no barrier is reached */
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row0 = blockIdx.x * ROWS + warp * RPW;
  const bool fast = g.w.format == GK_WEIGHT_NVFP4 && ((uintptr_t) g.w.data & 7) == 0 &&
                    (!SW || (g.w2.format == GK_WEIGHT_NVFP4 && g.w2.cols == K &&
                             g.w2.rows == rows && ((uintptr_t) g.w2.data & 7) == 0));
  const int n_steps = GK_CEIL_DIV (K, DP_STEP);
  const int c_lane = lane * 16;

  /* each row's codes and scale bytes at the lane's first column */
  const uint8_t *wq[NM][RPW], *ws[NM][RPW];
#pragma unroll
  for (int m = 0; m < NM; m++) {
    const GkMatrix &w = m == 0 ? g.w : g.w2;
#pragma unroll
    for (int r = 0; r < RPW; r++) {
      size_t off = (size_t) min (row0 + r, rows - 1) * K + c_lane;
      wq[m][r] = (const uint8_t *) w.data + off / 2;
      ws[m][r] = w.scales + off / 16;
    }
  }
  uint2 q[U][NM][RPW];
  uint32_t s[U][NM][RPW];
  auto load = [&] (int st) {
#pragma unroll
    for (int u = 0; u < U; u++) {
      const bool in = (st + u) * DP_STEP + c_lane < K;
#pragma unroll
      for (int m = 0; m < NM; m++)
#pragma unroll
        for (int r = 0; r < RPW; r++) {
          const size_t o = (size_t) (st + u) * DP_STEP;
          q[u][m][r] = in ? __ldg ((const uint2 *) (wq[m][r] + o / 2)) : make_uint2 (0, 0);
          s[u][m][r] = in ? __ldg (ws[m][r] + o / 16) : 0u;
        }
    }
  };
  const bool active = fast && row0 < rows;
  if (active)
    load (0);
  gk_pdl_wait ();                                /* x (and y when accumulating) */

  /* stage x: each 16-column block as three digit rows and a scale */
  uint4 *dig = (uint4 *) dsm;                    /* [3][K / 16]: 16 digits a block */
  float *bscale = (float *) (dsm + (size_t) 3 * K);
  const float *x = g.x;
  const bool norm = g.norm_w != nullptr;
  const bool xvec = ((uintptr_t) x & 15) == 0 && (!norm || ((uintptr_t) g.norm_w & 15) == 0);
  auto x4 = [&] (int c) {
    return xvec ? *(const float4 *) (x + c) : make_float4 (x[c], x[c + 1], x[c + 2], x[c + 3]);
  };
  /* 8 columns a thread, all threads (the warp's lanes in pairs per 16-column block). The digits
   * are of x * norm_w; the norm's scalar, from the sum of squares gathered in the same pass,
   * multiplies the finished sums (sum W (x * nw * inv) = inv * sum W (x * nw)). */
  const int n_blk = K / 16;
  uint2 *dig2 = (uint2 *) dsm;                   /* the same, in half blocks (a thread's 8) */
  float ss = 0.0f;
  for (int base = 0; base < K; base += DP_THREADS * 8) {     /* uniform trip count */
    const int c = base + threadIdx.x * 8;
    float v[8] = {};
    if (c < K) {
#pragma unroll
      for (int j = 0; j < 8; j += 4) {
        float4 a = x4 (c + j);
        float4 n = !norm ? make_float4 (1.0f, 1.0f, 1.0f, 1.0f)
                   : xvec ? __ldg ((const float4 *) (g.norm_w + c + j))
                          : make_float4 (g.norm_w[c + j], g.norm_w[c + j + 1],
                                         g.norm_w[c + j + 2], g.norm_w[c + j + 3]);
        ss += a.x * a.x + a.y * a.y + a.z * a.z + a.w * a.w;
        v[j] = a.x * n.x; v[j + 1] = a.y * n.y; v[j + 2] = a.z * n.z; v[j + 3] = a.w * n.w;
      }
    }
    uint2 d0, d1, d2;
    const float sc = quantize8 (v, d0, d1, d2);
    if (c < K) {
      const int h = c / 8;                       /* half-block index */
      dig2[h] = d0;
      dig2[2 * n_blk + h] = d1;
      dig2[4 * n_blk + h] = d2;
      if ((h & 1) == 0)
        bscale[h / 2] = sc;
    }
  }
  if (norm) {
    ss = gk_warp_sum (ss);
    if (lane == 0)
      red[warp] = ss;
  }
  __syncthreads ();
  float inv = 1.0f;
  if (norm) {
    float t = 0.0f;
#pragma unroll
    for (int w = 0; w < DP_WARPS; w++)
      t += red[w];
    inv = rsqrtf (t / (float) K + g.norm_eps);
  }

  float acc[NM][RPW] = {};
  if (active) {
    for (int st = 0; st < n_steps; st += U) {
#pragma unroll
      for (int u = 0; u < U; u++) {
        const int c = (st + u) * DP_STEP + c_lane;
        if (c >= K)
          break;
        const int b = c >> 4;
        const uint4 d0 = dig[b], d1 = dig[n_blk + b], d2 = dig[2 * n_blk + b];
        const float sb = bscale[b];
#pragma unroll
        for (int m = 0; m < NM; m++)
#pragma unroll
          for (int r = 0; r < RPW; r++) {
            int i = block_dot (q[u][m][r], d0, d1, d2);
            acc[m][r] = fmaf ((float) i, gk_fp8_e4m3_fast (s[u][m][r]) * sb, acc[m][r]);
          }
      }
      if (st + U < n_steps)
        load (st + U);
    }
  } else if (row0 < rows) {
    /* any format: lanes over the columns, one row at a time (x re-read in float) */
#pragma unroll
    for (int r = 0; r < RPW; r++) {
      if (row0 + r >= rows)
        break;
      for (int c = lane; c < K; c += 32) {
        float xn = x[c] * (norm ? g.norm_w[c] : 1.0f);
        acc[0][r] += gk_matrix_at (g.w, row0 + r, c) * xn;
        if (SW)
          acc[NM - 1][r] += gk_matrix_at (g.w2, row0 + r, c) * xn;
      }
    }
  }

  /* the fast path leaves scale2 to here; the plain loop has it in gk_matrix_at */
  const float s1 = active && g.w.format == GK_WEIGHT_NVFP4 ? g.w.scale2 : 1.0f;
  const float s2 = active && SW && g.w2.format == GK_WEIGHT_NVFP4 ? g.w2.scale2 : 1.0f;
  float sum[NM][RPW];
#pragma unroll
  for (int m = 0; m < NM; m++)
#pragma unroll
    for (int r = 0; r < RPW; r++)
      sum[m][r] = gk_warp_sum (acc[m][r]);
#pragma unroll
  for (int r = 0; r < RPW; r++) {
    float a = sum[0][r] * s1 * inv;
    float v = SW ? gk_silu_mul (a, sum[NM - 1][r] * s2 * inv) : a;
    if (lane == 0 && row0 + r < rows) {
      float *y = g.y + row0 + r;
      *y = g.accumulate ? *y + g.alpha * v : g.alpha * v;
    }
  }
}

/* ---- launcher ---- */

template <int MODE, int RPW>
static cudaError_t
launch (const GkGemvGroup *groups, int n_groups, int max_rows, int T, size_t smem, int early,
        cudaStream_t stream)
{
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg =
      gk_launch_config (dim3 (GK_CEIL_DIV (max_rows, DP_WARPS * RPW), n_groups),
                        dim3 (DP_THREADS), smem, stream, early, &attr);
  cudaLaunchKernelEx (&cfg, gemv_dp4a_kernel<MODE, RPW>, groups, T, early);
  return gk_check_launch ();
}

template <int MODE>
static cudaError_t
launch_mode (const GkGemvGroup *groups, int n_groups, int max_rows, int T, size_t smem,
             int flags, cudaStream_t stream)
{
  /* rows per warp: the fewest that keep the grid in one wave of 24 warps per SM (3 blocks) */
  const long rows = (long) max_rows * n_groups, wave = (long) gk_device_sms (132) * 24;
  int rpw = rows <= wave ? 1 : rows <= 2 * wave ? 2 : 4;
  int forced = (flags >> 8) & 0xf;               /* GK_GEMV_WPR(n): rows per warp here */
  if (forced == 1 || forced == 2 || forced == 4)
    rpw = forced;
  const int early = (flags & GK_GEMV_EARLY) != 0;
  switch (rpw) {
  case 1: return launch<MODE, 1> (groups, n_groups, max_rows, T, smem, early, stream);
  case 2: return launch<MODE, 2> (groups, n_groups, max_rows, T, smem, early, stream);
  default: return launch<MODE, 4> (groups, n_groups, max_rows, T, smem, early, stream);
  }
}

extern "C" cudaError_t
gk_gemv_dp4a (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols, int mode,
              int T, int flags, cudaStream_t stream)
{
  if (T < 0 || T > GK_GEMV_MAX_T || n_groups <= 0 || max_rows <= 0 || max_cols <= 0)
    return cudaErrorInvalidValue;
  const size_t smem = dp_smem (max_cols);
  if (T > 1 || max_cols % 16 != 0 || smem > GK_GEMV_DP4A_SMEM_MAX)
    return cudaErrorNotSupported;
  return mode == GK_GEMV_SWIGLU
             ? launch_mode<GK_GEMV_SWIGLU> (groups, n_groups, max_rows, T, smem, flags, stream)
             : launch_mode<GK_GEMV_PLAIN> (groups, n_groups, max_rows, T, smem, flags, stream);
}
