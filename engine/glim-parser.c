/* glim-parser.c: the streaming output parser (reasoning / content / tool calls), a state machine
 * over tags and text.
 * SPDX-License-Identifier: MIT
 *
 * Two layers. The tag layer turns the input (token ids and decoded text) into symbols: TEXT or
 * TAG. A tag id is a TAG; in text, every occurrence of a tag's literal is a TAG too, and a text
 * suffix that is a proper prefix of a tag ("</thi") is held back until the next input decides
 * it. Because every tag starts with '<' and has no other '<', that suffix always starts at the
 * last '<', and the symbols do not depend on how the text was cut into tokens. The state layer
 * reads the symbols; a tag that means nothing in the current state is text again (its literal).
 * Decisions and the event contract are documented in glim-parser.h. */
#define G_LOG_DOMAIN "glimmer-parser"

#include "glim-parser-private.h"
#include "glim-pyjson.h"
#include "glim-sampler.h"

#include <string.h>

#define NAME_BYTES_MAX 256
#define TOOL_ID_PREFIX "chatcmpl-tool-"

static const char *const tag_texts[GLIM_PARSER_N_TAGS] = {
  "<think>", "</think>", "<tool_call>", "</tool_call>",
  "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>",
};

typedef enum {
  STATE_REASONING,
  STATE_CONTENT,
  STATE_CALL_NAME,        /* after <tool_call>: the name, up to <arg_key> or </tool_call> */
  STATE_CALL_KEY,         /* after <arg_key> */
  STATE_CALL_AFTER_KEY,   /* after </arg_key>: whitespace or a literal \n, then <arg_value> */
  STATE_CALL_VALUE,       /* after <arg_value>, up to </arg_value> */
  STATE_CALL_NEXT,        /* after </arg_value>: whitespace, then <arg_key> or </tool_call> */
} State;

/* The tool call being read. */
typedef struct {
  GString   *raw;              /* its original text from <tool_call> on */
  GString   *buf;              /* the name, the key, or a non-string value */
  GString   *args;             /* arguments JSON emitted so far */
  GPtrArray *keys;             /* GString*: keys so far; the last is the current one */
  char      *name;
  char       id[64];
  gboolean   begun;            /* TOOL_CALL_BEGIN was emitted */
  gboolean   from_reasoning;   /* <tool_call> came inside reasoning (implicit end) */
  gboolean   value_is_string;  /* the current parameter's schema type is "string" */
  gboolean   name_seen;        /* the name has a non-space character, at name_first in buf */
  gboolean   name_space_after; /* ... and whitespace after it */
  gsize      name_first;
  gboolean   gap_backslash;    /* the text after </arg_key> ends in a backslash */
} Call;

struct _GlimParser {
  GlimParserTags       tags;
  gboolean             thinking;
  gboolean             tools_enabled;
  JsonArray           *tools;        /* ref, or NULL */
  GHashTable          *schemas;      /* tool name -> JsonObject "parameters" (or NULL), first
                                      * tool of that name wins; borrowed from tools */
  guint64              id_seed;
  GlimParserEventFunc  func;
  gpointer             user_data;

  GString             *pending;      /* text that could still become a tag */
  State                state;
  gboolean             seen_input;   /* any symbol yet (a first <think> is dropped) */
  gboolean             stopped;
  gboolean             finished;
  int                  n_calls;      /* valid calls so far */
  guint64              n_started;    /* calls begun so far: the id ordinal */
  Call                 call;
};

static void on_tag (GlimParser *p, GlimParserTag tag);

/* ---- small helpers ---- */

static void
gstring_free (gpointer s)
{
  g_string_free (s, TRUE);
}

const char *
glim_parser_tag_text (GlimParserTag tag)
{
  g_return_val_if_fail ((int) tag >= 0 && tag < GLIM_PARSER_N_TAGS, NULL);
  return tag_texts[tag];
}

