/* glimmer-preferences.c: AdwPreferencesWindow bound to GSettings. A new model folder is
 * checked by loading it with the engine on a worker thread; the engine's error is shown under
 * the row and the setting keeps its old value until a folder passes. The Appearance page's
 * style (follow the system, light, dark) is applied by the application (AdwStyleManager).
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-preferences"

#include "glimmer-preferences.h"

#include "glimmer-application.h"

#include <glib/gi18n.h>

typedef struct {
  GSettings          *settings;
  GlimmerApplication *app;
  AdwActionRow       *folder_row;
  GtkWidget          *folder_error;
  GCancellable       *cancellable;
} Prefs;

static void
prefs_free (Prefs *p)
{
  g_cancellable_cancel (p->cancellable);
  g_object_unref (p->cancellable);
  g_object_unref (p->settings);
  g_free (p);
}

/* ---- validation (engine, worker thread) ---- */

static void
validate_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  const char *folder = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GlimModel) model = glim_model_load (folder, NULL, &error);
  g_autofree char *tok_path = NULL;
  g_autoptr(GlimTokenizer) tok = NULL;

  if (model == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  tok_path = g_build_filename (folder, "tokenizer.json", NULL);
  tok = glim_tokenizer_load (tok_path, &error);
  if (tok == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_boolean (task, TRUE);
}

void
glimmer_model_folder_validate_async (const char *folder, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, data);
  g_task_set_task_data (task, g_strdup (folder), g_free);
  g_task_run_in_thread (task, validate_thread);
}

gboolean
glimmer_model_folder_validate_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_validated (GObject *source, GAsyncResult *result, gpointer data)
{
  GtkWindow *window = data;
  Prefs *p = g_object_get_data (G_OBJECT (window), "prefs");
  g_autoptr(GError) error = NULL;
  const char *folder = g_object_get_data (G_OBJECT (window), "candidate");

  if (!glimmer_model_folder_validate_finish (result, &error)) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && p != NULL) {
      gtk_label_set_text (GTK_LABEL (p->folder_error), error->message);
      gtk_widget_set_visible (p->folder_error, TRUE);
    }
    g_object_unref (window);
    return;
  }
  gtk_widget_set_visible (p->folder_error, FALSE);
  g_settings_set_string (p->settings, "model-folder", folder);
  adw_action_row_set_subtitle (p->folder_row, folder);
  glimmer_application_load_model (p->app);
  g_object_unref (window);
}

void
glimmer_preferences_try_folder (GtkWindow *window, const char *folder)
{
  Prefs *p = g_object_get_data (G_OBJECT (window), "prefs");
  g_object_set_data_full (G_OBJECT (window), "candidate", g_strdup (folder), g_free);
  gtk_label_set_text (GTK_LABEL (p->folder_error), _("Checking the model folder…"));
  gtk_widget_set_visible (p->folder_error, TRUE);
  glimmer_model_folder_validate_async (folder, p->cancellable, on_validated, g_object_ref (window));
}

const char *
glimmer_preferences_get_folder_error (GtkWindow *window)
{
  Prefs *p = g_object_get_data (G_OBJECT (window), "prefs");
  g_return_val_if_fail (p != NULL, NULL);
  if (!gtk_widget_get_visible (p->folder_error))
    return NULL;
  return gtk_label_get_text (GTK_LABEL (p->folder_error));
}

static void
on_folder_chosen (GtkNativeDialog *chooser, int response, GtkWindow *window)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
    g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
    if (path != NULL)
      glimmer_preferences_try_folder (window, path);
  }
  g_object_unref (chooser);
}

