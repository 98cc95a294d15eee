/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-stdio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-guest-fd-watch.h"
#include "cocoon-stdio-frame.h"

/* bytes queued for the port above which output streams stop reading their pipes */
#define OUT_QUEUE_HIGH (512u * 1024)
/* reads of one output stream per dispatch, so one chatty stream does not starve the others */
#define READS_PER_DISPATCH 4
/* a port read */
#define PORT_READ_SIZE (64u * 1024)
/* stdin EOFs remembered for streams not yet added */
#define EARLY_EOFS_MAX 1024
/* the staging pipe of splice: one DATA frame at a time, room for the buffers of any stream pipe */
#define STAGING_PIPE_SIZE (1024 * 1024)
/* the rest of a frame that was partly spliced to the port before it had to be copied */
#define FRAME_REST 0xffu

typedef struct {
	CocoonGuestStdio *mux;
	guint32 id;
	gboolean output;
	int fd;
	GSource *watch;

	/* output */
	guint64 window;
	/* bytes taken from the fd into DATA frames (on the port, staged or queued) */
	guint64 forwarded;
	/* the fd is a pipe: DATA goes to the port by splice(2), not copied through the agent */
	gboolean splice;
	gboolean eof_queued;
	CocoonGuestStdioEofFunc eof_func;
	gpointer eof_data;

	/* input */
	GByteArray *pending;
	gsize pending_offset;
	/* leading pending bytes of an old session: written but never credited */
	gsize uncreditable;
	gboolean close_requested;
} Stream;

typedef struct {
	GBytes *bytes;
	guint32 stream_id;
	guint8 type;
} OutFrame;

struct _CocoonGuestStdio {
	GHashTable *streams;	/* id -> Stream */
	GHashTable *early_eofs; /* ids */

	int fd;
	gboolean fd_borrowed;
	GSource *port_watch;
	CocoonStdioFrameDecoder *decoder;
	GQueue out; /* OutFrame */
	gsize out_offset;
	gsize out_bytes;
	gboolean out_blocked;

	/*
	 * splice: a DATA frame is built in the staging pipe (its header written, then the payload
	 * spliced from the stream's pipe) and spliced to the port, always the staging pipe's whole
	 * content (virtio_console's splice_write is only safe when it takes every buffer of the
	 * pipe). While staged bytes remain nothing else is written and no output is read.
	 */
	int staging[2];
	gsize staged;
	gsize staged_frame;
	guint32 staged_stream_id;
	gboolean no_splice;

	CocoonGuestStdioDisconnectedFunc disconnected_func;
	gpointer disconnected_data;
};

static void port_update_watch(CocoonGuestStdio *mux);
static void port_disconnect(CocoonGuestStdio *mux, const gchar *reason);
static void output_update_watch(Stream *stream);

static void
out_frame_free(OutFrame *frame)
{
	g_bytes_unref(frame->bytes);
	g_free(frame);
}

static void
queue_frame(CocoonGuestStdio *mux, GBytes *bytes, guint32 stream_id, guint8 type)
{
	OutFrame *frame = g_new0(OutFrame, 1);

	frame->bytes = bytes;
	frame->stream_id = stream_id;
	frame->type = type;
	mux->out_bytes += g_bytes_get_size(bytes);
	g_queue_push_tail(&mux->out, frame);
	if (mux->out_bytes >= OUT_QUEUE_HIGH)
		mux->out_blocked = TRUE;
	port_update_watch(mux);
}

static void
queue_eof(CocoonGuestStdio *mux, guint32 stream_id)
{
	guint8 buf[COCOON_STDIO_EOF_FRAME_SIZE];

	cocoon_stdio_frame_encode_eof(stream_id, buf);
	queue_frame(mux, g_bytes_new(buf, sizeof(buf)), stream_id, COCOON_STDIO_FRAME_EOF);
}

