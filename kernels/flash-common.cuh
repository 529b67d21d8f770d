/* flash-common.cuh: what the two causal flash kernels share (flash-attn.cu on mma.sync,
 * flash-wgmma.cu on Hopper's warpgroup MMA): Q staged into f16 a row at a time, the sources of
 * a K/V tile's 16-byte chunks, the flash state in and out, and the online softmax of one tile.
 * Both hold a warp's 16 query rows in mma.sync's accumulator layout (wgmma's, warp by warp, is
 * the same): lane (g = lane / 4, c2 = 2 (lane % 4)) holds rows g and g + 8, columns 8 j + c2 and
 * 8 j + c2 + 1 of every n-tile j of 8 columns.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <float.h>
#include <math.h>

#include "common.cuh"

#define FA_LOG2E 1.4426950408889634f

/* The source of the 16-byte chunk d0 .. d0 + 7 of key j (relative to the launch's k0), head h:
 * of its K row ([Kn | Kpe | zeros to P]) or, isv, its V row ([V | zeros]); NULL where the chunk
 * is zeros (past the dims, or the key is not live). Dn, R and Dv are multiples of 8 here. */
__device__ __forceinline__ const uint16_t *
fa_kv_chunk (const GkFlashAttnArgs &a, int h, int j, int d0, bool isv, bool live, int Dn,
             int Dqk, int Dv)
{
  if (!live)
    return NULL;
  const size_t head = (size_t) j * a.ldkv + (size_t) h * a.hkv;
  if (isv)
    return d0 < Dv ? a.v + head + d0 : NULL;
  return d0 < Dn ? a.kn + head + d0 : d0 < Dqk ? a.kpe + (size_t) j * a.ldpe + (d0 - Dn) : NULL;
}

/* Q * scale * log2 e of the warp's 16 rows (CTA rows r0 .. r0 + 15, queries i0 + r0 ..), each
 * row scaled into f16's range, zero past T and Dqk, handed to put (row, dim, f16 bits). Four rows
 * at a time: their loads in flight together. Every lane computes every row's scale (the warp's
 * maximum) and keeps the inverse for its own accumulator rows g and g + 8 in qinv. */
template <int P, typename Put>
__device__ __forceinline__ void
fa_stage_q (const GkFlashAttnArgs &a, int h, int i0, int r0, int Dqk, float (&qinv)[2], Put put)
{
  const int lane = threadIdx.x & 31, g = lane >> 2;
  const float qscale = a.scale * FA_LOG2E;
  qinv[0] = qinv[1] = 1.0f;
  for (int r4 = 0; r4 < 16; r4 += 4) {
    float x[4][P / 32], mx[4];
#pragma unroll
    for (int u = 0; u < 4; u++) {
      int i = i0 + r0 + r4 + u;
      mx[u] = 0.0f;
#pragma unroll
      for (int c = 0; c < P / 32; c++) {
        int d = lane + 32 * c;
        float v = i < a.T && d < Dqk ? a.q[(size_t) i * a.ldq + (size_t) h * Dqk + d] * qscale
                                     : 0.0f;
        x[u][c] = v;
        mx[u] = fmaxf (mx[u], isfinite (v) ? fabsf (v) : INFINITY);
      }
    }
#pragma unroll
    for (int u = 0; u < 4; u++) {
      float s = gk_f16_range_scale (gk_warp_max (mx[u]));
#pragma unroll
      for (int c = 0; c < P / 32; c++)
        put (r0 + r4 + u, lane + 32 * c, __half_as_ushort (__float2half_rn (x[u][c] * s)));
      if (r4 + u == g)
        qinv[0] = 1.0f / s;                          /* exact: a power of two */
      if (r4 + u == g + 8)
        qinv[1] = 1.0f / s;
    }
  }
}

/* The state of rows row0 and row0 + 8 (query indices) from the previous key block, or empty on
 * the first; O carries V's scale vsc while it is in the registers. */
