/* cuda-util.h: error mapping for CUDA runtime calls (errors become GErrors, never exits).
 * SPDX-License-Identifier: MIT */
#pragma once

#include <cuda_runtime.h>
#include <glib.h>

#include "cuda.h"

gboolean glim_cuda_set_error (GError **error, cudaError_t err, const char *expr, const char *func,
                              const char *file, int line);

/* Evaluate a CUDA call; on failure set *error and return FALSE from the enclosing function. */
#define GLIM_CUDA_TRY(expr, error)                                                   \
  G_STMT_START {                                                                     \
    cudaError_t err_ = (expr);                                                       \
    if (G_UNLIKELY (err_ != cudaSuccess))                                            \
      return glim_cuda_set_error ((error), err_, #expr, G_STRFUNC, __FILE__, __LINE__); \
  } G_STMT_END
