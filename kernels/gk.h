/* gk.h: the C interface of Glimmer's CUDA kernels. Kernels know nothing about models: they take
 * raw device pointers and shapes, run on the given stream, and return cudaGetLastError().
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, sm_86, sm_89, sm_90 (no Hopper-only instructions in these paths).
 * Each kernel's CPU reference is named in its .cu file. */
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Weight formats, as engine/glim-model.h's GlimWeightFormat. */
enum {
  GK_WEIGHT_F32 = 1,
  GK_WEIGHT_F16 = 2,
  GK_WEIGHT_BF16 = 3,
  GK_WEIGHT_NVFP4 = 4,
};

/* A matrix W [rows, cols] (y = W.x), in device memory. */
typedef struct {
  const void    *data;      /* BF16/F16/F32 [rows, cols]; NVFP4: u8 [rows, cols/2], low nibble first */
  const uint8_t *scales;    /* NVFP4: fp8 e4m3 [rows, cols/16] */
  float          scale2;    /* NVFP4: global scale */
  int            format;    /* GK_WEIGHT_* */
  int            rows;
  int            cols;      /* multiple of 16 */
} GkMatrix;

/* One product of a grouped GEMV: y[t, r] = alpha * sum_c W[r, c] x'[t, c] for t < T, r < rows,
 * where x' = x, or RMSNorm(x) * norm_w when norm_w is set (the norm is computed by each block, so
 * no separate norm launch is needed). mode GK_GEMV_SWIGLU also reads W2 (same shape) and writes
 * silu(W.x') * (W2.x'). accumulate adds into y instead (the residual stream). */
typedef struct {
  GkMatrix     w;
  GkMatrix     w2;          /* SWIGLU only */
  const float *x;           /* [T, x_stride] */
  float       *y;           /* [T, y_stride] */
  const float *norm_w;      /* optional [cols]: RMSNorm weights applied to x first */
  float        norm_eps;
  int          T;           /* 1..GK_GEMV_MAX_T; 0 = skip this group */
  int          x_stride;
  int          y_stride;
  int          accumulate;  /* 1: y += result */
  float        alpha;
} GkGemvGroup;

#define GK_GEMV_MAX_T 8

enum { GK_GEMV_PLAIN = 0, GK_GEMV_SWIGLU = 1 };

/* groups: device array [n_groups]; max_rows bounds the rows of every group (grid size) and
 * max_cols their columns (sizes the staged x and picks how many warps share a row).
 * T > 0 overrides every group's T (static descriptors reused for any chunk size);
 * T == 0 uses each group's own T, which must be 0 (skip the group) or 1.
 * CPU reference: engine/cpu/cpu-ops.c glim_cpu_linear (+ glim_cpu_silu_mul for SWIGLU).
 * gk_gemv: CUDA-core kernel (gemv.cu); gk_gemv_mma: the tensor-core one (gemv-mma.cu), which
 * returns cudaErrorNotSupported for a shape whose staged x does not fit in shared memory (on
 * the H200 at batch 1 it is the faster for BF16 weights, the slower for NVFP4:
 * docs/PERFORMANCE.md).
 * flags GK_GEMV_EARLY: the descriptors and the weights they point to were written before the
 * previous kernel in the stream started, so the kernel is launched as a programmatic
 * dependent (sm_90): it starts, and loads weights, while that kernel finishes, and reads x
 * (and y) only after it has finished.
 * flags GK_GEMV_WPR(n), n = 1, 2, 4 or 8: gk_gemv splits each row over n warps instead of
 * choosing by shape (for measuring launch shapes: tests/bench-gemv.c). */
enum { GK_GEMV_EARLY = 1 };
#define GK_GEMV_WPR(n) ((n) << 8)
cudaError_t gk_gemv     (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols,
                         int mode, int T, int flags, cudaStream_t stream);
cudaError_t gk_gemv_mma (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols,
                         int mode, int T, int flags, cudaStream_t stream);
/* shared memory the tensor-core kernel stages x in, for K columns and T tokens */
size_t      gk_gemv_mma_smem (int K, int T);
#define GK_GEMV_MMA_SMEM_MAX (38 * 1024)
/* gk_gemv_dp4a: one token, NVFP4 weights through 8-bit integer dot products (gemv-dp4a.cu;
 * x staged as three int8 digits per element, float32's precision). Returns
 * cudaErrorNotSupported for T > 1 or a width whose staged x exceeds GK_GEMV_DP4A_SMEM_MAX
 * (K > 15,000); groups in another format take a plain float loop inside it (correct, slow).
 * flags GK_GEMV_WPR(n), n = 1, 2 or 4, forces n rows per warp. */
