/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-ttrpc"

#include "config.h"

#include "cocoon-ttrpc-server.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "cocoon-ttrpc-frame.h"
#include "ttrpc-fd.h"
#include "ttrpc.pb-c.h"

/*
 * Threading: everything that reads sockets, accepts, dispatches and closes runs on the server
 * context. Handlers run on their own contexts and finish calls from any thread: a response is
 * written under the connection lock with a non-blocking write, and what does not fit is queued
 * and flushed by a G_IO_OUT source on the server context, so whole frames never interleave.
 *
 * Lifetime: the server does not keep itself alive through its connections. Connections and
 * listeners point back to it weakly (server_weak_lock); the last unref shuts it down.
 */

#define READ_CHUNK_SIZE (64 * 1024)

typedef struct _Connection Connection;

typedef struct {
	CocoonTtrpcHandler handler;
	gpointer user_data;
	GMainContext *context;
} Registration;

typedef struct {
	CocoonTtrpcServer *server; /* weak, under server_weak_lock */
	gint fd;
	GSource *source;
} Listener;

struct _CocoonTtrpcServer {
	gatomicrefcount ref;
	GMainContext *context;
	GMutex lock;
	/* "service" -> ("method" -> Registration) */
	GHashTable *services;
	gboolean require_same_user;
	GPtrArray *listeners;
	GPtrArray *connections; /* strong refs */
	CocoonTtrpcConnectionClosedFunc closed_func;
	gpointer closed_data;
	gboolean shut_down;
};

struct _Connection {
	gatomicrefcount ref;
	CocoonTtrpcServer *server; /* weak, under server_weak_lock */
	GMainContext *context;	   /* the server context */
	gboolean is_socket;
	gint peer_pid;
	/* read side, server context only */
	CocoonTtrpcFrameDecoder *decoder;
	GSource *read_source;
	/* everything below under lock */
	GMutex lock;
	gint fd;
	gboolean closed;
	gboolean broken;  /* a write failed: drop further output */
	GQueue out;	  /* GBytes frames */
	gsize out_offset; /* bytes of the head frame already written */
	GSource *write_source;
	GHashTable *calls; /* set of pending CocoonTtrpcCall, no refs (see call_finish) */
};

enum {
	CALL_PENDING = 0,
	CALL_ANSWERED = 1,
	CALL_CANCELLED = 2,
};

struct _CocoonTtrpcCall {
	gatomicrefcount ref;
	gint state; /* atomic, CALL_* */
	Connection *connection;
	guint32 stream_id;
	Ttrpc__Request *request;
	gint64 deadline;
	GSource *deadline_source;
	CocoonTtrpcHandler handler;
	gpointer user_data;
	gboolean invoked;
};

static GMutex server_weak_lock;

static void connection_close(Connection *connection);

/* connection */

static Connection *
connection_ref(Connection *connection)
{
	g_atomic_ref_count_inc(&connection->ref);
	return connection;
}

static void
connection_unref(Connection *connection)
{
	if (connection == NULL || !g_atomic_ref_count_dec(&connection->ref))
		return;
	/* closed before the last reference goes: every path that opens one closes it */
	if (connection->fd >= 0)
		close(connection->fd);
	g_queue_clear_full(&connection->out, (GDestroyNotify)g_bytes_unref);
	g_clear_pointer(&connection->read_source, g_source_unref);
	g_clear_pointer(&connection->write_source, g_source_unref);
	g_hash_table_unref(connection->calls);
	cocoon_ttrpc_frame_decoder_free(connection->decoder);
	g_main_context_unref(connection->context);
	g_mutex_clear(&connection->lock);
	g_free(connection);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Connection, connection_unref)

static CocoonTtrpcServer *
server_from_weak(CocoonTtrpcServer **weak)
{
	CocoonTtrpcServer *server;
	g_mutex_lock(&server_weak_lock);
	server = *weak;
	if (server != NULL)
		g_atomic_ref_count_inc(&server->ref);
	g_mutex_unlock(&server_weak_lock);
	return server;
}

/* write what the socket takes now; under connection->lock. FALSE on a hard error */
static gboolean
connection_flush_locked(Connection *connection)
{
	while (!g_queue_is_empty(&connection->out)) {
		GBytes *head = g_queue_peek_head(&connection->out);
		gsize size;
		const guint8 *data = g_bytes_get_data(head, &size);
		gssize n;

		if (connection->is_socket)
			n = send(connection->fd, data + connection->out_offset,
				 size - connection->out_offset, MSG_NOSIGNAL);
		else
			n = write(connection->fd, data + connection->out_offset,
				  size - connection->out_offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return TRUE;
			g_debug("write to connection fd %d failed: %s", connection->fd,
				g_strerror(errno));
			return FALSE;
		}
		connection->out_offset += (gsize)n;
		if (connection->out_offset == size) {
			g_bytes_unref(g_queue_pop_head(&connection->out));
			connection->out_offset = 0;
		}
	}
	return TRUE;
}

