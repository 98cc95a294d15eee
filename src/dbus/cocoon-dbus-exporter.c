/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-dbus"

#include "config.h"

#include "cocoon-dbus-exporter.h"

#include <unistd.h>

#include "cocoon-dbus-exporter-private.h"
#include "cocoon-names.h"
#include "task-events.pb-c.h"

#define SYSTEM_BUS_DEFAULT_ADDRESS "unix:path=/run/dbus/system_bus_socket"
#define BUS_RETRY_SECONDS	   10

static void bus_connect(CocoonDbusExporter *exporter);

/* ---------------------------------------------------------------- helpers */

/* the config's names of the buses, both ways */
static const gchar *const bus_names[] = {
	[COCOON_DBUS_BUS_NONE] = "none",
	[COCOON_DBUS_BUS_SYSTEM] = "system",
	[COCOON_DBUS_BUS_SESSION] = "session",
};

CocoonDbusBus
cocoon_dbus_bus_from_string(const gchar *value)
{
	gint bus = cocoon_names_lookup(bus_names, G_N_ELEMENTS(bus_names), value);

	return bus >= 0 ? (CocoonDbusBus)bus : COCOON_DBUS_BUS_NONE;
}

static const gchar *
bus_name(CocoonDbusBus bus)
{
	return cocoon_names_get(bus_names, G_N_ELEMENTS(bus_names), bus, "none");
}

/* ---------------------------------------------------------------- events */

typedef struct {
	CocoonDbusExporter *exporter;
	gchar *sandbox_id;
	gchar *topic;
	gchar *container_id;
	gchar *exec_id;
	guint32 pid;
	guint32 exit_status;
	gint64 timestamp_us;
} EventWork;

static void
event_work_free(EventWork *work)
{
	g_free(work->sandbox_id);
	g_free(work->topic);
	g_free(work->container_id);
	g_free(work->exec_id);
	g_free(work);
}

static void
event_work_set(EventWork *work, const gchar *container_id, const gchar *exec_id, guint32 pid,
	       guint32 exit_status)
{
	work->container_id = g_strdup(container_id != NULL ? container_id : "");
	work->exec_id = g_strdup(exec_id != NULL ? exec_id : "");
	work->pid = pid;
	work->exit_status = exit_status;
}

/* containerd sets id to the container id for the init process */
static const gchar *
exec_id_of(const gchar *id, const gchar *container_id)
{
	return g_strcmp0(id, container_id) == 0 ? "" : id;
}

/* the fields the signal carries, copied from a containerd.events.* message; FALSE: not signalled */
static gboolean
event_copy(const ProtobufCMessage *message, EventWork *work)
{
	const ProtobufCMessageDescriptor *descriptor = message->descriptor;

	if (descriptor == &containerd__events__task_create__descriptor) {
		const Containerd__Events__TaskCreate *event = (gconstpointer)message;
		event_work_set(work, event->container_id, NULL, event->pid, 0);
	} else if (descriptor == &containerd__events__task_start__descriptor) {
		const Containerd__Events__TaskStart *event = (gconstpointer)message;
		event_work_set(work, event->container_id, NULL, event->pid, 0);
	} else if (descriptor == &containerd__events__task_paused__descriptor) {
		const Containerd__Events__TaskPaused *event = (gconstpointer)message;
		event_work_set(work, event->container_id, NULL, 0, 0);
	} else if (descriptor == &containerd__events__task_resumed__descriptor) {
		const Containerd__Events__TaskResumed *event = (gconstpointer)message;
		event_work_set(work, event->container_id, NULL, 0, 0);
	} else if (descriptor == &containerd__events__task_oom__descriptor) {
		const Containerd__Events__TaskOOM *event = (gconstpointer)message;
		event_work_set(work, event->container_id, NULL, 0, 0);
	} else if (descriptor == &containerd__events__task_exit__descriptor) {
		const Containerd__Events__TaskExit *event = (gconstpointer)message;
		event_work_set(work, event->container_id,
			       exec_id_of(event->id, event->container_id), event->pid,
			       event->exit_status);
	} else if (descriptor == &containerd__events__task_delete__descriptor) {
		const Containerd__Events__TaskDelete *event = (gconstpointer)message;
		event_work_set(work, event->container_id,
			       exec_id_of(event->id, event->container_id), event->pid,
			       event->exit_status);
	} else if (descriptor == &containerd__events__task_exec_added__descriptor) {
		const Containerd__Events__TaskExecAdded *event = (gconstpointer)message;
		event_work_set(work, event->container_id, event->exec_id, 0, 0);
	} else if (descriptor == &containerd__events__task_exec_started__descriptor) {
		const Containerd__Events__TaskExecStarted *event = (gconstpointer)message;
		event_work_set(work, event->container_id, event->exec_id, event->pid, 0);
	} else {
		return FALSE;
	}
	return TRUE;
}

