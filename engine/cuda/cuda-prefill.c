/* cuda-prefill.c: long inputs on the GPU, on tensor cores (cuBLAS and kernels/).
 * SPDX-License-Identifier: MIT
 *
 * Per chunk of up to PREFILL_T tokens and per layer. Weight products (linear()), by
 * GLIMMER_PREFILL_MATH (read once, in pre_alloc; see PreMath): the default "tf32" expands NVFP4
 * weights to float32 scratch without their global scale (scale2 becomes the GEMM's alpha) and
 * runs TF32 GEMMs on float32 activations ("fp32": full float32 GEMMs; F32/F16 weights always
 * take this path). "bf16x2" expands to bf16 instead (exact) and multiplies with the activations
 * split into bf16 hi + lo halves (16 significant bits together): Y = alpha (W.Xhi + W.Xlo), two
 * GEMMs with float32 accumulation, each input split once; "bf16" drops the lo product. On the
 * H200 at 8k tokens tf32 is the fastest (docs/PERFORMANCE.md).
 * Attention, by GLIMMER_PREFILL_ATTN: the default "flash" is the non-absorbed MLA ("compute-
 * friendly", docs/model.md 2.1): per block of at most PREFILL_KEYS keys, Kn|V = cache[:, :Lkv] .
 * kv_b^T in one GEMM with float32 sums, written in f16 scaled into range (an NVFP4 kv_b: both
 * operands exact in f16, the scale from a bound; a BF16 one: bf16 operands, float32 out, then
 * scaled by its largest values), then the causal flash kernel (f16 operands, float32 sums:
 * kernels/flash-wgmma.cu on compute capability 9.0, kernels/flash-attn.cu elsewhere or with
 * GLIMMER_PREFILL_FLASH=mma) carries its state over the blocks; no score buffers. "cublas" is the
 * absorbed form over the latent cache with float32 scores materialised per query block
 * (S = Q.cache^T, causal softmax, P.cache, W_UV, TF32 GEMMs); head dims past GK_FLASH_MAX_DIM or
 * a kv_b not exact in bf16 (F16, F32) always take it.
 * The MoE routes in float32 and groups (token, slot) pairs by expert on the device; the host
 * reads only the E + 1 offsets (one wait per MoE layer, while the shared expert runs). With the
 * default math the routed experts of NVFP4 models run through the grouped fp4 GEMM
 * (kernels/gemm-fp4.cu: every expert's gate and up in one launch, every down in another, the
 * weights expanded in registers); otherwise each active expert runs once over its slice of the
 * gathered rows. Mirrors engine/cpu/cpu-forward.c.
 * Tensor parallelism: a rank runs the same steps on its shard (glim-shard.h: its heads, its
 * part of every FFN width, its lm_head rows); each block's output (o_proj, the FFN) is then its
 * partial sum, and fw->reduce sums the partials over the ranks before the residual add, at the
 * same two points per layer as the decode. The replicated residual stays the same on every
 * rank. */
#define G_LOG_DOMAIN "glimmer-cuda"

#include "cuda-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PREFILL_T GLIM_CUDA_PREFILL_T
#define LANES GLIM_CUDA_PREFILL_LANES
#define PREFILL_KEYS GLIM_CUDA_PREFILL_KEYS
#define SCORE_BUDGET ((size_t) GLIM_CUDA_SCORE_BUDGET)

/* How attention() runs (GLIMMER_PREFILL_ATTN, read once per context: glim_cuda_prefill_attn). */
typedef enum {
  ATTN_FLASH,           /* flash kernel (f16 operands, each scaled into range) */
  ATTN_CUBLAS,          /* absorbed form, float32 scores through cuBLAS */
} AttnPath;

/* GLIMMER_PREFILL_MATH: how linear() multiplies weights (cuda-prefill.c's header) */
typedef enum {
  PRE_MATH_BF16X2,      /* bf16 weights x (bf16 hi + bf16 lo) activations */
  PRE_MATH_BF16,        /* hi only: what the lo product costs, for measurements */
  PRE_MATH_TF32,        /* default: float32 weights and activations, TF32 tensor cores */
  PRE_MATH_FP32,        /* float32 throughout */
} PreMath;

enum { PHASE_ATTENTION, PHASE_MOE, PHASE_DENSE, PHASE_HEAD, PHASE_N };
static const char *const phase_name[PHASE_N] = { "attention", "moe", "dense mlp", "head+norm" };

typedef struct {
  int       T;          /* tokens per chunk */
  AttnPath  attn;
  int       KB;         /* flash: keys per K/V block */
  int       stages;     /* flash: GkFlashAttnArgs.stages (GLIMMER_PREFILL_FLASH_STAGES=1) */
  int       bm;         /* flash: GkFlashAttnArgs.bm (GLIMMER_PREFILL_FLASH_BM=64: the 4-warp CTA) */
  int       bn;         /* flash: GkFlashAttnArgs.bn (GLIMMER_PREFILL_FLASH_BN=32: 32-key tiles) */
  int       impl;       /* flash: GkFlashAttnArgs.impl (GLIMMER_PREFILL_FLASH=mma: mma.sync even
                         * where the wgmma kernel runs) */
  int       Tq;         /* cuBLAS path: queries per attention block */
  PreMath   math;
  float    *x, *h, *out, *qa, *q, *kva, *o, *g, *u, *rlogits, *rweight, *slots, *logits;
  float    *ye;         /* [T * K, D] routed experts' outputs, in grouped order */
  float    *wbuf, *xe;
  uint16_t *kvb16;      /* flash, NVFP4 kv_b: kv_b [H * (Dn + Dv), Lkv] f16, without scale2 */
  float    *kvf;        /* flash, BF16 kv_b: Kn|V [KB, H * (Dn + Dv)] float32, head-major as
                         * kv_b's rows */
  uint16_t *knv;        /* flash: the same in f16, scaled (gk_flash_kv_f16) */
  uint16_t *kpe16;      /* flash: the block's Kpe [KB, R] in f16, scaled as Kn */
  unsigned *kv_max;     /* flash: [2] the block's largest |K|, |V| (float bits) */
  uint16_t *c16;        /* flash, NVFP4 kv_b: the block's latent rows in f16, scaled */
  GkFlashDirect *direct;   /* flash, NVFP4 kv_b: scales (gk_flash_cache_f16) */
  float    *fm, *fl;    /* flash: state [T, H] (running max, sum) across key blocks */
  float    *qfull, *p, *olat, *kvb, *cache;      /* cuBLAS path */
  float    *s;
  uint16_t *hs;         /* [2][T, D] bf16 hi, lo of p->h (valid for hs_T tokens; 0: stale) */
  uint16_t *xs;         /* [2][xs_elems] 16-bit hi, lo of any other input (the MoE's
                         * gathered rows [T * K, D], its down input [T * K, F]) */
  float    *xscale;     /* [2][T * K] gk_split_f16_mma's row scales: the MoE's two inputs */
  int32_t  *ids, *idx, *tok, *slot, *iota, *kslot, *offsets;
  float    *lw, *ones;
  int32_t  *host_offsets;   /* pinned host [E + 1]: the MoE grouping's offsets */
  gboolean     moe_fp4;     /* routed experts through gk_gemm_fp4 where they take it */
  gboolean     moe_fp4_lo;  /* ... with the activations' lo halves (GLIMMER_PREFILL_MOE=fp4-lo) */
  int          gemm_impl;   /* GK_GEMM_FP4_*: GLIMMER_PREFILL_GEMM=mma keeps mma.sync on sm_90 */
  gboolean     proj_fp4;    /* every other NVFP4 weight (attention projections, dense and shared
                             * MLPs) through gk_gemm_fp4 too (linear_fp4; GLIMMER_PREFILL_PROJ) */
  GkGemmGroup *gemm_groups; /* device [3][E + 1]: gate and up, then down descriptors; slot 2 E
                             * linear_fp4's */
  cudaEvent_t offsets_ready;
  /* float32 math: the routed experts run on LANES streams (moe_lanes), each with its cuBLAS
   * handle and weight scratch (lane 0's is p->wbuf); n_lanes 0: not set up */
  int            n_lanes;
  cudaStream_t   lane[LANES];
  cublasHandle_t lane_blas[LANES];
  cudaEvent_t    lane_done[LANES], fork;
  float         *lane_wbuf;   /* [LANES - 1][wbuf_elems] */
  int       hs_T;
  size_t    wbuf_elems, xs_elems;
  /* GLIMMER_PREFILL_PROFILE=1: device time per block kind, summed over a prefill (events
   * around each block, one synchronisation per layer: for finding where the time goes) */
  gboolean     profile;
  cudaEvent_t  ev[4];
  double       ms[PHASE_N];
} Pre;

/* bf16 hi and lo halves of an input [n, cols] (lo NULL: hi only) */
typedef struct {
  const uint16_t *hi, *lo;
} Split;

static Pre *
pre_of (GlimCudaForward *fw)
{
  return (Pre *) (void *) fw->pre_layout;
}

