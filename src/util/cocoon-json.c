/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-json"

#include "config.h"

#include "cocoon-json.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include <glib.h>

#include "cocoon-json-private.h"

GQuark
cocoon_json_error_quark(void)
{
	return g_quark_from_static_string("cocoon-json-error-quark");
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
