/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-task"

#include "config.h"

#include "cocoon-task-service.h"

#include <gio/gio.h>

#include "cocoon-sandbox.h"
#include "cocoon-shim-util.h"
#include "shim.pb-c.h"

typedef struct {
	CocoonRuntime *runtime;
	GSourceFunc shutdown_func;
	gpointer shutdown_data;
} TaskService;

static TaskService service;

/* every task request starts with its id (field 1); most have exec_id as field 2 */
static gboolean
validate_ids(const gchar *method, const gchar *id, const gchar *exec_id, GError **error)
{
	if (!cocoon_identifier_validate("id", id, error) ||
	    (exec_id != NULL && exec_id[0] != '\0' &&
	     !cocoon_identifier_validate("exec id", exec_id, error))) {
		g_prefix_error(error, "%s: ", method);
		return FALSE;
	}
	return TRUE;
}

static ProtobufCMessage *
unpack_or_fail(CocoonTtrpcCall *call, const ProtobufCMessageDescriptor *descriptor)
{
	g_autoptr(GError) error = NULL;
	ProtobufCMessage *message = cocoon_ttrpc_call_unpack(call, descriptor, &error);
	if (message == NULL)
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT, "%s: %s",
					       cocoon_ttrpc_call_get_method(call), error->message);
	return message;
}

/* field 1 (id) and 2 (exec_id) of a task request, when the message has them */
static void
message_ids(ProtobufCMessage *message, const gchar **ret_id, const gchar **ret_exec_id)
{
	const ProtobufCFieldDescriptor *f1 =
		protobuf_c_message_descriptor_get_field(message->descriptor, 1);
	const ProtobufCFieldDescriptor *f2 =
		protobuf_c_message_descriptor_get_field(message->descriptor, 2);
	*ret_id = NULL;
	*ret_exec_id = NULL;
	if (f1 != NULL && f1->type == PROTOBUF_C_TYPE_STRING && g_str_equal(f1->name, "id"))
		*ret_id = *(const gchar **)((const guint8 *)message + f1->offset);
	if (f2 != NULL && f2->type == PROTOBUF_C_TYPE_STRING && g_str_equal(f2->name, "exec_id"))
		*ret_exec_id = *(const gchar **)((const guint8 *)message + f2->offset);
}

/*
 * route a request for an existing container to its sandbox: queued to the sandbox's worker, or
 * (in_place, for State: it only reads what the worker publishes under its state lock) answered
 * here on the main context, without the two thread switches of the queue
 */
static void
dispatch_full(CocoonTtrpcCall *call, const ProtobufCMessageDescriptor *descriptor,
	      CocoonSandboxTaskFunc func, gboolean in_place)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonSandbox) sandbox = NULL;
	ProtobufCMessage *request = unpack_or_fail(call, descriptor);
	const gchar *id, *exec_id;

	if (request == NULL)
		return;
	message_ids(request, &id, &exec_id);
	if (!validate_ids(cocoon_ttrpc_call_get_method(call), id, exec_id, &error)) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "%s: invalid argument", error->message);
		protobuf_c_message_free_unpacked(request, NULL);
		return;
	}
	sandbox = cocoon_runtime_lookup_container(service.runtime, id);
	if (sandbox == NULL) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_NOT_FOUND,
					       "%s: container %s does not exist: not found",
					       cocoon_ttrpc_call_get_method(call), id);
		protobuf_c_message_free_unpacked(request, NULL);
		return;
	}
	if (in_place) {
		func(sandbox, call, request);
		protobuf_c_message_free_unpacked(request, NULL);
		return;
	}
	cocoon_sandbox_queue(sandbox, func, call, request);
}

static void
dispatch(CocoonTtrpcCall *call, const ProtobufCMessageDescriptor *descriptor,
	 CocoonSandboxTaskFunc func)
{
	dispatch_full(call, descriptor, func, FALSE);
}

