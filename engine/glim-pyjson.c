/* glim-pyjson.c: Python's json.loads, into a lossless value tree or a JsonNode.
 * SPDX-License-Identifier: MIT
 * The prompt embeds tool schemas and tool-call arguments as transformers' `tojson` filter
 * prints them, and the output parser re-prints tool-call values as vLLM does, so number types,
 * duplicate keys and string escapes must read as Python reads them.
 * Untrusted input: the parser bounds nesting and the size of integers. */
#define G_LOG_DOMAIN "glimmer-pyjson"

#include "glim-pyjson.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define DICT_INDEX_MIN 8   /* dicts this large look keys up in a hash table */

G_DEFINE_QUARK (glim-pyjson-error-quark, glim_pyjson_error)

/* ---- values ---- */

static void
gstring_free_full (gpointer s)
{
  g_string_free (s, TRUE);
}

GlimPyjsonValue *
glim_pyjson_value_new (GlimPyjsonKind kind)
{
  GlimPyjsonValue *v = g_new0 (GlimPyjsonValue, 1);
  v->kind = kind;
  if (kind == GLIM_PYJSON_KIND_INT || kind == GLIM_PYJSON_KIND_STRING)
    v->text = g_string_new (NULL);
  if (kind == GLIM_PYJSON_KIND_LIST || kind == GLIM_PYJSON_KIND_DICT)
    v->items = g_ptr_array_new_with_free_func ((GDestroyNotify) glim_pyjson_value_free);
  if (kind == GLIM_PYJSON_KIND_DICT)
    v->keys = g_ptr_array_new_with_free_func (gstring_free_full);
  return v;
}

void
glim_pyjson_value_free (GlimPyjsonValue *value)
{
  if (value == NULL)
    return;
  if (value->text != NULL)
    g_string_free (value->text, TRUE);
  if (value->index != NULL)
    g_hash_table_unref (value->index);
  if (value->items != NULL)
    g_ptr_array_free (value->items, TRUE);
  if (value->keys != NULL)
    g_ptr_array_free (value->keys, TRUE);
  g_free (value);
}

/* Position of `key` in a dict, or -1. */
static gssize
dict_find (GlimPyjsonValue *dict, const GString *key)
{
  if (dict->index != NULL)
    return GPOINTER_TO_SIZE (g_hash_table_lookup (dict->index, key)) - 1;
  for (guint i = 0; i < dict->keys->len; i++)
    if (g_string_equal (g_ptr_array_index (dict->keys, i), key))
      return i;
  return -1;
}

void
glim_pyjson_value_set_item (GlimPyjsonValue *dict, GString *key, GlimPyjsonValue *item)
{
  g_return_if_fail (dict != NULL && dict->kind == GLIM_PYJSON_KIND_DICT);
  gssize at = dict_find (dict, key);
  if (at >= 0) {
    glim_pyjson_value_free (g_ptr_array_index (dict->items, at));
    dict->items->pdata[at] = item;
    g_string_free (key, TRUE);
    return;
  }
  g_ptr_array_add (dict->keys, key);
  g_ptr_array_add (dict->items, item);
  if (dict->index == NULL && dict->keys->len >= DICT_INDEX_MIN) {
    dict->index = g_hash_table_new ((GHashFunc) g_string_hash, (GEqualFunc) g_string_equal);
    for (guint i = 0; i < dict->keys->len; i++)
      g_hash_table_insert (dict->index, g_ptr_array_index (dict->keys, i),
                           GSIZE_TO_POINTER (i + 1));
  } else if (dict->index != NULL) {
    g_hash_table_insert (dict->index, key, GSIZE_TO_POINTER (dict->keys->len));
  }
}

