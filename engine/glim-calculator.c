/* glim-calculator.c: the `calculator` tool's evaluator: + - * / and parentheses over integers
 * and decimals, unary minus (and plus), evaluated like Python's eval of the same text.
 * SPDX-License-Identifier: MIT
 *
 * Grammar (whitespace: spaces and tabs between tokens):
 *   expr   := term (('+' | '-') term)*
 *   term   := unary (('*' | '/') unary)*
 *   unary  := ('-' | '+') unary | atom
 *   atom   := number | '(' expr ')'
 *   number := digits ['.' [digits]] | '.' digits     (no exponent; "01" refused as Python does)
 * Values follow Python: integers stay exact (int64 here; past int64 they continue as doubles,
 * where Python would keep a big integer), '/' is always true division (a float), a float
 * anywhere makes the result a float. Never code execution: the text is only ever tokenised.
 * Limits: 1000 bytes of input, 100 levels of nesting (parentheses and unary signs); a value
 * that overflows a double, and division by zero, are errors. Error messages name a 1-based
 * character position. */
#define G_LOG_DOMAIN "glimmer-tools"

#include "glim-tools-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CALC_MAX_BYTES 1000
#define CALC_MAX_DEPTH 100

typedef struct {
  const char *text;
  gsize       pos;      /* byte offset of the next unread character */
  int         depth;
  GError    **error;
} Calc;

static gboolean calc_expr (Calc *c, GlimCalcValue *out);

static void
calc_fail (Calc *c, gsize pos, const char *what)
{
  /* positions count characters; input is ASCII or refused before any multi-byte character */
  g_set_error (c->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s at position %" G_GSIZE_FORMAT,
               what, pos + 1);
}

static void
calc_skip_space (Calc *c)
{
  while (c->text[c->pos] == ' ' || c->text[c->pos] == '\t')
    c->pos++;
}

static double
calc_as_double (const GlimCalcValue *v)
{
  return v->is_int ? (double) v->i : v->d;
}

static gboolean
calc_check_finite (Calc *c, gsize pos, GlimCalcValue *v)
{
  if (!v->is_int && !isfinite (v->d)) {
    calc_fail (c, pos, "the result is too large");
    return FALSE;
  }
  return TRUE;
}

static gboolean
calc_number (Calc *c, GlimCalcValue *out)
{
  gsize start = c->pos;
  const char *s = c->text;
  gsize p = start;
  while (g_ascii_isdigit (s[p]))
    p++;
  gsize int_digits = p - start;
  gboolean is_float = FALSE;
  if (s[p] == '.') {
    is_float = TRUE;
    p++;
    gsize frac_start = p;
    while (g_ascii_isdigit (s[p]))
      p++;
    if (int_digits == 0 && p == frac_start) {
      calc_fail (c, start, "a lone '.' is not a number");
      return FALSE;
    }
  }
  if (int_digits == 0 && !is_float) {
    if (s[p] == '\0')
      calc_fail (c, start, "the expression ends where a number was expected");
    else
      calc_fail (c, start, "expected a number or '('");
    return FALSE;
  }
  if (g_ascii_isdigit (s[p]) || s[p] == '.' || s[p] == '_' || g_ascii_isalpha (s[p])) {
    calc_fail (c, p, "malformed number");
    return FALSE;
  }
  g_autofree char *lit = g_strndup (s + start, p - start);
  if (!is_float) {
    /* Python refuses "01" but accepts "0" and "00" */
    gboolean all_zero = TRUE;
    for (gsize i = 0; i < int_digits; i++)
      all_zero &= lit[i] == '0';
    if (int_digits > 1 && lit[0] == '0' && !all_zero) {
      calc_fail (c, start, "leading zeros in a number");
      return FALSE;
    }
    guint64 u = 0;
    if (g_ascii_string_to_unsigned (lit, 10, 0, G_MAXINT64, &u, NULL)) {
      out->is_int = TRUE;
      out->i = (gint64) u;
      c->pos = p;
      return TRUE;
    }
  }
  out->is_int = FALSE;
  out->d = g_ascii_strtod (lit, NULL);
  c->pos = p;
  if (!isfinite (out->d)) {
    calc_fail (c, start, "the number is too large");
    return FALSE;
  }
  return TRUE;
}

static gboolean
calc_enter (Calc *c)
{
  if (++c->depth > CALC_MAX_DEPTH) {
    calc_fail (c, c->pos, "the expression is nested too deeply");
    return FALSE;
  }
  return TRUE;
}

static gboolean
calc_unary (Calc *c, GlimCalcValue *out)
{
  calc_skip_space (c);
  char ch = c->text[c->pos];
  if (ch == '-' || ch == '+') {
    c->pos++;
    if (!calc_enter (c) || !calc_unary (c, out))
      return FALSE;
    c->depth--;
    if (ch == '-') {
      if (out->is_int && out->i == G_MININT64) {
        out->is_int = FALSE;
        out->d = -(double) G_MININT64;
      } else if (out->is_int) {
        out->i = -out->i;
      } else {
        out->d = -out->d;
      }
    }
    return TRUE;
  }
  if (ch == '(') {
    gsize open = c->pos;
    c->pos++;
    if (!calc_enter (c) || !calc_expr (c, out))
      return FALSE;
    c->depth--;
    calc_skip_space (c);
    if (c->text[c->pos] != ')') {
      if (c->text[c->pos] == '\0')
        calc_fail (c, open, "unclosed '('");
      else
        calc_fail (c, c->pos, "expected ')'");
      return FALSE;
    }
    c->pos++;
    return TRUE;
  }
  return calc_number (c, out);
}

