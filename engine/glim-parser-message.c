/* glim-parser-message.c: fold parser events into the final assistant message and print it as
 * OpenAI JSON.
 * SPDX-License-Identifier: MIT
 *
 * Streaming consumers see the same events; folding them here is how the non-streaming answer is
 * made, so both agree by construction. The JSON shape is documented in glim-parser.h. */
#define G_LOG_DOMAIN "glimmer-parser"

#include "glim-parser-private.h"
#include "glim-pyjson.h"

#include <string.h>

static void
tool_call_free (gpointer data)
{
  GlimParserToolCall *call = data;
  g_free (call->id);
  g_free (call->name);
  g_string_free (call->arguments, TRUE);
  g_free (call);
}

GlimParserMessage *
glim_parser_message_new (gboolean thinking)
{
  GlimParserMessage *msg = g_new0 (GlimParserMessage, 1);
  msg->thinking = thinking;
  msg->reasoning = g_string_new (NULL);
  msg->content = g_string_new (NULL);
  msg->tool_calls = g_ptr_array_new_with_free_func (tool_call_free);
  msg->warnings = g_ptr_array_new_with_free_func (g_free);
  msg->finish = GLIM_PARSER_FINISH_STOP;
  return msg;
}

void
glim_parser_message_free (GlimParserMessage *msg)
{
  if (msg == NULL)
    return;
  g_string_free (msg->reasoning, TRUE);
  g_string_free (msg->content, TRUE);
  g_ptr_array_free (msg->tool_calls, TRUE);
  g_ptr_array_free (msg->warnings, TRUE);
  g_free (msg);
}

void
glim_parser_message_collect (const GlimParserEvent *ev, gpointer user_data)
{
  GlimParserMessage *msg = user_data;
  GlimParserToolCall *call = NULL;
  if (ev->type == GLIM_PARSER_EVENT_TOOL_CALL_ARGS || ev->type == GLIM_PARSER_EVENT_TOOL_CALL_END ||
      ev->type == GLIM_PARSER_EVENT_TOOL_CALL_INVALID) {
    g_return_if_fail (ev->index >= 0 && (guint) ev->index + 1 == msg->tool_calls->len);
    call = g_ptr_array_index (msg->tool_calls, ev->index);
  }
  switch (ev->type) {
  case GLIM_PARSER_EVENT_REASONING:
    g_string_append_len (msg->reasoning, ev->text, (gssize) ev->len);
    break;
  case GLIM_PARSER_EVENT_REASONING_END:
    break;
  case GLIM_PARSER_EVENT_CONTENT:
    g_string_append_len (msg->content, ev->text, (gssize) ev->len);
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_BEGIN:
    g_return_if_fail (ev->index >= 0 && (guint) ev->index == msg->tool_calls->len);
    call = g_new0 (GlimParserToolCall, 1);
    call->id = g_strdup (ev->id);
    call->name = g_strdup (ev->name);
    call->arguments = g_string_new (NULL);
    g_ptr_array_add (msg->tool_calls, call);
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_ARGS:
    g_string_append_len (call->arguments, ev->text, (gssize) ev->len);
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_END:
    /* the fragments must add up to the whole */
    g_warn_if_fail (call->arguments->len == ev->len &&
                    memcmp (call->arguments->str, ev->text, ev->len) == 0);
    g_string_truncate (call->arguments, 0);
    g_string_append_len (call->arguments, ev->text, (gssize) ev->len);
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_INVALID:
    g_ptr_array_remove_index (msg->tool_calls, (guint) ev->index);
    break;
  case GLIM_PARSER_EVENT_WARNING:
    g_ptr_array_add (msg->warnings, g_strndup (ev->text, ev->len));
    break;
  case GLIM_PARSER_EVENT_FINISH:
    msg->finished = TRUE;
    msg->finish = ev->finish;
    break;
  }
}

static gboolean
all_space (const GString *s)
{
  gsize a, b;
  glim_parser_py_strip (s->str, s->len, &a, &b);
  return a == b;
}

const char *
glim_parser_message_content (GlimParserMessage *msg)
{
  g_return_val_if_fail (msg != NULL, NULL);
  if (msg->content->len == 0 || (msg->tool_calls->len > 0 && all_space (msg->content)))
    return NULL;
  return msg->content->str;
}

const char *
glim_parser_message_reasoning (GlimParserMessage *msg)
{
  g_return_val_if_fail (msg != NULL, NULL);
  if (!msg->thinking || msg->reasoning->len == 0)
    return NULL;
  return msg->reasoning->str;
}

static void
append_string (GString *out, const char *s, gsize len)
{
  if (s == NULL) {
    g_string_append (out, "null");
    return;
  }
  glim_pyjson_dump_string (out, s, (gssize) len, GLIM_PYJSON_DUMP_NONE);
}

char *
glim_parser_message_to_json (GlimParserMessage *msg)
{
  g_return_val_if_fail (msg != NULL, NULL);
  GString *out = g_string_new ("{\"role\":\"assistant\",\"content\":");
  const char *content = glim_parser_message_content (msg);
  append_string (out, content, content ? msg->content->len : 0);
  g_string_append (out, ",\"reasoning_content\":");
  const char *reasoning = glim_parser_message_reasoning (msg);
  append_string (out, reasoning, reasoning ? msg->reasoning->len : 0);
  g_string_append (out, ",\"tool_calls\":[");
  for (guint i = 0; i < msg->tool_calls->len; i++) {
    GlimParserToolCall *call = g_ptr_array_index (msg->tool_calls, i);
    if (i > 0)
      g_string_append_c (out, ',');
    g_string_append (out, "{\"id\":");
    append_string (out, call->id, strlen (call->id));
    g_string_append (out, ",\"type\":\"function\",\"function\":{\"name\":");
    append_string (out, call->name, strlen (call->name));
    g_string_append (out, ",\"arguments\":");
    append_string (out, call->arguments->str, call->arguments->len);
    g_string_append (out, "}}");
  }
  g_string_append (out, "],\"finish_reason\":");
  if (msg->finished)
    append_string (out, glim_parser_finish_to_string (msg->finish),
                   strlen (glim_parser_finish_to_string (msg->finish)));
  else
    g_string_append (out, "null");
  g_string_append_c (out, '}');
  return g_string_free (out, FALSE);
}