GlimPyjsonValue *
glim_pyjson_value_from_node (JsonNode *node)
{
  g_return_val_if_fail (node != NULL, NULL);
  GlimPyjsonValue *v;
  switch (JSON_NODE_TYPE (node)) {
  case JSON_NODE_OBJECT: {
    v = glim_pyjson_value_new (GLIM_PYJSON_KIND_DICT);
    JsonObjectIter it;
    const char *key;
    JsonNode *member;
    json_object_iter_init_ordered (&it, json_node_get_object (node));
    while (json_object_iter_next_ordered (&it, &key, &member)) {
      g_ptr_array_add (v->keys, g_string_new (key));     /* member names are unique */
      g_ptr_array_add (v->items, glim_pyjson_value_from_node (member));
    }
    return v;
  }
  case JSON_NODE_ARRAY: {
    JsonArray *array = json_node_get_array (node);
    v = glim_pyjson_value_new (GLIM_PYJSON_KIND_LIST);
    for (guint i = 0; i < json_array_get_length (array); i++)
      g_ptr_array_add (v->items, glim_pyjson_value_from_node (json_array_get_element (array, i)));
    return v;
  }
  case JSON_NODE_NULL:
    return glim_pyjson_value_new (GLIM_PYJSON_KIND_NULL);
  case JSON_NODE_VALUE:
  default:
    break;
  }
  GType type = json_node_get_value_type (node);
  if (type == G_TYPE_STRING) {
    v = glim_pyjson_value_new (GLIM_PYJSON_KIND_STRING);
    g_string_append (v->text, json_node_get_string (node));
  } else if (type == G_TYPE_BOOLEAN) {
    v = glim_pyjson_value_new (json_node_get_boolean (node) ? GLIM_PYJSON_KIND_TRUE
                                                            : GLIM_PYJSON_KIND_FALSE);
  } else if (type == G_TYPE_DOUBLE) {
    v = glim_pyjson_value_new (GLIM_PYJSON_KIND_FLOAT);
    v->number = json_node_get_double (node);
  } else {
    v = glim_pyjson_value_new (GLIM_PYJSON_KIND_INT);
    g_string_append_printf (v->text, "%" G_GINT64_FORMAT, json_node_get_int (node));
  }
  return v;
}

/* The JsonNode of a value read for a JsonNode: its ints fit in 64 bits, its strings and keys
 * hold neither NUL nor lone surrogates. */
static JsonNode *
value_to_node (const GlimPyjsonValue *v)
{
  JsonNode *node = json_node_alloc ();
  switch (v->kind) {
  case GLIM_PYJSON_KIND_NULL:
    return json_node_init_null (node);
  case GLIM_PYJSON_KIND_TRUE:
  case GLIM_PYJSON_KIND_FALSE:
    return json_node_init_boolean (node, v->kind == GLIM_PYJSON_KIND_TRUE);
  case GLIM_PYJSON_KIND_INT:
    return json_node_init_int (node, g_ascii_strtoll (v->text->str, NULL, 10));
  case GLIM_PYJSON_KIND_FLOAT:
    return json_node_init_double (node, v->number);
  case GLIM_PYJSON_KIND_STRING:
    return json_node_init_string (node, v->text->str);
  case GLIM_PYJSON_KIND_LIST: {
    JsonArray *array = json_array_sized_new (v->items->len);
    for (guint i = 0; i < v->items->len; i++)
      json_array_add_element (array, value_to_node (g_ptr_array_index (v->items, i)));
    json_node_init_array (node, array);
    json_array_unref (array);
    return node;
  }
  case GLIM_PYJSON_KIND_DICT:
  default: {
    JsonObject *object = json_object_new ();
    for (guint i = 0; i < v->items->len; i++)
      json_object_set_member (object, ((GString *) g_ptr_array_index (v->keys, i))->str,
                              value_to_node (g_ptr_array_index (v->items, i)));
    json_node_init_object (node, object);
    json_object_unref (object);
    return node;
  }
  }
}

/* ---- parser ---- */

