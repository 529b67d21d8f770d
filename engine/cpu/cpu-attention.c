/* cpu-attention.c: Multi-head Latent Attention on the CPU, absorbed form over the latent cache.
 * SPDX-License-Identifier: MIT
 *
 *   q      = q_b(norm(q_a(h)))                 [T, H, Dn + R]
 *   kv     = kv_a(h) = [c_raw Lkv | k_pe R];  c = norm(c_raw);  q_pe, k_pe rotated
 *   cache[pos] = [c | k_pe]
 *   q_lat[h]   = W_UK[h]^T q_nope[h]           [Lkv]   (W_UK: kv_b rows h*(Dn+Dv) + 0..Dn)
 *   s[h, j]    = scale * (q_lat[h].c[j] + q_pe[h].k_pe[j]),  j <= pos
 *   o_lat[h]   = sum_j softmax(s)[j] c[j]       [Lkv]
 *   o[h]       = W_UV[h] o_lat[h]               [Dv]    (W_UV: kv_b rows h*(Dn+Dv) + Dn + 0..Dv)
 *   out        = o_proj(o)
 * This equals transformers' non-absorbed form (k_nope = W_UK c, v = W_UV c) up to float32
 * rounding; scale = 1/sqrt(Dn + R).
 * Under tensor parallelism (glim-shard.h) q_a, its norm and the cache are replicated
 * (glim_cpu_attention_latent, computed once: every rank would compute the same bits), and each
 * rank runs glim_cpu_attention_rank over its Hl heads, ending in its partial o_proj output.
 * A rank's NVFP4 o_proj view may be widened to whole scale blocks: its o rows then hold zeros
 * in the columns of the neighbours' heads, which add nothing. */
#define G_LOG_DOMAIN "glimmer-cpu"

#include "cpu-private.h"

#include <math.h>
#include <string.h>

typedef struct {
  GlimCpuForward   *fw;
  const GlimWeight *kv_b;          /* the rank's heads: [H * (Dn + Dv), Lkv] */
  int               H;             /* heads of the rank (all heads at tp 1) */
  int               o_cols;        /* row length of o: L->o's input columns */
  int               o_lead;        /* o columns before the rank's first head's */
  int               T;
  int               n_past;
  const float      *layer_cache;   /* [n_ctx, C] */
  float            *rows;          /* [n_threads, Lkv] dequantised kv_b rows */
} AttnJob;

/* One task per head: q_lat[t, h] = sum_d q_nope[t, h, d] * W_UK[h, d, :] */
static void
absorb_q_task (gpointer data, int h, int thread)
{
  AttnJob *j = data;
  const GlimConfig *c = j->fw->model->config;
  int H = j->H, Dn = c->qk_nope_head_dim, Dv = c->v_head_dim, Lkv = c->kv_lora_rank;
  int Dqk = glim_config_qk_head_dim (c);
  float *row = j->rows + (gsize) thread * Lkv;
  for (int t = 0; t < j->T; t++)
    memset (j->fw->q_lat + ((gsize) t * H + h) * Lkv, 0, sizeof (float) * Lkv);
  for (int d = 0; d < Dn; d++) {
    glim_weight_row_to_f32 (j->kv_b, h * (Dn + Dv) + d, row);
    for (int t = 0; t < j->T; t++) {
      float qd = j->fw->q[((gsize) t * H + h) * Dqk + d];
      float *ql = j->fw->q_lat + ((gsize) t * H + h) * Lkv;
      for (int i = 0; i < Lkv; i++)
        ql[i] += qd * row[i];
    }
  }
}

/* One task per (token, head): scores over the cache, softmax, latent output. */
static void
attend_task (gpointer data, int task, int thread)
{
  AttnJob *j = data;
  GlimCpuForward *fw = j->fw;
  const GlimConfig *c = fw->model->config;
  int H = j->H, Dn = c->qk_nope_head_dim, R = c->qk_rope_head_dim, Lkv = c->kv_lora_rank;
  int Dqk = glim_config_qk_head_dim (c), C = glim_config_cache_width (c);
  int t = task / H, h = task % H;
  int n_keys = j->n_past + t + 1;                       /* causal: positions 0..pos */
  float scale = 1.0f / sqrtf ((float) Dqk);
  const float *ql = fw->q_lat + ((gsize) t * H + h) * Lkv;
  const float *qpe = fw->q + ((gsize) t * H + h) * Dqk + Dn;
  float *s = fw->attn_scores + (gsize) thread * fw->n_ctx;

  float max = -INFINITY;
  for (int k = 0; k < n_keys; k++) {
    const float *e = j->layer_cache + (gsize) k * C;
    s[k] = scale * (glim_cpu_dot (ql, e, Lkv) + glim_cpu_dot (qpe, e + Lkv, R));
    max = MAX (max, s[k]);
  }
  float sum = 0.0f;
  for (int k = 0; k < n_keys; k++) {
    s[k] = expf (s[k] - max);
    sum += s[k];
  }
  float *ol = fw->o_lat + ((gsize) t * H + h) * Lkv;
  memset (ol, 0, sizeof (float) * Lkv);
  for (int k = 0; k < n_keys; k++) {
    const float *e = j->layer_cache + (gsize) k * C;
    float p = s[k] / sum;
    for (int i = 0; i < Lkv; i++)
      ol[i] += p * e[i];
  }
}

