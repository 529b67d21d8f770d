/* cuda-plan.c: the CUDA backend's memory plan: the figures it gives glim_shard_plan, and the
 * context it chooses when asked for "as long as fits" (n_ctx 0).
 * SPDX-License-Identifier: MIT
 * Both the one-GPU path (cuda-forward.c) and the tensor-parallel one (cuda-tp.c) use these, so
 * the context chosen is the one the fit check then accepts, and one check serves both. */
#define G_LOG_DOMAIN "glimmer-cuda"

#include "cuda-private.h"

#include <string.h>

void
glim_cuda_plan_options (int n_ctx, GlimShardPlanOptions *po)
{
  *po = (GlimShardPlanOptions) {
    .n_ctx = n_ctx,
    .cache_value_bytes = 2,                     /* the latent cache is bf16 */
    .chunk_tokens = TMAX,                       /* decode scratch (alloc_scratch) */
    .prefill_tokens = GLIM_CUDA_PREFILL_T,      /* cuda-prefill.c's workspace */
    .prefill_lanes = GLIM_CUDA_PREFILL_LANES,
    .prefill_key_block = GLIM_CUDA_PREFILL_KEYS,
    .prefill_flash_max_dim = glim_cuda_prefill_attn (NULL) == GLIM_CUDA_ATTN_CUBLAS ? 0 : GK_FLASH_MAX_DIM,
    .prefill_score_bytes = GLIM_CUDA_SCORE_BUDGET,
    .decode_splits = glim_cuda_mla_splits_bound (),     /* alloc_scratch's partials */
  };
}

/* GLIMMER_PREFILL_ATTN: unset or "flash" (the causal flash kernel on f16: the default),
 * "cublas" (the float32 score blocks); -1 with *error for anything else (the plan, which passes
 * NULL, takes the default then, and pre_alloc reports it). */
int
glim_cuda_prefill_attn (GError **error)
{
  const char *v = g_getenv ("GLIMMER_PREFILL_ATTN");
  if (v == NULL || *v == '\0' || strcmp (v, "flash") == 0)
    return GLIM_CUDA_ATTN_FLASH;
  if (strcmp (v, "cublas") == 0)
    return GLIM_CUDA_ATTN_CUBLAS;
  if (error == NULL)
    return GLIM_CUDA_ATTN_FLASH;
  g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
               "GLIMMER_PREFILL_ATTN=%s: unknown value (use flash or cublas)", v);
  return -1;
}

/* GLIMMER_MLA_SPLITS, for measuring; else enough splits to fill the current device once with the
 * tensor-core MLA decode (20 heads: GLM-4.7-Flash), and 128 at least (the other kernels' bound
 * before the device-sized count). */
int
glim_cuda_mla_splits_bound (void)
{
  const char *v = g_getenv ("GLIMMER_MLA_SPLITS");
  if (v != NULL)
    return CLAMP ((int) g_ascii_strtoll (v, NULL, 10), 1, GLIM_CUDA_MLA_SPLITS_MAX);
  return CLAMP (gk_mla_decode_split_target (20), 128, GLIM_CUDA_MLA_SPLITS_MAX);
}

gboolean
glim_cuda_fit_context (GlimModel *model, int tp, const int *devices, int *n_ctx, GError **error)
{
  guint64 free_bytes[GLIM_SHARD_TP_MAX];
  g_return_val_if_fail (tp >= 1 && tp <= GLIM_SHARD_TP_MAX, FALSE);
  for (int r = 0; r < tp; r++) {
    size_t free_b = 0, total_b = 0;
    GLIM_CUDA_TRY (cudaSetDevice (devices[r]), error);
    GLIM_CUDA_TRY (cudaMemGetInfo (&free_b, &total_b), error);
    free_bytes[r] = free_b;
  }
  GlimShardPlanOptions po;
  glim_cuda_plan_options (0, &po);
  if (!glim_shard_fit_context (model, tp, &po, free_bytes, n_ctx, error)) {
    g_autoptr (GString) gpus = g_string_new (NULL);     /* the message names ranks: map them */
    for (int r = 0; r < tp; r++)
      g_string_append_printf (gpus, "%s%d", r ? ", " : "", devices[r]);
    g_prefix_error (error, "automatic context length on GPU%s %s%s: ", tp > 1 ? "s" : "",
                    gpus->str, tp > 1 ? " (rank r on the r-th)" : "");
    return FALSE;
  }
  g_debug ("automatic context length: %d tokens at tensor parallel size %d", *n_ctx, tp);
  return TRUE;
}

gboolean
glim_cuda_check_memory (GlimModel *model, int tp, const int *devices, int n_ctx, GError **error)
{
  for (int r = 0; r < tp; r++) {
    size_t free_b = 0, total_b = 0;
    GLIM_CUDA_TRY (cudaSetDevice (devices[r]), error);
    GLIM_CUDA_TRY (cudaMemGetInfo (&free_b, &total_b), error);
    GlimShardPlanOptions po;
    glim_cuda_plan_options (n_ctx, &po);
    po.device_bytes = free_b > GLIM_SHARD_RUNTIME_RESERVE ? free_b - GLIM_SHARD_RUNTIME_RESERVE : 1;
    GlimShardPlan plan;
    if (!glim_shard_plan (model, tp, &po, &plan, error)) {
      g_prefix_error (error, "GPU %d (%.2f GiB free, 0.5 GiB kept for the CUDA runtime): ",
                      devices[r], free_b / 1073741824.0);
      return FALSE;
    }
  }
  return TRUE;
}
