/* SPDX-License-Identifier: Apache-2.0 */
/*
 * the host side of the stdio mux against a fake guest on a socketpair. The fake guest speaks the
 * frame codec with blocking I/O from the test thread or a thread of its own. SIGPIPE is left at its
 * default on purpose: the mux must not rely on the process ignoring it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-fd.h"
#include "cocoon-stdio-frame.h"
#include "cocoon-stdio-mux.h"

#define MIB		 (1024u * 1024u)
#define FRAME_TIMEOUT_MS 30000

/* the fake guest: the other end of the socketpair */
typedef struct {
	gint fd;
	CocoonStdioFrameDecoder *decoder;
	/* read returned 0: the host closed the connection */
	gboolean hangup;
} Guest;

typedef struct {
	CocoonStdioMux *mux;
	Guest guest;
} Fixture;

static guint8
pattern_byte(guint32 seed, guint64 position)
{
	return (guint8)(position * 131 + seed * 17 + (position >> 13));
}

static void
fill_pattern(guint8 *buffer, gsize length, guint32 seed, guint64 position)
{
	for (gsize i = 0; i < length; i++)
		buffer[i] = pattern_byte(seed, position + i);
}

static void
write_all(gint fd, const guint8 *data, gsize length)
{
	while (length > 0) {
		gssize n = send(fd, data, length, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		g_assert_cmpint(n, >, 0);
		data += n;
		length -= (gsize)n;
	}
}

/* FALSE when the peer closed or sent garbage (only if allowed), or on timeout */
static gboolean
guest_read_frame(Guest *guest, gint timeout_ms, CocoonStdioFrame *ret_frame)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		g_autoptr(GError) error = NULL;
		struct pollfd pfd = {.fd = guest->fd, .events = POLLIN};
		gboolean available = FALSE;
		guint8 buffer[16384];
		gint64 left;
		gssize n;

		g_assert_true(cocoon_stdio_frame_decoder_next(guest->decoder, &available, ret_frame,
							      &error));
		g_assert_no_error(error);
		if (available)
			return TRUE;
		left = (deadline - g_get_monotonic_time()) / 1000;
		if (left <= 0)
			return FALSE;
		if (poll(&pfd, 1, (gint)left) == 0)
			return FALSE;
		n = read(guest->fd, buffer, sizeof(buffer));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			guest->hangup = TRUE;
		if (n <= 0)
			return FALSE;
		cocoon_stdio_frame_decoder_feed(guest->decoder, buffer, (gsize)n);
	}
}

/* only whole frames until the host closes the connection */
static void
guest_expect_hangup(Guest *guest)
{
	for (;;) {
		g_auto(CocoonStdioFrame) frame = {0};

		if (!guest_read_frame(guest, FRAME_TIMEOUT_MS, &frame))
			break;
	}
	g_assert_true(guest->hangup);
	g_assert_cmpuint(cocoon_stdio_frame_decoder_pending(guest->decoder), ==, 0);
}

static void
guest_send_data(Guest *guest, guint32 stream_id, const guint8 *data, gsize length)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) frame = cocoon_stdio_frame_encode_data(stream_id, data, length, &error);

	g_assert_no_error(error);
	write_all(guest->fd, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame));
}

static void
guest_send_eof(Guest *guest, guint32 stream_id)
{
	guint8 frame[COCOON_STDIO_EOF_FRAME_SIZE];

	cocoon_stdio_frame_encode_eof(stream_id, frame);
	write_all(guest->fd, frame, sizeof(frame));
}

static void
guest_send_credit(Guest *guest, guint32 stream_id, guint32 credit)
{
	guint8 frame[COCOON_STDIO_CREDIT_FRAME_SIZE];

	cocoon_stdio_frame_encode_credit(stream_id, credit, frame);
	write_all(guest->fd, frame, sizeof(frame));
}

