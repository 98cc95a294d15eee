/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The D-Bus exporter on a private bus, fed with snapshots and events the way the shim feeds it:
 * objects and properties, PropertiesChanged, TaskEvent signals, Introspect with doc strings, the
 * peer socket, and Stop(): done for root, refused to nobody by the exporter itself (the test bus
 * lets anyone call anything).
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-dbus-exporter.h"
#include "cocoon-dbus-generated.h"
#include "cocoon-test-bus.h"
#include "task-events.pb-c.h"
#include "cocoon-fs.h"

#define WAIT_TIMEOUT_US (10 * G_USEC_PER_SEC)

typedef struct {
	CocoonTestBus *bus;
	gchar *state_dir;
	CocoonDbusExporter *exporter;
	GDBusConnection *client;
	guint stops;
	gchar *stopped_id;
} Fixture;

static gboolean
record_stop(CocoonSandboxInfo *info, gpointer data, GError **error)
{
	Fixture *fixture = data;
	fixture->stops++;
	g_free(fixture->stopped_id);
	fixture->stopped_id = g_strdup(info->id);
	return TRUE;
}

static gboolean
name_has_owner(Fixture *fixture)
{
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		fixture->client, "org.freedesktop.DBus", "/org/freedesktop/DBus",
		"org.freedesktop.DBus", "NameHasOwner",
		g_variant_new("(s)", cocoon_dbus_exporter_get_name(fixture->exporter)),
		G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
	gboolean owned = FALSE;
	if (reply != NULL)
		g_variant_get(reply, "(b)", &owned);
	return owned;
}

static void
fixture_set_up(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 deadline = g_get_monotonic_time() + WAIT_TIMEOUT_US;

	fixture->bus = cocoon_test_bus_new(COCOON_TEST_BUS_OPEN, &error);
	g_assert_no_error(error);
	fixture->state_dir = g_dir_make_tmp("cocoon-dbus-state-XXXXXX", &error);
	g_assert_no_error(error);
	g_chmod(fixture->state_dir, 0755);
	fixture->exporter =
		cocoon_dbus_exporter_new(COCOON_DBUS_BUS_SESSION, fixture->state_dir, "test-ns");
	cocoon_dbus_exporter_set_bus_address(fixture->exporter, fixture->bus->address);
	cocoon_dbus_exporter_set_stop_func(fixture->exporter, record_stop, fixture);
	cocoon_dbus_exporter_start(fixture->exporter);
	fixture->client = g_dbus_connection_new_for_address_sync(
		fixture->bus->address,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
			G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, NULL, &error);
	g_assert_no_error(error);
	while (!name_has_owner(fixture)) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(10000);
	}
}

static void
fixture_tear_down(Fixture *fixture, gconstpointer data)
{
	g_clear_pointer(&fixture->exporter, cocoon_dbus_exporter_free);
	g_dbus_connection_close_sync(fixture->client, NULL, NULL);
	g_clear_object(&fixture->client);
	/* let GDBus finish closing before its bus goes */
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_clear_pointer(&fixture->bus, cocoon_test_bus_free);
	cocoon_remove_tree(fixture->state_dir);
	g_free(fixture->state_dir);
	g_free(fixture->stopped_id);
}

static CocoonProcessInfo *
process_new(const gchar *exec_id, guint32 pid, const gchar *status, guint32 exit_status)
{
	CocoonProcessInfo *process = cocoon_process_info_new();
	process->exec_id = exec_id;
	process->pid = pid;
	process->status = status;
	process->exit_status = exit_status;
	process->exited_at_us = exit_status != 0 ? 1700000000000000 : 0;
	return process;
}

/* pod-1: c2 (init stopped with 3, exec e1 running) and c1 (the pause container, running) */
static CocoonSandboxInfo *
snapshot_new(const gchar *state)
{
	CocoonSandboxInfo *info = cocoon_sandbox_info_new("pod-1");
	CocoonContainerInfo *c1 = cocoon_container_info_new();
	CocoonContainerInfo *c2 = cocoon_container_info_new();

	info->state = state;
	info->qemu_pid = 4242;
	info->accel = "tcg";
	info->vcpus = 2;
	info->memory_mib = 320;
	info->boot_ms = 1234;
	info->booted_at_us = 1700000000000001;
	info->agent_rtt_us = 99;
	c2->id = "c2";
	c2->container_type = "container";
	c2->init = process_new("", 9, "stopped", 3);
	g_ptr_array_add(c2->execs, process_new("e1", 11, "running", 0));
	g_ptr_array_add(info->containers, c2);
	c1->id = "c1";
	c1->container_type = "sandbox";
	c1->init = process_new("", 7, "running", 0);
	g_ptr_array_add(info->containers, c1);
	return info;
}

