/* glimmer-conversation-private.h: what the conversation's own files share, not for front ends.
 * SPDX-License-Identifier: MIT */
#pragma once

#include "glimmer-conversation.h"

G_BEGIN_DECLS

/* A conversation with a known id and times (reading a file). */
GlimmerConversation *_glimmer_conversation_new_full     (const char *id, gint64 created,
                                                         gint64 updated);
/* Append without touching `updated` or emitting signals (reading a file). */
void                 _glimmer_conversation_append_quiet (GlimmerConversation *self,
                                                         GlimmerMessage *message);

G_END_DECLS
