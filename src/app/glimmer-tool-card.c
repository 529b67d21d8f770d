/* glimmer-tool-card.c: the tool-call card. The arguments are shown as pretty JSON in a
 * GtkSourceView that is editable only while the call waits for approval; the result is cut at
 * GLIMMER_TOOL_CARD_RESULT_PREVIEW characters with a "Show all" button.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-tool-card"

#include "glimmer-tool-card.h"

#include <glib/gi18n.h>
#include <gtksourceview/gtksource.h>
#include <json-glib/json-glib.h>

struct _GlimmerToolCard {
  GtkWidget  parent_instance;
  GtkWidget *box;
  GtkWidget *title;
  GtkWidget *status;
  GtkWidget *args_view;
  GtkWidget *buttons;
  GtkWidget *deny_button;
  GtkWidget *always_button;
  GtkWidget *once_button;
  GtkWidget *result_expander;
  GtkWidget *result_label;
  GtkWidget *show_all_button;
  char      *call_id;
  char      *name;
  char      *result;
  GlimmerToolCardState state;
};

enum { SIGNAL_DECIDED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (GlimmerToolCard, glimmer_tool_card, GTK_TYPE_WIDGET)

char *
glimmer_tool_card_pretty_json (const char *json)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonGenerator) gen = NULL;

  if (json == NULL)
    return g_strdup ("{}");
  if (!json_parser_load_from_data (parser, json, -1, NULL) || json_parser_get_root (parser) == NULL)
    return g_strdup (json);
  gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_indent (gen, 2);
  json_generator_set_root (gen, json_parser_get_root (parser));
  return json_generator_to_data (gen, NULL);
}

static void
tool_card_set_state (GlimmerToolCard *self, GlimmerToolCardState state)
{
  static const char *const labels[] = {
    [GLIMMER_TOOL_CARD_RUNNING] = N_("Running…"),
    [GLIMMER_TOOL_CARD_PENDING] = N_("Waiting for approval"),
    [GLIMMER_TOOL_CARD_DONE] = N_("Done"),
    [GLIMMER_TOOL_CARD_DENIED] = N_("Denied"),
  };
  self->state = state;
  gtk_label_set_text (GTK_LABEL (self->status), _(labels[state]));
  gtk_widget_set_visible (self->buttons, state == GLIMMER_TOOL_CARD_PENDING);
  gtk_text_view_set_editable (GTK_TEXT_VIEW (self->args_view), state == GLIMMER_TOOL_CARD_PENDING);
  gtk_text_view_set_cursor_visible (GTK_TEXT_VIEW (self->args_view),
                                    state == GLIMMER_TOOL_CARD_PENDING);
}

void
glimmer_tool_card_decide (GlimmerToolCard *self, int decision)
{
  g_autofree char *args = NULL;

  g_return_if_fail (GLIMMER_IS_TOOL_CARD (self));
  g_return_if_fail (decision >= 0 && decision <= 2);
  if (self->state != GLIMMER_TOOL_CARD_PENDING)
    return;
  args = glimmer_tool_card_dup_arguments (self);
  tool_card_set_state (self, decision == 2 ? GLIMMER_TOOL_CARD_DENIED : GLIMMER_TOOL_CARD_RUNNING);
  g_signal_emit (self, signals[SIGNAL_DECIDED], 0, decision, args);
}

static void on_once (GlimmerToolCard *self) { glimmer_tool_card_decide (self, 0); }
static void on_always (GlimmerToolCard *self) { glimmer_tool_card_decide (self, 1); }
static void on_deny (GlimmerToolCard *self) { glimmer_tool_card_decide (self, 2); }

static void
on_show_all (GlimmerToolCard *self)
{
  gtk_label_set_text (GTK_LABEL (self->result_label), self->result);
  gtk_widget_set_visible (self->show_all_button, FALSE);
}

static void
glimmer_tool_card_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), GLIMMER_TYPE_TOOL_CARD);
  G_OBJECT_CLASS (glimmer_tool_card_parent_class)->dispose (object);
}

static void
glimmer_tool_card_finalize (GObject *object)
{
  GlimmerToolCard *self = GLIMMER_TOOL_CARD (object);
  g_free (self->call_id);
  g_free (self->name);
  g_free (self->result);
  G_OBJECT_CLASS (glimmer_tool_card_parent_class)->finalize (object);
}

static void
glimmer_tool_card_class_init (GlimmerToolCardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = glimmer_tool_card_dispose;
  object_class->finalize = glimmer_tool_card_finalize;

  signals[SIGNAL_DECIDED] = g_signal_new ("decided", G_TYPE_FROM_CLASS (klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                                          G_TYPE_INT, G_TYPE_STRING);

  g_type_ensure (GTK_SOURCE_TYPE_VIEW);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/glimmer/Glimmer/glimmer-tool-card.ui");
  gtk_widget_class_bind_template_child (widget_class, GlimmerToolCard, box);
  gtk_widget_class_bind_template_child (widget_class, GlimmerToolCard, title);
  gtk_widget_class_bind_template_child (widget_class, GlimmerToolCard, status);
  gtk_widget_class_bind_template_child (widget_class, GlimmerToolCard, args_view);
  gtk_widget_class_bind_template_child (widget_class, GlimmerToolCard, buttons);
  gtk_widget_class_bind_template_child (widget_class, GlimmerToolCard, deny_button);
  gtk_widget_class_bind_template_child (widget_class, GlimmerToolCard, always_button);
  gtk_widget_class_bind_template_child (widget_class, GlimmerToolCard, once_button);
  gtk_widget_class_bind_template_child (widget_class, GlimmerToolCard, result_expander);
  gtk_widget_class_bind_template_child (widget_class, GlimmerToolCard, result_label);
  gtk_widget_class_bind_template_child (widget_class, GlimmerToolCard, show_all_button);
  gtk_widget_class_bind_template_callback (widget_class, on_once);
  gtk_widget_class_bind_template_callback (widget_class, on_always);
  gtk_widget_class_bind_template_callback (widget_class, on_deny);
  gtk_widget_class_bind_template_callback (widget_class, on_show_all);
}

static void
glimmer_tool_card_init (GlimmerToolCard *self)
{
  GtkSourceLanguage *json;
  GtkSourceBuffer *buffer;

  gtk_widget_init_template (GTK_WIDGET (self));
  buffer = GTK_SOURCE_BUFFER (gtk_text_view_get_buffer (GTK_TEXT_VIEW (self->args_view)));
  json = gtk_source_language_manager_get_language (gtk_source_language_manager_get_default (),
                                                   "json");
  if (json != NULL)
    gtk_source_buffer_set_language (buffer, json);
  tool_card_set_state (self, GLIMMER_TOOL_CARD_RUNNING);
}

GtkWidget *
glimmer_tool_card_new (const char *call_id, const char *name, const char *arguments)
{
  GlimmerToolCard *self = g_object_new (GLIMMER_TYPE_TOOL_CARD, NULL);
  g_autofree char *pretty = glimmer_tool_card_pretty_json (arguments);
  g_autofree char *title = NULL;

  self->call_id = g_strdup (call_id);
  self->name = g_strdup (name != NULL ? name : "");
  /* Translators: %s is a tool's name, like "calculator" */
  title = g_strdup_printf (_("Tool call: %s"), self->name);
  gtk_label_set_text (GTK_LABEL (self->title), title);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (GTK_TEXT_VIEW (self->args_view)), pretty, -1);
  return GTK_WIDGET (self);
}

