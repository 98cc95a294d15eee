/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-pod-vm.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "agent.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-host-cgroup.h"
#include "cocoon-hypervisor.h"
#include "cocoon-json.h"
#include "cocoon-pidfd.h"
#include "cocoon-pod-network.h"
#include "cocoon-qemu.h"
#include "cocoon-stdio-mux.h"
#include "cocoon-ttrpc-client.h"
#include "cocoon-unix.h"
#include "cocoon-vm-config.h"

#define VM_STOP_TIMEOUT_MS 5000
/* a guest that stopped answering gets no Shutdown and little time: QMP quit, then SIGKILL */
#define VM_ABORT_TIMEOUT_MS 1000

typedef struct {
	CocoonPodNetwork *pod; /* NULL before the first Create and after teardown */
	GPid qemu_pid;	       /* 0 while the VM is not running */
} PodVmNetwork;

/* owned by the worker, except mux which the I/O side reads under lock */
struct _CocoonPodVm {
	CocoonConfig *config; /* borrowed */
	gchar *sandbox_id;
	gchar *state_dir;
	gchar *shared_dir;
	GMainContext *context;
	GMainContext *main_context;
	CocoonPodVmCallbacks callbacks;
	CocoonHypervisor *hypervisor;
	CocoonAgentClient *agent;
	GMutex mux_lock;
	CocoonStdioMux *mux;
	PodVmNetwork network;
	gboolean stopping;
	gboolean failed;
	gint64 boot_ms;
	gint64 booted_at_us;
	guint vcpus;
	guint memory_mib;
	/* the sandbox container's linux.cgroupsPath, and the cgroup QEMU and virtiofsd joined */
	gchar *host_cgroup_path;
	CocoonHostCgroup *host_cgroup;
};

/* ---------------------------------------------------------------- network */

static gboolean
network_create(PodVmNetwork *network, const gchar *sandbox_id, gboolean vm_running,
	       const gchar *spec_json, gsize spec_length, GError **error)
{
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
	if (network->pod != NULL || vm_running)
		return TRUE;
	pod = cocoon_pod_network_new(sandbox_id, kind, path, error);
	if (pod == NULL || !cocoon_pod_network_prepare(pod, error)) {
		g_prefix_error(error, "sandbox %s: %s%s: ", sandbox_id,
			       kind == COCOON_POD_NETNS_PATH ? "network namespace " : "",
			       kind == COCOON_POD_NETNS_PATH ? path : "a new network namespace");
		return FALSE;
	}
	g_info("sandbox %s: network namespace %s, %u NIC(s)", sandbox_id,
	       kind == COCOON_POD_NETNS_PATH ? path : "(new)", cocoon_pod_network_get_n_nics(pod));
	network->pod = g_steal_pointer(&pod);
	return TRUE;
}

