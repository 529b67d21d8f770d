/* test-worker.c: the engine worker (src/appcore/glimmer-worker.c) on the bundled demo model.
 * SPDX-License-Identifier: MIT
 *
 * The demo model (data/demo-model, CPU backend, greedy) answers "What is 37 * 41?" by calling
 * the calculator. The registry here holds a fake `calculator` with the demo model's schema
 * that records its arguments, so the tool-call loop is checked end to end: approval, the run,
 * the tool message, the continued generation, and what the conversation holds afterwards. */
#include <glib.h>
#include <string.h>

#include "glimmer-worker.h"
#include "testutil.h"

/* ---- the fake tool ---- */

typedef struct {
  int   n_calls;
  char *last_expr;
} FakeTool;

static char *
fake_calculator (JsonObject *arguments, GCancellable *cancellable, gpointer user_data,
                 GError **error)
{
  FakeTool *fake = user_data;  /* runs on the worker thread; read after generation-finished */
  fake->n_calls++;
  g_free (fake->last_expr);
  fake->last_expr = g_strdup (json_object_get_string_member (arguments, "expr"));
  return g_strdup ("1517");
}

static GlimToolRegistry *
fake_registry (FakeTool *fake)
{
  GlimToolRegistry *reg = glim_tool_registry_new ();
  g_autoptr (JsonParser) p = json_parser_new ();
  g_assert_true (json_parser_load_from_data (p,
      "{\"type\": \"object\", \"properties\": {\"expr\": {\"type\": \"string\", "
      "\"description\": \"The expression, for example 37 * 41\"}}, \"required\": [\"expr\"]}",
      -1, NULL));
  glim_tool_registry_add (reg, "calculator",
                          "Evaluate an arithmetic expression with integers, + - * / and "
                          "parentheses.",
                          json_node_get_object (json_parser_get_root (p)), fake_calculator,
                          fake, NULL);
  return reg;
}

/* ---- a recorder of the worker's signals ---- */

typedef struct {
  GThread            *main_thread;  /* every signal must arrive here */
  GMainLoop          *loop;
  GlimmerWorker      *worker;
  GError             *load_error;
  gboolean            load_done;
  int                 n_progress;
  gboolean            gen_done;
  GError             *gen_error;
  int                 n_started;
  int                 n_finished;
  int                 n_deltas;
  int                 n_requests;
  GString            *reasoning;    /* all reasoning deltas */
  GString            *content;      /* all content deltas */
  GlimmerToolDecision decision;     /* how to answer tool requests */
  const char         *edit;         /* edited arguments, or NULL */
  gboolean            stop_at_request;
  gboolean            stop_at_delta;
  gint64              first_delta, last_delta;
} Rec;

static void
on_load_progress (GlimmerWorker *w, guint64 done, guint64 total, Rec *rec)
{
  g_assert_true (g_thread_self () == rec->main_thread);
  g_assert_cmpuint (done, <=, total);
  rec->n_progress++;
}

static void
on_load_finished (GlimmerWorker *w, GError *error, Rec *rec)
{
  g_assert_true (g_thread_self () == rec->main_thread);
  rec->load_done = TRUE;
  rec->load_error = error ? g_error_copy (error) : NULL;
  g_main_loop_quit (rec->loop);
}

static void
on_started (GlimmerWorker *w, GlimmerConversation *c, guint i, Rec *rec)
{
  g_assert_true (g_thread_self () == rec->main_thread);
  rec->n_started++;
  g_assert_cmpuint (i + 1, ==, glimmer_conversation_get_n_messages (c));
  GlimmerMessage *m = glimmer_conversation_get_message (c, i);
  if (m->role == GLIM_CHAT_ROLE_ASSISTANT) {
    g_assert_true (m->in_progress);
    g_string_truncate (rec->reasoning, 0);
    g_string_truncate (rec->content, 0);
  }
}

static void
on_delta (GlimmerWorker *w, GlimmerConversation *c, guint i, const char *reasoning,
          const char *content, Rec *rec)
{
  g_assert_true (g_thread_self () == rec->main_thread);
  rec->n_deltas++;
  rec->last_delta = g_get_monotonic_time ();
  if (rec->first_delta == 0)
    rec->first_delta = rec->last_delta;
  g_string_append (rec->reasoning, reasoning);
  g_string_append (rec->content, content);
  /* the message already holds the text: a save now loses nothing */
  GlimmerMessage *m = glimmer_conversation_get_message (c, i);
  g_assert_cmpstr (m->content, ==, rec->content->str);
  g_assert_true (m->in_progress);
  if (rec->stop_at_delta)
    glimmer_worker_stop (w);
}

