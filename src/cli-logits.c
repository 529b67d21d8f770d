/* cli-logits.c: `glimmer-cli logits`: the logits of every input position, as raw float32.
 * SPDX-License-Identifier: MIT
 * Output: little-endian float32, row-major [T x vocab_size]. Stable interface. */
#include "cli.h"

#include <stdio.h>

int
cli_logits (int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *tokens = NULL, *out = NULL, *backend = NULL, *gpus = NULL;
  int tp = 0, threads = 0;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir, "Model folder", "DIR" },
    { "tokens", 't', 0, G_OPTION_ARG_STRING, &tokens, "Input token ids", "5,17,99" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output file (float32 [T x V])", "FILE" },
    { "backend", 0, 0, G_OPTION_ARG_STRING, &backend, "cpu or cuda (default cpu)", "NAME" },
    { "tp", 0, 0, G_OPTION_ARG_INT, &tp, "Tensor-parallel ranks (default 1, or one per --gpus)", "N" },
    { "gpus", 0, 0, G_OPTION_ARG_STRING, &gpus, "CUDA devices of the ranks (default 0,1,..)", "0,2" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: all cores)", "N" },
    { NULL }
  };
  if (!cli_parse_options ("logits", "Write the logits of every input position.", entries, &argc,
                          &argv))
    return 2;
  g_autoptr (GError) error = NULL;
  if (tokens == NULL || out == NULL) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--tokens and --out are required");
    return cli_fail ("logits", error);
  }
  g_autoptr (GArray) ids = cli_parse_ids (tokens, &error);
  if (ids == NULL)
    return cli_fail ("logits", error);
  if (ids->len == 0) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--tokens is empty");
    return cli_fail ("logits", error);
  }
  g_autoptr (GlimModel) model = NULL;
  g_autoptr (GlimContext) ctx = cli_open_context (model_dir, backend, tp, gpus, threads, (int) ids->len,
                                                  &model, &error);
  if (ctx == NULL)
    return cli_fail ("logits", error);

  gsize V = (gsize) model->config->vocab_size;
  g_autofree float *logits = g_try_new (float, ids->len * V);
  if (logits == NULL) {
    g_set_error (&error, G_FILE_ERROR, G_FILE_ERROR_NOMEM, "not enough memory for %u x %zu logits",
                 ids->len, V);
    return cli_fail ("logits", error);
  }
  if (!glim_context_eval (ctx, (const int32_t *) ids->data, (int) ids->len, logits, TRUE, &error))
    return cli_fail ("logits", error);

  /* float32 little-endian: the host order on every platform we build for */
  G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);
  if (!g_file_set_contents (out, (const char *) logits, (gssize) (ids->len * V * sizeof (float)),
                            &error))
    return cli_fail ("logits", error);
  return 0;
}
