/* cli-chat.c: `glimmer-cli chat`: talk to a model in the terminal, with its thinking streamed
 * and its tool calls approved and run (engine: glim-session.h, glim-tools.h).
 * SPDX-License-Identifier: MIT
 *
 * Interactive when stdin is a terminal and no --message is given: a prompt "> ", reasoning
 * streamed dim, content plain, each tool call shown and approved ("y", "N", "a" for always;
 * --yes approves all); Ctrl+C stops the reply being generated (what it wrote is kept), and at
 * the prompt it quits, as does Ctrl+D or "/exit"; "/reset" starts a new conversation.
 * One-shot: every --message is a user turn, answered in order, tool calls included; without a
 * terminal, tool calls need --yes. --json prints one compact JSON object per assistant message
 * instead of text: glim_parser_message_to_json's keys plus "tool_results" (the results of its
 * calls: tool_call_id, name, content, ok) and "usage" (prompt, reused and completion tokens).
 * Without --model the bundled demo model is used: the source tree's data/demo-model when it
 * exists, else the installed one ($datadir/glimmer/demo-model). Stable interface. */
#include "cli.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TOOL_ROUNDS 10   /* model calls per user turn before the loop is cut */

typedef struct {
  GlimSession         *session;
  GlimToolRegistry    *registry;
  GlimChatRequest     *req;
  GlimGenerateOptions  gen;
  guint64              id_seed;        /* from --seed; 0: random tool-call ids */
  guint                n_generate;     /* generate calls so far (each gets its own id seed) */
  gboolean             json, yes, always, tty_in, color;
  gboolean             no_think;
  char                *system;
  char               **tool_names;     /* what --tools put into each request; NULL: all */
  gboolean             no_tools;
  /* streaming display */
  gboolean             in_reasoning;   /* dim reasoning text is open */
  gboolean             at_line_start;
  /* Ctrl+C: a thread with its own main context watches SIGINT */
  GMutex               lock;
  GCancellable        *current;        /* the running generation's, under lock; NULL: idle */
} Chat;

/* ---- SIGINT watcher ---- */

static gboolean
on_sigint (gpointer data)
{
  Chat *chat = data;
  g_mutex_lock (&chat->lock);
  GCancellable *c = chat->current ? g_object_ref (chat->current) : NULL;
  g_mutex_unlock (&chat->lock);
  if (c == NULL) {
    fputs ("\n", stdout);
    fflush (stdout);
    _exit (130);       /* at the prompt: quit, as a shell does */
  }
  g_cancellable_cancel (c);
  g_object_unref (c);
  return G_SOURCE_CONTINUE;
}

typedef struct {
  GMainContext *context;
  GMainLoop    *loop;
  GThread      *thread;
} Watcher;

static gpointer
watcher_thread (gpointer data)
{
  Watcher *w = data;
  g_main_context_push_thread_default (w->context);
  g_main_loop_run (w->loop);
  g_main_context_pop_thread_default (w->context);
  return NULL;
}

static void
watcher_start (Watcher *w, Chat *chat)
{
  w->context = g_main_context_new ();
  w->loop = g_main_loop_new (w->context, FALSE);
  GSource *src = g_unix_signal_source_new (SIGINT);
  g_source_set_callback (src, on_sigint, chat, NULL);
  g_source_attach (src, w->context);
  g_source_unref (src);
  w->thread = g_thread_new ("glim-sigint", watcher_thread, w);
}

