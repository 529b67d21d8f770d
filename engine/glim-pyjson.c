/* glim-pyjson.c: Python's json.loads / json.dumps(ensure_ascii=False), byte for byte.
 * SPDX-License-Identifier: MIT
 * The prompt embeds tool schemas and tool-call arguments as transformers' `tojson` filter
 * prints them (json.dumps), so number types, float repr and string escapes must be Python's.
 * Untrusted input: the parser bounds nesting and refuses what a C string cannot hold. */
#define G_LOG_DOMAIN "glimmer-chat"

#include "glim-pyjson.h"
#include "glim-chat.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- parser ---- */

typedef struct {
  const char *start;   /* the whole text (after a BOM) */
  const char *end;
  const char *p;       /* next byte to read */
  const char *what;    /* name of the text for messages; NULL for a request body */
  GString    *path;    /* path of the value being read: ".key[3]" */
  int         depth;
  GError    **error;
} Parser;

static JsonNode *parse_value (Parser *ps);

/* "NAME: " for messages about a value: the text's name followed by the path inside it. */
static char *
value_name (const Parser *ps)
{
  const char *path = ps->path->str;
  if (ps->what == NULL || *ps->what == '\0') {
    if (*path == '\0')
      return g_strdup ("request");
    return g_strdup (*path == '.' ? path + 1 : path);
  }
  return g_strconcat (ps->what, path, NULL);
}

/* A syntax error at byte `at`, with Python's line/column (in characters) and char offset. */
static JsonNode *
syntax_error (Parser *ps, const char *at, const char *msg)
{
  int line = 1;
  glong col = 1, chars = 0;
  for (const char *q = ps->start; q < at; q++) {
    if (((guchar) *q & 0xc0) == 0x80)
      continue;                                   /* UTF-8 continuation byte */
    chars++;
    col++;
    if (*q == '\n') {
      line++;
      col = 1;
    }
  }
  const char *name = ps->what != NULL && *ps->what != '\0' ? ps->what : "request";
  g_set_error (ps->error, GLIM_CHAT_ERROR, GLIM_CHAT_ERROR_INVALID_JSON,
               "%s: not valid JSON: %s: line %d column %ld (char %ld)", name, msg, line, col,
               chars);
  return NULL;
}

