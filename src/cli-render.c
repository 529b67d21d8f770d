/* cli-render.c: `glimmer-cli render`: the GLM-4.7-Flash prompt for an OpenAI chat request.
 * SPDX-License-Identifier: MIT
 * Prints exactly the prompt bytes (no added newline), add_generation_prompt taken from the body
 * (default true). Stable interface: checks outside the repository compare its output with the
 * real chat template. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* The whole of `path`, or of standard input for "-". */
static gboolean
read_input (const char *path, char **data, gsize *len, GError **error)
{
  if (g_strcmp0 (path, "-") != 0)
    return g_file_get_contents (path, data, len, error);
  g_autoptr (GString) s = g_string_new (NULL);
  char buf[65536];
  size_t n;
  while ((n = fread (buf, 1, sizeof buf, stdin)) > 0)
    g_string_append_len (s, buf, n);
  if (ferror (stdin)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot read standard input");
    return FALSE;
  }
  *len = s->len;
  *data = g_string_free (g_steal_pointer (&s), FALSE);
  return TRUE;
}

int
cli_render (int argc, char **argv)
{
  g_autofree char *request_path = NULL;
  GOptionEntry entries[] = {
    { "request", 'r', 0, G_OPTION_ARG_FILENAME, &request_path,
      "OpenAI chat completion request body (- for standard input)", "FILE.json" },
    { NULL }
  };
  if (!cli_parse_options ("render", "Print the GLM-4.7-Flash prompt for a chat request.",
                          entries, &argc, &argv))
    return 2;
  g_autoptr (GError) error = NULL;
  if (request_path == NULL) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--request FILE is required");
    return cli_fail ("render", error);
  }
  g_autofree char *body = NULL;
  gsize len = 0;
  if (!read_input (request_path, &body, &len, &error))
    return cli_fail ("render", error);
  g_autoptr (GlimChatRequest) req = glim_chat_request_parse (body, len, &error);
  if (req == NULL)
    return cli_fail ("render", error);
  g_autofree char *prompt = glim_chat_render (req, &error);
  if (prompt == NULL)
    return cli_fail ("render", error);
  size_t n = strlen (prompt);
  if (fwrite (prompt, 1, n, stdout) != n || fflush (stdout) != 0) {
    g_set_error (&error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot write the prompt");
    return cli_fail ("render", error);
  }
  return 0;
}
