/* test-history.c: the conversation model and the history store (src/appcore/).
 * SPDX-License-Identifier: MIT
 *
 * Round trip of every message field through a file, atomic replacement, corrupt files moved
 * aside (never deleted), order, search, rename, delete + undo, export, the engine request. */
#include <glib.h>
#include <glib/gstdio.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "glimmer-history.h"
#include "testutil.h"

/* A conversation with one message of every kind, every optional field set. */
static GlimmerConversation *
make_full_conversation (void)
{
  GlimmerConversation *conv = glimmer_conversation_new ();
  glimmer_conversation_set_title (conv, "Grüße & <tags> \"quoted\"");
  glimmer_conversation_append (conv, glimmer_message_new (GLIM_CHAT_ROLE_SYSTEM, "Be brief."));
  glimmer_conversation_append (conv, glimmer_message_new (GLIM_CHAT_ROLE_USER,
                                                          "What is 37 * 41?\nThanks 🙂"));
  GlimmerMessage *a = glimmer_message_new (GLIM_CHAT_ROLE_ASSISTANT, "");
  glimmer_message_set_reasoning (a, "I should use the calculator.");
  glimmer_message_add_tool_call (a, "chatcmpl-tool-0123456789abcdef0123456789abcdef",
                                 "calculator", "{\"expr\": \"37 * 41\"}");
  a->finish_reason = g_strdup ("tool_calls");
  a->has_stats = TRUE;
  a->stats = (GlimmerMessageStats) { 42.5, 117, 23, 1.25 };
  GlimmerGenerationSettings s;
  glimmer_generation_settings_init (&s);
  s.temperature = 0.6;
  s.top_k = 40;
  s.seed = G_GUINT64_CONSTANT (18446744073709551557);  /* above 2^53: must survive */
  s.thinking = FALSE;
  glimmer_message_set_settings (a, &s);
  a->model = g_strdup ("demo-model");
  glimmer_conversation_append (conv, a);
  GlimmerMessage *t = glimmer_message_new (GLIM_CHAT_ROLE_TOOL, "1517");
  t->tool_call_id = g_strdup ("chatcmpl-tool-0123456789abcdef0123456789abcdef");
  t->tool_name = g_strdup ("calculator");
  t->tool_ok = FALSE;
  glimmer_conversation_append (conv, t);
  GlimmerMessage *f = glimmer_message_new (GLIM_CHAT_ROLE_ASSISTANT, "37 × 41 = **1517**.");
  f->reasoning = g_strdup ("");
  f->finish_reason = g_strdup ("stop");
  glimmer_conversation_append (conv, f);
  return conv;
}

static void
assert_messages_equal (GlimmerMessage *a, GlimmerMessage *b)
{
  g_assert_cmpint (a->role, ==, b->role);
  g_assert_cmpstr (a->content, ==, b->content);
  g_assert_cmpstr (a->reasoning, ==, b->reasoning);
  g_assert_cmpuint (a->tool_calls->len, ==, b->tool_calls->len);
  for (guint k = 0; k < a->tool_calls->len; k++) {
    GlimmerToolCall *x = a->tool_calls->pdata[k], *y = b->tool_calls->pdata[k];
    g_assert_cmpstr (x->id, ==, y->id);
    g_assert_cmpstr (x->name, ==, y->name);
    g_assert_cmpstr (x->arguments, ==, y->arguments);
  }
  g_assert_cmpstr (a->tool_call_id, ==, b->tool_call_id);
  g_assert_cmpstr (a->tool_name, ==, b->tool_name);
  g_assert_cmpint (a->tool_ok, ==, b->tool_ok);
  g_assert_cmpint (a->created, ==, b->created);
  g_assert_cmpint (a->interrupted, ==, b->interrupted);
  g_assert_cmpstr (a->finish_reason, ==, b->finish_reason);
  g_assert_cmpint (a->has_stats, ==, b->has_stats);
  g_assert_cmpfloat (a->stats.tokens_per_second, ==, b->stats.tokens_per_second);
  g_assert_cmpint (a->stats.n_prompt, ==, b->stats.n_prompt);
  g_assert_cmpint (a->stats.n_generated, ==, b->stats.n_generated);
  g_assert_cmpfloat (a->stats.thinking_seconds, ==, b->stats.thinking_seconds);
  g_assert_true ((a->settings == NULL) == (b->settings == NULL));
  if (a->settings) {
    g_assert_cmpfloat (a->settings->temperature, ==, b->settings->temperature);
    g_assert_cmpfloat (a->settings->top_p, ==, b->settings->top_p);
    g_assert_cmpint (a->settings->top_k, ==, b->settings->top_k);
    g_assert_cmpfloat (a->settings->min_p, ==, b->settings->min_p);
    g_assert_cmpint (a->settings->max_tokens, ==, b->settings->max_tokens);
    g_assert_cmpuint (a->settings->seed, ==, b->settings->seed);
    g_assert_cmpint (a->settings->thinking, ==, b->settings->thinking);
  }
  g_assert_cmpstr (a->model, ==, b->model);
}

