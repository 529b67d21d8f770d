/* glimmer-window.c: the main window: sidebar (search, rename, export, delete with undo),
 * chat view fed by the worker's signals, composer (Enter sends, Shift+Enter new line, Stop /
 * Escape, thinking toggle, context usage), model-loading bar.
 * SPDX-License-Identifier: MIT
 *
 * The conversation is saved after every finished message and every few seconds while a reply
 * streams, so a crash loses at most those seconds. */
#define G_LOG_DOMAIN "glimmer-window"

#include "glimmer-window.h"

#include <glib/gi18n.h>
#include <stdio.h>

#define AUTOSAVE_SECONDS 3

struct _GlimmerWindow {
  AdwApplicationWindow parent_instance;

  /* template */
  AdwToastOverlay *toasts;
  AdwLeaflet      *leaflet;
  GtkWidget       *sidebar;
  GtkWidget       *content;
  GtkWidget       *search_entry;
  GtkListBox      *conversation_list;
  AdwWindowTitle  *chat_title;
  GtkWidget       *load_revealer;
  GtkWidget       *load_label;
  GtkWidget       *load_progress;
  GtkStack        *main_stack;
  GlimmerChatView *chat_view;
  GtkWidget       *composer_view;
  GtkWidget       *thinking_toggle;
  GtkWidget       *context_label;
  GtkWidget       *send_button;
  GtkWidget       *stop_button;

  GlimmerHistory      *history;
  GlimmerWorker       *worker;
  GSettings           *settings;
  GtkCustomFilter     *filter;
  GtkFilterListModel  *filtered;
  GlimmerConversation *conversation;   /* shown */
  GlimmerConversation *generating;     /* the one the worker writes into, or NULL */
  guint                autosave_id;
};

G_DEFINE_FINAL_TYPE (GlimmerWindow, glimmer_window, ADW_TYPE_APPLICATION_WINDOW)

/* ---- helpers ---- */

void
glimmer_window_show_toast (GlimmerWindow *self, const char *text)
{
  adw_toast_overlay_add_toast (self->toasts, adw_toast_new (text));
}

static void
window_save (GlimmerWindow *self, GlimmerConversation *c)
{
  g_autoptr(GError) error = NULL;
  if (c == NULL || glimmer_conversation_get_n_messages (c) == 0)
    return;
  if (!glimmer_history_save (self->history, c, &error)) {
    g_warning ("%s", error->message);
    glimmer_window_show_toast (self, error->message);
  }
}

static char *
format_count (int n)
{
  char buf[32];
  snprintf (buf, sizeof buf, "%'d", n);  /* thousands separators of the locale */
  return g_strdup (buf);
}

static void
window_update_context (GlimmerWindow *self)
{
  int used = glimmer_worker_get_context_used (self->worker);
  int len = glimmer_worker_get_context_length (self->worker);
  g_autofree char *u = format_count (used);
  g_autofree char *l = format_count (len);
  g_autofree char *text = NULL;

  if (len <= 0) {
    gtk_label_set_text (GTK_LABEL (self->context_label), "");
    return;
  }
  /* Translators: context usage, "1,234 / 8,192 tokens" */
  text = g_strdup_printf (_("%s / %s tokens"), u, l);
  gtk_label_set_text (GTK_LABEL (self->context_label), text);
}

static void
window_update_state (GlimmerWindow *self)
{
  GlimmerWorkerState state = glimmer_worker_get_state (self->worker);
  gboolean busy = state == GLIMMER_WORKER_STATE_GENERATING;
  GAction *send = g_action_map_lookup_action (G_ACTION_MAP (self), "send");
  GAction *stop = g_action_map_lookup_action (G_ACTION_MAP (self), "stop");

  gtk_widget_set_visible (self->send_button, !busy);
  gtk_widget_set_visible (self->stop_button, busy);
  g_simple_action_set_enabled (G_SIMPLE_ACTION (send), state == GLIMMER_WORKER_STATE_READY);
  g_simple_action_set_enabled (G_SIMPLE_ACTION (stop), busy);
  gtk_revealer_set_reveal_child (GTK_REVEALER (self->load_revealer),
                                 state == GLIMMER_WORKER_STATE_LOADING);
  adw_window_title_set_subtitle (self->chat_title,
                                 glimmer_worker_get_model_name (self->worker) != NULL
                                     ? glimmer_worker_get_model_name (self->worker)
                                     : (state == GLIMMER_WORKER_STATE_LOADING
                                            ? _("Loading model…") : _("No model")));
  window_update_context (self);
}

