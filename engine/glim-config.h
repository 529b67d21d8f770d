/* glim-config.h: the validated description of a GLM-4.7-Flash-family checkpoint, read from
 * config.json and hf_quant_config.json (or config.json "quantization_config").
 * SPDX-License-Identifier: MIT
 *
 * Dimension legend used across the engine (values for GLM-4.7-Flash in parentheses):
 *   T tokens, D hidden (2048), H heads (20), Nq q_lora_rank (768), Lkv kv_lora_rank (512),
 *   Dn qk_nope_head_dim (192), R qk_rope_head_dim (64), Dqk = Dn + R (256), Dv v_head_dim (256),
 *   C = Lkv + R latent cache width (576), E routed experts (64), K experts per token (4),
 *   F moe_intermediate_size (1536), I dense intermediate_size (10240), V vocab (154880). */
#pragma once

#include <glib.h>

#include "glim-error.h"

G_BEGIN_DECLS

#define GLIM_MAX_EOS 8

typedef struct {
  gboolean nvfp4;              /* quant_algo NVFP4 (or a mixed config whose layers use it) */
  char    *quant_algo;         /* as written, NULL when the model is not quantized */
  char    *kv_cache_quant_algo;/* NULL, "FP8" or "NVFP4": informational, the cache is kept wide */
  int      group_size;         /* 16 for NVFP4 */
  GStrv    exclude_modules;    /* prefix patterns ("name", "name*"), may be NULL */
  char    *source;             /* "hf_quant_config.json" or "config.json quantization_config" */
} GlimQuantConfig;

typedef struct {
  char    *architecture;       /* "Glm4MoeLiteForCausalLM" */
  char    *model_type;         /* "glm4_moe_lite" */

  int      hidden_size;        /* D */
  int      n_layers;           /* num_hidden_layers (main model, MTP excluded) */
  int      n_heads;            /* H */
  int      q_lora_rank;        /* Nq, 0 when q_proj is a single full-rank projection */
  int      kv_lora_rank;       /* Lkv */
  int      qk_nope_head_dim;   /* Dn */
  int      qk_rope_head_dim;   /* R */
  int      v_head_dim;         /* Dv */
  int      vocab_size;         /* V */
  int      max_position_embeddings;

  int      intermediate_size;      /* I: dense MLP layers */
  int      moe_intermediate_size;  /* F: each routed expert */
  int      n_routed_experts;       /* E */
  int      n_shared_experts;       /* shared MLP width is F * n_shared_experts */
  int      n_experts_per_tok;      /* K */
  int      n_group;
  int      topk_group;
  gboolean norm_topk_prob;
  double   routed_scaling_factor;
  gboolean *layer_is_moe;          /* [n_layers]: from mlp_layer_types or first_k_dense_replace */
  int      n_nextn_layers;         /* num_nextn_predict_layers (MTP), 0 if absent */

  double   rms_norm_eps;
  /* eps of q_a_layernorm and kv_a_layernorm: transformers builds them with its RMSNorm default
   * (1e-6) rather than rms_norm_eps; vLLM uses rms_norm_eps. We follow the reference. */
  double   latent_norm_eps;
  double   rope_theta;
  gboolean rope_interleave;        /* TRUE: rotate (x[2i], x[2i+1]) pairs (GLM/DeepSeek); FALSE: halves */
  gboolean tie_word_embeddings;

  int      eos_ids[GLIM_MAX_EOS];
  int      n_eos;
  int      pad_id;                 /* -1 if absent */
  int      bos_id;                 /* -1 if absent */

  GlimQuantConfig quant;
} GlimConfig;

/* Read config.json (and hf_quant_config.json if present) from a model folder.
 * Every key the architecture needs is required and range-checked; errors name the file and key. */
GlimConfig *glim_config_load (const char *dir, GError **error);
void        glim_config_free (GlimConfig *config);

/* Derived sizes. */
static inline int glim_config_qk_head_dim (const GlimConfig *c) { return c->qk_nope_head_dim + c->qk_rope_head_dim; }
static inline int glim_config_cache_width (const GlimConfig *c) { return c->kv_lora_rank + c->qk_rope_head_dim; }

/* TRUE if `module` (e.g. "model.layers.1.mlp.gate") matches an exclude_modules pattern. */
gboolean    glim_quant_config_excludes (const GlimQuantConfig *quant, const char *module);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimConfig, glim_config_free)

G_END_DECLS
