/* glimmer-test-driver.c: runs $GLIMMER_TEST_SCRIPT against the live app (see the header for the
 * commands). Polls every 50 ms; never blocks the main loop.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-test-driver"

#include "glimmer-test-driver.h"

#include "glimmer-application.h"
#include "glimmer-preferences.h"
#include "glimmer-snapshot.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>
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
  char               *deleted_id; /* set by "delete", used by "undo-delete" */
  int                 shown_used; /* "expect-context-current": the label's count, -1: not read */
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

/* The last message of `role` in the shown conversation, or -1. */
static int
driver_last_of_role (GlimmerWindow *win, GlimChatRole role)
{
  GlimmerConversation *c = glimmer_window_get_conversation (win);
  for (guint i = c != NULL ? glimmer_conversation_get_n_messages (c) : 0; i-- > 0;)
    if (glimmer_conversation_get_message (c, i)->role == role)
      return (int) i;
  return -1;
}

/* The history file of conversation `id` under the data folder's `sub` folder. */
static char *
driver_history_path (GlimmerWindow *win, const char *sub, const char *id)
{
  g_autofree char *name = g_strconcat (id, ".json", NULL);
  g_autofree char *data_dir = g_path_get_dirname (glimmer_history_get_dir (
                                                    glimmer_window_get_history (win)));
  return g_build_filename (data_dir, sub, name, NULL);
}

/* Fails unless the file `path` exists and contains `text`. */
static void
driver_expect_file (Driver *d, const char *line, const char *path, const char *text)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  if (!g_file_get_contents (path, &contents, NULL, &error))
    driver_fail (d, line, error->message);
  if (strstr (contents, text) == NULL) {
    g_autofree char *why = g_strdup_printf ("%s does not contain \"%s\"", path, text);
    driver_fail (d, line, why);
  }
}

/* The open AdwMessageDialog whose heading is `heading`, or NULL. */
static AdwMessageDialog *
driver_find_dialog (const char *heading)
{
  GListModel *tops = gtk_window_get_toplevels ();  /* borrowed */
  for (guint i = 0; i < g_list_model_get_n_items (tops); i++) {
    g_autoptr(GObject) w = g_list_model_get_item (tops, i);
    if (ADW_IS_MESSAGE_DIALOG (w) &&
        g_strcmp0 (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (w)), heading) == 0)
      return ADW_MESSAGE_DIALOG (w);
  }
  return NULL;
}

/* The count in the context-usage label ("1,234 / 8,192 tokens" → 1234), or -1. */
static int
driver_context_label_count (GlimmerWindow *win)
{
  const char *text = glimmer_window_get_context_text (win);
  const char *slash = strchr (text, '/');
  int n = 0;
  if (slash == NULL)
    return -1;
  for (const char *c = text; c < slash; c++)
    if (g_ascii_isdigit (*c))
      n = n * 10 + (*c - '0');
  return n;
}

/* The open Preferences window, or NULL. */
static GtkWindow *
driver_find_preferences (void)
{
  GListModel *tops = gtk_window_get_toplevels ();  /* borrowed */
  for (guint i = 0; i < g_list_model_get_n_items (tops); i++) {
    g_autoptr(GObject) w = g_list_model_get_item (tops, i);
    if (ADW_IS_PREFERENCES_WINDOW (w) && g_object_get_data (w, "prefs") != NULL &&
        gtk_widget_get_visible (GTK_WIDGET (w)))
      return GTK_WINDOW (w);
  }
  return NULL;
}

