/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-json.h"

static CocoonJson *
parse_ok(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	CocoonJson *node = cocoon_json_parse(text, strlen(text), &error);

	g_assert_no_error(error);
	g_assert_nonnull(node);
	return node;
}

static void
assert_parse_fails(const gchar *text, gsize length, gint code, const gchar *message_part)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonJson) node = cocoon_json_parse(text, length, &error);

	g_assert_null(node);
	g_assert_error(error, COCOON_JSON_ERROR, code);
	if (message_part != NULL && strstr(error->message, message_part) == NULL)
		g_error("\"%s\" not in error \"%s\"", message_part, error->message);
}

static void
assert_invalid(const gchar *text)
{
	assert_parse_fails(text, strlen(text), COCOON_JSON_ERROR_INVALID, NULL);
}

/* compact output of text equals expected */
static void
assert_compact(const gchar *text, const gchar *expected)
{
	g_autoptr(CocoonJson) node = parse_ok(text);
	g_autofree gchar *out = cocoon_json_to_string(node, FALSE);

	g_assert_cmpstr(out, ==, expected);
}

static void
test_json_roundtrip(void)
{
	const gchar *docs[] = {
		"null",
		"true",
		"false",
		"0",
		"-0",
		"1.10",
		"-1.5e-300",
		"6.02E+23",
		"\"\"",
		"[]",
		"{}",
		"[1,[2,[3,{}]],\"x\"]",
		"{\"b\":1,\"a\":{\"z\":[],\"y\":null},\"c\":[true,false]}",
		"18446744073709551615",
		"123456789012345678901234567890",
	};

	for (guint i = 0; i < G_N_ELEMENTS(docs); i++) {
		g_autoptr(CocoonJson) node = parse_ok(docs[i]);
		g_autofree gchar *compact = cocoon_json_to_string(node, FALSE);
		g_autofree gchar *pretty = cocoon_json_to_string(node, TRUE);
		g_autoptr(CocoonJson) again = parse_ok(pretty);
		g_autofree gchar *compact_again = cocoon_json_to_string(again, FALSE);

		g_assert_cmpstr(compact, ==, docs[i]);
		g_assert_true(cocoon_json_equal(node, again));
		g_assert_cmpstr(compact_again, ==, docs[i]);
	}
	assert_compact(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n ", "{\"a\":[1,2]}");
}

static void
test_json_pretty(void)
{
	g_autoptr(CocoonJson) node = parse_ok("{\"a\":[1,{}],\"b\":{\"c\":\"d\"},\"e\":[]}");
	g_autofree gchar *pretty = cocoon_json_to_string(node, TRUE);

	g_assert_cmpstr(pretty, ==,
			"{\n"
			"  \"a\": [\n"
			"    1,\n"
			"    {}\n"
			"  ],\n"
			"  \"b\": {\n"
			"    \"c\": \"d\"\n"
			"  },\n"
			"  \"e\": []\n"
			"}");
}

static void
test_json_escapes(void)
{
	g_autoptr(CocoonJson) node =
		parse_ok("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u0001\\u001F\"");
	g_autofree gchar *out = NULL;

	g_assert_cmpstr(cocoon_json_get_string(node), ==, "q\" b\\ s/ \b\f\n\r\t \001\037");
	out = cocoon_json_to_string(node, FALSE);
	/* the solidus needs no escape; other control characters become \u00XX */
	g_assert_cmpstr(out, ==, "\"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t \\u0001\\u001f\"");

	assert_invalid("\"\\x\"");
	assert_invalid("\"\\u12\"");
	assert_invalid("\"\\u12G4\"");
	assert_invalid("\"\\");
	assert_invalid("\"abc");
	assert_invalid("\"tab\there\"");
	assert_invalid("\"new\nline\"");
	assert_compact("\"\x7f\"", "\"\x7f\"");
}

static void
test_json_unicode(void)
{
	g_autoptr(CocoonJson) node = NULL;
	g_autoptr(CocoonJson) nul = NULL;
	g_autofree gchar *out = NULL;
	gsize length = 0;
	const gchar *value;

	/* \u escapes, surrogate pairs, and raw UTF-8 all give the same UTF-8 */
	node = parse_ok(
		"[\"\\u00e9\",\"\\uD83D\\uDE00\",\"\xc3\xa9\xf0\x9f\x98\x80\",\"\\u20AC\"]");
	g_assert_cmpstr(cocoon_json_get_string(cocoon_json_array_get(node, 0)), ==, "\xc3\xa9");
	g_assert_cmpstr(cocoon_json_get_string(cocoon_json_array_get(node, 1)), ==,
			"\xf0\x9f\x98\x80");
	g_assert_cmpstr(cocoon_json_get_string(cocoon_json_array_get(node, 2)), ==,
			"\xc3\xa9\xf0\x9f\x98\x80");
	g_assert_cmpstr(cocoon_json_get_string(cocoon_json_array_get(node, 3)), ==, "\xe2\x82\xac");
	out = cocoon_json_to_string(node, FALSE);
	g_assert_cmpstr(out, ==,
			"[\"\xc3\xa9\",\"\xf0\x9f\x98\x80\",\"\xc3\xa9\xf0\x9f\x98\x80\","
			"\"\xe2\x82\xac\"]");

	/* lone or misordered surrogates */
	assert_parse_fails("\"\\ud800\"", 8, COCOON_JSON_ERROR_INVALID, "unpaired high surrogate");
	assert_parse_fails("\"\\udc00\"", 8, COCOON_JSON_ERROR_INVALID, "unpaired low surrogate");
	assert_invalid("\"\\ud800\\u0041\"");
	assert_invalid("\"\\ud800x\"");
	assert_invalid("\"\\udc00\\ud800\"");

	/* malformed UTF-8: overlong, encoded surrogate, truncated, stray continuation, 0xff,
	 * beyond U+10FFFF */
	assert_invalid("\"\xc0\x80\"");
	assert_invalid("\"\xed\xa0\x80\"");
	assert_invalid("\"\xe2\x82\"");
	assert_invalid("\"\x80\"");
	assert_invalid("\"\xff\"");
	assert_invalid("\"\xf4\x90\x80\x80\"");
	assert_invalid("\xc3\xa9");
	/* a raw NUL is a control character */
	assert_parse_fails("\"a\0b\"", 5, COCOON_JSON_ERROR_INVALID, "control character");

	/* \u0000 is kept in values, with its length */
	nul = parse_ok("\"a\\u0000b\"");
	value = cocoon_json_get_string_len(nul, &length);
	g_assert_cmpuint(length, ==, 3);
	g_assert_cmpmem(value, length, "a\0b", 3);
	g_clear_pointer(&out, g_free);
	out = cocoon_json_to_string(nul, FALSE);
	g_assert_cmpstr(out, ==, "\"a\\u0000b\"");
	/* but never in member names */
	assert_parse_fails("{\"a\\u0000b\":1}", 14, COCOON_JSON_ERROR_INVALID, "U+0000");
}

static void
test_json_numbers(void)
{
	g_autoptr(CocoonJson) node =
		parse_ok("[18446744073709551615,18446744073709551616,-9223372036854775808,"
			 "-9223372036854775809,9223372036854775807,1.5,1e3,1e400,1e-400,-0,-1]");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	guint64 u = 0;
	gint64 i = 0;
	gdouble d = 0;

	g_assert_true(cocoon_json_get_uint64(cocoon_json_array_get(node, 0), &u, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(u, ==, G_MAXUINT64);
	g_assert_false(cocoon_json_get_int64(cocoon_json_array_get(node, 0), &i, &error));
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_RANGE);
	g_clear_error(&error);
	g_assert_false(cocoon_json_get_uint64(cocoon_json_array_get(node, 1), &u, &error));
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_RANGE);
	g_clear_error(&error);
	g_assert_cmpuint(u, ==, G_MAXUINT64); /* untouched on failure */

	g_assert_true(cocoon_json_get_int64(cocoon_json_array_get(node, 2), &i, NULL));
	g_assert_cmpint(i, ==, G_MININT64);
	g_assert_false(cocoon_json_get_int64(cocoon_json_array_get(node, 3), &i, &error));
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_RANGE);
	g_clear_error(&error);
	g_assert_true(cocoon_json_get_int64(cocoon_json_array_get(node, 4), &i, NULL));
	g_assert_cmpint(i, ==, G_MAXINT64);

	/* not integers */
	g_assert_false(cocoon_json_get_int64(cocoon_json_array_get(node, 5), &i, &error));
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_TYPE);
	g_clear_error(&error);
	g_assert_false(cocoon_json_get_uint64(cocoon_json_array_get(node, 6), &u, &error));
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_TYPE);
	g_clear_error(&error);

	g_assert_true(cocoon_json_get_double(cocoon_json_array_get(node, 5), &d, NULL));
	g_assert_cmpfloat(d, ==, 1.5);
	g_assert_true(cocoon_json_get_double(cocoon_json_array_get(node, 6), &d, NULL));
	g_assert_cmpfloat(d, ==, 1000.0);
	g_assert_false(cocoon_json_get_double(cocoon_json_array_get(node, 7), &d, &error));
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_RANGE);
	g_clear_error(&error);
	g_assert_true(cocoon_json_get_double(cocoon_json_array_get(node, 8), &d, NULL));
	g_assert_cmpfloat(d, ==, 0.0);

	g_assert_true(cocoon_json_get_uint64(cocoon_json_array_get(node, 9), &u, NULL));
	g_assert_cmpuint(u, ==, 0);
	g_assert_false(cocoon_json_get_uint64(cocoon_json_array_get(node, 10), &u, &error));
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_RANGE);
	g_clear_error(&error);

	/* wrong kind */
	g_assert_false(cocoon_json_get_int64(node, &i, &error));
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_TYPE);
	g_assert_nonnull(strstr(error->message, "got array"));
	g_clear_error(&error);
	g_assert_null(cocoon_json_get_number_text(node));
	g_assert_cmpstr(cocoon_json_get_number_text(cocoon_json_array_get(node, 7)), ==, "1e400");

	/* the text survives exactly */
	out = cocoon_json_to_string(node, FALSE);
	g_assert_cmpstr(out, ==,
			"[18446744073709551615,18446744073709551616,-9223372036854775808,"
			"-9223372036854775809,9223372036854775807,1.5,1e3,1e400,1e-400,-0,-1]");

	assert_invalid("01");
	assert_invalid("-01");
	assert_invalid("1.");
	assert_invalid(".5");
	assert_invalid("-");
	assert_invalid("1e");
	assert_invalid("1e+");
	assert_invalid("+1");
	assert_invalid("0x10");
	assert_invalid("NaN");
	assert_invalid("Infinity");
	assert_invalid("-Infinity");
	assert_invalid("1 2");
}

