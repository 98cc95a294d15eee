/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Talks containerd's Task API straight to a running shim, as containerd would, for what ctr 1.6
 * cannot send: Update, CloseIO with a real stdin, Checkpoint, and bad input of every kind.
 *
 *   task-api SOCKET NAMESPACE CONTAINER-ID WORKDIR
 *
 * CONTAINER-ID is a running container of that shim (started by ctr). Prints PASS/FAIL lines and
 * exits non-zero on any failure.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cgroups-v1-metrics.pb-c.h"
#include "cgroups-v2-metrics.pb-c.h"
#include "cocoon-ttrpc-client.h"
#include "cocoon-ttrpc-server.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "shim.pb-c.h"

#define TASK	   "containerd.task.v2.Task"
#define TIMEOUT_MS 60000

static guint failures;

static void
check(gboolean ok, const gchar *what, const gchar *detail)
{
	g_print("%s: %s%s%s\n", ok ? "PASS" : "FAIL", what, detail ? ": " : "",
		detail ? detail : "");
	if (!ok)
		failures++;
}

static void
protobuf_c_message_free_unpacked_null(ProtobufCMessage *message)
{
	protobuf_c_message_free_unpacked(message, NULL);
}

static ProtobufCMessage *
call(CocoonTtrpcClient *client, const gchar *method, const ProtobufCMessage *request,
     const ProtobufCMessageDescriptor *response, GError **error)
{
	return cocoon_ttrpc_client_call_message(client, TASK, method, request, response, TIMEOUT_MS,
						NULL, error);
}

/* the call fails with code and its message names every needle */
static void
expect_error(CocoonTtrpcClient *client, const gchar *what, const gchar *method,
	     const ProtobufCMessage *request, CocoonTtrpcCode code, const gchar *needle)
{
	g_autoptr(GError) error = NULL;
	ProtobufCMessage *response =
		call(client, method, request, &google__protobuf__empty__descriptor, &error);
	g_autofree gchar *detail = NULL;

	if (response != NULL) {
		protobuf_c_message_free_unpacked(response, NULL);
		check(FALSE, what, "succeeded");
		return;
	}
	detail = g_strdup_printf("code %d \"%s\"", error->code, error->message);
	check(error->domain == COCOON_TTRPC_ERROR && error->code == (gint)code &&
		      (needle == NULL || strstr(error->message, needle) != NULL),
	      what, detail);
}

static void
test_bad_input(CocoonTtrpcClient *client, const gchar *id)
{
	Containerd__Task__V2__StateRequest state = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
	Containerd__Task__V2__KillRequest kill_request = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
	Containerd__Task__V2__CreateTaskRequest create =
		CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
	Containerd__Task__V2__CheckpointTaskRequest checkpoint =
		CONTAINERD__TASK__V2__CHECKPOINT_TASK_REQUEST__INIT;
	Containerd__Task__V2__ExecProcessRequest exec =
		CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
	Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;
	const guint8 garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};

	state.id = (gchar *)"no-such-container";
	expect_error(client, "State of an unknown id is NotFound naming it", "State",
		     (ProtobufCMessage *)&state, COCOON_TTRPC_NOT_FOUND, "no-such-container");
	state.id = (gchar *)"../../etc";
	expect_error(client, "an id with .. is InvalidArgument", "State",
		     (ProtobufCMessage *)&state, COCOON_TTRPC_INVALID_ARGUMENT, "../../etc");
	state.id = (gchar *)id;
	state.exec_id = (gchar *)"no-such-exec";
	expect_error(client, "State of an unknown exec is NotFound naming it", "State",
		     (ProtobufCMessage *)&state, COCOON_TTRPC_NOT_FOUND, "no-such-exec");

	kill_request.id = (gchar *)id;
	kill_request.signal = 0;
	expect_error(client, "Kill with signal 0 is InvalidArgument", "Kill",
		     (ProtobufCMessage *)&kill_request, COCOON_TTRPC_INVALID_ARGUMENT, id);
	kill_request.signal = 1000;
	expect_error(client, "Kill with signal 1000 is InvalidArgument", "Kill",
		     (ProtobufCMessage *)&kill_request, COCOON_TTRPC_INVALID_ARGUMENT, "1000");

	create.id = (gchar *)id;
	create.bundle = (gchar *)"/tmp";
	expect_error(client, "Create of an existing id is AlreadyExists", "Create",
		     (ProtobufCMessage *)&create, COCOON_TTRPC_ALREADY_EXISTS, id);
	create.id = (gchar *)"fresh";
	create.bundle = (gchar *)"relative/bundle";
	expect_error(client, "Create with a relative bundle is InvalidArgument", "Create",
		     (ProtobufCMessage *)&create, COCOON_TTRPC_INVALID_ARGUMENT, "relative/bundle");
	create.bundle = (gchar *)"/nonexistent/bundle";
	expect_error(client, "Create with a missing config.json is InvalidArgument", "Create",
		     (ProtobufCMessage *)&create, COCOON_TTRPC_INVALID_ARGUMENT, "fresh");

	checkpoint.id = (gchar *)id;
	expect_error(client, "Checkpoint is Unimplemented and names an alternative", "Checkpoint",
		     (ProtobufCMessage *)&checkpoint, COCOON_TTRPC_UNIMPLEMENTED, "runc");

	exec.id = (gchar *)id;
	exec.exec_id = (gchar *)"nospec";
	expect_error(client, "Exec without a process spec is InvalidArgument", "Exec",
		     (ProtobufCMessage *)&exec, COCOON_TTRPC_INVALID_ARGUMENT, "nospec");
	spec.type_url = (gchar *)"types.containerd.io/opencontainers/runtime-spec/1/Process";
	spec.value.data = (guint8 *)"{not json";
	spec.value.len = strlen("{not json");
	exec.spec = &spec;
	exec.exec_id = (gchar *)"badjson";
	expect_error(client, "Exec with a broken spec is InvalidArgument", "Exec",
		     (ProtobufCMessage *)&exec, COCOON_TTRPC_INVALID_ARGUMENT, "badjson");

	reply = cocoon_ttrpc_client_call(client, TASK, "State", garbage, sizeof(garbage),
					 TIMEOUT_MS, NULL, &error);
	check(reply == NULL &&
		      g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT),
	      "an undecodable request is InvalidArgument", error ? error->message : NULL);
	g_clear_error(&error);
	reply = cocoon_ttrpc_client_call(client, TASK, "Frobnicate", NULL, 0, TIMEOUT_MS, NULL,
					 &error);
	check(reply == NULL &&
		      g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNIMPLEMENTED),
	      "an unknown method is Unimplemented", error ? error->message : NULL);
}

