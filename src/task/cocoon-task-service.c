/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-task"

#include "config.h"

#include "cocoon-task-service.h"

#include <gio/gio.h>

#include "cocoon-sandbox.h"
#include "cocoon-shim-util.h"
#include "shim.pb-c.h"

typedef struct _TaskRoute TaskRoute;

typedef struct {
	CocoonRuntime *runtime;
	GSourceFunc shutdown_func;
	gpointer shutdown_data;
	/* one per method of the service descriptor, the user data of its handler */
	TaskRoute *routes;
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
dispatch(CocoonTtrpcCall *call, ProtobufCMessage *request, CocoonSandboxTaskFunc func,
	 gboolean in_place)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonSandbox) sandbox = NULL;
	const gchar *id, *exec_id;

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
handle_create(CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonSandbox) sandbox = NULL;
	g_autofree gchar *group = NULL;
	Containerd__Task__V2__CreateTaskRequest *request =
		(Containerd__Task__V2__CreateTaskRequest *)message;

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
			cocoon_sandbox_queue(sandbox, cocoon_sandbox_task_create, call, message);
			return;
		}
	}
	protobuf_c_message_free_unpacked(message, NULL);
}

static void
handle_shutdown(CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__ShutdownRequest *request =
		(Containerd__Task__V2__ShutdownRequest *)message;
	guint left = cocoon_runtime_count_containers(service.runtime);

	cocoon_ttrpc_call_return_message(call, NULL);
	if (left == 0 || request->now) {
		g_info("shutdown requested by %s, %u containers left: exiting", request->id, left);
		/* reply first, exit afterwards */
		g_idle_add(service.shutdown_func, service.shutdown_data);
	} else {
		g_debug("shutdown for %s ignored: %u containers left", request->id, left);
	}
	protobuf_c_message_free_unpacked(message, NULL);
}

/*
 * how each method of containerd.task.v2.Task is answered, by its name in proto/shim.proto (the
 * request type comes from the service descriptor): queued to the container's sandbox (sandbox_func,
 * in_place: see dispatch()), answered here (func, which owns the request), or not supported
 * (unimplemented: why). A method without a row answers UNIMPLEMENTED too.
 */
typedef struct {
	const gchar *method;
	CocoonSandboxTaskFunc sandbox_func;
	gboolean in_place;
	void (*func)(CocoonTtrpcCall *call, ProtobufCMessage *request);
	const gchar *unimplemented;
} TaskHandler;

static const TaskHandler handlers[] = {
	{"State", .sandbox_func = cocoon_sandbox_task_state, .in_place = TRUE},
	{"Create", .func = handle_create},
	{"Start", .sandbox_func = cocoon_sandbox_task_start},
	{"Delete", .sandbox_func = cocoon_sandbox_task_delete},
	{"Pids", .sandbox_func = cocoon_sandbox_task_pids},
	{"Pause", .sandbox_func = cocoon_sandbox_task_pause},
	{"Resume", .sandbox_func = cocoon_sandbox_task_resume},
	{"Checkpoint",
	 .unimplemented =
		 "checkpointing a container out of its VM is not supported by cocoon; "
		 "stop and re-create the task, or use a runc runtime for CRIU checkpoints"},
	{"Kill", .sandbox_func = cocoon_sandbox_task_kill},
	{"Exec", .sandbox_func = cocoon_sandbox_task_exec},
	{"ResizePty", .sandbox_func = cocoon_sandbox_task_resize_pty},
	{"CloseIO", .sandbox_func = cocoon_sandbox_task_close_io},
	{"Update", .sandbox_func = cocoon_sandbox_task_update},
	{"Wait", .sandbox_func = cocoon_sandbox_task_wait},
	{"Stats", .sandbox_func = cocoon_sandbox_task_stats},
	{"Connect", .sandbox_func = cocoon_sandbox_task_connect},
	{"Shutdown", .func = handle_shutdown},
};

/* one method of the descriptor and its row (NULL: none) */
struct _TaskRoute {
	const ProtobufCMethodDescriptor *method;
	const TaskHandler *handler;
};

