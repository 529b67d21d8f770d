/* cli-common.c: argument and model-opening helpers shared by glimmer-cli commands.
 * SPDX-License-Identifier: MIT */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

gboolean
cli_tp_options (int tp, const char *gpus, int *devices, GlimContextOptions *opts, GError **error)
{
  opts->tp = tp > 0 ? tp : 1;
  if (gpus == NULL)
    return TRUE;
  if (!glim_devices_parse (gpus, devices, &opts->n_devices, error))
    return FALSE;
  opts->devices = devices;
  if (tp == 0)
    opts->tp = opts->n_devices;
  return TRUE;
}

gboolean
cli_parse_context (const char *text, int *n_ctx, GError **error)
{
  guint64 v = 0;
  if (text == NULL || g_ascii_strcasecmp (text, "auto") == 0) {
    *n_ctx = 0;
    return TRUE;
  }
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXINT, &v, NULL)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--context \"%s\": expected a number of tokens or auto", text);
    return FALSE;
  }
  *n_ctx = (int) v;
  return TRUE;
}

GlimContext *
cli_open_context (const char *model_dir, const char *backend, int tp, const char *gpus,
                  int threads, int n_ctx, GlimModel **model_out, GError **error)
{
  GlimContextOptions opts = { 0 };
  int devices[GLIM_SHARD_TP_MAX];
  if (!cli_tp_options (tp, gpus, devices, &opts, error))
    return NULL;
  if (!glim_backend_from_string (backend ? backend : "cpu", &opts.backend, error))
    return NULL;
  if (model_dir == NULL) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--model DIR is required");
    return NULL;
  }
  g_autoptr (GlimModel) model = glim_model_load (model_dir, NULL, error);
  if (model == NULL)
    return NULL;
  opts.n_threads = threads;
  opts.n_ctx = n_ctx;
  GlimContext *ctx = glim_context_new (model, &opts, error);
  if (ctx == NULL)
    return NULL;
  *model_out = g_steal_pointer (&model);
  return ctx;
}

gboolean
cli_parse_size (const char *text, guint64 *out, GError **error)
{
  static const struct { const char *suffix; guint64 factor; } units[] = {
    { "TiB", 1ull << 40 }, { "GiB", 1ull << 30 }, { "MiB", 1ull << 20 }, { "KiB", 1ull << 10 },
    { "TB", 1000000000000ull }, { "GB", 1000000000ull }, { "MB", 1000000ull },
    { "KB", 1000ull }, { "B", 1 },
  };
  g_autofree char *s = g_strstrip (g_strdup (text ? text : ""));
  guint64 factor = 1;
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (g_str_has_suffix (s, units[i].suffix)) {
      s[strlen (s) - strlen (units[i].suffix)] = '\0';
      factor = units[i].factor;
      break;
    }
  guint64 v = 0;
  if (!g_ascii_string_to_unsigned (g_strstrip (s), 10, 0, G_MAXUINT64 / factor, &v, NULL)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "\"%s\" is not a size (expected e.g. 5GB, 500MB, 2GiB or a byte count)", text);
    return FALSE;
  }
  *out = v * factor;
  return TRUE;
}

void
cli_progress (gpointer data, guint64 done, guint64 total)
{
  CliProgress *p = data;                /* calls are serialised by the job runner */
  if (!isatty (fileno (stderr)) || total == 0)
    return;
  int permille = (int) (done * 1000 / total);
  if (permille == p->last_permille)
    return;
  p->last_permille = permille;
  fprintf (stderr, "\r%s: %5.1f%% (%.2f of %.2f GB)%s", p->cmd, permille / 10.0, done / 1e9,
           total / 1e9, done == total ? "\n" : "");
  fflush (stderr);
}
