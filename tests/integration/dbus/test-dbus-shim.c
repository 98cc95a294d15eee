/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The real shim on a private bus: `containerd-shim-cocoon-v2 start` spawns the daemon, which
 * publishes its sandbox on the bus named by runtime.dbus = "session" (DBUS_SESSION_BUS_ADDRESS:
 * a private dbus-daemon with the system bus's default policy and data/io.github.cocoon.conf).
 * Create and Start go over ttrpc, like containerd sends them; this boots a real VM (TCG here,
 * seconds). Then:
 * - the sandbox reads back over D-Bus (the memory annotation applied) and on its peer socket;
 * - nobody may read it and introspect it (with its doc strings) but is refused Stop();
 * - root's Stop() kills the VM: TaskEvent /tasks/exit 255 and State "failed" follow;
 * - a pod whose annotation is not allowed fails Create with INVALID_ARGUMENT naming the key.
 * Needs root, QEMU, a guest image and a static busybox: SKIP (77) otherwise.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-dbus-exporter.h"
#include "cocoon-dbus-generated.h"
#include "cocoon-json.h"
#include "cocoon-test-bus.h"
#include "cocoon-ttrpc-client.h"
#include "cocoon-ttrpc-server.h"
#include "google/protobuf/empty.pb-c.h"
#include "shim.pb-c.h"
#include "cocoon-fs.h"

#define TASK_SERVICE	"containerd.task.v2.Task"
#define NAMESPACE	"cocoon-dbus-test"
#define CALL_TIMEOUT_MS 120000
#define WAIT_US		(120 * G_USEC_PER_SEC)

static gchar *work_dir;
static gchar *image_dir;
static gchar *busybox;
static CocoonTestBus *bus;
/* the shim daemons this test started, for SIGTERM when an assertion aborts */
static volatile pid_t shim_pids[4];

static void
on_abort(int signal_number)
{
	for (guint i = 0; i < G_N_ELEMENTS(shim_pids); i++) {
		if (shim_pids[i] > 0)
			kill(shim_pids[i], SIGTERM);
	}
}

/* the daemon `start` spawned: its command line names our namespace and the id */
static void
remember_shim(const gchar *id)
{
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	g_autofree gchar *want =
		g_strdup_printf("-namespace%c%s%c-id%c%s%c", 0, NAMESPACE, 0, 0, id, 0);
	gsize want_length =
		strlen("-namespace") + strlen(NAMESPACE) + strlen("-id") + strlen(id) + 4;
	const gchar *name;

	while (proc != NULL && (name = g_dir_read_name(proc)) != NULL) {
		g_autofree gchar *path = g_build_filename("/proc", name, "cmdline", NULL);
		g_autofree gchar *cmdline = NULL;
		gsize length = 0;
		if (!g_ascii_isdigit(name[0]) ||
		    !g_file_get_contents(path, &cmdline, &length, NULL))
			continue;
		for (gsize i = 0; i + want_length <= length; i++) {
			if (memcmp(cmdline + i, want, want_length) == 0) {
				for (guint j = 0; j < G_N_ELEMENTS(shim_pids); j++) {
					if (shim_pids[j] == 0) {
						shim_pids[j] = (pid_t)atoi(name);
						break;
					}
				}
				return;
			}
		}
	}
}

static void
skip(const gchar *why)
{
	g_printerr("SKIP: %s\n", why);
	exit(77);
}

/* ---------------------------------------------------------------- bundles */

static void
write_file(const gchar *path, const gchar *contents)
{
	g_autoptr(GError) error = NULL;
	g_assert_true(g_file_set_contents(path, contents, -1, &error));
}

/* <work>/<id>/config.json and rootfs/ (busybox with the applets the test runs) */
static gchar *
bundle_new(const gchar *id, const gchar *annotation_key, const gchar *annotation_value)
{
	g_autofree gchar *bundle = g_build_filename(work_dir, id, NULL);
	g_autofree gchar *bin = g_build_filename(bundle, "rootfs", "bin", NULL);
	g_autofree gchar *target = g_build_filename(bin, "busybox", NULL);
	g_autofree gchar *config_path = g_build_filename(bundle, "config.json", NULL);
	g_autofree gchar *spec = NULL;
	const gchar *dirs[] = {"proc", "dev", "sys", "tmp", NULL};
	const gchar *applets[] = {"sh", "sleep", NULL};
	g_autoptr(GFile) source_file = g_file_new_for_path(busybox);
	g_autoptr(GFile) target_file = g_file_new_for_path(target);
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(g_mkdir_with_parents(bin, 0755), ==, 0);
	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autofree gchar *dir = g_build_filename(bundle, "rootfs", dirs[i], NULL);
		g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	}
	g_assert_true(g_file_copy(source_file, target_file, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL,
				  &error));
	g_chmod(target, 0755);
	for (guint i = 0; applets[i] != NULL; i++) {
		g_autofree gchar *link = g_build_filename(bin, applets[i], NULL);
		g_assert_cmpint(symlink("busybox", link), ==, 0);
	}
	spec = g_strdup_printf(
		"{\"ociVersion\":\"1.0.2\","
		"\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
		"\"args\":[\"/bin/sleep\",\"1000\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"},"
		"\"root\":{\"path\":\"rootfs\"},\"hostname\":\"%s\","
		"\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
		"{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
		"\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
		"{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
		"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]}],"
		"\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"%s\",\"%s\":\"%s\"},"
		"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":"
		"\"uts\"},"
		"{\"type\":\"mount\"},{\"type\":\"network\"}]}}",
		id, id, annotation_key, annotation_value);
	write_file(config_path, spec);
	return g_steal_pointer(&bundle);
}

