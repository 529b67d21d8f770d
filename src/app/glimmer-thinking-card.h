/* glimmer-thinking-card.h: the model's reasoning, live while it thinks, then collapsed with
 * "Thought for N s".
 * SPDX-License-Identifier: MIT */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define GLIMMER_TYPE_THINKING_CARD (glimmer_thinking_card_get_type ())
G_DECLARE_FINAL_TYPE (GlimmerThinkingCard, glimmer_thinking_card, GLIMMER, THINKING_CARD,
                      GtkWidget)

GtkWidget  *glimmer_thinking_card_new      (void);
/* Live: append reasoning text (appended to the view as is, O(delta)). */
void        glimmer_thinking_card_append   (GlimmerThinkingCard *self, const char *delta,
                                            gssize len);
/* Reasoning is over after `seconds`: title "Thought for N s", collapsed. */
void        glimmer_thinking_card_finish   (GlimmerThinkingCard *self, double seconds);
/* A finished card from history. */
void        glimmer_thinking_card_set_text (GlimmerThinkingCard *self, const char *text,
                                            double seconds);
const char *glimmer_thinking_card_get_text (GlimmerThinkingCard *self);
const char *glimmer_thinking_card_get_title (GlimmerThinkingCard *self);
gboolean    glimmer_thinking_card_get_live (GlimmerThinkingCard *self);
gboolean    glimmer_thinking_card_get_expanded (GlimmerThinkingCard *self);

G_END_DECLS
