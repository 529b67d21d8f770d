/* test-cuda-flash.c: the prefill's causal flash attention (kernels/flash-attn.cu, with
 * gk_flash_kv_f16 before each key block) against a float64 reference of the same attention on
 * the unrounded inputs (gk_dequant_bf16 has its own test in test-cuda-prefill.c). Inputs are laid
 * out as cuda-prefill.c lays them (Kn|V head-major float32 rows of one GEMM, Kpe read from bf16
 * latent-cache rows, output columns of a tensor-parallel rank), keys fed in several blocks.
 * Also the K/V preparation for an NVFP4 kv_b (gk_flash_kvb_f16, gk_flash_cache_f16) against the
 * same arithmetic on the host. Part of the test-cuda program (registered from test-cuda.c).
 * SPDX-License-Identifier: MIT */
#include <glib.h>
#include <math.h>
#include <string.h>

#include <cuda_runtime.h>

#include "glim.h"
#include "glim-dtype.h"
#include "testutil.h"
#include "../kernels/gk.h"

#include "test-cuda-flash.h"

#define CUDA_OK(expr) g_assert_cmpstr (cudaGetErrorString (expr), ==, cudaGetErrorString (cudaSuccess))

typedef struct {
  const char *name;
  int         T, H, Dn, R, Dv, p0;
  int         KB;        /* keys per launch */
  double      mag;       /* K, V and Kpe times mag, Q divided by it: the same scores, values far
                          * outside f16's range (1e6) or deep in its subnormals (1e-7) */
  int         stages;    /* GkFlashAttnArgs.stages: 0 default, 1 single-buffered */
  double      tol;       /* rel L2 bound */
  int         bm;        /* GkFlashAttnArgs.bm: 0 default, 64 or 128 forced */
  int         bn;        /* GkFlashAttnArgs.bn: 0 default, 32 or 64 forced */
  int         impl;      /* GkFlashAttnArgs.impl: GK_FLASH_AUTO (0), _MMA or _WGMMA */
} FlashCase;

/* Relative L2 error of the whole output against float64; the columns outside the rank's heads
 * must keep their sentinel. */
