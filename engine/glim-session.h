/* glim-session.h: a conversation's generation session: chat request in, streamed events out.
 * SPDX-License-Identifier: MIT
 *
 * A GlimSession owns one inference context (its KV cache), the model's tokenizer and the
 * tags of its output format. Each turn renders the whole request with the chat template,
 * tokenizes it, keeps the longest token prefix already in the cache, prefills only the rest,
 * then samples until a stop token, max_tokens, the end of the context or cancellation. Every
 * generated token goes through the incremental decoder and the streaming parser; their
 * events (glim-parser.h) reach the caller as they happen, plus a STATS event now and then.
 * The same session object continues a conversation across turns and tool calls: a tool call
 * is answered by appending the assistant message and a tool message to the request and
 * calling glim_session_generate again (only the new tokens are prefilled).
 *
 * Threads: a session is used by one thread at a time (the app's engine worker). Cancellation
 * may come from any thread through the GCancellable; it is honoured between tokens. */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "glim-chat.h"
#include "glim-context.h"
#include "glim-model.h"
#include "glim-parser.h"
#include "glim-sampler.h"
#include "glim-tokenizer.h"

G_BEGIN_DECLS

#define GLIM_SESSION_ERROR (glim_session_error_quark ())

typedef enum {
  GLIM_SESSION_ERROR_NO_TOKENIZER,   /* the model folder has no usable tokenizer.json */
  GLIM_SESSION_ERROR_PROMPT_TOO_LONG,/* the rendered prompt does not fit the context */
  GLIM_SESSION_ERROR_CANCELLED,      /* never returned: cancellation finishes normally */
} GlimSessionError;

GQuark glim_session_error_quark (void);

typedef struct {
  GlimSamplerParams sampler;     /* temperature 0: greedy */
  int               max_tokens;  /* generated tokens at most; <= 0: until the context is full */
  guint64           id_seed;     /* tool-call ids (GlimParserOptions.id_seed); 0: random */
} GlimGenerateOptions;

/* greedy, max_tokens 0, random ids */
void glim_generate_options_init (GlimGenerateOptions *options);

/* Counters of one glim_session_generate call (and the session's totals where noted). */
typedef struct {
  int    n_prompt;        /* tokens of the rendered prompt */
  int    n_reused;        /* of those, already in the cache (not prefilled again) */
  int    n_generated;     /* tokens sampled so far, stop token included */
  int    n_ctx;           /* the context's capacity */
  int    n_past;          /* positions in the cache now */
  double prefill_seconds;
  double decode_seconds;  /* time spent from the first to the latest sampled token */
  double decode_tokens_per_second;
} GlimSessionStats;

typedef enum {
  GLIM_SESSION_EVENT_PARSER,     /* `parser` is a parser event (reasoning, content, tool call,
                                  * warning, finish); FINISH is the last event of a call */
  GLIM_SESSION_EVENT_PREFILLED,  /* the prompt is in the cache; `stats` has the prefill figures */
  GLIM_SESSION_EVENT_STATS,      /* `stats` updated (about every 16 tokens and at the end) */
} GlimSessionEventType;

typedef struct {
  GlimSessionEventType   type;
  const GlimParserEvent *parser;  /* PARSER only */
  const GlimSessionStats *stats;  /* every event */
} GlimSessionEvent;

/* Pointers are valid during the callback only. The callback runs on the generating thread. */
typedef void (*GlimSessionEventFunc) (const GlimSessionEvent *event, gpointer user_data);

typedef struct _GlimSession GlimSession;

/* Open a session over a loaded model: a context on the backend in `options`, the tokenizer
 * from the model folder's tokenizer.json, the tags looked up in it. The model must outlive the
 * session. Errors: those of glim_context_new and glim_tokenizer_load, naming the file. */
GlimSession   *glim_session_new       (GlimModel *model, const GlimContextOptions *options,
                                       GError **error);
void           glim_session_free      (GlimSession *session);
GlimTokenizer *glim_session_tokenizer (GlimSession *session);
GlimContext   *glim_session_context   (GlimSession *session);

/* Generate the assistant's reply to `request` (which ends with a user or tool message, and has
 * add_generation_prompt set). Events go to `func` as they happen; `message` (optional) receives
 * the final parsed message, ready to be appended to the conversation. Cancellation stops at the
 * next token and finishes with STOP: the message so far is returned, not lost. Errors: the
 * prompt does not fit the context (nothing generated), or an engine failure. */
gboolean       glim_session_generate  (GlimSession *session, const GlimChatRequest *request,
                                       const GlimGenerateOptions *options,
                                       GCancellable *cancellable,
                                       GlimSessionEventFunc func, gpointer user_data,
                                       GlimParserMessage **message, GlimSessionStats *stats,
                                       GError **error);

/* Tokens of the rendered prompt of `request` (for a context-usage indicator). */
int            glim_session_count_tokens (GlimSession *session, const GlimChatRequest *request);

/* Forget the cached conversation (a different conversation is about to be generated; the
 * prefix match would find nothing useful anyway, this just frees the positions). */
void           glim_session_reset     (GlimSession *session);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimSession, glim_session_free)

G_END_DECLS
