/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-network"

#include "config.h"

#include "cocoon-pod-network.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-net-config.h"
#include "cocoon-netlink.h"
#include "cocoon-netns.h"
#include "cocoon-rtnl.h"

#define TAP_NAME_FORMAT "tap%u_cocoon"

/* the names are short and bounded: kept in place */
typedef struct {
	gchar id[16];		  /* QEMU's netdev id */
	gchar tap_name[IFNAMSIZ]; /* in the pod's namespace */
	gint tap_ifindex;
	int tap_fd;
	guint8 mac[COCOON_MAC_LENGTH]; /* the guest device's, as QEMU creates it */
	gchar mac_text[sizeof("00:00:00:00:00:00")];
	gint pod_ifindex; /* the pod interface wired to it; 0 while spare */
	gchar pod_name[IFNAMSIZ];
	gboolean pod_qdisc_created; /* the ingress qdisc on the pod interface is ours */
	gboolean announced;	    /* the guest was told (SetupNetwork) */
} Nic;

struct _CocoonPodNetwork {
	gchar *sandbox_id;
	int netns_fd;
	GPtrArray *nics;	 /* Nic */
	CocoonNetConfig *config; /* the last look at the namespace */
	gboolean warned_no_spare;
};

static void
nic_free(Nic *nic)
{
	cocoon_fd_closep(&nic->tap_fd);
	g_free(nic);
}

/* ---- the spec ---- */

/**
 * cocoon_pod_network_parse_spec:
 * @spec: the OCI runtime spec
 *
 * Reads the network entry of linux.namespaces. Pure.
 */
gboolean
cocoon_pod_network_parse_spec(const CocoonJson *spec, CocoonPodNetnsKind *ret_kind,
			      gchar **ret_path, GError **error)
{
	CocoonJson *namespaces = cocoon_json_path_get(spec, "linux", "namespaces", NULL);
	const gchar *path = NULL;
	gboolean found = FALSE;

	if (namespaces != NULL && !cocoon_json_is_array(namespaces)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "linux.namespaces is not an array");
		return FALSE;
	}
	for (guint i = 0; namespaces != NULL && i < cocoon_json_array_get_length(namespaces); i++) {
		CocoonJson *entry = cocoon_json_array_get(namespaces, i);
		CocoonJson *path_node;

		if (!cocoon_json_is_object(entry) ||
		    g_strcmp0(cocoon_json_object_get_string_member(entry, "type"), "network") != 0)
			continue;
		if (found) {
			g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
					    "linux.namespaces has two network entries");
			return FALSE;
		}
		found = TRUE;
		path_node = cocoon_json_object_get(entry, "path");
		if (path_node != NULL && !cocoon_json_is_string(path_node)) {
			g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
					    "the network namespace path is not a string");
			return FALSE;
		}
		path = path_node != NULL ? cocoon_json_get_string(path_node) : NULL;
		if (path != NULL && path[0] != '\0' && !g_path_is_absolute(path)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "the network namespace path %s is not absolute", path);
			return FALSE;
		}
	}
	if (!found)
		*ret_kind = COCOON_POD_NETNS_HOST;
	else if (path == NULL || path[0] == '\0')
		*ret_kind = COCOON_POD_NETNS_NEW;
	else
		*ret_kind = COCOON_POD_NETNS_PATH;
	if (ret_path != NULL)
		*ret_path = *ret_kind == COCOON_POD_NETNS_PATH ? g_strdup(path) : NULL;
	return TRUE;
}

/* ---- inside the namespace ---- */

