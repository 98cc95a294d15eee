/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-stdio"

#include "config.h"

#include "cocoon-stdio-frame.h"

#include <string.h>

#include <glib.h>

struct _CocoonStdioFrameDecoder {
	/* bytes fed and not yet consumed start at offset */
	GByteArray *buffer;
	gsize offset;
	/* set once a header was invalid: the stream cannot be resynchronized */
	GError *error;
};

G_DEFINE_QUARK(cocoon - stdio - frame - error - quark, cocoon_stdio_frame_error)

static void
put_be32(guint8 *out, guint32 value)
{
	out[0] = (guint8)(value >> 24);
	out[1] = (guint8)(value >> 16);
	out[2] = (guint8)(value >> 8);
	out[3] = (guint8)value;
}

static guint32
get_be32(const guint8 *in)
{
	return ((guint32)in[0] << 24) | ((guint32)in[1] << 16) | ((guint32)in[2] << 8) |
	       (guint32)in[3];
}

const gchar *
cocoon_stdio_frame_type_to_string(guint8 type)
{
	switch (type) {
	case COCOON_STDIO_FRAME_DATA:
		return "DATA";
	case COCOON_STDIO_FRAME_EOF:
		return "EOF";
	case COCOON_STDIO_FRAME_CREDIT:
		return "CREDIT";
	default:
		return "unknown";
	}
}

/**
 * cocoon_stdio_frame_header_encode:
 *
 * Writes a 12-byte header. No checks: the encoders below keep the limits.
 */
void
cocoon_stdio_frame_header_encode(guint32 stream_id, guint8 type, guint32 length,
				 guint8 out[COCOON_STDIO_HEADER_SIZE])
{
	put_be32(out, stream_id);
	out[4] = type;
	out[5] = 0;
	out[6] = 0;
	out[7] = 0;
	put_be32(out + 8, length);
}

/**
 * cocoon_stdio_frame_header_decode:
 *
 * Decodes a header and checks it against the protocol: stream id non-zero, a known type,
 * reserved bytes zero, and the payload length allowed for the type.
 */
gboolean
cocoon_stdio_frame_header_decode(const guint8 in[COCOON_STDIO_HEADER_SIZE],
				 CocoonStdioFrameHeader *ret_header, GError **error)
{
	CocoonStdioFrameHeader header = {
		.stream_id = get_be32(in),
		.type = in[4],
		.length = get_be32(in + 8),
	};

	if (header.stream_id == 0) {
		g_set_error(error, COCOON_STDIO_FRAME_ERROR, COCOON_STDIO_FRAME_ERROR_INVALID,
			    "stdio frame with stream id 0");
		return FALSE;
	}
	if (in[5] != 0 || in[6] != 0 || in[7] != 0) {
		g_set_error(error, COCOON_STDIO_FRAME_ERROR, COCOON_STDIO_FRAME_ERROR_INVALID,
			    "stdio frame on stream %u with non-zero reserved bytes",
			    header.stream_id);
		return FALSE;
	}
	switch (header.type) {
	case COCOON_STDIO_FRAME_DATA:
		if (header.length > COCOON_STDIO_MAX_DATA) {
			g_set_error(
				error, COCOON_STDIO_FRAME_ERROR, COCOON_STDIO_FRAME_ERROR_INVALID,
				"stdio DATA frame on stream %u of %u bytes, over the limit of %u",
				header.stream_id, header.length, COCOON_STDIO_MAX_DATA);
			return FALSE;
		}
		break;
	case COCOON_STDIO_FRAME_EOF:
	case COCOON_STDIO_FRAME_CREDIT: {
		/* fixed payloads: none for EOF, the credit's size for CREDIT */
		gboolean eof = header.type == COCOON_STDIO_FRAME_EOF;

		if (header.length != (eof ? 0 : COCOON_STDIO_CREDIT_PAYLOAD_SIZE)) {
			g_set_error(error, COCOON_STDIO_FRAME_ERROR,
				    COCOON_STDIO_FRAME_ERROR_INVALID,
				    "stdio %s frame on stream %u with a %u-byte payload",
				    eof ? "EOF" : "CREDIT", header.stream_id, header.length);
			return FALSE;
		}
		break;
	}
	default:
		g_set_error(error, COCOON_STDIO_FRAME_ERROR, COCOON_STDIO_FRAME_ERROR_INVALID,
			    "stdio frame on stream %u of unknown type %u", header.stream_id,
			    header.type);
		return FALSE;
	}

	*ret_header = header;
	return TRUE;
}

/**
 * cocoon_stdio_frame_encode_data:
 *
 * Returns: a whole DATA frame (header and payload) in one buffer.
 */
GBytes *
cocoon_stdio_frame_encode_data(guint32 stream_id, const guint8 *data, gsize length, GError **error)
{
	guint8 *frame;

	if (stream_id == 0) {
		g_set_error(error, COCOON_STDIO_FRAME_ERROR,
			    COCOON_STDIO_FRAME_ERROR_INVALID_ARGUMENT,
			    "stdio stream id 0 is reserved");
		return NULL;
	}
	if (length > COCOON_STDIO_MAX_DATA) {
		g_set_error(error, COCOON_STDIO_FRAME_ERROR,
			    COCOON_STDIO_FRAME_ERROR_INVALID_ARGUMENT,
			    "stdio DATA of %" G_GSIZE_FORMAT " bytes is over the limit of %u",
			    length, COCOON_STDIO_MAX_DATA);
		return NULL;
	}

	frame = g_malloc(COCOON_STDIO_HEADER_SIZE + length);
	cocoon_stdio_frame_header_encode(stream_id, COCOON_STDIO_FRAME_DATA, (guint32)length,
					 frame);
	if (length > 0)
		memcpy(frame + COCOON_STDIO_HEADER_SIZE, data, length);
	return g_bytes_new_take(frame, COCOON_STDIO_HEADER_SIZE + length);
}

