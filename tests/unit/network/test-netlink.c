/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "cocoon-json.h"
#include "cocoon-net-config.h"
#include "cocoon-netlink.h"
#include "cocoon-pod-network.h"
#include "cocoon-rtnl.h"

/*
 * the pure parts of the pod network: message building (checked by parsing back what was built,
 * field by field, as the kernel would), the parser's bounds, the namespace dump → SetupNetwork
 * translation, and the spec's network namespace entry
 */

static in_addr_t
ipv4(const gchar *text)
{
	in_addr_t address = 0;

	g_assert_true(cocoon_ipv4_parse(text, &address));
	return address;
}

static const struct rtattr *
must(const struct rtattr *attribute)
{
	g_assert_nonnull(attribute);
	return attribute;
}

static gconstpointer
data_of_size(const struct rtattr *attribute, gsize size)
{
	gsize actual;
	gconstpointer data = cocoon_netlink_attribute_data(must(attribute), &actual);

	g_assert_cmpuint(actual, ==, size);
	return data;
}

static guint32
u32_of(const struct rtattr *attribute)
{
	guint32 value = 0;

	g_assert_true(cocoon_netlink_attribute_get_u32(must(attribute), &value));
	return value;
}

/* ---- the builder and parser ---- */

static void
test_message_layout(void)
{
	struct ifinfomsg info = {.ifi_family = AF_UNSPEC, .ifi_index = 7};
	g_autoptr(CocoonNetlinkMessage) message =
		cocoon_netlink_message_new(RTM_NEWLINK, NLM_F_CREATE, &info, sizeof(info));
	const struct rtattr *table[IFLA_MAX + 1];
	const struct rtattr *nested[IFLA_INFO_MAX + 1];
	struct nlmsghdr *header;
	const struct ifinfomsg *parsed;
	gsize start;

	cocoon_netlink_message_put_string(message, IFLA_IFNAME, "eth0");
	cocoon_netlink_message_put_u32(message, IFLA_MTU, 1400);
	cocoon_netlink_message_put_u8(message, IFLA_OPERSTATE, 6);
	start = cocoon_netlink_message_nest_start(message, IFLA_LINKINFO);
	cocoon_netlink_message_put_string(message, IFLA_INFO_KIND, "veth");
	cocoon_netlink_message_nest_end(message, start);

	header = cocoon_netlink_message_get_header(message);
	g_assert_cmpuint(header->nlmsg_type, ==, RTM_NEWLINK);
	g_assert_cmpuint(header->nlmsg_flags, ==, NLM_F_REQUEST | NLM_F_CREATE);
	g_assert_cmpuint(header->nlmsg_len, ==, cocoon_netlink_message_get_length(message));
	/* header 16 + ifinfomsg 16 + "eth0\0" 8 (padded) + 4+4 + 4+4 (u8 padded) + 4+(4+8) */
	g_assert_cmpuint(header->nlmsg_len, ==, 16 + 16 + 12 + 8 + 8 + 16);
	g_assert_cmpuint(header->nlmsg_len % NLMSG_ALIGNTO, ==, 0);

	parsed = cocoon_netlink_message_payload(header, sizeof(*parsed));
	g_assert_nonnull(parsed);
	g_assert_cmpint(parsed->ifi_index, ==, 7);
	g_assert_true(cocoon_netlink_parse_message(header, sizeof(*parsed), table, IFLA_MAX));
	g_assert_cmpstr(cocoon_netlink_attribute_get_string(table[IFLA_IFNAME]), ==, "eth0");
	g_assert_cmpuint(u32_of(table[IFLA_MTU]), ==, 1400);
	g_assert_cmpuint(*(const guint8 *)data_of_size(table[IFLA_OPERSTATE], 1), ==, 6);
	g_assert_true(
		cocoon_netlink_parse_nested(must(table[IFLA_LINKINFO]), nested, IFLA_INFO_MAX));
	g_assert_cmpstr(cocoon_netlink_attribute_get_string(nested[IFLA_INFO_KIND]), ==, "veth");
	/* an attribute's u32 reader wants exactly 4 bytes */
	{
		guint32 value;
		g_assert_false(cocoon_netlink_attribute_get_u32(table[IFLA_OPERSTATE], &value));
		g_assert_false(cocoon_netlink_attribute_get_u32(NULL, &value));
	}
}

