/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * the stdio mux frame codec (docs/architecture.md, "stdio mux"): pure code, no I/O, glib only,
 * shared by the host (src/io/) and the statically linked guest agent (src/guest/).
 *
 * frame = 12-byte header + payload, integers big-endian:
 *   [0..4) stream id (non-zero), [4] type, [5..8) reserved (0), [8..12) payload length
 * DATA carries at most COCOON_STDIO_MAX_DATA bytes, EOF none, CREDIT a 4-byte big-endian byte
 * count.
 */

#define COCOON_STDIO_HEADER_SIZE 12u
/* the largest DATA payload: exactly 256 KiB is allowed (fewer, larger virtio-serial buffers) */
#define COCOON_STDIO_MAX_DATA 262144u
/* DATA bytes a sender may have outstanding (not yet credited) per stream */
#define COCOON_STDIO_INITIAL_WINDOW	 (1u << 20)
#define COCOON_STDIO_CREDIT_PAYLOAD_SIZE 4u
#define COCOON_STDIO_EOF_FRAME_SIZE	 COCOON_STDIO_HEADER_SIZE
#define COCOON_STDIO_CREDIT_FRAME_SIZE	 (COCOON_STDIO_HEADER_SIZE + COCOON_STDIO_CREDIT_PAYLOAD_SIZE)
/* the largest whole frame on the wire */
#define COCOON_STDIO_MAX_FRAME_SIZE (COCOON_STDIO_HEADER_SIZE + COCOON_STDIO_MAX_DATA)

typedef enum {
	COCOON_STDIO_FRAME_DATA = 1,
	COCOON_STDIO_FRAME_EOF = 2,
	COCOON_STDIO_FRAME_CREDIT = 3,
} CocoonStdioFrameType;

#define COCOON_STDIO_FRAME_ERROR (cocoon_stdio_frame_error_quark())
GQuark cocoon_stdio_frame_error_quark(void);

typedef enum {
	/* the bytes are not a valid frame: the byte stream cannot be resynchronized, close it */
	COCOON_STDIO_FRAME_ERROR_INVALID,
	/* an argument to an encoder is out of range (zero stream id, payload over the cap) */
	COCOON_STDIO_FRAME_ERROR_INVALID_ARGUMENT,
} CocoonStdioFrameError;

typedef struct {
	guint32 stream_id;
	guint8 type;
	guint32 length;
} CocoonStdioFrameHeader;

/* writes a header as is (no checks); the caller keeps the limits */
void cocoon_stdio_frame_header_encode(guint32 stream_id, guint8 type, guint32 length,
				      guint8 out[COCOON_STDIO_HEADER_SIZE]);
/*
 * decodes and validates a header: non-zero stream id, known type, reserved bytes 0, length within
 * the limit of the type. COCOON_STDIO_FRAME_ERROR_INVALID otherwise.
 */
gboolean cocoon_stdio_frame_header_decode(const guint8 in[COCOON_STDIO_HEADER_SIZE],
					  CocoonStdioFrameHeader *ret_header, GError **error);

/* a whole DATA frame (header + payload) in one new GBytes; fails on stream id 0 or length over the
 * cap */
GBytes *cocoon_stdio_frame_encode_data(guint32 stream_id, const guint8 *data, gsize length,
				       GError **error);
/* an EOF frame; stream_id must be non-zero */
void cocoon_stdio_frame_encode_eof(guint32 stream_id, guint8 out[COCOON_STDIO_EOF_FRAME_SIZE]);
/* a CREDIT frame granting credit more bytes; stream_id must be non-zero */
void cocoon_stdio_frame_encode_credit(guint32 stream_id, guint32 credit,
				      guint8 out[COCOON_STDIO_CREDIT_FRAME_SIZE]);

/*
 * an incremental decoder fed with whatever a read returned (split reads, many frames per read).
 * Headers are validated as soon as their 12 bytes arrived; a violation is fatal: the decoder keeps
 * failing with the same error and the caller closes the connection.
 */
typedef struct _CocoonStdioFrameDecoder CocoonStdioFrameDecoder;

typedef struct {
	guint32 stream_id;
	guint8 type;
	/* CREDIT: the bytes granted */
	guint32 credit;
	/* DATA: the payload (never NULL for DATA, possibly empty); NULL for other types */
	GBytes *data;
} CocoonStdioFrame;

CocoonStdioFrameDecoder *cocoon_stdio_frame_decoder_new(void);
void cocoon_stdio_frame_decoder_free(CocoonStdioFrameDecoder *decoder);
void cocoon_stdio_frame_decoder_feed(CocoonStdioFrameDecoder *decoder, const guint8 *data,
				     gsize length);
/*
 * FALSE with COCOON_STDIO_FRAME_ERROR_INVALID on a protocol violation. Otherwise TRUE, with
 * *ret_available TRUE and *ret_frame filled (clear it with cocoon_stdio_frame_clear()) when a whole
 * frame was decoded, or *ret_available FALSE when more bytes are needed.
 */
gboolean cocoon_stdio_frame_decoder_next(CocoonStdioFrameDecoder *decoder, gboolean *ret_available,
					 CocoonStdioFrame *ret_frame, GError **error);
/* bytes buffered that do not yet form a frame (a peer that closes now closed mid-frame) */
gsize cocoon_stdio_frame_decoder_pending(CocoonStdioFrameDecoder *decoder);
void cocoon_stdio_frame_clear(CocoonStdioFrame *frame);

/* "DATA", "EOF", "CREDIT" or "unknown" */
const gchar *cocoon_stdio_frame_type_to_string(guint8 type);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonStdioFrameDecoder, cocoon_stdio_frame_decoder_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CocoonStdioFrame, cocoon_stdio_frame_clear)

G_END_DECLS
