/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-dbus"

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cocoon-dbus-exporter-private.h"
#include "cocoon-dbus-resources.h"
#include "cocoon-error.h"
#include "cocoon-pidfd.h"

/*
 * the sandbox objects: one per pod, on the bus and on the pod's peer socket; their properties
 * follow the runtime's snapshots, Stop() kills the pod's QEMU
 */

#define DBUS_ERROR_ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"
#define DBUS_ERROR_FAILED	 "org.freedesktop.DBus.Error.Failed"

/* ---------------------------------------------------------------- Introspect */

/*
 * gdbus-codegen leaves the org.gtk.GDBus.DocString annotations out of its introspection data,
 * and its skeletons need that data for dispatching; so Introspect of a sandbox object is answered
 * here, with the interface as data/io.github.cocoon.Sandbox1.xml documents it (built in as a
 * resource). A connection filter: runs on GDBus's worker thread, touches only immutable data and
 * the path set under its lock.
 */
#define INTROSPECT_DOCTYPE                                                                         \
	"<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n"       \
	"\"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n"
#define FILTER_ID_KEY "cocoon-introspect-filter"

static const gchar standard_interfaces_xml[] =
	"  <interface name=\"org.freedesktop.DBus.Properties\">\n"
	"    <method name=\"Get\">\n"
	"      <arg type=\"s\" name=\"interface_name\" direction=\"in\"/>\n"
	"      <arg type=\"s\" name=\"property_name\" direction=\"in\"/>\n"
	"      <arg type=\"v\" name=\"value\" direction=\"out\"/>\n"
	"    </method>\n"
	"    <method name=\"GetAll\">\n"
	"      <arg type=\"s\" name=\"interface_name\" direction=\"in\"/>\n"
	"      <arg type=\"a{sv}\" name=\"properties\" direction=\"out\"/>\n"
	"    </method>\n"
	"    <method name=\"Set\">\n"
	"      <arg type=\"s\" name=\"interface_name\" direction=\"in\"/>\n"
	"      <arg type=\"s\" name=\"property_name\" direction=\"in\"/>\n"
	"      <arg type=\"v\" name=\"value\" direction=\"in\"/>\n"
	"    </method>\n"
	"    <signal name=\"PropertiesChanged\">\n"
	"      <arg type=\"s\" name=\"interface_name\"/>\n"
	"      <arg type=\"a{sv}\" name=\"changed_properties\"/>\n"
	"      <arg type=\"as\" name=\"invalidated_properties\"/>\n"
	"    </signal>\n"
	"  </interface>\n"
	"  <interface name=\"org.freedesktop.DBus.Introspectable\">\n"
	"    <method name=\"Introspect\">\n"
	"      <arg type=\"s\" name=\"xml_data\" direction=\"out\"/>\n"
	"    </method>\n"
	"  </interface>\n"
	"  <interface name=\"org.freedesktop.DBus.Peer\">\n"
	"    <method name=\"Ping\"/>\n"
	"    <method name=\"GetMachineId\">\n"
	"      <arg type=\"s\" name=\"machine_uuid\" direction=\"out\"/>\n"
	"    </method>\n"
	"  </interface>\n";