static void
assert_conversations_equal (GlimmerConversation *a, GlimmerConversation *b)
{
  g_assert_cmpstr (glimmer_conversation_get_id (a), ==, glimmer_conversation_get_id (b));
  g_assert_cmpstr (glimmer_conversation_get_title (a), ==, glimmer_conversation_get_title (b));
  g_assert_cmpint (glimmer_conversation_get_created (a), ==, glimmer_conversation_get_created (b));
  g_assert_cmpint (glimmer_conversation_get_updated (a), ==, glimmer_conversation_get_updated (b));
  g_assert_cmpuint (glimmer_conversation_get_n_messages (a), ==,
                    glimmer_conversation_get_n_messages (b));
  for (guint i = 0; i < glimmer_conversation_get_n_messages (a); i++)
    assert_messages_equal (glimmer_conversation_get_message (a, i),
                           glimmer_conversation_get_message (b, i));
}

static char *
conv_path (GlimmerHistory *h, GlimmerConversation *c)
{
  g_autofree char *name = g_strconcat (glimmer_conversation_get_id (c), ".json", NULL);
  return g_build_filename (glimmer_history_get_dir (h), name, NULL);
}

static guint
count_files (const char *dir, const char *prefix)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  guint n = 0;
  const char *name;
  while ((name = g_dir_read_name (d)))
    n += prefix == NULL || g_str_has_prefix (name, prefix);
  return n;
}

/* ---- tests ---- */

static void
test_round_trip (void)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autoptr (GlimmerHistory) h = glimmer_history_new (tmp, NULL);
  g_assert_nonnull (h);
  g_autoptr (GlimmerConversation) conv = make_full_conversation ();
  g_autoptr (GError) error = NULL;
  g_assert_true (glimmer_history_save (h, conv, &error));
  g_assert_no_error (error);

  g_autoptr (GlimmerHistory) h2 = glimmer_history_new (tmp, NULL);
  g_autoptr (GPtrArray) problems = NULL;
  g_assert_cmpuint (glimmer_history_load (h2, &problems), ==, 1);
  g_assert_cmpuint (problems->len, ==, 0);
  g_autoptr (GlimmerConversation) back = g_list_model_get_item (glimmer_history_get_model (h2), 0);
  assert_conversations_equal (conv, back);
  test_rmtree (tmp);
}

/* Saving replaces the file by renaming a complete new one over it: a reader holding the old file
 * still reads all of the old text, the path gives all of the new, and no temporary is left. */