void
glimmer_preferences_choose_folder (GtkWindow *window)
{
  GtkFileChooserNative *chooser = gtk_file_chooser_native_new (
      _("Choose the Model Folder"), window, GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Select"),
      _("_Cancel"));
  g_signal_connect (chooser, "response", G_CALLBACK (on_folder_chosen), window);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
on_use_demo (GtkWindow *window)
{
  Prefs *p = g_object_get_data (G_OBJECT (window), "prefs");
  g_settings_set_string (p->settings, "model-folder", "");
  adw_action_row_set_subtitle (p->folder_row, _("The bundled demo model (CPU)"));
  gtk_widget_set_visible (p->folder_error, FALSE);
  glimmer_application_load_model (p->app);
}

static void
on_reload (GtkWindow *window)
{
  Prefs *p = g_object_get_data (G_OBJECT (window), "prefs");
  glimmer_application_load_model (p->app);
}

/* ---- rows ---- */

static GtkWidget *
spin_row (GSettings *settings, const char *key, const char *title, const char *subtitle,
          double min, double max, double step, guint digits)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *spin = gtk_spin_button_new_with_range (min, max, step);
  gtk_spin_button_set_digits (GTK_SPIN_BUTTON (spin), digits);
  gtk_widget_set_valign (spin, GTK_ALIGN_CENTER);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  if (subtitle != NULL)
    adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), spin);
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), spin);
  gtk_accessible_update_property (GTK_ACCESSIBLE (spin), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);
  g_settings_bind (settings, key, gtk_spin_button_get_adjustment (GTK_SPIN_BUTTON (spin)), "value",
                   G_SETTINGS_BIND_DEFAULT);
  return row;
}

/* The context length's spin button shows 0 as "Automatic (as much as fits)" and reads it back. */
static gboolean
context_output (GtkSpinButton *spin, gpointer data)
{
  if (gtk_spin_button_get_value_as_int (spin) != 0)
    return FALSE;
  gtk_editable_set_text (GTK_EDITABLE (spin), _("Automatic (as much as fits)"));
  return TRUE;
}

static int
context_input (GtkSpinButton *spin, double *new_value, gpointer data)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (spin));
  if (g_strcmp0 (text, _("Automatic (as much as fits)")) != 0 &&
      g_ascii_strcasecmp (text, "auto") != 0)
    return FALSE;                   /* a number: GTK parses it */
  *new_value = 0;
  return TRUE;
}

static GtkWidget *
context_row (GSettings *settings)
{
  GtkWidget *row = spin_row (settings, "context-length", _("Context Length"),
                             _("Tokens; 0: automatic, as much as fits on the GPUs (4096 on the "
                               "CPU)"), 0, 202752, 1024, 0);
  GtkWidget *spin = adw_action_row_get_activatable_widget (ADW_ACTION_ROW (row));
  gtk_editable_set_width_chars (GTK_EDITABLE (spin),
                                (int) g_utf8_strlen (_("Automatic (as much as fits)"), -1));
  g_signal_connect (spin, "output", G_CALLBACK (context_output), NULL);
  g_signal_connect (spin, "input", G_CALLBACK (context_input), NULL);
  gtk_spin_button_update (GTK_SPIN_BUTTON (spin));
  context_output (GTK_SPIN_BUTTON (spin), NULL);
  return row;
}

/* A string setting shown as a combo row's index: data is the NULL-terminated list of the
 * setting's values in the row's order (an unknown value shows the first). */
static const char *const backend_nicks[] = { "auto", "cpu", "cuda", NULL };
static const char *const color_scheme_nicks[] = { "follow", "light", "dark", NULL };

static gboolean
nick_to_index (GValue *value, GVariant *variant, gpointer data)
{
  const char *const *nicks = data;
  const char *nick = g_variant_get_string (variant, NULL);
  guint i = 0;
  while (nicks[i] != NULL && !g_str_equal (nicks[i], nick))
    i++;
  g_value_set_uint (value, nicks[i] != NULL ? i : 0);
  return TRUE;
}

static GVariant *
index_to_nick (const GValue *value, const GVariantType *type, gpointer data)
{
  const char *const *nicks = data;
  guint n = g_strv_length ((char **) nicks);
  return g_variant_new_string (nicks[MIN (g_value_get_uint (value), n - 1)]);
}

/* A combo row titled title over the (translatable) labels, bound to the string setting key
 * whose values are nicks, in the same order. */
