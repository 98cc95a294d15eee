/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * a minimal host side of the stdio mux for the agent's tests: a reader thread collects DATA and
 * EOF per stream (and credits DATA at once when auto_credit), the caller writes stdin frames.
 * Thread-safe.
 */
typedef struct _TestStdio TestStdio;

TestStdio *test_stdio_new(int fd, gboolean auto_credit);
/* connects to a unix socket path, retrying for up to timeout_ms */
TestStdio *test_stdio_connect(const gchar *path, gboolean auto_credit, guint timeout_ms,
			      GError **error);
void test_stdio_free(TestStdio *stdio);

void test_stdio_set_auto_credit(TestStdio *stdio, gboolean auto_credit);
gboolean test_stdio_send_data(TestStdio *stdio, guint32 stream_id, const void *data, gsize length);
gboolean test_stdio_send_eof(TestStdio *stdio, guint32 stream_id);
gboolean test_stdio_send_credit(TestStdio *stdio, guint32 stream_id, guint32 credit);

/* TRUE once EOF arrived for stream_id within timeout_ms; ret_data (optional): all its DATA */
gboolean test_stdio_wait_eof(TestStdio *stdio, guint32 stream_id, guint timeout_ms,
			     GBytes **ret_data);
/* waits until the stream has at least length bytes (or EOF, or the timeout); returns the count */
gsize test_stdio_wait_bytes(TestStdio *stdio, guint32 stream_id, gsize length, guint timeout_ms);
/* waits until the stream's data contains needle (or EOF, or the timeout) */
gboolean test_stdio_wait_text(TestStdio *stdio, guint32 stream_id, const gchar *needle,
			      guint timeout_ms);
/* bytes of DATA received so far, EOF seen, CREDIT received (for stdin streams) */
gsize test_stdio_get_received(TestStdio *stdio, guint32 stream_id);
gboolean test_stdio_has_eof(TestStdio *stdio, guint32 stream_id);
guint64 test_stdio_get_credited(TestStdio *stdio, guint32 stream_id);
/* waits until the stream got at least credit bytes of CREDIT */
gboolean test_stdio_wait_credit(TestStdio *stdio, guint32 stream_id, guint64 credit,
				guint timeout_ms);
/* FALSE once the agent closed the connection */
gboolean test_stdio_is_connected(TestStdio *stdio);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestStdio, test_stdio_free)

G_END_DECLS
