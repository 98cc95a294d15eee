/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * the guest side of the stdio mux (docs/architecture.md, "stdio mux") on the cocoon.stdio port.
 * Output streams read a pipe or pty master and send DATA within the stream's credit window, then
 * EOF; input streams write the host's DATA into a pipe (or pty) and credit what was written. All
 * fds are non-blocking and watched on the main context; nothing here ever blocks. Main context
 * only.
 *
 * Every new host connection starts a fresh session: each output window restarts at
 * COCOON_STDIO_INITIAL_WINDOW (minus DATA still queued), a frame cut by the disconnect is dropped,
 * credit owed for the old session's stdin bytes is not sent.
 */
typedef struct _CocoonGuestStdio CocoonGuestStdio;

/* an output stream's EOF frame was written to the port (or lost with the connection) */
typedef void (*CocoonGuestStdioEofFunc)(guint32 stream_id, gpointer user_data);
/* the host connection ended (EOF, hangup, error, protocol violation); the fd is closed */
typedef void (*CocoonGuestStdioDisconnectedFunc)(CocoonGuestStdio *stdio, gpointer user_data);

CocoonGuestStdio *cocoon_guest_stdio_new(void);
void cocoon_guest_stdio_free(CocoonGuestStdio *stdio);

void cocoon_guest_stdio_set_disconnected_func(CocoonGuestStdio *stdio,
					      CocoonGuestStdioDisconnectedFunc func,
					      gpointer user_data);
/*
 * serve a host connection; replaces a current one. Takes fd unless borrowed (a virtio port kept
 * open across sessions: on EOF or HUP it is only unwatched, never closed).
 */
void cocoon_guest_stdio_connect(CocoonGuestStdio *stdio, int fd, gboolean borrowed);
gboolean cocoon_guest_stdio_is_connected(CocoonGuestStdio *stdio);

/* guest -> host: reads fd (takes it) until EOF; eof_func may be NULL */
gboolean cocoon_guest_stdio_add_output(CocoonGuestStdio *stdio, guint32 stream_id, int fd,
				       CocoonGuestStdioEofFunc eof_func, gpointer user_data,
				       GError **error);
/* host -> guest: writes into fd (takes it); closes it after the host's EOF and the last byte */
gboolean cocoon_guest_stdio_add_input(CocoonGuestStdio *stdio, guint32 stream_id, int fd,
				      GError **error);
/* like the host's EOF: close the input's fd once its pending bytes are written */
void cocoon_guest_stdio_close_input(CocoonGuestStdio *stdio, guint32 stream_id);
/*
 * forget a stream: its fd is closed, pending stdin bytes are dropped, an output that has not sent
 * EOF sends it now; its eof_func is not called any more
 */
void cocoon_guest_stdio_remove(CocoonGuestStdio *stdio, guint32 stream_id);
/*
 * an output stream's offset (from its first byte) after the bytes its fd holds now: forwarded so
 * far + unread (FIONREAD). FALSE for an unknown stream or an input.
 */
gboolean cocoon_guest_stdio_get_output_offset(CocoonGuestStdio *stdio, guint32 stream_id,
					      guint64 *ret_offset);
gboolean cocoon_guest_stdio_has_stream(CocoonGuestStdio *stdio, guint32 stream_id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonGuestStdio, cocoon_guest_stdio_free)

G_END_DECLS
