/* glim-shard.c: cut a loaded model into per-rank views for tensor parallelism, check that a tp
 * can run it, and plan each rank's memory.
 * SPDX-License-Identifier: MIT
 * Nothing is copied: a shard's weights point into the model's (mmapped) tensors, with a row
 * stride for column views. What goes where is documented once, in glim-shard.h. */
#define G_LOG_DOMAIN "glimmer-shard"

#include "glim-shard.h"

#include <string.h>

G_DEFINE_QUARK (glim-shard-error-quark, glim_shard_error)

#define GIB (1024.0 * 1024.0 * 1024.0)

/* ---- views ---- */

/* Bytes per element of a wide format; NVFP4 is handled by the callers. */
static gsize
wide_element_size (GlimWeightFormat f)
{
  switch (f) {
  case GLIM_WEIGHT_F32:  return 4;
  case GLIM_WEIGHT_F16:
  case GLIM_WEIGHT_BF16: return 2;
  default:               g_assert_not_reached ();
  }
}

/* w's data and scales moved on by `elements` (a multiple of 16 for NVFP4). A weight without
 * data (a planning skeleton, glim_model_new_skeleton) stays without. */
static void
advance (const GlimWeight *w, gsize elements, GlimWeight *out)
{
  if (w->data == NULL)
    return;
  if (w->format == GLIM_WEIGHT_NVFP4) {
    out->data = (const uint8_t *) w->data + elements / 2;
    out->scales = w->scales + elements / 16;
  } else {
    out->data = (const uint8_t *) w->data + elements * wide_element_size (w->format);
  }
}

gboolean
glim_weight_slice_rows (const GlimWeight *w, int row0, int n_rows, GlimWeight *out, GError **error)
{
  g_return_val_if_fail (w != NULL && out != NULL, FALSE);
  if (w->format == GLIM_WEIGHT_NONE || row0 < 0 || n_rows < 0 || row0 > w->rows - n_rows) {
    g_set_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_SLICE,
                 "%s: rows %d..%d are outside its %d rows", w->name ? w->name : "weight", row0,
                 row0 + n_rows, w->format == GLIM_WEIGHT_NONE ? 0 : w->rows);
    return FALSE;
  }
  GlimWeight v = *w;
  v.row_stride = (int) glim_weight_row_stride (w);
  v.rows = n_rows;
  advance (w, (gsize) row0 * glim_weight_row_stride (w), &v);
  *out = v;
  return TRUE;
}

gboolean
glim_weight_slice_cols (const GlimWeight *w, int col0, int n_cols, GlimWeight *out, GError **error)
{
  g_return_val_if_fail (w != NULL && out != NULL, FALSE);
  const char *name = w->name ? w->name : "weight";
  if (w->format == GLIM_WEIGHT_NONE || col0 < 0 || n_cols < 0 || col0 > w->cols - n_cols) {
    g_set_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_SLICE,
                 "%s: columns %d..%d are outside its %d columns", name, col0, col0 + n_cols,
                 w->format == GLIM_WEIGHT_NONE ? 0 : w->cols);
    return FALSE;
  }
  if (w->format == GLIM_WEIGHT_NVFP4 && (col0 % 16 != 0 || n_cols % 16 != 0)) {
    g_set_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_SLICE,
                 "%s: a cut at columns %d..%d splits its NVFP4 scale blocks (16 columns each)",
                 name, col0, col0 + n_cols);
    return FALSE;
  }
  GlimWeight v = *w;
  v.row_stride = (int) glim_weight_row_stride (w);
  v.cols = n_cols;
  advance (w, (gsize) col0, &v);
  *out = v;
  return TRUE;
}

/* ---- the cut of every tensor ---- */

void
glim_shard_vocab_range (int vocab_size, int tp, int rank, int *row0, int *n_rows)
{
  g_return_if_fail (tp >= 1 && rank >= 0 && rank < tp);
  gint64 padded = ((gint64) vocab_size + GLIM_SHARD_VOCAB_ALIGN - 1) / GLIM_SHARD_VOCAB_ALIGN *
                  GLIM_SHARD_VOCAB_ALIGN;
  gint64 per = (padded + tp - 1) / tp;
  gint64 start = MIN ((gint64) rank * per, (gint64) vocab_size);
  gint64 end = MIN (start + per, (gint64) vocab_size);
  *row0 = (int) start;
  *n_rows = (int) (end - start);
}

