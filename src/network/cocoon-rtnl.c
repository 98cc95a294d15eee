/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-network"

#include "config.h"

#include "cocoon-rtnl.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>

/* ---- dumps ---- */

CocoonNetlinkMessage *
cocoon_rtnl_dump_links(void)
{
	struct ifinfomsg header = {.ifi_family = AF_UNSPEC};

	return cocoon_netlink_message_new(RTM_GETLINK, 0, &header, sizeof(header));
}

CocoonNetlinkMessage *
cocoon_rtnl_dump_addresses(guint8 family)
{
	struct ifaddrmsg header = {.ifa_family = family};

	return cocoon_netlink_message_new(RTM_GETADDR, 0, &header, sizeof(header));
}

CocoonNetlinkMessage *
cocoon_rtnl_dump_routes(guint8 family)
{
	struct rtmsg header = {.rtm_family = family};

	return cocoon_netlink_message_new(RTM_GETROUTE, 0, &header, sizeof(header));
}

CocoonNetlinkMessage *
cocoon_rtnl_dump_ingress_filters(gint ifindex)
{
	struct tcmsg header = {
		.tcm_family = AF_UNSPEC,
		.tcm_ifindex = ifindex,
		.tcm_parent = TC_H_MAKE(TC_H_INGRESS, 0),
	};

	return cocoon_netlink_message_new(RTM_GETTFILTER, 0, &header, sizeof(header));
}

/* ---- links, addresses, routes ---- */

/**
 * cocoon_rtnl_link_change:
 *
 * Returns: (transfer full): RTM_NEWLINK on an existing link (ip link set)
 */
CocoonNetlinkMessage *
cocoon_rtnl_link_change(gint ifindex, const CocoonRtnlLinkChange *change)
{
	struct ifinfomsg header = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};
	CocoonNetlinkMessage *message;

	if (change->up >= 0) {
		header.ifi_change = IFF_UP;
		header.ifi_flags = change->up > 0 ? IFF_UP : 0;
	}
	message = cocoon_netlink_message_new(RTM_NEWLINK, 0, &header, sizeof(header));
	if (change->name != NULL)
		cocoon_netlink_message_put_string(message, IFLA_IFNAME, change->name);
	if (change->mac != NULL)
		cocoon_netlink_message_put(message, IFLA_ADDRESS, change->mac, COCOON_MAC_LENGTH);
	if (change->mtu > 0)
		cocoon_netlink_message_put_u32(message, IFLA_MTU, change->mtu);
	if (change->netns_fd >= 0)
		cocoon_netlink_message_put_u32(message, IFLA_NET_NS_FD, (guint32)change->netns_fd);
	return message;
}

CocoonNetlinkMessage *
cocoon_rtnl_link_delete(gint ifindex)
{
	struct ifinfomsg header = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};

	return cocoon_netlink_message_new(RTM_DELLINK, 0, &header, sizeof(header));
}

static in_addr_t
prefix_mask(guint prefix)
{
	if (prefix == 0)
		return 0;
	return htonl(~(guint32)0 << (32 - MIN(prefix, 32u)));
}

CocoonNetlinkMessage *
cocoon_rtnl_address_add(gint ifindex, in_addr_t address, guint prefix)
{
	struct ifaddrmsg header = {
		.ifa_family = AF_INET,
		.ifa_prefixlen = (guint8)MIN(prefix, 32u),
		.ifa_scope = RT_SCOPE_UNIVERSE,
		.ifa_index = (guint32)ifindex,
	};
	CocoonNetlinkMessage *message = cocoon_netlink_message_new(
		RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &header, sizeof(header));

	cocoon_netlink_message_put(message, IFA_LOCAL, &address, sizeof(address));
	cocoon_netlink_message_put(message, IFA_ADDRESS, &address, sizeof(address));
	/* /31 and /32 have no broadcast address (RFC 3021) */
	if (prefix < 31) {
		in_addr_t broadcast = address | ~prefix_mask(prefix);
		cocoon_netlink_message_put(message, IFA_BROADCAST, &broadcast, sizeof(broadcast));
	}
	return message;
}