static double
run_flash (const FlashCase *k, GRand *r)
{
  int T = k->T, H = k->H, Dn = k->Dn, R = k->R, Dv = k->Dv, Dqk = Dn + R;
  int nk_all = k->p0 + T, Lkv = 32, C = Lkv + R;
  int ldkv = H * (Dn + Dv), lead = 8, ldo = lead + H * Dv + 5;
  double scale = 1.0 / sqrt ((double) Dqk);
  size_t nq = (size_t) T * H * Dqk, nkv = (size_t) nk_all * ldkv, nc = (size_t) nk_all * C;
  size_t no = (size_t) T * ldo;
  g_autofree float *q = g_new (float, nq);
  g_autofree float *kv = g_new (float, nkv);
  g_autofree uint16_t *cache = g_new (uint16_t, nc);
  g_autofree float *o = g_new (float, no);
  /* a spread of score sizes: some heads peaked, some flat */
  for (size_t i = 0; i < nq; i++)
    q[i] = (float) (test_gauss (r) * (1.0 + 2.0 * (double) ((i / Dqk) % 3)) / k->mag);
  for (size_t i = 0; i < nkv; i++)
    kv[i] = (float) (test_gauss (r) * k->mag);
  for (size_t i = 0; i < nc; i++)
    cache[i] = glim_f32_to_bf16 ((float) (test_gauss (r) * k->mag));
  for (size_t i = 0; i < no; i++)
    o[i] = 7.0f;

  float *d_q, *d_o, *d_m, *d_l, *d_kv;
  uint16_t *d_knv, *d_kpe, *d_cache;
  unsigned *d_max;
  CUDA_OK (cudaMalloc ((void **) &d_q, nq * 4));
  CUDA_OK (cudaMalloc ((void **) &d_o, no * 4));
  CUDA_OK (cudaMalloc ((void **) &d_m, (size_t) T * H * 4));
  CUDA_OK (cudaMalloc ((void **) &d_l, (size_t) T * H * 4));
  CUDA_OK (cudaMalloc ((void **) &d_kv, nkv * 4));
  CUDA_OK (cudaMalloc ((void **) &d_knv, (size_t) k->KB * ldkv * 2));
  CUDA_OK (cudaMalloc ((void **) &d_kpe, (size_t) k->KB * R * 2));
  CUDA_OK (cudaMalloc ((void **) &d_cache, nc * 2));
  CUDA_OK (cudaMalloc ((void **) &d_max, 2 * sizeof (unsigned)));
  CUDA_OK (cudaMemcpy (d_q, q, nq * 4, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_o, o, no * 4, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_kv, kv, nkv * 4, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_cache, cache, nc * 2, cudaMemcpyHostToDevice));
  for (int k0 = 0; k0 < nk_all; k0 += k->KB) {
    int nk = MIN (k->KB, nk_all - k0);
    GkFlashKvArgs kva = {
      .kv = d_kv + (size_t) k0 * ldkv, .pe = d_cache + (size_t) k0 * C + Lkv, .nk = nk, .H = H,
      .Dn = Dn, .Dv = Dv, .R = R, .ldkv = ldkv, .hkv = Dn + Dv, .ldpe = C,
    };
    CUDA_OK (gk_flash_kv_f16 (d_knv, d_kpe, d_max, &kva, NULL));
    GkFlashAttnArgs a = {
      .q = d_q, .kn = d_knv, .v = d_knv + Dn, .kpe = d_kpe, .kv_max = d_max, .o = d_o,
      .m = d_m, .l = d_l, .T = T, .H = H, .Dn = Dn, .R = R, .Dv = Dv, .ldq = H * Dqk,
      .ldkv = ldkv, .hkv = Dn + Dv, .ldpe = R, .ldo = ldo, .o_lead = lead, .p0 = k->p0,
      .k0 = k0, .nk = nk, .scale = (float) scale, .first = k0 == 0, .last = k0 + nk == nk_all,
      .stages = k->stages, .bm = k->bm, .bn = k->bn, .impl = k->impl,
    };
    CUDA_OK (gk_flash_attn (&a, NULL));
  }
  CUDA_OK (cudaMemcpy (o, d_o, no * 4, cudaMemcpyDeviceToHost));
  cudaFree (d_q);
  cudaFree (d_o);
  cudaFree (d_m);
  cudaFree (d_l);
  cudaFree (d_kv);
  cudaFree (d_knv);
  cudaFree (d_kpe);
  cudaFree (d_cache);
  cudaFree (d_max);

  double err = 0.0, ref = 0.0;
  g_autofree double *s = g_new (double, nk_all);
  g_autofree double *acc = g_new (double, Dv);
  for (int i = 0; i < T; i++) {
    for (int c = 0; c < ldo; c++)
      if (c < lead || c >= lead + H * Dv)
        g_assert_cmpfloat (o[(size_t) i * ldo + c], ==, 7.0f);
    int n = k->p0 + i + 1;
    for (int h = 0; h < H; h++) {
      const float *qi = q + ((size_t) i * H + h) * Dqk;
      double mx = -INFINITY, sum = 0.0;
      for (int j = 0; j < n; j++) {
        const float *kn = kv + (size_t) j * ldkv + (size_t) h * (Dn + Dv);
        const uint16_t *pe = cache + (size_t) j * C + Lkv;
        double d = 0.0;
        for (int e = 0; e < Dn; e++)
          d += (double) qi[e] * kn[e];
        for (int e = 0; e < R; e++)
          d += (double) qi[Dn + e] * glim_bf16_to_f32 (pe[e]);
        s[j] = d * scale;
        mx = MAX (mx, s[j]);
      }
      memset (acc, 0, sizeof (double) * Dv);
      for (int j = 0; j < n; j++) {
        double p = exp (s[j] - mx);
        const float *v = kv + (size_t) j * ldkv + (size_t) h * (Dn + Dv) + Dn;
        sum += p;
        for (int e = 0; e < Dv; e++)
          acc[e] += p * v[e];
      }
      for (int e = 0; e < Dv; e++) {
        double want = acc[e] / sum, got = o[(size_t) i * ldo + lead + (size_t) h * Dv + e];
        err += (got - want) * (got - want);
        ref += want * want;
      }
    }
  }
  return sqrt (err / ref);
}

