/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-ttrpc"

#include "config.h"

#include "cocoon-ttrpc-client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cocoon-ttrpc-frame.h"
#include "ttrpc-fd.h"
#include "ttrpc.pb-c.h"

/*
 * Threading: any thread may call. A call registers itself in `pending` (under lock), then writes
 * its frame under write_lock (stream ids are allocated under write_lock too, so they go out in
 * increasing order as Go's 1.2 servers require). The reader thread owns the read side: it matches
 * responses to pending calls and completes them; it never holds a client reference, the last
 * unref wakes and joins it.
 */

#define READ_CHUNK_SIZE (64 * 1024)

typedef struct {
	gatomicrefcount ref;
	guint32 stream_id;
	/* completion, under client->lock */
	gboolean done;
	GBytes *payload;
	GError *error;
	GCond cond;
	/* async calls */
	GTask *task;
	GSource *timeout_source;
	GSource *cancel_source;
} PendingCall;

struct _CocoonTtrpcClient {
	gatomicrefcount ref;
	gint fd;
	gboolean is_socket;
	gint wake_fd; /* eventfd: wakes the reader and blocked writers on close */
	GThread *reader;
	GMutex write_lock;
	guint32 next_stream_id; /* under write_lock */
	GMutex lock;
	gboolean closed;
	GHashTable *pending; /* stream id -> PendingCall (a reference) */
	GPtrArray *metadata; /* alternating key, value */
	/* the last reference went on the reader thread: it frees the client on its way out */
	gboolean free_on_reader_exit;
};

static void client_free(CocoonTtrpcClient *client);

static PendingCall *
pending_call_ref(PendingCall *pending)
{
	g_atomic_ref_count_inc(&pending->ref);
	return pending;
}

static void
pending_call_unref(PendingCall *pending)
{
	if (pending == NULL || !g_atomic_ref_count_dec(&pending->ref))
		return;
	g_clear_pointer(&pending->payload, g_bytes_unref);
	g_clear_error(&pending->error);
	g_clear_object(&pending->task);
	if (pending->timeout_source != NULL) {
		g_source_destroy(pending->timeout_source);
		g_source_unref(pending->timeout_source);
	}
	if (pending->cancel_source != NULL) {
		g_source_destroy(pending->cancel_source);
		g_source_unref(pending->cancel_source);
	}
	g_cond_clear(&pending->cond);
	g_free(pending);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PendingCall, pending_call_unref)

/*
 * destroy and drop an async call's sources once it is settled: a destroyed source still points at
 * its context, which may be gone by the time the pending call is freed
 */
static void
pending_call_drop_sources(PendingCall *pending)
{
	if (pending->timeout_source != NULL) {
		g_source_destroy(pending->timeout_source);
		g_clear_pointer(&pending->timeout_source, g_source_unref);
	}
	if (pending->cancel_source != NULL) {
		g_source_destroy(pending->cancel_source);
		g_clear_pointer(&pending->cancel_source, g_source_unref);
	}
}

static PendingCall *
pending_call_new(void)
{
	PendingCall *pending = g_new0(PendingCall, 1);
	g_atomic_ref_count_init(&pending->ref);
	g_cond_init(&pending->cond);
	return pending;
}

/*
 * complete a call that was just taken out of `pending` (so only one path completes it);
 * payload or error is consumed. Called without client->lock for async calls.
 */
static void
pending_call_complete(CocoonTtrpcClient *client, PendingCall *pending, GBytes *payload,
		      GError *error)
{
	GTask *task;

	g_mutex_lock(&client->lock);
	pending->done = TRUE;
	pending->payload = payload;
	pending->error = error;
	task = g_steal_pointer(&pending->task);
	g_cond_signal(&pending->cond);
	g_mutex_unlock(&client->lock);

	if (task == NULL)
		return;
	pending_call_drop_sources(pending);
	if (pending->error != NULL)
		g_task_return_error(task, g_steal_pointer(&pending->error));
	else
		g_task_return_pointer(task, g_steal_pointer(&pending->payload),
				      (GDestroyNotify)g_bytes_unref);
	g_object_unref(task);
}

