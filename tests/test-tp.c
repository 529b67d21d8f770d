/* test-tp.c: tensor parallelism on the CPU: tp 2 and 4 compute what tp 1 computes, the shard
 * views cut tensors where glim-shard.h says, a tp that does not divide the heads is refused by
 * name, and the per-rank memory plan adds up for GLM-4.7-Flash.
 * SPDX-License-Identifier: MIT
 * Models: every fixture under tests/data/ with a reference.json (as test-forward.c finds them),
 * its bf16/ twin (the same model unquantised), and random NVFP4 models from glim_synth (see
 * main). Every model of 4 heads, so every committed fixture, must run tp 2 and 4, including
 * those whose FFN widths are cut unevenly and whose NVFP4 o_proj is widened past a head
 * boundary; a model whose heads tp does not divide must be refused, as an independent
 * prediction says. */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "glim.h"
#include "testutil.h"

#define REL_TOL 1e-5

typedef struct {
  char   *name;       /* "tiny-base", "tiny-base/bf16", "synth-nvfp4" */
  char   *dir;
  GArray *prompt;     /* int32 */
  GArray *greedy;     /* int32: the reference continuation, or NULL (synthetic models) */
  int     n_greedy;   /* tokens to generate */
  GArray *sequence;   /* int32: prompt + the first n_greedy - 1 generated tokens (all-logits run) */
} Case;

static void
case_free (gpointer p)
{
  Case *c = p;
  g_free (c->name);
  g_free (c->dir);
  g_array_unref (c->prompt);
  if (c->greedy != NULL)
    g_array_unref (c->greedy);
  g_array_unref (c->sequence);
  g_free (c);
}

static Case *
case_new (const char *name, const char *dir, GArray *prompt, GArray *greedy, int n_greedy)
{
  Case *c = g_new0 (Case, 1);
  c->name = g_strdup (name);
  c->dir = g_strdup (dir);
  c->prompt = prompt;
  c->greedy = greedy;
  c->n_greedy = n_greedy;
  c->sequence = g_array_new (FALSE, FALSE, sizeof (int32_t));
  g_array_append_vals (c->sequence, prompt->data, prompt->len);
  if (greedy != NULL)
    g_array_append_vals (c->sequence, greedy->data, greedy->len - 1);
  else
    for (int i = 0; i + 1 < n_greedy; i++) {
      int32_t t = (int32_t) (37 * i + 11) % 500;
      g_array_append_val (c->sequence, t);
    }
  return c;
}

/* Every fixture with a reference.json, then its bf16/ twin with the same tokens. */
static void
add_fixtures (GPtrArray *cases)
{
  g_autofree char *data = test_data_path (".", NULL);
  g_autoptr (GDir) d = g_dir_open (data, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *ref = test_data_path (name, "reference.json", NULL);
    if (g_file_test (ref, G_FILE_TEST_EXISTS))
      g_ptr_array_add (names, g_strdup (name));
  }
  for (guint i = 0; i < names->len; i++) {
    const char *n = g_ptr_array_index (names, i);
    g_autofree char *dir = test_data_path (n, NULL);
    g_autofree char *json = test_data_path (n, "reference.json", NULL);
    g_autoptr (JsonParser) p = json_parser_new ();
    g_autoptr (GError) error = NULL;
    json_parser_load_from_file (p, json, &error);
    g_assert_no_error (error);
    JsonObject *o = json_node_get_object (json_parser_get_root (p));
    GArray *greedy = test_json_int_array (o, "greedy");
    g_ptr_array_add (cases, case_new (n, dir, test_json_int_array (o, "prompt"), greedy, (int) greedy->len));
    g_autofree char *twin = g_build_filename (dir, "bf16", NULL);
    g_autofree char *twin_config = g_build_filename (twin, "config.json", NULL);
    if (g_file_test (twin_config, G_FILE_TEST_EXISTS)) {
      g_autofree char *tn = g_strconcat (n, "/bf16", NULL);
      g_ptr_array_add (cases,
                       case_new (tn, twin, test_json_int_array (o, "prompt"), NULL, (int) greedy->len));
    }
  }
}

/* A random NVFP4 model (glim_synth "tiny" preset plus overrides) in `tmp`. */
static Case *
synth_case (const char *tmp, const char *name, guint64 seed, const char *const *overrides)
{
  g_autofree char *dir = g_build_filename (tmp, name, NULL);
  GlimSynthOptions o = { .preset = "tiny", .seed = seed, .out_dir = dir, .overrides = overrides };
  g_autoptr (GError) error = NULL;
  g_assert_true (glim_synth (&o, &error));
  g_assert_no_error (error);
  GArray *prompt = g_array_new (FALSE, FALSE, sizeof (int32_t));
  for (int i = 0; i < 11; i++) {
    int32_t t = (int32_t) (97 * i + 5) % 900;
    g_array_append_val (prompt, t);
  }
  return case_new (name, dir, prompt, NULL, 8);
}

/* A random BF16 model in `tmp`: tiny-base/bf16's config with `n_keys` integer settings
 * changed, and every tensor glim_export_layout names, random. It may have widths that are not
 * a multiple of 16 (NVFP4, and so glim_synth, never does). */
static Case *
bf16_case (const char *tmp, const char *name, guint64 seed, const char *const *keys,
           const int *values, int n_keys)
{
  g_autofree char *dir = g_build_filename (tmp, name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_autofree char *src = test_data_path ("tiny-base", "bf16", "config.json", NULL);
  g_autofree char *cfg = g_build_filename (dir, "config.json", NULL);
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_file (p, src, &error);
  g_assert_no_error (error);
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  for (int i = 0; i < n_keys; i++)
    json_object_set_int_member (o, keys[i], values[i]);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, json_parser_get_root (p));
  g_assert_true (json_generator_to_file (gen, cfg, &error));
  g_assert_no_error (error);

  g_autoptr (GlimConfig) config = glim_config_load (dir, &error);
  g_assert_no_error (error);
  g_assert_false (config->quant.nvfp4);
  g_autoptr (GPtrArray) layout = glim_export_layout (config, FALSE);
  g_autofree TestTensor *t = g_new0 (TestTensor, layout->len);
  g_autoptr (GPtrArray) buffers = g_ptr_array_new_with_free_func (g_free);
  guint64 state = seed;
  for (guint i = 0; i < layout->len; i++) {
    const GlimExportEntry *e = g_ptr_array_index (layout, i);
    gsize n = (gsize) e->rows * (gsize) MAX (e->cols, 1);
    gboolean f32 = e->dtype == GLIM_DTYPE_F32;
    float scale = e->kind == GLIM_EXPORT_LINEAR ? 1.0f / sqrtf ((float) e->cols) : 1.0f;
    void *data = g_malloc (n * (f32 ? 4 : 2));
    for (gsize k = 0; k < n; k++) {
      float u = (float) (glim_splitmix64 (&state) >> 40) / (float) (1 << 24) - 0.5f;
      float v = e->kind == GLIM_EXPORT_VECTOR ? (f32 ? 0.01f * u : 1.0f + 0.2f * u)
                                              : 3.4641f * u * scale;    /* variance scale^2 */
      if (f32) {
        ((float *) data)[k] = v;
      } else {
        guint32 bits;
        memcpy (&bits, &v, 4);
        ((guint16 *) data)[k] = (guint16) (bits >> 16);
      }
    }
    g_ptr_array_add (buffers, data);
    t[i] = (TestTensor) { .name = e->tensor, .dtype = f32 ? "F32" : "BF16",
                          .n_dims = e->kind == GLIM_EXPORT_VECTOR ? 1 : 2,
                          .shape = { e->rows, e->cols }, .data = data,
                          .n_bytes = n * (f32 ? 4 : 2) };
  }
  g_autofree char *st = g_build_filename (dir, "model.safetensors", NULL);
  test_write_safetensors (st, t, layout->len);

  GArray *prompt = g_array_new (FALSE, FALSE, sizeof (int32_t));
  for (int i = 0; i < 11; i++) {
    int32_t id = (int32_t) (97 * i + 5) % config->vocab_size;
    g_array_append_val (prompt, id);
  }
  return case_new (name, dir, prompt, NULL, 8);
}

