/* test-synth.c: `glimmer-cli synth` writes deterministic, loadable, runnable NVFP4 models in
 * ModelOpt's exact layout, and rejects bad overrides.
 * SPDX-License-Identifier: MIT */
#include "glim.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

/* ---- helpers ---- */

static char *
synth (const char *tmp, const char *name, guint64 seed, const char *const *overrides,
       gboolean mtp, gint64 shard, int threads)
{
  char *out = g_build_filename (tmp, name, NULL);
  GlimSynthOptions opts = {
    .preset = "tiny", .seed = seed, .out_dir = out, .overrides = overrides, .mtp = mtp,
    .shard_max_bytes = shard, .n_threads = threads,
  };
  g_autoptr (GError) error = NULL;
  g_assert_true (glim_synth (&opts, &error));
  g_assert_no_error (error);
  return out;
}

static GBytes *
read_file (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;
  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The names of the files in a folder, sorted, joined with spaces. */
static char *
list_dir (const char *dir)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GDir *d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  for (const char *n; (n = g_dir_read_name (d)) != NULL;)
    g_ptr_array_add (names, g_strdup (n));
  g_dir_close (d);
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static void
assert_same_folders (const char *a, const char *b)
{
  g_autofree char *la = list_dir (a);
  g_autofree char *lb = list_dir (b);
  g_assert_cmpstr (la, ==, lb);
  g_auto (GStrv) names = g_strsplit (la, " ", -1);
  for (char **n = names; *n != NULL; n++) {
    g_autoptr (GBytes) x = read_file (a, *n);
    g_autoptr (GBytes) y = read_file (b, *n);
    if (!g_bytes_equal (x, y))
      g_error ("%s differs between %s and %s", *n, a, b);
  }
}

/* Evaluate a few tokens on the CPU backend; every logit must be finite and they must vary. */
static void
assert_runs (const char *dir, gboolean mtp)
{
  g_autoptr (GError) error = NULL;
  GlimModelLoadOptions lo = { .load_mtp = mtp };
  g_autoptr (GlimModel) model = glim_model_load (dir, &lo, &error);
  g_assert_no_error (error);
  GlimContextOptions co = { .backend = GLIM_BACKEND_CPU, .n_ctx = 32, .n_threads = 2 };
  g_autoptr (GlimContext) ctx = glim_context_new (model, &co, &error);
  g_assert_no_error (error);
  int V = model->config->vocab_size;
  int32_t prompt[4] = { 1, 17, V - 1, 5 };
  g_autofree float *logits = g_new (float, 4 * V);
  g_assert_true (glim_context_eval (ctx, prompt, 4, logits, TRUE, &error));
  g_assert_no_error (error);
  int32_t next = 42;
  g_assert_true (glim_context_eval (ctx, &next, 1, logits, FALSE, &error));  /* one decode step */
  g_assert_no_error (error);
  double sum = 0, sq = 0;
  for (int i = 0; i < V; i++) {
    g_assert_true (isfinite (logits[i]));
    sum += logits[i];
    sq += (double) logits[i] * logits[i];
  }
  double std = sqrt (sq / V - (sum / V) * (sum / V));
  g_test_message ("%s: logits std %.3f", dir, std);
  g_assert_cmpfloat (std, >, 0.1);
  g_assert_cmpfloat (std, <, 100.0);
}

static char *
json_member (const char *dir, const char *file, const char *path)
{
  g_autofree char *p = g_build_filename (dir, file, NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_file (parser, p, &error);
  g_assert_no_error (error);
  JsonNode *n = json_parser_get_root (parser);
  g_auto (GStrv) keys = g_strsplit (path, ".", -1);
  for (char **k = keys; *k != NULL; k++)
    n = json_object_get_member (json_node_get_object (n), *k);
  g_assert_nonnull (n);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, n);
  return json_generator_to_data (gen, NULL);
}

/* ---- tests ---- */

static void
test_deterministic (void)
{
  g_autofree char *tmp = test_make_tmpdir ();
  /* Same seed: identical bytes, whatever the thread count or sharding run. */
  g_autofree char *a = synth (tmp, "a", 5, NULL, TRUE, 200000, 1);
  g_autofree char *b = synth (tmp, "b", 5, NULL, TRUE, 200000, 2);
  assert_same_folders (a, b);
  g_autofree char *c = synth (tmp, "c", 5, NULL, FALSE, -1, 2);
  g_autofree char *d = synth (tmp, "d", 5, NULL, FALSE, -1, 0);
  assert_same_folders (c, d);
  /* Another seed: same config, different weights. */
  g_autofree char *e = synth (tmp, "e", 6, NULL, FALSE, -1, 2);
  g_autoptr (GBytes) cfg_c = read_file (c, "config.json");
  g_autoptr (GBytes) cfg_e = read_file (e, "config.json");
  g_assert_true (g_bytes_equal (cfg_c, cfg_e));
  g_autoptr (GBytes) st_c = read_file (c, "model.safetensors");
  g_autoptr (GBytes) st_e = read_file (e, "model.safetensors");
  g_assert_cmpuint (g_bytes_get_size (st_c), ==, g_bytes_get_size (st_e));
  g_assert_false (g_bytes_equal (st_c, st_e));
  /* A tensor does not change when other tensors are added (--mtp): shared names, same bytes. */
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimTensorStore) with_mtp = glim_tensor_store_open (a, &error);
  g_assert_no_error (error);
  g_autoptr (GlimTensorStore) without = glim_tensor_store_open (c, &error);
  g_assert_no_error (error);
  GPtrArray *names = glim_tensor_store_names (without);
  for (guint i = 0; i < names->len; i++) {
    const GlimTensor *x = glim_tensor_store_lookup (without, g_ptr_array_index (names, i));
    const GlimTensor *y = glim_tensor_store_lookup (with_mtp, g_ptr_array_index (names, i));
    g_assert_nonnull (y);
    g_assert_cmpmem (x->data, x->n_bytes, y->data, y->n_bytes);
  }
  g_assert_cmpuint (glim_tensor_store_names (with_mtp)->len, >, names->len);
  test_rmtree (tmp);
}

