/* glim-config.c: parse and validate config.json and the ModelOpt quantization config.
 * SPDX-License-Identifier: MIT
 * No GLM-4.7-Flash number is assumed: every hyper-parameter comes from the file, and values
 * this engine does not implement (other architectures, rope scaling, activations) are refused
 * with an error naming the key. */
#define G_LOG_DOMAIN "glimmer-config"

#include "glim-config.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

typedef struct {
  const char *file;       /* for messages: "DIR/config.json" */
  JsonObject *obj;
} Src;

static gboolean
bad_key (GError **error, const Src *src, const char *key, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
bad_key (GError **error, const Src *src, const char *key, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CONFIG, "%s: key \"%s\" %s", src->file,
               key, msg);
  return FALSE;
}

static gboolean
node_is_null (JsonNode *n)
{
  return n == NULL || JSON_NODE_HOLDS_NULL (n);
}

static gboolean
node_is_number (JsonNode *n)
{
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return FALSE;
  GType t = json_node_get_value_type (n);
  return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

/* An integer key in [min, max]. Absent or null: `def` if `optional`, else an error. */
static gboolean
get_int (const Src *src, const char *key, gboolean optional, int def, int min, int max, int *out,
         GError **error)
{
  JsonNode *n = json_object_get_member (src->obj, key);
  if (node_is_null (n)) {
    if (!optional)
      return bad_key (error, src, key, "is missing");
    *out = def;
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return bad_key (error, src, key, "must be an integer");
  gint64 v = json_node_get_int (n);
  if (v < min || v > max)
    return bad_key (error, src, key, "is %" G_GINT64_FORMAT ", expected %d..%d", v, min, max);
  *out = (int) v;
  return TRUE;
}

static gboolean
get_double_node (const Src *src, const char *key, JsonNode *n, double min, double max,
                 double *out, GError **error)
{
  if (!node_is_number (n))
    return bad_key (error, src, key, "must be a number");
  double v = json_node_get_double (n);
  if (!isfinite (v) || v < min || v > max)
    return bad_key (error, src, key, "is %g, expected %g..%g", v, min, max);
  *out = v;
  return TRUE;
}

static gboolean
get_double (const Src *src, const char *key, gboolean optional, double def, double min, double max,
            double *out, GError **error)
{
  JsonNode *n = json_object_get_member (src->obj, key);
  if (node_is_null (n)) {
    if (!optional)
      return bad_key (error, src, key, "is missing");
    *out = def;
    return TRUE;
  }
  return get_double_node (src, key, n, min, max, out, error);
}

static gboolean
get_bool (const Src *src, const char *key, gboolean def, gboolean *out, GError **error)
{
  JsonNode *n = json_object_get_member (src->obj, key);
  if (node_is_null (n)) {
    *out = def;
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return bad_key (error, src, key, "must be true or false");
  *out = json_node_get_boolean (n);
  return TRUE;
}

/* A string key; NULL (no error) when absent or null. */
static const char *
get_string (const Src *src, const char *key, gboolean *type_ok)
{
  JsonNode *n = json_object_get_member (src->obj, key);
  *type_ok = TRUE;
  if (node_is_null (n))
    return NULL;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING) {
    *type_ok = FALSE;
    return NULL;
  }
  return json_node_get_string (n);
}

static JsonParser *
load_json_object (const char *path, JsonObject **obj, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_NOT_FOUND, "%s: no such file", path);
    return NULL;
  }
  if (!json_parser_load_from_mapped_file (parser, path, &local)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT, "%s: invalid JSON: %s", path,
                 local->message);
    return NULL;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CORRUPT, "%s: not a JSON object", path);
    return NULL;
  }
  *obj = json_node_get_object (root);
  return g_steal_pointer (&parser);
}

void
glim_config_free (GlimConfig *c)
{
  if (c == NULL)
    return;
  g_free (c->architecture);
  g_free (c->model_type);
  g_free (c->layer_is_moe);
  g_free (c->quant.quant_algo);
  g_free (c->quant.kv_cache_quant_algo);
  g_strfreev (c->quant.exclude_modules);
  g_free (c->quant.source);
  g_free (c);
}

/* ---- architecture ---- */

static const char *const supported_architectures[] = { "Glm4MoeLiteForCausalLM" };

