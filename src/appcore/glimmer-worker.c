/* glimmer-worker.c: the engine worker thread: model loading, generation with the tool-call loop,
 * and the delivery of its events to the main thread.
 * SPDX-License-Identifier: MIT
 *
 * Two halves share one refcounted WorkerShared:
 *   - the worker thread (engine_*) owns the model, the session and the tool registry, takes
 *     jobs from a queue and sends Events to the main context with g_main_context_invoke;
 *   - the main thread (the GObject) applies each Event to the conversation and emits the
 *     signal. After dispose, `shared->self` is NULL and late events are dropped.
 * Text deltas are gathered on the worker and sent at most every FLUSH_US; any other event
 * sends the gathered text first, so the main thread sees everything in order. */
#define G_LOG_DOMAIN "glimmer-worker"

#include "glimmer-worker.h"

#include <stdlib.h>
#include <string.h>

#define FLUSH_US (33 * 1000)   /* at most one text delta per 33 ms */

G_DEFINE_QUARK (glimmer-worker-error-quark, glimmer_worker_error)

GType
glimmer_worker_state_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    { GLIMMER_WORKER_STATE_EMPTY, "GLIMMER_WORKER_STATE_EMPTY", "empty" },
    { GLIMMER_WORKER_STATE_LOADING, "GLIMMER_WORKER_STATE_LOADING", "loading" },
    { GLIMMER_WORKER_STATE_READY, "GLIMMER_WORKER_STATE_READY", "ready" },
    { GLIMMER_WORKER_STATE_GENERATING, "GLIMMER_WORKER_STATE_GENERATING", "generating" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GlimmerWorkerState", values));
  return type;
}

void
glimmer_load_options_init (GlimmerLoadOptions *options, const char *folder)
{
  g_return_if_fail (options != NULL);
  *options = (GlimmerLoadOptions) { .folder = folder, .backend = GLIM_BACKEND_CPU, .tp = 1 };
}

/* ---- shared state ---- */

typedef enum { JOB_LOAD, JOB_GENERATE, JOB_COUNT, JOB_QUIT } JobType;

typedef struct {
  JobType                   type;
  GCancellable             *cancel;
  /* LOAD */
  char                     *folder;
  GlimContextOptions        ctx;
  /* GENERATE, COUNT */
  GlimChatRequest          *request;
  GlimmerGenerationSettings settings;
  char                     *conversation_id;
} Job;

typedef struct {
  gatomicrefcount   ref;
  GlimmerWorker    *self;         /* main thread only; NULL once disposed */
  GMainContext     *context;      /* where events go */
  GAsyncQueue      *jobs;         /* Job * */
  GMutex            lock;
  GCond             cond;
  /* under lock */
  GHashTable       *always;       /* tool names that run without asking */
  GlimToolLimits    limits;
  gboolean          answered;     /* an answer to the pending approval arrived */
  char             *answer_id;
  GlimmerToolDecision decision;
  char             *answer_args;  /* NULL: unchanged */
  /* worker thread only */
  GlimModel        *model;
  GlimSession      *session;
  GlimToolRegistry *tools;
  char             *session_conversation;  /* whose turns the session's cache holds */
  char             *model_name;
  GString          *pending_reasoning;
  GString          *pending_content;
  gint64            last_flush;
  gint64            reasoning_start;
  double            thinking_seconds;
  gboolean          reasoning_done;
  gint64            last_progress;
} WorkerShared;

static WorkerShared *
shared_ref (WorkerShared *sh)
{
  g_atomic_ref_count_inc (&sh->ref);
  return sh;
}

static void
shared_unref (WorkerShared *sh)
{
  if (!g_atomic_ref_count_dec (&sh->ref))
    return;
  g_main_context_unref (sh->context);
  g_async_queue_unref (sh->jobs);
  g_mutex_clear (&sh->lock);
  g_cond_clear (&sh->cond);
  g_hash_table_unref (sh->always);
  g_free (sh->answer_id);
  g_free (sh->answer_args);
  g_string_free (sh->pending_reasoning, TRUE);
  g_string_free (sh->pending_content, TRUE);
  g_free (sh);
}

static void
job_free (Job *job)
{
  g_clear_object (&job->cancel);
  g_free (job->folder);
  g_clear_pointer (&job->request, glim_chat_request_free);
  g_free (job->conversation_id);
  g_free (job);
}

/* ---- events: worker -> main ---- */

typedef enum {
  EV_LOAD_PROGRESS,
  EV_LOAD_DONE,
  EV_MESSAGE_STARTED,
  EV_DELTA,
  EV_REASONING_FINISHED,
  EV_STATS,
  EV_TOOL_REQUEST,
  EV_MESSAGE_FINISHED,
  EV_GENERATION_DONE,
  EV_COUNTED,
} EventType;

typedef struct {
  WorkerShared       *sh;
  EventType           type;
  guint64             done, total;       /* LOAD_PROGRESS */
  GError             *error;             /* LOAD_DONE, GENERATION_DONE */
  char               *model_name;        /* LOAD_DONE */
  char               *device;            /* LOAD_DONE */
  int                 n_ctx, n_past;     /* LOAD_DONE, STATS */
  char               *reasoning;         /* DELTA */
  char               *content;           /* DELTA */
  double              seconds;           /* REASONING_FINISHED */
  GlimmerMessageStats stats;             /* STATS */
  GlimmerMessage     *message;           /* MESSAGE_STARTED, MESSAGE_FINISHED */
  GlimmerToolCall    *call;              /* TOOL_REQUEST */
  char               *conversation_id;   /* COUNTED (n_past: the count) */
} Event;