static void
connection_drop_output_locked(Connection *connection)
{
	connection->broken = TRUE;
	g_queue_clear_full(&connection->out, (GDestroyNotify)g_bytes_unref);
	g_queue_init(&connection->out);
	connection->out_offset = 0;
}

static gboolean
connection_write_ready_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	Connection *connection = user_data;
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&connection->lock);

	if (connection->closed || connection->broken) {
		g_clear_pointer(&connection->write_source, g_source_unref);
		return G_SOURCE_REMOVE;
	}
	if (!connection_flush_locked(connection))
		connection_drop_output_locked(connection);
	if (g_queue_is_empty(&connection->out)) {
		g_clear_pointer(&connection->write_source, g_source_unref);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

/* queue a whole frame; any thread */
static void
connection_send(Connection *connection, GBytes *frame)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&connection->lock);
	gboolean was_empty;

	if (connection->closed || connection->broken)
		return;
	was_empty = g_queue_is_empty(&connection->out);
	g_queue_push_tail(&connection->out, g_bytes_ref(frame));
	if (!was_empty)
		return;
	if (!connection_flush_locked(connection)) {
		connection_drop_output_locked(connection);
		return;
	}
	if (!g_queue_is_empty(&connection->out) && connection->write_source == NULL) {
		connection->write_source = g_unix_fd_source_new(connection->fd, G_IO_OUT);
		g_source_set_callback(connection->write_source,
				      (GSourceFunc)(void (*)(void))connection_write_ready_cb,
				      connection_ref(connection), (GDestroyNotify)connection_unref);
		g_source_attach(connection->write_source, connection->context);
	}
}

static GBytes *
response_frame_new(guint32 stream_id, CocoonTtrpcCode code, const gchar *message,
		   const guint8 *payload, gsize length)
{
	Ttrpc__Status status = TTRPC__STATUS__INIT;
	Ttrpc__Response response = TTRPC__RESPONSE__INIT;
	g_autofree guint8 *packed = NULL;
	g_autoptr(GError) error = NULL;
	gsize size;
	GBytes *frame;

	status.code = code;
	status.message = (gchar *)(message != NULL ? message : "");
	/* Go's server always sets status; for OK it goes out as an empty sub-message (0a 00) */
	response.status = &status;
	if (code == COCOON_TTRPC_OK && length > 0) {
		response.payload.data = (guint8 *)payload;
		response.payload.len = length;
	}
	size = ttrpc__response__get_packed_size(&response);
	if (size <= COCOON_TTRPC_MAX_DATA_SIZE) {
		packed = g_malloc(MAX(size, 1));
		ttrpc__response__pack(&response, packed);
	}
	frame = cocoon_ttrpc_frame_encode(stream_id, COCOON_TTRPC_MESSAGE_RESPONSE, 0, packed, size,
					  &error);
	if (frame != NULL)
		return frame;

	/* never send over 4 MiB (containerd 1.6 would panic): answer with the status instead */
	return response_frame_new(stream_id, COCOON_TTRPC_RESOURCE_EXHAUSTED, error->message, NULL,
				  0);
}

static void
connection_respond(Connection *connection, guint32 stream_id, CocoonTtrpcCode code,
		   const gchar *message, const guint8 *payload, gsize length)
{
	g_autoptr(GBytes) frame = response_frame_new(stream_id, code, message, payload, length);
	connection_send(connection, frame);
}

/* call */

static CocoonTtrpcCall *
call_ref(CocoonTtrpcCall *call)
{
	g_atomic_ref_count_inc(&call->ref);
	return call;
}

static void
call_unref(CocoonTtrpcCall *call)
{
	if (call == NULL || !g_atomic_ref_count_dec(&call->ref))
		return;
	if (call->deadline_source != NULL) {
		g_source_destroy(call->deadline_source);
		g_source_unref(call->deadline_source);
	}
	if (call->request != NULL)
		ttrpc__request__free_unpacked(call->request, NULL);
	connection_unref(call->connection);
	g_free(call);
}

/*
 * take the call out of its connection once it left CALL_PENDING; only the thread that won the
 * state change does this, so the set needs no references of its own
 */
static void
call_detach(CocoonTtrpcCall *call)
{
	Connection *connection = call->connection;
	{
		g_autoptr(GMutexLocker) locker G_GNUC_UNUSED =
			g_mutex_locker_new(&connection->lock);
		g_hash_table_remove(connection->calls, call);
	}
	/* the deadline source holds a reference; destroying it drops that */
	if (call->deadline_source != NULL)
		g_source_destroy(call->deadline_source);
}

static gboolean
call_finish(CocoonTtrpcCall *call, CocoonTtrpcCode code, const gchar *message,
	    const guint8 *payload, gsize length)
{
	if (!g_atomic_int_compare_and_exchange(&call->state, CALL_PENDING, CALL_ANSWERED))
		return FALSE;
	call_detach(call);
	connection_respond(call->connection, call->stream_id, code, message, payload, length);
	return TRUE;
}