static JsonNode *
value_error (Parser *ps, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static JsonNode *
value_error (Parser *ps, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_autofree char *name = value_name (ps);
  g_set_error (ps->error, GLIM_CHAT_ERROR, GLIM_CHAT_ERROR_INVALID_JSON, "%s: %s", name, msg);
  return NULL;
}

static void
skip_ws (Parser *ps)
{
  while (ps->p < ps->end &&
         (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static gboolean
looking_at (const Parser *ps, const char *word)
{
  gsize n = strlen (word);
  return (gsize) (ps->end - ps->p) >= n && memcmp (ps->p, word, n) == 0;
}

static int
hex4 (const char *p, const char *end)
{
  if (end - p < 4)
    return -1;
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int d = g_ascii_xdigit_value (p[i]);
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Read a string literal; ps->p is at the opening quote. Returns the decoded UTF-8 text. */
static char *
parse_string (Parser *ps)
{
  const char *open = ps->p++;
  g_autoptr (GString) s = g_string_new (NULL);
  for (;;) {
    const char *chunk = ps->p;
    while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && (guchar) *ps->p >= 0x20)
      ps->p++;
    g_string_append_len (s, chunk, ps->p - chunk);
    if (ps->p >= ps->end) {
      syntax_error (ps, open, "Unterminated string starting at");
      return NULL;
    }
    char c = *ps->p;
    if (c == '"') {
      ps->p++;
      return g_string_free (g_steal_pointer (&s), FALSE);
    }
    if (c != '\\') {
      syntax_error (ps, ps->p, "Invalid control character at");
      return NULL;
    }
    const char *esc = ps->p++;
    if (ps->p >= ps->end) {
      syntax_error (ps, open, "Unterminated string starting at");
      return NULL;
    }
    c = *ps->p++;
    switch (c) {
    case '"': g_string_append_c (s, '"'); break;
    case '\\': g_string_append_c (s, '\\'); break;
    case '/': g_string_append_c (s, '/'); break;
    case 'b': g_string_append_c (s, '\b'); break;
    case 'f': g_string_append_c (s, '\f'); break;
    case 'n': g_string_append_c (s, '\n'); break;
    case 'r': g_string_append_c (s, '\r'); break;
    case 't': g_string_append_c (s, '\t'); break;
    case 'u': {
      int u = hex4 (ps->p, ps->end);
      if (u < 0) {
        syntax_error (ps, esc, "Invalid \\uXXXX escape");
        return NULL;
      }
      ps->p += 4;
      gunichar ch = (gunichar) u;
      if (u >= 0xd800 && u <= 0xdbff && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
          ps->p[1] == 'u') {
        int lo = hex4 (ps->p + 2, ps->end);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          ch = 0x10000 + (((gunichar) u - 0xd800) << 10) + ((gunichar) lo - 0xdc00);
          ps->p += 6;
        }
      }
      if (ch >= 0xd800 && ch <= 0xdfff) {
        value_error (ps, "string holds a lone UTF-16 surrogate \\u%04x, which is not text", u);
        return NULL;
      }
      if (ch == 0) {
        value_error (ps, "string holds \\u0000, which Glimmer does not support in text");
        return NULL;
      }
      char buf[6];
      g_string_append_len (s, buf, g_unichar_to_utf8 (ch, buf));
      break;
    }
    default:
      syntax_error (ps, esc, "Invalid \\escape");
      return NULL;
    }
  }
}

/* Python's number grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?, int when there is neither
 * a fraction nor an exponent. ps->p is at '-' or a digit. */
static JsonNode *
parse_number (Parser *ps)
{
  const char *begin = ps->p, *q = ps->p;
  if (q < ps->end && *q == '-')
    q++;
  if (q >= ps->end || !g_ascii_isdigit (*q))
    return syntax_error (ps, begin, "Expecting value");
  if (*q == '0')
    q++;
  else
    while (q < ps->end && g_ascii_isdigit (*q))
      q++;
  gboolean is_float = FALSE;
  if (q + 1 < ps->end && *q == '.' && g_ascii_isdigit (q[1])) {
    is_float = TRUE;
    q += 2;
    while (q < ps->end && g_ascii_isdigit (*q))
      q++;
  }
  if (q < ps->end && (*q == 'e' || *q == 'E')) {
    const char *e = q + 1;
    if (e < ps->end && (*e == '+' || *e == '-'))
      e++;
    if (e < ps->end && g_ascii_isdigit (*e)) {
      is_float = TRUE;
      while (e < ps->end && g_ascii_isdigit (*e))
        e++;
      q = e;
    }
  }
  ps->p = q;
  g_autofree char *lit = g_strndup (begin, q - begin);
  JsonNode *node = json_node_alloc ();
  if (is_float) {
    json_node_init_double (node, g_ascii_strtod (lit, NULL));   /* overflow gives +-inf */
    return node;
  }
  errno = 0;
  gint64 v = g_ascii_strtoll (lit, NULL, 10);
  if (errno == ERANGE) {
    json_node_unref (node);
    return value_error (ps, "integer %s does not fit in 64 bits", lit);
  }
  json_node_init_int (node, v);
  return node;
}

static gboolean
enter (Parser *ps)
{
  if (++ps->depth > GLIM_PYJSON_MAX_DEPTH) {
    value_error (ps, "nested deeper than %d levels", GLIM_PYJSON_MAX_DEPTH);
    return FALSE;
  }
  return TRUE;
}

static JsonNode *
parse_array (Parser *ps)
{
  if (!enter (ps))
    return NULL;
  ps->p++;                                        /* '[' */
  g_autoptr (JsonArray) array = json_array_new ();
  gsize path_len = ps->path->len;
  skip_ws (ps);
  if (ps->p < ps->end && *ps->p == ']') {
    ps->p++;
  } else {
    for (guint i = 0;; i++) {
      g_string_append_printf (ps->path, "[%u]", i);
      JsonNode *item = parse_value (ps);
      g_string_truncate (ps->path, path_len);
      if (item == NULL)
        return NULL;
      json_array_add_element (array, item);
      skip_ws (ps);
      if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        break;
      }
      if (ps->p >= ps->end || *ps->p != ',')
        return syntax_error (ps, ps->p, "Expecting ',' delimiter");
      ps->p++;
    }
  }
  ps->depth--;
  JsonNode *node = json_node_alloc ();
  json_node_init_array (node, array);
  return node;
}

static JsonNode *
parse_object (Parser *ps)
{
  if (!enter (ps))
    return NULL;
  ps->p++;                                        /* '{' */
  g_autoptr (JsonObject) object = json_object_new ();
  gsize path_len = ps->path->len;
  skip_ws (ps);
  if (ps->p < ps->end && *ps->p == '}') {
    ps->p++;
  } else {
    for (;;) {
      if (ps->p >= ps->end || *ps->p != '"')
        return syntax_error (ps, ps->p, "Expecting property name enclosed in double quotes");
      g_autofree char *key = parse_string (ps);
      if (key == NULL)
        return NULL;
      skip_ws (ps);
      if (ps->p >= ps->end || *ps->p != ':')
        return syntax_error (ps, ps->p, "Expecting ':' delimiter");
      ps->p++;
      g_string_append_printf (ps->path, ".%s", key);
      JsonNode *value = parse_value (ps);
      g_string_truncate (ps->path, path_len);
      if (value == NULL)
        return NULL;
      /* A repeated key keeps its first position and takes the new value, as a dict does. */
      json_object_set_member (object, key, value);
      skip_ws (ps);
      if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        break;
      }
      if (ps->p >= ps->end || *ps->p != ',')
        return syntax_error (ps, ps->p, "Expecting ',' delimiter");
      ps->p++;
      skip_ws (ps);
    }
  }
  ps->depth--;
  JsonNode *node = json_node_alloc ();
  json_node_init_object (node, object);
  return node;
}

static JsonNode *
parse_value (Parser *ps)
{
  skip_ws (ps);
  if (ps->p >= ps->end)
    return syntax_error (ps, ps->p, "Expecting value");
  JsonNode *node;
  switch (*ps->p) {
  case '"': {
    g_autofree char *s = parse_string (ps);
    if (s == NULL)
      return NULL;
    node = json_node_alloc ();
    json_node_init_string (node, s);
    return node;
  }
  case '{':
    return parse_object (ps);
  case '[':
    return parse_array (ps);
  default:
    break;
  }
  static const struct {
    const char *word;
    int         kind;                             /* 0 null, 1 true, 2 false, 3 float */
    double      value;
  } words[] = {
    { "null", 0, 0 }, { "true", 1, 0 }, { "false", 2, 0 },
    { "NaN", 3, NAN }, { "Infinity", 3, INFINITY }, { "-Infinity", 3, -INFINITY },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (words); i++) {
    if (!looking_at (ps, words[i].word))
      continue;
    ps->p += strlen (words[i].word);
    node = json_node_alloc ();
    switch (words[i].kind) {
    case 0: json_node_init_null (node); break;
    case 1: json_node_init_boolean (node, TRUE); break;
    case 2: json_node_init_boolean (node, FALSE); break;
    default: json_node_init_double (node, words[i].value); break;
    }
    return node;
  }
  if (*ps->p == '-' || g_ascii_isdigit (*ps->p))
    return parse_number (ps);
  return syntax_error (ps, ps->p, "Expecting value");
}

JsonNode *
glim_pyjson_loads (const char *text, gssize len, const char *what, GError **error)
{
  g_return_val_if_fail (text != NULL || len == 0, NULL);
  if (len < 0)
    len = strlen (text);
  const char *bad = NULL;
  if (!g_utf8_validate_len (text, len, &bad)) {
    g_set_error (error, GLIM_CHAT_ERROR, GLIM_CHAT_ERROR_INVALID_JSON,
                 "%s: not valid UTF-8 at byte %ld", what != NULL && *what ? what : "request",
                 (long) (bad - text));
    return NULL;
  }
  g_autoptr (GString) path = g_string_new (NULL);
  Parser ps = { text, text + len, text, what, path, 0, error };
  g_autoptr (JsonNode) root = parse_value (&ps);
  if (root == NULL)
    return NULL;
  skip_ws (&ps);
  if (ps.p != ps.end)
    return syntax_error (&ps, ps.p, "Extra data");
  return g_steal_pointer (&root);
}

/* ---- checks for caller-built trees ---- */

static gboolean
check_fail (GError **error, const char *what, const GString *path, const char *msg)
{
  Parser ps = { .what = what, .path = (GString *) path };
  g_autofree char *name = value_name (&ps);
  g_set_error (error, GLIM_CHAT_ERROR, GLIM_CHAT_ERROR_INVALID_JSON, "%s: %s", name, msg);
  return FALSE;
}

static gboolean
check_node (JsonNode *node, const char *what, GString *path, int depth, GError **error)
{
  if (depth > GLIM_PYJSON_MAX_DEPTH)
    return check_fail (error, what, path, "nested too deeply");
  gsize len = path->len;
  switch (JSON_NODE_TYPE (node)) {
  case JSON_NODE_OBJECT: {
    JsonObjectIter it;
    const char *key;
    JsonNode *member;
    json_object_iter_init_ordered (&it, json_node_get_object (node));
    while (json_object_iter_next_ordered (&it, &key, &member)) {
      if (!g_utf8_validate (key, -1, NULL))
        return check_fail (error, what, path, "a member name is not valid UTF-8");
      g_string_append_printf (path, ".%s", key);
      gboolean ok = check_node (member, what, path, depth + 1, error);
      g_string_truncate (path, len);
      if (!ok)
        return FALSE;
    }
    return TRUE;
  }
  case JSON_NODE_ARRAY: {
    JsonArray *array = json_node_get_array (node);
    for (guint i = 0; i < json_array_get_length (array); i++) {
      g_string_append_printf (path, "[%u]", i);
      gboolean ok = check_node (json_array_get_element (array, i), what, path, depth + 1,
                                error);
      g_string_truncate (path, len);
      if (!ok)
        return FALSE;
    }
    return TRUE;
  }
  case JSON_NODE_VALUE:
    if (json_node_get_value_type (node) == G_TYPE_STRING &&
        !g_utf8_validate (json_node_get_string (node), -1, NULL))
      return check_fail (error, what, path, "string is not valid UTF-8");
    return TRUE;
  case JSON_NODE_NULL:
  default:
    return TRUE;
  }
}

gboolean
glim_pyjson_check (JsonNode *node, const char *what, GError **error)
{
  g_autoptr (GString) path = g_string_new (NULL);
  return check_node (node, what, path, 0, error);
}

/* ---- dumps ---- */

void
glim_pyjson_dump_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  const char *chunk = s;
  for (const char *q = s;; q++) {
    guchar c = (guchar) *q;
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    g_string_append_len (out, chunk, q - chunk);
    if (c == '\0')
      break;
    chunk = q + 1;
    switch (c) {
    case '"': g_string_append (out, "\\\""); break;
    case '\\': g_string_append (out, "\\\\"); break;
    case '\n': g_string_append (out, "\\n"); break;
    case '\r': g_string_append (out, "\\r"); break;
    case '\t': g_string_append (out, "\\t"); break;
    case '\b': g_string_append (out, "\\b"); break;
    case '\f': g_string_append (out, "\\f"); break;
    default: g_string_append_printf (out, "\\u%04x", c); break;
    }
  }
  g_string_append_c (out, '"');
}