static GtkWidget *
nick_combo_row (GSettings *settings, const char *key, const char *title,
                const char *const *labels, const char *const *nicks)
{
  g_autoptr(GtkStringList) list = gtk_string_list_new (NULL);
  for (int i = 0; labels[i] != NULL; i++)
    gtk_string_list_append (list, _(labels[i]));
  GtkWidget *row = adw_combo_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_combo_row_set_model (ADW_COMBO_ROW (row), G_LIST_MODEL (list));
  g_settings_bind_with_mapping (settings, key, row, "selected", G_SETTINGS_BIND_DEFAULT,
                                nick_to_index, index_to_nick, (gpointer) nicks, NULL);
  return row;
}

static gboolean
gpus_get (GValue *value, GVariant *variant, gpointer data)
{
  g_autoptr(GString) s = g_string_new (NULL);
  for (gsize i = 0; i < g_variant_n_children (variant); i++) {
    gint32 v;
    g_variant_get_child (variant, i, "i", &v);
    g_string_append_printf (s, "%s%d", i ? ", " : "", v);
  }
  g_value_set_string (value, s->str);
  return TRUE;
}

static GVariant *
gpus_set (const GValue *value, const GVariantType *type, gpointer data)
{
  GVariantBuilder b;
  g_auto(GStrv) parts = g_strsplit_set (g_value_get_string (value), ", ", -1);
  g_variant_builder_init (&b, G_VARIANT_TYPE ("ai"));
  for (int i = 0; parts[i] != NULL; i++) {
    gint64 v;
    if (parts[i][0] != '\0' && g_ascii_string_to_signed (parts[i], 10, 0, 63, &v, NULL))
      g_variant_builder_add (&b, "i", (gint32) v);
  }
  return g_variant_builder_end (&b);
}

