/* glim-export.c: layout, ModelOpt recipe decisions, config files, staging folder and job
 * runner shared by `glimmer-cli quantize` and `glimmer-cli synth`.
 * SPDX-License-Identifier: MIT
 * The recipe follows ModelOpt's NVFP4_DEFAULT_CFG export (model.md section 4.2): every Linear
 * of attention and MLPs is NVFP4; embeddings, lm_head, norms, routers and the MTP layer stay
 * wide; modules reading the same input share a max-unified weight_scale_2. */
#define G_LOG_DOMAIN "glimmer-export"

#include "glim-export.h"

#include "glim-pyjson.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#ifndef GLIMMER_VERSION
#define GLIMMER_VERSION "0.0.0"
#endif

/* ---- layout ---- */

typedef struct {
  GPtrArray *entries;
  int        next_group;
  gboolean   mtp;
} Builder;

static void
entry_free (gpointer p)
{
  GlimExportEntry *e = p;
  g_free (e->module);
  g_free (e->tensor);
  g_free (e);
}

static GlimExportEntry *
add (Builder *b, GlimExportKind kind, const char *module, const char *leaf, int rows, int cols,
     GlimDtype dtype)
{
  GlimExportEntry *e = g_new0 (GlimExportEntry, 1);
  e->module = g_strdup (module);
  e->tensor = g_strconcat (module, ".", leaf, NULL);
  e->kind = kind;
  e->rows = rows;
  e->cols = cols;
  e->dtype = dtype;
  e->group = -1;
  e->mtp = b->mtp;
  e->nvfp4 = kind == GLIM_EXPORT_LINEAR && !b->mtp;
  g_ptr_array_add (b->entries, e);
  return e;
}

static GlimExportEntry *
add_linear (Builder *b, const char *prefix, const char *name, int rows, int cols, int group)
{
  g_autofree char *module = g_strconcat (prefix, ".", name, NULL);
  GlimExportEntry *e = add (b, GLIM_EXPORT_LINEAR, module, "weight", rows, cols, GLIM_DTYPE_BF16);
  e->group = b->mtp ? -1 : group;
  return e;
}

static void
add_norm (Builder *b, const char *prefix, const char *name, int n)
{
  g_autofree char *module = g_strconcat (prefix, ".", name, NULL);
  add (b, GLIM_EXPORT_VECTOR, module, "weight", n, 0, GLIM_DTYPE_BF16);
}

static void
add_mlp (Builder *b, const char *prefix, int inner, int D)
{
  int g = b->next_group++;                       /* gate_proj and up_proj read the same x */
  add_linear (b, prefix, "gate_proj", inner, D, g);
  add_linear (b, prefix, "up_proj", inner, D, g);
  add_linear (b, prefix, "down_proj", D, inner, -1);
}

static void
add_layer (Builder *b, const GlimConfig *c, int l, gboolean is_moe)
{
  int D = c->hidden_size, H = c->n_heads;
  int Dqk = glim_config_qk_head_dim (c);
  g_autofree char *p = g_strdup_printf ("model.layers.%d", l);
  g_autofree char *attn = g_strconcat (p, ".self_attn", NULL);
  g_autofree char *mlp = g_strconcat (p, ".mlp", NULL);

  add_norm (b, p, "input_layernorm", D);
  int qkv_a = b->next_group++;                   /* q_a (or q) and kv_a read the same h */
  if (c->q_lora_rank > 0) {
    add_linear (b, attn, "q_a_proj", c->q_lora_rank, D, qkv_a);
    add_norm (b, attn, "q_a_layernorm", c->q_lora_rank);
    add_linear (b, attn, "q_b_proj", H * Dqk, c->q_lora_rank, -1);
  } else {
    add_linear (b, attn, "q_proj", H * Dqk, D, qkv_a);
  }
  add_linear (b, attn, "kv_a_proj_with_mqa", glim_config_cache_width (c), D, qkv_a);
  add_norm (b, attn, "kv_a_layernorm", c->kv_lora_rank);
  add_linear (b, attn, "kv_b_proj", H * (c->qk_nope_head_dim + c->v_head_dim), c->kv_lora_rank,
              -1);
  add_linear (b, attn, "o_proj", D, H * c->v_head_dim, -1);
  add_norm (b, p, "post_attention_layernorm", D);

  if (!is_moe) {
    add_mlp (b, mlp, c->intermediate_size, D);
    return;
  }
  g_autofree char *gate = g_strconcat (mlp, ".gate", NULL);
  GlimExportEntry *router = add (b, GLIM_EXPORT_LINEAR, gate, "weight", c->n_routed_experts, D,
                                 GLIM_DTYPE_BF16);
  router->nvfp4 = FALSE;
  router->router = TRUE;
  add (b, GLIM_EXPORT_VECTOR, gate, "e_score_correction_bias", c->n_routed_experts, 0,
       GLIM_DTYPE_F32);
  for (int e = 0; e < c->n_routed_experts; e++) {
    g_autofree char *ep = g_strdup_printf ("%s.experts.%d", mlp, e);
    add_mlp (b, ep, c->moe_intermediate_size, D);
  }
  if (c->n_shared_experts > 0) {
    g_autofree char *sp = g_strconcat (mlp, ".shared_experts", NULL);
    add_mlp (b, sp, c->moe_intermediate_size * c->n_shared_experts, D);
  }
}

