/* test-gui-stream.c: benchmark: a long Markdown answer (about 20,000 tokens with code blocks
 * and tables) streamed into a message row at a steady rate, in a real window; measures the
 * largest gap between frames (a tick callback keeps the frame clock running, so a gap means
 * the main loop was busy). Prints the figure; fails only above a generous bound (250 ms, or
 * $GLIMMER_BENCH_MAX_GAP_MS) so CI stays stable.
 * Environment: GLIMMER_BENCH_TOKENS (20000), GLIMMER_BENCH_RATE (tokens/s, 1000),
 * GLIMMER_BENCH_PNG (save the final window there).
 * SPDX-License-Identifier: MIT */
#include "glimmer-code-block.h"
#include "glimmer-message-row.h"
#include "glimmer-snapshot.h"

#include <adwaita.h>
#include <gtksourceview/gtksource.h>
#include <stdio.h>
#include <stdlib.h>

#define FEED_MS 33  /* the worker's coalescing interval */

typedef struct {
  GString           *text;      /* the whole answer */
  gsize              fed;
  double             bytes_per_tick;
  double             carry;
  GlimmerMessageRow *row;
  GtkWidget         *window;
  gint64             last_frame;
  gint64             max_gap;
  guint              n_frames;
  gboolean           done;
  GMainLoop         *loop;
} Bench;

/* About `tokens` tokens (4 bytes each) of varied Markdown. */
static GString *
make_answer (int tokens)
{
  GString *s = g_string_new (NULL);
  for (int i = 0; (int) s->len < tokens * 4; i++) {
    g_string_append_printf (s, "## Section %d\n\nThis paragraph has *emphasis*, **strong text**, "
                               "`inline code` and a [link](https://example.org/%d). It goes on for "
                               "a while so that it wraps over several lines in the window.\n\n",
                            i, i);
    g_string_append (s, "- first point\n- second point with `code`\n- [x] a done task\n\n");
    g_string_append_printf (s, "```python\ndef f%d(x):\n    total = 0\n    for i in range(x):\n"
                               "        total += i * %d\n    return total\n```\n\n",
                            i, i);
    g_string_append_printf (s, "| n | square | cube |\n|---:|---:|---:|\n| %d | %d | %d |\n"
                               "| %d | %d | %d |\n\n",
                            i, i * i, i * i * i, i + 1, (i + 1) * (i + 1),
                            (i + 1) * (i + 1) * (i + 1));
    g_string_append (s, "> A quoted remark about the result.\n\n");
  }
  return s;
}

static gboolean
on_tick (GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
  Bench *b = data;
  gint64 now = g_get_monotonic_time ();
  if (b->last_frame != 0 && !b->done) {
    if (now - b->last_frame > 100000)
      printf ("# gap of %.0f ms at %zu of %zu bytes\n", (now - b->last_frame) / 1000.0, b->fed,
              b->text->len);
    b->max_gap = MAX (b->max_gap, now - b->last_frame);
    b->n_frames++;
  }
  b->last_frame = now;
  return G_SOURCE_CONTINUE;
}

static gboolean
on_feed (gpointer data)
{
  Bench *b = data;
  gsize n;

  b->carry += b->bytes_per_tick;
  n = MIN ((gsize) b->carry, b->text->len - b->fed);
  b->carry -= (double) n;
  if (n > 0) {
    g_autofree char *chunk = g_strndup (b->text->str + b->fed, n);
    glimmer_message_row_append (b->row, NULL, chunk);
    b->fed += n;
  }
  if (b->fed < b->text->len)
    return G_SOURCE_CONTINUE;
  glimmer_message_row_finish (b->row, NULL);  /* the final full parse is measured too */
  return G_SOURCE_REMOVE;
}

static gboolean
on_settle (gpointer data)
{
  Bench *b = data;
  if (b->fed < b->text->len)
    return G_SOURCE_CONTINUE;
  b->done = TRUE;
  g_main_loop_quit (b->loop);
  return G_SOURCE_REMOVE;
}

static void
test_stream_frame_gap (void)
{
  const char *env_tokens = g_getenv ("GLIMMER_BENCH_TOKENS");
  const char *env_rate = g_getenv ("GLIMMER_BENCH_RATE");
  const char *env_max = g_getenv ("GLIMMER_BENCH_MAX_GAP_MS");
  const char *png = g_getenv ("GLIMMER_BENCH_PNG");
  int tokens = env_tokens != NULL ? atoi (env_tokens) : 20000;
  double rate = env_rate != NULL ? g_ascii_strtod (env_rate, NULL) : 1000;
  double max_ms = env_max != NULL ? g_ascii_strtod (env_max, NULL) : 250;
  Bench b = { 0 };
  GtkWidget *scroller = gtk_scrolled_window_new ();
  GtkWidget *clamp = adw_clamp_new ();
  gint64 t0;
  double seconds, gap_ms;
  GlimmerMarkdownView *md;

  glimmer_code_block_preload ();  /* as the app does at startup */
  b.text = make_answer (tokens);
  b.bytes_per_tick = rate * 4 * FEED_MS / 1000.0;
  b.loop = g_main_loop_new (NULL, FALSE);
  b.window = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (b.window), 900, 700);
  b.row = GLIMMER_MESSAGE_ROW (glimmer_message_row_new (GLIM_CHAT_ROLE_ASSISTANT));
  adw_clamp_set_child (ADW_CLAMP (clamp), GTK_WIDGET (b.row));
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), clamp);
  gtk_window_set_child (GTK_WINDOW (b.window), scroller);
  gtk_window_present (GTK_WINDOW (b.window));
  gtk_widget_add_tick_callback (b.window, on_tick, &b, NULL);

  /* let the window map and draw before measuring */
  for (gint64 until = g_get_monotonic_time () + 300000; g_get_monotonic_time () < until;)
    g_main_context_iteration (NULL, FALSE);
  b.max_gap = 0;
  b.n_frames = 0;
  t0 = g_get_monotonic_time ();
  g_timeout_add (FEED_MS, on_feed, &b);
  g_timeout_add (200, on_settle, &b);
  g_main_loop_run (b.loop);
  seconds = (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
  gap_ms = (double) b.max_gap / 1000.0;

  md = glimmer_message_row_get_markdown_view (b.row);
  printf ("# streamed %d tokens (%zu bytes) at %.0f tokens/s in %.1f s: %u frames, "
          "largest frame gap %.1f ms, %u blocks\n",
          tokens, b.text->len, rate, seconds, b.n_frames, gap_ms,
          glimmer_markdown_view_get_n_blocks (md));
  g_test_message ("largest frame gap: %.1f ms", gap_ms);
  g_assert_cmpstr (glimmer_markdown_view_get_text (md), ==, b.text->str);
  g_assert_cmpuint (glimmer_markdown_view_get_n_blocks (md), >, (guint) tokens / 40);
  g_assert_cmpuint (b.n_frames, >, 10);
  if (png != NULL && png[0] != '\0') {
    g_autoptr(GError) error = NULL;
    g_assert_true (glimmer_widget_save_png (b.window, png, &error));
  }
  g_assert_cmpfloat (gap_ms, <=, max_ms);

  gtk_window_destroy (GTK_WINDOW (b.window));
  g_main_loop_unref (b.loop);
  g_string_free (b.text, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!gtk_init_check ()) {
    g_test_skip ("no display");
    return 77;
  }
  adw_init ();
  gtk_source_init ();
  g_test_add_func ("/glimmer/gui/stream-frame-gap", test_stream_frame_gap);
  return g_test_run ();
}