static gboolean
watcher_quit (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
watcher_stop (Watcher *w)
{
  /* quit from inside the loop: a g_main_loop_quit() that came before the thread reached
   * g_main_loop_run() would be lost, and the join would wait forever */
  GSource *idle = g_idle_source_new ();
  g_source_set_callback (idle, watcher_quit, w->loop, NULL);
  g_source_attach (idle, w->context);
  g_source_unref (idle);
  g_thread_join (w->thread);
  g_main_loop_unref (w->loop);
  g_main_context_unref (w->context);
}

/* ---- streaming display ---- */

static void
chat_put (Chat *chat, const char *text, gsize len)
{
  if (len == 0)
    return;
  fwrite (text, 1, len, stdout);
  chat->at_line_start = text[len - 1] == '\n';
  fflush (stdout);
}

static void
chat_end_reasoning (Chat *chat)
{
  if (!chat->in_reasoning)
    return;
  chat->in_reasoning = FALSE;
  if (chat->color)
    fputs ("\033[0m", stdout);
  if (!chat->at_line_start)
    chat_put (chat, "\n", 1);
  if (!chat->color)
    chat_put (chat, "[/thinking]\n", 12);
}

/* "expr=37 * 41, x=3": string values as they are, others as JSON. */
static char *
format_arguments (const char *json)
{
  g_autoptr (JsonNode) node = json_from_string (json, NULL);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return g_strdup (json);
  g_autoptr (GString) out = g_string_new (NULL);
  JsonObjectIter it;
  const char *key;
  JsonNode *value;
  json_object_iter_init_ordered (&it, json_node_get_object (node));
  while (json_object_iter_next_ordered (&it, &key, &value)) {
    if (out->len)
      g_string_append (out, ", ");
    if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING) {
      g_string_append_printf (out, "%s=%s", key, json_node_get_string (value));
    } else {
      g_autofree char *v = json_to_string (value, FALSE);
      g_string_append_printf (out, "%s=%s", key, v);
    }
  }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
on_event (const GlimSessionEvent *event, gpointer data)
{
  Chat *chat = data;
  if (chat->json || event->type != GLIM_SESSION_EVENT_PARSER)
    return;
  const GlimParserEvent *pe = event->parser;
  switch (pe->type) {
  case GLIM_PARSER_EVENT_REASONING:
    if (!chat->in_reasoning && pe->len > 0) {
      chat->in_reasoning = TRUE;
      if (chat->color)
        fputs ("\033[2m", stdout);
      else
        chat_put (chat, "[thinking]\n", 11);
    }
    chat_put (chat, pe->text, pe->len);
    break;
  case GLIM_PARSER_EVENT_REASONING_END:
    chat_end_reasoning (chat);
    break;
  case GLIM_PARSER_EVENT_CONTENT:
    chat_end_reasoning (chat);
    chat_put (chat, pe->text, pe->len);
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_END: {
    chat_end_reasoning (chat);
    g_autofree char *args = format_arguments (pe->text);
    g_autofree char *line = g_strdup_printf ("%s[tool call] %s(%s)\n",
                                             chat->at_line_start ? "" : "\n", pe->name, args);
    chat_put (chat, line, strlen (line));
    break;
  }
  case GLIM_PARSER_EVENT_WARNING:
    fprintf (stderr, "glimmer-cli chat: warning: %.*s\n", (int) pe->len, pe->text);
    break;
  case GLIM_PARSER_EVENT_FINISH:
    chat_end_reasoning (chat);
    if (!chat->at_line_start)
      chat_put (chat, "\n", 1);
    break;
  default:
    break;
  }
}

/* ---- the conversation ---- */

static GlimChatRequest *
chat_new_request (Chat *chat)
{
  GlimChatRequest *req = glim_chat_request_new ();
  if (chat->no_think)
    glim_chat_request_set_enable_thinking (req, GLIM_CHAT_FLAG_FALSE);
  if (!chat->no_tools)
    glim_tool_registry_add_to_request (chat->registry, req,
                                       (const char *const *) chat->tool_names);
  if (chat->system != NULL)
    glim_chat_request_add_message (req, GLIM_CHAT_ROLE_SYSTEM, chat->system);
  return req;
}

static void
append_assistant (GlimChatRequest *req, GlimParserMessage *msg)
{
  GlimChatMessage *m = glim_chat_request_add_message (req, GLIM_CHAT_ROLE_ASSISTANT,
                                                      glim_parser_message_content (msg));
  const char *reasoning = glim_parser_message_reasoning (msg);
  if (reasoning != NULL)
    glim_chat_message_set_reasoning (m, reasoning);
  for (guint i = 0; i < msg->tool_calls->len; i++) {
    GlimParserToolCall *tc = g_ptr_array_index (msg->tool_calls, i);
    g_autoptr (JsonNode) args = json_from_string (tc->arguments->str, NULL);
    glim_chat_message_add_tool_call (m, tc->name, args && JSON_NODE_HOLDS_OBJECT (args) ?
                                     json_node_get_object (args) : NULL);
  }
}

/* Ask whether to run a call. FALSE with `error` set when nobody can be asked. */
static gboolean
chat_approve (Chat *chat, const GlimParserToolCall *tc, gboolean *approved, GError **error)
{
  if (chat->yes || chat->always) {
    *approved = TRUE;
    return TRUE;
  }
  if (!chat->tty_in) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                 "the model called %s; tool approval needs --yes when stdin is not a terminal",
                 tc->name);
    return FALSE;
  }
  g_autofree char *args = format_arguments (tc->arguments->str);
  fprintf (stderr, "Run %s(%s)? [y/N/a(lways)] ", tc->name, args);
  fflush (stderr);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline (&line, &cap, stdin);
  char c = n > 0 ? g_ascii_tolower (line[0]) : 'n';
  free (line);
  if (n <= 0)
    fputc ('\n', stderr);
  chat->always = c == 'a';
  *approved = c == 'y' || c == 'a';
  return TRUE;
}

