/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-network.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-guest-agent.h"
#include "cocoon-netlink.h"
#include "cocoon-netns.h"
#include "cocoon-rtnl.h"
#include "cocoon-ttrpc-status.h"

#define MTU_MIN 68
#define MTU_MAX 65535

struct _CocoonGuestNetwork {
	int root_netns_fd;	/* the agent's namespace, where the containers live */
	CocoonNetlink *root;	/* a socket in it */
	int parking_netns_fd;	/* -1 without parking */
	CocoonNetlink *parking; /* a socket in the parking namespace */
};

typedef struct {
	gint ifindex;
	gchar name[IFNAMSIZ];
	guint flags;
	gboolean has_mac;
	guint8 mac[COCOON_MAC_LENGTH];
} Link;

/* ---- links ---- */

static GArray *
list_links(CocoonNetlink *netlink, GError **error)
{
	g_autoptr(CocoonNetlinkMessage) message = cocoon_rtnl_dump_links();
	g_autoptr(GPtrArray) answers = cocoon_netlink_dump(netlink, message, error);
	g_autoptr(GArray) links = g_array_new(FALSE, TRUE, sizeof(Link));

	if (answers == NULL)
		return NULL;
	for (guint i = 0; i < answers->len; i++) {
		const struct nlmsghdr *header =
			g_bytes_get_data(g_ptr_array_index(answers, i), NULL);
		const struct ifinfomsg *info =
			cocoon_netlink_message_payload(header, sizeof(*info));
		const struct rtattr *table[IFLA_MAX + 1];
		const gchar *name;
		Link link = {0};

		if (header->nlmsg_type != RTM_NEWLINK || info == NULL ||
		    !cocoon_netlink_parse_message(header, sizeof(*info), table, IFLA_MAX))
			continue;
		name = cocoon_netlink_attribute_get_string(table[IFLA_IFNAME]);
		if (name == NULL || strlen(name) >= IFNAMSIZ)
			continue;
		link.ifindex = info->ifi_index;
		link.flags = info->ifi_flags;
		g_strlcpy(link.name, name, sizeof(link.name));
		if (table[IFLA_ADDRESS] != NULL) {
			gsize size;
			gconstpointer mac =
				cocoon_netlink_attribute_data(table[IFLA_ADDRESS], &size);
			if (size == COCOON_MAC_LENGTH) {
				memcpy(link.mac, mac, COCOON_MAC_LENGTH);
				link.has_mac = TRUE;
			}
		}
		g_array_append_val(links, link);
	}
	return g_steal_pointer(&links);
}

static const Link *
find_by_mac(GArray *links, const guint8 *mac)
{
	for (guint i = 0; i < links->len; i++) {
		const Link *link = &g_array_index(links, Link, i);
		if (link->has_mac && memcmp(link->mac, mac, COCOON_MAC_LENGTH) == 0)
			return link;
	}
	return NULL;
}

static const Link *
find_by_name(GArray *links, const gchar *name)
{
	for (guint i = 0; i < links->len; i++) {
		const Link *link = &g_array_index(links, Link, i);
		if (g_str_equal(link->name, name))
			return link;
	}
	return NULL;
}

static gboolean
link_change(CocoonNetlink *netlink, gint ifindex, const CocoonRtnlLinkChange *change,
	    GError **error)
{
	return cocoon_netlink_request_take(netlink, cocoon_rtnl_link_change(ifindex, change),
					   error);
}

/* ---- parking ---- */

typedef struct {
	CocoonNetlink *netlink;
} OpenJob;

static gboolean
open_socket_in_netns(gpointer user_data, GError **error)
{
	OpenJob *job = user_data;

	job->netlink = cocoon_netlink_open(error);
	return job->netlink != NULL;
}

/* the parking namespace and a netlink socket in it */
static gboolean
parking_open(CocoonGuestNetwork *network, GError **error)
{
	OpenJob job = {0};

	network->parking_netns_fd = cocoon_netns_new(error);
	if (network->parking_netns_fd < 0 ||
	    !cocoon_netns_run(network->parking_netns_fd, open_socket_in_netns, &job, error))
		return FALSE;
	network->parking = job.netlink;
	return TRUE;
}

/* every NIC into the parking namespace, made only for the first one (~45 ms of boot under TCG) */
static gboolean
park_all(CocoonGuestNetwork *network, GError **error)
{
	g_autoptr(GArray) links = list_links(network->root, error);

	if (links == NULL)
		return FALSE;
	for (guint i = 0; i < links->len; i++) {
		const Link *link = &g_array_index(links, Link, i);
		CocoonRtnlLinkChange change = COCOON_RTNL_LINK_CHANGE_INIT;

		if (link->flags & IFF_LOOPBACK)
			continue;
		if (network->parking == NULL && !parking_open(network, error))
			return FALSE;
		change.netns_fd = network->parking_netns_fd;
		if (!link_change(network->root, link->ifindex, &change, error)) {
			g_prefix_error(error, "park %s: ", link->name);
			return FALSE;
		}
		g_debug("network: %s parked until SetupNetwork names it", link->name);
	}
	return TRUE;
}

