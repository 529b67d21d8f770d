/* test-safetensors-writer.c: the safetensors writer round-trips through the reader, matches
 * the Python library byte for byte, shards like transformers, and never leaves a partial model.
 * SPDX-License-Identifier: MIT */
#include "glim.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <string.h>

typedef struct {
  const char *name;
  GlimDtype   dtype;
  int         n_dims;
  int64_t     shape[2];
} Spec;

/* Declared in this order; the header below is what safetensors 0.8 writes for them. */
static const Spec specs[] = {
  { "b.weight", GLIM_DTYPE_U8, 2, { 3, 4 } },
  { "a.scale", GLIM_DTYPE_F32, 0, { 0 } },
  { "c", GLIM_DTYPE_BF16, 2, { 2, 3 } },
  { "z", GLIM_DTYPE_F8_E4M3, 1, { 5 } },
  { "A\"q\\", GLIM_DTYPE_F32, 1, { 3 } },
  { "e", GLIM_DTYPE_I64, 1, { 2 } },
  { "empty", GLIM_DTYPE_F16, 1, { 0 } },
};

/* safetensors.torch.save_file(tensors, path, metadata={"format": "pt"}) for `specs`. */
static const char python_header[] =
  "{\"__metadata__\":{\"format\":\"pt\"},"
  "\"e\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
  "\"A\\\"q\\\\\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[16,28]},"
  "\"a.scale\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[28,32]},"
  "\"c\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[32,44]},"
  "\"empty\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[44,44]},"
  "\"z\":{\"dtype\":\"F8_E4M3\",\"shape\":[5],\"data_offsets\":[44,49]},"
  "\"b.weight\":{\"dtype\":\"U8\",\"shape\":[3,4],\"data_offsets\":[49,61]}}   ";

static uint8_t
byte_of (guint tensor, guint64 j)
{
  return (uint8_t) (tensor * 16 + j);
}

static GlimSafetensorsWriter *
declare_all (const char *dir, guint64 shard_max)
{
  g_autoptr (GError) error = NULL;
  GlimSafetensorsWriter *w = glim_safetensors_writer_new (dir, shard_max);
  glim_safetensors_writer_set_metadata (w, "format", "pt");
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    glim_safetensors_writer_add (w, specs[i].name, specs[i].dtype, specs[i].n_dims,
                                 specs[i].shape, &error);
    g_assert_no_error (error);
  }
  glim_safetensors_writer_begin (w, &error);
  g_assert_no_error (error);
  return w;
}

static void
write_all (GlimSafetensorsWriter *w)
{
  g_autoptr (GError) error = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    gint64 n = glim_safetensors_writer_tensor_bytes (w, specs[i].name);
    g_autofree uint8_t *buf = g_malloc (n + 1);
    for (gint64 j = 0; j < n; j++)
      buf[j] = byte_of (i, j);
    /* Two halves, second first: the writer must not care about order. */
    gint64 half = n / 2;
    glim_safetensors_writer_write (w, specs[i].name, half, buf + half, n - half, &error);
    g_assert_no_error (error);
    glim_safetensors_writer_write (w, specs[i].name, 0, buf, half, &error);
    g_assert_no_error (error);
  }
}

static void
check_tensor (const GlimTensor *t, guint i)
{
  g_assert_nonnull (t);
  g_assert_cmpint (t->dtype, ==, specs[i].dtype);
  g_assert_cmpint (t->n_dims, ==, specs[i].n_dims);
  for (int d = 0; d < specs[i].n_dims; d++)
    g_assert_cmpint (t->shape[d], ==, specs[i].shape[d]);
  const uint8_t *p = t->data;
  for (gsize j = 0; j < t->n_bytes; j++)
    g_assert_cmpuint (p[j], ==, byte_of (i, j));
}

static void
test_single (void)
{
  g_autofree char *dir = test_make_tmpdir ();
  g_autoptr (GError) error = NULL;
  GlimSafetensorsWriter *w = declare_all (dir, 0);
  g_assert_cmpuint (glim_safetensors_writer_n_files (w), ==, 1);
  g_assert_cmpuint (glim_safetensors_writer_total_bytes (w), ==, 61);
  write_all (w);
  glim_safetensors_writer_finish (w, &error);
  g_assert_no_error (error);
  glim_safetensors_writer_free (w);

  g_autofree char *path = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree char *bytes = NULL;
  gsize len = 0;
  g_file_get_contents (path, &bytes, &len, &error);
  g_assert_no_error (error);
  gsize hlen = strlen (python_header);
  g_assert_cmpuint (len, ==, 8 + hlen + 61);
  g_assert_cmpuint ((uint8_t) bytes[0] | (uint8_t) bytes[1] << 8, ==, hlen);
  g_assert_cmpmem (bytes + 8, hlen, python_header, hlen);

  g_autoptr (GlimSafetensors) st = glim_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (glim_safetensors_n_tensors (st), ==, G_N_ELEMENTS (specs));
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++)
    check_tensor (glim_safetensors_lookup (st, specs[i].name), i);
  g_autofree char *index = g_build_filename (dir, "model.safetensors.index.json", NULL);
  g_assert_false (g_file_test (index, G_FILE_TEST_EXISTS));
  test_rmtree (dir);
}