/* client calls run on a thread of their own: the exporter answers on this one */
typedef struct {
	GThreadFunc func;
	gpointer data;
	gpointer result;
	gboolean done;
} ThreadCall;

static gpointer
thread_call_main(gpointer data)
{
	ThreadCall *call = data;
	g_autoptr(GMainContext) context = g_main_context_new();
	g_main_context_push_thread_default(context);
	call->result = call->func(call->data);
	/* GDBus hands the last cleanups of its proxies to this context: let them run */
	for (guint i = 0; i < 20; i++) {
		while (g_main_context_iteration(context, FALSE))
			;
		g_usleep(1000);
	}
	g_main_context_pop_thread_default(context);
	g_atomic_int_set(&call->done, TRUE);
	g_main_context_wakeup(NULL);
	return NULL;
}

static gpointer
run_in_thread(GThreadFunc func, gpointer data)
{
	ThreadCall call = {func, data, NULL, FALSE};
	GThread *thread = g_thread_new("client", thread_call_main, &call);
	gint64 deadline = g_get_monotonic_time() + WAIT_TIMEOUT_US;
	while (!g_atomic_int_get(&call.done)) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
	g_thread_join(thread);
	return call.result;
}

static gpointer
get_managed_objects(gpointer data)
{
	Fixture *fixture = data;
	g_autoptr(GError) error = NULL;
	GDBusObjectManager *manager = cocoon_dbus_object_manager_client_new_sync(
		fixture->client, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
		cocoon_dbus_exporter_get_name(fixture->exporter), COCOON_DBUS_MANAGER_PATH, NULL,
		&error);
	g_assert_no_error(error);
	return g_dbus_object_manager_get_objects(manager);
}

static void
check_properties(CocoonDbusSandbox1 *sandbox)
{
	g_autoptr(GVariant) containers = cocoon_dbus_sandbox1_dup_containers(sandbox);
	g_autoptr(GVariant) processes = cocoon_dbus_sandbox1_dup_processes(sandbox);
	g_autofree gchar *containers_text = g_variant_print(containers, FALSE);
	g_autofree gchar *processes_text = g_variant_print(processes, FALSE);

	g_assert_cmpstr(cocoon_dbus_sandbox1_get_id(sandbox), ==, "pod-1");
	g_assert_cmpstr(cocoon_dbus_sandbox1_get_namespace(sandbox), ==, "test-ns");
	g_assert_cmpuint(cocoon_dbus_sandbox1_get_shim_pid(sandbox), ==, (guint)getpid());
	g_assert_cmpstr(cocoon_dbus_sandbox1_get_state(sandbox), ==, "running");
	g_assert_cmpuint(cocoon_dbus_sandbox1_get_qemu_pid(sandbox), ==, 4242);
	g_assert_cmpstr(cocoon_dbus_sandbox1_get_accel(sandbox), ==, "tcg");
	g_assert_cmpuint(cocoon_dbus_sandbox1_get_vcpus(sandbox), ==, 2);
	g_assert_cmpuint(cocoon_dbus_sandbox1_get_memory_mi_b(sandbox), ==, 320);
	g_assert_cmpuint(cocoon_dbus_sandbox1_get_boot_duration_ms(sandbox), ==, 1234);
	g_assert_cmpint(cocoon_dbus_sandbox1_get_booted_at(sandbox), ==, 1700000000000001);
	g_assert_cmpuint(cocoon_dbus_sandbox1_get_agent_latency_us(sandbox), ==, 99);
	/* sorted by id; init processes first in each container */
	g_assert_cmpstr(containers_text, ==,
			"[('c1', 'sandbox', 7, 'running', 0, 0), "
			"('c2', 'container', 9, 'stopped', 3, 1700000000000000)]");
	g_assert_cmpstr(processes_text, ==,
			"[('c1', '', 7, 'running', 0, 0), "
			"('c2', '', 9, 'stopped', 3, 1700000000000000), "
			"('c2', 'e1', 11, 'running', 0, 0)]");
}