static void
on_request (GlimmerWorker *w, GlimmerConversation *c, guint i, GlimmerToolCall *call, Rec *rec)
{
  g_assert_true (g_thread_self () == rec->main_thread);
  rec->n_requests++;
  GlimmerMessage *m = glimmer_conversation_get_message (c, i);
  g_assert_cmpint (m->role, ==, GLIM_CHAT_ROLE_ASSISTANT);
  g_assert_nonnull (glimmer_message_find_tool_call (m, call->id));
  g_assert_cmpstr (call->name, ==, "calculator");
  if (rec->stop_at_request)
    glimmer_worker_stop (w);
  else
    glimmer_worker_answer_tool_call (w, call->id, rec->decision, rec->edit);
}

static void
on_finished (GlimmerWorker *w, GlimmerConversation *c, guint i, Rec *rec)
{
  g_assert_true (g_thread_self () == rec->main_thread);
  rec->n_finished++;
  GlimmerMessage *m = glimmer_conversation_get_message (c, i);
  g_assert_false (m->in_progress);
  if (m->role == GLIM_CHAT_ROLE_ASSISTANT) {
    /* the deltas add up to the final text */
    g_assert_cmpstr (m->content, ==, rec->content->str);
    g_assert_cmpstr (m->reasoning ? m->reasoning : "", ==, rec->reasoning->str);
  }
}

static void
on_generation_finished (GlimmerWorker *w, GlimmerConversation *c, GError *error, Rec *rec)
{
  g_assert_true (g_thread_self () == rec->main_thread);
  rec->gen_done = TRUE;
  rec->gen_error = error ? g_error_copy (error) : NULL;
  g_main_loop_quit (rec->loop);
}

static gboolean
on_timeout (gpointer data)
{
  g_error ("the worker did not answer within the time limit");
  return G_SOURCE_REMOVE;
}

static void
rec_init (Rec *rec, GlimmerWorker *w)
{
  memset (rec, 0, sizeof *rec);
  rec->main_thread = g_thread_self ();
  rec->loop = g_main_loop_new (NULL, FALSE);
  rec->worker = w;
  rec->reasoning = g_string_new (NULL);
  rec->content = g_string_new (NULL);
  g_signal_connect (w, "load-progress", G_CALLBACK (on_load_progress), rec);
  g_signal_connect (w, "load-finished", G_CALLBACK (on_load_finished), rec);
  g_signal_connect (w, "message-started", G_CALLBACK (on_started), rec);
  g_signal_connect (w, "message-delta", G_CALLBACK (on_delta), rec);
  g_signal_connect (w, "tool-call-requested", G_CALLBACK (on_request), rec);
  g_signal_connect (w, "message-finished", G_CALLBACK (on_finished), rec);
  g_signal_connect (w, "generation-finished", G_CALLBACK (on_generation_finished), rec);
}

static void
rec_clear (Rec *rec)
{
  g_signal_handlers_disconnect_by_data (rec->worker, rec);
  g_main_loop_unref (rec->loop);
  g_clear_error (&rec->load_error);
  g_clear_error (&rec->gen_error);
  g_string_free (rec->reasoning, TRUE);
  g_string_free (rec->content, TRUE);
}

static void
run_loop (Rec *rec)
{
  guint id = g_timeout_add_seconds (300, on_timeout, NULL);
  g_main_loop_run (rec->loop);
  g_source_remove (id);
}

/* A worker with the demo model loaded on the CPU; NULL (test skipped) without the model. */
static GlimmerWorker *
load_demo (FakeTool *fake, Rec *rec)
{
  g_autofree char *dir = test_demo_model_dir ();
  g_autofree char *config = g_build_filename (dir, "config.json", NULL);
  if (!g_file_test (config, G_FILE_TEST_EXISTS)) {
    g_test_skip ("data/demo-model is not here");
    return NULL;
  }
  GlimmerWorker *w = glimmer_worker_new (fake_registry (fake));
  rec_init (rec, w);
  GlimmerLoadOptions opts;
  glimmer_load_options_init (&opts, dir);
  opts.n_ctx = 2048;
  opts.n_threads = 2;
  g_autoptr (GError) error = NULL;
  g_assert_true (glimmer_worker_load (w, &opts, &error));
  g_assert_no_error (error);
  g_assert_cmpint (glimmer_worker_get_state (w), ==, GLIMMER_WORKER_STATE_LOADING);
  run_loop (rec);
  g_assert_no_error (rec->load_error);
  g_assert_cmpint (glimmer_worker_get_state (w), ==, GLIMMER_WORKER_STATE_READY);
  g_assert_cmpstr (glimmer_worker_get_model_name (w), ==, "demo-model");
  g_assert_cmpint (glimmer_worker_get_context_length (w), ==, 2048);
  return w;
}