void
glim_shard_ffn_range (int n, int tp, int rank, int *col0, int *n_cols)
{
  g_return_if_fail (n >= 0 && tp >= 1 && rank >= 0 && rank < tp);
  int n_blocks = (n + GLIM_SHARD_BLOCK - 1) / GLIM_SHARD_BLOCK;
  int per = n_blocks / tp, extra = n_blocks % tp;
  int block0 = rank * per + MIN (rank, extra);
  int end = MIN ((block0 + per + (rank < extra)) * GLIM_SHARD_BLOCK, n);
  *col0 = MIN (block0 * GLIM_SHARD_BLOCK, n);
  *n_cols = end - *col0;
}

void
glim_shard_o_range (int n_heads, int v_head_dim, gboolean nvfp4, int tp, int rank, int *col0,
                    int *n_cols, int *lead)
{
  g_return_if_fail (tp >= 1 && n_heads % tp == 0 && rank >= 0 && rank < tp);
  int per = n_heads / tp * v_head_dim, start = rank * per, end = start + per;
  int block = nvfp4 ? GLIM_SHARD_BLOCK : 1;
  int first = start / block * block;
  int last = MIN ((end + block - 1) / block * block, n_heads * v_head_dim);
  *col0 = first;
  *n_cols = last - first;
  *lead = start - first;
}

static gboolean
check_quietly (GlimModel *model, int tp, GError **error)
{
  const GlimConfig *c = model->config;
  if (tp < 1 || tp > GLIM_SHARD_TP_MAX) {
    g_set_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_TP,
                 "tensor parallel size %d is outside 1..%d", tp, GLIM_SHARD_TP_MAX);
    return FALSE;
  }
  if (c->n_heads % tp != 0) {
    g_set_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_TP,
                 "tensor parallel size %d does not divide num_attention_heads (%d)", tp,
                 c->n_heads);
    return FALSE;
  }
  return TRUE;
}

/* "1, 2 or 4": the sizes check_quietly accepts. */
static char *
valid_tps (GlimModel *model)
{
  GString *s = g_string_new (NULL);
  int found[GLIM_SHARD_TP_MAX], n = 0;
  for (int tp = 1; tp <= GLIM_SHARD_TP_MAX; tp++)
    if (check_quietly (model, tp, NULL))
      found[n++] = tp;
  for (int i = 0; i < n; i++)
    g_string_append_printf (s, "%s%d", i == 0 ? "" : i == n - 1 ? " or " : ", ", found[i]);
  return g_string_free (s, FALSE);
}

gboolean
glim_shard_check (GlimModel *model, int tp, GError **error)
{
  g_return_val_if_fail (model != NULL, FALSE);
  g_autoptr (GError) local = NULL;
  if (check_quietly (model, tp, error != NULL ? &local : NULL))
    return TRUE;
  if (error == NULL)
    return FALSE;
  g_autofree char *ok = valid_tps (model);
  g_set_error (error, local->domain, local->code, "%s; this model runs with tensor parallel "
               "size %s", local->message, ok);
  return FALSE;
}

/* gate/up: output rows [f0, f0 + n); down: input columns [f0, f0 + n) */
static gboolean
slice_mlp (const GlimMlp *m, int tp, int rank, GlimMlp *out, GError **error)
{
  int f0, n;
  glim_shard_ffn_range (m->gate.rows, tp, rank, &f0, &n);
  return glim_weight_slice_rows (&m->gate, f0, n, &out->gate, error) &&
         glim_weight_slice_rows (&m->up, f0, n, &out->up, error) &&
         glim_weight_slice_cols (&m->down, f0, n, &out->down, error);
}

