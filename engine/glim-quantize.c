/* glim-quantize.c: BF16/F16/F32 checkpoint -> ModelOpt NVFP4 export (`glimmer-cli quantize`).
 * SPDX-License-Identifier: MIT
 *
 * The numbers are ModelOpt's (modelopt/torch/quantization/qtensor/nvfp4_tensor.py, export via
 * unified_export_hf.py), reimplemented and checked bit for bit against ModelOpt 0.47 on CPU:
 *   weight_scale_2 = amax(group) / (6 * 448)               float32 division
 *   s_b            = amax(block) / (6 * weight_scale_2)     float32; 0 -> 1.0 (zero block)
 *   weight_scale   = fp8_e4m3(clamp(s_b, 2^-9, 448))        round half to even
 *   q              = e2m1(w / (float(weight_scale) * weight_scale_2))
 * where e2m1 counts the bounds {.25,.75,1.25,1.75,2.5,3.5,5} strictly below |x| and adds one at
 * exactly .75, 1.75 and 3.5 (ties to the even code), sign from x < 0 (so -0.1 -> code 8, -0).
 * A group is the modules reading one input (q_a/q + kv_a; gate + up), whose amax is unified.
 *
 * Deliberate differences from ModelOpt:
 * - input_scale (static activation scale, amax of calibration activations / (6 * 448)) is not
 *   written: it needs calibration data and a forward pass. Weight-only (W4A16) consumers --
 *   Glimmer, vLLM's Marlin path on Hopper -- ignore it; FP4-activation (W4A4) kernels need a
 *   calibrated ModelOpt export instead.
 * - A group whose weights are all zero gets block scales 1.0 and zero codes (ModelOpt divides
 *   0 by 0 and writes NaN scales).
 * - When ModelOpt runs on CUDA, torch divides a tensor by a Python scalar as a multiplication
 *   by its reciprocal, so its weight_scale_2 can differ from the exact division here (and on
 *   CPU) in the last bit; block scales and codes follow from whichever value is used. */
#define G_LOG_DOMAIN "glimmer-quantize"

#include "glim-quantize.h"

#include "glim-safetensors-writer.h"
#include "glim-safetensors.h"

#include <gio/gio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COPY_CHUNK (64u << 20)       /* bytes per copy job */
#define ROWS_CHUNK_FLOATS (1u << 20) /* floats converted at a time while quantizing */

/* ---- NVFP4 arithmetic ---- */

float
glim_nvfp4_scale_2 (float amax)
{
  return amax / 2688.0f;                              /* E2M1_MAX * E4M3_MAX = 6 * 448 */
}

/* ModelOpt NVFP4QTensor._cast_fp4. The !(a <= b) form counts NaN past every bound, as
 * torch.searchsorted does. */
static inline uint8_t
e2m1_code (float x)
{
  uint8_t sign = x < 0.0f;
  float a = fabsf (x);
  uint8_t q = (uint8_t) (!(a <= 0.25f) + !(a <= 0.75f) + !(a <= 1.25f) + !(a <= 1.75f) +
                         !(a <= 2.5f) + !(a <= 3.5f) + !(a <= 5.0f));
  q += (uint8_t) ((a == 0.75f) | (a == 1.75f) | (a == 3.5f));
  return (uint8_t) ((sign << 3) + q);
}

void
glim_nvfp4_quantize (const float *w, gsize rows, gsize cols, float scale_2, uint8_t *packed,
                     uint8_t *scales)
{
  g_return_if_fail (cols % 16 == 0);
  const float d6 = 6.0f * scale_2;
  gsize n_blocks = rows * (cols / 16);
  for (gsize b = 0; b < n_blocks; b++) {
    const float *x = w + b * 16;
    uint8_t *out = packed + b * 8;
    if (scale_2 == 0.0f) {                            /* all-zero group, see the header */
      scales[b] = 0x38;                               /* 1.0 */
      memset (out, 0, 8);
      continue;
    }
    float amax = 0.0f;
    for (int i = 0; i < 16; i++)
      amax = fmaxf (amax, fabsf (x[i]));
    float s = amax / d6;
    if (s == 0.0f)
      s = 1.0f;
    if (s < 0x1p-9f)
      s = 0x1p-9f;
    if (s > 448.0f)
      s = 448.0f;
    scales[b] = glim_f32_to_fp8_e4m3 (s);
    const float denom = glim_fp8_e4m3_to_f32 (scales[b]) * scale_2;
    for (int j = 0; j < 8; j++)
      out[j] = (uint8_t) (e2m1_code (x[2 * j] / denom) | e2m1_code (x[2 * j + 1] / denom) << 4);
  }
}

