/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

#include "cocoon-ttrpc-client.h"
#include "cocoon-ttrpc-frame.h"
#include "cocoon-ttrpc-server.h"
#include "ttrpc-fd.h"
#include "ttrpc.pb-c.h"

#define SERVICE "cocoon.test.v1.Test"

/*
 * The fixture runs the server on its own thread and GMainContext, so the test thread can make
 * blocking client calls. Calls sent to Hold are parked in `held` for the test to answer.
 */
typedef struct {
	gchar *dir;
	gchar *path;
	GMainContext *context;
	GMainLoop *loop;
	GThread *thread;
	CocoonTtrpcServer *server;
	GMutex lock;
	GCond cond;
	GPtrArray *held; /* CocoonTtrpcCall */
	guint closed;	 /* connection-closed callbacks */
	guint last_left;
	/* a second thread with its own context for handlers */
	GMainContext *handler_context;
	GMainLoop *handler_loop;
	GThread *handler_thread;
} Fixture;

static void
echo_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	gsize length = 0;
	const guint8 *payload = cocoon_ttrpc_call_get_payload(call, &length);
	cocoon_ttrpc_call_return(call, payload, length);
}

/* answers with the value of the metadata key named by the payload */
static void
metadata_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	gsize length = 0;
	const guint8 *payload = cocoon_ttrpc_call_get_payload(call, &length);
	g_autofree gchar *key = g_strndup((const gchar *)payload, length);
	const gchar *value = cocoon_ttrpc_call_get_metadata(call, key);

	if (value == NULL) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_NOT_FOUND, "no %s: not found",
					       key);
		return;
	}
	cocoon_ttrpc_call_return(call, (const guint8 *)value, strlen(value));
}

static void
hold_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	Fixture *fixture = user_data;
	g_mutex_lock(&fixture->lock);
	g_ptr_array_add(fixture->held, call);
	g_cond_broadcast(&fixture->cond);
	g_mutex_unlock(&fixture->lock);
}

static void
fail_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	g_autoptr(GError) error =
		g_error_new_literal(G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "container x: not found");
	cocoon_ttrpc_call_return_gerror(call, error);
}

static void
big_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	gsize length = COCOON_TTRPC_MAX_DATA_SIZE + 1;
	g_autofree guint8 *payload = g_malloc0(length);
	cocoon_ttrpc_call_return(call, payload, length);
}

static void
message_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	Ttrpc__KeyValue *request = (Ttrpc__KeyValue *)cocoon_ttrpc_call_unpack(
		call, &ttrpc__key_value__descriptor, &error);
	Ttrpc__KeyValue response = TTRPC__KEY_VALUE__INIT;
	g_autofree gchar *value = NULL;

	if (request == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	value = g_strconcat(request->value, "!", NULL);
	response.key = request->key;
	response.value = value;
	cocoon_ttrpc_call_return_message(call, &response.base);
	ttrpc__key_value__free_unpacked(request, NULL);
}

typedef struct {
	CocoonTtrpcCall *call;
	gchar *where;
} ReturnLater;

static gpointer
return_from_thread(gpointer user_data)
{
	ReturnLater *later = user_data;
	cocoon_ttrpc_call_return(later->call, (const guint8 *)later->where, strlen(later->where));
	g_free(later->where);
	g_free(later);
	return NULL;
}

/* reports whether it runs on the handler thread, and answers from yet another thread */
static void
thread_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	Fixture *fixture = user_data;
	ReturnLater *later = g_new0(ReturnLater, 1);
	gboolean owner = g_main_context_is_owner(fixture->handler_context);
	gboolean own_thread = g_thread_self() == fixture->handler_thread;

	later->call = call;
	later->where = g_strdup(owner && own_thread ? "handler-thread" : "elsewhere");
	g_thread_unref(g_thread_new("return", return_from_thread, later));
}

static gpointer
return_after_delay(gpointer user_data)
{
	CocoonTtrpcCall *call = user_data;
	gsize length = 0;
	const guint8 *payload = cocoon_ttrpc_call_get_payload(call, &length);

	g_usleep(g_random_int_range(0, 4000));
	if (g_random_boolean())
		cocoon_ttrpc_call_return(call, payload, length);
	else
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_ABORTED, "random");
	return NULL;
}

/* answers now, later from another thread, or lets the deadline answer */
static void
random_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	switch (g_random_int_range(0, 3)) {
	case 0:
		echo_handler(call, user_data);
		break;
	case 1:
		g_thread_unref(g_thread_new("random", return_after_delay, call));
		break;
	default:
		hold_handler(call, user_data);
		break;
	}
}

static void
closed_cb(CocoonTtrpcServer *server, guint left, gpointer user_data)
{
	Fixture *fixture = user_data;
	g_mutex_lock(&fixture->lock);
	fixture->closed++;
	fixture->last_left = left;
	g_cond_broadcast(&fixture->cond);
	g_mutex_unlock(&fixture->lock);
}

static gpointer
loop_thread(gpointer user_data)
{
	GMainLoop *loop = user_data;
	GMainContext *context = g_main_loop_get_context(loop);
	g_main_context_push_thread_default(context);
	g_main_loop_run(loop);
	g_main_context_pop_thread_default(context);
	return NULL;
}

static void
fixture_setup(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fixture->dir = g_dir_make_tmp("cocoon-ttrpc-XXXXXX", &error);
	g_assert_no_error(error);
	fixture->path = g_build_filename(fixture->dir, "ttrpc.sock", NULL);
	g_mutex_init(&fixture->lock);
	g_cond_init(&fixture->cond);
	fixture->held = g_ptr_array_new();

	fixture->context = g_main_context_new();
	g_main_context_push_thread_default(fixture->context);
	fixture->server = cocoon_ttrpc_server_new();
	g_main_context_pop_thread_default(fixture->context);

	fixture->handler_context = g_main_context_new();
	fixture->handler_loop = g_main_loop_new(fixture->handler_context, FALSE);

	cocoon_ttrpc_server_register(fixture->server, SERVICE, "Echo", echo_handler, fixture, NULL);
	cocoon_ttrpc_server_register(fixture->server, SERVICE, "Metadata", metadata_handler,
				     fixture, NULL);
	cocoon_ttrpc_server_register(fixture->server, SERVICE, "Hold", hold_handler, fixture, NULL);
	cocoon_ttrpc_server_register(fixture->server, SERVICE, "Fail", fail_handler, fixture, NULL);
	cocoon_ttrpc_server_register(fixture->server, SERVICE, "Big", big_handler, fixture, NULL);
	cocoon_ttrpc_server_register(fixture->server, SERVICE, "Message", message_handler, fixture,
				     NULL);
	cocoon_ttrpc_server_register(fixture->server, SERVICE, "Thread", thread_handler, fixture,
				     fixture->handler_context);
	cocoon_ttrpc_server_register(fixture->server, SERVICE, "Random", random_handler, fixture,
				     fixture->handler_context);
	cocoon_ttrpc_server_set_connection_closed_func(fixture->server, closed_cb, fixture);
	cocoon_ttrpc_server_listen_path(fixture->server, fixture->path, &error);
	g_assert_no_error(error);

	fixture->loop = g_main_loop_new(fixture->context, FALSE);
	fixture->thread = g_thread_new("server", loop_thread, fixture->loop);
	fixture->handler_thread = g_thread_new("handlers", loop_thread, fixture->handler_loop);
}

