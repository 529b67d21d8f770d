/* testutil.c: helpers shared by the GTest programs in tests/.
 * SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdarg.h>
#include <sys/wait.h>

char *
test_data_path (const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  g_autoptr (GPtrArray) parts = g_ptr_array_new ();
  const char *src = g_getenv ("G_TEST_SRCDIR");
  g_ptr_array_add (parts, (gpointer) (src ? src : "."));
  g_ptr_array_add (parts, "data");
  for (const char *p = first; p != NULL; p = va_arg (ap, const char *))
    g_ptr_array_add (parts, (gpointer) p);
  va_end (ap);
  g_ptr_array_add (parts, NULL);
  return g_build_filenamev ((char **) parts->pdata);
}

char *
test_make_tmpdir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("glimmer-test-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

void
test_rmtree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    GDir *d = g_dir_open (path, 0, NULL);
    const char *name;
    while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
      g_autofree char *child = g_build_filename (path, name, NULL);
      test_rmtree (child);
    }
    if (d != NULL)
      g_dir_close (d);
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

float *
test_read_f32 (const char *path, gsize *n)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;
  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (len % 4, ==, 0);
  *n = len / 4;
  return (float *) data;
}

double
test_rel_l2 (const float *a, const float *b, gsize n)
{
  double num = 0, den = 0;
  for (gsize i = 0; i < n; i++) {
    double d = (double) a[i] - (double) b[i];
    num += d * d;
    den += (double) b[i] * (double) b[i];
  }
  return den > 0 ? sqrt (num / den) : sqrt (num);
}

double
test_gauss (GRand *r)
{
  double u = g_rand_double_range (r, 1e-12, 1.0), v = g_rand_double (r);
  return sqrt (-2.0 * log (u)) * cos (2.0 * G_PI * v);
}

char *
test_demo_model_dir (void)
{
  return g_test_build_filename (G_TEST_DIST, "..", "data", "demo-model", NULL);
}

int
test_run_cli (const char *const *args, char **out, char **err)
{
  const char *cli = g_getenv ("GLIMMER_CLI");
  g_assert_nonnull (cli);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) cli);
  for (const char *const *a = args; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  g_ptr_array_add (argv, NULL);
  g_autoptr (GError) error = NULL;
  int status = 0;
  /* stdin from /dev/null: never a terminal, so glimmer-cli chat never waits for a person */
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, out,
                err, &status, &error);
  g_assert_no_error (error);
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return -1;
}

/* ---- safetensors files for error tests ---- */

#include <json-glib/json-glib.h>
#include <string.h>

void
test_write_raw_safetensors (const char *path, const char *header, const void *data, gsize n_bytes)
{
  gsize hlen = strlen (header);
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guint8 len8[8];
  for (int i = 0; i < 8; i++)
    len8[i] = (guint8) ((guint64) hlen >> (8 * i));
  g_byte_array_append (buf, len8, 8);
  g_byte_array_append (buf, (const guint8 *) header, (guint) hlen);
  if (n_bytes > 0)
    g_byte_array_append (buf, data, (guint) n_bytes);
  g_autoptr (GError) error = NULL;
  g_file_set_contents (path, (const char *) buf->data, buf->len, &error);
  g_assert_no_error (error);
}

void
test_write_safetensors (const char *path, const TestTensor *t, gsize n)
{
  g_autoptr (GString) header = g_string_new ("{");
  g_autoptr (GByteArray) data = g_byte_array_new ();
  for (gsize i = 0; i < n; i++) {
    g_string_append_printf (header, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
                            t[i].name, t[i].dtype);
    for (int d = 0; d < t[i].n_dims; d++)
      g_string_append_printf (header, "%s%" G_GINT64_FORMAT, d ? "," : "", t[i].shape[d]);
    g_string_append_printf (header, "],\"data_offsets\":[%u,%u]}", data->len,
                            data->len + (guint) t[i].n_bytes);
    g_byte_array_append (data, t[i].data, (guint) t[i].n_bytes);
  }
  g_string_append_c (header, '}');
  while ((header->len + 8) % 8 != 0)
    g_string_append_c (header, ' ');
  test_write_raw_safetensors (path, header->str, data->data, data->len);
}