/* ---- planning ---- */

typedef enum { JOB_GROUP, JOB_COPY } JobKind;

typedef struct {
  JobKind           kind;
  guint             group;      /* JOB_GROUP: index into Quant.groups */
  const GlimTensor *tensor;     /* JOB_COPY */
  guint64           offset;     /* JOB_COPY: byte range of the tensor */
  guint64           n_bytes;
} Job;

typedef struct {
  const GlimQuantizeOptions *opt;
  GlimTensorStore           *store;
  GlimSafetensorsWriter     *writer;
  GPtrArray                 *groups;   /* GPtrArray of const GlimExportEntry* */
  GArray                    *jobs;     /* Job */
} Quant;

typedef struct {
  char     *name;
  GlimDtype dtype;
  int       n_dims;
  int64_t   shape[GLIM_TENSOR_MAX_DIMS];
} OutTensor;

static void
out_tensor_free (gpointer p)
{
  OutTensor *o = p;
  g_free (o->name);
  g_free (o);
}

static void
declare (GPtrArray *out, const char *name, GlimDtype dtype, int n_dims, const int64_t *shape)
{
  OutTensor *o = g_new0 (OutTensor, 1);
  o->name = g_strdup (name);
  o->dtype = dtype;
  o->n_dims = n_dims;
  if (n_dims > 0)
    memcpy (o->shape, shape, sizeof (int64_t) * n_dims);
  g_ptr_array_add (out, o);
}

static int
compare_out (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(OutTensor *const *) a)->name, (*(OutTensor *const *) b)->name);
}

static gboolean
is_float (GlimDtype d)
{
  return d == GLIM_DTYPE_BF16 || d == GLIM_DTYPE_F16 || d == GLIM_DTYPE_F32;
}

/* The tensor of a layout entry must exist, be floating point and have the config's shape. */
static const GlimTensor *
check_entry (const char *dir, GlimTensorStore *store, const GlimExportEntry *e, GError **error)
{
  const GlimTensor *t = glim_tensor_store_lookup (store, e->tensor);
  if (t == NULL) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_TENSOR_MISSING,
                 "%s: tensor \"%s\" is missing", dir, e->tensor);
    return NULL;
  }
  if (!is_float (t->dtype)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_TENSOR_DTYPE,
                 "%s/%s: tensor \"%s\" has dtype %s, expected BF16, F16 or F32%s", dir, t->file,
                 t->name, glim_dtype_name (t->dtype),
                 t->dtype == GLIM_DTYPE_U8 ? " (is the model already quantized?)" : "");
    return NULL;
  }
  int64_t want[2] = { e->rows, e->cols };
  int n_dims = e->kind == GLIM_EXPORT_VECTOR ? 1 : 2;
  gboolean ok = t->n_dims == n_dims;
  for (int d = 0; ok && d < n_dims; d++)
    ok = t->shape[d] == want[d];
  if (!ok) {
    g_autofree char *have = glim_shape_to_string (t->shape, t->n_dims);
    g_autofree char *expect = glim_shape_to_string (want, n_dims);
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_TENSOR_SHAPE,
                 "%s/%s: tensor \"%s\" has shape %s, but config.json implies %s", dir, t->file,
                 t->name, have, expect);
    return NULL;
  }
  if (e->nvfp4 && e->cols % 16 != 0) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_TENSOR_SHAPE,
                 "%s/%s: tensor \"%s\" has %d input features, not a multiple of the NVFP4 "
                 "block size 16", dir, t->file, t->name, e->cols);
    return NULL;
  }
  return t;
}

/* Index of an MTP layer ("model.layers.N.*" with N >= n_layers), or -1. */
static int
mtp_layer_of (const char *name, int n_layers)
{
  if (!g_str_has_prefix (name, "model.layers."))
    return -1;
  char *end = NULL;
  guint64 l = g_ascii_strtoull (name + 13, &end, 10);
  if (end == name + 13 || *end != '.' || l > G_MAXINT)
    return -1;
  return (int) l >= n_layers ? (int) l : -1;
}

static int
compare_ints (gconstpointer a, gconstpointer b)
{
  return *(const int *) a - *(const int *) b;
}

/* ---- jobs ---- */

