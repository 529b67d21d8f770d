/* glim-export.h: what quantize and synth share when they write a ModelOpt NVFP4 model folder:
 * the tensor layout a config implies, ModelOpt's default-recipe decisions (which modules are
 * NVFP4, which share a weight_scale_2, the summarised exclude list), the two quantization
 * config files, an output folder that appears only when complete, and a parallel job runner.
 * SPDX-License-Identifier: MIT
 * Dimension legend: see glim-config.h. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "glim-config.h"
#include "glim-dtype.h"

G_BEGIN_DECLS

/* ---- layout ---- */

typedef enum {
  GLIM_EXPORT_LINEAR,    /* y = W.x module: tensor "<module>.weight" [rows = out, cols = in] */
  GLIM_EXPORT_EMBED,     /* embedding table "<module>.weight" [rows = V, cols = D] */
  GLIM_EXPORT_VECTOR,    /* norm weight or router bias [rows] (cols 0) */
} GlimExportKind;

typedef struct {
  char          *module;   /* "model.layers.3.self_attn.q_b_proj" */
  char          *tensor;   /* the wide tensor: "<module>.weight" (or, for the router bias,
                            * "<module>.e_score_correction_bias") */
  GlimExportKind kind;
  int            rows;
  int            cols;
  GlimDtype      dtype;    /* dtype of the original checkpoint: BF16, F32 for the router bias */
  gboolean       nvfp4;    /* quantized under ModelOpt's default NVFP4 recipe */
  gboolean       router;   /* the MoE router mlp.gate (kept wide, listed in exclude_modules) */
  int            group;    /* >= 0: modules that read the same input and so share one
                            * max-unified weight_scale_2; -1: a module of its own */
  gboolean       mtp;      /* part of the MTP layer model.layers.{n_layers} (never quantized) */
} GlimExportEntry;

/* Every tensor a Glm4MoeLite checkpoint of `config` holds, in model order, with ModelOpt's
 * default-recipe decisions; the MTP layer too when `with_mtp`. lm_head is left out when tied.
 * Returns GlimExportEntry*, freed with the array. */
GPtrArray *glim_export_layout           (const GlimConfig *config, gboolean with_mtp);

/* Mark the linear modules matching any glob pattern (g_pattern_match_simple on the module
 * name, e.g. "*kv_b_proj") as kept wide. Returns the number of modules matched. */
guint      glim_export_layout_keep_wide (GPtrArray *layout, const char *const *patterns);

/* ---- quantization config ---- */

/* exclude_modules as ModelOpt writes it: the wide modules that carry a (disabled) quantizer
 * (embedding, lm_head, routers, modules kept wide), summarised with ModelOpt's prefix
 * wildcards against the quantized ones (routed experts count as one fused "mlp.experts"
 * module, as in transformers 5), sorted; then one "model.layers.N*" per MTP layer index in
 * `mtp_layers` (may be NULL). */
GStrv      glim_export_exclude_modules  (GPtrArray *layout, GArray *mtp_layers);

/* hf_quant_config.json for NVFP4 weights (producer glimmer), and the config.json
 * "quantization_config" object ModelOpt derives from it. */
JsonNode  *glim_export_hf_quant_config  (const char *const *exclude_modules);
JsonNode  *glim_export_config_quantization (const char *const *exclude_modules);

/* Write `node` to dir/name as Python's json.dump(node, indent=indent) does, plus a newline. */
gboolean   glim_export_write_json       (const char *dir, const char *name, JsonNode *node,
                                         guint indent, gboolean sort_keys, GError **error);

/* ---- output folder ---- */

/* Create a hidden staging folder next to `out_dir` ("PARENT/.NAME.partial-XXXXXX") and return
 * its path. Errors if out_dir exists and is not an empty folder, or its parent is missing. */
char      *glim_export_stage_new        (const char *out_dir, GError **error);
/* Move the staging folder to out_dir in one rename. */
gboolean   glim_export_stage_commit     (const char *stage, const char *out_dir, GError **error);
/* Delete a staging folder and everything in it. */
void       glim_export_stage_remove     (const char *stage);

/* ---- parallel jobs ---- */

typedef gboolean (*GlimExportJobFunc)      (gpointer data, guint job, GError **error);
typedef void     (*GlimExportProgressFunc) (gpointer data, guint64 done, guint64 total);

/* Run jobs 0..n_jobs-1 on n_threads threads (0: one per core), the caller's included, in
 * no particular order; stop at the first failure and return its error. job_weight (may be
 * NULL) weighs each job for the progress callback, which is called with a lock held after
 * each job. */
gboolean   glim_export_run_jobs         (guint n_jobs, const guint64 *job_weight, int n_threads,
                                         GlimExportJobFunc fn, gpointer data,
                                         GlimExportProgressFunc progress, gpointer progress_data,
                                         GError **error);

G_END_DECLS