/* The descendant of `widget` named `name` (gtk_widget_set_name), or NULL. */
static GtkWidget *
driver_find_named (GtkWidget *widget, const char *name)
{
  if (g_strcmp0 (gtk_widget_get_name (widget), name) == 0)
    return widget;
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c != NULL;
       c = gtk_widget_get_next_sibling (c)) {
    GtkWidget *found = driver_find_named (c, name);
    if (found != NULL)
      return found;
  }
  return NULL;
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
    } else if (g_str_equal (cmd, "regenerate") || g_str_equal (cmd, "edit")) {
      gboolean regen = g_str_equal (cmd, "regenerate");
      int i = driver_last_of_role (win, regen ? GLIM_CHAT_ROLE_ASSISTANT : GLIM_CHAT_ROLE_USER);
      if (i < 0)
        driver_fail (d, line, regen ? "no assistant message" : "no user message");
      g_signal_emit_by_name (glimmer_window_get_chat_view (win), "message-action", (guint) i,
                             cmd);
      d->sent = regen;
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "expect-messages")) {
      GlimmerConversation *c = glimmer_window_get_conversation (win);
      guint n = c != NULL ? glimmer_conversation_get_n_messages (c) : 0;
      if (arg == NULL || n != (guint) atoi (arg)) {
        g_autofree char *why = g_strdup_printf ("%u messages", n);
        driver_fail (d, line, why);
      }
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "expect-answer")) {
      GlimmerMessageRow *row = driver_last_assistant (glimmer_window_get_chat_view (win));
      const char *text = row != NULL ? glimmer_markdown_view_get_text (
                                         glimmer_message_row_get_markdown_view (row)) : NULL;
      if (text == NULL || arg == NULL || strstr (text, arg) == NULL) {
        g_autofree char *why = g_strdup_printf ("the answer is \"%s\"", text ? text : "");
        driver_fail (d, line, why);
      }
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "rename")) {
      AdwMessageDialog *dialog;
      if (arg == NULL)
        driver_fail (d, line, "usage: rename TITLE");
      gtk_widget_activate_action (GTK_WIDGET (win), "win.rename", NULL);
      dialog = driver_find_dialog (_("Rename Conversation"));
      if (dialog == NULL)
        driver_fail (d, line, "no rename dialog");
      gtk_editable_set_text (GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog)), arg);
      adw_message_dialog_response (dialog, "rename");
      gtk_window_close (GTK_WINDOW (dialog));
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "expect-saved")) {
      GlimmerConversation *c = glimmer_window_get_conversation (win);
      g_autofree char *path = NULL;
      if (c == NULL || arg == NULL)
        driver_fail (d, line, "no conversation shown");
      path = driver_history_path (win, "conversations", glimmer_conversation_get_id (c));
      driver_expect_file (d, line, path, arg);
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "export-markdown") || g_str_equal (cmd, "export-json")) {
      g_autoptr(GError) error = NULL;
      g_autoptr(GFile) file = arg != NULL ? g_file_new_for_path (arg) : NULL;
      GlimmerExportFormat format = g_str_equal (cmd, "export-json") ? GLIMMER_EXPORT_JSON
                                                                     : GLIMMER_EXPORT_MARKDOWN;
      if (file == NULL || !glimmer_window_export_to (win, format, file, &error))
        driver_fail (d, line, error != NULL ? error->message : "usage: export-... PATH");
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "expect-file")) {
      g_auto(GStrv) pt = arg != NULL ? g_strsplit (arg, " ", 2) : NULL;
      if (pt == NULL || pt[0] == NULL || pt[1] == NULL)
        driver_fail (d, line, "usage: expect-file PATH TEXT");
      driver_expect_file (d, line, pt[0], pt[1]);
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "delete")) {
      GlimmerConversation *c = glimmer_window_get_conversation (win);
      g_autofree char *path = NULL, *trashed = NULL;
      if (c == NULL)
        driver_fail (d, line, "no conversation shown");
      g_free (d->deleted_id);
      d->deleted_id = g_strdup (glimmer_conversation_get_id (c));
      path = driver_history_path (win, "conversations", d->deleted_id);
      trashed = driver_history_path (win, "trash", d->deleted_id);
      gtk_widget_activate_action (GTK_WIDGET (win), "win.delete", NULL);
      if (glimmer_history_lookup (glimmer_window_get_history (win), d->deleted_id) != NULL)
        driver_fail (d, line, "the conversation is still listed");
      if (g_file_test (path, G_FILE_TEST_EXISTS) || !g_file_test (trashed, G_FILE_TEST_EXISTS))
        driver_fail (d, line, "the file was not moved to trash/");
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "undo-delete")) {
      GlimmerConversation *c;
      g_autofree char *path = NULL;
      if (d->deleted_id == NULL)
        driver_fail (d, line, "nothing deleted");
      /* what the toast's Undo button activates */
      gtk_widget_activate_action (GTK_WIDGET (win), "win.undo-delete", "s", d->deleted_id);
      c = glimmer_window_get_conversation (win);
      path = driver_history_path (win, "conversations", d->deleted_id);
      if (c == NULL || g_strcmp0 (glimmer_conversation_get_id (c), d->deleted_id) != 0)
        driver_fail (d, line, "the conversation is not shown again");
      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        driver_fail (d, line, "the file is not back");
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "search")) {
      GtkWidget *entry;
      gtk_widget_activate_action (GTK_WIDGET (win), "win.search", NULL);
      entry = gtk_root_get_focus (GTK_ROOT (win));
      while (entry != NULL && !GTK_IS_SEARCH_ENTRY (entry))
        entry = gtk_widget_get_parent (entry);
      if (entry == NULL)
        driver_fail (d, line, "win.search did not focus the search entry");
      gtk_editable_set_text (GTK_EDITABLE (entry), arg != NULL ? arg : "");
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "expect-listed")) {
      /* the search entry filters after its typing delay: allow 3 s */
      guint n = glimmer_window_get_n_listed (win);
      gint64 dl = driver_deadline (d, NULL, 3);
      if (arg != NULL && n == (guint) atoi (arg)) {
        driver_ok (d, line);
        continue;
      }
      if (g_get_monotonic_time () > dl) {
        g_autofree char *why = g_strdup_printf ("%u listed", n);
        driver_fail (d, line, why);
      }
      return G_SOURCE_CONTINUE;
    } else if (g_str_equal (cmd, "expect-context-used")) {
      int used = glimmer_worker_get_context_used (worker);
      printf ("glimmer-test: context used: %d\n", used);
      if (used <= 0)
        driver_fail (d, line, "the context usage is 0");
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "expect-context-current")) {
      /* Once the app is idle, the label must show what a fresh count of the shown
       * conversation gives: read it, ask the worker to count, compare. */
      gint64 dl = driver_deadline (d, NULL, 60);
      if (g_get_monotonic_time () > dl)
        driver_fail (d, line, "timed out waiting for the worker");
      if (glimmer_worker_get_state (worker) != GLIMMER_WORKER_STATE_READY ||
          glimmer_worker_is_counting (worker))
        return G_SOURCE_CONTINUE;
      if (d->shown_used < 0) {
        d->shown_used = driver_context_label_count (win);
        if (d->shown_used < 0)
          driver_fail (d, line, "the context-usage label shows no count");
        glimmer_worker_count_context (worker, glimmer_window_get_conversation (win));
        return G_SOURCE_CONTINUE;
      }
      int fresh = glimmer_worker_get_context_used (worker);
      printf ("glimmer-test: context label %d, fresh count %d\n", d->shown_used, fresh);
      if (d->shown_used != fresh) {
        g_autofree char *why = g_strdup_printf ("the label showed %d tokens, the conversation "
                                                "has %d", d->shown_used, fresh);
        driver_fail (d, line, why);
      }
      d->shown_used = -1;
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "delete-message")) {
      int i = driver_last_of_role (win, GLIM_CHAT_ROLE_ASSISTANT);
      if (i < 0)
        driver_fail (d, line, "no assistant message");
      g_signal_emit_by_name (glimmer_window_get_chat_view (win), "message-action", (guint) i,
                             "delete");
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "preferences")) {
      g_action_group_activate_action (G_ACTION_GROUP (d->app), "preferences", NULL);
      if (driver_find_preferences () == NULL)
        driver_fail (d, line, "no Preferences window");
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "choose-folder")) {
      GtkWindow *prefs = driver_find_preferences ();
      if (prefs == NULL || arg == NULL)
        driver_fail (d, line,
                     prefs == NULL ? "no Preferences window" : "usage: choose-folder PATH");
      glimmer_preferences_try_folder (prefs, arg);  /* what the chooser's "Select" does */
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "expect-folder-error")) {
      /* the folder is checked on a worker thread: allow 60 s */
      GtkWindow *prefs = driver_find_preferences ();
      const char *shown = prefs != NULL ? glimmer_preferences_get_folder_error (prefs) : NULL;
      gint64 dl = driver_deadline (d, NULL, 60);
      if (prefs == NULL)
        driver_fail (d, line, "no Preferences window");
      if (shown != NULL && arg != NULL && strstr (shown, arg) != NULL) {
        printf ("glimmer-test: folder error: %s\n", shown);
        driver_ok (d, line);
        continue;
      }
      if (g_get_monotonic_time () > dl) {
        g_autofree char *why = g_strdup_printf ("the folder row shows \"%s\"",
                                                shown != NULL ? shown : "(nothing)");
        driver_fail (d, line, why);
      }
      return G_SOURCE_CONTINUE;
    } else if (g_str_equal (cmd, "expect-no-folder-error")) {
      GtkWindow *prefs = driver_find_preferences ();
      const char *shown = prefs != NULL ? glimmer_preferences_get_folder_error (prefs) : NULL;
      if (prefs == NULL)
        driver_fail (d, line, "no Preferences window");
      if (shown != NULL) {
        g_autofree char *why = g_strdup_printf ("the folder row shows \"%s\"", shown);
        driver_fail (d, line, why);
      }
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "select-row")) {
      GtkWindow *prefs = driver_find_preferences ();
      g_auto(GStrv) ni = arg != NULL ? g_strsplit (arg, " ", 2) : NULL;
      GtkWidget *row = prefs != NULL && ni != NULL && ni[0] != NULL
                           ? driver_find_named (GTK_WIDGET (prefs), ni[0]) : NULL;
      if (row == NULL || !ADW_IS_COMBO_ROW (row) || ni[1] == NULL)
        driver_fail (d, line, "no such combo row in Preferences (usage: select-row NAME INDEX)");
      adw_combo_row_set_selected (ADW_COMBO_ROW (row), (guint) atoi (ni[1]));
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "expect-dark")) {
      gboolean dark = adw_style_manager_get_dark (adw_style_manager_get_default ());
      if (arg == NULL || dark != g_str_equal (arg, "yes"))
        driver_fail (d, line, dark ? "the style is dark" : "the style is light");
      driver_ok (d, line);
    } else if (g_str_equal (cmd, "expect-setting")) {
      /* string or enum keys; a change may follow an engine check: allow 60 s */
      g_auto(GStrv) kv = arg != NULL ? g_strsplit (arg, " ", 2) : NULL;
      GSettings *settings = glimmer_application_get_settings (d->app);
      g_autofree char *value = NULL;
      gint64 dl = driver_deadline (d, NULL, 60);
      if (kv == NULL || kv[0] == NULL)
        driver_fail (d, line, "usage: expect-setting KEY [VALUE]");
      value = g_settings_get_string (settings, kv[0]);
      if (g_str_equal (value, kv[1] != NULL ? kv[1] : "")) {
        driver_ok (d, line);
        continue;
      }
      if (g_get_monotonic_time () > dl) {
        g_autofree char *why = g_strdup_printf ("%s is \"%s\"", kv[0], value);
        driver_fail (d, line, why);
      }
      return G_SOURCE_CONTINUE;
    } else if (g_str_equal (cmd, "action")) {
      if (arg == NULL || !gtk_widget_activate_action (GTK_WIDGET (win), arg, NULL))
        driver_fail (d, line, "no such action");
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
  g_free (d->deleted_id);
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
  d->shown_used = -1;
  g_timeout_add_full (G_PRIORITY_DEFAULT, POLL_MS, driver_step, d, driver_free);
}
