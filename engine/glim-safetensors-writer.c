/* glim-safetensors-writer.c: lay out and stream .safetensors files (one or a sharded set).
 * SPDX-License-Identifier: MIT
 * Byte-compatible with the Python `safetensors` writer: tensors ordered by dtype (the Rust
 * enum order, widest first) then by name, a compact serde-style JSON header with __metadata__
 * first, padded with spaces to a multiple of 8. Data goes to disk with pwrite() at known
 * offsets, so producers may run in parallel and nothing is buffered beyond their own chunks. */
#define G_LOG_DOMAIN "glimmer-safetensors-writer"

#include "glim-safetensors-writer.h"

#include "glim-pyjson.h"
#include "glim-safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  char     *name;
  GlimDtype dtype;
  int       n_dims;
  int64_t   shape[GLIM_TENSOR_MAX_DIMS];
  guint64   n_bytes;
  guint     file;          /* index into files */
  guint64   offset;        /* absolute offset of the data in that file */
  guint64   written;       /* bytes written so far (under the writer's lock) */
} WTensor;

typedef struct {
  char      *name;         /* final basename */
  char      *tmp_path;     /* hidden temporary file in the same folder */
  int        fd;
  GPtrArray *tensors;      /* WTensor*, in layout order */
  guint64    data_bytes;
} WFile;

struct _GlimSafetensorsWriter {
  char       *dir;
  guint64     shard_max_bytes;
  GPtrArray  *tensors;     /* WTensor*, in declaration order */
  GHashTable *by_name;     /* name -> WTensor* */
  GTree      *metadata;    /* key -> value, written sorted */
  GPtrArray  *files;       /* WFile*, after _begin */
  guint64     total_bytes;
  gboolean    begun;
  gboolean    finished;
  GMutex      lock;        /* guards WTensor.written */
};

static void
wtensor_free (gpointer p)
{
  WTensor *t = p;
  g_free (t->name);
  g_free (t);
}

static void
wfile_free (gpointer p)
{
  WFile *f = p;
  if (f->fd >= 0)
    close (f->fd);
  g_free (f->name);
  g_free (f->tmp_path);
  g_ptr_array_unref (f->tensors);
  g_free (f);
}

static int
compare_keys (gconstpointer a, gconstpointer b, gpointer unused)
{
  return strcmp (a, b);
}

GlimSafetensorsWriter *
glim_safetensors_writer_new (const char *dir, guint64 shard_max_bytes)
{
  g_return_val_if_fail (dir != NULL, NULL);
  GlimSafetensorsWriter *w = g_new0 (GlimSafetensorsWriter, 1);
  w->dir = g_strdup (dir);
  w->shard_max_bytes = shard_max_bytes;
  w->tensors = g_ptr_array_new_with_free_func (wtensor_free);
  w->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  w->metadata = g_tree_new_full (compare_keys, NULL, g_free, g_free);
  w->files = g_ptr_array_new_with_free_func (wfile_free);
  g_mutex_init (&w->lock);
  return w;
}

void
glim_safetensors_writer_free (GlimSafetensorsWriter *w)
{
  if (w == NULL)
    return;
  if (!w->finished)
    for (guint i = 0; i < w->files->len; i++) {
      WFile *f = g_ptr_array_index (w->files, i);
      if (f->tmp_path != NULL)
        g_unlink (f->tmp_path);
    }
  g_ptr_array_unref (w->files);
  g_hash_table_unref (w->by_name);
  g_ptr_array_unref (w->tensors);
  g_tree_unref (w->metadata);
  g_mutex_clear (&w->lock);
  g_free (w->dir);
  g_free (w);
}

void
glim_safetensors_writer_set_metadata (GlimSafetensorsWriter *w, const char *key, const char *value)
{
  g_return_if_fail (w != NULL && !w->begun && key != NULL && value != NULL);
  g_tree_replace (w->metadata, g_strdup (key), g_strdup (value));
}

