/* SPDX-License-Identifier: Apache-2.0 */
/*
 * the agent client against a fake agent: a ttrpc server of the ttrpc library on a thread of its
 * own, with scripted answers, behind either its own listening socket or a "fake QEMU" socket that
 * accepts at once and holds the bytes until the "guest" opens its port, like virtio-serial does.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-agent-client.h"
#include "cocoon-fd.h"
#include "cocoon-ttrpc-server.h"

#define SANDBOX "test-sandbox"

typedef struct {
	GThread *thread;
	GMainContext *context;
	GMainLoop *loop;
	CocoonTtrpcServer *server;
	/* calls left hanging (agent thread only) */
	GPtrArray *held_calls;
	gint pings; /* atomic */
	GMutex lock;
	GCond cond;
	gboolean ready;
} FakeAgent;

typedef struct {
	gchar *dir;
	gchar *path;
	FakeAgent agent;
	/* the fake QEMU: a listening socket, and the thread that plays the guest booting */
	gint qemu_fd;
	GThread *qemu_thread;
	guint qemu_boot_ms;
	gboolean qemu_never_boots;
	gboolean qemu_drop_first;
	CocoonAgentClient *client;
} Fixture;

static void
handle_ping(CocoonTtrpcCall *call, gpointer user_data)
{
	FakeAgent *agent = user_data;
	Cocoon__Agent__V1__PingResponse response = COCOON__AGENT__V1__PING_RESPONSE__INIT;

	g_atomic_int_inc(&agent->pings);
	response.agent_version = (gchar *)"fake-1.0";
	response.uptime_ns = 42;
	cocoon_ttrpc_call_return_message(call, &response.base);
}

static void
handle_create_container(CocoonTtrpcCall *call, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	Cocoon__Agent__V1__CreateContainerResponse response =
		COCOON__AGENT__V1__CREATE_CONTAINER_RESPONSE__INIT;
	Cocoon__Agent__V1__CreateContainerRequest *request;

	request = (Cocoon__Agent__V1__CreateContainerRequest *)cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__create_container_request__descriptor, &error);
	if (request == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	if (g_strcmp0(request->container_id, "c1") != 0 || request->stdio == NULL) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT, "bad request");
	} else {
		response.pid = 1000 + request->stdio->stdout;
		cocoon_ttrpc_call_return_message(call, &response.base);
	}
	protobuf_c_message_free_unpacked(&request->base, NULL);
}

static void
handle_remove_container(CocoonTtrpcCall *call, gpointer user_data)
{
	cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_NOT_FOUND, "container nope not found");
}

static void
handle_empty(CocoonTtrpcCall *call, gpointer user_data)
{
	cocoon_ttrpc_call_return_message(call, NULL);
}

static void
handle_hang(CocoonTtrpcCall *call, gpointer user_data)
{
	FakeAgent *agent = user_data;

	/* answered (into the void) when the agent stops */
	g_ptr_array_add(agent->held_calls, call);
}

static gpointer
agent_thread(gpointer data)
{
	FakeAgent *agent = data;

	g_main_context_push_thread_default(agent->context);
	agent->server = cocoon_ttrpc_server_new();
	cocoon_ttrpc_server_register(agent->server, COCOON_AGENT_SERVICE, "Ping", handle_ping,
				     agent, NULL);
	cocoon_ttrpc_server_register(agent->server, COCOON_AGENT_SERVICE, "CreateContainer",
				     handle_create_container, agent, NULL);
	cocoon_ttrpc_server_register(agent->server, COCOON_AGENT_SERVICE, "RemoveContainer",
				     handle_remove_container, agent, NULL);
	cocoon_ttrpc_server_register(agent->server, COCOON_AGENT_SERVICE, "Shutdown", handle_empty,
				     agent, NULL);
	cocoon_ttrpc_server_register(agent->server, COCOON_AGENT_SERVICE, "StartContainer",
				     handle_hang, agent, NULL);
	cocoon_ttrpc_server_register(agent->server, COCOON_AGENT_SERVICE, "WaitProcess",
				     handle_hang, agent, NULL);

	g_mutex_lock(&agent->lock);
	agent->ready = TRUE;
	g_cond_broadcast(&agent->cond);
	g_mutex_unlock(&agent->lock);

	g_main_loop_run(agent->loop);

	for (guint i = 0; i < agent->held_calls->len; i++)
		cocoon_ttrpc_call_return_error(g_ptr_array_index(agent->held_calls, i),
					       COCOON_TTRPC_UNAVAILABLE, "agent stopping");
	g_ptr_array_set_size(agent->held_calls, 0);
	cocoon_ttrpc_server_shutdown(agent->server);
	/* let the server's sources finish on this context */
	while (g_main_context_iteration(agent->context, FALSE))
		;
	g_clear_pointer(&agent->server, cocoon_ttrpc_server_unref);
	while (g_main_context_iteration(agent->context, FALSE))
		;
	g_main_context_pop_thread_default(agent->context);
	return NULL;
}

