/* cuda-tp.c: tensor parallelism on GPUs in one process: one GlimCudaForward per rank (its shard
 * of the weights, its own streams, replicated latent cache and decode graph), one host thread per
 * rank (cuda-tp-pool.c), an NCCL communicator over the devices, and the all-reduce the ranks
 * call after o_proj and after the FFN.
 * SPDX-License-Identifier: MIT
 *
 * All-reduce (sum, float32, in place on the residual stream [T, D], T <= GK_GEMV_MAX_T):
 *   nccl  ncclAllReduce on the rank's stream (captured into the decode graph like any kernel);
 *   p2p   kernels/tp.cu's one-shot kernel over peer memory: every rank sums all partials in rank
 *         order (the CPU simulation's order), so every rank holds the same bits;
 *   auto  p2p where every pair of devices has peer access, else nccl (the default).
 * GLIMMER_ALLREDUCE=nccl|p2p|auto picks one. NVLink SHARP / multicast is never used:
 * NCCL_NVLS_ENABLE=0 is set before the communicator is made (unless the user set it), and no
 * multicast object is created here.
 * lm_head is cut by vocabulary: logits are gathered on the host (each rank copies its columns),
 * the argmax is distributed (each rank's best id and logit; the host keeps the best, the lowest
 * id on ties). Prefill of more than GK_GEMV_MAX_T tokens runs on each rank's cuBLAS prefill
 * (cuda-prefill.c) over its shard, with the same two all-reduces per layer.
 * GLIMMER_NCCL=1 sends tp 1 through this file too (the comparison with the plain path).
 * Not handled: a rank that fails in the middle of a step leaves the others waiting in NCCL
 * (the P2P kernel gives up after 10 s); the context must then be dropped. */
#define G_LOG_DOMAIN "glimmer-cuda"

#include "cuda.h"
#include "cuda-private.h"

#include <math.h>
#include <stdlib.h>

#ifdef GLIM_HAVE_NCCL
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"   /* nccl.h declares f() for f(void) */
#include <nccl.h>
#pragma GCC diagnostic pop
#endif

typedef enum { REDUCE_NONE, REDUCE_NCCL, REDUCE_P2P } ReduceMode;

typedef struct {
  GlimCudaTp *tp;
  int         rank;
} RankRef;

struct _GlimCudaTp {
  GlimModel       *model;
  int              tp;
  int              devices[GLIM_SHARD_TP_MAX];
  int              n_ctx;
  ReduceMode       mode;
  ReduceMode       wide_mode;                    /* for more than GK_GEMV_MAX_T rows (prefill) */
  gboolean         peers;                        /* every pair has peer access */
  GlimTpPool      *pool;
  GlimShard       *shards[GLIM_SHARD_TP_MAX];
  GlimCudaForward *ranks[GLIM_SHARD_TP_MAX];
  RankRef          refs[GLIM_SHARD_TP_MAX];
#ifdef GLIM_HAVE_NCCL
  ncclComm_t       comms[GLIM_SHARD_TP_MAX];
  ncclUniqueId     nccl_id;
#endif
  /* P2P: each rank's exchange buffer (gk_allreduce_buffer_bytes) and call counters */
  void            *xbuf[GLIM_SHARD_TP_MAX];
  uint32_t        *flags[GLIM_SHARD_TP_MAX];

  /* loading progress summed over the ranks */
  GMutex           progress_lock;
  guint64          done[GLIM_SHARD_TP_MAX], total[GLIM_SHARD_TP_MAX];
  gboolean         cancelled;
  GlimProgressFunc progress;
  gpointer         progress_data;
};

#ifdef GLIM_HAVE_NCCL
static gboolean
nccl_set_error (GError **error, ncclResult_t r, const char *expr, int line)
{
  g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_FAILED, "NCCL error: %s (%s) at %s:%d%s%s",
               ncclGetErrorString (r), expr, __FILE__, line,
               ncclGetLastError (NULL) ? ": " : "", ncclGetLastError (NULL) ? ncclGetLastError (NULL) : "");
  return FALSE;
}