static GlimContext *
open_tp (GlimModel *m, int tp, int n_threads, GError **error)
{
  GlimContextOptions o = { .backend = GLIM_BACKEND_CPU, .n_ctx = 128, .n_threads = n_threads,
                           .tp = tp };
  return glim_context_new (m, &o, error);
}

/* ---- the prediction: does tp cut this model exactly? ---- */

/* Only the heads must divide: FFN widths are cut in whole blocks whatever their size, and an
 * NVFP4 o_proj whose head boundaries fall inside its scale blocks is widened. */
static gboolean
expect_cut (GlimModel *m, int tp)
{
  return tp >= 1 && tp <= GLIM_SHARD_TP_MAX && m->config->n_heads % tp == 0;
}

/* ---- tp N against tp 1 ---- */

static float *
all_logits (GlimModel *m, int tp, const GArray *seq, gboolean in_two_parts)
{
  gsize V = (gsize) m->config->vocab_size, T = seq->len;
  float *logits = g_new (float, T * V);
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimContext) ctx = open_tp (m, tp, 2, &error);
  g_assert_no_error (error);
  const int32_t *ids = (const int32_t *) seq->data;
  gsize first = in_two_parts ? T / 2 : T;
  g_assert_true (glim_context_eval (ctx, ids, (int) first, logits, TRUE, &error));
  if (first < T)
    g_assert_true (glim_context_eval (ctx, ids + first, (int) (T - first), logits + first * V,
                                      TRUE, &error));
  g_assert_no_error (error);
  return logits;
}

static GArray *
greedy (GlimModel *m, int tp, const Case *c)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimContext) ctx = open_tp (m, tp, 0, &error);
  g_assert_no_error (error);
  GArray *out = g_array_new (FALSE, FALSE, sizeof (int32_t));
  const int32_t *in = (const int32_t *) c->prompt->data;
  int n_in = (int) c->prompt->len;
  for (int i = 0; i < c->n_greedy; i++) {
    int32_t next;
    g_assert_true (glim_context_eval_argmax (ctx, in, n_in, &next, &error));
    g_assert_no_error (error);
    g_array_append_val (out, next);
    in = &g_array_index (out, int32_t, out->len - 1);
    n_in = 1;
  }
  return out;
}

static void
assert_same_ids (const GArray *a, const GArray *b)
{
  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++)
    g_assert_cmpint (g_array_index (a, int32_t, i), ==, g_array_index (b, int32_t, i));
}

static void
check_tp (const Case *c, int tp)
{
  g_autoptr (GlimModel) m = test_load_model (c->dir);
  g_autoptr (GError) error = NULL;
  if (m->config->n_heads == 4)                    /* every fixture, and most synthetic models */
    g_assert_true (expect_cut (m, tp));
  if (!expect_cut (m, tp)) {
    /* refused, by name, both by the check and by the context */
    g_assert_false (glim_shard_check (m, tp, &error));
    g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_TP);
    g_autofree char *want = g_strdup_printf ("tensor parallel size %d", tp);
    g_assert_nonnull (strstr (error->message, want));
    g_assert_nonnull (strstr (error->message, "does not divide num_attention_heads"));
    g_test_message ("%s: tp %d refused as predicted: %s", c->name, tp, error->message);
    g_clear_error (&error);
    g_assert_null (open_tp (m, tp, 1, &error));
    g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_TP);
    return;
  }
  g_assert_true (glim_shard_check (m, tp, &error));
  g_assert_no_error (error);

  gsize V = (gsize) m->config->vocab_size, T = c->sequence->len;
  g_autofree float *one = all_logits (m, 1, c->sequence, FALSE);
  double worst = 0;
  for (int parts = 0; parts < 2; parts++) {
    g_autofree float *split = all_logits (m, tp, c->sequence, parts == 1);
    for (gsize t = 0; t < T; t++) {
      double rel = test_rel_l2 (split + t * V, one + t * V, V);
      worst = MAX (worst, rel);
      g_assert_cmpfloat (rel, <, REL_TOL);
      g_assert_cmpint (glim_argmax (split + t * V, (int) V), ==,
                       glim_argmax (one + t * V, (int) V));
    }
  }
  g_autoptr (GArray) g1 = greedy (m, 1, c);
  g_autoptr (GArray) gn = greedy (m, tp, c);
  assert_same_ids (gn, g1);
  if (c->greedy != NULL)
    assert_same_ids (gn, c->greedy);
  g_test_message ("%s: tp %d, %zu positions, worst rel L2 against tp 1 %.3g", c->name, tp, T,
                  worst);
}

static void
test_tp2 (gconstpointer data)
{
  check_tp (data, 2);
}

static void
test_tp4 (gconstpointer data)
{
  check_tp (data, 4);
}

/* ---- the views ---- */

static void
assert_row_equals (const GlimWeight *view, int row, const GlimWeight *whole, int whole_row,
                   int col0)
{
  g_autofree float *a = g_new (float, view->cols);
  g_autofree float *b = g_new (float, whole->cols);
  glim_weight_row_to_f32 (view, row, a);
  glim_weight_row_to_f32 (whole, whole_row, b);
  g_assert_cmpmem (a, sizeof (float) * (gsize) view->cols, b + col0,
                   sizeof (float) * (gsize) view->cols);
}