static void
agent_start(FakeAgent *agent)
{
	g_mutex_init(&agent->lock);
	g_cond_init(&agent->cond);
	agent->context = g_main_context_new();
	agent->loop = g_main_loop_new(agent->context, FALSE);
	agent->held_calls = g_ptr_array_new();
	agent->thread = g_thread_new("fake-agent", agent_thread, agent);
	g_mutex_lock(&agent->lock);
	while (!agent->ready)
		g_cond_wait(&agent->cond, &agent->lock);
	g_mutex_unlock(&agent->lock);
}

static void
agent_stop(FakeAgent *agent)
{
	g_main_loop_quit(agent->loop);
	g_thread_join(agent->thread);
	g_main_loop_unref(agent->loop);
	g_main_context_unref(agent->context);
	g_ptr_array_unref(agent->held_calls);
	g_mutex_clear(&agent->lock);
	g_cond_clear(&agent->cond);
}

/* run func on the agent's thread and wait for it */
typedef struct {
	FakeAgent *agent;
	void (*func)(FakeAgent *agent, gpointer data);
	gpointer data;
	gboolean done;
} AgentInvoke;

static gboolean
agent_invoke_cb(gpointer data)
{
	AgentInvoke *invoke = data;

	invoke->func(invoke->agent, invoke->data);
	g_mutex_lock(&invoke->agent->lock);
	invoke->done = TRUE;
	g_cond_broadcast(&invoke->agent->cond);
	g_mutex_unlock(&invoke->agent->lock);
	return G_SOURCE_REMOVE;
}

static void
agent_invoke(FakeAgent *agent, void (*func)(FakeAgent *agent, gpointer data), gpointer data)
{
	AgentInvoke invoke = {agent, func, data, FALSE};

	g_main_context_invoke(agent->context, agent_invoke_cb, &invoke);
	g_mutex_lock(&agent->lock);
	while (!invoke.done)
		g_cond_wait(&agent->cond, &agent->lock);
	g_mutex_unlock(&agent->lock);
}

static void
do_listen(FakeAgent *agent, gpointer data)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(cocoon_ttrpc_server_listen_path(agent->server, data, &error));
	g_assert_no_error(error);
}

static void
do_add_connection(FakeAgent *agent, gpointer data)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(cocoon_ttrpc_server_add_connection_fd(agent->server, GPOINTER_TO_INT(data),
							    &error));
	g_assert_no_error(error);
}

static void
do_shutdown(FakeAgent *agent, gpointer data)
{
	cocoon_ttrpc_server_shutdown(agent->server);
}

static gint
listen_unix(const gchar *path)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	gint fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpuint(strlen(path), <, sizeof(address.sun_path));
	strcpy(address.sun_path, path);
	g_assert_cmpint(bind(fd, (struct sockaddr *)&address, sizeof(address)), ==, 0);
	g_assert_cmpint(listen(fd, 4), ==, 0);
	return fd;
}

/*
 * the fake QEMU: accepts at once (the chardev socket exists as soon as QEMU runs) but nothing is
 * read until the guest "boots" after qemu_boot_ms; then the agent serves the connection
 */
