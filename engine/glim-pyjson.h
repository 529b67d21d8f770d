/* glim-pyjson.h: Python's json module as vLLM and transformers run it, for byte-exact prompts:
 * loads() with Python's grammar and number types, dumps(ensure_ascii=False) with its bytes.
 * SPDX-License-Identifier: MIT
 *
 * Internal to the chat module (glim-chat*.c); errors are in the GLIM_CHAT_ERROR domain.
 *
 * loads() follows json.loads (strict=True) exactly where Glimmer can represent the value:
 *   - whitespace is space, \t, \n, \r only; no comments, single quotes, trailing commas or
 *     leading zeros; raw control characters inside strings are refused;
 *   - NaN, Infinity and -Infinity are accepted as numbers (Python's extension); a float literal
 *     too large for a double becomes +-inf (as float() does);
 *   - an integer literal (no fraction, no exponent) is a gint64 node, any other number a double;
 *   - a repeated object key keeps its first position and takes its last value (a Python dict);
 *   - the text must be valid UTF-8; a BOM is an error, as for json.loads(str).
 * Where Python would build a value C strings cannot hold, loads() fails with a GError instead:
 *   integers outside the gint64 range, U+0000 in a string (\u0000), lone UTF-16 surrogates
 *   (\ud800 without its pair), and nesting deeper than GLIM_PYJSON_MAX_DEPTH. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define GLIM_PYJSON_MAX_DEPTH 512

/* Parse `text` (len bytes, or -1 for NUL-terminated). `what` names the text in messages
 * ("request", "messages[2].tool_calls[0].function.arguments"); errors give the position and
 * the path inside the value. Returns a new node or NULL. */
JsonNode *glim_pyjson_loads        (const char *text, gssize len, const char *what,
                                    GError **error);

/* Check a caller-built tree for what loads() guarantees: every string and member name is valid
 * UTF-8 and nesting is bounded. `what` names the tree as for loads(). */
gboolean  glim_pyjson_check        (JsonNode *node, const char *what, GError **error);

/* Append json.dumps(node, ensure_ascii=False): ", " and ": " separators, members in insertion
 * order, Python's float repr, non-ASCII kept raw. */
void      glim_pyjson_dump         (GString *out, JsonNode *node);
/* Append a JSON string literal exactly as json.dumps writes it (ensure_ascii=False):
 * \" \\ \n \r \t \b \f, other C0 controls as \u00xx, everything else raw. */
void      glim_pyjson_dump_string  (GString *out, const char *s);
/* Append repr(float(v)) as json.dumps writes it: shortest round-trip digits, "1e-05", "1.0",
 * "1e+16", and NaN / Infinity / -Infinity for the non-finite values. */
void      glim_pyjson_dump_float   (GString *out, double v);

G_END_DECLS
