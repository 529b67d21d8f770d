/* test-parser.c: the streaming output parser against hand-written expectations from
 * docs/chat-format.md §3 (vLLM's behaviour on its own test vectors) and our documented decisions.
 * SPDX-License-Identifier: MIT
 *
 * Every case is one generated output written as text, tags and stop tokens spelled out. It is fed
 * (a) whole, as one text, (b) whole text segments with tags as token ids, (c) one character per
 * token, and (d) 200 seeded random cuttings in which each tag is either its id or spelled out
 * inside the text. All feedings must give the same final message, equal to the expected fields,
 * and every run checks the event invariants (text accounted for, argument fragments add up). */
#include "glim-parser-private.h"

#include <string.h>

#define N_RANDOM 200
#define TEXT_ID  1000    /* an id that is neither a tag nor a stop token */

static const char tools_json[] =
  "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{"
  "\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"note\":{\"type\":"
  "\"string\"},\"days\":{\"type\":\"integer\"},\"opts\":{\"type\":\"object\"},\"maybe\":"
  "{\"type\":[\"string\",\"null\"]}}}}},"
  "{\"type\":\"function\",\"function\":{\"name\":\"get_current_date\",\"parameters\":{"
  "\"type\":\"object\",\"properties\":{}}}},"
  "{\"type\":\"function\",\"function\":{\"name\":\"special_function\",\"parameters\":{"
  "\"type\":\"object\",\"properties\":{\"arg1\":{\"type\":\"integer\"}}}}},"
  "{\"type\":\"function\",\"function\":{\"name\":\"special_function_with_opt\",\"parameters\":{"
  "\"type\":\"object\",\"properties\":{\"arg1\":{\"type\":\"integer\"},\"arg2\":{\"type\":"
  "\"integer\"}}}}},"
  "{\"type\":\"function\",\"function\":{\"name\":\"write_file\",\"parameters\":{"
  "\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},\"content\":{\"type\":"
  "\"string\"},\"mode\":{\"type\":\"integer\"}}}}},"
  "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{"
  "\"type\":\"object\",\"properties\":{\"days\":{\"type\":\"string\"}}}}},"
  "{\"type\":\"function\",\"function\":{\"name\":\"no_params\"}},"
  "\"not a tool\"]";

typedef struct {
  const char *name;
  gboolean    thinking;
  gboolean    no_tools;        /* tools_enabled FALSE */
  const char *output;          /* generated text; tags and stop tokens spelled out */
  const char *reasoning;       /* expected; NULL: null */
  const char *content;
  const char *calls[4][2];     /* expected name and arguments */
  const char *finish;
  int         warnings;
} Case;

#define THINK TRUE
#define NOTHINK FALSE
#define NO_CALLS { { NULL, NULL } }

