/* glimmer-history.h: the conversation store: one JSON file per conversation.
 * SPDX-License-Identifier: MIT
 *
 * Files live in $GLIMMER_DATA_DIR/conversations (tests), else
 * $XDG_DATA_HOME/glimmer/conversations (g_get_user_data_dir), named <id>.json. Writes are atomic
 * (g_file_set_contents_full, G_FILE_SET_CONTENTS_CONSISTENT): a crash leaves the old file or
 * the new one, never half of one. A file that cannot be read as a conversation is reported
 * (a GError naming the file) and renamed to <name>.corrupt-<YYYYmmdd-HHMMSS>, never deleted.
 * Delete moves the file to the trash folder next to conversations/ (trash/), undo moves it
 * back; glimmer_history_empty_trash removes trashed files for good (at startup, say).
 *
 * The store keeps the loaded conversations in a GListModel, newest `updated` first, for the
 * sidebar. Main thread only. */
#pragma once

#include <gio/gio.h>

#include "glimmer-conversation.h"

G_BEGIN_DECLS

#define GLIMMER_HISTORY_ERROR (glimmer_history_error_quark ())

typedef enum {
  GLIMMER_HISTORY_ERROR_CORRUPT,    /* a file is not a readable conversation (moved aside) */
  GLIMMER_HISTORY_ERROR_NOT_FOUND,  /* no conversation (or trashed one) with that id */
  GLIMMER_HISTORY_ERROR_IO,         /* reading, writing or moving a file failed */
} GlimmerHistoryError;

GQuark glimmer_history_error_quark (void);

typedef enum {
  GLIMMER_EXPORT_MARKDOWN,
  GLIMMER_EXPORT_JSON,
} GlimmerExportFormat;

#define GLIMMER_TYPE_HISTORY (glimmer_history_get_type ())
G_DECLARE_FINAL_TYPE (GlimmerHistory, glimmer_history, GLIMMER, HISTORY, GObject)

/* The store over `data_dir` (NULL: $GLIMMER_DATA_DIR, else g_get_user_data_dir()/glimmer);
 * creates conversations/ and trash/ under it. Loads nothing yet. */
GlimmerHistory *glimmer_history_new            (const char *data_dir, GError **error);
/* The folder holding the <id>.json files. */
const char     *glimmer_history_get_dir        (GlimmerHistory *self);
/* GlimmerConversation items, newest first. Borrowed. */
GListModel     *glimmer_history_get_model      (GlimmerHistory *self);

/* (Re)load every <id>.json file. Each file that fails is moved aside and its GError (naming
 * the file and the new name) is added to `problems` (optional; GError* with g_error_free).
 * Returns the number of conversations loaded. */
guint           glimmer_history_load           (GlimmerHistory *self, GPtrArray **problems);

/* Add a new conversation to the model (at the top). It is written on the first save. */
void            glimmer_history_add            (GlimmerHistory *self,
                                                GlimmerConversation *conversation);
/* Write the conversation's file atomically (adding it to the model if it is not there) and
 * move it to its place by `updated`. Call after every finished message and periodically
 * while a reply streams. */
gboolean        glimmer_history_save           (GlimmerHistory *self,
                                                GlimmerConversation *conversation,
                                                GError **error);
/* Set the title and save. */
gboolean        glimmer_history_rename         (GlimmerHistory *self,
                                                GlimmerConversation *conversation,
                                                const char *title, GError **error);
/* Move the file to trash/ and remove the conversation from the model (a conversation never
 * saved is just removed). */
gboolean        glimmer_history_delete         (GlimmerHistory *self,
                                                GlimmerConversation *conversation,
                                                GError **error);
/* Undo a delete: move trash/<id>.json back and put the conversation back in the model.
 * Returns it (borrowed from the model), or NULL with NOT_FOUND. */
GlimmerConversation *glimmer_history_undo_delete (GlimmerHistory *self, const char *id,
                                                  GError **error);
/* Remove every trashed file for good. */
gboolean        glimmer_history_empty_trash    (GlimmerHistory *self, GError **error);
/* The conversation with this id in the model, or NULL. Borrowed. */
GlimmerConversation *glimmer_history_lookup    (GlimmerHistory *self, const char *id);

/* The conversations matching `query` (glimmer_conversation_matches), newest first. The array
 * holds references. */
GPtrArray      *glimmer_history_search         (GlimmerHistory *self, const char *query);

/* Write the conversation to `file` as Markdown or pretty JSON (the same form as the history
 * file, so it can be imported by copying it into the conversations folder). */
gboolean        glimmer_history_export         (GlimmerConversation *conversation,
                                                GlimmerExportFormat format, GFile *file,
                                                GError **error);

G_END_DECLS
