/* cli.h: glimmer-cli's commands and the helpers they share.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "glim.h"

G_BEGIN_DECLS

/* Each command parses its own arguments (argv[0] is the command name) and returns an exit
 * status; errors are printed as "glimmer-cli <command>: <message>". */
int cli_bench    (int argc, char **argv);
int cli_chat     (int argc, char **argv);
int cli_generate (int argc, char **argv);
int cli_info     (int argc, char **argv);
int cli_logits   (int argc, char **argv);
int cli_parse    (int argc, char **argv);
int cli_quantize (int argc, char **argv);
int cli_synth    (int argc, char **argv);
int cli_render   (int argc, char **argv);
int cli_tokenize (int argc, char **argv);

/* Parse "5,17,99" into token ids. */
GArray  *cli_parse_ids     (const char *text, GError **error);
/* Print an error for command `cmd` and return the exit status 1. */
int      cli_fail          (const char *cmd, const GError *error);
/* Parse argv with `entries`; prints usage errors itself. */
gboolean cli_parse_options (const char *cmd, const char *summary, GOptionEntry *entries, int *argc,
                            char ***argv);
/* Parse a byte size: "5GB" (10^9, as transformers), "500MB", "2GiB", "123" (bytes). */
gboolean cli_parse_size    (const char *text, guint64 *out, GError **error);
/* A progress callback (GlimExportProgressFunc) that redraws "CMD: 37% (6.6 of 18.0 GB)" on a
 * terminal's stderr; `data` is a CliProgress initialised as { "quantize", -1 }. */
typedef struct {
  const char *cmd;
  int         last_permille;
} CliProgress;
void     cli_progress      (gpointer data, guint64 done, guint64 total);
/* --context: "auto", "0" or absent -> 0 (automatic, glim-context.h), else N > 0. Errors name
 * the option. */
gboolean     cli_parse_context (const char *text, int *n_ctx, GError **error);
/* Load a model and open a context, honouring --backend/--tp/--gpus/--threads. */
GlimContext *cli_open_context (const char *model_dir, const char *backend, int tp,
                               const char *gpus, int threads, int n_ctx, GlimModel **model_out,
                               GError **error);
/* Fill opts->tp/devices/n_devices from --tp N (0: not given) and --gpus LIST (NULL: not
 * given); devices must hold GLIM_SHARD_TP_MAX. Without --tp, the list's length is the tp. */
gboolean     cli_tp_options   (int tp, const char *gpus, int *devices, GlimContextOptions *opts,
                               GError **error);

G_END_DECLS
