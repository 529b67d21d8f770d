/* glimmer-conversation.c: the GlimmerConversation object: identity, title, message list,
 * search and the engine request of the next turn.
 * SPDX-License-Identifier: MIT
 *
 * The JSON and Markdown forms are in glimmer-conversation-json.c. */
#define G_LOG_DOMAIN "glimmer-conversation"

#include "glimmer-conversation.h"
#include "glimmer-conversation-private.h"

#include <string.h>

struct _GlimmerConversation {
  GObject    parent_instance;
  char      *id;        /* UUID; the file name is <id>.json */
  char      *title;     /* never NULL */
  gint64     created;   /* unix µs */
  gint64     updated;   /* unix µs */
  GPtrArray *messages;  /* GlimmerMessage * */
};

G_DEFINE_TYPE (GlimmerConversation, glimmer_conversation, G_TYPE_OBJECT)
G_DEFINE_QUARK (glimmer-conversation-error-quark, glimmer_conversation_error)

enum { PROP_0, PROP_ID, PROP_TITLE, PROP_UPDATED, PROP_N_MESSAGES, N_PROPS };
static GParamSpec *props[N_PROPS];

enum { MESSAGES_CHANGED, MESSAGE_UPDATED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- GObject ---- */

static void
glimmer_conversation_finalize (GObject *object)
{
  GlimmerConversation *self = GLIMMER_CONVERSATION (object);
  g_free (self->id);
  g_free (self->title);
  g_ptr_array_unref (self->messages);
  G_OBJECT_CLASS (glimmer_conversation_parent_class)->finalize (object);
}

static void
glimmer_conversation_get_property (GObject *object, guint prop_id, GValue *value,
                                   GParamSpec *pspec)
{
  GlimmerConversation *self = GLIMMER_CONVERSATION (object);
  switch (prop_id) {
  case PROP_ID: g_value_set_string (value, self->id); break;
  case PROP_TITLE: g_value_set_string (value, self->title); break;
  case PROP_UPDATED: g_value_set_int64 (value, self->updated); break;
  case PROP_N_MESSAGES: g_value_set_uint (value, self->messages->len); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
glimmer_conversation_set_property (GObject *object, guint prop_id, const GValue *value,
                                   GParamSpec *pspec)
{
  GlimmerConversation *self = GLIMMER_CONVERSATION (object);
  switch (prop_id) {
  case PROP_ID:
    g_free (self->id);
    self->id = g_value_dup_string (value);
    if (self->id == NULL)
      self->id = g_uuid_string_random ();
    break;
  case PROP_TITLE: glimmer_conversation_set_title (self, g_value_get_string (value)); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
glimmer_conversation_class_init (GlimmerConversationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = glimmer_conversation_finalize;
  object_class->get_property = glimmer_conversation_get_property;
  object_class->set_property = glimmer_conversation_set_property;

  props[PROP_ID] = g_param_spec_string ("id", NULL, NULL, NULL,
      G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  props[PROP_TITLE] = g_param_spec_string ("title", NULL, NULL, "",
      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_UPDATED] = g_param_spec_int64 ("updated", NULL, NULL, 0, G_MAXINT64, 0,
      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_N_MESSAGES] = g_param_spec_uint ("n-messages", NULL, NULL, 0, G_MAXUINT, 0,
      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);

  signals[MESSAGES_CHANGED] = g_signal_new ("messages-changed", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_UINT, G_TYPE_UINT,
      G_TYPE_UINT);
  signals[MESSAGE_UPDATED] = g_signal_new ("message-updated", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
}

static void
glimmer_conversation_init (GlimmerConversation *self)
{
  self->title = g_strdup ("");
  self->created = self->updated = g_get_real_time ();
  self->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) glimmer_message_free);
}

/* ---- identity and title ---- */

GlimmerConversation *
glimmer_conversation_new (void)
{
  return g_object_new (GLIMMER_TYPE_CONVERSATION, NULL);
}

GlimmerConversation *
_glimmer_conversation_new_full (const char *id, gint64 created, gint64 updated)
{
  GlimmerConversation *self = g_object_new (GLIMMER_TYPE_CONVERSATION, "id", id, NULL);
  self->created = created;
  self->updated = updated;
  return self;
}

const char *
glimmer_conversation_get_id (GlimmerConversation *self)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), NULL);
  return self->id;
}

const char *
glimmer_conversation_get_title (GlimmerConversation *self)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), NULL);
  return self->title;
}

void
glimmer_conversation_set_title (GlimmerConversation *self, const char *title)
{
  g_return_if_fail (GLIMMER_IS_CONVERSATION (self));
  if (title == NULL)
    title = "";
  if (g_strcmp0 (self->title, title) == 0)
    return;
  g_free (self->title);
  self->title = g_utf8_make_valid (title, -1);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_TITLE]);
}

gboolean
glimmer_conversation_derive_title (GlimmerConversation *self)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), FALSE);
  if (self->title[0] != '\0')
    return FALSE;
  for (guint i = 0; i < self->messages->len; i++) {
    GlimmerMessage *m = self->messages->pdata[i];
    if (m->role != GLIM_CHAT_ROLE_USER)
      continue;
    g_autofree char *text = g_utf8_make_valid (m->content, -1);
    g_strstrip (text);
    char *nl = strchr (text, '\n');
    if (nl)
      *nl = '\0';
    g_strstrip (text);
    if (text[0] == '\0')
      return FALSE;
    const glong max_chars = 60;
    if (g_utf8_strlen (text, -1) > max_chars) {
      char *end = g_utf8_offset_to_pointer (text, max_chars);
      *end = '\0';
      char *space = strrchr (text, ' ');
      if (space && space > text + 20)
        *space = '\0';
      g_autofree char *cut = g_strconcat (g_strchomp (text), "…", NULL);
      glimmer_conversation_set_title (self, cut);
    } else {
      glimmer_conversation_set_title (self, text);
    }
    return TRUE;
  }
  return FALSE;
}