static const gchar *
documented_introspection_xml(void)
{
	static gchar *xml;
	if (g_once_init_enter(&xml)) {
		g_autoptr(GBytes) bytes = g_resource_lookup_data(
			cocoon_dbus_get_resource(),
			"/io/github/cocoon/dbus/io.github.cocoon.Sandbox1.xml",
			G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
		g_autoptr(GDBusNodeInfo) node =
			bytes != NULL
				? g_dbus_node_info_new_for_xml(g_bytes_get_data(bytes, NULL), NULL)
				: NULL;
		GDBusInterfaceInfo *info =
			node != NULL
				? g_dbus_node_info_lookup_interface(node, COCOON_DBUS_INTERFACE)
				: NULL;
		GString *text = g_string_new(INTROSPECT_DOCTYPE "<node>\n");
		g_string_append(text, standard_interfaces_xml);
		/* without the resource, the generated (undocumented) data */
		g_dbus_interface_info_generate_xml(
			info != NULL ? info : cocoon_dbus_sandbox1_interface_info(), 2, text);
		g_string_append(text, "</node>\n");
		g_once_init_leave(&xml, g_string_free(text, FALSE));
	}
	return xml;
}

static GDBusMessage *
introspect_filter(GDBusConnection *connection, GDBusMessage *message, gboolean incoming,
		  gpointer data)
{
	CocoonDbusExporter *exporter = data;
	g_autoptr(GDBusMessage) reply = NULL;
	const gchar *path = g_dbus_message_get_path(message);

	if (!incoming ||
	    g_dbus_message_get_message_type(message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL ||
	    g_strcmp0(g_dbus_message_get_interface(message),
		      "org.freedesktop.DBus.Introspectable") != 0 ||
	    g_strcmp0(g_dbus_message_get_member(message), "Introspect") != 0 || path == NULL)
		return message;
	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&exporter->paths_lock);
		if (!g_hash_table_contains(exporter->paths, path))
			return message;
	}
	if ((g_dbus_message_get_flags(message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) == 0) {
		reply = g_dbus_message_new_method_reply(message);
		g_dbus_message_set_body(reply,
					g_variant_new("(s)", documented_introspection_xml()));
		g_dbus_connection_send_message(connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
					       NULL, NULL);
	}
	g_object_unref(message);
	return NULL;
}

void
cocoon_dbus_introspect_filter_add(CocoonDbusExporter *exporter, GDBusConnection *connection)
{
	guint id = g_dbus_connection_add_filter(connection, introspect_filter, exporter, NULL);
	g_object_set_data(G_OBJECT(connection), FILTER_ID_KEY, GUINT_TO_POINTER(id));
}

void
cocoon_dbus_introspect_filter_remove(GDBusConnection *connection)
{
	guint id = GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(connection), FILTER_ID_KEY));
	if (id != 0)
		g_dbus_connection_remove_filter(connection, id);
	g_object_set_data(G_OBJECT(connection), FILTER_ID_KEY, NULL);
}

gchar *
cocoon_dbus_sandbox_object_path(const gchar *sandbox_id)
{
	g_autofree gchar *escaped = g_dbus_escape_object_path(sandbox_id);
	return g_strconcat(COCOON_DBUS_SANDBOX_PATH_PREFIX, escaped, NULL);
}

gchar *
cocoon_dbus_peer_socket_path(const gchar *state_dir, const gchar *sandbox_id)
{
	return g_build_filename(state_dir, sandbox_id, COCOON_DBUS_PEER_SOCKET, NULL);
}

/* a(ssusux) of the containers, sorted by id */
static gint
container_compare(gconstpointer a, gconstpointer b)
{
	const CocoonContainerInfo *x = *(CocoonContainerInfo *const *)a;
	const CocoonContainerInfo *y = *(CocoonContainerInfo *const *)b;
	return g_strcmp0(x->id, y->id);
}

static gint
process_compare(gconstpointer a, gconstpointer b)
{
	const CocoonProcessInfo *x = *(CocoonProcessInfo *const *)a;
	const CocoonProcessInfo *y = *(CocoonProcessInfo *const *)b;
	return g_strcmp0(x->exec_id, y->exec_id);
}

static GPtrArray *
sorted_containers(CocoonSandboxInfo *info)
{
	GPtrArray *sorted = g_ptr_array_new();
	for (guint i = 0; i < info->containers->len; i++)
		g_ptr_array_add(sorted, info->containers->pdata[i]);
	g_ptr_array_sort(sorted, container_compare);
	return sorted;
}

static void
add_process(GVariantBuilder *builder, const gchar *container_id, CocoonProcessInfo *process)
{
	g_variant_builder_add(builder, "(ssusux)", container_id,
			      process->exec_id != NULL ? process->exec_id : "", process->pid,
			      process->status != NULL ? process->status : "unknown",
			      process->exit_status, process->exited_at_us);
}

