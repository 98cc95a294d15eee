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
/* bind-mounts source on target (created as a directory); both must be real directories */
gboolean cocoon_rootfs_bind(const gchar *source, const gchar *target, GError **error);
/* unmounts everything stacked on target; TRUE when nothing is mounted there any more */
gboolean cocoon_rootfs_unmount(const gchar *target, GError **error);

G_END_DECLS
