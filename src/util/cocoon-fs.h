/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * removes path and everything below it, best effort (errors are ignored); symlinks are removed,
 * never followed
 */
void cocoon_remove_tree(const gchar *path);

G_END_DECLS
