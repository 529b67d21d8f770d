/* cpu-private.h: the CPU forward state shared by cpu-forward.c, cpu-attention.c, cpu-route.c.
 * SPDX-License-Identifier: MIT */
#pragma once

#include "cpu.h"

#include "../glim-shard.h"

struct _GlimCpuForward {
  GlimModel   *model;
  GlimCpuPool *pool;
  int          n_ctx;
  int          tp;           /* simulated tensor-parallel ranks, run one after the other */
  GlimShard  **ranks;        /* [tp]: each rank's views of the weights (rank 0 of 1: the whole) */
  float       *partials;     /* [tp - 1, CHUNK, D] ranks 1.. partial sums before the all-reduce */
  float       *rank_logits;  /* [CHUNK, Vr] one rank's lm_head rows before the gather (tp > 1) */
  float       *cache;        /* [n_layers, n_ctx, C]: [latent Lkv | rotated k_pe R] per token */
  float       *inv_freq;     /* [R/2] */

  /* scratch for one chunk of T <= CHUNK tokens */
  float *x;                  /* [T, D] residual stream */
  float *h;                  /* [T, D] normalised input of a block */
  float *qa;                 /* [T, Nq] */
  float *q;                  /* [T, Hl, Dqk]: per head [nope Dn | rope R]; Hl heads of a rank */
  float *kva;                /* [T, C] */
  float *q_lat;              /* [T, Hl, Lkv] q_nope absorbed through W_UK */
  float *o_lat;              /* [T, Hl, Lkv] attention output in latent space */
  float *o;                  /* [T, Hl * Dv], or [T, o.cols] for a widened o_proj view */
  float *attn_scores;        /* [n_threads, n_ctx] */
  float *ffn_a, *ffn_b;      /* [T, max FFN width] */
  float *ffn_out;            /* [T, D] */
  float *moe_slots;          /* [T, K, D] weighted expert outputs */
  int   *moe_idx;            /* [T, K] chosen experts */
  float *moe_w;              /* [T, K] their weights */
  float *moe_x;              /* [T, D] tokens gathered for one expert */
  int   *moe_tok;            /* [T, 2] (token, slot) of each gathered row */
  GlimRouteTrace *trace;     /* optional: routes and margins recorded here (not owned) */
};

/* The replicated part of MLA for T tokens at positions n_past..: qa = norm(q_a(h)) (when
 * q_lora_rank > 0) and their latents [c | rotated k_pe] written to the cache of layer l. */
void glim_cpu_attention_latent (GlimCpuForward *fw, const GlimLayer *L, int l, int T, int n_past,
                                const float *h);
/* One rank's part, after glim_cpu_attention_latent: the queries of its H heads (L is the rank's
 * view of layer l: q_b/q, kv_b and o cut to those heads), attention over the cache, and its
 * partial out[T, D] = o_proj_rank(o_rank). o_lead: L->o's input columns before the heads'
 * (GlimShard.o_lead; the columns around them are fed zeros). At tp 1, L is the whole layer,
 * o_lead 0 and out the result. */
void glim_cpu_attention_rank   (GlimCpuForward *fw, const GlimLayer *L, int H, int o_lead, int l,
                                int T, int n_past, const float *h, float *out);

/* Sigmoid + bias grouped top-k routing of one token (transformers Glm4MoeLiteTopkRouter):
 * idx[K] the chosen experts, w[K] their unbiased scores, renormalised if norm_topk_prob,
 * times routed_scaling_factor. margin (optional): how far the choice is from flipping, the
 * smaller of the gaps between the last chosen and the best rejected group score and biased
 * expert score (a gap near rounding size is a near-tie another backend may resolve otherwise). */
void glim_cpu_route (const GlimConfig *c, const float *logits, const float *bias, int *idx,
                     float *w, float *margin);
