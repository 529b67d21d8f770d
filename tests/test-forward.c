/* test-forward.c: the CPU forward pass against transformers reference fixtures, and model
 * loading errors on damaged copies of them.
 * SPDX-License-Identifier: MIT
 * Every folder under tests/data/ with a reference.json is a fixture made by
 * tools/reference/make_fixtures.py from transformers' Glm4MoeLiteForCausalLM (float32, dequantised
 * NVFP4 weights): the logits of every position of prompt + greedy[:-1], and the greedy tokens. */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "glim.h"
#include "testutil.h"

typedef struct {
  char   *name;
  char   *dir;
  GArray *prompt;    /* int32 */
  GArray *greedy;    /* int32 */
  int     vocab;
  float  *logits;    /* [n_rows, vocab] */
  gsize   n_rows;
} Reference;

static void
reference_free (gpointer p)
{
  Reference *r = p;
  g_free (r->name);
  g_free (r->dir);
  g_array_unref (r->prompt);
  g_array_unref (r->greedy);
  g_free (r->logits);
  g_free (r);
}

static Reference *
reference_load (const char *name)
{
  Reference *r = g_new0 (Reference, 1);
  r->name = g_strdup (name);
  r->dir = test_data_path (name, NULL);
  g_autofree char *json = g_build_filename (r->dir, "reference.json", NULL);
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_file (p, json, &error);
  g_assert_no_error (error);
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  r->prompt = test_json_int_array (o, "prompt");
  r->greedy = test_json_int_array (o, "greedy");
  r->vocab = (int) json_object_get_int_member (o, "vocab_size");
  g_autofree char *lp = g_build_filename (r->dir, json_object_get_string_member (o, "logits"), NULL);
  gsize n;
  r->logits = test_read_f32 (lp, &n);
  r->n_rows = n / (gsize) r->vocab;
  g_assert_cmpuint (r->n_rows, ==, r->prompt->len + r->greedy->len - 1);
  return r;
}

/* prompt + greedy[:-1]: the sequence the reference logits were computed on */
static GArray *
reference_sequence (const Reference *r)
{
  GArray *s = g_array_new (FALSE, FALSE, sizeof (int32_t));
  g_array_append_vals (s, r->prompt->data, r->prompt->len);
  g_array_append_vals (s, r->greedy->data, r->greedy->len - 1);
  return s;
}

static GPtrArray *
find_fixtures (void)
{
  GPtrArray *refs = g_ptr_array_new_with_free_func (reference_free);
  g_autofree char *data = test_data_path (".", NULL);
  g_autoptr (GDir) d = g_dir_open (data, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *ref = test_data_path (name, "reference.json", NULL);
    if (g_file_test (ref, G_FILE_TEST_EXISTS))
      g_ptr_array_add (names, g_strdup (name));
  }
  for (guint i = 0; i < names->len; i++)
    g_ptr_array_add (refs, reference_load (g_ptr_array_index (names, i)));
  return refs;
}

static GlimContext *
open_context (GlimModel *m, int n_threads)
{
  g_autoptr (GError) error = NULL;
  GlimContextOptions o = { .backend = GLIM_BACKEND_CPU, .n_ctx = 256, .n_threads = n_threads };
  GlimContext *ctx = glim_context_new (m, &o, &error);
  g_assert_no_error (error);
  return ctx;
}

/* ---- against the reference ---- */

static void
test_reference_logits (gconstpointer data)
{
  const Reference *r = data;
  g_autoptr (GlimModel) m = test_load_model (r->dir);
  g_assert_cmpint (m->config->vocab_size, ==, r->vocab);
  g_autoptr (GlimContext) ctx = open_context (m, 0);
  g_autoptr (GArray) seq = reference_sequence (r);
  g_autofree float *logits = g_new (float, r->n_rows * r->vocab);
  g_autoptr (GError) error = NULL;
  g_assert_true (glim_context_eval (ctx, (int32_t *) seq->data, (int) seq->len, logits, TRUE, &error));
  g_assert_no_error (error);

  double worst = 0;
  for (gsize t = 0; t < r->n_rows; t++) {
    const float *a = logits + t * r->vocab, *b = r->logits + t * r->vocab;
    double rel = test_rel_l2 (a, b, r->vocab);
    worst = MAX (worst, rel);
    g_assert_cmpfloat (rel, <, 1e-3);
    g_assert_cmpint (glim_argmax (a, r->vocab), ==, glim_argmax (b, r->vocab));
  }
  g_test_message ("%s: %zu positions, worst rel L2 %.3g", r->name, r->n_rows, worst);
}

