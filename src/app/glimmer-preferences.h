/* glimmer-preferences.h: the preferences window: model folder (validated by the engine, error
 * shown inline), backend, GPUs and tp, context length, sampling, thinking, system prompt,
 * appearance (follow the system, light, dark).
 * SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

typedef struct _GlimmerApplication GlimmerApplication;

GtkWindow *glimmer_preferences_new           (GtkWindow *parent, GSettings *settings,
                                              GlimmerApplication *app);
/* Open the folder chooser at once (the welcome page's button). */
void       glimmer_preferences_choose_folder (GtkWindow *preferences);
/* What the folder chooser does with a chosen folder: check it with the engine; on success it
 * becomes the "model-folder" setting and the model is loaded, on failure the engine's message
 * is shown under the row and the setting is left as it was. */
void       glimmer_preferences_try_folder    (GtkWindow *preferences, const char *folder);
/* The text shown under the model folder row ("Checking…" or the engine's error), or NULL when
 * nothing is shown. */
const char *glimmer_preferences_get_folder_error (GtkWindow *preferences);
/* Check a model folder with the engine off the main thread (config, weights, tokenizer). */
void       glimmer_model_folder_validate_async  (const char *folder, GCancellable *cancellable,
                                                 GAsyncReadyCallback callback, gpointer data);
gboolean   glimmer_model_folder_validate_finish (GAsyncResult *result, GError **error);

G_END_DECLS
