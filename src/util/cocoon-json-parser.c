/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-json"

#include "config.h"

#include "cocoon-json.h"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-json-private.h"

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

/* the one-character escapes: the character after the backslash, the one it stands for */
static const gchar short_escapes[][2] = {
	{'"', '"'},  {'\\', '\\'}, {'/', '/'},	{'b', '\b'},
	{'f', '\f'}, {'n', '\n'},  {'r', '\r'}, {'t', '\t'},
};

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
	for (guint i = 0; i < G_N_ELEMENTS(short_escapes); i++) {
		if (c == short_escapes[i][0]) {
			g_string_append_c(out, short_escapes[i][1]);
			return TRUE;
		}
	}
	if (c != 'u')
		return parser_fail(parser, start, error, "invalid escape");
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

/* at the closing bracket: past it, one level up */
static gboolean
parser_leave(Parser *parser, gchar close)
{
	if (!peek_is(parser, close))
		return FALSE;
	parser->pos++;
	parser->depth--;
	return TRUE;
}

/* after an element or a member: a comma and more to come, or the closing bracket (*ret_done) */
static gboolean
parser_next(Parser *parser, gchar close, gboolean *ret_done, GError **error)
{
	skip_whitespace(parser);
	if (peek_is(parser, ',')) {
		parser->pos++;
		skip_whitespace(parser);
		*ret_done = FALSE;
		return TRUE;
	}
	if (parser_leave(parser, close)) {
		*ret_done = TRUE;
		return TRUE;
	}
	parser_unexpected(parser, close == ']' ? "',' or ']'" : "',' or '}'", error);
	return FALSE;
}

static gboolean
parse_element(Parser *parser, CocoonJson *array, GError **error)
{
	CocoonJson *value = parse_value(parser, error);

	if (value == NULL)
		return FALSE;
	g_ptr_array_add(array->array, value);
	return TRUE;
}

static gboolean
parse_member(Parser *parser, CocoonJson *object, GError **error)
{
	gsize name_pos = parser->pos;
	g_autofree gchar *name = NULL;
	gsize name_length;
	CocoonJson *value;

	if (!peek_is(parser, '"')) {
		parser_unexpected(parser, "a member name", error);
		return FALSE;
	}
	if (!parse_string(parser, &name, &name_length, error))
		return FALSE;
	if (strlen(name) != name_length) {
		parser_fail(parser, name_pos, error, "member name contains U+0000");
		return FALSE;
	}
	if (object_lookup(object, name) != NULL) {
		/* g_utf8_substring() reads past the end of a shorter string */
		g_autofree gchar *shown =
			g_utf8_substring(name, 0, MIN(g_utf8_strlen(name, -1), 64));
		g_autofree gchar *escaped = g_strescape(shown, NULL);
		parser_fail(parser, name_pos, error, "duplicate member \"%s\"", escaped);
		return FALSE;
	}
	skip_whitespace(parser);
	if (!peek_is(parser, ':')) {
		parser_unexpected(parser, "':'", error);
		return FALSE;
	}
	parser->pos++;
	skip_whitespace(parser);
	value = parse_value(parser, error);
	if (value == NULL)
		return FALSE;
	object_append(object, g_steal_pointer(&name), value);
	return TRUE;
}

/* an array or an object: parser->pos is at its opening bracket */
static CocoonJson *
parse_container(Parser *parser, CocoonJsonKind kind, GError **error)
{
	gchar close = kind == COCOON_JSON_ARRAY ? ']' : '}';
	g_autoptr(CocoonJson) node = NULL;

	if (!parser_enter(parser, error))
		return NULL;
	node = node_new(kind);
	for (gboolean done = parser_leave(parser, close); !done;) {
		if (!(kind == COCOON_JSON_ARRAY ? parse_element(parser, node, error)
						: parse_member(parser, node, error)))
			return NULL;
		if (!parser_next(parser, close, &done, error))
			return NULL;
	}
	return g_steal_pointer(&node);
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
		return parse_container(parser, COCOON_JSON_OBJECT, error);
	case '[':
		return parse_container(parser, COCOON_JSON_ARRAY, error);
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
		cocoon_set_error_from_errno(error, "cannot open %s", path);
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
			cocoon_set_error_from_errno(error, "cannot read %s", path);
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
