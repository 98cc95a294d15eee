/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <netinet/in.h>

#include <glib.h>

#include "agent.pb-c.h"
#include "cocoon-netlink.h"
#include "cocoon-rtnl.h"

G_BEGIN_DECLS

/*
 * What a network namespace holds, as far as the VM cares: its links, their IPv4 addresses and the
 * IPv4 routes of the main table, read from rtnetlink dumps; and the translation of the interfaces
 * the shim wires into the VM into the agent's SetupNetwork request. Pure: no I/O.
 */

/* limits on what one namespace may bring */
#define COCOON_NET_INTERFACES_MAX 64
#define COCOON_NET_ADDRESSES_MAX  64 /* per interface */
#define COCOON_NET_ROUTES_MAX	  512

typedef struct {
	in_addr_t address; /* network byte order */
	guint prefix;
} CocoonNetAddress;

typedef struct {
	gint ifindex;
	gchar *name;
	gchar *kind; /* IFLA_INFO_KIND ("veth", "tun", ...), NULL when the kernel gave none */
	guint type;  /* ARPHRD_* */
	guint flags; /* IFF_* */
	guint mtu;
	gboolean has_mac;
	guint8 mac[COCOON_MAC_LENGTH];
	GArray *addresses; /* CocoonNetAddress, IPv4 */
} CocoonNetInterface;

typedef struct {
	in_addr_t destination;
	guint prefix;
	in_addr_t gateway; /* 0: on-link */
	in_addr_t source;  /* 0: none */
	gint ifindex;
	guint32 metric;
	guint8 scope;
	guint8 protocol; /* RTPROT_KERNEL routes come with the addresses */
	guint8 type;	 /* RTN_UNICAST, RTN_LOCAL, ... */
	guint32 table;
} CocoonNetRoute;

typedef struct {
	GPtrArray *interfaces; /* CocoonNetInterface, in ifindex order of the dump */
	GArray *routes;	       /* CocoonNetRoute */
} CocoonNetConfig;

CocoonNetConfig *cocoon_net_config_new(void);
void cocoon_net_config_free(CocoonNetConfig *config);
/*
 * adds what one rtnetlink message says (RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE; others are
 * ignored, and so are addresses and routes that are not IPv4). Links come first in the dumps;
 * an address for an unknown link is ignored. G_IO_ERROR_INVALID_DATA on a malformed message or one
 * over the limits.
 */
gboolean cocoon_net_config_add_message(CocoonNetConfig *config, const struct nlmsghdr *message,
				       GError **error);
CocoonNetInterface *cocoon_net_config_find(const CocoonNetConfig *config, gint ifindex);

/*
 * an interface the shim wires into the VM: an Ethernet link that is not a loopback, not a tun/tap
 * (the shim's own taps among them) and has a MAC address
 */
gboolean cocoon_net_interface_is_wirable(const CocoonNetInterface *iface);

/* one pod interface wired to one guest NIC */
typedef struct {
	gint ifindex;	      /* the pod interface in the namespace */
	const gchar *nic_mac; /* the MAC QEMU gave the guest's virtio-net device */
} CocoonNetWiring;

/*
 * the SetupNetwork request for those wirings: each interface keeps its name, MAC, MTU and IPv4
 * addresses in the guest; the routes through them follow, except the ones the kernel makes for
 * an address (proto kernel) and any outside the main table or not unicast; on-link routes come
 * before the routes through a gateway. Free it with protobuf_c_message_free_unpacked(, NULL)
 * (GLib allocates with malloc).
 */
Cocoon__Agent__V1__SetupNetworkRequest *cocoon_net_config_to_request(const CocoonNetConfig *config,
								     const CocoonNetWiring *wirings,
								     guint n_wirings,
								     GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonNetConfig, cocoon_net_config_free)

G_END_DECLS
