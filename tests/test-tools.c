/* test-tools.c: the tool registry and the built-in tools (engine/glim-tools.h).
 * SPDX-License-Identifier: MIT
 * Expected calculator values, formats and the built-ins' prompt come from Python
 * (tools/reference/make_tools_fixtures.py -> tests/data/tools/). */
#include "testutil.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static JsonObject *
load_fixture (const char *name, JsonParser **keep)
{
  g_autofree char *path = test_data_path ("tools", name, NULL);
  g_autoptr (GError) error = NULL;
  *keep = json_parser_new ();
  json_parser_load_from_file (*keep, path, &error);
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (*keep));
}

/* Run a registry tool with {key: value} (a string) as arguments. */
static void
run_with_string_arg (GlimToolRegistry *reg, const char *tool, const char *key,
                     const char *value, const GlimToolLimits *limits, GlimToolResult *result)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, value);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *args = json_to_string (root, FALSE);
  glim_tool_registry_run (reg, tool, args, limits, NULL, result);
}

/* ---- calculator ---- */

static void
test_calculator_reference (void)
{
  g_autoptr (JsonParser) jp = NULL;
  JsonObject *fx = load_fixture ("calculator.json", &jp);
  JsonArray *cases = json_object_get_array_member (fx, "cases");
  g_assert_cmpuint (json_array_get_length (cases), >, 300);
  g_autoptr (GlimToolRegistry) reg = glim_tool_registry_new_builtin ();
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    const char *expr = json_object_get_string_member (c, "expr");
    double want = g_ascii_strtod (json_object_get_string_member (c, "value"), NULL);
    gboolean exact = json_object_get_boolean_member (c, "exact");
    g_test_message ("%s", expr);
    g_autoptr (GError) error = NULL;
    double got = NAN;
    g_assert_true (glim_calculator_eval (expr, &got, &error));
    g_assert_no_error (error);
    if (exact)
      g_assert_cmpfloat (got, ==, want);
    else
      g_assert_cmpfloat_with_epsilon (got / want, 1.0, 1e-15);

    GlimToolResult r;
    run_with_string_arg (reg, "calculator", "expr", expr, NULL, &r);
    g_assert_true (r.ok);
    g_assert_false (r.truncated);
    if (exact)
      g_assert_cmpstr (r.output, ==, json_object_get_string_member (c, "text"));
    glim_tool_result_clear (&r);
  }
}

static void
test_calculator_format (void)
{
  g_autoptr (JsonParser) jp = NULL;
  JsonObject *fx = load_fixture ("calculator.json", &jp);
  JsonArray *fmt = json_object_get_array_member (fx, "format");
  for (guint i = 0; i < json_array_get_length (fmt); i++) {
    JsonObject *f = json_array_get_object_element (fmt, i);
    double v = g_ascii_strtod (json_object_get_string_member (f, "value"), NULL);
    g_autofree char *got = glim_calculator_format (v);
    g_assert_cmpstr (got, ==, json_object_get_string_member (f, "text"));
  }
}

static void
test_calculator_division_by_zero (void)
{
  g_autoptr (JsonParser) jp = NULL;
  JsonObject *fx = load_fixture ("calculator.json", &jp);
  JsonArray *zero = json_object_get_array_member (fx, "division_by_zero");
  g_autoptr (GlimToolRegistry) reg = glim_tool_registry_new_builtin ();
  for (guint i = 0; i < json_array_get_length (zero); i++) {
    const char *expr = json_array_get_string_element (zero, i);
    g_autoptr (GError) error = NULL;
    double v = 0;
    g_assert_false (glim_calculator_eval (expr, &v, &error));
    g_assert_nonnull (error);
    g_assert_true (g_str_has_prefix (error->message, "division by zero at position "));
    GlimToolResult r;
    run_with_string_arg (reg, "calculator", "expr", expr, NULL, &r);
    g_assert_false (r.ok);
    g_assert_true (g_str_has_prefix (r.output, "error: division by zero"));
    glim_tool_result_clear (&r);
  }
  /* the position is the operator's, 1-based */
  g_autoptr (GError) error = NULL;
  g_assert_false (glim_calculator_eval ("10 + 4 / 0", NULL, &error));
  g_assert_cmpstr (error->message, ==, "division by zero at position 8");
}

