/* glim-session.c: one conversation's generation: render, reuse the cached token prefix,
 * prefill the rest, sample, and stream the parsed output.
 * SPDX-License-Identifier: MIT
 *
 * The session remembers the token ids its context has evaluated (`cached`: prompt tokens, then
 * the generated tokens that were fed back). A new turn keeps the longest common prefix of
 * `cached` and the new prompt, but always evaluates at least the prompt's last token, because
 * its logits pick the first generated token. The token sampled last (the stop token, or the one
 * that reached max_tokens) is never evaluated. */
#define G_LOG_DOMAIN "glimmer-session"

#include "glim-session.h"

#include <string.h>

#define STATS_EVERY 16

G_DEFINE_QUARK (glim-session-error-quark, glim_session_error)

struct _GlimSession {
  GlimModel      *model;     /* not owned */
  GlimContext    *ctx;
  GlimTokenizer  *tok;
  GlimParserTags  tags;
  GArray         *cached;    /* int32_t [n_past]: the ids the context holds, in order */
  float          *logits;    /* [V] */
  int             n_vocab;   /* V: the model's vocabulary (logits width) */
};

void
glim_generate_options_init (GlimGenerateOptions *options)
{
  g_return_if_fail (options != NULL);
  memset (options, 0, sizeof *options);
  glim_sampler_params_init (&options->sampler);
}

GlimSession *
glim_session_new (GlimModel *model, const GlimContextOptions *options, GError **error)
{
  g_return_val_if_fail (model != NULL && options != NULL, NULL);
  g_autofree char *path = g_build_filename (model->dir, "tokenizer.json", NULL);
  g_autoptr (GlimTokenizer) tok = glim_tokenizer_load (path, error);
  if (tok == NULL)
    return NULL;
  GlimParserTags tags;
  if (!glim_parser_tags_from_tokenizer (tok, &tags)) {
    g_set_error (error, GLIM_SESSION_ERROR, GLIM_SESSION_ERROR_NO_TOKENIZER,
                 "%s: the stop tokens <|endoftext|>, <|user|> and <|observation|> are not all "
                 "single tokens; this is not a GLM-4.7 tokenizer", path);
    return NULL;
  }
  GlimContext *ctx = glim_context_new (model, options, error);
  if (ctx == NULL)
    return NULL;
  GlimSession *s = g_new0 (GlimSession, 1);
  s->model = model;
  s->ctx = ctx;
  s->tok = g_steal_pointer (&tok);
  s->tags = tags;
  s->cached = g_array_new (FALSE, FALSE, sizeof (int32_t));
  s->n_vocab = model->config->vocab_size;
  s->logits = g_new (float, s->n_vocab);
  return s;
}

void
glim_session_free (GlimSession *session)
{
  if (session == NULL)
    return;
  glim_context_free (session->ctx);
  glim_tokenizer_free (session->tok);
  g_array_unref (session->cached);
  g_free (session->logits);
  g_free (session);
}

GlimTokenizer *
glim_session_tokenizer (GlimSession *session)
{
  g_return_val_if_fail (session != NULL, NULL);
  return session->tok;
}

GlimContext *
glim_session_context (GlimSession *session)
{
  g_return_val_if_fail (session != NULL, NULL);
  return session->ctx;
}

void
glim_session_reset (GlimSession *session)
{
  g_return_if_fail (session != NULL);
  glim_context_truncate (session->ctx, 0);
  g_array_set_size (session->cached, 0);
}

static GArray *
session_encode (GlimSession *s, const GlimChatRequest *request, GError **error)
{
  g_autofree char *text = glim_chat_render (request, error);
  if (text == NULL)
    return NULL;
  return glim_tokenizer_encode (s->tok, text, -1);
}

int
glim_session_count_tokens (GlimSession *session, const GlimChatRequest *request)
{
  g_return_val_if_fail (session != NULL && request != NULL, 0);
  g_autoptr (GArray) ids = session_encode (session, request, NULL);
  return ids ? (int) ids->len : 0;
}

/* Keep the cache consistent after a failed eval: back to `n` tokens, or empty. */
static void
session_rewind (GlimSession *s, int n)
{
  if (glim_context_n_past (s->ctx) >= n && (int) s->cached->len >= n) {
    glim_context_truncate (s->ctx, n);
    g_array_set_size (s->cached, n);
  } else {
    glim_session_reset (s);
  }
}

/* ---- one generate call ---- */

typedef struct {
  GlimSessionEventFunc func;
  gpointer             user_data;
  GlimParserMessage   *msg;
  GlimSessionStats    *stats;
} Run;

static void
run_emit (Run *run, GlimSessionEventType type, const GlimParserEvent *parser)
{
  if (run->func == NULL)
    return;
  GlimSessionEvent ev = { type, parser, run->stats };
  run->func (&ev, run->user_data);
}

static void
run_parser_event (const GlimParserEvent *event, gpointer data)
{
  Run *run = data;
  glim_parser_message_collect (event, run->msg);
  run_emit (run, GLIM_SESSION_EVENT_PARSER, event);
}

static void
stats_update (GlimSession *s, GlimSessionStats *st, gint64 t_first, gint64 t_last)
{
  st->n_past = glim_context_n_past (s->ctx);
  st->decode_seconds = t_first > 0 ? (t_last - t_first) / 1e6 : 0.0;
  st->decode_tokens_per_second =
    st->decode_seconds > 0 ? (st->n_generated - 1) / st->decode_seconds : 0.0;
}

