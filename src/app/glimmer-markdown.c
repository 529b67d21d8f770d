/* glimmer-markdown.c: Markdown (cmark-gfm with tables, strikethrough, autolinks, task lists)
 * into display blocks with Pango markup for inline text. No widgets here.
 * SPDX-License-Identifier: MIT
 *
 * Untrusted input (model output): every literal is escaped before it becomes markup, raw HTML
 * is shown as text, and only http, https and mailto links become links. */
#define G_LOG_DOMAIN "glimmer-markdown"

#include "glimmer-markdown.h"

#include <cmark-gfm.h>
#include <cmark-gfm-core-extensions.h>
#include <string.h>

void
glimmer_md_block_free (GlimmerMdBlock *block)
{
  if (block == NULL)
    return;
  g_free (block->align);
  g_free (block->info);
  g_free (block->text);
  g_free (block->markup);
  g_free (block->source);
  if (block->children != NULL)
    g_ptr_array_unref (block->children);
  g_free (block);
}

static GlimmerMdBlock *
md_block_new (GlimmerMdType type)
{
  GlimmerMdBlock *b = g_new0 (GlimmerMdBlock, 1);
  b->type = type;
  b->task = -1;
  return b;
}

static void
md_block_add_child (GlimmerMdBlock *parent, GlimmerMdBlock *child)
{
  if (parent->children == NULL)
    parent->children = g_ptr_array_new_with_free_func ((GDestroyNotify) glimmer_md_block_free);
  g_ptr_array_add (parent->children, child);
}

/* ---- inline content -> Pango markup + plain text ---- */

static gboolean
md_link_allowed (const char *url)
{
  return url != NULL && (g_str_has_prefix (url, "http://") || g_str_has_prefix (url, "https://") ||
                         g_str_has_prefix (url, "mailto:"));
}

static const char *
md_type_string (cmark_node *node)
{
  const char *s = cmark_node_get_type_string (node);
  return s != NULL ? s : "";
}

static void
md_append_escaped (GString *markup, GString *plain, const char *text)
{
  if (text == NULL)
    return;
  g_autofree char *esc = g_markup_escape_text (text, -1);
  g_string_append (markup, esc);
  g_string_append (plain, text);
}

/* Walk the inline children of `parent`; tags are closed in the order they were opened, so the
 * result is always well-formed. */
static void
md_inlines (cmark_node *parent, GString *markup, GString *plain)
{
  for (cmark_node *n = cmark_node_first_child (parent); n != NULL; n = cmark_node_next (n)) {
    cmark_node_type type = cmark_node_get_type (n);
    const char *ts = md_type_string (n);
    switch (type) {
    case CMARK_NODE_TEXT:
    case CMARK_NODE_HTML_INLINE:
      md_append_escaped (markup, plain, cmark_node_get_literal (n));
      break;
    case CMARK_NODE_SOFTBREAK:
      g_string_append_c (markup, ' ');
      g_string_append_c (plain, ' ');
      break;
    case CMARK_NODE_LINEBREAK:
      g_string_append_c (markup, '\n');
      g_string_append_c (plain, '\n');
      break;
    case CMARK_NODE_CODE:
      g_string_append (markup, "<tt>");
      md_append_escaped (markup, plain, cmark_node_get_literal (n));
      g_string_append (markup, "</tt>");
      break;
    case CMARK_NODE_EMPH:
      g_string_append (markup, "<i>");
      md_inlines (n, markup, plain);
      g_string_append (markup, "</i>");
      break;
    case CMARK_NODE_STRONG:
      g_string_append (markup, "<b>");
      md_inlines (n, markup, plain);
      g_string_append (markup, "</b>");
      break;
    case CMARK_NODE_LINK:
    case CMARK_NODE_IMAGE:
      /* images are never fetched: their alt text is shown as a link to them */
      if (md_link_allowed (cmark_node_get_url (n))) {
        g_autofree char *url = g_markup_escape_text (cmark_node_get_url (n), -1);
        g_string_append_printf (markup, "<a href=\"%s\">", url);
        md_inlines (n, markup, plain);
        g_string_append (markup, "</a>");
      } else {
        md_inlines (n, markup, plain);
      }
      break;
    default:
      if (strcmp (ts, "strikethrough") == 0) {
        g_string_append (markup, "<s>");
        md_inlines (n, markup, plain);
        g_string_append (markup, "</s>");
      } else {
        md_inlines (n, markup, plain);
      }
      break;
    }
  }
}

