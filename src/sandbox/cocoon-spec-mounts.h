/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-json.h"

G_BEGIN_DECLS

/* where the guest agent mounts the 9p share */
#define COCOON_GUEST_SHARE_DIR "/run/cocoon/shared"

/*
 * The OCI spec's bind mounts name host paths (CRI's /etc/hosts, /etc/resolv.conf, /etc/hostname,
 * volumes) that do not exist in the guest. Each is bind-mounted under <share_dir>/mounts/<n> on the
 * host, which the guest sees over 9p, and its source in the spec is rewritten to
 * <guest_dir>/mounts/<n>. /dev/shm becomes a tmpfs of the guest (shared memory cannot cross a VM).
 * Paths of the mounts made are appended to mounted (for cocoon_rootfs_unmount_tree()).
 */
gboolean cocoon_spec_share_mounts(CocoonJson *spec, const gchar *share_dir, const gchar *guest_dir,
				  GPtrArray *mounted, GError **error);

/* pure: is this spec mount a bind mount of a host path? */
gboolean cocoon_spec_mount_is_bind(const CocoonJson *mount);

G_END_DECLS
