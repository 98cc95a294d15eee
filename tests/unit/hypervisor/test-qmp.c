/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-qmp.h"

/*
 * A scripted fake QMP server on one end of a socketpair, in its own thread: it sends canned
 * lines, checks the commands it receives, sleeps, hangs or closes, like libvirt's
 * qemumonitortestutils. "%ID%" in a line sent is replaced by the id of the last command.
 */
typedef enum {
	STEP_SEND,   /* text + "\r\n" */
	STEP_RAW,    /* text without the line end */
	STEP_EXPECT, /* a command named text */
	STEP_SLEEP,  /* ms */
	STEP_CLOSE,
} StepKind;

typedef struct {
	StepKind kind;
	const gchar *text;
	guint ms;
} Step;

#define GREETING                                                                                   \
	{STEP_SEND, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "             \
		    "\"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}"},           \
	{                                                                                          \
		STEP_EXPECT, "qmp_capabilities"                                                    \
	}
#define OK_REPLY                                                                                   \
	{                                                                                          \
		STEP_SEND, "{\"return\": {}, \"id\": %ID%}"                                        \
	}
#define HANDSHAKE GREETING, OK_REPLY

typedef struct {
	int fd;
	const Step *steps;
	guint n_steps;
	GString *input;
	gchar *last_id;
	gchar *failure;
	GThread *thread;
} FakeServer;

/* QEMU's stop and cont answer an empty return: the client's plain commands */
static gboolean
execute_void(CocoonQmp *qmp, const gchar *command, guint timeout_ms, GError **error)
{
	g_autoptr(CocoonJson) result = cocoon_qmp_execute(qmp, command, NULL, timeout_ms, error);

	return result != NULL;
}