static gboolean
scan(CocoonPodNetwork *network, CocoonNetlink *netlink, GError **error)
{
	g_autoptr(CocoonNetConfig) config = cocoon_net_config_new();
	g_autoptr(GPtrArray) links = NULL;
	g_autoptr(GPtrArray) addresses = NULL;
	g_autoptr(GPtrArray) routes = NULL;
	GPtrArray *all[3];

	{
		g_autoptr(CocoonNetlinkMessage) request = cocoon_rtnl_dump_links();
		links = cocoon_netlink_dump(netlink, request, error);
	}
	if (links != NULL) {
		g_autoptr(CocoonNetlinkMessage) request = cocoon_rtnl_dump_addresses(AF_INET);
		addresses = cocoon_netlink_dump(netlink, request, error);
	}
	if (addresses != NULL) {
		g_autoptr(CocoonNetlinkMessage) request = cocoon_rtnl_dump_routes(AF_INET);
		routes = cocoon_netlink_dump(netlink, request, error);
	}
	if (routes == NULL)
		return FALSE;
	all[0] = links;
	all[1] = addresses;
	all[2] = routes;
	for (guint i = 0; i < G_N_ELEMENTS(all); i++) {
		for (guint j = 0; j < all[i]->len; j++) {
			GBytes *bytes = g_ptr_array_index(all[i], j);
			if (!cocoon_net_config_add_message(config, g_bytes_get_data(bytes, NULL),
							   error))
				return FALSE;
		}
	}
	cocoon_net_config_free(network->config);
	network->config = g_steal_pointer(&config);
	return TRUE;
}

static gboolean
is_errno(const GError *error, int code)
{
	return g_error_matches(error, COCOON_NETLINK_ERROR, code);
}

/* an ingress qdisc on ifindex; ret_created FALSE when one was there already (not ours) */
static gboolean
ingress_qdisc_add(CocoonNetlink *netlink, gint ifindex, gboolean *ret_created, GError **error)
{
	g_autoptr(GError) local_error = NULL;

	if (cocoon_netlink_request_take(netlink, cocoon_rtnl_ingress_qdisc_add(ifindex),
					&local_error)) {
		*ret_created = TRUE;
		return TRUE;
	}
	if (is_errno(local_error, EEXIST)) {
		*ret_created = FALSE;
		return TRUE;
	}
	g_propagate_error(error, g_steal_pointer(&local_error));
	return FALSE;
}

static gboolean
tap_create(CocoonPodNetwork *network, Nic *nic, GError **error)
{
	struct ifreq ifr = {0};
	cocoon_autofd int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		cocoon_set_error_from_errno(error, "open /dev/net/tun");
		return FALSE;
	}
	g_strlcpy(ifr.ifr_name, nic->tap_name, sizeof(ifr.ifr_name));
	/* what QEMU's -netdev tap,fd= expects: Ethernet frames, no packet info, virtio-net headers
	 */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		cocoon_set_error_from_errno(error, "create tap %s", nic->tap_name);
		return FALSE;
	}
	nic->tap_ifindex = (gint)if_nametoindex(nic->tap_name);
	if (nic->tap_ifindex <= 0) {
		cocoon_set_error_from_errno(error, "tap %s", nic->tap_name);
		return FALSE;
	}
	nic->tap_fd = cocoon_steal_fd(&fd);
	g_debug("sandbox %s: tap %s (ifindex %d) for %s", network->sandbox_id, nic->tap_name,
		nic->tap_ifindex, nic->id);
	return TRUE;
}

/* redirects both ways between the pod interface and the NIC's tap */
static gboolean
wire(CocoonPodNetwork *network, CocoonNetlink *netlink, Nic *nic, const CocoonNetInterface *iface,
     GError **error)
{
	CocoonRtnlLinkChange change = COCOON_RTNL_LINK_CHANGE_INIT;
	gboolean created = FALSE;

	change.mtu = iface->mtu;
	change.up = 1;
	if (!cocoon_netlink_request_take(netlink,
					 cocoon_rtnl_link_change(nic->tap_ifindex, &change), error))
		return FALSE;
	if (!ingress_qdisc_add(netlink, iface->ifindex, &created, error))
		return FALSE;
	/* from here on teardown has something to undo */
	nic->pod_ifindex = iface->ifindex;
	g_strlcpy(nic->pod_name, iface->name, sizeof(nic->pod_name));
	nic->pod_qdisc_created = created;
	if (!cocoon_netlink_request_take(
		    netlink,
		    cocoon_rtnl_redirect_filter_add(iface->ifindex, COCOON_RTNL_FILTER_PRIORITY,
						    nic->tap_ifindex),
		    error) ||
	    !ingress_qdisc_add(netlink, nic->tap_ifindex, &created, error) ||
	    !cocoon_netlink_request_take(
		    netlink,
		    cocoon_rtnl_redirect_filter_add(nic->tap_ifindex, COCOON_RTNL_FILTER_PRIORITY,
						    iface->ifindex),
		    error)) {
		g_prefix_error(error, "tc redirect %s <-> %s: ", iface->name, nic->tap_name);
		return FALSE;
	}
	g_info("sandbox %s: %s wired to %s (%s, mtu %u)", network->sandbox_id, iface->name,
	       nic->tap_name, nic->id, iface->mtu);
	return TRUE;
}