cudaError_t gk_gemv_dp4a (const GkGemvGroup *groups, int n_groups, int max_rows, int max_cols,
                          int mode, int T, int flags, cudaStream_t stream);
#define GK_GEMV_DP4A_SMEM_MAX (48 * 1024)

/* y[n, d] = (res ? (x[n, d] += res[n, d]) : x[n, d]) * rsqrt(mean(x^2) + eps) * w[d];
 * x is updated in place when res != NULL (the residual stream). y may be NULL (update only).
 * CPU reference: engine/cpu/cpu-ops.c glim_cpu_rmsnorm. */
cudaError_t gk_rmsnorm (float *y, float *x, const float *res, const float *w, int n, int d,
                        int x_stride, int y_stride, float eps, cudaStream_t stream);

/* out[n, d] = float(table[ids[n], :]) for a BF16/F32 table [V, d]. */
cudaError_t gk_embed (float *out, const void *table, int format, const int32_t *ids, int n, int d,
                      cudaStream_t stream);

/* ---- MLA ---- */

typedef struct {
  const float   *kva;        /* [T, Lkv + R] kv_a_proj output */
  const float   *kv_norm;    /* [Lkv] kv_a_layernorm weight */
  float         *q;          /* [T, H, Dn + R]: the rope part is rotated in place */
  uint16_t      *cache;      /* [n_ctx, Lkv + R] bf16 latent cache of this layer */
  const int32_t *n_past;     /* device scalar: position of token 0 */
  const float   *inv_freq;   /* [R/2] */
  int            T, H, Dn, R, Lkv;
  float          eps;
  int            interleave; /* 1: rotate (x[2i], x[2i+1]) (GLM); 0: halves */
} GkMlaCacheArgs;

/* Normalise the latent, rotate k_pe and q_pe, write [c | k_pe] to cache rows n_past..n_past+T-1
 * (R <= GK_MLA_MAX_R, else cudaErrorInvalidValue).
 * CPU reference: engine/cpu/cpu-attention.c glim_cpu_attention (cache part). */
#define GK_MLA_MAX_R 512
cudaError_t gk_mla_rope_cache (const GkMlaCacheArgs *args, cudaStream_t stream);

/* q_lat[t, h, i] = sum_d W_UK[h, d, i] * q[t, h, d] where W_UK[h, d, :] is row h*(Dn+Dv)+d of
 * kv_b (a [H*(Dn+Dv), Lkv] matrix, NVFP4 or BF16), left as gk_mla_absorb_parts(Dn) partial
 * sums: q_lat is [T, H, parts, Lkv] and gk_mla_decode adds the parts up. */
int         gk_mla_absorb_parts (int Dn);
cudaError_t gk_mla_absorb_q (float *q_lat, const float *q, const GkMatrix *kv_b, int T, int H,
                             int Dn, int Dv, int q_stride, cudaStream_t stream);

/* The decode's query in one launch: gk_mla_rope_cache (rope; its q is the [T, H, Dn + R] query),
 * gk_mla_absorb_q into q_lat (kv_b, Dv) and the tensor-core kernels' prepared query q_mma
 * ([T, H, 2, Lkv + R] bf16 hi and lo rows of the summed, scaled query, as gk_mla_decode would
 * prepare it; pass GkMlaDecodeArgs.q_ready = 1 then). T <= GK_GEMV_MAX_T. */
typedef struct {
  GkMlaCacheArgs  rope;
  float          *q_lat;
  GkMatrix        kv_b;
  int             Dv;
  uint16_t       *q_mma;
  float           scale;     /* softmax scale */
  unsigned int   *done;      /* device [H], zero before the first call (and left zero) */
} GkMlaQueryArgs;
cudaError_t gk_mla_query (const GkMlaQueryArgs *args, cudaStream_t stream);

