/* glim-tokenizer.c: load a Hugging Face tokenizer.json of the GLM-4.7-Flash kind and answer
 * questions about single tokens (lookup, token_bytes, is_special).
 * SPDX-License-Identifier: MIT
 * Untrusted input: every key is type-checked, ids are bounded by GLIM_TOKENIZER_MAX_ID, and any
 * setting that would change the result and that we do not implement is refused with
 * GLIM_TOKENIZER_ERROR_UNSUPPORTED naming the key, never silently ignored. */
#define G_LOG_DOMAIN "glimmer-tokenizer"

#include "glim-tokenizer-private.h"

#include <json-glib/json-glib.h>
#include <string.h>

G_DEFINE_QUARK (glim-tokenizer-error-quark, glim_tokenizer_error)

/* ---- tables ---- */

void
glim_str_table_init (GlimStrTable *t, gsize n_max)
{
  gsize n = 16;
  while (n < n_max * 2)
    n *= 2;
  t->slots = g_new (GlimStrSlot, n);
  for (gsize i = 0; i < n; i++)
    t->slots[i].id = -1;
  t->mask = n - 1;
  t->keys = g_string_new (NULL);
}

void
glim_str_table_clear (GlimStrTable *t)
{
  g_clear_pointer (&t->slots, g_free);
  if (t->keys != NULL)
    g_string_free (t->keys, TRUE);
  t->keys = NULL;
}

gboolean
glim_str_table_insert (GlimStrTable *t, const char *key, gsize len, int32_t id)
{
  guint32 h = glim_str_hash (key, len);
  for (gsize i = h & t->mask;; i = (i + 1) & t->mask) {
    GlimStrSlot *s = &t->slots[i];
    if (s->id < 0) {
      *s = (GlimStrSlot) { h, id, (guint32) t->keys->len, (guint32) len };
      g_string_append_len (t->keys, key, (gssize) len);
      return TRUE;
    }
    if (s->hash == h && s->len == len && memcmp (t->keys->str + s->off, key, len) == 0)
      return FALSE;
  }
}

int32_t
glim_str_table_lookup (const GlimStrTable *t, const char *key, gsize len)
{
  guint32 h = glim_str_hash (key, len);
  for (gsize i = h & t->mask;; i = (i + 1) & t->mask) {
    const GlimStrSlot *s = &t->slots[i];
    if (s->id < 0)
      return -1;
    if (s->hash == h && s->len == len && memcmp (t->keys->str + s->off, key, len) == 0)
      return s->id;
  }
}

/* Raw bytes of a byte-level string ("Ġhi" -> " hi"); FALSE if a character is outside the
 * alphabet (the string is then used as it is, as HF's ByteLevel decoder does). */
static gboolean
byte_level_decode (const char *s, GString *out)
{
  g_string_truncate (out, 0);
  for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p)) {
    int b = glim_tokenizer_cp_to_byte (g_utf8_get_char (p));
    if (b < 0)
      return FALSE;
    g_string_append_c (out, (char) b);
  }
  return TRUE;
}

/* ---- errors ---- */

typedef struct {
  const char *path;
  JsonObject *root;
  JsonObject *model;
  JsonObject *vocab;
  GString    *scratch;
} Loader;

static gpointer
fail (GError **error, int code, const Loader *ld, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gpointer
fail (GError **error, int code, const Loader *ld, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, GLIM_TOKENIZER_ERROR, code, "%s: %s", ld->path, msg);
  return NULL;
}

#define corrupt(...)     fail (error, GLIM_TOKENIZER_ERROR_CORRUPT, __VA_ARGS__)
#define unsupported(...) fail (error, GLIM_TOKENIZER_ERROR_UNSUPPORTED, __VA_ARGS__)

/* ---- JSON helpers ---- */

static gboolean
node_is_null (JsonNode *n)
{
  return n == NULL || JSON_NODE_HOLDS_NULL (n);
}

