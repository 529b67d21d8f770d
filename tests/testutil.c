/* testutil.c: helpers shared by the GTest programs in tests/.
 * SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdarg.h>
#include <sys/wait.h>

char *
test_data_path (const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  g_autoptr (GPtrArray) parts = g_ptr_array_new ();
  const char *src = g_getenv ("G_TEST_SRCDIR");
  g_ptr_array_add (parts, (gpointer) (src ? src : "."));
  g_ptr_array_add (parts, "data");
  for (const char *p = first; p != NULL; p = va_arg (ap, const char *))
    g_ptr_array_add (parts, (gpointer) p);
  va_end (ap);
  g_ptr_array_add (parts, NULL);
  return g_build_filenamev ((char **) parts->pdata);
}

char *
test_make_tmpdir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("glimmer-test-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

void
test_rmtree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    GDir *d = g_dir_open (path, 0, NULL);
    const char *name;
    while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
      g_autofree char *child = g_build_filename (path, name, NULL);
      test_rmtree (child);
    }
    if (d != NULL)
      g_dir_close (d);
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

float *
test_read_f32 (const char *path, gsize *n)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;
  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (len % 4, ==, 0);
  *n = len / 4;
  return (float *) data;
}

double
test_rel_l2 (const float *a, const float *b, gsize n)
{
  double num = 0, den = 0;
  for (gsize i = 0; i < n; i++) {
    double d = (double) a[i] - (double) b[i];
    num += d * d;
    den += (double) b[i] * (double) b[i];
  }
  return den > 0 ? sqrt (num / den) : sqrt (num);
}

int
test_run_cli (const char *const *args, char **out, char **err)
{
  const char *cli = g_getenv ("GLIMMER_CLI");
  g_assert_nonnull (cli);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) cli);
  for (const char *const *a = args; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  g_ptr_array_add (argv, NULL);
  g_autoptr (GError) error = NULL;
  int status = 0;
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status,
                &error);
  g_assert_no_error (error);
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return -1;
}