static gboolean
parse_architecture (const Src *src, GlimConfig *c, GError **error)
{
  JsonNode *n = json_object_get_member (src->obj, "architectures");
  if (node_is_null (n) || !JSON_NODE_HOLDS_ARRAY (n) ||
      json_array_get_length (json_node_get_array (n)) != 1)
    return bad_key (error, src, "architectures", "must be a list with one architecture name");
  JsonNode *a = json_array_get_element (json_node_get_array (n), 0);
  if (!JSON_NODE_HOLDS_VALUE (a) || json_node_get_value_type (a) != G_TYPE_STRING)
    return bad_key (error, src, "architectures", "must hold a string");
  const char *arch = json_node_get_string (a);
  gboolean known = FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (supported_architectures); i++)
    known |= strcmp (arch, supported_architectures[i]) == 0;
  if (!known) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                 "%s: architecture \"%s\" is not supported (Glimmer runs Glm4MoeLiteForCausalLM)",
                 src->file, arch);
    return FALSE;
  }
  c->architecture = g_strdup (arch);
  gboolean ok;
  const char *model_type = get_string (src, "model_type", &ok);
  if (!ok)
    return bad_key (error, src, "model_type", "must be a string");
  c->model_type = g_strdup (model_type ? model_type : "glm4_moe_lite");
  return TRUE;
}

/* ---- rope ---- */

static gboolean
check_rope_type (const Src *src, const char *key, JsonObject *obj, GError **error)
{
  const char *type = NULL;
  const char *names[] = { "rope_type", "type" };
  for (gsize i = 0; i < G_N_ELEMENTS (names) && type == NULL; i++) {
    JsonNode *t = json_object_get_member (obj, names[i]);
    if (!node_is_null (t) && JSON_NODE_HOLDS_VALUE (t) &&
        json_node_get_value_type (t) == G_TYPE_STRING)
      type = json_node_get_string (t);
  }
  if (type != NULL && strcmp (type, "default") != 0) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                 "%s: key \"%s\": rope type \"%s\" is not supported (only \"default\")",
                 src->file, key, type);
    return FALSE;
  }
  JsonNode *prf = json_object_get_member (obj, "partial_rotary_factor");
  if (!node_is_null (prf) && (!node_is_number (prf) || json_node_get_double (prf) != 1.0)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                 "%s: key \"%s.partial_rotary_factor\": only 1.0 is supported", src->file, key);
    return FALSE;
  }
  return TRUE;
}

static gboolean
parse_rope (const Src *src, GlimConfig *c, GError **error)
{
  gboolean have_theta = FALSE;
  JsonNode *rs = json_object_get_member (src->obj, "rope_scaling");
  if (!node_is_null (rs)) {
    if (!JSON_NODE_HOLDS_OBJECT (rs))
      return bad_key (error, src, "rope_scaling", "must be an object or null");
    if (!check_rope_type (src, "rope_scaling", json_node_get_object (rs), error))
      return FALSE;
  }
  /* transformers 5 keeps rope settings in "rope_parameters". */
  JsonNode *rp = json_object_get_member (src->obj, "rope_parameters");
  if (!node_is_null (rp)) {
    if (!JSON_NODE_HOLDS_OBJECT (rp))
      return bad_key (error, src, "rope_parameters", "must be an object");
    JsonObject *o = json_node_get_object (rp);
    if (!check_rope_type (src, "rope_parameters", o, error))
      return FALSE;
    JsonNode *th = json_object_get_member (o, "rope_theta");
    if (!node_is_null (th)) {
      if (!get_double_node (src, "rope_parameters.rope_theta", th, 1.0, 1e12, &c->rope_theta, error))
        return FALSE;
      have_theta = TRUE;
    }
  }
  if (!check_rope_type (src, "config", src->obj, error))   /* top-level partial_rotary_factor */
    return FALSE;
  JsonNode *th = json_object_get_member (src->obj, "rope_theta");
  if (!node_is_null (th)) {
    double top;
    if (!get_double_node (src, "rope_theta", th, 1.0, 1e12, &top, error))
      return FALSE;
    if (have_theta && top != c->rope_theta)
      return bad_key (error, src, "rope_theta", "(%g) disagrees with rope_parameters.rope_theta (%g)",
                      top, c->rope_theta);
    c->rope_theta = top;
    have_theta = TRUE;
  }
  if (!have_theta)
    return bad_key (error, src, "rope_theta", "is missing (neither top level nor in rope_parameters)");
  return TRUE;
}

/* ---- dense / MoE layer pattern ---- */

