/* cuda-forward.c: the GLM-4.7-Flash forward pass on one GPU, orchestrating kernels/.
 * SPDX-License-Identifier: MIT
 *
 * Upload: one device arena holds every weight in its stored format (NVFP4 packed + fp8 scales,
 * BF16 as BF16); norms and biases as float32. Forward: chunks of up to GK_GEMV_MAX_T tokens
 * through grouped GEMVs (weights streamed once per chunk), absorbed MLA over a bf16 latent
 * cache, device-side MoE routing. A single-token step is captured once in a CUDA graph and
 * replayed; positions and ids live in device memory so the graph never changes.
 * Mirrors engine/cpu/cpu-forward.c step by step.
 * Tensor parallelism: a forward can be one rank of several (cuda-tp.c runs them, one host thread
 * each); it then holds that rank's shard (glim-shard.h), and fw->reduce sums the residual
 * stream over the ranks after o_proj and after the FFN. Rank 0 adds its partial to the residual
 * stream, the other ranks store theirs in its place, so the sum is x + p0 + p1 + ... */
#define G_LOG_DOMAIN "glimmer-cuda"

#include "cuda.h"
#include "cuda-util.h"

#include <gio/gio.h>
#include <math.h>
#include <string.h>

#include "cuda-private.h"

/* ---- upload ---- */

static void *
arena_take (GlimCudaForward *fw, size_t bytes)
{
  size_t at = (fw->arena_used + 255) & ~(size_t) 255;
  g_assert (at + bytes <= fw->arena_size);
  fw->arena_used = at + bytes;
  return fw->arena + at;
}

static size_t
weight_bytes (const GlimWeight *w)
{
  size_t n = (size_t) w->rows * (size_t) w->cols;
  switch (w->format) {
  case GLIM_WEIGHT_NVFP4: return ((n / 2 + 255) & ~(size_t) 255) + n / 16 + 256;
  case GLIM_WEIGHT_F32:   return n * 4 + 256;
  case GLIM_WEIGHT_NONE:  return 0;
  default:                return n * 2 + 256;
  }
}

typedef struct {
  guint64          done, total;
  GlimProgressFunc progress;
  gpointer         data;
} Progress;

static gboolean
upload (GlimCudaForward *fw, Progress *pr, void *dst, const void *src, size_t n, GError **error)
{
  GLIM_CUDA_TRY (cudaMemcpy (dst, src, n, cudaMemcpyHostToDevice), error);
  pr->done += n;
  if (pr->progress != NULL && !pr->progress (pr->done, pr->total, pr->data)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "loading was cancelled");
    return FALSE;
  }
  return TRUE;
}

/* rows of `width` bytes, `pitch` bytes apart in the host copy (a column view), packed on the device */
static gboolean
upload_rows (GlimCudaForward *fw, Progress *pr, void *dst, const void *src, size_t width,
             size_t pitch, size_t rows, GError **error)
{
  if (pitch == width)
    return upload (fw, pr, dst, src, width * rows, error);
  if (rows == 0 || width == 0)
    return TRUE;
  GLIM_CUDA_TRY (cudaMemcpy2D (dst, width, src, pitch, width, rows, cudaMemcpyHostToDevice), error);
  pr->done += width * rows;
  return upload (fw, pr, dst, src, 0, error);   /* progress and cancel */
}

static gboolean
upload_weight (GlimCudaForward *fw, Progress *pr, const GlimWeight *w, GkMatrix *m, GError **error)
{
  memset (m, 0, sizeof *m);
  if (w->format == GLIM_WEIGHT_NONE)
    return TRUE;
  if (w->cols % 16 != 0) {
    g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
                 "%s: input size %d is not a multiple of 16 (the CUDA kernels need it)", w->name,
                 w->cols);
    return FALSE;
  }
  size_t n = (size_t) w->rows * (size_t) w->cols;
  size_t rows = (size_t) w->rows, cols = (size_t) w->cols;
  size_t stride = w->row_stride > 0 ? (size_t) w->row_stride : cols;   /* column views */
  m->rows = w->rows;
  m->cols = w->cols;
  m->scale2 = w->scale2;
  switch (w->format) {
  case GLIM_WEIGHT_NVFP4: {
    m->format = GK_WEIGHT_NVFP4;
    void *d = arena_take (fw, n / 2);
    void *s = arena_take (fw, n / 16);
    if (!upload_rows (fw, pr, d, w->data, cols / 2, stride / 2, rows, error) ||
        !upload_rows (fw, pr, s, w->scales, cols / 16, stride / 16, rows, error))
      return FALSE;
    m->data = d;
    m->scales = s;
    return TRUE;
  }
  case GLIM_WEIGHT_F32:
    m->format = GK_WEIGHT_F32;
    m->data = arena_take (fw, n * 4);
    return upload_rows (fw, pr, (void *) m->data, w->data, cols * 4, stride * 4, rows, error);
  case GLIM_WEIGHT_BF16:
  case GLIM_WEIGHT_F16:
    m->format = w->format == GLIM_WEIGHT_BF16 ? GK_WEIGHT_BF16 : GK_WEIGHT_F16;
    m->data = arena_take (fw, n * 2);
    return upload_rows (fw, pr, (void *) m->data, w->data, cols * 2, stride * 2, rows, error);
  default:
    g_assert_not_reached ();
  }
}

static gboolean
upload_vector (GlimCudaForward *fw, Progress *pr, const float *v, int n, float **out, GError **error)
{
  *out = arena_take (fw, (size_t) n * 4);
  return upload (fw, pr, *out, v, (size_t) n * 4, error);
}

static size_t
mlp_bytes (const GlimMlp *m)
{
  return weight_bytes (&m->gate) + weight_bytes (&m->up) + weight_bytes (&m->down);
}

/* The weights' layers and lm_head: the whole model's, or a tensor-parallel rank's views. */
static const GlimLayer *
src_layers (const GlimCudaForward *fw)
{
  return fw->shard != NULL ? fw->shard->layers : fw->model->layers;
}

/* lm_head is the embedding itself (one upload) when tied and not cut by vocabulary */
static gboolean
lm_head_is_embed (const GlimCudaForward *fw)
{
  return fw->model->config->tie_word_embeddings && fw->n_vocab == fw->model->config->vocab_size;
}

