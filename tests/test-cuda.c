/* test-cuda.c: the CUDA backend against the CPU reference on every fixture: logits, greedy
 * continuations, prefill + decode against one pass; tensor parallelism (tp 1 through NCCL and
 * through the P2P all-reduce against the plain path, tp 2 and 4 against tp 1, P2P against NCCL).
 * Skips (exit 77) where no GPU is usable; a tp case skips where fewer GPUs are visible.
 * SPDX-License-Identifier: MIT */
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "glim.h"
#include "testutil.h"

/* Extra model folders (e.g. synthetic full-width models on the GPU machine) get the
 * comparisons that stay affordable for the CPU reference on a large model. */
static GHashTable *extra_models;

static GPtrArray *
fixture_dirs (void)
{
  GPtrArray *dirs = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *data = test_data_path (".", NULL);
  g_autoptr (GDir) d = g_dir_open (data, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *ref = test_data_path (name, "reference.json", NULL);
    if (g_file_test (ref, G_FILE_TEST_EXISTS))
      g_ptr_array_add (dirs, test_data_path (name, NULL));
  }
  /* Extra model folders (e.g. synthetic full-size models on the GPU machine). */
  const char *extra = g_getenv ("GLIMMER_TEST_MODELS");
  if (extra != NULL) {
    g_auto (GStrv) parts = g_strsplit (extra, ":", -1);
    extra_models = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    for (char **p = parts; *p; p++)
      if (**p) {
        g_ptr_array_add (dirs, g_strdup (*p));
        g_hash_table_add (extra_models, g_strdup (*p));
      }
  }
  return dirs;
}

static GlimContext *
open_ctx (GlimModel *m, GlimBackend b, int n_ctx)
{
  GlimContextOptions o = { .backend = b, .n_ctx = n_ctx };
  g_autoptr (GError) error = NULL;
  GlimContext *ctx = glim_context_new (m, &o, &error);
  g_assert_no_error (error);
  return ctx;
}

/* A deterministic prompt of n ids inside the vocabulary. */
static int32_t *
make_prompt (int n, int V, guint32 seed)
{
  int32_t *p = g_new (int32_t, n);
  GRand *r = g_rand_new_with_seed (seed);
  for (int i = 0; i < n; i++)
    p[i] = g_rand_int_range (r, 0, V);
  g_rand_free (r);
  return p;
}

static void
test_logits (gconstpointer data)
{
  const char *dir = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimModel) m = glim_model_load (dir, NULL, &error);
  g_assert_no_error (error);
  int V = m->config->vocab_size, T = 40;
  g_autofree int32_t *ids = make_prompt (T, V, 11);
  g_autofree float *cpu = g_new (float, (gsize) T * V);
  g_autofree float *gpu = g_new (float, (gsize) T * V);
  {
    g_autoptr (GlimContext) c = open_ctx (m, GLIM_BACKEND_CPU, 256);
    g_assert_true (glim_context_eval (c, ids, T, cpu, TRUE, &error));
  }
  g_autoptr (GlimContext) g = open_ctx (m, GLIM_BACKEND_CUDA, 256);
  g_assert_true (glim_context_eval (g, ids, T, gpu, TRUE, &error));
  g_assert_no_error (error);
  int agree = 0, counted = 0, n_bad = 0;
  double worst = 0;
  for (int t = 0; t < T; t++) {
    const float *a = gpu + (gsize) t * V, *b = cpu + (gsize) t * V;
    double rel = test_rel_l2 (a, b, V);
    worst = MAX (worst, rel);
    /* A random tiny router can sit on a near-tie that any rounding difference flips (seen on
     * the H200: one row of 40 at rel 0.17-0.30, moving between fixtures as the GEMM precision
     * changed). One such row is tolerated; two are a bug. */
    n_bad += rel >= 2e-2;
    /* argmax where the reference's top-2 margin exceeds 0.1 */
    int best = glim_argmax (b, V);
    float second = -INFINITY;
    for (int v = 0; v < V; v++)
      if (v != best && b[v] > second)
        second = b[v];
    if (b[best] - second > 0.1f) {
      counted++;
      agree += glim_argmax (a, V) == best;
    }
  }
  g_test_message ("%s: worst rel L2 %.3g, %d rows over 2e-2, argmax %d/%d", dir, worst, n_bad,
                  agree, counted);
  g_assert_cmpint (n_bad, <=, 1);
  g_assert_cmpfloat (agree, >=, 0.97 * counted);
}