static void
fixture_setup(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint pair[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
	fixture->mux = cocoon_stdio_mux_new(pair[0], "test-sandbox", &error);
	g_assert_no_error(error);
	g_assert_nonnull(fixture->mux);
	fixture->guest.fd = pair[1];
	fixture->guest.decoder = cocoon_stdio_frame_decoder_new();
}

static void
fixture_teardown(Fixture *fixture, gconstpointer data)
{
	g_clear_pointer(&fixture->mux, cocoon_stdio_mux_unref);
	cocoon_fd_closep(&fixture->guest.fd);
	cocoon_stdio_frame_decoder_free(fixture->guest.decoder);
}

static void
make_pipe(gint ret_fds[2])
{
	g_assert_cmpint(pipe2(ret_fds, O_CLOEXEC), ==, 0);
}

/* a pipe reader thread: counts, checksums and optionally dawdles */
typedef struct {
	gint fd;
	/* sleep 1 ms after every this many reads (0 = never) */
	guint slow_every;
	gsize read_size;
	gsize total; /* atomic */
	GChecksum *checksum;
	guint64 count_a;
	guint64 count_b;
	GThread *thread;
} Reader;

static gpointer
reader_thread(gpointer data)
{
	Reader *reader = data;
	g_autofree guint8 *buffer = g_malloc(reader->read_size);
	guint reads = 0;

	for (;;) {
		gssize n = read(reader->fd, buffer, reader->read_size);

		if (n < 0 && errno == EINTR)
			continue;
		g_assert_cmpint(n, >=, 0);
		if (n == 0)
			break;
		g_checksum_update(reader->checksum, buffer, n);
		for (gssize i = 0; i < n; i++) {
			if (buffer[i] == 'A')
				reader->count_a++;
			else if (buffer[i] == 'B')
				reader->count_b++;
		}
		g_atomic_pointer_add(&reader->total, n);
		if (reader->slow_every > 0 && ++reads % reader->slow_every == 0)
			g_usleep(1000);
	}
	return NULL;
}

static Reader *
reader_start(gint fd, guint slow_every, gsize read_size)
{
	Reader *reader = g_new0(Reader, 1);

	reader->fd = fd;
	reader->slow_every = slow_every;
	reader->read_size = read_size;
	reader->checksum = g_checksum_new(G_CHECKSUM_SHA256);
	reader->thread = g_thread_new("test-reader", reader_thread, reader);
	return reader;
}

static void
reader_join(Reader *reader)
{
	g_thread_join(reader->thread);
	reader->thread = NULL;
	cocoon_fd_closep(&reader->fd);
}

static void
reader_free(Reader *reader)
{
	g_checksum_free(reader->checksum);
	g_free(reader);
}

/* one guest → host stream the fake guest sends, with its credit accounting */
typedef struct {
	guint32 id;
	guint32 seed;
	guint64 total;
	guint64 sent;
	guint64 credited;
	guint64 max_outstanding;
	guint window_waits;
	GChecksum *checksum;
	/* when set: the host may only credit what reached the destination (read + in the pipe) */
	Reader *reader;
	gsize pipe_capacity;
} GuestStream;

static void
guest_stream_init(GuestStream *stream, guint32 id, guint32 seed, guint64 total)
{
	memset(stream, 0, sizeof(*stream));
	stream->id = id;
	stream->seed = seed;
	stream->total = total;
	stream->checksum = g_checksum_new(G_CHECKSUM_SHA256);
}

static void
guest_stream_clear(GuestStream *stream)
{
	g_clear_pointer(&stream->checksum, g_checksum_free);
}

static void
guest_apply_credit(GuestStream *streams, guint n, const CocoonStdioFrame *frame)
{
	g_assert_cmpuint(frame->type, ==, COCOON_STDIO_FRAME_CREDIT);
	for (guint i = 0; i < n; i++) {
		GuestStream *stream = &streams[i];

		if (stream->id != frame->stream_id)
			continue;
		stream->credited += frame->credit;
		/* never more than was sent */
		g_assert_cmpuint(stream->credited, <=, stream->sent);
		/* credit only after the bytes were written on: they are read or in the pipe */
		if (stream->reader != NULL) {
			guint64 reached = g_atomic_pointer_get(&stream->reader->total) +
					  stream->pipe_capacity + stream->reader->read_size;

			g_assert_cmpuint(stream->credited, <=, reached);
		}
		return;
	}
	g_assert_not_reached();
}

/*
 * sends every stream round-robin in chunks of varying size, never more than the window
 * outstanding per stream, then EOF, then waits until everything was credited
 */
static void
guest_send_streams(Guest *guest, GuestStream *streams, guint n)
{
	g_autofree guint8 *buffer = g_malloc(COCOON_STDIO_MAX_DATA);
	guint32 rng = 12345;
	gboolean busy = TRUE;

	while (busy) {
		busy = FALSE;
		for (guint i = 0; i < n; i++) {
			GuestStream *stream = &streams[i];
			gsize chunk;

			if (stream->sent == stream->total)
				continue;
			busy = TRUE;
			rng = rng * 1103515245 + 12345;
			chunk = 1 + (rng >> 8) % COCOON_STDIO_MAX_DATA;
			chunk = MIN(chunk, stream->total - stream->sent);
			if (stream->sent + chunk - stream->credited > COCOON_STDIO_INITIAL_WINDOW)
				stream->window_waits++;
			while (stream->sent + chunk - stream->credited >
			       COCOON_STDIO_INITIAL_WINDOW) {
				g_auto(CocoonStdioFrame) frame = {0};

				g_assert_true(guest_read_frame(guest, FRAME_TIMEOUT_MS, &frame));
				guest_apply_credit(streams, n, &frame);
			}
			fill_pattern(buffer, chunk, stream->seed, stream->sent);
			g_checksum_update(stream->checksum, buffer, (gssize)chunk);
			guest_send_data(guest, stream->id, buffer, chunk);
			stream->sent += chunk;
			stream->max_outstanding =
				MAX(stream->max_outstanding, stream->sent - stream->credited);
			g_assert_cmpuint(stream->max_outstanding, <=, COCOON_STDIO_INITIAL_WINDOW);
		}
	}
	for (guint i = 0; i < n; i++)
		guest_send_eof(guest, streams[i].id);
	for (guint i = 0; i < n; i++) {
		while (streams[i].credited < streams[i].total) {
			g_auto(CocoonStdioFrame) frame = {0};

			g_assert_true(guest_read_frame(guest, FRAME_TIMEOUT_MS, &frame));
			guest_apply_credit(streams, n, &frame);
		}
	}
}

typedef struct {
	Guest *guest;
	GuestStream *streams;
	guint n;
} GuestJob;

static gpointer
guest_thread(gpointer data)
{
	GuestJob *job = data;

	guest_send_streams(job->guest, job->streams, job->n);
	return NULL;
}

static gint64
deadline_in(gint64 ms)
{
	return g_get_monotonic_time() + ms * 1000;
}

static void
test_slow_reader_64mib(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	GuestStream stream;
	GuestJob job = {&fixture->guest, &stream, 1};
	GThread *guest;
	Reader *reader;
	guint32 id = cocoon_stdio_mux_allocate_stream_id(fixture->mux);
	gint fds[2];
	guint64 total = 64 * MIB;

	make_pipe(fds);
	guest_stream_init(&stream, id, 7, total);
	stream.pipe_capacity = (gsize)fcntl(fds[1], F_GETPIPE_SZ);
	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, id, fds[1], &error));
	g_assert_no_error(error);
	/* slower than the guest: 16 KiB reads and a nap every 256 KiB */
	reader = reader_start(fds[0], 16, 16384);
	stream.reader = reader;

	guest = g_thread_new("test-guest", guest_thread, &job);
	g_thread_join(guest);
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, &id, 1, deadline_in(120000)));
	reader_join(reader);

	g_assert_cmpuint(reader->total, ==, total);
	g_assert_cmpstr(g_checksum_get_string(reader->checksum), ==,
			g_checksum_get_string(stream.checksum));
	g_assert_cmpuint(stream.max_outstanding, <=, COCOON_STDIO_INITIAL_WINDOW);
	g_assert_cmpuint(stream.credited, ==, total);
	/* the slow reader really pushed back on the guest */
	g_assert_cmpuint(stream.window_waits, >, 0);
	g_test_message("window full %u times", stream.window_waits);
	reader_free(reader);
	guest_stream_clear(&stream);
}

