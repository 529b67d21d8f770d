/* glim-json.c: JSON text in Python's json.dumps / serde_json style (json-glib's generator
 * writes "1.0000000000000001e-05" and "key" : value, which no Python tool would).
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-json"

#include "glim-json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
glim_json_append_string (GString *out, const char *s, gboolean ensure_ascii)
{
  g_string_append_c (out, '"');
  for (const char *p = s; *p != '\0';) {
    guchar c = (guchar) *p;
    switch (c) {
    case '"':  g_string_append (out, "\\\""); p++; continue;
    case '\\': g_string_append (out, "\\\\"); p++; continue;
    case '\b': g_string_append (out, "\\b"); p++; continue;
    case '\f': g_string_append (out, "\\f"); p++; continue;
    case '\n': g_string_append (out, "\\n"); p++; continue;
    case '\r': g_string_append (out, "\\r"); p++; continue;
    case '\t': g_string_append (out, "\\t"); p++; continue;
    default: break;
    }
    if (c < 0x20 || (ensure_ascii && c == 0x7f)) {
      g_string_append_printf (out, "\\u%04x", c);
      p++;
    } else if (c < 0x80 || !ensure_ascii) {
      g_string_append_c (out, (char) c);
      p++;
    } else {
      gunichar u = g_utf8_get_char_validated (p, -1);
      if (u == (gunichar) -1 || u == (gunichar) -2) {
        g_string_append (out, "\\ufffd");          /* invalid UTF-8: one replacement per byte */
        p++;
        continue;
      }
      if (u >= 0x10000) {                          /* UTF-16 surrogate pair, as Python writes */
        gunichar v = u - 0x10000;
        g_string_append_printf (out, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
      } else {
        g_string_append_printf (out, "\\u%04x", u);
      }
      p = g_utf8_next_char (p);
    }
  }
  g_string_append_c (out, '"');
}

void
glim_json_append_double (GString *out, double v)
{
  if (isnan (v)) {
    g_string_append (out, "NaN");
    return;
  }
  if (isinf (v)) {
    g_string_append (out, v < 0 ? "-Infinity" : "Infinity");
    return;
  }
  if (signbit (v))
    g_string_append_c (out, '-');
  v = fabs (v);
  if (v == 0.0) {
    g_string_append (out, "0.0");
    return;
  }
  /* Shortest digit string that round-trips: "%.{p-1}e" for increasing p. */
  char buf[40];
  for (int p = 1; p <= 17; p++) {
    snprintf (buf, sizeof buf, "%.*e", p - 1, v);
    if (strtod (buf, NULL) == v)
      break;
  }
  char *e = strchr (buf, 'e');
  int exp10 = atoi (e + 1);
  char digits[24];
  int n = 0;
  for (const char *q = buf; q < e; q++)
    if (*q != '.')
      digits[n++] = *q;
  while (n > 1 && digits[n - 1] == '0')
    n--;
  digits[n] = '\0';
  int decpt = exp10 + 1;                           /* value = 0.DIGITS * 10^decpt */
  if (decpt <= -4 || decpt > 16) {                 /* Python's repr switches to exponents here */
    g_string_append_c (out, digits[0]);
    if (n > 1) {
      g_string_append_c (out, '.');
      g_string_append (out, digits + 1);
    }
    g_string_append_printf (out, "e%c%02d", exp10 < 0 ? '-' : '+', abs (exp10));
  } else if (decpt <= 0) {
    g_string_append (out, "0.");
    for (int i = 0; i < -decpt; i++)
      g_string_append_c (out, '0');
    g_string_append (out, digits);
  } else if (decpt >= n) {
    g_string_append (out, digits);
    for (int i = n; i < decpt; i++)
      g_string_append_c (out, '0');
    g_string_append (out, ".0");
  } else {
    g_string_append_len (out, digits, decpt);
    g_string_append_c (out, '.');
    g_string_append (out, digits + decpt);
  }
}

static void
newline (GString *out, guint indent, guint depth)
{
  if (indent == 0)
    return;
  g_string_append_c (out, '\n');
  for (guint i = 0; i < indent * depth; i++)
    g_string_append_c (out, ' ');
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
append_node (GString *out, JsonNode *node, guint indent, gboolean sort_keys, guint depth)
{
  const char *item_sep = indent ? "," : ", ";
  switch (json_node_get_node_type (node)) {
  case JSON_NODE_NULL:
    g_string_append (out, "null");
    break;
  case JSON_NODE_VALUE: {
    GType t = json_node_get_value_type (node);
    if (t == G_TYPE_INT64)
      g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
    else if (t == G_TYPE_DOUBLE)
      glim_json_append_double (out, json_node_get_double (node));
    else if (t == G_TYPE_BOOLEAN)
      g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
    else
      glim_json_append_string (out, json_node_get_string (node), TRUE);
    break;
  }
  case JSON_NODE_ARRAY: {
    JsonArray *a = json_node_get_array (node);
    guint n = json_array_get_length (a);
    if (n == 0) {
      g_string_append (out, "[]");
      break;
    }
    g_string_append_c (out, '[');
    for (guint i = 0; i < n; i++) {
      if (i > 0)
        g_string_append (out, item_sep);
      newline (out, indent, depth + 1);
      append_node (out, json_array_get_element (a, i), indent, sort_keys, depth + 1);
    }
    newline (out, indent, depth);
    g_string_append_c (out, ']');
    break;
  }
  case JSON_NODE_OBJECT: {
    JsonObject *o = json_node_get_object (node);
    g_autoptr (GPtrArray) keys = g_ptr_array_new ();
    GList *members = json_object_get_members (o);    /* insertion order, as Python dicts */
    for (GList *l = members; l != NULL; l = l->next)
      g_ptr_array_add (keys, l->data);
    g_list_free (members);
    if (keys->len == 0) {
      g_string_append (out, "{}");
      break;
    }
    if (sort_keys)
      g_ptr_array_sort (keys, compare_strings);
    g_string_append_c (out, '{');
    for (guint i = 0; i < keys->len; i++) {
      const char *k = g_ptr_array_index (keys, i);
      if (i > 0)
        g_string_append (out, item_sep);
      newline (out, indent, depth + 1);
      glim_json_append_string (out, k, TRUE);
      g_string_append (out, ": ");
      append_node (out, json_object_get_member (o, k), indent, sort_keys, depth + 1);
    }
    newline (out, indent, depth);
    g_string_append_c (out, '}');
    break;
  }
  }
}

char *
glim_json_to_string (JsonNode *node, guint indent, gboolean sort_keys)
{
  g_return_val_if_fail (node != NULL, NULL);
  GString *out = g_string_new (NULL);
  append_node (out, node, indent, sort_keys, 0);
  return g_string_free (out, FALSE);
}