static void
window_update_title (GlimmerWindow *self)
{
  const char *t = self->conversation != NULL ? glimmer_conversation_get_title (self->conversation)
                                             : "";
  adw_window_title_set_title (self->chat_title, t[0] != '\0' ? t : _("New Chat"));
}

static void
window_update_page (GlimmerWindow *self)
{
  gboolean empty = self->conversation == NULL ||
                   glimmer_conversation_get_n_messages (self->conversation) == 0;
  g_autofree char *folder = g_settings_get_string (self->settings, "model-folder");
  /* the welcome page while nothing is configured and nothing is said yet */
  gtk_stack_set_visible_child_name (self->main_stack,
                                    empty && folder[0] == '\0' ? "welcome" : "chat");
}

/* ---- sidebar ---- */

static GtkWidget *
create_conversation_row (gpointer item, gpointer user_data)
{
  GlimmerConversation *c = item;
  GtkWidget *label = gtk_label_new (NULL);
  GtkWidget *row = gtk_list_box_row_new ();

  g_object_bind_property_full (c, "title", label, "label", G_BINDING_SYNC_CREATE,
                               (GBindingTransformFunc) NULL, NULL, NULL, NULL);
  if (glimmer_conversation_get_title (c)[0] == '\0')
    gtk_label_set_text (GTK_LABEL (label), _("New Chat"));
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), label);
  g_object_set_data_full (G_OBJECT (row), "conversation", g_object_ref (c), g_object_unref);
  return row;
}

static gboolean
filter_conversation (gpointer item, gpointer user_data)
{
  GlimmerWindow *self = user_data;
  const char *q = gtk_editable_get_text (GTK_EDITABLE (self->search_entry));
  return glimmer_conversation_matches (GLIMMER_CONVERSATION (item), q);
}

static void
on_search_changed (GlimmerWindow *self)
{
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
}

static void
window_select_row (GlimmerWindow *self)
{
  GtkListBoxRow *row;
  for (int i = 0; (row = gtk_list_box_get_row_at_index (self->conversation_list, i)) != NULL; i++)
    if (g_object_get_data (G_OBJECT (row), "conversation") == (gpointer) self->conversation) {
      gtk_list_box_select_row (self->conversation_list, row);
      return;
    }
  gtk_list_box_unselect_all (self->conversation_list);
}

static void
on_title_changed (GlimmerWindow *self)
{
  window_update_title (self);
}

void
glimmer_window_show_conversation (GlimmerWindow *self, GlimmerConversation *conversation)
{
  g_return_if_fail (GLIMMER_IS_WINDOW (self));
  if (self->conversation != NULL)
    g_signal_handlers_disconnect_by_data (self->conversation, self);
  g_set_object (&self->conversation, conversation);
  if (conversation != NULL)
    g_signal_connect_swapped (conversation, "notify::title", G_CALLBACK (on_title_changed), self);
  glimmer_chat_view_set_conversation (self->chat_view, conversation);
  glimmer_worker_count_context (self->worker, conversation);
  window_update_title (self);
  window_update_page (self);
  window_select_row (self);
  adw_leaflet_set_visible_child (self->leaflet, self->content);
}

static void
on_row_activated (GlimmerWindow *self, GtkListBoxRow *row)
{
  GlimmerConversation *c = g_object_get_data (G_OBJECT (row), "conversation");
  if (c != NULL && c != self->conversation)
    glimmer_window_show_conversation (self, c);
  adw_leaflet_set_visible_child (self->leaflet, self->content);
}

static void
on_back_clicked (GlimmerWindow *self)
{
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

/* ---- sending ---- */

static void
window_settings_to_generation (GlimmerWindow *self, GlimmerGenerationSettings *gs)
{
  glimmer_generation_settings_init (gs);
  gs->temperature = g_settings_get_double (self->settings, "temperature");
  gs->top_p = g_settings_get_double (self->settings, "top-p");
  gs->top_k = g_settings_get_int (self->settings, "top-k");
  gs->min_p = g_settings_get_double (self->settings, "min-p");
  gs->max_tokens = g_settings_get_int (self->settings, "max-tokens");
  gs->seed = g_settings_get_uint64 (self->settings, "seed");
  gs->thinking = gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->thinking_toggle));
}