/* ---- checks ---- */

static gboolean invalid(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean
invalid(GError **error, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *message = NULL;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT,
		    "SetupNetwork: %s: invalid argument", message);
	return FALSE;
}

/* what the kernel's dev_valid_name() takes, minus "lo" */
static gboolean
name_is_valid(const gchar *name)
{
	gsize length = name != NULL ? strlen(name) : 0;

	if (length == 0 || length >= IFNAMSIZ || g_str_equal(name, ".") ||
	    g_str_equal(name, "..") || g_str_equal(name, "lo"))
		return FALSE;
	for (const gchar *p = name; *p != '\0'; p++) {
		if (*p == '/' || *p == ':' || g_ascii_isspace(*p) || !g_ascii_isprint(*p))
			return FALSE;
	}
	return TRUE;
}

static gboolean
optional_ipv4_is_valid(const gchar *text)
{
	in_addr_t address;

	return text == NULL || text[0] == '\0' || cocoon_ipv4_parse(text, &address);
}

gboolean
cocoon_guest_network_check_request(const Cocoon__Agent__V1__SetupNetworkRequest *request,
				   GError **error)
{
	guint8 mac[COCOON_MAC_LENGTH];
	in_addr_t address;
	guint prefix;

	if (request->n_interfaces > COCOON_GUEST_NETWORK_INTERFACES_MAX)
		return invalid(error, "%zu interfaces (at most %u)", request->n_interfaces,
			       COCOON_GUEST_NETWORK_INTERFACES_MAX);
	if (request->n_routes > COCOON_GUEST_NETWORK_ROUTES_MAX)
		return invalid(error, "%zu routes (at most %u)", request->n_routes,
			       COCOON_GUEST_NETWORK_ROUTES_MAX);
	for (gsize i = 0; i < request->n_interfaces; i++) {
		const Cocoon__Agent__V1__NetworkInterface *iface = request->interfaces[i];

		if (!name_is_valid(iface->name))
			return invalid(error, "interface %zu: bad name \"%s\"", i,
				       iface->name != NULL ? iface->name : "");
		for (gsize j = 0; j < i; j++) {
			if (g_str_equal(request->interfaces[j]->name, iface->name))
				return invalid(error, "interface %s named twice", iface->name);
		}
		if (!cocoon_mac_parse(iface->device_mac, mac))
			return invalid(error, "interface %s: bad device MAC \"%s\"", iface->name,
				       iface->device_mac != NULL ? iface->device_mac : "");
		if (iface->mac != NULL && iface->mac[0] != '\0' &&
		    (!cocoon_mac_parse(iface->mac, mac) || (mac[0] & 1) != 0))
			return invalid(error, "interface %s: bad MAC \"%s\"", iface->name,
				       iface->mac);
		if (iface->mtu != 0 && (iface->mtu < MTU_MIN || iface->mtu > MTU_MAX))
			return invalid(error, "interface %s: MTU %u", iface->name, iface->mtu);
		if (iface->n_addresses > COCOON_GUEST_NETWORK_ADDRESSES_MAX)
			return invalid(error, "interface %s: %zu addresses (at most %u)",
				       iface->name, iface->n_addresses,
				       COCOON_GUEST_NETWORK_ADDRESSES_MAX);
		for (gsize j = 0; j < iface->n_addresses; j++) {
			if (!cocoon_ipv4_cidr_parse(iface->addresses[j], &address, &prefix))
				return invalid(error, "interface %s: bad address \"%s\"",
					       iface->name, iface->addresses[j]);
		}
	}
	for (gsize i = 0; i < request->n_routes; i++) {
		const Cocoon__Agent__V1__NetworkRoute *route = request->routes[i];
		gboolean known = FALSE;

		if (!cocoon_ipv4_cidr_parse(route->destination, &address, &prefix))
			return invalid(error, "route %zu: bad destination \"%s\"", i,
				       route->destination != NULL ? route->destination : "");
		if (!optional_ipv4_is_valid(route->gateway) ||
		    !optional_ipv4_is_valid(route->source))
			return invalid(error, "route to %s: bad gateway or source",
				       route->destination);
		if (route->scope > 255)
			return invalid(error, "route to %s: scope %u", route->destination,
				       route->scope);
		for (gsize j = 0; j < request->n_interfaces; j++)
			known = known ||
				g_strcmp0(request->interfaces[j]->name, route->device) == 0;
		if (!known)
			return invalid(error, "route to %s: device \"%s\" is not in the request",
				       route->destination,
				       route->device != NULL ? route->device : "");
	}
	return TRUE;
}