static void
test_atomic_write (void)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autoptr (GlimmerHistory) h = glimmer_history_new (tmp, NULL);
  g_autoptr (GlimmerConversation) conv = make_full_conversation ();
  g_assert_true (glimmer_history_save (h, conv, NULL));
  g_autofree char *path = conv_path (h, conv);
  g_autofree char *old_text = NULL;
  g_assert_true (g_file_get_contents (path, &old_text, NULL, NULL));

  int fd = open (path, O_RDONLY);
  g_assert_cmpint (fd, >=, 0);
  glimmer_conversation_append (conv, glimmer_message_new (GLIM_CHAT_ROLE_USER,
                                                          "a much longer follow-up question"));
  g_assert_true (glimmer_history_save (h, conv, NULL));

  GString *seen = g_string_new (NULL);
  char buf[4096];
  ssize_t n;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (seen, buf, n);
  close (fd);
  g_assert_cmpstr (seen->str, ==, old_text);
  g_string_free (seen, TRUE);

  g_autofree char *new_text = NULL;
  g_assert_true (g_file_get_contents (path, &new_text, NULL, NULL));
  g_assert_nonnull (strstr (new_text, "a much longer follow-up question"));
  g_assert_cmpuint (count_files (glimmer_history_get_dir (h), NULL), ==, 1);
  test_rmtree (tmp);
}

static void
check_corrupt (const char *text, const char *expect_in_message)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autoptr (GlimmerHistory) h = glimmer_history_new (tmp, NULL);
  g_autoptr (GlimmerConversation) good = make_full_conversation ();
  g_assert_true (glimmer_history_save (h, good, NULL));
  g_autofree char *bad = g_build_filename (glimmer_history_get_dir (h), "broken.json", NULL);
  g_assert_true (g_file_set_contents (bad, text, -1, NULL));

  g_autoptr (GPtrArray) problems = NULL;
  g_assert_cmpuint (glimmer_history_load (h, &problems), ==, 1);
  g_assert_cmpuint (problems->len, ==, 1);
  GError *e = problems->pdata[0];
  g_assert_error (e, GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_CORRUPT);
  g_assert_nonnull (strstr (e->message, bad));                 /* names the file */
  g_assert_nonnull (strstr (e->message, "broken.json.corrupt-"));  /* and where it went */
  if (expect_in_message)
    g_assert_nonnull (strstr (e->message, expect_in_message));

  /* kept aside with its bytes intact, never deleted */
  g_assert_false (g_file_test (bad, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_files (glimmer_history_get_dir (h), "broken.json.corrupt-"), ==, 1);
  g_autoptr (GDir) d = g_dir_open (glimmer_history_get_dir (h), 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (d)))
    if (g_str_has_prefix (name, "broken.json.corrupt-")) {
      g_autofree char *p = g_build_filename (glimmer_history_get_dir (h), name, NULL);
      g_autofree char *kept = NULL;
      g_assert_true (g_file_get_contents (p, &kept, NULL, NULL));
      g_assert_cmpstr (kept, ==, text);
    }
  /* a second load does not trip over the kept file */
  g_autoptr (GPtrArray) again = NULL;
  g_assert_cmpuint (glimmer_history_load (h, &again), ==, 1);
  g_assert_cmpuint (again->len, ==, 0);
  test_rmtree (tmp);
}

static void
test_corrupt_garbage (void)
{
  check_corrupt ("\x01\x02 this is not JSON", NULL);
}

static void
test_corrupt_truncated (void)
{
  g_autoptr (GlimmerConversation) conv = make_full_conversation ();
  g_autofree char *full = glimmer_conversation_to_json_data (conv);
  full[strlen (full) / 2] = '\0';
  check_corrupt (full, NULL);
}

static void
test_corrupt_wrong_type (void)
{
  check_corrupt ("{\"schema_version\":1,\"id\":\"broken\",\"title\":\"x\","
                 "\"created\":\"2025-01-01T00:00:00Z\",\"updated\":\"2025-01-01T00:00:00Z\","
                 "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":7}]}",
                 "messages[1].role: not a string");
}

static void
test_corrupt_newer_schema (void)
{
  check_corrupt ("{\"schema_version\":99,\"id\":\"broken\",\"created\":\"2025-01-01T00:00:00Z\","
                 "\"updated\":\"2025-01-01T00:00:00Z\",\"messages\":[]}", "schema_version 99");
}

