/* glimmer-application.c: GlimmerApplication: owns GSettings, the history store and the engine
 * worker; loads the model at startup (the demo model on the CPU when none is configured, and
 * the CPU when CUDA fails on "auto"); applies the light/dark setting; notifies when a reply
 * finishes in the background.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-application"

#include "glimmer-application.h"

#include "glimmer-code-block.h"
#include "glimmer-diagnostics.h"
#include "glimmer-preferences.h"
#include "glimmer-test-driver.h"

#include <glib/gi18n.h>
#include <gtksourceview/gtksource.h>

struct _GlimmerApplication {
  AdwApplication  parent_instance;
  GSettings      *settings;
  GlimmerHistory *history;
  GlimmerWorker  *worker;
  GlimmerWindow  *window;
  char           *load_error;
  gboolean        tried_cpu_fallback;
  GlimBackend     loading_backend;
};

G_DEFINE_FINAL_TYPE (GlimmerApplication, glimmer_application, ADW_TYPE_APPLICATION)

char *
glimmer_application_dup_demo_model (void)
{
  const char *env = g_getenv ("GLIMMER_DEMO_MODEL");
  g_autofree char *src = g_build_filename (GLIMMER_SOURCE_DIR, "data", "demo-model", NULL);
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);

  if (env != NULL && env[0] != '\0')
    return g_strdup (env);
  /* uninstalled (the binary lives under the source tree's build folder) */
  if (exe != NULL && g_str_has_prefix (exe, GLIMMER_SOURCE_DIR "/") &&
      g_file_test (src, G_FILE_TEST_IS_DIR))
    return g_steal_pointer (&src);
  return g_build_filename (GLIMMER_DATADIR, "glimmer", "demo-model", NULL);
}

/* ---- model loading ---- */

/* n_ctx: the context length; 0: automatic (the engine's: as much as fits on the GPUs, at most
 * 4096 on the CPU; the demo model's maximum is small). */
static void
app_load (GlimmerApplication *self, const char *folder, GlimBackend backend, int n_ctx)
{
  GlimmerLoadOptions opts;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) gpus = g_settings_get_value (self->settings, "gpus");

  glimmer_load_options_init (&opts, folder);
  opts.backend = backend;
  opts.tp = backend == GLIM_BACKEND_CUDA ? g_settings_get_int (self->settings, "tp") : 1;
  opts.n_ctx = n_ctx;
  if (g_variant_n_children (gpus) > 0)
    g_variant_get_child (gpus, 0, "i", &opts.device);
  self->loading_backend = backend;
  if (!glimmer_worker_load (self->worker, &opts, &error) && self->window != NULL)
    glimmer_window_show_toast (self->window, error->message);
}

void
glimmer_application_load_model (GlimmerApplication *self)
{
  g_autofree char *folder = g_settings_get_string (self->settings, "model-folder");
  int backend = g_settings_get_enum (self->settings, "backend");  /* 0 auto, 1 cpu, 2 cuda */

  self->tried_cpu_fallback = FALSE;
  if (folder[0] == '\0') {
    /* nothing configured: the bundled demo model, on the CPU, so the app can be tried now */
    g_autofree char *demo = glimmer_application_dup_demo_model ();
    app_load (self, demo, GLIM_BACKEND_CPU, 0);
    return;
  }
  app_load (self, folder, backend == 1 ? GLIM_BACKEND_CPU : GLIM_BACKEND_CUDA,
            g_settings_get_int (self->settings, "context-length"));
}

static void
on_load_finished (GlimmerWorker *worker, GError *error, GlimmerApplication *self)
{
  g_clear_pointer (&self->load_error, g_free);
  if (error == NULL)
    return;
  self->load_error = g_strdup (error->message);
  if (g_error_matches (error, GLIMMER_WORKER_ERROR, GLIMMER_WORKER_ERROR_CANCELLED))
    return;
  /* "auto": a CUDA failure (no driver, no GPU, out of memory) falls back to the CPU */
  if (self->loading_backend == GLIM_BACKEND_CUDA && !self->tried_cpu_fallback &&
      g_settings_get_enum (self->settings, "backend") == 0) {
    g_autofree char *folder = g_settings_get_string (self->settings, "model-folder");
    g_autofree char *msg = g_strdup_printf (_("CUDA is not usable (%s); running on the CPU"),
                                            error->message);
    self->tried_cpu_fallback = TRUE;
    if (self->window != NULL)
      glimmer_window_show_toast (self->window, msg);
    app_load (self, folder, GLIM_BACKEND_CPU, g_settings_get_int (self->settings, "context-length"));
    return;
  }
  if (self->window != NULL)
    glimmer_window_show_toast (self->window, error->message);
}

