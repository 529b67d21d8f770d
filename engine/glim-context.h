/* glim-context.h: an inference context over a loaded model: a backend (CPU or CUDA), its KV
 * cache, and the position reached. Tokens go in, logits come out.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "glim-model.h"
#include "glim-sampler.h"

G_BEGIN_DECLS

typedef enum {
  GLIM_BACKEND_CPU,
  GLIM_BACKEND_CUDA,
} GlimBackend;

/* Called while weights are uploaded, with bytes done and total; return FALSE to cancel. */
typedef gboolean (*GlimProgressFunc) (guint64 done, guint64 total, gpointer user_data);

typedef struct {
  GlimBackend      backend;
  int              n_ctx;       /* tokens the cache holds; 0: automatic. CUDA: as long as fits,
                                 * the longest context up to max_position_embeddings whose plan
                                 * (weights, bf16 KV cache, workspace, 0.5 GiB for the runtime)
                                 * fits in every GPU's free memory (glim_shard_fit_context), a
                                 * multiple of 256 below the maximum; CPU: min(max_position_
                                 * embeddings, 4096), RAM is not probed. glim_context_n_ctx
                                 * says what was chosen. */
  int              n_threads;   /* CPU threads; 0: one per core */
  int              tp;          /* tensor-parallel ranks; 0 or 1: one. Must cut the model
                                 * exactly (glim_shard_check). The CPU backend simulates the
                                 * ranks one after the other (engine/cpu/cpu-forward.c). */
  int              device;      /* first CUDA device (when devices is NULL) */
  const int       *devices;     /* optional [n_devices]: the CUDA device of each rank ("--gpus
                                 * 0,2"); NULL: device, device + 1, ... device + tp - 1 */
  int              n_devices;   /* must equal tp when devices is set */
  GlimProgressFunc progress;    /* optional: weights uploaded (CUDA), or read into memory (CPU) */
  gpointer         progress_data;
} GlimContextOptions;

typedef struct _GlimContext GlimContext;

gboolean     glim_backend_from_string (const char *name, GlimBackend *out, GError **error);
/* "0,2" -> {0, 2}: at most GLIM_SHARD_TP_MAX distinct device numbers. Errors name the text. */
gboolean     glim_devices_parse       (const char *text, int *devices, int *n_devices,
                                       GError **error);

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
/* As glim_context_eval, but return only the argmax of the last position (greedy decoding);
 * on the GPU only the id crosses to the host. */
gboolean     glim_context_eval_argmax (GlimContext *ctx, const int32_t *tokens, int n_tokens,
                                       int32_t *next, GError **error);
/* As glim_context_eval_argmax, but the last position's token is sampled with params (greedy
 * when temperature <= 0) using draw number step of the seed's stream (glim_sampler_set_step):
 * pass 0, 1, 2... for successive tokens and a run repeats exactly. The CPU samples through
 * GlimSampler; the GPU samples on the device (kernels/sample.cu, the same arithmetic and the
 * same draw) and only the id crosses to the host. */
gboolean     glim_context_eval_sample (GlimContext *ctx, const int32_t *tokens, int n_tokens,
                                       const GlimSamplerParams *params, guint64 step,
                                       int32_t *next, GError **error);
/* Forget everything after the first n_past tokens (n_past <= current position). */
void         glim_context_truncate (GlimContext *ctx, int n_past);

/* ---- for benchmarks and diagnostics ---- */

/* "NVIDIA H200 (sm_90, 132 SMs, 139.8 GiB) ..." or "CPU, N threads". */
char        *glim_context_describe_device (GlimContext *ctx);
/* Measured copy bandwidth of the context's memory (bytes read + written per second); 0 if the
 * backend cannot measure it. */
double       glim_context_copy_bandwidth  (GlimContext *ctx, GError **error);
/* Bytes the context holds on its device (weights, cache, workspace); 0 on the CPU. */
guint64      glim_context_device_bytes    (GlimContext *ctx);
/* Tensor-parallel ranks of the context (1 for a single device or the CPU). */
int          glim_context_tp              (GlimContext *ctx);
/* The all-reduce the CUDA ranks use ("nccl", "p2p"), or NULL when there is none (one GPU
 * without NCCL, or the CPU). */
const char  *glim_context_allreduce_name  (GlimContext *ctx);
/* Seconds one decode step spends in all-reduces over the context's GPUs with `mode` ("nccl" or
 * "p2p"): 2 * n_layers all-reduces of hidden_size floats, timed back to back. Errors: not a
 * multi-rank CUDA context, or that mode is not available on its GPUs. */
double       glim_context_allreduce_time  (GlimContext *ctx, const char *mode, GError **error);
/* Pretend the first n positions are filled (synthetic cache contents) so decode speed at long
 * contexts can be measured without a long prefill. Sets the position to n. */
gboolean     glim_context_fill_synthetic  (GlimContext *ctx, int n, GError **error);

/* ---- routing trace (tests that compare backends) ---- */

/* Which experts each position chose at each MoE layer, as the backend computed it. */
typedef struct {
  int      n_layers, n_ctx, K;
  int32_t *experts;    /* [n_layers, n_ctx, K]; -1: not recorded (dense layer, or not run) */
  float   *margin;     /* [n_layers, n_ctx]: the CPU's selection margin (glim_cpu_route);
                        * NAN where the backend does not compute it */
} GlimRouteTrace;

/* Backends call this for each token and MoE layer; trace may be NULL (not tracing). */
void         glim_route_trace_record (GlimRouteTrace *trace, int layer, int pos,
                                      const int32_t *experts, float margin);

/* Start recording routes; later evals fill the trace (the GPU then runs without its decode
 * graph and copies each layer's routes to the host: slow, for diagnostics only). */
void         glim_context_trace_routes (GlimContext *ctx);
/* The routing recorded for position pos at layer: experts[K] (K = n_experts_per_tok) and the
 * margin (NAN if the backend has none). FALSE if nothing was recorded there. */
gboolean     glim_context_route        (GlimContext *ctx, int pos, int layer, int32_t *experts,
                                        float *margin);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimContext, glim_context_free)

G_END_DECLS