static void
test_slice (void)
{
  g_autofree char *dir = test_data_path ("tiny-base", NULL);
  g_autoptr (GlimModel) m = test_load_model (dir);
  const GlimWeight *o = &m->layers[0].o;            /* NVFP4 [D, H * Dv] = [64, 128] */
  g_assert_cmpint (o->format, ==, GLIM_WEIGHT_NVFP4);
  g_autoptr (GError) error = NULL;
  GlimWeight v;

  /* a cut inside a scale block, at either end */
  g_assert_false (glim_weight_slice_cols (o, 8, 32, &v, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_SLICE);
  g_assert_nonnull (strstr (error->message, "model.layers.0.self_attn.o_proj"));
  g_assert_nonnull (strstr (error->message, "scale blocks"));
  g_clear_error (&error);
  g_assert_false (glim_weight_slice_cols (o, 16, 24, &v, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_SLICE);
  g_clear_error (&error);
  /* outside the tensor */
  g_assert_false (glim_weight_slice_cols (o, 112, 32, &v, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_SLICE);
  g_clear_error (&error);
  g_assert_false (glim_weight_slice_rows (o, 60, 8, &v, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_SLICE);
  g_assert_nonnull (strstr (error->message, "outside"));
  g_clear_error (&error);

  /* block-aligned column view: the same bits as the middle of every row, no copy */
  g_assert_true (glim_weight_slice_cols (o, 32, 48, &v, &error));
  g_assert_cmpint (v.cols, ==, 48);
  g_assert_cmpint (v.row_stride, ==, o->cols);
  g_assert_true ((const uint8_t *) v.data == (const uint8_t *) o->data + 16);
  g_assert_true (v.scales == o->scales + 2);
  g_assert_cmpfloat (v.scale2, ==, o->scale2);
  for (int r = 0; r < o->rows; r++)
    assert_row_equals (&v, r, o, r, 32);
  /* a row view of the column view */
  GlimWeight vv;
  g_assert_true (glim_weight_slice_rows (&v, 10, 20, &vv, &error));
  for (int r = 0; r < 20; r++)
    assert_row_equals (&vv, r, o, 10 + r, 32);
  /* rows of an NVFP4 tensor */
  g_assert_true (glim_weight_slice_rows (o, 7, 9, &v, &error));
  for (int r = 0; r < 9; r++)
    assert_row_equals (&v, r, o, 7 + r, 0);
  /* a wide (BF16) weight may be cut at any column */
  const GlimWeight *head = &m->lm_head;
  g_assert_cmpint (head->format, ==, GLIM_WEIGHT_BF16);
  g_assert_true (glim_weight_slice_cols (head, 3, 5, &v, &error));
  g_assert_true (glim_weight_slice_rows (&v, 100, 50, &vv, &error));
  for (int r = 0; r < 50; r++)
    assert_row_equals (&vv, r, head, 100 + r, 3);
  g_assert_no_error (error);
}

/* One MLP cut across the ranks: contiguous whole blocks in rank order, gate/up rows matching
 * down's columns, every view reading the model's bits. */
static void
assert_mlp_cut (GlimShard *const *shards, int tp, const GlimMlp *whole, const GlimMlp *const *parts)
{
  int n = whole->gate.rows, next = 0;
  g_assert_cmpint (whole->down.cols, ==, n);
  for (int r = 0; r < tp; r++) {
    const GlimMlp *p = parts[r];
    int f0, k;
    glim_shard_ffn_range (n, tp, shards[r]->rank, &f0, &k);
    g_assert_cmpint (f0, ==, next);
    g_assert_cmpint (p->gate.rows, ==, k);
    g_assert_cmpint (p->up.rows, ==, k);
    g_assert_cmpint (p->down.cols, ==, k);
    g_assert_cmpint (p->down.rows, ==, whole->down.rows);
    g_assert_true ((f0 % 16 == 0 || k == 0) && (k % 16 == 0 || f0 + k == n));
    if (k > 0) {
      assert_row_equals (&p->gate, 0, &whole->gate, f0, 0);
      assert_row_equals (&p->up, k - 1, &whole->up, f0 + k - 1, 0);
      assert_row_equals (&p->down, whole->down.rows - 1, &whole->down, whole->down.rows - 1, f0);
    }
    next = f0 + k;
  }
  g_assert_cmpint (next, ==, n);
}

/* What glim_shard_new hands each rank at tp 2 and 4: views where glim-shard.h says, the
 * model's own elsewhere. */
static void
test_shard_layout (gconstpointer data)
{
  const Case *c = data;
  g_autoptr (GlimModel) m = test_load_model (c->dir);
  const GlimConfig *cf = m->config;
  int H = cf->n_heads, Dv = cf->v_head_dim, E = cf->n_routed_experts;
  int Dqk = cf->qk_nope_head_dim + cf->qk_rope_head_dim, Dkv = cf->qk_nope_head_dim + Dv;
  g_autoptr (GError) error = NULL;
  for (int tp = 2; tp <= 4; tp *= 2) {
    if (H % tp != 0)
      continue;
    int Hl = H / tp;
    GlimShard *shards[4];
    for (int r = 0; r < tp; r++) {
      shards[r] = glim_shard_new (m, tp, r, &error);
      g_assert_no_error (error);
      g_assert_cmpint (shards[r]->head0, ==, r * Hl);
      g_assert_cmpint (shards[r]->n_heads, ==, Hl);
    }
    for (int l = 0; l < cf->n_layers; l++) {
      const GlimLayer *L = &m->layers[l];
      for (int r = 0; r < tp; r++) {
        const GlimLayer *S = &shards[r]->layers[l];
        const GlimWeight *q = cf->q_lora_rank > 0 ? &L->q_b : &L->q;
        const GlimWeight *sq = cf->q_lora_rank > 0 ? &S->q_b : &S->q;
        g_assert_cmpint (sq->rows, ==, Hl * Dqk);
        assert_row_equals (sq, 0, q, r * Hl * Dqk, 0);
        g_assert_cmpint (S->kv_b.rows, ==, Hl * Dkv);
        assert_row_equals (&S->kv_b, Dkv - 1, &L->kv_b, r * Hl * Dkv + Dkv - 1, 0);
        /* o_proj: the heads' columns, widened to whole scale blocks for NVFP4 */
        int h0 = r * Hl * Dv, h1 = h0 + Hl * Dv, c0 = h0, c1 = h1;
        if (L->o.format == GLIM_WEIGHT_NVFP4) {
          c0 = h0 - h0 % 16;
          c1 = h1 % 16 == 0 ? h1 : h1 - h1 % 16 + 16;
        }
        g_assert_cmpint (S->o.cols, ==, c1 - c0);
        g_assert_cmpint (shards[r]->o_lead[l], ==, h0 - c0);
        assert_row_equals (&S->o, 5, &L->o, 5, c0);
        int col0, n_cols, lead;
        glim_shard_o_range (H, Dv, L->o.format == GLIM_WEIGHT_NVFP4, tp, r, &col0, &n_cols,
                            &lead);
        g_assert_cmpint (col0, ==, c0);
        g_assert_cmpint (n_cols, ==, c1 - c0);
        g_assert_cmpint (lead, ==, h0 - c0);
        /* replicated: the very same data */
        g_assert_true (S->kv_a.data == L->kv_a.data && S->input_norm == L->input_norm);
        g_assert_true (S->q_a.data == L->q_a.data && S->router.data == L->router.data);
      }
      const GlimMlp *parts[4];
      if (!L->is_moe) {
        for (int r = 0; r < tp; r++)
          parts[r] = &shards[r]->layers[l].dense;
        assert_mlp_cut (shards, tp, &L->dense, parts);
        continue;
      }
      for (int e = 0; e < E; e++) {
        for (int r = 0; r < tp; r++)
          parts[r] = &shards[r]->layers[l].experts[e];
        assert_mlp_cut (shards, tp, &L->experts[e], parts);
      }
      if (L->shared.gate.format != GLIM_WEIGHT_NONE) {
        for (int r = 0; r < tp; r++)
          parts[r] = &shards[r]->layers[l].shared;
        assert_mlp_cut (shards, tp, &L->shared, parts);
      }
    }
    for (int r = 0; r < tp; r++) {
      int row0, n_rows;
      glim_shard_vocab_range (cf->vocab_size, tp, r, &row0, &n_rows);
      g_assert_cmpint (shards[r]->vocab0, ==, row0);
      g_assert_cmpint (shards[r]->lm_head.rows, ==, n_rows);
      if (n_rows > 0)
        assert_row_equals (&shards[r]->lm_head, n_rows - 1, &m->lm_head, row0 + n_rows - 1, 0);
      glim_shard_free (shards[r]);
    }
  }
}

static void
test_vocab_ranges (void)
{
  const int vocabs[] = { 10, 512, 640, 1000, 1001, 2048, 154880 };
  for (gsize i = 0; i < G_N_ELEMENTS (vocabs); i++)
    for (int tp = 1; tp <= GLIM_SHARD_TP_MAX; tp++) {
      int next = 0, first = 0;
      for (int r = 0; r < tp; r++) {
        int row0, n;
        glim_shard_vocab_range (vocabs[i], tp, r, &row0, &n);
        g_assert_cmpint (row0, ==, next);            /* contiguous, in rank order */
        g_assert_cmpint (n, >=, 0);
        if (r == 0)
          first = n;
        g_assert_cmpint (n, <=, first);              /* rank 0 holds the most */
        next = row0 + n;
      }
      g_assert_cmpint (next, ==, vocabs[i]);         /* and all of it */
    }
  int row0, n;
  glim_shard_vocab_range (154880, 4, 3, &row0, &n);  /* GLM-4.7-Flash: 38720 rows each */
  g_assert_cmpint (row0, ==, 3 * 38720);
  g_assert_cmpint (n, ==, 38720);
}

/* glim_shard_ffn_range against the rule written out once more: blocks of 16, a contiguous run
 * per rank, the first (blocks % tp) ranks one block more. */
static void
test_ffn_ranges (void)
{
  static const struct {
    int n, tp, want[GLIM_SHARD_TP_MAX];
  } table[] = {
    { 96, 4, { 32, 32, 16, 16 } },
    { 32, 4, { 16, 16, 0, 0 } },
    { 1536, 4, { 384, 384, 384, 384 } },
    { 1536, 5, { 320, 304, 304, 304, 304 } },
    { 10240, 8, { 1280, 1280, 1280, 1280, 1280, 1280, 1280, 1280 } },
    { 272, 2, { 144, 128 } },                       /* 17 blocks over 2 */
    { 260, 2, { 144, 116 } },                       /* 17 blocks, the last 4 wide (not NVFP4) */
    { 80, 2, { 48, 32 } },
    { 112, 4, { 32, 32, 32, 16 } },
    { 40, 4, { 16, 16, 8, 0 } },
    { 10, 2, { 10, 0 } },
    { 0, 3, { 0, 0, 0 } },
    { 64, 1, { 64 } },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++) {
    int next = 0;
    for (int r = 0; r < table[i].tp; r++) {
      int col0, n;
      glim_shard_ffn_range (table[i].n, table[i].tp, r, &col0, &n);
      g_assert_cmpint (col0, ==, next);
      g_assert_cmpint (n, ==, table[i].want[r]);
      next += n;
    }
    g_assert_cmpint (next, ==, table[i].n);
  }
  /* every width up to 300 and every tp: contiguous, block-aligned, balanced to one block */
  for (int n = 0; n <= 300; n++)
    for (int tp = 1; tp <= GLIM_SHARD_TP_MAX; tp++) {
      int next = 0, most = 0, least = G_MAXINT;
      for (int r = 0; r < tp; r++) {
        int col0, k;
        glim_shard_ffn_range (n, tp, r, &col0, &k);
        g_assert_cmpint (col0, ==, next);
        g_assert_true (col0 % 16 == 0 || k == 0);
        g_assert_true (k % 16 == 0 || col0 + k == n);   /* only the end may be short */
        int blocks = (k + 15) / 16;
        if (r > 0)
          g_assert_cmpint (blocks, <=, most);          /* never more than an earlier rank */
        most = MAX (most, blocks);
        least = MIN (least, blocks);
        next = col0 + k;
      }
      g_assert_cmpint (next, ==, n);
      g_assert_cmpint (most - least, <=, 1);
    }
}

/* glim_shard_o_range: whole heads per rank; an NVFP4 view widened to the blocks around them. */
static void
test_o_ranges (void)
{
  static const struct {
    int H, Dv, nvfp4, tp, want[4][3];   /* col0, n_cols, lead per rank */
  } table[] = {
    { 4, 24, TRUE, 4, { { 0, 32, 0 }, { 16, 32, 8 }, { 48, 32, 0 }, { 64, 32, 8 } } },
    { 4, 24, FALSE, 4, { { 0, 24, 0 }, { 24, 24, 0 }, { 48, 24, 0 }, { 72, 24, 0 } } },
    { 4, 24, TRUE, 2, { { 0, 48, 0 }, { 48, 48, 0 } } },
    { 4, 12, TRUE, 4, { { 0, 16, 0 }, { 0, 32, 12 }, { 16, 32, 8 }, { 32, 16, 4 } } },
    { 4, 12, TRUE, 2, { { 0, 32, 0 }, { 16, 32, 8 } } },
    { 20, 256, TRUE, 4, { { 0, 1280, 0 }, { 1280, 1280, 0 }, { 2560, 1280, 0 },
                          { 3840, 1280, 0 } } },
    { 6, 8, TRUE, 2, { { 0, 32, 0 }, { 16, 32, 8 } } },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    for (int r = 0; r < table[i].tp; r++) {
      int col0, n, lead;
      glim_shard_o_range (table[i].H, table[i].Dv, table[i].nvfp4, table[i].tp, r, &col0, &n,
                          &lead);
      g_assert_cmpint (col0, ==, table[i].want[r][0]);
      g_assert_cmpint (n, ==, table[i].want[r][1]);
      g_assert_cmpint (lead, ==, table[i].want[r][2]);
    }
}

static void
test_check_errors (void)
{
  g_autofree char *dir = test_data_path ("tiny-base", NULL);
  g_autoptr (GlimModel) m = test_load_model (dir);     /* 4 heads, intermediate_size 96, NVFP4 */
  g_autoptr (GError) error = NULL;
  g_assert_false (glim_shard_check (m, 3, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_TP);
  g_assert_nonnull (strstr (error->message, "num_attention_heads (4)"));
  g_assert_nonnull (strstr (error->message, "size 1, 2 or 4"));
  g_clear_error (&error);
  g_assert_true (glim_shard_check (m, 4, &error));    /* intermediate_size 96: 32, 32, 16, 16 */
  g_assert_no_error (error);
  /* tiny-mtp: an NVFP4 o_proj of 4 heads x 24 values, cut at columns 24, 48 and 72 at tp 4 */
  g_autofree char *mtp_dir = test_data_path ("tiny-mtp", NULL);
  g_autoptr (GlimModel) mtp = test_load_model (mtp_dir);
  g_assert_cmpint (mtp->layers[0].o.format, ==, GLIM_WEIGHT_NVFP4);
  g_assert_true (glim_shard_check (mtp, 4, &error));
  g_assert_no_error (error);
  g_assert_false (glim_shard_check (m, 9, &error));
  g_assert_nonnull (strstr (error->message, "outside 1..8"));
  g_clear_error (&error);
  g_assert_false (glim_shard_check (m, -1, &error));
  g_clear_error (&error);
  g_assert_null (glim_shard_new (m, 3, 0, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_TP);
  g_clear_error (&error);
  g_assert_null (open_tp (m, 3, 1, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_TP);
  g_clear_error (&error);
  /* tp 0 means one rank */
  g_autoptr (GlimContext) ctx = open_tp (m, 0, 1, &error);
  g_assert_no_error (error);
}

/* ---- memory plan for GLM-4.7-Flash ---- */

/* The default ModelOpt recipe: every Linear NVFP4 but lm_head, the routers and MTP. */
static const char glm_quant[] =
  "{\"producer\": {\"name\": \"modelopt\", \"version\": \"0.47.0\"},"
  " \"quantization\": {\"quant_algo\": \"NVFP4\", \"kv_cache_quant_algo\": null,"
  " \"group_size\": 16, \"exclude_modules\": [\"lm_head\", \"model.embed_tokens\","
  " \"model.layers.*.mlp.gate\", \"model.layers.47*\"]}}";

/* GLM-4.7-Flash's shapes, no weights; max_pos > 0 replaces max_position_embeddings. */
static GlimModel *
glm_skeleton_ctx (int max_pos)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autofree char *cfg = g_build_filename (tmp, "config.json", NULL);
  g_autofree char *qc = g_build_filename (tmp, "hf_quant_config.json", NULL);
  g_autofree char *text = g_strdup (test_glm_flash_config);
  if (max_pos > 0) {
    g_auto (GStrv) parts = g_strsplit (text, "202752", -1);
    g_assert_cmpuint (g_strv_length (parts), ==, 2);
    g_autofree char *value = g_strdup_printf ("%d", max_pos);
    g_free (text);
    text = g_strjoinv (value, parts);
  }
  g_assert_true (g_file_set_contents (cfg, text, -1, NULL));
  g_assert_true (g_file_set_contents (qc, glm_quant, -1, NULL));
  g_autoptr (GError) error = NULL;
  GlimConfig *config = glim_config_load (tmp, &error);
  g_assert_no_error (error);
  test_rmtree (tmp);
  return glim_model_new_skeleton (config);
}

static GlimModel *
glm_skeleton (void)
{
  return glm_skeleton_ctx (0);
}

static void
test_plan_glm (void)
{
  g_autoptr (GlimModel) m = glm_skeleton ();
  const GlimLayer *L = &m->layers[1];
  g_assert_cmpint (L->experts[0].down.format, ==, GLIM_WEIGHT_NVFP4);
  g_assert_cmpint (L->o.format, ==, GLIM_WEIGHT_NVFP4);
  g_assert_cmpint (L->router.format, ==, GLIM_WEIGHT_BF16);
  g_assert_cmpint (m->lm_head.format, ==, GLIM_WEIGHT_BF16);
  g_assert_cmpint (m->embed.format, ==, GLIM_WEIGHT_BF16);

  GlimShardPlanOptions o = { .n_ctx = 32768 };
  GlimShardPlan p[5];
  g_autoptr (GError) error = NULL;
  for (int tp = 1; tp <= 4; tp *= 2) {
    g_assert_true (glim_shard_plan (m, tp, &o, &p[tp], &error));
    g_assert_no_error (error);
    g_test_message ("GLM-4.7-Flash tp %d: per rank %.2f GiB = replicated %.2f + sharded %.2f "
                    "+ KV %.2f + workspace %.3f", tp, p[tp].total_bytes / 1073741824.0,
                    p[tp].replicated_bytes / 1073741824.0,
                    p[tp].sharded_bytes[p[tp].largest_rank] / 1073741824.0,
                    p[tp].kv_cache_bytes / 1073741824.0, p[tp].workspace_bytes / 1073741824.0);
  }
  /* model.md: ~17.8 GB of weights with every Linear NVFP4 and embed/lm_head BF16 */
  g_assert_cmpfloat (p[1].weight_bytes, >, 17.0e9);
  g_assert_cmpfloat (p[1].weight_bytes, <, 18.5e9);
  /* replicated: embedding 154880 x 2048 BF16 plus q_a/kv_a, routers, norms (< 1 GB) */
  g_assert_cmpfloat (p[1].replicated_bytes, >, 154880.0 * 2048 * 2);
  g_assert_cmpfloat (p[1].replicated_bytes, <, 1.0e9);
  /* the KV cache is replicated: 47 layers x 576 values x 2 bytes = 54,144 bytes per token */
  for (int tp = 1; tp <= 4; tp *= 2) {
    g_assert_cmpuint (p[tp].kv_cache_bytes, ==, 54144ull * 32768);
    g_assert_cmpuint (p[tp].replicated_bytes, ==, p[1].replicated_bytes);
    double total = 0;
    for (int r = 0; r < tp; r++) {
      double share = (double) p[tp].sharded_bytes[r] * tp / (double) p[1].sharded_bytes[0];
      g_assert_cmpfloat (fabs (share - 1.0), <, 1e-4);     /* about 1/tp each */
      total += (double) p[tp].sharded_bytes[r];
    }
    /* only the 4-byte weight_scale_2 of each split NVFP4 module is held by every rank */
    g_assert_cmpfloat (total, >=, (double) p[1].sharded_bytes[0]);
    g_assert_cmpfloat (total / (double) p[1].sharded_bytes[0] - 1.0, <, 1e-4);
    g_assert_cmpuint (p[tp].weight_bytes, ==,
                      p[tp].replicated_bytes + p[tp].sharded_bytes[p[tp].largest_rank]);
    g_assert_cmpuint (p[tp].total_bytes, ==,
                      p[tp].weight_bytes + p[tp].kv_cache_bytes + p[tp].workspace_bytes);
  }
  g_assert_cmpuint (p[4].workspace_bytes, <, p[1].workspace_bytes);

  /* a backend that splits each decode token's keys (CUDA) adds the splits' partial outputs:
   * chunk (64) x Hl x min(splits, one per 64 keys) x (kv_lora_rank 512 + max + sum) floats */
  const int ctxs[] = { 32768, 1000 };
  for (gsize i = 0; i < G_N_ELEMENTS (ctxs); i++)
    for (int tp = 1; tp <= 4; tp *= 2) {
      GlimShardPlanOptions plain = { .n_ctx = ctxs[i] }, split = plain;
      split.decode_splits = 264;
      GlimShardPlan a, b;
      g_assert_true (glim_shard_plan (m, tp, &plain, &a, &error));
      g_assert_true (glim_shard_plan (m, tp, &split, &b, &error));
      guint64 splits = ctxs[i] == 32768 ? 264 : 16;
      g_assert_cmpuint (b.workspace_bytes - a.workspace_bytes, ==,
                        64ull * (guint64) (20 / tp) * splits * 514 * 4);
    }

  /* tp 5 cuts the 96 blocks of F = 1536 as 20, 19, 19, 19, 19 (everything else evenly): rank 0
   * holds one block more of every expert, and the plan is that of rank 0 */
  GlimShardPlan p5;
  g_assert_true (glim_shard_plan (m, 5, &o, &p5, &error));
  g_assert_no_error (error);
  g_assert_cmpint (p5.largest_rank, ==, 0);
  guint64 block = 3 * (16 * 2048 / 2 + 2048);        /* gate, up and down: 16 NVFP4 columns */
  guint64 extra = 46 * (64 + 1) * block;             /* 46 MoE layers, 64 experts + shared */
  g_assert_cmpuint (p5.sharded_bytes[0], ==, p5.sharded_bytes[1] + extra);
  double total5 = 0;
  for (int r = 0; r < 5; r++) {
    if (r > 1)
      g_assert_cmpuint (p5.sharded_bytes[r], ==, p5.sharded_bytes[1]);
    total5 += (double) p5.sharded_bytes[r];
  }
  g_assert_cmpfloat (total5 / (double) p[1].sharded_bytes[0] - 1.0, <, 1e-4);
  g_assert_cmpuint (p5.weight_bytes, ==, p5.replicated_bytes + p5.sharded_bytes[0]);

  /* 12 GiB per GPU: tp 1 does not fit, tp 2 does */
  o.device_bytes = 12ull << 30;
  GlimShardPlan q;
  g_assert_false (glim_shard_plan (m, 1, &o, &q, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_NO_FIT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "tensor parallel size 1: rank 0 needs"));
  g_assert_nonnull (strstr (error->message, "KV cache"));
  g_assert_nonnull (strstr (error->message, "32768 tokens"));
  g_assert_nonnull (strstr (error->message, "tensor parallel size 2 would fit"));
  g_assert_cmpuint (q.total_bytes, ==, p[1].total_bytes);    /* filled all the same */
  g_clear_error (&error);
  g_assert_true (glim_shard_plan (m, 2, &o, &q, &error));
  g_assert_no_error (error);

  /* 4 GiB: nothing fits, not even the weights at tp 5 (the largest size 20 heads allow) */
  o.device_bytes = 4ull << 30;
  g_assert_false (glim_shard_plan (m, 1, &o, &q, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_NO_FIT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "even at tensor parallel size 5"));
  g_clear_error (&error);

  /* 8 GiB and the full context: the weights fit at tp 5, the context that fits is named */
  o.device_bytes = 8ull << 30;
  o.n_ctx = 202752;
  g_assert_false (glim_shard_plan (m, 2, &o, &q, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_NO_FIT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "at size 5 a context of"));
  g_clear_error (&error);

  /* sizes that do not cut GLM-4.7-Flash */
  g_assert_false (glim_shard_plan (m, 3, &o, &q, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_TP);
  g_assert_nonnull (strstr (error->message, "num_attention_heads (20)"));
  g_assert_nonnull (strstr (error->message, "size 1, 2, 4 or 5"));
  g_clear_error (&error);
  /* a skeleton cannot be run */
  GlimContextOptions co = { .backend = GLIM_BACKEND_CPU, .n_ctx = 16 };
  g_assert_null (glim_context_new (m, &co, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT);
}

/* ---- the longest context that fits (n_ctx 0 on CUDA) ---- */

#define GIB_U (1ull << 30)

/* The CUDA backend's plan options (engine/cuda/cuda-plan.c), which CI cannot link. */
static GlimShardPlanOptions
cuda_like_options (void)
{
  return (GlimShardPlanOptions) { .cache_value_bytes = 2, .chunk_tokens = 16,
                                  .prefill_tokens = 2048, .prefill_key_block = 8192,
                                  .prefill_flash_max_dim = 256,
                                  .prefill_score_bytes = 768ull << 20 };
}

static guint64
plan_total (GlimModel *m, int tp, GlimShardPlanOptions o, int n_ctx)
{
  GlimShardPlan p;
  o.n_ctx = n_ctx;
  g_assert_true (glim_shard_plan (m, tp, &o, &p, NULL));
  return p.total_bytes;
}

/* n fits on devices with `usable` bytes (free less the reserve); n + 256 does not, unless n is
 * the model's maximum. Checked through glim_shard_plan, the fit check the backends run. */
static void
assert_longest (GlimModel *m, int tp, GlimShardPlanOptions o, int n, guint64 usable)
{
  int n_max = m->config->max_position_embeddings;
  GlimShardPlan p;
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (n, >, 0);
  g_assert_cmpint (n, <=, n_max);
  g_assert_true (n == n_max || n % GLIM_SHARD_CONTEXT_STEP == 0);
  o.device_bytes = usable;
  o.n_ctx = n;
  g_assert_true (glim_shard_plan (m, tp, &o, &p, &error));
  g_assert_no_error (error);
  if (n == n_max)
    return;
  o.n_ctx = MIN (n + GLIM_SHARD_CONTEXT_STEP, n_max);
  g_assert_false (glim_shard_plan (m, tp, &o, &p, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_NO_FIT);
}

static void
test_fit_context (void)
{
  g_autoptr (GlimModel) m = glm_skeleton ();
  GlimShardPlanOptions o = cuda_like_options ();
  g_autoptr (GError) error = NULL;
  /* 202752 tokens x 54,144 bytes: 10.98 GB, past 32 bits */
  GlimShardPlan full;
  o.n_ctx = 202752;
  g_assert_true (glim_shard_plan (m, 1, &o, &full, &error));
  g_assert_cmpuint (full.kv_cache_bytes, ==, 54144ull * 202752);
  g_test_message ("tp 1, full context: weights %.2f GiB, KV %.2f GiB, workspace %.2f GiB",
                  full.weight_bytes / 1073741824.0, full.kv_cache_bytes / 1073741824.0,
                  full.workspace_bytes / 1073741824.0);
  /* the prefill workspace grows with the context (the flash attention's K/V block, up to 8192
   * keys) */
  GlimShardPlanOptions decode_only = o;
  decode_only.prefill_tokens = 0;
  g_assert_cmpuint (plan_total (m, 1, o, 65536) - plan_total (m, 1, decode_only, 65536), >,
                    plan_total (m, 1, o, 4096) - plan_total (m, 1, decode_only, 4096));

  const guint64 gib[] = { 10, 12, 17, 20, 24, 32, 141 };
  for (int tp = 1; tp <= 4; tp *= 2) {
    int last = 0, n_short = 0;
    for (gsize i = 0; i < G_N_ELEMENTS (gib); i++) {
      guint64 free_bytes[4] = { gib[i] * GIB_U, gib[i] * GIB_U, gib[i] * GIB_U, gib[i] * GIB_U };
      guint64 usable = gib[i] * GIB_U - GLIM_SHARD_RUNTIME_RESERVE;
      int n = -1;
      if (!glim_shard_fit_context (m, tp, &o, free_bytes, &n, &error)) {
        /* refused only when the fit check refuses 256 tokens too */
        g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_NO_FIT);
        g_test_message ("tp %d, %d GiB: %s", tp, (int) gib[i], error->message);
        g_assert_nonnull (strstr (error->message, "GiB kept for the CUDA runtime): tensor "
                                                  "parallel size"));
        g_assert_nonnull (strstr (error->message, "256 tokens"));
        g_assert_cmpuint (plan_total (m, tp, o, 256), >, usable);
        g_assert_cmpint (last, ==, 0);        /* less memory than a size that fitted: no */
        g_clear_error (&error);
        continue;
      }
      g_test_message ("tp %d, %d GiB per GPU: context %d", tp, (int) gib[i], n);
      assert_longest (m, tp, o, n, usable);
      g_assert_cmpint (n, >=, last);          /* more memory, no shorter context */
      n_short += n < 202752;
      last = n;
    }
    g_assert_cmpint (last, ==, 202752);       /* an H200 holds the whole context */
    g_assert_cmpint (n_short, >, 0);          /* and some sizes were cut short */
  }
  /* 16.5 GiB of weights: tp 1 needs more than 17 GiB; the message says tp 2 would fit */
  guint64 small[1] = { 17 * GIB_U };
  int n17 = 0;
  g_assert_false (glim_shard_fit_context (m, 1, &o, small, &n17, &error));
  g_assert_nonnull (strstr (error->message, "rank 0 (17.00 GiB free, 0.5 GiB kept"));
  g_assert_nonnull (strstr (error->message, "tensor parallel size 2 would fit"));
  g_clear_error (&error);
  /* a 24 GiB card (RTX 3090): tp 1 holds part of the context, tp 2 all of it */
  guint64 card[4] = { 24 * GIB_U, 24 * GIB_U, 24 * GIB_U, 24 * GIB_U };
  int n1 = 0, n2 = 0;
  g_assert_true (glim_shard_fit_context (m, 1, &o, card, &n1, NULL));
  g_assert_true (glim_shard_fit_context (m, 2, &o, card, &n2, NULL));
  g_assert_cmpint (n1, >, 32768);
  g_assert_cmpint (n1, <, 131072);
  g_assert_cmpint (n2, ==, 202752);

  /* the GPU with the least free memory decides, whichever rank it is */
  guint64 uneven[2] = { 80 * GIB_U, 16 * GIB_U };
  int n_uneven = 0, n_16 = 0;
  guint64 even16[2] = { 16 * GIB_U, 16 * GIB_U };
  g_assert_true (glim_shard_fit_context (m, 2, &o, uneven, &n_uneven, NULL));
  g_assert_true (glim_shard_fit_context (m, 2, &o, even16, &n_16, NULL));
  g_assert_cmpint (n_uneven, ==, n_16);
  assert_longest (m, 2, o, n_uneven, 16 * GIB_U - GLIM_SHARD_RUNTIME_RESERVE);
  guint64 starved[2] = { 80 * GIB_U, 4 * GIB_U };
  g_assert_false (glim_shard_fit_context (m, 2, &o, starved, &n_uneven, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_NO_FIT);
  g_assert_nonnull (strstr (error->message, "rank 1 (4.00 GiB free"));
  g_clear_error (&error);
  guint64 nothing[1] = { 0 };
  g_assert_false (glim_shard_fit_context (m, 1, &o, nothing, &n_uneven, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_NO_FIT);
  g_clear_error (&error);
  g_assert_false (glim_shard_fit_context (m, 3, &o, card, &n_uneven, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_TP);
  g_clear_error (&error);

  /* exact boundaries: free memory of exactly the full plan gives the full context, one byte
   * less the next multiple of 256 below it */
  guint64 exact[1] = { full.total_bytes + GLIM_SHARD_RUNTIME_RESERVE };
  int n = 0;
  g_assert_true (glim_shard_fit_context (m, 1, &o, exact, &n, NULL));
  g_assert_cmpint (n, ==, 202752);
  exact[0]--;
  g_assert_true (glim_shard_fit_context (m, 1, &o, exact, &n, NULL));
  g_assert_cmpint (n, ==, 202752 - 256);
}

/* A maximum that is not a multiple of 256, and one below 256. */
static void
test_fit_context_small_max (void)
{
  g_autoptr (GlimModel) m = glm_skeleton_ctx (1000);
  GlimShardPlanOptions o = cuda_like_options ();
  guint64 free_bytes[2] = { 141 * GIB_U, 141 * GIB_U };
  int n = 0;
  g_assert_true (glim_shard_fit_context (m, 2, &o, free_bytes, &n, NULL));
  g_assert_cmpint (n, ==, 1000);
  free_bytes[0] = free_bytes[1] = plan_total (m, 2, o, 768) + GLIM_SHARD_RUNTIME_RESERVE;
  g_assert_true (glim_shard_fit_context (m, 2, &o, free_bytes, &n, NULL));
  g_assert_cmpint (n, ==, 768);
  free_bytes[1]--;
  g_assert_true (glim_shard_fit_context (m, 2, &o, free_bytes, &n, NULL));
  g_assert_cmpint (n, ==, 512);

  g_autoptr (GlimModel) tiny = glm_skeleton_ctx (100);
  g_autoptr (GError) error = NULL;
  free_bytes[0] = free_bytes[1] = 141 * GIB_U;
  g_assert_true (glim_shard_fit_context (tiny, 2, &o, free_bytes, &n, NULL));
  g_assert_cmpint (n, ==, 100);
  free_bytes[0] = free_bytes[1] = plan_total (tiny, 2, o, 100) + GLIM_SHARD_RUNTIME_RESERVE - 1;
  g_assert_false (glim_shard_fit_context (tiny, 2, &o, free_bytes, &n, &error));
  g_assert_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_NO_FIT);
  g_assert_nonnull (strstr (error->message, "100 tokens"));
}

/* ---- glimmer-cli ---- */

static char *
ids_string (const GArray *ids)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < ids->len; i++)
    g_string_append_printf (s, "%s%d", i ? "," : "", g_array_index (ids, int32_t, i));
  return g_string_free (s, FALSE);
}

static void
test_cli (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *tmp = test_make_tmpdir ();
  g_autofree char *tokens = ids_string (c->sequence);
  g_autofree char *prompt = ids_string (c->prompt);
  g_autofree char *n_gen = g_strdup_printf ("%d", c->n_greedy);
  g_autoptr (GlimModel) m = test_load_model (c->dir);
  gsize V = (gsize) m->config->vocab_size;
  g_autofree float *ref = NULL;
  g_autofree char *ref_ids = NULL;
  for (int tp = 1; tp <= 4; tp *= 2) {
    if (!expect_cut (m, tp))
      continue;
    g_autofree char *tps = g_strdup_printf ("%d", tp);
    g_autofree char *path = g_strdup_printf ("%s/logits-%d.f32", tmp, tp);
    g_autofree char *out = NULL, *err = NULL;
    const char *args[] = { "logits", "--model", c->dir, "--tokens", tokens, "--out", path,
                           "--backend", "cpu", "--tp", tps, NULL };
    g_assert_cmpint (test_run_cli (args, &out, &err), ==, 0);
    gsize n;
    g_autofree float *logits = test_read_f32 (path, &n);
    g_assert_cmpuint (n, ==, c->sequence->len * V);
    g_autofree char *gout = NULL, *gerr = NULL;
    const char *gargs[] = { "generate", "--model", c->dir, "--tokens", prompt, "--max-tokens",
                            n_gen, "--temperature", "0", "--ignore-eos", "--backend", "cpu",
                            "--tp", tps, NULL };
    g_assert_cmpint (test_run_cli (gargs, &gout, &gerr), ==, 0);
    g_strstrip (gout);
    if (tp == 1) {
      ref = g_steal_pointer (&logits);
      ref_ids = g_steal_pointer (&gout);
      continue;
    }
    for (gsize t = 0; t < c->sequence->len; t++)
      g_assert_cmpfloat (test_rel_l2 (logits + t * V, ref + t * V, V), <, REL_TOL);
    g_assert_cmpstr (gout, ==, ref_ids);
  }
  /* a size that does not divide the heads: a clear error naming the setting */
  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *path = g_build_filename (tmp, "bad.f32", NULL);
  const char *bad[] = { "logits", "--model", c->dir, "--tokens", tokens, "--out", path,
                        "--backend", "cpu", "--tp", "3", NULL };
  g_assert_cmpint (test_run_cli (bad, &out, &err), !=, 0);
  g_assert_nonnull (strstr (err, "num_attention_heads"));
  test_rmtree (tmp);
}

/* --gpus lists: numbers in order, duplicates and junk refused with the text in the message */
static void
test_devices_parse (void)
{
  int dev[GLIM_SHARD_TP_MAX], n = -1;
  g_autoptr (GError) error = NULL;
  g_assert_true (glim_devices_parse ("0,2", dev, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 2);
  g_assert_cmpint (dev[0], ==, 0);
  g_assert_cmpint (dev[1], ==, 2);
  g_assert_true (glim_devices_parse (" 3 , 1,0,2", dev, &n, &error));
  g_assert_cmpint (n, ==, 4);
  g_assert_cmpint (dev[0], ==, 3);
  g_assert_cmpint (dev[3], ==, 2);
  const char *bad[] = { "", "0,", "a", "0,0", "-1", "1,2,3,4,5,6,7,8,9", "0;1" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_assert_false (glim_devices_parse (bad[i], dev, &n, &error));
    g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, bad[i]));
    g_clear_error (&error);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autoptr (GPtrArray) cases = g_ptr_array_new_with_free_func (case_free);
  add_fixtures (cases);
  g_assert_cmpuint (cases->len, >, 0);
  /* Random NVFP4 models: the tiny preset (4 heads, o_proj 128, dense 256, experts and shared
   * 64 wide: every cut even); one with q_proj instead of q_a/q_b, a tied lm_head, two shared
   * experts and a vocabulary tp 4 does not divide evenly; one whose o_proj head boundaries
   * fall inside scale blocks at tp 2 and 4 (4 heads of 12 values: views widened) and whose
   * FFN widths leave ranks empty (dense 32: 16, 16, 0, 0 at tp 4; experts 48: 32, 16 at
   * tp 2); and one of 6 heads, which tp 2 cuts (o_proj widened again) and tp 4 must refuse. */
  g_autofree char *tmp = test_make_tmpdir ();
  g_ptr_array_add (cases, synth_case (tmp, "synth-nvfp4", 7, NULL));
  const char *const variant[] = { "q_lora_rank=null", "tie_word_embeddings=true",
                                  "n_shared_experts=2", "vocab_size=1000", NULL };
  g_ptr_array_add (cases, synth_case (tmp, "synth-nvfp4-variant", 11, variant));
  const char *const blocks[] = { "v_head_dim=12", "intermediate_size=32",
                                 "moe_intermediate_size=48", NULL };
  g_ptr_array_add (cases, synth_case (tmp, "synth-nvfp4-blocks", 13, blocks));
  const char *const six[] = { "num_attention_heads=6", "num_key_value_heads=6", "v_head_dim=8",
                              "moe_intermediate_size=80", NULL };
  g_ptr_array_add (cases, synth_case (tmp, "synth-nvfp4-6heads", 17, six));
  /* A BF16 model whose widths end in a short block: dense 40 (16, 16 + 8 at tp 2; 16, 16, 8,
   * 0 at tp 4), experts and shared 24 (16, 8), o_proj 4 heads x 20 cut exactly. */
  const char *const odd_keys[] = { "intermediate_size", "moe_intermediate_size", "v_head_dim" };
  const int odd_values[] = { 40, 24, 20 };
  g_ptr_array_add (cases, bf16_case (tmp, "bf16-odd", 19, odd_keys, odd_values, 3));

  for (guint i = 0; i < cases->len; i++) {
    Case *c = g_ptr_array_index (cases, i);
    g_autofree char *p2 = g_strdup_printf ("/glimmer/tp/%s/tp2", c->name);
    g_autofree char *p4 = g_strdup_printf ("/glimmer/tp/%s/tp4", c->name);
    g_test_add_data_func (p2, c, test_tp2);
    g_test_add_data_func (p4, c, test_tp4);
    g_autofree char *pl = g_strdup_printf ("/glimmer/tp/%s/shard-layout", c->name);
    g_test_add_data_func (pl, c, test_shard_layout);
    if (strcmp (c->name, "tiny-base") == 0 || strcmp (c->name, "tiny-mtp") == 0 ||
        strcmp (c->name, "synth-nvfp4") == 0 || strcmp (c->name, "synth-nvfp4-blocks") == 0) {
      g_autofree char *pc = g_strdup_printf ("/glimmer/tp/%s/cli", c->name);
      g_test_add_data_func (pc, c, test_cli);
    }
  }
  g_test_add_func ("/glimmer/tp/slice", test_slice);
  g_test_add_func ("/glimmer/tp/devices-parse", test_devices_parse);
  g_test_add_func ("/glimmer/tp/vocab-ranges", test_vocab_ranges);
  g_test_add_func ("/glimmer/tp/ffn-ranges", test_ffn_ranges);
  g_test_add_func ("/glimmer/tp/o-ranges", test_o_ranges);
  g_test_add_func ("/glimmer/tp/check-errors", test_check_errors);
  g_test_add_func ("/glimmer/tp/plan-glm-4.7-flash", test_plan_glm);
  g_test_add_func ("/glimmer/tp/fit-context", test_fit_context);
  g_test_add_func ("/glimmer/tp/fit-context-small-max", test_fit_context_small_max);
  int status = g_test_run ();
  test_rmtree (tmp);
  return status;
}
