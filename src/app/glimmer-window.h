/* glimmer-window.h: the main window: conversation sidebar, chat view, composer.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

#include "glimmer-chat-view.h"
#include "glimmer-history.h"
#include "glimmer-worker.h"

G_BEGIN_DECLS

#define GLIMMER_TYPE_WINDOW (glimmer_window_get_type ())
G_DECLARE_FINAL_TYPE (GlimmerWindow, glimmer_window, GLIMMER, WINDOW, AdwApplicationWindow)

GlimmerWindow       *glimmer_window_new        (GtkApplication *app, GlimmerHistory *history,
                                                GlimmerWorker *worker, GSettings *settings);
/* The conversation shown (NULL: none yet). */
GlimmerConversation *glimmer_window_get_conversation (GlimmerWindow *self);
void                 glimmer_window_show_conversation (GlimmerWindow *self,
                                                       GlimmerConversation *conversation);
GlimmerChatView     *glimmer_window_get_chat_view (GlimmerWindow *self);
/* Put `text` in the composer and send it, as Enter would. FALSE (with a toast) when it cannot
 * be sent now (no model, busy). */
gboolean             glimmer_window_send_text  (GlimmerWindow *self, const char *text);
void                 glimmer_window_show_toast (GlimmerWindow *self, const char *text);
AdwLeaflet          *glimmer_window_get_leaflet (GlimmerWindow *self);

G_END_DECLS