static gboolean
call_deadline_cb(gpointer user_data)
{
	CocoonTtrpcCall *call = user_data;

	if (g_atomic_int_compare_and_exchange(&call->state, CALL_PENDING, CALL_CANCELLED)) {
		g_autofree gchar *message =
			g_strdup_printf("%s/%s: context deadline exceeded", call->request->service,
					call->request->method);
		g_mutex_lock(&call->connection->lock);
		g_hash_table_remove(call->connection->calls, call);
		g_mutex_unlock(&call->connection->lock);
		connection_respond(call->connection, call->stream_id,
				   COCOON_TTRPC_DEADLINE_EXCEEDED, message, NULL, 0);
	}
	return G_SOURCE_REMOVE;
}

static gboolean
deadline_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	if (callback == NULL)
		return G_SOURCE_REMOVE;
	return callback(user_data);
}

static GSourceFuncs deadline_source_funcs = {
	.dispatch = deadline_source_dispatch,
};

/* the invoke source holds one reference of its own and hands the call's first one to the handler */
static gboolean
call_invoke_cb(gpointer user_data)
{
	CocoonTtrpcCall *call = user_data;
	call->invoked = TRUE;
	/* a call whose deadline passed or whose connection closed while queued is not run */
	if (g_atomic_int_get(&call->state) != CALL_PENDING) {
		call_unref(call);
		return G_SOURCE_REMOVE;
	}
	call->handler(call, call->user_data);
	return G_SOURCE_REMOVE;
}

static void
call_invoke_destroy(gpointer user_data)
{
	CocoonTtrpcCall *call = user_data;
	/* the handler context went away before running it: answer instead of leaking */
	if (!call->invoked) {
		call->invoked = TRUE;
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_UNAVAILABLE,
					       "handler context is gone: unavailable");
	}
	call_unref(call);
}

/* connection reading and dispatch (server context) */

static void
connection_dispatch_request(Connection *connection, CocoonTtrpcServer *server,
			    const CocoonTtrpcFrame *frame)
{
	guint32 stream_id = frame->header.stream_id;
	Ttrpc__Request *request;
	CocoonTtrpcCall *call;
	Registration registration = {0};
	GHashTable *methods;
	gsize size = 0;
	const guint8 *data = g_bytes_get_data(frame->data, &size);

	request = ttrpc__request__unpack(NULL, size, data);
	if (request == NULL) {
		connection_respond(connection, stream_id, COCOON_TTRPC_INVALID_ARGUMENT,
				   "unmarshal request error: invalid protobuf", NULL, 0);
		return;
	}
	if (stream_id % 2 != 1) {
		ttrpc__request__free_unpacked(request, NULL);
		connection_respond(connection, stream_id, COCOON_TTRPC_INVALID_ARGUMENT,
				   "StreamID must be odd for client initiated streams", NULL, 0);
		return;
	}

	{
		g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&server->lock);
		methods = g_hash_table_lookup(server->services, request->service);
		if (methods != NULL) {
			Registration *found = g_hash_table_lookup(methods, request->method);
			if (found != NULL)
				registration = *found;
		}
		if (registration.context != NULL)
			g_main_context_ref(registration.context);
	}
	if (methods == NULL || registration.handler == NULL) {
		g_autofree gchar *message =
			g_strdup_printf("%s %s", methods == NULL ? "service" : "method",
					methods == NULL ? request->service : request->method);
		ttrpc__request__free_unpacked(request, NULL);
		connection_respond(connection, stream_id, COCOON_TTRPC_UNIMPLEMENTED, message, NULL,
				   0);
		return;
	}

	call = g_new0(CocoonTtrpcCall, 1);
	g_atomic_ref_count_init(&call->ref);
	call->state = CALL_PENDING;
	call->connection = connection_ref(connection);
	call->stream_id = stream_id;
	call->request = request;
	call->handler = registration.handler;
	call->user_data = registration.user_data;
	{
		g_autoptr(GMutexLocker) locker G_GNUC_UNUSED =
			g_mutex_locker_new(&connection->lock);
		if (connection->closed) {
			g_main_context_unref(registration.context);
			call_unref(call);
			return;
		}
		g_hash_table_add(connection->calls, call);
	}
	if (request->timeout_nano > 0) {
		gint64 now = g_get_monotonic_time();
		gint64 timeout_us = request->timeout_nano / 1000;
		/* a deadline that overflows is no deadline */
		if (timeout_us < G_MAXINT64 - now) {
			call->deadline = now + MAX(timeout_us, 1);
			call->deadline_source =
				g_source_new(&deadline_source_funcs, sizeof(GSource));
			g_source_set_name(call->deadline_source, "cocoon-ttrpc-deadline");
			g_source_set_ready_time(call->deadline_source, call->deadline);
			g_source_set_callback(call->deadline_source, call_deadline_cb,
					      call_ref(call), (GDestroyNotify)call_unref);
			g_source_attach(call->deadline_source, connection->context);
		}
	}
	g_main_context_invoke_full(registration.context, G_PRIORITY_DEFAULT, call_invoke_cb,
				   call_ref(call), call_invoke_destroy);
	g_main_context_unref(registration.context);
}

