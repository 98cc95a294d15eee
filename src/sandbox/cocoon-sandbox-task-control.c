/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-sandbox-task.h"

#include <gio/gio.h>

#include "cocoon-json.h"
#include "cocoon-metrics.h"
#include "cocoon-process.h"
#include "containerd-task-types.pb-c.h"
#include "runc-options.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "task-events.pb-c.h"

void
cocoon_sandbox_task_pids(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__PidsRequest *request = (Containerd__Task__V2__PidsRequest *)message;
	Containerd__Task__V2__PidsResponse response = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
	Cocoon__Agent__V1__ListProcessesRequest agent_request =
		COCOON__AGENT__V1__LIST_PROCESSES_REQUEST__INIT;
	Cocoon__Agent__V1__ListProcessesResponse *agent_response = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree Containerd__V1__Types__ProcessInfo *infos = NULL;
	g_autofree Containerd__V1__Types__ProcessInfo **info_ptrs = NULL;
	g_autofree Google__Protobuf__Any *details = NULL;
	g_autoptr(GPtrArray) packed = NULL;
	CocoonContainer *container = cocoon_sandbox_lookup_container(sandbox, request->id, &error);

	if (container == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	if (container->init != NULL &&
	    container->init->status == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
		return;
	}
	agent_request.container_id = container->id;
	agent_response = AGENT_CALL(sandbox, "ListProcesses", cocoon_agent_client_list_processes,
				    &agent_request, &error);
	if (agent_response == NULL) {
		return_error(call, error);
		return;
	}
	infos = g_new0(Containerd__V1__Types__ProcessInfo, agent_response->n_processes + 1);
	info_ptrs = g_new0(Containerd__V1__Types__ProcessInfo *, agent_response->n_processes + 1);
	details = g_new0(Google__Protobuf__Any, agent_response->n_processes + 1);
	packed = g_ptr_array_new_with_free_func(g_free);
	for (gsize i = 0; i < agent_response->n_processes; i++) {
		const gchar *exec_id = agent_response->processes[i]->exec_id;
		containerd__v1__types__process_info__init(&infos[i]);
		infos[i].pid = agent_response->processes[i]->pid;
		/* like runc: execs carry their id, so `ctr task ps` tells them apart */
		if (exec_id != NULL && exec_id[0] != '\0') {
			Containerd__Runc__V1__ProcessDetails detail =
				CONTAINERD__RUNC__V1__PROCESS_DETAILS__INIT;
			gsize size;
			guint8 *buf;
			detail.exec_id = (gchar *)exec_id;
			size = protobuf_c_message_get_packed_size((ProtobufCMessage *)&detail);
			buf = g_malloc(size + 1);
			protobuf_c_message_pack((ProtobufCMessage *)&detail, buf);
			g_ptr_array_add(packed, buf);
			google__protobuf__any__init(&details[i]);
			details[i].type_url = (gchar *)"containerd.runc.v1.ProcessDetails";
			details[i].value.data = buf;
			details[i].value.len = size;
			infos[i].info = &details[i];
		}
		info_ptrs[i] = &infos[i];
	}
	response.n_processes = agent_response->n_processes;
	response.processes = info_ptrs;
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
	cocoon__agent__v1__list_processes_response__free_unpacked(agent_response, NULL);
}

/* how long the undo of a late Pause/Resume waits for a guest that stood still */
#define UNDO_TIMEOUT_MS (10u * 60 * 1000)

typedef struct {
	CocoonAgentClient *agent;
	gchar *sandbox_id;
	gchar *container_id;
	gboolean paused;
} Undo;

static void
undo_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Undo *undo = user_data;
	g_autoptr(GError) error = NULL;

	if (cocoon_agent_client_set_paused_finish(undo->agent, result, &error))
		g_info("sandbox %s: container %s %s again after the unanswered call",
		       undo->sandbox_id, undo->container_id, undo->paused ? "paused" : "running");
	else
		g_debug("sandbox %s: undo for container %s: %s", undo->sandbox_id,
			undo->container_id, error->message);
	cocoon_agent_client_unref(undo->agent);
	g_free(undo->sandbox_id);
	g_free(undo->container_id);
	g_free(undo);
}

/*
 * a Pause or Resume the agent did not answer in time is still queued for a guest that stood
 * still, and runs when it wakes: the opposite call, queued right behind it on the same connection
 * (the agent serves them in order), leaves the container as the failed call reported it
 */
static void
undo_unanswered(CocoonSandbox *sandbox, CocoonContainer *container, gboolean pause)
{
	CocoonAgentClient *agent = cocoon_pod_vm_get_agent(sandbox->vm);
	Undo *undo;

	if (agent == NULL)
		return;
	undo = g_new0(Undo, 1);
	undo->agent = cocoon_agent_client_ref(agent);
	undo->sandbox_id = g_strdup(sandbox->id);
	undo->container_id = g_strdup(container->id);
	undo->paused = !pause;
	g_info("sandbox %s: %s of %s unanswered: %s queued behind it", sandbox->id,
	       pause ? "PauseContainer" : "ResumeContainer", container->id,
	       pause ? "ResumeContainer" : "PauseContainer");
	cocoon_agent_client_set_paused_async(agent, container->id, !pause, UNDO_TIMEOUT_MS, NULL,
					     undo_done, undo);
}

