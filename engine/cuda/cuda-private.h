/* cuda-private.h: state shared by the CUDA backend's files (decode in cuda-forward.c, prefill
 * in cuda-prefill.c).
 * SPDX-License-Identifier: MIT */
#pragma once

#include <cublas_v2.h>
#include <string.h>

#include "cuda.h"
#include "cuda-util.h"
#include "../glim-shard.h"
#include "../../kernels/gk.h"

#define TMAX GK_GEMV_MAX_T
/* cuda-prefill.c: tokens per prefill chunk; keys per K/V block of the flash attention (Kn|V
 * of that many keys in bf16: 147 MB at GLM's 20 heads); bytes for S and P (float32) of one
 * query block of the cuBLAS attention (head dims past GK_FLASH_MAX_DIM, or
 * GLIMMER_PREFILL_ATTN=cublas). The memory plan (cuda-plan.c) counts the workspace they size. */
#define GLIM_CUDA_PREFILL_T 8192
#define GLIM_CUDA_PREFILL_LANES 4     /* streams the prefill's routed experts run on */
#define GLIM_CUDA_PREFILL_KEYS 8192
#define GLIM_CUDA_SCORE_BUDGET ((guint64) 768 << 20)
#define GLIM_CUDA_MLA_SPLITS_MAX 1024   /* kernels/mla.cu COMBINE_MAX_SPLITS */

/* Indices into the static descriptor table of one layer. */
enum { D_QA, D_QB, D_Q, D_KVA, D_O, D_DENSE_GU, D_DENSE_DOWN, D_ROUTER, D_SHARED_GU, D_N };

typedef struct {
  float    *input_norm, *post_norm, *q_a_norm, *kv_a_norm, *router_bias;   /* device */
  GkMatrix  kv_b;
  gboolean  is_moe;
  int       desc[D_N];     /* index into fw->desc, -1 if absent */
  int       desc_uv;       /* first of H W_UV groups */
  GkMatrix *experts_gate, *experts_up, *experts_down;   /* device tables [E + 1] */
  GkMatrix *h_gate, *h_up, *h_down;                     /* host copies of the same tables */
  int       rows[D_N];     /* output rows of each descriptor (grid size) */
} CudaLayer;

/* Sums x [T, D] (fw->x in decode, the prefill's block output) over the tensor-parallel ranks,
 * in place, enqueued on fw->stream; every rank calls it with the same T in the same order. */
typedef gboolean (*GlimCudaReduceFunc) (GlimCudaForward *fw, float *x, int T, gpointer data,
                                        GError **error);

struct _GlimCudaForward {
  GlimModel    *model;
  int           device;
  /* tensor parallelism (cuda-tp.c); a single-device forward is rank 0 of 1 with no reduce */
  const GlimShard   *shard;      /* NULL: the whole model */
  int                rank, tp;
  int                n_heads;    /* Hl: heads of this rank */
  int                o_cols;     /* width of fw->o: the widest o_proj view (Hl*Dv, or widened) */
  int                vocab0, n_vocab;   /* lm_head rows of this rank */
  GlimCudaReduceFunc reduce;     /* after o_proj and after the FFN; NULL: nothing to sum */
  gpointer           reduce_data;
  float             *next_val;   /* device: the logit at *next (distributed argmax) */
  unsigned int      *route_done; /* device [TMAX]: router blocks finished per token (gk_router_route) */
  unsigned int      *query_done; /* device [H]: gk_mla_query's blocks finished per head */
  float             *pinned_val; /* host */
  int           n_ctx;
  int           max_splits;      /* MLA decode: most splits per token (sizes fw->partial) */
  int           mla_split_target;/* splits that fill the device once (GkMlaDecodeArgs) */
  int           mla_simple_fill; /* simple MLA kernel blocks resident at once (GkMlaDecodeArgs) */
  /* kernel choices, read from the environment once at creation (benchmarks and tests):
   * GLIMMER_GEMV=mma|cuda|lut, GLIMMER_GEMV_DP4A_MIN=N (glim_cuda_gemv), GLIMMER_MLA=simple|mma-v1,
   * GLIMMER_MLA_MIN_KEYS=N, GLIMMER_MLA_SPLITS=N */
  int           gemv_kernel;   /* GLIM_GEMV_* */
  double        gemv_dp4a_min; /* weights from which a launch takes gk_gemv_dp4a */
  int           mla_kernel;
  int           mla_min_keys;
  cudaStream_t  stream;
  cudaStream_t  side;        /* a second stream for independent kernels (a graph branch) */
  cudaEvent_t   fork, join;

  char         *arena;       /* device: weights */
  size_t        arena_size, arena_used;
  uint16_t     *cache;       /* device: [n_layers, n_ctx, C] bf16 */
  char         *scratch;     /* device: activations */
  size_t        scratch_size;

  CudaLayer    *layers;
  GkMatrix      embed, lm_head;
  float        *final_norm, *inv_freq;

  GArray       *host_desc;   /* GkGemvGroup, uploaded to desc */
  GkGemvGroup  *desc;
  GkMoeArgs    *dev_moe;     /* device: [TMAX, n_layers] routing -> expert descriptor arguments */
  int           desc_lm_head;

  /* activations, [TMAX, ...] */
  float   *x, *qa, *q, *kva, *q_lat, *o_lat, *o, *partial, *act, *slots, *rlogits,
          *rweight, *logits;
  int32_t *ids, *n_past, *idx, *next;
  uint16_t *q_mma;           /* [TMAX, Hl, 2, C] bf16: the MLA decode's prepared query */
  GkGemvGroup *moe_groups;
  void        *argmax_scratch;
  void        *sample_scratch;   /* gk_sample's, allocated on the first sampled token */