static void
test_tiny_runs (void)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autofree char *dir = synth (tmp, "tiny", 1, NULL, FALSE, -1, 0);
  g_autofree char *files = list_dir (dir);
  g_assert_cmpstr (files, ==, "config.json hf_quant_config.json model.safetensors");
  assert_runs (dir, FALSE);

  g_autoptr (GError) error = NULL;
  g_autoptr (GlimModel) model = glim_model_load (dir, NULL, &error);
  g_assert_no_error (error);
  const GlimConfig *c = model->config;
  /* The tiny vocabulary cannot hold the real eos/pad ids: they keep their distance from the end. */
  g_assert_cmpint (c->n_eos, ==, 3);
  g_assert_cmpint (c->eos_ids[0], ==, c->vocab_size - 60);
  g_assert_cmpint (c->eos_ids[2], ==, c->vocab_size - 51);
  g_assert_cmpint (c->pad_id, ==, c->vocab_size - 60);
  /* Dequantised NVFP4 weights have std 1/sqrt(in) (q_b_proj: 64 inputs). */
  const GlimWeight *w = &model->layers[0].q_b;
  g_assert_cmpint (w->format, ==, GLIM_WEIGHT_NVFP4);
  g_autofree float *row = g_new (float, w->cols);
  double sq = 0;
  for (int r = 0; r < w->rows; r++) {
    glim_weight_row_to_f32 (w, r, row);
    for (int i = 0; i < w->cols; i++)
      sq += (double) row[i] * row[i];
  }
  double std = sqrt (sq / ((double) w->rows * w->cols));
  g_assert_cmpfloat (fabs (std * sqrt (w->cols) - 1.0), <, 0.1);
  test_rmtree (tmp);
}

static void
test_overrides_cli (void)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autofree char *out = g_build_filename (tmp, "four-layers", NULL);
  const char *args[] = { "synth", "--preset", "tiny", "--seed", "3", "--out", out,
                         "--set", "num_hidden_layers=4", "--set", "n_routed_experts=16",
                         "--set", "num_experts_per_tok=3", "--set", "rope_theta=10000",
                         "--mtp", "--shard-size", "600KB", NULL };
  g_autofree char *so = NULL, *se = NULL;
  int status = test_run_cli (args, &so, &se);
  if (status != 0)
    g_printerr ("%s%s", so, se);
  g_assert_cmpint (status, ==, 0);

  g_autoptr (GError) error = NULL;
  g_autoptr (GlimConfig) c = glim_config_load (out, &error);
  g_assert_no_error (error);
  g_assert_cmpint (c->n_layers, ==, 4);
  g_assert_cmpint (c->n_routed_experts, ==, 16);
  g_assert_cmpint (c->n_experts_per_tok, ==, 3);
  g_assert_cmpfloat (c->rope_theta, ==, 10000.0);
  g_assert_true (c->quant.nvfp4);
  g_autofree char *index = g_build_filename (out, "model.safetensors.index.json", NULL);
  g_assert_true (g_file_test (index, G_FILE_TEST_IS_REGULAR));
  g_autofree char *ex = json_member (out, "hf_quant_config.json", "quantization.exclude_modules");
  g_assert_cmpstr (ex, ==, "[\"lm_head\",\"model.embed_tokens\",\"model.layers.1.mlp.gate\","
                           "\"model.layers.2.mlp.gate\",\"model.layers.3.mlp.gate\","
                           "\"model.layers.4*\"]");
  g_autofree char *ignore = json_member (out, "config.json", "quantization_config.ignore");
  g_assert_cmpstr (ignore, ==, ex);
  assert_runs (out, TRUE);

  /* `info` describes it, MTP layer included. */
  const char *info[] = { "info", "--model", out, "--mtp", NULL };
  g_autofree char *io = NULL, *ie = NULL;
  g_assert_cmpint (test_run_cli (info, &io, &ie), ==, 0);
  g_assert_nonnull (strstr (io, "16 routed experts (top 3"));
  g_assert_nonnull (strstr (io, "mtp:          loaded (layer 4)"));
  test_rmtree (tmp);
}

