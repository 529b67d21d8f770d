/* cli-info.c: `glimmer-cli info`: what a model folder holds.
 * SPDX-License-Identifier: MIT */
#include "cli.h"

#include <stdio.h>

int
cli_info (int argc, char **argv)
{
  g_autofree char *model_dir = NULL;
  gboolean mtp = FALSE;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir, "Model folder", "DIR" },
    { "mtp", 0, 0, G_OPTION_ARG_NONE, &mtp, "Also load and check the MTP layer", NULL },
    { NULL }
  };
  if (!cli_parse_options ("info", "Describe a model folder.", entries, &argc, &argv))
    return 2;
  g_autoptr (GError) error = NULL;
  if (model_dir == NULL) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--model DIR is required");
    return cli_fail ("info", error);
  }
  GlimModelLoadOptions opts = { .load_mtp = mtp };
  g_autoptr (GlimModel) model = glim_model_load (model_dir, &opts, &error);
  if (model == NULL)
    return cli_fail ("info", error);
  g_autofree char *text = glim_model_describe (model);
  fputs (text, stdout);
  if (model->mtp != NULL)
    printf ("mtp:          loaded (layer %d)\n", model->config->n_layers);
  return 0;
}
