/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon-agent over its two connections, the way the shim uses it.
 *
 * By default the agent runs here as a plain process (--no-init) on unix sockets with a fake crun
 * (fake-crun.py: no namespaces, cgroups or terminals), which covers the RPCs, the process
 * bookkeeping and the stdio mux. Pointed at a booted guest it runs everything against the real
 * crun (the terminal, cgroup and pause tests only run there):
 *   COCOON_GUEST_TEST_AGENT=STATE/agent.sock COCOON_GUEST_TEST_STDIO=STATE/stdio.sock
 *   COCOON_GUEST_TEST_SHARE=STATE/shared (the host directory of the 9p share)
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "agent.pb-c.h"
#include "cocoon-json.h"
#include "cocoon-ttrpc-client.h"
#include "guest-test-stdio.h"
#include "cocoon-fs.h"

#define SERVICE		"cocoon.agent.v1.Agent"
#define CALL_TIMEOUT_MS 60000
#define EOF_TIMEOUT_MS	20000
/* the agent's COCOON_GUEST_DRAIN_TIMEOUT_MS */
#define COCOON_GUEST_TEST_DRAIN_MS 2000

typedef ProtobufCMessage Message;
static void
message_free(Message *message)
{
	protobuf_c_message_free_unpacked(message, NULL);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Message, message_free)

typedef struct {
	gchar *tmpdir;
	gchar *share;
	gchar *agent_path;
	gchar *stdio_path;
	GPid agent_pid;
	gboolean real;
	CocoonTtrpcClient *client;
	TestStdio *stdio;
} Fixture;

static guint32 next_stream_id;

static guint32
new_stream_id(void)
{
	return next_stream_id++;
}

/* unique per run, so tests against one guest never collide */
static gchar *
new_id(const gchar *prefix)
{
	static guint counter;

	return g_strdup_printf("%s-%d-%u", prefix, (int)getpid(), ++counter);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	const gchar *agent = g_getenv("COCOON_GUEST_TEST_AGENT");
	gint64 deadline;

	if (agent != NULL) {
		f->real = TRUE;
		f->agent_path = g_strdup(agent);
		f->stdio_path = g_strdup(g_getenv("COCOON_GUEST_TEST_STDIO"));
		f->share = g_strdup(g_getenv("COCOON_GUEST_TEST_SHARE"));
		g_assert_nonnull(f->stdio_path);
		g_assert_nonnull(f->share);
	} else {
		g_autofree gchar *binary =
			g_build_filename(COCOON_BUILD_DIR, "src", "guest", "cocoon-agent", NULL);
		g_autofree gchar *crun = g_build_filename(COCOON_SOURCE_DIR, "tests", "unit",
							  "guest", "fake-crun.py", NULL);
		g_autofree gchar *root = NULL;
		const gchar *argv[12];
		guint n = 0;

		f->tmpdir = g_dir_make_tmp("cocoon-guest-agent-XXXXXX", &error);
		g_assert_no_error(error);
		root = g_build_filename(f->tmpdir, "root", NULL);
		f->share = g_build_filename(root, "run", "cocoon", "shared", NULL);
		f->agent_path = g_build_filename(f->tmpdir, "agent.sock", NULL);
		f->stdio_path = g_build_filename(f->tmpdir, "stdio.sock", NULL);
		argv[n++] = binary;
		argv[n++] = "--no-init";
		argv[n++] = "--port-agent";
		argv[n++] = f->agent_path;
		argv[n++] = "--port-stdio";
		argv[n++] = f->stdio_path;
		argv[n++] = "--root";
		argv[n++] = root;
		argv[n++] = "--crun";
		argv[n++] = crun;
		if (g_test_verbose())
			argv[n++] = "--debug";
		argv[n] = NULL;
		g_spawn_async(NULL, (gchar **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
			      &f->agent_pid, &error);
		g_assert_no_error(error);
	}
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while ((f->client = cocoon_ttrpc_client_new_for_path(f->agent_path, NULL)) == NULL) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(10000);
	}
	f->stdio = test_stdio_connect(f->stdio_path, TRUE, 10000, &error);
	g_assert_no_error(error);
	g_assert_true(g_mkdir_with_parents(f->share, 0755) == 0);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	g_clear_pointer(&f->client, cocoon_ttrpc_client_unref);
	g_clear_pointer(&f->stdio, test_stdio_free);
	if (f->agent_pid > 0) {
		int status = 0;
		kill(f->agent_pid, SIGTERM);
		g_assert_cmpint(waitpid(f->agent_pid, &status, 0), ==, f->agent_pid);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), ==, 0);
		g_spawn_close_pid(f->agent_pid);
	}
	if (f->tmpdir != NULL)
		cocoon_remove_tree(f->tmpdir);
	g_free(f->tmpdir);
	g_free(f->share);
	g_free(f->agent_path);
	g_free(f->stdio_path);
}

static Message *
call(Fixture *f, const gchar *method, const ProtobufCMessage *request,
     const ProtobufCMessageDescriptor *response_descriptor, guint timeout_ms, GError **error)
{
	return cocoon_ttrpc_client_call_message(f->client, SERVICE, method, request,
						response_descriptor, timeout_ms, NULL, error);
}

static void
call_ok(Fixture *f, const gchar *method, const ProtobufCMessage *request)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) response = call(f, method, request, &google__protobuf__empty__descriptor,
					   CALL_TIMEOUT_MS, &error);

	g_assert_no_error(error);
}

static void
assert_code(const GError *error, CocoonTtrpcCode code)
{
	g_assert_nonnull(error);
	if (!g_error_matches(error, COCOON_TTRPC_ERROR, (gint)code))
		g_error("expected code %d, got %s %d: %s", code, g_quark_to_string(error->domain),
			error->code, error->message);
}

