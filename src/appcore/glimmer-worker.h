/* glimmer-worker.h: the engine worker: one thread that owns the model, the session and the tools.
 * SPDX-License-Identifier: MIT
 *
 * The main thread never waits on the engine. It queues requests (load a model, generate a reply,
 * stop, answer a tool-approval request) and gets results back as signals, emitted on the main
 * context that created the worker (g_main_context_invoke). Text deltas are accumulated on the
 * worker and delivered at most every ~33 ms; everything else (reasoning finished, tool calls,
 * stats, finished messages, errors) as it happens.
 *
 * A reply is written into the conversation itself, on the main thread, so a save at any moment
 * (glimmer_history_save) holds everything generated so far: "message-started" appends an
 * assistant message (in_progress TRUE), "message-delta" has already added its text to it,
 * "message-finished" has set its final fields. The tool-call loop runs here: when the model
 * calls a tool the worker asks for approval ("tool-call-requested"; skipped for tools that are
 * always allowed), runs the tool through the registry (timeout and output cap), appends a tool
 * message (started/finished like any message) and generates again, until a reply without tool
 * calls, a stop, or an error. The session (and so its KV cache) is kept between turns of the
 * same conversation; the engine's prefix match prefills only the new tokens.
 *
 * Signals (all on the main context):
 *   "load-progress"       (guint64 done, guint64 total)           bytes of weights uploaded
 *   "load-finished"       (GError *error)                          NULL: the model is ready
 *   "message-started"     (GlimmerConversation *c, guint index)     a message was appended
 *   "message-delta"       (GlimmerConversation *c, guint index,
 *                          const char *reasoning, const char *content)  text added since the
 *                                                                  last delta ("" when none)
 *   "reasoning-finished"  (GlimmerConversation *c, guint index)     stats.thinking_seconds set
 *   "stats-updated"       (GlimmerConversation *c, guint index)     stats changed (live tokens/s)
 *   "tool-call-requested" (GlimmerConversation *c, guint index, GlimmerToolCall *call)
 *                          the assistant message `index` calls a tool that needs approval:
 *                          answer with glimmer_worker_answer_tool_call (generation waits)
 *   "message-finished"    (GlimmerConversation *c, guint index)     the message is final
 *   "generation-finished" (GlimmerConversation *c, GError *error)   the turn is over (NULL:
 *                          a final answer or a stop; else the engine's error, and what was
 *                          generated stays in the conversation)
 * Properties: "state" (GlimmerWorkerState), "model-name" (string, NULL until loaded),
 * "device-description" (string), "context-length" (int), "context-used" (int: tokens in the
 * cache after the last turn). */
#pragma once

#include <gio/gio.h>

#include "glim.h"
#include "glim-session.h"
#include "glim-tools.h"
#include "glimmer-conversation.h"

G_BEGIN_DECLS

#define GLIMMER_WORKER_ERROR (glimmer_worker_error_quark ())

typedef enum {
  GLIMMER_WORKER_ERROR_NO_MODEL,   /* generate before a model is loaded */
  GLIMMER_WORKER_ERROR_BUSY,       /* generate or load while a reply is being generated */
  GLIMMER_WORKER_ERROR_CANCELLED,  /* loading was cancelled */
} GlimmerWorkerError;

GQuark glimmer_worker_error_quark (void);

typedef enum {
  GLIMMER_WORKER_STATE_EMPTY,       /* no model */
  GLIMMER_WORKER_STATE_LOADING,     /* a model is being loaded */
  GLIMMER_WORKER_STATE_READY,       /* a model is loaded, nothing running */
  GLIMMER_WORKER_STATE_GENERATING,  /* a reply (with its tool loop) is running */
} GlimmerWorkerState;

GType glimmer_worker_state_get_type (void) G_GNUC_CONST;
#define GLIMMER_TYPE_WORKER_STATE (glimmer_worker_state_get_type ())

typedef enum {
  GLIMMER_TOOL_DECISION_ALLOW_ONCE,
  GLIMMER_TOOL_DECISION_ALLOW_ALWAYS,  /* and never ask again for this tool (this worker) */
  GLIMMER_TOOL_DECISION_DENY,          /* the tool message tells the model it was denied */
} GlimmerToolDecision;

