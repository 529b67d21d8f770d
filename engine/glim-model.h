/* glim-model.h: a loaded checkpoint: its config plus every tensor of the forward pass bound,
 * checked for dtype and shape, and pointing into the mmapped safetensors files.
 * SPDX-License-Identifier: MIT
 * Dimension legend: see glim-config.h. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "glim-config.h"
#include "glim-safetensors.h"

G_BEGIN_DECLS

typedef enum {
  GLIM_WEIGHT_NONE = 0,  /* module absent (e.g. q_proj when q_lora_rank is set) */
  GLIM_WEIGHT_F32,
  GLIM_WEIGHT_F16,
  GLIM_WEIGHT_BF16,
  GLIM_WEIGHT_NVFP4,     /* ModelOpt: weight u8 [rows, cols/2], weight_scale fp8 [rows, cols/16] */
} GlimWeightFormat;

/* A linear layer's weight, W stored [out = rows, in = cols]; y = W.x.
 * It may be a view of part of a larger tensor (engine/glim-shard.h cuts them): rows follow
 * each other every row_stride elements, of which the view uses the first cols. */
typedef struct {
  const char      *name;         /* module name, "model.layers.3.self_attn.q_b_proj" (owned by model) */
  GlimWeightFormat format;
  int              rows;         /* out features */
  int              cols;         /* in features */
  int              row_stride;   /* elements from one row's start to the next's: cols for a whole
                                  * tensor, the tensor's cols for a column view; 0 means cols.
                                  * NVFP4: a multiple of 16 (bytes cols/2, scales cols/16) */
  const void      *data;         /* F32/F16/BF16: [rows, row_stride]; NVFP4: uint8
                                  * [rows, row_stride/2], element 2j in the low nibble of byte j */
  const uint8_t   *scales;       /* NVFP4: fp8 e4m3 [rows, row_stride/16], row-major, not
                                  * swizzled */
  float            scale2;       /* NVFP4: weight_scale_2 (global factor) */
  float            input_scale;  /* NVFP4: input_scale if present, else 0 (unused by W4A16) */
} GlimWeight;

typedef struct {
  GlimWeight gate;   /* [Fx, D] */
  GlimWeight up;     /* [Fx, D] */
  GlimWeight down;   /* [D, Fx] */
} GlimMlp;

typedef struct {
  float     *input_norm;       /* [D] */
  float     *post_attn_norm;   /* [D] */

  /* MLA */
  GlimWeight q_a;              /* [Nq, D]        (q_lora_rank > 0) */
  float     *q_a_norm;         /* [Nq]           (q_lora_rank > 0) */
  GlimWeight q_b;              /* [H*Dqk, Nq]    head-major: per head [nope Dn | rope R] */
  GlimWeight q;                /* [H*Dqk, D]     (q_lora_rank == 0) */
  GlimWeight kv_a;             /* [C, D]         output [latent Lkv | k_pe R] */
  float     *kv_a_norm;        /* [Lkv] */
  GlimWeight kv_b;             /* [H*(Dn+Dv), Lkv] head-major: per head [k_nope Dn | v Dv] */
  GlimWeight o;                /* [D, H*Dv] */

  /* FFN */
  gboolean   is_moe;
  GlimMlp    dense;            /* I wide, when !is_moe */
  GlimWeight router;           /* [E, D] (bf16 on disk, applied in fp32) */
  float     *router_bias;      /* [E] e_score_correction_bias, selection only */
  GlimMlp   *experts;          /* [E], F wide */
  GlimMlp    shared;           /* F * n_shared_experts wide; format NONE when n_shared_experts == 0 */
} GlimLayer;

/* The MTP block (layer index n_layers), bound only when asked for. */
typedef struct {
  GlimLayer  block;
  float     *enorm;            /* [D] */
  float     *hnorm;            /* [D] */
  GlimWeight eh_proj;          /* [D, 2D]: input [embed | hidden] */
  float     *head_norm;        /* [D] shared_head.norm */
  GlimWeight head;             /* [V, D] shared_head.head */
} GlimMtp;

typedef struct _GlimModel GlimModel;

struct _GlimModel {
  char            *dir;
  GlimConfig      *config;
  GlimTensorStore *store;      /* NULL for a skeleton (glim_model_new_skeleton) */

  GlimWeight       embed;      /* [V, D] token embeddings (BF16/F32; rows are read, never multiplied) */
  GlimLayer       *layers;     /* [n_layers] */
  float           *final_norm; /* [D] */
  GlimWeight       lm_head;    /* [V, D]; == embed when tie_word_embeddings */
  GlimMtp         *mtp;        /* NULL unless loaded with load_mtp */

  GStringChunk    *strings;    /* module names */
  GPtrArray       *owned;      /* float arrays converted at load (norms, biases) */
};

typedef struct {
  gboolean load_mtp;           /* bind the MTP layer (it must then be present) */
} GlimModelLoadOptions;

/* Load config and weights from `dir`. Every error names the file and the key or tensor. */
GlimModel  *glim_model_load      (const char *dir, const GlimModelLoadOptions *options,
                                  GError **error);
void        glim_model_free      (GlimModel *model);
/* A model with every module's shape bound from `config` (taken over) but no tensors: the
 * format of each module is predicted from the quantization config (NVFP4 unless excluded;
 * embeddings and routers wide), data and norms are NULL. For planning (glim_shard_plan,
 * parameter and byte counts) before a checkpoint is at hand; it cannot be evaluated. */
GlimModel  *glim_model_new_skeleton (GlimConfig *config);

/* A multi-line human-readable description: architecture, sizes, parameter counts,
 * which modules are NVFP4, bytes. */
char       *glim_model_describe  (GlimModel *model);

/* Weight bytes one decode step must read: attention, dense or shared MLPs, the router,
 * num_experts_per_tok routed experts per MoE layer, lm_head, one embedding row. */
guint64     glim_model_active_bytes (GlimModel *model);

/* Parameters stored by a weight (NVFP4 counts unpacked elements). */
gsize       glim_weight_n_params (const GlimWeight *w);
gsize       glim_weight_n_bytes  (const GlimWeight *w);

/* Dequantise/convert row `row` (cols floats) of `w` into `out`. */
void        glim_weight_row_to_f32 (const GlimWeight *w, int row, float *out);

/* Elements between the starts of two rows of `w` (see GlimWeight.row_stride). */
static inline gsize
glim_weight_row_stride (const GlimWeight *w)
{
  return (gsize) (w->row_stride > 0 ? w->row_stride : w->cols);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimModel, glim_model_free)

G_END_DECLS