void
glim_parser_tags_init_default (GlimParserTags *tags)
{
  for (int t = 0; t < GLIM_PARSER_N_TAGS; t++)
    tags->ids[t] = 154841 + t;
  static const int32_t stops[] = { 154820, 154827, 154829 };
  memset (tags->stop_ids, 0xff, sizeof tags->stop_ids);
  for (gsize i = 0; i < G_N_ELEMENTS (stops); i++)
    tags->stop_ids[i] = stops[i];
  tags->n_stop = G_N_ELEMENTS (stops);
}

const char *
glim_parser_finish_to_string (GlimParserFinish finish)
{
  switch (finish) {
  case GLIM_PARSER_FINISH_STOP: return "stop";
  case GLIM_PARSER_FINISH_LENGTH: return "length";
  case GLIM_PARSER_FINISH_TOOL_CALLS: return "tool_calls";
  }
  return "stop";
}

void
glim_parser_options_init (GlimParserOptions *options)
{
  memset (options, 0, sizeof *options);
  options->thinking = TRUE;
  options->tools_enabled = TRUE;
}

static void
emit (GlimParser *p, const GlimParserEvent *ev)
{
  if (p->func != NULL)
    p->func (ev, p->user_data);
}

static void
emit_text (GlimParser *p, GlimParserEventType type, const char *text, gsize len)
{
  if (len == 0 && (type == GLIM_PARSER_EVENT_REASONING || type == GLIM_PARSER_EVENT_CONTENT ||
                   type == GLIM_PARSER_EVENT_TOOL_CALL_ARGS))
    return;
  GlimParserEvent ev = { .type = type, .text = text, .len = len, .index = p->n_calls };
  emit (p, &ev);
}

/* Arguments fragment of the current call: emitted and remembered. */
static void
emit_args (GlimParser *p, const char *text, gsize len)
{
  g_string_append_len (p->call.args, text, (gssize) len);
  emit_text (p, GLIM_PARSER_EVENT_TOOL_CALL_ARGS, text, len);
}

/* The parameter `key` of tool `name` is typed exactly "string" by the request's schema
 * (vLLM's _is_string_type: first tool of that name; anything else is "not string"). */
static gboolean
param_is_string (GlimParser *p, const char *name, const char *key)
{
  JsonObject *params = NULL;
  if (!g_hash_table_lookup_extended (p->schemas, name, NULL, (gpointer *) &params) || !params)
    return FALSE;
  JsonNode *props = json_object_get_member (params, "properties");
  if (props == NULL || !JSON_NODE_HOLDS_OBJECT (props))
    return FALSE;
  JsonNode *prop = json_object_get_member (json_node_get_object (props), key);
  if (prop == NULL || !JSON_NODE_HOLDS_OBJECT (prop))
    return FALSE;
  JsonNode *type = json_object_get_member (json_node_get_object (prop), "type");
  return type != NULL && JSON_NODE_HOLDS_VALUE (type) &&
         json_node_get_value_type (type) == G_TYPE_STRING &&
         g_strcmp0 (json_node_get_string (type), "string") == 0;
}

/* New name text s[0..len), already appended to c->buf. FALSE once no more text can make the
 * name valid: whitespace inside it, a control character or JSON/markup punctuation, or more
 * than NAME_BYTES_MAX bytes. Incremental, so a flood of whitespace stays linear. */
static gboolean
name_feed (Call *c, const char *s, gsize len)
{
  gsize off = c->buf->len - len;
  for (gsize i = 0; i < len;) {
    gunichar ch = g_utf8_get_char (s + i);
    gsize next = (gsize) (g_utf8_next_char (s + i) - s);
    if (glim_parser_py_isspace (ch)) {
      c->name_space_after = c->name_seen;
    } else {
      if (ch < 0x20 || ch == 0x7f || (ch < 0x80 && strchr ("\"'(),;<>[\\]{}", (int) ch) != NULL) ||
          c->name_space_after)
        return FALSE;
      if (!c->name_seen) {
        c->name_seen = TRUE;
        c->name_first = off + i;
      }
      if (off + next - c->name_first > NAME_BYTES_MAX)
        return FALSE;
    }
    i = next;
  }
  return TRUE;
}