static void
task_pause_resume(CocoonSandbox *sandbox, CocoonTtrpcCall *call, const gchar *id, gboolean pause)
{
	g_autoptr(GError) error = NULL;
	CocoonContainer *container = cocoon_sandbox_lookup_container(sandbox, id, &error);
	Cocoon__Agent__V1__PauseContainerRequest pause_request =
		COCOON__AGENT__V1__PAUSE_CONTAINER_REQUEST__INIT;
	Cocoon__Agent__V1__ResumeContainerRequest resume_request =
		COCOON__AGENT__V1__RESUME_CONTAINER_REQUEST__INIT;
	Containerd__V1__Types__Status need = pause ? CONTAINERD__V1__TYPES__STATUS__RUNNING
						   : CONTAINERD__V1__TYPES__STATUS__PAUSED;

	if (container == NULL || container->init == NULL) {
		if (error == NULL)
			g_set_error(&error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
				    "container %s is not created: failed precondition", id);
		return_error(call, error);
		return;
	}
	if (container->init->status != need) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_FAILED_PRECONDITION,
					       "%s %s: container is not %s: failed precondition",
					       pause ? "pause" : "resume", id,
					       pause ? "running" : "paused");
		return;
	}
	pause_request.container_id = container->id;
	resume_request.container_id = container->id;
	if (pause ? !AGENT_CALL(sandbox, "PauseContainer", cocoon_agent_client_pause_container,
				&pause_request, &error)
		  : !AGENT_CALL(sandbox, "ResumeContainer", cocoon_agent_client_resume_container,
				&resume_request, &error)) {
		if (g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_DEADLINE_EXCEEDED))
			undo_unanswered(sandbox, container, pause);
		return_error(call, error);
		return;
	}
	g_mutex_lock(&sandbox->state_lock);
	container->init->status = pause ? CONTAINERD__V1__TYPES__STATUS__PAUSED
					: CONTAINERD__V1__TYPES__STATUS__RUNNING;
	g_mutex_unlock(&sandbox->state_lock);
	if (pause) {
		Containerd__Events__TaskPaused event = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
		event.container_id = container->id;
		publish(sandbox, "/tasks/paused", "containerd.events.TaskPaused",
			(ProtobufCMessage *)&event);
	} else {
		Containerd__Events__TaskResumed event = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
		event.container_id = container->id;
		publish(sandbox, "/tasks/resumed", "containerd.events.TaskResumed",
			(ProtobufCMessage *)&event);
	}
	cocoon_ttrpc_call_return_message(call, NULL);
}

void
cocoon_sandbox_task_pause(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	task_pause_resume(sandbox, call, ((Containerd__Task__V2__PauseRequest *)message)->id, TRUE);
}

void
cocoon_sandbox_task_resume(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	task_pause_resume(sandbox, call, ((Containerd__Task__V2__ResumeRequest *)message)->id,
			  FALSE);
}

void
cocoon_sandbox_task_resize_pty(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			       ProtobufCMessage *message)
{
	Containerd__Task__V2__ResizePtyRequest *request =
		(Containerd__Task__V2__ResizePtyRequest *)message;
	Cocoon__Agent__V1__ResizeTtyRequest agent_request =
		COCOON__AGENT__V1__RESIZE_TTY_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	CocoonProcess *process = cocoon_sandbox_lookup_process_or_return(sandbox, call, request->id,
									 request->exec_id);

	if (process == NULL)
		return;
	/* no pty, or not running: nothing to resize */
	if (!process->terminal || process->status != CONTAINERD__V1__TYPES__STATUS__RUNNING) {
		cocoon_ttrpc_call_return_message(call, NULL);
		return;
	}
	agent_request.container_id = request->id;
	agent_request.exec_id = process->exec_id;
	agent_request.rows = request->height;
	agent_request.cols = request->width;
	AGENT_CALL(sandbox, "ResizeTty", cocoon_agent_client_resize_tty, &agent_request, &error);
	return_empty(call, error);
}

void
cocoon_sandbox_task_close_io(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			     ProtobufCMessage *message)
{
	Containerd__Task__V2__CloseIORequest *request =
		(Containerd__Task__V2__CloseIORequest *)message;
	CocoonProcess *process = cocoon_sandbox_lookup_process_or_return(sandbox, call, request->id,
									 request->exec_id);

	if (process == NULL)
		return;
	if (request->stdin && !process->stdin_closed) {
		process->stdin_closed = TRUE;
		/* our held writer goes; the client's close then reads as EOF and reaches the guest
		 */
		cocoon_stdio_close_stdin_holder(&process->stdio);
	}
	cocoon_ttrpc_call_return_message(call, NULL);
}