static gboolean
shutdown_cb(gpointer user_data)
{
	Fixture *fixture = user_data;
	cocoon_ttrpc_server_shutdown(fixture->server);
	g_clear_pointer(&fixture->server, cocoon_ttrpc_server_unref);
	g_main_loop_quit(fixture->loop);
	return G_SOURCE_REMOVE;
}

/* run func on context's loop thread (not in place, as invoke would before the loop runs) */
static void
run_on(GMainContext *context, GSourceFunc func, gpointer data)
{
	g_autoptr(GSource) source = g_idle_source_new();
	g_source_set_callback(source, func, data, NULL);
	g_source_attach(source, context);
}

static gboolean
quit_cb(gpointer user_data)
{
	g_main_loop_quit(user_data);
	return G_SOURCE_REMOVE;
}

static void
fixture_teardown(Fixture *fixture, gconstpointer data)
{
	run_on(fixture->context, shutdown_cb, fixture);
	g_thread_join(fixture->thread);
	run_on(fixture->handler_context, quit_cb, fixture->handler_loop);
	g_thread_join(fixture->handler_thread);
	/* calls still parked are answered into the void */
	for (guint i = 0; i < fixture->held->len; i++)
		cocoon_ttrpc_call_return(g_ptr_array_index(fixture->held, i), NULL, 0);
	g_ptr_array_unref(fixture->held);
	g_main_loop_unref(fixture->loop);
	g_main_loop_unref(fixture->handler_loop);
	g_main_context_unref(fixture->context);
	g_main_context_unref(fixture->handler_context);
	g_unlink(fixture->path);
	g_rmdir(fixture->dir);
	g_free(fixture->path);
	g_free(fixture->dir);
	g_mutex_clear(&fixture->lock);
	g_cond_clear(&fixture->cond);
}

/* wait (20 s at most) until `held` has n calls */
static void
wait_held(Fixture *fixture, guint n)
{
	gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
	g_mutex_lock(&fixture->lock);
	while (fixture->held->len < n)
		g_assert_true(g_cond_wait_until(&fixture->cond, &fixture->lock, deadline));
	g_mutex_unlock(&fixture->lock);
}

static CocoonTtrpcCall *
take_held(Fixture *fixture, guint index)
{
	CocoonTtrpcCall *call;
	g_mutex_lock(&fixture->lock);
	call = g_ptr_array_steal_index(fixture->held, index);
	g_mutex_unlock(&fixture->lock);
	return call;
}

static void
wait_closed(Fixture *fixture, guint n)
{
	gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
	g_mutex_lock(&fixture->lock);
	while (fixture->closed < n)
		g_assert_true(g_cond_wait_until(&fixture->cond, &fixture->lock, deadline));
	g_mutex_unlock(&fixture->lock);
}

static CocoonTtrpcClient *
connect_client(Fixture *fixture)
{
	g_autoptr(GError) error = NULL;
	CocoonTtrpcClient *client = cocoon_ttrpc_client_new_for_path(fixture->path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(client);
	return client;
}

static void
assert_bytes_str(GBytes *bytes, const gchar *expected)
{
	g_assert_nonnull(bytes);
	g_assert_cmpmem(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes), expected,
			strlen(expected));
}

/* raw peers: hand-made frames on a plain socket */

static gint
raw_connect(Fixture *fixture)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	gint fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(fd, >=, 0);
	g_strlcpy(addr.sun_path, fixture->path, sizeof(addr.sun_path));
	g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	return fd;
}

static void
raw_write(gint fd, const void *data, gsize length)
{
	const guint8 *p = data;
	while (length > 0) {
		gssize n = send(fd, p, length, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		g_assert_cmpint(n, >, 0);
		p += n;
		length -= (gsize)n;
	}
}

static void
raw_send_frame(gint fd, guint32 stream_id, guint8 type, const guint8 *data, gsize length)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) frame =
		cocoon_ttrpc_frame_encode(stream_id, type, 0, data, length, &error);
	g_assert_no_error(error);
	raw_write(fd, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame));
}

static void
raw_send_request(gint fd, guint32 stream_id, const gchar *method, const gchar *payload,
		 gint64 timeout_nano)
{
	Ttrpc__Request request = TTRPC__REQUEST__INIT;
	g_autofree guint8 *packed = NULL;
	gsize size;

	request.service = (gchar *)SERVICE;
	request.method = (gchar *)method;
	request.payload.data = (guint8 *)payload;
	request.payload.len = payload != NULL ? strlen(payload) : 0;
	request.timeout_nano = timeout_nano;
	size = ttrpc__request__get_packed_size(&request);
	packed = g_malloc(size + 1);
	ttrpc__request__pack(&request, packed);
	raw_send_frame(fd, stream_id, COCOON_TTRPC_MESSAGE_REQUEST, packed, size);
}

/* FALSE on EOF or after timeout_ms without a whole frame */
static gboolean
raw_read_frame(gint fd, guint timeout_ms, CocoonTtrpcFrameHeader *ret_header, GBytes **ret_data)
{
	guint8 header[COCOON_TTRPC_HEADER_SIZE];
	g_autofree guint8 *data = NULL;
	gsize have = 0;
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	while (have < sizeof(header) + (have >= sizeof(header) ? ret_header->length : 0)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		gint64 left = deadline - g_get_monotonic_time();
		gssize n;

		if (left <= 0 || poll(&pfd, 1, (gint)(left / 1000) + 1) <= 0)
			return FALSE;
		if (have < sizeof(header)) {
			n = read(fd, header + have, sizeof(header) - have);
		} else {
			n = read(fd, data + have - sizeof(header),
				 ret_header->length - (have - sizeof(header)));
		}
		if (n <= 0)
			return FALSE;
		have += (gsize)n;
		if (have == sizeof(header)) {
			cocoon_ttrpc_frame_header_decode(header, ret_header);
			g_assert_cmpuint(ret_header->length, <=, COCOON_TTRPC_MAX_DATA_SIZE);
			data = g_malloc(ret_header->length + 1);
		}
	}
	*ret_data = g_bytes_new(data, ret_header->length);
	return TRUE;
}