static void
queue_credit(CocoonGuestStdio *mux, guint32 stream_id, gsize credit)
{
	/* a credit is a u32: split the (theoretical) larger ones */
	while (credit > 0) {
		guint32 chunk = (guint32)MIN(credit, (gsize)G_MAXUINT32);
		guint8 buf[COCOON_STDIO_CREDIT_FRAME_SIZE];

		cocoon_stdio_frame_encode_credit(stream_id, chunk, buf);
		queue_frame(mux, g_bytes_new(buf, sizeof(buf)), stream_id,
			    COCOON_STDIO_FRAME_CREDIT);
		credit -= chunk;
	}
}

/* DATA already queued for a stream: it counts against the window of a new session */
static gsize
queued_data(CocoonGuestStdio *mux, guint32 stream_id)
{
	gsize total = 0;

	for (GList *l = mux->out.head; l != NULL; l = l->next) {
		OutFrame *frame = l->data;
		if (frame->stream_id == stream_id && frame->type == COCOON_STDIO_FRAME_DATA)
			total += g_bytes_get_size(frame->bytes) - COCOON_STDIO_HEADER_SIZE;
	}
	return total;
}

static void
stream_close_fd(Stream *stream)
{
	cocoon_guest_fd_watch_clear(&stream->watch);
	cocoon_fd_closep(&stream->fd);
}

static void
stream_free(Stream *stream)
{
	stream_close_fd(stream);
	if (stream->pending != NULL)
		g_byte_array_unref(stream->pending);
	g_free(stream);
}

/* output streams */

static void
output_eof(Stream *stream)
{
	stream_close_fd(stream);
	if (!stream->eof_queued) {
		stream->eof_queued = TRUE;
		queue_eof(stream->mux, stream->id);
	}
}

static gboolean
staging_ensure(CocoonGuestStdio *mux)
{
	if (mux->staging[0] >= 0)
		return TRUE;
	if (pipe2(mux->staging, O_NONBLOCK | O_CLOEXEC) < 0) {
		g_debug("staging pipe: %s; stdout is copied", g_strerror(errno));
		mux->staging[0] = mux->staging[1] = -1;
		mux->no_splice = TRUE;
		return FALSE;
	}
	/* best effort: a smaller one only makes large frames fall back to copies */
	(void)fcntl(mux->staging[0], F_SETPIPE_SZ, STAGING_PIPE_SIZE);
	return TRUE;
}

