/* test-pyjson.c: engine/glim-pyjson.h against CPython 3.11's json module.
 * SPDX-License-Identifier: MIT
 * Every expected string is CPython 3.11's output for the expression named above its table;
 * tests/data/chat/float-repr.txt comes from tools/reference/make_chat_fixtures.py. Where Python
 * has no answer (invalid UTF-8, nesting limits) the comment says what Glimmer does instead. */
#include "glim-pyjson.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

#define ASCII GLIM_PYJSON_DUMP_ENSURE_ASCII
#define SORT  GLIM_PYJSON_DUMP_SORT_KEYS

/* ---- floats ---- */

/* json.dumps(x) for x = float.fromhex(hex), one per line of the fixture. */
static void
test_float_repr (void)
{
  g_autofree char *path = test_data_path ("chat", "float-repr.txt", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint checked = 0;
  g_autoptr (GString) out = g_string_new (NULL);
  for (char **line = lines; *line != NULL; line++) {
    if (**line == '#' || **line == '\0')
      continue;
    g_auto (GStrv) f = g_strsplit (*line, "\t", 2);
    g_assert_nonnull (f[1]);
    double v = g_ascii_strtod (f[0], NULL);
    g_string_truncate (out, 0);
    glim_pyjson_dump_float (out, v);
    if (strcmp (out->str, f[1]) != 0) {
      g_test_message ("%s: got %s, Python gives %s", f[0], out->str, f[1]);
      g_test_fail ();
    }
    checked++;
  }
  g_assert_cmpuint (checked, >=, 3000);
}

/* json.dumps(2.0 ** e) for the powers of two whose correctly rounded shortest digits do not read
 * back, so that repr takes the neighbouring string of the same length (the repr that
 * glim-json.c had before the merge printed 17 digits for these). */
static void
test_float_powers_of_two (void)
{
  static const struct {
    int         e;
    const char *want;
  } table[] = {
    { -1017, "7.120236347223045e-307" }, { -1007, "7.291122019556398e-304" },
    { -957, "8.209073602596753e-289" }, { -921, "5.641232424577593e-278" },
    { -808, "5.858190679279809e-244" }, { -791, "7.678447687145631e-239" },
    { -788, "6.142758149716505e-238" }, { -778, "6.290184345309701e-235" },
    { -705, "5.940911144672375e-213" }, { -695, "6.083493012144512e-210" },
    { -662, "5.225680706521042e-200" }, { -652, "5.351097043477547e-197" },
    { -549, "5.426657103235053e-166" }, { -509, "5.966672584960166e-154" },
    { -496, "4.887898181599368e-150" }, { -489, "6.256509672447191e-148" },
    { -383, "5.075883674631299e-116" }, { -366, "6.653062250012736e-111" },
    { -296, "7.854549544476363e-90" }, { -140, "7.174648137343064e-43" },
    { -97, "6.310887241768095e-30" }, { -77, "6.617444900424222e-24" },
    { -44, "5.684341886080802e-14" }, { -24, "5.960464477539063e-08" },
    { 89, "6.189700196426902e+26" }, { 122, "5.316911983139664e+36" },
    { 132, "5.444517870735016e+39" }, { 172, "5.986310706507379e+51" },
    { 182, "6.129982163463556e+54" }, { 275, "6.070840288205404e+82" },
    { 305, "6.518515124270356e+91" }, { 345, "7.167183174968974e+103" },
    { 378, "6.156563468186638e+113" }, { 398, "6.455624695217272e+119" },
    { 405, "8.263199609878108e+121" }, { 481, "6.243497100631985e+144" },
    { 534, "5.623642243178996e+160" }, { 544, "5.758609657015292e+163" },
    { 554, "5.896816288783659e+166" }, { 574, "6.183260036827614e+172" },
    { 594, "6.483618076376552e+178" }, { 710, "5.386379163185535e+213" },
    { 803, "5.334411546303884e+241" }, { 863, "6.150157786156811e+259" },
    { 896, "5.282945311356653e+269" }, { 976, "6.386688990511104e+293" },
  };
  g_autoptr (GString) out = g_string_new (NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++) {
    g_string_truncate (out, 0);
    glim_pyjson_dump_float (out, ldexp (1.0, table[i].e));
    g_assert_cmpstr (out->str, ==, table[i].want);
    g_string_truncate (out, 0);
    glim_pyjson_dump_float (out, -ldexp (1.0, table[i].e));
    g_assert_cmpint (out->str[0], ==, '-');
    g_assert_cmpstr (out->str + 1, ==, table[i].want);
  }
}

/* ---- strings ---- */

/* s = '"\\/\b\f\n\r\t\x01\x1f\x7f é\u2028\U0001F600\uffff\x00':
 * json.dumps(s)[1:-1] and json.dumps(s, ensure_ascii=False)[1:-1]. */
static void
test_escape (void)
{
  static const char in[] = "\"\\/\010\014\n\015\t\001\037\177 é\342\200\250😀\357\277\277\000";
  g_autoptr (GString) out = g_string_new (NULL);
  glim_pyjson_escape (out, in, sizeof in - 1, ASCII);
  g_assert_cmpstr (out->str, ==,
                   "\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f \\u00e9\\u2028\\ud83d"
                   "\\ude00\\uffff\\u0000");
  g_string_truncate (out, 0);
  glim_pyjson_escape (out, in, sizeof in - 1, GLIM_PYJSON_DUMP_NONE);
  g_assert_cmpstr (out->str, ==,
                   "\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\177 é\342\200\250😀\357\277\277"
                   "\\u0000");

  /* the same rules from tests/test-parser.c (escape-and-strip), where this check began */
  const char in2[] = "\"\\/\b\f\n\r\t\x01\x1f\x7f é\xe2\x80\xa8\0";
  g_string_truncate (out, 0);
  glim_pyjson_escape (out, in2, sizeof in2 - 1, GLIM_PYJSON_DUMP_NONE);
  g_assert_cmpstr (out->str, ==,
                   "\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f é\xe2\x80\xa8\\u0000");

  /* len -1 reads to the NUL; dump_string adds the quotes */
  g_string_truncate (out, 0);
  glim_pyjson_dump_string (out, "a\"b\xc3\xa9", -1, ASCII);
  g_assert_cmpstr (out->str, ==, "\"a\\\"b\\u00e9\"");
  g_string_truncate (out, 0);
  glim_pyjson_dump_string (out, "", -1, GLIM_PYJSON_DUMP_NONE);
  g_assert_cmpstr (out->str, ==, "\"\"");
}

/* A lone surrogate, held as WTF-8 (what loads keeps of "\ud800"), against json.dumps(s) for the
 * Python str s: with ensure_ascii that is exactly Python's text. Without it Python would write the
 * surrogate itself, which no UTF-8 text can hold, so Glimmer writes the same escape: json.loads
 * reads it back as it reads Python's ensure_ascii output (the tool parser's choice since it began;
 * glim-json.c wrote \ufffd\ufffd\ufffd and the raw bytes before the merge). */
static void
test_escape_lone_surrogates (void)
{
  static const char *const table[][2] = {
    { "\355\240\200", "\"\\ud800\"" },
    { "a\355\257\277b", "\"a\\udbffb\"" },
    { "\355\260\200", "\"\\udc00\"" },
    { "\355\277\277", "\"\\udfff\"" },
    { "\355\240\275x\355\270\200", "\"\\ud83dx\\ude00\"" },
    { "\355\240\275\355\270\200", "\"\\ud83d\\ude00\"" },
  };
  g_autoptr (GString) out = g_string_new (NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++) {
    g_string_truncate (out, 0);
    glim_pyjson_dump_string (out, table[i][0], -1, ASCII);
    g_assert_cmpstr (out->str, ==, table[i][1]);
    g_string_truncate (out, 0);
    glim_pyjson_dump_string (out, table[i][0], -1, GLIM_PYJSON_DUMP_NONE);
    g_assert_cmpstr (out->str, ==, table[i][1]);
  }
}

/* Invalid UTF-8 cannot come out of Python. Glimmer's rule: with ensure_ascii each bad byte becomes
 * \ufffd (so the file stays ASCII); without it the bytes pass through unchanged. */
static void
test_escape_invalid_utf8 (void)
{
  static const char *const table[][2] = {
    { "\xff", "\\ufffd" },
    { "a\xe2\x82z", "a\\ufffd\\ufffdz" },                       /* truncated sequence */
    { "\xc0\x80", "\\ufffd\\ufffd" },                           /* overlong NUL */
    { "\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd" },     /* above U+10FFFF */
    { "\xe2\x82\xac\x80", "\\u20ac\\ufffd" },                   /* stray continuation byte */
  };
  g_autoptr (GString) out = g_string_new (NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++) {
    g_string_truncate (out, 0);
    glim_pyjson_escape (out, table[i][0], -1, ASCII);
    g_assert_cmpstr (out->str, ==, table[i][1]);
    g_string_truncate (out, 0);
    glim_pyjson_escape (out, table[i][0], -1, GLIM_PYJSON_DUMP_NONE);
    g_assert_cmpstr (out->str, ==, table[i][0]);
  }
}

/* ---- trees ---- */

static const char big_json[] =
  "{\"b\": 1, \"a\": [1.5, -0.0, 1e-05, 100000.0, 1e16, true, false, null], \"c\": {}, \"d"
  "\": [], \"e\": {\"z\": \"\\u00e9\\ud83d\\ude00\", \"y\": [[], {}], \"x\": -7}}";
static const char keys_json[] =
  "{\"\\u00e9\": 1, \"z\": 2, \"Z\": 3, \"a\": 4, \"ab\": 5, \"\\ud83d\\ude00\": 6, \""
  "\\uffff\": 7, \"\": 8, \"a b\": 9}";
static const char numbers_json[] =
  "[NaN, Infinity, -Infinity, 1.7976931348623157e308, 5e-324, 0.1, 123456789012345678]";

/* json.dumps(json.loads(JSON), indent=INDENT or None, sort_keys=SORT, ensure_ascii=ASCII),
 * through a JsonNode and through the lossless tree. */
static void
test_dump (void)
{
  static const struct {
    const char         *json;
    guint               indent;
    GlimPyjsonDumpFlags flags;
    const char         *want;
  } table[] = {
    { big_json, 0, ASCII,
      "{\"b\": 1, \"a\": [1.5, -0.0, 1e-05, 100000.0, 1e+16, true, false, null], \"c\": {}, "
      "\"d\": [], \"e\": {\"z\": \"\\u00e9\\ud83d\\ude00\", \"y\": [[], {}], \"x\": -7}}" },
    { big_json, 0, 0,
      "{\"b\": 1, \"a\": [1.5, -0.0, 1e-05, 100000.0, 1e+16, true, false, null], \"c\": {}, "
      "\"d\": [], \"e\": {\"z\": \"é😀\", \"y\": [[], {}], \"x\": -7}}" },
    { big_json, 0, ASCII | SORT,
      "{\"a\": [1.5, -0.0, 1e-05, 100000.0, 1e+16, true, false, null], \"b\": 1, \"c\": {}, "
      "\"d\": [], \"e\": {\"x\": -7, \"y\": [[], {}], \"z\": \"\\u00e9\\ud83d\\ude00\"}}" },
    { big_json, 2, ASCII | SORT,
      "{\n  \"a\": [\n    1.5,\n    -0.0,\n    1e-05,\n    100000.0,\n    1e+16,\n    true,"
      "\n    false,\n    null\n  ],\n  \"b\": 1,\n  \"c\": {},\n  \"d\": [],\n  \"e\": {\n   "
      " \"x\": -7,\n    \"y\": [\n      [],\n      {}\n    ],\n    \"z\": \"\\u00e9\\ud83d"
      "\\ude00\"\n  }\n}" },
    { big_json, 4, ASCII,
      "{\n    \"b\": 1,\n    \"a\": [\n        1.5,\n        -0.0,\n        1e-05,\n        "
      "100000.0,\n        1e+16,\n        true,\n        false,\n        null\n    ],\n    "
      "\"c\": {},\n    \"d\": [],\n    \"e\": {\n        \"z\": \"\\u00e9\\ud83d\\ude00\",\n "
      "       \"y\": [\n            [],\n            {}\n        ],\n        \"x\": -7\n    "
      "}\n}" },
    { big_json, 4, SORT,
      "{\n    \"a\": [\n        1.5,\n        -0.0,\n        1e-05,\n        100000.0,\n     "
      "   1e+16,\n        true,\n        false,\n        null\n    ],\n    \"b\": 1,\n    "
      "\"c\": {},\n    \"d\": [],\n    \"e\": {\n        \"x\": -7,\n        \"y\": [\n      "
      "      [],\n            {}\n        ],\n        \"z\": \"é😀\"\n    }\n}" },
    { keys_json, 0, ASCII | SORT,
      "{\"\": 8, \"Z\": 3, \"a\": 4, \"a b\": 9, \"ab\": 5, \"z\": 2, \"\\u00e9\": 1, \""
      "\\uffff\": 7, \"\\ud83d\\ude00\": 6}" },
    { keys_json, 0, SORT,
      "{\"\": 8, \"Z\": 3, \"a\": 4, \"a b\": 9, \"ab\": 5, \"z\": 2, \"é\": 1, \"\357\277"
      "\277\": 7, \"😀\": 6}" },
    { keys_json, 2, 0,
      "{\n  \"é\": 1,\n  \"z\": 2,\n  \"Z\": 3,\n  \"a\": 4,\n  \"ab\": 5,\n  \"😀\": 6,\n  "
      "\"\357\277\277\": 7,\n  \"\": 8,\n  \"a b\": 9\n}" },
    { "[]", 2, ASCII,
      "[]" },
    { "{}", 2, ASCII | SORT,
      "{}" },
    { "[[], {}]", 0, ASCII,
      "[[], {}]" },
    { "\"\\u2028\\u007f\"", 0, ASCII,
      "\"\\u2028\\u007f\"" },
    { "\"\\u2028\\u007f\"", 0, 0,
      "\"\342\200\250\177\"" },
    { "[{\"a\": {\"b\": [1, [2, [3]]]}}]", 2, ASCII,
      "[\n  {\n    \"a\": {\n      \"b\": [\n        1,\n        [\n          2,\n          "
      "[\n            3\n          ]\n        ]\n      ]\n    }\n  }\n]" },
    { numbers_json, 0, ASCII,
      "[NaN, Infinity, -Infinity, 1.7976931348623157e+308, 5e-324, 0.1, 123456789012345678]" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (JsonNode) node = glim_pyjson_loads (table[i].json, -1, "test", &error);
    g_assert_no_error (error);
    g_autoptr (GString) out = g_string_new (NULL);
    glim_pyjson_dump (out, node, table[i].indent, table[i].flags);
    g_assert_cmpstr (out->str, ==, table[i].want);

    g_autoptr (GlimPyjsonValue) value = glim_pyjson_value_loads (table[i].json, -1, "test",
                                                                 &error);
    g_assert_no_error (error);
    g_string_truncate (out, 0);
    glim_pyjson_value_dump (out, value, table[i].indent, table[i].flags);
    g_assert_cmpstr (out->str, ==, table[i].want);
  }
}

/* ---- loads ---- */

/* json.dumps(json.loads(JSON)), NULL where json.loads raises. */
static void
test_loads_value (void)
{
  static const char *const table[][2] = {
    { "1", "1" },
    { "-0", "0" },
    { "-0.0", "-0.0" },
    { "1.0", "1.0" },
    { "1E400", "Infinity" },
    { "-1e400", "-Infinity" },
    { "1e-400", "0.0" },
    { "12345678901234567890123", "12345678901234567890123" },
    { "-9223372036854775809", "-9223372036854775809" },
    { "\"\\u0000\"", "\"\\u0000\"" },
    { "\"\\ud800\"", "\"\\ud800\"" },
    { "\"\\ud83d\\ude00\"", "\"\\ud83d\\ude00\"" },
    { "\"\\ude00\\ud83d\"", "\"\\ude00\\ud83d\"" },
    { "\"\\ud800\\ud800\\udc00\"", "\"\\ud800\\ud800\\udc00\"" },
    { "\"\\/\\b\\f\\n\\r\\t\"", "\"/\\b\\f\\n\\r\\t\"" },
    { "{\"a\":1,\"b\":2,\"a\":3}", "{\"a\": 3, \"b\": 2}" },
    { "[1,]", NULL },
    { "[01]", NULL },
    { "{\"a\" :1 }", "{\"a\": 1}" },
    { " \t\n\015[ ] ", "[]" },
    { "['a']", NULL },
    { "{\"a\":1,}", NULL },
    { "\"\t\"", NULL },
    { "\"\177\"", "\"\\u007f\"" },
    { "NaN", "NaN" },
    { "-NaN", NULL },
    { "Infinity", "Infinity" },
    { "-Infinity", "-Infinity" },
    { "infinity", NULL },
    { "true ", "true" },
    { "True", NULL },
    { "1.", NULL },
    { ".5", NULL },
    { "1e5", "100000.0" },
    { "1E+5", "100000.0" },
    { "1e", NULL },
    { "-", NULL },
    { "\"\\x\"", NULL },
    { "\"\\u12\"", NULL },
    { "\"abc", NULL },
    { "\357\273\2771", NULL },
    { "[1] 2", NULL },
    { "", NULL },
    { " ", NULL },
    { "{\"a\": [1, {\"b\": null}]}", "{\"a\": [1, {\"b\": null}]}" },
    { "\"é😀\"", "\"\\u00e9\\ud83d\\ude00\"" },
    { "0x10", NULL },
    { "+1", NULL },
    { "[1 2]", NULL },
    { "{\"a\" 1}", NULL },
    { "{1: 2}", NULL },
    { "{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,"
      "\"k9\":9,\"k3\":\"x\",\"k10\":10,\"k0\":\"y\",\"k10\":\"z\"}",
      "{\"k0\": \"y\", \"k1\": 1, \"k2\": 2, \"k3\": \"x\", \"k4\": 4, \"k5\": 5, \"k6\": "
      "6, \"k7\": 7, \"k8\": 8, \"k9\": 9, \"k10\": \"z\"}" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GlimPyjsonValue) value = glim_pyjson_value_loads (table[i][0], -1, "test",
                                                                 &error);
    if (table[i][1] == NULL) {
      if (value != NULL)
        g_test_message ("case %zu: read, Python refuses it", i);
      g_assert_null (value);
      g_assert_error (error, GLIM_PYJSON_ERROR, GLIM_PYJSON_ERROR_INVALID);
      continue;
    }
    g_assert_no_error (error);
    g_autoptr (GString) out = g_string_new (NULL);
    glim_pyjson_value_dump (out, value, 0, ASCII);
    g_assert_cmpstr (out->str, ==, table[i][1]);
  }
}

/* Integers of up to 4300 digits (Python 3.11's limit: json.loads('1' * 4301) raises ValueError),
 * and GLIM_PYJSON_MAX_DEPTH levels of nesting (Python's own limit is its recursion limit). */
static void
test_loads_limits (void)
{
  g_autoptr (GString) digits = g_string_new ("-");
  for (int i = 0; i < 4300; i++)
    g_string_append_c (digits, '7');
  g_autoptr (GlimPyjsonValue) big = glim_pyjson_value_loads (digits->str, -1, NULL, NULL);
  g_assert_nonnull (big);
  g_assert_cmpstr (big->text->str, ==, digits->str);
  g_string_append_c (digits, '7');
  g_autoptr (GError) error = NULL;
  g_assert_null (glim_pyjson_value_loads (digits->str, -1, NULL, &error));
  g_assert_error (error, GLIM_PYJSON_ERROR, GLIM_PYJSON_ERROR_INVALID);
  g_clear_error (&error);

  g_autoptr (GString) deep = g_string_new (NULL);
  for (int i = 0; i < GLIM_PYJSON_MAX_DEPTH; i++)
    g_string_append_c (deep, '[');
  for (int i = 0; i < GLIM_PYJSON_MAX_DEPTH; i++)
    g_string_append_c (deep, ']');
  g_autoptr (GlimPyjsonValue) nested = glim_pyjson_value_loads (deep->str, -1, NULL, NULL);
  g_assert_nonnull (nested);
  g_string_prepend_c (deep, '[');
  g_string_append_c (deep, ']');
  g_assert_null (glim_pyjson_value_loads (deep->str, -1, "deep", &error));
  g_assert_error (error, GLIM_PYJSON_ERROR, GLIM_PYJSON_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "nested deeper than 512 levels"));
}

/* A JsonNode gets gint64 ints and doubles as json.loads gets int and float, keeps a repeated key
 * at its first place, and refuses what it cannot hold, naming where it is. */
static void
test_loads_node (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = glim_pyjson_loads (
    "[1, 1.0, 1e2, -0, -9223372036854775808, true, null, \"x\"]", -1, "test", &error);
  g_assert_no_error (error);
  JsonArray *a = json_node_get_array (node);
  g_assert_cmpint (json_node_get_value_type (json_array_get_element (a, 0)), ==, G_TYPE_INT64);
  g_assert_cmpint (json_array_get_int_element (a, 0), ==, 1);
  g_assert_cmpint (json_node_get_value_type (json_array_get_element (a, 1)), ==, G_TYPE_DOUBLE);
  g_assert_cmpint (json_node_get_value_type (json_array_get_element (a, 2)), ==, G_TYPE_DOUBLE);
  g_assert_cmpfloat (json_array_get_double_element (a, 2), ==, 100.0);
  g_assert_cmpint (json_array_get_int_element (a, 3), ==, 0);
  g_assert_cmpint (json_array_get_int_element (a, 4), ==, G_MININT64);
  g_assert_true (json_array_get_boolean_element (a, 5));
  g_assert_true (json_array_get_null_element (a, 6));
  g_assert_cmpstr (json_array_get_string_element (a, 7), ==, "x");

  g_autoptr (JsonNode) dup = glim_pyjson_loads ("{\"a\": 1, \"b\": 2, \"a\": 3}", -1, NULL,
                                                &error);
  g_assert_no_error (error);
  g_autoptr (GList) members = json_object_get_members (json_node_get_object (dup));
  g_assert_cmpuint (g_list_length (members), ==, 2);
  g_assert_cmpstr (members->data, ==, "a");
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (dup), "a"), ==, 3);

  static const char *const refused[][2] = {
    { "{\"n\": 9223372036854775808}", "test.n: integer 9223372036854775808 does not fit" },
    { "[\"a\\u0000\"]", "test[0]: string holds \\u0000" },
    { "{\"k\": [\"\\udc00\"]}", "test.k[0]: string holds a lone UTF-16 surrogate \\udc00" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_assert_null (glim_pyjson_loads (refused[i][0], -1, "test", &error));
    g_assert_error (error, GLIM_PYJSON_ERROR, GLIM_PYJSON_ERROR_INVALID);
    g_assert_true (g_str_has_prefix (error->message, refused[i][1]));
    g_clear_error (&error);
    g_autoptr (GlimPyjsonValue) kept = glim_pyjson_value_loads (refused[i][0], -1, "test",
                                                                &error);
    g_assert_no_error (error);
    g_assert_nonnull (kept);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/glimmer/pyjson/float-repr", test_float_repr);
  g_test_add_func ("/glimmer/pyjson/float-powers-of-two", test_float_powers_of_two);
  g_test_add_func ("/glimmer/pyjson/escape", test_escape);
  g_test_add_func ("/glimmer/pyjson/escape-lone-surrogates", test_escape_lone_surrogates);
  g_test_add_func ("/glimmer/pyjson/escape-invalid-utf8", test_escape_invalid_utf8);
  g_test_add_func ("/glimmer/pyjson/dump", test_dump);
  g_test_add_func ("/glimmer/pyjson/loads-value", test_loads_value);
  g_test_add_func ("/glimmer/pyjson/loads-limits", test_loads_limits);
  g_test_add_func ("/glimmer/pyjson/loads-node", test_loads_node);
  return g_test_run ();
}