static void
event_free (Event *ev)
{
  shared_unref (ev->sh);
  g_clear_error (&ev->error);
  g_free (ev->model_name);
  g_free (ev->device);
  g_free (ev->reasoning);
  g_free (ev->content);
  g_clear_pointer (&ev->message, glimmer_message_free);
  g_clear_pointer (&ev->call, glimmer_tool_call_free);
  g_free (ev->conversation_id);
  g_free (ev);
}

static gboolean main_handle_event (gpointer data);  /* below, main-thread half */

static Event *
event_new (WorkerShared *sh, EventType type)
{
  Event *ev = g_new0 (Event, 1);
  ev->sh = shared_ref (sh);
  ev->type = type;
  return ev;
}

static void
event_send (Event *ev)
{
  g_main_context_invoke_full (ev->sh->context, G_PRIORITY_DEFAULT, main_handle_event, ev,
                              (GDestroyNotify) event_free);
}

/* Send the gathered text, if any. */
static void
engine_flush (WorkerShared *sh)
{
  sh->last_flush = g_get_monotonic_time ();
  if (sh->pending_reasoning->len == 0 && sh->pending_content->len == 0)
    return;
  Event *ev = event_new (sh, EV_DELTA);
  ev->reasoning = g_strndup (sh->pending_reasoning->str, sh->pending_reasoning->len);
  ev->content = g_strndup (sh->pending_content->str, sh->pending_content->len);
  g_string_truncate (sh->pending_reasoning, 0);
  g_string_truncate (sh->pending_content, 0);
  event_send (ev);
}

static void
engine_send (WorkerShared *sh, Event *ev)
{
  engine_flush (sh);
  event_send (ev);
}

/* ---- worker thread: loading ---- */

typedef struct {
  WorkerShared *sh;
  Job          *job;
} LoadCtx;

static gboolean
engine_load_progress (guint64 done, guint64 total, gpointer user_data)
{
  LoadCtx *lc = user_data;
  gint64 now = g_get_monotonic_time ();
  if (now - lc->sh->last_progress >= FLUSH_US || done == total) {
    lc->sh->last_progress = now;
    Event *ev = event_new (lc->sh, EV_LOAD_PROGRESS);
    ev->done = done;
    ev->total = total;
    event_send (ev);
  }
  return !g_cancellable_is_cancelled (lc->job->cancel);
}

static void
engine_unload (WorkerShared *sh)
{
  g_clear_pointer (&sh->session, glim_session_free);
  g_clear_pointer (&sh->model, glim_model_free);
  g_clear_pointer (&sh->session_conversation, g_free);
  g_clear_pointer (&sh->model_name, g_free);
}

static void
engine_load (WorkerShared *sh, Job *job)
{
  engine_unload (sh);
  Event *done = event_new (sh, EV_LOAD_DONE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimModel) model = glim_model_load (job->folder, NULL, &error);
  GlimSession *session = NULL;
  if (model && !g_cancellable_is_cancelled (job->cancel)) {
    LoadCtx lc = { sh, job };
    GlimContextOptions opts = job->ctx;
    /* the setting is one number for every model: a model that holds fewer positions (the
     * demo model's 4096 against the default 8192) gets all it has instead of failing to load */
    if (opts.n_ctx > model->config->max_position_embeddings)
      opts.n_ctx = model->config->max_position_embeddings;
    opts.progress = engine_load_progress;
    opts.progress_data = &lc;
    session = glim_session_new (model, &opts, &error);
  }
  if (g_cancellable_is_cancelled (job->cancel)) {
    g_clear_pointer (&session, glim_session_free);
    g_clear_error (&error);
    g_set_error (&error, GLIMMER_WORKER_ERROR, GLIMMER_WORKER_ERROR_CANCELLED,
                 "%s: loading was cancelled", job->folder);
  }
  if (session) {
    sh->model = g_steal_pointer (&model);
    sh->session = session;
    sh->model_name = g_path_get_basename (job->folder);
    done->model_name = g_strdup (sh->model_name);
    done->device = glim_context_describe_device (glim_session_context (session));
    done->n_ctx = glim_context_n_ctx (glim_session_context (session));
  } else {
    done->error = g_steal_pointer (&error);
  }
  event_send (done);
}

/* ---- worker thread: generation ---- */

static void
engine_on_session_event (const GlimSessionEvent *event, gpointer user_data)
{
  WorkerShared *sh = user_data;
  if (event->type == GLIM_SESSION_EVENT_PREFILLED) {
    sh->reasoning_start = g_get_monotonic_time ();
    return;
  }
  if (event->type == GLIM_SESSION_EVENT_STATS) {
    Event *ev = event_new (sh, EV_STATS);
    ev->stats.tokens_per_second = event->stats->decode_tokens_per_second;
    ev->stats.n_prompt = event->stats->n_prompt;
    ev->stats.n_generated = event->stats->n_generated;
    ev->stats.thinking_seconds = sh->thinking_seconds;
    ev->n_ctx = event->stats->n_ctx;
    ev->n_past = event->stats->n_past;
    engine_send (sh, ev);
    return;
  }
  const GlimParserEvent *pe = event->parser;
  switch (pe->type) {
  case GLIM_PARSER_EVENT_REASONING:
    g_string_append_len (sh->pending_reasoning, pe->text, pe->len);
    break;
  case GLIM_PARSER_EVENT_CONTENT:
    g_string_append_len (sh->pending_content, pe->text, pe->len);
    break;
  case GLIM_PARSER_EVENT_REASONING_END:
    if (!sh->reasoning_done) {
      sh->reasoning_done = TRUE;
      sh->thinking_seconds = (g_get_monotonic_time () - sh->reasoning_start) / 1e6;
      Event *ev = event_new (sh, EV_REASONING_FINISHED);
      ev->seconds = sh->thinking_seconds;
      engine_send (sh, ev);
    }
    return;
  default:
    return;
  }
  if (g_get_monotonic_time () - sh->last_flush >= FLUSH_US)
    engine_flush (sh);
}