static void
test_properties(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonSandboxInfo) info = snapshot_new("running");
	GList *objects;
	CocoonDbusSandbox1 *sandbox;

	cocoon_dbus_exporter_update(fixture->exporter, info);
	objects = run_in_thread(get_managed_objects, fixture);
	g_assert_cmpuint(g_list_length(objects), ==, 1);
	g_assert_cmpstr(g_dbus_object_get_object_path(objects->data), ==,
			"/io/github/cocoon/Sandbox/pod_2d1");
	sandbox = cocoon_dbus_object_peek_sandbox1(COCOON_DBUS_OBJECT(objects->data));
	g_assert_nonnull(sandbox);
	check_properties(sandbox);
	g_list_free_full(objects, g_object_unref);
}

static void
on_signal(GDBusConnection *connection, const gchar *sender, const gchar *path,
	  const gchar *interface, const gchar *member, GVariant *parameters, gpointer data)
{
	GPtrArray *received = data;
	g_ptr_array_add(received, g_variant_ref(parameters));
}

static void
wait_for(GPtrArray *received, guint count)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_TIMEOUT_US;
	while (received->len < count) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
}

/* the bus handled what the client sent before (e.g. AddMatch) once this returns */
static void
bus_round_trip(Fixture *fixture)
{
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		fixture->client, "org.freedesktop.DBus", "/org/freedesktop/DBus",
		"org.freedesktop.DBus", "GetId", NULL, G_VARIANT_TYPE("(s)"),
		G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
	g_assert_nonnull(reply);
}

static void
test_properties_changed(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonSandboxInfo) info = snapshot_new("running");
	g_autoptr(CocoonSandboxInfo) failed = snapshot_new("failed");
	g_autoptr(GPtrArray) received =
		g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(GVariant) changed = NULL;
	const gchar *interface;
	guint id;

	cocoon_dbus_exporter_update(fixture->exporter, info);
	id = g_dbus_connection_signal_subscribe(
		fixture->client, NULL, "org.freedesktop.DBus.Properties", "PropertiesChanged",
		"/io/github/cocoon/Sandbox/pod_2d1", NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal,
		received, NULL);
	bus_round_trip(fixture);
	/* the same snapshot again changes nothing; a new one only what changed */
	while (g_main_context_iteration(NULL, FALSE))
		;
	cocoon_dbus_exporter_update(fixture->exporter, info);
	failed->qemu_pid = 0;
	cocoon_dbus_exporter_update(fixture->exporter, failed);
	/* the first snapshot's batch may come first: the one that says "failed" counts */
	for (guint seen = 1;; seen++) {
		const gchar *state = NULL;
		wait_for(received, seen);
		g_clear_pointer(&changed, g_variant_unref);
		g_variant_get(received->pdata[seen - 1], "(&s@a{sv}@as)", &interface, &changed,
			      NULL);
		g_assert_cmpstr(interface, ==, COCOON_DBUS_INTERFACE);
		if (g_variant_lookup(changed, "State", "&s", &state) &&
		    g_str_equal(state, "failed"))
			break;
	}
	g_assert_cmpuint(g_variant_n_children(changed), ==, 2);
	{
		guint32 pid = 1;
		g_assert_true(g_variant_lookup(changed, "QemuPid", "u", &pid));
		g_assert_cmpuint(pid, ==, 0);
	}
	g_dbus_connection_signal_unsubscribe(fixture->client, id);
}

typedef struct {
	Fixture *fixture;
	const gchar *sandbox_id;
	const gchar *type_url;
	const ProtobufCMessage *event;
} QueueEvent;

static gpointer
queue_event_thread(gpointer data)
{
	QueueEvent *queue = data;
	const gchar *topic = g_str_equal(queue->type_url, "containerd.events.TaskExit")
				     ? "/tasks/exit"
				     : "/tasks/exec-started";
	cocoon_dbus_exporter_queue_event(queue->fixture->exporter, queue->sandbox_id, topic,
					 queue->type_url, queue->event);
	return NULL;
}