/* reads up to length staged bytes into buf (they are all in the pipe), returns how many */
static gsize
staging_read(CocoonGuestStdio *mux, guint8 *buf, gsize length)
{
	gsize have = 0;

	while (have < length) {
		ssize_t n = read(mux->staging[0], buf + have, length - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (gsize)n;
	}
	return have;
}

/* the staged rest goes first in the queue, as bytes (the port cannot take splices) */
static void
staging_to_queue(CocoonGuestStdio *mux)
{
	guint8 *buf = g_malloc(mux->staged);
	gsize have = staging_read(mux, buf, mux->staged);
	OutFrame *frame = g_new0(OutFrame, 1);

	g_assert(have == mux->staged);
	frame->bytes = g_bytes_new_take(buf, have);
	/* a whole frame is DATA, counted against its window on reconnection */
	frame->type = have == mux->staged_frame ? COCOON_STDIO_FRAME_DATA : FRAME_REST;
	frame->stream_id = mux->staged_stream_id;
	mux->out_bytes += have;
	g_queue_push_head(&mux->out, frame);
	mux->staged = 0;
}

/* moves the staged frame to the port; FALSE while the port has no room (or is gone) */
static gboolean
staging_flush(CocoonGuestStdio *mux)
{
	while (mux->fd >= 0 && mux->staged > 0) {
		ssize_t n = splice(mux->staging[0], NULL, mux->fd, NULL, mux->staged,
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return FALSE;
		if (n < 0 && errno == EINVAL) {
			g_debug("stdio port cannot splice; stdout is copied");
			mux->no_splice = TRUE;
			staging_to_queue(mux);
			return TRUE;
		}
		if (n <= 0) {
			/* 0 with bytes staged: the port took them and could not queue them */
			g_autofree gchar *reason =
				n == 0 ? g_strdup_printf("splice lost %" G_GSIZE_FORMAT " bytes",
							 mux->staged)
				       : g_strdup_printf("splice: %s", g_strerror(errno));
			port_disconnect(mux, reason);
			return FALSE;
		}
		mux->staged -= (gsize)n;
	}
	return mux->fd >= 0;
}

/*
 * the next DATA frame of stream, length bytes that are in its pipe now; FALSE when splice cannot
 * be used (the caller reads instead)
 */
static gboolean
output_splice(Stream *stream, gsize length)
{
	CocoonGuestStdio *mux = stream->mux;
	guint8 header[COCOON_STDIO_HEADER_SIZE];
	ssize_t moved;

	if (mux->no_splice || !staging_ensure(mux))
		return FALSE;
	cocoon_stdio_frame_header_encode(stream->id, COCOON_STDIO_FRAME_DATA, (guint32)length,
					 header);
	/* the staging pipe is empty: the header fits, in one write */
	if (write(mux->staging[1], header, sizeof(header)) != (ssize_t)sizeof(header)) {
		mux->no_splice = TRUE;
		return FALSE;
	}
	do
		moved = splice(stream->fd, NULL, mux->staging[1], NULL, length,
			       SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
	while (moved < 0 && errno == EINTR);
	if (moved != (ssize_t)length) {
		/* the staging pipe ran out of slots (or the fd cannot splice): copy what moved */
		g_autofree guint8 *buf = g_malloc(sizeof(header) + length);
		gsize have = staging_read(mux, buf, sizeof(header) + length);

		if (moved < 0)
			stream->splice = FALSE;
		if (have <= sizeof(header))
			return moved >= 0;
		have -= sizeof(header);
		cocoon_stdio_frame_header_encode(stream->id, COCOON_STDIO_FRAME_DATA, (guint32)have,
						 buf);
		stream->window -= (guint64)have;
		stream->forwarded += (guint64)have;
		queue_frame(mux, g_bytes_new_take(g_steal_pointer(&buf), sizeof(header) + have),
			    stream->id, COCOON_STDIO_FRAME_DATA);
		return TRUE;
	}
	stream->window -= (guint64)length;
	stream->forwarded += (guint64)length;
	mux->staged = mux->staged_frame = sizeof(header) + length;
	mux->staged_stream_id = stream->id;
	if (!staging_flush(mux))
		port_update_watch(mux);
	return TRUE;
}

static void
output_read(Stream *stream)
{
	CocoonGuestStdio *mux = stream->mux;

	for (guint i = 0; i < READS_PER_DISPATCH; i++) {
		gsize want = (gsize)MIN(stream->window, (guint64)COCOON_STDIO_MAX_DATA);
		guint8 *buf;
		ssize_t n;
		int available = 0;

		if (stream->fd < 0 || want == 0 || mux->out_blocked || mux->staged > 0)
			break;
		/*
		 * with nothing queued before it, a pipe's bytes go to the port by splice; an empty
		 * pipe is read() below, which tells EOF from a spurious wake-up
		 */
		if (stream->splice && mux->fd >= 0 && g_queue_is_empty(&mux->out) &&
		    ioctl(stream->fd, FIONREAD, &available) == 0 && available > 0 &&
		    output_splice(stream, MIN(want, (gsize)available)))
			continue;
		buf = g_malloc(COCOON_STDIO_HEADER_SIZE + want);
		do
			n = read(stream->fd, buf + COCOON_STDIO_HEADER_SIZE, want);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			g_free(buf);
			break;
		}
		if (n <= 0) {
			/* EIO: the pty's last slave closed */
			if (n < 0 && errno != EIO)
				g_debug("stream %u: read: %s", stream->id, g_strerror(errno));
			g_free(buf);
			output_eof(stream);
			break;
		}
		cocoon_stdio_frame_header_encode(stream->id, COCOON_STDIO_FRAME_DATA, (guint32)n,
						 buf);
		if ((gsize)n < want / 2)
			buf = g_realloc(buf, COCOON_STDIO_HEADER_SIZE + (gsize)n);
		stream->window -= (guint64)n;
		stream->forwarded += (guint64)n;
		queue_frame(mux, g_bytes_new_take(buf, COCOON_STDIO_HEADER_SIZE + (gsize)n),
			    stream->id, COCOON_STDIO_FRAME_DATA);
	}
	output_update_watch(stream);
}

static void
output_update_watch(Stream *stream)
{
	gboolean want = stream->fd >= 0 && stream->window > 0 && !stream->mux->out_blocked &&
			stream->mux->staged == 0;

	if (stream->watch != NULL)
		cocoon_guest_fd_watch_set(stream->watch, want ? G_IO_IN : 0);
}

static void
outputs_resume(CocoonGuestStdio *mux)
{
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, mux->streams);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Stream *stream = value;
		if (stream->output)
			output_update_watch(stream);
	}
}

