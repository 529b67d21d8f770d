/* glim-tokenizer-decode.c: token ids -> text, as HF tokenizers' decode(ids, skip_special_tokens)
 * with the ByteLevel decoder, and an incremental decoder for streaming.
 * SPDX-License-Identifier: MIT
 * HF semantics: ids without a token are dropped; each token's byte-level string is mapped back to
 * bytes (a token with characters outside the alphabet contributes its UTF-8 as it is); the bytes
 * of all tokens are joined and ill-formed UTF-8 becomes U+FFFD (String::from_utf8_lossy). */
#define G_LOG_DOMAIN "glimmer-tokenizer"

#include "glim-tokenizer-private.h"

#include <string.h>

static inline const GlimTokenEntry *
entry_for (const GlimTokenizer *tok, int32_t id, gboolean skip_special)
{
  if (id < 0 || id >= tok->n_vocab)
    return NULL;
  const GlimTokenEntry *e = &tok->entries[id];
  if (!(e->flags & GLIM_TOKEN_PRESENT) || (skip_special && (e->flags & GLIM_TOKEN_SKIP)))
    return NULL;
  return e;
}

void
glim_tokenizer_decode_append (GlimTokenizer *tok, const int32_t *ids, gsize n_ids,
                              gboolean skip_special, GString *out)
{
  g_return_if_fail (tok != NULL && (ids != NULL || n_ids == 0) && out != NULL);
  g_autoptr (GString) raw = g_string_new (NULL);
  for (gsize i = 0; i < n_ids; i++) {
    const GlimTokenEntry *e = entry_for (tok, ids[i], skip_special);
    if (e != NULL)
      g_string_append_len (raw, tok->bytes->str + e->off, e->len);
  }
  glim_tokenizer_utf8_lossy_append (out, raw->str, raw->len, TRUE);
}

char *
glim_tokenizer_decode (GlimTokenizer *tok, const int32_t *ids, gsize n_ids,
                       gboolean skip_special)
{
  g_return_val_if_fail (tok != NULL && (ids != NULL || n_ids == 0), NULL);
  GString *out = g_string_new (NULL);
  glim_tokenizer_decode_append (tok, ids, n_ids, skip_special, out);
  return g_string_free (out, FALSE);
}

/* ---- incremental decoder ---- */

struct _GlimDecoder {
  GlimTokenizer *tok;
  gboolean       skip_special;
  GString       *pending;   /* bytes of an incomplete UTF-8 sequence (at most 3) */
};

GlimDecoder *
glim_decoder_new_full (GlimTokenizer *tok, gboolean skip_special)
{
  g_return_val_if_fail (tok != NULL, NULL);
  GlimDecoder *dec = g_new0 (GlimDecoder, 1);
  dec->tok = tok;
  dec->skip_special = skip_special;
  dec->pending = g_string_new (NULL);
  return dec;
}

GlimDecoder *
glim_decoder_new (GlimTokenizer *tok)
{
  return glim_decoder_new_full (tok, FALSE);
}

void
glim_decoder_free (GlimDecoder *dec)
{
  if (dec == NULL)
    return;
  g_string_free (dec->pending, TRUE);
  g_free (dec);
}

/* Maximal-subpart replacement only looks at bytes up to where a sequence fails, so emitting
 * everything but a trailing incomplete sequence gives exactly what decode() gives for the
 * whole list. */
void
glim_decoder_push (GlimDecoder *dec, int32_t id, GString *out)
{
  g_return_if_fail (dec != NULL && out != NULL);
  const GlimTokenEntry *e = entry_for (dec->tok, id, dec->skip_special);
  if (e == NULL)
    return;
  const char *bytes = dec->tok->bytes->str + e->off;
  gsize len = e->len;
  if (dec->pending->len == 0) {
    gsize used = glim_tokenizer_utf8_lossy_append (out, bytes, len, FALSE);
    g_string_append_len (dec->pending, bytes + used, (gssize) (len - used));
    return;
  }
  g_string_append_len (dec->pending, bytes, (gssize) len);
  gsize used = glim_tokenizer_utf8_lossy_append (out, dec->pending->str, dec->pending->len, FALSE);
  g_string_erase (dec->pending, 0, (gssize) used);
}

void
glim_decoder_flush (GlimDecoder *dec, GString *out)
{
  g_return_if_fail (dec != NULL && out != NULL);
  glim_tokenizer_utf8_lossy_append (out, dec->pending->str, dec->pending->len, TRUE);
  g_string_truncate (dec->pending, 0);
}