static const Case cases[] = {
  /* ---- reasoning split: vLLM tests/reasoning/test_glm47_reasoning_parser.py (§3.2) ---- */
  { "r1/split", THINK, FALSE, "This is a reasoning section</think>This is the rest<|user|>",
    "This is a reasoning section", "This is the rest", NO_CALLS, "stop", 0 },
  { "r1/no-content", THINK, FALSE, "This is a reasoning section</think><|user|>",
    "This is a reasoning section", NULL, NO_CALLS, "stop", 0 },
  { "r1/ends-in-reasoning", THINK, FALSE, "This is content",
    "This is content", NULL, NO_CALLS, "length", 0 },
  { "r1/empty-reasoning", THINK, FALSE, "</think>This is the rest<|endoftext|>",
    NULL, "This is the rest", NO_CALLS, "stop", 0 },
  { "r1/leading-think", THINK, FALSE, "<think>This\nThat</think>This is the rest\nThat",
    "This\nThat", "This is the rest\nThat", NO_CALLS, "length", 0 },
  { "r1/leading-think-truncated", THINK, FALSE, "<think>This is a reasoning section",
    "This is a reasoning section", NULL, NO_CALLS, "length", 0 },
  { "r1/empty", THINK, FALSE, "<|user|>", NULL, NULL, NO_CALLS, "stop", 0 },
  { "r1/nothing", THINK, FALSE, "", NULL, NULL, NO_CALLS, "length", 0 },
  { "r1/second-think-end-is-content", THINK, FALSE, "a</think>b</think>c",
    "a", "b</think>c", NO_CALLS, "length", 0 },
  { "r1/late-think-is-reasoning", THINK, FALSE, "a<think>b</think>c",
    "a<think>b", "c", NO_CALLS, "length", 0 },
  { "r1/newline-after-think-kept", THINK, FALSE, "r</think>\n\nAnswer<|user|>",
    "r", "\n\nAnswer", NO_CALLS, "stop", 0 },
  { "r1/llama-thinking", THINK, FALSE, "I'm\nthinking</think>Hello, world!\nWhat's up?",
    "I'm\nthinking", "Hello, world!\nWhat's up?", NO_CALLS, "length", 0 },
  { "r1/unicode", THINK, FALSE,
    "Überlegung 🤔 東京</think>Ответ: ✓ — done\xe2\x80\xa8ok<|user|>",
    "Überlegung 🤔 東京", "Ответ: ✓ — done\xe2\x80\xa8ok", NO_CALLS, "stop", 0 },
  { "r1/lookalike-tags", THINK, FALSE, "x <thinking> </think >y</think>z",
    "x <thinking> </think >y", "z", NO_CALLS, "length", 0 },

  /* ---- thinking off: vLLM's Identity parser ---- */
  { "off/content", NOTHINK, FALSE, "Hello, world!\nWhat's up?<|user|>",
    NULL, "Hello, world!\nWhat's up?", NO_CALLS, "stop", 0 },
  { "off/tags-are-content", NOTHINK, FALSE, "<think>x</think>y",
    NULL, "<think>x</think>y", NO_CALLS, "length", 0 },
  { "off/whitespace-only-kept", NOTHINK, FALSE, "\n<|user|>", NULL, "\n", NO_CALLS, "stop", 0 },
  { "off/partial-tags-flushed", NOTHINK, FALSE, "a <b> c </thi x <tool_ <arg_v <",
    NULL, "a <b> c </thi x <tool_ <arg_v <", NO_CALLS, "length", 0 },
  { "off/stray-close-tags", NOTHINK, FALSE, "a</tool_call>b</arg_value>c<arg_key>",
    NULL, "a</tool_call>b</arg_value>c<arg_key>", NO_CALLS, "length", 0 },

  /* ---- tool calls: vLLM glm47 worked examples (§3.4) ---- */
  { "call/vllm-weather", THINK, FALSE,
    "</think><tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>"
    "<arg_key>days</arg_key><arg_value>2</arg_value></tool_call><|observation|>",
    NULL, NULL, { { "get_weather", "{\"city\": \"Paris\", \"days\": 2}" } }, "tool_calls", 0 },
  { "call/vllm-two-calls", THINK, FALSE,
    "</think>Let me check.<tool_call>get_weather<arg_key>city</arg_key><arg_value> New York "
    "</arg_value><arg_key>opts</arg_key><arg_value>{\"unit\": \"c\"}</arg_value></tool_call>"
    "<tool_call>get_current_date</tool_call><|observation|>",
    NULL, "Let me check.",
    { { "get_weather", "{\"city\": \" New York \", \"opts\": {\"unit\": \"c\"}}" },
      { "get_current_date", "{}" } }, "tool_calls", 0 },
  { "call/vllm-typing", THINK, FALSE,
    "</think><tool_call>get_weather<arg_key>city</arg_key><arg_value>123</arg_value>"
    "<arg_key>unknown</arg_key><arg_value>True</arg_value><arg_key>days</arg_key>"
    "<arg_value>007</arg_value></tool_call>",
    NULL, NULL, { { "get_weather", "{\"city\": \"123\", \"unknown\": true, \"days\": \"007\"}" } },
    "tool_calls", 0 },
  /* llama.cpp tests/test-chat.cpp vectors (§5) */
  { "call/llama-special", NOTHINK, FALSE,
    "<tool_call>special_function<arg_key>arg1</arg_key><arg_value>1</arg_value></tool_call>",
    NULL, NULL, { { "special_function", "{\"arg1\": 1}" } }, "tool_calls", 0 },
  { "call/llama-after-reasoning", THINK, FALSE,
    "I'm\nthinking</think><tool_call>special_function<arg_key>arg1</arg_key><arg_value>1"
    "</arg_value></tool_call>",
    "I'm\nthinking", NULL, { { "special_function", "{\"arg1\": 1}" } }, "tool_calls", 0 },
  { "call/llama-parallel", NOTHINK, FALSE,
    "<tool_call>special_function<arg_key>arg1</arg_key><arg_value>1</arg_value></tool_call>"
    "<tool_call>special_function_with_opt<arg_key>arg1</arg_key><arg_value>1</arg_value>"
    "<arg_key>arg2</arg_key><arg_value>2</arg_value></tool_call><|observation|>",
    NULL, NULL, { { "special_function", "{\"arg1\": 1}" },
                  { "special_function_with_opt", "{\"arg1\": 1, \"arg2\": 2}" } },
    "tool_calls", 0 },
  /* shapes vLLM accepts (§3.7) */
  { "call/zero-args-newline", NOTHINK, FALSE, "<tool_call>get_current_date\n</tool_call>",
    NULL, NULL, { { "get_current_date", "{}" } }, "tool_calls", 0 },
  { "call/glm45-newlines-and-literal-backslash-n", NOTHINK, FALSE,
    "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n"
    "<arg_key> days </arg_key> \\n\t<arg_value>3</arg_value>\n</tool_call>",
    NULL, NULL, { { "get_weather", "{\"city\": \"Paris\", \"days\": 3}" } }, "tool_calls", 0 },
  { "call/unknown-tool", NOTHINK, FALSE,
    "<tool_call>mystery_tool<arg_key>q</arg_key><arg_value>[1,2]</arg_value></tool_call>",
    NULL, NULL, { { "mystery_tool", "{\"q\": [1, 2]}" } }, "tool_calls", 0 },
  { "call/unicode-name-key-value", NOTHINK, FALSE,
    "<tool_call>météo<arg_key>ville</arg_key><arg_value>Zürich 東京</arg_value></tool_call>",
    NULL, NULL, { { "météo", "{\"ville\": \"Zürich 東京\"}" } }, "tool_calls", 0 },

  /* ---- our decisions: text around calls, calls inside reasoning ---- */
  { "call/text-after-call-kept", NOTHINK, FALSE,
    "<tool_call>get_current_date</tool_call>Done.",
    NULL, "Done.", { { "get_current_date", "{}" } }, "tool_calls", 0 },
  { "call/text-between-calls-kept", NOTHINK, FALSE,
    "A<tool_call>get_current_date</tool_call>B<tool_call>get_current_date</tool_call>C",
    NULL, "ABC", { { "get_current_date", "{}" }, { "get_current_date", "{}" } },
    "tool_calls", 0 },
  { "call/whitespace-content-null", THINK, FALSE,
    "</think>\n<tool_call>get_current_date</tool_call>\n<|observation|>",
    NULL, NULL, { { "get_current_date", "{}" } }, "tool_calls", 0 },
  { "call/reasoning-call-text", THINK, FALSE,
    "hmm</think>Sure<tool_call>get_current_date</tool_call> ok<|user|>",
    "hmm", "Sure ok", { { "get_current_date", "{}" } }, "tool_calls", 0 },
  { "call/inside-reasoning-ends-it", THINK, FALSE,
    "Let me look.<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>"
    "</tool_call><|observation|>",
    "Let me look.", NULL, { { "get_weather", "{\"city\": \"Paris\"}" } }, "tool_calls", 0 },
  { "call/inside-reasoning-false-alarm", THINK, FALSE,
    "I could use <tool_call> here.</think>Answer",
    "I could use <tool_call> here.", "Answer", NO_CALLS, "length", 1 },
  { "call/inside-reasoning-prose", THINK, FALSE,
    "Maybe <tool_call> is the tag to use</think>Answer",
    "Maybe <tool_call> is the tag to use", "Answer", NO_CALLS, "length", 1 },
  { "call/inside-reasoning-unterminated", THINK, FALSE,
    "Thinking <tool_call>get_weather<arg_key>city</arg_key><arg_value>Par",
    "Thinking <tool_call>get_weather<arg_key>city</arg_key><arg_value>Par", NULL, NO_CALLS,
    "length", 1 },

  /* ---- malformed calls: text kept as content, with a warning ---- */
  { "bad/unterminated", THINK, FALSE,
    "</think>Sure.<tool_call>get_weather<arg_key>city</arg_key><arg_value>Par",
    NULL, "Sure.<tool_call>get_weather<arg_key>city</arg_key><arg_value>Par", NO_CALLS,
    "length", 1 },
  { "bad/unterminated-after-value", NOTHINK, FALSE,
    "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>",
    NULL, "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>", NO_CALLS,
    "length", 1 },
  { "bad/missing-name", NOTHINK, FALSE,
    "<tool_call><arg_key>a</arg_key><arg_value>1</arg_value></tool_call>",
    NULL, "<tool_call><arg_key>a</arg_key><arg_value>1</arg_value></tool_call>", NO_CALLS,
    "length", 1 },
  { "bad/value-without-key", NOTHINK, FALSE,
    "<tool_call>get_weather<arg_value>1</arg_value></tool_call>",
    NULL, "<tool_call>get_weather<arg_value>1</arg_value></tool_call>", NO_CALLS, "length", 1 },
  { "bad/garbage-after-key", NOTHINK, FALSE,
    "<tool_call>get_weather<arg_key>city</arg_key>x<arg_value>1</arg_value></tool_call>",
    NULL, "<tool_call>get_weather<arg_key>city</arg_key>x<arg_value>1</arg_value></tool_call>",
    NO_CALLS, "length", 1 },
  { "bad/garbage-after-value", NOTHINK, FALSE,
    "<tool_call>get_weather<arg_key>city</arg_key><arg_value>1</arg_value>junk</tool_call>",
    NULL, "<tool_call>get_weather<arg_key>city</arg_key><arg_value>1</arg_value>junk</tool_call>",
    NO_CALLS, "length", 1 },
  { "bad/then-valid-call", NOTHINK, FALSE,
    "<tool_call>get_weather<arg_value>1</arg_value></tool_call>"
    "<tool_call>get_current_date</tool_call><|observation|>",
    NULL, "<tool_call>get_weather<arg_value>1</arg_value></tool_call>",
    { { "get_current_date", "{}" } }, "tool_calls", 1 },
  { "bad/nested-tool-call", NOTHINK, FALSE,
    "<tool_call>get_weather<tool_call>get_current_date</tool_call>",
    NULL, "<tool_call>get_weather", { { "get_current_date", "{}" } }, "tool_calls", 1 },
  { "bad/hermes-json", NOTHINK, FALSE,
    "<tool_call>{\"name\":\"get_weather\",\"arguments\":{}}</tool_call>",
    NULL, "<tool_call>{\"name\":\"get_weather\",\"arguments\":{}}</tool_call>", NO_CALLS,
    "length", 1 },
  { "bad/name-with-space", NOTHINK, FALSE, "<tool_call>get weather</tool_call>",
    NULL, "<tool_call>get weather</tool_call>", NO_CALLS, "length", 1 },
  { "bad/close-inside-value", NOTHINK, FALSE,
    "<tool_call>write_file<arg_key>path</arg_key><arg_value>a.txt</tool_call>",
    NULL, "<tool_call>write_file<arg_key>path</arg_key><arg_value>a.txt</tool_call>", NO_CALLS,
    "length", 1 },
  { "bad/duplicate-key", NOTHINK, FALSE,
    "<tool_call>get_weather<arg_key>city</arg_key><arg_value>A</arg_value><arg_key>city"
    "</arg_key><arg_value>B</arg_value></tool_call>",
    NULL, "<tool_call>get_weather<arg_key>city</arg_key><arg_value>A</arg_value><arg_key>city"
    "</arg_key><arg_value>B</arg_value></tool_call>", NO_CALLS, "length", 1 },
  { "bad/empty-key", NOTHINK, FALSE,
    "<tool_call>get_weather<arg_key> </arg_key><arg_value>A</arg_value></tool_call>",
    NULL, "<tool_call>get_weather<arg_key> </arg_key><arg_value>A</arg_value></tool_call>",
    NO_CALLS, "length", 1 },
  { "bad/think-end-inside-call", NOTHINK, FALSE,
    "<tool_call>get_weather<arg_key>city</arg_key></think><arg_value>x</arg_value></tool_call>",
    NULL, "<tool_call>get_weather<arg_key>city</arg_key></think><arg_value>x</arg_value>"
    "</tool_call>", NO_CALLS, "length", 1 },

  /* ---- argument values ---- */
  { "value/tags-inside-string", NOTHINK, FALSE,
    "<tool_call>write_file<arg_key>path</arg_key><arg_value>x.md</arg_value><arg_key>content"
    "</arg_key><arg_value>Use <tool_call> and <think> and <arg_key>k</arg_key>\n</arg_value>"
    "</tool_call>",
    NULL, NULL, { { "write_file", "{\"path\": \"x.md\", \"content\": \"Use <tool_call> and "
                    "<think> and <arg_key>k</arg_key>\\n\"}" } }, "tool_calls", 0 },
  { "value/json-specials", NOTHINK, FALSE,
    "<tool_call>write_file<arg_key>path</arg_key><arg_value>p</arg_value><arg_key>content"
    "</arg_key><arg_value>he said \"hi\"\n\t\\ / <b> \x01 \x7f é 😀 \xe2\x80\xa8</arg_value>"
    "</tool_call>",
    NULL, NULL, { { "write_file", "{\"path\": \"p\", \"content\": \"he said \\\"hi\\\"\\n\\t"
                    "\\\\ / <b> \\u0001 \x7f é 😀 \xe2\x80\xa8\"}" } }, "tool_calls", 0 },
  { "value/string-whitespace-verbatim", NOTHINK, FALSE,
    "<tool_call>write_file<arg_key>content</arg_key><arg_value>  a\n </arg_value></tool_call>",
    NULL, NULL, { { "write_file", "{\"content\": \"  a\\n \"}" } }, "tool_calls", 0 },
  { "value/partial-tag-text-in-string", NOTHINK, FALSE,
    "<tool_call>write_file<arg_key>content</arg_key><arg_value>a </arg_val b <</arg_value>"
    "</tool_call>",
    NULL, NULL, { { "write_file", "{\"content\": \"a </arg_val b <\"}" } }, "tool_calls", 0 },
  { "value/nested-json", NOTHINK, FALSE,
    "<tool_call>get_weather<arg_key>opts</arg_key><arg_value>\n {\"a\": [1, 2.50, {\"b\": null}],"
    "\"c\": \"x\\u00e9\", \"d\": {\"e\": []}} \n</arg_value></tool_call>",
    NULL, NULL, { { "get_weather", "{\"opts\": {\"a\": [1, 2.5, {\"b\": null}], \"c\": \"xé\", "
                    "\"d\": {\"e\": []}}}" } }, "tool_calls", 0 },
  { "value/not-json-numbers-and-literals", NOTHINK, FALSE,
    "<tool_call>get_weather<arg_key>days</arg_key><arg_value>1e5</arg_value>"
    "<arg_key>opts</arg_key><arg_value>007</arg_value><arg_key>a</arg_key><arg_value>True"
    "</arg_value><arg_key>b</arg_key><arg_value> -0 </arg_value><arg_key>c</arg_key>"
    "<arg_value>1.50</arg_value><arg_key>d</arg_key><arg_value>0x1F</arg_value><arg_key>e"
    "</arg_key><arg_value>'single'</arg_value><arg_key>f</arg_key><arg_value>None</arg_value>"
    "<arg_key>g</arg_key><arg_value>[1, 'a', False]</arg_value><arg_key>h</arg_key><arg_value>"
    "1E400</arg_value><arg_key>i</arg_key><arg_value>12345678901234567890123</arg_value>"
    "<arg_key>j</arg_key><arg_value>1j</arg_value><arg_key>k</arg_key><arg_value></arg_value>"
    "<arg_key>l</arg_key><arg_value> hello world </arg_value><arg_key>m</arg_key><arg_value>"
    "{'x': (1, 2.0)}</arg_value><arg_key>n</arg_key><arg_value>.5</arg_value></tool_call>",
    NULL, NULL, { { "get_weather", "{\"days\": 100000.0, \"opts\": \"007\", \"a\": true, "
                    "\"b\": 0, \"c\": 1.5, \"d\": 31, \"e\": \"single\", \"f\": null, "
                    "\"g\": [1, \"a\", false], \"h\": Infinity, \"i\": 12345678901234567890123, "
                    "\"j\": \"1j\", \"k\": \"\", \"l\": \"hello world\", "
                    "\"m\": {\"x\": [1, 2.0]}, \"n\": 0.5}" } }, "tool_calls", 0 },
  { "value/schema-lookup", NOTHINK, FALSE,
    "<tool_call>get_weather<arg_key>maybe</arg_key><arg_value>42</arg_value><arg_key>days"
    "</arg_key><arg_value>5</arg_value></tool_call><tool_call>no_params<arg_key>x</arg_key>"
    "<arg_value>5</arg_value></tool_call><tool_call>write_file<arg_key>path</arg_key>"
    "<arg_value>5</arg_value><arg_key>mode</arg_key><arg_value>0o644</arg_value></tool_call>",
    NULL, NULL, { { "get_weather", "{\"maybe\": 42, \"days\": 5}" },
                  { "no_params", "{\"x\": 5}" },
                  { "write_file", "{\"path\": \"5\", \"mode\": 420}" } }, "tool_calls", 0 },

  /* ---- stop tokens, tools off ---- */
  { "stop/ends-output", NOTHINK, FALSE, "Hi<|user|>ignored <tool_call>x</tool_call>",
    NULL, "Hi", NO_CALLS, "stop", 0 },
  { "stop/inside-call", NOTHINK, FALSE, "<tool_call>get_weather<arg_key>city<|observation|>",
    NULL, "<tool_call>get_weather<arg_key>city", NO_CALLS, "stop", 1 },
  { "stop/holds-partial-tag", NOTHINK, FALSE, "a </think<|endoftext|>",
    NULL, "a </think", NO_CALLS, "stop", 0 },
  { "notools/content", NOTHINK, TRUE, "<tool_call>get_current_date</tool_call>",
    NULL, "<tool_call>get_current_date</tool_call>", NO_CALLS, "length", 0 },
  { "notools/reasoning", THINK, TRUE, "a<tool_call>b</think>c",
    "a<tool_call>b", "c", NO_CALLS, "length", 0 },
};