gboolean
glim_safetensors_writer_add (GlimSafetensorsWriter *w, const char *name, GlimDtype dtype,
                             int n_dims, const int64_t *shape, GError **error)
{
  g_return_val_if_fail (w != NULL && !w->begun && name != NULL, FALSE);
  g_return_val_if_fail (glim_dtype_size (dtype) > 0, FALSE);
  if (g_hash_table_contains (w->by_name, name) || strcmp (name, "__metadata__") == 0) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "%s: tensor \"%s\" is declared twice", w->dir, name);
    return FALSE;
  }
  if (n_dims < 0 || n_dims > GLIM_TENSOR_MAX_DIMS) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "%s: tensor \"%s\" has %d dimensions (at most %d)", w->dir, name, n_dims,
                 GLIM_TENSOR_MAX_DIMS);
    return FALSE;
  }
  g_autofree WTensor *t = g_new0 (WTensor, 1);
  t->dtype = dtype;
  t->n_dims = n_dims;
  guint64 n = glim_dtype_size (dtype);
  for (int d = 0; d < n_dims; d++) {
    if (shape[d] < 0 || (shape[d] != 0 && n > G_MAXUINT64 / (guint64) shape[d])) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                   "%s: tensor \"%s\" has an invalid shape", w->dir, name);
      return FALSE;
    }
    t->shape[d] = shape[d];
    n *= (guint64) shape[d];
  }
  t->n_bytes = n;
  t->name = g_strdup (name);
  WTensor *owned = g_steal_pointer (&t);
  g_ptr_array_add (w->tensors, owned);
  g_hash_table_insert (w->by_name, owned->name, owned);
  return TRUE;
}

/* ---- layout ---- */

/* Position of a dtype in safetensors' Rust `Dtype` enum; files list higher ranks first. */
static int
dtype_rank (GlimDtype d)
{
  static const GlimDtype order[] = {
    GLIM_DTYPE_BOOL, GLIM_DTYPE_U8, GLIM_DTYPE_I8, GLIM_DTYPE_F8_E5M2, GLIM_DTYPE_F8_E4M3,
    GLIM_DTYPE_I16, GLIM_DTYPE_U16, GLIM_DTYPE_F16, GLIM_DTYPE_BF16, GLIM_DTYPE_I32,
    GLIM_DTYPE_U32, GLIM_DTYPE_F32, GLIM_DTYPE_F64, GLIM_DTYPE_I64, GLIM_DTYPE_U64,
  };
  for (gsize i = 0; i < G_N_ELEMENTS (order); i++)
    if (order[i] == d)
      return (int) i;
  g_assert_not_reached ();
  return -1;
}

static int
compare_layout (gconstpointer a, gconstpointer b)
{
  const WTensor *x = *(WTensor *const *) a, *y = *(WTensor *const *) b;
  int rx = dtype_rank (x->dtype), ry = dtype_rank (y->dtype);
  if (rx != ry)
    return ry - rx;
  return strcmp (x->name, y->name);
}

static gboolean
append_metadata (gpointer key, gpointer value, gpointer data)
{
  GString *h = data;
  if (h->str[h->len - 1] != '{')
    g_string_append_c (h, ',');
  glim_pyjson_dump_string (h, key, -1, GLIM_PYJSON_DUMP_NONE);
  g_string_append_c (h, ':');
  glim_pyjson_dump_string (h, value, -1, GLIM_PYJSON_DUMP_NONE);
  return FALSE;
}

/* Sort the file's tensors, give them offsets and build the padded header. */
static GString *
layout_file (GlimSafetensorsWriter *w, WFile *f)
{
  g_ptr_array_sort (f->tensors, compare_layout);
  GString *h = g_string_new ("{");
  if (g_tree_nnodes (w->metadata) > 0) {
    g_string_append (h, "\"__metadata__\":{");
    g_tree_foreach (w->metadata, append_metadata, h);
    g_string_append_c (h, '}');
  }
  guint64 pos = 0;
  for (guint i = 0; i < f->tensors->len; i++) {
    WTensor *t = g_ptr_array_index (f->tensors, i);
    if (h->len > 1)
      g_string_append_c (h, ',');
    glim_pyjson_dump_string (h, t->name, -1, GLIM_PYJSON_DUMP_NONE);
    g_string_append_printf (h, ":{\"dtype\":\"%s\",\"shape\":[", glim_dtype_name (t->dtype));
    for (int d = 0; d < t->n_dims; d++)
      g_string_append_printf (h, "%s%" G_GINT64_FORMAT, d ? "," : "", t->shape[d]);
    g_string_append_printf (h, "],\"data_offsets\":[%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT "]}",
                            pos, pos + t->n_bytes);
    t->offset = pos;                    /* relative for now, made absolute below */
    pos += t->n_bytes;
  }
  g_string_append_c (h, '}');
  while (h->len % 8 != 0)
    g_string_append_c (h, ' ');
  for (guint i = 0; i < f->tensors->len; i++) {
    WTensor *t = g_ptr_array_index (f->tensors, i);
    t->offset += 8 + h->len;
  }
  f->data_bytes = pos;
  return h;
}