static void
test_task_event(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonSandboxInfo) info = snapshot_new("running");
	g_autoptr(GPtrArray) received =
		g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	Containerd__Events__TaskExit exit_event = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	Containerd__Events__TaskExit init_exit = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	Containerd__Events__TaskExecStarted started = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
	Containerd__Events__TaskCheckpointed checkpointed =
		CONTAINERD__EVENTS__TASK_CHECKPOINTED__INIT;
	const gchar *topic, *container_id, *exec_id;
	guint32 pid, exit_status;
	gint64 timestamp;
	guint id;

	cocoon_dbus_exporter_update(fixture->exporter, info);
	id = g_dbus_connection_signal_subscribe(fixture->client, NULL, COCOON_DBUS_INTERFACE,
						"TaskEvent", NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
						on_signal, received, NULL);
	bus_round_trip(fixture);
	exit_event.container_id = (gchar *)"c2";
	exit_event.id = (gchar *)"e1";
	exit_event.pid = 11;
	exit_event.exit_status = 137;
	init_exit.container_id = (gchar *)"c2";
	init_exit.id = (gchar *)"c2";
	init_exit.pid = 9;
	init_exit.exit_status = 3;
	started.container_id = (gchar *)"c-new";
	started.exec_id = (gchar *)"e9";
	started.pid = 12;
	checkpointed.container_id = (gchar *)"c2";
	{
		/* from other threads, as the sandbox workers publish them, with their sandbox */
		QueueEvent events[] = {
			{fixture, "pod-1", "containerd.events.TaskExit",
			 (ProtobufCMessage *)&exit_event},
			{fixture, "pod-1", "containerd.events.TaskExit",
			 (ProtobufCMessage *)&init_exit},
			/* a container no snapshot showed yet: the sandbox id says where it goes */
			{fixture, "pod-1", "containerd.events.TaskExecStarted",
			 (ProtobufCMessage *)&started},
			/* not a task event the signal describes: no signal */
			{fixture, "pod-1", "containerd.events.TaskCheckpointed",
			 (ProtobufCMessage *)&checkpointed},
		};
		for (guint i = 0; i < G_N_ELEMENTS(events); i++)
			g_thread_join(g_thread_new("worker", queue_event_thread, &events[i]));
	}
	wait_for(received, 3);
	g_variant_get(received->pdata[0], "(&s&s&suux)", &topic, &container_id, &exec_id, &pid,
		      &exit_status, &timestamp);
	g_assert_cmpstr(topic, ==, "/tasks/exit");
	g_assert_cmpstr(container_id, ==, "c2");
	g_assert_cmpstr(exec_id, ==, "e1");
	g_assert_cmpuint(pid, ==, 11);
	g_assert_cmpuint(exit_status, ==, 137);
	g_assert_cmpint(timestamp, >, 0);
	g_variant_get(received->pdata[1], "(&s&s&suux)", &topic, &container_id, &exec_id, &pid,
		      &exit_status, &timestamp);
	g_assert_cmpstr(exec_id, ==, "");
	g_assert_cmpuint(exit_status, ==, 3);
	g_variant_get(received->pdata[2], "(&s&s&suux)", &topic, &container_id, &exec_id, &pid,
		      &exit_status, &timestamp);
	g_assert_cmpstr(topic, ==, "/tasks/exec-started");
	g_assert_cmpstr(container_id, ==, "c-new");
	g_assert_cmpstr(exec_id, ==, "e9");
	g_assert_cmpuint(pid, ==, 12);
	/* nothing more */
	for (guint i = 0; i < 20; i++) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
	g_assert_cmpuint(received->len, ==, 3);
	g_dbus_connection_signal_unsubscribe(fixture->client, id);
}

/* an event can come before the sandbox's first snapshot: the object appears for it */
static void
test_event_before_snapshot(Fixture *fixture, gconstpointer data)
{
	Containerd__Events__TaskExecStarted started = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
	GList *objects;
	QueueEvent event = {fixture, "pod-2", "containerd.events.TaskExecStarted",
			    (ProtobufCMessage *)&started};

	started.container_id = (gchar *)"c1";
	started.exec_id = (gchar *)"e1";
	g_thread_join(g_thread_new("worker", queue_event_thread, &event));
	while (g_main_context_iteration(NULL, FALSE))
		;
	objects = run_in_thread(get_managed_objects, fixture);
	g_assert_cmpuint(g_list_length(objects), ==, 1);
	g_assert_cmpstr(g_dbus_object_get_object_path(objects->data), ==,
			"/io/github/cocoon/Sandbox/pod_2d2");
	g_list_free_full(objects, g_object_unref);
}

