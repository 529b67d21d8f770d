/* glim-sampler.c: token sampling (temperature, top-k, top-p, min-p) with one uniform per token
 * from the SplitMix64 stream of the seed (draw n is a pure function of seed and n, so the GPU
 * sampler, kernels/sample.cu, draws the same number for the same step).
 * SPDX-License-Identifier: MIT
 * Filter order follows transformers' generate: temperature, top-k, top-p, min-p. */
#define G_LOG_DOMAIN "glimmer-sampler"

#include "glim-sampler.h"

#include <math.h>
#include <stdlib.h>

struct _GlimSampler {
  GlimSamplerParams params;
  guint64           state;     /* SplitMix64 state: seed + draws made * golden gamma */
  int               cap;
  int              *ids;       /* [cap] candidate ids */
  float            *p;         /* [cap] their scaled logits, then probabilities */
};

/* uniform in [0, 1) with 53 random bits */
static double
next_unit (GlimSampler *s)
{
  return (double) (glim_splitmix64 (&s->state) >> 11) * (1.0 / 9007199254740992.0);
}

void
glim_sampler_params_init (GlimSamplerParams *params)
{
  params->temperature = 0.0f;
  params->top_k = 0;
  params->top_p = 1.0f;
  params->min_p = 0.0f;
  params->seed = 0;
}

GlimSampler *
glim_sampler_new (const GlimSamplerParams *params)
{
  GlimSampler *s = g_new0 (GlimSampler, 1);
  s->params = *params;
  s->state = params->seed;
  return s;
}

void
glim_sampler_set_step (GlimSampler *s, guint64 step)
{
  s->state = s->params.seed + step * 0x9e3779b97f4a7c15ull;
}

void
glim_sampler_free (GlimSampler *s)
{
  if (s == NULL)
    return;
  g_free (s->ids);
  g_free (s->p);
  g_free (s);
}

int32_t
glim_argmax (const float *logits, int V)
{
  int best = 0;
  for (int i = 1; i < V; i++)
    if (logits[i] > logits[best])
      best = i;
  return best;
}

typedef struct {
  const float *v;
} SortCtx;

static int
by_value_desc (const void *a, const void *b, void *user)
{
  const float *v = ((SortCtx *) user)->v;
  float x = v[*(const int *) a], y = v[*(const int *) b];
  if (x != y)
    return x > y ? -1 : 1;
  return *(const int *) a - *(const int *) b;
}

int32_t
glim_sampler_sample (GlimSampler *s, const float *logits, int V)
{
  const GlimSamplerParams *P = &s->params;
  if (P->temperature <= 0.0f)
    return glim_argmax (logits, V);

  if (s->cap < V) {
    s->ids = g_renew (int, s->ids, V);
    s->p = g_renew (float, s->p, V);
    s->cap = V;
  }
  g_autofree float *scaled = g_new (float, V);
  for (int i = 0; i < V; i++) {
    scaled[i] = logits[i] / P->temperature;
    s->ids[i] = i;
  }
  /* Sort all candidates by scaled logit, best first (ties: lower id first). */
  SortCtx ctx = { scaled };
  g_qsort_with_data (s->ids, V, sizeof (int), (GCompareDataFunc) by_value_desc, &ctx);
  int n = V;
  if (P->top_k > 0 && P->top_k < n)
    n = P->top_k;

  double max = scaled[s->ids[0]], sum = 0.0;
  for (int i = 0; i < n; i++) {
    s->p[i] = (float) exp (scaled[s->ids[i]] - max);
    sum += s->p[i];
  }
  for (int i = 0; i < n; i++)
    s->p[i] = (float) (s->p[i] / sum);

  if (P->top_p < 1.0f) {
    double cum = 0.0;
    int keep = n;
    for (int i = 0; i < n; i++) {
      cum += s->p[i];
      if (cum >= P->top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (P->min_p > 0.0f) {
    float floor_p = P->min_p * s->p[0];
    int keep = 1;
    while (keep < n && s->p[keep] >= floor_p)
      keep++;
    n = keep;
  }

  double total = 0.0;
  for (int i = 0; i < n; i++)
    total += s->p[i];
  double u = next_unit (s) * total, acc = 0.0;
  for (int i = 0; i < n; i++) {
    acc += s->p[i];
    if (u < acc)
      return s->ids[i];
  }
  return s->ids[n - 1];
}
