/* cli-bench.c: `glimmer-cli bench`: decode speed at several context lengths, prefill speed and
 * time to first token, device memory, and the roofline next to every decode figure.
 * SPDX-License-Identifier: MIT
 * Roofline: the bytes one decode step must read (active weights + the latent cache up to the
 * context) over the copy bandwidth measured in the same run. Long contexts are filled with
 * synthetic cache contents (glim_context_fill_synthetic): speed does not depend on the values. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

int
cli_bench (int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *backend = NULL, *contexts = NULL, *gpus = NULL;
  gboolean allreduce = FALSE;
  int tp = 0, threads = 0, prompt = 8192, n_decode = 64;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir, "Model folder", "DIR" },
    { "backend", 0, 0, G_OPTION_ARG_STRING, &backend, "cpu or cuda (default cuda)", "NAME" },
    { "context", 0, 0, G_OPTION_ARG_STRING, &contexts, "Decode context lengths (default 1024,32768,131072); auto: also the longest that fits (the context is then sized automatically)", "N,N[,auto]" },
    { "prompt", 0, 0, G_OPTION_ARG_INT, &prompt, "Prefill prompt length (default 8192; 0 = skip)", "N" },
    { "decode-tokens", 0, 0, G_OPTION_ARG_INT, &n_decode, "Decode steps timed per context (default 64)", "N" },
    { "tp", 0, 0, G_OPTION_ARG_INT, &tp, "Tensor-parallel ranks (default 1, or one per --gpus)", "N" },
    { "gpus", 0, 0, G_OPTION_ARG_STRING, &gpus, "CUDA devices of the ranks (default 0,1,..)", "0,2" },
    { "allreduce", 0, 0, G_OPTION_ARG_NONE, &allreduce, "Also time one decode step's all-reduces (NCCL and P2P)", NULL },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: all cores)", "N" },
    { NULL }
  };
  if (!cli_parse_options ("bench", "Measure decode and prefill speed.", entries, &argc, &argv))
    return 2;
  g_autoptr (GError) error = NULL;
  /* "auto" in the list: open the context with n_ctx 0 and also time the longest it allows */
  g_auto (GStrv) parts = g_strsplit (contexts ? contexts : "1024,32768,131072", ",", -1);
  gboolean want_auto = FALSE;
  g_autoptr (GStrvBuilder) numbers = g_strv_builder_new ();
  for (char **p = parts; *p != NULL; p++) {
    if (g_ascii_strcasecmp (g_strstrip (*p), "auto") == 0 || strcmp (*p, "0") == 0)
      want_auto = TRUE;
    else
      g_strv_builder_add (numbers, *p);
  }
  g_auto (GStrv) kept = g_strv_builder_end (numbers);
  g_autofree char *joined = g_strjoinv (",", kept);
  g_autoptr (GArray) ctx_list = cli_parse_ids (joined, &error);
  if (ctx_list == NULL || n_decode < 1 || prompt < 0) {
    if (error == NULL)
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "bad --decode-tokens or --prompt");
    return cli_fail ("bench", error);
  }
  if (model_dir == NULL) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--model DIR is required");
    return cli_fail ("bench", error);
  }
  g_autoptr (GlimModel) model = glim_model_load (model_dir, NULL, &error);
  if (model == NULL)
    return cli_fail ("bench", error);
  const GlimConfig *c = model->config;
  int max_ctx = prompt + 1;
  for (guint i = 0; i < ctx_list->len; i++) {
    int *v = &g_array_index (ctx_list, int32_t, i);
    *v = MIN (*v, c->max_position_embeddings - n_decode - 4);
    max_ctx = MAX (max_ctx, *v + n_decode + 4);
  }
  max_ctx = MIN (max_ctx, c->max_position_embeddings);

  GlimContextOptions opts = { .n_ctx = want_auto ? 0 : max_ctx, .n_threads = threads };
  int devices[GLIM_SHARD_TP_MAX];
  if (!cli_tp_options (tp, gpus, devices, &opts, &error))
    return cli_fail ("bench", error);
  if (!glim_backend_from_string (backend ? backend : "cuda", &opts.backend, &error))
    return cli_fail ("bench", error);
  double t0 = now_s ();
  g_autoptr (GlimContext) ctx = glim_context_new (model, &opts, &error);
  if (ctx == NULL)
    return cli_fail ("bench", error);
  double t_load = now_s () - t0;
  if (want_auto) {          /* the context chosen: every length must fit in it, and it is timed */
    max_ctx = glim_context_n_ctx (ctx);
    int longest = max_ctx - n_decode - 4;
    if (longest < 1) {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--context auto: the context chosen (%d tokens) leaves no room for "
                   "--decode-tokens %d", max_ctx, n_decode);
      return cli_fail ("bench", error);
    }
    for (guint i = 0; i < ctx_list->len; i++)
      g_array_index (ctx_list, int32_t, i) = MIN (g_array_index (ctx_list, int32_t, i), longest);
    g_array_append_val (ctx_list, longest);
    prompt = MIN (prompt, max_ctx - 1);
  }
  g_autofree char *dev = glim_context_describe_device (ctx);
  double bw = glim_context_copy_bandwidth (ctx, &error);
  if (error != NULL)
    return cli_fail ("bench", error);
  guint64 active = glim_model_active_bytes (model);
  guint64 cache_per_tok = (guint64) c->n_layers * glim_config_cache_width (c) * 2;

  printf ("model:     %s (%d layers, %d experts, top %d)\n", model_dir, c->n_layers,
          c->n_routed_experts, c->n_experts_per_tok);
  printf ("device:    %s\n", dev);
  printf ("load:      %.1f s, context %d%s, device memory %.2f GiB\n", t_load, max_ctx,
          want_auto ? " (automatic)" : "",
          glim_context_device_bytes (ctx) / 1073741824.0);
  printf ("copy bw:   %.0f GB/s (read + write%s)\n", bw / 1e9,
          opts.tp > 1 ? ", one GPU's times the ranks" : "");
  printf ("active:    %.3f GB of weights per decode step, %.1f KB of cache per context token\n",
          active / 1e9, cache_per_tok / 1e3);

  /* prefill: the first run after a short warm-up (what a user's first prompt costs: kernels
   * still loading lazily, workspaces first touched), then the same prompt again */
  double prefill_tps = 0, ttft = 0, again = 0;
  if (prompt > 0) {
    g_autofree int32_t *ids = g_new (int32_t, prompt);
    GRand *r = g_rand_new_with_seed (1);
    for (int i = 0; i < prompt; i++)
      ids[i] = g_rand_int_range (r, 0, c->vocab_size);
    g_rand_free (r);
    int32_t next;
    glim_context_truncate (ctx, 0);
    if (!glim_context_eval_argmax (ctx, ids, MIN (prompt, 16), &next, &error))   /* warm-up */
      return cli_fail ("bench", error);
    glim_context_truncate (ctx, 0);
    t0 = now_s ();
    if (!glim_context_eval_argmax (ctx, ids, prompt, &next, &error))
      return cli_fail ("bench", error);
    ttft = now_s () - t0;
    prefill_tps = prompt / ttft;
    glim_context_truncate (ctx, 0);
    t0 = now_s ();
    if (!glim_context_eval_argmax (ctx, ids, prompt, &next, &error))
      return cli_fail ("bench", error);
    again = now_s () - t0;
  }

  printf ("\n| context | decode tok/s | ms/token | bytes/token | roofline tok/s | fraction |\n");
  printf ("|---:|---:|---:|---:|---:|---:|\n");
  for (guint i = 0; i < ctx_list->len; i++) {
    int n = g_array_index (ctx_list, int32_t, i);
    glim_context_truncate (ctx, 0);
    if (!glim_context_fill_synthetic (ctx, n, &error))
      return cli_fail ("bench", error);
    int32_t tok = 1;
    for (int w = 0; w < 3; w++)
      if (!glim_context_eval_argmax (ctx, &tok, 1, &tok, &error))
        return cli_fail ("bench", error);
    t0 = now_s ();
    for (int s = 0; s < n_decode; s++)
      if (!glim_context_eval_argmax (ctx, &tok, 1, &tok, &error))
        return cli_fail ("bench", error);
    double dt = (now_s () - t0) / n_decode;
    guint64 bytes = active + (guint64) (n + 3 + n_decode / 2) * cache_per_tok;
    double roof = bw > 0 ? bw / bytes : 0;
    printf ("| %d | %.1f | %.3f | %.3g | %.0f | %.1f%% |\n", n, 1.0 / dt, dt * 1e3, (double) bytes,
            roof, roof > 0 ? 100.0 * (1.0 / dt) / roof : 0.0);
  }
  /* one decode step's all-reduces (2 per layer of hidden_size floats), each available kind */
  if (allreduce || glim_context_allreduce_name (ctx) != NULL) {
    printf ("\nall-reduce (tp %d, the forward uses %s): per decode step, %d calls of %d floats\n",
            opts.tp, glim_context_allreduce_name (ctx) ? glim_context_allreduce_name (ctx) : "none",
            2 * c->n_layers, c->hidden_size);
    const char *modes[] = { "nccl", "p2p" };
    for (gsize i = 0; i < G_N_ELEMENTS (modes); i++) {
      g_autoptr (GError) ar_error = NULL;
      double t = glim_context_allreduce_time (ctx, modes[i], &ar_error);
      if (t < 0)
        printf ("  %-5s unavailable: %s\n", modes[i], ar_error->message);
      else
        printf ("  %-5s %.1f us per step (%.2f us per call)\n", modes[i], t * 1e6,
                t * 1e6 / (2 * c->n_layers));
    }
  }
  if (prompt > 0)
    printf ("\nprefill:   %d tokens in %.3f s = %.0f tok/s (time to first token %.3f s); "
            "again: %.3f s = %.0f tok/s\n", prompt, ttft, prefill_tps, ttft, again,
            again > 0 ? prompt / again : 0.0);
  return 0;
}
