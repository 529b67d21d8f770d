/* test-quantize.c: `glimmer-cli quantize` reproduces ModelOpt's NVFP4 export bit for bit, and
 * refuses bad input with errors that name the file and tensor.
 * SPDX-License-Identifier: MIT
 *
 * References: tests/data/quant-vectors (tools/reference/make_quant_vectors.py: ModelOpt's own
 * NVFP4QTensor on adversarial weights, cross-checked against its full export pipeline) and the
 * transformers/ModelOpt fixtures of tools/reference/make_fixtures.py (tests/data/tiny-*), each
 * holding its BF16 source in bf16/. A fixture that is absent is skipped, with a message. */
#include "glim.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* ---- helpers ---- */

static char *
run_quantize (const char *in, const char *const *extra, int expect_status, char **err_out)
{
  g_autofree char *tmp = test_make_tmpdir ();
  char *out = g_build_filename (tmp, "nvfp4", NULL);
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_ptr_array_add (args, "quantize");
  g_ptr_array_add (args, "--in");
  g_ptr_array_add (args, (gpointer) in);
  g_ptr_array_add (args, "--out");
  g_ptr_array_add (args, out);
  for (const char *const *e = extra; e != NULL && *e != NULL; e++)
    g_ptr_array_add (args, (gpointer) *e);
  g_ptr_array_add (args, NULL);
  g_autofree char *stdout_text = NULL, *stderr_text = NULL;
  int status = test_run_cli ((const char *const *) args->pdata, &stdout_text, &stderr_text);
  if (status != expect_status)
    g_printerr ("quantize exited %d: %s%s", status, stdout_text, stderr_text);
  g_assert_cmpint (status, ==, expect_status);
  if (err_out != NULL)
    *err_out = g_steal_pointer (&stderr_text);
  return out;
}

static gboolean
is_input_scale (const char *name)
{
  return g_str_has_suffix (name, ".input_scale");
}

/* Every tensor of `expected` (input_scale aside) is in `got` with the same dtype, shape and
 * bytes, and `got` has nothing else. Returns the number of NVFP4 modules compared. */
static guint
assert_same_tensors (const char *expected_dir, const char *got_dir)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimTensorStore) want = glim_tensor_store_open (expected_dir, &error);
  g_assert_no_error (error);
  g_autoptr (GlimTensorStore) got = glim_tensor_store_open (got_dir, &error);
  g_assert_no_error (error);
  GPtrArray *names = glim_tensor_store_names (want);
  guint n_expected = 0, n_nvfp4 = 0;
  for (guint i = 0; i < names->len; i++) {
    const char *name = g_ptr_array_index (names, i);
    if (is_input_scale (name))
      continue;
    n_expected++;
    n_nvfp4 += g_str_has_suffix (name, ".weight_scale_2");
    const GlimTensor *a = glim_tensor_store_lookup (want, name);
    const GlimTensor *b = glim_tensor_store_lookup (got, name);
    if (b == NULL)
      g_error ("%s: tensor \"%s\" is missing from the quantize output", expected_dir, name);
    g_assert_cmpstr (glim_dtype_name (b->dtype), ==, glim_dtype_name (a->dtype));
    g_assert_cmpint (b->n_dims, ==, a->n_dims);
    for (int d = 0; d < a->n_dims; d++)
      g_assert_cmpint (b->shape[d], ==, a->shape[d]);
    if (memcmp (a->data, b->data, a->n_bytes) != 0) {
      gsize k = 0;
      while (((const uint8_t *) a->data)[k] == ((const uint8_t *) b->data)[k])
        k++;
      g_error ("%s: tensor \"%s\" differs first at byte %" G_GSIZE_FORMAT
               ": 0x%02x, expected 0x%02x", got_dir, name, k, ((const uint8_t *) b->data)[k],
               ((const uint8_t *) a->data)[k]);
    }
  }
  g_assert_cmpuint (glim_tensor_store_names (got)->len, ==, n_expected);
  return n_nvfp4;
}

static JsonNode *
load_json (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_file (p, path, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (p));
}