#define TRY(expr)                                                                    \
  G_STMT_START {                                                                     \
    cudaError_t e_ = (expr);                                                         \
    if (G_UNLIKELY (e_ != cudaSuccess))                                              \
      return glim_cuda_set_error (error, e_, #expr, G_STRFUNC, __FILE__, __LINE__);  \
  } G_STMT_END

#define TRY_BLAS(expr)                                                               \
  G_STMT_START {                                                                     \
    cublasStatus_t b_ = (expr);                                                      \
    if (G_UNLIKELY (b_ != CUBLAS_STATUS_SUCCESS)) {                                  \
      g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_FAILED,                   \
                   "cuBLAS error %d (%s) in %s at %s:%d", (int) b_, #expr, G_STRFUNC,\
                   __FILE__, __LINE__);                                              \
      return FALSE;                                                                  \
    }                                                                                \
  } G_STMT_END

void
glim_cuda_prefill_free (GlimCudaForward *fw)
{
  if (fw->cublas != NULL)
    cublasDestroy (fw->cublas);
  Pre *p = pre_of (fw);
  for (int i = 0; p != NULL && p->profile && i < 4; i++)
    cudaEventDestroy (p->ev[i]);
  fw->cublas = NULL;
  cudaFree (fw->pre);
  fw->pre = NULL;
  if (p != NULL) {
    cudaFreeHost (p->host_offsets);
    for (int i = 0; i < p->n_lanes; i++) {
      cublasDestroy (p->lane_blas[i]);
      cudaEventDestroy (p->lane_done[i]);
      cudaStreamDestroy (p->lane[i]);
    }
    if (p->n_lanes > 0)
      cudaEventDestroy (p->fork);
    if (p->offsets_ready != NULL)
      cudaEventDestroy (p->offsets_ready);
  }
  g_free (fw->pre_layout);
  fw->pre_layout = NULL;
}

/* Elements of w that linear() expands into p->wbuf: none for BF16, used in place. */
static size_t
expanded_elems (const GkMatrix *w)
{
  return w->format == GK_WEIGHT_BF16 ? 0 : (size_t) w->rows * (size_t) w->cols;
}

/* The most elements any weight expands to (lm_head, BF16, does not count: at full size it
 * would hold 1.2 GB of float32 scratch that nothing uses). The router counts in any format: its
 * logits always run in float32 math (moe()). */
static size_t
max_weight_elems (GlimCudaForward *fw)
{
  size_t best = 0;
  for (guint i = 0; i < fw->host_desc->len; i++)
    best = MAX (best, expanded_elems (&g_array_index (fw->host_desc, GkGemvGroup, i).w));
  for (int l = 0; l < fw->model->config->n_layers; l++) {
    const CudaLayer *cl = &fw->layers[l];
    best = MAX (best, expanded_elems (&cl->kv_b));
    if (cl->h_gate == NULL)
      continue;
    const GkMatrix *rw = &g_array_index (fw->host_desc, GkGemvGroup, cl->desc[D_ROUTER]).w;
    best = MAX (best, (size_t) rw->rows * (size_t) rw->cols);
    for (int e = 0; e <= fw->model->config->n_routed_experts; e++) {
      best = MAX (best, expanded_elems (&cl->h_gate[e]));
      best = MAX (best, expanded_elems (&cl->h_up[e]));
      best = MAX (best, expanded_elems (&cl->h_down[e]));
    }
  }
  return best;
}

static int
max_weight_cols (GlimCudaForward *fw)
{
  int best = 16;
  for (guint i = 0; i < fw->host_desc->len; i++)
    best = MAX (best, g_array_index (fw->host_desc, GkGemvGroup, i).w.cols);
  for (int l = 0; l < fw->model->config->n_layers; l++)
    if (fw->layers[l].h_down != NULL)
      for (int e = 0; e <= fw->model->config->n_routed_experts; e++)
        best = MAX (best, MAX (fw->layers[l].h_gate[e].cols, fw->layers[l].h_down[e].cols));
  return best;
}

static gboolean
parse_math (PreMath *math, GError **error)
{
  const char *v = g_getenv ("GLIMMER_PREFILL_MATH");
  static const struct { const char *name; PreMath math; } names[] = {
    { "bf16x2", PRE_MATH_BF16X2 }, { "bf16", PRE_MATH_BF16 },
    { "tf32", PRE_MATH_TF32 }, { "fp32", PRE_MATH_FP32 },
  };
  *math = PRE_MATH_TF32;
  if (v == NULL || *v == '\0')
    return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    if (strcmp (v, names[i].name) == 0) {
      *math = names[i].math;
      return TRUE;
    }
  g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
               "GLIMMER_PREFILL_MATH=%s: unknown value (use bf16x2, bf16, tf32 or fp32)", v);
  return FALSE;
}

