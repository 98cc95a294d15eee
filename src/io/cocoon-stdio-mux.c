/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-io"

#include "config.h"

#include "cocoon-stdio-mux.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-fd.h"
#include "cocoon-io-pool.h"
#include "cocoon-stdio-frame.h"

/* stop reading inputs while this much waits to go out (the guest is not reading) */
#define COCOON_STDIO_MUX_OUT_HIGH_WATER (256u * 1024u)
/* a pool job hands its thread back after copying this much, so busy streams share the pool */
#define COCOON_STDIO_MUX_JOB_SLICE (1u << 20)
#define COCOON_STDIO_MUX_READ_SIZE (2 * COCOON_STDIO_MAX_FRAME_SIZE)

typedef enum {
	STREAM_OUTPUT,
	STREAM_INPUT,
} StreamKind;

/*
 * every field is under mux->mutex. fd I/O happens outside the lock, by the one owner: the pool job
 * of the stream (job_scheduled) for an output, the mux thread for an input. Only those owners close
 * the fd, so an fd number is never reused under a reader or writer.
 */
typedef struct {
	gint ref_count;
	/* not a reference: streams are reached through the mux, or by a job holding a mux ref */
	CocoonStdioMux *mux;
	guint32 id;
	StreamKind kind;
	gint fd;
	gboolean removed;

	/* output: GBytes chunks received and not yet written, in order */
	GQueue chunks;
	gsize head_offset;
	/* bytes received and not yet credited: at most the window for a well-behaved guest */
	gsize queued;
	gboolean job_scheduled;
	gboolean waiting_writable;
	gboolean eof;
	gboolean write_failed;
	/* EOF seen (or connection gone), every byte written or dropped and fd closed */
	gboolean done;
	/* DATA bytes received since the stream was added, and of those written or dropped */
	guint64 received;
	guint64 delivered;

	/* input */
	gsize credit;
	gboolean eof_sent;
	gboolean close_requested;
} Stream;

struct _CocoonStdioMux {
	gint ref_count;
	gchar *sandbox_id;

	GMutex mutex;
	/* signalled when an output stream is done or the mux thread stopped */
	GCond cond;
	/* guint32 id → Stream */
	GHashTable *streams;
	/* inputs removed while the mux thread may be reading them: it closes them */
	GPtrArray *inputs_to_close;
	guint32 last_stream_id;

	/* the connection: owned by the mux thread; -1 once closed */
	gint conn_fd;
	gboolean conn_is_socket;
	gboolean conn_closed;
	GError *close_reason;
	/* frames waiting to go out on the connection */
	GByteArray *outbuf;
	gint wake_fd;

	GThread *thread;
	gboolean stopping;
	/* the mux thread is gone: nobody waits for output fds to become writable any more */
	gboolean stopped;

	CocoonStdioMuxClosedFunc closed_func;
	gpointer closed_data;
	GMainContext *closed_context;
	gboolean closed_notified;

	/* mux thread only */
	CocoonStdioFrameDecoder *decoder;
	guint8 *read_buffer;
	guint8 *input_buffer;
};

static void schedule_output_job_locked(CocoonStdioMux *mux, Stream *stream);

static Stream *
stream_ref(Stream *stream)
{
	g_atomic_int_inc(&stream->ref_count);
	return stream;
}

static void
stream_unref(gpointer data)
{
	Stream *stream = data;

	if (stream == NULL || !g_atomic_int_dec_and_test(&stream->ref_count))
		return;
	cocoon_fd_closep(&stream->fd);
	g_queue_clear_full(&stream->chunks, (GDestroyNotify)g_bytes_unref);
	g_free(stream);
}

