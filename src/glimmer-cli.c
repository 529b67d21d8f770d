/* glimmer-cli.c: the command-line front end: one sub-command per task.
 * SPDX-License-Identifier: MIT */
#include "cli.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  const char *name;
  int       (*run) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  { "bench",    cli_bench,    "measure decode/prefill speed against the memory roofline" },
  { "chat",     cli_chat,     "chat with a model (the demo model by default): thinking, tools" },
  { "generate", cli_generate, "continue token ids (greedy or sampled), print the new ids" },
  { "info",     cli_info,     "describe a model folder: architecture, sizes, formats" },
  { "parse",    cli_parse,    "split generated ids into reasoning, content, tool calls (JSON)" },
  { "logits",   cli_logits,   "write the logits of every input position (float32)" },
  { "quantize", cli_quantize, "convert a BF16 checkpoint to ModelOpt NVFP4" },
  { "synth",    cli_synth,    "write a random-weight NVFP4 model (for tests and benchmarks)" },
  { "render",   cli_render,   "print the prompt text for an OpenAI chat request (JSON)" },
  { "tokenize", cli_tokenize, "encode text into token ids with a tokenizer.json (or decode)" },
};

static int
usage (FILE *f)
{
  fprintf (f, "Usage: glimmer-cli COMMAND [OPTIONS]\n\nCommands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf (f, "\nRun 'glimmer-cli COMMAND --help' for a command's options.\n");
  return f == stdout ? 0 : 2;
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  if (argc < 2)
    return usage (stderr);
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 ||
      strcmp (argv[1], "help") == 0)
    return usage (stdout);
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  fprintf (stderr, "glimmer-cli: unknown command \"%s\"\n\n", argv[1]);
  return usage (stderr);
}
