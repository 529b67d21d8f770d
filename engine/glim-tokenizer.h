/* glim-tokenizer.h: the Hugging Face byte-level BPE tokenizer of GLM-4.7-Flash (tokenizer.json):
 * added tokens matched first, the Split pre-tokenizer regex, byte-level mapping, BPE merges.
 * Encodes and decodes exactly as HF tokenizers does; an incremental decoder never emits a broken
 * UTF-8 sequence across tokens.
 * SPDX-License-Identifier: MIT
 * Supported tokenizer.json: model BPE (merges as "a b" strings or ["a", "b"] pairs, ignore_merges
 * either way, no unk/dropout/byte_fallback), no normalizer, pre_tokenizer Sequence[Split(the GLM
 * regex, Isolated), ByteLevel(no prefix space, no regex)], decoder ByteLevel, post_processor
 * ByteLevel or null, added tokens with lstrip/rstrip/single_word false. Anything else is refused
 * with GLIM_TOKENIZER_ERROR_UNSUPPORTED naming the key.
 * A loaded tokenizer is read-only: encode/decode may run on several threads at once. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define GLIM_TOKENIZER_ERROR (glim_tokenizer_error_quark ())

typedef enum {
  GLIM_TOKENIZER_ERROR_NOT_FOUND,    /* the file does not exist */
  GLIM_TOKENIZER_ERROR_CORRUPT,      /* malformed JSON or inconsistent vocab/merges */
  GLIM_TOKENIZER_ERROR_UNSUPPORTED,  /* a model/pre-tokenizer/decoder kind we do not implement */
  GLIM_TOKENIZER_ERROR_IO,           /* the file exists but cannot be read */
} GlimTokenizerError;

GQuark glim_tokenizer_error_quark (void);

typedef struct _GlimTokenizer GlimTokenizer;

GlimTokenizer *glim_tokenizer_load     (const char *path, GError **error);
/* The same from tokenizer.json contents in memory; `name` stands for the file in messages. */
GlimTokenizer *glim_tokenizer_load_from_data (const char *data, gsize len, const char *name,
                                              GError **error);
void           glim_tokenizer_free     (GlimTokenizer *tok);
/* One past the highest id (base vocabulary and added tokens). */
int            glim_tokenizer_n_vocab  (GlimTokenizer *tok);
/* Token ids (int32_t) of `text` (len bytes, or -1 for NUL-terminated; NUL bytes within len are
 * text), no BOS; added tokens split out first (leftmost-longest), as HF's
 * encode(text, add_special_tokens=False). Invalid UTF-8 is first replaced by U+FFFD, one per
 * maximal subpart: the result is HF's encoding of Python's text.decode("utf-8", "replace"). */
GArray        *glim_tokenizer_encode   (GlimTokenizer *tok, const char *text, gssize len);
/* The same, appending to `out` (a GArray of int32_t). */
void           glim_tokenizer_encode_append (GlimTokenizer *tok, const char *text, gssize len,
                                             GArray *out);
/* The text of ids, as HF decode(ids, skip_special_tokens): ids without a token are dropped,
 * invalid UTF-8 becomes U+FFFD. Always valid UTF-8, NUL-terminated (may contain NUL bytes). */
char          *glim_tokenizer_decode   (GlimTokenizer *tok, const int32_t *ids, gsize n_ids,
                                        gboolean skip_special);
/* The same, appended to `out` (whose len then counts any NUL bytes of the text). */
void           glim_tokenizer_decode_append (GlimTokenizer *tok, const int32_t *ids, gsize n_ids,
                                             gboolean skip_special, GString *out);
/* The raw bytes a token stands for (byte-level mapping undone; added tokens: their content, mapped
 * the same way as HF's decoder does, which leaves GLM's tags as they are). decode() is the lossy
 * UTF-8 of these bytes joined. NULL for an id without a token. Not NUL-terminated: use *len. */
const char    *glim_tokenizer_token_bytes (GlimTokenizer *tok, int32_t id, gsize *len);
/* Id of a vocabulary entry or added token given its literal string ("<think>"), or -1. */
int32_t        glim_tokenizer_lookup   (GlimTokenizer *tok, const char *token);
/* TRUE for added tokens marked special in tokenizer.json. */
gboolean       glim_tokenizer_is_special (GlimTokenizer *tok, int32_t id);

/* Incremental detokeniser: push ids one at a time, get text whose UTF-8 is always complete. */
typedef struct _GlimDecoder GlimDecoder;

/* The decoder keeps a pointer to tok, which must outlive it. glim_decoder_new() keeps special
 * tokens (skip_special FALSE). */
GlimDecoder   *glim_decoder_new        (GlimTokenizer *tok);
GlimDecoder   *glim_decoder_new_full   (GlimTokenizer *tok, gboolean skip_special);
void           glim_decoder_free       (GlimDecoder *dec);
/* Appends to `out` the text that is complete after `id`; incomplete UTF-8 is held back. The text
 * of all pushes plus the flush equals glim_tokenizer_decode() of all the ids. */
void           glim_decoder_push       (GlimDecoder *dec, int32_t id, GString *out);
/* Appends what is held back, invalid sequences as U+FFFD, and resets. */
void           glim_decoder_flush      (GlimDecoder *dec, GString *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimTokenizer, glim_tokenizer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimDecoder, glim_decoder_free)

G_END_DECLS