/* take a call out of `pending`: the caller that gets it completes it */
static PendingCall *
client_steal_pending(CocoonTtrpcClient *client, guint32 stream_id)
{
	PendingCall *pending = NULL;
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&client->lock);
	g_hash_table_steal_extended(client->pending, GUINT_TO_POINTER(stream_id), NULL,
				    (gpointer *)&pending);
	return pending;
}

static void
client_fail_all(CocoonTtrpcClient *client, const gchar *reason)
{
	g_autoptr(GPtrArray) calls =
		g_ptr_array_new_with_free_func((GDestroyNotify)pending_call_unref);

	{
		g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&client->lock);
		GHashTableIter iter;
		gpointer value;

		client->closed = TRUE;
		g_hash_table_iter_init(&iter, client->pending);
		while (g_hash_table_iter_next(&iter, NULL, &value)) {
			g_ptr_array_add(calls, value);
			g_hash_table_iter_steal(&iter);
		}
	}
	for (guint i = 0; i < calls->len; i++)
		pending_call_complete(client, g_ptr_array_index(calls, i), NULL,
				      g_error_new(COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
						  "ttrpc: %s: unavailable", reason));
}

static void
client_handle_frame(CocoonTtrpcClient *client, const CocoonTtrpcFrame *frame)
{
	g_autoptr(PendingCall) pending = NULL;
	Ttrpc__Response *response;
	const guint8 *data;
	gsize size = 0;

	/* requests from the server and unknown types are ignored, like Go's client */
	if (frame->header.type != COCOON_TTRPC_MESSAGE_RESPONSE)
		return;
	/* a call that timed out or was cancelled no longer waits: the late answer is dropped */
	pending = client_steal_pending(client, frame->header.stream_id);
	if (pending == NULL)
		return;
	if (frame->oversized) {
		pending_call_complete(
			client, pending, NULL,
			g_error_new(COCOON_TTRPC_ERROR, COCOON_TTRPC_RESOURCE_EXHAUSTED,
				    "message length %u exceed maximum message size of %u",
				    frame->header.length, COCOON_TTRPC_MAX_DATA_SIZE));
		return;
	}
	data = g_bytes_get_data(frame->data, &size);
	response = ttrpc__response__unpack(NULL, size, data);
	if (response == NULL) {
		pending_call_complete(client, pending, NULL,
				      g_error_new(COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
						  "ttrpc: undecodable response on stream %u",
						  frame->header.stream_id));
		return;
	}
	if (response->status != NULL && response->status->code != COCOON_TTRPC_OK) {
		pending_call_complete(client, pending, NULL,
				      g_error_new_literal(COCOON_TTRPC_ERROR,
							  response->status->code,
							  response->status->message != NULL
								  ? response->status->message
								  : ""));
	} else {
		pending_call_complete(client, pending,
				      g_bytes_new(response->payload.data, response->payload.len),
				      NULL);
	}
	ttrpc__response__free_unpacked(response, NULL);
}

static gpointer
client_reader_thread(gpointer user_data)
{
	CocoonTtrpcClient *client = user_data;
	g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
	g_autofree guint8 *buf = g_malloc(READ_CHUNK_SIZE);
	const gchar *reason = "connection closed";

	for (;;) {
		struct pollfd fds[2] = {
			{.fd = client->fd, .events = POLLIN},
			{.fd = client->wake_fd, .events = POLLIN},
		};
		gssize n;

		if (poll(fds, G_N_ELEMENTS(fds), -1) < 0) {
			if (errno == EINTR)
				continue;
			reason = "poll failed";
			break;
		}
		if (fds[1].revents != 0)
			break;
		n = read(client->fd, buf, READ_CHUNK_SIZE);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0) {
			reason = "connection lost";
			break;
		}
		if (n == 0) {
			reason = "connection closed by peer";
			break;
		}
		cocoon_ttrpc_frame_decoder_feed(decoder, buf, (gsize)n);
		for (;;) {
			g_auto(CocoonTtrpcFrame) frame = {0};
			if (!cocoon_ttrpc_frame_decoder_next(decoder, &frame))
				break;
			client_handle_frame(client, &frame);
			/* completing an async call can drop the last client reference here */
			if (client->free_on_reader_exit)
				break;
		}
		if (client->free_on_reader_exit)
			break;
	}
	client_fail_all(client, reason);
	if (client->free_on_reader_exit)
		client_free(client);
	return NULL;
}