static Stream *
stream_new(CocoonStdioMux *mux, guint32 id, StreamKind kind, gint fd)
{
	Stream *stream = g_new0(Stream, 1);

	stream->ref_count = 1;
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
static gboolean
mux_try_ref(CocoonStdioMux *mux)
{
	gint old;

	do {
		old = g_atomic_int_get(&mux->ref_count);
		if (old == 0)
			return FALSE;
	} while (!g_atomic_int_compare_and_exchange(&mux->ref_count, old, old + 1));
	return TRUE;
}

static void
mux_wake(CocoonStdioMux *mux)
{
	guint64 one = 1;

	/* EAGAIN means the counter is already non-zero: the thread will wake anyway */
	if (write(mux->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		g_debug("sandbox %s: cannot wake the stdio mux thread: %s", mux->sandbox_id,
			g_strerror(errno));
}

static void
send_locked(CocoonStdioMux *mux, const guint8 *header, gsize header_size, const guint8 *payload,
	    gsize payload_size)
{
	gboolean was_empty = mux->outbuf->len == 0;

	if (mux->conn_closed)
		return;
	g_byte_array_append(mux->outbuf, header, (guint)header_size);
	if (payload_size > 0)
		g_byte_array_append(mux->outbuf, payload, (guint)payload_size);
	if (was_empty)
		mux_wake(mux);
}

static void
send_credit_locked(CocoonStdioMux *mux, guint32 stream_id, gsize credit)
{
	while (credit > 0) {
		guint8 frame[COCOON_STDIO_CREDIT_FRAME_SIZE];
		guint32 chunk = (guint32)MIN(credit, G_MAXUINT32);

		cocoon_stdio_frame_encode_credit(stream_id, chunk, frame);
		send_locked(mux, frame, sizeof(frame), NULL, 0);
		credit -= chunk;
	}
}

static void
drop_queued_locked(CocoonStdioMux *mux, Stream *stream)
{
	/* dropped bytes are credited all the same, so the guest's writer never stalls on them */
	send_credit_locked(mux, stream->id, stream->queued);
	stream->delivered += stream->queued;
	if (stream->queued > 0)
		g_cond_broadcast(&mux->cond);
	g_queue_clear_full(&stream->chunks, (GDestroyNotify)g_bytes_unref);
	stream->head_offset = 0;
	stream->queued = 0;
}

static void
consume_sigpipe(void)
{
	const struct timespec zero = {0};
	sigset_t set;

	/* SIGPIPE is blocked in the I/O pool: take the pending one back so it never surfaces */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	while (sigtimedwait(&set, NULL, &zero) == SIGPIPE)
		;
}

/* called by the owning job with the lock held; drops it around close() */
static void
finish_output_locked(CocoonStdioMux *mux, Stream *stream)
{
	cocoon_autofd gint fd = cocoon_steal_fd(&stream->fd);

	g_mutex_unlock(&mux->mutex);
	cocoon_fd_closep(&fd);
	g_mutex_lock(&mux->mutex);
	if (!stream->done) {
		stream->done = TRUE;
		g_cond_broadcast(&mux->cond);
	}
}

/*
 * the copy of one output stream, on the I/O pool; at most one per stream at a time (job_scheduled).
 * Holds a mux reference and a stream reference.
 */
static void
output_job(gpointer data)
{
	Stream *stream = data;
	CocoonStdioMux *mux = stream->mux;
	gsize copied = 0;
	gboolean requeued = FALSE;

	g_mutex_lock(&mux->mutex);
	for (;;) {
		g_autoptr(GBytes) chunk = NULL;
		const guint8 *bytes;
		gsize size = 0;
		gsize offset;
		gssize n;
		gint saved_errno;

		if (stream->removed || stream->write_failed)
			drop_queued_locked(mux, stream);
		if (g_queue_is_empty(&stream->chunks)) {
			if (stream->eof || stream->removed || mux->conn_closed)
				finish_output_locked(mux, stream);
			stream->job_scheduled = FALSE;
			break;
		}
		if (copied >= COCOON_STDIO_MUX_JOB_SLICE) {
			g_autoptr(GError) error = NULL;

			/* to the back of the pool's queue, with this job's references */
			if (cocoon_io_pool_push(output_job, stream, &error)) {
				requeued = TRUE;
				break;
			}
			g_debug("sandbox %s: stdio stream %u: %s", mux->sandbox_id, stream->id,
				error->message);
			copied = 0;
		}

		chunk = g_bytes_ref(g_queue_peek_head(&stream->chunks));
		bytes = g_bytes_get_data(chunk, &size);
		offset = stream->head_offset;
		g_mutex_unlock(&mux->mutex);
		n = write(stream->fd, bytes + offset, size - offset);
		saved_errno = errno;
		g_mutex_lock(&mux->mutex);

		if (n > 0) {
			copied += (gsize)n;
			stream->head_offset += (gsize)n;
			stream->queued -= (gsize)n;
			stream->delivered += (guint64)n;
			/* a waiter for an offset may be done */
			g_cond_broadcast(&mux->cond);
			if (stream->head_offset == size) {
				g_bytes_unref(g_queue_pop_head(&stream->chunks));
				stream->head_offset = 0;
			}
			/* written on: now the guest may send that much more */
			send_credit_locked(mux, stream->id, (gsize)n);
			continue;
		}
		if (n < 0 && saved_errno == EINTR)
			continue;
		if (n < 0 && saved_errno == EAGAIN && !mux->stopped) {
			/* the mux thread polls for POLLOUT and schedules the job again */
			stream->job_scheduled = FALSE;
			stream->waiting_writable = TRUE;
			mux_wake(mux);
			break;
		}
		if (n < 0 && saved_errno == EPIPE)
			consume_sigpipe();
		g_debug("sandbox %s: stdio stream %u: %s; dropping the rest of the stream",
			mux->sandbox_id, stream->id,
			n < 0 && saved_errno != EAGAIN ? g_strerror(saved_errno)
						       : "the mux is closed and the fd is full");
		stream->write_failed = TRUE;
	}
	g_mutex_unlock(&mux->mutex);

	if (!requeued) {
		stream_unref(stream);
		cocoon_stdio_mux_unref(mux);
	}
}

static void
schedule_output_job_locked(CocoonStdioMux *mux, Stream *stream)
{
	g_autoptr(GError) error = NULL;

	if (stream->job_scheduled || stream->waiting_writable || stream->done)
		return;
	/* a mux being freed closes the remaining fds itself */
	if (!mux_try_ref(mux))
		return;
	stream->job_scheduled = TRUE;
	stream_ref(stream);
	if (!cocoon_io_pool_push(output_job, stream, &error)) {
		/* the pool exists since cocoon_stdio_mux_new(): pushing does not fail */
		g_warning("sandbox %s: stdio stream %u: %s", mux->sandbox_id, stream->id,
			  error->message);
		stream->job_scheduled = FALSE;
		stream_unref(stream);
		g_atomic_int_dec_and_test(&mux->ref_count);
	}
}

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

static void
notify_closed_locked(CocoonStdioMux *mux)
{
	g_autoptr(GSource) source = NULL;
	ClosedNotification *notification;

	if (!mux->conn_closed || mux->closed_notified || mux->closed_func == NULL)
		return;
	if (!mux_try_ref(mux))
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
			schedule_output_job_locked(mux, stream);
	}
	g_cond_broadcast(&mux->cond);
	notify_closed_locked(mux);
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
			send_credit_locked(mux, frame->stream_id, size);
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
			send_credit_locked(mux, stream->id, size);
			stream->delivered += size;
			g_cond_broadcast(&mux->cond);
			return TRUE;
		}
		g_queue_push_tail(&stream->chunks, g_bytes_ref(frame->data));
		stream->queued += size;
		schedule_output_job_locked(mux, stream);
		return TRUE;
	}
	case COCOON_STDIO_FRAME_EOF:
		if (stream == NULL || stream->kind != STREAM_OUTPUT) {
			g_debug("sandbox %s: ignoring EOF of stdio stream %u", mux->sandbox_id,
				frame->stream_id);
			return TRUE;
		}
		stream->eof = TRUE;
		schedule_output_job_locked(mux, stream);
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
		send_locked(mux, frame, sizeof(frame), NULL, 0);
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
		send_locked(mux, header, sizeof(header), mux->input_buffer, (gsize)n);
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
		g_ptr_array_add(set->streams, stream_ref(stream));
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
static gpointer
mux_thread(gpointer data)
{
	CocoonStdioMux *mux = data;
	PollSet set = {
		.pollfds = g_array_new(FALSE, TRUE, sizeof(struct pollfd)),
		.streams = g_ptr_array_new_with_free_func(stream_unref),
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
					schedule_output_job_locked(mux, stream);
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
			schedule_output_job_locked(mux, stream);
		}
	}
	g_cond_broadcast(&mux->cond);
	g_mutex_unlock(&mux->mutex);

	g_array_unref(set.pollfds);
	g_ptr_array_unref(set.streams);
	return NULL;
}

