/* glim-chat.c: the chat request model, its builder, and the parser for OpenAI request bodies.
 * SPDX-License-Identifier: MIT
 * Untrusted input: every field the template reads is type-checked, and every error names the
 * field ("messages[2].content[0].text: must be a string"). The normalisation mirrors vLLM's
 * (chat_utils.py _parse_chat_message_content / _postprocess_messages, protocol.py
 * ChatCompletionToolsParam.model_dump), so rendering gives what a vLLM server would feed the
 * model. */
#define G_LOG_DOMAIN "glimmer-chat"

#include "glim-chat.h"
#include "glim-pyjson.h"

#include <string.h>

struct _GlimChatRequest {
  GPtrArray   *messages;               /* GlimChatMessage * */
  GPtrArray   *tools;                  /* GlimChatTool * */
  GlimChatFlag enable_thinking;
  GlimChatFlag clear_thinking;
  gboolean     add_generation_prompt;
};

G_DEFINE_QUARK (glim-chat-error-quark, glim_chat_error)

static const char *const role_names[] = { "system", "user", "assistant", "tool" };

const char *
glim_chat_role_to_string (GlimChatRole role)
{
  g_return_val_if_fail ((guint) role < G_N_ELEMENTS (role_names), NULL);
  return role_names[role];
}

/* ---- model and builder ---- */

static void
tool_call_free (gpointer p)
{
  GlimChatToolCall *tc = p;
  g_free (tc->name);
  json_object_unref (tc->arguments);
  g_free (tc);
}

static void
message_free (gpointer p)
{
  GlimChatMessage *msg = p;
  g_free (msg->content);
  g_free (msg->reasoning);
  g_ptr_array_unref (msg->tool_calls);
  g_free (msg);
}

static void
tool_free (gpointer p)
{
  GlimChatTool *tool = p;
  g_free (tool->name);
  g_free (tool->description);
  g_clear_pointer (&tool->parameters, json_object_unref);
  json_node_unref (tool->spec);
  g_free (tool);
}

GlimChatRequest *
glim_chat_request_new (void)
{
  GlimChatRequest *req = g_new0 (GlimChatRequest, 1);
  req->messages = g_ptr_array_new_with_free_func (message_free);
  req->tools = g_ptr_array_new_with_free_func (tool_free);
  req->add_generation_prompt = TRUE;
  return req;
}

void
glim_chat_request_free (GlimChatRequest *req)
{
  if (req == NULL)
    return;
  g_ptr_array_unref (req->messages);
  g_ptr_array_unref (req->tools);
  g_free (req);
}

/* Takes ownership of `content`. */
static GlimChatMessage *
add_message_take (GlimChatRequest *req, GlimChatRole role, char *content)
{
  GlimChatMessage *msg = g_new0 (GlimChatMessage, 1);
  msg->role = role;
  msg->content = content;
  msg->tool_calls = g_ptr_array_new_with_free_func (tool_call_free);
  g_ptr_array_add (req->messages, msg);
  return msg;
}

GlimChatMessage *
glim_chat_request_add_message (GlimChatRequest *req, GlimChatRole role, const char *content)
{
  g_return_val_if_fail (req != NULL, NULL);
  g_return_val_if_fail ((guint) role < G_N_ELEMENTS (role_names), NULL);
  g_return_val_if_fail (content == NULL || g_utf8_validate (content, -1, NULL), NULL);
  return add_message_take (req, role, g_strdup (content ? content : ""));
}

void
glim_chat_message_set_reasoning (GlimChatMessage *msg, const char *reasoning)
{
  g_return_if_fail (msg != NULL && msg->role == GLIM_CHAT_ROLE_ASSISTANT);
  g_return_if_fail (reasoning == NULL || g_utf8_validate (reasoning, -1, NULL));
  g_free (msg->reasoning);
  msg->reasoning = g_strdup (reasoning);
}

/* Takes ownership of `name` and `arguments`. */
static void
add_tool_call_take (GlimChatMessage *msg, char *name, JsonObject *arguments)
{
  GlimChatToolCall *tc = g_new0 (GlimChatToolCall, 1);
  tc->name = name;
  tc->arguments = arguments;
  g_ptr_array_add (msg->tool_calls, tc);
}

