/* glim-parser.h: the streaming output parser: generated tokens -> reasoning, content and tool calls.
 * SPDX-License-Identifier: MIT
 *
 * GLM-4.7-Flash writes `reasoning</think>content<tool_call>NAME<arg_key>K</arg_key><arg_value>V
 * </arg_value></tool_call>` and ends with a stop token (docs/chat-format.md §3, §6). The parser
 * is fed, per generated token, its id and the UTF-8 text the incremental decoder produced for it
 * (possibly empty). Tags are recognised from their token ids and also when the model spells them
 * out as plain text ("<tool_call>" in several text tokens); a text suffix that could still become
 * a tag is held back until it can be decided. Events come out through a callback as soon as they
 * are known; GlimParserMessage folds them into the final assistant message, so streaming and
 * non-streaming give the same result.
 *
 * Decisions where vLLM's glm45/glm47 parsers leave room (vLLM compatible unless noted):
 * - thinking on: the output starts inside reasoning; a `<think>` as the very first thing is
 *   dropped, a later one is reasoning text. The first `</think>` ends reasoning; later ones are
 *   content text. Generation that ends inside reasoning leaves everything in reasoning, content
 *   null. Thinking off: everything is content, reasoning null.
 * - `<tool_call>` inside reasoning ends reasoning implicitly (SGLang behaviour, not vLLM's). If
 *   that call turns out malformed, its text goes back to reasoning and reasoning continues, so a
 *   model that merely mentions the tag while thinking loses nothing.
 * - text before, between and after tool calls is content (vLLM's streaming parser keeps it; its
 *   non-streaming parser drops it). Final content is null when it is empty, or whitespace-only
 *   while tool calls exist; otherwise it is kept verbatim.
 * - a malformed call (unterminated, missing or non-identifier name, `<arg_value>` without key,
 *   empty or duplicate key, text other than whitespace between tags, a misplaced tag,
 *   `</tool_call>` inside a value) is retracted (TOOL_CALL_INVALID) and its original text is
 *   delivered as content (or reasoning, see above) with a WARNING. A tool name must be non-empty,
 *   at most 256 bytes, without whitespace, control characters or any of "'(),;<>[\]{} (so a
 *   Hermes-style JSON call or prose after a spelled-out tag is text). Inside a value every tag
 *   but </arg_value> and </tool_call> is value text, as in vLLM.
 * - stop tokens are recognised by id only (as in vLLM); their text is never shown.
 * - tool-call ids are "chatcmpl-tool-" + 32 lowercase hex digits (vLLM's form), derived from
 *   GlimParserOptions.id_seed and the call's ordinal.
 * - argument values: a parameter whose schema type is exactly "string" keeps its text verbatim;
 *   any other value is stripped and read as JSON, else as a Python literal (subset: True, False,
 *   None, numbers, quoted strings, lists, tuples, dicts with string keys), else kept as the raw
 *   stripped string. Arguments are printed as Python's json.dumps(ensure_ascii=False) would. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

#include "glim-tokenizer.h"

G_BEGIN_DECLS

/* ---- tags ---- */

typedef enum {
  GLIM_PARSER_TAG_THINK,           /* <think> */
  GLIM_PARSER_TAG_THINK_END,       /* </think> */
  GLIM_PARSER_TAG_TOOL_CALL,       /* <tool_call> */
  GLIM_PARSER_TAG_TOOL_CALL_END,   /* </tool_call> */
  GLIM_PARSER_TAG_ARG_KEY,         /* <arg_key> */
  GLIM_PARSER_TAG_ARG_KEY_END,     /* </arg_key> */
  GLIM_PARSER_TAG_ARG_VALUE,       /* <arg_value> */
  GLIM_PARSER_TAG_ARG_VALUE_END,   /* </arg_value> */
  GLIM_PARSER_N_TAGS
} GlimParserTag;

#define GLIM_PARSER_MAX_STOP 8

