/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-util"

#include "config.h"

#include "cocoon-unix.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"

int
cocoon_unix_connect(const gchar *path, GError **error)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	cocoon_autofd int fd = -1;
	int r;

	if (g_str_has_prefix(path, "unix://"))
		path += strlen("unix://");
	if (strlen(path) >= sizeof(addr.sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "socket path %s is too long", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		cocoon_set_error_from_errno(error, "socket");
		return -1;
	}
	do
		r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		cocoon_set_error_from_errno(error, "connect to %s", path);
		return -1;
	}
	return cocoon_steal_fd(&fd);
}

gboolean
cocoon_unix_is_served(const gchar *path)
{
	cocoon_autofd int fd = cocoon_unix_connect(path, NULL);
	return fd >= 0;
}

int
cocoon_unix_listen(const gchar *path, int backlog, GError **error)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	cocoon_autofd int fd = -1;

	if (strlen(path) >= sizeof(address.sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "socket path too long for a unix socket (%zu bytes max): %s",
			    sizeof(address.sun_path) - 1, path);
		return -1;
	}
	g_strlcpy(address.sun_path, path, sizeof(address.sun_path));
	if (unlink(path) < 0 && errno != ENOENT) {
		cocoon_set_error_from_errno(error, "remove %s", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0 ||
	    listen(fd, backlog) < 0) {
		cocoon_set_error_from_errno(error, "listen on %s", path);
		return -1;
	}
	return cocoon_steal_fd(&fd);
}