CocoonNetlinkMessage *
cocoon_rtnl_route_add(const CocoonRtnlRoute *route)
{
	struct rtmsg header = {
		.rtm_family = AF_INET,
		.rtm_dst_len = (guint8)MIN(route->prefix, 32u),
		.rtm_table = RT_TABLE_MAIN,
		.rtm_protocol = RTPROT_BOOT,
		.rtm_scope = route->scope,
		.rtm_type = RTN_UNICAST,
	};
	CocoonNetlinkMessage *message = cocoon_netlink_message_new(
		RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &header, sizeof(header));

	if (route->prefix > 0) {
		in_addr_t destination = route->destination & prefix_mask(route->prefix);
		cocoon_netlink_message_put(message, RTA_DST, &destination, sizeof(destination));
	}
	if (route->gateway != 0)
		cocoon_netlink_message_put(message, RTA_GATEWAY, &route->gateway,
					   sizeof(route->gateway));
	if (route->ifindex > 0)
		cocoon_netlink_message_put_u32(message, RTA_OIF, (guint32)route->ifindex);
	if (route->source != 0)
		cocoon_netlink_message_put(message, RTA_PREFSRC, &route->source,
					   sizeof(route->source));
	if (route->metric > 0)
		cocoon_netlink_message_put_u32(message, RTA_PRIORITY, route->metric);
	return message;
}

/* ---- tc ---- */

/* `tc qdisc add|del dev IF ingress` */
static CocoonNetlinkMessage *
ingress_qdisc_message(guint16 type, guint16 flags, gint ifindex)
{
	struct tcmsg header = {
		.tcm_family = AF_UNSPEC,
		.tcm_ifindex = ifindex,
		.tcm_handle = TC_H_MAKE(TC_H_INGRESS, 0),
		.tcm_parent = TC_H_INGRESS,
	};

	return cocoon_netlink_message_new(type, flags, &header, sizeof(header));
}

CocoonNetlinkMessage *
cocoon_rtnl_ingress_qdisc_add(gint ifindex)
{
	CocoonNetlinkMessage *message =
		ingress_qdisc_message(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex);

	cocoon_netlink_message_put_string(message, TCA_KIND, "ingress");
	return message;
}

CocoonNetlinkMessage *
cocoon_rtnl_ingress_qdisc_delete(gint ifindex)
{
	return ingress_qdisc_message(RTM_DELQDISC, 0, ifindex);
}

/**
 * cocoon_rtnl_redirect_filter_add:
 *
 * `tc filter add dev IF parent ffff: protocol all prio PRIORITY u32 match u8 0 0
 * action mirred egress redirect dev TARGET`
 */
CocoonNetlinkMessage *
cocoon_rtnl_redirect_filter_add(gint ifindex, guint16 priority, gint target_ifindex)
{
	struct tcmsg header = {
		.tcm_family = AF_UNSPEC,
		.tcm_ifindex = ifindex,
		.tcm_parent = TC_H_MAKE(TC_H_INGRESS, 0),
		.tcm_info = TC_H_MAKE((guint32)priority << 16, htons(ETH_P_ALL)),
	};
	struct {
		struct tc_u32_sel selector;
		struct tc_u32_key key;
	} match = {
		/* one key, mask 0: everything matches; terminal: the action decides */
		.selector = {.flags = TC_U32_TERMINAL, .nkeys = 1},
	};
	struct tc_mirred mirred = {
		.action = TC_ACT_STOLEN,
		.eaction = TCA_EGRESS_REDIR,
		.ifindex = (guint32)target_ifindex,
	};
	CocoonNetlinkMessage *message = cocoon_netlink_message_new(
		RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, &header, sizeof(header));
	gsize options;
	gsize actions;
	gsize action;
	gsize action_options;

	cocoon_netlink_message_put_string(message, TCA_KIND, "u32");
	options = cocoon_netlink_message_nest_start(message, TCA_OPTIONS);
	cocoon_netlink_message_put(message, TCA_U32_SEL, &match, sizeof(match));
	actions = cocoon_netlink_message_nest_start(message, TCA_U32_ACT);
	/* the first (and only) action: its attribute type is its order */
	action = cocoon_netlink_message_nest_start(message, 1);
	cocoon_netlink_message_put_string(message, TCA_ACT_KIND, "mirred");
	action_options = cocoon_netlink_message_nest_start(message, TCA_ACT_OPTIONS);
	cocoon_netlink_message_put(message, TCA_MIRRED_PARMS, &mirred, sizeof(mirred));
	cocoon_netlink_message_nest_end(message, action_options);
	cocoon_netlink_message_nest_end(message, action);
	cocoon_netlink_message_nest_end(message, actions);
	cocoon_netlink_message_nest_end(message, options);
	return message;
}

