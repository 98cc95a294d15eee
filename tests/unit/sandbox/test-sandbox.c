/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sandbox worker, its Task handlers and the process model behind the real task service
 * (containerd's side: a ttrpc client), against a scripted fake agent on a thread of its own: no
 * root, containerd or QEMU. The host side of Create (network namespace, rootfs mounts) needs root
 * and is left to the e2e tests: each test starts from containers as a successful Create leaves
 * them (created in the guest, their init's exit watched), set up on the worker.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-agent-client.h"
#include "cocoon-process.h"
#include "cocoon-sandbox-task.h"
#include "cocoon-task-service.h"
#include "cocoon-ttrpc-client.h"
#include "cocoon-ttrpc-server.h"
#include "google/protobuf/empty.pb-c.h"
#include "shim.pb-c.h"
#include "task-events.pb-c.h"

#define SANDBOX_ID   "sb-test"
#define TASK_SERVICE "containerd.task.v2.Task"
#define CALL_TIMEOUT (10 * 1000)

/* a thread that runs a loop on a context of its own */
typedef struct {
	GThread *thread;
	GMainContext *context;
	GMainLoop *loop;
} LoopThread;

static gpointer
loop_thread_run(gpointer data)
{
	LoopThread *thread = data;

	g_main_context_push_thread_default(thread->context);
	g_main_loop_run(thread->loop);
	while (g_main_context_iteration(thread->context, FALSE))
		;
	g_main_context_pop_thread_default(thread->context);
	return NULL;
}

static void
loop_thread_start(LoopThread *thread, const gchar *name)
{
	thread->context = g_main_context_new();
	thread->loop = g_main_loop_new(thread->context, FALSE);
	thread->thread = g_thread_new(name, loop_thread_run, thread);
}

static void
loop_thread_stop(LoopThread *thread)
{
	g_main_loop_quit(thread->loop);
	g_thread_join(thread->thread);
	g_main_loop_unref(thread->loop);
	g_main_context_unref(thread->context);
}

/* run func on that context and wait until it ran */
typedef struct {
	void (*func)(gpointer data);
	gpointer data;
	GMutex lock;
	GCond cond;
	gboolean done;
} Invoke;

static gboolean
invoke_cb(gpointer data)
{
	Invoke *invoke = data;

	invoke->func(invoke->data);
	g_mutex_lock(&invoke->lock);
	invoke->done = TRUE;
	g_cond_broadcast(&invoke->cond);
	g_mutex_unlock(&invoke->lock);
	return G_SOURCE_REMOVE;
}

static void
run_on(GMainContext *context, void (*func)(gpointer data), gpointer data)
{
	Invoke invoke = {.func = func, .data = data};

	g_mutex_init(&invoke.lock);
	g_cond_init(&invoke.cond);
	g_main_context_invoke(context, invoke_cb, &invoke);
	g_mutex_lock(&invoke.lock);
	while (!invoke.done)
		g_cond_wait(&invoke.cond, &invoke.lock);
	g_mutex_unlock(&invoke.lock);
	g_mutex_clear(&invoke.lock);
	g_cond_clear(&invoke.cond);
}

/* ---------------------------------------------------------------- the fake agent */

/* agent thread only, except calls (under the fixture's lock) */
typedef struct {
	LoopThread thread;
	CocoonTtrpcServer *server;
	GHashTable *waits; /* "container/exec" → held WaitProcess call */
	GHashTable *exits; /* "container/exec" → exit status + 1, for a WaitProcess still to come */
	GPtrArray *held;   /* other held calls (WaitEvent) */
	gboolean exit_at_start; /* a started init exits with 0 at once */
	guint next_pid;
} FakeAgent;

typedef struct {
	FakeAgent agent;
	LoopThread front; /* the runtime's main context: the task service */
	CocoonRuntime *runtime;
	CocoonSandbox *sandbox;
	CocoonTtrpcServer *server;
	CocoonTtrpcClient *client; /* containerd */
	CocoonAgentClient *agent_client;
	gint agent_fd; /* the agent's end of the connection */
	guint subscription;
	GMutex lock;
	GCond cond;
	GPtrArray *events;	/* "topic id status", in publish order */
	GPtrArray *agent_calls; /* method names, in call order */
} Fixture;

static Fixture *current; /* for the task funcs run on the worker, which take no user data */

static void
agent_log(FakeAgent *agent, const gchar *method)
{
	g_mutex_lock(&current->lock);
	g_ptr_array_add(current->agent_calls, g_strdup(method));
	g_mutex_unlock(&current->lock);
}

static void
agent_answer_wait(CocoonTtrpcCall *call, guint32 status)
{
	Cocoon__Agent__V1__WaitProcessResponse response =
		COCOON__AGENT__V1__WAIT_PROCESS_RESPONSE__INIT;

	response.exit_status = status;
	response.exited_at_ns = g_get_real_time() * 1000;
	/* nothing was written: the drain has nothing to wait for */
	response.output_offsets = TRUE;
	cocoon_ttrpc_call_return_message(call, &response.base);
}

static void
agent_exit(FakeAgent *agent, const gchar *container_id, const gchar *exec_id, guint32 status)
{
	g_autofree gchar *key = g_strdup_printf("%s/%s", container_id, exec_id);
	CocoonTtrpcCall *call = g_hash_table_lookup(agent->waits, key);

	if (call == NULL) {
		g_hash_table_insert(agent->exits, g_steal_pointer(&key),
				    GUINT_TO_POINTER(status + 1));
		return;
	}
	g_hash_table_remove(agent->waits, key);
	agent_answer_wait(call, status);
}

#define UNPACK(call, type, descriptor)                                                             \
	({                                                                                         \
		g_autoptr(GError) error_ = NULL;                                                   \
		type *request_ = (type *)cocoon_ttrpc_call_unpack(call, &descriptor, &error_);     \
		g_assert_no_error(error_);                                                         \
		request_;                                                                          \
	})

static void
handle_start_container(CocoonTtrpcCall *call, gpointer user_data)
{
	FakeAgent *agent = user_data;
	Cocoon__Agent__V1__StartContainerRequest *request =
		UNPACK(call, Cocoon__Agent__V1__StartContainerRequest,
		       cocoon__agent__v1__start_container_request__descriptor);
	Cocoon__Agent__V1__StartContainerResponse response =
		COCOON__AGENT__V1__START_CONTAINER_RESPONSE__INIT;

	agent_log(agent, "StartContainer");
	response.pid = agent->next_pid++;
	cocoon_ttrpc_call_return_message(call, &response.base);
	if (agent->exit_at_start)
		agent_exit(agent, request->container_id, "", 0);
	protobuf_c_message_free_unpacked(&request->base, NULL);
}

static void
handle_wait_process(CocoonTtrpcCall *call, gpointer user_data)
{
	FakeAgent *agent = user_data;
	Cocoon__Agent__V1__WaitProcessRequest *request =
		UNPACK(call, Cocoon__Agent__V1__WaitProcessRequest,
		       cocoon__agent__v1__wait_process_request__descriptor);
	g_autofree gchar *key = g_strdup_printf("%s/%s", request->container_id, request->exec_id);
	gpointer status = g_hash_table_lookup(agent->exits, key);

	agent_log(agent, "WaitProcess");
	if (status != NULL) {
		g_hash_table_remove(agent->exits, key);
		agent_answer_wait(call, GPOINTER_TO_UINT(status) - 1);
	} else {
		g_hash_table_insert(agent->waits, g_steal_pointer(&key), call);
	}
	protobuf_c_message_free_unpacked(&request->base, NULL);
}

static void
handle_signal_process(CocoonTtrpcCall *call, gpointer user_data)
{
	FakeAgent *agent = user_data;
	Cocoon__Agent__V1__SignalProcessRequest *request =
		UNPACK(call, Cocoon__Agent__V1__SignalProcessRequest,
		       cocoon__agent__v1__signal_process_request__descriptor);

	agent_log(agent, "SignalProcess");
	cocoon_ttrpc_call_return_message(call, NULL);
	agent_exit(agent, request->container_id, request->exec_id, 128 + request->signal);
	protobuf_c_message_free_unpacked(&request->base, NULL);
}

static void
handle_empty(CocoonTtrpcCall *call, gpointer user_data)
{
	agent_log(user_data, cocoon_ttrpc_call_get_method(call));
	cocoon_ttrpc_call_return_message(call, NULL);
}

static void
handle_hold(CocoonTtrpcCall *call, gpointer user_data)
{
	FakeAgent *agent = user_data;

	g_ptr_array_add(agent->held, call);
}

static void
agent_setup(gpointer data)
{
	FakeAgent *agent = data;
	const struct {
		const gchar *method;
		CocoonTtrpcHandler handler;
	} methods[] = {
		{"StartContainer", handle_start_container},
		{"WaitProcess", handle_wait_process},
		{"SignalProcess", handle_signal_process},
		{"RemoveContainer", handle_empty},
		{"Shutdown", handle_empty},
		{"WaitEvent", handle_hold},
	};

	agent->server = cocoon_ttrpc_server_new();
	for (guint i = 0; i < G_N_ELEMENTS(methods); i++)
		cocoon_ttrpc_server_register(agent->server, COCOON_AGENT_SERVICE, methods[i].method,
					     methods[i].handler, agent, NULL);
	agent->waits = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	agent->exits = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	agent->held = g_ptr_array_new();
	agent->next_pid = 100;
}

static void
agent_add_connection(gpointer data)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(cocoon_ttrpc_server_add_connection_fd(current->agent.server,
							    current->agent_fd, &error));
	g_assert_no_error(error);
}

static void
agent_teardown(gpointer data)
{
	FakeAgent *agent = data;
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, agent->waits);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		cocoon_ttrpc_call_return_error(value, COCOON_TTRPC_UNAVAILABLE, "agent stopping");
	for (guint i = 0; i < agent->held->len; i++)
		cocoon_ttrpc_call_return_error(agent->held->pdata[i], COCOON_TTRPC_UNAVAILABLE,
					       "agent stopping");
	g_hash_table_unref(agent->waits);
	g_hash_table_unref(agent->exits);
	g_ptr_array_unref(agent->held);
	cocoon_ttrpc_server_shutdown(agent->server);
	g_clear_pointer(&agent->server, cocoon_ttrpc_server_unref);
}