/* input streams */

static void input_update_watch(Stream *stream);

static gsize
input_pending_length(Stream *stream)
{
	return stream->pending->len - stream->pending_offset;
}

/* credits written bytes, except those of an old session */
static void
input_credit(Stream *stream, gsize written)
{
	gsize skip = MIN(written, stream->uncreditable);

	stream->uncreditable -= skip;
	if (written > skip)
		queue_credit(stream->mux, stream->id, written - skip);
}

static void
input_drop_pending(Stream *stream)
{
	input_credit(stream, input_pending_length(stream));
	g_byte_array_set_size(stream->pending, 0);
	stream->pending_offset = 0;
}

static void
input_flush(Stream *stream)
{
	gsize written = 0;

	while (stream->fd >= 0 && input_pending_length(stream) > 0) {
		ssize_t n = write(stream->fd, stream->pending->data + stream->pending_offset,
				  input_pending_length(stream));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			/* EPIPE: the process closed its stdin; what it never reads is credited */
			g_debug("stream %u: write: %s", stream->id, g_strerror(errno));
			stream_close_fd(stream);
			break;
		}
		written += (gsize)n;
		stream->pending_offset += (gsize)n;
	}
	if (written > 0)
		input_credit(stream, written);
	if (stream->fd < 0)
		input_drop_pending(stream);
	if (input_pending_length(stream) == 0) {
		g_byte_array_set_size(stream->pending, 0);
		stream->pending_offset = 0;
		if (stream->close_requested)
			stream_close_fd(stream);
	} else if (stream->pending_offset > COCOON_STDIO_INITIAL_WINDOW / 2) {
		g_byte_array_remove_range(stream->pending, 0, (guint)stream->pending_offset);
		stream->pending_offset = 0;
	}
	input_update_watch(stream);
}

/* a stream's fd is ready: an output has something to read, an input room to write */
static gboolean
stream_ready_cb(GIOCondition revents, gpointer user_data)
{
	Stream *stream = user_data;

	if (stream->output)
		output_read(stream);
	else
		input_flush(stream);
	return G_SOURCE_CONTINUE;
}

static void
input_update_watch(Stream *stream)
{
	if (stream->watch != NULL)
		cocoon_guest_fd_watch_set(
			stream->watch,
			stream->fd >= 0 && input_pending_length(stream) > 0 ? G_IO_OUT : 0);
}

/* frames from the host */