/* write a whole frame before deadline (0 = none); FALSE with *ret_partial when the stream broke */
static gboolean
client_write_frame(CocoonTtrpcClient *client, GBytes *frame, gint64 deadline, gboolean *ret_partial,
		   GError **error)
{
	gsize size;
	const guint8 *data = g_bytes_get_data(frame, &size);
	gsize done = 0;

	*ret_partial = FALSE;
	while (done < size) {
		struct pollfd fds[2] = {
			{.fd = client->fd, .events = POLLOUT},
			{.fd = client->wake_fd, .events = POLLIN},
		};
		gint timeout = -1;
		gssize n;
		gint r;

		if (client->is_socket)
			n = send(client->fd, data + done, size - done, MSG_NOSIGNAL);
		else
			n = write(client->fd, data + done, size - done);
		if (n > 0) {
			done += (gsize)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			*ret_partial = TRUE;
			g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
				    "ttrpc: write failed: %s: unavailable", g_strerror(errno));
			return FALSE;
		}
		if (deadline > 0) {
			gint64 left = deadline - g_get_monotonic_time();
			if (left <= 0) {
				*ret_partial = done > 0;
				g_set_error_literal(error, COCOON_TTRPC_ERROR,
						    COCOON_TTRPC_DEADLINE_EXCEEDED,
						    "ttrpc: sending the request timed out: "
						    "context deadline exceeded");
				return FALSE;
			}
			timeout = (gint)MIN((left + 999) / 1000, (gint64)G_MAXINT);
		}
		r = poll(fds, G_N_ELEMENTS(fds), timeout);
		if (r < 0 && errno != EINTR) {
			*ret_partial = TRUE;
			g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
				    "ttrpc: poll failed: %s: unavailable", g_strerror(errno));
			return FALSE;
		}
		if (r > 0 && fds[1].revents != 0) {
			*ret_partial = TRUE;
			g_set_error_literal(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
					    "ttrpc: client closed: unavailable");
			return FALSE;
		}
	}
	return TRUE;
}

static GBytes *
client_build_request(CocoonTtrpcClient *client, const gchar *service, const gchar *method,
		     const guint8 *payload, gsize length, guint timeout_ms, GError **error)
{
	Ttrpc__Request request = TTRPC__REQUEST__INIT;
	g_autofree Ttrpc__KeyValue *kvs = NULL;
	g_autofree Ttrpc__KeyValue **kv_ptrs = NULL;
	g_autoptr(GPtrArray) metadata = NULL;
	g_autofree guint8 *packed = NULL;
	gsize size;

	request.service = (gchar *)service;
	request.method = (gchar *)method;
	request.payload.data = (guint8 *)payload;
	request.payload.len = payload != NULL ? length : 0;
	request.timeout_nano = (gint64)timeout_ms * G_GINT64_CONSTANT(1000000);

	{
		g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&client->lock);
		metadata = g_ptr_array_new_with_free_func(g_free);
		for (guint i = 0; i < client->metadata->len; i++)
			g_ptr_array_add(metadata, g_strdup(g_ptr_array_index(client->metadata, i)));
	}
	if (metadata->len > 0) {
		gsize n = metadata->len / 2;
		kvs = g_new0(Ttrpc__KeyValue, n);
		kv_ptrs = g_new0(Ttrpc__KeyValue *, n);
		for (gsize i = 0; i < n; i++) {
			ttrpc__key_value__init(&kvs[i]);
			kvs[i].key = g_ptr_array_index(metadata, 2 * i);
			kvs[i].value = g_ptr_array_index(metadata, 2 * i + 1);
			kv_ptrs[i] = &kvs[i];
		}
		request.n_metadata = n;
		request.metadata = kv_ptrs;
	}

	size = ttrpc__request__get_packed_size(&request);
	if (size > COCOON_TTRPC_MAX_DATA_SIZE) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_RESOURCE_EXHAUSTED,
			    "message length %" G_GSIZE_FORMAT " exceed maximum message size of %u",
			    size, COCOON_TTRPC_MAX_DATA_SIZE);
		return NULL;
	}
	packed = g_malloc(MAX(size, 1));
	ttrpc__request__pack(&request, packed);
	/* the stream id is patched in under write_lock */
	return cocoon_ttrpc_frame_encode(0, COCOON_TTRPC_MESSAGE_REQUEST, 0, packed, size, error);
}