static char *
member_text (JsonNode *root, const char *first, const char *second)
{
  JsonNode *n = json_object_get_member (json_node_get_object (root), first);
  g_assert_nonnull (n);
  if (second != NULL) {
    n = json_object_get_member (json_node_get_object (n), second);
    g_assert_nonnull (n);
  }
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, n);
  return json_generator_to_data (gen, NULL);
}

/* The exclude list, and quantization_config apart from its producer, match the reference. */
static void
assert_same_quant_config (const char *expected_dir, const char *got_dir)
{
  g_autoptr (JsonNode) got_hq = load_json (got_dir, "hf_quant_config.json");
  g_autoptr (JsonNode) got_cfg = load_json (got_dir, "config.json");
  g_autoptr (JsonNode) want_cfg = load_json (expected_dir, "config.json");
  g_autofree char *got_ex = member_text (got_hq, "quantization", "exclude_modules");
  g_autofree char *hq_path = g_build_filename (expected_dir, "hf_quant_config.json", NULL);
  if (g_file_test (hq_path, G_FILE_TEST_EXISTS)) {
    g_autoptr (JsonNode) want_hq = load_json (expected_dir, "hf_quant_config.json");
    g_autofree char *want_ex = member_text (want_hq, "quantization", "exclude_modules");
    g_assert_cmpstr (got_ex, ==, want_ex);
  }
  if (json_object_has_member (json_node_get_object (want_cfg), "quantization_config")) {
    JsonObject *w = json_object_get_object_member (json_node_get_object (want_cfg),
                                                   "quantization_config");
    JsonObject *g = json_object_get_object_member (json_node_get_object (got_cfg),
                                                   "quantization_config");
    json_object_remove_member (w, "producer");
    json_object_remove_member (g, "producer");
    g_autofree char *a = member_text (want_cfg, "quantization_config", NULL);
    g_autofree char *b = member_text (got_cfg, "quantization_config", NULL);
    g_assert_cmpstr (b, ==, a);
  }
  g_autofree char *producer = member_text (got_hq, "producer", "name");
  g_assert_cmpstr (producer, ==, "\"glimmer\"");
}

/* ---- NVFP4 arithmetic ---- */