static void
test_reference_greedy (gconstpointer data)
{
  const Reference *r = data;
  g_autoptr (GlimModel) m = test_load_model (r->dir);
  g_autoptr (GlimContext) ctx = open_context (m, 0);
  g_autofree float *logits = g_new (float, r->vocab);
  g_autoptr (GError) error = NULL;
  const int32_t *in = (const int32_t *) r->prompt->data;
  int n_in = (int) r->prompt->len;
  for (guint i = 0; i < r->greedy->len; i++) {
    g_assert_true (glim_context_eval (ctx, in, n_in, logits, FALSE, &error));
    int32_t next = glim_argmax (logits, r->vocab);
    g_assert_cmpint (next, ==, g_array_index (r->greedy, int32_t, i));
    in = &g_array_index (r->greedy, int32_t, i);
    n_in = 1;
  }
}

/* Prefill in random pieces then decode one by one: the same logits as one pass. */
static void
test_incremental_equals_oneshot (gconstpointer data)
{
  const Reference *r = data;
  g_autoptr (GlimModel) m = test_load_model (r->dir);
  g_autoptr (GArray) seq = reference_sequence (r);
  gsize V = r->vocab, T = seq->len;
  g_autofree float *one = g_new (float, T * V);
  g_autofree float *inc = g_new (float, T * V);
  g_autoptr (GError) error = NULL;
  {
    g_autoptr (GlimContext) ctx = open_context (m, 1);
    g_assert_true (glim_context_eval (ctx, (int32_t *) seq->data, (int) T, one, TRUE, &error));
  }
  GRand *rng = g_rand_new_with_seed (1234);
  for (int round = 0; round < 3; round++) {
    g_autoptr (GlimContext) ctx = open_context (m, 2);
    gsize pos = 0;
    while (pos < T) {
      gsize want = (gsize) g_rand_int_range (rng, 1, 8);   /* MIN evaluates twice */
      gsize n = round == 0 ? 1 : MIN (want, T - pos);
      glim_context_eval (ctx, (int32_t *) seq->data + pos, (int) n, inc + pos * V, TRUE, &error);
      g_assert_no_error (error);
      pos += n;
    }
    g_assert_cmpint (glim_context_n_past (ctx), ==, (int) T);
    for (gsize t = 0; t < T; t++)
      g_assert_cmpfloat (test_rel_l2 (inc + t * V, one + t * V, V), <, 1e-5);
  }
  /* truncate and re-run the tail: same logits again */
  g_autoptr (GlimContext) ctx = open_context (m, 2);
  g_assert_true (glim_context_eval (ctx, (int32_t *) seq->data, (int) T, inc, TRUE, &error));
  glim_context_truncate (ctx, (int) T / 2);
  g_assert_true (glim_context_eval (ctx, (int32_t *) seq->data + T / 2, (int) (T - T / 2),
                                    inc + (T / 2) * V, TRUE, &error));
  for (gsize t = 0; t < T; t++)
    g_assert_cmpfloat (test_rel_l2 (inc + t * V, one + t * V, V), <, 1e-5);
  g_rand_free (rng);
}

/* glim_context_eval_sample on the CPU is eval + GlimSampler at the given draw, and greedy at
 * temperature 0; the routing trace holds distinct experts with a margin for MoE layers only. */
