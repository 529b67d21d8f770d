/* test-session.c: GlimSession (engine/glim-session.h) on the bundled demo model, CPU, greedy:
 * prefix reuse gives exactly a fresh session's output, cancellation keeps the partial
 * message, max_tokens and a full context finish with "length", a prompt longer than the
 * context is refused and the session stays usable.
 * SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <string.h>

typedef struct {
  GlimModel *model;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = test_demo_model_dir ();
  f->model = test_load_model (dir);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  glim_model_free (f->model);
}

static GlimSession *
open_session (Fixture *f, int n_ctx)
{
  GlimContextOptions opts = { .backend = GLIM_BACKEND_CPU, .n_ctx = n_ctx };
  g_autoptr (GError) error = NULL;
  GlimSession *s = glim_session_new (f->model, &opts, &error);
  g_assert_no_error (error);
  g_assert_nonnull (s);
  return s;
}

static GlimChatRequest *
arithmetic_request (void)
{
  GlimChatRequest *req = glim_chat_request_new ();
  g_autoptr (GlimToolRegistry) reg = glim_tool_registry_new_builtin ();
  glim_tool_registry_add_to_request (reg, req, NULL);
  glim_chat_request_add_message (req, GLIM_CHAT_ROLE_USER, "What is 37 * 41?");
  return req;
}

/* Events of one call, checked for order as they come. */
typedef struct {
  int           n_prefilled, n_stats, n_parser, n_reasoning, n_finish;
  gboolean      after_finish;         /* any event after FINISH: wrong */
  int           cancel_after;         /* cancel after this many REASONING deltas; 0: never */
  GCancellable *cancellable;
  GlimSessionStats last_stats;
} Events;

static void
on_event (const GlimSessionEvent *ev, gpointer data)
{
  Events *e = data;
  if (e->n_finish > 0)
    e->after_finish = TRUE;
  g_assert_nonnull (ev->stats);
  e->last_stats = *ev->stats;
  switch (ev->type) {
  case GLIM_SESSION_EVENT_PREFILLED:
    g_assert_cmpint (e->n_prefilled + e->n_stats + e->n_parser, ==, 0);
    e->n_prefilled++;
    break;
  case GLIM_SESSION_EVENT_STATS:
    e->n_stats++;
    break;
  case GLIM_SESSION_EVENT_PARSER:
    g_assert_nonnull (ev->parser);
    e->n_parser++;
    if (ev->parser->type == GLIM_PARSER_EVENT_REASONING && ev->parser->len > 0) {
      e->n_reasoning++;
      if (e->cancel_after > 0 && e->n_reasoning == e->cancel_after)
        g_cancellable_cancel (e->cancellable);
    }
    if (ev->parser->type == GLIM_PARSER_EVENT_FINISH)
      e->n_finish++;
    break;
  }
}

static GlimParserMessage *
generate (GlimSession *s, const GlimChatRequest *req, int max_tokens, GCancellable *c,
          Events *events, GlimSessionStats *stats)
{
  GlimGenerateOptions opts;
  glim_generate_options_init (&opts);
  opts.max_tokens = max_tokens;
  opts.id_seed = 7;
  Events local = { 0 };
  if (events == NULL)
    events = &local;
  GlimParserMessage *msg = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (glim_session_generate (s, req, &opts, c, on_event, events, &msg, stats,
                                        &error));
  g_assert_no_error (error);
  g_assert_nonnull (msg);
  g_assert_cmpint (events->n_prefilled, ==, 1);
  g_assert_cmpint (events->n_finish, ==, 1);
  g_assert_false (events->after_finish);
  g_assert_true (msg->finished);
  return msg;
}

static void
append_reply (GlimChatRequest *req, GlimParserMessage *msg, const char *tool_output)
{
  GlimChatMessage *m = glim_chat_request_add_message (req, GLIM_CHAT_ROLE_ASSISTANT,
                                                      glim_parser_message_content (msg));
  if (glim_parser_message_reasoning (msg) != NULL)
    glim_chat_message_set_reasoning (m, glim_parser_message_reasoning (msg));
  for (guint i = 0; i < msg->tool_calls->len; i++) {
    GlimParserToolCall *tc = g_ptr_array_index (msg->tool_calls, i);
    g_autoptr (JsonNode) args = json_from_string (tc->arguments->str, NULL);
    glim_chat_message_add_tool_call (m, tc->name, json_node_get_object (args));
    glim_chat_request_add_message (req, GLIM_CHAT_ROLE_TOOL, tool_output);
  }
}

