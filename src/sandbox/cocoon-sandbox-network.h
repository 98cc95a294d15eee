/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-sandbox.h"
#include "cocoon-vm-config.h"

G_BEGIN_DECLS

/*
 * The pod's network, as the sandbox worker drives it (src/network does the work, see
 * docs/networking.md). All on the worker; namespace work blocks it for bounded time.
 *
 * Create (every container): host networking is refused; the first container's network namespace
 * is opened (or made, when the spec asks for a new one) and wired before the VM boots. The VM
 * boots with a NIC per tap and QEMU inside the namespace; once the agent answers, SetupNetwork
 * configures the guest. Start (every container): interfaces that appeared since (ctr run --cni
 * runs CNI between Create and Start) are wired to the spare NIC and configured the same way.
 * After the VM stopped: the filters, qdiscs and taps go.
 */

gboolean cocoon_sandbox_network_create(CocoonSandbox *sandbox, const gchar *spec_json,
				       gsize spec_length, GError **error);
void cocoon_sandbox_network_fill_vm_config(CocoonSandbox *sandbox, CocoonVmConfig *vm_config);
/* QEMU runs and the agent answers: the taps are QEMU's now, the guest gets its interfaces */
gboolean cocoon_sandbox_network_vm_started(CocoonSandbox *sandbox, GPid qemu_pid, GError **error);
gboolean cocoon_sandbox_network_sync(CocoonSandbox *sandbox, GError **error);
/*
 * the task pid containerd records (Connect): QEMU's while it runs, so /proc/<pid>/ns/net is the
 * pod's network namespace for ctr run --cni and the like; else guest_pid
 */
guint32 cocoon_sandbox_network_task_pid(CocoonSandbox *sandbox, guint32 guest_pid);
void cocoon_sandbox_network_teardown(CocoonSandbox *sandbox);
void cocoon_sandbox_network_free(CocoonSandbox *sandbox);

G_END_DECLS