/* a op b for op in + - *, exact while the integers fit in int64 */
static void
calc_arith (char op, const GlimCalcValue *a, const GlimCalcValue *b, GlimCalcValue *out)
{
  if (a->is_int && b->is_int) {
    gint64 r;
    gboolean overflow = op == '+' ? __builtin_add_overflow (a->i, b->i, &r)
                      : op == '-' ? __builtin_sub_overflow (a->i, b->i, &r)
                      : __builtin_mul_overflow (a->i, b->i, &r);
    if (!overflow) {
      out->is_int = TRUE;
      out->i = r;
      return;
    }
  }
  double x = calc_as_double (a), y = calc_as_double (b);
  out->is_int = FALSE;
  out->d = op == '+' ? x + y : op == '-' ? x - y : x * y;
}

static gboolean
calc_term (Calc *c, GlimCalcValue *out)
{
  if (!calc_unary (c, out))
    return FALSE;
  for (;;) {
    calc_skip_space (c);
    char op = c->text[c->pos];
    if (op != '*' && op != '/')
      return TRUE;
    gsize at = c->pos;
    c->pos++;
    calc_skip_space (c);
    if (c->text[c->pos] == op) {
      calc_fail (c, c->pos, op == '*' ? "'**' is not supported" : "'//' is not supported");
      return FALSE;
    }
    GlimCalcValue rhs;
    if (!calc_unary (c, &rhs))
      return FALSE;
    if (op == '*') {
      calc_arith ('*', out, &rhs, out);
    } else {
      if (calc_as_double (&rhs) == 0.0) {
        calc_fail (c, at, "division by zero");
        return FALSE;
      }
      out->d = calc_as_double (out) / calc_as_double (&rhs);
      out->is_int = FALSE;
    }
    if (!calc_check_finite (c, at, out))
      return FALSE;
  }
}

static gboolean
calc_expr (Calc *c, GlimCalcValue *out)
{
  if (!calc_term (c, out))
    return FALSE;
  for (;;) {
    calc_skip_space (c);
    char op = c->text[c->pos];
    if (op != '+' && op != '-')
      return TRUE;
    gsize at = c->pos;
    c->pos++;
    GlimCalcValue rhs;
    if (!calc_term (c, &rhs))
      return FALSE;
    calc_arith (op, out, &rhs, out);
    if (!calc_check_finite (c, at, out))
      return FALSE;
  }
}

gboolean
glim_calculator_eval_value (const char *expression, GlimCalcValue *value, GError **error)
{
  g_return_val_if_fail (expression != NULL && value != NULL, FALSE);
  gsize len = strlen (expression);
  if (len > CALC_MAX_BYTES) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "the expression is too long (%" G_GSIZE_FORMAT " characters; at most %d)",
                 len, CALC_MAX_BYTES);
    return FALSE;
  }
  Calc c = { expression, 0, 0, error };
  /* every character outside the grammar is refused up front, with its position */
  for (gsize i = 0; i < len; i++) {
    char ch = expression[i];
    if (!g_ascii_isdigit (ch) && strchr ("+-*/(). \t", ch) == NULL) {
      if ((guchar) ch >= 0x80) {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     "unexpected character at byte %" G_GSIZE_FORMAT
                     " (only digits, + - * / ( ) . and spaces are allowed)", i + 1);
      } else {
        g_autofree char *what = g_strdup_printf (
          g_ascii_isprint (ch) ? "unexpected character '%c'" : "unexpected character 0x%02x",
          g_ascii_isprint (ch) ? ch : (guchar) ch);
        calc_fail (&c, i, what);
      }
      return FALSE;
    }
  }
  calc_skip_space (&c);
  if (expression[c.pos] == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the expression is empty");
    return FALSE;
  }
  if (!calc_expr (&c, value))
    return FALSE;
  calc_skip_space (&c);
  if (expression[c.pos] != '\0') {
    calc_fail (&c, c.pos, expression[c.pos] == ')' ? "unmatched ')'" : "unexpected text");
    return FALSE;
  }
  return TRUE;
}

gboolean
glim_calculator_eval (const char *expression, double *value, GError **error)
{
  GlimCalcValue v;
  if (!glim_calculator_eval_value (expression, &v, error))
    return FALSE;
  if (value != NULL)
    *value = calc_as_double (&v);
  return TRUE;
}

char *
glim_calculator_format (double value)
{
  if (!isfinite (value))
    return g_strdup (isnan (value) ? "nan" : value > 0 ? "inf" : "-inf");
  if (value == floor (value)) {
    /* Python: str(int(v)), every digit of the integer the double holds; -0.0 is 0 */
    if (value == 0.0)
      return g_strdup ("0");
    return g_strdup_printf ("%.0f", value);
  }
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (buf, sizeof buf, "%.10g", value);
  return g_strdup (buf);
}

char *
glim_calculator_format_value (const GlimCalcValue *value)
{
  if (value->is_int)
    return g_strdup_printf ("%" G_GINT64_FORMAT, value->i);
  return glim_calculator_format (value->d);
}
