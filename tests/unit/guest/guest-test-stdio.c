/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "guest-test-stdio.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cocoon-stdio-frame.h"

typedef struct {
	GByteArray *data;
	gboolean eof;
	guint64 credited;
} Stream;

struct _TestStdio {
	int fd;
	GThread *thread;
	GMutex lock;
	GCond cond;
	GMutex write_lock;
	GHashTable *streams; /* id -> Stream */
	gboolean auto_credit;
	gboolean connected;
};

static void
stream_free(Stream *stream)
{
	g_byte_array_unref(stream->data);
	g_free(stream);
}

/* with lock held */
static Stream *
stream_get(TestStdio *stdio, guint32 id)
{
	Stream *stream = g_hash_table_lookup(stdio->streams, GUINT_TO_POINTER(id));

	if (stream == NULL) {
		stream = g_new0(Stream, 1);
		stream->data = g_byte_array_new();
		g_hash_table_insert(stdio->streams, GUINT_TO_POINTER(id), stream);
	}
	return stream;
}

static gboolean
write_all(TestStdio *stdio, const guint8 *data, gsize length)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&stdio->write_lock);

	while (length > 0) {
		ssize_t n = write(stdio->fd, data, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		data += n;
		length -= (gsize)n;
	}
	return TRUE;
}

static gpointer
reader_thread(gpointer user_data)
{
	TestStdio *stdio = user_data;
	g_autoptr(CocoonStdioFrameDecoder) decoder = cocoon_stdio_frame_decoder_new();
	guint8 buf[65536];

	for (gboolean valid = TRUE; valid;) {
		ssize_t n = read(stdio->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		cocoon_stdio_frame_decoder_feed(decoder, buf, (gsize)n);
		while (valid) {
			g_auto(CocoonStdioFrame) frame = {0};
			g_autoptr(GError) error = NULL;
			gboolean available = FALSE;
			gboolean credit = FALSE;

			if (!cocoon_stdio_frame_decoder_next(decoder, &available, &frame, &error)) {
				g_printerr("test stdio: %s\n", error->message);
				valid = FALSE;
				break;
			}
			if (!available)
				break;
			g_mutex_lock(&stdio->lock);
			switch (frame.type) {
			case COCOON_STDIO_FRAME_DATA: {
				gsize length;
				const guint8 *data = g_bytes_get_data(frame.data, &length);
				g_byte_array_append(stream_get(stdio, frame.stream_id)->data, data,
						    (guint)length);
				credit = stdio->auto_credit && length > 0;
				break;
			}
			case COCOON_STDIO_FRAME_EOF:
				stream_get(stdio, frame.stream_id)->eof = TRUE;
				break;
			case COCOON_STDIO_FRAME_CREDIT:
				stream_get(stdio, frame.stream_id)->credited += frame.credit;
				break;
			}
			g_cond_broadcast(&stdio->cond);
			g_mutex_unlock(&stdio->lock);
			if (credit)
				test_stdio_send_credit(stdio, frame.stream_id,
						       (guint32)g_bytes_get_size(frame.data));
		}
	}
	g_mutex_lock(&stdio->lock);
	stdio->connected = FALSE;
	g_cond_broadcast(&stdio->cond);
	g_mutex_unlock(&stdio->lock);
	return NULL;
}

TestStdio *
test_stdio_new(int fd, gboolean auto_credit)
{
	TestStdio *stdio = g_new0(TestStdio, 1);

	stdio->fd = fd;
	stdio->auto_credit = auto_credit;
	stdio->connected = TRUE;
	g_mutex_init(&stdio->lock);
	g_cond_init(&stdio->cond);
	g_mutex_init(&stdio->write_lock);
	stdio->streams = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
					       (GDestroyNotify)stream_free);
	stdio->thread = g_thread_new("test-stdio", reader_thread, stdio);
	return stdio;
}

TestStdio *
test_stdio_connect(const gchar *path, gboolean auto_credit, guint timeout_ms, GError **error)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	g_strlcpy(address.sun_path, path, sizeof(address.sun_path));
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0)
			return test_stdio_new(fd, auto_credit);
		close(fd);
		if (g_get_monotonic_time() > deadline) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "connect %s: %s", path,
				    g_strerror(errno));
			return NULL;
		}
		g_usleep(10000);
	}
}

