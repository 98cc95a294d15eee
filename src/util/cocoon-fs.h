/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <sys/types.h>

#include <glib.h>

G_BEGIN_DECLS

/*
 * Paths that a guest can write (the pod's share) are never walked by name as root: a directory is
 * opened once and everything below it is reached relative to that fd, refusing symlinks, magic
 * links and "..", so a guest that plants a symlink or renames a directory cannot steer the host.
 */

/*
 * opens path (beneath dirfd, which may be AT_FDCWD for a trusted absolute path's last step) with
 * flags; every component must be a real file or directory, never a symlink, a magic link or "..".
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), or an O_NOFOLLOW walk
 * where the kernel has no openat2. Returns the fd or -1 with error.
 */
int cocoon_fs_open_beneath(int dirfd, const gchar *path, int flags, GError **error);

/*
 * the same without the "beneath" part: ".." and absolute paths are allowed (for paths that a
 * spec author chose relative to a directory, e.g. a bind source relative to the bundle), symlinks
 * and magic links still are not
 */
int cocoon_fs_open_nofollow(int dirfd, const gchar *path, int flags, GError **error);

/* tests: behave as on old kernels (the O_NOFOLLOW walk without openat2, mount roots told by
 * mount ids without statx's STATX_ATTR_MOUNT_ROOT) */
void cocoon_fs_set_force_walk(gboolean force);
/* the same switch makes the mount code (src/sandbox) use mount(2) as without the new mount API */
gboolean cocoon_fs_get_force_walk(void);

/*
 * creates the directory name in dirfd (an existing one is fine) and opens it O_PATH beneath
 * dirfd; -1 with error when name is, or became, anything but a directory
 */
int cocoon_fs_mkdir_beneath(int dirfd, const gchar *name, mode_t mode, GError **error);

/*
 * removes name in dirfd and everything below it, best effort: symlinks are removed, never
 * followed, and nothing below a mount point is touched (a volume still mounted keeps its data)
 */
void cocoon_fs_remove_beneath(int dirfd, const gchar *name);

/* TRUE when the file that fd refers to is the root of a mount */
gboolean cocoon_fs_is_mount_root(int fd);

/* the same as cocoon_fs_remove_beneath() for a path whose parents are trusted */
void cocoon_remove_tree(const gchar *path);

/* a file of our own that is done with: unlinked (if there is a name), and the name freed */
void cocoon_clear_file(gchar **path);

G_END_DECLS
