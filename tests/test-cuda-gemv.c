/* test-cuda-gemv.c: the decode GEMV kernels (kernels/gemv.cu, kernels/gemv-mma.cu) against a
 * float64 reference of glim_cpu_linear's arithmetic: random NVFP4, BF16 and F32 matrices,
 * shapes with partial tiles and partial column steps, 1-8 tokens, RMSNorm folded in, SwiGLU,
 * accumulation. Part of the test-cuda program (registered from test-cuda.c).
 * SPDX-License-Identifier: MIT */
#include <glib.h>
#include <math.h>
#include <string.h>

#include <cuda_runtime.h>

#include "glim.h"
#include "glim-dtype.h"
#include "testutil.h"
#include "../kernels/gk.h"

#include "test-cuda-gemv.h"

#define CUDA_OK(expr) g_assert_cmpstr (cudaGetErrorString (expr), ==, cudaGetErrorString (cudaSuccess))

/* A random matrix on the host (dequantised to double) and on the device. */
typedef struct {
  GkMatrix  dev;
  double   *w;      /* [rows, cols] */
  void     *d_data;
  uint8_t  *d_scales;
} Mat;

static void
mat_make (Mat *m, int format, int rows, int cols, GRand *r)
{
  memset (m, 0, sizeof *m);
  size_t n = (size_t) rows * cols;
  m->w = g_new (double, n);
  m->dev.format = format;
  m->dev.rows = rows;
  m->dev.cols = cols;
  if (format == GK_WEIGHT_NVFP4) {
    g_autofree uint8_t *q = g_new (uint8_t, n / 2);
    g_autofree uint8_t *s = g_new (uint8_t, n / 16);
    for (size_t i = 0; i < n / 2; i++)
      q[i] = (uint8_t) g_rand_int (r);
    for (size_t i = 0; i < n / 16; i++) {
      /* normal and subnormal e4m3 scales, every eighth one negative; never 0x7f (NaN) */
      uint8_t b = (uint8_t) g_rand_int_range (r, 1, 0x7f);
      s[i] = (i % 8 == 5) ? (uint8_t) (b | 0x80) : b;
    }
    m->dev.scale2 = 0.003f;
    for (size_t i = 0; i < n; i++) {
      int code = (i & 1) ? q[i / 2] >> 4 : q[i / 2] & 15;
      m->w[i] = (double) glim_e2m1_values[code] * glim_fp8_e4m3_to_f32 (s[i / 16]) *
                m->dev.scale2;
    }
    CUDA_OK (cudaMalloc (&m->d_data, n / 2));
    CUDA_OK (cudaMalloc ((void **) &m->d_scales, n / 16));
    CUDA_OK (cudaMemcpy (m->d_data, q, n / 2, cudaMemcpyHostToDevice));
    CUDA_OK (cudaMemcpy (m->d_scales, s, n / 16, cudaMemcpyHostToDevice));
  } else if (format == GK_WEIGHT_BF16) {
    g_autofree uint16_t *h = g_new (uint16_t, n);
    for (size_t i = 0; i < n; i++) {
      h[i] = glim_f32_to_bf16 ((float) (0.05 * test_gauss (r)));
      m->w[i] = glim_bf16_to_f32 (h[i]);
    }
    CUDA_OK (cudaMalloc (&m->d_data, n * 2));
    CUDA_OK (cudaMemcpy (m->d_data, h, n * 2, cudaMemcpyHostToDevice));
  } else {
    g_autofree float *f = g_new (float, n);
    for (size_t i = 0; i < n; i++)
      m->w[i] = f[i] = (float) (0.05 * test_gauss (r));
    CUDA_OK (cudaMalloc (&m->d_data, n * 4));
    CUDA_OK (cudaMemcpy (m->d_data, f, n * 4, cudaMemcpyHostToDevice));
  }
  m->dev.data = m->d_data;
  m->dev.scales = m->d_scales;
}

static void
mat_clear (Mat *m)
{
  g_free (m->w);
  cudaFree (m->d_data);
  cudaFree (m->d_scales);
}

typedef struct {
  int  format, rows, cols, T, mode, norm, accumulate, groups, flags;
} Case;