/* The string member `key` of obj, or NULL if it is missing or not a string. */
static const char *
member_string (JsonObject *obj, const char *key)
{
  JsonNode *n = json_object_get_member (obj, key);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

/* A boolean member; missing or null gives `dflt`; FALSE (with an error) for another type. */
static gboolean
member_bool (const Loader *ld, JsonObject *obj, const char *where, const char *key,
             gboolean dflt, gboolean *out, GError **error)
{
  JsonNode *n = json_object_get_member (obj, key);
  if (node_is_null (n)) {
    *out = dflt;
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN) {
    corrupt (ld, "%s.%s is not a boolean", where, key);
    return FALSE;
  }
  *out = json_node_get_boolean (n);
  return TRUE;
}

/* The object member `key`, or NULL (with an error naming `where.key`) if it is anything else. */
static JsonObject *
member_object (const Loader *ld, JsonObject *obj, const char *where, const char *key,
               GError **error)
{
  JsonNode *n = json_object_get_member (obj, key);
  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return corrupt (ld, "%s%s%s is missing or not an object", where, *where ? "." : "", key);
  return json_node_get_object (n);
}

/* Checks that obj["type"] == want. */
static gboolean
check_type (const Loader *ld, JsonObject *obj, const char *where, const char *want,
            GError **error)
{
  const char *type = member_string (obj, "type");
  if (type == NULL) {
    corrupt (ld, "%s.type is missing", where);
    return FALSE;
  }
  if (strcmp (type, want) != 0) {
    unsupported (ld, "%s.type \"%s\" is not supported (only \"%s\")", where, type, want);
    return FALSE;
  }
  return TRUE;
}

/* ---- pipeline checks ---- */

static gboolean
check_pre_tokenizer (const Loader *ld, GError **error)
{
  JsonNode *n = json_object_get_member (ld->root, "pre_tokenizer");
  if (node_is_null (n) || !JSON_NODE_HOLDS_OBJECT (n)) {
    unsupported (ld, "pre_tokenizer must be the GLM Sequence [Split, ByteLevel]");
    return FALSE;
  }
  JsonObject *seq = json_node_get_object (n);
  if (!check_type (ld, seq, "pre_tokenizer", "Sequence", error))
    return FALSE;
  JsonNode *list = json_object_get_member (seq, "pretokenizers");
  if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list) ||
      json_array_get_length (json_node_get_array (list)) != 2) {
    unsupported (ld, "pre_tokenizer.pretokenizers must hold exactly [Split, ByteLevel]");
    return FALSE;
  }
  JsonArray *arr = json_node_get_array (list);
  for (guint i = 0; i < 2; i++) {
    if (!JSON_NODE_HOLDS_OBJECT (json_array_get_element (arr, i))) {
      corrupt (ld, "pre_tokenizer.pretokenizers[%u] is not an object", i);
      return FALSE;
    }
  }
  JsonObject *split = json_array_get_object_element (arr, 0);
  JsonObject *bl = json_array_get_object_element (arr, 1);
  if (!check_type (ld, split, "pre_tokenizer.pretokenizers[0]", "Split", error) ||
      !check_type (ld, bl, "pre_tokenizer.pretokenizers[1]", "ByteLevel", error))
    return FALSE;

  JsonObject *pattern = member_object (ld, split, "pre_tokenizer.pretokenizers[0]", "pattern",
                                       error);
  if (pattern == NULL)
    return FALSE;
  const char *regex = member_string (pattern, "Regex");
  if (regex == NULL || strcmp (regex, GLIM_TOKENIZER_GLM_REGEX) != 0) {
    unsupported (ld, "pre_tokenizer.pretokenizers[0].pattern: only the GLM-4 Split regex is "
                 "supported");
    return FALSE;
  }
  const char *behavior = member_string (split, "behavior");
  if (behavior == NULL || strcmp (behavior, "Isolated") != 0) {
    unsupported (ld, "pre_tokenizer.pretokenizers[0].behavior \"%s\" is not supported "
                 "(only \"Isolated\")", behavior ? behavior : "(missing)");
    return FALSE;
  }
  gboolean invert, prefix_space, use_regex;
  if (!member_bool (ld, split, "pre_tokenizer.pretokenizers[0]", "invert", FALSE, &invert, error) ||
      !member_bool (ld, bl, "pre_tokenizer.pretokenizers[1]", "add_prefix_space", TRUE,
                    &prefix_space, error) ||
      !member_bool (ld, bl, "pre_tokenizer.pretokenizers[1]", "use_regex", TRUE, &use_regex,
                    error))
    return FALSE;
  if (invert) {
    unsupported (ld, "pre_tokenizer.pretokenizers[0].invert true is not supported");
    return FALSE;
  }
  if (prefix_space || use_regex) {
    unsupported (ld, "pre_tokenizer.pretokenizers[1]: ByteLevel with %s true is not supported",
                 prefix_space ? "add_prefix_space" : "use_regex");
    return FALSE;
  }
  return TRUE;
}

