/* glim-tools.h: the tools a model may call, shared by the app and glimmer-cli.
 * SPDX-License-Identifier: MIT
 *
 * A GlimToolRegistry holds tools: a name, a description, a JSON schema for the arguments and a
 * function that runs the call. Built-ins: `calculator` (a safe arithmetic evaluator over
 * numbers (integers and decimals), unary minus, + - * / and parentheses; never code
 * execution; argument `expr`) and `current_time` (no arguments; the local date and time as
 * "2026-11-29T17:48:55"). Their names, descriptions and schemas are exactly those the demo
 * model was trained with (tools/demo-model/make_corpus.py: CALCULATOR, CURRENT_TIME), and so
 * are their result texts. Later: more built-ins and MCP servers behind the same interface.
 *
 * Every run has a timeout and an output cap (GlimToolLimits); a tool that exceeds its time
 * is abandoned with an error result, output beyond the cap is cut with a note. A failed call
 * (unknown tool, arguments that do not match the schema, a division by zero) is not a GError:
 * it produces a result text that tells the model what went wrong, as the tool message. GError
 * is only for failures of the registry itself. */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "glim-chat.h"

G_BEGIN_DECLS

typedef struct {
  guint timeout_ms;        /* 0: 10 000 */
  gsize max_output_bytes;  /* 0: 16 384 */
} GlimToolLimits;

/* The outcome of one call. */
typedef struct {
  char    *output;         /* the text that becomes the tool message, never NULL */
  gboolean ok;             /* FALSE: output describes an error (unknown tool, bad arguments,
                            * timeout, the tool's own failure) */
  gboolean truncated;      /* output was cut at max_output_bytes */
  double   seconds;
} GlimToolResult;

void glim_tool_result_clear (GlimToolResult *result);

/* A tool implementation: read `arguments` (a JSON object, already checked against the
 * schema's required keys and types), write the result text, or set `error` (its message
 * becomes the error result). Runs on a worker thread; must honour `cancellable`. */
typedef char *(*GlimToolFunc) (JsonObject *arguments, GCancellable *cancellable,
                               gpointer user_data, GError **error);

typedef struct _GlimToolRegistry GlimToolRegistry;

GlimToolRegistry *glim_tool_registry_new          (void);            /* empty */
GlimToolRegistry *glim_tool_registry_new_builtin  (void);            /* calculator, current_time */
void              glim_tool_registry_free         (GlimToolRegistry *registry);
/* `parameters` (a JSON schema object) is referenced. Replaces a tool of the same name. */
void              glim_tool_registry_add          (GlimToolRegistry *registry, const char *name,
                                                   const char *description, JsonObject *parameters,
                                                   GlimToolFunc func, gpointer user_data,
                                                   GDestroyNotify destroy);
guint             glim_tool_registry_get_n_tools  (GlimToolRegistry *registry);
const char       *glim_tool_registry_get_name     (GlimToolRegistry *registry, guint i);
const char       *glim_tool_registry_get_description (GlimToolRegistry *registry,
                                                      const char *name);
gboolean          glim_tool_registry_has          (GlimToolRegistry *registry, const char *name);
/* Add every tool (or those named in `only`, NULL-terminated; NULL: all) to a chat request. */
void              glim_tool_registry_add_to_request (GlimToolRegistry *registry,
                                                     GlimChatRequest *request,
                                                     const char *const *only);
/* Run one call; `arguments_json` is the parser's arguments text. Blocks up to the timeout. */
void              glim_tool_registry_run          (GlimToolRegistry *registry, const char *name,
                                                   const char *arguments_json,
                                                   const GlimToolLimits *limits,
                                                   GCancellable *cancellable,
                                                   GlimToolResult *result);

/* The calculator's evaluator on its own: "37 * 41" -> 1517. Errors name the position. */
gboolean          glim_calculator_eval            (const char *expression, double *value,
                                                   GError **error);
/* A value as the calculator prints it (Python's format(v, ".10g") for non-integers, integers
 * exactly: "1517", "0.3333333333", "2.5"); inf/nan are refused by the evaluator. */
char             *glim_calculator_format          (double value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimToolRegistry, glim_tool_registry_free)

G_END_DECLS
