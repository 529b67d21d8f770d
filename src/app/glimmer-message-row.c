/* glimmer-message-row.c: a message's widgets, built from history or from live worker events.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-message-row"

#include "glimmer-message-row.h"

#include <glib/gi18n.h>

struct _GlimmerMessageRow {
  GtkWidget    parent_instance;
  GtkWidget   *box;
  GtkWidget   *role_label;
  GtkWidget   *thinking_slot;
  GtkWidget   *markdown;
  GtkWidget   *tools_box;
  GtkWidget   *footer;
  GtkWidget   *stats_label;
  GtkWidget   *copy_button;
  GtkWidget   *regenerate_button;
  GtkWidget   *edit_button;
  GtkWidget   *delete_button;
  GtkWidget   *thinking;     /* GlimmerThinkingCard, or NULL */
  GlimChatRole role;
  gboolean     live;
  gint64       reasoning_started;  /* monotonic µs of the first reasoning delta */
};

enum { SIGNAL_ACTION, SIGNAL_TOOL_DECIDED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (GlimmerMessageRow, glimmer_message_row, GTK_TYPE_WIDGET)

char *
glimmer_message_stats_format (const GlimmerMessageStats *stats)
{
  g_autoptr(GString) s = g_string_new (NULL);
  if (stats == NULL)
    return g_strdup ("");
  if (stats->tokens_per_second > 0)
    g_string_append_printf (s, _("%.1f tokens/s"), stats->tokens_per_second);
  if (stats->n_prompt > 0) {
    /* Translators: tokens of the prompt */
    g_autofree char *prompt = g_strdup_printf (_("%d prompt"), stats->n_prompt);
    g_string_append_printf (s, "%s%s", s->len ? " · " : "", prompt);
  }
  if (stats->n_generated > 0) {
    g_autofree char *gen = g_strdup_printf (_("%d generated"), stats->n_generated);
    g_string_append_printf (s, "%s%s", s->len ? " · " : "", gen);
  }
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
on_copy (GlimmerMessageRow *self)
{
  const char *text = glimmer_markdown_view_get_text (GLIMMER_MARKDOWN_VIEW (self->markdown));
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)), text);
}

static void on_regenerate (GlimmerMessageRow *self) { g_signal_emit (self, signals[SIGNAL_ACTION], 0, "regenerate"); }
static void on_edit (GlimmerMessageRow *self) { g_signal_emit (self, signals[SIGNAL_ACTION], 0, "edit"); }
static void on_delete (GlimmerMessageRow *self) { g_signal_emit (self, signals[SIGNAL_ACTION], 0, "delete"); }

static void
on_tool_decided (GlimmerToolCard *card, int decision, const char *arguments,
                 GlimmerMessageRow *self)
{
  g_signal_emit (self, signals[SIGNAL_TOOL_DECIDED], 0, glimmer_tool_card_get_call_id (card),
                 decision, arguments);
}

static void
message_row_update_footer (GlimmerMessageRow *self)
{
  gboolean assistant = self->role == GLIM_CHAT_ROLE_ASSISTANT;
  gtk_widget_set_sensitive (self->footer, !self->live);
  gtk_widget_set_visible (self->regenerate_button, assistant && !self->live);
  gtk_widget_set_visible (self->edit_button, self->role == GLIM_CHAT_ROLE_USER);
  gtk_widget_set_visible (self->copy_button, !self->live);
  gtk_widget_set_visible (self->delete_button, !self->live);
}

static void
glimmer_message_row_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), GLIMMER_TYPE_MESSAGE_ROW);
  G_OBJECT_CLASS (glimmer_message_row_parent_class)->dispose (object);
}