/* 32 greedy tokens on the GPU equal the CPU's. A divergence is accepted only where the CPU
 * reference itself is tied: the GPU's token within 0.05 of the CPU's best logit (random tiny
 * models have such steps; comparing past one would compare different continuations). */
static void
test_greedy (gconstpointer data)
{
  const char *dir = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimModel) m = glim_model_load (dir, NULL, &error);
  g_assert_no_error (error);
  int V = m->config->vocab_size, n = 32;
  g_autofree int32_t *prompt = make_prompt (12, V, 5);
  g_autofree float *logits = g_new (float, V);
  g_autoptr (GlimContext) cpu = open_ctx (m, GLIM_BACKEND_CPU, 128);
  g_autoptr (GlimContext) gpu = open_ctx (m, GLIM_BACKEND_CUDA, 128);
  const int32_t *in = prompt;
  int n_in = 12;
  int32_t tok_cpu = 0, tok_gpu = 0;
  for (int i = 0; i < n; i++) {
    g_assert_true (glim_context_eval (cpu, in, n_in, logits, FALSE, &error));
    g_assert_true (glim_context_eval_argmax (gpu, in, n_in, &tok_gpu, &error));
    g_assert_no_error (error);
    tok_cpu = glim_argmax (logits, V);
    if (tok_cpu != tok_gpu) {
      float gap = logits[tok_cpu] - logits[tok_gpu];
      g_test_message ("%s: step %d: cpu %d, gpu %d, reference gap %.4f", dir, i, tok_cpu, tok_gpu,
                      gap);
      g_assert_cmpfloat (gap, <, 0.05f);
      return;
    }
    in = &tok_cpu;
    n_in = 1;
  }
}

/* Decode steps (GEMV kernels) and a prefill chunk (GEMMs) in one context, at positions that
 * are not zero: the same logits as the CPU reference in one pass. */
static void
test_mixed_paths (gconstpointer data)
{
  const char *dir = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimModel) m = glim_model_load (dir, NULL, &error);
  g_assert_no_error (error);
  int V = m->config->vocab_size, T = 40;
  g_autofree int32_t *ids = make_prompt (T, V, 3);
  g_autofree float *ref = g_new (float, (gsize) T * V);
  g_autofree float *inc = g_new (float, (gsize) T * V);
  {
    g_autoptr (GlimContext) c = open_ctx (m, GLIM_BACKEND_CPU, 64);
    g_assert_true (glim_context_eval (c, ids, T, ref, TRUE, &error));
  }
  g_autoptr (GlimContext) g = open_ctx (m, GLIM_BACKEND_CUDA, 64);
  const int steps[] = { 1, 1, 3, 1, 20, 1, 8, 1, 2, 1, 1 };
  int pos = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (steps) && pos < T; i++) {
    int n = MIN (steps[i], T - pos);
    g_assert_true (glim_context_eval (g, ids + pos, n, inc + (gsize) pos * V, TRUE, &error));
    pos += n;
  }
  g_assert_cmpint (pos, ==, T);
  int n_bad = 0;
  for (int t = 0; t < T; t++)
    n_bad += test_rel_l2 (inc + (gsize) t * V, ref + (gsize) t * V, V) >= 2e-2;
  /* at most one row whose random router sits on a near-tie (see test_long_prefill) */
  g_test_message ("%s: %d of %d rows over 2e-2", dir, n_bad, T);
  g_assert_cmpint (n_bad, <=, 1);
}

