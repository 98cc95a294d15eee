/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-sandbox-task.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-error.h"
#include "cocoon-json.h"
#include "cocoon-pod-sizing.h"
#include "cocoon-process.h"
#include "cocoon-rootfs.h"
#include "cocoon-sandbox-snapshot.h"
#include "cocoon-spec-bounds.h"
#include "cocoon-spec-mounts.h"
#include "cocoon-shim-util.h"
#include "containerd-task-types.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "task-events.pb-c.h"

/* ---------------------------------------------------------------- guest events */

static void sandbox_watch_events(CocoonSandbox *sandbox);

static void
sandbox_oom(CocoonSandbox *sandbox, const gchar *container_id)
{
	Containerd__Events__TaskOOM event = CONTAINERD__EVENTS__TASK_OOM__INIT;
	CocoonContainer *container = g_hash_table_lookup(sandbox->containers, container_id);
	g_autofree gchar *path = NULL;
	g_autoptr(GError) error = NULL;

	if (container == NULL) {
		g_warning("sandbox %s: OOM event for unknown container %s", sandbox->id,
			  container_id);
		return;
	}
	g_message("container %s: OOM kill in the guest", container_id);
	event.container_id = container->id;
	publish(sandbox, "/tasks/oom", "containerd.events.TaskOOM", (ProtobufCMessage *)&event);
	/* what CRI-O and others read to report OOMKilled */
	path = g_build_filename(container->bundle, "oom", NULL);
	if (!g_file_set_contents(path, "", 0, &error))
		g_warning("container %s: %s", container_id, error->message);
}

typedef struct {
	CocoonSandbox *sandbox;
	CocoonAgentClient *agent;
} EventWork;

static void
agent_event_done(GObject *source, GAsyncResult *result, gpointer data)
{
	EventWork *work = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Cocoon__Agent__V1__WaitEventResponse) response =
		cocoon_agent_client_wait_event_finish(work->agent, result, &error);
	/* the same connection still serves us: ask for the next event */
	gboolean again = cocoon_pod_vm_get_agent(work->sandbox->vm) == work->agent;

	if (response != NULL) {
		if (response->kind == COCOON__AGENT__V1__WAIT_EVENT_RESPONSE__KIND__OOM)
			sandbox_oom(work->sandbox, response->container_id);
	} else if (g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE)) {
		again = FALSE;
	} else {
		g_warning("sandbox %s: guest events: %s", work->sandbox->id, error->message);
	}
	if (again)
		sandbox_watch_events(work->sandbox);
	cocoon_agent_client_unref(work->agent);
	cocoon_sandbox_unref(work->sandbox);
	g_free(work);
}

/* a long poll for guest events (OOM kills), answered on the worker */
static void
sandbox_watch_events(CocoonSandbox *sandbox)
{
	CocoonAgentClient *agent = cocoon_pod_vm_get_agent(sandbox->vm);
	EventWork *work;

	if (agent == NULL)
		return;
	work = g_new0(EventWork, 1);
	work->sandbox = cocoon_sandbox_ref(sandbox);
	work->agent = cocoon_agent_client_ref(agent);
	cocoon_agent_client_wait_event_async(agent, 0, NULL, agent_event_done, work);
}

/* ---------------------------------------------------------------- the pod's VM */

/* the VM tells the sandbox the agent just answered for the first time */
static void
pod_vm_booted(gpointer user_data)
{
	CocoonSandbox *sandbox = user_data;
	sandbox_watch_events(sandbox);
	cocoon_sandbox_notify(sandbox);
}

/* called by the VM on the worker when QEMU died behind our back */
static void
pod_vm_died(gpointer user_data)
{
	CocoonSandbox *sandbox = user_data;
	g_warning("sandbox %s: the VM died; every running process exits with 255", sandbox->id);
	cocoon_sandbox_fail_all(sandbox, 255);
	cocoon_sandbox_notify(sandbox);
}

void
cocoon_sandbox_ensure_pod_vm(CocoonSandbox *sandbox)
{
	CocoonPodVmCallbacks callbacks = {
		.booted = pod_vm_booted,
		.died = pod_vm_died,
		.user_data = sandbox,
	};

	if (sandbox->vm != NULL)
		return;
	sandbox->vm = cocoon_pod_vm_new(
		sandbox->config, sandbox->id, sandbox->state_dir, sandbox->shared_dir,
		sandbox->context, cocoon_runtime_get_main_context(sandbox->runtime), &callbacks);
}

