/* test-markdown.c: Markdown -> display blocks (src/app/glimmer-markdown.c) against fixtures made
 * by markdown-it-py (tools/reference/make_markdown_fixtures.py), plus markup safety and the
 * streaming cut points.
 * SPDX-License-Identifier: MIT */
#include "glimmer-markdown.h"

#include <json-glib/json-glib.h>
#include <pango/pango.h>
#include <string.h>

/* Valid Pango markup, with GtkLabel's <a href> links counted as spans. */
static gboolean
pango_parse_markup_ok (const char *markup)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GRegex) open = g_regex_new ("<a href=\"[^\"<>]*\">", 0, 0, NULL);
  g_autofree char *a = g_regex_replace_literal (open, markup, -1, 0, "<span>", 0, NULL);
  g_auto(GStrv) parts = g_strsplit (a, "</a>", -1);
  g_autofree char *plain = g_strjoinv ("</span>", parts);
  gboolean ok = pango_parse_markup (plain, -1, 0, NULL, NULL, NULL, &error);
  if (!ok)
    g_test_message ("markup %s: %s", markup, error->message);
  return ok;
}

/* Every case of tests/data/markdown/cases.json parses into the reference's block structure. */
static void
test_fixtures (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "markdown", "cases.json",
                                                 NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonArray *cases;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  cases = json_node_get_array (json_parser_get_root (parser));
  g_assert_cmpuint (json_array_get_length (cases), >=, 20);
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    const char *md = json_object_get_string_member (c, "markdown");
    g_autoptr(GPtrArray) blocks = glimmer_markdown_parse (md, -1);
    g_autofree char *got = glimmer_markdown_describe (blocks);
    g_test_message ("%s: %s", json_object_get_string_member (c, "name"), got);
    g_assert_cmpstr (got, ==, json_object_get_string_member (c, "blocks"));
  }
}

/* Inline styles become Pango markup; literals (raw HTML too) are escaped, entities decoded as
 * CommonMark says; unsafe links stay text. */
static void
test_inline_markup (void)
{
  g_autoptr(GPtrArray) b = glimmer_markdown_parse (
      "a *b* **c** `d<e>` ~~f~~ [g](https://x.org/?a=1&b=2) [h](javascript:alert(1)) <i>&amp;\n", -1);
  GlimmerMdBlock *p;

  g_assert_cmpuint (b->len, ==, 1);
  p = g_ptr_array_index (b, 0);
  g_assert_cmpint (p->type, ==, GLIMMER_MD_PARAGRAPH);
  g_assert_cmpstr (p->markup, ==,
                   "a <i>b</i> <b>c</b> <tt>d&lt;e&gt;</tt> <s>f</s> "
                   "<a href=\"https://x.org/?a=1&amp;b=2\">g</a> h &lt;i&gt;&amp;");
  g_assert_cmpstr (p->text, ==, "a b c d<e> f g h <i>&");
  g_assert_true (pango_parse_markup_ok (p->markup));
}

/* Code blocks keep their language and exact text; the block's source is its Markdown lines. */
static void
test_code_and_source (void)
{
  const char *md = "Intro line\n\n```python title\nx = 1\n\ny = 2\n```\nafter\n";
  g_autoptr(GPtrArray) b = glimmer_markdown_parse (md, -1);
  GlimmerMdBlock *code;

  g_assert_cmpuint (b->len, ==, 3);
  code = g_ptr_array_index (b, 1);
  g_assert_cmpint (code->type, ==, GLIMMER_MD_CODE);
  g_assert_cmpstr (code->info, ==, "python");
  g_assert_cmpstr (code->text, ==, "x = 1\n\ny = 2");
  g_assert_cmpstr (code->source, ==, "```python title\nx = 1\n\ny = 2\n```\n");
  g_assert_cmpstr (((GlimmerMdBlock *) g_ptr_array_index (b, 0))->source, ==, "Intro line\n");
}

/* Table cells carry markup; header row and alignment are kept. */
static void
test_table_cells (void)
{
  g_autoptr(GPtrArray) b = glimmer_markdown_parse ("| *a* | b |\n|:-|-:|\n| `1` | 2 |\n", -1);
  GlimmerMdBlock *t = g_ptr_array_index (b, 0), *row, *cell;

  g_assert_cmpint (t->type, ==, GLIMMER_MD_TABLE);
  g_assert_cmpint (t->n_columns, ==, 2);
  g_assert_cmpstr (t->align, ==, "lr");
  row = g_ptr_array_index (t->children, 0);
  g_assert_true (row->header);
  cell = g_ptr_array_index (row->children, 0);
  g_assert_cmpstr (cell->markup, ==, "<i>a</i>");
  row = g_ptr_array_index (t->children, 1);
  g_assert_false (row->header);
  cell = g_ptr_array_index (row->children, 0);
  g_assert_cmpstr (cell->markup, ==, "<tt>1</tt>");
}