/* ---- feeding ---- */

enum { PIECE_TEXT, PIECE_TAG, PIECE_STOP };

typedef struct {
  int         kind;
  int         tag;    /* PIECE_TAG */
  int32_t     id;     /* PIECE_TAG, PIECE_STOP */
  const char *s;
  gsize       len;
} Piece;

typedef struct {
  int32_t id;
  char   *text;
} Token;

static const struct { const char *text; int32_t id; } stop_tokens[] = {
  { "<|endoftext|>", 154820 }, { "<|user|>", 154827 }, { "<|observation|>", 154829 },
};

/* Cut an output string into text, tag and stop pieces. */
static GArray *
split_pieces (const char *out, const GlimParserTags *tags)
{
  GArray *pieces = g_array_new (FALSE, TRUE, sizeof (Piece));
  gsize n = strlen (out), text_start = 0;
  for (gsize i = 0; i < n;) {
    Piece p = { 0 };
    gsize tl = 0;
    for (int t = 0; t < GLIM_PARSER_N_TAGS && tl == 0; t++) {
      const char *lit = glim_parser_tag_text (t);
      if (strncmp (out + i, lit, strlen (lit)) == 0) {
        p = (Piece) { PIECE_TAG, t, tags->ids[t], out + i, strlen (lit) };
        tl = strlen (lit);
      }
    }
    for (gsize k = 0; k < G_N_ELEMENTS (stop_tokens) && tl == 0; k++)
      if (strncmp (out + i, stop_tokens[k].text, strlen (stop_tokens[k].text)) == 0) {
        tl = strlen (stop_tokens[k].text);
        p = (Piece) { PIECE_STOP, -1, stop_tokens[k].id, out + i, tl };
      }
    if (tl == 0) {
      i++;
      continue;
    }
    if (i > text_start) {
      Piece t = { PIECE_TEXT, -1, TEXT_ID, out + text_start, i - text_start };
      g_array_append_val (pieces, t);
    }
    g_array_append_val (pieces, p);
    i += tl;
    text_start = i;
  }
  if (n > text_start) {
    Piece t = { PIECE_TEXT, -1, TEXT_ID, out + text_start, n - text_start };
    g_array_append_val (pieces, t);
  }
  return pieces;
}