/* New text between </arg_key> and <arg_value>: Python whitespace or the two characters "\n"
 * (vLLM's (?:\\n|\s)*). FALSE once it cannot match; a trailing backslash waits for its "n". */
static gboolean
gap_feed (Call *c, const char *s, gsize len)
{
  for (gsize i = 0; i < len;) {
    if (c->gap_backslash) {
      if (s[i] != 'n')
        return FALSE;
      c->gap_backslash = FALSE;
      i++;
    } else if (s[i] == '\\') {
      c->gap_backslash = TRUE;
      i++;
    } else if (glim_parser_py_isspace (g_utf8_get_char (s + i))) {
      i = (gsize) (g_utf8_next_char (s + i) - s);
    } else {
      return FALSE;
    }
  }
  return TRUE;
}

/* ---- tool calls ---- */

static void
call_reset (Call *c)
{
  g_string_truncate (c->raw, 0);
  g_string_truncate (c->buf, 0);
  g_string_truncate (c->args, 0);
  g_ptr_array_set_size (c->keys, 0);
  g_clear_pointer (&c->name, g_free);
  c->id[0] = '\0';
  c->begun = c->from_reasoning = c->value_is_string = FALSE;
  c->name_seen = c->name_space_after = c->gap_backslash = FALSE;
  c->name_first = 0;
}

static void
call_start (GlimParser *p, gboolean from_reasoning)
{
  call_reset (&p->call);
  g_string_append (p->call.raw, tag_texts[GLIM_PARSER_TAG_TOOL_CALL]);
  p->call.from_reasoning = from_reasoning;
  p->state = STATE_CALL_NAME;
}

/* The call is malformed: retract it, warn, and deliver its text where it came from. A tag that
 * triggered this (retag >= 0) is then read again in that state. */
static void
call_invalidate (GlimParser *p, const char *why, int retag)
{
  Call *c = &p->call;
  if (c->begun) {
    GlimParserEvent ev = { .type = GLIM_PARSER_EVENT_TOOL_CALL_INVALID, .index = p->n_calls };
    emit (p, &ev);
  }
  g_autofree char *msg = g_strdup_printf ("malformed tool call (%s): kept as %s text", why,
                                          c->from_reasoning ? "reasoning" : "content");
  emit_text (p, GLIM_PARSER_EVENT_WARNING, msg, strlen (msg));
  p->state = c->from_reasoning ? STATE_REASONING : STATE_CONTENT;
  emit_text (p, c->from_reasoning ? GLIM_PARSER_EVENT_REASONING : GLIM_PARSER_EVENT_CONTENT,
             c->raw->str, c->raw->len);
  call_reset (c);
  if (retag >= 0)
    on_tag (p, (GlimParserTag) retag);
}

static void
call_invalidate_tag (GlimParser *p, GlimParserTag tag)
{
  g_autofree char *why = g_strdup_printf ("unexpected %s", tag_texts[tag]);
  call_invalidate (p, why, tag);
}

/* The name is complete (at <arg_key> or </tool_call>): TOOL_CALL_BEGIN. */
static gboolean
call_begin (GlimParser *p)
{
  Call *c = &p->call;
  if (!c->name_seen)
    return FALSE;
  gsize a, b;
  glim_parser_py_strip (c->buf->str, c->buf->len, &a, &b);
  c->name = g_strndup (c->buf->str + a, b - a);
  guint64 x = p->id_seed + p->n_started++ * 0xd1b54a32d192ed03ull;
  guint64 h1 = glim_splitmix64 (&x), h2 = glim_splitmix64 (&x);
  g_snprintf (c->id, sizeof c->id, TOOL_ID_PREFIX "%016" G_GINT64_MODIFIER "x%016"
              G_GINT64_MODIFIER "x", h1, h2);
  c->begun = TRUE;
  g_string_truncate (c->buf, 0);
  GlimParserEvent ev = { .type = GLIM_PARSER_EVENT_TOOL_CALL_BEGIN, .index = p->n_calls,
                         .id = c->id, .name = c->name };
  emit (p, &ev);
  return TRUE;
}

