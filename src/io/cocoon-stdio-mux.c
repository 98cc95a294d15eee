/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-io"

#include "config.h"

#include "cocoon-stdio-mux.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-io-pool.h"
#include "cocoon-stdio-mux-private.h"

Stream *
cocoon_stdio_mux_stream_ref(Stream *stream)
{
	return g_atomic_rc_box_acquire(stream);
}

static void
stream_clear(Stream *stream)
{
	cocoon_fd_closep(&stream->fd);
	g_queue_clear_full(&stream->chunks, (GDestroyNotify)g_bytes_unref);
}

void
cocoon_stdio_mux_stream_unref(gpointer data)
{
	if (data != NULL)
		g_atomic_rc_box_release_full(data, (GDestroyNotify)stream_clear);
}

static Stream *
stream_new(CocoonStdioMux *mux, guint32 id, StreamKind kind, gint fd)
{
	Stream *stream = g_atomic_rc_box_new0(Stream);

	stream->mux = mux;
	stream->id = id;
	stream->kind = kind;
	stream->fd = fd;
	g_queue_init(&stream->chunks);
	if (kind == STREAM_INPUT)
		stream->credit = COCOON_STDIO_INITIAL_WINDOW;
	return stream;
}

/* a reference for internal holders (pool jobs, the closed notification): never revives a mux whose
 * last reference is already gone and which is being closed and freed */
gboolean
cocoon_stdio_mux_try_ref(CocoonStdioMux *mux)
{
	gint old;

	do {
		old = g_atomic_int_get(&mux->ref_count);
		if (old == 0)
			return FALSE;
	} while (!g_atomic_int_compare_and_exchange(&mux->ref_count, old, old + 1));
	return TRUE;
}

void
cocoon_stdio_mux_wake(CocoonStdioMux *mux)
{
	guint64 one = 1;

	/* EAGAIN means the counter is already non-zero: the thread will wake anyway */
	if (write(mux->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		g_debug("sandbox %s: cannot wake the stdio mux thread: %s", mux->sandbox_id,
			g_strerror(errno));
}

void
cocoon_stdio_mux_send_locked(CocoonStdioMux *mux, const guint8 *header, gsize header_size,
			     const guint8 *payload, gsize payload_size)
{
	gboolean was_empty = mux->outbuf->len == 0;

	if (mux->conn_closed)
		return;
	g_byte_array_append(mux->outbuf, header, (guint)header_size);
	if (payload_size > 0)
		g_byte_array_append(mux->outbuf, payload, (guint)payload_size);
	if (was_empty)
		cocoon_stdio_mux_wake(mux);
}

void
cocoon_stdio_mux_send_credit_locked(CocoonStdioMux *mux, guint32 stream_id, gsize credit)
{
	while (credit > 0) {
		guint8 frame[COCOON_STDIO_CREDIT_FRAME_SIZE];
		guint32 chunk = (guint32)MIN(credit, G_MAXUINT32);

		cocoon_stdio_frame_encode_credit(stream_id, chunk, frame);
		cocoon_stdio_mux_send_locked(mux, frame, sizeof(frame), NULL, 0);
		credit -= chunk;
	}
}

static gboolean
set_nonblocking(gint fd, GError **error)
{
	gint flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		cocoon_set_error_from_errno(error, "cannot make fd %d non-blocking", fd);
		return FALSE;
	}
	return TRUE;
}

static gboolean
add_stream(CocoonStdioMux *mux, guint32 stream_id, gint fd_taken, StreamKind kind, GError **error)
{
	cocoon_autofd gint fd = fd_taken;
	g_autoptr(GMutexLocker) locker = NULL;
	const gchar *what = kind == STREAM_OUTPUT ? "output" : "input";

	g_return_val_if_fail(mux != NULL, FALSE);

	if (stream_id == 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "sandbox %s: stdio stream id 0 is reserved", mux->sandbox_id);
		return FALSE;
	}
	if (fd < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "sandbox %s: stdio %s stream %u: no fd", mux->sandbox_id, what,
			    stream_id);
		return FALSE;
	}
	if (!set_nonblocking(fd, error)) {
		g_prefix_error(error, "sandbox %s: stdio %s stream %u: ", mux->sandbox_id, what,
			       stream_id);
		return FALSE;
	}

	locker = g_mutex_locker_new(&mux->mutex);
	if (mux->conn_closed) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED,
			    "sandbox %s: stdio %s stream %u: the stdio connection is closed",
			    mux->sandbox_id, what, stream_id);
		return FALSE;
	}
	if (g_hash_table_contains(mux->streams, GUINT_TO_POINTER(stream_id))) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
			    "sandbox %s: stdio stream %u already exists", mux->sandbox_id,
			    stream_id);
		return FALSE;
	}
	g_hash_table_insert(mux->streams, GUINT_TO_POINTER(stream_id),
			    stream_new(mux, stream_id, kind, cocoon_steal_fd(&fd)));
	/* the last allocated id stays ahead of ids the caller picked itself */
	if (stream_id > mux->last_stream_id)
		mux->last_stream_id = stream_id;
	if (kind == STREAM_INPUT)
		cocoon_stdio_mux_wake(mux);
	return TRUE;
}