static void
token_clear (gpointer data)
{
  g_free (((Token *) data)->text);
}

static GArray *
tokens_new (void)
{
  GArray *toks = g_array_new (FALSE, TRUE, sizeof (Token));
  g_array_set_clear_func (toks, token_clear);
  return toks;
}

static void
add_token (GArray *toks, int32_t id, const char *s, gsize len)
{
  Token t = { id, g_strndup (s, len) };
  g_array_append_val (toks, t);
}

/* Text runs, cut by `cut` (NULL: one token per run; rand with p < 0: one char per token). */
static void
add_text (GArray *toks, const char *s, gsize len, GRand *rand, gboolean per_char)
{
  gsize start = 0;
  for (gsize i = 0; i < len;) {
    i = (gsize) (g_utf8_next_char (s + i) - s);
    gboolean cut = per_char || (rand != NULL && g_rand_int_range (rand, 0, 3) == 0);
    if (i == len || cut) {
      add_token (toks, TEXT_ID, s + start, i - start);
      if (rand != NULL && g_rand_int_range (rand, 0, 10) == 0)
        add_token (toks, TEXT_ID, "", 0);           /* a token that decoded to nothing */
      start = i;
    }
  }
}

typedef enum { FEED_WHOLE_TEXT, FEED_SEGMENTS, FEED_PER_CHAR, FEED_RANDOM } FeedMode;

static GArray *
make_tokens (GArray *pieces, FeedMode mode, GRand *rand)
{
  GArray *toks = tokens_new ();
  g_autoptr (GString) run = g_string_new (NULL);
  for (guint i = 0; i <= pieces->len; i++) {
    Piece *p = i < pieces->len ? &g_array_index (pieces, Piece, i) : NULL;
    gboolean spell = p != NULL && (p->kind == PIECE_TEXT ||
                                   (p->kind == PIECE_TAG && (mode == FEED_WHOLE_TEXT ||
                                    (mode == FEED_RANDOM && g_rand_boolean (rand)))));
    if (spell) {
      g_string_append_len (run, p->s, (gssize) p->len);
      if (mode != FEED_SEGMENTS && mode != FEED_PER_CHAR)
        continue;
    }
    if (run->len > 0) {
      add_text (toks, run->str, run->len, mode == FEED_RANDOM ? rand : NULL,
                mode == FEED_PER_CHAR);
      g_string_truncate (run, 0);
    }
    if (p != NULL && !spell)
      add_token (toks, p->id, p->s, p->len);
  }
  return toks;
}

