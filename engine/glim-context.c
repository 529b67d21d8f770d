/* glim-context.c: dispatch from the public context API to a backend.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-context"

#include "glim-context.h"

#include <math.h>
#include <string.h>

#include "glim-sampler.h"
#include "glim-shard.h"

#include "cpu/cpu.h"
#ifdef GLIM_HAVE_CUDA
#include "cuda/cuda.h"
#endif

struct _GlimContext {
  GlimModel      *model;
  GlimBackend     backend;
  int             n_ctx;
  int             n_past;
  int             device;
  GlimCpuForward *cpu;
  GlimRouteTrace *trace;    /* NULL unless glim_context_trace_routes was called */
  int             tp;
#ifdef GLIM_HAVE_CUDA
  GlimCudaForward *cuda;       /* one GPU, the plain path */
  GlimCudaTp      *cuda_tp;    /* tensor parallel (or tp 1 through NCCL, GLIMMER_NCCL=1) */
#endif
};

gboolean
glim_backend_from_string (const char *name, GlimBackend *out, GError **error)
{
  if (g_strcmp0 (name, "cpu") == 0) {
    *out = GLIM_BACKEND_CPU;
    return TRUE;
  }
  if (g_strcmp0 (name, "cuda") == 0) {
    *out = GLIM_BACKEND_CUDA;
    return TRUE;
  }
  g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
               "unknown backend \"%s\" (expected cpu or cuda)", name ? name : "");
  return FALSE;
}

gboolean
glim_devices_parse (const char *text, int *devices, int *n_devices, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (text != NULL ? text : "", ",", -1);
  int n = 0;
  for (char **p = parts; *p != NULL; p++) {
    guint64 v = 0;
    if (n == GLIM_SHARD_TP_MAX ||
        !g_ascii_string_to_unsigned (g_strstrip (*p), 10, 0, 1023, &v, NULL)) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                   "GPU list \"%s\": expected up to %d device numbers like 0,1 or 0,2",
                   text != NULL ? text : "", GLIM_SHARD_TP_MAX);
      return FALSE;
    }
    for (int i = 0; i < n; i++)
      if (devices[i] == (int) v) {
        g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                     "GPU list \"%s\": device %d is listed twice", text, (int) v);
        return FALSE;
      }
    devices[n++] = (int) v;
  }
  if (n == 0) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "GPU list \"\": expected device numbers like 0,1 or 0,2");
    return FALSE;
  }
  *n_devices = n;
  return TRUE;
}

GlimContext *
glim_context_new (GlimModel *model, const GlimContextOptions *options, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  GlimContextOptions defaults = { 0 };
  if (options == NULL)
    options = &defaults;
  const GlimConfig *c = model->config;
  /* n_ctx 0: the CPU takes min(max_position_embeddings, 4096) (RAM is not probed); the CUDA
   * backend the longest context its memory plan fits (cuda-plan.c), read back below */
  int n_ctx = options->n_ctx > 0 ? options->n_ctx : MIN (c->max_position_embeddings, 4096);

  if (model->store == NULL) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "%s: the model has shapes but no weights, it can only be planned", model->dir);
    return NULL;
  }
  int tp = options->tp == 0 ? 1 : options->tp;
  if (!glim_shard_check (model, tp, error))
    return NULL;
  g_autoptr (GlimContext) ctx = g_new0 (GlimContext, 1);
  ctx->model = model;
  ctx->backend = options->backend;
  ctx->n_ctx = n_ctx;
  ctx->device = options->device;
  ctx->tp = tp;
  switch (options->backend) {
  case GLIM_BACKEND_CPU:
    /* with a progress callback (the app), bring the weights into memory now, reporting it,
     * rather than stall the first reply on the disk */
    if (options->progress != NULL &&
        !glim_tensor_store_prefault (model->store, options->progress, options->progress_data,
                                     error))
      return NULL;
    ctx->cpu = glim_cpu_forward_new (model, n_ctx, options->n_threads, tp, error);
    if (ctx->cpu == NULL)
      return NULL;
    break;
  case GLIM_BACKEND_CUDA:
#ifdef GLIM_HAVE_CUDA
    if (options->devices != NULL && options->n_devices != tp) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                   "%d GPUs listed for tensor parallel size %d (list one per rank)",
                   options->n_devices, tp);
      return NULL;
    }
    if (tp > 1 || g_strcmp0 (g_getenv ("GLIMMER_NCCL"), "1") == 0) {
      int devices[GLIM_SHARD_TP_MAX];
      for (int r = 0; r < tp; r++)
        devices[r] = options->devices != NULL ? options->devices[r] : options->device + r;
      ctx->device = devices[0];
      ctx->cuda_tp = glim_cuda_tp_new (model, tp, devices, MAX (options->n_ctx, 0),
                                       options->progress, options->progress_data, error);
      if (ctx->cuda_tp == NULL)
        return NULL;
      ctx->n_ctx = glim_cuda_tp_n_ctx (ctx->cuda_tp);
      break;
    }
    if (options->devices != NULL)
      ctx->device = options->devices[0];
    ctx->cuda = glim_cuda_forward_new (model, ctx->device, MAX (options->n_ctx, 0),
                                       options->progress, options->progress_data, error);
    if (ctx->cuda == NULL)
      return NULL;
    ctx->n_ctx = glim_cuda_forward_n_ctx (ctx->cuda);
    break;