/* ---------------------------------------------------------------- the shim */

/*
 * `containerd-shim-cocoon-v2 start` in the bundle: the daemon's ttrpc address. A command line in
 * $COCOON_TEST_WRAPPER goes before the shim's (tests/lib/with-valgrind.sh: memcheck, following
 * `start` into the daemon)
 */
static gchar *
shim_start(const gchar *id, const gchar *bundle)
{
	g_autofree gchar *shim = g_build_filename(g_getenv("COCOON_BUILD_DIR") ?: COCOON_BUILD_DIR,
						  "src", "shim", "containerd-shim-cocoon-v2", NULL);
	g_autofree gchar *config = g_build_filename(work_dir, "cocoon.conf", NULL);
	const gchar *wrapper = g_getenv("COCOON_TEST_WRAPPER");
	const gchar *shim_args[] = {shim,
				    "-namespace",
				    NAMESPACE,
				    "-id",
				    id,
				    "-address",
				    "/nonexistent/containerd.sock",
				    "start",
				    NULL};
	g_autoptr(GStrvBuilder) argv = g_strv_builder_new();
	g_auto(GStrv) spawn_argv = NULL;
	g_autoptr(GSubprocessLauncher) launcher =
		g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_autoptr(GSubprocess) process = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *address = NULL;

	if (wrapper != NULL && wrapper[0] != '\0') {
		g_auto(GStrv) words = NULL;
		g_assert_true(g_shell_parse_argv(wrapper, NULL, &words, &error));
		g_strv_builder_addv(argv, (const gchar **)words);
	}
	g_strv_builder_addv(argv, shim_args);
	spawn_argv = g_strv_builder_end(argv);
	g_subprocess_launcher_set_cwd(launcher, bundle);
	g_subprocess_launcher_setenv(launcher, "COCOON_CONFIG", config, TRUE);
	g_subprocess_launcher_setenv(launcher, "DBUS_SESSION_BUS_ADDRESS", bus->address, TRUE);
	g_subprocess_launcher_unsetenv(launcher, "TTRPC_ADDRESS");
	process = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)spawn_argv, &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_communicate_utf8(process, NULL, NULL, &address, NULL, &error));
	g_assert_no_error(error);
	g_assert_true(g_subprocess_get_successful(process));
	g_assert_true(g_str_has_prefix(address, "unix://"));
	remember_shim(id);
	return g_steal_pointer(&address);
}

static CocoonTtrpcClient *
shim_connect(const gchar *address)
{
	g_autoptr(GError) error = NULL;
	CocoonTtrpcClient *client = NULL;
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

	while (client == NULL && g_get_monotonic_time() < deadline) {
		g_clear_error(&error);
		client = cocoon_ttrpc_client_new_for_path(address + strlen("unix://"), &error);
		if (client == NULL)
			g_usleep(50000);
	}
	g_assert_no_error(error);
	cocoon_ttrpc_client_set_metadata(client, COCOON_TTRPC_NAMESPACE_KEY, NAMESPACE);
	return client;
}

