/* glimmer-history.c: the conversation store: one JSON file per conversation, atomic writes,
 * corrupt files moved aside, delete to a trash folder with undo, search and export.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-history"

#include "glimmer-history.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

struct _GlimmerHistory {
  GObject     parent_instance;
  char       *data_dir;   /* $GLIMMER_DATA_DIR or <user data dir>/glimmer */
  char       *conv_dir;   /* data_dir/conversations: <id>.json */
  char       *trash_dir;  /* data_dir/trash: deleted files until emptied */
  GListStore *store;      /* GlimmerConversation, newest updated first */
  GHashTable *trashed;    /* id -> GlimmerConversation deleted this session (for undo) */
};

G_DEFINE_TYPE (GlimmerHistory, glimmer_history, G_TYPE_OBJECT)
G_DEFINE_QUARK (glimmer-history-error-quark, glimmer_history_error)

static void
glimmer_history_finalize (GObject *object)
{
  GlimmerHistory *self = GLIMMER_HISTORY (object);
  g_free (self->data_dir);
  g_free (self->conv_dir);
  g_free (self->trash_dir);
  g_clear_object (&self->store);
  g_hash_table_unref (self->trashed);
  G_OBJECT_CLASS (glimmer_history_parent_class)->finalize (object);
}

static void
glimmer_history_class_init (GlimmerHistoryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = glimmer_history_finalize;
}

static void
glimmer_history_init (GlimmerHistory *self)
{
  self->store = g_list_store_new (GLIMMER_TYPE_CONVERSATION);
  self->trashed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}

static gboolean
make_dir (const char *path, GError **error)
{
  if (g_mkdir_with_parents (path, 0700) != 0) {
    int errsv = errno;
    g_set_error (error, GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_IO,
                 "%s: cannot create the folder: %s", path, g_strerror (errsv));
    return FALSE;
  }
  return TRUE;
}

GlimmerHistory *
glimmer_history_new (const char *data_dir, GError **error)
{
  g_autoptr (GlimmerHistory) self = g_object_new (GLIMMER_TYPE_HISTORY, NULL);
  const char *env = g_getenv ("GLIMMER_DATA_DIR");
  if (data_dir)
    self->data_dir = g_strdup (data_dir);
  else if (env && env[0])
    self->data_dir = g_strdup (env);
  else
    self->data_dir = g_build_filename (g_get_user_data_dir (), "glimmer", NULL);
  self->conv_dir = g_build_filename (self->data_dir, "conversations", NULL);
  self->trash_dir = g_build_filename (self->data_dir, "trash", NULL);
  if (!make_dir (self->conv_dir, error) || !make_dir (self->trash_dir, error))
    return NULL;
  return g_steal_pointer (&self);
}

const char *
glimmer_history_get_dir (GlimmerHistory *self)
{
  g_return_val_if_fail (GLIMMER_IS_HISTORY (self), NULL);
  return self->conv_dir;
}

GListModel *
glimmer_history_get_model (GlimmerHistory *self)
{
  g_return_val_if_fail (GLIMMER_IS_HISTORY (self), NULL);
  return G_LIST_MODEL (self->store);
}

/* ---- the sorted model ---- */

static int
compare_newest_first (gconstpointer a, gconstpointer b, gpointer user_data)
{
  gint64 ua = glimmer_conversation_get_updated ((GlimmerConversation *) a);
  gint64 ub = glimmer_conversation_get_updated ((GlimmerConversation *) b);
  if (ua != ub)
    return ua > ub ? -1 : 1;
  return g_strcmp0 (glimmer_conversation_get_id ((GlimmerConversation *) a),
                    glimmer_conversation_get_id ((GlimmerConversation *) b));
}

/* The same for g_ptr_array_sort_with_data, which passes pointers to the elements. */
static int
compare_newest_first_ptr (gconstpointer a, gconstpointer b, gpointer user_data)
{
  return compare_newest_first (*(gpointer const *) a, *(gpointer const *) b, user_data);
}

static gboolean
store_find (GlimmerHistory *self, GlimmerConversation *conv, guint *position)
{
  return g_list_store_find (self->store, conv, position);
}

/* Put `conv` at its place by `updated` (inserting it if absent). */
static void
store_place (GlimmerHistory *self, GlimmerConversation *conv)
{
  guint pos;
  g_object_ref (conv);
  if (store_find (self, conv, &pos)) {
    /* already in order: nothing to do (avoids needless items-changed while streaming) */
    guint n = g_list_model_get_n_items (G_LIST_MODEL (self->store));
    g_autoptr (GlimmerConversation) prev = pos > 0 ?
      g_list_model_get_item (G_LIST_MODEL (self->store), pos - 1) : NULL;
    g_autoptr (GlimmerConversation) next = pos + 1 < n ?
      g_list_model_get_item (G_LIST_MODEL (self->store), pos + 1) : NULL;
    if ((prev == NULL || compare_newest_first (prev, conv, NULL) <= 0) &&
        (next == NULL || compare_newest_first (conv, next, NULL) <= 0)) {
      g_object_unref (conv);
      return;
    }
    g_list_store_remove (self->store, pos);
  }
  g_list_store_insert_sorted (self->store, conv, compare_newest_first, NULL);
  g_object_unref (conv);
}

