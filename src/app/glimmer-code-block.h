/* glimmer-code-block.h: a code block card: language label, copy button, highlighted source.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define GLIMMER_TYPE_CODE_BLOCK (glimmer_code_block_get_type ())
G_DECLARE_FINAL_TYPE (GlimmerCodeBlock, glimmer_code_block, GLIMMER, CODE_BLOCK, GtkWidget)

/* `language`: the fence's info word ("python", "py", "c++"...), or NULL for plain text. */
GtkWidget  *glimmer_code_block_new          (const char *language);
/* Show `text`; when it extends the current text only the new end is inserted (streaming). */
void        glimmer_code_block_set_text     (GlimmerCodeBlock *self, const char *text);
const char *glimmer_code_block_get_text     (GlimmerCodeBlock *self);
/* The fence word given at creation, or NULL. */
const char *glimmer_code_block_get_language (GlimmerCodeBlock *self);
/* The GtkSourceView language id used for highlighting ("python"), or NULL if none matched. */
const char *glimmer_code_block_get_language_id (GlimmerCodeBlock *self);

/* Load GtkSourceView's language definitions and colour schemes now (at startup, on idle), so
 * the first code block of a streamed answer does not stall a frame. */
void        glimmer_code_block_preload      (void);

G_END_DECLS