static void
test_json_constructors(void)
{
	g_autoptr(CocoonJson) array = cocoon_json_new_array();
	g_autofree gchar *out = NULL;
	gdouble d = 0;

	cocoon_json_array_append(array, cocoon_json_new_null());
	cocoon_json_array_append(array, cocoon_json_new_boolean(42));
	cocoon_json_array_append(array, cocoon_json_new_int64(G_MININT64));
	cocoon_json_array_append(array, cocoon_json_new_uint64(G_MAXUINT64));
	cocoon_json_array_append(array, cocoon_json_new_double(0.1));
	cocoon_json_array_append(array, cocoon_json_new_double(1e300));
	cocoon_json_array_append(array, cocoon_json_new_double(NAN));
	cocoon_json_array_append(array, cocoon_json_new_double(-INFINITY));
	cocoon_json_array_append(array, cocoon_json_new_string("bad \xff utf8 \"q\""));
	cocoon_json_array_append(array, cocoon_json_new_string_len("a\0\xc3", 3));
	cocoon_json_array_append(array, cocoon_json_new_object());
	out = cocoon_json_to_string(array, FALSE);
	g_assert_cmpstr(out, ==,
			"[null,true,-9223372036854775808,18446744073709551615,0.1,1e+300,null,null,"
			"\"bad \xef\xbf\xbd utf8 \\\"q\\\"\",\"a\\u0000\xef\xbf\xbd\",{}]");
	g_assert_true(cocoon_json_get_double(cocoon_json_array_get(array, 4), &d, NULL));
	g_assert_cmpfloat(d, ==, 0.1);
	g_assert_cmpint(cocoon_json_get_kind(cocoon_json_array_get(array, 10)), ==,
			COCOON_JSON_OBJECT);
	g_assert_cmpstr(cocoon_json_kind_to_string(COCOON_JSON_STRING), ==, "string");
}