/* normalizer, post_processor, decoder, truncation, padding. */
static gboolean
check_pipeline (const Loader *ld, GError **error)
{
  if (!node_is_null (json_object_get_member (ld->root, "normalizer"))) {
    unsupported (ld, "normalizer is not supported (GLM has none): expected null");
    return FALSE;
  }
  static const char *const must_be_null[] = { "truncation", "padding" };
  for (gsize i = 0; i < G_N_ELEMENTS (must_be_null); i++) {
    if (!node_is_null (json_object_get_member (ld->root, must_be_null[i]))) {
      unsupported (ld, "%s is not supported: expected null", must_be_null[i]);
      return FALSE;
    }
  }
  /* The post-processor only adds tokens when asked to (we never are); ByteLevel adds none. */
  JsonNode *pp = json_object_get_member (ld->root, "post_processor");
  if (!node_is_null (pp)) {
    if (!JSON_NODE_HOLDS_OBJECT (pp)) {
      corrupt (ld, "post_processor is not an object");
      return FALSE;
    }
    if (!check_type (ld, json_node_get_object (pp), "post_processor", "ByteLevel", error))
      return FALSE;
  }
  JsonNode *dec = json_object_get_member (ld->root, "decoder");
  if (node_is_null (dec) || !JSON_NODE_HOLDS_OBJECT (dec)) {
    unsupported (ld, "decoder must be ByteLevel");
    return FALSE;
  }
  return check_type (ld, json_node_get_object (dec), "decoder", "ByteLevel", error);
}

static gboolean
check_model (const Loader *ld, gboolean *ignore_merges, GError **error)
{
  if (!check_type (ld, ld->model, "model", "BPE", error))
    return FALSE;
  static const char *const null_or_empty[] = { "dropout", "unk_token", "continuing_subword_prefix",
                                               "end_of_word_suffix" };
  for (gsize i = 0; i < G_N_ELEMENTS (null_or_empty); i++) {
    JsonNode *n = json_object_get_member (ld->model, null_or_empty[i]);
    const char *s = member_string (ld->model, null_or_empty[i]);
    if (!node_is_null (n) && !(s != NULL && *s == '\0')) {
      unsupported (ld, "model.%s is not supported: expected null", null_or_empty[i]);
      return FALSE;
    }
  }
  gboolean byte_fallback, fuse_unk;
  if (!member_bool (ld, ld->model, "model", "byte_fallback", FALSE, &byte_fallback, error) ||
      !member_bool (ld, ld->model, "model", "fuse_unk", FALSE, &fuse_unk, error) ||
      !member_bool (ld, ld->model, "model", "ignore_merges", FALSE, ignore_merges, error))
    return FALSE;
  if (byte_fallback) {
    unsupported (ld, "model.byte_fallback true is not supported");
    return FALSE;
  }
  return TRUE;
}

/* ---- vocabulary, merges, added tokens ---- */

static int32_t
vocab_id (const Loader *ld, const char *s)
{
  JsonNode *n = json_object_get_member (ld->vocab, s);
  return n != NULL ? (int32_t) json_node_get_int (n) : -1;   /* checked by load_vocab */
}

/* Validates model.vocab; *n_vocab gets one past its highest id. */
static gboolean
scan_vocab (const Loader *ld, int32_t *n_vocab, GError **error)
{
  JsonObjectIter it;
  const char *key;
  JsonNode *val;
  int32_t top = -1;
  json_object_iter_init (&it, ld->vocab);
  while (json_object_iter_next (&it, &key, &val)) {
    if (!JSON_NODE_HOLDS_VALUE (val) || json_node_get_value_type (val) != G_TYPE_INT64) {
      corrupt (ld, "model.vocab[\"%s\"] is not an integer", key);
      return FALSE;
    }
    gint64 id = json_node_get_int (val);
    if (id < 0 || id >= GLIM_TOKENIZER_MAX_ID) {
      corrupt (ld, "model.vocab[\"%s\"]: id %" G_GINT64_FORMAT " is out of range", key, id);
      return FALSE;
    }
    if (*key == '\0') {
      corrupt (ld, "model.vocab has an empty token (id %" G_GINT64_FORMAT ")", id);
      return FALSE;
    }
    top = MAX (top, (int32_t) id);
  }
  *n_vocab = top + 1;
  return TRUE;
}