static void
test_cases (void)
{
  g_autofree char *path = test_data_path ("quant-vectors", "cases.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimSafetensors) st = glim_safetensors_open (path, &error);
  g_assert_no_error (error);
  guint n = 0;
  for (;; n++) {
    g_autofree char *wn = g_strdup_printf ("case.%u.w", n);
    g_autofree char *s2n = g_strdup_printf ("case.%u.scale_2", n);
    g_autofree char *qn = g_strdup_printf ("case.%u.weight", n);
    g_autofree char *sn = g_strdup_printf ("case.%u.weight_scale", n);
    const GlimTensor *w = glim_safetensors_lookup (st, wn);
    if (w == NULL)
      break;
    const GlimTensor *s2 = glim_safetensors_lookup (st, s2n);
    const GlimTensor *q = glim_safetensors_lookup (st, qn);
    const GlimTensor *s = glim_safetensors_lookup (st, sn);
    gsize rows = w->shape[0], cols = w->shape[1];
    const float *x = w->data;
    float amax = 0;
    for (gsize i = 0; i < rows * cols; i++)
      amax = fmaxf (amax, fabsf (x[i]));
    float scale_2 = glim_nvfp4_scale_2 (amax);
    g_assert_cmpmem (&scale_2, 4, s2->data, 4);
    g_autofree uint8_t *packed = g_malloc (rows * cols / 2);
    g_autofree uint8_t *scales = g_malloc (rows * cols / 16);
    glim_nvfp4_quantize (x, rows, cols, scale_2, packed, scales);
    g_assert_cmpmem (scales, rows * cols / 16, s->data, s->n_bytes);
    g_assert_cmpmem (packed, rows * cols / 2, q->data, q->n_bytes);
  }
  g_assert_cmpuint (n, >=, 5);
}

static void
test_all_zero (void)
{
  /* ModelOpt would write NaN scales here; Glimmer writes scale 1.0 and zero codes. */
  float w[32] = { 0 };
  uint8_t packed[16], scales[2];
  float scale_2 = glim_nvfp4_scale_2 (0.0f);
  glim_nvfp4_quantize (w, 1, 32, scale_2, packed, scales);
  g_assert_cmpfloat (scale_2, ==, 0.0f);
  g_assert_cmpuint (scales[0], ==, 0x38);
  for (int i = 0; i < 16; i++)
    g_assert_cmpuint (packed[i], ==, 0);
}

/* ---- whole checkpoints ---- */

static void
test_vectors (void)
{
  g_autofree char *ref = test_data_path ("quant-vectors", NULL);
  g_autofree char *in = test_data_path ("quant-vectors", "bf16", NULL);
  g_autofree char *out = run_quantize (in, NULL, 0, NULL);
  g_assert_cmpuint (assert_same_tensors (ref, out), ==, 28);
  assert_same_quant_config (ref, out);
  /* Side files travel along; the output loads as an NVFP4 model. */
  g_autofree char *tpl = g_build_filename (out, "chat_template.jinja", NULL);
  g_autofree char *gen = g_build_filename (out, "generation_config.json", NULL);
  g_assert_true (g_file_test (tpl, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (gen, G_FILE_TEST_IS_REGULAR));
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimModel) model = glim_model_load (out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (model->layers[1].experts[2].up.format, ==, GLIM_WEIGHT_NVFP4);
  g_assert_cmpint (model->layers[1].router.format, ==, GLIM_WEIGHT_BF16);
  g_assert_true (model->config->quant.nvfp4);
  /* q_a and kv_a share one weight_scale_2, as do each expert's gate and up. */
  g_assert_cmpfloat (model->layers[0].q_a.scale2, ==, model->layers[0].kv_a.scale2);
  g_assert_cmpfloat (model->layers[1].experts[3].gate.scale2, ==,
                     model->layers[1].experts[3].up.scale2);
  g_autofree char *parent = g_path_get_dirname (out);
  test_rmtree (parent);
}

static void
test_sharded (void)
{
  g_autofree char *ref = test_data_path ("quant-vectors", NULL);
  g_autofree char *in = test_data_path ("quant-vectors", "bf16", NULL);
  const char *extra[] = { "--shard-size", "40KB", "--threads", "2", NULL };
  g_autofree char *out = run_quantize (in, extra, 0, NULL);
  g_autofree char *index = g_build_filename (out, "model.safetensors.index.json", NULL);
  g_assert_true (g_file_test (index, G_FILE_TEST_IS_REGULAR));
  guint n_shards = 0;
  GDir *d = g_dir_open (out, 0, NULL);
  for (const char *name; (name = g_dir_read_name (d)) != NULL;)
    n_shards += g_str_has_prefix (name, "model-0000") && g_str_has_suffix (name, ".safetensors");
  g_dir_close (d);
  g_assert_cmpuint (n_shards, >=, 3);
  assert_same_tensors (ref, out);
  g_autofree char *parent = g_path_get_dirname (out);
  test_rmtree (parent);
}

typedef struct {
  const char *name;
  const char *keep_wide;   /* the modules the fixture keeps BF16, NULL if none */
} Fixture;

static void
test_fixture (gconstpointer data)
{
  const Fixture *fx = data;
  g_autofree char *ref = test_data_path (fx->name, NULL);
  g_autofree char *in = test_data_path (fx->name, "bf16", NULL);
  if (!g_file_test (in, G_FILE_TEST_IS_DIR)) {
    g_autofree char *msg = g_strdup_printf ("fixture %s is not in tests/data (make it with "
                                            "tools/reference/make_fixtures.py)", fx->name);
    g_test_skip (msg);
    return;
  }
  const char *extra[] = { "--keep-wide", fx->keep_wide, NULL };
  g_autofree char *out = run_quantize (in, fx->keep_wide ? extra : NULL, 0, NULL);
  guint n = assert_same_tensors (ref, out);
  g_assert_cmpuint (n, >, 0);
  assert_same_quant_config (ref, out);
  g_test_message ("%s: %u NVFP4 modules identical", fx->name, n);
  g_autofree char *parent = g_path_get_dirname (out);
  test_rmtree (parent);
}

/* ---- bad input ---- */

static void
test_missing_input (void)
{
  g_autofree char *err = NULL;
  g_autofree char *out = run_quantize ("/nonexistent/bf16-model", NULL, 1, &err);
  g_assert_nonnull (strstr (err, "/nonexistent/bf16-model"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_autofree char *parent = g_path_get_dirname (out);
  test_rmtree (parent);
}

/* Copy quant-vectors/bf16 into a temporary folder with config.json key `key` set to `value`. */
static char *
edited_copy (const char *key, int value)
{
  g_autofree char *src = test_data_path ("quant-vectors", "bf16", NULL);
  char *dir = test_make_tmpdir ();
  const char *files[] = { "model.safetensors", "config.json" };
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *from = g_build_filename (src, files[i], NULL);
    g_autofree char *to = g_build_filename (dir, files[i], NULL);
    g_autofree char *text = NULL;
    gsize len;
    g_autoptr (GError) error = NULL;
    g_file_get_contents (from, &text, &len, &error);
    g_assert_no_error (error);
    g_file_set_contents (to, text, len, &error);
    g_assert_no_error (error);
  }
  g_autoptr (JsonNode) cfg = load_json (dir, "config.json");
  json_object_set_int_member (json_node_get_object (cfg), key, value);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, cfg);
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  json_generator_to_file (gen, path, NULL);
  return dir;
}

static void
expect_quantize_error (const char *in, int code, const char *const *needles)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autofree char *out = g_build_filename (tmp, "nvfp4", NULL);
  GlimQuantizeOptions opts = { .in_dir = in, .out_dir = out };
  g_autoptr (GError) error = NULL;
  g_assert_false (glim_quantize (&opts, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, code);
  for (const char *const *n = needles; *n != NULL; n++)
    if (strstr (error->message, *n) == NULL)
      g_error ("error \"%s\" does not mention \"%s\"", error->message, *n);
  /* Nothing is left behind: no output, no staging folder. */
  GDir *d = g_dir_open (tmp, 0, NULL);
  g_assert_null (g_dir_read_name (d));
  g_dir_close (d);
  test_rmtree (tmp);
}

static void
test_wrong_shape (void)
{
  g_autofree char *dir = edited_copy ("q_lora_rank", 48);
  const char *needles[] = { "model.safetensors", "\"model.layers.0.self_attn.q_a_proj.weight\"",
                            "[32, 64]", "[48, 64]", NULL };
  expect_quantize_error (dir, GLIM_MODEL_ERROR_TENSOR_SHAPE, needles);
  test_rmtree (dir);
}

/* A consistent BF16 checkpoint whose kv_b_proj has 40 inputs: valid, but not NVFP4-able. */
static char *
write_bf16_model (const char *key, int value)
{
  g_autofree char *base = edited_copy (key, value);
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimConfig) config = glim_config_load (base, &error);
  g_assert_no_error (error);
  g_autofree char *st_path = g_build_filename (base, "model.safetensors", NULL);
  g_unlink (st_path);
  g_autoptr (GPtrArray) layout = glim_export_layout (config, FALSE);
  g_autoptr (GlimSafetensorsWriter) w = glim_safetensors_writer_new (base, 0);
  for (guint i = 0; i < layout->len; i++) {
    const GlimExportEntry *e = g_ptr_array_index (layout, i);
    int64_t shape[2] = { e->rows, e->cols };
    glim_safetensors_writer_add (w, e->tensor, e->dtype, e->cols ? 2 : 1, shape, &error);
    g_assert_no_error (error);
  }
  glim_safetensors_writer_begin (w, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < layout->len; i++) {
    const GlimExportEntry *e = g_ptr_array_index (layout, i);
    gsize n = (gsize) glim_safetensors_writer_tensor_bytes (w, e->tensor);
    g_autofree uint8_t *buf = g_malloc (n);
    for (gsize j = 0; j < n; j += 2) {     /* small BF16 values (exponent 0x3c) */
      buf[j] = (uint8_t) (j * 37);
      buf[j + 1] = (uint8_t) (0x3c | (j & 0x80));
    }
    glim_safetensors_writer_write (w, e->tensor, 0, buf, n, &error);
    g_assert_no_error (error);
  }
  glim_safetensors_writer_finish (w, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&base);
}

static void
test_not_multiple_of_16 (void)
{
  g_autofree char *dir = write_bf16_model ("kv_lora_rank", 40);
  const char *needles[] = { "model.safetensors", "\"model.layers.0.self_attn.kv_b_proj.weight\"",
                            "40 input features", "16", NULL };
  expect_quantize_error (dir, GLIM_MODEL_ERROR_TENSOR_SHAPE, needles);
  /* Kept wide, the module needs no blocks and the rest quantizes. */
  g_autofree char *tmp = test_make_tmpdir ();
  g_autofree char *out = g_build_filename (tmp, "nvfp4", NULL);
  const char *keep[] = { "*kv_b_proj", NULL };
  GlimQuantizeOptions opts = { .in_dir = dir, .out_dir = out, .keep_wide = keep };
  g_autoptr (GError) error = NULL;
  g_assert_true (glim_quantize (&opts, &error));
  g_assert_no_error (error);
  g_autoptr (JsonNode) hq = load_json (out, "hf_quant_config.json");
  g_autofree char *ex = member_text (hq, "quantization", "exclude_modules");
  g_assert_nonnull (strstr (ex, "\"model.layers.0.self_attn.kv_b_proj\""));
  test_rmtree (tmp);
  test_rmtree (dir);
}

static void
test_already_quantized (void)
{
  g_autofree char *in = test_data_path ("quant-vectors", NULL);
  const char *needles[] = { "already quantized", NULL };
  expect_quantize_error (in, GLIM_MODEL_ERROR_UNSUPPORTED, needles);
}

static void
test_output_exists (void)
{
  g_autofree char *in = test_data_path ("quant-vectors", "bf16", NULL);
  g_autofree char *tmp = test_make_tmpdir ();
  g_autofree char *keep = g_build_filename (tmp, "precious.txt", NULL);
  g_autoptr (GError) error = NULL;
  g_file_set_contents (keep, "x", 1, &error);
  GlimQuantizeOptions opts = { .in_dir = in, .out_dir = tmp };
  g_assert_false (glim_quantize (&opts, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, tmp));
  g_assert_true (g_file_test (keep, G_FILE_TEST_IS_REGULAR));
  test_rmtree (tmp);
}

int
main (int argc, char **argv)
{
  static const Fixture fixtures[] = {
    { "tiny-base", NULL },
    { "tiny-groups", NULL },
    { "tiny-nonorm", "*kv_b_proj" },
    { "tiny-mtp", NULL },
  };
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/quantize/nvfp4-matches-modelopt-cases", test_cases);
  g_test_add_func ("/glimmer/quantize/all-zero-group", test_all_zero);
  g_test_add_func ("/glimmer/quantize/vectors-bit-exact", test_vectors);
  g_test_add_func ("/glimmer/quantize/vectors-sharded", test_sharded);
  for (gsize i = 0; i < G_N_ELEMENTS (fixtures); i++) {
    g_autofree char *path = g_strdup_printf ("/glimmer/quantize/fixture/%s", fixtures[i].name);
    g_test_add_data_func (path, &fixtures[i], test_fixture);
  }
  g_test_add_func ("/glimmer/quantize/missing-input-folder", test_missing_input);
  g_test_add_func ("/glimmer/quantize/shape-disagrees-with-config", test_wrong_shape);
  g_test_add_func ("/glimmer/quantize/input-dim-not-multiple-of-16", test_not_multiple_of_16);
  g_test_add_func ("/glimmer/quantize/already-quantized", test_already_quantized);
  g_test_add_func ("/glimmer/quantize/output-not-empty", test_output_exists);
  return g_test_run ();
}
