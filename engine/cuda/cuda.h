/* cuda.h: the CUDA backend: weights uploaded once (NVFP4 stays packed), a bf16 latent KV cache,
 * and a forward pass built from the kernels in kernels/, with the decode step in a CUDA graph.
 * SPDX-License-Identifier: MIT
 * Only engine/glim-context.c calls this; nothing here is public API. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "../glim-context.h"
#include "../glim-shard.h"

G_BEGIN_DECLS

#define GLIM_CUDA_ERROR (glim_cuda_error_quark ())

typedef enum {
  GLIM_CUDA_ERROR_UNAVAILABLE,     /* no driver, no device, or not built with CUDA */
  GLIM_CUDA_ERROR_OUT_OF_MEMORY,   /* an allocation on the GPU failed */
  GLIM_CUDA_ERROR_UNSUPPORTED,     /* a model shape the kernels do not handle */
  GLIM_CUDA_ERROR_FAILED,          /* any other CUDA/cuBLAS error (message names the call) */
} GlimCudaError;

GQuark glim_cuda_error_quark (void);

typedef struct _GlimCudaForward GlimCudaForward;

/* n_ctx 0: as long as fits (glim_cuda_fit_context on `device`). */
GlimCudaForward *glim_cuda_forward_new   (GlimModel *model, int device, int n_ctx,
                                          GlimProgressFunc progress, gpointer progress_data,
                                          GError **error);
/* As above for rank shard->rank of a tensor-parallel forward (engine/cuda/cuda-tp.c drives the
 * ranks; shard NULL: the whole model). The shard must outlive the forward. */
GlimCudaForward *glim_cuda_forward_new_rank (GlimModel *model, const GlimShard *shard, int device,
                                             int n_ctx, GlimProgressFunc progress,
                                             gpointer progress_data, GError **error);
void             glim_cuda_forward_free  (GlimCudaForward *fw);
/* Tokens the forward's cache holds (the context chosen when n_ctx was 0). */
int              glim_cuda_forward_n_ctx (GlimCudaForward *fw);
/* As glim_cpu_forward_eval; logits (host memory) NULL, [T, V] or [V]. */
gboolean         glim_cuda_forward_eval  (GlimCudaForward *fw, const int32_t *tokens, int T,
                                          int n_past, float *logits, gboolean all_logits,
                                          GError **error);
/* Run tokens and return the argmax of the last position; only the id crosses to the host.
 * A single token runs as one replay of the captured decode graph. */
gboolean         glim_cuda_forward_argmax (GlimCudaForward *fw, const int32_t *tokens, int T,
                                           int n_past, int32_t *next, GError **error);
/* As glim_cuda_forward_argmax, but sampled on the GPU with params (greedy when temperature
 * <= 0) using draw number step of the seed's SplitMix64 stream, as glim_sampler_sample. */
gboolean         glim_cuda_forward_sample (GlimCudaForward *fw, const int32_t *tokens, int T,
                                           int n_past, const GlimSamplerParams *params,
                                           guint64 step, int32_t *next, GError **error);
/* Record every token's routing into trace (NULL: stop); decode then runs without its graph. */
void             glim_cuda_forward_set_trace (GlimCudaForward *fw, GlimRouteTrace *trace);
/* As glim_cuda_forward_argmax on a rank: *next is the argmax over the rank's vocabulary rows
 * (a vocabulary id), *value its logit (-inf when the rank holds no rows). */
gboolean         glim_cuda_forward_argmax_local (GlimCudaForward *fw, const int32_t *tokens, int T,
                                                 int n_past, int32_t *next, float *value,
                                                 GError **error);
/* Device memory used (weights, cache, scratch) in bytes. */
guint64          glim_cuda_forward_device_bytes (GlimCudaForward *fw);
/* Fill cache rows [0, n) with random values (benchmarks of long contexts). */
gboolean         glim_cuda_forward_fill_cache (GlimCudaForward *fw, int n, GError **error);
/* Human-readable device description ("NVIDIA H200, 132 SMs, 139.8 GiB, driver 13.0"). */
char            *glim_cuda_describe_device (int device, GError **error);
/* Measured device-to-device copy bandwidth in bytes/s (read + write counted). */
double           glim_cuda_copy_bandwidth (int device, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimCudaForward, glim_cuda_forward_free)

