/* test-safetensors.c: the safetensors reader accepts valid files and names the file and tensor
 * for every kind of damage.
 * SPDX-License-Identifier: MIT */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "glim.h"
#include "testutil.h"

typedef struct {
  char *dir;
  char *path;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->dir = test_make_tmpdir ();
  f->path = g_build_filename (f->dir, "model.safetensors", NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  test_rmtree (f->dir);
  g_free (f->dir);
  g_free (f->path);
}

static const float vec4[4] = { 1.0f, -2.0f, 0.5f, 3.0f };
static const guint16 bf16_6[6] = { 0x3f80, 0x4000, 0xbf80, 0x0000, 0x3f00, 0x4040 };

static void
write_valid (const char *path)
{
  TestTensor t[] = {
    { "a.weight", "F32", 1, { 4 }, vec4, sizeof vec4 },
    { "b.weight", "BF16", 2, { 2, 3 }, bf16_6, sizeof bf16_6 },
  };
  test_write_safetensors (path, t, G_N_ELEMENTS (t));
}

static void
assert_error_mentions (const GError *error, int code, const char *a, const char *b)
{
  g_assert_error (error, GLIM_MODEL_ERROR, code);
  if (a != NULL && strstr (error->message, a) == NULL)
    g_error ("message \"%s\" does not mention \"%s\"", error->message, a);
  if (b != NULL && strstr (error->message, b) == NULL)
    g_error ("message \"%s\" does not mention \"%s\"", error->message, b);
}

static void
test_valid (Fixture *f, gconstpointer data)
{
  write_valid (f->path);
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimSafetensors) st = glim_safetensors_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (glim_safetensors_n_tensors (st), ==, 2);
  const GlimTensor *a = glim_safetensors_lookup (st, "a.weight");
  g_assert_nonnull (a);
  g_assert_cmpint (a->dtype, ==, GLIM_DTYPE_F32);
  g_assert_cmpint (a->n_dims, ==, 1);
  g_assert_cmpint (a->shape[0], ==, 4);
  g_assert_cmpmem (a->data, a->n_bytes, vec4, sizeof vec4);
  const GlimTensor *b = glim_safetensors_lookup (st, "b.weight");
  g_assert_cmpint (b->dtype, ==, GLIM_DTYPE_BF16);
  g_assert_cmpuint (b->n_elements, ==, 6);
  float out[6];
  g_assert_true (glim_dtype_to_f32 (b->dtype, b->data, out, 6));
  g_assert_cmpfloat (out[0], ==, 1.0f);
  g_assert_cmpfloat (out[2], ==, -1.0f);
  g_assert_cmpfloat (out[5], ==, 3.0f);
  g_assert_null (glim_safetensors_lookup (st, "c.weight"));
}

static void
test_missing_file (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_safetensors_open (f->path, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_NOT_FOUND, f->path, NULL);
}

static void
test_too_short (Fixture *f, gconstpointer data)
{
  g_file_set_contents (f->path, "abc", 3, NULL);
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_safetensors_open (f->path, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_CORRUPT, f->path, "too short");
}

static void
test_truncated_data (Fixture *f, gconstpointer data)
{
  write_valid (f->path);
  g_autofree char *contents = NULL;
  gsize len;
  g_file_get_contents (f->path, &contents, &len, NULL);
  g_file_set_contents (f->path, contents, (gssize) len - 5, NULL);
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_safetensors_open (f->path, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_CORRUPT, f->path, "b.weight");
}

static void
test_truncated_header (Fixture *f, gconstpointer data)
{
  write_valid (f->path);
  g_autofree char *contents = NULL;
  gsize len;
  g_file_get_contents (f->path, &contents, &len, NULL);
  g_file_set_contents (f->path, contents, 20, NULL);
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_safetensors_open (f->path, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_CORRUPT, f->path, "header length");
}

static void
test_header_not_json (Fixture *f, gconstpointer data)
{
  test_write_raw_safetensors (f->path, "{\"a\": [1, 2", NULL, 0);
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_safetensors_open (f->path, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_CORRUPT, f->path, "JSON");
}

static void
test_header_not_object (Fixture *f, gconstpointer data)
{
  test_write_raw_safetensors (f->path, "[1, 2, 3]", NULL, 0);
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_safetensors_open (f->path, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_CORRUPT, f->path, "object");
}

static void
expect_header_error (Fixture *f, const char *header, gsize data_bytes, const char *tensor,
                     const char *what)
{
  g_autofree guint8 *zeros = g_malloc0 (data_bytes + 1);
  test_write_raw_safetensors (f->path, header, zeros, data_bytes);
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_safetensors_open (f->path, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_CORRUPT, tensor, what);
}