/* Token ids the parser reacts to; filled once by the caller. */
typedef struct {
  int32_t ids[GLIM_PARSER_N_TAGS];     /* id of each tag, -1 when it is not a single token */
  int32_t stop_ids[GLIM_PARSER_MAX_STOP]; /* ids that end generation; never shown */
  int     n_stop;                      /* used entries of stop_ids */
} GlimParserTags;

/* The literal text of a tag ("<tool_call>"). */
const char *glim_parser_tag_text (GlimParserTag tag);
/* GLM-4.7-Flash's ids (docs/chat-format.md §2.4): tags 154841..154850, stops 154820, 154827,
 * 154829 (<|endoftext|>, <|user|>, <|observation|>). */
void        glim_parser_tags_init_default (GlimParserTags *tags);
/* The same, looked up in a loaded tokenizer (glim-parser-tokens.c). A tag that is not a single
 * token gets -1 and is then recognised in the text only. FALSE when a stop token is missing. */
gboolean    glim_parser_tags_from_tokenizer (GlimTokenizer *tok, GlimParserTags *tags);

/* ---- events ---- */

typedef enum {
  GLIM_PARSER_EVENT_REASONING,        /* text: reasoning delta */
  GLIM_PARSER_EVENT_REASONING_END,    /* reasoning is over; text: "</think>", or "" when a tool
                                       * call ended it */
  GLIM_PARSER_EVENT_CONTENT,          /* text: content delta */
  GLIM_PARSER_EVENT_TOOL_CALL_BEGIN,  /* index, id, name; arguments follow */
  GLIM_PARSER_EVENT_TOOL_CALL_ARGS,   /* index; text: the next fragment of the arguments JSON */
  GLIM_PARSER_EVENT_TOOL_CALL_END,    /* index, id, name; text: the whole arguments JSON (equal
                                       * to the fragments joined); raw: the call's original text */
  GLIM_PARSER_EVENT_TOOL_CALL_INVALID,/* index: forget this begun call (the next call gets
                                       * the same index); its text follows as CONTENT (or
                                       * REASONING) after a WARNING. A consumer that cannot take
                                       * back what it sent (an OpenAI stream) holds a call until
                                       * TOOL_CALL_END. */
  GLIM_PARSER_EVENT_WARNING,          /* text: what was malformed (markup delivered as text) */
  GLIM_PARSER_EVENT_FINISH,           /* finish: the finish reason; the last event */
} GlimParserEventType;

typedef enum {
  GLIM_PARSER_FINISH_STOP,            /* a stop token, or the caller stopped */
  GLIM_PARSER_FINISH_LENGTH,          /* max_tokens or the context was reached */
  GLIM_PARSER_FINISH_TOOL_CALLS,      /* at least one valid tool call */
} GlimParserFinish;

/* Every pointer is valid during the callback only; the callback must not call the parser.
 * Order: REASONING deltas, at most one REASONING_END, then CONTENT deltas and tool calls in
 * output order, FINISH last. A call is TOOL_CALL_BEGIN, TOOL_CALL_ARGS*, then TOOL_CALL_END or
 * TOOL_CALL_INVALID. A call begun inside reasoning sits among the REASONING deltas: if it is
 * retracted reasoning goes on; if it completes, REASONING_END ("") comes just before its END. */
typedef struct {
  GlimParserEventType type;
  const char         *text;     /* see the event types; NULL where unused */
  gsize               len;      /* bytes of text (text may contain NUL) */
  int                 index;    /* tool-call events: position in the final tool_calls list */
  const char         *id;       /* TOOL_CALL_BEGIN/END */
  const char         *name;     /* TOOL_CALL_BEGIN/END */
  const char         *raw;      /* TOOL_CALL_END: "<tool_call>…</tool_call>" as generated */
  gsize               raw_len;
  GlimParserFinish    finish;   /* FINISH */
} GlimParserEvent;

typedef void (*GlimParserEventFunc) (const GlimParserEvent *event, gpointer user_data);

/* "stop", "length", "tool_calls" */
const char *glim_parser_finish_to_string (GlimParserFinish finish);

/* ---- the parser ---- */

