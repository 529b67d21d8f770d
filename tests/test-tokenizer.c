/* test-tokenizer.c: the HF-compatible tokenizer against reference encodings made by HF tokenizers
 * (tests/data/tokenizer/, tools/reference/make_tokenizer_fixtures.py), the incremental decoder,
 * single-token queries, the regex matcher against GRegex, and load errors.
 * SPDX-License-Identifier: MIT */
#include "testutil.h"

#include "glim-tokenizer-private.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#define GLM_BASE_PAIRS 4000   /* base vocabulary of glm-mini-pairs.json */

static const char *const fixture_names[] = { "glm-mini-pairs", "glm-mini-strings", "variant" };

/* ---- helpers ---- */

static GBytes *
hex_bytes (const char *hex)
{
  gsize n = strlen (hex) / 2;
  guint8 *out = g_malloc (n + 1);
  for (gsize i = 0; i < n; i++)
    out[i] = (guint8) (g_ascii_xdigit_value (hex[2 * i]) << 4 |
                       g_ascii_xdigit_value (hex[2 * i + 1]));
  out[n] = 0;
  return g_bytes_new_take (out, n);
}

static GArray *
json_ids (JsonArray *arr)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (int32_t));
  for (guint i = 0; i < json_array_get_length (arr); i++) {
    int32_t id = (int32_t) json_array_get_int_element (arr, i);
    g_array_append_val (ids, id);
  }
  return ids;
}

/* The fixture file's section for one tokenizer. */
static JsonObject *
fixture_section (JsonParser *parser, const char *name)
{
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  JsonObject *toks = json_object_get_object_member (root, "tokenizers");
  g_assert_nonnull (toks);
  JsonObject *sec = json_object_get_object_member (toks, name);
  g_assert_nonnull (sec);
  return sec;
}

static JsonParser *
load_fixtures (void)
{
  g_autofree char *path = test_data_path ("tokenizer", "encodings.json", NULL);
  JsonParser *parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return parser;
}

static GlimTokenizer *
load_tokenizer (const char *name)
{
  g_autofree char *file = g_strconcat (name, ".json", NULL);
  g_autofree char *path = test_data_path ("tokenizer", file, NULL);
  g_autoptr (GError) error = NULL;
  GlimTokenizer *tok = glim_tokenizer_load (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (tok);
  return tok;
}

static void
assert_ids_equal (GArray *got, GArray *want, const char *what)
{
  if (got->len == want->len &&
      (got->len == 0 || memcmp (got->data, want->data, got->len * sizeof (int32_t)) == 0))
    return;
  g_autoptr (GString) msg = g_string_new (NULL);
  g_string_append_printf (msg, "%s: got %u ids, want %u; first difference at ", what, got->len,
                          want->len);
  guint i = 0;
  while (i < got->len && i < want->len &&
         g_array_index (got, int32_t, i) == g_array_index (want, int32_t, i))
    i++;
  g_string_append_printf (msg, "%u", i);
  g_test_message ("%s", msg->str);
  g_test_fail ();
}

/* ---- fixtures from HF tokenizers ---- */

static void
test_fixture_encodings (void)
{
  g_autoptr (JsonParser) parser = load_fixtures ();
  guint n_checked = 0;
  for (gsize f = 0; f < G_N_ELEMENTS (fixture_names); f++) {
    g_autoptr (GlimTokenizer) tok = load_tokenizer (fixture_names[f]);
    JsonObject *sec = fixture_section (parser, fixture_names[f]);
    g_assert_cmpint (glim_tokenizer_n_vocab (tok), ==, json_object_get_int_member (sec, "n_vocab"));
    JsonArray *cases = json_object_get_array_member (sec, "encode");
    for (guint i = 0; i < json_array_get_length (cases); i++) {
      JsonObject *c = json_array_get_object_element (cases, i);
      g_autoptr (GBytes) text = hex_bytes (json_object_get_string_member (c, "hex"));
      g_autoptr (GArray) want = json_ids (json_object_get_array_member (c, "ids"));
      gsize len;
      const char *data = g_bytes_get_data (text, &len);
      g_autoptr (GArray) got = glim_tokenizer_encode (tok, data, (gssize) len);
      g_autofree char *what = g_strdup_printf ("%s: encode \"%s\"", fixture_names[f],
                                               json_object_get_string_member (c, "name"));
      assert_ids_equal (got, want, what);
      n_checked++;
    }
  }
  g_assert_cmpuint (n_checked, >, 700);
}

static void
test_fixture_decodes (void)
{
  g_autoptr (JsonParser) parser = load_fixtures ();
  for (gsize f = 0; f < G_N_ELEMENTS (fixture_names); f++) {
    g_autoptr (GlimTokenizer) tok = load_tokenizer (fixture_names[f]);
    JsonArray *cases = json_object_get_array_member (fixture_section (parser, fixture_names[f]),
                                                     "decode");
    g_assert_cmpuint (json_array_get_length (cases), >, 50);
    for (guint i = 0; i < json_array_get_length (cases); i++) {
      JsonObject *c = json_array_get_object_element (cases, i);
      g_autoptr (GArray) ids = json_ids (json_object_get_array_member (c, "ids"));
      gboolean skip = json_object_get_boolean_member (c, "skip_special");
      g_autoptr (GBytes) want = hex_bytes (json_object_get_string_member (c, "hex"));
      g_autoptr (GString) got = g_string_new (NULL);
      glim_tokenizer_decode_append (tok, (const int32_t *) ids->data, ids->len, skip, got);
      gsize want_len;
      const char *want_data = g_bytes_get_data (want, &want_len);
      g_assert_cmpmem (got->str, got->len, want_data, want_len);
      g_assert_cmpuint (glim_tokenizer_utf8_valid_prefix (got->str, got->len), ==, got->len);
    }
  }
}

/* decode(encode(text)) gives the text back (byte-level BPE is lossless without a normalizer). */
static void
test_round_trip (void)
{
  g_autoptr (JsonParser) parser = load_fixtures ();
  g_autoptr (GlimTokenizer) tok = load_tokenizer ("glm-mini-pairs");
  JsonArray *cases = json_object_get_array_member (fixture_section (parser, "glm-mini-pairs"),
                                                   "encode");
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    if (json_object_has_member (c, "lossy"))
      continue;
    g_autoptr (GBytes) text = hex_bytes (json_object_get_string_member (c, "hex"));
    gsize len;
    const char *data = g_bytes_get_data (text, &len);
    g_autoptr (GArray) ids = glim_tokenizer_encode (tok, data, (gssize) len);
    g_autoptr (GString) back = g_string_new (NULL);
    glim_tokenizer_decode_append (tok, (const int32_t *) ids->data, ids->len, FALSE, back);
    g_assert_cmpmem (back->str, back->len, data, len);
  }
}