static void
test_calculator_errors (void)
{
  g_autofree char *too_long = g_strnfill (1001, '1');
  g_autofree char *open101 = g_strnfill (101, '('), *close101 = g_strnfill (101, ')');
  g_autofree char *open99 = g_strnfill (99, '('), *close99 = g_strnfill (99, ')');
  g_autofree char *minus150 = g_strnfill (150, '-');
  g_autofree char *zeros400 = g_strnfill (400, '0'), *zeros300 = g_strnfill (300, '0');
  g_autofree char *parens = g_strdup_printf ("%s1%s", open101, close101);
  g_autofree char *ok_parens = g_strdup_printf ("%s1%s", open99, close99);
  g_autofree char *minuses = g_strdup_printf ("%s1", minus150);
  g_autofree char *huge_literal = g_strdup_printf ("1%s.0", zeros400);
  g_autofree char *huge_product = g_strdup_printf ("1%s.0 * 1%s", zeros300, zeros300);
  const struct { const char *expr, *message; } cases[] = {
    { "", "the expression is empty" },
    { "   ", "the expression is empty" },
    { "1 +", "the expression ends where a number was expected at position 4" },
    { "2 ** 3", "'**' is not supported at position 4" },
    { "7 // 2", "'//' is not supported at position 4" },
    { "abc", "unexpected character 'a' at position 1" },
    { "1 + x", "unexpected character 'x' at position 5" },
    { "__import__('os')", "unexpected character '_' at position 1" },
    { "1e5", "unexpected character 'e' at position 2" },
    { "1,5", "unexpected character ',' at position 2" },
    { "(1 + 2", "unclosed '(' at position 1" },
    { "1 + 2)", "unmatched ')' at position 6" },
    { "(1 + 2]", "unexpected character ']' at position 7" },
    { "01", "leading zeros in a number at position 1" },
    { "1.2.3", "malformed number at position 4" },
    { ".", "a lone '.' is not a number at position 1" },
    { "1 2", "unexpected text at position 3" },
    { "()", "expected a number or '(' at position 2" },
    { "* 3", "expected a number or '(' at position 1" },
    { "3 \x01", "unexpected character 0x01 at position 3" },
    { "3 \xc3\xa9", "unexpected character at byte 3 (only digits, + - * / ( ) . and spaces "
                    "are allowed)" },
    { too_long, "the expression is too long (1001 characters; at most 1000)" },
    { parens, "the expression is nested too deeply at position 101" },
    { minuses, "the expression is nested too deeply at position 101" },
    { huge_literal, "the number is too large at position 1" },
    { huge_product, "the result is too large at position 305" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    double v = 0;
    g_test_message ("%s", cases[i].expr);
    g_assert_false (glim_calculator_eval (cases[i].expr, &v, &error));
    g_assert_nonnull (error);
    g_assert_cmpstr (error->message, ==, cases[i].message);
  }
  double v = 0;
  g_assert_true (glim_calculator_eval (ok_parens, &v, NULL));
  g_assert_cmpfloat (v, ==, 1.0);
}

/* ---- the built-ins as the model saw them ---- */

static void
test_builtin_schemas (void)
{
  g_autoptr (JsonParser) jp = NULL;
  JsonObject *fx = load_fixture ("builtins.json", &jp);
  JsonArray *tools = json_object_get_array_member (fx, "tools");
  g_autoptr (GlimToolRegistry) reg = glim_tool_registry_new_builtin ();
  g_assert_cmpuint (glim_tool_registry_get_n_tools (reg), ==, json_array_get_length (tools));
  for (guint i = 0; i < json_array_get_length (tools); i++) {
    JsonObject *f = json_object_get_object_member (json_array_get_object_element (tools, i),
                                                   "function");
    const char *name = json_object_get_string_member (f, "name");
    g_assert_cmpstr (glim_tool_registry_get_name (reg, i), ==, name);
    g_assert_true (glim_tool_registry_has (reg, name));
    g_assert_cmpstr (glim_tool_registry_get_description (reg, name), ==,
                     json_object_get_string_member (f, "description"));
  }
  /* the prompt the real template renders with make_corpus.py's dicts, byte for byte: names,
   * descriptions, schemas and their member order */
  g_autoptr (GlimChatRequest) req = glim_chat_request_new ();
  glim_tool_registry_add_to_request (reg, req, NULL);
  glim_chat_request_add_message (req, GLIM_CHAT_ROLE_USER, "What is 37 * 41?");
  g_autoptr (GError) error = NULL;
  g_autofree char *prompt = glim_chat_render (req, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (prompt, ==, json_object_get_string_member (fx, "prompt"));

  /* a subset, by name */
  const char *only[] = { "current_time", NULL };
  g_autoptr (GlimChatRequest) req2 = glim_chat_request_new ();
  glim_tool_registry_add_to_request (reg, req2, only);
  g_assert_cmpuint (glim_chat_request_get_n_tools (req2), ==, 1);
  g_assert_cmpstr (glim_chat_request_get_tool (req2, 0)->name, ==, "current_time");
}

static void
test_current_time (void)
{
  g_autoptr (GlimToolRegistry) reg = glim_tool_registry_new_builtin ();
  g_autoptr (GDateTime) before = g_date_time_new_now_local ();
  GlimToolResult r;
  glim_tool_registry_run (reg, "current_time", "{}", NULL, NULL, &r);
  g_autoptr (GDateTime) after = g_date_time_new_now_local ();
  g_assert_true (r.ok);
  g_assert_true (g_regex_match_simple ("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$",
                                       r.output, 0, 0));
  g_autoptr (GTimeZone) tz = g_time_zone_new_local ();
  g_autoptr (GDateTime) t = g_date_time_new_from_iso8601 (r.output, tz);
  g_assert_nonnull (t);
  g_assert_cmpint (g_date_time_to_unix (t), >=, g_date_time_to_unix (before));
  g_assert_cmpint (g_date_time_to_unix (t), <=, g_date_time_to_unix (after));
  glim_tool_result_clear (&r);
  /* no arguments at all is fine too */
  glim_tool_registry_run (reg, "current_time", "", NULL, NULL, &r);
  g_assert_true (r.ok);
  glim_tool_result_clear (&r);
}

/* ---- running calls: fake tools ---- */

typedef struct {
  gint     started;
  gint     saw_cancel;
  gint     finished;
  gint     destroyed;
  gint     destroyed_after_finish;
} SlowState;

static char *
slow_tool (JsonObject *arguments, GCancellable *cancellable, gpointer user_data, GError **error)
{
  SlowState *s = user_data;
  g_atomic_int_set (&s->started, 1);
  for (int i = 0; i < 300 && !g_cancellable_is_cancelled (cancellable); i++)
    g_usleep (10000);
  g_atomic_int_set (&s->saw_cancel, g_cancellable_is_cancelled (cancellable));
  g_usleep (50000);                 /* keep running a little after the caller gave up */
  g_atomic_int_set (&s->finished, 1);
  return g_strdup ("too late");
}

static void
slow_destroy (gpointer data)
{
  SlowState *s = data;
  g_atomic_int_set (&s->destroyed_after_finish, g_atomic_int_get (&s->finished));
  g_atomic_int_set (&s->destroyed, 1);
}

static void
test_timeout (void)
{
  SlowState *s = g_new0 (SlowState, 1);
  GlimToolRegistry *reg = glim_tool_registry_new ();
  glim_tool_registry_add (reg, "slow", "Takes its time.", NULL, slow_tool, s, slow_destroy);
  GlimToolLimits limits = { .timeout_ms = 100 };
  GlimToolResult r;
  gint64 t0 = g_get_monotonic_time ();
  glim_tool_registry_run (reg, "slow", "{}", &limits, NULL, &r);
  double waited = (g_get_monotonic_time () - t0) / 1e6;
  g_assert_false (r.ok);
  g_assert_cmpstr (r.output, ==, "error: slow did not finish within 0.1 s");
  g_assert_cmpfloat (waited, <, 1.0);
  g_assert_cmpfloat (r.seconds, >=, 0.1);
  glim_tool_result_clear (&r);
  /* the registry goes away while the abandoned call still runs: nothing is freed under it */
  glim_tool_registry_free (reg);
  for (int i = 0; i < 500 && !g_atomic_int_get (&s->destroyed); i++)
    g_usleep (10000);
  g_assert_true (g_atomic_int_get (&s->started));
  g_assert_true (g_atomic_int_get (&s->saw_cancel));
  g_assert_true (g_atomic_int_get (&s->destroyed));
  g_assert_true (g_atomic_int_get (&s->destroyed_after_finish));
  g_free (s);
}

static gboolean
cancel_later (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static gpointer
cancel_thread (gpointer data)
{
  g_usleep (50000);
  cancel_later (data);
  return NULL;
}

static void
test_cancel (void)
{
  SlowState *s = g_new0 (SlowState, 1);
  GlimToolRegistry *reg = glim_tool_registry_new ();
  glim_tool_registry_add (reg, "slow", "Takes its time.", NULL, slow_tool, s, slow_destroy);
  g_autoptr (GCancellable) c = g_cancellable_new ();
  GThread *t = g_thread_new ("cancel", cancel_thread, c);
  GlimToolResult r;
  glim_tool_registry_run (reg, "slow", "{}", NULL, c, &r);
  g_thread_join (t);
  g_assert_false (r.ok);
  g_assert_cmpstr (r.output, ==, "error: the call was cancelled");
  g_assert_cmpfloat (r.seconds, <, 1.0);
  glim_tool_result_clear (&r);
  glim_tool_registry_free (reg);
  for (int i = 0; i < 500 && !g_atomic_int_get (&s->destroyed); i++)
    g_usleep (10000);
  g_assert_true (g_atomic_int_get (&s->saw_cancel));
  g_assert_true (g_atomic_int_get (&s->destroyed_after_finish));
  g_free (s);
}

static char *
echo_tool (JsonObject *arguments, GCancellable *cancellable, gpointer user_data, GError **error)
{
  if (json_object_has_member (arguments, "fail")) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no such city");
    return NULL;
  }
  return g_strdup (json_object_get_string_member (arguments, "text"));
}

static GlimToolRegistry *
echo_registry (void)
{
  GlimToolRegistry *reg = glim_tool_registry_new ();
  g_autoptr (JsonNode) schema = json_from_string (
    "{\"type\": \"object\", \"properties\": {\"text\": {\"type\": \"string\"}, "
    "\"n\": {\"type\": \"integer\"}, \"x\": {\"type\": [\"number\", \"null\"]}, "
    "\"fail\": {\"type\": \"boolean\"}}, \"required\": [\"text\"]}", NULL);
  glim_tool_registry_add (reg, "echo", "Echoes text.", json_node_get_object (schema), echo_tool,
                          NULL, NULL);
  return reg;
}

static void
test_output_cap (void)
{
  g_autoptr (GlimToolRegistry) reg = echo_registry ();
  GlimToolLimits limits = { .max_output_bytes = 10 };
  GlimToolResult r;
  /* 9 ASCII bytes then a 3-byte character: the cut at 10 backs off to 9 */
  run_with_string_arg (reg, "echo", "text", "aaaaaaaaa\xe2\x82\xac\xe2\x82\xac", &limits, &r);
  g_assert_true (r.ok);
  g_assert_true (r.truncated);
  g_assert_true (g_utf8_validate (r.output, -1, NULL));
  g_assert_cmpstr (r.output, ==, "aaaaaaaaa\n[output truncated: 9 of 15 bytes shown]");
  glim_tool_result_clear (&r);
  /* exactly at the cap: untouched */
  run_with_string_arg (reg, "echo", "text", "0123456789", &limits, &r);
  g_assert_false (r.truncated);
  g_assert_cmpstr (r.output, ==, "0123456789");
  glim_tool_result_clear (&r);
  /* the default cap is 16 KiB */
  g_autofree char *big = g_strnfill (20000, 'x');
  run_with_string_arg (reg, "echo", "text", big, NULL, &r);
  g_assert_true (r.truncated);
  g_assert_true (g_str_has_prefix (r.output + 16384, "\n[output truncated: 16384 of 20000"));
  glim_tool_result_clear (&r);
}

static void
test_bad_calls (void)
{
  g_autoptr (GlimToolRegistry) reg = echo_registry ();
  const struct { const char *name, *args, *output; } cases[] = {
    { "nope", "{}", "error: unknown tool \"nope\" (available: echo)" },
    { NULL, "{}", "error: unknown tool \"\" (available: echo)" },
    { "echo", "{}", "error: missing required argument \"text\"" },
    { "echo", "", "error: missing required argument \"text\"" },
    { "echo", "{\"text\": 5}", "error: argument \"text\" must be of type string" },
    { "echo", "{\"text\": \"a\", \"n\": 1.5}", "error: argument \"n\" must be of type integer" },
    { "echo", "{\"text\": \"a\", \"x\": \"1\"}",
      "error: argument \"x\" must be of type number or null" },
    { "echo", "[1, 2]", "error: the arguments are not a JSON object" },
    { "echo", "{\"text\": ", "error: the arguments are not a JSON object" },
    { "echo", "{\"text\": \"a\", \"fail\": true}", "error: no such city" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    GlimToolResult r;
    glim_tool_registry_run (reg, cases[i].name, cases[i].args, NULL, NULL, &r);
    g_assert_false (r.ok);
    g_assert_cmpstr (r.output, ==, cases[i].output);
    glim_tool_result_clear (&r);
  }
  /* accepted: matching types, a null where allowed, extra keys */
  GlimToolResult r;
  glim_tool_registry_run (reg, "echo", "{\"text\": \"hi\", \"n\": 2, \"x\": null, \"more\": [1]}",
                          NULL, NULL, &r);
  g_assert_true (r.ok);
  g_assert_cmpstr (r.output, ==, "hi");
  glim_tool_result_clear (&r);
}

static void
test_registry (void)
{
  g_autoptr (GlimToolRegistry) reg = glim_tool_registry_new_builtin ();
  g_assert_cmpuint (glim_tool_registry_get_n_tools (reg), ==, 2);
  g_assert_false (glim_tool_registry_has (reg, "echo"));
  glim_tool_registry_add (reg, "calculator", "Replaced.", NULL, echo_tool, NULL, NULL);
  g_assert_cmpuint (glim_tool_registry_get_n_tools (reg), ==, 2);
  g_assert_cmpstr (glim_tool_registry_get_name (reg, 0), ==, "calculator");
  g_assert_cmpstr (glim_tool_registry_get_description (reg, "calculator"), ==, "Replaced.");
  g_assert_null (glim_tool_registry_get_description (reg, "missing"));
  GlimToolResult r;
  run_with_string_arg (reg, "calculator", "text", "replaced", NULL, &r);
  g_assert_cmpstr (r.output, ==, "replaced");
  glim_tool_result_clear (&r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/tools/calculator/reference", test_calculator_reference);
  g_test_add_func ("/glimmer/tools/calculator/format", test_calculator_format);
  g_test_add_func ("/glimmer/tools/calculator/division-by-zero",
                   test_calculator_division_by_zero);
  g_test_add_func ("/glimmer/tools/calculator/errors", test_calculator_errors);
  g_test_add_func ("/glimmer/tools/builtin/schemas", test_builtin_schemas);
  g_test_add_func ("/glimmer/tools/builtin/current-time", test_current_time);
  g_test_add_func ("/glimmer/tools/run/timeout", test_timeout);
  g_test_add_func ("/glimmer/tools/run/cancel", test_cancel);
  g_test_add_func ("/glimmer/tools/run/output-cap", test_output_cap);
  g_test_add_func ("/glimmer/tools/run/bad-calls", test_bad_calls);
  g_test_add_func ("/glimmer/tools/registry", test_registry);
  return g_test_run ();
}