void
glim_chat_message_add_tool_call (GlimChatMessage *msg, const char *name, JsonObject *arguments)
{
  g_return_if_fail (msg != NULL && msg->role == GLIM_CHAT_ROLE_ASSISTANT);
  g_return_if_fail (name != NULL && g_utf8_validate (name, -1, NULL));
  add_tool_call_take (msg, g_strdup (name),
                      arguments ? json_object_ref (arguments) : json_object_new ());
}

static JsonNode *
string_or_null (const char *s)
{
  JsonNode *n = json_node_alloc ();
  if (s != NULL)
    json_node_init_string (n, s);
  else
    json_node_init_null (n);
  return n;
}

/* The tool as vLLM's ChatCompletionToolsParam.model_dump() gives it: declared fields first
 * (type; function: name, description, parameters), then the client's extra keys in order. */
static JsonNode *
tool_spec (const char *name, const char *description, JsonObject *parameters,
           JsonObject *function_in, JsonObject *tool_in)
{
  JsonObject *function = json_object_new ();
  json_object_set_string_member (function, "name", name);
  json_object_set_member (function, "description", string_or_null (description));
  if (parameters != NULL)
    json_object_set_object_member (function, "parameters", json_object_ref (parameters));
  else
    json_object_set_null_member (function, "parameters");
  JsonObjectIter it;
  const char *key;
  JsonNode *value;
  if (function_in != NULL) {
    json_object_iter_init_ordered (&it, function_in);
    while (json_object_iter_next_ordered (&it, &key, &value))
      if (!json_object_has_member (function, key))
        json_object_set_member (function, key, json_node_copy (value));
  }
  JsonObject *tool = json_object_new ();
  json_object_set_string_member (tool, "type", "function");
  json_object_set_object_member (tool, "function", function);
  if (tool_in != NULL) {
    json_object_iter_init_ordered (&it, tool_in);
    while (json_object_iter_next_ordered (&it, &key, &value))
      if (!json_object_has_member (tool, key))
        json_object_set_member (tool, key, json_node_copy (value));
  }
  JsonNode *node = json_node_alloc ();
  json_node_init_object (node, tool);
  json_object_unref (tool);
  return node;
}

static GlimChatTool *
add_tool_full (GlimChatRequest *req, const char *name, const char *description,
               JsonObject *parameters, JsonObject *function_in, JsonObject *tool_in)
{
  GlimChatTool *tool = g_new0 (GlimChatTool, 1);
  tool->name = g_strdup (name);
  tool->description = g_strdup (description);
  tool->parameters = parameters ? json_object_ref (parameters) : NULL;
  tool->spec = tool_spec (name, description, parameters, function_in, tool_in);
  g_ptr_array_add (req->tools, tool);
  return tool;
}

const GlimChatTool *
glim_chat_request_add_tool (GlimChatRequest *req, const char *name, const char *description,
                            JsonObject *parameters)
{
  g_return_val_if_fail (req != NULL && name != NULL && g_utf8_validate (name, -1, NULL), NULL);
  g_return_val_if_fail (description == NULL || g_utf8_validate (description, -1, NULL), NULL);
  return add_tool_full (req, name, description, parameters, NULL, NULL);
}

void
glim_chat_request_set_enable_thinking (GlimChatRequest *req, GlimChatFlag flag)
{
  g_return_if_fail (req != NULL);
  req->enable_thinking = flag;
}

void
glim_chat_request_set_clear_thinking (GlimChatRequest *req, GlimChatFlag flag)
{
  g_return_if_fail (req != NULL);
  req->clear_thinking = flag;
}

void
glim_chat_request_set_add_generation_prompt (GlimChatRequest *req, gboolean add)
{
  g_return_if_fail (req != NULL);
  req->add_generation_prompt = add;
}

/* ---- reading ---- */

guint
glim_chat_request_get_n_messages (const GlimChatRequest *req)
{
  g_return_val_if_fail (req != NULL, 0);
  return req->messages->len;
}

const GlimChatMessage *
glim_chat_request_get_message (const GlimChatRequest *req, guint i)
{
  g_return_val_if_fail (req != NULL && i < req->messages->len, NULL);
  return g_ptr_array_index (req->messages, i);
}

guint
glim_chat_request_get_n_tools (const GlimChatRequest *req)
{
  g_return_val_if_fail (req != NULL, 0);
  return req->tools->len;
}