typedef struct {
  const char *start;     /* the whole text */
  const char *end;
  const char *p;         /* next byte to read */
  const char *what;      /* name of the text for messages; NULL for a request body */
  GString    *path;      /* path of the value being read: ".key[3]" */
  int         depth;
  gboolean    for_node;  /* refuse what a JsonNode cannot hold */
  GError    **error;
} Parser;

static GlimPyjsonValue *parse_value (Parser *ps);

/* "NAME: " for messages about a value: the text's name followed by the path inside it. */
static char *
value_name (const char *what, const GString *path)
{
  if (what == NULL || *what == '\0') {
    if (path->len == 0)
      return g_strdup ("request");
    return g_strdup (*path->str == '.' ? path->str + 1 : path->str);
  }
  return g_strconcat (what, path->str, NULL);
}

/* A syntax error at byte `at`, with Python's line/column (in characters) and char offset. */
static GlimPyjsonValue *
syntax_error (Parser *ps, const char *at, const char *msg)
{
  int line = 1;
  glong col = 1, chars = 0;
  for (const char *q = ps->start; q < at; q++) {
    if (((guchar) *q & 0xc0) == 0x80)
      continue;                                   /* UTF-8 continuation byte */
    chars++;
    col++;
    if (*q == '\n') {
      line++;
      col = 1;
    }
  }
  const char *name = ps->what != NULL && *ps->what != '\0' ? ps->what : "request";
  g_set_error (ps->error, GLIM_PYJSON_ERROR, GLIM_PYJSON_ERROR_INVALID,
               "%s: not valid JSON: %s: line %d column %ld (char %ld)", name, msg, line, col,
               chars);
  return NULL;
}

