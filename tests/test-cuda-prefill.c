/* test-cuda-prefill.c: the kernels that feed the prefill's bf16 GEMMs (kernels/prefill.cu):
 * gk_dequant_bf16 bit for bit against the CPU dequantisation (glim_weight_row_to_f32 with
 * scale2 1) on random NVFP4 blocks with every e4m3 scale (subnormal, extreme, negative), aligned
 * and unaligned packed data; gk_split_bf16 (hi = bf16(x), hi + lo within 2^-16 of x) over
 * magnitudes across float32's range, strided and gathered rows; gk_moe_group against a host
 * grouping; gk_split_f16_mma (row scale, hi + lo, the column order) against float64;
 * gk_gemm_fp4 (kernels/gemm-fp4.cu) against float64 sums. Part of the test-cuda
 * program (registered from test-cuda.c).
 * SPDX-License-Identifier: MIT */
#include <glib.h>
#include <math.h>
#include <string.h>

#include <cuda_runtime.h>

#include "glim.h"
#include "glim-dtype.h"
#include "glim-model.h"
#include "../kernels/gk.h"
#include "test-cuda-util.h"

#include "test-cuda-prefill.h"

#define CUDA_OK(expr) g_assert_cmpstr (cudaGetErrorString (expr), ==, cudaGetErrorString (cudaSuccess))

/* ---- gk_dequant_bf16 ---- */

/* One random NVFP4 matrix [rows, cols] through the kernel, packed data at byte offset `shift`
 * of its allocation (0: aligned; 4: the kernel's unaligned path). Returns mismatches. */
static int
dequant_case (int rows, int cols, int shift, GRand *r)
{
  size_t n = (size_t) rows * cols;
  g_autofree uint8_t *q = g_new (uint8_t, n / 2);
  g_autofree uint8_t *s = g_new (uint8_t, n / 16);
  for (size_t i = 0; i < n / 2; i++)
    q[i] = (uint8_t) g_rand_int (r);
  for (size_t i = 0; i < n / 16; i++) {
    /* every e4m3 code but NaN (0x7f, 0xff), in turn, then random ones: zero, subnormals
     * (0x01-0x07, down to 2^-9), the largest (0x7e, 448), negative scales */
    uint8_t b = i < 254 ? (uint8_t) (i < 127 ? i : i + 1) : (uint8_t) g_rand_int_range (r, 0, 256);
    if ((b & 0x7f) == 0x7f)
      b ^= 1;
    s[i] = b;
  }
  uint8_t *d_q = NULL, *d_s = NULL;
  uint16_t *d_out = NULL;
  CUDA_OK (cudaMalloc ((void **) &d_q, n / 2 + 16));
  CUDA_OK (cudaMalloc ((void **) &d_s, n / 16));
  CUDA_OK (cudaMalloc ((void **) &d_out, n * 2));
  CUDA_OK (cudaMemcpy (d_q + shift, q, n / 2, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_s, s, n / 16, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemset (d_out, 0xff, n * 2));
  GkMatrix m = { .data = d_q + shift, .scales = d_s, .scale2 = 0.25f, .format = GK_WEIGHT_NVFP4,
                 .rows = rows, .cols = cols };
  CUDA_OK (gk_dequant_bf16 (d_out, &m, NULL));
  CUDA_OK (cudaDeviceSynchronize ());
  g_autofree uint16_t *out = g_new (uint16_t, n);
  CUDA_OK (cudaMemcpy (out, d_out, n * 2, cudaMemcpyDeviceToHost));
  cudaFree (d_q);
  cudaFree (d_s);
  cudaFree (d_out);

  /* the reference: the CPU backend's row dequantisation, without the global scale */
  GlimWeight w = { .name = "test", .format = GLIM_WEIGHT_NVFP4, .rows = rows, .cols = cols,
                   .data = q, .scales = s, .scale2 = 1.0f };
  g_autofree float *row = g_new (float, cols);
  int bad = 0;
  for (int i = 0; i < rows; i++) {
    glim_weight_row_to_f32 (&w, i, row);
    for (int c = 0; c < cols; c++) {
      float got = glim_bf16_to_f32 (out[(size_t) i * cols + c]);
      guint32 gb, wb;
      memcpy (&gb, &got, 4);
      memcpy (&wb, &row[c], 4);
      if (gb != wb && bad++ < 5)
        g_test_message ("rows %d cols %d shift %d: [%d, %d] = %.9g (0x%08x), CPU %.9g (0x%08x)",
                        rows, cols, shift, i, c, got, gb, row[c], wb);
    }
  }
  return bad;
}

static void
test_dequant_bf16 (void)
{
  GRand *r = g_rand_new_with_seed (7);
  const struct { int rows, cols; } shapes[] = {
    { 1, 16 }, { 3, 48 }, { 37, 272 }, { 64, 2048 }, { 1536, 2048 }, { 2048, 1536 },
  };
  int bad = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (shapes); i++)
    for (int shift = 0; shift <= 4; shift += 4)
      bad += dequant_case (shapes[i].rows, shapes[i].cols, shift, r);
  g_rand_free (r);
  g_assert_cmpint (bad, ==, 0);

  /* BF16 weights are used in place: the kernel refuses them rather than doing nothing */
  GkMatrix bf = { .format = GK_WEIGHT_BF16, .rows = 4, .cols = 16 };
  g_assert_cmpint (gk_dequant_bf16 (NULL, &bf, NULL), ==, cudaErrorNotSupported);
  cudaGetLastError ();
}