  int32_t *pinned;           /* host: [TMAX + 1] ids then n_past */
  int32_t *pinned_next;      /* host: [TMAX] */

  /* the single-token step's graphs: [0] before mla_min_keys keys (the CUDA-core MLA kernel
   * only), [1] from there on (the tensor-core one only), so neither launches a kernel that
   * would return at once; with one MLA kernel configured only [0] is used */
  cudaGraph_t     graph[2];
  cudaGraphExec_t graph_exec[2];
  int             mla_regime;    /* while enqueueing: -1 both kernels (any T), else 0 or 1 */
  int             decode_calls;
  GlimRouteTrace *trace;         /* optional diagnostics (not owned): routes copied per layer */

  /* prefill (cuda-prefill.c), allocated on first use */
  cublasHandle_t  cublas;
  char           *pre;           /* device scratch */
  size_t          pre_size;
  gpointer        pre_layout;    /* the buffers inside it */
};

/* Chunks of more tokens than GK_GEMV_MAX_T go through tensor-core GEMMs (cuda-prefill.c). */

/* Run T tokens at positions n_past.. through GEMMs, writing their latents to the cache. On
 * return the residual stream of the last token is row 0 of fw->x; logits (host) as
 * glim_cuda_forward_eval. Synchronous. */
gboolean glim_cuda_prefill      (GlimCudaForward *fw, const int32_t *tokens, int T, int n_past,
                                 float *logits, gboolean all_logits, GError **error);
void     glim_cuda_prefill_free (GlimCudaForward *fw);
/* Which GEMV kernel takes a product (format: the groups' GK_WEIGHT_*, as the host knows them).
 * GLIM_GEMV_AUTO: the tensor-core gk_gemv_mma for BF16 weights (lm_head; W_UV where kv_b is
 * BF16: 1.6x faster than the CUDA-core kernel on the H200, docs/PERFORMANCE.md); for NVFP4 at
 * one token the integer gk_gemv_dp4a where a launch has at least fw->gemv_dp4a_min weights
 * (it stages x once per block, a fixed cost that pays off on the MoE's large launches:
 * docs/PERFORMANCE.md, ninth session), gk_gemv for the rest. GLIMMER_GEMV=lut keeps NVFP4 on
 * gk_gemv (its table kernel) at one token too, =mma puts every product on gk_gemv_mma, =cuda
 * every one on gk_gemv; GLIMMER_GEMV_DP4A_MIN=N sets the threshold. Where a kernel does not
 * take the shape (cudaErrorNotSupported) gk_gemv does. */
enum { GLIM_GEMV_AUTO, GLIM_GEMV_CUDA, GLIM_GEMV_MMA, GLIM_GEMV_LUT };
static inline cudaError_t
glim_cuda_gemv (const GlimCudaForward *fw, const GkGemvGroup *groups, int n_groups, int max_rows,
                int max_cols, int mode, int T, int flags, int format, cudaStream_t stream)
{
  cudaError_t e = cudaErrorNotSupported;
  const gboolean table = fw->gemv_kernel == GLIM_GEMV_AUTO || fw->gemv_kernel == GLIM_GEMV_LUT;
  const double weights = (double) max_rows * max_cols * n_groups * (mode == GK_GEMV_SWIGLU ? 2 : 1);
  if (fw->gemv_kernel == GLIM_GEMV_MMA || (table && format == GK_WEIGHT_BF16))
    e = gk_gemv_mma (groups, n_groups, max_rows, max_cols, mode, T, flags, stream);
  else if (fw->gemv_kernel == GLIM_GEMV_AUTO && format == GK_WEIGHT_NVFP4 && T <= 1 &&
           weights >= fw->gemv_dp4a_min)
    e = gk_gemv_dp4a (groups, n_groups, max_rows, max_cols, mode, T, flags, stream);
  if (e != cudaErrorNotSupported)
    return e;
  return gk_gemv (groups, n_groups, max_rows, max_cols, mode, T, flags, stream);
}

/* With fw->trace set: wait for the routes idx [T, K] (device) of layer l and record them for
 * positions pos0.. (diagnostics; synchronises the stream). */
gboolean glim_cuda_trace_routes (GlimCudaForward *fw, const int32_t *idx, int l, int T, int pos0,
                                 GError **error);
/* Enqueue lm_head (with the final norm) over row 0 of fw->x and argmax into fw->next. */
gboolean glim_cuda_head_argmax  (GlimCudaForward *fw, GError **error);



/* ---- rank threads (cuda-tp-pool.c) ---- */

typedef struct _GlimTpPool GlimTpPool;
/* Runs on rank `rank`'s thread with its device current; FALSE with *error set on failure. */
typedef gboolean (*GlimTpJobFunc) (int rank, gpointer data, GError **error);

/* n threads, thread r bound to devices[r] (1 <= n <= GLIM_SHARD_TP_MAX). */
GlimTpPool *glim_tp_pool_new  (int n, const int *devices);
/* Run func on every rank at once and wait for all; the lowest failing rank's error, prefixed
 * with its GPU and rank. */
gboolean    glim_tp_pool_run  (GlimTpPool *pool, GlimTpJobFunc func, gpointer data,
                               GError **error);
void        glim_tp_pool_free (GlimTpPool *pool);