static void
call_end (GlimParser *p)
{
  Call *c = &p->call;
  if (c->from_reasoning)
    emit_text (p, GLIM_PARSER_EVENT_REASONING_END, "", 0);
  GlimParserEvent ev = { .type = GLIM_PARSER_EVENT_TOOL_CALL_END, .index = p->n_calls,
                         .id = c->id, .name = c->name,
                         .text = c->args->str, .len = c->args->len,
                         .raw = c->raw->str, .raw_len = c->raw->len };
  emit (p, &ev);
  p->n_calls++;
  p->state = STATE_CONTENT;
  call_reset (c);
}

/* Text inside <arg_value>: streamed JSON-escaped for a string parameter, else kept. */
static void
call_value_text (GlimParser *p, const char *s, gsize len)
{
  Call *c = &p->call;
  g_string_append_len (c->raw, s, (gssize) len);
  if (!c->value_is_string) {
    g_string_append_len (c->buf, s, (gssize) len);
    return;
  }
  g_autoptr (GString) frag = g_string_new (NULL);
  glim_pyjson_escape (frag, s, (gssize) len, GLIM_PYJSON_DUMP_NONE);
  emit_args (p, frag->str, frag->len);
}

static void
call_tag (GlimParser *p, GlimParserTag tag)
{
  Call *c = &p->call;
  const char *lit = tag_texts[tag];
  gsize a, b;

  switch (p->state) {
  case STATE_CALL_NAME:
    if (tag != GLIM_PARSER_TAG_ARG_KEY && tag != GLIM_PARSER_TAG_TOOL_CALL_END) {
      call_invalidate_tag (p, tag);
    } else if (!call_begin (p)) {
      call_invalidate (p, "missing or invalid tool name", tag);
    } else if (tag == GLIM_PARSER_TAG_ARG_KEY) {
      g_string_append (c->raw, lit);
      p->state = STATE_CALL_KEY;
    } else {
      g_string_append (c->raw, lit);
      emit_args (p, "{}", 2);
      call_end (p);
    }
    break;

  case STATE_CALL_KEY:
    if (tag != GLIM_PARSER_TAG_ARG_KEY_END) {
      call_invalidate_tag (p, tag);
      break;
    }
    glim_parser_py_strip (c->buf->str, c->buf->len, &a, &b);
    if (a == b) {
      call_invalidate (p, "empty argument key", tag);
      break;
    }
    for (guint i = 0; i < c->keys->len; i++) {
      GString *k = g_ptr_array_index (c->keys, i);
      if (k->len == b - a && memcmp (k->str, c->buf->str + a, b - a) == 0) {
        call_invalidate (p, "duplicate argument key", tag);
        return;
      }
    }
    g_ptr_array_add (c->keys, g_string_new_len (c->buf->str + a, (gssize) (b - a)));
    g_string_append (c->raw, lit);
    g_string_truncate (c->buf, 0);
    p->state = STATE_CALL_AFTER_KEY;
    break;

  case STATE_CALL_AFTER_KEY: {
    if (tag != GLIM_PARSER_TAG_ARG_VALUE) {
      call_invalidate_tag (p, tag);
      break;
    }
    if (c->gap_backslash) {
      call_invalidate (p, "text between </arg_key> and <arg_value>", tag);
      break;
    }
    GString *key = g_ptr_array_index (c->keys, c->keys->len - 1);
    c->value_is_string = memchr (key->str, '\0', key->len) == NULL &&
                         param_is_string (p, c->name, key->str);
    g_autoptr (GString) frag = g_string_new (c->keys->len == 1 ? "{\"" : ", \"");
    glim_pyjson_escape (frag, key->str, (gssize) key->len, GLIM_PYJSON_DUMP_NONE);
    g_string_append (frag, c->value_is_string ? "\": \"" : "\": ");
    emit_args (p, frag->str, frag->len);
    g_string_append (c->raw, lit);
    g_string_truncate (c->buf, 0);
    p->state = STATE_CALL_VALUE;
    break;
  }

  case STATE_CALL_VALUE:
    if (tag == GLIM_PARSER_TAG_TOOL_CALL_END) {
      call_invalidate (p, "missing </arg_value>", tag);
      break;
    }
    if (tag != GLIM_PARSER_TAG_ARG_VALUE_END) {
      call_value_text (p, lit, strlen (lit));   /* vLLM: any text up to </arg_value> */
      break;
    }
    g_string_append (c->raw, lit);
    if (c->value_is_string) {
      emit_args (p, "\"", 1);
    } else {
      g_autoptr (GString) json = g_string_new (NULL);
      glim_parser_py_strip (c->buf->str, c->buf->len, &a, &b);
      glim_parser_value_to_json (json, c->buf->str + a, b - a);
      emit_args (p, json->str, json->len);
    }
    g_string_truncate (c->buf, 0);
    p->state = STATE_CALL_NEXT;
    break;

  case STATE_CALL_NEXT:
    if (tag == GLIM_PARSER_TAG_ARG_KEY) {
      g_string_append (c->raw, lit);
      p->state = STATE_CALL_KEY;
    } else if (tag == GLIM_PARSER_TAG_TOOL_CALL_END) {
      g_string_append (c->raw, lit);
      emit_args (p, "}", 1);
      call_end (p);
    } else {
      call_invalidate_tag (p, tag);
    }
    break;

  case STATE_REASONING:
  case STATE_CONTENT:
    g_assert_not_reached ();
  }
}

