/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <unistd.h>

#include <glib.h>

/*
 * the library's autoclose for fds (GLib's g_autofd is 2.76): `ttrpc_autofd gint fd = -1;`,
 * handed out with g_steal_fd()
 */
static inline void
ttrpc_fd_closep(gint *fd)
{
	gint saved_errno = errno;

	if (*fd >= 0)
		close(*fd);
	errno = saved_errno;
}

#define ttrpc_autofd __attribute__((cleanup(ttrpc_fd_closep)))