/* Wait for the main thread's answer about `call`. Returns the decision; *arguments gets the
 * edited arguments (or NULL). A stop answers deny. */
static GlimmerToolDecision
engine_ask (WorkerShared *sh, Job *job, const GlimmerToolCall *call, char **arguments)
{
  *arguments = NULL;
  g_mutex_lock (&sh->lock);
  gboolean always = g_hash_table_contains (sh->always, call->name);
  sh->answered = FALSE;
  g_clear_pointer (&sh->answer_id, g_free);
  g_clear_pointer (&sh->answer_args, g_free);
  g_mutex_unlock (&sh->lock);
  if (always)
    return GLIMMER_TOOL_DECISION_ALLOW_ONCE;

  Event *ev = event_new (sh, EV_TOOL_REQUEST);
  ev->call = glimmer_tool_call_copy (call);
  engine_send (sh, ev);

  GlimmerToolDecision decision = GLIMMER_TOOL_DECISION_DENY;
  g_mutex_lock (&sh->lock);
  for (;;) {
    if (g_cancellable_is_cancelled (job->cancel))
      break;
    if (sh->answered && g_strcmp0 (sh->answer_id, call->id) == 0) {
      decision = sh->decision;
      *arguments = g_steal_pointer (&sh->answer_args);
      break;
    }
    sh->answered = FALSE;  /* an answer to some other call: ignore it */
    g_cond_wait (&sh->cond, &sh->lock);
  }
  if (decision == GLIMMER_TOOL_DECISION_ALLOW_ALWAYS)
    g_hash_table_add (sh->always, g_strdup (call->name));
  g_mutex_unlock (&sh->lock);
  return decision;
}

static JsonObject *
parse_object (const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, -1, NULL))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  return json_object_ref (json_node_get_object (root));
}

/* Decide, run and report one tool call; append its tool message to the request. */
static void
engine_run_tool (WorkerShared *sh, Job *job, GlimmerToolCall *call, GlimChatRequest *req)
{
  g_autofree char *edited = NULL;
  GlimmerToolDecision decision = engine_ask (sh, job, call, &edited);
  if (edited) {
    g_free (call->arguments);
    call->arguments = g_steal_pointer (&edited);
  }
  GlimmerMessage *tool = glimmer_message_new (GLIM_CHAT_ROLE_TOOL, "");
  tool->tool_call_id = g_strdup (call->id);
  tool->tool_name = g_strdup (call->name);
  Event *start = event_new (sh, EV_MESSAGE_STARTED);
  start->message = glimmer_message_copy (tool);
  engine_send (sh, start);

  if (g_cancellable_is_cancelled (job->cancel)) {
    glimmer_message_set_content (tool, "The user stopped the generation before this tool ran.");
    tool->tool_ok = FALSE;
  } else if (decision == GLIMMER_TOOL_DECISION_DENY) {
    glimmer_message_set_content (tool, "The user denied this tool call.");
    tool->tool_ok = FALSE;
  } else {
    GlimToolLimits limits;
    g_mutex_lock (&sh->lock);
    limits = sh->limits;
    g_mutex_unlock (&sh->lock);
    GlimToolResult result = { 0 };
    glim_tool_registry_run (sh->tools, call->name, call->arguments, &limits, job->cancel,
                            &result);
    glimmer_message_set_content (tool, result.output);
    tool->tool_ok = result.ok;
    glim_tool_result_clear (&result);
  }
  glim_chat_request_add_message (req, GLIM_CHAT_ROLE_TOOL, tool->content);
  Event *fin = event_new (sh, EV_MESSAGE_FINISHED);
  fin->message = tool;
  engine_send (sh, fin);
}

static GlimmerMessage *
engine_final_message (WorkerShared *sh, Job *job, GlimParserMessage *pm,
                      const GlimSessionStats *stats, gboolean ok)
{
  GlimmerMessage *m = glimmer_message_new (GLIM_CHAT_ROLE_ASSISTANT,
                                           pm ? glim_parser_message_content (pm) : "");
  if (pm) {
    glimmer_message_set_reasoning (m, glim_parser_message_reasoning (pm));
    for (guint i = 0; i < pm->tool_calls->len; i++) {
      GlimParserToolCall *c = pm->tool_calls->pdata[i];
      glimmer_message_add_tool_call (m, c->id, c->name, c->arguments->str);
    }
    if (pm->finished)
      m->finish_reason = g_strdup (glim_parser_finish_to_string (pm->finish));
  }
  m->interrupted = !ok || g_cancellable_is_cancelled (job->cancel);
  m->has_stats = TRUE;
  m->stats.tokens_per_second = stats->decode_tokens_per_second;
  m->stats.n_prompt = stats->n_prompt;
  m->stats.n_generated = stats->n_generated;
  m->stats.thinking_seconds = sh->thinking_seconds;
  glimmer_message_set_settings (m, &job->settings);
  m->model = g_strdup (sh->model_name);
  return m;
}

