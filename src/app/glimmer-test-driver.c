/* glimmer-test-driver.c: runs $GLIMMER_TEST_SCRIPT against the live app (see the header for the
 * commands). Polls every 50 ms; never blocks the main loop.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-test-driver"

#include "glimmer-test-driver.h"

#include "glimmer-application.h"
#include "glimmer-snapshot.h"

#include <stdio.h>
#include <stdlib.h>

#define POLL_MS 50

typedef struct {
  GlimmerApplication *app;
  char              **lines;
  guint               pc;         /* next line */
  gint64              deadline;   /* monotonic µs for the waiting command; 0: none */
  gint64              wait_until; /* for "wait" */
  gboolean            sent;       /* a reply has been asked for since the last wait-reply */
  gboolean            was_busy;
} Driver;

static void
driver_fail (Driver *d, const char *line, const char *why)
{
  printf ("glimmer-test: %s: FAIL: %s\n", line, why);
  fflush (stdout);
  exit (1);
}

static void
driver_ok (Driver *d, const char *line)
{
  printf ("glimmer-test: %s: ok\n", line);
  fflush (stdout);
  d->pc++;
  d->deadline = 0;
  d->wait_until = 0;
}

static gint64
driver_deadline (Driver *d, const char *arg, double def)
{
  double s = arg != NULL && *arg ? g_ascii_strtod (arg, NULL) : def;
  if (d->deadline == 0)
    d->deadline = g_get_monotonic_time () + (gint64) (s * G_USEC_PER_SEC);
  return d->deadline;
}

static GlimmerMessageRow *
driver_last_assistant (GlimmerChatView *view)
{
  GlimmerConversation *c = glimmer_chat_view_get_conversation (view);
  for (guint i = c != NULL ? glimmer_conversation_get_n_messages (c) : 0; i-- > 0;) {
    GlimmerMessageRow *row = glimmer_chat_view_get_row (view, i);
    if (row != NULL && glimmer_message_row_get_role (row) == GLIM_CHAT_ROLE_ASSISTANT)
      return row;
  }
  return NULL;
}

/* Approve every pending tool card (approve = TRUE), or just count them. */
static guint
driver_pending_tools (GlimmerChatView *view, gboolean approve)
{
  guint n = 0;
  GlimmerConversation *c = glimmer_chat_view_get_conversation (view);
  for (guint i = 0; c != NULL && i < glimmer_conversation_get_n_messages (c); i++) {
    GlimmerMessage *m = glimmer_conversation_get_message (c, i);
    GlimmerMessageRow *row = glimmer_chat_view_get_row (view, i);
    for (guint k = 0; row != NULL && k < m->tool_calls->len; k++) {
      GlimmerToolCall *call = g_ptr_array_index (m->tool_calls, k);
      GlimmerToolCard *card = glimmer_message_row_find_tool_card (row, call->id);
      if (card != NULL && glimmer_tool_card_get_state (card) == GLIMMER_TOOL_CARD_PENDING) {
        n++;
        if (approve)
          glimmer_tool_card_decide (card, 0);
      }
    }
  }
  return n;
}