static gboolean
event_deliver(gpointer data)
{
	EventWork *work = data;
	ExportedSandbox *sandbox = cocoon_dbus_sandbox_ensure(work->exporter, work->sandbox_id);

	cocoon_dbus_sandbox1_emit_task_event(sandbox->bus_skeleton, work->topic, work->container_id,
					     work->exec_id, work->pid, work->exit_status,
					     work->timestamp_us);
	cocoon_dbus_sandbox1_emit_task_event(sandbox->peer_skeleton, work->topic,
					     work->container_id, work->exec_id, work->pid,
					     work->exit_status, work->timestamp_us);
	return G_SOURCE_REMOVE;
}

/**
 * cocoon_dbus_exporter_queue_event:
 * @sandbox_id: the sandbox the event belongs to (its object appears if it is not there yet)
 * @event: a containerd.events.* message, named by @type_url; other messages are not signalled
 *
 * Any thread, without blocking: copies what the TaskEvent signal carries and emits it on the
 * main context, in the order of the calls (of one thread).
 */
void
cocoon_dbus_exporter_queue_event(CocoonDbusExporter *exporter, const gchar *sandbox_id,
				 const gchar *topic, const gchar *type_url,
				 const ProtobufCMessage *event)
{
	EventWork *work = g_new0(EventWork, 1);
	g_autoptr(GSource) source = NULL;

	work->exporter = exporter;
	work->topic = g_strdup(topic);
	work->timestamp_us = g_get_real_time();
	if (!event_copy(event, work)) {
		g_debug("sandbox %s: event %s (%s): not signalled on D-Bus", sandbox_id, topic,
			type_url);
		event_work_free(work);
		return;
	}
	work->sandbox_id = g_strdup(sandbox_id);
	/*
	 * always queued (g_main_context_invoke_full() would run it here, on a thread without a
	 * context of its own, whenever the main context is idle: off the main context, out of
	 * order)
	 */
	source = g_idle_source_new();
	g_source_set_priority(source, G_PRIORITY_DEFAULT);
	g_source_set_callback(source, event_deliver, work, (GDestroyNotify)event_work_free);
	g_source_attach(source, exporter->context);
}

/* ---------------------------------------------------------------- the bus */

static gboolean
bus_retry(gpointer data)
{
	CocoonDbusExporter *exporter = data;
	exporter->retry_id = 0;
	bus_connect(exporter);
	return G_SOURCE_REMOVE;
}

static void
bus_schedule_retry(CocoonDbusExporter *exporter)
{
	g_autoptr(GSource) source = NULL;
	if (exporter->retry_id != 0)
		return;
	source = g_timeout_source_new_seconds(BUS_RETRY_SECONDS);
	g_source_set_callback(source, bus_retry, exporter, NULL);
	exporter->retry_id = g_source_attach(source, exporter->context);
}

static void
on_name_acquired(GDBusConnection *connection, const gchar *name, gpointer data)
{
	CocoonDbusExporter *exporter = data;
	g_info("D-Bus: %s on the %s bus", name, bus_name(exporter->bus));
}

static void
on_name_lost(GDBusConnection *connection, const gchar *name, gpointer data)
{
	CocoonDbusExporter *exporter = data;
	/* NULL connection: the bus went away, on_bus_closed takes care of it */
	if (connection != NULL)
		g_warning("D-Bus: cannot own %s on the %s bus (policy? see io.github.cocoon.conf); "
			  "objects stay reachable by unique name and on the peer sockets",
			  name, bus_name(exporter->bus));
}

static void
bus_drop(CocoonDbusExporter *exporter)
{
	if (exporter->owner_id != 0) {
		g_bus_unown_name(exporter->owner_id);
		exporter->owner_id = 0;
	}
	g_dbus_object_manager_server_set_connection(exporter->manager, NULL);
	if (exporter->connection != NULL) {
		cocoon_dbus_introspect_filter_remove(exporter->connection);
		g_signal_handler_disconnect(exporter->connection, exporter->closed_id);
		exporter->closed_id = 0;
		g_clear_object(&exporter->connection);
	}
}