/* Count the tokens of a stored conversation's prompt, for the context-usage label. */
static void
engine_count (WorkerShared *sh, Job *job)
{
  if (sh->session == NULL)
    return;
  glim_tool_registry_add_to_request (sh->tools, job->request, NULL);
  Event *ev = event_new (sh, EV_COUNTED);
  ev->n_past = glim_session_count_tokens (sh->session, job->request);
  ev->conversation_id = g_strdup (job->conversation_id);
  event_send (ev);
}

static void
engine_generate (WorkerShared *sh, Job *job)
{
  GlimChatRequest *req = job->request;
  glim_tool_registry_add_to_request (sh->tools, req, NULL);
  if (g_strcmp0 (sh->session_conversation, job->conversation_id) != 0) {
    glim_session_reset (sh->session);
    g_free (sh->session_conversation);
    sh->session_conversation = g_strdup (job->conversation_id);
  }
  GlimGenerateOptions opts;
  glim_generate_options_init (&opts);
  opts.sampler.temperature = job->settings.temperature;
  opts.sampler.top_p = job->settings.top_p;
  opts.sampler.top_k = job->settings.top_k;
  opts.sampler.min_p = job->settings.min_p;
  opts.sampler.seed = job->settings.seed ? job->settings.seed
                    : ((guint64) g_random_int () << 32 | g_random_int ());
  opts.max_tokens = job->settings.max_tokens;

  g_autoptr (GError) error = NULL;
  for (;;) {
    GlimmerMessage *shell = glimmer_message_new (GLIM_CHAT_ROLE_ASSISTANT, "");
    shell->in_progress = TRUE;
    glimmer_message_set_settings (shell, &job->settings);
    shell->model = g_strdup (sh->model_name);
    if (job->settings.thinking)
      shell->reasoning = g_strdup ("");
    Event *start = event_new (sh, EV_MESSAGE_STARTED);
    start->message = shell;
    engine_send (sh, start);

    sh->reasoning_start = g_get_monotonic_time ();
    sh->thinking_seconds = 0;
    sh->reasoning_done = !job->settings.thinking;
    GlimParserMessage *pm = NULL;
    GlimSessionStats stats = { 0 };
    gboolean ok = glim_session_generate (sh->session, req, &opts, job->cancel,
                                         engine_on_session_event, sh, &pm, &stats, &error);
    if (!sh->reasoning_done && pm && pm->tool_calls->len == 0)
      sh->thinking_seconds = (g_get_monotonic_time () - sh->reasoning_start) / 1e6;
    GlimmerMessage *final = engine_final_message (sh, job, pm, &stats, ok);
    g_clear_pointer (&pm, glim_parser_message_free);
    gboolean more = ok && final->tool_calls->len > 0 && !g_cancellable_is_cancelled (job->cancel);

    /* the assistant turn goes into the request before the tool results */
    GlimChatMessage *cm = glim_chat_request_add_message (req, GLIM_CHAT_ROLE_ASSISTANT,
                                                         final->content);
    if (final->reasoning)
      glim_chat_message_set_reasoning (cm, final->reasoning);
    g_autoptr (GPtrArray) calls = g_ptr_array_new_with_free_func (
        (GDestroyNotify) glimmer_tool_call_free);
    for (guint i = 0; i < final->tool_calls->len; i++)
      g_ptr_array_add (calls, glimmer_tool_call_copy (final->tool_calls->pdata[i]));

    Event *fin = event_new (sh, EV_MESSAGE_FINISHED);
    fin->message = final;
    engine_send (sh, fin);
    if (!more)
      break;

    /* each call: approval, run, tool message; edited arguments go into the request */
    g_autoptr (GlimChatRequest) tool_msgs = glim_chat_request_new ();
    for (guint i = 0; i < calls->len; i++)
      engine_run_tool (sh, job, calls->pdata[i], tool_msgs);
    for (guint i = 0; i < calls->len; i++) {
      GlimmerToolCall *c = calls->pdata[i];
      JsonObject *args = parse_object (c->arguments);
      glim_chat_message_add_tool_call (cm, c->name, args);
      if (args)
        json_object_unref (args);
    }
    for (guint i = 0; i < glim_chat_request_get_n_messages (tool_msgs); i++)
      glim_chat_request_add_message (req, GLIM_CHAT_ROLE_TOOL,
                                     glim_chat_request_get_message (tool_msgs, i)->content);
    if (g_cancellable_is_cancelled (job->cancel))
      break;
  }
  Event *done = event_new (sh, EV_GENERATION_DONE);
  done->error = g_steal_pointer (&error);
  engine_send (sh, done);
}

static gpointer
engine_thread (gpointer data)
{
  WorkerShared *sh = data;
  /* A private thread-default context: without it g_main_context_invoke, called here with the
   * global default context while no thread iterates it, would acquire that context and run
   * the main-thread half on this thread. */
  GMainContext *own = g_main_context_new ();
  g_main_context_push_thread_default (own);
  for (;;) {
    Job *job = g_async_queue_pop (sh->jobs);
    JobType type = job->type;
    if (type == JOB_LOAD)
      engine_load (sh, job);
    else if (type == JOB_GENERATE)
      engine_generate (sh, job);
    else if (type == JOB_COUNT)
      engine_count (sh, job);
    job_free (job);
    if (type == JOB_QUIT)
      break;
  }
  engine_unload (sh);
  g_clear_pointer (&sh->tools, glim_tool_registry_free);
  g_main_context_pop_thread_default (own);
  g_main_context_unref (own);
  shared_unref (sh);
  return NULL;
}

/* ==== the main-thread half: the GObject ==== */