static void
print_json (Chat *chat, GlimParserMessage *msg, GPtrArray *results, GPtrArray *names,
            const GlimSessionStats *st)
{
  g_autofree char *text = glim_parser_message_to_json (msg);
  g_autoptr (JsonNode) node = json_from_string (text, NULL);
  g_assert (node != NULL && JSON_NODE_HOLDS_OBJECT (node));
  JsonObject *obj = json_node_get_object (node);
  JsonArray *arr = json_array_new ();
  for (guint i = 0; results != NULL && i < results->len; i++) {
    GlimToolResult *r = g_ptr_array_index (results, i);
    GlimParserToolCall *tc = g_ptr_array_index (msg->tool_calls, i);
    JsonObject *o = json_object_new ();
    json_object_set_string_member (o, "tool_call_id", tc->id);
    json_object_set_string_member (o, "name", g_ptr_array_index (names, i));
    json_object_set_string_member (o, "content", r->output);
    json_object_set_boolean_member (o, "ok", r->ok);
    json_array_add_object_element (arr, o);
  }
  json_object_set_array_member (obj, "tool_results", arr);
  JsonObject *usage = json_object_new ();
  json_object_set_int_member (usage, "prompt_tokens", st->n_prompt);
  json_object_set_int_member (usage, "reused_tokens", st->n_reused);
  json_object_set_int_member (usage, "completion_tokens", st->n_generated);
  json_object_set_object_member (obj, "usage", usage);
  g_autofree char *out = json_to_string (node, FALSE);
  printf ("%s\n", out);
  fflush (stdout);
}

static void
result_free (gpointer p)
{
  glim_tool_result_clear (p);
  g_free (p);
}

/* Answer the conversation's last user (or tool) message, running tool calls until the model
 * gives a final answer. Returns 0, 1 (error, printed) or 130 (cancelled with Ctrl+C). */
static int
chat_turn (Chat *chat)
{
  for (int round = 0;; round++) {
    if (round == MAX_TOOL_ROUNDS) {
      fprintf (stderr, "glimmer-cli chat: the model called tools %d times in a row; stopping "
               "this turn\n", MAX_TOOL_ROUNDS);
      return 0;
    }
    g_autoptr (GCancellable) cancellable = g_cancellable_new ();
    g_mutex_lock (&chat->lock);
    chat->current = cancellable;
    g_mutex_unlock (&chat->lock);

    guint64 state = chat->id_seed + chat->n_generate++;
    chat->gen.id_seed = chat->id_seed ? glim_splitmix64 (&state) | 1 : 0;
    chat->at_line_start = TRUE;
    g_autoptr (GlimParserMessage) msg = NULL;
    g_autoptr (GError) error = NULL;
    GlimSessionStats st;
    gboolean ok = glim_session_generate (chat->session, chat->req, &chat->gen, cancellable,
                                         on_event, chat, &msg, &st, &error);
    g_mutex_lock (&chat->lock);
    chat->current = NULL;
    g_mutex_unlock (&chat->lock);
    if (!ok)
      return cli_fail ("chat", error);

    /* the reply is part of the conversation, whatever happens next */
    append_assistant (chat->req, msg);
    if (g_cancellable_is_cancelled (cancellable)) {
      if (chat->json)
        print_json (chat, msg, NULL, NULL, &st);
      else
        fputs ("[stopped]\n", stdout);
      return 130;
    }
    if (msg->finish != GLIM_PARSER_FINISH_TOOL_CALLS || msg->tool_calls->len == 0) {
      if (chat->json)
        print_json (chat, msg, NULL, NULL, &st);
      else if (msg->finish == GLIM_PARSER_FINISH_LENGTH)
        fputs ("[stopped: length limit]\n", stdout);
      return 0;
    }

    g_autoptr (GPtrArray) results = g_ptr_array_new_with_free_func (result_free);
    g_autoptr (GPtrArray) names = g_ptr_array_new ();
    for (guint i = 0; i < msg->tool_calls->len; i++) {
      GlimParserToolCall *tc = g_ptr_array_index (msg->tool_calls, i);
      gboolean approved = FALSE;
      if (!chat_approve (chat, tc, &approved, &error)) {
        if (chat->json)
          print_json (chat, msg, NULL, NULL, &st);
        return cli_fail ("chat", error);
      }
      GlimToolResult *r = g_new0 (GlimToolResult, 1);
      if (approved) {
        glim_tool_registry_run (chat->registry, tc->name, tc->arguments->str, NULL, NULL, r);
      } else {
        r->output = g_strdup ("error: the user declined to run this tool");
        r->ok = FALSE;
      }
      g_ptr_array_add (results, r);
      g_ptr_array_add (names, tc->name);
      glim_chat_request_add_message (chat->req, GLIM_CHAT_ROLE_TOOL, r->output);
      if (!chat->json) {
        g_autofree char *line = g_strdup_printf ("[%s] %s\n", tc->name, r->output);
        chat_put (chat, line, strlen (line));
      }
    }
    if (chat->json)
      print_json (chat, msg, results, names, &st);
  }
}

