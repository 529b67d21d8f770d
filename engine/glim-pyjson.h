/* glim-pyjson.h: Python's json module, byte for byte: json.loads with Python's grammar and
 * number types, json.dumps with its separators, escapes and float repr.
 * SPDX-License-Identifier: MIT
 *
 * The one place Glimmer writes or reads JSON the way Python does. Users: the chat renderer
 * (prompts embed json.dumps(ensure_ascii=False) of tools and arguments), the output parser
 * (tool-call values go through json.loads and back out through json.dumps), and the model
 * exporters (config.json, hf_quant_config.json, safetensors headers and indexes, written the way
 * transformers, ModelOpt and the safetensors library write them).
 *
 * Two trees:
 *   - GlimPyjsonValue holds what json.loads returns without loss: ints of any size, strings
 *     holding U+0000 or lone UTF-16 surrogates (kept as WTF-8: 3 bytes ED A0..BF xx);
 *   - JsonNode (json-glib) is what the rest of the engine uses; it cannot hold those, so
 *     glim_pyjson_loads() refuses them with an error.
 *
 * loads follows json.loads (strict=True) exactly:
 *   - whitespace is space, \t, \n, \r only; no comments, single quotes, trailing commas or
 *     leading zeros; raw control characters inside strings are refused;
 *   - NaN, Infinity and -Infinity are accepted as numbers (Python's extension); a float literal
 *     too large for a double becomes +-inf (as float() does);
 *   - an integer literal (no fraction, no exponent) is an int, any other number a float;
 *   - a repeated object key keeps its first position and takes its last value (a Python dict);
 *   - the text must be valid UTF-8 without NUL bytes; a BOM is an error, as for json.loads(str).
 * Limits: nesting deeper than GLIM_PYJSON_MAX_DEPTH is refused (Python goes on to about 1000),
 * and so are integers of more than GLIM_PYJSON_INT_DIGITS_MAX digits (Python raises ValueError).
 *
 * Errors are in the GLIM_PYJSON_ERROR domain; their messages name the text and the place in it
 * ("request: not valid JSON: Expecting value: line 1 column 5 (char 4)"). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define GLIM_PYJSON_ERROR (glim_pyjson_error_quark ())

typedef enum {
  GLIM_PYJSON_ERROR_INVALID,   /* not JSON as json.loads reads it, or beyond a limit */
} GlimPyjsonError;

GQuark glim_pyjson_error_quark (void);

#define GLIM_PYJSON_MAX_DEPTH      512
#define GLIM_PYJSON_INT_DIGITS_MAX 4300   /* Python 3.11's int/str conversion limit */

/* ---- values ---- */

typedef enum {
  GLIM_PYJSON_KIND_NULL,
  GLIM_PYJSON_KIND_TRUE,
  GLIM_PYJSON_KIND_FALSE,
  GLIM_PYJSON_KIND_INT,      /* text: decimal digits with an optional '-', any size */
  GLIM_PYJSON_KIND_FLOAT,    /* number */
  GLIM_PYJSON_KIND_STRING,   /* text: UTF-8 (WTF-8 for lone surrogates), may hold NUL */
  GLIM_PYJSON_KIND_LIST,     /* items */
  GLIM_PYJSON_KIND_DICT,     /* keys and items, in insertion order */
} GlimPyjsonKind;

typedef struct _GlimPyjsonValue GlimPyjsonValue;
struct _GlimPyjsonValue {
  GlimPyjsonKind kind;
  double         number;   /* FLOAT */
  GString       *text;     /* INT, STRING */
  GPtrArray     *items;    /* LIST, DICT: GlimPyjsonValue*, owned */
  GPtrArray     *keys;     /* DICT: GString*, owned, one per item */
  GHashTable    *index;    /* DICT: key -> position + 1, built once the dict grows */
};

/* A new empty value of `kind` (text "" for INT and STRING, 0.0 for FLOAT). */
GlimPyjsonValue *glim_pyjson_value_new       (GlimPyjsonKind kind);
void             glim_pyjson_value_free      (GlimPyjsonValue *value);
/* Python's dict[key] = item on a DICT: a new key goes last, a repeated one keeps its place and
 * takes the new item. Takes ownership of key and item. */