static void
on_signal_at(GDBusConnection *connection, const gchar *sender, const gchar *path,
	     const gchar *interface, const gchar *member, GVariant *parameters, gpointer data)
{
	GPtrArray *received = data;
	g_ptr_array_add(received, g_variant_ref_sink(g_variant_new("(s@*)", path, parameters)));
}

typedef struct {
	CocoonRuntime *runtime;
	const gchar *sandbox_id;
} Worker;

/* what a sandbox worker does: a snapshot, then its events in order */
static gpointer
worker_publish(gpointer data)
{
	Worker *worker = data;
	g_autoptr(CocoonSandboxInfo) info = cocoon_sandbox_info_new(worker->sandbox_id);
	CocoonEventBus *bus = cocoon_runtime_get_event_bus(worker->runtime);
	Containerd__Events__TaskStart start = CONTAINERD__EVENTS__TASK_START__INIT;
	Containerd__Events__TaskExit exit_event = CONTAINERD__EVENTS__TASK_EXIT__INIT;

	info->state = "running";
	cocoon_runtime_publish_info(worker->runtime, info);
	start.container_id = (gchar *)worker->sandbox_id;
	start.pid = 7;
	exit_event.container_id = (gchar *)worker->sandbox_id;
	exit_event.id = (gchar *)worker->sandbox_id;
	exit_event.pid = 7;
	exit_event.exit_status = 1;
	for (guint i = 0; i < 20; i++) {
		cocoon_event_bus_publish(bus, worker->sandbox_id, "/tasks/start",
					 "containerd.events.TaskStart", (ProtobufCMessage *)&start);
		cocoon_event_bus_publish(bus, worker->sandbox_id, "/tasks/exit",
					 "containerd.events.TaskExit",
					 (ProtobufCMessage *)&exit_event);
	}
	return NULL;
}

/*
 * attached to a runtime, as in the shim: snapshots and events of two sandboxes published at once
 * from their workers become objects and signals on the object of the sandbox that published
 * them, in its order; after free() the exporter hears nothing more
 */
static void
test_runtime(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonRuntime) runtime =
		cocoon_runtime_new(cocoon_config_new_default(), "test-ns", NULL);
	g_autoptr(GPtrArray) received =
		g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	Worker workers[] = {{runtime, "pod-a"}, {runtime, "pod-b"}};
	GThread *threads[G_N_ELEMENTS(workers)];
	guint seen_start[G_N_ELEMENTS(workers)] = {0};
	guint seen_exit[G_N_ELEMENTS(workers)] = {0};
	GList *objects;
	guint id;

	cocoon_dbus_exporter_attach(fixture->exporter, runtime);
	id = g_dbus_connection_signal_subscribe(fixture->client, NULL, COCOON_DBUS_INTERFACE,
						"TaskEvent", NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
						on_signal_at, received, NULL);
	bus_round_trip(fixture);
	for (guint i = 0; i < G_N_ELEMENTS(workers); i++)
		threads[i] = g_thread_new("worker", worker_publish, &workers[i]);
	for (guint i = 0; i < G_N_ELEMENTS(workers); i++)
		g_thread_join(threads[i]);
	wait_for(received, 80);
	for (guint i = 0; i < received->len; i++) {
		const gchar *path, *topic, *container_id;
		guint w;
		g_variant_get(received->pdata[i], "(&s(&s&s&suux))", &path, &topic, &container_id,
			      NULL, NULL, NULL, NULL);
		w = g_str_has_suffix(path, "pod_2da") ? 0 : 1;
		g_assert_cmpstr(container_id, ==, workers[w].sandbox_id);
		/* per sandbox: start, exit, start, exit, ... */
		if (g_str_equal(topic, "/tasks/start")) {
			g_assert_cmpuint(seen_start[w], ==, seen_exit[w]);
			seen_start[w]++;
		} else {
			g_assert_cmpstr(topic, ==, "/tasks/exit");
			g_assert_cmpuint(seen_exit[w] + 1, ==, seen_start[w]);
			seen_exit[w]++;
		}
	}
	g_assert_cmpuint(seen_exit[0], ==, 20);
	g_assert_cmpuint(seen_exit[1], ==, 20);
	while (g_main_context_iteration(NULL, FALSE))
		;
	objects = run_in_thread(get_managed_objects, fixture);
	g_assert_cmpuint(g_list_length(objects), ==, 2);
	g_list_free_full(objects, g_object_unref);

	/* unsubscribed: publishing reaches nobody, the runtime is freed without subscribers */
	g_clear_pointer(&fixture->exporter, cocoon_dbus_exporter_free);
	worker_publish(&workers[0]);
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_dbus_connection_signal_unsubscribe(fixture->client, id);
}

