/* glimmer-chat-view.h: the scrolling list of one conversation's messages.
 * SPDX-License-Identifier: MIT
 *
 * Follows the conversation's "messages-changed" signal for its structure (a row per user and
 * assistant message; a tool message's result goes into the tool card of the call it answers)
 * and gets the live text from the worker's events through the glimmer_chat_view_on_* calls.
 * A long history shows its last messages at once and builds the older ones on idle. Keeps the
 * view at the bottom while a reply streams, unless the user scrolled up. */
#pragma once

#include <gtk/gtk.h>

#include "glimmer-conversation.h"
#include "glimmer-message-row.h"

G_BEGIN_DECLS

#define GLIMMER_TYPE_CHAT_VIEW (glimmer_chat_view_get_type ())
G_DECLARE_FINAL_TYPE (GlimmerChatView, glimmer_chat_view, GLIMMER, CHAT_VIEW, GtkWidget)

/* Signals: "message-action" (guint index, const char *action): a row's regenerate, edit or
 * delete button; "tool-decided" (const char *call_id, int decision, const char *arguments). */
GtkWidget           *glimmer_chat_view_new              (void);
void                 glimmer_chat_view_set_conversation (GlimmerChatView *self,
                                                         GlimmerConversation *conversation);
GlimmerConversation *glimmer_chat_view_get_conversation (GlimmerChatView *self);
/* The row of message `index`, or NULL (tool and system messages have none). */
GlimmerMessageRow   *glimmer_chat_view_get_row          (GlimmerChatView *self, guint index);
guint                glimmer_chat_view_get_n_rows       (GlimmerChatView *self);
void                 glimmer_chat_view_scroll_to_bottom (GlimmerChatView *self);

/* Worker events for the shown conversation (others are ignored). */
void glimmer_chat_view_on_delta          (GlimmerChatView *self, GlimmerConversation *c,
                                          guint index, const char *reasoning,
                                          const char *content);
void glimmer_chat_view_on_reasoning_done (GlimmerChatView *self, GlimmerConversation *c,
                                          guint index);
void glimmer_chat_view_on_stats          (GlimmerChatView *self, GlimmerConversation *c,
                                          guint index);
void glimmer_chat_view_on_tool_request   (GlimmerChatView *self, GlimmerConversation *c,
                                          guint index, const GlimmerToolCall *call);
void glimmer_chat_view_on_finished       (GlimmerChatView *self, GlimmerConversation *c,
                                          guint index);

G_END_DECLS