/* ---------------------------------------------------------------- task API */

/* the pod's share, opened once: what is below it is reached by fd, never by name */
static CocoonShare *
sandbox_share(CocoonSandbox *sandbox, GError **error)
{
	/*
	 * virtiofsd, or a confined QEMU serving 9p, sees the share from its own mount namespace:
	 * see cocoon-share.h
	 */
	if (sandbox->share == NULL)
		sandbox->share =
			cocoon_share_new(sandbox->shared_dir,
					 g_strcmp0(sandbox->config->shared_fs, "virtio-fs") == 0 ||
							 sandbox->config->confine
						 ? COCOON_SHARE_PEER_GROUP
						 : COCOON_SHARE_PRIVATE,
					 error);
	return sandbox->share;
}

static gboolean
container_prepare_rootfs(CocoonSandbox *sandbox, CocoonContainer *container,
			 Containerd__Task__V2__CreateTaskRequest *request, GError **error)
{
	g_autofree gchar *bundle_rootfs = g_build_filename(container->bundle, "rootfs", NULL);
	CocoonShare *share = sandbox_share(sandbox, error);
	CocoonMountCopy *tree;

	if (share == NULL)
		return FALSE;
	if (request->n_rootfs > 0) {
		/* never re-create a bundle containerd removed meanwhile (it gave up on this Create)
		 */
		if (g_mkdir(bundle_rootfs, 0711) < 0 && errno != EEXIST) {
			cocoon_set_error_from_errno(error, "mkdir %s", bundle_rootfs);
			return FALSE;
		}
		if (!cocoon_rootfs_mount(bundle_rootfs, request->rootfs, request->n_rootfs, error))
			return FALSE;
		container->host_rootfs = g_strdup(bundle_rootfs);
	}
	container->share_area = cocoon_share_area_new(share, container->id, error);
	if (container->share_area == NULL)
		return FALSE;
	tree = cocoon_mount_clone_path(bundle_rootfs, FALSE, error);
	return tree != NULL &&
	       cocoon_share_area_attach(container->share_area, NULL, "rootfs", tree, TRUE, error);
}

static void
container_release_rootfs(CocoonContainer *container)
{
	g_autoptr(GError) error = NULL;

	/* detached by the fds that name the mounts, wherever the guest moved them */
	g_clear_pointer(&container->share_area, cocoon_share_area_free);
	if (container->host_rootfs != NULL) {
		if (!cocoon_rootfs_unmount(container->host_rootfs, &error))
			g_warning("container %s: %s", container->id, error->message);
		g_clear_pointer(&container->host_rootfs, g_free);
	}
}

/* no VM plumbing among its devices, a pids limit (docs/security.md) */
static void
container_bound_spec(CocoonContainer *container, CocoonJson *spec)
{
	g_autoptr(GPtrArray) dropped = g_ptr_array_new_with_free_func(g_free);
	gint64 pids;

	cocoon_spec_drop_vm_devices(spec, dropped);
	if (dropped->len > 0) {
		g_autofree gchar *paths = NULL;
		g_ptr_array_add(dropped, NULL);
		paths = g_strjoinv(" ", (gchar **)dropped->pdata);
		g_info("container %s: devices not passed to the guest: %s", container->id, paths);
	}
	pids = cocoon_spec_cap_pids(spec, container->sandbox->config->container_pids_max);
	g_debug("container %s: pids limit %" G_GINT64_FORMAT, container->id, pids);
}

/* the spec the guest gets: host bind mounts shared over 9p and pointed at the share */
static gchar *
container_guest_spec(CocoonSandbox *sandbox, CocoonContainer *container, const gchar *spec_json,
		     gsize spec_length, GError **error)
{
	g_autoptr(CocoonJson) spec = cocoon_json_parse(spec_json, spec_length, error);

	if (spec == NULL) {
		g_prefix_error(error, "config.json: ");
		return NULL;
	}
	if (!cocoon_spec_share_mounts(spec, container->bundle, container->share_area,
				      cocoon_sandbox_get_config(sandbox)->state_dir, error))
		return NULL;
	container_bound_spec(container, spec);
	return cocoon_json_to_string(spec, FALSE);
}

