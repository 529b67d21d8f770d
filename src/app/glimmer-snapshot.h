/* glimmer-snapshot.h: render a shown widget into a PNG file.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Render `widget` (shown, in a window) through its window's GskRenderer into a PNG at `path`.
 * Errors name the path. */
gboolean glimmer_widget_save_png (gpointer widget, const char *path, GError **error);

G_END_DECLS
