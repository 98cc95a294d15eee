/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-network"

#include "config.h"

#include "cocoon-net-config.h"

#include <net/if_arp.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>

static void
interface_free(CocoonNetInterface *iface)
{
	g_free(iface->name);
	g_free(iface->kind);
	g_array_unref(iface->addresses);
	g_free(iface);
}

CocoonNetConfig *
cocoon_net_config_new(void)
{
	CocoonNetConfig *config = g_new0(CocoonNetConfig, 1);

	config->interfaces = g_ptr_array_new_with_free_func((GDestroyNotify)interface_free);
	config->routes = g_array_new(FALSE, TRUE, sizeof(CocoonNetRoute));
	return config;
}

void
cocoon_net_config_free(CocoonNetConfig *config)
{
	if (config == NULL)
		return;
	g_ptr_array_unref(config->interfaces);
	g_array_unref(config->routes);
	g_free(config);
}

CocoonNetInterface *
cocoon_net_config_find(const CocoonNetConfig *config, gint ifindex)
{
	for (guint i = 0; i < config->interfaces->len; i++) {
		CocoonNetInterface *iface = g_ptr_array_index(config->interfaces, i);
		if (iface->ifindex == ifindex)
			return iface;
	}
	return NULL;
}

static gboolean
malformed(GError **error, const gchar *what)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "malformed %s message", what);
	return FALSE;
}

static gboolean
add_link(CocoonNetConfig *config, const struct nlmsghdr *message, GError **error)
{
	const struct ifinfomsg *header = cocoon_netlink_message_payload(message, sizeof(*header));
	const struct rtattr *table[IFLA_MAX + 1];
	CocoonNetInterface *iface;
	const gchar *name;
	gsize size;

	if (header == NULL ||
	    !cocoon_netlink_parse_message(message, sizeof(*header), table, IFLA_MAX))
		return malformed(error, "link");
	name = cocoon_netlink_attribute_get_string(table[IFLA_IFNAME]);
	if (name == NULL || strlen(name) >= IFNAMSIZ || header->ifi_index <= 0)
		return malformed(error, "link");
	iface = cocoon_net_config_find(config, header->ifi_index);
	if (iface == NULL) {
		if (config->interfaces->len >= COCOON_NET_INTERFACES_MAX) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "more than %u network interfaces", COCOON_NET_INTERFACES_MAX);
			return FALSE;
		}
		iface = g_new0(CocoonNetInterface, 1);
		iface->addresses = g_array_new(FALSE, TRUE, sizeof(CocoonNetAddress));
		g_ptr_array_add(config->interfaces, iface);
	}
	iface->ifindex = header->ifi_index;
	g_free(iface->name);
	iface->name = g_strdup(name);
	iface->type = header->ifi_type;
	iface->flags = header->ifi_flags;
	if (!cocoon_netlink_attribute_get_u32(table[IFLA_MTU], &iface->mtu))
		iface->mtu = 0;
	iface->has_mac = FALSE;
	if (table[IFLA_ADDRESS] != NULL) {
		gconstpointer mac = cocoon_netlink_attribute_data(table[IFLA_ADDRESS], &size);
		if (size == COCOON_MAC_LENGTH) {
			memcpy(iface->mac, mac, COCOON_MAC_LENGTH);
			iface->has_mac = TRUE;
		}
	}
	g_clear_pointer(&iface->kind, g_free);
	if (table[IFLA_LINKINFO] != NULL) {
		const struct rtattr *info[IFLA_INFO_MAX + 1];
		if (!cocoon_netlink_parse_nested(table[IFLA_LINKINFO], info, IFLA_INFO_MAX))
			return malformed(error, "link");
		iface->kind = g_strdup(cocoon_netlink_attribute_get_string(info[IFLA_INFO_KIND]));
	}
	return TRUE;
}

static gboolean
get_ipv4(const struct rtattr *attribute, in_addr_t *ret_address)
{
	gsize size;
	gconstpointer data;

	if (attribute == NULL)
		return FALSE;
	data = cocoon_netlink_attribute_data(attribute, &size);
	if (size != sizeof(in_addr_t))
		return FALSE;
	memcpy(ret_address, data, sizeof(in_addr_t));
	return TRUE;
}

