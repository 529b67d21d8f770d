/* cpu-route.c: MoE routing: sigmoid scores, bias for selection only, grouped top-k.
 * SPDX-License-Identifier: MIT
 * Mirrors transformers' Glm4MoeLiteTopkRouter.forward: group score = sum of the top-2 biased
 * scores in the group; the topk_group best groups stay, the others are masked to -inf; top-k of
 * the biased scores picks experts; the weights are the unbiased sigmoid scores. */
#define G_LOG_DOMAIN "glimmer-cpu"

#include "cpu-private.h"

#include <math.h>

/* Index of the largest value among v[0..n) not yet taken; ties go to the lowest index. */
static int
argmax_free (const float *v, const gboolean *taken, int n)
{
  int best = -1;
  for (int i = 0; i < n; i++)
    if (!taken[i] && (best < 0 || v[i] > v[best]))
      best = i;
  return best;
}

/* The gap between the last value argmax_free would take after `taken` and the best one left:
 * how far the selection is from flipping. INFINITY when nothing is left. */
static float
gap_to_next (const float *v, const gboolean *taken, int n, float last)
{
  int next = argmax_free (v, taken, n);
  return next < 0 ? INFINITY : last - v[next];
}

void
glim_cpu_route (const GlimConfig *c, const float *logits, const float *bias, int *idx, float *w,
                float *margin)
{
  int E = c->n_routed_experts, K = c->n_experts_per_tok;
  int G = c->n_group, per_group = E / G;
  float scores[E], choice[E];
  gboolean taken[E];
  float group_margin = INFINITY;
  for (int e = 0; e < E; e++) {
    scores[e] = 1.0f / (1.0f + expf (-logits[e]));
    choice[e] = scores[e] + bias[e];
    taken[e] = FALSE;
  }

  if (G > 1) {
    float group_score[G];
    gboolean group_taken[G];
    for (int g = 0; g < G; g++) {
      const float *v = choice + g * per_group;
      float a = -INFINITY, b = -INFINITY;      /* top-2 of the group */
      for (int i = 0; i < per_group; i++) {
        if (v[i] > a) {
          b = a;
          a = v[i];
        } else if (v[i] > b) {
          b = v[i];
        }
      }
      group_score[g] = a + b;
      group_taken[g] = FALSE;
    }
    int last = -1;
    for (int k = 0; k < c->topk_group; k++)
      group_taken[last = argmax_free (group_score, group_taken, G)] = TRUE;
    if (last >= 0)
      group_margin = gap_to_next (group_score, group_taken, G, group_score[last]);
    for (int g = 0; g < G; g++)
      if (!group_taken[g])
        for (int i = 0; i < per_group; i++)
          taken[g * per_group + i] = TRUE;     /* masked: never chosen */
  }

  float sum = 0.0f;
  for (int k = 0; k < K; k++) {
    int e = argmax_free (choice, taken, E);
    taken[e] = TRUE;
    idx[k] = e;
    w[k] = scores[e];
    sum += w[k];
  }
  if (margin != NULL)
    *margin = MIN (group_margin, gap_to_next (choice, taken, E, choice[idx[K - 1]]));
  for (int k = 0; k < K; k++) {
    if (c->norm_topk_prob)
      w[k] /= sum + 1e-20f;
    w[k] *= (float) c->routed_scaling_factor;
  }
}