static gpointer
introspect(gpointer data)
{
	Fixture *fixture = data;
	g_autoptr(GError) error = NULL;
	GVariant *reply = g_dbus_connection_call_sync(
		fixture->client, cocoon_dbus_exporter_get_name(fixture->exporter),
		"/io/github/cocoon/Sandbox/pod_2d1", "org.freedesktop.DBus.Introspectable",
		"Introspect", NULL, G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
		&error);
	g_assert_no_error(error);
	return reply;
}

static void
test_introspect(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonSandboxInfo) info = snapshot_new("running");
	g_autoptr(GVariant) reply = NULL;
	const gchar *xml;

	cocoon_dbus_exporter_update(fixture->exporter, info);
	reply = run_in_thread(introspect, fixture);
	g_variant_get(reply, "(&s)", &xml);
	g_assert_nonnull(strstr(xml, "<interface name=\"io.github.cocoon.Sandbox1\">"));
	g_assert_nonnull(strstr(xml, "org.gtk.GDBus.DocString"));
	g_assert_nonnull(strstr(xml, "<method name=\"Stop\">"));
	g_assert_nonnull(strstr(xml, "<signal name=\"TaskEvent\">"));
}

static gpointer
call_stop(gpointer data)
{
	Fixture *fixture = data;
	GError *error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		fixture->client, cocoon_dbus_exporter_get_name(fixture->exporter),
		"/io/github/cocoon/Sandbox/pod_2d1", COCOON_DBUS_INTERFACE, "Stop", NULL, NULL,
		G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
	return error;
}

static void
test_stop_root(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonSandboxInfo) info = snapshot_new("running");
	g_autoptr(GError) error = NULL;

	if (getuid() != 0) {
		g_test_skip("Stop() needs root: running as another user");
		return;
	}
	cocoon_dbus_exporter_update(fixture->exporter, info);
	error = run_in_thread(call_stop, fixture);
	g_assert_no_error(error);
	g_assert_cmpuint(fixture->stops, ==, 1);
	g_assert_cmpstr(fixture->stopped_id, ==, "pod-1");
}

/* the test bus lets nobody call Stop(): the refusal comes from the exporter */
static void
test_stop_nobody(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonSandboxInfo) info = snapshot_new("running");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *output = NULL;
	g_autofree gchar *address = g_strdup(fixture->bus->address);
	const gchar *name = cocoon_dbus_exporter_get_name(fixture->exporter);
	const gchar *stop_argv[] = {"gdbus",
				    "call",
				    "--address",
				    address,
				    "--dest",
				    name,
				    "--object-path",
				    "/io/github/cocoon/Sandbox/pod_2d1",
				    "--method",
				    "io.github.cocoon.Sandbox1.Stop",
				    NULL};
	const gchar *get_argv[] = {"gdbus",
				   "call",
				   "--address",
				   address,
				   "--dest",
				   name,
				   "--object-path",
				   "/io/github/cocoon/Sandbox/pod_2d1",
				   "--method",
				   "org.freedesktop.DBus.Properties.Get",
				   "io.github.cocoon.Sandbox1",
				   "State",
				   NULL};
	gint status = -1;

	if (getuid() != 0) {
		g_test_skip("becoming nobody needs root");
		return;
	}
	cocoon_dbus_exporter_update(fixture->exporter, info);
	g_assert_true(cocoon_test_run_as_nobody(get_argv, NULL, &status, &output, &error));
	g_assert_no_error(error);
	g_test_message("nobody Get: %d %s", status, output);
	g_assert_cmpint(status, ==, 0);
	g_assert_nonnull(strstr(output, "'running'"));
	g_clear_pointer(&output, g_free);

	g_assert_true(cocoon_test_run_as_nobody(stop_argv, NULL, &status, &output, &error));
	g_test_message("nobody Stop: %d %s", status, output);
	g_assert_cmpint(status, !=, 0);
	g_assert_nonnull(strstr(output, "org.freedesktop.DBus.Error.AccessDenied"));
	g_assert_nonnull(strstr(output, "Stop() needs root"));
	g_assert_cmpuint(fixture->stops, ==, 0);
}