static gboolean
autosave_tick (gpointer data)
{
  GlimmerWindow *self = data;
  window_save (self, self->generating);
  return G_SOURCE_CONTINUE;
}

/* Generate a reply to the conversation as it is. */
static gboolean
window_generate (GlimmerWindow *self, GlimmerConversation *c)
{
  GlimmerGenerationSettings gs;
  g_autoptr(GError) error = NULL;

  window_settings_to_generation (self, &gs);
  if (!glimmer_worker_generate (self->worker, c, &gs, &error)) {
    glimmer_window_show_toast (self, error->message);
    return FALSE;
  }
  g_set_object (&self->generating, c);
  if (self->autosave_id == 0)
    self->autosave_id = g_timeout_add_seconds (AUTOSAVE_SECONDS, autosave_tick, self);
  return TRUE;
}

gboolean
glimmer_window_send_text (GlimmerWindow *self, const char *text)
{
  g_autofree char *stripped = NULL;
  g_autofree char *system_prompt = NULL;
  GlimmerConversation *c;

  g_return_val_if_fail (GLIMMER_IS_WINDOW (self), FALSE);
  stripped = g_strstrip (g_strdup (text != NULL ? text : ""));
  if (stripped[0] == '\0')
    return FALSE;
  if (glimmer_worker_get_state (self->worker) != GLIMMER_WORKER_STATE_READY) {
    glimmer_window_show_toast (self, glimmer_worker_get_state (self->worker) ==
                                             GLIMMER_WORKER_STATE_GENERATING
                                         ? _("Wait for the reply, or stop it first")
                                         : _("No model is loaded yet"));
    return FALSE;
  }
  if (self->conversation == NULL) {
    g_autoptr(GlimmerConversation) fresh = glimmer_conversation_new ();
    glimmer_history_add (self->history, fresh);
    glimmer_window_show_conversation (self, fresh);
  }
  c = self->conversation;
  system_prompt = g_settings_get_string (self->settings, "system-prompt");
  if (glimmer_conversation_get_n_messages (c) == 0 && system_prompt[0] != '\0')
    glimmer_conversation_append (c, glimmer_message_new (GLIM_CHAT_ROLE_SYSTEM, system_prompt));
  glimmer_conversation_append (c, glimmer_message_new (GLIM_CHAT_ROLE_USER, stripped));
  glimmer_conversation_derive_title (c);
  window_save (self, c);
  window_update_page (self);
  glimmer_chat_view_scroll_to_bottom (self->chat_view);
  return window_generate (self, c);
}

static void
action_send (GSimpleAction *action, GVariant *param, gpointer data)
{
  GlimmerWindow *self = data;
  GtkTextBuffer *buf = gtk_text_view_get_buffer (GTK_TEXT_VIEW (self->composer_view));
  GtkTextIter s, e;
  g_autofree char *text = NULL;

  gtk_text_buffer_get_bounds (buf, &s, &e);
  text = gtk_text_buffer_get_text (buf, &s, &e, FALSE);
  if (glimmer_window_send_text (self, text))
    gtk_text_buffer_set_text (buf, "", 0);
}

static void
action_stop (GSimpleAction *action, GVariant *param, gpointer data)
{
  GlimmerWindow *self = data;
  glimmer_worker_stop (self->worker);
}

static gboolean
on_composer_key (GtkEventControllerKey *ctl, guint keyval, guint keycode, GdkModifierType state,
                 GlimmerWindow *self)
{
  if ((keyval == GDK_KEY_Return || keyval == GDK_KEY_KP_Enter) &&
      !(state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK))) {
    gtk_widget_activate_action (GTK_WIDGET (self), "win.send", NULL);
    return TRUE;  /* Enter sends; Shift+Enter falls through to a new line */
  }
  return FALSE;
}

/* ---- conversation actions ---- */

