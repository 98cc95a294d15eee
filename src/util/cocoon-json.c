/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-json"

#include "config.h"

#include "cocoon-json.h"

#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>

#include "cocoon-fd.h"

/* objects with more members than this get a name index */
#define OBJECT_INDEX_THRESHOLD 8

typedef struct {
	gchar *name;
	CocoonJson *value;
} Member;

struct _CocoonJson {
	CocoonJsonKind kind;
	union {
		gboolean boolean;
		gchar *number; /* the literal text, validated */
		struct {
			gchar *data; /* NUL-terminated, may hold embedded NULs */
			gsize length;
		} string;
		GPtrArray *array; /* CocoonJson */
		struct {
			GPtrArray *members; /* Member, in order */
			GHashTable *index;  /* name -> Member, only when large; borrows the names */
		} object;
	};
};

GQuark
cocoon_json_error_quark(void)
{
	return g_quark_from_static_string("cocoon-json-error-quark");
}

static void
member_free(Member *member)
{
	g_free(member->name);
	cocoon_json_free(member->value);
	g_free(member);
}

static CocoonJson *
node_new(CocoonJsonKind kind)
{
	CocoonJson *node = g_new0(CocoonJson, 1);

	node->kind = kind;
	if (kind == COCOON_JSON_ARRAY)
		node->array = g_ptr_array_new_with_free_func((GDestroyNotify)cocoon_json_free);
	else if (kind == COCOON_JSON_OBJECT)
		node->object.members = g_ptr_array_new_with_free_func((GDestroyNotify)member_free);
	return node;
}

/* ---- objects ---- */

static Member *
object_lookup(const CocoonJson *object, const gchar *name)
{
	if (object->object.index != NULL)
		return g_hash_table_lookup(object->object.index, name);
	for (guint i = 0; i < object->object.members->len; i++) {
		Member *member = g_ptr_array_index(object->object.members, i);
		if (g_strcmp0(member->name, name) == 0)
			return member;
	}
	return NULL;
}

/* takes name and value; the caller made sure name is not present yet */
static void
object_append(CocoonJson *object, gchar *name, CocoonJson *value)
{
	Member *member = g_new0(Member, 1);
	GPtrArray *members = object->object.members;

	member->name = name;
	member->value = value;
	g_ptr_array_add(members, member);
	if (object->object.index != NULL) {
		g_hash_table_insert(object->object.index, member->name, member);
	} else if (members->len > OBJECT_INDEX_THRESHOLD) {
		object->object.index = g_hash_table_new(g_str_hash, g_str_equal);
		for (guint i = 0; i < members->len; i++) {
			Member *m = g_ptr_array_index(members, i);
			g_hash_table_insert(object->object.index, m->name, m);
		}
	}
}

/* detaches the member from the object and frees it, returning its value */
static CocoonJson *
object_detach(CocoonJson *object, Member *member)
{
	CocoonJson *value = g_steal_pointer(&member->value);

	if (object->object.index != NULL)
		g_hash_table_remove(object->object.index, member->name);
	g_ptr_array_remove(object->object.members, member);
	return value;
}

static gchar *
valid_utf8(const gchar *str, gssize length)
{
	if (length < 0)
		length = strlen(str);
	if (g_utf8_validate_len(str, length, NULL))
		return g_strndup(str, length);
	return g_utf8_make_valid(str, length);
}

/* ---- parser ---- */

typedef struct {
	const gchar *data;
	gsize length;
	gsize pos;
	guint depth;
	guint values;
} Parser;

static gboolean parser_fail(const Parser *parser, gsize pos, GError **error, const gchar *format,
			    ...) G_GNUC_PRINTF(4, 5);

static gboolean
parser_fail(const Parser *parser, gsize pos, GError **error, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *message = NULL;
	gsize line = 1;
	gsize line_start = 0;

	for (gsize i = 0; i < pos && i < parser->length; i++) {
		if (parser->data[i] == '\n') {
			line++;
			line_start = i + 1;
		}
	}
	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_INVALID,
		    "invalid JSON at line %" G_GSIZE_FORMAT " column %" G_GSIZE_FORMAT
		    " (byte %" G_GSIZE_FORMAT "): %s",
		    line, pos - line_start + 1, pos, message);
	return FALSE;
}

static const gchar *
describe_byte(const Parser *parser, gsize pos, gchar *buffer, gsize size)
{
	guchar c;

	if (pos >= parser->length)
		return "end of input";
	c = parser->data[pos];
	if (c >= 0x21 && c < 0x7f)
		g_snprintf(buffer, size, "'%c'", c);
	else
		g_snprintf(buffer, size, "byte 0x%02x", c);
	return buffer;
}

static gboolean
parser_unexpected(const Parser *parser, const gchar *expected, GError **error)
{
	gchar buffer[16];

	return parser_fail(parser, parser->pos, error, "expected %s, found %s", expected,
			   describe_byte(parser, parser->pos, buffer, sizeof(buffer)));
}