/* Cut points: after a blank line, before a non-indented line, never inside a fence. */
static void
test_safe_boundary (void)
{
  const char *t1 = "para one\n\npara two\n";
  const char *t2 = "```\ncode\n\nmore\n";              /* open fence: no cut */
  const char *t3 = "```\ncode\n\n```\n\nnext\n";         /* closed: cut before "next" */
  const char *t4 = "- item\n\n    indented\n";          /* indented continuation: no cut */
  const char *t5 = "para\n\nnext line without newline";  /* the cut is before the line */
  const char *t6 = "one\n";

  g_assert_cmpuint (glimmer_markdown_safe_boundary (t1, strlen (t1)), ==, 10);
  g_assert_cmpuint (glimmer_markdown_safe_boundary (t2, strlen (t2)), ==, 0);
  g_assert_cmpuint (glimmer_markdown_safe_boundary (t3, strlen (t3)), ==, 15);
  g_assert_cmpuint (glimmer_markdown_safe_boundary (t4, strlen (t4)), ==, 0);
  g_assert_cmpuint (glimmer_markdown_safe_boundary (t5, strlen (t5)), ==, 0);
  g_assert_cmpuint (glimmer_markdown_safe_boundary (t6, strlen (t6)), ==, 0);
  g_assert_cmpuint (glimmer_markdown_safe_boundary ("", 0), ==, 0);
}

/* Parsing the text before a cut and the text after it separately gives the blocks of the whole
 * (for documents made of separate top-level blocks), which is what streaming relies on. */
static void
test_split_equals_whole (void)
{
  const char *md = "# Head\n\nText *one*.\n\n```c\nint a;\n\nint b;\n```\n\n| a | b |\n|---|---|\n"
                   "| 1 | 2 |\n\n> quote\n\nEnd.\n";
  g_autoptr(GPtrArray) whole = glimmer_markdown_parse (md, -1);
  g_autofree char *want = glimmer_markdown_describe (whole);
  gsize len = strlen (md);

  for (gsize cut_at = 1; cut_at <= len; cut_at++) {
    gsize cut = glimmer_markdown_safe_boundary (md, cut_at);
    g_autoptr(GPtrArray) head = glimmer_markdown_parse (md, (gssize) cut);
    g_autoptr(GPtrArray) tail = glimmer_markdown_parse (md + cut, (gssize) (len - cut));
    g_autofree char *h = glimmer_markdown_describe (head);
    g_autofree char *t = glimmer_markdown_describe (tail);
    g_autofree char *got = g_strjoin (*h && *t ? " " : "", h, t, NULL);
    g_assert_cmpstr (got, ==, want);
  }
}

/* Hostile input: invalid UTF-8, NULs, deep nesting: some blocks, valid markup, no crash. */
static void
test_hostile_input (void)
{
  const char bad[] = "a\xff\xfe b\0c *d";
  g_autoptr(GString) deep = g_string_new (NULL);
  g_autoptr(GPtrArray) b1 = glimmer_markdown_parse (bad, sizeof bad - 1);
  g_autoptr(GPtrArray) b2 = NULL;

  g_assert_cmpuint (b1->len, ==, 1);
  g_assert_true (g_utf8_validate (((GlimmerMdBlock *) g_ptr_array_index (b1, 0))->markup, -1, NULL));
  g_assert_true (pango_parse_markup_ok (((GlimmerMdBlock *) g_ptr_array_index (b1, 0))->markup));
  for (int i = 0; i < 2000; i++)
    g_string_append (deep, "> ");
  g_string_append (deep, "deep\n");
  b2 = glimmer_markdown_parse (deep->str, (gssize) deep->len);
  g_assert_cmpuint (b2->len, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/markdown/fixtures", test_fixtures);
  g_test_add_func ("/glimmer/markdown/inline-markup", test_inline_markup);
  g_test_add_func ("/glimmer/markdown/code-and-source", test_code_and_source);
  g_test_add_func ("/glimmer/markdown/table-cells", test_table_cells);
  g_test_add_func ("/glimmer/markdown/safe-boundary", test_safe_boundary);
  g_test_add_func ("/glimmer/markdown/split-equals-whole", test_split_equals_whole);
  g_test_add_func ("/glimmer/markdown/hostile-input", test_hostile_input);
  return g_test_run ();
}
