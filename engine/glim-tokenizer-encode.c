/* glim-tokenizer-encode.c: text -> token ids, as HF tokenizers' encode(text,
 * add_special_tokens=False) with the GLM-4.7-Flash pipeline:
 *   1. added tokens are cut out first, leftmost-longest (normalized=false ones, then
 *      normalized=true ones in what is left, as HF's two passes do);
 *   2. each remaining segment is split by the GLM Split regex (glim_tokenizer_piece_end, a
 *      hand-written matcher of that one pattern under Oniguruma's semantics);
 *   3. each piece is looked up whole (ignore_merges) or merged by BPE rank.
 * SPDX-License-Identifier: MIT
 * Thread-safe: the tokenizer is read-only after loading; all scratch space is per call. */
#define G_LOG_DOMAIN "glimmer-tokenizer"

#include "glim-tokenizer-private.h"

#include <string.h>

/* ---- UTF-8 ---- */

/* Length of the well-formed sequence at s[0..n), 0 if it is ill-formed or incomplete;
 * *maximal gets the length of its maximal subpart (the bytes one U+FFFD replaces). */
static inline gsize
utf8_sequence (const guchar *s, gsize n, gsize *maximal, gboolean *incomplete)
{
  guchar b = s[0];
  gsize need;
  guchar lo = 0x80, hi = 0xbf;
  *incomplete = FALSE;
  if (b < 0x80)
    return 1;
  if (b >= 0xc2 && b <= 0xdf) {
    need = 1;
  } else if (b >= 0xe0 && b <= 0xef) {
    need = 2;
    if (b == 0xe0)
      lo = 0xa0;
    else if (b == 0xed)
      hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    need = 3;
    if (b == 0xf0)
      lo = 0x90;
    else if (b == 0xf4)
      hi = 0x8f;
  } else {
    *maximal = 1;
    return 0;
  }
  gsize j = 1;
  for (; j <= need; j++) {
    if (j >= n) {
      *incomplete = TRUE;
      *maximal = j;
      return 0;
    }
    guchar c = s[j];
    if (c < lo || c > hi) {
      *maximal = j;
      return 0;
    }
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

gsize
glim_tokenizer_utf8_lossy_append (GString *out, const char *str, gsize n, gboolean final)
{
  const guchar *s = (const guchar *) str;
  gsize i = 0, run = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    gsize maximal = 0;
    gboolean incomplete;
    gsize len = utf8_sequence (s + i, n - i, &maximal, &incomplete);
    if (len > 0) {
      i += len;
      continue;
    }
    g_string_append_len (out, str + run, (gssize) (i - run));
    if (incomplete && !final)
      return i;
    g_string_append (out, "\357\277\275");
    i += maximal;
    run = i;
  }
  g_string_append_len (out, str + run, (gssize) (i - run));
  return i;
}

gsize
glim_tokenizer_utf8_valid_prefix (const char *str, gsize n)
{
  const guchar *s = (const guchar *) str;
  gsize i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    gsize maximal;
    gboolean incomplete;
    gsize len = utf8_sequence (s + i, n - i, &maximal, &incomplete);
    if (len == 0)
      return i;
    i += len;
  }
  return n;
}

/* The code point at s[i] of valid UTF-8, bounded by end; *next gets the following offset. */
static inline gunichar
next_cp (const guchar *s, gsize i, gsize end, gsize *next)
{
  guchar b = s[i];
  if (b < 0x80) {
    *next = i + 1;
    return b;
  }
  gsize n = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
  if (i + n > end) {   /* cannot happen for valid input; stay in bounds regardless */
    *next = end;
    return 0xfffd;
  }
  gunichar c = n == 2 ? b & 0x1f : n == 3 ? b & 0x0f : b & 0x07;
  for (gsize k = 1; k < n; k++)
    c = (c << 6) | (s[i + k] & 0x3f);
  *next = i + n;
  return c;
}

static inline int
class_at (const guchar *s, gsize i, gsize end, gsize *next, gunichar *cp)
{
  gunichar c = next_cp (s, i, end, next);
  if (cp != NULL)
    *cp = c;
  return glim_tokenizer_uclass (c);
}

/* Offset after the run of characters of class `cls` starting at i. */
static inline gsize
scan_class (const guchar *s, gsize i, gsize end, int cls)
{
  while (i < end) {
    gsize next;
    if (class_at (s, i, end, &next, NULL) != cls)
      break;
    i = next;
  }
  return i;
}

/* ---- pre-tokenizer ---- */

/* The GLM regex, alternative by alternative (the first that matches at i wins):
 *   A1 (?i:'s|'t|'re|'ve|'m|'ll|'d)   (s also matches U+017F under Oniguruma's case folding)
 *   A2 [^\r\n\p{L}\p{N}]?\p{L}+
 *   A3 \p{N}{1,3}
 *   A4  ?[^\s\p{L}\p{N}]+[\r\n]*
 *   A5 \s*[\r\n]+      -> up to the last \r or \n of the white-space run
 *   A6 \s+(?!\S)       -> the run, less its last character unless the run ends the segment
 *   A7 \s+             -> a lone white-space character before a non-space
 * Every character is L, N, \s or other, so some alternative always matches at i. */