typedef struct {
  const float    *q_lat;     /* [T, H, n_qparts, Lkv] partial sums from gk_mla_absorb_q */
  int             n_qparts;
  const float    *q;         /* [T, H, Dn + R]: q_pe at offset Dn (rotated) */
  const uint16_t *cache;     /* [n_ctx, Lkv + R] bf16 */
  int             cache_rows;/* n_ctx: rows the cache holds (the wgmma kernel's tensor map covers
                              * them). 0: unknown, the wgmma kernel is not used */
  const int32_t  *n_past;    /* device scalar: token t attends to keys 0..n_past+t */
  float          *partial;   /* [T, H, max_splits, Lkv + 2] scratch: o, max, sum */
  float          *o_lat;     /* [T, H, Lkv] output */
  uint16_t       *q_mma;     /* [T, H, 2, Lkv + R] scratch for the mma kernel (16-byte aligned):
                              * the summed, scaled query as bf16 hi and lo rows, written once per
                              * token. NULL: the mma kernel is not used (v1 still can be) */
  int             q_ready;   /* 1: gk_mla_query has written q_mma already */
  int             T, H, Dn, R, Lkv;
  int             max_splits;/* splits per (t, h); keys are spread over at most this many blocks */
  int             split_target; /* mma kernel: splits that fill the device once for T = 1
                              * (gk_mla_decode_split_target); a token takes
                              * min(ceil(split_target / T), keys / GK_MLA_SPLIT_MIN_KEYS,
                              * max_splits). 0: max_splits */
  int             simple_fill; /* blocks of the simple kernel resident at once on the device
                              * (gk_mla_decode_simple_fill); the tokens it takes get at most one
                              * wave of splits. 0: gk_mla_decode asks the device itself */
  float           scale;     /* softmax scale */
  int             kernel;    /* GK_MLA_*: which split kernel */
  int             mma_min_keys; /* GK_MLA_AUTO(_V1) with the mma kernel supported: a token with
                              * fewer keys (n_past + t + 1) than this takes the simple kernel. Both
                              * are launched and the one not chosen returns at once, so the choice
                              * follows n_past inside a CUDA graph. 0: always mma */
} GkMlaDecodeArgs;

enum {
  GK_MLA_AUTO = 0,     /* the mma kernel where supported (else v1, else simple) above mma_min_keys */
  GK_MLA_SIMPLE = 1,   /* mla.cu: one block per (head, split), float32 CUDA cores */
  GK_MLA_MMA = 2,      /* mla-mma.cu: groups of 4 warps per CTA, each a split for all heads */
  GK_MLA_AUTO_V1 = 3,  /* as AUTO with the first tensor-core kernel (for comparing) */
  GK_MLA_MMA_V1 = 4,   /* mla-mma.cu: the first tensor-core kernel, one split per CTA */
  GK_MLA_WGMMA = 5,    /* mla-wgmma.cu: v2's contract on Hopper's wgmma (compute capability 9.0) */
  GK_MLA_AUTO_V2 = 6,  /* as AUTO without the wgmma kernel (for comparing) */
};

/* fewest keys per split of the mma kernel: 4 tiles of 16 keys per warp group, 8 per CTA. Within
 * one wave (splits <= split_target) more, shorter splits only shorten the step; this bounds
 * the fixed cost per split (query copy, pipeline fill, one more partial to combine). */
#define GK_MLA_SPLIT_MIN_KEYS 64

/* Softmax attention over the latent cache, the keys split across blocks, then combined.
 * CPU reference: engine/cpu/cpu-attention.c attend_task. */
cudaError_t gk_mla_decode (const GkMlaDecodeArgs *args, cudaStream_t stream);
/* The tensor-core split kernels (kernels/mla-mma.cu): whether one takes this shape on the current
 * device (Lkv 512, R 64, H <= 24, enough shared memory; v2 also needs q_mma), and their launch
 * (partials only; the combine pass is gk_mla_decode's). */
int         gk_mla_decode_mma_supported (const GkMlaDecodeArgs *args);
cudaError_t gk_mla_decode_mma_splits    (const GkMlaDecodeArgs *args, cudaStream_t stream);
int         gk_mla_decode_mma2_supported (const GkMlaDecodeArgs *args);
cudaError_t gk_mla_decode_mma2_splits   (const GkMlaDecodeArgs *args, cudaStream_t stream);
/* The wgmma split kernel (kernels/mla-wgmma.cu, sm_90a): whether it takes this shape on the
 * current device (v2's shapes with H <= 20 and cache_rows set), and its launch (q_mma must be
 * prepared: gk_mla_decode_mma2_splits does both for kernel GK_MLA_WGMMA). */
int         gk_mla_decode_wgmma_supported (const GkMlaDecodeArgs *args);
cudaError_t gk_mla_decode_wgmma_splits    (const GkMlaDecodeArgs *args, cudaStream_t stream);
int         gk_mla_decode_wgmma_split_target (int H);
/* Splits of one token that fill the current device once with the tensor-core kernel AUTO takes
 * for H heads (wgmma where it runs, else v2): SMs x resident CTAs per SM x splits per CTA (asked
 * of the device; 0 if no such kernel fits). */