static void
agent_set_exit_at_start(gpointer data)
{
	current->agent.exit_at_start = TRUE;
}

/* ---------------------------------------------------------------- the shim side */

static void
on_event(const gchar *sandbox_id, const gchar *topic, const gchar *type_url,
	 const ProtobufCMessage *event, gpointer user_data)
{
	Fixture *fixture = user_data;
	g_autofree gchar *line = NULL;

	g_assert_cmpstr(sandbox_id, ==, SANDBOX_ID);
	if (g_str_equal(topic, "/tasks/exit")) {
		const Containerd__Events__TaskExit *exit =
			(const Containerd__Events__TaskExit *)event;
		line = g_strdup_printf("%s %s %u", topic, exit->id, exit->exit_status);
	} else if (g_str_equal(topic, "/tasks/start")) {
		line = g_strdup_printf(
			"%s %s", topic,
			((const Containerd__Events__TaskStart *)event)->container_id);
	} else if (g_str_equal(topic, "/tasks/delete")) {
		line = g_strdup_printf(
			"%s %s", topic,
			((const Containerd__Events__TaskDelete *)event)->container_id);
	} else {
		line = g_strdup(topic);
	}
	g_mutex_lock(&fixture->lock);
	g_ptr_array_add(fixture->events, g_steal_pointer(&line));
	g_cond_broadcast(&fixture->cond);
	g_mutex_unlock(&fixture->lock);
}