#else
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                 "the CUDA backend is not part of this build (configure with -Dcuda=enabled)");
    return NULL;
#endif
  }
  return g_steal_pointer (&ctx);
}

void
glim_context_free (GlimContext *ctx)
{
  if (ctx == NULL)
    return;
  g_clear_pointer (&ctx->cpu, glim_cpu_forward_free);
#ifdef GLIM_HAVE_CUDA
  g_clear_pointer (&ctx->cuda, glim_cuda_forward_free);
  g_clear_pointer (&ctx->cuda_tp, glim_cuda_tp_free);
#endif
  if (ctx->trace != NULL) {
    g_free (ctx->trace->experts);
    g_free (ctx->trace->margin);
    g_free (ctx->trace);
  }
  g_free (ctx);
}

int
glim_context_n_ctx (GlimContext *ctx)
{
  return ctx->n_ctx;
}

int
glim_context_n_past (GlimContext *ctx)
{
  return ctx->n_past;
}

GlimModel *
glim_context_model (GlimContext *ctx)
{
  return ctx->model;
}

static gboolean
check_tokens (GlimContext *ctx, const int32_t *tokens, int n_tokens, GError **error)
{
  int V = ctx->model->config->vocab_size;
  for (int i = 0; i < n_tokens; i++)
    if (tokens[i] < 0 || tokens[i] >= V) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                   "token id %d (at input position %d) is outside the vocabulary 0..%d",
                   tokens[i], i, V - 1);
      return FALSE;
    }
  if (n_tokens > ctx->n_ctx - ctx->n_past) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "%d more tokens do not fit: %d of %d context positions are used", n_tokens,
                 ctx->n_past, ctx->n_ctx);
    return FALSE;
  }
  return TRUE;
}

gboolean
glim_context_eval (GlimContext *ctx, const int32_t *tokens, int n_tokens, float *logits,
                   gboolean all_logits, GError **error)
{
  g_return_val_if_fail (ctx != NULL && n_tokens >= 0, FALSE);
  if (!check_tokens (ctx, tokens, n_tokens, error))
    return FALSE;
  if (n_tokens == 0)
    return TRUE;
#ifdef GLIM_HAVE_CUDA
  if (ctx->cuda != NULL || ctx->cuda_tp != NULL) {
    gboolean ok = ctx->cuda != NULL
                    ? glim_cuda_forward_eval (ctx->cuda, tokens, n_tokens, ctx->n_past, logits,
                                              all_logits, error)
                    : glim_cuda_tp_eval (ctx->cuda_tp, tokens, n_tokens, ctx->n_past, logits,
                                         all_logits, error);
    if (!ok)
      return FALSE;
    ctx->n_past += n_tokens;
    return TRUE;
  }
#endif
  glim_cpu_forward_eval (ctx->cpu, tokens, n_tokens, ctx->n_past, logits, all_logits);
  ctx->n_past += n_tokens;
  return TRUE;
}

