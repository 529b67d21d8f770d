/* test-config.c: config.json and quantization config parsing: every value read from the file,
 * every bad or unsupported value reported with the file and key.
 * SPDX-License-Identifier: MIT */
#include <json-glib/json-glib.h>
#include <string.h>

#include "glim.h"
#include "testutil.h"


typedef void (*EditFunc) (JsonObject *o);

/* Write config.json = test_glm_flash_config edited by `edit` into a new temp folder. */
static char *
write_config (EditFunc edit)
{
  char *dir = test_make_tmpdir ();
  g_autoptr (JsonParser) p = json_parser_new ();
  g_assert_true (json_parser_load_from_data (p, test_glm_flash_config, -1, NULL));
  JsonNode *root = json_parser_get_root (p);
  if (edit != NULL)
    edit (json_node_get_object (root));
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  g_assert_true (json_generator_to_file (gen, path, NULL));
  return dir;
}

static GlimConfig *
load_edited (EditFunc edit, GError **error, char **dir_out)
{
  char *dir = write_config (edit);
  GlimConfig *c = glim_config_load (dir, error);
  if (dir_out)
    *dir_out = dir;
  else {
    test_rmtree (dir);
    g_free (dir);
  }
  return c;
}

static void
expect_error (EditFunc edit, int code, const char *needle1, const char *needle2)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (GlimConfig) c = load_edited (edit, &error, &dir);
  g_assert_null (c);
  g_assert_error (error, GLIM_MODEL_ERROR, code);
  g_assert_nonnull (strstr (error->message, "config.json"));
  if (needle1 && !strstr (error->message, needle1))
    g_error ("\"%s\" does not mention \"%s\"", error->message, needle1);
  if (needle2 && !strstr (error->message, needle2))
    g_error ("\"%s\" does not mention \"%s\"", error->message, needle2);
  test_rmtree (dir);
}

static void
test_flash (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimConfig) c = load_edited (NULL, &error, NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (c->architecture, ==, "Glm4MoeLiteForCausalLM");
  g_assert_cmpint (c->hidden_size, ==, 2048);
  g_assert_cmpint (c->n_layers, ==, 47);
  g_assert_cmpint (c->n_heads, ==, 20);
  g_assert_cmpint (c->q_lora_rank, ==, 768);
  g_assert_cmpint (c->kv_lora_rank, ==, 512);
  g_assert_cmpint (glim_config_qk_head_dim (c), ==, 256);
  g_assert_cmpint (glim_config_cache_width (c), ==, 576);
  g_assert_cmpint (c->v_head_dim, ==, 256);
  g_assert_cmpint (c->vocab_size, ==, 154880);
  g_assert_cmpint (c->n_routed_experts, ==, 64);
  g_assert_cmpint (c->n_experts_per_tok, ==, 4);
  g_assert_cmpint (c->moe_intermediate_size, ==, 1536);
  g_assert_cmpint (c->intermediate_size, ==, 10240);
  g_assert_cmpint (c->n_nextn_layers, ==, 1);
  g_assert_false (c->layer_is_moe[0]);
  for (int l = 1; l < 47; l++)
    g_assert_true (c->layer_is_moe[l]);
  g_assert_cmpfloat (c->routed_scaling_factor, ==, 1.8);
  g_assert_cmpfloat (c->rms_norm_eps, ==, 1e-5);
  g_assert_cmpfloat (c->rope_theta, ==, 1e6);
  g_assert_true (c->rope_interleave);
  g_assert_true (c->norm_topk_prob);
  g_assert_false (c->tie_word_embeddings);
  g_assert_cmpint (c->n_eos, ==, 3);
  g_assert_cmpint (c->eos_ids[1], ==, 154827);
  g_assert_cmpint (c->pad_id, ==, 154820);
  g_assert_false (c->quant.nvfp4);
}