typedef struct {
	gchar *socket_path;
	gchar *state;
	GError *stop_error;
} PeerCall;

static gpointer
peer_call(gpointer data)
{
	PeerCall *call = data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *escaped = g_dbus_address_escape_value(call->socket_path);
	g_autofree gchar *address = g_strdup_printf("unix:path=%s", escaped);
	g_autoptr(GDBusConnection) connection = g_dbus_connection_new_for_address_sync(
		address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, NULL, &error);
	g_autoptr(CocoonDbusSandbox1) proxy = NULL;
	g_assert_no_error(error);
	proxy = cocoon_dbus_sandbox1_proxy_new_sync(connection, G_DBUS_PROXY_FLAGS_NONE, NULL,
						    "/io/github/cocoon/Sandbox/pod_2d1", NULL,
						    &error);
	g_assert_no_error(error);
	call->state = cocoon_dbus_sandbox1_dup_state(proxy);
	cocoon_dbus_sandbox1_call_stop_sync(proxy, NULL, &call->stop_error);
	return NULL;
}

static void
test_peer_socket(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonSandboxInfo) info = snapshot_new("running");
	PeerCall call = {NULL, NULL, NULL};
	g_autofree gchar *socket_path = NULL;

	cocoon_dbus_exporter_update(fixture->exporter, info);
	socket_path = cocoon_dbus_peer_socket_path(fixture->state_dir, "pod-1");
	g_assert_true(g_file_test(socket_path, G_FILE_TEST_EXISTS));
	call.socket_path = socket_path;
	run_in_thread(peer_call, &call);
	g_assert_cmpstr(call.state, ==, "running");
	if (getuid() == 0) {
		g_assert_no_error(call.stop_error);
		g_assert_cmpuint(fixture->stops, ==, 1);
	} else {
		/* the shim's own user may connect, but only root may stop */
		g_assert_error(call.stop_error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED);
		g_assert_cmpuint(fixture->stops, ==, 0);
	}
	g_clear_error(&call.stop_error);
	g_free(call.state);

	/* nobody cannot even connect (EXTERNAL: root or the shim's own uid only) */
	if (getuid() == 0) {
		g_autofree gchar *sandbox_dir = g_build_filename(fixture->state_dir, "pod-1", NULL);
		g_autofree gchar *escaped = g_dbus_address_escape_value(socket_path);
		g_autofree gchar *address = g_strdup_printf("unix:path=%s", escaped);
		const gchar *argv[] = {
			"gdbus", "introspect",	  "--address",
			address, "--object-path", "/io/github/cocoon/Sandbox/pod_2d1",
			NULL};
		g_autofree gchar *output = NULL;
		g_autoptr(GError) error = NULL;
		gint status = 0;

		/* let nobody reach the socket, so that authentication is what refuses */
		g_chmod(sandbox_dir, 0755);
		g_chmod(socket_path, 0777);
		g_assert_true(cocoon_test_run_as_nobody(argv, NULL, &status, &output, &error));
		g_test_message("nobody on the peer socket: %d %s", status, output);
		g_assert_cmpint(status, !=, 0);
		g_assert_null(strstr(output, "io.github.cocoon.Sandbox1"));
	}

	/* the socket goes with the exporter */
	g_clear_pointer(&fixture->exporter, cocoon_dbus_exporter_free);
	g_assert_false(g_file_test(socket_path, G_FILE_TEST_EXISTS));
}