/* ---- running and checking ---- */

typedef struct {
  GlimParserMessage *msg;
  GString           *account;    /* text events and valid calls' raw text, in order */
  GString           *frags;      /* argument fragments of the open call */
  int                open_index; /* index of the begun call, -1 */
  int                n_end;
  gboolean           finished;
} Run;

static void
run_event (const GlimParserEvent *ev, gpointer data)
{
  Run *r = data;
  g_assert_false (r->finished);
  glim_parser_message_collect (ev, r->msg);
  switch (ev->type) {
  case GLIM_PARSER_EVENT_REASONING:
  case GLIM_PARSER_EVENT_CONTENT:
    g_assert_cmpuint (ev->len, >, 0);
    g_assert_cmpint (r->open_index, ==, -1);
    G_GNUC_FALLTHROUGH;
  case GLIM_PARSER_EVENT_REASONING_END:
    g_string_append_len (r->account, ev->text, (gssize) ev->len);
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_BEGIN:
    g_assert_cmpint (r->open_index, ==, -1);
    g_assert_cmpint (ev->index, ==, r->n_end);
    r->open_index = ev->index;
    g_string_truncate (r->frags, 0);
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_ARGS:
    g_assert_cmpint (ev->index, ==, r->open_index);
    g_string_append_len (r->frags, ev->text, (gssize) ev->len);
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_END:
    g_assert_cmpint (ev->index, ==, r->open_index);
    g_assert_cmpmem (r->frags->str, r->frags->len, ev->text, ev->len);
    g_string_append_len (r->account, ev->raw, (gssize) ev->raw_len);
    r->open_index = -1;
    r->n_end++;
    break;
  case GLIM_PARSER_EVENT_TOOL_CALL_INVALID:
    g_assert_cmpint (ev->index, ==, r->open_index);
    r->open_index = -1;
    break;
  case GLIM_PARSER_EVENT_WARNING:
    g_assert_cmpuint (ev->len, >, 0);
    break;
  case GLIM_PARSER_EVENT_FINISH:
    g_assert_cmpint (r->open_index, ==, -1);
    r->finished = TRUE;
    break;
  }
}

static JsonArray *
test_tools (void)
{
  g_autoptr (JsonParser) jp = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_data (jp, tools_json, -1, &error);
  g_assert_no_error (error);
  return json_array_ref (json_node_get_array (json_parser_get_root (jp)));
}

/* Feed tokens; return the final message JSON and check the per-run invariants. */
static char *
run_tokens (const Case *c, GArray *pieces, GArray *toks, int *n_warnings,
            GlimParserMessage **msg_out)
{
  GlimParserTags tags;
  glim_parser_tags_init_default (&tags);
  g_autoptr (JsonArray) tools = test_tools ();
  GlimParserOptions opts;
  glim_parser_options_init (&opts);
  opts.thinking = c->thinking;
  opts.tools_enabled = !c->no_tools;
  opts.tools = tools;
  opts.id_seed = 42;
  Run r = { glim_parser_message_new (c->thinking), g_string_new (NULL), g_string_new (NULL), -1,
            0, FALSE };
  g_autoptr (GlimParser) parser = glim_parser_new (&tags, &opts, run_event, &r);
  gboolean stopped = FALSE;
  for (guint i = 0; i < toks->len; i++) {
    Token *t = &g_array_index (toks, Token, i);
    gboolean s = glim_parser_feed_token (parser, t->id, t->text, -1);
    g_assert_true (!stopped || s);              /* once stopped, always stopped */
    stopped = s;
  }
  g_assert_cmpint (stopped, ==, glim_parser_stopped (parser));
  glim_parser_finish (parser, stopped ? GLIM_PARSER_FINISH_STOP : GLIM_PARSER_FINISH_LENGTH);
  g_assert_true (r.finished);

  /* every character before the stop token is accounted for */
  g_autoptr (GString) input = g_string_new (NULL);
  for (guint i = 0; i < pieces->len; i++) {
    Piece *p = &g_array_index (pieces, Piece, i);
    if (p->kind == PIECE_STOP)
      break;
    g_string_append_len (input, p->s, (gssize) p->len);
  }
  const char *expect = input->str;
  if (c->thinking && g_str_has_prefix (expect, "<think>"))
    expect += strlen ("<think>");
  g_assert_cmpstr (r.account->str, ==, expect);

  *n_warnings = (int) r.msg->warnings->len;
  char *json = glim_parser_message_to_json (r.msg);
  g_string_free (r.account, TRUE);
  g_string_free (r.frags, TRUE);
  if (msg_out != NULL)
    *msg_out = r.msg;
  else
    glim_parser_message_free (r.msg);
  return json;
}

static void
check_expected (const Case *c, GlimParserMessage *msg, int n_warnings)
{
  g_assert_cmpstr (glim_parser_message_reasoning (msg), ==, c->reasoning);
  g_assert_cmpstr (glim_parser_message_content (msg), ==, c->content);
  guint n_calls = 0;
  while (n_calls < G_N_ELEMENTS (c->calls) && c->calls[n_calls][0] != NULL)
    n_calls++;
  g_assert_cmpuint (msg->tool_calls->len, ==, n_calls);
  for (guint i = 0; i < n_calls; i++) {
    GlimParserToolCall *call = g_ptr_array_index (msg->tool_calls, i);
    g_assert_cmpstr (call->name, ==, c->calls[i][0]);
    g_assert_cmpstr (call->arguments->str, ==, c->calls[i][1]);
    g_assert_true (g_str_has_prefix (call->id, "chatcmpl-tool-"));
    g_assert_cmpuint (strlen (call->id), ==, strlen ("chatcmpl-tool-") + 32);
    for (const char *h = call->id + strlen ("chatcmpl-tool-"); *h; h++)
      g_assert_true (g_ascii_isdigit (*h) || (*h >= 'a' && *h <= 'f'));
    if (i > 0)
      g_assert_cmpstr (call->id, !=,
                       ((GlimParserToolCall *) g_ptr_array_index (msg->tool_calls, 0))->id);
  }
  g_assert_true (msg->finished);
  g_assert_cmpstr (glim_parser_finish_to_string (msg->finish), ==, c->finish);
  g_assert_cmpint (n_warnings, ==, c->warnings);
}

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  GlimParserTags tags;
  glim_parser_tags_init_default (&tags);
  g_autoptr (GArray) pieces = split_pieces (c->output, &tags);

  g_autoptr (GArray) whole = make_tokens (pieces, FEED_WHOLE_TEXT, NULL);
  GlimParserMessage *msg = NULL;
  int w0 = 0;
  g_autofree char *json0 = run_tokens (c, pieces, whole, &w0, &msg);
  check_expected (c, msg, w0);
  glim_parser_message_free (msg);

  FeedMode modes[] = { FEED_SEGMENTS, FEED_PER_CHAR };
  for (gsize m = 0; m < G_N_ELEMENTS (modes); m++) {
    g_autoptr (GArray) toks = make_tokens (pieces, modes[m], NULL);
    int w = 0;
    g_autofree char *json = run_tokens (c, pieces, toks, &w, NULL);
    g_assert_cmpstr (json, ==, json0);
    g_assert_cmpint (w, ==, w0);
  }
  g_autoptr (GRand) rand = g_rand_new_with_seed (g_str_hash (c->name));
  for (int k = 0; k < N_RANDOM; k++) {
    g_autoptr (GArray) toks = make_tokens (pieces, FEED_RANDOM, rand);
    int w = 0;
    g_autofree char *json = run_tokens (c, pieces, toks, &w, NULL);
    if (g_strcmp0 (json, json0) != 0)
      g_test_message ("random cutting %d differs", k);
    g_assert_cmpstr (json, ==, json0);
    g_assert_cmpint (w, ==, w0);
  }
}

