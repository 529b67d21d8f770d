/* cli-tokenize.c: `glimmer-cli tokenize`: text -> token ids (and back) with a tokenizer.json,
 * and an encoding speed benchmark.
 * SPDX-License-Identifier: MIT
 *
 *   tokenize --tokenizer FILE --text-file F   ids of F's bytes, comma-separated, then a newline
 *                                             (no BOS; empty text prints an empty line). Other
 *                                             tools depend on this exact output.
 *   tokenize --tokenizer FILE --decode --ids 1,2,3 [--skip-special]   the text, as it is
 *   tokenize --tokenizer FILE --batch --text-file F [--decode]   one job per line: each line is
 *            hex-encoded text (or comma-separated ids with --decode); prints one line per job
 *            (ids, or hex of the decoded text). For the differential tests.
 *   tokenize --tokenizer FILE --bench [--text-file F]   encode ~1 MB of mixed text, print MB/s */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void
print_ids (GArray *ids)
{
  g_autoptr (GString) line = g_string_new (NULL);
  for (guint i = 0; i < ids->len; i++)
    g_string_append_printf (line, i ? ",%d" : "%d", g_array_index (ids, int32_t, i));
  g_string_append_c (line, '\n');
  fwrite (line->str, 1, line->len, stdout);
}

static char *
hex_encode (const char *s, gsize n)
{
  static const char digits[] = "0123456789abcdef";
  char *out = g_malloc (2 * n + 1);
  for (gsize i = 0; i < n; i++) {
    out[2 * i] = digits[(guint8) s[i] >> 4];
    out[2 * i + 1] = digits[(guint8) s[i] & 15];
  }
  out[2 * n] = '\0';
  return out;
}

static GBytes *
hex_decode (const char *s, GError **error)
{
  gsize n = strlen (s);
  if (n % 2 != 0) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "odd-length hex line");
    return NULL;
  }
  g_autofree guint8 *out = g_malloc (n / 2 + 1);
  for (gsize i = 0; i < n / 2; i++) {
    int hi = g_ascii_xdigit_value (s[2 * i]), lo = g_ascii_xdigit_value (s[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "bad hex digit in \"%.20s\"",
                   s);
      return NULL;
    }
    out[i] = (guint8) (hi << 4 | lo);
  }
  return g_bytes_new_take (g_steal_pointer (&out), n / 2);
}

static int
run_batch (GlimTokenizer *tok, const char *data, gboolean decode, gboolean skip_special)
{
  g_auto (GStrv) lines = g_strsplit (data, "\n", -1);
  g_autoptr (GError) error = NULL;
  for (char **l = lines; *l != NULL; l++) {
    if (l[1] == NULL && **l == '\0')
      break;   /* the final newline */
    g_strchomp (*l);
    if (decode) {
      g_autoptr (GArray) ids = cli_parse_ids (*l, &error);
      if (ids == NULL)
        return cli_fail ("tokenize", error);
      g_autoptr (GString) text = g_string_new (NULL);
      glim_tokenizer_decode_append (tok, (const int32_t *) ids->data, ids->len, skip_special,
                                    text);
      g_autofree char *hex = hex_encode (text->str, text->len);
      printf ("%s\n", hex);
    } else {
      g_autoptr (GBytes) text = hex_decode (*l, &error);
      if (text == NULL)
        return cli_fail ("tokenize", error);
      gsize n;
      const char *p = g_bytes_get_data (text, &n);
      g_autoptr (GArray) ids = glim_tokenizer_encode (tok, n ? p : "", (gssize) n);
      print_ids (ids);
    }
  }
  return 0;
}

/* ~1 MB of mixed text: prose with contractions, code, CJK, Arabic, emoji, digits, white space. */
static GString *
bench_text (gsize target)
{
  static const char *const words[] = {
    "the", "model", "tokenizer", "is", "fast", "and", "exact", "we're", "it's", "don't",
    "attention", "experts", "Hello", "world", "GLM", "inference", "with", "of", "to", "a",
  };
  static const char *const chunks[] = {
    "int main (int argc, char **argv)\n{\n  return 0;\n}\n",
    "    for i in range(10):\n        print(i, i * i)\n",
    "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}\n",
    "我们今天去北京，天气很好。", "これは日本語のテキストです。", "مرحبا بالعالم! ",
    "שלום עולם ", "👨‍👩‍👧‍👦 🇫🇷 👍🏽 ", "1234567890 3.14159 ", "\r\n\t\t", "    \n\n",
    "<think>plan</think>", "<tool_call>f<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>",
  };
  g_autoptr (GRand) rng = g_rand_new_with_seed (42);
  GString *s = g_string_sized_new (target + 256);
  while (s->len < target) {
    if (g_rand_int_range (rng, 0, 4) == 0) {
      g_string_append (s, chunks[g_rand_int_range (rng, 0, G_N_ELEMENTS (chunks))]);
    } else {
      int n = g_rand_int_range (rng, 3, 16);
      for (int i = 0; i < n; i++) {
        g_string_append (s, words[g_rand_int_range (rng, 0, G_N_ELEMENTS (words))]);
        g_string_append_c (s, i + 1 < n ? ' ' : '.');
      }
      g_string_append_c (s, ' ');
    }
  }
  return s;
}

