/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-json"

#include "config.h"

#include "cocoon-json.h"

#include <string.h>

#include <glib.h>

#include "cocoon-json-private.h"

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
