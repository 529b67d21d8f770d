/* glimmer-tool-card.h: one tool call: name, editable pretty-JSON arguments, the approval
 * buttons (Allow once / Always allow / Deny) while it waits, then the collapsible result.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define GLIMMER_TYPE_TOOL_CARD (glimmer_tool_card_get_type ())
G_DECLARE_FINAL_TYPE (GlimmerToolCard, glimmer_tool_card, GLIMMER, TOOL_CARD, GtkWidget)

typedef enum {
  GLIMMER_TOOL_CARD_RUNNING,   /* approved (or always allowed), result not there yet */
  GLIMMER_TOOL_CARD_PENDING,   /* waiting for the user's decision */
  GLIMMER_TOOL_CARD_DONE,      /* result shown */
  GLIMMER_TOOL_CARD_DENIED,
} GlimmerToolCardState;

/* Results longer than this many characters are cut, with a "Show all" button. */
#define GLIMMER_TOOL_CARD_RESULT_PREVIEW 600

/* Signal "decided" (int decision: a GlimmerToolDecision value, const char *arguments: the
 * arguments as shown, possibly edited by the user). */
GtkWidget           *glimmer_tool_card_new           (const char *call_id, const char *name,
                                                      const char *arguments);
const char          *glimmer_tool_card_get_call_id   (GlimmerToolCard *self);
const char          *glimmer_tool_card_get_name      (GlimmerToolCard *self);
/* The arguments as shown now (pretty JSON, maybe edited). Free with g_free. */
char                *glimmer_tool_card_dup_arguments (GlimmerToolCard *self);
/* Ask for approval: buttons shown, arguments editable. */
void                 glimmer_tool_card_set_pending   (GlimmerToolCard *self);
void                 glimmer_tool_card_set_result    (GlimmerToolCard *self, const char *result,
                                                      gboolean ok);
GlimmerToolCardState glimmer_tool_card_get_state     (GlimmerToolCard *self);
/* The result text shown now (cut or whole). */
const char          *glimmer_tool_card_get_shown_result (GlimmerToolCard *self);
/* Press a button as the user would (tests, keyboard): 0 once, 1 always, 2 deny. */
void                 glimmer_tool_card_decide        (GlimmerToolCard *self, int decision);

/* Pretty-print a JSON text (two-space indent); invalid JSON comes back unchanged. */
char                *glimmer_tool_card_pretty_json   (const char *json);

G_END_DECLS