static void
skip_whitespace(Parser *parser)
{
	while (parser->pos < parser->length) {
		gchar c = parser->data[parser->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		parser->pos++;
	}
}

static gboolean
peek_is(const Parser *parser, gchar c)
{
	return parser->pos < parser->length && parser->data[parser->pos] == c;
}

static gboolean
parse_hex4(Parser *parser, gunichar *ret_value, GError **error)
{
	gunichar value = 0;

	if (parser->length - parser->pos < 4)
		return parser_fail(parser, parser->pos, error, "truncated \\u escape");
	for (guint i = 0; i < 4; i++) {
		gint digit = g_ascii_xdigit_value(parser->data[parser->pos + i]);
		if (digit < 0)
			return parser_fail(parser, parser->pos + i, error,
					   "\\u escape needs four hex digits");
		value = value * 16 + digit;
	}
	parser->pos += 4;
	*ret_value = value;
	return TRUE;
}

/* parser->pos is just after the backslash */
static gboolean
parse_escape(Parser *parser, GString *out, GError **error)
{
	gsize start = parser->pos - 1;
	gunichar value;
	gchar c;

	if (parser->pos >= parser->length)
		return parser_fail(parser, start, error, "truncated escape");
	c = parser->data[parser->pos++];
	switch (c) {
	case '"':
	case '\\':
	case '/':
		g_string_append_c(out, c);
		return TRUE;
	case 'b':
		g_string_append_c(out, '\b');
		return TRUE;
	case 'f':
		g_string_append_c(out, '\f');
		return TRUE;
	case 'n':
		g_string_append_c(out, '\n');
		return TRUE;
	case 'r':
		g_string_append_c(out, '\r');
		return TRUE;
	case 't':
		g_string_append_c(out, '\t');
		return TRUE;
	case 'u':
		break;
	default:
		return parser_fail(parser, start, error, "invalid escape");
	}
	if (!parse_hex4(parser, &value, error))
		return FALSE;
	if (value >= 0xdc00 && value <= 0xdfff)
		return parser_fail(parser, start, error, "unpaired low surrogate \\u%04X", value);
	if (value >= 0xd800 && value <= 0xdbff) {
		gunichar low;

		if (parser->length - parser->pos < 2 || parser->data[parser->pos] != '\\' ||
		    parser->data[parser->pos + 1] != 'u')
			return parser_fail(parser, start, error, "unpaired high surrogate \\u%04X",
					   value);
		parser->pos += 2;
		if (!parse_hex4(parser, &low, error))
			return FALSE;
		if (low < 0xdc00 || low > 0xdfff)
			return parser_fail(parser, start, error,
					   "high surrogate \\u%04X not followed by a low one",
					   value);
		value = 0x10000 + ((value - 0xd800) << 10) + (low - 0xdc00);
	}
	g_string_append_unichar(out, value);
	return TRUE;
}

static gboolean
parse_string(Parser *parser, gchar **ret_data, gsize *ret_length, GError **error)
{
	gsize start = parser->pos;
	g_autoptr(GString) out = g_string_new(NULL);

	parser->pos++; /* the opening quote */
	for (;;) {
		guchar c;

		if (parser->pos >= parser->length)
			return parser_fail(parser, start, error, "unterminated string");
		c = parser->data[parser->pos];
		if (c == '"') {
			parser->pos++;
			break;
		}
		if (c == '\\') {
			parser->pos++;
			if (!parse_escape(parser, out, error))
				return FALSE;
		} else if (c < 0x20) {
			return parser_fail(parser, parser->pos, error,
					   "control character 0x%02x in string must be escaped", c);
		} else if (c < 0x80) {
			gsize run = parser->pos + 1;
			while (run < parser->length) {
				guchar d = parser->data[run];
				if (d == '"' || d == '\\' || d < 0x20 || d >= 0x80)
					break;
				run++;
			}
			g_string_append_len(out, parser->data + parser->pos, run - parser->pos);
			parser->pos = run;
		} else {
			gunichar u = g_utf8_get_char_validated(parser->data + parser->pos,
							       parser->length - parser->pos);
			gint n;

			if (u == (gunichar)-1 || u == (gunichar)-2 || (u >= 0xd800 && u <= 0xdfff))
				return parser_fail(parser, parser->pos, error,
						   "invalid UTF-8 in string");
			n = g_unichar_to_utf8(u, NULL);
			g_string_append_len(out, parser->data + parser->pos, n);
			parser->pos += n;
		}
	}
	*ret_length = out->len;
	*ret_data = g_string_free(g_steal_pointer(&out), FALSE);
	return TRUE;
}

static gsize
skip_digits(const Parser *parser, gsize pos)
{
	while (pos < parser->length && g_ascii_isdigit(parser->data[pos]))
		pos++;
	return pos;
}

static CocoonJson *
parse_number(Parser *parser, GError **error)
{
	gsize start = parser->pos;
	gsize pos = start;
	CocoonJson *node;

	if (parser->data[pos] == '-')
		pos++;
	if (pos >= parser->length || !g_ascii_isdigit(parser->data[pos])) {
		parser->pos = pos;
		parser_unexpected(parser, "a digit", error);
		return NULL;
	}
	if (parser->data[pos] == '0')
		pos++;
	else
		pos = skip_digits(parser, pos);
	if (pos < parser->length && parser->data[pos] == '.') {
		gsize digits = pos + 1;
		pos = skip_digits(parser, digits);
		if (pos == digits) {
			parser->pos = pos;
			parser_unexpected(parser, "a digit after '.'", error);
			return NULL;
		}
	}
	if (pos < parser->length && (parser->data[pos] == 'e' || parser->data[pos] == 'E')) {
		gsize digits;

		pos++;
		if (pos < parser->length && (parser->data[pos] == '+' || parser->data[pos] == '-'))
			pos++;
		digits = pos;
		pos = skip_digits(parser, digits);
		if (pos == digits) {
			parser->pos = pos;
			parser_unexpected(parser, "a digit in the exponent", error);
			return NULL;
		}
	}
	node = node_new(COCOON_JSON_NUMBER);
	node->number = g_strndup(parser->data + start, pos - start);
	parser->pos = pos;
	return node;
}

static CocoonJson *parse_value(Parser *parser, GError **error);

static gboolean
parse_literal(Parser *parser, const gchar *word, GError **error)
{
	gsize length = strlen(word);

	if (parser->length - parser->pos < length ||
	    memcmp(parser->data + parser->pos, word, length) != 0)
		return parser_fail(parser, parser->pos, error, "invalid literal, expected '%s'",
				   word);
	parser->pos += length;
	return TRUE;
}

static gboolean
parser_enter(Parser *parser, GError **error)
{
	if (parser->depth >= COCOON_JSON_MAX_DEPTH) {
		g_set_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_LIMIT,
			    "JSON nested deeper than %u levels at byte %" G_GSIZE_FORMAT,
			    COCOON_JSON_MAX_DEPTH, parser->pos);
		return FALSE;
	}
	parser->depth++;
	parser->pos++; /* the opening bracket */
	skip_whitespace(parser);
	return TRUE;
}

