/* glim-model.c: bind the tensors of a Glm4MoeLite checkpoint to the model description.
 * SPDX-License-Identifier: MIT
 * A module is NVFP4 iff "<mod>.weight" is U8 and "<mod>.weight_scale" exists (the files decide,
 * hf_quant_config.json's exclude list is not trusted); otherwise it must be F32/F16/BF16. */
#define G_LOG_DOMAIN "glimmer-model"

#include "glim-model.h"

#include <string.h>

/* ---- tensor checks ---- */

static const GlimTensor *
require_tensor (GlimModel *m, const char *name, GError **error)
{
  const GlimTensor *t = glim_tensor_store_lookup (m->store, name);
  if (t == NULL)
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_TENSOR_MISSING,
                 "%s: tensor \"%s\" is missing", m->dir, name);
  return t;
}

static gboolean
check_shape (GlimModel *m, const GlimTensor *t, const int64_t *shape, int n_dims, GError **error)
{
  gboolean ok = t->n_dims == n_dims;
  for (int d = 0; ok && d < n_dims; d++)
    ok = t->shape[d] == shape[d];
  if (!ok) {
    g_autofree char *have = glim_shape_to_string (t->shape, t->n_dims);
    g_autofree char *want = glim_shape_to_string (shape, n_dims);
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_TENSOR_SHAPE,
                 "%s/%s: tensor \"%s\" has shape %s, expected %s", m->dir, t->file, t->name, have,
                 want);
  }
  return ok;
}

static gboolean
dtype_error (GlimModel *m, const GlimTensor *t, const char *expected, GError **error)
{
  g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_TENSOR_DTYPE,
               "%s/%s: tensor \"%s\" has dtype %s, expected %s", m->dir, t->file, t->name,
               glim_dtype_name (t->dtype), expected);
  return FALSE;
}

static gboolean
is_float_dtype (GlimDtype d)
{
  return d == GLIM_DTYPE_F32 || d == GLIM_DTYPE_BF16 || d == GLIM_DTYPE_F16;
}

/* A scalar F32 tensor (shape [] or [1]). */
static gboolean
read_scalar (GlimModel *m, const GlimTensor *t, float *out, GError **error)
{
  if (t->dtype != GLIM_DTYPE_F32)
    return dtype_error (m, t, "F32", error);
  if (t->n_elements != 1 || t->n_dims > 1) {
    g_autofree char *have = glim_shape_to_string (t->shape, t->n_dims);
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_TENSOR_SHAPE,
                 "%s/%s: tensor \"%s\" has shape %s, expected a scalar", m->dir, t->file, t->name,
                 have);
    return FALSE;
  }
  memcpy (out, t->data, sizeof (float));
  return TRUE;
}

/* ---- binding ---- */

static gboolean
bind_vector (GlimModel *m, const char *name, int n, float **out, GError **error)
{
  if (m->store == NULL) {       /* a skeleton: shapes only */
    *out = NULL;
    return TRUE;
  }
  const GlimTensor *t = require_tensor (m, name, error);
  if (t == NULL)
    return FALSE;
  if (!is_float_dtype (t->dtype))
    return dtype_error (m, t, "F32, BF16 or F16", error);
  int64_t shape[1] = { n };
  if (!check_shape (m, t, shape, 1, error))
    return FALSE;
  float *v = g_new (float, n);
  glim_dtype_to_f32 (t->dtype, t->data, v, (gsize) n);
  g_ptr_array_add (m->owned, v);
  *out = v;
  return TRUE;
}

/* A skeleton's weight: the shape, and the format ModelOpt's export would give the module:
 * NVFP4 when the config quantises it, except the embedding and the router, which the default
 * recipe never quantises (docs/model.md §4.2); no data. */
static void
bind_skeleton_weight (GlimModel *m, const char *module, int rows, int cols, GlimWeight *w)
{
  const GlimQuantConfig *q = &m->config->quant;
  gboolean wide = strcmp (module, "model.embed_tokens") == 0 ||
                  g_str_has_suffix (module, ".mlp.gate") || cols % 16 != 0 || !q->nvfp4 ||
                  glim_quant_config_excludes (q, module);
  memset (w, 0, sizeof *w);
  w->name = g_string_chunk_insert_const (m->strings, module);
  w->rows = rows;
  w->cols = cols;
  w->row_stride = cols;
  w->format = wide ? GLIM_WEIGHT_BF16 : GLIM_WEIGHT_NVFP4;
  w->scale2 = wide ? 0.0f : 1.0f;
}

