/* glimmer-chat-view.c: message rows of one conversation in a clamped, scrolled column.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-chat-view"

#include "glimmer-chat-view.h"

#include <adwaita.h>

#define FIRST_BATCH 30  /* messages built at once when a conversation opens */
#define IDLE_BATCH  10  /* older messages built per idle callback */

struct _GlimmerChatView {
  GtkWidget            parent_instance;
  GtkWidget           *scroller;
  GtkWidget           *list;          /* GtkBox of rows */
  GlimmerConversation *conversation;
  GPtrArray           *rows;          /* GtkWidget* (borrowed) per message index, or NULL */
  guint                n_built_from;  /* messages [n_built_from, n) have been considered */
  guint                build_id;      /* idle building older rows */
  gboolean             stick;         /* keep the view at the bottom */
};

enum { SIGNAL_MESSAGE_ACTION, SIGNAL_TOOL_DECIDED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (GlimmerChatView, glimmer_chat_view, GTK_TYPE_WIDGET)

static void
on_row_action (GlimmerMessageRow *row, const char *action, GlimmerChatView *self)
{
  guint index;
  if (g_ptr_array_find (self->rows, row, &index))
    g_signal_emit (self, signals[SIGNAL_MESSAGE_ACTION], 0, index, action);
}

static void
on_row_tool_decided (GlimmerMessageRow *row, const char *call_id, int decision,
                     const char *arguments, GlimmerChatView *self)
{
  g_signal_emit (self, signals[SIGNAL_TOOL_DECIDED], 0, call_id, decision, arguments);
}

/* The tool card answering `call_id`, searching the rows before `index`. */
static GlimmerToolCard *
chat_view_find_card (GlimmerChatView *self, guint index, const char *call_id)
{
  for (guint i = MIN (index, self->rows->len); i-- > 0;) {
    GtkWidget *row = g_ptr_array_index (self->rows, i);
    GlimmerToolCard *card;
    if (row == NULL)
      continue;
    card = glimmer_message_row_find_tool_card (GLIMMER_MESSAGE_ROW (row), call_id);
    if (card != NULL)
      return card;
  }
  return NULL;
}

static void
chat_view_apply_tool_result (GlimmerChatView *self, guint index, const GlimmerMessage *m)
{
  GlimmerToolCard *card = chat_view_find_card (self, index, m->tool_call_id);
  if (card != NULL)
    glimmer_tool_card_set_result (card, m->content, m->tool_ok);
}

/* Build the widget of message `index`; `sibling`: insert before it (NULL: at the end). */
static void
chat_view_build_row (GlimmerChatView *self, guint index, GtkWidget *sibling)
{
  GlimmerMessage *m = glimmer_conversation_get_message (self->conversation, index);
  GtkWidget *row;

  if (m->role == GLIM_CHAT_ROLE_TOOL) {
    chat_view_apply_tool_result (self, index, m);
    return;
  }
  if (m->role != GLIM_CHAT_ROLE_USER && m->role != GLIM_CHAT_ROLE_ASSISTANT)
    return;
  row = glimmer_message_row_new (m->role);
  glimmer_message_row_set_message (GLIMMER_MESSAGE_ROW (row), m);
  g_signal_connect (row, "action", G_CALLBACK (on_row_action), self);
  g_signal_connect (row, "tool-decided", G_CALLBACK (on_row_tool_decided), self);
  gtk_box_insert_child_after (GTK_BOX (self->list), row,
                              sibling != NULL ? gtk_widget_get_prev_sibling (sibling)
                                              : gtk_widget_get_last_child (self->list));
  g_ptr_array_index (self->rows, index) = row;
  /* results of this reply's calls that follow it (history built backwards) */
  if (m->role == GLIM_CHAT_ROLE_ASSISTANT)
    for (guint j = index + 1; j < glimmer_conversation_get_n_messages (self->conversation); j++) {
      GlimmerMessage *t = glimmer_conversation_get_message (self->conversation, j);
      if (t->role != GLIM_CHAT_ROLE_TOOL)
        break;
      chat_view_apply_tool_result (self, j, t);
    }
}

static GtkWidget *
chat_view_first_row_from (GlimmerChatView *self, guint index)
{
  for (guint i = index; i < self->rows->len; i++)
    if (g_ptr_array_index (self->rows, i) != NULL)
      return g_ptr_array_index (self->rows, i);
  return NULL;
}

/* Build up to `n` messages before n_built_from, newest first (prepending). */
static void
chat_view_build_older (GlimmerChatView *self, guint n)
{
  while (n-- > 0 && self->n_built_from > 0) {
    guint i = --self->n_built_from;
    chat_view_build_row (self, i, chat_view_first_row_from (self, i + 1));
  }
}

static gboolean
on_build_idle (gpointer data)
{
  GlimmerChatView *self = data;
  chat_view_build_older (self, IDLE_BATCH);
  if (self->n_built_from > 0)
    return G_SOURCE_CONTINUE;
  self->build_id = 0;
  return G_SOURCE_REMOVE;
}

static void
chat_view_clear (GlimmerChatView *self)
{
  GtkWidget *child;
  g_clear_handle_id (&self->build_id, g_source_remove);
  while ((child = gtk_widget_get_first_child (self->list)) != NULL)
    gtk_box_remove (GTK_BOX (self->list), child);
  g_ptr_array_set_size (self->rows, 0);
  self->n_built_from = 0;
}

static void
chat_view_rebuild (GlimmerChatView *self)
{
  guint n;

  chat_view_clear (self);
  if (self->conversation == NULL)
    return;
  n = glimmer_conversation_get_n_messages (self->conversation);
  g_ptr_array_set_size (self->rows, n);
  self->n_built_from = n;
  chat_view_build_older (self, FIRST_BATCH);
  if (self->n_built_from > 0)
    self->build_id = g_idle_add_full (G_PRIORITY_LOW, on_build_idle, self, NULL);
  self->stick = TRUE;
}

static void
on_messages_changed (GlimmerConversation *c, guint position, guint removed, guint added,
                     GlimmerChatView *self)
{
  if (removed > 0 || position != self->rows->len) {
    chat_view_rebuild (self);
    return;
  }
  g_ptr_array_set_size (self->rows, position + added);
  for (guint i = position; i < position + added; i++)
    chat_view_build_row (self, i, NULL);
}

static void
on_upper_changed (GtkAdjustment *adj, GParamSpec *pspec, GlimmerChatView *self)
{
  if (self->stick)
    gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj) -
                                       gtk_adjustment_get_page_size (adj));
}

