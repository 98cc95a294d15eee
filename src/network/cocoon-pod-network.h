/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "agent.pb-c.h"
#include "cocoon-json.h"

G_BEGIN_DECLS

/*
 * The host side of a pod's network (Kata's "tcfilter" model, see docs/networking.md): the pod's
 * network namespace, one tap per pod interface (veth from CNI) inside it, tc redirects both ways
 * between the two, the taps handed to QEMU as virtio-net devices, and the SetupNetwork request
 * that gives the guest's devices the pod interfaces' names, MACs, MTUs, addresses and routes.
 *
 * ctr run --cni configures the namespace only after Create (it runs CNI on /proc/<task pid>/ns/net
 * and then starts the task), when the VM is already up: a namespace without interfaces at boot
 * gets one spare tap and NIC, wired by cocoon_pod_network_sync() to the interface that appears.
 *
 * Threading: one owner thread (the sandbox worker); every namespace operation runs on a
 * short-lived thread inside the namespace (cocoon-netns.h) while the owner waits, bounded.
 */

typedef enum {
	COCOON_POD_NETNS_HOST, /* no network namespace entry: the host's own (refused) */
	COCOON_POD_NETNS_NEW,  /* an entry without a path: a new namespace, made by the shim */
	COCOON_POD_NETNS_PATH, /* an entry with a path: join it (CRI, ctr --with-ns) */
} CocoonPodNetnsKind;

/* the most NICs one VM gets */
#define COCOON_POD_NICS_MAX 8

/* what linux.namespaces of an OCI spec asks for; ret_path is set for PATH only */
gboolean cocoon_pod_network_parse_spec(const CocoonJson *spec, CocoonPodNetnsKind *ret_kind,
				       gchar **ret_path, GError **error);

typedef struct _CocoonPodNetwork CocoonPodNetwork;

/* opens (PATH) or creates (NEW) the namespace; HOST is G_IO_ERROR_NOT_SUPPORTED */
CocoonPodNetwork *cocoon_pod_network_new(const gchar *sandbox_id, CocoonPodNetnsKind kind,
					 const gchar *path, GError **error);
/* tears down what is left and closes everything */
void cocoon_pod_network_free(CocoonPodNetwork *network);

/* the namespace: QEMU runs in it, so /proc/<QEMU pid>/ns/net is the pod's network */
int cocoon_pod_network_get_netns_fd(CocoonPodNetwork *network);

/* finds the interfaces, creates a tap per interface (one spare when there is none) and wires them
 */
gboolean cocoon_pod_network_prepare(CocoonPodNetwork *network, GError **error);
guint cocoon_pod_network_get_n_nics(CocoonPodNetwork *network);
/* QEMU's netdev id ("net0"), the guest device's MAC, the tap fd (-1 once released) */
void cocoon_pod_network_get_nic(CocoonPodNetwork *network, guint index, const gchar **ret_id,
				const gchar **ret_mac, int *ret_tap_fd);
/* closes the shim's tap fds: QEMU holds them, a tap now lives as long as QEMU */
void cocoon_pod_network_release_taps(CocoonPodNetwork *network);

/* looks at the namespace again and wires interfaces that appeared to spare NICs */
gboolean cocoon_pod_network_sync(CocoonPodNetwork *network, GError **error);
/*
 * the SetupNetwork request for the wired interfaces the guest was not told about yet, which
 * count as told from now on; NULL without error when there are none
 */
Cocoon__Agent__V1__SetupNetworkRequest *cocoon_pod_network_take_request(CocoonPodNetwork *network,
									GError **error);

/* removes the filters, the qdiscs cocoon added and the taps; failures are logged */
void cocoon_pod_network_teardown(CocoonPodNetwork *network);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonPodNetwork, cocoon_pod_network_free)

G_END_DECLS
