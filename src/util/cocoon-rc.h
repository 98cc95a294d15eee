/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

/*
 * defines prefix_ref() and prefix_unref() for a Type allocated with g_atomic_rc_box_new0(), the
 * way G_DEFINE_AUTOPTR_CLEANUP_FUNC defines a cleanup: unref accepts NULL, and the last one calls
 * clear (which frees what the members own) before the box goes
 */
#define COCOON_DEFINE_ATOMIC_RC(Type, prefix, clear)                                               \
	Type *prefix##_ref(Type *self)                                                             \
	{                                                                                          \
		return g_atomic_rc_box_acquire(self);                                              \
	}                                                                                          \
                                                                                                   \
	void prefix##_unref(Type *self)                                                            \
	{                                                                                          \
		if (self != NULL)                                                                  \
			g_atomic_rc_box_release_full(self, (GDestroyNotify)clear);                 \
	}
