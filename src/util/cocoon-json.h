/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A small JSON DOM (RFC 8259) for the OCI runtime spec and QMP.
 *
 * - Objects keep their members in document order; duplicate member names are rejected by the
 *   parser (two readers of one config.json must never disagree on which value counts).
 * - Numbers keep their original text, so 18446744073709551615 or 1.10 round-trip byte for byte;
 *   the typed accessors convert on demand and fail cleanly when the value does not fit.
 * - Strings are UTF-8 and may contain U+0000 (from "\u0000"); member names may not.
 * - A node is owned by exactly one parent; setters and append take ownership of the value.
 *
 * Not thread-safe: one tree is used by one thread at a time.
 */
typedef struct _CocoonJson CocoonJson;

typedef enum {
	COCOON_JSON_NULL,
	COCOON_JSON_BOOLEAN,
	COCOON_JSON_NUMBER,
	COCOON_JSON_STRING,
	COCOON_JSON_ARRAY,
	COCOON_JSON_OBJECT,
} CocoonJsonKind;

#define COCOON_JSON_ERROR cocoon_json_error_quark()
typedef enum {
	COCOON_JSON_ERROR_INVALID, /* not JSON: the message names line, column and byte offset */
	COCOON_JSON_ERROR_LIMIT,   /* input too large, nested too deep, too many values */
	COCOON_JSON_ERROR_TYPE,	   /* the value is not of the requested kind */
	COCOON_JSON_ERROR_RANGE,   /* the number does not fit the requested C type */
} CocoonJsonError;

GQuark cocoon_json_error_quark(void);

/* parser limits */
#define COCOON_JSON_MAX_INPUT  (16u * 1024 * 1024)
#define COCOON_JSON_MAX_DEPTH  128
#define COCOON_JSON_MAX_VALUES (1024u * 1024)

CocoonJson *cocoon_json_parse(const gchar *data, gsize length, GError **error);
/* reads a file of at most COCOON_JSON_MAX_INPUT bytes and parses it; errors name the path */
CocoonJson *cocoon_json_parse_file(const gchar *path, GError **error);

/* compact (no whitespace) or pretty (two-space indent, one member per line); never NULL */
gchar *cocoon_json_to_string(const CocoonJson *node, gboolean pretty);

void cocoon_json_free(CocoonJson *node);
CocoonJson *cocoon_json_copy(const CocoonJson *node);
/* deep equality; object member order does not matter; numbers compare by their text */
gboolean cocoon_json_equal(const CocoonJson *a, const CocoonJson *b);

/* constructors; invalid UTF-8 in a string is replaced by U+FFFD, a non-finite double is null */
CocoonJson *cocoon_json_new_null(void);
CocoonJson *cocoon_json_new_boolean(gboolean value);
CocoonJson *cocoon_json_new_int64(gint64 value);
CocoonJson *cocoon_json_new_uint64(guint64 value);
CocoonJson *cocoon_json_new_double(gdouble value);
CocoonJson *cocoon_json_new_string(const gchar *value);
CocoonJson *cocoon_json_new_string_len(const gchar *value, gsize length);
CocoonJson *cocoon_json_new_array(void);
CocoonJson *cocoon_json_new_object(void);

CocoonJsonKind cocoon_json_get_kind(const CocoonJson *node);
const gchar *cocoon_json_kind_to_string(CocoonJsonKind kind);
gboolean cocoon_json_is_null(const CocoonJson *node);
gboolean cocoon_json_is_object(const CocoonJson *node);
gboolean cocoon_json_is_array(const CocoonJson *node);
gboolean cocoon_json_is_string(const CocoonJson *node);