static gboolean
pre_alloc (GlimCudaForward *fw, GError **error)
{
  if (fw->pre != NULL)
    return TRUE;
  PreMath math;
  if (!parse_math (&math, error))
    return FALSE;
  glim_cuda_prefill_free (fw);     /* what a failed earlier attempt left */
  const GlimConfig *c = fw->model->config;
  int D = c->hidden_size, H = fw->n_heads, Lkv = c->kv_lora_rank, R = c->qk_rope_head_dim;
  int C = Lkv + R, Dqk = glim_config_qk_head_dim (c), Dv = c->v_head_dim;
  int E = c->n_routed_experts, K = c->n_experts_per_tok;
  int F_max = MAX (c->intermediate_size, c->moe_intermediate_size * MAX (c->n_shared_experts, 1));
  int O = MAX (H * Dv, fw->o_cols);   /* o_proj's input: a rank's view may be widened */
  Pre *p = g_new0 (Pre, 1);
  fw->pre_layout = p;
  p->math = math;
  /* with the default math the routed experts go through the NVFP4 grouped GEMM
   * (kernels/gemm-fp4.cu) where they take it, the activations rounded to f16 after a power-of-
   * two row scale: 11 significant bits, as TF32 gives the other GEMMs, the weights exact.
   * GLIMMER_PREFILL_MOE=fp4-lo adds their lo halves (22 bits, twice the products), =cublas
   * keeps the TF32 GEMMs per expert */
  const char *moe_env = g_getenv ("GLIMMER_PREFILL_MOE");
  p->moe_fp4 = math == PRE_MATH_TF32 && g_strcmp0 (moe_env, "cublas") != 0;
  p->moe_fp4_lo = g_strcmp0 (moe_env, "fp4-lo") == 0;
  p->gemm_impl = g_strcmp0 (g_getenv ("GLIMMER_PREFILL_GEMM"), "mma") == 0 ? GK_GEMM_FP4_MMA
                                                                            : GK_GEMM_FP4_AUTO;
  /* GLIMMER_PREFILL_PROJ=fp4: the same for the projections (f16 hi activations, 11 bits as
   * TF32's, weights exact and not expanded to float32 scratch). Not the default: on the H200
   * the mma.sync GEMM was slower at these shapes than cuBLAS's TF32 (8k prompt 23,632 against
   * 26,402 tok/s), the wgmma one about even (29,634 against 29,357; docs/PERFORMANCE.md) */
  p->proj_fp4 = math == PRE_MATH_TF32 && g_strcmp0 (g_getenv ("GLIMMER_PREFILL_PROJ"), "fp4") == 0;
  p->T = MIN (PREFILL_T, fw->n_ctx);
  /* measuring only: another chunk size (the memory plan still counts PREFILL_T's) */
  const char *t_env = g_getenv ("GLIMMER_PREFILL_TOKENS");
  if (t_env != NULL)
    p->T = CLAMP (atoi (t_env), 16, fw->n_ctx);
  int want = glim_cuda_prefill_attn (error);
  if (want < 0)
    return FALSE;
  p->attn = want == GLIM_CUDA_ATTN_FLASH ? ATTN_FLASH : ATTN_CUBLAS;
  if (p->attn != ATTN_CUBLAS && !gk_flash_attn_supported (Dqk, Dv))
    p->attn = ATTN_CUBLAS;
  /* the Kn|V GEMM takes kv_b as a bf16 operand: only NVFP4 and BF16 are exact there
   * (glim-shard.c prefill_flash) */
  for (int l = 0; l < c->n_layers; l++)
    if (fw->layers[l].kv_b.format != GK_WEIGHT_NVFP4 && fw->layers[l].kv_b.format != GK_WEIGHT_BF16)
      p->attn = ATTN_CUBLAS;
  gboolean flash = p->attn != ATTN_CUBLAS;
  p->KB = MIN (PREFILL_KEYS, fw->n_ctx);
  const char *kb_env = g_getenv ("GLIMMER_PREFILL_KEY_BLOCK");   /* testing: smaller blocks */
  if (kb_env != NULL)
    p->KB = CLAMP (atoi (kb_env), 1, p->KB);
  p->stages = g_strcmp0 (g_getenv ("GLIMMER_PREFILL_FLASH_STAGES"), "1") == 0 ? 1 : 0;
  p->bm = g_strcmp0 (g_getenv ("GLIMMER_PREFILL_FLASH_BM"), "64") == 0 ? 64 : 0;
  p->bn = g_strcmp0 (g_getenv ("GLIMMER_PREFILL_FLASH_BN"), "32") == 0 ? 32 : 0;
  p->impl = g_strcmp0 (g_getenv ("GLIMMER_PREFILL_FLASH"), "mma") == 0 ? GK_FLASH_MMA
                                                                      : GK_FLASH_AUTO;
  size_t per_q = (size_t) H * fw->n_ctx * 8;
  p->Tq = (int) MIN ((size_t) p->T, MAX ((size_t) 16, SCORE_BUDGET / per_q));
  p->Tq = MAX (16, p->Tq / 16 * 16);
  p->wbuf_elems = max_weight_elems (fw);
  size_t T = p->T, Tq = flash ? 0 : p->Tq, LT = MIN ((size_t) p->T, (size_t) 256);
  size_t Dkv = (size_t) c->qk_nope_head_dim + Dv, KB = flash ? p->KB : 0;
  size_t n_ctx = flash ? 0 : (size_t) fw->n_ctx, Hs = flash ? 0 : (size_t) H;
  size_t Hf = flash ? (size_t) H : 0;
  /* Kn|V in float32 only for a BF16 kv_b (attend_flash; NVFP4 ones go straight to f16) */
  size_t Hf32 = 0;
  for (int l = 0; flash && l < c->n_layers; l++)
    if (fw->layers[l].kv_b.format == GK_WEIGHT_BF16)
      Hf32 = Hf;
  size_t Fm = (size_t) MAX (c->moe_intermediate_size, 0);
  p->xs_elems = T * MAX ((size_t) K * MAX ((size_t) D, Fm), (size_t) max_weight_cols (fw));

  struct { void **ptr; size_t bytes; } b[] = {
    { (void **) &p->x, T * D * 4 }, { (void **) &p->h, T * D * 4 }, { (void **) &p->out, T * D * 4 },
    { (void **) &p->qa, T * MAX (c->q_lora_rank, 16) * 4 }, { (void **) &p->q, T * H * Dqk * 4 },
    { (void **) &p->kva, T * C * 4 }, { (void **) &p->o, T * O * 4 },
    { (void **) &p->g, T * F_max * 4 }, { (void **) &p->u, T * F_max * 4 },
    { (void **) &p->rlogits, T * E * 4 }, { (void **) &p->rweight, T * K * 4 },
    { (void **) &p->slots, T * (K + 1) * D * 4 }, { (void **) &p->ye, T * K * D * 4 },
    { (void **) &p->logits, LT * MAX (fw->n_vocab, 1) * 4 },
    { (void **) &p->hs, 2 * T * D * 2 }, { (void **) &p->xs, 2 * p->xs_elems * 2 },
    /* float32 for the tf32/fp32 math and F32/F16 weights; the bf16 expansion uses half */
    { (void **) &p->xe, T * D * 4 }, { (void **) &p->wbuf, p->wbuf_elems * 4 },
    { (void **) &p->lane_wbuf, math >= PRE_MATH_TF32 ? (LANES - 1) * p->wbuf_elems * 4 : 0 },
    /* the attention's: one path's buffers, the other's are 0 bytes (and never used) */
    { (void **) &p->kvb16, Hf * Dkv * Lkv * 2 }, { (void **) &p->knv, KB * Hf * Dkv * 2 },
    { (void **) &p->kvf, KB * Hf32 * Dkv * 4 }, { (void **) &p->kpe16, (flash ? KB : 0) * R * 2 },
    { (void **) &p->kv_max, flash ? 2 * sizeof (unsigned) : 0 },
    { (void **) &p->c16, KB * Lkv * 2 },
    { (void **) &p->direct, flash ? sizeof (GkFlashDirect) : 0 },
    { (void **) &p->fm, T * Hf * 4 }, { (void **) &p->fl, T * Hf * 4 },
    { (void **) &p->cache, n_ctx * C * 4 },
    { (void **) &p->qfull, T * Hs * C * 4 }, { (void **) &p->p, Tq * Hs * n_ctx * 4 },
    { (void **) &p->s, Tq * Hs * n_ctx * 4 }, { (void **) &p->olat, T * Hs * Lkv * 4 },
    { (void **) &p->kvb, Hs * Dkv * Lkv * 4 },
    { (void **) &p->ids, T * 4 }, { (void **) &p->idx, T * K * 4 }, { (void **) &p->tok, T * K * 4 },
    { (void **) &p->slot, T * K * 4 }, { (void **) &p->iota, T * 4 }, { (void **) &p->kslot, T * 4 },
    { (void **) &p->lw, T * K * 4 }, { (void **) &p->ones, T * 4 },
    { (void **) &p->offsets, (size_t) (E + 1) * 4 },
    { (void **) &p->gemm_groups, (size_t) 3 * (E + 1) * sizeof (GkGemmGroup) },
    { (void **) &p->xscale, 2 * T * K * 4 },
  };
  size_t total = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (b); i++)
    total += (b[i].bytes + 255) & ~(size_t) 255;
  TRY (cudaMalloc ((void **) &fw->pre, total));
  fw->pre_size = total;
  size_t at = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (b); i++) {
    *b[i].ptr = b[i].bytes > 0 ? fw->pre + at : NULL;
    at += (b[i].bytes + 255) & ~(size_t) 255;
  }
  /* constant index arrays for the shared expert's scatter */
  g_autofree int32_t *iota = g_new (int32_t, T);
  g_autofree int32_t *kslot = g_new (int32_t, T);
  g_autofree float *ones = g_new (float, T);
  for (size_t i = 0; i < T; i++) {
    iota[i] = (int32_t) i;
    kslot[i] = K;
    ones[i] = 1.0f;
  }
  TRY (cudaMemcpy (p->iota, iota, T * 4, cudaMemcpyHostToDevice));
  TRY (cudaMemcpy (p->kslot, kslot, T * 4, cudaMemcpyHostToDevice));
  TRY (cudaMemcpy (p->ones, ones, T * 4, cudaMemcpyHostToDevice));
  TRY (cudaMallocHost ((void **) &p->host_offsets, (size_t) (E + 1) * 4));
  TRY (cudaEventCreateWithFlags (&p->offsets_ready, cudaEventDisableTiming));
  p->profile = g_strcmp0 (g_getenv ("GLIMMER_PREFILL_PROFILE"), "1") == 0;
  for (int i = 0; p->profile && i < 4; i++)
    TRY (cudaEventCreate (&p->ev[i]));
  TRY_BLAS (cublasCreate (&fw->cublas));
  TRY_BLAS (cublasSetStream (fw->cublas, fw->stream));
  TRY_BLAS (cublasSetMathMode (fw->cublas, CUBLAS_DEFAULT_MATH));
  if (math >= PRE_MATH_TF32 && p->wbuf_elems > 0 &&
      g_strcmp0 (g_getenv ("GLIMMER_PREFILL_LANES"), "1") != 0) {
    TRY (cudaEventCreateWithFlags (&p->fork, cudaEventDisableTiming));
    for (int i = 0; i < LANES; i++) {
      TRY (cudaStreamCreateWithFlags (&p->lane[i], cudaStreamNonBlocking));
      TRY (cudaEventCreateWithFlags (&p->lane_done[i], cudaEventDisableTiming));
      p->n_lanes = i + 1;     /* what glim_cuda_prefill_free releases */
      TRY_BLAS (cublasCreate (&p->lane_blas[i]));
      TRY_BLAS (cublasSetStream (p->lane_blas[i], p->lane[i]));
    }
  }
  return TRUE;
}

/* ---- GEMM helpers ---- */

/* The math of the float32 GEMMs (weights in linear() and the lanes, attention's score blocks):
 * TF32 unless GLIMMER_PREFILL_MATH=fp32. With the attention intermediates in float32 every CUDA
 * test passed with TF32 on the H200: the rows that still differed were tokens whose reference
 * routing is a near-tie (margin < 2e-3), which any rounding may resolve the other way
 * (tests/test-cuda.c). */
static cublasComputeType_t
compute_type (const Pre *p)
{
  return p->math == PRE_MATH_FP32 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_FAST_TF32;
}

/* Y[n, w->rows] (stride ldy) = X[n, w->cols] (stride ldx) . W^T on float32 operands, in `math`
 * (compute_type's, or CUBLAS_COMPUTE_32F): W expanded into wbuf (scale2 as the GEMM's alpha),
 * on the stream blas is bound to. */
