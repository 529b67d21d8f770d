/* cli-common.c: argument and model-opening helpers shared by glimmer-cli commands.
 * SPDX-License-Identifier: MIT */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

GArray *
cli_parse_ids (const char *text, GError **error)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (int32_t));
  g_auto (GStrv) parts = g_strsplit (text ? text : "", ",", -1);
  for (char **p = parts; *p != NULL; p++) {
    g_autofree char *s = g_strstrip (g_strdup (*p));
    if (*s == '\0' && parts[1] == NULL)
      break;                         /* empty list */
    char *end = NULL;
    errno = 0;
    long long v = strtoll (s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < 0 || v > G_MAXINT32) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "\"%s\" is not a token id (expected comma-separated non-negative integers)", s);
      return NULL;
    }
    int32_t id = (int32_t) v;
    g_array_append_val (ids, id);
  }
  return g_steal_pointer (&ids);
}

int
cli_fail (const char *cmd, const GError *error)
{
  fprintf (stderr, "glimmer-cli %s: %s\n", cmd, error->message);
  return 1;
}

gboolean
cli_parse_options (const char *cmd, const char *summary, GOptionEntry *entries, int *argc,
                   char ***argv)
{
  g_autofree char *param = g_strdup_printf ("%s", cmd);
  g_autoptr (GOptionContext) oc = g_option_context_new (NULL);
  g_option_context_set_summary (oc, summary);
  g_option_context_add_main_entries (oc, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (oc, argc, argv, &error)) {
    cli_fail (cmd, error);
    return FALSE;
  }
  if (*argc > 1) {
    fprintf (stderr, "glimmer-cli %s: unexpected argument \"%s\"\n", cmd, (*argv)[1]);
    return FALSE;
  }
  return TRUE;
}

GlimContext *
cli_open_context (const char *model_dir, const char *backend, int tp, int threads, int n_ctx,
                  GlimModel **model_out, GError **error)
{
  GlimContextOptions opts = { 0 };
  if (!glim_backend_from_string (backend ? backend : "cpu", &opts.backend, error))
    return NULL;
  if (model_dir == NULL) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--model DIR is required");
    return NULL;
  }
  g_autoptr (GlimModel) model = glim_model_load (model_dir, NULL, error);
  if (model == NULL)
    return NULL;
  opts.tp = tp;
  opts.n_threads = threads;
  opts.n_ctx = n_ctx;
  GlimContext *ctx = glim_context_new (model, &opts, error);
  if (ctx == NULL)
    return NULL;
  *model_out = g_steal_pointer (&model);
  return ctx;
}
