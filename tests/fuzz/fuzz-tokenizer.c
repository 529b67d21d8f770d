/* fuzz-tokenizer.c: libFuzzer target for the tokenizer: encode arbitrary bytes (invalid UTF-8
 * included), decode arbitrary id lists (out-of-range and negative ids included), stream-decode,
 * and load arbitrary tokenizer.json contents.
 * SPDX-License-Identifier: MIT
 *
 * The first input byte picks what to do with the rest:
 *   0: encode with glm-mini-pairs.json, then check decode(encode(x)) == x made valid UTF-8
 *   1: read int32 ids (little-endian) and decode them, with and without skip_special; the text
 *      must be valid UTF-8 and the incremental decoder must give the same text
 *   2: load the rest as a tokenizer.json; if it loads, encode and decode with it
 *   3: encode with variant.json (second added-token pass, a byte missing, ignore_merges off)
 * Any broken invariant aborts, so libFuzzer (and tests/fuzz/fuzz-main.c) report it.
 * Fixtures come from $G_TEST_SRCDIR/data/tokenizer (else the source tree's tests/data). */
#define G_LOG_DOMAIN "glimmer-fuzz"

#include "glim-tokenizer-private.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Loaded once per process: the one piece of process state a libFuzzer target keeps. */
typedef struct {
  GlimTokenizer *glm;
  GlimTokenizer *variant;
} FuzzState;

static FuzzState fuzz_state;

static GlimTokenizer *
load_fixture (const char *name)
{
  const char *src = g_getenv ("G_TEST_SRCDIR");
  g_autofree char *path = src ? g_build_filename (src, "data", "tokenizer", name, NULL)
                              : g_build_filename (GLIMMER_TEST_DATA, "tokenizer", name, NULL);
  g_autoptr (GError) error = NULL;
  GlimTokenizer *tok = glim_tokenizer_load (path, &error);
  if (tok == NULL)
    g_error ("fuzz-tokenizer: %s", error->message);
  return tok;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_state.glm = load_fixture ("glm-mini-pairs.json");
  fuzz_state.variant = load_fixture ("variant.json");
  return 0;
}

static void
check (gboolean ok, const char *what)
{
  if (!ok) {
    g_printerr ("fuzz-tokenizer: invariant broken: %s\n", what);
    abort ();
  }
}

static void
check_decoded (GlimTokenizer *tok, const int32_t *ids, gsize n, gboolean skip, GString *text)
{
  g_string_truncate (text, 0);
  glim_tokenizer_decode_append (tok, ids, n, skip, text);
  check (glim_tokenizer_utf8_valid_prefix (text->str, text->len) == text->len,
         "decode gives valid UTF-8");
  g_autoptr (GlimDecoder) dec = glim_decoder_new_full (tok, skip);
  g_autoptr (GString) streamed = g_string_new (NULL);
  for (gsize i = 0; i < n; i++)
    glim_decoder_push (dec, ids[i], streamed);
  glim_decoder_flush (dec, streamed);
  check (streamed->len == text->len && memcmp (streamed->str, text->str, text->len) == 0,
         "incremental decoder equals decode");
}

/* decode(encode(x)) is x made valid, less the bytes the vocabulary lacks (variant: 0x01). */
static void
fuzz_encode (GlimTokenizer *tok, const char *text, gsize len, gboolean drops_01)
{
  g_autoptr (GArray) ids = glim_tokenizer_encode (tok, text, (gssize) len);
  for (guint i = 0; i < ids->len; i++) {
    int32_t id = g_array_index (ids, int32_t, i);
    check (id >= 0 && id < glim_tokenizer_n_vocab (tok), "encode gives ids in range");
  }
  g_autoptr (GString) want = g_string_new (NULL);
  glim_tokenizer_utf8_lossy_append (want, text, len, TRUE);
  if (drops_01) {
    gsize k = 0;
    for (gsize i = 0; i < want->len; i++)
      if (want->str[i] != '\x01')
        want->str[k++] = want->str[i];
    g_string_truncate (want, k);
  }
  g_autoptr (GString) back = g_string_new (NULL);
  check_decoded (tok, (const int32_t *) ids->data, ids->len, FALSE, back);
  check (back->len == want->len && memcmp (back->str, want->str, want->len) == 0,
         "decode (encode (x)) == x");
}

static void
fuzz_decode (GlimTokenizer *tok, const uint8_t *data, size_t size)
{
  gsize n = size / 4;
  g_autofree int32_t *ids = g_new (int32_t, n + 1);
  for (gsize i = 0; i < n; i++) {
    guint32 v = (guint32) data[4 * i] | (guint32) data[4 * i + 1] << 8 |
                (guint32) data[4 * i + 2] << 16 | (guint32) data[4 * i + 3] << 24;
    /* mostly small ids, so that real tokens dominate; the top bit keeps wild ones */
    guint32 range = (guint32) glim_tokenizer_n_vocab (tok) + 8;
    ids[i] = (v & 0x80000000u) ? (int32_t) v : (int32_t) (v % range);
  }
  g_autoptr (GString) text = g_string_new (NULL);
  check_decoded (tok, ids, n, FALSE, text);
  check_decoded (tok, ids, n, TRUE, text);
}

static void
fuzz_load (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GlimTokenizer) tok = glim_tokenizer_load_from_data ((const char *) data, size,
                                                                 "fuzz.json", &error);
  if (tok == NULL) {
    check (error != NULL && strstr (error->message, "fuzz.json") != NULL,
           "a load error names the file");
    return;
  }
  g_autoptr (GArray) ids = glim_tokenizer_encode (tok, (const char *) data, (gssize) size);
  int n = glim_tokenizer_n_vocab (tok);
  g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (int32_t));
  for (int32_t id = -2; id < n + 2 && id < 4096; id++)
    g_array_append_val (all, id);
  g_autoptr (GString) text = g_string_new (NULL);
  check_decoded (tok, (const int32_t *) all->data, all->len, FALSE, text);
  check_decoded (tok, (const int32_t *) ids->data, ids->len, TRUE, text);
  glim_tokenizer_lookup (tok, "<think>");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (fuzz_state.glm == NULL)
    LLVMFuzzerInitialize (NULL, NULL);
  if (size == 0)
    return 0;
  const char *rest = (const char *) data + 1;
  switch (data[0] & 3) {
  case 0:
    fuzz_encode (fuzz_state.glm, rest, size - 1, FALSE);
    break;
  case 1:
    fuzz_decode (fuzz_state.glm, data + 1, size - 1);
    break;
  case 2:
    fuzz_load (data + 1, size - 1);
    break;
  default:
    fuzz_encode (fuzz_state.variant, rest, size - 1, TRUE);
    break;
  }
  return 0;
}