static void
test_parse_bounds(void)
{
	guint8 buffer[64] = {0};
	struct rtattr *attribute = (struct rtattr *)buffer;
	const struct rtattr *table[8];
	const struct nlmsghdr *header = NULL;
	struct nlmsghdr *message = (struct nlmsghdr *)buffer;
	gsize offset = 0;

	/* an attribute longer than what is left */
	attribute->rta_len = 40;
	attribute->rta_type = 1;
	g_assert_false(cocoon_netlink_parse_attributes(buffer, 16, table, 7));
	/* shorter than its own header */
	attribute->rta_len = 2;
	g_assert_false(cocoon_netlink_parse_attributes(buffer, 16, table, 7));
	/* a type above max is skipped, the nested flag is not part of the type */
	attribute->rta_len = 8;
	attribute->rta_type = 9;
	g_assert_true(cocoon_netlink_parse_attributes(buffer, 8, table, 7));
	for (guint i = 0; i <= 7; i++)
		g_assert_null(table[i]);
	attribute->rta_type = 3 | NLA_F_NESTED;
	g_assert_true(cocoon_netlink_parse_attributes(buffer, 8, table, 7));
	g_assert_true(table[3] == attribute);
	/* a string attribute without its NUL is no string */
	attribute->rta_len = 8;
	memcpy(buffer + 4, "abcd", 4);
	g_assert_null(cocoon_netlink_attribute_get_string(attribute));

	/* messages: a length beyond the datagram, or below a header, ends the walk */
	memset(buffer, 0, sizeof(buffer));
	message->nlmsg_len = 80;
	g_assert_false(cocoon_netlink_next_message(buffer, sizeof(buffer), &offset, &header));
	g_assert_null(header);
	message->nlmsg_len = 4;
	g_assert_false(cocoon_netlink_next_message(buffer, sizeof(buffer), &offset, &header));
	message->nlmsg_len = 20;
	g_assert_true(cocoon_netlink_next_message(buffer, sizeof(buffer), &offset, &header));
	g_assert_true(header == message);
	g_assert_cmpuint(offset, ==, 20);
	/* a message too short for its family header */
	g_assert_null(cocoon_netlink_message_payload(message, sizeof(struct ifinfomsg)));
	g_assert_false(cocoon_netlink_parse_message(message, sizeof(struct ifinfomsg), table, 7));
}

/* ---- the requests ---- */