static void
test_errors_name_keys (void)
{
  static const struct { const char *json; const char *message; } cases[] = {
    { "[]", "not a JSON object" },
    { "{\"id\":\"a\",\"messages\":[]}", "schema_version: missing" },
    { "{\"schema_version\":1,\"id\":\"a\",\"created\":\"2025-01-01T00:00:00Z\","
      "\"updated\":\"yesterday\",\"messages\":[]}", "updated: not an ISO 8601 time" },
    { "{\"schema_version\":1,\"id\":\"../x\",\"created\":\"2025-01-01T00:00:00Z\","
      "\"updated\":\"2025-01-01T00:00:00Z\",\"messages\":[]}", "id: not a valid conversation id" },
    { "{\"schema_version\":1,\"id\":\"a\",\"created\":\"2025-01-01T00:00:00Z\","
      "\"updated\":\"2025-01-01T00:00:00Z\",\"messages\":[{\"role\":\"robot\"}]}",
      "messages[0].role: not system, user, assistant or tool" },
    { "{\"schema_version\":1,\"id\":\"a\",\"created\":\"2025-01-01T00:00:00Z\","
      "\"updated\":\"2025-01-01T00:00:00Z\",\"messages\":[{\"role\":\"assistant\","
      "\"tool_calls\":[{\"id\":\"c\"}]}]}", "messages[0].tool_calls[0].name: missing" },
    { "{\"schema_version\":1,\"id\":\"a\",\"created\":\"2025-01-01T00:00:00Z\","
      "\"updated\":\"2025-01-01T00:00:00Z\",\"messages\":[{\"role\":\"assistant\","
      "\"stats\":{\"prompt_tokens\":\"many\"}}]}", "messages[0].stats.prompt_tokens: not a number" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GlimmerConversation) c =
      glimmer_conversation_new_from_data (cases[i].json, -1, &error);
    g_assert_null (c);
    g_assert_nonnull (error);
    if (strstr (error->message, cases[i].message) == NULL)
      g_error ("case %u: \"%s\" does not contain \"%s\"", i, error->message, cases[i].message);
  }
}

/* A reply that was streaming when the app died is kept and marked interrupted. */
static void
test_in_progress_survives (void)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autoptr (GlimmerHistory) h = glimmer_history_new (tmp, NULL);
  g_autoptr (GlimmerConversation) conv = glimmer_conversation_new ();
  glimmer_conversation_append (conv, glimmer_message_new (GLIM_CHAT_ROLE_USER, "hello"));
  GlimmerMessage *a = glimmer_message_new (GLIM_CHAT_ROLE_ASSISTANT, "Half an ans");
  a->reasoning = g_strdup ("thinking so far");
  a->in_progress = TRUE;
  glimmer_conversation_append (conv, a);
  g_assert_true (glimmer_history_save (h, conv, NULL));

  g_autoptr (GlimmerHistory) h2 = glimmer_history_new (tmp, NULL);
  g_assert_cmpuint (glimmer_history_load (h2, NULL), ==, 1);
  GlimmerConversation *back = glimmer_history_lookup (h2, glimmer_conversation_get_id (conv));
  g_assert_nonnull (back);
  GlimmerMessage *m = glimmer_conversation_get_message (back, 1);
  g_assert_cmpstr (m->content, ==, "Half an ans");
  g_assert_cmpstr (m->reasoning, ==, "thinking so far");
  g_assert_false (m->in_progress);
  g_assert_true (m->interrupted);
  test_rmtree (tmp);
}