/* Worst relative L2 error (over each token's output vector) of one launch against float64. */
static double
run_case (const Case *k, int kernel, GRand *r)
{
  int G = k->groups, R = k->rows, K = k->cols, T = k->T;
  Mat *w = g_new0 (Mat, G), *w2 = g_new0 (Mat, G);
  GkGemvGroup *desc = g_new0 (GkGemvGroup, G);
  g_autofree float *x = g_new (float, (size_t) G * T * K);
  g_autofree float *nw = g_new (float, K);
  g_autofree float *y0 = g_new (float, (size_t) G * T * R);
  g_autofree float *y = g_new (float, (size_t) G * T * R);
  for (size_t i = 0; i < (size_t) G * T * K; i++)
    x[i] = (float) (test_gauss (r) * (i % 97 == 3 ? 300.0 : 2.0));    /* a few large values */
  for (int c = 0; c < K; c++)
    nw[c] = (float) (1.0 + 0.2 * test_gauss (r));
  for (size_t i = 0; i < (size_t) G * T * R; i++)
    y0[i] = (float) test_gauss (r);
  float *d_x, *d_y, *d_nw;
  GkGemvGroup *d_desc;
  CUDA_OK (cudaMalloc ((void **) &d_x, (size_t) G * T * K * 4));
  CUDA_OK (cudaMalloc ((void **) &d_y, (size_t) G * T * R * 4));
  CUDA_OK (cudaMalloc ((void **) &d_nw, (size_t) K * 4));
  CUDA_OK (cudaMalloc ((void **) &d_desc, sizeof (GkGemvGroup) * G));
  CUDA_OK (cudaMemcpy (d_x, x, (size_t) G * T * K * 4, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_y, y0, (size_t) G * T * R * 4, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_nw, nw, (size_t) K * 4, cudaMemcpyHostToDevice));
  for (int gi = 0; gi < G; gi++) {
    mat_make (&w[gi], k->format, R, K, r);
    if (k->mode == GK_GEMV_SWIGLU)
      mat_make (&w2[gi], k->format, R, K, r);
    desc[gi] = (GkGemvGroup) {
      .w = w[gi].dev, .w2 = w2[gi].dev, .x = d_x + (size_t) gi * T * K,
      .y = d_y + (size_t) gi * T * R, .norm_w = k->norm ? d_nw : NULL, .norm_eps = 1e-5f,
      .T = T, .x_stride = K, .y_stride = R, .accumulate = k->accumulate, .alpha = 0.75f,
    };
  }
  CUDA_OK (cudaMemcpy (d_desc, desc, sizeof (GkGemvGroup) * G, cudaMemcpyHostToDevice));
  cudaError_t e = (kernel == 0   ? gk_gemv
                   : kernel == 1 ? gk_gemv_mma
                                 : gk_gemv_dp4a) (d_desc, G, R, K, k->mode, T, k->flags, NULL);
  double worst = -1.0;    /* -1: the kernel does not take this shape */
  if (e != cudaErrorNotSupported) {
    CUDA_OK (e);
    CUDA_OK (cudaDeviceSynchronize ());
    CUDA_OK (cudaMemcpy (y, d_y, (size_t) G * T * R * 4, cudaMemcpyDeviceToHost));
    worst = 0.0;
    g_autofree double *xn = g_new (double, K);
    for (int gi = 0; gi < G; gi++)
      for (int t = 0; t < T; t++) {
        const float *xt = x + ((size_t) gi * T + t) * K;
        double ss = 0.0;
        for (int c = 0; c < K; c++)
          ss += (double) xt[c] * xt[c];
        double inv = k->norm ? 1.0 / sqrt (ss / K + 1e-5) : 1.0;
        for (int c = 0; c < K; c++)
          xn[c] = xt[c] * inv * (k->norm ? nw[c] : 1.0);
        double err = 0.0, ref = 0.0;
        for (int row = 0; row < R; row++) {
          double a = 0.0, b = 0.0;
          for (int c = 0; c < K; c++) {
            a += w[gi].w[(size_t) row * K + c] * xn[c];
            if (k->mode == GK_GEMV_SWIGLU)
              b += w2[gi].w[(size_t) row * K + c] * xn[c];
          }
          double v = k->mode == GK_GEMV_SWIGLU ? a / (1.0 + exp (-a)) * b : a;
          size_t at = ((size_t) gi * T + t) * R + row;
          double want = (k->accumulate ? y0[at] : 0.0) + 0.75 * v;
          err += (y[at] - want) * (y[at] - want);
          ref += want * want;
        }
        worst = MAX (worst, sqrt (err / MAX (ref, 1e-300)));
      }
  }
  for (int gi = 0; gi < G; gi++) {
    mat_clear (&w[gi]);
    mat_clear (&w2[gi]);
  }
  g_free (w);
  g_free (w2);
  g_free (desc);
  cudaFree (d_x);
  cudaFree (d_y);
  cudaFree (d_nw);
  cudaFree (d_desc);
  return worst;
}

static const char *
format_name (int f)
{
  return f == GK_WEIGHT_NVFP4 ? "nvfp4" : f == GK_WEIGHT_BF16 ? "bf16" : "f32";
}

/* Every case through the three kernels: the tensor-core one must take the decode shapes (T 1
 * and 2 at these widths), the integer one every T 1 case (BF16 and F32 through its float loop),
 * and all must match float64 within 2e-5 (float32 sums of thousands of products; x split into
 * hi + lo halves in the tensor-core kernel, into three int8 digits in the integer one). */
