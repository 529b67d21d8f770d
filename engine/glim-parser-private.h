/* glim-parser-private.h: helpers shared by the glim-parser*.c files and their tests.
 * SPDX-License-Identifier: MIT */
#pragma once

#include "glim-parser.h"

G_BEGIN_DECLS

/* Python's str.isspace() for one code point. */
gboolean glim_parser_py_isspace (gunichar c);
/* Bounds of s[0..len) without Python whitespace at both ends (str.strip()). */
void     glim_parser_py_strip   (const char *s, gsize len, gsize *start, gsize *end);
/* A non-string argument value, already stripped: Python's json.loads, else ast.literal_eval
 * (subset), else the raw string; appended to out as json.dumps(ensure_ascii=False) prints it. */
void     glim_parser_value_to_json (GString *out, const char *s, gsize len);
/* Append text to out with every invalid UTF-8 sequence replaced by U+FFFD (NUL is kept). */
void     glim_parser_utf8_append_valid (GString *out, const char *s, gsize len);

/* TRUE when id is one of the tag or stop ids the parser was made with. */
gboolean glim_parser_is_special_id (GlimParser *parser, int32_t id);

G_END_DECLS