/* share/<id>/rootfs with busybox for the real crun; an empty directory for the fake one */
static gchar *
make_rootfs(Fixture *f, const gchar *id)
{
	g_autofree gchar *relative = g_build_filename(id, "rootfs", NULL);
	g_autofree gchar *bin = g_build_filename(f->share, relative, "bin", NULL);

	g_assert_cmpint(g_mkdir_with_parents(bin, 0755), ==, 0);
	if (f->real) {
		static const gchar *const applets[] = {"sh",  "echo", "cat",  "sleep", "head",
						       "tty", "stty", "true", "yes",   NULL};
		g_autofree gchar *busybox = g_build_filename(bin, "busybox", NULL);
		g_autofree gchar *contents = NULL;
		gsize length = 0;
		g_autoptr(GError) error = NULL;

		g_file_get_contents("/bin/busybox", &contents, &length, &error);
		g_assert_no_error(error);
		g_file_set_contents_full(busybox, contents, (gssize)length,
					 G_FILE_SET_CONTENTS_NONE, 0755, &error);
		g_assert_no_error(error);
		for (guint i = 0; applets[i] != NULL; i++) {
			g_autofree gchar *link = g_build_filename(bin, applets[i], NULL);
			(void)symlink("busybox", link);
		}
		for (guint i = 0; i < 4; i++) {
			const gchar *dirs[] = {"proc", "dev", "sys", "tmp"};
			g_autofree gchar *dir = g_build_filename(f->share, relative, dirs[i], NULL);
			g_mkdir_with_parents(dir, 0755);
		}
	}
	return g_steal_pointer(&relative);
}

static gchar *
json_args(const gchar *const *args)
{
	g_autoptr(GString) json = g_string_new("[");

	for (guint i = 0; args[i] != NULL; i++) {
		g_autofree gchar *escaped = g_strescape(args[i], NULL);
		g_string_append_printf(json, "%s\"%s\"", i > 0 ? "," : "", escaped);
	}
	g_string_append(json, "]");
	return g_string_free(g_steal_pointer(&json), FALSE);
}

static gchar *
process_json(const gchar *const *args, gboolean terminal)
{
	g_autofree gchar *argv = json_args(args);

	return g_strdup_printf("{\"terminal\":%s,\"user\":{\"uid\":0,\"gid\":0},\"args\":%s,"
			       "\"env\":[\"PATH=/usr/sbin:/usr/bin:/sbin:/bin\",\"TERM=xterm\"],"
			       "\"cwd\":\"/\"}",
			       terminal ? "true" : "false", argv);
}

/* memory_limit 0: none */
static gchar *
spec_json_with_limit(const gchar *const *args, guint64 memory_limit)
{
	g_autofree gchar *process = process_json(args, FALSE);
	g_autofree gchar *resources =
		memory_limit > 0
			? g_strdup_printf(",\"resources\":{\"memory\":{\"limit\":%" G_GUINT64_FORMAT
					  ",\"swap\":%" G_GUINT64_FORMAT "}}",
					  memory_limit, memory_limit)
			: g_strdup("");

	return g_strdup_printf(
		"{\"ociVersion\":\"1.0.2\",\"process\":%s,"
		"\"root\":{\"path\":\"rootfs\"},\"hostname\":\"cocoon-test\","
		"\"mounts\":["
		"{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
		"{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
		"\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
		"{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
		"\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode="
		"0620\"]}"
		"],"
		"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":"
		"\"uts\"},"
		"{\"type\":\"mount\"},{\"type\":\"network\",\"path\":\"/proc/4242/ns/net\"}],"
		"\"cgroupsPath\":\"kubepods-besteffort.slice:cri-containerd:x\"%s},"
		"\"hooks\":{\"prestart\":[{\"path\":\"/usr/bin/host-only\"}]}}",
		process, resources);
}

static gchar *
spec_json(const gchar *const *args)
{
	return spec_json_with_limit(args, 0);
}

typedef struct {
	guint32 in;
	guint32 out;
	guint32 err;
	gboolean terminal;
} Streams;

static guint32
create_container_with_limit(Fixture *f, const gchar *id, const gchar *const *args,
			    const Streams *streams, guint64 memory_limit, GError **error)
{
	Cocoon__Agent__V1__CreateContainerRequest request =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	Cocoon__Agent__V1__StdioStreams stdio = COCOON__AGENT__V1__STDIO_STREAMS__INIT;
	g_autofree gchar *spec = spec_json_with_limit(args, memory_limit);
	g_autofree gchar *rootfs = make_rootfs(f, id);
	g_autoptr(Message) response = NULL;

	if (streams != NULL) {
		stdio.stdin = streams->in;
		stdio.stdout = streams->out;
		stdio.stderr = streams->err;
		stdio.terminal = streams->terminal;
	}
	request.container_id = (gchar *)id;
	request.spec_json.data = (guint8 *)spec;
	request.spec_json.len = strlen(spec);
	request.rootfs = rootfs;
	request.stdio = &stdio;
	response = call(f, "CreateContainer", &request.base,
			&cocoon__agent__v1__create_container_response__descriptor, CALL_TIMEOUT_MS,
			error);
	if (response == NULL)
		return 0;
	g_assert_cmpuint(((Cocoon__Agent__V1__CreateContainerResponse *)response)->pid, >, 0);
	return ((Cocoon__Agent__V1__CreateContainerResponse *)response)->pid;
}

static guint32
create_container(Fixture *f, const gchar *id, const gchar *const *args, const Streams *streams,
		 GError **error)
{
	return create_container_with_limit(f, id, args, streams, 0, error);
}

static guint32
start_container(Fixture *f, const gchar *id)
{
	Cocoon__Agent__V1__StartContainerRequest request =
		COCOON__AGENT__V1__START_CONTAINER_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) response = NULL;

	request.container_id = (gchar *)id;
	response = call(f, "StartContainer", &request.base,
			&cocoon__agent__v1__start_container_response__descriptor, CALL_TIMEOUT_MS,
			&error);
	g_assert_no_error(error);
	return ((Cocoon__Agent__V1__StartContainerResponse *)response)->pid;
}

