/* glimmer-conversation-json.c: a conversation as a history file (JSON) and as Markdown.
 * SPDX-License-Identifier: MIT
 *
 * Untrusted input: a history file may be truncated, edited by hand or from a newer version.
 * Every key is checked for its type and every error names the key's path
 * ("messages[2].tool_calls[0].name: missing"). Unknown keys are ignored. */
#define G_LOG_DOMAIN "glimmer-conversation"

#include "glimmer-conversation.h"
#include "glimmer-conversation-private.h"

#include <string.h>

/* ---- times ---- */

static char *
time_to_iso (gint64 usec)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);
  if (dt == NULL)
    return g_strdup ("1970-01-01T00:00:00Z");
  g_autoptr (GDateTime) full = g_date_time_add (dt, usec % G_USEC_PER_SEC);
  return g_date_time_format_iso8601 (full ? full : dt);
}

static gboolean
time_from_iso (const char *text, gint64 *usec)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_iso8601 (text, NULL);
  if (dt == NULL)
    return FALSE;
  *usec = g_date_time_to_unix (dt) * G_USEC_PER_SEC + g_date_time_get_microsecond (dt);
  return TRUE;
}

/* ---- writing ---- */

static const char *
role_name (GlimChatRole role)
{
  return glim_chat_role_to_string (role);
}

static JsonNode *
message_to_json (const GlimmerMessage *m)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "role");
  json_builder_add_string_value (b, role_name (m->role));
  json_builder_set_member_name (b, "content");
  json_builder_add_string_value (b, m->content);
  if (m->reasoning) {
    json_builder_set_member_name (b, "reasoning");
    json_builder_add_string_value (b, m->reasoning);
  }
  if (m->tool_calls->len > 0) {
    json_builder_set_member_name (b, "tool_calls");
    json_builder_begin_array (b);
    for (guint i = 0; i < m->tool_calls->len; i++) {
      GlimmerToolCall *call = m->tool_calls->pdata[i];
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "id");
      json_builder_add_string_value (b, call->id);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, call->name);
      json_builder_set_member_name (b, "arguments");
      json_builder_add_string_value (b, call->arguments);
      json_builder_end_object (b);
    }
    json_builder_end_array (b);
  }
  if (m->tool_call_id) {
    json_builder_set_member_name (b, "tool_call_id");
    json_builder_add_string_value (b, m->tool_call_id);
  }
  if (m->tool_name) {
    json_builder_set_member_name (b, "tool_name");
    json_builder_add_string_value (b, m->tool_name);
  }
  if (m->role == GLIM_CHAT_ROLE_TOOL) {
    json_builder_set_member_name (b, "tool_ok");
    json_builder_add_boolean_value (b, m->tool_ok);
  }
  g_autofree char *created = time_to_iso (m->created);
  json_builder_set_member_name (b, "created");
  json_builder_add_string_value (b, created);
  if (m->in_progress) {
    json_builder_set_member_name (b, "in_progress");
    json_builder_add_boolean_value (b, TRUE);
  }
  if (m->interrupted) {
    json_builder_set_member_name (b, "interrupted");
    json_builder_add_boolean_value (b, TRUE);
  }
  if (m->finish_reason) {
    json_builder_set_member_name (b, "finish_reason");
    json_builder_add_string_value (b, m->finish_reason);
  }
  if (m->has_stats) {
    json_builder_set_member_name (b, "stats");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "tokens_per_second");
    json_builder_add_double_value (b, m->stats.tokens_per_second);
    json_builder_set_member_name (b, "prompt_tokens");
    json_builder_add_int_value (b, m->stats.n_prompt);
    json_builder_set_member_name (b, "generated_tokens");
    json_builder_add_int_value (b, m->stats.n_generated);
    json_builder_set_member_name (b, "thinking_seconds");
    json_builder_add_double_value (b, m->stats.thinking_seconds);
    json_builder_end_object (b);
  }
  if (m->settings) {
    const GlimmerGenerationSettings *s = m->settings;
    json_builder_set_member_name (b, "settings");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "temperature");
    json_builder_add_double_value (b, s->temperature);
    json_builder_set_member_name (b, "top_p");
    json_builder_add_double_value (b, s->top_p);
    json_builder_set_member_name (b, "top_k");
    json_builder_add_int_value (b, s->top_k);
    json_builder_set_member_name (b, "min_p");
    json_builder_add_double_value (b, s->min_p);
    json_builder_set_member_name (b, "max_tokens");
    json_builder_add_int_value (b, s->max_tokens);
    /* a string: a 64-bit seed does not survive a JSON double */
    g_autofree char *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, s->seed);
    json_builder_set_member_name (b, "seed");
    json_builder_add_string_value (b, seed);
    json_builder_set_member_name (b, "thinking");
    json_builder_add_boolean_value (b, s->thinking);
    json_builder_end_object (b);
  }
  if (m->model) {
    json_builder_set_member_name (b, "model");
    json_builder_add_string_value (b, m->model);
  }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
