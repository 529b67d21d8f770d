/* test-chat.c: chat requests -> GLM-4.7-Flash prompt text, checked byte for byte against
 * fixtures rendered by the real template (tools/reference/make_chat_fixtures.py), plus request
 * errors, the builder, Python float repr and `glimmer-cli render`.
 * SPDX-License-Identifier: MIT */
#include "glim.h"
#include "glim-pyjson.h"
#include "testutil.h"

#include <string.h>

static const char template_sha256[] =
  "d63ad536c3c81880043e22ec7fd08db42b4d8fb7c89c7138bc562bfa25281375";

static char *
read_file (const char *path, gsize *len)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  g_file_get_contents (path, &data, len, &error);
  g_assert_no_error (error);
  return data;
}

static char *
render_text (const char *json, gssize len, GError **error)
{
  g_autoptr (GlimChatRequest) req = glim_chat_request_parse (json, len, error);
  if (req == NULL)
    return NULL;
  return glim_chat_render (req, error);
}

/* ---- fixtures ---- */

static void
test_template_sha (void)
{
  g_autofree char *path = test_data_path ("..", "..", "data", "chat_template.jinja", NULL);
  gsize len;
  g_autofree char *text = read_file (path, &len);
  g_autofree char *sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guchar *) text, len);
  g_assert_cmpuint (len, ==, 3120);
  g_assert_cmpstr (sum, ==, template_sha256);
}

/* Where two renderings first differ, for a readable failure. */
static void
assert_same_bytes (const char *name, const char *got, gsize got_len, const char *want,
                   gsize want_len)
{
  if (got_len == want_len && memcmp (got, want, want_len) == 0)
    return;
  gsize i = 0;
  while (i < got_len && i < want_len && got[i] == want[i])
    i++;
  gsize from = i > 40 ? i - 40 : 0;
  g_autofree char *g_raw = g_strndup (got + from, MIN (got_len - from, 80));
  g_autofree char *w_raw = g_strndup (want + from, MIN (want_len - from, 80));
  g_autofree char *g = g_strescape (g_raw, NULL);
  g_autofree char *w = g_strescape (w_raw, NULL);
  g_test_message ("%s: first difference at byte %zu\n  got:  ...%s\n  want: ...%s", name, i, g, w);
  g_test_fail ();
}

static void
test_fixture (gconstpointer data)
{
  const char *stem = data;
  g_autofree char *json_path = g_strconcat (stem, ".json", NULL);
  g_autofree char *txt_path = g_strconcat (stem, ".txt", NULL);
  gsize json_len, want_len;
  g_autofree char *json = read_file (json_path, &json_len);
  g_autofree char *want = read_file (txt_path, &want_len);
  g_autoptr (GError) error = NULL;
  g_autofree char *got = render_text (json, json_len, &error);
  g_assert_no_error (error);
  assert_same_bytes (stem, got, strlen (got), want, want_len);
}

/* Stems (path without extension) of tests/data/chat/NNN-*.json, sorted. */
static GPtrArray *
fixture_stems (void)
{
  g_autofree char *dir_path = test_data_path ("chat", NULL);
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, NULL);
  g_assert_nonnull (dir);
  GPtrArray *stems = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL) {
    if (!g_ascii_isdigit (name[0]) || !g_str_has_suffix (name, ".json"))
      continue;
    g_autofree char *base = g_strndup (name, strlen (name) - 5);
    g_ptr_array_add (stems, g_build_filename (dir_path, base, NULL));
  }
  g_ptr_array_sort (stems, (GCompareFunc) g_strcmp0);
  return stems;
}

static void
test_fixture_count (gconstpointer data)
{
  const GPtrArray *stems = data;
  g_assert_cmpuint (stems->len, >=, 40);
}

/* ---- request errors ---- */

typedef struct {
  const char *json;
  GlimChatError code;
  const char *message;     /* must start the error message */
} ErrorCase;