/* Evaluate `ids` at the current position: logits of the last one, or its argmax (greedy). */
static gboolean
session_eval (GlimSession *s, const int32_t *ids, int n, gboolean greedy, int32_t *next,
              GError **error)
{
  if (greedy)
    return glim_context_eval_argmax (s->ctx, ids, n, next, error);
  return glim_context_eval (s->ctx, ids, n, s->logits, FALSE, error);
}

gboolean
glim_session_generate (GlimSession *session, const GlimChatRequest *request,
                       const GlimGenerateOptions *options, GCancellable *cancellable,
                       GlimSessionEventFunc func, gpointer user_data,
                       GlimParserMessage **message, GlimSessionStats *stats, GError **error)
{
  g_return_val_if_fail (session != NULL && request != NULL, FALSE);
  GlimSession *s = session;
  GlimGenerateOptions defaults;
  if (options == NULL) {
    glim_generate_options_init (&defaults);
    options = &defaults;
  }
  GlimSessionStats st = { 0 };
  st.n_ctx = glim_context_n_ctx (s->ctx);

  g_autoptr (GArray) prompt = session_encode (s, request, error);
  if (prompt == NULL)
    return FALSE;
  int n_prompt = (int) prompt->len;
  st.n_prompt = n_prompt;
  if (n_prompt >= st.n_ctx || n_prompt == 0) {
    g_set_error (error, GLIM_SESSION_ERROR, GLIM_SESSION_ERROR_PROMPT_TOO_LONG,
                 "the conversation is %d tokens; the context holds %d%s", n_prompt, st.n_ctx,
                 n_prompt == st.n_ctx ? ", with no room left for the reply" : "");
    if (stats != NULL)
      *stats = st;
    return FALSE;
  }
  const int32_t *ids = (const int32_t *) prompt->data;

  /* the cached prefix, minus at least the prompt's last token */
  int reuse = 0;
  int n_cached = MIN ((int) s->cached->len, glim_context_n_past (s->ctx));
  while (reuse < n_cached && reuse < n_prompt - 1 &&
         g_array_index (s->cached, int32_t, reuse) == ids[reuse])
    reuse++;
  glim_context_truncate (s->ctx, reuse);
  g_array_set_size (s->cached, reuse);
  st.n_reused = reuse;

  gboolean greedy = options->sampler.temperature <= 0.0f;
  g_autoptr (GlimSampler) sampler = greedy ? NULL : glim_sampler_new (&options->sampler);
  int32_t next = -1;
  gint64 t0 = g_get_monotonic_time ();
  if (!session_eval (s, ids + reuse, n_prompt - reuse, greedy, &next, error)) {
    session_rewind (s, reuse);
    if (stats != NULL)
      *stats = st;
    return FALSE;
  }
  g_array_append_vals (s->cached, ids + reuse, n_prompt - reuse);
  st.prefill_seconds = (g_get_monotonic_time () - t0) / 1e6;
  st.n_past = glim_context_n_past (s->ctx);

  g_autoptr (GlimParserMessage) msg =
    glim_parser_message_new (glim_chat_request_get_thinking (request));
  Run run = { func, user_data, msg, &st };
  run_emit (&run, GLIM_SESSION_EVENT_PREFILLED, NULL);

  GlimParserOptions popts;
  glim_parser_options_init (&popts);
  popts.thinking = glim_chat_request_get_thinking (request);
  popts.tools_enabled = glim_chat_request_get_n_tools (request) > 0;
  popts.id_seed = options->id_seed;
  g_autoptr (JsonArray) tools = json_array_new ();
  for (guint i = 0; i < glim_chat_request_get_n_tools (request); i++)
    json_array_add_element (tools,
                            json_node_copy (glim_chat_request_get_tool (request, i)->spec));
  popts.tools = tools;
  g_autoptr (GlimParser) parser = glim_parser_new (&s->tags, &popts, run_parser_event, &run);
  g_autoptr (GlimDecoder) decoder = glim_decoder_new (s->tok);

  GlimParserFinish reason = GLIM_PARSER_FINISH_STOP;
  gint64 t_first = 0, t_last = 0;
  gboolean ok = TRUE;
  for (;;) {
    if (g_cancellable_is_cancelled (cancellable)) {
      reason = GLIM_PARSER_FINISH_STOP;
      break;
    }
    int32_t id = greedy ? next : glim_sampler_sample (sampler, s->logits, s->n_vocab);
    st.n_generated++;
    t_last = g_get_monotonic_time ();
    if (t_first == 0)
      t_first = t_last;
    if (glim_parser_feed_decoded (parser, decoder, id)) {
      reason = GLIM_PARSER_FINISH_STOP;
      break;
    }
    if ((options->max_tokens > 0 && st.n_generated >= options->max_tokens) ||
        glim_context_n_past (s->ctx) >= st.n_ctx) {
      reason = GLIM_PARSER_FINISH_LENGTH;
      break;
    }
    if (st.n_generated % STATS_EVERY == 0) {
      stats_update (s, &st, t_first, t_last);
      run_emit (&run, GLIM_SESSION_EVENT_STATS, NULL);
    }
    int before = glim_context_n_past (s->ctx);
    if (!session_eval (s, &id, 1, greedy, &next, error)) {
      session_rewind (s, before);
      ok = FALSE;
      break;
    }
    g_array_append_val (s->cached, id);
  }
  stats_update (s, &st, t_first, t_last);
  if (stats != NULL)
    *stats = st;
  if (!ok)
    return FALSE;
  run_emit (&run, GLIM_SESSION_EVENT_STATS, NULL);
  glim_parser_finish_decoded (parser, decoder, reason);
  if (message != NULL)
    *message = g_steal_pointer (&msg);
  return TRUE;
}