static size_t
model_bytes (const GlimCudaForward *fw)
{
  const GlimModel *model = fw->model;
  const GlimConfig *c = model->config;
  const GlimWeight *lm_head = fw->shard != NULL ? &fw->shard->lm_head : &model->lm_head;
  size_t total = weight_bytes (&model->embed) + (lm_head_is_embed (fw) ? 0 : weight_bytes (lm_head));
  total += (size_t) (c->hidden_size + c->qk_rope_head_dim) * 4 + 512;
  for (int l = 0; l < c->n_layers; l++) {
    const GlimLayer *L = &src_layers (fw)[l];
    total += weight_bytes (&L->q_a) + weight_bytes (&L->q_b) + weight_bytes (&L->q) +
             weight_bytes (&L->kv_a) + weight_bytes (&L->kv_b) + weight_bytes (&L->o);
    total += (size_t) (2 * c->hidden_size + c->q_lora_rank + c->kv_lora_rank + c->n_routed_experts) * 4 + 5 * 256;
    if (L->is_moe) {
      total += weight_bytes (&L->router) + mlp_bytes (&L->shared);
      for (int e = 0; e < c->n_routed_experts; e++)
        total += mlp_bytes (&L->experts[e]);
      total += 3 * ((size_t) (c->n_routed_experts + 1) * sizeof (GkMatrix) + 256);
    } else {
      total += mlp_bytes (&L->dense);
    }
  }
  return total;
}

#define TRY_NULL(expr, error)                                                        \
  G_STMT_START {                                                                     \
    cudaError_t e_ = (expr);                                                         \
    if (G_UNLIKELY (e_ != cudaSuccess)) {                                            \
      glim_cuda_set_error ((error), e_, #expr, G_STRFUNC, __FILE__, __LINE__);       \
      return NULL;                                                                   \
    }                                                                                \
  } G_STMT_END

/* ---- descriptors ---- */

static int
add_desc (GlimCudaForward *fw, const GkMatrix *w, const GkMatrix *w2, const float *x, int x_stride,
          float *y, int y_stride)
{
  GkGemvGroup g = { 0 };
  g.w = *w;
  if (w2 != NULL)
    g.w2 = *w2;
  g.x = x;
  g.y = y;
  g.x_stride = x_stride;
  g.y_stride = y_stride;
  g.alpha = 1.0f;
  g.T = 1;
  g_array_append_val (fw->host_desc, g);
  return (int) fw->host_desc->len - 1;
}

/* The descriptor normalises its input x (the residual stream) with these RMSNorm weights. */
static void
desc_set_norm (GlimCudaForward *fw, int desc, const float *norm_w, float eps)
{
  GkGemvGroup *g = &g_array_index (fw->host_desc, GkGemvGroup, desc);
  g->norm_w = norm_w;
  g->norm_eps = eps;
}

/* The descriptor adds its result to y (the residual stream) instead of storing it. */
static void
desc_set_accumulate (GlimCudaForward *fw, int desc)
{
  g_array_index (fw->host_desc, GkGemvGroup, desc).accumulate = 1;
}

/* ---- construction ---- */

static gboolean
alloc_scratch (GlimCudaForward *fw, GError **error)
{
  const GlimConfig *c = fw->model->config;
  int D = c->hidden_size, H = fw->n_heads, Lkv = c->kv_lora_rank;
  int Dqk = glim_config_qk_head_dim (c), C = glim_config_cache_width (c);
  int K = c->n_experts_per_tok, E = c->n_routed_experts;
  int F_max = MAX (c->intermediate_size, c->moe_intermediate_size * MAX (c->n_shared_experts, 1));
  struct { void **p; size_t bytes; } bufs[] = {
    { (void **) &fw->x, (size_t) TMAX * D * 4 },
    { (void **) &fw->qa, (size_t) TMAX * MAX (c->q_lora_rank, 16) * 4 },
    { (void **) &fw->q, (size_t) TMAX * H * Dqk * 4 },
    { (void **) &fw->kva, (size_t) TMAX * C * 4 },
    { (void **) &fw->q_lat, (size_t) TMAX * H * gk_mla_absorb_parts (c->qk_nope_head_dim) * Lkv * 4 },
    { (void **) &fw->o_lat, (size_t) TMAX * H * Lkv * 4 },
    { (void **) &fw->o, (size_t) TMAX * fw->o_cols * 4 },   /* zero outside the rank's heads */
    { (void **) &fw->partial, (size_t) TMAX * H * fw->max_splits * (Lkv + 2) * 4 },
    { (void **) &fw->q_mma, (size_t) TMAX * H * 2 * C * 2 },
    { (void **) &fw->act, (size_t) TMAX * (K + 1) * F_max * 4 },
    { (void **) &fw->slots, (size_t) TMAX * (K + 1) * D * 4 },
    { (void **) &fw->rlogits, (size_t) TMAX * E * 4 },
    { (void **) &fw->rweight, (size_t) TMAX * K * 4 },
    { (void **) &fw->logits, (size_t) TMAX * c->vocab_size * 4 },
    { (void **) &fw->ids, (size_t) TMAX * 4 },
    { (void **) &fw->n_past, 4 },
    { (void **) &fw->idx, (size_t) TMAX * K * 4 },
    { (void **) &fw->next, (size_t) TMAX * 4 },
    { (void **) &fw->moe_groups, (size_t) 2 * TMAX * (K + 1) * sizeof (GkGemvGroup) },
    { (void **) &fw->argmax_scratch, gk_argmax_scratch_bytes (TMAX) },
    { (void **) &fw->next_val, 4 },
    { (void **) &fw->route_done, (size_t) TMAX * sizeof (unsigned int) },
    { (void **) &fw->query_done, (size_t) H * sizeof (unsigned int) },
  };
  size_t total = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (bufs); i++)
    total += (bufs[i].bytes + 255) & ~(size_t) 255;
  GLIM_CUDA_TRY (cudaMalloc ((void **) &fw->scratch, total), error);
  fw->scratch_size = total;
  GLIM_CUDA_TRY (cudaMemset (fw->scratch, 0, total), error);
  size_t at = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (bufs); i++) {
    *bufs[i].p = fw->scratch + at;
    at += (bufs[i].bytes + 255) & ~(size_t) 255;
  }
  GLIM_CUDA_TRY (cudaMallocHost ((void **) &fw->pinned, (TMAX + 1) * sizeof (int32_t)), error);
  GLIM_CUDA_TRY (cudaMallocHost ((void **) &fw->pinned_next, TMAX * sizeof (int32_t)), error);
  GLIM_CUDA_TRY (cudaMallocHost ((void **) &fw->pinned_val, sizeof (float)), error);
  return TRUE;
}