#define GLIM_NCCL_TRY(expr, error)                                                   \
  G_STMT_START {                                                                     \
    ncclResult_t r_ = (expr);                                                        \
    if (G_UNLIKELY (r_ != ncclSuccess))                                              \
      return nccl_set_error ((error), r_, #expr, __LINE__);                          \
  } G_STMT_END
#endif

/* ---- the all-reduce ---- */

static gboolean
reduce_p2p (GlimCudaTp *tp, int rank, float *x, int n, cudaStream_t stream, GError **error)
{
  GkAllreduceArgs a = { 0 };
  int D = tp->model->config->hidden_size;
  a.x = x;
  for (int q = 0; q < tp->tp; q++)
    a.bufs[q] = tp->xbuf[q];
  a.epoch = tp->flags[rank];
  a.n = n;
  a.n_max = GK_GEMV_MAX_T * D;
  a.rank = rank;
  a.tp = tp->tp;
  GLIM_CUDA_TRY (gk_allreduce_p2p (&a, stream), error);
  return TRUE;
}

static gboolean
reduce_with (GlimCudaTp *tp, ReduceMode mode, int rank, float *x, int n, cudaStream_t stream,
             GError **error)
{
  switch (mode) {
  case REDUCE_NONE:
    return TRUE;
  case REDUCE_P2P:
    return reduce_p2p (tp, rank, x, n, stream, error);
  case REDUCE_NCCL:
#ifdef GLIM_HAVE_NCCL
    GLIM_NCCL_TRY (ncclAllReduce (x, x, (size_t) n, ncclFloat32, ncclSum, tp->comms[rank], stream),
                   error);
    return TRUE;
#endif
  default:
    g_assert_not_reached ();
  }
}

/* fw->reduce: sum x [T, D] over the ranks. The P2P buffers hold GK_GEMV_MAX_T rows: a prefill
 * chunk's T rows go through tp->wide_mode (NCCL in one call when the mode was picked
 * automatically and there is a communicator), else through P2P in pieces of that many rows. */
static gboolean
reduce_residual (GlimCudaForward *fw, float *x, int T, gpointer data, GError **error)
{
  RankRef *ref = data;
  GlimCudaTp *tp = ref->tp;
  int D = tp->model->config->hidden_size;
  ReduceMode mode = T > GK_GEMV_MAX_T ? tp->wide_mode : tp->mode;
  if (mode != REDUCE_P2P)
    return reduce_with (tp, mode, ref->rank, x, T * D, fw->stream, error);
  for (int t0 = 0; t0 < T; t0 += GK_GEMV_MAX_T)
    if (!reduce_with (tp, mode, ref->rank, x + (size_t) t0 * D, MIN (GK_GEMV_MAX_T, T - t0) * D,
                      fw->stream, error))
      return FALSE;
  return TRUE;
}

/* ---- construction ---- */

static gboolean
rank_progress (guint64 done, guint64 total, gpointer data)
{
  RankRef *ref = data;
  GlimCudaTp *tp = ref->tp;
  g_mutex_lock (&tp->progress_lock);
  tp->done[ref->rank] = done;
  tp->total[ref->rank] = total;
  guint64 d = 0, t = 0;
  for (int r = 0; r < tp->tp; r++) {
    d += tp->done[r];
    t += tp->total[r];
  }
  if (tp->progress != NULL && !tp->cancelled && !tp->progress (d, t, tp->progress_data))
    tp->cancelled = TRUE;
  gboolean go_on = !tp->cancelled;
  g_mutex_unlock (&tp->progress_lock);
  return go_on;
}

static gboolean
job_load (int rank, gpointer data, GError **error)
{
  GlimCudaTp *tp = data;
  tp->ranks[rank] = glim_cuda_forward_new_rank (tp->model, tp->shards[rank], tp->devices[rank],
                                                tp->n_ctx, rank_progress, &tp->refs[rank], error);
  return tp->ranks[rank] != NULL;
}

/* P2P buffers on this rank's device, and access to every other rank's */
static gboolean
job_p2p_setup (int rank, gpointer data, GError **error)
{
  GlimCudaTp *tp = data;
  int D = tp->model->config->hidden_size;
  for (int q = 0; q < tp->tp; q++) {
    if (tp->devices[q] == tp->devices[rank])
      continue;
    cudaError_t e = cudaDeviceEnablePeerAccess (tp->devices[q], 0);
    if (e == cudaErrorPeerAccessAlreadyEnabled)
      cudaGetLastError ();      /* another rank on this device enabled it: fine */
    else if (e != cudaSuccess)
      return glim_cuda_set_error (error, e, "cudaDeviceEnablePeerAccess", G_STRFUNC, __FILE__,
                                  __LINE__);
  }
  size_t xb = gk_allreduce_buffer_bytes (GK_GEMV_MAX_T * D);
  GLIM_CUDA_TRY (cudaMalloc (&tp->xbuf[rank], xb), error);
  GLIM_CUDA_TRY (cudaMemset (tp->xbuf[rank], 0, xb), error);
  GLIM_CUDA_TRY (cudaMalloc ((void **) &tp->flags[rank], gk_allreduce_flag_bytes ()), error);
  GLIM_CUDA_TRY (cudaMemset (tp->flags[rank], 0, gk_allreduce_flag_bytes ()), error);
  GLIM_CUDA_TRY (cudaDeviceSynchronize (), error);
  return TRUE;
}

#ifdef GLIM_HAVE_NCCL
/* ncclCommInitRank on every rank's thread at once (each call waits for the others) */
static gboolean
job_comm_init (int rank, gpointer data, GError **error)
{
  GlimCudaTp *tp = data;
  GLIM_NCCL_TRY (ncclCommInitRank (&tp->comms[rank], tp->tp, tp->nccl_id, rank), error);
  return TRUE;
}
#endif

static gboolean
job_free (int rank, gpointer data, GError **error)
{
  GlimCudaTp *tp = data;
  if (tp->ranks[rank] != NULL)
    cudaStreamSynchronize (tp->ranks[rank]->stream);
#ifdef GLIM_HAVE_NCCL
  if (tp->comms[rank] != NULL)
    ncclCommDestroy (tp->comms[rank]);
  tp->comms[rank] = NULL;
#endif
  g_clear_pointer (&tp->ranks[rank], glim_cuda_forward_free);
  cudaFree (tp->xbuf[rank]);
  cudaFree (tp->flags[rank]);
  tp->xbuf[rank] = NULL;
  tp->flags[rank] = NULL;
  return TRUE;
}

void
glim_cuda_tp_free (GlimCudaTp *tp)
{
  if (tp == NULL)
    return;
  if (tp->pool != NULL) {
    glim_tp_pool_run (tp->pool, job_free, tp, NULL);
    glim_tp_pool_free (tp->pool);
  }
  for (int r = 0; r < tp->tp; r++)
    glim_shard_free (tp->shards[r]);
  g_mutex_clear (&tp->progress_lock);
  g_free (tp);
}

/* Every rank's plan against the free memory of its device, before anything is uploaded; n_ctx
 * 0 first becomes the longest context that fits (cuda-plan.c). */
static gboolean
check_memory (GlimCudaTp *tp, GError **error)
{
  if (tp->n_ctx == 0 && !glim_cuda_fit_context (tp->model, tp->tp, tp->devices, &tp->n_ctx, error))
    return FALSE;
  return glim_cuda_check_memory (tp->model, tp->tp, tp->devices, tp->n_ctx, error);
}

static ReduceMode
choose_mode (GlimCudaTp *tp, gboolean have_nccl, gboolean same_device, GError **error)
{
  const char *env = g_getenv ("GLIMMER_ALLREDUCE");
  if (env == NULL || *env == '\0' || g_strcmp0 (env, "auto") == 0) {
    if (tp->peers)
      return REDUCE_P2P;
    if (!have_nccl)
      g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
                   "the GPUs have no peer access to each other and NCCL is not usable");
    return REDUCE_NCCL;
  }
  if (g_strcmp0 (env, "p2p") == 0) {
    if (!tp->peers) {
      g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
                   "GLIMMER_ALLREDUCE=p2p: the GPUs have no peer access to each other");
      return REDUCE_NONE;
    }
    return REDUCE_P2P;
  }
  if (g_strcmp0 (env, "nccl") == 0) {
    if (same_device || !have_nccl) {
      g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
                   "GLIMMER_ALLREDUCE=nccl: %s", same_device ? "NCCL needs one GPU per rank"
                                                             : "this build has no NCCL");
      return REDUCE_NONE;
    }
    return REDUCE_NCCL;
  }
  g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
               "GLIMMER_ALLREDUCE=%s: expected nccl, p2p or auto", env);
  return REDUCE_NONE;
}

