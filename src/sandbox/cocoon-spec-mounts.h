/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-json.h"
#include "cocoon-share.h"

G_BEGIN_DECLS

/* where the guest agent mounts the 9p share */
#define COCOON_GUEST_SHARE_DIR "/run/cocoon/shared"

/*
 * The OCI spec's bind mounts name host paths (CRI's /etc/hosts, /etc/resolv.conf, /etc/hostname,
 * volumes) that do not exist in the guest. Each source is resolved on the host (a relative one
 * against bundle, as OCI says, without following symlinks; nothing inside state_dir), copied as a
 * mount tree (read-only with its submounts for "ro") and attached at <area>/mounts/<n>, which the
 * guest sees over 9p; its source in the spec is rewritten to <guest_dir>/mounts/<n>, so the guest's
 * crun never sees a host path. /dev/shm becomes a tmpfs of the guest (shared memory cannot cross a
 * VM). The area records the mounts and undoes them.
 */
gboolean cocoon_spec_share_mounts(CocoonJson *spec, const gchar *bundle, CocoonShareArea *area,
				  const gchar *guest_dir, const gchar *state_dir, GError **error);

/* pure: is this spec mount a bind mount of a host path? */
gboolean cocoon_spec_mount_is_bind(const CocoonJson *mount);

G_END_DECLS