static void
on_generation_finished (GlimmerWorker *worker, GlimmerConversation *c, GError *error,
                        GlimmerApplication *self)
{
  g_autoptr(GNotification) n = NULL;

  if (self->window == NULL || gtk_window_is_active (GTK_WINDOW (self->window)))
    return;
  n = g_notification_new (error == NULL ? _("Reply finished") : _("Reply failed"));
  g_notification_set_body (n, glimmer_conversation_get_title (c));
  g_notification_set_default_action (n, "app.activate");
  g_application_send_notification (G_APPLICATION (self), "reply-finished", n);
}

/* ---- actions ---- */

static void
action_preferences (GSimpleAction *a, GVariant *p, gpointer data)
{
  GlimmerApplication *self = data;
  GtkWindow *prefs = glimmer_preferences_new (GTK_WINDOW (self->window), self->settings, self);
  gtk_window_present (prefs);
}

static void
action_choose_model (GSimpleAction *a, GVariant *p, gpointer data)
{
  GlimmerApplication *self = data;
  GtkWindow *prefs = glimmer_preferences_new (GTK_WINDOW (self->window), self->settings, self);
  gtk_window_present (prefs);
  glimmer_preferences_choose_folder (prefs);
}

static void
action_diagnostics (GSimpleAction *a, GVariant *p, gpointer data)
{
  GlimmerApplication *self = data;
  gtk_window_present (glimmer_diagnostics_new (GTK_WINDOW (self->window), self));
}

static void
action_cancel_load (GSimpleAction *a, GVariant *p, gpointer data)
{
  glimmer_worker_cancel_load (GLIMMER_APPLICATION (data)->worker);
}

static void
action_about (GSimpleAction *a, GVariant *p, gpointer data)
{
  GlimmerApplication *self = data;
  static const char *developers[] = { "The Glimmer contributors", NULL };
  GtkWidget *about = g_object_new (ADW_TYPE_ABOUT_WINDOW, "transient-for", self->window,
                                   "application-name", _("Glimmer"),
                                   "application-icon", GLIMMER_APP_ID,
                                   "version", GLIMMER_VERSION,
                                   "developers", developers,
                                   "license-type", GTK_LICENSE_MIT_X11,
                                   "comments", _("Chat with GLM-4.7-Flash on your own GPUs"),
                                   NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
action_quit (GSimpleAction *a, GVariant *p, gpointer data)
{
  GlimmerApplication *self = data;
  if (self->window != NULL)
    gtk_window_destroy (GTK_WINDOW (self->window));
}

static const GActionEntry app_actions[] = {
  { "preferences", action_preferences, NULL, NULL, NULL, { 0 } },
  { "choose-model", action_choose_model, NULL, NULL, NULL, { 0 } },
  { "diagnostics", action_diagnostics, NULL, NULL, NULL, { 0 } },
  { "cancel-load", action_cancel_load, NULL, NULL, NULL, { 0 } },
  { "about", action_about, NULL, NULL, NULL, { 0 } },
  { "quit", action_quit, NULL, NULL, NULL, { 0 } },
};

/* ---- GApplication ---- */

static void
glimmer_application_startup (GApplication *app)
{
  GlimmerApplication *self = GLIMMER_APPLICATION (app);
  static const struct { const char *action; const char *accels[3]; } accels[] = {
    { "win.new-chat", { "<Control>n", NULL } },
    { "win.stop", { "Escape", NULL } },
    { "win.search", { "<Control>f", NULL } },
    { "win.show-help-overlay", { "<Control>question", NULL } },
    { "app.preferences", { "<Control>comma", NULL } },
    { "app.quit", { "<Control>q", NULL } },
  };

  G_APPLICATION_CLASS (glimmer_application_parent_class)->startup (app);
  gtk_source_init ();
  g_idle_add_once ((GSourceOnceFunc) glimmer_code_block_preload, NULL);
  {
    /* uninstalled: the app icon from the source tree */
    g_autofree char *icons = g_build_filename (GLIMMER_SOURCE_DIR, "data", "icons", NULL);
    g_autofree char *demo = glimmer_application_dup_demo_model ();
    if (g_str_has_prefix (demo, GLIMMER_SOURCE_DIR))
      gtk_icon_theme_add_search_path (gtk_icon_theme_get_for_display (gdk_display_get_default ()),
                                      icons);
  }
  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions),
                                   self);
  for (gsize i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (app), accels[i].action,
                                           accels[i].accels);
}