static gboolean
slice_layer (const GlimConfig *c, const GlimLayer *L, const GlimShard *s, GlimLayer *out,
             int *o_lead, GError **error)
{
  int Dqk = glim_config_qk_head_dim (c), Dkv = c->qk_nope_head_dim + c->v_head_dim;
  int h0 = s->head0, Hl = s->n_heads, o0, n_o;
  glim_shard_o_range (c->n_heads, c->v_head_dim, L->o.format == GLIM_WEIGHT_NVFP4, s->tp,
                      s->rank, &o0, &n_o, o_lead);
  *out = *L;                       /* norms, q_a, kv_a, router: replicated, the model's own */
  out->experts = NULL;
  if (c->q_lora_rank > 0) {
    if (!glim_weight_slice_rows (&L->q_b, h0 * Dqk, Hl * Dqk, &out->q_b, error))
      return FALSE;
  } else if (!glim_weight_slice_rows (&L->q, h0 * Dqk, Hl * Dqk, &out->q, error)) {
    return FALSE;
  }
  if (!glim_weight_slice_rows (&L->kv_b, h0 * Dkv, Hl * Dkv, &out->kv_b, error) ||
      !glim_weight_slice_cols (&L->o, o0, n_o, &out->o, error))
    return FALSE;
  if (!L->is_moe)
    return slice_mlp (&L->dense, s->tp, s->rank, &out->dense, error);
  out->experts = g_new0 (GlimMlp, c->n_routed_experts);
  for (int e = 0; e < c->n_routed_experts; e++)
    if (!slice_mlp (&L->experts[e], s->tp, s->rank, &out->experts[e], error))
      return FALSE;
  if (L->shared.gate.format != GLIM_WEIGHT_NONE &&
      !slice_mlp (&L->shared, s->tp, s->rank, &out->shared, error))
    return FALSE;
  return TRUE;
}