/*
 * register pending under a fresh stream id and send the request; on failure pending is not
 * registered (or taken back) and error is set
 */
static gboolean
client_send(CocoonTtrpcClient *client, PendingCall *pending, GBytes *request, gint64 deadline,
	    GError **error)
{
	g_autoptr(GMutexLocker) write_locker = g_mutex_locker_new(&client->write_lock);
	g_autoptr(GBytes) frame = NULL;
	gsize size;
	guint8 *data;
	gboolean partial = FALSE;
	guint32 stream_id;

	{
		g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&client->lock);
		if (client->closed) {
			g_set_error_literal(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
					    "ttrpc: connection closed: unavailable");
			return FALSE;
		}
		if (client->next_stream_id > G_MAXUINT32 - 2) {
			g_set_error_literal(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
					    "ttrpc: stream ids exhausted, reconnect: unavailable");
			return FALSE;
		}
		stream_id = client->next_stream_id;
		client->next_stream_id += 2;
		pending->stream_id = stream_id;
		g_hash_table_insert(client->pending, GUINT_TO_POINTER(stream_id),
				    pending_call_ref(pending));
	}

	data = g_bytes_unref_to_data(g_bytes_ref(request), &size);
	data[4] = (guint8)(stream_id >> 24);
	data[5] = (guint8)(stream_id >> 16);
	data[6] = (guint8)(stream_id >> 8);
	data[7] = (guint8)stream_id;
	frame = g_bytes_new_take(data, size);

	if (!client_write_frame(client, frame, deadline, &partial, error)) {
		g_autoptr(PendingCall) taken G_GNUC_UNUSED =
			client_steal_pending(client, stream_id);
		/* half a frame on the wire poisons the connection for everybody */
		if (partial) {
			g_clear_pointer(&write_locker, g_mutex_locker_free);
			cocoon_ttrpc_client_close(client);
		}
		return FALSE;
	}
	return TRUE;
}

typedef struct {
	CocoonTtrpcClient *client;
	PendingCall *pending;
} SyncWait;

static void
sync_wait_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	SyncWait *wait = user_data;
	/* under the lock so the waiter cannot miss it between its check and its wait */
	g_mutex_lock(&wait->client->lock);
	g_cond_broadcast(&wait->pending->cond);
	g_mutex_unlock(&wait->client->lock);
}

/**
 * cocoon_ttrpc_client_call:
 *
 * a blocking unary call; DEADLINE_EXCEEDED after timeout_ms (0 = wait forever), CANCELLED when
 * cancellable fires, UNAVAILABLE when the connection goes
 */