GlimCudaTp *
glim_cuda_tp_new (GlimModel *model, int n_ranks, const int *devices, int n_ctx,
                  GlimProgressFunc progress, gpointer progress_data, GError **error)
{
  g_return_val_if_fail (n_ranks >= 1 && n_ranks <= GLIM_SHARD_TP_MAX, NULL);
  int n_dev = 0;
  cudaError_t ce = cudaGetDeviceCount (&n_dev);
  if (ce != cudaSuccess || n_dev == 0) {
    cudaGetLastError ();
    g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNAVAILABLE, "no usable CUDA device: %s",
                 ce != cudaSuccess ? cudaGetErrorString (ce) : "none found");
    return NULL;
  }
  gboolean same_device = FALSE;
  for (int r = 0; r < n_ranks; r++) {
    if (devices[r] < 0 || devices[r] >= n_dev) {
      g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNAVAILABLE,
                   "GPU %d does not exist (%d visible); tensor parallel size %d needs %d GPUs",
                   devices[r], n_dev, n_ranks, n_ranks);
      return NULL;
    }
    for (int q = 0; q < r; q++)
      same_device |= devices[q] == devices[r];
  }
#ifndef GLIM_HAVE_NCCL
  if (!same_device || g_strcmp0 (g_getenv ("GLIMMER_ALLREDUCE"), "p2p") != 0) {
    g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
                 "tensor parallel size %d: this build has no NCCL (install it and reconfigure), "
                 "so the CUDA backend runs on one GPU", n_ranks);
    return NULL;
  }
  gboolean have_nccl = FALSE;