void
test_stdio_free(TestStdio *stdio)
{
	if (stdio == NULL)
		return;
	shutdown(stdio->fd, SHUT_RDWR);
	g_thread_join(stdio->thread);
	close(stdio->fd);
	g_hash_table_unref(stdio->streams);
	g_mutex_clear(&stdio->lock);
	g_cond_clear(&stdio->cond);
	g_mutex_clear(&stdio->write_lock);
	g_free(stdio);
}

void
test_stdio_set_auto_credit(TestStdio *stdio, gboolean auto_credit)
{
	g_mutex_lock(&stdio->lock);
	stdio->auto_credit = auto_credit;
	g_mutex_unlock(&stdio->lock);
}

gboolean
test_stdio_send_data(TestStdio *stdio, guint32 stream_id, const void *data, gsize length)
{
	const guint8 *p = data;

	do {
		gsize chunk = MIN(length, (gsize)COCOON_STDIO_MAX_DATA);
		g_autoptr(GBytes) frame = cocoon_stdio_frame_encode_data(stream_id, p, chunk, NULL);
		gsize size;
		const guint8 *bytes = g_bytes_get_data(frame, &size);

		if (!write_all(stdio, bytes, size))
			return FALSE;
		p += chunk;
		length -= chunk;
	} while (length > 0);
	return TRUE;
}

gboolean
test_stdio_send_eof(TestStdio *stdio, guint32 stream_id)
{
	guint8 buf[COCOON_STDIO_EOF_FRAME_SIZE];

	cocoon_stdio_frame_encode_eof(stream_id, buf);
	return write_all(stdio, buf, sizeof(buf));
}

gboolean
test_stdio_send_credit(TestStdio *stdio, guint32 stream_id, guint32 credit)
{
	guint8 buf[COCOON_STDIO_CREDIT_FRAME_SIZE];

	cocoon_stdio_frame_encode_credit(stream_id, credit, buf);
	return write_all(stdio, buf, sizeof(buf));
}

gboolean
test_stdio_wait_eof(TestStdio *stdio, guint32 stream_id, guint timeout_ms, GBytes **ret_data)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&stdio->lock);
	Stream *stream = stream_get(stdio, stream_id);

	while (!stream->eof && stdio->connected) {
		if (!g_cond_wait_until(&stdio->cond, &stdio->lock, deadline))
			break;
	}
	if (ret_data != NULL)
		*ret_data = g_bytes_new(stream->data->data, stream->data->len);
	return stream->eof;
}

gsize
test_stdio_wait_bytes(TestStdio *stdio, guint32 stream_id, gsize length, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&stdio->lock);
	Stream *stream = stream_get(stdio, stream_id);

	while (stream->data->len < length && !stream->eof && stdio->connected) {
		if (!g_cond_wait_until(&stdio->cond, &stdio->lock, deadline))
			break;
	}
	return stream->data->len;
}

gboolean
test_stdio_wait_text(TestStdio *stdio, guint32 stream_id, const gchar *needle, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&stdio->lock);
	Stream *stream = stream_get(stdio, stream_id);

	for (;;) {
		if (stream->data->len > 0 && g_strstr_len((const gchar *)stream->data->data,
							  stream->data->len, needle) != NULL)
			return TRUE;
		if (stream->eof || !stdio->connected ||
		    !g_cond_wait_until(&stdio->cond, &stdio->lock, deadline))
			return FALSE;
	}
}

gsize
test_stdio_get_received(TestStdio *stdio, guint32 stream_id)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&stdio->lock);

	return stream_get(stdio, stream_id)->data->len;
}

gboolean
test_stdio_has_eof(TestStdio *stdio, guint32 stream_id)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&stdio->lock);

	return stream_get(stdio, stream_id)->eof;
}

guint64
test_stdio_get_credited(TestStdio *stdio, guint32 stream_id)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&stdio->lock);

	return stream_get(stdio, stream_id)->credited;
}

gboolean
test_stdio_wait_credit(TestStdio *stdio, guint32 stream_id, guint64 credit, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&stdio->lock);
	Stream *stream = stream_get(stdio, stream_id);

	while (stream->credited < credit && stdio->connected) {
		if (!g_cond_wait_until(&stdio->cond, &stdio->lock, deadline))
			break;
	}
	return stream->credited >= credit;
}

gboolean
test_stdio_is_connected(TestStdio *stdio)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&stdio->lock);

	return stdio->connected;
}