GlimShard *
glim_shard_new (GlimModel *model, int tp, int rank, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  if (!glim_shard_check (model, tp, error))
    return NULL;
  g_return_val_if_fail (rank >= 0 && rank < tp, NULL);
  const GlimConfig *c = model->config;
  g_autoptr (GlimShard) s = g_new0 (GlimShard, 1);
  s->tp = tp;
  s->rank = rank;
  s->n_heads = c->n_heads / tp;
  s->head0 = rank * s->n_heads;
  glim_shard_vocab_range (c->vocab_size, tp, rank, &s->vocab0, &s->n_vocab);
  s->n_layers = c->n_layers;
  s->layers = g_new0 (GlimLayer, c->n_layers);
  s->o_lead = g_new0 (int, c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    if (!slice_layer (c, &model->layers[l], s, &s->layers[l], &s->o_lead[l], error))
      return NULL;
  if (!glim_weight_slice_rows (&model->lm_head, s->vocab0, s->n_vocab, &s->lm_head, error))
    return NULL;
  return g_steal_pointer (&s);
}

void
glim_shard_free (GlimShard *shard)
{
  if (shard == NULL)
    return;
  for (int l = 0; shard->layers != NULL && l < shard->n_layers; l++)
    g_free (shard->layers[l].experts);     /* the shard's own; NULL for dense layers */
  g_free (shard->layers);
  g_free (shard->o_lead);
  g_free (shard);
}

/* ---- memory plan ---- */

static guint64
mlp_bytes (const GlimMlp *m)
{
  return glim_weight_n_bytes (&m->gate) + glim_weight_n_bytes (&m->up) +
         glim_weight_n_bytes (&m->down);
}

/* The split members of one layer of a shard. */
static guint64
sharded_layer_bytes (const GlimConfig *c, const GlimLayer *L)
{
  guint64 n = glim_weight_n_bytes (&L->q_b) + glim_weight_n_bytes (&L->q) +
              glim_weight_n_bytes (&L->kv_b) + glim_weight_n_bytes (&L->o);
  if (!L->is_moe)
    return n + mlp_bytes (&L->dense);
  n += mlp_bytes (&L->shared);
  for (int e = 0; e < c->n_routed_experts; e++)
    n += mlp_bytes (&L->experts[e]);
  return n;
}

/* Everything every rank holds whole. */
static guint64
replicated_bytes (GlimModel *model)
{
  const GlimConfig *c = model->config;
  guint64 floats = (guint64) c->hidden_size;                      /* final norm */
  guint64 n = glim_weight_n_bytes (&model->embed);
  for (int l = 0; l < c->n_layers; l++) {
    const GlimLayer *L = &model->layers[l];
    n += glim_weight_n_bytes (&L->q_a) + glim_weight_n_bytes (&L->kv_a);
    floats += 2 * (guint64) c->hidden_size + (guint64) c->kv_lora_rank;
    if (c->q_lora_rank > 0)
      floats += (guint64) c->q_lora_rank;
    if (L->is_moe) {
      n += glim_weight_n_bytes (&L->router);
      floats += (guint64) c->n_routed_experts;                    /* e_score_correction_bias */
    }
  }
  return n + floats * 4;
}

/* The most o_proj input columns a rank of tp holds (views may be widened). */
static int
widest_o (GlimModel *model, int tp)
{
  const GlimConfig *c = model->config;
  int o_widest = 0;
  for (int l = 0; l < c->n_layers; l++)
    for (int r = 0; r < tp; r++) {
      int o0, n_o, lead;
      glim_shard_o_range (c->n_heads, c->v_head_dim,
                          model->layers[l].o.format == GLIM_WEIGHT_NVFP4, tp, r, &o0, &n_o, &lead);
      o_widest = MAX (o_widest, n_o);
    }
  return o_widest;
}

/* float32 activations of one chunk of T tokens on the largest rank of tp, and the decode
 * attention's split partials (o->decode_splits). */
static guint64
workspace_estimate (GlimModel *model, int tp, int T, const GlimShardPlanOptions *o)
{
  const GlimConfig *c = model->config;
  guint64 D = (guint64) c->hidden_size, Hl = (guint64) (c->n_heads / tp);
  guint64 Lkv = (guint64) c->kv_lora_rank, K = (guint64) c->n_experts_per_tok;
  int f0, widest;                                             /* rank 0's part is the widest */
  glim_shard_ffn_range (MAX (c->intermediate_size,
                             c->moe_intermediate_size * MAX (c->n_shared_experts, 1)), tp, 0,
                        &f0, &widest);
  guint64 F = (guint64) widest;
  int o_widest = widest_o (model, tp);                        /* o_proj's input, maybe widened */
  guint64 floats = 5 * D                                      /* x, h, out, partial, reduce */
                   + (guint64) MAX (c->q_lora_rank, 1)
                   + Hl * (guint64) glim_config_qk_head_dim (c)
                   + (guint64) glim_config_cache_width (c)
                   + 2 * Hl * Lkv                              /* q_lat, o_lat */
                   + (guint64) o_widest
                   + 2 * (K + 1) * F                           /* gate, up of K experts + shared */
                   + K * D                                     /* MoE slots */
                   + (guint64) c->n_routed_experts             /* router logits */
                   + (guint64) c->vocab_size;                  /* gathered logits */
  guint64 splits = MIN ((guint64) MAX (o->decode_splits, 0),
                        ((guint64) MAX (o->n_ctx, 1) + 63) / 64);
  floats += Hl * splits * (Lkv + 2);                          /* decode split partials */
  return floats * 4 * (guint64) T;
}

/* The widest weight of a shard: most elements the prefill expands to float32 scratch (*elems;
 * BF16 weights are used in place) and most input columns (*cols). */
static void
widest_weight (const GlimWeight *w, guint64 *elems, guint64 *cols)
{
  if (w->format == GLIM_WEIGHT_NONE)
    return;
  if (w->format != GLIM_WEIGHT_BF16)
    *elems = MAX (*elems, (guint64) w->rows * (guint64) w->cols);
  *cols = MAX (*cols, (guint64) w->cols);
}

static void
widest_mlp (const GlimMlp *m, guint64 *elems, guint64 *cols)
{
  widest_weight (&m->gate, elems, cols);
  widest_weight (&m->up, elems, cols);
  widest_weight (&m->down, elems, cols);
}

static void
shard_widest (GlimModel *model, const GlimShard *s, guint64 *elems, guint64 *cols)
{
  const GlimConfig *c = model->config;
  widest_weight (c->tie_word_embeddings ? &model->embed : &s->lm_head, elems, cols);
  for (int l = 0; l < s->n_layers; l++) {
    const GlimLayer *L = &s->layers[l];
    widest_weight (&L->q_a, elems, cols);
    widest_weight (&L->q_b, elems, cols);
    widest_weight (&L->q, elems, cols);
    widest_weight (&L->kv_a, elems, cols);
    widest_weight (&L->kv_b, elems, cols);
    widest_weight (&L->o, elems, cols);
    widest_weight (&L->router, elems, cols);
    if (L->router.format == GLIM_WEIGHT_BF16)   /* expanded too: float32 router logits */
      *elems = MAX (*elems, (guint64) L->router.rows * (guint64) L->router.cols);
    if (!L->is_moe) {
      widest_mlp (&L->dense, elems, cols);
      continue;
    }
    widest_mlp (&L->shared, elems, cols);
    for (int e = 0; e < c->n_routed_experts; e++)
      widest_mlp (&L->experts[e], elems, cols);
  }
}

/* Whether the CUDA prefill takes this model's attention with the flash kernel
 * (cuda-prefill.c, pre_alloc): both head dims within what the kernel takes, and every kv_b
 * exact in bf16 (NVFP4 or BF16). */
static gboolean
prefill_flash (GlimModel *model, const GlimShardPlanOptions *o)
{
  const GlimConfig *c = model->config;
  if (o->prefill_flash_max_dim <= 0 || glim_config_qk_head_dim (c) > o->prefill_flash_max_dim ||
      c->v_head_dim > o->prefill_flash_max_dim)
    return FALSE;
  for (int l = 0; l < c->n_layers; l++)
    if (model->layers[l].kv_b.format != GLIM_WEIGHT_NVFP4 &&
        model->layers[l].kv_b.format != GLIM_WEIGHT_BF16)
      return FALSE;
  return TRUE;
}

/* The prefill workspace of one rank (engine/cuda/cuda-prefill.c, pre_alloc, buffer by buffer):
 * chunks of T tokens, float32 unless noted; each buffer padded to 256 bytes. */
static guint64
prefill_estimate (GlimModel *model, int tp, const GlimShardPlanOptions *o, guint64 wide_elems,
                  guint64 wide_cols, int o_widest)
{
  const GlimConfig *c = model->config;
  guint64 n_ctx = (guint64) MAX (o->n_ctx, 1);
  guint64 T = MIN ((guint64) o->prefill_tokens, n_ctx), LT = MIN (T, 256);
  guint64 D = (guint64) c->hidden_size, Hl = (guint64) (c->n_heads / tp);
  guint64 Lkv = (guint64) c->kv_lora_rank, C = (guint64) glim_config_cache_width (c);
  guint64 K = (guint64) c->n_experts_per_tok, E = (guint64) c->n_routed_experts;
  guint64 F = (guint64) MAX (c->intermediate_size,
                             c->moe_intermediate_size * MAX (c->n_shared_experts, 1));
  guint64 O = MAX (Hl * (guint64) c->v_head_dim, (guint64) o_widest);
  int v0, n_vocab = 0;
  glim_shard_vocab_range (c->vocab_size, tp, 0, &v0, &n_vocab);      /* rank 0's is the most */
  guint64 Dkv = (guint64) (c->qk_nope_head_dim + c->v_head_dim);
  guint64 floats = T * D * 4                                   /* x, h, out, xe */
                   + T * K * D                                 /* ye: routed outputs */
                   + T * (guint64) MAX (c->q_lora_rank, 16)
                   + T * Hl * (guint64) glim_config_qk_head_dim (c)
                   + T * C + T * O + 2 * T * F                 /* kva, o, gate, up */
                   + T * E + T * K + T * (K + 1) * D           /* router, slots */
                   + LT * (guint64) MAX (n_vocab, 1)           /* logits */
                   + wide_elems * (guint64) MAX (o->prefill_lanes, 1) /* a weight expanded
                                                                * per expert lane (float32 for
                                                                * tf32/fp32; bf16 uses half) */
                   + T * (5 * K + 4) + E + 1                   /* int32 index arrays, offsets */
                   + 3 * (E + 1) * 24                          /* grouped-GEMM descriptors */
                   + 2 * T * K;                                /* their inputs' row scales */
  /* 16-bit hi + lo activations: of p->h [T, D], and of any other input (the MoE's [T * K, D]
   * and [T * K, moe_intermediate_size]) */
  guint64 Fm = (guint64) MAX (c->moe_intermediate_size, 0);
  guint64 halves = 2 * T * D + 2 * T * MAX (K * MAX (D, Fm), wide_cols);
  if (prefill_flash (model, o)) {
    /* kv_b in 16 bits, Kn|V of one key block in f16 (first in float32 where a kv_b is BF16), its
     * Kpe and latent rows in f16, the flash state (max, sum), the block's scales */
    guint64 KB = MIN ((guint64) MAX (o->prefill_key_block, 1), n_ctx);
    guint64 R = (guint64) c->qk_rope_head_dim;
    gboolean kv_f32 = FALSE;                    /* Kn|V in float32: only for a BF16 kv_b */
    for (int l = 0; l < c->n_layers; l++)
      kv_f32 |= model->layers[l].kv_b.format == GLIM_WEIGHT_BF16;
    halves += Hl * Dkv * Lkv + KB * Hl * Dkv + KB * R + KB * Lkv;
    floats += 2 * T * Hl + (kv_f32 ? KB * Hl * Dkv : 0) + 2 + 8;
  } else {
    /* the score blocks S and P: Tq queries x Hl heads x n_ctx keys, Tq cut to the budget */
    guint64 per_q = Hl * n_ctx * 8;
    guint64 Tq = MIN (T, MAX (16, o->prefill_score_bytes / per_q));
    Tq = MAX (16, Tq / 16 * 16);
    floats += T * Hl * C + T * Hl * Lkv                        /* q over the cache, o latent */
              + Hl * Dkv * Lkv                                 /* kv_b in float32 */
              + n_ctx * C                                      /* one layer's cache */
              + 2 * Tq * Hl * n_ctx;                           /* S, P */
  }
  return floats * 4 + halves * 2 + 45 * 256;                   /* 45 buffers, each padded */
}

static gboolean
compute_plan (GlimModel *model, int tp, const GlimShardPlanOptions *o, GlimShardPlan *plan,
              GError **error)
{
  const GlimConfig *c = model->config;
  memset (plan, 0, sizeof *plan);
  plan->tp = tp;
  if (!glim_shard_check (model, tp, error))
    return FALSE;
  plan->replicated_bytes = replicated_bytes (model);
  guint64 wide_elems = 0, wide_cols = 16;
  for (int r = 0; r < tp; r++) {
    g_autoptr (GlimShard) s = glim_shard_new (model, tp, r, error);
    if (s == NULL)
      return FALSE;
    if (o->prefill_tokens > 0)
      shard_widest (model, s, &wide_elems, &wide_cols);
    guint64 n = c->tie_word_embeddings ? 0 : glim_weight_n_bytes (&s->lm_head);
    for (int l = 0; l < c->n_layers; l++)
      n += sharded_layer_bytes (c, &s->layers[l]);
    plan->sharded_bytes[r] = n;
    if (n > plan->sharded_bytes[plan->largest_rank])
      plan->largest_rank = r;
  }
  int value_bytes = o->cache_value_bytes > 0 ? o->cache_value_bytes : 2;
  int T = o->chunk_tokens > 0 ? o->chunk_tokens : 64;
  plan->weight_bytes = plan->replicated_bytes + plan->sharded_bytes[plan->largest_rank];
  plan->kv_cache_bytes = (guint64) c->n_layers * (guint64) MAX (o->n_ctx, 0) *
                         (guint64) glim_config_cache_width (c) * (guint64) value_bytes;
  plan->workspace_bytes = o->workspace_bytes > 0 ? o->workspace_bytes
                                                 : workspace_estimate (model, tp, T, o);
  if (o->prefill_tokens > 0)
    plan->workspace_bytes += prefill_estimate (model, tp, o, wide_elems, wide_cols,
                                               widest_o (model, tp));
  plan->total_bytes = plan->weight_bytes + plan->kv_cache_bytes + plan->workspace_bytes;
  return TRUE;
}

/* What would fit instead of `plan` on devices of o->device_bytes. */
static char *
fit_advice (GlimModel *model, const GlimShardPlan *plan, const GlimShardPlanOptions *o)
{
  const GlimConfig *c = model->config;
  GlimShardPlan last = *plan, p;
  for (int tp = plan->tp + 1; tp <= GLIM_SHARD_TP_MAX; tp++) {
    if (!compute_plan (model, tp, o, &p, NULL))
      continue;
    if (p.total_bytes <= o->device_bytes)
      return g_strdup_printf ("tensor parallel size %d would fit (%.2f GiB per rank)", tp,
                              p.total_bytes / GIB);
    last = p;
  }
  guint64 fixed = last.weight_bytes + last.workspace_bytes;
  int value_bytes = o->cache_value_bytes > 0 ? o->cache_value_bytes : 2;
  guint64 per_token = (guint64) c->n_layers * (guint64) glim_config_cache_width (c) *
                      (guint64) value_bytes;
  if (fixed >= o->device_bytes)
    return g_strdup_printf ("even at tensor parallel size %d a rank needs %.2f GiB before its "
                            "KV cache", last.tp, fixed / GIB);
  guint64 n_ctx = (o->device_bytes - fixed) / per_token;
  return g_strdup_printf ("no tensor parallel size up to %d fits this context; at size %d a "
                          "context of %" G_GUINT64_FORMAT " tokens would", GLIM_SHARD_TP_MAX,
                          last.tp, n_ctx);
}

gboolean
glim_shard_plan (GlimModel *model, int tp, const GlimShardPlanOptions *options,
                 GlimShardPlan *plan, GError **error)
{
  g_return_val_if_fail (model != NULL && options != NULL && plan != NULL, FALSE);
  if (!compute_plan (model, tp, options, plan, error))
    return FALSE;
  if (options->device_bytes == 0 || plan->total_bytes <= options->device_bytes)
    return TRUE;
  g_autofree char *advice = fit_advice (model, plan, options);
  g_set_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_NO_FIT,
               "tensor parallel size %d: rank %d needs %.2f GiB (weights %.2f GiB, KV cache "
               "%.2f GiB for %d tokens, workspace %.2f GiB) but a device has %.2f GiB; %s", tp,
               plan->largest_rank, plan->total_bytes / GIB, plan->weight_bytes / GIB,
               plan->kv_cache_bytes / GIB, options->n_ctx, plan->workspace_bytes / GIB,
               options->device_bytes / GIB, advice);
  return FALSE;
}