static void
set_entry (GlimTokenizer *tok, int32_t id, const char *text, GString *scratch, guint8 flags)
{
  GlimTokenEntry *e = &tok->entries[id];
  e->off = (guint32) tok->bytes->len;
  if (byte_level_decode (text, scratch))
    g_string_append_len (tok->bytes, scratch->str, (gssize) scratch->len);
  else
    g_string_append (tok->bytes, text);
  e->len = (guint32) (tok->bytes->len - e->off);
  e->flags = flags;
}

static gboolean
load_vocab (GlimTokenizer *tok, const Loader *ld, GError **error)
{
  guint n = json_object_get_size (ld->vocab);
  glim_str_table_init (&tok->vocab, n);
  tok->odd_vocab = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  JsonObjectIter it;
  const char *key;
  JsonNode *val;
  json_object_iter_init (&it, ld->vocab);
  while (json_object_iter_next (&it, &key, &val)) {
    int32_t id = (int32_t) json_node_get_int (val);
    if (tok->entries[id].flags & GLIM_TOKEN_PRESENT) {
      corrupt (ld, "model.vocab: id %d is given to two tokens (\"%s\" and another)", id, key);
      return FALSE;
    }
    set_entry (tok, id, key, ld->scratch, GLIM_TOKEN_PRESENT);
    if (byte_level_decode (key, ld->scratch)) {
      glim_str_table_insert (&tok->vocab, ld->scratch->str, ld->scratch->len, id);
      if (ld->scratch->len == 1)
        tok->byte_ids[(guint8) ld->scratch->str[0]] = id;
    } else {
      g_hash_table_insert (tok->odd_vocab, g_strdup (key), GINT_TO_POINTER (id));
    }
  }
  return TRUE;
}

static gboolean
merge_parts (const Loader *ld, JsonNode *n, guint i, const char **a, const char **b,
             char **owned, GError **error)
{
  if (JSON_NODE_HOLDS_ARRAY (n)) {
    JsonArray *pair = json_node_get_array (n);
    if (json_array_get_length (pair) == 2) {
      JsonNode *x = json_array_get_element (pair, 0), *y = json_array_get_element (pair, 1);
      if (JSON_NODE_HOLDS_VALUE (x) && json_node_get_value_type (x) == G_TYPE_STRING &&
          JSON_NODE_HOLDS_VALUE (y) && json_node_get_value_type (y) == G_TYPE_STRING) {
        *a = json_node_get_string (x);
        *b = json_node_get_string (y);
        return TRUE;
      }
    }
  } else if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING) {
    /* legacy "a b": exactly one space (HF: line.split(' ') must give two parts) */
    const char *s = json_node_get_string (n);
    const char *sp = strchr (s, ' ');
    if (sp != NULL && strchr (sp + 1, ' ') == NULL) {
      *owned = g_strdup (s);
      (*owned)[sp - s] = '\0';
      *a = *owned;
      *b = *owned + (sp - s) + 1;
      return TRUE;
    }
  }
  corrupt (ld, "model.merges[%u] is neither a pair [\"a\", \"b\"] nor a string \"a b\"", i);
  return FALSE;
}