static void
test_redirect_filter(void)
{
	g_autoptr(CocoonNetlinkMessage) message =
		cocoon_rtnl_redirect_filter_add(3, COCOON_RTNL_FILTER_PRIORITY, 9);
	struct nlmsghdr *header = cocoon_netlink_message_get_header(message);
	const struct tcmsg *tc = cocoon_netlink_message_payload(header, sizeof(*tc));
	const struct rtattr *table[TCA_MAX + 1];
	const struct rtattr *u32[TCA_U32_MAX + 1];
	const struct rtattr *actions[TCA_ACT_MAX_PRIO + 1];
	const struct rtattr *action[TCA_ACT_MAX + 1];
	const struct rtattr *mirred_options[TCA_MIRRED_MAX + 1];
	const struct tc_u32_sel *selector;
	const struct tc_mirred *mirred;

	/* tc filter add dev IF parent ffff: protocol all prio P u32 match u8 0 0 action mirred
	 * egress redirect dev TAP */
	g_assert_cmpuint(header->nlmsg_type, ==, RTM_NEWTFILTER);
	g_assert_cmpuint(header->nlmsg_flags, ==, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
	g_assert_nonnull(tc);
	g_assert_cmpint(tc->tcm_ifindex, ==, 3);
	g_assert_cmphex(tc->tcm_parent, ==, 0xffff0000);
	g_assert_cmphex(tc->tcm_handle, ==, 0);
	g_assert_cmphex(TC_H_MAJ(tc->tcm_info) >> 16, ==, COCOON_RTNL_FILTER_PRIORITY);
	g_assert_cmphex(TC_H_MIN(tc->tcm_info), ==, htons(ETH_P_ALL));
	g_assert_true(cocoon_netlink_parse_message(header, sizeof(*tc), table, TCA_MAX));
	g_assert_cmpstr(cocoon_netlink_attribute_get_string(table[TCA_KIND]), ==, "u32");

	g_assert_true(cocoon_netlink_parse_nested(must(table[TCA_OPTIONS]), u32, TCA_U32_MAX));
	selector = data_of_size(u32[TCA_U32_SEL],
				sizeof(struct tc_u32_sel) + sizeof(struct tc_u32_key));
	g_assert_cmpuint(selector->flags, ==, TC_U32_TERMINAL);
	g_assert_cmpuint(selector->nkeys, ==, 1);
	g_assert_cmphex(selector->keys[0].mask, ==, 0);
	g_assert_cmphex(selector->keys[0].val, ==, 0);

	g_assert_true(
		cocoon_netlink_parse_nested(must(u32[TCA_U32_ACT]), actions, TCA_ACT_MAX_PRIO));
	g_assert_true(cocoon_netlink_parse_nested(must(actions[1]), action, TCA_ACT_MAX));
	g_assert_cmpstr(cocoon_netlink_attribute_get_string(action[TCA_ACT_KIND]), ==, "mirred");
	g_assert_true(cocoon_netlink_parse_nested(must(action[TCA_ACT_OPTIONS]), mirred_options,
						  TCA_MIRRED_MAX));
	mirred = data_of_size(mirred_options[TCA_MIRRED_PARMS], sizeof(struct tc_mirred));
	g_assert_cmpint(mirred->action, ==, TC_ACT_STOLEN);
	g_assert_cmpint(mirred->eaction, ==, TCA_EGRESS_REDIR);
	g_assert_cmpuint(mirred->ifindex, ==, 9);
}

static void
test_qdisc_and_deletes(void)
{
	g_autoptr(CocoonNetlinkMessage) add = cocoon_rtnl_ingress_qdisc_add(4);
	g_autoptr(CocoonNetlinkMessage) del = cocoon_rtnl_ingress_qdisc_delete(4);
	g_autoptr(CocoonNetlinkMessage) filter = cocoon_rtnl_filter_delete(4, 77);
	g_autoptr(CocoonNetlinkMessage) link = cocoon_rtnl_link_delete(12);
	const struct rtattr *table[TCA_MAX + 1];
	struct nlmsghdr *header;
	const struct tcmsg *tc;

	header = cocoon_netlink_message_get_header(add);
	tc = cocoon_netlink_message_payload(header, sizeof(*tc));
	g_assert_cmpuint(header->nlmsg_type, ==, RTM_NEWQDISC);
	g_assert_cmpuint(header->nlmsg_flags, ==, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
	g_assert_cmpint(tc->tcm_ifindex, ==, 4);
	g_assert_cmphex(tc->tcm_handle, ==, 0xffff0000);
	g_assert_cmphex(tc->tcm_parent, ==, TC_H_INGRESS);
	g_assert_true(cocoon_netlink_parse_message(header, sizeof(*tc), table, TCA_MAX));
	g_assert_cmpstr(cocoon_netlink_attribute_get_string(table[TCA_KIND]), ==, "ingress");

	header = cocoon_netlink_message_get_header(del);
	tc = cocoon_netlink_message_payload(header, sizeof(*tc));
	g_assert_cmpuint(header->nlmsg_type, ==, RTM_DELQDISC);
	g_assert_cmphex(tc->tcm_parent, ==, TC_H_INGRESS);

	header = cocoon_netlink_message_get_header(filter);
	tc = cocoon_netlink_message_payload(header, sizeof(*tc));
	g_assert_cmpuint(header->nlmsg_type, ==, RTM_DELTFILTER);
	g_assert_cmphex(tc->tcm_parent, ==, 0xffff0000);
	g_assert_cmphex(TC_H_MAJ(tc->tcm_info) >> 16, ==, 77);
	/* no handle: the whole priority goes */
	g_assert_cmphex(tc->tcm_handle, ==, 0);

	header = cocoon_netlink_message_get_header(link);
	g_assert_cmpuint(header->nlmsg_type, ==, RTM_DELLINK);
	g_assert_cmpint(((const struct ifinfomsg *)cocoon_netlink_message_payload(
				 header, sizeof(struct ifinfomsg)))
				->ifi_index,
			==, 12);
}

static void
test_link_address_route(void)
{
	const guint8 mac[COCOON_MAC_LENGTH] = {0x0a, 0x58, 0x0a, 0x58, 0x00, 0x05};
	CocoonRtnlLinkChange change = COCOON_RTNL_LINK_CHANGE_INIT;
	CocoonRtnlRoute route = {
		.destination = ipv4("10.1.2.3"),
		.prefix = 16,
		.gateway = ipv4("10.88.0.1"),
		.ifindex = 2,
		.metric = 100,
		.scope = RT_SCOPE_UNIVERSE,
	};
	g_autoptr(CocoonNetlinkMessage) link = NULL;
	g_autoptr(CocoonNetlinkMessage) only_up = NULL;
	g_autoptr(CocoonNetlinkMessage) address = cocoon_rtnl_address_add(2, ipv4("10.88.0.5"), 16);
	g_autoptr(CocoonNetlinkMessage) host = cocoon_rtnl_address_add(2, ipv4("10.0.0.9"), 32);
	g_autoptr(CocoonNetlinkMessage) route_message = cocoon_rtnl_route_add(&route);
	/* big enough for every family's attributes */
	const struct rtattr *table[MAX(MAX(IFLA_MAX, IFA_MAX), RTA_MAX) + 1];
	struct nlmsghdr *header;
	const struct ifinfomsg *info;
	const struct ifaddrmsg *ifa;
	const struct rtmsg *rtm;

	change.name = "eth0";
	change.mac = mac;
	change.mtu = 1450;
	change.up = 0;
	change.netns_fd = 5;
	link = cocoon_rtnl_link_change(2, &change);
	header = cocoon_netlink_message_get_header(link);
	info = cocoon_netlink_message_payload(header, sizeof(*info));
	g_assert_cmpuint(header->nlmsg_type, ==, RTM_NEWLINK);
	g_assert_cmpuint(header->nlmsg_flags, ==, NLM_F_REQUEST);
	g_assert_cmpint(info->ifi_index, ==, 2);
	g_assert_cmpuint(info->ifi_change, ==, IFF_UP);
	g_assert_cmpuint(info->ifi_flags, ==, 0);
	g_assert_true(cocoon_netlink_parse_message(header, sizeof(*info), table, IFLA_MAX));
	g_assert_cmpstr(cocoon_netlink_attribute_get_string(table[IFLA_IFNAME]), ==, "eth0");
	g_assert_cmpmem(data_of_size(table[IFLA_ADDRESS], 6), 6, mac, 6);
	g_assert_cmpuint(u32_of(table[IFLA_MTU]), ==, 1450);
	g_assert_cmpuint(u32_of(table[IFLA_NET_NS_FD]), ==, 5);

	/* nothing but up: no attribute at all */
	change = (CocoonRtnlLinkChange)COCOON_RTNL_LINK_CHANGE_INIT;
	change.up = 1;
	only_up = cocoon_rtnl_link_change(3, &change);
	header = cocoon_netlink_message_get_header(only_up);
	info = cocoon_netlink_message_payload(header, sizeof(*info));
	g_assert_cmpuint(info->ifi_flags, ==, IFF_UP);
	g_assert_cmpuint(header->nlmsg_len, ==, NLMSG_SPACE(sizeof(*info)));

	header = cocoon_netlink_message_get_header(address);
	ifa = cocoon_netlink_message_payload(header, sizeof(*ifa));
	g_assert_cmpuint(header->nlmsg_type, ==, RTM_NEWADDR);
	g_assert_cmpuint(header->nlmsg_flags, ==, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE);
	g_assert_cmpuint(ifa->ifa_family, ==, AF_INET);
	g_assert_cmpuint(ifa->ifa_prefixlen, ==, 16);
	g_assert_cmpuint(ifa->ifa_index, ==, 2);
	g_assert_true(cocoon_netlink_parse_message(header, sizeof(*ifa), table, IFA_MAX));
	g_assert_cmphex(*(const in_addr_t *)data_of_size(table[IFA_LOCAL], 4), ==,
			ipv4("10.88.0.5"));
	g_assert_cmphex(*(const in_addr_t *)data_of_size(table[IFA_ADDRESS], 4), ==,
			ipv4("10.88.0.5"));
	g_assert_cmphex(*(const in_addr_t *)data_of_size(table[IFA_BROADCAST], 4), ==,
			ipv4("10.88.255.255"));
	/* a /32 has no broadcast */
	header = cocoon_netlink_message_get_header(host);
	g_assert_true(cocoon_netlink_parse_message(header, sizeof(*ifa), table, IFA_MAX));
	g_assert_null(table[IFA_BROADCAST]);

	header = cocoon_netlink_message_get_header(route_message);
	rtm = cocoon_netlink_message_payload(header, sizeof(*rtm));
	g_assert_cmpuint(header->nlmsg_type, ==, RTM_NEWROUTE);
	g_assert_cmpuint(rtm->rtm_family, ==, AF_INET);
	g_assert_cmpuint(rtm->rtm_dst_len, ==, 16);
	g_assert_cmpuint(rtm->rtm_table, ==, RT_TABLE_MAIN);
	g_assert_cmpuint(rtm->rtm_type, ==, RTN_UNICAST);
	g_assert_true(cocoon_netlink_parse_message(header, sizeof(*rtm), table, RTA_MAX));
	/* the destination is masked to its prefix */
	g_assert_cmphex(*(const in_addr_t *)data_of_size(table[RTA_DST], 4), ==, ipv4("10.1.0.0"));
	g_assert_cmphex(*(const in_addr_t *)data_of_size(table[RTA_GATEWAY], 4), ==,
			ipv4("10.88.0.1"));
	g_assert_cmpuint(u32_of(table[RTA_OIF]), ==, 2);
	g_assert_cmpuint(u32_of(table[RTA_PRIORITY]), ==, 100);
	g_assert_null(table[RTA_PREFSRC]);

	/* the default route has no RTA_DST */
	{
		CocoonRtnlRoute default_route = {.gateway = ipv4("10.88.0.1"), .ifindex = 2};
		g_autoptr(CocoonNetlinkMessage) message = cocoon_rtnl_route_add(&default_route);
		header = cocoon_netlink_message_get_header(message);
		g_assert_true(cocoon_netlink_parse_message(header, sizeof(*rtm), table, RTA_MAX));
		g_assert_null(table[RTA_DST]);
		g_assert_null(table[RTA_PRIORITY]);
	}
}

static void
test_text_forms(void)
{
	guint8 mac[COCOON_MAC_LENGTH];
	g_autofree gchar *mac_text = NULL;
	g_autofree gchar *cidr = NULL;
	in_addr_t address;
	guint prefix;

	g_assert_true(cocoon_mac_parse("0A:58:0a:58:00:FF", mac));
	mac_text = cocoon_mac_to_string(mac);
	g_assert_cmpstr(mac_text, ==, "0a:58:0a:58:00:ff");
	g_assert_false(cocoon_mac_parse("0a:58:0a:58:00", mac));
	g_assert_false(cocoon_mac_parse("0a-58-0a-58-00-ff", mac));
	g_assert_false(cocoon_mac_parse("0a:58:0a:58:00:fg", mac));
	g_assert_false(cocoon_mac_parse(NULL, mac));

	g_assert_true(cocoon_ipv4_cidr_parse("10.88.0.5/16", &address, &prefix));
	g_assert_cmpuint(prefix, ==, 16);
	cidr = cocoon_ipv4_cidr_to_string(address, prefix);
	g_assert_cmpstr(cidr, ==, "10.88.0.5/16");
	g_assert_true(cocoon_ipv4_cidr_parse("0.0.0.0/0", &address, &prefix));
	g_assert_cmpuint(address, ==, 0);
	g_assert_false(cocoon_ipv4_cidr_parse("10.88.0.5/33", &address, &prefix));
	g_assert_false(cocoon_ipv4_cidr_parse("10.88.0.5", &address, &prefix));
	g_assert_false(cocoon_ipv4_cidr_parse("10.88.0.5/", &address, &prefix));
	g_assert_false(cocoon_ipv4_cidr_parse("10.88.0.5/+8", &address, &prefix));
	g_assert_false(cocoon_ipv4_cidr_parse("10.88.0.5/8x", &address, &prefix));
	g_assert_false(cocoon_ipv4_cidr_parse("fd00::1/64", &address, &prefix));
	g_assert_false(cocoon_ipv4_cidr_parse("010.88.0.5/8", &address, &prefix));
}

/* ---- a namespace dump into the agent request ---- */

static void
add_message(CocoonNetConfig *config, CocoonNetlinkMessage *message, guint16 type)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonNetlinkMessage) owned = message;

	/* what the kernel sends back is a NEW* message with the same layout as our requests */
	cocoon_netlink_message_get_header(owned)->nlmsg_type = type;
	g_assert_true(cocoon_net_config_add_message(
		config, cocoon_netlink_message_get_header(owned), &error));
	g_assert_no_error(error);
}