/* "color-scheme" (follow, light, dark) → AdwStyleManager:color-scheme */
static gboolean
color_scheme_get (GValue *value, GVariant *variant, gpointer data)
{
  const char *nick = g_variant_get_string (variant, NULL);
  g_value_set_enum (value, g_str_equal (nick, "light")  ? ADW_COLOR_SCHEME_FORCE_LIGHT
                           : g_str_equal (nick, "dark") ? ADW_COLOR_SCHEME_FORCE_DARK
                                                        : ADW_COLOR_SCHEME_DEFAULT);
  return TRUE;
}

static void
on_window_destroy (GlimmerApplication *self)
{
  self->window = NULL;
}

static void
glimmer_application_activate (GApplication *app)
{
  GlimmerApplication *self = GLIMMER_APPLICATION (app);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) problems = NULL;
  g_auto(GStrv) always = NULL;

  if (self->window != NULL) {
    gtk_window_present (GTK_WINDOW (self->window));
    return;
  }

  self->settings = g_settings_new (GLIMMER_APP_ID);
  g_settings_bind_with_mapping (self->settings, "color-scheme", adw_style_manager_get_default (),
                                "color-scheme", G_SETTINGS_BIND_GET, color_scheme_get, NULL, NULL,
                                NULL);
  self->history = glimmer_history_new (NULL, &error);
  if (self->history == NULL) {
    g_printerr ("glimmer: %s\n", error->message);
    return;
  }
  glimmer_history_load (self->history, &problems);

  self->worker = glimmer_worker_new (NULL);
  always = g_settings_get_strv (self->settings, "always-allowed-tools");
  glimmer_worker_set_always_allowed (self->worker, (const char *const *) always);
  g_signal_connect (self->worker, "load-finished", G_CALLBACK (on_load_finished), self);
  g_signal_connect (self->worker, "generation-finished", G_CALLBACK (on_generation_finished),
                    self);

  self->window = glimmer_window_new (GTK_APPLICATION (app), self->history, self->worker,
                                     self->settings);
  g_signal_connect_swapped (self->window, "destroy", G_CALLBACK (on_window_destroy), self);
  for (guint i = 0; problems != NULL && i < problems->len; i++)
    glimmer_window_show_toast (self->window, ((GError *) g_ptr_array_index (problems, i))->message);

  gtk_window_present (GTK_WINDOW (self->window));
  glimmer_application_load_model (self);
  glimmer_test_driver_maybe_start (self);
}

static void
glimmer_application_dispose (GObject *object)
{
  GlimmerApplication *self = GLIMMER_APPLICATION (object);
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  g_clear_object (&self->worker);
  g_clear_object (&self->history);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->load_error, g_free);
  G_OBJECT_CLASS (glimmer_application_parent_class)->dispose (object);
}

static void
glimmer_application_class_init (GlimmerApplicationClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = glimmer_application_dispose;
  G_APPLICATION_CLASS (klass)->startup = glimmer_application_startup;
  G_APPLICATION_CLASS (klass)->activate = glimmer_application_activate;
}

static void
glimmer_application_init (GlimmerApplication *self)
{
}

GlimmerApplication *
glimmer_application_new (void)
{
  return g_object_new (GLIMMER_TYPE_APPLICATION, "application-id", GLIMMER_APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/io/github/glimmer/Glimmer", NULL);
}

GlimmerWorker *
glimmer_application_get_worker (GlimmerApplication *self)
{
  return self->worker;
}

GSettings *
glimmer_application_get_settings (GlimmerApplication *self)
{
  return self->settings;
}

GlimmerWindow *
glimmer_application_get_window (GlimmerApplication *self)
{
  return self->window;
}

const char *
glimmer_application_get_load_error (GlimmerApplication *self)
{
  return self->load_error;
}