static gboolean
load_merges (GlimTokenizer *tok, const Loader *ld, GError **error)
{
  JsonNode *n = json_object_get_member (ld->model, "merges");
  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n)) {
    corrupt (ld, "model.merges is missing or not an array");
    return FALSE;
  }
  JsonArray *arr = json_node_get_array (n);
  guint len = json_array_get_length (arr);
  gsize cap = 16;
  while (cap < (gsize) len * 2)
    cap *= 2;
  tok->merges = g_new (GlimMergeSlot, cap);
  for (gsize i = 0; i < cap; i++)
    tok->merges[i].key = G_MAXUINT64;
  tok->merges_mask = cap - 1;

  gboolean legacy = len > 0 && !JSON_NODE_HOLDS_ARRAY (json_array_get_element (arr, 0));
  g_autoptr (GString) ab = g_string_new (NULL);
  guint32 rank = 0;
  for (guint i = 0; i < len; i++) {
    JsonNode *m = json_array_get_element (arr, i);
    if (legacy == JSON_NODE_HOLDS_ARRAY (m)) {
      corrupt (ld, "model.merges mixes pairs and strings (at index %u)", i);
      return FALSE;
    }
    if (legacy && JSON_NODE_HOLDS_VALUE (m) && json_node_get_value_type (m) == G_TYPE_STRING &&
        g_str_has_prefix (json_node_get_string (m), "#version"))
      continue;   /* HF skips the header line of merges.txt */
    const char *a, *b;
    g_autofree char *owned = NULL;
    if (!merge_parts (ld, m, i, &a, &b, &owned, error))
      return FALSE;
    g_string_assign (ab, a);
    g_string_append (ab, b);
    const char *missing = NULL;
    int32_t ia = vocab_id (ld, a), ib = vocab_id (ld, b), iab = vocab_id (ld, ab->str);
    if (ia < 0)
      missing = a;
    else if (ib < 0)
      missing = b;
    else if (iab < 0)
      missing = ab->str;
    if (missing != NULL) {
      corrupt (ld, "model.merges[%u] (\"%s\" \"%s\"): token \"%s\" is not in model.vocab", i, a,
               b, missing);
      return FALSE;
    }
    /* A repeated pair takes the later rank, as HF's map insertion does. */
    guint64 key = ((guint64) (guint32) ia << 32) | (guint32) ib;
    gsize k = glim_merge_hash (key) & tok->merges_mask;
    while (tok->merges[k].key != G_MAXUINT64 && tok->merges[k].key != key)
      k = (k + 1) & tok->merges_mask;
    tok->merges[k] = (GlimMergeSlot) { key, rank, iab };
    rank++;
  }
  return TRUE;
}

static int
compare_added (gconstpointer pa, gconstpointer pb, gpointer user_data)
{
  const GlimAddedToken *added = user_data;
  const GlimAddedToken *a = &added[*(const guint *) pa], *b = &added[*(const guint *) pb];
  if ((guint8) a->content[0] != (guint8) b->content[0])
    return (guint8) a->content[0] - (guint8) b->content[0];
  if (a->len != b->len)
    return a->len > b->len ? -1 : 1;   /* longest first */
  return *(const guint *) pa < *(const guint *) pb ? -1 : 1;
}

static void
build_added_index (GlimTokenizer *tok, GlimAddedIndex *ix, gboolean normalized)
{
  ix->order = g_new (guint, tok->n_added + 1);
  ix->n = 0;
  for (guint i = 0; i < tok->n_added; i++)
    if (tok->added[i].normalized == normalized)
      ix->order[ix->n++] = i;
  g_qsort_with_data (ix->order, (gint) ix->n, sizeof (guint), compare_added, tok->added);
  guint k = 0;
  for (guint b = 0; b <= 256; b++) {
    while (k < ix->n && (guint8) tok->added[ix->order[k]].content[0] < b)
      k++;
    ix->start[b] = k;
  }
}

/* HF ignores the "id" of added tokens: it gives each new content the vocabulary's id if the
 * content is a vocabulary entry, else the next id after the base vocabulary / the last one. */