static void
test_flash (gconstpointer data)
{
  const FlashCase *k = data;
  /* the layout run_flash hands the kernel (its device pointers are all 256-byte aligned) */
  GkFlashAttnArgs want = { .Dn = k->Dn, .R = k->R, .Dv = k->Dv, .stages = k->stages,
                           .bm = k->bm, .bn = k->bn, .impl = k->impl,
                           .ldkv = k->H * (k->Dn + k->Dv), .hkv = k->Dn + k->Dv, .ldpe = k->R };
  int bm = 0, bn = 0, stages = 0;
  gboolean wgmma = gk_flash_attn_wgmma (&want);
  if (k->impl == GK_FLASH_WGMMA && !wgmma) {
    g_test_skip ("the wgmma kernel needs compute capability 9.0 (sm_90a)");
    return;
  }
  if (!wgmma && !gk_flash_attn_shape (&want, &bm, &bn, &stages)) {
    g_test_skip ("this GPU lacks the shared memory for this CTA shape");
    return;
  }
  /* the default shape is the widest that fits, and what a case forces is what runs; a forced
   * mma.sync shape or kernel is never swapped for wgmma */
  g_assert_true (k->bm == 0 || bm == k->bm);
  g_assert_true (k->bn == 0 || bn == k->bn);
  g_assert_true (k->stages != 1 || stages == 1);
  g_assert_true (!wgmma || (k->bm == 0 && k->bn == 0 && k->stages == 0 && k->impl != GK_FLASH_MMA));
  g_assert_true (gk_flash_attn_supported (k->Dn + k->R, k->Dv));
  g_autoptr (GRand) r = g_rand_new_with_seed (4242u + (guint32) k->T * 7u + (guint32) k->H);
  double e = run_flash (k, r);
  if (wgmma)
    g_test_message ("%s: wgmma, 128 queries, 64-key tiles x 2 stages per CTA, rel L2 %.3g "
                    "(bound %.3g)", k->name, e, k->tol);
  else
    g_test_message ("%s: mma.sync, %d queries, %d-key tiles x %d stages per CTA, rel L2 %.3g "
                    "(bound %.3g)", k->name, bm, bn, stages, e, k->tol);
  g_assert_cmpfloat (e, <, k->tol);
}

/* f16 operands (11 significant bits each, float32 sums) against float64 on the unrounded
 * inputs: ~5e-4 expected, 2e-3 allowed */
