/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-sandbox-network.h"

#include <gio/gio.h>

#include "agent.pb-c.h"
#include "cocoon-agent-client.h"
#include "cocoon-json.h"
#include "cocoon-pod-network.h"
#include "cocoon-sandbox-private.h"
#include "google/protobuf/empty.pb-c.h"

typedef struct {
	CocoonPodNetwork *pod; /* NULL before the first Create and after teardown */
	GPid qemu_pid;	       /* 0 while the VM is not running */
} SandboxNetwork;

gpointer *cocoon_sandbox_network_slot(CocoonSandbox *sandbox);

static SandboxNetwork *
sandbox_network(CocoonSandbox *sandbox)
{
	gpointer *slot = cocoon_sandbox_network_slot(sandbox);

	if (*slot == NULL)
		*slot = g_new0(SandboxNetwork, 1);
	return *slot;
}

gboolean
cocoon_sandbox_network_create(CocoonSandbox *sandbox, const gchar *spec_json, gsize spec_length,
			      GError **error)
{
	SandboxNetwork *network = sandbox_network(sandbox);
	g_autoptr(CocoonJson) spec = cocoon_json_parse(spec_json, spec_length, NULL);
	g_autoptr(CocoonPodNetwork) pod = NULL;
	g_autoptr(GError) local_error = NULL;
	g_autofree gchar *path = NULL;
	CocoonPodNetnsKind kind;

	/* a spec that does not parse is someone else's error to report */
	if (spec == NULL)
		return TRUE;
	if (!cocoon_pod_network_parse_spec(spec, &kind, &path, &local_error)) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT,
			    "%s: invalid argument", local_error->message);
		return FALSE;
	}
	if (kind == COCOON_POD_NETNS_HOST) {
		g_set_error_literal(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT,
				    "cocoon runs every pod in a VM; host networking (--net-host) "
				    "cannot be shared with a VM: the spec has no network namespace "
				    "in linux.namespaces (run the pod with a network namespace, "
				    "e.g. ctr run --cni, or CRI without hostNetwork)");
		return FALSE;
	}
	/* the pod's network is the first container's; the others share the VM's */
	if (network->pod != NULL || cocoon_sandbox_vm_is_running(sandbox))
		return TRUE;
	pod = cocoon_pod_network_new(cocoon_sandbox_get_id(sandbox), kind, path, error);
	if (pod == NULL || !cocoon_pod_network_prepare(pod, error)) {
		g_prefix_error(error, "sandbox %s: %s%s: ", cocoon_sandbox_get_id(sandbox),
			       kind == COCOON_POD_NETNS_PATH ? "network namespace " : "",
			       kind == COCOON_POD_NETNS_PATH ? path : "a new network namespace");
		return FALSE;
	}
	g_info("sandbox %s: network namespace %s, %u NIC(s)", cocoon_sandbox_get_id(sandbox),
	       kind == COCOON_POD_NETNS_PATH ? path : "(new)", cocoon_pod_network_get_n_nics(pod));
	network->pod = g_steal_pointer(&pod);
	return TRUE;
}

void
cocoon_sandbox_network_fill_vm_config(CocoonSandbox *sandbox, CocoonVmConfig *vm_config)
{
	SandboxNetwork *network = sandbox_network(sandbox);

	if (network->pod == NULL)
		return;
	vm_config->netns_fd = cocoon_pod_network_get_netns_fd(network->pod);
	for (guint i = 0; i < cocoon_pod_network_get_n_nics(network->pod); i++) {
		const gchar *id;
		const gchar *mac;
		int tap_fd;

		cocoon_pod_network_get_nic(network->pod, i, &id, &mac, &tap_fd);
		cocoon_vm_config_add_nic(vm_config, id, mac, tap_fd);
	}
}

/* the interfaces the guest has not heard of yet, if any */
static gboolean
announce(CocoonSandbox *sandbox, SandboxNetwork *network, GError **error)
{
	g_autoptr(GError) local_error = NULL;
	CocoonAgentClient *agent = cocoon_sandbox_get_agent(sandbox);
	Cocoon__Agent__V1__SetupNetworkRequest *request =
		cocoon_pod_network_take_request(network->pod, &local_error);
	ProtobufCMessage *response;

	if (request == NULL) {
		if (local_error == NULL)
			return TRUE;
		g_propagate_error(error, g_steal_pointer(&local_error));
		return FALSE;
	}
	for (gsize i = 0; i < request->n_interfaces; i++)
		g_info("sandbox %s: guest %s (%s) with %zu address(es), %zu route(s) in all",
		       cocoon_sandbox_get_id(sandbox), request->interfaces[i]->name,
		       request->interfaces[i]->mac, request->interfaces[i]->n_addresses,
		       request->n_routes);
	if (agent == NULL) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
			    "agent SetupNetwork: the VM is not running: unavailable");
		protobuf_c_message_free_unpacked(&request->base, NULL);
		return FALSE;
	}
	response = cocoon_ttrpc_client_call_message(
		cocoon_agent_client_get_ttrpc(agent), COCOON_AGENT_SERVICE, "SetupNetwork",
		&request->base, &google__protobuf__empty__descriptor,
		cocoon_agent_client_get_default_timeout(agent), NULL, error);
	protobuf_c_message_free_unpacked(&request->base, NULL);
	if (response == NULL) {
		g_prefix_error(error, "agent SetupNetwork: ");
		return FALSE;
	}
	protobuf_c_message_free_unpacked(response, NULL);
	return TRUE;
}

gboolean
cocoon_sandbox_network_vm_started(CocoonSandbox *sandbox, GPid qemu_pid, GError **error)
{
	SandboxNetwork *network = sandbox_network(sandbox);

	network->qemu_pid = qemu_pid;
	if (network->pod == NULL)
		return TRUE;
	cocoon_pod_network_release_taps(network->pod);
	return cocoon_sandbox_network_sync(sandbox, error);
}

gboolean
cocoon_sandbox_network_sync(CocoonSandbox *sandbox, GError **error)
{
	SandboxNetwork *network = sandbox_network(sandbox);

	if (network->pod == NULL || network->qemu_pid == 0)
		return TRUE;
	if (!cocoon_pod_network_sync(network->pod, error) || !announce(sandbox, network, error)) {
		g_prefix_error(error, "sandbox %s: ", cocoon_sandbox_get_id(sandbox));
		return FALSE;
	}
	return TRUE;
}

guint32
cocoon_sandbox_network_task_pid(CocoonSandbox *sandbox, guint32 guest_pid)
{
	SandboxNetwork *network = sandbox_network(sandbox);

	return network->qemu_pid > 0 ? (guint32)network->qemu_pid : guest_pid;
}

void
cocoon_sandbox_network_teardown(CocoonSandbox *sandbox)
{
	SandboxNetwork *network = sandbox_network(sandbox);

	network->qemu_pid = 0;
	if (network->pod == NULL)
		return;
	g_clear_pointer(&network->pod, cocoon_pod_network_free);
	g_info("sandbox %s: pod network torn down", cocoon_sandbox_get_id(sandbox));
}

void
cocoon_sandbox_network_free(CocoonSandbox *sandbox)
{
	gpointer *slot = cocoon_sandbox_network_slot(sandbox);

	if (*slot == NULL)
		return;
	cocoon_sandbox_network_teardown(sandbox);
	g_clear_pointer(slot, g_free);
}