/* waits until that many events were published; a copy of them, in order */
static gchar *
wait_events(Fixture *fixture, guint n)
{
	gint64 deadline = g_get_monotonic_time() + CALL_TIMEOUT * 1000;
	g_autoptr(GString) out = g_string_new(NULL);

	g_mutex_lock(&fixture->lock);
	while (fixture->events->len < n)
		g_assert_true(g_cond_wait_until(&fixture->cond, &fixture->lock, deadline));
	for (guint i = 0; i < fixture->events->len; i++)
		g_string_append_printf(out, "%s%s", i > 0 ? "; " : "",
				       (gchar *)fixture->events->pdata[i]);
	g_mutex_unlock(&fixture->lock);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* on the worker: what a successful Create leaves (the host side of Create needs root) */
static const gchar *create_id;

static void
worker_create_container(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *request)
{
	CocoonContainer *container = g_new0(CocoonContainer, 1);

	if (sandbox->config == NULL)
		sandbox->config = cocoon_config_copy(cocoon_runtime_get_config(sandbox->runtime));
	cocoon_sandbox_ensure_pod_vm(sandbox);
	cocoon_pod_vm_set_agent(sandbox->vm, current->agent_client);
	container->sandbox = sandbox;
	container->id = g_strdup(create_id);
	container->bundle = g_strdup("/nonexistent");
	container->container_type = g_strdup("container");
	container->execs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
						 (GDestroyNotify)cocoon_process_free);
	g_mutex_lock(&sandbox->state_lock);
	g_hash_table_insert(sandbox->containers, container->id, container);
	container->init = cocoon_process_new(container, "", FALSE, "", "", "");
	container->init->pid = 42;
	g_mutex_unlock(&sandbox->state_lock);
	container->created_in_guest = TRUE;
	cocoon_process_watch_exit(sandbox, container->init);
}