static gboolean
upload_layer (GlimCudaForward *fw, Progress *pr, int l, GError **error)
{
  const GlimConfig *c = fw->model->config;
  const GlimLayer *L = &src_layers (fw)[l];
  CudaLayer *cl = &fw->layers[l];
  int D = c->hidden_size, H = fw->n_heads, Lkv = c->kv_lora_rank;
  int o_lead = fw->shard != NULL ? fw->shard->o_lead[l] : 0;
  int Dn = c->qk_nope_head_dim, Dv = c->v_head_dim, Dqk = glim_config_qk_head_dim (c);
  int C = glim_config_cache_width (c), E = c->n_routed_experts;
  for (int i = 0; i < D_N; i++)
    cl->desc[i] = -1;

  if (!upload_vector (fw, pr, L->input_norm, D, &cl->input_norm, error) ||
      !upload_vector (fw, pr, L->post_attn_norm, D, &cl->post_norm, error) ||
      !upload_vector (fw, pr, L->kv_a_norm, Lkv, &cl->kv_a_norm, error))
    return FALSE;
  GkMatrix m, m2;
  float eps = (float) c->rms_norm_eps, latent_eps = (float) c->latent_norm_eps;
  /* q_a (or q) and kv_a read the same normalised input: adjacent descriptors, one launch */
  if (c->q_lora_rank > 0) {
    if (!upload_vector (fw, pr, L->q_a_norm, c->q_lora_rank, &cl->q_a_norm, error) ||
        !upload_weight (fw, pr, &L->q_a, &m, error))
      return FALSE;
    cl->desc[D_QA] = add_desc (fw, &m, NULL, fw->x, D, fw->qa, c->q_lora_rank);
    desc_set_norm (fw, cl->desc[D_QA], cl->input_norm, eps);
  } else {
    if (!upload_weight (fw, pr, &L->q, &m, error))
      return FALSE;
    cl->desc[D_Q] = add_desc (fw, &m, NULL, fw->x, D, fw->q, H * Dqk);
    desc_set_norm (fw, cl->desc[D_Q], cl->input_norm, eps);
  }
  if (!upload_weight (fw, pr, &L->kv_a, &m, error))
    return FALSE;
  cl->desc[D_KVA] = add_desc (fw, &m, NULL, fw->x, D, fw->kva, C);
  desc_set_norm (fw, cl->desc[D_KVA], cl->input_norm, eps);
  if (c->q_lora_rank > 0) {
    if (!upload_weight (fw, pr, &L->q_b, &m, error))
      return FALSE;
    cl->desc[D_QB] = add_desc (fw, &m, NULL, fw->qa, c->q_lora_rank, fw->q, H * Dqk);
    desc_set_norm (fw, cl->desc[D_QB], cl->q_a_norm, latent_eps);
  }
  if (!upload_weight (fw, pr, &L->kv_b, &cl->kv_b, error))
    return FALSE;
  /* W_UV: per head, rows h*(Dn+Dv)+Dn .. +Dv of kv_b, applied to that head's latent output. */
  cl->desc_uv = (int) fw->host_desc->len;
  for (int h = 0; h < H; h++) {
    GkMatrix uv = cl->kv_b;
    size_t row0 = (size_t) h * (Dn + Dv) + Dn;
    uv.rows = Dv;
    if (uv.format == GK_WEIGHT_NVFP4) {
      uv.data = (const uint8_t *) uv.data + row0 * Lkv / 2;
      uv.scales = uv.scales + row0 * Lkv / 16;
    } else {
      uv.data = (const char *) uv.data + row0 * Lkv * (uv.format == GK_WEIGHT_F32 ? 4 : 2);
    }
    add_desc (fw, &uv, NULL, fw->o_lat + (size_t) h * Lkv, H * Lkv,
              fw->o + o_lead + (size_t) h * Dv, fw->o_cols);
  }
  if (!upload_weight (fw, pr, &L->o, &m, error))
    return FALSE;
  g_assert (m.cols <= fw->o_cols);
  cl->desc[D_O] = add_desc (fw, &m, NULL, fw->o, fw->o_cols, fw->x, D);
  if (fw->rank == 0)
    desc_set_accumulate (fw, cl->desc[D_O]);

  cl->is_moe = L->is_moe;
  if (!L->is_moe) {
    if (!upload_weight (fw, pr, &L->dense.gate, &m, error) ||
        !upload_weight (fw, pr, &L->dense.up, &m2, error))
      return FALSE;
    int I = c->intermediate_size;
    cl->desc[D_DENSE_GU] = add_desc (fw, &m, &m2, fw->x, D, fw->act, I);
    desc_set_norm (fw, cl->desc[D_DENSE_GU], cl->post_norm, eps);
    if (!upload_weight (fw, pr, &L->dense.down, &m, error))
      return FALSE;
    cl->desc[D_DENSE_DOWN] = add_desc (fw, &m, NULL, fw->act, I, fw->x, D);
    if (fw->rank == 0)
      desc_set_accumulate (fw, cl->desc[D_DENSE_DOWN]);
    return TRUE;
  }
  if (!upload_weight (fw, pr, &L->router, &m, error) ||
      !upload_vector (fw, pr, L->router_bias, E, &cl->router_bias, error))
    return FALSE;
  cl->desc[D_ROUTER] = add_desc (fw, &m, NULL, fw->x, D, fw->rlogits, E);
  desc_set_norm (fw, cl->desc[D_ROUTER], cl->post_norm, eps);
  GkMatrix *gate = cl->h_gate = g_new0 (GkMatrix, E + 1);
  GkMatrix *up = cl->h_up = g_new0 (GkMatrix, E + 1);
  GkMatrix *down = cl->h_down = g_new0 (GkMatrix, E + 1);
  for (int e = 0; e <= E; e++) {
    const GlimMlp *mlp = e < E ? &L->experts[e] : &L->shared;
    if (!upload_weight (fw, pr, &mlp->gate, &gate[e], error) ||
        !upload_weight (fw, pr, &mlp->up, &up[e], error) ||
        !upload_weight (fw, pr, &mlp->down, &down[e], error))
      return FALSE;
  }
  size_t tb = (size_t) (E + 1) * sizeof (GkMatrix);
  cl->experts_gate = arena_take (fw, tb);
  cl->experts_up = arena_take (fw, tb);
  cl->experts_down = arena_take (fw, tb);
  /* the shared expert's gate/up of a single token, into its slot (K) of act: it does not wait
   * for the routing, so the decode step runs it beside the router (enqueue_forward) */
  if (c->n_shared_experts > 0 && gate[E].rows > 0) {
    int F_max = MAX (c->intermediate_size, c->moe_intermediate_size * c->n_shared_experts);
    cl->desc[D_SHARED_GU] = add_desc (fw, &gate[E], &up[E], fw->x, D,
                                      fw->act + (size_t) c->n_experts_per_tok * F_max, F_max);
    desc_set_norm (fw, cl->desc[D_SHARED_GU], cl->post_norm, eps);
  }
  GLIM_CUDA_TRY (cudaMemcpy (cl->experts_gate, gate, tb, cudaMemcpyHostToDevice), error);
  GLIM_CUDA_TRY (cudaMemcpy (cl->experts_up, up, tb, cudaMemcpyHostToDevice), error);
  GLIM_CUDA_TRY (cudaMemcpy (cl->experts_down, down, tb, cudaMemcpyHostToDevice), error);
  return TRUE;
}