CocoonNetlinkMessage *
cocoon_rtnl_filter_delete(gint ifindex, guint16 priority)
{
	struct tcmsg header = {
		.tcm_family = AF_UNSPEC,
		.tcm_ifindex = ifindex,
		.tcm_parent = TC_H_MAKE(TC_H_INGRESS, 0),
		.tcm_info = TC_H_MAKE((guint32)priority << 16, htons(ETH_P_ALL)),
	};

	return cocoon_netlink_message_new(RTM_DELTFILTER, 0, &header, sizeof(header));
}

/* ---- text forms ---- */

static gint
hex_value(gchar c)
{
	return g_ascii_xdigit_value(c);
}

gboolean
cocoon_mac_parse(const gchar *text, guint8 ret_mac[COCOON_MAC_LENGTH])
{
	guint8 mac[COCOON_MAC_LENGTH];

	if (text == NULL || strlen(text) != COCOON_MAC_LENGTH * 3 - 1)
		return FALSE;
	for (guint i = 0; i < COCOON_MAC_LENGTH; i++) {
		const gchar *octet = text + i * 3;
		gint high = hex_value(octet[0]);
		gint low = hex_value(octet[1]);

		if (high < 0 || low < 0)
			return FALSE;
		if (i + 1 < COCOON_MAC_LENGTH && octet[2] != ':')
			return FALSE;
		mac[i] = (guint8)(high << 4 | low);
	}
	memcpy(ret_mac, mac, sizeof(mac));
	return TRUE;
}

gchar *
cocoon_mac_to_string(const guint8 mac[COCOON_MAC_LENGTH])
{
	return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
			       mac[4], mac[5]);
}

gboolean
cocoon_ipv4_parse(const gchar *text, in_addr_t *ret_address)
{
	struct in_addr address;

	/* inet_pton takes only the dotted quad, no octal or shorthand forms */
	if (text == NULL || inet_pton(AF_INET, text, &address) != 1)
		return FALSE;
	*ret_address = address.s_addr;
	return TRUE;
}

gchar *
cocoon_ipv4_to_string(in_addr_t address)
{
	gchar text[INET_ADDRSTRLEN];
	struct in_addr value = {.s_addr = address};

	return g_strdup(inet_ntop(AF_INET, &value, text, sizeof(text)));
}

gboolean
cocoon_ipv4_cidr_parse(const gchar *text, in_addr_t *ret_address, guint *ret_prefix)
{
	const gchar *slash;
	g_autofree gchar *address_text = NULL;
	guint64 prefix;
	in_addr_t address;

	if (text == NULL)
		return FALSE;
	slash = strchr(text, '/');
	if (slash == NULL || slash[1] == '\0')
		return FALSE;
	address_text = g_strndup(text, (gsize)(slash - text));
	if (!cocoon_ipv4_parse(address_text, &address) ||
	    !g_ascii_string_to_unsigned(slash + 1, 10, 0, 32, &prefix, NULL))
		return FALSE;
	*ret_address = address;
	*ret_prefix = (guint)prefix;
	return TRUE;
}

gchar *
cocoon_ipv4_cidr_to_string(in_addr_t address, guint prefix)
{
	g_autofree gchar *text = cocoon_ipv4_to_string(address);

	return g_strdup_printf("%s/%u", text, prefix);
}