gboolean
glim_context_eval_argmax (GlimContext *ctx, const int32_t *tokens, int n_tokens, int32_t *next,
                          GError **error)
{
  g_return_val_if_fail (ctx != NULL && n_tokens > 0, FALSE);
  if (!check_tokens (ctx, tokens, n_tokens, error))
    return FALSE;
#ifdef GLIM_HAVE_CUDA
  if (ctx->cuda != NULL || ctx->cuda_tp != NULL) {
    gboolean ok = ctx->cuda != NULL
                    ? glim_cuda_forward_argmax (ctx->cuda, tokens, n_tokens, ctx->n_past, next,
                                                error)
                    : glim_cuda_tp_argmax (ctx->cuda_tp, tokens, n_tokens, ctx->n_past, next,
                                           error);
    if (!ok)
      return FALSE;
    ctx->n_past += n_tokens;
    return TRUE;
  }
#endif
  int V = ctx->model->config->vocab_size;
  g_autofree float *logits = g_new (float, V);
  glim_cpu_forward_eval (ctx->cpu, tokens, n_tokens, ctx->n_past, logits, FALSE);
  ctx->n_past += n_tokens;
  *next = glim_argmax (logits, V);
  return TRUE;
}

gboolean
glim_context_eval_sample (GlimContext *ctx, const int32_t *tokens, int n_tokens,
                          const GlimSamplerParams *params, guint64 step, int32_t *next,
                          GError **error)
{
  g_return_val_if_fail (ctx != NULL && n_tokens > 0 && params != NULL, FALSE);
  if (!check_tokens (ctx, tokens, n_tokens, error))
    return FALSE;
#ifdef GLIM_HAVE_CUDA
  if (ctx->cuda != NULL) {
    if (!glim_cuda_forward_sample (ctx->cuda, tokens, n_tokens, ctx->n_past, params, step, next,
                                   error))
      return FALSE;
    ctx->n_past += n_tokens;
    return TRUE;
  }
#endif
  /* the CPU, and tensor-parallel GPUs (their logits are gathered): sample on the host */
  int V = ctx->model->config->vocab_size;
  g_autofree float *logits = g_new (float, V);
  if (!glim_context_eval (ctx, tokens, n_tokens, logits, FALSE, error))
    return FALSE;
  g_autoptr (GlimSampler) sampler = glim_sampler_new (params);
  glim_sampler_set_step (sampler, step);
  *next = glim_sampler_sample (sampler, logits, V);
  return TRUE;
}

void
glim_context_truncate (GlimContext *ctx, int n_past)
{
  g_return_if_fail (n_past >= 0 && n_past <= ctx->n_past);
  ctx->n_past = n_past;   /* cache rows past n_past are overwritten by the next eval */
}

char *
glim_context_describe_device (GlimContext *ctx)
{
#ifdef GLIM_HAVE_CUDA
  if (ctx->cuda != NULL) {
    char *d = glim_cuda_describe_device (ctx->device, NULL);
    return d ? d : g_strdup ("CUDA device");
  }
  if (ctx->cuda_tp != NULL) {
    g_autofree char *d = glim_cuda_describe_device (ctx->device, NULL);
    g_autoptr (GString) gpus = g_string_new (NULL);
    for (int r = 0; r < ctx->tp; r++)
      g_string_append_printf (gpus, "%s%d", r ? "," : "", glim_cuda_tp_device (ctx->cuda_tp, r));
    return g_strdup_printf ("%d x %s; GPUs %s, tensor parallel %d, all-reduce %s", ctx->tp,
                            d ? d : "CUDA device", gpus->str, ctx->tp,
                            glim_cuda_tp_allreduce_name (ctx->cuda_tp));
  }
#endif
  return g_strdup_printf ("CPU, %u cores", g_get_num_processors ());
}

double
glim_context_copy_bandwidth (GlimContext *ctx, GError **error)
{
#ifdef GLIM_HAVE_CUDA
  if (ctx->cuda != NULL)
    return glim_cuda_copy_bandwidth (ctx->device, error);
  if (ctx->cuda_tp != NULL)   /* every rank streams its own share: the GPUs' bandwidths add up */
    return ctx->tp * glim_cuda_copy_bandwidth (ctx->device, error);
#endif
  return 0.0;
}