static const FlashCase cases[] = {
  /* GLM-4.7-Flash: Dn 192, R 64, Dv 256; 20 heads (tp 1) and 5 (tp 4) */
  { "glm-h20-p0",      100, 20, 192, 64, 256,    0, 4096,    1, 0, 2e-3, 0, 0, GK_FLASH_AUTO },
  { "glm-h20-past",     70, 20, 192, 64, 256,  200,   96,    1, 0, 2e-3, 0, 0, GK_FLASH_AUTO },
  { "glm-h5-blocks",   130,  5, 192, 64, 256,  300,  128,    1, 0, 2e-3, 0, 0, GK_FLASH_AUTO },
  { "glm-h5-long",     200,  5, 192, 64, 256, 1000,  512,    1, 0, 2e-3, 0, 0, GK_FLASH_AUTO },
  { "glm-h5-1stage",   150,  5, 192, 64, 256,  100,  100,    1, 1, 2e-3, 0, 0, GK_FLASH_AUTO },
  /* magnitudes f16 cannot hold without the scales */
  { "glm-h10-huge",     90, 10, 192, 64, 256,   50,   64,  1e6, 0, 2e-3, 0, 0, GK_FLASH_AUTO },
  { "glm-h5-tiny",      77,  5, 192, 64, 256,   80,  100, 1e-7, 0, 2e-3, 0, 0, GK_FLASH_AUTO },
  /* the tiny test models' dims (tests/data/tiny-*), and odd ones (element loads) */
  { "tiny",             37,  4,  16, 16,  24,    5,   16,    1, 0, 2e-3, 0, 0, GK_FLASH_AUTO },
  { "tiny-odd",         19,  6,  12,  8,  12,    3,    8,    1, 0, 2e-3, 0, 0, GK_FLASH_AUTO },
  { "mid-128",          65,  3,  96, 32, 128,   64,   40,    1, 0, 2e-3, 0, 0, GK_FLASH_AUTO },
  /* each CTA shape forced (the default picks 128 queries where shared memory allows): 4 and 8
   * warps, partial last query tiles, warps wholly past T, key blocks that end inside a tile */
  { "glm-h20-bm64",    200, 20, 192, 64, 256,   40,  100,    1, 0, 2e-3, 64, 0, GK_FLASH_AUTO },
  { "glm-h5-bm128",    300,  5, 192, 64, 256,  333,  160,    1, 0, 2e-3, 128, 0, GK_FLASH_AUTO },
  { "glm-h10-bm128-1", 141, 10, 192, 64, 256,    0,   48,    1, 1, 2e-3, 128, 0, GK_FLASH_AUTO },
  { "glm-h5-bm128-blocks", 257, 5, 192, 64, 256, 17, 512,    1, 0, 2e-3, 128, 0, GK_FLASH_AUTO },
  { "tiny-bm128",      133,  4,  16, 16,  24,    5,   16,    1, 0, 2e-3, 128, 0, GK_FLASH_AUTO },
  { "tiny-odd-bm128",   19,  6,  12,  8,  12,    3,    8,    1, 0, 2e-3, 128, 0, GK_FLASH_AUTO },
  { "mid-128-bm128",   250,  3,  96, 32, 128,   64,   40,    1, 0, 2e-3, 128, 0, GK_FLASH_AUTO },
  { "mid-128-bm64",    130,  3,  96, 32, 128,    0,  128,    1, 0, 2e-3, 64, 0, GK_FLASH_AUTO },
  /* 32-key tiles with 128-query CTAs (the default takes 64 where shared memory allows) */
  { "glm-h5-bn32",     300,  5, 192, 64, 256,  333,  160,    1, 0, 2e-3, 128, 32, GK_FLASH_AUTO },
  { "glm-h10-bn32-huge", 90, 10, 192, 64, 256,  50,   64,  1e6, 0, 2e-3, 128, 32, GK_FLASH_AUTO },
  { "tiny-odd-bn32",    19,  6,  12,  8,  12,    3,    8,    1, 0, 2e-3, 128, 32, GK_FLASH_AUTO },
  { "mid-128-bn32",    250,  3,  96, 32, 128,   64,   40,    1, 0, 2e-3, 128, 32, GK_FLASH_AUTO },
  /* the kernel forced: mma.sync at its default shape where wgmma would run (sm_90), and wgmma
   * (skipped elsewhere) on GLM's dims and on 64- and 128-wide ones (dims not in 64-wide boxes:
   * K and V by cp.async) */
  { "glm-h20-p0-mma",  100, 20, 192, 64, 256,    0, 4096,    1, 0, 2e-3, 0, 0, GK_FLASH_MMA },
  { "glm-h5-long-mma", 200,  5, 192, 64, 256, 1000,  512,    1, 0, 2e-3, 0, 0, GK_FLASH_MMA },
  { "glm-h10-huge-mma", 90, 10, 192, 64, 256,   50,   64,  1e6, 0, 2e-3, 0, 0, GK_FLASH_MMA },
  { "glm-h20-wgmma",   333, 20, 192, 64, 256,  100,  200,    1, 0, 2e-3, 0, 0, GK_FLASH_WGMMA },
  { "glm-h5-tiny-wgmma", 77, 5, 192, 64, 256,   80,  100, 1e-7, 0, 2e-3, 0, 0, GK_FLASH_WGMMA },
  { "tiny-wgmma",      133,  4,  16, 16,  24,    5,   16,    1, 0, 2e-3, 0, 0, GK_FLASH_WGMMA },
  { "mid-128-wgmma",   250,  3,  96, 32, 128,   64,   40,    1, 0, 2e-3, 0, 0, GK_FLASH_WGMMA },
  /* dims in whole 64-wide boxes (the tensor-memory-accelerator copies), with dims past them
   * padded with zeros (Dn + R and Dv below P) */
  { "pad-256-wgmma",   150,  3, 128, 64, 128,   70,  100,    1, 0, 2e-3, 0, 0, GK_FLASH_WGMMA },
  { "box-128-wgmma",   190,  4,  64, 64, 128,   33,   77,    1, 0, 2e-3, 0, 0, GK_FLASH_WGMMA },
};

/* ---- K and V straight from the cache (an NVFP4 kv_b): gk_flash_kvb_f16, gk_flash_cache_f16 ---- */

/* the power of two that brings m into [2^14, 2^15) (gk_f16_range_scale) */
static float
range_scale (float m)
{
  int e;
  frexpf (m, &e);
  return ldexpf (1.0f, MIN (15 - e, 100));
}

