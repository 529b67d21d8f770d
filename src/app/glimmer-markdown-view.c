/* glimmer-markdown-view.c: Markdown blocks (glimmer-markdown.c) as widgets, with streaming.
 * SPDX-License-Identifier: MIT
 *
 * One widget per top-level block: GtkLabel with Pango markup for paragraphs and headings (links
 * open through GtkLabel's activate-link), GlimmerCodeBlock for code, a box with a bar for
 * quotes, marker + body rows for lists, GtkGrid of labels for tables, GtkSeparator for rules.
 * `entries` holds (block, widget) in display order; entries [0, n_frozen) belong to text before
 * `frozen_bytes` and are never touched again while streaming. */
#define G_LOG_DOMAIN "glimmer-markdown-view"

#include "glimmer-markdown-view.h"

#include "glimmer-code-block.h"
#include "glimmer-markdown.h"

#include <glib/gi18n.h>
#include <string.h>

#define UPDATE_INTERVAL_MS 33

typedef struct {
  GlimmerMdBlock *block;
  GtkWidget      *widget;
} Entry;

struct _GlimmerMarkdownView {
  GtkWidget  parent_instance;
  GString   *text;
  GArray    *entries;       /* Entry, display order */
  guint      n_frozen;      /* entries before frozen_bytes */
  gsize      frozen_bytes;  /* text before this offset is rendered for good (while streaming) */
  guint      update_id;     /* pending update timeout, 0: none */
  guint      n_created;     /* widgets created so far (tests) */
};

G_DEFINE_FINAL_TYPE (GlimmerMarkdownView, glimmer_markdown_view, GTK_TYPE_WIDGET)

/* ---- block widgets ---- */

static GtkWidget *md_widget_new (GlimmerMarkdownView *self, const GlimmerMdBlock *b);

static GtkWidget *
md_label_new (const char *markup, gboolean use_markup)
{
  GtkWidget *label = gtk_label_new (NULL);
  if (use_markup)
    gtk_label_set_markup (GTK_LABEL (label), markup != NULL ? markup : "");
  else
    gtk_label_set_text (GTK_LABEL (label), markup != NULL ? markup : "");
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (label), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_selectable (GTK_LABEL (label), TRUE);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_widget_set_focusable (label, FALSE);
  return label;
}

static const char *
md_heading_class (int level)
{
  static const char *const classes[] = { "title-1", "title-2", "title-3", "title-4", "heading",
                                         "heading" };
  return classes[CLAMP (level, 1, 6) - 1];
}

static GtkWidget *
md_children_box (GlimmerMarkdownView *self, const GlimmerMdBlock *b, int spacing)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, spacing);
  for (guint i = 0; b->children != NULL && i < b->children->len; i++)
    gtk_box_append (GTK_BOX (box), md_widget_new (self, g_ptr_array_index (b->children, i)));
  return box;
}

static GtkWidget *
md_list_new (GlimmerMarkdownView *self, const GlimmerMdBlock *b)
{
  GtkWidget *list = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  for (guint i = 0; b->children != NULL && i < b->children->len; i++) {
    const GlimmerMdBlock *item = g_ptr_array_index (b->children, i);
    GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
    g_autofree char *marker = NULL;
    GtkWidget *mark;

    if (item->task >= 0)
      marker = g_strdup (item->task ? "☑" : "☐");
    else if (b->ordered)
      marker = g_strdup_printf ("%d.", b->start + (int) i);
    else
      marker = g_strdup ("•");
    mark = gtk_label_new (marker);
    gtk_label_set_yalign (GTK_LABEL (mark), 0);
    gtk_widget_set_valign (mark, GTK_ALIGN_START);
    if (item->task >= 0)
      gtk_accessible_update_property (GTK_ACCESSIBLE (mark), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      item->task ? _("Done") : _("Not done"), -1);
    gtk_box_append (GTK_BOX (row), mark);
    gtk_box_append (GTK_BOX (row), md_children_box (self, item, 4));
    gtk_widget_set_margin_start (row, 6);
    gtk_box_append (GTK_BOX (list), row);
  }
  return list;
}

static GtkWidget *
md_table_new (const GlimmerMdBlock *b)
{
  GtkWidget *grid = gtk_grid_new ();
  GtkWidget *scroller = gtk_scrolled_window_new ();

  gtk_widget_add_css_class (grid, "md-table");
  gtk_grid_set_column_spacing (GTK_GRID (grid), 0);
  gtk_widget_set_halign (grid, GTK_ALIGN_START);
  for (guint r = 0; b->children != NULL && r < b->children->len; r++) {
    const GlimmerMdBlock *row = g_ptr_array_index (b->children, r);
    for (guint c = 0; row->children != NULL && c < row->children->len; c++) {
      const GlimmerMdBlock *cell = g_ptr_array_index (row->children, c);
      GtkWidget *label = md_label_new (cell->markup, TRUE);
      char align = c < (guint) b->n_columns ? b->align[c] : 'n';
      gtk_label_set_xalign (GTK_LABEL (label), align == 'r' ? 1.0f : align == 'c' ? 0.5f : 0.0f);
      gtk_label_set_max_width_chars (GTK_LABEL (label), 40);
      if (row->header)
        gtk_widget_add_css_class (label, "md-header");
      gtk_grid_attach (GTK_GRID (grid), label, (int) c, (int) r, 1, 1);
    }
  }
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scroller), GTK_POLICY_AUTOMATIC,
                                  GTK_POLICY_NEVER);
  gtk_scrolled_window_set_propagate_natural_height (GTK_SCROLLED_WINDOW (scroller), TRUE);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), grid);
  return scroller;
}