static void
test_gemv_kernels (void)
{
  const Case cases[] = {
    { GK_WEIGHT_NVFP4, 1536, 2048, 1, GK_GEMV_SWIGLU, 1, 0, 5, 0 },   /* MoE gate/up */
    { GK_WEIGHT_NVFP4, 1536, 2048, 1, GK_GEMV_SWIGLU, 1, 0, 1, GK_GEMV_EARLY },  /* shared */
    { GK_WEIGHT_NVFP4, 2048, 1536, 1, GK_GEMV_PLAIN, 0, 0, 5, GK_GEMV_EARLY },  /* down */
    { GK_WEIGHT_NVFP4, 2048, 5120, 1, GK_GEMV_PLAIN, 0, 1, 1, 0 },    /* o_proj + residual */
    { GK_WEIGHT_NVFP4, 768, 2048, 2, GK_GEMV_PLAIN, 1, 0, 2, 0 },     /* q_a, kv_a */
    { GK_WEIGHT_NVFP4, 5120, 768, 1, GK_GEMV_PLAIN, 0, 0, 1, 0 },     /* q_b */
    { GK_WEIGHT_NVFP4, 37, 48, 3, GK_GEMV_SWIGLU, 1, 1, 3, 0 },       /* partial tile and step */
    { GK_WEIGHT_NVFP4, 9, 16, 8, GK_GEMV_PLAIN, 1, 0, 1, 0 },
    { GK_WEIGHT_NVFP4, 100, 272, 5, GK_GEMV_PLAIN, 0, 1, 2, 0 },
    { GK_WEIGHT_NVFP4, 37, 48, 1, GK_GEMV_SWIGLU, 1, 1, 3, 0 },       /* batch 1, partial */
    { GK_WEIGHT_NVFP4, 102, 272, 1, GK_GEMV_PLAIN, 1, 1, 2, GK_GEMV_EARLY },
    { GK_WEIGHT_NVFP4, 6, 2064, 1, GK_GEMV_SWIGLU, 0, 0, 1, 0 },
    { GK_WEIGHT_NVFP4, 37, 48, 1, GK_GEMV_SWIGLU, 1, 1, 3, 0 },       /* 4-row warps, partial */
    { GK_WEIGHT_NVFP4, 102, 272, 1, GK_GEMV_PLAIN, 1, 1, 2, GK_GEMV_EARLY },
    { GK_WEIGHT_NVFP4, 6, 2064, 1, GK_GEMV_SWIGLU, 0, 0, 1, 0 },
    { GK_WEIGHT_NVFP4, 37, 48, 1, GK_GEMV_SWIGLU, 1, 1, 3, GK_GEMV_WPR (4) },  /* dp4a: 4 rows a */
    { GK_WEIGHT_NVFP4, 103, 1040, 1, GK_GEMV_PLAIN, 1, 1, 2, GK_GEMV_WPR (2) },  /* warp, 2 */
    { GK_WEIGHT_NVFP4, 38, 2064, 1, GK_GEMV_SWIGLU, 1, 0, 2, GK_GEMV_WPR (4) },
    { GK_WEIGHT_BF16, 64, 2048, 1, GK_GEMV_PLAIN, 1, 0, 1, 0 },       /* router */
    { GK_WEIGHT_BF16, 256, 512, 1, GK_GEMV_PLAIN, 0, 0, 20, 0 },      /* W_UV per head */
    { GK_WEIGHT_BF16, 4099, 2048, 1, GK_GEMV_PLAIN, 1, 0, 1, GK_GEMV_EARLY },  /* lm_head */
    { GK_WEIGHT_BF16, 33, 80, 7, GK_GEMV_SWIGLU, 1, 1, 2, 0 },
    { GK_WEIGHT_F32, 40, 96, 2, GK_GEMV_SWIGLU, 1, 1, 2, 0 },         /* generic path */
    { GK_WEIGHT_F32, 17, 2048, 1, GK_GEMV_PLAIN, 0, 0, 1, 0 },
  };
  GRand *r = g_rand_new_with_seed (4242);
  int n_bad = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    const Case *k = &cases[i];
    double e[3];
    for (int kernel = 0; kernel < 3; kernel++)
      e[kernel] = run_case (k, kernel, r);
    gboolean bad = e[0] < 0 || e[0] > 2e-5 || (k->T <= 2 && e[1] < 0) || e[1] > 2e-5 ||
                   (k->T == 1 && e[2] < 0) || e[2] > 2e-5;
    n_bad += bad;
    g_test_message ("%s %s%s%s rows %d cols %d T %d groups %d: rel L2 cuda-core %.3g, "
                    "mma %s%.3g, dp4a %s%.3g%s",
                    format_name (k->format), k->mode == GK_GEMV_SWIGLU ? "swiglu" : "plain",
                    k->norm ? " +norm" : "", k->accumulate ? " +acc" : "", k->rows, k->cols,
                    k->T, k->groups, e[0], e[1] < 0 ? "(not taken) " : "", e[1],
                    e[2] < 0 ? "(not taken) " : "", e[2], bad ? "  <-- FAIL" : "");
  }
  g_rand_free (r);
  g_assert_cmpint (n_bad, ==, 0);
}

void
test_cuda_gemv_register (void)
{
  g_test_add_func ("/glimmer/cuda/kernels/gemv", test_gemv_kernels);
}
