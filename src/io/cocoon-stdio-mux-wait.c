/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-io"

#include "config.h"

#include "cocoon-stdio-mux.h"

#include <gio/gio.h>

#include "cocoon-stdio-mux-private.h"

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