/*
 * limits above the VM's size cannot be met inside it: say so instead of pretending (hot-plug of
 * vCPUs and memory is not implemented yet)
 */
static gboolean
update_fits_vm(CocoonSandbox *sandbox, Containerd__Task__V2__UpdateTaskRequest *request,
	       GError **error)
{
	CocoonConfig *config = cocoon_sandbox_get_config(sandbox);
	g_autoptr(CocoonJson) resources = NULL;
	CocoonJson *memory, *cpu;
	gint64 limit = 0, quota = 0;
	guint64 period = 0;
	guint64 vm_bytes = (guint64)config->memory_mib << 20;

	resources = cocoon_json_parse((const gchar *)request->resources->value.data,
				      request->resources->value.len, error);
	if (resources == NULL || !cocoon_json_is_object(resources)) {
		g_clear_error(error);
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT,
			    "update %s: resources (%s) are not a JSON object: invalid argument",
			    request->id, request->resources->type_url);
		return FALSE;
	}
	memory = cocoon_json_object_get_object_member(resources, "memory");
	if (memory != NULL && cocoon_json_object_get_int64_member(memory, "limit", &limit, NULL) &&
	    limit > 0 && (guint64)limit > vm_bytes) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
			    "update %s: memory limit %" G_GINT64_FORMAT " bytes exceeds the VM's "
			    "%u MiB (hypervisor.memory_mib); memory hot-plug is not supported yet: "
			    "failed precondition",
			    request->id, limit, config->memory_mib);
		return FALSE;
	}
	cpu = cocoon_json_object_get_object_member(resources, "cpu");
	if (cpu != NULL && cocoon_json_object_get_int64_member(cpu, "quota", &quota, NULL) &&
	    cocoon_json_object_get_uint64_member(cpu, "period", &period, NULL) && quota > 0 &&
	    period > 0 && (guint64)quota > period * config->vcpus) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
			    "update %s: cpu quota %" G_GINT64_FORMAT "/%" G_GUINT64_FORMAT
			    " asks for more than the VM's %u vCPUs (hypervisor.vcpus); vCPU "
			    "hot-plug is "
			    "not supported yet: failed precondition",
			    request->id, quota, period, config->vcpus);
		return FALSE;
	}
	return TRUE;
}

void
cocoon_sandbox_task_update(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__UpdateTaskRequest *request =
		(Containerd__Task__V2__UpdateTaskRequest *)message;
	Cocoon__Agent__V1__UpdateContainerRequest agent_request =
		COCOON__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	CocoonContainer *container =
		cocoon_sandbox_lookup_container_or_return(sandbox, call, request->id);

	if (container == NULL)
		return;
	if (container->init == NULL ||
	    container->init->status == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_FAILED_PRECONDITION,
			"update %s: container is not running: failed precondition", request->id);
		return;
	}
	if (request->resources == NULL) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "update %s: no resources: invalid argument",
					       request->id);
		return;
	}
	if (!update_fits_vm(sandbox, request, &error)) {
		return_error(call, error);
		return;
	}
	agent_request.container_id = request->id;
	agent_request.resources_json = request->resources->value;
	AGENT_CALL(sandbox, "UpdateContainer", cocoon_agent_client_update_container, &agent_request,
		   &error);
	return_empty(call, error);
}

void
cocoon_sandbox_task_stats(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__StatsRequest *request = (Containerd__Task__V2__StatsRequest *)message;
	Containerd__Task__V2__StatsResponse response = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
	Cocoon__Agent__V1__StatsContainerRequest agent_request =
		COCOON__AGENT__V1__STATS_CONTAINER_REQUEST__INIT;
	Cocoon__Agent__V1__StatsContainerResponse *agent_response;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *buf = NULL;
	CocoonContainer *container = cocoon_sandbox_lookup_container(sandbox, request->id, &error);

	if (container == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	if (container->init == NULL ||
	    container->init->status == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_NOT_FOUND,
					       "stats %s: container is not running: not found",
					       request->id);
		return;
	}
	agent_request.container_id = request->id;
	agent_response = AGENT_CALL(sandbox, "StatsContainer", cocoon_agent_client_stats_container,
				    &agent_request, &error);
	if (agent_response == NULL) {
		return_error(call, error);
		return;
	}
	{
		Io__Containerd__Cgroups__V2__Metrics empty =
			IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
		g_autoptr(GBytes) value = NULL;
		gsize size;
		cocoon_metrics_drop_unknown_fields(agent_response->metrics);
		any.type_url = (gchar *)cocoon_metrics_pack(
			agent_response->metrics != NULL ? agent_response->metrics : &empty,
			sandbox->cgroup_mode, &value);
		buf = g_bytes_unref_to_data(g_steal_pointer(&value), &size);
		any.value.data = buf;
		any.value.len = size;
	}
	response.stats = &any;
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
	cocoon__agent__v1__stats_container_response__free_unpacked(agent_response, NULL);
}
