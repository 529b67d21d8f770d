/* glim-tokenizer-private.h: the tokenizer's internals, shared by glim-tokenizer*.c and the tests:
 * the loaded tables, the pre-tokenizer's character classes and matcher, lossy UTF-8.
 * SPDX-License-Identifier: MIT */
#pragma once

#include "glim-tokenizer.h"

G_BEGIN_DECLS

/* Ids are kept below this, so per-id tables stay small for a hostile file (GLM: 154,856). */
#define GLIM_TOKENIZER_MAX_ID (1 << 24)

/* The Split pre-tokenizer regex of GLM-4 tokenizers (tokenizer.json spells it with JSON escapes).
 * glim_tokenizer_piece_end() implements exactly this pattern under Oniguruma semantics. */
#define GLIM_TOKENIZER_GLM_REGEX                                                                   \
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"                        \
  "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* ---- character classes (glim-tokenizer-unicode.c, generated from HF tokenizers) ---- */

enum {
  GLIM_UCLASS_OTHER,   /* none of the below */
  GLIM_UCLASS_LETTER,  /* \p{L} */
  GLIM_UCLASS_NUMBER,  /* \p{N} */
  GLIM_UCLASS_SPACE,   /* \s (includes \r, \n, U+0085) */
};

extern const guint8 glim_tokenizer_uclass_stage1[4352];
extern const guint8 glim_tokenizer_uclass_stage2[][64];

static inline int
glim_tokenizer_uclass (gunichar c)
{
  if (c >= 0x110000)
    return GLIM_UCLASS_OTHER;
  const guint8 *block = glim_tokenizer_uclass_stage2[glim_tokenizer_uclass_stage1[c >> 8]];
  return (block[(c & 0xff) >> 2] >> ((c & 3) * 2)) & 3;
}

/* ---- byte-level alphabet (GPT-2 bytes_to_unicode) ---- */

/* The code point that stands for byte b in vocabulary strings. */
static inline gunichar
glim_tokenizer_byte_to_cp (guint8 b)
{
  if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae)
    return b;
  if (b <= 0x20)
    return 0x100 + b;
  if (b <= 0xa0)
    return 0x100 + 33 + (b - 0x7f);
  return 0x100 + 67;   /* 0xad */
}

/* The byte a vocabulary code point stands for, or -1 when c is outside the alphabet. */
static inline int
glim_tokenizer_cp_to_byte (gunichar c)
{
  if ((c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff))
    return (int) c;
  if (c < 0x100 || c > 0x143)
    return -1;
  guint n = c - 0x100;
  if (n < 33)
    return (int) n;
  if (n < 67)
    return (int) (0x7f + n - 33);
  return 0xad;
}

/* ---- tables ---- */

/* Open-addressing map from byte strings to ids; keys live in `keys`. */
typedef struct {
  guint32 hash;
  int32_t id;       /* -1: empty slot */
  guint32 off;
  guint32 len;
} GlimStrSlot;

typedef struct {
  GlimStrSlot *slots;
  gsize        mask;      /* n_slots - 1 (a power of two) */
  GString     *keys;
} GlimStrTable;

/* Open-addressing map from a pair of ids to (rank, merged id). */
typedef struct {
  guint64 key;            /* (left << 32) | right; G_MAXUINT64: empty */
  guint32 rank;
  int32_t new_id;
} GlimMergeSlot;

enum {
  GLIM_TOKEN_PRESENT = 1 << 0,  /* the id has a token */
  GLIM_TOKEN_ADDED   = 1 << 1,  /* an added token (from "added_tokens") */
  GLIM_TOKEN_SPECIAL = 1 << 2,  /* an added token marked special */
  GLIM_TOKEN_SKIP    = 1 << 3,  /* its string is a special token's: dropped by skip_special */
};

typedef struct {
  guint32 off;            /* into GlimTokenizer.bytes */
  guint32 len;
  guint8  flags;
} GlimTokenEntry;

typedef struct {
  char   *content;
  gsize   len;
  int32_t id;
  guint   special    : 1;
  guint   normalized : 1;
} GlimAddedToken;

/* Added tokens of one matching pass, ordered by first byte then longest first. */
typedef struct {
  guint   *order;         /* indices into GlimTokenizer.added */
  guint    n;
  guint32  start[257];    /* order[start[b] .. start[b+1]) begin with byte b */
} GlimAddedIndex;

struct _GlimTokenizer {
  char           *path;
  int32_t         n_vocab;       /* one past the highest id */
  GlimTokenEntry *entries;       /* [n_vocab] */
  GString        *bytes;         /* the decoded bytes of every token */
  GlimStrTable    vocab;         /* model vocabulary: raw bytes -> id (what encode looks up) */
  GHashTable     *odd_vocab;     /* vocabulary strings outside the byte alphabet -> id */
  GHashTable     *added_by_text; /* added token content -> GlimAddedToken* */
  int32_t         byte_ids[256]; /* id of each single byte, -1 if the vocabulary lacks it */
  GlimMergeSlot  *merges;
  gsize           merges_mask;
  gboolean        ignore_merges;
  GlimAddedToken *added;
  guint           n_added;
  GlimAddedIndex  added_index[2];   /* [0] normalized=false (matched first), [1] normalized=true */
};

void     glim_str_table_init   (GlimStrTable *t, gsize n_max);
void     glim_str_table_clear  (GlimStrTable *t);
/* FALSE if the key is already present (the table keeps the first id). */
gboolean glim_str_table_insert (GlimStrTable *t, const char *key, gsize len, int32_t id);
int32_t  glim_str_table_lookup (const GlimStrTable *t, const char *key, gsize len);

static inline guint32
glim_str_hash (const char *s, gsize len)
{
  guint32 h = 2166136261u;   /* FNV-1a */
  for (gsize i = 0; i < len; i++)
    h = (h ^ (guint8) s[i]) * 16777619u;
  return h;
}

static inline gsize
glim_merge_hash (guint64 key)
{
  key *= 0x9e3779b97f4a7c15ull;
  return (gsize) (key >> 32);
}

static inline const GlimMergeSlot *
glim_tokenizer_merge_lookup (const GlimTokenizer *tok, int32_t left, int32_t right)
{
  guint64 key = ((guint64) (guint32) left << 32) | (guint32) right;
  for (gsize i = glim_merge_hash (key) & tok->merges_mask;; i = (i + 1) & tok->merges_mask) {
    const GlimMergeSlot *s = &tok->merges[i];
    if (s->key == key)
      return s;
    if (s->key == G_MAXUINT64)
      return NULL;
  }
}

/* ---- shared helpers ---- */

/* Byte length of the piece the GLM Split regex matches at s[i] (i < end), where s[0..end) is one
 * segment of valid UTF-8 between added tokens (`end` is the regex's end of subject). */
gsize glim_tokenizer_piece_end (const char *s, gsize i, gsize end);

/* Appends s[0..n) to out with every ill-formed sequence replaced by U+FFFD, one per maximal
 * subpart (the Unicode practice Python's errors="replace" and Rust's from_utf8_lossy follow).
 * Unless `final`, an incomplete sequence at the end is left unconsumed; returns the bytes used. */
gsize glim_tokenizer_utf8_lossy_append (GString *out, const char *s, gsize n, gboolean final);
/* Length of the longest valid UTF-8 prefix of s[0..n) (NUL bytes are valid). */
gsize glim_tokenizer_utf8_valid_prefix (const char *s, gsize n);

G_END_DECLS