static void
on_bus_closed(GDBusConnection *connection, gboolean remote_peer_vanished, GError *error,
	      gpointer data)
{
	CocoonDbusExporter *exporter = data;
	g_warning("D-Bus: lost the %s bus (%s); reconnecting every %d s", bus_name(exporter->bus),
		  error != NULL ? error->message : "closed", BUS_RETRY_SECONDS);
	exporter->bus_failure_logged = TRUE;
	bus_drop(exporter);
	bus_schedule_retry(exporter);
}

static void
on_bus_connected(GObject *source, GAsyncResult *result, gpointer data)
{
	CocoonDbusExporter *exporter = data;
	g_autoptr(GError) error = NULL;
	GDBusConnection *connection = g_dbus_connection_new_for_address_finish(result, &error);

	if (connection == NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			return;
		if (!exporter->bus_failure_logged)
			g_message("D-Bus: no %s bus (%s); serving %s/<sandbox>/%s only, retrying "
				  "every %d s",
				  bus_name(exporter->bus), error->message, exporter->state_dir,
				  COCOON_DBUS_PEER_SOCKET, BUS_RETRY_SECONDS);
		exporter->bus_failure_logged = TRUE;
		bus_schedule_retry(exporter);
		return;
	}
	exporter->connection = connection;
	g_dbus_connection_set_exit_on_close(connection, FALSE);
	exporter->closed_id =
		g_signal_connect(connection, "closed", G_CALLBACK(on_bus_closed), exporter);
	cocoon_dbus_introspect_filter_add(exporter, connection);
	/* objects first, so whoever sees the name finds them */
	g_dbus_object_manager_server_set_connection(exporter->manager, connection);
	exporter->owner_id = g_bus_own_name_on_connection(
		connection, exporter->name, G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE, on_name_acquired,
		on_name_lost, exporter, NULL);
	exporter->bus_failure_logged = FALSE;
}

/* the address GDBus would use, without ever spawning dbus-launch (a shim has no X display) */
static gchar *
bus_address(CocoonDbusBus bus)
{
	const gchar *env;
	if (bus == COCOON_DBUS_BUS_SYSTEM) {
		env = g_getenv("DBUS_SYSTEM_BUS_ADDRESS");
		return g_strdup(env != NULL && env[0] != '\0' ? env : SYSTEM_BUS_DEFAULT_ADDRESS);
	}
	env = g_getenv("DBUS_SESSION_BUS_ADDRESS");
	if (env != NULL && env[0] != '\0')
		return g_strdup(env);
	if (g_getenv("XDG_RUNTIME_DIR") != NULL) {
		g_autofree gchar *path = g_build_filename(g_getenv("XDG_RUNTIME_DIR"), "bus", NULL);
		g_autofree gchar *escaped = g_dbus_address_escape_value(path);
		if (g_file_test(path, G_FILE_TEST_EXISTS))
			return g_strdup_printf("unix:path=%s", escaped);
	}
	return NULL;
}

static void
bus_connect(CocoonDbusExporter *exporter)
{
	g_autofree gchar *address = exporter->bus_address != NULL ? g_strdup(exporter->bus_address)
								  : bus_address(exporter->bus);
	if (address == NULL) {
		if (!exporter->bus_failure_logged)
			g_message("D-Bus: no %s bus address; serving %s/<sandbox>/%s only",
				  bus_name(exporter->bus), exporter->state_dir,
				  COCOON_DBUS_PEER_SOCKET);
		exporter->bus_failure_logged = TRUE;
		return;
	}
	g_dbus_connection_new_for_address(address,
					  G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
						  G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
					  NULL, exporter->cancellable, on_bus_connected, exporter);
}

void
cocoon_dbus_exporter_start(CocoonDbusExporter *exporter)
{
	if (exporter->bus == COCOON_DBUS_BUS_NONE) {
		g_info("D-Bus: runtime.dbus is \"none\"; serving %s/<sandbox>/%s only",
		       exporter->state_dir, COCOON_DBUS_PEER_SOCKET);
		return;
	}
	bus_connect(exporter);
}