static void
stdio_streams_fill(Cocoon__Agent__V1__StdioStreams *streams, CocoonProcess *process)
{
	cocoon__agent__v1__stdio_streams__init(streams);
	streams->terminal = process->terminal;
	streams->stdin = process->stream_stdin;
	streams->stdout = process->stream_stdout;
	streams->stderr = process->stream_stderr;
}

/* the registry entry goes before the Delete reply: containerd's Shutdown follows at once */
static void
container_forget(CocoonSandbox *sandbox, CocoonContainer *container)
{
	cocoon_runtime_release_container(sandbox->runtime, container->id);
	g_mutex_lock(&sandbox->state_lock);
	g_hash_table_remove(sandbox->containers, container->id);
	g_mutex_unlock(&sandbox->state_lock);
	if (g_hash_table_size(sandbox->containers) == 0) {
		g_info("sandbox %s: last container gone, stopping the VM", sandbox->id);
		cocoon_pod_vm_stop(sandbox->vm);
	}
}

/* the pod's configuration: the runtime's with the io.cocoon.config.* annotations applied */
static gboolean
sandbox_config_from_spec(CocoonSandbox *sandbox, const gchar *container_id, const gchar *spec_json,
			 gsize spec_length, GError **error)
{
	g_autoptr(CocoonJson) spec = cocoon_json_parse(spec_json, spec_length, error);
	g_autoptr(CocoonConfig) config = NULL;
	CocoonPodSize size;

	if (spec == NULL) {
		g_prefix_error(error, "config.json: ");
		return FALSE;
	}
	config = cocoon_config_copy(cocoon_runtime_get_config(sandbox->runtime));
	if (!cocoon_config_apply_annotations(config, cocoon_json_object_get(spec, "annotations"),
					     error))
		return FALSE;
	/* the VM is sized by what its first container (or the CRI sandbox) asks */
	if (!cocoon_pod_size_from_spec(spec, config, sandbox->id, container_id, &size, error))
		return FALSE;
	if (size.ask_vcpus > 0 || size.ask_memory_mib > 0)
		g_info("sandbox %s: container %s asks for %u vCPUs and %u MiB: the VM gets %u "
		       "vCPUs "
		       "and %u MiB",
		       sandbox->id, container_id, size.ask_vcpus, size.ask_memory_mib, size.vcpus,
		       size.memory_mib);
	config->vcpus = size.vcpus;
	config->memory_mib = size.memory_mib;
	sandbox->config = g_steal_pointer(&config);
	/* the VM's host cgroup is the first (sandbox) container's */
	g_free(sandbox->host_cgroup_path);
	sandbox->host_cgroup_path = g_strdup(
		cocoon_json_get_string(cocoon_json_path_get(spec, "linux", "cgroupsPath", NULL)));
	return TRUE;
}

/*
 * a later container of the pod: more than the maximum is refused; more than the VM has (it was
 * sized at boot; vCPU and memory hot-plug are not there yet) is logged, the container gets what
 * the VM has
 */
static gboolean
container_fits_vm(CocoonSandbox *sandbox, const gchar *container_id, const gchar *spec_json,
		  gsize spec_length, GError **error)
{
	g_autoptr(CocoonJson) spec = cocoon_json_parse(spec_json, spec_length, NULL);
	CocoonConfig *config = sandbox->config;
	CocoonPodSize size;

	if (spec == NULL)
		return TRUE;
	if (!cocoon_pod_size_from_spec(spec, config, sandbox->id, container_id, &size, error))
		return FALSE;
	if (size.ask_vcpus > config->vcpus || size.ask_memory_mib > config->memory_mib)
		g_warning("sandbox %s: container %s asks for %u vCPUs and %u MiB, more than the "
			  "running VM's %u vCPUs and %u MiB; it gets at most those (no hot-plug)",
			  sandbox->id, container_id, size.ask_vcpus, size.ask_memory_mib,
			  config->vcpus, config->memory_mib);
	return TRUE;
}

static CocoonContainer *
sandbox_container_of_type(CocoonSandbox *sandbox, const gchar *type)
{
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, sandbox->containers);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		CocoonContainer *container = value;
		if (g_strcmp0(container->container_type, type) == 0)
			return container;
	}
	return NULL;
}