static gboolean
io_error (GError **error, const char *path, const char *what, int err)
{
  g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_IO, "%s: %s: %s", path, what,
               g_strerror (err));
  return FALSE;
}

static gboolean
pwrite_all (int fd, const void *data, gsize n, guint64 offset, const char *path, GError **error)
{
  const uint8_t *p = data;
  while (n > 0) {
    ssize_t k = pwrite (fd, p, n > (1u << 30) ? (1u << 30) : n, (off_t) offset);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      return io_error (error, path, "write failed", errno);
    }
    p += k;
    n -= (gsize) k;
    offset += (guint64) k;
  }
  return TRUE;
}

gboolean
glim_safetensors_writer_begin (GlimSafetensorsWriter *w, GError **error)
{
  g_return_val_if_fail (w != NULL && !w->begun, FALSE);
  w->begun = TRUE;

  /* Shards, by transformers' split_torch_state_dict_into_shards rule. */
  g_autoptr (GPtrArray) shards =
    g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  GPtrArray *cur = NULL;
  guint64 cur_bytes = 0;
  for (guint i = 0; i < w->tensors->len; i++) {
    WTensor *t = g_ptr_array_index (w->tensors, i);
    w->total_bytes += t->n_bytes;
    if (w->shard_max_bytes > 0 && t->n_bytes > w->shard_max_bytes) {
      GPtrArray *own = g_ptr_array_new ();
      g_ptr_array_add (own, t);
      g_ptr_array_add (shards, own);
      continue;
    }
    if (cur == NULL || (w->shard_max_bytes > 0 && cur_bytes + t->n_bytes > w->shard_max_bytes)) {
      cur = g_ptr_array_new ();
      g_ptr_array_add (shards, cur);
      cur_bytes = 0;
    }
    g_ptr_array_add (cur, t);
    cur_bytes += t->n_bytes;
  }
  if (shards->len == 0)
    g_ptr_array_add (shards, g_ptr_array_new ());   /* an empty model.safetensors */

  for (guint s = 0; s < shards->len; s++) {
    WFile *f = g_new0 (WFile, 1);
    f->fd = -1;
    f->tensors = g_ptr_array_ref (g_ptr_array_index (shards, s));
    f->name = shards->len == 1 ? g_strdup ("model.safetensors")
                               : g_strdup_printf ("model-%05u-of-%05u.safetensors", s + 1,
                                                  shards->len);
    g_ptr_array_add (w->files, f);
    for (guint i = 0; i < f->tensors->len; i++)
      ((WTensor *) g_ptr_array_index (f->tensors, i))->file = s;

    g_autoptr (GString) header = layout_file (w, f);
    g_autofree char *tmpl = g_strdup_printf ("%s/.%s.XXXXXX", w->dir, f->name);
    f->fd = g_mkstemp_full (tmpl, O_RDWR | O_CLOEXEC, 0644);
    if (f->fd < 0)
      return io_error (error, tmpl, "cannot create file", errno);
    f->tmp_path = g_steal_pointer (&tmpl);
    uint8_t len8[8];
    guint64 n = header->len;
    for (int i = 0; i < 8; i++)
      len8[i] = (uint8_t) (n >> (8 * i));             /* little-endian u64 */
    g_autofree char *final = g_build_filename (w->dir, f->name, NULL);
    if (!pwrite_all (f->fd, len8, 8, 0, final, error) ||
        !pwrite_all (f->fd, header->str, header->len, 8, final, error))
      return FALSE;
    if (ftruncate (f->fd, (off_t) (8 + header->len + f->data_bytes)) != 0)
      return io_error (error, final, "cannot size file", errno);
  }
  return TRUE;
}