struct _GlimmerWorker {
  GObject              parent_instance;
  WorkerShared        *sh;
  GThread             *thread;
  GCancellable        *job_cancel;    /* the running load or generation */
  GlimmerWorkerState   state;
  char                *model_name;
  char                *device;
  int                  n_ctx;
  int                  n_used;
  GlimmerConversation *generating;    /* the conversation being answered */
  char                *counting_id;   /* the conversation whose count is awaited, or NULL */
  guint                current;       /* index of the message being written */
};

G_DEFINE_TYPE (GlimmerWorker, glimmer_worker, G_TYPE_OBJECT)

enum { PROP_0, PROP_STATE, PROP_MODEL_NAME, PROP_DEVICE, PROP_CONTEXT_LENGTH,
       PROP_CONTEXT_USED, N_PROPS };
static GParamSpec *props[N_PROPS];

enum { LOAD_PROGRESS, LOAD_FINISHED, MESSAGE_STARTED, MESSAGE_DELTA, REASONING_FINISHED,
       STATS_UPDATED, TOOL_CALL_REQUESTED, MESSAGE_FINISHED, GENERATION_FINISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
set_state (GlimmerWorker *self, GlimmerWorkerState state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

static void
set_context_used (GlimmerWorker *self, int n_used, int n_ctx)
{
  if (n_ctx > 0 && n_ctx != self->n_ctx) {
    self->n_ctx = n_ctx;
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_CONTEXT_LENGTH]);
  }
  if (n_used != self->n_used) {
    self->n_used = n_used;
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_CONTEXT_USED]);
  }
}

/* Copy the final fields of `from` into the conversation's message. */
static void
apply_final (GlimmerMessage *to, GlimmerMessage *from)
{
  glimmer_message_set_content (to, from->content);
  glimmer_message_set_reasoning (to, from->reasoning);
  g_ptr_array_set_size (to->tool_calls, 0);
  for (guint i = 0; i < from->tool_calls->len; i++)
    g_ptr_array_add (to->tool_calls, glimmer_tool_call_copy (from->tool_calls->pdata[i]));
  to->tool_ok = from->tool_ok;
  to->in_progress = FALSE;
  to->interrupted = from->interrupted;
  g_free (to->finish_reason);
  to->finish_reason = g_strdup (from->finish_reason);
  to->has_stats = from->has_stats;
  if (from->has_stats) {
    double thinking = to->stats.thinking_seconds;
    to->stats = from->stats;
    if (to->stats.thinking_seconds == 0)
      to->stats.thinking_seconds = thinking;
  }
  glimmer_message_set_settings (to, from->settings);
  g_free (to->model);
  to->model = g_strdup (from->model);
}

static GlimmerMessage *
current_message (GlimmerWorker *self)
{
  if (self->generating == NULL ||
      self->current >= glimmer_conversation_get_n_messages (self->generating))
    return NULL;
  return glimmer_conversation_get_message (self->generating, self->current);
}

static gboolean
main_handle_event (gpointer data)
{
  Event *ev = data;
  GlimmerWorker *self = ev->sh->self;
  if (self == NULL)
    return G_SOURCE_REMOVE;  /* disposed: drop it */
  g_autoptr (GlimmerWorker) keep = g_object_ref (self);
  GlimmerConversation *conv = self->generating;
  GlimmerMessage *m = current_message (self);

  switch (ev->type) {
  case EV_LOAD_PROGRESS:
    g_signal_emit (self, signals[LOAD_PROGRESS], 0, ev->done, ev->total);
    break;
  case EV_LOAD_DONE:
    g_clear_object (&self->job_cancel);
    g_free (self->model_name);
    self->model_name = g_strdup (ev->model_name);
    g_free (self->device);
    self->device = g_strdup (ev->device);
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MODEL_NAME]);
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_DEVICE]);
    set_context_used (self, 0, ev->n_ctx);
    set_state (self, ev->error ? GLIMMER_WORKER_STATE_EMPTY : GLIMMER_WORKER_STATE_READY);
    g_signal_emit (self, signals[LOAD_FINISHED], 0, ev->error);
    break;
  case EV_MESSAGE_STARTED:
    if (conv == NULL)
      break;
    self->current = glimmer_conversation_append (conv, g_steal_pointer (&ev->message));
    g_signal_emit (self, signals[MESSAGE_STARTED], 0, conv, self->current);
    break;
  case EV_DELTA:
    if (m == NULL)
      break;
    if (ev->reasoning[0]) {
      g_autofree char *r = g_strconcat (m->reasoning ? m->reasoning : "", ev->reasoning, NULL);
      glimmer_message_set_reasoning (m, r);
    }
    if (ev->content[0]) {
      g_autofree char *c = g_strconcat (m->content, ev->content, NULL);
      glimmer_message_set_content (m, c);
    }
    glimmer_conversation_message_updated (conv, self->current);
    g_signal_emit (self, signals[MESSAGE_DELTA], 0, conv, self->current, ev->reasoning,
                   ev->content);
    break;
  case EV_REASONING_FINISHED:
    if (m == NULL)
      break;
    m->stats.thinking_seconds = ev->seconds;
    glimmer_conversation_message_updated (conv, self->current);
    g_signal_emit (self, signals[REASONING_FINISHED], 0, conv, self->current);
    break;
  case EV_STATS:
    set_context_used (self, ev->n_past, ev->n_ctx);
    if (m == NULL)
      break;
    m->has_stats = TRUE;
    m->stats = ev->stats;
    glimmer_conversation_message_updated (conv, self->current);
    g_signal_emit (self, signals[STATS_UPDATED], 0, conv, self->current);
    break;
  case EV_TOOL_REQUEST:
    if (conv == NULL)
      break;
    g_signal_emit (self, signals[TOOL_CALL_REQUESTED], 0, conv, self->current, ev->call);
    break;
  case EV_MESSAGE_FINISHED:
    if (m == NULL)
      break;
    apply_final (m, ev->message);
    glimmer_conversation_message_updated (conv, self->current);
    g_signal_emit (self, signals[MESSAGE_FINISHED], 0, conv, self->current);
    break;
  case EV_COUNTED:
    /* only the latest request counts, and a reply since then reports its own usage */
    if (self->state == GLIMMER_WORKER_STATE_READY &&
        g_strcmp0 (ev->conversation_id, self->counting_id) == 0) {
      g_clear_pointer (&self->counting_id, g_free);
      set_context_used (self, MAX (ev->n_past, 0), 0);
    }
    break;
  case EV_GENERATION_DONE: {
    g_autoptr (GlimmerConversation) done = g_steal_pointer (&self->generating);
    g_clear_object (&self->job_cancel);
    set_state (self, GLIMMER_WORKER_STATE_READY);
    if (done)
      g_signal_emit (self, signals[GENERATION_FINISHED], 0, done, ev->error);
    break;
  }
  }
  return G_SOURCE_REMOVE;
}