/* Below this many keys the per-head CUDA-core attention kernel takes a token, from it on the
 * tensor-core one. On the H200 with the wgmma kernel and the query prepared in gk_mla_query,
 * tok/s with the tensor-core kernel / the per-head one: 265.9 / 263.7 at 1k, 265.6 / 255.3 at
 * 1.5k, 265.4 / 247.7 at 2k, 263.5 / 234.5 at 3k (docs/PERFORMANCE.md). With the query still
 * prepared by a launch of its own the per-head kernel won below ~1.5k (512 keys: 269.5 against
 * 257.6), so shorter contexts keep it until that is measured again.
 * GLIMMER_MLA_MIN_KEYS overrides it (0: always the tensor-core kernel). */
static int
mla_mma_min_keys (void)
{
  const char *v = g_getenv ("GLIMMER_MLA_MIN_KEYS");
  return v ? (int) g_ascii_strtoll (v, NULL, 10) : 1024;
}

void
glim_cuda_forward_free (GlimCudaForward *fw)
{
  if (fw == NULL)
    return;
  cudaSetDevice (fw->device);
  for (int i = 0; i < 2; i++) {
    if (fw->graph_exec[i])
      cudaGraphExecDestroy (fw->graph_exec[i]);
    if (fw->graph[i])
      cudaGraphDestroy (fw->graph[i]);
  }
  cudaFree (fw->arena);
  cudaFree (fw->cache);
  cudaFree (fw->scratch);
  cudaFree (fw->desc);
  cudaFree (fw->dev_moe);
  cudaFree (fw->sample_scratch);
  cudaFreeHost (fw->pinned);
  cudaFreeHost (fw->pinned_next);
  cudaFreeHost (fw->pinned_val);
  if (fw->stream)
    cudaStreamDestroy (fw->stream);
  if (fw->side)
    cudaStreamDestroy (fw->side);
  if (fw->fork)
    cudaEventDestroy (fw->fork);
  if (fw->join)
    cudaEventDestroy (fw->join);
  glim_cuda_prefill_free (fw);
  for (int l = 0; fw->layers != NULL && l < fw->model->config->n_layers; l++) {
    g_free (fw->layers[l].h_gate);
    g_free (fw->layers[l].h_up);
    g_free (fw->layers[l].h_down);
  }
  g_free (fw->layers);
  if (fw->host_desc)
    g_array_unref (fw->host_desc);
  g_free (fw);
}

GlimCudaForward *
glim_cuda_forward_new (GlimModel *model, int device, int n_ctx, GlimProgressFunc progress,
                       gpointer progress_data, GError **error)
{
  return glim_cuda_forward_new_rank (model, NULL, device, n_ctx, progress, progress_data, error);
}

