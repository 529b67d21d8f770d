/* glim-chat-render.c: GLM-4.7-Flash prompt text from a chat request, byte-identical to the
 * real chat template (data/chat_template.jinja, sha256 d63ad536...281375) rendered by Jinja2 in
 * transformers' environment (trim_blocks, lstrip_blocks, json.dumps `tojson`).
 * SPDX-License-Identifier: MIT
 * Each step below names the template lines it stands for; the string operations are Python's
 * (str.strip() strips Unicode whitespace, lstrip('\n') / rstrip('\n') newlines only). */
#define G_LOG_DOMAIN "glimmer-chat"

#include "glim-chat.h"
#include "glim-pyjson.h"

#include <string.h>

/* The tools block (template lines 2-14 after trim_blocks): header, one json.dumps(tool) + "\n"
 * per tool, footer. There is no newline after the final "</tool_call>". */
static const char tools_header[] =
  "<|system|>\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
  "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n";
static const char tools_footer[] =
  "</tools>\n\nFor each function call, output the function name and arguments within the "
  "following XML format:\n<tool_call>{function-name}<arg_key>{arg-key-1}</arg_key><arg_value>"
  "{arg-value-1}</arg_value><arg_key>{arg-key-2}</arg_key><arg_value>{arg-value-2}</arg_value>"
  "...</tool_call>";

/* ---- Python string operations on UTF-8 slices ---- */

typedef struct {
  const char *p;
  gsize       len;
} Slice;

static Slice
slice_of (const char *s)
{
  return (Slice) { s, strlen (s) };
}

/* Python's str.isspace(): the code points with the Unicode White_Space property plus the
 * ASCII separators U+001C..U+001F (Python 3.11; U+180E and U+200B are not whitespace). */
static gboolean
py_isspace (gunichar c)
{
  if (c <= 0x20)
    return c == 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
  switch (c) {
  case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f:
  case 0x3000:
    return TRUE;
  default:
    return c >= 0x2000 && c <= 0x200a;
  }
}

/* str.strip() */
static Slice
py_strip (Slice s)
{
  const char *b = s.p, *e = s.p + s.len;
  while (b < e && py_isspace (g_utf8_get_char (b)))
    b = g_utf8_next_char (b);
  while (e > b) {
    const char *prev = g_utf8_find_prev_char (b, e);
    if (prev == NULL)
      prev = b;
    if (!py_isspace (g_utf8_get_char (prev)))
      break;
    e = prev;
  }
  return (Slice) { b, e - b };
}

/* str.lstrip('\n') */
static Slice
lstrip_newlines (Slice s)
{
  while (s.len > 0 && *s.p == '\n') {
    s.p++;
    s.len--;
  }
  return s;
}

/* str.rstrip('\n') */
static Slice
rstrip_newlines (Slice s)
{
  while (s.len > 0 && s.p[s.len - 1] == '\n')
    s.len--;
  return s;
}

/* First / last occurrence of `needle` in `s`, or NULL. Neither tag can overlap itself, so the
 * last occurrence is where Python's split() starts its last piece. */
static const char *
slice_find (Slice s, const char *needle)
{
  return memmem (s.p, s.len, needle, strlen (needle));
}

static const char *
slice_rfind (Slice s, const char *needle)
{
  const char *last = NULL;
  gsize n = strlen (needle);
  for (const char *q = slice_find (s, needle); q != NULL;
       q = slice_find ((Slice) { q + n, s.p + s.len - (q + n) }, needle))
    last = q;
  return last;
}

/* s.split(sep)[0] and s.split(sep)[-1] */
static Slice
split_first (Slice s, const char *sep)
{
  const char *q = slice_find (s, sep);
  return q ? (Slice) { s.p, q - s.p } : s;
}

static Slice
split_last (Slice s, const char *sep)
{
  const char *q = slice_rfind (s, sep);
  if (q == NULL)
    return s;
  q += strlen (sep);
  return (Slice) { q, s.p + s.len - q };
}

static void
append_slice (GString *out, Slice s)
{
  g_string_append_len (out, s.p, s.len);
}

/* ---- messages ---- */