/* no bus at all: the peer socket still serves */
static void
test_no_bus(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *state_dir = g_dir_make_tmp("cocoon-dbus-state-XXXXXX", &error);
	g_autoptr(CocoonSandboxInfo) info = snapshot_new("running");
	g_autofree gchar *socket_path = cocoon_dbus_peer_socket_path(state_dir, "pod-1");
	CocoonDbusExporter *exporter;
	PeerCall call = {socket_path, NULL, NULL};

	g_assert_no_error(error);
	exporter = cocoon_dbus_exporter_new(COCOON_DBUS_BUS_SYSTEM, state_dir, "ns");
	cocoon_dbus_exporter_set_bus_address(exporter, "unix:path=/nonexistent/cocoon-test-bus");
	cocoon_dbus_exporter_set_stop_func(exporter, NULL, NULL);
	cocoon_dbus_exporter_start(exporter);
	cocoon_dbus_exporter_update(exporter, info);
	run_in_thread(peer_call, &call);
	g_assert_cmpstr(call.state, ==, "running");
	g_assert_null(cocoon_dbus_exporter_get_bus(exporter));
	/* the default Stop() kills QEMU, but only this process's child: pid 4242 is not */
	g_assert_nonnull(call.stop_error);
	g_test_message("Stop without a VM of ours: %s", call.stop_error->message);
	if (getuid() == 0)
		g_assert_error(call.stop_error, G_DBUS_ERROR, G_DBUS_ERROR_FAILED);
	g_clear_error(&call.stop_error);
	g_free(call.state);
	cocoon_dbus_exporter_free(exporter);
	while (g_main_context_iteration(NULL, FALSE))
		;
	cocoon_remove_tree(state_dir);
}

static void
test_helpers(void)
{
	g_autofree gchar *path = cocoon_dbus_sandbox_object_path("a.b-c_d");
	g_autofree gchar *socket = cocoon_dbus_peer_socket_path("/run/cocoon", "pod");
	g_assert_cmpstr(path, ==, "/io/github/cocoon/Sandbox/a_2eb_2dc_5fd");
	g_assert_true(g_variant_is_object_path(path));
	g_assert_cmpstr(socket, ==, "/run/cocoon/pod/dbus.sock");
	g_assert_cmpint(cocoon_dbus_bus_from_string("system"), ==, COCOON_DBUS_BUS_SYSTEM);
	g_assert_cmpint(cocoon_dbus_bus_from_string("session"), ==, COCOON_DBUS_BUS_SESSION);
	g_assert_cmpint(cocoon_dbus_bus_from_string("none"), ==, COCOON_DBUS_BUS_NONE);
}

int
main(int argc, char **argv)
{
	g_autofree gchar *dbus_daemon = g_find_program_in_path("dbus-daemon");

	g_test_init(&argc, &argv, NULL);
	if (dbus_daemon == NULL) {
		g_printerr("SKIP: dbus-daemon is not installed (apt-get install dbus)\n");
		return 77;
	}
	g_test_add_func("/dbus/exporter/helpers", test_helpers);
	g_test_add("/dbus/exporter/properties", Fixture, NULL, fixture_set_up, test_properties,
		   fixture_tear_down);
	g_test_add("/dbus/exporter/properties-changed", Fixture, NULL, fixture_set_up,
		   test_properties_changed, fixture_tear_down);
	g_test_add("/dbus/exporter/task-event", Fixture, NULL, fixture_set_up, test_task_event,
		   fixture_tear_down);
	g_test_add("/dbus/exporter/runtime", Fixture, NULL, fixture_set_up, test_runtime,
		   fixture_tear_down);
	g_test_add("/dbus/exporter/event-before-snapshot", Fixture, NULL, fixture_set_up,
		   test_event_before_snapshot, fixture_tear_down);
	g_test_add("/dbus/exporter/introspect", Fixture, NULL, fixture_set_up, test_introspect,
		   fixture_tear_down);
	g_test_add("/dbus/exporter/stop/root", Fixture, NULL, fixture_set_up, test_stop_root,
		   fixture_tear_down);
	g_test_add("/dbus/exporter/stop/nobody-refused", Fixture, NULL, fixture_set_up,
		   test_stop_nobody, fixture_tear_down);
	g_test_add("/dbus/exporter/peer-socket", Fixture, NULL, fixture_set_up, test_peer_socket,
		   fixture_tear_down);
	g_test_add_func("/dbus/exporter/no-bus", test_no_bus);
	return g_test_run();
}