static void
test_json_errors(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonJson) node = NULL;
	const gchar *text = "{\n  \"a\": tru\n}";

	node = cocoon_json_parse(text, strlen(text), &error);
	g_assert_null(node);
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "line 2 column 8 (byte 9)"));
	g_clear_error(&error);

	assert_parse_fails("", 0, COCOON_JSON_ERROR_INVALID,
			   "expected a value, found end of input");
	assert_parse_fails("   ", 3, COCOON_JSON_ERROR_INVALID, "column 4");
	assert_parse_fails("[1,]", 4, COCOON_JSON_ERROR_INVALID, "found ']'");
	assert_parse_fails("[1 2]", 5, COCOON_JSON_ERROR_INVALID, "expected ',' or ']'");
	assert_parse_fails("{\"a\" 1}", 7, COCOON_JSON_ERROR_INVALID, "expected ':'");
	assert_parse_fails("{\"a\":1,}", 8, COCOON_JSON_ERROR_INVALID, "expected a member name");
	assert_parse_fails("{a:1}", 5, COCOON_JSON_ERROR_INVALID, "expected a member name");
	assert_parse_fails("{\"a\":1 \"b\":2}", 13, COCOON_JSON_ERROR_INVALID, "',' or '}'");
	assert_parse_fails("{\"a\":1,\"a\":2}", 13, COCOON_JSON_ERROR_INVALID,
			   "duplicate member \"a\"");
	assert_parse_fails("[] x", 4, COCOON_JSON_ERROR_INVALID, "expected end of input");
	assert_parse_fails("[1]\0", 4, COCOON_JSON_ERROR_INVALID, "byte 0x00");
	assert_parse_fails("nul", 3, COCOON_JSON_ERROR_INVALID, "expected 'null'");
	assert_parse_fails("[", 1, COCOON_JSON_ERROR_INVALID, "end of input");
	assert_parse_fails("{", 1, COCOON_JSON_ERROR_INVALID, "end of input");
	assert_parse_fails("\xef\xbb\xbf{}", 5, COCOON_JSON_ERROR_INVALID, "byte 0xef");
	assert_invalid("'single'");
	assert_invalid("[1,2");
	assert_invalid("/* comment */ 1");

	/* parse only the given length */
	g_clear_pointer(&node, cocoon_json_free);
	node = cocoon_json_parse("[1]garbage", 3, &error);
	g_assert_no_error(error);
	g_assert_nonnull(node);
}