/* NUL-terminated input (len -1) equals explicit length; explicit length keeps inner NULs. */
static void
test_lengths (void)
{
  g_autoptr (GlimTokenizer) tok = load_tokenizer ("glm-mini-pairs");
  g_autoptr (GArray) a = glim_tokenizer_encode (tok, "Hello <think>", -1);
  g_autoptr (GArray) b = glim_tokenizer_encode (tok, "Hello <think>xyz", 13);
  assert_ids_equal (a, b, "len -1 vs 13");
  g_assert_cmpint (g_array_index (a, int32_t, a->len - 1), ==, GLM_BASE_PAIRS + 21);
  g_autoptr (GArray) nul = glim_tokenizer_encode (tok, "a\0b", 3);
  g_assert_cmpuint (nul->len, >=, 2);
  g_autofree char *text = glim_tokenizer_decode (tok, (const int32_t *) nul->data, nul->len, FALSE);
  g_assert_cmpmem (text, 3, "a\0b", 3);
  g_autoptr (GArray) empty = glim_tokenizer_encode (tok, "", 0);
  g_assert_cmpuint (empty->len, ==, 0);
  g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (int32_t));
  glim_tokenizer_encode_append (tok, "<|user|>", -1, out);
  glim_tokenizer_encode_append (tok, "<|user|>", -1, out);
  g_assert_cmpuint (out->len, ==, 2);
  g_assert_cmpint (g_array_index (out, int32_t, 1), ==, GLM_BASE_PAIRS + 7);
}

/* ---- lossy UTF-8 (Python's errors="replace" / Rust's from_utf8_lossy) ---- */