static void
test_interleaved(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	GuestStream streams[2];
	GuestJob job = {&fixture->guest, streams, 2};
	Reader *readers[2];
	guint32 ids[2];
	GThread *guest;

	for (guint i = 0; i < 2; i++) {
		gint fds[2];

		ids[i] = cocoon_stdio_mux_allocate_stream_id(fixture->mux);
		make_pipe(fds);
		guest_stream_init(&streams[i], ids[i], 100 + i, 8 * MIB + i * 12345);
		g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, ids[i], fds[1], &error));
		g_assert_no_error(error);
		readers[i] = reader_start(fds[0], i == 0 ? 8 : 0, 65536);
	}
	g_assert_cmpuint(ids[0], !=, ids[1]);

	guest = g_thread_new("test-guest", guest_thread, &job);
	g_thread_join(guest);
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, ids, 2, deadline_in(60000)));
	for (guint i = 0; i < 2; i++) {
		reader_join(readers[i]);
		g_assert_cmpuint(readers[i]->total, ==, streams[i].total);
		g_assert_cmpstr(g_checksum_get_string(readers[i]->checksum), ==,
				g_checksum_get_string(streams[i].checksum));
		reader_free(readers[i]);
		guest_stream_clear(&streams[i]);
	}
}

static void
test_shared_destination(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	/* 8 frames per stream, all within the window without credit */
	const gsize chunk = MIN(COCOON_STDIO_MAX_DATA, COCOON_STDIO_INITIAL_WINDOW / 8);
	g_autofree guint8 *as = g_malloc(chunk);
	g_autofree guint8 *bs = g_malloc(chunk);
	guint32 ids[2] = {1, 2};
	Reader *reader;
	gint fds[2];

	/* stdout and stderr into one file: each stream gets its own dup */
	make_pipe(fds);
	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, ids[0], dup(fds[1]), &error));
	g_assert_no_error(error);
	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, ids[1], fds[1], &error));
	g_assert_no_error(error);
	reader = reader_start(fds[0], 0, 4096);

	memset(as, 'A', chunk);
	memset(bs, 'B', chunk);
	for (guint i = 0; i < 8; i++) {
		guest_send_data(&fixture->guest, ids[0], as, chunk);
		guest_send_data(&fixture->guest, ids[1], bs, chunk);
	}
	guest_send_eof(&fixture->guest, ids[0]);
	/* one stream done is not both */
	g_assert_false(cocoon_stdio_mux_wait_outputs(fixture->mux, ids, 2, deadline_in(100)));
	guest_send_eof(&fixture->guest, ids[1]);
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, ids, 2, deadline_in(30000)));
	/* both dups closed: the reader sees EOF */
	reader_join(reader);
	g_assert_cmpuint(reader->count_a, ==, 8 * chunk);
	g_assert_cmpuint(reader->count_b, ==, 8 * chunk);
	reader_free(reader);
}