/* ---- the state layer ---- */

static void
on_text (GlimParser *p, const char *s, gsize len)
{
  if (len == 0)
    return;
  p->seen_input = TRUE;
  Call *c = &p->call;
  gsize a, b;
  switch (p->state) {
  case STATE_REASONING:
    emit_text (p, GLIM_PARSER_EVENT_REASONING, s, len);
    break;
  case STATE_CONTENT:
    emit_text (p, GLIM_PARSER_EVENT_CONTENT, s, len);
    break;
  case STATE_CALL_VALUE:
    call_value_text (p, s, len);
    break;
  case STATE_CALL_NAME:
  case STATE_CALL_KEY:
    g_string_append_len (c->raw, s, (gssize) len);
    g_string_append_len (c->buf, s, (gssize) len);
    if (p->state == STATE_CALL_NAME && !name_feed (c, s, len))
      call_invalidate (p, "missing or invalid tool name", -1);
    break;
  case STATE_CALL_AFTER_KEY:
    g_string_append_len (c->raw, s, (gssize) len);
    if (!gap_feed (c, s, len))
      call_invalidate (p, "text between </arg_key> and <arg_value>", -1);
    break;
  case STATE_CALL_NEXT:
    g_string_append_len (c->raw, s, (gssize) len);
    glim_parser_py_strip (s, len, &a, &b);
    if (a != b)
      call_invalidate (p, "text between tool-call tags", -1);
    break;
  }
}

