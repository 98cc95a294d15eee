/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-json.h"

G_BEGIN_DECLS

/*
 * Pure rewrites of the OCI spec the guest gets that bound what one container can do to the rest of
 * its pod and to the host (docs/security.md). No I/O.
 */

/*
 * drops from linux.devices the host devices that are the VM's own plumbing in the guest (ttyS*,
 * console, hvc*, virtio ports: the serial console QEMU writes to the host, the agent's ports) and
 * those with a dynamic major, which names an unrelated device in the guest. A privileged
 * container gets the host's device list. The paths dropped are appended to dropped (may be NULL).
 */
void cocoon_spec_drop_vm_devices(CocoonJson *spec, GPtrArray *dropped);

/*
 * linux.resources.pids.limit = the spec's own limit when it is positive and at most max, else max;
 * max 0 leaves the spec alone. Returns the limit now in the spec (0: none).
 */
gint64 cocoon_spec_cap_pids(CocoonJson *spec, guint max);

G_END_DECLS