/* scalar accessors: COCOON_JSON_ERROR_TYPE for the wrong kind, _RANGE when it does not fit */
gboolean cocoon_json_get_boolean(const CocoonJson *node, gboolean *ret_value, GError **error);
/* integers only: "1.0" and "1e3" are TYPE errors for these two */
gboolean cocoon_json_get_int64(const CocoonJson *node, gint64 *ret_value, GError **error);
gboolean cocoon_json_get_uint64(const CocoonJson *node, guint64 *ret_value, GError **error);
/* any number; overflow to infinity is a RANGE error, underflow gives the nearest double */
gboolean cocoon_json_get_double(const CocoonJson *node, gdouble *ret_value, GError **error);
/* the number exactly as written, or NULL if not a number */
const gchar *cocoon_json_get_number_text(const CocoonJson *node);
/* NULL if not a string; the string is NUL-terminated, ret_length (optional) counts embedded NULs */
const gchar *cocoon_json_get_string(const CocoonJson *node);
const gchar *cocoon_json_get_string_len(const CocoonJson *node, gsize *ret_length);

/* objects; getters return borrowed nodes, NULL when missing or when object is not an object */
guint cocoon_json_object_get_size(const CocoonJson *object);
CocoonJson *cocoon_json_object_get(const CocoonJson *object, const gchar *name);
gboolean cocoon_json_object_has(const CocoonJson *object, const gchar *name);
/* takes value; replaces an existing member in place (keeping its position) or appends */
void cocoon_json_object_set(CocoonJson *object, const gchar *name, CocoonJson *value);
void cocoon_json_object_set_string(CocoonJson *object, const gchar *name, const gchar *value);
void cocoon_json_object_set_int64(CocoonJson *object, const gchar *name, gint64 value);
void cocoon_json_object_set_boolean(CocoonJson *object, const gchar *name, gboolean value);
/* FALSE if there was no such member */
gboolean cocoon_json_object_remove(CocoonJson *object, const gchar *name);
/* detaches and returns the member's value (caller owns it), NULL if missing */
CocoonJson *cocoon_json_object_steal(CocoonJson *object, const gchar *name);

/* typed member lookups: NULL / FALSE-with-error when missing or of another kind */
const gchar *cocoon_json_object_get_string_member(const CocoonJson *object, const gchar *name);
CocoonJson *cocoon_json_object_get_object_member(const CocoonJson *object, const gchar *name);
CocoonJson *cocoon_json_object_get_array_member(const CocoonJson *object, const gchar *name);
gboolean cocoon_json_object_get_int64_member(const CocoonJson *object, const gchar *name,
					     gint64 *ret_value, GError **error);
gboolean cocoon_json_object_get_uint64_member(const CocoonJson *object, const gchar *name,
					      guint64 *ret_value, GError **error);
/* default_value when the member is missing or not a boolean */
gboolean cocoon_json_object_get_boolean_member(const CocoonJson *object, const gchar *name,
					       gboolean default_value);

/* arrays */
guint cocoon_json_array_get_length(const CocoonJson *array);
CocoonJson *cocoon_json_array_get(const CocoonJson *array, guint index);
/* takes value */
void cocoon_json_array_append(CocoonJson *array, CocoonJson *value);
/* FALSE if index is out of range */
gboolean cocoon_json_array_remove(CocoonJson *array, guint index);

/*
 * follows object members: cocoon_json_path_get(root, "linux", "namespaces", NULL); returns a
 * borrowed node or NULL when a step is missing or not an object
 */
CocoonJson *cocoon_json_path_get(const CocoonJson *root, ...) G_GNUC_NULL_TERMINATED;

/*
 * iterates the members of an object (ret_name set) or the elements of an array (ret_name NULL);
 * the container must not change while iterating
 */
typedef struct {
	const CocoonJson *container;
	guint index;
} CocoonJsonIter;

void cocoon_json_iter_init(CocoonJsonIter *iter, const CocoonJson *container);
gboolean cocoon_json_iter_next(CocoonJsonIter *iter, const gchar **ret_name,
			       CocoonJson **ret_value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonJson, cocoon_json_free)

G_END_DECLS