static void
on_tag (GlimParser *p, GlimParserTag tag)
{
  gboolean first = !p->seen_input;
  p->seen_input = TRUE;
  const char *lit = tag_texts[tag];
  switch (p->state) {
  case STATE_REASONING:
    if (tag == GLIM_PARSER_TAG_THINK && first) {
      /* the model repeated the prompt's <think>: dropped */
    } else if (tag == GLIM_PARSER_TAG_THINK_END) {
      p->state = STATE_CONTENT;
      emit_text (p, GLIM_PARSER_EVENT_REASONING_END, lit, strlen (lit));
    } else if (tag == GLIM_PARSER_TAG_TOOL_CALL && p->tools_enabled) {
      call_start (p, TRUE);
    } else {
      emit_text (p, GLIM_PARSER_EVENT_REASONING, lit, strlen (lit));
    }
    break;
  case STATE_CONTENT:
    if (tag == GLIM_PARSER_TAG_TOOL_CALL && p->tools_enabled)
      call_start (p, FALSE);
    else
      emit_text (p, GLIM_PARSER_EVENT_CONTENT, lit, strlen (lit));
    break;
  default:
    call_tag (p, tag);
    break;
  }
}

/* ---- the tag layer ---- */

/* Which tag s[0..len) starts with (-1: none); *partial: s is a proper prefix of one. */
static int
match_tag (const char *s, gsize len, gboolean *partial)
{
  *partial = FALSE;
  for (int t = 0; t < GLIM_PARSER_N_TAGS; t++) {
    gsize tl = strlen (tag_texts[t]);
    if (len >= tl && memcmp (s, tag_texts[t], tl) == 0)
      return t;
    if (len < tl && memcmp (s, tag_texts[t], len) == 0)
      *partial = TRUE;
  }
  return -1;
}

/* Read pending text up to what could still become a tag. */
static void
scan_pending (GlimParser *p)
{
  const char *s = p->pending->str;
  gsize n = p->pending->len, done = 0, i = 0;
  while (i < n) {
    const char *lt = memchr (s + i, '<', n - i);
    if (lt == NULL)
      break;
    gsize pos = (gsize) (lt - s);
    gboolean partial;
    int tag = match_tag (s + pos, n - pos, &partial);
    if (tag >= 0) {
      on_text (p, s + done, pos - done);
      on_tag (p, (GlimParserTag) tag);
      i = done = pos + strlen (tag_texts[tag]);
      continue;
    }
    if (partial) {
      on_text (p, s + done, pos - done);
      g_string_erase (p->pending, 0, (gssize) pos);
      return;
    }
    i = pos + 1;
  }
  on_text (p, s + done, n - done);
  g_string_truncate (p->pending, 0);
}

/* The held-back text cannot become a tag any more: it is text. */
static void
flush_pending (GlimParser *p)
{
  if (p->pending->len == 0)
    return;
  g_autoptr (GString) text = g_string_new_len (p->pending->str, (gssize) p->pending->len);
  g_string_truncate (p->pending, 0);
  on_text (p, text->str, text->len);
}

/* ---- public API ---- */

GlimParser *
glim_parser_new (const GlimParserTags *tags, const GlimParserOptions *options,
                 GlimParserEventFunc func, gpointer user_data)
{
  g_return_val_if_fail (tags != NULL && tags->n_stop >= 0 && tags->n_stop <= GLIM_PARSER_MAX_STOP,
                        NULL);
  GlimParserOptions defaults;
  if (options == NULL) {
    glim_parser_options_init (&defaults);
    options = &defaults;
  }
  GlimParser *p = g_new0 (GlimParser, 1);
  p->tags = *tags;
  p->thinking = options->thinking;
  p->tools_enabled = options->tools_enabled;
  p->tools = options->tools != NULL ? json_array_ref (options->tools) : NULL;
  p->schemas = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; p->tools != NULL && i < json_array_get_length (p->tools); i++) {
    JsonNode *tool = json_array_get_element (p->tools, i);
    if (!JSON_NODE_HOLDS_OBJECT (tool))
      continue;
    JsonNode *fn = json_object_get_member (json_node_get_object (tool), "function");
    if (fn == NULL || !JSON_NODE_HOLDS_OBJECT (fn))
      continue;
    JsonObject *fo = json_node_get_object (fn);
    JsonNode *name = json_object_get_member (fo, "name");
    if (name == NULL || !JSON_NODE_HOLDS_VALUE (name) ||
        json_node_get_value_type (name) != G_TYPE_STRING)
      continue;
    JsonNode *params = json_object_get_member (fo, "parameters");
    JsonObject *po = params != NULL && JSON_NODE_HOLDS_OBJECT (params) ?
                     json_node_get_object (params) : NULL;
    const char *key = json_node_get_string (name);
    if (!g_hash_table_contains (p->schemas, key))
      g_hash_table_insert (p->schemas, (gpointer) key, po);
  }
  p->id_seed = options->id_seed != 0 ? options->id_seed :
               ((guint64) g_random_int () << 32 | g_random_int ());
  p->func = func;
  p->user_data = user_data;
  p->pending = g_string_new (NULL);
  p->state = options->thinking ? STATE_REASONING : STATE_CONTENT;
  p->call.raw = g_string_new (NULL);
  p->call.buf = g_string_new (NULL);
  p->call.args = g_string_new (NULL);
  p->call.keys = g_ptr_array_new_with_free_func (gstring_free);
  return p;
}