/* ---- GObject ---- */

static void
glimmer_worker_dispose (GObject *object)
{
  GlimmerWorker *self = GLIMMER_WORKER (object);
  if (self->thread) {
    g_mutex_lock (&self->sh->lock);
    if (self->job_cancel)
      g_cancellable_cancel (self->job_cancel);
    g_cond_broadcast (&self->sh->cond);
    g_mutex_unlock (&self->sh->lock);
    Job *quit = g_new0 (Job, 1);
    quit->type = JOB_QUIT;
    g_async_queue_push (self->sh->jobs, quit);
    g_thread_join (g_steal_pointer (&self->thread));
  }
  if (self->sh) {
    self->sh->self = NULL;
    g_clear_pointer (&self->sh, shared_unref);
  }
  g_clear_object (&self->job_cancel);
  g_clear_object (&self->generating);
  G_OBJECT_CLASS (glimmer_worker_parent_class)->dispose (object);
}

static void
glimmer_worker_finalize (GObject *object)
{
  GlimmerWorker *self = GLIMMER_WORKER (object);
  g_free (self->model_name);
  g_free (self->device);
  g_free (self->counting_id);
  G_OBJECT_CLASS (glimmer_worker_parent_class)->finalize (object);
}

static void
glimmer_worker_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GlimmerWorker *self = GLIMMER_WORKER (object);
  switch (prop_id) {
  case PROP_STATE: g_value_set_enum (value, self->state); break;
  case PROP_MODEL_NAME: g_value_set_string (value, self->model_name); break;
  case PROP_DEVICE: g_value_set_string (value, self->device); break;
  case PROP_CONTEXT_LENGTH: g_value_set_int (value, self->n_ctx); break;
  case PROP_CONTEXT_USED: g_value_set_int (value, self->n_used); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
glimmer_worker_class_init (GlimmerWorkerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = glimmer_worker_dispose;
  object_class->finalize = glimmer_worker_finalize;
  object_class->get_property = glimmer_worker_get_property;

  GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  props[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, GLIMMER_TYPE_WORKER_STATE,
                                         GLIMMER_WORKER_STATE_EMPTY, ro);
  props[PROP_MODEL_NAME] = g_param_spec_string ("model-name", NULL, NULL, NULL, ro);
  props[PROP_DEVICE] = g_param_spec_string ("device-description", NULL, NULL, NULL, ro);
  props[PROP_CONTEXT_LENGTH] = g_param_spec_int ("context-length", NULL, NULL, 0, G_MAXINT, 0,
                                                 ro);
  props[PROP_CONTEXT_USED] = g_param_spec_int ("context-used", NULL, NULL, 0, G_MAXINT, 0, ro);
  g_object_class_install_properties (object_class, N_PROPS, props);

  GType t = G_TYPE_FROM_CLASS (klass);
  GType conv = GLIMMER_TYPE_CONVERSATION;
  signals[LOAD_PROGRESS] = g_signal_new ("load-progress", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL,
      NULL, G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_UINT64);
  signals[LOAD_FINISHED] = g_signal_new ("load-finished", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL,
      NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
  signals[MESSAGE_STARTED] = g_signal_new ("message-started", t, G_SIGNAL_RUN_LAST, 0, NULL,
      NULL, NULL, G_TYPE_NONE, 2, conv, G_TYPE_UINT);
  signals[MESSAGE_DELTA] = g_signal_new ("message-delta", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL,
      NULL, G_TYPE_NONE, 4, conv, G_TYPE_UINT, G_TYPE_STRING, G_TYPE_STRING);
  signals[REASONING_FINISHED] = g_signal_new ("reasoning-finished", t, G_SIGNAL_RUN_LAST, 0,
      NULL, NULL, NULL, G_TYPE_NONE, 2, conv, G_TYPE_UINT);
  signals[STATS_UPDATED] = g_signal_new ("stats-updated", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL,
      NULL, G_TYPE_NONE, 2, conv, G_TYPE_UINT);
  signals[TOOL_CALL_REQUESTED] = g_signal_new ("tool-call-requested", t, G_SIGNAL_RUN_LAST, 0,
      NULL, NULL, NULL, G_TYPE_NONE, 3, conv, G_TYPE_UINT, GLIMMER_TYPE_TOOL_CALL);
  signals[MESSAGE_FINISHED] = g_signal_new ("message-finished", t, G_SIGNAL_RUN_LAST, 0, NULL,
      NULL, NULL, G_TYPE_NONE, 2, conv, G_TYPE_UINT);
  signals[GENERATION_FINISHED] = g_signal_new ("generation-finished", t, G_SIGNAL_RUN_LAST, 0,
      NULL, NULL, NULL, G_TYPE_NONE, 2, conv, G_TYPE_ERROR);
}

static void
glimmer_worker_init (GlimmerWorker *self)
{
}

GlimmerWorker *
glimmer_worker_new (GlimToolRegistry *tools)
{
  GlimmerWorker *self = g_object_new (GLIMMER_TYPE_WORKER, NULL);
  WorkerShared *sh = g_new0 (WorkerShared, 1);
  g_atomic_ref_count_init (&sh->ref);
  sh->self = self;
  sh->context = g_main_context_ref_thread_default ();
  sh->jobs = g_async_queue_new_full ((GDestroyNotify) job_free);
  g_mutex_init (&sh->lock);
  g_cond_init (&sh->cond);
  sh->always = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  sh->tools = tools ? tools : glim_tool_registry_new_builtin ();
  sh->pending_reasoning = g_string_new (NULL);
  sh->pending_content = g_string_new (NULL);
  self->sh = sh;
  self->thread = g_thread_new ("glimmer-engine", engine_thread, shared_ref (sh));
  return self;
}

/* ---- public API (main thread) ---- */

GlimmerWorkerState
glimmer_worker_get_state (GlimmerWorker *self)
{
  g_return_val_if_fail (GLIMMER_IS_WORKER (self), GLIMMER_WORKER_STATE_EMPTY);
  return self->state;
}

const char *
glimmer_worker_get_model_name (GlimmerWorker *self)
{
  g_return_val_if_fail (GLIMMER_IS_WORKER (self), NULL);
  return self->model_name;
}

const char *
glimmer_worker_get_device_description (GlimmerWorker *self)
{
  g_return_val_if_fail (GLIMMER_IS_WORKER (self), NULL);
  return self->device;
}

int
glimmer_worker_get_context_length (GlimmerWorker *self)
{
  g_return_val_if_fail (GLIMMER_IS_WORKER (self), 0);
  return self->n_ctx;
}

int
glimmer_worker_get_context_used (GlimmerWorker *self)
{
  g_return_val_if_fail (GLIMMER_IS_WORKER (self), 0);
  return self->n_used;
}

gboolean
glimmer_worker_load (GlimmerWorker *self, const GlimmerLoadOptions *options, GError **error)
{
  g_return_val_if_fail (GLIMMER_IS_WORKER (self), FALSE);
  g_return_val_if_fail (options != NULL && options->folder != NULL, FALSE);
  if (self->state == GLIMMER_WORKER_STATE_GENERATING) {
    g_set_error (error, GLIMMER_WORKER_ERROR, GLIMMER_WORKER_ERROR_BUSY,
                 "a reply is being generated; stop it before loading %s", options->folder);
    return FALSE;
  }
  if (self->job_cancel)
    g_cancellable_cancel (self->job_cancel);  /* a load in progress: the new one replaces it */
  g_clear_object (&self->job_cancel);
  self->job_cancel = g_cancellable_new ();
  Job *job = g_new0 (Job, 1);
  job->type = JOB_LOAD;
  job->cancel = g_object_ref (self->job_cancel);
  job->folder = g_strdup (options->folder);
  job->ctx = (GlimContextOptions) {
    .backend = options->backend,
    .n_ctx = options->n_ctx,
    .n_threads = options->n_threads,
    .tp = options->tp,
    .device = options->device,
  };
  set_state (self, GLIMMER_WORKER_STATE_LOADING);
  g_async_queue_push (self->sh->jobs, job);
  return TRUE;
}

void
glimmer_worker_cancel_load (GlimmerWorker *self)
{
  g_return_if_fail (GLIMMER_IS_WORKER (self));
  if (self->state == GLIMMER_WORKER_STATE_LOADING && self->job_cancel)
    g_cancellable_cancel (self->job_cancel);
}

gboolean
glimmer_worker_generate (GlimmerWorker *self, GlimmerConversation *conversation,
                         const GlimmerGenerationSettings *settings, GError **error)
{
  g_return_val_if_fail (GLIMMER_IS_WORKER (self), FALSE);
  g_return_val_if_fail (GLIMMER_IS_CONVERSATION (conversation), FALSE);
  g_return_val_if_fail (settings != NULL, FALSE);
  if (self->state == GLIMMER_WORKER_STATE_GENERATING) {
    g_set_error (error, GLIMMER_WORKER_ERROR, GLIMMER_WORKER_ERROR_BUSY,
                 "a reply is already being generated");
    return FALSE;
  }
  if (self->state != GLIMMER_WORKER_STATE_READY) {
    g_set_error (error, GLIMMER_WORKER_ERROR, GLIMMER_WORKER_ERROR_NO_MODEL,
                 self->state == GLIMMER_WORKER_STATE_LOADING ? "the model is still loading"
                                                             : "no model is loaded");
    return FALSE;
  }
  guint n = glimmer_conversation_get_n_messages (conversation);
  GlimmerMessage *last = n ? glimmer_conversation_get_message (conversation, n - 1) : NULL;
  if (last == NULL || (last->role != GLIM_CHAT_ROLE_USER && last->role != GLIM_CHAT_ROLE_TOOL)) {
    g_set_error (error, GLIMMER_CONVERSATION_ERROR, GLIMMER_CONVERSATION_ERROR_INVALID,
                 "the conversation must end with a user or tool message to be answered");
    return FALSE;
  }
  GlimChatRequest *req = glimmer_conversation_to_request (conversation, settings->thinking,
                                                          error);
  if (req == NULL)
    return FALSE;
  self->job_cancel = g_cancellable_new ();
  Job *job = g_new0 (Job, 1);
  job->type = JOB_GENERATE;
  job->cancel = g_object_ref (self->job_cancel);
  job->request = req;
  job->settings = *settings;
  job->conversation_id = g_strdup (glimmer_conversation_get_id (conversation));
  g_set_object (&self->generating, conversation);
  g_clear_pointer (&self->counting_id, g_free);
  set_state (self, GLIMMER_WORKER_STATE_GENERATING);
  g_async_queue_push (self->sh->jobs, job);
  return TRUE;
}

void
glimmer_worker_count_context (GlimmerWorker *self, GlimmerConversation *conversation)
{
  g_autoptr (GError) error = NULL;
  g_return_if_fail (GLIMMER_IS_WORKER (self));
  if (self->state != GLIMMER_WORKER_STATE_READY)
    return;  /* loading: nothing to count with; generating: the reply reports its usage */
  g_clear_pointer (&self->counting_id, g_free);
  if (conversation == NULL || glimmer_conversation_get_n_messages (conversation) == 0) {
    set_context_used (self, 0, 0);
    return;
  }
  GlimChatRequest *req = glimmer_conversation_to_request (conversation, FALSE, &error);
  if (req == NULL) {
    g_warning ("context usage of %s: %s", glimmer_conversation_get_id (conversation),
               error->message);
    set_context_used (self, 0, 0);
    return;
  }
  Job *job = g_new0 (Job, 1);
  job->type = JOB_COUNT;
  job->request = req;
  job->conversation_id = g_strdup (glimmer_conversation_get_id (conversation));
  self->counting_id = g_strdup (job->conversation_id);
  g_async_queue_push (self->sh->jobs, job);
}

gboolean
glimmer_worker_is_counting (GlimmerWorker *self)
{
  g_return_val_if_fail (GLIMMER_IS_WORKER (self), FALSE);
  return self->counting_id != NULL;
}

void
glimmer_worker_stop (GlimmerWorker *self)
{
  g_return_if_fail (GLIMMER_IS_WORKER (self));
  if (self->state != GLIMMER_WORKER_STATE_GENERATING || self->job_cancel == NULL)
    return;
  g_mutex_lock (&self->sh->lock);
  g_cancellable_cancel (self->job_cancel);
  g_cond_broadcast (&self->sh->cond);
  g_mutex_unlock (&self->sh->lock);
}

void
glimmer_worker_answer_tool_call (GlimmerWorker *self, const char *call_id,
                                 GlimmerToolDecision decision, const char *arguments)
{
  g_return_if_fail (GLIMMER_IS_WORKER (self));
  g_return_if_fail (call_id != NULL);
  /* edited arguments replace the call's in the conversation (main thread owns it) */
  GlimmerMessage *m = current_message (self);
  GlimmerToolCall *call = m ? glimmer_message_find_tool_call (m, call_id) : NULL;
  if (call && arguments && decision != GLIMMER_TOOL_DECISION_DENY) {
    g_free (call->arguments);
    call->arguments = g_strdup (arguments);
    glimmer_conversation_message_updated (self->generating, self->current);
  }
  g_mutex_lock (&self->sh->lock);
  g_free (self->sh->answer_id);
  self->sh->answer_id = g_strdup (call_id);
  g_free (self->sh->answer_args);
  self->sh->answer_args = decision != GLIMMER_TOOL_DECISION_DENY ? g_strdup (arguments) : NULL;
  self->sh->decision = decision;
  self->sh->answered = TRUE;
  g_cond_broadcast (&self->sh->cond);
  g_mutex_unlock (&self->sh->lock);
}

void
glimmer_worker_set_always_allowed (GlimmerWorker *self, const char *const *tools)
{
  g_return_if_fail (GLIMMER_IS_WORKER (self));
  g_mutex_lock (&self->sh->lock);
  g_hash_table_remove_all (self->sh->always);
  for (guint i = 0; tools && tools[i]; i++)
    g_hash_table_add (self->sh->always, g_strdup (tools[i]));
  g_mutex_unlock (&self->sh->lock);
}

static int
compare_strings (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

char **
glimmer_worker_dup_always_allowed (GlimmerWorker *self)
{
  g_return_val_if_fail (GLIMMER_IS_WORKER (self), NULL);
  g_mutex_lock (&self->sh->lock);
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, self->sh->always);
  while (g_hash_table_iter_next (&it, &key, NULL))
    g_strv_builder_add (b, key);
  g_mutex_unlock (&self->sh->lock);
  char **out = g_strv_builder_end (b);
  /* sorted, so callers (and GSettings) see a stable list */
  qsort (out, g_strv_length (out), sizeof (char *), compare_strings);
  return out;
}

void
glimmer_worker_set_tool_limits (GlimmerWorker *self, const GlimToolLimits *limits)
{
  g_return_if_fail (GLIMMER_IS_WORKER (self));
  g_mutex_lock (&self->sh->lock);
  self->sh->limits = limits ? *limits : (GlimToolLimits) { 0 };
  g_mutex_unlock (&self->sh->lock);
}