static void
fill_skeleton(CocoonDbusSandbox1 *skeleton, CocoonSandboxInfo *info)
{
	g_autoptr(GPtrArray) containers = sorted_containers(info);
	GVariantBuilder cbuilder, pbuilder;

	g_variant_builder_init(&cbuilder, G_VARIANT_TYPE("a(ssusux)"));
	g_variant_builder_init(&pbuilder, G_VARIANT_TYPE("a(ssusux)"));
	for (guint i = 0; i < containers->len; i++) {
		CocoonContainerInfo *container = containers->pdata[i];
		CocoonProcessInfo *init = container->init;
		g_autoptr(GPtrArray) execs = g_ptr_array_new();
		g_variant_builder_add(
			&cbuilder, "(ssusux)", container->id,
			container->container_type != NULL ? container->container_type : "",
			init != NULL ? init->pid : 0,
			init != NULL && init->status != NULL ? init->status : "unknown",
			init != NULL ? init->exit_status : 0,
			init != NULL ? init->exited_at_us : 0);
		if (init != NULL)
			add_process(&pbuilder, container->id, init);
		for (guint j = 0; j < container->execs->len; j++)
			g_ptr_array_add(execs, container->execs->pdata[j]);
		g_ptr_array_sort(execs, process_compare);
		for (guint j = 0; j < execs->len; j++)
			add_process(&pbuilder, container->id, execs->pdata[j]);
	}
	cocoon_dbus_sandbox1_set_id(skeleton, info->id);
	cocoon_dbus_sandbox1_set_state(skeleton, info->state != NULL ? info->state : "empty");
	cocoon_dbus_sandbox1_set_qemu_pid(skeleton, (guint)MAX(info->qemu_pid, 0));
	cocoon_dbus_sandbox1_set_accel(skeleton, info->accel != NULL ? info->accel : "");
	cocoon_dbus_sandbox1_set_vcpus(skeleton, info->vcpus);
	cocoon_dbus_sandbox1_set_memory_mi_b(skeleton, info->memory_mib);
	cocoon_dbus_sandbox1_set_boot_duration_ms(skeleton, (guint64)MAX(info->boot_ms, 0));
	cocoon_dbus_sandbox1_set_booted_at(skeleton, info->booted_at_us);
	cocoon_dbus_sandbox1_set_agent_latency_us(skeleton, (guint64)MAX(info->agent_rtt_us, 0));
	cocoon_dbus_sandbox1_set_containers(skeleton, g_variant_builder_end(&cbuilder));
	cocoon_dbus_sandbox1_set_processes(skeleton, g_variant_builder_end(&pbuilder));
}

/* ---------------------------------------------------------------- Stop() */

gboolean
cocoon_dbus_stop_qemu(CocoonSandboxInfo *info, gpointer user_data, GError **error)
{
	g_autofree gchar *status_path = NULL;
	g_autofree gchar *status = NULL;
	const gchar *ppid_line;
	g_autoptr(CocoonPidfd) pidfd = NULL;
	g_autoptr(GError) local_error = NULL;

	if (info == NULL || info->qemu_pid <= 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "sandbox %s has no VM",
			    info != NULL ? info->id : "?");
		return FALSE;
	}
	/*
	 * a pidfd first, then the parent check: the pidfd keeps naming the process we checked.
	 * Without pidfd_open(2) (Linux < 5.3, valgrind 3.19) the pid itself: QEMU reaped and its
	 * pid reused between the check and kill() would be hit.
	 */
	pidfd = cocoon_pidfd_open(info->qemu_pid, &local_error);
	if (pidfd == NULL) {
		g_set_error(error, G_IO_ERROR, local_error->code, "sandbox %s: QEMU pid %d: %s",
			    info->id, info->qemu_pid, local_error->message);
		return FALSE;
	}
	status_path = g_strdup_printf("/proc/%d/status", info->qemu_pid);
	if (!g_file_get_contents(status_path, &status, NULL, error))
		return FALSE;
	ppid_line = strstr(status, "\nPPid:");
	if (ppid_line == NULL ||
	    g_ascii_strtoll(ppid_line + strlen("\nPPid:"), NULL, 10) != (gint64)getpid()) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "sandbox %s: pid %d is no longer this shim's QEMU", info->id,
			    info->qemu_pid);
		return FALSE;
	}
	if (!cocoon_pidfd_send_signal(pidfd, SIGKILL, &local_error)) {
		g_set_error(error, G_IO_ERROR, local_error->code,
			    "sandbox %s: kill QEMU pid %d: %s", info->id, info->qemu_pid,
			    local_error->message);
		return FALSE;
	}
	return TRUE;
}