static void edit_arch (JsonObject *o)
{
  JsonArray *a = json_array_new ();
  json_array_add_string_element (a, "LlamaForCausalLM");
  json_object_set_array_member (o, "architectures", a);
}
static void edit_no_hidden (JsonObject *o) { json_object_remove_member (o, "hidden_size"); }
static void edit_hidden_str (JsonObject *o) { json_object_set_string_member (o, "hidden_size", "2048"); }
static void edit_neg_layers (JsonObject *o) { json_object_set_int_member (o, "num_hidden_layers", -3); }
static void edit_topk_big (JsonObject *o) { json_object_set_int_member (o, "num_experts_per_tok", 65); }
static void edit_yarn (JsonObject *o)
{
  JsonObject *r = json_object_new ();
  json_object_set_string_member (r, "type", "yarn");
  json_object_set_double_member (r, "factor", 4.0);
  json_object_set_object_member (o, "rope_scaling", r);
}
static void edit_gelu (JsonObject *o) { json_object_set_string_member (o, "hidden_act", "gelu"); }
static void edit_softmax (JsonObject *o) { json_object_set_string_member (o, "scoring_func", "softmax"); }
static void edit_odd_rope (JsonObject *o) { json_object_set_int_member (o, "qk_rope_head_dim", 63); }
static void edit_groups (JsonObject *o) { json_object_set_int_member (o, "n_group", 3); }
static void edit_no_theta (JsonObject *o) { json_object_remove_member (o, "rope_theta"); }
static void edit_bad_eos (JsonObject *o) { json_object_set_int_member (o, "eos_token_id", 999999); }
static void edit_partial (JsonObject *o) { json_object_set_double_member (o, "partial_rotary_factor", 0.5); }

static void
test_errors (void)
{
  expect_error (edit_arch, GLIM_MODEL_ERROR_UNSUPPORTED, "LlamaForCausalLM", NULL);
  expect_error (edit_no_hidden, GLIM_MODEL_ERROR_CONFIG, "\"hidden_size\"", "missing");
  expect_error (edit_hidden_str, GLIM_MODEL_ERROR_CONFIG, "\"hidden_size\"", "integer");
  expect_error (edit_neg_layers, GLIM_MODEL_ERROR_CONFIG, "\"num_hidden_layers\"", "-3");
  expect_error (edit_topk_big, GLIM_MODEL_ERROR_CONFIG, "\"num_experts_per_tok\"", NULL);
  expect_error (edit_yarn, GLIM_MODEL_ERROR_UNSUPPORTED, "rope_scaling", "yarn");
  expect_error (edit_gelu, GLIM_MODEL_ERROR_UNSUPPORTED, "hidden_act", NULL);
  expect_error (edit_softmax, GLIM_MODEL_ERROR_UNSUPPORTED, "scoring_func", NULL);
  expect_error (edit_odd_rope, GLIM_MODEL_ERROR_CONFIG, "qk_rope_head_dim", NULL);
  expect_error (edit_groups, GLIM_MODEL_ERROR_CONFIG, "n_group", NULL);
  expect_error (edit_no_theta, GLIM_MODEL_ERROR_CONFIG, "rope_theta", NULL);
  expect_error (edit_bad_eos, GLIM_MODEL_ERROR_CONFIG, "eos_token_id", NULL);
  expect_error (edit_partial, GLIM_MODEL_ERROR_UNSUPPORTED, "partial_rotary_factor", NULL);
}

static void edit_rope_params (JsonObject *o)
{
  json_object_remove_member (o, "rope_theta");
  JsonObject *r = json_object_new ();
  json_object_set_string_member (r, "rope_type", "default");
  json_object_set_double_member (r, "rope_theta", 10000.0);
  json_object_set_object_member (o, "rope_parameters", r);
}
static void edit_layer_types (JsonObject *o)
{
  json_object_set_int_member (o, "num_hidden_layers", 4);
  json_object_remove_member (o, "first_k_dense_replace");
  JsonArray *a = json_array_new ();
  const char *t[] = { "dense", "sparse", "dense", "sparse" };
  for (int i = 0; i < 4; i++)
    json_array_add_string_element (a, t[i]);
  json_object_set_array_member (o, "mlp_layer_types", a);
}
static void edit_no_qlora (JsonObject *o) { json_object_set_null_member (o, "q_lora_rank"); }
static void edit_single_eos (JsonObject *o)
{
  json_object_set_int_member (o, "eos_token_id", 7);
  json_object_set_boolean_member (o, "rope_interleave", FALSE);
}
static void edit_quant (JsonObject *o)
{
  JsonObject *q = json_object_new ();
  json_object_set_string_member (q, "quant_method", "modelopt");
  json_object_set_string_member (q, "quant_algo", "NVFP4");
  json_object_set_int_member (q, "group_size", 16);
  JsonArray *ig = json_array_new ();
  json_array_add_string_element (ig, "lm_head");
  json_array_add_string_element (ig, "model.layers.47*");
  json_array_add_string_element (ig, "model.layers.1.mlp.gate");
  json_object_set_array_member (q, "ignore", ig);
  json_object_set_object_member (o, "quantization_config", q);
}