/* queued work runs in order: once this ran, everything queued before did */
static gboolean worker_synced;

static void
worker_sync(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *request)
{
	g_mutex_lock(&current->lock);
	worker_synced = TRUE;
	g_cond_broadcast(&current->cond);
	g_mutex_unlock(&current->lock);
}

static void
queue_and_wait(Fixture *fixture, CocoonSandboxTaskFunc func)
{
	worker_synced = FALSE;
	cocoon_sandbox_queue(fixture->sandbox, func, NULL, NULL);
	cocoon_sandbox_queue(fixture->sandbox, worker_sync, NULL, NULL);
	g_mutex_lock(&fixture->lock);
	while (!worker_synced)
		g_cond_wait(&fixture->cond, &fixture->lock);
	g_mutex_unlock(&fixture->lock);
}

static void
create_container(Fixture *fixture, const gchar *id)
{
	create_id = id;
	g_assert_true(cocoon_runtime_claim_container(fixture->runtime, id, fixture->sandbox));
	queue_and_wait(fixture, worker_create_container);
}

static ProtobufCMessage *
task_call(Fixture *fixture, const gchar *method, const ProtobufCMessage *request,
	  const ProtobufCMessageDescriptor *response_descriptor, GError **error)
{
	return cocoon_ttrpc_client_call_message(fixture->client, TASK_SERVICE, method, request,
						response_descriptor, CALL_TIMEOUT, NULL, error);
}

static guint32
task_start(Fixture *fixture, const gchar *id)
{
	Containerd__Task__V2__StartRequest request = CONTAINERD__TASK__V2__START_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	Containerd__Task__V2__StartResponse *response;
	guint32 pid;

	request.id = (gchar *)id;
	response = (Containerd__Task__V2__StartResponse *)task_call(
		fixture, "Start", &request.base, &containerd__task__v2__start_response__descriptor,
		&error);
	g_assert_no_error(error);
	pid = response->pid;
	protobuf_c_message_free_unpacked(&response->base, NULL);
	return pid;
}