typedef struct {
	gint fd;
	guint64 total;
	GChecksum *checksum;
} Writer;

static gpointer
writer_thread(gpointer data)
{
	Writer *writer = data;
	g_autofree guint8 *buffer = g_malloc(100000);
	guint64 written = 0;

	while (written < writer->total) {
		gsize chunk = MIN(100000, writer->total - written);
		gsize done = 0;

		fill_pattern(buffer, chunk, 3, written);
		g_checksum_update(writer->checksum, buffer, (gssize)chunk);
		while (done < chunk) {
			gssize n = write(writer->fd, buffer + done, chunk - done);

			if (n < 0 && errno == EINTR)
				continue;
			g_assert_cmpint(n, >, 0);
			done += (gsize)n;
		}
		written += chunk;
	}
	cocoon_fd_closep(&writer->fd);
	return NULL;
}

static void
test_stdin(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GChecksum) received = g_checksum_new(G_CHECKSUM_SHA256);
	Writer writer = {.total = 3 * MIB + 777, .checksum = g_checksum_new(G_CHECKSUM_SHA256)};
	guint32 id = cocoon_stdio_mux_allocate_stream_id(fixture->mux);
	g_auto(CocoonStdioFrame) frame = {0};
	guint64 total = 0;
	GThread *thread;
	gint fds[2];

	make_pipe(fds);
	g_assert_true(cocoon_stdio_mux_add_input(fixture->mux, id, fds[0], &error));
	g_assert_no_error(error);
	writer.fd = fds[1];
	thread = g_thread_new("test-writer", writer_thread, &writer);

	/* without credit the host sends exactly the initial window */
	while (total < COCOON_STDIO_INITIAL_WINDOW) {
		g_assert_true(guest_read_frame(&fixture->guest, FRAME_TIMEOUT_MS, &frame));
		g_assert_cmpuint(frame.type, ==, COCOON_STDIO_FRAME_DATA);
		g_assert_cmpuint(frame.stream_id, ==, id);
		g_assert_cmpuint(g_bytes_get_size(frame.data), >, 0);
		g_assert_cmpuint(g_bytes_get_size(frame.data), <=, COCOON_STDIO_MAX_DATA);
		g_checksum_update(received, g_bytes_get_data(frame.data, NULL),
				  (gssize)g_bytes_get_size(frame.data));
		total += g_bytes_get_size(frame.data);
		cocoon_stdio_frame_clear(&frame);
	}
	g_assert_cmpuint(total, ==, COCOON_STDIO_INITIAL_WINDOW);
	g_assert_false(guest_read_frame(&fixture->guest, 200, &frame));

	/* credit all of it back, then whatever arrives, until EOF */
	guest_send_credit(&fixture->guest, id, (guint32)total);
	for (;;) {
		g_assert_true(guest_read_frame(&fixture->guest, FRAME_TIMEOUT_MS, &frame));
		g_assert_cmpuint(frame.stream_id, ==, id);
		if (frame.type == COCOON_STDIO_FRAME_EOF)
			break;
		g_assert_cmpuint(frame.type, ==, COCOON_STDIO_FRAME_DATA);
		g_checksum_update(received, g_bytes_get_data(frame.data, NULL),
				  (gssize)g_bytes_get_size(frame.data));
		total += g_bytes_get_size(frame.data);
		guest_send_credit(&fixture->guest, id, (guint32)g_bytes_get_size(frame.data));
		cocoon_stdio_frame_clear(&frame);
	}
	g_thread_join(thread);
	g_assert_cmpuint(total, ==, writer.total);
	g_assert_cmpstr(g_checksum_get_string(received), ==,
			g_checksum_get_string(writer.checksum));
	g_checksum_free(writer.checksum);

	/* the input is finished: CloseIO after EOF is fine, an unknown one is not */
	g_assert_true(cocoon_stdio_mux_close_input(fixture->mux, id, &error));
	g_assert_no_error(error);
	g_assert_false(cocoon_stdio_mux_close_input(fixture->mux, 4242, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

static void
test_close_input(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_auto(CocoonStdioFrame) frame = {0};
	guint32 id = cocoon_stdio_mux_allocate_stream_id(fixture->mux);
	cocoon_autofd gint held_writer = -1;
	gint fds[2];

	/* the shim holds a writer of the stdin FIFO: no read EOF until CloseIO */
	make_pipe(fds);
	held_writer = fds[1];
	g_assert_true(cocoon_stdio_mux_add_input(fixture->mux, id, fds[0], &error));
	g_assert_no_error(error);
	g_assert_cmpint(write(held_writer, "hello", 5), ==, 5);

	g_assert_true(guest_read_frame(&fixture->guest, FRAME_TIMEOUT_MS, &frame));
	g_assert_cmpuint(frame.type, ==, COCOON_STDIO_FRAME_DATA);
	g_assert_cmpmem(g_bytes_get_data(frame.data, NULL), g_bytes_get_size(frame.data), "hello",
			5);
	cocoon_stdio_frame_clear(&frame);
	g_assert_false(guest_read_frame(&fixture->guest, 100, &frame));

	g_assert_true(cocoon_stdio_mux_close_input(fixture->mux, id, &error));
	g_assert_no_error(error);
	g_assert_true(guest_read_frame(&fixture->guest, FRAME_TIMEOUT_MS, &frame));
	g_assert_cmpuint(frame.type, ==, COCOON_STDIO_FRAME_EOF);
	g_assert_cmpuint(frame.stream_id, ==, id);
	cocoon_stdio_frame_clear(&frame);
	/* twice is fine and sends nothing more */
	g_assert_true(cocoon_stdio_mux_close_input(fixture->mux, id, &error));
	g_assert_no_error(error);
	g_assert_false(guest_read_frame(&fixture->guest, 100, &frame));
	cocoon_stdio_mux_remove_stream(fixture->mux, id);
}

static void
test_eof_waits_for_writes(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	/* 8 frames, all within the window without credit */
	const gsize chunk = MIN(COCOON_STDIO_MAX_DATA, COCOON_STDIO_INITIAL_WINDOW / 8);
	g_autofree guint8 *buffer = g_malloc(chunk);
	g_autoptr(GChecksum) sent = g_checksum_new(G_CHECKSUM_SHA256);
	guint32 id = 77;
	Reader *reader;
	gint fds[2];

	make_pipe(fds);
	g_assert_cmpint(fcntl(fds[1], F_SETPIPE_SZ, 65536), >=, 65536);
	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, id, fds[1], &error));
	g_assert_no_error(error);
	for (guint i = 0; i < 8; i++) {
		fill_pattern(buffer, chunk, 9, (guint64)i * chunk);
		g_checksum_update(sent, buffer, chunk);
		guest_send_data(&fixture->guest, id, buffer, chunk);
	}
	guest_send_eof(&fixture->guest, id);

	/* nobody reads: EOF arrived, the bytes are not written yet */
	g_assert_false(cocoon_stdio_mux_wait_outputs(fixture->mux, &id, 1, deadline_in(300)));

	reader = reader_start(fds[0], 4, 4096);
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, &id, 1, deadline_in(30000)));
	/* done means written and closed: the reader drains the pipe and sees EOF */
	reader_join(reader);
	g_assert_cmpuint(reader->total, ==, 8 * chunk);
	g_assert_cmpstr(g_checksum_get_string(reader->checksum), ==, g_checksum_get_string(sent));
	reader_free(reader);
	/* and again, for a second waiter */
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, &id, 1, deadline_in(0)));
}

