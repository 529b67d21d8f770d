/* glimmer-message.c: GlimmerMessage, GlimmerToolCall and the generation settings.
 * SPDX-License-Identifier: MIT
 *
 * Plain boxed structs (glimmer-conversation.h): a message owns its strings, tool calls and
 * settings; copies are deep. */
#define G_LOG_DOMAIN "glimmer-conversation"

#include "glimmer-conversation.h"

/* ---- tool calls ---- */

G_DEFINE_BOXED_TYPE (GlimmerToolCall, glimmer_tool_call, glimmer_tool_call_copy,
                     glimmer_tool_call_free)

GlimmerToolCall *
glimmer_tool_call_new (const char *id, const char *name, const char *arguments)
{
  GlimmerToolCall *call = g_new0 (GlimmerToolCall, 1);
  call->id = g_strdup (id ? id : "");
  call->name = g_strdup (name ? name : "");
  call->arguments = g_strdup (arguments ? arguments : "{}");
  return call;
}

GlimmerToolCall *
glimmer_tool_call_copy (const GlimmerToolCall *call)
{
  g_return_val_if_fail (call != NULL, NULL);
  return glimmer_tool_call_new (call->id, call->name, call->arguments);
}

void
glimmer_tool_call_free (GlimmerToolCall *call)
{
  if (call == NULL)
    return;
  g_free (call->id);
  g_free (call->name);
  g_free (call->arguments);
  g_free (call);
}

/* ---- settings ---- */

void
glimmer_generation_settings_init (GlimmerGenerationSettings *settings)
{
  g_return_if_fail (settings != NULL);
  *settings = (GlimmerGenerationSettings) {
    .temperature = 1.0,
    .top_p = 0.95,
    .top_k = 0,
    .min_p = 0.0,
    .max_tokens = 0,
    .seed = 0,
    .thinking = TRUE,
  };
}

/* ---- messages ---- */

G_DEFINE_BOXED_TYPE (GlimmerMessage, glimmer_message, glimmer_message_copy, glimmer_message_free)

GlimmerMessage *
glimmer_message_new (GlimChatRole role, const char *content)
{
  GlimmerMessage *message = g_new0 (GlimmerMessage, 1);
  message->role = role;
  message->content = g_strdup (content ? content : "");
  message->tool_calls = g_ptr_array_new_with_free_func ((GDestroyNotify) glimmer_tool_call_free);
  message->tool_ok = TRUE;
  message->created = g_get_real_time ();
  return message;
}

GlimmerMessage *
glimmer_message_copy (const GlimmerMessage *message)
{
  g_return_val_if_fail (message != NULL, NULL);
  GlimmerMessage *copy = glimmer_message_new (message->role, message->content);
  copy->reasoning = g_strdup (message->reasoning);
  for (guint i = 0; i < message->tool_calls->len; i++)
    g_ptr_array_add (copy->tool_calls, glimmer_tool_call_copy (message->tool_calls->pdata[i]));
  copy->tool_call_id = g_strdup (message->tool_call_id);
  copy->tool_name = g_strdup (message->tool_name);
  copy->tool_ok = message->tool_ok;
  copy->created = message->created;
  copy->in_progress = message->in_progress;
  copy->interrupted = message->interrupted;
  copy->finish_reason = g_strdup (message->finish_reason);
  copy->has_stats = message->has_stats;
  copy->stats = message->stats;
  if (message->settings)
    copy->settings = g_memdup2 (message->settings, sizeof *message->settings);
  copy->model = g_strdup (message->model);
  return copy;
}

void
glimmer_message_free (GlimmerMessage *message)
{
  if (message == NULL)
    return;
  g_free (message->content);
  g_free (message->reasoning);
  g_ptr_array_unref (message->tool_calls);
  g_free (message->tool_call_id);
  g_free (message->tool_name);
  g_free (message->finish_reason);
  g_free (message->settings);
  g_free (message->model);
  g_free (message);
}

void
glimmer_message_set_content (GlimmerMessage *message, const char *content)
{
  g_return_if_fail (message != NULL);
  g_free (message->content);
  message->content = g_strdup (content ? content : "");
}

void
glimmer_message_set_reasoning (GlimmerMessage *message, const char *reasoning)
{
  g_return_if_fail (message != NULL);
  g_free (message->reasoning);
  message->reasoning = g_strdup (reasoning);
}

void
glimmer_message_add_tool_call (GlimmerMessage *message, const char *id, const char *name,
                               const char *arguments)
{
  g_return_if_fail (message != NULL);
  g_ptr_array_add (message->tool_calls, glimmer_tool_call_new (id, name, arguments));
}

GlimmerToolCall *
glimmer_message_find_tool_call (const GlimmerMessage *message, const char *id)
{
  g_return_val_if_fail (message != NULL, NULL);
  for (guint i = 0; id && i < message->tool_calls->len; i++) {
    GlimmerToolCall *call = message->tool_calls->pdata[i];
    if (g_strcmp0 (call->id, id) == 0)
      return call;
  }
  return NULL;
}

void
glimmer_message_set_settings (GlimmerMessage *message, const GlimmerGenerationSettings *settings)
{
  g_return_if_fail (message != NULL);
  g_clear_pointer (&message->settings, g_free);
  if (settings)
    message->settings = g_memdup2 (settings, sizeof *settings);
}