static gboolean
server_read_line(FakeServer *server, gchar **ret_line)
{
	for (;;) {
		gchar *newline = memchr(server->input->str, '\n', server->input->len);
		gchar chunk[4096];
		ssize_t n;

		if (newline != NULL) {
			gsize length = newline - server->input->str;
			*ret_line = g_strndup(server->input->str, length);
			g_string_erase(server->input, 0, length + 1);
			return TRUE;
		}
		n = read(server->fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		g_string_append_len(server->input, chunk, n);
	}
}

static void
server_write(FakeServer *server, const gchar *data, gsize length)
{
	while (length > 0) {
		ssize_t n = send(server->fd, data, length, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		data += n;
		length -= n;
	}
}

static gpointer
server_thread(gpointer data)
{
	FakeServer *server = data;

	for (guint i = 0; i < server->n_steps && server->failure == NULL; i++) {
		const Step *step = &server->steps[i];

		switch (step->kind) {
		case STEP_SEND:
		case STEP_RAW: {
			g_autoptr(GString) text = g_string_new(step->text);
			g_string_replace(text, "%ID%",
					 server->last_id != NULL ? server->last_id : "0", 0);
			if (step->kind == STEP_SEND)
				g_string_append(text, "\r\n");
			server_write(server, text->str, text->len);
			break;
		}
		case STEP_EXPECT: {
			g_autofree gchar *line = NULL;
			g_autoptr(CocoonJson) command = NULL;
			CocoonJson *id;

			if (!server_read_line(server, &line)) {
				server->failure = g_strdup_printf("EOF, expected %s", step->text);
				break;
			}
			command = cocoon_json_parse(line, strlen(line), NULL);
			if (g_strcmp0(cocoon_json_object_get_string_member(command, "execute"),
				      step->text) != 0) {
				server->failure =
					g_strdup_printf("got %s, expected %s", line, step->text);
				break;
			}
			id = cocoon_json_object_get(command, "id");
			g_free(server->last_id);
			server->last_id = id != NULL ? cocoon_json_to_string(id, FALSE) : NULL;
			break;
		}
		case STEP_SLEEP:
			g_usleep(step->ms * 1000);
			break;
		case STEP_CLOSE:
			shutdown(server->fd, SHUT_RDWR);
			break;
		}
	}
	/* then wait for the client to hang up: a server that stops answering */
	for (;;) {
		g_autofree gchar *line = NULL;
		if (!server_read_line(server, &line))
			break;
	}
	return NULL;
}

/* returns the client's end */
static FakeServer *
fake_server_start(const Step *steps, guint n_steps, int *ret_client_fd)
{
	FakeServer *server = g_new0(FakeServer, 1);
	int fds[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
	server->fd = fds[0];
	server->steps = steps;
	server->n_steps = n_steps;
	server->input = g_string_new(NULL);
	server->thread = g_thread_new("fake-qmp", server_thread, server);
	*ret_client_fd = fds[1];
	return server;
}

/* call after the client closed its end */
static void
fake_server_finish(FakeServer *server)
{
	g_thread_join(server->thread);
	if (server->failure != NULL)
		g_error("fake QMP server: %s", server->failure);
	close(server->fd);
	g_string_free(server->input, TRUE);
	g_free(server->last_id);
	g_free(server);
}

static CocoonQmp *
connect_ok(const Step *steps, guint n_steps, FakeServer **ret_server)
{
	g_autoptr(GError) error = NULL;
	int fd = -1;
	CocoonQmp *qmp;

	*ret_server = fake_server_start(steps, n_steps, &fd);
	qmp = cocoon_qmp_new(fd, "sb1", 2000, &error);
	g_assert_no_error(error);
	g_assert_nonnull(qmp);
	return qmp;
}

typedef struct {
	GPtrArray *names;
	GPtrArray *data;
} Events;

static void
record_event(CocoonQmp *qmp, const gchar *event, CocoonJson *data, gpointer user_data)
{
	Events *events = user_data;

	g_ptr_array_add(events->names, g_strdup(event));
	g_ptr_array_add(events->data, data != NULL ? cocoon_json_to_string(data, FALSE) : NULL);
}

static void
events_init(Events *events)
{
	events->names = g_ptr_array_new_with_free_func(g_free);
	events->data = g_ptr_array_new_with_free_func(g_free);
}

static void
events_clear(Events *events)
{
	g_ptr_array_unref(events->names);
	g_ptr_array_unref(events->data);
}

static void
iterate_until(Events *events, guint count)
{
	gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	while (events->names->len < count) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
}

static void
test_qmp_handshake(void)
{
	static const Step steps[] = {
		HANDSHAKE,
		{STEP_EXPECT, "query-status"},
		{STEP_SEND, "{\"return\": {\"status\": \"running\", \"singlestep\": false, "
			    "\"running\": true}, \"id\": %ID%}"},
		{STEP_EXPECT, "stop"},
		OK_REPLY,
		{STEP_EXPECT, "query-status"},
		{STEP_SEND, "{\"return\": {\"status\": \"paused\", \"running\": false}, "
			    "\"id\": %ID%}"},
	};
	g_autoptr(GError) error = NULL;
	FakeServer *server;
	CocoonQmp *qmp = connect_ok(steps, G_N_ELEMENTS(steps), &server);
	g_autofree gchar *status = NULL;
	gboolean running = FALSE;

	g_assert_true(cocoon_qmp_is_connected(qmp));
	g_assert_true(cocoon_qmp_query_status(qmp, 1000, &status, &running, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(status, ==, "running");
	g_assert_true(running);
	g_assert_true(execute_void(qmp, "stop", 1000, &error));
	g_assert_no_error(error);
	g_clear_pointer(&status, g_free);
	g_assert_true(cocoon_qmp_query_status(qmp, 1000, &status, &running, &error));
	g_assert_cmpstr(status, ==, "paused");
	g_assert_false(running);
	cocoon_qmp_free(qmp);
	fake_server_finish(server);
}

static void
test_qmp_id_matching(void)
{
	static const Step steps[] = {
		HANDSHAKE,
		{STEP_EXPECT, "stop"},
		/* a stale reply of an earlier command, an event, then ours */
		{STEP_SEND, "{\"return\": {\"status\": \"stale\"}, \"id\": 999}"},
		{STEP_SEND, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
			    "\"event\": \"STOP\"}"},
		OK_REPLY,
		{STEP_EXPECT, "cont"},
		/* QEMU leaves the id out when it could not parse the request: still ours */
		{STEP_SEND, "{\"return\": {}}"},
		{STEP_EXPECT, "query-status"},
		/* two messages in one write, blank lines between them */
		{STEP_RAW, "\r\n{\"event\": \"RESUME\"}\r\n\r\n{\"return\": {\"status\": "
			   "\"running\", \"running\": true}, \"id\": %ID%}\r\n"},
	};
	g_autoptr(GError) error = NULL;
	FakeServer *server;
	CocoonQmp *qmp = connect_ok(steps, G_N_ELEMENTS(steps), &server);
	g_autofree gchar *status = NULL;
	Events events;

	events_init(&events);
	cocoon_qmp_set_event_func(qmp, record_event, &events);
	cocoon_qmp_attach(qmp, NULL);
	g_assert_true(execute_void(qmp, "stop", 1000, &error));
	g_assert_no_error(error);
	/* events read during a command are delivered later, from the main loop */
	g_assert_cmpuint(events.names->len, ==, 0);
	iterate_until(&events, 1);
	g_assert_cmpstr(events.names->pdata[0], ==, "STOP");
	g_assert_true(execute_void(qmp, "cont", 1000, &error));
	g_assert_no_error(error);
	g_assert_true(cocoon_qmp_query_status(qmp, 1000, &status, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(status, ==, "running");
	iterate_until(&events, 2);
	g_assert_cmpstr(events.names->pdata[1], ==, "RESUME");
	cocoon_qmp_free(qmp);
	fake_server_finish(server);
	events_clear(&events);
}

static void
test_qmp_error_reply(void)
{
	static const Step steps[] = {
		HANDSHAKE,
		{STEP_EXPECT, "cont"},
		{STEP_SEND, "{\"id\": %ID%, \"error\": {\"class\": \"GenericError\", "
			    "\"desc\": \"Resetting the Virtual Machine is required\"}}"},
		{STEP_EXPECT, "device_del"},
		{STEP_SEND, "{\"id\": %ID%, \"error\": {}}"},
		{STEP_EXPECT, "cont"},
		OK_REPLY,
	};
	g_autoptr(GError) error = NULL;
	FakeServer *server;
	CocoonQmp *qmp = connect_ok(steps, G_N_ELEMENTS(steps), &server);
	g_autoptr(CocoonJson) arguments = cocoon_json_new_object();
	CocoonJson *result;

	g_assert_false(execute_void(qmp, "cont", 1000, &error));
	g_assert_error(error, COCOON_QMP_ERROR, COCOON_QMP_ERROR_COMMAND);
	g_assert_cmpstr(error->message, ==,
			"sandbox sb1: QMP cont: GenericError: Resetting the Virtual Machine is "
			"required");
	g_clear_error(&error);

	cocoon_json_object_set_string(arguments, "id", "disk0");
	result = cocoon_qmp_execute(qmp, "device_del", g_steal_pointer(&arguments), 1000, &error);
	g_assert_null(result);
	g_assert_error(error, COCOON_QMP_ERROR, COCOON_QMP_ERROR_COMMAND);
	g_clear_error(&error);

	/* an error reply leaves the connection usable */
	g_assert_true(cocoon_qmp_is_connected(qmp));
	g_assert_true(execute_void(qmp, "cont", 1000, &error));
	g_assert_no_error(error);
	cocoon_qmp_free(qmp);
	fake_server_finish(server);
}

static void
test_qmp_events(void)
{
	static const Step steps[] = {
		HANDSHAKE,
		{STEP_SLEEP, NULL, 50},
		{STEP_SEND, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}, \"event\": "
			    "\"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": "
			    "\"guest-shutdown\"}}"},
		{STEP_SEND, "{\"event\": \"RESUME\"}"},
		{STEP_SLEEP, NULL, 50},
		/* the connection ends with an event still unread */
		{STEP_SEND, "{\"event\": \"STOP\"}"},
		{STEP_CLOSE},
	};
	g_autoptr(GError) error = NULL;
	FakeServer *server;
	CocoonQmp *qmp = connect_ok(steps, G_N_ELEMENTS(steps), &server);
	Events events;

	events_init(&events);
	cocoon_qmp_set_event_func(qmp, record_event, &events);
	cocoon_qmp_attach(qmp, NULL);
	iterate_until(&events, 3);
	g_assert_cmpstr(events.names->pdata[0], ==, "SHUTDOWN");
	g_assert_cmpstr(events.data->pdata[0], ==,
			"{\"guest\":true,\"reason\":\"guest-shutdown\"}");
	g_assert_cmpstr(events.names->pdata[1], ==, "RESUME");
	g_assert_null(events.data->pdata[1]);
	g_assert_cmpstr(events.names->pdata[2], ==, "STOP");

	/* the watch saw EOF */
	for (guint i = 0; i < 100 && cocoon_qmp_is_connected(qmp); i++) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
	g_assert_false(cocoon_qmp_is_connected(qmp));
	g_assert_false(execute_void(qmp, "stop", 1000, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
	cocoon_qmp_free(qmp);
	fake_server_finish(server);
	events_clear(&events);
}

static void
test_qmp_dispatch_pending(void)
{
	static const Step steps[] = {
		HANDSHAKE,
		{STEP_SEND, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": "
			    "\"guest-panic\"}}"},
		{STEP_CLOSE},
	};
	FakeServer *server;
	CocoonQmp *qmp = connect_ok(steps, G_N_ELEMENTS(steps), &server);
	Events events;

	/* no context attached: the owner drains after QEMU exited */
	events_init(&events);
	cocoon_qmp_set_event_func(qmp, record_event, &events);
	g_usleep(100 * 1000);
	cocoon_qmp_dispatch_pending(qmp);
	g_assert_cmpuint(events.names->len, ==, 1);
	g_assert_cmpstr(events.data->pdata[0], ==, "{\"guest\":true,\"reason\":\"guest-panic\"}");
	g_assert_false(cocoon_qmp_is_connected(qmp));
	cocoon_qmp_free(qmp);
	fake_server_finish(server);
	events_clear(&events);
}

static void
test_qmp_hang(void)
{
	static const Step steps[] = {
		HANDSHAKE, {STEP_EXPECT, "query-status"},
		/* never answers; the server then waits for the client to hang up */
	};
	static const Step silent[] = {
		{STEP_SLEEP, NULL, 1},
	};
	g_autoptr(GError) error = NULL;
	FakeServer *server;
	CocoonQmp *qmp = connect_ok(steps, G_N_ELEMENTS(steps), &server);
	gint64 start = g_get_monotonic_time();
	gint64 elapsed;
	int fd = -1;

	g_assert_false(cocoon_qmp_query_status(qmp, 200, NULL, NULL, &error));
	elapsed = g_get_monotonic_time() - start;
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_assert_nonnull(strstr(error->message, "sandbox sb1: QMP query-status: "));
	g_assert_cmpint(elapsed, >=, 190 * 1000);
	g_assert_cmpint(elapsed, <, 2 * G_USEC_PER_SEC);
	g_clear_error(&error);
	cocoon_qmp_free(qmp);
	fake_server_finish(server);

	/* a peer that never greets */
	server = fake_server_start(silent, G_N_ELEMENTS(silent), &fd);
	start = g_get_monotonic_time();
	qmp = cocoon_qmp_new(fd, "sb2", 200, &error);
	g_assert_null(qmp);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_assert_nonnull(strstr(error->message, "sandbox sb2: QMP greeting"));
	g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * G_USEC_PER_SEC);
	fake_server_finish(server);
}

static void
test_qmp_late_reply(void)
{
	static const Step steps[] = {
		HANDSHAKE,
		{STEP_EXPECT, "query-status"},
		{STEP_SLEEP, NULL, 300},
		{STEP_SEND,
		 "{\"return\": {\"status\": \"late\", \"running\": true}, \"id\": %ID%}"},
		{STEP_EXPECT, "query-status"},
		{STEP_SEND, "{\"return\": {\"status\": \"running\", \"running\": true}, "
			    "\"id\": %ID%}"},
	};
	g_autoptr(GError) error = NULL;
	FakeServer *server;
	CocoonQmp *qmp = connect_ok(steps, G_N_ELEMENTS(steps), &server);
	g_autofree gchar *status = NULL;

	g_assert_false(cocoon_qmp_query_status(qmp, 100, &status, NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_clear_error(&error);
	/* the late reply arrives while the next command waits, and is dropped */
	g_assert_true(cocoon_qmp_query_status(qmp, 2000, &status, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(status, ==, "running");
	cocoon_qmp_free(qmp);
	fake_server_finish(server);
}

static void
check_garbage(const Step *steps, guint n_steps, gboolean in_greeting, const gchar *part)
{
	g_autoptr(GError) error = NULL;
	FakeServer *server;
	CocoonQmp *qmp;
	int fd = -1;

	server = fake_server_start(steps, n_steps, &fd);
	qmp = cocoon_qmp_new(fd, "sb3", 2000, &error);
	if (in_greeting) {
		g_assert_null(qmp);
	} else {
		g_assert_no_error(error);
		g_assert_false(cocoon_qmp_query_status(qmp, 2000, NULL, NULL, &error));
		g_assert_false(cocoon_qmp_is_connected(qmp));
	}
	g_assert_error(error, COCOON_QMP_ERROR, COCOON_QMP_ERROR_PROTOCOL);
	if (strstr(error->message, part) == NULL)
		g_error("\"%s\" not in \"%s\"", part, error->message);
	if (qmp != NULL) {
		/* broken for good, and says why, at once */
		gint64 start = g_get_monotonic_time();
		g_clear_error(&error);
		g_assert_false(execute_void(qmp, "stop", 2000, &error));
		g_assert_error(error, COCOON_QMP_ERROR, COCOON_QMP_ERROR_PROTOCOL);
		g_assert_cmpint(g_get_monotonic_time() - start, <, G_USEC_PER_SEC / 2);
		cocoon_qmp_free(qmp);
	}
	fake_server_finish(server);
}

static void
test_qmp_garbage(void)
{
	static const Step not_json[] = {
		HANDSHAKE,
		{STEP_EXPECT, "query-status"},
		{STEP_SEND, "this is not json"},
	};
	static const Step not_object[] = {
		HANDSHAKE,
		{STEP_EXPECT, "query-status"},
		{STEP_SEND, "[1, 2, 3]"},
	};
	static const Step neither[] = {
		HANDSHAKE,
		{STEP_EXPECT, "query-status"},
		{STEP_SEND, "{\"something\": \"else\"}"},
	};
	static const Step bad_status[] = {
		HANDSHAKE,
		{STEP_EXPECT, "query-status"},
		{STEP_SEND, "{\"return\": {\"status\": 7}, \"id\": %ID%}"},
	};
	static const Step bad_greeting[] = {
		{STEP_SEND, "{\"hello\": 1}"},
	};
	static const Step binary_greeting[] = {
		{STEP_RAW, "\x01\x02\xff\xfe\n"},
	};
	g_autofree gchar *huge = g_strnfill(COCOON_QMP_MAX_MESSAGE + 10, 'x');
	const Step oversized[] = {
		HANDSHAKE,
		{STEP_EXPECT, "query-status"},
		{STEP_RAW, huge},
	};

	check_garbage(not_json, G_N_ELEMENTS(not_json), FALSE, "not a QMP message");
	check_garbage(not_object, G_N_ELEMENTS(not_object), FALSE, "not an object");
	check_garbage(neither, G_N_ELEMENTS(neither), FALSE, "neither a reply nor an event");
	check_garbage(oversized, G_N_ELEMENTS(oversized), FALSE, "longer than");
	check_garbage(bad_greeting, G_N_ELEMENTS(bad_greeting), TRUE, "did not greet");
	check_garbage(binary_greeting, G_N_ELEMENTS(binary_greeting), TRUE, "not a QMP message");

	/* a malformed reply to query-status is an error, but not a broken connection */
	{
		g_autoptr(GError) error = NULL;
		FakeServer *server;
		CocoonQmp *qmp = connect_ok(bad_status, G_N_ELEMENTS(bad_status), &server);
		g_assert_false(cocoon_qmp_query_status(qmp, 1000, NULL, NULL, &error));
		g_assert_error(error, COCOON_QMP_ERROR, COCOON_QMP_ERROR_PROTOCOL);
		cocoon_qmp_free(qmp);
		fake_server_finish(server);
	}
}

static void
test_qmp_eof(void)
{
	static const Step closes[] = {
		HANDSHAKE,
		{STEP_EXPECT, "query-status"},
		{STEP_CLOSE},
	};
	static const Step quits[] = {
		HANDSHAKE,
		{STEP_EXPECT, "quit"},
		{STEP_CLOSE},
	};
	g_autoptr(GError) error = NULL;
	FakeServer *server;
	CocoonQmp *qmp = connect_ok(closes, G_N_ELEMENTS(closes), &server);

	g_assert_false(cocoon_qmp_query_status(qmp, 1000, NULL, NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
	g_assert_false(cocoon_qmp_is_connected(qmp));
	g_clear_error(&error);
	cocoon_qmp_free(qmp);
	fake_server_finish(server);

	/* QEMU exiting before it answers quit is what quit asked for */
	qmp = connect_ok(quits, G_N_ELEMENTS(quits), &server);
	g_assert_true(cocoon_qmp_quit(qmp, 1000, &error));
	g_assert_no_error(error);
	cocoon_qmp_free(qmp);
	fake_server_finish(server);
}

static void
test_qmp_connect(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("cocoon-qmp-XXXXXX", &error);
	g_autofree gchar *path = g_build_filename(dir, "qmp.sock", NULL);
	g_autofree gchar *long_path = g_strnfill(200, 'a');
	g_autoptr(CocoonQmp) qmp = NULL;

	qmp = cocoon_qmp_connect(path, "sb4", 500, &error);
	g_assert_null(qmp);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "sandbox sb4: QMP connect"));
	g_clear_error(&error);
	qmp = cocoon_qmp_connect(long_path, "sb4", 500, &error);
	g_assert_null(qmp);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG);
	g_rmdir(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hypervisor/qmp/handshake", test_qmp_handshake);
	g_test_add_func("/hypervisor/qmp/id-matching", test_qmp_id_matching);
	g_test_add_func("/hypervisor/qmp/error-reply", test_qmp_error_reply);
	g_test_add_func("/hypervisor/qmp/events", test_qmp_events);
	g_test_add_func("/hypervisor/qmp/dispatch-pending", test_qmp_dispatch_pending);
	g_test_add_func("/hypervisor/qmp/hang", test_qmp_hang);
	g_test_add_func("/hypervisor/qmp/late-reply", test_qmp_late_reply);
	g_test_add_func("/hypervisor/qmp/garbage", test_qmp_garbage);
	g_test_add_func("/hypervisor/qmp/eof", test_qmp_eof);
	g_test_add_func("/hypervisor/qmp/connect", test_qmp_connect);
	return g_test_run();
}