static double
median (double *v, int n)
{
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
      double x = v[j];
      v[j] = v[j - 1];
      v[j - 1] = x;
    }
  return v[n / 2];
}

/* Prompts of several lengths (one or more query blocks) through the GEMM path, against the
 * decode kernels (GLIMMER_PREFILL=gemv) and against the CPU.
 * Random tiny routers sit on near-ties: a rounding difference can send a token to another expert,
 * that row then differs completely and later rows a little (they attend to its latent). Seen on
 * the H200 with tiny-nonorm, token 13 of a 100-token prompt: rel 0.99 through both GPU paths,
 * the rows after it 0.02-0.09. So the two GPU paths must agree row by row (bf16 GEMM against
 * float32 GEMV may flip a rare tie: at most 2% of rows), and against the CPU the median row
 * (under the 2e-2 bound; tiny-nonorm's contaminated tail puts it at 1.3e-2). */
static void
test_long_prefill (gconstpointer data)
{
  const char *dir = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimModel) m = glim_model_load (dir, NULL, &error);
  g_assert_no_error (error);
  int V = m->config->vocab_size;
  const int lengths[] = { 100, 300, 700 };
  for (gsize li = 0; li < G_N_ELEMENTS (lengths); li++) {
    int T = MIN (lengths[li], m->config->max_position_embeddings - 1);
    g_autofree int32_t *ids = make_prompt (T, V, 9);
    g_autofree float *ref = g_new (float, (gsize) T * V);
    float *out[2] = { g_new (float, (gsize) T * V), g_new (float, (gsize) T * V) };
    {
      g_autoptr (GlimContext) c = open_ctx (m, GLIM_BACKEND_CPU, T);
      g_assert_true (glim_context_eval (c, ids, T, ref, TRUE, &error));
    }
    for (int path = 0; path < 2; path++) {
      if (path == 1)
        g_setenv ("GLIMMER_PREFILL", "gemv", TRUE);
      g_autoptr (GlimContext) g = open_ctx (m, GLIM_BACKEND_CUDA, T);
      g_assert_true (glim_context_eval (g, ids, T, out[path], TRUE, &error));
      g_assert_no_error (error);
      g_unsetenv ("GLIMMER_PREFILL");
    }
    g_autofree double *rel = g_new (double, T);
    int n_bad = 0;
    for (int t = 0; t < T; t++) {
      n_bad += test_rel_l2 (out[0] + (gsize) t * V, out[1] + (gsize) t * V, V) >= 2e-2;
      rel[t] = test_rel_l2 (out[0] + (gsize) t * V, ref + (gsize) t * V, V);
    }
    double med = median (rel, T);
    g_test_message ("%s: %d tokens: gemm vs gemv %d rows over 2e-2; vs cpu median rel %.3g", dir,
                    T, n_bad, med);
    g_assert_cmpfloat (n_bad, <=, 0.02 * T);
    g_assert_cmpfloat (med, <, 2e-2);
    g_free (out[0]);
    g_free (out[1]);
  }
}

/* ---- tensor parallelism ---- */

typedef struct {
  int         tp;
  const char *nccl;        /* GLIMMER_NCCL */
  const char *allreduce;   /* GLIMMER_ALLREDUCE */
} TpSetup;

/* A CUDA context at tp with the given switches; NULL (and the test skipped) where this machine
 * cannot run it: too few GPUs, no NCCL in the build, no peer access, or heads not cut by tp. */