static void
test_eval_sample (gconstpointer data)
{
  const Reference *r = data;
  g_autoptr (GlimModel) m = test_load_model (r->dir);
  g_autoptr (GArray) seq = reference_sequence (r);
  const GlimConfig *c = m->config;
  int V = (int) r->vocab, T = MIN ((int) seq->len, 8);
  const int32_t *ids = (const int32_t *) seq->data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimContext) a = open_context (m, 2);
  g_autoptr (GlimContext) b = open_context (m, 2);
  glim_context_trace_routes (a);
  GlimSamplerParams sp;
  glim_sampler_params_init (&sp);
  sp.temperature = 1.5f;
  sp.top_p = 0.95f;
  sp.seed = 99;
  g_autofree float *logits = g_new (float, V);
  int differs_from_greedy = 0;
  for (int i = 0; i < T; i++) {
    int32_t got, greedy;
    GlimSamplerParams g0 = sp;
    g0.temperature = 0.0f;
    g_assert_true (glim_context_eval_sample (a, ids + i, 1, &sp, (guint64) i + 3, &got, &error));
    g_assert_true (glim_context_eval (b, ids + i, 1, logits, FALSE, &error));
    g_autoptr (GlimSampler) s = glim_sampler_new (&sp);
    glim_sampler_set_step (s, (guint64) i + 3);
    g_assert_cmpint (got, ==, glim_sampler_sample (s, logits, V));
    glim_context_truncate (a, i);
    g_assert_true (glim_context_eval_sample (a, ids + i, 1, &g0, 0, &greedy, &error));
    g_assert_cmpint (greedy, ==, glim_argmax (logits, V));
    differs_from_greedy += got != greedy;
  }
  g_assert_no_error (error);
  g_test_message ("%s: %d of %d sampled tokens differ from greedy", r->name, differs_from_greedy, T);

  int K = c->n_experts_per_tok;
  int32_t experts[64];
  g_assert_cmpint (K, <=, 64);
  for (int l = 0; l < c->n_layers; l++)
    for (int pos = 0; pos < T + 1; pos++) {
      float margin;
      gboolean has = glim_context_route (a, pos, l, experts, &margin);
      g_assert_cmpint (has, ==, c->layer_is_moe[l] && pos < T);
      if (!has)
        continue;
      g_assert_cmpfloat (margin, >=, 0.0f);
      for (int k = 0; k < K; k++) {
        g_assert_cmpint (experts[k], >=, 0);
        g_assert_cmpint (experts[k], <, c->n_routed_experts);
        for (int k2 = 0; k2 < k; k2++)
          g_assert_cmpint (experts[k], !=, experts[k2]);
      }
    }
}

static char *
ids_string (const int32_t *ids, gsize n)
{
  GString *s = g_string_new (NULL);
  for (gsize i = 0; i < n; i++)
    g_string_append_printf (s, "%s%d", i ? "," : "", ids[i]);
  return g_string_free (s, FALSE);
}

static void
test_cli (gconstpointer data)
{
  const Reference *r = data;
  g_autoptr (GArray) seq = reference_sequence (r);
  g_autofree char *tmp = test_make_tmpdir ();
  g_autofree char *out_path = g_build_filename (tmp, "logits.f32", NULL);
  g_autofree char *tokens = ids_string ((int32_t *) seq->data, seq->len);
  g_autofree char *out = NULL, *err = NULL;
  const char *args[] = { "logits", "--model", r->dir, "--tokens", tokens, "--out", out_path, NULL };
  g_assert_cmpint (test_run_cli (args, &out, &err), ==, 0);
  gsize n;
  g_autofree float *logits = test_read_f32 (out_path, &n);
  g_assert_cmpuint (n, ==, r->n_rows * r->vocab);
  for (gsize t = 0; t < r->n_rows; t++)
    g_assert_cmpfloat (test_rel_l2 (logits + t * r->vocab, r->logits + t * r->vocab, r->vocab), <,
                       1e-3);

  g_autofree char *prompt = ids_string ((int32_t *) r->prompt->data, r->prompt->len);
  g_autofree char *expect = ids_string ((int32_t *) r->greedy->data, r->greedy->len);
  g_autofree char *n_tokens = g_strdup_printf ("%u", r->greedy->len);
  g_autofree char *gout = NULL, *gerr = NULL;
  const char *gargs[] = { "generate", "--model", r->dir, "--tokens", prompt, "--max-tokens",
                          n_tokens, "--temperature", "0", "--ignore-eos", NULL };
  g_assert_cmpint (test_run_cli (gargs, &gout, &gerr), ==, 0);
  g_strstrip (gout);
  g_assert_cmpstr (gout, ==, expect);
  test_rmtree (tmp);
}

/* ---- loading errors on damaged copies ---- */

typedef struct {
  const char *tensor;
  const char *key;
  const char *value;   /* NULL: remove the tensor entry */
  gint64      shape[2];
  int         n_dims;
} HeaderEdit;

static void
edit_header (gpointer root, gpointer user)
{
  JsonObject *o = root;
  const HeaderEdit *e = user;
  if (e->key == NULL) {
    json_object_remove_member (o, e->tensor);
    return;
  }
  JsonObject *t = json_object_get_object_member (o, e->tensor);
  g_assert_nonnull (t);
  if (strcmp (e->key, "dtype") == 0) {
    json_object_set_string_member (t, "dtype", e->value);
  } else {
    JsonArray *a = json_array_new ();
    for (int d = 0; d < e->n_dims; d++)
      json_array_add_int_element (a, e->shape[d]);
    json_object_set_array_member (t, "shape", a);
  }
}