static void
connection_handle_frame(Connection *connection, CocoonTtrpcServer *server,
			const CocoonTtrpcFrame *frame)
{
	if (frame->oversized) {
		g_autofree gchar *message =
			g_strdup_printf("message length %u exceed maximum message size of %u",
					frame->header.length, COCOON_TTRPC_MAX_DATA_SIZE);
		connection_respond(connection, frame->header.stream_id,
				   COCOON_TTRPC_RESOURCE_EXHAUSTED, message, NULL, 0);
		return;
	}
	/* other types are ignored for future compatibility, like Go's server */
	if (frame->header.type != COCOON_TTRPC_MESSAGE_REQUEST)
		return;
	connection_dispatch_request(connection, server, frame);
}

static gboolean
connection_read_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	g_autoptr(Connection) connection = connection_ref(user_data);
	g_autoptr(CocoonTtrpcServer) server = server_from_weak(&connection->server);
	g_autofree guint8 *buf = NULL;
	gssize n;

	if (server == NULL)
		return G_SOURCE_REMOVE;
	buf = g_malloc(READ_CHUNK_SIZE);
	{
		g_autoptr(GMutexLocker) locker G_GNUC_UNUSED =
			g_mutex_locker_new(&connection->lock);
		if (connection->closed)
			return G_SOURCE_REMOVE;
		do
			n = read(connection->fd, buf, READ_CHUNK_SIZE);
		while (n < 0 && errno == EINTR);
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return G_SOURCE_CONTINUE;
	if (n <= 0) {
		gsize pending = cocoon_ttrpc_frame_decoder_pending(connection->decoder);
		if (n < 0)
			g_debug("connection fd %d: read failed: %s", fd, g_strerror(errno));
		else if (pending > 0)
			g_debug("connection fd %d: peer closed mid-frame (%" G_GSIZE_FORMAT
				" bytes pending)",
				fd, pending);
		connection_close(connection);
		return G_SOURCE_REMOVE;
	}

	cocoon_ttrpc_frame_decoder_feed(connection->decoder, buf, (gsize)n);
	for (;;) {
		g_auto(CocoonTtrpcFrame) frame = {0};
		if (!cocoon_ttrpc_frame_decoder_next(connection->decoder, &frame))
			break;
		connection_handle_frame(connection, server, &frame);
		/* a handler run in place (same context) may have shut everything down */
		if (g_atomic_int_get(&connection->closed))
			return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

/* detach from the server and cancel pending calls; server context */
static void
connection_close(Connection *connection)
{
	g_autoptr(GPtrArray) calls = g_ptr_array_new();
	g_autoptr(CocoonTtrpcServer) server = NULL;
	CocoonTtrpcConnectionClosedFunc closed_func = NULL;
	gpointer closed_data = NULL;
	guint left = 0;
	gboolean removed = FALSE;

	{
		g_autoptr(GMutexLocker) locker G_GNUC_UNUSED =
			g_mutex_locker_new(&connection->lock);
		GHashTableIter iter;
		gpointer key;

		if (connection->closed)
			return;
		g_atomic_int_set(&connection->closed, TRUE);
		if (connection->read_source != NULL)
			g_source_destroy(connection->read_source);
		if (connection->write_source != NULL)
			g_source_destroy(connection->write_source);
		g_hash_table_iter_init(&iter, connection->calls);
		while (g_hash_table_iter_next(&iter, &key, NULL)) {
			CocoonTtrpcCall *call = key;
			if (g_atomic_int_compare_and_exchange(&call->state, CALL_PENDING,
							      CALL_CANCELLED))
				g_ptr_array_add(calls, call_ref(call));
		}
		g_hash_table_remove_all(connection->calls);
		g_queue_clear_full(&connection->out, (GDestroyNotify)g_bytes_unref);
		g_queue_init(&connection->out);
		if (connection->fd >= 0) {
			close(connection->fd);
			connection->fd = -1;
		}
	}
	for (guint i = 0; i < calls->len; i++) {
		CocoonTtrpcCall *call = g_ptr_array_index(calls, i);
		if (call->deadline_source != NULL)
			g_source_destroy(call->deadline_source);
		call_unref(call);
	}

	server = server_from_weak(&connection->server);
	if (server != NULL) {
		g_mutex_lock(&server->lock);
		removed = g_ptr_array_remove_fast(server->connections, connection);
		left = server->connections->len;
		closed_func = server->closed_func;
		closed_data = server->closed_data;
		g_mutex_unlock(&server->lock);
		g_mutex_lock(&server_weak_lock);
		connection->server = NULL;
		g_mutex_unlock(&server_weak_lock);
	}
	/* keep the connection alive through the callback when that was the list's reference */
	connection_ref(connection);
	if (removed)
		connection_unref(connection);
	if (removed && closed_func != NULL)
		closed_func(server, left, closed_data);
	connection_unref(connection);
}

static gboolean
peer_credentials_ok(CocoonTtrpcServer *server, gint fd, gint *ret_pid, GError **error)
{
	struct ucred cred = {0};
	socklen_t len = sizeof(cred);
	gboolean require;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "SO_PEERCRED: %s",
			    g_strerror(errno));
		return FALSE;
	}
	g_mutex_lock(&server->lock);
	require = server->require_same_user;
	g_mutex_unlock(&server->lock);
	if (require && (cred.uid != getuid() || cred.gid != getgid())) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "peer uid %u gid %u (pid %d) is not uid %u gid %u", (guint)cred.uid,
			    (guint)cred.gid, (gint)cred.pid, (guint)getuid(), (guint)getgid());
		return FALSE;
	}
	*ret_pid = cred.pid;
	return TRUE;
}