static gboolean
parse_layer_types (const Src *src, GlimConfig *c, GError **error)
{
  c->layer_is_moe = g_new0 (gboolean, c->n_layers);
  JsonNode *types = json_object_get_member (src->obj, "mlp_layer_types");
  if (!node_is_null (types)) {
    if (!JSON_NODE_HOLDS_ARRAY (types))
      return bad_key (error, src, "mlp_layer_types", "must be a list");
    JsonArray *a = json_node_get_array (types);
    if ((int) json_array_get_length (a) < c->n_layers)
      return bad_key (error, src, "mlp_layer_types", "has %u entries for %d layers",
                      json_array_get_length (a), c->n_layers);
    for (int l = 0; l < c->n_layers; l++) {
      JsonNode *e = json_array_get_element (a, l);
      const char *s = JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING
                    ? json_node_get_string (e) : "";
      if (strcmp (s, "sparse") == 0 || strcmp (s, "moe") == 0)
        c->layer_is_moe[l] = TRUE;
      else if (strcmp (s, "dense") != 0)
        return bad_key (error, src, "mlp_layer_types", "entry %d is \"%s\" (expected dense or sparse)",
                        l, s);
    }
    return TRUE;
  }
  int first_dense, freq;
  if (!get_int (src, "first_k_dense_replace", FALSE, 0, 0, c->n_layers, &first_dense, error) ||
      !get_int (src, "moe_layer_freq", TRUE, 1, 1, 1 << 20, &freq, error))
    return FALSE;
  for (int l = 0; l < c->n_layers; l++)
    c->layer_is_moe[l] = l >= first_dense && l % freq == 0;
  return TRUE;
}

/* ---- token ids ---- */

static gboolean
parse_token_ids (const Src *src, GlimConfig *c, GError **error)
{
  JsonNode *n = json_object_get_member (src->obj, "eos_token_id");
  c->n_eos = 0;
  if (!node_is_null (n)) {
    if (JSON_NODE_HOLDS_ARRAY (n)) {
      JsonArray *a = json_node_get_array (n);
      if (json_array_get_length (a) > GLIM_MAX_EOS)
        return bad_key (error, src, "eos_token_id", "lists more than %d ids", GLIM_MAX_EOS);
      for (guint i = 0; i < json_array_get_length (a); i++) {
        JsonNode *e = json_array_get_element (a, i);
        if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64 ||
            json_node_get_int (e) < 0 || json_node_get_int (e) >= c->vocab_size)
          return bad_key (error, src, "eos_token_id", "entry %u is not a token id below %d", i,
                          c->vocab_size);
        c->eos_ids[c->n_eos++] = (int) json_node_get_int (e);
      }
    } else {
      int id;
      if (!get_int (src, "eos_token_id", FALSE, 0, 0, c->vocab_size - 1, &id, error))
        return FALSE;
      c->eos_ids[c->n_eos++] = id;
    }
  }
  return get_int (src, "pad_token_id", TRUE, -1, 0, c->vocab_size - 1, &c->pad_id, error) &&
         get_int (src, "bos_token_id", TRUE, -1, 0, c->vocab_size - 1, &c->bos_id, error);
}

/* ---- quantization ---- */

static gboolean
parse_string_list (const Src *src, const char *key, JsonObject *obj, GStrv *out, GError **error)
{
  JsonNode *n = json_object_get_member (obj, key);
  if (node_is_null (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return bad_key (error, src, key, "must be a list of strings");
  JsonArray *a = json_node_get_array (n);
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
      return bad_key (error, src, key, "entry %u is not a string", i);
    g_strv_builder_add (b, json_node_get_string (e));
  }
  *out = g_strv_builder_end (b);
  return TRUE;
}

static gboolean
parse_quant_object (const Src *src, JsonObject *q, GlimQuantConfig *quant, GError **error)
{
  Src sub = { src->file, q };
  gboolean ok;
  const char *algo = get_string (&sub, "quant_algo", &ok);
  if (!ok)
    return bad_key (error, src, "quant_algo", "must be a string");
  const char *kv = get_string (&sub, "kv_cache_quant_algo", &ok);
  if (!ok)
    return bad_key (error, src, "kv_cache_quant_algo", "must be a string or null");
  if (algo != NULL && strcmp (algo, "NVFP4") != 0 && strcmp (algo, "MIXED_PRECISION") != 0) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                 "%s: key \"quant_algo\": \"%s\" is not supported (Glimmer reads ModelOpt NVFP4)",
                 src->file, algo);
    return FALSE;
  }
  if (algo != NULL) {
    g_free (quant->quant_algo);
    quant->quant_algo = g_strdup (algo);
    quant->nvfp4 = TRUE;
  }
  if (kv != NULL) {
    g_free (quant->kv_cache_quant_algo);
    quant->kv_cache_quant_algo = g_strdup (kv);
  }
  if (!get_int (&sub, "group_size", TRUE, 16, 1, 1 << 20, &quant->group_size, error))
    return FALSE;
  if (quant->nvfp4 && quant->group_size != 16)
    return bad_key (error, src, "group_size", "is %d; NVFP4 uses blocks of 16", quant->group_size);
  GStrv list = NULL;
  if (!parse_string_list (src, "exclude_modules", q, &list, error))
    return FALSE;
  if (list == NULL && !parse_string_list (src, "ignore", q, &list, error))
    return FALSE;
  if (list != NULL) {
    g_strfreev (quant->exclude_modules);
    quant->exclude_modules = list;
  }
  return TRUE;
}

