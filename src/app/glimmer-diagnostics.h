/* glimmer-diagnostics.h: the GPU diagnostics window: driver version, GPUs with memory, what
 * the engine runs on, and the exact error when CUDA could not be used.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

typedef struct _GlimmerApplication GlimmerApplication;

GtkWindow *glimmer_diagnostics_new (GtkWindow *parent, GlimmerApplication *app);

G_END_DECLS