static CocoonJson *
parse_array(Parser *parser, GError **error)
{
	g_autoptr(CocoonJson) array = NULL;

	if (!parser_enter(parser, error))
		return NULL;
	array = node_new(COCOON_JSON_ARRAY);
	if (peek_is(parser, ']')) {
		parser->pos++;
		parser->depth--;
		return g_steal_pointer(&array);
	}
	for (;;) {
		CocoonJson *value = parse_value(parser, error);
		if (value == NULL)
			return NULL;
		g_ptr_array_add(array->array, value);
		skip_whitespace(parser);
		if (peek_is(parser, ',')) {
			parser->pos++;
			skip_whitespace(parser);
		} else if (peek_is(parser, ']')) {
			parser->pos++;
			break;
		} else {
			parser_unexpected(parser, "',' or ']'", error);
			return NULL;
		}
	}
	parser->depth--;
	return g_steal_pointer(&array);
}

static CocoonJson *
parse_object(Parser *parser, GError **error)
{
	g_autoptr(CocoonJson) object = NULL;

	if (!parser_enter(parser, error))
		return NULL;
	object = node_new(COCOON_JSON_OBJECT);
	if (peek_is(parser, '}')) {
		parser->pos++;
		parser->depth--;
		return g_steal_pointer(&object);
	}
	for (;;) {
		gsize name_pos = parser->pos;
		g_autofree gchar *name = NULL;
		gsize name_length;
		CocoonJson *value;

		if (!peek_is(parser, '"')) {
			parser_unexpected(parser, "a member name", error);
			return NULL;
		}
		if (!parse_string(parser, &name, &name_length, error))
			return NULL;
		if (strlen(name) != name_length) {
			parser_fail(parser, name_pos, error, "member name contains U+0000");
			return NULL;
		}
		if (object_lookup(object, name) != NULL) {
			/* g_utf8_substring() reads past the end of a shorter string */
			g_autofree gchar *shown =
				g_utf8_substring(name, 0, MIN(g_utf8_strlen(name, -1), 64));
			g_autofree gchar *escaped = g_strescape(shown, NULL);
			parser_fail(parser, name_pos, error, "duplicate member \"%s\"", escaped);
			return NULL;
		}
		skip_whitespace(parser);
		if (!peek_is(parser, ':')) {
			parser_unexpected(parser, "':'", error);
			return NULL;
		}
		parser->pos++;
		skip_whitespace(parser);
		value = parse_value(parser, error);
		if (value == NULL)
			return NULL;
		object_append(object, g_steal_pointer(&name), value);
		skip_whitespace(parser);
		if (peek_is(parser, ',')) {
			parser->pos++;
			skip_whitespace(parser);
		} else if (peek_is(parser, '}')) {
			parser->pos++;
			break;
		} else {
			parser_unexpected(parser, "',' or '}'", error);
			return NULL;
		}
	}
	parser->depth--;
	return g_steal_pointer(&object);
}

