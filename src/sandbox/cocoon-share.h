/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-rootfs.h"

G_BEGIN_DECLS

/*
 * CocoonShare: the pod's share, <state>/<pod>/shared, which the guest reads and writes over 9p.
 * The guest kernel is hostile: whatever it can write is never walked by name as root. The share
 * is opened once, before the VM runs; a container's area <share>/<id> is created and reached
 * relative to that fd without following symlinks; mounts go onto fds and are detached by the
 * fds that name them; removal never follows a symlink nor descends below a mount. See
 * docs/security.md. Owned by the sandbox worker.
 */
typedef struct _CocoonShare CocoonShare;
typedef struct _CocoonShareArea CocoonShareArea;

/* creates path (0700, parents too) if needed and opens it; its last component is no symlink */
CocoonShare *cocoon_share_new(const gchar *path, GError **error);
void cocoon_share_free(CocoonShare *share);
const gchar *cocoon_share_get_path(CocoonShare *share);

/*
 * a container's area <share>/<id>, created afresh: whatever the guest left under that name goes
 * first (without following it)
 */
CocoonShareArea *cocoon_share_area_new(CocoonShare *share, const gchar *id, GError **error);
/*
 * attaches copy (cocoon_mount_clone(); taken, also on failure) at <area>/<subdir>/<name>, or
 * <area>/<name> when subdir is NULL, made a directory or an empty file like the source
 */
gboolean cocoon_share_area_attach(CocoonShareArea *area, const gchar *subdir, const gchar *name,
				  CocoonMountCopy *copy, gboolean directory, GError **error);
/* how many mounts the area holds */
guint cocoon_share_area_get_n_mounts(CocoonShareArea *area);
/* detaches every mount the area made, newest first, then removes the area; NULL is fine */
void cocoon_share_area_free(CocoonShareArea *area);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonShare, cocoon_share_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonShareArea, cocoon_share_area_free)

G_END_DECLS
