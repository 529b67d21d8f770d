/* glimmer-conversation.h: one chat as the app keeps it: messages in the engine's full form.
 * SPDX-License-Identifier: MIT
 *
 * A GlimmerConversation (GObject, main thread only) has an id, a title, created/updated times
 * and an ordered list of GlimmerMessage. Messages keep everything the engine needs to continue
 * the chat exactly: role, content, the assistant's reasoning and tool calls ({id, name,
 * arguments JSON}), the tool_call_id a tool result answers, per-message statistics and the
 * settings a reply was generated with. JSON (the history file format, schema version
 * GLIMMER_CONVERSATION_SCHEMA_VERSION) and Markdown forms are produced here; the history store
 * (glimmer-history.h) only moves files. No widgets: GLib, json-glib and the engine's chat types. */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

#include "glim.h"

G_BEGIN_DECLS

#define GLIMMER_CONVERSATION_SCHEMA_VERSION 1

#define GLIMMER_CONVERSATION_ERROR (glimmer_conversation_error_quark ())

typedef enum {
  GLIMMER_CONVERSATION_ERROR_INVALID,     /* JSON that is not a conversation (names the key) */
  GLIMMER_CONVERSATION_ERROR_VERSION,     /* schema_version newer than this build understands */
} GlimmerConversationError;

GQuark glimmer_conversation_error_quark (void);

/* ---- tool calls ---- */

typedef struct {
  char *id;          /* "chatcmpl-tool-<32 hex>", as the parser made it */
  char *name;        /* the tool's name */
  char *arguments;   /* a JSON object as text, never NULL ("{}") */
} GlimmerToolCall;

GType            glimmer_tool_call_get_type (void) G_GNUC_CONST;
#define GLIMMER_TYPE_TOOL_CALL (glimmer_tool_call_get_type ())
GlimmerToolCall *glimmer_tool_call_new  (const char *id, const char *name, const char *arguments);
GlimmerToolCall *glimmer_tool_call_copy (const GlimmerToolCall *call);
void             glimmer_tool_call_free (GlimmerToolCall *call);

/* ---- generation settings and statistics ---- */

/* The settings a reply is (was) generated with; stored with each assistant message. */
typedef struct {
  double   temperature;   /* <= 0: greedy */
  double   top_p;         /* >= 1: off */
  int      top_k;         /* <= 0: off */
  double   min_p;         /* <= 0: off */
  int      max_tokens;    /* <= 0: until the context is full */
  guint64  seed;          /* 0: a random seed per reply */
  gboolean thinking;      /* the model reasons before answering */
} GlimmerGenerationSettings;

/* temperature 1.0, top_p 0.95, top_k 0, min_p 0, max_tokens 0, seed 0, thinking on
 * (the model card's recommended sampling). */
void glimmer_generation_settings_init (GlimmerGenerationSettings *settings);

typedef struct {
  double tokens_per_second;  /* decode speed; 0 when unknown */
  int    n_prompt;           /* tokens of the prompt this reply was generated from */
  int    n_generated;        /* tokens generated */
  double thinking_seconds;   /* time spent reasoning; 0 when there was none */
} GlimmerMessageStats;

/* ---- messages ---- */

typedef struct {
  GlimChatRole  role;
  char         *content;       /* never NULL ("" when empty) */
  char         *reasoning;     /* assistant: the reasoning text, NULL when none */
  GPtrArray    *tool_calls;    /* assistant: GlimmerToolCall *, never NULL, may be empty */
  char         *tool_call_id;  /* tool: the call this result answers; NULL otherwise */
  char         *tool_name;     /* tool: the name of that call (for display); NULL otherwise */
  gboolean      tool_ok;       /* tool: FALSE when the result text describes an error */
  gint64        created;       /* unix time in microseconds (g_get_real_time) */
  gboolean      in_progress;   /* assistant: still being generated (a crash leaves it TRUE in
                                * the file; loading keeps the text and sets `interrupted`) */
  gboolean      interrupted;   /* assistant: generation was stopped or crashed before the end */
  char         *finish_reason; /* assistant: "stop", "length", "tool_calls"; NULL if unknown */
  gboolean      has_stats;
  GlimmerMessageStats stats;
  GlimmerGenerationSettings *settings;  /* assistant replies: what they were generated with;
                                         * NULL otherwise */
  char         *model;         /* assistant replies: the model folder's name; NULL if unknown */
} GlimmerMessage;

