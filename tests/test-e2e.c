/* test-e2e.c: end to end through `glimmer-cli chat --json` on the bundled demo model (CPU,
 * greedy): the question "What is 37 * 41?" is answered by thinking, a calculator call that
 * the registry runs, and a final answer with its result; with thinking off, the same without
 * reasoning. Also the CLI's refusals (tool approval without a terminal, unknown tool, missing
 * model folder).
 * SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* The JSON objects of --json output, one per line. */
static GPtrArray *
parse_lines (const char *out)
{
  GPtrArray *objs = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  for (char **l = lines; *l != NULL; l++) {
    if (**l == '\0')
      continue;
    g_autoptr (GError) error = NULL;
    JsonNode *node = json_from_string (*l, &error);
    g_assert_no_error (error);
    g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
    g_ptr_array_add (objs, node);
  }
  return objs;
}

static JsonObject *
obj_at (GPtrArray *objs, guint i)
{
  return json_node_get_object (g_ptr_array_index (objs, i));
}

/* Checks the two messages of the 37 * 41 exchange; `thinking` says whether reasoning is on. */
static void
check_exchange (const char *out, gboolean thinking)
{
  g_autoptr (GPtrArray) objs = parse_lines (out);
  g_assert_cmpuint (objs->len, ==, 2);

  /* 1: reasoning (closed), then the calculator call with the user's expression */
  JsonObject *m1 = obj_at (objs, 0);
  g_assert_cmpstr (json_object_get_string_member (m1, "role"), ==, "assistant");
  g_assert_cmpstr (json_object_get_string_member (m1, "finish_reason"), ==, "tool_calls");
  if (thinking) {
    const char *r = json_object_get_string_member_with_default (m1, "reasoning_content", NULL);
    g_assert_nonnull (r);
    g_assert_cmpuint (strlen (r), >, 0);
    g_assert_null (strstr (r, "<think>"));
    g_assert_null (strstr (r, "</think>"));
  } else {
    g_assert_true (json_object_get_null_member (m1, "reasoning_content"));
  }
  JsonArray *calls = json_object_get_array_member (m1, "tool_calls");
  g_assert_cmpuint (json_array_get_length (calls), ==, 1);
  JsonObject *call = json_array_get_object_element (calls, 0);
  JsonObject *fn = json_object_get_object_member (call, "function");
  g_assert_cmpstr (json_object_get_string_member (fn, "name"), ==, "calculator");
  g_autoptr (JsonNode) args = json_from_string (json_object_get_string_member (fn, "arguments"),
                                                NULL);
  g_assert_nonnull (args);
  JsonObject *a = json_node_get_object (args);
  g_assert_cmpuint (json_object_get_size (a), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (a, "expr"), ==, "37 * 41");
  JsonArray *results = json_object_get_array_member (m1, "tool_results");
  g_assert_cmpuint (json_array_get_length (results), ==, 1);
  JsonObject *res = json_array_get_object_element (results, 0);
  g_assert_cmpstr (json_object_get_string_member (res, "content"), ==, "1517");
  g_assert_true (json_object_get_boolean_member (res, "ok"));
  g_assert_cmpstr (json_object_get_string_member (res, "tool_call_id"), ==,
                   json_object_get_string_member (call, "id"));

  /* 2: the final answer, with the tool's result in it */
  JsonObject *m2 = obj_at (objs, 1);
  g_assert_cmpstr (json_object_get_string_member (m2, "finish_reason"), ==, "stop");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (m2, "tool_calls")), ==,
                    0);
  const char *content = json_object_get_string_member_with_default (m2, "content", NULL);
  g_assert_nonnull (content);
  g_assert_nonnull (strstr (content, "1517"));
  if (thinking)
    g_assert_nonnull (json_object_get_string_member_with_default (m2, "reasoning_content",
                                                                  NULL));
  else
    g_assert_true (json_object_get_null_member (m2, "reasoning_content"));
  /* the second turn reused the first one's tokens */
  JsonObject *usage = json_object_get_object_member (m2, "usage");
  g_assert_cmpint (json_object_get_int_member (usage, "reused_tokens"), >,
                   json_object_get_int_member (json_object_get_object_member (m1, "usage"),
                                               "prompt_tokens"));
}

