/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-io"

#include "config.h"

#include "cocoon-stdio-mux.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-fd.h"
#include "cocoon-stdio-mux-private.h"

typedef struct {
	CocoonStdioMux *mux;
	GError *error;
} ClosedNotification;

static gboolean
closed_notification_run(gpointer data)
{
	ClosedNotification *notification = data;
	CocoonStdioMux *mux = notification->mux;
	CocoonStdioMuxClosedFunc func;
	gpointer user_data;

	g_mutex_lock(&mux->mutex);
	func = mux->closed_func;
	user_data = mux->closed_data;
	g_mutex_unlock(&mux->mutex);
	if (func != NULL)
		func(mux, notification->error, user_data);
	return G_SOURCE_REMOVE;
}

static void
closed_notification_free(gpointer data)
{
	ClosedNotification *notification = data;

	g_error_free(notification->error);
	cocoon_stdio_mux_unref(notification->mux);
	g_free(notification);
}

void
cocoon_stdio_mux_notify_closed_locked(CocoonStdioMux *mux)
{
	g_autoptr(GSource) source = NULL;
	ClosedNotification *notification;

	if (!mux->conn_closed || mux->closed_notified || mux->closed_func == NULL)
		return;
	if (!cocoon_stdio_mux_try_ref(mux))
		return;
	mux->closed_notified = TRUE;
	notification = g_new0(ClosedNotification, 1);
	notification->mux = mux;
	notification->error = g_error_copy(mux->close_reason);
	/* always through a source: g_main_context_invoke() could run it here, under the lock */
	source = g_idle_source_new();
	g_source_set_priority(source, G_PRIORITY_DEFAULT);
	g_source_set_callback(source, closed_notification_run, notification,
			      closed_notification_free);
	g_source_set_static_name(source, "cocoon-stdio-mux-closed");
	g_source_attach(source, mux->closed_context);
}

/* the connection ended (mux thread only): outputs get EOF, inputs stop, reason is taken */
static void
conn_lost_locked(CocoonStdioMux *mux, GError *reason)
{
	GHashTableIter iter;
	gpointer value;

	if (mux->conn_closed) {
		g_error_free(reason);
		return;
	}
	g_debug("sandbox %s: stdio mux closed: %s", mux->sandbox_id, reason->message);
	mux->conn_closed = TRUE;
	mux->close_reason = reason;
	cocoon_fd_closep(&mux->conn_fd);
	g_byte_array_set_size(mux->outbuf, 0);

	g_hash_table_iter_init(&iter, mux->streams);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Stream *stream = value;

		if (stream->kind == STREAM_INPUT)
			cocoon_fd_closep(&stream->fd);
		else
			cocoon_stdio_mux_schedule_output_job_locked(mux, stream);
	}
	g_cond_broadcast(&mux->cond);
	cocoon_stdio_mux_notify_closed_locked(mux);
}

static void
conn_lost_errno_locked(CocoonStdioMux *mux, gint saved_errno, const gchar *what)
{
	conn_lost_locked(mux, g_error_new(G_IO_ERROR, g_io_error_from_errno(saved_errno),
					  "stdio connection of sandbox %s: %s: %s", mux->sandbox_id,
					  what, g_strerror(saved_errno)));
}