static gboolean
parse_quant (const char *dir, const Src *cfg, GlimQuantConfig *quant, GError **error)
{
  quant->group_size = 16;
  JsonNode *qc = json_object_get_member (cfg->obj, "quantization_config");
  if (!node_is_null (qc)) {
    if (!JSON_NODE_HOLDS_OBJECT (qc))
      return bad_key (error, cfg, "quantization_config", "must be an object");
    JsonObject *o = json_node_get_object (qc);
    Src sub = { cfg->file, o };
    gboolean ok;
    const char *method = get_string (&sub, "quant_method", &ok);
    if (method != NULL && strcmp (method, "modelopt") != 0) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                   "%s: key \"quantization_config.quant_method\": \"%s\" is not supported "
                   "(Glimmer reads ModelOpt NVFP4 exports)", cfg->file, method);
      return FALSE;
    }
    if (!parse_quant_object (cfg, o, quant, error))
      return FALSE;
    quant->source = g_strdup ("config.json quantization_config");
  }
  g_autofree char *path = g_build_filename (dir, "hf_quant_config.json", NULL);
  if (g_file_test (path, G_FILE_TEST_EXISTS)) {
    JsonObject *root = NULL;
    g_autoptr (JsonParser) parser = load_json_object (path, &root, error);
    if (parser == NULL)
      return FALSE;
    Src hq = { path, root };
    JsonNode *qn = json_object_get_member (root, "quantization");
    if (node_is_null (qn) || !JSON_NODE_HOLDS_OBJECT (qn))
      return bad_key (error, &hq, "quantization", "is missing or not an object");
    if (!parse_quant_object (&hq, json_node_get_object (qn), quant, error))
      return FALSE;
    g_free (quant->source);
    quant->source = g_strdup ("hf_quant_config.json");
  }
  return TRUE;
}

gboolean
glim_quant_config_excludes (const GlimQuantConfig *quant, const char *module)
{
  if (quant->exclude_modules == NULL)
    return FALSE;
  for (char **p = quant->exclude_modules; *p != NULL; p++) {
    const char *pat = *p;
    if (strcmp (pat, module) == 0 || g_pattern_match_simple (pat, module))
      return TRUE;
    /* "name" also covers "name.<anything>" (ModelOpt writes name and name.* pairs). */
    gsize n = strlen (pat);
    if (strncmp (pat, module, n) == 0 && module[n] == '.')
      return TRUE;
  }
  return FALSE;
}

/* ---- entry point ---- */