GtkWindow *
glimmer_preferences_new (GtkWindow *parent, GSettings *settings, GlimmerApplication *app)
{
  GtkWidget *window = adw_preferences_window_new ();
  GtkWidget *page, *group, *row, *button;
  Prefs *p = g_new0 (Prefs, 1);
  g_autofree char *folder = g_settings_get_string (settings, "model-folder");
  const char *backends[] = { N_("Automatic"), N_("CPU"), N_("CUDA"), NULL };
  const char *schemes[] = { N_("Follow System"), N_("Light"), N_("Dark"), NULL };

  p->settings = g_object_ref (settings);
  p->app = app;
  p->cancellable = g_cancellable_new ();
  g_object_set_data_full (G_OBJECT (window), "prefs", p, (GDestroyNotify) prefs_free);
  gtk_window_set_transient_for (GTK_WINDOW (window), parent);
  gtk_window_set_modal (GTK_WINDOW (window), TRUE);

  /* Model */
  page = adw_preferences_page_new ();
  adw_preferences_page_set_title (ADW_PREFERENCES_PAGE (page), _("Model"));
  adw_preferences_page_set_icon_name (ADW_PREFERENCES_PAGE (page), "drive-harddisk-symbolic");
  group = adw_preferences_group_new ();
  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), _("Model"));
  row = adw_action_row_new ();
  p->folder_row = ADW_ACTION_ROW (row);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Model Folder"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), folder[0] != '\0'
                                                         ? folder
                                                         : _("The bundled demo model (CPU)"));
  button = gtk_button_new_with_mnemonic (_("_Choose…"));
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  g_signal_connect_swapped (button, "clicked", G_CALLBACK (glimmer_preferences_choose_folder),
                            window);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
  button = gtk_button_new_with_mnemonic (_("_Demo Model"));
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, _("Use the small bundled model on the CPU"));
  g_signal_connect_swapped (button, "clicked", G_CALLBACK (on_use_demo), window);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  p->folder_error = gtk_label_new (NULL);
  gtk_label_set_wrap (GTK_LABEL (p->folder_error), TRUE);
  gtk_label_set_xalign (GTK_LABEL (p->folder_error), 0);
  gtk_label_set_selectable (GTK_LABEL (p->folder_error), TRUE);
  gtk_widget_add_css_class (p->folder_error, "error");
  gtk_widget_set_margin_top (p->folder_error, 6);
  gtk_widget_set_visible (p->folder_error, FALSE);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), p->folder_error);
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (group));

  group = adw_preferences_group_new ();
  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), _("Hardware"));
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (group),
                                         _("Changes apply when the model is loaded again."));
  button = gtk_button_new_with_mnemonic (_("_Reload Model"));
  gtk_widget_add_css_class (button, "flat");
  g_signal_connect_swapped (button, "clicked", G_CALLBACK (on_reload), window);
  adw_preferences_group_set_header_suffix (ADW_PREFERENCES_GROUP (group), button);
  row = nick_combo_row (settings, "backend", _("Backend"), backends, backend_nicks);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  row = adw_entry_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("GPUs (device numbers, e.g. 0, 1)"));
  g_settings_bind_with_mapping (settings, "gpus", row, "text", G_SETTINGS_BIND_DEFAULT, gpus_get,
                                gpus_set, NULL, NULL);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                             spin_row (settings, "tp", _("Tensor-Parallel GPUs"),
                                       _("How many GPUs share the model (1, 2 or 4)"), 1, 8, 1, 0));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), context_row (settings));
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (group));
  adw_preferences_window_add (ADW_PREFERENCES_WINDOW (window), ADW_PREFERENCES_PAGE (page));

  /* Generation */
  page = adw_preferences_page_new ();
  adw_preferences_page_set_title (ADW_PREFERENCES_PAGE (page), _("Generation"));
  adw_preferences_page_set_icon_name (ADW_PREFERENCES_PAGE (page), "document-edit-symbolic");
  group = adw_preferences_group_new ();
  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), _("Sampling"));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                             spin_row (settings, "temperature", _("Temperature"),
                                       _("0: always the most likely token"), 0, 2, 0.05, 2));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                             spin_row (settings, "top-p", _("Top-p"), NULL, 0, 1, 0.01, 2));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                             spin_row (settings, "top-k", _("Top-k"), _("0: off"), 0, 1000, 1, 0));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                             spin_row (settings, "min-p", _("Min-p"), _("0: off"), 0, 1, 0.01, 2));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                             spin_row (settings, "max-tokens", _("Maximum Tokens"),
                                       _("Per reply; 0: until the context is full"), 0, 202752, 256,
                                       0));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                             spin_row (settings, "seed", _("Seed"), _("0: a new one per reply"), 0,
                                       4294967295.0, 1, 0));
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (group));

  group = adw_preferences_group_new ();
  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), _("Conversation"));
  row = adw_action_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Think Before Answering"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), _("The default for new messages"));
  button = gtk_switch_new ();
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), button);
  g_settings_bind (settings, "thinking", button, "active", G_SETTINGS_BIND_DEFAULT);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  row = adw_entry_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("System Prompt"));
  g_settings_bind (settings, "system-prompt", row, "text", G_SETTINGS_BIND_DEFAULT);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (group));
  adw_preferences_window_add (ADW_PREFERENCES_WINDOW (window), ADW_PREFERENCES_PAGE (page));

  /* Appearance */
  page = adw_preferences_page_new ();
  adw_preferences_page_set_title (ADW_PREFERENCES_PAGE (page), _("Appearance"));
  adw_preferences_page_set_icon_name (ADW_PREFERENCES_PAGE (page),
                                      "applications-graphics-symbolic");
  group = adw_preferences_group_new ();
  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), _("Appearance"));
  row = nick_combo_row (settings, "color-scheme", _("Style"), schemes, color_scheme_nicks);
  gtk_widget_set_name (row, "color-scheme-row");  /* the GUI tests find it by name */
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (group));
  adw_preferences_window_add (ADW_PREFERENCES_WINDOW (window), ADW_PREFERENCES_PAGE (page));

  return GTK_WINDOW (window);
}