GlimmerConversation *
glimmer_history_lookup (GlimmerHistory *self, const char *id)
{
  g_return_val_if_fail (GLIMMER_IS_HISTORY (self), NULL);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  for (guint i = 0; i < n; i++) {
    g_autoptr (GlimmerConversation) c = g_list_model_get_item (G_LIST_MODEL (self->store), i);
    if (g_strcmp0 (glimmer_conversation_get_id (c), id) == 0)
      return c;  /* the store keeps its reference */
  }
  return NULL;
}

void
glimmer_history_add (GlimmerHistory *self, GlimmerConversation *conversation)
{
  g_return_if_fail (GLIMMER_IS_HISTORY (self));
  g_return_if_fail (GLIMMER_IS_CONVERSATION (conversation));
  store_place (self, conversation);
}

/* ---- reading ---- */

static char *
file_for (const char *dir, const char *id)
{
  g_autofree char *name = g_strconcat (id, ".json", NULL);
  return g_build_filename (dir, name, NULL);
}

/* Rename `path` to path.corrupt-<time> and return the error to report. */
static GError *
move_aside (const char *path, const GError *why)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  g_autofree char *aside = g_strconcat (path, ".corrupt-", stamp, NULL);
  for (int k = 1; g_file_test (aside, G_FILE_TEST_EXISTS) && k < 1000; k++) {
    g_free (aside);
    aside = g_strdup_printf ("%s.corrupt-%s-%d", path, stamp, k);
  }
  if (g_rename (path, aside) != 0) {
    int errsv = errno;
    return g_error_new (GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_CORRUPT,
                        "%s: not a readable conversation (%s); it could not be moved aside "
                        "(%s) and is left as it is", path, why->message, g_strerror (errsv));
  }
  return g_error_new (GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_CORRUPT,
                      "%s: not a readable conversation (%s); kept as %s", path, why->message,
                      aside);
}

static GlimmerConversation *
read_file (const char *path, const char *expect_id, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  g_autoptr (GlimmerConversation) conv = glimmer_conversation_new_from_data (data, len, error);
  if (conv == NULL)
    return NULL;
  if (expect_id && g_strcmp0 (glimmer_conversation_get_id (conv), expect_id) != 0) {
    g_set_error (error, GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_CORRUPT,
                 "id \"%s\" does not match the file name", glimmer_conversation_get_id (conv));
    return NULL;
  }
  return g_steal_pointer (&conv);
}

guint
glimmer_history_load (GlimmerHistory *self, GPtrArray **problems)
{
  g_return_val_if_fail (GLIMMER_IS_HISTORY (self), 0);
  if (problems)
    *problems = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  g_list_store_remove_all (self->store);

  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = g_dir_open (self->conv_dir, 0, &error);
  if (dir == NULL) {
    if (problems)
      g_ptr_array_add (*problems, g_error_new (GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_IO,
                                               "%s: %s", self->conv_dir, error->message));
    return 0;
  }
  g_autoptr (GPtrArray) loaded = g_ptr_array_new_with_free_func (g_object_unref);
  const char *name;
  while ((name = g_dir_read_name (dir))) {
    if (!g_str_has_suffix (name, ".json") || name[0] == '.')
      continue;
    g_autofree char *path = g_build_filename (self->conv_dir, name, NULL);
    g_autofree char *id = g_strndup (name, strlen (name) - strlen (".json"));
    g_autoptr (GError) local = NULL;
    GlimmerConversation *conv = read_file (path, id, &local);
    if (conv) {
      g_ptr_array_add (loaded, conv);
      continue;
    }
    GError *report;
    if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      continue;  /* gone since the listing */
    if (local->domain == G_FILE_ERROR)  /* unreadable, not corrupt: leave it */
      report = g_error_new (GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_IO, "%s: %s", path,
                            local->message);
    else
      report = move_aside (path, local);
    g_debug ("%s", report->message);
    if (problems)
      g_ptr_array_add (*problems, report);
    else
      g_error_free (report);
  }
  g_ptr_array_sort_with_data (loaded, compare_newest_first_ptr, NULL);
  g_list_store_splice (self->store, 0, 0, loaded->pdata, loaded->len);
  return loaded->len;
}

/* ---- writing ---- */

gboolean
glimmer_history_save (GlimmerHistory *self, GlimmerConversation *conversation, GError **error)
{
  g_return_val_if_fail (GLIMMER_IS_HISTORY (self), FALSE);
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (conversation), FALSE);
  g_autofree char *data = glimmer_conversation_to_json_data (conversation);
  g_autofree char *path = file_for (self->conv_dir, glimmer_conversation_get_id (conversation));
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents_full (path, data, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &local)) {
    g_set_error (error, GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_IO,
                 "%s: cannot save the conversation: %s", path, local->message);
    return FALSE;
  }
  store_place (self, conversation);
  return TRUE;
}