/* parser->pos is at the first byte of the value (whitespace already skipped) */
static CocoonJson *
parse_value(Parser *parser, GError **error)
{
	CocoonJson *node;

	if (++parser->values > COCOON_JSON_MAX_VALUES) {
		g_set_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_LIMIT,
			    "JSON has more than %u values", COCOON_JSON_MAX_VALUES);
		return NULL;
	}
	if (parser->pos >= parser->length) {
		parser_unexpected(parser, "a value", error);
		return NULL;
	}
	switch (parser->data[parser->pos]) {
	case '{':
		return parse_object(parser, error);
	case '[':
		return parse_array(parser, error);
	case '"':
		node = node_new(COCOON_JSON_STRING);
		if (!parse_string(parser, &node->string.data, &node->string.length, error)) {
			cocoon_json_free(node);
			return NULL;
		}
		return node;
	case 't':
	case 'f':
		node = node_new(COCOON_JSON_BOOLEAN);
		node->boolean = parser->data[parser->pos] == 't';
		if (!parse_literal(parser, node->boolean ? "true" : "false", error)) {
			cocoon_json_free(node);
			return NULL;
		}
		return node;
	case 'n':
		if (!parse_literal(parser, "null", error))
			return NULL;
		return node_new(COCOON_JSON_NULL);
	case '-':
	case '0' ... '9':
		return parse_number(parser, error);
	default:
		parser_unexpected(parser, "a value", error);
		return NULL;
	}
}

/**
 * cocoon_json_parse:
 * @data: the JSON text, need not be NUL-terminated
 * @length: its length in bytes, at most %COCOON_JSON_MAX_INPUT
 *
 * Parses one JSON value (any kind at the top level) surrounded by optional whitespace.
 *
 * Returns: (transfer full): the tree, or %NULL with @error set
 */
CocoonJson *
cocoon_json_parse(const gchar *data, gsize length, GError **error)
{
	Parser parser = {.data = data, .length = length};
	g_autoptr(CocoonJson) root = NULL;

	if (length > COCOON_JSON_MAX_INPUT) {
		g_set_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_LIMIT,
			    "JSON input of %" G_GSIZE_FORMAT " bytes exceeds the limit of %u bytes",
			    length, COCOON_JSON_MAX_INPUT);
		return NULL;
	}
	if (data == NULL && length > 0) {
		g_set_error_literal(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_INVALID,
				    "no JSON input");
		return NULL;
	}
	skip_whitespace(&parser);
	root = parse_value(&parser, error);
	if (root == NULL)
		return NULL;
	skip_whitespace(&parser);
	if (parser.pos != parser.length) {
		parser_unexpected(&parser, "end of input", error);
		return NULL;
	}
	return g_steal_pointer(&root);
}

/**
 * cocoon_json_parse_file:
 * @path: a file of at most %COCOON_JSON_MAX_INPUT bytes
 *
 * Returns: (transfer full): the tree, or %NULL with @error set (the message names @path)
 */
CocoonJson *
cocoon_json_parse_file(const gchar *path, GError **error)
{
	cocoon_autofd int fd = -1;
	g_autoptr(GByteArray) buffer = g_byte_array_new();
	struct stat st;
	CocoonJson *root;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int saved_errno = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
			    "cannot open %s: %s", path, g_strerror(saved_errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_FILENAME,
			    "%s is not a regular file", path);
		return NULL;
	}
	/* read at most one byte past the limit, so a growing file cannot make us read forever */
	for (;;) {
		guint8 chunk[65536];
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved_errno = errno;
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
				    "cannot read %s: %s", path, g_strerror(saved_errno));
			return NULL;
		}
		if (n == 0)
			break;
		g_byte_array_append(buffer, chunk, n);
		if (buffer->len > COCOON_JSON_MAX_INPUT)
			break;
	}
	root = cocoon_json_parse((const gchar *)buffer->data, buffer->len, error);
	if (root == NULL)
		g_prefix_error(error, "%s: ", path);
	return root;
}

/* ---- serializer ---- */

static void
append_string(GString *out, const gchar *data, gsize length)
{
	static const gchar hex[] = "0123456789abcdef";
	gsize run = 0;

	g_string_append_c(out, '"');
	for (gsize i = 0; i < length; i++) {
		guchar c = data[i];
		const gchar *escape = NULL;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		g_string_append_len(out, data + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
			escape = "\\\"";
			break;
		case '\\':
			escape = "\\\\";
			break;
		case '\b':
			escape = "\\b";
			break;
		case '\f':
			escape = "\\f";
			break;
		case '\n':
			escape = "\\n";
			break;
		case '\r':
			escape = "\\r";
			break;
		case '\t':
			escape = "\\t";
			break;
		default:
			break;
		}
		if (escape != NULL) {
			g_string_append(out, escape);
		} else {
			g_string_append(out, "\\u00");
			g_string_append_c(out, hex[c >> 4]);
			g_string_append_c(out, hex[c & 0xf]);
		}
	}
	g_string_append_len(out, data + run, length - run);
	g_string_append_c(out, '"');
}

static void
append_newline(GString *out, gboolean pretty, guint level)
{
	if (!pretty)
		return;
	g_string_append_c(out, '\n');
	for (guint i = 0; i < level; i++)
		g_string_append(out, "  ");
}