template <int NT>
__device__ __forceinline__ void
fa_state_in (const GkFlashAttnArgs &a, int h, int row0, int Dv, float vsc, float (&o)[NT][4],
             float (&m_r)[2], float (&l_r)[2])
{
  const int lane = threadIdx.x & 31, c2 = (lane & 3) * 2;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    int i = row0 + 8 * r;
    bool in = !a.first && i < a.T;
    m_r[r] = in ? a.m[(size_t) i * a.H + h] : -INFINITY;
    l_r[r] = in && (lane & 3) == 0 ? a.l[(size_t) i * a.H + h] : 0.0f;   /* one lane per row */
  }
  const float *orow = a.o + (size_t) a.o_lead + (size_t) h * Dv;
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      int i = row0 + (e >> 1) * 8, d = nt * 8 + c2 + (e & 1);
      o[nt][e] = !a.first && i < a.T && d < Dv ? orow[(size_t) i * a.ldo + d] * vsc : 0.0f;
    }
}

/* One tile's scores s (the mma's raw sums; key kbase + 8 j + c2 + (e & 1) in s[j][e], s left
 * as it is) become probabilities, handed to emit (j, r, p0, p1) a pair at a time: those of
 * s[j][2 r] and s[j][2 r + 1], row g + 8 r. The rows' running max and sum move; returns whether
 * any of the warp's maxima moved, and then O must be multiplied by corr (fa_rescale) before this
 * tile's P.V is added. MASKED: scores from column lim[r] of the lane's on are -inf (causal, and
 * the launch's keys: fa_mask_limits). fr: a score in log2 units is the sum times fr. */
template <int SN, bool MASKED, typename Emit>
__device__ __forceinline__ bool
fa_softmax_tile (const float (&s)[SN][4], float (&m_r)[2], float (&l_r)[2], float (&corr)[2],
                 const float (&fr)[2], const int (&lim)[2], Emit emit)
{
  auto score = [&](int j, int e) {
    return MASKED && j * 8 + (e & 1) >= lim[e >> 1] ? -INFINITY : s[j][e];
  };
  float mx[2] = { -INFINITY, -INFINITY };
#pragma unroll
  for (int j = 0; j < SN; j++)
#pragma unroll
    for (int e = 0; e < 4; e++)
      mx[e >> 1] = fmaxf (mx[e >> 1], score (j, e));
  /* maxima of the raw sums: fr > 0 keeps their order */
#pragma unroll
  for (int r = 0; r < 2; r++)
    mx[r] *= fr[r];
  /* a row's running max moves only when a key beats it, after the first tiles rarely: one vote
   * asks whether any of the warp's rows' does; if none, every correction is 1 (exactly what the
   * update would compute) and O is not rescaled */
  const bool grow = __any_sync (0xffffffffu, mx[0] > m_r[0] || mx[1] > m_r[1]);
  float m_use[2];
  corr[0] = corr[1] = 1.0f;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    if (grow) {
      mx[r] = fmaxf (mx[r], __shfl_xor_sync (0xffffffffu, mx[r], 1));
      mx[r] = fmaxf (mx[r], __shfl_xor_sync (0xffffffffu, mx[r], 2));
      float m_new = fmaxf (m_r[r], mx[r]);
      m_use[r] = m_new == -INFINITY ? 0.0f : m_new;  /* no key yet: keep 0 * anything */
      corr[r] = exp2f (m_r[r] - m_use[r]);
      m_r[r] = m_new;
      l_r[r] *= corr[r];
    } else {
      m_use[r] = m_r[r] == -INFINITY ? 0.0f : m_r[r];
    }
  }
#pragma unroll
  for (int j = 0; j < SN; j++)
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float p0 = gk_exp2_fast (fmaf (score (j, 2 * r), fr[r], -m_use[r]));
      float p1 = gk_exp2_fast (fmaf (score (j, 2 * r + 1), fr[r], -m_use[r]));
      l_r[r] += p0 + p1;
      emit (j, r, p0, p1);
    }
  return grow;
}

/* The column limits of fa_softmax_tile for a tile from key kbase: a key is masked when key >
 * qpos or key >= key_lim, i.e. from column min (qpos + 1, key_lim) - kbase - c2 of the lane's on,
 * qpos0 being the absolute position of row g. */
__device__ __forceinline__ void
fa_mask_limits (int kbase, int qpos0, int key_lim, int (&lim)[2])
{
  const int c2 = (threadIdx.x & 3) * 2;
  lim[0] = min (qpos0 + 1, key_lim) - kbase - c2;
  lim[1] = min (qpos0 + 9, key_lim) - kbase - c2;
}

/* f16x2 of two probabilities */
__device__ __forceinline__ uint32_t
fa_f16x2 (float lo, float hi)
{
  __half2 p = __floats2half2_rn (lo, hi);
  return *reinterpret_cast<const uint32_t *> (&p);
}

