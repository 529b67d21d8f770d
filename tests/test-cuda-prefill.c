/* test-cuda-prefill.c: the kernels that feed the prefill's bf16 GEMMs (kernels/prefill.cu):
 * gk_dequant_bf16 bit for bit against the CPU dequantisation (glim_weight_row_to_f32 with
 * scale2 1) on random NVFP4 blocks with every e4m3 scale (subnormal, extreme, negative), aligned
 * and unaligned packed data; gk_split_bf16 (hi = bf16(x), hi + lo within 2^-16 of x) over
 * magnitudes across float32's range, strided and gathered rows; gk_moe_group against a host
 * grouping; gk_gemm_fp4 (kernels/gemm-fp4.cu) against float64 sums. Part of the test-cuda
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

/* ---- gk_gemm_fp4 ---- */

/* Groups of random NVFP4 experts against random activations split into bf16 hi + lo, through
 * one launch, against float64 sums of the CPU's dequantised weights times hi + lo: float32
 * accumulation of exact products, so within 1e-5 (relative L2 per group). Shapes: partial
 * feature and row tiles, an empty group, one row, and the experts' own widths. */
static void
test_gemm_fp4 (void)
{
  GRand *r = g_rand_new_with_seed (23);
  const struct { int n, rows; } gs[] = { { 200, 70 }, { 128, 0 }, { 1536, 131 }, { 64, 1 },
                                         { 333, 64 } };
  const int G = G_N_ELEMENTS (gs), K = 512, ldy = 1600;
  g_assert_true (gk_gemm_fp4_supported (K));
  g_assert_false (gk_gemm_fp4_supported (K + 16));
  GkGemmGroup host[G_N_ELEMENTS (gs)];
  g_autofree uint8_t **q = g_new0 (uint8_t *, G);
  g_autofree uint8_t **sc = g_new0 (uint8_t *, G);
  g_autofree uint16_t **xh = g_new0 (uint16_t *, G);
  g_autofree uint16_t **xl = g_new0 (uint16_t *, G);
  void *dev[4 * G_N_ELEMENTS (gs)];
  int max_n = 0, max_rows = 0;
  for (int gi = 0; gi < G; gi++) {
    int N = gs[gi].n, R = gs[gi].rows;
    size_t n = (size_t) N * K;
    q[gi] = g_new (uint8_t, n / 2);
    sc[gi] = g_new (uint8_t, n / 16);
    for (size_t i = 0; i < n / 2; i++)
      q[gi][i] = (uint8_t) g_rand_int (r);
    for (size_t i = 0; i < n / 16; i++)
      sc[gi][i] = (uint8_t) g_rand_int_range (r, 0x20, 0x48);   /* 2^-5 .. 2^2: ordinary */
    size_t xn = (size_t) MAX (R, 1) * K;
    xh[gi] = g_new (uint16_t, xn);
    xl[gi] = g_new (uint16_t, xn);
    for (size_t i = 0; i < xn; i++) {
      float v = (float) g_rand_double_range (r, -3.0, 3.0);
      xh[gi][i] = glim_f32_to_bf16 (v);
      xl[gi][i] = glim_f32_to_bf16 (v - glim_bf16_to_f32 (xh[gi][i]));
    }
    CUDA_OK (cudaMalloc (&dev[4 * gi], n / 2));
    CUDA_OK (cudaMalloc (&dev[4 * gi + 1], n / 16));
    CUDA_OK (cudaMalloc (&dev[4 * gi + 2], 2 * xn * 2));
    CUDA_OK (cudaMalloc (&dev[4 * gi + 3], (size_t) MAX (R, 1) * ldy * 4));
    CUDA_OK (cudaMemcpy (dev[4 * gi], q[gi], n / 2, cudaMemcpyHostToDevice));
    CUDA_OK (cudaMemcpy (dev[4 * gi + 1], sc[gi], n / 16, cudaMemcpyHostToDevice));
    CUDA_OK (cudaMemcpy (dev[4 * gi + 2], xh[gi], xn * 2, cudaMemcpyHostToDevice));
    CUDA_OK (cudaMemcpy ((uint16_t *) dev[4 * gi + 2] + xn, xl[gi], xn * 2,
                         cudaMemcpyHostToDevice));
    CUDA_OK (cudaMemset (dev[4 * gi + 3], 0xff, (size_t) MAX (R, 1) * ldy * 4));   /* NaN */
    host[gi] = (GkGemmGroup) {
      .w = { .data = dev[4 * gi], .scales = dev[4 * gi + 1], .scale2 = 0.5f,
             .format = GK_WEIGHT_NVFP4, .rows = N, .cols = K },
      .xhi = dev[4 * gi + 2], .xlo = (uint16_t *) dev[4 * gi + 2] + xn,
      .y = dev[4 * gi + 3], .rows = R, .ldy = ldy, .alpha = 0.5f,
    };
    max_n = MAX (max_n, N);
    max_rows = MAX (max_rows, R);
  }
  GkGemmGroup *d_groups = NULL;
  CUDA_OK (cudaMalloc ((void **) &d_groups, sizeof host));
  CUDA_OK (cudaMemcpy (d_groups, host, sizeof host, cudaMemcpyHostToDevice));
  CUDA_OK (gk_gemm_fp4 (d_groups, G, max_n, max_rows, K, NULL));
  CUDA_OK (cudaDeviceSynchronize ());

  double worst = 0.0;
  g_autofree float *wrow = g_new (float, K);
  for (int gi = 0; gi < G; gi++) {
    int N = gs[gi].n, R = gs[gi].rows;
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
        for (int k = 0; k < K; k++)
          acc += (double) wrow[k] * ((double) glim_bf16_to_f32 (xh[gi][(size_t) row * K + k]) +
                                     (double) glim_bf16_to_f32 (xl[gi][(size_t) row * K + k]));
        acc *= 0.5;
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
    g_test_message ("group %d: %d features x %d rows, K %d: rel L2 %.3g against float64%s", gi, N,
                    R, K, rel, untouched ? "" : ", wrote outside its rows/features");
    g_assert_true (untouched);
    g_free (q[gi]);
    g_free (sc[gi]);
    g_free (xh[gi]);
    g_free (xl[gi]);
  }
  for (int i = 0; i < 4 * G; i++)
    cudaFree (dev[i]);
  cudaFree (d_groups);
  g_rand_free (r);
  g_assert_cmpfloat (worst, <, 1e-5);
}

void
test_cuda_prefill_register (void)
{
  g_test_add_func ("/glimmer/cuda/kernels/dequant-bf16", test_dequant_bf16);
  g_test_add_func ("/glimmer/cuda/kernels/split-bf16", test_split_bf16);
  g_test_add_func ("/glimmer/cuda/kernels/moe-group", test_moe_group);
  g_test_add_func ("/glimmer/cuda/kernels/gemm-fp4", test_gemm_fp4);
}
