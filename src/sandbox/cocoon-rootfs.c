/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-rootfs"

#include "config.h"

#include "cocoon-rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-fs.h"

static const struct {
	const gchar *name;
	gboolean clear;
	gulong flag;
} mount_flags[] = {
	{"ro", FALSE, MS_RDONLY},
	{"rw", TRUE, MS_RDONLY},
	{"nosuid", FALSE, MS_NOSUID},
	{"suid", TRUE, MS_NOSUID},
	{"nodev", FALSE, MS_NODEV},
	{"dev", TRUE, MS_NODEV},
	{"noexec", FALSE, MS_NOEXEC},
	{"exec", TRUE, MS_NOEXEC},
	{"sync", FALSE, MS_SYNCHRONOUS},
	{"async", TRUE, MS_SYNCHRONOUS},
	{"noatime", FALSE, MS_NOATIME},
	{"atime", TRUE, MS_NOATIME},
	{"relatime", FALSE, MS_RELATIME},
	{"norelatime", TRUE, MS_RELATIME},
	{"nodiratime", FALSE, MS_NODIRATIME},
	{"bind", FALSE, MS_BIND},
	{"rbind", FALSE, MS_BIND | MS_REC},
	{"defaults", FALSE, 0},
};

void
cocoon_mount_options_parse(char **options, gsize n_options, gulong *ret_flags, gchar **ret_data,
			   gboolean *ret_recursive_bind)
{
	g_autoptr(GString) data = g_string_new(NULL);
	gulong flags = 0;
	gboolean recursive = FALSE;

	for (gsize i = 0; i < n_options; i++) {
		gboolean known = FALSE;
		for (guint j = 0; j < G_N_ELEMENTS(mount_flags); j++) {
			if (!g_str_equal(options[i], mount_flags[j].name))
				continue;
			if (mount_flags[j].clear)
				flags &= ~mount_flags[j].flag;
			else
				flags |= mount_flags[j].flag;
			if (g_str_equal(options[i], "rbind"))
				recursive = TRUE;
			known = TRUE;
		}
		if (known)
			continue;
		if (data->len > 0)
			g_string_append_c(data, ',');
		g_string_append(data, options[i]);
	}
	*ret_flags = flags;
	*ret_data = g_string_free(g_steal_pointer(&data), FALSE);
	if (ret_recursive_bind != NULL)
		*ret_recursive_bind = recursive;
}

static gboolean
check_real_directory(const gchar *path, GError **error)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		cocoon_set_error_from_errno(error, "%s", path);
		return FALSE;
	}
	if (!S_ISDIR(st.st_mode)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
			    "%s is not a directory (symlinks are refused)", path);
		return FALSE;
	}
	return TRUE;
}

gboolean
cocoon_rootfs_mount(const gchar *target, Containerd__Types__Mount **mounts, gsize n_mounts,
		    GError **error)
{
	if (!check_real_directory(target, error))
		return FALSE;
	for (gsize i = 0; i < n_mounts; i++) {
		Containerd__Types__Mount *m = mounts[i];
		g_autofree gchar *data = NULL;
		gulong flags;
		const gchar *type = m->type;

		cocoon_mount_options_parse(m->options, m->n_options, &flags, &data, NULL);
		/*
		 * the type of a bind mount or a remount is ignored: "none", not NULL, which
		 * valgrind reads as a string
		 */
		if (g_str_equal(type, "bind") || (flags & MS_BIND) != 0) {
			type = "none";
			flags |= MS_BIND;
		}
		if (mount(m->source, target, type, flags & ~MS_RDONLY, data[0] ? data : NULL) < 0) {
			cocoon_set_error_from_errno(error, "mount %s (%s) on %s", m->source,
						    m->type, target);
			return FALSE;
		}
		if ((flags & MS_BIND) && (flags & MS_RDONLY) &&
		    !cocoon_mount_make_readonly(target, error))
			return FALSE;
	}
	return TRUE;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static gchar *
mountinfo_unescape(const gchar *field)
{
	GString *out = g_string_new(NULL);

	for (const gchar *p = field; *p != '\0'; p++) {
		if (p[0] == '\\' && g_ascii_isdigit(p[1]) && g_ascii_isdigit(p[2]) &&
		    g_ascii_isdigit(p[3])) {
			g_string_append_c(out, (gchar)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) |
						       (p[3] - '0')));
			p += 3;
		} else {
			g_string_append_c(out, *p);
		}
	}
	return g_string_free(out, FALSE);
}