static void
expect_load_error (const char *fixture, const HeaderEdit *edit, int code, const char *needle)
{
  g_autofree char *src = test_data_path (fixture, NULL);
  g_autofree char *dir = test_copy_dir (src);
  g_autofree char *file = g_build_filename (dir, "model.safetensors", NULL);
  test_edit_safetensors_header (file, edit_header, (gpointer) edit);
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimModel) m = glim_model_load (dir, NULL, &error);
  g_assert_null (m);
  g_assert_error (error, GLIM_MODEL_ERROR, code);
  if (strstr (error->message, needle) == NULL)
    g_error ("\"%s\" does not mention \"%s\"", error->message, needle);
  test_rmtree (dir);
}

static void
test_load_errors (void)
{
  const char *fx = "tiny-base";
  g_autofree char *ref = test_data_path (fx, "reference.json", NULL);
  if (!g_file_test (ref, G_FILE_TEST_EXISTS)) {
    g_test_skip ("fixture tiny-base is missing");
    return;
  }
  HeaderEdit missing = { .tensor = "model.layers.1.mlp.experts.3.up_proj.weight_scale_2" };
  expect_load_error (fx, &missing, GLIM_MODEL_ERROR_TENSOR_MISSING,
                     "model.layers.1.mlp.experts.3.up_proj.weight_scale_2");
  HeaderEdit no_norm = { .tensor = "model.norm.weight" };
  expect_load_error (fx, &no_norm, GLIM_MODEL_ERROR_TENSOR_MISSING, "model.norm.weight");
  HeaderEdit dtype = { .tensor = "model.layers.0.input_layernorm.weight", .key = "dtype",
                       .value = "I16" };
  expect_load_error (fx, &dtype, GLIM_MODEL_ERROR_TENSOR_DTYPE, "model.layers.0.input_layernorm.weight");
  HeaderEdit sdtype = { .tensor = "model.layers.0.self_attn.o_proj.weight_scale", .key = "dtype",
                        .value = "I8" };
  expect_load_error (fx, &sdtype, GLIM_MODEL_ERROR_TENSOR_DTYPE, "o_proj.weight_scale");
  HeaderEdit no_scale = { .tensor = "model.layers.0.self_attn.q_b_proj.weight_scale" };
  expect_load_error (fx, &no_scale, GLIM_MODEL_ERROR_TENSOR_MISSING, "q_b_proj.weight_scale");
}

static void
test_load_shape_errors (void)
{
  g_autofree char *src = test_data_path ("tiny-base", NULL);
  g_autoptr (GlimModel) m = test_load_model (src);
  const GlimWeight *w = &m->layers[0].o;     /* NVFP4: u8 [rows, cols/2] */
  HeaderEdit shape = { "model.layers.0.self_attn.o_proj.weight", "shape", NULL,
                       { w->rows * 2, w->cols / 4 }, 2 };
  expect_load_error ("tiny-base", &shape, GLIM_MODEL_ERROR_TENSOR_SHAPE, "o_proj.weight");
  int D = m->config->hidden_size;
  HeaderEdit nshape = { "model.norm.weight", "shape", NULL, { D / 2, 2 }, 2 };
  expect_load_error ("tiny-base", &nshape, GLIM_MODEL_ERROR_TENSOR_SHAPE, "model.norm.weight");
}

static void
test_truncated_model (void)
{
  g_autofree char *src = test_data_path ("tiny-base", NULL);
  g_autofree char *dir = test_copy_dir (src);
  g_autofree char *file = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree char *contents = NULL;
  gsize len;
  g_file_get_contents (file, &contents, &len, NULL);
  g_file_set_contents (file, contents, (gssize) (len - len / 3), NULL);
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_model_load (dir, NULL, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "model.safetensors"));
  test_rmtree (dir);
}