const GlimChatTool *
glim_chat_request_get_tool (const GlimChatRequest *req, guint i)
{
  g_return_val_if_fail (req != NULL && i < req->tools->len, NULL);
  return g_ptr_array_index (req->tools, i);
}

const GlimChatTool *
glim_chat_request_find_tool (const GlimChatRequest *req, const char *name)
{
  g_return_val_if_fail (req != NULL && name != NULL, NULL);
  for (guint i = 0; i < req->tools->len; i++) {
    const GlimChatTool *tool = g_ptr_array_index (req->tools, i);
    if (strcmp (tool->name, name) == 0)
      return tool;
  }
  return NULL;
}

GlimChatFlag
glim_chat_request_get_enable_thinking (const GlimChatRequest *req)
{
  g_return_val_if_fail (req != NULL, GLIM_CHAT_FLAG_UNSET);
  return req->enable_thinking;
}

GlimChatFlag
glim_chat_request_get_clear_thinking (const GlimChatRequest *req)
{
  g_return_val_if_fail (req != NULL, GLIM_CHAT_FLAG_UNSET);
  return req->clear_thinking;
}

gboolean
glim_chat_request_get_add_generation_prompt (const GlimChatRequest *req)
{
  g_return_val_if_fail (req != NULL, TRUE);
  return req->add_generation_prompt;
}

gboolean
glim_chat_request_get_thinking (const GlimChatRequest *req)
{
  g_return_val_if_fail (req != NULL, TRUE);
  return req->enable_thinking != GLIM_CHAT_FLAG_FALSE;
}

/* ---- parser: field helpers ---- */

static gboolean
fail (GError **error, int code, const char *path, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
fail (GError **error, int code, const char *path, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, GLIM_CHAT_ERROR, code, "%s: %s", path, msg);
  return FALSE;
}

#define INVALID GLIM_CHAT_ERROR_INVALID_REQUEST

/* glim-pyjson's errors (not JSON, or a value Glimmer cannot hold) are INVALID_JSON here; their
 * messages already name the text and the place in it. */
static void
set_json_error (GError **error, const GError *pyjson_error)
{
  g_set_error_literal (error, GLIM_CHAT_ERROR, GLIM_CHAT_ERROR_INVALID_JSON,
                       pyjson_error->message);
}

static gboolean
is_null (JsonNode *n)
{
  return n == NULL || JSON_NODE_HOLDS_NULL (n);
}

static gboolean
is_type (JsonNode *n, GType type)
{
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == type;
}

/* "a list", "a number", ... for messages. */
static const char *
kind (JsonNode *n)
{
  if (is_null (n))
    return "null";
  if (JSON_NODE_HOLDS_OBJECT (n))
    return "an object";
  if (JSON_NODE_HOLDS_ARRAY (n))
    return "a list";
  GType t = json_node_get_value_type (n);
  if (t == G_TYPE_STRING)
    return "a string";
  if (t == G_TYPE_BOOLEAN)
    return "a boolean";
  return "a number";
}

/* An optional string member: absent or null -> *out = NULL. */
static gboolean
opt_string (JsonObject *obj, const char *key, const char *path, const char **out,
            GError **error)
{
  JsonNode *n = json_object_get_member (obj, key);
  *out = NULL;
  if (is_null (n))
    return TRUE;
  if (!is_type (n, G_TYPE_STRING))
    return fail (error, INVALID, path, "must be a string, not %s", kind (n));
  *out = json_node_get_string (n);
  return TRUE;
}

static gboolean
opt_flag (JsonObject *obj, const char *key, const char *path, GlimChatFlag *out, GError **error)
{
  if (!json_object_has_member (obj, key)) {
    *out = GLIM_CHAT_FLAG_UNSET;
    return TRUE;
  }
  JsonNode *n = json_object_get_member (obj, key);
  if (is_null (n)) {
    *out = GLIM_CHAT_FLAG_FALSE;                  /* defined, and falsy in Jinja */
    return TRUE;
  }
  if (!is_type (n, G_TYPE_BOOLEAN))
    return fail (error, INVALID, path, "must be true, false or null, not %s", kind (n));
  *out = json_node_get_boolean (n) ? GLIM_CHAT_FLAG_TRUE : GLIM_CHAT_FLAG_FALSE;
  return TRUE;
}

/* ---- parser: messages ---- */

