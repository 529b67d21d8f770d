/* cpu-pool.c: a fork/join thread pool: the caller hands out n tasks, workers pull task indices
 * from a shared counter, the caller waits until all are done.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-cpu"

#include "cpu.h"

struct _GlimCpuPool {
  int             n_threads;     /* including the caller */
  GThread       **workers;       /* [n_threads - 1] */
  GMutex          lock;
  GCond           work_cond;     /* workers wait here for a new generation */
  GCond           done_cond;     /* the caller waits here for the last task */
  guint64         generation;    /* bumped for each run */
  gboolean        quit;

  /* the current job */
  GlimCpuTaskFunc fn;
  gpointer        data;
  int             n_tasks;
  gint            next_task;     /* atomic */
  int             n_finished;    /* under lock */
  int             n_active;      /* workers inside run_tasks, under lock; the job's fields change
                                  * only while it is 0, so no worker mixes two jobs */
};

typedef struct {
  GlimCpuPool *pool;
  int          thread;
} Worker;

static void
run_tasks (GlimCpuPool *pool, int thread)
{
  int done = 0;
  for (;;) {
    int task = g_atomic_int_add (&pool->next_task, 1);
    if (task >= pool->n_tasks)
      break;
    pool->fn (pool->data, task, thread);
    done++;
  }
  if (done > 0) {
    g_mutex_lock (&pool->lock);
    pool->n_finished += done;
    if (pool->n_finished == pool->n_tasks)
      g_cond_broadcast (&pool->done_cond);
    g_mutex_unlock (&pool->lock);
  }
}

static gpointer
worker_main (gpointer p)
{
  Worker *w = p;
  GlimCpuPool *pool = w->pool;
  guint64 seen = 0;
  for (;;) {
    g_mutex_lock (&pool->lock);
    while (!pool->quit && pool->generation == seen)
      g_cond_wait (&pool->work_cond, &pool->lock);
    if (pool->quit) {
      g_mutex_unlock (&pool->lock);
      break;
    }
    seen = pool->generation;
    pool->n_active++;
    g_mutex_unlock (&pool->lock);
    run_tasks (pool, w->thread);
    g_mutex_lock (&pool->lock);
    if (--pool->n_active == 0)
      g_cond_broadcast (&pool->done_cond);
    g_mutex_unlock (&pool->lock);
  }
  g_free (w);
  return NULL;
}

GlimCpuPool *
glim_cpu_pool_new (int n_threads)
{
  if (n_threads <= 0)
    n_threads = (int) g_get_num_processors ();
  GlimCpuPool *pool = g_new0 (GlimCpuPool, 1);
  pool->n_threads = n_threads;
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->work_cond);
  g_cond_init (&pool->done_cond);
  pool->workers = g_new0 (GThread *, n_threads);
  for (int i = 1; i < n_threads; i++) {
    Worker *w = g_new (Worker, 1);
    w->pool = pool;
    w->thread = i;
    pool->workers[i - 1] = g_thread_new ("glimmer-cpu", worker_main, w);
  }
  return pool;
}

void
glim_cpu_pool_free (GlimCpuPool *pool)
{
  if (pool == NULL)
    return;
  g_mutex_lock (&pool->lock);
  pool->quit = TRUE;
  g_cond_broadcast (&pool->work_cond);
  g_mutex_unlock (&pool->lock);
  for (int i = 0; i < pool->n_threads - 1; i++)
    g_thread_join (pool->workers[i]);
  g_free (pool->workers);
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->work_cond);
  g_cond_clear (&pool->done_cond);
  g_free (pool);
}

int
glim_cpu_pool_n_threads (GlimCpuPool *pool)
{
  return pool->n_threads;
}

void
glim_cpu_pool_run (GlimCpuPool *pool, int n_tasks, GlimCpuTaskFunc fn, gpointer data)
{
  if (n_tasks <= 0)
    return;
  if (pool->n_threads == 1 || n_tasks == 1) {
    for (int t = 0; t < n_tasks; t++)
      fn (data, t, 0);
    return;
  }
  g_mutex_lock (&pool->lock);
  while (pool->n_active > 0)          /* a late worker may still be leaving the previous job */
    g_cond_wait (&pool->done_cond, &pool->lock);
  pool->fn = fn;
  pool->data = data;
  pool->n_tasks = n_tasks;
  pool->n_finished = 0;
  g_atomic_int_set (&pool->next_task, 0);
  pool->generation++;
  g_cond_broadcast (&pool->work_cond);
  g_mutex_unlock (&pool->lock);

  run_tasks (pool, 0);

  g_mutex_lock (&pool->lock);
  while (pool->n_finished < pool->n_tasks || pool->n_active > 0)
    g_cond_wait (&pool->done_cond, &pool->lock);
  g_mutex_unlock (&pool->lock);
}
