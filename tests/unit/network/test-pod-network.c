/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-fd.h"
#include "cocoon-net-config.h"
#include "cocoon-netlink.h"
#include "cocoon-netns.h"
#include "cocoon-pod-network.h"
#include "cocoon-rtnl.h"

/*
 * The pod network against the real kernel, in private network namespaces (root only, skipped
 * otherwise): veth pairs stand in for CNI, frames go through the tc redirects both ways with the
 * tap fd standing in for QEMU, teardown leaves the namespace as it found it.
 */

#define FRAME_ETHERTYPE 0x88b5 /* IEEE local experimental */

static gboolean
can_run(void)
{
	g_autofree gchar *ip_path = g_find_program_in_path("ip");

	if (geteuid() != 0) {
		g_test_skip("needs root (network namespaces, taps)");
		return FALSE;
	}
	if (access("/dev/net/tun", R_OK | W_OK) != 0) {
		g_test_skip("no /dev/net/tun");
		return FALSE;
	}
	if (ip_path == NULL) {
		g_test_skip("no ip (iproute2) to make veth pairs");
		return FALSE;
	}
	return TRUE;
}

/* runs `ip ARGS` in the calling thread's namespace (the child inherits it) */
static gboolean
ip(const gchar *args, GError **error)
{
	g_autofree gchar *command = g_strdup_printf("ip %s", args);
	g_autofree gchar *err = NULL;
	gint status;

	if (!g_spawn_command_line_sync(command, NULL, &err, &status, error))
		return FALSE;
	if (!g_spawn_check_wait_status(status, error)) {
		g_prefix_error(error, "%s (%s): ", command, err);
		return FALSE;
	}
	return TRUE;
}

static gboolean
ip_commands(gpointer user_data, GError **error)
{
	const gchar *const *commands = user_data;

	for (guint i = 0; commands[i] != NULL; i++) {
		if (!ip(commands[i], error))
			return FALSE;
	}
	return TRUE;
}

static void
run_ip(int netns_fd, const gchar *const *commands)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(cocoon_netns_run(netns_fd, ip_commands, (gpointer)commands, &error));
	g_assert_no_error(error);
}

/* a look at a namespace from inside */
typedef struct {
	CocoonNetConfig *config;
	gint ifindex;	      /* for the tc dumps */
	guint n_filters;      /* u32 filters on ifindex's ingress */
	gint redirect_to;     /* their mirred target */
	gboolean has_ingress; /* an ingress qdisc on ifindex */
} Look;

