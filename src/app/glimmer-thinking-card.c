/* glimmer-thinking-card.c: the reasoning card: a GtkTextView fed by appends while the model
 * thinks (so a long reasoning costs O(delta) per update), then "Thought for N s", collapsed.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-thinking-card"

#include "glimmer-thinking-card.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

struct _GlimmerThinkingCard {
  GtkWidget  parent_instance;
  GtkWidget *box;
  GtkWidget *toggle;
  GtkWidget *spinner;
  GtkWidget *icon;
  GtkWidget *title;
  GtkWidget *arrow;
  GtkWidget *revealer;
  GtkWidget *view;
  GString   *text;
  gboolean   live;
};

G_DEFINE_FINAL_TYPE (GlimmerThinkingCard, glimmer_thinking_card, GTK_TYPE_WIDGET)

static void
on_toggled (GlimmerThinkingCard *self, GtkToggleButton *toggle)
{
  gboolean on = gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->toggle));
  gtk_revealer_set_reveal_child (GTK_REVEALER (self->revealer), on);
  gtk_image_set_from_icon_name (GTK_IMAGE (self->arrow),
                                on ? "pan-down-symbolic" : "pan-end-symbolic");
}

static void
glimmer_thinking_card_dispose (GObject *object)
{
  GlimmerThinkingCard *self = GLIMMER_THINKING_CARD (object);
  gtk_widget_dispose_template (GTK_WIDGET (self), GLIMMER_TYPE_THINKING_CARD);
  G_OBJECT_CLASS (glimmer_thinking_card_parent_class)->dispose (object);
}

static void
glimmer_thinking_card_finalize (GObject *object)
{
  GlimmerThinkingCard *self = GLIMMER_THINKING_CARD (object);
  g_string_free (self->text, TRUE);
  G_OBJECT_CLASS (glimmer_thinking_card_parent_class)->finalize (object);
}

static void
glimmer_thinking_card_class_init (GlimmerThinkingCardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = glimmer_thinking_card_dispose;
  object_class->finalize = glimmer_thinking_card_finalize;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (
      widget_class, "/io/github/glimmer/Glimmer/glimmer-thinking-card.ui");
  gtk_widget_class_bind_template_child (widget_class, GlimmerThinkingCard, box);
  gtk_widget_class_bind_template_child (widget_class, GlimmerThinkingCard, toggle);
  gtk_widget_class_bind_template_child (widget_class, GlimmerThinkingCard, spinner);
  gtk_widget_class_bind_template_child (widget_class, GlimmerThinkingCard, icon);
  gtk_widget_class_bind_template_child (widget_class, GlimmerThinkingCard, title);
  gtk_widget_class_bind_template_child (widget_class, GlimmerThinkingCard, arrow);
  gtk_widget_class_bind_template_child (widget_class, GlimmerThinkingCard, revealer);
  gtk_widget_class_bind_template_child (widget_class, GlimmerThinkingCard, view);
  gtk_widget_class_bind_template_callback (widget_class, on_toggled);
}

static void
glimmer_thinking_card_init (GlimmerThinkingCard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->text = g_string_new (NULL);
  self->live = TRUE;
}

GtkWidget *
glimmer_thinking_card_new (void)
{
  return g_object_new (GLIMMER_TYPE_THINKING_CARD, NULL);
}

void
glimmer_thinking_card_append (GlimmerThinkingCard *self, const char *delta, gssize len)
{
  GtkTextBuffer *buf;
  GtkTextIter end;
  gsize n;

  g_return_if_fail (GLIMMER_IS_THINKING_CARD (self));
  if (delta == NULL)
    return;
  n = len < 0 ? strlen (delta) : (gsize) len;
  if (n == 0)
    return;
  /* leading newlines of the reasoning are noise */
  if (self->text->len == 0)
    while (n > 0 && (*delta == '\n' || *delta == ' ')) {
      delta++;
      n--;
    }
  if (n == 0)
    return;
  g_string_append_len (self->text, delta, (gssize) n);
  buf = gtk_text_view_get_buffer (GTK_TEXT_VIEW (self->view));
  gtk_text_buffer_get_end_iter (buf, &end);
  gtk_text_buffer_insert (buf, &end, delta, (int) n);
}

static char *
thinking_title (double seconds)
{
  long s = lround (MAX (seconds, 0.0));
  if (s < 60)
    return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Thought for %ld second",
                                         "Thought for %ld seconds", (gulong) s), s);
  return g_strdup_printf (_("Thought for %ld min %ld s"), s / 60, s % 60);
}

void
glimmer_thinking_card_finish (GlimmerThinkingCard *self, double seconds)
{
  g_autofree char *title = NULL;

  g_return_if_fail (GLIMMER_IS_THINKING_CARD (self));
  self->live = FALSE;
  title = thinking_title (seconds);
  gtk_label_set_text (GTK_LABEL (self->title), title);
  gtk_spinner_set_spinning (GTK_SPINNER (self->spinner), FALSE);
  gtk_widget_set_visible (self->spinner, FALSE);
  gtk_widget_set_visible (self->icon, TRUE);
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->toggle), FALSE);
}

void
glimmer_thinking_card_set_text (GlimmerThinkingCard *self, const char *text, double seconds)
{
  g_return_if_fail (GLIMMER_IS_THINKING_CARD (self));
  g_string_truncate (self->text, 0);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (GTK_TEXT_VIEW (self->view)), "", 0);
  glimmer_thinking_card_append (self, text, -1);
  glimmer_thinking_card_finish (self, seconds);
}

const char *
glimmer_thinking_card_get_text (GlimmerThinkingCard *self)
{
  g_return_val_if_fail (GLIMMER_IS_THINKING_CARD (self), NULL);
  return self->text->str;
}

const char *
glimmer_thinking_card_get_title (GlimmerThinkingCard *self)
{
  g_return_val_if_fail (GLIMMER_IS_THINKING_CARD (self), NULL);
  return gtk_label_get_text (GTK_LABEL (self->title));
}

gboolean
glimmer_thinking_card_get_live (GlimmerThinkingCard *self)
{
  g_return_val_if_fail (GLIMMER_IS_THINKING_CARD (self), FALSE);
  return self->live;
}

gboolean
glimmer_thinking_card_get_expanded (GlimmerThinkingCard *self)
{
  g_return_val_if_fail (GLIMMER_IS_THINKING_CARD (self), FALSE);
  return gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->toggle));
}