/**
 * cocoon_stdio_frame_encode_eof:
 *
 * Writes an EOF frame (a bare header).
 */
void
cocoon_stdio_frame_encode_eof(guint32 stream_id, guint8 out[COCOON_STDIO_EOF_FRAME_SIZE])
{
	cocoon_stdio_frame_header_encode(stream_id, COCOON_STDIO_FRAME_EOF, 0, out);
}

/**
 * cocoon_stdio_frame_encode_credit:
 *
 * Writes a CREDIT frame that grants the sender of stream_id credit more bytes.
 */
void
cocoon_stdio_frame_encode_credit(guint32 stream_id, guint32 credit,
				 guint8 out[COCOON_STDIO_CREDIT_FRAME_SIZE])
{
	cocoon_stdio_frame_header_encode(stream_id, COCOON_STDIO_FRAME_CREDIT,
					 COCOON_STDIO_CREDIT_PAYLOAD_SIZE, out);
	put_be32(out + COCOON_STDIO_HEADER_SIZE, credit);
}

void
cocoon_stdio_frame_clear(CocoonStdioFrame *frame)
{
	if (frame == NULL)
		return;
	g_clear_pointer(&frame->data, g_bytes_unref);
	frame->stream_id = 0;
	frame->type = 0;
	frame->credit = 0;
}

void
cocoon_stdio_frame_decoder_feed(CocoonStdioFrameDecoder *decoder, const guint8 *data, gsize length)
{
	g_return_if_fail(decoder != NULL);

	g_return_if_fail(length <= G_MAXINT);

	if (length == 0 || decoder->error != NULL)
		return;
	/* drop what was consumed before growing: the buffer stays near one frame plus one read */
	if (decoder->offset > 0) {
		g_byte_array_remove_range(decoder->buffer, 0, (guint)decoder->offset);
		decoder->offset = 0;
	}
	g_byte_array_append(decoder->buffer, data, (guint)length);
}

gsize
cocoon_stdio_frame_decoder_pending(CocoonStdioFrameDecoder *decoder)
{
	g_return_val_if_fail(decoder != NULL, 0);
	return decoder->buffer->len - decoder->offset;
}

/**
 * cocoon_stdio_frame_decoder_next:
 *
 * Takes the next whole frame out of the bytes fed so far. A header is checked as soon as it is
 * complete, so garbage fails after 12 bytes without waiting for a payload that never comes.
 */
gboolean
cocoon_stdio_frame_decoder_next(CocoonStdioFrameDecoder *decoder, gboolean *ret_available,
				CocoonStdioFrame *ret_frame, GError **error)
{
	CocoonStdioFrameHeader header;
	CocoonStdioFrame frame = {0};
	const guint8 *start;
	gsize pending;

	g_return_val_if_fail(decoder != NULL, FALSE);
	g_return_val_if_fail(ret_available != NULL, FALSE);
	g_return_val_if_fail(ret_frame != NULL, FALSE);

	if (decoder->error != NULL) {
		g_propagate_error(error, g_error_copy(decoder->error));
		return FALSE;
	}

	pending = decoder->buffer->len - decoder->offset;
	if (pending < COCOON_STDIO_HEADER_SIZE) {
		*ret_available = FALSE;
		return TRUE;
	}
	start = decoder->buffer->data + decoder->offset;
	if (!cocoon_stdio_frame_header_decode(start, &header, &decoder->error)) {
		g_propagate_error(error, g_error_copy(decoder->error));
		return FALSE;
	}
	/* the length was checked against the limit of its type above */
	if (pending - COCOON_STDIO_HEADER_SIZE < header.length) {
		*ret_available = FALSE;
		return TRUE;
	}

	frame.stream_id = header.stream_id;
	frame.type = header.type;
	if (header.type == COCOON_STDIO_FRAME_DATA)
		frame.data = g_bytes_new(start + COCOON_STDIO_HEADER_SIZE, header.length);
	else if (header.type == COCOON_STDIO_FRAME_CREDIT)
		frame.credit = get_be32(start + COCOON_STDIO_HEADER_SIZE);
	decoder->offset += COCOON_STDIO_HEADER_SIZE + header.length;
	if (decoder->offset == decoder->buffer->len) {
		g_byte_array_set_size(decoder->buffer, 0);
		decoder->offset = 0;
	}

	*ret_available = TRUE;
	*ret_frame = frame;
	return TRUE;
}

void
cocoon_stdio_frame_decoder_free(CocoonStdioFrameDecoder *decoder)
{
	if (decoder == NULL)
		return;
	g_byte_array_unref(decoder->buffer);
	g_clear_error(&decoder->error);
	g_free(decoder);
}

CocoonStdioFrameDecoder *
cocoon_stdio_frame_decoder_new(void)
{
	CocoonStdioFrameDecoder *decoder = g_new0(CocoonStdioFrameDecoder, 1);

	decoder->buffer = g_byte_array_sized_new(COCOON_STDIO_MAX_FRAME_SIZE);
	return decoder;
}
