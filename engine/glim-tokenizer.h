/* glim-tokenizer.h: the Hugging Face byte-level BPE tokenizer of GLM-4.7-Flash (tokenizer.json):
 * added tokens matched first, the Split pre-tokenizer regex, byte-level mapping, BPE merges.
 * Encodes and decodes exactly as HF tokenizers does; an incremental decoder never emits a broken
 * UTF-8 sequence across tokens.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define GLIM_TOKENIZER_ERROR (glim_tokenizer_error_quark ())

typedef enum {
  GLIM_TOKENIZER_ERROR_NOT_FOUND,    /* the file does not exist */
  GLIM_TOKENIZER_ERROR_CORRUPT,      /* malformed JSON or inconsistent vocab/merges */
  GLIM_TOKENIZER_ERROR_UNSUPPORTED,  /* a model/pre-tokenizer/decoder kind we do not implement */
} GlimTokenizerError;

GQuark glim_tokenizer_error_quark (void);

typedef struct _GlimTokenizer GlimTokenizer;

GlimTokenizer *glim_tokenizer_load     (const char *path, GError **error);
void           glim_tokenizer_free     (GlimTokenizer *tok);
/* One past the highest id (base vocabulary and added tokens). */
int            glim_tokenizer_n_vocab  (GlimTokenizer *tok);
/* Token ids of `text` (len bytes, or -1 for NUL-terminated), no BOS; added tokens split out
 * first (leftmost-longest), as HF's encode(text, add_special_tokens=False). Invalid UTF-8 in
 * text is treated as HF treats a Python str built with errors="replace" is NOT guaranteed:
 * callers pass valid UTF-8. */
GArray        *glim_tokenizer_encode   (GlimTokenizer *tok, const char *text, gssize len);
/* The text of ids, as HF decode(ids, skip_special_tokens): invalid UTF-8 becomes U+FFFD. */
char          *glim_tokenizer_decode   (GlimTokenizer *tok, const int32_t *ids, gsize n_ids,
                                        gboolean skip_special);
/* The raw bytes a token stands for (byte-level mapping undone; added tokens: their content).
 * NULL for an id outside the vocabulary. Not NUL-terminated: use *len. */
const char    *glim_tokenizer_token_bytes (GlimTokenizer *tok, int32_t id, gsize *len);
/* Id of a vocabulary entry or added token given its literal string ("<think>"), or -1. */
int32_t        glim_tokenizer_lookup   (GlimTokenizer *tok, const char *token);
/* TRUE for added tokens marked special in tokenizer.json. */
gboolean       glim_tokenizer_is_special (GlimTokenizer *tok, int32_t id);

/* Incremental detokeniser: push ids one at a time, get text whose UTF-8 is always complete. */
typedef struct _GlimDecoder GlimDecoder;

GlimDecoder   *glim_decoder_new        (GlimTokenizer *tok);
void           glim_decoder_free       (GlimDecoder *dec);
/* Appends to `out` the text that is complete after `id`; incomplete UTF-8 is held back. */
void           glim_decoder_push       (GlimDecoder *dec, int32_t id, GString *out);
/* Appends what is held back, invalid sequences as U+FFFD, and resets. */
void           glim_decoder_flush      (GlimDecoder *dec, GString *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimTokenizer, glim_tokenizer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimDecoder, glim_decoder_free)

G_END_DECLS