static gpointer
qemu_thread(gpointer data)
{
	Fixture *fixture = data;
	gint fd = accept4(fixture->qemu_fd, NULL, NULL, SOCK_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	if (fixture->qemu_drop_first) {
		/* QEMU restarted its chardev: the first connection drops */
		g_usleep(150 * 1000);
		close(fd);
		fd = accept4(fixture->qemu_fd, NULL, NULL, SOCK_CLOEXEC);
		g_assert_cmpint(fd, >=, 0);
	}
	if (fixture->qemu_never_boots) {
		/* keep it open, unread, until the test ends */
		return GINT_TO_POINTER(fd);
	}
	g_usleep(fixture->qemu_boot_ms * 1000);
	agent_invoke(&fixture->agent, do_add_connection, GINT_TO_POINTER(fd));
	return GINT_TO_POINTER(-1);
}

static void
qemu_start(Fixture *fixture)
{
	fixture->qemu_fd = listen_unix(fixture->path);
	fixture->qemu_thread = g_thread_new("fake-qemu", qemu_thread, fixture);
}

static void
fixture_setup(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fixture->dir = g_dir_make_tmp("cocoon-agent-test-XXXXXX", &error);
	g_assert_no_error(error);
	fixture->path = g_build_filename(fixture->dir, "agent.sock", NULL);
	fixture->qemu_fd = -1;
	agent_start(&fixture->agent);
}

static void
fixture_teardown(Fixture *fixture, gconstpointer data)
{
	g_clear_pointer(&fixture->client, cocoon_agent_client_unref);
	if (fixture->qemu_thread != NULL) {
		gint fd = GPOINTER_TO_INT(g_thread_join(fixture->qemu_thread));

		cocoon_fd_closep(&fd);
	}
	cocoon_fd_closep(&fixture->qemu_fd);
	agent_stop(&fixture->agent);
	g_unlink(fixture->path);
	g_rmdir(fixture->dir);
	g_free(fixture->path);
	g_free(fixture->dir);
}

/* a connected client on the agent's own listening socket */
static void
fixture_connect(Fixture *fixture)
{
	g_autoptr(GError) error = NULL;

	agent_invoke(&fixture->agent, do_listen, fixture->path);
	fixture->client = cocoon_agent_client_connect_wait(fixture->path, SANDBOX, 5000, NULL, NULL,
							   NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(fixture->client);
}

static gint64
elapsed_ms(gint64 start)
{
	return (g_get_monotonic_time() - start) / 1000;
}

typedef struct {
	Fixture *fixture;
	guint delay_ms;
} LateListen;

static gpointer
late_listen_thread(gpointer data)
{
	LateListen *late = data;

	g_usleep(late->delay_ms * 1000);
	agent_invoke(&late->fixture->agent, do_listen, late->fixture->path);
	return NULL;
}

static void
test_connect_late_socket(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	LateListen late = {fixture, 300};
	/* taken before the thread starts its sleep: a loaded machine may run it first */
	gint64 start = g_get_monotonic_time();
	GThread *thread = g_thread_new("late-listen", late_listen_thread, &late);

	/* the socket does not exist yet: QEMU is still starting */
	fixture->client = cocoon_agent_client_connect_wait(fixture->path, SANDBOX, 5000, NULL, NULL,
							   NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(fixture->client);
	g_assert_cmpint(elapsed_ms(start), >=, 290);
	g_assert_cmpint(elapsed_ms(start), <, 3000);
	g_thread_join(thread);
	g_assert_true(cocoon_agent_client_is_connected(fixture->client));
}

static void
test_connect_agent_answers_late(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 start;

	/* connected at once, answered only once the guest opened its port 900 ms later */
	fixture->qemu_boot_ms = 900;
	qemu_start(fixture);
	start = g_get_monotonic_time();
	fixture->client = cocoon_agent_client_connect_wait(fixture->path, SANDBOX, 10000, NULL,
							   NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(fixture->client);
	g_assert_cmpint(elapsed_ms(start), >=, 850);
	g_assert_cmpint(elapsed_ms(start), <, 4000);
	/* the probes sent meanwhile were held and answered late, more than one */
	g_assert_cmpint(g_atomic_int_get(&fixture->agent.pings), >, 1);
	/* and the connection serves calls normally afterwards */
	{
		g_autoptr(Cocoon__Agent__V1__PingResponse) pong =
			cocoon_agent_client_ping(fixture->client, 2000, NULL, &error);

		g_assert_no_error(error);
		g_assert_cmpstr(pong->agent_version, ==, "fake-1.0");
	}
}

static void
test_connect_reconnects(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fixture->qemu_boot_ms = 200;
	fixture->qemu_drop_first = TRUE;
	qemu_start(fixture);
	fixture->client = cocoon_agent_client_connect_wait(fixture->path, SANDBOX, 10000, NULL,
							   NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(fixture->client);
}

static gchar *
console_tail(guint lines, gpointer user_data)
{
	guint *calls = user_data;

	(*calls)++;
	g_assert_cmpuint(lines, >, 0);
	return g_strdup(
		"[    0.61] Run /init as init process\n[    0.70] Kernel panic - not syncing");
}

static void
test_connect_never_answers(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	guint console_calls = 0;
	gint64 start;

	fixture->qemu_never_boots = TRUE;
	qemu_start(fixture);
	start = g_get_monotonic_time();
	fixture->client = cocoon_agent_client_connect_wait(
		fixture->path, SANDBOX, 1000, console_tail, &console_calls, NULL, &error);
	g_assert_null(fixture->client);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_assert_cmpint(elapsed_ms(start), >=, 990);
	g_assert_cmpint(elapsed_ms(start), <, 2500);
	g_assert_cmpuint(console_calls, ==, 1);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, SANDBOX));
	g_assert_nonnull(strstr(error->message, "never came up within 1000 ms"));
	g_assert_nonnull(strstr(error->message, "Kernel panic - not syncing"));
}

static void
test_connect_no_socket(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 start = g_get_monotonic_time();

	/* QEMU never started: no socket at all, and no console either */
	fixture->client = cocoon_agent_client_connect_wait(fixture->path, SANDBOX, 300, NULL, NULL,
							   NULL, &error);
	g_assert_null(fixture->client);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_assert_cmpint(elapsed_ms(start), <, 1500);
	g_assert_nonnull(strstr(error->message, "the console is empty"));
}

static gpointer
cancel_later_thread(gpointer data)
{
	g_usleep(250 * 1000);
	g_cancellable_cancel(data);
	return NULL;
}

static void
test_connect_cancelled(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	GThread *thread;
	gint64 start;

	fixture->qemu_never_boots = TRUE;
	qemu_start(fixture);
	thread = g_thread_new("cancel", cancel_later_thread, cancellable);
	start = g_get_monotonic_time();
	fixture->client = cocoon_agent_client_connect_wait(fixture->path, SANDBOX, 10000, NULL,
							   NULL, cancellable, &error);
	g_assert_null(fixture->client);
	g_assert_nonnull(error);
	g_assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
		      g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_CANCELLED));
	g_assert_cmpint(elapsed_ms(start), <, 2000);
	g_thread_join(thread);
}

static void
test_scripted_calls(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	Cocoon__Agent__V1__CreateContainerRequest create =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	Cocoon__Agent__V1__StdioStreams stdio = COCOON__AGENT__V1__STDIO_STREAMS__INIT;
	Cocoon__Agent__V1__RemoveContainerRequest remove =
		COCOON__AGENT__V1__REMOVE_CONTAINER_REQUEST__INIT;
	g_autoptr(Cocoon__Agent__V1__CreateContainerResponse) created = NULL;
	g_autoptr(Cocoon__Agent__V1__GuestInfoResponse) info = NULL;

	fixture_connect(fixture);

	create.container_id = (gchar *)"c1";
	create.rootfs = (gchar *)"c1/rootfs";
	stdio.stdout = 7;
	stdio.stderr = 8;
	create.stdio = &stdio;
	created = cocoon_agent_client_create_container(fixture->client, &create,
						       COCOON_AGENT_TIMEOUT_DEFAULT, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(created->pid, ==, 1007);

	/* the agent's status code survives, the message names sandbox and RPC */
	remove.container_id = (gchar *)"nope";
	g_assert_false(
		cocoon_agent_client_remove_container(fixture->client, &remove, 2000, NULL, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "sandbox " SANDBOX ": agent RemoveContainer: "));
	g_assert_nonnull(strstr(error->message, "container nope not found"));
	g_clear_error(&error);

	/* a method the agent does not have */
	info = cocoon_agent_client_guest_info(fixture->client, 2000, NULL, &error);
	g_assert_null(info);
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNIMPLEMENTED);
	g_assert_nonnull(strstr(error->message, "agent GuestInfo"));
	g_clear_error(&error);

	g_assert_true(cocoon_agent_client_shutdown(fixture->client, 2000, NULL, &error));
	g_assert_no_error(error);
}

static void
test_hanging_method_deadline(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	Cocoon__Agent__V1__StartContainerRequest start_request =
		COCOON__AGENT__V1__START_CONTAINER_REQUEST__INIT;
	g_autoptr(Cocoon__Agent__V1__StartContainerResponse) started = NULL;
	g_autoptr(Cocoon__Agent__V1__PingResponse) pong = NULL;
	gint64 start;

	fixture_connect(fixture);
	start_request.container_id = (gchar *)"c1";

	/* an explicit timeout */
	start = g_get_monotonic_time();
	started = cocoon_agent_client_start_container(fixture->client, &start_request, 300, NULL,
						      &error);
	g_assert_null(started);
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_DEADLINE_EXCEEDED);
	g_assert_nonnull(strstr(error->message, "sandbox " SANDBOX ": agent StartContainer: "));
	g_assert_cmpint(elapsed_ms(start), >=, 290);
	g_assert_cmpint(elapsed_ms(start), <, 2000);
	g_clear_error(&error);

	/* the default timeout the shim sets */
	cocoon_agent_client_set_default_timeout(fixture->client, 200);
	g_assert_cmpuint(cocoon_agent_client_get_default_timeout(fixture->client), ==, 200);
	start = g_get_monotonic_time();
	started = cocoon_agent_client_start_container(fixture->client, &start_request,
						      COCOON_AGENT_TIMEOUT_DEFAULT, NULL, &error);
	g_assert_null(started);
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_DEADLINE_EXCEEDED);
	g_assert_cmpint(elapsed_ms(start), >=, 190);
	g_assert_cmpint(elapsed_ms(start), <, 2000);

	/* the connection is still good */
	pong = cocoon_agent_client_ping(fixture->client, 2000, NULL, &error);
	g_assert_nonnull(pong);
}