/* ---- applying ---- */

/* brings the device with that MAC into the agent's namespace; ret_link as it is there */
static gboolean
claim_device(CocoonGuestNetwork *network, const Cocoon__Agent__V1__NetworkInterface *iface,
	     const guint8 *device_mac, const guint8 *mac, Link *ret_link, GError **error)
{
	g_autoptr(GArray) root_links = NULL;
	const Link *link;

	if (network->parking != NULL) {
		g_autoptr(GArray) parked = list_links(network->parking, error);
		if (parked == NULL)
			return FALSE;
		link = find_by_mac(parked, device_mac);
		if (link == NULL && mac != NULL)
			link = find_by_mac(parked, mac);
		if (link != NULL) {
			/* a name no one has in the agent's namespace, the right one comes later */
			g_autofree gchar *temporary = g_strdup_printf("cocoon%d", link->ifindex);
			CocoonRtnlLinkChange rename = COCOON_RTNL_LINK_CHANGE_INIT;
			CocoonRtnlLinkChange move = COCOON_RTNL_LINK_CHANGE_INIT;

			rename.name = temporary;
			move.netns_fd = network->root_netns_fd;
			if (!link_change(network->parking, link->ifindex, &rename, error) ||
			    !link_change(network->parking, link->ifindex, &move, error)) {
				g_prefix_error(error, "%s: ", iface->name);
				return FALSE;
			}
			root_links = list_links(network->root, error);
			if (root_links == NULL)
				return FALSE;
			link = find_by_name(root_links, temporary);
			if (link == NULL) {
				g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
					    "%s: the device %s vanished on its way out of parking",
					    iface->name, temporary);
				return FALSE;
			}
			*ret_link = *link;
			return TRUE;
		}
	}
	root_links = list_links(network->root, error);
	if (root_links == NULL)
		return FALSE;
	link = find_by_mac(root_links, device_mac);
	if (link == NULL && mac != NULL)
		link = find_by_mac(root_links, mac);
	if (link == NULL || (link->flags & IFF_LOOPBACK)) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_NOT_FOUND,
			    "%s: no network device has the MAC address %s", iface->name,
			    iface->device_mac);
		return FALSE;
	}
	*ret_link = *link;
	return TRUE;
}

static gboolean
setup_interface(CocoonGuestNetwork *network, const Cocoon__Agent__V1__NetworkInterface *iface,
		GError **error)
{
	guint8 device_mac[COCOON_MAC_LENGTH];
	guint8 mac[COCOON_MAC_LENGTH];
	gboolean has_mac = iface->mac != NULL && iface->mac[0] != '\0';
	CocoonRtnlLinkChange change = COCOON_RTNL_LINK_CHANGE_INIT;
	Link link;

	/* checked before */
	(void)cocoon_mac_parse(iface->device_mac, device_mac);
	if (has_mac)
		(void)cocoon_mac_parse(iface->mac, mac);
	else
		memcpy(mac, device_mac, COCOON_MAC_LENGTH);
	if (!claim_device(network, iface, device_mac, mac, &link, error))
		return FALSE;

	/* a rename needs the device down, a MAC change on some devices too */
	if (!g_str_equal(link.name, iface->name) || memcmp(link.mac, mac, COCOON_MAC_LENGTH) != 0) {
		CocoonRtnlLinkChange down = COCOON_RTNL_LINK_CHANGE_INIT;
		down.up = 0;
		change.name = iface->name;
		change.mac = mac;
		if (!link_change(network->root, link.ifindex, &down, error) ||
		    !link_change(network->root, link.ifindex, &change, error)) {
			g_prefix_error(error, "%s: ", iface->name);
			return FALSE;
		}
		change = (CocoonRtnlLinkChange)COCOON_RTNL_LINK_CHANGE_INIT;
	}
	change.mtu = iface->mtu;
	change.up = 1;
	if (!link_change(network->root, link.ifindex, &change, error)) {
		g_prefix_error(error, "%s: ", iface->name);
		return FALSE;
	}
	for (gsize i = 0; i < iface->n_addresses; i++) {
		in_addr_t address;
		guint prefix;

		(void)cocoon_ipv4_cidr_parse(iface->addresses[i], &address, &prefix);
		if (!cocoon_netlink_request_take(
			    network->root, cocoon_rtnl_address_add(link.ifindex, address, prefix),
			    error)) {
			g_prefix_error(error, "%s: address %s: ", iface->name, iface->addresses[i]);
			return FALSE;
		}
	}
	g_info("network: %s (%s, mtu %u) with %zu address(es)", iface->name,
	       has_mac ? iface->mac : iface->device_mac, iface->mtu, iface->n_addresses);
	return TRUE;
}