static void
glimmer_message_row_class_init (GlimmerMessageRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = glimmer_message_row_dispose;
  signals[SIGNAL_ACTION] = g_signal_new ("action", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_TOOL_DECIDED] = g_signal_new ("tool-decided", G_TYPE_FROM_CLASS (klass),
                                               G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                               G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_INT,
                                               G_TYPE_STRING);

  g_type_ensure (GLIMMER_TYPE_MARKDOWN_VIEW);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (
      widget_class, "/io/github/glimmer/Glimmer/glimmer-message-row.ui");
  gtk_widget_class_bind_template_child (widget_class, GlimmerMessageRow, box);
  gtk_widget_class_bind_template_child (widget_class, GlimmerMessageRow, role_label);
  gtk_widget_class_bind_template_child (widget_class, GlimmerMessageRow, thinking_slot);
  gtk_widget_class_bind_template_child (widget_class, GlimmerMessageRow, markdown);
  gtk_widget_class_bind_template_child (widget_class, GlimmerMessageRow, tools_box);
  gtk_widget_class_bind_template_child (widget_class, GlimmerMessageRow, footer);
  gtk_widget_class_bind_template_child (widget_class, GlimmerMessageRow, stats_label);
  gtk_widget_class_bind_template_child (widget_class, GlimmerMessageRow, copy_button);
  gtk_widget_class_bind_template_child (widget_class, GlimmerMessageRow, regenerate_button);
  gtk_widget_class_bind_template_child (widget_class, GlimmerMessageRow, edit_button);
  gtk_widget_class_bind_template_child (widget_class, GlimmerMessageRow, delete_button);
  gtk_widget_class_bind_template_callback (widget_class, on_copy);
  gtk_widget_class_bind_template_callback (widget_class, on_regenerate);
  gtk_widget_class_bind_template_callback (widget_class, on_edit);
  gtk_widget_class_bind_template_callback (widget_class, on_delete);
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
glimmer_message_row_init (GlimmerMessageRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
glimmer_message_row_new (GlimChatRole role)
{
  GlimmerMessageRow *self = g_object_new (GLIMMER_TYPE_MESSAGE_ROW, NULL);
  self->role = role;
  self->live = role == GLIM_CHAT_ROLE_ASSISTANT;
  gtk_label_set_text (GTK_LABEL (self->role_label),
                      role == GLIM_CHAT_ROLE_USER        ? _("You")
                      : role == GLIM_CHAT_ROLE_ASSISTANT ? _("Glimmer")
                      : role == GLIM_CHAT_ROLE_SYSTEM    ? _("System")
                                                         : _("Tool"));
  if (role == GLIM_CHAT_ROLE_USER) {
    gtk_widget_add_css_class (self->box, "message-user");
    gtk_widget_set_margin_start (GTK_WIDGET (self), 48);
  }
  message_row_update_footer (self);
  return GTK_WIDGET (self);
}

GlimChatRole
glimmer_message_row_get_role (GlimmerMessageRow *self)
{
  g_return_val_if_fail (GLIMMER_IS_MESSAGE_ROW (self), GLIM_CHAT_ROLE_USER);
  return self->role;
}

static GlimmerThinkingCard *
message_row_ensure_thinking (GlimmerMessageRow *self)
{
  if (self->thinking == NULL) {
    self->thinking = glimmer_thinking_card_new ();
    gtk_box_append (GTK_BOX (self->thinking_slot), self->thinking);
    gtk_widget_set_visible (self->thinking_slot, TRUE);
    self->reasoning_started = g_get_monotonic_time ();
  }
  return GLIMMER_THINKING_CARD (self->thinking);
}

void
glimmer_message_row_append (GlimmerMessageRow *self, const char *reasoning, const char *content)
{
  g_return_if_fail (GLIMMER_IS_MESSAGE_ROW (self));
  if (reasoning != NULL && reasoning[0] != '\0')
    glimmer_thinking_card_append (message_row_ensure_thinking (self), reasoning, -1);
  if (content != NULL && content[0] != '\0') {
    /* the answer starts: reasoning is over even if no event said so yet */
    if (self->thinking != NULL && glimmer_thinking_card_get_live (GLIMMER_THINKING_CARD (self->thinking)))
      glimmer_message_row_reasoning_finished (
          self, (double) (g_get_monotonic_time () - self->reasoning_started) / G_USEC_PER_SEC);
    glimmer_markdown_view_append (GLIMMER_MARKDOWN_VIEW (self->markdown), content, -1);
  }
}

void
glimmer_message_row_reasoning_finished (GlimmerMessageRow *self, double seconds)
{
  g_return_if_fail (GLIMMER_IS_MESSAGE_ROW (self));
  if (self->thinking != NULL)
    glimmer_thinking_card_finish (GLIMMER_THINKING_CARD (self->thinking), seconds);
}

GlimmerToolCard *
glimmer_message_row_add_tool_call (GlimmerMessageRow *self, const GlimmerToolCall *call,
                                   gboolean pending)
{
  GtkWidget *card;

  g_return_val_if_fail (GLIMMER_IS_MESSAGE_ROW (self), NULL);
  g_return_val_if_fail (call != NULL, NULL);
  card = GTK_WIDGET (glimmer_message_row_find_tool_card (self, call->id));
  if (card == NULL) {
    card = glimmer_tool_card_new (call->id, call->name, call->arguments);
    g_signal_connect (card, "decided", G_CALLBACK (on_tool_decided), self);
    gtk_box_append (GTK_BOX (self->tools_box), card);
    gtk_widget_set_visible (self->tools_box, TRUE);
  }
  if (pending)
    glimmer_tool_card_set_pending (GLIMMER_TOOL_CARD (card));
  return GLIMMER_TOOL_CARD (card);
}

GlimmerToolCard *
glimmer_message_row_find_tool_card (GlimmerMessageRow *self, const char *call_id)
{
  g_return_val_if_fail (GLIMMER_IS_MESSAGE_ROW (self), NULL);
  for (GtkWidget *c = gtk_widget_get_first_child (self->tools_box); c != NULL;
       c = gtk_widget_get_next_sibling (c))
    if (g_strcmp0 (glimmer_tool_card_get_call_id (GLIMMER_TOOL_CARD (c)), call_id) == 0)
      return GLIMMER_TOOL_CARD (c);
  return NULL;
}

guint
glimmer_message_row_get_n_tool_cards (GlimmerMessageRow *self)
{
  guint n = 0;
  g_return_val_if_fail (GLIMMER_IS_MESSAGE_ROW (self), 0);
  for (GtkWidget *c = gtk_widget_get_first_child (self->tools_box); c != NULL;
       c = gtk_widget_get_next_sibling (c))
    n++;
  return n;
}

void
glimmer_message_row_set_stats (GlimmerMessageRow *self, const GlimmerMessageStats *stats)
{
  g_autofree char *text = NULL;
  g_return_if_fail (GLIMMER_IS_MESSAGE_ROW (self));
  text = glimmer_message_stats_format (stats);
  gtk_label_set_text (GTK_LABEL (self->stats_label), text);
}

void
glimmer_message_row_set_message (GlimmerMessageRow *self, const GlimmerMessage *message)
{
  g_return_if_fail (GLIMMER_IS_MESSAGE_ROW (self));
  g_return_if_fail (message != NULL);

  if (message->reasoning != NULL && message->reasoning[0] != '\0')
    glimmer_thinking_card_set_text (message_row_ensure_thinking (self), message->reasoning,
                                    message->has_stats ? message->stats.thinking_seconds : 0);
  glimmer_markdown_view_set_text (GLIMMER_MARKDOWN_VIEW (self->markdown), message->content);
  gtk_widget_set_visible (self->markdown, message->content != NULL && message->content[0] != '\0');
  for (guint i = 0; message->tool_calls != NULL && i < message->tool_calls->len; i++)
    glimmer_message_row_add_tool_call (self, g_ptr_array_index (message->tool_calls, i), FALSE);
  if (message->has_stats)
    glimmer_message_row_set_stats (self, &message->stats);
  self->live = message->in_progress;
  message_row_update_footer (self);
}

void
glimmer_message_row_finish (GlimmerMessageRow *self, const GlimmerMessage *message)
{
  g_return_if_fail (GLIMMER_IS_MESSAGE_ROW (self));
  if (self->thinking != NULL && glimmer_thinking_card_get_live (GLIMMER_THINKING_CARD (self->thinking)))
    glimmer_message_row_reasoning_finished (
        self, message != NULL && message->has_stats
                  ? message->stats.thinking_seconds
                  : (double) (g_get_monotonic_time () - self->reasoning_started) / G_USEC_PER_SEC);
  if (message != NULL) {
    const char *shown = glimmer_markdown_view_get_text (GLIMMER_MARKDOWN_VIEW (self->markdown));
    if (g_strcmp0 (shown, message->content) != 0)
      glimmer_markdown_view_set_text (GLIMMER_MARKDOWN_VIEW (self->markdown), message->content);
    else
      glimmer_markdown_view_finish (GLIMMER_MARKDOWN_VIEW (self->markdown));
    for (guint i = 0; message->tool_calls != NULL && i < message->tool_calls->len; i++)
      glimmer_message_row_add_tool_call (self, g_ptr_array_index (message->tool_calls, i), FALSE);
    if (message->has_stats)
      glimmer_message_row_set_stats (self, &message->stats);
    gtk_widget_set_visible (self->markdown,
                            message->content != NULL && message->content[0] != '\0');
  } else {
    glimmer_markdown_view_finish (GLIMMER_MARKDOWN_VIEW (self->markdown));
  }
  self->live = FALSE;
  message_row_update_footer (self);
}

gboolean
glimmer_message_row_get_live (GlimmerMessageRow *self)
{
  g_return_val_if_fail (GLIMMER_IS_MESSAGE_ROW (self), FALSE);
  return self->live;
}

GlimmerThinkingCard *
glimmer_message_row_get_thinking_card (GlimmerMessageRow *self)
{
  g_return_val_if_fail (GLIMMER_IS_MESSAGE_ROW (self), NULL);
  return self->thinking != NULL ? GLIMMER_THINKING_CARD (self->thinking) : NULL;
}

GlimmerMarkdownView *
glimmer_message_row_get_markdown_view (GlimmerMessageRow *self)
{
  g_return_val_if_fail (GLIMMER_IS_MESSAGE_ROW (self), NULL);
  return GLIMMER_MARKDOWN_VIEW (self->markdown);
}

const char *
glimmer_message_row_get_stats_text (GlimmerMessageRow *self)
{
  g_return_val_if_fail (GLIMMER_IS_MESSAGE_ROW (self), NULL);
  return gtk_label_get_text (GTK_LABEL (self->stats_label));
}
