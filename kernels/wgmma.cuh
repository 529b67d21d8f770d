/* wgmma.cuh: Hopper's warpgroup MMA, tensor memory accelerator and mbarriers, for the kernels
 * built for sm_90a alone (flash-wgmma.cu, mla-wgmma.cu). Device code exists only where the
 * compiler targets sm_90a (__CUDA_ARCH_FEAT_SM90_ALL); the files' host code builds everywhere.
 *
 * Shared-memory operands are in the 128-byte swizzle: a [rows, P] 16-bit tile is P / 64 blocks
 * of [rows, 64], a row 128 bytes whose 16-byte chunk c sits at c ^ (row % 8), each block on a
 * 1,024-byte boundary (wg_at). A K-major operand's k-step of 16 is 32 bytes into a row, four of
 * them a block; an MN-major one steps by 16 rows. Accumulators are wgmma's: warp w of the
 * warpgroup, lane (g = lane / 4, c2 = 2 (lane % 4)) holds rows 16 w + g and 16 w + g + 8,
 * columns 8 j + c2 and 8 j + c2 + 1 of each n-tile j of 8 columns, as d[j][0..3].
 * SPDX-License-Identifier: MIT */
#pragma once

#include <cuda.h>                     /* CUtensorMap (types only: the encoder comes by */
#include <cudaTypedefs.h>             /* the runtime's driver entry point) */

#include "common.cuh"

/* inline-asm operand lists of an accumulator of 4 n registers */
#define WG_ACC4 "{%0, %1, %2, %3}"
#define WG_ACC8 "{%0, %1, %2, %3, %4, %5, %6, %7}"
#define WG_ACC12 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11}"
#define WG_ACC16 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}"
#define WG_ACC20 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19}"
#define WG_ACC32 "{" \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31" \
  "}"
#define WG_ACC64 "{" \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63" \
  "}"
#define WG_ACC128 "{" \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, " \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127" \
  "}"

/* "+f" operands of n-tiles j .. of an accumulator [tiles][4] */
#define WG_T(d, j) "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])
#define WG_T2(d, j) WG_T (d, j), WG_T (d, j + 1)
#define WG_T3(d, j) WG_T2 (d, j), WG_T (d, j + 2)
#define WG_T4(d, j) WG_T (d, j), WG_T (d, j + 1), WG_T (d, j + 2), WG_T (d, j + 3)
#define WG_T5(d, j) WG_T4 (d, j), WG_T (d, j + 4)
#define WG_T8(d, j) WG_T4 (d, j), WG_T4 (d, j + 4)
#define WG_T16(d, j) WG_T8 (d, j), WG_T8 (d, j + 8)
#define WG_T32(d, j) WG_T16 (d, j), WG_T16 (d, j + 16)

/* element offset of (row, dim) in a swizzled [rows, P] tile */
__device__ __forceinline__ int
wg_at (int rows, int r, int d)
{
  return (d >> 6) * rows * 64 + r * 64 + ((((d >> 3) & 7) ^ (r & 7)) << 3) + (d & 7);
}

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)

/* a shared-memory matrix descriptor, 128-byte swizzle: start, leading and stride byte offsets */
__device__ __forceinline__ uint64_t
wg_desc (const void *p, uint32_t lbo, uint32_t sbo)
{
  uint32_t addr = smem_addr (p);
  return (uint64_t) ((addr & 0x3ffffu) >> 4) | (uint64_t) ((lbo >> 4) & 0x3fffu) << 16 |
         (uint64_t) ((sbo >> 4) & 0x3fffu) << 32 | (uint64_t) 1 << 62;
}