static GtkWidget *
md_widget_new (GlimmerMarkdownView *self, const GlimmerMdBlock *b)
{
  GtkWidget *w = NULL;

  self->n_created++;
  switch (b->type) {
  case GLIMMER_MD_PARAGRAPH:
  case GLIMMER_MD_CELL:
    return md_label_new (b->markup, TRUE);
  case GLIMMER_MD_HEADING:
    w = md_label_new (b->markup, TRUE);
    gtk_widget_add_css_class (w, md_heading_class (b->level));
    return w;
  case GLIMMER_MD_CODE:
    w = glimmer_code_block_new (b->info);
    glimmer_code_block_set_text (GLIMMER_CODE_BLOCK (w), b->text);
    return w;
  case GLIMMER_MD_HTML:
    w = md_label_new (b->text, FALSE);
    gtk_widget_add_css_class (w, "monospace");
    return w;
  case GLIMMER_MD_RULE:
    w = gtk_separator_new (GTK_ORIENTATION_HORIZONTAL);
    gtk_widget_set_margin_top (w, 6);
    gtk_widget_set_margin_bottom (w, 6);
    return w;
  case GLIMMER_MD_QUOTE:
  case GLIMMER_MD_ITEM:
  case GLIMMER_MD_ROW:
    w = md_children_box (self, b, 6);
    if (b->type == GLIMMER_MD_QUOTE)
      gtk_widget_add_css_class (w, "md-quote");
    return w;
  case GLIMMER_MD_LIST:
    return md_list_new (self, b);
  case GLIMMER_MD_TABLE:
    return md_table_new (b);
  }
  g_assert_not_reached ();
}

/* Update `w` (made for `old`) in place to show `b`; FALSE when it needs a new widget. */
static gboolean
md_widget_update (GtkWidget *w, const GlimmerMdBlock *old, const GlimmerMdBlock *b)
{
  if (old->type != b->type)
    return FALSE;
  switch (b->type) {
  case GLIMMER_MD_PARAGRAPH:
    gtk_label_set_markup (GTK_LABEL (w), b->markup);
    return TRUE;
  case GLIMMER_MD_HEADING:
    if (old->level != b->level)
      return FALSE;
    gtk_label_set_markup (GTK_LABEL (w), b->markup);
    return TRUE;
  case GLIMMER_MD_CODE:
    if (g_strcmp0 (old->info, b->info) != 0)
      return FALSE;
    glimmer_code_block_set_text (GLIMMER_CODE_BLOCK (w), b->text);
    return TRUE;
  default:
    return FALSE;
  }
}

/* ---- reconciliation ---- */

static void
entry_clear (Entry *e)
{
  glimmer_md_block_free (e->block);
  if (e->widget != NULL)
    gtk_widget_unparent (e->widget);
}

/* Make entries [start, ...) show `blocks` (consumed), dropping entries beyond them. */
static void
md_view_reconcile (GlimmerMarkdownView *self, guint start, GPtrArray *blocks)
{
  for (guint i = 0; i < blocks->len; i++) {
    GlimmerMdBlock *b = g_ptr_array_index (blocks, i);
    guint j = start + i;
    g_ptr_array_index (blocks, i) = NULL;

    if (j < self->entries->len) {
      Entry *e = &g_array_index (self->entries, Entry, j);
      if (glimmer_md_block_equal (e->block, b)) {
        glimmer_md_block_free (b);
        continue;
      }
      if (!md_widget_update (e->widget, e->block, b)) {
        GtkWidget *w = md_widget_new (self, b);
        gtk_widget_insert_before (w, GTK_WIDGET (self), e->widget);
        gtk_widget_unparent (e->widget);
        e->widget = w;
      }
      glimmer_md_block_free (e->block);
      e->block = b;
    } else {
      Entry e = { b, md_widget_new (self, b) };
      gtk_widget_insert_before (e.widget, GTK_WIDGET (self), NULL);
      g_array_append_val (self->entries, e);
    }
  }
  if (self->entries->len > start + blocks->len)
    g_array_remove_range (self->entries, start + blocks->len,
                          self->entries->len - (start + blocks->len));
}