glimmer_conversation_to_json (GlimmerConversation *self)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), NULL);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "schema_version");
  json_builder_add_int_value (b, GLIMMER_CONVERSATION_SCHEMA_VERSION);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, glimmer_conversation_get_id (self));
  json_builder_set_member_name (b, "title");
  json_builder_add_string_value (b, glimmer_conversation_get_title (self));
  g_autofree char *created = time_to_iso (glimmer_conversation_get_created (self));
  g_autofree char *updated = time_to_iso (glimmer_conversation_get_updated (self));
  json_builder_set_member_name (b, "created");
  json_builder_add_string_value (b, created);
  json_builder_set_member_name (b, "updated");
  json_builder_add_string_value (b, updated);
  json_builder_set_member_name (b, "messages");
  json_builder_begin_array (b);
  for (guint i = 0; i < glimmer_conversation_get_n_messages (self); i++)
    json_builder_add_value (b, message_to_json (glimmer_conversation_get_message (self, i)));
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

char *
glimmer_conversation_to_json_data (GlimmerConversation *self)
{
  g_autoptr (JsonNode) root = glimmer_conversation_to_json (self);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_indent (gen, 2);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

/* ---- reading ---- */

static gboolean
bad (GError **error, const char *path, const char *key, const char *what)
{
  g_set_error (error, GLIMMER_CONVERSATION_ERROR, GLIMMER_CONVERSATION_ERROR_INVALID,
               "%s%s%s: %s", path, path[0] ? "." : "", key, what);
  return FALSE;
}

/* The member `key` if it has the value type `type`. Missing: NULL without error unless
 * required. Present with another type (null counts as missing when optional): error. */
static JsonNode *
member (JsonObject *obj, const char *key, GType type, gboolean required, const char *path,
        GError **error)
{
  JsonNode *node = json_object_get_member (obj, key);
  if (node == NULL || (!required && JSON_NODE_HOLDS_NULL (node))) {
    if (required)
      bad (error, path, key, "missing");
    return NULL;
  }
  if (type == JSON_TYPE_OBJECT) {
    if (JSON_NODE_HOLDS_OBJECT (node))
      return node;
    bad (error, path, key, "not an object");
    return NULL;
  }
  if (type == JSON_TYPE_ARRAY) {
    if (JSON_NODE_HOLDS_ARRAY (node))
      return node;
    bad (error, path, key, "not an array");
    return NULL;
  }
  GType vt = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
  gboolean ok = type == G_TYPE_DOUBLE ? (vt == G_TYPE_DOUBLE || vt == G_TYPE_INT64) : vt == type;
  if (!ok) {
    const char *what = type == G_TYPE_STRING ? "not a string"
                     : type == G_TYPE_BOOLEAN ? "not a boolean"
                     : "not a number";
    bad (error, path, key, what);
    return NULL;
  }
  return node;
}

#define GET(obj, key, type, req, path)                                     \
  G_STMT_START {                                                           \
    g_autoptr (GError) e_ = NULL;                                          \
    n = member ((obj), (key), (type), (req), (path), &e_);                 \
    if (e_) { g_propagate_error (error, g_steal_pointer (&e_)); return FALSE; } \
  } G_STMT_END

static gboolean
read_string (JsonObject *obj, const char *key, gboolean required, const char *path,
             char **out, GError **error)
{
  JsonNode *n;
  GET (obj, key, G_TYPE_STRING, required, path);
  g_free (*out);
  *out = n ? g_utf8_make_valid (json_node_get_string (n), -1) : NULL;
  return TRUE;
}

static gboolean
read_bool (JsonObject *obj, const char *key, const char *path, gboolean *out, GError **error)
{
  JsonNode *n;
  GET (obj, key, G_TYPE_BOOLEAN, FALSE, path);
  if (n)
    *out = json_node_get_boolean (n);
  return TRUE;
}

static gboolean
read_double (JsonObject *obj, const char *key, const char *path, double *out, GError **error)
{
  JsonNode *n;
  GET (obj, key, G_TYPE_DOUBLE, FALSE, path);
  if (n)
    *out = json_node_get_double (n);
  return TRUE;
}

static gboolean
read_int (JsonObject *obj, const char *key, const char *path, int *out, GError **error)
{
  JsonNode *n;
  GET (obj, key, G_TYPE_INT64, FALSE, path);
  if (n) {
    gint64 v = json_node_get_int (n);
    if (v < G_MININT || v > G_MAXINT)
      return bad (error, path, key, "out of range");
    *out = (int) v;
  }
  return TRUE;
}

static gboolean
read_time (JsonObject *obj, const char *key, gboolean required, const char *path, gint64 *out,
           GError **error)
{
  g_autofree char *text = NULL;
  if (!read_string (obj, key, required, path, &text, error))
    return FALSE;
  if (text && !time_from_iso (text, out))
    return bad (error, path, key, "not an ISO 8601 time");
  return TRUE;
}

static gboolean
role_from_name (const char *name, GlimChatRole *role)
{
  static const GlimChatRole roles[] = { GLIM_CHAT_ROLE_SYSTEM, GLIM_CHAT_ROLE_USER,
                                        GLIM_CHAT_ROLE_ASSISTANT, GLIM_CHAT_ROLE_TOOL };
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    if (g_strcmp0 (name, glim_chat_role_to_string (roles[i])) == 0) {
      *role = roles[i];
      return TRUE;
    }
  return FALSE;
}

static gboolean
read_tool_calls (JsonArray *arr, const char *path, GlimmerMessage *m, GError **error)
{
  for (guint k = 0; k < json_array_get_length (arr); k++) {
    g_autofree char *p = g_strdup_printf ("%s.tool_calls[%u]", path, k);
    JsonNode *cn = json_array_get_element (arr, k);
    if (!JSON_NODE_HOLDS_OBJECT (cn))
      return bad (error, "", p, "not an object");
    JsonObject *co = json_node_get_object (cn);
    g_autofree char *id = NULL, *name = NULL, *args = NULL;
    if (!read_string (co, "id", TRUE, p, &id, error) ||
        !read_string (co, "name", TRUE, p, &name, error) ||
        !read_string (co, "arguments", FALSE, p, &args, error))
      return FALSE;
    glimmer_message_add_tool_call (m, id, name, args);
  }
  return TRUE;
}

static gboolean
read_settings (JsonObject *so, const char *path, GlimmerMessage *m, GError **error)
{
  GlimmerGenerationSettings s;
  glimmer_generation_settings_init (&s);
  g_autofree char *seed = NULL;
  if (!read_double (so, "temperature", path, &s.temperature, error) ||
      !read_double (so, "top_p", path, &s.top_p, error) ||
      !read_int (so, "top_k", path, &s.top_k, error) ||
      !read_double (so, "min_p", path, &s.min_p, error) ||
      !read_int (so, "max_tokens", path, &s.max_tokens, error) ||
      !read_string (so, "seed", FALSE, path, &seed, error) ||
      !read_bool (so, "thinking", path, &s.thinking, error))
    return FALSE;
  if (seed && !g_ascii_string_to_unsigned (seed, 10, 0, G_MAXUINT64, &s.seed, NULL))
    return bad (error, path, "seed", "not an unsigned integer");
  glimmer_message_set_settings (m, &s);
  return TRUE;
}

static GlimmerMessage *
message_from_json (JsonNode *node, guint index, GError **error)
{
  g_autofree char *path = g_strdup_printf ("messages[%u]", index);
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    bad (error, "", path, "not an object");
    return NULL;
  }
  JsonObject *o = json_node_get_object (node);
  g_autofree char *role_text = NULL;
  GlimChatRole role;
  if (!read_string (o, "role", TRUE, path, &role_text, error))
    return NULL;
  if (!role_from_name (role_text, &role)) {
    bad (error, path, "role", "not system, user, assistant or tool");
    return NULL;
  }
  g_autoptr (GlimmerMessage) m = glimmer_message_new (role, NULL);
  JsonNode *n;
  g_autoptr (GError) e = NULL;
  if (!read_string (o, "content", FALSE, path, &m->content, error) ||
      !read_string (o, "reasoning", FALSE, path, &m->reasoning, error) ||
      !read_string (o, "tool_call_id", FALSE, path, &m->tool_call_id, error) ||
      !read_string (o, "tool_name", FALSE, path, &m->tool_name, error) ||
      !read_bool (o, "tool_ok", path, &m->tool_ok, error) ||
      !read_time (o, "created", FALSE, path, &m->created, error) ||
      !read_bool (o, "in_progress", path, &m->in_progress, error) ||
      !read_bool (o, "interrupted", path, &m->interrupted, error) ||
      !read_string (o, "finish_reason", FALSE, path, &m->finish_reason, error) ||
      !read_string (o, "model", FALSE, path, &m->model, error))
    return NULL;
  if (m->content == NULL)
    m->content = g_strdup ("");
  n = member (o, "tool_calls", JSON_TYPE_ARRAY, FALSE, path, &e);
  if (e) {
    g_propagate_error (error, g_steal_pointer (&e));
    return NULL;
  }
  if (n && !read_tool_calls (json_node_get_array (n), path, m, error))
    return NULL;
  n = member (o, "stats", JSON_TYPE_OBJECT, FALSE, path, &e);
  if (e) {
    g_propagate_error (error, g_steal_pointer (&e));
    return NULL;
  }
  if (n) {
    g_autofree char *p = g_strdup_printf ("%s.stats", path);
    JsonObject *so = json_node_get_object (n);
    m->has_stats = TRUE;
    if (!read_double (so, "tokens_per_second", p, &m->stats.tokens_per_second, error) ||
        !read_int (so, "prompt_tokens", p, &m->stats.n_prompt, error) ||
        !read_int (so, "generated_tokens", p, &m->stats.n_generated, error) ||
        !read_double (so, "thinking_seconds", p, &m->stats.thinking_seconds, error))
      return NULL;
  }
  n = member (o, "settings", JSON_TYPE_OBJECT, FALSE, path, &e);
  if (e) {
    g_propagate_error (error, g_steal_pointer (&e));
    return NULL;
  }
  if (n) {
    g_autofree char *p = g_strdup_printf ("%s.settings", path);
    if (!read_settings (json_node_get_object (n), p, m, error))
      return NULL;
  }
  /* a reply that was still streaming when the app died: keep it, say so */
  if (m->in_progress) {
    m->in_progress = FALSE;
    m->interrupted = TRUE;
  }
  return g_steal_pointer (&m);
}