static gboolean
look_in_netns(gpointer user_data, GError **error)
{
	Look *look = user_data;
	g_autoptr(CocoonNetlink) netlink = cocoon_netlink_open(error);
	g_autoptr(CocoonNetlinkMessage) links = cocoon_rtnl_dump_links();
	g_autoptr(GPtrArray) answers = NULL;

	if (netlink == NULL)
		return FALSE;
	answers = cocoon_netlink_dump(netlink, links, error);
	if (answers == NULL)
		return FALSE;
	look->config = cocoon_net_config_new();
	for (guint i = 0; i < answers->len; i++) {
		if (!cocoon_net_config_add_message(
			    look->config, g_bytes_get_data(g_ptr_array_index(answers, i), NULL),
			    error))
			return FALSE;
	}
	if (look->ifindex <= 0)
		return TRUE;
	{
		struct tcmsg header = {.tcm_family = AF_UNSPEC};
		g_autoptr(CocoonNetlinkMessage) qdiscs =
			cocoon_netlink_message_new(RTM_GETQDISC, 0, &header, sizeof(header));
		g_autoptr(GPtrArray) list = cocoon_netlink_dump(netlink, qdiscs, error);
		if (list == NULL)
			return FALSE;
		for (guint i = 0; i < list->len; i++) {
			const struct nlmsghdr *message =
				g_bytes_get_data(g_ptr_array_index(list, i), NULL);
			const struct tcmsg *tc =
				cocoon_netlink_message_payload(message, sizeof(*tc));
			const struct rtattr *table[TCA_MAX + 1];
			if (tc != NULL && tc->tcm_ifindex == look->ifindex &&
			    cocoon_netlink_parse_message(message, sizeof(*tc), table, TCA_MAX) &&
			    g_strcmp0(cocoon_netlink_attribute_get_string(table[TCA_KIND]),
				      "ingress") == 0)
				look->has_ingress = TRUE;
		}
	}
	if (look->has_ingress) {
		g_autoptr(CocoonNetlinkMessage) filters =
			cocoon_rtnl_dump_ingress_filters(look->ifindex);
		g_autoptr(GPtrArray) list = cocoon_netlink_dump(netlink, filters, error);
		if (list == NULL)
			return FALSE;
		for (guint i = 0; i < list->len; i++) {
			const struct nlmsghdr *message =
				g_bytes_get_data(g_ptr_array_index(list, i), NULL);
			const struct tcmsg *tc =
				cocoon_netlink_message_payload(message, sizeof(*tc));
			const struct rtattr *table[TCA_MAX + 1];
			const struct rtattr *u32[TCA_U32_MAX + 1];
			const struct rtattr *actions[TCA_ACT_MAX_PRIO + 1];
			const struct rtattr *action[TCA_ACT_MAX + 1];
			const struct rtattr *options[TCA_MIRRED_MAX + 1];
			const struct tc_mirred *mirred;
			gsize size;

			/* the u32 hash table entries come without options */
			if (tc == NULL || tc->tcm_handle == 0 ||
			    !cocoon_netlink_parse_message(message, sizeof(*tc), table, TCA_MAX) ||
			    table[TCA_OPTIONS] == NULL ||
			    !cocoon_netlink_parse_nested(table[TCA_OPTIONS], u32, TCA_U32_MAX) ||
			    u32[TCA_U32_ACT] == NULL)
				continue;
			look->n_filters++;
			if (!cocoon_netlink_parse_nested(u32[TCA_U32_ACT], actions,
							 TCA_ACT_MAX_PRIO) ||
			    actions[1] == NULL ||
			    !cocoon_netlink_parse_nested(actions[1], action, TCA_ACT_MAX) ||
			    action[TCA_ACT_OPTIONS] == NULL ||
			    !cocoon_netlink_parse_nested(action[TCA_ACT_OPTIONS], options,
							 TCA_MIRRED_MAX) ||
			    options[TCA_MIRRED_PARMS] == NULL)
				continue;
			mirred = cocoon_netlink_attribute_data(options[TCA_MIRRED_PARMS], &size);
			if (size >= sizeof(*mirred))
				look->redirect_to = (gint)mirred->ifindex;
		}
	}
	return TRUE;
}

static Look
look(int netns_fd, gint ifindex)
{
	g_autoptr(GError) error = NULL;
	Look result = {.ifindex = ifindex};

	g_assert_true(cocoon_netns_run(netns_fd, look_in_netns, &result, &error));
	g_assert_no_error(error);
	return result;
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

/* ---- frames through the redirects ---- */

typedef struct {
	const gchar *peer; /* the veth end on "the bridge side" */
	int tap_fd;
	guint8 peer_mac[COCOON_MAC_LENGTH];
	gboolean to_guest;   /* peer → eth0 → tap */
	gboolean from_guest; /* tap → eth0 → peer */
} Frames;

static gssize
read_with_timeout(int fd, guint8 *buffer, gsize size)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, 3000) <= 0)
		return -1;
	return read(fd, buffer, size);
}

