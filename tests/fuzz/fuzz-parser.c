/* fuzz-parser.c: libFuzzer target for the streaming output parser (engine/glim-parser.c).
 * SPDX-License-Identifier: MIT
 *
 * Input: byte 0 holds flags (bit 0 thinking, bit 1 tools enabled, bit 2 schemas given, bit 7
 * value mode: the rest is one argument value, whose JSON must read back to itself); then
 * bytes F8..FF are the eight tag tokens, F5 the <|user|> stop token, F6 a token boundary inside
 * text, F7 an empty token, and any other byte is text (each token's text is made valid UTF-8
 * first, as the decoder's would be). Checked: no crash; all text and tags before the stop token
 * come back in order from the events (REASONING, REASONING_END, CONTENT, TOOL_CALL_END's raw), a
 * dropped leading <think> aside; argument fragments add up to the final arguments, which are a
 * JSON object json.dumps would print unchanged; call events pair up; the finish reason matches;
 * and the same input fed as one text (tags spelled out) and one character per token gives the
 * same message.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Iengine $(pkg-config --cflags
 *   glib-2.0 json-glib-1.0) tests/fuzz/fuzz-parser.c engine/glim-parser.c
 *   engine/glim-parser-message.c engine/glim-parser-text.c engine/glim-parser-value.c
 *   engine/glim-pyjson.c engine/glim-pyjson-dump.c $(pkg-config --libs glib-2.0 json-glib-1.0)
 *   -lm -o fuzz-parser (or link the engine library)
 * Dictionary: tests/fuzz/fuzz-parser.dict */
#include "glim-parser-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_ID 1000
#define STOP_ID 154827

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf (stderr, "fuzz-parser: check failed at line %d: %s\n", __LINE__, #cond); \
      abort ();                                                                       \
    }                                                                                 \
  } while (0)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char tools_json[] =
  "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
  "\"properties\":{\"s\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"},\"o\":{\"type\":"
  "\"object\"}}}}},{\"type\":\"function\",\"function\":{\"name\":\"g\"}}]";

typedef struct {
  int32_t  id;
  GString *text;
} Token;

typedef struct {
  GlimParserMessage *msg;
  GString           *account;
  GString           *frags;
  int                open;      /* index of the begun call, or -1 */
  int                n_end;
  int                n_finish;
} Run;

static void
on_event (const GlimParserEvent *ev, gpointer data)
{
  Run *r = data;
  CHECK (r->n_finish == 0);
  glim_parser_message_collect (ev, r->msg);
  switch (ev->type) {
  case GLIM_PARSER_EVENT_REASONING:
  case GLIM_PARSER_EVENT_CONTENT:
    CHECK (ev->len > 0 && r->open == -1);
    g_string_append_len (r->account, ev->text, (gssize) ev->len);
    break;
  case GLIM_PARSER_EVENT_REASONING_END:
    g_string_append_len (r->account, ev->text, (gssize) ev->len);
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_BEGIN:
    CHECK (r->open == -1 && ev->index == r->n_end && ev->name != NULL && ev->id != NULL);
    r->open = ev->index;
    g_string_truncate (r->frags, 0);
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_ARGS:
    CHECK (r->open == ev->index && ev->len > 0);
    g_string_append_len (r->frags, ev->text, (gssize) ev->len);
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_END: {
    CHECK (r->open == ev->index);
    CHECK (r->frags->len == ev->len && memcmp (r->frags->str, ev->text, ev->len) == 0);
    CHECK (ev->len >= 2 && ev->text[0] == '{' && ev->text[ev->len - 1] == '}');
    g_autoptr (GString) again = g_string_new (NULL);
    glim_parser_value_to_json (again, ev->text, ev->len);
    CHECK (again->len == ev->len && memcmp (again->str, ev->text, ev->len) == 0);
    g_string_append_len (r->account, ev->raw, (gssize) ev->raw_len);
    r->open = -1;
    r->n_end++;
    break;
  }
  case GLIM_PARSER_EVENT_TOOL_CALL_INVALID:
    CHECK (r->open == ev->index);
    r->open = -1;
    break;
  case GLIM_PARSER_EVENT_WARNING:
    CHECK (ev->len > 0);
    break;
  case GLIM_PARSER_EVENT_FINISH:
    CHECK (r->open == -1);
    CHECK ((ev->finish == GLIM_PARSER_FINISH_TOOL_CALLS) == (r->n_end > 0));
    r->n_finish++;
    break;
  }
}

/* Feed the tokens; returns the message JSON and the warning count; checks the accounting. */
static char *
run (GPtrArray *tokens, guint8 flags, JsonArray *tools, const GString *input, guint *n_warnings)
{
  GlimParserTags tags;
  glim_parser_tags_init_default (&tags);
  GlimParserOptions opts;
  glim_parser_options_init (&opts);
  opts.thinking = (flags & 1) != 0;
  opts.tools_enabled = (flags & 2) != 0;
  opts.tools = (flags & 4) != 0 ? tools : NULL;
  opts.id_seed = 1;
  Run r = { glim_parser_message_new (opts.thinking), g_string_new (NULL), g_string_new (NULL),
            -1, 0, 0 };
  GlimParser *parser = glim_parser_new (&tags, &opts, on_event, &r);
  gboolean stopped = FALSE;
  for (guint i = 0; i < tokens->len; i++) {
    Token *t = g_ptr_array_index (tokens, i);
    gboolean s = glim_parser_feed_token (parser, t->id, t->text->str, (gssize) t->text->len);
    CHECK (!stopped || s);
    stopped = s;
  }
  glim_parser_finish (parser, stopped ? GLIM_PARSER_FINISH_STOP : GLIM_PARSER_FINISH_LENGTH);
  CHECK (r.n_finish == 1);
  glim_parser_free (parser);

  const char *expect = input->str;
  gsize expect_len = input->len;
  if (opts.thinking && g_str_has_prefix (expect, "<think>")) {
    expect += 7;
    expect_len -= 7;
  }
  CHECK (r.account->len == expect_len && memcmp (r.account->str, expect, expect_len) == 0);
  CHECK ((int) r.msg->tool_calls->len == r.n_end);

  *n_warnings = r.msg->warnings->len;
  char *json = glim_parser_message_to_json (r.msg);
  glim_parser_message_free (r.msg);
  g_string_free (r.account, TRUE);
  g_string_free (r.frags, TRUE);
  return json;
}

