/* testutil.h: helpers shared by the GTest programs in tests/.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Absolute path of a file under tests/data/ (joined from NULL-terminated parts). */
char   *test_data_path   (const char *first, ...) G_GNUC_NULL_TERMINATED;
/* A fresh temporary folder, removed with test_rmtree(). */
char   *test_make_tmpdir (void);
void    test_rmtree      (const char *path);
/* Read a whole file of little-endian float32; *n gets the element count. */
float  *test_read_f32    (const char *path, gsize *n);
/* ||a - b|| / ||b|| */
double  test_rel_l2      (const float *a, const float *b, gsize n);
/* Run glimmer-cli (path from $GLIMMER_CLI) with argv; returns exit status, captures output. */
int     test_run_cli     (const char *const *args, char **out, char **err);

G_END_DECLS