/* Largest |w| of a tensor; NaN or infinity is an error naming the tensor. */
static gboolean
tensor_amax (const char *dir, const GlimTensor *t, float *buf, gsize cols, float *amax,
             GError **error)
{
  gsize rows = t->n_elements / cols, esz = glim_dtype_size (t->dtype);
  gsize chunk = MAX (1, ROWS_CHUNK_FLOATS / cols);
  float m = 0.0f;
  for (gsize r0 = 0; r0 < rows; r0 += chunk) {
    gsize n = MIN (chunk, rows - r0) * cols;
    glim_dtype_to_f32 (t->dtype, (const uint8_t *) t->data + r0 * cols * esz, buf, n);
    for (gsize i = 0; i < n; i++) {
      if (!isfinite (buf[i])) {
        g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT,
                     "%s/%s: tensor \"%s\" holds %g at [%" G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT
                     "]", dir, t->file, t->name, buf[i], r0 + i / cols, i % cols);
        return FALSE;
      }
      m = fmaxf (m, fabsf (buf[i]));
    }
  }
  *amax = m;
  return TRUE;
}

static gboolean
write_module (Quant *q, const GlimExportEntry *e, const GlimTensor *t, float scale_2, float *buf,
              GError **error)
{
  gsize rows = (gsize) e->rows, cols = (gsize) e->cols, esz = glim_dtype_size (t->dtype);
  gsize chunk = MAX (1, ROWS_CHUNK_FLOATS / cols);
  g_autofree uint8_t *packed = g_malloc (chunk * cols / 2);
  g_autofree uint8_t *scales = g_malloc (chunk * cols / 16);
  g_autofree char *wname = g_strconcat (e->module, ".weight", NULL);
  g_autofree char *sname = g_strconcat (e->module, ".weight_scale", NULL);
  g_autofree char *s2name = g_strconcat (e->module, ".weight_scale_2", NULL);
  for (gsize r0 = 0; r0 < rows; r0 += chunk) {
    gsize n = MIN (chunk, rows - r0);
    glim_dtype_to_f32 (t->dtype, (const uint8_t *) t->data + r0 * cols * esz, buf, n * cols);
    glim_nvfp4_quantize (buf, n, cols, scale_2, packed, scales);
    if (!glim_safetensors_writer_write (q->writer, wname, r0 * cols / 2, packed, n * cols / 2,
                                        error) ||
        !glim_safetensors_writer_write (q->writer, sname, r0 * cols / 16, scales, n * cols / 16,
                                        error))
      return FALSE;
  }
  uint8_t le[4];
  uint32_t bits;
  memcpy (&bits, &scale_2, 4);
  for (int i = 0; i < 4; i++)
    le[i] = (uint8_t) (bits >> (8 * i));
  return glim_safetensors_writer_write (q->writer, s2name, 0, le, 4, error);
}

static gboolean
run_job (gpointer data, guint index, GError **error)
{
  Quant *q = data;
  const Job *job = &g_array_index (q->jobs, Job, index);
  if (job->kind == JOB_COPY)
    return glim_safetensors_writer_write (q->writer, job->tensor->name, job->offset,
                                          (const uint8_t *) job->tensor->data + job->offset,
                                          job->n_bytes, error);

  GPtrArray *members = g_ptr_array_index (q->groups, job->group);
  const GlimExportEntry *first = g_ptr_array_index (members, 0);
  gsize cols = (gsize) first->cols;
  g_autofree float *buf = g_new (float, MAX (1, ROWS_CHUNK_FLOATS / cols) * cols);
  float amax = 0.0f;
  for (guint i = 0; i < members->len; i++) {
    const GlimExportEntry *e = g_ptr_array_index (members, i);
    float m;
    if (!tensor_amax (q->opt->in_dir, glim_tensor_store_lookup (q->store, e->tensor), buf, cols,
                      &m, error))
      return FALSE;
    amax = fmaxf (amax, m);
  }
  float scale_2 = glim_nvfp4_scale_2 (amax);
  for (guint i = 0; i < members->len; i++) {
    const GlimExportEntry *e = g_ptr_array_index (members, i);
    if (!write_module (q, e, glim_tensor_store_lookup (q->store, e->tensor), scale_2, buf, error))
      return FALSE;
  }
  return TRUE;
}

/* ---- folder ---- */

