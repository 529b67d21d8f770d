/* glim-parser-text.c: the Python string rules the output parser needs: str.isspace()/strip()
 * and UTF-8 clean-up of fed text (JSON escaping and float repr are glim-pyjson's).
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-parser"

#include "glim-parser-private.h"

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