static void
test_reader_gone(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	GuestStream streams[2];
	GuestJob job = {&fixture->guest, streams, 2};
	guint32 ids[2] = {5, 6};
	gint gone[2];
	gint good[2];
	Reader *reader;
	GThread *guest;

	/* stream 5's reader is gone before anything arrives: EPIPE */
	make_pipe(gone);
	cocoon_fd_closep(&gone[0]);
	make_pipe(good);
	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, ids[0], gone[1], &error));
	g_assert_no_error(error);
	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, ids[1], good[1], &error));
	g_assert_no_error(error);
	reader = reader_start(good[0], 0, 65536);

	guest_stream_init(&streams[0], ids[0], 1, 4 * MIB);
	guest_stream_init(&streams[1], ids[1], 2, 4 * MIB);
	guest = g_thread_new("test-guest", guest_thread, &job);
	/* the guest finishes only if the dead stream keeps being credited */
	g_thread_join(guest);
	g_assert_cmpuint(streams[0].credited, ==, 4 * MIB);
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, ids, 2, deadline_in(30000)));
	reader_join(reader);
	g_assert_cmpuint(reader->total, ==, 4 * MIB);
	g_assert_cmpstr(g_checksum_get_string(reader->checksum), ==,
			g_checksum_get_string(streams[1].checksum));
	g_assert_false(cocoon_stdio_mux_is_closed(fixture->mux));
	reader_free(reader);
	guest_stream_clear(&streams[0]);
	guest_stream_clear(&streams[1]);
}