static guint32
exec_process(Fixture *f, const gchar *id, const gchar *exec_id, const gchar *const *args,
	     const Streams *streams, guint32 rows, guint32 cols, GError **error)
{
	Cocoon__Agent__V1__ExecProcessRequest request =
		COCOON__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
	Cocoon__Agent__V1__StdioStreams stdio = COCOON__AGENT__V1__STDIO_STREAMS__INIT;
	g_autofree gchar *process = process_json(args, streams != NULL && streams->terminal);
	g_autoptr(Message) response = NULL;

	if (streams != NULL) {
		stdio.stdin = streams->in;
		stdio.stdout = streams->out;
		stdio.stderr = streams->err;
		stdio.terminal = streams->terminal;
	}
	stdio.rows = rows;
	stdio.cols = cols;
	request.container_id = (gchar *)id;
	request.exec_id = (gchar *)exec_id;
	request.process_json.data = (guint8 *)process;
	request.process_json.len = strlen(process);
	request.stdio = &stdio;
	response =
		call(f, "ExecProcess", &request.base,
		     &cocoon__agent__v1__exec_process_response__descriptor, CALL_TIMEOUT_MS, error);
	if (response == NULL)
		return 0;
	return ((Cocoon__Agent__V1__ExecProcessResponse *)response)->pid;
}

static Cocoon__Agent__V1__WaitProcessResponse *
wait_process(Fixture *f, const gchar *id, const gchar *exec_id, guint timeout_ms, GError **error)
{
	Cocoon__Agent__V1__WaitProcessRequest request =
		COCOON__AGENT__V1__WAIT_PROCESS_REQUEST__INIT;

	request.container_id = (gchar *)id;
	request.exec_id = (gchar *)(exec_id != NULL ? exec_id : "");
	return (gpointer)call(f, "WaitProcess", &request.base,
			      &cocoon__agent__v1__wait_process_response__descriptor, timeout_ms,
			      error);
}

static guint32
wait_status(Fixture *f, const gchar *id, const gchar *exec_id)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) response =
		(Message *)wait_process(f, id, exec_id, CALL_TIMEOUT_MS, &error);

	g_assert_no_error(error);
	return ((Cocoon__Agent__V1__WaitProcessResponse *)response)->exit_status;
}

static void
signal_process(Fixture *f, const gchar *id, const gchar *exec_id, guint32 signal_number,
	       gboolean all, GError **error)
{
	Cocoon__Agent__V1__SignalProcessRequest request =
		COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	g_autoptr(Message) response = NULL;

	request.container_id = (gchar *)id;
	request.exec_id = (gchar *)(exec_id != NULL ? exec_id : "");
	request.signal = signal_number;
	request.all = all;
	response = call(f, "SignalProcess", &request.base, &google__protobuf__empty__descriptor,
			CALL_TIMEOUT_MS, error);
}

static void
remove_container(Fixture *f, const gchar *id)
{
	Cocoon__Agent__V1__RemoveContainerRequest request =
		COCOON__AGENT__V1__REMOVE_CONTAINER_REQUEST__INIT;

	request.container_id = (gchar *)id;
	call_ok(f, "RemoveContainer", &request.base);
}

static void
assert_output(Fixture *f, guint32 stream_id, const gchar *expected)
{
	g_autoptr(GBytes) data = NULL;

	g_assert_true(test_stdio_wait_eof(f->stdio, stream_id, EOF_TIMEOUT_MS, &data));
	g_assert_cmpmem(g_bytes_get_data(data, NULL), g_bytes_get_size(data), expected,
			strlen(expected));
}

/*
 * every method of the service descriptor has a handler: a payload no request decodes from
 * (a truncated tag) is the dispatcher's INVALID_ARGUMENT, where a method nobody registered
 * would be UNIMPLEMENTED; no handler runs (Shutdown included)
 */
static void
test_methods(Fixture *f, gconstpointer data)
{
	const ProtobufCServiceDescriptor *descriptor = &cocoon__agent__v1__agent__descriptor;
	static const guint8 undecodable[] = {0xff};

	g_assert_cmpstr(descriptor->name, ==, SERVICE);
	g_assert_cmpuint(descriptor->n_methods, >, 0);
	for (guint i = 0; i < descriptor->n_methods; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) response = cocoon_ttrpc_client_call(
			f->client, SERVICE, descriptor->methods[i].name, undecodable,
			sizeof(undecodable), CALL_TIMEOUT_MS, NULL, &error);

		g_test_message("%s: %s", descriptor->methods[i].name,
			       error != NULL ? error->message : "answered");
		g_assert_null(response);
		g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT);
	}
}

static void
test_ping(Fixture *f, gconstpointer data)
{
	Cocoon__Agent__V1__PingRequest ping = COCOON__AGENT__V1__PING_REQUEST__INIT;
	Cocoon__Agent__V1__GuestInfoRequest info = COCOON__AGENT__V1__GUEST_INFO_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) pong = NULL;
	g_autoptr(Message) guest = NULL;
	Cocoon__Agent__V1__GuestInfoResponse *guest_info;

	pong = call(f, "Ping", &ping.base, &cocoon__agent__v1__ping_response__descriptor,
		    CALL_TIMEOUT_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(((Cocoon__Agent__V1__PingResponse *)pong)->agent_version, ==,
			COCOON_VERSION);
	g_assert_cmpuint(((Cocoon__Agent__V1__PingResponse *)pong)->uptime_ns, >, 0);

	guest = call(f, "GuestInfo", &info.base,
		     &cocoon__agent__v1__guest_info_response__descriptor, CALL_TIMEOUT_MS, &error);
	g_assert_no_error(error);
	guest_info = (gpointer)guest;
	g_assert_cmpstr(guest_info->agent_version, ==, COCOON_VERSION);
	g_assert_cmpuint(guest_info->online_cpus, >, 0);
	g_assert_cmpuint(guest_info->mem_total_bytes, >, 0);
	g_assert_true(g_str_has_prefix(guest_info->oci_runtime, "crun"));
	if (f->real)
		g_assert_cmpstr(guest_info->cgroup_mode, ==, "v2");
	g_test_message("guest: kernel %s, %u cpus, %" G_GUINT64_FORMAT " bytes, %s, %s",
		       guest_info->kernel_release, guest_info->online_cpus,
		       guest_info->mem_total_bytes, guest_info->cgroup_mode,
		       guest_info->oci_runtime);
}