/* ---- streaming behaviour ---- */

typedef struct {
  GPtrArray *log;   /* "TYPE:text" per event */
} Log;

static void
log_event (const GlimParserEvent *ev, gpointer data)
{
  static const char *const names[] = {
    "R", "RE", "C", "BEGIN", "ARGS", "END", "INVALID", "WARN", "FINISH",
  };
  Log *l = data;
  char *line;
  if (ev->type == GLIM_PARSER_EVENT_TOOL_CALL_BEGIN)
    line = g_strdup_printf ("BEGIN:%d:%s", ev->index, ev->name);
  else if (ev->type == GLIM_PARSER_EVENT_FINISH)
    line = g_strdup_printf ("FINISH:%s", glim_parser_finish_to_string (ev->finish));
  else if (ev->type == GLIM_PARSER_EVENT_WARNING || ev->type == GLIM_PARSER_EVENT_TOOL_CALL_INVALID)
    line = g_strdup (names[ev->type]);
  else
    line = g_strdup_printf ("%s:%.*s", names[ev->type], (int) ev->len, ev->text);
  g_ptr_array_add (l->log, line);
}

/* Feed `id` (text for TEXT_ID) and check exactly which events it produced. */
static void
step (GlimParser *p, Log *l, int32_t id, const char *text, const char *const *expect)
{
  g_ptr_array_set_size (l->log, 0);
  glim_parser_feed_token (p, id, text, -1);
  guint n = expect != NULL ? g_strv_length ((char **) expect) : 0;
  for (guint i = 0; i < MAX (n, l->log->len); i++)
    g_assert_cmpstr (i < l->log->len ? g_ptr_array_index (l->log, i) : NULL, ==,
                     i < n ? expect[i] : NULL);
}

#define EV(...) ((const char *const[]) { __VA_ARGS__, NULL })

static void
test_streaming_order (void)
{
  GlimParserTags tags;
  glim_parser_tags_init_default (&tags);
  g_autoptr (JsonArray) tools = test_tools ();
  GlimParserOptions opts;
  glim_parser_options_init (&opts);
  opts.tools = tools;
  opts.id_seed = 7;
  Log l = { g_ptr_array_new_with_free_func (g_free) };
  g_autoptr (GlimParser) p = glim_parser_new (&tags, &opts, log_event, &l);
  int32_t *id = tags.ids;

  step (p, &l, TEXT_ID, "Hmm", EV ("R:Hmm"));
  step (p, &l, id[GLIM_PARSER_TAG_THINK_END], NULL, EV ("RE:</think>"));
  step (p, &l, TEXT_ID, "Ok <", EV ("C:Ok "));              /* "<" may start a tag */
  step (p, &l, TEXT_ID, "b", EV ("C:<b"));
  step (p, &l, id[GLIM_PARSER_TAG_TOOL_CALL], NULL, NULL);
  step (p, &l, TEXT_ID, "write_file", NULL);               /* the name may go on */
  step (p, &l, id[GLIM_PARSER_TAG_ARG_KEY], NULL, EV ("BEGIN:0:write_file"));
  step (p, &l, TEXT_ID, "content", NULL);
  step (p, &l, id[GLIM_PARSER_TAG_ARG_KEY_END], NULL, NULL);
  step (p, &l, id[GLIM_PARSER_TAG_ARG_VALUE], NULL, EV ("ARGS:{\"content\": \""));
  step (p, &l, TEXT_ID, "line\n", EV ("ARGS:line\\n"));    /* strings stream */
  step (p, &l, TEXT_ID, "x </arg", EV ("ARGS:x "));
  step (p, &l, TEXT_ID, "_value>", EV ("ARGS:\""));        /* spelled-out closing tag */
  step (p, &l, TEXT_ID, "\n", NULL);
  step (p, &l, id[GLIM_PARSER_TAG_ARG_KEY], NULL, NULL);
  step (p, &l, TEXT_ID, "mode", NULL);
  step (p, &l, id[GLIM_PARSER_TAG_ARG_KEY_END], NULL, NULL);
  step (p, &l, id[GLIM_PARSER_TAG_ARG_VALUE], NULL, EV ("ARGS:, \"mode\": "));
  step (p, &l, TEXT_ID, "4", NULL);                        /* non-strings wait */
  step (p, &l, TEXT_ID, "2", NULL);
  step (p, &l, id[GLIM_PARSER_TAG_ARG_VALUE_END], NULL, EV ("ARGS:42"));
  step (p, &l, id[GLIM_PARSER_TAG_TOOL_CALL_END], NULL,
        EV ("ARGS:}", "END:{\"content\": \"line\\nx \", \"mode\": 42}"));
  step (p, &l, id[GLIM_PARSER_TAG_TOOL_CALL], NULL, NULL);
  step (p, &l, TEXT_ID, "get_current_date", NULL);
  step (p, &l, id[GLIM_PARSER_TAG_TOOL_CALL_END], NULL,
        EV ("BEGIN:1:get_current_date", "ARGS:{}", "END:{}"));  /* zero-arg calls stream */
  step (p, &l, TEXT_ID, "<tool_call>oops", NULL);
  step (p, &l, TEXT_ID, " no", EV ("WARN", "C:<tool_call>oops no"));
  step (p, &l, 154829, NULL, NULL);                        /* <|observation|> */
  g_assert_true (glim_parser_stopped (p));
  step (p, &l, TEXT_ID, "after stop", NULL);
  g_ptr_array_set_size (l.log, 0);
  glim_parser_finish (p, GLIM_PARSER_FINISH_STOP);
  g_assert_cmpuint (l.log->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (l.log, 0), ==, "FINISH:tool_calls");
  g_ptr_array_free (l.log, TRUE);
}