static void
task_kill(Fixture *fixture, const gchar *id, guint32 signal)
{
	Containerd__Task__V2__KillRequest request = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	ProtobufCMessage *response;

	request.id = (gchar *)id;
	request.signal = signal;
	response = task_call(fixture, "Kill", &request.base, &google__protobuf__empty__descriptor,
			     &error);
	g_assert_no_error(error);
	protobuf_c_message_free_unpacked(response, NULL);
}

static Containerd__V1__Types__Status
task_state(Fixture *fixture, const gchar *id, guint32 *ret_exit_status)
{
	Containerd__Task__V2__StateRequest request = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	Containerd__Task__V2__StateResponse *response;
	Containerd__V1__Types__Status status;

	request.id = (gchar *)id;
	response = (Containerd__Task__V2__StateResponse *)task_call(
		fixture, "State", &request.base, &containerd__task__v2__state_response__descriptor,
		&error);
	g_assert_no_error(error);
	status = response->status;
	*ret_exit_status = response->exit_status;
	protobuf_c_message_free_unpacked(&response->base, NULL);
	return status;
}

static guint32
task_delete(Fixture *fixture, const gchar *id, GError **error)
{
	Containerd__Task__V2__DeleteRequest request = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
	Containerd__Task__V2__DeleteResponse *response;
	guint32 status;

	request.id = (gchar *)id;
	response = (Containerd__Task__V2__DeleteResponse *)task_call(
		fixture, "Delete", &request.base,
		&containerd__task__v2__delete_response__descriptor, error);
	if (response == NULL)
		return G_MAXUINT32;
	status = response->exit_status;
	protobuf_c_message_free_unpacked(&response->base, NULL);
	return status;
}

/* Wait blocks until the exit: on a thread of its own, like containerd's */
typedef struct {
	Fixture *fixture;
	gchar *id;
	GThread *thread;
	guint32 exit_status;
} Waiter;

static gpointer
waiter_thread(gpointer data)
{
	Waiter *waiter = data;
	Containerd__Task__V2__WaitRequest request = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	Containerd__Task__V2__WaitResponse *response;

	request.id = waiter->id;
	response = (Containerd__Task__V2__WaitResponse *)task_call(
		waiter->fixture, "Wait", &request.base,
		&containerd__task__v2__wait_response__descriptor, &error);
	g_assert_no_error(error);
	waiter->exit_status = response->exit_status;
	protobuf_c_message_free_unpacked(&response->base, NULL);
	return NULL;
}

static Waiter *
waiter_start(Fixture *fixture, const gchar *id)
{
	Waiter *waiter = g_new0(Waiter, 1);

	waiter->fixture = fixture;
	waiter->id = g_strdup(id);
	waiter->thread = g_thread_new("wait", waiter_thread, waiter);
	return waiter;
}

static guint32
waiter_finish(Waiter *waiter)
{
	guint32 status;

	g_thread_join(waiter->thread);
	status = waiter->exit_status;
	g_free(waiter->id);
	g_free(waiter);
	return status;
}

static void
front_setup(gpointer data)
{
	Fixture *fixture = data;
	g_autoptr(GError) error = NULL;
	int fds[2];

	fixture->server = cocoon_ttrpc_server_new();
	cocoon_task_service_register(fixture->server, fixture->runtime, NULL, NULL);
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
	g_assert_true(cocoon_ttrpc_server_add_connection_fd(fixture->server, fds[0], &error));
	g_assert_no_error(error);
	fixture->client = cocoon_ttrpc_client_new_for_fd(fds[1], &error);
	g_assert_no_error(error);
}

static void
front_teardown(gpointer data)
{
	Fixture *fixture = data;

	cocoon_ttrpc_server_shutdown(fixture->server);
	g_clear_pointer(&fixture->server, cocoon_ttrpc_server_unref);
}