/* Decimal digits of `a` (> 0, finite) to `prec` significant digits, correctly rounded, and
 * the exponent of the first digit: a ~ 0.d1d2... x 10^(*decpt). Locale-independent. */
static int
round_digits (double a, int prec, char *digits, int *decpt)
{
  char buf[40];
  snprintf (buf, sizeof buf, "%.*e", prec - 1, a);
  int n = 0;
  const char *q = buf;
  for (; *q != '\0' && *q != 'e'; q++)
    if (g_ascii_isdigit (*q))
      digits[n++] = *q;
  digits[n] = '\0';
  *decpt = (int) g_ascii_strtoll (q + 1, NULL, 10) + 1;
  return n;
}

static gboolean
digits_round_trip (const char *digits, int decpt, double a)
{
  char buf[48];
  g_snprintf (buf, sizeof buf, "0.%se%d", digits, decpt);
  return g_ascii_strtod (buf, NULL) == a;
}

/* Add `delta` (+1 or -1) to the last digit of an n-digit string; FALSE if the result would
 * change the number of digits (then it is not a candidate of this length). */
static gboolean
nudge_digits (char *digits, int n, int delta)
{
  for (int i = n - 1; i >= 0; i--) {
    int d = digits[i] - '0' + delta;
    if (d >= 0 && d <= 9) {
      digits[i] = (char) ('0' + d);
      return i > 0 || d != 0;
    }
    digits[i] = delta > 0 ? '0' : '9';
  }
  return FALSE;
}