static int
chat_user (Chat *chat, const char *text)
{
  glim_chat_request_add_message (chat->req, GLIM_CHAT_ROLE_USER, text);
  return chat_turn (chat);
}

static int
chat_repl (Chat *chat)
{
  char *line = NULL;
  size_t cap = 0;
  int status = 0;
  for (;;) {
    fputs ("> ", stdout);
    fflush (stdout);
    ssize_t n = getline (&line, &cap, stdin);
    if (n < 0) {
      fputs ("\n", stdout);
      break;
    }
    g_strstrip (line);
    if (*line == '\0')
      continue;
    if (strcmp (line, "/exit") == 0 || strcmp (line, "/quit") == 0)
      break;
    if (strcmp (line, "/reset") == 0) {
      glim_chat_request_free (chat->req);
      chat->req = chat_new_request (chat);
      glim_session_reset (chat->session);
      continue;
    }
    status = chat_user (chat, line);
    if (status == 1)
      break;
    status = 0;           /* Ctrl+C during a reply: back to the prompt */
  }
  free (line);
  return status;
}

/* ---- options ---- */

static char *
default_model_dir (void)
{
  if (g_file_test (GLIMMER_DEMO_MODEL_SOURCE "/config.json", G_FILE_TEST_IS_REGULAR))
    return g_strdup (GLIMMER_DEMO_MODEL_SOURCE);
  return g_strdup (GLIMMER_DEMO_MODEL_INSTALLED);
}