static void
action_new_chat (GSimpleAction *action, GVariant *param, gpointer data)
{
  GlimmerWindow *self = data;
  g_autoptr(GlimmerConversation) c = NULL;

  if (self->conversation != NULL && glimmer_conversation_get_n_messages (self->conversation) == 0) {
    glimmer_window_show_conversation (self, self->conversation);  /* reuse the empty one */
  } else {
    c = glimmer_conversation_new ();
    glimmer_history_add (self->history, c);
    glimmer_window_show_conversation (self, c);
  }
  gtk_stack_set_visible_child_name (self->main_stack, "chat");
  gtk_widget_grab_focus (self->composer_view);
}

static void
on_rename_response (AdwMessageDialog *dialog, const char *response, GlimmerWindow *self)
{
  GtkWidget *entry = adw_message_dialog_get_extra_child (dialog);
  g_autoptr(GError) error = NULL;

  if (g_strcmp0 (response, "rename") != 0 || self->conversation == NULL)
    return;
  if (!glimmer_history_rename (self->history, self->conversation,
                               gtk_editable_get_text (GTK_EDITABLE (entry)), &error))
    glimmer_window_show_toast (self, error->message);
}

static void
action_rename (GSimpleAction *action, GVariant *param, gpointer data)
{
  GlimmerWindow *self = data;
  GtkWidget *dialog, *entry;

  if (self->conversation == NULL)
    return;
  dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Rename Conversation"), NULL);
  entry = gtk_entry_new ();
  gtk_editable_set_text (GTK_EDITABLE (entry), glimmer_conversation_get_title (self->conversation));
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), entry);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _("_Cancel"),
                                    "rename", _("_Rename"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "rename",
                                              ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "rename");
  g_signal_connect (dialog, "response", G_CALLBACK (on_rename_response), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_export_response (GtkNativeDialog *chooser, int response, GlimmerWindow *self)
{
  GlimmerExportFormat format = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (chooser), "format"));
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;

  if (response == GTK_RESPONSE_ACCEPT && self->conversation != NULL) {
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
    if (!glimmer_window_export_to (self, format, file, &error))
      glimmer_window_show_toast (self, error->message);
  }
  g_object_unref (chooser);
}

gboolean
glimmer_window_export_to (GlimmerWindow *self, GlimmerExportFormat format, GFile *file,
                          GError **error)
{
  g_return_val_if_fail (GLIMMER_IS_WINDOW (self), FALSE);
  if (self->conversation == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                         _("No conversation is shown to export"));
    return FALSE;
  }
  if (!glimmer_history_export (self->conversation, format, file, error))
    return FALSE;
  glimmer_window_show_toast (self, _("Conversation exported"));
  return TRUE;
}