static void
handle_data(CocoonGuestStdio *mux, guint32 id, GBytes *data)
{
	Stream *stream = g_hash_table_lookup(mux->streams, GUINT_TO_POINTER(id));
	gsize length = g_bytes_get_size(data);

	if (stream == NULL || stream->output || stream->fd < 0 || stream->close_requested) {
		/* a late or stray frame must never stall the host's window */
		g_debug("stream %u: %" G_GSIZE_FORMAT " bytes for no open input, dropped", id,
			length);
		if (length > 0)
			queue_credit(mux, id, length);
		return;
	}
	if (input_pending_length(stream) + length > COCOON_STDIO_INITIAL_WINDOW) {
		g_warning("stream %u: host sent beyond its window, %" G_GSIZE_FORMAT
			  " bytes dropped",
			  id, length);
		queue_credit(mux, id, length);
		return;
	}
	g_byte_array_append(stream->pending, g_bytes_get_data(data, NULL), (guint)length);
	input_flush(stream);
}

static void
handle_eof(CocoonGuestStdio *mux, guint32 id)
{
	Stream *stream = g_hash_table_lookup(mux->streams, GUINT_TO_POINTER(id));

	if (stream == NULL) {
		if (g_hash_table_size(mux->early_eofs) < EARLY_EOFS_MAX)
			g_hash_table_add(mux->early_eofs, GUINT_TO_POINTER(id));
		return;
	}
	if (stream->output)
		return;
	stream->close_requested = TRUE;
	input_flush(stream);
}

static void
handle_credit(CocoonGuestStdio *mux, guint32 id, guint32 credit)
{
	Stream *stream = g_hash_table_lookup(mux->streams, GUINT_TO_POINTER(id));

	if (stream == NULL || !stream->output)
		return;
	/* a host granting too much only hurts itself; keep the sum bounded */
	stream->window = MIN(stream->window + credit, (guint64)G_MAXUINT32 * 2);
	output_update_watch(stream);
}

/* the port */

static void
port_write(CocoonGuestStdio *mux)
{
	g_autoptr(GArray) eofs = g_array_new(FALSE, FALSE, sizeof(guint32));

	if (mux->staged > 0) {
		if (!staging_flush(mux)) {
			port_update_watch(mux);
			return;
		}
		if (!mux->out_blocked)
			outputs_resume(mux);
	}
	while (mux->fd >= 0 && !g_queue_is_empty(&mux->out)) {
		OutFrame *frame = g_queue_peek_head(&mux->out);
		gsize size;
		const guint8 *data = g_bytes_get_data(frame->bytes, &size);
		ssize_t n = write(mux->fd, data + mux->out_offset, size - mux->out_offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			g_autofree gchar *reason = g_strdup_printf("write: %s", g_strerror(errno));
			port_disconnect(mux, reason);
			break;
		}
		mux->out_offset += (gsize)n;
		if (mux->out_offset < size)
			continue;
		g_queue_pop_head(&mux->out);
		mux->out_offset = 0;
		mux->out_bytes -= size;
		if (frame->type == COCOON_STDIO_FRAME_EOF)
			g_array_append_val(eofs, frame->stream_id);
		out_frame_free(frame);
	}
	if (mux->out_blocked && mux->out_bytes < OUT_QUEUE_HIGH) {
		mux->out_blocked = FALSE;
		outputs_resume(mux);
	}
	port_update_watch(mux);

	/* last: the callbacks may call back into the mux */
	for (guint i = 0; i < eofs->len; i++) {
		guint32 id = g_array_index(eofs, guint32, i);
		Stream *stream = g_hash_table_lookup(mux->streams, GUINT_TO_POINTER(id));
		if (stream != NULL && stream->output && stream->eof_func != NULL) {
			CocoonGuestStdioEofFunc func = stream->eof_func;
			stream->eof_func = NULL;
			func(id, stream->eof_data);
		}
	}
}