typedef struct {
  const char  *folder;      /* the model folder */
  GlimBackend  backend;
  int          device;      /* first CUDA device */
  int          tp;          /* tensor-parallel ranks (1, 2, 4) */
  int          n_ctx;       /* context length in tokens; 0: automatic (glim-context.h) */
  int          n_threads;   /* CPU threads; 0: one per core */
} GlimmerLoadOptions;

/* CPU backend, device 0, tp 1, engine default context, all cores. */
void glimmer_load_options_init (GlimmerLoadOptions *options, const char *folder);

#define GLIMMER_TYPE_WORKER (glimmer_worker_get_type ())
G_DECLARE_FINAL_TYPE (GlimmerWorker, glimmer_worker, GLIMMER, WORKER, GObject)

/* Start the worker thread. `tools`: the registry the model may call (taken over; NULL: the
 * built-ins, glim_tool_registry_new_builtin). Signals go to the thread-default main context
 * of the caller. Disposing the worker stops what runs and joins the thread. */
GlimmerWorker     *glimmer_worker_new               (GlimToolRegistry *tools);
GlimmerWorkerState glimmer_worker_get_state         (GlimmerWorker *self);
const char        *glimmer_worker_get_model_name    (GlimmerWorker *self);
const char        *glimmer_worker_get_device_description (GlimmerWorker *self);
int                glimmer_worker_get_context_length (GlimmerWorker *self);
int                glimmer_worker_get_context_used  (GlimmerWorker *self);
/* Count the tokens of `conversation` (NULL or empty: 0) on the worker thread; context-used
 * changes when the count arrives. Does nothing unless a model is loaded and idle. */
void               glimmer_worker_count_context     (GlimmerWorker *self,
                                                     GlimmerConversation *conversation);
/* TRUE while a count asked for with glimmer_worker_count_context has not arrived. */
gboolean           glimmer_worker_is_counting       (GlimmerWorker *self);

/* Queue loading a model (replacing the loaded one). Progress and the result come as
 * "load-progress" / "load-finished"; a failure's message names the file or setting. FALSE with
 * BUSY while a reply is being generated. */
gboolean           glimmer_worker_load              (GlimmerWorker *self,
                                                     const GlimmerLoadOptions *options,
                                                     GError **error);
/* Cancel a load in progress ("load-finished" with CANCELLED follows). */
void               glimmer_worker_cancel_load       (GlimmerWorker *self);

/* Generate the assistant's reply to the conversation as it is now (it must end with a user or
 * tool message). The conversation must not be changed by anyone else until
 * "generation-finished". FALSE with NO_MODEL or BUSY, or an error naming a bad message. */
gboolean           glimmer_worker_generate          (GlimmerWorker *self,
                                                     GlimmerConversation *conversation,
                                                     const GlimmerGenerationSettings *settings,
                                                     GError **error);
/* Stop generating (Escape): the reply so far is kept and finished as interrupted; a pending
 * tool approval is answered with deny. No effect when idle. */
void               glimmer_worker_stop              (GlimmerWorker *self);

/* Answer "tool-call-requested". `arguments`: the (possibly edited) arguments JSON object text,
 * NULL to keep the model's; edited arguments replace the call's in the conversation. Invalid
 * JSON is not an error here: the tool reports it to the model as its result. */
void               glimmer_worker_answer_tool_call  (GlimmerWorker *self, const char *call_id,
                                                     GlimmerToolDecision decision,
                                                     const char *arguments);
/* Tools that run without asking (the GSettings key always-allowed-tools); NULL: none. */
void               glimmer_worker_set_always_allowed (GlimmerWorker *self,
                                                      const char *const *tools);
/* The current list, NULL-terminated (ALLOW_ALWAYS answers add to it). */
char             **glimmer_worker_dup_always_allowed (GlimmerWorker *self);
/* Cap on each tool run (0 fields: the registry defaults). */
void               glimmer_worker_set_tool_limits   (GlimmerWorker *self,
                                                     const GlimToolLimits *limits);

G_END_DECLS