static gboolean
dispatch_frame_locked(CocoonStdioMux *mux, const CocoonStdioFrame *frame, GError **error)
{
	Stream *stream = g_hash_table_lookup(mux->streams, GUINT_TO_POINTER(frame->stream_id));

	switch (frame->type) {
	case COCOON_STDIO_FRAME_DATA: {
		gsize size = g_bytes_get_size(frame->data);

		if (stream == NULL || stream->kind != STREAM_OUTPUT || stream->eof) {
			/* a late or stray frame: drop it, credit it, never stall the mux */
			g_debug("sandbox %s: dropping %" G_GSIZE_FORMAT
				" bytes of stdio stream %u (%s)",
				mux->sandbox_id, size, frame->stream_id,
				stream == NULL			? "unknown stream"
				: stream->kind != STREAM_OUTPUT ? "not an output"
								: "after EOF");
			cocoon_stdio_mux_send_credit_locked(mux, frame->stream_id, size);
			return TRUE;
		}
		if (size > COCOON_STDIO_INITIAL_WINDOW - stream->queued) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "guest overran the window of stdio stream %u (%" G_GSIZE_FORMAT
				    " + %" G_GSIZE_FORMAT " bytes outstanding)",
				    frame->stream_id, stream->queued, size);
			return FALSE;
		}
		if (size == 0)
			return TRUE;
		stream->received += size;
		if (stream->write_failed) {
			cocoon_stdio_mux_send_credit_locked(mux, stream->id, size);
			stream->delivered += size;
			g_cond_broadcast(&mux->cond);
			return TRUE;
		}
		g_queue_push_tail(&stream->chunks, g_bytes_ref(frame->data));
		stream->queued += size;
		cocoon_stdio_mux_schedule_output_job_locked(mux, stream);
		return TRUE;
	}
	case COCOON_STDIO_FRAME_EOF:
		if (stream == NULL || stream->kind != STREAM_OUTPUT) {
			g_debug("sandbox %s: ignoring EOF of stdio stream %u", mux->sandbox_id,
				frame->stream_id);
			return TRUE;
		}
		stream->eof = TRUE;
		cocoon_stdio_mux_schedule_output_job_locked(mux, stream);
		return TRUE;
	case COCOON_STDIO_FRAME_CREDIT:
		if (stream == NULL || stream->kind != STREAM_INPUT)
			return TRUE;
		stream->credit += frame->credit;
		if (stream->credit > COCOON_STDIO_INITIAL_WINDOW) {
			g_debug("sandbox %s: guest credited stdio stream %u beyond the window",
				mux->sandbox_id, stream->id);
			stream->credit = COCOON_STDIO_INITIAL_WINDOW;
		}
		return TRUE;
	default:
		/* the decoder lets no other type through */
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "stdio frame of unknown type %u", frame->type);
		return FALSE;
	}
}

/* mux thread: read the connection once and dispatch every whole frame */
static void
read_conn(CocoonStdioMux *mux)
{
	g_autoptr(GMutexLocker) locker = NULL;
	gssize n;
	gint saved_errno;

	n = read(mux->conn_fd, mux->read_buffer, COCOON_STDIO_MUX_READ_SIZE);
	saved_errno = errno;
	locker = g_mutex_locker_new(&mux->mutex);
	if (n < 0) {
		if (saved_errno != EAGAIN && saved_errno != EINTR)
			conn_lost_errno_locked(mux, saved_errno, "read");
		return;
	}
	if (n == 0) {
		gsize pending = cocoon_stdio_frame_decoder_pending(mux->decoder);

		conn_lost_locked(mux, g_error_new(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
						  "stdio connection of sandbox %s closed by the "
						  "guest%s",
						  mux->sandbox_id,
						  pending > 0 ? " in the middle of a frame" : ""));
		return;
	}

	cocoon_stdio_frame_decoder_feed(mux->decoder, mux->read_buffer, (gsize)n);
	for (;;) {
		g_autoptr(GError) error = NULL;
		g_auto(CocoonStdioFrame) frame = {0};
		gboolean available = FALSE;

		if (!cocoon_stdio_frame_decoder_next(mux->decoder, &available, &frame, &error) ||
		    (available && !dispatch_frame_locked(mux, &frame, &error))) {
			g_prefix_error(&error,
				       "stdio protocol error from sandbox %s: ", mux->sandbox_id);
			conn_lost_locked(mux, g_steal_pointer(&error));
			return;
		}
		if (!available)
			return;
	}
}

