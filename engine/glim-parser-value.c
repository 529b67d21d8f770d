/* glim-parser-value.c: tool-argument values the way vLLM's glm47 parser types them.
 * SPDX-License-Identifier: MIT
 *
 * A non-string parameter's value goes through Python's json.loads, then ast.literal_eval, then
 * stays the raw string, and is printed with json.dumps(ensure_ascii=False) (docs/chat-format.md
 * §3.4). json.loads and json.dumps are glim-pyjson's (lossless: big ints, NaN/Infinity,
 * duplicate keys, surrogate pairs joined, lone surrogates printed as \udxxx); this file adds a
 * reader for the literal_eval subset we accept (True/False/None; int in decimal/hex/octal/binary
 * with underscores; float; single/double/triple-quoted strings with u/r prefixes and implicit
 * concatenation; lists, tuples (bare ones too), dicts with string keys; one unary sign on a
 * number; comments), which builds the same GlimPyjsonValue tree. Outside the subset (sets,
 * complex, bytes, non-string dict keys, \N{...} escapes, integers over 4300 digits, nesting
 * deeper than Python allows) a value stays the raw string. */
#define G_LOG_DOMAIN "glimmer-parser"

#include "glim-parser-private.h"
#include "glim-pyjson.h"

#include <string.h>

#define LITERAL_DEPTH_MAX 200   /* Python's parser refuses deeper nesting ("too many nested") */

/* ---- values ---- */

/* Append code point cp as UTF-8; surrogates as WTF-8 (3 bytes ED A0..BF xx). A low surrogate
 * right after a high one joins it into one character: json.loads does so for "\ud83d\ude00";
 * Python keeps the two code points of a literal '\ud83d\ude00' apart, but no UTF-8 response
 * could carry them, and printed as JSON they would read back as the joined character anyway. */
static void
append_cp (GString *out, gunichar cp)
{
  if (cp >= 0xdc00 && cp <= 0xdfff && out->len >= 3) {
    const guchar *e = (const guchar *) out->str + out->len - 3;
    if (e[0] == 0xed && e[1] >= 0xa0 && e[1] <= 0xaf) {
      gunichar hi = 0xd000 | ((gunichar) (e[1] & 0x3f) << 6) | (e[2] & 0x3f);
      g_string_truncate (out, out->len - 3);
      g_string_append_unichar (out, 0x10000 + ((hi - 0xd800) << 10) + (cp - 0xdc00));
      return;
    }
  }
  if (cp >= 0xd800 && cp <= 0xdfff) {
    char b[3] = { (char) (0xe0 | (cp >> 12)), (char) (0x80 | ((cp >> 6) & 0x3f)),
                  (char) (0x80 | (cp & 0x3f)) };
    g_string_append_len (out, b, 3);
  } else {
    g_string_append_unichar (out, cp);
  }
}

typedef struct {
  const char *s;
  gsize       n;
  gsize       i;
  int         depth;
} Reader;

static int
peek (const Reader *r)
{
  return r->i < r->n ? (guchar) r->s[r->i] : -1;
}

static gboolean
looking_at (const Reader *r, const char *word)
{
  gsize wl = strlen (word);
  return r->n - r->i >= wl && memcmp (r->s + r->i, word, wl) == 0;
}