static void
on_value_changed (GtkAdjustment *adj, GlimmerChatView *self)
{
  self->stick = gtk_adjustment_get_value (adj) + gtk_adjustment_get_page_size (adj) >=
                gtk_adjustment_get_upper (adj) - 48;
}

static void
glimmer_chat_view_dispose (GObject *object)
{
  GlimmerChatView *self = GLIMMER_CHAT_VIEW (object);
  glimmer_chat_view_set_conversation (self, NULL);
  g_clear_pointer (&self->scroller, gtk_widget_unparent);
  G_OBJECT_CLASS (glimmer_chat_view_parent_class)->dispose (object);
}

static void
glimmer_chat_view_finalize (GObject *object)
{
  GlimmerChatView *self = GLIMMER_CHAT_VIEW (object);
  g_ptr_array_unref (self->rows);
  G_OBJECT_CLASS (glimmer_chat_view_parent_class)->finalize (object);
}

static void
glimmer_chat_view_class_init (GlimmerChatViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = glimmer_chat_view_dispose;
  object_class->finalize = glimmer_chat_view_finalize;
  signals[SIGNAL_MESSAGE_ACTION] = g_signal_new ("message-action", G_TYPE_FROM_CLASS (klass),
                                                 G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                 G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_STRING);
  signals[SIGNAL_TOOL_DECIDED] = g_signal_new ("tool-decided", G_TYPE_FROM_CLASS (klass),
                                               G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                               G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_INT,
                                               G_TYPE_STRING);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "chatview");
}

static void
glimmer_chat_view_init (GlimmerChatView *self)
{
  GtkWidget *clamp = adw_clamp_new ();
  GtkAdjustment *vadj;

  self->rows = g_ptr_array_new ();
  self->scroller = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (self->scroller), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);
  gtk_widget_set_vexpand (self->scroller, TRUE);
  gtk_widget_set_parent (self->scroller, GTK_WIDGET (self));
  self->list = gtk_box_new (GTK_ORIENTATION_VERTICAL, 18);
  gtk_widget_set_margin_top (self->list, 18);
  gtk_widget_set_margin_bottom (self->list, 18);
  gtk_widget_set_margin_start (self->list, 12);
  gtk_widget_set_margin_end (self->list, 12);
  adw_clamp_set_maximum_size (ADW_CLAMP (clamp), 860);
  adw_clamp_set_tightening_threshold (ADW_CLAMP (clamp), 600);
  adw_clamp_set_child (ADW_CLAMP (clamp), self->list);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (self->scroller), clamp);
  vadj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (self->scroller));
  g_signal_connect (vadj, "notify::upper", G_CALLBACK (on_upper_changed), self);
  g_signal_connect (vadj, "value-changed", G_CALLBACK (on_value_changed), self);
  self->stick = TRUE;
}