static void
test_variants (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimConfig) a = load_edited (edit_rope_params, &error, NULL);
  g_assert_no_error (error);
  g_assert_cmpfloat (a->rope_theta, ==, 10000.0);

  g_autoptr (GlimConfig) b = load_edited (edit_layer_types, &error, NULL);
  g_assert_no_error (error);
  g_assert_false (b->layer_is_moe[0]);
  g_assert_true (b->layer_is_moe[1]);
  g_assert_false (b->layer_is_moe[2]);
  g_assert_true (b->layer_is_moe[3]);

  g_autoptr (GlimConfig) c = load_edited (edit_no_qlora, &error, NULL);
  g_assert_no_error (error);
  g_assert_cmpint (c->q_lora_rank, ==, 0);

  g_autoptr (GlimConfig) d = load_edited (edit_single_eos, &error, NULL);
  g_assert_no_error (error);
  g_assert_cmpint (d->n_eos, ==, 1);
  g_assert_cmpint (d->eos_ids[0], ==, 7);
  g_assert_false (d->rope_interleave);

  g_autoptr (GlimConfig) e = load_edited (edit_quant, &error, NULL);
  g_assert_no_error (error);
  g_assert_true (e->quant.nvfp4);
  g_assert_cmpint (e->quant.group_size, ==, 16);
  g_assert_true (glim_quant_config_excludes (&e->quant, "lm_head"));
  g_assert_true (glim_quant_config_excludes (&e->quant, "model.layers.47.eh_proj"));
  g_assert_true (glim_quant_config_excludes (&e->quant, "model.layers.1.mlp.gate"));
  g_assert_false (glim_quant_config_excludes (&e->quant, "model.layers.1.mlp.gate_proj"));
  g_assert_false (glim_quant_config_excludes (&e->quant, "model.layers.4.self_attn.o_proj"));
}

static void
test_hf_quant_config (void)
{
  g_autofree char *dir = write_config (NULL);
  g_autofree char *path = g_build_filename (dir, "hf_quant_config.json", NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, "{\"producer\":{\"name\":\"modelopt\"},\"quantization\":{\"quant_algo\":"
                       "\"NVFP4\",\"kv_cache_quant_algo\":null,\"group_size\":16,"
                       "\"exclude_modules\":[\"lm_head\"]}}", -1, NULL);
  g_autoptr (GlimConfig) c = glim_config_load (dir, &error);
  g_assert_no_error (error);
  g_assert_true (c->quant.nvfp4);
  g_assert_cmpstr (c->quant.source, ==, "hf_quant_config.json");

  g_file_set_contents (path, "{\"quantization\":{\"quant_algo\":\"W8A8_SQ\"}}", -1, NULL);
  g_assert_null (glim_config_load (dir, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "hf_quant_config.json"));
  g_assert_nonnull (strstr (error->message, "W8A8_SQ"));
  g_clear_error (&error);

  g_file_set_contents (path, "{\"quantization\":{\"quant_algo\":\"NVFP4\",\"group_size\":32}}", -1,
                       NULL);
  g_assert_null (glim_config_load (dir, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "group_size"));
  g_clear_error (&error);

  g_file_set_contents (path, "{\"quantization\": ", -1, NULL);
  g_assert_null (glim_config_load (dir, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "hf_quant_config.json"));
  test_rmtree (dir);
}

static void
test_missing_and_corrupt (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = test_make_tmpdir ();
  g_assert_null (glim_config_load (dir, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "config.json"));
  g_clear_error (&error);

  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  g_file_set_contents (path, "{\"hidden_size\": 20", -1, NULL);
  g_assert_null (glim_config_load (dir, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "config.json"));
  g_clear_error (&error);

  g_autofree char *nowhere = g_build_filename (dir, "nowhere", NULL);
  g_assert_null (glim_config_load (nowhere, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "nowhere"));
  test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/config/glm-4.7-flash", test_flash);
  g_test_add_func ("/glimmer/config/errors-name-the-key", test_errors);
  g_test_add_func ("/glimmer/config/variants", test_variants);
  g_test_add_func ("/glimmer/config/hf-quant-config", test_hf_quant_config);
  g_test_add_func ("/glimmer/config/missing-and-corrupt", test_missing_and_corrupt);
  return g_test_run ();
}
