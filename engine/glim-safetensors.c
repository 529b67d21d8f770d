/* glim-safetensors.c: mmap .safetensors files and validate their JSON headers.
 * SPDX-License-Identifier: MIT
 * Untrusted input: every length, offset and shape is checked against the file size, with
 * overflow checks, before any tensor pointer is handed out. */
#define G_LOG_DOMAIN "glimmer-safetensors"

#include "glim-safetensors.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

/* A header larger than this is not a model file (the real 47-layer model's is ~1.3 MB). */
#define HEADER_MAX_BYTES (256u * 1024u * 1024u)

G_DEFINE_QUARK (glim-model-error-quark, glim_model_error)

struct _GlimSafetensors {
  char        *path;
  char        *basename;
  GMappedFile *map;
  GPtrArray   *tensors;    /* GlimTensor*, in header order */
  GHashTable  *by_name;    /* name -> GlimTensor* */
  GPtrArray   *copies;     /* aligned copies of tensors whose data was misaligned in the file */
};

char *
glim_shape_to_string (const int64_t *shape, int n_dims)
{
  GString *s = g_string_new ("[");
  for (int d = 0; d < n_dims; d++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, d ? ", " : "", shape[d]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static void
tensor_free (gpointer p)
{
  GlimTensor *t = p;
  g_free ((char *) t->name);
  g_free (t);
}

void
glim_safetensors_free (GlimSafetensors *st)
{
  if (st == NULL)
    return;
  g_clear_pointer (&st->by_name, g_hash_table_unref);
  g_clear_pointer (&st->tensors, g_ptr_array_unref);
  g_clear_pointer (&st->copies, g_ptr_array_unref);
  g_clear_pointer (&st->map, g_mapped_file_unref);
  g_free (st->path);
  g_free (st->basename);
  g_free (st);
}

static gboolean
corrupt (GError **error, GlimSafetensors *st, const char *tensor, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static gboolean
corrupt (GError **error, GlimSafetensors *st, const char *tensor, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (tensor != NULL)
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT,
                 "%s: tensor \"%s\": %s", st->path, tensor, msg);
  else
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT, "%s: %s", st->path, msg);
  return FALSE;
}

/* Reads a JSON integer that must be a non-negative whole number. */
static gboolean
json_get_uint64 (JsonNode *node, uint64_t *out)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  GType t = json_node_get_value_type (node);
  if (t != G_TYPE_INT64)
    return FALSE;
  gint64 v = json_node_get_int (node);
  if (v < 0)
    return FALSE;
  *out = (uint64_t) v;
  return TRUE;
}