static gboolean
fd_set_nonblocking(gint fd, GError **error)
{
	gint flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "cannot make fd %d non-blocking: %s", fd, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean
fd_is_unix_socket(gint fd)
{
	struct sockaddr_storage addr = {0};
	socklen_t len = sizeof(addr);
	if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		return FALSE;
	return addr.ss_family == AF_UNIX;
}

/* takes fd in every case */
static gboolean
server_add_connection(CocoonTtrpcServer *server, gint fd, GError **error)
{
	ttrpc_autofd gint owned_fd = fd;
	Connection *connection;
	struct stat st;
	gboolean is_socket;
	gint pid = 0;

	if (fstat(owned_fd, &st) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "fstat fd %d: %s",
			    owned_fd, g_strerror(errno));
		return FALSE;
	}
	is_socket = S_ISSOCK(st.st_mode);
	/* only unix sockets carry credentials; a virtio-serial port or a vsock has none */
	if (is_socket && fd_is_unix_socket(owned_fd) &&
	    !peer_credentials_ok(server, owned_fd, &pid, error))
		return FALSE;
	if (!fd_set_nonblocking(owned_fd, error))
		return FALSE;
	(void)fcntl(owned_fd, F_SETFD, FD_CLOEXEC);

	connection = g_new0(Connection, 1);
	g_atomic_ref_count_init(&connection->ref);
	g_mutex_init(&connection->lock);
	connection->server = server;
	connection->context = g_main_context_ref(server->context);
	connection->is_socket = is_socket;
	connection->peer_pid = pid;
	connection->decoder = cocoon_ttrpc_frame_decoder_new();
	connection->fd = g_steal_fd(&owned_fd);
	g_queue_init(&connection->out);
	connection->calls = g_hash_table_new(NULL, NULL);

	g_mutex_lock(&server->lock);
	if (server->shut_down) {
		g_mutex_unlock(&server->lock);
		connection->server = NULL;
		connection_close(connection);
		connection_unref(connection);
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CLOSED, "server is shut down");
		return FALSE;
	}
	g_ptr_array_add(server->connections, connection); /* takes the initial reference */
	g_mutex_unlock(&server->lock);

	/* a shutdown from another thread may have closed it already */
	g_mutex_lock(&connection->lock);
	if (!connection->closed) {
		connection->read_source = g_unix_fd_source_new(connection->fd, G_IO_IN);
		g_source_set_name(connection->read_source, "cocoon-ttrpc-connection");
		g_source_set_callback(connection->read_source,
				      (GSourceFunc)(void (*)(void))connection_read_cb,
				      connection_ref(connection), (GDestroyNotify)connection_unref);
		g_source_attach(connection->read_source, connection->context);
	}
	g_mutex_unlock(&connection->lock);
	return TRUE;
}

/* listening */

static void
listener_free(Listener *listener)
{
	if (listener->source != NULL) {
		g_source_destroy(listener->source);
		g_source_unref(listener->source);
	}
	if (listener->fd >= 0)
		close(listener->fd);
	g_free(listener);
}

static gboolean
listener_accept_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	Listener *listener = user_data;
	g_autoptr(CocoonTtrpcServer) server = server_from_weak(&listener->server);
	g_autoptr(GError) error = NULL;
	gint client_fd;

	if (server == NULL)
		return G_SOURCE_REMOVE;
	client_fd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (client_fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			g_warning("accept on fd %d: %s", fd, g_strerror(errno));
		return G_SOURCE_CONTINUE;
	}
	if (!server_add_connection(server, client_fd, &error))
		g_message("refused a ttrpc connection: %s", error->message);
	return G_SOURCE_CONTINUE;
}

/**
 * cocoon_ttrpc_server_listen_fd:
 *
 * takes over an already listening socket fd (the server owns it, also on failure)
 */