static ProtobufCMessage *
task_call(CocoonTtrpcClient *client, const gchar *method, const ProtobufCMessage *request,
	  const ProtobufCMessageDescriptor *response, GError **error)
{
	return cocoon_ttrpc_client_call_message(client, TASK_SERVICE, method, request, response,
						CALL_TIMEOUT_MS, NULL, error);
}

static void
task_create(CocoonTtrpcClient *client, const gchar *id, const gchar *bundle, GError **error)
{
	Containerd__Task__V2__CreateTaskRequest request =
		CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
	ProtobufCMessage *response;

	request.id = (gchar *)id;
	request.bundle = (gchar *)bundle;
	request.stdin = (gchar *)"";
	request.stdout = (gchar *)"";
	request.stderr = (gchar *)"";
	response = task_call(client, "Create", (ProtobufCMessage *)&request,
			     &containerd__task__v2__create_task_response__descriptor, error);
	if (response != NULL)
		protobuf_c_message_free_unpacked(response, NULL);
}

static void
shim_shutdown(CocoonTtrpcClient *client, const gchar *id)
{
	Containerd__Task__V2__ShutdownRequest request =
		CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
	ProtobufCMessage *response;
	request.id = (gchar *)id;
	request.now = TRUE;
	response = task_call(client, "Shutdown", (ProtobufCMessage *)&request,
			     &google__protobuf__empty__descriptor, NULL);
	if (response != NULL)
		protobuf_c_message_free_unpacked(response, NULL);
}

/* ---------------------------------------------------------------- D-Bus side */

static GDBusConnection *
bus_connect(void)
{
	g_autoptr(GError) error = NULL;
	GDBusConnection *connection = g_dbus_connection_new_for_address_sync(
		bus->address,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
			G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, NULL, &error);
	g_assert_no_error(error);
	return connection;
}

/* the shim's name: the one io.github.cocoon.Shim.* name on the bus */
static gchar *
wait_for_shim_name(GDBusConnection *connection)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (g_get_monotonic_time() < deadline) {
		g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
			connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			"org.freedesktop.DBus", "ListNames", NULL, G_VARIANT_TYPE("(as)"),
			G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
		g_autoptr(GVariantIter) iter = NULL;
		const gchar *name;
		g_variant_get(reply, "(as)", &iter);
		while (g_variant_iter_next(iter, "&s", &name)) {
			if (g_str_has_prefix(name, COCOON_DBUS_NAME_PREFIX))
				return g_strdup(name);
		}
		g_usleep(50000);
	}
	g_assert_not_reached();
	return NULL;
}

static void
on_signal(GDBusConnection *connection, const gchar *sender, const gchar *path,
	  const gchar *interface, const gchar *member, GVariant *parameters, gpointer data)
{
	g_ptr_array_add(data, g_variant_ref(parameters));
}

/* waits for a TaskEvent of that topic; returns its parameters */
static GVariant *
wait_for_event(GPtrArray *received, const gchar *topic)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_US;
	for (guint seen = 0;;) {
		while (seen < received->len) {
			const gchar *got;
			g_variant_get(received->pdata[seen++], "(&s&s&suux)", &got, NULL, NULL,
				      NULL, NULL, NULL);
			if (g_str_equal(got, topic))
				return g_variant_ref(received->pdata[seen - 1]);
		}
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(10000);
	}
}

static gchar *
get_state(CocoonDbusSandbox1 *proxy)
{
	return cocoon_dbus_sandbox1_dup_state(proxy);
}

static void
wait_for_state(CocoonDbusSandbox1 *proxy, const gchar *state)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_US;
	for (;;) {
		g_autofree gchar *now = get_state(proxy);
		if (g_strcmp0(now, state) == 0)
			return;
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(10000);
	}
}

static gchar *
run_as_nobody(const gchar *const *argv, gint *ret_status)
{
	g_autoptr(GError) error = NULL;
	gchar *output = NULL;
	g_assert_true(cocoon_test_run_as_nobody(argv, NULL, ret_status, &output, &error));
	g_assert_no_error(error);
	return output;
}

/* ---------------------------------------------------------------- the tests */