/* Content parts vLLM turns into text, and the member holding it. */
static const struct {
  const char *type;
  const char *field;
} text_parts[] = {
  { "text", "text" }, { "input_text", "text" }, { "output_text", "text" },
  { "refusal", "refusal" }, { "thinking", "thinking" },
};

/* The text of a content part, NULL (no error) for a part vLLM skips. */
static gboolean
part_text (JsonNode *part, const char *path, const char **text, GError **error)
{
  *text = NULL;
  if (is_type (part, G_TYPE_STRING)) {
    *text = json_node_get_string (part);
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_OBJECT (part))
    return fail (error, INVALID, path, "must be a string or a content part object, not %s",
                 kind (part));
  JsonObject *obj = json_node_get_object (part);
  g_autofree char *type_path = g_strconcat (path, ".type", NULL);
  const char *type;
  if (!opt_string (obj, "type", type_path, &type, error))
    return FALSE;
  if (type == NULL)
    return fail (error, INVALID, type_path, "missing");
  for (gsize i = 0; i < G_N_ELEMENTS (text_parts); i++) {
    if (strcmp (type, text_parts[i].type) != 0)
      continue;
    g_autofree char *field_path = g_strconcat (path, ".", text_parts[i].field, NULL);
    return opt_string (obj, text_parts[i].field, field_path, text, error);
  }
  return fail (error, GLIM_CHAT_ERROR_UNSUPPORTED, type_path,
               "content part type \"%s\" is not supported (Glimmer reads text only)", type);
}

/* vLLM's "string" content format: null -> "", a string as is, a list of parts -> the
 * non-empty texts joined with "\n". */
