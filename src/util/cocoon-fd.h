/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <unistd.h>

#include <glib.h>

/* the single autoclose helper for file descriptors: `cocoon_autofd int fd = -1;` */
static inline void
cocoon_fd_closep(int *fd)
{
	if (*fd >= 0) {
		int saved_errno = errno;
		close(*fd);
		errno = saved_errno;
		*fd = -1;
	}
}

#define cocoon_autofd __attribute__((cleanup(cocoon_fd_closep)))

/* hand an fd out of an autofd scope: returns it and leaves -1 behind */
static inline int
cocoon_steal_fd(int *fd)
{
	int ret = *fd;
	*fd = -1;
	return ret;
}
