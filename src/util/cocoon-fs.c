/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "cocoon-fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-fd.h"

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

/* a guest can nest directories without end: removal stops this deep (and leaves the rest) */
#define REMOVE_DEPTH_MAX 128

static gboolean force_walk;

void
cocoon_fs_set_force_walk(gboolean force)
{
	force_walk = force;
}

gboolean
cocoon_fs_get_force_walk(void)
{
	return force_walk;
}

static int
set_errno_error(GError **error, int errsv, const gchar *path, const gchar *what)
{
	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv), "%s: %s%s%s", path,
		    what != NULL ? what : "", what != NULL ? ": " : "", g_strerror(errsv));
	return -1;
}

/* one component at a time, never following a symlink; ".." is refused */
static int
open_walk(int dirfd, const gchar *path, int flags, gboolean beneath, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	cocoon_autofd int current = -1;
	guint last = 0;

	for (guint i = 0; parts[i] != NULL; i++) {
		if (beneath && g_str_equal(parts[i], ".."))
			return set_errno_error(error, EXDEV, path, "\"..\" is not allowed");
		if (parts[i][0] != '\0' && !g_str_equal(parts[i], "."))
			last = i + 1;
	}
	if (last == 0)
		return set_errno_error(error, EINVAL, path, "no file name");
	if (g_path_is_absolute(path)) {
		current = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (current < 0)
			return set_errno_error(error, errno, "/", NULL);
	}
	for (guint i = 0; i < last; i++) {
		int base = current >= 0 ? current : dirfd;
		int next;
		struct stat st;

		if (parts[i][0] == '\0' || g_str_equal(parts[i], "."))
			continue;
		next = i + 1 == last ? openat(base, parts[i], flags | O_NOFOLLOW | O_CLOEXEC)
				     : openat(base, parts[i],
					      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return set_errno_error(error, errno, path, NULL);
		/* O_PATH | O_NOFOLLOW opens a symlink itself instead of failing */
		if (fstat(next, &st) < 0 || S_ISLNK(st.st_mode)) {
			close(next);
			return set_errno_error(error, ELOOP, path, "a symlink is in the way");
		}
		cocoon_fd_closep(&current);
		current = next;
	}
	return cocoon_steal_fd(&current);
}

static int
open_resolved(int dirfd, const gchar *path, int flags, gboolean beneath, GError **error)
{
	struct open_how how = {
		.flags = (guint64)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	g_return_val_if_fail(path != NULL, -1);
	if (beneath) {
		if (g_path_is_absolute(path))
			return set_errno_error(error, EXDEV, path,
					       "an absolute path is not beneath");
		how.resolve |= RESOLVE_BENEATH;
	}
	if (!force_walk) {
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0) {
			struct stat st;
			/* O_PATH | O_NOFOLLOW on a final symlink opens the link itself */
			if (fstat(fd, &st) == 0 && !S_ISLNK(st.st_mode))
				return fd;
			close(fd);
			return set_errno_error(error, ELOOP, path, "a symlink is in the way");
		}
		if (errno != ENOSYS && errno != EPERM)
			return set_errno_error(error, errno, path,
					       errno == EXDEV || errno == ELOOP
						       ? "a symlink or \"..\" is in the way"
						       : NULL);
	}
	return open_walk(dirfd, path, flags, beneath, error);
}

int
cocoon_fs_open_beneath(int dirfd, const gchar *path, int flags, GError **error)
{
	return open_resolved(dirfd, path, flags, TRUE, error);
}

int
cocoon_fs_open_nofollow(int dirfd, const gchar *path, int flags, GError **error)
{
	return open_resolved(dirfd, path, flags, FALSE, error);
}

int
cocoon_fs_mkdir_beneath(int dirfd, const gchar *name, mode_t mode, GError **error)
{
	cocoon_autofd int fd = -1;
	struct stat st;

	if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		return set_errno_error(error, errno, name, "mkdir");
	fd = cocoon_fs_open_beneath(dirfd, name, O_PATH | O_DIRECTORY, error);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
		return set_errno_error(error, ENOTDIR, name, NULL);
	return cocoon_steal_fd(&fd);
}

/* the mount id of fd, from /proc/self/fdinfo (Linux 3.15 and later); -1 if unknown */
static gint64
fd_mount_id(int fd)
{
	g_autofree gchar *path = g_strdup_printf("/proc/self/fdinfo/%d", fd);
	g_autofree gchar *contents = NULL;
	const gchar *line;

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return -1;
	line = strstr(contents, "mnt_id:");
	return line != NULL ? g_ascii_strtoll(line + strlen("mnt_id:"), NULL, 10) : -1;
}

gboolean
cocoon_fs_is_mount_root(int fd)
{
	struct statx stx;
	cocoon_autofd int parent = -1;
	gint64 self_id, parent_id;

	if (!force_walk &&
	    statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
	    (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0)
		return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	/*
	 * before Linux 5.8: ".." of a mount's root is in the parent mount. st_dev alone would miss
	 * a bind mount of the same file system, and walking into it could remove a volume's data
	 */
	parent = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	self_id = fd_mount_id(fd);
	parent_id = parent >= 0 ? fd_mount_id(parent) : -1;
	/* unknown counts as a mount: never descended into */
	return self_id < 0 || parent_id < 0 || self_id != parent_id;
}

static void
remove_beneath(int dirfd, const gchar *name, guint depth)
{
	cocoon_autofd int fd = -1;
	DIR *dir;
	struct dirent *entry;
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		(void)unlinkat(dirfd, name, 0);
		return;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		/* replaced by something else meanwhile: that goes, never what it points to */
		if (errno == ELOOP || errno == ENOTDIR)
			(void)unlinkat(dirfd, name, 0);
		return;
	}
	/* the top may be a mount of its own (a tmpfs state directory): what is below it may not */
	if ((depth > 0 && cocoon_fs_is_mount_root(fd)) || depth >= REMOVE_DEPTH_MAX)
		return;
	dir = fdopendir(dup(fd));
	if (dir == NULL)
		return;
	while ((entry = readdir(dir)) != NULL) {
		if (g_str_equal(entry->d_name, ".") || g_str_equal(entry->d_name, ".."))
			continue;
		remove_beneath(fd, entry->d_name, depth + 1);
	}
	closedir(dir);
	(void)unlinkat(dirfd, name, AT_REMOVEDIR);
}

void
cocoon_fs_remove_beneath(int dirfd, const gchar *name)
{
	g_return_if_fail(name != NULL && strchr(name, '/') == NULL);
	if (g_str_equal(name, ".") || g_str_equal(name, ".."))
		return;
	remove_beneath(dirfd, name, 0);
}

void
cocoon_remove_tree(const gchar *path)
{
	g_autofree gchar *parent = g_path_get_dirname(path);
	g_autofree gchar *name = g_path_get_basename(path);
	cocoon_autofd int fd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0 && strchr(name, '/') == NULL)
		cocoon_fs_remove_beneath(fd, name);
}

void
cocoon_clear_file(gchar **path)
{
	if (*path != NULL)
		(void)unlink(*path);
	g_clear_pointer(path, g_free);
}