static void
md_set_inline (GlimmerMdBlock *b, cmark_node *node)
{
  g_autoptr(GString) markup = g_string_new (NULL);
  g_autoptr(GString) plain = g_string_new (NULL);
  md_inlines (node, markup, plain);
  b->markup = g_string_free (g_steal_pointer (&markup), FALSE);
  b->text = g_string_free (g_steal_pointer (&plain), FALSE);
}

/* ---- blocks ---- */

static GlimmerMdBlock *md_block (cmark_node *node);

static void
md_children (GlimmerMdBlock *b, cmark_node *node)
{
  for (cmark_node *c = cmark_node_first_child (node); c != NULL; c = cmark_node_next (c)) {
    GlimmerMdBlock *child = md_block (c);
    if (child != NULL)
      md_block_add_child (b, child);
  }
}

static GlimmerMdBlock *
md_block (cmark_node *node)
{
  GlimmerMdBlock *b = NULL;
  const char *ts = md_type_string (node);

  switch (cmark_node_get_type (node)) {
  case CMARK_NODE_PARAGRAPH:
    b = md_block_new (GLIMMER_MD_PARAGRAPH);
    md_set_inline (b, node);
    return b;
  case CMARK_NODE_HEADING:
    b = md_block_new (GLIMMER_MD_HEADING);
    b->level = CLAMP (cmark_node_get_heading_level (node), 1, 6);
    md_set_inline (b, node);
    return b;
  case CMARK_NODE_CODE_BLOCK: {
    const char *info = cmark_node_get_fence_info (node);
    const char *lit = cmark_node_get_literal (node);
    gsize n;
    b = md_block_new (GLIMMER_MD_CODE);
    if (info != NULL && info[0] != '\0') {
      n = strcspn (info, " \t{,");
      if (n > 0)
        b->info = g_strndup (info, n);
    }
    b->text = g_strdup (lit != NULL ? lit : "");
    n = strlen (b->text);
    if (n > 0 && b->text[n - 1] == '\n')
      b->text[n - 1] = '\0';  /* the view shows no empty last line */
    return b;
  }
  case CMARK_NODE_HTML_BLOCK: {
    const char *lit = cmark_node_get_literal (node);
    b = md_block_new (GLIMMER_MD_HTML);
    b->text = g_strchomp (g_strdup (lit != NULL ? lit : ""));
    return b;
  }
  case CMARK_NODE_THEMATIC_BREAK:
    return md_block_new (GLIMMER_MD_RULE);
  case CMARK_NODE_BLOCK_QUOTE:
    b = md_block_new (GLIMMER_MD_QUOTE);
    md_children (b, node);
    return b;
  case CMARK_NODE_LIST:
    b = md_block_new (GLIMMER_MD_LIST);
    b->ordered = cmark_node_get_list_type (node) == CMARK_ORDERED_LIST;
    b->start = b->ordered ? cmark_node_get_list_start (node) : 0;
    md_children (b, node);
    return b;
  case CMARK_NODE_ITEM:
    b = md_block_new (GLIMMER_MD_ITEM);
    if (strcmp (ts, "tasklist") == 0)
      b->task = cmark_gfm_extensions_get_tasklist_item_checked (node) ? 1 : 0;
    md_children (b, node);
    return b;
  default:
    break;
  }

  if (strcmp (ts, "table") == 0) {
    uint16_t n = cmark_gfm_extensions_get_table_columns (node);
    uint8_t *al = cmark_gfm_extensions_get_table_alignments (node);
    b = md_block_new (GLIMMER_MD_TABLE);
    b->n_columns = n;
    b->align = g_malloc0 ((gsize) n + 1);
    for (uint16_t i = 0; i < n; i++)
      b->align[i] = (al != NULL && (al[i] == 'l' || al[i] == 'c' || al[i] == 'r')) ? (char) al[i]
                                                                                 : 'n';
    md_children (b, node);
    return b;
  }
  if (strcmp (ts, "table_row") == 0 || strcmp (ts, "table_header") == 0) {
    b = md_block_new (GLIMMER_MD_ROW);
    b->header = strcmp (ts, "table_header") == 0 ||
                cmark_gfm_extensions_get_table_row_is_header (node) != 0;
    md_children (b, node);
    return b;
  }
  if (strcmp (ts, "table_cell") == 0) {
    b = md_block_new (GLIMMER_MD_CELL);
    md_set_inline (b, node);
    return b;
  }
  /* anything else (a future extension's block): its text, so nothing is lost */
  b = md_block_new (GLIMMER_MD_PARAGRAPH);
  md_set_inline (b, node);
  return b;
}