int         gk_mla_decode_split_target  (int H);
/* Blocks of the simple split kernel (mla.cu) resident at once on the current device, for a
 * cache row of Lkv + R values (0 if it cannot be asked). */
int         gk_mla_decode_simple_fill   (int Lkv, int R);

/* ---- MoE ---- */

typedef struct GkMoeArgs GkMoeArgs;

typedef struct {
  const float *logits;       /* [T, E] router logits (fp32) */
  const float *bias;         /* [E] selection bias */
  int32_t     *idx;          /* [T, K] chosen experts */
  float       *weight;       /* [T, K] their weights */
  int          T, E, K, n_group, topk_group;
  int          norm_topk_prob;
  float        scaling;      /* routed_scaling_factor */
  const GkMoeArgs *moe;      /* optional, device memory: also write each token's expert GEMV
                              * descriptors (see GkMoeArgs) */
} GkRouteArgs;

/* Sigmoid + bias grouped top-k. CPU reference: engine/cpu/cpu-route.c glim_cpu_route. */
cudaError_t gk_route (const GkRouteArgs *args, cudaStream_t stream);

/* The router's input: logits[t] = W . (RMSNorm(x[t]) * norm_w) (norm_w optional). */
typedef struct {
  GkMatrix     w;           /* [E, D] */
  const float *x;           /* [T, x_stride] */
  int          x_stride;
  const float *norm_w;      /* optional [D] */
  float        norm_eps;
  float        *logits;     /* device scratch [T, E]: the blocks' products */
  unsigned int *done;       /* device [T], zero before the first call (and left zero): blocks
                             * finished per token; the last one routes */
} GkRouterInput;

/* gk_route with the router's product computed in the same launch (args->logits unused): one
 * launch per MoE layer instead of two in decode. The expert rows are spread over blocks (one
 * warp per row, all of a row's loads in flight) and the last block of a token to finish routes
 * it. Launched as a programmatic dependent (sm_90): the router's weights are loaded while the
 * previous kernel finishes. BF16 routers with D <= 4096 (a multiple of 8);
 * cudaErrorNotSupported otherwise (run gk_gemv and gk_route). */
cudaError_t gk_router_route (const GkRouteArgs *args, const GkRouterInput *in,
                             cudaStream_t stream);

struct GkMoeArgs {
  const int32_t  *idx;        /* [T, K] */
  const float    *weight;     /* [T, K] */
  const GkMatrix *gate, *up, *down;  /* device arrays [E + 1]: routed experts, then the shared one
                                      * (rows 0 = none) */
  const float    *x;          /* [T, D] input (the residual stream when norm_w is set) */
  float          *act;        /* [T, K + 1, F_max] scratch */
  float          *slots;      /* [T, K + 1, D] scratch */
  GkGemvGroup    *groups;     /* device scratch [2 * T * (K + 1)] */
  const float    *norm_w;     /* optional: x is the residual stream, normalised on the fly */
  float           norm_eps;
  int             T, K, E, D, F_max;
};
/* With GkRouteArgs.moe set, gk_route also builds the grouped-GEMV descriptors of a decode-sized
 * MoE step on the device (so the step stays in a graph): groups[0 .. T*(K+1)) are the gate/up
 * SWIGLU products into act, groups[T*(K+1) ..) the down products (weighted) into slots. */
/* out[t, :] (+)= sum_{k < n_used} slots[t, k, :] in order; slots is [T, n_slots, D]. */
cudaError_t gk_moe_combine (float *out, const float *slots, int T, int n_slots, int n_used, int D,
                            int accumulate, cudaStream_t stream);

/* ---- output ---- */

/* out[t] = argmax_v logits[t, v] (lowest index on ties), in two passes over device scratch of
 * gk_argmax_scratch_bytes(T) bytes. */
size_t      gk_argmax_scratch_bytes (int T);
cudaError_t gk_argmax (int32_t *out, const float *logits, int T, int V, void *scratch,
                       cudaStream_t stream);

/* ---- sampling ---- */

typedef struct {
  const float *logits;       /* [V] device */
  int32_t     *out;          /* device [1]: the token */
  void        *scratch;      /* device, gk_sample_scratch_bytes (V) */
  int          V;
  float        temperature;  /* > 0 (greedy is gk_argmax) */
  int          top_k;        /* <= 0: off */
  float        top_p;        /* >= 1: off */
  float        min_p;        /* <= 0: off */
  uint64_t     seed, step;   /* the uniform is SplitMix64 output number `step` of `seed` */
} GkSampleArgs;