gint64
glimmer_conversation_get_created (GlimmerConversation *self)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), 0);
  return self->created;
}

gint64
glimmer_conversation_get_updated (GlimmerConversation *self)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), 0);
  return self->updated;
}

void
glimmer_conversation_touch (GlimmerConversation *self)
{
  g_return_if_fail (GLIMMER_IS_CONVERSATION (self));
  gint64 now = g_get_real_time ();
  self->updated = MAX (now, self->updated + 1);  /* strictly later: keeps the order stable */
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_UPDATED]);
}

/* ---- messages ---- */

guint
glimmer_conversation_get_n_messages (GlimmerConversation *self)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), 0);
  return self->messages->len;
}

GlimmerMessage *
glimmer_conversation_get_message (GlimmerConversation *self, guint i)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), NULL);
  g_return_val_if_fail (i < self->messages->len, NULL);
  return self->messages->pdata[i];
}

void
_glimmer_conversation_append_quiet (GlimmerConversation *self, GlimmerMessage *message)
{
  g_ptr_array_add (self->messages, message);
}

guint
glimmer_conversation_append (GlimmerConversation *self, GlimmerMessage *message)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), 0);
  g_return_val_if_fail (message != NULL, 0);
  guint i = self->messages->len;
  g_ptr_array_add (self->messages, message);
  glimmer_conversation_touch (self);
  g_signal_emit (self, signals[MESSAGES_CHANGED], 0, i, 0u, 1u);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_N_MESSAGES]);
  return i;
}

void
glimmer_conversation_remove (GlimmerConversation *self, guint i)
{
  g_return_if_fail (GLIMMER_IS_CONVERSATION (self));
  g_return_if_fail (i < self->messages->len);
  g_ptr_array_remove_index (self->messages, i);
  glimmer_conversation_touch (self);
  g_signal_emit (self, signals[MESSAGES_CHANGED], 0, i, 1u, 0u);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_N_MESSAGES]);
}

void
glimmer_conversation_truncate (GlimmerConversation *self, guint i)
{
  g_return_if_fail (GLIMMER_IS_CONVERSATION (self));
  if (i >= self->messages->len)
    return;
  guint removed = self->messages->len - i;
  g_ptr_array_remove_range (self->messages, i, removed);
  glimmer_conversation_touch (self);
  g_signal_emit (self, signals[MESSAGES_CHANGED], 0, i, removed, 0u);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_N_MESSAGES]);
}

void
glimmer_conversation_message_updated (GlimmerConversation *self, guint i)
{
  g_return_if_fail (GLIMMER_IS_CONVERSATION (self));
  g_return_if_fail (i < self->messages->len);
  glimmer_conversation_touch (self);
  g_signal_emit (self, signals[MESSAGE_UPDATED], 0, i);
}

/* ---- search ---- */

static gboolean
text_contains (const char *haystack, const char *needle_folded)
{
  if (haystack == NULL || haystack[0] == '\0')
    return FALSE;
  g_autofree char *valid = g_utf8_make_valid (haystack, -1);
  g_autofree char *folded = g_utf8_casefold (valid, -1);
  return strstr (folded, needle_folded) != NULL;
}

gboolean
glimmer_conversation_matches (GlimmerConversation *self, const char *query)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), FALSE);
  if (query == NULL)
    return TRUE;
  g_autofree char *valid = g_utf8_make_valid (query, -1);
  g_strstrip (valid);
  if (valid[0] == '\0')
    return TRUE;
  g_autofree char *needle = g_utf8_casefold (valid, -1);
  if (text_contains (self->title, needle))
    return TRUE;
  for (guint i = 0; i < self->messages->len; i++) {
    GlimmerMessage *m = self->messages->pdata[i];
    if (text_contains (m->content, needle) || text_contains (m->reasoning, needle))
      return TRUE;
  }
  return FALSE;
}

/* ---- the engine request ---- */

GlimChatRequest *
glimmer_conversation_to_request (GlimmerConversation *self, gboolean thinking, GError **error)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), NULL);
  g_autoptr (GlimChatRequest) req = glim_chat_request_new ();
  for (guint i = 0; i < self->messages->len; i++) {
    GlimmerMessage *m = self->messages->pdata[i];
    GlimChatMessage *cm = glim_chat_request_add_message (req, m->role, m->content);
    if (m->role != GLIM_CHAT_ROLE_ASSISTANT)
      continue;
    if (m->reasoning)
      glim_chat_message_set_reasoning (cm, m->reasoning);
    for (guint k = 0; k < m->tool_calls->len; k++) {
      GlimmerToolCall *call = m->tool_calls->pdata[k];
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GError) local = NULL;
      if (!json_parser_load_from_data (parser, call->arguments, -1, &local) ||
          !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
        g_set_error (error, GLIMMER_CONVERSATION_ERROR, GLIMMER_CONVERSATION_ERROR_INVALID,
                     "message %u, tool call %u (%s): arguments are not a JSON object%s%s", i + 1,
                     k + 1, call->name, local ? ": " : "", local ? local->message : "");
        return NULL;
      }
      glim_chat_message_add_tool_call (cm, call->name,
                                       json_node_get_object (json_parser_get_root (parser)));
    }
  }
  glim_chat_request_set_enable_thinking (req, thinking ? GLIM_CHAT_FLAG_TRUE
                                                       : GLIM_CHAT_FLAG_FALSE);
  glim_chat_request_set_add_generation_prompt (req, TRUE);
  return g_steal_pointer (&req);
}
