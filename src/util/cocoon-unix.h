/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* a connected unix stream socket (close-on-exec) to path, which may carry a unix:// prefix */
int cocoon_unix_connect(const gchar *path, GError **error);
/* a listening unix stream socket (close-on-exec) at path, made afresh (a file there is removed) */
int cocoon_unix_listen(const gchar *path, int backlog, GError **error);
/* TRUE when something accepts connections on path */
gboolean cocoon_unix_is_served(const gchar *path);

G_END_DECLS