static void
test_bad_entries (Fixture *f, gconstpointer data)
{
  expect_header_error (f, "{\"x\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
                       "\"x\"", "unknown dtype");
  expect_header_error (f, "{\"x\":{\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "\"x\"", "dtype");
  expect_header_error (f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                       "\"x\"", "needs 12 bytes");
  expect_header_error (f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                       "\"x\"", "outside");
  expect_header_error (f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                       "\"x\"", "shape entry 0");
  expect_header_error (f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
                       "\"x\"", "outside");
  expect_header_error (f, "{\"x\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],"
                       "\"data_offsets\":[0,8]}}", 8, "\"x\"", "too large");
  expect_header_error (f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                       "overlaps", NULL);
  expect_header_error (f, "{\"x\":5}", 0, "\"x\"", "not an object");
}

static void
test_metadata_and_scalar (Fixture *f, gconstpointer data)
{
  float one = 0.25f;
  test_write_raw_safetensors (f->path,
                              "{\"__metadata__\":{\"format\":\"pt\"},"
                              "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
                              &one, 4);
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimSafetensors) st = glim_safetensors_open (f->path, &error);
  g_assert_no_error (error);
  const GlimTensor *s = glim_safetensors_lookup (st, "s");
  g_assert_cmpint (s->n_dims, ==, 0);
  g_assert_cmpuint (s->n_elements, ==, 1);
  g_assert_cmpfloat (*(const float *) s->data, ==, 0.25f);
}

static void
test_misaligned_copy (Fixture *f, gconstpointer data)
{
  /* header length 37 leaves the data at an odd offset: the reader must still hand out
   * element-aligned pointers */
  guint8 bytes[9] = { 0xaa, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40 };
  test_write_raw_safetensors (f->path,
                              "{\"p\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                              "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]}}",
                              bytes, sizeof bytes);
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimSafetensors) st = glim_safetensors_open (f->path, &error);
  g_assert_no_error (error);
  const GlimTensor *t = glim_safetensors_lookup (st, "f");
  g_assert_cmpuint ((guintptr) t->data % 4, ==, 0);
  g_assert_cmpfloat (((const float *) t->data)[0], ==, 1.0f);
  g_assert_cmpfloat (((const float *) t->data)[1], ==, 2.0f);
}

/* ---- folders ---- */

static void
write_index (const char *dir, const char *json)
{
  g_autofree char *p = g_build_filename (dir, "model.safetensors.index.json", NULL);
  g_file_set_contents (p, json, -1, NULL);
}