typedef struct {
	CocoonAgentClient *client;
	GError *error;
	gint64 elapsed_ms;
} WaitJob;

static gpointer
wait_process_thread(gpointer data)
{
	WaitJob *job = data;
	Cocoon__Agent__V1__WaitProcessRequest request =
		COCOON__AGENT__V1__WAIT_PROCESS_REQUEST__INIT;
	g_autoptr(Cocoon__Agent__V1__WaitProcessResponse) response = NULL;
	gint64 start = g_get_monotonic_time();

	request.container_id = (gchar *)"c1";
	response = cocoon_agent_client_wait_process(
		job->client, &request, COCOON_AGENT_TIMEOUT_DEFAULT, NULL, &job->error);
	g_assert_null(response);
	job->elapsed_ms = elapsed_ms(start);
	return NULL;
}

static void
test_wait_process_connection_lost(Fixture *fixture, gconstpointer data)
{
	WaitJob job = {0};
	GThread *thread;

	fixture_connect(fixture);
	/* a long poll ignores the default request timeout */
	cocoon_agent_client_set_default_timeout(fixture->client, 100);
	job.client = fixture->client;
	thread = g_thread_new("wait-process", wait_process_thread, &job);
	g_usleep(500 * 1000);
	/* the VM dies: the agent's end of the connection goes away */
	agent_invoke(&fixture->agent, do_shutdown, NULL);
	g_thread_join(thread);

	g_assert_error(job.error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE);
	g_assert_nonnull(strstr(job.error->message, "sandbox " SANDBOX ": agent WaitProcess: "));
	g_assert_cmpint(job.elapsed_ms, >=, 490);
	g_assert_cmpint(job.elapsed_ms, <, 2500);
	g_assert_false(cocoon_agent_client_is_connected(fixture->client));
	g_clear_error(&job.error);
}