GBytes *
cocoon_ttrpc_client_call(CocoonTtrpcClient *client, const gchar *service, const gchar *method,
			 const guint8 *payload, gsize length, guint timeout_ms,
			 GCancellable *cancellable, GError **error)
{
	g_autoptr(PendingCall) pending = NULL;
	g_autoptr(GBytes) request = NULL;
	SyncWait wait = {client, NULL};
	gint64 deadline = 0;
	gulong cancelled_id = 0;
	GBytes *result = NULL;
	GError *local_error = NULL;

	g_return_val_if_fail(client != NULL, NULL);
	g_return_val_if_fail(service != NULL, NULL);
	g_return_val_if_fail(method != NULL, NULL);

	if (timeout_ms > 0)
		deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	if (g_cancellable_set_error_if_cancelled(cancellable, &local_error)) {
		g_set_error_literal(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_CANCELLED,
				    local_error->message);
		g_error_free(local_error);
		return NULL;
	}
	request = client_build_request(client, service, method, payload, length, timeout_ms, error);
	if (request == NULL)
		return NULL;

	pending = pending_call_new();
	wait.pending = pending;
	if (!client_send(client, pending, request, deadline, error))
		return NULL;

	if (cancellable != NULL)
		cancelled_id = g_cancellable_connect(
			cancellable, G_CALLBACK(sync_wait_cancelled_cb), &wait, NULL);
	g_mutex_lock(&client->lock);
	while (!pending->done) {
		if (g_cancellable_is_cancelled(cancellable))
			break;
		if (deadline > 0) {
			if (!g_cond_wait_until(&pending->cond, &client->lock, deadline))
				break;
		} else {
			g_cond_wait(&pending->cond, &client->lock);
		}
	}
	if (pending->done) {
		if (pending->error != NULL) {
			local_error = g_steal_pointer(&pending->error);
		} else {
			result = g_steal_pointer(&pending->payload);
		}
	}
	g_mutex_unlock(&client->lock);
	/* cancellation is only seen after the wait's lock is released, never with it held */
	if (cancelled_id != 0)
		g_cancellable_disconnect(cancellable, cancelled_id);

	if (result == NULL && local_error == NULL) {
		g_autoptr(PendingCall) taken = client_steal_pending(client, pending->stream_id);
		if (taken == NULL) {
			/* being completed by another thread right now: it signals shortly */
			g_mutex_lock(&client->lock);
			while (!pending->done)
				g_cond_wait(&pending->cond, &client->lock);
			if (pending->error != NULL)
				local_error = g_steal_pointer(&pending->error);
			else
				result = g_steal_pointer(&pending->payload);
			g_mutex_unlock(&client->lock);
		} else if (g_cancellable_is_cancelled(cancellable)) {
			local_error = g_error_new(COCOON_TTRPC_ERROR, COCOON_TTRPC_CANCELLED,
						  "%s/%s: context canceled", service, method);
		} else {
			local_error =
				g_error_new(COCOON_TTRPC_ERROR, COCOON_TTRPC_DEADLINE_EXCEEDED,
					    "%s/%s: no answer within %u ms: context deadline "
					    "exceeded",
					    service, method, timeout_ms);
		}
	}
	if (local_error != NULL) {
		g_propagate_error(error, local_error);
		return NULL;
	}
	return result != NULL ? result : g_bytes_new(NULL, 0);
}

/*
 * async calls: the task's data holds the client and the pending call; the timeout and
 * cancellation sources run on the task's context and hold the task, so the client outlives them
 */
typedef struct {
	CocoonTtrpcClient *client;
	PendingCall *pending;
	gchar *service;
	gchar *method;
	guint timeout_ms;
} AsyncCall;

static void
async_call_free(AsyncCall *async)
{
	pending_call_unref(async->pending);
	cocoon_ttrpc_client_unref(async->client);
	g_free(async->service);
	g_free(async->method);
	g_free(async);
}

static void
async_fail(GTask *task, CocoonTtrpcCode code, const gchar *what)
{
	AsyncCall *async = g_task_get_task_data(task);
	PendingCall *taken = client_steal_pending(async->client, async->pending->stream_id);

	if (taken == NULL)
		return;
	if (code == COCOON_TTRPC_DEADLINE_EXCEEDED)
		pending_call_complete(
			async->client, taken, NULL,
			g_error_new(COCOON_TTRPC_ERROR, code, "%s/%s: no answer within %u ms: %s",
				    async->service, async->method, async->timeout_ms, what));
	else
		pending_call_complete(async->client, taken, NULL,
				      g_error_new(COCOON_TTRPC_ERROR, code, "%s/%s: %s",
						  async->service, async->method, what));
	pending_call_unref(taken);
}