void
cocoon_dbus_exporter_set_bus_address(CocoonDbusExporter *exporter, const gchar *address)
{
	g_free(exporter->bus_address);
	exporter->bus_address = g_strdup(address);
}

GDBusConnection *
cocoon_dbus_exporter_get_bus(CocoonDbusExporter *exporter)
{
	return exporter->connection;
}

const gchar *
cocoon_dbus_exporter_get_name(CocoonDbusExporter *exporter)
{
	return exporter->name;
}

void
cocoon_dbus_exporter_set_stop_func(CocoonDbusExporter *exporter, CocoonDbusStopFunc func,
				   gpointer user_data)
{
	exporter->stop_func = func != NULL ? func : cocoon_dbus_stop_qemu;
	exporter->stop_data = user_data;
}

/* ---------------------------------------------------------------- the runtime */

static void
on_runtime_info(CocoonSandboxInfo *info, gpointer data)
{
	cocoon_dbus_exporter_update(data, info);
}

/* on the sandbox's worker: the bus wants it quick, queue_event() copies and hops */
static void
on_runtime_event(const gchar *sandbox_id, const gchar *topic, const gchar *type_url,
		 const ProtobufCMessage *event, gpointer data)
{
	cocoon_dbus_exporter_queue_event(data, sandbox_id, topic, type_url, event);
}

/**
 * cocoon_dbus_exporter_attach:
 * @runtime: outlives the exporter
 *
 * Subscribes to the runtime's snapshots and to its event bus, until the exporter is freed.
 */
void
cocoon_dbus_exporter_attach(CocoonDbusExporter *exporter, CocoonRuntime *runtime)
{
	g_return_if_fail(exporter->runtime == NULL);
	exporter->runtime = runtime;
	exporter->info_subscription =
		cocoon_runtime_subscribe_infos(runtime, on_runtime_info, exporter);
	exporter->event_subscription = cocoon_event_bus_subscribe(
		cocoon_runtime_get_event_bus(runtime), on_runtime_event, exporter);
}

CocoonDbusExporter *
cocoon_dbus_exporter_new(CocoonDbusBus bus, const gchar *state_dir, const gchar *namespace_)
{
	CocoonDbusExporter *exporter = g_new0(CocoonDbusExporter, 1);
	exporter->context = g_main_context_ref_thread_default();
	exporter->bus = bus;
	exporter->state_dir = g_strdup(state_dir);
	exporter->namespace_ = g_strdup(namespace_ != NULL ? namespace_ : "");
	exporter->name = g_strdup_printf("%s%d", COCOON_DBUS_NAME_PREFIX, (gint)getpid());
	exporter->cancellable = g_cancellable_new();
	exporter->manager = g_dbus_object_manager_server_new(COCOON_DBUS_MANAGER_PATH);
	exporter->auth_observer = cocoon_dbus_peer_auth_observer_new();
	exporter->sandboxes = g_hash_table_new_full(
		g_str_hash, g_str_equal, NULL, (GDestroyNotify)cocoon_dbus_exported_sandbox_free);
	g_mutex_init(&exporter->paths_lock);
	exporter->paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	exporter->stop_func = cocoon_dbus_stop_qemu;
	return exporter;
}

void
cocoon_dbus_exporter_free(CocoonDbusExporter *exporter)
{
	if (exporter == NULL)
		return;
	/* no snapshot or event comes in any more */
	if (exporter->runtime != NULL) {
		cocoon_runtime_unsubscribe_infos(exporter->runtime, exporter->info_subscription);
		cocoon_event_bus_unsubscribe(cocoon_runtime_get_event_bus(exporter->runtime),
					     exporter->event_subscription);
	}
	g_cancellable_cancel(exporter->cancellable);
	if (exporter->retry_id != 0) {
		GSource *source =
			g_main_context_find_source_by_id(exporter->context, exporter->retry_id);
		if (source != NULL)
			g_source_destroy(source);
	}
	bus_drop(exporter);
	g_hash_table_unref(exporter->sandboxes);
	g_hash_table_unref(exporter->paths);
	g_mutex_clear(&exporter->paths_lock);
	g_clear_object(&exporter->manager);
	g_clear_object(&exporter->auth_observer);
	g_clear_object(&exporter->cancellable);
	g_main_context_unref(exporter->context);
	g_free(exporter->bus_address);
	g_free(exporter->state_dir);
	g_free(exporter->namespace_);
	g_free(exporter->name);
	g_free(exporter);
}