static gboolean
task_create(CocoonSandbox *sandbox, Containerd__Task__V2__CreateTaskRequest *request,
	    guint32 *ret_pid, GError **error)
{
	Cocoon__Agent__V1__CreateContainerRequest agent_request =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	Cocoon__Agent__V1__StdioStreams streams;
	Cocoon__Agent__V1__CreateContainerResponse *agent_response;
	g_autofree gchar *config_path = g_build_filename(request->bundle, "config.json", NULL);
	g_autofree gchar *spec_json = NULL;
	g_autofree gchar *guest_spec = NULL;
	g_autofree gchar *rootfs = NULL;
	g_autofree gchar *container_type = NULL;
	CocoonContainer *container;
	gsize spec_length;

	if (!g_file_get_contents(config_path, &spec_json, &spec_length, error))
		return FALSE;
	g_free(cocoon_shim_read_group(request->bundle, request->id, &container_type, NULL));
	/* the sandbox container's exit ends the pod: a second one would end it early */
	if (g_strcmp0(container_type, "sandbox") == 0) {
		CocoonContainer *other = sandbox_container_of_type(sandbox, "sandbox");
		if (other != NULL) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "the pod already has its sandbox container %s; a second "
				    "container annotated io.kubernetes.cri.container-type=sandbox "
				    "is refused",
				    other->id);
			return FALSE;
		}
	}

	container = g_new0(CocoonContainer, 1);
	container->sandbox = sandbox;
	container->id = g_strdup(request->id);
	container->bundle = g_strdup(request->bundle);
	container->container_type = g_steal_pointer(&container_type);
	container->execs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
						 (GDestroyNotify)cocoon_process_free);
	g_mutex_lock(&sandbox->state_lock);
	g_hash_table_insert(sandbox->containers, container->id, container);
	container->init = cocoon_process_new(container, "", request->terminal, request->stdin,
					     request->stdout, request->stderr);
	g_mutex_unlock(&sandbox->state_lock);

	if (sandbox->config == NULL) {
		if (!sandbox_config_from_spec(sandbox, request->id, spec_json, spec_length, error))
			return FALSE;
	} else if (!container_fits_vm(sandbox, request->id, spec_json, spec_length, error)) {
		return FALSE;
	}
	cocoon_sandbox_ensure_pod_vm(sandbox);
	if (!cocoon_pod_vm_is_running(sandbox->vm))
		cocoon_pod_vm_set_host_cgroup(sandbox->vm, sandbox->host_cgroup_path);
	if (!cocoon_pod_vm_network_create(sandbox->vm, spec_json, spec_length, error) ||
	    sandbox_share(sandbox, error) == NULL || !cocoon_pod_vm_ensure(sandbox->vm, error) ||
	    !container_prepare_rootfs(sandbox, container, request, error) ||
	    !cocoon_stdio_open(&container->init->stdio, request->stdin, request->stdout,
			       request->stderr, request->terminal, container->id,
			       cocoon_runtime_get_namespace(sandbox->runtime), error) ||
	    !cocoon_process_stdio_attach(sandbox, container->init, error))
		return FALSE;

	guest_spec = container_guest_spec(sandbox, container, spec_json, spec_length, error);
	if (guest_spec == NULL)
		return FALSE;
	rootfs = g_build_filename(container->id, "rootfs", NULL);
	agent_request.container_id = container->id;
	agent_request.spec_json.data = (guint8 *)guest_spec;
	agent_request.spec_json.len = strlen(guest_spec);
	agent_request.rootfs = rootfs;
	stdio_streams_fill(&streams, container->init);
	agent_request.stdio = &streams;
	agent_response = AGENT_CALL(sandbox, "CreateContainer",
				    cocoon_agent_client_create_container, &agent_request, error);
	if (agent_response == NULL)
		return FALSE;
	container->created_in_guest = TRUE;
	g_mutex_lock(&sandbox->state_lock);
	container->init->pid = agent_response->pid;
	g_mutex_unlock(&sandbox->state_lock);
	cocoon__agent__v1__create_container_response__free_unpacked(agent_response, NULL);
	/*
	 * from now on, not from Start: a created init that is killed before its Start exits too,
	 * and its Wait, State and Delete must see that (the worker runs the answer after this
	 * request and after any Start, so TaskStart still comes before TaskExit)
	 */
	cocoon_process_watch_exit(sandbox, container->init);
	*ret_pid = container->init->pid;
	return TRUE;
}