static void
test_utf8_lossy (void)
{
  static const struct {
    const char *in;
    gsize       len;
    const char *out;   /* as Python's bytes.decode("utf-8", "replace") */
  } cases[] = {
    { "\xe2\x82", 2, "\xef\xbf\xbd" },                                  /* truncated: one */
    { "\xe2\x82x", 3, "\xef\xbf\xbdx" },
    { "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },      /* surrogate: three */
    { "\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd" },                      /* overlong */
    { "\xf0\x9f\x98", 3, "\xef\xbf\xbd" },
    { "\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    { "a\x80" "b", 3, "a\xef\xbf\xbd" "b" },
    { "\xf0\x9f\x98\x80\x80", 5, "\xf0\x9f\x98\x80\xef\xbf\xbd" },
    { "\0\xff", 2, "\0\xef\xbf\xbd" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GString) out = g_string_new (NULL);
    gsize used = glim_tokenizer_utf8_lossy_append (out, cases[i].in, cases[i].len, TRUE);
    g_assert_cmpuint (used, ==, cases[i].len);
    gsize want_len = cases[i].out[0] == '\0' ? 4 : strlen (cases[i].out);   /* the NUL case */
    g_assert_cmpmem (out->str, out->len, cases[i].out, want_len);
  }
  /* not final: an incomplete sequence at the end is held back, an invalid one is not */
  g_autoptr (GString) out = g_string_new (NULL);
  g_assert_cmpuint (glim_tokenizer_utf8_lossy_append (out, "ab\xf0\x9f\x98", 5, FALSE), ==, 2);
  g_assert_cmpstr (out->str, ==, "ab");
  g_assert_cmpuint (glim_tokenizer_utf8_lossy_append (out, "\xf0\x28", 2, FALSE), ==, 2);
  g_assert_cmpuint (glim_tokenizer_utf8_valid_prefix ("ok\xe2\x82\xac\xff", 6), ==, 5);
}

/* ---- incremental decoder ---- */

/* Pushes ids one at a time; every piece of output must be valid UTF-8 and all of it together
 * must equal decode(). */
static void
check_stream (GlimTokenizer *tok, const int32_t *ids, gsize n, gboolean skip)
{
  g_autoptr (GlimDecoder) dec = glim_decoder_new_full (tok, skip);
  g_autoptr (GString) all = g_string_new (NULL);
  for (gsize i = 0; i < n; i++) {
    gsize before = all->len;
    glim_decoder_push (dec, ids[i], all);
    g_assert_cmpuint (glim_tokenizer_utf8_valid_prefix (all->str + before, all->len - before), ==,
                      all->len - before);
  }
  glim_decoder_flush (dec, all);
  g_autoptr (GString) want = g_string_new (NULL);
  glim_tokenizer_decode_append (tok, ids, n, skip, want);
  g_assert_cmpmem (all->str, all->len, want->str, want->len);
}

/* Byte tokens: the id of the single-byte token for each byte of s. */
static GArray *
byte_token_ids (GlimTokenizer *tok, const char *s, gsize n)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (int32_t));
  for (gsize i = 0; i < n; i++) {
    char buf[8];
    buf[g_unichar_to_utf8 (glim_tokenizer_byte_to_cp ((guint8) s[i]), buf)] = '\0';
    int32_t id = glim_tokenizer_lookup (tok, buf);
    g_assert_cmpint (id, >=, 0);
    g_array_append_val (ids, id);
  }
  return ids;
}