static gboolean
bind_weight (GlimModel *m, const char *module, int rows, int cols, GlimWeight *w, GError **error)
{
  if (m->store == NULL) {
    bind_skeleton_weight (m, module, rows, cols, w);
    return TRUE;
  }
  g_autofree char *wname = g_strconcat (module, ".weight", NULL);
  g_autofree char *sname = g_strconcat (module, ".weight_scale", NULL);
  const GlimTensor *t = require_tensor (m, wname, error);
  if (t == NULL)
    return FALSE;
  memset (w, 0, sizeof *w);
  w->name = g_string_chunk_insert_const (m->strings, module);
  w->rows = rows;
  w->cols = cols;
  w->row_stride = cols;
  const GlimTensor *s = glim_tensor_store_lookup (m->store, sname);

  if (t->dtype == GLIM_DTYPE_U8 && s != NULL) {
    if (cols % 16 != 0) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_TENSOR_SHAPE,
                   "%s/%s: tensor \"%s\" is NVFP4 but its input size %d is not a multiple of 16",
                   m->dir, t->file, wname, cols);
      return FALSE;
    }
    int64_t wshape[2] = { rows, cols / 2 };
    int64_t sshape[2] = { rows, cols / 16 };
    if (!check_shape (m, t, wshape, 2, error))
      return FALSE;
    if (s->dtype != GLIM_DTYPE_F8_E4M3)
      return dtype_error (m, s, "F8_E4M3", error);
    if (!check_shape (m, s, sshape, 2, error))
      return FALSE;
    g_autofree char *s2name = g_strconcat (module, ".weight_scale_2", NULL);
    const GlimTensor *s2 = require_tensor (m, s2name, error);
    if (s2 == NULL || !read_scalar (m, s2, &w->scale2, error))
      return FALSE;
    g_autofree char *iname = g_strconcat (module, ".input_scale", NULL);
    const GlimTensor *is = glim_tensor_store_lookup (m->store, iname);
    if (is != NULL && !read_scalar (m, is, &w->input_scale, error))
      return FALSE;
    w->format = GLIM_WEIGHT_NVFP4;
    w->data = t->data;
    w->scales = s->data;
    return TRUE;
  }
  switch (t->dtype) {
  case GLIM_DTYPE_BF16: w->format = GLIM_WEIGHT_BF16; break;
  case GLIM_DTYPE_F16:  w->format = GLIM_WEIGHT_F16;  break;
  case GLIM_DTYPE_F32:  w->format = GLIM_WEIGHT_F32;  break;
  case GLIM_DTYPE_U8:
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_TENSOR_MISSING,
                 "%s/%s: tensor \"%s\" is packed U8 but \"%s\" is missing", m->dir, t->file, wname,
                 sname);
    return FALSE;
  default:
    return dtype_error (m, t, "BF16, F16, F32 or NVFP4 (U8 + weight_scale)", error);
  }
  int64_t shape[2] = { rows, cols };
  if (!check_shape (m, t, shape, 2, error))
    return FALSE;
  w->data = t->data;
  return TRUE;
}

static gboolean
bind_mlp (GlimModel *m, const char *prefix, int inner, GlimMlp *mlp, GError **error)
{
  int D = m->config->hidden_size;
  g_autofree char *g = g_strconcat (prefix, ".gate_proj", NULL);
  g_autofree char *u = g_strconcat (prefix, ".up_proj", NULL);
  g_autofree char *d = g_strconcat (prefix, ".down_proj", NULL);
  return bind_weight (m, g, inner, D, &mlp->gate, error) &&
         bind_weight (m, u, inner, D, &mlp->up, error) &&
         bind_weight (m, d, D, inner, &mlp->down, error);
}