static gboolean
load_added (GlimTokenizer *tok, const Loader *ld, int32_t base_size, GError **error)
{
  JsonNode *n = json_object_get_member (ld->root, "added_tokens");
  JsonArray *arr = NULL;
  if (!node_is_null (n)) {
    if (!JSON_NODE_HOLDS_ARRAY (n)) {
      corrupt (ld, "added_tokens is not an array");
      return FALSE;
    }
    arr = json_node_get_array (n);
  }
  guint len = arr ? json_array_get_length (arr) : 0;
  tok->added = g_new0 (GlimAddedToken, len + 1);
  tok->added_by_text = g_hash_table_new (g_str_hash, g_str_equal);
  int32_t max_id = -1;
  for (guint i = 0; i < len; i++) {
    g_autofree char *where = g_strdup_printf ("added_tokens[%u]", i);
    JsonNode *e = json_array_get_element (arr, i);
    if (!JSON_NODE_HOLDS_OBJECT (e)) {
      corrupt (ld, "%s is not an object", where);
      return FALSE;
    }
    JsonObject *o = json_node_get_object (e);
    const char *content = member_string (o, "content");
    if (content == NULL) {
      corrupt (ld, "%s.content is missing or not a string", where);
      return FALSE;
    }
    gboolean special, normalized, lstrip, rstrip, single_word;
    if (!member_bool (ld, o, where, "special", FALSE, &special, error) ||
        !member_bool (ld, o, where, "normalized", !special, &normalized, error) ||
        !member_bool (ld, o, where, "lstrip", FALSE, &lstrip, error) ||
        !member_bool (ld, o, where, "rstrip", FALSE, &rstrip, error) ||
        !member_bool (ld, o, where, "single_word", FALSE, &single_word, error))
      return FALSE;
    if (lstrip || rstrip || single_word) {
      unsupported (ld, "%s (\"%s\"): %s true is not supported", where, content,
                   lstrip ? "lstrip" : rstrip ? "rstrip" : "single_word");
      return FALSE;
    }
    if (*content == '\0')
      continue;   /* HF skips empty added tokens */
    if (g_hash_table_contains (tok->added_by_text, content)) {
      unsupported (ld, "%s: added token \"%s\" is listed twice", where, content);
      return FALSE;
    }
    int32_t id = vocab_id (ld, content);
    if (id < 0)
      id = (max_id >= base_size || base_size == 0) ? max_id + 1 : base_size;
    if (id >= GLIM_TOKENIZER_MAX_ID) {
      corrupt (ld, "%s: too many tokens", where);
      return FALSE;
    }
    max_id = MAX (max_id, id);
    GlimAddedToken *t = &tok->added[tok->n_added++];
    t->content = g_strdup (content);
    t->len = strlen (content);
    t->id = id;
    t->special = special;
    t->normalized = normalized;
    g_hash_table_insert (tok->added_by_text, t->content, t);
  }
  return TRUE;
}

/* Per-id table: vocabulary entries, then added tokens over them (HF decodes an id through the
 * added vocabulary first); the skip flag marks ids whose string is a special token's. */
static void
build_entries (GlimTokenizer *tok, int32_t n_vocab)
{
  for (guint i = 0; i < tok->n_added; i++)
    n_vocab = MAX (n_vocab, tok->added[i].id + 1);
  tok->n_vocab = n_vocab;
  tok->entries = g_new0 (GlimTokenEntry, n_vocab);
  tok->bytes = g_string_new (NULL);
}

static void
finish_entries (GlimTokenizer *tok, const Loader *ld)
{
  g_autoptr (GHashTable) specials = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < tok->n_added; i++) {
    GlimAddedToken *t = &tok->added[i];
    guint8 flags = GLIM_TOKEN_PRESENT | GLIM_TOKEN_ADDED | (t->special ? GLIM_TOKEN_SPECIAL : 0);
    set_entry (tok, t->id, t->content, ld->scratch, flags);
    if (t->special)
      g_hash_table_add (specials, t->content);
  }
  if (g_hash_table_size (specials) == 0)
    return;
  /* A vocabulary entry spelled like a special token is skipped by decode too (HF filters by
   * token string). */
  JsonObjectIter it;
  const char *key;
  JsonNode *val;
  json_object_iter_init (&it, ld->vocab);
  while (json_object_iter_next (&it, &key, &val)) {
    int32_t id = (int32_t) json_node_get_int (val);
    if (!(tok->entries[id].flags & GLIM_TOKEN_ADDED) && g_hash_table_contains (specials, key))
      tok->entries[id].flags |= GLIM_TOKEN_SKIP;
  }
  for (guint i = 0; i < tok->n_added; i++)
    if (tok->added[i].special)
      tok->entries[tok->added[i].id].flags |= GLIM_TOKEN_SKIP;
}

/* ---- public API ---- */

static GlimTokenizer *
load_parsed (JsonParser *parser, const char *path, GError **error)
{
  g_autoptr (GString) scratch = g_string_new (NULL);
  Loader ld = { .path = path, .scratch = scratch };
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return corrupt (&ld, "the top level is not a JSON object");
  ld.root = json_node_get_object (root);
  if ((ld.model = member_object (&ld, ld.root, "", "model", error)) == NULL ||
      (ld.vocab = member_object (&ld, ld.model, "model", "vocab", error)) == NULL)
    return NULL;

  g_autoptr (GlimTokenizer) tok = g_new0 (GlimTokenizer, 1);
  tok->path = g_strdup (path);
  for (int b = 0; b < 256; b++)
    tok->byte_ids[b] = -1;
  int32_t n_vocab = 0;
  if (!check_model (&ld, &tok->ignore_merges, error) || !check_pre_tokenizer (&ld, error) ||
      !check_pipeline (&ld, error) || !scan_vocab (&ld, &n_vocab, error) ||
      !load_added (tok, &ld, (int32_t) json_object_get_size (ld.vocab), error))
    return NULL;
  build_entries (tok, n_vocab);
  if (!load_vocab (tok, &ld, error) || !load_merges (tok, &ld, error))
    return NULL;
  finish_entries (tok, &ld);
  build_added_index (tok, &tok->added_index[0], FALSE);
  build_added_index (tok, &tok->added_index[1], TRUE);
  g_debug ("%s: %u vocabulary entries, %u added tokens, %d ids", path,
           json_object_get_size (ld.vocab), tok->n_added, tok->n_vocab);
  return g_steal_pointer (&tok);
}