void
cocoon_container_teardown(CocoonSandbox *sandbox, CocoonContainer *container)
{
	if (container->created_in_guest) {
		Cocoon__Agent__V1__RemoveContainerRequest request =
			COCOON__AGENT__V1__REMOVE_CONTAINER_REQUEST__INIT;
		g_autoptr(GError) error = NULL;
		request.container_id = container->id;
		container->created_in_guest = FALSE;
		if (!AGENT_CALL(sandbox, "RemoveContainer", cocoon_agent_client_remove_container,
				&request, &error)) {
			g_warning("%s", error->message);
			if (g_error_matches(error, COCOON_TTRPC_ERROR,
					    COCOON_TTRPC_DEADLINE_EXCEEDED))
				cocoon_sandbox_abort_vm(sandbox, error);
		}
	}
	if (container->init != NULL)
		cocoon_process_stdio_detach(sandbox, container->init);
	container_release_rootfs(container);
}

/*
 * containerd gave up on a Create (it was killed or restarted, or the call's deadline passed): it
 * will never delete that container, so the Create is undone instead of leaving a VM nobody knows of
 */
static gboolean
create_abandoned(CocoonTtrpcCall *call, GError **error)
{
	if (!cocoon_ttrpc_call_is_cancelled(call))
		return FALSE;
	g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_CANCELLED,
		    "the caller went away, undone: cancelled");
	return TRUE;
}

void
cocoon_sandbox_task_create(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__CreateTaskRequest *request =
		(Containerd__Task__V2__CreateTaskRequest *)message;
	Containerd__Task__V2__CreateTaskResponse response =
		CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
	Containerd__Events__TaskCreate event = CONTAINERD__EVENTS__TASK_CREATE__INIT;
	Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
	g_autoptr(GError) error = NULL;
	guint32 pid = 0;

	if (g_hash_table_contains(sandbox->containers, request->id)) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_ALREADY_EXISTS,
					       "container %s: already exists", request->id);
		return;
	}
	if (create_abandoned(call, &error) || !task_create(sandbox, request, &pid, &error) ||
	    create_abandoned(call, &error)) {
		CocoonContainer *container = g_hash_table_lookup(sandbox->containers, request->id);
		g_prefix_error(&error, "create %s: ", request->id);
		if (container != NULL) {
			cocoon_container_teardown(sandbox, container);
			container_forget(sandbox, container);
		} else {
			cocoon_runtime_release_container(sandbox->runtime, request->id);
		}
		return_error(call, error);
		return;
	}
	event.container_id = request->id;
	event.bundle = request->bundle;
	event.n_rootfs = request->n_rootfs;
	event.rootfs = request->rootfs;
	io.stdin = request->stdin;
	io.stdout = request->stdout;
	io.stderr = request->stderr;
	io.terminal = request->terminal;
	event.io = &io;
	event.checkpoint = request->checkpoint;
	event.pid = pid;
	publish(sandbox, "/tasks/create", "containerd.events.TaskCreate",
		(ProtobufCMessage *)&event);
	response.pid = pid;
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
}

