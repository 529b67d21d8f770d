/* glimmer-markdown.h: Markdown (cmark-gfm) into a flat list of display blocks, no widgets.
 * SPDX-License-Identifier: MIT
 *
 * The answer view shows one widget per top-level block. This module turns Markdown text into
 * those blocks: headings, paragraphs (inline styles and links as Pango markup), lists (with
 * task items), block quotes, tables, rules and code blocks. Each block keeps the source text
 * it came from, so a view can tell whether a re-parsed block changed and keep its widget.
 *
 * Streaming: glimmer_markdown_safe_boundary() finds where the text can be cut so that the part
 * before it never changes its blocks again (a blank line outside an open code fence); the view
 * parses the part before once and re-parses only the unfinished tail after it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  GLIMMER_MD_PARAGRAPH,
  GLIMMER_MD_HEADING,     /* level 1..6 */
  GLIMMER_MD_CODE,        /* info: the fence's language word (or NULL); text: the code */
  GLIMMER_MD_QUOTE,       /* children: blocks */
  GLIMMER_MD_LIST,        /* ordered, start; children: ITEMs */
  GLIMMER_MD_ITEM,        /* task: -1 not a task item, 0 open, 1 done; children: blocks */
  GLIMMER_MD_TABLE,       /* n_columns, align; children: ROWs */
  GLIMMER_MD_ROW,         /* header; children: CELLs */
  GLIMMER_MD_CELL,        /* markup */
  GLIMMER_MD_RULE,
  GLIMMER_MD_HTML,        /* raw HTML block, shown as literal text (text), never interpreted */
} GlimmerMdType;

typedef struct _GlimmerMdBlock GlimmerMdBlock;

struct _GlimmerMdBlock {
  GlimmerMdType type;
  int           level;      /* HEADING: 1..6 */
  gboolean      ordered;    /* LIST */
  int           start;      /* LIST: number of the first item */
  int           task;       /* ITEM: -1, 0, 1 */
  gboolean      header;     /* ROW: the table's header row */
  int           n_columns;  /* TABLE */
  char         *align;      /* TABLE: n_columns of 'l', 'c', 'r' or 'n' (none), NUL-terminated */
  char         *info;       /* CODE: language, or NULL */
  char         *text;       /* CODE, HTML: literal; PARAGRAPH, HEADING, CELL: plain text */
  char         *markup;     /* PARAGRAPH, HEADING, CELL: Pango markup, escaped and valid */
  char         *source;     /* top-level blocks: the Markdown lines the block came from */
  GPtrArray    *children;   /* GlimmerMdBlock*, or NULL */
};

void            glimmer_md_block_free     (GlimmerMdBlock *block);

/* Parse `len` bytes (-1: NUL-terminated) of Markdown into top-level blocks (GlimmerMdBlock*,
 * owned by the array). Never fails: invalid UTF-8 is replaced, any text gives some blocks. */
GPtrArray      *glimmer_markdown_parse    (const char *text, gssize len);

/* A one-line description of a block tree, for tests and debugging:
 * "heading:2 paragraph list:ordered:3[item[paragraph] item:task:1[paragraph]] code:python" */
char           *glimmer_markdown_describe (GPtrArray *blocks);

/* The largest offset <= len at which `text` may be cut for streaming: just after a blank
 * line that is not inside a fenced code block, and not inside a table or a list that may still
 * continue. 0 when there is none. */
gsize           glimmer_markdown_safe_boundary (const char *text, gsize len);

/* TRUE if the two blocks render the same (same type and same source text). */
gboolean        glimmer_md_block_equal    (const GlimmerMdBlock *a, const GlimmerMdBlock *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimmerMdBlock, glimmer_md_block_free)

G_END_DECLS