/* kernels without mount_setattr (before 5.12): remount each mount at or below target */
static gboolean
make_readonly_each(const gchar *target, GError **error)
{
	g_autofree gchar *mountinfo = NULL;
	g_auto(GStrv) lines = NULL;
	g_autofree gchar *prefix = g_strconcat(target, "/", NULL);
	gboolean found = FALSE;

	if (!g_file_get_contents("/proc/self/mountinfo", &mountinfo, NULL, error))
		return FALSE;
	lines = g_strsplit(mountinfo, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = g_strsplit(lines[i], " ", 7);
		g_autofree gchar *point = NULL;
		g_auto(GStrv) options = NULL;
		g_autofree gchar *data = NULL;
		gulong flags;

		if (g_strv_length(fields) < 6)
			continue;
		point = mountinfo_unescape(fields[4]);
		if (g_strcmp0(point, target) == 0)
			found = TRUE;
		else if (!g_str_has_prefix(point, prefix))
			continue;
		/* a remount sets every per-mount flag: keep the ones the mount has */
		options = g_strsplit(fields[5], ",", -1);
		cocoon_mount_options_parse(options, g_strv_length(options), &flags, &data, NULL);
		flags &=
			MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME;
		if (mount(NULL, point, "none", flags | MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) <
		    0) {
			cocoon_set_error_from_errno(error, "remount %s read-only", point);
			return FALSE;
		}
	}
	if (!found) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_MOUNTED, "%s is not a mount point",
			    target);
		return FALSE;
	}
	return TRUE;
}

/**
 * cocoon_mount_make_readonly:
 *
 * makes the mount on target and every mount below it read-only: a recursive bind mount keeps the
 * flags of the submounts it copies, and a plain remount changes only the top one
 */
gboolean
cocoon_mount_make_readonly(const gchar *target, GError **error)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};

	if (mount_setattr(AT_FDCWD, target, AT_RECURSIVE | AT_SYMLINK_NOFOLLOW, &attr,
			  sizeof(attr)) == 0)
		return TRUE;
	if (errno != ENOSYS) {
		cocoon_set_error_from_errno(error, "make %s and its submounts read-only", target);
		return FALSE;
	}
	return make_readonly_each(target, error);
}

struct _CocoonMountCopy {
	int fd;		    /* the detached tree (open_tree), or the source itself (the fallback) */
	gboolean detached;  /* FALSE: no new mount API (Linux < 5.2, valgrind 3.19): mount(2) */
	gboolean recursive; /* the fallback's mount(2) flags */
	gboolean readonly;
};

void
cocoon_mount_copy_free(CocoonMountCopy *copy)
{
	if (copy == NULL)
		return;
	cocoon_fd_closep(&copy->fd);
	g_free(copy);
}

CocoonMountCopy *
cocoon_mount_clone(int source_fd, gboolean recursive, gboolean readonly, GError **error)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
	/*
	 * private: a copy is otherwise a peer of its source where that is shared (systemd's "/"),
	 * and then detaching it would detach the host's own mounts below the source, and a mount
	 * the host adds there later would appear in the copy, writable in a read-only one
	 */
	struct mount_attr private_attr = {.propagation = MS_PRIVATE};
	g_autoptr(CocoonMountCopy) copy = g_new0(CocoonMountCopy, 1);

	copy->recursive = recursive;
	copy->readonly = readonly;
	if (cocoon_fs_get_force_walk()) {
		copy->fd = -1;
		errno = ENOSYS;
	} else {
		copy->fd = open_tree(source_fd, "",
				     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
					     (recursive ? AT_RECURSIVE : 0));
	}
	if (copy->fd < 0 && errno == ENOSYS) {
		/* the source itself; cocoon_mount_copy_attach() binds it with mount(2) */
		copy->fd = fcntl(source_fd, F_DUPFD_CLOEXEC, 3);
		if (copy->fd < 0) {
			cocoon_set_error_from_errno(error, "dup");
			return NULL;
		}
		return g_steal_pointer(&copy);
	}
	if (copy->fd < 0) {
		cocoon_set_error_from_errno(error, "copy the mount tree");
		return NULL;
	}
	copy->detached = TRUE;
	if (mount_setattr(copy->fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &private_attr,
			  sizeof(private_attr)) < 0) {
		cocoon_set_error_from_errno(error, "make the copy private");
		return NULL;
	}
	/* read-only before anybody can see it, submounts included */
	if (readonly &&
	    mount_setattr(copy->fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
		cocoon_set_error_from_errno(error, "make the copy read-only");
		return NULL;
	}
	return g_steal_pointer(&copy);
}