typedef struct {
	CocoonAgentClient *client;
	GError *error;
	gboolean done;
} AsyncWait;

static void
wait_process_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
	AsyncWait *wait = user_data;
	g_autoptr(Cocoon__Agent__V1__WaitProcessResponse) response = NULL;

	response = cocoon_agent_client_wait_process_finish(wait->client, result, &wait->error);
	g_assert_null(response);
	wait->done = TRUE;
}

static void
test_wait_process_async_closed(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GMainContext) context = g_main_context_new();
	Cocoon__Agent__V1__WaitProcessRequest request =
		COCOON__AGENT__V1__WAIT_PROCESS_REQUEST__INIT;
	AsyncWait wait = {0};
	gint64 start;

	fixture_connect(fixture);
	wait.client = fixture->client;
	g_main_context_push_thread_default(context);
	request.container_id = (gchar *)"c1";
	cocoon_agent_client_wait_process_async(fixture->client, &request,
					       COCOON_AGENT_TIMEOUT_DEFAULT, NULL,
					       wait_process_done, &wait);
	/* not answered meanwhile, whatever the default timeout */
	cocoon_agent_client_set_default_timeout(fixture->client, 50);
	start = g_get_monotonic_time();
	while (elapsed_ms(start) < 300)
		g_main_context_iteration(context, FALSE);
	g_assert_false(wait.done);
	/* the shim gives up on the sandbox */
	cocoon_agent_client_close(fixture->client);
	while (!wait.done)
		g_main_context_iteration(context, TRUE);
	g_assert_error(wait.error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE);
	g_assert_nonnull(strstr(wait.error->message, "agent WaitProcess"));
	g_clear_error(&wait.error);
	/*
	 * the ttrpc client's async task (it holds a client reference) is unreffed by its reader
	 * thread just after it returned; if that were the last reference the reader would join
	 * itself. Give it that moment before the fixture drops ours.
	 */
	g_usleep(50 * 1000);
	g_main_context_pop_thread_default(context);
}

