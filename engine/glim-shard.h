/* glim-shard.h: tensor parallelism: how every tensor is cut across tp ranks (as views of the
 * loaded weights), which tp a model allows, and how much memory each rank needs.
 * SPDX-License-Identifier: MIT
 *
 * The one place that knows how to cut each tensor (DESIGN.md "Tensor parallelism", model.md §5).
 * Rank r of tp holds (Hl = H/tp heads, legend in glim-config.h):
 *   replicated  embed_tokens, q_a_proj, kv_a_proj_with_mqa, q_a/kv_a norms, every RMSNorm, the
 *               router and its bias, and the latent KV cache: every rank computes them whole
 *   by head     q_b_proj (q_proj when q_lora_rank is 0) and kv_b_proj (so W_UK and W_UV): the
 *               output rows of heads [r*Hl, (r+1)*Hl), Dqk resp. Dn + Dv rows per head
 *   by input    o_proj: the input columns of the same heads, [r*Hl*Dv, (r+1)*Hl*Dv) (for
 *               NVFP4 widened to whole scale blocks, see below); the ranks' partial outputs
 *               [T, D] are summed (all-reduce #1)
 *   by ffn      the dense MLP (I), the shared expert (F * n_shared_experts) and every routed
 *               expert (F): gate/up output rows and down input columns of the rank's part of
 *               the width (glim_shard_ffn_range: whole 16-column blocks, as evenly as they
 *               go, so a rank may hold one block more than another, or none); per MoE layer
 *               each rank adds its routed and shared partials, then the ranks' sums are summed
 *               once (all-reduce #2); the dense layer's partials likewise
 *   by vocab    lm_head: rows [r*Vr, min(V, (r+1)*Vr)) with Vr = ceil(round_up(V, 64) / tp)
 *               (vLLM's padded vocabulary split; the last ranks may hold fewer rows, or none);
 *               the logits are gathered, never summed
 * The one requirement is H % tp == 0. Every NVFP4 view is again a valid NVFP4 weight: an NVFP4
 * column cut always falls on its 16-wide scale blocks. The FFN cuts do by construction.
 * o_proj's cut follows the heads; where a head boundary falls inside a scale block (an NVFP4
 * o_proj with H * Dv / tp not a multiple of 16) the rank's o_proj view is widened to the whole
 * blocks around its heads (glim_shard_o_range). The widened columns belong to a neighbour's
 * heads and the rank feeds them zeros, so each head is still computed by one rank alone. */
#pragma once

#include <glib.h>

#include "glim-model.h"

G_BEGIN_DECLS

#define GLIM_SHARD_ERROR (glim_shard_error_quark ())

typedef enum {
  GLIM_SHARD_ERROR_TP,       /* a tensor-parallel size the model's shapes cannot be cut by */
  GLIM_SHARD_ERROR_SLICE,    /* a view outside its tensor, or one that cuts NVFP4 scale blocks */
  GLIM_SHARD_ERROR_NO_FIT,   /* a rank's weights + KV cache + workspace exceed its device */
} GlimShardError;

GQuark glim_shard_error_quark (void);

#define GLIM_SHARD_TP_MAX 8         /* ranks on one host */
#define GLIM_SHARD_VOCAB_ALIGN 64   /* the vocabulary is padded to this before it is split */

/* ---- views ---- */

/* out = rows [row0, row0 + n_rows) of w, pointing into w's data (nothing is copied; out lives
 * as long as w's data). n_rows may be 0. Errors (GLIM_SHARD_ERROR_SLICE): outside w. */
gboolean glim_weight_slice_rows (const GlimWeight *w, int row0, int n_rows, GlimWeight *out,
                                 GError **error);
/* out = input columns [col0, col0 + n_cols) of w, a strided view into w's data. Errors
 * (GLIM_SHARD_ERROR_SLICE): outside w; for NVFP4, col0 or n_cols not a multiple of 16 (the
 * cut would split a scale block). */
gboolean glim_weight_slice_cols (const GlimWeight *w, int col0, int n_cols, GlimWeight *out,
                                 GError **error);

/* ---- ranks ---- */

#define GLIM_SHARD_BLOCK 16         /* FFN widths are cut in blocks of this many columns */