static gboolean
frames_in_netns(gpointer user_data, GError **error)
{
	Frames *frames = user_data;
	struct sockaddr_ll address = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(FRAME_ETHERTYPE),
		.sll_ifindex = (int)if_nametoindex(frames->peer),
	};
	cocoon_autofd int packet =
		socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(FRAME_ETHERTYPE));
	struct {
		struct virtio_net_hdr vnet;
		struct ether_header ether;
		gchar payload[32];
	} __attribute__((packed)) out = {0};
	struct ether_header frame = {0};
	guint8 buffer[2048];
	gssize length;

	if (packet < 0 || bind(packet, (struct sockaddr *)&address, sizeof(address)) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "packet socket: %s",
			    g_strerror(errno));
		return FALSE;
	}
	/* the bridge side sends: the frame comes out of the tap (what QEMU would read) */
	memset(frame.ether_dhost, 0xff, ETH_ALEN);
	memcpy(frame.ether_shost, frames->peer_mac, ETH_ALEN);
	frame.ether_type = htons(FRAME_ETHERTYPE);
	{
		guint8 bytes[sizeof(frame) + 32] = {0};
		memcpy(bytes, &frame, sizeof(frame));
		memcpy(bytes + sizeof(frame), "to-the-guest", 12);
		if (send(packet, bytes, sizeof(bytes), 0) < 0) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "send: %s",
				    g_strerror(errno));
			return FALSE;
		}
	}
	/* the tap has IFF_VNET_HDR: every frame starts with a virtio-net header */
	for (guint tries = 0; tries < 10 && !frames->to_guest; tries++) {
		length = read_with_timeout(frames->tap_fd, buffer, sizeof(buffer));
		if (length < 0)
			break;
		frames->to_guest =
			(gsize)length >= sizeof(struct virtio_net_hdr) + sizeof(frame) + 12 &&
			memmem(buffer, (gsize)length, "to-the-guest", 12) != NULL;
	}
	/* the guest sends: the frame comes out of the peer */
	memset(out.ether.ether_dhost, 0xff, ETH_ALEN);
	memcpy(out.ether.ether_shost, "\x02\xcc\x00\x00\x00\x07", ETH_ALEN);
	out.ether.ether_type = htons(FRAME_ETHERTYPE);
	memcpy(out.payload, "from-the-guest", 14);
	if (write(frames->tap_fd, &out, sizeof(out)) != (gssize)sizeof(out)) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "write tap: %s",
			    g_strerror(errno));
		return FALSE;
	}
	for (guint tries = 0; tries < 10 && !frames->from_guest; tries++) {
		length = read_with_timeout(packet, buffer, sizeof(buffer));
		if (length < 0)
			break;
		frames->from_guest = memmem(buffer, (gsize)length, "from-the-guest", 14) != NULL;
	}
	return TRUE;
}

/* ---- tests ---- */

static void
test_netns_open(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *file = NULL;
	int fd;

	if (!can_run())
		return;
	fd = cocoon_netns_open("/proc/self/ns/pid", &error);
	g_assert_cmpint(fd, <, 0);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	fd = cocoon_netns_open("/nonexistent/netns", &error);
	g_assert_cmpint(fd, <, 0);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	fd = cocoon_netns_open("/proc/self/ns/net", &error);
	g_assert_no_error(error);
	g_assert_cmpint(fd, >=, 0);
	close(fd);
}