static GlimContext *
open_tp (GlimModel *m, const TpSetup *s, int n_ctx)
{
  g_autoptr (GError) error = NULL;
  if (s->nccl)
    g_setenv ("GLIMMER_NCCL", s->nccl, TRUE);
  if (s->allreduce)
    g_setenv ("GLIMMER_ALLREDUCE", s->allreduce, TRUE);
  GlimContextOptions o = { .backend = GLIM_BACKEND_CUDA, .n_ctx = n_ctx, .tp = s->tp };
  GlimContext *ctx = glim_context_new (m, &o, &error);
  /* (only what was set: other contexts' NCCL threads may be reading the environment) */
  if (s->nccl)
    g_unsetenv ("GLIMMER_NCCL");
  if (s->allreduce)
    g_unsetenv ("GLIMMER_ALLREDUCE");
  if (ctx == NULL) {
    gboolean cannot = g_error_matches (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_TP) ||
                      strstr (error->message, "does not exist") != NULL ||
                      strstr (error->message, "no NCCL") != NULL ||
                      strstr (error->message, "no peer access") != NULL;
    if (!cannot)
      g_assert_no_error (error);
    g_test_skip (error->message);
    return NULL;
  }
  g_autofree char *desc = glim_context_describe_device (ctx);
  g_test_message ("%s", desc);
  return ctx;
}

typedef struct {
  const char *dir;
  TpSetup     a, b;        /* b is the reference */
  double      tol;         /* rel L2 per row */
  int         rows_over;   /* rows allowed over tol (near-tie routers, see test_logits) */
} TpCase;

/* Logits of 40 tokens (chunks of the GEMV path, all rows) and 32 greedy tokens (the decode
 * graph, distributed argmax) of setup a against setup b. */
static void
test_tp_pair (gconstpointer data)
{
  const TpCase *tc = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimModel) m = glim_model_load (tc->dir, NULL, &error);
  g_assert_no_error (error);
  int V = m->config->vocab_size, T = 40;
  g_autoptr (GlimContext) a = open_tp (m, &tc->a, 256);
  if (a == NULL)
    return;
  g_autoptr (GlimContext) b = open_tp (m, &tc->b, 256);
  if (b == NULL)
    return;
  g_autofree int32_t *ids = make_prompt (T, V, 11);
  g_autofree float *la = g_new (float, (gsize) T * V);
  g_autofree float *lb = g_new (float, (gsize) T * V);
  g_assert_true (glim_context_eval (a, ids, T, la, TRUE, &error));
  g_assert_true (glim_context_eval (b, ids, T, lb, TRUE, &error));
  g_assert_no_error (error);
  int n_over = 0;
  double worst = 0;
  for (int t = 0; t < T; t++) {
    double rel = test_rel_l2 (la + (gsize) t * V, lb + (gsize) t * V, V);
    worst = MAX (worst, rel);
    n_over += rel >= tc->tol;
  }
  g_test_message ("%s: tp %d vs tp %d: worst rel L2 %.3g, %d rows over %.0e", tc->dir, tc->a.tp,
                  tc->b.tp, worst, n_over, tc->tol);
  g_assert_cmpint (n_over, <=, tc->rows_over);

  /* greedy: a's argmax (on the device, distributed) against b's logits */
  glim_context_truncate (a, 0);
  glim_context_truncate (b, 0);
  const int32_t *in = ids;
  int n_in = 12;
  int32_t tok_a = 0, tok_b = 0;
  for (int i = 0; i < 32; i++) {
    g_assert_true (glim_context_eval_argmax (a, in, n_in, &tok_a, &error));
    g_assert_true (glim_context_eval (b, in, n_in, lb, FALSE, &error));
    g_assert_no_error (error);
    tok_b = glim_argmax (lb, V);
    if (tok_a != tok_b) {
      float gap = lb[tok_b] - lb[tok_a];
      g_test_message ("%s: step %d: %d vs %d, reference gap %.4f", tc->dir, i, tok_a, tok_b, gap);
      /* only a tie of the reference may differ (and only past the tp 1 equality cases) */
      g_assert_cmpfloat (tc->rows_over, >, 0);
      g_assert_cmpfloat (gap, <, 0.05f);
      return;
    }
    in = &tok_b;
    n_in = 1;
  }
}

