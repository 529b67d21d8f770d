/* gemv-mma.cu: grouped matrix-vector products for decode-sized batches on tensor cores.
 * SPDX-License-Identifier: MIT
 * Same contract as gemv.cu (gk.h: GkGemvGroup); CPU reference: engine/cpu/cpu-ops.c
 * glim_cpu_linear (+ glim_cpu_silu_mul for SWIGLU). Architectures: sm_80, 86, 89, 90
 * (mma.sync m16n8k16, f16 and bf16 inputs, float32 accumulators).
 *
 * Why: the CUDA-core kernel (gemv.cu) decodes each E2M1 code through a shared-memory table and
 * multiplies every weight by float32 x on the FMA pipe, re-reading x from L1 for every few rows
 * (300-750 GB/s measured on the H200). Here a warp owns a tile of 16 rows; each lane turns 8
 * codes into four f16 pairs with shifts and masks (Marlin's trick: the E2M1 bits placed in an
 * f16's sign, exponent and mantissa give the value times 2^-14), multiplies them by the block
 * scale in f16 (exact: the product has at most 6 significant bits) and lets mma.sync do the dot
 * products for up to 8 tokens at once, its cost independent of the token count.
 * Status: for BF16 weights it is the decode's kernel (lm_head: 3.2 against 2.0 TB/s for
 * gemv.cu on the H200); for NVFP4 at batch 1 it is still slower than gemv.cu (routed gate/up
 * 15.2 against 12.4 us, docs/PERFORMANCE.md): 16-row tiles leave 2-4 warps per scheduler, too
 * few to hide each warp's chain, so NVFP4 takes it only with GLIMMER_GEMV=mma.
 *
 * Exactness: the weights are exact in f16 (NVFP4) or as stored (BF16). x is split into a high
 * and a low part (x = hi + lo, 22 significant bits for f16, 16 for bf16) and both are
 * multiplied, so the products are as good as float32's for the sizes here; sums are float32.
 * For f16 each token's x is first scaled by a power of two so that its largest value is below
 * 2^15 (f16 overflows at 65504); the scale is undone on the float32 result.
 *
 * Layout: a block of 8 warps handles TPB = 8 / WPT tiles of one group; the WPT warps of a tile
 * split the columns into steps (128 columns NVFP4: a lane reads 16 bytes of each of its two rows;
 * 32 columns BF16) and add their partial sums through shared memory. Because the mma's k order
 * is free as long as A and B agree, a lane's A pairs are (code j, code j + 4) of each 32-bit
 * word it loaded, and x is staged in shared memory in that order, 8 columns (one unit of 16
 * bytes) at a time, with a padding unit every 8 so the lanes' 16-byte reads do not collide.
 * Shapes or formats this path does not take (F16/F32 weights, gate and up in different
 * formats, unaligned data) run a plain per-element loop in the same kernel, still exact. */
#include <cuda_bf16.h>

#include "common.cuh"

#define MMA_WARPS 8
#define MMA_THREADS (MMA_WARPS * 32)

/* ---- device helpers ---- */

/* unit index of columns [8G, 8G + 8) within a token's row of staged x */
__device__ __forceinline__ int
unit_pos (int G)
{
  return G + (G >> 3);
}

/* One warp's loads for one step: rows g and g + 8 of its tile (A and, for SWIGLU, A2). */
struct Chunk {
  uint4    a, b;
  uint32_t sa, sb;
};

enum { PATH_FP4, PATH_BF16, PATH_GENERIC };

/* NVFP4: lane (g, t) of the tile reads columns [c, c + 32) of its two rows, c = 128 s + 32 t.
 * vec: rows 16-byte aligned and K a multiple of 32; else 4-byte words and single scale bytes. */