/* Sample one token as glim_sampler_sample does (engine/glim-sampler.c), on the stream.
 * gk_sample_scratch_bytes needs the current device (CUB sizes its sort for it). */
size_t      gk_sample_scratch_bytes (int V);
cudaError_t gk_sample (const GkSampleArgs *args, cudaStream_t stream);
/* SplitMix64 output number step (0-based) of the stream seeded with seed: glim_splitmix64
 * called step + 1 times on seed. */
uint64_t    gk_sample_draw (uint64_t seed, uint64_t step);

/* ---- prefill helpers ---- */

/* dst [rows, cols] float32 = W, NVFP4 without its scale2 (left to the GEMM's alpha). */
cudaError_t gk_dequant_f32 (float *dst, const GkMatrix *w, cudaStream_t stream);
/* dst[i, :] = src[rows[i], :] for float32 rows of width d. */
cudaError_t gk_gather_f32 (float *dst, const float *src, const int32_t *rows, int n, int d,
                           cudaStream_t stream);
/* g[i] = silu(g[i]) * u[i] */
cudaError_t gk_silu_mul_f32 (float *g, const float *u, size_t n, cudaStream_t stream);
/* slots[tok[i] * n_slots + slot[i], :] = w[i] * y[i, :] for i < n (rows of width d). */
cudaError_t gk_scatter_slots (float *slots, const float *y, const int32_t *tok, const int32_t *slot,
                              const float *w, int n, int n_slots, int d, cudaStream_t stream);
/* Row-wise causal softmax: for head h and query i (absolute position pos0 + i), keys
 * 0..pos0+i are kept; p[h, i, :] = softmax(s[h, i, :n_keys]), zero beyond. s, p: [H, Tq, n_keys]. */
cudaError_t gk_causal_softmax_f32 (float *p, const float *s, int H, int Tq, int n_keys, int pos0,
                                   cudaStream_t stream);
/* qfull[h, i, Lkv + r] = scale * q[i, h, Dn + r] (the rotated rope part of the query). */
cudaError_t gk_mla_pack_qpe_f32 (float *qfull, const float *q, int Tq, int H, int Dn, int R,
                                 int Lkv, float scale, cudaStream_t stream);
/* ---- bf16 tensor-core inputs (the "bf16x2" prefill GEMMs) ---- */

/* dst [rows, cols] bf16 = W without its scale2 (left to the GEMM's alpha), for NVFP4 W only
 * (cudaErrorNotSupported otherwise: BF16 weights are used in place). Exact: an e2m1 value
 * (2 significant bits) times an e4m3 scale (4, or 3 when subnormal) has at most 6 significant
 * bits and lies in [2^-10, 2688], well inside bf16's 8 bits and float32 exponent range.
 * CPU reference: engine/glim-model.c glim_weight_row_to_f32 with scale2 1. */
cudaError_t gk_dequant_bf16 (uint16_t *dst, const GkMatrix *w, cudaStream_t stream);

/* For i < n, with r = rows ? rows[i] : i and x = X[r * ldx + c] (c < cols):
 * hi[i * cols + c] = bf16(x), lo[i * cols + c] = bf16(x - hi) (round to nearest even), so
 * hi + lo carries 16 significant bits of x (relative error <= 2^-16) in float32's range.
 * lo may be NULL (hi only). lo is 0 where hi is not finite. hi, lo: [n, cols]. */
cudaError_t gk_split_bf16 (uint16_t *hi, uint16_t *lo, const float *X, int ldx,
                           const int32_t *rows, int n, int cols, cudaStream_t stream);

/* Group the (token, slot) pairs of a routing by expert, on the device, in one block: per-expert
 * counts, their exclusive scan into offsets [E + 1] (offsets[E] = pairs placed), then each
 * pair i = t * K + k with idx[i] in 0..E-1 goes to a position p in its expert's range:
 * tok[p] = t, slot[p] = k, w[p] = weight[i]. The order inside an expert's range may vary from
 * run to run. idx, weight: [T, K]; tok, slot, w: [T * K]. CPU reference: the grouping loop of
 * engine/cpu/cpu-forward.c. */