static void
window_export (GlimmerWindow *self, GlimmerExportFormat format)
{
  GtkFileChooserNative *chooser;
  g_autofree char *name = NULL;
  const char *title;

  if (self->conversation == NULL)
    return;
  chooser = gtk_file_chooser_native_new (_("Export Conversation"), GTK_WINDOW (self),
                                         GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"), _("_Cancel"));
  title = glimmer_conversation_get_title (self->conversation);
  name = g_strdup_printf ("%s.%s", title[0] != '\0' ? title : "conversation",
                          format == GLIMMER_EXPORT_MARKDOWN ? "md" : "json");
  g_strdelimit (name, "/\\", '-');
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), name);
  g_object_set_data (G_OBJECT (chooser), "format", GINT_TO_POINTER (format));
  g_signal_connect (chooser, "response", G_CALLBACK (on_export_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
action_export_markdown (GSimpleAction *a, GVariant *p, gpointer data)
{
  window_export (data, GLIMMER_EXPORT_MARKDOWN);
}

static void
action_export_json (GSimpleAction *a, GVariant *p, gpointer data)
{
  window_export (data, GLIMMER_EXPORT_JSON);
}

static void
action_delete (GSimpleAction *action, GVariant *param, gpointer data)
{
  GlimmerWindow *self = data;
  g_autoptr(GlimmerConversation) c = NULL;
  g_autoptr(GError) error = NULL;
  AdwToast *toast;

  if (self->conversation == NULL)
    return;
  if (self->conversation == self->generating) {
    glimmer_window_show_toast (self, _("Stop the reply before deleting this conversation"));
    return;
  }
  c = g_object_ref (self->conversation);
  if (!glimmer_history_delete (self->history, c, &error)) {
    glimmer_window_show_toast (self, error->message);
    return;
  }
  glimmer_window_show_conversation (self, NULL);
  toast = adw_toast_new (_("Conversation deleted"));
  adw_toast_set_button_label (toast, _("_Undo"));
  adw_toast_set_action_name (toast, "win.undo-delete");
  adw_toast_set_action_target_value (toast, g_variant_new_string (glimmer_conversation_get_id (c)));
  adw_toast_overlay_add_toast (self->toasts, toast);
}

static void
action_undo_delete (GSimpleAction *action, GVariant *param, gpointer data)
{
  GlimmerWindow *self = data;
  g_autoptr(GError) error = NULL;
  GlimmerConversation *c = glimmer_history_undo_delete (self->history,
                                                        g_variant_get_string (param, NULL), &error);
  if (c == NULL)
    glimmer_window_show_toast (self, error->message);
  else
    glimmer_window_show_conversation (self, c);
}

static void
action_search (GSimpleAction *action, GVariant *param, gpointer data)
{
  GlimmerWindow *self = data;
  adw_leaflet_set_visible_child (self->leaflet, self->sidebar);
  gtk_widget_grab_focus (self->search_entry);
}

static void
on_message_action (GlimmerWindow *self, guint index, const char *name)
{
  GlimmerConversation *c = self->conversation;
  GlimmerMessage *m;

  if (c == NULL || index >= glimmer_conversation_get_n_messages (c))
    return;
  if (c == self->generating) {
    glimmer_window_show_toast (self, _("Wait for the reply, or stop it first"));
    return;
  }
  m = glimmer_conversation_get_message (c, index);
  if (g_str_equal (name, "regenerate")) {
    glimmer_conversation_truncate (c, index);
    window_save (self, c);
    window_generate (self, c);
  } else if (g_str_equal (name, "edit")) {
    GtkTextBuffer *buf = gtk_text_view_get_buffer (GTK_TEXT_VIEW (self->composer_view));
    g_autofree char *text = g_strdup (m->content);
    glimmer_conversation_truncate (c, index);
    window_save (self, c);
    glimmer_worker_count_context (self->worker, c);
    gtk_text_buffer_set_text (buf, text, -1);
    gtk_widget_grab_focus (self->composer_view);
  } else if (g_str_equal (name, "delete")) {
    glimmer_conversation_remove (c, index);
    /* an assistant reply takes its tool results with it */
    while (index < glimmer_conversation_get_n_messages (c) &&
           glimmer_conversation_get_message (c, index)->role == GLIM_CHAT_ROLE_TOOL)
      glimmer_conversation_remove (c, index);
    window_save (self, c);
    glimmer_worker_count_context (self->worker, c);
  }
}

static void
on_tool_decided (GlimmerWindow *self, const char *call_id, int decision, const char *arguments)
{
  glimmer_worker_answer_tool_call (self->worker, call_id, (GlimmerToolDecision) decision,
                                   arguments);
  if (decision == GLIMMER_TOOL_DECISION_ALLOW_ALWAYS) {
    g_auto(GStrv) always = glimmer_worker_dup_always_allowed (self->worker);
    g_settings_set_strv (self->settings, "always-allowed-tools", (const char *const *) always);
  }
}

/* ---- worker events ---- */

static void
on_message_delta (GlimmerWorker *w, GlimmerConversation *c, guint index, const char *reasoning,
                  const char *content, GlimmerWindow *self)
{
  glimmer_chat_view_on_delta (self->chat_view, c, index, reasoning, content);
}

static void
on_reasoning_finished (GlimmerWorker *w, GlimmerConversation *c, guint index, GlimmerWindow *self)
{
  glimmer_chat_view_on_reasoning_done (self->chat_view, c, index);
}

static void
on_stats_updated (GlimmerWorker *w, GlimmerConversation *c, guint index, GlimmerWindow *self)
{
  glimmer_chat_view_on_stats (self->chat_view, c, index);
}

static void
on_tool_call_requested (GlimmerWorker *w, GlimmerConversation *c, guint index,
                        GlimmerToolCall *call, GlimmerWindow *self)
{
  if (c != self->conversation)
    glimmer_window_show_conversation (self, c);  /* the question must be seen to be answered */
  glimmer_chat_view_on_tool_request (self->chat_view, c, index, call);
}

static void
on_message_finished (GlimmerWorker *w, GlimmerConversation *c, guint index, GlimmerWindow *self)
{
  glimmer_chat_view_on_finished (self->chat_view, c, index);
  window_save (self, c);
}

static void
on_generation_finished (GlimmerWorker *w, GlimmerConversation *c, GError *error,
                        GlimmerWindow *self)
{
  g_clear_handle_id (&self->autosave_id, g_source_remove);
  window_save (self, c);
  g_clear_object (&self->generating);
  if (error != NULL)
    glimmer_window_show_toast (self, error->message);
  window_update_state (self);
  /* the replies' stats gave the cache's length; the label shows the conversation as it will
   * be sent next (a regenerated, stopped or failed reply included), and the shown one may not
   * be the one that was answered */
  glimmer_worker_count_context (w, self->conversation);
}

static void
on_load_finished (GlimmerWorker *w, const GError *error, GlimmerWindow *self)
{
  glimmer_worker_count_context (w, self->conversation);  /* the shown one's usage */
}

static void
on_load_progress (GlimmerWorker *w, guint64 done, guint64 total, GlimmerWindow *self)
{
  gtk_revealer_set_reveal_child (GTK_REVEALER (self->load_revealer), TRUE);
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (self->load_progress),
                                 total > 0 ? (double) done / (double) total : 0.0);
}

static void
on_worker_state (GlimmerWindow *self)
{
  window_update_state (self);
}

/* ---- GObject ---- */

static void
glimmer_window_dispose (GObject *object)
{
  GlimmerWindow *self = GLIMMER_WINDOW (object);

  g_clear_handle_id (&self->autosave_id, g_source_remove);
  if (self->generating != NULL)
    window_save (self, self->generating);
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  if (self->conversation != NULL)
    g_signal_handlers_disconnect_by_data (self->conversation, self);
  g_clear_object (&self->conversation);
  g_clear_object (&self->generating);
  gtk_widget_dispose_template (GTK_WIDGET (self), GLIMMER_TYPE_WINDOW);
  g_clear_object (&self->filtered);
  g_clear_object (&self->history);
  g_clear_object (&self->worker);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (glimmer_window_parent_class)->dispose (object);
}

static void
glimmer_window_class_init (GlimmerWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = glimmer_window_dispose;
  g_type_ensure (GLIMMER_TYPE_CHAT_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/glimmer/Glimmer/glimmer-window.ui");
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, toasts);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, leaflet);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, sidebar);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, content);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, search_entry);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, conversation_list);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, chat_title);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, load_revealer);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, load_label);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, load_progress);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, chat_view);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, composer_view);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, thinking_toggle);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, context_label);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, send_button);
  gtk_widget_class_bind_template_child (widget_class, GlimmerWindow, stop_button);
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_row_activated);
  gtk_widget_class_bind_template_callback (widget_class, on_back_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_message_action);
  gtk_widget_class_bind_template_callback (widget_class, on_tool_decided);
}