static void
test_update(CocoonTtrpcClient *client, const gchar *id)
{
	Containerd__Task__V2__UpdateTaskRequest update =
		CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__INIT;
	Google__Protobuf__Any resources = GOOGLE__PROTOBUF__ANY__INIT;
	const gchar *too_big = "{\"memory\":{\"limit\":68719476736}}";
	const gchar *fits = "{\"memory\":{\"limit\":134217728},\"pids\":{\"limit\":64}}";
	g_autoptr(GError) error = NULL;
	ProtobufCMessage *response;

	resources.type_url =
		(gchar *)"types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
	update.id = (gchar *)id;
	update.resources = &resources;
	resources.value.data = (guint8 *)too_big;
	resources.value.len = strlen(too_big);
	expect_error(client, "Update beyond the VM's memory is FailedPrecondition and says why",
		     "Update", (ProtobufCMessage *)&update, COCOON_TTRPC_FAILED_PRECONDITION,
		     "exceeds the VM");
	resources.value.data = (guint8 *)fits;
	resources.value.len = strlen(fits);
	response = call(client, "Update", (ProtobufCMessage *)&update,
			&google__protobuf__empty__descriptor, &error);
	check(response != NULL, "Update within the VM is applied in the guest",
	      error ? error->message : NULL);
	if (response != NULL)
		protobuf_c_message_free_unpacked(response, NULL);
}

static void
test_stats(CocoonTtrpcClient *client, const gchar *id)
{
	Containerd__Task__V2__StatsRequest request = CONTAINERD__TASK__V2__STATS_REQUEST__INIT;
	Containerd__Task__V2__StatsResponse *response;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *detail = NULL;

	request.id = (gchar *)id;
	response = (Containerd__Task__V2__StatsResponse *)call(
		client, "Stats", (ProtobufCMessage *)&request,
		&containerd__task__v2__stats_response__descriptor, &error);
	if (response == NULL || response->stats == NULL) {
		check(FALSE, "Stats", error ? error->message : "no stats");
		return;
	}
	if (g_str_equal(response->stats->type_url, "io.containerd.cgroups.v1.Metrics")) {
		Io__Containerd__Cgroups__V1__Metrics *m =
			io__containerd__cgroups__v1__metrics__unpack(
				NULL, response->stats->value.len, response->stats->value.data);
		detail = g_strdup_printf(
			"v1, memory usage %" G_GUINT64_FORMAT ", pids limit %" G_GUINT64_FORMAT,
			m && m->memory && m->memory->usage ? m->memory->usage->usage : 0,
			m && m->pids ? m->pids->limit : 0);
		check(m != NULL && m->memory->usage->usage > 0 && m->cpu->usage != NULL &&
			      m->pids->limit == 64,
		      "Stats: host-type metrics with the fields ctr needs, the update applied",
		      detail);
		if (m != NULL)
			io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);
	} else {
		Io__Containerd__Cgroups__V2__Metrics *m =
			io__containerd__cgroups__v2__metrics__unpack(
				NULL, response->stats->value.len, response->stats->value.data);
		detail = g_strdup_printf("v2, memory usage %" G_GUINT64_FORMAT,
					 m && m->memory ? m->memory->usage : 0);
		check(m != NULL && m->memory != NULL && m->memory->usage > 0 &&
			      m->pids->limit == 64,
		      "Stats: host-type metrics, the update applied", detail);
		if (m != NULL)
			io__containerd__cgroups__v2__metrics__free_unpacked(m, NULL);
	}
	protobuf_c_message_free_unpacked((ProtobufCMessage *)response, NULL);
}