static void
add_link(CocoonNetConfig *config, gint ifindex, const gchar *name, guint type, guint flags,
	 const gchar *mac, guint mtu, const gchar *kind)
{
	struct ifinfomsg info = {.ifi_index = ifindex, .ifi_type = type, .ifi_flags = flags};
	CocoonNetlinkMessage *message =
		cocoon_netlink_message_new(RTM_NEWLINK, 0, &info, sizeof(info));
	guint8 bytes[COCOON_MAC_LENGTH];

	cocoon_netlink_message_put_string(message, IFLA_IFNAME, name);
	cocoon_netlink_message_put_u32(message, IFLA_MTU, mtu);
	if (mac != NULL) {
		g_assert_true(cocoon_mac_parse(mac, bytes));
		cocoon_netlink_message_put(message, IFLA_ADDRESS, bytes, sizeof(bytes));
	}
	if (kind != NULL) {
		gsize start = cocoon_netlink_message_nest_start(message, IFLA_LINKINFO);
		cocoon_netlink_message_put_string(message, IFLA_INFO_KIND, kind);
		cocoon_netlink_message_nest_end(message, start);
	}
	add_message(config, message, RTM_NEWLINK);
}

static void
add_address(CocoonNetConfig *config, gint ifindex, const gchar *cidr)
{
	in_addr_t address;
	guint prefix;

	g_assert_true(cocoon_ipv4_cidr_parse(cidr, &address, &prefix));
	add_message(config, cocoon_rtnl_address_add(ifindex, address, prefix), RTM_NEWADDR);
}