typedef struct {
  gboolean   thinking;       /* the prompt ended with <think>: start inside reasoning */
  gboolean   tools_enabled;  /* parse <tool_call> markup; FALSE: it is plain text (no tools in
                              * the request, or tool_choice "none") */
  JsonArray *tools;          /* the request's tools, OpenAI format, or NULL; referenced, only
                              * "function" entries with a "name" are used */
  guint64    id_seed;        /* tool-call ids are a function of this and the call's ordinal;
                              * 0: a random seed */
} GlimParserOptions;

typedef struct _GlimParser GlimParser;

/* thinking on, tools enabled, no schemas, random ids */
void        glim_parser_options_init (GlimParserOptions *options);
GlimParser *glim_parser_new    (const GlimParserTags *tags, const GlimParserOptions *options,
                                GlimParserEventFunc func, gpointer user_data);
void        glim_parser_free   (GlimParser *parser);
/* One generated token: its id and the text the decoder gave for it (len -1: NUL-terminated).
 * The text of tag and stop ids is ignored. Returns TRUE once a stop token has been seen: the
 * generation loop stops; later input is ignored. Text must be valid UTF-8 (invalid bytes become
 * U+FFFD). */
gboolean    glim_parser_feed_token (GlimParser *parser, int32_t id, const char *text, gssize len);
/* Text with no token id (tags are found in it); same as feed_token with id -1. */
gboolean    glim_parser_feed_text  (GlimParser *parser, const char *text, gssize len);
/* End of generation: decides held-back text and any open tool call, then emits FINISH with
 * TOOL_CALLS if a call was made, else `reason` (STOP or LENGTH). No feeding afterwards. */
void        glim_parser_finish (GlimParser *parser, GlimParserFinish reason);
/* TRUE after a stop token. */
gboolean    glim_parser_stopped (GlimParser *parser);

/* Drive the parser from the incremental decoder (glim-parser-tokens.c): tag and stop ids are
 * fed as ids (after flushing text the decoder holds back), other ids through the decoder. */
gboolean    glim_parser_feed_decoded   (GlimParser *parser, GlimDecoder *decoder, int32_t id);
void        glim_parser_finish_decoded (GlimParser *parser, GlimDecoder *decoder,
                                        GlimParserFinish reason);

/* ---- the final message ---- */

typedef struct {
  char    *id;          /* "chatcmpl-tool-<32 hex>" */
  char    *name;
  GString *arguments;   /* JSON object text, Python json.dumps format */
} GlimParserToolCall;

typedef struct {
  gboolean          thinking;    /* reasoning_content is null when FALSE */
  GString          *reasoning;   /* all reasoning deltas */
  GString          *content;     /* all content deltas */
  GPtrArray        *tool_calls;  /* GlimParserToolCall*, valid calls only, in order */
  GPtrArray        *warnings;    /* char*, one per WARNING event */
  gboolean          finished;
  GlimParserFinish  finish;
} GlimParserMessage;

GlimParserMessage *glim_parser_message_new      (gboolean thinking);
void               glim_parser_message_free     (GlimParserMessage *msg);
/* Fold one event in; usable directly as the parser's GlimParserEventFunc (user_data = msg). */
void               glim_parser_message_collect  (const GlimParserEvent *event, gpointer msg);
/* The final fields: NULL means JSON null (rules in the file comment above). */
const char        *glim_parser_message_content   (GlimParserMessage *msg);
const char        *glim_parser_message_reasoning (GlimParserMessage *msg);
/* One compact JSON object, keys in this order:
 *   {"role":"assistant","content":STRING|null,"reasoning_content":STRING|null,
 *    "tool_calls":[{"id":"chatcmpl-tool-…","type":"function",
 *                   "function":{"name":NAME,"arguments":JSON-TEXT}}…],
 *    "finish_reason":"stop"|"length"|"tool_calls"|null}
 * tool_calls is [] when there are none; finish_reason is null before FINISH. */
char              *glim_parser_message_to_json   (GlimParserMessage *msg);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimParser, glim_parser_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimParserMessage, glim_parser_message_free)

G_END_DECLS