static gboolean
setup_route(CocoonGuestNetwork *network, GArray *links,
	    const Cocoon__Agent__V1__NetworkRoute *route, GError **error)
{
	CocoonRtnlRoute rtnl_route = {.metric = route->metric, .scope = (guint8)route->scope};
	const Link *link = find_by_name(links, route->device);

	if (link == NULL) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
			    "route to %s: device %s is gone", route->destination, route->device);
		return FALSE;
	}
	(void)cocoon_ipv4_cidr_parse(route->destination, &rtnl_route.destination,
				     &rtnl_route.prefix);
	if (route->gateway != NULL && route->gateway[0] != '\0')
		(void)cocoon_ipv4_parse(route->gateway, &rtnl_route.gateway);
	if (route->source != NULL && route->source[0] != '\0')
		(void)cocoon_ipv4_parse(route->source, &rtnl_route.source);
	rtnl_route.ifindex = link->ifindex;
	if (!cocoon_netlink_request_take(network->root, cocoon_rtnl_route_add(&rtnl_route),
					 error)) {
		g_prefix_error(error, "route to %s via %s dev %s: ", route->destination,
			       route->gateway != NULL && route->gateway[0] != '\0' ? route->gateway
										   : "(on-link)",
			       route->device);
		return FALSE;
	}
	return TRUE;
}

/**
 * cocoon_guest_network_apply:
 *
 * Interfaces first (each found by its device MAC, brought out of parking, renamed, given its MAC,
 * MTU and addresses, up), then the routes in order.
 */
gboolean
cocoon_guest_network_apply(CocoonGuestNetwork *network,
			   const Cocoon__Agent__V1__SetupNetworkRequest *request, GError **error)
{
	g_autoptr(GArray) links = NULL;

	if (!cocoon_guest_network_check_request(request, error))
		return FALSE;
	for (gsize i = 0; i < request->n_interfaces; i++) {
		if (!setup_interface(network, request->interfaces[i], error))
			return FALSE;
	}
	if (request->n_routes == 0)
		return TRUE;
	links = list_links(network->root, error);
	if (links == NULL)
		return FALSE;
	for (gsize i = 0; i < request->n_routes; i++) {
		if (!setup_route(network, links, request->routes[i], error))
			return FALSE;
	}
	return TRUE;
}

/**
 * cocoon_guest_network_handle_setup:
 *
 * answers call, a SetupNetwork with request (the agent's handler, cocoon-guest-handlers.c)
 */
void
cocoon_guest_network_handle_setup(CocoonGuestNetwork *network, CocoonTtrpcCall *call,
				  const Cocoon__Agent__V1__SetupNetworkRequest *request)
{
	g_autoptr(GError) error = NULL;

	if (!cocoon_guest_network_apply(network, request, &error)) {
		g_warning("SetupNetwork: %s", error->message);
		if (error->domain != COCOON_TTRPC_ERROR) {
			g_autoptr(GError) internal =
				g_error_new(COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
					    "SetupNetwork: %s", error->message);
			cocoon_ttrpc_call_return_gerror(call, internal);
		} else {
			cocoon_ttrpc_call_return_gerror(call, error);
		}
	} else {
		cocoon_ttrpc_call_return_message(call, NULL);
	}
}

/* ---- life cycle ---- */

/**
 * cocoon_guest_network_new:
 * @park: move every NIC into a parking namespace now
 *
 * Returns: (transfer full): the guest network of the calling thread's namespace
 */
CocoonGuestNetwork *
cocoon_guest_network_new(gboolean park, GError **error)
{
	g_autoptr(CocoonGuestNetwork) network = g_new0(CocoonGuestNetwork, 1);

	network->parking_netns_fd = -1;
	network->root_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (network->root_netns_fd < 0) {
		cocoon_set_error_from_errno(error, "open /proc/thread-self/ns/net");
		return NULL;
	}
	network->root = cocoon_netlink_open(error);
	if (network->root == NULL)
		return NULL;
	if (park && !park_all(network, error))
		return NULL;
	return g_steal_pointer(&network);
}

void
cocoon_guest_network_free(CocoonGuestNetwork *network)
{
	if (network == NULL)
		return;
	cocoon_netlink_free(network->root);
	cocoon_netlink_free(network->parking);
	cocoon_fd_closep(&network->root_netns_fd);
	cocoon_fd_closep(&network->parking_netns_fd);
	g_free(network);
}