gsize
glim_tokenizer_piece_end (const char *str, gsize i, gsize end)
{
  const guchar *s = (const guchar *) str;
  gsize n1, n2;
  gunichar c0, c1, c2;
  int k0 = class_at (s, i, end, &n1, &c0);

  if (c0 == '\'' && n1 < end) {                                             /* A1 */
    class_at (s, n1, end, &n2, &c1);
    switch (c1) {
    case 's': case 'S': case 0x17f: case 't': case 'T': case 'm': case 'M': case 'd': case 'D':
      return n2;
    case 'r': case 'R': case 'v': case 'V': case 'l': case 'L':
      if (n2 < end) {
        gsize n3;
        class_at (s, n2, end, &n3, &c2);
        gboolean l = c1 == 'l' || c1 == 'L';
        if (l ? (c2 == 'l' || c2 == 'L') : (c2 == 'e' || c2 == 'E'))
          return n3;
      }
      break;
    default:
      break;
    }
  }
  if (k0 == GLIM_UCLASS_LETTER)                                            /* A2 */
    return scan_class (s, n1, end, GLIM_UCLASS_LETTER);
  if (k0 != GLIM_UCLASS_NUMBER && c0 != '\r' && c0 != '\n' && n1 < end &&
      class_at (s, n1, end, &n2, NULL) == GLIM_UCLASS_LETTER)
    return scan_class (s, n2, end, GLIM_UCLASS_LETTER);
  if (k0 == GLIM_UCLASS_NUMBER) {                                          /* A3 */
    gsize j = n1;
    for (int k = 0; k < 2 && j < end && class_at (s, j, end, &n2, NULL) == GLIM_UCLASS_NUMBER; k++)
      j = n2;
    return j;
  }
  gsize j = 0;                                                             /* A4 */
  if (k0 == GLIM_UCLASS_OTHER)
    j = n1;
  else if (c0 == ' ' && n1 < end && class_at (s, n1, end, &n2, NULL) == GLIM_UCLASS_OTHER)
    j = n2;
  if (j != 0) {
    j = scan_class (s, j, end, GLIM_UCLASS_OTHER);
    while (j < end && (s[j] == '\r' || s[j] == '\n'))
      j++;
    return j;
  }
  /* k0 is white space: A5, A6, A7 over the run [i, j) */
  gsize last_start = i, after_newline = 0;
  j = i;
  while (j < end) {
    gunichar c;
    if (class_at (s, j, end, &n2, &c) != GLIM_UCLASS_SPACE)
      break;
    if (c == '\r' || c == '\n')
      after_newline = n2;
    last_start = j;
    j = n2;
  }
  if (after_newline != 0)
    return after_newline;
  if (j == end)
    return end;
  return last_start > i ? last_start : n1;
}

/* ---- BPE ---- */

typedef struct {
  int32_t id;
  int32_t prev, next;   /* -1: none */
  int32_t alive;
} Symbol;

typedef struct {
  guint32 rank;
  guint32 pos;
  int32_t new_id;
} Candidate;

typedef struct {
  const GlimTokenizer *tok;
  GArray              *out;
  Symbol              *sym;
  Candidate           *heap;
  gsize                cap;    /* of sym and heap (heap needs at most 2 per merge + n) */
  gsize                n_heap;
} Encoder;

