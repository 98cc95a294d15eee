/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

#include "cocoon-stdio-frame.h"

G_BEGIN_DECLS

/*
 * The host side of the stdio mux (docs/architecture.md, "stdio mux"): one per sandbox, over the
 * connected stream socket <state>/stdio.sock (QEMU's chardev of the virtio-serial port
 * cocoon.stdio).
 *
 * Threads: every mux has one thread of its own, "cocoon-stdio", that poll()s the connection, the
 * input fds and the output fds that were full. It never blocks on anything but poll(): the
 * connection and every fd it is given are switched to O_NONBLOCK. It decodes frames and appends
 * output DATA to per-stream queues; the copies to the output fds run on the I/O pool
 * (cocoon-io-pool.h), one job per stream at a time, which sends CREDIT only after the bytes were
 * written. Inputs are read by the mux thread (non-blocking, within the stream's credit).
 *
 * Every function is thread-safe and may be called from any thread; only
 * cocoon_stdio_mux_wait_outputs() blocks (until its deadline). Nothing calls back into the caller
 * except the closed func, on the GMainContext given with it.
 *
 * fds handed to the mux are taken (even when the call fails) and set O_NONBLOCK, which affects
 * every dup of the same open file description: pass a dup of your own, or open the fd for the mux
 * alone. The process should ignore SIGPIPE (the mux and the I/O pool do not rely on it).
 */
typedef struct _CocoonStdioMux CocoonStdioMux;

/* called once when the connection ends: error says why (peer closed, protocol error, close()) */
typedef void (*CocoonStdioMuxClosedFunc)(CocoonStdioMux *mux, const GError *error,
					 gpointer user_data);

/* fd: the connected stdio socket, taken; sandbox_id names the mux in errors and logs */
CocoonStdioMux *cocoon_stdio_mux_new(gint fd, const gchar *sandbox_id, GError **error);
CocoonStdioMux *cocoon_stdio_mux_ref(CocoonStdioMux *mux);
/* the last unref closes the mux (as cocoon_stdio_mux_close()) and joins its thread */
void cocoon_stdio_mux_unref(CocoonStdioMux *mux);

/* func runs on context (NULL = the global default context) once the connection ended */
void cocoon_stdio_mux_set_closed_func(CocoonStdioMux *mux, CocoonStdioMuxClosedFunc func,
				      gpointer user_data, GMainContext *context);

/* a new non-zero stream id, unique in this mux */
guint32 cocoon_stdio_mux_allocate_stream_id(CocoonStdioMux *mux);

/*
 * guest → host: DATA of stream_id is written to fd (taken), EOF closes fd. A write error (EPIPE)
 * drops the rest of the stream, still credited. Several streams may share one destination: pass
 * each a dup. Fails when stream_id is 0 or in use, or the mux is closed.
 */
gboolean cocoon_stdio_mux_add_output(CocoonStdioMux *mux, guint32 stream_id, gint fd,
				     GError **error);
/*
 * host → guest: fd (taken) is read and sent as DATA within the stream's credit; read EOF (or a read
 * error) sends EOF and closes fd.
 */
gboolean cocoon_stdio_mux_add_input(CocoonStdioMux *mux, guint32 stream_id, gint fd,
				    GError **error);
/*
 * send EOF on an input stream now (CloseIO): what was read already goes out first, bytes not read
 * from fd yet are discarded and fd is closed. Fails with G_IO_ERROR_NOT_FOUND for an unknown input.
 * A second call, or one after read EOF, succeeds without sending anything.
 */
gboolean cocoon_stdio_mux_close_input(CocoonStdioMux *mux, guint32 stream_id, GError **error);
/*
 * forget a stream: its fd is closed, data still queued or arriving later is dropped (and credited).
 * Unknown ids are ignored.
 */
void cocoon_stdio_mux_remove_stream(CocoonStdioMux *mux, guint32 stream_id);

/*
 * blocks until every listed output stream saw EOF (or the connection ended) and every byte queued
 * for it was written (or dropped after a write error) and its fd closed; ids that are not output
 * streams of this mux count as done. FALSE when deadline (g_get_monotonic_time() based) passed
 * first.
 */
gboolean cocoon_stdio_mux_wait_outputs(CocoonStdioMux *mux, const guint32 *stream_ids, guint n,
				       gint64 deadline_monotonic_us);

/*
 * blocks until every listed output stream delivered offsets[i] bytes since it was added (written
 * to its fd, or dropped after a write error or removal) or is done as above; offsets NULL: until
 * every one is done. Ids that are not output streams count as done. FALSE when no listed stream
 * received or delivered a byte for idle_us, or the deadline passed, first. For an exit: the
 * offsets where the process's own output ends, while a descendant may keep the stream open.
 */
gboolean cocoon_stdio_mux_wait_delivered(CocoonStdioMux *mux, const guint32 *stream_ids,
					 const guint64 *offsets, guint n, gint64 idle_us,
					 gint64 deadline_monotonic_us);

/*
 * end the connection: inputs stop (no EOF is sent), outputs get EOF after writing what they already
 * queued as far as it goes without blocking. Idempotent. Call cocoon_stdio_mux_wait_outputs()
 * first when the tail matters.
 */
void cocoon_stdio_mux_close(CocoonStdioMux *mux);
/* TRUE once the connection ended (peer closed, protocol error, close()) */
gboolean cocoon_stdio_mux_is_closed(CocoonStdioMux *mux);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonStdioMux, cocoon_stdio_mux_unref)

G_END_DECLS