void
glim_parser_free (GlimParser *parser)
{
  if (parser == NULL)
    return;
  g_hash_table_unref (parser->schemas);
  if (parser->tools != NULL)
    json_array_unref (parser->tools);
  g_string_free (parser->pending, TRUE);
  call_reset (&parser->call);
  g_string_free (parser->call.raw, TRUE);
  g_string_free (parser->call.buf, TRUE);
  g_string_free (parser->call.args, TRUE);
  g_ptr_array_free (parser->call.keys, TRUE);
  g_free (parser);
}

gboolean
glim_parser_is_special_id (GlimParser *parser, int32_t id)
{
  if (id < 0)
    return FALSE;
  for (int t = 0; t < GLIM_PARSER_N_TAGS; t++)
    if (parser->tags.ids[t] == id)
      return TRUE;
  for (int i = 0; i < parser->tags.n_stop; i++)
    if (parser->tags.stop_ids[i] == id)
      return TRUE;
  return FALSE;
}

gboolean
glim_parser_feed_token (GlimParser *parser, int32_t id, const char *text, gssize len)
{
  g_return_val_if_fail (parser != NULL && !parser->finished, TRUE);
  if (parser->stopped)
    return TRUE;
  if (id >= 0) {
    for (int i = 0; i < parser->tags.n_stop; i++)
      if (parser->tags.stop_ids[i] == id) {
        parser->stopped = TRUE;
        return TRUE;
      }
    for (int t = 0; t < GLIM_PARSER_N_TAGS; t++)
      if (parser->tags.ids[t] == id) {
        flush_pending (parser);
        on_tag (parser, (GlimParserTag) t);
        return FALSE;
      }
  }
  if (text == NULL)
    return FALSE;
  gsize n = len < 0 ? strlen (text) : (gsize) len;
  if (n == 0)
    return FALSE;
  glim_parser_utf8_append_valid (parser->pending, text, n);
  scan_pending (parser);
  return FALSE;
}

gboolean
glim_parser_feed_text (GlimParser *parser, const char *text, gssize len)
{
  return glim_parser_feed_token (parser, -1, text, len);
}

void
glim_parser_finish (GlimParser *parser, GlimParserFinish reason)
{
  g_return_if_fail (parser != NULL && !parser->finished);
  flush_pending (parser);
  if (parser->state != STATE_REASONING && parser->state != STATE_CONTENT)
    call_invalidate (parser, "unterminated", -1);
  GlimParserEvent ev = { .type = GLIM_PARSER_EVENT_FINISH, .index = parser->n_calls,
                         .finish = parser->n_calls > 0 ? GLIM_PARSER_FINISH_TOOL_CALLS : reason };
  parser->finished = TRUE;
  emit (parser, &ev);
}

gboolean
glim_parser_stopped (GlimParser *parser)
{
  g_return_val_if_fail (parser != NULL, FALSE);
  return parser->stopped;
}
