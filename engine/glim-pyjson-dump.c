/* glim-pyjson-dump.c: Python's json.dumps, byte for byte: string escapes (ensure_ascii on and
 * off), float repr, and a value tree with indent / sort_keys.
 * SPDX-License-Identifier: MIT
 * json-glib's generator writes "1.0000000000000001e-05" and "key" : value, which no Python
 * tool would; prompts, tool-call arguments and exported config files must match Python's text. */
#define G_LOG_DOMAIN "glimmer-pyjson"

#include "glim-pyjson.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- strings ---- */

void
glim_pyjson_escape (GString *out, const char *s, gssize len, GlimPyjsonDumpFlags flags)
{
  g_return_if_fail (out != NULL && (s != NULL || len == 0));
  gboolean ascii = (flags & GLIM_PYJSON_DUMP_ENSURE_ASCII) != 0;
  const guchar *u = (const guchar *) s;
  gsize n = len < 0 ? strlen (s) : (gsize) len;
  gsize run = 0;                                   /* start of the bytes not yet copied */
  for (gsize i = 0; i < n;) {
    guchar c = u[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      i++;                                         /* printable ASCII */
      continue;
    }
    const char *esc = NULL;
    char buf[16];
    gsize skip = 1;
    switch (c) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    default:
      if (c < 0x20 || (c == 0x7f && ascii)) {
        g_snprintf (buf, sizeof buf, "\\u%04x", c);
        esc = buf;
      } else if (c == 0xed && n - i >= 3 && u[i + 1] >= 0xa0 && u[i + 1] <= 0xbf &&
                 (u[i + 2] & 0xc0) == 0x80) {      /* a lone surrogate, WTF-8 */
        g_snprintf (buf, sizeof buf, "\\u%04x",
                    0xd000 | ((u[i + 1] & 0x3f) << 6) | (u[i + 2] & 0x3f));
        esc = buf;
        skip = 3;
      } else if (c >= 0x80 && ascii) {
        gunichar cp = g_utf8_get_char_validated (s + i, (gssize) (n - i));
        if (cp == (gunichar) -1 || cp == (gunichar) -2) {
          esc = "\\ufffd";                          /* invalid UTF-8: one per byte */
        } else {
          if (cp >= 0x10000)                       /* a UTF-16 surrogate pair */
            g_snprintf (buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10),
                        0xdc00 + ((cp - 0x10000) & 0x3ff));
          else
            g_snprintf (buf, sizeof buf, "\\u%04x", cp);
          esc = buf;
          skip = g_utf8_skip[c];
        }
      }
      break;
    }
    if (esc != NULL) {
      g_string_append_len (out, s + run, (gssize) (i - run));
      g_string_append (out, esc);
      run = i + skip;
    }
    i += skip;
  }
  g_string_append_len (out, s + run, (gssize) (n - run));
}

void
glim_pyjson_dump_string (GString *out, const char *s, gssize len, GlimPyjsonDumpFlags flags)
{
  g_string_append_c (out, '"');
  glim_pyjson_escape (out, s, len, flags);
  g_string_append_c (out, '"');
}

/* ---- floats ---- */

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

/* ---- trees ---- */

static void
newline (GString *out, guint indent, guint depth)
{
  if (indent == 0)
    return;
  g_string_append_c (out, '\n');
  for (guint i = 0; i < indent * depth; i++)
    g_string_append_c (out, ' ');
}

/* Code point order of two keys, which for UTF-8 is byte order. */
static int
compare_keys (gconstpointer a, gconstpointer b, gpointer data)
{
  GPtrArray *keys = data;
  const GString *x = g_ptr_array_index (keys, *(const guint *) a);
  const GString *y = g_ptr_array_index (keys, *(const guint *) b);
  int c = memcmp (x->str, y->str, MIN (x->len, y->len));
  if (c != 0)
    return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

static void
dump_value (GString *out, const GlimPyjsonValue *v, guint indent, GlimPyjsonDumpFlags flags,
            guint depth)
{
  const char *item_sep = indent > 0 ? "," : ", ";
  switch (v->kind) {
  case GLIM_PYJSON_KIND_NULL:
    g_string_append (out, "null");
    return;
  case GLIM_PYJSON_KIND_TRUE:
    g_string_append (out, "true");
    return;
  case GLIM_PYJSON_KIND_FALSE:
    g_string_append (out, "false");
    return;
  case GLIM_PYJSON_KIND_INT:
    g_string_append_len (out, v->text->str, (gssize) v->text->len);
    return;
  case GLIM_PYJSON_KIND_FLOAT:
    glim_pyjson_dump_float (out, v->number);
    return;
  case GLIM_PYJSON_KIND_STRING:
    glim_pyjson_dump_string (out, v->text->str, (gssize) v->text->len, flags);
    return;
  case GLIM_PYJSON_KIND_LIST:
  case GLIM_PYJSON_KIND_DICT:
  default:
    break;
  }
  gboolean is_dict = v->kind == GLIM_PYJSON_KIND_DICT;
  if (v->items->len == 0) {
    g_string_append (out, is_dict ? "{}" : "[]");
    return;
  }
  g_autofree guint *order = g_new (guint, v->items->len);
  for (guint i = 0; i < v->items->len; i++)
    order[i] = i;
  if (is_dict && (flags & GLIM_PYJSON_DUMP_SORT_KEYS))
    g_qsort_with_data (order, (gint) v->items->len, sizeof (guint), compare_keys, v->keys);
  g_string_append_c (out, is_dict ? '{' : '[');
  for (guint i = 0; i < v->items->len; i++) {
    if (i > 0)
      g_string_append (out, item_sep);
    newline (out, indent, depth + 1);
    if (is_dict) {
      const GString *key = g_ptr_array_index (v->keys, order[i]);
      glim_pyjson_dump_string (out, key->str, (gssize) key->len, flags);
      g_string_append (out, ": ");
    }
    dump_value (out, g_ptr_array_index (v->items, order[i]), indent, flags, depth + 1);
  }
  newline (out, indent, depth);
  g_string_append_c (out, is_dict ? '}' : ']');
}

void
glim_pyjson_value_dump (GString *out, const GlimPyjsonValue *value, guint indent,
                        GlimPyjsonDumpFlags flags)
{
  g_return_if_fail (out != NULL && value != NULL);
  dump_value (out, value, indent, flags, 0);
}

void
glim_pyjson_dump (GString *out, JsonNode *node, guint indent, GlimPyjsonDumpFlags flags)
{
  g_return_if_fail (out != NULL && node != NULL);
  g_autoptr (GlimPyjsonValue) value = glim_pyjson_value_from_node (node);
  dump_value (out, value, indent, flags, 0);
}