static gboolean
add_address(CocoonNetConfig *config, const struct nlmsghdr *message, GError **error)
{
	const struct ifaddrmsg *header = cocoon_netlink_message_payload(message, sizeof(*header));
	const struct rtattr *table[IFA_MAX + 1];
	CocoonNetInterface *iface;
	CocoonNetAddress address = {0};

	if (header == NULL ||
	    !cocoon_netlink_parse_message(message, sizeof(*header), table, IFA_MAX))
		return malformed(error, "address");
	if (header->ifa_family != AF_INET)
		return TRUE;
	iface = cocoon_net_config_find(config, (gint)header->ifa_index);
	if (iface == NULL)
		return TRUE;
	/* IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's on point-to-point */
	if (!get_ipv4(table[IFA_LOCAL], &address.address) &&
	    !get_ipv4(table[IFA_ADDRESS], &address.address))
		return malformed(error, "address");
	if (header->ifa_prefixlen > 32)
		return malformed(error, "address");
	address.prefix = header->ifa_prefixlen;
	if (iface->addresses->len >= COCOON_NET_ADDRESSES_MAX) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "%s: more than %u addresses", iface->name, COCOON_NET_ADDRESSES_MAX);
		return FALSE;
	}
	g_array_append_val(iface->addresses, address);
	return TRUE;
}

static gboolean
add_route(CocoonNetConfig *config, const struct nlmsghdr *message, GError **error)
{
	const struct rtmsg *header = cocoon_netlink_message_payload(message, sizeof(*header));
	const struct rtattr *table[RTA_MAX + 1];
	CocoonNetRoute route = {0};
	guint32 value;

	if (header == NULL ||
	    !cocoon_netlink_parse_message(message, sizeof(*header), table, RTA_MAX))
		return malformed(error, "route");
	if (header->rtm_family != AF_INET)
		return TRUE;
	if (header->rtm_dst_len > 32)
		return malformed(error, "route");
	route.prefix = header->rtm_dst_len;
	route.scope = header->rtm_scope;
	route.protocol = header->rtm_protocol;
	route.type = header->rtm_type;
	route.table = cocoon_netlink_attribute_get_u32(table[RTA_TABLE], &value)
			      ? value
			      : header->rtm_table;
	if (route.prefix > 0 && !get_ipv4(table[RTA_DST], &route.destination))
		return malformed(error, "route");
	(void)get_ipv4(table[RTA_GATEWAY], &route.gateway);
	(void)get_ipv4(table[RTA_PREFSRC], &route.source);
	if (cocoon_netlink_attribute_get_u32(table[RTA_OIF], &value))
		route.ifindex = (gint)value;
	if (cocoon_netlink_attribute_get_u32(table[RTA_PRIORITY], &value))
		route.metric = value;
	/* a multipath route has no single device: it cannot be wired, and is left out */
	if (table[RTA_MULTIPATH] != NULL)
		route.ifindex = 0;
	if (config->routes->len >= COCOON_NET_ROUTES_MAX) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "more than %u routes",
			    COCOON_NET_ROUTES_MAX);
		return FALSE;
	}
	g_array_append_val(config->routes, route);
	return TRUE;
}

gboolean
cocoon_net_config_add_message(CocoonNetConfig *config, const struct nlmsghdr *message,
			      GError **error)
{
	switch (message->nlmsg_type) {
	case RTM_NEWLINK:
		return add_link(config, message, error);
	case RTM_NEWADDR:
		return add_address(config, message, error);
	case RTM_NEWROUTE:
		return add_route(config, message, error);
	default:
		return TRUE;
	}
}

gboolean
cocoon_net_interface_is_wirable(const CocoonNetInterface *iface)
{
	if (iface->flags & IFF_LOOPBACK)
		return FALSE;
	if (iface->type != ARPHRD_ETHER || !iface->has_mac)
		return FALSE;
	if (g_strcmp0(iface->kind, "tun") == 0)
		return FALSE;
	return TRUE;
}

/* ---- the agent request ---- */

static const CocoonNetWiring *
find_wiring(const CocoonNetWiring *wirings, guint n_wirings, gint ifindex)
{
	for (guint i = 0; i < n_wirings; i++) {
		if (wirings[i].ifindex == ifindex)
			return &wirings[i];
	}
	return NULL;
}