static void
test_json_depth(void)
{
	g_autoptr(GString) ok = g_string_new(NULL);
	g_autoptr(GString) deep = NULL;
	g_autoptr(CocoonJson) node = NULL;
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < COCOON_JSON_MAX_DEPTH; i++)
		g_string_append(ok, i % 2 ? "{\"a\":" : "[");
	g_string_append(ok, "1");
	for (guint i = COCOON_JSON_MAX_DEPTH; i > 0; i--)
		g_string_append(ok, (i - 1) % 2 ? "}" : "]");
	node = cocoon_json_parse(ok->str, ok->len, &error);
	g_assert_no_error(error);
	g_assert_nonnull(node);

	deep = g_string_new(NULL);
	for (guint i = 0; i < COCOON_JSON_MAX_DEPTH + 1; i++)
		g_string_append_c(deep, '[');
	for (guint i = 0; i < COCOON_JSON_MAX_DEPTH + 1; i++)
		g_string_append_c(deep, ']');
	assert_parse_fails(deep->str, deep->len, COCOON_JSON_ERROR_LIMIT, "deeper than 128");

	/* a very deep document fails early instead of exhausting the stack */
	g_string_truncate(deep, 0);
	for (guint i = 0; i < 1000000; i++)
		g_string_append_c(deep, '[');
	assert_parse_fails(deep->str, deep->len, COCOON_JSON_ERROR_LIMIT, NULL);
}

