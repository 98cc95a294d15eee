/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-fd.h"
#include "cocoon-guest-network.h"
#include "cocoon-guest-spec.h"
#include "cocoon-json.h"
#include "cocoon-net-config.h"
#include "cocoon-netlink.h"
#include "cocoon-netns.h"
#include "cocoon-rtnl.h"
#include "cocoon-ttrpc-status.h"

/*
 * cocoon-agent's SetupNetwork: the checks of a request (pure), and the real thing in a private
 * network namespace standing in for the guest (root only, skipped otherwise): a veth end stands in
 * for the virtio-net device, parked at start, brought back, renamed, configured.
 */

static gboolean
can_run(void)
{
	g_autofree gchar *ip = NULL;

	if (geteuid() != 0) {
		g_test_skip("needs root (network namespaces)");
		return FALSE;
	}
	ip = g_find_program_in_path("ip");
	if (ip == NULL) {
		g_test_skip("no ip (iproute2) to make veth pairs");
		return FALSE;
	}
	return TRUE;
}

static gboolean
ip_in_netns(gpointer user_data, GError **error)
{
	g_autofree gchar *command = g_strdup_printf("ip %s", (const gchar *)user_data);
	gint status;

	return g_spawn_command_line_sync(command, NULL, NULL, &status, error) &&
	       g_spawn_check_wait_status(status, error);
}

/* links, IPv4 addresses and routes of the namespace */
static gboolean
snapshot_in_netns(gpointer user_data, GError **error)
{
	CocoonNetConfig **ret_config = user_data;
	g_autoptr(CocoonNetlink) netlink = cocoon_netlink_open(error);
	g_autoptr(CocoonNetConfig) config = cocoon_net_config_new();
	CocoonNetlinkMessage *requests[3];

	if (netlink == NULL)
		return FALSE;
	requests[0] = cocoon_rtnl_dump_links();
	requests[1] = cocoon_rtnl_dump_addresses(AF_INET);
	requests[2] = cocoon_rtnl_dump_routes(AF_INET);
	for (guint i = 0; i < G_N_ELEMENTS(requests); i++) {
		g_autoptr(CocoonNetlinkMessage) request = requests[i];
		g_autoptr(GPtrArray) answers = cocoon_netlink_dump(netlink, request, error);
		if (answers == NULL)
			return FALSE;
		for (guint j = 0; j < answers->len; j++) {
			if (!cocoon_net_config_add_message(
				    config, g_bytes_get_data(g_ptr_array_index(answers, j), NULL),
				    error))
				return FALSE;
		}
	}
	*ret_config = g_steal_pointer(&config);
	return TRUE;
}

static CocoonNetConfig *
snapshot(int netns)
{
	g_autoptr(GError) error = NULL;
	CocoonNetConfig *config = NULL;

	g_assert_true(cocoon_netns_run(netns, snapshot_in_netns, &config, &error));
	g_assert_no_error(error);
	return config;
}

static CocoonNetInterface *
find_name(CocoonNetConfig *config, const gchar *name)
{
	for (guint i = 0; i < config->interfaces->len; i++) {
		CocoonNetInterface *iface = g_ptr_array_index(config->interfaces, i);
		if (g_strcmp0(iface->name, name) == 0)
			return iface;
	}
	return NULL;
}

static const CocoonNetRoute *
find_route(CocoonNetConfig *config, const gchar *cidr)
{
	in_addr_t destination;
	guint prefix;

	g_assert_true(cocoon_ipv4_cidr_parse(cidr, &destination, &prefix));
	for (guint i = 0; i < config->routes->len; i++) {
		const CocoonNetRoute *route = &g_array_index(config->routes, CocoonNetRoute, i);
		if (route->table == RT_TABLE_MAIN && route->prefix == prefix &&
		    route->destination == destination)
			return route;
	}
	return NULL;
}

typedef struct {
	CocoonGuestNetwork *network;
} NewJob;

static gboolean
new_in_netns(gpointer user_data, GError **error)
{
	NewJob *job = user_data;

	job->network = cocoon_guest_network_new(TRUE, error);
	return job->network != NULL;
}

/* a request built like the shim's, owned by the test */
typedef struct {
	Cocoon__Agent__V1__SetupNetworkRequest request;
	Cocoon__Agent__V1__NetworkInterface iface;
	Cocoon__Agent__V1__NetworkInterface *ifaces[1];
	Cocoon__Agent__V1__NetworkRoute routes[2];
	Cocoon__Agent__V1__NetworkRoute *route_pointers[2];
	gchar *addresses[2];
} Request;