static GlimmerConversation *
ask (const char *question)
{
  GlimmerConversation *c = glimmer_conversation_new ();
  glimmer_conversation_append (c, glimmer_message_new (GLIM_CHAT_ROLE_USER, question));
  return c;
}

static void
generate (GlimmerWorker *w, GlimmerConversation *c, Rec *rec)
{
  GlimmerGenerationSettings s;
  glimmer_generation_settings_init (&s);
  s.temperature = 0;
  s.max_tokens = 200;
  g_autoptr (GError) error = NULL;
  g_assert_true (glimmer_worker_generate (w, c, &s, &error));
  g_assert_no_error (error);
  g_assert_cmpint (glimmer_worker_get_state (w), ==, GLIMMER_WORKER_STATE_GENERATING);
  /* a second request while busy is refused */
  g_assert_false (glimmer_worker_generate (w, c, &s, &error));
  g_assert_error (error, GLIMMER_WORKER_ERROR, GLIMMER_WORKER_ERROR_BUSY);
  run_loop (rec);
  g_assert_cmpint (glimmer_worker_get_state (w), ==, GLIMMER_WORKER_STATE_READY);
}

/* ---- tests ---- */

static void
test_load_error (void)
{
  g_autoptr (GlimmerWorker) w = glimmer_worker_new (NULL);
  Rec rec;
  rec_init (&rec, w);
  g_autofree char *tmp = test_make_tmpdir ();
  g_autofree char *missing = g_build_filename (tmp, "no-model-here", NULL);
  GlimmerLoadOptions opts;
  glimmer_load_options_init (&opts, missing);
  g_assert_true (glimmer_worker_load (w, &opts, NULL));
  /* the main loop is not running while the load fails: the result must still wait for it */
  g_usleep (G_USEC_PER_SEC / 2);
  g_assert_false (rec.load_done);
  run_loop (&rec);
  g_assert_nonnull (rec.load_error);
  g_assert_nonnull (strstr (rec.load_error->message, "no-model-here"));  /* names the folder */
  g_assert_cmpint (glimmer_worker_get_state (w), ==, GLIMMER_WORKER_STATE_EMPTY);

  g_autoptr (GlimmerConversation) c = ask ("hello");
  GlimmerGenerationSettings s;
  glimmer_generation_settings_init (&s);
  g_autoptr (GError) error = NULL;
  g_assert_false (glimmer_worker_generate (w, c, &s, &error));
  g_assert_error (error, GLIMMER_WORKER_ERROR, GLIMMER_WORKER_ERROR_NO_MODEL);
  g_assert_cmpuint (glimmer_conversation_get_n_messages (c), ==, 1);
  rec_clear (&rec);
  test_rmtree (tmp);
}

/* A context length above what the model holds (the app's default 8192 against the demo
 * model's 4096) loads with the model's maximum instead of failing. */
static void
test_load_clamps_context (void)
{
  g_autofree char *dir = test_demo_model_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimConfig) config = glim_config_load (dir, &error);
  if (config == NULL) {
    g_test_skip ("data/demo-model is not here");
    return;
  }
  g_autoptr (GlimmerWorker) w = glimmer_worker_new (NULL);
  Rec rec;
  rec_init (&rec, w);
  GlimmerLoadOptions opts;
  glimmer_load_options_init (&opts, dir);
  opts.n_ctx = config->max_position_embeddings * 2;
  opts.n_threads = 2;
  g_assert_true (glimmer_worker_load (w, &opts, &error));
  run_loop (&rec);
  g_assert_no_error (rec.load_error);
  g_assert_cmpint (glimmer_worker_get_state (w), ==, GLIMMER_WORKER_STATE_READY);
  g_assert_cmpint (glimmer_worker_get_context_length (w), ==, config->max_position_embeddings);
  rec_clear (&rec);
}