static void
test_json_limits(void)
{
	gsize size = COCOON_JSON_MAX_INPUT + 1;
	g_autofree gchar *big = g_malloc(size);
	g_autoptr(GString) many = g_string_new("[");

	memset(big, ' ', size);
	big[0] = '1';
	assert_parse_fails(big, size, COCOON_JSON_ERROR_LIMIT, "exceeds the limit");

	for (guint i = 0; i < COCOON_JSON_MAX_VALUES; i++)
		g_string_append(many, "0,");
	g_string_append(many, "0]");
	assert_parse_fails(many->str, many->len, COCOON_JSON_ERROR_LIMIT, "more than");
}

static void
test_json_object(void)
{
	g_autoptr(CocoonJson) object = parse_ok("{\"b\":1,\"a\":2,\"c\":3}");
	g_autoptr(CocoonJson) stolen = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	CocoonJsonIter iter;
	const gchar *name;
	CocoonJson *value;
	gint64 i = 0;
	guint n = 0;

	g_assert_cmpuint(cocoon_json_object_get_size(object), ==, 3);
	g_assert_true(cocoon_json_object_has(object, "a"));
	g_assert_false(cocoon_json_object_has(object, "z"));
	g_assert_null(cocoon_json_object_get(object, "z"));

	/* replacing keeps the position */
	cocoon_json_object_set_string(object, "a", "two");
	cocoon_json_object_set_boolean(object, "d", TRUE);
	cocoon_json_object_set_int64(object, "e", -5);
	out = cocoon_json_to_string(object, FALSE);
	g_assert_cmpstr(out, ==, "{\"b\":1,\"a\":\"two\",\"c\":3,\"d\":true,\"e\":-5}");

	g_assert_true(cocoon_json_object_remove(object, "b"));
	g_assert_false(cocoon_json_object_remove(object, "b"));
	stolen = cocoon_json_object_steal(object, "c");
	g_assert_nonnull(stolen);
	g_assert_null(cocoon_json_object_steal(object, "c"));
	g_clear_pointer(&out, g_free);
	out = cocoon_json_to_string(object, FALSE);
	g_assert_cmpstr(out, ==, "{\"a\":\"two\",\"d\":true,\"e\":-5}");

	g_assert_cmpstr(cocoon_json_object_get_string_member(object, "a"), ==, "two");
	g_assert_null(cocoon_json_object_get_string_member(object, "d"));
	g_assert_true(cocoon_json_object_get_boolean_member(object, "d", FALSE));
	g_assert_false(cocoon_json_object_get_boolean_member(object, "a", FALSE));
	g_assert_true(cocoon_json_object_get_boolean_member(object, "zz", TRUE));
	g_assert_true(cocoon_json_object_get_int64_member(object, "e", &i, &error));
	g_assert_cmpint(i, ==, -5);
	g_assert_false(cocoon_json_object_get_int64_member(object, "a", &i, &error));
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_TYPE);
	g_assert_nonnull(strstr(error->message, "member \"a\""));
	g_clear_error(&error);
	g_assert_false(cocoon_json_object_get_uint64_member(object, "missing", NULL, &error));
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_TYPE);
	g_clear_error(&error);
	g_assert_null(cocoon_json_object_get_object_member(object, "a"));
	g_assert_null(cocoon_json_object_get_array_member(object, "a"));

	cocoon_json_iter_init(&iter, object);
	while (cocoon_json_iter_next(&iter, &name, &value)) {
		const gchar *expected[] = {"a", "d", "e"};
		g_assert_cmpuint(n, <, 3);
		g_assert_cmpstr(name, ==, expected[n]);
		g_assert_true(value == cocoon_json_object_get(object, name));
		n++;
	}
	g_assert_cmpuint(n, ==, 3);

	/* not an object: lookups are NULL, not crashes */
	g_assert_null(cocoon_json_object_get(stolen, "a"));
	g_assert_cmpuint(cocoon_json_object_get_size(stolen), ==, 0);
	g_assert_null(cocoon_json_object_get(NULL, "a"));
}