static void
fixture_setup(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonTtrpcClient) ttrpc = NULL;
	int fds[2];

	current = fixture;
	g_mutex_init(&fixture->lock);
	g_cond_init(&fixture->cond);
	fixture->events = g_ptr_array_new_with_free_func(g_free);
	fixture->agent_calls = g_ptr_array_new_with_free_func(g_free);

	loop_thread_start(&fixture->agent.thread, "fake-agent");
	run_on(fixture->agent.thread.context, agent_setup, &fixture->agent);
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
	fixture->agent_fd = fds[0];
	run_on(fixture->agent.thread.context, agent_add_connection, NULL);
	ttrpc = cocoon_ttrpc_client_new_for_fd(fds[1], &error);
	g_assert_no_error(error);
	fixture->agent_client = cocoon_agent_client_new(ttrpc, SANDBOX_ID);
	cocoon_agent_client_set_default_timeout(fixture->agent_client, CALL_TIMEOUT);

	loop_thread_start(&fixture->front, "front");
	fixture->runtime =
		cocoon_runtime_new(cocoon_config_new_default(), "test-ns", fixture->front.context);
	fixture->subscription = cocoon_event_bus_subscribe(
		cocoon_runtime_get_event_bus(fixture->runtime), on_event, fixture);
	fixture->sandbox = cocoon_runtime_ensure_sandbox(fixture->runtime, SANDBOX_ID);
	run_on(fixture->front.context, front_setup, fixture);
}

static void
fixture_teardown(Fixture *fixture, gconstpointer data)
{
	cocoon_ttrpc_client_close(fixture->client);
	g_clear_pointer(&fixture->client, cocoon_ttrpc_client_unref);
	run_on(fixture->front.context, front_teardown, fixture);
	cocoon_event_bus_unsubscribe(cocoon_runtime_get_event_bus(fixture->runtime),
				     fixture->subscription);
	/* as the daemon does: what is left is torn down, the VM "stopped", the worker joined */
	cocoon_sandbox_stop(fixture->sandbox);
	g_clear_pointer(&fixture->sandbox, cocoon_sandbox_unref);
	g_clear_pointer(&fixture->runtime, cocoon_runtime_free);
	cocoon_agent_client_close(fixture->agent_client);
	g_clear_pointer(&fixture->agent_client, cocoon_agent_client_unref);
	run_on(fixture->agent.thread.context, agent_teardown, &fixture->agent);
	loop_thread_stop(&fixture->agent.thread);
	loop_thread_stop(&fixture->front);
	g_ptr_array_unref(fixture->events);
	g_ptr_array_unref(fixture->agent_calls);
	g_mutex_clear(&fixture->lock);
	g_cond_clear(&fixture->cond);
	current = NULL;
}

/* ---------------------------------------------------------------- tests */

/* Start, a Wait parked until the exit, Kill, the exit reported, State, Delete; in that order */
static void
test_start_kill_wait_delete(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *events = NULL;
	Waiter *waiter;
	guint32 exit_status = 0;

	create_container(fixture, "c1");
	g_assert_cmpuint(task_start(fixture, "c1"), ==, 100);
	g_assert_cmpint(task_state(fixture, "c1", &exit_status), ==,
			CONTAINERD__V1__TYPES__STATUS__RUNNING);
	waiter = waiter_start(fixture, "c1");
	/* a running process cannot be deleted */
	g_assert_cmpuint(task_delete(fixture, "c1", &error), ==, G_MAXUINT32);
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION);
	g_clear_error(&error);

	task_kill(fixture, "c1", SIGKILL);
	g_assert_cmpuint(waiter_finish(waiter), ==, 137);
	g_assert_cmpint(task_state(fixture, "c1", &exit_status), ==,
			CONTAINERD__V1__TYPES__STATUS__STOPPED);
	g_assert_cmpuint(exit_status, ==, 137);
	g_assert_cmpuint(task_delete(fixture, "c1", &error), ==, 137);
	g_assert_no_error(error);

	events = wait_events(fixture, 3);
	g_assert_cmpstr(events, ==, "/tasks/start c1; /tasks/exit c1 137; /tasks/delete c1");
	/* the last container went (after the reply): the VM was stopped, the guest asked first */
	queue_and_wait(fixture, worker_sync);
	g_mutex_lock(&fixture->lock);
	g_assert_cmpstr(fixture->agent_calls->pdata[fixture->agent_calls->len - 1], ==, "Shutdown");
	g_mutex_unlock(&fixture->lock);
	/* forgotten: the task service answers for c1 no more */
	g_assert_null(cocoon_runtime_lookup_container(fixture->runtime, "c1"));
}