/* With the reference vectors' shapes, synth writes exactly the tensors (names, dtypes, shapes)
 * and exclude list of ModelOpt's export, input_scale aside. */
static void
test_modelopt_layout (void)
{
  const char *set[] = {
    "hidden_size=64", "intermediate_size=64", "moe_intermediate_size=32",
    "num_attention_heads=2", "num_key_value_heads=2", "n_routed_experts=4",
    "num_experts_per_tok=2", "num_hidden_layers=2", "q_lora_rank=32", "kv_lora_rank=32",
    "qk_nope_head_dim=16", "qk_rope_head_dim=16", "v_head_dim=16", "vocab_size=256", NULL,
  };
  g_autofree char *tmp = test_make_tmpdir ();
  g_autofree char *dir = synth (tmp, "like-vectors", 9, set, FALSE, -1, 0);
  g_autofree char *ref = test_data_path ("quant-vectors", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimTensorStore) want = glim_tensor_store_open (ref, &error);
  g_assert_no_error (error);
  g_autoptr (GlimTensorStore) got = glim_tensor_store_open (dir, &error);
  g_assert_no_error (error);
  GPtrArray *names = glim_tensor_store_names (want);
  guint n = 0;
  for (guint i = 0; i < names->len; i++) {
    const char *name = g_ptr_array_index (names, i);
    if (g_str_has_suffix (name, ".input_scale"))
      continue;
    n++;
    const GlimTensor *a = glim_tensor_store_lookup (want, name);
    const GlimTensor *b = glim_tensor_store_lookup (got, name);
    if (b == NULL)
      g_error ("synth lacks tensor \"%s\"", name);
    g_assert_cmpstr (glim_dtype_name (b->dtype), ==, glim_dtype_name (a->dtype));
    g_assert_cmpint (b->n_dims, ==, a->n_dims);
    for (int d = 0; d < a->n_dims; d++)
      g_assert_cmpint (b->shape[d], ==, a->shape[d]);
  }
  g_assert_cmpuint (glim_tensor_store_names (got)->len, ==, n);
  g_autofree char *ex_want = json_member (ref, "hf_quant_config.json",
                                          "quantization.exclude_modules");
  g_autofree char *ex_got = json_member (dir, "hf_quant_config.json",
                                         "quantization.exclude_modules");
  g_assert_cmpstr (ex_got, ==, ex_want);
  test_rmtree (tmp);
}

static void
expect_synth_error (const char *preset, const char *override, int code, const char *needle)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autofree char *out = g_build_filename (tmp, "bad", NULL);
  const char *set[] = { override, NULL };
  GlimSynthOptions opts = { .preset = preset, .seed = 1, .out_dir = out, .overrides = set };
  g_autoptr (GError) error = NULL;
  g_assert_false (glim_synth (&opts, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, code);
  if (strstr (error->message, needle) == NULL)
    g_error ("error \"%s\" does not mention \"%s\"", error->message, needle);
  GDir *d = g_dir_open (tmp, 0, NULL);            /* nothing left behind */
  g_assert_null (g_dir_read_name (d));
  g_dir_close (d);
  test_rmtree (tmp);
}

static void
test_bad_overrides (void)
{
  expect_synth_error ("tiny", "num_hidden_layer=4", GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                      "\"num_hidden_layer\"");
  expect_synth_error ("tiny", "hidden_size", GLIM_MODEL_ERROR_INVALID_ARGUMENT, "KEY=VALUE");
  expect_synth_error ("tiny", "num_experts_per_tok=100", GLIM_MODEL_ERROR_CONFIG,
                      "\"num_experts_per_tok\"");
  expect_synth_error ("tiny", "hidden_act=gelu", GLIM_MODEL_ERROR_UNSUPPORTED, "hidden_act");
  expect_synth_error ("tiny", "hidden_size=40", GLIM_MODEL_ERROR_CONFIG, "multiple of the NVFP4");
  expect_synth_error ("huge", "hidden_size=64", GLIM_MODEL_ERROR_INVALID_ARGUMENT, "\"huge\"");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/synth/deterministic", test_deterministic);
  g_test_add_func ("/glimmer/synth/tiny-loads-and-runs", test_tiny_runs);
  g_test_add_func ("/glimmer/synth/overrides-mtp-shards", test_overrides_cli);
  g_test_add_func ("/glimmer/synth/modelopt-layout", test_modelopt_layout);
  g_test_add_func ("/glimmer/synth/bad-overrides", test_bad_overrides);
  return g_test_run ();
}
