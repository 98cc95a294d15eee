/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cocoon-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(gboolean condition, const gchar *what, const gchar *text)
{
	if (condition)
		return;
	g_printerr("fuzz-json: %s\n%s\n", what, text != NULL ? text : "");
	abort();
}

/* every accessor must answer (or fail cleanly) on every node */
static void
walk(const CocoonJson *node)
{
	CocoonJsonIter iter;
	const gchar *name;
	CocoonJson *child;
	gint64 i;
	guint64 u;
	gdouble d;
	gsize length;

	switch (cocoon_json_get_kind(node)) {
	case COCOON_JSON_NUMBER:
		(void)cocoon_json_get_int64(node, &i, NULL);
		(void)cocoon_json_get_uint64(node, &u, NULL);
		(void)cocoon_json_get_double(node, &d, NULL);
		break;
	case COCOON_JSON_STRING:
		check(cocoon_json_get_string_len(node, &length) != NULL, "string without data",
		      NULL);
		break;
	case COCOON_JSON_OBJECT:
		cocoon_json_iter_init(&iter, node);
		while (cocoon_json_iter_next(&iter, &name, &child)) {
			check(cocoon_json_object_get(node, name) == child, "member lookup", name);
			walk(child);
		}
		break;
	case COCOON_JSON_ARRAY:
		cocoon_json_iter_init(&iter, node);
		while (cocoon_json_iter_next(&iter, NULL, &child))
			walk(child);
		break;
	case COCOON_JSON_NULL:
	case COCOON_JSON_BOOLEAN:
		break;
	}
}

/* parse, serialize (compact and pretty), reparse, compare */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(CocoonJson) node = cocoon_json_parse((const gchar *)data, size, NULL);
	g_autoptr(CocoonJson) copy = NULL;

	if (node == NULL)
		return 0;
	walk(node);
	for (guint pretty = 0; pretty <= 1; pretty++) {
		g_autofree gchar *text = cocoon_json_to_string(node, pretty);
		g_autoptr(GError) error = NULL;
		g_autoptr(CocoonJson) again = cocoon_json_parse(text, strlen(text), &error);
		g_autofree gchar *text_again = NULL;

		check(again != NULL, error != NULL ? error->message : "reparse failed", text);
		check(cocoon_json_equal(node, again), "reparsed tree differs", text);
		text_again = cocoon_json_to_string(again, pretty);
		check(g_str_equal(text, text_again), "serialization is not stable", text_again);
	}
	copy = cocoon_json_copy(node);
	check(cocoon_json_equal(node, copy), "copy differs", NULL);
	return 0;
}
