/* glimmer-diagnostics.c: GPU diagnostics. The driver version comes from
 * /proc/driver/nvidia/version, the GPU list from `nvidia-smi` (run asynchronously; its
 * absence is reported, not hidden), the engine's view from the worker.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-diagnostics"

#include "glimmer-diagnostics.h"

#include "glimmer-application.h"

#include <glib/gi18n.h>
#include <string.h>

static GtkWidget *
info_row (const char *title, const char *value)
{
  GtkWidget *row = adw_action_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), value);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  return row;
}

static char *
driver_version (void)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents ("/proc/driver/nvidia/version", &text, NULL, NULL))
    return g_strdup (_("No NVIDIA kernel driver loaded (/proc/driver/nvidia/version is missing)"));
  return g_strstrip (g_strndup (text, strcspn (text, "\n")));
}

static void
on_smi_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GtkWidget) group = data;  /* a reference held across the call */
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  GSubprocess *proc = G_SUBPROCESS (source);

  if (!g_subprocess_communicate_utf8_finish (proc, result, &out, &err, &error)) {
    adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), info_row (_("GPUs"), error->message));
    return;
  }
  if (!g_subprocess_get_successful (proc) || out == NULL || out[0] == '\0') {
    adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                               info_row (_("GPUs"), err != NULL && err[0] ? g_strstrip (err)
                                                                          : _("none found")));
    return;
  }
  g_auto(GStrv) lines = g_strsplit (g_strstrip (out), "\n", -1);
  for (int i = 0; lines[i] != NULL; i++) {
    /* "0, NVIDIA H200, 143771 MiB" */
    g_auto(GStrv) f = g_strsplit (lines[i], ", ", 3);
    if (g_strv_length (f) == 3) {
      g_autofree char *title = g_strdup_printf (_("GPU %s"), f[0]);
      g_autofree char *value = g_strdup_printf ("%s, %s", f[1], f[2]);
      adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), info_row (title, value));
    }
  }
}

GtkWindow *
glimmer_diagnostics_new (GtkWindow *parent, GlimmerApplication *app)
{
  GtkWidget *window = adw_preferences_window_new ();
  GtkWidget *page = adw_preferences_page_new ();
  GtkWidget *group = adw_preferences_group_new ();
  GtkWidget *gpus = adw_preferences_group_new ();
  GlimmerWorker *worker = glimmer_application_get_worker (app);
  const char *device = worker != NULL ? glimmer_worker_get_device_description (worker) : NULL;
  const char *load_error = glimmer_application_get_load_error (app);
  g_autofree char *driver = driver_version ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) smi = NULL;

  gtk_window_set_title (GTK_WINDOW (window), _("GPU Diagnostics"));
  gtk_window_set_transient_for (GTK_WINDOW (window), parent);
  adw_preferences_window_set_search_enabled (ADW_PREFERENCES_WINDOW (window), FALSE);
  adw_preferences_page_set_title (ADW_PREFERENCES_PAGE (page), _("GPU Diagnostics"));

  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), _("Engine"));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), info_row (_("NVIDIA driver"), driver));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                             info_row (_("Running on"), device != NULL ? device : _("no model loaded")));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                             info_row (_("Model"), worker != NULL &&
                                                           glimmer_worker_get_model_name (worker)
                                                       ? glimmer_worker_get_model_name (worker)
                                                       : _("none")));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                             info_row (_("Last loading error"), load_error != NULL ? load_error
                                                                                   : _("none")));
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (group));

  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (gpus), _("GPUs"));
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (gpus));
  smi = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                          "nvidia-smi", "--query-gpu=index,name,memory.total",
                          "--format=csv,noheader", NULL);
  if (smi == NULL)
    adw_preferences_group_add (ADW_PREFERENCES_GROUP (gpus), info_row (_("nvidia-smi"),
                                                                       error->message));
  else
    g_subprocess_communicate_utf8_async (smi, NULL, NULL, on_smi_done, g_object_ref_sink (gpus));

  adw_preferences_window_add (ADW_PREFERENCES_WINDOW (window), ADW_PREFERENCES_PAGE (page));
  return GTK_WINDOW (window);
}
