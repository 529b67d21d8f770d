/* glim-chat.h: OpenAI-style chat requests and their GLM-4.7-Flash prompt text.
 * SPDX-License-Identifier: MIT
 *
 * A GlimChatRequest holds what the chat template reads, after the normalisation vLLM applies to
 * a /v1/chat/completions body (docs: chat-format.md §1.3-§1.5):
 *   - content: a string, null (-> "") or a list of text parts (joined with "\n"; empty parts
 *     dropped); image/audio parts are refused;
 *   - assistant history: `reasoning` or `reasoning_content` (Python `reasoning or
 *     reasoning_content`), `tool_calls[].function.arguments` as an object or a JSON string
 *     holding one (null / "" -> {});
 *   - `tools` as vLLM dumps them: {"type", "function": {"name", "description", "parameters",
 *     extra keys...}, extra keys...}, description/parameters null when absent;
 *   - chat_template_kwargs.enable_thinking / clear_thinking (tri-state), add_generation_prompt
 *     (default true). Roles are system, user, assistant and tool; anything else is refused.
 * glim_chat_render() turns it into the exact prompt text the real Jinja template renders in
 * transformers' environment (chat-format.md §1.2), byte for byte. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define GLIM_CHAT_ERROR (glim_chat_error_quark ())

typedef enum {
  GLIM_CHAT_ERROR_INVALID_JSON,     /* the body, or an arguments string, is not valid JSON */
  GLIM_CHAT_ERROR_INVALID_REQUEST,  /* a field is missing or has the wrong type or value */
  GLIM_CHAT_ERROR_UNSUPPORTED,      /* valid OpenAI input Glimmer does not handle (images) */
} GlimChatError;

GQuark glim_chat_error_quark (void);

typedef enum {
  GLIM_CHAT_ROLE_SYSTEM,
  GLIM_CHAT_ROLE_USER,
  GLIM_CHAT_ROLE_ASSISTANT,
  GLIM_CHAT_ROLE_TOOL,
} GlimChatRole;

/* A template switch: absent, or present and true / false. Like the template's
 * `x is defined and not x`, a JSON null counts as present and false. */
typedef enum {
  GLIM_CHAT_FLAG_UNSET,
  GLIM_CHAT_FLAG_TRUE,
  GLIM_CHAT_FLAG_FALSE,
} GlimChatFlag;

typedef struct {
  char       *name;
  JsonObject *arguments;     /* never NULL; member order as the client sent it */
} GlimChatToolCall;

typedef struct {
  GlimChatRole role;
  char        *content;      /* the text, never NULL ("" for null content) */
  char        *reasoning;    /* assistant only: earlier reasoning, NULL when not given */
  GPtrArray   *tool_calls;   /* assistant only: GlimChatToolCall *, never NULL, may be empty */
} GlimChatMessage;

typedef struct {
  char       *name;
  char       *description;   /* NULL when absent */
  JsonObject *parameters;    /* the JSON schema, NULL when absent */
  JsonNode   *spec;          /* the whole tool object exactly as it goes into the prompt */
} GlimChatTool;

typedef struct _GlimChatRequest GlimChatRequest;

/* "system", "user", "assistant", "tool". */
const char      *glim_chat_role_to_string   (GlimChatRole role);

/* ---- parsing: an OpenAI chat completion request body ---- */

/* Parse `json` (len bytes, or -1 for NUL-terminated; a UTF-8 BOM is skipped) as Python's
 * json.loads would (see glim-pyjson.h for the few values refused instead). Errors name the field:
 * "messages[3].tool_calls[0].function.arguments: not valid JSON: ...". Unknown fields
 * (model, temperature, ...) are ignored. */
GlimChatRequest *glim_chat_request_parse      (const char *json, gssize len, GError **error);
/* The same from an already parsed body; `root` is not modified or kept. */
GlimChatRequest *glim_chat_request_parse_node (JsonNode *root, GError **error);

/* ---- building a request without JSON ---- */

/* An empty request: no messages, no tools, flags unset, add_generation_prompt TRUE. */
GlimChatRequest *glim_chat_request_new        (void);
void             glim_chat_request_free       (GlimChatRequest *req);
/* Append a message (content NULL means ""). The message belongs to `req`. */
GlimChatMessage *glim_chat_request_add_message (GlimChatRequest *req, GlimChatRole role,
                                                const char *content);
/* Set (or, with NULL, clear) an assistant message's reasoning. Assistant messages only. */
void             glim_chat_message_set_reasoning (GlimChatMessage *msg, const char *reasoning);
/* Append a tool call to an assistant message; `arguments` is referenced (NULL means {}).
 * Assistant messages only. */
void             glim_chat_message_add_tool_call (GlimChatMessage *msg, const char *name,
                                                  JsonObject *arguments);
/* Append a function tool; `parameters` (a JSON schema, may be NULL) is referenced. */
const GlimChatTool *glim_chat_request_add_tool (GlimChatRequest *req, const char *name,
                                                const char *description,
                                                JsonObject *parameters);
void glim_chat_request_set_enable_thinking       (GlimChatRequest *req, GlimChatFlag flag);
void glim_chat_request_set_clear_thinking        (GlimChatRequest *req, GlimChatFlag flag);
void glim_chat_request_set_add_generation_prompt (GlimChatRequest *req, gboolean add);

/* ---- reading ---- */

guint                  glim_chat_request_get_n_messages (const GlimChatRequest *req);
const GlimChatMessage *glim_chat_request_get_message    (const GlimChatRequest *req, guint i);
guint                  glim_chat_request_get_n_tools    (const GlimChatRequest *req);
const GlimChatTool    *glim_chat_request_get_tool       (const GlimChatRequest *req, guint i);
/* The first tool called `name`, or NULL. */
const GlimChatTool    *glim_chat_request_find_tool      (const GlimChatRequest *req,
                                                         const char *name);
GlimChatFlag           glim_chat_request_get_enable_thinking (const GlimChatRequest *req);
GlimChatFlag           glim_chat_request_get_clear_thinking  (const GlimChatRequest *req);
gboolean               glim_chat_request_get_add_generation_prompt (const GlimChatRequest *req);
/* TRUE unless enable_thinking is false: the generation prompt then ends in "<think>" and the
 * model's output starts inside its reasoning. */
gboolean               glim_chat_request_get_thinking   (const GlimChatRequest *req);

/* ---- rendering (glim-chat-render.c) ---- */

/* The prompt text, starting "[gMASK]<sop>", exactly as the template renders it; no added
 * newline. Every request the parser or builder accepts renders; `error` is for the future. */
char            *glim_chat_render             (const GlimChatRequest *req, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimChatRequest, glim_chat_request_free)

G_END_DECLS