static GlimPyjsonValue *
value_error (Parser *ps, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static GlimPyjsonValue *
value_error (Parser *ps, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_autofree char *name = value_name (ps->what, ps->path);
  g_set_error (ps->error, GLIM_PYJSON_ERROR, GLIM_PYJSON_ERROR_INVALID, "%s: %s", name, msg);
  return NULL;
}

static void
skip_ws (Parser *ps)
{
  while (ps->p < ps->end &&
         (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static gboolean
looking_at (const Parser *ps, const char *word)
{
  gsize n = strlen (word);
  return (gsize) (ps->end - ps->p) >= n && memcmp (ps->p, word, n) == 0;
}

static int
hex4 (const char *p, const char *end)
{
  if (end - p < 4)
    return -1;
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int d = g_ascii_xdigit_value (p[i]);
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Read a string literal; ps->p is at the opening quote. Returns the decoded text. */
static GString *
parse_string (Parser *ps)
{
  const char *open = ps->p++;
  g_autoptr (GString) s = g_string_new (NULL);
  for (;;) {
    const char *chunk = ps->p;
    while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && (guchar) *ps->p >= 0x20)
      ps->p++;
    g_string_append_len (s, chunk, ps->p - chunk);
    if (ps->p >= ps->end) {
      syntax_error (ps, open, "Unterminated string starting at");
      return NULL;
    }
    char c = *ps->p;
    if (c == '"') {
      ps->p++;
      return g_steal_pointer (&s);
    }
    if (c != '\\') {
      syntax_error (ps, ps->p, "Invalid control character at");
      return NULL;
    }
    const char *esc = ps->p++;
    if (ps->p >= ps->end) {
      syntax_error (ps, open, "Unterminated string starting at");
      return NULL;
    }
    c = *ps->p++;
    switch (c) {
    case '"': g_string_append_c (s, '"'); break;
    case '\\': g_string_append_c (s, '\\'); break;
    case '/': g_string_append_c (s, '/'); break;
    case 'b': g_string_append_c (s, '\b'); break;
    case 'f': g_string_append_c (s, '\f'); break;
    case 'n': g_string_append_c (s, '\n'); break;
    case 'r': g_string_append_c (s, '\r'); break;
    case 't': g_string_append_c (s, '\t'); break;
    case 'u': {
      int u = hex4 (ps->p, ps->end);
      if (u < 0) {
        syntax_error (ps, esc, "Invalid \\uXXXX escape");
        return NULL;
      }
      ps->p += 4;
      gunichar ch = (gunichar) u;
      if (u >= 0xd800 && u <= 0xdbff && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
          ps->p[1] == 'u') {
        int lo = hex4 (ps->p + 2, ps->end);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          ch = 0x10000 + (((gunichar) u - 0xd800) << 10) + ((gunichar) lo - 0xdc00);
          ps->p += 6;
        }
      }
      if (ps->for_node && ch >= 0xd800 && ch <= 0xdfff) {
        value_error (ps, "string holds a lone UTF-16 surrogate \\u%04x, which is not text", u);
        return NULL;
      }
      if (ps->for_node && ch == 0) {
        value_error (ps, "string holds \\u0000, which Glimmer does not support in text");
        return NULL;
      }
      char buf[6];                                /* a lone surrogate becomes WTF-8 */
      g_string_append_len (s, buf, g_unichar_to_utf8 (ch, buf));
      break;
    }
    default:
      syntax_error (ps, esc, "Invalid \\escape");
      return NULL;
    }
  }
}

/* Python's number grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?, int when there is neither
 * a fraction nor an exponent. ps->p is at '-' or a digit. */
static GlimPyjsonValue *
parse_number (Parser *ps)
{
  const char *begin = ps->p, *q = ps->p;
  if (q < ps->end && *q == '-')
    q++;
  if (q >= ps->end || !g_ascii_isdigit (*q))
    return syntax_error (ps, begin, "Expecting value");
  const char *digits = q;
  if (*q == '0')
    q++;
  else
    while (q < ps->end && g_ascii_isdigit (*q))
      q++;
  gsize n_digits = q - digits;
  gboolean is_float = FALSE;
  if (q + 1 < ps->end && *q == '.' && g_ascii_isdigit (q[1])) {
    is_float = TRUE;
    q += 2;
    while (q < ps->end && g_ascii_isdigit (*q))
      q++;
  }
  if (q < ps->end && (*q == 'e' || *q == 'E')) {
    const char *e = q + 1;
    if (e < ps->end && (*e == '+' || *e == '-'))
      e++;
    if (e < ps->end && g_ascii_isdigit (*e)) {
      is_float = TRUE;
      while (e < ps->end && g_ascii_isdigit (*e))
        e++;
      q = e;
    }
  }
  ps->p = q;
  g_autofree char *lit = g_strndup (begin, q - begin);
  if (is_float) {
    GlimPyjsonValue *v = glim_pyjson_value_new (GLIM_PYJSON_KIND_FLOAT);
    v->number = g_ascii_strtod (lit, NULL);       /* overflow gives +-inf */
    return v;
  }
  if (ps->for_node) {
    errno = 0;
    g_ascii_strtoll (lit, NULL, 10);
    if (errno == ERANGE)
      return value_error (ps, "integer %s does not fit in 64 bits", lit);
  }
  if (n_digits > GLIM_PYJSON_INT_DIGITS_MAX)
    return value_error (ps, "integer has %zu digits, more than Python's limit of %d", n_digits,
                        GLIM_PYJSON_INT_DIGITS_MAX);
  GlimPyjsonValue *v = glim_pyjson_value_new (GLIM_PYJSON_KIND_INT);
  if (strcmp (lit, "-0") == 0)
    g_string_append_c (v->text, '0');             /* int("-0") is 0 */
  else
    g_string_append (v->text, lit);
  return v;
}

static gboolean
enter (Parser *ps)
{
  if (++ps->depth > GLIM_PYJSON_MAX_DEPTH) {
    value_error (ps, "nested deeper than %d levels", GLIM_PYJSON_MAX_DEPTH);
    return FALSE;
  }
  return TRUE;
}

static GlimPyjsonValue *
parse_array (Parser *ps)
{
  if (!enter (ps))
    return NULL;
  ps->p++;                                        /* '[' */
  g_autoptr (GlimPyjsonValue) array = glim_pyjson_value_new (GLIM_PYJSON_KIND_LIST);
  gsize path_len = ps->path->len;
  skip_ws (ps);
  if (ps->p < ps->end && *ps->p == ']') {
    ps->p++;
  } else {
    for (guint i = 0;; i++) {
      g_string_append_printf (ps->path, "[%u]", i);
      GlimPyjsonValue *item = parse_value (ps);
      g_string_truncate (ps->path, path_len);
      if (item == NULL)
        return NULL;
      g_ptr_array_add (array->items, item);
      skip_ws (ps);
      if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        break;
      }
      if (ps->p >= ps->end || *ps->p != ',')
        return syntax_error (ps, ps->p, "Expecting ',' delimiter");
      ps->p++;
    }
  }
  ps->depth--;
  return g_steal_pointer (&array);
}

static GlimPyjsonValue *
parse_object (Parser *ps)
{
  if (!enter (ps))
    return NULL;
  ps->p++;                                        /* '{' */
  g_autoptr (GlimPyjsonValue) dict = glim_pyjson_value_new (GLIM_PYJSON_KIND_DICT);
  gsize path_len = ps->path->len;
  skip_ws (ps);
  if (ps->p < ps->end && *ps->p == '}') {
    ps->p++;
  } else {
    for (;;) {
      if (ps->p >= ps->end || *ps->p != '"')
        return syntax_error (ps, ps->p, "Expecting property name enclosed in double quotes");
      g_autoptr (GString) key = parse_string (ps);
      if (key == NULL)
        return NULL;
      skip_ws (ps);
      if (ps->p >= ps->end || *ps->p != ':')
        return syntax_error (ps, ps->p, "Expecting ':' delimiter");
      ps->p++;
      g_string_append_printf (ps->path, ".%s", key->str);
      GlimPyjsonValue *item = parse_value (ps);
      g_string_truncate (ps->path, path_len);
      if (item == NULL)
        return NULL;
      glim_pyjson_value_set_item (dict, g_steal_pointer (&key), item);
      skip_ws (ps);
      if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        break;
      }
      if (ps->p >= ps->end || *ps->p != ',')
        return syntax_error (ps, ps->p, "Expecting ',' delimiter");
      ps->p++;
      skip_ws (ps);
    }
  }
  ps->depth--;
  return g_steal_pointer (&dict);
}

static GlimPyjsonValue *
parse_value (Parser *ps)
{
  skip_ws (ps);
  if (ps->p >= ps->end)
    return syntax_error (ps, ps->p, "Expecting value");
  GlimPyjsonValue *v;
  switch (*ps->p) {
  case '"': {
    GString *s = parse_string (ps);
    if (s == NULL)
      return NULL;
    v = glim_pyjson_value_new (GLIM_PYJSON_KIND_STRING);
    g_string_free (v->text, TRUE);
    v->text = s;
    return v;
  }
  case '{':
    return parse_object (ps);
  case '[':
    return parse_array (ps);
  default:
    break;
  }
  static const struct {
    const char    *word;
    GlimPyjsonKind kind;
    double         number;
  } words[] = {
    { "null", GLIM_PYJSON_KIND_NULL, 0 }, { "true", GLIM_PYJSON_KIND_TRUE, 0 },
    { "false", GLIM_PYJSON_KIND_FALSE, 0 }, { "NaN", GLIM_PYJSON_KIND_FLOAT, NAN },
    { "Infinity", GLIM_PYJSON_KIND_FLOAT, INFINITY },
    { "-Infinity", GLIM_PYJSON_KIND_FLOAT, -INFINITY },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (words); i++) {
    if (!looking_at (ps, words[i].word))
      continue;
    ps->p += strlen (words[i].word);
    v = glim_pyjson_value_new (words[i].kind);
    v->number = words[i].number;
    return v;
  }
  if (*ps->p == '-' || g_ascii_isdigit (*ps->p))
    return parse_number (ps);
  return syntax_error (ps, ps->p, "Expecting value");
}

static GlimPyjsonValue *
loads (const char *text, gssize len, const char *what, gboolean for_node, GError **error)
{
  g_return_val_if_fail (text != NULL || len == 0, NULL);
  if (len < 0)
    len = strlen (text);
  const char *bad = NULL;
  if (!g_utf8_validate_len (text, len, &bad)) {
    g_set_error (error, GLIM_PYJSON_ERROR, GLIM_PYJSON_ERROR_INVALID,
                 "%s: not valid UTF-8 at byte %ld", what != NULL && *what ? what : "request",
                 (long) (bad - text));
    return NULL;
  }
  g_autoptr (GString) path = g_string_new (NULL);
  Parser ps = { text, text + len, text, what, path, 0, for_node, error };
  g_autoptr (GlimPyjsonValue) root = parse_value (&ps);
  if (root == NULL)
    return NULL;
  skip_ws (&ps);
  if (ps.p != ps.end)
    return syntax_error (&ps, ps.p, "Extra data");
  return g_steal_pointer (&root);
}

GlimPyjsonValue *
glim_pyjson_value_loads (const char *text, gssize len, const char *what, GError **error)
{
  return loads (text, len, what, FALSE, error);
}

JsonNode *
glim_pyjson_loads (const char *text, gssize len, const char *what, GError **error)
{
  g_autoptr (GlimPyjsonValue) root = loads (text, len, what, TRUE, error);
  return root != NULL ? value_to_node (root) : NULL;
}

/* ---- checks for caller-built trees ---- */

static gboolean
check_fail (GError **error, const char *what, const GString *path, const char *msg)
{
  g_autofree char *name = value_name (what, path);
  g_set_error (error, GLIM_PYJSON_ERROR, GLIM_PYJSON_ERROR_INVALID, "%s: %s", name, msg);
  return FALSE;
}

static gboolean
check_node (JsonNode *node, const char *what, GString *path, int depth, GError **error)
{
  if (depth > GLIM_PYJSON_MAX_DEPTH)
    return check_fail (error, what, path, "nested too deeply");
  gsize len = path->len;
  switch (JSON_NODE_TYPE (node)) {
  case JSON_NODE_OBJECT: {
    JsonObjectIter it;
    const char *key;
    JsonNode *member;
    json_object_iter_init_ordered (&it, json_node_get_object (node));
    while (json_object_iter_next_ordered (&it, &key, &member)) {
      if (!g_utf8_validate (key, -1, NULL))
        return check_fail (error, what, path, "a member name is not valid UTF-8");
      g_string_append_printf (path, ".%s", key);
      gboolean ok = check_node (member, what, path, depth + 1, error);
      g_string_truncate (path, len);
      if (!ok)
        return FALSE;
    }
    return TRUE;
  }
  case JSON_NODE_ARRAY: {
    JsonArray *array = json_node_get_array (node);
    for (guint i = 0; i < json_array_get_length (array); i++) {
      g_string_append_printf (path, "[%u]", i);
      gboolean ok = check_node (json_array_get_element (array, i), what, path, depth + 1,
                                error);
      g_string_truncate (path, len);
      if (!ok)
        return FALSE;
    }
    return TRUE;
  }
  case JSON_NODE_VALUE:
    if (json_node_get_value_type (node) == G_TYPE_STRING &&
        !g_utf8_validate (json_node_get_string (node), -1, NULL))
      return check_fail (error, what, path, "string is not valid UTF-8");
    return TRUE;
  case JSON_NODE_NULL:
  default:
    return TRUE;
  }
}

gboolean
glim_pyjson_check (JsonNode *node, const char *what, GError **error)
{
  g_autoptr (GString) path = g_string_new (NULL);
  return check_node (node, what, path, 0, error);
}