static int
hex_val (int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* n hex digits at r->i, or -1 */
static gint64
read_hex (Reader *r, int n)
{
  if (r->n - r->i < (gsize) n)
    return -1;
  gint64 v = 0;
  for (int k = 0; k < n; k++) {
    int h = hex_val ((guchar) r->s[r->i + (gsize) k]);
    if (h < 0)
      return -1;
    v = v * 16 + h;
  }
  r->i += (gsize) n;
  return v;
}

/* Print an integer given as digits (no sign, no underscores) in base 2/8/10/16 as decimal. */
static gboolean
int_to_decimal (const char *digits, gsize nd, int base, gboolean negative, GString *out)
{
  g_autoptr (GByteArray) dec = g_byte_array_new ();   /* little-endian decimal digits */
  if (base == 10) {
    gsize a = 0;
    while (a + 1 < nd && digits[a] == '0')
      a++;
    if (nd - a > GLIM_PYJSON_INT_DIGITS_MAX)
      return FALSE;
    if (negative && !(nd - a == 1 && digits[a] == '0'))
      g_string_append_c (out, '-');
    g_string_append_len (out, digits + a, (gssize) (nd - a));
    return TRUE;
  }
  double bits = (double) nd * (base == 16 ? 4 : base == 8 ? 3 : 1);
  if (bits > GLIM_PYJSON_INT_DIGITS_MAX * 3.3219)
    return FALSE;
  for (gsize i = 0; i < nd; i++) {
    unsigned carry = (unsigned) hex_val ((guchar) digits[i]);
    for (guint k = 0; k < dec->len; k++) {
      unsigned t = dec->data[k] * (unsigned) base + carry;
      dec->data[k] = (guint8) (t % 10);
      carry = t / 10;
    }
    while (carry > 0) {
      guint8 d = (guint8) (carry % 10);
      g_byte_array_append (dec, &d, 1);
      carry /= 10;
    }
  }
  while (dec->len > 1 && dec->data[dec->len - 1] == 0)
    g_byte_array_set_size (dec, dec->len - 1);
  if (dec->len == 0 || (dec->len == 1 && dec->data[0] == 0)) {
    g_string_append_c (out, '0');
    return TRUE;
  }
  if (dec->len > GLIM_PYJSON_INT_DIGITS_MAX)
    return FALSE;
  if (negative)
    g_string_append_c (out, '-');
  for (guint k = dec->len; k > 0; k--)
    g_string_append_c (out, (char) ('0' + dec->data[k - 1]));
  return TRUE;
}

/* A float from its digits (underscores removed), with the unary minus applied. */
static GlimPyjsonValue *
float_value (const char *text, gboolean negative)
{
  GlimPyjsonValue *v = glim_pyjson_value_new (GLIM_PYJSON_KIND_FLOAT);
  double x = g_ascii_strtod (text, NULL);
  v->number = negative ? -x : x;
  return v;
}

/* ---- ast.literal_eval (subset) ---- */

static gboolean
is_ident_byte (int c)
{
  return c >= 0x80 || c == '_' || g_ascii_isalnum (c);
}

/* Whitespace between Python tokens: newlines only inside brackets; backslash-newline joins. */
static void
py_ws (Reader *r)
{
  while (r->i < r->n) {
    char c = r->s[r->i];
    if (c == ' ' || c == '\t' || c == '\f')
      r->i++;
    else if ((c == '\n' || c == '\r') && r->depth > 0)
      r->i++;
    else if (c == '\\' && r->i + 1 < r->n && (r->s[r->i + 1] == '\n' || r->s[r->i + 1] == '\r'))
      r->i += 2;
    else if (c == '#')             /* a comment runs to the end of the line */
      while (r->i < r->n && r->s[r->i] != '\n' && r->s[r->i] != '\r')
        r->i++;
    else
      break;
  }
}

/* digitpart: digit (["_"] digit)*, digits appended to out without underscores. The first
 * character may be an underscore too when lead_underscore (0x_1f). */
static gboolean
py_digits (Reader *r, int base, gboolean lead_underscore, GString *out)
{
  gboolean any = FALSE;
  for (;;) {
    gsize save = r->i;
    if (peek (r) == '_' && (any || lead_underscore))
      r->i++;
    int c = peek (r);
    int d = c < 0 ? -1 : hex_val (c);
    if (d < 0 || d >= base || (base <= 10 && !g_ascii_isdigit (c))) {
      r->i = save;
      return any;
    }
    g_string_append_c (out, (char) c);
    r->i++;
    any = TRUE;
  }
}

static GlimPyjsonValue *
py_number (Reader *r, gboolean negative)
{
  g_autoptr (GString) digits = g_string_new (NULL);
  g_autoptr (GlimPyjsonValue) v = glim_pyjson_value_new (GLIM_PYJSON_KIND_INT);
  int c0 = peek (r), c1 = r->i + 1 < r->n ? r->s[r->i + 1] : 0;
  int base = 0;
  if (c0 == '0' && (c1 == 'x' || c1 == 'X'))
    base = 16;
  else if (c0 == '0' && (c1 == 'o' || c1 == 'O'))
    base = 8;
  else if (c0 == '0' && (c1 == 'b' || c1 == 'B'))
    base = 2;
  if (base != 0) {
    r->i += 2;
    if (!py_digits (r, base, TRUE, digits) || is_ident_byte (peek (r)) || peek (r) == '.')
      return NULL;
    if (!int_to_decimal (digits->str, digits->len, base, negative, v->text))
      return NULL;
    return g_steal_pointer (&v);
  }
  gboolean has_int = py_digits (r, 10, FALSE, digits), is_float = FALSE;
  gsize int_len = digits->len;
  if (peek (r) == '.') {
    r->i++;
    g_string_append_c (digits, '.');
    gboolean has_frac = py_digits (r, 10, FALSE, digits);
    if (!has_int && !has_frac)
      return NULL;
    is_float = TRUE;
  } else if (!has_int) {
    return NULL;
  }
  if (peek (r) == 'e' || peek (r) == 'E') {
    r->i++;
    g_string_append_c (digits, 'e');
    if (peek (r) == '+' || peek (r) == '-')
      g_string_append_c (digits, (char) r->s[r->i++]);
    if (!py_digits (r, 10, FALSE, digits))
      return NULL;
    is_float = TRUE;
  }
  if (is_ident_byte (peek (r)) || peek (r) == '.')
    return NULL;                   /* 1j (complex), 1abc, 1.2.3 */
  if (is_float)
    return float_value (digits->str, negative);
  /* decinteger: no leading zeros unless every digit is 0 */
  if (digits->str[0] == '0' && strspn (digits->str, "0") != int_len)
    return NULL;
  if (!int_to_decimal (digits->str, int_len, 10, negative, v->text))
    return NULL;
  return g_steal_pointer (&v);
}

/* One string literal (prefix and quotes included) at r->i; appends its decoded text. */
static gboolean
py_string (Reader *r, GString *out)
{
  gboolean raw = FALSE;
  int c = peek (r);
  if (c == 'r' || c == 'R' || c == 'u' || c == 'U') {
    raw = (c == 'r' || c == 'R');
    r->i++;
  }
  int q = peek (r);
  if (q != '\'' && q != '"')
    return FALSE;
  char triple[4] = { (char) q, (char) q, (char) q, 0 };
  gboolean is_triple = looking_at (r, triple);
  r->i += is_triple ? 3 : 1;
  for (;;) {
    if (r->i >= r->n)
      return FALSE;
    c = (guchar) r->s[r->i];
    if (c == q && (!is_triple || looking_at (r, triple))) {
      r->i += is_triple ? 3 : 1;
      return TRUE;
    }
    if ((c == '\n' || c == '\r') && !is_triple)
      return FALSE;
    if (c != '\\') {
      g_string_append_c (out, (char) c);
      r->i++;
      continue;
    }
    if (r->i + 1 >= r->n)
      return FALSE;
    int e = (guchar) r->s[r->i + 1];
    if (raw) {                     /* a backslash escapes the quote but stays */
      g_string_append_c (out, '\\');
      g_string_append_c (out, (char) e);
      r->i += 2;
      continue;
    }
    r->i += 2;
    gint64 cp = -1;
    switch (e) {
    case '\n': break;
    case '\r':
      if (peek (r) == '\n')
        r->i++;
      break;
    case '\\': g_string_append_c (out, '\\'); break;
    case '\'': g_string_append_c (out, '\''); break;
    case '"': g_string_append_c (out, '"'); break;
    case 'a': g_string_append_c (out, '\a'); break;
    case 'b': g_string_append_c (out, '\b'); break;
    case 'f': g_string_append_c (out, '\f'); break;
    case 'n': g_string_append_c (out, '\n'); break;
    case 'r': g_string_append_c (out, '\r'); break;
    case 't': g_string_append_c (out, '\t'); break;
    case 'v': g_string_append_c (out, '\v'); break;
    case 'x': cp = read_hex (r, 2); if (cp < 0) return FALSE; break;
    case 'u': cp = read_hex (r, 4); if (cp < 0) return FALSE; break;
    case 'U':
      cp = read_hex (r, 8);
      if (cp < 0 || cp > 0x10ffff)
        return FALSE;
      break;
    case 'N':
      return FALSE;                /* \N{NAME}: not supported */
    default:
      if (e >= '0' && e <= '7') {
        cp = e - '0';
        for (int k = 0; k < 2 && peek (r) >= '0' && peek (r) <= '7'; k++)
          cp = cp * 8 + (r->s[r->i++] - '0');
      } else {                     /* unknown escape: kept as written */
        g_string_append_c (out, '\\');
        r->i--;
      }
      break;
    }
    if (cp >= 0)
      append_cp (out, (gunichar) cp);
  }
}

static gboolean
at_string_start (const Reader *r)
{
  int c = peek (r);
  if (c == '\'' || c == '"')
    return TRUE;
  if (c == 'r' || c == 'R' || c == 'u' || c == 'U') {
    int q = r->i + 1 < r->n ? r->s[r->i + 1] : 0;
    return q == '\'' || q == '"';
  }
  return FALSE;
}

static GlimPyjsonValue *py_expr (Reader *r);

/* After the opening bracket. kind: '[' list, '(' tuple or parenthesised value, '{' dict. */
static GlimPyjsonValue *
py_container (Reader *r, char open)
{
  char close = open == '[' ? ']' : open == '(' ? ')' : '}';
  if (++r->depth > LITERAL_DEPTH_MAX)
    return NULL;
  g_autoptr (GlimPyjsonValue) v = glim_pyjson_value_new (open == '{' ? GLIM_PYJSON_KIND_DICT
                                                                     : GLIM_PYJSON_KIND_LIST);
  gboolean comma = FALSE;
  py_ws (r);
  while (peek (r) != close) {
    g_autoptr (GlimPyjsonValue) item = py_expr (r);
    if (item == NULL)
      return NULL;
    py_ws (r);
    if (open == '{') {
      if (peek (r) != ':' || item->kind != GLIM_PYJSON_KIND_STRING)
        return NULL;               /* a set, or a non-string key */
      r->i++;
      GlimPyjsonValue *val = py_expr (r);
      if (val == NULL)
        return NULL;
      glim_pyjson_value_set_item (v, g_steal_pointer (&item->text), val);
      py_ws (r);
    } else {
      g_ptr_array_add (v->items, g_steal_pointer (&item));
    }
    if (peek (r) == ',') {
      r->i++;
      comma = TRUE;
      py_ws (r);
    } else if (peek (r) != close) {
      return NULL;
    }
  }
  r->i++;
  r->depth--;
  if (open == '(' && !comma && v->items->len == 1)   /* (x) is x */
    return g_ptr_array_steal_index (v->items, 0);
  return g_steal_pointer (&v);
}

static GlimPyjsonValue *
py_expr (Reader *r)
{
  py_ws (r);
  int c = peek (r);
  if (c == '+' || c == '-') {
    r->i++;
    py_ws (r);
    int depth = 0;
    while (peek (r) == '(') {      /* -(5) is allowed, the parentheses make no node */
      r->i++;
      depth++;
      r->depth++;
      py_ws (r);
    }
    if (!(g_ascii_isdigit (peek (r)) || (peek (r) == '.' && r->i + 1 < r->n &&
                                         g_ascii_isdigit (r->s[r->i + 1]))))
      return NULL;
    g_autoptr (GlimPyjsonValue) num = py_number (r, c == '-');
    if (num == NULL)
      return NULL;
    for (; depth > 0; depth--) {
      py_ws (r);
      if (peek (r) != ')')
        return NULL;
      r->i++;
      r->depth--;
    }
    return g_steal_pointer (&num);
  }
  if (at_string_start (r)) {
    g_autoptr (GlimPyjsonValue) v = glim_pyjson_value_new (GLIM_PYJSON_KIND_STRING);
    do {
      if (!py_string (r, v->text))
        return NULL;
      py_ws (r);
    } while (at_string_start (r));
    return g_steal_pointer (&v);
  }
  if (g_ascii_isdigit (c) || (c == '.' && r->i + 1 < r->n && g_ascii_isdigit (r->s[r->i + 1])))
    return py_number (r, FALSE);
  if (c == '[' || c == '(' || c == '{') {
    r->i++;
    return py_container (r, (char) c);
  }
  static const struct { const char *word; GlimPyjsonKind kind; } words[] = {
    { "None", GLIM_PYJSON_KIND_NULL }, { "True", GLIM_PYJSON_KIND_TRUE },
    { "False", GLIM_PYJSON_KIND_FALSE },
  };
  for (gsize k = 0; k < G_N_ELEMENTS (words); k++) {
    gsize wl = strlen (words[k].word);
    if (looking_at (r, words[k].word) && !(r->i + wl < r->n && is_ident_byte (
          (guchar) r->s[r->i + wl]))) {
      r->i += wl;
      return glim_pyjson_value_new (words[k].kind);
    }
  }
  return NULL;
}

static GlimPyjsonValue *
literal_eval (const char *s, gsize n)
{
  if (memchr (s, '\0', n) != NULL)
    return NULL;                   /* "source code cannot contain null bytes" */
  Reader r = { s, n, 0, 0 };
  g_autoptr (GlimPyjsonValue) v = py_expr (&r);
  if (v == NULL)
    return NULL;
  py_ws (&r);
  if (peek (&r) == ',') {          /* "1, 2" is a tuple */
    g_autoptr (GlimPyjsonValue) tuple = glim_pyjson_value_new (GLIM_PYJSON_KIND_LIST);
    g_ptr_array_add (tuple->items, g_steal_pointer (&v));
    while (peek (&r) == ',') {
      r.i++;
      py_ws (&r);
      if (r.i == r.n)
        break;
      GlimPyjsonValue *item = py_expr (&r);
      if (item == NULL)
        return NULL;
      g_ptr_array_add (tuple->items, item);
      py_ws (&r);
    }
    v = g_steal_pointer (&tuple);
  }
  return r.i == r.n ? g_steal_pointer (&v) : NULL;
}

void
glim_parser_value_to_json (GString *out, const char *s, gsize len)
{
  g_autoptr (GlimPyjsonValue) v = glim_pyjson_value_loads (s, (gssize) len, NULL, NULL);
  if (v == NULL)
    v = literal_eval (s, len);
  if (v != NULL)
    glim_pyjson_value_dump (out, v, 0, GLIM_PYJSON_DUMP_NONE);
  else
    glim_pyjson_dump_string (out, s, (gssize) len, GLIM_PYJSON_DUMP_NONE);
}