static gboolean
async_timeout_cb(gpointer user_data)
{
	async_fail(user_data, COCOON_TTRPC_DEADLINE_EXCEEDED, "context deadline exceeded");
	return G_SOURCE_REMOVE;
}

static gboolean
async_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	async_fail(user_data, COCOON_TTRPC_CANCELLED, "context canceled");
	return G_SOURCE_REMOVE;
}

/**
 * cocoon_ttrpc_client_call_async:
 *
 * like cocoon_ttrpc_client_call() without waiting for the answer (the request is written from
 * this thread); callback runs on the thread-default context of the caller
 */
void
cocoon_ttrpc_client_call_async(CocoonTtrpcClient *client, const gchar *service, const gchar *method,
			       const guint8 *payload, gsize length, guint timeout_ms,
			       GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GBytes) request = NULL;
	g_autoptr(GError) error = NULL;
	AsyncCall *async;
	PendingCall *pending;
	GMainContext *context;
	gint64 deadline = 0;

	g_return_if_fail(client != NULL);
	g_return_if_fail(service != NULL);
	g_return_if_fail(method != NULL);

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, cocoon_ttrpc_client_call_async);
	g_task_set_name(task, "cocoon_ttrpc_client_call_async");
	context = g_task_get_context(task);

	if (g_cancellable_is_cancelled(cancellable)) {
		g_task_return_new_error(task, COCOON_TTRPC_ERROR, COCOON_TTRPC_CANCELLED,
					"%s/%s: context canceled", service, method);
		return;
	}
	request =
		client_build_request(client, service, method, payload, length, timeout_ms, &error);
	if (request == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}

	pending = pending_call_new();
	pending->task = g_object_ref(task);
	async = g_new0(AsyncCall, 1);
	async->client = cocoon_ttrpc_client_ref(client);
	async->pending = pending;
	async->service = g_strdup(service);
	async->method = g_strdup(method);
	async->timeout_ms = timeout_ms;
	g_task_set_task_data(task, async, (GDestroyNotify)async_call_free);

	/* the sources exist before the call can complete, so completion always finds them */
	if (timeout_ms > 0) {
		deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
		pending->timeout_source = g_timeout_source_new(timeout_ms);
		g_source_set_name(pending->timeout_source, "cocoon-ttrpc-client-timeout");
		g_source_set_callback(pending->timeout_source, async_timeout_cb, g_object_ref(task),
				      g_object_unref);
	}
	if (cancellable != NULL) {
		pending->cancel_source = g_cancellable_source_new(cancellable);
		g_source_set_callback(pending->cancel_source,
				      (GSourceFunc)(void (*)(void))async_cancelled_cb,
				      g_object_ref(task), g_object_unref);
	}
	if (pending->timeout_source != NULL)
		g_source_attach(pending->timeout_source, context);
	if (pending->cancel_source != NULL)
		g_source_attach(pending->cancel_source, context);

	if (!client_send(client, pending, request, deadline, &error)) {
		GTask *own;
		g_mutex_lock(&client->lock);
		own = g_steal_pointer(&pending->task);
		g_mutex_unlock(&client->lock);
		pending_call_drop_sources(pending);
		g_clear_object(&own);
		g_task_return_error(task, g_steal_pointer(&error));
	}
}

/**
 * cocoon_ttrpc_client_call_finish:
 *
 * the response payload of cocoon_ttrpc_client_call_async() (never NULL on success)
 */