static void
test_order_and_search (void)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autoptr (GlimmerHistory) h = glimmer_history_new (tmp, NULL);
  GlimmerConversation *c[3];
  const char *texts[3] = { "Tell me about Paris", "Sourdough bread recipe",
                           "Rust borrow checker" };
  for (int i = 0; i < 3; i++) {
    c[i] = glimmer_conversation_new ();
    glimmer_conversation_append (c[i], glimmer_message_new (GLIM_CHAT_ROLE_USER, texts[i]));
    g_assert_true (glimmer_conversation_derive_title (c[i]));
    g_assert_true (glimmer_history_save (h, c[i], NULL));
  }
  GlimmerMessage *r = glimmer_message_new (GLIM_CHAT_ROLE_ASSISTANT, "Use a levain.");
  r->reasoning = g_strdup ("Bakers say HYDRATION matters");
  glimmer_conversation_append (c[1], r);

  GListModel *model = glimmer_history_get_model (h);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 3);
  g_autoptr (GlimmerConversation) first = g_list_model_get_item (model, 0);
  g_assert_true (first == c[2]);  /* newest first */
  g_assert_true (glimmer_history_save (h, c[1], NULL));
  g_autoptr (GlimmerConversation) now_first = g_list_model_get_item (model, 0);
  g_assert_true (now_first == c[1]);  /* a save moves it up */

  /* the order is the same after reading the files again */
  g_autoptr (GlimmerHistory) h2 = glimmer_history_new (tmp, NULL);
  glimmer_history_load (h2, NULL);
  for (guint i = 0; i < 3; i++) {
    g_autoptr (GlimmerConversation) x = g_list_model_get_item (model, i);
    g_autoptr (GlimmerConversation) y = g_list_model_get_item (glimmer_history_get_model (h2), i);
    g_assert_cmpstr (glimmer_conversation_get_id (x), ==, glimmer_conversation_get_id (y));
  }

  g_autoptr (GPtrArray) by_title = glimmer_history_search (h, "PARIS");
  g_assert_cmpuint (by_title->len, ==, 1);
  g_assert_true (by_title->pdata[0] == c[0]);
  g_autoptr (GPtrArray) by_content = glimmer_history_search (h, "levain");
  g_assert_cmpuint (by_content->len, ==, 1);
  g_assert_true (by_content->pdata[0] == c[1]);
  g_autoptr (GPtrArray) by_reasoning = glimmer_history_search (h, "hydration");
  g_assert_cmpuint (by_reasoning->len, ==, 1);
  g_autoptr (GPtrArray) none = glimmer_history_search (h, "kubernetes");
  g_assert_cmpuint (none->len, ==, 0);
  g_autoptr (GPtrArray) all = glimmer_history_search (h, "  ");
  g_assert_cmpuint (all->len, ==, 3);
  for (int i = 0; i < 3; i++)
    g_object_unref (c[i]);
  test_rmtree (tmp);
}

static void
test_rename (void)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autoptr (GlimmerHistory) h = glimmer_history_new (tmp, NULL);
  g_autoptr (GlimmerConversation) conv = make_full_conversation ();
  g_assert_true (glimmer_history_rename (h, conv, "Arithmetic", NULL));
  g_autoptr (GlimmerHistory) h2 = glimmer_history_new (tmp, NULL);
  glimmer_history_load (h2, NULL);
  GlimmerConversation *back = glimmer_history_lookup (h2, glimmer_conversation_get_id (conv));
  g_assert_cmpstr (glimmer_conversation_get_title (back), ==, "Arithmetic");
  test_rmtree (tmp);
}

static void
test_delete_undo (void)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autoptr (GlimmerHistory) h = glimmer_history_new (tmp, NULL);
  g_autoptr (GlimmerConversation) conv = make_full_conversation ();
  g_autoptr (GlimmerConversation) other = glimmer_conversation_new ();
  g_assert_true (glimmer_history_save (h, conv, NULL));
  g_assert_true (glimmer_history_save (h, other, NULL));
  g_autofree char *path = conv_path (h, conv);
  g_autofree char *id = g_strdup (glimmer_conversation_get_id (conv));
  g_autofree char *trash = g_build_filename (tmp, "trash", NULL);

  g_autoptr (GError) error = NULL;
  g_assert_true (glimmer_history_delete (h, conv, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_files (trash, id), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (glimmer_history_get_model (h)), ==, 1);
  g_assert_null (glimmer_history_lookup (h, id));

  GlimmerConversation *back = glimmer_history_undo_delete (h, id, &error);
  g_assert_no_error (error);
  g_assert_true (back == conv);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_files (trash, NULL), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (glimmer_history_get_model (h)), ==, 2);

  /* undo also works from the trash file alone (a fresh store, e.g. another window) */
  g_assert_true (glimmer_history_delete (h, conv, NULL));
  g_autoptr (GlimmerHistory) h2 = glimmer_history_new (tmp, NULL);
  g_assert_cmpuint (glimmer_history_load (h2, NULL), ==, 1);
  GlimmerConversation *reread = glimmer_history_undo_delete (h2, id, &error);
  g_assert_no_error (error);
  assert_conversations_equal (conv, reread);

  g_assert_null (glimmer_history_undo_delete (h2, "no-such-id", &error));
  g_assert_error (error, GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (glimmer_history_delete (h2, reread, NULL));
  g_assert_cmpuint (count_files (trash, NULL), ==, 1);
  g_assert_true (glimmer_history_empty_trash (h2, NULL));
  g_assert_cmpuint (count_files (trash, NULL), ==, 0);
  g_assert_null (glimmer_history_undo_delete (h2, id, &error));
  g_assert_error (error, GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_NOT_FOUND);
  test_rmtree (tmp);
}