/* GLIMMER_TEST_TP="1,2" keeps the cases whose sizes are all listed (unset or empty: all) */
static gboolean
tp_wanted (int tp)
{
  const char *list = g_getenv ("GLIMMER_TEST_TP");
  if (list == NULL || *list == '\0')
    return TRUE;
  g_auto (GStrv) parts = g_strsplit (list, ",", -1);
  for (char **p = parts; *p != NULL; p++)
    if (atoi (*p) == tp)
      return TRUE;
  return FALSE;
}

static void
add_tp_cases (const char *dir, const char *base)
{
  const TpSetup plain = { 1, NULL, NULL }, nccl1 = { 1, "1", "nccl" }, p2p1 = { 1, "1", "p2p" };
  const TpSetup tp1 = { 1, NULL, NULL }, tp2 = { 2, NULL, NULL }, tp4 = { 4, NULL, NULL };
  const TpSetup tp2_p2p = { 2, NULL, "p2p" }, tp2_nccl = { 2, NULL, "nccl" };
  const TpSetup tp4_p2p = { 4, NULL, "p2p" }, tp4_nccl = { 4, NULL, "nccl" };
  const struct { const char *name; TpSetup a, b; double tol; int over; } cases[] = {
    { "tp1-nccl-vs-plain", nccl1, plain, 1e-5, 0 },
    { "tp1-p2p-vs-plain", p2p1, plain, 1e-5, 0 },
    { "tp2-vs-tp1", tp2, tp1, 2e-2, 1 },
    { "tp4-vs-tp1", tp4, tp1, 2e-2, 1 },
    { "tp2-p2p-vs-nccl", tp2_p2p, tp2_nccl, 1e-4, 1 },
    { "tp4-p2p-vs-nccl", tp4_p2p, tp4_nccl, 1e-4, 1 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    if (!tp_wanted (cases[i].a.tp) || !tp_wanted (cases[i].b.tp))
      continue;
    TpCase *tc = g_new0 (TpCase, 1);   /* lives as long as the test program */
    tc->dir = dir;
    tc->a = cases[i].a;
    tc->b = cases[i].b;
    tc->tol = cases[i].tol;
    tc->rows_over = cases[i].over;
    g_autofree char *path = g_strdup_printf ("/glimmer/cuda/%s/%s", base, cases[i].name);
    g_test_add_data_func_full (path, tc, test_tp_pair, g_free);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* Probe: a usable GPU and a CUDA build, or skip the whole program. */
  g_autoptr (GPtrArray) dirs = fixture_dirs ();
  g_assert_cmpuint (dirs->len, >, 0);
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GlimModel) m = glim_model_load (g_ptr_array_index (dirs, 0), NULL, &error);
    g_assert_no_error (error);
    GlimContextOptions o = { .backend = GLIM_BACKEND_CUDA, .n_ctx = 16 };
    g_autoptr (GlimContext) ctx = glim_context_new (m, &o, &error);
    if (ctx == NULL) {
      /* TAP: a plan of zero tests with a SKIP directive marks the program skipped */
      g_print ("1..0 # SKIP %s\n", error->message);
      return 0;
    }
  }
  for (guint i = 0; i < dirs->len; i++) {
    const char *dir = g_ptr_array_index (dirs, i);
    g_autofree char *base = g_path_get_basename (dir);
    g_autofree char *p1 = g_strdup_printf ("/glimmer/cuda/%s/logits-vs-cpu", base);
    g_autofree char *p2 = g_strdup_printf ("/glimmer/cuda/%s/greedy-32-vs-cpu", base);
    g_autofree char *p3 = g_strdup_printf ("/glimmer/cuda/%s/decode-and-prefill-mixed", base);
    g_autofree char *p4 = g_strdup_printf ("/glimmer/cuda/%s/long-prefill", base);
    g_test_add_data_func (p1, dir, test_logits);
    g_test_add_data_func (p2, dir, test_greedy);
    g_test_add_data_func (p3, dir, test_mixed_paths);
    if (extra_models == NULL || !g_hash_table_contains (extra_models, dir))
      g_test_add_data_func (p4, dir, test_long_prefill);
    add_tp_cases (dir, base);
  }
  return g_test_run ();
}
