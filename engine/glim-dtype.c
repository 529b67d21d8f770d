/* glim-dtype.c: element type names and scalar conversions.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-dtype"

#include "glim-dtype.h"

#include <math.h>
#include <string.h>

const float glim_e2m1_values[16] = {
  0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
  -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f,
};

static const struct {
  const char *name;
  GlimDtype   dtype;
  gsize       size;
} dtype_table[] = {
  { "F64", GLIM_DTYPE_F64, 8 },       { "F32", GLIM_DTYPE_F32, 4 },
  { "F16", GLIM_DTYPE_F16, 2 },       { "BF16", GLIM_DTYPE_BF16, 2 },
  { "F8_E4M3", GLIM_DTYPE_F8_E4M3, 1 }, { "F8_E5M2", GLIM_DTYPE_F8_E5M2, 1 },
  { "I64", GLIM_DTYPE_I64, 8 },       { "I32", GLIM_DTYPE_I32, 4 },
  { "I16", GLIM_DTYPE_I16, 2 },       { "I8", GLIM_DTYPE_I8, 1 },
  { "U64", GLIM_DTYPE_U64, 8 },       { "U32", GLIM_DTYPE_U32, 4 },
  { "U16", GLIM_DTYPE_U16, 2 },       { "U8", GLIM_DTYPE_U8, 1 },
  { "BOOL", GLIM_DTYPE_BOOL, 1 },
};

GlimDtype
glim_dtype_from_name (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (strcmp (dtype_table[i].name, name) == 0)
      return dtype_table[i].dtype;
  return GLIM_DTYPE_INVALID;
}

const char *
glim_dtype_name (GlimDtype dtype)
{
  for (gsize i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (dtype_table[i].dtype == dtype)
      return dtype_table[i].name;
  return "invalid";
}

gsize
glim_dtype_size (GlimDtype dtype)
{
  for (gsize i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (dtype_table[i].dtype == dtype)
      return dtype_table[i].size;
  return 0;
}

float
glim_f16_to_f32 (uint16_t h)
{
  uint32_t sign = (uint32_t) (h >> 15) << 31;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  union { uint32_t u; float f; } v;
  if (exp == 0) {
    /* zero or subnormal: man * 2^-24 */
    float f = ldexpf ((float) man, -24);
    return sign ? -f : f;
  } else if (exp == 31) {
    v.u = sign | 0x7f800000u | (man << 13);
  } else {
    v.u = sign | ((exp + 112) << 23) | (man << 13);
  }
  return v.f;
}

/* E4M3 "fn": bias 7, no infinities, S.1111.111 is NaN, max finite 448. */
float
glim_fp8_e4m3_to_f32 (uint8_t b)
{
  int sign = b >> 7;
  int exp = (b >> 3) & 0xf;
  int man = b & 0x7;
  float f;
  if (exp == 0xf && man == 0x7)
    return NAN;
  if (exp == 0)
    f = ldexpf ((float) man, -9);                 /* subnormal: man/8 * 2^-6 */
  else
    f = ldexpf (1.0f + (float) man / 8.0f, exp - 7);
  return sign ? -f : f;
}

uint8_t
glim_f32_to_fp8_e4m3 (float f)
{
  if (isnan (f))
    return 0x7f;
  uint8_t sign = signbit (f) ? 0x80 : 0;
  float a = fabsf (f);
  if (a >= 448.0f)
    return sign | 0x7e;
  if (a < 0.015625f) {
    /* Below the smallest normal (2^-6) the codes are the multiples of 2^-9; a * 512 is exact
     * and rintf rounds half to even in the default rounding mode. 8 gives code 0x08 = 2^-6. */
    return sign | (uint8_t) rintf (a * 512.0f);
  }
  /* Normal range: keep 3 of the 23 mantissa bits, rounding the 20 dropped bits to nearest
   * even; a carry out of the mantissa correctly bumps the exponent. Rebias 127 -> 7. */
  uint32_t u;
  memcpy (&u, &a, sizeof u);
  u += 0x7ffffu + ((u >> 20) & 1u);
  uint32_t code = (u >> 20) - ((127u - 7u) << 3);
  return sign | (uint8_t) (code > 0x7e ? 0x7e : code);
}

gboolean
glim_dtype_to_f32 (GlimDtype dtype, const void *src, float *dst, gsize n)
{
  const uint8_t *p = src;
  switch (dtype) {
  case GLIM_DTYPE_F32:
    memcpy (dst, src, n * sizeof (float));
    return TRUE;
  case GLIM_DTYPE_BF16:
    for (gsize i = 0; i < n; i++) {
      uint16_t h;
      memcpy (&h, p + 2 * i, 2);
      dst[i] = glim_bf16_to_f32 (h);
    }
    return TRUE;
  case GLIM_DTYPE_F16:
    for (gsize i = 0; i < n; i++) {
      uint16_t h;
      memcpy (&h, p + 2 * i, 2);
      dst[i] = glim_f16_to_f32 (h);
    }
    return TRUE;
  case GLIM_DTYPE_F8_E4M3:
    for (gsize i = 0; i < n; i++)
      dst[i] = glim_fp8_e4m3_to_f32 (p[i]);
    return TRUE;
  case GLIM_DTYPE_F64:
    for (gsize i = 0; i < n; i++) {
      double d;
      memcpy (&d, p + 8 * i, 8);
      dst[i] = (float) d;
    }
    return TRUE;
  default:
    return FALSE;
  }
}