GPtrArray *
glim_export_layout (const GlimConfig *c, gboolean with_mtp)
{
  g_return_val_if_fail (c != NULL, NULL);
  Builder b = { g_ptr_array_new_with_free_func (entry_free), 0, FALSE };
  int D = c->hidden_size, V = c->vocab_size;
  add (&b, GLIM_EXPORT_EMBED, "model.embed_tokens", "weight", V, D, GLIM_DTYPE_BF16);
  for (int l = 0; l < c->n_layers; l++)
    add_layer (&b, c, l, c->layer_is_moe[l]);
  add_norm (&b, "model", "norm", D);
  if (!c->tie_word_embeddings) {
    GlimExportEntry *head = add (&b, GLIM_EXPORT_LINEAR, "lm_head", "weight", V, D,
                                 GLIM_DTYPE_BF16);
    head->nvfp4 = FALSE;
  }
  if (with_mtp) {
    /* The MTP block is MoE whenever the main model has MoE layers (as glim-model binds it). */
    gboolean moe = FALSE;
    for (int l = 0; l < c->n_layers; l++)
      moe |= c->layer_is_moe[l];
    b.mtp = TRUE;
    int l = c->n_layers;
    g_autofree char *p = g_strdup_printf ("model.layers.%d", l);
    g_autofree char *embed = g_strconcat (p, ".embed_tokens", NULL);
    add (&b, GLIM_EXPORT_EMBED, embed, "weight", V, D, GLIM_DTYPE_BF16);
    add_layer (&b, c, l, moe);
    add_norm (&b, p, "enorm", D);
    add_norm (&b, p, "hnorm", D);
    add_linear (&b, p, "eh_proj", D, 2 * D, -1);
    add_norm (&b, p, "shared_head.norm", D);
    add_linear (&b, p, "shared_head.head", V, D, -1);
  }
  return b.entries;
}

guint
glim_export_layout_keep_wide (GPtrArray *layout, const char *const *patterns)
{
  guint n = 0;
  for (guint i = 0; patterns != NULL && i < layout->len; i++) {
    GlimExportEntry *e = g_ptr_array_index (layout, i);
    if (e->kind != GLIM_EXPORT_LINEAR || !e->nvfp4)
      continue;
    for (const char *const *p = patterns; *p != NULL; p++)
      if (g_pattern_match_simple (*p, e->module)) {
        e->nvfp4 = FALSE;
        n++;
        break;
      }
  }
  return n;
}

/* ---- exclude_modules ---- */

static void
add_prefix_wildcards (GHashTable *set, const char *name)
{
  g_hash_table_add (set, g_strdup (name));
  gsize n = strlen (name);
  for (gsize i = 0; i <= n; i++)
    g_hash_table_add (set, g_strdup_printf ("%.*s*", (int) i, name));
}

/* ModelOpt quant_utils._prefix_wildcard_summarize_exclude_modules: for each wide module take
 * the first candidate, in order "a*", {"a", "a.*"}, "a.b*", {"a.b", "a.b.*"}, ..., {name},
 * that matches no quantized module. */
