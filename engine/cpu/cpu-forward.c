/* cpu-forward.c: the GLM-4.7-Flash (Glm4MoeLite) forward pass on the CPU.
 * SPDX-License-Identifier: MIT
 *
 * The clean, minimal reference. As such:
 * - it runs on any CPU, float32 activations and accumulation, NVFP4 dequantised on the fly;
 * - it reads like docs/model.md §2: embed, then per layer MLA attention over the latent cache and
 *   a dense or MoE FFN, then the final norm and lm_head;
 * - attention is always the absorbed (latent) form, so prefill and decode run the same code and
 *   agree by construction; the cache holds C = Lkv + R floats per token per layer
 *   ([normalised latent | rotated k_pe]).
 * Tokens are processed in chunks of at most CHUNK so scratch memory stays bounded.
 *
 * Tensor parallelism is simulated: with tp ranks, every split computation runs once per rank
 * on that rank's views of the weights (glim-shard.h says which), one rank after the other, and
 * the two all-reduces of each layer sum the ranks' partial outputs in rank order (rank 0 +
 * rank 1 + ...), a fixed order that NCCL's ring does not promise. Replicated work (embedding,
 * q_a/kv_a, the cache, the router) runs once, since every rank would compute the same bits;
 * lm_head runs per rank over its vocabulary rows and the logits are gathered. At tp 1 the one
 * rank holds the whole model and the all-reduces do nothing: the plain single-device pass. */
#define G_LOG_DOMAIN "glimmer-cpu"

#include "cpu.h"
#include "cpu-private.h"

#include <math.h>
#include <string.h>

#define CHUNK 64

void
glim_cpu_forward_free (GlimCpuForward *fw)
{
  if (fw == NULL)
    return;
  g_clear_pointer (&fw->pool, glim_cpu_pool_free);
  for (int r = 0; fw->ranks != NULL && r < fw->tp; r++)
    glim_shard_free (fw->ranks[r]);
  g_free (fw->ranks);
  g_free (fw->partials);
  g_free (fw->rank_logits);
  g_free (fw->cache);
  g_free (fw->inv_freq);
  g_free (fw->x);
  g_free (fw->h);
  g_free (fw->qa);
  g_free (fw->q);
  g_free (fw->kva);
  g_free (fw->q_lat);
  g_free (fw->o_lat);
  g_free (fw->o);
  g_free (fw->attn_scores);
  g_free (fw->ffn_a);
  g_free (fw->ffn_b);
  g_free (fw->ffn_out);
  g_free (fw->moe_slots);
  g_free (fw->moe_idx);
  g_free (fw->moe_w);
  g_free (fw->moe_x);
  g_free (fw->moe_tok);
  g_free (fw);
}

GlimCpuForward *
glim_cpu_forward_new (GlimModel *model, int n_ctx, int n_threads, int tp, GError **error)
{
  const GlimConfig *c = model->config;
  if (n_ctx <= 0 || n_ctx > c->max_position_embeddings) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "context length %d is outside 1..%d (max_position_embeddings)", n_ctx,
                 c->max_position_embeddings);
    return NULL;
  }
  gsize cache_floats = (gsize) c->n_layers * (gsize) n_ctx * (gsize) glim_config_cache_width (c);
  g_autoptr (GlimCpuForward) fw = g_new0 (GlimCpuForward, 1);
  fw->model = model;
  fw->n_ctx = n_ctx;
  tp = MAX (tp, 1);
  fw->ranks = g_new0 (GlimShard *, tp);
  for (int r = 0; r < tp; r++) {
    fw->ranks[r] = glim_shard_new (model, tp, r, error);
    if (fw->ranks[r] == NULL)
      return NULL;
    fw->tp = r + 1;                       /* ranks made so far, for glim_cpu_forward_free */
  }
  fw->cache = g_try_new0 (float, cache_floats);
  if (fw->cache == NULL) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "not enough memory for a %d-token KV cache (%.1f GiB)", n_ctx,
                 cache_floats * 4.0 / (1024.0 * 1024 * 1024));
    return NULL;
  }
  fw->pool = glim_cpu_pool_new (n_threads);

  int D = c->hidden_size, H = c->n_heads, R = c->qk_rope_head_dim, Lkv = c->kv_lora_rank;
  int Dqk = glim_config_qk_head_dim (c);
  int ffn = MAX (c->intermediate_size, c->moe_intermediate_size * MAX (c->n_shared_experts, 1));
  int K = c->n_experts_per_tok;
  gsize T = CHUNK;
  fw->inv_freq = g_new (float, R / 2);
  glim_cpu_rope_freqs (fw->inv_freq, R, c->rope_theta);
  fw->x = g_new (float, T * D);
  fw->h = g_new (float, T * D);
  fw->qa = g_new (float, T * MAX (c->q_lora_rank, 1));
  fw->q = g_new (float, T * H * Dqk);
  fw->kva = g_new (float, T * glim_config_cache_width (c));
  fw->q_lat = g_new (float, T * H * Lkv);
  fw->o_lat = g_new (float, T * H * Lkv);
  fw->o = g_new (float, T * H * c->v_head_dim);
  fw->attn_scores = g_new (float, (gsize) glim_cpu_pool_n_threads (fw->pool) * (gsize) n_ctx);
  fw->ffn_a = g_new (float, T * ffn);
  fw->ffn_b = g_new (float, T * ffn);
  fw->ffn_out = g_new (float, T * D);
  fw->moe_slots = g_new (float, T * K * D);
  fw->moe_idx = g_new (int, T * K);
  fw->moe_w = g_new (float, T * K);
  fw->moe_x = g_new (float, T * D);
  fw->moe_tok = g_new (int, T * 2);
  if (fw->tp > 1) {
    fw->partials = g_new (float, (gsize) (fw->tp - 1) * T * D);
    fw->rank_logits = g_new (float, T * (gsize) fw->ranks[0]->n_vocab);   /* rank 0: the most */
  }
  return g_steal_pointer (&fw);
}