/* Show the sidebar's conversation number `param` (0: the newest). */
static void
action_open_index (GSimpleAction *action, GVariant *param, gpointer data)
{
  GlimmerWindow *self = data;
  g_autoptr(GlimmerConversation) c = g_list_model_get_item (G_LIST_MODEL (self->filtered),
                                                            (guint) MAX (g_variant_get_int32 (param), 0));
  if (c != NULL)
    glimmer_window_show_conversation (self, c);
}

static const GActionEntry win_actions[] = {
  { "open-index", action_open_index, "i", NULL, NULL, { 0 } },
  { "new-chat", action_new_chat, NULL, NULL, NULL, { 0 } },
  { "send", action_send, NULL, NULL, NULL, { 0 } },
  { "stop", action_stop, NULL, NULL, NULL, { 0 } },
  { "rename", action_rename, NULL, NULL, NULL, { 0 } },
  { "export-markdown", action_export_markdown, NULL, NULL, NULL, { 0 } },
  { "export-json", action_export_json, NULL, NULL, NULL, { 0 } },
  { "delete", action_delete, NULL, NULL, NULL, { 0 } },
  { "undo-delete", action_undo_delete, "s", NULL, NULL, { 0 } },
  { "search", action_search, NULL, NULL, NULL, { 0 } },
};