cudaError_t gk_moe_group (int32_t *offsets, int32_t *tok, int32_t *slot, float *w,
                          const int32_t *idx, const float *weight, int T, int K, int E,
                          cudaStream_t stream);

/* The activations of gk_gemm_fp4, for i < n, with r = rows ? rows[i] : i and x = X[r * ldx + c]
 * (c < cols), or x = silu(X[..]) * U[r * ldx + c] when U is given (silu(v) = v / (1 + e^-v)):
 * each row scaled by s_i, a power of two that puts its largest |x| in [2^14, 2^15) (s_i = 1
 * when the row is not finite; at most 2^100), then hi = f16(x s_i), lo = f16(x s_i - hi)
 * (round to nearest even; lo 0 where hi is not finite), stored at row i, position
 * perm(c) = 32 (c / 32) + 16 m + 8 h + 2 q + e where c % 32 = 8 q + 4 e + 2 m + h (gemm-fp4.cu
 * says why); xscale[i] = 1 / s_i. hi + lo carries x to 2^-22 of the row's largest value.
 * cols a multiple of 32 (else cudaErrorNotSupported). hi, lo: [n, cols]; lo may be NULL. */
cudaError_t gk_split_f16_mma (uint16_t *hi, uint16_t *lo, float *xscale, const float *X,
                              const float *U, int ldx, const int32_t *rows, int n, int cols,
                              cudaStream_t stream);

/* One product of a grouped NVFP4 GEMM (gemm-fp4.cu): y[r, n] = alpha * xscale[r] * sum_k
 * W[n, k] * (xhi + xlo)[r, perm(k)] for r < rows, n < w.rows, K = w.cols: the activations as
 * gk_split_f16_mma leaves them (f16 [rows, K], row stride K), y is float32 [rows, ldy]. alpha
 * is usually w.scale2. */
typedef struct {
  GkMatrix        w;         /* NVFP4 [N, K], K the same for every group of a launch */
  const uint16_t *xhi, *xlo;
  const float    *xscale;
  float          *y;
  int             rows, ldy;
  float           alpha;
} GkGemmGroup;
/* groups: device array [n_groups]; max_n and max_rows bound every group's w.rows and rows (grid
 * size); lo: every group's xlo is used (else none is read: hi only). Tensor cores (mma.sync
 * f16, float32 sums), the weights expanded in registers; K a multiple of 256 whose staged
 * scales fit the device's shared memory with or without lo (gk_gemm_fp4_supported), else
 * cudaErrorNotSupported.
 * CPU reference: engine/cpu/cpu-ops.c glim_cpu_linear. */
int         gk_gemm_fp4_supported (int K, int lo);
/* impl: which kernel. AUTO takes gemm-fp4-wgmma.cu's (warpgroup MMA, sm_90a: compute capability
 * 9.0) for hi-only activations where it fits, else the mma.sync one; MMA forces that one; WGMMA
 * the other (cudaErrorNotSupported where it does not run). */
enum { GK_GEMM_FP4_AUTO = 0, GK_GEMM_FP4_MMA = 1, GK_GEMM_FP4_WGMMA = 2 };
cudaError_t gk_gemm_fp4 (const GkGemmGroup *groups, int n_groups, int max_n, int max_rows, int K,
                         int lo, int impl, cudaStream_t stream);
/* the wgmma kernel alone: whether it runs K here (hi only), and its launch */
int         gk_gemm_fp4_wgmma_ready (int K);
cudaError_t gk_gemm_fp4_wgmma (const GkGemmGroup *groups, int n_groups, int max_n, int max_rows,
                               int K, cudaStream_t stream);

/* dst[i] = float(src[i]) for bf16 src */
cudaError_t gk_bf16_to_f32 (float *dst, const uint16_t *src, size_t n, cudaStream_t stream);
/* dst[i] = bf16(src[i]) */
cudaError_t gk_f32_to_bf16 (uint16_t *dst, const float *src, size_t n, cudaStream_t stream);

/* ---- causal flash attention for the prefill (flash-attn.cu) ----
 * The non-absorbed ("compute-friendly") MLA: per head h, query i (absolute position p0 + i) and
 * key j <= p0 + i: s = scale * (q[i,h,:Dn] . kn[j,h] + q[i,h,Dn:] . kpe[j]), softmax over j,
 * o[i,h] = sum_j p v[j,h]. Keys come in blocks (one launch per block, k0 ascending): the flash
 * state (unnormalised output in o itself, running max m and sum l) carries over between
 * launches, so the caller needs K/V of one block at a time, in f16 (gk_flash_kv_f16, or
 * gk_flash_cache_f16 and an f16 GEMM).
 * Tensor cores in f16 (11 significant bits per operand, float32 sums). CPU reference:
 * engine/cpu/cpu-attention.c (absorbed, the same math); float64 reference in
 * tests/test-cuda-flash.c. */