GlimmerConversation *
glimmer_conversation_new_from_json (JsonNode *root, GError **error)
{
  g_return_val_if_fail (root != NULL, NULL);
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, GLIMMER_CONVERSATION_ERROR, GLIMMER_CONVERSATION_ERROR_INVALID,
                 "not a JSON object");
    return NULL;
  }
  JsonObject *o = json_node_get_object (root);
  int version = 0;
  g_autofree char *id = NULL, *title = NULL;
  gint64 created = 0, updated = 0;
  if (!read_int (o, "schema_version", "", &version, error))
    return NULL;
  if (!json_object_has_member (o, "schema_version")) {
    bad (error, "", "schema_version", "missing");
    return NULL;
  }
  if (version > GLIMMER_CONVERSATION_SCHEMA_VERSION || version < 1) {
    g_set_error (error, GLIMMER_CONVERSATION_ERROR, GLIMMER_CONVERSATION_ERROR_VERSION,
                 "schema_version %d is not supported (this version reads 1 to %d)", version,
                 GLIMMER_CONVERSATION_SCHEMA_VERSION);
    return NULL;
  }
  if (!read_string (o, "id", TRUE, "", &id, error) ||
      !read_string (o, "title", FALSE, "", &title, error) ||
      !read_time (o, "created", TRUE, "", &created, error) ||
      !read_time (o, "updated", TRUE, "", &updated, error))
    return NULL;
  if (id[0] == '\0' || strchr (id, '/') || strchr (id, '\\') || id[0] == '.') {
    bad (error, "", "id", "not a valid conversation id");
    return NULL;
  }
  g_autoptr (GError) e = NULL;
  JsonNode *mn = member (o, "messages", JSON_TYPE_ARRAY, TRUE, "", &e);
  if (e) {
    g_propagate_error (error, g_steal_pointer (&e));
    return NULL;
  }
  g_autoptr (GlimmerConversation) conv = _glimmer_conversation_new_full (id, created, updated);
  glimmer_conversation_set_title (conv, title);
  JsonArray *arr = json_node_get_array (mn);
  for (guint i = 0; i < json_array_get_length (arr); i++) {
    GlimmerMessage *m = message_from_json (json_array_get_element (arr, i), i, error);
    if (m == NULL)
      return NULL;
    _glimmer_conversation_append_quiet (conv, m);
  }
  return g_steal_pointer (&conv);
}

