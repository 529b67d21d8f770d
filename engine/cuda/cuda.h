/* cuda.h: the CUDA backend: weights uploaded once (NVFP4 stays packed), a bf16 latent KV cache,
 * and a forward pass built from the kernels in kernels/, with the decode step in a CUDA graph.
 * SPDX-License-Identifier: MIT
 * Only engine/glim-context.c calls this; nothing here is public API. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "../glim-context.h"

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

GlimCudaForward *glim_cuda_forward_new   (GlimModel *model, int device, int n_ctx,
                                          GlimProgressFunc progress, gpointer progress_data,
                                          GError **error);
void             glim_cuda_forward_free  (GlimCudaForward *fw);
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
/* Device memory used (weights, cache, scratch) in bytes. */
guint64          glim_cuda_forward_device_bytes (GlimCudaForward *fw);
/* Fill cache rows [0, n) with random values (benchmarks of long contexts). */
gboolean         glim_cuda_forward_fill_cache (GlimCudaForward *fw, int n, GError **error);
/* Human-readable device description ("NVIDIA H200, 132 SMs, 139.8 GiB, driver 13.0"). */
char            *glim_cuda_describe_device (int device, GError **error);
/* Measured device-to-device copy bandwidth in bytes/s (read + write counted). */
double           glim_cuda_copy_bandwidth (int device, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimCudaForward, glim_cuda_forward_free)

G_END_DECLS