static void
append_node(GString *out, const CocoonJson *node, gboolean pretty, guint level)
{
	switch (node->kind) {
	case COCOON_JSON_NULL:
		g_string_append(out, "null");
		break;
	case COCOON_JSON_BOOLEAN:
		g_string_append(out, node->boolean ? "true" : "false");
		break;
	case COCOON_JSON_NUMBER:
		g_string_append(out, node->number);
		break;
	case COCOON_JSON_STRING:
		append_string(out, node->string.data, node->string.length);
		break;
	case COCOON_JSON_ARRAY:
		g_string_append_c(out, '[');
		for (guint i = 0; i < node->array->len; i++) {
			if (i > 0)
				g_string_append_c(out, ',');
			append_newline(out, pretty, level + 1);
			append_node(out, g_ptr_array_index(node->array, i), pretty, level + 1);
		}
		if (node->array->len > 0)
			append_newline(out, pretty, level);
		g_string_append_c(out, ']');
		break;
	case COCOON_JSON_OBJECT:
		g_string_append_c(out, '{');
		for (guint i = 0; i < node->object.members->len; i++) {
			const Member *member = g_ptr_array_index(node->object.members, i);
			if (i > 0)
				g_string_append_c(out, ',');
			append_newline(out, pretty, level + 1);
			append_string(out, member->name, strlen(member->name));
			g_string_append(out, pretty ? ": " : ":");
			append_node(out, member->value, pretty, level + 1);
		}
		if (node->object.members->len > 0)
			append_newline(out, pretty, level);
		g_string_append_c(out, '}');
		break;
	}
}

/**
 * cocoon_json_to_string:
 * @node: a tree
 * @pretty: indent with two spaces, one value per line
 *
 * Returns: (transfer full): valid JSON text; embedded NULs and control characters are escaped,
 * other characters are written as UTF-8
 */
gchar *
cocoon_json_to_string(const CocoonJson *node, gboolean pretty)
{
	GString *out;

	g_return_val_if_fail(node != NULL, g_strdup("null"));
	out = g_string_new(NULL);
	append_node(out, node, pretty, 0);
	return g_string_free(out, FALSE);
}

/* ---- lifetime, copy, equality ---- */

void
cocoon_json_free(CocoonJson *node)
{
	if (node == NULL)
		return;
	switch (node->kind) {
	case COCOON_JSON_NUMBER:
		g_free(node->number);
		break;
	case COCOON_JSON_STRING:
		g_free(node->string.data);
		break;
	case COCOON_JSON_ARRAY:
		g_ptr_array_unref(node->array);
		break;
	case COCOON_JSON_OBJECT:
		/* the index borrows the names: drop it first */
		g_clear_pointer(&node->object.index, g_hash_table_unref);
		g_ptr_array_unref(node->object.members);
		break;
	case COCOON_JSON_NULL:
	case COCOON_JSON_BOOLEAN:
		break;
	}
	g_free(node);
}

CocoonJson *
cocoon_json_copy(const CocoonJson *node)
{
	CocoonJson *copy;

	g_return_val_if_fail(node != NULL, NULL);
	copy = node_new(node->kind);
	switch (node->kind) {
	case COCOON_JSON_NULL:
		break;
	case COCOON_JSON_BOOLEAN:
		copy->boolean = node->boolean;
		break;
	case COCOON_JSON_NUMBER:
		copy->number = g_strdup(node->number);
		break;
	case COCOON_JSON_STRING:
		copy->string.data = g_memdup2(node->string.data, node->string.length + 1);
		copy->string.length = node->string.length;
		break;
	case COCOON_JSON_ARRAY:
		for (guint i = 0; i < node->array->len; i++)
			g_ptr_array_add(copy->array,
					cocoon_json_copy(g_ptr_array_index(node->array, i)));
		break;
	case COCOON_JSON_OBJECT:
		for (guint i = 0; i < node->object.members->len; i++) {
			const Member *member = g_ptr_array_index(node->object.members, i);
			object_append(copy, g_strdup(member->name),
				      cocoon_json_copy(member->value));
		}
		break;
	}
	return copy;
}

gboolean
cocoon_json_equal(const CocoonJson *a, const CocoonJson *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (a->kind != b->kind)
		return FALSE;
	switch (a->kind) {
	case COCOON_JSON_NULL:
		return TRUE;
	case COCOON_JSON_BOOLEAN:
		return !a->boolean == !b->boolean;
	case COCOON_JSON_NUMBER:
		return g_str_equal(a->number, b->number);
	case COCOON_JSON_STRING:
		return a->string.length == b->string.length &&
		       memcmp(a->string.data, b->string.data, a->string.length) == 0;
	case COCOON_JSON_ARRAY:
		if (a->array->len != b->array->len)
			return FALSE;
		for (guint i = 0; i < a->array->len; i++) {
			if (!cocoon_json_equal(g_ptr_array_index(a->array, i),
					       g_ptr_array_index(b->array, i)))
				return FALSE;
		}
		return TRUE;
	case COCOON_JSON_OBJECT:
		if (a->object.members->len != b->object.members->len)
			return FALSE;
		/* names are unique, so equal sizes plus every member of a found in b is enough */
		for (guint i = 0; i < a->object.members->len; i++) {
			const Member *member = g_ptr_array_index(a->object.members, i);
			const Member *other = object_lookup(b, member->name);
			if (other == NULL || !cocoon_json_equal(member->value, other->value))
				return FALSE;
		}
		return TRUE;
	}
	return FALSE;
}

