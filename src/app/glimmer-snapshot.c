/* glimmer-snapshot.c: render a shown widget into a PNG file (screenshots, GUI test artifacts).
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-snapshot"

#include "glimmer-snapshot.h"

gboolean
glimmer_widget_save_png (gpointer widget, const char *path, GError **error)
{
  GtkWidget *w = GTK_WIDGET (widget);
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (w);
  g_autoptr(GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  int width = gtk_widget_get_width (w), height = gtk_widget_get_height (w);
  GskRenderer *renderer;

  if (width <= 0 || height <= 0 || gtk_widget_get_native (w) == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: the window is not shown", path);
    return FALSE;
  }
  renderer = gtk_native_get_renderer (gtk_widget_get_native (w));
  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  if (node == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: nothing was drawn", path);
    return FALSE;
  }
  texture = gsk_renderer_render_texture (renderer, node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (!gdk_texture_save_to_png (texture, path)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: cannot write the PNG file", path);
    return FALSE;
  }
  return TRUE;
}
