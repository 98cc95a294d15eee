/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-hypervisor"

#include "config.h"

#include "cocoon-console-log.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"

struct _CocoonConsoleLog {
	gchar *path;
	gchar *rotated_path;
	guint64 max_bytes;
	guint64 size;
	guint rotations;
	int fd;
};

static gboolean
open_file(CocoonConsoleLog *log, GError **error)
{
	int fd = open(log->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
		      0600);

	if (fd < 0) {
		cocoon_set_error_from_errno(error, "open %s", log->path);
		return FALSE;
	}
	cocoon_fd_closep(&log->fd);
	log->fd = fd;
	log->size = 0;
	return TRUE;
}

static gboolean
rotate(CocoonConsoleLog *log, GError **error)
{
	/* ENOENT: an earlier rotation moved it but could not open the new file */
	if (g_rename(log->path, log->rotated_path) < 0 && errno != ENOENT) {
		cocoon_set_error_from_errno(error, "rename %s to %s", log->path, log->rotated_path);
		return FALSE;
	}
	log->rotations++;
	return open_file(log, error);
}

static gboolean
write_all(CocoonConsoleLog *log, const guint8 *data, gsize length, GError **error)
{
	while (length > 0) {
		ssize_t n = write(log->fd, data, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cocoon_set_error_from_errno(error, "write %s", log->path);
			return FALSE;
		}
		data += n;
		length -= (gsize)n;
		log->size += (guint64)n;
	}
	return TRUE;
}

/**
 * cocoon_console_log_open:
 * @path: the console log
 * @max_bytes: the cap of one file, at least 1
 *
 * Returns: (transfer full): the log, or %NULL with @error set
 */
CocoonConsoleLog *
cocoon_console_log_open(const gchar *path, guint64 max_bytes, GError **error)
{
	g_autoptr(CocoonConsoleLog) log = g_new0(CocoonConsoleLog, 1);

	log->fd = -1;
	log->path = g_strdup(path);
	log->rotated_path = g_strconcat(path, COCOON_CONSOLE_LOG_ROTATED_SUFFIX, NULL);
	log->max_bytes = MAX(max_bytes, 1);
	if (g_unlink(log->rotated_path) < 0 && errno != ENOENT) {
		cocoon_set_error_from_errno(error, "remove %s", log->rotated_path);
		return NULL;
	}
	/* a new file: not one an earlier run left with other modes or links */
	if (g_unlink(log->path) < 0 && errno != ENOENT) {
		cocoon_set_error_from_errno(error, "remove %s", log->path);
		return NULL;
	}
	if (!open_file(log, error))
		return NULL;
	return g_steal_pointer(&log);
}

/**
 * cocoon_console_log_write:
 * @log: the log
 * @data: bytes from the guest
 * @length: their length
 *
 * Appends @data; the file never grows past the cap: it rotates first.
 */
gboolean
cocoon_console_log_write(CocoonConsoleLog *log, const guint8 *data, gsize length, GError **error)
{
	/* only the newest max_bytes of one write can survive it */
	if (length > log->max_bytes) {
		data += length - log->max_bytes;
		length = (gsize)log->max_bytes;
	}
	while (length > 0) {
		gsize room;
		gsize chunk;

		if (log->size >= log->max_bytes && !rotate(log, error))
			return FALSE;
		room = (gsize)(log->max_bytes - log->size);
		chunk = MIN(room, length);
		if (!write_all(log, data, chunk, error))
			return FALSE;
		data += chunk;
		length -= chunk;
	}
	return TRUE;
}

guint64
cocoon_console_log_get_size(const CocoonConsoleLog *log)
{
	return log->size;
}

guint
cocoon_console_log_get_rotations(const CocoonConsoleLog *log)
{
	return log->rotations;
}

void
cocoon_console_log_free(CocoonConsoleLog *log)
{
	if (log == NULL)
		return;
	cocoon_fd_closep(&log->fd);
	g_free(log->path);
	g_free(log->rotated_path);
	g_free(log);
}
