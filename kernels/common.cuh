/* common.cuh: device helpers shared by the kernels: number formats and warp/block reductions.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "gk.h"

#define GK_CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

/* fp8 e4m3 (fn) -> float: bias 7, subnormals m * 2^-9; NaN (0x7f) never occurs in scales. */
__device__ __forceinline__ float
gk_fp8_e4m3 (uint32_t b)
{
  uint32_t e = (b >> 3) & 0xf, m = b & 7;
  float f = e ? __uint_as_float (((e + 120u) << 23) | (m << 20)) : (float) m * (1.0f / 512.0f);
  return (b & 0x80) ? -f : f;
}

/* The same in two instructions where the hardware converts fp8 (sm_89, sm_90): e4m3 -> f16 is
 * exact (every e4m3 value, subnormals included, is a normal f16), then f16 -> f32. */
__device__ __forceinline__ float
gk_fp8_e4m3_fast (uint32_t b)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  uint32_t h2;
  asm ("{\n\t.reg .b16 lo;\n\tcvt.u16.u32 lo, %1;\n\tcvt.rn.f16x2.e4m3x2 %0, lo;\n\t}"
       : "=r"(h2) : "r"(b));
  return __half2float (__ushort_as_half ((unsigned short) (h2 & 0xffffu)));
#else
  return gk_fp8_e4m3 (b);
#endif
}

/* E2M1 code (4 bits) -> float: magnitudes 0, .5, 1, 1.5, 2, 3, 4, 6; bit 3 is the sign. */
__device__ __forceinline__ float
gk_e2m1 (uint32_t c)
{
  uint32_t e = (c >> 1) & 3, m = c & 1;
  uint32_t bits = e ? (((126u + e) << 23) | (m << 22)) : (m ? (126u << 23) : 0u);
  return __uint_as_float (bits | ((c & 8u) << 28));
}

__device__ __forceinline__ float
gk_bf16 (uint16_t h)
{
  return __uint_as_float ((uint32_t) h << 16);
}

