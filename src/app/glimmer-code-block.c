/* glimmer-code-block.c: a code block card with GtkSourceView highlighting and a copy button.
 * SPDX-License-Identifier: MIT
 *
 * The language comes from the fence word through a short alias table, then GtkSourceView's own
 * guess from a file name with that extension. The colour scheme follows AdwStyleManager:dark. */
#define G_LOG_DOMAIN "glimmer-code-block"

#include "glimmer-code-block.h"

#include <adwaita.h>
#include <glib/gi18n.h>
#include <gtksourceview/gtksource.h>
#include <string.h>

struct _GlimmerCodeBlock {
  GtkWidget        parent_instance;
  GtkWidget       *box;        /* header + view, the only child */
  GtkWidget       *lang_label;
  GtkWidget       *view;       /* GtkSourceView, read-only */
  GtkSourceBuffer *buffer;
  char            *language;   /* fence word or NULL */
  char            *language_id;
  GString         *text;       /* what the buffer shows */
};

G_DEFINE_FINAL_TYPE (GlimmerCodeBlock, glimmer_code_block, GTK_TYPE_WIDGET)

static const struct {
  const char *alias, *id;
} language_aliases[] = {
  { "py", "python3" },     { "python", "python3" }, { "python3", "python3" },
  { "js", "js" },          { "javascript", "js" },  { "ts", "typescript" },
  { "sh", "sh" },          { "bash", "sh" },        { "shell", "sh" },
  { "zsh", "sh" },         { "console", "sh" },     { "c++", "cpp" },
  { "cpp", "cpp" },        { "cxx", "cpp" },        { "h", "c" },
  { "rs", "rust" },        { "yml", "yaml" },       { "md", "markdown" },
  { "html", "html" },      { "xml", "xml" },        { "json", "json" },
  { "golang", "go" },      { "cs", "c-sharp" },     { "csharp", "c-sharp" },
  { "rb", "ruby" },        { "kt", "kotlin" },      { "dockerfile", "dockerfile" },
};

static GtkSourceLanguage *
code_block_find_language (const char *word)
{
  GtkSourceLanguageManager *lm = gtk_source_language_manager_get_default ();
  GtkSourceLanguage *lang;
  g_autofree char *lower = NULL;
  g_autofree char *fake_name = NULL;

  if (word == NULL || word[0] == '\0')
    return NULL;
  lower = g_ascii_strdown (word, -1);
  for (gsize i = 0; i < G_N_ELEMENTS (language_aliases); i++)
    if (strcmp (lower, language_aliases[i].alias) == 0) {
      lang = gtk_source_language_manager_get_language (lm, language_aliases[i].id);
      if (lang != NULL)
        return lang;
    }
  lang = gtk_source_language_manager_get_language (lm, lower);
  if (lang != NULL)
    return lang;
  fake_name = g_strdup_printf ("file.%s", lower);
  return gtk_source_language_manager_guess_language (lm, fake_name, NULL);
}

static void
code_block_update_scheme (GlimmerCodeBlock *self)
{
  AdwStyleManager *sm = adw_style_manager_get_default ();
  GtkSourceStyleSchemeManager *ssm = gtk_source_style_scheme_manager_get_default ();
  GtkSourceStyleScheme *scheme = gtk_source_style_scheme_manager_get_scheme (
      ssm, adw_style_manager_get_dark (sm) ? "Adwaita-dark" : "Adwaita");
  if (scheme != NULL)
    gtk_source_buffer_set_style_scheme (self->buffer, scheme);
}

static void
on_dark_changed (AdwStyleManager *sm, GParamSpec *pspec, GlimmerCodeBlock *self)
{
  code_block_update_scheme (self);
}

static void
on_copy_clicked (GtkButton *button, GlimmerCodeBlock *self)
{
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)), self->text->str);
  gtk_widget_set_tooltip_text (GTK_WIDGET (button), _("Copied"));
}

static void
glimmer_code_block_dispose (GObject *object)
{
  GlimmerCodeBlock *self = GLIMMER_CODE_BLOCK (object);
  g_signal_handlers_disconnect_by_data (adw_style_manager_get_default (), self);
  g_clear_pointer (&self->box, gtk_widget_unparent);
  G_OBJECT_CLASS (glimmer_code_block_parent_class)->dispose (object);
}

static void
glimmer_code_block_finalize (GObject *object)
{
  GlimmerCodeBlock *self = GLIMMER_CODE_BLOCK (object);
  g_free (self->language);
  g_free (self->language_id);
  g_string_free (self->text, TRUE);
  g_clear_object (&self->buffer);
  G_OBJECT_CLASS (glimmer_code_block_parent_class)->finalize (object);
}

static void
glimmer_code_block_class_init (GlimmerCodeBlockClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = glimmer_code_block_dispose;
  object_class->finalize = glimmer_code_block_finalize;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "codeblock");
}