static void
test_sandbox_over_dbus(void)
{
	g_autofree gchar *bundle =
		bundle_new("dbus-pod", "io.cocoon.config.hypervisor.memory_mib", "320");
	g_autofree gchar *address = shim_start("dbus-pod", bundle);
	g_autoptr(CocoonTtrpcClient) client = shim_connect(address);
	g_autoptr(GDBusConnection) connection = bus_connect();
	g_autofree gchar *name = wait_for_shim_name(connection);
	g_autofree gchar *path = cocoon_dbus_sandbox_object_path("dbus-pod");
	g_autoptr(GPtrArray) events =
		g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(CocoonDbusSandbox1) proxy = NULL;
	g_autoptr(GVariant) containers = NULL;
	g_autoptr(GVariant) event = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *containers_text = NULL;
	g_autofree gchar *output = NULL;
	Containerd__Task__V2__StartRequest start = CONTAINERD__TASK__V2__START_REQUEST__INIT;
	Containerd__Task__V2__DeleteRequest delete_request =
		CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
	ProtobufCMessage *response;
	gint status = -1;

	g_test_message("shim %s at %s", name, address);
	g_dbus_connection_signal_subscribe(connection, name, COCOON_DBUS_INTERFACE, "TaskEvent",
					   path, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, events,
					   NULL);

	/* Create boots the VM */
	task_create(client, "dbus-pod", bundle, &error);
	g_assert_no_error(error);
	proxy = cocoon_dbus_sandbox1_proxy_new_sync(connection, G_DBUS_PROXY_FLAGS_NONE, name, path,
						    NULL, &error);
	g_assert_no_error(error);
	wait_for_state(proxy, "running");
	g_assert_cmpstr(cocoon_dbus_sandbox1_get_id(proxy), ==, "dbus-pod");
	g_assert_cmpstr(cocoon_dbus_sandbox1_get_namespace(proxy), ==, NAMESPACE);
	g_assert_cmpuint(cocoon_dbus_sandbox1_get_qemu_pid(proxy), >, 0);
	g_assert_true(g_strv_contains((const gchar *const[]){"tcg", "kvm", NULL},
				      cocoon_dbus_sandbox1_get_accel(proxy)));
	g_assert_cmpuint(cocoon_dbus_sandbox1_get_vcpus(proxy), ==, 1);
	/* the pod's annotation, allowed by enable_annotations */
	g_assert_cmpuint(cocoon_dbus_sandbox1_get_memory_mi_b(proxy), ==, 320);
	g_assert_cmpuint(cocoon_dbus_sandbox1_get_boot_duration_ms(proxy), >, 0);
	g_assert_cmpint(cocoon_dbus_sandbox1_get_booted_at(proxy), >, 0);
	event = wait_for_event(events, "/tasks/create");
	g_clear_pointer(&event, g_variant_unref);

	/* Start: the container runs, the signal and the property say so */
	start.id = (gchar *)"dbus-pod";
	response = task_call(client, "Start", (ProtobufCMessage *)&start,
			     &containerd__task__v2__start_response__descriptor, &error);
	g_assert_no_error(error);
	protobuf_c_message_free_unpacked(response, NULL);
	event = wait_for_event(events, "/tasks/start");
	{
		const gchar *container_id;
		guint32 pid;
		g_variant_get(event, "(&s&s&suux)", NULL, &container_id, NULL, &pid, NULL, NULL);
		g_assert_cmpstr(container_id, ==, "dbus-pod");
		g_assert_cmpuint(pid, >, 0);
	}
	g_clear_pointer(&event, g_variant_unref);
	{
		gint64 deadline = g_get_monotonic_time() + WAIT_US;
		while (containers_text == NULL || strstr(containers_text, "'running'") == NULL) {
			g_assert_cmpint(g_get_monotonic_time(), <, deadline);
			g_main_context_iteration(NULL, FALSE);
			g_usleep(10000);
			g_clear_pointer(&containers, g_variant_unref);
			g_clear_pointer(&containers_text, g_free);
			containers = cocoon_dbus_sandbox1_dup_containers(proxy);
			containers_text = g_variant_print(containers, FALSE);
		}
	}
	g_test_message("Containers: %s", containers_text);
	g_assert_true(g_str_has_prefix(containers_text, "[('dbus-pod', '', "));

	/* the same object on the peer socket */
	{
		g_autofree gchar *socket_path = g_build_filename(work_dir, "state", "dbus-pod",
								 COCOON_DBUS_PEER_SOCKET, NULL);
		g_autofree gchar *escaped = g_dbus_address_escape_value(socket_path);
		g_autofree gchar *peer_address = g_strdup_printf("unix:path=%s", escaped);
		g_autoptr(GDBusConnection) peer = g_dbus_connection_new_for_address_sync(
			peer_address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, NULL,
			&error);
		g_autoptr(CocoonDbusSandbox1) peer_proxy = NULL;
		g_assert_no_error(error);
		peer_proxy = cocoon_dbus_sandbox1_proxy_new_sync(peer, G_DBUS_PROXY_FLAGS_NONE,
								 NULL, path, NULL, &error);
		g_assert_no_error(error);
		g_assert_cmpstr(cocoon_dbus_sandbox1_get_state(peer_proxy), ==, "running");
		g_assert_cmpuint(cocoon_dbus_sandbox1_get_qemu_pid(peer_proxy), ==,
				 cocoon_dbus_sandbox1_get_qemu_pid(proxy));
	}

	/* nobody reads and introspects, but may not stop (the bus policy refuses) */
	{
		const gchar *get_argv[] = {"gdbus",
					   "call",
					   "--address",
					   bus->address,
					   "--dest",
					   name,
					   "--object-path",
					   path,
					   "--method",
					   "org.freedesktop.DBus.Properties.Get",
					   COCOON_DBUS_INTERFACE,
					   "State",
					   NULL};
		const gchar *introspect_argv[] = {
			"gdbus", "introspect",	  "--address", bus->address, "--dest",
			name,	 "--object-path", path,	       "--xml",	     NULL};
		const gchar *stop_argv[] = {"gdbus",
					    "call",
					    "--address",
					    bus->address,
					    "--dest",
					    name,
					    "--object-path",
					    path,
					    "--method",
					    COCOON_DBUS_INTERFACE ".Stop",
					    NULL};
		output = run_as_nobody(get_argv, &status);
		g_test_message("nobody Get State: %d %s", status, output);
		g_assert_cmpint(status, ==, 0);
		g_assert_nonnull(strstr(output, "'running'"));
		g_clear_pointer(&output, g_free);
		output = run_as_nobody(introspect_argv, &status);
		g_assert_cmpint(status, ==, 0);
		g_assert_nonnull(strstr(output, "org.gtk.GDBus.DocString"));
		g_assert_nonnull(strstr(output, "<method name=\"Stop\">"));
		g_clear_pointer(&output, g_free);
		output = run_as_nobody(stop_argv, &status);
		g_test_message("nobody Stop: %d %s", status, output);
		g_assert_cmpint(status, !=, 0);
		g_assert_nonnull(strstr(output, "org.freedesktop.DBus.Error.AccessDenied"));
		g_clear_pointer(&output, g_free);
		g_assert_cmpstr(cocoon_dbus_sandbox1_get_state(proxy), ==, "running");
	}

	/* root stops it: the VM dies, the container exits 255, the sandbox failed */
	cocoon_dbus_sandbox1_call_stop_sync(proxy, NULL, &error);
	g_assert_no_error(error);
	event = wait_for_event(events, "/tasks/exit");
	{
		const gchar *container_id;
		guint32 exit_status;
		g_variant_get(event, "(&s&s&suux)", NULL, &container_id, NULL, NULL, &exit_status,
			      NULL);
		g_assert_cmpstr(container_id, ==, "dbus-pod");
		g_assert_cmpuint(exit_status, ==, 255);
	}
	wait_for_state(proxy, "failed");

	/* containerd's cleanup */
	delete_request.id = (gchar *)"dbus-pod";
	response = task_call(client, "Delete", (ProtobufCMessage *)&delete_request,
			     &containerd__task__v2__delete_response__descriptor, &error);
	g_assert_no_error(error);
	protobuf_c_message_free_unpacked(response, NULL);
	shim_shutdown(client, "dbus-pod");
}

