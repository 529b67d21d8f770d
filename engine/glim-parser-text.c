/* glim-parser-text.c: the Python string rules the output parser needs: str.isspace()/strip(),
 * json.dumps(ensure_ascii=False) escaping, float repr(), and UTF-8 clean-up of fed text.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-parser"

#include "glim-parser-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- text helpers ---- */

gboolean
glim_parser_py_isspace (gunichar c)
{
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
         c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Length of the valid UTF-8 character at s[0..n), or 0. NUL counts as valid. */
static gsize
utf8_char_len (const guchar *s, gsize n)
{
  guchar c = s[0];
  if (c < 0x80)
    return 1;
  gsize len;
  guchar lo = 0x80, hi = 0xbf;
  if (c < 0xc2)
    return 0;
  else if (c < 0xe0)
    len = 2;
  else if (c < 0xf0) {
    len = 3;
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
  } else if (c < 0xf5) {
    len = 4;
    if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
  } else
    return 0;
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  for (gsize i = 2; i < len; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return len;
}

void
glim_parser_utf8_append_valid (GString *out, const char *s, gsize len)
{
  const guchar *u = (const guchar *) s;
  gsize i = 0, run = 0;
  while (i < len) {
    gsize cl = utf8_char_len (u + i, len - i);
    if (cl > 0) {
      i += cl;
      continue;
    }
    g_string_append_len (out, s + run, (gssize) (i - run));
    g_string_append (out, "\xef\xbf\xbd");
    i++;
    run = i;
  }
  g_string_append_len (out, s + run, (gssize) (len - run));
}

/* Decode one code point of valid UTF-8 (or a WTF-8 lone surrogate); *cl gets its length. */
static gunichar
utf8_get (const guchar *s, gsize n, gsize *cl)
{
  guchar c = s[0];
  if (c < 0x80 || n < 2) {
    *cl = 1;
    return c;
  }
  if (c < 0xe0) {
    *cl = 2;
    return ((gunichar) (c & 0x1f) << 6) | (s[1] & 0x3f);
  }
  if (c < 0xf0 || n < 4) {
    *cl = MIN (3, n);
    if (n < 3)
      return c;
    return ((gunichar) (c & 0x0f) << 12) | ((gunichar) (s[1] & 0x3f) << 6) | (s[2] & 0x3f);
  }
  *cl = 4;
  return ((gunichar) (c & 0x07) << 18) | ((gunichar) (s[1] & 0x3f) << 12) |
         ((gunichar) (s[2] & 0x3f) << 6) | (s[3] & 0x3f);
}

void
glim_parser_py_strip (const char *s, gsize len, gsize *start, gsize *end)
{
  const guchar *u = (const guchar *) s;
  gsize a = 0, b = len;
  while (a < len) {
    gsize cl;
    gunichar c = utf8_get (u + a, len - a, &cl);
    if (!glim_parser_py_isspace (c))
      break;
    a += cl;
  }
  while (b > a) {
    gsize p = b - 1;
    while (p > a && (u[p] & 0xc0) == 0x80)
      p--;
    gsize cl;
    gunichar c = utf8_get (u + p, b - p, &cl);
    if (!glim_parser_py_isspace (c))
      break;
    b = p;
  }
  *start = a;
  *end = b;
}

void
glim_parser_json_escape (GString *out, const char *s, gsize len)
{
  const guchar *u = (const guchar *) s;
  gsize run = 0;
  for (gsize i = 0; i < len; i++) {
    guchar c = u[i];
    const char *esc = NULL;
    char buf[8];
    gsize skip = 1;
    if (c == '"')
      esc = "\\\"";
    else if (c == '\\')
      esc = "\\\\";
    else if (c == '\n')
      esc = "\\n";
    else if (c == '\r')
      esc = "\\r";
    else if (c == '\t')
      esc = "\\t";
    else if (c == '\b')
      esc = "\\b";
    else if (c == '\f')
      esc = "\\f";
    else if (c < 0x20) {
      g_snprintf (buf, sizeof buf, "\\u%04x", c);
      esc = buf;
    } else if (c == 0xed && i + 2 < len && u[i + 1] >= 0xa0 && u[i + 1] <= 0xbf) {
      gunichar cp = ((gunichar) (c & 0x0f) << 12) | ((gunichar) (u[i + 1] & 0x3f) << 6) |
                    (u[i + 2] & 0x3f);
      g_snprintf (buf, sizeof buf, "\\u%04x", cp);
      esc = buf;
      skip = 3;
    }
    if (esc == NULL)
      continue;
    g_string_append_len (out, s + run, (gssize) (i - run));
    g_string_append (out, esc);
    i += skip - 1;
    run = i + 1;
  }
  g_string_append_len (out, s + run, (gssize) (len - run));
}

/* ---- numbers ---- */

/* Shortest digits that read back as x (> 0, finite), like David Gay's dtoa mode 0 that Python's
 * repr uses: for each length the correctly rounded candidate, then its two neighbours (the
 * rounding interval is lopsided at powers of two). digits get no trailing zeros; value =
 * 0.DIGITS * 10^decpt. */
static void
shortest_digits (double x, char digits[32], int *decpt)
{
  for (int prec = 1; prec <= 17; prec++) {
    char fmt[16], buf[64];
    g_snprintf (fmt, sizeof fmt, "%%.%de", prec - 1);
    g_ascii_formatd (buf, sizeof buf, fmt, x);
    const char *e = strchr (buf, 'e');
    g_assert (e != NULL);
    int exp10 = atoi (e + 1);
    guint64 mant = 0;
    for (const char *p = buf; p < e; p++)
      if (*p >= '0' && *p <= '9')
        mant = mant * 10 + (guint64) (*p - '0');
    guint64 lo = 1;
    for (int k = 1; k < prec; k++)
      lo *= 10;
    guint64 cands[3] = { mant, mant + 1, mant - 1 };
    for (int c = 0; c < 3; c++) {
      guint64 m = cands[c];
      int ex = exp10;
      if (m < lo)
        continue;                     /* lost a digit: not a candidate of this length */
      if (m >= lo * 10) {
        m /= 10;
        ex++;
      }
      char cand[64];
      g_snprintf (cand, sizeof cand, "%" G_GUINT64_FORMAT "e%d", m, ex - (prec - 1));
      if (g_ascii_strtod (cand, NULL) != x)
        continue;
      int n = g_snprintf (digits, 32, "%" G_GUINT64_FORMAT, m);
      while (n > 1 && digits[n - 1] == '0')
        digits[--n] = '\0';
      *decpt = ex + 1;
      return;
    }
  }
  g_assert_not_reached ();
}

void
glim_parser_float_repr (GString *out, double x)
{
  if (isnan (x)) {
    g_string_append (out, "NaN");
    return;
  }
  if (isinf (x)) {
    g_string_append (out, x > 0 ? "Infinity" : "-Infinity");
    return;
  }
  if (signbit (x))
    g_string_append_c (out, '-');
  x = fabs (x);
  if (x == 0) {
    g_string_append (out, "0.0");
    return;
  }
  char digits[32];
  int decpt;
  shortest_digits (x, digits, &decpt);
  int n = (int) strlen (digits);
  if (decpt <= -4 || decpt > 16) {
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