static gboolean
port_read(CocoonGuestStdio *mux)
{
	g_autofree guint8 *buf = g_malloc(PORT_READ_SIZE);
	ssize_t n;

	do
		n = read(mux->fd, buf, PORT_READ_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return TRUE;
	if (n <= 0) {
		g_autofree gchar *reason = n == 0 ? g_strdup("host closed")
						  : g_strdup_printf("read: %s", g_strerror(errno));
		port_disconnect(mux, reason);
		return FALSE;
	}
	cocoon_stdio_frame_decoder_feed(mux->decoder, buf, (gsize)n);
	for (;;) {
		g_auto(CocoonStdioFrame) frame = {0};
		g_autoptr(GError) error = NULL;
		gboolean available = FALSE;

		if (!cocoon_stdio_frame_decoder_next(mux->decoder, &available, &frame, &error)) {
			g_autofree gchar *reason =
				g_strdup_printf("protocol error: %s", error->message);
			port_disconnect(mux, reason);
			return FALSE;
		}
		if (!available)
			break;
		switch (frame.type) {
		case COCOON_STDIO_FRAME_DATA:
			handle_data(mux, frame.stream_id, frame.data);
			break;
		case COCOON_STDIO_FRAME_EOF:
			handle_eof(mux, frame.stream_id);
			break;
		case COCOON_STDIO_FRAME_CREDIT:
			handle_credit(mux, frame.stream_id, frame.credit);
			break;
		default:
			break;
		}
		/* a handler cannot disconnect, but stay safe */
		if (mux->fd < 0)
			return FALSE;
	}
	return TRUE;
}

static gboolean
port_ready_cb(GIOCondition revents, gpointer user_data)
{
	CocoonGuestStdio *mux = user_data;

	if (revents & G_IO_IN) {
		if (!port_read(mux))
			return G_SOURCE_CONTINUE;
	} else if (revents & (G_IO_HUP | G_IO_ERR)) {
		/* virtio-serial: the host side is gone */
		port_disconnect(mux, "hangup");
		return G_SOURCE_CONTINUE;
	}
	if (mux->fd >= 0 && (revents & G_IO_OUT))
		port_write(mux);
	return G_SOURCE_CONTINUE;
}

static void
port_update_watch(CocoonGuestStdio *mux)
{
	if (mux->port_watch == NULL)
		return;
	cocoon_guest_fd_watch_set(
		mux->port_watch,
		G_IO_IN | (g_queue_is_empty(&mux->out) && mux->staged == 0 ? 0 : G_IO_OUT));
}

static void
port_disconnect(CocoonGuestStdio *mux, const gchar *reason)
{
	g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(guint32));

	if (mux->fd < 0)
		return;
	g_info("stdio port disconnected: %s", reason);
	cocoon_guest_fd_watch_clear(&mux->port_watch);
	if (mux->fd_borrowed)
		mux->fd = -1;
	else
		cocoon_fd_closep(&mux->fd);
	cocoon_stdio_frame_decoder_free(mux->decoder);
	mux->decoder = cocoon_stdio_frame_decoder_new();
	/* the rest of a cut frame would desynchronize the next session */
	if (mux->staged > 0) {
		g_autofree guint8 *buf = g_malloc(mux->staged);
		(void)staging_read(mux, buf, mux->staged);
		mux->staged = 0;
	}
	if (mux->out_offset > 0 ||
	    (!g_queue_is_empty(&mux->out) &&
	     ((OutFrame *)g_queue_peek_head(&mux->out))->type == FRAME_REST)) {
		OutFrame *frame = g_queue_pop_head(&mux->out);
		mux->out_bytes -= g_bytes_get_size(frame->bytes);
		mux->out_offset = 0;
		if (frame->type == COCOON_STDIO_FRAME_EOF)
			g_array_append_val(lost, frame->stream_id);
		out_frame_free(frame);
	}
	for (guint i = 0; i < lost->len; i++) {
		guint32 id = g_array_index(lost, guint32, i);
		Stream *stream = g_hash_table_lookup(mux->streams, GUINT_TO_POINTER(id));
		if (stream != NULL && stream->eof_func != NULL) {
			CocoonGuestStdioEofFunc func = stream->eof_func;
			stream->eof_func = NULL;
			func(id, stream->eof_data);
		}
	}
	if (mux->disconnected_func != NULL)
		mux->disconnected_func(mux, mux->disconnected_data);
}

/**
 * cocoon_guest_stdio_connect:
 *
 * starts a session on a new host connection (see the header for what restarts)
 */