static void
test_decoder_splits (void)
{
  g_autoptr (GlimTokenizer) tok = load_tokenizer ("glm-mini-pairs");
  /* 1-, 2-, 3- and 4-byte characters, then invalid and truncated sequences */
  const char text[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z\xff\xe2\x82\xed\xa0\x80\xf0\x9f";
  gsize n = sizeof text - 1;
  g_autoptr (GArray) ids = byte_token_ids (tok, text, n);
  check_stream (tok, (const int32_t *) ids->data, ids->len, FALSE);

  /* every split of the valid part into pushes: output after k bytes is exactly the complete
   * characters among them */
  const char valid[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "x\xd7\xa9\xe4\xb8\xad";
  gsize nv = sizeof valid - 1;
  g_autoptr (GArray) vids = byte_token_ids (tok, valid, nv);
  g_autoptr (GlimDecoder) dec = glim_decoder_new (tok);
  g_autoptr (GString) out = g_string_new (NULL);
  for (gsize k = 1; k <= nv; k++) {
    glim_decoder_push (dec, g_array_index (vids, int32_t, k - 1), out);
    gsize complete = glim_tokenizer_utf8_valid_prefix (valid, k);
    g_assert_cmpmem (out->str, out->len, valid, complete);
  }
  glim_decoder_flush (dec, out);
  g_assert_cmpmem (out->str, out->len, valid, nv);

  /* a truncated character at the end is flushed as one U+FFFD */
  g_autoptr (GlimDecoder) d2 = glim_decoder_new (tok);
  g_autoptr (GString) o2 = g_string_new (NULL);
  for (gsize k = 0; k < 3; k++)
    glim_decoder_push (d2, g_array_index (vids, int32_t, 5 + k), o2);   /* 3 of 😀's 4 bytes */
  g_assert_cmpuint (o2->len, ==, 0);
  glim_decoder_flush (d2, o2);
  g_assert_cmpstr (o2->str, ==, "\xef\xbf\xbd");
  /* after a flush the decoder starts afresh */
  glim_decoder_push (d2, g_array_index (vids, int32_t, 0), o2);
  glim_decoder_push (d2, g_array_index (vids, int32_t, 1), o2);
  g_assert_cmpstr (o2->str, ==, "\xef\xbf\xbd\xc3\xa9");
}

/* Every id list of the fixtures, streamed, with and without skip_special; plus random lists. */
static void
test_decoder_streams (void)
{
  g_autoptr (JsonParser) parser = load_fixtures ();
  for (gsize f = 0; f < G_N_ELEMENTS (fixture_names); f++) {
    g_autoptr (GlimTokenizer) tok = load_tokenizer (fixture_names[f]);
    JsonObject *sec = fixture_section (parser, fixture_names[f]);
    const char *kinds[] = { "encode", "decode" };
    for (gsize k = 0; k < 2; k++) {
      JsonArray *cases = json_object_get_array_member (sec, kinds[k]);
      for (guint i = 0; i < json_array_get_length (cases); i++) {
        JsonObject *c = json_array_get_object_element (cases, i);
        g_autoptr (GArray) ids = json_ids (json_object_get_array_member (c, "ids"));
        check_stream (tok, (const int32_t *) ids->data, ids->len, FALSE);
        check_stream (tok, (const int32_t *) ids->data, ids->len, TRUE);
      }
    }
    g_autoptr (GRand) rng = g_rand_new_with_seed (7 + f);
    int n_vocab = glim_tokenizer_n_vocab (tok);
    for (int t = 0; t < 300; t++) {
      int32_t ids[24];
      for (int i = 0; i < 24; i++)
        ids[i] = g_rand_int_range (rng, -3, n_vocab + 3);
      check_stream (tok, ids, 24, t & 1);
    }
  }
}

/* ---- single tokens ---- */

static void
test_token_queries (void)
{
  g_autoptr (GlimTokenizer) tok = load_tokenizer ("glm-mini-pairs");
  g_assert_cmpint (glim_tokenizer_n_vocab (tok), ==, GLM_BASE_PAIRS + 36);
  /* GLM's added tokens directly after the base vocabulary, in §2.4's order */
  g_assert_cmpint (glim_tokenizer_lookup (tok, "<|endoftext|>"), ==, GLM_BASE_PAIRS);
  g_assert_cmpint (glim_tokenizer_lookup (tok, "<|user|>"), ==, GLM_BASE_PAIRS + 7);
  g_assert_cmpint (glim_tokenizer_lookup (tok, "<think>"), ==, GLM_BASE_PAIRS + 21);
  g_assert_cmpint (glim_tokenizer_lookup (tok, "</tool_call>"), ==, GLM_BASE_PAIRS + 24);
  g_assert_cmpint (glim_tokenizer_lookup (tok, "<|video|>"), ==, GLM_BASE_PAIRS + 35);
  for (int i = 0; i < 36; i++)
    g_assert_cmpint (glim_tokenizer_is_special (tok, GLM_BASE_PAIRS + i), ==, i < 18);
  g_assert_false (glim_tokenizer_is_special (tok, 0));
  g_assert_false (glim_tokenizer_is_special (tok, -1));
  g_assert_false (glim_tokenizer_is_special (tok, GLM_BASE_PAIRS + 36));

  gsize len = 99;
  const char *b = glim_tokenizer_token_bytes (tok, GLM_BASE_PAIRS + 22, &len);
  g_assert_cmpmem (b, len, "</think>", 8);
  /* byte-level strings: "Ġ" is the space byte, "Ċ" newline, "ā" byte 0x01 */
  int32_t space = glim_tokenizer_lookup (tok, "\xc4\xa0");
  g_assert_cmpint (space, >=, 0);
  b = glim_tokenizer_token_bytes (tok, space, &len);
  g_assert_cmpmem (b, len, " ", 1);
  b = glim_tokenizer_token_bytes (tok, glim_tokenizer_lookup (tok, "\xc4\x8a"), &len);
  g_assert_cmpmem (b, len, "\n", 1);
  b = glim_tokenizer_token_bytes (tok, glim_tokenizer_lookup (tok, "\xc4\x81"), &len);
  g_assert_cmpmem (b, len, "\x01", 1);
  /* every byte has a token whose bytes are that byte */
  for (int byte = 0; byte < 256; byte++) {
    char buf[8];
    buf[g_unichar_to_utf8 (glim_tokenizer_byte_to_cp ((guint8) byte), buf)] = '\0';
    g_assert_cmpint (glim_tokenizer_cp_to_byte (glim_tokenizer_byte_to_cp ((guint8) byte)), ==,
                     byte);
    b = glim_tokenizer_token_bytes (tok, glim_tokenizer_lookup (tok, buf), &len);
    g_assert_cmpuint (len, ==, 1);
    g_assert_cmpint ((guint8) b[0], ==, byte);
  }
  /* a space is not a byte-level character: " " is no token */
  g_assert_cmpint (glim_tokenizer_lookup (tok, " "), ==, -1);
  g_assert_cmpint (glim_tokenizer_lookup (tok, "no-such-token-anywhere"), ==, -1);
  g_assert_cmpint (glim_tokenizer_lookup (tok, "\xff"), ==, -1);
  g_assert_null (glim_tokenizer_token_bytes (tok, -1, &len));
  g_assert_cmpuint (len, ==, 0);
  g_assert_null (glim_tokenizer_token_bytes (tok, GLM_BASE_PAIRS + 36, NULL));
  /* lookup and encode agree on a merged vocabulary entry */
  g_autoptr (GArray) ids = glim_tokenizer_encode (tok, " the", -1);
  g_assert_cmpuint (ids->len, ==, 1);
  g_assert_cmpint (g_array_index (ids, int32_t, 0), ==, glim_tokenizer_lookup (tok, "\xc4\xa0the"));
}

/* variant.json: a vocabulary string outside the byte alphabet decodes as its UTF-8; an added
 * token that is a vocabulary entry keeps the vocabulary's id; byte 0x01 has no token. */
static void
test_variant_queries (void)
{
  g_autoptr (GlimTokenizer) tok = load_tokenizer ("variant");
  int32_t euro = glim_tokenizer_lookup (tok, "\xe2\x82\xac" "uro");
  g_assert_cmpint (euro, ==, 1199);
  gsize len;
  const char *b = glim_tokenizer_token_bytes (tok, euro, &len);
  g_assert_cmpmem (b, len, "\xe2\x82\xac" "uro", 6);
  g_autofree char *text = glim_tokenizer_decode (tok, &euro, 1, FALSE);
  g_assert_cmpstr (text, ==, "\xe2\x82\xac" "uro");
  int32_t ent = glim_tokenizer_lookup (tok, "ent");
  g_assert_cmpint (ent, >=, 0);
  g_assert_cmpint (ent, <, 1199);
  g_assert_cmpint (glim_tokenizer_lookup (tok, "\xc4\x81"), ==, -1);   /* byte 0x01 */
  g_autoptr (GArray) ids = glim_tokenizer_encode (tok, "\x01\x01", -1);
  g_assert_cmpuint (ids->len, ==, 0);
  /* overlapping added tokens: the longest at the leftmost position wins */
  g_autoptr (GArray) xy = glim_tokenizer_encode (tok, "<x><y>", -1);
  g_assert_cmpuint (xy->len, ==, 1);
  g_assert_cmpint (g_array_index (xy, int32_t, 0), ==, glim_tokenizer_lookup (tok, "<x><y>"));
}

/* skip_special drops exactly the 18 special tokens; the tags stay. */
static void
test_skip_special (void)
{
  g_autoptr (GlimTokenizer) tok = load_tokenizer ("glm-mini-pairs");
  const char *text = "[gMASK]<sop><|user|>hi<|assistant|><think>x</think>y<|endoftext|>";
  g_autoptr (GArray) ids = glim_tokenizer_encode (tok, text, -1);
  g_autofree char *all = glim_tokenizer_decode (tok, (const int32_t *) ids->data, ids->len, FALSE);
  g_autofree char *some = glim_tokenizer_decode (tok, (const int32_t *) ids->data, ids->len, TRUE);
  g_assert_cmpstr (all, ==, text);
  g_assert_cmpstr (some, ==, "hi<think>x</think>y");
  int32_t bad[] = { -5, GLM_BASE_PAIRS + 36, 1 << 30 };
  g_autofree char *none = glim_tokenizer_decode (tok, bad, G_N_ELEMENTS (bad), FALSE);
  g_assert_cmpstr (none, ==, "");
}

/* ---- the regex matcher against GRegex (PCRE2) ---- */

/* Code points whose \p{L} \p{N} \s classes PCRE2 and our (Oniguruma) table agree on, so that the
 * comparison checks the matching logic (alternation order, backtracking, look-ahead). */
static GArray *
agreeing_pool (GRegex *re_l, GRegex *re_n, GRegex *re_s)
{
  static const gunichar seeds[] = {
    'a', 'Z', 'e', 's', 'S', 't', 'r', 'R', 'v', 'e', 'E', 'l', 'L', 'm', 'd', 'D', 0x17f, '\'',
    '0', '7', ' ', ' ', ' ', '\t', '\n', '\r', 0x0b, 0x0c, '!', '-', '<', '(', '"', '.', 0x85,
    0xa0, 0x3000, 0x2028, 0xe9, 0x301, 0x4e2d, 0x3042, 0x5d0, 0x627, 0x660, 0xff11, 0x2162,
    0xb2, 0x1f600, 0x200d, 0xfe0f, 0x1f1eb, 0x0, 0x1, 0x7f, 0x1c, 0x180e, 0x2060, 0xe000,
  };
  GArray *pool = g_array_new (FALSE, FALSE, sizeof (gunichar));
  for (gsize i = 0; i < G_N_ELEMENTS (seeds); i++) {
    char buf[8];
    buf[g_unichar_to_utf8 (seeds[i], buf)] = '\0';
    gsize len = strlen (buf) + (seeds[i] == 0);
    int k = glim_tokenizer_uclass (seeds[i]);
    gboolean l = g_regex_match_full (re_l, buf, (gssize) len, 0, 0, NULL, NULL);
    gboolean n = g_regex_match_full (re_n, buf, (gssize) len, 0, 0, NULL, NULL);
    gboolean s = g_regex_match_full (re_s, buf, (gssize) len, 0, 0, NULL, NULL);
    if (l == (k == GLIM_UCLASS_LETTER) && n == (k == GLIM_UCLASS_NUMBER) &&
        s == (k == GLIM_UCLASS_SPACE))
      g_array_append_val (pool, seeds[i]);
    else
      g_test_message ("U+%04X: PCRE2 and Oniguruma classes differ, left out", seeds[i]);
  }
  return pool;
}

static void
test_regex_vs_gregex (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GRegex) re = g_regex_new (GLIM_TOKENIZER_GLM_REGEX, G_REGEX_OPTIMIZE, 0, &error);
  g_assert_no_error (error);
  g_autoptr (GRegex) re_l = g_regex_new ("^\\p{L}$", 0, 0, &error);
  g_autoptr (GRegex) re_n = g_regex_new ("^\\p{N}$", 0, 0, &error);
  g_autoptr (GRegex) re_s = g_regex_new ("^\\s$", 0, 0, &error);
  g_autoptr (GArray) pool = agreeing_pool (re_l, re_n, re_s);
  g_assert_cmpuint (pool->len, >, 40);
  g_autoptr (GRand) rng = g_rand_new_with_seed (1234);
  g_autoptr (GString) s = g_string_new (NULL);
  guint n_pieces = 0;
  for (int t = 0; t < 4000; t++) {
    g_string_truncate (s, 0);
    int n = g_rand_int_range (rng, 1, 14);
    for (int i = 0; i < n; i++) {
      char buf[8];
      gunichar c = g_array_index (pool, gunichar, g_rand_int_range (rng, 0, pool->len));
      g_string_append_len (s, buf, g_unichar_to_utf8 (c, buf));
    }
    for (gsize i = 0; i < s->len;) {
      g_autoptr (GMatchInfo) mi = NULL;
      gboolean ok = g_regex_match_full (re, s->str, (gssize) s->len, (gint) i, 0, &mi, &error);
      g_assert_no_error (error);
      g_assert_true (ok);
      int start, end;
      g_match_info_fetch_pos (mi, 0, &start, &end);
      g_assert_cmpint (start, ==, (int) i);
      gsize ours = glim_tokenizer_piece_end (s->str, i, s->len);
      if (ours != (gsize) end) {
        g_autofree char *esc = g_strescape (s->str, NULL);
        g_test_message ("\"%s\" at %" G_GSIZE_FORMAT ": ours ends at %" G_GSIZE_FORMAT
                        ", PCRE2 at %d", esc, i, ours, end);
      }
      g_assert_cmpuint (ours, ==, (gsize) end);
      i = ours;
      n_pieces++;
    }
  }
  g_assert_cmpuint (n_pieces, >, 10000);
}

/* ---- load errors ---- */

/* A minimal GLM-style tokenizer.json; @KEY@ markers are replaced per test. */
static const char minimal_json[] =
  "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null,\n"
  " \"added_tokens\": [{\"id\": 3, \"content\": \"<think>\", \"single_word\": false, "
  "\"lstrip\": @LSTRIP@, \"rstrip\": false, \"normalized\": false, \"special\": false}],\n"
  " \"normalizer\": @NORMALIZER@,\n"
  " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [\n"
  "   {\"type\": \"Split\", \"pattern\": {\"Regex\": \"@REGEX@\"}, \"behavior\": \"Isolated\", "
  "\"invert\": false},\n"
  "   {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
  "\"use_regex\": false}]},\n"
  " \"post_processor\": null,\n"
  " \"decoder\": {\"type\": \"ByteLevel\"},\n"
  " \"model\": {\"type\": \"@MODEL@\", \"ignore_merges\": true, \"vocab\": @VOCAB@,\n"
  "   \"merges\": @MERGES@}}\n";

static char *
minimal_with (const char *key, const char *value)
{
  static const char *const defaults[][2] = {
    { "@LSTRIP@", "false" }, { "@NORMALIZER@", "null" }, { "@MODEL@", "BPE" },
    { "@VOCAB@", "{\"a\": 0, \"b\": 1, \"ab\": 2}" }, { "@MERGES@", "[[\"a\", \"b\"]]" },
    { "@REGEX@", NULL },
  };
  g_autofree char *regex_json = g_strescape (GLIM_TOKENIZER_GLM_REGEX, NULL);
  GString *s = g_string_new (minimal_json);
  for (gsize i = 0; i < G_N_ELEMENTS (defaults); i++) {
    const char *v = defaults[i][1] ? defaults[i][1] : regex_json;
    if (key != NULL && strcmp (key, defaults[i][0]) == 0)
      v = value;
    g_string_replace (s, defaults[i][0], v, 0);
  }
  return g_string_free (s, FALSE);
}

/* Loads `contents` from a temporary tokenizer.json; returns the error (never NULL). */
static GError *
load_error (const char *dir, const char *contents, char **path_out)
{
  g_autofree char *path = g_build_filename (dir, "tokenizer.json", NULL);
  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
  GError *error = NULL;
  g_autoptr (GlimTokenizer) tok = glim_tokenizer_load (path, &error);
  g_assert_null (tok);
  g_assert_nonnull (error);
  *path_out = g_steal_pointer (&path);
  return error;
}

static void
test_load_errors (void)
{
  g_autofree char *dir = test_make_tmpdir ();
  /* the minimal file itself loads and encodes */
  {
    g_autofree char *ok = minimal_with (NULL, NULL);
    g_autofree char *path = g_build_filename (dir, "ok.json", NULL);
    g_assert_true (g_file_set_contents (path, ok, -1, NULL));
    g_autoptr (GError) error = NULL;
    g_autoptr (GlimTokenizer) tok = glim_tokenizer_load (path, &error);
    g_assert_no_error (error);
    g_autoptr (GArray) ids = glim_tokenizer_encode (tok, "ab<think>ba", -1);
    int32_t want[] = { 2, 3, 1, 0 };
    g_assert_cmpmem (ids->data, ids->len * sizeof (int32_t), want, sizeof want);
  }
  static const struct {
    const char *key, *value;   /* key NULL: value is the whole file */
    int         code;
    const char *needle;        /* in the message besides the path */
  } cases[] = {
    { NULL, "{\"model\": ", GLIM_TOKENIZER_ERROR_CORRUPT, "invalid JSON" },
    { NULL, "", GLIM_TOKENIZER_ERROR_CORRUPT, "not a JSON object" },
    { NULL, "[1, 2]", GLIM_TOKENIZER_ERROR_CORRUPT, "not a JSON object" },
    { NULL, "{\"version\": \"1.0\"}", GLIM_TOKENIZER_ERROR_CORRUPT, "model" },
    { "@MODEL@", "WordPiece", GLIM_TOKENIZER_ERROR_UNSUPPORTED, "model.type \"WordPiece\"" },
    { "@NORMALIZER@", "{\"type\": \"NFC\"}", GLIM_TOKENIZER_ERROR_UNSUPPORTED, "normalizer" },
    { "@REGEX@", "\\\\s+", GLIM_TOKENIZER_ERROR_UNSUPPORTED, "pretokenizers[0].pattern" },
    { "@LSTRIP@", "true", GLIM_TOKENIZER_ERROR_UNSUPPORTED, "lstrip" },
    { "@LSTRIP@", "\"yes\"", GLIM_TOKENIZER_ERROR_CORRUPT, "added_tokens[0].lstrip" },
    { "@MERGES@", "[[\"a\", \"c\"]]", GLIM_TOKENIZER_ERROR_CORRUPT, "\"c\" is not in model.vocab" },
    { "@MERGES@", "[\"b a\"]", GLIM_TOKENIZER_ERROR_CORRUPT, "\"ba\" is not in model.vocab" },
    { "@MERGES@", "[\"a  b\"]", GLIM_TOKENIZER_ERROR_CORRUPT, "model.merges[0]" },
    { "@MERGES@", "[[\"a\", \"b\"], \"a b\"]", GLIM_TOKENIZER_ERROR_CORRUPT, "mixes" },
    { "@MERGES@", "{}", GLIM_TOKENIZER_ERROR_CORRUPT, "model.merges" },
    { "@VOCAB@", "{\"a\": \"0\"}", GLIM_TOKENIZER_ERROR_CORRUPT, "model.vocab[\"a\"]" },
    { "@VOCAB@", "{\"a\": -1}", GLIM_TOKENIZER_ERROR_CORRUPT, "out of range" },
    { "@VOCAB@", "{\"a\": 99999999}", GLIM_TOKENIZER_ERROR_CORRUPT, "out of range" },
    { "@VOCAB@", "{\"a\": 0, \"b\": 0, \"ab\": 2}", GLIM_TOKENIZER_ERROR_CORRUPT, "id 0" },
    { "@VOCAB@", "[]", GLIM_TOKENIZER_ERROR_CORRUPT, "model.vocab" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *contents = cases[i].key ? minimal_with (cases[i].key, cases[i].value)
                                             : g_strdup (cases[i].value);
    g_autofree char *path = NULL;
    g_autoptr (GError) error = load_error (dir, contents, &path);
    g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, error->message);
    g_assert_true (error->domain == GLIM_TOKENIZER_ERROR);
    g_assert_cmpint (error->code, ==, cases[i].code);
    g_assert_nonnull (strstr (error->message, path));
    g_assert_nonnull (strstr (error->message, cases[i].needle));
  }
  /* a file that does not exist */
  g_autofree char *missing = g_build_filename (dir, "nope.json", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_tokenizer_load (missing, &error));
  g_assert_error (error, GLIM_TOKENIZER_ERROR, GLIM_TOKENIZER_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  /* a folder */
  g_assert_null (glim_tokenizer_load (dir, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, dir));
  test_rmtree (dir);
}

/* ---- glimmer-cli tokenize ---- */

static void
test_cli (void)
{
  g_autofree char *tok_path = test_data_path ("tokenizer", "glm-mini-pairs.json", NULL);
  g_autofree char *dir = test_make_tmpdir ();
  g_autofree char *text = g_build_filename (dir, "text.txt", NULL);
  g_autoptr (GlimTokenizer) tok = load_tokenizer ("glm-mini-pairs");

  const char *inputs[] = { "", "Hello, world!\r\n\t<think>x</think>", "\n" };
  for (gsize i = 0; i < G_N_ELEMENTS (inputs); i++) {
    g_assert_true (g_file_set_contents (text, inputs[i], -1, NULL));
    const char *args[] = { "tokenize", "--tokenizer", tok_path, "--text-file", text, NULL };
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (test_run_cli (args, &out, &err), ==, 0);
    g_autoptr (GArray) ids = glim_tokenizer_encode (tok, inputs[i], -1);
    g_autoptr (GString) want = g_string_new (NULL);
    for (guint k = 0; k < ids->len; k++)
      g_string_append_printf (want, k ? ",%d" : "%d", g_array_index (ids, int32_t, k));
    g_string_append_c (want, '\n');
    g_assert_cmpstr (out, ==, want->str);
  }
  /* decode prints the text as it is */
  const char *dargs[] = { "tokenize", "--tokenizer", tok_path, "--decode", "--ids",
                          "4002,4007,4021", "--skip-special", NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (test_run_cli (dargs, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "<think>");
  /* a bad tokenizer fails with a message naming it */
  const char *bad[] = { "tokenize", "--tokenizer", text, "--text-file", text, NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (test_run_cli (bad, &out, &err), ==, 1);
  g_assert_nonnull (strstr (err, text));
  test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/tokenizer/fixture-encodings", test_fixture_encodings);
  g_test_add_func ("/glimmer/tokenizer/fixture-decodes", test_fixture_decodes);
  g_test_add_func ("/glimmer/tokenizer/round-trip", test_round_trip);
  g_test_add_func ("/glimmer/tokenizer/lengths", test_lengths);
  g_test_add_func ("/glimmer/tokenizer/utf8-lossy", test_utf8_lossy);
  g_test_add_func ("/glimmer/tokenizer/decoder-splits", test_decoder_splits);
  g_test_add_func ("/glimmer/tokenizer/decoder-streams", test_decoder_streams);
  g_test_add_func ("/glimmer/tokenizer/token-queries", test_token_queries);
  g_test_add_func ("/glimmer/tokenizer/variant-queries", test_variant_queries);
  g_test_add_func ("/glimmer/tokenizer/skip-special", test_skip_special);
  g_test_add_func ("/glimmer/tokenizer/regex-vs-gregex", test_regex_vs_gregex);
  g_test_add_func ("/glimmer/tokenizer/load-errors", test_load_errors);
  g_test_add_func ("/glimmer/tokenizer/cli", test_cli);
  return g_test_run ();
}