#else
  gboolean have_nccl = !same_device;
#endif
  GlimCudaTp *tp = g_new0 (GlimCudaTp, 1);
  g_mutex_init (&tp->progress_lock);
  tp->model = model;
  tp->tp = n_ranks;
  tp->n_ctx = n_ctx;
  tp->progress = progress;
  tp->progress_data = progress_data;
  memcpy (tp->devices, devices, (size_t) n_ranks * sizeof (int));
  for (int r = 0; r < n_ranks; r++) {
    tp->refs[r] = (RankRef) { tp, r };
    tp->shards[r] = glim_shard_new (model, n_ranks, r, error);
    if (tp->shards[r] == NULL)
      goto fail;
  }
  tp->peers = TRUE;
  for (int r = 0; r < n_ranks; r++)
    for (int q = 0; q < n_ranks; q++) {
      int ok = 0;
      if (devices[r] == devices[q])
        continue;
      if (cudaDeviceCanAccessPeer (&ok, devices[r], devices[q]) != cudaSuccess)
        cudaGetLastError ();
      tp->peers &= ok != 0;
    }
  GError *mode_error = NULL;
  tp->mode = choose_mode (tp, have_nccl, same_device, &mode_error);
  const char *mode_env = g_getenv ("GLIMMER_ALLREDUCE");
  gboolean auto_mode = mode_env == NULL || *mode_env == '\0' || g_strcmp0 (mode_env, "auto") == 0;
  if (mode_error != NULL) {
    g_propagate_error (error, mode_error);
    goto fail;
  }
  if (!check_memory (tp, error))
    goto fail;

  tp->pool = glim_tp_pool_new (n_ranks, devices);
  if (!glim_tp_pool_run (tp->pool, job_load, tp, error))
    goto fail;
  if (tp->peers && !glim_tp_pool_run (tp->pool, job_p2p_setup, tp, error))
    goto fail;