/* ---- constructors ---- */

CocoonJson *
cocoon_json_new_null(void)
{
	return node_new(COCOON_JSON_NULL);
}

CocoonJson *
cocoon_json_new_boolean(gboolean value)
{
	CocoonJson *node = node_new(COCOON_JSON_BOOLEAN);

	node->boolean = value ? TRUE : FALSE;
	return node;
}

CocoonJson *
cocoon_json_new_int64(gint64 value)
{
	CocoonJson *node = node_new(COCOON_JSON_NUMBER);

	node->number = g_strdup_printf("%" G_GINT64_FORMAT, value);
	return node;
}

CocoonJson *
cocoon_json_new_uint64(guint64 value)
{
	CocoonJson *node = node_new(COCOON_JSON_NUMBER);

	node->number = g_strdup_printf("%" G_GUINT64_FORMAT, value);
	return node;
}

/* the shortest text that reads back as the same double */
CocoonJson *
cocoon_json_new_double(gdouble value)
{
	gchar buffer[G_ASCII_DTOSTR_BUF_SIZE];
	CocoonJson *node;

	if (!isfinite(value))
		return cocoon_json_new_null();
	for (gint precision = 1; precision <= 17; precision++) {
		g_autofree gchar *format = g_strdup_printf("%%.%dg", precision);
		g_ascii_formatd(buffer, sizeof(buffer), format, value);
		if (g_ascii_strtod(buffer, NULL) == value)
			break;
	}
	node = node_new(COCOON_JSON_NUMBER);
	node->number = g_strdup(buffer);
	return node;
}

/* invalid UTF-8 becomes U+FFFD; embedded NULs are kept */
CocoonJson *
cocoon_json_new_string_len(const gchar *value, gsize length)
{
	CocoonJson *node;
	g_autoptr(GString) out = NULL;
	const gchar *end;

	g_return_val_if_fail(value != NULL || length == 0, NULL);
	out = g_string_sized_new(length);
	end = value + length;
	/* g_utf8_validate_len() refuses NULs: validate each NUL-free segment alone */
	for (const gchar *segment = value; segment != NULL && segment < end;) {
		const gchar *nul = memchr(segment, '\0', end - segment);
		g_autofree gchar *part = valid_utf8(segment, (nul != NULL ? nul : end) - segment);

		g_string_append(out, part);
		if (nul == NULL)
			break;
		g_string_append_c(out, '\0');
		segment = nul + 1;
	}
	node = node_new(COCOON_JSON_STRING);
	node->string.length = out->len;
	node->string.data = g_string_free(g_steal_pointer(&out), FALSE);
	return node;
}

CocoonJson *
cocoon_json_new_string(const gchar *value)
{
	g_return_val_if_fail(value != NULL, NULL);
	return cocoon_json_new_string_len(value, strlen(value));
}

CocoonJson *
cocoon_json_new_array(void)
{
	return node_new(COCOON_JSON_ARRAY);
}

CocoonJson *
cocoon_json_new_object(void)
{
	return node_new(COCOON_JSON_OBJECT);
}

/* ---- kinds and scalars ---- */

CocoonJsonKind
cocoon_json_get_kind(const CocoonJson *node)
{
	g_return_val_if_fail(node != NULL, COCOON_JSON_NULL);
	return node->kind;
}

const gchar *
cocoon_json_kind_to_string(CocoonJsonKind kind)
{
	switch (kind) {
	case COCOON_JSON_NULL:
		return "null";
	case COCOON_JSON_BOOLEAN:
		return "boolean";
	case COCOON_JSON_NUMBER:
		return "number";
	case COCOON_JSON_STRING:
		return "string";
	case COCOON_JSON_ARRAY:
		return "array";
	case COCOON_JSON_OBJECT:
		return "object";
	}
	return "unknown";
}

static gboolean
is_kind(const CocoonJson *node, CocoonJsonKind kind)
{
	return node != NULL && node->kind == kind;
}

gboolean
cocoon_json_is_null(const CocoonJson *node)
{
	return is_kind(node, COCOON_JSON_NULL);
}

gboolean
cocoon_json_is_object(const CocoonJson *node)
{
	return is_kind(node, COCOON_JSON_OBJECT);
}

gboolean
cocoon_json_is_array(const CocoonJson *node)
{
	return is_kind(node, COCOON_JSON_ARRAY);
}

gboolean
cocoon_json_is_string(const CocoonJson *node)
{
	return is_kind(node, COCOON_JSON_STRING);
}

