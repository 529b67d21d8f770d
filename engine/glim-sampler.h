/* glim-sampler.h: pick the next token from logits: greedy, or temperature with top-k, top-p
 * and min-p filtering, driven by a seeded generator so runs repeat exactly.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef struct {
  float   temperature;   /* <= 0: greedy (argmax, lowest id on ties) */
  int     top_k;         /* <= 0: off */
  float   top_p;         /* >= 1: off */
  float   min_p;         /* <= 0: off; keeps tokens with p >= min_p * p_max */
  guint64 seed;
} GlimSamplerParams;

/* SplitMix64: advances *state and returns 64 well-mixed bits (seeds the samplers, makes ids). */
static inline guint64
glim_splitmix64 (guint64 *state)
{
  guint64 z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

typedef struct _GlimSampler GlimSampler;

void         glim_sampler_params_init (GlimSamplerParams *params);   /* greedy, filters off */
GlimSampler *glim_sampler_new    (const GlimSamplerParams *params);
void         glim_sampler_free   (GlimSampler *sampler);
/* Make the next sample use draw number step of the seed's stream (a new sampler starts at 0;
 * each sample that is not greedy takes one draw). */
void         glim_sampler_set_step (GlimSampler *sampler, guint64 step);
/* logits[V] are not modified. */
int32_t      glim_sampler_sample (GlimSampler *sampler, const float *logits, int V);
int32_t      glim_argmax         (const float *logits, int V);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimSampler, glim_sampler_free)

G_END_DECLS