static void
test_tool_loop (void)
{
  FakeTool fake = { 0 };
  Rec rec;
  g_autoptr (GlimmerWorker) w = load_demo (&fake, &rec);
  if (w == NULL)
    return;
  rec.decision = GLIMMER_TOOL_DECISION_ALLOW_ONCE;
  g_autoptr (GlimmerConversation) c = ask ("What is 37 * 41?");
  gint64 t0 = g_get_monotonic_time ();
  generate (w, c, &rec);
  gint64 elapsed = g_get_monotonic_time () - t0;
  g_assert_no_error (rec.gen_error);

  /* user, assistant calling the tool, the tool's result, the final answer */
  g_assert_cmpuint (glimmer_conversation_get_n_messages (c), ==, 4);
  GlimmerMessage *call_msg = glimmer_conversation_get_message (c, 1);
  GlimmerMessage *tool = glimmer_conversation_get_message (c, 2);
  GlimmerMessage *answer = glimmer_conversation_get_message (c, 3);
  g_assert_cmpint (call_msg->role, ==, GLIM_CHAT_ROLE_ASSISTANT);
  g_assert_cmpuint (call_msg->tool_calls->len, ==, 1);
  GlimmerToolCall *call = call_msg->tool_calls->pdata[0];
  g_assert_cmpstr (call->name, ==, "calculator");
  g_assert_cmpstr (call->arguments, ==, "{\"expr\": \"37 * 41\"}");
  g_assert_cmpstr (call_msg->finish_reason, ==, "tool_calls");
  g_assert_nonnull (call_msg->reasoning);
  g_assert_cmpint (tool->role, ==, GLIM_CHAT_ROLE_TOOL);
  g_assert_cmpstr (tool->tool_call_id, ==, call->id);
  g_assert_cmpstr (tool->tool_name, ==, "calculator");
  g_assert_cmpstr (tool->content, ==, "1517");
  g_assert_true (tool->tool_ok);
  g_assert_cmpint (answer->role, ==, GLIM_CHAT_ROLE_ASSISTANT);
  g_assert_nonnull (strstr (answer->content, "1517"));
  g_assert_cmpstr (answer->finish_reason, ==, "stop");
  g_assert_false (answer->interrupted);
  g_assert_true (answer->has_stats);
  g_assert_cmpint (answer->stats.n_generated, >, 0);
  g_assert_nonnull (answer->settings);
  g_assert_cmpstr (answer->model, ==, "demo-model");

  g_assert_cmpint (fake.n_calls, ==, 1);
  g_assert_cmpstr (fake.last_expr, ==, "37 * 41");
  g_assert_cmpint (rec.n_requests, ==, 1);
  g_assert_cmpint (rec.n_started, ==, 3);
  g_assert_cmpint (rec.n_finished, ==, 3);
  g_assert_cmpint (glimmer_worker_get_context_used (w), >, 0);
  /* coalesced: no more deltas than 33 ms slots, plus the flushes forced by other events */
  int n_tokens = call_msg->stats.n_generated + answer->stats.n_generated;
  g_test_message ("%d deltas for %d tokens in %.0f ms", rec.n_deltas, n_tokens, elapsed / 1e3);
  g_assert_cmpint (rec.n_deltas, >, 0);
  g_assert_cmpint (rec.n_deltas, <=, elapsed / 33000 + 16);
  rec_clear (&rec);
  g_free (fake.last_expr);
}

static void
test_deny (void)
{
  FakeTool fake = { 0 };
  Rec rec;
  g_autoptr (GlimmerWorker) w = load_demo (&fake, &rec);
  if (w == NULL)
    return;
  rec.decision = GLIMMER_TOOL_DECISION_DENY;
  g_autoptr (GlimmerConversation) c = ask ("What is 37 * 41?");
  generate (w, c, &rec);
  g_assert_no_error (rec.gen_error);
  g_assert_cmpint (fake.n_calls, ==, 0);
  g_assert_cmpuint (glimmer_conversation_get_n_messages (c), >=, 4);
  GlimmerMessage *tool = glimmer_conversation_get_message (c, 2);
  g_assert_cmpint (tool->role, ==, GLIM_CHAT_ROLE_TOOL);
  g_assert_cmpstr (tool->content, ==, "The user denied this tool call.");
  g_assert_false (tool->tool_ok);
  guint n = glimmer_conversation_get_n_messages (c);
  GlimmerMessage *last = glimmer_conversation_get_message (c, n - 1);
  g_assert_cmpint (last->role, ==, GLIM_CHAT_ROLE_ASSISTANT);
  g_assert_false (last->in_progress);
  rec_clear (&rec);
}