static cmark_parser *
md_parser_new (void)
{
  static const char *const extensions[] = { "table", "strikethrough", "autolink", "tasklist" };
  cmark_parser *parser;

  cmark_gfm_core_extensions_ensure_registered ();
  parser = cmark_parser_new (CMARK_OPT_VALIDATE_UTF8 | CMARK_OPT_SOURCEPOS);
  for (gsize i = 0; i < G_N_ELEMENTS (extensions); i++) {
    cmark_syntax_extension *ext = cmark_find_syntax_extension (extensions[i]);
    if (ext != NULL)
      cmark_parser_attach_syntax_extension (parser, ext);
  }
  return parser;
}

GPtrArray *
glimmer_markdown_parse (const char *text, gssize len)
{
  GPtrArray *blocks = g_ptr_array_new_with_free_func ((GDestroyNotify) glimmer_md_block_free);
  g_autoptr(GArray) line_starts = g_array_new (FALSE, FALSE, sizeof (gsize));
  cmark_parser *parser;
  cmark_node *doc;
  gsize n, zero = 0;

  if (text == NULL)
    return blocks;
  n = len < 0 ? strlen (text) : (gsize) len;

  g_array_append_val (line_starts, zero);
  for (gsize i = 0; i < n; i++)
    if (text[i] == '\n') {
      gsize s = i + 1;
      g_array_append_val (line_starts, s);
    }

  parser = md_parser_new ();
  cmark_parser_feed (parser, text, n);
  doc = cmark_parser_finish (parser);

  for (cmark_node *c = cmark_node_first_child (doc); c != NULL; c = cmark_node_next (c)) {
    GlimmerMdBlock *b = md_block (c);
    int first = cmark_node_get_start_line (c), last = cmark_node_get_end_line (c);
    gsize from, to;

    if (b == NULL)
      continue;
    first = CLAMP (first, 1, (int) line_starts->len);
    last = CLAMP (last, first, (int) line_starts->len);
    from = g_array_index (line_starts, gsize, first - 1);
    to = (guint) last < line_starts->len ? g_array_index (line_starts, gsize, last) : n;
    b->source = g_strndup (text + from, to - from);
    g_ptr_array_add (blocks, b);
  }

  cmark_node_free (doc);
  cmark_parser_free (parser);
  return blocks;
}

/* ---- description (tests) ---- */