static void
summarize_module (GHashTable *result, GHashTable *negative, const char *name)
{
  gsize n = strlen (name);
  for (gsize i = 0; i <= n; i++) {
    if (i < n && name[i] != '.')
      continue;
    for (int form = 0; form < 2; form++) {
      if (i == n && form == 1)
        break;
      g_autofree char *one = i == n ? g_strdup (name)
                           : form == 0 ? g_strdup_printf ("%.*s*", (int) i, name)
                           : g_strndup (name, i);
      g_autofree char *two = form == 1 ? g_strdup_printf ("%.*s.*", (int) i, name) : NULL;
      if (g_hash_table_contains (negative, one) || (two && g_hash_table_contains (negative, two)))
        continue;
      g_hash_table_add (result, g_steal_pointer (&one));
      if (two != NULL)
        g_hash_table_add (result, g_steal_pointer (&two));
      return;
    }
  }
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

GStrv
glim_export_exclude_modules (GPtrArray *layout, GArray *mtp_layers)
{
  g_autoptr (GHashTable) negative = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) result = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < layout->len; i++) {
    const GlimExportEntry *e = g_ptr_array_index (layout, i);
    if (e->kind != GLIM_EXPORT_LINEAR || !e->nvfp4)
      continue;
    /* transformers 5 fuses routed experts into one module, "<layer>.mlp.experts". */
    const char *experts = strstr (e->module, ".mlp.experts.");
    g_autofree char *name = experts ? g_strndup (e->module, experts - e->module + 12)
                                    : g_strdup (e->module);
    add_prefix_wildcards (negative, name);
  }
  for (guint i = 0; i < layout->len; i++) {
    const GlimExportEntry *e = g_ptr_array_index (layout, i);
    if (e->mtp || e->kind == GLIM_EXPORT_VECTOR || e->nvfp4)
      continue;
    summarize_module (result, negative, e->module);
  }
  /* lm_head has a (disabled) quantizer even when tied, so it is always listed. */
  summarize_module (result, negative, "lm_head");

  g_autoptr (GPtrArray) list = g_ptr_array_new ();
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, result);
  while (g_hash_table_iter_next (&it, &key, NULL))
    g_ptr_array_add (list, key);
  g_ptr_array_sort (list, compare_strings);
  GStrvBuilder *sb = g_strv_builder_new ();
  for (guint i = 0; i < list->len; i++)
    g_strv_builder_add (sb, g_ptr_array_index (list, i));
  for (guint i = 0; mtp_layers != NULL && i < mtp_layers->len; i++) {
    g_autofree char *pattern = g_strdup_printf ("model.layers.%d*",
                                                g_array_index (mtp_layers, int, i));
    g_strv_builder_add (sb, pattern);
  }
  GStrv out = g_strv_builder_end (sb);
  g_strv_builder_unref (sb);
  return out;
}

/* ---- quantization config ---- */

static JsonNode *
producer_node (void)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, "glimmer");
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, GLIMMER_VERSION);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
add_string_list (JsonBuilder *b, const char *const *list)
{
  json_builder_begin_array (b);
  for (const char *const *p = list; p != NULL && *p != NULL; p++)
    json_builder_add_string_value (b, *p);
  json_builder_end_array (b);
}

JsonNode *
glim_export_hf_quant_config (const char *const *exclude_modules)
{
  /* ModelOpt get_quant_config + process_layer_quant_config, NVFP4 without KV-cache quant. */
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "producer");
  json_builder_add_value (b, producer_node ());
  json_builder_set_member_name (b, "quantization");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "quant_algo");
  json_builder_add_string_value (b, "NVFP4");
  json_builder_set_member_name (b, "kv_cache_quant_algo");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "group_size");
  json_builder_add_int_value (b, 16);
  json_builder_set_member_name (b, "exclude_modules");
  add_string_list (b, exclude_modules);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
add_fp4_group (JsonBuilder *b)
{
  json_builder_begin_object (b);
  const char *keys[] = { "dynamic", "num_bits", "type", "group_size" };
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++) {
    json_builder_set_member_name (b, keys[i]);
    if (i == 0)
      json_builder_add_boolean_value (b, FALSE);
    else if (i == 2)
      json_builder_add_string_value (b, "float");
    else
      json_builder_add_int_value (b, i == 1 ? 4 : 16);
  }
  json_builder_end_object (b);
}

JsonNode *
glim_export_config_quantization (const char *const *exclude_modules)
{
  /* ModelOpt convert_hf_quant_config_format for quant_algo NVFP4. */
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "config_groups");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "group_0");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "input_activations");
  add_fp4_group (b);
  json_builder_set_member_name (b, "weights");
  add_fp4_group (b);
  json_builder_set_member_name (b, "targets");
  const char *targets[] = { "Linear", NULL };
  add_string_list (b, targets);
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "ignore");
  add_string_list (b, exclude_modules);
  json_builder_set_member_name (b, "quant_algo");
  json_builder_add_string_value (b, "NVFP4");
  json_builder_set_member_name (b, "producer");
  json_builder_add_value (b, producer_node ());
  json_builder_set_member_name (b, "quant_method");
  json_builder_add_string_value (b, "modelopt");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

gboolean
glim_export_write_json (const char *dir, const char *name, JsonNode *node, guint indent,
                        gboolean sort_keys, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GString) text = g_string_new (NULL);
  glim_pyjson_dump (text, node, indent,
                    GLIM_PYJSON_DUMP_ENSURE_ASCII | (sort_keys ? GLIM_PYJSON_DUMP_SORT_KEYS : 0));
  g_string_append_c (text, '\n');
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents (path, text->str, (gssize) text->len, &local)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_IO, "%s", local->message);
    return FALSE;
  }
  return TRUE;
}

/* ---- output folder ---- */