static void
test_json_object_large(void)
{
	g_autoptr(CocoonJson) object = cocoon_json_new_object();
	g_autoptr(CocoonJson) copy = NULL;
	g_autoptr(GString) text = g_string_new("{");
	g_autoptr(CocoonJson) parsed = NULL;
	g_autofree gchar *out = NULL;

	for (guint i = 0; i < 200; i++) {
		g_autofree gchar *name = g_strdup_printf("m%u", i);
		cocoon_json_object_set_int64(object, name, i);
		g_string_append_printf(text, "%s\"m%u\":%u", i ? "," : "", i, i);
	}
	g_string_append(text, "}");
	for (guint i = 0; i < 200; i += 2) {
		g_autofree gchar *name = g_strdup_printf("m%u", i);
		g_assert_true(cocoon_json_object_remove(object, name));
	}
	g_assert_cmpuint(cocoon_json_object_get_size(object), ==, 100);
	for (guint i = 0; i < 200; i++) {
		g_autofree gchar *name = g_strdup_printf("m%u", i);
		gint64 value = -1;
		g_assert_true(cocoon_json_object_has(object, name) == (i % 2 == 1));
		if (i % 2 == 1) {
			g_assert_true(
				cocoon_json_object_get_int64_member(object, name, &value, NULL));
			g_assert_cmpint(value, ==, i);
		}
	}
	copy = cocoon_json_copy(object);
	g_assert_true(cocoon_json_equal(object, copy));
	cocoon_json_object_set_int64(copy, "m1", 7);
	g_assert_false(cocoon_json_equal(object, copy));

	parsed = parse_ok(text->str);
	out = cocoon_json_to_string(parsed, FALSE);
	g_assert_cmpstr(out, ==, text->str);
	assert_parse_fails("{\"m0\":0,\"m1\":1,\"m2\":2,\"m3\":3,\"m4\":4,\"m5\":5,\"m6\":6,"
			   "\"m7\":7,\"m8\":8,\"m9\":9,\"m10\":10,\"m5\":11}",
			   strlen("{\"m0\":0,\"m1\":1,\"m2\":2,\"m3\":3,\"m4\":4,\"m5\":5,\"m6\":6,"
				  "\"m7\":7,\"m8\":8,\"m9\":9,\"m10\":10,\"m5\":11}"),
			   COCOON_JSON_ERROR_INVALID, "duplicate member \"m5\"");
}

static void
test_json_array(void)
{
	g_autoptr(CocoonJson) array = parse_ok("[1,\"two\",null]");
	g_autofree gchar *out = NULL;
	CocoonJsonIter iter;
	const gchar *name = "x";
	CocoonJson *value;
	guint n = 0;

	g_assert_cmpuint(cocoon_json_array_get_length(array), ==, 3);
	g_assert_null(cocoon_json_array_get(array, 3));
	g_assert_true(cocoon_json_is_null(cocoon_json_array_get(array, 2)));
	g_assert_true(cocoon_json_array_remove(array, 0));
	g_assert_false(cocoon_json_array_remove(array, 2));
	cocoon_json_array_append(array, cocoon_json_new_array());
	out = cocoon_json_to_string(array, FALSE);
	g_assert_cmpstr(out, ==, "[\"two\",null,[]]");

	cocoon_json_iter_init(&iter, array);
	while (cocoon_json_iter_next(&iter, &name, &value)) {
		g_assert_null(name);
		g_assert_true(value == cocoon_json_array_get(array, n));
		n++;
	}
	g_assert_cmpuint(n, ==, 3);
	g_assert_cmpuint(cocoon_json_array_get_length(NULL), ==, 0);
}