guint64
glim_context_device_bytes (GlimContext *ctx)
{
#ifdef GLIM_HAVE_CUDA
  if (ctx->cuda != NULL)
    return glim_cuda_forward_device_bytes (ctx->cuda);
  if (ctx->cuda_tp != NULL)
    return glim_cuda_tp_device_bytes (ctx->cuda_tp);
#endif
  return 0;
}

int
glim_context_tp (GlimContext *ctx)
{
  return ctx->tp;
}

const char *
glim_context_allreduce_name (GlimContext *ctx)
{
#ifdef GLIM_HAVE_CUDA
  if (ctx->cuda_tp != NULL)
    return glim_cuda_tp_allreduce_name (ctx->cuda_tp);
#endif
  return NULL;
}

double
glim_context_allreduce_time (GlimContext *ctx, const char *mode, GError **error)
{
#ifdef GLIM_HAVE_CUDA
  if (ctx->cuda_tp != NULL) {
    const GlimConfig *c = ctx->model->config;
    double t = glim_cuda_tp_allreduce_time (ctx->cuda_tp, mode, c->hidden_size, 200, error);
    return t < 0 ? -1 : t * 2 * c->n_layers;
  }
#endif
  g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
               "no all-reduce to time: the context is not tensor parallel on GPUs");
  return -1;
}

gboolean
glim_context_fill_synthetic (GlimContext *ctx, int n, GError **error)
{
  if (n < 0 || n >= ctx->n_ctx) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "cannot fill %d of %d context positions", n, ctx->n_ctx);
    return FALSE;
  }
#ifdef GLIM_HAVE_CUDA
  if (ctx->cuda != NULL && !glim_cuda_forward_fill_cache (ctx->cuda, n, error))
    return FALSE;
  if (ctx->cuda_tp != NULL && !glim_cuda_tp_fill_cache (ctx->cuda_tp, n, error))
    return FALSE;
#endif
  ctx->n_past = n;
  return TRUE;
}

/* ---- routing trace ---- */

void
glim_route_trace_record (GlimRouteTrace *trace, int layer, int pos, const int32_t *experts,
                         float margin)
{
  if (trace == NULL || layer < 0 || layer >= trace->n_layers || pos < 0 || pos >= trace->n_ctx)
    return;
  gsize at = (gsize) layer * trace->n_ctx + pos;
  memcpy (trace->experts + at * trace->K, experts, sizeof (int32_t) * trace->K);
  trace->margin[at] = margin;
}

void
glim_context_trace_routes (GlimContext *ctx)
{
  g_return_if_fail (ctx != NULL);
  if (ctx->trace != NULL)
    return;
  const GlimConfig *c = ctx->model->config;
  GlimRouteTrace *t = g_new0 (GlimRouteTrace, 1);
  t->n_layers = c->n_layers;
  t->n_ctx = ctx->n_ctx;
  t->K = MAX (c->n_experts_per_tok, 1);
  gsize n = (gsize) t->n_layers * t->n_ctx;
  t->experts = g_new (int32_t, n * t->K);
  t->margin = g_new (float, n);
  for (gsize i = 0; i < n * t->K; i++)
    t->experts[i] = -1;
  for (gsize i = 0; i < n; i++)
    t->margin[i] = NAN;
  ctx->trace = t;
  if (ctx->cpu != NULL)
    glim_cpu_forward_set_trace (ctx->cpu, t);
#ifdef GLIM_HAVE_CUDA
  if (ctx->cuda != NULL)
    glim_cuda_forward_set_trace (ctx->cuda, t);
#endif
}

gboolean
glim_context_route (GlimContext *ctx, int pos, int layer, int32_t *experts, float *margin)
{
  g_return_val_if_fail (ctx != NULL, FALSE);
  GlimRouteTrace *t = ctx->trace;
  if (t == NULL || layer < 0 || layer >= t->n_layers || pos < 0 || pos >= t->n_ctx)
    return FALSE;
  gsize at = (gsize) layer * t->n_ctx + pos;
  if (t->experts[at * t->K] < 0)
    return FALSE;
  if (experts != NULL)
    memcpy (experts, t->experts + at * t->K, sizeof (int32_t) * t->K);
  if (margin != NULL)
    *margin = t->margin[at];
  return TRUE;
}