gboolean
glim_safetensors_writer_write (GlimSafetensorsWriter *w, const char *name, guint64 offset,
                               const void *data, gsize n_bytes, GError **error)
{
  g_return_val_if_fail (w != NULL && w->begun && !w->finished && name != NULL, FALSE);
  WTensor *t = g_hash_table_lookup (w->by_name, name);
  if (t == NULL) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "%s: tensor \"%s\" was not declared", w->dir, name);
    return FALSE;
  }
  if (offset > t->n_bytes || n_bytes > t->n_bytes - offset) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "%s: tensor \"%s\": bytes [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                 ") lie outside its %" G_GUINT64_FORMAT " bytes", w->dir, name, offset,
                 offset + n_bytes, t->n_bytes);
    return FALSE;
  }
  WFile *f = g_ptr_array_index (w->files, t->file);
  if (n_bytes > 0) {
    g_autofree char *final = g_build_filename (w->dir, f->name, NULL);
    if (!pwrite_all (f->fd, data, n_bytes, t->offset + offset, final, error))
      return FALSE;
  }
  g_mutex_lock (&w->lock);
  t->written += n_bytes;
  g_mutex_unlock (&w->lock);
  return TRUE;
}

/* ---- finishing ---- */

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static char *
index_json (GlimSafetensorsWriter *w)
{
  /* transformers: json.dumps(index, indent=2, sort_keys=True) + "\n" */
  GString *s = g_string_new ("{\n  \"metadata\": {\n");
  g_string_append_printf (s, "    \"total_size\": %" G_GUINT64_FORMAT "\n  },\n", w->total_bytes);
  g_string_append (s, "  \"weight_map\": {");
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  for (guint i = 0; i < w->tensors->len; i++)
    g_ptr_array_add (names, ((WTensor *) g_ptr_array_index (w->tensors, i))->name);
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++) {
    const WTensor *t = g_hash_table_lookup (w->by_name, g_ptr_array_index (names, i));
    const WFile *f = g_ptr_array_index (w->files, t->file);
    g_string_append (s, i ? ",\n    " : "\n    ");
    glim_pyjson_dump_string (s, t->name, -1, GLIM_PYJSON_DUMP_ENSURE_ASCII);
    g_string_append (s, ": ");
    glim_pyjson_dump_string (s, f->name, -1, GLIM_PYJSON_DUMP_ENSURE_ASCII);
  }
  g_string_append (s, names->len ? "\n  }\n}\n" : "}\n}\n");
  return g_string_free (s, FALSE);
}

gboolean
glim_safetensors_writer_finish (GlimSafetensorsWriter *w, GError **error)
{
  g_return_val_if_fail (w != NULL && w->begun && !w->finished, FALSE);
  for (guint i = 0; i < w->tensors->len; i++) {
    const WTensor *t = g_ptr_array_index (w->tensors, i);
    if (t->written != t->n_bytes) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                   "%s: tensor \"%s\": %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                   " bytes were written", w->dir, t->name, t->written, t->n_bytes);
      return FALSE;
    }
  }
  /* Flush everything before any rename, so a crash leaves either the old state or temp files. */
  for (guint i = 0; i < w->files->len; i++) {
    WFile *f = g_ptr_array_index (w->files, i);
    int fd = f->fd;
    f->fd = -1;
    if (fsync (fd) != 0 || close (fd) != 0)
      return io_error (error, f->tmp_path, "cannot flush file", errno);
  }
  g_autofree char *index_path = g_build_filename (w->dir, "model.safetensors.index.json", NULL);
  if (w->files->len == 1)
    g_unlink (index_path);            /* a stale index would shadow the new single file */
  for (guint i = 0; i < w->files->len; i++) {
    WFile *f = g_ptr_array_index (w->files, i);
    g_autofree char *final = g_build_filename (w->dir, f->name, NULL);
    if (g_rename (f->tmp_path, final) != 0)
      return io_error (error, final, "cannot rename the finished file into place", errno);
    g_clear_pointer (&f->tmp_path, g_free);
  }
  w->finished = TRUE;
  if (w->files->len > 1) {
    g_autofree char *text = index_json (w);
    g_autoptr (GError) local = NULL;
    if (!g_file_set_contents_full (index_path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT |
                                   G_FILE_SET_CONTENTS_DURABLE, 0644, &local)) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  }
  return TRUE;
}

guint
glim_safetensors_writer_n_files (GlimSafetensorsWriter *w)
{
  return w->files->len;
}

guint64
glim_safetensors_writer_total_bytes (GlimSafetensorsWriter *w)
{
  return w->total_bytes;
}

gint64
glim_safetensors_writer_tensor_bytes (GlimSafetensorsWriter *w, const char *name)
{
  const WTensor *t = g_hash_table_lookup (w->by_name, name);
  return t ? (gint64) t->n_bytes : -1;
}