GType           glimmer_message_get_type (void) G_GNUC_CONST;
#define GLIMMER_TYPE_MESSAGE (glimmer_message_get_type ())
/* A new message with `content` (NULL: ""), created now. */
GlimmerMessage *glimmer_message_new           (GlimChatRole role, const char *content);
GlimmerMessage *glimmer_message_copy          (const GlimmerMessage *message);
void            glimmer_message_free          (GlimmerMessage *message);
void            glimmer_message_set_content   (GlimmerMessage *message, const char *content);
void            glimmer_message_set_reasoning (GlimmerMessage *message, const char *reasoning);
/* Append a tool call (assistant messages); `arguments` NULL means "{}". */
void            glimmer_message_add_tool_call (GlimmerMessage *message, const char *id,
                                               const char *name, const char *arguments);
/* The tool call with this id, or NULL. */
GlimmerToolCall *glimmer_message_find_tool_call (const GlimmerMessage *message, const char *id);
void            glimmer_message_set_settings  (GlimmerMessage *message,
                                               const GlimmerGenerationSettings *settings);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimmerToolCall, glimmer_tool_call_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimmerMessage, glimmer_message_free)

/* ---- the conversation ---- */

#define GLIMMER_TYPE_CONVERSATION (glimmer_conversation_get_type ())
G_DECLARE_FINAL_TYPE (GlimmerConversation, glimmer_conversation, GLIMMER, CONVERSATION, GObject)

/* Properties: "id" (construct-only string), "title" (string), "updated" (gint64, unix µs),
 * "n-messages" (guint). Signals:
 *   "messages-changed" (guint position, guint removed, guint added): like
 *       GListModel::items-changed, for the message list;
 *   "message-updated" (guint position): a message's fields changed in place (streaming). */

/* A new, empty conversation: a random id (UUID), title "", created = updated = now. */
GlimmerConversation *glimmer_conversation_new          (void);
const char          *glimmer_conversation_get_id       (GlimmerConversation *self);
/* The title; "" until one is set or derived. */
const char          *glimmer_conversation_get_title    (GlimmerConversation *self);
void                 glimmer_conversation_set_title    (GlimmerConversation *self,
                                                        const char *title);
/* If the title is empty, set it from the first user message (first line, at most 60
 * characters, cut at a word). Returns TRUE when it changed the title. */
gboolean             glimmer_conversation_derive_title (GlimmerConversation *self);
gint64               glimmer_conversation_get_created  (GlimmerConversation *self);
gint64               glimmer_conversation_get_updated  (GlimmerConversation *self);
/* updated = now (done by every message change below). */
void                 glimmer_conversation_touch        (GlimmerConversation *self);

guint                glimmer_conversation_get_n_messages (GlimmerConversation *self);
/* Borrowed; valid until the message is removed. Changing its fields: call
 * glimmer_conversation_message_updated afterwards. */
GlimmerMessage      *glimmer_conversation_get_message  (GlimmerConversation *self, guint i);
/* Appends; takes ownership. Returns the index. */
guint                glimmer_conversation_append       (GlimmerConversation *self,
                                                        GlimmerMessage *message);
/* Remove message i (delete). */
void                 glimmer_conversation_remove       (GlimmerConversation *self, guint i);
/* Remove messages i.. to the end (regenerate, edit-and-resend). */
void                 glimmer_conversation_truncate     (GlimmerConversation *self, guint i);
/* Emit "message-updated" for i and touch. */
void                 glimmer_conversation_message_updated (GlimmerConversation *self, guint i);

/* Case-insensitive match of `query` against the title and every message's content and
 * reasoning; an empty query matches everything. */
gboolean             glimmer_conversation_matches      (GlimmerConversation *self,
                                                        const char *query);

/* The engine request for the next turn: every message in order (assistant reasoning and tool
 * calls included, so the prompt is the one the model saw), enable_thinking from `thinking`,
 * add_generation_prompt TRUE. Tools are not added (the worker adds its registry's). A message
 * whose tool-call arguments are not a JSON object is an error naming the message. */
GlimChatRequest     *glimmer_conversation_to_request   (GlimmerConversation *self,
                                                        gboolean thinking, GError **error);

/* ---- file forms ---- */

/* The history file form: {"schema_version":1,"id","title","created","updated","messages":[...]}
 * with times as ISO 8601 UTC strings. */
JsonNode            *glimmer_conversation_to_json      (GlimmerConversation *self);
/* The same, pretty-printed (the JSON export). */
char                *glimmer_conversation_to_json_data (GlimmerConversation *self);
/* Read the form above. Errors name the key ("messages[2].tool_calls[0].name: missing").
 * An in-progress message (a crash mid-reply) is kept, marked interrupted. */
GlimmerConversation *glimmer_conversation_new_from_json (JsonNode *root, GError **error);
GlimmerConversation *glimmer_conversation_new_from_data (const char *data, gssize len,
                                                         GError **error);
/* A readable Markdown export: title, then one section per message (reasoning as a quote,
 * tool calls as ```json blocks, tool results as ``` blocks). */
char                *glimmer_conversation_to_markdown  (GlimmerConversation *self);

G_END_DECLS
