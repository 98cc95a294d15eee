/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The tree's layout and the member helpers that the DOM (cocoon-json.c), the parser
 * (cocoon-json-parser.c) and the serializer (cocoon-json-writer.c) share.
 */

#include "cocoon-json.h"

#include <string.h>

G_BEGIN_DECLS

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

static inline void
member_free(Member *member)
{
	g_free(member->name);
	cocoon_json_free(member->value);
	g_free(member);
}

static inline CocoonJson *
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

static inline Member *
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
static inline void
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

G_END_DECLS