GBytes *
cocoon_ttrpc_client_call_finish(CocoonTtrpcClient *client, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
	g_return_val_if_fail(
		g_task_get_source_tag(G_TASK(result)) == cocoon_ttrpc_client_call_async, NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/**
 * cocoon_ttrpc_client_call_message:
 *
 * packs request, calls, unpacks the response as response_descriptor (INTERNAL when it cannot)
 */
ProtobufCMessage *
cocoon_ttrpc_client_call_message(CocoonTtrpcClient *client, const gchar *service,
				 const gchar *method, const ProtobufCMessage *request,
				 const ProtobufCMessageDescriptor *response_descriptor,
				 guint timeout_ms, GCancellable *cancellable, GError **error)
{
	g_autofree guint8 *packed = NULL;
	g_autoptr(GBytes) response = NULL;
	ProtobufCMessage *message;
	gsize size = 0;
	gsize response_size = 0;
	const guint8 *response_data;

	g_return_val_if_fail(client != NULL, NULL);
	g_return_val_if_fail(response_descriptor != NULL, NULL);

	if (request != NULL) {
		size = protobuf_c_message_get_packed_size(request);
		if (size > COCOON_TTRPC_MAX_DATA_SIZE) {
			g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_RESOURCE_EXHAUSTED,
				    "message length %" G_GSIZE_FORMAT
				    " exceed maximum message size of %u",
				    size, COCOON_TTRPC_MAX_DATA_SIZE);
			return NULL;
		}
		packed = g_malloc(MAX(size, 1));
		protobuf_c_message_pack(request, packed);
	}
	response = cocoon_ttrpc_client_call(client, service, method, packed, size, timeout_ms,
					    cancellable, error);
	if (response == NULL)
		return NULL;
	response_data = g_bytes_get_data(response, &response_size);
	message =
		protobuf_c_message_unpack(response_descriptor, NULL, response_size, response_data);
	if (message == NULL) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
			    "%s/%s: cannot decode the response as %s", service, method,
			    response_descriptor->name);
		return NULL;
	}
	return message;
}

/**
 * cocoon_ttrpc_client_set_metadata:
 *
 * metadata sent with every later call; value NULL removes the key
 */
void
cocoon_ttrpc_client_set_metadata(CocoonTtrpcClient *client, const gchar *key, const gchar *value)
{
	g_autoptr(GMutexLocker) locker = NULL;

	g_return_if_fail(client != NULL);
	g_return_if_fail(key != NULL);

	locker = g_mutex_locker_new(&client->lock);
	for (guint i = 0; i < client->metadata->len; i += 2) {
		if (g_strcmp0(g_ptr_array_index(client->metadata, i), key) != 0)
			continue;
		if (value == NULL) {
			g_ptr_array_remove_range(client->metadata, i, 2);
		} else {
			g_free(g_ptr_array_index(client->metadata, i + 1));
			g_ptr_array_index(client->metadata, i + 1) = g_strdup(value);
		}
		return;
	}
	if (value != NULL) {
		g_ptr_array_add(client->metadata, g_strdup(key));
		g_ptr_array_add(client->metadata, g_strdup(value));
	}
}

gboolean
cocoon_ttrpc_client_is_connected(CocoonTtrpcClient *client)
{
	g_autoptr(GMutexLocker) locker = NULL;
	g_return_val_if_fail(client != NULL, FALSE);
	locker = g_mutex_locker_new(&client->lock);
	return !client->closed;
}

/**
 * cocoon_ttrpc_client_close:
 *
 * fails every pending call with UNAVAILABLE and shuts the connection down; later calls fail
 * with UNAVAILABLE. The fd itself is closed when the last reference goes.
 */