#define GK_FLASH_MAX_DIM 256          /* Dn + R and Dv up to this (padded to 64, 128 or 256) */

/* A key block's K and V for gk_flash_attn: kv float32, key j, head h at kv + j * ldkv + h * hkv
 * (Dn values of Kn, then Dv of V: one GEMM's rows); pe bf16, key j's Kpe at pe + j * ldpe (R
 * values, shared by the heads). */
typedef struct {
  const float    *kv;
  const uint16_t *pe;
  int             nk, H, Dn, Dv, R, ldkv, hkv, ldpe;
} GkFlashKvArgs;
/* knv [nk, ldkv] (the layout of a->kv) and kpe [nk, R] = f16 of K (Kn and Kpe) times a power of
 * two and of V times another, each putting the block's largest magnitude in [2^14, 2^15)
 * (gk_split_f16_mma's rule); kv_max (device, 2 words) receives the largest |K| and |V| as
 * float bits, from which gk_flash_attn derives the same scales. */
cudaError_t gk_flash_kv_f16 (uint16_t *knv, uint16_t *kpe, unsigned *kv_max,
                             const GkFlashKvArgs *a, cudaStream_t stream);

/* K and V of a key block straight from the latent cache, for an NVFP4 kv_b (no float32 Kn|V):
 * gk_flash_kvb_f16 expands kv_b to f16 once per layer (exact: an E2M1 code times an e4m3 scale
 * is an f16 normal), gk_flash_cache_f16 scales the block's cache rows into f16 and sets the
 * scales, then one f16 GEMM writes Kn|V already scaled: knv = alpha . c16 . kvb16^T (cuBLAS,
 * float32 sums, alpha and beta read from this struct in device pointer mode). K and V share one
 * scale, from a bound rather than their largest values: |Kn|, |V| <= scale2 * (kv_b's largest
 * row L1 norm) * (the block's largest |latent|), and |Kpe| its own largest; the bound goes to
 * [2^14, 2^15), so nothing overflows and values even 2^-28 of it stay f16 normals. */
typedef struct {
  unsigned kv_max[2];       /* for GkFlashAttnArgs.kv_max: the bound, float bits, twice */
  float    alpha, beta;     /* the Kn|V GEMM's: scale2 * s / (the latent's scale), and 0 */
  unsigned l1;              /* kv_b's largest row L1 norm, without scale2 (float bits) */
  unsigned c_max[2];        /* the block's largest |latent| and |Kpe| (float bits) */
} GkFlashDirect;
/* dst [rows, cols] f16 = kv_b (NVFP4, without scale2); d->l1 set */
cudaError_t gk_flash_kvb_f16 (uint16_t *dst, GkFlashDirect *d, const GkMatrix *kv_b,
                              cudaStream_t stream);
/* c16 [nk, Lkv] = the cache rows' latent part times a power of two, kpe [nk, R] = their Kpe times
 * the K/V scale, both f16; d->kv_max, d->alpha (with scale2), d->beta set. cache: key j's row at
 * cache + j * ldc, latent then Kpe. */
cudaError_t gk_flash_cache_f16 (uint16_t *c16, uint16_t *kpe, GkFlashDirect *d,
                                const uint16_t *cache, int ldc, int nk, int Lkv, int R,
                                float scale2, cudaStream_t stream);