static void
test_bad_tokens (void)
{
  g_autofree char *src = test_data_path ("tiny-base", NULL);
  g_autoptr (GlimModel) m = test_load_model (src);
  g_autoptr (GlimContext) ctx = open_context (m, 1);
  int32_t bad[2] = { 1, m->config->vocab_size };
  g_autoptr (GError) error = NULL;
  g_assert_false (glim_context_eval (ctx, bad, 2, NULL, FALSE, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT);
  g_assert_cmpint (glim_context_n_past (ctx), ==, 0);
  g_clear_error (&error);
  g_autofree int32_t *many = g_new0 (int32_t, 300);
  g_assert_false (glim_context_eval (ctx, many, 300, NULL, FALSE, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "256"));
}

/* CPU load with a progress callback: the weights are read in with (0, total) first, growing
 * figures, (total, total) last; a callback that says stop cancels the load with an error. */
typedef struct {
  GArray *done;
  guint64 total;
  int     stop_after;   /* calls before returning FALSE; -1: never */
} ProgressLog;

static gboolean
log_progress (guint64 done, guint64 total, gpointer data)
{
  ProgressLog *log = data;
  g_array_append_val (log->done, done);
  log->total = total;
  return log->stop_after < 0 || (int) log->done->len <= log->stop_after;
}

static void
test_cpu_load_progress (void)
{
  g_autofree char *src = test_data_path ("tiny-mtp", NULL);
  g_autoptr (GlimModel) m = test_load_model (src);
  guint64 bytes = glim_tensor_store_n_bytes (m->store);
  for (int stop = -1; stop <= 0; stop++) {
    ProgressLog log = { g_array_new (FALSE, FALSE, sizeof (guint64)), 0, stop };
    GlimContextOptions o = { .backend = GLIM_BACKEND_CPU, .n_ctx = 16, .n_threads = 1,
                             .progress = log_progress, .progress_data = &log };
    g_autoptr (GError) error = NULL;
    g_autoptr (GlimContext) ctx = glim_context_new (m, &o, &error);
    g_assert_cmpuint (log.total, ==, bytes);
    g_assert_cmpuint (g_array_index (log.done, guint64, 0), ==, 0);
    if (stop < 0) {
      g_assert_no_error (error);
      g_assert_nonnull (ctx);
      g_assert_cmpuint (log.done->len, >=, 2);
      for (guint i = 1; i < log.done->len; i++)
        g_assert_cmpuint (g_array_index (log.done, guint64, i), >,
                          g_array_index (log.done, guint64, i - 1));
      g_assert_cmpuint (g_array_index (log.done, guint64, log.done->len - 1), ==, bytes);
    } else {
      g_assert_null (ctx);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_cmpuint (log.done->len, ==, 1);
    }
    g_array_unref (log.done);
  }
}

static void
test_mtp (void)
{
  /* Fixtures with an MTP layer bind it on request; the others refuse with a named error. */
  g_autoptr (GPtrArray) refs = find_fixtures ();
  int with_mtp = 0;
  for (guint i = 0; i < refs->len; i++) {
    const Reference *r = g_ptr_array_index (refs, i);
    g_autoptr (GlimModel) plain = test_load_model (r->dir);
    g_assert_null (plain->mtp);
    GlimModelLoadOptions o = { .load_mtp = TRUE };
    g_autoptr (GError) error = NULL;
    g_autoptr (GlimModel) m = glim_model_load (r->dir, &o, &error);
    if (plain->config->n_nextn_layers > 0) {
      g_assert_no_error (error);
      g_assert_nonnull (m->mtp);
      g_assert_cmpint (m->mtp->eh_proj.cols, ==, 2 * m->config->hidden_size);
      with_mtp++;
    } else {
      g_assert_null (m);
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, "num_nextn_predict_layers"));
    }
  }
  g_assert_cmpint (with_mtp, >, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autoptr (GPtrArray) refs = find_fixtures ();
  g_assert_cmpuint (refs->len, >, 0);
  for (guint i = 0; i < refs->len; i++) {
    Reference *r = g_ptr_array_index (refs, i);
    g_autofree char *p1 = g_strdup_printf ("/glimmer/forward/%s/logits", r->name);
    g_autofree char *p2 = g_strdup_printf ("/glimmer/forward/%s/greedy", r->name);
    g_autofree char *p3 = g_strdup_printf ("/glimmer/forward/%s/incremental", r->name);
    g_autofree char *p4 = g_strdup_printf ("/glimmer/forward/%s/cli", r->name);
    g_test_add_data_func (p1, r, test_reference_logits);
    g_test_add_data_func (p2, r, test_reference_greedy);
    g_test_add_data_func (p3, r, test_incremental_equals_oneshot);
    g_test_add_data_func (p4, r, test_cli);
    g_autofree char *p5 = g_strdup_printf ("/glimmer/forward/%s/eval-sample", r->name);
    g_test_add_data_func (p5, r, test_eval_sample);
  }
  g_test_add_func ("/glimmer/model/load-errors", test_load_errors);
  g_test_add_func ("/glimmer/model/shape-errors", test_load_shape_errors);
  g_test_add_func ("/glimmer/model/truncated", test_truncated_model);
  g_test_add_func ("/glimmer/model/bad-tokens", test_bad_tokens);
  g_test_add_func ("/glimmer/model/cpu-load-progress", test_cpu_load_progress);
  g_test_add_func ("/glimmer/model/mtp-on-request", test_mtp);
  return g_test_run ();
}
