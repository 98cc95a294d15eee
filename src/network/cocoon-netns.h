/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Network namespaces as file descriptors. Entering one changes the calling thread for good, so
 * cocoon_netns_run() does it on a short-lived thread of its own: the caller (the sandbox worker)
 * never changes namespace and blocks only while the function runs (netlink calls, each bounded by
 * COCOON_NETLINK_TIMEOUT_MS).
 */

/* opens a network namespace file (/var/run/netns/NAME, /proc/PID/ns/net); checks that it is one */
int cocoon_netns_open(const gchar *path, GError **error);
/* a new, empty network namespace that lives as long as the returned fd (or a process in it) */
int cocoon_netns_new(GError **error);

typedef gboolean (*CocoonNetnsFunc)(gpointer user_data, GError **error);
/* runs func on a new thread inside the namespace netns_fd and returns its result */
gboolean cocoon_netns_run(int netns_fd, CocoonNetnsFunc func, gpointer user_data, GError **error);

G_END_DECLS