/* Template lines 35-63: the assistant turn. */
static void
render_assistant (GString *out, const GlimChatRequest *req, const GlimChatMessage *msg,
                  gboolean after_last_user)
{
  g_string_append (out, "<|assistant|>");

  /* reasoning_content if it is a string, else the part of content before "</think>" */
  Slice content = slice_of (msg->content);
  Slice reasoning = { "", 0 };
  if (msg->reasoning != NULL) {
    reasoning = slice_of (msg->reasoning);
  } else if (slice_find (content, "</think>") != NULL) {
    reasoning = split_first (content, "</think>");
    reasoning = lstrip_newlines (split_last (rstrip_newlines (reasoning), "<think>"));
    content = lstrip_newlines (split_last (content, "</think>"));
  }

  /* ((clear_thinking is defined and not clear_thinking) or loop.index0 > last_user_index)
   * and reasoning_content: the test is on the unstripped text. */
  gboolean keep = glim_chat_request_get_clear_thinking (req) == GLIM_CHAT_FLAG_FALSE ||
                  after_last_user;
  if (keep && reasoning.len > 0) {
    g_string_append (out, "<think>");
    append_slice (out, py_strip (reasoning));
    g_string_append (out, "</think>");
  } else {
    g_string_append (out, "</think>");
  }
  append_slice (out, py_strip (content));

  /* <tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value>...</tool_call>, V raw for a
   * string and tojson(V) otherwise. */
  for (guint j = 0; j < msg->tool_calls->len; j++) {
    const GlimChatToolCall *tc = g_ptr_array_index (msg->tool_calls, j);
    g_string_append (out, "<tool_call>");
    g_string_append (out, tc->name);
    JsonObjectIter it;
    const char *key;
    JsonNode *value;
    json_object_iter_init_ordered (&it, tc->arguments);
    while (json_object_iter_next_ordered (&it, &key, &value)) {
      g_string_append (out, "<arg_key>");
      g_string_append (out, key);
      g_string_append (out, "</arg_key><arg_value>");
      if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING)
        g_string_append (out, json_node_get_string (value));
      else
        glim_pyjson_dump (out, value, 0, GLIM_PYJSON_DUMP_NONE);
      g_string_append (out, "</arg_value>");
    }
    g_string_append (out, "</tool_call>");
  }
}

char *
glim_chat_render (const GlimChatRequest *req, GError **error)
{
  g_return_val_if_fail (req != NULL, NULL);
  g_autoptr (GString) out = g_string_new ("[gMASK]<sop>");

  guint n_tools = glim_chat_request_get_n_tools (req);
  if (n_tools > 0) {
    g_string_append (out, tools_header);
    for (guint i = 0; i < n_tools; i++) {
      glim_pyjson_dump (out, glim_chat_request_get_tool (req, i)->spec, 0,
                        GLIM_PYJSON_DUMP_NONE);
      g_string_append_c (out, '\n');
    }
    g_string_append (out, tools_footer);
  }

  guint n = glim_chat_request_get_n_messages (req);
  gint64 last_user = -1;
  for (guint i = 0; i < n; i++)
    if (glim_chat_request_get_message (req, i)->role == GLIM_CHAT_ROLE_USER)
      last_user = i;

  for (guint i = 0; i < n; i++) {
    const GlimChatMessage *msg = glim_chat_request_get_message (req, i);
    switch (msg->role) {
    case GLIM_CHAT_ROLE_USER:
      g_string_append (out, "<|user|>");
      g_string_append (out, msg->content);
      break;
    case GLIM_CHAT_ROLE_SYSTEM:
      g_string_append (out, "<|system|>");
      g_string_append (out, msg->content);
      break;
    case GLIM_CHAT_ROLE_ASSISTANT:
      render_assistant (out, req, msg, (gint64) i > last_user);
      break;
    case GLIM_CHAT_ROLE_TOOL:
      /* consecutive tool results share one <|observation|> */
      if (i == 0 || glim_chat_request_get_message (req, i - 1)->role != GLIM_CHAT_ROLE_TOOL)
        g_string_append (out, "<|observation|>");
      g_string_append (out, "<tool_response>");
      g_string_append (out, msg->content);
      g_string_append (out, "</tool_response>");
      break;
    }
  }

  if (glim_chat_request_get_add_generation_prompt (req)) {
    g_string_append (out, "<|assistant|>");
    g_string_append (out, glim_chat_request_get_enable_thinking (req) == GLIM_CHAT_FLAG_FALSE
                              ? "</think>" : "<think>");
  }
  return g_string_free (g_steal_pointer (&out), FALSE);
}