/* One task per head: o[t, h, v] = W_UV[h, v, :] . o_lat[t, h] */
static void
unabsorb_o_task (gpointer data, int h, int thread)
{
  AttnJob *j = data;
  const GlimConfig *c = j->fw->model->config;
  int H = j->H, Dn = c->qk_nope_head_dim, Dv = c->v_head_dim, Lkv = c->kv_lora_rank;
  float *row = j->rows + (gsize) thread * Lkv;
  for (int v = 0; v < Dv; v++) {
    glim_weight_row_to_f32 (j->kv_b, h * (Dn + Dv) + Dn + v, row);
    for (int t = 0; t < j->T; t++)
      j->fw->o[(gsize) t * j->o_cols + (gsize) j->o_lead + (gsize) h * Dv + v] =
        glim_cpu_dot (row, j->fw->o_lat + ((gsize) t * H + h) * Lkv, Lkv);
  }
}

void
glim_cpu_attention_latent (GlimCpuForward *fw, const GlimLayer *L, int l, int T, int n_past,
                           const float *h)
{
  const GlimConfig *c = fw->model->config;
  int R = c->qk_rope_head_dim, Lkv = c->kv_lora_rank, C = glim_config_cache_width (c);
  float *layer_cache = fw->cache + (gsize) l * (gsize) fw->n_ctx * (gsize) C;

  /* Query latent. */
  if (c->q_lora_rank > 0) {
    int Nq = c->q_lora_rank;
    glim_cpu_linear (fw->pool, &L->q_a, h, T, fw->qa);
    for (int t = 0; t < T; t++)
      glim_cpu_rmsnorm (fw->qa + (gsize) t * Nq, fw->qa + (gsize) t * Nq, L->q_a_norm, Nq,
                        (float) c->latent_norm_eps);
  }

  /* Latent and shared rope key, into the cache. */
  glim_cpu_linear (fw->pool, &L->kv_a, h, T, fw->kva);
  for (int t = 0; t < T; t++) {
    int pos = n_past + t;
    float *e = layer_cache + (gsize) pos * C;
    const float *kv = fw->kva + (gsize) t * C;
    glim_cpu_rmsnorm (e, kv, L->kv_a_norm, Lkv, (float) c->latent_norm_eps);
    memcpy (e + Lkv, kv + Lkv, sizeof (float) * R);
    glim_cpu_rope (e + Lkv, R, pos, fw->inv_freq, c->rope_interleave);
  }
}

void
glim_cpu_attention_rank (GlimCpuForward *fw, const GlimLayer *L, int H, int o_lead, int l, int T,
                         int n_past, const float *h, float *out)
{
  const GlimConfig *c = fw->model->config;
  int Dn = c->qk_nope_head_dim, R = c->qk_rope_head_dim, Lkv = c->kv_lora_rank;
  int Dqk = glim_config_qk_head_dim (c), C = glim_config_cache_width (c);
  float *layer_cache = fw->cache + (gsize) l * (gsize) fw->n_ctx * (gsize) C;

  /* Queries of this rank's heads, q_pe rotated. */
  if (c->q_lora_rank > 0)
    glim_cpu_linear (fw->pool, &L->q_b, fw->qa, T, fw->q);
  else
    glim_cpu_linear (fw->pool, &L->q, h, T, fw->q);
  for (int t = 0; t < T; t++)
    for (int hh = 0; hh < H; hh++)
      glim_cpu_rope (fw->q + ((gsize) t * H + hh) * Dqk + Dn, R, n_past + t, fw->inv_freq,
                     c->rope_interleave);

  g_autofree float *rows = g_new (float, (gsize) glim_cpu_pool_n_threads (fw->pool) * Lkv);
  AttnJob j = { fw, &L->kv_b, H, L->o.cols, o_lead, T, n_past, layer_cache, rows };
  int o_tail = L->o.cols - o_lead - H * c->v_head_dim;   /* a widened o_proj's other heads */
  g_assert (o_lead >= 0 && o_tail >= 0);
  for (int t = 0; t < T && (o_lead > 0 || o_tail > 0); t++) {
    float *o = fw->o + (gsize) t * L->o.cols;
    memset (o, 0, sizeof (float) * (gsize) o_lead);
    memset (o + L->o.cols - o_tail, 0, sizeof (float) * (gsize) o_tail);
  }
  glim_cpu_pool_run (fw->pool, H, absorb_q_task, &j);
  glim_cpu_pool_run (fw->pool, T * H, attend_task, &j);
  glim_cpu_pool_run (fw->pool, H, unabsorb_o_task, &j);
  glim_cpu_linear (fw->pool, &L->o, fw->o, T, out);
}