void             glim_pyjson_value_set_item  (GlimPyjsonValue *dict, GString *key,
                                              GlimPyjsonValue *item);

/* json.loads(text) without loss (len bytes, or -1 for NUL-terminated). `what` names the text
 * in messages as for glim_pyjson_loads(). Returns a new value or NULL. */
GlimPyjsonValue *glim_pyjson_value_loads     (const char *text, gssize len, const char *what,
                                              GError **error);
/* The value a JsonNode holds (json-glib's ints and doubles become INT and FLOAT). */
GlimPyjsonValue *glim_pyjson_value_from_node (JsonNode *node);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimPyjsonValue, glim_pyjson_value_free)

/* ---- JsonNode trees ---- */

/* json.loads(text) as a JsonNode (len bytes, or -1 for NUL-terminated). `what` names the text
 * in messages ("request", "messages[2].tool_calls[0].function.arguments"); errors give Python's
 * message and position, or the path inside the value. Besides what json.loads refuses, this
 * refuses what a JsonNode cannot hold, where Python would build the value: integers outside the
 * gint64 range, U+0000 in a string (\u0000) and lone UTF-16 surrogates (\ud800 without its
 * pair). An integer becomes a gint64 node, any other number a double. Returns NULL on error. */
JsonNode *glim_pyjson_loads        (const char *text, gssize len, const char *what,
                                    GError **error);

/* Check a caller-built tree for what loads() guarantees: every string and member name is valid
 * UTF-8 and nesting is bounded. `what` names the tree as for loads(). */
gboolean  glim_pyjson_check        (JsonNode *node, const char *what, GError **error);

/* ---- dumps ---- */

typedef enum {
  GLIM_PYJSON_DUMP_NONE         = 0,        /* ensure_ascii=False, insertion order */
  GLIM_PYJSON_DUMP_ENSURE_ASCII = 1 << 0,   /* ensure_ascii=True (Python's default) */
  GLIM_PYJSON_DUMP_SORT_KEYS    = 1 << 1,   /* sort_keys=True */
} GlimPyjsonDumpFlags;

/* Append json.dumps(value, indent=indent, ensure_ascii=..., sort_keys=...). indent 0 stands for
 * indent=None: one line with ", " and ": " separators; indent N > 0 puts each item on its own
 * line, N spaces deeper per level, with "," and ": ". Empty lists and dicts stay "[]" and "{}".
 * Keys sort by code point (UTF-8 byte order). */
void      glim_pyjson_value_dump   (GString *out, const GlimPyjsonValue *value, guint indent,
                                    GlimPyjsonDumpFlags flags);
/* The same for a JsonNode. */
void      glim_pyjson_dump         (GString *out, JsonNode *node, guint indent,
                                    GlimPyjsonDumpFlags flags);

/* Append s[0..len) (len -1: NUL-terminated) escaped as inside a json.dumps string literal,
 * without the quotes: \" \\ \n \r \t \b \f, other C0 controls as \u00xx. With ENSURE_ASCII,
 * also DEL and every non-ASCII character as \uxxxx (UTF-16 surrogate pairs above U+FFFF), and
 * each byte of invalid UTF-8 as \ufffd; without it they stay as they are. A lone surrogate
 * (WTF-8) is written \udxxx either way: json.loads reads that back to the same str, and raw it
 * would not be UTF-8. */
void      glim_pyjson_escape       (GString *out, const char *s, gssize len,
                                    GlimPyjsonDumpFlags flags);
/* The same between double quotes: a JSON string literal as json.dumps writes it. */
void      glim_pyjson_dump_string  (GString *out, const char *s, gssize len,
                                    GlimPyjsonDumpFlags flags);
/* Append repr(float(v)) as json.dumps writes it: shortest round-trip digits, "1e-05", "1.0",
 * "1e+16", and NaN / Infinity / -Infinity for the non-finite values. */
void      glim_pyjson_dump_float   (GString *out, double v);

G_END_DECLS
