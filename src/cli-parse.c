/* cli-parse.c: `glimmer-cli parse`: the assistant message the output parser makes of generated
 * token ids, printed as one OpenAI JSON object (shape: glim_parser_message_to_json). Stable
 * interface.
 * SPDX-License-Identifier: MIT
 *
 * The request (an OpenAI chat-completion body) gives the tools ("tools"; tool calls are parsed
 * when it is a non-empty array and "tool_choice" is not "none") and the thinking setting (on
 * unless chat_template_kwargs.enable_thinking is false). Without --request: thinking on, no tool
 * parsing. finish_reason is "tool_calls" when a call was made, else "stop" when the ids contain
 * a stop token, else "length"; ids after the stop token are ignored. Warnings about malformed
 * tool calls go to stderr; the exit status stays 0. */
#include "cli.h"

#include <stdio.h>

/* Thinking and tools of a request body. */
static gboolean
read_request (const char *path, GlimParserOptions *opts, JsonParser *jp, GError **error)
{
  if (!json_parser_load_from_file (jp, path, error))
    return FALSE;
  JsonNode *root = json_parser_get_root (jp);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "%s: the request is not a JSON object", path);
    return FALSE;
  }
  JsonObject *req = json_node_get_object (root);
  JsonNode *kw = json_object_get_member (req, "chat_template_kwargs");
  if (kw != NULL && JSON_NODE_HOLDS_OBJECT (kw)) {
    JsonNode *et = json_object_get_member (json_node_get_object (kw), "enable_thinking");
    if (et != NULL && JSON_NODE_HOLDS_VALUE (et) &&
        json_node_get_value_type (et) == G_TYPE_BOOLEAN && !json_node_get_boolean (et))
      opts->thinking = FALSE;
  }
  JsonNode *tools = json_object_get_member (req, "tools");
  if (tools != NULL && JSON_NODE_HOLDS_ARRAY (tools) &&
      json_array_get_length (json_node_get_array (tools)) > 0) {
    opts->tools = json_node_get_array (tools);
    opts->tools_enabled = TRUE;
  }
  JsonNode *choice = json_object_get_member (req, "tool_choice");
  if (choice != NULL && JSON_NODE_HOLDS_VALUE (choice) &&
      json_node_get_value_type (choice) == G_TYPE_STRING &&
      g_strcmp0 (json_node_get_string (choice), "none") == 0)
    opts->tools_enabled = FALSE;
  return TRUE;
}

int
cli_parse (int argc, char **argv)
{
  g_autofree char *tokenizer_path = NULL, *request_path = NULL, *ids_text = NULL;
  GOptionEntry entries[] = {
    { "tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer_path, "tokenizer.json", "FILE" },
    { "request", 0, 0, G_OPTION_ARG_FILENAME, &request_path,
      "Chat-completion request (JSON): tools, tool_choice, chat_template_kwargs", "FILE" },
    { "ids", 0, 0, G_OPTION_ARG_STRING, &ids_text, "Generated token ids", "1,2,3" },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options ("parse", "Split generated token ids into reasoning, content and tool "
                          "calls; print the assistant message as JSON.", entries, &argc, &argv))
    return 2;
  g_autoptr (GError) error = NULL;
  if (tokenizer_path == NULL || ids_text == NULL) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--tokenizer FILE and --ids are required");
    return cli_fail ("parse", error);
  }
  g_autoptr (GArray) ids = cli_parse_ids (ids_text, &error);
  if (ids == NULL)
    return cli_fail ("parse", error);
  g_autoptr (GlimTokenizer) tok = glim_tokenizer_load (tokenizer_path, &error);
  if (tok == NULL)
    return cli_fail ("parse", error);

  GlimParserOptions opts;
  glim_parser_options_init (&opts);
  opts.tools_enabled = FALSE;
  g_autoptr (JsonParser) jp = json_parser_new ();
  if (request_path != NULL && !read_request (request_path, &opts, jp, &error))
    return cli_fail ("parse", error);

  GlimParserTags tags;
  if (!glim_parser_tags_from_tokenizer (tok, &tags))
    fprintf (stderr, "glimmer-cli parse: warning: %s lacks a stop token\n", tokenizer_path);
  g_autoptr (GlimParserMessage) msg = glim_parser_message_new (opts.thinking);
  g_autoptr (GlimParser) parser = glim_parser_new (&tags, &opts, glim_parser_message_collect,
                                                   msg);
  g_autoptr (GlimDecoder) dec = glim_decoder_new (tok);
  int n_vocab = glim_tokenizer_n_vocab (tok);
  for (guint i = 0; i < ids->len; i++) {
    int32_t id = g_array_index (ids, int32_t, i);
    if (id >= n_vocab) {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "token id %d is outside the vocabulary (%d)", id, n_vocab);
      return cli_fail ("parse", error);
    }
    if (glim_parser_feed_decoded (parser, dec, id))
      break;
  }
  glim_parser_finish_decoded (parser, dec, glim_parser_stopped (parser) ?
                              GLIM_PARSER_FINISH_STOP : GLIM_PARSER_FINISH_LENGTH);
  for (guint i = 0; i < msg->warnings->len; i++)
    fprintf (stderr, "glimmer-cli parse: warning: %s\n",
             (const char *) g_ptr_array_index (msg->warnings, i));
  g_autofree char *json = glim_parser_message_to_json (msg);
  printf ("%s\n", json);
  return 0;
}