/* ---- gk_split_bf16 ---- */

static void
test_split_bf16 (void)
{
  GRand *r = g_rand_new_with_seed (11);
  const int R = 67, cols = 300, ldx = 317, n = 90;     /* not multiples of a warp or a block */
  g_autofree float *x = g_new (float, (size_t) R * ldx);
  for (size_t i = 0; i < (size_t) R * ldx; i++) {
    /* exponents where x - hi stays a normal float (bf16 has float32's exponent range, but
     * below 2^-126 its subnormals keep fewer bits) */
    double mag = pow (2.0, g_rand_double_range (r, -100.0, 120.0));
    x[i] = (float) (g_rand_boolean (r) ? mag : -mag);
  }
  x[5] = 0.0f;
  x[6] = -0.0f;
  x[7] = 3.0e38f;                                     /* near FLT_MAX, finite in bf16 */
  x[8] = 3.4e38f;                                     /* bf16 rounds it to inf: lo 0 */
  x[9] = 1.0f + 1.0f / 256.0f;                        /* a tie: hi 1 (even), lo 2^-8 */
  x[10] = 1.0f + 3.0f / 256.0f + 1.0f / 65536.0f;     /* just above a tie: hi rounds up */
  x[(size_t) ldx + 9] = INFINITY;                     /* lo is 0 where hi is not finite */
  g_autofree int32_t *rows = g_new (int32_t, n);
  for (int i = 0; i < n; i++)
    rows[i] = g_rand_int_range (r, 0, R);
  rows[0] = 0;
  rows[1] = 1;
  float *d_x;
  int32_t *d_rows;
  uint16_t *d_hi, *d_lo;
  CUDA_OK (cudaMalloc ((void **) &d_x, (size_t) R * ldx * 4));
  CUDA_OK (cudaMalloc ((void **) &d_rows, (size_t) n * 4));
  CUDA_OK (cudaMalloc ((void **) &d_hi, (size_t) n * cols * 2));
  CUDA_OK (cudaMalloc ((void **) &d_lo, (size_t) n * cols * 2));
  CUDA_OK (cudaMemcpy (d_x, x, (size_t) R * ldx * 4, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_rows, rows, (size_t) n * 4, cudaMemcpyHostToDevice));
  g_autofree uint16_t *hi = g_new (uint16_t, (size_t) n * cols);
  g_autofree uint16_t *lo = g_new (uint16_t, (size_t) n * cols);

  for (int gathered = 0; gathered < 2; gathered++) {
    int m = gathered ? n : R;
    CUDA_OK (gk_split_bf16 (d_hi, d_lo, d_x, ldx, gathered ? d_rows : NULL, m, cols, NULL));
    CUDA_OK (cudaDeviceSynchronize ());
    CUDA_OK (cudaMemcpy (hi, d_hi, (size_t) m * cols * 2, cudaMemcpyDeviceToHost));
    CUDA_OK (cudaMemcpy (lo, d_lo, (size_t) m * cols * 2, cudaMemcpyDeviceToHost));
    double worst = 0.0;
    int bad = 0;
    for (int i = 0; i < m; i++)
      for (int c = 0; c < cols; c++) {
        float v = x[(size_t) (gathered ? rows[i] : i) * ldx + c];
        size_t at = (size_t) i * cols + c;
        float h = glim_bf16_to_f32 (hi[at]), l = glim_bf16_to_f32 (lo[at]);
        gboolean ok = hi[at] == glim_f32_to_bf16 (v);
        if (!isfinite (h)) {
          ok = ok && lo[at] == 0;
        } else {
          double err = fabs ((double) h + (double) l - (double) v);
          double rel = v != 0.0f ? err / fabs ((double) v) : err;
          worst = MAX (worst, rel);
          ok = ok && rel <= ldexp (1.0, -16);
        }
        if (!ok && bad++ < 5)
          g_test_message ("x %.9g: hi %.9g (0x%04x) lo %.9g", v, h, hi[at], l);
      }
    g_test_message ("%s rows: worst relative error of hi + lo %.3g (bound %.3g)",
                    gathered ? "gathered" : "strided", worst, ldexp (1.0, -16));
    g_assert_cmpint (bad, ==, 0);
  }

  /* hi only: lo is left as it was */
  CUDA_OK (cudaMemset (d_lo, 0x5a, (size_t) n * cols * 2));
  CUDA_OK (gk_split_bf16 (d_hi, NULL, d_x, ldx, NULL, R, cols, NULL));
  CUDA_OK (cudaDeviceSynchronize ());
  CUDA_OK (cudaMemcpy (hi, d_hi, (size_t) R * cols * 2, cudaMemcpyDeviceToHost));
  CUDA_OK (cudaMemcpy (lo, d_lo, (size_t) R * cols * 2, cudaMemcpyDeviceToHost));
  for (int i = 0; i < R; i++)
    for (int c = 0; c < cols; c++) {
      g_assert_cmpuint (hi[(size_t) i * cols + c], ==, glim_f32_to_bf16 (x[(size_t) i * ldx + c]));
      g_assert_cmpuint (lo[(size_t) i * cols + c], ==, 0x5a5a);
    }
  cudaFree (d_x);
  cudaFree (d_rows);
  cudaFree (d_hi);
  cudaFree (d_lo);
  g_rand_free (r);
}

