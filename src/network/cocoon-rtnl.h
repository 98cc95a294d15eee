/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <netinet/in.h>

#include <glib.h>

#include "cocoon-netlink.h"

G_BEGIN_DECLS

/*
 * The rtnetlink requests cocoon sends, built without I/O (see cocoon-netlink.h for sending them):
 * links, IPv4 addresses and routes (the guest's interfaces) and the tc "tcfilter" plumbing of the
 * pod's network namespace: an ingress qdisc on both the pod interface and its tap, and on each a
 * u32 match-everything filter whose mirred action redirects every frame to the other's egress.
 */

#define COCOON_MAC_LENGTH 6

/* the tc filter priority cocoon's redirect filters use, so teardown removes only them */
#define COCOON_RTNL_FILTER_PRIORITY 0xc0c0

/* dumps */
CocoonNetlinkMessage *cocoon_rtnl_dump_links(void);
/* family AF_INET (the guest has no IPv6) or AF_UNSPEC */
CocoonNetlinkMessage *cocoon_rtnl_dump_addresses(guint8 family);
CocoonNetlinkMessage *cocoon_rtnl_dump_routes(guint8 family);
/* the filters of one device's ingress qdisc */
CocoonNetlinkMessage *cocoon_rtnl_dump_ingress_filters(gint ifindex);

/* what to change on a link; NULL / 0 / -1 leave a field alone */
typedef struct {
	const gchar *name;
	const guint8 *mac; /* COCOON_MAC_LENGTH bytes */
	guint mtu;
	gint up;       /* 1 up, 0 down, -1 as it is */
	gint netns_fd; /* move it into that network namespace */
} CocoonRtnlLinkChange;

#define COCOON_RTNL_LINK_CHANGE_INIT                                                               \
	{                                                                                          \
		.name = NULL, .mac = NULL, .mtu = 0, .up = -1, .netns_fd = -1                      \
	}

CocoonNetlinkMessage *cocoon_rtnl_link_change(gint ifindex, const CocoonRtnlLinkChange *change);
CocoonNetlinkMessage *cocoon_rtnl_link_delete(gint ifindex);

/* an IPv4 address (network byte order) with its broadcast, replacing an equal one */
CocoonNetlinkMessage *cocoon_rtnl_address_add(gint ifindex, in_addr_t address, guint prefix);

typedef struct {
	in_addr_t destination; /* network byte order; prefix 0 = default route */
	guint prefix;
	in_addr_t gateway; /* 0: on-link */
	in_addr_t source;  /* preferred source, 0: none */
	gint ifindex;	   /* 0: none */
	guint32 metric;
	guint8 scope; /* RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, ... */
} CocoonRtnlRoute;

/* a main-table unicast route, replacing an equal one */
CocoonNetlinkMessage *cocoon_rtnl_route_add(const CocoonRtnlRoute *route);

/* tc */
CocoonNetlinkMessage *cocoon_rtnl_ingress_qdisc_add(gint ifindex);
CocoonNetlinkMessage *cocoon_rtnl_ingress_qdisc_delete(gint ifindex);
/* on ifindex's ingress: every frame (u32, all protocols) to target_ifindex's egress (mirred) */
CocoonNetlinkMessage *cocoon_rtnl_redirect_filter_add(gint ifindex, guint16 priority,
						      gint target_ifindex);
/* every filter of that priority on ifindex's ingress */
CocoonNetlinkMessage *cocoon_rtnl_filter_delete(gint ifindex, guint16 priority);

/* "02:00:0a:..." ⇄ bytes; parse accepts upper or lower case, ':' separated, exactly 6 octets */
gboolean cocoon_mac_parse(const gchar *text, guint8 ret_mac[COCOON_MAC_LENGTH]);
gchar *cocoon_mac_to_string(const guint8 mac[COCOON_MAC_LENGTH]);

/* "10.88.0.5/16" ⇄ address and prefix; parse refuses a prefix above 32 or anything trailing */
gboolean cocoon_ipv4_cidr_parse(const gchar *text, in_addr_t *ret_address, guint *ret_prefix);
gchar *cocoon_ipv4_cidr_to_string(in_addr_t address, guint prefix);
gboolean cocoon_ipv4_parse(const gchar *text, in_addr_t *ret_address);
gchar *cocoon_ipv4_to_string(in_addr_t address);

G_END_DECLS