/* an exec reading a real stdin FIFO: data, then CloseIO, reaches `cat`, which exits */
static void
test_close_io(CocoonTtrpcClient *client, const gchar *id, const gchar *workdir)
{
	Containerd__Task__V2__ExecProcessRequest exec =
		CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
	Containerd__Task__V2__StartRequest start = CONTAINERD__TASK__V2__START_REQUEST__INIT;
	Containerd__Task__V2__CloseIORequest close_io = CONTAINERD__TASK__V2__CLOSE_IOREQUEST__INIT;
	Containerd__Task__V2__WaitRequest wait = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
	Containerd__Task__V2__DeleteRequest delete = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
	Containerd__Task__V2__WaitResponse *wait_response;
	Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
	const gchar *process = "{\"args\":[\"cat\"],\"cwd\":\"/\",\"env\":[\"PATH=/bin\"],"
			       "\"user\":{\"uid\":0,\"gid\":0}}";
	g_autofree gchar *in_path = g_build_filename(workdir, "e-stdin", NULL);
	g_autofree gchar *out_path = g_build_filename(workdir, "e-stdout", NULL);
	g_autoptr(GError) error = NULL;
	ProtobufCMessage *response;
	gchar buf[64] = {0};
	gssize n = 0;
	int in_fd, out_fd;

	if (mkfifo(in_path, 0600) < 0 || mkfifo(out_path, 0600) < 0) {
		check(FALSE, "mkfifo", g_strerror(errno));
		return;
	}
	/* the client side, as containerd's cio opens them */
	out_fd = open(out_path, O_RDONLY | O_NONBLOCK);
	in_fd = open(in_path, O_RDWR | O_NONBLOCK);
	spec.type_url = (gchar *)"types.containerd.io/opencontainers/runtime-spec/1/Process";
	spec.value.data = (guint8 *)process;
	spec.value.len = strlen(process);
	exec.id = (gchar *)id;
	exec.exec_id = (gchar *)"cat1";
	exec.stdin = in_path;
	exec.stdout = out_path;
	exec.spec = &spec;
	response = call(client, "Exec", (ProtobufCMessage *)&exec,
			&google__protobuf__empty__descriptor, &error);
	check(response != NULL, "Exec cat with a stdin FIFO", error ? error->message : NULL);
	if (response == NULL)
		return;
	protobuf_c_message_free_unpacked(response, NULL);
	start.id = (gchar *)id;
	start.exec_id = (gchar *)"cat1";
	response = call(client, "Start", (ProtobufCMessage *)&start,
			&containerd__task__v2__start_response__descriptor, &error);
	check(response != NULL, "Start cat", error ? error->message : NULL);
	if (response == NULL)
		return;
	protobuf_c_message_free_unpacked(response, NULL);
	if (write(in_fd, "through-stdin\n", 14) != 14)
		check(FALSE, "write stdin", g_strerror(errno));
	close(in_fd);
	close_io.id = (gchar *)id;
	close_io.exec_id = (gchar *)"cat1";
	close_io.stdin = TRUE;
	response = call(client, "CloseIO", (ProtobufCMessage *)&close_io,
			&google__protobuf__empty__descriptor, &error);
	check(response != NULL, "CloseIO", error ? error->message : NULL);
	if (response != NULL)
		protobuf_c_message_free_unpacked(response, NULL);
	wait.id = (gchar *)id;
	wait.exec_id = (gchar *)"cat1";
	wait_response = (Containerd__Task__V2__WaitResponse *)call(
		client, "Wait", (ProtobufCMessage *)&wait,
		&containerd__task__v2__wait_response__descriptor, &error);
	check(wait_response != NULL && wait_response->exit_status == 0,
	      "cat saw stdin EOF and exited 0", error ? error->message : NULL);
	if (wait_response != NULL)
		protobuf_c_message_free_unpacked((ProtobufCMessage *)wait_response, NULL);
	n = read(out_fd, buf, sizeof(buf) - 1);
	check(n == 14 && g_str_equal(buf, "through-stdin\n"), "the data came back on stdout",
	      n >= 0 ? buf : g_strerror(errno));
	close(out_fd);
	delete.id = (gchar *)id;
	delete.exec_id = (gchar *)"cat1";
	response = call(client, "Delete", (ProtobufCMessage *)&delete,
			&containerd__task__v2__delete_response__descriptor, &error);
	check(response != NULL, "Delete the exec", error ? error->message : NULL);
	if (response != NULL)
		protobuf_c_message_free_unpacked(response, NULL);
}

