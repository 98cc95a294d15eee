/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-io"

#include "config.h"

#include "cocoon-stdio-mux.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-fd.h"
#include "cocoon-io-pool.h"
#include "cocoon-stdio-mux-private.h"

void
cocoon_stdio_mux_drop_queued_locked(CocoonStdioMux *mux, Stream *stream)
{
	/* dropped bytes are credited all the same, so the guest's writer never stalls on them */
	cocoon_stdio_mux_send_credit_locked(mux, stream->id, stream->queued);
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
			cocoon_stdio_mux_drop_queued_locked(mux, stream);
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
			cocoon_stdio_mux_send_credit_locked(mux, stream->id, (gsize)n);
			continue;
		}
		if (n < 0 && saved_errno == EINTR)
			continue;
		if (n < 0 && saved_errno == EAGAIN && !mux->stopped) {
			/* the mux thread polls for POLLOUT and schedules the job again */
			stream->job_scheduled = FALSE;
			stream->waiting_writable = TRUE;
			cocoon_stdio_mux_wake(mux);
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
		cocoon_stdio_mux_stream_unref(stream);
		cocoon_stdio_mux_unref(mux);
	}
}

void
cocoon_stdio_mux_schedule_output_job_locked(CocoonStdioMux *mux, Stream *stream)
{
	g_autoptr(GError) error = NULL;

	if (stream->job_scheduled || stream->waiting_writable || stream->done)
		return;
	/* a mux being freed closes the remaining fds itself */
	if (!cocoon_stdio_mux_try_ref(mux))
		return;
	stream->job_scheduled = TRUE;
	cocoon_stdio_mux_stream_ref(stream);
	if (!cocoon_io_pool_push(output_job, stream, &error)) {
		/* the pool exists since cocoon_stdio_mux_new(): pushing does not fail */
		g_warning("sandbox %s: stdio stream %u: %s", mux->sandbox_id, stream->id,
			  error->message);
		stream->job_scheduled = FALSE;
		cocoon_stdio_mux_stream_unref(stream);
		g_atomic_int_dec_and_test(&mux->ref_count);
	}
}
