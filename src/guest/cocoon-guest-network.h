/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "agent.pb-c.h"
#include "cocoon-ttrpc-server.h"

G_BEGIN_DECLS

/*
 * The guest's network: SetupNetwork (proto/agent.proto) gives the virtio-net devices the pod
 * interfaces' names, MACs, MTUs, IPv4 addresses and routes, with rtnetlink, in the agent's
 * network namespace (the one every container shares: the guest's network is the pod's).
 *
 * With parking (PID 1), every NIC is moved at start into a private "parking" namespace and only
 * comes back when SetupNetwork names it: a pod without networking sees only lo, and a NIC the
 * shim keeps spare (ctr run --cni configures the pod's network after Create) stays invisible
 * until its interface exists. Runs on the main context; every netlink call is bounded.
 */
typedef struct _CocoonGuestNetwork CocoonGuestNetwork;

/* limits of one request */
#define COCOON_GUEST_NETWORK_INTERFACES_MAX 16
#define COCOON_GUEST_NETWORK_ADDRESSES_MAX  64
#define COCOON_GUEST_NETWORK_ROUTES_MAX	    256

/* in the calling thread's network namespace; park: move every NIC aside until it is named */
CocoonGuestNetwork *cocoon_guest_network_new(gboolean park, GError **error);
void cocoon_guest_network_free(CocoonGuestNetwork *network);

/* answers call, a SetupNetwork of the cocoon.agent.v1.Agent service, with request applied */
void cocoon_guest_network_handle_setup(CocoonGuestNetwork *network, CocoonTtrpcCall *call,
				       const Cocoon__Agent__V1__SetupNetworkRequest *request);

/*
 * pure: names (1..15 bytes, no '/', ':' or white space, not "lo"), MACs, MTUs (0 or 68..65535),
 * CIDR addresses, routes whose device is one of the request's interfaces, the limits above;
 * COCOON_TTRPC_ERROR INVALID_ARGUMENT naming the field
 */
gboolean cocoon_guest_network_check_request(const Cocoon__Agent__V1__SetupNetworkRequest *request,
					    GError **error);
/* checks and applies a request; NOT_FOUND when no device has the device MAC, else INTERNAL */
gboolean cocoon_guest_network_apply(CocoonGuestNetwork *network,
				    const Cocoon__Agent__V1__SetupNetworkRequest *request,
				    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonGuestNetwork, cocoon_guest_network_free)

G_END_DECLS