/* ---- tensor parallelism (cuda-tp.c) ---- */

typedef struct _GlimCudaTp GlimCudaTp;

/* n_ranks ranks, rank r on GPU devices[r], one host thread each, an NCCL communicator over them
 * (when built with NCCL) and the all-reduce GLIMMER_ALLREDUCE picks. Checks every rank's
 * memory plan against its GPU's free memory before uploading anything. Errors: a GPU that does
 * not exist, no NCCL in this build, a plan that does not fit (names the GPU, what it needs and
 * which tp would fit), and any CUDA/NCCL failure (names the GPU and rank). */
/* n_ctx 0: as long as fits on every rank (glim_cuda_fit_context). */
GlimCudaTp *glim_cuda_tp_new        (GlimModel *model, int n_ranks, const int *devices, int n_ctx,
                                     GlimProgressFunc progress, gpointer progress_data,
                                     GError **error);
void        glim_cuda_tp_free       (GlimCudaTp *tp);
/* As glim_cuda_forward_eval / _argmax over all ranks (logits gathered, argmax distributed). */
gboolean    glim_cuda_tp_eval       (GlimCudaTp *tp, const int32_t *tokens, int T, int n_past,
                                     float *logits, gboolean all_logits, GError **error);
gboolean    glim_cuda_tp_argmax     (GlimCudaTp *tp, const int32_t *tokens, int T, int n_past,
                                     int32_t *next, GError **error);
gboolean    glim_cuda_tp_fill_cache (GlimCudaTp *tp, int n, GError **error);
/* Summed over the ranks. */
guint64     glim_cuda_tp_device_bytes (GlimCudaTp *tp);
int         glim_cuda_tp_size       (GlimCudaTp *tp);
int         glim_cuda_tp_n_ctx      (GlimCudaTp *tp);
int         glim_cuda_tp_device     (GlimCudaTp *tp, int rank);
/* "nccl", "p2p" or "none" (the all-reduce the forward uses) */
const char *glim_cuda_tp_allreduce_name (GlimCudaTp *tp);
/* Seconds per all-reduce of n_floats float32 (1..GK_GEMV_MAX_T * hidden), mode "nccl" or
 * "p2p", averaged over `calls` back-to-back calls on every rank (the slowest rank's time);
 * -1 with *error when that mode is not available. */
double      glim_cuda_tp_allreduce_time (GlimCudaTp *tp, const char *mode, int n_floats,
                                         int calls, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimCudaTp, glim_cuda_tp_free)

/* ---- memory plan (cuda-plan.c) ---- */

/* The options this backend plans with (bf16 cache, decode and prefill workspaces) for n_ctx. */
void        glim_cuda_plan_options  (int n_ctx, GlimShardPlanOptions *po);
/* The prefill's attention path (GLIMMER_PREFILL_ATTN, cuda-prefill.c), or -1 with *error. */
enum { GLIM_CUDA_ATTN_CUBLAS, GLIM_CUDA_ATTN_FLASH };
int         glim_cuda_prefill_attn  (GError **error);
/* The MLA decode's most key splits per token on the current device: GLIMMER_MLA_SPLITS, or
 * what fills the device once (kernels' gk_mla_decode_split_target), 128 at least. */
int         glim_cuda_mla_splits_bound (void);
/* *n_ctx = the longest context that fits on devices[0..tp) given their free memory now
 * (cudaMemGetInfo; glim_shard_fit_context). Errors: a CUDA failure, or not even a short context
 * fits (the message names the GPUs and what does not fit). */
gboolean    glim_cuda_fit_context   (GlimModel *model, int tp, const int *devices, int *n_ctx,
                                     GError **error);
/* Each rank's plan for n_ctx (weights, bf16 latent cache, decode and prefill workspace)
 * against its device's free memory less the runtime's reserve; the error names the GPU, what
 * does not fit and the tensor-parallel size that would. */
gboolean    glim_cuda_check_memory  (GlimModel *model, int tp, const int *devices, int n_ctx,
                                     GError **error);

G_END_DECLS