typedef struct {
	CocoonDbusExporter *exporter;
	gchar *sandbox_id;
	GDBusMethodInvocation *invocation;
} StopCall;

static void
stop_call_free(StopCall *call)
{
	g_free(call->sandbox_id);
	g_clear_object(&call->invocation);
	g_free(call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(StopCall, stop_call_free)

static void
stop_as(StopCall *call, gboolean known, guint32 uid)
{
	CocoonDbusExporter *exporter = call->exporter;
	ExportedSandbox *sandbox = g_hash_table_lookup(exporter->sandboxes, call->sandbox_id);
	g_autoptr(GError) error = NULL;

	if (!known || uid != 0) {
		g_message("sandbox %s: Stop() refused to uid %d", call->sandbox_id,
			  known ? (gint)uid : -1);
		g_dbus_method_invocation_return_dbus_error(
			g_steal_pointer(&call->invocation), DBUS_ERROR_ACCESS_DENIED,
			known ? "Stop() needs root"
			      : "Stop() needs root; the caller's uid is unknown");
		return;
	}
	if (sandbox == NULL || !exporter->stop_func(sandbox->info, exporter->stop_data, &error)) {
		g_message("sandbox %s: Stop(): %s", call->sandbox_id,
			  error != NULL ? error->message : "unknown sandbox");
		g_dbus_method_invocation_return_dbus_error(
			g_steal_pointer(&call->invocation), DBUS_ERROR_FAILED,
			error != NULL ? error->message : "unknown sandbox");
		return;
	}
	g_message("sandbox %s: stopped by Stop() over D-Bus (QEMU pid %d)", call->sandbox_id,
		  sandbox->info->qemu_pid);
	g_dbus_method_invocation_return_value(g_steal_pointer(&call->invocation), NULL);
}

static void
stop_got_uid(GObject *source, GAsyncResult *result, gpointer data)
{
	g_autoptr(StopCall) call = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply =
		g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
	guint32 uid = 0;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_dbus_method_invocation_return_dbus_error(g_steal_pointer(&call->invocation),
							   DBUS_ERROR_FAILED, "shutting down");
		return;
	}
	if (reply != NULL)
		g_variant_get(reply, "(u)", &uid);
	stop_as(call, reply != NULL, uid);
}

static gboolean
on_handle_stop(CocoonDbusSandbox1 *skeleton, GDBusMethodInvocation *invocation, gpointer data)
{
	ExportedSandbox *sandbox = data;
	GDBusConnection *connection = g_dbus_method_invocation_get_connection(invocation);
	StopCall *call = g_new0(StopCall, 1);

	call->exporter = sandbox->exporter;
	call->sandbox_id = g_strdup(sandbox->id);
	/* ours now: every path below returns it exactly once */
	call->invocation = invocation;
	if (g_dbus_connection_get_unique_name(connection) != NULL) {
		/* a bus: ask it who the sender is */
		g_dbus_connection_call(
			connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			"org.freedesktop.DBus", "GetConnectionUnixUser",
			g_variant_new("(s)", g_dbus_method_invocation_get_sender(invocation)),
			G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, -1,
			sandbox->exporter->cancellable, stop_got_uid, call);
	} else {
		/* peer to peer: the credentials of the socket */
		GCredentials *credentials = g_dbus_connection_get_peer_credentials(connection);
		uid_t uid = credentials != NULL ? g_credentials_get_unix_user(credentials, NULL)
						: (uid_t)-1;
		stop_as(call, uid != (uid_t)-1, (guint32)uid);
		stop_call_free(call);
	}
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---------------------------------------------------------------- peer sockets */

static gboolean
on_allow_mechanism(GDBusAuthObserver *observer, const gchar *mechanism, gpointer data)
{
	return g_strcmp0(mechanism, "EXTERNAL") == 0;
}

static gboolean
on_authorize_peer(GDBusAuthObserver *observer, GIOStream *stream, GCredentials *credentials,
		  gpointer data)
{
	uid_t uid;
	if (credentials == NULL)
		return FALSE;
	uid = g_credentials_get_unix_user(credentials, NULL);
	if (uid == 0 || uid == getuid())
		return TRUE;
	g_debug("peer socket: refusing uid %d", (gint)uid);
	return FALSE;
}

GDBusAuthObserver *
cocoon_dbus_peer_auth_observer_new(void)
{
	GDBusAuthObserver *observer = g_dbus_auth_observer_new();

	g_signal_connect(observer, "allow-mechanism", G_CALLBACK(on_allow_mechanism), NULL);
	g_signal_connect(observer, "authorize-authenticated-peer", G_CALLBACK(on_authorize_peer),
			 NULL);
	return observer;
}

static void
on_peer_closed(GDBusConnection *connection, gboolean remote_peer_vanished, GError *error,
	       gpointer data)
{
	ExportedSandbox *sandbox = data;
	g_dbus_interface_skeleton_unexport_from_connection(
		G_DBUS_INTERFACE_SKELETON(sandbox->peer_skeleton), connection);
	g_signal_handlers_disconnect_by_data(connection, sandbox);
	cocoon_dbus_introspect_filter_remove(connection);
	g_ptr_array_remove(sandbox->peers, connection);
}

static gboolean
on_new_connection(GDBusServer *server, GDBusConnection *connection, gpointer data)
{
	ExportedSandbox *sandbox = data;
	g_autoptr(GError) error = NULL;

	if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(sandbox->peer_skeleton),
					      connection, sandbox->path, &error)) {
		g_warning("sandbox %s: peer connection: %s", sandbox->id, error->message);
		return FALSE;
	}
	g_ptr_array_add(sandbox->peers, g_object_ref(connection));
	g_signal_connect(connection, "closed", G_CALLBACK(on_peer_closed), sandbox);
	cocoon_dbus_introspect_filter_add(sandbox->exporter, connection);
	return TRUE;
}