static inline gboolean
cand_less (const Candidate *a, const Candidate *b)
{
  return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void
heap_push (Encoder *e, Candidate c)
{
  gsize i = e->n_heap++;
  while (i > 0) {
    gsize parent = (i - 1) / 2;
    if (!cand_less (&c, &e->heap[parent]))
      break;
    e->heap[i] = e->heap[parent];
    i = parent;
  }
  e->heap[i] = c;
}

static Candidate
heap_pop (Encoder *e)
{
  Candidate top = e->heap[0];
  Candidate last = e->heap[--e->n_heap];
  gsize i = 0, n = e->n_heap;
  for (;;) {
    gsize l = 2 * i + 1, r = l + 1, m = i;
    const Candidate *best = &last;
    if (l < n && cand_less (&e->heap[l], best)) {
      m = l;
      best = &e->heap[l];
    }
    if (r < n && cand_less (&e->heap[r], best))
      m = r;
    if (m == i)
      break;
    e->heap[i] = e->heap[m];
    i = m;
  }
  if (n > 0)
    e->heap[i] = last;
  return top;
}

static void
push_pair (Encoder *e, int32_t pos)
{
  const Symbol *a = &e->sym[pos];
  if (a->next < 0)
    return;
  const GlimMergeSlot *m = glim_tokenizer_merge_lookup (e->tok, a->id, e->sym[a->next].id);
  if (m != NULL)
    heap_push (e, (Candidate) { m->rank, (guint32) pos, m->new_id });
}

/* HF's Word::merge_all: repeatedly merge the pair of lowest rank (leftmost on ties). */
static void
bpe (Encoder *e, const guchar *s, gsize n)
{
  if (n + 1 > e->cap) {
    e->cap = MAX (n + 1, e->cap * 2);
    e->sym = g_renew (Symbol, e->sym, e->cap);
    e->heap = g_renew (Candidate, e->heap, 2 * e->cap);
  }
  /* One symbol per byte (= per byte-level character); bytes the vocabulary lacks are dropped,
   * as HF does without an unk token. */
  int32_t n_sym = 0;
  for (gsize i = 0; i < n; i++) {
    int32_t id = e->tok->byte_ids[s[i]];
    if (id < 0)
      continue;
    e->sym[n_sym] = (Symbol) { id, n_sym - 1, n_sym + 1, 1 };
    n_sym++;
  }
  if (n_sym == 0)
    return;
  e->sym[n_sym - 1].next = -1;
  e->n_heap = 0;
  for (int32_t i = 0; i + 1 < n_sym; i++)
    push_pair (e, i);
  while (e->n_heap > 0) {
    Candidate top = heap_pop (e);
    Symbol *a = &e->sym[top.pos];
    if (!a->alive || a->next < 0)
      continue;
    Symbol *b = &e->sym[a->next];
    const GlimMergeSlot *m = glim_tokenizer_merge_lookup (e->tok, a->id, b->id);
    if (m == NULL || m->new_id != top.new_id)
      continue;   /* stale: one side has changed since this candidate was queued */
    a->id = top.new_id;
    b->alive = 0;
    a->next = b->next;
    if (b->next >= 0)
      e->sym[b->next].prev = (int32_t) top.pos;
    if (a->prev >= 0)
      push_pair (e, a->prev);
    push_pair (e, (int32_t) top.pos);
  }
  for (int32_t i = 0; i >= 0; i = e->sym[i].next)
    g_array_append_val (e->out, e->sym[i].id);
}

static void
encode_piece (Encoder *e, const guchar *s, gsize n)
{
  if (e->tok->ignore_merges) {
    int32_t id = glim_str_table_lookup (&e->tok->vocab, (const char *) s, n);
    if (id >= 0) {
      g_array_append_val (e->out, id);
      return;
    }
  }
  bpe (e, s, n);
}

static void
encode_segment (Encoder *e, const char *s, gsize from, gsize end)
{
  while (from < end) {
    gsize to = glim_tokenizer_piece_end (s, from, end);
    g_assert (to > from && to <= end);
    encode_piece (e, (const guchar *) s + from, to - from);
    from = to;
  }
}

/* ---- added tokens ---- */

/* The leftmost-longest occurrence of an added token of `ix` in s[from..end). */
static const GlimAddedToken *
find_added (const GlimTokenizer *tok, const GlimAddedIndex *ix, const guchar *s, gsize from,
            gsize end, gsize *at)
{
  for (gsize i = from; i < end; i++) {
    guint32 a = ix->start[s[i]], z = ix->start[s[i] + 1];
    for (guint32 k = a; k < z; k++) {
      const GlimAddedToken *t = &tok->added[ix->order[k]];
      if (t->len <= end - i && memcmp (s + i, t->content, t->len) == 0) {
        *at = i;
        return t;
      }
    }
  }
  return NULL;
}

static void
encode_pass (Encoder *e, int pass, const char *s, gsize from, gsize end)
{
  const GlimAddedIndex *ix = pass < 2 ? &e->tok->added_index[pass] : NULL;
  if (ix == NULL || ix->n == 0) {
    if (pass < 1)
      encode_pass (e, pass + 1, s, from, end);
    else
      encode_segment (e, s, from, end);
    return;
  }
  while (from < end) {
    gsize at = end;
    const GlimAddedToken *t = find_added (e->tok, ix, (const guchar *) s, from, end, &at);
    if (at > from)
      encode_pass (e, pass + 1, s, from, at);
    if (t == NULL)
      break;
    g_array_append_val (e->out, t->id);
    from = at + t->len;
  }
}

/* ---- public API ---- */

void
glim_tokenizer_encode_append (GlimTokenizer *tok, const char *text, gssize len, GArray *out)
{
  g_return_if_fail (tok != NULL && out != NULL && (text != NULL || len == 0));
  gsize n = len < 0 ? strlen (text) : (gsize) len;
  g_autoptr (GString) clean = NULL;
  if (glim_tokenizer_utf8_valid_prefix (text, n) != n) {
    clean = g_string_sized_new (n + 16);
    glim_tokenizer_utf8_lossy_append (clean, text, n, TRUE);
    text = clean->str;
    n = clean->len;
  }
  Encoder e = { .tok = tok, .out = out };
  encode_pass (&e, 0, text, 0, n);
  g_free (e.sym);
  g_free (e.heap);
}

GArray *
glim_tokenizer_encode (GlimTokenizer *tok, const char *text, gssize len)
{
  g_return_val_if_fail (tok != NULL && (text != NULL || len == 0), NULL);
  GArray *out = g_array_new (FALSE, FALSE, sizeof (int32_t));
  glim_tokenizer_encode_append (tok, text, len, out);
  return out;
}