gboolean
cocoon_ttrpc_server_listen_fd(CocoonTtrpcServer *server, gint fd, GError **error)
{
	ttrpc_autofd gint owned_fd = fd;
	Listener *listener;

	g_return_val_if_fail(server != NULL, FALSE);
	g_return_val_if_fail(fd >= 0, FALSE);

	if (!fd_set_nonblocking(owned_fd, error))
		return FALSE;
	(void)fcntl(owned_fd, F_SETFD, FD_CLOEXEC);
	listener = g_new0(Listener, 1);
	listener->server = server;
	listener->fd = g_steal_fd(&owned_fd);
	listener->source = g_unix_fd_source_new(listener->fd, G_IO_IN);
	g_source_set_name(listener->source, "cocoon-ttrpc-listener");
	g_source_set_callback(listener->source, (GSourceFunc)(void (*)(void))listener_accept_cb,
			      listener, NULL);

	g_mutex_lock(&server->lock);
	if (server->shut_down) {
		g_mutex_unlock(&server->lock);
		listener_free(listener);
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CLOSED, "server is shut down");
		return FALSE;
	}
	g_ptr_array_add(server->listeners, listener);
	g_mutex_unlock(&server->lock);
	g_source_attach(listener->source, server->context);
	return TRUE;
}

static gboolean
socket_path_in_use(const struct sockaddr_un *addr)
{
	ttrpc_autofd gint fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return FALSE;
	return connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0;
}

/**
 * cocoon_ttrpc_server_listen_path:
 *
 * binds and listens on a unix socket path with mode 0600. A stale socket file (nobody listening)
 * is replaced; a live one is ADDRESS_IN_USE, any other file EXISTS.
 */
gboolean
cocoon_ttrpc_server_listen_path(CocoonTtrpcServer *server, const gchar *path, GError **error)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	ttrpc_autofd gint fd = -1;
	struct stat st;

	g_return_val_if_fail(server != NULL, FALSE);
	g_return_val_if_fail(path != NULL, FALSE);

	if (g_str_has_prefix(path, "unix://"))
		path += strlen("unix://");
	if (strlen(path) == 0 || strlen(path) >= sizeof(addr.sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "socket path '%s' is empty or longer than %" G_GSIZE_FORMAT " bytes",
			    path, sizeof(addr.sun_path) - 1);
		return FALSE;
	}
	memcpy(addr.sun_path, path, strlen(path));

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
				    "%s exists and is not a socket", path);
			return FALSE;
		}
		if (socket_path_in_use(&addr)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
				    "%s: a server is already listening there", path);
			return FALSE;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
				    "cannot remove stale socket %s: %s", path, g_strerror(errno));
			return FALSE;
		}
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s",
			    g_strerror(errno));
		return FALSE;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "bind %s: %s", path,
			    g_strerror(errno));
		return FALSE;
	}
	if (chmod(path, 0600) < 0 || listen(fd, SOMAXCONN) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "listen on %s: %s",
			    path, g_strerror(errno));
		(void)unlink(path);
		return FALSE;
	}
	return cocoon_ttrpc_server_listen_fd(server, g_steal_fd(&fd), error);
}

/**
 * cocoon_ttrpc_server_add_connection_fd:
 *
 * serves one connected stream fd: a unix socket (SO_PEERCRED checked), another socket, or a
 * character device such as a virtio-serial port (plain read/write). The server owns the fd, also
 * on failure. EOF ends the connection and calls the connection-closed func; a virtio-serial port
 * reads EOF while the host side is not connected, the caller decides whether to add it again.
 */
gboolean
cocoon_ttrpc_server_add_connection_fd(CocoonTtrpcServer *server, gint fd, GError **error)
{
	g_return_val_if_fail(server != NULL, FALSE);
	g_return_val_if_fail(fd >= 0, FALSE);
	return server_add_connection(server, fd, error);
}

/* registration and settings */

static void
registration_free(Registration *registration)
{
	if (registration->context != NULL)
		g_main_context_unref(registration->context);
	g_free(registration);
}

/**
 * cocoon_ttrpc_server_register:
 *
 * handler for service/method, run on context (NULL = the server context); registering the
 * same method again replaces the handler
 */
void
cocoon_ttrpc_server_register(CocoonTtrpcServer *server, const gchar *service, const gchar *method,
			     CocoonTtrpcHandler handler, gpointer user_data, GMainContext *context)
{
	g_autoptr(GMutexLocker) locker = NULL;
	Registration *registration;
	GHashTable *methods;

	g_return_if_fail(server != NULL);
	g_return_if_fail(service != NULL);
	g_return_if_fail(method != NULL);
	g_return_if_fail(handler != NULL);

	registration = g_new0(Registration, 1);
	registration->handler = handler;
	registration->user_data = user_data;
	registration->context = g_main_context_ref(context != NULL ? context : server->context);

	locker = g_mutex_locker_new(&server->lock);
	methods = g_hash_table_lookup(server->services, service);
	if (methods == NULL) {
		methods = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						(GDestroyNotify)registration_free);
		g_hash_table_insert(server->services, g_strdup(service), methods);
	}
	g_hash_table_replace(methods, g_strdup(method), registration);
}

void
cocoon_ttrpc_server_set_require_same_user(CocoonTtrpcServer *server, gboolean require)
{
	g_return_if_fail(server != NULL);
	g_mutex_lock(&server->lock);
	server->require_same_user = require;
	g_mutex_unlock(&server->lock);
}

