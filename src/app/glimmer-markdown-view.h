/* glimmer-markdown-view.h: a message's answer as one widget per Markdown block, streamable.
 * SPDX-License-Identifier: MIT
 *
 * Streaming: glimmer_markdown_view_append() adds text and schedules one update (about every
 * 33 ms, however many deltas arrive). An update parses only the text after the last safe cut
 * (glimmer_markdown_safe_boundary), keeps every block before it untouched and reconciles the
 * tail's widgets (unchanged blocks keep theirs, a growing paragraph or code block is updated in
 * place). glimmer_markdown_view_finish() parses the whole text once and again keeps each widget
 * whose block did not change. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define GLIMMER_TYPE_MARKDOWN_VIEW (glimmer_markdown_view_get_type ())
G_DECLARE_FINAL_TYPE (GlimmerMarkdownView, glimmer_markdown_view, GLIMMER, MARKDOWN_VIEW,
                      GtkWidget)

GtkWidget  *glimmer_markdown_view_new      (void);
/* Replace the whole text and render it now (history, edits). */
void        glimmer_markdown_view_set_text (GlimmerMarkdownView *self, const char *text);
/* Append a streamed delta; rendering follows within about 33 ms. */
void        glimmer_markdown_view_append   (GlimmerMarkdownView *self, const char *delta,
                                            gssize len);
/* The stream is over: render the whole text as one document now. */
void        glimmer_markdown_view_finish   (GlimmerMarkdownView *self);
/* Render what is pending now instead of at the next tick. */
void        glimmer_markdown_view_flush    (GlimmerMarkdownView *self);
const char *glimmer_markdown_view_get_text (GlimmerMarkdownView *self);
/* Top-level block widgets shown now, and how many updates rebuilt or created a widget (tests). */
guint       glimmer_markdown_view_get_n_blocks (GlimmerMarkdownView *self);
GtkWidget  *glimmer_markdown_view_get_block_widget (GlimmerMarkdownView *self, guint i);
guint       glimmer_markdown_view_get_n_created (GlimmerMarkdownView *self);

G_END_DECLS