static gboolean
task_start(CocoonSandbox *sandbox, CocoonProcess *process, GError **error)
{
	CocoonContainer *container = process->container;

	if (process->status != CONTAINERD__V1__TYPES__STATUS__CREATED) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
			    "process %s of container %s is %s, not created: failed precondition",
			    is_init(process->exec_id) ? "init" : process->exec_id, container->id,
			    protobuf_c_enum_descriptor_get_value(
				    &containerd__v1__types__status__descriptor, process->status)
				    ->name);
		return FALSE;
	}
	if (is_init(process->exec_id)) {
		Cocoon__Agent__V1__StartContainerRequest request =
			COCOON__AGENT__V1__START_CONTAINER_REQUEST__INIT;
		Cocoon__Agent__V1__StartContainerResponse *response;
		/* ctr run --cni sets the pod's network up between Create and Start */
		if (!cocoon_pod_vm_network_sync(sandbox->vm, error))
			return FALSE;
		request.container_id = container->id;
		response = AGENT_CALL(sandbox, "StartContainer",
				      cocoon_agent_client_start_container, &request, error);
		if (response == NULL)
			return FALSE;
		if (response->pid != 0) {
			g_mutex_lock(&sandbox->state_lock);
			process->pid = response->pid;
			g_mutex_unlock(&sandbox->state_lock);
		}
		cocoon__agent__v1__start_container_response__free_unpacked(response, NULL);
	} else {
		Cocoon__Agent__V1__ExecProcessRequest request =
			COCOON__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
		Cocoon__Agent__V1__ExecProcessResponse *response;
		Cocoon__Agent__V1__StdioStreams streams;
		gsize size;

		if (container->init == NULL ||
		    container->init->status != CONTAINERD__V1__TYPES__STATUS__RUNNING) {
			g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
				    "container %s is not running: failed precondition",
				    container->id);
			return FALSE;
		}
		if (!cocoon_stdio_open(&process->stdio, process->stdin_path, process->stdout_path,
				       process->stderr_path, process->terminal, container->id,
				       cocoon_runtime_get_namespace(sandbox->runtime), error) ||
		    !cocoon_process_stdio_attach(sandbox, process, error))
			return FALSE;
		request.container_id = container->id;
		request.exec_id = process->exec_id;
		request.process_json.data =
			(guint8 *)g_bytes_get_data(process->process_json, &size);
		request.process_json.len = size;
		stdio_streams_fill(&streams, process);
		request.stdio = &streams;
		response = AGENT_CALL(sandbox, "ExecProcess", cocoon_agent_client_exec_process,
				      &request, error);
		if (response == NULL) {
			cocoon_process_stdio_detach(sandbox, process);
			return FALSE;
		}
		g_mutex_lock(&sandbox->state_lock);
		process->pid = response->pid;
		g_mutex_unlock(&sandbox->state_lock);
		cocoon__agent__v1__exec_process_response__free_unpacked(response, NULL);
	}
	g_mutex_lock(&sandbox->state_lock);
	process->status = CONTAINERD__V1__TYPES__STATUS__RUNNING;
	g_mutex_unlock(&sandbox->state_lock);
	return TRUE;
}

void
cocoon_sandbox_task_start(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__StartRequest *request = (Containerd__Task__V2__StartRequest *)message;
	Containerd__Task__V2__StartResponse response = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
	g_autoptr(GError) error = NULL;
	CocoonProcess *process =
		cocoon_sandbox_lookup_process(sandbox, request->id, request->exec_id, &error);

	if (process == NULL || !task_start(sandbox, process, &error)) {
		g_prefix_error(&error, "start %s: ", request->id);
		return_error(call, error);
		return;
	}
	/* the start event goes out before the exit watch exists, so before any TaskExit */
	if (is_init(process->exec_id)) {
		Containerd__Events__TaskStart event = CONTAINERD__EVENTS__TASK_START__INIT;
		event.container_id = request->id;
		event.pid = process->pid;
		publish(sandbox, "/tasks/start", "containerd.events.TaskStart",
			(ProtobufCMessage *)&event);
	} else {
		Containerd__Events__TaskExecStarted event =
			CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
		event.container_id = request->id;
		event.exec_id = process->exec_id;
		event.pid = process->pid;
		publish(sandbox, "/tasks/exec-started", "containerd.events.TaskExecStarted",
			(ProtobufCMessage *)&event);
	}
	/* an init's exit is watched since its Create */
	if (!is_init(process->exec_id))
		cocoon_process_watch_exit(sandbox, process);
	response.pid = process->pid;
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
}

static guint8 *
state_pack_locked(CocoonSandbox *sandbox, Containerd__Task__V2__StateRequest *request,
		  gsize *ret_size, GError **error)
{
	Containerd__Task__V2__StateResponse response = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts;
	CocoonProcess *process =
		cocoon_sandbox_lookup_process(sandbox, request->id, request->exec_id, error);
	guint8 *packed;

	if (process == NULL)
		return NULL;
	response.id = is_init(process->exec_id) ? process->container->id : process->exec_id;
	response.bundle = process->container->bundle;
	response.pid = process->pid;
	response.status = process->status;
	response.stdin = process->stdin_path;
	response.stdout = process->stdout_path;
	response.stderr = process->stderr_path;
	response.terminal = process->terminal;
	response.exec_id = process->exec_id;
	if (process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		response.exit_status = process->exit_status;
		fill_timestamp(&ts, process->exited_at_us);
		response.exited_at = &ts;
	}
	*ret_size = protobuf_c_message_get_packed_size((ProtobufCMessage *)&response);
	packed = g_malloc(*ret_size + 1);
	protobuf_c_message_pack((ProtobufCMessage *)&response, packed);
	return packed;
}