/* a background writer of the fake guest: count frames of size bytes, one every interval_ms */
typedef struct {
	Guest *guest;
	guint32 id;
	guint count;
	gsize size;
	guint interval_ms;
} Trickle;

static gpointer
trickle_thread(gpointer data)
{
	Trickle *trickle = data;
	g_autofree guint8 *buffer = g_malloc0(trickle->size);

	for (guint i = 0; i < trickle->count; i++) {
		g_usleep((gulong)trickle->interval_ms * 1000);
		guest_send_data(trickle->guest, trickle->id, buffer, trickle->size);
	}
	return NULL;
}

/*
 * an exit waits for the bytes the process wrote (the offset the guest reports), not for an EOF a
 * descendant holds off; a wrong offset or a destination nobody reads costs the idle time only
 */
static void
test_wait_delivered(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *buffer = g_malloc0(COCOON_STDIO_MAX_DATA);
	guint32 ids[2] = {31, 32};
	guint64 offsets[2] = {3, 0};
	Trickle trickle = {&fixture->guest, ids[0], 10, 10, 100};
	Reader *reader;
	Reader *late;
	GThread *thread;
	gint fds[2];
	gint unread[2];
	gint64 start;

	make_pipe(fds);
	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, ids[0], fds[1], &error));
	g_assert_no_error(error);
	reader = reader_start(fds[0], 0, 4096);
	guest_send_data(&fixture->guest, ids[0], (const guint8 *)"hi\n", 3);

	/* stream 31 never sees EOF (a background child holds the pipe): its offset is enough */
	start = g_get_monotonic_time();
	g_assert_true(cocoon_stdio_mux_wait_delivered(fixture->mux, ids, offsets, 1,
						      10 * G_USEC_PER_SEC, deadline_in(30000)));
	g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
	g_assert_false(cocoon_stdio_mux_wait_outputs(fixture->mux, ids, 1, deadline_in(100)));
	/* ids that are no output of this mux have nothing to wait for */
	g_assert_true(cocoon_stdio_mux_wait_delivered(
		fixture->mux, (guint32[]){999}, (guint64[]){G_MAXUINT64}, 1, 0, deadline_in(0)));

	/* a guest claiming more than it sends: given up after the idle time, not the deadline */
	offsets[0] = G_MAXUINT64;
	start = g_get_monotonic_time();
	g_assert_false(cocoon_stdio_mux_wait_delivered(fixture->mux, ids, offsets, 1, 200 * 1000,
						       deadline_in(30000)));
	g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
	/* and never beyond the deadline, whatever it sends */
	start = g_get_monotonic_time();
	g_assert_false(cocoon_stdio_mux_wait_delivered(fixture->mux, ids, offsets, 1,
						       30 * G_USEC_PER_SEC, deadline_in(200)));
	g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);

	/* bytes that keep moving keep the wait alive past the idle time (1 s of 10 x 100 ms) */
	offsets[0] = 3 + 100;
	thread = g_thread_new("test-trickle", trickle_thread, &trickle);
	g_assert_true(cocoon_stdio_mux_wait_delivered(fixture->mux, ids, offsets, 1, 600 * 1000,
						      deadline_in(30000)));
	g_thread_join(thread);

	/* stream 32 goes to a pipe nobody reads: what does not fit is not delivered */
	make_pipe(unread);
	g_assert_cmpint(fcntl(unread[1], F_SETPIPE_SZ, 65536), >=, 65536);
	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, ids[1], unread[1], &error));
	g_assert_no_error(error);
	for (guint i = 0; i < 4; i++)
		guest_send_data(&fixture->guest, ids[1], buffer, 65536);
	offsets[1] = 4 * 65536;
	start = g_get_monotonic_time();
	g_assert_false(cocoon_stdio_mux_wait_delivered(fixture->mux, ids, offsets, 2, 300 * 1000,
						       deadline_in(30000)));
	g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
	/* once read, it is; the stream stayed open meanwhile */
	late = reader_start(unread[0], 0, 65536);
	g_assert_true(cocoon_stdio_mux_wait_delivered(fixture->mux, ids, offsets, 2,
						      10 * G_USEC_PER_SEC, deadline_in(30000)));

	/* later output (the background child's) still flows until EOF */
	guest_send_data(&fixture->guest, ids[0], (const guint8 *)"bye\n", 4);
	guest_send_eof(&fixture->guest, ids[0]);
	guest_send_eof(&fixture->guest, ids[1]);
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, ids, 2, deadline_in(30000)));
	g_assert_true(
		cocoon_stdio_mux_wait_delivered(fixture->mux, ids, NULL, 2, 0, deadline_in(0)));
	reader_join(reader);
	reader_join(late);
	g_assert_cmpuint(reader->total, ==, 3 + 100 + 4);
	g_assert_cmpuint(late->total, ==, 4 * 65536);
	reader_free(reader);
	reader_free(late);
}