static void
token_free (gpointer data)
{
  Token *t = data;
  g_string_free (t->text, TRUE);
  g_free (t);
}

static void
add_token (GPtrArray *tokens, int32_t id, const char *s, gsize len)
{
  Token *t = g_new0 (Token, 1);
  t->id = id;
  t->text = g_string_new_len (s, (gssize) len);
  g_ptr_array_add (tokens, t);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  guint8 flags = data[0];
  if (flags & 0x80) {                 /* the value reader alone */
    g_autoptr (GString) value = g_string_new (NULL);
    glim_parser_utf8_append_valid (value, (const char *) data + 1, size - 1);
    g_autoptr (GString) json = g_string_new (NULL);
    glim_parser_value_to_json (json, value->str, value->len);
    g_autoptr (GString) again = g_string_new (NULL);
    glim_parser_value_to_json (again, json->str, json->len);
    CHECK (json->len == again->len && memcmp (json->str, again->str, json->len) == 0);
    return 0;
  }
  GlimParserTags tags;
  glim_parser_tags_init_default (&tags);

  /* the token stream as the fuzzer wrote it, the same as one text, and per character */
  g_autoptr (GPtrArray) tokens = g_ptr_array_new_with_free_func (token_free);
  g_autoptr (GPtrArray) whole = g_ptr_array_new_with_free_func (token_free);
  g_autoptr (GPtrArray) chars = g_ptr_array_new_with_free_func (token_free);
  g_autoptr (GString) input = g_string_new (NULL);    /* everything before the stop token */
  g_autoptr (GString) pending = g_string_new (NULL);  /* text not yet cut into a token */
  g_autoptr (GString) run_text = g_string_new (NULL); /* text since the last stop token */
  gboolean stopped = FALSE;
  for (size_t i = 1; i <= size; i++) {
    int b = i < size ? data[i] : -1;
    if (b >= 0 && b < 0xf5) {
      g_string_append_c (pending, (char) b);
      continue;
    }
    if (pending->len > 0) {          /* one text token, valid UTF-8 as a decoder gives it */
      g_autoptr (GString) valid = g_string_new (NULL);
      glim_parser_utf8_append_valid (valid, pending->str, pending->len);
      add_token (tokens, TEXT_ID, valid->str, valid->len);
      for (gsize k = 0; k < valid->len;) {
        gsize next = (gsize) (g_utf8_next_char (valid->str + k) - valid->str);
        add_token (chars, TEXT_ID, valid->str + k, next - k);
        k = next;
      }
      g_string_append_len (run_text, valid->str, (gssize) valid->len);
      if (!stopped)
        g_string_append_len (input, valid->str, (gssize) valid->len);
      g_string_truncate (pending, 0);
    }
    if (b < 0 || b == 0xf6)
      continue;
    if (b == 0xf7) {
      add_token (tokens, TEXT_ID, "", 0);
      continue;
    }
    if (b == 0xf5) {
      add_token (whole, TEXT_ID, run_text->str, run_text->len);
      g_string_truncate (run_text, 0);
      add_token (whole, STOP_ID, "", 0);
      add_token (tokens, STOP_ID, "", 0);
      add_token (chars, STOP_ID, "", 0);
      stopped = TRUE;
      continue;
    }
    GlimParserTag tag = (GlimParserTag) (b - 0xf8);
    const char *lit = glim_parser_tag_text (tag);
    add_token (tokens, tags.ids[tag], lit, strlen (lit));
    add_token (chars, tags.ids[tag], lit, strlen (lit));
    g_string_append (run_text, lit);
    if (!stopped)
      g_string_append (input, lit);
  }
  add_token (whole, TEXT_ID, run_text->str, run_text->len);

  g_autoptr (JsonParser) jp = json_parser_new ();
  CHECK (json_parser_load_from_data (jp, tools_json, -1, NULL));
  JsonArray *tools = json_node_get_array (json_parser_get_root (jp));

  guint w1, w2, w3;
  g_autofree char *json1 = run (tokens, flags, tools, input, &w1);
  g_autofree char *json2 = run (whole, flags, tools, input, &w2);
  g_autofree char *json3 = run (chars, flags, tools, input, &w3);
  if (strcmp (json1, json2) != 0 || strcmp (json1, json3) != 0)
    fprintf (stderr, "tokens: %s\nwhole:  %s\nchars:  %s\n", json1, json2, json3);
  CHECK (strcmp (json1, json2) == 0 && w1 == w2);
  CHECK (strcmp (json1, json3) == 0 && w1 == w3);
  return 0;
}