int
cli_chat (int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *backend = NULL, *system = NULL, *tools = NULL;
  g_autofree char *seed_text = NULL, *context = NULL;
  g_auto (GStrv) messages = NULL;
  int tp = 1, threads = 0, n_ctx = 0, max_tokens = 0, top_k = 0;
  double temperature = 0.0, top_p = 1.0, min_p = 0.0;
  gboolean no_think = FALSE, yes = FALSE, json = FALSE;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir,
      "Model folder (default: the bundled demo model)", "DIR" },
    { "backend", 0, 0, G_OPTION_ARG_STRING, &backend, "cpu or cuda (default cpu)", "NAME" },
    { "tp", 0, 0, G_OPTION_ARG_INT, &tp, "Tensor-parallel ranks (default 1)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: all cores)", "N" },
    { "context", 0, 0, G_OPTION_ARG_STRING, &context,
      "Context size in tokens, or auto (default; also 0): with --backend cuda as long as fits "
      "in the GPUs' free memory, on the CPU min(max_position_embeddings, 4096)", "N|auto" },
    { "ctx", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &context, "Same as --context", "N" },
    { "message", 0, 0, G_OPTION_ARG_STRING_ARRAY, &messages,
      "A user message (repeat for several turns); none: interactive", "TEXT" },
    { "system", 0, 0, G_OPTION_ARG_STRING, &system, "A system message", "TEXT" },
    { "no-think", 0, 0, G_OPTION_ARG_NONE, &no_think, "Turn thinking off", NULL },
    { "temperature", 0, 0, G_OPTION_ARG_DOUBLE, &temperature, "0 = greedy (default)", "T" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &top_p, "Nucleus sampling mass (1 = off)", "P" },
    { "top-k", 0, 0, G_OPTION_ARG_INT, &top_k, "Keep the k most likely tokens (0 = off)", "K" },
    { "min-p", 0, 0, G_OPTION_ARG_DOUBLE, &min_p, "Minimum probability relative to the best",
      "P" },
    { "seed", 0, 0, G_OPTION_ARG_STRING, &seed_text,
      "Sampling seed, also fixes tool-call ids (default: 0, random ids)", "S" },
    { "max-tokens", 'n', 0, G_OPTION_ARG_INT, &max_tokens,
      "Tokens per reply at most (default 0: until the context is full)", "N" },
    { "tools", 0, 0, G_OPTION_ARG_STRING, &tools,
      "Tools the model may call: all (default), none, or names (calculator,current_time)",
      "LIST" },
    { "yes", 'y', 0, G_OPTION_ARG_NONE, &yes, "Run tool calls without asking", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      "Print one JSON object per assistant message instead of text", NULL },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options ("chat", "Chat with a model: thinking streamed, tool calls approved "
                          "and run.", entries, &argc, &argv))
    return 2;
  g_autoptr (GError) error = NULL;
  guint64 seed = 0;
  if (seed_text != NULL &&
      !g_ascii_string_to_unsigned (seed_text, 10, 0, G_MAXUINT64, &seed, &error))
    return cli_fail ("chat", error);
  if (max_tokens < 0) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--max-tokens must not be negative");
    return cli_fail ("chat", error);
  }
  if (!cli_parse_context (context, &n_ctx, &error))
    return cli_fail ("chat", error);

  Chat chat = { 0 };
  g_mutex_init (&chat.lock);
  chat.json = json;
  chat.yes = yes;
  chat.no_think = no_think;
  chat.system = system;
  chat.id_seed = seed;
  chat.tty_in = isatty (STDIN_FILENO);
  chat.color = !json && isatty (STDOUT_FILENO);
  g_autoptr (GlimToolRegistry) registry = glim_tool_registry_new_builtin ();
  chat.registry = registry;
  g_auto (GStrv) tool_names = NULL;
  if (tools == NULL || strcmp (tools, "all") == 0) {
    /* every tool */
  } else if (strcmp (tools, "none") == 0) {
    chat.no_tools = TRUE;
  } else {
    tool_names = g_strsplit (tools, ",", -1);
    for (char **t = tool_names; *t != NULL; t++) {
      g_strstrip (*t);
      if (!glim_tool_registry_has (registry, *t)) {
        g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                     "--tools: no tool \"%s\" (there are calculator and current_time)", *t);
        return cli_fail ("chat", error);
      }
    }
    chat.tool_names = tool_names;
  }

  glim_generate_options_init (&chat.gen);
  chat.gen.max_tokens = max_tokens;
  chat.gen.sampler.temperature = (float) temperature;
  chat.gen.sampler.top_k = top_k;
  chat.gen.sampler.top_p = (float) top_p;
  chat.gen.sampler.min_p = (float) min_p;
  chat.gen.sampler.seed = seed;

  if (model_dir == NULL)
    model_dir = default_model_dir ();
  GlimContextOptions copts = { 0 };
  if (!glim_backend_from_string (backend ? backend : "cpu", &copts.backend, &error))
    return cli_fail ("chat", error);
  copts.tp = tp;
  copts.n_threads = threads;
  copts.n_ctx = n_ctx;
  g_autoptr (GlimModel) model = glim_model_load (model_dir, NULL, &error);
  if (model == NULL)
    return cli_fail ("chat", error);
  g_autoptr (GlimSession) session = glim_session_new (model, &copts, &error);
  if (session == NULL)
    return cli_fail ("chat", error);
  chat.session = session;
  chat.req = chat_new_request (&chat);
  /* the context chosen (automatic unless --context N), before anything else */
  fprintf (stderr, "context: %d tokens%s\n",
           glim_context_n_ctx (glim_session_context (session)),
           n_ctx == 0 ? copts.backend == GLIM_BACKEND_CUDA ? " (automatic: as much as fits)"
                                                           : " (automatic: 4096 at most on the CPU)"
                      : "");

  Watcher watcher;
  watcher_start (&watcher, &chat);
  int status = 0;
  if (messages == NULL || messages[0] == NULL) {
    if (!chat.tty_in) {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "stdin is not a terminal: give the conversation with --message TEXT");
      status = cli_fail ("chat", error);
    } else {
      status = chat_repl (&chat);
    }
  } else {
    for (char **m = messages; *m != NULL && status == 0; m++) {
      if (!chat.json && m != messages)
        chat_put (&chat, "\n", 1);
      if (!chat.json) {
        g_autofree char *line = g_strdup_printf ("> %s\n", *m);
        chat_put (&chat, line, strlen (line));
      }
      status = chat_user (&chat, *m);
    }
  }
  watcher_stop (&watcher);
  glim_chat_request_free (chat.req);
  g_mutex_clear (&chat.lock);
  return status;
}
