/* cli-generate.c: `glimmer-cli generate`: continue a list of token ids and print the new ids.
 * SPDX-License-Identifier: MIT
 * Stops after --max-tokens or after an end-of-sequence id from config.json (which is printed,
 * as transformers' generate does), unless --ignore-eos. Stable interface. */
#include "cli.h"

#include <stdio.h>

static gboolean
is_eos (const GlimConfig *c, int32_t id)
{
  for (int i = 0; i < c->n_eos; i++)
    if (c->eos_ids[i] == id)
      return TRUE;
  return FALSE;
}

int
cli_generate (int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *tokens = NULL, *backend = NULL, *seed_text = NULL, *gpus = NULL;
  int tp = 0, threads = 0, max_tokens = 16, top_k = 0;
  double temperature = 0.0, top_p = 1.0, min_p = 0.0;
  gboolean ignore_eos = FALSE;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir, "Model folder", "DIR" },
    { "tokens", 't', 0, G_OPTION_ARG_STRING, &tokens, "Prompt token ids", "5,17,99" },
    { "max-tokens", 'n', 0, G_OPTION_ARG_INT, &max_tokens, "Tokens to generate (default 16)", "N" },
    { "temperature", 0, 0, G_OPTION_ARG_DOUBLE, &temperature, "0 = greedy (default)", "T" },
    { "top-k", 0, 0, G_OPTION_ARG_INT, &top_k, "Keep the k most likely tokens (0 = off)", "K" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &top_p, "Nucleus sampling mass (1 = off)", "P" },
    { "min-p", 0, 0, G_OPTION_ARG_DOUBLE, &min_p, "Minimum probability relative to the best", "P" },
    { "seed", 0, 0, G_OPTION_ARG_STRING, &seed_text, "Sampling seed (default 0)", "S" },
    { "ignore-eos", 0, 0, G_OPTION_ARG_NONE, &ignore_eos, "Do not stop at end-of-sequence ids", NULL },
    { "backend", 0, 0, G_OPTION_ARG_STRING, &backend, "cpu or cuda (default cpu)", "NAME" },
    { "tp", 0, 0, G_OPTION_ARG_INT, &tp, "Tensor-parallel ranks (default 1, or one per --gpus)", "N" },
    { "gpus", 0, 0, G_OPTION_ARG_STRING, &gpus, "CUDA devices of the ranks (default 0,1,..)", "0,2" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: all cores)", "N" },
    { NULL }
  };
  if (!cli_parse_options ("generate", "Generate tokens after a prompt of token ids.", entries,
                          &argc, &argv))
    return 2;
  g_autoptr (GError) error = NULL;
  if (tokens == NULL || max_tokens < 0) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--tokens is required and --max-tokens must not be negative");
    return cli_fail ("generate", error);
  }
  guint64 seed = 0;
  if (seed_text != NULL && !g_ascii_string_to_unsigned (seed_text, 10, 0, G_MAXUINT64, &seed, &error))
    return cli_fail ("generate", error);
  g_autoptr (GArray) ids = cli_parse_ids (tokens, &error);
  if (ids == NULL)
    return cli_fail ("generate", error);
  if (ids->len == 0) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--tokens is empty");
    return cli_fail ("generate", error);
  }
  g_autoptr (GlimModel) model = NULL;
  g_autoptr (GlimContext) ctx = cli_open_context (model_dir, backend, tp, gpus, threads,
                                                  (int) ids->len + max_tokens, &model, &error);
  if (ctx == NULL)
    return cli_fail ("generate", error);

  GlimSamplerParams sp;
  glim_sampler_params_init (&sp);
  sp.temperature = (float) temperature;
  sp.top_k = top_k;
  sp.top_p = (float) top_p;
  sp.min_p = (float) min_p;
  sp.seed = seed;

  g_autoptr (GString) line = g_string_new (NULL);
  const int32_t *input = (const int32_t *) ids->data;
  int n_input = (int) ids->len;
  int32_t last = 0;
  for (int i = 0; i < max_tokens; i++) {
    /* draw i of the seed's stream; on the GPU the sampling runs there too */
    int32_t next;
    if (!glim_context_eval_sample (ctx, input, n_input, &sp, (guint64) i, &next, &error))
      return cli_fail ("generate", error);
    g_string_append_printf (line, "%s%d", i ? "," : "", next);
    if (!ignore_eos && is_eos (model->config, next))
      break;
    last = next;
    input = &last;
    n_input = 1;
  }
  printf ("%s\n", line->str);
  return 0;
}