/* What rank `rank` of `tp` holds. Its layers are whole GlimLayers, so code written for one
 * device runs on a rank unchanged, with H replaced by n_heads: replicated members are the
 * model's own (same pointers), split members are views into the model's data. A rank's FFN
 * views may be empty (0 rows / 0 columns, data pointing at the tensor's end): it then adds
 * zeros. */
typedef struct {
  int         tp;
  int         rank;
  int         head0;        /* first attention head of this rank */
  int         n_heads;      /* Hl = H / tp */
  int         vocab0;       /* first lm_head row (vocabulary id) of this rank */
  int         n_vocab;      /* lm_head rows of this rank (may be 0) */
  int         n_layers;
  GlimLayer  *layers;       /* [n_layers]; experts arrays owned, the rest borrowed */
  int        *o_lead;       /* [n_layers]: columns of layers[l].o before the first of this
                             * rank's Hl * Dv (glim_shard_o_range); 0 unless that o_proj is
                             * NVFP4 and widened to whole scale blocks */
  GlimWeight  lm_head;      /* [n_vocab, D] rows vocab0.. of the model's lm_head */
} GlimShard;

/* Check that `model` runs at `tp`: 1 <= tp <= GLIM_SHARD_TP_MAX and tp divides the heads
 * (every other dimension is cut whatever its size, see the header comment). The error
 * (GLIM_SHARD_ERROR_TP) names the setting and lists the sizes that would work. */
gboolean    glim_shard_check       (GlimModel *model, int tp, GError **error);
/* The views of rank `rank` (0 <= rank < tp) of a model checked as above; NULL with the
 * check's error otherwise. The model must outlive the shard. */
GlimShard  *glim_shard_new         (GlimModel *model, int tp, int rank, GError **error);
void        glim_shard_free        (GlimShard *shard);
/* lm_head rows [*row0, *row0 + *n_rows) of rank `rank`. */
void        glim_shard_vocab_range (int vocab_size, int tp, int rank, int *row0, int *n_rows);
/* The part [*col0, *col0 + *n_cols) of an FFN width n (I, F or F * n_shared_experts) that
 * rank `rank` of `tp` holds: n is cut into ceil(n / 16) blocks of 16 columns (the last one
 * short when 16 does not divide n, which NVFP4 never allows), and each rank gets a contiguous
 * run of blocks, in rank order, the first (blocks % tp) ranks one block more than the others.
 * 96 over 4: 32, 32, 16, 16; 32 over 4: 16, 16, 0, 0 (*col0 = n for an empty part). */
void        glim_shard_ffn_range   (int n, int tp, int rank, int *col0, int *n_cols);
/* o_proj input columns [*col0, *col0 + *n_cols) of rank `rank` of `tp` for H heads of Dv
 * values: those of its heads, [r*Hl*Dv, (r+1)*Hl*Dv), widened when `nvfp4` to the enclosing
 * 16-column scale blocks (H * Dv is then a multiple of 16); *lead gets the columns before the
 * first head's (0 <= *lead < 16; 0 when not widened). Needs H % tp == 0. */
void        glim_shard_o_range     (int n_heads, int v_head_dim, gboolean nvfp4, int tp, int rank,
                                    int *col0, int *n_cols, int *lead);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimShard, glim_shard_free)

/* ---- memory plan ---- */