static void
add_route(CocoonNetConfig *config, const gchar *destination, const gchar *gateway, gint ifindex,
	  guint8 protocol, guint8 table, guint8 scope)
{
	CocoonRtnlRoute route = {.ifindex = ifindex, .scope = scope};
	CocoonNetlinkMessage *message;
	struct rtmsg *rtm;

	g_assert_true(cocoon_ipv4_cidr_parse(destination, &route.destination, &route.prefix));
	if (gateway != NULL)
		route.gateway = ipv4(gateway);
	message = cocoon_rtnl_route_add(&route);
	rtm = (struct rtmsg *)NLMSG_DATA(cocoon_netlink_message_get_header(message));
	rtm->rtm_protocol = protocol;
	rtm->rtm_table = table;
	add_message(config, message, RTM_NEWROUTE);
}

static void
test_config_to_request(void)
{
	g_autoptr(CocoonNetConfig) config = cocoon_net_config_new();
	g_autoptr(GError) error = NULL;
	const CocoonNetWiring wirings[] = {{.ifindex = 3, .nic_mac = "02:cc:00:00:00:01"}};
	const CocoonNetWiring gone[] = {{.ifindex = 99, .nic_mac = "02:cc:00:00:00:01"}};
	Cocoon__Agent__V1__SetupNetworkRequest *request;
	Cocoon__Agent__V1__NetworkInterface *iface;

	add_link(config, 1, "lo", ARPHRD_LOOPBACK, IFF_LOOPBACK | IFF_UP, "00:00:00:00:00:00",
		 65536, NULL);
	add_link(config, 2, "tap0_cocoon", ARPHRD_ETHER, IFF_UP, "c2:f7:45:a6:22:70", 1500, "tun");
	add_link(config, 3, "eth0", ARPHRD_ETHER, IFF_UP, "0a:58:0a:58:00:05", 1450, "veth");
	add_link(config, 4, "eth1", ARPHRD_ETHER, IFF_UP, "0a:58:0a:59:00:05", 1500, "veth");
	add_link(config, 5, "ipip0", ARPHRD_TUNNEL, IFF_UP, NULL, 1480, "ipip");
	add_address(config, 3, "10.88.0.5/16");
	add_address(config, 3, "10.99.0.5/24");
	add_address(config, 42, "10.1.1.1/24"); /* an unknown link: ignored */
	/* the kernel's connected route, a local-table route, the default and a static one */
	add_route(config, "10.88.0.0/16", NULL, 3, RTPROT_KERNEL, RT_TABLE_MAIN, RT_SCOPE_LINK);
	add_route(config, "10.88.0.5/32", NULL, 3, RTPROT_KERNEL, RT_TABLE_LOCAL, RT_SCOPE_HOST);
	add_route(config, "0.0.0.0/0", "10.88.0.1", 3, RTPROT_BOOT, RT_TABLE_MAIN,
		  RT_SCOPE_UNIVERSE);
	add_route(config, "192.168.7.0/24", NULL, 3, RTPROT_BOOT, RT_TABLE_MAIN, RT_SCOPE_LINK);
	add_route(config, "172.16.0.0/12", "10.89.0.1", 4, RTPROT_BOOT, RT_TABLE_MAIN,
		  RT_SCOPE_UNIVERSE);

	g_assert_cmpuint(config->interfaces->len, ==, 5);
	g_assert_false(cocoon_net_interface_is_wirable(cocoon_net_config_find(config, 1)));
	g_assert_false(cocoon_net_interface_is_wirable(cocoon_net_config_find(config, 2)));
	g_assert_true(cocoon_net_interface_is_wirable(cocoon_net_config_find(config, 3)));
	g_assert_false(cocoon_net_interface_is_wirable(cocoon_net_config_find(config, 5)));
	g_assert_cmpstr(cocoon_net_config_find(config, 3)->kind, ==, "veth");

	request = cocoon_net_config_to_request(config, wirings, G_N_ELEMENTS(wirings), &error);
	g_assert_no_error(error);
	g_assert_cmpuint(request->n_interfaces, ==, 1);
	iface = request->interfaces[0];
	g_assert_cmpstr(iface->device_mac, ==, "02:cc:00:00:00:01");
	g_assert_cmpstr(iface->name, ==, "eth0");
	g_assert_cmpstr(iface->mac, ==, "0a:58:0a:58:00:05");
	g_assert_cmpuint(iface->mtu, ==, 1450);
	g_assert_cmpuint(iface->n_addresses, ==, 2);
	g_assert_cmpstr(iface->addresses[0], ==, "10.88.0.5/16");
	g_assert_cmpstr(iface->addresses[1], ==, "10.99.0.5/24");
	/* no kernel route, no local table, nothing through eth1; on-link before gateways */
	g_assert_cmpuint(request->n_routes, ==, 2);
	g_assert_cmpstr(request->routes[0]->destination, ==, "192.168.7.0/24");
	g_assert_cmpstr(request->routes[0]->gateway, ==, "");
	g_assert_cmpstr(request->routes[0]->device, ==, "eth0");
	g_assert_cmpuint(request->routes[0]->scope, ==, RT_SCOPE_LINK);
	g_assert_cmpstr(request->routes[1]->destination, ==, "0.0.0.0/0");
	g_assert_cmpstr(request->routes[1]->gateway, ==, "10.88.0.1");
	g_assert_cmpstr(request->routes[1]->source, ==, "");
	/* it packs: what the shim sends the agent */
	g_assert_cmpuint(protobuf_c_message_get_packed_size(&request->base), >, 0);
	protobuf_c_message_free_unpacked(&request->base, NULL);

	request = cocoon_net_config_to_request(config, gone, G_N_ELEMENTS(gone), &error);
	g_assert_null(request);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

static void
test_config_malformed(void)
{
	g_autoptr(CocoonNetConfig) config = cocoon_net_config_new();
	g_autoptr(GError) error = NULL;
	struct ifinfomsg info = {.ifi_index = 2, .ifi_type = ARPHRD_ETHER};
	g_autoptr(CocoonNetlinkMessage) no_name =
		cocoon_netlink_message_new(RTM_NEWLINK, 0, &info, sizeof(info));
	g_autoptr(CocoonNetlinkMessage) long_name =
		cocoon_netlink_message_new(RTM_NEWLINK, 0, &info, sizeof(info));
	struct nlmsghdr short_message = {.nlmsg_len = sizeof(struct nlmsghdr) + 4,
					 .nlmsg_type = RTM_NEWROUTE};

	g_assert_false(cocoon_net_config_add_message(
		config, cocoon_netlink_message_get_header(no_name), &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);
	cocoon_netlink_message_put_string(long_name, IFLA_IFNAME, "a-name-longer-than-ifnamsiz");
	g_assert_false(cocoon_net_config_add_message(
		config, cocoon_netlink_message_get_header(long_name), &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_assert_false(cocoon_net_config_add_message(config, &short_message, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);
	/* too many links */
	for (guint i = 0; i < COCOON_NET_INTERFACES_MAX; i++) {
		g_autofree gchar *name = g_strdup_printf("veth%u", i);
		add_link(config, (gint)i + 10, name, ARPHRD_ETHER, 0, "02:00:00:00:00:01", 1500,
			 NULL);
	}
	{
		g_autoptr(CocoonNetlinkMessage) one_more =
			cocoon_netlink_message_new(RTM_NEWLINK, 0, &info, sizeof(info));
		cocoon_netlink_message_put_string(one_more, IFLA_IFNAME, "extra");
		g_assert_false(cocoon_net_config_add_message(
			config, cocoon_netlink_message_get_header(one_more), &error));
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
}

/* ---- the spec ---- */

static void
check_spec(const gchar *json, CocoonPodNetnsKind expected_kind, const gchar *expected_path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonJson) spec = cocoon_json_parse(json, strlen(json), &error);
	g_autofree gchar *path = NULL;
	CocoonPodNetnsKind kind;

	g_assert_no_error(error);
	g_assert_true(cocoon_pod_network_parse_spec(spec, &kind, &path, &error));
	g_assert_no_error(error);
	g_assert_cmpint(kind, ==, expected_kind);
	g_assert_cmpstr(path, ==, expected_path);
}

static void
check_spec_invalid(const gchar *json)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonJson) spec = cocoon_json_parse(json, strlen(json), &error);
	g_autofree gchar *path = NULL;
	CocoonPodNetnsKind kind;

	g_assert_no_error(error);
	g_assert_false(cocoon_pod_network_parse_spec(spec, &kind, &path, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_spec(void)
{
	/* ctr run --net-host, or a spec without linux at all: the host's */
	check_spec("{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"}]}}",
		   COCOON_POD_NETNS_HOST, NULL);
	check_spec("{\"process\":{}}", COCOON_POD_NETNS_HOST, NULL);
	/* plain ctr run (and ctr run --cni, which configures it after Create) */
	check_spec("{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"}]}}",
		   COCOON_POD_NETNS_NEW, NULL);
	check_spec("{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"\"}]}}",
		   COCOON_POD_NETNS_NEW, NULL);
	/* CRI, ctr --with-ns */
	check_spec("{\"linux\":{\"namespaces\":[{\"type\":\"network\","
		   "\"path\":\"/var/run/netns/cni-1234\"}]}}",
		   COCOON_POD_NETNS_PATH, "/var/run/netns/cni-1234");
	check_spec_invalid("{\"linux\":{\"namespaces\":{}}}");
	check_spec_invalid("{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":7}]}}");
	check_spec_invalid(
		"{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"netns\"}]}}");
	check_spec_invalid("{\"linux\":{\"namespaces\":[{\"type\":\"network\"},"
			   "{\"type\":\"network\",\"path\":\"/x\"}]}}");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/network/netlink/layout", test_message_layout);
	g_test_add_func("/network/netlink/parse-bounds", test_parse_bounds);
	g_test_add_func("/network/rtnl/redirect-filter", test_redirect_filter);
	g_test_add_func("/network/rtnl/qdisc-and-deletes", test_qdisc_and_deletes);
	g_test_add_func("/network/rtnl/link-address-route", test_link_address_route);
	g_test_add_func("/network/rtnl/text", test_text_forms);
	g_test_add_func("/network/config/to-request", test_config_to_request);
	g_test_add_func("/network/config/malformed", test_config_malformed);
	g_test_add_func("/network/spec", test_spec);
	return g_test_run();
}