void
cocoon_guest_stdio_connect(CocoonGuestStdio *stdio, int fd, gboolean borrowed)
{
	GHashTableIter iter;
	gpointer value;
	int flags;

	if (stdio->fd >= 0) {
		CocoonGuestStdioDisconnectedFunc func = stdio->disconnected_func;
		/* a replaced connection is not a lost one */
		stdio->disconnected_func = NULL;
		port_disconnect(stdio, "replaced");
		stdio->disconnected_func = func;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	stdio->fd = fd;
	stdio->fd_borrowed = borrowed;
	g_hash_table_iter_init(&iter, stdio->streams);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Stream *stream = value;
		if (stream->output) {
			gsize queued = queued_data(stdio, stream->id);
			stream->window = COCOON_STDIO_INITIAL_WINDOW > queued
						 ? COCOON_STDIO_INITIAL_WINDOW - queued
						 : 0;
		} else if (stream->pending != NULL) {
			stream->uncreditable = input_pending_length(stream);
		}
	}
	stdio->port_watch = cocoon_guest_fd_watch_new(fd, port_ready_cb, stdio);
	port_update_watch(stdio);
	outputs_resume(stdio);
	g_info("stdio port connected");
}

gboolean
cocoon_guest_stdio_is_connected(CocoonGuestStdio *stdio)
{
	return stdio->fd >= 0;
}

void
cocoon_guest_stdio_set_disconnected_func(CocoonGuestStdio *stdio,
					 CocoonGuestStdioDisconnectedFunc func, gpointer user_data)
{
	stdio->disconnected_func = func;
	stdio->disconnected_data = user_data;
}