__device__ __forceinline__ void
wg_fence (void)
{
  asm volatile ("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ __forceinline__ void
wg_commit (void)
{
  asm volatile ("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

/* until at most N committed groups of this warpgroup's products are pending */
template <int N>
__device__ __forceinline__ void
wg_wait (void)
{
  asm volatile ("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

/* the generic proxy's shared-memory writes (cp.async, stores) made visible to wgmma */
__device__ __forceinline__ void
wg_fence_smem (void)
{
  asm volatile ("fence.proxy.async.shared::cta;\n" ::: "memory");
}

/* d += A . B, m64nNk16 f16 -> f32 (N = 8 NT), A from registers (each warp its 16 rows as
 * mma.sync's m16n8k16 A fragment), B in shared memory: TB 0 K-major, 1 N-major */
template <int NT, int TB>
__device__ __forceinline__ void wg_mma_rs_f16 (float (&d)[NT][4], const uint32_t (&a)[4],
                                               uint64_t db);

/* the specialisation for NT n-tiles (N = 8 NT) and B's major TB; ACC the accumulators' operand
 * list, TILES their "+f" list; A0 .. PR the operand numbers after them (A's four registers,
 * B's descriptor, the accumulate flag) */
#define WG_MMA_RS(NT, N, TB, ACC, TILES, A0, A1, A2, A3, DB, PR)                              \
  template <>                                                                               \
  __device__ __forceinline__ void wg_mma_rs_f16<NT, TB> (float (&d)[NT][4],                  \
                                                         const uint32_t (&a)[4], uint64_t db) \
  {                                                                                         \
    asm volatile ("{\n.reg .pred p;\nsetp.ne.b32 p, %" PR ", 0;\n"                          \
                  "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32.f16.f16 " ACC              \
                  ", {%" A0 ", %" A1 ", %" A2 ", %" A3 "}, %" DB ", p, 1, 1, " #TB ";\n}\n"     \
                  : TILES (d, 0)                                                            \
                  : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));           \
  }
#define WG_MMA_RS2(NT, N, ACC, TILES, A0, A1, A2, A3, DB, PR)                                 \
  WG_MMA_RS (NT, N, 0, ACC, TILES, A0, A1, A2, A3, DB, PR)                                  \
  WG_MMA_RS (NT, N, 1, ACC, TILES, A0, A1, A2, A3, DB, PR)
WG_MMA_RS2 (8, 64, WG_ACC32, WG_T8, "32", "33", "34", "35", "36", "37")
WG_MMA_RS2 (16, 128, WG_ACC64, WG_T16, "64", "65", "66", "67", "68", "69")
WG_MMA_RS2 (32, 256, WG_ACC128, WG_T32, "128", "129", "130", "131", "132", "133")
#undef WG_MMA_RS2
#undef WG_MMA_RS

/* mbarriers (shared memory, 8 bytes) for the tensor-memory-accelerator copies */
__device__ __forceinline__ void
wg_bar_init (uint64_t *bar, int count)
{
  asm volatile ("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr (bar)), "r"(count));
}

/* the barriers' initialisation made visible to the tensor memory accelerator */
__device__ __forceinline__ void
wg_bar_init_fence (void)
{
  asm volatile ("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

/* this thread's arrival, announcing bytes that copies will complete */
__device__ __forceinline__ void
wg_bar_expect (uint64_t *bar, uint32_t bytes)
{
  asm volatile ("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n"
                ::"r"(smem_addr (bar)), "r"(bytes) : "memory");
}

/* until the barrier's phase of this parity has completed */
__device__ __forceinline__ void
wg_bar_wait (uint64_t *bar, int parity)
{
  uint32_t done = 0;
  while (!done)
    asm volatile ("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                  "selp.u32 %0, 1, 0, p;\n}\n"
                  : "=r"(done) : "r"(smem_addr (bar)), "r"(parity) : "memory");
}

/* the box at (x, y) of a 2-d tensor map into shared memory, completing on bar */
__device__ __forceinline__ void
wg_tma_load (void *dst, const CUtensorMap *map, int x, int y, uint64_t *bar)
{
  asm volatile ("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                " [%0], [%1, {%2, %3}], [%4];\n"
                ::"r"(smem_addr (dst)), "l"(map), "r"(x), "r"(y), "r"(smem_addr (bar))
                : "memory");
}

#endif

/* the driver's tensor-map encoder, by the runtime's entry point (no link against libcuda);
 * NULL if the driver has none */
static inline PFN_cuTensorMapEncodeTiled_v12000
wg_tensor_map_encoder (void)
{
  PFN_cuTensorMapEncodeTiled_v12000 encode = NULL;
  cudaDriverEntryPointQueryResult found;
  if (cudaGetDriverEntryPointByVersion ("cuTensorMapEncodeTiled", (void **) &encode, 12000,
                                       cudaEnableDefault, &found) != cudaSuccess ||
      found != cudaDriverEntryPointSuccess) {
    (void) cudaGetLastError ();
    return NULL;
  }
  return encode;
}