/* The shortest digit string that reads back as `a`, and among those the nearest to `a`:
 * what Python's repr (David Gay's mode 0) produces. The correctly rounded n-digit string is the
 * nearest one of n digits; it can fail where its neighbour works only next to a power of two,
 * where the rounding interval is narrower below the value than above it. */
static int
shortest_digits (double a, char *digits, int *decpt)
{
  for (int prec = 1; prec <= 17; prec++) {
    int n = round_digits (a, prec, digits, decpt);
    if (digits_round_trip (digits, *decpt, a))
      return n;
    for (int delta = -1; delta <= 1; delta += 2) {
      char alt[24];
      memcpy (alt, digits, n + 1);
      if (nudge_digits (alt, n, delta) && digits_round_trip (alt, *decpt, a)) {
        memcpy (digits, alt, n + 1);
        return n;
      }
    }
  }
  return round_digits (a, 17, digits, decpt);    /* 17 digits always round-trip */
}

void
glim_pyjson_dump_float (GString *out, double v)
{
  if (isnan (v)) {
    g_string_append (out, "NaN");
    return;
  }
  if (isinf (v)) {
    g_string_append (out, v > 0 ? "Infinity" : "-Infinity");
    return;
  }
  if (signbit (v))
    g_string_append_c (out, '-');
  double a = fabs (v);
  if (a == 0) {
    g_string_append (out, "0.0");
    return;
  }
  char digits[24];
  int decpt;
  int n = shortest_digits (a, digits, &decpt);
  while (n > 1 && digits[n - 1] == '0')           /* "%.*e" may pad with zeros */
    digits[--n] = '\0';
  if (decpt <= -4 || decpt > 16) {
    /* 1e-05, 1.5e+16: one digit, the rest after a point, exponent of at least two digits. */
    g_string_append_c (out, digits[0]);
    if (n > 1) {
      g_string_append_c (out, '.');
      g_string_append (out, digits + 1);
    }
    int e = decpt - 1;
    g_string_append_printf (out, "e%c%02d", e < 0 ? '-' : '+', ABS (e));
  } else if (decpt <= 0) {
    g_string_append (out, "0.");
    for (int i = 0; i < -decpt; i++)
      g_string_append_c (out, '0');
    g_string_append (out, digits);
  } else if (decpt >= n) {
    g_string_append (out, digits);
    for (int i = n; i < decpt; i++)
      g_string_append_c (out, '0');
    g_string_append (out, ".0");
  } else {
    g_string_append_len (out, digits, decpt);
    g_string_append_c (out, '.');
    g_string_append (out, digits + decpt);
  }
}