CocoonMountCopy *
cocoon_mount_clone_path(const gchar *source, gboolean readonly, GError **error)
{
	cocoon_autofd int fd = open(source, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	CocoonMountCopy *copy;

	if (fd < 0) {
		cocoon_set_error_from_errno(error, "%s", source);
		return NULL;
	}
	copy = cocoon_mount_clone(fd, TRUE, readonly, error);
	if (copy == NULL)
		g_prefix_error(error, "%s: ", source);
	return copy;
}

static gchar *
proc_fd_path(int fd)
{
	return g_strdup_printf("/proc/self/fd/%d", fd);
}

/*
 * without the new mount API: mount(2) binds the source onto the target's /proc/self/fd path (the
 * target fd, not a path a guest could change), then the new mount is reached from its parent
 * directory's fd and checked to be a mount of the source before it is made private and read-only
 */
static int
attach_fallback(CocoonMountCopy *copy, int target_fd, int parent_fd, const gchar *name,
		GError **error)
{
	g_autofree gchar *source = proc_fd_path(copy->fd);
	g_autofree gchar *target = proc_fd_path(target_fd);
	g_autofree gchar *root_path = NULL;
	cocoon_autofd int root = -1;
	struct stat source_st, root_st;

	if (mount(source, target, "none", MS_BIND | (copy->recursive ? MS_REC : 0), NULL) < 0) {
		cocoon_set_error_from_errno(error, "bind");
		return -1;
	}
	root = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0 || !cocoon_fs_is_mount_root(root) || fstat(root, &root_st) < 0 ||
	    fstat(copy->fd, &source_st) < 0 || root_st.st_dev != source_st.st_dev ||
	    root_st.st_ino != source_st.st_ino) {
		/* something else is there now; ours is detached through the target's fd */
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s changed while it was mounted",
			    name);
		return -1;
	}
	root_path = proc_fd_path(root);
	if (mount(NULL, root_path, "none", MS_PRIVATE | (copy->recursive ? MS_REC : 0), NULL) < 0) {
		cocoon_set_error_from_errno(error, "make private");
		(void)umount2(root_path, MNT_DETACH);
		return -1;
	}
	if (copy->readonly) {
		/* the mount's own path now (mountinfo names it so), submounts included */
		g_autofree gchar *path = g_file_read_link(root_path, NULL);
		if (path == NULL || !make_readonly_each(path, error)) {
			if (path == NULL)
				g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
					    "%s: no path to make read-only", name);
			(void)umount2(root_path, MNT_DETACH);
			return -1;
		}
	}
	return cocoon_steal_fd(&root);
}

int
cocoon_mount_copy_attach(CocoonMountCopy *copy, int target_fd, int parent_fd, const gchar *name,
			 GError **error)
{
	if (!copy->detached)
		return attach_fallback(copy, target_fd, parent_fd, name, error);
	if (move_mount(copy->fd, "", target_fd, "",
		       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		cocoon_set_error_from_errno(error, "move_mount");
		return -1;
	}
	/* the tree's fd names the attached mount from now on */
	return cocoon_steal_fd(&copy->fd);
}

gboolean
cocoon_mount_detach(int tree_fd, GError **error)
{
	g_autofree gchar *path = g_strdup_printf("/proc/self/fd/%d", tree_fd);

	/* the fd names the mount itself: wherever a guest moved it since, this is what goes */
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL) {
		cocoon_set_error_from_errno(error, "umount");
		return FALSE;
	}
	return TRUE;
}

gboolean
cocoon_unmount_below(const gchar *configured_dir, GError **error)
{
	g_autofree gchar *mountinfo = NULL;
	g_auto(GStrv) lines = NULL;
	/* mountinfo has the kernel's canonical paths: a state_dir through a symlink, too */
	g_autofree gchar *dir = realpath(configured_dir, NULL);
	g_autofree gchar *prefix = NULL;
	g_autoptr(GPtrArray) points = g_ptr_array_new_with_free_func(g_free);
	cocoon_autofd int dir_fd = -1;
	gboolean ok = TRUE;

	if (dir == NULL)
		return errno == ENOENT;
	prefix = g_strconcat(g_str_equal(dir, "/") ? "" : dir, "/", NULL);
	dir_fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0)
		return errno == ENOENT;
	if (!g_file_get_contents("/proc/self/mountinfo", &mountinfo, NULL, error))
		return FALSE;
	lines = g_strsplit(mountinfo, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = g_strsplit(lines[i], " ", 6);
		gchar *point;
		if (g_strv_length(fields) < 5)
			continue;
		point = mountinfo_unescape(fields[4]);
		if (g_str_has_prefix(point, prefix))
			g_ptr_array_add(points, point);
		else
			g_free(point);
	}
	/* children are listed after their parents: undo in reverse */
	for (guint i = points->len; i > 0; i--) {
		const gchar *relative = (const gchar *)points->pdata[i - 1] + strlen(prefix);
		g_autoptr(GError) local_error = NULL;

		/* each is reached beneath dir without a symlink: the path is the kernel's, but a
		 * guest may have renamed or replaced what is on it since */
		for (guint tries = 0; tries < 64; tries++) {
			cocoon_autofd int fd =
				cocoon_fs_open_beneath(dir_fd, relative, O_PATH, &local_error);
			if (fd < 0 || !cocoon_fs_is_mount_root(fd))
				break;
			if (!cocoon_mount_detach(fd, &local_error))
				break;
		}
		if (local_error != NULL &&
		    !g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
			g_warning("unmount %s: %s", (const gchar *)points->pdata[i - 1],
				  local_error->message);
			ok = FALSE;
		}
	}
	if (!ok)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY, "%s: some mounts below it stay",
			    dir);
	return ok;
}

gboolean
cocoon_rootfs_unmount(const gchar *target, GError **error)
{
	/* a bounded loop: each call removes the top mount */
	for (int i = 0; i < 64; i++) {
		if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT)
			return TRUE;
		cocoon_set_error_from_errno(error, "umount %s", target);
		return FALSE;
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "umount %s: still mounted", target);
	return FALSE;
}
