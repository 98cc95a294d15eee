/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-rootfs.h"

G_BEGIN_DECLS

/*
 * CocoonShare: the pod's share, <state>/<pod>/shared, which the guest reads and writes over 9p or
 * virtio-fs.
 * The guest kernel is hostile: whatever it can write is never walked by name as root. The share
 * is opened once, before the VM runs; a container's area <share>/<id> is created and reached
 * relative to that fd without following symlinks; mounts go onto fds and are detached by the
 * fds that name them; removal never follows a symlink nor descends below a mount. See
 * docs/security.md. Owned by the sandbox worker.
 */
typedef struct _CocoonShare CocoonShare;
typedef struct _CocoonShareArea CocoonShareArea;

/*
 * how mounts attached in the share propagate. Never to or from the host's own mounts: the share is
 * private when it is attached, and so are the copies attached in it (cocoon_mount_clone()).
 */
typedef enum {
	/* 9p: QEMU serves the share from the shim's own mount namespace; nothing propagates */
	COCOON_SHARE_PRIVATE,
	/*
	 * virtio-fs: virtiofsd serves it from a mount namespace of its own, whose copy of the share
	 * is a slave of it: the share is made the one member of a new peer group (private first,
	 * then shared), so the mounts the shim attaches after virtiofsd started reach virtiofsd
	 * too, and nothing from outside reaches the share
	 */
	COCOON_SHARE_PEER_GROUP,
} CocoonSharePropagation;

/* creates path (0700, parents too) if needed and opens it; its last component is no symlink */
CocoonShare *cocoon_share_new(const gchar *path, CocoonSharePropagation propagation,
			      GError **error);
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
/*
 * a host volume (source_fd, copied with its submounts when recursive, read-only when readonly)
 * at <share>/.volumes/<n>, shared by the containers of the pod that name the same source the
 * same way; the area holds a reference until it goes. Returns <n>.
 */
gchar *cocoon_share_area_attach_volume(CocoonShareArea *area, int source_fd, gboolean recursive,
				       gboolean readonly, GError **error);
/* the directory of the pod's volumes, relative to the share */
#define COCOON_SHARE_VOLUMES_DIR ".volumes"
/* how many mounts the area holds, its references on the pod's volumes counted */
guint cocoon_share_area_get_n_mounts(CocoonShareArea *area);
/* detaches every mount the area made, newest first, then removes the area; NULL is fine */
void cocoon_share_area_free(CocoonShareArea *area);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonShare, cocoon_share_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonShareArea, cocoon_share_area_free)

G_END_DECLS