/* any thread (the main context answers State itself): reads under state_lock, sends after it */
void
cocoon_sandbox_task_state(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__StateRequest *request = (Containerd__Task__V2__StateRequest *)message;
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *packed = NULL;
	gsize size = 0;

	g_mutex_lock(&sandbox->state_lock);
	packed = state_pack_locked(sandbox, request, &size, &error);
	g_mutex_unlock(&sandbox->state_lock);
	if (packed == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	cocoon_ttrpc_call_return(call, packed, size);
}

static gboolean
process_deletable(CocoonProcess *process, GError **error)
{
	if (process->status == CONTAINERD__V1__TYPES__STATUS__CREATED ||
	    (process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED && !process->exiting))
		return TRUE;
	g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
		    "process %s of container %s is still running: failed precondition",
		    is_init(process->exec_id) ? "init" : process->exec_id, process->container->id);
	return FALSE;
}

void
cocoon_sandbox_task_delete(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__DeleteRequest *request =
		(Containerd__Task__V2__DeleteRequest *)message;
	Containerd__Task__V2__DeleteResponse response = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Containerd__Events__TaskDelete event = CONTAINERD__EVENTS__TASK_DELETE__INIT;
	Google__Protobuf__Timestamp ts;
	g_autoptr(GError) error = NULL;
	CocoonProcess *process =
		cocoon_sandbox_lookup_process(sandbox, request->id, request->exec_id, &error);
	CocoonContainer *container;

	if (process == NULL || !process_deletable(process, &error)) {
		g_prefix_error(&error, "delete %s: ", request->id);
		return_error(call, error);
		return;
	}
	container = process->container;
	if (!is_init(request->exec_id)) {
		/* the init process outlives its execs: an exec holds nothing else */
		if (container->init == NULL ||
		    container->init->status != CONTAINERD__V1__TYPES__STATUS__STOPPED) {
			/* nothing in the guest to do: the agent forgets execs at their exit */
		}
	} else {
		GHashTableIter iter;
		gpointer value;
		g_hash_table_iter_init(&iter, container->execs);
		while (g_hash_table_iter_next(&iter, NULL, &value)) {
			if (((CocoonProcess *)value)->exiting) {
				cocoon_ttrpc_call_return_error(
					call, COCOON_TTRPC_FAILED_PRECONDITION,
					"delete %s: an exec is still exiting: failed precondition",
					request->id);
				return;
			}
		}
	}
	response.pid = process->pid;
	response.exit_status = process->exit_status;
	fill_timestamp(&ts, process->exited_at_us != 0 ? process->exited_at_us : g_get_real_time());
	response.exited_at = &ts;
	event.container_id = container->id;
	event.pid = process->pid;
	event.exit_status = process->exit_status;
	event.exited_at = &ts;
	event.id = process->exec_id;
	if (is_init(request->exec_id)) {
		/*
		 * the pod's last container: its VM is stopped right after this reply, so removing
		 * the container in the guest first (a crun delete, ~0.2 s under TCG) is wasted
		 */
		if (g_hash_table_size(sandbox->containers) == 1)
			container->created_in_guest = FALSE;
		cocoon_container_teardown(sandbox, container);
		publish(sandbox, "/tasks/delete", "containerd.events.TaskDelete",
			(ProtobufCMessage *)&event);
		cocoon_runtime_release_container(sandbox->runtime, container->id);
		cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
		container_forget(sandbox, container);
		return;
	}
	cocoon_process_stdio_detach(sandbox, process);
	publish(sandbox, "/tasks/delete", "containerd.events.TaskDelete",
		(ProtobufCMessage *)&event);
	/* gone before the reply says so (State reads the table on the main context) */
	g_mutex_lock(&sandbox->state_lock);
	g_hash_table_remove(container->execs, request->exec_id);
	g_mutex_unlock(&sandbox->state_lock);
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
}