void
cocoon_ttrpc_server_set_connection_closed_func(CocoonTtrpcServer *server,
					       CocoonTtrpcConnectionClosedFunc func,
					       gpointer user_data)
{
	g_return_if_fail(server != NULL);
	g_mutex_lock(&server->lock);
	server->closed_func = func;
	server->closed_data = user_data;
	g_mutex_unlock(&server->lock);
}

guint
cocoon_ttrpc_server_get_n_connections(CocoonTtrpcServer *server)
{
	guint n;
	g_return_val_if_fail(server != NULL, 0);
	g_mutex_lock(&server->lock);
	n = server->connections->len;
	g_mutex_unlock(&server->lock);
	return n;
}

/**
 * cocoon_ttrpc_server_shutdown:
 *
 * stops listening and closes every connection (the connection-closed func runs for each);
 * pending calls are cancelled and their answers dropped. Call it on the server context.
 */
void
cocoon_ttrpc_server_shutdown(CocoonTtrpcServer *server)
{
	g_autoptr(GPtrArray) listeners = NULL;
	g_autoptr(GPtrArray) connections = NULL;

	g_return_if_fail(server != NULL);

	g_mutex_lock(&server->lock);
	server->shut_down = TRUE;
	listeners = g_steal_pointer(&server->listeners);
	server->listeners = g_ptr_array_new();
	connections = g_ptr_array_copy(server->connections,
				       (GCopyFunc)(void (*)(void))connection_ref, NULL);
	g_mutex_unlock(&server->lock);

	g_mutex_lock(&server_weak_lock);
	for (guint i = 0; i < listeners->len; i++)
		((Listener *)g_ptr_array_index(listeners, i))->server = NULL;
	g_mutex_unlock(&server_weak_lock);
	for (guint i = 0; i < listeners->len; i++)
		listener_free(g_ptr_array_index(listeners, i));
	for (guint i = 0; i < connections->len; i++) {
		Connection *connection = g_ptr_array_index(connections, i);
		connection_close(connection);
		connection_unref(connection);
	}
}

/* calls */

const gchar *
cocoon_ttrpc_call_get_service(CocoonTtrpcCall *call)
{
	g_return_val_if_fail(call != NULL, NULL);
	return call->request->service;
}

const gchar *
cocoon_ttrpc_call_get_method(CocoonTtrpcCall *call)
{
	g_return_val_if_fail(call != NULL, NULL);
	return call->request->method;
}

/**
 * cocoon_ttrpc_call_get_payload:
 *
 * the serialized request message, valid until the call is finished (never NULL)
 */
const guint8 *
cocoon_ttrpc_call_get_payload(CocoonTtrpcCall *call, gsize *ret_length)
{
	static const guint8 empty[1] = {0};
	g_return_val_if_fail(call != NULL, NULL);
	if (ret_length != NULL)
		*ret_length = call->request->payload.len;
	return call->request->payload.data != NULL ? call->request->payload.data : empty;
}

/**
 * cocoon_ttrpc_call_get_metadata:
 *
 * the first value of key (compared case-insensitively, Go lowercases keys), or NULL
 */
const gchar *
cocoon_ttrpc_call_get_metadata(CocoonTtrpcCall *call, const gchar *key)
{
	g_return_val_if_fail(call != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);
	for (gsize i = 0; i < call->request->n_metadata; i++) {
		const Ttrpc__KeyValue *kv = call->request->metadata[i];
		if (kv != NULL && kv->key != NULL && g_ascii_strcasecmp(kv->key, key) == 0)
			return kv->value != NULL ? kv->value : "";
	}
	return NULL;
}

gint64
cocoon_ttrpc_call_get_deadline(CocoonTtrpcCall *call)
{
	g_return_val_if_fail(call != NULL, 0);
	return call->deadline;
}

gboolean
cocoon_ttrpc_call_is_cancelled(CocoonTtrpcCall *call)
{
	g_return_val_if_fail(call != NULL, TRUE);
	return g_atomic_int_get(&call->state) == CALL_CANCELLED;
}

gint
cocoon_ttrpc_call_get_peer_pid(CocoonTtrpcCall *call)
{
	g_return_val_if_fail(call != NULL, 0);
	return call->connection->peer_pid;
}

/**
 * cocoon_ttrpc_call_return:
 *
 * answers OK with payload; a response over 4 MiB goes out as RESOURCE_EXHAUSTED instead.
 * Dropped when the call was cancelled. Consumes the call.
 */
void
cocoon_ttrpc_call_return(CocoonTtrpcCall *call, const guint8 *payload, gsize length)
{
	g_return_if_fail(call != NULL);
	call_finish(call, COCOON_TTRPC_OK, NULL, payload, length);
	call_unref(call);
}

/**
 * cocoon_ttrpc_call_unpack:
 *
 * the payload as a message of descriptor; INVALID_ARGUMENT naming the method when undecodable
 */
