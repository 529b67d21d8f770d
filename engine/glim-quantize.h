/* glim-quantize.h: convert a BF16 (or F16/F32) Glm4MoeLite checkpoint to the ModelOpt NVFP4
 * export format, bit for bit what ModelOpt's default NVFP4 recipe writes for the weights.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "glim-error.h"
#include "glim-export.h"

G_BEGIN_DECLS

typedef struct {
  const char            *in_dir;          /* BF16/F16/F32 checkpoint folder */
  const char            *out_dir;         /* must not exist, or be an empty folder */
  const char *const     *keep_wide;       /* glob patterns of linear modules to leave unquantized
                                           * (e.g. "*kv_b_proj"), NULL-terminated; may be NULL */
  guint64                shard_max_bytes; /* 0: one model.safetensors */
  int                    n_threads;       /* 0: one per core */
  GlimExportProgressFunc progress;        /* may be NULL; called from worker threads */
  gpointer               progress_data;
} GlimQuantizeOptions;

/* Quantize every linear of attention and MLPs/experts to NVFP4 (weight, weight_scale,
 * weight_scale_2); copy all other tensors (embeddings, lm_head, norms, routers, the MTP layer,
 * modules kept wide) unchanged; write hf_quant_config.json, config.json with
 * "quantization_config", and copy the folder's other files (tokenizer, templates, ...).
 * No input_scale is written: it needs activation calibration (see glim-quantize.c).
 * The output folder appears only when complete. Errors name the file and tensor. */
gboolean glim_quantize          (const GlimQuantizeOptions *options, GError **error);

/* ModelOpt's weight_scale_2 for a fused group whose largest |w| is `amax`: amax / (6 * 448). */
float    glim_nvfp4_scale_2     (float amax);

/* Quantize w [rows, cols] (cols a multiple of 16) with weight_scale_2 `scale_2` exactly as
 * ModelOpt's NVFP4QTensor does: packed [rows, cols/2] (element 2j in the low nibble),
 * scales [rows, cols/16] fp8 e4m3. */
void     glim_nvfp4_quantize    (const float *w, gsize rows, gsize cols, float scale_2,
                                 uint8_t *packed, uint8_t *scales);

G_END_DECLS