static void
test_prefix_reuse (Fixture *f, gconstpointer data)
{
  g_autoptr (GlimSession) s = open_session (f, 0);
  g_autoptr (GlimChatRequest) req = arithmetic_request ();
  GlimSessionStats st1, st2, st3;
  Events ev1 = { 0 };
  g_autoptr (GlimParserMessage) m1 = generate (s, req, 200, NULL, &ev1, &st1);
  g_assert_cmpint (st1.n_reused, ==, 0);
  g_assert_cmpint (st1.n_prompt, ==, glim_session_count_tokens (s, req));
  g_assert_cmpint (st1.n_generated, >, 0);
  g_assert_cmpint (st1.n_past, ==, st1.n_prompt + st1.n_generated - 1);
  g_assert_cmpint (st1.n_ctx, ==, 4096);
  g_assert_cmpint (ev1.last_stats.n_generated, ==, st1.n_generated);
  g_assert_cmpint (m1->finish, ==, GLIM_PARSER_FINISH_TOOL_CALLS);

  /* turn 2 (after the tool result) in the same session */
  append_reply (req, m1, "1517");
  g_autoptr (GlimParserMessage) m2 = generate (s, req, 200, NULL, NULL, &st2);
  g_assert_cmpint (st2.n_reused, >=, st1.n_prompt);   /* the whole first prompt at least */
  g_assert_cmpint (st2.n_reused, <, st2.n_prompt);
  g_assert_cmpint (st2.n_prompt, ==, glim_session_count_tokens (s, req));

  /* the same conversation in a fresh session: exactly the same reply */
  g_autoptr (GlimSession) fresh = open_session (f, 0);
  g_autoptr (GlimParserMessage) m3 = generate (fresh, req, 200, NULL, NULL, &st3);
  g_assert_cmpint (st3.n_reused, ==, 0);
  g_assert_cmpint (st3.n_prompt, ==, st2.n_prompt);
  g_assert_cmpint (st3.n_generated, ==, st2.n_generated);
  g_autofree char *j2 = glim_parser_message_to_json (m2);
  g_autofree char *j3 = glim_parser_message_to_json (m3);
  g_assert_cmpstr (j2, ==, j3);

  /* asking the same again reuses all but the last prompt token */
  GlimSessionStats st4;
  g_autoptr (GlimParserMessage) m4 = generate (s, req, 200, NULL, NULL, &st4);
  g_assert_cmpint (st4.n_reused, ==, st4.n_prompt - 1);
  g_autofree char *j4 = glim_parser_message_to_json (m4);
  g_assert_cmpstr (j4, ==, j2);
}

static void
test_cancel (Fixture *f, gconstpointer data)
{
  g_autoptr (GlimSession) s = open_session (f, 0);
  g_autoptr (GlimChatRequest) req = arithmetic_request ();
  g_autoptr (GlimParserMessage) full = generate (s, req, 200, NULL, NULL, NULL);
  const char *full_reasoning = glim_parser_message_reasoning (full);
  g_assert_nonnull (full_reasoning);

  g_autoptr (GCancellable) c = g_cancellable_new ();
  Events ev = { .cancel_after = 3, .cancellable = c };
  GlimSessionStats st;
  g_autoptr (GlimParserMessage) part = generate (s, req, 200, c, &ev, &st);
  g_assert_cmpint (part->finish, ==, GLIM_PARSER_FINISH_STOP);
  g_assert_cmpuint (part->tool_calls->len, ==, 0);
  const char *r = glim_parser_message_reasoning (part);
  g_assert_nonnull (r);
  g_assert_cmpuint (strlen (r), >, 0);
  g_assert_cmpuint (strlen (r), <, strlen (full_reasoning));
  g_assert_true (g_str_has_prefix (full_reasoning, r));
  g_assert_cmpint (st.n_generated, <, 10);

  /* the session goes on: the next call gives the whole reply again */
  g_autoptr (GlimParserMessage) again = generate (s, req, 200, NULL, NULL, NULL);
  g_autofree char *a = glim_parser_message_to_json (again);
  g_autofree char *b = glim_parser_message_to_json (full);
  g_assert_cmpstr (a, ==, b);

  /* cancelled before it starts: nothing generated, still a finished message */
  g_autoptr (GCancellable) c2 = g_cancellable_new ();
  g_cancellable_cancel (c2);
  GlimSessionStats st2;
  g_autoptr (GlimParserMessage) none = generate (s, req, 200, c2, NULL, &st2);
  g_assert_cmpint (st2.n_generated, ==, 0);
  g_assert_cmpint (none->finish, ==, GLIM_PARSER_FINISH_STOP);
}

static void
test_max_tokens (Fixture *f, gconstpointer data)
{
  g_autoptr (GlimSession) s = open_session (f, 0);
  g_autoptr (GlimChatRequest) req = arithmetic_request ();
  GlimSessionStats st;
  g_autoptr (GlimParserMessage) m = generate (s, req, 5, NULL, NULL, &st);
  g_assert_cmpint (m->finish, ==, GLIM_PARSER_FINISH_LENGTH);
  g_assert_cmpint (st.n_generated, ==, 5);
  g_assert_nonnull (glim_parser_message_reasoning (m));
  g_assert_null (glim_parser_message_content (m));
  /* the fifth token is sampled but not evaluated */
  g_assert_cmpint (st.n_past, ==, st.n_prompt + 4);
}