static void
network_fill_vm_config(PodVmNetwork *network, CocoonVmConfig *vm_config)
{
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
network_announce(PodVmNetwork *network, const gchar *sandbox_id, CocoonAgentClient *agent,
		 GError **error)
{
	g_autoptr(GError) local_error = NULL;
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
		       sandbox_id, request->interfaces[i]->name, request->interfaces[i]->mac,
		       request->interfaces[i]->n_addresses, request->n_routes);
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

static gboolean
network_sync(PodVmNetwork *network, const gchar *sandbox_id, CocoonAgentClient *agent,
	     GError **error)
{
	if (network->pod == NULL || network->qemu_pid == 0)
		return TRUE;
	if (!cocoon_pod_network_sync(network->pod, error) ||
	    !network_announce(network, sandbox_id, agent, error)) {
		g_prefix_error(error, "sandbox %s: ", sandbox_id);
		return FALSE;
	}
	return TRUE;
}

/* QEMU runs and the agent answers: the taps are QEMU's now, the guest gets its interfaces */
static gboolean
network_vm_started(PodVmNetwork *network, const gchar *sandbox_id, CocoonAgentClient *agent,
		   GPid qemu_pid, GError **error)
{
	network->qemu_pid = qemu_pid;
	if (network->pod == NULL)
		return TRUE;
	cocoon_pod_network_release_taps(network->pod);
	return network_sync(network, sandbox_id, agent, error);
}

static void
network_teardown(PodVmNetwork *network, const gchar *sandbox_id)
{
	network->qemu_pid = 0;
	if (network->pod == NULL)
		return;
	g_clear_pointer(&network->pod, cocoon_pod_network_free);
	g_info("sandbox %s: pod network torn down", sandbox_id);
}

/* ---------------------------------------------------------------- VM */

static gchar *
vm_console_tail(guint lines, gpointer user_data)
{
	CocoonPodVm *vm = user_data;
	return vm->hypervisor != NULL ? cocoon_hypervisor_console_tail(vm->hypervisor, lines)
				      : NULL;
}

static void
vm_died(CocoonHypervisor *hypervisor, const gchar *reason, gpointer user_data)
{
	CocoonPodVm *vm = user_data;
	if (vm->stopping)
		return;
	g_warning("sandbox %s: QEMU exited unexpectedly: %s", vm->sandbox_id, reason);
	vm->failed = TRUE;
	vm->callbacks.died(vm->callbacks.user_data);
}

typedef struct {
	GCancellable *cancellable;
	CocoonPidfd *pidfd;
} BootWatch;

static void
boot_watch_free(gpointer data)
{
	BootWatch *watch = data;
	g_object_unref(watch->cancellable);
	cocoon_pidfd_free(watch->pidfd);
	g_free(watch);
}

static gboolean
boot_watch_qemu_exited(gint fd, GIOCondition condition, gpointer data)
{
	BootWatch *watch = data;
	g_cancellable_cancel(watch->cancellable);
	return G_SOURCE_REMOVE;
}

/*
 * the worker is blocked in the boot wait, so QEMU's died callback cannot run on it: a watch on
 * QEMU's pidfd on the main context cancels the wait instead of letting it run into the boot timeout
 * (without pidfd_open(2) there is no watch: the boot timeout ends the wait)
 */
static GSource *
boot_watch_new(CocoonPodVm *vm, GPid pid, GCancellable *cancellable)
{
	g_autoptr(CocoonPidfd) pidfd = cocoon_pidfd_open(pid, NULL);
	BootWatch *watch;
	GSource *source = pidfd != NULL ? cocoon_pidfd_source_new(pidfd) : NULL;

	if (source == NULL)
		return NULL;
	watch = g_new0(BootWatch, 1);
	watch->cancellable = g_object_ref(cancellable);
	watch->pidfd = g_steal_pointer(&pidfd);
	g_source_set_callback(source, G_SOURCE_FUNC(boot_watch_qemu_exited), watch,
			      boot_watch_free);
	g_source_attach(source, vm->main_context);
	return source;
}

/**
 * cocoon_pod_vm_config_new:
 *
 * The VM a pod gets from config (its hypervisor.* keys): for sandbox_id, its files in state_dir,
 * the 9p share at shared_dir. Without the pod's network.
 */
CocoonVmConfig *
cocoon_pod_vm_config_new(const CocoonConfig *config, const gchar *sandbox_id,
			 const gchar *state_dir, const gchar *shared_dir)
{
	CocoonVmConfig *vm_config = cocoon_vm_config_new();

	vm_config->sandbox_id = g_strdup(sandbox_id);
	vm_config->state_dir = g_strdup(state_dir);
	/* replace the defaults of cocoon_vm_config_new() */
	g_free(vm_config->qemu_binary);
	vm_config->qemu_binary = g_strdup(config->qemu_binary);
	g_free(vm_config->machine);
	vm_config->machine = g_strdup(config->machine);
	vm_config->accel = cocoon_accel_from_string(config->accel);
	vm_config->vcpus = config->vcpus;
	vm_config->memory_mib = config->memory_mib;
	vm_config->kernel = g_strdup(config->kernel);
	vm_config->initrd = g_strdup(config->initrd);
	vm_config->kernel_params = g_strdup(config->kernel_params);
	/* the config loader allows "9p" and "virtio-fs" only */
	vm_config->shared_fs = g_strcmp0(config->shared_fs, "virtio-fs") == 0
				       ? COCOON_SHARED_FS_VIRTIO_FS
				       : COCOON_SHARED_FS_9P;
	vm_config->shared_dir = g_strdup(shared_dir);
	g_free(vm_config->virtiofsd);
	vm_config->virtiofsd = g_strdup(config->virtiofsd);
	vm_config->extra_args = g_strdupv(config->extra_args);
	vm_config->debug = config->debug_console;
	vm_config->console_log_max_kib = config->console_log_max_kib;
	vm_config->confine = config->confine;
	vm_config->uid_base = config->uid_base;
	vm_config->uid_count = config->uid_count;
	vm_config->jail_expose = g_strdupv(config->confine_expose);
	return vm_config;
}

/* QEMU and virtiofsd join the pod's host cgroup (runtime.host_cgroup) */
static gboolean
vm_join_host_cgroup(CocoonPodVm *vm, GError **error)
{
	g_auto(GStrv) hierarchies = NULL;
	GPid pids[2];

	if (!vm->config->host_cgroup || vm->host_cgroup_path == NULL)
		return TRUE;
	hierarchies = cocoon_host_cgroup_hierarchies(error);
	if (hierarchies == NULL)
		return FALSE;
	vm->host_cgroup = cocoon_host_cgroup_new((const gchar *const *)hierarchies,
						 vm->host_cgroup_path, error);
	if (vm->host_cgroup == NULL)
		return FALSE;
	pids[0] = cocoon_hypervisor_get_virtiofsd_pid(vm->hypervisor);
	pids[1] = cocoon_hypervisor_get_pid(vm->hypervisor);
	for (guint i = 0; i < G_N_ELEMENTS(pids); i++) {
		if (pids[i] > 0 && !cocoon_host_cgroup_add_process(vm->host_cgroup, pids[i], error))
			return FALSE;
	}
	g_debug("sandbox %s: QEMU and virtiofsd in the host cgroup %s", vm->sandbox_id,
		cocoon_host_cgroup_get_path(vm->host_cgroup));
	return TRUE;
}

static gboolean
vm_boot(CocoonPodVm *vm, GError **error)
{
	CocoonConfig *config = vm->config;
	const gchar *state_dir = vm->state_dir;
	g_autoptr(CocoonVmConfig) vm_config = NULL;
	gint64 started = g_get_monotonic_time();
	cocoon_autofd int stdio_fd = -1;

	if (g_mkdir_with_parents(vm->shared_dir, 0700) < 0) {
		cocoon_set_error_from_errno(error, "mkdir %s", vm->shared_dir);
		return FALSE;
	}
	{
		/* lets `delete` tell a shim that is still stopping this VM from a dead one */
		g_autofree gchar *pid_path = g_build_filename(state_dir, "shim.pid", NULL);
		g_autofree gchar *pid_text = NULL;
		guint64 start_time = 0;
		if (!cocoon_qemu_read_start_time(getpid(), &start_time, error))
			return FALSE;
		pid_text = g_strdup_printf("%d %" G_GUINT64_FORMAT, (int)getpid(), start_time);
		if (!g_file_set_contents(pid_path, pid_text, -1, error))
			return FALSE;
	}
	vm_config = cocoon_pod_vm_config_new(config, vm->sandbox_id, state_dir, vm->shared_dir);
	if (!vm_config->confine)
		g_warning(
			"sandbox %s: hypervisor.confine = false: QEMU runs as root with every "
			"capability and the host's whole file system in view (for debugging only)",
			vm->sandbox_id);
	network_fill_vm_config(&vm->network, vm_config);

	vm->hypervisor = cocoon_qemu_new(vm_config, error);
	if (vm->hypervisor == NULL)
		return FALSE;
	cocoon_hypervisor_set_died_func(vm->hypervisor, vm_died, vm, vm->context);
	if (!cocoon_hypervisor_start(vm->hypervisor, error))
		return FALSE;
	if (!vm_join_host_cgroup(vm, error)) {
		g_prefix_error(error, "sandbox %s: host cgroup: ", vm->sandbox_id);
		return FALSE;
	}
	{
		g_autoptr(GCancellable) qemu_exited = g_cancellable_new();
		GSource *watch =
			boot_watch_new(vm, cocoon_hypervisor_get_pid(vm->hypervisor), qemu_exited);
		vm->agent = cocoon_agent_client_connect_wait(
			cocoon_hypervisor_get_agent_socket_path(vm->hypervisor), vm->sandbox_id,
			config->boot_timeout_ms, vm_console_tail, vm, qemu_exited, error);
		if (watch != NULL) {
			g_source_destroy(watch);
			g_source_unref(watch);
		}
		if (vm->agent == NULL && g_cancellable_is_cancelled(qemu_exited)) {
			g_autofree gchar *tail =
				vm_console_tail(COCOON_AGENT_CONSOLE_TAIL_LINES, vm);
			g_clear_error(error);
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "sandbox %s: QEMU (pid %d) exited while the guest booted%s%s",
				    vm->sandbox_id, (int)cocoon_hypervisor_get_pid(vm->hypervisor),
				    tail != NULL && tail[0] != '\0' ? "; last console lines:\n"
								    : "",
				    tail != NULL ? tail : "");
		}
	}
	if (vm->agent == NULL)
		return FALSE;
	cocoon_agent_client_set_default_timeout(vm->agent, config->request_timeout_ms);
	stdio_fd =
		cocoon_unix_connect(cocoon_hypervisor_get_stdio_socket_path(vm->hypervisor), error);
	if (stdio_fd < 0)
		return FALSE;
	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&vm->mux_lock);
		vm->mux = cocoon_stdio_mux_new(cocoon_steal_fd(&stdio_fd), vm->sandbox_id, error);
		if (vm->mux == NULL)
			return FALSE;
	}
	/* the taps are QEMU's now; the guest gets the interfaces the namespace has so far */
	if (!network_vm_started(&vm->network, vm->sandbox_id, vm->agent,
				cocoon_hypervisor_get_pid(vm->hypervisor), error))
		return FALSE;
	vm->boot_ms = (g_get_monotonic_time() - started) / 1000;
	vm->booted_at_us = g_get_real_time();
	vm->vcpus = config->vcpus;
	vm->memory_mib = config->memory_mib;
	g_info("sandbox %s: VM up in %" G_GINT64_FORMAT " ms (QEMU pid %d, %s)", vm->sandbox_id,
	       vm->boot_ms, (int)cocoon_hypervisor_get_pid(vm->hypervisor),
	       cocoon_accel_to_string(cocoon_hypervisor_get_accel(vm->hypervisor)));
	return TRUE;
}