void
glim_pyjson_dump (GString *out, JsonNode *node)
{
  switch (JSON_NODE_TYPE (node)) {
  case JSON_NODE_OBJECT: {
    JsonObjectIter it;
    const char *key;
    JsonNode *member;
    gboolean first = TRUE;
    g_string_append_c (out, '{');
    json_object_iter_init_ordered (&it, json_node_get_object (node));
    while (json_object_iter_next_ordered (&it, &key, &member)) {
      if (!first)
        g_string_append (out, ", ");
      first = FALSE;
      glim_pyjson_dump_string (out, key);
      g_string_append (out, ": ");
      glim_pyjson_dump (out, member);
    }
    g_string_append_c (out, '}');
    return;
  }
  case JSON_NODE_ARRAY: {
    JsonArray *array = json_node_get_array (node);
    g_string_append_c (out, '[');
    for (guint i = 0; i < json_array_get_length (array); i++) {
      if (i > 0)
        g_string_append (out, ", ");
      glim_pyjson_dump (out, json_array_get_element (array, i));
    }
    g_string_append_c (out, ']');
    return;
  }
  case JSON_NODE_NULL:
    g_string_append (out, "null");
    return;
  case JSON_NODE_VALUE:
    break;
  }
  GType type = json_node_get_value_type (node);
  if (type == G_TYPE_STRING)
    glim_pyjson_dump_string (out, json_node_get_string (node));
  else if (type == G_TYPE_BOOLEAN)
    g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
  else if (type == G_TYPE_DOUBLE)
    glim_pyjson_dump_float (out, json_node_get_double (node));
  else
    g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
}