/* mux thread: send what is buffered, as far as the connection takes it */
static void
flush_outbuf_locked(CocoonStdioMux *mux)
{
	while (mux->outbuf->len > 0 && !mux->conn_closed) {
		gssize n;

		if (mux->conn_is_socket)
			n = send(mux->conn_fd, mux->outbuf->data, mux->outbuf->len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = write(mux->conn_fd, mux->outbuf->data, mux->outbuf->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0 && errno == ENOTSOCK && mux->conn_is_socket) {
			mux->conn_is_socket = FALSE;
			continue;
		}
		if (n <= 0) {
			conn_lost_errno_locked(mux, n < 0 ? errno : EPIPE, "write");
			return;
		}
		g_byte_array_remove_range(mux->outbuf, 0, (guint)n);
	}
}

static void
close_input_locked(CocoonStdioMux *mux, Stream *stream, gboolean send_eof)
{
	if (send_eof && !stream->eof_sent && !stream->removed) {
		guint8 frame[COCOON_STDIO_EOF_FRAME_SIZE];

		cocoon_stdio_frame_encode_eof(stream->id, frame);
		cocoon_stdio_mux_send_locked(mux, frame, sizeof(frame), NULL, 0);
	}
	stream->eof_sent = TRUE;
	cocoon_fd_closep(&stream->fd);
}

/* mux thread: read an input within its credit and queue it as DATA */
static void
read_input(CocoonStdioMux *mux, Stream *stream)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&mux->mutex);
	guint8 header[COCOON_STDIO_HEADER_SIZE];
	gsize want;
	gssize n;
	gint saved_errno;

	if (stream->fd < 0 || stream->eof_sent || stream->removed || stream->close_requested ||
	    mux->conn_closed || stream->credit == 0)
		return;
	want = MIN(stream->credit, COCOON_STDIO_MAX_DATA);
	g_clear_pointer(&locker, g_mutex_locker_free);

	/* only this thread closes input fds: fd stays valid without the lock */
	n = read(stream->fd, mux->input_buffer, want);
	saved_errno = errno;

	locker = g_mutex_locker_new(&mux->mutex);
	if (n < 0 && (saved_errno == EAGAIN || saved_errno == EINTR))
		return;
	if (n > 0) {
		if (stream->removed || stream->close_requested || mux->conn_closed)
			return;
		cocoon_stdio_frame_header_encode(stream->id, COCOON_STDIO_FRAME_DATA, (guint32)n,
						 header);
		cocoon_stdio_mux_send_locked(mux, header, sizeof(header), mux->input_buffer,
					     (gsize)n);
		stream->credit -= (gsize)n;
		return;
	}
	if (n < 0)
		g_debug("sandbox %s: stdio stream %u: read: %s; sending EOF", mux->sandbox_id,
			stream->id, g_strerror(saved_errno));
	close_input_locked(mux, stream, TRUE);
}

typedef struct {
	GArray *pollfds;
	/* the stream of pollfds[i + first_stream] */
	GPtrArray *streams;
	guint first_stream;
	gint conn_index;
} PollSet;

static void
build_poll_set_locked(CocoonStdioMux *mux, PollSet *set)
{
	struct pollfd wake = {.fd = mux->wake_fd, .events = POLLIN};
	GHashTableIter iter;
	gpointer value;

	g_array_set_size(set->pollfds, 0);
	g_ptr_array_set_size(set->streams, 0);
	g_array_append_val(set->pollfds, wake);
	set->conn_index = -1;
	if (!mux->conn_closed) {
		struct pollfd conn = {.fd = mux->conn_fd, .events = POLLIN};

		if (mux->outbuf->len > 0)
			conn.events |= POLLOUT;
		set->conn_index = (gint)set->pollfds->len;
		g_array_append_val(set->pollfds, conn);
	}
	set->first_stream = set->pollfds->len;

	g_hash_table_iter_init(&iter, mux->streams);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Stream *stream = value;
		struct pollfd pfd = {.fd = stream->fd};

		if (stream->fd < 0)
			continue;
		if (stream->kind == STREAM_INPUT) {
			if (stream->close_requested) {
				close_input_locked(mux, stream, TRUE);
				continue;
			}
			if (stream->eof_sent || mux->conn_closed || stream->credit == 0 ||
			    mux->outbuf->len >= COCOON_STDIO_MUX_OUT_HIGH_WATER)
				continue;
			pfd.events = POLLIN;
		} else {
			if (!stream->waiting_writable)
				continue;
			pfd.events = POLLOUT;
		}
		g_array_append_val(set->pollfds, pfd);
		g_ptr_array_add(set->streams, cocoon_stdio_mux_stream_ref(stream));
	}
}