static void
test_json_oci_config(void)
{
	g_autofree gchar *path = g_test_build_filename(G_TEST_DIST, "fuzz", "util", "corpus-json",
						       "oci-config-crun-spec.json", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonJson) config = cocoon_json_parse_file(path, &error);
	g_autoptr(CocoonJson) reparsed = NULL;
	g_autofree gchar *pretty = NULL;
	CocoonJson *namespaces;
	CocoonJsonIter iter;
	CocoonJson *entry;
	guint n = 0;

	g_assert_no_error(error);
	g_assert_nonnull(config);
	g_assert_cmpstr(cocoon_json_object_get_string_member(config, "ociVersion"), ==, "1.0.0");
	g_assert_cmpstr(cocoon_json_get_string(cocoon_json_path_get(config, "root", "path", NULL)),
			==, "rootfs");
	g_assert_null(cocoon_json_path_get(config, "root", "path", "deeper", NULL));
	g_assert_null(cocoon_json_path_get(config, "nope", NULL));
	g_assert_true(cocoon_json_path_get(config, NULL) == config);

	namespaces = cocoon_json_path_get(config, "linux", "namespaces", NULL);
	g_assert_true(cocoon_json_is_array(namespaces));
	cocoon_json_iter_init(&iter, namespaces);
	while (cocoon_json_iter_next(&iter, NULL, &entry)) {
		g_assert_nonnull(cocoon_json_object_get_string_member(entry, "type"));
		n++;
	}
	g_assert_cmpuint(n, >, 3);

	/* patch the way the shim does */
	cocoon_json_object_set_string(cocoon_json_object_get(config, "root"), "path",
				      "/run/cocoon/x/rootfs");
	cocoon_json_object_set(config, "annotations", cocoon_json_new_object());
	cocoon_json_object_set_string(cocoon_json_object_get(config, "annotations"), "io.cocoon/x",
				      "y");
	pretty = cocoon_json_to_string(config, TRUE);
	reparsed = cocoon_json_parse(pretty, strlen(pretty), &error);
	g_assert_no_error(error);
	g_assert_true(cocoon_json_equal(config, reparsed));
	g_assert_cmpstr(cocoon_json_get_string(
				cocoon_json_path_get(reparsed, "annotations", "io.cocoon/x", NULL)),
			==, "y");
}

static void
test_json_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("cocoon-json-XXXXXX", &error);
	g_autofree gchar *path = NULL;
	g_autoptr(CocoonJson) node = NULL;

	g_assert_no_error(error);
	path = g_build_filename(dir, "bad.json", NULL);
	g_assert_true(g_file_set_contents(path, "{\"a\":}", -1, &error));
	node = cocoon_json_parse_file(path, &error);
	g_assert_null(node);
	g_assert_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_INVALID);
	g_assert_true(g_str_has_prefix(error->message, path));
	g_clear_error(&error);
	g_assert_cmpint(g_unlink(path), ==, 0);

	node = cocoon_json_parse_file(path, &error);
	g_assert_null(node);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);

	node = cocoon_json_parse_file(dir, &error);
	g_assert_null(node);
	g_assert_nonnull(error);
	g_clear_error(&error);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void
test_json_equal(void)
{
	g_autoptr(CocoonJson) a = parse_ok("{\"x\":[1,\"s\",true],\"y\":{\"z\":null}}");
	g_autoptr(CocoonJson) b = parse_ok("{\"y\":{\"z\":null},\"x\":[1,\"s\",true]}");
	g_autoptr(CocoonJson) c = parse_ok("{\"y\":{\"z\":null},\"x\":[1.0,\"s\",true]}");
	g_autoptr(CocoonJson) d = parse_ok("{\"y\":{\"z\":null},\"x\":[1,\"s\",false]}");

	g_assert_true(cocoon_json_equal(a, b));
	g_assert_false(cocoon_json_equal(a, c));
	g_assert_false(cocoon_json_equal(a, d));
	g_assert_false(cocoon_json_equal(a, NULL));
	g_assert_true(cocoon_json_equal(NULL, NULL));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/util/json/roundtrip", test_json_roundtrip);
	g_test_add_func("/util/json/pretty", test_json_pretty);
	g_test_add_func("/util/json/escapes", test_json_escapes);
	g_test_add_func("/util/json/unicode", test_json_unicode);
	g_test_add_func("/util/json/numbers", test_json_numbers);
	g_test_add_func("/util/json/constructors", test_json_constructors);
	g_test_add_func("/util/json/errors", test_json_errors);
	g_test_add_func("/util/json/depth", test_json_depth);
	g_test_add_func("/util/json/limits", test_json_limits);
	g_test_add_func("/util/json/object", test_json_object);
	g_test_add_func("/util/json/object-large", test_json_object_large);
	g_test_add_func("/util/json/array", test_json_array);
	g_test_add_func("/util/json/oci-config", test_json_oci_config);
	g_test_add_func("/util/json/file", test_json_file);
	g_test_add_func("/util/json/equal", test_json_equal);
	return g_test_run();
}