static gboolean
check_kind(const CocoonJson *node, CocoonJsonKind kind, GError **error)
{
	if (node == NULL) {
		g_set_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_TYPE,
			    "expected %s, value is missing", cocoon_json_kind_to_string(kind));
		return FALSE;
	}
	if (node->kind != kind) {
		g_set_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_TYPE, "expected %s, got %s",
			    cocoon_json_kind_to_string(kind),
			    cocoon_json_kind_to_string(node->kind));
		return FALSE;
	}
	return TRUE;
}

gboolean
cocoon_json_get_boolean(const CocoonJson *node, gboolean *ret_value, GError **error)
{
	if (!check_kind(node, COCOON_JSON_BOOLEAN, error))
		return FALSE;
	if (ret_value != NULL)
		*ret_value = node->boolean;
	return TRUE;
}

static gboolean
check_integer(const CocoonJson *node, GError **error)
{
	if (!check_kind(node, COCOON_JSON_NUMBER, error))
		return FALSE;
	if (strpbrk(node->number, ".eE") != NULL) {
		g_set_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_TYPE,
			    "expected an integer, got %s", node->number);
		return FALSE;
	}
	return TRUE;
}

gboolean
cocoon_json_get_int64(const CocoonJson *node, gint64 *ret_value, GError **error)
{
	gint64 value;

	if (!check_integer(node, error))
		return FALSE;
	if (!g_ascii_string_to_signed(node->number, 10, G_MININT64, G_MAXINT64, &value, NULL)) {
		g_set_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_RANGE,
			    "number %s is out of range for a signed 64-bit integer", node->number);
		return FALSE;
	}
	if (ret_value != NULL)
		*ret_value = value;
	return TRUE;
}

gboolean
cocoon_json_get_uint64(const CocoonJson *node, guint64 *ret_value, GError **error)
{
	guint64 value;

	if (!check_integer(node, error))
		return FALSE;
	/* "-0" is zero; any other negative number is out of range */
	if (g_str_equal(node->number, "-0")) {
		value = 0;
	} else if (node->number[0] == '-' ||
		   !g_ascii_string_to_unsigned(node->number, 10, 0, G_MAXUINT64, &value, NULL)) {
		g_set_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_RANGE,
			    "number %s is out of range for an unsigned 64-bit integer",
			    node->number);
		return FALSE;
	}
	if (ret_value != NULL)
		*ret_value = value;
	return TRUE;
}

gboolean
cocoon_json_get_double(const CocoonJson *node, gdouble *ret_value, GError **error)
{
	gdouble value;

	if (!check_kind(node, COCOON_JSON_NUMBER, error))
		return FALSE;
	value = g_ascii_strtod(node->number, NULL);
	if (!isfinite(value)) {
		g_set_error(error, COCOON_JSON_ERROR, COCOON_JSON_ERROR_RANGE,
			    "number %.32s%s is out of range for a double", node->number,
			    strlen(node->number) > 32 ? "..." : "");
		return FALSE;
	}
	if (ret_value != NULL)
		*ret_value = value;
	return TRUE;
}

const gchar *
cocoon_json_get_number_text(const CocoonJson *node)
{
	return is_kind(node, COCOON_JSON_NUMBER) ? node->number : NULL;
}

const gchar *
cocoon_json_get_string_len(const CocoonJson *node, gsize *ret_length)
{
	if (!is_kind(node, COCOON_JSON_STRING))
		return NULL;
	if (ret_length != NULL)
		*ret_length = node->string.length;
	return node->string.data;
}

const gchar *
cocoon_json_get_string(const CocoonJson *node)
{
	return cocoon_json_get_string_len(node, NULL);
}

/* ---- object API ---- */

guint
cocoon_json_object_get_size(const CocoonJson *object)
{
	return is_kind(object, COCOON_JSON_OBJECT) ? object->object.members->len : 0;
}

CocoonJson *
cocoon_json_object_get(const CocoonJson *object, const gchar *name)
{
	Member *member;

	if (!is_kind(object, COCOON_JSON_OBJECT) || name == NULL)
		return NULL;
	member = object_lookup(object, name);
	return member != NULL ? member->value : NULL;
}

gboolean
cocoon_json_object_has(const CocoonJson *object, const gchar *name)
{
	return cocoon_json_object_get(object, name) != NULL;
}

void
cocoon_json_object_set(CocoonJson *object, const gchar *name, CocoonJson *value)
{
	g_autofree gchar *valid_name = NULL;
	Member *member;

	g_return_if_fail(is_kind(object, COCOON_JSON_OBJECT));
	g_return_if_fail(name != NULL);
	g_return_if_fail(value != NULL && value != object);

	valid_name = valid_utf8(name, -1);
	member = object_lookup(object, valid_name);
	if (member != NULL) {
		cocoon_json_free(member->value);
		member->value = value;
		return;
	}
	object_append(object, g_steal_pointer(&valid_name), value);
}

void
cocoon_json_object_set_string(CocoonJson *object, const gchar *name, const gchar *value)
{
	cocoon_json_object_set(object, name, cocoon_json_new_string(value));
}

void
cocoon_json_object_set_int64(CocoonJson *object, const gchar *name, gint64 value)
{
	cocoon_json_object_set(object, name, cocoon_json_new_int64(value));
}

