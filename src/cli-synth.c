/* cli-synth.c: `glimmer-cli synth`: write a random-weight NVFP4 model for tests and benchmarks.
 * SPDX-License-Identifier: MIT */
#include "cli.h"

#include <stdio.h>

static const char summary[] =
  "Write a random-weight GLM-4.7-Flash-family model in the exact ModelOpt NVFP4 layout:\n"
  "config.json (every key of the real model), hf_quant_config.json and safetensors files.\n"
  "Presets: glm-4.7-flash (the real shapes, ~18 GB in 5 GB shards) and tiny (~1.3 MB, one file).\n"
  "The same seed and options give the same bytes, whatever the thread count.\n"
  "\n"
  "--set KEY=VALUE overrides a config.json key (VALUE is JSON, else a string), e.g.\n"
  "  --set num_hidden_layers=4 --set n_routed_experts=16\n"
  "Token ids the vocabulary cannot hold are moved inside it unless set explicitly.\n"
  "The output folder must not exist (or be empty); it appears only once complete.";

int
cli_synth (int argc, char **argv)
{
  g_autofree char *preset = NULL, *seed_text = NULL, *out_dir = NULL, *shard_text = NULL;
  g_auto (GStrv) overrides = NULL;
  gboolean mtp = FALSE;
  int threads = 0;
  GOptionEntry entries[] = {
    { "preset", 'p', 0, G_OPTION_ARG_STRING, &preset, "glm-4.7-flash or tiny", "NAME" },
    { "seed", 's', 0, G_OPTION_ARG_STRING, &seed_text, "Random seed (default 0)", "S" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir, "Folder to create", "DIR" },
    { "set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &overrides, "Override a config key (repeatable)",
      "KEY=VALUE" },
    { "mtp", 0, 0, G_OPTION_ARG_NONE, &mtp, "Also write the MTP layer (BF16, excluded)", NULL },
    { "shard-size", 0, 0, G_OPTION_ARG_STRING, &shard_text,
      "Largest shard (default: 5GB for glm-4.7-flash, one file for tiny; 0 = one file)", "SIZE" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default: all cores)", "N" },
    { NULL }
  };
  if (!cli_parse_options ("synth", summary, entries, &argc, &argv))
    return 2;
  g_autoptr (GError) error = NULL;
  if (preset == NULL || out_dir == NULL) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--preset NAME and --out DIR are required");
    return cli_fail ("synth", error);
  }
  guint64 seed = 0, shard = 0;
  if (seed_text != NULL &&
      !g_ascii_string_to_unsigned (seed_text, 10, 0, G_MAXUINT64, &seed, &error))
    return cli_fail ("synth", error);
  if (shard_text != NULL && !cli_parse_size (shard_text, &shard, &error))
    return cli_fail ("synth", error);

  CliProgress progress = { "synth", -1 };
  GlimSynthOptions opts = {
    .preset = preset,
    .seed = seed,
    .out_dir = out_dir,
    .overrides = (const char *const *) overrides,
    .mtp = mtp,
    .shard_max_bytes = shard_text != NULL ? (gint64) shard : -1,
    .n_threads = threads,
    .progress = cli_progress,
    .progress_data = &progress,
  };
  gint64 t0 = g_get_monotonic_time ();
  if (!glim_synth (&opts, &error))
    return cli_fail ("synth", error);
  printf ("synthesized %s (preset %s, seed %" G_GUINT64_FORMAT ") in %.1f s\n", out_dir, preset,
          seed, (g_get_monotonic_time () - t0) / 1e6);
  return 0;
}