static void
test_export (void)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_autoptr (GlimmerConversation) conv = make_full_conversation ();
  GlimmerMessage *m = glimmer_message_new (GLIM_CHAT_ROLE_ASSISTANT,
                                           "Code:\n\n```c\nint x;\n```\n");
  glimmer_conversation_append (conv, m);

  g_autofree char *json_path = g_build_filename (tmp, "out.json", NULL);
  g_autoptr (GFile) json_file = g_file_new_for_path (json_path);
  g_autoptr (GError) error = NULL;
  g_assert_true (glimmer_history_export (conv, GLIMMER_EXPORT_JSON, json_file, &error));
  g_assert_no_error (error);
  g_autofree char *json = NULL;
  g_assert_true (g_file_get_contents (json_path, &json, NULL, NULL));
  g_autoptr (GlimmerConversation) back = glimmer_conversation_new_from_data (json, -1, &error);
  g_assert_no_error (error);
  assert_conversations_equal (conv, back);

  g_autofree char *md_path = g_build_filename (tmp, "out.md", NULL);
  g_autoptr (GFile) md_file = g_file_new_for_path (md_path);
  g_assert_true (glimmer_history_export (conv, GLIMMER_EXPORT_MARKDOWN, md_file, &error));
  g_autofree char *md = NULL;
  g_assert_true (g_file_get_contents (md_path, &md, NULL, NULL));
  g_assert_true (g_str_has_prefix (md, "# Grüße & <tags> \"quoted\"\n\n## System\n\nBe brief.\n"));
  g_assert_nonnull (strstr (md, "## User\n\nWhat is 37 * 41?\nThanks 🙂\n"));
  g_assert_nonnull (strstr (md, "> **Thinking**\n>\n> I should use the calculator.\n"));
  g_assert_nonnull (strstr (md, "**Tool call:** `calculator`\n\n```json\n{\"expr\": \"37 * 41\"}\n```"));
  g_assert_nonnull (strstr (md, "## Tool result: calculator\n\n```\n1517\n```"));
  /* a fence longer than the message's own code fences */
  g_assert_nonnull (strstr (md, "Code:\n\n```c\nint x;\n```\n"));

  /* an unwritable destination is an error naming it */
  g_autofree char *bad_path = g_build_filename (tmp, "no-such-dir", "x.md", NULL);
  g_autoptr (GFile) bad_file = g_file_new_for_path (bad_path);
  g_assert_false (glimmer_history_export (conv, GLIMMER_EXPORT_MARKDOWN, bad_file, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, bad_path));
  test_rmtree (tmp);
}