__device__ __forceinline__ void
load_fp4 (Chunk &ck, const GkMatrix &w, int row, int c, bool vec)
{
  const int K = w.cols;
  const uint8_t *d = (const uint8_t *) w.data;
  ck.a = ck.b = make_uint4 (0, 0, 0, 0);
  ck.sa = ck.sb = 0;
  if (c >= K)
    return;
  size_t oa = (size_t) row * K + c, ob = oa + (size_t) 8 * K;
  bool ra = row < w.rows, rb = row + 8 < w.rows;
  if (vec && c + 32 <= K) {
    if (ra) {
      ck.a = __ldg ((const uint4 *) (d + oa / 2));
      ck.sa = __ldg ((const uint16_t *) (w.scales + oa / 16));
    }
    if (rb) {
      ck.b = __ldg ((const uint4 *) (d + ob / 2));
      ck.sb = __ldg ((const uint16_t *) (w.scales + ob / 16));
    }
    return;
  }
  uint32_t qa[4] = { 0, 0, 0, 0 }, qb[4] = { 0, 0, 0, 0 };
#pragma unroll
  for (int i = 0; i < 4; i++)
    if (c + 8 * i < K) {
      if (ra)
        qa[i] = __ldg ((const uint32_t *) (d + oa / 2) + i);
      if (rb)
        qb[i] = __ldg ((const uint32_t *) (d + ob / 2) + i);
    }
  ck.a = make_uint4 (qa[0], qa[1], qa[2], qa[3]);
  ck.b = make_uint4 (qb[0], qb[1], qb[2], qb[3]);
#pragma unroll
  for (int i = 0; i < 2; i++)
    if (c + 16 * i < K) {
      if (ra)
        ck.sa |= (uint32_t) __ldg (w.scales + oa / 16 + i) << (8 * i);
      if (rb)
        ck.sb |= (uint32_t) __ldg (w.scales + ob / 16 + i) << (8 * i);
    }
}

/* BF16: lane (g, t) reads columns [c, c + 8) of its two rows, c = 32 s + 8 t. */
__device__ __forceinline__ void
load_bf16 (Chunk &ck, const GkMatrix &w, int row, int c)
{
  const uint16_t *d = (const uint16_t *) w.data;
  ck.a = ck.b = make_uint4 (0, 0, 0, 0);
  ck.sa = ck.sb = 0;
  if (c >= w.cols)
    return;
  if (row < w.rows)
    ck.a = __ldg ((const uint4 *) (d + (size_t) row * w.cols + c));
  if (row + 8 < w.rows)
    ck.b = __ldg ((const uint4 *) (d + (size_t) (row + 8) * w.cols + c));
}