static gboolean
parse_entry (GlimSafetensors *st, const char *name, JsonNode *node,
             const uint8_t *data_base, uint64_t data_size, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return corrupt (error, st, name, "header entry is not an object");
  JsonObject *obj = json_node_get_object (node);

  const char *dtype_name = json_object_has_member (obj, "dtype")
                         ? json_object_get_string_member_with_default (obj, "dtype", NULL) : NULL;
  if (dtype_name == NULL)
    return corrupt (error, st, name, "missing \"dtype\"");
  GlimDtype dtype = glim_dtype_from_name (dtype_name);
  if (dtype == GLIM_DTYPE_INVALID)
    return corrupt (error, st, name, "unknown dtype \"%s\"", dtype_name);

  JsonNode *shape_node = json_object_get_member (obj, "shape");
  if (shape_node == NULL || !JSON_NODE_HOLDS_ARRAY (shape_node))
    return corrupt (error, st, name, "missing or invalid \"shape\"");
  JsonArray *shape = json_node_get_array (shape_node);
  guint n_dims = json_array_get_length (shape);
  if (n_dims > GLIM_TENSOR_MAX_DIMS)
    return corrupt (error, st, name, "%u dimensions (at most %d supported)", n_dims,
                    GLIM_TENSOR_MAX_DIMS);

  g_autofree GlimTensor *t = g_new0 (GlimTensor, 1);
  t->dtype = dtype;
  t->n_dims = (int) n_dims;
  uint64_t n_elements = 1;
  for (guint d = 0; d < n_dims; d++) {
    uint64_t dim;
    if (!json_get_uint64 (json_array_get_element (shape, d), &dim) || dim > G_MAXINT64)
      return corrupt (error, st, name, "shape entry %u is not a non-negative integer", d);
    t->shape[d] = (int64_t) dim;
    if (dim != 0 && n_elements > G_MAXUINT64 / dim)   /* catch uint64 overflow */
      return corrupt (error, st, name, "shape is too large");
    n_elements *= dim;
  }
  uint64_t elem = glim_dtype_size (dtype);
  if (n_elements > G_MAXUINT64 / elem)
    return corrupt (error, st, name, "shape is too large");
  uint64_t n_bytes = n_elements * elem;

  JsonNode *off_node = json_object_get_member (obj, "data_offsets");
  if (off_node == NULL || !JSON_NODE_HOLDS_ARRAY (off_node) ||
      json_array_get_length (json_node_get_array (off_node)) != 2)
    return corrupt (error, st, name, "missing or invalid \"data_offsets\"");
  JsonArray *offs = json_node_get_array (off_node);
  uint64_t begin, end;
  if (!json_get_uint64 (json_array_get_element (offs, 0), &begin) ||
      !json_get_uint64 (json_array_get_element (offs, 1), &end))
    return corrupt (error, st, name, "data_offsets are not non-negative integers");
  if (begin > end || end > data_size)
    return corrupt (error, st, name,
                    "data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "] lie outside "
                    "the %" G_GUINT64_FORMAT " data bytes (file truncated?)",
                    begin, end, data_size);
  if (end - begin != n_bytes)
    return corrupt (error, st, name,
                    "%s shape needs %" G_GUINT64_FORMAT " bytes but data_offsets span %"
                    G_GUINT64_FORMAT, dtype_name, n_bytes, end - begin);

  t->n_elements = (gsize) n_elements;
  t->n_bytes = (gsize) n_bytes;
  t->name = g_strdup (name);
  t->file = st->basename;
  const uint8_t *p = data_base + begin;
  if (((uintptr_t) p % elem) != 0 && n_bytes > 0) {
    /* The format does not promise alignment; copy the rare misaligned tensor. */
    void *copy = g_malloc (n_bytes);
    memcpy (copy, p, n_bytes);
    g_ptr_array_add (st->copies, copy);
    p = copy;
  }
  t->data = p;
  GlimTensor *owned = g_steal_pointer (&t);
  g_ptr_array_add (st->tensors, owned);
  g_hash_table_insert (st->by_name, (gpointer) owned->name, owned);
  return TRUE;
}

typedef struct {
  uint64_t    begin, end;
  const char *name;
} Range;

static int
range_compare (const void *a, const void *b)
{
  const Range *x = a, *y = b;
  return (x->begin > y->begin) - (x->begin < y->begin);
}

static gboolean
check_overlaps (GlimSafetensors *st, const uint8_t *data_base, GError **error)
{
  guint n = st->tensors->len;
  g_autofree Range *r = g_new (Range, n ? n : 1);
  guint m = 0;
  for (guint i = 0; i < n; i++) {
    const GlimTensor *t = g_ptr_array_index (st->tensors, i);
    if (t->n_bytes == 0)
      continue;
    /* For copied tensors the original offset is gone; the overlap check only needs ranges
     * inside the mapping, and copies happen only for misaligned ones, which were in range. */
    const uint8_t *p = t->data;
    if (p < data_base || p >= data_base + g_mapped_file_get_length (st->map))
      continue;
    r[m].begin = (uint64_t) (p - data_base);
    r[m].end = r[m].begin + t->n_bytes;
    r[m].name = t->name;
    m++;
  }
  qsort (r, m, sizeof (Range), range_compare);
  for (guint i = 1; i < m; i++)
    if (r[i].begin < r[i - 1].end)
      return corrupt (error, st, r[i].name, "data overlaps tensor \"%s\"", r[i - 1].name);
  return TRUE;
}

