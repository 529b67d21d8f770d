/* cpu-ops.c: the reference ops of the CPU backend (norm, linear, RoPE, activation).
 * SPDX-License-Identifier: MIT
 * Plain C, float32 throughout; NVFP4 and BF16 weights are expanded one row at a time. */
#define G_LOG_DOMAIN "glimmer-cpu"

#include "cpu.h"

#include <math.h>
#include <string.h>

void
glim_cpu_rmsnorm (float *y, const float *x, const float *w, int n, float eps)
{
  float ss = glim_cpu_dot (x, x, n);
  float r = 1.0f / sqrtf (ss / (float) n + eps);
  for (int i = 0; i < n; i++)
    y[i] = w[i] * (x[i] * r);
}

float
glim_cpu_dot (const float *a, const float *b, int n)
{
  float acc[8] = { 0 };
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++)
      acc[k] += a[i + k] * b[i + k];
  for (; i < n; i++)
    acc[0] += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* ---- linear ---- */

#define ROWS_PER_TASK 16

typedef struct {
  const GlimWeight *w;
  int               row0, n_rows;
  const float      *x;        /* [T, cols] */
  int               T;
  float            *y;        /* [T, n_rows] */
  float            *scratch;  /* [n_threads, cols] */
} LinearJob;

static void
linear_task (gpointer data, int task, int thread)
{
  LinearJob *j = data;
  int cols = j->w->cols;
  float *row = j->scratch + (gsize) thread * (gsize) cols;
  int r_end = MIN ((task + 1) * ROWS_PER_TASK, j->n_rows);
  for (int r = task * ROWS_PER_TASK; r < r_end; r++) {
    const float *wr;
    if (j->w->format == GLIM_WEIGHT_F32) {
      wr = (const float *) j->w->data + (gsize) (j->row0 + r) * glim_weight_row_stride (j->w);
    } else {
      glim_weight_row_to_f32 (j->w, j->row0 + r, row);
      wr = row;
    }
    for (int t = 0; t < j->T; t++)
      j->y[(gsize) t * (gsize) j->n_rows + (gsize) r] =
        glim_cpu_dot (wr, j->x + (gsize) t * (gsize) cols, cols);
  }
}

void
glim_cpu_linear_rows (GlimCpuPool *pool, const GlimWeight *w, int row0, int n_rows,
                      const float *x, int T, float *y)
{
  g_assert (w->format != GLIM_WEIGHT_NONE);
  g_assert (row0 >= 0 && row0 + n_rows <= w->rows);
  g_autofree float *scratch = g_new (float, (gsize) glim_cpu_pool_n_threads (pool) * (gsize) w->cols);
  LinearJob j = { w, row0, n_rows, x, T, y, scratch };
  glim_cpu_pool_run (pool, (n_rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK, linear_task, &j);
}

void
glim_cpu_linear (GlimCpuPool *pool, const GlimWeight *w, const float *x, int T, float *y)
{
  glim_cpu_linear_rows (pool, w, 0, w->rows, x, T, y);
}

/* ---- RoPE ---- */

void
glim_cpu_rope_freqs (float *inv_freq, int R, double theta)
{
  /* transformers: 1.0 / (base ** (arange(0, R, 2).float() / R)) in float32 */
  for (int i = 0; i < R / 2; i++)
    inv_freq[i] = 1.0f / powf ((float) theta, (float) (2 * i) / (float) R);
}

void
glim_cpu_rope (float *x, int R, int pos, const float *inv_freq, gboolean interleave)
{
  int half = R / 2;
  float tmp[half * 2];
  for (int i = 0; i < half; i++) {
    float ang = (float) pos * inv_freq[i];
    float c = cosf (ang), s = sinf (ang);
    float a = interleave ? x[2 * i] : x[i];
    float b = interleave ? x[2 * i + 1] : x[i + half];
    tmp[i] = a * c - b * s;
    tmp[i + half] = b * c + a * s;
  }
  memcpy (x, tmp, sizeof (float) * (gsize) R);
}

void
glim_cpu_silu_mul (float *g, const float *u, int n)
{
  for (int i = 0; i < n; i++)
    g[i] = g[i] / (1.0f + expf (-g[i])) * u[i];
}
