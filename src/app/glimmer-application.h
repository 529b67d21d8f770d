/* glimmer-application.h: the app object: settings, history, the engine worker, model loading,
 * app-wide actions, notifications.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

#include "glimmer-history.h"
#include "glimmer-window.h"
#include "glimmer-worker.h"

G_BEGIN_DECLS

#define GLIMMER_APP_ID "io.github.glimmer.Glimmer"

#define GLIMMER_TYPE_APPLICATION (glimmer_application_get_type ())
G_DECLARE_FINAL_TYPE (GlimmerApplication, glimmer_application, GLIMMER, APPLICATION,
                      AdwApplication)

GlimmerApplication *glimmer_application_new           (void);
GlimmerWorker      *glimmer_application_get_worker    (GlimmerApplication *self);
GSettings          *glimmer_application_get_settings  (GlimmerApplication *self);
GlimmerWindow      *glimmer_application_get_window    (GlimmerApplication *self);
/* Load the configured model (or the bundled demo model on the CPU when none is set). */
void                glimmer_application_load_model    (GlimmerApplication *self);
/* The message of the last failed load, or NULL (the diagnostics page shows it). */
const char         *glimmer_application_get_load_error (GlimmerApplication *self);
/* The bundled demo model's folder: $GLIMMER_DEMO_MODEL, the source tree's data/demo-model
 * when run uninstalled, else DATADIR/glimmer/demo-model. */
char               *glimmer_application_dup_demo_model (void);

G_END_DECLS