static gboolean
gemm_f32 (cublasHandle_t blas, cudaStream_t stream, float *wbuf, const GkMatrix *w,
          const float *X, int ldx, int n, float *Y, int ldy, cublasComputeType_t math,
          GError **error)
{
  float alpha = w->format == GK_WEIGHT_NVFP4 ? w->scale2 : 1.0f, beta = 0.0f;
  TRY (gk_dequant_f32 (wbuf, w, stream));
  TRY_BLAS (cublasGemmEx (blas, CUBLAS_OP_T, CUBLAS_OP_N, w->rows, n, w->cols, &alpha, wbuf,
                          CUDA_R_32F, w->cols, X, CUDA_R_32F, ldx, &beta, Y, CUDA_R_32F, ldy,
                          math, CUBLAS_GEMM_DEFAULT));
  return TRUE;
}

/* Whether w goes through the bf16 GEMMs (else float32 scratch and TF32/fp32) */
static gboolean
uses_bf16 (const Pre *p, const GkMatrix *w)
{
  return p->math <= PRE_MATH_BF16 && (w->format == GK_WEIGHT_NVFP4 || w->format == GK_WEIGHT_BF16);
}

/* Split X [n, cols] (row stride ldx; row i is X[rows[i]] when rows is set) into bf16 halves.
 * p->h itself goes to p->hs and stays there until chunk() rewrites p->h (hs_T = 0); any other
 * input goes to p->xs. */
static gboolean
split_input (GlimCudaForward *fw, const float *X, int ldx, const int32_t *rows, int n, int cols,
             Split *out, GError **error)
{
  Pre *p = pre_of (fw);
  gboolean lo = p->math == PRE_MATH_BF16X2;
  int D = fw->model->config->hidden_size;
  if (X == p->h && rows == NULL && ldx == D && cols == D && n <= p->T) {
    out->hi = p->hs;
    out->lo = lo ? p->hs + (size_t) p->T * D : NULL;
    if (p->hs_T != n) {
      TRY (gk_split_bf16 (p->hs, lo ? p->hs + (size_t) p->T * D : NULL, X, ldx, NULL, n, cols,
                          fw->stream));
      p->hs_T = n;
    }
    return TRUE;
  }
  g_assert ((size_t) n * cols <= p->xs_elems);
  out->hi = p->xs;
  out->lo = lo ? p->xs + p->xs_elems : NULL;
  TRY (gk_split_bf16 (p->xs, lo ? p->xs + p->xs_elems : NULL, X, ldx, rows, n, cols, fw->stream));
  return TRUE;
}

/* Y[T, rows] (row stride ldy, fp32) = alpha W . (Xhi + Xlo)^T for a bf16-able W (uses_bf16):
 * NVFP4 expanded to bf16 scratch without scale2 (alpha = scale2), BF16 in place. */
