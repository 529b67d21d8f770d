/* test-message-row.c: the event-to-widget logic of a message (src/app/glimmer-message-row.c):
 * worker-style events in, thinking card / Markdown blocks / tool cards / footer out.
 * Needs a display (run under xvfb-run by tests/meson.build).
 * SPDX-License-Identifier: MIT */
#include "glimmer-code-block.h"
#include "glimmer-message-row.h"

#include <adwaita.h>
#include <gtksourceview/gtksource.h>

static void
run_pending_updates (GlimmerMessageRow *row)
{
  glimmer_markdown_view_flush (glimmer_message_row_get_markdown_view (row));
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* Reasoning deltas make a live thinking card; the first content delta closes it; content
 * becomes Markdown blocks. */
static void
test_stream_reasoning_then_content (void)
{
  GtkWidget *w = g_object_ref_sink (glimmer_message_row_new (GLIM_CHAT_ROLE_ASSISTANT));
  GlimmerMessageRow *row = GLIMMER_MESSAGE_ROW (w);
  GlimmerThinkingCard *card;
  GlimmerMarkdownView *md = glimmer_message_row_get_markdown_view (row);

  g_assert_null (glimmer_message_row_get_thinking_card (row));
  g_assert_true (glimmer_message_row_get_live (row));
  glimmer_message_row_append (row, "\nLet me", NULL);
  glimmer_message_row_append (row, " think.", "");
  card = glimmer_message_row_get_thinking_card (row);
  g_assert_nonnull (card);
  g_assert_true (glimmer_thinking_card_get_live (card));
  g_assert_true (glimmer_thinking_card_get_expanded (card));
  g_assert_cmpstr (glimmer_thinking_card_get_text (card), ==, "Let me think.");

  glimmer_message_row_append (row, NULL, "# Title\n\nSome ");
  g_assert_false (glimmer_thinking_card_get_live (card));
  g_assert_false (glimmer_thinking_card_get_expanded (card));
  g_assert_true (g_str_has_prefix (glimmer_thinking_card_get_title (card), "Thought for"));
  glimmer_message_row_append (row, NULL, "text.\n\n```python\nprint(1)\n");
  run_pending_updates (row);
  g_assert_cmpuint (glimmer_markdown_view_get_n_blocks (md), ==, 3);
  g_assert_true (GTK_IS_LABEL (glimmer_markdown_view_get_block_widget (md, 0)));
  g_assert_true (GLIMMER_IS_CODE_BLOCK (glimmer_markdown_view_get_block_widget (md, 2)));
  g_assert_cmpstr (glimmer_code_block_get_text (
                       GLIMMER_CODE_BLOCK (glimmer_markdown_view_get_block_widget (md, 2))),
                   ==, "print(1)");
  g_assert_nonnull (glimmer_code_block_get_language_id (
      GLIMMER_CODE_BLOCK (glimmer_markdown_view_get_block_widget (md, 2))));
  g_object_unref (w);
}

/* A code block that grows keeps its widget (updated in place, not rebuilt). */
static void
test_stream_updates_in_place (void)
{
  GtkWidget *w = g_object_ref_sink (glimmer_message_row_new (GLIM_CHAT_ROLE_ASSISTANT));
  GlimmerMessageRow *row = GLIMMER_MESSAGE_ROW (w);
  GlimmerMarkdownView *md = glimmer_message_row_get_markdown_view (row);
  GtkWidget *code;
  guint created;

  glimmer_message_row_append (row, NULL, "Intro.\n\n```c\nint a;\n");
  run_pending_updates (row);
  code = glimmer_markdown_view_get_block_widget (md, 1);
  created = glimmer_markdown_view_get_n_created (md);
  for (int i = 0; i < 50; i++) {
    glimmer_message_row_append (row, NULL, "int b;\n");
    run_pending_updates (row);
  }
  g_assert_true (glimmer_markdown_view_get_block_widget (md, 1) == code);
  g_assert_cmpuint (glimmer_markdown_view_get_n_created (md), ==, created);
  glimmer_message_row_append (row, NULL, "```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
  glimmer_message_row_finish (row, NULL);
  g_assert_cmpuint (glimmer_markdown_view_get_n_blocks (md), ==, 3);
  g_assert_true (glimmer_markdown_view_get_block_widget (md, 1) == code);
  g_assert_false (glimmer_message_row_get_live (row));
  g_object_unref (w);
}

static void
on_decided (GlimmerMessageRow *row, const char *call_id, int decision, const char *arguments,
            char **out)
{
  *out = g_strdup_printf ("%s %d %s", call_id, decision, arguments);
}

/* A pending tool call shows a card waiting for approval; deciding emits the (edited)
 * arguments; the result is cut for display. */
static void
test_tool_call_card (void)
{
  GtkWidget *w = g_object_ref_sink (glimmer_message_row_new (GLIM_CHAT_ROLE_ASSISTANT));
  GlimmerMessageRow *row = GLIMMER_MESSAGE_ROW (w);
  GlimmerToolCall call = { (char *) "call-1", (char *) "calculator", (char *) "{\"expr\":\"2*3\"}" };
  GlimmerToolCard *card;
  g_autofree char *decided = NULL;
  g_autofree char *args = NULL;
  g_autofree char *longtext = g_strnfill (5000, 'x');

  g_signal_connect (row, "tool-decided", G_CALLBACK (on_decided), &decided);
  card = glimmer_message_row_add_tool_call (row, &call, TRUE);
  g_assert_cmpuint (glimmer_message_row_get_n_tool_cards (row), ==, 1);
  g_assert_true (glimmer_message_row_add_tool_call (row, &call, TRUE) == card);  /* same id */
  g_assert_cmpint (glimmer_tool_card_get_state (card), ==, GLIMMER_TOOL_CARD_PENDING);
  args = glimmer_tool_card_dup_arguments (card);
  g_assert_cmpstr (args, ==, "{\n  \"expr\" : \"2*3\"\n}");
  glimmer_tool_card_decide (card, 0);
  g_assert_cmpstr (decided, ==, "call-1 0 {\n  \"expr\" : \"2*3\"\n}");
  g_assert_cmpint (glimmer_tool_card_get_state (card), ==, GLIMMER_TOOL_CARD_RUNNING);
  glimmer_tool_card_set_result (card, longtext, TRUE);
  g_assert_cmpint (glimmer_tool_card_get_state (card), ==, GLIMMER_TOOL_CARD_DONE);
  g_assert_cmpint (g_utf8_strlen (glimmer_tool_card_get_shown_result (card), -1), ==,
                   GLIMMER_TOOL_CARD_RESULT_PREVIEW + 1);
  g_object_unref (w);
}

/* A finished message from history: reasoning, content, tool calls and stats all shown. */
static void
test_history_message (void)
{
  GtkWidget *w = g_object_ref_sink (glimmer_message_row_new (GLIM_CHAT_ROLE_ASSISTANT));
  GlimmerMessageRow *row = GLIMMER_MESSAGE_ROW (w);
  GlimmerToolCall call = { (char *) "c2", (char *) "current_time", (char *) "{}" };
  g_autoptr(GPtrArray) calls = g_ptr_array_new ();
  GlimmerMessage m = { 0 };

  g_ptr_array_add (calls, &call);
  m.role = GLIM_CHAT_ROLE_ASSISTANT;
  m.content = (char *) "Done: **42**.";
  m.reasoning = (char *) "Compute it.";
  m.tool_calls = calls;
  m.has_stats = TRUE;
  m.stats.tokens_per_second = 12.34;
  m.stats.n_prompt = 20;
  m.stats.n_generated = 154;
  m.stats.thinking_seconds = 3;
  glimmer_message_row_set_message (row, &m);
  g_assert_cmpstr (glimmer_thinking_card_get_title (glimmer_message_row_get_thinking_card (row)),
                   ==, "Thought for 3 seconds");
  g_assert_cmpuint (glimmer_markdown_view_get_n_blocks (glimmer_message_row_get_markdown_view (row)),
                    ==, 1);
  g_assert_cmpuint (glimmer_message_row_get_n_tool_cards (row), ==, 1);
  g_assert_cmpstr (glimmer_message_row_get_stats_text (row), ==,
                   "12.3 tokens/s · 20 prompt · 154 generated");
  g_assert_false (glimmer_message_row_get_live (row));
  g_object_unref (w);
}

int
main (int argc, char **argv)
{
  g_setenv ("LANGUAGE", "C", TRUE);
  g_test_init (&argc, &argv, NULL);
  if (!gtk_init_check ()) {
    g_test_skip ("no display");
    return 77;
  }
  adw_init ();
  gtk_source_init ();
  g_test_add_func ("/glimmer/message-row/stream-reasoning-then-content",
                   test_stream_reasoning_then_content);
  g_test_add_func ("/glimmer/message-row/stream-updates-in-place", test_stream_updates_in_place);
  g_test_add_func ("/glimmer/message-row/tool-call-card", test_tool_call_card);
  g_test_add_func ("/glimmer/message-row/history-message", test_history_message);
  return g_test_run ();
}
