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
GlimmerHistory      *glimmer_window_get_history (GlimmerWindow *self);
/* How many conversations the sidebar lists now (after the search filter). */
guint                glimmer_window_get_n_listed (GlimmerWindow *self);
/* The composer's context-usage label as shown ("1,234 / 8,192 tokens"; "" without a model). */
const char          *glimmer_window_get_context_text (GlimmerWindow *self);
/* Write the shown conversation to `file` (what the Export dialogs do once a file is chosen);
 * a toast confirms. FALSE with an error when none is shown or the file cannot be written. */
gboolean             glimmer_window_export_to  (GlimmerWindow *self, GlimmerExportFormat format,
                                                GFile *file, GError **error);

G_END_DECLS
