/* cpu.h: the CPU backend: a small thread pool, the reference ops and the forward pass.
 * SPDX-License-Identifier: MIT
 *
 * This is the readable reference implementation that every other backend is checked against:
 * - it runs on any CPU, in plain C11 with no intrinsics;
 * - all activations and accumulations are float32, NVFP4 weights are dequantised on the fly;
 * - it follows the transformers Glm4MoeLite model step by step (see docs/model.md §2).
 * Dimension legend: see glim-config.h. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "../glim-context.h"
#include "../glim-model.h"

G_BEGIN_DECLS

/* ---- thread pool ---- */

typedef struct _GlimCpuPool GlimCpuPool;

/* task runs once for each index 0..n_tasks-1; `thread` (0..n_threads-1) picks per-thread scratch */
typedef void (*GlimCpuTaskFunc) (gpointer data, int task, int thread);

GlimCpuPool *glim_cpu_pool_new       (int n_threads);   /* 0: one per core */
void         glim_cpu_pool_free      (GlimCpuPool *pool);
int          glim_cpu_pool_n_threads (GlimCpuPool *pool);
/* Runs all tasks (the caller's thread works too) and returns when every one has finished. */
void         glim_cpu_pool_run       (GlimCpuPool *pool, int n_tasks, GlimCpuTaskFunc fn,
                                      gpointer data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimCpuPool, glim_cpu_pool_free)

/* ---- ops ---- */

/* y[n] = x[n] * rsqrt(mean(x^2) + eps) * w[n]; y may alias x */
void  glim_cpu_rmsnorm   (float *y, const float *x, const float *w, int n, float eps);
/* dot product with 8 independent float32 accumulators */
float glim_cpu_dot       (const float *a, const float *b, int n);
/* y[T, rows] = x[T, cols] . W^T ; each weight row is dequantised once and used for all T rows */
void  glim_cpu_linear    (GlimCpuPool *pool, const GlimWeight *w, const float *x, int T, float *y);
/* Same, for output rows [row0, row0 + n_rows) only; y is [T, n_rows]. */
void  glim_cpu_linear_rows (GlimCpuPool *pool, const GlimWeight *w, int row0, int n_rows,
                            const float *x, int T, float *y);
/* inv_freq[R/2] for RoPE, computed in float32 as transformers does */
void  glim_cpu_rope_freqs (float *inv_freq, int R, double theta);
/* Rotate x[R] for position pos. interleave: pairs (x[2i], x[2i+1]) rotated and written
 * de-interleaved ([even' | odd'], as transformers does); else rotate_half over the two halves. */
void  glim_cpu_rope      (float *x, int R, int pos, const float *inv_freq, gboolean interleave);
/* g[n] = silu(g[n]) * u[n] */
void  glim_cpu_silu_mul  (float *g, const float *u, int n);

/* ---- forward pass ---- */

typedef struct _GlimCpuForward GlimCpuForward;

/* tp: simulated tensor-parallel ranks (0 or 1: one); the model must pass glim_shard_check. */
GlimCpuForward *glim_cpu_forward_new  (GlimModel *model, int n_ctx, int n_threads, int tp,
                                       GError **error);
void            glim_cpu_forward_free (GlimCpuForward *fw);
/* Run T tokens at positions n_past..n_past+T-1, appending their latents to the cache.
 * logits: NULL, or [T, V] when all_logits, or [V] (last position) otherwise. */
void            glim_cpu_forward_eval (GlimCpuForward *fw, const int32_t *tokens, int T, int n_past,
                                       float *logits, gboolean all_logits);

/* Record every token's routing (experts and selection margin) into trace (NULL: stop). */
void            glim_cpu_forward_set_trace (GlimCpuForward *fw, GlimRouteTrace *trace);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimCpuForward, glim_cpu_forward_free)

G_END_DECLS