GlimCudaForward *
glim_cuda_forward_new_rank (GlimModel *model, const GlimShard *shard, int device, int n_ctx,
                            GlimProgressFunc progress, gpointer progress_data, GError **error)
{
  const GlimConfig *c = model->config;
  g_autofree char *desc = glim_cuda_describe_device (device, error);
  if (desc == NULL)
    return NULL;
  /* n_ctx 0 on one GPU: as long as the memory plan fits (ranks of tp get theirs decided) */
  if (n_ctx == 0 && shard == NULL && !glim_cuda_fit_context (model, 1, &device, &n_ctx, error))
    return NULL;
  if (n_ctx <= 0 || n_ctx > c->max_position_embeddings) {
    g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
                 "context length %d is outside 1..%d (max_position_embeddings)", n_ctx,
                 c->max_position_embeddings);
    return NULL;
  }
  if (c->kv_lora_rank > 512 || c->kv_lora_rank % 16 || c->qk_rope_head_dim > 512 ||
      (c->n_heads + 1) * c->qk_rope_head_dim > 12 * 1024 || c->n_routed_experts > 1024 ||
      c->n_group > 64 || c->n_experts_per_tok > 32) {
    g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
                 "the CUDA kernels support kv_lora_rank <= 512 (multiple of 16), "
                 "qk_rope_head_dim <= 512, at most 1024 experts in at most 64 groups and "
                 "top-32 routing");
    return NULL;
  }
  g_autoptr (GlimCudaForward) fw = g_new0 (GlimCudaForward, 1);
  fw->model = model;
  fw->device = device;
  fw->n_ctx = n_ctx;
  fw->shard = shard;
  fw->rank = shard != NULL ? shard->rank : 0;
  fw->tp = shard != NULL ? shard->tp : 1;
  fw->n_heads = shard != NULL ? shard->n_heads : c->n_heads;
  fw->vocab0 = shard != NULL ? shard->vocab0 : 0;
  fw->n_vocab = shard != NULL ? shard->n_vocab : c->vocab_size;
  fw->o_cols = fw->n_heads * c->v_head_dim;
  for (int l = 0; shard != NULL && l < c->n_layers; l++)
    fw->o_cols = MAX (fw->o_cols, shard->layers[l].o.cols);
  const char *gemv = g_getenv ("GLIMMER_GEMV");
  fw->gemv_kernel = g_strcmp0 (gemv, "mma") == 0    ? GLIM_GEMV_MMA
                    : g_strcmp0 (gemv, "cuda") == 0 ? GLIM_GEMV_CUDA
                    : g_strcmp0 (gemv, "lut") == 0  ? GLIM_GEMV_LUT
                                                    : GLIM_GEMV_AUTO;
  const char *dp4a_min = g_getenv ("GLIMMER_GEMV_DP4A_MIN");
  fw->gemv_dp4a_min = dp4a_min != NULL ? g_ascii_strtod (dp4a_min, NULL) : 12e6;
  const char *mla = g_getenv ("GLIMMER_MLA");
  fw->mla_kernel = g_strcmp0 (mla, "simple") == 0   ? GK_MLA_SIMPLE
                   : g_strcmp0 (mla, "mma-v1") == 0 ? GK_MLA_AUTO_V1
                   : g_strcmp0 (mla, "mma") == 0    ? GK_MLA_AUTO_V2
                                                    : GK_MLA_AUTO;
  fw->mla_min_keys = mla_mma_min_keys ();
  fw->mla_regime = -1;
  fw->host_desc = g_array_new (FALSE, TRUE, sizeof (GkGemvGroup));
  if (cudaSetDevice (device) != cudaSuccess) {
    glim_cuda_set_error (error, cudaGetLastError (), "cudaSetDevice", G_STRFUNC, __FILE__, __LINE__);
    return NULL;
  }
  /* MLA decode splits: the most per token (the memory plan counts their partials), and the
   * count that fills this device once (GLIMMER_MLA_SPLITS sets both, for measuring) */
  fw->max_splits = MIN (glim_cuda_mla_splits_bound (), MAX (1, (n_ctx + 63) / 64));
  fw->mla_split_target = g_getenv ("GLIMMER_MLA_SPLITS") != NULL
                             ? glim_cuda_mla_splits_bound ()
                             : gk_mla_decode_split_target (fw->n_heads);
  fw->mla_simple_fill = gk_mla_decode_simple_fill (c->kv_lora_rank, c->qk_rope_head_dim);
  TRY_NULL (cudaStreamCreateWithFlags (&fw->stream, cudaStreamNonBlocking), error);
  TRY_NULL (cudaStreamCreateWithFlags (&fw->side, cudaStreamNonBlocking), error);
  TRY_NULL (cudaEventCreateWithFlags (&fw->fork, cudaEventDisableTiming), error);
  TRY_NULL (cudaEventCreateWithFlags (&fw->join, cudaEventDisableTiming), error);

  /* Memory plan first: weights + cache + workspace must fit, or say what does not (the ranks
   * of tensor parallelism were checked together by cuda-tp.c) */
  if (shard == NULL && !glim_cuda_check_memory (model, 1, &device, n_ctx, error))
    return NULL;
  int C = glim_config_cache_width (c);
  size_t cache_bytes = (size_t) c->n_layers * (size_t) n_ctx * (size_t) C * 2;
  fw->arena_size = model_bytes (fw);
  if (!alloc_scratch (fw, error))
    return NULL;
  TRY_NULL (cudaMalloc ((void **) &fw->arena, fw->arena_size), error);
  TRY_NULL (cudaMalloc ((void **) &fw->cache, cache_bytes), error);
  /* Zero, not just allocated: cuBLAS tile kernels read whole tiles of the cache past the last
   * key and mask the result, and NaN bit patterns in never-written rows survive a multiply by
   * the masked zeros (seen on the H200: one prefill row garbage, compute-sanitizer initcheck). */
  TRY_NULL (cudaMemset (fw->cache, 0, cache_bytes), error);

  Progress pr = { 0, fw->arena_size, progress, progress_data };
  if (!upload_weight (fw, &pr, &model->embed, &fw->embed, error))
    return NULL;
  if (lm_head_is_embed (fw))
    fw->lm_head = fw->embed;
  else if (!upload_weight (fw, &pr, shard != NULL ? &shard->lm_head : &model->lm_head,
                          &fw->lm_head, error))
    return NULL;
  g_autofree float *inv_freq = g_new (float, c->qk_rope_head_dim / 2);
  for (int i = 0; i < c->qk_rope_head_dim / 2; i++)
    inv_freq[i] = 1.0f / powf ((float) c->rope_theta, (float) (2 * i) / (float) c->qk_rope_head_dim);
  if (!upload_vector (fw, &pr, model->final_norm, c->hidden_size, &fw->final_norm, error) ||
      !upload_vector (fw, &pr, inv_freq, c->qk_rope_head_dim / 2, &fw->inv_freq, error))
    return NULL;
  fw->layers = g_new0 (CudaLayer, c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    if (!upload_layer (fw, &pr, l, error))
      return NULL;
  fw->desc_lm_head = add_desc (fw, &fw->lm_head, NULL, fw->x, c->hidden_size, fw->logits,
                               fw->n_vocab);
  desc_set_norm (fw, fw->desc_lm_head, fw->final_norm, (float) c->rms_norm_eps);
  /* MoE arguments the routing kernel reads on the device, one per chunk size and layer */
  size_t n_moe = (size_t) TMAX * c->n_layers;
  g_autofree GkMoeArgs *moe = g_new0 (GkMoeArgs, n_moe);
  int F_max = MAX (c->intermediate_size, c->moe_intermediate_size * MAX (c->n_shared_experts, 1));
  for (int T = 1; T <= TMAX; T++)
    for (int l = 0; l < c->n_layers; l++) {
      const CudaLayer *cl = &fw->layers[l];
      if (!cl->is_moe)
        continue;
      moe[(size_t) (T - 1) * c->n_layers + l] = (GkMoeArgs) {
        .idx = fw->idx, .weight = fw->rweight, .gate = cl->experts_gate, .up = cl->experts_up,
        .down = cl->experts_down, .x = fw->x, .act = fw->act, .slots = fw->slots,
        .groups = fw->moe_groups, .norm_w = cl->post_norm, .norm_eps = (float) c->rms_norm_eps,
        .T = T, .K = c->n_experts_per_tok, .E = c->n_routed_experts, .D = c->hidden_size,
        .F_max = F_max,
      };
    }
  TRY_NULL (cudaMalloc ((void **) &fw->dev_moe, n_moe * sizeof (GkMoeArgs)), error);
  TRY_NULL (cudaMemcpy (fw->dev_moe, moe, n_moe * sizeof (GkMoeArgs), cudaMemcpyHostToDevice), error);

  size_t db = fw->host_desc->len * sizeof (GkGemvGroup);
  TRY_NULL (cudaMalloc ((void **) &fw->desc, db), error);
  TRY_NULL (cudaMemcpy (fw->desc, fw->host_desc->data, db, cudaMemcpyHostToDevice), error);
  return g_steal_pointer (&fw);
}

/* ---- forward ---- */