ProtobufCMessage *
cocoon_ttrpc_call_unpack(CocoonTtrpcCall *call, const ProtobufCMessageDescriptor *descriptor,
			 GError **error)
{
	ProtobufCMessage *message;
	gsize length = 0;
	const guint8 *payload;

	g_return_val_if_fail(call != NULL, NULL);
	g_return_val_if_fail(descriptor != NULL, NULL);

	payload = cocoon_ttrpc_call_get_payload(call, &length);
	message = protobuf_c_message_unpack(descriptor, NULL, length, payload);
	if (message == NULL) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT,
			    "%s/%s: cannot decode %s: invalid argument", call->request->service,
			    call->request->method, descriptor->name);
		return NULL;
	}
	return message;
}

/**
 * cocoon_ttrpc_call_return_message:
 *
 * answers OK with a packed message (NULL = empty); consumes the call
 */
void
cocoon_ttrpc_call_return_message(CocoonTtrpcCall *call, const ProtobufCMessage *message)
{
	g_autofree guint8 *packed = NULL;
	gsize size = 0;

	g_return_if_fail(call != NULL);

	if (message != NULL) {
		size = protobuf_c_message_get_packed_size(message);
		/* no point packing what cannot be sent; call_finish turns it into the status */
		if (size > COCOON_TTRPC_MAX_DATA_SIZE) {
			cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_RESOURCE_EXHAUSTED,
						       "message length %" G_GSIZE_FORMAT
						       " exceed maximum message size of %u",
						       size, COCOON_TTRPC_MAX_DATA_SIZE);
			return;
		}
		packed = g_malloc(MAX(size, 1));
		protobuf_c_message_pack(message, packed);
	}
	cocoon_ttrpc_call_return(call, packed, size);
}

/**
 * cocoon_ttrpc_call_return_error:
 *
 * answers with an error status (code OK is turned into UNKNOWN); consumes the call
 */
void
cocoon_ttrpc_call_return_error(CocoonTtrpcCall *call, CocoonTtrpcCode code, const gchar *format,
			       ...)
{
	g_autofree gchar *message = NULL;
	va_list args;

	g_return_if_fail(call != NULL);

	if (code == COCOON_TTRPC_OK)
		code = COCOON_TTRPC_UNKNOWN;
	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	call_finish(call, code, message, NULL, 0);
	call_unref(call);
}

/**
 * cocoon_ttrpc_call_return_gerror:
 *
 * answers with error mapped by cocoon_ttrpc_code_from_error(); consumes the call
 */
void
cocoon_ttrpc_call_return_gerror(CocoonTtrpcCall *call, const GError *error)
{
	g_return_if_fail(call != NULL);
	cocoon_ttrpc_call_return_error(call, cocoon_ttrpc_code_from_error(error), "%s",
				       error != NULL ? error->message : "unknown error");
}

/* server */

/**
 * cocoon_ttrpc_server_new:
 *
 * a server whose connections are read on the thread-default context of the caller
 */
CocoonTtrpcServer *
cocoon_ttrpc_server_new(void)
{
	CocoonTtrpcServer *server = g_new0(CocoonTtrpcServer, 1);
	g_atomic_ref_count_init(&server->ref);
	g_mutex_init(&server->lock);
	server->context = g_main_context_ref_thread_default();
	server->services = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						 (GDestroyNotify)g_hash_table_unref);
	server->require_same_user = TRUE;
	server->listeners = g_ptr_array_new();
	server->connections = g_ptr_array_new();
	return server;
}

CocoonTtrpcServer *
cocoon_ttrpc_server_ref(CocoonTtrpcServer *server)
{
	g_return_val_if_fail(server != NULL, NULL);
	g_atomic_ref_count_inc(&server->ref);
	return server;
}

/**
 * cocoon_ttrpc_server_unref:
 *
 * the last reference shuts the server down (connections and listeners only point back weakly)
 */
void
cocoon_ttrpc_server_unref(CocoonTtrpcServer *server)
{
	gboolean last;

	if (server == NULL)
		return;
	/* under the weak lock so nobody resurrects it through a weak pointer meanwhile */
	g_mutex_lock(&server_weak_lock);
	last = g_atomic_ref_count_dec(&server->ref);
	if (last) {
		g_mutex_lock(&server->lock);
		server->shut_down = TRUE;
		for (guint i = 0; i < server->listeners->len; i++)
			((Listener *)g_ptr_array_index(server->listeners, i))->server = NULL;
		for (guint i = 0; i < server->connections->len; i++)
			((Connection *)g_ptr_array_index(server->connections, i))->server = NULL;
		g_mutex_unlock(&server->lock);
	}
	g_mutex_unlock(&server_weak_lock);
	if (!last)
		return;

	/* nobody reaches the server any more: close without calling back */
	for (guint i = 0; i < server->listeners->len; i++)
		listener_free(g_ptr_array_index(server->listeners, i));
	for (guint i = 0; i < server->connections->len; i++) {
		Connection *connection = g_ptr_array_index(server->connections, i);
		connection_close(connection);
		connection_unref(connection);
	}
	g_ptr_array_free(server->listeners, TRUE);
	g_ptr_array_free(server->connections, TRUE);
	g_hash_table_unref(server->services);
	g_main_context_unref(server->context);
	g_mutex_clear(&server->lock);
	g_free(server);
}