/* every typed wrapper calls a method of the service with the method's own input and output types */
static void
test_wrappers_match_descriptor(void)
{
	const ProtobufCServiceDescriptor *service = &cocoon__agent__v1__agent__descriptor;
	gsize n_wrappers = 0;
	const CocoonAgentWrapper *wrappers = cocoon_agent_client_get_wrappers(&n_wrappers);

	g_assert_cmpstr(service->name, ==, COCOON_AGENT_SERVICE);
	g_assert_cmpuint(n_wrappers, >, 0);
	for (gsize i = 0; i < n_wrappers; i++) {
		const ProtobufCMethodDescriptor *method =
			protobuf_c_service_descriptor_get_method_by_name(service,
									 wrappers[i].method);

		g_test_message("%s: %s", wrappers[i].function, wrappers[i].method);
		g_assert_nonnull(method);
		g_assert_cmpstr(method->input->c_name, ==, wrappers[i].request_type);
		g_assert_cmpstr(method->output->c_name, ==, wrappers[i].response_type);
	}
}

/* a name the service lacks or a request of another type fails before anything is sent */
static void
test_call_checks_method(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	Cocoon__Agent__V1__PauseContainerRequest pause =
		COCOON__AGENT__V1__PAUSE_CONTAINER_REQUEST__INIT;
	g_autoptr(Cocoon__Agent__V1__PingResponse) pong = NULL;

	fixture_connect(fixture);
	g_assert_null(cocoon_agent_client_call(fixture->client, "NoSuchMethod", NULL,
					       COCOON_AGENT_TIMEOUT_DEFAULT, NULL, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNIMPLEMENTED);
	g_assert_nonnull(strstr(error->message, "agent NoSuchMethod"));
	g_clear_error(&error);
	g_assert_false(cocoon_agent_client_call_empty(fixture->client, "ResumeContainer",
						      &pause.base, COCOON_AGENT_TIMEOUT_DEFAULT,
						      NULL, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT);
	g_clear_error(&error);
	/* by name, without a wrapper */
	pong = cocoon_agent_client_call(fixture->client, "Ping", NULL, COCOON_AGENT_TIMEOUT_DEFAULT,
					NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(pong->agent_version, ==, "fake-1.0");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/agent/client/wrappers-match-descriptor", test_wrappers_match_descriptor);

#define ADD(path, func)                                                                            \
	g_test_add("/agent/client/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("connect/late-socket", test_connect_late_socket);
	ADD("connect/agent-answers-late", test_connect_agent_answers_late);
	ADD("connect/reconnects", test_connect_reconnects);
	ADD("connect/never-answers", test_connect_never_answers);
	ADD("connect/no-socket", test_connect_no_socket);
	ADD("connect/cancelled", test_connect_cancelled);
	ADD("scripted-calls", test_scripted_calls);
	ADD("hanging-method-deadline", test_hanging_method_deadline);
	ADD("wait-process-connection-lost", test_wait_process_connection_lost);
	ADD("wait-process-async-closed", test_wait_process_async_closed);
	ADD("call-checks-method", test_call_checks_method);
#undef ADD
	return g_test_run();
}
