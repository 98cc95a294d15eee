/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * What the parts of the host stdio mux share: the stream table and lifetime
 * (cocoon-stdio-mux.c), the output pool jobs (cocoon-stdio-mux-output.c), the mux thread that
 * owns the connection (cocoon-stdio-mux-thread.c) and the waits (cocoon-stdio-mux-wait.c).
 */

#include "cocoon-stdio-mux.h"

#include "cocoon-stdio-frame.h"

G_BEGIN_DECLS

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
/* a g_atomic_rc_box: cocoon_stdio_mux_stream_ref() and _unref() */
typedef struct {
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

Stream *cocoon_stdio_mux_stream_ref(Stream *stream);
void cocoon_stdio_mux_stream_unref(gpointer data);
gboolean cocoon_stdio_mux_try_ref(CocoonStdioMux *mux);
void cocoon_stdio_mux_wake(CocoonStdioMux *mux);
void cocoon_stdio_mux_send_locked(CocoonStdioMux *mux, const guint8 *header, gsize header_size,
				  const guint8 *payload, gsize payload_size);
void cocoon_stdio_mux_send_credit_locked(CocoonStdioMux *mux, guint32 stream_id, gsize credit);
void cocoon_stdio_mux_drop_queued_locked(CocoonStdioMux *mux, Stream *stream);
void cocoon_stdio_mux_schedule_output_job_locked(CocoonStdioMux *mux, Stream *stream);
void cocoon_stdio_mux_notify_closed_locked(CocoonStdioMux *mux);
gpointer cocoon_stdio_mux_thread(gpointer data);

G_END_DECLS