static const ErrorCase error_cases[] = {
  /* JSON syntax, Python's json.loads grammar */
  { "", GLIM_CHAT_ERROR_INVALID_JSON, "request: not valid JSON: Expecting value" },
  { "{\"messages\": [}", GLIM_CHAT_ERROR_INVALID_JSON, "request: not valid JSON: Expecting value" },
  { "{\"messages\": []", GLIM_CHAT_ERROR_INVALID_JSON,
    "request: not valid JSON: Expecting ',' delimiter: line 1 column 16 (char 15)" },
  { "{\"messages\": [],}", GLIM_CHAT_ERROR_INVALID_JSON,
    "request: not valid JSON: Expecting property name enclosed in double quotes" },
  { "{'messages': []}", GLIM_CHAT_ERROR_INVALID_JSON,
    "request: not valid JSON: Expecting property name" },
  { "{\"messages\": [01]}", GLIM_CHAT_ERROR_INVALID_JSON,
    "request: not valid JSON: Expecting ','" },
  { "{\"messages\": [] /* c */}", GLIM_CHAT_ERROR_INVALID_JSON, "request: not valid JSON" },
  { "{\"messages\": []} x", GLIM_CHAT_ERROR_INVALID_JSON, "request: not valid JSON: Extra data" },
  { "{\"messages\": [{\"role\": \"user\", \"content\": \"a\tb\"}]}", GLIM_CHAT_ERROR_INVALID_JSON,
    "request: not valid JSON: Invalid control character at: line 1 column 45 (char 44)" },
  { "{\"messages\": [{\"role\": \"user\", \"content\": \"\\x\"}]}", GLIM_CHAT_ERROR_INVALID_JSON,
    "request: not valid JSON: Invalid \\escape" },
  { "{\"messages\": [{\"role\": \"user\", \"content\": \"abc", GLIM_CHAT_ERROR_INVALID_JSON,
    "request: not valid JSON: Unterminated string starting at" },
  { "{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\"}]}", GLIM_CHAT_ERROR_INVALID_JSON,
    "request: not valid UTF-8 at byte 43" },
  /* values a C string cannot hold */
  { "{\"messages\": [{\"role\": \"user\", \"content\": \"a\\u0000b\"}]}",
    GLIM_CHAT_ERROR_INVALID_JSON, "messages[0].content: string holds \\u0000" },
  { "{\"messages\": [{\"role\": \"user\", \"content\": \"\\ud800x\"}]}",
    GLIM_CHAT_ERROR_INVALID_JSON, "messages[0].content: string holds a lone UTF-16 surrogate" },
  { "{\"messages\": [], \"tools\": [{\"function\": {\"name\": \"f\", \"parameters\": "
    "{\"maximum\": 9223372036854775808}}}]}", GLIM_CHAT_ERROR_INVALID_JSON,
    "tools[0].function.parameters.maximum: integer 9223372036854775808 does not fit in 64 bits" },
  /* the request's shape */
  { "[]", GLIM_CHAT_ERROR_INVALID_REQUEST, "request: must be a JSON object, not a list" },
  { "{}", GLIM_CHAT_ERROR_INVALID_REQUEST, "messages: missing" },
  { "{\"messages\": {}}", GLIM_CHAT_ERROR_INVALID_REQUEST, "messages: must be a list" },
  { "{\"messages\": [\"hi\"]}", GLIM_CHAT_ERROR_INVALID_REQUEST,
    "messages[0]: must be an object, not a string" },
  { "{\"messages\": [{\"content\": \"hi\"}]}", GLIM_CHAT_ERROR_INVALID_REQUEST,
    "messages[0].role: missing" },
  { "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": 3}]}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "messages[1].role: must be a string, not a number" },
  { "{\"messages\": [{\"role\": \"developer\", \"content\": \"hi\"}]}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "messages[0].role: unknown role \"developer\"" },
  { "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", GLIM_CHAT_ERROR_INVALID_REQUEST,
    "messages[0].content: must be a string, a list of content parts or null, not a number" },
  { "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, "
    "{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}",
    GLIM_CHAT_ERROR_UNSUPPORTED, "messages[0].content[1].type: content part type \"image_url\"" },
  { "{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"a\"}]}]}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "messages[0].content[0].type: missing" },
  { "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": 1}]}]}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "messages[0].content[0].text: must be a string" },
  { "{\"messages\": [{\"role\": \"assistant\", \"content\": \"\", \"reasoning_content\": 1}]}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "messages[0].reasoning_content: must be a string" },
  { "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": {}}]}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "messages[0].tool_calls: must be a list, not an object" },
  { "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"name\": \"f\"}]}]}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "messages[0].tool_calls[0].function: missing" },
  { "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\": "
    "{\"arguments\": \"{}\"}}]}]}", GLIM_CHAT_ERROR_INVALID_REQUEST,
    "messages[0].tool_calls[0].function.name: missing" },
  { "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", "
    "\"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": \"{}\"}}, {\"function\": "
    "{\"name\": \"g\", \"arguments\": \"{\\\"a\\\": }\"}}]}]}", GLIM_CHAT_ERROR_INVALID_JSON,
    "messages[1].tool_calls[1].function.arguments: not valid JSON: Expecting value: "
    "line 1 column 7 (char 6)" },
  { "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\", "
    "\"arguments\": \" \"}}]}]}", GLIM_CHAT_ERROR_INVALID_JSON,
    "messages[0].tool_calls[0].function.arguments: not valid JSON" },
  { "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\", "
    "\"arguments\": \"\xef\xbb\xbf{}\"}}]}]}", GLIM_CHAT_ERROR_INVALID_JSON,
    "messages[0].tool_calls[0].function.arguments: not valid JSON: Expecting value" },
  { "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\", "
    "\"arguments\": \"[1]\"}}]}]}", GLIM_CHAT_ERROR_INVALID_REQUEST,
    "messages[0].tool_calls[0].function.arguments: must hold a JSON object, not a list" },
  { "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\", "
    "\"arguments\": [1]}}]}]}", GLIM_CHAT_ERROR_INVALID_REQUEST,
    "messages[0].tool_calls[0].function.arguments: must be an object or a string holding one" },
  { "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\", "
    "\"arguments\": \"{\\\"n\\\": 123456789012345678901234}\"}}]}]}",
    GLIM_CHAT_ERROR_INVALID_JSON,
    "messages[0].tool_calls[0].function.arguments.n: integer 123456789012345678901234" },
  { "{\"messages\": [], \"tools\": {}}", GLIM_CHAT_ERROR_INVALID_REQUEST, "tools: must be a list" },
  { "{\"messages\": [], \"tools\": [{\"type\": \"custom\", \"custom\": {}}]}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "tools[0].type: must be \"function\"" },
  { "{\"messages\": [], \"tools\": [{\"type\": \"function\"}]}", GLIM_CHAT_ERROR_INVALID_REQUEST,
    "tools[0].function: missing" },
  { "{\"messages\": [], \"tools\": [{\"function\": {\"description\": \"d\"}}]}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "tools[0].function.name: missing" },
  { "{\"messages\": [], \"tools\": [{\"function\": {\"name\": \"f\", \"description\": 1}}]}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "tools[0].function.description: must be a string" },
  { "{\"messages\": [], \"tools\": [{\"function\": {\"name\": \"f\", \"parameters\": []}}]}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "tools[0].function.parameters: must be an object" },
  { "{\"messages\": [], \"add_generation_prompt\": \"yes\"}", GLIM_CHAT_ERROR_INVALID_REQUEST,
    "add_generation_prompt: must be true or false, not a string" },
  { "{\"messages\": [], \"chat_template_kwargs\": []}", GLIM_CHAT_ERROR_INVALID_REQUEST,
    "chat_template_kwargs: must be an object" },
  { "{\"messages\": [], \"chat_template_kwargs\": {\"enable_thinking\": \"false\"}}",
    GLIM_CHAT_ERROR_INVALID_REQUEST,
    "chat_template_kwargs.enable_thinking: must be true, false or null, not a string" },
  { "{\"messages\": [], \"chat_template_kwargs\": {\"clear_thinking\": 0}}",
    GLIM_CHAT_ERROR_INVALID_REQUEST, "chat_template_kwargs.clear_thinking: must be true" },
};

static void
test_errors (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (error_cases); i++) {
    const ErrorCase *c = &error_cases[i];
    g_autoptr (GError) error = NULL;
    g_autoptr (GlimChatRequest) req = glim_chat_request_parse (c->json, -1, &error);
    g_assert_null (req);
    g_assert_nonnull (error);
    if (error->domain != GLIM_CHAT_ERROR || error->code != (int) c->code ||
        !g_str_has_prefix (error->message, c->message)) {
      g_autofree char *json = g_strescape (c->json, NULL);
      g_test_message ("case %zu: %s\n  got (code %d): %s\n  want (code %d): %s...", i, json,
                      error->code, error->message, c->code, c->message);
      g_test_fail ();
    }
  }
}

static void
test_nesting_limit (void)
{
  g_autoptr (GString) deep = g_string_new ("{\"messages\": [], \"tools\": [{\"function\": "
                                           "{\"name\": \"f\", \"parameters\": {\"x\": ");
  for (int i = 0; i < GLIM_PYJSON_MAX_DEPTH; i++)
    g_string_append_c (deep, '[');
  for (int i = 0; i < GLIM_PYJSON_MAX_DEPTH; i++)
    g_string_append_c (deep, ']');
  g_string_append (deep, "}}}]}");
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimChatRequest) req = glim_chat_request_parse (deep->str, deep->len, &error);
  g_assert_error (error, GLIM_CHAT_ERROR, GLIM_CHAT_ERROR_INVALID_JSON);
  g_assert_true (g_str_has_prefix (error->message, "tools[0].function.parameters.x[0][0]"));
  g_assert_nonnull (strstr (error->message, "nested deeper than 512 levels"));
}

/* ---- the JsonNode entry point, the builder and the accessors ---- */

static char *
fixture_path (const char *stem, const char *ext)
{
  g_autofree char *name = g_strconcat (stem, ext, NULL);
  return test_data_path ("chat", name, NULL);
}

static void
test_parse_node (void)
{
  g_autofree char *json_path = fixture_path ("027-calls-across-turns", ".json");
  g_autofree char *txt_path = fixture_path ("027-calls-across-turns", ".txt");
  gsize want_len;
  g_autofree char *want = read_file (txt_path, &want_len);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_file (parser, json_path, &error);
  g_assert_no_error (error);
  g_autoptr (GlimChatRequest) req = glim_chat_request_parse_node (json_parser_get_root (parser),
                                                                  &error);
  g_assert_no_error (error);
  g_autofree char *got = glim_chat_render (req, &error);
  g_assert_no_error (error);
  assert_same_bytes ("parse_node", got, strlen (got), want, want_len);

  /* json-glib turns a lone low surrogate into invalid UTF-8; the node path refuses it. */
  g_autoptr (JsonParser) bad = json_parser_new ();
  json_parser_load_from_data (bad, "{\"messages\": [{\"role\": \"user\", "
                              "\"content\": \"\\udc00x\"}]}", -1, &error);
  g_assert_no_error (error);
  g_autoptr (GlimChatRequest) bad_req = glim_chat_request_parse_node (json_parser_get_root (bad),
                                                                      &error);
  g_assert_null (bad_req);
  g_assert_error (error, GLIM_CHAT_ERROR, GLIM_CHAT_ERROR_INVALID_JSON);
  g_assert_cmpstr (error->message, ==, "messages[0].content: string is not valid UTF-8");
}

static JsonObject *
object_from (const char *json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = glim_pyjson_loads (json, -1, "test", &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (node));
}

/* The builder reproduces fixture 021 (two parallel calls, two results, a final answer). */
static void
test_builder (void)
{
  g_autoptr (GlimChatRequest) req = glim_chat_request_new ();
  g_autoptr (JsonObject) params = object_from (
    "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": "
    "\"City name\"}, \"days\": {\"type\": \"integer\"}}, \"required\": [\"city\"]}");
  glim_chat_request_add_tool (req, "get_weather", "Get weather for a city", params);
  glim_chat_request_add_message (req, GLIM_CHAT_ROLE_USER, "Compare");
  GlimChatMessage *m = glim_chat_request_add_message (req, GLIM_CHAT_ROLE_ASSISTANT,
                                                      "Let me check.");
  glim_chat_message_set_reasoning (m, "two calls");
  g_autoptr (JsonObject) paris = object_from ("{\"city\": \"Paris\"}");
  g_autoptr (JsonObject) rome = object_from ("{\"city\": \"Rome\"}");
  glim_chat_message_add_tool_call (m, "get_weather", paris);
  glim_chat_message_add_tool_call (m, "get_weather", rome);
  glim_chat_request_add_message (req, GLIM_CHAT_ROLE_TOOL, "20C");
  glim_chat_request_add_message (req, GLIM_CHAT_ROLE_TOOL, "25C");
  m = glim_chat_request_add_message (req, GLIM_CHAT_ROLE_ASSISTANT, "Rome is warmer.");
  glim_chat_message_set_reasoning (m, "compare 20 vs 25");
  glim_chat_request_set_add_generation_prompt (req, FALSE);

  g_autofree char *txt_path = fixture_path ("021-parallel-calls", ".txt");
  gsize want_len;
  g_autofree char *want = read_file (txt_path, &want_len);
  g_autoptr (GError) error = NULL;
  g_autofree char *got = glim_chat_render (req, &error);
  g_assert_no_error (error);
  assert_same_bytes ("builder", got, strlen (got), want, want_len);

  /* flags: enable_thinking=false switches the generation prompt to </think> */
  glim_chat_request_set_add_generation_prompt (req, TRUE);
  glim_chat_request_set_enable_thinking (req, GLIM_CHAT_FLAG_FALSE);
  g_assert_false (glim_chat_request_get_thinking (req));
  g_autofree char *off = glim_chat_render (req, &error);
  g_assert_true (g_str_has_suffix (off, "Rome is warmer.<|assistant|></think>"));
  /* clear_thinking=false keeps reasoning before the last user turn */
  glim_chat_request_add_message (req, GLIM_CHAT_ROLE_USER, "ok");
  g_autofree char *cleared = glim_chat_render (req, &error);
  g_assert_null (strstr (cleared, "<think>two calls</think>"));
  glim_chat_request_set_clear_thinking (req, GLIM_CHAT_FLAG_FALSE);
  g_autofree char *kept = glim_chat_render (req, &error);
  g_assert_nonnull (strstr (kept, "<think>two calls</think>"));
}

static void
test_accessors (void)
{
  g_autofree char *json_path = fixture_path ("009-tools-nested-schemas", ".json");
  gsize len;
  g_autofree char *json = read_file (json_path, &len);
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimChatRequest) req = glim_chat_request_parse (json, len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (glim_chat_request_get_n_tools (req), ==, 4);
  g_assert_cmpstr (glim_chat_request_get_tool (req, 2)->name, ==, "计算器");
  const GlimChatTool *search = glim_chat_request_find_tool (req, "search_files");
  g_assert_nonnull (search);
  JsonObject *props = json_object_get_object_member (search->parameters, "properties");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (props, "query"),
                                                  "type"), ==, "string");
  const GlimChatTool *now = glim_chat_request_find_tool (req, "now");
  g_assert_null (now->description);
  g_assert_null (now->parameters);
  g_assert_null (glim_chat_request_find_tool (req, "missing"));
  g_assert_true (glim_chat_request_get_thinking (req));
  g_assert_cmpint (glim_chat_request_get_enable_thinking (req), ==, GLIM_CHAT_FLAG_UNSET);
  g_assert_true (glim_chat_request_get_add_generation_prompt (req));

  /* reasoning: `reasoning or reasoning_content`, and arguments strings parsed */
  const char *body =
    "{\"messages\": [{\"role\": \"assistant\", \"content\": null, \"reasoning\": \"\", "
    "\"reasoning_content\": \"r\", \"tool_calls\": [{\"function\": {\"name\": \"f\", "
    "\"arguments\": \"{\\\"b\\\": 1, \\\"a\\\": [2.5]}\"}}]}, {\"role\": \"tool\", \"content\": "
    "[{\"type\": \"text\", \"text\": \"x\"}, {\"type\": \"text\", \"text\": \"y\"}]}], "
    "\"chat_template_kwargs\": {\"enable_thinking\": null, \"clear_thinking\": true}}";
  g_autoptr (GlimChatRequest) r2 = glim_chat_request_parse (body, -1, &error);
  g_assert_no_error (error);
  const GlimChatMessage *m = glim_chat_request_get_message (r2, 0);
  g_assert_cmpint (m->role, ==, GLIM_CHAT_ROLE_ASSISTANT);
  g_assert_cmpstr (m->content, ==, "");
  g_assert_cmpstr (m->reasoning, ==, "r");
  const GlimChatToolCall *tc = g_ptr_array_index (m->tool_calls, 0);
  g_autoptr (GList) members = json_object_get_members (tc->arguments);
  g_assert_cmpstr (members->data, ==, "b");
  g_assert_cmpstr (glim_chat_request_get_message (r2, 1)->content, ==, "x\ny");
  g_assert_cmpint (glim_chat_request_get_enable_thinking (r2), ==, GLIM_CHAT_FLAG_FALSE);
  g_assert_cmpint (glim_chat_request_get_clear_thinking (r2), ==, GLIM_CHAT_FLAG_TRUE);
  g_assert_false (glim_chat_request_get_thinking (r2));
  g_assert_cmpstr (glim_chat_role_to_string (GLIM_CHAT_ROLE_TOOL), ==, "tool");
}

