/* glim-synth.c: random-weight NVFP4 models in the ModelOpt export layout (`glimmer-cli synth`).
 * SPDX-License-Identifier: MIT
 *
 * Every tensor is cut into fixed chunks; each chunk draws from its own SplitMix64 stream seeded
 * by (seed, tensor name, chunk index), so the bytes depend only on the seed and the config, not
 * on the number of threads or the order in which chunks run, and a tensor's bytes do not change
 * when other tensors are added (e.g. with --mtp).
 *
 * Scales: NVFP4 codes are uniform over all 16 (mean square of the E2M1 values: 8.5625), block
 * scales uniform over the E4M3 codes 0x68..0x7e (64..448, where a real export's block scales
 * mostly lie), and weight_scale_2 = 1 / sqrt(in * 8.5625 * E[scale^2]), so every dequantised
 * weight matrix has standard deviation 1/sqrt(in_features) and activations keep their size
 * through all layers. Wide linears (router, lm_head, MTP) are N(0, 1/in) BF16, the embedding
 * N(0, 1), norms 1 + U(-0.05, 0.05), the router bias N(0, 0.01^2) F32. "N" is the sum of four
 * uniforms (Irwin-Hall), which is cheap and plenty normal for a benchmark. */
#define G_LOG_DOMAIN "glimmer-synth"

#include "glim-synth.h"

#include "glim-safetensors-writer.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define CHUNK_BYTES (4u << 20)                 /* bytes generated per job */
#define SCALE_CODE_MIN 0x68                    /* 64.0 */
#define SCALE_CODE_MAX 0x7e                    /* 448.0 */
#define N_SCALE_CODES (SCALE_CODE_MAX - SCALE_CODE_MIN + 1)
#define E2M1_MEAN_SQUARE 8.5625                /* mean of the 16 codes' squared values */

/* ---- presets ---- */

/* model.md section 1: zai-org/GLM-4.7-Flash config.json, verbatim. */
static const char glm_4_7_flash_config[] =
  "{\"architectures\": [\"Glm4MoeLiteForCausalLM\"], \"attention_bias\": false,"
  " \"attention_dropout\": 0.0, \"pad_token_id\": 154820,"
  " \"eos_token_id\": [154820, 154827, 154829], \"hidden_act\": \"silu\", \"hidden_size\": 2048,"
  " \"intermediate_size\": 10240, \"max_position_embeddings\": 202752,"
  " \"model_type\": \"glm4_moe_lite\", \"moe_intermediate_size\": 1536,"
  " \"topk_method\": \"noaux_tc\", \"norm_topk_prob\": true, \"num_attention_heads\": 20,"
  " \"n_group\": 1, \"topk_group\": 1, \"n_routed_experts\": 64, \"n_shared_experts\": 1,"
  " \"routed_scaling_factor\": 1.8, \"num_experts_per_tok\": 4, \"first_k_dense_replace\": 1,"
  " \"num_hidden_layers\": 47, \"num_key_value_heads\": 20, \"num_nextn_predict_layers\": 1,"
  " \"partial_rotary_factor\": 1.0, \"rms_norm_eps\": 1e-05, \"rope_scaling\": null,"
  " \"rope_theta\": 1000000, \"tie_word_embeddings\": false, \"dtype\": \"bfloat16\","
  " \"transformers_version\": \"5.0.0rc0\", \"q_lora_rank\": 768, \"kv_lora_rank\": 512,"
  " \"qk_nope_head_dim\": 192, \"qk_rope_head_dim\": 64, \"v_head_dim\": 256,"
  " \"vocab_size\": 154880}";

/* The same architecture in miniature (about 1.3 MB): one dense layer then one MoE layer. */
static const char *const tiny_overrides[] = {
  "hidden_size=128", "intermediate_size=256", "moe_intermediate_size=64",
  "num_attention_heads=4", "num_key_value_heads=4", "n_routed_experts=8",
  "num_experts_per_tok=2", "num_hidden_layers=2", "q_lora_rank=64", "kv_lora_rank=64",
  "qk_nope_head_dim=32", "qk_rope_head_dim=16", "v_head_dim=32", "vocab_size=2048",
  "max_position_embeddings=4096", NULL,
};