static gboolean
linear_split (GlimCudaForward *fw, const GkMatrix *w, const Split *x, int T, float *Y, int ldy,
              GError **error)
{
  Pre *p = pre_of (fw);
  const float one = 1.0f, zero = 0.0f;
  float alpha = 1.0f;
  const void *A = w->data;
  if (w->rows == 0 || T == 0)
    return TRUE;
  if (w->format == GK_WEIGHT_NVFP4) {
    TRY (gk_dequant_bf16 ((uint16_t *) p->wbuf, w, fw->stream));
    A = p->wbuf;
    alpha = w->scale2;
  }
  TRY_BLAS (cublasGemmEx (fw->cublas, CUBLAS_OP_T, CUBLAS_OP_N, w->rows, T, w->cols, &alpha, A,
                          CUDA_R_16BF, w->cols, x->hi, CUDA_R_16BF, w->cols, &zero, Y, CUDA_R_32F,
                          ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  if (x->lo != NULL)
    TRY_BLAS (cublasGemmEx (fw->cublas, CUBLAS_OP_T, CUBLAS_OP_N, w->rows, T, w->cols, &alpha, A,
                            CUDA_R_16BF, w->cols, x->lo, CUDA_R_16BF, w->cols, &one, Y,
                            CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return TRUE;
}

/* linear () for an NVFP4 W through the grouped GEMM as one group: X scaled and rounded to f16
 * in the GEMM's k order (p->xs, row scales in p->xscale), the weights read packed. *handled
 * FALSE (no error) for shapes it does not take. */
static gboolean
linear_fp4 (GlimCudaForward *fw, const GkMatrix *w, const float *X, int ldx, int T, float *Y,
            int ldy, gboolean *handled, GError **error)
{
  Pre *p = pre_of (fw);
  int E = fw->model->config->n_routed_experts;
  /* T <= p->T: p->xscale ([2][T * K]) holds T row scales */
  *handled = p->proj_fp4 && w->format == GK_WEIGHT_NVFP4 && w->rows > 0 && T > 0 &&
             gk_gemm_fp4_supported (w->cols, 0) && (size_t) T * w->cols <= p->xs_elems;
  if (!*handled)
    return TRUE;
  GkGemmGroup g = {
    .w = *w, .xhi = p->xs, .xscale = p->xscale, .y = Y, .rows = T, .ldy = ldy, .alpha = w->scale2,
  };
  GkGemmGroup *dg = p->gemm_groups + 2 * (size_t) MAX (E, 0);
  TRY (gk_split_f16_mma (p->xs, NULL, p->xscale, X, NULL, ldx, NULL, T, w->cols, fw->stream));
  /* pageable: g is staged before the call returns */
  TRY (cudaMemcpyAsync (dg, &g, sizeof g, cudaMemcpyHostToDevice, fw->stream));
  TRY (gk_gemm_fp4 (dg, 1, w->rows, T, w->cols, 0, p->gemm_impl, fw->stream));
  return TRUE;
}

/* Y[T, rows] (row stride ldy, fp32) = X[T, cols] (fp32, stride ldx) . W^T */
static gboolean
linear (GlimCudaForward *fw, const GkMatrix *w, const float *X, int ldx, int T, float *Y, int ldy,
        GError **error)
{
  Pre *p = pre_of (fw);
  gboolean fp4 = FALSE;
  if (!linear_fp4 (fw, w, X, ldx, T, Y, ldy, &fp4, error))
    return FALSE;
  if (fp4)
    return TRUE;
  if (uses_bf16 (p, w)) {
    Split x;
    return split_input (fw, X, ldx, NULL, T, w->cols, &x, error) &&
           linear_split (fw, w, &x, T, Y, ldy, error);
  }
  if (w->format == GK_WEIGHT_BF16) {
    /* tf32/fp32 math: lm_head-sized BF16 weights stay as they are, the activations go to bf16 */
    float alpha = 1.0f, beta = 0.0f;
    g_assert ((size_t) T * w->cols <= p->xs_elems);
    TRY (gk_split_bf16 (p->xs, NULL, X, ldx, NULL, T, w->cols, fw->stream));
    TRY_BLAS (cublasGemmEx (fw->cublas, CUBLAS_OP_T, CUBLAS_OP_N, w->rows, T, w->cols, &alpha,
                            w->data, CUDA_R_16BF, w->cols, p->xs, CUDA_R_16BF, w->cols, &beta, Y,
                            CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return TRUE;
  }
  return gemm_f32 (fw->cublas, fw->stream, p->wbuf, w, X, ldx, T, Y, ldy, compute_type (p),
                   error);
}

static const GkMatrix *
layer_matrix (GlimCudaForward *fw, int desc)
{
  return &g_array_index (fw->host_desc, GkGemvGroup, desc).w;
}

static const GkMatrix *
layer_matrix2 (GlimCudaForward *fw, int desc)
{
  return &g_array_index (fw->host_desc, GkGemvGroup, desc).w2;
}

/* out[T, D] = down(silu(gate.X) * up.X) for X already split (bf16 weights): the activation
 * is split into p->u, free once silu(g) * u is in p->g (T * F floats hold 2 x T * F bf16). */
static gboolean
mlp_split (GlimCudaForward *fw, const GkMatrix *gate, const GkMatrix *up, const GkMatrix *down,
           const Split *x, int T, float *out, GError **error)
{
  Pre *p = pre_of (fw);
  int F = gate->rows;
  if (!linear_split (fw, gate, x, T, p->g, F, error) ||
      !linear_split (fw, up, x, T, p->u, F, error))
    return FALSE;
  TRY (gk_silu_mul_f32 (p->g, p->u, (size_t) T * F, fw->stream));
  uint16_t *a_hi = (uint16_t *) p->u;
  uint16_t *a_lo = p->math == PRE_MATH_BF16X2 ? a_hi + (size_t) T * F : NULL;
  TRY (gk_split_bf16 (a_hi, a_lo, p->g, F, NULL, T, F, fw->stream));
  Split a = { a_hi, a_lo };
  return linear_split (fw, down, &a, T, out, down->rows, error);
}

static gboolean
mlp_uses_bf16 (const Pre *p, const GkMatrix *gate, const GkMatrix *up, const GkMatrix *down)
{
  return uses_bf16 (p, gate) && uses_bf16 (p, up) && uses_bf16 (p, down);
}

/* out[T, D] = down(silu(gate.X) * up.X) */
static gboolean
mlp (GlimCudaForward *fw, const GkMatrix *gate, const GkMatrix *up, const GkMatrix *down,
     const float *X, int T, float *out, GError **error)
{
  Pre *p = pre_of (fw);
  int F = gate->rows;
  if (mlp_uses_bf16 (p, gate, up, down)) {
    Split x;           /* one split for gate and up */
    return split_input (fw, X, gate->cols, NULL, T, gate->cols, &x, error) &&
           mlp_split (fw, gate, up, down, &x, T, out, error);
  }
  if (!linear (fw, gate, X, gate->cols, T, p->g, F, error) ||
      !linear (fw, up, X, up->cols, T, p->u, F, error))
    return FALSE;
  TRY (gk_silu_mul_f32 (p->g, p->u, (size_t) T * F, fw->stream));
  return linear (fw, down, p->g, F, T, out, down->rows, error);
}

/* ---- blocks ---- */

/* o[i, o_lead + h * Dv ..] = causal attention of the chunk's queries (p->q, rotated) over the
 * cache's keys 0 .. p0 + T - 1, non-absorbed, per block of at most KB keys, the flash kernel's
 * state (o, p->fm, p->fl) carried over the blocks. K and V in f16, scaled into range:
 * - NVFP4 kv_b: straight from the cache, kv_b expanded to f16 (exact) and the block's latent rows
 *   scaled into f16 (exact), one f16 GEMM writing Kn|V already scaled (gk_flash_cache_f16: the
 *   scale from a bound, so no pass over Kn|V is needed to find it);
 * - BF16 kv_b: Kn|V in float32 from one GEMM (bf16 operands; scale2 is its alpha), then scaled
 *   into f16 by its largest values with the block's Kpe (gk_flash_kv_f16). */
static gboolean
attend_flash (GlimCudaForward *fw, CudaLayer *cl, const uint16_t *cache, int T, int p0, int ldo,
              int o_lead, float scale, GError **error)
{
  Pre *p = pre_of (fw);
  const GlimConfig *c = fw->model->config;
  int H = fw->n_heads, Lkv = c->kv_lora_rank, R = c->qk_rope_head_dim, C = Lkv + R;
  int Dn = c->qk_nope_head_dim, Dv = c->v_head_dim, Nkv = H * (Dn + Dv);
  cudaStream_t s = fw->stream;
  gboolean direct = cl->kv_b.format == GK_WEIGHT_NVFP4;
  float kv_alpha = direct ? cl->kv_b.scale2 : 1.0f, zero = 0.0f;
  if (H == 0)
    return TRUE;
  if (direct)
    TRY (gk_flash_kvb_f16 (p->kvb16, p->direct, &cl->kv_b, s));
  for (int k0 = 0; k0 < p0 + T; k0 += p->KB) {
    int nk = MIN (p->KB, p0 + T - k0);
    const unsigned *kv_max = p->kv_max;
    if (direct) {
      /* Kn|V [nk, H * (Dn + Dv)] = alpha . c16 . kvb16^T, f16 out, alpha on the device */
      TRY (gk_flash_cache_f16 (p->c16, p->kpe16, p->direct, cache + (size_t) k0 * C, C, nk, Lkv,
                               R, kv_alpha, s));
      TRY_BLAS (cublasSetPointerMode (fw->cublas, CUBLAS_POINTER_MODE_DEVICE));
      cublasStatus_t st = cublasGemmEx (fw->cublas, CUBLAS_OP_T, CUBLAS_OP_N, Nkv, nk, Lkv,
                                        &p->direct->alpha, p->kvb16, CUDA_R_16F, Lkv, p->c16,
                                        CUDA_R_16F, Lkv, &p->direct->beta, p->knv, CUDA_R_16F,
                                        Nkv, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
      TRY_BLAS (cublasSetPointerMode (fw->cublas, CUBLAS_POINTER_MODE_HOST));
      TRY_BLAS (st);
      kv_max = p->direct->kv_max;
    } else {
      /* Kn|V [nk, H * (Dn + Dv)] = cache[k0 .., :Lkv] . kv_b^T in float32, then in f16 */
      TRY_BLAS (cublasGemmEx (fw->cublas, CUBLAS_OP_T, CUBLAS_OP_N, Nkv, nk, Lkv, &kv_alpha,
                              cl->kv_b.data, CUDA_R_16BF, Lkv, cache + (size_t) k0 * C,
                              CUDA_R_16BF, C, &zero, p->kvf, CUDA_R_32F, Nkv, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
      GkFlashKvArgs kv = {
        .kv = p->kvf, .pe = cache + (size_t) k0 * C + Lkv, .nk = nk, .H = H, .Dn = Dn, .Dv = Dv,
        .R = R, .ldkv = Nkv, .hkv = Dn + Dv, .ldpe = C,
      };
      TRY (gk_flash_kv_f16 (p->knv, p->kpe16, p->kv_max, &kv, s));
    }
    GkFlashAttnArgs fa = {
      .q = p->q, .kn = p->knv, .v = p->knv + Dn, .kpe = p->kpe16, .kv_max = kv_max,
      .o = p->o, .m = p->fm, .l = p->fl, .T = T, .H = H, .Dn = Dn, .R = R, .Dv = Dv,
      .ldq = H * (Dn + R), .ldkv = Nkv, .hkv = Dn + Dv, .ldpe = R, .ldo = ldo, .o_lead = o_lead,
      .p0 = p0, .k0 = k0, .nk = nk, .scale = scale, .first = k0 == 0,
      .last = k0 + nk == p0 + T, .stages = p->stages, .bm = p->bm, .bn = p->bn,
      .impl = p->impl,
    };
    TRY (gk_flash_attn (&fa, s));
  }
  return TRUE;
}

/* The same attention in the absorbed form with float32 scores materialised per query block:
 * the path before the flash kernel, kept for head dims it does not take and for comparisons. */
static gboolean
attend_scores (GlimCudaForward *fw, CudaLayer *cl, const uint16_t *cache, int T, int p0, int ldo,
               int o_lead, float scale, GError **error)
{
  Pre *p = pre_of (fw);
  const GlimConfig *c = fw->model->config;
  int H = fw->n_heads, Lkv = c->kv_lora_rank, R = c->qk_rope_head_dim;
  int C = Lkv + R, Dn = c->qk_nope_head_dim, Dv = c->v_head_dim, Dqk = Dn + R;
  cudaStream_t s = fw->stream;
  /* Attention in float32 like the decode kernels (bf16 probabilities and latents flipped random
   * routers' near-ties against them): the cache rows this chunk reads, kv_b without scale2. */
  TRY (gk_bf16_to_f32 (p->cache, cache, (size_t) (p0 + T) * C, s));
  TRY (gk_dequant_f32 (p->kvb, &cl->kv_b, s));
  float kv_alpha = cl->kv_b.format == GK_WEIGHT_NVFP4 ? cl->kv_b.scale2 : 1.0f;
  const float zero = 0.0f, one = 1.0f;
  cublasComputeType_t math = compute_type (p);
  /* S and P hold Tq * n_ctx scores per head; with fewer keys, more queries fit per block */
  size_t cap = (size_t) p->Tq * (size_t) fw->n_ctx;
  int block = (int) MIN ((size_t) T, MAX ((size_t) 16, cap / (size_t) (p0 + T)));
  const char *qb_env = g_getenv ("GLIMMER_PREFILL_QBLOCK");      /* debugging: force a block size */
  if (qb_env != NULL)
    block = CLAMP (atoi (qb_env), 1, block);
  for (int q0 = 0; q0 < T; q0 += block) {
    int tq = MIN (block, T - q0), nk = p0 + q0 + tq;
    float a_uk = kv_alpha * scale;
    /* Q_lat[h] (into qfull[h, :, :Lkv]) = Qn[h] . W_UK[h] */
    TRY_BLAS (cublasGemmStridedBatchedEx (fw->cublas, CUBLAS_OP_N, CUBLAS_OP_N, Lkv, tq, Dn, &a_uk,
                                          p->kvb, CUDA_R_32F, Lkv, (long long) (Dn + Dv) * Lkv,
                                          p->q + (size_t) q0 * H * Dqk, CUDA_R_32F, H * Dqk, Dqk,
                                          &zero, p->qfull, CUDA_R_32F, C, (long long) tq * C, H,
                                          math, CUBLAS_GEMM_DEFAULT));
    TRY (gk_mla_pack_qpe_f32 (p->qfull, p->q + (size_t) q0 * H * Dqk, tq, H, Dn, R, Lkv, scale,
                              s));
    /* S[h] = Qfull[h] . cache^T */
    TRY_BLAS (cublasGemmStridedBatchedEx (fw->cublas, CUBLAS_OP_T, CUBLAS_OP_N, nk, tq, C, &one,
                                          p->cache, CUDA_R_32F, C, 0, p->qfull, CUDA_R_32F, C,
                                          (long long) tq * C, &zero, p->s, CUDA_R_32F, nk,
                                          (long long) tq * nk, H, math, CUBLAS_GEMM_DEFAULT));
    TRY (gk_causal_softmax_f32 (p->p, p->s, H, tq, nk, p0 + q0, s));
    /* O_lat[h] = P[h] . cache[:, :Lkv] */
    TRY_BLAS (cublasGemmStridedBatchedEx (fw->cublas, CUBLAS_OP_N, CUBLAS_OP_N, Lkv, tq, nk, &one,
                                          p->cache, CUDA_R_32F, C, 0, p->p, CUDA_R_32F, nk,
                                          (long long) tq * nk, &zero, p->olat, CUDA_R_32F, Lkv,
                                          (long long) tq * Lkv, H, math, CUBLAS_GEMM_DEFAULT));
    /* O[:, h*Dv..] = O_lat[h] . W_UV[h]^T */
    TRY_BLAS (cublasGemmStridedBatchedEx (fw->cublas, CUBLAS_OP_T, CUBLAS_OP_N, Dv, tq, Lkv,
                                          &kv_alpha, p->kvb + (size_t) Dn * Lkv, CUDA_R_32F, Lkv,
                                          (long long) (Dn + Dv) * Lkv, p->olat, CUDA_R_32F, Lkv,
                                          (long long) tq * Lkv, &zero,
                                          p->o + (size_t) q0 * ldo + o_lead, CUDA_R_32F, ldo,
                                          Dv, H, math, CUBLAS_GEMM_DEFAULT));
  }
  return TRUE;
}

static gboolean
attention (GlimCudaForward *fw, int l, int T, int p0, GError **error)
{
  Pre *p = pre_of (fw);
  const GlimConfig *c = fw->model->config;
  CudaLayer *cl = &fw->layers[l];
  int D = c->hidden_size, H = fw->n_heads, Lkv = c->kv_lora_rank, R = c->qk_rope_head_dim;
  int C = Lkv + R, Dn = c->qk_nope_head_dim, Dv = c->v_head_dim, Dqk = Dn + R;
  /* o rows are ldo wide, the rank's heads from column o_lead (glim_shard_o_range) */
  int ldo = MAX (H * Dv, fw->o_cols), o_lead = fw->shard != NULL ? fw->shard->o_lead[l] : 0;
  cudaStream_t s = fw->stream;
  float scale = 1.0f / sqrtf ((float) Dqk);

  if (cl->desc[D_QA] >= 0) {
    int Nq = c->q_lora_rank;
    if (!linear (fw, layer_matrix (fw, cl->desc[D_QA]), p->h, D, T, p->qa, Nq, error))
      return FALSE;
    TRY (gk_rmsnorm (p->qa, p->qa, NULL, cl->q_a_norm, T, Nq, Nq, Nq, (float) c->latent_norm_eps, s));
    if (!linear (fw, layer_matrix (fw, cl->desc[D_QB]), p->qa, Nq, T, p->q, H * Dqk, error))
      return FALSE;
  } else if (!linear (fw, layer_matrix (fw, cl->desc[D_Q]), p->h, D, T, p->q, H * Dqk, error)) {
    return FALSE;
  }
  if (!linear (fw, layer_matrix (fw, cl->desc[D_KVA]), p->h, D, T, p->kva, C, error))
    return FALSE;
  uint16_t *cache = fw->cache + (size_t) l * fw->n_ctx * C;
  /* a widened o_proj view reads columns of a neighbour's heads: zeros here */
  if (layer_matrix (fw, cl->desc[D_O])->cols != H * Dv)
    TRY (cudaMemsetAsync (p->o, 0, (size_t) T * ldo * sizeof (float), s));
  GkMlaCacheArgs ca = {
    .kva = p->kva, .kv_norm = cl->kv_a_norm, .q = p->q, .cache = cache, .n_past = fw->n_past,
    .inv_freq = fw->inv_freq, .T = T, .H = H, .Dn = Dn, .R = R, .Lkv = Lkv,
    .eps = (float) c->latent_norm_eps, .interleave = c->rope_interleave,
  };
  TRY (gk_mla_rope_cache (&ca, s));
  gboolean ok = p->attn == ATTN_CUBLAS
                  ? attend_scores (fw, cl, cache, T, p0, ldo, o_lead, scale, error)
                  : attend_flash (fw, cl, cache, T, p0, ldo, o_lead, scale, error);
  if (!ok)
    return FALSE;
  return linear (fw, layer_matrix (fw, cl->desc[D_O]), p->o, ldo, T, p->out, D, error);
}

/* gemm_f32 on lane i (its stream, cuBLAS handle and weight scratch) */
static gboolean
lane_linear (GlimCudaForward *fw, int i, const GkMatrix *w, const float *X, int ldx, int n,
             float *Y, int ldy, GError **error)
{
  Pre *p = pre_of (fw);
  float *wb = i == 0 ? p->wbuf : p->lane_wbuf + (size_t) (i - 1) * p->wbuf_elems;
  return gemm_f32 (p->lane_blas[i], p->lane[i], wb, w, X, ldx, n, Y, ldy, compute_type (p),
                   error);
}

/* What the grouped expert paths (moe_lanes, moe_fp4) need of a layer's active experts on this
 * rank: the width F they share (gate and up [F, D], down [D, F]), and in *max_rows the most
 * pairs one of them has; -1 where one of their matrices fails `takes` or the shapes differ (0:
 * none active). */
typedef gboolean (*ExpertTest) (const Pre *p, const GkMatrix *w);

static int
active_expert_width (GlimCudaForward *fw, CudaLayer *cl, const int32_t *off, ExpertTest takes,
                     int *max_rows)
{
  const Pre *p = pre_of (fw);
  const GlimConfig *c = fw->model->config;
  int D = c->hidden_size, F = 0;
  *max_rows = 0;
  for (int e = 0; e < c->n_routed_experts; e++) {
    const GkMatrix *w[3] = { &cl->h_gate[e], &cl->h_up[e], &cl->h_down[e] };
    if (off[e + 1] == off[e] || w[0]->rows == 0)
      continue;
    F = F == 0 ? w[0]->rows : F;
    for (int i = 0; i < 3; i++)
      if (!takes (p, w[i]))
        return -1;
    if (w[0]->rows != F || w[1]->rows != F || w[2]->cols != F || w[0]->cols != D ||
        w[1]->cols != D || w[2]->rows != D)
      return -1;
    *max_rows = MAX (*max_rows, off[e + 1] - off[e]);
  }
  return F;
}

/* BF16 experts keep linear()'s bf16 GEMMs; the lanes' scratch holds one matrix */
static gboolean
lanes_take (const Pre *p, const GkMatrix *w)
{
  return w->format != GK_WEIGHT_BF16 && (size_t) w->rows * w->cols <= p->wbuf_elems;
}

static gboolean
fp4_takes (const Pre *p, const GkMatrix *w)
{
  (void) p;
  return w->format == GK_WEIGHT_NVFP4;
}

/* The routed experts of a layer in float32 math, spread over the lanes: one expert's GEMM
 * (F x ~T*K/E x D) fills only part of a large GPU, so LANES of them run at once. The pairs'
 * rows are gathered once into p->xs (room for T * K * D floats); expert e works on rows
 * off[e] .. off[e + 1] of it, of p->g and p->u ([n_pairs, F]) and of p->ye, so the lanes share
 * no buffer but their weight scratch. *handled FALSE (no error): shapes it does not take (BF16
 * experts, unequal widths, too little room); the caller runs the experts one by one. */
static gboolean
moe_lanes (GlimCudaForward *fw, CudaLayer *cl, const int32_t *off, int n_pairs,
           gboolean *handled, GError **error)
{
  Pre *p = pre_of (fw);
  const GlimConfig *c = fw->model->config;
  int D = c->hidden_size, E = c->n_routed_experts;
  int F_max = MAX (c->intermediate_size, c->moe_intermediate_size * MAX (c->n_shared_experts, 1));
  cudaStream_t s = fw->stream;
  *handled = FALSE;
  int max_rows, F = active_expert_width (fw, cl, off, lanes_take, &max_rows);
  if (F < 0 || p->n_lanes < LANES || (size_t) n_pairs * F > (size_t) p->T * F_max ||
      (size_t) n_pairs * D > p->xs_elems)
    return TRUE;
  *handled = TRUE;
  float *xg = (float *) (void *) p->xs;                    /* [n_pairs, D] */
  TRY (gk_gather_f32 (xg, p->h, p->tok, n_pairs, D, s));
  for (int e = 0; e < E; e++)
    if (off[e + 1] > off[e] && cl->h_gate[e].rows == 0)   /* none of its width here: zeros */
      TRY (cudaMemsetAsync (p->ye + (size_t) off[e] * D, 0,
                            (size_t) (off[e + 1] - off[e]) * D * sizeof (float), s));
  TRY (cudaEventRecord (p->fork, s));
  for (int i = 0; i < LANES; i++)
    TRY (cudaStreamWaitEvent (p->lane[i], p->fork, 0));
  int a = 0;
  for (int e = 0; e < E; e++) {
    int n = off[e + 1] - off[e], at = off[e];
    if (n == 0 || cl->h_gate[e].rows == 0)
      continue;
    int i = a++ % LANES;
    float *g = p->g + (size_t) at * F, *u = p->u + (size_t) at * F;
    if (!lane_linear (fw, i, &cl->h_gate[e], xg + (size_t) at * D, D, n, g, F, error) ||
        !lane_linear (fw, i, &cl->h_up[e], xg + (size_t) at * D, D, n, u, F, error))
      return FALSE;
    TRY (gk_silu_mul_f32 (g, u, (size_t) n * F, p->lane[i]));
    if (!lane_linear (fw, i, &cl->h_down[e], g, F, n, p->ye + (size_t) at * D, D, error))
      return FALSE;
  }
  for (int i = 0; i < LANES; i++) {
    TRY (cudaEventRecord (p->lane_done[i], p->lane[i]));
    TRY (cudaStreamWaitEvent (s, p->lane_done[i], 0));
  }
  return TRUE;
}

/* The routed experts of a layer through the NVFP4 grouped GEMM (kernels/gemm-fp4.cu): the
 * pairs' rows gathered, scaled and rounded to f16 (with their lo halves where asked) once, then
 * one launch for every active expert's gate and up, silu(g) * u split the same way, one launch
 * for every down; no weight is expanded to memory. Rows as moe_lanes: expert e's are off[e] ..
 * off[e + 1] of the gathered rows, of p->g and p->u and of p->ye. *handled FALSE (no error): shapes it does not
 * take (other formats, unequal widths, K not a multiple of 256, too little room). */
static gboolean
moe_fp4 (GlimCudaForward *fw, CudaLayer *cl, const int32_t *off, int n_pairs, gboolean *handled,
         GError **error)
{
  Pre *p = pre_of (fw);
  const GlimConfig *c = fw->model->config;
  int D = c->hidden_size, E = c->n_routed_experts;
  int F_max = MAX (c->intermediate_size, c->moe_intermediate_size * MAX (c->n_shared_experts, 1));
  cudaStream_t s = fw->stream;
  *handled = FALSE;
  if (!p->moe_fp4)
    return TRUE;
  int max_rows, F = active_expert_width (fw, cl, off, fp4_takes, &max_rows);
  if (F <= 0 || !gk_gemm_fp4_supported (D, p->moe_fp4_lo) ||
      !gk_gemm_fp4_supported (F, p->moe_fp4_lo) ||
      (size_t) n_pairs * F > (size_t) p->T * F_max || (size_t) n_pairs * D > p->xs_elems ||
      (size_t) n_pairs * F > p->xs_elems || n_pairs > p->T * c->n_experts_per_tok)
    return TRUE;
  *handled = TRUE;
  /* p->xs holds the gate/up input, then (dead by then) the down input */
  uint16_t *xhi = p->xs, *xlo = p->moe_fp4_lo ? p->xs + p->xs_elems : NULL;
  float *sc_in = p->xscale, *sc_down = p->xscale + n_pairs;
  TRY (gk_split_f16_mma (xhi, xlo, sc_in, p->h, NULL, D, p->tok, n_pairs, D, s));
  g_autofree GkGemmGroup *gu = g_new0 (GkGemmGroup, 2 * (size_t) E);
  g_autofree GkGemmGroup *dn = g_new0 (GkGemmGroup, (size_t) E);
  int n_gu = 0, n_dn = 0;
  for (int e = 0; e < E; e++) {
    int n = off[e + 1] - off[e], at = off[e];
    float *ye = p->ye + (size_t) at * D;
    if (n == 0)
      continue;
    if (cl->h_gate[e].rows == 0) {
      /* this rank holds none of the expert's width: its slots get zeros */
      TRY (cudaMemsetAsync (ye, 0, (size_t) n * D * sizeof (float), s));
      continue;
    }
    const GkMatrix *w[2] = { &cl->h_gate[e], &cl->h_up[e] };
    float *y[2] = { p->g + (size_t) at * F, p->u + (size_t) at * F };
    for (int i = 0; i < 2; i++)
      gu[n_gu++] = (GkGemmGroup) {
        .w = *w[i], .xhi = xhi + (size_t) at * D, .xlo = xlo ? xlo + (size_t) at * D : NULL,
        .xscale = sc_in + at, .y = y[i], .rows = n, .ldy = F, .alpha = w[i]->scale2,
      };
    dn[n_dn++] = (GkGemmGroup) {
      .w = cl->h_down[e], .xhi = xhi + (size_t) at * F, .xlo = xlo ? xlo + (size_t) at * F : NULL,
      .xscale = sc_down + at, .y = ye, .rows = n, .ldy = D, .alpha = cl->h_down[e].scale2,
    };
  }
  if (n_gu == 0)
    return TRUE;
  /* pageable copies: the host arrays are staged before these calls return */
  TRY (cudaMemcpyAsync (p->gemm_groups, gu, (size_t) n_gu * sizeof (GkGemmGroup),
                        cudaMemcpyHostToDevice, s));
  TRY (cudaMemcpyAsync (p->gemm_groups + 2 * (E + 1), dn, (size_t) n_dn * sizeof (GkGemmGroup),
                        cudaMemcpyHostToDevice, s));
  TRY (gk_gemm_fp4 (p->gemm_groups, n_gu, F, max_rows, D, xlo != NULL, p->gemm_impl, s));
  /* silu(g) * u, scaled and split into p->xs (the gate/up input is dead) */
  TRY (gk_split_f16_mma (xhi, xlo, sc_down, p->g, p->u, F, NULL, n_pairs, F, s));
  TRY (gk_gemm_fp4 (p->gemm_groups + 2 * (E + 1), n_dn, D, max_rows, F, xlo != NULL,
                    p->gemm_impl, s));
  return TRUE;
}

static gboolean
moe (GlimCudaForward *fw, int l, int T, int p0, GError **error)
{
  Pre *p = pre_of (fw);
  const GlimConfig *c = fw->model->config;
  CudaLayer *cl = &fw->layers[l];
  int D = c->hidden_size, E = c->n_routed_experts, K = c->n_experts_per_tok;
  cudaStream_t s = fw->stream;

  /* the router's logits in float32 math whatever the prefill's: routing compares them, and
   * TF32's rounding would resolve more near-ties differently from the reference */
  const GkMatrix *rw = layer_matrix (fw, cl->desc[D_ROUTER]);
  if (!gemm_f32 (fw->cublas, s, p->wbuf, rw, p->h, D, T, p->rlogits, rw->rows, CUBLAS_COMPUTE_32F,
                 error))
    return FALSE;
  GkRouteArgs ra = {
    .logits = p->rlogits, .bias = cl->router_bias, .idx = p->idx, .weight = p->rweight, .T = T,
    .E = E, .K = K, .n_group = c->n_group, .topk_group = c->topk_group,
    .norm_topk_prob = c->norm_topk_prob, .scaling = (float) c->routed_scaling_factor,
  };
  TRY (gk_route (&ra, s));
  if (fw->trace != NULL && !glim_cuda_trace_routes (fw, p->idx, l, T, p0, error))
    return FALSE;
  /* group (token, slot) pairs by expert on the device; only the offsets come back */
  TRY (gk_moe_group (p->offsets, p->tok, p->slot, p->lw, p->idx, p->rweight, T, K, E, s));
  TRY (cudaMemcpyAsync (p->host_offsets, p->offsets, (size_t) (E + 1) * 4,
                        cudaMemcpyDeviceToHost, s));
  TRY (cudaEventRecord (p->offsets_ready, s));

  /* the shared expert (at tp > 1 the rank's part of it) runs while the host waits; its output
   * is in its slot before the routed experts reuse p->ye */
  int used = K;
  if (cl->h_gate[E].rows > 0) {
    if (!mlp (fw, &cl->h_gate[E], &cl->h_up[E], &cl->h_down[E], p->h, T, p->ye, error))
      return FALSE;
    TRY (gk_scatter_slots (p->slots, p->ye, p->iota, p->kslot, p->ones, T, K + 1, D, s));
    used = K + 1;
  }
  TRY (cudaEventSynchronize (p->offsets_ready));
  const int32_t *off = p->host_offsets;
  int n_pairs = off[E];
  for (int e = 0; e < E; e++)
    if (off[e] < 0 || off[e] > off[e + 1])
      return glim_cuda_set_error (error, cudaErrorIllegalState, "gk_moe_group offsets", G_STRFUNC,
                                  __FILE__, __LINE__);
  if (n_pairs != T * K)
    return glim_cuda_set_error (error, cudaErrorIllegalState, "gk_moe_group pair count",
                                G_STRFUNC, __FILE__, __LINE__);

  /* the bf16 path when every active expert of this rank takes it: gather and split once */
  gboolean bf16 = TRUE;
  for (int e = 0; e < E; e++)
    if (off[e + 1] > off[e] && cl->h_gate[e].rows > 0)
      bf16 = bf16 && mlp_uses_bf16 (p, &cl->h_gate[e], &cl->h_up[e], &cl->h_down[e]);
  Split xs = { NULL, NULL };
  if (bf16 && !split_input (fw, p->h, D, p->tok, n_pairs, D, &xs, error))
    return FALSE;
  gboolean laned = FALSE;
  if (!bf16 && !moe_fp4 (fw, cl, off, n_pairs, &laned, error))
    return FALSE;
  if (!bf16 && !laned && !moe_lanes (fw, cl, off, n_pairs, &laned, error))
    return FALSE;
  for (int e = 0; e < E && !laned; e++) {
    int n = off[e + 1] - off[e], at = off[e];
    float *ye = p->ye + (size_t) at * D;     /* [n, D] */
    if (n == 0)
      continue;
    if (cl->h_gate[e].rows == 0) {
      /* this rank holds none of the expert's width: its slots get zeros */
      TRY (cudaMemsetAsync (ye, 0, (size_t) n * D * sizeof (float), s));
    } else if (bf16) {
      Split xe = { xs.hi + (size_t) at * D, xs.lo != NULL ? xs.lo + (size_t) at * D : NULL };
      if (!mlp_split (fw, &cl->h_gate[e], &cl->h_up[e], &cl->h_down[e], &xe, n, ye, error))
        return FALSE;
    } else {
      TRY (gk_gather_f32 (p->xe, p->h, p->tok + at, n, D, s));
      if (!mlp (fw, &cl->h_gate[e], &cl->h_up[e], &cl->h_down[e], p->xe, n, ye, error))
        return FALSE;
    }
  }
  TRY (gk_scatter_slots (p->slots, p->ye, p->tok, p->slot, p->lw, n_pairs, K + 1, D, s));
  TRY (gk_moe_combine (p->out, p->slots, T, K + 1, used, D, 0, s));
  return TRUE;
}

static gboolean
chunk (GlimCudaForward *fw, const int32_t *tokens, int T, int p0, float *logits,
       gboolean all_logits, GError **error)
{
  Pre *p = pre_of (fw);
  const GlimConfig *c = fw->model->config;
  int D = c->hidden_size, V = c->vocab_size, Vr = fw->n_vocab;
  float eps = (float) c->rms_norm_eps;
  cudaStream_t s = fw->stream;
  /* sums a block's output p->out over the ranks (nothing on one device) */
#define REDUCE() (fw->reduce == NULL || fw->reduce (fw, p->out, T, fw->reduce_data, error))

  fw->pinned[GK_GEMV_MAX_T] = p0;
  TRY (cudaMemcpyAsync (fw->n_past, fw->pinned + GK_GEMV_MAX_T, 4, cudaMemcpyHostToDevice, s));
  TRY (cudaMemcpyAsync (p->ids, tokens, (size_t) T * 4, cudaMemcpyHostToDevice, s));
  TRY (gk_embed (p->x, fw->embed.data, fw->embed.format, p->ids, T, D, s));
  for (int l = 0; l < c->n_layers; l++) {
    CudaLayer *cl = &fw->layers[l];
    if (p->profile)
      TRY (cudaEventRecord (p->ev[0], s));
    TRY (gk_rmsnorm (p->h, p->x, l == 0 ? NULL : p->out, cl->input_norm, T, D, D, D, eps, s));
    p->hs_T = 0;                      /* p->h changed: its split is stale */
    if (!attention (fw, l, T, p0, error) || !REDUCE ())
      return FALSE;
    if (p->profile)
      TRY (cudaEventRecord (p->ev[1], s));
    TRY (gk_rmsnorm (p->h, p->x, p->out, cl->post_norm, T, D, D, D, eps, s));
    p->hs_T = 0;                      /* p->h changed: its split is stale */
    if (cl->is_moe) {
      if (!moe (fw, l, T, p0, error))
        return FALSE;
    } else if (layer_matrix (fw, cl->desc[D_DENSE_GU])->rows == 0) {
      /* this rank's part of the width is empty: it adds nothing */
      TRY (cudaMemsetAsync (p->out, 0, (size_t) T * D * sizeof (float), s));
    } else if (!mlp (fw, layer_matrix (fw, cl->desc[D_DENSE_GU]),
                     layer_matrix2 (fw, cl->desc[D_DENSE_GU]),
                     layer_matrix (fw, cl->desc[D_DENSE_DOWN]), p->h, T, p->out, error)) {
      return FALSE;
    }
    if (!REDUCE ())
      return FALSE;
    if (p->profile) {
      float a, b;
      TRY (cudaEventRecord (p->ev[2], s));
      TRY (cudaEventSynchronize (p->ev[2]));
      TRY (cudaEventElapsedTime (&a, p->ev[0], p->ev[1]));
      TRY (cudaEventElapsedTime (&b, p->ev[1], p->ev[2]));
      p->ms[PHASE_ATTENTION] += a;
      p->ms[cl->is_moe ? PHASE_MOE : PHASE_DENSE] += b;
    }
  }
#undef REDUCE
  if (p->profile)
    TRY (cudaEventRecord (p->ev[0], s));
  TRY (gk_rmsnorm (p->h, p->x, p->out, fw->final_norm, T, D, D, D, eps, s));
  p->hs_T = 0;                      /* p->h changed: its split is stale */
  /* the last token's residual stream goes to the decode buffers: the lm_head GEMV normalises it */
  TRY (cudaMemcpyAsync (fw->x, p->x + (size_t) (T - 1) * D, (size_t) D * 4,
                        cudaMemcpyDeviceToDevice, s));
  /* a rank fills its columns vocab0 .. vocab0 + Vr of the host rows (the gather) */
  if (logits != NULL && all_logits && Vr > 0) {
    const GkMatrix *head = layer_matrix (fw, fw->desc_lm_head);
    for (int r0 = 0; r0 < T; r0 += 256) {
      int n = MIN (256, T - r0);
      if (!linear (fw, head, p->h + (size_t) r0 * D, D, n, p->logits, Vr, error))
        return FALSE;
      TRY (cudaMemcpy2DAsync (logits + (size_t) r0 * V + fw->vocab0, (size_t) V * 4, p->logits,
                              (size_t) Vr * 4, (size_t) Vr * 4, (size_t) n,
                              cudaMemcpyDeviceToHost, s));
    }
  } else if (logits != NULL && Vr > 0) {
    TRY (glim_cuda_gemv (fw, fw->desc + fw->desc_lm_head, 1, Vr, c->hidden_size, GK_GEMV_PLAIN, 1,
                         0, fw->lm_head.format, s));
    TRY (cudaMemcpyAsync (logits + fw->vocab0, fw->logits, (size_t) Vr * 4,
                          cudaMemcpyDeviceToHost, s));
  }
  if (p->profile) {
    float a;
    TRY (cudaEventRecord (p->ev[1], s));
    TRY (cudaEventSynchronize (p->ev[1]));
    TRY (cudaEventElapsedTime (&a, p->ev[0], p->ev[1]));
    p->ms[PHASE_HEAD] += a;
  }
  TRY (cudaStreamSynchronize (s));
  return TRUE;
}

gboolean
glim_cuda_prefill (GlimCudaForward *fw, const int32_t *tokens, int T, int n_past, float *logits,
                   gboolean all_logits, GError **error)
{
  if (!pre_alloc (fw, error))
    return FALSE;
  Pre *p = pre_of (fw);
  int V = fw->model->config->vocab_size;
  for (int start = 0; start < T; start += p->T) {
    int n = MIN (p->T, T - start);
    gboolean last = start + n == T;
    float *out = NULL;
    if (logits != NULL && all_logits)
      out = logits + (size_t) start * V;
    else if (logits != NULL && last)
      out = logits;
    if (!chunk (fw, tokens + start, n, n_past + start, out, all_logits, error))
      return FALSE;
  }
  if (p->profile) {
    g_autoptr (GString) line = g_string_new (NULL);
    for (int i = 0; i < PHASE_N; i++) {
      g_string_append_printf (line, "%s %.1f ms%s", phase_name[i], p->ms[i], i + 1 < PHASE_N ? ", " : "");
      p->ms[i] = 0;
    }
    g_printerr ("prefill phases (%d tokens from position %d): %s\n", T, n_past, line->str);
  }
  return TRUE;
}

gboolean
glim_cuda_head_argmax (GlimCudaForward *fw, GError **error)
{
  int Vr = fw->n_vocab;
  if (Vr == 0)
    return TRUE;     /* a rank without lm_head rows: the caller reports no candidate */
  TRY (glim_cuda_gemv (fw, fw->desc + fw->desc_lm_head, 1, Vr, fw->model->config->hidden_size,
                       GK_GEMV_PLAIN, 1, 0, fw->lm_head.format, fw->stream));
  TRY (gk_argmax (fw->next, fw->logits, 1, Vr, fw->argmax_scratch, fw->stream));
  if (fw->tp > 1)
    TRY (gk_take_f32 (fw->next_val, fw->logits, fw->next, fw->stream));
  return TRUE;
}