/* glimmer-cli with args must succeed; its standard output (both streams are logged) */
static char *
chat_ok (const char *const *args)
{
  g_autofree char *out = NULL, *err = NULL;
  int status = test_run_cli (args, &out, &err);
  g_test_message ("stdout: %s\nstderr: %s", out, err);
  g_assert_cmpint (status, ==, 0);
  return g_steal_pointer (&out);
}

static void
test_calculator_thinking (void)
{
  /* no --model: the bundled demo model is found in the source tree */
  const char *args[] = { "chat", "--message", "What is 37 * 41?", "--yes", "--json",
                         "--seed", "1", NULL };
  g_autofree char *out = chat_ok (args);
  check_exchange (out, TRUE);
}

static void
test_calculator_no_think (void)
{
  g_autofree char *dir = test_demo_model_dir ();
  const char *args[] = { "chat", "--model", dir, "--message", "What is 37 * 41?", "--yes",
                         "--json", "--no-think", NULL };
  g_autofree char *out = chat_ok (args);
  check_exchange (out, FALSE);
}

static void
test_text_output (void)
{
  g_autofree char *dir = test_demo_model_dir ();
  const char *args[] = { "chat", "--model", dir, "--message", "What is 37 * 41?", "--yes",
                         NULL };
  g_autofree char *out = chat_ok (args);
  g_assert_nonnull (strstr (out, "[tool call] calculator(expr=37 * 41)\n[calculator] 1517\n"));
  g_assert_nonnull (strstr (out, "[thinking]\n"));
  g_assert_null (strstr (out, "\033["));     /* no colours when stdout is not a terminal */
}

static void
test_approval_needs_yes (void)
{
  g_autofree char *dir = test_demo_model_dir ();
  const char *args[] = { "chat", "--model", dir, "--message", "What is 37 * 41?", "--json",
                         NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status = test_run_cli (args, &out, &err);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "tool approval needs --yes when stdin is not a terminal"));
  /* the assistant message with the call was still printed */
  g_autoptr (GPtrArray) objs = parse_lines (out);
  g_assert_cmpuint (objs->len, ==, 1);
  g_assert_cmpstr (json_object_get_string_member (obj_at (objs, 0), "finish_reason"), ==,
                   "tool_calls");
}

static void
test_refusals (void)
{
  g_autofree char *dir = test_demo_model_dir ();
  const char *bad_tool[] = { "chat", "--model", dir, "--message", "Hi", "--tools",
                             "calculator,shell", NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (test_run_cli (bad_tool, &out, &err), ==, 1);
  g_assert_nonnull (strstr (err, "--tools: no tool \"shell\""));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  const char *no_model[] = { "chat", "--model", "/nonexistent/model", "--message", "Hi", NULL };
  g_assert_cmpint (test_run_cli (no_model, &out, &err), ==, 1);
  g_assert_nonnull (strstr (err, "/nonexistent/model"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  const char *no_message[] = { "chat", "--model", dir, NULL };
  g_assert_cmpint (test_run_cli (no_message, &out, &err), ==, 1);
  g_assert_nonnull (strstr (err, "--message"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/e2e/calculator/thinking", test_calculator_thinking);
  g_test_add_func ("/glimmer/e2e/calculator/no-think", test_calculator_no_think);
  g_test_add_func ("/glimmer/e2e/calculator/text", test_text_output);
  g_test_add_func ("/glimmer/e2e/approval-needs-yes", test_approval_needs_yes);
  g_test_add_func ("/glimmer/e2e/refusals", test_refusals);
  return g_test_run ();
}
