/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-json.h"
#include "cocoon-share.h"

G_BEGIN_DECLS

/* where the guest agent mounts the share (9p or virtio-fs) */
#define COCOON_GUEST_SHARE_DIR "/run/cocoon/shared"

/*
 * The OCI spec's bind mounts name host paths (CRI's /etc/hosts, /etc/resolv.conf, /etc/hostname,
 * volumes) that do not exist in the guest. Each source is resolved on the host (a relative one
 * against bundle, as OCI says, without following symlinks; nothing inside state_dir), copied as a
 * mount tree (read-only with its submounts for "ro") and attached once per pod at
 * <share>/.volumes/<n> (cocoon_share_area_attach_volume(): the containers of a pod that name one
 * source share one copy, so the guest sees one inode, one page cache, one set of locks); its source
 * in the spec is rewritten to COCOON_GUEST_SHARE_DIR/.volumes/<n>, so the guest's crun never sees a
 * host path. /dev/shm becomes a tmpfs of the guest (shared memory cannot cross a VM). The area
 * holds a reference on each volume and gives it back when it goes.
 */
gboolean cocoon_spec_share_mounts(CocoonJson *spec, const gchar *bundle, CocoonShareArea *area,
				  const gchar *state_dir, GError **error);

/* pure: is this spec mount a bind mount of a host path? */
gboolean cocoon_spec_mount_is_bind(const CocoonJson *mount);

G_END_DECLS
