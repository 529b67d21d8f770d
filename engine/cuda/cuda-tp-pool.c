/* cuda-tp-pool.c: one host thread per GPU rank. The caller posts a job; every rank thread runs
 * it on its own device (cudaSetDevice first), and the caller waits for all of them.
 * SPDX-License-Identifier: MIT
 * Why threads: NCCL collectives of several ranks block each other until all have joined, and a
 * CUDA graph is captured per thread (cudaStreamCaptureModeThreadLocal), so each rank enqueues
 * and captures its own stream on its own thread. */
#define G_LOG_DOMAIN "glimmer-cuda"

#include "cuda-private.h"

struct _GlimTpPool {
  int            n;
  int            devices[GLIM_SHARD_TP_MAX];
  GThread       *threads[GLIM_SHARD_TP_MAX];
  GMutex         lock;
  GCond          posted;        /* a new job (or quit) */
  GCond          done;          /* pending reached 0 */
  guint64        generation;    /* jobs posted so far */
  int            pending;       /* ranks still running the current job */
  gboolean       quit;
  GlimTpJobFunc  func;
  gpointer       data;
  GError        *errors[GLIM_SHARD_TP_MAX];
};

typedef struct {
  GlimTpPool *pool;
  int         rank;
} Worker;

static gpointer
worker_main (gpointer p)
{
  Worker *w = p;
  GlimTpPool *pool = w->pool;
  int rank = w->rank;
  g_free (w);
  guint64 seen = 0;
  for (;;) {
    g_mutex_lock (&pool->lock);
    while (pool->generation == seen && !pool->quit)
      g_cond_wait (&pool->posted, &pool->lock);
    if (pool->quit) {
      g_mutex_unlock (&pool->lock);
      return NULL;
    }
    seen = pool->generation;
    GlimTpJobFunc func = pool->func;
    gpointer data = pool->data;
    g_mutex_unlock (&pool->lock);

    GError *error = NULL;
    cudaError_t e = cudaSetDevice (pool->devices[rank]);
    if (e != cudaSuccess)
      glim_cuda_set_error (&error, e, "cudaSetDevice", G_STRFUNC, __FILE__, __LINE__);
    else
      func (rank, data, &error);

    g_mutex_lock (&pool->lock);
    pool->errors[rank] = error;
    if (--pool->pending == 0)
      g_cond_signal (&pool->done);
    g_mutex_unlock (&pool->lock);
  }
}

GlimTpPool *
glim_tp_pool_new (int n, const int *devices)
{
  g_assert (n >= 1 && n <= GLIM_SHARD_TP_MAX);
  GlimTpPool *pool = g_new0 (GlimTpPool, 1);
  pool->n = n;
  memcpy (pool->devices, devices, (size_t) n * sizeof (int));
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->posted);
  g_cond_init (&pool->done);
  for (int r = 0; r < n; r++) {
    Worker *w = g_new (Worker, 1);
    w->pool = pool;
    w->rank = r;
    g_autofree char *name = g_strdup_printf ("glimmer-rank%d", r);
    pool->threads[r] = g_thread_new (name, worker_main, w);
  }
  return pool;
}

gboolean
glim_tp_pool_run (GlimTpPool *pool, GlimTpJobFunc func, gpointer data, GError **error)
{
  g_mutex_lock (&pool->lock);
  pool->func = func;
  pool->data = data;
  pool->pending = pool->n;
  pool->generation++;
  g_cond_broadcast (&pool->posted);
  while (pool->pending > 0)
    g_cond_wait (&pool->done, &pool->lock);
  g_mutex_unlock (&pool->lock);
  /* the lowest rank's error is reported; the others usually say the same */
  gboolean ok = TRUE;
  for (int r = 0; r < pool->n; r++) {
    if (pool->errors[r] == NULL)
      continue;
    if (ok)
      g_propagate_prefixed_error (error, g_steal_pointer (&pool->errors[r]), "GPU %d (rank %d): ",
                                  pool->devices[r], r);
    else
      g_clear_error (&pool->errors[r]);
    ok = FALSE;
  }
  return ok;
}

void
glim_tp_pool_free (GlimTpPool *pool)
{
  if (pool == NULL)
    return;
  g_mutex_lock (&pool->lock);
  pool->quit = TRUE;
  g_cond_broadcast (&pool->posted);
  g_mutex_unlock (&pool->lock);
  for (int r = 0; r < pool->n; r++)
    g_thread_join (pool->threads[r]);
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->posted);
  g_cond_clear (&pool->done);
  g_free (pool);
}