static gboolean
write_config (const char *in_dir, const char *stage, const char *const *exclude, GError **error)
{
  g_autofree char *path = g_build_filename (in_dir, "config.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  if (!json_parser_load_from_mapped_file (parser, path, &local)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT, "%s: %s", path,
                 local->message);
    return FALSE;
  }
  JsonNode *root = json_parser_get_root (parser);
  json_object_set_member (json_node_get_object (root), "quantization_config",
                          glim_export_config_quantization (exclude));
  /* ModelOpt rewrites config.json with json.dump(config, indent=4). */
  return glim_export_write_json (stage, "config.json", root, 4, FALSE, error);
}

/* Copy the folder's other files (tokenizer, chat template, generation config, ...). */
static gboolean
copy_side_files (const char *in_dir, const char *stage, GError **error)
{
  g_autoptr (GError) local = NULL;
  GDir *d = g_dir_open (in_dir, 0, &local);
  if (d == NULL) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_IO, "%s", local->message);
    return FALSE;
  }
  const char *name;
  gboolean ok = TRUE;
  while (ok && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *src = g_build_filename (in_dir, name, NULL);
    if (name[0] == '.' || g_str_has_suffix (name, ".safetensors") ||
        strcmp (name, "model.safetensors.index.json") == 0 || strcmp (name, "config.json") == 0 ||
        strcmp (name, "hf_quant_config.json") == 0 || !g_file_test (src, G_FILE_TEST_IS_REGULAR))
      continue;
    g_autofree char *dst = g_build_filename (stage, name, NULL);
    g_autoptr (GFile) fsrc = g_file_new_for_path (src);
    g_autoptr (GFile) fdst = g_file_new_for_path (dst);
    if (!g_file_copy (fsrc, fdst, G_FILE_COPY_NONE, NULL, NULL, NULL, &local)) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_IO, "%s: %s", src, local->message);
      ok = FALSE;
    }
  }
  g_dir_close (d);
  return ok;
}

/* ---- entry point ---- */