static void
test_retract (void)
{
  GlimParserTags tags;
  glim_parser_tags_init_default (&tags);
  GlimParserOptions opts;
  glim_parser_options_init (&opts);
  Log l = { g_ptr_array_new_with_free_func (g_free) };
  g_autoptr (GlimParser) p = glim_parser_new (&tags, &opts, log_event, &l);
  int32_t *id = tags.ids;
  step (p, &l, TEXT_ID, "Plan", EV ("R:Plan"));
  step (p, &l, id[GLIM_PARSER_TAG_TOOL_CALL], NULL, NULL);
  step (p, &l, TEXT_ID, "f", NULL);
  step (p, &l, id[GLIM_PARSER_TAG_ARG_KEY], NULL, EV ("BEGIN:0:f"));
  step (p, &l, TEXT_ID, "k", NULL);
  step (p, &l, id[GLIM_PARSER_TAG_ARG_KEY_END], NULL, NULL);
  step (p, &l, id[GLIM_PARSER_TAG_ARG_VALUE], NULL, EV ("ARGS:{\"k\": "));
  step (p, &l, TEXT_ID, "1", NULL);
  /* </think> inside the value is value text; the call is unterminated at the end */
  step (p, &l, id[GLIM_PARSER_TAG_THINK_END], NULL, NULL);
  g_ptr_array_set_size (l.log, 0);
  glim_parser_finish (p, GLIM_PARSER_FINISH_LENGTH);
  const char *expect[] = {
    "INVALID", "WARN", "R:<tool_call>f<arg_key>k</arg_key><arg_value>1</think>", "FINISH:length",
  };
  g_assert_cmpuint (l.log->len, ==, G_N_ELEMENTS (expect));
  for (gsize i = 0; i < G_N_ELEMENTS (expect); i++)
    g_assert_cmpstr (g_ptr_array_index (l.log, i), ==, expect[i]);
  g_ptr_array_free (l.log, TRUE);
}

static void
test_json_shape (void)
{
  GlimParserTags tags;
  glim_parser_tags_init_default (&tags);
  GlimParserOptions opts;
  glim_parser_options_init (&opts);
  g_autoptr (GlimParserMessage) msg = glim_parser_message_new (TRUE);
  g_autoptr (GlimParser) p = glim_parser_new (&tags, &opts, glim_parser_message_collect, msg);
  g_autofree char *before = glim_parser_message_to_json (msg);
  g_assert_cmpstr (before, ==, "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":"
                   "null,\"tool_calls\":[],\"finish_reason\":null}");
  glim_parser_feed_text (p, "a\"b\x01</think>x\\y\n<tool_call>f<arg_key>k</arg_key><arg_value>"
                         "[1]</arg_value></tool_call>", -1);
  glim_parser_finish (p, GLIM_PARSER_FINISH_STOP);
  g_autofree char *json = glim_parser_message_to_json (msg);
  GlimParserToolCall *call = g_ptr_array_index (msg->tool_calls, 0);
  g_autofree char *expect = g_strdup_printf (
    "{\"role\":\"assistant\",\"content\":\"x\\\\y\\n\",\"reasoning_content\":\"a\\\"b\\u0001\","
    "\"tool_calls\":[{\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":\"f\","
    "\"arguments\":\"{\\\"k\\\": [1]}\"}}],\"finish_reason\":\"tool_calls\"}", call->id);
  g_assert_cmpstr (json, ==, expect);
  /* the output is JSON */
  g_autoptr (JsonParser) jp = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_data (jp, json, -1, &error);
  g_assert_no_error (error);
}

static void
test_ids (void)
{
  GlimParserTags tags;
  glim_parser_tags_init_default (&tags);
  GlimParserOptions opts;
  glim_parser_options_init (&opts);
  char *ids[3][2];
  guint64 seeds[3] = { 1, 1, 0 };
  for (int s = 0; s < 3; s++) {
    opts.id_seed = seeds[s];
    g_autoptr (GlimParserMessage) msg = glim_parser_message_new (FALSE);
    g_autoptr (GlimParser) p = glim_parser_new (&tags, &opts, glim_parser_message_collect, msg);
    glim_parser_feed_text (p, "</think><tool_call>a</tool_call><tool_call>b</tool_call>", -1);
    glim_parser_finish (p, GLIM_PARSER_FINISH_STOP);
    g_assert_cmpuint (msg->tool_calls->len, ==, 2);
    for (int k = 0; k < 2; k++) {
      GlimParserToolCall *call = g_ptr_array_index (msg->tool_calls, k);
      g_assert_true (g_regex_match_simple ("^chatcmpl-tool-[0-9a-f]{32}$", call->id, 0, 0));
      ids[s][k] = g_strdup (call->id);
    }
  }
  g_assert_cmpstr (ids[0][0], ==, ids[1][0]);   /* same seed, same ids */
  g_assert_cmpstr (ids[0][1], ==, ids[1][1]);
  g_assert_cmpstr (ids[0][0], !=, ids[0][1]);
  g_assert_cmpstr (ids[2][0], !=, ids[0][0]);   /* a random seed */
  for (int s = 0; s < 3; s++)
    for (int k = 0; k < 2; k++)
      g_free (ids[s][k]);
}

static void
test_invalid_utf8 (void)
{
  GlimParserTags tags;
  glim_parser_tags_init_default (&tags);
  GlimParserOptions opts;
  glim_parser_options_init (&opts);
  opts.thinking = FALSE;
  g_autoptr (GlimParserMessage) msg = glim_parser_message_new (FALSE);
  g_autoptr (GlimParser) p = glim_parser_new (&tags, &opts, glim_parser_message_collect, msg);
  glim_parser_feed_text (p, "a\xff" "b\xe2\x82", 5);
  glim_parser_feed_text (p, "c\0d", 3);
  glim_parser_finish (p, GLIM_PARSER_FINISH_STOP);
  g_assert_cmpmem (msg->content->str, msg->content->len,
                   "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd" "c\0d", 14);
  g_autofree char *json = glim_parser_message_to_json (msg);
  g_assert_nonnull (strstr (json, "\\u0000d"));
}

/* A model stuck emitting newlines inside a call must not make the parser quadratic. */
static void
test_whitespace_flood (void)
{
  GlimParserTags tags;
  glim_parser_tags_init_default (&tags);
  GlimParserOptions opts;
  glim_parser_options_init (&opts);
  opts.thinking = FALSE;
  for (int where = 0; where < 3; where++) {
    g_autoptr (GlimParserMessage) msg = glim_parser_message_new (FALSE);
    g_autoptr (GlimParser) p = glim_parser_new (&tags, &opts, glim_parser_message_collect, msg);
    glim_parser_feed_token (p, tags.ids[GLIM_PARSER_TAG_TOOL_CALL], NULL, 0);
    if (where > 0) {
      glim_parser_feed_text (p, "f", -1);
      glim_parser_feed_token (p, tags.ids[GLIM_PARSER_TAG_ARG_KEY], NULL, 0);
      glim_parser_feed_text (p, "k", -1);
      glim_parser_feed_token (p, tags.ids[GLIM_PARSER_TAG_ARG_KEY_END], NULL, 0);
    }
    if (where > 1)
      glim_parser_feed_token (p, tags.ids[GLIM_PARSER_TAG_ARG_VALUE], NULL, 0);
    for (int i = 0; i < 200000; i++)
      glim_parser_feed_text (p, "\n", 1);
    glim_parser_finish (p, GLIM_PARSER_FINISH_LENGTH);
    g_assert_cmpuint (msg->warnings->len, ==, 1);
    g_assert_cmpuint (msg->content->len, >, 200000);
  }
}