static Stream *
stream_add(CocoonGuestStdio *mux, guint32 stream_id, int fd, gboolean output, GError **error)
{
	Stream *stream;
	int flags;

	if (stream_id == 0 || g_hash_table_contains(mux->streams, GUINT_TO_POINTER(stream_id))) {
		g_set_error(error, G_IO_ERROR,
			    stream_id == 0 ? G_IO_ERROR_INVALID_ARGUMENT : G_IO_ERROR_EXISTS,
			    "stdio stream %u is %s", stream_id,
			    stream_id == 0 ? "not a valid id" : "already in use");
		close(fd);
		return NULL;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		cocoon_set_error_from_errno(error, "stdio stream %u: fd %d", stream_id, fd);
		close(fd);
		return NULL;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	stream = g_new0(Stream, 1);
	stream->mux = mux;
	stream->id = stream_id;
	stream->output = output;
	stream->fd = fd;
	g_hash_table_insert(mux->streams, GUINT_TO_POINTER(stream_id), stream);
	return stream;
}

/**
 * cocoon_guest_stdio_add_output:
 *
 * a stdout/stderr stream: fd is read until EOF (every writer gone), then EOF is sent
 */
gboolean
cocoon_guest_stdio_add_output(CocoonGuestStdio *stdio, guint32 stream_id, int fd,
			      CocoonGuestStdioEofFunc eof_func, gpointer user_data, GError **error)
{
	Stream *stream = stream_add(stdio, stream_id, fd, TRUE, error);
	struct stat st;

	if (stream == NULL)
		return FALSE;
	stream->window = COCOON_STDIO_INITIAL_WINDOW;
	stream->splice = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
	stream->eof_func = eof_func;
	stream->eof_data = user_data;
	stream->watch = cocoon_guest_fd_watch_new(fd, stream_ready_cb, stream);
	output_update_watch(stream);
	return TRUE;
}

/**
 * cocoon_guest_stdio_add_input:
 *
 * a stdin stream: the host's DATA is written into fd, credited once written
 */
gboolean
cocoon_guest_stdio_add_input(CocoonGuestStdio *stdio, guint32 stream_id, int fd, GError **error)
{
	Stream *stream = stream_add(stdio, stream_id, fd, FALSE, error);

	if (stream == NULL)
		return FALSE;
	stream->pending = g_byte_array_new();
	stream->watch = cocoon_guest_fd_watch_new(fd, stream_ready_cb, stream);
	if (g_hash_table_remove(stdio->early_eofs, GUINT_TO_POINTER(stream_id)))
		stream->close_requested = TRUE;
	input_flush(stream);
	return TRUE;
}

void
cocoon_guest_stdio_close_input(CocoonGuestStdio *stdio, guint32 stream_id)
{
	Stream *stream = g_hash_table_lookup(stdio->streams, GUINT_TO_POINTER(stream_id));

	if (stream == NULL || stream->output)
		return;
	stream->close_requested = TRUE;
	input_flush(stream);
}

void
cocoon_guest_stdio_remove(CocoonGuestStdio *stdio, guint32 stream_id)
{
	Stream *stream = g_hash_table_lookup(stdio->streams, GUINT_TO_POINTER(stream_id));

	if (stream == NULL)
		return;
	stream->eof_func = NULL;
	if (stream->output) {
		output_eof(stream);
	} else {
		stream_close_fd(stream);
		input_drop_pending(stream);
	}
	g_hash_table_remove(stdio->streams, GUINT_TO_POINTER(stream_id));
}

/**
 * cocoon_guest_stdio_get_output_offset:
 *
 * The offset in an output stream (counted from its first DATA byte) that the bytes in its fd now
 * end at: what was forwarded so far plus what the pipe (or the pty master) holds unread. Once the
 * last writer the caller cares about is gone, every byte it wrote is before that offset. FALSE for
 * an unknown stream or an input.
 */
gboolean
cocoon_guest_stdio_get_output_offset(CocoonGuestStdio *stdio, guint32 stream_id,
				     guint64 *ret_offset)
{
	Stream *stream = g_hash_table_lookup(stdio->streams, GUINT_TO_POINTER(stream_id));
	int available = 0;

	if (stream == NULL || !stream->output)
		return FALSE;
	/* EIO or the like: nothing more can be read from it */
	if (stream->fd >= 0 && ioctl(stream->fd, FIONREAD, &available) < 0)
		available = 0;
	*ret_offset = stream->forwarded + (guint64)MAX(available, 0);
	return TRUE;
}

gboolean
cocoon_guest_stdio_has_stream(CocoonGuestStdio *stdio, guint32 stream_id)
{
	return g_hash_table_contains(stdio->streams, GUINT_TO_POINTER(stream_id));
}

CocoonGuestStdio *
cocoon_guest_stdio_new(void)
{
	CocoonGuestStdio *stdio = g_new0(CocoonGuestStdio, 1);

	stdio->streams = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
					       (GDestroyNotify)stream_free);
	stdio->early_eofs = g_hash_table_new(g_direct_hash, g_direct_equal);
	stdio->fd = -1;
	stdio->staging[0] = stdio->staging[1] = -1;
	/* COCOON_AGENT_NO_SPLICE=1 on the kernel command line: copy, for A/B measurements */
	stdio->no_splice = g_getenv("COCOON_AGENT_NO_SPLICE") != NULL;
	stdio->decoder = cocoon_stdio_frame_decoder_new();
	g_queue_init(&stdio->out);
	return stdio;
}

void
cocoon_guest_stdio_free(CocoonGuestStdio *stdio)
{
	if (stdio == NULL)
		return;
	cocoon_guest_fd_watch_clear(&stdio->port_watch);
	if (!stdio->fd_borrowed)
		cocoon_fd_closep(&stdio->fd);
	g_hash_table_unref(stdio->streams);
	g_hash_table_unref(stdio->early_eofs);
	cocoon_fd_closep(&stdio->staging[0]);
	cocoon_fd_closep(&stdio->staging[1]);
	cocoon_stdio_frame_decoder_free(stdio->decoder);
	g_queue_clear_full(&stdio->out, (GDestroyNotify)out_frame_free);
	g_free(stdio);
}