static Cocoon__Agent__V1__NetworkInterface *
interface_to_message(const CocoonNetInterface *iface, const CocoonNetWiring *wiring)
{
	Cocoon__Agent__V1__NetworkInterface *message =
		g_new0(Cocoon__Agent__V1__NetworkInterface, 1);

	cocoon__agent__v1__network_interface__init(message);
	message->device_mac = g_strdup(wiring->nic_mac);
	message->name = g_strdup(iface->name);
	message->mac = cocoon_mac_to_string(iface->mac);
	message->mtu = iface->mtu;
	message->n_addresses = iface->addresses->len;
	message->addresses = g_new0(gchar *, MAX(iface->addresses->len, 1u));
	for (guint i = 0; i < iface->addresses->len; i++) {
		const CocoonNetAddress *address =
			&g_array_index(iface->addresses, CocoonNetAddress, i);
		message->addresses[i] =
			cocoon_ipv4_cidr_to_string(address->address, address->prefix);
	}
	return message;
}

static gchar *
optional_ipv4(in_addr_t address)
{
	return address != 0 ? cocoon_ipv4_to_string(address) : g_strdup("");
}

static Cocoon__Agent__V1__NetworkRoute *
route_to_message(const CocoonNetRoute *route, const CocoonNetInterface *iface)
{
	Cocoon__Agent__V1__NetworkRoute *message = g_new0(Cocoon__Agent__V1__NetworkRoute, 1);

	cocoon__agent__v1__network_route__init(message);
	message->destination = cocoon_ipv4_cidr_to_string(route->destination, route->prefix);
	message->gateway = optional_ipv4(route->gateway);
	message->device = g_strdup(iface->name);
	message->source = optional_ipv4(route->source);
	message->metric = route->metric;
	message->scope = route->scope;
	return message;
}

/* a route the guest needs from us: the kernel makes the connected ones itself */
static gboolean
route_is_wanted(const CocoonNetRoute *route)
{
	return route->table == RT_TABLE_MAIN && route->type == RTN_UNICAST &&
	       route->protocol != RTPROT_KERNEL && route->ifindex > 0;
}

/**
 * cocoon_net_config_to_request:
 *
 * Returns: (transfer full): the SetupNetwork request for @wirings; every wired ifindex must be in
 * @config (G_IO_ERROR_NOT_FOUND otherwise)
 */
Cocoon__Agent__V1__SetupNetworkRequest *
cocoon_net_config_to_request(const CocoonNetConfig *config, const CocoonNetWiring *wirings,
			     guint n_wirings, GError **error)
{
	Cocoon__Agent__V1__SetupNetworkRequest *request =
		g_new0(Cocoon__Agent__V1__SetupNetworkRequest, 1);
	g_autoptr(GPtrArray) routes = g_ptr_array_new();

	cocoon__agent__v1__setup_network_request__init(request);
	request->interfaces = g_new0(Cocoon__Agent__V1__NetworkInterface *, MAX(n_wirings, 1u));
	for (guint i = 0; i < n_wirings; i++) {
		const CocoonNetInterface *iface =
			cocoon_net_config_find(config, wirings[i].ifindex);
		if (iface == NULL) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
				    "network interface %d is gone", wirings[i].ifindex);
			protobuf_c_message_free_unpacked(&request->base, NULL);
			return NULL;
		}
		request->interfaces[request->n_interfaces++] =
			interface_to_message(iface, &wirings[i]);
	}
	/* two passes: on-link routes first, a gateway must be reachable when its route is added */
	for (guint pass = 0; pass < 2; pass++) {
		for (guint i = 0; i < config->routes->len; i++) {
			const CocoonNetRoute *route =
				&g_array_index(config->routes, CocoonNetRoute, i);
			gboolean on_link = route->gateway == 0;
			if (!route_is_wanted(route) || on_link != (pass == 0) ||
			    find_wiring(wirings, n_wirings, route->ifindex) == NULL)
				continue;
			g_ptr_array_add(routes,
					route_to_message(route, cocoon_net_config_find(
									config, route->ifindex)));
		}
	}
	request->n_routes = routes->len;
	request->routes = g_new0(Cocoon__Agent__V1__NetworkRoute *, MAX(routes->len, 1u));
	for (guint i = 0; i < routes->len; i++)
		request->routes[i] = g_ptr_array_index(routes, i);
	return request;
}