static gboolean
bind_layer (GlimModel *m, int l, gboolean is_moe, GlimLayer *L, GError **error)
{
  const GlimConfig *c = m->config;
  int D = c->hidden_size, H = c->n_heads;
  int Dqk = glim_config_qk_head_dim (c), Cw = glim_config_cache_width (c);
  g_autofree char *p = g_strdup_printf ("model.layers.%d", l);
  g_autofree char *in_norm = g_strconcat (p, ".input_layernorm.weight", NULL);
  g_autofree char *post_norm = g_strconcat (p, ".post_attention_layernorm.weight", NULL);
  g_autofree char *q_a = g_strconcat (p, ".self_attn.q_a_proj", NULL);
  g_autofree char *q_a_norm = g_strconcat (p, ".self_attn.q_a_layernorm.weight", NULL);
  g_autofree char *q_b = g_strconcat (p, ".self_attn.q_b_proj", NULL);
  g_autofree char *q = g_strconcat (p, ".self_attn.q_proj", NULL);
  g_autofree char *kv_a = g_strconcat (p, ".self_attn.kv_a_proj_with_mqa", NULL);
  g_autofree char *kv_a_norm = g_strconcat (p, ".self_attn.kv_a_layernorm.weight", NULL);
  g_autofree char *kv_b = g_strconcat (p, ".self_attn.kv_b_proj", NULL);
  g_autofree char *o = g_strconcat (p, ".self_attn.o_proj", NULL);

  if (!bind_vector (m, in_norm, D, &L->input_norm, error) ||
      !bind_vector (m, post_norm, D, &L->post_attn_norm, error))
    return FALSE;
  if (c->q_lora_rank > 0) {
    if (!bind_weight (m, q_a, c->q_lora_rank, D, &L->q_a, error) ||
        !bind_vector (m, q_a_norm, c->q_lora_rank, &L->q_a_norm, error) ||
        !bind_weight (m, q_b, H * Dqk, c->q_lora_rank, &L->q_b, error))
      return FALSE;
  } else if (!bind_weight (m, q, H * Dqk, D, &L->q, error)) {
    return FALSE;
  }
  if (!bind_weight (m, kv_a, Cw, D, &L->kv_a, error) ||
      !bind_vector (m, kv_a_norm, c->kv_lora_rank, &L->kv_a_norm, error) ||
      !bind_weight (m, kv_b, H * (c->qk_nope_head_dim + c->v_head_dim), c->kv_lora_rank, &L->kv_b,
                    error) ||
      !bind_weight (m, o, D, H * c->v_head_dim, &L->o, error))
    return FALSE;

  L->is_moe = is_moe;
  g_autofree char *mlp = g_strconcat (p, ".mlp", NULL);
  if (!is_moe)
    return bind_mlp (m, mlp, c->intermediate_size, &L->dense, error);

  g_autofree char *router = g_strconcat (mlp, ".gate", NULL);
  g_autofree char *bias = g_strconcat (mlp, ".gate.e_score_correction_bias", NULL);
  if (!bind_weight (m, router, c->n_routed_experts, D, &L->router, error) ||
      !bind_vector (m, bias, c->n_routed_experts, &L->router_bias, error))
    return FALSE;
  L->experts = g_new0 (GlimMlp, c->n_routed_experts);
  for (int e = 0; e < c->n_routed_experts; e++) {
    g_autofree char *ep = g_strdup_printf ("%s.experts.%d", mlp, e);
    if (!bind_mlp (m, ep, c->moe_intermediate_size, &L->experts[e], error))
      return FALSE;
  }
  if (c->n_shared_experts > 0) {
    g_autofree char *sp = g_strconcat (mlp, ".shared_experts", NULL);
    if (!bind_mlp (m, sp, c->moe_intermediate_size * c->n_shared_experts, &L->shared, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
bind_mtp (GlimModel *m, GError **error)
{
  const GlimConfig *c = m->config;
  int l = c->n_layers, D = c->hidden_size;
  if (c->n_nextn_layers < 1) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_CONFIG,
                 "%s/config.json: key \"num_nextn_predict_layers\" is 0, so there is no MTP layer",
                 m->dir);
    return FALSE;
  }
  m->mtp = g_new0 (GlimMtp, 1);
  g_autofree char *p = g_strdup_printf ("model.layers.%d", l);
  g_autofree char *enorm = g_strconcat (p, ".enorm.weight", NULL);
  g_autofree char *hnorm = g_strconcat (p, ".hnorm.weight", NULL);
  g_autofree char *eh = g_strconcat (p, ".eh_proj", NULL);
  g_autofree char *hn = g_strconcat (p, ".shared_head.norm.weight", NULL);
  g_autofree char *head = g_strconcat (p, ".shared_head.head", NULL);
  /* The MTP block is MoE whenever the main model has MoE layers (GLM-4.7-Flash: yes). */
  gboolean moe = FALSE;
  for (int i = 0; i < c->n_layers; i++)
    moe |= c->layer_is_moe[i];
  return bind_layer (m, l, moe, &m->mtp->block, error) &&
         bind_vector (m, enorm, D, &m->mtp->enorm, error) &&
         bind_vector (m, hnorm, D, &m->mtp->hnorm, error) &&
         bind_weight (m, eh, D, 2 * D, &m->mtp->eh_proj, error) &&
         bind_vector (m, hn, D, &m->mtp->head_norm, error) &&
         bind_weight (m, head, c->vocab_size, D, &m->mtp->head, error);
}

static void
free_layer (GlimLayer *L)
{
  g_free (L->experts);
}

void
glim_model_free (GlimModel *m)
{
  if (m == NULL)
    return;
  if (m->layers != NULL)
    for (int l = 0; l < m->config->n_layers; l++)
      free_layer (&m->layers[l]);
  g_free (m->layers);
  if (m->mtp != NULL)
    free_layer (&m->mtp->block);
  g_free (m->mtp);
  g_clear_pointer (&m->owned, g_ptr_array_unref);
  g_clear_pointer (&m->strings, g_string_chunk_free);
  g_clear_pointer (&m->store, glim_tensor_store_free);
  g_clear_pointer (&m->config, glim_config_free);
  g_free (m->dir);
  g_free (m);
}

GlimModel *
glim_model_load (const char *dir, const GlimModelLoadOptions *options, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  g_autoptr (GlimModel) m = g_new0 (GlimModel, 1);
  m->dir = g_strdup (dir);
  m->strings = g_string_chunk_new (4096);
  m->owned = g_ptr_array_new_with_free_func (g_free);

  m->config = glim_config_load (dir, error);
  if (m->config == NULL)
    return NULL;
  m->store = glim_tensor_store_open (dir, error);
  if (m->store == NULL)
    return NULL;

  const GlimConfig *c = m->config;
  if (!bind_weight (m, "model.embed_tokens", c->vocab_size, c->hidden_size, &m->embed, error))
    return NULL;
  m->layers = g_new0 (GlimLayer, c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    if (!bind_layer (m, l, c->layer_is_moe[l], &m->layers[l], error))
      return NULL;
  if (!bind_vector (m, "model.norm.weight", c->hidden_size, &m->final_norm, error))
    return NULL;
  if (c->tie_word_embeddings)
    m->lm_head = m->embed;
  else if (!bind_weight (m, "lm_head", c->vocab_size, c->hidden_size, &m->lm_head, error))
    return NULL;
  if (options != NULL && options->load_mtp && !bind_mtp (m, error))
    return NULL;
  return g_steal_pointer (&m);
}

GlimModel *
glim_model_new_skeleton (GlimConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_autoptr (GlimModel) m = g_new0 (GlimModel, 1);
  m->dir = g_strdup ("(shapes only)");
  m->strings = g_string_chunk_new (4096);
  m->owned = g_ptr_array_new_with_free_func (g_free);
  m->config = config;
  const GlimConfig *c = config;
  /* with no store nothing can fail: every bind_* below only records shapes */
  bind_weight (m, "model.embed_tokens", c->vocab_size, c->hidden_size, &m->embed, NULL);
  m->layers = g_new0 (GlimLayer, c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    bind_layer (m, l, c->layer_is_moe[l], &m->layers[l], NULL);
  bind_vector (m, "model.norm.weight", c->hidden_size, &m->final_norm, NULL);
  if (c->tie_word_embeddings)
    m->lm_head = m->embed;
  else
    bind_weight (m, "lm_head", c->vocab_size, c->hidden_size, &m->lm_head, NULL);
  return g_steal_pointer (&m);
}

/* ---- weights ---- */

gsize
glim_weight_n_params (const GlimWeight *w)
{
  return w->format == GLIM_WEIGHT_NONE ? 0 : (gsize) w->rows * (gsize) w->cols;
}

gsize
glim_weight_n_bytes (const GlimWeight *w)
{
  gsize n = glim_weight_n_params (w);
  switch (w->format) {
  case GLIM_WEIGHT_F32:   return n * 4;
  case GLIM_WEIGHT_F16:
  case GLIM_WEIGHT_BF16:  return n * 2;
  case GLIM_WEIGHT_NVFP4: return n == 0 ? 0 : n / 2 + n / 16 + 4;   /* an empty view: none */
  default:                return 0;
  }
}

void
glim_weight_row_to_f32 (const GlimWeight *w, int row, float *out)
{
  /* size_t: rows*cols overflows int for lm_head */
  gsize off = (gsize) row * glim_weight_row_stride (w);
  switch (w->format) {
  case GLIM_WEIGHT_F32:
    memcpy (out, (const float *) w->data + off, (gsize) w->cols * sizeof (float));
    break;
  case GLIM_WEIGHT_BF16:
    glim_dtype_to_f32 (GLIM_DTYPE_BF16, (const uint16_t *) w->data + off, out, (gsize) w->cols);
    break;
  case GLIM_WEIGHT_F16:
    glim_dtype_to_f32 (GLIM_DTYPE_F16, (const uint16_t *) w->data + off, out, (gsize) w->cols);
    break;
  case GLIM_WEIGHT_NVFP4: {
    const uint8_t *q = (const uint8_t *) w->data + off / 2;
    const uint8_t *s = w->scales + off / 16;
    for (int b = 0; b < w->cols / 16; b++) {
      float scale = glim_fp8_e4m3_to_f32 (s[b]) * w->scale2;
      for (int j = 0; j < 8; j++) {
        uint8_t byte = q[b * 8 + j];
        out[b * 16 + 2 * j] = glim_e2m1_values[byte & 0xf] * scale;
        out[b * 16 + 2 * j + 1] = glim_e2m1_values[byte >> 4] * scale;
      }
    }
    break;
  }
  default:
    g_assert_not_reached ();
  }
}

/* ---- description ---- */

typedef struct {
  gsize params, bytes, nvfp4_modules, wide_modules;
} Tally;

static void
tally (Tally *t, const GlimWeight *w)
{
  if (w->format == GLIM_WEIGHT_NONE)
    return;
  t->params += glim_weight_n_params (w);
  t->bytes += glim_weight_n_bytes (w);
  if (w->format == GLIM_WEIGHT_NVFP4)
    t->nvfp4_modules++;
  else
    t->wide_modules++;
}

static void
tally_layer (Tally *t, const GlimLayer *L, const GlimConfig *c, GHashTable *kinds)
{
  const GlimWeight *ws[] = { &L->q_a, &L->q_b, &L->q, &L->kv_a, &L->kv_b, &L->o };
  const char *names[] = { "q_a_proj", "q_b_proj", "q_proj", "kv_a_proj_with_mqa", "kv_b_proj",
                          "o_proj" };
  for (gsize i = 0; i < G_N_ELEMENTS (ws); i++) {
    tally (t, ws[i]);
    if (ws[i]->format != GLIM_WEIGHT_NONE)
      g_hash_table_insert (kinds, (gpointer) names[i],
                           GINT_TO_POINTER (ws[i]->format == GLIM_WEIGHT_NVFP4 ? 2 : 1) );
  }
  const GlimMlp *mlps[2] = { L->is_moe ? NULL : &L->dense, L->is_moe ? &L->shared : NULL };
  for (int i = 0; i < 2; i++)
    if (mlps[i] != NULL) {
      tally (t, &mlps[i]->gate);
      tally (t, &mlps[i]->up);
      tally (t, &mlps[i]->down);
    }
  if (L->is_moe) {
    tally (t, &L->router);
    for (int e = 0; e < c->n_routed_experts; e++) {
      tally (t, &L->experts[e].gate);
      tally (t, &L->experts[e].up);
      tally (t, &L->experts[e].down);
    }
  }
}

/* "29.943 B", "3.900 M", "812.0 K": a parameter count at any scale, written into buf */
static const char *
format_count (char buf[32], gsize n)
{
  if (n >= 1000000000)
    g_snprintf (buf, 32, "%.3f B", n / 1e9);
  else if (n >= 1000000)
    g_snprintf (buf, 32, "%.3f M", n / 1e6);
  else
    g_snprintf (buf, 32, "%.1f K", n / 1e3);
  return buf;
}

static const char *
format_name (GlimWeightFormat f)
{
  switch (f) {
  case GLIM_WEIGHT_F32:   return "F32";
  case GLIM_WEIGHT_F16:   return "F16";
  case GLIM_WEIGHT_BF16:  return "BF16";
  case GLIM_WEIGHT_NVFP4: return "NVFP4";
  default:                return "-";
  }
}

char *
glim_model_describe (GlimModel *m)
{
  const GlimConfig *c = m->config;
  GString *s = g_string_new (NULL);
  int n_moe = 0;
  for (int l = 0; l < c->n_layers; l++)
    n_moe += c->layer_is_moe[l];

  g_string_append_printf (s, "model:        %s\n", m->dir);
  g_string_append_printf (s, "architecture: %s (%s)\n", c->architecture, c->model_type);
  g_string_append_printf (s, "layers:       %d (%d dense, %d MoE)%s\n", c->n_layers,
                          c->n_layers - n_moe, n_moe,
                          c->n_nextn_layers ? " + MTP layer in config" : "");
  g_string_append_printf (s, "hidden:       %d, vocab %d, max positions %d\n", c->hidden_size,
                          c->vocab_size, c->max_position_embeddings);
  g_string_append_printf (s, "attention:    MLA, %d heads, q_lora %d, kv_lora %d, "
                          "qk %d+%d (nope+rope), v %d, cache %d values/token/layer\n",
                          c->n_heads, c->q_lora_rank, c->kv_lora_rank, c->qk_nope_head_dim,
                          c->qk_rope_head_dim, c->v_head_dim, glim_config_cache_width (c));
  g_string_append_printf (s, "rope:         theta %g, interleaved pairs\n", c->rope_theta);
  g_string_append_printf (s, "moe:          %d routed experts (top %d, %d groups keep %d), "
                          "%d shared, expert ffn %d, dense ffn %d, %s, scale %g\n",
                          c->n_routed_experts, c->n_experts_per_tok, c->n_group, c->topk_group,
                          c->n_shared_experts, c->moe_intermediate_size, c->intermediate_size,
                          c->norm_topk_prob ? "renormalised" : "not renormalised",
                          c->routed_scaling_factor);

  g_autoptr (GHashTable) kinds = g_hash_table_new (g_str_hash, g_str_equal);
  Tally layers = { 0 }, other = { 0 };
  for (int l = 0; l < c->n_layers; l++)
    tally_layer (&layers, &m->layers[l], c, kinds);
  tally (&other, &m->embed);
  if (!c->tie_word_embeddings)
    tally (&other, &m->lm_head);
  gsize total = layers.params + other.params;

  /* Active per token: attention + dense/shared + K of E experts, plus lm_head (not the embedding). */
  gsize active = other.params - glim_weight_n_params (&m->embed);
  if (c->tie_word_embeddings)
    active = glim_weight_n_params (&m->lm_head);
  for (int l = 0; l < c->n_layers; l++) {
    Tally one = { 0 };
    g_autoptr (GHashTable) k = g_hash_table_new (g_str_hash, g_str_equal);
    tally_layer (&one, &m->layers[l], c, k);
    if (m->layers[l].is_moe) {
      gsize per_expert = glim_weight_n_params (&m->layers[l].experts[0].gate) * 3;
      one.params -= per_expert * (gsize) (c->n_routed_experts - c->n_experts_per_tok);
    }
    active += one.params;
  }
  char total_buf[32], active_buf[32];
  g_string_append_printf (s, "parameters:   %s total (without MTP), %s active per token\n",
                          format_count (total_buf, total), format_count (active_buf, active));
  g_string_append_printf (s, "weights:      %.2f GiB as stored (%zu NVFP4 modules, %zu wide)\n",
                          (layers.bytes + other.bytes) / (1024.0 * 1024 * 1024),
                          layers.nvfp4_modules + other.nvfp4_modules,
                          layers.wide_modules + other.wide_modules);
  if (m->store != NULL)
    g_string_append_printf (s, "files:        %.2f GiB of tensors\n",
                            glim_tensor_store_n_bytes (m->store) / (1024.0 * 1024 * 1024));

  const GlimLayer *L = &m->layers[c->n_layers - 1];
  const GlimLayer *L0 = &m->layers[0];
  g_string_append (s, "formats:      ");
  g_string_append_printf (s, "embed %s, lm_head %s%s", format_name (m->embed.format),
                          format_name (m->lm_head.format), c->tie_word_embeddings ? " (tied)" : "");
  if (c->q_lora_rank > 0)
    g_string_append_printf (s, ", q_a %s, q_b %s", format_name (L->q_a.format),
                            format_name (L->q_b.format));
  else
    g_string_append_printf (s, ", q_proj %s", format_name (L->q.format));
  g_string_append_printf (s, ", kv_a %s, kv_b %s, o %s", format_name (L->kv_a.format),
                          format_name (L->kv_b.format), format_name (L->o.format));
  if (!L0->is_moe)
    g_string_append_printf (s, ", dense mlp %s", format_name (L0->dense.gate.format));
  for (int l = 0; l < c->n_layers; l++)
    if (m->layers[l].is_moe) {
      const GlimLayer *M = &m->layers[l];
      g_string_append_printf (s, ", router %s, experts %s", format_name (M->router.format),
                              format_name (M->experts[0].gate.format));
      if (c->n_shared_experts)
        g_string_append_printf (s, ", shared %s", format_name (M->shared.gate.format));
      break;
    }
  g_string_append_c (s, '\n');
  g_string_append_printf (s, "quantization: %s%s%s\n",
                          c->quant.quant_algo ? c->quant.quant_algo : "none",
                          c->quant.source ? " from " : "", c->quant.source ? c->quant.source : "");
  if (c->n_eos > 0) {
    g_string_append (s, "eos ids:      ");
    for (int i = 0; i < c->n_eos; i++)
      g_string_append_printf (s, "%s%d", i ? ", " : "", c->eos_ids[i]);
    g_string_append_c (s, '\n');
  }
  return g_string_free (s, FALSE);
}

guint64
glim_model_active_bytes (GlimModel *m)
{
  const GlimConfig *c = m->config;
  guint64 total = glim_weight_n_bytes (&m->lm_head) +
                  glim_weight_n_bytes (&m->embed) / (guint64) c->vocab_size;
  for (int l = 0; l < c->n_layers; l++) {
    const GlimLayer *L = &m->layers[l];
    const GlimWeight *ws[] = { &L->q_a, &L->q_b, &L->q, &L->kv_a, &L->kv_b, &L->o };
    for (gsize i = 0; i < G_N_ELEMENTS (ws); i++)
      total += glim_weight_n_bytes (ws[i]);
    const GlimMlp *mlps[] = { &L->dense, &L->shared };
    for (gsize i = 0; i < G_N_ELEMENTS (mlps); i++)
      total += glim_weight_n_bytes (&mlps[i]->gate) + glim_weight_n_bytes (&mlps[i]->up) +
               glim_weight_n_bytes (&mlps[i]->down);
    if (L->is_moe) {
      const GlimMlp *e = &L->experts[0];
      total += glim_weight_n_bytes (&L->router) +
               (guint64) c->n_experts_per_tok * (glim_weight_n_bytes (&e->gate) +
                                                 glim_weight_n_bytes (&e->up) +
                                                 glim_weight_n_bytes (&e->down));
    }
  }
  return total;
}