static void
glimmer_code_block_init (GlimmerCodeBlock *self)
{
  GtkWidget *header, *copy, *scroller;

  self->text = g_string_new (NULL);
  self->box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_widget_add_css_class (self->box, "card");
  gtk_widget_add_css_class (self->box, "code-block");
  gtk_widget_set_parent (self->box, GTK_WIDGET (self));

  header = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  gtk_widget_set_margin_start (header, 10);
  gtk_widget_set_margin_end (header, 4);
  gtk_widget_set_margin_top (header, 2);
  self->lang_label = gtk_label_new (NULL);
  gtk_widget_add_css_class (self->lang_label, "dim-label");
  gtk_widget_add_css_class (self->lang_label, "caption");
  gtk_widget_set_hexpand (self->lang_label, TRUE);
  gtk_label_set_xalign (GTK_LABEL (self->lang_label), 0);
  gtk_box_append (GTK_BOX (header), self->lang_label);
  copy = gtk_button_new_from_icon_name ("edit-copy-symbolic");
  gtk_widget_add_css_class (copy, "flat");
  gtk_widget_set_tooltip_text (copy, _("Copy code"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (copy), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Copy code"), -1);
  g_signal_connect (copy, "clicked", G_CALLBACK (on_copy_clicked), self);
  gtk_box_append (GTK_BOX (header), copy);
  gtk_box_append (GTK_BOX (self->box), header);

  self->buffer = gtk_source_buffer_new (NULL);
  gtk_source_buffer_set_highlight_syntax (self->buffer, TRUE);
  self->view = gtk_source_view_new_with_buffer (self->buffer);
  gtk_text_view_set_editable (GTK_TEXT_VIEW (self->view), FALSE);
  gtk_text_view_set_cursor_visible (GTK_TEXT_VIEW (self->view), FALSE);
  gtk_text_view_set_monospace (GTK_TEXT_VIEW (self->view), TRUE);
  gtk_text_view_set_wrap_mode (GTK_TEXT_VIEW (self->view), GTK_WRAP_NONE);
  /* wide code scrolls sideways inside the card; the card grows with its lines */
  scroller = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scroller), GTK_POLICY_AUTOMATIC,
                                  GTK_POLICY_NEVER);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), self->view);
  gtk_box_append (GTK_BOX (self->box), scroller);

  code_block_update_scheme (self);
  g_signal_connect_object (adw_style_manager_get_default (), "notify::dark",
                           G_CALLBACK (on_dark_changed), self, 0);
}

GtkWidget *
glimmer_code_block_new (const char *language)
{
  GlimmerCodeBlock *self = g_object_new (GLIMMER_TYPE_CODE_BLOCK, NULL);
  GtkSourceLanguage *lang = code_block_find_language (language);

  self->language = g_strdup (language);
  if (lang != NULL) {
    self->language_id = g_strdup (gtk_source_language_get_id (lang));
    gtk_source_buffer_set_language (self->buffer, lang);
  }
  gtk_label_set_text (GTK_LABEL (self->lang_label),
                      lang != NULL ? gtk_source_language_get_name (lang)
                                   : (language != NULL ? language : _("Code")));
  return GTK_WIDGET (self);
}

void
glimmer_code_block_set_text (GlimmerCodeBlock *self, const char *text)
{
  GtkTextIter end;
  gsize n;

  g_return_if_fail (GLIMMER_IS_CODE_BLOCK (self));
  if (text == NULL)
    text = "";
  n = strlen (text);
  if (n >= self->text->len && memcmp (text, self->text->str, self->text->len) == 0) {
    if (n == self->text->len)
      return;
    gtk_text_buffer_get_end_iter (GTK_TEXT_BUFFER (self->buffer), &end);
    gtk_text_buffer_insert (GTK_TEXT_BUFFER (self->buffer), &end, text + self->text->len,
                            (int) (n - self->text->len));
  } else {
    gtk_text_buffer_set_text (GTK_TEXT_BUFFER (self->buffer), text, (int) n);
  }
  g_string_assign (self->text, text);
}

const char *
glimmer_code_block_get_text (GlimmerCodeBlock *self)
{
  g_return_val_if_fail (GLIMMER_IS_CODE_BLOCK (self), NULL);
  return self->text->str;
}

const char *
glimmer_code_block_get_language (GlimmerCodeBlock *self)
{
  g_return_val_if_fail (GLIMMER_IS_CODE_BLOCK (self), NULL);
  return self->language;
}

const char *
glimmer_code_block_get_language_id (GlimmerCodeBlock *self)
{
  g_return_val_if_fail (GLIMMER_IS_CODE_BLOCK (self), NULL);
  return self->language_id;
}

void
glimmer_code_block_preload (void)
{
  GtkSourceLanguageManager *lm = gtk_source_language_manager_get_default ();
  GtkSourceStyleSchemeManager *ssm = gtk_source_style_scheme_manager_get_default ();
  g_autoptr(GtkSourceBuffer) buffer = gtk_source_buffer_new (NULL);

  /* listing the ids parses every .lang file's header; the common ones are loaded fully */
  gtk_source_language_manager_get_language_ids (lm);
  for (gsize i = 0; i < G_N_ELEMENTS (language_aliases); i++) {
    GtkSourceLanguage *lang = gtk_source_language_manager_get_language (lm, language_aliases[i].id);
    if (lang != NULL) {
      GtkTextIter start, end;
      gtk_source_buffer_set_language (buffer, lang);
      gtk_text_buffer_set_text (GTK_TEXT_BUFFER (buffer), "x", 1);
      gtk_text_buffer_get_bounds (GTK_TEXT_BUFFER (buffer), &start, &end);
      gtk_source_buffer_ensure_highlight (buffer, &start, &end);
    }
  }
  gtk_source_style_scheme_manager_get_scheme (ssm, "Adwaita");
  gtk_source_style_scheme_manager_get_scheme (ssm, "Adwaita-dark");
}