static const TaskHandler *
lookup_handler(const gchar *method)
{
	for (guint i = 0; i < G_N_ELEMENTS(handlers); i++) {
		if (g_str_equal(handlers[i].method, method))
			return &handlers[i];
	}
	return NULL;
}

static void
handle_method(CocoonTtrpcCall *call, gpointer user_data)
{
	const TaskRoute *route = user_data;
	const TaskHandler *handler = route->handler;
	ProtobufCMessage *request;

	if (handler == NULL || handler->unimplemented != NULL) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_UNIMPLEMENTED,
					       "%s: %s: not implemented", route->method->name,
					       handler != NULL ? handler->unimplemented
							       : "cocoon does not serve it");
		return;
	}
	request = unpack_or_fail(call, route->method->input);
	if (request == NULL)
		return;
	if (handler->func != NULL)
		handler->func(call, request);
	else
		dispatch(call, request, handler->sandbox_func, handler->in_place);
}

/**
 * cocoon_task_service_method_status:
 *
 * How a method of containerd.task.v2.Task is answered: by a handler, explicitly as unimplemented,
 * or (MISSING) by the generic UNIMPLEMENTED for a method the table lacks.
 */
CocoonTaskMethodStatus
cocoon_task_service_method_status(const gchar *method)
{
	const TaskHandler *handler = lookup_handler(method);

	if (handler == NULL)
		return COCOON_TASK_METHOD_MISSING;
	if (handler->unimplemented != NULL)
		return COCOON_TASK_METHOD_UNIMPLEMENTED;
	return COCOON_TASK_METHOD_HANDLED;
}

/**
 * cocoon_task_service_check:
 *
 * FALSE, naming them, when a method of the service descriptor has no row in the table or a row
 * names no method of the descriptor (a typo, or a method removed from proto/shim.proto).
 */
gboolean
cocoon_task_service_check(GError **error)
{
	const ProtobufCServiceDescriptor *descriptor = &containerd__task__v2__task__descriptor;
	g_autoptr(GString) problems = g_string_new(NULL);

	for (guint i = 0; i < descriptor->n_methods; i++) {
		if (lookup_handler(descriptor->methods[i].name) == NULL)
			g_string_append_printf(problems, " %s (no handler)",
					       descriptor->methods[i].name);
	}
	for (guint i = 0; i < G_N_ELEMENTS(handlers); i++) {
		if (protobuf_c_service_descriptor_get_method_by_name(descriptor,
								     handlers[i].method) == NULL)
			g_string_append_printf(problems, " %s (not in the service)",
					       handlers[i].method);
	}
	if (problems->len > 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s:%s", descriptor->name,
			    problems->str);
		return FALSE;
	}
	return TRUE;
}

void
cocoon_task_service_register(CocoonTtrpcServer *server, CocoonRuntime *runtime,
			     GSourceFunc shutdown_func, gpointer shutdown_data)
{
	const ProtobufCServiceDescriptor *descriptor = &containerd__task__v2__task__descriptor;
	g_autoptr(GError) error = NULL;

	if (!cocoon_task_service_check(&error))
		g_warning("task service: %s", error->message);
	service.runtime = runtime;
	service.shutdown_func = shutdown_func;
	service.shutdown_data = shutdown_data;
	/* the routes live as long as the process, like the server's handlers */
	g_free(service.routes);
	service.routes = g_new0(TaskRoute, descriptor->n_methods);
	for (guint i = 0; i < descriptor->n_methods; i++) {
		TaskRoute *route = &service.routes[i];

		route->method = &descriptor->methods[i];
		route->handler = lookup_handler(route->method->name);
		/* containerd.task.v3.Task is the same service under another name */
		cocoon_ttrpc_server_register(server, "containerd.task.v2.Task", route->method->name,
					     handle_method, route, NULL);
		cocoon_ttrpc_server_register(server, "containerd.task.v3.Task", route->method->name,
					     handle_method, route, NULL);
	}
}