static void
request_init(Request *r, const gchar *device_mac)
{
	cocoon__agent__v1__setup_network_request__init(&r->request);
	cocoon__agent__v1__network_interface__init(&r->iface);
	r->iface.device_mac = (gchar *)device_mac;
	r->iface.name = (gchar *)"eth0";
	r->iface.mac = (gchar *)"0a:58:0a:42:00:02";
	r->iface.mtu = 1400;
	r->addresses[0] = (gchar *)"10.66.0.2/24";
	r->addresses[1] = (gchar *)"10.67.0.2/16";
	r->iface.addresses = r->addresses;
	r->iface.n_addresses = 2;
	r->ifaces[0] = &r->iface;
	r->request.interfaces = r->ifaces;
	r->request.n_interfaces = 1;
	for (guint i = 0; i < 2; i++) {
		cocoon__agent__v1__network_route__init(&r->routes[i]);
		r->routes[i].device = (gchar *)"eth0";
		r->route_pointers[i] = &r->routes[i];
	}
	r->routes[0].destination = (gchar *)"172.20.0.0/16";
	r->routes[0].scope = RT_SCOPE_LINK;
	r->routes[1].destination = (gchar *)"0.0.0.0/0";
	r->routes[1].gateway = (gchar *)"10.66.0.1";
	r->routes[1].metric = 5;
	r->request.routes = r->route_pointers;
	r->request.n_routes = 2;
}

static void
test_guest_apply(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonGuestNetwork) network = NULL;
	g_autoptr(CocoonNetConfig) before = NULL;
	g_autoptr(CocoonNetConfig) parked = NULL;
	g_autoptr(CocoonNetConfig) after = NULL;
	g_autofree gchar *device_mac = NULL;
	cocoon_autofd int netns = -1;
	CocoonNetInterface *eth0;
	const CocoonNetRoute *route;
	NewJob job = {0};
	Request request;
	gchar *text;

	if (!can_run())
		return;
	netns = cocoon_netns_new(&error);
	g_assert_no_error(error);
	g_assert_true(cocoon_netns_run(netns, ip_in_netns,
				       (gpointer) "link add vm0 type veth peer name vm0p", &error));
	g_assert_no_error(error);
	before = snapshot(netns);
	g_assert_nonnull(find_name(before, "vm0"));
	device_mac = cocoon_mac_to_string(find_name(before, "vm0")->mac);

	/* PID 1 parks every NIC: a pod without networking sees lo alone */
	g_assert_true(cocoon_netns_run(netns, new_in_netns, &job, &error));
	g_assert_no_error(error);
	network = job.network;
	parked = snapshot(netns);
	g_assert_cmpuint(parked->interfaces->len, ==, 1);
	g_assert_nonnull(find_name(parked, "lo"));

	request_init(&request, device_mac);
	g_assert_true(cocoon_guest_network_apply(network, &request.request, &error));
	g_assert_no_error(error);
	after = snapshot(netns);
	/* vm0p stays parked: nobody asked for it */
	g_assert_cmpuint(after->interfaces->len, ==, 2);
	eth0 = find_name(after, "eth0");
	g_assert_nonnull(eth0);
	text = cocoon_mac_to_string(eth0->mac);
	g_assert_cmpstr(text, ==, "0a:58:0a:42:00:02");
	g_free(text);
	g_assert_cmpuint(eth0->mtu, ==, 1400);
	g_assert_true(eth0->flags & IFF_UP);
	g_assert_cmpuint(eth0->addresses->len, ==, 2);
	text = cocoon_ipv4_cidr_to_string(
		g_array_index(eth0->addresses, CocoonNetAddress, 0).address,
		g_array_index(eth0->addresses, CocoonNetAddress, 0).prefix);
	g_assert_cmpstr(text, ==, "10.66.0.2/24");
	g_free(text);
	route = find_route(after, "0.0.0.0/0");
	g_assert_nonnull(route);
	text = cocoon_ipv4_to_string(route->gateway);
	g_assert_cmpstr(text, ==, "10.66.0.1");
	g_free(text);
	g_assert_cmpint(route->ifindex, ==, eth0->ifindex);
	g_assert_cmpuint(route->metric, ==, 5);
	route = find_route(after, "172.20.0.0/16");
	g_assert_nonnull(route);
	g_assert_cmpuint(route->scope, ==, RT_SCOPE_LINK);
	g_assert_cmpuint(route->gateway, ==, 0);

	/* again: found in place by its new MAC, nothing changes */
	g_assert_true(cocoon_guest_network_apply(network, &request.request, &error));
	g_assert_no_error(error);
	g_clear_pointer(&after, cocoon_net_config_free);
	after = snapshot(netns);
	g_assert_cmpuint(find_name(after, "eth0")->addresses->len, ==, 2);
	g_assert_true(find_name(after, "eth0")->flags & IFF_UP);

	/* a device nobody has */
	request.iface.device_mac = (gchar *)"02:00:00:00:00:99";
	request.iface.mac = (gchar *)"02:00:00:00:00:98";
	request.iface.name = (gchar *)"eth1";
	request.request.n_routes = 0;
	g_assert_false(cocoon_guest_network_apply(network, &request.request, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_NOT_FOUND);
}

