/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

/*
 * an enum's names in a table indexed by its values (0, 1, ...): the value of a name, -1 for none
 * of them (NULL included)
 */
static inline gint
cocoon_names_lookup(const gchar *const *names, gsize n_names, const gchar *name)
{
	for (gsize i = 0; name != NULL && i < n_names; i++) {
		if (g_str_equal(names[i], name))
			return (gint)i;
	}
	return -1;
}

/* the name of value, or fallback outside the table */
static inline const gchar *
cocoon_names_get(const gchar *const *names, gsize n_names, gint value, const gchar *fallback)
{
	return value >= 0 && (gsize)value < n_names ? names[value] : fallback;
}
