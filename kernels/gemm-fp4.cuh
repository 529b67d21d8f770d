/* gemm-fp4.cuh: what the two NVFP4 grouped GEMMs share (gemm-fp4.cu on mma.sync, gemm-fp4-wgmma.cu
 * on Hopper's wgmma): a staged weight row's layout, the staged scales, and the expansion of a
 * 32-column block of codes into f16 pairs, which both use as the A operand of their products
 * (mma.sync's m16n8k16 fragment: the same registers wgmma takes from a warp for its 16 rows).
 * SPDX-License-Identifier: MIT */
#pragma once

#include "common.cuh"

#define G4_BM 128               /* output features per CTA */
#define G4_BK 64                /* columns per stage */
#define G4_WROW 48              /* bytes per staged weight row: 32 of codes + padding (banks) */

/* bytes of a weight row's scales staged for all of K; the 16 of padding spread the rows over
 * the banks */
__host__ __device__ static inline size_t
g4_scale_row (int K)
{
  return (size_t) K / 16 + 16;
}

/* The A operands of one 32-column block for rows r and r + 8 of the stage: the lane's word of
 * codes in each row (w: row r's), times its 16-column block's scale (sc: row r's), as the four
 * pairs of each row. */
__device__ __forceinline__ void
g4_expand (uint32_t (&pa)[4], uint32_t (&pb)[4], const unsigned char *w, const unsigned char *sc,
           size_t srow)
{
  uint32_t qa = *(const uint32_t *) (const void *) w;
  uint32_t qb = *(const uint32_t *) (const void *) (w + 8 * G4_WROW);
  uint32_t sa = gk_e4m3_f16x2_bcast (sc[0]);
  uint32_t sb = gk_e4m3_f16x2_bcast (sc[8 * srow]);
  pa[0] = gk_fp4_pair<0> (qa, sa);
  pa[1] = gk_fp4_pair<1> (qa, sa);
  pa[2] = gk_fp4_pair<2> (qa, sa);
  pa[3] = gk_fp4_pair<3> (qa, sa);
  pb[0] = gk_fp4_pair<0> (qb, sb);
  pb[1] = gk_fp4_pair<1> (qb, sb);
  pb[2] = gk_fp4_pair<2> (qb, sb);
  pb[3] = gk_fp4_pair<3> (qb, sb);
}