typedef struct {
  int     n_ctx;               /* tokens each rank's (replicated) KV cache holds */
  int     cache_value_bytes;   /* bytes per cached value: 2 (bf16, CUDA), 4 (CPU); 0: 2 */
  int     chunk_tokens;        /* tokens per forward chunk, which sizes the workspace; 0: 64 */
  guint64 workspace_bytes;     /* the backend's exact workspace per rank; 0: estimate it */
  guint64 device_bytes;        /* memory one rank may use; 0: do not check */
  int     prefill_tokens;      /* a backend with a separate prefill workspace (CUDA,
                                * cuda-prefill.c): tokens per prefill chunk. Its estimate (float32
                                * activations of the chunk, the widest weight expanded to float32,
                                * and the attention's buffers, growing with n_ctx) is added to
                                * the workspace; 0: none */
  int     prefill_lanes;       /* with prefill_tokens: streams the routed experts run on, each
                                * with its own expanded-weight scratch (0 or 1: one) */
  int     prefill_key_block;   /* with prefill_tokens: keys per K/V block of the flash attention
                                * (Kn|V of min(this, n_ctx) keys in bf16) */
  int     prefill_flash_max_dim; /* head dims (Dn + R, Dv) the flash attention takes; wider ones
                                * (or 0 here) use the score blocks below instead */
  guint64 prefill_score_bytes; /* with prefill_tokens, the score-block attention: bytes S and P
                                * aim for (the query block shrinks to fit them, to 16 queries at
                                * least), plus one layer's cache in float32 */
  int     decode_splits;       /* a backend whose decode attention splits each token's keys
                                * (CUDA): the most splits per token, at most one per 64 keys;
                                * their partial outputs, chunk_tokens x Hl x splits x
                                * (kv_lora_rank + 2) floats, are added to the workspace; 0: none */
} GlimShardPlanOptions;

typedef struct {
  int     tp;
  int     largest_rank;                       /* the rank that needs the most */
  guint64 replicated_bytes;                   /* weights every rank holds whole, norms included */
  guint64 sharded_bytes[GLIM_SHARD_TP_MAX];   /* [tp]: each rank's part of the split weights */
  guint64 weight_bytes;                       /* replicated + the largest rank's part */
  guint64 kv_cache_bytes;                     /* n_layers x n_ctx x C x cache_value_bytes */
  guint64 workspace_bytes;                    /* activations and partial sums of one chunk */
  guint64 total_bytes;                        /* weight + cache + workspace of the largest rank */
} GlimShardPlan;

/* Bytes each rank of `tp` needs for `model` (weights as stored: NVFP4 packed + fp8 scales +
 * scale_2, wide weights at their width, norms and biases as float32). Ranks may need different
 * amounts (an FFN width cut unevenly, a widened o_proj, lm_head's last rows): sharded_bytes
 * has each rank's, and the weight, total and fit figures are those of the rank that needs the
 * most. The workspace estimate covers the float32 activations of one chunk on a rank
 * (residual, q, latent q and output, FFN, MoE slots, the all-reduce buffers, router logits,
 * the gathered logits); a backend that knows its own figure passes it. With
 * options->device_bytes set, a plan that does not fit fails with GLIM_SHARD_ERROR_NO_FIT,
 * naming the rank, what it needs (weights, cache, workspace) and the smallest tp that would fit
 * (or the context that would); *plan is filled in that case too. Other errors:
 * glim_shard_check's. */
gboolean    glim_shard_plan        (GlimModel *model, int tp, const GlimShardPlanOptions *options,
                                    GlimShardPlan *plan, GError **error);

/* ---- the longest context that fits ---- */

#define GLIM_SHARD_RUNTIME_RESERVE ((guint64) 512 << 20)  /* kept free on each device for the
                                                           * CUDA runtime (context, cuBLAS, graphs) */
#define GLIM_SHARD_CONTEXT_STEP 256                        /* automatic contexts are multiples */

/* The longest context `model` can have at `tp` when rank r has free_bytes[r] (r < tp) free: the
 * largest n_ctx, at most max_position_embeddings, whose plan (glim_shard_plan with `options`;
 * its n_ctx and device_bytes are ignored) fits in every rank's free memory less
 * GLIM_SHARD_RUNTIME_RESERVE: max_position_embeddings when that fits, else a multiple of
 * GLIM_SHARD_CONTEXT_STEP. As the fit check, it compares the rank that needs the most with
 * each rank's memory. Errors: glim_shard_check's; GLIM_SHARD_ERROR_NO_FIT when not even
 * GLIM_SHARD_CONTEXT_STEP tokens fit (or max_position_embeddings, when smaller): the message
 * is glim_shard_plan's for that context on the rank with the least memory, after
 * "rank R (N GiB free, 0.5 GiB kept for the CUDA runtime): ". */
gboolean    glim_shard_fit_context (GlimModel *model, int tp, const GlimShardPlanOptions *options,
                                    const guint64 *free_bytes, int *n_ctx, GError **error);

G_END_DECLS