char *
test_copy_dir (const char *src)
{
  char *dst = test_make_tmpdir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) d = g_dir_open (src, 0, &error);
  g_assert_no_error (error);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL) {
    g_autofree char *from = g_build_filename (src, name, NULL);
    if (g_file_test (from, G_FILE_TEST_IS_DIR))
      continue;
    g_autofree char *to = g_build_filename (dst, name, NULL);
    g_autofree char *contents = NULL;
    gsize len = 0;
    g_file_get_contents (from, &contents, &len, &error);
    g_assert_no_error (error);
    g_file_set_contents (to, contents, (gssize) len, &error);
    g_assert_no_error (error);
  }
  return dst;
}

void
test_edit_safetensors_header (const char *path, void (*edit) (gpointer root, gpointer user),
                              gpointer user)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (len, >=, 8);
  guint64 hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | (guint8) contents[i];
  g_autoptr (JsonParser) parser = json_parser_new ();
  json_parser_load_from_data (parser, contents + 8, (gssize) hlen, &error);
  g_assert_no_error (error);
  JsonNode *root = json_parser_get_root (parser);
  edit (json_node_get_object (root), user);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  g_autofree char *header = json_generator_to_data (gen, NULL);
  test_write_raw_safetensors (path, header, contents + 8 + hlen, len - 8 - hlen);
}

/* ---- shared test data ---- */

const char test_glm_flash_config[] =
  "{\"architectures\": [\"Glm4MoeLiteForCausalLM\"], \"attention_bias\": false,"
  " \"attention_dropout\": 0.0, \"pad_token_id\": 154820, \"eos_token_id\": [154820, 154827, 154829],"
  " \"hidden_act\": \"silu\", \"hidden_size\": 2048, \"intermediate_size\": 10240,"
  " \"max_position_embeddings\": 202752, \"model_type\": \"glm4_moe_lite\","
  " \"moe_intermediate_size\": 1536, \"topk_method\": \"noaux_tc\", \"norm_topk_prob\": true,"
  " \"num_attention_heads\": 20, \"n_group\": 1, \"topk_group\": 1, \"n_routed_experts\": 64,"
  " \"n_shared_experts\": 1, \"routed_scaling_factor\": 1.8, \"num_experts_per_tok\": 4,"
  " \"first_k_dense_replace\": 1, \"num_hidden_layers\": 47, \"num_key_value_heads\": 20,"
  " \"num_nextn_predict_layers\": 1, \"partial_rotary_factor\": 1.0, \"rms_norm_eps\": 1e-05,"
  " \"rope_scaling\": null, \"rope_theta\": 1000000, \"tie_word_embeddings\": false,"
  " \"dtype\": \"bfloat16\", \"transformers_version\": \"5.0.0rc0\", \"q_lora_rank\": 768,"
  " \"kv_lora_rank\": 512, \"qk_nope_head_dim\": 192, \"qk_rope_head_dim\": 64,"
  " \"v_head_dim\": 256, \"vocab_size\": 154880}";

GArray *
test_json_int_array (gpointer object, const char *key)
{
  GArray *a = g_array_new (FALSE, FALSE, sizeof (gint32));
  JsonArray *ja = json_object_get_array_member (object, key);
  for (guint i = 0; i < json_array_get_length (ja); i++) {
    gint32 v = (gint32) json_array_get_int_element (ja, i);
    g_array_append_val (a, v);
  }
  return a;
}

GlimModel *
test_load_model (const char *dir)
{
  g_autoptr (GError) error = NULL;
  GlimModel *m = glim_model_load (dir, NULL, &error);
  g_assert_no_error (error);
  return m;
}