/* round to nearest even */
__device__ __forceinline__ uint16_t
gk_to_bf16 (float f)
{
  uint32_t u = __float_as_uint (f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((u >> 16) | 0x40);
  return (uint16_t) ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* x as bf16 hi + lo: hi is x rounded, lo what it leaves over, rounded (16 significant bits
 * together: the split the exact tensor-core kernels multiply with) */
__device__ __forceinline__ void
gk_bf16_hilo (float x, uint16_t &hi, uint16_t &lo)
{
  hi = gk_to_bf16 (x);
  lo = gk_to_bf16 (x - gk_bf16 (hi));
}

/* The same for two floats at once, packed (x0 in the low half), with the hardware's
 * round-to-nearest-even conversion (one cvt per pair instead of gk_to_bf16's bit arithmetic per
 * value; the same bits for every finite input): for the hi + lo splits inside softmax loops. */
__device__ __forceinline__ void
gk_bf16x2_hilo (float x0, float x1, uint32_t &hi, uint32_t &lo)
{
  __nv_bfloat162 h = __floats2bfloat162_rn (x0, x1);
  hi = *reinterpret_cast<const uint32_t *> (&h);
  __nv_bfloat162 l = __floats2bfloat162_rn (x0 - __uint_as_float (hi << 16),
                                            x1 - __uint_as_float (hi & 0xffff0000u));
  lo = *reinterpret_cast<const uint32_t *> (&l);
}

__device__ __forceinline__ float
gk_half (uint16_t h)
{
  return __half2float (__ushort_as_half (h));
}

/* Sum over the warp (float, or double where a kernel needs it); every lane gets it. */
template <typename V>
__device__ __forceinline__ V
gk_warp_sum (V v)
{
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync (0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float
gk_warp_max (float v)
{
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf (v, __shfl_xor_sync (0xffffffffu, v, o));
  return v;
}

/* Reduce over the block (blockDim.x a multiple of 32, at most 1024) with the warp reduction
 * WARP and the identity `none`; every thread gets the result. `red` is shared scratch of 32
 * values. Fixed order: deterministic. */
template <typename V, V (*WARP) (V)>
__device__ __forceinline__ V
gk_block_reduce (V v, V *red, V none)
{
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = WARP (v);
  __syncthreads ();
  if (lane == 0)
    red[warp] = v;
  __syncthreads ();
  int n = blockDim.x >> 5;
  v = lane < n ? red[lane] : none;
  return WARP (v);
}

__device__ __forceinline__ float
gk_block_sum (float v, float *red)
{
  return gk_block_reduce<float, gk_warp_sum<float>> (v, red, 0.0f);
}

__device__ __forceinline__ float
gk_block_max (float v, float *red)
{
  return gk_block_reduce<float, gk_warp_max> (v, red, -3.402823466e38f);
}

/* d += a . b, mma.sync m16n8k16 row.col, bf16 or f16 inputs, float32 accumulators (sm_80+) */
__device__ __forceinline__ void
gk_mma_bf16 (float *d, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
             uint32_t b1)
{
  asm volatile ("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void
gk_mma_f16 (float *d, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
            uint32_t b1)
{
  asm volatile ("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* silu(g) * u, silu(v) = v / (1 + e^-v): SwiGLU's product (engine/cpu/cpu-ops.c
 * glim_cpu_silu_mul) */
__device__ __forceinline__ float
gk_silu_mul (float g, float u)
{
  return g / (1.0f + expf (-g)) * u;
}

/* 2^x by the hardware's approximation (ex2.approx.ftz: relative error about 2^-22, results
 * below 2^-126 flushed to 0, 2^-inf = 0), for softmax weights: exp2f adds a range check and
 * two multiplies around the same instruction for the subnormals. */
__device__ __forceinline__ float
gk_exp2_fast (float x)
{
  float y;
  asm ("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

/* The power of two s that brings a largest magnitude m into [2^14, 2^15) (s * m), for
 * operands rounded to f16 (max 65,504); 1 where m is 0 or not finite, at most 2^100. */
__device__ __forceinline__ float
gk_f16_range_scale (float m)
{
  if (!(m > 0.0f) || !isfinite (m))
    return 1.0f;
  int e;
  frexpf (m, &e);                               /* m = f 2^e, f in [0.5, 1) */
  return ldexpf (1.0f, min (15 - e, 100));
}

/* NVFP4 codes as f16 pairs for mma.sync (gemv-mma.cu, gemm-fp4.cu; Marlin's trick: the E2M1
 * bits placed in an f16's sign, exponent and mantissa read as the value times 2^-14). */
__device__ __forceinline__ uint32_t
gk_hmul2 (uint32_t a, uint32_t b)
{
  __half2 r = __hmul2 (*(const __half2 *) &a, *(const __half2 *) &b);
  return *(const uint32_t *) &r;
}

/* Two fp8 e4m3 block scales (bytes 0 and 1 of s) as an f16 pair times 2^7: the bits
 * (e4m3 & 0x7f) << 7 read as f16 are the scale times 2^-8, subnormals included; times 2^15
 * (exact) gives 2^7. At most 448 * 2^7 = 57,344 < 65,504. */
__device__ __forceinline__ uint32_t
gk_e4m3x2_f16x2 (uint32_t s)
{
  uint32_t h = ((s & 0x7fu) << 7) | ((s & 0x7f00u) << 15) | ((s & 0x80u) << 8) |
               ((s & 0x8000u) << 16);
  return gk_hmul2 (h, 0x78007800u);   /* f16 32768 = 2^15 in both halves */
}

/* One fp8 e4m3 block scale (low byte of b) as an f16 pair, the same in both halves, for
 * gk_fp4_pair; gk_fp4_f16_undo gives the factor that the products then carry. sm_89 and later
 * convert in hardware (every e4m3 value is a normal f16: the scale itself); below, the bits of
 * gk_e4m3x2_f16x2 (the scale times 2^7). */
__device__ __forceinline__ uint32_t
gk_e4m3_f16x2_bcast (uint32_t b)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  uint32_t h2;
  asm ("{\n\t.reg .b16 lo;\n\tcvt.u16.u32 lo, %1;\n\tcvt.rn.f16x2.e4m3x2 %0, lo;\n\t}"
       : "=r"(h2) : "r"(b * 0x101u));
  return h2;
#else
  return (gk_e4m3x2_f16x2 (b) & 0xffffu) * 0x10001u;
#endif
}

/* gk_fp4_pair (q, gk_e4m3_f16x2_bcast (s)) is code * scale times this factor's inverse */
__device__ __forceinline__ float
gk_fp4_f16_undo (void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  return 16384.0f;      /* code * 2^-14 * scale */
#else
  return 128.0f;        /* code * 2^-14 * scale * 2^7 */
#endif
}

/* The f16 pair (code J, code J + 4) of the 8 E2M1 codes in q (code j: bits 4j .. 4j + 3),
 * times the scale pair sc (gk_e4m3x2_f16x2 or gk_e4m3_f16x2_bcast): code * 2^-14 times sc's
 * f16 values, exact (at most 6 significant bits). */
template <int J>
__device__ __forceinline__ uint32_t
gk_fp4_pair (uint32_t q, uint32_t sc)
{
  uint32_t y = J == 3 ? q : q << (12 - 4 * J);
  uint32_t z = J == 3 ? q >> 3 : q << (9 - 4 * J);
  uint32_t h = (y & 0x80008000u) | (z & 0x0e000e00u);
  return gk_hmul2 (h, sc);
}

/* Shared-memory address, cp.async (16 bytes, zero-filled when !valid) and ldmatrix, for the
 * mma.sync kernels (mla-mma.cu, flash-attn.cu); sm_80+. */
__device__ __forceinline__ uint32_t
smem_addr (const void *p)
{
  return (uint32_t) __cvta_generic_to_shared (p);
}

__device__ __forceinline__ void
cp_async16 (void *dst, const void *src, bool valid)
{
  /* src-size 0 fills the 16 bytes with zeros (keys past the end of the split) */
  asm volatile ("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr (dst)),
                "l"(src), "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void
cp_async_commit (void)
{
  asm volatile ("cp.async.commit_group;\n" ::);
}

template <int N>
__device__ __forceinline__ void
cp_async_wait (void)
{
  asm volatile ("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void
ldsm_x4 (uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3, const void *p)
{
  asm volatile ("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(smem_addr (p)));
}

__device__ __forceinline__ void
ldsm_x4_trans (uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3, const void *p)
{
  asm volatile ("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(smem_addr (p)));
}

__device__ __forceinline__ void
ldsm_x2 (uint32_t &r0, uint32_t &r1, const void *p)
{
  asm volatile ("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                : "=r"(r0), "=r"(r1) : "r"(smem_addr (p)));
}

/* One element of row r, column c of a matrix in any format (slow path helpers). */
__device__ __forceinline__ float
gk_matrix_at (const GkMatrix &w, int r, int c)
{
  size_t off = (size_t) r * (size_t) w.cols + (size_t) c;
  switch (w.format) {
  case GK_WEIGHT_F32:
    return ((const float *) w.data)[off];
  case GK_WEIGHT_BF16:
    return gk_bf16 (((const uint16_t *) w.data)[off]);
  case GK_WEIGHT_F16:
    return gk_half (((const uint16_t *) w.data)[off]);
  default: {
    uint8_t byte = ((const uint8_t *) w.data)[off / 2];
    float s = gk_fp8_e4m3 (w.scales[off / 16]) * w.scale2;
    return gk_e2m1 ((off & 1) ? (byte >> 4) : (byte & 0xf)) * s;
  }
  }
}

/* Programmatic dependent launch (sm_90): let the next kernel in the stream start (it must
 * gk_pdl_wait before reading what this one writes), and wait until the kernels this one depends
 * on have finished with their writes visible. Both are no-ops for kernels launched without the
 * attribute, and below sm_90. */
__device__ __forceinline__ void
gk_pdl_launch_dependents (void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile ("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void
gk_pdl_wait (void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile ("griddepcontrol.wait;" ::: "memory");
#endif
}

/* Streaming multiprocessors of the current device, or fallback if it cannot be asked. */
static inline int
gk_device_sms (int fallback)
{
  int dev = 0, sms = 0;
  if (cudaGetDevice (&dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
      sms <= 0)
    return fallback;
  return sms;
}

/* Shared memory one block of the current device may opt in to (bytes), 0 if it cannot be
 * asked: what the kernels' shape choices fit into. */
static inline size_t
gk_device_smem_optin (void)
{
  int dev = 0, optin = 0;
  if (cudaGetDevice (&dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess ||
      optin <= 0)
    return 0;
  return (size_t) optin;
}

/* Whether the current device runs programmatic dependent launches (sm_90 and newer). */
static inline int
gk_device_has_pdl (void)
{
  int dev = 0, major = 0;
  if (cudaGetDevice (&dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
    return 0;
  return major >= 9;
}

/* A launch of grid x block (smem bytes of dynamic shared memory) on stream, as a programmatic
 * dependent of the stream's previous kernel when pdl and the device runs those; *attr holds the
 * attribute and must live until the launch. */
static inline cudaLaunchConfig_t
gk_launch_config (dim3 grid, dim3 block, size_t smem, cudaStream_t stream, bool pdl,
                  cudaLaunchAttribute *attr)
{
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  attr->id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr->val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl && gk_device_has_pdl () ? 1 : 0;
  return cfg;
}

/* Launch-error helper for launchers. */
static inline cudaError_t
gk_check_launch (void)
{
  return cudaGetLastError ();
}

/* ---- MLA decode: which split kernel takes a token, and into how many splits (mla.cu's simple
 * and combine kernels, mla-mma.cu's and mla-wgmma.cu's kernels must agree). `a.kernel` is
 * resolved by gk_mla_decode to GK_MLA_SIMPLE, GK_MLA_MMA, GK_MLA_WGMMA (v2's rule) or
 * GK_MLA_MMA_V1 before any launch. ---- */

#define GK_MLA_SIMPLE_SPLIT_KEYS 64   /* simple and v1 kernels: keys per split, at least */

/* whether the tensor-core kernel (not the simple one) takes a token with n_keys keys */
__device__ __forceinline__ bool
gk_mla_mma_takes (const GkMlaDecodeArgs &a, int n_keys)
{
  return a.kernel != GK_MLA_SIMPLE && n_keys >= a.mma_min_keys;
}

__device__ __forceinline__ int
gk_mla_splits (const GkMlaDecodeArgs &a, int n_keys)
{
  int s;
  if ((a.kernel == GK_MLA_MMA || a.kernel == GK_MLA_WGMMA) && gk_mla_mma_takes (a, n_keys)) {
    int fill = a.split_target > 0 ? GK_CEIL_DIV (a.split_target, a.T) : a.max_splits;
    s = min (n_keys / GK_MLA_SPLIT_MIN_KEYS, fill);
  } else {
    s = GK_CEIL_DIV (n_keys, GK_MLA_SIMPLE_SPLIT_KEYS);
    /* the simple kernel's blocks (H x splits x T) in one wave: at 1,025 keys 17 splits of 20
     * heads made 340 blocks, 264 resident on the H200, and the last 76 a second wave */
    if (!gk_mla_mma_takes (a, n_keys) && a.simple_fill > 0)
      s = min (s, max (1, a.simple_fill / (a.H * a.T)));
  }
  return max (1, min (s, a.max_splits));
}