GlimTokenizer *
glim_tokenizer_load_from_data (const char *data, gsize len, const char *name, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local = NULL;
  if (len > G_MAXSSIZE ||
      !json_parser_load_from_data (parser, len ? data : "", (gssize) len, &local)) {
    g_set_error (error, GLIM_TOKENIZER_ERROR, GLIM_TOKENIZER_ERROR_CORRUPT,
                 "%s: invalid JSON: %s", name, local ? local->message : "too large");
    return NULL;
  }
  return load_parsed (parser, name, error);
}

GlimTokenizer *
glim_tokenizer_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_autoptr (GError) local = NULL;
  g_autoptr (GMappedFile) map = g_mapped_file_new (path, FALSE, &local);
  if (map == NULL) {
    int code = g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                 ? GLIM_TOKENIZER_ERROR_NOT_FOUND : GLIM_TOKENIZER_ERROR_IO;
    g_set_error (error, GLIM_TOKENIZER_ERROR, code, "%s", local->message);
    return NULL;
  }
  return glim_tokenizer_load_from_data (g_mapped_file_get_contents (map),
                                        g_mapped_file_get_length (map), path, error);
}

void
glim_tokenizer_free (GlimTokenizer *tok)
{
  if (tok == NULL)
    return;
  glim_str_table_clear (&tok->vocab);
  g_clear_pointer (&tok->odd_vocab, g_hash_table_unref);
  g_clear_pointer (&tok->added_by_text, g_hash_table_unref);
  for (guint i = 0; i < tok->n_added; i++)
    g_free (tok->added[i].content);
  g_free (tok->added);
  for (int p = 0; p < 2; p++)
    g_free (tok->added_index[p].order);
  g_free (tok->merges);
  g_free (tok->entries);
  if (tok->bytes != NULL)
    g_string_free (tok->bytes, TRUE);
  g_free (tok->path);
  g_free (tok);
}

int
glim_tokenizer_n_vocab (GlimTokenizer *tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->n_vocab;
}

const char *
glim_tokenizer_token_bytes (GlimTokenizer *tok, int32_t id, gsize *len)
{
  g_return_val_if_fail (tok != NULL, NULL);
  if (id < 0 || id >= tok->n_vocab || !(tok->entries[id].flags & GLIM_TOKEN_PRESENT)) {
    if (len != NULL)
      *len = 0;
    return NULL;
  }
  if (len != NULL)
    *len = tok->entries[id].len;
  return tok->bytes->str + tok->entries[id].off;
}

int32_t
glim_tokenizer_lookup (GlimTokenizer *tok, const char *token)
{
  g_return_val_if_fail (tok != NULL && token != NULL, -1);
  GlimAddedToken *t = g_hash_table_lookup (tok->added_by_text, token);
  if (t != NULL)
    return t->id;
  if (!g_utf8_validate (token, -1, NULL))
    return -1;
  g_autoptr (GString) raw = g_string_new (NULL);
  if (byte_level_decode (token, raw))
    return glim_str_table_lookup (&tok->vocab, raw->str, raw->len);
  gpointer id;
  if (g_hash_table_lookup_extended (tok->odd_vocab, token, NULL, &id))
    return GPOINTER_TO_INT (id);
  return -1;
}

gboolean
glim_tokenizer_is_special (GlimTokenizer *tok, int32_t id)
{
  g_return_val_if_fail (tok != NULL, FALSE);
  return id >= 0 && id < tok->n_vocab && (tok->entries[id].flags & GLIM_TOKEN_SPECIAL);
}