/**
 * cocoon_stdio_mux_add_output:
 *
 * Connects the guest → host stream stream_id to fd (taken, made non-blocking). DATA is copied on
 * the I/O pool and credited once written; EOF closes fd.
 */
gboolean
cocoon_stdio_mux_add_output(CocoonStdioMux *mux, guint32 stream_id, gint fd, GError **error)
{
	return add_stream(mux, stream_id, fd, STREAM_OUTPUT, error);
}

/**
 * cocoon_stdio_mux_add_input:
 *
 * Connects fd (taken, made non-blocking) to the host → guest stream stream_id: the mux thread
 * reads it within the credit the guest grants and sends EOF on read EOF.
 */
gboolean
cocoon_stdio_mux_add_input(CocoonStdioMux *mux, guint32 stream_id, gint fd, GError **error)
{
	return add_stream(mux, stream_id, fd, STREAM_INPUT, error);
}

/**
 * cocoon_stdio_mux_close_input:
 *
 * Sends EOF on an input stream after the DATA already sent; unread bytes of its fd are dropped.
 */
gboolean
cocoon_stdio_mux_close_input(CocoonStdioMux *mux, guint32 stream_id, GError **error)
{
	g_autoptr(GMutexLocker) locker = NULL;
	Stream *stream;

	g_return_val_if_fail(mux != NULL, FALSE);

	locker = g_mutex_locker_new(&mux->mutex);
	stream = g_hash_table_lookup(mux->streams, GUINT_TO_POINTER(stream_id));
	if (stream == NULL || stream->kind != STREAM_INPUT) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "sandbox %s: no stdio input stream %u", mux->sandbox_id, stream_id);
		return FALSE;
	}
	if (stream->eof_sent || stream->close_requested)
		return TRUE;
	stream->close_requested = TRUE;
	cocoon_stdio_mux_wake(mux);
	return TRUE;
}

/**
 * cocoon_stdio_mux_remove_stream:
 *
 * Forgets a stream; later frames for its id are dropped and credited.
 */
void
cocoon_stdio_mux_remove_stream(CocoonStdioMux *mux, guint32 stream_id)
{
	g_autoptr(GMutexLocker) locker = NULL;
	Stream *stream = NULL;

	g_return_if_fail(mux != NULL);

	locker = g_mutex_locker_new(&mux->mutex);
	if (!g_hash_table_steal_extended(mux->streams, GUINT_TO_POINTER(stream_id), NULL,
					 (gpointer *)&stream))
		return;
	stream->removed = TRUE;
	if (stream->kind == STREAM_INPUT) {
		if (mux->stopped) {
			cocoon_fd_closep(&stream->fd);
			cocoon_stdio_mux_stream_unref(stream);
		} else {
			g_ptr_array_add(mux->inputs_to_close, stream);
			cocoon_stdio_mux_wake(mux);
		}
	} else {
		/* the stream's job drops what is queued (crediting it) and closes fd */
		stream->waiting_writable = FALSE;
		cocoon_stdio_mux_schedule_output_job_locked(mux, stream);
		cocoon_stdio_mux_stream_unref(stream);
	}
	g_cond_broadcast(&mux->cond);
}

/**
 * cocoon_stdio_mux_allocate_stream_id:
 *
 * Returns: a non-zero id no stream of this mux uses.
 */
guint32
cocoon_stdio_mux_allocate_stream_id(CocoonStdioMux *mux)
{
	g_autoptr(GMutexLocker) locker = NULL;
	guint32 id;

	g_return_val_if_fail(mux != NULL, 0);

	locker = g_mutex_locker_new(&mux->mutex);
	do {
		id = ++mux->last_stream_id;
	} while (id == 0 || g_hash_table_contains(mux->streams, GUINT_TO_POINTER(id)));
	return id;
}

/**
 * cocoon_stdio_mux_is_closed:
 *
 * Returns: TRUE once the stdio connection ended
 */
gboolean
cocoon_stdio_mux_is_closed(CocoonStdioMux *mux)
{
	g_autoptr(GMutexLocker) locker = NULL;

	g_return_val_if_fail(mux != NULL, TRUE);

	locker = g_mutex_locker_new(&mux->mutex);
	return mux->conn_closed;
}

/**
 * cocoon_stdio_mux_set_closed_func:
 *
 * Sets the function called on context once the connection ended; called at once (on context)
 * when it already has. Keeps a reference on the mux until it ran, so iterate context.
 */