static void
test_unknown_stream_credited(Fixture *fixture, gconstpointer data)
{
	GuestStream stream;

	/* nobody added stream 999: its data is dropped and credited, the guest never stalls */
	guest_stream_init(&stream, 999, 4, 3 * MIB);
	guest_send_streams(&fixture->guest, &stream, 1);
	g_assert_cmpuint(stream.credited, ==, 3 * MIB);
	g_assert_false(cocoon_stdio_mux_is_closed(fixture->mux));
	guest_stream_clear(&stream);
}

static void
test_remove_stream(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	GuestStream stream;
	guint32 id = 12;
	Reader *reader;
	gint fds[2];

	make_pipe(fds);
	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, id, fds[1], &error));
	g_assert_no_error(error);
	reader = reader_start(fds[0], 0, 4096);
	cocoon_stdio_mux_remove_stream(fixture->mux, id);
	/* the fd is closed */
	reader_join(reader);
	g_assert_cmpuint(reader->total, ==, 0);
	/* later data is credited; a removed id counts as done */
	guest_stream_init(&stream, id, 4, 2 * MIB);
	guest_send_streams(&fixture->guest, &stream, 1);
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, &id, 1, deadline_in(0)));
	cocoon_stdio_mux_remove_stream(fixture->mux, id);
	reader_free(reader);
	guest_stream_clear(&stream);
}

static void
closed_cb(CocoonStdioMux *mux, const GError *error, gpointer user_data)
{
	GError **ret_error = user_data;

	g_assert_null(*ret_error);
	*ret_error = g_error_copy(error);
}

static void
test_garbage_closes(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) closed_error = NULL;
	g_autoptr(GMainContext) context = g_main_context_new();
	const gchar garbage[] = "SSH-2.0-OpenSSH_9.2\r\n";
	guint32 ids[2] = {3, 4};
	Reader *readers[2];

	cocoon_stdio_mux_set_closed_func(fixture->mux, closed_cb, &closed_error, context);
	for (guint i = 0; i < 2; i++) {
		gint fds[2];

		make_pipe(fds);
		g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, ids[i], fds[1], &error));
		g_assert_no_error(error);
		readers[i] = reader_start(fds[0], 0, 4096);
	}
	guest_send_data(&fixture->guest, ids[0], (const guint8 *)"AAAA", 4);
	write_all(fixture->guest.fd, (const guint8 *)garbage, sizeof(garbage) - 1);

	while (closed_error == NULL)
		g_main_context_iteration(context, TRUE);
	g_assert_error(closed_error, COCOON_STDIO_FRAME_ERROR, COCOON_STDIO_FRAME_ERROR_INVALID);
	g_assert_nonnull(strstr(closed_error->message, "test-sandbox"));
	g_assert_true(cocoon_stdio_mux_is_closed(fixture->mux));

	/* outputs got EOF, after what arrived before the garbage */
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, ids, 2, deadline_in(10000)));
	for (guint i = 0; i < 2; i++) {
		reader_join(readers[i]);
		g_assert_cmpuint(readers[i]->count_a, ==, i == 0 ? 4 : 0);
		reader_free(readers[i]);
	}
	/* the guest sees the connection end (after the credit of what was written, maybe) */
	guest_expect_hangup(&fixture->guest);
	/* a closed mux takes no new streams (and closes the fd it was given) */
	g_assert_false(cocoon_stdio_mux_add_output(fixture->mux, 9, dup(2), &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

static void
test_window_overrun_closes(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *buffer = g_malloc0(COCOON_STDIO_MAX_DATA);
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(GError) closed_error = NULL;
	cocoon_autofd gint reader = -1;
	guint32 id = 8;
	gint fds[2];

	/* nobody reads the pipe, and the guest ignores the window */
	make_pipe(fds);
	reader = fds[0];
	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, id, fds[1], &error));
	g_assert_no_error(error);
	cocoon_stdio_mux_set_closed_func(fixture->mux, closed_cb, &closed_error, context);
	for (guint i = 0; i < 3 * COCOON_STDIO_INITIAL_WINDOW / COCOON_STDIO_MAX_DATA; i++) {
		g_autoptr(GBytes) frame =
			cocoon_stdio_frame_encode_data(id, buffer, COCOON_STDIO_MAX_DATA, NULL);

		if (send(fixture->guest.fd, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame),
			 MSG_NOSIGNAL) < 0)
			break;
	}
	while (closed_error == NULL)
		g_main_context_iteration(context, TRUE);
	g_assert_error(closed_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_assert_true(cocoon_stdio_mux_is_closed(fixture->mux));
	/* the output is finished without blocking on the full pipe forever once closed */
	cocoon_stdio_mux_close(fixture->mux);
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, &id, 1, deadline_in(10000)));
}

