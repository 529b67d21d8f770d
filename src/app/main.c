/* main.c: the glimmer desktop app's entry point.
 * SPDX-License-Identifier: MIT */
#include "glimmer-application.h"

#include <glib/gi18n.h>
#include <locale.h>

int
main (int argc, char **argv)
{
  g_autoptr(GlimmerApplication) app = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, GLIMMER_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = glimmer_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