#ifdef GLIM_HAVE_NCCL
  if (have_nccl) {
    /* never NVLink SHARP / multicast (DESIGN.md); the user's own setting wins */
    g_setenv ("NCCL_NVLS_ENABLE", "0", FALSE);
    ncclResult_t nr = ncclGetUniqueId (&tp->nccl_id);
    if (nr != ncclSuccess) {
      nccl_set_error (error, nr, "ncclGetUniqueId", __LINE__);
      goto fail;
    }
    if (!glim_tp_pool_run (tp->pool, job_comm_init, tp, error))
      goto fail;
  }
#endif
  /* auto picked P2P: wide prefill sums go through NCCL where it is set up (one call, not one
   * per GK_GEMV_MAX_T rows); an explicit GLIMMER_ALLREDUCE=p2p keeps P2P for them too */
  tp->wide_mode = tp->mode;
  if (tp->mode == REDUCE_P2P && have_nccl && auto_mode)
    tp->wide_mode = REDUCE_NCCL;
  for (int r = 0; r < n_ranks; r++) {
    /* tp 1 through NCCL still calls the all-reduce (a copy): the path under test */
    tp->ranks[r]->reduce = reduce_residual;
    tp->ranks[r]->reduce_data = &tp->refs[r];
  }
  g_debug ("tensor parallel %d, all-reduce %s", n_ranks,
           tp->mode == REDUCE_P2P ? "p2p" : tp->mode == REDUCE_NCCL ? "nccl" : "none");
  return tp;

fail:
  glim_cuda_tp_free (tp);
  return NULL;
}

/* ---- forward ---- */

typedef struct {
  GlimCudaTp    *tp;
  const int32_t *tokens;
  int            T, n_past;
  float         *logits;       /* eval: host [T, V] or [V]; every rank fills its columns */
  gboolean       all_logits;
  int32_t        next[GLIM_SHARD_TP_MAX];
  float          value[GLIM_SHARD_TP_MAX];
  int            fill;
} Step;

static gboolean
job_eval (int rank, gpointer data, GError **error)
{
  Step *st = data;
  return glim_cuda_forward_eval (st->tp->ranks[rank], st->tokens, st->T, st->n_past, st->logits,
                                 st->all_logits, error);
}

static gboolean
job_argmax (int rank, gpointer data, GError **error)
{
  Step *st = data;
  return glim_cuda_forward_argmax_local (st->tp->ranks[rank], st->tokens, st->T, st->n_past,
                                         &st->next[rank], &st->value[rank], error);
}

static gboolean
job_fill (int rank, gpointer data, GError **error)
{
  Step *st = data;
  return glim_cuda_forward_fill_cache (st->tp->ranks[rank], st->fill, error);
}

gboolean
glim_cuda_tp_eval (GlimCudaTp *tp, const int32_t *tokens, int T, int n_past, float *logits,
                   gboolean all_logits, GError **error)
{
  Step st = { .tp = tp, .tokens = tokens, .T = T, .n_past = n_past, .logits = logits,
              .all_logits = all_logits };
  return glim_tp_pool_run (tp->pool, job_eval, &st, error);
}

gboolean
glim_cuda_tp_argmax (GlimCudaTp *tp, const int32_t *tokens, int T, int n_past, int32_t *next,
                     GError **error)
{
  Step st = { .tp = tp, .tokens = tokens, .T = T, .n_past = n_past };
  if (!glim_tp_pool_run (tp->pool, job_argmax, &st, error))
    return FALSE;
  if (tp->tp == 1) {
    *next = st.next[0];
    return TRUE;
  }
  /* ranks hold increasing vocabulary ranges: a strict > keeps the lowest id on ties */
  int best = -1;
  for (int r = 0; r < tp->tp; r++)
    if (tp->ranks[r]->n_vocab > 0 && !isnan (st.value[r]) &&
        (best < 0 || st.value[r] > st.value[best]))
      best = r;
  *next = best >= 0 ? st.next[best] : 0;
  return TRUE;
}

gboolean
glim_cuda_tp_fill_cache (GlimCudaTp *tp, int n, GError **error)
{
  Step st = { .tp = tp, .fill = n };
  return glim_tp_pool_run (tp->pool, job_fill, &st, error);
}