static void
test_errors(Fixture *f, gconstpointer data)
{
	const gchar *const sleep_args[] = {"sleep", "1000", NULL};
	g_autofree gchar *id = new_id("errors");
	g_autofree gchar *escape = g_build_filename(f->share, "escape", NULL);
	Cocoon__Agent__V1__CreateContainerRequest request =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	g_autofree gchar *spec = spec_json(sleep_args);
	const gchar *const bad_rootfs[] = {"../etc", "/etc", "escape", "a/../../etc", "", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) response = NULL;

	/* unknown container / exec */
	g_clear_pointer(&response, message_free);
	response = (Message *)wait_process(f, "nope", NULL, CALL_TIMEOUT_MS, &error);
	assert_code(error, COCOON_TTRPC_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "nope"));
	g_clear_error(&error);
	signal_process(f, "nope", NULL, SIGTERM, FALSE, &error);
	assert_code(error, COCOON_TTRPC_NOT_FOUND);
	g_clear_error(&error);

	/* bad ids */
	response = (Message *)wait_process(f, "a/b", NULL, CALL_TIMEOUT_MS, &error);
	assert_code(error, COCOON_TTRPC_INVALID_ARGUMENT);
	g_clear_error(&error);

	/* rootfs outside the share */
	(void)symlink("/", escape);
	request.container_id = id;
	request.spec_json.data = (guint8 *)spec;
	request.spec_json.len = strlen(spec);
	for (guint i = 0; bad_rootfs[i] != NULL; i++) {
		request.rootfs = (gchar *)bad_rootfs[i];
		response = call(f, "CreateContainer", &request.base,
				&cocoon__agent__v1__create_container_response__descriptor,
				CALL_TIMEOUT_MS, &error);
		g_assert_null(response);
		assert_code(error, COCOON_TTRPC_INVALID_ARGUMENT);
		g_assert_nonnull(strstr(error->message, id));
		g_clear_error(&error);
	}
	/* a spec that is not JSON */
	request.rootfs = make_rootfs(f, id);
	request.spec_json.data = (guint8 *)"{nope";
	request.spec_json.len = 5;
	response = call(f, "CreateContainer", &request.base,
			&cocoon__agent__v1__create_container_response__descriptor, CALL_TIMEOUT_MS,
			&error);
	assert_code(error, COCOON_TTRPC_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_free(request.rootfs);

	/* duplicates, wrong states */
	g_assert_cmpuint(create_container(f, id, sleep_args, NULL, &error), >, 0);
	g_assert_no_error(error);
	create_container(f, id, sleep_args, NULL, &error);
	assert_code(error, COCOON_TTRPC_ALREADY_EXISTS);
	g_clear_error(&error);
	exec_process(f, id, "e1", sleep_args, NULL, 0, 0, &error);
	assert_code(error, COCOON_TTRPC_FAILED_PRECONDITION);
	g_clear_error(&error);
	start_container(f, id);
	{
		Cocoon__Agent__V1__StartContainerRequest start =
			COCOON__AGENT__V1__START_CONTAINER_REQUEST__INIT;
		start.container_id = id;
		response = call(f, "StartContainer", &start.base,
				&cocoon__agent__v1__start_container_response__descriptor,
				CALL_TIMEOUT_MS, &error);
		assert_code(error, COCOON_TTRPC_FAILED_PRECONDITION);
		g_clear_error(&error);
	}
	/* a failing exec is reported with crun's message and leaves no exec behind */
	{
		const gchar *const missing[] = {"/no/such/binary", NULL};
		exec_process(f, id, "e-missing", missing, NULL, 0, 0, &error);
		if (error != NULL) {
			assert_code(error, COCOON_TTRPC_INTERNAL);
			g_clear_error(&error);
			response = (Message *)wait_process(f, id, "e-missing", CALL_TIMEOUT_MS,
							   &error);
			assert_code(error, COCOON_TTRPC_NOT_FOUND);
			g_clear_error(&error);
		} else {
			/* crun may start it and the exec fails in the process: status 127 */
			g_assert_cmpuint(wait_status(f, id, "e-missing"), ==, 127);
		}
	}
	{
		const gchar *const short_args[] = {"true", NULL};
		exec_process(f, id, "e2", short_args, NULL, 0, 0, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(wait_status(f, id, "e2"), ==, 0);
		/* an exited process cannot be signalled; its id may be used again */
		signal_process(f, id, "e2", SIGTERM, FALSE, &error);
		assert_code(error, COCOON_TTRPC_NOT_FOUND);
		g_clear_error(&error);
		exec_process(f, id, "e2", short_args, NULL, 0, 0, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(wait_status(f, id, "e2"), ==, 0);
	}
	remove_container(f, id);
	response = (Message *)wait_process(f, id, NULL, CALL_TIMEOUT_MS, &error);
	assert_code(error, COCOON_TTRPC_NOT_FOUND);
	g_clear_error(&error);
	(void)g_unlink(escape);
}

static void
test_run(Fixture *f, gconstpointer data)
{
	const gchar *const args[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	g_autofree gchar *id = new_id("run");
	Streams streams = {0, new_stream_id(), new_stream_id(), FALSE};
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) first = NULL;
	g_autoptr(Message) second = NULL;
	gint64 before = g_get_real_time() * 1000;
	guint32 pid;
	Cocoon__Agent__V1__WaitProcessResponse *wait;

	pid = create_container(f, id, args, &streams, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(start_container(f, id), ==, pid);
	first = (Message *)wait_process(f, id, NULL, CALL_TIMEOUT_MS, &error);
	g_assert_no_error(error);
	wait = (gpointer)first;
	g_assert_cmpuint(wait->exit_status, ==, 3);
	g_assert_cmpint(wait->exited_at_ns, >=, before - G_GINT64_CONSTANT(5000000000));
	g_assert_false(wait->oom_killed);
	/* the tail was on the port before the exit was reported */
	assert_output(f, streams.out, "out\n");
	assert_output(f, streams.err, "err\n");
	/* a second Wait answers at once, the same */
	second = (Message *)wait_process(f, id, NULL, 2000, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(((Cocoon__Agent__V1__WaitProcessResponse *)second)->exit_status, ==, 3);
	g_assert_cmpint(((Cocoon__Agent__V1__WaitProcessResponse *)second)->exited_at_ns, ==,
			wait->exited_at_ns);
	remove_container(f, id);
}

/* a Wait in flight while the process runs, and an exit by signal */
typedef struct {
	Fixture *f;
	const gchar *id;
	const gchar *exec_id;
	guint32 status;
} WaitThread;

static gpointer
wait_thread(gpointer user_data)
{
	WaitThread *w = user_data;

	w->status = wait_status(w->f, w->id, w->exec_id);
	return NULL;
}

static void
test_exec(Fixture *f, gconstpointer data)
{
	const gchar *const sleep_args[] = {"sleep", "1000", NULL};
	const gchar *const cat_args[] = {"cat", NULL};
	g_autofree gchar *id = new_id("exec");
	Streams cat_streams = {new_stream_id(), new_stream_id(), 0, FALSE};
	g_autoptr(GString) input = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) list = NULL;
	WaitThread waiter = {f, NULL, "sleeper", 0};
	GThread *thread;
	guint32 init_pid;
	guint32 sleeper_pid;

	init_pid = create_container(f, id, sleep_args, NULL, &error);
	g_assert_no_error(error);
	start_container(f, id);

	/* stdin: more than a pipe holds, then EOF; everything comes back and is credited */
	for (guint i = 0; i < 20000; i++)
		g_string_append_printf(input, "line %u\n", i);
	g_assert_cmpuint(exec_process(f, id, "cat", cat_args, &cat_streams, 0, 0, &error), >, 0);
	g_assert_no_error(error);
	g_assert_true(test_stdio_send_data(f->stdio, cat_streams.in, input->str, input->len));
	g_assert_true(test_stdio_send_eof(f->stdio, cat_streams.in));
	assert_output(f, cat_streams.out, input->str);
	g_assert_cmpuint(wait_status(f, id, "cat"), ==, 0);
	g_assert_true(test_stdio_wait_credit(f->stdio, cat_streams.in, input->len, EOF_TIMEOUT_MS));
	g_assert_cmpuint(test_stdio_get_credited(f->stdio, cat_streams.in), ==, input->len);

	/* a long-running exec: listed, signalled, its Wait (already waiting) answered */
	sleeper_pid = exec_process(f, id, "sleeper", sleep_args, NULL, 0, 0, &error);
	g_assert_no_error(error);
	waiter.id = id;
	thread = g_thread_new("wait", wait_thread, &waiter);
	{
		Cocoon__Agent__V1__ListProcessesRequest request =
			COCOON__AGENT__V1__LIST_PROCESSES_REQUEST__INIT;

		request.container_id = id;
		list = call(f, "ListProcesses", &request.base,
			    &cocoon__agent__v1__list_processes_response__descriptor,
			    CALL_TIMEOUT_MS, &error);
		if (!f->real) {
			/*
			 * the fake has no cgroups: a running container whose cgroup cannot be read
			 * is an error naming it, never the init alone as if it were the whole list
			 */
			g_autofree gchar *expected =
				g_strdup_printf("container %s: cannot list its processes", id);
			g_assert_nonnull(error);
			g_assert_nonnull(strstr(error->message, expected));
			g_clear_error(&error);
		}
	}
	if (f->real) {
		Cocoon__Agent__V1__ListProcessesResponse *processes;
		gboolean init_seen = FALSE, sleeper_seen = FALSE;

		g_assert_no_error(error);
		processes = (gpointer)list;
		for (gsize i = 0; i < processes->n_processes; i++) {
			if (processes->processes[i]->pid == init_pid) {
				init_seen = TRUE;
				g_assert_cmpstr(processes->processes[i]->exec_id, ==, "");
			}
			if (processes->processes[i]->pid == sleeper_pid) {
				sleeper_seen = TRUE;
				g_assert_cmpstr(processes->processes[i]->exec_id, ==, "sleeper");
			}
		}
		g_assert_true(init_seen);
		g_assert_true(sleeper_seen);
	}
	signal_process(f, id, "sleeper", SIGKILL, FALSE, &error);
	g_assert_no_error(error);
	g_thread_join(thread);
	g_assert_cmpuint(waiter.status, ==, 128 + SIGKILL);

	/* all: the whole container */
	signal_process(f, id, NULL, SIGKILL, TRUE, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(wait_status(f, id, NULL), ==, 128 + SIGKILL);
	remove_container(f, id);
}

/* without credit the agent sends exactly one window, then the container blocks */
static void
test_backpressure(Fixture *f, gconstpointer data)
{
	const gchar *const args[] = {"head", "-c", "3000000", "/dev/zero", NULL};
	g_autofree gchar *id = new_id("pressure");
	Streams streams = {0, new_stream_id(), 0, FALSE};
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) response = NULL;
	gsize received;

	test_stdio_set_auto_credit(f->stdio, FALSE);
	create_container(f, id, args, &streams, &error);
	g_assert_no_error(error);
	start_container(f, id);
	received = test_stdio_wait_bytes(f->stdio, streams.out, 1u << 20, EOF_TIMEOUT_MS);
	g_assert_cmpuint(received, ==, 1u << 20);
	g_usleep(300000);
	g_assert_cmpuint(test_stdio_get_received(f->stdio, streams.out), ==, 1u << 20);
	g_assert_false(test_stdio_has_eof(f->stdio, streams.out));
	/* the process is blocked on its pipe, not done */
	response = (Message *)wait_process(f, id, NULL, 300, &error);
	assert_code(error, COCOON_TTRPC_DEADLINE_EXCEEDED);
	g_clear_error(&error);

	test_stdio_set_auto_credit(f->stdio, TRUE);
	g_assert_true(test_stdio_send_credit(f->stdio, streams.out, 1u << 20));
	/* the exit comes with where the output ends: every byte, some of them still on the way */
	g_clear_pointer(&response, message_free);
	response = (Message *)wait_process(f, id, NULL, CALL_TIMEOUT_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(((Cocoon__Agent__V1__WaitProcessResponse *)response)->exit_status, ==, 0);
	g_assert_true(((Cocoon__Agent__V1__WaitProcessResponse *)response)->output_offsets);
	g_assert_cmpuint(((Cocoon__Agent__V1__WaitProcessResponse *)response)->stdout_offset, ==,
			 3000000);
	g_assert_cmpuint(((Cocoon__Agent__V1__WaitProcessResponse *)response)->stderr_offset, ==,
			 0);
	g_assert_true(test_stdio_wait_eof(f->stdio, streams.out, EOF_TIMEOUT_MS, NULL));
	g_assert_cmpuint(test_stdio_get_received(f->stdio, streams.out), ==, 3000000);
	remove_container(f, id);
}

/*
 * a background child keeps the pipe open: the exit is answered at once, with the offsets where
 * the process's own output ends; the child's output follows on the same stream until its EOF
 */
static void
test_background_child(Fixture *f, gconstpointer data)
{
	const gchar *const sleep_args[] = {"sleep", "1000", NULL};
	const gchar *const args[] = {
		"sh", "-c", "(sleep 3; echo late) 2>/dev/null & echo hi; echo oops >&2", NULL};
	g_autofree gchar *id = new_id("background");
	Streams streams = {0, new_stream_id(), new_stream_id(), FALSE};
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) response = NULL;
	Cocoon__Agent__V1__WaitProcessResponse *wait;
	g_autoptr(GBytes) data_out = NULL;
	gint64 start;

	create_container(f, id, sleep_args, NULL, &error);
	g_assert_no_error(error);
	start_container(f, id);
	g_assert_cmpuint(exec_process(f, id, "bg", args, &streams, 0, 0, &error), >, 0);
	g_assert_no_error(error);
	start = g_get_monotonic_time();
	response = (Message *)wait_process(f, id, "bg", CALL_TIMEOUT_MS, &error);
	g_assert_no_error(error);
	wait = (gpointer)response;
	g_assert_cmpuint(wait->exit_status, ==, 0);
	/* not after the drain timeout nor the child's EOF */
	g_assert_cmpint(g_get_monotonic_time() - start, <,
			(COCOON_GUEST_TEST_DRAIN_MS - 500) * G_TIME_SPAN_MILLISECOND);
	g_assert_true(wait->output_offsets);
	g_assert_cmpuint(wait->stdout_offset, ==, 3);
	g_assert_cmpuint(wait->stderr_offset, ==, 5);
	g_assert_cmpuint(test_stdio_wait_bytes(f->stdio, streams.out, 3, EOF_TIMEOUT_MS), ==, 3);
	g_assert_cmpuint(test_stdio_wait_bytes(f->stdio, streams.err, 5, EOF_TIMEOUT_MS), ==, 5);
	g_assert_false(test_stdio_has_eof(f->stdio, streams.out));
	/* stderr is the shell's alone: its EOF comes with the exit */
	g_assert_true(test_stdio_wait_eof(f->stdio, streams.err, EOF_TIMEOUT_MS, NULL));
	/* the stream stays open for the child */
	g_assert_true(test_stdio_wait_eof(f->stdio, streams.out, EOF_TIMEOUT_MS, &data_out));
	g_assert_cmpmem(g_bytes_get_data(data_out, NULL), g_bytes_get_size(data_out), "hi\nlate\n",
			8);
	remove_container(f, id);
}

/* a new stdio connection is a new session: output keeps flowing */
static void
test_stdio_reconnect(Fixture *f, gconstpointer data)
{
	const gchar *const args[] = {"sh", "-c", "sleep 1; echo after", NULL};
	g_autofree gchar *id = new_id("reconnect");
	Streams streams = {0, new_stream_id(), 0, FALSE};
	g_autoptr(GError) error = NULL;

	create_container(f, id, args, &streams, &error);
	g_assert_no_error(error);
	start_container(f, id);
	g_clear_pointer(&f->stdio, test_stdio_free);
	f->stdio = test_stdio_connect(f->stdio_path, TRUE, 10000, &error);
	g_assert_no_error(error);
	assert_output(f, streams.out, "after\n");
	g_assert_cmpuint(wait_status(f, id, NULL), ==, 0);
	remove_container(f, id);
}

static void
test_wait_event_timeout(Fixture *f, gconstpointer data)
{
	Cocoon__Agent__V1__WaitEventRequest request = COCOON__AGENT__V1__WAIT_EVENT_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) response = NULL;
	gint64 start = g_get_monotonic_time();

	/* answered with NONE a little before the deadline */
	response = call(f, "WaitEvent", &request.base,
			&cocoon__agent__v1__wait_event_response__descriptor, 3000, &error);
	g_assert_no_error(error);
	g_assert_cmpint(((Cocoon__Agent__V1__WaitEventResponse *)response)->kind, ==,
			COCOON__AGENT__V1__WAIT_EVENT_RESPONSE__KIND__NONE);
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 1500000);
}

static void
test_update(Fixture *f, gconstpointer data)
{
	const gchar *const args[] = {"sleep", "1000", NULL};
	g_autofree gchar *id = new_id("update");
	Cocoon__Agent__V1__UpdateContainerRequest request =
		COCOON__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
	const gchar *resources = "{\"pids\":{\"limit\":100}}";
	g_autoptr(GError) error = NULL;

	create_container(f, id, args, NULL, &error);
	g_assert_no_error(error);
	start_container(f, id);
	request.container_id = id;
	request.resources_json.data = (guint8 *)resources;
	request.resources_json.len = strlen(resources);
	call_ok(f, "UpdateContainer", &request.base);
	if (f->real) {
		Cocoon__Agent__V1__StatsContainerRequest stats =
			COCOON__AGENT__V1__STATS_CONTAINER_REQUEST__INIT;
		g_autoptr(Message) response = NULL;
		Io__Containerd__Cgroups__V2__Metrics *metrics;

		stats.container_id = id;
		response = call(f, "StatsContainer", &stats.base,
				&cocoon__agent__v1__stats_container_response__descriptor,
				CALL_TIMEOUT_MS, &error);
		g_assert_no_error(error);
		metrics = ((Cocoon__Agent__V1__StatsContainerResponse *)response)->metrics;
		g_assert_nonnull(metrics);
		g_assert_cmpuint(metrics->pids->limit, ==, 100);
		g_assert_cmpuint(metrics->pids->current, >=, 1);
		g_assert_cmpuint(metrics->memory->usage, >, 0);
		g_assert_cmpuint(metrics->cpu->usage_usec, >, 0);
	}
	remove_container(f, id);
}

static void
resize_tty(Fixture *f, const gchar *id, const gchar *exec_id, guint32 rows, guint32 cols)
{
	Cocoon__Agent__V1__ResizeTtyRequest request = COCOON__AGENT__V1__RESIZE_TTY_REQUEST__INIT;

	request.container_id = (gchar *)id;
	request.exec_id = (gchar *)exec_id;
	request.rows = rows;
	request.cols = cols;
	call_ok(f, "ResizeTty", &request.base);
}

static gchar *
wait_text(Fixture *f, guint32 stream_id)
{
	g_autoptr(GBytes) output = NULL;
	gchar *text;

	g_assert_true(test_stdio_wait_eof(f->stdio, stream_id, EOF_TIMEOUT_MS, &output));
	text = g_strndup(g_bytes_get_data(output, NULL), g_bytes_get_size(output));
	g_test_message("terminal output: %s", text);
	return text;
}

/* real crun only: terminals (init and exec), their size, pause and resume */
static void
test_terminal(Fixture *f, gconstpointer data)
{
	const gchar *const init_args[] = {"sh", "-c", "read line; tty; stty size; echo got $line",
					  NULL};
	const gchar *const tty_args[] = {"sh", "-c", "tty; stty size; read line; stty size", NULL};
	const gchar *const sleep_args[] = {"sleep", "1000", NULL};
	g_autofree gchar *id = new_id("tty");
	Streams init_streams = {new_stream_id(), new_stream_id(), 0, TRUE};
	Streams exec_streams = {new_stream_id(), new_stream_id(), 0, TRUE};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *init_text = NULL;
	g_autofree gchar *exec_text = NULL;

	if (!f->real) {
		g_test_skip("SKIP: terminals need the real crun (run against a guest)");
		return;
	}
	/* the init on a terminal: resized before it reads */
	create_container(f, id, init_args, &init_streams, &error);
	g_assert_no_error(error);
	start_container(f, id);
	resize_tty(f, id, "", 25, 90);
	g_assert_true(test_stdio_send_data(f->stdio, init_streams.in, "hello\n", 6));
	init_text = wait_text(f, init_streams.out);
	g_assert_cmpuint(wait_status(f, id, NULL), ==, 0);
	g_assert_nonnull(strstr(init_text, "/dev/pts/"));
	g_assert_nonnull(strstr(init_text, "25 90"));
	g_assert_nonnull(strstr(init_text, "got hello"));
	remove_container(f, id);

	/* an exec on a terminal: its initial size, then a resize */
	g_free(id);
	id = new_id("tty");
	create_container(f, id, sleep_args, NULL, &error);
	g_assert_no_error(error);
	start_container(f, id);
	exec_process(f, id, "tty", tty_args, &exec_streams, 30, 100, &error);
	g_assert_no_error(error);
	g_assert_true(test_stdio_wait_text(f->stdio, exec_streams.out, "30 100", EOF_TIMEOUT_MS));
	resize_tty(f, id, "tty", 40, 120);
	g_assert_true(test_stdio_send_data(f->stdio, exec_streams.in, "\n", 1));
	exec_text = wait_text(f, exec_streams.out);
	g_assert_cmpuint(wait_status(f, id, "tty"), ==, 0);
	g_assert_nonnull(strstr(exec_text, "/dev/pts/"));
	g_assert_nonnull(strstr(exec_text, "30 100"));
	g_assert_nonnull(strstr(exec_text, "40 120"));

	{
		Cocoon__Agent__V1__PauseContainerRequest pause =
			COCOON__AGENT__V1__PAUSE_CONTAINER_REQUEST__INIT;
		Cocoon__Agent__V1__ResumeContainerRequest resume =
			COCOON__AGENT__V1__RESUME_CONTAINER_REQUEST__INIT;
		pause.container_id = id;
		resume.container_id = id;
		call_ok(f, "PauseContainer", &pause.base);
		exec_process(f, id, "paused", sleep_args, NULL, 0, 0, &error);
		assert_code(error, COCOON_TTRPC_FAILED_PRECONDITION);
		g_clear_error(&error);
		call_ok(f, "ResumeContainer", &resume.base);
		/* and removed while paused */
		call_ok(f, "PauseContainer", &pause.base);
	}
	remove_container(f, id);
}

/* real crun only: the OOM killer ends a container: WaitEvent and WaitProcess say so */
static void
test_oom(Fixture *f, gconstpointer data)
{
	/* a string that doubles until the 16 MiB limit stops it */
	const gchar *const args[] = {"sh", "-c", "x=0123456789abcdef; while true; do x=$x$x; done",
				     NULL};
	g_autofree gchar *id = new_id("oom");
	Cocoon__Agent__V1__WaitEventRequest request = COCOON__AGENT__V1__WAIT_EVENT_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) event = NULL;
	g_autoptr(Message) wait = NULL;

	if (!f->real) {
		g_test_skip("SKIP: OOM kills need cgroup2 in the guest (run against a guest)");
		return;
	}
	create_container_with_limit(f, id, args, NULL, 16u << 20, &error);
	g_assert_no_error(error);
	start_container(f, id);
	wait = (Message *)wait_process(f, id, NULL, CALL_TIMEOUT_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(((Cocoon__Agent__V1__WaitProcessResponse *)wait)->exit_status, ==,
			 128 + SIGKILL);
	g_assert_true(((Cocoon__Agent__V1__WaitProcessResponse *)wait)->oom_killed);
	/* the event of this container (events of earlier runs may be queued first) */
	for (;;) {
		Cocoon__Agent__V1__WaitEventResponse *response;
		g_clear_pointer(&event, message_free);
		event = call(f, "WaitEvent", &request.base,
			     &cocoon__agent__v1__wait_event_response__descriptor, 10000, &error);
		g_assert_no_error(error);
		response = (gpointer)event;
		g_assert_cmpint(response->kind, ==,
				COCOON__AGENT__V1__WAIT_EVENT_RESPONSE__KIND__OOM);
		if (g_strcmp0(response->container_id, id) == 0)
			break;
	}
	remove_container(f, id);
}

/* containerd's own default spec (`ctr oci spec`) runs as it is */
static void
test_containerd_spec(Fixture *f, gconstpointer data)
{
	const gchar *argv[] = {"ctr", "oci", "spec", NULL};
	g_autofree gchar *id = new_id("ctr-spec");
	g_autofree gchar *output = NULL;
	g_autofree gchar *spec = NULL;
	g_autofree gchar *rootfs = NULL;
	g_autoptr(CocoonJson) root = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) response = NULL;
	Cocoon__Agent__V1__CreateContainerRequest request =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	Cocoon__Agent__V1__StdioStreams stdio = COCOON__AGENT__V1__STDIO_STREAMS__INIT;
	CocoonJson *args;
	gint status = 0;

	if (!g_spawn_sync(NULL, (gchar **)argv, NULL,
			  G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &output,
			  NULL, &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL)) {
		g_test_skip("SKIP: no `ctr oci spec` (containerd is not installed)");
		return;
	}
	root = cocoon_json_parse(output, strlen(output), &error);
	g_assert_no_error(error);
	args = cocoon_json_new_array();
	cocoon_json_array_append(args, cocoon_json_new_string("sh"));
	cocoon_json_array_append(args, cocoon_json_new_string("-c"));
	cocoon_json_array_append(args, cocoon_json_new_string("echo ok"));
	cocoon_json_object_set(cocoon_json_object_get(root, "process"), "args", args);
	/* containerd adds the image's environment */
	args = cocoon_json_new_array();
	cocoon_json_array_append(args, cocoon_json_new_string("PATH=/bin"));
	cocoon_json_object_set(cocoon_json_object_get(root, "process"), "env", args);
	/* containerd sets the cgroup of a ctr container like this */
	cocoon_json_object_set_string(cocoon_json_object_get(root, "linux"), "cgroupsPath",
				      "/default/ctr-spec");
	spec = cocoon_json_to_string(root, FALSE);
	rootfs = make_rootfs(f, id);
	stdio.stdout = new_stream_id();
	stdio.stderr = stdio.stdout;
	request.container_id = id;
	request.spec_json.data = (guint8 *)spec;
	request.spec_json.len = strlen(spec);
	request.rootfs = rootfs;
	request.stdio = &stdio;
	response = call(f, "CreateContainer", &request.base,
			&cocoon__agent__v1__create_container_response__descriptor, CALL_TIMEOUT_MS,
			&error);
	g_assert_no_error(error);
	start_container(f, id);
	g_assert_cmpuint(wait_status(f, id, NULL), ==, 0);
	/* stdout and stderr share the stream */
	assert_output(f, stdio.stdout, "ok\n");
	remove_container(f, id);
}