static void
test_ids(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);

	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, 5, dup(1), &error));
	g_assert_no_error(error);
	for (guint i = 0; i < 1000; i++) {
		guint32 id = cocoon_stdio_mux_allocate_stream_id(fixture->mux);

		g_assert_cmpuint(id, !=, 0);
		g_assert_cmpuint(id, !=, 5);
		g_assert_false(g_hash_table_contains(seen, GUINT_TO_POINTER(id)));
		g_hash_table_add(seen, GUINT_TO_POINTER(id));
	}
	g_assert_false(cocoon_stdio_mux_add_output(fixture->mux, 5, dup(1), &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
	g_clear_error(&error);
	g_assert_false(cocoon_stdio_mux_add_input(fixture->mux, 0, dup(0), &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	/* waiting on nothing, or on ids that are no outputs, returns at once */
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, NULL, 0, deadline_in(0)));
	g_assert_false(
		cocoon_stdio_mux_wait_outputs(fixture->mux, (guint32[]){5}, 1, deadline_in(10)));
}

static void
test_close_ends_everything(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	cocoon_autofd gint held_writer = -1;
	guint32 out_id = 1;
	Reader *reader;
	gint out[2];
	gint in[2];

	make_pipe(out);
	make_pipe(in);
	held_writer = in[1];
	g_assert_true(cocoon_stdio_mux_add_output(fixture->mux, out_id, out[1], &error));
	g_assert_no_error(error);
	g_assert_true(cocoon_stdio_mux_add_input(fixture->mux, 2, in[0], &error));
	g_assert_no_error(error);
	reader = reader_start(out[0], 0, 4096);
	guest_send_data(&fixture->guest, out_id, (const guint8 *)"AA", 2);

	/* the data arrives before close: wait for its credit */
	for (;;) {
		g_auto(CocoonStdioFrame) frame = {0};

		g_assert_true(guest_read_frame(&fixture->guest, FRAME_TIMEOUT_MS, &frame));
		if (frame.type == COCOON_STDIO_FRAME_CREDIT && frame.stream_id == out_id)
			break;
	}
	cocoon_stdio_mux_close(fixture->mux);
	cocoon_stdio_mux_close(fixture->mux);
	g_assert_true(cocoon_stdio_mux_is_closed(fixture->mux));
	g_assert_true(cocoon_stdio_mux_wait_outputs(fixture->mux, &out_id, 1, deadline_in(10000)));
	reader_join(reader);
	g_assert_cmpuint(reader->count_a, ==, 2);
	reader_free(reader);
	/* the guest sees EOF of the connection; the input's read end is closed */
	guest_expect_hangup(&fixture->guest);
	{
		struct pollfd pfd = {.fd = held_writer, .events = POLLOUT};

		g_assert_cmpint(poll(&pfd, 1, 10000), ==, 1);
		g_assert_true(pfd.revents & POLLERR);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

#define ADD(path, func)                                                                            \
	g_test_add("/io/stdio-mux/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("slow-reader-64mib", test_slow_reader_64mib);
	ADD("interleaved", test_interleaved);
	ADD("shared-destination", test_shared_destination);
	ADD("stdin", test_stdin);
	ADD("close-input", test_close_input);
	ADD("eof-waits-for-writes", test_eof_waits_for_writes);
	ADD("reader-gone", test_reader_gone);
	ADD("wait-delivered", test_wait_delivered);
	ADD("unknown-stream-credited", test_unknown_stream_credited);
	ADD("remove-stream", test_remove_stream);
	ADD("garbage-closes", test_garbage_closes);
	ADD("window-overrun-closes", test_window_overrun_closes);
	ADD("ids", test_ids);
	ADD("close-ends-everything", test_close_ends_everything);
#undef ADD
	return g_test_run();
}