/*
 * a created task (crun create ran, its init waits for Start) is killed before Start: it exits with
 * 137, Wait answers, State says stopped, Start is refused, Delete works (no stuck task)
 */
static void
test_kill_before_start(CocoonTtrpcClient *client, const gchar *workdir)
{
	Containerd__Task__V2__CreateTaskRequest create =
		CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
	Containerd__Task__V2__KillRequest kill_request = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
	Containerd__Task__V2__WaitRequest wait = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
	Containerd__Task__V2__StateRequest state = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
	Containerd__Task__V2__StartRequest start = CONTAINERD__TASK__V2__START_REQUEST__INIT;
	Containerd__Task__V2__DeleteRequest delete_request =
		CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
	g_autofree gchar *bundle = g_build_filename(workdir, "kbs", NULL);
	g_autoptr(GError) error = NULL;
	ProtobufCMessage *response;
	Containerd__Task__V2__WaitResponse *waited;
	Containerd__Task__V2__StateResponse *stated;

	create.id = (gchar *)"kbs";
	create.bundle = bundle;
	response = call(client, "Create", (ProtobufCMessage *)&create,
			&containerd__task__v2__create_task_response__descriptor, &error);
	check(response != NULL, "Create of a second container (kill before start)",
	      error != NULL ? error->message : NULL);
	if (response == NULL)
		return;
	protobuf_c_message_free_unpacked(response, NULL);
	kill_request.id = (gchar *)"kbs";
	kill_request.signal = SIGKILL;
	response = call(client, "Kill", (ProtobufCMessage *)&kill_request,
			&google__protobuf__empty__descriptor, &error);
	check(response != NULL, "Kill of a created task", error != NULL ? error->message : NULL);
	g_clear_pointer(&response, protobuf_c_message_free_unpacked_null);
	g_clear_error(&error);
	wait.id = (gchar *)"kbs";
	/* before: never answered (nothing watched a created init) */
	waited = (Containerd__Task__V2__WaitResponse *)cocoon_ttrpc_client_call_message(
		client, TASK, "Wait", (ProtobufCMessage *)&wait,
		&containerd__task__v2__wait_response__descriptor, 30000, NULL, &error);
	check(waited != NULL && waited->exit_status == 128 + SIGKILL,
	      "Wait of a task killed before its Start answers 137",
	      error != NULL ? error->message : NULL);
	g_clear_error(&error);
	if (waited != NULL)
		protobuf_c_message_free_unpacked((ProtobufCMessage *)waited, NULL);
	state.id = (gchar *)"kbs";
	stated = (Containerd__Task__V2__StateResponse *)call(
		client, "State", (ProtobufCMessage *)&state,
		&containerd__task__v2__state_response__descriptor, &error);
	check(stated != NULL && stated->status == CONTAINERD__V1__TYPES__STATUS__STOPPED,
	      "State of a task killed before its Start is stopped", NULL);
	if (stated != NULL)
		protobuf_c_message_free_unpacked((ProtobufCMessage *)stated, NULL);
	g_clear_error(&error);
	start.id = (gchar *)"kbs";
	expect_error(client, "Start after the kill is FailedPrecondition", "Start",
		     (ProtobufCMessage *)&start, COCOON_TTRPC_FAILED_PRECONDITION, "kbs");
	delete_request.id = (gchar *)"kbs";
	response = call(client, "Delete", (ProtobufCMessage *)&delete_request,
			&containerd__task__v2__delete_response__descriptor, &error);
	check(response != NULL, "Delete of a task killed before its Start",
	      error != NULL ? error->message : NULL);
	g_clear_pointer(&response, protobuf_c_message_free_unpacked_null);
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonTtrpcClient) client = NULL;

	if (argc != 5) {
		g_printerr("usage: %s SOCKET NAMESPACE CONTAINER-ID WORKDIR\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	client = cocoon_ttrpc_client_new_for_path(argv[1], &error);
	if (client == NULL) {
		g_printerr("%s\n", error->message);
		return 1;
	}
	cocoon_ttrpc_client_set_metadata(client, COCOON_TTRPC_NAMESPACE_KEY, argv[2]);
	test_bad_input(client, argv[3]);
	test_update(client, argv[3]);
	test_stats(client, argv[3]);
	test_close_io(client, argv[3], argv[4]);
	test_kill_before_start(client, argv[4]);
	return failures == 0 ? 0 : 1;
}