/* ends the agent (the guest when real: only with COCOON_GUEST_TEST_SHUTDOWN=1) */
static void
test_shutdown(Fixture *f, gconstpointer data)
{
	const gchar *const args[] = {"sleep", "1000", NULL};
	Cocoon__Agent__V1__ShutdownRequest request = COCOON__AGENT__V1__SHUTDOWN_REQUEST__INIT;
	g_autofree gchar *id = new_id("shutdown");
	g_autoptr(GError) error = NULL;
	gint64 deadline;

	if (f->real && g_strcmp0(g_getenv("COCOON_GUEST_TEST_SHUTDOWN"), "1") != 0) {
		g_test_skip("SKIP: would power the guest off (set COCOON_GUEST_TEST_SHUTDOWN=1)");
		return;
	}
	create_container(f, id, args, NULL, &error);
	g_assert_no_error(error);
	start_container(f, id);
	call_ok(f, "Shutdown", &request.base);
	/* the connection ends: the guest powered off, or the agent process exited */
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (test_stdio_is_connected(f->stdio)) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(20000);
	}
	if (f->agent_pid > 0) {
		int status = 0;
		g_assert_cmpint(waitpid(f->agent_pid, &status, 0), ==, f->agent_pid);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), ==, 0);
		g_spawn_close_pid(f->agent_pid);
		f->agent_pid = 0;
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	next_stream_id = 1 + ((g_random_int() & 0xffff) << 12);

	g_test_add("/guest/agent/ping", Fixture, NULL, fixture_setup, test_ping, fixture_teardown);
	g_test_add("/guest/agent/methods", Fixture, NULL, fixture_setup, test_methods,
		   fixture_teardown);
	g_test_add("/guest/agent/errors", Fixture, NULL, fixture_setup, test_errors,
		   fixture_teardown);
	g_test_add("/guest/agent/run", Fixture, NULL, fixture_setup, test_run, fixture_teardown);
	g_test_add("/guest/agent/exec", Fixture, NULL, fixture_setup, test_exec, fixture_teardown);
	g_test_add("/guest/agent/backpressure", Fixture, NULL, fixture_setup, test_backpressure,
		   fixture_teardown);
	g_test_add("/guest/agent/background-child", Fixture, NULL, fixture_setup,
		   test_background_child, fixture_teardown);
	g_test_add("/guest/agent/stdio-reconnect", Fixture, NULL, fixture_setup,
		   test_stdio_reconnect, fixture_teardown);
	g_test_add("/guest/agent/wait-event-timeout", Fixture, NULL, fixture_setup,
		   test_wait_event_timeout, fixture_teardown);
	g_test_add("/guest/agent/update", Fixture, NULL, fixture_setup, test_update,
		   fixture_teardown);
	g_test_add("/guest/agent/terminal", Fixture, NULL, fixture_setup, test_terminal,
		   fixture_teardown);
	g_test_add("/guest/agent/oom", Fixture, NULL, fixture_setup, test_oom, fixture_teardown);
	g_test_add("/guest/agent/containerd-spec", Fixture, NULL, fixture_setup,
		   test_containerd_spec, fixture_teardown);
	g_test_add("/guest/agent/shutdown", Fixture, NULL, fixture_setup, test_shutdown,
		   fixture_teardown);
	return g_test_run();
}