static void
md_view_update (GlimmerMarkdownView *self)
{
  const char *tail = self->text->str + self->frozen_bytes;
  gsize tail_len = self->text->len - self->frozen_bytes;
  gsize cut = glimmer_markdown_safe_boundary (tail, tail_len);
  g_autoptr(GPtrArray) blocks = NULL;

  if (cut > 0) {
    /* the text before the cut is final: render it once and freeze it */
    g_autoptr(GPtrArray) head = glimmer_markdown_parse (tail, (gssize) cut);
    guint n = head->len;
    md_view_reconcile (self, self->n_frozen, head);
    self->n_frozen += n;
    self->frozen_bytes += cut;
    tail += cut;
    tail_len -= cut;
  }
  blocks = glimmer_markdown_parse (tail, (gssize) tail_len);
  md_view_reconcile (self, self->n_frozen, blocks);
}

static gboolean
on_update_timeout (gpointer data)
{
  GlimmerMarkdownView *self = data;
  self->update_id = 0;
  md_view_update (self);
  return G_SOURCE_REMOVE;
}

/* ---- GObject ---- */

static void
glimmer_markdown_view_dispose (GObject *object)
{
  GlimmerMarkdownView *self = GLIMMER_MARKDOWN_VIEW (object);
  g_clear_handle_id (&self->update_id, g_source_remove);
  if (self->entries != NULL)
    g_array_set_size (self->entries, 0);
  G_OBJECT_CLASS (glimmer_markdown_view_parent_class)->dispose (object);
}

static void
glimmer_markdown_view_finalize (GObject *object)
{
  GlimmerMarkdownView *self = GLIMMER_MARKDOWN_VIEW (object);
  g_array_unref (self->entries);
  g_string_free (self->text, TRUE);
  G_OBJECT_CLASS (glimmer_markdown_view_parent_class)->finalize (object);
}

static void
glimmer_markdown_view_class_init (GlimmerMarkdownViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = glimmer_markdown_view_dispose;
  object_class->finalize = glimmer_markdown_view_finalize;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "markdownview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
glimmer_markdown_view_init (GlimmerMarkdownView *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));
  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 10);
  self->text = g_string_new (NULL);
  self->entries = g_array_new (FALSE, TRUE, sizeof (Entry));
  g_array_set_clear_func (self->entries, (GDestroyNotify) entry_clear);
}

GtkWidget *
glimmer_markdown_view_new (void)
{
  return g_object_new (GLIMMER_TYPE_MARKDOWN_VIEW, NULL);
}

void
glimmer_markdown_view_set_text (GlimmerMarkdownView *self, const char *text)
{
  g_return_if_fail (GLIMMER_IS_MARKDOWN_VIEW (self));
  g_string_assign (self->text, text != NULL ? text : "");
  glimmer_markdown_view_finish (self);
}

void
glimmer_markdown_view_append (GlimmerMarkdownView *self, const char *delta, gssize len)
{
  g_return_if_fail (GLIMMER_IS_MARKDOWN_VIEW (self));
  if (delta == NULL || len == 0)
    return;
  g_string_append_len (self->text, delta, len < 0 ? (gssize) strlen (delta) : len);
  if (self->update_id == 0)
    self->update_id = g_timeout_add (UPDATE_INTERVAL_MS, on_update_timeout, self);
}

void
glimmer_markdown_view_flush (GlimmerMarkdownView *self)
{
  g_return_if_fail (GLIMMER_IS_MARKDOWN_VIEW (self));
  g_clear_handle_id (&self->update_id, g_source_remove);
  md_view_update (self);
}

void
glimmer_markdown_view_finish (GlimmerMarkdownView *self)
{
  g_autoptr(GPtrArray) blocks = NULL;

  g_return_if_fail (GLIMMER_IS_MARKDOWN_VIEW (self));
  g_clear_handle_id (&self->update_id, g_source_remove);
  blocks = glimmer_markdown_parse (self->text->str, (gssize) self->text->len);
  md_view_reconcile (self, 0, blocks);
  /* everything is one document now; a later append re-parses from the start (rare: edits) */
  self->n_frozen = 0;
  self->frozen_bytes = 0;
}

const char *
glimmer_markdown_view_get_text (GlimmerMarkdownView *self)
{
  g_return_val_if_fail (GLIMMER_IS_MARKDOWN_VIEW (self), NULL);
  return self->text->str;
}

guint
glimmer_markdown_view_get_n_blocks (GlimmerMarkdownView *self)
{
  g_return_val_if_fail (GLIMMER_IS_MARKDOWN_VIEW (self), 0);
  return self->entries->len;
}

GtkWidget *
glimmer_markdown_view_get_block_widget (GlimmerMarkdownView *self, guint i)
{
  g_return_val_if_fail (GLIMMER_IS_MARKDOWN_VIEW (self), NULL);
  g_return_val_if_fail (i < self->entries->len, NULL);
  return g_array_index (self->entries, Entry, i).widget;
}

guint
glimmer_markdown_view_get_n_created (GlimmerMarkdownView *self)
{
  g_return_val_if_fail (GLIMMER_IS_MARKDOWN_VIEW (self), 0);
  return self->n_created;
}
