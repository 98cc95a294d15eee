/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "containerd-mount.pb-c.h"

G_BEGIN_DECLS

/* split fstab-style options into mount(2) flags and the data string */
void cocoon_mount_options_parse(char **options, gsize n_options, gulong *ret_flags,
				gchar **ret_data, gboolean *ret_recursive_bind);

/* mounts containerd's rootfs mounts on target, a real directory (not a symlink) */
gboolean cocoon_rootfs_mount(const gchar *target, Containerd__Types__Mount **mounts, gsize n_mounts,
			     GError **error);
/* the mount on target and every mount below it become read-only */
gboolean cocoon_mount_make_readonly(const gchar *target, GError **error);
/*
 * for targets that a guest can write (the pod's share): a mount is copied (a detached tree with
 * the new mount API), attached onto an fd opened without following symlinks, and later detached by
 * the fd that names it, wherever it was moved since; never by path
 *
 * a copy of the mount at source_fd (with its submounts if recursive), private (never a peer of the
 * source), read-only with submounts if asked: a detached tree from open_tree(), or, without the new
 * mount API (Linux < 5.2, valgrind), what cocoon_mount_copy_attach() binds with mount(2)
 */
typedef struct _CocoonMountCopy CocoonMountCopy;
CocoonMountCopy *cocoon_mount_clone(int source_fd, gboolean recursive, gboolean readonly,
				    GError **error);
/* the same for a trusted host path (its last component must not be a symlink), recursive */
CocoonMountCopy *cocoon_mount_clone_path(const gchar *source, gboolean readonly, GError **error);
void cocoon_mount_copy_free(CocoonMountCopy *copy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonMountCopy, cocoon_mount_copy_free)
/*
 * attaches the copy onto target_fd (an fd of a directory or a file, which is name in the directory
 * parent_fd); returns an fd that names the new mount (for cocoon_mount_detach()), or -1 with error
 */
int cocoon_mount_copy_attach(CocoonMountCopy *copy, int target_fd, int parent_fd, const gchar *name,
			     GError **error);
/* detaches the mount tree_fd names, with its submounts; TRUE if it is not mounted any more */
gboolean cocoon_mount_detach(int tree_fd, GError **error);
/*
 * for a pod whose VM is gone (shim delete, the shim's exit): unmounts every mount below dir, found
 * in /proc/self/mountinfo, deepest first, each reached beneath dir without following a symlink
 */
gboolean cocoon_unmount_below(const gchar *dir, GError **error);
/* unmounts everything stacked on target; TRUE when nothing is mounted there any more */
gboolean cocoon_rootfs_unmount(const gchar *target, GError **error);

G_END_DECLS
