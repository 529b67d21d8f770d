/* glim-context.h: an inference context over a loaded model: a backend (CPU or CUDA), its KV
 * cache, and the position reached. Tokens go in, logits come out.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "glim-model.h"

G_BEGIN_DECLS

typedef enum {
  GLIM_BACKEND_CPU,
  GLIM_BACKEND_CUDA,
} GlimBackend;

typedef struct {
  GlimBackend backend;
  int         n_ctx;       /* tokens the cache holds; 0: min(max_position_embeddings, 4096) */
  int         n_threads;   /* CPU threads; 0: one per core */
  int         tp;          /* tensor-parallel ranks; 0 or 1: one */
} GlimContextOptions;

typedef struct _GlimContext GlimContext;

gboolean     glim_backend_from_string (const char *name, GlimBackend *out, GError **error);

/* The model must outlive the context. */
GlimContext *glim_context_new      (GlimModel *model, const GlimContextOptions *options,
                                    GError **error);
void         glim_context_free     (GlimContext *ctx);
int          glim_context_n_ctx    (GlimContext *ctx);
int          glim_context_n_past   (GlimContext *ctx);
GlimModel   *glim_context_model    (GlimContext *ctx);

/* Append tokens [n_tokens] at the current position. logits: NULL, [n_tokens, V] when
 * all_logits, else [V] for the last token. Errors: a token id outside the vocabulary, or not
 * enough room left in the context (nothing is evaluated then). */
gboolean     glim_context_eval     (GlimContext *ctx, const int32_t *tokens, int n_tokens,
                                    float *logits, gboolean all_logits, GError **error);
/* Forget everything after the first n_past tokens (n_past <= current position). */
void         glim_context_truncate (GlimContext *ctx, int n_past);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimContext, glim_context_free)

G_END_DECLS