static int
run_bench (GlimTokenizer *tok, const char *data, gsize len)
{
  g_autoptr (GString) generated = NULL;
  if (data == NULL) {
    generated = bench_text (1 << 20);
    data = generated->str;
    len = generated->len;
  }
  double best = G_MAXDOUBLE;
  guint n_tokens = 0;
  gint64 start = g_get_monotonic_time ();
  for (int run = 0; run < 20 && (run < 3 || g_get_monotonic_time () - start < 3000000); run++) {
    gint64 t0 = g_get_monotonic_time ();
    g_autoptr (GArray) ids = glim_tokenizer_encode (tok, data, (gssize) len);
    double dt = (double) (g_get_monotonic_time () - t0) / 1e6;
    best = MIN (best, dt);
    n_tokens = ids->len;
  }
  printf ("encoded %" G_GSIZE_FORMAT " bytes into %u tokens: %.1f MB/s (best run, 1 MB = 10^6 "
          "bytes)\n", len, n_tokens, (double) len / 1e6 / MAX (best, 1e-9));
  return 0;
}

int
cli_tokenize (int argc, char **argv)
{
  g_autofree char *tokenizer_path = NULL, *text_file = NULL, *text_arg = NULL, *ids_arg = NULL;
  gboolean decode = FALSE, skip_special = FALSE, batch = FALSE, bench = FALSE;
  GOptionEntry entries[] = {
    { "tokenizer", 't', 0, G_OPTION_ARG_FILENAME, &tokenizer_path, "tokenizer.json", "FILE" },
    { "text-file", 'f', 0, G_OPTION_ARG_FILENAME, &text_file, "Text to encode (its raw bytes)",
      "F" },
    { "text", 0, 0, G_OPTION_ARG_STRING, &text_arg, "Text to encode", "TEXT" },
    { "decode", 'd', 0, G_OPTION_ARG_NONE, &decode, "Decode ids instead", NULL },
    { "ids", 0, 0, G_OPTION_ARG_STRING, &ids_arg, "Ids to decode (1,2,3)", "IDS" },
    { "skip-special", 0, 0, G_OPTION_ARG_NONE, &skip_special, "Drop special tokens when decoding",
      NULL },
    { "batch", 0, 0, G_OPTION_ARG_NONE, &batch, "One hex-encoded job per line of --text-file",
      NULL },
    { "bench", 0, 0, G_OPTION_ARG_NONE, &bench, "Measure encoding speed (MB/s)", NULL },
    { NULL }
  };
  if (!cli_parse_options ("tokenize", "Encode text into token ids, or decode ids.", entries,
                          &argc, &argv))
    return 2;
  g_autoptr (GError) error = NULL;
  if (tokenizer_path == NULL) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--tokenizer FILE is required");
    return cli_fail ("tokenize", error);
  }
  g_autoptr (GlimTokenizer) tok = glim_tokenizer_load (tokenizer_path, &error);
  if (tok == NULL)
    return cli_fail ("tokenize", error);

  g_autofree char *data = NULL;
  gsize len = 0;
  if (text_file != NULL) {
    if (!g_file_get_contents (text_file, &data, &len, &error))
      return cli_fail ("tokenize", error);
  } else if (text_arg != NULL) {
    data = g_strdup (text_arg);
    len = strlen (data);
  }
  if (bench)
    return run_bench (tok, data, len);
  if (batch) {
    if (data == NULL) {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--batch needs --text-file");
      return cli_fail ("tokenize", error);
    }
    return run_batch (tok, data, decode, skip_special);
  }
  if (decode) {
    g_autoptr (GArray) ids = cli_parse_ids (ids_arg ? ids_arg : data, &error);
    if (ids == NULL)
      return cli_fail ("tokenize", error);
    g_autoptr (GString) text = g_string_new (NULL);
    glim_tokenizer_decode_append (tok, (const int32_t *) ids->data, ids->len, skip_special, text);
    fwrite (text->str, 1, text->len, stdout);
    return 0;
  }
  if (data == NULL) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "give the text with --text-file F or --text TEXT");
    return cli_fail ("tokenize", error);
  }
  g_autoptr (GArray) ids = glim_tokenizer_encode (tok, data, (gssize) len);
  print_ids (ids);
  return 0;
}