/* the VM may still hold the network: it goes with QEMU */
static void
vm_stop(CocoonPodVm *vm, gboolean graceful)
{
	g_autoptr(GError) error = NULL;
	CocoonStdioMux *mux;

	vm->stopping = TRUE;
	if (graceful && vm->agent != NULL && cocoon_agent_client_is_connected(vm->agent))
		(void)cocoon_agent_client_shutdown(vm->agent, 2000, NULL, NULL);
	if (vm->agent != NULL) {
		cocoon_agent_client_close(vm->agent);
		g_clear_pointer(&vm->agent, cocoon_agent_client_unref);
	}
	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&vm->mux_lock);
		mux = g_steal_pointer(&vm->mux);
	}
	if (mux != NULL) {
		cocoon_stdio_mux_close(mux);
		cocoon_stdio_mux_unref(mux);
	}
	if (vm->hypervisor != NULL) {
		if (!cocoon_hypervisor_stop(vm->hypervisor,
					    graceful ? VM_STOP_TIMEOUT_MS : VM_ABORT_TIMEOUT_MS,
					    &error))
			g_warning("sandbox %s: %s", vm->sandbox_id, error->message);
		g_clear_pointer(&vm->hypervisor, cocoon_hypervisor_free);
	}
	/* QEMU is gone, and with it the taps it held: the filters and qdiscs go too */
	network_teardown(&vm->network, vm->sandbox_id);
	g_clear_pointer(&vm->host_cgroup, cocoon_host_cgroup_free);
}