/* ---- gk_moe_group ---- */

static int
cmp_pair (gconstpointer a, gconstpointer b)
{
  const int32_t *x = a, *y = b;
  return (x[0] != y[0]) ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

static void
test_moe_group (void)
{
  const int T = 777, K = 4, E = 64;
  GRand *r = g_rand_new_with_seed (3);
  g_autofree int32_t *idx = g_new (int32_t, T * K);
  g_autofree float *w = g_new (float, T * K);
  for (int t = 0; t < T; t++)
    for (int k = 0; k < K; k++) {
      int e;
      gboolean again;
      do {                 /* distinct experts per token, skewed towards the low ones */
        e = t % 5 == 0 ? g_rand_int_range (r, 0, 6) : g_rand_int_range (r, 0, E);
        again = FALSE;
        for (int j = 0; j < k; j++)
          again = again || idx[t * K + j] == e;
      } while (again);
      idx[t * K + k] = e;
      w[t * K + k] = (float) (t * K + k) + 0.5f;     /* names its pair */
    }
  idx[13] = -1;            /* out of range: left out, and offsets[E] says so */
  idx[14] = E;
  int32_t *d_idx, *d_off, *d_tok, *d_slot;
  float *d_w, *d_lw;
  CUDA_OK (cudaMalloc ((void **) &d_idx, (size_t) T * K * 4));
  CUDA_OK (cudaMalloc ((void **) &d_w, (size_t) T * K * 4));
  CUDA_OK (cudaMalloc ((void **) &d_off, (size_t) (E + 1) * 4));
  CUDA_OK (cudaMalloc ((void **) &d_tok, (size_t) T * K * 4));
  CUDA_OK (cudaMalloc ((void **) &d_slot, (size_t) T * K * 4));
  CUDA_OK (cudaMalloc ((void **) &d_lw, (size_t) T * K * 4));
  CUDA_OK (cudaMemcpy (d_idx, idx, (size_t) T * K * 4, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_w, w, (size_t) T * K * 4, cudaMemcpyHostToDevice));
  CUDA_OK (gk_moe_group (d_off, d_tok, d_slot, d_lw, d_idx, d_w, T, K, E, NULL));
  CUDA_OK (cudaDeviceSynchronize ());
  g_autofree int32_t *off = g_new (int32_t, E + 1);
  g_autofree int32_t *tok = g_new (int32_t, T * K);
  g_autofree int32_t *slot = g_new (int32_t, T * K);
  g_autofree float *lw = g_new (float, T * K);
  CUDA_OK (cudaMemcpy (off, d_off, (size_t) (E + 1) * 4, cudaMemcpyDeviceToHost));
  CUDA_OK (cudaMemcpy (tok, d_tok, (size_t) T * K * 4, cudaMemcpyDeviceToHost));
  CUDA_OK (cudaMemcpy (slot, d_slot, (size_t) T * K * 4, cudaMemcpyDeviceToHost));
  CUDA_OK (cudaMemcpy (lw, d_lw, (size_t) T * K * 4, cudaMemcpyDeviceToHost));

  /* the host grouping: pairs of each expert in (token, slot) order */
  g_assert_cmpint (off[0], ==, 0);
  g_assert_cmpint (off[E], ==, T * K - 2);
  for (int e = 0; e < E; e++) {
    g_autoptr (GArray) want = g_array_new (FALSE, FALSE, 2 * sizeof (int32_t));
    for (int i = 0; i < T * K; i++)
      if (idx[i] == e) {
        int32_t pr[2] = { i / K, i % K };
        g_array_append_val (want, pr);
      }
    g_assert_cmpint (off[e + 1] - off[e], ==, (int) want->len);
    g_autoptr (GArray) got = g_array_new (FALSE, FALSE, 2 * sizeof (int32_t));
    for (int p = off[e]; p < off[e + 1]; p++) {
      int32_t pr[2] = { tok[p], slot[p] };
      g_assert_cmpfloat (lw[p], ==, w[tok[p] * K + slot[p]]);
      g_array_append_val (got, pr);
    }
    g_array_sort (got, cmp_pair);
    g_assert_cmpmem (got->data, got->len * 8, want->data, want->len * 8);
  }
  cudaFree (d_idx);
  cudaFree (d_w);
  cudaFree (d_off);
  cudaFree (d_tok);
  cudaFree (d_slot);
  cudaFree (d_lw);
  g_rand_free (r);
}

/* ---- gk_split_f16_mma and gk_gemm_fp4 ---- */

/* where gk.h puts column c of a row: its 32-column block, then 16 m + 8 h + 2 q + e for
 * c % 32 = 8 q + 4 e + 2 m + h */
static int
perm_pos (int c)
{
  int q = (c >> 3) & 3, e = (c >> 2) & 1, m = (c >> 1) & 1, h = c & 1;
  return (c & ~31) + 16 * m + 8 * h + 2 * q + e;
}

static double
silu_d (double v)
{
  return v / (1.0 + exp (-v));
}

/* One width through gk_split_f16_mma (cols up to 8 or 16 values a thread, or more: the kernel's
 * three ways to hold a row) */
static void
split_f16_case (int cols, int ldx)
{
  GRand *r = g_rand_new_with_seed (13 + (guint32) cols);
  const int R = 41, n = 57;
  g_autofree float *x = g_new (float, (size_t) R * ldx);
  g_autofree float *u = g_new (float, (size_t) R * ldx);
  for (int i = 0; i < R; i++) {
    /* each row its own magnitude (2^-80 .. 2^80), values spread over 2^-30 of it */
    double row_mag = pow (2.0, g_rand_double_range (r, -80.0, 80.0));
    for (int c = 0; c < ldx; c++) {
      double mag = row_mag * pow (2.0, g_rand_double_range (r, -30.0, 0.0));
      x[(size_t) i * ldx + c] = (float) (g_rand_boolean (r) ? mag : -mag);
      u[(size_t) i * ldx + c] = (float) g_rand_double_range (r, -4.0, 4.0);
    }
  }
  for (int c = 0; c < ldx; c++)
    x[(size_t) 2 * ldx + c] = 0.0f;                  /* a row of zeros: scale 1 */
  for (int c = 0; c < ldx; c++)                      /* a row in f16's range ... */
    x[(size_t) 3 * ldx + c] = (float) g_rand_double_range (r, -1000.0, 1000.0);
  x[(size_t) 3 * ldx + 17] = INFINITY;               /* ... not finite: scale 1, lo 0 there */
  for (int c = 0; c < ldx; c++)                      /* a row whose largest is a power of two */
    x[(size_t) 4 * ldx + c] = (float) g_rand_double_range (r, -1000.0, 1000.0);
  x[(size_t) 4 * ldx] = 262144.0f;                   /* scaled to 2^14 exactly */
  g_autofree int32_t *rows = g_new (int32_t, n);
  for (int i = 0; i < n; i++)
    rows[i] = g_rand_int_range (r, 0, R);
  for (int i = 0; i < 5; i++)
    rows[i] = i;
  float *d_x, *d_u, *d_sc;
  int32_t *d_rows;
  uint16_t *d_hi, *d_lo;
  CUDA_OK (cudaMalloc ((void **) &d_x, (size_t) R * ldx * 4));
  CUDA_OK (cudaMalloc ((void **) &d_u, (size_t) R * ldx * 4));
  CUDA_OK (cudaMalloc ((void **) &d_sc, (size_t) MAX (R, n) * 4));
  CUDA_OK (cudaMalloc ((void **) &d_rows, (size_t) n * 4));
  CUDA_OK (cudaMalloc ((void **) &d_hi, (size_t) MAX (R, n) * cols * 2));
  CUDA_OK (cudaMalloc ((void **) &d_lo, (size_t) MAX (R, n) * cols * 2));
  CUDA_OK (cudaMemcpy (d_x, x, (size_t) R * ldx * 4, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_u, u, (size_t) R * ldx * 4, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_rows, rows, (size_t) n * 4, cudaMemcpyHostToDevice));
  g_autofree uint16_t *hi = g_new (uint16_t, (size_t) MAX (R, n) * cols);
  g_autofree uint16_t *lo = g_new (uint16_t, (size_t) MAX (R, n) * cols);
  g_autofree float *sc = g_new (float, MAX (R, n));

  for (int variant = 0; variant < 3; variant++) {
    /* 0: strided rows; 1: gathered rows; 2: gathered, x = silu(x) * u */
    gboolean gathered = variant > 0, swiglu = variant == 2;
    int m = gathered ? n : R;
    CUDA_OK (gk_split_f16_mma (d_hi, d_lo, d_sc, d_x, swiglu ? d_u : NULL, ldx,
                               gathered ? d_rows : NULL, m, cols, NULL));
    CUDA_OK (cudaDeviceSynchronize ());
    CUDA_OK (cudaMemcpy (hi, d_hi, (size_t) m * cols * 2, cudaMemcpyDeviceToHost));
    CUDA_OK (cudaMemcpy (lo, d_lo, (size_t) m * cols * 2, cudaMemcpyDeviceToHost));
    CUDA_OK (cudaMemcpy (sc, d_sc, (size_t) m * 4, cudaMemcpyDeviceToHost));
    double worst = 0.0;
    int bad = 0;
    for (int i = 0; i < m; i++) {
      size_t at = (size_t) (gathered ? rows[i] : i) * ldx;
      g_autofree double *v = g_new (double, cols);
      double big = 0.0;
      gboolean finite = TRUE;
      for (int c = 0; c < cols; c++) {
        v[c] = swiglu ? silu_d (x[at + c]) * u[at + c] : x[at + c];
        finite = finite && isfinite (v[c]);
        big = isfinite (v[c]) ? MAX (big, fabs (v[c])) : big;
      }
      int e;
      double f = frexp (sc[i], &e);
      gboolean ok = f == 0.5;                          /* a power of two */
      if (finite && big > 0.0)
        ok = ok && big / sc[i] >= 16384.0 * (1 - 1e-6) && big / sc[i] < 32768.0;
      else
        ok = ok && sc[i] == 1.0f;
      if (!ok && bad++ < 5)
        g_test_message ("variant %d row %d: largest %.9g, xscale %.9g", variant, i, big, sc[i]);
      for (int c = 0; c < cols; c++) {
        size_t o = (size_t) i * cols + perm_pos (c);
        double h = glim_f16_to_f32 (hi[o]), l = glim_f16_to_f32 (lo[o]);
        double want = v[c] / sc[i];
        if (!isfinite (want)) {
          ok = !isfinite (h) && lo[o] == 0;
        } else {
          /* hi within half an f16 ulp (2^-11 relative, 2^-25 below f16's normals), hi + lo
           * within 2^-22; silu's float expf in the kernel adds a few float ulps */
          double tol = swiglu ? ldexp (fabs (want), -20) : 0.0;
          double eh = fabs (h - want), el = fabs (h + l - want);
          ok = eh <= ldexp (fabs (want), -11) + ldexp (1.0, -25) + tol &&
               el <= ldexp (fabs (want), -22) + ldexp (1.0, -24) + tol;
          worst = MAX (worst, el / ldexp (1.0, 15));
        }
        if (!ok && bad++ < 5)
          g_test_message ("variant %d row %d col %d: x %.9g -> hi %.9g lo %.9g (xscale %.9g)",
                          variant, i, c, v[c], h, l, sc[i]);
      }
    }
    g_test_message ("variant %d: worst error of hi + lo %.3g of the row's largest", variant,
                    worst);
    g_assert_cmpint (bad, ==, 0);
  }

  /* hi only: the same hi, lo left as it was */
  g_autofree uint16_t *hi2 = g_new (uint16_t, (size_t) R * cols);
  CUDA_OK (gk_split_f16_mma (d_hi, d_lo, d_sc, d_x, NULL, ldx, NULL, R, cols, NULL));
  CUDA_OK (cudaMemcpy (hi2, d_hi, (size_t) R * cols * 2, cudaMemcpyDeviceToHost));
  CUDA_OK (cudaMemset (d_lo, 0x5a, (size_t) R * cols * 2));
  CUDA_OK (cudaMemset (d_hi, 0, (size_t) R * cols * 2));
  CUDA_OK (gk_split_f16_mma (d_hi, NULL, d_sc, d_x, NULL, ldx, NULL, R, cols, NULL));
  CUDA_OK (cudaDeviceSynchronize ());
  CUDA_OK (cudaMemcpy (hi, d_hi, (size_t) R * cols * 2, cudaMemcpyDeviceToHost));
  CUDA_OK (cudaMemcpy (lo, d_lo, (size_t) R * cols * 2, cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < (size_t) R * cols; i++) {
    g_assert_cmpuint (hi[i], ==, hi2[i]);
    g_assert_cmpuint (lo[i], ==, 0x5a5a);
  }
  /* widths the permutation does not cover */
  g_assert_cmpint (gk_split_f16_mma (d_hi, d_lo, d_sc, d_x, NULL, ldx, NULL, R, 48, NULL), ==,
                   cudaErrorNotSupported);
  cudaFree (d_x);
  cudaFree (d_u);
  cudaFree (d_sc);
  cudaFree (d_rows);
  cudaFree (d_hi);
  cudaFree (d_lo);
  g_rand_free (r);
}

static void
test_split_f16_mma (void)
{
  split_f16_case (320, 333);
  split_f16_case (2080, 2081);
  split_f16_case (4352, 4352);
}

/* a random f16 with its exponent field in [e0, e1] (0: subnormal) */
static uint16_t
rand_f16 (GRand *r, int e0, int e1)
{
  return (uint16_t) ((g_rand_boolean (r) ? 0x8000 : 0) | (g_rand_int_range (r, e0, e1 + 1) << 10) |
                     g_rand_int_range (r, 0, 1024));
}

/* Groups of random NVFP4 experts against random f16 hi + lo activations in gk.h's layout and
 * random row scales, through one launch, against float64 sums of the CPU's dequantised
 * weights: float32 accumulation of exact products, so within 1e-5 (relative L2 per group).
 * Shapes: partial feature and row tiles, an empty group, one row, the experts' own widths,
 * more rows than one tile; every case with and without the lo halves, and through both row
 * tiles (64 and 128) of the mma.sync kernel, and (hi only) the wgmma kernel's. */
static double
gemm_fp4_case (int lo, gboolean small, int impl, GRand *r)
{
  const struct { int n, rows; } all[] = { { 200, 70 }, { 128, 0 }, { 1536, 131 }, { 64, 1 },
                                          { 333, 64 }, { 256, 45 }, { 96, 300 } };
  int idx[G_N_ELEMENTS (all)], G = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (all); i++)
    if (!small || all[i].rows <= 64)
      idx[G++] = (int) i;
  const int K = 512, ldy = 1600;
  g_autofree GkGemmGroup *host = g_new0 (GkGemmGroup, G);
  g_autofree uint8_t **q = g_new0 (uint8_t *, G);
  g_autofree uint8_t **sc = g_new0 (uint8_t *, G);
  g_autofree uint16_t **xh = g_new0 (uint16_t *, G);
  g_autofree uint16_t **xl = g_new0 (uint16_t *, G);
  g_autofree float **xs = g_new0 (float *, G);
  g_autofree void **dev = g_new0 (void *, 5 * G);
  int max_n = 0, max_rows = 0;
  for (int gi = 0; gi < G; gi++) {
    int N = all[idx[gi]].n, R = all[idx[gi]].rows;
    size_t n = (size_t) N * K, xn = (size_t) MAX (R, 1) * K;
    q[gi] = g_new (uint8_t, n / 2);
    sc[gi] = g_new (uint8_t, n / 16);
    for (size_t i = 0; i < n / 2; i++)
      q[gi][i] = (uint8_t) g_rand_int (r);
    for (size_t i = 0; i < n / 16; i++)
      sc[gi][i] = (uint8_t) g_rand_int_range (r, 0x20, 0x48);   /* 2^-5 .. 2^2: ordinary */
    xh[gi] = g_new (uint16_t, xn);
    xl[gi] = g_new (uint16_t, xn);
    xs[gi] = g_new (float, MAX (R, 1));
    for (size_t i = 0; i < xn; i++) {
      xh[gi][i] = rand_f16 (r, 8, 29);          /* 2^-7 .. 2^14 */
      xl[gi][i] = rand_f16 (r, 0, 12);          /* subnormals .. 2^-3 */
    }
    for (int i = 0; i < MAX (R, 1); i++)
      xs[gi][i] = ldexpf (1.0f, g_rand_int_range (r, -20, 6));
    CUDA_OK (cudaMalloc (&dev[5 * gi], n / 2));
    CUDA_OK (cudaMalloc (&dev[5 * gi + 1], n / 16));
    CUDA_OK (cudaMalloc (&dev[5 * gi + 2], 2 * xn * 2));
    CUDA_OK (cudaMalloc (&dev[5 * gi + 3], (size_t) MAX (R, 1) * ldy * 4));
    CUDA_OK (cudaMalloc (&dev[5 * gi + 4], (size_t) MAX (R, 1) * 4));
    CUDA_OK (cudaMemcpy (dev[5 * gi], q[gi], n / 2, cudaMemcpyHostToDevice));
    CUDA_OK (cudaMemcpy (dev[5 * gi + 1], sc[gi], n / 16, cudaMemcpyHostToDevice));
    CUDA_OK (cudaMemcpy (dev[5 * gi + 2], xh[gi], xn * 2, cudaMemcpyHostToDevice));
    CUDA_OK (cudaMemcpy ((uint16_t *) dev[5 * gi + 2] + xn, xl[gi], xn * 2,
                         cudaMemcpyHostToDevice));
    CUDA_OK (cudaMemset (dev[5 * gi + 3], 0xff, (size_t) MAX (R, 1) * ldy * 4));   /* NaN */
    CUDA_OK (cudaMemcpy (dev[5 * gi + 4], xs[gi], (size_t) MAX (R, 1) * 4,
                         cudaMemcpyHostToDevice));
    host[gi] = (GkGemmGroup) {
      .w = { .data = dev[5 * gi], .scales = dev[5 * gi + 1], .scale2 = 0.5f,
             .format = GK_WEIGHT_NVFP4, .rows = N, .cols = K },
      .xhi = dev[5 * gi + 2], .xlo = lo ? (uint16_t *) dev[5 * gi + 2] + xn : NULL,
      .xscale = dev[5 * gi + 4], .y = dev[5 * gi + 3], .rows = R, .ldy = ldy, .alpha = 0.5f,
    };
    max_n = MAX (max_n, N);
    max_rows = MAX (max_rows, R);
  }
  GkGemmGroup *d_groups = NULL;
  CUDA_OK (cudaMalloc ((void **) &d_groups, G * sizeof (GkGemmGroup)));
  CUDA_OK (cudaMemcpy (d_groups, host, G * sizeof (GkGemmGroup), cudaMemcpyHostToDevice));
  CUDA_OK (gk_gemm_fp4 (d_groups, G, max_n, max_rows, K, lo, impl, NULL));
  CUDA_OK (cudaDeviceSynchronize ());

  double worst = 0.0;
  g_autofree float *wrow = g_new (float, K);
  for (int gi = 0; gi < G; gi++) {
    int N = all[idx[gi]].n, R = all[idx[gi]].rows;
    g_autofree float *y = g_new (float, (size_t) MAX (R, 1) * ldy);
    CUDA_OK (cudaMemcpy (y, host[gi].y, (size_t) MAX (R, 1) * ldy * 4, cudaMemcpyDeviceToHost));
    GlimWeight w = { .name = "test", .format = GLIM_WEIGHT_NVFP4, .rows = N, .cols = K,
                     .data = q[gi], .scales = sc[gi], .scale2 = 1.0f };
    double err = 0.0, ref = 0.0;
    gboolean untouched = TRUE;
    for (int n = 0; n < N; n++) {
      glim_weight_row_to_f32 (&w, n, wrow);
      for (int row = 0; row < R; row++) {
        double acc = 0.0;
        for (int k = 0; k < K; k++) {
          size_t o = (size_t) row * K + perm_pos (k);
          double xv = glim_f16_to_f32 (xh[gi][o]) + (lo ? glim_f16_to_f32 (xl[gi][o]) : 0.0);
          acc += (double) wrow[k] * xv;
        }
        acc *= 0.5 * xs[gi][row];
        double got = y[(size_t) row * ldy + n];
        err += (got - acc) * (got - acc);
        ref += acc * acc;
      }
    }
    /* nothing written past the group's features or rows (the NaN fill survives) */
    for (int row = 0; row < MAX (R, 1); row++)
      for (int n = (row < R ? N : 0); n < ldy; n++)
        untouched = untouched && isnan (y[(size_t) row * ldy + n]);
    double rel = R > 0 ? sqrt (err / MAX (ref, 1e-300)) : 0.0;
    if (!(rel <= worst))
      worst = rel;
    g_test_message ("%s, lo %d, %d rows at most: group %d: %d features x %d rows, K %d: rel L2 "
                    "%.3g against float64%s", impl == GK_GEMM_FP4_WGMMA ? "wgmma" : "mma.sync",
                    lo, max_rows, gi, N, R, K, rel,
                    untouched ? "" : ", wrote outside its rows/features");
    g_assert_true (untouched);
    g_free (q[gi]);
    g_free (sc[gi]);
    g_free (xh[gi]);
    g_free (xl[gi]);
    g_free (xs[gi]);
  }
  for (int i = 0; i < 5 * G; i++)
    cudaFree (dev[i]);
  cudaFree (d_groups);
  return worst;
}

static void
test_gemm_fp4 (void)
{
  const int K = 512;
  g_assert_true (gk_gemm_fp4_supported (K, 0) && gk_gemm_fp4_supported (K, 1));
  g_assert_false (gk_gemm_fp4_supported (K + 16, 0));
  GRand *r = g_rand_new_with_seed (23);
  double worst = 0.0;
  /* the wgmma kernel is sm_90a code: it must run on compute capability 9.0, nowhere else */
  g_assert_cmpint (gk_gemm_fp4_wgmma_ready (K), ==, test_cuda_cc () == 90);
  for (int impl = GK_GEMM_FP4_MMA; impl <= GK_GEMM_FP4_WGMMA; impl++)
    for (int lo = 0; lo < 2; lo++)
      for (int small = 0; small < 2; small++) {
        if (impl == GK_GEMM_FP4_WGMMA && (lo || !gk_gemm_fp4_wgmma_ready (K)))
          continue;
        double w = gemm_fp4_case (lo, small, impl, r);
        worst = w <= worst ? worst : w;
      }
  g_rand_free (r);
  g_assert_cmpfloat (worst, <, 1e-5);
}

void
test_cuda_prefill_register (void)
{
  g_test_add_func ("/glimmer/cuda/kernels/dequant-bf16", test_dequant_bf16);
  g_test_add_func ("/glimmer/cuda/kernels/split-bf16", test_split_bf16);
  g_test_add_func ("/glimmer/cuda/kernels/split-f16-mma", test_split_f16_mma);
  g_test_add_func ("/glimmer/cuda/kernels/moe-group", test_moe_group);
  g_test_add_func ("/glimmer/cuda/kernels/gemm-fp4", test_gemm_fp4);
}