static void
test_context_full (Fixture *f, gconstpointer data)
{
  g_autoptr (GlimChatRequest) req = arithmetic_request ();
  g_autoptr (GlimSession) probe = open_session (f, 0);
  int n_prompt = glim_session_count_tokens (probe, req);
  g_autoptr (GlimSession) s = open_session (f, n_prompt + 6);
  GlimSessionStats st;
  g_autoptr (GlimParserMessage) m = generate (s, req, 0, NULL, NULL, &st);
  g_assert_cmpint (m->finish, ==, GLIM_PARSER_FINISH_LENGTH);
  g_assert_cmpint (st.n_past, ==, n_prompt + 6);
  g_assert_cmpint (st.n_generated, ==, 7);
}

static void
test_prompt_too_long (Fixture *f, gconstpointer data)
{
  g_autoptr (GlimSession) s = open_session (f, 64);
  g_autoptr (GlimChatRequest) req = arithmetic_request ();   /* ~230 tokens with the tools */
  int n = glim_session_count_tokens (s, req);
  g_assert_cmpint (n, >, 64);
  g_autoptr (GError) error = NULL;
  GlimParserMessage *msg = NULL;
  GlimSessionStats st;
  g_assert_false (glim_session_generate (s, req, NULL, NULL, NULL, NULL, &msg, &st, &error));
  g_assert_error (error, GLIM_SESSION_ERROR, GLIM_SESSION_ERROR_PROMPT_TOO_LONG);
  g_autofree char *want = g_strdup_printf ("the conversation is %d tokens; the context holds 64",
                                           n);
  g_assert_cmpstr (error->message, ==, want);
  g_assert_null (msg);
  g_assert_cmpint (st.n_generated, ==, 0);

  /* still usable: a short conversation without tools fits */
  g_autoptr (GlimChatRequest) small = glim_chat_request_new ();
  glim_chat_request_add_message (small, GLIM_CHAT_ROLE_USER, "Hi");
  GlimSessionStats st2;
  g_autoptr (GlimParserMessage) m = generate (s, small, 20, NULL, NULL, &st2);
  g_assert_cmpint (st2.n_generated, >, 0);
  g_assert_cmpint (st2.n_past, <=, 64);
}

static void
test_thinking_off (Fixture *f, gconstpointer data)
{
  g_autoptr (GlimSession) s = open_session (f, 0);
  g_autoptr (GlimChatRequest) req = arithmetic_request ();
  glim_chat_request_set_enable_thinking (req, GLIM_CHAT_FLAG_FALSE);
  g_autoptr (GlimParserMessage) m = generate (s, req, 100, NULL, NULL, NULL);
  g_assert_null (glim_parser_message_reasoning (m));
  g_assert_cmpint (m->finish, ==, GLIM_PARSER_FINISH_TOOL_CALLS);
}

static void
test_sampled_repeats (Fixture *f, gconstpointer data)
{
  g_autoptr (GlimChatRequest) req = arithmetic_request ();
  g_autofree char *first = NULL;
  for (int i = 0; i < 2; i++) {
    g_autoptr (GlimSession) s = open_session (f, 0);
    GlimGenerateOptions opts;
    glim_generate_options_init (&opts);
    opts.sampler.temperature = 0.8f;
    opts.sampler.top_p = 0.95f;
    opts.sampler.seed = 1234;
    opts.max_tokens = 60;
    opts.id_seed = 1;
    g_autoptr (GlimParserMessage) m = NULL;
    g_autoptr (GError) error = NULL;
    g_assert_true (glim_session_generate (s, req, &opts, NULL, NULL, NULL, &m, NULL, &error));
    g_assert_no_error (error);
    g_autofree char *j = glim_parser_message_to_json (m);
    if (first == NULL)
      first = g_steal_pointer (&j);
    else
      g_assert_cmpstr (j, ==, first);
  }
}

static void
test_no_tokenizer (void)
{
  /* tiny-base has weights but no tokenizer.json */
  g_autofree char *dir = test_data_path ("tiny-base", NULL);
  g_autoptr (GlimModel) model = test_load_model (dir);
  GlimContextOptions opts = { .backend = GLIM_BACKEND_CPU };
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimSession) s = glim_session_new (model, &opts, &error);
  g_assert_null (s);
  g_assert_error (error, GLIM_TOKENIZER_ERROR, GLIM_TOKENIZER_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "tokenizer.json"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/glimmer/session/" path, Fixture, NULL, fixture_setup, fn, \
                                  fixture_teardown)
  ADD ("prefix-reuse", test_prefix_reuse);
  ADD ("cancel", test_cancel);
  ADD ("max-tokens", test_max_tokens);
  ADD ("context-full", test_context_full);
  ADD ("prompt-too-long", test_prompt_too_long);
  ADD ("thinking-off", test_thinking_off);
  ADD ("sampled-repeats", test_sampled_repeats);
#undef ADD
  g_test_add_func ("/glimmer/session/no-tokenizer", test_no_tokenizer);
  return g_test_run ();
}