static CocoonStdioMux *
vm_mux_ref(CocoonPodVm *vm)
{
	g_autoptr(GMutexLocker) locker = NULL;

	if (vm == NULL)
		return NULL;
	locker = g_mutex_locker_new(&vm->mux_lock);
	return vm->mux != NULL ? cocoon_stdio_mux_ref(vm->mux) : NULL;
}

/* ---------------------------------------------------------------- public */

/**
 * cocoon_pod_vm_ensure:
 *
 * On the worker: boots the VM unless its agent is connected; a VM that died is not booted again
 * (UNAVAILABLE). Calls the booted callback after a boot.
 */
gboolean
cocoon_pod_vm_ensure(CocoonPodVm *vm, GError **error)
{
	if (vm->agent != NULL && cocoon_agent_client_is_connected(vm->agent))
		return TRUE;
	if (vm->hypervisor != NULL) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
			    "sandbox %s: the VM is gone: unavailable", vm->sandbox_id);
		return FALSE;
	}
	vm->stopping = FALSE;
	if (!vm_boot(vm, error)) {
		cocoon_pod_vm_stop(vm);
		return FALSE;
	}
	vm->callbacks.booted(vm->callbacks.user_data);
	return TRUE;
}

gboolean
cocoon_pod_vm_is_running(CocoonPodVm *vm)
{
	return vm != NULL && vm->hypervisor != NULL;
}