static gboolean
quantize_into (const GlimQuantizeOptions *opt, Quant *q, const char *stage, GError **error)
{
  const char *in = opt->in_dir;
  g_autoptr (GlimConfig) config = glim_config_load (in, error);
  if (config == NULL)
    return FALSE;
  if (config->quant.nvfp4) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                 "%s: already quantized (quant_algo %s in %s)", in, config->quant.quant_algo,
                 config->quant.source);
    return FALSE;
  }
  q->store = glim_tensor_store_open (in, error);
  if (q->store == NULL)
    return FALSE;
  g_autoptr (GPtrArray) layout = glim_export_layout (config, FALSE);
  for (const char *const *p = opt->keep_wide; p != NULL && *p != NULL; p++) {
    const char *one[] = { *p, NULL };
    if (glim_export_layout_keep_wide (layout, one) == 0) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                   "keep-wide pattern \"%s\" matches no quantizable module", *p);
      return FALSE;
    }
  }

  /* Validate every tensor the config implies; group the NVFP4 modules. */
  g_autoptr (GHashTable) quantized = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) group_of = g_hash_table_new (g_direct_hash, g_direct_equal);
  for (guint i = 0; i < layout->len; i++) {
    const GlimExportEntry *e = g_ptr_array_index (layout, i);
    if (check_entry (in, q->store, e, error) == NULL)
      return FALSE;
    if (!e->nvfp4)
      continue;
    g_hash_table_insert (quantized, e->tensor, (gpointer) e);
    gpointer key = GINT_TO_POINTER (e->group + 1);     /* + 1: a key may not be NULL */
    GPtrArray *members = e->group >= 0 ? g_hash_table_lookup (group_of, key) : NULL;
    if (members == NULL) {
      members = g_ptr_array_new ();
      g_ptr_array_add (q->groups, members);
      if (e->group >= 0)
        g_hash_table_insert (group_of, key, members);
      Job job = { JOB_GROUP, q->groups->len - 1, NULL, 0, 0 };
      g_array_append_val (q->jobs, job);
    }
    g_ptr_array_add (members, (gpointer) e);
  }

  /* Output tensors: quantized modules become weight/weight_scale/weight_scale_2; every other
   * tensor of the input (including MTP layers and anything unknown) is copied unchanged. */
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (out_tensor_free);
  g_autoptr (GArray) mtp_layers = g_array_new (FALSE, FALSE, sizeof (int));
  GPtrArray *names = glim_tensor_store_names (q->store);
  for (guint i = 0; i < names->len; i++) {
    const char *name = g_ptr_array_index (names, i);
    const GlimTensor *t = glim_tensor_store_lookup (q->store, name);
    const GlimExportEntry *e = g_hash_table_lookup (quantized, name);
    if (e != NULL) {
      g_autofree char *w = g_strconcat (e->module, ".weight", NULL);
      g_autofree char *s = g_strconcat (e->module, ".weight_scale", NULL);
      g_autofree char *s2 = g_strconcat (e->module, ".weight_scale_2", NULL);
      int64_t wshape[2] = { e->rows, e->cols / 2 }, sshape[2] = { e->rows, e->cols / 16 };
      declare (out, w, GLIM_DTYPE_U8, 2, wshape);
      declare (out, s, GLIM_DTYPE_F8_E4M3, 2, sshape);
      declare (out, s2, GLIM_DTYPE_F32, 0, NULL);
      continue;
    }
    declare (out, name, t->dtype, t->n_dims, t->shape);
    guint64 off = 0;
    do {                                         /* a zero-byte tensor still gets one job */
      Job job = { JOB_COPY, 0, t, off, MIN (COPY_CHUNK, t->n_bytes - off) };
      g_array_append_val (q->jobs, job);
      off += COPY_CHUNK;
    } while (off < t->n_bytes);
    int l = mtp_layer_of (name, config->n_layers);
    gboolean seen = FALSE;
    for (guint k = 0; k < mtp_layers->len; k++)
      seen |= g_array_index (mtp_layers, int, k) == l;
    if (l >= 0 && !seen)
      g_array_append_val (mtp_layers, l);
  }
  g_array_sort (mtp_layers, compare_ints);
  g_ptr_array_sort (out, compare_out);

  q->writer = glim_safetensors_writer_new (stage, opt->shard_max_bytes);
  glim_safetensors_writer_set_metadata (q->writer, "format", "pt");
  for (guint i = 0; i < out->len; i++) {
    const OutTensor *o = g_ptr_array_index (out, i);
    if (!glim_safetensors_writer_add (q->writer, o->name, o->dtype, o->n_dims, o->shape, error))
      return FALSE;
  }
  if (!glim_safetensors_writer_begin (q->writer, error))
    return FALSE;

  /* Progress is weighed by input bytes read. */
  g_autofree guint64 *weight = g_new (guint64, MAX (1, q->jobs->len));
  for (guint i = 0; i < q->jobs->len; i++) {
    const Job *job = &g_array_index (q->jobs, Job, i);
    weight[i] = job->n_bytes;
    if (job->kind == JOB_GROUP) {
      GPtrArray *members = g_ptr_array_index (q->groups, job->group);
      for (guint k = 0; k < members->len; k++) {
        const GlimExportEntry *e = g_ptr_array_index (members, k);
        weight[i] += glim_tensor_store_lookup (q->store, e->tensor)->n_bytes;
      }
    }
  }
  if (!glim_export_run_jobs (q->jobs->len, weight, opt->n_threads, run_job, q, opt->progress,
                             opt->progress_data, error) ||
      !glim_safetensors_writer_finish (q->writer, error))
    return FALSE;

  g_auto (GStrv) exclude = glim_export_exclude_modules (layout, mtp_layers);
  g_autoptr (JsonNode) hq = glim_export_hf_quant_config ((const char *const *) exclude);
  return glim_export_write_json (stage, "hf_quant_config.json", hq, 4, FALSE, error) &&
         write_config (in, stage, (const char *const *) exclude, error) &&
         copy_side_files (in, stage, error);
}

gboolean
glim_quantize (const GlimQuantizeOptions *opt, GError **error)
{
  g_return_val_if_fail (opt != NULL && opt->in_dir != NULL && opt->out_dir != NULL, FALSE);
  if (!g_file_test (opt->in_dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_NOT_FOUND, "%s: no such model folder",
                 opt->in_dir);
    return FALSE;
  }
  g_autofree char *stage = glim_export_stage_new (opt->out_dir, error);
  if (stage == NULL)
    return FALSE;
  Quant q = { opt, NULL, NULL, g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref),
              g_array_new (FALSE, FALSE, sizeof (Job)) };
  gboolean ok = quantize_into (opt, &q, stage, error);
  g_clear_pointer (&q.writer, glim_safetensors_writer_free);
  g_clear_pointer (&q.store, glim_tensor_store_free);
  g_ptr_array_unref (q.groups);
  g_array_unref (q.jobs);
  if (ok)
    ok = glim_export_stage_commit (stage, opt->out_dir, error);
  if (!ok)
    glim_export_stage_remove (stage);
  return ok;
}
