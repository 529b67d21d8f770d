/* cli-quantize.c: `glimmer-cli quantize`: BF16 checkpoint -> ModelOpt NVFP4 export.
 * SPDX-License-Identifier: MIT */
#include "cli.h"

#include <stdio.h>

static const char summary[] =
  "Convert a BF16 (or F16/F32) GLM-4.7-Flash-family checkpoint to the ModelOpt NVFP4 export\n"
  "format, with the weights, block scales and global scales ModelOpt's default NVFP4 recipe\n"
  "computes, bit for bit. Every linear of attention and MLPs/experts becomes NVFP4; embeddings,\n"
  "lm_head, norms, routers and the MTP layer are copied unchanged. hf_quant_config.json and\n"
  "config.json \"quantization_config\" are written; the folder's other files are copied.\n"
  "\n"
  "No input_scale is written: it is a static activation scale that needs calibration data.\n"
  "Weight-only (W4A16) engines -- Glimmer, vLLM's Marlin kernels on Hopper -- ignore it; for\n"
  "FP4-activation (W4A4) kernels, export with ModelOpt and calibration instead.\n"
  "\n"
  "The output folder must not exist (or be empty); it appears only once complete.";

int
cli_quantize (int argc, char **argv)
{
  g_autofree char *in_dir = NULL, *out_dir = NULL, *shard_text = NULL;
  g_auto (GStrv) keep_wide = NULL;
  int threads = 0;
  GOptionEntry entries[] = {
    { "in", 'i', 0, G_OPTION_ARG_FILENAME, &in_dir, "BF16 checkpoint folder", "DIR" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir, "Folder to create", "DIR" },
    { "keep-wide", 0, 0, G_OPTION_ARG_STRING_ARRAY, &keep_wide,
      "Leave linear modules matching this glob unquantized (repeatable), e.g. '*kv_b_proj'",
      "PATTERN" },
    { "shard-size", 0, 0, G_OPTION_ARG_STRING, &shard_text,
      "Largest safetensors shard (default 10GB as ModelOpt; 0 = one file)", "SIZE" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default: all cores)", "N" },
    { NULL }
  };
  if (!cli_parse_options ("quantize", summary, entries, &argc, &argv))
    return 2;
  g_autoptr (GError) error = NULL;
  if (in_dir == NULL || out_dir == NULL) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--in DIR and --out DIR are required");
    return cli_fail ("quantize", error);
  }
  guint64 shard = 10000000000ull;
  if (shard_text != NULL && !cli_parse_size (shard_text, &shard, &error))
    return cli_fail ("quantize", error);

  CliProgress progress = { "quantize", -1 };
  GlimQuantizeOptions opts = {
    .in_dir = in_dir,
    .out_dir = out_dir,
    .keep_wide = (const char *const *) keep_wide,
    .shard_max_bytes = shard,
    .n_threads = threads,
    .progress = cli_progress,
    .progress_data = &progress,
  };
  gint64 t0 = g_get_monotonic_time ();
  if (!glim_quantize (&opts, &error))
    return cli_fail ("quantize", error);
  printf ("quantized %s -> %s in %.1f s\n", in_dir, out_dir,
          (g_get_monotonic_time () - t0) / 1e6);
  return 0;
}