static gboolean
peer_server_start(ExportedSandbox *sandbox, GError **error)
{
	CocoonDbusExporter *exporter = sandbox->exporter;
	g_autofree gchar *dir = g_build_filename(exporter->state_dir, sandbox->id, NULL);
	g_autofree gchar *escaped = NULL;
	g_autofree gchar *address = NULL;
	g_autofree gchar *guid = g_dbus_generate_guid();

	sandbox->socket_path = cocoon_dbus_peer_socket_path(exporter->state_dir, sandbox->id);
	if (strlen(sandbox->socket_path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "%s is too long for a unix socket", sandbox->socket_path);
		return FALSE;
	}
	if (g_mkdir_with_parents(dir, 0700) < 0) {
		cocoon_set_error_from_errno(error, "mkdir %s", dir);
		return FALSE;
	}
	/* a dead shim's socket: this shim owns the sandbox's state now */
	g_unlink(sandbox->socket_path);
	escaped = g_dbus_address_escape_value(sandbox->socket_path);
	address = g_strdup_printf("unix:path=%s", escaped);
	sandbox->server = g_dbus_server_new_sync(address, G_DBUS_SERVER_FLAGS_NONE, guid,
						 exporter->auth_observer, NULL, error);
	if (sandbox->server == NULL)
		return FALSE;
	g_signal_connect(sandbox->server, "new-connection", G_CALLBACK(on_new_connection), sandbox);
	g_dbus_server_start(sandbox->server);
	g_info("sandbox %s: D-Bus peer socket %s", sandbox->id, sandbox->socket_path);
	return TRUE;
}

/* ---------------------------------------------------------------- sandboxes */