static gboolean
is_wired(CocoonPodNetwork *network, gint ifindex)
{
	for (guint i = 0; i < network->nics->len; i++) {
		Nic *nic = g_ptr_array_index(network->nics, i);
		if (nic->pod_ifindex == ifindex || nic->tap_ifindex == ifindex)
			return TRUE;
	}
	return FALSE;
}

static Nic *
nic_new(CocoonPodNetwork *network, const CocoonNetInterface *iface)
{
	Nic *nic = g_new0(Nic, 1);
	guint index = network->nics->len;

	nic->tap_fd = -1;
	g_snprintf(nic->id, sizeof(nic->id), "net%u", index);
	g_snprintf(nic->tap_name, sizeof(nic->tap_name), TAP_NAME_FORMAT, index);
	if (iface != NULL) {
		/* the guest device starts with the pod interface's MAC: nothing to change later */
		memcpy(nic->mac, iface->mac, COCOON_MAC_LENGTH);
	} else {
		/* a spare: locally administered, unicast, stable for the sandbox */
		guint32 hash = g_str_hash(network->sandbox_id);
		const guint8 mac[COCOON_MAC_LENGTH] = {0x02,
						       0xcc,
						       (guint8)(hash >> 24),
						       (guint8)(hash >> 16),
						       (guint8)(hash >> 8),
						       (guint8)(hash + index)};
		memcpy(nic->mac, mac, COCOON_MAC_LENGTH);
	}
	{
		g_autofree gchar *mac_text = cocoon_mac_to_string(nic->mac);
		g_strlcpy(nic->mac_text, mac_text, sizeof(nic->mac_text));
	}
	g_ptr_array_add(network->nics, nic);
	return nic;
}

static gboolean
prepare_in_netns(gpointer user_data, GError **error)
{
	CocoonPodNetwork *network = user_data;
	g_autoptr(CocoonNetlink) netlink = cocoon_netlink_open(error);
	g_autoptr(GPtrArray) wirable = g_ptr_array_new();

	if (netlink == NULL || !scan(network, netlink, error))
		return FALSE;
	for (guint i = 0; i < network->config->interfaces->len; i++) {
		CocoonNetInterface *iface = g_ptr_array_index(network->config->interfaces, i);
		if (!cocoon_net_interface_is_wirable(iface))
			continue;
		if (wirable->len == COCOON_POD_NICS_MAX) {
			g_warning("sandbox %s: more than %u pod interfaces, %s is not wired",
				  network->sandbox_id, COCOON_POD_NICS_MAX, iface->name);
			continue;
		}
		g_ptr_array_add(wirable, iface);
	}
	if (wirable->len == 0) {
		Nic *nic = nic_new(network, NULL);
		g_debug("sandbox %s: no pod interface yet, %s is a spare", network->sandbox_id,
			nic->id);
		return tap_create(network, nic, error);
	}
	for (guint i = 0; i < wirable->len; i++) {
		CocoonNetInterface *iface = g_ptr_array_index(wirable, i);
		Nic *nic = nic_new(network, iface);
		if (!tap_create(network, nic, error) || !wire(network, netlink, nic, iface, error))
			return FALSE;
	}
	return TRUE;
}

static Nic *
find_spare(CocoonPodNetwork *network)
{
	for (guint i = 0; i < network->nics->len; i++) {
		Nic *nic = g_ptr_array_index(network->nics, i);
		if (nic->pod_ifindex == 0)
			return nic;
	}
	return NULL;
}