GtkWidget *
glimmer_chat_view_new (void)
{
  return g_object_new (GLIMMER_TYPE_CHAT_VIEW, NULL);
}

void
glimmer_chat_view_set_conversation (GlimmerChatView *self, GlimmerConversation *conversation)
{
  g_return_if_fail (GLIMMER_IS_CHAT_VIEW (self));
  if (self->conversation == conversation)
    return;
  if (self->conversation != NULL)
    g_signal_handlers_disconnect_by_data (self->conversation, self);
  g_set_object (&self->conversation, conversation);
  if (conversation != NULL)
    g_signal_connect (conversation, "messages-changed", G_CALLBACK (on_messages_changed), self);
  chat_view_rebuild (self);
}

GlimmerConversation *
glimmer_chat_view_get_conversation (GlimmerChatView *self)
{
  g_return_val_if_fail (GLIMMER_IS_CHAT_VIEW (self), NULL);
  return self->conversation;
}

GlimmerMessageRow *
glimmer_chat_view_get_row (GlimmerChatView *self, guint index)
{
  g_return_val_if_fail (GLIMMER_IS_CHAT_VIEW (self), NULL);
  if (index >= self->rows->len)
    return NULL;
  return g_ptr_array_index (self->rows, index);
}

guint
glimmer_chat_view_get_n_rows (GlimmerChatView *self)
{
  guint n = 0;
  g_return_val_if_fail (GLIMMER_IS_CHAT_VIEW (self), 0);
  for (guint i = 0; i < self->rows->len; i++)
    n += g_ptr_array_index (self->rows, i) != NULL;
  return n;
}

void
glimmer_chat_view_scroll_to_bottom (GlimmerChatView *self)
{
  GtkAdjustment *adj;
  g_return_if_fail (GLIMMER_IS_CHAT_VIEW (self));
  adj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (self->scroller));
  self->stick = TRUE;
  gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj));
}

static GlimmerMessageRow *
chat_view_live_row (GlimmerChatView *self, GlimmerConversation *c, guint index)
{
  if (c != self->conversation)
    return NULL;
  return glimmer_chat_view_get_row (self, index);
}

void
glimmer_chat_view_on_delta (GlimmerChatView *self, GlimmerConversation *c, guint index,
                            const char *reasoning, const char *content)
{
  GlimmerMessageRow *row = chat_view_live_row (self, c, index);
  if (row != NULL)
    glimmer_message_row_append (row, reasoning, content);
}

void
glimmer_chat_view_on_reasoning_done (GlimmerChatView *self, GlimmerConversation *c, guint index)
{
  GlimmerMessageRow *row = chat_view_live_row (self, c, index);
  if (row != NULL) {
    GlimmerMessage *m = glimmer_conversation_get_message (c, index);
    glimmer_message_row_reasoning_finished (row, m->has_stats ? m->stats.thinking_seconds : 0);
  }
}

void
glimmer_chat_view_on_stats (GlimmerChatView *self, GlimmerConversation *c, guint index)
{
  GlimmerMessageRow *row = chat_view_live_row (self, c, index);
  if (row != NULL) {
    GlimmerMessage *m = glimmer_conversation_get_message (c, index);
    glimmer_message_row_set_stats (row, &m->stats);
  }
}

void
glimmer_chat_view_on_tool_request (GlimmerChatView *self, GlimmerConversation *c, guint index,
                                   const GlimmerToolCall *call)
{
  GlimmerMessageRow *row = chat_view_live_row (self, c, index);
  if (row != NULL)
    glimmer_message_row_add_tool_call (row, call, TRUE);
}

void
glimmer_chat_view_on_finished (GlimmerChatView *self, GlimmerConversation *c, guint index)
{
  GlimmerMessage *m;
  if (c != self->conversation || index >= glimmer_conversation_get_n_messages (c))
    return;
  m = glimmer_conversation_get_message (c, index);
  if (m->role == GLIM_CHAT_ROLE_TOOL) {
    chat_view_apply_tool_result (self, index, m);
  } else if (index < self->rows->len && g_ptr_array_index (self->rows, index) != NULL) {
    glimmer_message_row_finish (g_ptr_array_index (self->rows, index), m);
  }
}
