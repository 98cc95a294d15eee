/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-hypervisor"

#include "config.h"

#include "cocoon-uid-lease.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"

struct _CocoonUidLease {
	uid_t uid;
	int fd; /* the locked file */
};

gboolean
cocoon_uid_in_use(uid_t uid)
{
	DIR *proc = opendir("/proc");
	struct dirent *entry;
	gboolean in_use = FALSE;

	if (proc == NULL)
		return FALSE;
	while (!in_use && (entry = readdir(proc)) != NULL) {
		struct stat st;
		if (entry->d_name[0] < '1' || entry->d_name[0] > '9')
			continue;
		/* /proc/<pid> belongs to the process's effective uid (when it is dumpable) */
		if (fstatat(dirfd(proc), entry->d_name, &st, 0) == 0 && st.st_uid == uid)
			in_use = TRUE;
	}
	closedir(proc);
	return in_use;
}

/* the lease directory: a real directory of root's, 0700 */
static int
open_lease_dir(const gchar *dir, GError **error)
{
	cocoon_autofd int fd = -1;
	struct stat st;

	if (g_mkdir_with_parents(dir, 0700) < 0) {
		cocoon_set_error_from_errno(error, "uid leases: mkdir %s", dir);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		cocoon_set_error_from_errno(error, "uid leases: open %s", dir);
		return -1;
	}
	if (st.st_uid != getuid() || (st.st_mode & 022) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "uid leases: %s must be a directory of uid %u that others cannot write",
			    dir, (guint)getuid());
		return -1;
	}
	return cocoon_steal_fd(&fd);
}

CocoonUidLease *
cocoon_uid_lease_acquire(const gchar *dir, guint32 base, guint32 count, const gchar *owner,
			 GError **error)
{
	cocoon_autofd int dir_fd = -1;
	guint32 start;

	if (count == 0 || base == 0 || (guint64)base + count > G_MAXUINT32) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "uid leases: the range %u + %u is not a range of unprivileged uids",
			    base, count);
		return NULL;
	}
	dir_fd = open_lease_dir(dir, error);
	if (dir_fd < 0)
		return NULL;
	/* from a random place: concurrent shims rarely try the same uid first */
	start = (guint32)g_random_int_range(0, (gint32)MIN(count, (guint32)G_MAXINT32));
	for (guint32 i = 0; i < count; i++) {
		uid_t uid = base + (start + i) % count;
		gchar name[16];
		cocoon_autofd int fd = -1;
		g_autofree gchar *text = NULL;

		g_snprintf(name, sizeof(name), "%u", (guint)uid);
		fd = openat(dir_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			cocoon_set_error_from_errno(error, "uid leases: open %s/%s", dir, name);
			return NULL;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK || errno == EINTR)
				continue;
			cocoon_set_error_from_errno(error, "uid leases: lock %s/%s", dir, name);
			return NULL;
		}
		if (cocoon_uid_in_use(uid)) {
			g_message(
				"uid leases: uid %u is free by its lock but a process runs as it: "
				"skipped",
				(guint)uid);
			continue;
		}
		/* who holds it, for cocoonctl and whoever looks */
		text = g_strdup_printf("%d %s\n", (int)getpid(), owner);
		if (ftruncate(fd, 0) < 0 || pwrite(fd, text, strlen(text), 0) < 0)
			g_debug("uid leases: cannot write %s/%s: %s", dir, name, g_strerror(errno));
		{
			CocoonUidLease *lease = g_new0(CocoonUidLease, 1);
			lease->uid = uid;
			lease->fd = cocoon_steal_fd(&fd);
			return lease;
		}
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY,
		    "uid leases: every uid of %u-%u is leased (confine.uid_count)", base,
		    base + count - 1);
	return NULL;
}

uid_t
cocoon_uid_lease_get_uid(const CocoonUidLease *lease)
{
	return lease->uid;
}

void
cocoon_uid_lease_release(CocoonUidLease *lease)
{
	if (lease == NULL)
		return;
	/* the file stays: unlinking it would race with a shim that opened it and waits to lock */
	if (ftruncate(lease->fd, 0) < 0)
		g_debug("uid leases: truncate: %s", g_strerror(errno));
	close(lease->fd);
	g_free(lease);
}