static gboolean
sync_in_netns(gpointer user_data, GError **error)
{
	CocoonPodNetwork *network = user_data;
	g_autoptr(CocoonNetlink) netlink = cocoon_netlink_open(error);

	if (netlink == NULL || !scan(network, netlink, error))
		return FALSE;
	for (guint i = 0; i < network->config->interfaces->len; i++) {
		CocoonNetInterface *iface = g_ptr_array_index(network->config->interfaces, i);
		Nic *spare;

		if (!cocoon_net_interface_is_wirable(iface) || is_wired(network, iface->ifindex))
			continue;
		spare = find_spare(network);
		if (spare == NULL) {
			if (!network->warned_no_spare)
				g_warning(
					"sandbox %s: %s appeared after the VM booted and no spare "
					"NIC is left: it is not wired into the VM",
					network->sandbox_id, iface->name);
			network->warned_no_spare = TRUE;
			continue;
		}
		if (!wire(network, netlink, spare, iface, error))
			return FALSE;
	}
	return TRUE;
}

/* the tap named name, if it is still there and still a tap */
static gint
find_tap(CocoonNetlink *netlink, const gchar *name)
{
	g_autoptr(CocoonNetlinkMessage) message = cocoon_rtnl_dump_links();
	g_autoptr(GPtrArray) links = cocoon_netlink_dump(netlink, message, NULL);
	g_autoptr(CocoonNetConfig) config = cocoon_net_config_new();

	for (guint i = 0; links != NULL && i < links->len; i++) {
		GBytes *bytes = g_ptr_array_index(links, i);
		if (!cocoon_net_config_add_message(config, g_bytes_get_data(bytes, NULL), NULL))
			return 0;
	}
	for (guint i = 0; i < config->interfaces->len; i++) {
		CocoonNetInterface *iface = g_ptr_array_index(config->interfaces, i);
		if (g_strcmp0(iface->name, name) == 0 && g_strcmp0(iface->kind, "tun") == 0)
			return iface->ifindex;
	}
	return 0;
}

/* a device that is already gone took its filters and qdiscs with it */
static void
undo(CocoonPodNetwork *network, CocoonNetlink *netlink, CocoonNetlinkMessage *message,
     const gchar *what, const gchar *name)
{
	g_autoptr(GError) error = NULL;

	if (cocoon_netlink_request_take(netlink, message, &error) || is_errno(error, ENODEV) ||
	    is_errno(error, ENOENT) || is_errno(error, EINVAL))
		return;
	g_warning("sandbox %s: teardown: %s on %s: %s", network->sandbox_id, what, name,
		  error->message);
}

static gboolean
teardown_in_netns(gpointer user_data, GError **error)
{
	CocoonPodNetwork *network = user_data;
	g_autoptr(CocoonNetlink) netlink = cocoon_netlink_open(error);

	if (netlink == NULL)
		return FALSE;
	for (guint i = 0; i < network->nics->len; i++) {
		Nic *nic = g_ptr_array_index(network->nics, i);
		gint tap;

		if (nic->pod_ifindex > 0) {
			undo(network, netlink,
			     cocoon_rtnl_filter_delete(nic->pod_ifindex,
						       COCOON_RTNL_FILTER_PRIORITY),
			     "delete the redirect filter", nic->pod_name);
			if (nic->pod_qdisc_created)
				undo(network, netlink,
				     cocoon_rtnl_ingress_qdisc_delete(nic->pod_ifindex),
				     "delete the ingress qdisc", nic->pod_name);
			nic->pod_ifindex = 0;
			nic->pod_qdisc_created = FALSE;
		}
		/* a tap nobody holds is gone already; one the shim still held is deleted here */
		tap = find_tap(netlink, nic->tap_name);
		if (tap > 0)
			undo(network, netlink, cocoon_rtnl_link_delete(tap), "delete the tap",
			     nic->tap_name);
	}
	return TRUE;
}

/* ---- public ---- */

/**
 * cocoon_pod_network_new:
 * @path: the namespace file for COCOON_POD_NETNS_PATH
 *
 * Returns: (transfer full): the pod's network, nothing wired yet
 */