static void
check_invalid(const Request *request, const gchar *part)
{
	g_autoptr(GError) error = NULL;

	g_assert_false(cocoon_guest_network_check_request(&request->request, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT);
	if (strstr(error->message, part) == NULL)
		g_error("\"%s\" not in \"%s\"", part, error->message);
}

static void
test_guest_check(void)
{
	g_autoptr(GError) error = NULL;
	Request request;

	request_init(&request, "02:cc:00:00:00:01");
	g_assert_true(cocoon_guest_network_check_request(&request.request, &error));
	g_assert_no_error(error);

	request.iface.name = (gchar *)"lo";
	check_invalid(&request, "bad name");
	request.iface.name = (gchar *)"a/b";
	check_invalid(&request, "bad name");
	request.iface.name = (gchar *)"sixteen-chars-xx";
	check_invalid(&request, "bad name");
	request.iface.name = (gchar *)"";
	check_invalid(&request, "bad name");
	request.iface.name = (gchar *)"eth0";

	request.iface.device_mac = (gchar *)"02:cc:00:00:00";
	check_invalid(&request, "device MAC");
	request.iface.device_mac = (gchar *)"02:cc:00:00:00:01";
	request.iface.mac = (gchar *)"01:00:5e:00:00:01";
	check_invalid(&request, "bad MAC");
	request.iface.mac = (gchar *)"";
	g_assert_true(cocoon_guest_network_check_request(&request.request, &error));

	request.iface.mtu = 67;
	check_invalid(&request, "MTU");
	request.iface.mtu = 0;

	request.addresses[1] = (gchar *)"10.67.0.2";
	check_invalid(&request, "bad address");
	request.addresses[1] = (gchar *)"10.67.0.2/16";

	request.routes[1].gateway = (gchar *)"10.66.0";
	check_invalid(&request, "bad gateway");
	request.routes[1].gateway = (gchar *)"10.66.0.1";
	request.routes[0].device = (gchar *)"eth9";
	check_invalid(&request, "not in the request");
	request.routes[0].device = (gchar *)"eth0";
	request.routes[0].destination = (gchar *)"default";
	check_invalid(&request, "bad destination");
	request.routes[0].destination = (gchar *)"172.20.0.0/16";

	{
		Cocoon__Agent__V1__NetworkInterface *twice[2] = {&request.iface, &request.iface};
		request.request.interfaces = twice;
		request.request.n_interfaces = 2;
		check_invalid(&request, "named twice");
		request.request.n_interfaces = COCOON_GUEST_NETWORK_INTERFACES_MAX + 1;
		check_invalid(&request, "interfaces (at most");
		request.request.interfaces = request.ifaces;
		request.request.n_interfaces = 1;
	}
	request.iface.n_addresses = COCOON_GUEST_NETWORK_ADDRESSES_MAX + 1;
	check_invalid(&request, "addresses (at most");
}

/* the guest's network is the pod's: no container gets a network namespace of its own */
static void
test_guest_spec_network(void)
{
	const gchar *spec_json =
		"{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":{\"path\":\"rootfs\"},"
		"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},"
		"{\"type\":\"ipc\"},{\"type\":\"mount\"}]}}";
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonGuestSpec) spec =
		cocoon_guest_spec_patch(spec_json, strlen(spec_json), "c1",
					"/run/cocoon/shared/c1/rootfs", FALSE, NULL, NULL, &error);
	g_autoptr(CocoonJson) root = NULL;
	CocoonJson *namespaces;

	g_assert_no_error(error);
	root = cocoon_json_parse(spec->config_json, strlen(spec->config_json), &error);
	g_assert_no_error(error);
	namespaces = cocoon_json_path_get(root, "linux", "namespaces", NULL);
	g_assert_cmpuint(cocoon_json_array_get_length(namespaces), ==, 3);
	for (guint i = 0; i < cocoon_json_array_get_length(namespaces); i++)
		g_assert_cmpstr(cocoon_json_object_get_string_member(
					cocoon_json_array_get(namespaces, i), "type"),
				!=, "network");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/network/guest/apply", test_guest_apply);
	g_test_add_func("/network/guest/check", test_guest_check);
	g_test_add_func("/network/guest/spec", test_guest_spec_network);
	return g_test_run();
}