guint64
glim_cuda_tp_device_bytes (GlimCudaTp *tp)
{
  guint64 total = 0;
  for (int r = 0; r < tp->tp; r++)
    total += glim_cuda_forward_device_bytes (tp->ranks[r]);
  return total;
}

int
glim_cuda_tp_n_ctx (GlimCudaTp *tp)
{
  return tp->n_ctx;
}

int
glim_cuda_tp_size (GlimCudaTp *tp)
{
  return tp->tp;
}

int
glim_cuda_tp_device (GlimCudaTp *tp, int rank)
{
  return tp->devices[rank];
}

const char *
glim_cuda_tp_allreduce_name (GlimCudaTp *tp)
{
  return tp->mode == REDUCE_P2P ? "p2p" : tp->mode == REDUCE_NCCL ? "nccl" : "none";
}

/* ---- all-reduce microbenchmark ---- */

typedef struct {
  GlimCudaTp *tp;
  ReduceMode  mode;
  int         n, calls;
  double      seconds[GLIM_SHARD_TP_MAX];
} Bench;

static gboolean
job_bench (int rank, gpointer data, GError **error)
{
  Bench *b = data;
  GlimCudaForward *fw = b->tp->ranks[rank];
  cudaEvent_t e0 = NULL, e1 = NULL;
  gboolean ok = FALSE;
  if (cudaEventCreate (&e0) != cudaSuccess || cudaEventCreate (&e1) != cudaSuccess) {
    glim_cuda_set_error (error, cudaGetLastError (), "cudaEventCreate", G_STRFUNC, __FILE__,
                         __LINE__);
    goto out;
  }
  /* fw->partial is decode scratch, free between steps: the bench's message */
  for (int i = 0; i < 20; i++)       /* warm-up */
    if (!reduce_with (b->tp, b->mode, rank, fw->partial, b->n, fw->stream, error))
      goto out;
  if (cudaStreamSynchronize (fw->stream) != cudaSuccess ||
      cudaEventRecord (e0, fw->stream) != cudaSuccess) {
    glim_cuda_set_error (error, cudaGetLastError (), "cudaEventRecord", G_STRFUNC, __FILE__,
                         __LINE__);
    goto out;
  }
  for (int i = 0; i < b->calls; i++)
    if (!reduce_with (b->tp, b->mode, rank, fw->partial, b->n, fw->stream, error))
      goto out;
  float ms = 0;
  cudaError_t e = cudaEventRecord (e1, fw->stream);
  if (e == cudaSuccess)
    e = cudaEventSynchronize (e1);
  if (e == cudaSuccess)
    e = cudaEventElapsedTime (&ms, e0, e1);
  if (e != cudaSuccess) {
    glim_cuda_set_error (error, e, "timing the all-reduce", G_STRFUNC, __FILE__, __LINE__);
    goto out;
  }
  b->seconds[rank] = ms / 1e3;
  ok = TRUE;
out:
  if (e0) cudaEventDestroy (e0);
  if (e1) cudaEventDestroy (e1);
  return ok;
}

double
glim_cuda_tp_allreduce_time (GlimCudaTp *tp, const char *mode, int n_floats, int calls,
                             GError **error)
{
  Bench b = { .tp = tp, .n = n_floats, .calls = calls };
  int D = tp->model->config->hidden_size;
  if (g_strcmp0 (mode, "p2p") == 0 && tp->peers)
    b.mode = REDUCE_P2P;
#ifdef GLIM_HAVE_NCCL
  else if (g_strcmp0 (mode, "nccl") == 0 && tp->comms[0] != NULL)
    b.mode = REDUCE_NCCL;
#endif
  else {
    g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
                 "all-reduce \"%s\" is not available on these GPUs", mode);
    return -1;
  }
  if (n_floats < 1 || n_floats > GK_GEMV_MAX_T * D || calls < 1) {
    g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNSUPPORTED,
                 "all-reduce bench: %d floats outside 1..%d", n_floats, GK_GEMV_MAX_T * D);
    return -1;
  }
  if (!glim_tp_pool_run (tp->pool, job_bench, &b, error))
    return -1;
  double worst = 0;
  for (int r = 0; r < tp->tp; r++)
    worst = MAX (worst, b.seconds[r]);
  return worst / calls;
}