char *
glim_export_stage_new (const char *out_dir, GError **error)
{
  g_return_val_if_fail (out_dir != NULL, NULL);
  if (g_file_test (out_dir, G_FILE_TEST_EXISTS)) {
    GDir *d = g_file_test (out_dir, G_FILE_TEST_IS_DIR) ? g_dir_open (out_dir, 0, NULL) : NULL;
    gboolean empty = d != NULL && g_dir_read_name (d) == NULL;
    if (d != NULL)
      g_dir_close (d);
    if (!empty) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                   "%s: already exists and is not an empty folder (not overwriting it)", out_dir);
      return NULL;
    }
  }
  g_autofree char *parent = g_path_get_dirname (out_dir);
  g_autofree char *base = g_path_get_basename (out_dir);
  if (!g_file_test (parent, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_NOT_FOUND,
                 "%s: the folder it would go in, %s, does not exist", out_dir, parent);
    return NULL;
  }
  char *stage = g_strdup_printf ("%s/.%s.partial-XXXXXX", parent, base);
  if (g_mkdtemp_full (stage, 0755) == NULL) {
    int err = errno;
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_IO, "%s: cannot create: %s", stage,
                 g_strerror (err));
    g_free (stage);
    return NULL;
  }
  return stage;
}

gboolean
glim_export_stage_commit (const char *stage, const char *out_dir, GError **error)
{
  if (g_rename (stage, out_dir) != 0) {
    int err = errno;
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_IO, "%s: cannot move %s into place: %s",
                 out_dir, stage, g_strerror (err));
    return FALSE;
  }
  return TRUE;
}

void
glim_export_stage_remove (const char *stage)
{
  if (stage == NULL)
    return;
  if (g_file_test (stage, G_FILE_TEST_IS_DIR) && !g_file_test (stage, G_FILE_TEST_IS_SYMLINK)) {
    GDir *d = g_dir_open (stage, 0, NULL);
    const char *name;
    while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
      g_autofree char *child = g_build_filename (stage, name, NULL);
      glim_export_stage_remove (child);
    }
    if (d != NULL)
      g_dir_close (d);
    g_rmdir (stage);
  } else {
    g_unlink (stage);
  }
}

/* ---- parallel jobs ---- */

typedef struct {
  guint                  n_jobs;
  const guint64         *weight;
  GlimExportJobFunc      fn;
  gpointer               data;
  GlimExportProgressFunc progress;
  gpointer               progress_data;
  gint                   next;        /* atomic: next job to hand out */
  gint                   failed;      /* atomic: stop handing out jobs */
  GMutex                 lock;        /* guards error, done, progress calls */
  GError                *error;
  guint64                done;
  guint64                total;
} Runner;

static gpointer
runner_worker (gpointer p)
{
  Runner *r = p;
  while (!g_atomic_int_get (&r->failed)) {
    guint job = (guint) g_atomic_int_add (&r->next, 1);
    if (job >= r->n_jobs)
      break;
    GError *local = NULL;
    gboolean ok = r->fn (r->data, job, &local);
    g_mutex_lock (&r->lock);
    if (!ok) {
      g_atomic_int_set (&r->failed, 1);
      if (r->error == NULL)
        r->error = local;
      else
        g_clear_error (&local);
    } else {
      r->done += r->weight ? r->weight[job] : 1;
      if (r->progress != NULL)
        r->progress (r->progress_data, r->done, r->total);
    }
    g_mutex_unlock (&r->lock);
  }
  return NULL;
}

gboolean
glim_export_run_jobs (guint n_jobs, const guint64 *job_weight, int n_threads,
                      GlimExportJobFunc fn, gpointer data, GlimExportProgressFunc progress,
                      gpointer progress_data, GError **error)
{
  Runner r = { n_jobs, job_weight, fn, data, progress, progress_data, 0, 0, { 0 }, NULL, 0, 0 };
  g_mutex_init (&r.lock);
  for (guint i = 0; i < n_jobs; i++)
    r.total += job_weight ? job_weight[i] : 1;
  if (n_threads <= 0)
    n_threads = (int) g_get_num_processors ();
  n_threads = MAX (1, MIN (n_threads, (int) MAX (n_jobs, 1u)));
  g_autoptr (GPtrArray) threads = g_ptr_array_new ();
  for (int t = 1; t < n_threads; t++)
    g_ptr_array_add (threads, g_thread_new ("glim-export", runner_worker, &r));
  runner_worker (&r);
  for (guint t = 0; t < threads->len; t++)
    g_thread_join (g_ptr_array_index (threads, t));
  g_mutex_clear (&r.lock);
  if (r.error != NULL) {
    g_propagate_error (error, r.error);
    return FALSE;
  }
  return TRUE;
}