static void
close_removed_inputs_locked(CocoonStdioMux *mux)
{
	for (guint i = 0; i < mux->inputs_to_close->len; i++) {
		Stream *stream = g_ptr_array_index(mux->inputs_to_close, i);

		cocoon_fd_closep(&stream->fd);
	}
	g_ptr_array_set_size(mux->inputs_to_close, 0);
}

static void
block_sigpipe(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/*
 * the mux thread: poll()s the wake eventfd, the connection, the inputs with credit and the outputs
 * waiting for room; runs until cocoon_stdio_mux_close(), also after the connection ended, so queued
 * output still drains into slow readers.
 */
gpointer
cocoon_stdio_mux_thread(gpointer data)
{
	CocoonStdioMux *mux = data;
	PollSet set = {
		.pollfds = g_array_new(FALSE, TRUE, sizeof(struct pollfd)),
		.streams = g_ptr_array_new_with_free_func(cocoon_stdio_mux_stream_unref),
	};
	GHashTableIter iter;
	gpointer value;

	block_sigpipe();
	for (;;) {
		struct pollfd *pfds;

		g_mutex_lock(&mux->mutex);
		if (mux->stopping) {
			g_mutex_unlock(&mux->mutex);
			break;
		}
		close_removed_inputs_locked(mux);
		/* flush first: an input closed above may have queued its EOF */
		if (!mux->conn_closed && mux->outbuf->len > 0)
			flush_outbuf_locked(mux);
		build_poll_set_locked(mux, &set);
		g_mutex_unlock(&mux->mutex);

		pfds = (struct pollfd *)set.pollfds->data;
		if (poll(pfds, set.pollfds->len, -1) < 0) {
			if (errno != EINTR)
				g_warning("sandbox %s: stdio mux poll: %s", mux->sandbox_id,
					  g_strerror(errno));
			continue;
		}

		if (pfds[0].revents != 0) {
			guint64 count;

			if (read(mux->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
				g_debug("sandbox %s: wake: %s", mux->sandbox_id, g_strerror(errno));
		}
		if (set.conn_index >= 0 && pfds[set.conn_index].revents != 0) {
			short revents = pfds[set.conn_index].revents;

			if (revents & POLLOUT) {
				g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&mux->mutex);

				flush_outbuf_locked(mux);
			}
			if (revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
				gboolean closed;

				g_mutex_lock(&mux->mutex);
				closed = mux->conn_closed;
				g_mutex_unlock(&mux->mutex);
				if (!closed)
					read_conn(mux);
			}
		}
		for (guint i = 0; i < set.streams->len; i++) {
			Stream *stream = g_ptr_array_index(set.streams, i);
			short revents = pfds[set.first_stream + i].revents;

			if (revents == 0)
				continue;
			if (stream->kind == STREAM_INPUT) {
				read_input(mux, stream);
			} else {
				g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&mux->mutex);

				if (stream->waiting_writable) {
					stream->waiting_writable = FALSE;
					cocoon_stdio_mux_schedule_output_job_locked(mux, stream);
				}
			}
		}
		g_ptr_array_set_size(set.streams, 0);
	}

	/* stopping: the connection ends now, output jobs may no longer wait for room */
	g_mutex_lock(&mux->mutex);
	mux->stopped = TRUE;
	conn_lost_locked(mux, g_error_new(G_IO_ERROR, G_IO_ERROR_CLOSED,
					  "stdio mux of sandbox %s closed", mux->sandbox_id));
	close_removed_inputs_locked(mux);
	g_hash_table_iter_init(&iter, mux->streams);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Stream *stream = value;

		if (stream->kind == STREAM_OUTPUT && stream->waiting_writable) {
			stream->waiting_writable = FALSE;
			cocoon_stdio_mux_schedule_output_job_locked(mux, stream);
		}
	}
	g_cond_broadcast(&mux->cond);
	g_mutex_unlock(&mux->mutex);

	g_array_unref(set.pollfds);
	g_ptr_array_unref(set.streams);
	return NULL;
}