/* Keys glim_config_load understands that the real config.json does not have. */
static const char *const extra_keys[] = {
  "mlp_layer_types", "moe_layer_freq", "rope_parameters", "rope_interleave", "scoring_func",
  "bos_token_id", NULL,
};

static const char *const preset_names[] = { "glm-4.7-flash", "tiny", NULL };

const char *const *
glim_synth_presets (void)
{
  return preset_names;
}

static gboolean
apply_override (JsonObject *config, const char *text, gboolean check_known, GHashTable *set_keys,
                GError **error)
{
  const char *eq = strchr (text, '=');
  if (eq == NULL || eq == text) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "override \"%s\" is not KEY=VALUE", text);
    return FALSE;
  }
  g_autofree char *key = g_strndup (text, eq - text);
  if (check_known && !json_object_has_member (config, key) &&
      !g_strv_contains (extra_keys, key)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "override \"%s\": config.json has no key \"%s\"", text, key);
    return FALSE;
  }
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *value;
  if (json_parser_load_from_data (parser, eq + 1, -1, NULL) && json_parser_get_root (parser))
    value = json_node_copy (json_parser_get_root (parser));
  else
    value = json_node_init_string (json_node_alloc (), eq + 1);
  json_object_set_member (config, key, value);
  if (set_keys != NULL)
    g_hash_table_add (set_keys, g_strdup (key));
  return TRUE;
}

/* Token ids the vocabulary cannot hold move to the same distance from its end as in the real
 * model (eos 154820 is 60 ids before 154880), or to its last id. */
static gint64
fit_id (gint64 id, gint64 vocab)
{
  if (id < vocab)
    return id;
  gint64 from_end = 154880 - id;
  return from_end > 0 && from_end <= vocab ? vocab - from_end : vocab - 1;
}

static void
fit_token_ids (JsonObject *config, GHashTable *set_keys)
{
  JsonNode *vn = json_object_get_member (config, "vocab_size");
  if (vn == NULL || json_node_get_value_type (vn) != G_TYPE_INT64 || json_node_get_int (vn) < 1)
    return;                                      /* the config loader will say why */
  gint64 vocab = json_node_get_int (vn);
  JsonNode *pad = json_object_get_member (config, "pad_token_id");
  if (!g_hash_table_contains (set_keys, "pad_token_id") && pad != NULL &&
      JSON_NODE_HOLDS_VALUE (pad) && json_node_get_value_type (pad) == G_TYPE_INT64)
    json_object_set_int_member (config, "pad_token_id", fit_id (json_node_get_int (pad), vocab));
  JsonNode *eos = json_object_get_member (config, "eos_token_id");
  if (!g_hash_table_contains (set_keys, "eos_token_id") && eos != NULL &&
      JSON_NODE_HOLDS_ARRAY (eos)) {
    JsonArray *a = json_node_get_array (eos);
    JsonArray *fitted = json_array_new ();
    for (guint i = 0; i < json_array_get_length (a); i++)
      json_array_add_int_element (fitted, fit_id (json_array_get_int_element (a, i), vocab));
    json_object_set_array_member (config, "eos_token_id", fitted);
  }
}

static JsonNode *
build_config (const GlimSynthOptions *opt, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, glm_4_7_flash_config, -1, error))
    g_assert_not_reached ();
  g_autoptr (JsonNode) root = json_node_copy (json_parser_get_root (parser));
  JsonObject *config = json_node_get_object (root);
  if (strcmp (opt->preset, "tiny") == 0) {
    for (const char *const *p = tiny_overrides; *p != NULL; p++)
      apply_override (config, *p, TRUE, NULL, NULL);
  } else if (strcmp (opt->preset, "glm-4.7-flash") != 0) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "unknown preset \"%s\" (known: glm-4.7-flash, tiny)", opt->preset);
    return NULL;
  }
  g_autoptr (GHashTable) set_keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (const char *const *p = opt->overrides; p != NULL && *p != NULL; p++)
    if (!apply_override (config, *p, TRUE, set_keys, error))
      return NULL;
  fit_token_ids (config, set_keys);
  return g_steal_pointer (&root);
}