void
cocoon_json_object_set_boolean(CocoonJson *object, const gchar *name, gboolean value)
{
	cocoon_json_object_set(object, name, cocoon_json_new_boolean(value));
}

CocoonJson *
cocoon_json_object_steal(CocoonJson *object, const gchar *name)
{
	Member *member;

	if (!is_kind(object, COCOON_JSON_OBJECT) || name == NULL)
		return NULL;
	member = object_lookup(object, name);
	if (member == NULL)
		return NULL;
	return object_detach(object, member);
}

gboolean
cocoon_json_object_remove(CocoonJson *object, const gchar *name)
{
	CocoonJson *value = cocoon_json_object_steal(object, name);

	if (value == NULL)
		return FALSE;
	cocoon_json_free(value);
	return TRUE;
}

const gchar *
cocoon_json_object_get_string_member(const CocoonJson *object, const gchar *name)
{
	return cocoon_json_get_string(cocoon_json_object_get(object, name));
}

CocoonJson *
cocoon_json_object_get_object_member(const CocoonJson *object, const gchar *name)
{
	CocoonJson *value = cocoon_json_object_get(object, name);

	return is_kind(value, COCOON_JSON_OBJECT) ? value : NULL;
}

CocoonJson *
cocoon_json_object_get_array_member(const CocoonJson *object, const gchar *name)
{
	CocoonJson *value = cocoon_json_object_get(object, name);

	return is_kind(value, COCOON_JSON_ARRAY) ? value : NULL;
}

gboolean
cocoon_json_object_get_int64_member(const CocoonJson *object, const gchar *name, gint64 *ret_value,
				    GError **error)
{
	if (!cocoon_json_get_int64(cocoon_json_object_get(object, name), ret_value, error)) {
		g_prefix_error(error, "member \"%s\": ", name);
		return FALSE;
	}
	return TRUE;
}

gboolean
cocoon_json_object_get_uint64_member(const CocoonJson *object, const gchar *name,
				     guint64 *ret_value, GError **error)
{
	if (!cocoon_json_get_uint64(cocoon_json_object_get(object, name), ret_value, error)) {
		g_prefix_error(error, "member \"%s\": ", name);
		return FALSE;
	}
	return TRUE;
}

gboolean
cocoon_json_object_get_boolean_member(const CocoonJson *object, const gchar *name,
				      gboolean default_value)
{
	CocoonJson *value = cocoon_json_object_get(object, name);

	return is_kind(value, COCOON_JSON_BOOLEAN) ? value->boolean : default_value;
}

/* ---- array API ---- */

guint
cocoon_json_array_get_length(const CocoonJson *array)
{
	return is_kind(array, COCOON_JSON_ARRAY) ? array->array->len : 0;
}

CocoonJson *
cocoon_json_array_get(const CocoonJson *array, guint index)
{
	if (!is_kind(array, COCOON_JSON_ARRAY) || index >= array->array->len)
		return NULL;
	return g_ptr_array_index(array->array, index);
}

void
cocoon_json_array_append(CocoonJson *array, CocoonJson *value)
{
	g_return_if_fail(is_kind(array, COCOON_JSON_ARRAY));
	g_return_if_fail(value != NULL && value != array);
	g_ptr_array_add(array->array, value);
}

gboolean
cocoon_json_array_remove(CocoonJson *array, guint index)
{
	if (!is_kind(array, COCOON_JSON_ARRAY) || index >= array->array->len)
		return FALSE;
	g_ptr_array_remove_index(array->array, index);
	return TRUE;
}

/* ---- paths and iteration ---- */

CocoonJson *
cocoon_json_path_get(const CocoonJson *root, ...)
{
	const CocoonJson *node = root;
	const gchar *name;
	va_list args;

	va_start(args, root);
	while (node != NULL && (name = va_arg(args, const gchar *)) != NULL)
		node = cocoon_json_object_get(node, name);
	va_end(args);
	return (CocoonJson *)node;
}

void
cocoon_json_iter_init(CocoonJsonIter *iter, const CocoonJson *container)
{
	iter->container = container;
	iter->index = 0;
}

gboolean
cocoon_json_iter_next(CocoonJsonIter *iter, const gchar **ret_name, CocoonJson **ret_value)
{
	const CocoonJson *container = iter->container;

	if (is_kind(container, COCOON_JSON_OBJECT)) {
		const Member *member;
		if (iter->index >= container->object.members->len)
			return FALSE;
		member = g_ptr_array_index(container->object.members, iter->index++);
		if (ret_name != NULL)
			*ret_name = member->name;
		if (ret_value != NULL)
			*ret_value = member->value;
		return TRUE;
	}
	if (is_kind(container, COCOON_JSON_ARRAY)) {
		if (iter->index >= container->array->len)
			return FALSE;
		if (ret_name != NULL)
			*ret_name = NULL;
		if (ret_value != NULL)
			*ret_value = g_ptr_array_index(container->array, iter->index++);
		return TRUE;
	}
	return FALSE;
}
