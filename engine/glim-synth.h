/* glim-synth.h: write a random-weight Glm4MoeLite model in the exact ModelOpt NVFP4 layout,
 * for tests (the small "tiny" preset) and GPU benchmarks (the full "glm-4.7-flash" preset).
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "glim-error.h"
#include "glim-export.h"

G_BEGIN_DECLS

typedef struct {
  const char            *preset;          /* "glm-4.7-flash" (the real shapes) or "tiny" */
  guint64                seed;            /* same seed and options: same bytes */
  const char            *out_dir;         /* must not exist, or be an empty folder */
  const char *const     *overrides;       /* "key=value" config.json overrides, NULL-terminated;
                                           * value is JSON (4, 1.5, true, null, [1,2], "s") or
                                           * else taken as a string; may be NULL */
  gboolean               mtp;             /* also write the MTP layer (BF16, excluded) */
  gint64                 shard_max_bytes; /* -1: the preset's (5 GB full, one file tiny); 0: one */
  int                    n_threads;       /* 0: one per core */
  GlimExportProgressFunc progress;        /* may be NULL; called from worker threads */
  gpointer               progress_data;
} GlimSynthOptions;

/* Write config.json (every key of the real model, overrides applied, then validated with
 * glim_config_load), hf_quant_config.json and the safetensors files. NVFP4 modules get random
 * codes and block scales and a weight_scale_2 that makes the dequantised weights' standard
 * deviation 1/sqrt(in_features); wide tensors are random BF16 of similar scale. Work is spread
 * over threads and streamed to disk; the result does not depend on the thread count. */
gboolean glim_synth (const GlimSynthOptions *options, GError **error);

/* The preset names, NULL-terminated. */
const char *const *glim_synth_presets (void);

G_END_DECLS
