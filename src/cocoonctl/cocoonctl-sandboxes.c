/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoonctl"

#include "config.h"

#include "cocoonctl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include <glib-unix.h>

#include "cocoon-dbus-exporter.h"
#include "cocoon-dbus-generated.h"
#include "cocoonctl-confine.h"

#define CALL_TIMEOUT_MS 5000

/* one sandbox as read from a shim */
typedef struct {
	CocoonDbusSandbox1 *proxy;
	gchar *source; /* "bus:NAME" or "socket:PATH" */
} FoundSandbox;

static void
found_sandbox_free(FoundSandbox *found)
{
	g_clear_object(&found->proxy);
	g_free(found->source);
	g_free(found);
}

static gint
found_compare(gconstpointer a, gconstpointer b)
{
	const FoundSandbox *x = *(FoundSandbox *const *)a;
	const FoundSandbox *y = *(FoundSandbox *const *)b;
	return g_strcmp0(cocoon_dbus_sandbox1_get_id(x->proxy),
			 cocoon_dbus_sandbox1_get_id(y->proxy));
}

/* ---------------------------------------------------------------- finding shims */

static gchar *
bus_address_for(CocoonctlOptions *options)
{
	CocoonDbusBus bus = cocoon_dbus_bus_from_string(options->bus);
	const gchar *env;
	if (bus == COCOON_DBUS_BUS_SYSTEM) {
		env = g_getenv("DBUS_SYSTEM_BUS_ADDRESS");
		return g_strdup(env != NULL && env[0] != '\0'
					? env
					: "unix:path=/run/dbus/system_bus_socket");
	}
	if (bus == COCOON_DBUS_BUS_SESSION) {
		env = g_getenv("DBUS_SESSION_BUS_ADDRESS");
		if (env != NULL && env[0] != '\0')
			return g_strdup(env);
	}
	return NULL;
}

GDBusConnection *
cocoonctl_bus_connect(CocoonctlOptions *options)
{
	g_autofree gchar *address = bus_address_for(options);
	g_autoptr(GError) error = NULL;
	GDBusConnection *connection;

	if (address == NULL)
		return NULL;
	connection = g_dbus_connection_new_for_address_sync(
		address,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
			G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, NULL, &error);
	if (connection == NULL && options->verbose)
		g_printerr("cocoonctl: no %s bus (%s), looking at the peer sockets only\n",
			   options->bus, error->message);
	return connection;
}

/* io.github.cocoon.Shim.p<PID> names on the bus */
static GPtrArray *
bus_shim_names(GDBusConnection *bus)
{
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
		"ListNames", NULL, G_VARIANT_TYPE("(as)"), G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS,
		NULL, NULL);
	g_autoptr(GVariantIter) iter = NULL;
	const gchar *name;

	if (reply == NULL)
		return names;
	g_variant_get(reply, "(as)", &iter);
	while (g_variant_iter_loop(iter, "&s", &name)) {
		if (g_str_has_prefix(name, COCOON_DBUS_NAME_PREFIX))
			g_ptr_array_add(names, g_strdup(name));
	}
	return names;
}

static void
find_on_bus(CocoonctlOptions *options, GDBusConnection *bus, GPtrArray *found)
{
	g_autoptr(GPtrArray) names = bus_shim_names(bus);

	for (guint i = 0; i < names->len; i++) {
		const gchar *name = names->pdata[i];
		g_autoptr(GError) error = NULL;
		g_autoptr(GDBusObjectManager) manager = cocoon_dbus_object_manager_client_new_sync(
			bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START, name,
			COCOON_DBUS_MANAGER_PATH, NULL, &error);
		GList *objects;

		if (manager == NULL) {
			if (options->verbose)
				g_printerr("cocoonctl: %s: %s\n", name, error->message);
			continue;
		}
		objects = g_dbus_object_manager_get_objects(manager);
		for (GList *l = objects; l != NULL; l = l->next) {
			CocoonDbusSandbox1 *proxy =
				cocoon_dbus_object_get_sandbox1(COCOON_DBUS_OBJECT(l->data));
			FoundSandbox *sandbox;
			if (proxy == NULL)
				continue;
			sandbox = g_new0(FoundSandbox, 1);
			sandbox->proxy = proxy;
			sandbox->source = g_strdup_printf("bus:%s", name);
			g_ptr_array_add(found, sandbox);
		}
		g_list_free_full(objects, g_object_unref);
	}
}