void
cocoon_ttrpc_client_close(CocoonTtrpcClient *client)
{
	guint64 one = 1;

	g_return_if_fail(client != NULL);

	if (write(client->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		g_debug("cannot wake the ttrpc reader: %s", g_strerror(errno));
	if (client->is_socket)
		(void)shutdown(client->fd, SHUT_RDWR);
	client_fail_all(client, "client closed");
}

/**
 * cocoon_ttrpc_client_new_for_fd:
 *
 * a client over an already connected stream fd, which it owns (also on failure)
 */
CocoonTtrpcClient *
cocoon_ttrpc_client_new_for_fd(gint fd, GError **error)
{
	ttrpc_autofd gint owned_fd = fd;
	ttrpc_autofd gint wake_fd = -1;
	CocoonTtrpcClient *client;
	struct stat st;
	gint flags;

	g_return_val_if_fail(fd >= 0, NULL);

	if (fstat(owned_fd, &st) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "fstat fd %d: %s",
			    owned_fd, g_strerror(errno));
		return NULL;
	}
	flags = fcntl(owned_fd, F_GETFL);
	if (flags < 0 || fcntl(owned_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "cannot make fd %d non-blocking: %s", owned_fd, g_strerror(errno));
		return NULL;
	}
	(void)fcntl(owned_fd, F_SETFD, FD_CLOEXEC);
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "eventfd: %s",
			    g_strerror(errno));
		return NULL;
	}

	client = g_new0(CocoonTtrpcClient, 1);
	g_atomic_ref_count_init(&client->ref);
	g_mutex_init(&client->lock);
	g_mutex_init(&client->write_lock);
	client->fd = g_steal_fd(&owned_fd);
	client->wake_fd = g_steal_fd(&wake_fd);
	client->is_socket = S_ISSOCK(st.st_mode);
	client->next_stream_id = 1;
	client->pending =
		g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)pending_call_unref);
	client->metadata = g_ptr_array_new_with_free_func(g_free);
	client->reader = g_thread_try_new("ttrpc-client", client_reader_thread, client, error);
	if (client->reader == NULL) {
		client->closed = TRUE;
		cocoon_ttrpc_client_unref(client);
		return NULL;
	}
	return client;
}

/**
 * cocoon_ttrpc_client_new_for_path:
 *
 * connects to a unix socket path ("unix://" prefix allowed); fails at once when nobody listens
 */
CocoonTtrpcClient *
cocoon_ttrpc_client_new_for_path(const gchar *path, GError **error)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	ttrpc_autofd gint fd = -1;
	gint r;

	g_return_val_if_fail(path != NULL, NULL);

	if (g_str_has_prefix(path, "unix://"))
		path += strlen("unix://");
	if (strlen(path) == 0 || strlen(path) >= sizeof(addr.sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "socket path '%s' is empty or longer than %" G_GSIZE_FORMAT " bytes",
			    path, sizeof(addr.sun_path) - 1);
		return NULL;
	}
	memcpy(addr.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s",
			    g_strerror(errno));
		return NULL;
	}
	do
		r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "connect to %s: %s",
			    path, g_strerror(errno));
		return NULL;
	}
	return cocoon_ttrpc_client_new_for_fd(g_steal_fd(&fd), error);
}

CocoonTtrpcClient *
cocoon_ttrpc_client_ref(CocoonTtrpcClient *client)
{
	g_return_val_if_fail(client != NULL, NULL);
	g_atomic_ref_count_inc(&client->ref);
	return client;
}

/**
 * cocoon_ttrpc_client_unref:
 *
 * the last reference closes the connection (pending calls fail) and joins the reader thread
 */
void
cocoon_ttrpc_client_unref(CocoonTtrpcClient *client)
{
	if (client == NULL || !g_atomic_ref_count_dec(&client->ref))
		return;
	if (client->reader != NULL) {
		cocoon_ttrpc_client_close(client);
		/* a thread cannot join itself: let the reader free the client when it returns */
		if (g_thread_self() == client->reader) {
			client->free_on_reader_exit = TRUE;
			g_thread_unref(client->reader);
			client->reader = NULL;
			return;
		}
		g_thread_join(client->reader);
	}
	client_free(client);
}

static void
client_free(CocoonTtrpcClient *client)
{
	client_fail_all(client, "client closed");
	g_hash_table_unref(client->pending);
	g_ptr_array_unref(client->metadata);
	if (client->fd >= 0)
		close(client->fd);
	if (client->wake_fd >= 0)
		close(client->wake_fd);
	g_mutex_clear(&client->write_lock);
	g_mutex_clear(&client->lock);
	g_free(client);
}