GlimConfig *
glim_config_load (const char *dir, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_NOT_FOUND, "%s: no such model folder",
                 dir);
    return NULL;
  }
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  JsonObject *root = NULL;
  g_autoptr (JsonParser) parser = load_json_object (path, &root, error);
  if (parser == NULL)
    return NULL;
  Src src = { path, root };
  g_autoptr (GlimConfig) c = g_new0 (GlimConfig, 1);
  const int big = 1 << 24;

  if (!parse_architecture (&src, c, error))
    return NULL;

  gboolean ok;
  const char *act = get_string (&src, "hidden_act", &ok);
  if (!ok || (act != NULL && strcmp (act, "silu") != 0)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                 "%s: key \"hidden_act\": only \"silu\" is supported", path);
    return NULL;
  }
  const char *topk_method = get_string (&src, "topk_method", &ok);
  if (!ok || (topk_method != NULL && strcmp (topk_method, "noaux_tc") != 0)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                 "%s: key \"topk_method\": only \"noaux_tc\" is supported", path);
    return NULL;
  }
  const char *scoring = get_string (&src, "scoring_func", &ok);
  if (!ok || (scoring != NULL && strcmp (scoring, "sigmoid") != 0)) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                 "%s: key \"scoring_func\": only \"sigmoid\" is supported", path);
    return NULL;
  }
  gboolean attention_bias = FALSE;
  if (!get_bool (&src, "attention_bias", FALSE, &attention_bias, error))
    return NULL;
  if (attention_bias) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                 "%s: key \"attention_bias\": biased attention projections are not supported", path);
    return NULL;
  }

  if (!get_int (&src, "hidden_size", FALSE, 0, 1, big, &c->hidden_size, error) ||
      !get_int (&src, "num_hidden_layers", FALSE, 0, 1, 4096, &c->n_layers, error) ||
      !get_int (&src, "num_attention_heads", FALSE, 0, 1, 4096, &c->n_heads, error) ||
      !get_int (&src, "q_lora_rank", TRUE, 0, 1, big, &c->q_lora_rank, error) ||
      !get_int (&src, "kv_lora_rank", FALSE, 0, 1, big, &c->kv_lora_rank, error) ||
      !get_int (&src, "qk_nope_head_dim", FALSE, 0, 1, big, &c->qk_nope_head_dim, error) ||
      !get_int (&src, "qk_rope_head_dim", FALSE, 0, 2, big, &c->qk_rope_head_dim, error) ||
      !get_int (&src, "v_head_dim", FALSE, 0, 1, big, &c->v_head_dim, error) ||
      !get_int (&src, "vocab_size", FALSE, 0, 1, 1 << 30, &c->vocab_size, error) ||
      !get_int (&src, "max_position_embeddings", TRUE, 4096, 1, 1 << 30,
                &c->max_position_embeddings, error) ||
      !get_int (&src, "intermediate_size", FALSE, 0, 1, big, &c->intermediate_size, error) ||
      !get_int (&src, "moe_intermediate_size", FALSE, 0, 1, big, &c->moe_intermediate_size, error) ||
      !get_int (&src, "n_routed_experts", FALSE, 0, 1, 65536, &c->n_routed_experts, error) ||
      !get_int (&src, "n_shared_experts", TRUE, 0, 0, 1024, &c->n_shared_experts, error) ||
      !get_int (&src, "num_experts_per_tok", FALSE, 0, 1, c->n_routed_experts,
                &c->n_experts_per_tok, error) ||
      !get_int (&src, "n_group", TRUE, 1, 1, c->n_routed_experts, &c->n_group, error) ||
      !get_int (&src, "topk_group", TRUE, 1, 1, c->n_group, &c->topk_group, error) ||
      !get_int (&src, "num_nextn_predict_layers", TRUE, 0, 0, 16, &c->n_nextn_layers, error) ||
      !get_bool (&src, "norm_topk_prob", TRUE, &c->norm_topk_prob, error) ||
      !get_bool (&src, "tie_word_embeddings", FALSE, &c->tie_word_embeddings, error) ||
      !get_bool (&src, "rope_interleave", TRUE, &c->rope_interleave, error) ||
      !get_double (&src, "routed_scaling_factor", TRUE, 1.0, 0.0, 1e6, &c->routed_scaling_factor,
                   error) ||
      !get_double (&src, "rms_norm_eps", FALSE, 0, 0.0, 1.0, &c->rms_norm_eps, error))
    return NULL;

  c->latent_norm_eps = 1e-6;
  if (c->qk_rope_head_dim % 2 != 0)
    return bad_key (error, &src, "qk_rope_head_dim", "must be even (RoPE rotates pairs)"), NULL;
  if (c->n_routed_experts % c->n_group != 0)
    return bad_key (error, &src, "n_group", "(%d) must divide n_routed_experts (%d)", c->n_group,
                    c->n_routed_experts), NULL;
  if (c->n_group > 1 && c->n_routed_experts / c->n_group < 2)
    return bad_key (error, &src, "n_group", "leaves fewer than 2 experts per group"), NULL;
  if (c->n_group > 1 &&
      c->n_experts_per_tok > c->topk_group * (c->n_routed_experts / c->n_group))
    return bad_key (error, &src, "num_experts_per_tok",
                    "exceeds the experts in topk_group groups"), NULL;

  if (!parse_rope (&src, c, error) || !parse_layer_types (&src, c, error) ||
      !parse_token_ids (&src, c, error) || !parse_quant (dir, &src, &c->quant, error))
    return NULL;
  return g_steal_pointer (&c);
}