/* kv_b expanded to f16 exactly with its largest row L1 norm; the cache rows' latent in f16 by
 * a power of two, Kpe by the K/V scale; the bound on |Kn|V| that scale comes from holds for
 * every product and is not loose by more than 2^10 */
static void
test_flash_direct (gconstpointer data)
{
  const double mag = *(const double *) data;
  const int H = 3, Dn = 64, Dv = 96, Lkv = 64, R = 16, C = Lkv + R, nk = 70;
  const int rows = H * (Dn + Dv);
  const float scale2 = 0.37f;
  g_autoptr (GRand) r = g_rand_new_with_seed (77u + (guint32) log10 (mag));
  g_autofree uint8_t *q = g_new (uint8_t, (size_t) rows * Lkv / 2);
  g_autofree uint8_t *sc = g_new (uint8_t, (size_t) rows * Lkv / 16);
  g_autofree uint16_t *cache = g_new (uint16_t, (size_t) nk * C);
  for (size_t i = 0; i < (size_t) rows * Lkv / 2; i++)
    q[i] = (uint8_t) g_rand_int_range (r, 0, 256);
  for (size_t i = 0; i < (size_t) rows * Lkv / 16; i++)
    sc[i] = glim_f32_to_fp8_e4m3 ((float) ldexp (1.0 + g_rand_double (r),
                                                 g_rand_int_range (r, -6, 5)));
  for (size_t i = 0; i < (size_t) nk * C; i++)
    cache[i] = glim_f32_to_bf16 ((float) (test_gauss (r) * mag));

  uint8_t *d_q, *d_sc;
  uint16_t *d_cache, *d_kvb, *d_c16, *d_kpe;
  GkFlashDirect *d_dir;
  CUDA_OK (cudaMalloc ((void **) &d_q, (size_t) rows * Lkv / 2));
  CUDA_OK (cudaMalloc ((void **) &d_sc, (size_t) rows * Lkv / 16));
  CUDA_OK (cudaMalloc ((void **) &d_cache, (size_t) nk * C * 2));
  CUDA_OK (cudaMalloc ((void **) &d_kvb, (size_t) rows * Lkv * 2));
  CUDA_OK (cudaMalloc ((void **) &d_c16, (size_t) nk * Lkv * 2));
  CUDA_OK (cudaMalloc ((void **) &d_kpe, (size_t) nk * R * 2));
  CUDA_OK (cudaMalloc ((void **) &d_dir, sizeof (GkFlashDirect)));
  CUDA_OK (cudaMemcpy (d_q, q, (size_t) rows * Lkv / 2, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_sc, sc, (size_t) rows * Lkv / 16, cudaMemcpyHostToDevice));
  CUDA_OK (cudaMemcpy (d_cache, cache, (size_t) nk * C * 2, cudaMemcpyHostToDevice));
  GkMatrix w = { .data = d_q, .scales = d_sc, .scale2 = scale2, .format = GK_WEIGHT_NVFP4,
                 .rows = rows, .cols = Lkv };
  CUDA_OK (gk_flash_kvb_f16 (d_kvb, d_dir, &w, NULL));
  CUDA_OK (gk_flash_cache_f16 (d_c16, d_kpe, d_dir, d_cache, C, nk, Lkv, R, scale2, NULL));
  g_autofree uint16_t *kvb = g_new (uint16_t, (size_t) rows * Lkv);
  g_autofree uint16_t *c16 = g_new (uint16_t, (size_t) nk * Lkv);
  g_autofree uint16_t *kpe = g_new (uint16_t, (size_t) nk * R);
  GkFlashDirect dir;
  CUDA_OK (cudaMemcpy (kvb, d_kvb, (size_t) rows * Lkv * 2, cudaMemcpyDeviceToHost));
  CUDA_OK (cudaMemcpy (c16, d_c16, (size_t) nk * Lkv * 2, cudaMemcpyDeviceToHost));
  CUDA_OK (cudaMemcpy (kpe, d_kpe, (size_t) nk * R * 2, cudaMemcpyDeviceToHost));
  CUDA_OK (cudaMemcpy (&dir, d_dir, sizeof dir, cudaMemcpyDeviceToHost));
  cudaFree (d_q);
  cudaFree (d_sc);
  cudaFree (d_cache);
  cudaFree (d_kvb);
  cudaFree (d_c16);
  cudaFree (d_kpe);
  cudaFree (d_dir);

  /* kv_b: every element exact, the largest row L1 norm */
  g_autofree float *wf = g_new (float, (size_t) rows * Lkv);
  double l1_max = 0.0;
  for (int i = 0; i < rows; i++) {
    double l1 = 0.0;
    for (int k = 0; k < Lkv; k++) {
      size_t at = (size_t) i * Lkv + k;
      float v = glim_e2m1_values[(q[at / 2] >> (4 * (at % 2))) & 0xfu] *
                glim_fp8_e4m3_to_f32 (sc[at / 16]);
      g_assert_cmpfloat (glim_f16_to_f32 (kvb[at]), ==, v);
      wf[at] = v;
      l1 += fabs (v);
    }
    l1_max = MAX (l1_max, l1);
  }
  float l1_dev;
  memcpy (&l1_dev, &dir.l1, 4);
  g_assert_cmpfloat (fabs (l1_dev - l1_max), <=, 1e-5 * l1_max);

  /* the cache: largest |latent| and |Kpe|, the latent by its power of two, exact */
  float cmax = 0.0f, pmax = 0.0f;
  for (int j = 0; j < nk; j++)
    for (int i = 0; i < C; i++) {
      float v = fabsf (glim_bf16_to_f32 (cache[(size_t) j * C + i]));
      if (i < Lkv)
        cmax = MAX (cmax, v);
      else
        pmax = MAX (pmax, v);
    }
  float csc = range_scale (cmax);
  for (int j = 0; j < nk; j++)
    for (int i = 0; i < Lkv; i++)
      g_assert_cmpfloat (glim_f16_to_f32 (c16[(size_t) j * Lkv + i]), ==,
                         glim_bf16_to_f32 (cache[(size_t) j * C + i]) * csc);

  /* the bound and the scale it gives; alpha = scale2 s / csc; Kpe times s, rounded to f16 */
  float bound, bound1;
  memcpy (&bound, &dir.kv_max[0], 4);
  memcpy (&bound1, &dir.kv_max[1], 4);
  g_assert_cmpfloat (bound, ==, bound1);
  double want = MAX (scale2 * l1_max * cmax, pmax);
  g_assert_cmpfloat (fabs (bound - want), <=, 1e-5 * want);
  float s = range_scale (bound);
  g_assert_cmpfloat (dir.alpha, ==, scale2 * (s / csc));
  g_assert_cmpfloat (dir.beta, ==, 0.0f);
  for (int j = 0; j < nk; j++)
    for (int i = 0; i < R; i++) {
      float v = glim_bf16_to_f32 (cache[(size_t) j * C + Lkv + i]) * s;
      g_assert_cmpfloat (fabsf (glim_f16_to_f32 (kpe[(size_t) j * R + i]) - v), <=,
                         fabsf (v) * 1e-3f + 1e-7f);
    }

  /* every Kn|V value scaled stays below 2^15 (f16 holds it), and the largest is not far below */
  double kv_max = 0.0;
  for (int j = 0; j < nk; j++)
    for (int i = 0; i < rows; i++) {
      double d = 0.0;
      for (int k = 0; k < Lkv; k++)
        d += (double) wf[(size_t) i * Lkv + k] * glim_bf16_to_f32 (cache[(size_t) j * C + k]);
      kv_max = MAX (kv_max, fabs (scale2 * d));
    }
  g_test_message ("cache x %g: bound %.4g, largest |Kn|V| %.4g (%.0fx below), scaled %.4g",
                  mag, bound, kv_max, bound / kv_max, kv_max * s);
  g_assert_cmpfloat (kv_max * s, <, 32768.0);
  g_assert_cmpfloat (kv_max * s, >, 32.0);
}

static const double direct_mags[] = { 1.0, 1e4, 1e-4 };

void
test_cuda_flash_register (void)
{
  g_test_add_data_func ("/glimmer/cuda/kernels/flash-direct/unit", &direct_mags[0],
                        test_flash_direct);
  g_test_add_data_func ("/glimmer/cuda/kernels/flash-direct/large", &direct_mags[1],
                        test_flash_direct);
  g_test_add_data_func ("/glimmer/cuda/kernels/flash-direct/small", &direct_mags[2],
                        test_flash_direct);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *path = g_strdup_printf ("/glimmer/cuda/kernels/flash-attn/%s", cases[i].name);
    g_test_add_data_func (path, &cases[i], test_flash);
  }
}