static gboolean
already_found(GPtrArray *found, const gchar *id)
{
	for (guint i = 0; i < found->len; i++) {
		FoundSandbox *sandbox = found->pdata[i];
		if (g_strcmp0(cocoon_dbus_sandbox1_get_id(sandbox->proxy), id) == 0)
			return TRUE;
	}
	return FALSE;
}

CocoonDbusSandbox1 *
cocoonctl_peer_proxy(const gchar *socket_path, const gchar *id, GError **error)
{
	g_autofree gchar *escaped = g_dbus_address_escape_value(socket_path);
	g_autofree gchar *address = g_strdup_printf("unix:path=%s", escaped);
	g_autofree gchar *path = cocoon_dbus_sandbox_object_path(id);
	g_autoptr(GDBusConnection) connection = g_dbus_connection_new_for_address_sync(
		address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, NULL, error);
	CocoonDbusSandbox1 *proxy;

	if (connection == NULL)
		return NULL;
	proxy = cocoon_dbus_sandbox1_proxy_new_sync(connection, G_DBUS_PROXY_FLAGS_NONE, NULL, path,
						    NULL, error);
	/* a proxy to an object that is not there has no properties */
	if (proxy != NULL && cocoon_dbus_sandbox1_get_id(proxy) == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s serves no sandbox %s",
			    socket_path, id);
		g_clear_object(&proxy);
	}
	return proxy;
}

