/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* the ttrpc frame codec: pure code, no I/O (containerd/ttrpc PROTOCOL.md) */

#define COCOON_TTRPC_HEADER_SIZE 10
/* the largest data section a peer may send: exactly 4 MiB is allowed */
#define COCOON_TTRPC_MAX_DATA_SIZE (4u << 20)

typedef enum {
	COCOON_TTRPC_MESSAGE_REQUEST = 0x01,
	COCOON_TTRPC_MESSAGE_RESPONSE = 0x02,
	COCOON_TTRPC_MESSAGE_DATA = 0x03,
} CocoonTtrpcMessageType;

typedef enum {
	COCOON_TTRPC_FLAG_REMOTE_CLOSED = 0x01,
	COCOON_TTRPC_FLAG_REMOTE_OPEN = 0x02,
	COCOON_TTRPC_FLAG_NO_DATA = 0x04,
} CocoonTtrpcFlags;

typedef struct {
	guint32 length;
	guint32 stream_id;
	guint8 type;
	guint8 flags;
} CocoonTtrpcFrameHeader;

void cocoon_ttrpc_frame_header_encode(const CocoonTtrpcFrameHeader *header,
				      guint8 out[COCOON_TTRPC_HEADER_SIZE]);
void cocoon_ttrpc_frame_header_decode(const guint8 in[COCOON_TTRPC_HEADER_SIZE],
				      CocoonTtrpcFrameHeader *ret_header);

/* a whole frame (header + data) in one new GBytes; fails when data is over the cap */
GBytes *cocoon_ttrpc_frame_encode(guint32 stream_id, guint8 type, guint8 flags, const guint8 *data,
				  gsize length, GError **error);

/*
 * an incremental decoder fed with whatever a read returned (split reads, many frames per read).
 * A frame whose length is over the cap is not buffered: its data is skipped and it is reported with
 * oversized = TRUE so the caller can answer RESOURCE_EXHAUSTED on that stream and keep the
 * connection.
 */
typedef struct _CocoonTtrpcFrameDecoder CocoonTtrpcFrameDecoder;

typedef struct {
	CocoonTtrpcFrameHeader header;
	gboolean oversized;
	GBytes *data; /* NULL when oversized */
} CocoonTtrpcFrame;

CocoonTtrpcFrameDecoder *cocoon_ttrpc_frame_decoder_new(void);
void cocoon_ttrpc_frame_decoder_free(CocoonTtrpcFrameDecoder *decoder);
void cocoon_ttrpc_frame_decoder_feed(CocoonTtrpcFrameDecoder *decoder, const guint8 *data,
				     gsize length);
/* TRUE and fills ret_frame when a whole frame is available; FALSE when more bytes are needed */
gboolean cocoon_ttrpc_frame_decoder_next(CocoonTtrpcFrameDecoder *decoder,
					 CocoonTtrpcFrame *ret_frame);
/* bytes buffered that do not yet form a frame (a peer that closes now closed mid-frame) */
gsize cocoon_ttrpc_frame_decoder_pending(CocoonTtrpcFrameDecoder *decoder);
void cocoon_ttrpc_frame_clear(CocoonTtrpcFrame *frame);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonTtrpcFrameDecoder, cocoon_ttrpc_frame_decoder_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CocoonTtrpcFrame, cocoon_ttrpc_frame_clear)

G_END_DECLS
