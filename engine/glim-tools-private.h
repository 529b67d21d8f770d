/* glim-tools-private.h: what glim-tools.c and glim-calculator.c share, not for front ends.
 * SPDX-License-Identifier: MIT */
#pragma once

#include "glim-tools.h"

G_BEGIN_DECLS

/* A calculator value: exact while it is an integer that fits in int64 (Python int), else a
 * double (Python float). */
typedef struct {
  gboolean is_int;
  gint64   i;
  double   d;
} GlimCalcValue;

gboolean glim_calculator_eval_value   (const char *expression, GlimCalcValue *value,
                                       GError **error);
/* As the calculator tool prints it (make_corpus.py fmt_number). */
char    *glim_calculator_format_value (const GlimCalcValue *value);

G_END_DECLS