/* a process that exits at once: TaskStart is still published before its TaskExit */
static void
test_start_before_exit(Fixture *fixture, gconstpointer data)
{
	g_autofree gchar *events = NULL;
	Waiter *waiter;

	run_on(fixture->agent.thread.context, agent_set_exit_at_start, NULL);
	create_container(fixture, "c1");
	waiter = waiter_start(fixture, "c1");
	g_assert_cmpuint(task_start(fixture, "c1"), ==, 100);
	g_assert_cmpuint(waiter_finish(waiter), ==, 0);
	events = wait_events(fixture, 2);
	g_assert_cmpstr(events, ==, "/tasks/start c1; /tasks/exit c1 0");
}

/* the guest goes away (a VM that died): every process, created or running, exits with 255 */
static void
test_guest_gone(Fixture *fixture, gconstpointer data)
{
	g_autofree gchar *events = NULL;
	Waiter *running, *created;
	guint32 exit_status = 0;

	create_container(fixture, "c1");
	create_container(fixture, "c2");
	g_assert_cmpuint(task_start(fixture, "c1"), ==, 100);
	running = waiter_start(fixture, "c1");
	created = waiter_start(fixture, "c2");
	/* the guest's end of the agent connection is gone */
	g_assert_cmpint(shutdown(fixture->agent_fd, SHUT_RDWR), ==, 0);
	g_assert_cmpuint(waiter_finish(running), ==, 255);
	g_assert_cmpuint(waiter_finish(created), ==, 255);
	g_assert_cmpint(task_state(fixture, "c2", &exit_status), ==,
			CONTAINERD__V1__TYPES__STATUS__STOPPED);
	g_assert_cmpuint(exit_status, ==, 255);
	events = wait_events(fixture, 3);
	g_assert_true(g_str_has_prefix(events, "/tasks/start c1; "));
	g_assert_nonnull(strstr(events, "/tasks/exit c1 255"));
	g_assert_nonnull(strstr(events, "/tasks/exit c2 255"));
}

/* the pod VM's died path, as QEMU's death calls it: every process that has not exited did */
static void
worker_fail_all(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *request)
{
	cocoon_sandbox_fail_all(sandbox, 255);
}

static void
test_fail_all(Fixture *fixture, gconstpointer data)
{
	g_autofree gchar *events = NULL;
	Waiter *running, *created;

	create_container(fixture, "c1");
	create_container(fixture, "c2");
	g_assert_cmpuint(task_start(fixture, "c1"), ==, 100);
	running = waiter_start(fixture, "c1");
	created = waiter_start(fixture, "c2");
	queue_and_wait(fixture, worker_fail_all);
	g_assert_cmpuint(waiter_finish(running), ==, 255);
	g_assert_cmpuint(waiter_finish(created), ==, 255);
	events = wait_events(fixture, 3);
	g_assert_nonnull(strstr(events, "/tasks/exit c1 255"));
	g_assert_nonnull(strstr(events, "/tasks/exit c2 255"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* a lost guest is warned about, and expected here; criticals stay fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_test_add("/sandbox/task/start-kill-wait-delete", Fixture, NULL, fixture_setup,
		   test_start_kill_wait_delete, fixture_teardown);
	g_test_add("/sandbox/task/start-before-exit", Fixture, NULL, fixture_setup,
		   test_start_before_exit, fixture_teardown);
	g_test_add("/sandbox/process/guest-gone", Fixture, NULL, fixture_setup, test_guest_gone,
		   fixture_teardown);
	g_test_add("/sandbox/process/fail-all", Fixture, NULL, fixture_setup, test_fail_all,
		   fixture_teardown);
	return g_test_run();
}