void
glim_cpu_forward_set_trace (GlimCpuForward *fw, GlimRouteTrace *trace)
{
  fw->trace = trace;
}

/* ---- FFN ---- */

/* out[T, D] = down(silu(gate(x)) * up(x)); zeros for a rank whose part of the width is empty */
static void
mlp_forward (GlimCpuForward *fw, const GlimMlp *mlp, const float *x, int T, float *out)
{
  int F = mlp->gate.rows;
  if (F == 0) {
    memset (out, 0, sizeof (float) * (gsize) T * (gsize) fw->model->config->hidden_size);
    return;
  }
  glim_cpu_linear (fw->pool, &mlp->gate, x, T, fw->ffn_a);
  glim_cpu_linear (fw->pool, &mlp->up, x, T, fw->ffn_b);
  glim_cpu_silu_mul (fw->ffn_a, fw->ffn_b, T * F);
  glim_cpu_linear (fw->pool, &mlp->down, fw->ffn_a, T, out);
}

/* Router (fp32) and grouped top-k of every token into moe_idx/moe_w: replicated, so once. */
static void
moe_route (GlimCpuForward *fw, const GlimLayer *L, int l, const float *h, int T, int n_past)
{
  const GlimConfig *c = fw->model->config;
  int E = c->n_routed_experts, K = c->n_experts_per_tok;
  g_autofree float *logits = g_new (float, (gsize) T * E);
  glim_cpu_linear (fw->pool, &L->router, h, T, logits);
  for (int t = 0; t < T; t++) {
    float margin;
    glim_cpu_route (c, logits + (gsize) t * E, L->router_bias, fw->moe_idx + t * K,
                    fw->moe_w + t * K, &margin);
    glim_route_trace_record (fw->trace, l, n_past + t, fw->moe_idx + t * K, margin);
  }
}

/* One rank's MoE output after moe_route: its slices of the routed experts and of the shared
 * expert (L is the rank's view of the layer), routed + shared, before the all-reduce. */
static void
moe_forward (GlimCpuForward *fw, const GlimLayer *L, const float *h, int T, float *out)
{
  const GlimConfig *c = fw->model->config;
  int D = c->hidden_size, E = c->n_routed_experts, K = c->n_experts_per_tok;

  /* Each expert runs once over the tokens that chose it; its weighted output goes to that
   * token's slot k, and slots are summed in order afterwards (deterministic). */
  memset (fw->moe_slots, 0, sizeof (float) * (gsize) T * K * D);
  for (int e = 0; e < E; e++) {
    int n = 0;
    for (int t = 0; t < T; t++)
      for (int k = 0; k < K; k++)
        if (fw->moe_idx[t * K + k] == e) {
          fw->moe_tok[2 * n] = t;
          fw->moe_tok[2 * n + 1] = k;
          memcpy (fw->moe_x + (gsize) n * D, h + (gsize) t * D, sizeof (float) * D);
          n++;
        }
    if (n == 0)
      continue;
    mlp_forward (fw, &L->experts[e], fw->moe_x, n, fw->ffn_out);
    for (int i = 0; i < n; i++) {
      int t = fw->moe_tok[2 * i], k = fw->moe_tok[2 * i + 1];
      float w = fw->moe_w[t * K + k];
      float *slot = fw->moe_slots + ((gsize) t * K + k) * D;
      const float *y = fw->ffn_out + (gsize) i * D;
      for (int d = 0; d < D; d++)
        slot[d] = y[d] * w;
    }
  }
  for (int t = 0; t < T; t++) {
    float *o = out + (gsize) t * D;
    memset (o, 0, sizeof (float) * D);
    for (int k = 0; k < K; k++) {
      const float *slot = fw->moe_slots + ((gsize) t * K + k) * D;
      for (int d = 0; d < D; d++)
        o[d] += slot[d];
    }
  }
  if (c->n_shared_experts > 0) {
    mlp_forward (fw, &L->shared, h, T, fw->ffn_out);
    for (gsize i = 0; i < (gsize) T * D; i++)
      out[i] += fw->ffn_out[i];
  }
}