void
cocoon_pod_vm_stop(CocoonPodVm *vm)
{
	if (vm != NULL)
		vm_stop(vm, TRUE);
}

void
cocoon_pod_vm_abort(CocoonPodVm *vm)
{
	if (vm == NULL)
		return;
	if (vm->hypervisor != NULL)
		vm->failed = TRUE;
	vm_stop(vm, FALSE);
}

CocoonAgentClient *
cocoon_pod_vm_get_agent(CocoonPodVm *vm)
{
	return vm != NULL ? vm->agent : NULL;
}

void
cocoon_pod_vm_set_agent(CocoonPodVm *vm, CocoonAgentClient *agent)
{
	g_clear_pointer(&vm->agent, cocoon_agent_client_unref);
	vm->agent = cocoon_agent_client_ref(agent);
}

gboolean
cocoon_pod_vm_network_create(CocoonPodVm *vm, const gchar *spec_json, gsize spec_length,
			     GError **error)
{
	return network_create(&vm->network, vm->sandbox_id, cocoon_pod_vm_is_running(vm), spec_json,
			      spec_length, error);
}

void
cocoon_pod_vm_set_host_cgroup(CocoonPodVm *vm, const gchar *cgroups_path)
{
	g_free(vm->host_cgroup_path);
	vm->host_cgroup_path = g_strdup(cgroups_path);
}

gboolean
cocoon_pod_vm_network_sync(CocoonPodVm *vm, GError **error)
{
	return network_sync(&vm->network, vm->sandbox_id, vm->agent, error);
}

guint32
cocoon_pod_vm_task_pid(CocoonPodVm *vm, guint32 guest_pid)
{
	return vm != NULL && vm->network.qemu_pid > 0 ? (guint32)vm->network.qemu_pid : guest_pid;
}

gboolean
cocoon_pod_vm_stdio_attach(CocoonPodVm *vm, CocoonStdio *stdio, gboolean terminal,
			   guint32 *stream_stdin, guint32 *stream_stdout, guint32 *stream_stderr,
			   GError **error)
{
	g_autoptr(CocoonStdioMux) mux = vm_mux_ref(vm);

	if (mux == NULL) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
			    "sandbox %s: no stdio connection", vm != NULL ? vm->sandbox_id : "");
		return FALSE;
	}
	if (stdio->stdout_fd >= 0) {
		*stream_stdout = cocoon_stdio_mux_allocate_stream_id(mux);
		if (!cocoon_stdio_mux_add_output(mux, *stream_stdout,
						 cocoon_steal_fd(&stdio->stdout_fd), error))
			return FALSE;
	}
	if (stdio->stderr_fd >= 0 && !terminal) {
		*stream_stderr = cocoon_stdio_mux_allocate_stream_id(mux);
		if (!cocoon_stdio_mux_add_output(mux, *stream_stderr,
						 cocoon_steal_fd(&stdio->stderr_fd), error))
			return FALSE;
	}
	if (stdio->stdin_fd >= 0) {
		*stream_stdin = cocoon_stdio_mux_allocate_stream_id(mux);
		if (!cocoon_stdio_mux_add_input(mux, *stream_stdin,
						cocoon_steal_fd(&stdio->stdin_fd), error))
			return FALSE;
	}
	return TRUE;
}