#define TASK_HANDLER(name, type, func)                                                             \
	static void handle_##name(CocoonTtrpcCall *call, gpointer user_data)                       \
	{                                                                                          \
		dispatch(call, &containerd__task__v2__##type##__descriptor, func);                 \
	}

TASK_HANDLER(start, start_request, cocoon_sandbox_task_start)
TASK_HANDLER(delete, delete_request, cocoon_sandbox_task_delete)
TASK_HANDLER(pids, pids_request, cocoon_sandbox_task_pids)
TASK_HANDLER(pause, pause_request, cocoon_sandbox_task_pause)
TASK_HANDLER(resume, resume_request, cocoon_sandbox_task_resume)
TASK_HANDLER(kill, kill_request, cocoon_sandbox_task_kill)
TASK_HANDLER(exec, exec_process_request, cocoon_sandbox_task_exec)
TASK_HANDLER(resize_pty, resize_pty_request, cocoon_sandbox_task_resize_pty)
TASK_HANDLER(close_io, close_iorequest, cocoon_sandbox_task_close_io)
TASK_HANDLER(update, update_task_request, cocoon_sandbox_task_update)
TASK_HANDLER(wait, wait_request, cocoon_sandbox_task_wait)
TASK_HANDLER(stats, stats_request, cocoon_sandbox_task_stats)
TASK_HANDLER(connect, connect_request, cocoon_sandbox_task_connect)

static void
handle_state(CocoonTtrpcCall *call, gpointer user_data)
{
	dispatch_full(call, &containerd__task__v2__state_request__descriptor,
		      cocoon_sandbox_task_state, TRUE);
}

static void
handle_create(CocoonTtrpcCall *call, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonSandbox) sandbox = NULL;
	g_autofree gchar *group = NULL;
	Containerd__Task__V2__CreateTaskRequest *request =
		(Containerd__Task__V2__CreateTaskRequest *)unpack_or_fail(
			call, &containerd__task__v2__create_task_request__descriptor);

	if (request == NULL)
		return;
	if (!validate_ids("Create", request->id, NULL, &error)) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "%s: invalid argument", error->message);
	} else if ((sandbox = cocoon_runtime_lookup_container(service.runtime, request->id)) !=
		   NULL) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_ALREADY_EXISTS,
					       "Create %s: container already exists", request->id);
	} else if (request->bundle == NULL || !g_path_is_absolute(request->bundle) ||
		   strstr(request->bundle, "/../") != NULL ||
		   g_str_has_suffix(request->bundle, "/..")) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_INVALID_ARGUMENT,
			"Create %s: bundle \"%s\" is not a clean absolute path: "
			"invalid argument",
			request->id, request->bundle ? request->bundle : "");
	} else if (request->checkpoint != NULL && request->checkpoint[0] != '\0') {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_UNIMPLEMENTED,
			"Create %s: restoring from a checkpoint is not supported "
			"by cocoon (VM snapshots are planned): not implemented",
			request->id);
	} else if ((group = cocoon_shim_read_group(request->bundle, request->id, NULL, &error)) ==
		   NULL) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "Create %s: %s: invalid argument", request->id,
					       error->message);
	} else {
		sandbox = cocoon_runtime_ensure_sandbox(service.runtime, group);
		if (!cocoon_runtime_claim_container(service.runtime, request->id, sandbox)) {
			cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_ALREADY_EXISTS,
						       "Create %s: container already exists",
						       request->id);
		} else {
			cocoon_sandbox_queue(sandbox, cocoon_sandbox_task_create, call,
					     (ProtobufCMessage *)request);
			return;
		}
	}
	protobuf_c_message_free_unpacked((ProtobufCMessage *)request, NULL);
}

static void
handle_checkpoint(CocoonTtrpcCall *call, gpointer user_data)
{
	cocoon_ttrpc_call_return_error(
		call, COCOON_TTRPC_UNIMPLEMENTED,
		"Checkpoint: checkpointing a container out of its VM is not supported by cocoon; "
		"stop and re-create the task, or use a runc runtime for CRIU checkpoints: "
		"not implemented");
}

static void
handle_shutdown(CocoonTtrpcCall *call, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	Containerd__Task__V2__ShutdownRequest *request =
		(Containerd__Task__V2__ShutdownRequest *)unpack_or_fail(
			call, &containerd__task__v2__shutdown_request__descriptor);
	guint left;

	if (request == NULL)
		return;
	left = cocoon_runtime_count_containers(service.runtime);
	cocoon_ttrpc_call_return_message(call, NULL);
	if (left == 0 || request->now) {
		g_info("shutdown requested by %s, %u containers left: exiting", request->id, left);
		/* reply first, exit afterwards */
		g_idle_add(service.shutdown_func, service.shutdown_data);
	} else {
		g_debug("shutdown for %s ignored: %u containers left", request->id, left);
	}
	protobuf_c_message_free_unpacked((ProtobufCMessage *)request, NULL);
}

void
cocoon_task_service_register(CocoonTtrpcServer *server, CocoonRuntime *runtime,
			     GSourceFunc shutdown_func, gpointer shutdown_data)
{
	static const struct {
		const gchar *method;
		CocoonTtrpcHandler handler;
	} methods[] = {
		{"State", handle_state},
		{"Create", handle_create},
		{"Start", handle_start},
		{"Delete", handle_delete},
		{"Pids", handle_pids},
		{"Pause", handle_pause},
		{"Resume", handle_resume},
		{"Checkpoint", handle_checkpoint},
		{"Kill", handle_kill},
		{"Exec", handle_exec},
		{"ResizePty", handle_resize_pty},
		{"CloseIO", handle_close_io},
		{"Update", handle_update},
		{"Wait", handle_wait},
		{"Stats", handle_stats},
		{"Connect", handle_connect},
		{"Shutdown", handle_shutdown},
	};

	service.runtime = runtime;
	service.shutdown_func = shutdown_func;
	service.shutdown_data = shutdown_data;
	for (guint i = 0; i < G_N_ELEMENTS(methods); i++) {
		cocoon_ttrpc_server_register(server, "containerd.task.v2.Task", methods[i].method,
					     methods[i].handler, NULL, NULL);
		cocoon_ttrpc_server_register(server, "containerd.task.v3.Task", methods[i].method,
					     methods[i].handler, NULL, NULL);
	}
}