/* O's rows g and g + 8 times corr[0] and corr[1] */
template <int NT>
__device__ __forceinline__ void
fa_rescale (float (&o)[NT][4], const float (&corr)[2])
{
#pragma unroll
  for (int nt = 0; nt < NT; nt++) {
    o[nt][0] *= corr[0];
    o[nt][1] *= corr[0];
    o[nt][2] *= corr[1];
    o[nt][3] *= corr[1];
  }
}

/* The softmax of one tile in place (s becomes P), then O rescaled where a max moved. mask: the
 * tile reaches past the warp's first row or the launch's keys; masked behind a uniform branch
 * (folded into every tile's path, one predicate per score kept across the products, it cost
 * ~11 instructions a score). */
template <int SN, int NT>
__device__ __forceinline__ void
fa_softmax (float (&s)[SN][4], float (&o)[NT][4], float (&m_r)[2], float (&l_r)[2],
            const float (&fr)[2], bool mask, int kbase, int qpos0, int key_lim)
{
  float corr[2];
  int lim[2];
  fa_mask_limits (kbase, qpos0, key_lim, lim);
  auto put = [&](int j, int r, float p0, float p1) {
    s[j][2 * r] = p0;
    s[j][2 * r + 1] = p1;
  };
  bool grow = mask ? fa_softmax_tile<SN, true> (s, m_r, l_r, corr, fr, lim, put)
                   : fa_softmax_tile<SN, false> (s, m_r, l_r, corr, fr, lim, put);
  if (grow)
    fa_rescale<NT> (o, corr);
}

/* P's A fragment (m16k16, f16) for keys 16 kk .. 16 kk + 15 from the probabilities in s */
template <int SN>
__device__ __forceinline__ void
fa_p_frag (const float (&s)[SN][4], int kk, uint32_t (&pa)[4])
{
#pragma unroll
  for (int q = 0; q < 4; q++) {
    int j = 2 * kk + (q >> 1), e0 = (q & 1) * 2;
    pa[q] = fa_f16x2 (s[j][e0], s[j][e0 + 1]);
  }
}

/* The rows' sums over the 4 lanes that share them, then the state out (not the last key
 * block) or o normalised (the last); V's scale vsc undone either way. */
template <int NT>
__device__ __forceinline__ void
fa_state_out (const GkFlashAttnArgs &a, int h, int row0, int Dv, float vsc,
              const float (&o)[NT][4], const float (&m_r)[2], const float (&l_r)[2])
{
  const int lane = threadIdx.x & 31, c2 = (lane & 3) * 2;
  float l_full[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    float v = l_r[r];
    v += __shfl_xor_sync (0xffffffffu, v, 1);
    v += __shfl_xor_sync (0xffffffffu, v, 2);
    l_full[r] = v;
  }
  const float vinv = 1.0f / vsc;                     /* exact: a power of two */
  float inv[2] = { vinv, vinv };
  if (a.last)
    for (int r = 0; r < 2; r++)
      inv[r] = l_full[r] > 0.0f ? vinv / l_full[r] : 0.0f;
  float *orow = a.o + (size_t) a.o_lead + (size_t) h * Dv;
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      int i = row0 + (e >> 1) * 8, d = nt * 8 + c2 + (e & 1);
      if (i < a.T && d < Dv)
        orow[(size_t) i * a.ldo + d] = o[nt][e] * inv[e >> 1];
    }
  if (!a.last && (lane & 3) == 0)
    for (int r = 0; r < 2; r++) {
      int i = row0 + 8 * r;
      if (i < a.T) {
        a.m[(size_t) i * a.H + h] = m_r[r];
        a.l[(size_t) i * a.H + h] = l_full[r];
      }
    }
}

/* K's and V's scales of this launch (gk_flash_kv_f16's rule) and the factors fr that turn the
 * rows' raw sums into scores in log2 units */
__device__ __forceinline__ void
fa_kv_scales (const GkFlashAttnArgs &a, const float (&qinv)[2], float &vsc, float (&fr)[2])
{
  const float ksc = gk_f16_range_scale (__uint_as_float (a.kv_max[0]));
  vsc = gk_f16_range_scale (__uint_as_float (a.kv_max[1]));
#pragma unroll
  for (int r = 0; r < 2; r++)
    fr[r] = qinv[r] / ksc;
}