void
cocoon_sandbox_task_kill(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__KillRequest *request = (Containerd__Task__V2__KillRequest *)message;
	Cocoon__Agent__V1__SignalProcessRequest agent_request =
		COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	CocoonProcess *process = cocoon_sandbox_lookup_process_or_return(sandbox, call, request->id,
									 request->exec_id);

	if (process == NULL)
		return;
	if (request->signal == 0 || request->signal > 64) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_INVALID_ARGUMENT,
			"kill %s: signal %u is out of range: invalid argument", request->id,
			request->signal);
		return;
	}
	if (process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED || process->exiting) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_NOT_FOUND,
					       "kill %s: process already finished: not found",
					       request->id);
		return;
	}
	if (process->status == CONTAINERD__V1__TYPES__STATUS__CREATED &&
	    !is_init(request->exec_id)) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_FAILED_PRECONDITION,
			"kill %s: exec %s is not started: failed precondition", request->id,
			request->exec_id);
		return;
	}
	agent_request.container_id = request->id;
	agent_request.exec_id = process->exec_id;
	agent_request.signal = request->signal;
	agent_request.all = request->all;
	if (!AGENT_CALL(sandbox, "SignalProcess", cocoon_agent_client_signal_process,
			&agent_request, &error)) {
		/* a SIGKILL always ends the process: if the guest cannot, the VM goes */
		if (request->signal == SIGKILL &&
		    g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_DEADLINE_EXCEEDED)) {
			cocoon_sandbox_abort_vm(sandbox, error);
			cocoon_ttrpc_call_return_message(call, NULL);
			return;
		}
		g_prefix_error(&error, "kill %s: ", request->id);
		return_error(call, error);
		return;
	}
	cocoon_ttrpc_call_return_message(call, NULL);
}

void
cocoon_sandbox_task_exec(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__ExecProcessRequest *request =
		(Containerd__Task__V2__ExecProcessRequest *)message;
	Containerd__Events__TaskExecAdded event = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonJson) spec = NULL;
	CocoonContainer *container =
		cocoon_sandbox_lookup_container_or_return(sandbox, call, request->id);
	CocoonProcess *process;

	if (container == NULL)
		return;
	if (!cocoon_identifier_validate("exec id", request->exec_id, &error)) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "exec %s: %s: invalid argument", request->id,
					       error->message);
		return;
	}
	if (g_hash_table_contains(container->execs, request->exec_id)) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_ALREADY_EXISTS,
					       "exec %s in container %s: already exists",
					       request->exec_id, request->id);
		return;
	}
	if (container->init == NULL ||
	    container->init->status == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_FAILED_PRECONDITION,
			"exec %s: container %s is not running: failed precondition",
			request->exec_id, request->id);
		return;
	}
	if (request->spec == NULL || request->spec->value.len == 0) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "exec %s: no process spec: invalid argument",
					       request->exec_id);
		return;
	}
	spec = cocoon_json_parse((const gchar *)request->spec->value.data, request->spec->value.len,
				 &error);
	if (spec == NULL || !cocoon_json_is_object(spec)) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_INVALID_ARGUMENT,
			"exec %s: the process spec (%s) is not a JSON object: %s: "
			"invalid argument",
			request->exec_id, request->spec->type_url,
			error != NULL ? error->message : "wrong type");
		return;
	}
	process = cocoon_process_new(container, request->exec_id, request->terminal, request->stdin,
				     request->stdout, request->stderr);
	process->process_json = g_bytes_new(request->spec->value.data, request->spec->value.len);
	g_mutex_lock(&sandbox->state_lock);
	g_hash_table_insert(container->execs, process->exec_id, process);
	g_mutex_unlock(&sandbox->state_lock);
	event.container_id = request->id;
	event.exec_id = request->exec_id;
	publish(sandbox, "/tasks/exec-added", "containerd.events.TaskExecAdded",
		(ProtobufCMessage *)&event);
	cocoon_ttrpc_call_return_message(call, NULL);
}

void
cocoon_sandbox_task_wait(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__WaitRequest *request = (Containerd__Task__V2__WaitRequest *)message;
	g_autoptr(GError) error = NULL;
	CocoonProcess *process =
		cocoon_sandbox_lookup_process(sandbox, request->id, request->exec_id, &error);

	if (process == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	g_ptr_array_add(process->waiters, call);
	if (process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED && !process->exiting)
		cocoon_process_answer_waiters(process);
}

void
cocoon_sandbox_task_connect(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			    ProtobufCMessage *message)
{
	Containerd__Task__V2__ConnectRequest *request =
		(Containerd__Task__V2__ConnectRequest *)message;
	Containerd__Task__V2__ConnectResponse response =
		CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	g_autoptr(GError) error = NULL;
	CocoonContainer *container = cocoon_sandbox_lookup_container(sandbox, request->id, &error);

	if (container == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	response.shim_pid = (guint32)getpid();
	response.task_pid = cocoon_pod_vm_task_pid(
		sandbox->vm, container->init != NULL ? container->init->pid : 0);
	response.version = (gchar *)COCOON_VERSION;
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
}
