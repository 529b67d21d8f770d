/* glimmer-test-driver.h: lets the real app drive itself from a script, for GUI tests and
 * screenshots. Enabled only by the environment variable GLIMMER_TEST_SCRIPT (a file path).
 * SPDX-License-Identifier: MIT
 *
 * One command per line ('#' starts a comment):
 *   wait-model [SECONDS]        until a model is loaded (fails on a load error or timeout)
 *   send TEXT                   type TEXT in the composer and send it
 *   wait-reply [SECONDS]        until the reply (with its tool loop) is finished, or waits
 *                               for a tool approval
 *   approve                     answer every pending tool card with "Allow once"
 *   expect-rows N               at least N message rows in the chat view
 *   expect-assistant            the last assistant row exists and shows an answer or a tool card
 *   expect-answer TEXT          the last assistant row's answer contains TEXT
 *   expect-messages N           the shown conversation has exactly N messages
 *   regenerate                  the last assistant message's "Regenerate" (then wait-reply)
 *   edit                        the last user message's "Edit": it is cut off with what
 *                               follows and put back in the composer (then "send" the new text)
 *   rename TITLE                the Rename dialog, with TITLE typed and "Rename" pressed
 *   expect-saved TEXT           the shown conversation's history file contains TEXT
 *   export-markdown PATH        write the shown conversation to PATH, as the Export dialog
 *   export-json PATH            does once a file is chosen
 *   expect-file PATH TEXT       the file PATH (no spaces) contains TEXT
 *   delete                      delete the shown conversation; checks its file went to trash/
 *   undo-delete                 the toast's Undo; checks the file and the conversation are back
 *   search TEXT                 type TEXT in the sidebar's search entry (none: clear it)
 *   expect-listed N             the sidebar lists exactly N conversations (within 3 s)
 *   expect-context-used         the worker reports a context usage above 0 tokens
 *   expect-context-current      once idle, the context-usage label's count equals a fresh count of
 *                               the shown conversation (within 60 s)
 *   delete-message              the last assistant message's "Delete" (with its tool results)
 *   preferences                 open the Preferences window (app.preferences)
 *   choose-folder PATH          in Preferences, pick PATH as the model folder, as the folder
 *                               chooser's "Select" does (the engine checks it)
 *   expect-folder-error TEXT    the model folder row's inline message contains TEXT (within 60 s)
 *   expect-no-folder-error      the model folder row shows no message
 *   select-row NAME INDEX       in Preferences, select item INDEX of the combo row named NAME
 *   expect-dark yes|no          libadwaita's style is dark (yes) or light (no)
 *   expect-setting KEY [VALUE]  the string/enum setting KEY is VALUE (none: "") within 60 s
 *   action NAME                 activate the window action NAME (e.g. win.new-chat)
 *   open-latest                 show the newest conversation of the sidebar
 *   open-index N                show the sidebar's conversation N (0: the newest)
 *   resize W H                  set the window's size
 *   wait MILLISECONDS           let the main loop run
 *   screenshot PATH             save the window as PNG
 *   quit                        exit with status 0 (any failure exits with 1 at once)
 * Each command prints "glimmer-test: <command>: ok" or "... FAIL: <why>" on stdout. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _GlimmerApplication GlimmerApplication;

/* Start running $GLIMMER_TEST_SCRIPT if it is set; otherwise do nothing. */
void     glimmer_test_driver_maybe_start (GlimmerApplication *app);

G_END_DECLS