/* reads one Response and checks its stream id and status code; returns its status message */
static gchar *
raw_expect_response(gint fd, guint32 stream_id, CocoonTtrpcCode code)
{
	CocoonTtrpcFrameHeader header;
	g_autoptr(GBytes) data = NULL;
	Ttrpc__Response *response;
	gchar *message;

	g_assert_true(raw_read_frame(fd, 5000, &header, &data));
	g_assert_cmpuint(header.type, ==, COCOON_TTRPC_MESSAGE_RESPONSE);
	g_assert_cmpuint(header.flags, ==, 0);
	g_assert_cmpuint(header.stream_id, ==, stream_id);
	response =
		ttrpc__response__unpack(NULL, g_bytes_get_size(data), g_bytes_get_data(data, NULL));
	g_assert_nonnull(response);
	g_assert_nonnull(response->status);
	g_assert_cmpint(response->status->code, ==, code);
	message = g_strdup(response->status->message);
	ttrpc__response__free_unpacked(response, NULL);
	return message;
}

/* tests */

static void
test_round_trip(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;
	g_autoptr(GBytes) empty = NULL;
	g_autoptr(GBytes) ns = NULL;

	reply = cocoon_ttrpc_client_call(client, SERVICE, "Echo", (const guint8 *)"hello", 5, 5000,
					 NULL, &error);
	g_assert_no_error(error);
	assert_bytes_str(reply, "hello");

	empty = cocoon_ttrpc_client_call(client, SERVICE, "Echo", NULL, 0, 5000, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(empty);
	g_assert_cmpuint(g_bytes_get_size(empty), ==, 0);

	cocoon_ttrpc_client_set_metadata(client, COCOON_TTRPC_NAMESPACE_KEY, "default");
	ns = cocoon_ttrpc_client_call(client, SERVICE, "Metadata",
				      (const guint8 *)COCOON_TTRPC_NAMESPACE_KEY,
				      strlen(COCOON_TTRPC_NAMESPACE_KEY), 5000, NULL, &error);
	g_assert_no_error(error);
	assert_bytes_str(ns, "default");

	/* a removed key is not sent any more */
	cocoon_ttrpc_client_set_metadata(client, COCOON_TTRPC_NAMESPACE_KEY, NULL);
	g_assert_null(cocoon_ttrpc_client_call(
		client, SERVICE, "Metadata", (const guint8 *)COCOON_TTRPC_NAMESPACE_KEY,
		strlen(COCOON_TTRPC_NAMESPACE_KEY), 5000, NULL, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_NOT_FOUND);
	g_assert_true(cocoon_ttrpc_client_is_connected(client));
}

static void
test_error_status(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GError) error = NULL;

	g_assert_null(
		cocoon_ttrpc_client_call(client, SERVICE, "Fail", NULL, 0, 5000, NULL, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_NOT_FOUND);
	g_assert_cmpstr(error->message, ==, "container x: not found");
}

static void
test_call_message(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GError) error = NULL;
	Ttrpc__KeyValue request = TTRPC__KEY_VALUE__INIT;
	Ttrpc__KeyValue *response;

	request.key = (gchar *)"k";
	request.value = (gchar *)"v";
	response = (Ttrpc__KeyValue *)cocoon_ttrpc_client_call_message(
		client, SERVICE, "Message", &request.base, &ttrpc__key_value__descriptor, 5000,
		NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(response->key, ==, "k");
	g_assert_cmpstr(response->value, ==, "v!");
	protobuf_c_message_free_unpacked(&response->base, NULL);

	/* an undecodable request payload is INVALID_ARGUMENT from cocoon_ttrpc_call_unpack */
	g_assert_null(cocoon_ttrpc_client_call(
		client, SERVICE, "Message", (const guint8 *)"\xff\xff\xff", 3, 5000, NULL, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT);
	g_clear_error(&error);

	/*
	 * an undecodable response is INTERNAL: Metadata answers with the value of the metadata key
	 * spelled by the request bytes, here KeyValue{key: "a"} = 0a 01 61
	 */
	request.key = (gchar *)"a";
	request.value = (gchar *)"";
	cocoon_ttrpc_client_set_metadata(client, "\x0a\x01\x61", "\xff\xff\xff");
	g_assert_null(cocoon_ttrpc_client_call_message(client, SERVICE, "Metadata", &request.base,
						       &ttrpc__key_value__descriptor, 5000, NULL,
						       &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL);
}

typedef struct {
	CocoonTtrpcClient *client;
	guint index;
	GBytes *reply;
	GError *error;
} Caller;

static gpointer
caller_thread(gpointer user_data)
{
	Caller *caller = user_data;
	g_autofree gchar *payload = g_strdup_printf("call-%u", caller->index);
	caller->reply =
		cocoon_ttrpc_client_call(caller->client, SERVICE, "Hold", (const guint8 *)payload,
					 strlen(payload), 10000, NULL, &caller->error);
	return NULL;
}

static void
test_concurrent(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	Caller callers[16];
	GThread *threads[16];
	const guint n = G_N_ELEMENTS(callers);

	for (guint i = 0; i < n; i++) {
		callers[i] = (Caller){client, i, NULL, NULL};
		threads[i] = g_thread_new("caller", caller_thread, &callers[i]);
	}
	/* all 16 are in flight on one connection at once */
	wait_held(fixture, n);
	/* the earliest call is answered last, each with its own payload */
	for (guint i = n; i > 0; i--) {
		CocoonTtrpcCall *call = take_held(fixture, i - 1);
		gsize length = 0;
		const guint8 *payload = cocoon_ttrpc_call_get_payload(call, &length);
		g_autofree gchar *reply = g_strdup_printf("re:%.*s", (gint)length, payload);
		g_assert_false(cocoon_ttrpc_call_is_cancelled(call));
		g_assert_cmpint(cocoon_ttrpc_call_get_peer_pid(call), ==, getpid());
		g_assert_cmpint(cocoon_ttrpc_call_get_deadline(call), >, g_get_monotonic_time());
		cocoon_ttrpc_call_return(call, (const guint8 *)reply, strlen(reply));
	}
	for (guint i = 0; i < n; i++) {
		g_autofree gchar *expected = g_strdup_printf("re:call-%u", i);
		g_thread_join(threads[i]);
		g_assert_no_error(callers[i].error);
		assert_bytes_str(callers[i].reply, expected);
		g_bytes_unref(callers[i].reply);
	}
}

static void
test_handler_thread(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;

	reply = cocoon_ttrpc_client_call(client, SERVICE, "Thread", NULL, 0, 5000, NULL, &error);
	g_assert_no_error(error);
	assert_bytes_str(reply, "handler-thread");
}

static void
test_handler_blocks_not_others(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;
	Caller waiter = {client, 99, NULL, NULL};
	GThread *thread = g_thread_new("waiter", caller_thread, &waiter);

	/* like Wait and Start: a parked call does not hold up the next one */
	wait_held(fixture, 1);
	reply = cocoon_ttrpc_client_call(client, SERVICE, "Echo", (const guint8 *)"start", 5, 5000,
					 NULL, &error);
	g_assert_no_error(error);
	assert_bytes_str(reply, "start");
	cocoon_ttrpc_call_return(take_held(fixture, 0), (const guint8 *)"exited", 6);
	g_thread_join(thread);
	g_assert_no_error(waiter.error);
	assert_bytes_str(waiter.reply, "exited");
	g_bytes_unref(waiter.reply);
}

static void
test_server_deadline(Fixture *fixture, gconstpointer data)
{
	ttrpc_autofd gint fd = raw_connect(fixture);
	g_autofree gchar *message = NULL;
	g_autofree gchar *ok = NULL;
	CocoonTtrpcCall *call;
	gint64 start = g_get_monotonic_time();
	CocoonTtrpcFrameHeader header;
	g_autoptr(GBytes) extra = NULL;

	raw_send_request(fd, 1, "Hold", "late", 100 * 1000 * 1000);
	wait_held(fixture, 1);
	message = raw_expect_response(fd, 1, COCOON_TTRPC_DEADLINE_EXCEEDED);
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 90 * 1000);
	g_assert_nonnull(strstr(message, "deadline exceeded"));

	/* the handler's late answer is dropped */
	call = take_held(fixture, 0);
	g_assert_true(cocoon_ttrpc_call_is_cancelled(call));
	cocoon_ttrpc_call_return(call, (const guint8 *)"too late", 8);
	raw_send_request(fd, 3, "Echo", "next", 0);
	ok = raw_expect_response(fd, 3, COCOON_TTRPC_OK);
	g_assert_false(raw_read_frame(fd, 100, &header, &extra));
}

static void
test_client_deadline(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;
	gint64 start = g_get_monotonic_time();
	gint64 deadline;
	CocoonTtrpcCall *call;

	g_assert_null(
		cocoon_ttrpc_client_call(client, SERVICE, "Hold", NULL, 0, 150, NULL, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_DEADLINE_EXCEEDED);
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 140 * 1000);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 3 * G_USEC_PER_SEC);
	g_clear_error(&error);

	/* timeout_nano was sent: the server knows the deadline */
	wait_held(fixture, 1);
	call = take_held(fixture, 0);
	deadline = cocoon_ttrpc_call_get_deadline(call);
	/* received at some point after start (late on a loaded machine), plus 150 ms */
	g_assert_cmpint(deadline, >, start);
	g_assert_cmpint(deadline, <=, g_get_monotonic_time() + 150 * 1000);
	cocoon_ttrpc_call_return(call, NULL, 0);

	/* a late answer for the old stream does not confuse the next call */
	reply = cocoon_ttrpc_client_call(client, SERVICE, "Echo", (const guint8 *)"again", 5, 5000,
					 NULL, &error);
	g_assert_no_error(error);
	assert_bytes_str(reply, "again");
}

static void
test_cancel(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(GError) error = NULL;

	g_cancellable_cancel(cancellable);
	g_assert_null(cocoon_ttrpc_client_call(client, SERVICE, "Echo", NULL, 0, 5000, cancellable,
					       &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_CANCELLED);
}

static gpointer
cancel_later(gpointer user_data)
{
	g_usleep(50 * 1000);
	g_cancellable_cancel(user_data);
	return NULL;
}

static void
test_cancel_while_waiting(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(GError) error = NULL;
	GThread *thread = g_thread_new("cancel", cancel_later, cancellable);

	g_assert_null(
		cocoon_ttrpc_client_call(client, SERVICE, "Hold", NULL, 0, 0, cancellable, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_CANCELLED);
	g_thread_join(thread);
}

static void
test_unknown_service(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GError) error = NULL;

	g_assert_null(cocoon_ttrpc_client_call(client, "nope.Service", "Echo", NULL, 0, 5000, NULL,
					       &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNIMPLEMENTED);
	g_assert_cmpstr(error->message, ==, "service nope.Service");
	g_clear_error(&error);

	g_assert_null(
		cocoon_ttrpc_client_call(client, SERVICE, "Nope", NULL, 0, 5000, NULL, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNIMPLEMENTED);
	g_assert_cmpstr(error->message, ==, "method Nope");
}

static void
test_ok_status_bytes(Fixture *fixture, gconstpointer data)
{
	ttrpc_autofd gint fd = raw_connect(fixture);
	CocoonTtrpcFrameHeader header;
	g_autoptr(GBytes) reply = NULL;
	const guint8 expected[] = {0x0a, 0x00, 0x12, 0x02, 'h', 'i'};
	const guint8 expected_empty[] = {0x0a, 0x00};
	g_autoptr(GBytes) reply_empty = NULL;

	/* like Go's server: OK is an empty status sub-message */
	raw_send_request(fd, 1, "Echo", "hi", 0);
	g_assert_true(raw_read_frame(fd, 5000, &header, &reply));
	g_assert_cmpmem(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply), expected,
			sizeof(expected));
	raw_send_request(fd, 3, "Echo", NULL, 0);
	g_assert_true(raw_read_frame(fd, 5000, &header, &reply_empty));
	g_assert_cmpuint(header.stream_id, ==, 3);
	g_assert_cmpmem(g_bytes_get_data(reply_empty, NULL), g_bytes_get_size(reply_empty),
			expected_empty, sizeof(expected_empty));
}

static void
test_even_stream_id(Fixture *fixture, gconstpointer data)
{
	ttrpc_autofd gint fd = raw_connect(fixture);
	g_autofree gchar *message = NULL;
	g_autofree gchar *ok = NULL;

	raw_send_request(fd, 2, "Echo", "x", 0);
	message = raw_expect_response(fd, 2, COCOON_TTRPC_INVALID_ARGUMENT);
	g_assert_cmpstr(message, ==, "StreamID must be odd for client initiated streams");
	raw_send_request(fd, 0, "Echo", "x", 0);
	g_free(raw_expect_response(fd, 0, COCOON_TTRPC_INVALID_ARGUMENT));
	raw_send_request(fd, 5, "Echo", "x", 0);
	ok = raw_expect_response(fd, 5, COCOON_TTRPC_OK);
}

static void
test_garbage_request(Fixture *fixture, gconstpointer data)
{
	ttrpc_autofd gint fd = raw_connect(fixture);
	g_autofree gchar *message = NULL;
	g_autofree gchar *ok = NULL;
	const guint8 garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};

	/* a frame that is not a Request message */
	raw_send_frame(fd, 1, COCOON_TTRPC_MESSAGE_REQUEST, garbage, sizeof(garbage));
	message = raw_expect_response(fd, 1, COCOON_TTRPC_INVALID_ARGUMENT);
	g_assert_true(g_str_has_prefix(message, "unmarshal request error"));
	raw_send_request(fd, 3, "Echo", "x", 0);
	ok = raw_expect_response(fd, 3, COCOON_TTRPC_OK);
}

static void
test_garbage_bytes(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;

	/* random streams of bytes (the first byte forced small so some headers are plausible) */
	for (guint round = 0; round < 20; round++) {
		ttrpc_autofd gint fd = raw_connect(fixture);
		guint8 buf[4096];
		for (guint i = 0; i < sizeof(buf); i++)
			buf[i] = (guint8)g_test_rand_int();
		buf[0] = 0;
		buf[1] = 0;
		buf[8] = COCOON_TTRPC_MESSAGE_REQUEST;
		raw_write(fd, buf, sizeof(buf));
	}
	wait_closed(fixture, 20);
	client = connect_client(fixture);
	reply = cocoon_ttrpc_client_call(client, SERVICE, "Echo", (const guint8 *)"alive", 5, 5000,
					 NULL, &error);
	g_assert_no_error(error);
	assert_bytes_str(reply, "alive");
}

static void
test_non_request_ignored(Fixture *fixture, gconstpointer data)
{
	ttrpc_autofd gint fd = raw_connect(fixture);
	g_autofree gchar *ok = NULL;
	CocoonTtrpcFrameHeader header;
	g_autoptr(GBytes) extra = NULL;

	raw_send_frame(fd, 1, COCOON_TTRPC_MESSAGE_RESPONSE, (const guint8 *)"\x0a\x00", 2);
	raw_send_frame(fd, 3, COCOON_TTRPC_MESSAGE_DATA, NULL, 0);
	raw_send_frame(fd, 5, 0x42, (const guint8 *)"zz", 2);
	raw_send_request(fd, 7, "Echo", "x", 0);
	ok = raw_expect_response(fd, 7, COCOON_TTRPC_OK);
	g_assert_false(raw_read_frame(fd, 100, &header, &extra));
}

static void
test_oversized(Fixture *fixture, gconstpointer data)
{
	ttrpc_autofd gint fd = raw_connect(fixture);
	g_autofree gchar *message = NULL;
	g_autofree gchar *ok = NULL;
	g_autofree guint8 *junk = g_malloc0(COCOON_TTRPC_MAX_DATA_SIZE + 1);
	guint8 header[COCOON_TTRPC_HEADER_SIZE];
	CocoonTtrpcFrameHeader h = {COCOON_TTRPC_MAX_DATA_SIZE + 1, 5, COCOON_TTRPC_MESSAGE_REQUEST,
				    0};

	cocoon_ttrpc_frame_header_encode(&h, header);
	raw_write(fd, header, sizeof(header));
	message = raw_expect_response(fd, 5, COCOON_TTRPC_RESOURCE_EXHAUSTED);
	g_assert_cmpstr(message, ==,
			"message length 4194305 exceed maximum message size of 4194304");
	raw_write(fd, junk, COCOON_TTRPC_MAX_DATA_SIZE + 1);
	/* the connection is kept */
	raw_send_request(fd, 7, "Echo", "x", 0);
	ok = raw_expect_response(fd, 7, COCOON_TTRPC_OK);
}

static void
test_response_too_large(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;
	g_autofree guint8 *big = g_malloc0(COCOON_TTRPC_MAX_DATA_SIZE);

	g_assert_null(
		cocoon_ttrpc_client_call(client, SERVICE, "Big", NULL, 0, 5000, NULL, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_RESOURCE_EXHAUSTED);
	g_clear_error(&error);

	/* a request over the cap is refused locally */
	g_assert_null(cocoon_ttrpc_client_call(client, SERVICE, "Echo", big,
					       COCOON_TTRPC_MAX_DATA_SIZE, 5000, NULL, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_RESOURCE_EXHAUSTED);
	g_clear_error(&error);

	/* just under the cap goes through both ways */
	reply = cocoon_ttrpc_client_call(client, SERVICE, "Echo", big,
					 COCOON_TTRPC_MAX_DATA_SIZE - 64, 10000, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(reply), ==, COCOON_TTRPC_MAX_DATA_SIZE - 64);
}

static void
test_disconnect_mid_frame(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;
	guint8 header[COCOON_TTRPC_HEADER_SIZE];
	CocoonTtrpcFrameHeader h = {100, 1, COCOON_TTRPC_MESSAGE_REQUEST, 0};

	cocoon_ttrpc_frame_header_encode(&h, header);
	{
		ttrpc_autofd gint fd = raw_connect(fixture);
		raw_write(fd, header, sizeof(header));
		raw_write(fd, "half", 4);
	}
	{
		ttrpc_autofd gint fd = raw_connect(fixture);
		raw_write(fd, header, 4);
	}
	wait_closed(fixture, 2);
	g_assert_cmpuint(fixture->last_left, ==, 0);
	client = connect_client(fixture);
	reply = cocoon_ttrpc_client_call(client, SERVICE, "Echo", (const guint8 *)"ok", 2, 5000,
					 NULL, &error);
	g_assert_no_error(error);
	assert_bytes_str(reply, "ok");
}

static void
test_disconnect_with_pending(Fixture *fixture, gconstpointer data)
{
	CocoonTtrpcCall *call;
	{
		ttrpc_autofd gint fd = raw_connect(fixture);
		raw_send_request(fd, 1, "Hold", "x", 0);
		wait_held(fixture, 1);
	}
	wait_closed(fixture, 1);
	call = take_held(fixture, 0);
	g_assert_true(cocoon_ttrpc_call_is_cancelled(call));
	cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INTERNAL, "dropped");
}

static void
test_many_connections(Fixture *fixture, gconstpointer data)
{
	CocoonTtrpcClient *clients[5];

	for (guint i = 0; i < G_N_ELEMENTS(clients); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) reply = NULL;
		g_autofree gchar *payload = g_strdup_printf("client %u", i);
		clients[i] = connect_client(fixture);
		reply = cocoon_ttrpc_client_call(clients[i], SERVICE, "Echo",
						 (const guint8 *)payload, strlen(payload), 5000,
						 NULL, &error);
		g_assert_no_error(error);
		assert_bytes_str(reply, payload);
	}
	g_assert_cmpuint(cocoon_ttrpc_server_get_n_connections(fixture->server), ==,
			 G_N_ELEMENTS(clients));
	for (guint i = 0; i < G_N_ELEMENTS(clients); i++)
		cocoon_ttrpc_client_unref(clients[i]);
	wait_closed(fixture, G_N_ELEMENTS(clients));
	g_assert_cmpuint(fixture->last_left, ==, 0);
	g_assert_cmpuint(cocoon_ttrpc_server_get_n_connections(fixture->server), ==, 0);
}

static gboolean
shutdown_only_cb(gpointer user_data)
{
	Fixture *fixture = user_data;
	cocoon_ttrpc_server_shutdown(fixture->server);
	return G_SOURCE_REMOVE;
}

static void
test_connection_lost(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GError) error = NULL;
	Caller callers[3];
	GThread *threads[3];

	for (guint i = 0; i < G_N_ELEMENTS(callers); i++) {
		callers[i] = (Caller){client, i, NULL, NULL};
		threads[i] = g_thread_new("caller", caller_thread, &callers[i]);
	}
	wait_held(fixture, G_N_ELEMENTS(callers));
	run_on(fixture->context, shutdown_only_cb, fixture);
	for (guint i = 0; i < G_N_ELEMENTS(callers); i++) {
		g_thread_join(threads[i]);
		g_assert_null(callers[i].reply);
		g_assert_error(callers[i].error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE);
		g_clear_error(&callers[i].error);
	}
	g_assert_false(cocoon_ttrpc_client_is_connected(client));
	g_assert_null(
		cocoon_ttrpc_client_call(client, SERVICE, "Echo", NULL, 0, 5000, NULL, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE);
}

static void
test_client_close(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	Caller caller = {client, 0, NULL, NULL};
	GThread *thread = g_thread_new("caller", caller_thread, &caller);

	wait_held(fixture, 1);
	cocoon_ttrpc_client_close(client);
	g_thread_join(thread);
	g_assert_error(caller.error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE);
	g_clear_error(&caller.error);
	g_assert_false(cocoon_ttrpc_client_is_connected(client));
	wait_closed(fixture, 1);
}

static void
test_no_server(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("cocoon-ttrpc-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "none.sock", NULL);

	g_assert_null(cocoon_ttrpc_client_new_for_path(path, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_rmdir(dir);
}

typedef struct {
	GMainLoop *loop;
	GBytes *reply;
	GError *error;
	gboolean on_loop_thread;
	GThread *thread;
} AsyncResult;

static void
async_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
	AsyncResult *out = user_data;
	out->on_loop_thread = g_thread_self() == out->thread;
	out->reply = cocoon_ttrpc_client_call_finish(NULL, result, &out->error);
	g_main_loop_quit(out->loop);
}

static void
test_async(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(GMainLoop) loop = g_main_loop_new(context, FALSE);
	AsyncResult out = {loop, NULL, NULL, FALSE, g_thread_self()};
	AsyncResult timeout = {loop, NULL, NULL, FALSE, g_thread_self()};

	g_main_context_push_thread_default(context);
	cocoon_ttrpc_client_call_async(client, SERVICE, "Echo", (const guint8 *)"async", 5, 5000,
				       NULL, async_done, &out);
	g_main_loop_run(loop);
	g_assert_no_error(out.error);
	g_assert_true(out.on_loop_thread);
	assert_bytes_str(out.reply, "async");
	g_bytes_unref(out.reply);

	cocoon_ttrpc_client_call_async(client, SERVICE, "Hold", NULL, 0, 100, NULL, async_done,
				       &timeout);
	g_main_loop_run(loop);
	g_assert_error(timeout.error, COCOON_TTRPC_ERROR, COCOON_TTRPC_DEADLINE_EXCEEDED);
	g_clear_error(&timeout.error);
	g_main_context_pop_thread_default(context);
}

static void
test_async_many(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) client = connect_client(fixture);
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(GMainLoop) loop = g_main_loop_new(context, FALSE);
	AsyncResult results[16];
	const guint n = G_N_ELEMENTS(results);
	guint done = 0;

	g_main_context_push_thread_default(context);
	for (guint i = 0; i < n; i++) {
		results[i] = (AsyncResult){loop, NULL, NULL, FALSE, g_thread_self()};
		cocoon_ttrpc_client_call_async(client, SERVICE, "Hold", NULL, 0, 10000, NULL,
					       async_done, &results[i]);
	}
	wait_held(fixture, n);
	for (guint i = n; i > 0; i--) {
		g_autofree gchar *reply = g_strdup_printf("%u", i);
		cocoon_ttrpc_call_return(take_held(fixture, i - 1), (const guint8 *)reply,
					 strlen(reply));
	}
	while (done < n) {
		g_main_loop_run(loop);
		done = 0;
		for (guint i = 0; i < n; i++)
			done += results[i].reply != NULL || results[i].error != NULL;
	}
	for (guint i = 0; i < n; i++) {
		g_assert_no_error(results[i].error);
		g_assert_true(results[i].on_loop_thread);
		g_bytes_unref(results[i].reply);
	}
	g_main_context_pop_thread_default(context);
}

/* the caller drops its client while an async call is in flight: the call keeps it alive */
static void
test_async_client_unref(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(GMainLoop) loop = g_main_loop_new(context, FALSE);
	CocoonTtrpcClient *client = connect_client(fixture);
	AsyncResult out = {loop, NULL, NULL, FALSE, g_thread_self()};

	g_main_context_push_thread_default(context);
	cocoon_ttrpc_client_call_async(client, SERVICE, "Hold", NULL, 0, 5000, NULL, async_done,
				       &out);
	cocoon_ttrpc_client_unref(client);
	wait_held(fixture, 1);
	cocoon_ttrpc_call_return(take_held(fixture, 0), (const guint8 *)"kept", 4);
	g_main_loop_run(loop);
	g_assert_no_error(out.error);
	assert_bytes_str(out.reply, "kept");
	g_bytes_unref(out.reply);
	/* let the task go wherever its last reference goes */
	while (g_main_context_iteration(context, FALSE))
		;
	g_main_context_pop_thread_default(context);
	wait_closed(fixture, 1);
}

typedef struct {
	Fixture *fixture;
	CocoonTtrpcClient *shared;
	guint ok;
	guint failed;
} StressWorker;

static gpointer
stress_thread(gpointer user_data)
{
	StressWorker *worker = user_data;

	for (guint i = 0; i < 150; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) reply = NULL;
		g_autoptr(CocoonTtrpcClient) own = NULL;
		CocoonTtrpcClient *client = worker->shared;
		g_autofree gchar *payload = g_strdup_printf("%p-%u", (void *)worker, i);

		/* now and then a connection of its own that goes away right after */
		if (i % 25 == 0) {
			own = connect_client(worker->fixture);
			client = own;
		}
		/* every tenth call is a plain Echo with time to spare, so some always succeed */
		if (i % 10 == 0)
			reply = cocoon_ttrpc_client_call(client, SERVICE, "Echo",
							 (const guint8 *)payload, strlen(payload),
							 20000, NULL, &error);
		else
			reply = cocoon_ttrpc_client_call(client, SERVICE, "Random",
							 (const guint8 *)payload, strlen(payload),
							 g_random_int_range(1, 6), NULL, &error);
		if (reply != NULL) {
			assert_bytes_str(reply, payload);
			worker->ok++;
		} else {
			g_assert_true(
				g_error_matches(error, COCOON_TTRPC_ERROR,
						COCOON_TTRPC_DEADLINE_EXCEEDED) ||
				g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_ABORTED));
			worker->failed++;
		}
	}
	return NULL;
}

/* many threads, short deadlines both sides, answers from everywhere, connections come and go */
static void
test_stress(Fixture *fixture, gconstpointer data)
{
	g_autoptr(CocoonTtrpcClient) shared = connect_client(fixture);
	StressWorker workers[8];
	GThread *threads[G_N_ELEMENTS(workers)];
	guint ok = 0;

	for (guint i = 0; i < G_N_ELEMENTS(workers); i++) {
		workers[i] = (StressWorker){fixture, shared, 0, 0};
		threads[i] = g_thread_new("stress", stress_thread, &workers[i]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(workers); i++) {
		g_thread_join(threads[i]);
		ok += workers[i].ok;
	}
	g_test_message("stress: %u of %u calls answered in time", ok,
		       (guint)G_N_ELEMENTS(workers) * 150);
	g_assert_cmpuint(ok, >, 0);
	g_assert_true(cocoon_ttrpc_client_is_connected(shared));
}

static void
test_listen_path(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonTtrpcServer) other = cocoon_ttrpc_server_new();
	g_autofree gchar *stale = g_build_filename(fixture->dir, "stale.sock", NULL);
	g_autofree gchar *file = g_build_filename(fixture->dir, "file", NULL);
	struct stat st;

	g_assert_cmpint(stat(fixture->path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	/* a live socket is not stolen */
	g_assert_false(cocoon_ttrpc_server_listen_path(other, fixture->path, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
	g_clear_error(&error);

	/* a stale one is replaced */
	{
		struct sockaddr_un addr = {.sun_family = AF_UNIX};
		ttrpc_autofd gint fd = socket(AF_UNIX, SOCK_STREAM, 0);
		g_strlcpy(addr.sun_path, stale, sizeof(addr.sun_path));
		g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	}
	g_assert_true(cocoon_ttrpc_server_listen_path(other, stale, &error));
	g_assert_no_error(error);

	/* a regular file is not removed */
	g_assert_true(g_file_set_contents(file, "x", 1, NULL));
	g_assert_false(cocoon_ttrpc_server_listen_path(other, file, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
	g_unlink(file);
	cocoon_ttrpc_server_shutdown(other);
	g_unlink(stale);
}

/* add_connection_fd on a socketpair and on a pty (a character device, like a virtio port) */
static void
test_connection_fd(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint pair[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
	g_assert_true(cocoon_ttrpc_server_add_connection_fd(fixture->server, pair[0], &error));
	g_assert_no_error(error);
	{
		g_autoptr(CocoonTtrpcClient) client =
			cocoon_ttrpc_client_new_for_fd(pair[1], &error);
		g_autoptr(GBytes) reply = NULL;
		g_assert_no_error(error);
		reply = cocoon_ttrpc_client_call(client, SERVICE, "Echo", (const guint8 *)"pair", 4,
						 5000, NULL, &error);
		g_assert_no_error(error);
		assert_bytes_str(reply, "pair");
	}
	wait_closed(fixture, 1);
}

static void
test_listen_fd(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_build_filename(fixture->dir, "fd.sock", NULL);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	gint fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
	g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	g_assert_cmpint(listen(fd, 16), ==, 0);
	g_assert_true(cocoon_ttrpc_server_listen_fd(fixture->server, fd, &error));
	g_assert_no_error(error);
	for (guint i = 0; i < 3; i++) {
		g_autoptr(CocoonTtrpcClient) client =
			cocoon_ttrpc_client_new_for_path(path, &error);
		g_autoptr(GBytes) reply = NULL;
		g_assert_no_error(error);
		reply = cocoon_ttrpc_client_call(client, SERVICE, "Echo", (const guint8 *)"fd", 2,
						 5000, NULL, &error);
		g_assert_no_error(error);
		assert_bytes_str(reply, "fd");
	}
	g_unlink(path);
}

static void
test_char_device(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	struct termios tio;
	gint master = -1;
	gint slave = -1;

	g_assert_cmpint(openpty(&master, &slave, NULL, NULL, NULL), ==, 0);
	/* raw mode on both ends: no echo, no line editing */
	g_assert_cmpint(tcgetattr(slave, &tio), ==, 0);
	cfmakeraw(&tio);
	g_assert_cmpint(tcsetattr(slave, TCSANOW, &tio), ==, 0);
	g_assert_cmpint(tcgetattr(master, &tio), ==, 0);
	cfmakeraw(&tio);
	g_assert_cmpint(tcsetattr(master, TCSANOW, &tio), ==, 0);

	g_assert_true(cocoon_ttrpc_server_add_connection_fd(fixture->server, master, &error));
	g_assert_no_error(error);
	{
		g_autoptr(CocoonTtrpcClient) client = cocoon_ttrpc_client_new_for_fd(slave, &error);
		g_assert_no_error(error);
		for (guint i = 0; i < 20; i++) {
			g_autoptr(GBytes) reply = NULL;
			g_autofree gchar *payload = g_strdup_printf("tty %u", i);
			reply = cocoon_ttrpc_client_call(client, SERVICE, "Echo",
							 (const guint8 *)payload, strlen(payload),
							 5000, NULL, &error);
			g_assert_no_error(error);
			assert_bytes_str(reply, payload);
		}
	}
	/* the other side went away: EIO/EOF ends the connection and the caller is told */
	wait_closed(fixture, 1);
	g_assert_cmpuint(cocoon_ttrpc_server_get_n_connections(fixture->server), ==, 0);
}

/*
 * first thing in a child forked from this threaded test: what the other threads hold is reachable
 * only from their stacks, which the child does not have, so valgrind's leak check at the child's
 * _exit() would call it lost and turn the exit status into its --error-exitcode. The parent
 * process is leak-checked as usual.
 */
static void
forked_child_without_leak_check(void)
{
#ifdef VALGRIND_CLO_CHANGE
	VALGRIND_CLO_CHANGE("--leak-check=no");
#endif
}

static void
test_peer_credentials(Fixture *fixture, gconstpointer data)
{
	pid_t pid;
	gint status = 0;

	if (getuid() != 0) {
		g_test_skip("needs root to connect as another user");
		return;
	}
	/* open the file mode so only SO_PEERCRED stands in the way */
	g_assert_cmpint(chmod(fixture->dir, 0755), ==, 0);
	g_assert_cmpint(chmod(fixture->path, 0666), ==, 0);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		struct sockaddr_un addr = {.sun_family = AF_UNIX};
		guint8 byte;
		gint fd;
		forked_child_without_leak_check();
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		strncpy(addr.sun_path, fixture->path, sizeof(addr.sun_path) - 1);
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			_exit(4);
		/* the server must close without answering */
		if (send(fd, "\0\0\0\0\0\0\0\1\1\0", 10, MSG_NOSIGNAL) < 0)
			_exit(0);
		_exit(read(fd, &byte, 1) <= 0 ? 0 : 3);
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

static void
test_peer_credentials_other_user(void)
{
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(CocoonTtrpcServer) server = NULL;
	g_autoptr(GError) error = NULL;
	gint pair[2];
	pid_t pid;
	gint status = 0;

	if (getuid() != 0) {
		g_test_skip("needs root to connect as another user");
		return;
	}
	g_main_context_push_thread_default(context);
	server = cocoon_ttrpc_server_new();
	g_main_context_pop_thread_default(context);

	/* a socketpair made by a child that switched user carries its creds */
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
	close(pair[1]);
	{
		gint sv[2];
		gint transport[2];
		g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, transport), ==, 0);
		pid = fork();
		g_assert_cmpint(pid, >=, 0);
		if (pid == 0) {
			union {
				struct cmsghdr align;
				gchar buf[CMSG_SPACE(sizeof(gint))];
			} control = {0};
			struct msghdr msg = {0};
			struct iovec iov = {.iov_base = (gchar *)"x", .iov_len = 1};
			struct cmsghdr *cmsg;
			forked_child_without_leak_check();
			if (setresgid(65534, 65534, 65534) < 0 ||
			    setresuid(65534, 65534, 65534) < 0)
				_exit(2);
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
				_exit(3);
			msg.msg_iov = &iov;
			msg.msg_iovlen = 1;
			msg.msg_control = control.buf;
			msg.msg_controllen = sizeof(control.buf);
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(gint));
			memcpy(CMSG_DATA(cmsg), &sv[0], sizeof(gint));
			_exit(sendmsg(transport[1], &msg, 0) == 1 ? 0 : 4);
		}
		g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), ==, 0);
		{
			union {
				struct cmsghdr align;
				gchar buf[CMSG_SPACE(sizeof(gint))];
			} control = {0};
			gchar byte;
			struct iovec iov = {.iov_base = &byte, .iov_len = 1};
			struct msghdr msg = {0};
			gint received = -1;
			msg.msg_iov = &iov;
			msg.msg_iovlen = 1;
			msg.msg_control = control.buf;
			msg.msg_controllen = sizeof(control.buf);
			g_assert_cmpint(recvmsg(transport[0], &msg, 0), ==, 1);
			memcpy(&received, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(gint));
			close(pair[0]);
			pair[0] = received;
		}
		close(transport[0]);
		close(transport[1]);
	}
	g_assert_false(cocoon_ttrpc_server_add_connection_fd(server, pair[0], &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
	g_clear_error(&error);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("/ttrpc/rpc/round-trip", test_round_trip);
	ADD("/ttrpc/rpc/error-status", test_error_status);
	ADD("/ttrpc/rpc/call-message", test_call_message);
	ADD("/ttrpc/rpc/concurrent", test_concurrent);
	ADD("/ttrpc/rpc/handler-thread", test_handler_thread);
	ADD("/ttrpc/rpc/parked-call", test_handler_blocks_not_others);
	ADD("/ttrpc/rpc/server-deadline", test_server_deadline);
	ADD("/ttrpc/rpc/client-deadline", test_client_deadline);
	ADD("/ttrpc/rpc/cancel", test_cancel);
	ADD("/ttrpc/rpc/cancel-while-waiting", test_cancel_while_waiting);
	ADD("/ttrpc/rpc/unknown-service", test_unknown_service);
	ADD("/ttrpc/rpc/ok-status-bytes", test_ok_status_bytes);
	ADD("/ttrpc/rpc/even-stream-id", test_even_stream_id);
	ADD("/ttrpc/rpc/garbage-request", test_garbage_request);
	ADD("/ttrpc/rpc/garbage-bytes", test_garbage_bytes);
	ADD("/ttrpc/rpc/non-request-ignored", test_non_request_ignored);
	ADD("/ttrpc/rpc/oversized", test_oversized);
	ADD("/ttrpc/rpc/response-too-large", test_response_too_large);
	ADD("/ttrpc/rpc/disconnect-mid-frame", test_disconnect_mid_frame);
	ADD("/ttrpc/rpc/disconnect-with-pending", test_disconnect_with_pending);
	ADD("/ttrpc/rpc/many-connections", test_many_connections);
	ADD("/ttrpc/rpc/connection-lost", test_connection_lost);
	ADD("/ttrpc/rpc/client-close", test_client_close);
	ADD("/ttrpc/rpc/async", test_async);
	ADD("/ttrpc/rpc/async-many", test_async_many);
	ADD("/ttrpc/rpc/async-client-unref", test_async_client_unref);
	ADD("/ttrpc/rpc/stress", test_stress);
	ADD("/ttrpc/rpc/listen-path", test_listen_path);
	ADD("/ttrpc/rpc/connection-fd", test_connection_fd);
	ADD("/ttrpc/rpc/listen-fd", test_listen_fd);
	ADD("/ttrpc/rpc/char-device", test_char_device);
	ADD("/ttrpc/rpc/peer-credentials", test_peer_credentials);
#undef ADD
	g_test_add_func("/ttrpc/rpc/no-server", test_no_server);
	g_test_add_func("/ttrpc/rpc/peer-credentials-fd", test_peer_credentials_other_user);
	return g_test_run();
}