void
cocoon_dbus_exported_sandbox_free(ExportedSandbox *sandbox)
{
	if (sandbox == NULL)
		return;
	if (sandbox->server != NULL) {
		g_dbus_server_stop(sandbox->server);
		g_signal_handlers_disconnect_by_data(sandbox->server, sandbox);
		g_clear_object(&sandbox->server);
		g_unlink(sandbox->socket_path);
	}
	for (guint i = 0; i < sandbox->peers->len; i++) {
		GDBusConnection *connection = sandbox->peers->pdata[i];
		g_signal_handlers_disconnect_by_data(connection, sandbox);
		cocoon_dbus_introspect_filter_remove(connection);
		g_dbus_interface_skeleton_unexport_from_connection(
			G_DBUS_INTERFACE_SKELETON(sandbox->peer_skeleton), connection);
		g_dbus_connection_close(connection, NULL, NULL, NULL);
	}
	g_ptr_array_unref(sandbox->peers);
	g_signal_handlers_disconnect_by_data(sandbox->peer_skeleton, sandbox);
	g_signal_handlers_disconnect_by_data(sandbox->bus_skeleton, sandbox);
	g_clear_object(&sandbox->peer_skeleton);
	g_clear_object(&sandbox->bus_skeleton);
	g_clear_object(&sandbox->object);
	cocoon_sandbox_info_unref(sandbox->info);
	g_free(sandbox->socket_path);
	g_free(sandbox->path);
	g_free(sandbox->id);
	g_free(sandbox);
}

static void
skeleton_init(ExportedSandbox *sandbox, CocoonDbusSandbox1 *skeleton)
{
	cocoon_dbus_sandbox1_set_namespace(skeleton, sandbox->exporter->namespace_);
	cocoon_dbus_sandbox1_set_shim_pid(skeleton, (guint)getpid());
	fill_skeleton(skeleton, sandbox->info);
	g_signal_connect(skeleton, "handle-stop", G_CALLBACK(on_handle_stop), sandbox);
}

ExportedSandbox *
cocoon_dbus_sandbox_ensure(CocoonDbusExporter *exporter, const gchar *id)
{
	ExportedSandbox *sandbox = g_hash_table_lookup(exporter->sandboxes, id);
	g_autoptr(GError) error = NULL;

	if (sandbox != NULL)
		return sandbox;
	sandbox = g_new0(ExportedSandbox, 1);
	sandbox->exporter = exporter;
	sandbox->id = g_strdup(id);
	sandbox->path = cocoon_dbus_sandbox_object_path(id);
	sandbox->info = cocoon_sandbox_info_new(id);
	sandbox->peers = g_ptr_array_new_with_free_func(g_object_unref);
	sandbox->bus_skeleton = cocoon_dbus_sandbox1_skeleton_new();
	sandbox->peer_skeleton = cocoon_dbus_sandbox1_skeleton_new();
	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&exporter->paths_lock);
		g_hash_table_add(exporter->paths, g_strdup(sandbox->path));
	}
	skeleton_init(sandbox, sandbox->bus_skeleton);
	skeleton_init(sandbox, sandbox->peer_skeleton);
	/* a plain object skeleton: the generated one expects the generated interface info */
	sandbox->object = g_dbus_object_skeleton_new(sandbox->path);
	g_dbus_object_skeleton_add_interface(sandbox->object,
					     G_DBUS_INTERFACE_SKELETON(sandbox->bus_skeleton));
	g_hash_table_insert(exporter->sandboxes, sandbox->id, sandbox);
	g_dbus_object_manager_server_export(exporter->manager, sandbox->object);
	if (!peer_server_start(sandbox, &error))
		g_warning("sandbox %s: no D-Bus peer socket: %s", id, error->message);
	return sandbox;
}

void
cocoon_dbus_exporter_update(CocoonDbusExporter *exporter, CocoonSandboxInfo *info)
{
	ExportedSandbox *sandbox = cocoon_dbus_sandbox_ensure(exporter, info->id);

	cocoon_sandbox_info_unref(sandbox->info);
	sandbox->info = cocoon_sandbox_info_ref(info);
	fill_skeleton(sandbox->bus_skeleton, info);
	fill_skeleton(sandbox->peer_skeleton, info);
}