static char *
content_text (JsonNode *n, const char *path, GError **error)
{
  if (is_null (n))
    return g_strdup ("");
  if (is_type (n, G_TYPE_STRING))
    return g_strdup (json_node_get_string (n));
  if (!JSON_NODE_HOLDS_ARRAY (n)) {
    fail (error, INVALID, path, "must be a string, a list of content parts or null, not %s",
          kind (n));
    return NULL;
  }
  JsonArray *parts = json_node_get_array (n);
  g_autoptr (GString) text = g_string_new (NULL);
  gboolean any = FALSE;
  for (guint j = 0; j < json_array_get_length (parts); j++) {
    g_autofree char *part_path = g_strdup_printf ("%s[%u]", path, j);
    const char *t;
    if (!part_text (json_array_get_element (parts, j), part_path, &t, error))
      return NULL;
    if (t == NULL || *t == '\0')
      continue;
    if (any)
      g_string_append_c (text, '\n');
    g_string_append (text, t);
    any = TRUE;
  }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* vLLM's _postprocess_messages: arguments as an object, or a JSON string holding one;
 * null, absent and "" mean {}. Returns a new reference. */
static JsonObject *
tool_call_arguments (JsonObject *function, const char *path, GError **error)
{
  JsonNode *n = json_object_get_member (function, "arguments");
  if (is_null (n))
    return json_object_new ();
  if (JSON_NODE_HOLDS_OBJECT (n))
    return json_object_ref (json_node_get_object (n));
  if (!is_type (n, G_TYPE_STRING)) {
    fail (error, INVALID, path, "must be an object or a string holding one, not %s", kind (n));
    return NULL;
  }
  const char *text = json_node_get_string (n);
  if (*text == '\0')
    return json_object_new ();
  g_autoptr (GError) local = NULL;
  g_autoptr (JsonNode) parsed = glim_pyjson_loads (text, -1, path, &local);
  if (parsed == NULL) {
    set_json_error (error, local);
    return NULL;
  }
  if (!JSON_NODE_HOLDS_OBJECT (parsed)) {
    fail (error, INVALID, path, "must hold a JSON object, not %s", kind (parsed));
    return NULL;
  }
  return json_object_ref (json_node_get_object (parsed));
}

static gboolean
parse_tool_calls (JsonNode *n, const char *path, GlimChatMessage *msg, GError **error)
{
  if (is_null (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return fail (error, INVALID, path, "must be a list, not %s", kind (n));
  JsonArray *calls = json_node_get_array (n);
  for (guint j = 0; j < json_array_get_length (calls); j++) {
    g_autofree char *tc_path = g_strdup_printf ("%s[%u]", path, j);
    JsonNode *tc = json_array_get_element (calls, j);
    if (!JSON_NODE_HOLDS_OBJECT (tc))
      return fail (error, INVALID, tc_path, "must be an object, not %s", kind (tc));
    g_autofree char *fn_path = g_strconcat (tc_path, ".function", NULL);
    JsonNode *fn = json_object_get_member (json_node_get_object (tc), "function");
    if (fn == NULL)
      return fail (error, INVALID, fn_path, "missing");
    if (!JSON_NODE_HOLDS_OBJECT (fn))
      return fail (error, INVALID, fn_path, "must be an object, not %s", kind (fn));
    JsonObject *function = json_node_get_object (fn);
    g_autofree char *name_path = g_strconcat (fn_path, ".name", NULL);
    const char *name;
    if (!opt_string (function, "name", name_path, &name, error))
      return FALSE;
    if (name == NULL)
      return fail (error, INVALID, name_path, "missing");
    g_autofree char *args_path = g_strconcat (fn_path, ".arguments", NULL);
    JsonObject *args = tool_call_arguments (function, args_path, error);
    if (args == NULL)
      return FALSE;
    add_tool_call_take (msg, g_strdup (name), args);
  }
  return TRUE;
}

static gboolean
parse_message (GlimChatRequest *req, JsonNode *node, guint i, GError **error)
{
  g_autofree char *path = g_strdup_printf ("messages[%u]", i);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, INVALID, path, "must be an object, not %s", kind (node));
  JsonObject *obj = json_node_get_object (node);

  g_autofree char *role_path = g_strconcat (path, ".role", NULL);
  const char *role_name;
  if (!opt_string (obj, "role", role_path, &role_name, error))
    return FALSE;
  if (role_name == NULL)
    return fail (error, INVALID, role_path, "missing");
  guint role = 0;
  while (role < G_N_ELEMENTS (role_names) && strcmp (role_name, role_names[role]) != 0)
    role++;
  if (role == G_N_ELEMENTS (role_names))
    return fail (error, INVALID, role_path,
                 "unknown role \"%s\" (expected system, user, assistant or tool)", role_name);

  g_autofree char *content_path = g_strconcat (path, ".content", NULL);
  char *content = content_text (json_object_get_member (obj, "content"), content_path, error);
  if (content == NULL)
    return FALSE;
  GlimChatMessage *msg = add_message_take (req, (GlimChatRole) role, content);
  if (role != GLIM_CHAT_ROLE_ASSISTANT)
    return TRUE;

  /* vLLM: reasoning = message.get("reasoning") or message.get("reasoning_content") */
  g_autofree char *r_path = g_strconcat (path, ".reasoning", NULL);
  g_autofree char *rc_path = g_strconcat (path, ".reasoning_content", NULL);
  const char *reasoning, *reasoning_content;
  if (!opt_string (obj, "reasoning", r_path, &reasoning, error) ||
      !opt_string (obj, "reasoning_content", rc_path, &reasoning_content, error))
    return FALSE;
  msg->reasoning = g_strdup (reasoning != NULL && *reasoning ? reasoning : reasoning_content);

  g_autofree char *tc_path = g_strconcat (path, ".tool_calls", NULL);
  return parse_tool_calls (json_object_get_member (obj, "tool_calls"), tc_path, msg, error);
}

/* ---- parser: tools and options ---- */

static gboolean
parse_tool (GlimChatRequest *req, JsonNode *node, guint i, GError **error)
{
  g_autofree char *path = g_strdup_printf ("tools[%u]", i);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, INVALID, path, "must be an object, not %s", kind (node));
  JsonObject *obj = json_node_get_object (node);
  if (json_object_has_member (obj, "type")) {
    g_autofree char *type_path = g_strconcat (path, ".type", NULL);
    JsonNode *type = json_object_get_member (obj, "type");
    if (!is_type (type, G_TYPE_STRING) || strcmp (json_node_get_string (type), "function") != 0)
      return fail (error, INVALID, type_path, "must be \"function\"");
  }
  g_autofree char *fn_path = g_strconcat (path, ".function", NULL);
  JsonNode *fn = json_object_get_member (obj, "function");
  if (fn == NULL)
    return fail (error, INVALID, fn_path, "missing");
  if (!JSON_NODE_HOLDS_OBJECT (fn))
    return fail (error, INVALID, fn_path, "must be an object, not %s", kind (fn));
  JsonObject *function = json_node_get_object (fn);

  g_autofree char *name_path = g_strconcat (fn_path, ".name", NULL);
  g_autofree char *desc_path = g_strconcat (fn_path, ".description", NULL);
  g_autofree char *params_path = g_strconcat (fn_path, ".parameters", NULL);
  const char *name, *description;
  if (!opt_string (function, "name", name_path, &name, error))
    return FALSE;
  if (name == NULL)
    return fail (error, INVALID, name_path, "missing");
  if (!opt_string (function, "description", desc_path, &description, error))
    return FALSE;
  JsonNode *params = json_object_get_member (function, "parameters");
  if (!is_null (params) && !JSON_NODE_HOLDS_OBJECT (params))
    return fail (error, INVALID, params_path, "must be an object (a JSON schema) or null, not %s",
                 kind (params));
  add_tool_full (req, name, description, is_null (params) ? NULL : json_node_get_object (params),
                 function, obj);
  return TRUE;
}

GlimChatRequest *
glim_chat_request_parse_node (JsonNode *root, GError **error)
{
  g_return_val_if_fail (root != NULL, NULL);
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    fail (error, INVALID, "request", "must be a JSON object, not %s", kind (root));
    return NULL;
  }
  g_autoptr (GError) local = NULL;
  if (!glim_pyjson_check (root, NULL, &local)) {
    set_json_error (error, local);
    return NULL;
  }
  JsonObject *obj = json_node_get_object (root);
  g_autoptr (GlimChatRequest) req = glim_chat_request_new ();

  JsonNode *messages = json_object_get_member (obj, "messages");
  if (messages == NULL) {
    fail (error, INVALID, "messages", "missing");
    return NULL;
  }
  if (!JSON_NODE_HOLDS_ARRAY (messages)) {
    fail (error, INVALID, "messages", "must be a list, not %s", kind (messages));
    return NULL;
  }
  JsonArray *list = json_node_get_array (messages);
  for (guint i = 0; i < json_array_get_length (list); i++)
    if (!parse_message (req, json_array_get_element (list, i), i, error))
      return NULL;

  JsonNode *tools = json_object_get_member (obj, "tools");
  if (!is_null (tools)) {
    if (!JSON_NODE_HOLDS_ARRAY (tools)) {
      fail (error, INVALID, "tools", "must be a list, not %s", kind (tools));
      return NULL;
    }
    list = json_node_get_array (tools);
    for (guint i = 0; i < json_array_get_length (list); i++)
      if (!parse_tool (req, json_array_get_element (list, i), i, error))
        return NULL;
  }

  JsonNode *agp = json_object_get_member (obj, "add_generation_prompt");
  if (agp != NULL) {
    if (!is_type (agp, G_TYPE_BOOLEAN)) {
      fail (error, INVALID, "add_generation_prompt", "must be true or false, not %s", kind (agp));
      return NULL;
    }
    req->add_generation_prompt = json_node_get_boolean (agp);
  }

  JsonNode *kwargs = json_object_get_member (obj, "chat_template_kwargs");
  if (!is_null (kwargs)) {
    if (!JSON_NODE_HOLDS_OBJECT (kwargs)) {
      fail (error, INVALID, "chat_template_kwargs", "must be an object, not %s", kind (kwargs));
      return NULL;
    }
    JsonObject *kw = json_node_get_object (kwargs);
    if (!opt_flag (kw, "enable_thinking", "chat_template_kwargs.enable_thinking",
                   &req->enable_thinking, error) ||
        !opt_flag (kw, "clear_thinking", "chat_template_kwargs.clear_thinking",
                   &req->clear_thinking, error))
      return NULL;
  }
  return g_steal_pointer (&req);
}

GlimChatRequest *
glim_chat_request_parse (const char *json, gssize len, GError **error)
{
  g_return_val_if_fail (json != NULL || len == 0, NULL);
  if (len < 0)
    len = strlen (json);
  /* A body is bytes: json.loads(bytes) decodes it as utf-8-sig, so a BOM is allowed. */
  if (len >= 3 && memcmp (json, "\xef\xbb\xbf", 3) == 0) {
    json += 3;
    len -= 3;
  }
  g_autoptr (GError) local = NULL;
  g_autoptr (JsonNode) root = glim_pyjson_loads (json, len, NULL, &local);
  if (root == NULL) {
    set_json_error (error, local);
    return NULL;
  }
  return glim_chat_request_parse_node (root, error);
}
