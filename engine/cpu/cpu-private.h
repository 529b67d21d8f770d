/* cpu-private.h: the CPU forward state shared by cpu-forward.c, cpu-attention.c, cpu-route.c.
 * SPDX-License-Identifier: MIT */
#pragma once

#include "cpu.h"

struct _GlimCpuForward {
  GlimModel   *model;
  GlimCpuPool *pool;
  int          n_ctx;
  float       *cache;        /* [n_layers, n_ctx, C]: [latent Lkv | rotated k_pe R] per token */
  float       *inv_freq;     /* [R/2] */

  /* scratch for one chunk of T <= CHUNK tokens */
  float *x;                  /* [T, D] residual stream */
  float *h;                  /* [T, D] normalised input of a block */
  float *qa;                 /* [T, Nq] */
  float *q;                  /* [T, H, Dqk]: per head [nope Dn | rope R] */
  float *kva;                /* [T, C] */
  float *q_lat;              /* [T, H, Lkv] q_nope absorbed through W_UK */
  float *o_lat;              /* [T, H, Lkv] attention output in latent space */
  float *o;                  /* [T, H * Dv] */
  float *attn_scores;        /* [n_threads, n_ctx] */
  float *ffn_a, *ffn_b;      /* [T, max FFN width] */
  float *ffn_out;            /* [T, D] */
  float *moe_slots;          /* [T, K, D] weighted expert outputs */
  int   *moe_idx;            /* [T, K] chosen experts */
  float *moe_w;              /* [T, K] their weights */
  float *moe_x;              /* [T, D] tokens gathered for one expert */
  int   *moe_tok;            /* [T, 2] (token, slot) of each gathered row */
};

/* out[T, D] = o_proj(MLA(h)) for tokens at positions n_past.., writing their latents to the
 * cache of layer l first. */
void glim_cpu_attention (GlimCpuForward *fw, const GlimLayer *L, int l, int T, int n_past,
                         const float *h, float *out);

/* Sigmoid + bias grouped top-k routing of one token (transformers Glm4MoeLiteTopkRouter):
 * idx[K] the chosen experts, w[K] their unbiased scores, renormalised if norm_topk_prob,
 * times routed_scaling_factor. */
void glim_cpu_route (const GlimConfig *c, const float *logits, const float *bias, int *idx,
                     float *w);