/* CRI and ctr --with-ns: the namespace is there with its interface before Create */
static void
test_pod_path(void)
{
	g_autofree gchar *move_peer = NULL;
	const gchar *setup[] = {
		"link add eth0 mtu 1450 type veth peer name peer0",
		"link set eth0 up",
		NULL, /* peer0 to the bridge side */
		"addr add 10.77.0.2/24 dev eth0",
		"route add default via 10.77.0.1",
		"route add 192.168.50.0/24 dev eth0 src 10.77.0.2 metric 7",
		NULL,
	};
	const gchar *const peer_up[] = {"link set peer0 up", NULL};
	cocoon_autofd int bridge_side = -1;
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonPodNetwork) pod = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *eth0_mac = NULL;
	Cocoon__Agent__V1__SetupNetworkRequest *request;
	cocoon_autofd int netns = -1;
	CocoonNetInterface *eth0;
	CocoonNetInterface *tap;
	const gchar *id;
	const gchar *mac;
	int tap_fd;
	Look seen;
	Frames frames = {.peer = "peer0"};

	if (!can_run())
		return;
	netns = cocoon_netns_new(&error);
	g_assert_no_error(error);
	bridge_side = cocoon_netns_new(&error);
	g_assert_no_error(error);
	/* ip is a child: it reaches our fds through /proc/<our pid> */
	move_peer =
		g_strdup_printf("link set peer0 netns /proc/%d/fd/%d", (int)getpid(), bridge_side);
	setup[2] = move_peer;
	run_ip(netns, (const gchar *const *)setup);
	run_ip(bridge_side, peer_up);
	path = g_strdup_printf("/proc/self/fd/%d", netns);

	pod = cocoon_pod_network_new("test-path", COCOON_POD_NETNS_PATH, path, &error);
	g_assert_no_error(error);
	g_assert_true(cocoon_pod_network_prepare(pod, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(cocoon_pod_network_get_n_nics(pod), ==, 1);
	cocoon_pod_network_get_nic(pod, 0, &id, &mac, &tap_fd);
	g_assert_cmpstr(id, ==, "net0");
	g_assert_cmpint(tap_fd, >=, 0);

	seen = look(netns, 0);
	eth0 = find_name(seen.config, "eth0");
	tap = find_name(seen.config, "tap0_cocoon");
	g_assert_nonnull(eth0);
	g_assert_nonnull(tap);
	eth0_mac = cocoon_mac_to_string(eth0->mac);
	/* the guest device starts with the pod interface's MAC and MTU */
	g_assert_cmpstr(mac, ==, eth0_mac);
	g_assert_cmpstr(tap->kind, ==, "tun");
	g_assert_cmpuint(tap->mtu, ==, 1450);
	g_assert_true(tap->flags & IFF_UP);
	{
		gint eth0_index = eth0->ifindex;
		gint tap_index = tap->ifindex;
		Look at_eth0;
		Look at_tap;

		cocoon_net_config_free(seen.config);
		at_eth0 = look(netns, eth0_index);
		at_tap = look(netns, tap_index);
		g_assert_true(at_eth0.has_ingress);
		g_assert_cmpuint(at_eth0.n_filters, ==, 1);
		g_assert_cmpint(at_eth0.redirect_to, ==, tap_index);
		g_assert_true(at_tap.has_ingress);
		g_assert_cmpuint(at_tap.n_filters, ==, 1);
		g_assert_cmpint(at_tap.redirect_to, ==, eth0_index);
		cocoon_net_config_free(at_eth0.config);
		cocoon_net_config_free(at_tap.config);
	}

	/* frames both ways, the tap fd standing in for QEMU */
	{
		Look peer_look = look(bridge_side, 0);
		CocoonNetInterface *peer = find_name(peer_look.config, "peer0");
		g_assert_nonnull(peer);
		memcpy(frames.peer_mac, peer->mac, COCOON_MAC_LENGTH);
		cocoon_net_config_free(peer_look.config);
	}
	frames.tap_fd = tap_fd;
	g_assert_true(cocoon_netns_run(bridge_side, frames_in_netns, &frames, &error));
	g_assert_no_error(error);
	g_assert_true(frames.to_guest);
	g_assert_true(frames.from_guest);

	/* what the guest is told */
	request = cocoon_pod_network_take_request(pod, &error);
	g_assert_no_error(error);
	g_assert_nonnull(request);
	g_assert_cmpuint(request->n_interfaces, ==, 1);
	g_assert_cmpstr(request->interfaces[0]->name, ==, "eth0");
	g_assert_cmpstr(request->interfaces[0]->device_mac, ==, eth0_mac);
	g_assert_cmpstr(request->interfaces[0]->mac, ==, eth0_mac);
	g_assert_cmpuint(request->interfaces[0]->mtu, ==, 1450);
	g_assert_cmpuint(request->interfaces[0]->n_addresses, ==, 1);
	g_assert_cmpstr(request->interfaces[0]->addresses[0], ==, "10.77.0.2/24");
	g_assert_cmpuint(request->n_routes, ==, 2);
	g_assert_cmpstr(request->routes[0]->destination, ==, "192.168.50.0/24");
	g_assert_cmpstr(request->routes[0]->source, ==, "10.77.0.2");
	g_assert_cmpuint(request->routes[0]->metric, ==, 7);
	g_assert_cmpstr(request->routes[1]->destination, ==, "0.0.0.0/0");
	g_assert_cmpstr(request->routes[1]->gateway, ==, "10.77.0.1");
	protobuf_c_message_free_unpacked(&request->base, NULL);
	/* told once */
	g_assert_null(cocoon_pod_network_take_request(pod, &error));
	g_assert_no_error(error);
	/* nothing new in the namespace: nothing to wire */
	g_assert_true(cocoon_pod_network_sync(pod, &error));
	g_assert_no_error(error);
	g_assert_null(cocoon_pod_network_take_request(pod, &error));

	/* teardown: the namespace as CNI left it */
	cocoon_pod_network_teardown(pod);
	seen = look(netns, 0);
	g_assert_null(find_name(seen.config, "tap0_cocoon"));
	eth0 = find_name(seen.config, "eth0");
	g_assert_nonnull(eth0);
	{
		gint eth0_index = eth0->ifindex;
		Look at_eth0;

		cocoon_net_config_free(seen.config);
		at_eth0 = look(netns, eth0_index);
		g_assert_false(at_eth0.has_ingress);
		cocoon_net_config_free(at_eth0.config);
	}
}

/* ctr run --cni: a new namespace, the interface comes between Create and Start */
static void
test_pod_new_then_sync(void)
{
	/* what the CNI bridge plugin does; the other end lives on the bridge side */
	const gchar *cni[] = {
		NULL,
		"link set eth0 up",
		"addr add 10.78.0.9/16 dev eth0",
		NULL,
	};
	g_autofree gchar *add = NULL;
	cocoon_autofd int bridge_side = -1;
	cocoon_autofd int qemu_fd = -1;
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonPodNetwork) pod = NULL;
	g_autofree gchar *spare_mac = NULL;
	g_autofree gchar *eth0_mac = NULL;
	Cocoon__Agent__V1__SetupNetworkRequest *request;
	const gchar *id;
	const gchar *mac;
	int tap_fd;
	int netns;
	Look seen;

	if (!can_run())
		return;
	pod = cocoon_pod_network_new("test-new", COCOON_POD_NETNS_NEW, NULL, &error);
	g_assert_no_error(error);
	netns = cocoon_pod_network_get_netns_fd(pod);
	g_assert_true(cocoon_pod_network_prepare(pod, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(cocoon_pod_network_get_n_nics(pod), ==, 1);
	cocoon_pod_network_get_nic(pod, 0, &id, &mac, &tap_fd);
	/* a spare: locally administered unicast */
	g_assert_true(g_str_has_prefix(mac, "02:cc:"));
	spare_mac = g_strdup(mac);
	g_assert_null(cocoon_pod_network_take_request(pod, &error));
	g_assert_no_error(error);
	/* QEMU has the taps now (this dup stands in for it) */
	qemu_fd = dup(tap_fd);
	g_assert_cmpint(qemu_fd, >=, 0);
	cocoon_pod_network_release_taps(pod);
	cocoon_pod_network_get_nic(pod, 0, &id, &mac, &tap_fd);
	g_assert_cmpint(tap_fd, ==, -1);

	bridge_side = cocoon_netns_new(&error);
	g_assert_no_error(error);
	add = g_strdup_printf("link add eth0 type veth peer name peer0 netns /proc/%d/fd/%d",
			      (int)getpid(), bridge_side);
	cni[0] = add;
	run_ip(netns, (const gchar *const *)cni);
	g_assert_true(cocoon_pod_network_sync(pod, &error));
	g_assert_no_error(error);
	seen = look(netns, 0);
	eth0_mac = cocoon_mac_to_string(find_name(seen.config, "eth0")->mac);
	cocoon_net_config_free(seen.config);
	request = cocoon_pod_network_take_request(pod, &error);
	g_assert_no_error(error);
	g_assert_nonnull(request);
	g_assert_cmpuint(request->n_interfaces, ==, 1);
	/* found by the spare's MAC, takes the pod interface's */
	g_assert_cmpstr(request->interfaces[0]->device_mac, ==, spare_mac);
	g_assert_cmpstr(request->interfaces[0]->mac, ==, eth0_mac);
	g_assert_cmpstr(request->interfaces[0]->addresses[0], ==, "10.78.0.9/16");
	g_assert_cmpuint(request->n_routes, ==, 0);
	protobuf_c_message_free_unpacked(&request->base, NULL);

	/* QEMU exits: the tap goes with its last fd, the filters on eth0 go at teardown */
	cocoon_fd_closep(&qemu_fd);
	cocoon_pod_network_teardown(pod);
	seen = look(netns, 0);
	g_assert_null(find_name(seen.config, "tap0_cocoon"));
	{
		gint eth0_index = find_name(seen.config, "eth0")->ifindex;
		Look at_eth0;
		cocoon_net_config_free(seen.config);
		at_eth0 = look(netns, eth0_index);
		g_assert_false(at_eth0.has_ingress);
		cocoon_net_config_free(at_eth0.config);
	}
}

/* an ingress qdisc that was there before is not ours to delete; only our filter goes */
static gboolean
add_foreign_qdisc(gpointer user_data, GError **error)
{
	g_autoptr(CocoonNetlink) netlink = cocoon_netlink_open(error);
	g_autoptr(CocoonNetlinkMessage) message = NULL;

	if (netlink == NULL)
		return FALSE;
	message = cocoon_rtnl_ingress_qdisc_add((gint)if_nametoindex("eth0"));
	return cocoon_netlink_request(netlink, message, error);
}

static void
test_pod_foreign_qdisc(void)
{
	const gchar *setup[] = {
		NULL,
		"link set eth0 up",
		NULL,
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonPodNetwork) pod = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *add = NULL;
	cocoon_autofd int netns = -1;
	cocoon_autofd int bridge_side = -1;
	gint eth0_index;
	Look seen;

	if (!can_run())
		return;
	netns = cocoon_netns_new(&error);
	g_assert_no_error(error);
	bridge_side = cocoon_netns_new(&error);
	g_assert_no_error(error);
	add = g_strdup_printf("link add eth0 type veth peer name peer0 netns /proc/%d/fd/%d",
			      (int)getpid(), bridge_side);
	setup[0] = add;
	run_ip(netns, (const gchar *const *)setup);
	g_assert_true(cocoon_netns_run(netns, add_foreign_qdisc, NULL, &error));
	g_assert_no_error(error);
	path = g_strdup_printf("/proc/self/fd/%d", netns);
	pod = cocoon_pod_network_new("test-foreign", COCOON_POD_NETNS_PATH, path, &error);
	g_assert_no_error(error);
	g_assert_true(cocoon_pod_network_prepare(pod, &error));
	g_assert_no_error(error);
	seen = look(netns, 0);
	eth0_index = find_name(seen.config, "eth0")->ifindex;
	cocoon_net_config_free(seen.config);
	seen = look(netns, eth0_index);
	g_assert_cmpuint(seen.n_filters, ==, 1);
	cocoon_net_config_free(seen.config);

	g_clear_pointer(&pod, cocoon_pod_network_free);
	seen = look(netns, eth0_index);
	g_assert_true(seen.has_ingress);
	g_assert_cmpuint(seen.n_filters, ==, 0);
	cocoon_net_config_free(seen.config);
}

static void
test_pod_host_refused(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonPodNetwork) pod =
		cocoon_pod_network_new("test-host", COCOON_POD_NETNS_HOST, NULL, &error);

	g_assert_null(pod);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/network/netns/open", test_netns_open);
	g_test_add_func("/network/pod/path", test_pod_path);
	g_test_add_func("/network/pod/new-then-sync", test_pod_new_then_sync);
	g_test_add_func("/network/pod/foreign-qdisc", test_pod_foreign_qdisc);
	g_test_add_func("/network/pod/host-refused", test_pod_host_refused);
	return g_test_run();
}