static void
md_describe_one (GString *out, const GlimmerMdBlock *b)
{
  static const char *const names[] = {
    [GLIMMER_MD_PARAGRAPH] = "paragraph", [GLIMMER_MD_HEADING] = "heading",
    [GLIMMER_MD_CODE] = "code",           [GLIMMER_MD_QUOTE] = "quote",
    [GLIMMER_MD_LIST] = "list",           [GLIMMER_MD_ITEM] = "item",
    [GLIMMER_MD_TABLE] = "table",         [GLIMMER_MD_ROW] = "row",
    [GLIMMER_MD_CELL] = "cell",           [GLIMMER_MD_RULE] = "rule",
    [GLIMMER_MD_HTML] = "html",
  };
  g_string_append (out, names[b->type]);
  switch (b->type) {
  case GLIMMER_MD_HEADING:
    g_string_append_printf (out, ":%d", b->level);
    break;
  case GLIMMER_MD_CODE:
    if (b->info != NULL)
      g_string_append_printf (out, ":%s", b->info);
    break;
  case GLIMMER_MD_LIST:
    g_string_append (out, b->ordered ? ":ordered" : ":bullet");
    if (b->ordered && b->start != 1)
      g_string_append_printf (out, ":%d", b->start);
    break;
  case GLIMMER_MD_ITEM:
    if (b->task >= 0)
      g_string_append_printf (out, ":task:%d", b->task);
    break;
  case GLIMMER_MD_TABLE:
    g_string_append_printf (out, ":%s", b->align);
    break;
  case GLIMMER_MD_ROW:
    if (b->header)
      g_string_append (out, ":header");
    break;
  default:
    break;
  }
  if (b->children != NULL && b->children->len > 0) {
    g_string_append_c (out, '[');
    for (guint i = 0; i < b->children->len; i++) {
      if (i > 0)
        g_string_append_c (out, ' ');
      md_describe_one (out, g_ptr_array_index (b->children, i));
    }
    g_string_append_c (out, ']');
  }
}

char *
glimmer_markdown_describe (GPtrArray *blocks)
{
  GString *out = g_string_new (NULL);
  for (guint i = 0; blocks != NULL && i < blocks->len; i++) {
    if (i > 0)
      g_string_append_c (out, ' ');
    md_describe_one (out, g_ptr_array_index (blocks, i));
  }
  return g_string_free (out, FALSE);
}

/* ---- streaming ---- */

/* A fence line: up to any indentation, then 3+ backticks or tildes. */
static gboolean
md_fence_line (const char *line, gsize len, char *ch, gsize *count)
{
  gsize i = 0, n = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  if (i >= len || (line[i] != '`' && line[i] != '~'))
    return FALSE;
  *ch = line[i];
  while (i + n < len && line[i + n] == *ch)
    n++;
  *count = n;
  return n >= 3;
}

static gboolean
md_blank_line (const char *line, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
      return FALSE;
  return TRUE;
}

gsize
glimmer_markdown_safe_boundary (const char *text, gsize len)
{
  gsize boundary = 0, pos = 0, fence_count = 0;
  char fence_ch = 0;
  gboolean prev_blank = FALSE;

  g_return_val_if_fail (text != NULL || len == 0, 0);

  /* Only complete lines count: the last line may still grow. */
  while (pos < len) {
    const char *nl = memchr (text + pos, '\n', len - pos);
    gsize line_len, c;
    char ch;

    if (nl == NULL)
      break;
    line_len = (gsize) (nl - (text + pos));

    if (fence_ch == 0 && prev_blank && line_len > 0 && text[pos] != ' ' && text[pos] != '\t' &&
        !md_blank_line (text + pos, line_len))
      boundary = pos;  /* a new top-level block starts here, after a blank line */

    if (md_fence_line (text + pos, line_len, &ch, &c)) {
      if (fence_ch == 0) {
        fence_ch = ch;
        fence_count = c;
      } else if (ch == fence_ch && c >= fence_count &&
                 md_blank_line (text + pos + strspn (text + pos, " \t`~"),
                                line_len - strspn (text + pos, " \t`~"))) {
        fence_ch = 0;
      }
    }
    prev_blank = fence_ch == 0 && md_blank_line (text + pos, line_len);
    pos += line_len + 1;
  }
  return boundary;
}

gboolean
glimmer_md_block_equal (const GlimmerMdBlock *a, const GlimmerMdBlock *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return a->type == b->type && g_strcmp0 (a->source, b->source) == 0;
}
