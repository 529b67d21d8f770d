/* glim-dtype.h: tensor element types and the scalar conversions the engine needs
 * (bf16, fp16, fp8 e4m3, fp4 e2m1 <-> float32).
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

/* Element types as they appear in safetensors headers. */
typedef enum {
  GLIM_DTYPE_INVALID = 0,
  GLIM_DTYPE_F64,
  GLIM_DTYPE_F32,
  GLIM_DTYPE_F16,
  GLIM_DTYPE_BF16,
  GLIM_DTYPE_F8_E4M3,
  GLIM_DTYPE_F8_E5M2,
  GLIM_DTYPE_I64,
  GLIM_DTYPE_I32,
  GLIM_DTYPE_I16,
  GLIM_DTYPE_I8,
  GLIM_DTYPE_U64,
  GLIM_DTYPE_U32,
  GLIM_DTYPE_U16,
  GLIM_DTYPE_U8,
  GLIM_DTYPE_BOOL,
} GlimDtype;

GlimDtype    glim_dtype_from_name (const char *name);
const char  *glim_dtype_name      (GlimDtype dtype);
gsize        glim_dtype_size      (GlimDtype dtype);

/* The 16 values of an FP4 E2M1 code: bit 3 sign, bits 2..0 index [0,.5,1,1.5,2,3,4,6]. */
extern const float glim_e2m1_values[16];

static inline float
glim_bf16_to_f32 (uint16_t h)
{
  union { uint32_t u; float f; } v = { .u = (uint32_t) h << 16 };
  return v.f;
}

/* Round to nearest even, as torch's .to(torch.bfloat16); NaN stays NaN. */
static inline uint16_t
glim_f32_to_bf16 (float f)
{
  union { uint32_t u; float f; } v = { .f = f };
  if ((v.u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((v.u >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((v.u >> 16) & 1u);
  return (uint16_t) ((v.u + rounding) >> 16);
}

float    glim_f16_to_f32     (uint16_t h);
float    glim_fp8_e4m3_to_f32 (uint8_t b);
/* Round to nearest even and saturate to +-448 (torch's float8_e4m3fn cast of a clamped value). */
uint8_t  glim_f32_to_fp8_e4m3 (float f);
/* Convert a run of n elements of dtype (little-endian bytes) to float32. FALSE for non-float types. */
gboolean glim_dtype_to_f32   (GlimDtype dtype, const void *src, float *dst, gsize n);

G_END_DECLS