/* ---- random numbers ---- */

static inline guint64
splitmix64 (guint64 *state)
{
  guint64 z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static guint64
stream_seed (guint64 seed, const char *name, guint64 chunk)
{
  guint64 h = 0xcbf29ce484222325ull;            /* FNV-1a of the tensor name */
  for (const char *p = name; *p != '\0'; p++)
    h = (h ^ (guchar) *p) * 0x100000001b3ull;
  guint64 s = seed ^ 0x5851f42d4c957f2dull;
  guint64 a = splitmix64 (&s);
  s = a ^ h;
  guint64 b = splitmix64 (&s);
  s = b ^ (chunk * 0xd1342543de82ef95ull);
  return splitmix64 (&s);
}

/* Approximately N(0, 1): the sum of four 16-bit uniforms, centred and scaled (Irwin-Hall). */
static inline float
normal_from (guint64 r)
{
  guint32 sum = (guint32) (r & 0xffff) + (guint32) ((r >> 16) & 0xffff) +
                (guint32) ((r >> 32) & 0xffff) + (guint32) (r >> 48);
  return ((float) sum * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

/* ---- tensors ---- */

typedef enum {
  FILL_BYTES,        /* uniform random bytes: NVFP4 codes */
  FILL_SCALE_CODES,  /* E4M3 codes in [SCALE_CODE_MIN, SCALE_CODE_MAX] */
  FILL_SCALAR,       /* one float32 `value` */
  FILL_NORMAL_BF16,  /* N(0, std^2) as BF16 */
  FILL_NORM_BF16,    /* 1 + U(-0.05, 0.05) as BF16 */
  FILL_NORMAL_F32,   /* N(0, std^2) as F32 */
} Fill;

typedef struct {
  char   *name;
  Fill    fill;
  float   value;     /* FILL_SCALAR: the value; FILL_NORMAL_*: std */
  guint64 n_bytes;
} Tensor;

typedef struct {
  guint   tensor;
  guint64 chunk;
} Job;

typedef struct {
  guint64                seed;
  GPtrArray             *tensors;      /* Tensor* */
  GArray                *jobs;         /* Job */
  GlimSafetensorsWriter *writer;
} Synth;

static void
tensor_free (gpointer p)
{
  Tensor *t = p;
  g_free (t->name);
  g_free (t);
}

static gboolean
add_tensor (Synth *s, const char *name, GlimDtype dtype, int n_dims, int64_t rows, int64_t cols,
            Fill fill, float value, GError **error)
{
  int64_t shape[2] = { rows, cols };
  if (!glim_safetensors_writer_add (s->writer, name, dtype, n_dims, shape, error))
    return FALSE;
  Tensor *t = g_new0 (Tensor, 1);
  t->name = g_strdup (name);
  t->fill = fill;
  t->value = value;
  t->n_bytes = (guint64) glim_safetensors_writer_tensor_bytes (s->writer, name);
  g_ptr_array_add (s->tensors, t);
  for (guint64 c = 0; c == 0 || c * CHUNK_BYTES < t->n_bytes; c++) {
    Job job = { s->tensors->len - 1, c };
    g_array_append_val (s->jobs, job);
  }
  return TRUE;
}

/* weight_scale_2 giving dequantised weights a standard deviation of 1/sqrt(cols). */
static float
synth_scale_2 (int cols)
{
  double ms = 0;
  for (int c = SCALE_CODE_MIN; c <= SCALE_CODE_MAX; c++) {
    double v = glim_fp8_e4m3_to_f32 ((uint8_t) c);
    ms += v * v;
  }
  ms /= N_SCALE_CODES;
  return (float) (1.0 / sqrt ((double) cols * E2M1_MEAN_SQUARE * ms));
}

static gboolean
declare_entry (Synth *s, const GlimExportEntry *e, GError **error)
{
  switch (e->kind) {
  case GLIM_EXPORT_VECTOR:
    if (e->dtype == GLIM_DTYPE_F32)
      return add_tensor (s, e->tensor, GLIM_DTYPE_F32, 1, e->rows, 0, FILL_NORMAL_F32, 0.01f,
                         error);
    return add_tensor (s, e->tensor, GLIM_DTYPE_BF16, 1, e->rows, 0, FILL_NORM_BF16, 0, error);
  case GLIM_EXPORT_EMBED:
    return add_tensor (s, e->tensor, GLIM_DTYPE_BF16, 2, e->rows, e->cols, FILL_NORMAL_BF16, 1.0f,
                       error);
  case GLIM_EXPORT_LINEAR:
    if (!e->nvfp4)
      return add_tensor (s, e->tensor, GLIM_DTYPE_BF16, 2, e->rows, e->cols, FILL_NORMAL_BF16,
                         (float) (1.0 / sqrt (e->cols)), error);
    break;
  }
  g_autofree char *scale = g_strconcat (e->module, ".weight_scale", NULL);
  g_autofree char *scale_2 = g_strconcat (e->module, ".weight_scale_2", NULL);
  return add_tensor (s, e->tensor, GLIM_DTYPE_U8, 2, e->rows, e->cols / 2, FILL_BYTES, 0, error) &&
         add_tensor (s, scale, GLIM_DTYPE_F8_E4M3, 2, e->rows, e->cols / 16, FILL_SCALE_CODES, 0,
                     error) &&
         add_tensor (s, scale_2, GLIM_DTYPE_F32, 0, 0, 0, FILL_SCALAR, synth_scale_2 (e->cols),
                     error);
}

static gboolean
run_job (gpointer data, guint index, GError **error)
{
  Synth *s = data;
  const Job *job = &g_array_index (s->jobs, Job, index);
  const Tensor *t = g_ptr_array_index (s->tensors, job->tensor);
  guint64 off = job->chunk * CHUNK_BYTES;
  gsize n = (gsize) MIN ((guint64) CHUNK_BYTES, t->n_bytes - off);
  g_autofree uint8_t *buf = g_malloc (n + 8);
  guint64 state = stream_seed (s->seed, t->name, job->chunk);
  switch (t->fill) {
  case FILL_BYTES:
    for (gsize i = 0; i < n; i += 8) {
      guint64 r = splitmix64 (&state);
      memcpy (buf + i, &r, 8);                   /* buf has 8 bytes of slack */
    }
    break;
  case FILL_SCALE_CODES:
    for (gsize i = 0; i < n; i += 8) {
      guint64 r = splitmix64 (&state);
      for (gsize j = 0; j < 8 && i + j < n; j++) {  /* one random byte -> one of the 23 codes */
        guint byte = (guint) (r >> (8 * j)) & 0xff;
        buf[i + j] = (uint8_t) (SCALE_CODE_MIN + (byte * N_SCALE_CODES >> 8));
      }
    }
    break;
  case FILL_SCALAR:
    memcpy (buf, &t->value, 4);
    break;
  case FILL_NORMAL_BF16:
  case FILL_NORM_BF16:
    for (gsize i = 0; i < n / 2; i++) {
      guint64 r = splitmix64 (&state);
      float v = t->fill == FILL_NORM_BF16
              ? 1.0f + 0.1f * ((float) (r >> 40) * (1.0f / 16777216.0f) - 0.5f)
              : t->value * normal_from (r);
      uint16_t h = glim_f32_to_bf16 (v);
      memcpy (buf + 2 * i, &h, 2);
    }
    break;
  case FILL_NORMAL_F32:
    for (gsize i = 0; i < n / 4; i++) {
      float v = t->value * normal_from (splitmix64 (&state));
      memcpy (buf + 4 * i, &v, 4);
    }
    break;
  }
  return glim_safetensors_writer_write (s->writer, t->name, off, buf, n, error);
}

/* ---- entry point ---- */

static int
compare_entries (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(GlimExportEntry *const *) a)->tensor, (*(GlimExportEntry *const *) b)->tensor);
}

static gboolean
synth_into (const GlimSynthOptions *opt, Synth *s, const char *stage, GError **error)
{
  g_autoptr (JsonNode) root = build_config (opt, error);
  if (root == NULL)
    return FALSE;
  /* Write config.json without quantization_config first, so the engine's loader validates
   * exactly the keys the user can change. */
  if (!glim_export_write_json (stage, "config.json", root, 4, FALSE, error))
    return FALSE;
  g_autoptr (GError) local = NULL;
  g_autoptr (GlimConfig) config = glim_config_load (stage, &local);
  if (config == NULL) {
    g_set_error (error, local->domain, local->code, "synthesized config is invalid: %s",
                 local->message);
    return FALSE;
  }
  g_autoptr (GPtrArray) layout = glim_export_layout (config, opt->mtp);
  for (guint i = 0; i < layout->len; i++) {
    const GlimExportEntry *e = g_ptr_array_index (layout, i);
    if (e->nvfp4 && e->cols % 16 != 0) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CONFIG,
                   "synthesized config is invalid: module \"%s\" would have %d input features, "
                   "not a multiple of the NVFP4 block size 16", e->module, e->cols);
      return FALSE;
    }
  }
  if (opt->mtp && config->n_nextn_layers < 1) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CONFIG,
                 "--mtp needs num_nextn_predict_layers >= 1");
    return FALSE;
  }

  /* Tensors in name order, so shards are contiguous ranges of names. */
  g_autoptr (GPtrArray) sorted = g_ptr_array_sized_new (layout->len);   /* borrows entries */
  for (guint i = 0; i < layout->len; i++)
    g_ptr_array_add (sorted, g_ptr_array_index (layout, i));
  g_ptr_array_sort (sorted, compare_entries);
  guint64 shard = opt->shard_max_bytes >= 0 ? (guint64) opt->shard_max_bytes
                : strcmp (opt->preset, "tiny") == 0 ? 0 : 5000000000ull;
  s->writer = glim_safetensors_writer_new (stage, shard);
  glim_safetensors_writer_set_metadata (s->writer, "format", "pt");
  for (guint i = 0; i < sorted->len; i++)
    if (!declare_entry (s, g_ptr_array_index (sorted, i), error))
      return FALSE;
  if (!glim_safetensors_writer_begin (s->writer, error))
    return FALSE;
  g_autofree guint64 *weight = g_new (guint64, MAX (1, s->jobs->len));
  for (guint i = 0; i < s->jobs->len; i++) {
    const Job *job = &g_array_index (s->jobs, Job, i);
    const Tensor *t = g_ptr_array_index (s->tensors, job->tensor);
    weight[i] = MIN ((guint64) CHUNK_BYTES, t->n_bytes - job->chunk * CHUNK_BYTES);
  }
  if (!glim_export_run_jobs (s->jobs->len, weight, opt->n_threads, run_job, s, opt->progress,
                             opt->progress_data, error) ||
      !glim_safetensors_writer_finish (s->writer, error))
    return FALSE;

  g_autoptr (GArray) mtp_layers = g_array_new (FALSE, FALSE, sizeof (int));
  if (opt->mtp)
    g_array_append_val (mtp_layers, config->n_layers);
  g_auto (GStrv) exclude = glim_export_exclude_modules (layout, mtp_layers);
  g_autoptr (JsonNode) hq = glim_export_hf_quant_config ((const char *const *) exclude);
  json_object_set_member (json_node_get_object (root), "quantization_config",
                          glim_export_config_quantization ((const char *const *) exclude));
  return glim_export_write_json (stage, "hf_quant_config.json", hq, 4, FALSE, error) &&
         glim_export_write_json (stage, "config.json", root, 4, FALSE, error);
}

gboolean
glim_synth (const GlimSynthOptions *opt, GError **error)
{
  g_return_val_if_fail (opt != NULL && opt->preset != NULL && opt->out_dir != NULL, FALSE);
  g_autofree char *stage = glim_export_stage_new (opt->out_dir, error);
  if (stage == NULL)
    return FALSE;
  Synth s = { opt->seed, g_ptr_array_new_with_free_func (tensor_free),
              g_array_new (FALSE, FALSE, sizeof (Job)), NULL };
  gboolean ok = synth_into (opt, &s, stage, error);
  g_clear_pointer (&s.writer, glim_safetensors_writer_free);
  g_ptr_array_unref (s.tensors);
  g_array_unref (s.jobs);
  if (ok)
    ok = glim_export_stage_commit (stage, opt->out_dir, error);
  if (!ok)
    glim_export_stage_remove (stage);
  return ok;
}