static void
test_sharded (void)
{
  g_autofree char *dir = test_make_tmpdir ();
  g_autoptr (GError) error = NULL;
  GlimSafetensorsWriter *w = declare_all (dir, 20);
  /* transformers' split of these sizes (12, 4 | 12, 5 | 12 | 16, 0) at 20 bytes: 4 shards. */
  g_assert_cmpuint (glim_safetensors_writer_n_files (w), ==, 4);
  write_all (w);
  glim_safetensors_writer_finish (w, &error);
  g_assert_no_error (error);
  glim_safetensors_writer_free (w);

  g_autoptr (GlimTensorStore) store = glim_tensor_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (glim_tensor_store_names (store)->len, ==, G_N_ELEMENTS (specs));
  const char *expect_file[] = {
    "model-00001-of-00004.safetensors", "model-00001-of-00004.safetensors",
    "model-00002-of-00004.safetensors", "model-00002-of-00004.safetensors",
    "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
    "model-00004-of-00004.safetensors",
  };
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    const GlimTensor *t = glim_tensor_store_lookup (store, specs[i].name);
    check_tensor (t, i);
    g_assert_cmpstr (t->file, ==, expect_file[i]);
  }
  g_autofree char *index_path = g_build_filename (dir, "model.safetensors.index.json", NULL);
  g_autofree char *index = NULL;
  g_file_get_contents (index_path, &index, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (index, "{\n  \"metadata\": {\n    \"total_size\": 61\n  },\n"
                                          "  \"weight_map\": {\n    \"A\\\"q\\\\\": "
                                          "\"model-00003-of-00004.safetensors\",\n"));
  test_rmtree (dir);
}

typedef struct {
  GlimSafetensorsWriter *w;
  guint                  part;
} ThreadArgs;

static gpointer
write_part (gpointer data)
{
  ThreadArgs *a = data;
  g_autoptr (GError) error = NULL;
  uint8_t buf[4096];
  for (guint64 off = a->part * sizeof buf; off < 1 << 20; off += 4 * sizeof buf) {
    for (gsize j = 0; j < sizeof buf; j++)
      buf[j] = (uint8_t) ((off + j) * 7);
    glim_safetensors_writer_write (a->w, "big", off, buf, sizeof buf, &error);
    g_assert_no_error (error);
  }
  return NULL;
}

static void
test_threads (void)
{
  g_autofree char *dir = test_make_tmpdir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimSafetensorsWriter) w = glim_safetensors_writer_new (dir, 0);
  int64_t shape[1] = { 1 << 20 };
  glim_safetensors_writer_add (w, "big", GLIM_DTYPE_U8, 1, shape, &error);
  g_assert_no_error (error);
  glim_safetensors_writer_begin (w, &error);
  g_assert_no_error (error);
  GThread *threads[4];
  ThreadArgs args[4];
  for (guint i = 0; i < 4; i++) {
    args[i] = (ThreadArgs) { w, i };
    threads[i] = g_thread_new ("writer", write_part, &args[i]);
  }
  for (guint i = 0; i < 4; i++)
    g_thread_join (threads[i]);
  glim_safetensors_writer_finish (w, &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "model.safetensors", NULL);
  g_autoptr (GlimSafetensors) st = glim_safetensors_open (path, &error);
  g_assert_no_error (error);
  const GlimTensor *t = glim_safetensors_lookup (st, "big");
  for (gsize j = 0; j < t->n_bytes; j++)
    g_assert_cmpuint (((const uint8_t *) t->data)[j], ==, (uint8_t) (j * 7));
  test_rmtree (dir);
}

static guint
count_entries (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  while (g_dir_read_name (d) != NULL)
    n++;
  g_dir_close (d);
  return n;
}

static void
test_incomplete (void)
{
  g_autofree char *dir = test_make_tmpdir ();
  g_autoptr (GError) error = NULL;
  GlimSafetensorsWriter *w = declare_all (dir, 20);
  uint8_t four[4] = { 0 };
  glim_safetensors_writer_write (w, "a.scale", 0, four, 4, &error);
  g_assert_no_error (error);
  g_assert_false (glim_safetensors_writer_finish (w, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "\"b.weight\""));
  g_clear_error (&error);
  /* Out-of-range and unknown writes are errors naming the tensor. */
  g_assert_false (glim_safetensors_writer_write (w, "a.scale", 2, four, 4, &error));
  g_assert_nonnull (strstr (error->message, "\"a.scale\""));
  g_clear_error (&error);
  g_assert_false (glim_safetensors_writer_write (w, "nope", 0, four, 1, &error));
  g_assert_nonnull (strstr (error->message, "\"nope\""));
  g_clear_error (&error);
  g_assert_cmpuint (count_entries (dir), ==, 4);      /* four hidden temporary shards */
  glim_safetensors_writer_free (w);                   /* abandoned: nothing may remain */
  g_assert_cmpuint (count_entries (dir), ==, 0);
  g_assert_null (glim_tensor_store_open (dir, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_NOT_FOUND);
  test_rmtree (dir);
}

static void
test_duplicate (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimSafetensorsWriter) w = glim_safetensors_writer_new ("/nonexistent", 0);
  int64_t shape[1] = { 2 };
  g_assert_true (glim_safetensors_writer_add (w, "x", GLIM_DTYPE_F32, 1, shape, &error));
  g_assert_false (glim_safetensors_writer_add (w, "x", GLIM_DTYPE_F32, 1, shape, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* A folder that does not exist: the error names the file it could not create. */
  g_assert_false (glim_safetensors_writer_begin (w, &error));
  g_assert_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent/"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/safetensors-writer/single-file-matches-python", test_single);
  g_test_add_func ("/glimmer/safetensors-writer/sharded-with-index", test_sharded);
  g_test_add_func ("/glimmer/safetensors-writer/parallel-writes", test_threads);
  g_test_add_func ("/glimmer/safetensors-writer/incomplete-leaves-nothing", test_incomplete);
  g_test_add_func ("/glimmer/safetensors-writer/bad-declarations", test_duplicate);
  return g_test_run ();
}