const char *
glimmer_tool_card_get_call_id (GlimmerToolCard *self)
{
  g_return_val_if_fail (GLIMMER_IS_TOOL_CARD (self), NULL);
  return self->call_id;
}

const char *
glimmer_tool_card_get_name (GlimmerToolCard *self)
{
  g_return_val_if_fail (GLIMMER_IS_TOOL_CARD (self), NULL);
  return self->name;
}

char *
glimmer_tool_card_dup_arguments (GlimmerToolCard *self)
{
  GtkTextBuffer *buf;
  GtkTextIter start, end;

  g_return_val_if_fail (GLIMMER_IS_TOOL_CARD (self), NULL);
  buf = gtk_text_view_get_buffer (GTK_TEXT_VIEW (self->args_view));
  gtk_text_buffer_get_bounds (buf, &start, &end);
  return gtk_text_buffer_get_text (buf, &start, &end, FALSE);
}

void
glimmer_tool_card_set_pending (GlimmerToolCard *self)
{
  g_return_if_fail (GLIMMER_IS_TOOL_CARD (self));
  tool_card_set_state (self, GLIMMER_TOOL_CARD_PENDING);
}

void
glimmer_tool_card_set_result (GlimmerToolCard *self, const char *result, gboolean ok)
{
  glong n;

  g_return_if_fail (GLIMMER_IS_TOOL_CARD (self));
  g_free (self->result);
  self->result = g_strdup (result != NULL ? result : "");
  n = g_utf8_strlen (self->result, -1);
  if (n > GLIMMER_TOOL_CARD_RESULT_PREVIEW) {
    const char *cut = g_utf8_offset_to_pointer (self->result, GLIMMER_TOOL_CARD_RESULT_PREVIEW);
    g_autofree char *head = g_strndup (self->result, (gsize) (cut - self->result));
    g_autofree char *shown = g_strconcat (head, "…", NULL);
    gtk_label_set_text (GTK_LABEL (self->result_label), shown);
    gtk_widget_set_visible (self->show_all_button, TRUE);
  } else {
    gtk_label_set_text (GTK_LABEL (self->result_label), self->result);
    gtk_widget_set_visible (self->show_all_button, FALSE);
  }
  gtk_expander_set_label (GTK_EXPANDER (self->result_expander), ok ? _("Result") : _("Error"));
  gtk_widget_set_visible (self->result_expander, TRUE);
  if (self->state != GLIMMER_TOOL_CARD_DENIED)
    tool_card_set_state (self, GLIMMER_TOOL_CARD_DONE);
}

GlimmerToolCardState
glimmer_tool_card_get_state (GlimmerToolCard *self)
{
  g_return_val_if_fail (GLIMMER_IS_TOOL_CARD (self), GLIMMER_TOOL_CARD_RUNNING);
  return self->state;
}

const char *
glimmer_tool_card_get_shown_result (GlimmerToolCard *self)
{
  g_return_val_if_fail (GLIMMER_IS_TOOL_CARD (self), NULL);
  return gtk_label_get_text (GTK_LABEL (self->result_label));
}