gboolean
glimmer_history_rename (GlimmerHistory *self, GlimmerConversation *conversation,
                        const char *title, GError **error)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (conversation), FALSE);
  glimmer_conversation_set_title (conversation, title);
  return glimmer_history_save (self, conversation, error);
}

static gboolean
move_file (const char *from, const char *to, GError **error)
{
  if (g_rename (from, to) != 0) {
    int errsv = errno;
    g_set_error (error, GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_IO,
                 "%s: cannot move it to %s: %s", from, to, g_strerror (errsv));
    return FALSE;
  }
  return TRUE;
}

gboolean
glimmer_history_delete (GlimmerHistory *self, GlimmerConversation *conversation,
                        GError **error)
{
  g_return_val_if_fail (GLIMMER_IS_HISTORY (self), FALSE);
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (conversation), FALSE);
  const char *id = glimmer_conversation_get_id (conversation);
  g_autofree char *path = file_for (self->conv_dir, id);
  g_autofree char *trash = file_for (self->trash_dir, id);
  if (g_file_test (path, G_FILE_TEST_EXISTS) && !move_file (path, trash, error))
    return FALSE;
  g_hash_table_replace (self->trashed, g_strdup (id), g_object_ref (conversation));
  guint pos;
  if (store_find (self, conversation, &pos))
    g_list_store_remove (self->store, pos);
  return TRUE;
}

GlimmerConversation *
glimmer_history_undo_delete (GlimmerHistory *self, const char *id, GError **error)
{
  g_return_val_if_fail (GLIMMER_IS_HISTORY (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);
  g_autofree char *path = file_for (self->conv_dir, id);
  g_autofree char *trash = file_for (self->trash_dir, id);
  GlimmerConversation *kept = g_hash_table_lookup (self->trashed, id);
  gboolean on_disk = g_file_test (trash, G_FILE_TEST_EXISTS);
  if (kept == NULL && !on_disk) {
    g_set_error (error, GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_NOT_FOUND,
                 "%s: no deleted conversation with this id", trash);
    return NULL;
  }
  g_autoptr (GlimmerConversation) conv = kept ? g_object_ref (kept) : NULL;
  if (conv == NULL && (conv = read_file (trash, id, error)) == NULL)
    return NULL;
  if (on_disk && !move_file (trash, path, error))
    return NULL;
  g_hash_table_remove (self->trashed, id);
  store_place (self, conv);
  return conv;  /* the store holds a reference */
}

gboolean
glimmer_history_empty_trash (GlimmerHistory *self, GError **error)
{
  g_return_val_if_fail (GLIMMER_IS_HISTORY (self), FALSE);
  g_hash_table_remove_all (self->trashed);
  g_autoptr (GDir) dir = g_dir_open (self->trash_dir, 0, error);
  if (dir == NULL)
    return FALSE;
  const char *name;
  while ((name = g_dir_read_name (dir))) {
    g_autofree char *path = g_build_filename (self->trash_dir, name, NULL);
    if (g_unlink (path) != 0) {
      int errsv = errno;
      g_set_error (error, GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_IO,
                   "%s: cannot remove it: %s", path, g_strerror (errsv));
      return FALSE;
    }
  }
  return TRUE;
}

/* ---- search and export ---- */

GPtrArray *
glimmer_history_search (GlimmerHistory *self, const char *query)
{
  g_return_val_if_fail (GLIMMER_IS_HISTORY (self), NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_object_unref);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  for (guint i = 0; i < n; i++) {
    GlimmerConversation *c = g_list_model_get_item (G_LIST_MODEL (self->store), i);
    if (glimmer_conversation_matches (c, query))
      g_ptr_array_add (out, c);
    else
      g_object_unref (c);
  }
  return out;
}

gboolean
glimmer_history_export (GlimmerConversation *conversation, GlimmerExportFormat format,
                        GFile *file, GError **error)
{
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (conversation), FALSE);
  g_return_val_if_fail (G_IS_FILE (file), FALSE);
  g_autofree char *data = format == GLIMMER_EXPORT_MARKDOWN
                        ? glimmer_conversation_to_markdown (conversation)
                        : glimmer_conversation_to_json_data (conversation);
  g_autoptr (GError) local = NULL;
  if (!g_file_replace_contents (file, data, strlen (data), NULL, FALSE,
                                G_FILE_CREATE_REPLACE_DESTINATION, NULL, NULL, &local)) {
    g_autofree char *name = g_file_get_parse_name (file);
    g_set_error (error, GLIMMER_HISTORY_ERROR, GLIMMER_HISTORY_ERROR_IO, "%s: %s", name,
                 local->message);
    return FALSE;
  }
  return TRUE;
}