/* <state_dir>/<id>/dbus.sock of sandboxes the bus did not show */
static void
find_on_sockets(CocoonctlOptions *options, GPtrArray *found)
{
	g_autoptr(GDir) dir = g_dir_open(options->config->state_dir, 0, NULL);
	const gchar *id;

	while (dir != NULL && (id = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *socket_path =
			cocoon_dbus_peer_socket_path(options->config->state_dir, id);
		g_autoptr(GError) error = NULL;
		CocoonDbusSandbox1 *proxy;
		FoundSandbox *sandbox;

		if (already_found(found, id) || !g_file_test(socket_path, G_FILE_TEST_EXISTS))
			continue;
		proxy = cocoonctl_peer_proxy(socket_path, id, &error);
		if (proxy == NULL) {
			/* a dead shim's socket, or not ours to read */
			if (options->verbose)
				g_printerr("cocoonctl: %s: %s\n", socket_path, error->message);
			continue;
		}
		sandbox = g_new0(FoundSandbox, 1);
		sandbox->proxy = proxy;
		sandbox->source = g_strdup_printf("socket:%s", socket_path);
		g_ptr_array_add(found, sandbox);
	}
}

static GPtrArray *
find_sandboxes(CocoonctlOptions *options)
{
	GPtrArray *found = g_ptr_array_new_with_free_func((GDestroyNotify)found_sandbox_free);
	g_autoptr(GDBusConnection) bus = cocoonctl_bus_connect(options);

	if (bus != NULL)
		find_on_bus(options, bus, found);
	find_on_sockets(options, found);
	g_ptr_array_sort(found, found_compare);
	return found;
}

/* ---------------------------------------------------------------- the VMM's confinement */

/* the namespaces compared with cocoonctl's own; mnt and pid decide "confined" */
static const gchar *const namespace_names[] = {"mnt", "pid", "ipc", "uts", "net"};
#define NAMESPACE_MNT 0
#define NAMESPACE_PID 1

typedef enum {
	NAMESPACE_UNKNOWN,
	NAMESPACE_SAME,
	NAMESPACE_OWN,
} NamespaceState;

/* how a pod's VMM runs, as /proc shows it */
typedef struct {
	guint32 pid;
	gchar *error; /* why /proc/<pid>/status could not be read, or NULL */
	CocoonctlProcStatus status;
	NamespaceState namespaces[G_N_ELEMENTS(namespace_names)];
	gchar *namespace_error; /* the first ns link that could not be read */
	gboolean in_range;	/* its uid is one of confine.uid_* */
	gboolean known;		/* status and the mnt and pid namespaces were read */
	gboolean confined;
	gchar *missing; /* what it lacks to be confined */
} VmmConfinement;

static void
vmm_confinement_free(VmmConfinement *vmm)
{
	if (vmm == NULL)
		return;
	g_free(vmm->error);
	g_free(vmm->namespace_error);
	g_free(vmm->missing);
	g_free(vmm);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmConfinement, vmm_confinement_free)

/* the inode of a namespace link: two processes share the namespace when it is the same */
static NamespaceState
namespace_state(guint32 pid, const gchar *name, gchar **ret_error)
{
	g_autofree gchar *theirs = g_strdup_printf("/proc/%u/ns/%s", pid, name);
	g_autofree gchar *ours = g_strdup_printf("/proc/self/ns/%s", name);
	struct stat their_stat, our_stat;

	if (stat(theirs, &their_stat) < 0 || stat(ours, &our_stat) < 0) {
		if (*ret_error == NULL)
			*ret_error = g_strdup_printf("%s: %s", theirs, g_strerror(errno));
		return NAMESPACE_UNKNOWN;
	}
	return their_stat.st_dev == our_stat.st_dev && their_stat.st_ino == our_stat.st_ino
		       ? NAMESPACE_SAME
		       : NAMESPACE_OWN;
}

static VmmConfinement *
vmm_confinement_read(guint32 pid, const CocoonConfig *config)
{
	g_autoptr(VmmConfinement) vmm = g_new0(VmmConfinement, 1);
	g_autofree gchar *path = g_strdup_printf("/proc/%u/status", pid);
	g_autofree gchar *contents = NULL;
	g_autoptr(GError) error = NULL;

	vmm->pid = pid;
	if (pid == 0) {
		vmm->error = g_strdup("no VM");
		return g_steal_pointer(&vmm);
	}
	if (!g_file_get_contents(path, &contents, NULL, &error) ||
	    !cocoonctl_proc_status_parse(contents, &vmm->status, &error)) {
		vmm->error = g_strdup_printf("%s: %s", path, error->message);
		return g_steal_pointer(&vmm);
	}
	for (guint i = 0; i < G_N_ELEMENTS(namespace_names); i++)
		vmm->namespaces[i] =
			namespace_state(pid, namespace_names[i], &vmm->namespace_error);
	vmm->in_range = vmm->status.uid[1] >= config->uid_base &&
			(guint64)vmm->status.uid[1] < (guint64)config->uid_base + config->uid_count;
	if (vmm->namespaces[NAMESPACE_MNT] != NAMESPACE_UNKNOWN &&
	    vmm->namespaces[NAMESPACE_PID] != NAMESPACE_UNKNOWN) {
		vmm->known = TRUE;
		vmm->confined = cocoonctl_confined(
			&vmm->status, vmm->namespaces[NAMESPACE_MNT] == NAMESPACE_OWN,
			vmm->namespaces[NAMESPACE_PID] == NAMESPACE_OWN, &vmm->missing);
	} else {
		/* namespaces not readable (not root): "no" if something else lacks, else open */
		vmm->known = !cocoonctl_confined(&vmm->status, TRUE, TRUE, &vmm->missing);
	}
	return g_steal_pointer(&vmm);
}

/* "yes", "no" or "unknown" */
static const gchar *
vmm_confined_text(const VmmConfinement *vmm)
{
	if (vmm->error != NULL || !vmm->known)
		return "unknown";
	return vmm->confined ? "yes" : "no";
}

static const gchar *
namespace_state_text(NamespaceState state)
{
	return state == NAMESPACE_OWN ? "differs" : state == NAMESPACE_SAME ? "same" : "unknown";
}

static CocoonJson *
vmm_json(const VmmConfinement *vmm)
{
	CocoonJson *object = cocoon_json_new_object();
	CocoonJson *namespaces;
	g_autofree gchar *cap_eff = NULL;

	cocoon_json_object_set_int64(object, "pid", vmm->pid);
	cocoon_json_object_set_string(object, "confined", vmm_confined_text(vmm));
	if (vmm->error != NULL) {
		cocoon_json_object_set_string(object, "error", vmm->error);
		return object;
	}
	cap_eff = g_strdup_printf("%016" G_GINT64_MODIFIER "x", vmm->status.cap_eff);
	if (vmm->missing != NULL)
		cocoon_json_object_set_string(object, "missing", vmm->missing);
	cocoon_json_object_set_int64(object, "uid", vmm->status.uid[1]);
	cocoon_json_object_set_int64(object, "gid", vmm->status.gid[1]);
	cocoon_json_object_set_boolean(object, "uid_in_range", vmm->in_range);
	cocoon_json_object_set_string(object, "cap_eff", cap_eff);
	cocoon_json_object_set_int64(object, "no_new_privs", vmm->status.no_new_privs);
	cocoon_json_object_set_int64(object, "seccomp", vmm->status.seccomp);
	cocoon_json_object_set_string(object, "seccomp_mode",
				      cocoonctl_seccomp_to_string(vmm->status.seccomp));
	namespaces = cocoon_json_new_object();
	for (guint i = 0; i < G_N_ELEMENTS(namespace_names); i++)
		cocoon_json_object_set_string(namespaces, namespace_names[i],
					      namespace_state_text(vmm->namespaces[i]));
	cocoon_json_object_set(object, "namespaces", namespaces);
	if (vmm->namespace_error != NULL)
		cocoon_json_object_set_string(object, "namespace_error", vmm->namespace_error);
	return object;
}

static void
vmm_print(const VmmConfinement *vmm, const CocoonConfig *config)
{
	g_autofree gchar *caps = NULL;
	g_autoptr(GString) namespaces = g_string_new(NULL);
	guint32 last = config->uid_base + config->uid_count - 1;

	if (vmm->error != NULL) {
		g_print("Confined:       unknown (%s)\n", vmm->error);
		return;
	}
	if (vmm->missing != NULL)
		g_print("Confined:       %s (%s)\n", vmm_confined_text(vmm), vmm->missing);
	else
		g_print("Confined:       %s\n", vmm_confined_text(vmm));
	g_print("  Uid/Gid:      %u/%u (%s confine.uid_* %u-%u)\n", vmm->status.uid[1],
		vmm->status.gid[1], vmm->in_range ? "in" : "not in", config->uid_base, last);
	caps = cocoonctl_caps_to_string(vmm->status.cap_eff);
	g_print("  CapEff:       %016" G_GINT64_MODIFIER "x (%s)\n", vmm->status.cap_eff, caps);
	g_print("  NoNewPrivs:   %u\n", vmm->status.no_new_privs);
	g_print("  Seccomp:      %u (%s)\n", vmm->status.seccomp,
		cocoonctl_seccomp_to_string(vmm->status.seccomp));
	for (guint i = 0; i < G_N_ELEMENTS(namespace_names); i++)
		g_string_append_printf(namespaces, "%s%s %s", i > 0 ? ", " : "", namespace_names[i],
				       namespace_state_text(vmm->namespaces[i]));
	g_print("  Namespaces:   %s (vs cocoonctl's)%s%s\n", namespaces->str,
		vmm->namespace_error != NULL ? ": " : "",
		vmm->namespace_error != NULL ? vmm->namespace_error : "");
}

/* ---------------------------------------------------------------- output */

static CocoonJson *
processes_json(GVariant *value, gboolean containers)
{
	CocoonJson *array = cocoon_json_new_array();
	GVariantIter iter;
	const gchar *first, *second, *status;
	guint32 pid, exit_status;
	gint64 exited_at;

	if (value == NULL)
		return array;
	g_variant_iter_init(&iter, value);
	while (g_variant_iter_next(&iter, "(&s&su&sux)", &first, &second, &pid, &status,
				   &exit_status, &exited_at)) {
		CocoonJson *object = cocoon_json_new_object();
		cocoon_json_object_set_string(object, containers ? "id" : "container_id", first);
		cocoon_json_object_set_string(object, containers ? "type" : "exec_id", second);
		cocoon_json_object_set_int64(object, "pid", pid);
		cocoon_json_object_set_string(object, "status", status);
		cocoon_json_object_set_int64(object, "exit_status", exit_status);
		cocoon_json_object_set_int64(object, "exited_at_us", exited_at);
		cocoon_json_array_append(array, object);
	}
	return array;
}

static CocoonJson *
sandbox_json(FoundSandbox *sandbox, const CocoonConfig *config)
{
	CocoonDbusSandbox1 *proxy = sandbox->proxy;
	CocoonJson *object = cocoon_json_new_object();
	g_autoptr(VmmConfinement) vmm =
		vmm_confinement_read(cocoon_dbus_sandbox1_get_qemu_pid(proxy), config);
	const gchar *text;

#define STRING(key, getter)                                                                        \
	text = getter(proxy);                                                                      \
	cocoon_json_object_set_string(object, key, text != NULL ? text : "")
	STRING("id", cocoon_dbus_sandbox1_get_id);
	STRING("namespace", cocoon_dbus_sandbox1_get_namespace);
	STRING("state", cocoon_dbus_sandbox1_get_state);
	STRING("accel", cocoon_dbus_sandbox1_get_accel);
#undef STRING
	cocoon_json_object_set_int64(object, "shim_pid", cocoon_dbus_sandbox1_get_shim_pid(proxy));
	cocoon_json_object_set_int64(object, "qemu_pid", cocoon_dbus_sandbox1_get_qemu_pid(proxy));
	cocoon_json_object_set(object, "vmm", vmm_json(vmm));
	cocoon_json_object_set_int64(object, "vcpus", cocoon_dbus_sandbox1_get_vcpus(proxy));
	cocoon_json_object_set_int64(object, "memory_mib",
				     cocoon_dbus_sandbox1_get_memory_mi_b(proxy));
	cocoon_json_object_set_int64(object, "boot_duration_ms",
				     (gint64)cocoon_dbus_sandbox1_get_boot_duration_ms(proxy));
	cocoon_json_object_set_int64(object, "booted_at_us",
				     cocoon_dbus_sandbox1_get_booted_at(proxy));
	cocoon_json_object_set_int64(object, "agent_latency_us",
				     (gint64)cocoon_dbus_sandbox1_get_agent_latency_us(proxy));
	cocoon_json_object_set(object, "containers",
			       processes_json(cocoon_dbus_sandbox1_get_containers(proxy), TRUE));
	cocoon_json_object_set(object, "processes",
			       processes_json(cocoon_dbus_sandbox1_get_processes(proxy), FALSE));
	cocoon_json_object_set_string(object, "source", sandbox->source);
	return object;
}

static void
print_json(CocoonJson *json)
{
	g_autofree gchar *text = cocoon_json_to_string(json, TRUE);
	g_print("%s\n", text);
}

static gchar *
format_time(gint64 wall_us)
{
	g_autoptr(GDateTime) time = NULL;
	if (wall_us <= 0)
		return g_strdup("-");
	time = g_date_time_new_from_unix_utc(wall_us / G_USEC_PER_SEC);
	return time != NULL ? g_date_time_format(time, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("?");
}

static guint
count_children(GVariant *value)
{
	return value != NULL ? (guint)g_variant_n_children(value) : 0;
}

gint
cocoonctl_list(CocoonctlOptions *options)
{
	g_autoptr(GPtrArray) found = find_sandboxes(options);

	if (options->json) {
		g_autoptr(CocoonJson) array = cocoon_json_new_array();
		for (guint i = 0; i < found->len; i++)
			cocoon_json_array_append(array,
						 sandbox_json(found->pdata[i], options->config));
		print_json(array);
		return COCOONCTL_EXIT_OK;
	}
	g_print("%-24s %-9s %-5s %5s %8s %8s %8s %10s\n", "SANDBOX", "STATE", "ACCEL", "VCPUS",
		"MEMORY", "BOOT", "QEMU", "CONTAINERS");
	for (guint i = 0; i < found->len; i++) {
		CocoonDbusSandbox1 *proxy = ((FoundSandbox *)found->pdata[i])->proxy;
		g_autofree gchar *memory =
			g_strdup_printf("%uM", cocoon_dbus_sandbox1_get_memory_mi_b(proxy));
		g_autofree gchar *boot = g_strdup_printf(
			"%.1fs",
			(gdouble)cocoon_dbus_sandbox1_get_boot_duration_ms(proxy) / 1000.0);
		const gchar *accel = cocoon_dbus_sandbox1_get_accel(proxy);
		g_print("%-24s %-9s %-5s %5u %8s %8s %8u %10u\n",
			cocoon_dbus_sandbox1_get_id(proxy), cocoon_dbus_sandbox1_get_state(proxy),
			accel != NULL && accel[0] != '\0' ? accel : "-",
			cocoon_dbus_sandbox1_get_vcpus(proxy), memory, boot,
			cocoon_dbus_sandbox1_get_qemu_pid(proxy),
			count_children(cocoon_dbus_sandbox1_get_containers(proxy)));
	}
	return COCOONCTL_EXIT_OK;
}

gint
cocoonctl_inspect(CocoonctlOptions *options, const gchar *id)
{
	g_autoptr(GPtrArray) found = find_sandboxes(options);
	FoundSandbox *sandbox = NULL;
	CocoonDbusSandbox1 *proxy;
	g_autoptr(VmmConfinement) vmm = NULL;
	g_autofree gchar *booted = NULL;
	GVariant *processes;
	GVariantIter iter;
	const gchar *container_id, *exec_id, *status;
	guint32 pid, exit_status;
	gint64 exited_at;

	for (guint i = 0; i < found->len && sandbox == NULL; i++) {
		FoundSandbox *candidate = found->pdata[i];
		if (g_strcmp0(cocoon_dbus_sandbox1_get_id(candidate->proxy), id) == 0)
			sandbox = candidate;
	}
	if (sandbox == NULL) {
		g_printerr("cocoonctl: no sandbox %s (looked on the %s bus and in %s/*/%s)\n", id,
			   g_strcmp0(options->bus, "none") != 0 ? options->bus : "(no)",
			   options->config->state_dir, COCOON_DBUS_PEER_SOCKET);
		return COCOONCTL_EXIT_NOT_FOUND;
	}
	if (options->json) {
		g_autoptr(CocoonJson) json = sandbox_json(sandbox, options->config);
		print_json(json);
		return COCOONCTL_EXIT_OK;
	}
	proxy = sandbox->proxy;
	booted = format_time(cocoon_dbus_sandbox1_get_booted_at(proxy));
	g_print("Sandbox:        %s\n", cocoon_dbus_sandbox1_get_id(proxy));
	g_print("Namespace:      %s\n", cocoon_dbus_sandbox1_get_namespace(proxy));
	g_print("Shim:           pid %u (%s)\n", cocoon_dbus_sandbox1_get_shim_pid(proxy),
		sandbox->source);
	g_print("State:          %s\n", cocoon_dbus_sandbox1_get_state(proxy));
	g_print("QEMU:           pid %u, %s, %u vCPUs, %u MiB\n",
		cocoon_dbus_sandbox1_get_qemu_pid(proxy), cocoon_dbus_sandbox1_get_accel(proxy),
		cocoon_dbus_sandbox1_get_vcpus(proxy), cocoon_dbus_sandbox1_get_memory_mi_b(proxy));
	vmm = vmm_confinement_read(cocoon_dbus_sandbox1_get_qemu_pid(proxy), options->config);
	vmm_print(vmm, options->config);
	g_print("Boot:           %" G_GUINT64_FORMAT " ms, up since %s\n",
		cocoon_dbus_sandbox1_get_boot_duration_ms(proxy), booted);
	g_print("Agent latency:  %" G_GUINT64_FORMAT " us\n",
		cocoon_dbus_sandbox1_get_agent_latency_us(proxy));
	g_print("Processes:\n  %-24s %-12s %8s %-9s %s\n", "CONTAINER", "EXEC", "PID", "STATUS",
		"EXIT");
	processes = cocoon_dbus_sandbox1_get_processes(proxy);
	if (processes != NULL) {
		g_variant_iter_init(&iter, processes);
		while (g_variant_iter_next(&iter, "(&s&su&sux)", &container_id, &exec_id, &pid,
					   &status, &exit_status, &exited_at)) {
			g_autofree gchar *exit_text =
				exited_at > 0 ? g_strdup_printf("%u", exit_status) : g_strdup("-");
			g_print("  %-24s %-12s %8u %-9s %s\n", container_id,
				exec_id[0] != '\0' ? exec_id : "(init)", pid, status, exit_text);
		}
	}
	return COCOONCTL_EXIT_OK;
}

/* ---------------------------------------------------------------- events */

static void
on_task_event(GDBusConnection *connection, const gchar *sender, const gchar *path,
	      const gchar *interface, const gchar *member, GVariant *parameters, gpointer data)
{
	CocoonctlOptions *options = data;
	const gchar *topic, *container_id, *exec_id;
	guint32 pid, exit_status;
	gint64 timestamp;
	g_autofree gchar *sandbox_id = NULL;

	if (!g_variant_is_of_type(parameters, G_VARIANT_TYPE("(sssuux)")))
		return;
	g_variant_get(parameters, "(&s&s&suux)", &topic, &container_id, &exec_id, &pid,
		      &exit_status, &timestamp);
	if (g_str_has_prefix(path, COCOON_DBUS_SANDBOX_PATH_PREFIX)) {
		g_autofree guint8 *raw =
			g_dbus_unescape_object_path(path + strlen(COCOON_DBUS_SANDBOX_PATH_PREFIX));
		sandbox_id = g_strdup(raw != NULL ? (const gchar *)raw : "?");
	}
	if (options->json) {
		g_autoptr(CocoonJson) json = cocoon_json_new_object();
		g_autofree gchar *text = NULL;
		cocoon_json_object_set_string(json, "sandbox",
					      sandbox_id != NULL ? sandbox_id : "");
		cocoon_json_object_set_string(json, "topic", topic);
		cocoon_json_object_set_string(json, "container_id", container_id);
		cocoon_json_object_set_string(json, "exec_id", exec_id);
		cocoon_json_object_set_int64(json, "pid", pid);
		cocoon_json_object_set_int64(json, "exit_status", exit_status);
		cocoon_json_object_set_int64(json, "timestamp_us", timestamp);
		text = cocoon_json_to_string(json, FALSE);
		g_print("%s\n", text);
	} else {
		g_autoptr(GDateTime) time =
			g_date_time_new_from_unix_utc(timestamp / G_USEC_PER_SEC);
		g_autofree gchar *when = time != NULL
						 ? g_date_time_format(time, "%Y-%m-%dT%H:%M:%SZ")
						 : g_strdup("?");
		g_print("%s %-20s %-20s container=%s exec=%s pid=%u exit_status=%u\n", when,
			sandbox_id != NULL ? sandbox_id : "?", topic, container_id, exec_id, pid,
			exit_status);
	}
	fflush(stdout);
}

static gboolean
on_quit(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_REMOVE;
}

gint
cocoonctl_events(CocoonctlOptions *options)
{
	g_autoptr(GDBusConnection) bus = cocoonctl_bus_connect(options);
	g_autoptr(GPtrArray) peers = g_ptr_array_new_with_free_func(g_object_unref);
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GDir) dir = NULL;
	const gchar *id;

	if (bus != NULL) {
		g_dbus_connection_signal_subscribe(bus, NULL, COCOON_DBUS_INTERFACE, "TaskEvent",
						   NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
						   on_task_event, options, NULL);
		names = bus_shim_names(bus);
	}
	/* sandboxes that are not on the bus: their peer sockets, as they are now */
	dir = g_dir_open(options->config->state_dir, 0, NULL);
	while (dir != NULL && (id = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *socket_path =
			cocoon_dbus_peer_socket_path(options->config->state_dir, id);
		g_autoptr(GError) error = NULL;
		g_autoptr(CocoonDbusSandbox1) proxy = NULL;
		GDBusConnection *connection;
		gboolean on_bus = FALSE;

		if (!g_file_test(socket_path, G_FILE_TEST_EXISTS))
			continue;
		proxy = cocoonctl_peer_proxy(socket_path, id, &error);
		if (proxy == NULL)
			continue;
		for (guint i = 0; names != NULL && i < names->len; i++) {
			g_autofree gchar *pid =
				g_strdup_printf("%s%u", COCOON_DBUS_NAME_PREFIX,
						cocoon_dbus_sandbox1_get_shim_pid(proxy));
			on_bus = on_bus || g_str_equal(names->pdata[i], pid);
		}
		if (on_bus)
			continue;
		connection = g_dbus_proxy_get_connection(G_DBUS_PROXY(proxy));
		g_dbus_connection_signal_subscribe(
			connection, NULL, COCOON_DBUS_INTERFACE, "TaskEvent", NULL, NULL,
			G_DBUS_SIGNAL_FLAGS_NONE, on_task_event, options, NULL);
		g_ptr_array_add(peers, g_object_ref(connection));
	}
	if (bus == NULL && peers->len == 0) {
		g_printerr("cocoonctl: no %s bus and no sandbox socket in %s: nothing to follow\n",
			   options->bus, options->config->state_dir);
		return COCOONCTL_EXIT_UNAVAILABLE;
	}
	g_unix_signal_add(SIGINT, on_quit, loop);
	g_unix_signal_add(SIGTERM, on_quit, loop);
	g_main_loop_run(loop);
	return COCOONCTL_EXIT_OK;
}