void
cocoon_stdio_mux_set_closed_func(CocoonStdioMux *mux, CocoonStdioMuxClosedFunc func,
				 gpointer user_data, GMainContext *context)
{
	g_autoptr(GMutexLocker) locker = NULL;

	g_return_if_fail(mux != NULL);

	locker = g_mutex_locker_new(&mux->mutex);
	mux->closed_func = func;
	mux->closed_data = user_data;
	g_clear_pointer(&mux->closed_context, g_main_context_unref);
	if (context != NULL)
		mux->closed_context = g_main_context_ref(context);
	cocoon_stdio_mux_notify_closed_locked(mux);
}

/**
 * cocoon_stdio_mux_close:
 *
 * Ends the connection and stops the mux thread (joined before this returns, unless another
 * caller is already closing). Outputs finish what they queued as far as it goes without blocking.
 */
void
cocoon_stdio_mux_close(CocoonStdioMux *mux)
{
	GThread *thread;

	g_return_if_fail(mux != NULL);

	g_mutex_lock(&mux->mutex);
	mux->stopping = TRUE;
	thread = g_steal_pointer(&mux->thread);
	if (thread != NULL)
		cocoon_stdio_mux_wake(mux);
	g_mutex_unlock(&mux->mutex);
	if (thread != NULL)
		g_thread_join(thread);
}

CocoonStdioMux *
cocoon_stdio_mux_ref(CocoonStdioMux *mux)
{
	g_return_val_if_fail(mux != NULL, NULL);
	g_atomic_int_inc(&mux->ref_count);
	return mux;
}

void
cocoon_stdio_mux_unref(CocoonStdioMux *mux)
{
	if (mux == NULL || !g_atomic_int_dec_and_test(&mux->ref_count))
		return;
	/* no job runs (each holds a reference) and none can start (cocoon_stdio_mux_try_ref fails
	 * now) */
	cocoon_stdio_mux_close(mux);
	g_hash_table_unref(mux->streams);
	g_ptr_array_unref(mux->inputs_to_close);
	cocoon_fd_closep(&mux->conn_fd);
	cocoon_fd_closep(&mux->wake_fd);
	g_byte_array_unref(mux->outbuf);
	g_clear_error(&mux->close_reason);
	g_clear_pointer(&mux->closed_context, g_main_context_unref);
	cocoon_stdio_frame_decoder_free(mux->decoder);
	g_free(mux->read_buffer);
	g_free(mux->input_buffer);
	g_mutex_clear(&mux->mutex);
	g_cond_clear(&mux->cond);
	g_free(mux->sandbox_id);
	g_free(mux);
}

/**
 * cocoon_stdio_mux_new:
 *
 * Starts the mux of a sandbox on a connected stream fd (taken, made non-blocking) and its thread.
 */
CocoonStdioMux *
cocoon_stdio_mux_new(gint fd, const gchar *sandbox_id, GError **error)
{
	cocoon_autofd gint conn_fd = fd;
	cocoon_autofd gint wake_fd = -1;
	CocoonStdioMux *mux;
	gint type = 0;
	socklen_t type_length = sizeof(type);

	g_return_val_if_fail(sandbox_id != NULL, NULL);

	if (conn_fd < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "sandbox %s: no stdio connection", sandbox_id);
		return NULL;
	}
	if (!set_nonblocking(conn_fd, error)) {
		g_prefix_error(error, "sandbox %s: stdio connection: ", sandbox_id);
		return NULL;
	}
	if (!cocoon_io_pool_ensure(error))
		return NULL;
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd < 0) {
		cocoon_set_error_from_errno(error, "sandbox %s: eventfd", sandbox_id);
		return NULL;
	}

	mux = g_new0(CocoonStdioMux, 1);
	mux->ref_count = 1;
	mux->sandbox_id = g_strdup(sandbox_id);
	g_mutex_init(&mux->mutex);
	g_cond_init(&mux->cond);
	mux->streams = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
					     cocoon_stdio_mux_stream_unref);
	mux->inputs_to_close = g_ptr_array_new_with_free_func(cocoon_stdio_mux_stream_unref);
	mux->conn_is_socket = getsockopt(conn_fd, SOL_SOCKET, SO_TYPE, &type, &type_length) == 0;
	mux->conn_fd = cocoon_steal_fd(&conn_fd);
	mux->wake_fd = cocoon_steal_fd(&wake_fd);
	mux->outbuf = g_byte_array_new();
	mux->decoder = cocoon_stdio_frame_decoder_new();
	mux->read_buffer = g_malloc(COCOON_STDIO_MUX_READ_SIZE);
	mux->input_buffer = g_malloc(COCOON_STDIO_MAX_DATA);

	mux->thread = g_thread_try_new("cocoon-stdio", cocoon_stdio_mux_thread, mux, error);
	if (mux->thread == NULL) {
		g_prefix_error(error,
			       "sandbox %s: cannot start the stdio mux thread: ", sandbox_id);
		mux->stopped = TRUE;
		cocoon_stdio_mux_unref(mux);
		return NULL;
	}
	return mux;
}