GlimSafetensors *
glim_safetensors_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);

  g_autoptr (GlimSafetensors) st = g_new0 (GlimSafetensors, 1);
  st->path = g_strdup (path);
  st->basename = g_path_get_basename (path);
  st->tensors = g_ptr_array_new_with_free_func (tensor_free);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->copies = g_ptr_array_new_with_free_func (g_free);

  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_NOT_FOUND, "%s: no such file", path);
    return NULL;
  }
  g_autoptr (GError) local = NULL;
  st->map = g_mapped_file_new (path, FALSE, &local);
  if (st->map == NULL) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_IO, "%s: %s", path, local->message);
    return NULL;
  }

  gsize size = g_mapped_file_get_length (st->map);
  const uint8_t *base = (const uint8_t *) g_mapped_file_get_contents (st->map);
  if (size < 8) {
    corrupt (error, st, NULL, "file is %" G_GSIZE_FORMAT " bytes, too short for a header", size);
    return NULL;
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; i--)
    header_len = (header_len << 8) | base[i];              /* little-endian u64 */
  if (header_len > HEADER_MAX_BYTES || header_len > size - 8) {
    corrupt (error, st, NULL,
             "header length %" G_GUINT64_FORMAT " does not fit in the %" G_GSIZE_FORMAT
             "-byte file (truncated or not a safetensors file)", header_len, size);
    return NULL;
  }

  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, (const char *) base + 8, (gssize) header_len, &local)) {
    corrupt (error, st, NULL, "header is not valid JSON: %s", local->message);
    return NULL;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    corrupt (error, st, NULL, "header is not a JSON object");
    return NULL;
  }

  const uint8_t *data_base = base + 8 + header_len;
  uint64_t data_size = size - 8 - header_len;
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  json_object_iter_init (&iter, json_node_get_object (root));
  while (json_object_iter_next (&iter, &name, &node)) {
    if (strcmp (name, "__metadata__") == 0)
      continue;
    if (!parse_entry (st, name, node, data_base, data_size, error))
      return NULL;
  }
  if (!check_overlaps (st, data_base, error))
    return NULL;
  return g_steal_pointer (&st);
}

guint
glim_safetensors_n_tensors (GlimSafetensors *st)
{
  return st->tensors->len;
}

const GlimTensor *
glim_safetensors_nth (GlimSafetensors *st, guint i)
{
  g_return_val_if_fail (i < st->tensors->len, NULL);
  return g_ptr_array_index (st->tensors, i);
}

const GlimTensor *
glim_safetensors_lookup (GlimSafetensors *st, const char *name)
{
  return g_hash_table_lookup (st->by_name, name);
}

/* ---- model folder ---- */

struct _GlimTensorStore {
  char       *dir;
  GPtrArray  *files;     /* GlimSafetensors* */
  GHashTable *by_name;   /* name -> const GlimTensor* (owned by the files) */
  GPtrArray  *names;     /* sorted, lazily built */
};

void
glim_tensor_store_free (GlimTensorStore *store)
{
  if (store == NULL)
    return;
  g_clear_pointer (&store->by_name, g_hash_table_unref);
  g_clear_pointer (&store->files, g_ptr_array_unref);
  g_clear_pointer (&store->names, g_ptr_array_unref);
  g_free (store->dir);
  g_free (store);
}

static gboolean
store_add_file (GlimTensorStore *store, const char *basename, GError **error)
{
  g_autofree char *path = g_build_filename (store->dir, basename, NULL);
  GlimSafetensors *st = glim_safetensors_open (path, error);
  if (st == NULL)
    return FALSE;
  g_ptr_array_add (store->files, st);
  for (guint i = 0; i < glim_safetensors_n_tensors (st); i++) {
    const GlimTensor *t = glim_safetensors_nth (st, i);
    const GlimTensor *prev = g_hash_table_lookup (store->by_name, t->name);
    if (prev != NULL) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT,
                   "%s: tensor \"%s\" is also in %s", path, t->name, prev->file);
      return FALSE;
    }
    g_hash_table_insert (store->by_name, (gpointer) t->name, (gpointer) t);
  }
  return TRUE;
}

/* A shard name from the index must be a plain file name inside the folder. */
static gboolean
shard_name_ok (const char *name)
{
  return name[0] != '\0' && strchr (name, '/') == NULL && strcmp (name, ".") != 0 &&
         strcmp (name, "..") != 0;
}