/* ---- values, escaping, numbers (Python's outputs, checked with CPython 3.11) ---- */

static void
test_values (void)
{
  static const char *const table[][2] = {
    { "1e5", "100000.0" }, { "007", "\"007\"" }, { "True", "true" }, { "False", "false" },
    { "None", "null" }, { "null", "null" }, { "true", "true" }, { "1.50", "1.5" },
    { "-0", "0" }, { "-0.0", "-0.0" }, { "1E400", "Infinity" }, { "-1e400", "-Infinity" },
    { "NaN", "NaN" }, { "12345678901234567890123", "12345678901234567890123" },
    { "0x1F", "31" }, { "0o17", "15" }, { "0b101", "5" }, { "0x_ff", "255" },
    { "0xFFFFFFFFFFFFFFFFFFFFFFFF", "79228162514264337593543950335" },
    { "'single'", "\"single\"" }, { "\"double\"", "\"double\"" }, { "'a' \"b\"", "\"ab\"" },
    { "'it\\'s'", "\"it's\"" }, { "r'\\n'", "\"\\\\n\"" }, { "u'x'", "\"x\"" },
    { "b'x'", "\"b'x'\"" }, { "'''tri\nple'''", "\"tri\\nple\"" },
    { "'\\x41\\101\\u00e9\\U0001F600\\q'", "\"AAé😀\\\\q\"" },
    { "[1, 'a', True]", "[1, \"a\", true]" }, { "(1,)", "[1]" }, { "()", "[]" }, { "(1)", "1" },
    { "1, 2", "[1, 2]" }, { "{'a': 1, 'a': 2}", "{\"a\": 2}" },
    { "{\"a\":1,\"b\":2,\"a\":3}", "{\"a\": 3, \"b\": 2}" },
    { "{'k': (1, [2, {'x': None}])}", "{\"k\": [1, [2, {\"x\": null}]]}" },
    { "[1,\n 2,  # two\n]", "[1, 2]" }, { "1\n2", "\"1\\n2\"" },
    { "1_000", "1000" }, { "1_000.000_1", "1000.0001" }, { "1__0", "\"1__0\"" },
    { ".5", "0.5" }, { "5.", "5.0" }, { "- 5", "-5" }, { "-(5)", "-5" }, { "--5", "\"--5\"" },
    { "+5", "5" }, { "-True", "\"-True\"" }, { "1j", "\"1j\"" }, { "{1, 2}", "\"{1, 2}\"" },
    { "{1: 2}", "\"{1: 2}\"" }, { "'\\N{DASH}'", "\"'\\\\N{DASH}'\"" },
    { "0.1", "0.1" }, { "1e16", "1e+16" }, { "1e15", "1000000000000000.0" },
    { "0.0001", "0.0001" }, { "0.00001", "1e-05" }, { "5e-324", "5e-324" },
    { "1.7976931348623157e308", "1.7976931348623157e+308" },
    { "9007199254740993.0", "9007199254740992.0" }, { "123456789012345678.0",
                                                       "1.2345678901234568e+17" },
    { "0.30000000000000004", "0.30000000000000004" }, { "2.5e-05", "2.5e-05" },
    { "[1e5, -0.0, 1E-5]", "[100000.0, -0.0, 1e-05]" },
    { "\"\\ud83d\\ude00\"", "\"😀\"" }, { "\"\\ud800\"", "\"\\ud800\"" },
    { "'\\ud84d\\ude00\x0b'", "\"𣘀\\u000b\"" }, { "\"\\ude00\\ud84d\"", "\"\\ude00\\ud84d\"" },
    { "\"\\u0000\\u001f\\u007f\\/\"", "\"\\u0000\\u001f\x7f/\"" },
    { "{\"a\": NaN}", "{\"a\": NaN}" }, { "[1,]", "[1]" }, { "[,]", "\"[,]\"" }, { "[1, 2", "\"[1, 2\"" },
    { "01", "\"01\"" }, { "1.", "1.0" }, { "tRue", "\"tRue\"" }, { "hello world",
                                                                   "\"hello world\"" },
    { "", "\"\"" }, { "{}", "{}" }, { "[]", "[]" }, { "{\"a\":{}}", "{\"a\": {}}" },
    { "\"é\\t\"", "\"é\\t\"" }, { "'x\ty'", "\"x\\ty\"" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++) {
    g_autoptr (GString) out = g_string_new (NULL);
    glim_parser_value_to_json (out, table[i][0], strlen (table[i][0]));
    if (g_strcmp0 (out->str, table[i][1]) != 0)
      g_test_message ("value %s", table[i][0]);
    g_assert_cmpstr (out->str, ==, table[i][1]);
  }
  /* nesting beyond Python's limits stays a string, without blowing the stack */
  g_autoptr (GString) deep = g_string_new (NULL);
  for (int i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  g_autoptr (GString) out = g_string_new (NULL);
  glim_parser_value_to_json (out, deep->str, deep->len);
  g_assert_cmpuint (out->len, ==, deep->len + 2);
}

/* JSON escaping is glim-pyjson's: tests/test-pyjson.c checks it. */
static void
test_strip (void)
{
  gsize a, b;
  const char ws[] = "\x1c \t\xc2\xa0x y\xe3\x80\x80\n";
  glim_parser_py_strip (ws, sizeof ws - 1, &a, &b);
  g_assert_cmpuint (a, ==, 5);
  g_assert_cmpuint (b, ==, 8);
  glim_parser_py_strip ("  ", 2, &a, &b);
  g_assert_cmpuint (a, ==, b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *path = g_strdup_printf ("/glimmer/parser/case/%s", cases[i].name);
    g_test_add_data_func (path, &cases[i], test_case);
  }
  g_test_add_func ("/glimmer/parser/streaming-order", test_streaming_order);
  g_test_add_func ("/glimmer/parser/retract", test_retract);
  g_test_add_func ("/glimmer/parser/json-shape", test_json_shape);
  g_test_add_func ("/glimmer/parser/ids", test_ids);
  g_test_add_func ("/glimmer/parser/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/glimmer/parser/whitespace-flood", test_whitespace_flood);
  g_test_add_func ("/glimmer/parser/values", test_values);
  g_test_add_func ("/glimmer/parser/strip", test_strip);
  return g_test_run ();
}