static void
test_store_sharded (Fixture *f, gconstpointer data)
{
  g_autofree char *p1 = g_build_filename (f->dir, "model-00001-of-00002.safetensors", NULL);
  g_autofree char *p2 = g_build_filename (f->dir, "model-00002-of-00002.safetensors", NULL);
  TestTensor a = { "a.weight", "F32", 1, { 4 }, vec4, sizeof vec4 };
  TestTensor b = { "b.weight", "BF16", 2, { 2, 3 }, bf16_6, sizeof bf16_6 };
  test_write_safetensors (p1, &a, 1);
  test_write_safetensors (p2, &b, 1);
  write_index (f->dir, "{\"metadata\":{},\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\","
                       "\"b.weight\":\"model-00002-of-00002.safetensors\"}}");
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimTensorStore) store = glim_tensor_store_open (f->dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (glim_tensor_store_lookup (store, "a.weight"));
  g_assert_cmpstr (glim_tensor_store_lookup (store, "b.weight")->file, ==,
                   "model-00002-of-00002.safetensors");
  g_assert_cmpuint (glim_tensor_store_names (store)->len, ==, 2);
  g_assert_cmpuint (glim_tensor_store_n_bytes (store), ==, sizeof vec4 + sizeof bf16_6);

  /* a tensor the index promises but the shard lacks */
  write_index (f->dir, "{\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\","
                       "\"c.weight\":\"model-00002-of-00002.safetensors\"}}");
  g_clear_error (&error);
  g_assert_null (glim_tensor_store_open (f->dir, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_TENSOR_MISSING, "c.weight",
                         "model-00002-of-00002.safetensors");

  /* a shard that does not exist */
  write_index (f->dir, "{\"weight_map\":{\"a.weight\":\"model-00003-of-00003.safetensors\"}}");
  g_clear_error (&error);
  g_assert_null (glim_tensor_store_open (f->dir, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_NOT_FOUND, "model-00003-of-00003.safetensors",
                         NULL);

  /* a shard name that leaves the folder */
  write_index (f->dir, "{\"weight_map\":{\"a.weight\":\"../model.safetensors\"}}");
  g_clear_error (&error);
  g_assert_null (glim_tensor_store_open (f->dir, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_CORRUPT, "a.weight", NULL);

  /* no weight_map */
  write_index (f->dir, "{\"metadata\":{}}");
  g_clear_error (&error);
  g_assert_null (glim_tensor_store_open (f->dir, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_CORRUPT, "weight_map", NULL);
}

static void
test_store_duplicate (Fixture *f, gconstpointer data)
{
  g_autofree char *p1 = g_build_filename (f->dir, "one.safetensors", NULL);
  g_autofree char *p2 = g_build_filename (f->dir, "two.safetensors", NULL);
  TestTensor a = { "a.weight", "F32", 1, { 4 }, vec4, sizeof vec4 };
  test_write_safetensors (p1, &a, 1);
  test_write_safetensors (p2, &a, 1);
  write_index (f->dir, "{\"weight_map\":{\"a.weight\":\"one.safetensors\",\"x\":\"two.safetensors\"}}");
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_tensor_store_open (f->dir, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_CORRUPT, "a.weight", "one.safetensors");
}

static void
test_store_missing (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_tensor_store_open (f->dir, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_NOT_FOUND, f->dir, "model.safetensors");
  g_clear_error (&error);
  g_autofree char *nowhere = g_build_filename (f->dir, "nowhere", NULL);
  g_assert_null (glim_tensor_store_open (nowhere, &error));
  assert_error_mentions (error, GLIM_MODEL_ERROR_NOT_FOUND, nowhere, NULL);
}

/* ---- conversions ---- */

static void
test_fp8 (void)
{
  g_assert_cmpfloat (glim_fp8_e4m3_to_f32 (0x38), ==, 1.0f);       /* exp 7, man 0 */
  g_assert_cmpfloat (glim_fp8_e4m3_to_f32 (0x7e), ==, 448.0f);
  g_assert_cmpfloat (glim_fp8_e4m3_to_f32 (0x01), ==, 1.0f / 512);  /* smallest subnormal */
  g_assert_cmpfloat (glim_fp8_e4m3_to_f32 (0xb8), ==, -1.0f);
  g_assert_true (isnan (glim_fp8_e4m3_to_f32 (0x7f)));
  /* every finite code round-trips */
  for (int c = 0; c < 256; c++) {
    if ((c & 0x7f) == 0x7f)
      continue;
    float v = glim_fp8_e4m3_to_f32 ((guint8) c);
    guint8 back = glim_f32_to_fp8_e4m3 (v);
    if (v == 0.0f)
      g_assert_cmpuint (back & 0x7f, ==, 0);
    else
      g_assert_cmpuint (back, ==, c);
  }
  g_assert_cmpuint (glim_f32_to_fp8_e4m3 (1000.0f), ==, 0x7e);     /* saturates */
  g_assert_cmpuint (glim_f32_to_fp8_e4m3 (1.0625f), ==, 0x38);     /* tie to even: 1.0 */
  g_assert_cmpuint (glim_f32_to_fp8_e4m3 (1.1875f), ==, 0x3a);     /* tie to even: 1.25 */
  g_assert_cmpuint (glim_f32_to_bf16 (1.0f + 1.0f / 256), ==, 0x3f80);  /* tie to even */
  g_assert_cmpuint (glim_f32_to_bf16 (1.0f + 3.0f / 256), ==, 0x3f82);
  g_assert_cmpfloat (glim_f16_to_f32 (0x3c00), ==, 1.0f);
  g_assert_cmpfloat (glim_f16_to_f32 (0x0001), ==, ldexpf (1.0f, -24));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/glimmer/safetensors/" path, Fixture, NULL, fixture_setup, fn, \
                                  fixture_teardown)
  ADD ("valid", test_valid);
  ADD ("missing-file", test_missing_file);
  ADD ("too-short", test_too_short);
  ADD ("truncated-data", test_truncated_data);
  ADD ("truncated-header", test_truncated_header);
  ADD ("header-not-json", test_header_not_json);
  ADD ("header-not-object", test_header_not_object);
  ADD ("bad-entries", test_bad_entries);
  ADD ("metadata-and-scalar", test_metadata_and_scalar);
  ADD ("misaligned-copy", test_misaligned_copy);
  ADD ("store-sharded", test_store_sharded);
  ADD ("store-duplicate", test_store_duplicate);
  ADD ("store-missing", test_store_missing);
  g_test_add_func ("/glimmer/safetensors/fp8-bf16-conversions", test_fp8);
  return g_test_run ();
}