static void
test_annotation_rejected(void)
{
	g_autofree gchar *bundle =
		bundle_new("dbus-pod-2", "io.cocoon.config.hypervisor.vcpus", "2");
	g_autofree gchar *address = shim_start("dbus-pod-2", bundle);
	g_autoptr(CocoonTtrpcClient) client = shim_connect(address);
	g_autoptr(GError) error = NULL;

	task_create(client, "dbus-pod-2", bundle, &error);
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT);
	g_test_message("Create: %s", error->message);
	g_assert_nonnull(strstr(error->message, "io.cocoon.config.hypervisor.vcpus"));
	shim_shutdown(client, "dbus-pod-2");
}

static gboolean
is_mounted_under(const gchar *dir)
{
	g_autofree gchar *mounts = NULL;
	g_file_get_contents("/proc/self/mounts", &mounts, NULL, NULL);
	return mounts != NULL && strstr(mounts, dir) != NULL;
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *config = NULL;
	gboolean under_valgrind;
	g_autofree gchar *kernel = NULL;
	g_autofree gchar *initrd = NULL;
	const gchar *busyboxes[] = {"/bin/busybox", "/usr/bin/busybox", NULL};
	gint status;

	g_test_init(&argc, &argv, NULL);
	signal(SIGABRT, on_abort);
	if (getuid() != 0)
		skip("the shim needs root (mounts, /run/containerd/s)");
	{
		g_autofree gchar *dbus_daemon = g_find_program_in_path("dbus-daemon");
		if (dbus_daemon == NULL)
			skip("no dbus-daemon (apt-get install dbus)");
	}
	if (!g_file_test("/usr/bin/qemu-system-x86_64", G_FILE_TEST_IS_EXECUTABLE))
		skip("no /usr/bin/qemu-system-x86_64");
	image_dir = g_strdup(g_getenv("COCOON_GUEST_IMAGE_DIR") ?: "/var/cache/cocoon/test-guest");
	kernel = g_build_filename(image_dir, "vmlinux", NULL);
	initrd = g_build_filename(image_dir, "initrd.img", NULL);
	if (!g_file_test(kernel, G_FILE_TEST_EXISTS) || !g_file_test(initrd, G_FILE_TEST_EXISTS))
		skip("no guest image (set COCOON_GUEST_IMAGE_DIR, or build one: "
		     "tests/lib/guest-image.sh guest_image_ensure)");
	for (guint i = 0; busyboxes[i] != NULL && busybox == NULL; i++) {
		if (g_file_test(busyboxes[i], G_FILE_TEST_IS_EXECUTABLE))
			busybox = g_strdup(busyboxes[i]);
	}
	if (busybox == NULL)
		skip("no busybox (apt-get install busybox-static)");

	work_dir = g_dir_make_tmp("cocoon-dbus-it-XXXXXX", &error);
	g_assert_no_error(error);
	g_chmod(work_dir, 0755);
	/*
	 * under valgrind (COCOON_TEST_WRAPPER, tests/lib/with-valgrind.sh) the shim has no new
	 * mount API (valgrind 3.19 answers fsopen(2) with ENOSYS) and refuses virtio-fs: the pod
	 * shares over 9p there, and QEMU runs unconfined (valgrind cannot follow the jail's
	 * namespaces, pivot_root and seccomp filter: tests/unit/hypervisor/test-jail.c and the e2e
	 * tests cover the jail); what this test checks is the D-Bus side
	 */
	under_valgrind = g_getenv("COCOON_TEST_WRAPPER") != NULL &&
			 strstr(g_getenv("COCOON_TEST_WRAPPER"), "valgrind") != NULL;
	config = g_strdup_printf(
		"hypervisor = { kernel = \"%s\"; initrd = \"%s\";%s };\n"
		"agent = { boot_timeout_ms = 90000; request_timeout_ms = 30000; };\n"
		"runtime = { state_dir = \"%s/state\"; log_level = \"debug\";\n"
		"  dbus = \"session\"; };\n"
		"enable_annotations = [\"hypervisor.memory_mib\"];\n",
		kernel, initrd, under_valgrind ? " shared_fs = \"9p\"; confine = false;" : "",
		work_dir);
	{
		g_autofree gchar *path = g_build_filename(work_dir, "cocoon.conf", NULL);
		write_file(path, config);
	}
	bus = cocoon_test_bus_new(COCOON_TEST_BUS_SYSTEM, &error);
	g_assert_no_error(error);

	g_test_add_func("/dbus/shim/sandbox-over-dbus", test_sandbox_over_dbus);
	g_test_add_func("/dbus/shim/annotation-rejected", test_annotation_rejected);
	status = g_test_run();

	/* the shims are gone with their Shutdown; a bundle rootfs still mounted stays, loudly */
	g_usleep(500000);
	if (is_mounted_under(work_dir))
		g_printerr("leaving %s: something is still mounted there\n", work_dir);
	else
		cocoon_remove_tree(work_dir);
	cocoon_test_bus_free(bus);
	return status;
}