/* Run the current command; returns when it must wait (called again later). */
static gboolean
driver_step (gpointer data)
{
  Driver *d = data;
  GlimmerWindow *win = glimmer_application_get_window (d->app);
  GlimmerWorker *worker = glimmer_application_get_worker (d->app);

  while (d->lines[d->pc] != NULL) {
    g_autofree char *line = g_strstrip (g_strdup (d->lines[d->pc]));
    g_auto(GStrv) argv = NULL;
    const char *cmd, *arg;

    if (line[0] == '\0' || line[0] == '#') {
      d->pc++;
      continue;
    }
    if (win == NULL)
      driver_fail (d, line, "the window is gone");
    argv = g_strsplit (line, " ", 2);
    cmd = argv[0];
    arg = argv[1];

    if (g_str_equal (cmd, "wait-model")) {
      GlimmerWorkerState st = glimmer_worker_get_state (worker);
      gint64 dl = driver_deadline (d, arg, 120);
      if (st == GLIMMER_WORKER_STATE_READY) {
        driver_ok (d, line);
        continue;
      }
      if (st == GLIMMER_WORKER_STATE_EMPTY && glimmer_application_get_load_error (d->app) != NULL)
        driver_fail (d, line, glimmer_application_get_load_error (d->app));
      if (g_get_monotonic_time () > dl)
        driver_fail (d, line, "timed out");
      return G_SOURCE_CONTINUE;
    } else if (g_str_equal (cmd, "send")) {
      if (!glimmer_window_send_text (win, arg))
        driver_fail (d, line, "the message was not sent");
      d->sent = TRUE;
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "wait-reply")) {
      gint64 dl = driver_deadline (d, arg, 300);
      GlimmerWorkerState st = glimmer_worker_get_state (worker);
      if (d->sent && st != GLIMMER_WORKER_STATE_GENERATING) {
        d->sent = FALSE;
        driver_ok (d, line);
        continue;
      }
      if (d->sent && driver_pending_tools (glimmer_window_get_chat_view (win), FALSE) > 0) {
        driver_ok (d, line);  /* the reply waits for a tool approval: "approve" answers it */
        continue;
      }
      if (g_get_monotonic_time () > dl)
        driver_fail (d, line, "timed out");
      return G_SOURCE_CONTINUE;
    } else if (g_str_equal (cmd, "approve")) {
      driver_pending_tools (glimmer_window_get_chat_view (win), TRUE);
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "expect-rows")) {
      guint n = glimmer_chat_view_get_n_rows (glimmer_window_get_chat_view (win));
      if (n < (guint) atoi (arg != NULL ? arg : "1")) {
        g_autofree char *why = g_strdup_printf ("%u rows", n);
        driver_fail (d, line, why);
      }
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "expect-assistant")) {
      GlimmerMessageRow *row = driver_last_assistant (glimmer_window_get_chat_view (win));
      GlimmerMarkdownView *md;
      if (row == NULL)
        driver_fail (d, line, "no assistant message row");
      md = glimmer_message_row_get_markdown_view (row);
      if (glimmer_markdown_view_get_n_blocks (md) == 0 &&
          glimmer_message_row_get_n_tool_cards (row) == 0 &&
          glimmer_message_row_get_thinking_card (row) == NULL)
        driver_fail (d, line, "the assistant row shows nothing");
      printf ("glimmer-test: answer: %s\n", glimmer_markdown_view_get_text (md));
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "open-latest") || g_str_equal (cmd, "open-index")) {
      int i = g_str_equal (cmd, "open-index") && arg != NULL ? atoi (arg) : 0;
      gtk_widget_activate_action (GTK_WIDGET (win), "win.open-index", "i", i);
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "resize")) {
      int w = 0, h = 0;
      if (arg == NULL || sscanf (arg, "%d %d", &w, &h) != 2 || w <= 0 || h <= 0)
        driver_fail (d, line, "usage: resize W H");
      gtk_window_unmaximize (GTK_WINDOW (win));
      gtk_window_set_default_size (GTK_WINDOW (win), w, h);
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "wait")) {
      if (d->wait_until == 0)
        d->wait_until = g_get_monotonic_time () + (gint64) atoi (arg != NULL ? arg : "0") * 1000;
      if (g_get_monotonic_time () < d->wait_until)
        return G_SOURCE_CONTINUE;
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "screenshot")) {
      g_autoptr(GError) error = NULL;
      if (arg == NULL || !glimmer_widget_save_png (win, arg, &error))
        driver_fail (d, line, error != NULL ? error->message : "usage: screenshot PATH");
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "quit")) {
      driver_ok (d, line);
      g_application_quit (G_APPLICATION (d->app));
      return G_SOURCE_REMOVE;
    } else {
      driver_fail (d, line, "unknown command");
    }
  }
  return G_SOURCE_REMOVE;
}

static void
driver_free (gpointer data)
{
  Driver *d = data;
  g_strfreev (d->lines);
  g_free (d);
}

void
glimmer_test_driver_maybe_start (GlimmerApplication *app)
{
  const char *path = g_getenv ("GLIMMER_TEST_SCRIPT");
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  Driver *d;

  if (path == NULL || path[0] == '\0')
    return;
  if (!g_file_get_contents (path, &text, NULL, &error)) {
    printf ("glimmer-test: FAIL: %s\n", error->message);
    exit (1);
  }
  d = g_new0 (Driver, 1);
  d->app = app;
  d->lines = g_strsplit (text, "\n", -1);
  g_timeout_add_full (G_PRIORITY_DEFAULT, POLL_MS, driver_step, d, driver_free);
}