gboolean
cocoon_pod_vm_stdio_drain(CocoonPodVm *vm, const guint32 *streams, const guint64 *offsets,
			  guint n_streams, gint64 idle_us, gint64 deadline_us)
{
	g_autoptr(CocoonStdioMux) mux = vm_mux_ref(vm);
	if (mux == NULL)
		return TRUE;
	return cocoon_stdio_mux_wait_delivered(mux, streams, offsets, n_streams, idle_us,
					       deadline_us);
}

void
cocoon_pod_vm_stdio_detach(CocoonPodVm *vm, guint32 *stream_stdin, guint32 *stream_stdout,
			   guint32 *stream_stderr)
{
	g_autoptr(CocoonStdioMux) mux = vm_mux_ref(vm);
	guint32 *ids[] = {stream_stdin, stream_stdout, stream_stderr};

	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		if (*ids[i] != 0 && mux != NULL)
			cocoon_stdio_mux_remove_stream(mux, *ids[i]);
		*ids[i] = 0;
	}
}

void
cocoon_pod_vm_fill_info(CocoonPodVm *vm, CocoonSandboxInfo *info)
{
	if (vm == NULL || vm->hypervisor == NULL) {
		info->state = "empty";
		info->accel = "";
		return;
	}
	info->state = vm->failed ? "failed" : vm->stopping ? "stopping" : "running";
	info->qemu_pid = (gint)cocoon_hypervisor_get_pid(vm->hypervisor);
	info->accel = cocoon_accel_to_string(cocoon_hypervisor_get_accel(vm->hypervisor));
	info->vcpus = vm->vcpus;
	info->memory_mib = vm->memory_mib;
	info->boot_ms = vm->boot_ms;
	info->booted_at_us = vm->booted_at_us;
}

/**
 * cocoon_pod_vm_new:
 *
 * A pod's VM, not booted yet (cocoon_pod_vm_ensure() boots it). The callbacks are copied.
 */
CocoonPodVm *
cocoon_pod_vm_new(CocoonConfig *config, const gchar *sandbox_id, const gchar *state_dir,
		  const gchar *shared_dir, GMainContext *context, GMainContext *main_context,
		  const CocoonPodVmCallbacks *callbacks)
{
	CocoonPodVm *vm = g_new0(CocoonPodVm, 1);

	vm->config = config;
	vm->sandbox_id = g_strdup(sandbox_id);
	vm->state_dir = g_strdup(state_dir);
	vm->shared_dir = g_strdup(shared_dir);
	vm->context = g_main_context_ref(context);
	vm->main_context = g_main_context_ref(main_context);
	vm->callbacks = *callbacks;
	g_mutex_init(&vm->mux_lock);
	return vm;
}

/* after cocoon_pod_vm_stop(): what is left of the network goes, the VM is not stopped here */
void
cocoon_pod_vm_free(CocoonPodVm *vm)
{
	if (vm == NULL)
		return;
	network_teardown(&vm->network, vm->sandbox_id);
	g_clear_pointer(&vm->host_cgroup, cocoon_host_cgroup_free);
	g_mutex_clear(&vm->mux_lock);
	g_main_context_unref(vm->context);
	g_main_context_unref(vm->main_context);
	g_free(vm->host_cgroup_path);
	g_free(vm->sandbox_id);
	g_free(vm->state_dir);
	g_free(vm->shared_dir);
	g_free(vm);
}
