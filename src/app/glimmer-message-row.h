/* glimmer-message-row.h: one message in the chat: for an assistant reply the thinking card,
 * the Markdown answer, the tool-call cards and a footer (tokens/s, counts, copy, regenerate,
 * edit-and-resend, delete); for the user's message the text and its actions.
 * SPDX-License-Identifier: MIT
 *
 * The row turns the worker's events into widgets: glimmer_message_row_append (text deltas),
 * _reasoning_finished, _add_tool_call, _set_tool_result, _set_stats, _finish. A finished
 * message from history goes through glimmer_message_row_set_message. */
#pragma once

#include <gtk/gtk.h>

#include "glimmer-conversation.h"
#include "glimmer-markdown-view.h"
#include "glimmer-thinking-card.h"
#include "glimmer-tool-card.h"

G_BEGIN_DECLS

#define GLIMMER_TYPE_MESSAGE_ROW (glimmer_message_row_get_type ())
G_DECLARE_FINAL_TYPE (GlimmerMessageRow, glimmer_message_row, GLIMMER, MESSAGE_ROW, GtkWidget)

/* Signals: "action" (const char *name): "regenerate", "edit" or "delete" was pressed;
 *          "tool-decided" (const char *call_id, int decision, const char *arguments). */
GtkWidget           *glimmer_message_row_new         (GlimChatRole role);
GlimChatRole         glimmer_message_row_get_role    (GlimmerMessageRow *self);
/* Show a whole message (history, or the final state after streaming). */
void                 glimmer_message_row_set_message (GlimmerMessageRow *self,
                                                      const GlimmerMessage *message);
/* Live: reasoning and/or content deltas (NULL or "" when none). */
void                 glimmer_message_row_append      (GlimmerMessageRow *self,
                                                      const char *reasoning, const char *content);
void                 glimmer_message_row_reasoning_finished (GlimmerMessageRow *self,
                                                             double seconds);
/* A tool call of this reply; `pending`: it waits for approval. Returns the card (borrowed). */
GlimmerToolCard     *glimmer_message_row_add_tool_call (GlimmerMessageRow *self,
                                                        const GlimmerToolCall *call,
                                                        gboolean pending);
GlimmerToolCard     *glimmer_message_row_find_tool_card (GlimmerMessageRow *self,
                                                         const char *call_id);
guint                glimmer_message_row_get_n_tool_cards (GlimmerMessageRow *self);
void                 glimmer_message_row_set_stats   (GlimmerMessageRow *self,
                                                      const GlimmerMessageStats *stats);
/* Streaming is over: final Markdown parse, thinking card closed, footer actions shown. */
void                 glimmer_message_row_finish      (GlimmerMessageRow *self,
                                                      const GlimmerMessage *message);
gboolean             glimmer_message_row_get_live    (GlimmerMessageRow *self);

/* Parts, for tests and the window (borrowed; thinking card NULL when there is none). */
GlimmerThinkingCard *glimmer_message_row_get_thinking_card (GlimmerMessageRow *self);
GlimmerMarkdownView *glimmer_message_row_get_markdown_view (GlimmerMessageRow *self);
const char          *glimmer_message_row_get_stats_text    (GlimmerMessageRow *self);

/* "12.3 tokens/s · 20 prompt · 154 generated" */
char                *glimmer_message_stats_format    (const GlimmerMessageStats *stats);

G_END_DECLS
