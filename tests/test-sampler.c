/* test-sampler.c: greedy picks, seeded reproducibility, and that each filter removes exactly the
 * tokens it should.
 * SPDX-License-Identifier: MIT */
#include <math.h>

#include "glim.h"

static void
test_greedy (void)
{
  float l[6] = { 0.1f, 2.0f, -1.0f, 2.0f, 1.9f, -5.0f };
  g_assert_cmpint (glim_argmax (l, 6), ==, 1);          /* ties: lowest id */
  GlimSamplerParams p;
  glim_sampler_params_init (&p);
  g_autoptr (GlimSampler) s = glim_sampler_new (&p);
  for (int i = 0; i < 10; i++)
    g_assert_cmpint (glim_sampler_sample (s, l, 6), ==, 1);
}

static void
draw (GlimSamplerParams *p, const float *l, int V, int n, int *counts)
{
  g_autoptr (GlimSampler) s = glim_sampler_new (p);
  for (int i = 0; i < V; i++)
    counts[i] = 0;
  for (int i = 0; i < n; i++) {
    int t = glim_sampler_sample (s, l, V);
    g_assert_cmpint (t, >=, 0);
    g_assert_cmpint (t, <, V);
    counts[t]++;
  }
}

static void
test_distribution (void)
{
  /* probabilities .5 .3 .2 at temperature 1 */
  float l[3] = { logf (0.5f), logf (0.3f), logf (0.2f) };
  GlimSamplerParams p;
  glim_sampler_params_init (&p);
  p.temperature = 1.0f;
  p.seed = 42;
  int c[3];
  const int n = 20000;
  draw (&p, l, 3, n, c);
  g_assert_cmpfloat (fabs (c[0] / (double) n - 0.5), <, 0.02);
  g_assert_cmpfloat (fabs (c[1] / (double) n - 0.3), <, 0.02);
  g_assert_cmpfloat (fabs (c[2] / (double) n - 0.2), <, 0.02);

  /* temperature 0.5 squares the ratios: .5^2 : .3^2 : .2^2 = .658 : .237 : .105 */
  p.temperature = 0.5f;
  draw (&p, l, 3, n, c);
  g_assert_cmpfloat (fabs (c[0] / (double) n - 0.25 / 0.38), <, 0.02);
  g_assert_cmpfloat (fabs (c[2] / (double) n - 0.04 / 0.38), <, 0.02);
}

static void
test_filters (void)
{
  float l[5] = { logf (0.4f), logf (0.25f), logf (0.2f), logf (0.1f), logf (0.05f) };
  GlimSamplerParams p;
  glim_sampler_params_init (&p);
  p.temperature = 1.0f;
  int c[5];

  p.top_k = 2;
  draw (&p, l, 5, 5000, c);
  g_assert_cmpint (c[2] + c[3] + c[4], ==, 0);
  g_assert_cmpint (c[0], >, 0);
  g_assert_cmpint (c[1], >, 0);

  p.top_k = 0;
  p.top_p = 0.6f;            /* .4 + .25 = .65 >= .6: keeps two */
  draw (&p, l, 5, 5000, c);
  g_assert_cmpint (c[2] + c[3] + c[4], ==, 0);
  g_assert_cmpint (c[1], >, 0);

  p.top_p = 0.3f;            /* the best alone already reaches .3 */
  draw (&p, l, 5, 2000, c);
  g_assert_cmpint (c[0], ==, 2000);

  p.top_p = 1.0f;
  p.min_p = 0.4f;            /* keeps p >= .16: ids 0, 1, 2 */
  draw (&p, l, 5, 5000, c);
  g_assert_cmpint (c[3] + c[4], ==, 0);
  g_assert_cmpint (c[2], >, 0);
}

static void
test_seeded (void)
{
  float l[50];
  for (int i = 0; i < 50; i++)
    l[i] = sinf ((float) i);
  GlimSamplerParams p;
  glim_sampler_params_init (&p);
  p.temperature = 1.2f;
  p.seed = 7;
  g_autoptr (GlimSampler) a = glim_sampler_new (&p);
  g_autoptr (GlimSampler) b = glim_sampler_new (&p);
  p.seed = 8;
  g_autoptr (GlimSampler) c = glim_sampler_new (&p);
  int differ = 0;
  for (int i = 0; i < 200; i++) {
    int x = glim_sampler_sample (a, l, 50);
    g_assert_cmpint (x, ==, glim_sampler_sample (b, l, 50));
    differ += x != glim_sampler_sample (c, l, 50);
  }
  g_assert_cmpint (differ, >, 50);
}

/* The uniform of draw n is SplitMix64 output n of the seed (the stream kernels/sample.cu draws
 * from), and glim_sampler_set_step jumps to any draw. Two equal logits at temperature 1: token
 * 0 (first in the sorted order) exactly when u < 0.5. */
static void
test_stream (void)
{
  float l[2] = { 0.0f, 0.0f };
  GlimSamplerParams p;
  glim_sampler_params_init (&p);
  p.temperature = 1.0f;
  p.seed = 12345;
  g_autoptr (GlimSampler) s = glim_sampler_new (&p);
  guint64 state = p.seed;
  int seen[2] = { 0, 0 };
  int32_t seq[64];
  for (int i = 0; i < 64; i++) {
    double u = (double) (glim_splitmix64 (&state) >> 11) * (1.0 / 9007199254740992.0);
    seq[i] = glim_sampler_sample (s, l, 2);
    g_assert_cmpint (seq[i], ==, u < 0.5 ? 0 : 1);
    seen[seq[i]]++;
  }
  g_assert_cmpint (seen[0], >, 0);
  g_assert_cmpint (seen[1], >, 0);
  /* jumping to draw i gives the token of the i-th call */
  for (int i = 63; i >= 0; i -= 7) {
    g_autoptr (GlimSampler) j = glim_sampler_new (&p);
    glim_sampler_set_step (j, (guint64) i);
    g_assert_cmpint (glim_sampler_sample (j, l, 2), ==, seq[i]);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/sampler/greedy", test_greedy);
  g_test_add_func ("/glimmer/sampler/distribution", test_distribution);
  g_test_add_func ("/glimmer/sampler/filters", test_filters);
  g_test_add_func ("/glimmer/sampler/seeded", test_seeded);
  g_test_add_func ("/glimmer/sampler/splitmix-stream", test_stream);
  return g_test_run ();
}