typedef struct {
  const float    *q;        /* [T] rows of ldq floats: head h at h * (Dn + R), [nope | rope] */
  const uint16_t *kn;       /* f16: key k0 + j, head h at kn + j * ldkv + h * hkv, Dn values */
  const uint16_t *v;        /* f16: key k0 + j, head h at v + j * ldkv + h * hkv, Dv values */
  const uint16_t *kpe;      /* f16: key k0 + j at kpe + j * ldpe, R values, shared by all heads */
  const unsigned *kv_max;   /* device: |K|, |V| bounds of these keys, float bits, whose scales
                             * K and V carry (gk_flash_kv_f16's maxima, GkFlashDirect.kv_max) */
  float          *o;        /* float32: query i, head h at o + i * ldo + o_lead + h * Dv */
  float          *m, *l;    /* [T, H] flash state (running max, log2 domain; running sum) */
  int             T, H, Dn, R, Dv;
  int             ldq, ldkv, hkv, ldpe, ldo, o_lead;
  int             p0;       /* absolute position of query 0 */
  int             k0, nk;   /* this launch's keys: absolute k0 .. k0 + nk - 1 (nk <= p0 + T - k0) */
  float           scale;    /* softmax scale */
  int             first;    /* 1: the first key block (starts the state) */
  int             last;     /* 1: the last key block (writes o normalised) */
  int             stages;   /* K/V tiles in flight: 0 = 2 where shared memory allows, else 1;
                             * 1 = one (smaller CTAs: two may share an SM; for measuring) */
  int             bm;       /* queries per CTA: 0 = 128 (8 warps) where shared memory allows,
                             * else 64 (4 warps); 64 or 128 forces it (tests, measuring) */
  int             bn;       /* keys per tile: 0 = 64 where shared memory allows (128-query
                             * CTAs only), else 32; 32 or 64 forces it */
  int             impl;     /* GK_FLASH_AUTO, GK_FLASH_MMA or GK_FLASH_WGMMA */
} GkFlashAttnArgs;

/* GkFlashAttnArgs.impl: which kernel makes the products */
enum {
  GK_FLASH_AUTO = 0,        /* wgmma where gk_flash_attn_wgmma says so, else mma.sync */
  GK_FLASH_MMA = 1,         /* mma.sync (flash-attn.cu), every architecture */
  GK_FLASH_WGMMA = 2,       /* wgmma (flash-wgmma.cu, sm_90a), or cudaErrorInvalidValue */
};

/* Whether the kernel takes these dims on the current device (shared memory included). */
int         gk_flash_attn_supported (int Dqk, int Dv);
/* The CTA shape gk_flash_attn would run these args at on the current device: queries per CTA
 * (*bm), keys per tile (*bn) and K/V tiles in flight (*stages); 0 where it would refuse the dims,
 * a->bm, a->bn or a->stages. */
int         gk_flash_attn_shape (const GkFlashAttnArgs *args, int *bm, int *bn, int *stages);
/* Whether gk_flash_attn would run these args on the wgmma kernel: compute capability 9.0, the
 * dims multiples of 8 and at most GK_FLASH_MAX_DIM, the K/V/Kpe rows 16-byte aligned, and impl
 * GK_FLASH_WGMMA, or GK_FLASH_AUTO with bm, bn and stages left 0. */
int         gk_flash_attn_wgmma (const GkFlashAttnArgs *args);
cudaError_t gk_flash_attn (const GkFlashAttnArgs *args, cudaStream_t stream);
/* flash-wgmma.cu, for gk_flash_attn: whether the wgmma kernel for padded head dim P (64, 128,
 * 256) runs on the current device, and its launch */
int         gk_flash_wgmma_ready (int P);
cudaError_t gk_flash_wgmma (const GkFlashAttnArgs *args, int P, cudaStream_t stream);

/* ---- tensor parallelism (tp.cu) ---- */

#define GK_TP_MAX 8
#define GK_ALLREDUCE_BLOCKS 8

/* A one-shot all-reduce (sum, float32, in place) over peer-accessible device memory. */
typedef struct {
  float    *x;                      /* [n] this rank's partial in, the sum out */
  void     *bufs[GK_TP_MAX];        /* [tp]: every rank's exchange buffer (peer memory, zeroed
                                     * once, gk_allreduce_buffer_bytes (n_max)); peers write it */
  uint32_t *epoch;                  /* [GK_ALLREDUCE_BLOCKS] this rank's call counters, zeroed once */
  int       n, n_max, rank, tp;
} GkAllreduceArgs;

/* Bytes of one rank's call counters (allocate once, zeroed, on that rank's device). */
size_t      gk_allreduce_flag_bytes (void);
/* Bytes of one rank's exchange buffer for messages of up to n_max floats: two parities of
 * GK_TP_MAX slots of 16-byte lines {x0, flag, x1, flag} (allocate once, zeroed). */
size_t      gk_allreduce_buffer_bytes (int n_max);
/* Every rank must launch it with the same n, in the same order of calls. The sum is taken in
 * rank order on every rank, so all ranks get the same bits. */
cudaError_t gk_allreduce_p2p (const GkAllreduceArgs *args, cudaStream_t stream);
/* out[0] = v[idx[0]] (the logit behind an argmax), all in device memory. */
cudaError_t gk_take_f32 (float *out, const float *v, const int32_t *idx, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