#define TRY_K(expr)                                                             \
  G_STMT_START {                                                                \
    cudaError_t e_ = (expr);                                                    \
    if (G_UNLIKELY (e_ != cudaSuccess))                                         \
      return glim_cuda_set_error (error, e_, #expr, G_STRFUNC, __FILE__, __LINE__); \
  } G_STMT_END

/* n adjacent static descriptors starting at desc, rows and columns bounded over all of them */
static gboolean
gemv (GlimCudaForward *fw, int desc, int n, int rows, int mode, int T, GError **error)
{
  int cols = 0;
  for (int i = 0; i < n; i++)
    cols = MAX (cols, g_array_index (fw->host_desc, GkGemvGroup, desc + i).w.cols);
  /* static descriptors and weights: the kernel may start loading before its input is ready */
  int format = g_array_index (fw->host_desc, GkGemvGroup, desc).w.format;
  TRY_K (glim_cuda_gemv (fw, fw->desc + desc, n, rows, cols, mode, T, GK_GEMV_EARLY, format,
                         fw->stream));
  return TRUE;
}

static int
desc_rows (GlimCudaForward *fw, int desc)
{
  return g_array_index (fw->host_desc, GkGemvGroup, desc).w.rows;
}

/* Enqueue the forward of T tokens whose ids are in fw->ids, at position *fw->n_past.
 * Leaves the residual stream in fw->x and, if want_logits, logits in fw->logits. */

static gboolean
enqueue_forward (GlimCudaForward *fw, int T, gboolean want_logits, GError **error)
{
  const GlimConfig *c = fw->model->config;
  int D = c->hidden_size, H = fw->n_heads, Lkv = c->kv_lora_rank, C = glim_config_cache_width (c);
  int Dn = c->qk_nope_head_dim, Dv = c->v_head_dim, Dqk = glim_config_qk_head_dim (c);
  int E = c->n_routed_experts, K = c->n_experts_per_tok;
  cudaStream_t s = fw->stream;
#define REDUCE() (fw->reduce == NULL || fw->reduce (fw, fw->x, T, fw->reduce_data, error))

  TRY_K (gk_embed (fw->x, fw->embed.data, fw->embed.format, fw->ids, T, D, s));
  for (int l = 0; l < c->n_layers; l++) {
    CudaLayer *cl = &fw->layers[l];
    /* attention block: every GEMV that reads the residual stream normalises it itself, and the
     * block's last GEMV adds its output to it */
    int first = cl->desc[D_QA] >= 0 ? cl->desc[D_QA] : cl->desc[D_Q];
    int q_rows = cl->desc[D_QA] >= 0 ? c->q_lora_rank : H * Dqk;
    if (!gemv (fw, first, 2, MAX (q_rows, C), GK_GEMV_PLAIN, T, error))
      return FALSE;
    if (cl->desc[D_QB] >= 0 && !gemv (fw, cl->desc[D_QB], 1, H * Dqk, GK_GEMV_PLAIN, T, error))
      return FALSE;
    GkMlaCacheArgs ca = {
      .kva = fw->kva, .kv_norm = cl->kv_a_norm, .q = fw->q,
      .cache = fw->cache + (size_t) l * fw->n_ctx * C, .n_past = fw->n_past,
      .inv_freq = fw->inv_freq, .T = T, .H = H, .Dn = Dn, .R = c->qk_rope_head_dim, .Lkv = Lkv,
      .eps = (float) c->latent_norm_eps, .interleave = c->rope_interleave,
    };
    /* RoPE + cache write (q_pe, kv), W_UK absorption (q_nope) and the tensor-core kernels'
     * query in one launch */
    const float scale = 1.0f / sqrtf ((float) Dqk);
    GkMlaQueryArgs qa = {
      .rope = ca, .q_lat = fw->q_lat, .kv_b = cl->kv_b, .Dv = Dv, .q_mma = fw->q_mma,
      .scale = scale, .done = fw->query_done,
    };
    TRY_K (gk_mla_query (&qa, s));
    GkMlaDecodeArgs da = {
      .q_lat = fw->q_lat, .n_qparts = gk_mla_absorb_parts (Dn), .q = fw->q, .cache = ca.cache,
      .cache_rows = fw->n_ctx,
      .n_past = fw->n_past, .partial = fw->partial, .o_lat = fw->o_lat, .T = T, .H = H, .Dn = Dn,
      .R = c->qk_rope_head_dim, .Lkv = Lkv, .max_splits = fw->max_splits,
      .q_mma = fw->q_mma, .q_ready = 1, .split_target = fw->mla_split_target,
      .simple_fill = fw->mla_simple_fill, .scale = scale,
      .kernel = fw->mla_kernel, .mma_min_keys = fw->mla_min_keys,
    };
    if (fw->mla_regime == 0)
      da.kernel = GK_MLA_SIMPLE;
    else if (fw->mla_regime == 1)
      da.mma_min_keys = 0;          /* the tensor-core kernel for every token */
    TRY_K (gk_mla_decode (&da, s));
    if (!gemv (fw, cl->desc_uv, H, Dv, GK_GEMV_PLAIN, T, error) ||
        !gemv (fw, cl->desc[D_O], 1, D, GK_GEMV_PLAIN, T, error) || !REDUCE ())
      return FALSE;

    /* FFN block */
    if (!cl->is_moe) {
      if (desc_rows (fw, cl->desc[D_DENSE_GU]) == 0) {
        /* this rank's part of the width is empty: it adds nothing */
        if (fw->rank > 0)
          TRY_K (cudaMemsetAsync (fw->x, 0, (size_t) T * D * sizeof (float), s));
      } else if (!gemv (fw, cl->desc[D_DENSE_GU], 1, desc_rows (fw, cl->desc[D_DENSE_GU]),
                        GK_GEMV_SWIGLU, T, error) ||
                 !gemv (fw, cl->desc[D_DENSE_DOWN], 1, D, GK_GEMV_PLAIN, T, error)) {
        return FALSE;
      }
      if (!REDUCE ())
        return FALSE;
      continue;
    }
    GkRouteArgs ra = {
      .logits = fw->rlogits, .bias = cl->router_bias, .idx = fw->idx, .weight = fw->rweight,
      .T = T, .E = E, .K = K, .n_group = c->n_group, .topk_group = c->topk_group,
      .norm_topk_prob = c->norm_topk_prob, .scaling = (float) c->routed_scaling_factor,
      .moe = fw->dev_moe + (size_t) (T - 1) * c->n_layers + l,
    };
    /* the router's product and the routing in one launch where the kernel takes the shape */
    const GkGemvGroup *rd = &g_array_index (fw->host_desc, GkGemvGroup, cl->desc[D_ROUTER]);
    GkRouterInput ri = {
      .w = rd->w, .x = rd->x, .x_stride = rd->x_stride, .norm_w = rd->norm_w,
      .norm_eps = rd->norm_eps, .logits = fw->rlogits, .done = fw->route_done,
    };
    /* one token: the shared expert's gate/up (static descriptor) runs on the side stream while
     * the router routes; the routed experts' gate/up then takes the first K groups only */
    int shared_gu = T == 1 ? cl->desc[D_SHARED_GU] : -1;
    if (shared_gu >= 0) {
      TRY_K (cudaEventRecord (fw->fork, s));
      TRY_K (cudaStreamWaitEvent (fw->side, fw->fork, 0));
      TRY_K (glim_cuda_gemv (fw, fw->desc + shared_gu, 1, desc_rows (fw, shared_gu), D,
                             GK_GEMV_SWIGLU, 1, 0, cl->h_gate[E].format, fw->side));
      TRY_K (cudaEventRecord (fw->join, fw->side));
    }
    cudaError_t re = gk_router_route (&ra, &ri, s);
    if (re == cudaErrorNotSupported) {
      if (!gemv (fw, cl->desc[D_ROUTER], 1, E, GK_GEMV_PLAIN, T, error))
        return FALSE;
      re = gk_route (&ra, s);
    }
    TRY_K (re);
    if (fw->trace != NULL && !glim_cuda_trace_routes (fw, fw->idx, l, T, fw->pinned[TMAX], error))
      return FALSE;
    int n_groups = T * (K + 1);
    int F_rows = c->moe_intermediate_size * MAX (c->n_shared_experts, 1);
    /* gk_route wrote these descriptors: gate/up reads them only after it; down's were
     * complete before gate/up started, so it may load its weights early */
    TRY_K (glim_cuda_gemv (fw, fw->moe_groups, shared_gu >= 0 ? K : n_groups, F_rows, D,
                           GK_GEMV_SWIGLU, 0, 0, cl->h_gate[0].format, s));
    if (shared_gu >= 0)
      TRY_K (cudaStreamWaitEvent (s, fw->join, 0));
    TRY_K (glim_cuda_gemv (fw, fw->moe_groups + n_groups, n_groups, D, F_rows, GK_GEMV_PLAIN, 0,
                           GK_GEMV_EARLY, cl->h_down[0].format, s));
    /* an expert part that is empty on this rank leaves its slots at their initial zeros */
    TRY_K (gk_moe_combine (fw->x, fw->slots, T, K + 1, c->n_shared_experts > 0 ? K + 1 : K, D,
                           fw->rank == 0, s));
    if (!REDUCE ())
      return FALSE;
  }
#undef REDUCE
  if (want_logits && fw->n_vocab > 0 &&
      !gemv (fw, fw->desc_lm_head, 1, fw->n_vocab, GK_GEMV_PLAIN, T, error))
    return FALSE;
  return TRUE;
}

/* Long inputs go through tensor-core GEMMs; GLIMMER_PREFILL=gemv keeps every chunk on the
 * decode kernels (used by tests to compare the two paths). */
static gboolean
use_gemm (GlimCudaForward *fw, int T)
{
  /* at tp > 1 every rank runs it on its shard, with the same all-reduces as the decode */
  return T > TMAX && g_strcmp0 (g_getenv ("GLIMMER_PREFILL"), "gemv") != 0;
}

static gboolean
stage_inputs (GlimCudaForward *fw, const int32_t *tokens, int T, int n_past, GError **error)
{
  memcpy (fw->pinned, tokens, (size_t) T * sizeof (int32_t));
  fw->pinned[TMAX] = n_past;
  GLIM_CUDA_TRY (cudaMemcpyAsync (fw->ids, fw->pinned, (size_t) T * 4, cudaMemcpyHostToDevice,
                                  fw->stream), error);
  GLIM_CUDA_TRY (cudaMemcpyAsync (fw->n_past, fw->pinned + TMAX, 4, cudaMemcpyHostToDevice,
                                  fw->stream), error);
  return TRUE;
}

gboolean
glim_cuda_forward_eval (GlimCudaForward *fw, const int32_t *tokens, int T, int n_past,
                        float *logits, gboolean all_logits, GError **error)
{
  GLIM_CUDA_TRY (cudaSetDevice (fw->device), error);
  if (use_gemm (fw, T))
    return glim_cuda_prefill (fw, tokens, T, n_past, logits, all_logits, error);
  int V = fw->model->config->vocab_size, Vr = fw->n_vocab;
  for (int start = 0; start < T; start += TMAX) {
    int n = MIN (TMAX, T - start);
    gboolean last = start + n == T;
    gboolean want = logits != NULL && (all_logits || last);
    if (!stage_inputs (fw, tokens + start, n, n_past + start, error) ||
        !enqueue_forward (fw, n, want, error))
      return FALSE;
    if (want && Vr > 0) {
      /* a rank fills its columns vocab0 .. vocab0 + Vr of the host rows (the gather) */
      float *dst = (all_logits ? logits + (size_t) start * V : logits) + fw->vocab0;
      const float *src = all_logits ? fw->logits : fw->logits + (size_t) (n - 1) * Vr;
      size_t rows = all_logits ? (size_t) n : 1;
      GLIM_CUDA_TRY (cudaMemcpy2DAsync (dst, (size_t) V * sizeof (float), src,
                                        (size_t) Vr * sizeof (float), (size_t) Vr * sizeof (float),
                                        rows, cudaMemcpyDeviceToHost, fw->stream), error);
    }
    GLIM_CUDA_TRY (cudaStreamSynchronize (fw->stream), error);
  }
  return TRUE;
}

/* The single-token step as a graph: forward, lm_head, argmax. Captured on the third call (the
 * first two warm up module loading and lazy allocations), replayed afterwards. */
/* argmax of logits row `row` over this rank's vocabulary rows into fw->next, and on a rank of
 * tp > 1 the logit there into fw->next_val (the host picks the best rank) */
static cudaError_t
enqueue_argmax (GlimCudaForward *fw, int row)
{
  if (fw->n_vocab == 0)
    return cudaSuccess;
  const float *l = fw->logits + (size_t) row * fw->n_vocab;
  cudaError_t e = gk_argmax (fw->next, l, 1, fw->n_vocab, fw->argmax_scratch, fw->stream);
  if (e == cudaSuccess && fw->tp > 1)
    e = gk_take_f32 (fw->next_val, l, fw->next, fw->stream);
  return e;
}

/* Which MLA kernel a single token at n_past takes (fw->mla_regime while it is enqueued): with
 * the automatic choice, 1 if its n_past + 1 keys reach the tensor-core kernel (gk_mla_decode's
 * rule for mma_min_keys), else 0; -1 when one kernel is configured for every token. */
static int
mla_regime (const GlimCudaForward *fw, int n_past)
{
  gboolean automatic = (fw->mla_kernel == GK_MLA_AUTO || fw->mla_kernel == GK_MLA_AUTO_V1 ||
                        fw->mla_kernel == GK_MLA_AUTO_V2) &&
                       fw->mla_min_keys > 0;
  return !automatic ? -1 : n_past + 1 >= fw->mla_min_keys ? 1 : 0;
}

static gboolean
decode_step (GlimCudaForward *fw, int n_past, GError **error)
{
  int regime = mla_regime (fw, n_past), g = MAX (regime, 0);
  if (fw->graph_exec[g] == NULL && fw->decode_calls >= 2 && fw->trace == NULL &&
      g_getenv ("GLIMMER_NO_GRAPH") == NULL) {
    GLIM_CUDA_TRY (cudaStreamBeginCapture (fw->stream, cudaStreamCaptureModeThreadLocal), error);
    fw->mla_regime = regime;
    gboolean ok = enqueue_forward (fw, 1, TRUE, error);
    fw->mla_regime = -1;
    cudaError_t ae = ok ? enqueue_argmax (fw, 0) : cudaSuccess;
    cudaGraph_t graph = NULL;
    cudaError_t ee = cudaStreamEndCapture (fw->stream, &graph);
    if (!ok)
      return FALSE;
    TRY_K (ae);
    TRY_K (ee);
    fw->graph[g] = graph;
    TRY_K (cudaGraphInstantiate (&fw->graph_exec[g], graph, 0));
  }
  fw->decode_calls++;
  if (fw->graph_exec[g] != NULL && fw->trace == NULL) {
    TRY_K (cudaGraphLaunch (fw->graph_exec[g], fw->stream));
    return TRUE;
  }
  if (!enqueue_forward (fw, 1, TRUE, error))
    return FALSE;
  TRY_K (enqueue_argmax (fw, 0));
  return TRUE;
}

/* Run tokens, then pick the last position's token on the device: the argmax over the rank's
 * vocabulary rows (*value its logit at tp > 1), or a sample when sp has a temperature (one
 * rank only; the logits stay on the GPU and only the id is copied back). */
static gboolean
forward_pick (GlimCudaForward *fw, const int32_t *tokens, int T, int n_past,
              const GlimSamplerParams *sp, guint64 step, int32_t *next, float *value,
              GError **error)
{
  GLIM_CUDA_TRY (cudaSetDevice (fw->device), error);
  const float *last_logits = fw->logits;     /* row 0: prefill head and graph step write it */
  if (use_gemm (fw, T)) {
    if (!glim_cuda_prefill (fw, tokens, T, n_past, NULL, FALSE, error) ||
        !glim_cuda_head_argmax (fw, error))
      return FALSE;
    T = 0;       /* nothing left for the GEMV path */
  }
  for (int start = 0; start < T; start += TMAX) {
    int n = MIN (TMAX, T - start);
    gboolean last = start + n == T;
    /* the pinned staging buffer is reused: the previous chunk's copy must have left it (a
     * long prompt comes here chunk by chunk with GLIMMER_PREFILL=gemv) */
    if (start > 0)
      GLIM_CUDA_TRY (cudaStreamSynchronize (fw->stream), error);
    if (!stage_inputs (fw, tokens + start, n, n_past + start, error))
      return FALSE;
    if (n == 1 && last) {
      if (!decode_step (fw, n_past + start, error))
        return FALSE;
    } else {
      if (!enqueue_forward (fw, n, last, error))
        return FALSE;
      if (last) {
        last_logits = fw->logits + (size_t) (n - 1) * fw->n_vocab;
        TRY_K (enqueue_argmax (fw, n - 1));
      }
    }
  }
  if (fw->n_vocab == 0) {
    GLIM_CUDA_TRY (cudaStreamSynchronize (fw->stream), error);
    *next = 0;
    *value = -INFINITY;
    return TRUE;
  }
  if (sp != NULL && sp->temperature > 0.0f) {
    g_return_val_if_fail (fw->tp == 1, FALSE);
    int V = fw->n_vocab;
    if (fw->sample_scratch == NULL)
      GLIM_CUDA_TRY (cudaMalloc (&fw->sample_scratch, gk_sample_scratch_bytes (V)), error);
    GkSampleArgs sa = {
      .logits = last_logits, .out = fw->next, .scratch = fw->sample_scratch, .V = V,
      .temperature = sp->temperature, .top_k = sp->top_k, .top_p = sp->top_p,
      .min_p = sp->min_p, .seed = sp->seed, .step = step,
    };
    TRY_K (gk_sample (&sa, fw->stream));
  }
  GLIM_CUDA_TRY (cudaMemcpyAsync (fw->pinned_next, fw->next, 4, cudaMemcpyDeviceToHost, fw->stream),
                 error);
  if (fw->tp > 1)
    GLIM_CUDA_TRY (cudaMemcpyAsync (fw->pinned_val, fw->next_val, 4, cudaMemcpyDeviceToHost,
                                    fw->stream), error);
  GLIM_CUDA_TRY (cudaStreamSynchronize (fw->stream), error);
  *next = fw->vocab0 + fw->pinned_next[0];
  *value = fw->tp > 1 ? fw->pinned_val[0] : 0.0f;
  return TRUE;
}

gboolean
glim_cuda_forward_argmax (GlimCudaForward *fw, const int32_t *tokens, int T, int n_past,
                          int32_t *next, GError **error)
{
  float value;
  return forward_pick (fw, tokens, T, n_past, NULL, 0, next, &value, error);
}

gboolean
glim_cuda_forward_argmax_local (GlimCudaForward *fw, const int32_t *tokens, int T, int n_past,
                                int32_t *next, float *value, GError **error)
{
  return forward_pick (fw, tokens, T, n_past, NULL, 0, next, value, error);
}

gboolean
glim_cuda_forward_sample (GlimCudaForward *fw, const int32_t *tokens, int T, int n_past,
                          const GlimSamplerParams *params, guint64 step, int32_t *next,
                          GError **error)
{
  float value;
  return forward_pick (fw, tokens, T, n_past, params, step, next, &value, error);
}

void
glim_cuda_forward_set_trace (GlimCudaForward *fw, GlimRouteTrace *trace)
{
  fw->trace = trace;
}

gboolean
glim_cuda_trace_routes (GlimCudaForward *fw, const int32_t *idx, int l, int T, int pos0,
                        GError **error)
{
  int K = fw->model->config->n_experts_per_tok;
  g_autofree int32_t *h = g_new (int32_t, (gsize) T * K);
  GLIM_CUDA_TRY (cudaMemcpyAsync (h, idx, (size_t) T * K * 4, cudaMemcpyDeviceToHost, fw->stream),
                 error);
  GLIM_CUDA_TRY (cudaStreamSynchronize (fw->stream), error);
  for (int t = 0; t < T; t++)
    glim_route_trace_record (fw->trace, l, pos0 + t, h + (gsize) t * K, NAN);
  return TRUE;
}

int
glim_cuda_forward_n_ctx (GlimCudaForward *fw)
{
  return fw->n_ctx;
}

guint64
glim_cuda_forward_device_bytes (GlimCudaForward *fw)
{
  const GlimConfig *c = fw->model->config;
  return fw->arena_size + fw->scratch_size +
         (guint64) c->n_layers * fw->n_ctx * glim_config_cache_width (c) * 2;
}

gboolean
glim_cuda_forward_fill_cache (GlimCudaForward *fw, int n, GError **error)
{
  const GlimConfig *c = fw->model->config;
  int C = glim_config_cache_width (c);
  if (n > fw->n_ctx)
    n = fw->n_ctx;
  /* small random bf16 values, the same pattern for every row */
  g_autofree uint16_t *row = g_new (uint16_t, C);
  GRand *rng = g_rand_new_with_seed (7);
  for (int i = 0; i < C; i++)
    row[i] = (uint16_t) (0x3c00 + g_rand_int_range (rng, 0, 0x0200)) | (g_rand_boolean (rng) ? 0x8000 : 0);
  g_rand_free (rng);
  GLIM_CUDA_TRY (cudaSetDevice (fw->device), error);
  for (int l = 0; l < c->n_layers; l++) {
    uint16_t *base = fw->cache + (size_t) l * fw->n_ctx * C;
    GLIM_CUDA_TRY (cudaMemcpy (base, row, (size_t) C * 2, cudaMemcpyHostToDevice), error);
    for (size_t done = 1; done < (size_t) n; done *= 2) {
      size_t m = MIN (done, (size_t) n - done);
      GLIM_CUDA_TRY (cudaMemcpy (base + done * C, base, m * C * 2, cudaMemcpyDeviceToDevice), error);
    }
  }
  return TRUE;
}