__device__ __forceinline__ uint32_t
word (const uint4 &v, int i)
{
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

/* The sums of a tile: four independent mma chains (x hi / lo, k half 0 / 1), so consecutive
 * mma.sync do not wait on each other's accumulators; added up at the end. */
struct Acc {
  float c[4][4];
};

/* acc += the tile's 16 rows . x for the 32 columns of one NVFP4 chunk */
__device__ __forceinline__ void
step_fp4 (Acc &acc, const Chunk &ck, const uint4 *xh, const uint4 *xl, int G0, bool tok)
{
  uint32_t sa = gk_e4m3x2_f16x2 (ck.sa), sb = gk_e4m3x2_f16x2 (ck.sb);
#pragma unroll
  for (int w = 0; w < 4; w++) {
    uint32_t qa = word (ck.a, w), qb = word (ck.b, w);
    uint32_t sca = w < 2 ? (sa & 0xffffu) * 0x10001u : (sa >> 16) * 0x10001u;
    uint32_t scb = w < 2 ? (sb & 0xffffu) * 0x10001u : (sb >> 16) * 0x10001u;
    uint32_t pa[4] = { gk_fp4_pair<0> (qa, sca), gk_fp4_pair<1> (qa, sca),
                       gk_fp4_pair<2> (qa, sca), gk_fp4_pair<3> (qa, sca) };
    uint32_t pb[4] = { gk_fp4_pair<0> (qb, scb), gk_fp4_pair<1> (qb, scb),
                       gk_fp4_pair<2> (qb, scb), gk_fp4_pair<3> (qb, scb) };
    uint4 h = make_uint4 (0, 0, 0, 0), l = h;
    if (tok) {
      h = xh[unit_pos (G0 + w)];
      l = xl[unit_pos (G0 + w)];
    }
    gk_mma_f16 (acc.c[0], pa[0], pb[0], pa[1], pb[1], h.x, h.y);
    gk_mma_f16 (acc.c[1], pa[0], pb[0], pa[1], pb[1], l.x, l.y);
    gk_mma_f16 (acc.c[2], pa[2], pb[2], pa[3], pb[3], h.z, h.w);
    gk_mma_f16 (acc.c[3], pa[2], pb[2], pa[3], pb[3], l.z, l.w);
  }
}

/* acc += the tile's 16 rows . x for the 8 columns of one BF16 chunk */
__device__ __forceinline__ void
step_bf16 (Acc &acc, const Chunk &ck, const uint4 *xh, const uint4 *xl, int G, bool tok)
{
  uint4 h = make_uint4 (0, 0, 0, 0), l = h;
  if (tok) {
    h = xh[unit_pos (G)];
    l = xl[unit_pos (G)];
  }
  gk_mma_bf16 (acc.c[0], ck.a.x, ck.b.x, ck.a.y, ck.b.y, h.x, h.y);
  gk_mma_bf16 (acc.c[1], ck.a.x, ck.b.x, ck.a.y, ck.b.y, l.x, l.y);
  gk_mma_bf16 (acc.c[2], ck.a.z, ck.b.z, ck.a.w, ck.b.w, h.z, h.w);
  gk_mma_bf16 (acc.c[3], ck.a.z, ck.b.z, ck.a.w, ck.b.w, l.z, l.w);
}

/* x at column c of token n from the staged f16 units (generic path) */
__device__ __forceinline__ float
staged_f16 (const uint4 *xh, const uint4 *xl, int c, float mult)
{
  int G = c >> 3, j = c & 7, k = j < 4 ? 2 * j : 2 * (j - 4) + 1;
  const __half *h = (const __half *) &xh[unit_pos (G)];
  const __half *l = (const __half *) &xl[unit_pos (G)];
  return (__half2float (h[k]) + __half2float (l[k])) * mult;
}

/* ---- kernel ---- */

struct Smem {
  float part[MMA_WARPS][2][16][8];     /* per warp: its partial sums (W, W2) [row][token] */
  float red[2][MMA_WARPS][GK_GEMV_MAX_T];
  float mult[GK_GEMV_MAX_T];           /* the power of two x was divided by, per token */
};

/* grid (blocks of TPB tiles, groups); dynamic shared memory: staged x, hi then lo,
 * [T][row_units] units of 16 bytes each. early: the descriptors and weights were written
 * before the previous kernel ran, so they may be read before gk_pdl_wait (launched with
 * programmatic stream serialization, the weight loads then overlap the previous kernel). */
template <int MODE, int WPT>
__global__ void __launch_bounds__ (MMA_THREADS, 2)
gemv_mma_kernel (const GkGemvGroup *groups, int t_override, int row_units, int early)
{
  constexpr int TPB = MMA_WARPS / WPT;
  constexpr bool SW = MODE == GK_GEMV_SWIGLU;
  constexpr int U = SW ? 2 : 4;                 /* steps whose loads are in flight together */
  extern __shared__ uint4 xs[];
  __shared__ Smem sm;

  gk_pdl_launch_dependents ();
  if (!early)
    gk_pdl_wait ();
  const GkGemvGroup &g = groups[blockIdx.y];
  const int T = t_override > 0 ? t_override : g.T;
  const int rows = g.w.rows, K = g.w.cols;
  if (T <= 0 || T > GK_GEMV_MAX_T || (int) blockIdx.x * TPB * 16 >= rows) {
    gk_pdl_wait ();                                 /* finish only after what this depends on */
    return;                                      /* whole block idle: no barrier is reached */
  }

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int gq = lane >> 2, tq = lane & 3;       /* mma fragment coordinates */
  const int tile = blockIdx.x * TPB + warp / WPT, first = warp % WPT;
  const int row = tile * 16 + gq;

  int path = g.w.format == GK_WEIGHT_NVFP4 ? PATH_FP4
           : g.w.format == GK_WEIGHT_BF16  ? PATH_BF16 : PATH_GENERIC;
  if (SW && (g.w2.format != g.w.format || g.w2.rows != rows || g.w2.cols != K))
    path = PATH_GENERIC;
  bool vec = (K % 32 == 0) && ((uintptr_t) g.w.data & 15) == 0 &&
             ((uintptr_t) g.w.scales & 1) == 0 &&
             (!SW || (((uintptr_t) g.w2.data & 15) == 0 && ((uintptr_t) g.w2.scales & 1) == 0));
  if (path == PATH_FP4 && ((uintptr_t) g.w.data & 3) != 0)
    path = PATH_GENERIC;
  if (path == PATH_BF16 && (((uintptr_t) g.w.data & 15) != 0 ||
                            (SW && ((uintptr_t) g.w2.data & 15) != 0)))
    path = PATH_GENERIC;
  const int step_cols = path == PATH_BF16 ? 32 : 128;
  const int n_steps = GK_CEIL_DIV (K, step_cols);

  /* the first loads go out before x is ready */
  Chunk ck[U], ck2[U];
  int s0 = first;
  auto load_batch = [&] (int s) {
#pragma unroll
    for (int u = 0; u < U; u++) {
      int st = s + u * WPT;
      if (path == PATH_FP4) {
        int c = st < n_steps ? st * 128 + tq * 32 : K;
        load_fp4 (ck[u], g.w, row, c, vec);
        if (SW)
          load_fp4 (ck2[u], g.w2, row, c, vec);
      } else if (path == PATH_BF16) {
        int c = st < n_steps ? st * 32 + tq * 8 : K;
        load_bf16 (ck[u], g.w, row, c);
        if (SW)
          load_bf16 (ck2[u], g.w2, row, c);
      }
    }
  };
  if (path != PATH_GENERIC && tile * 16 < rows)
    load_batch (s0);
  gk_pdl_wait ();                                   /* x comes from the previous kernel */

  /* stage x: the RMSNorm scalar and the f16 power-of-two scale of each token (one pass, one
   * barrier; every thread combines the warps' partials itself), then the hi/lo units. Each
   * thread takes whole 8-column units, with its loads for all of them in flight at once (the
   * second pass finds them in L1). */
  const bool norm = g.norm_w != nullptr;
  const bool xvec = ((uintptr_t) g.x & 15) == 0 && g.x_stride % 4 == 0 &&
                    (!norm || ((uintptr_t) g.norm_w & 15) == 0);
  const int n_units = n_steps * step_cols / 8, k_units = K / 8;   /* K is a multiple of 16 */
  uint4 *xh = xs, *xl = xs + (size_t) T * row_units;
  float inv[GK_GEMV_MAX_T], mult[GK_GEMV_MAX_T];
  auto load_unit = [&] (int n, int G, float *v) {
    const float *xp = g.x + (size_t) n * g.x_stride + G * 8;
    if (xvec) {
      float4 p = *(const float4 *) xp, q = *(const float4 *) (xp + 4);
      v[0] = p.x; v[1] = p.y; v[2] = p.z; v[3] = p.w;
      v[4] = q.x; v[5] = q.y; v[6] = q.z; v[7] = q.w;
      if (norm) {
        float4 a = __ldg ((const float4 *) (g.norm_w + G * 8));
        float4 b = __ldg ((const float4 *) (g.norm_w + G * 8 + 4));
        v[0] *= a.x; v[1] *= a.y; v[2] *= a.z; v[3] *= a.w;
        v[4] *= b.x; v[5] *= b.y; v[6] *= b.z; v[7] *= b.w;
      }
    } else {
#pragma unroll
      for (int j = 0; j < 8; j++)
        v[j] = xp[j] * (norm ? __ldg (g.norm_w + G * 8 + j) : 1.0f);
    }
  };
  {
    /* sum of x^2 (the norm) and max |x * norm_w| (the scale): the norm scalar is positive, so
     * the max of the normalised x is this max times it */
    float ss[GK_GEMV_MAX_T], mx[GK_GEMV_MAX_T];
#pragma unroll
    for (int n = 0; n < GK_GEMV_MAX_T; n++) {
      ss[n] = mx[n] = 0.0f;
      if (n >= T)
        continue;
#pragma unroll 4
      for (int G = threadIdx.x; G < k_units; G += MMA_THREADS) {
        float v[8];
        load_unit (n, G, v);
        const float *xp = g.x + (size_t) n * g.x_stride + G * 8;
        float4 p = xvec ? *(const float4 *) xp : make_float4 (xp[0], xp[1], xp[2], xp[3]);
        float4 q = xvec ? *(const float4 *) (xp + 4) : make_float4 (xp[4], xp[5], xp[6], xp[7]);
        ss[n] += p.x * p.x + p.y * p.y + p.z * p.z + p.w * p.w +
                 q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w;
#pragma unroll
        for (int j = 0; j < 8; j++)
          mx[n] = fmaxf (mx[n], fabsf (v[j]));
      }
      float a = gk_warp_sum (ss[n]), b = gk_warp_max (mx[n]);
      if (lane == 0) {
        sm.red[0][warp][n] = a;
        sm.red[1][warp][n] = b;
      }
    }
    __syncthreads ();
#pragma unroll
    for (int n = 0; n < GK_GEMV_MAX_T; n++) {
      inv[n] = mult[n] = 1.0f;
      if (n >= T)
        continue;
      float a = 0.0f, b = 0.0f;
#pragma unroll
      for (int w = 0; w < MMA_WARPS; w++) {
        a += sm.red[0][w][n];
        b = fmaxf (b, sm.red[1][w][n]);
      }
      inv[n] = norm ? rsqrtf (a / (float) K + g.norm_eps) : 1.0f;
      float m = b * inv[n];
      if (path != PATH_BF16 && m > 1e-30f && m < 3.0e38f) {
        int e = (int) ((__float_as_uint (m) >> 23) & 0xff) - 127 - 14;   /* m * 2^-e < 2^15 */
        e = max (-100, min (100, e));
        mult[n] = __uint_as_float ((uint32_t) (127 + e) << 23);          /* 2^e */
      }
    }
#pragma unroll
    for (int n = 0; n < GK_GEMV_MAX_T; n++) {
      if (n >= T)
        break;
      const float f = inv[n] / mult[n];
      for (int G = threadIdx.x; G < n_units; G += MMA_THREADS) {
        float v[8];
        if (G < k_units) {
          load_unit (n, G, v);
#pragma unroll
          for (int j = 0; j < 8; j++)
            v[j] *= f;
        } else {
#pragma unroll
          for (int j = 0; j < 8; j++)
            v[j] = 0.0f;
        }
        uint16_t hi[8], lo[8];
        if (path == PATH_BF16) {
#pragma unroll
          for (int j = 0; j < 8; j++) {
            __nv_bfloat16 h = __float2bfloat16_rn (v[j]);
            hi[j] = __bfloat16_as_ushort (h);
            lo[j] = __bfloat16_as_ushort (__float2bfloat16_rn (v[j] - __bfloat162float (h)));
          }
        } else {
          /* order (0, 4, 1, 5, 2, 6, 3, 7): the pairs gk_fp4_pair builds */
          const int ord[8] = { 0, 4, 1, 5, 2, 6, 3, 7 };
#pragma unroll
          for (int j = 0; j < 8; j++) {
            __half h = __float2half_rn (v[ord[j]]);
            hi[j] = __half_as_ushort (h);
            lo[j] = __half_as_ushort (__float2half_rn (v[ord[j]] - __half2float (h)));
          }
        }
        uint4 uh, ul;
        uh.x = hi[0] | (uint32_t) hi[1] << 16; uh.y = hi[2] | (uint32_t) hi[3] << 16;
        uh.z = hi[4] | (uint32_t) hi[5] << 16; uh.w = hi[6] | (uint32_t) hi[7] << 16;
        ul.x = lo[0] | (uint32_t) lo[1] << 16; ul.y = lo[2] | (uint32_t) lo[3] << 16;
        ul.z = lo[4] | (uint32_t) lo[5] << 16; ul.w = lo[6] | (uint32_t) lo[7] << 16;
        xh[(size_t) n * row_units + unit_pos (G)] = uh;
        xl[(size_t) n * row_units + unit_pos (G)] = ul;
      }
    }
    __syncthreads ();
  }

  /* the warp's steps: first, first + WPT, ... */
  Acc acc = {}, acc2 = {};
  const bool tok = gq < T;
  const uint4 *th = xh + (size_t) (tok ? gq : 0) * row_units;
  const uint4 *tl = xl + (size_t) (tok ? gq : 0) * row_units;
  if (path != PATH_GENERIC && tile * 16 < rows) {
    for (;;) {
#pragma unroll
      for (int u = 0; u < U; u++) {
        int st = s0 + u * WPT;
        if (st >= n_steps)
          break;
        if (path == PATH_FP4) {
          step_fp4 (acc, ck[u], th, tl, st * 16 + tq * 4, tok);
          if (SW)
            step_fp4 (acc2, ck2[u], th, tl, st * 16 + tq * 4, tok);
        } else {
          step_bf16 (acc, ck[u], th, tl, st * 4 + tq, tok);
          if (SW)
            step_bf16 (acc2, ck2[u], th, tl, st * 4 + tq, tok);
        }
      }
      s0 += U * WPT;
      if (s0 >= n_steps)
        break;
      load_batch (s0);
    }
    /* c[.][0], c[.][1]: row gq, tokens 2tq, 2tq + 1; c[.][2], c[.][3]: row gq + 8 */
#pragma unroll
    for (int i = 0; i < 4; i++) {
      float a = acc.c[0][i] + acc.c[1][i] + acc.c[2][i] + acc.c[3][i];
      sm.part[warp][0][gq + 8 * (i >> 1)][2 * tq + (i & 1)] = a;
      if (SW)
        sm.part[warp][1][gq + 8 * (i >> 1)][2 * tq + (i & 1)] =
            acc2.c[0][i] + acc2.c[1][i] + acc2.c[2][i] + acc2.c[3][i];
    }
  } else if (path == PATH_GENERIC) {
    /* any format: lanes over the warp's columns, one row at a time */
    const int cpw = GK_CEIL_DIV (n_steps, WPT) * 128;
    const int c_begin = first * cpw, c_end = min (K, c_begin + cpw);
    for (int r = 0; r < 16; r++) {
      int rr = tile * 16 + r;
      for (int n = 0; n < T; n++) {
        float mn = 1.0f;
#pragma unroll
        for (int k = 0; k < GK_GEMV_MAX_T; k++)
          if (k == n)
            mn = mult[k];
        float a = 0.0f, b = 0.0f;
        if (rr < rows)
          for (int c = c_begin + lane; c < c_end; c += 32) {
            float xv = staged_f16 (xh + (size_t) n * row_units, xl + (size_t) n * row_units, c,
                                   mn);
            a += gk_matrix_at (g.w, rr, c) * xv;
            if (SW)
              b += gk_matrix_at (g.w2, rr, c) * xv;
          }
        a = gk_warp_sum (a);
        b = SW ? gk_warp_sum (b) : 0.0f;
        if (lane == 0) {
          sm.part[warp][0][r][n] = a;
          sm.part[warp][1][r][n] = b;
        }
      }
    }
  }
  if (threadIdx.x == 0)
#pragma unroll
    for (int n = 0; n < GK_GEMV_MAX_T; n++)
      sm.mult[n] = mult[n];
  __syncthreads ();

  /* each (tile, row, token) of the block: add the tile's warps, scale, activate, store */
  for (int i = threadIdx.x; i < TPB * 16 * T; i += MMA_THREADS) {
    int tt = i / (16 * T), r = (i / T) % 16, n = i % T;
    int rr = (blockIdx.x * TPB + tt) * 16 + r;
    if (rr >= rows)
      continue;
    float a = 0.0f, b = 0.0f;
    for (int w = tt * WPT; w < tt * WPT + WPT; w++) {
      a += sm.part[w][0][r][n];
      if (SW)
        b += sm.part[w][1][r][n];
    }
    float v;
    if (path == PATH_GENERIC) {
      v = a;                        /* gk_matrix_at applied scale2; x was un-scaled */
      if (SW)
        v = gk_silu_mul (v, b);
    } else {
      float m = path == PATH_FP4 ? sm.mult[n] * 128.0f : 1.0f;
      v = a * m * (path == PATH_FP4 ? g.w.scale2 : 1.0f);
      if (SW) {
        v = gk_silu_mul (v, b * m * (path == PATH_FP4 ? g.w2.scale2 : 1.0f));
      }
    }
    float *y = g.y + (size_t) n * g.y_stride + rr;
    *y = g.accumulate ? *y + g.alpha * v : g.alpha * v;
  }
}

/* ---- launcher ---- */

/* units of 16 bytes per token row of staged x for K columns (either path's step), with the
 * padding unit every 8 and a row stride that spreads tokens over the banks */
static int
staged_row_units (int K)
{
  int units = GK_CEIL_DIV (K, 128) * 16;     /* the NVFP4 step is the larger one */
  int padded = units + units / 8;
  return ((padded + 7) & ~7) + 2;
}

extern "C" size_t
gk_gemv_mma_smem (int K, int T)
{
  return (size_t) 2 * (size_t) T * (size_t) staged_row_units (K) * 16;
}

template <int MODE, int WPT>
static cudaError_t
launch (const GkGemvGroup *groups, int n_groups, int max_rows, int T, int row_units, size_t smem,
        int early, int pdl, cudaStream_t stream)
{
  constexpr int TPB = MMA_WARPS / WPT;
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg =
      gk_launch_config (dim3 (GK_CEIL_DIV (GK_CEIL_DIV (max_rows, 16), TPB), n_groups),
                        dim3 (MMA_THREADS), smem, stream, pdl, &attr);
  return cudaLaunchKernelEx (&cfg, gemv_mma_kernel<MODE, WPT>, groups, T, row_units, early);
}

template <int MODE>
static cudaError_t
launch_mode (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols, int T,
             size_t smem, int flags, cudaStream_t stream)
{
  /* warps per tile: enough warps in flight (about 24 per SM) without cutting the columns
   * into fewer steps than warps */
  const int sms = gk_device_sms (132);
  long tiles = (long) GK_CEIL_DIV (max_rows, 16) * n_groups;
  int steps = GK_CEIL_DIV (max_cols, 128);
  int wpt = 1;
  while (wpt < MMA_WARPS && tiles * wpt < (long) sms * 24 && steps >= 2 * wpt)
    wpt *= 2;
  int ru = staged_row_units (max_cols);
  int early = (flags & GK_GEMV_EARLY) != 0, pdl = early;   /* gk_launch_config asks the device */
  switch (wpt) {
  case 1: return launch<MODE, 1> (groups, n_groups, max_rows, T, ru, smem, early, pdl, stream);
  case 2: return launch<MODE, 2> (groups, n_groups, max_rows, T, ru, smem, early, pdl, stream);
  case 4: return launch<MODE, 4> (groups, n_groups, max_rows, T, ru, smem, early, pdl, stream);
  default: return launch<MODE, 8> (groups, n_groups, max_rows, T, ru, smem, early, pdl, stream);
  }
}

extern "C" cudaError_t
gk_gemv_mma (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols, int mode, int T,
             int flags, cudaStream_t stream)
{
  if (T < 0 || T > GK_GEMV_MAX_T || n_groups <= 0 || max_rows <= 0 || max_cols <= 0)
    return cudaErrorInvalidValue;
  size_t smem = gk_gemv_mma_smem (max_cols, T > 0 ? T : 1);
  if (smem > GK_GEMV_MMA_SMEM_MAX)
    return cudaErrorNotSupported;
  return mode == GK_GEMV_SWIGLU
             ? launch_mode<GK_GEMV_SWIGLU> (groups, n_groups, max_rows, max_cols, T, smem, flags,
                                            stream)
             : launch_mode<GK_GEMV_PLAIN> (groups, n_groups, max_rows, max_cols, T, smem, flags,
                                           stream);
}