static gboolean
store_open_index (GlimTensorStore *store, const char *index_path, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  if (!json_parser_load_from_mapped_file (parser, index_path, &local)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT, "%s: %s", index_path,
                 local->message);
    return FALSE;
  }
  JsonNode *root = json_parser_get_root (parser);
  JsonObject *obj = root && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  JsonNode *map_node = obj ? json_object_get_member (obj, "weight_map") : NULL;
  if (map_node == NULL || !JSON_NODE_HOLDS_OBJECT (map_node)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT,
                 "%s: missing \"weight_map\" object", index_path);
    return FALSE;
  }
  JsonObject *map = json_node_get_object (map_node);

  /* Open each shard once, in first-mention order. */
  g_autoptr (GHashTable) opened = g_hash_table_new (g_str_hash, g_str_equal);
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  json_object_iter_init (&iter, map);
  while (json_object_iter_next (&iter, &name, &node)) {
    const char *file = JSON_NODE_HOLDS_VALUE (node) &&
                       json_node_get_value_type (node) == G_TYPE_STRING
                     ? json_node_get_string (node) : NULL;
    if (file == NULL || !shard_name_ok (file)) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT,
                   "%s: weight_map entry for \"%s\" is not a file name", index_path, name);
      return FALSE;
    }
    if (!g_hash_table_contains (opened, file)) {
      if (!store_add_file (store, file, error))
        return FALSE;
      g_hash_table_add (opened, (gpointer) file);
    }
  }
  /* Every tensor the index promises must be in the file it names. */
  json_object_iter_init (&iter, map);
  while (json_object_iter_next (&iter, &name, &node)) {
    const char *file = json_node_get_string (node);
    const GlimTensor *t = g_hash_table_lookup (store->by_name, name);
    if (t == NULL || strcmp (t->file, file) != 0) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_TENSOR_MISSING,
                   "%s/%s: tensor \"%s\" listed in %s is missing", store->dir, file, name,
                   "model.safetensors.index.json");
      return FALSE;
    }
  }
  return TRUE;
}

GlimTensorStore *
glim_tensor_store_open (const char *dir, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_NOT_FOUND,
                 "%s: no such model folder", dir);
    return NULL;
  }
  g_autoptr (GlimTensorStore) store = g_new0 (GlimTensorStore, 1);
  store->dir = g_strdup (dir);
  store->files = g_ptr_array_new_with_free_func ((GDestroyNotify) glim_safetensors_free);
  store->by_name = g_hash_table_new (g_str_hash, g_str_equal);

  g_autofree char *index = g_build_filename (dir, "model.safetensors.index.json", NULL);
  g_autofree char *single = g_build_filename (dir, "model.safetensors", NULL);
  if (g_file_test (index, G_FILE_TEST_EXISTS)) {
    if (!store_open_index (store, index, error))
      return NULL;
  } else if (g_file_test (single, G_FILE_TEST_EXISTS)) {
    if (!store_add_file (store, "model.safetensors", error))
      return NULL;
  } else {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_NOT_FOUND,
                 "%s: no model.safetensors or model.safetensors.index.json", dir);
    return NULL;
  }
  return g_steal_pointer (&store);
}

const GlimTensor *
glim_tensor_store_lookup (GlimTensorStore *store, const char *name)
{
  return g_hash_table_lookup (store->by_name, name);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

GPtrArray *
glim_tensor_store_names (GlimTensorStore *store)
{
  if (store->names == NULL) {
    store->names = g_ptr_array_new ();
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init (&it, store->by_name);
    while (g_hash_table_iter_next (&it, &key, NULL))
      g_ptr_array_add (store->names, key);
    g_ptr_array_sort (store->names, compare_names);
  }
  return store->names;
}

gboolean
glim_tensor_store_prefault (GlimTensorStore *store,
                            gboolean (*progress) (guint64 done, guint64 total, gpointer user_data),
                            gpointer user_data, GError **error)
{
  const gsize piece = (gsize) 64 << 20, page = 4096;
  guint64 total = glim_tensor_store_n_bytes (store), done = 0, reported = 0;
  GPtrArray *names = glim_tensor_store_names (store);
  volatile guint8 sink = 0;
  if (progress != NULL && !progress (0, total, user_data))
    goto cancelled;
  for (guint i = 0; i < names->len; i++) {
    const GlimTensor *t = glim_tensor_store_lookup (store, g_ptr_array_index (names, i));
    const guint8 *p = t->data;
    for (gsize off = 0; off < t->n_bytes; off += page)
      sink ^= p[off];
    if (t->n_bytes > 0)
      sink ^= p[t->n_bytes - 1];
    done += t->n_bytes;
    if (progress != NULL && (done - reported >= piece || i + 1 == names->len)) {
      reported = done;
      if (!progress (done, total, user_data))
        goto cancelled;
    }
  }
  (void) sink;
  return TRUE;
cancelled:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s: loading was cancelled", store->dir);
  return FALSE;
}

gsize
glim_tensor_store_n_bytes (GlimTensorStore *store)
{
  gsize total = 0;
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, store->by_name);
  while (g_hash_table_iter_next (&it, NULL, &value))
    total += ((const GlimTensor *) value)->n_bytes;
  return total;
}