GlimmerConversation *
glimmer_conversation_new_from_data (const char *data, gssize len, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, data, len, error))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL) {
    g_set_error (error, GLIMMER_CONVERSATION_ERROR, GLIMMER_CONVERSATION_ERROR_INVALID,
                 "empty file");
    return NULL;
  }
  return glimmer_conversation_new_from_json (root, error);
}

/* ---- Markdown ---- */

/* A fence longer than any run of backticks in `text`. */
static char *
fence_for (const char *text)
{
  int longest = 0, run = 0;
  for (const char *p = text; *p; p++) {
    run = *p == '`' ? run + 1 : 0;
    longest = MAX (longest, run);
  }
  GString *f = g_string_new (NULL);
  for (int i = 0; i < MAX (3, longest + 1); i++)
    g_string_append_c (f, '`');
  return g_string_free (f, FALSE);
}

static void
append_block (GString *out, const char *info, const char *text)
{
  g_autofree char *fence = fence_for (text);
  g_string_append_printf (out, "%s%s\n%s%s%s\n\n", fence, info, text,
                          g_str_has_suffix (text, "\n") || text[0] == '\0' ? "" : "\n", fence);
}

char *
glimmer_conversation_to_markdown (GlimmerConversation *self)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (self), NULL);
  GString *out = g_string_new (NULL);
  const char *title = glimmer_conversation_get_title (self);
  g_string_append_printf (out, "# %s\n\n", title[0] ? title : "Conversation");
  for (guint i = 0; i < glimmer_conversation_get_n_messages (self); i++) {
    GlimmerMessage *m = glimmer_conversation_get_message (self, i);
    switch (m->role) {
    case GLIM_CHAT_ROLE_SYSTEM: g_string_append (out, "## System\n\n"); break;
    case GLIM_CHAT_ROLE_USER: g_string_append (out, "## User\n\n"); break;
    case GLIM_CHAT_ROLE_ASSISTANT: g_string_append (out, "## Assistant\n\n"); break;
    case GLIM_CHAT_ROLE_TOOL:
      g_string_append_printf (out, "## Tool result%s%s\n\n", m->tool_name ? ": " : "",
                              m->tool_name ? m->tool_name : "");
      append_block (out, "", m->content);
      continue;
    }
    if (m->reasoning && m->reasoning[0]) {
      g_auto (GStrv) lines = g_strsplit (m->reasoning, "\n", -1);
      g_string_append (out, "> **Thinking**\n>\n");
      for (guint k = 0; lines[k]; k++)
        g_string_append_printf (out, ">%s%s\n", lines[k][0] ? " " : "", lines[k]);
      g_string_append_c (out, '\n');
    }
    if (m->content[0]) {
      g_string_append (out, m->content);
      g_string_append (out, g_str_has_suffix (m->content, "\n") ? "\n" : "\n\n");
    }
    for (guint k = 0; k < m->tool_calls->len; k++) {
      GlimmerToolCall *call = m->tool_calls->pdata[k];
      g_string_append_printf (out, "**Tool call:** `%s`\n\n", call->name);
      append_block (out, "json", call->arguments);
    }
  }
  return g_string_free (out, FALSE);
}
