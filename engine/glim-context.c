/* glim-context.c: dispatch from the public context API to a backend.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-context"

#include "glim-context.h"

#include <string.h>

#include "cpu/cpu.h"

struct _GlimContext {
  GlimModel      *model;
  GlimBackend     backend;
  int             n_ctx;
  int             n_past;
  GlimCpuForward *cpu;
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

GlimContext *
glim_context_new (GlimModel *model, const GlimContextOptions *options, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  GlimContextOptions defaults = { 0 };
  if (options == NULL)
    options = &defaults;
  const GlimConfig *c = model->config;
  int n_ctx = options->n_ctx > 0 ? options->n_ctx : MIN (c->max_position_embeddings, 4096);

  if (options->tp > 1 && c->n_heads % options->tp != 0) {
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_INVALID_ARGUMENT,
                 "tensor parallel size %d does not divide the %d attention heads", options->tp,
                 c->n_heads);
    return NULL;
  }
  g_autoptr (GlimContext) ctx = g_new0 (GlimContext, 1);
  ctx->model = model;
  ctx->backend = options->backend;
  ctx->n_ctx = n_ctx;
  switch (options->backend) {
  case GLIM_BACKEND_CPU:
    if (options->tp > 1) {
      g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                   "the CPU backend runs tensor parallel size 1 only (asked for %d)", options->tp);
      return NULL;
    }
    ctx->cpu = glim_cpu_forward_new (model, n_ctx, options->n_threads, error);
    if (ctx->cpu == NULL)
      return NULL;
    break;
  case GLIM_BACKEND_CUDA:
    g_set_error (error, GLIM_MODEL_ERROR, GLIM_MODEL_ERROR_UNSUPPORTED,
                 "the CUDA backend is not part of this build");
    return NULL;
  }
  return g_steal_pointer (&ctx);
}

void
glim_context_free (GlimContext *ctx)
{
  if (ctx == NULL)
    return;
  g_clear_pointer (&ctx->cpu, glim_cpu_forward_free);
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

gboolean
glim_context_eval (GlimContext *ctx, const int32_t *tokens, int n_tokens, float *logits,
                   gboolean all_logits, GError **error)
{
  g_return_val_if_fail (ctx != NULL && n_tokens >= 0, FALSE);
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
  if (n_tokens == 0)
    return TRUE;
  glim_cpu_forward_eval (ctx->cpu, tokens, n_tokens, ctx->n_past, logits, all_logits);
  ctx->n_past += n_tokens;
  return TRUE;
}

void
glim_context_truncate (GlimContext *ctx, int n_past)
{
  g_return_if_fail (n_past >= 0 && n_past <= ctx->n_past);
  ctx->n_past = n_past;   /* cache rows past n_past are overwritten by the next eval */
}