static void
test_always_and_edit (void)
{
  FakeTool fake = { 0 };
  Rec rec;
  g_autoptr (GlimmerWorker) w = load_demo (&fake, &rec);
  if (w == NULL)
    return;
  /* edited arguments reach the tool and replace the call's in the conversation; "always"
   * is remembered */
  rec.decision = GLIMMER_TOOL_DECISION_ALLOW_ALWAYS;
  rec.edit = "{\"expr\": \"2 * 3\"}";
  g_autoptr (GlimmerConversation) c = ask ("What is 37 * 41?");
  generate (w, c, &rec);
  g_assert_no_error (rec.gen_error);
  g_assert_cmpint (fake.n_calls, ==, 1);
  g_assert_cmpstr (fake.last_expr, ==, "2 * 3");
  GlimmerMessage *call_msg = glimmer_conversation_get_message (c, 1);
  GlimmerToolCall *call = call_msg->tool_calls->pdata[0];
  g_assert_cmpstr (call->arguments, ==, "{\"expr\": \"2 * 3\"}");
  g_auto (GStrv) always = glimmer_worker_dup_always_allowed (w);
  g_assert_cmpuint (g_strv_length (always), ==, 1);
  g_assert_cmpstr (always[0], ==, "calculator");

  /* next time it runs without asking */
  rec.n_requests = 0;
  g_autoptr (GlimmerConversation) c2 = ask ("What is 12 * 12?");
  generate (w, c2, &rec);
  g_assert_no_error (rec.gen_error);
  g_assert_cmpint (rec.n_requests, ==, 0);
  g_assert_cmpint (fake.n_calls, ==, 2);
  g_assert_cmpstr (fake.last_expr, ==, "12 * 12");

  /* and set_always_allowed (NULL) takes it back */
  glimmer_worker_set_always_allowed (w, NULL);
  g_auto (GStrv) none = glimmer_worker_dup_always_allowed (w);
  g_assert_cmpuint (g_strv_length (none), ==, 0);
  rec_clear (&rec);
  g_free (fake.last_expr);
}

static void
test_stop (void)
{
  FakeTool fake = { 0 };
  Rec rec;
  g_autoptr (GlimmerWorker) w = load_demo (&fake, &rec);
  if (w == NULL)
    return;
  /* stop while a tool waits for approval: no tool runs, nothing is lost */
  rec.stop_at_request = TRUE;
  g_autoptr (GlimmerConversation) c = ask ("What is 37 * 41?");
  generate (w, c, &rec);
  g_assert_no_error (rec.gen_error);
  g_assert_cmpint (fake.n_calls, ==, 0);
  g_assert_cmpuint (glimmer_conversation_get_n_messages (c), ==, 3);
  GlimmerMessage *call_msg = glimmer_conversation_get_message (c, 1);
  g_assert_cmpuint (call_msg->tool_calls->len, ==, 1);
  GlimmerMessage *tool = glimmer_conversation_get_message (c, 2);
  g_assert_cmpint (tool->role, ==, GLIM_CHAT_ROLE_TOOL);
  g_assert_false (tool->tool_ok);

  /* stop at the first delta: the text so far is kept, marked interrupted */
  rec.stop_at_request = FALSE;
  rec.stop_at_delta = TRUE;
  g_autoptr (GlimmerConversation) c2 = ask ("Hello!");
  generate (w, c2, &rec);
  g_assert_no_error (rec.gen_error);
  g_assert_cmpuint (glimmer_conversation_get_n_messages (c2), ==, 2);
  GlimmerMessage *m = glimmer_conversation_get_message (c2, 1);
  g_assert_true (m->interrupted);
  g_assert_false (m->in_progress);
  g_assert_cmpuint (strlen (m->content) + strlen (m->reasoning ? m->reasoning : ""), >, 0);
  rec_clear (&rec);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/worker/load-error", test_load_error);
  g_test_add_func ("/glimmer/worker/load-clamps-context", test_load_clamps_context);
  g_test_add_func ("/glimmer/worker/tool-loop", test_tool_loop);
  g_test_add_func ("/glimmer/worker/deny", test_deny);
  g_test_add_func ("/glimmer/worker/always-and-edit", test_always_and_edit);
  g_test_add_func ("/glimmer/worker/stop", test_stop);
  return g_test_run ();
}