static gboolean
set_nonblocking(gint fd, GError **error)
{
	gint flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		gint saved_errno = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
			    "cannot make fd %d non-blocking: %s", fd, g_strerror(saved_errno));
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
		mux_wake(mux);
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
	mux_wake(mux);
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
			stream_unref(stream);
		} else {
			g_ptr_array_add(mux->inputs_to_close, stream);
			mux_wake(mux);
		}
	} else {
		/* the stream's job drops what is queued (crediting it) and closes fd */
		stream->waiting_writable = FALSE;
		schedule_output_job_locked(mux, stream);
		stream_unref(stream);
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

static gboolean
outputs_done_locked(CocoonStdioMux *mux, const guint32 *stream_ids, guint n)
{
	for (guint i = 0; i < n; i++) {
		Stream *stream = g_hash_table_lookup(mux->streams, GUINT_TO_POINTER(stream_ids[i]));

		if (stream != NULL && stream->kind == STREAM_OUTPUT && !stream->done)
			return FALSE;
	}
	return TRUE;
}

/**
 * cocoon_stdio_mux_wait_outputs:
 *
 * Blocks the calling thread until the listed output streams are done (EOF seen, every byte
 * written, fd closed) or the deadline passes. Call it before reporting an exit so the tail of
 * the output is not lost.
 *
 * Returns: TRUE when all are done, FALSE on timeout
 */
gboolean
cocoon_stdio_mux_wait_outputs(CocoonStdioMux *mux, const guint32 *stream_ids, guint n,
			      gint64 deadline_monotonic_us)
{
	g_autoptr(GMutexLocker) locker = NULL;

	g_return_val_if_fail(mux != NULL, FALSE);
	g_return_val_if_fail(n == 0 || stream_ids != NULL, FALSE);

	locker = g_mutex_locker_new(&mux->mutex);
	while (!outputs_done_locked(mux, stream_ids, n)) {
		if (!g_cond_wait_until(&mux->cond, &mux->mutex, deadline_monotonic_us))
			return outputs_done_locked(mux, stream_ids, n);
	}
	return TRUE;
}

/* every listed stream reached its offset (or is done, or not an output); *ret_progress: the sum of
 * their counters, which moves whenever one of them received or delivered bytes */
static gboolean
outputs_delivered_locked(CocoonStdioMux *mux, const guint32 *stream_ids, const guint64 *offsets,
			 guint n, guint64 *ret_progress)
{
	gboolean all = TRUE;
	guint64 progress = 0;

	for (guint i = 0; i < n; i++) {
		Stream *stream = g_hash_table_lookup(mux->streams, GUINT_TO_POINTER(stream_ids[i]));

		if (stream == NULL || stream->kind != STREAM_OUTPUT)
			continue;
		progress += stream->received + stream->delivered;
		if (!stream->done && (offsets == NULL || stream->delivered < offsets[i]))
			all = FALSE;
	}
	*ret_progress = progress;
	return all;
}

/**
 * cocoon_stdio_mux_wait_delivered:
 *
 * Blocks the calling thread until each listed output stream delivered offsets[i] bytes (written to
 * its fd, or dropped after a write error) or is done; with offsets NULL, until every one is done.
 * Offsets come from the guest: a wrong one costs at most idle_us after the last byte moved on any
 * listed stream, and never more than the deadline.
 *
 * Returns: TRUE when all are there, FALSE when the idle time or the deadline passed first
 */
gboolean
cocoon_stdio_mux_wait_delivered(CocoonStdioMux *mux, const guint32 *stream_ids,
				const guint64 *offsets, guint n, gint64 idle_us,
				gint64 deadline_monotonic_us)
{
	g_autoptr(GMutexLocker) locker = NULL;
	guint64 progress = 0;
	guint64 last_progress;
	gint64 idle_deadline;

	g_return_val_if_fail(mux != NULL, FALSE);
	g_return_val_if_fail(n == 0 || stream_ids != NULL, FALSE);

	locker = g_mutex_locker_new(&mux->mutex);
	if (outputs_delivered_locked(mux, stream_ids, offsets, n, &progress))
		return TRUE;
	last_progress = progress;
	idle_deadline = g_get_monotonic_time() + idle_us;
	for (;;) {
		/* woken by any stream of the mux, or spuriously: the clock decides */
		(void)g_cond_wait_until(&mux->cond, &mux->mutex,
					MIN(idle_deadline, deadline_monotonic_us));
		if (outputs_delivered_locked(mux, stream_ids, offsets, n, &progress))
			return TRUE;
		if (progress != last_progress) {
			last_progress = progress;
			idle_deadline = g_get_monotonic_time() + idle_us;
		}
		if (g_get_monotonic_time() >= MIN(idle_deadline, deadline_monotonic_us))
			return FALSE;
	}
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
	notify_closed_locked(mux);
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
		mux_wake(mux);
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
	/* no job runs (each holds a reference) and none can start (mux_try_ref fails now) */
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
		gint saved_errno = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
			    "sandbox %s: eventfd: %s", sandbox_id, g_strerror(saved_errno));
		return NULL;
	}

	mux = g_new0(CocoonStdioMux, 1);
	mux->ref_count = 1;
	mux->sandbox_id = g_strdup(sandbox_id);
	g_mutex_init(&mux->mutex);
	g_cond_init(&mux->cond);
	mux->streams = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, stream_unref);
	mux->inputs_to_close = g_ptr_array_new_with_free_func(stream_unref);
	mux->conn_is_socket = getsockopt(conn_fd, SOL_SOCKET, SO_TYPE, &type, &type_length) == 0;
	mux->conn_fd = cocoon_steal_fd(&conn_fd);
	mux->wake_fd = cocoon_steal_fd(&wake_fd);
	mux->outbuf = g_byte_array_new();
	mux->decoder = cocoon_stdio_frame_decoder_new();
	mux->read_buffer = g_malloc(COCOON_STDIO_MUX_READ_SIZE);
	mux->input_buffer = g_malloc(COCOON_STDIO_MAX_DATA);

	mux->thread = g_thread_try_new("cocoon-stdio", mux_thread, mux, error);
	if (mux->thread == NULL) {
		g_prefix_error(error,
			       "sandbox %s: cannot start the stdio mux thread: ", sandbox_id);
		mux->stopped = TRUE;
		cocoon_stdio_mux_unref(mux);
		return NULL;
	}
	return mux;
}