/* ---- the longest context that fits ---- */

/* Does the plan for n_ctx fit in `usable` bytes? */
static gboolean
fits (GlimModel *model, int tp, const GlimShardPlanOptions *o, int n_ctx, guint64 usable)
{
  GlimShardPlanOptions po = *o;
  GlimShardPlan plan;
  po.n_ctx = n_ctx;
  po.device_bytes = 0;
  return compute_plan (model, tp, &po, &plan, NULL) && plan.total_bytes <= usable;
}

gboolean
glim_shard_fit_context (GlimModel *model, int tp, const GlimShardPlanOptions *options,
                        const guint64 *free_bytes, int *n_ctx, GError **error)
{
  g_return_val_if_fail (model != NULL && options != NULL && free_bytes != NULL && n_ctx != NULL,
                        FALSE);
  if (!glim_shard_check (model, tp, error))
    return FALSE;
  /* every rank is held to the plan of the rank that needs the most: the least memory decides */
  int poorest = 0;
  for (int r = 1; r < tp; r++)
    if (free_bytes[r] < free_bytes[poorest])
      poorest = r;
  guint64 usable = free_bytes[poorest] > GLIM_SHARD_RUNTIME_RESERVE
                     ? free_bytes[poorest] - GLIM_SHARD_RUNTIME_RESERVE : 0;
  int n_max = model->config->max_position_embeddings;
  if (fits (model, tp, options, n_max, usable)) {
    *n_ctx = n_max;
    return TRUE;
  }
  /* the plan grows with n_ctx: the largest k with k * STEP fitting, lo fits, hi does not */
  int lo = 0, hi = (n_max + GLIM_SHARD_CONTEXT_STEP - 1) / GLIM_SHARD_CONTEXT_STEP;
  while (hi - lo > 1) {
    int mid = lo + (hi - lo) / 2;
    if (fits (model, tp, options, mid * GLIM_SHARD_CONTEXT_STEP, usable))
      lo = mid;
    else
      hi = mid;
  }
  if (lo > 0) {
    *n_ctx = lo * GLIM_SHARD_CONTEXT_STEP;
    return TRUE;
  }
  /* not even the smallest context: the fit check's own message says what does not fit */
  GlimShardPlanOptions po = *options;
  GlimShardPlan plan;
  po.n_ctx = MIN (GLIM_SHARD_CONTEXT_STEP, n_max);
  po.device_bytes = MAX (usable, 1);
  if (glim_shard_plan (model, tp, &po, &plan, error)) {     /* cannot happen: it did not fit */
    g_set_error (error, GLIM_SHARD_ERROR, GLIM_SHARD_ERROR_NO_FIT,
                 "tensor parallel size %d: no context fits", tp);
    return FALSE;
  }
  g_prefix_error (error, "rank %d (%.2f GiB free, %.1f GiB kept for the CUDA runtime): ",
                  poorest, free_bytes[poorest] / GIB, GLIM_SHARD_RUNTIME_RESERVE / GIB);
  return FALSE;
}