CocoonPodNetwork *
cocoon_pod_network_new(const gchar *sandbox_id, CocoonPodNetnsKind kind, const gchar *path,
		       GError **error)
{
	g_autoptr(CocoonPodNetwork) network = g_new0(CocoonPodNetwork, 1);

	network->sandbox_id = g_strdup(sandbox_id);
	network->netns_fd = -1;
	network->nics = g_ptr_array_new_with_free_func((GDestroyNotify)nic_free);
	switch (kind) {
	case COCOON_POD_NETNS_PATH:
		network->netns_fd = cocoon_netns_open(path, error);
		break;
	case COCOON_POD_NETNS_NEW:
		network->netns_fd = cocoon_netns_new(error);
		break;
	case COCOON_POD_NETNS_HOST:
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
				    "the host's network namespace cannot be given to a VM");
		break;
	}
	if (network->netns_fd < 0)
		return NULL;
	return g_steal_pointer(&network);
}

void
cocoon_pod_network_free(CocoonPodNetwork *network)
{
	if (network == NULL)
		return;
	if (network->netns_fd >= 0 && network->nics->len > 0)
		cocoon_pod_network_teardown(network);
	g_ptr_array_unref(network->nics);
	cocoon_net_config_free(network->config);
	cocoon_fd_closep(&network->netns_fd);
	g_free(network->sandbox_id);
	g_free(network);
}

int
cocoon_pod_network_get_netns_fd(CocoonPodNetwork *network)
{
	return network->netns_fd;
}

gboolean
cocoon_pod_network_prepare(CocoonPodNetwork *network, GError **error)
{
	g_return_val_if_fail(network->nics->len == 0, FALSE);
	if (!cocoon_netns_run(network->netns_fd, prepare_in_netns, network, error)) {
		g_prefix_error(error, "pod network: ");
		return FALSE;
	}
	return TRUE;
}

guint
cocoon_pod_network_get_n_nics(CocoonPodNetwork *network)
{
	return network->nics->len;
}

void
cocoon_pod_network_get_nic(CocoonPodNetwork *network, guint index, const gchar **ret_id,
			   const gchar **ret_mac, int *ret_tap_fd)
{
	Nic *nic;

	g_return_if_fail(index < network->nics->len);
	nic = g_ptr_array_index(network->nics, index);
	*ret_id = nic->id;
	*ret_mac = nic->mac_text;
	*ret_tap_fd = nic->tap_fd;
}

void
cocoon_pod_network_release_taps(CocoonPodNetwork *network)
{
	for (guint i = 0; i < network->nics->len; i++) {
		Nic *nic = g_ptr_array_index(network->nics, i);
		cocoon_fd_closep(&nic->tap_fd);
	}
}

gboolean
cocoon_pod_network_sync(CocoonPodNetwork *network, GError **error)
{
	if (!cocoon_netns_run(network->netns_fd, sync_in_netns, network, error)) {
		g_prefix_error(error, "pod network: ");
		return FALSE;
	}
	return TRUE;
}

Cocoon__Agent__V1__SetupNetworkRequest *
cocoon_pod_network_take_request(CocoonPodNetwork *network, GError **error)
{
	g_autoptr(GArray) wirings = g_array_new(FALSE, TRUE, sizeof(CocoonNetWiring));
	Cocoon__Agent__V1__SetupNetworkRequest *result;

	for (guint i = 0; i < network->nics->len; i++) {
		Nic *nic = g_ptr_array_index(network->nics, i);
		CocoonNetWiring wiring = {.ifindex = nic->pod_ifindex, .nic_mac = nic->mac_text};
		if (nic->pod_ifindex > 0 && !nic->announced)
			g_array_append_val(wirings, wiring);
	}
	if (wirings->len == 0 || network->config == NULL)
		return NULL;
	result = cocoon_net_config_to_request(network->config, (CocoonNetWiring *)wirings->data,
					      wirings->len, error);
	if (result == NULL)
		return NULL;
	for (guint i = 0; i < network->nics->len; i++) {
		Nic *nic = g_ptr_array_index(network->nics, i);
		if (nic->pod_ifindex > 0)
			nic->announced = TRUE;
	}
	return result;
}

void
cocoon_pod_network_teardown(CocoonPodNetwork *network)
{
	g_autoptr(GError) error = NULL;

	cocoon_pod_network_release_taps(network);
	if (!cocoon_netns_run(network->netns_fd, teardown_in_netns, network, &error))
		g_warning("sandbox %s: pod network teardown: %s", network->sandbox_id,
			  error->message);
	g_ptr_array_set_size(network->nics, 0);
}