static void
test_request (void)
{
  g_autoptr (GlimmerConversation) conv = make_full_conversation ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimChatRequest) req = glimmer_conversation_to_request (conv, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (glim_chat_request_get_n_messages (req), ==, 5);
  const GlimChatMessage *a = glim_chat_request_get_message (req, 2);
  g_assert_cmpint (a->role, ==, GLIM_CHAT_ROLE_ASSISTANT);
  g_assert_cmpstr (a->reasoning, ==, "I should use the calculator.");
  g_assert_cmpuint (a->tool_calls->len, ==, 1);
  GlimChatToolCall *call = a->tool_calls->pdata[0];
  g_assert_cmpstr (call->name, ==, "calculator");
  g_assert_cmpstr (json_object_get_string_member (call->arguments, "expr"), ==, "37 * 41");
  const GlimChatMessage *t = glim_chat_request_get_message (req, 3);
  g_assert_cmpint (t->role, ==, GLIM_CHAT_ROLE_TOOL);
  g_assert_cmpstr (t->content, ==, "1517");
  g_assert_cmpint (glim_chat_request_get_enable_thinking (req), ==, GLIM_CHAT_FLAG_FALSE);
  g_assert_true (glim_chat_request_get_add_generation_prompt (req));

  /* arguments that are not a JSON object: an error naming the message */
  GlimmerMessage *bad = glimmer_message_new (GLIM_CHAT_ROLE_ASSISTANT, "");
  glimmer_message_add_tool_call (bad, "id", "calculator", "[1, 2");
  glimmer_conversation_append (conv, bad);
  g_assert_null (glimmer_conversation_to_request (conv, TRUE, &error));
  g_assert_error (error, GLIMMER_CONVERSATION_ERROR, GLIMMER_CONVERSATION_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "message 6, tool call 1 (calculator)"));
}

static void
test_titles (void)
{
  g_autoptr (GlimmerConversation) conv = glimmer_conversation_new ();
  g_assert_false (glimmer_conversation_derive_title (conv));
  glimmer_conversation_append (conv, glimmer_message_new (GLIM_CHAT_ROLE_SYSTEM, "sys"));
  glimmer_conversation_append (conv, glimmer_message_new (GLIM_CHAT_ROLE_USER,
      "  Explain how the quick brown fox jumps over the lazy dog in great detail please\n"
      "second line"));
  g_assert_true (glimmer_conversation_derive_title (conv));
  const char *title = glimmer_conversation_get_title (conv);
  g_assert_true (g_str_has_prefix (title, "Explain how the quick brown fox"));
  g_assert_true (g_str_has_suffix (title, "…"));
  g_assert_cmpint (g_utf8_strlen (title, -1), <=, 61);
  g_assert_null (strchr (title, '\n'));
  g_assert_false (glimmer_conversation_derive_title (conv));  /* only when empty */
  g_assert_null (strstr (title, "please"));                    /* cut before the end */
}

static void
test_data_dir_env (void)
{
  g_autofree char *tmp = test_make_tmpdir ();
  g_setenv ("GLIMMER_DATA_DIR", tmp, TRUE);
  g_autoptr (GlimmerHistory) h = glimmer_history_new (NULL, NULL);
  g_unsetenv ("GLIMMER_DATA_DIR");
  g_autofree char *expect = g_build_filename (tmp, "conversations", NULL);
  g_assert_cmpstr (glimmer_history_get_dir (h), ==, expect);
  g_assert_true (g_file_test (expect, G_FILE_TEST_IS_DIR));
  test_rmtree (tmp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/history/round-trip", test_round_trip);
  g_test_add_func ("/glimmer/history/atomic-write", test_atomic_write);
  g_test_add_func ("/glimmer/history/corrupt-garbage", test_corrupt_garbage);
  g_test_add_func ("/glimmer/history/corrupt-truncated", test_corrupt_truncated);
  g_test_add_func ("/glimmer/history/corrupt-wrong-type", test_corrupt_wrong_type);
  g_test_add_func ("/glimmer/history/corrupt-newer-schema", test_corrupt_newer_schema);
  g_test_add_func ("/glimmer/history/errors-name-keys", test_errors_name_keys);
  g_test_add_func ("/glimmer/history/in-progress-survives", test_in_progress_survives);
  g_test_add_func ("/glimmer/history/order-and-search", test_order_and_search);
  g_test_add_func ("/glimmer/history/rename", test_rename);
  g_test_add_func ("/glimmer/history/delete-undo", test_delete_undo);
  g_test_add_func ("/glimmer/history/export", test_export);
  g_test_add_func ("/glimmer/history/request", test_request);
  g_test_add_func ("/glimmer/history/titles", test_titles);
  g_test_add_func ("/glimmer/history/data-dir-env", test_data_dir_env);
  return g_test_run ();
}