/* ---- glimmer-cli render ---- */

static void
test_cli (void)
{
  g_autofree char *json_path = fixture_path ("040-odd-characters", ".json");
  g_autofree char *txt_path = fixture_path ("040-odd-characters", ".txt");
  gsize want_len;
  g_autofree char *want = read_file (txt_path, &want_len);
  g_autofree char *out = NULL, *err = NULL;
  const char *args[] = { "render", "--request", json_path, NULL };
  g_assert_cmpint (test_run_cli (args, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  assert_same_bytes ("cli", out, strlen (out), want, want_len);

  g_autofree char *dir = test_make_tmpdir ();
  g_autofree char *bad_path = g_build_filename (dir, "bad.json", NULL);
  g_file_set_contents (bad_path, "{\"messages\": [{\"role\": \"robot\"}]}", -1, NULL);
  g_autofree char *out2 = NULL, *err2 = NULL;
  const char *bad_args[] = { "render", "--request", bad_path, NULL };
  g_assert_cmpint (test_run_cli (bad_args, &out2, &err2), ==, 1);
  g_assert_cmpstr (out2, ==, "");
  g_assert_cmpstr (err2, ==, "glimmer-cli render: messages[0].role: unknown role \"robot\" "
                             "(expected system, user, assistant or tool)\n");
  test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autoptr (GPtrArray) stems = fixture_stems ();
  g_test_add_func ("/glimmer/chat/template-sha256", test_template_sha);
  g_test_add_data_func ("/glimmer/chat/fixture-count", stems, test_fixture_count);
  for (guint i = 0; i < stems->len; i++) {
    const char *stem = g_ptr_array_index (stems, i);
    g_autofree char *base = g_path_get_basename (stem);
    g_autofree char *name = g_strconcat ("/glimmer/chat/fixture/", base, NULL);
    g_test_add_data_func (name, stem, test_fixture);
  }
  g_test_add_func ("/glimmer/chat/errors", test_errors);
  g_test_add_func ("/glimmer/chat/nesting-limit", test_nesting_limit);
  g_test_add_func ("/glimmer/chat/parse-node", test_parse_node);
  g_test_add_func ("/glimmer/chat/builder", test_builder);
  g_test_add_func ("/glimmer/chat/accessors", test_accessors);
  g_test_add_func ("/glimmer/chat/cli-render", test_cli);
  return g_test_run ();
}