static void
glimmer_window_init (GlimmerWindow *self)
{
  GtkEventController *keys;

  gtk_widget_init_template (GTK_WIDGET (self));
  g_action_map_add_action_entries (G_ACTION_MAP (self), win_actions, G_N_ELEMENTS (win_actions),
                                   self);
  keys = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
  g_signal_connect (keys, "key-pressed", G_CALLBACK (on_composer_key), self);
  gtk_widget_add_controller (self->composer_view, keys);
}

GlimmerWindow *
glimmer_window_new (GtkApplication *app, GlimmerHistory *history, GlimmerWorker *worker,
                    GSettings *settings)
{
  GlimmerWindow *self = g_object_new (GLIMMER_TYPE_WINDOW, "application", app, NULL);

  self->history = g_object_ref (history);
  self->worker = g_object_ref (worker);
  self->settings = g_object_ref (settings);

  self->filter = gtk_custom_filter_new (filter_conversation, self, NULL);
  self->filtered = gtk_filter_list_model_new (g_object_ref (glimmer_history_get_model (history)),
                                              GTK_FILTER (self->filter));
  gtk_list_box_bind_model (self->conversation_list, G_LIST_MODEL (self->filtered),
                           create_conversation_row, self, NULL);

  g_settings_bind (settings, "thinking", self->thinking_toggle, "active", G_SETTINGS_BIND_GET);
  g_settings_bind (settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "window-height", self, "default-height", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);

  g_signal_connect (worker, "message-delta", G_CALLBACK (on_message_delta), self);
  g_signal_connect (worker, "reasoning-finished", G_CALLBACK (on_reasoning_finished), self);
  g_signal_connect (worker, "stats-updated", G_CALLBACK (on_stats_updated), self);
  g_signal_connect (worker, "tool-call-requested", G_CALLBACK (on_tool_call_requested), self);
  g_signal_connect (worker, "message-finished", G_CALLBACK (on_message_finished), self);
  g_signal_connect (worker, "generation-finished", G_CALLBACK (on_generation_finished), self);
  g_signal_connect (worker, "load-progress", G_CALLBACK (on_load_progress), self);
  g_signal_connect (worker, "load-finished", G_CALLBACK (on_load_finished), self);
  g_signal_connect_swapped (worker, "notify::state", G_CALLBACK (on_worker_state), self);
  g_signal_connect_swapped (worker, "notify::context-used", G_CALLBACK (on_worker_state), self);
  g_signal_connect_swapped (worker, "notify::model-name", G_CALLBACK (on_worker_state), self);

  glimmer_window_show_conversation (self, NULL);
  window_update_state (self);
  return self;
}

GlimmerConversation *
glimmer_window_get_conversation (GlimmerWindow *self)
{
  g_return_val_if_fail (GLIMMER_IS_WINDOW (self), NULL);
  return self->conversation;
}

GlimmerChatView *
glimmer_window_get_chat_view (GlimmerWindow *self)
{
  g_return_val_if_fail (GLIMMER_IS_WINDOW (self), NULL);
  return self->chat_view;
}

AdwLeaflet *
glimmer_window_get_leaflet (GlimmerWindow *self)
{
  g_return_val_if_fail (GLIMMER_IS_WINDOW (self), NULL);
  return self->leaflet;
}

GlimmerHistory *
glimmer_window_get_history (GlimmerWindow *self)
{
  g_return_val_if_fail (GLIMMER_IS_WINDOW (self), NULL);
  return self->history;
}

guint
glimmer_window_get_n_listed (GlimmerWindow *self)
{
  g_return_val_if_fail (GLIMMER_IS_WINDOW (self), 0);
  return g_list_model_get_n_items (G_LIST_MODEL (self->filtered));
}

const char *
glimmer_window_get_context_text (GlimmerWindow *self)
{
  g_return_val_if_fail (GLIMMER_IS_WINDOW (self), NULL);
  return gtk_label_get_text (GTK_LABEL (self->context_label));
}