/* ---- tensor parallelism ---- */

/* Where rank r leaves its partial [T, D] result: rank 0 in the result buffer itself. */
static float *
rank_out (GlimCpuForward *fw, int r, float *out)
{
  int D = fw->model->config->hidden_size;
  return r == 0 ? out : fw->partials + (gsize) (r - 1) * CHUNK * (gsize) D;
}

/* The all-reduce: out (rank 0's partial) += rank 1's, then rank 2's, ... in rank order. */
static void
all_reduce (GlimCpuForward *fw, float *out, int T)
{
  gsize n = (gsize) T * (gsize) fw->model->config->hidden_size;
  for (int r = 1; r < fw->tp; r++) {
    const float *p = rank_out (fw, r, out);
    for (gsize i = 0; i < n; i++)
      out[i] += p[i];
  }
}

/* ---- the model ---- */

static void
layer_forward (GlimCpuForward *fw, int l, int T, int n_past)
{
  const GlimConfig *c = fw->model->config;
  const GlimLayer *L = &fw->model->layers[l];
  int D = c->hidden_size;
  float eps = (float) c->rms_norm_eps;

  for (int t = 0; t < T; t++)
    glim_cpu_rmsnorm (fw->h + (gsize) t * D, fw->x + (gsize) t * D, L->input_norm, D, eps);
  glim_cpu_attention_latent (fw, L, l, T, n_past, fw->h);
  for (int r = 0; r < fw->tp; r++) {
    const GlimShard *s = fw->ranks[r];
    glim_cpu_attention_rank (fw, &s->layers[l], s->n_heads, s->o_lead[l], l, T, n_past, fw->h,
                             rank_out (fw, r, fw->ffn_out));
  }
  all_reduce (fw, fw->ffn_out, T);                               /* all-reduce #1 */
  for (gsize i = 0; i < (gsize) T * D; i++)
    fw->x[i] += fw->ffn_out[i];

  for (int t = 0; t < T; t++)
    glim_cpu_rmsnorm (fw->h + (gsize) t * D, fw->x + (gsize) t * D, L->post_attn_norm, D, eps);
  g_autofree float *m = g_new (float, (gsize) T * D);
  if (L->is_moe)
    moe_route (fw, L, l, fw->h, T, n_past);
  for (int r = 0; r < fw->tp; r++) {
    const GlimLayer *Lr = &fw->ranks[r]->layers[l];
    if (L->is_moe)
      moe_forward (fw, Lr, fw->h, T, rank_out (fw, r, m));
    else
      mlp_forward (fw, &Lr->dense, fw->h, T, rank_out (fw, r, m));
  }
  all_reduce (fw, m, T);                                         /* all-reduce #2 */
  for (gsize i = 0; i < (gsize) T * D; i++)
    fw->x[i] += m[i];
}

static void
chunk_forward (GlimCpuForward *fw, const int32_t *tokens, int T, int n_past, float *logits,
               gboolean all_logits)
{
  GlimModel *model = fw->model;
  const GlimConfig *c = model->config;
  int D = c->hidden_size, V = c->vocab_size;

  for (int t = 0; t < T; t++)
    glim_weight_row_to_f32 (&model->embed, tokens[t], fw->x + (gsize) t * D);
  for (int l = 0; l < c->n_layers; l++)
    layer_forward (fw, l, T, n_past);

  if (logits == NULL)
    return;
  int first = all_logits ? 0 : T - 1;
  int n = T - first;
  for (int t = first; t < T; t++)
    glim_cpu_rmsnorm (fw->h + (gsize) (t - first) * D, fw->x + (gsize) t * D, model->final_norm, D,
                      (float) c->rms_norm_eps);
  /* lm_head by vocabulary rows, gathered: each logit is one rank's dot product, unsummed */
  for (int r = 0; r < fw->tp; r++) {
    const GlimShard *s = fw->ranks[r];
    if (s->n_vocab == V) {
      glim_cpu_linear (fw->pool, &s->lm_head, fw->h, n, logits);
      continue;
    }
    glim_cpu_linear (fw->pool, &s->lm_head, fw->h, n, fw->rank_logits);
    for (int t = 0; t < n; t++)
      memcpy (logits + (gsize) t * V + s->vocab0, fw->rank_logits + (gsize) t * s->n_vocab,
              sizeof (float) * (gsize) s->n_vocab);
  }
}

void
glim_cpu_forward_eval (GlimCpuForward *fw, const int32_t *tokens, int T, int n_past,
                       float *logits, gboolean all_logits)
{
  g_assert (n_past >= 0 && n_past + T <= fw->n_ctx);
  int V = fw->model->config->vocab_size;
  for (int start = 0; start < T; start += CHUNK) {
    int n = MIN (CHUNK, T - start);
    gboolean last = start + n == T;
    float *out = NULL;
    if (logits != NULL && all_logits)
      out = logits + (gsize) start * V;
    else if (logits != NULL && last)
      out = logits;
    chunk_forward (fw, tokens + start, n, n_past + start, out, all_logits);
  }
}
