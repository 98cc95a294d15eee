/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-ttrpc"

#include "config.h"

#include "cocoon-ttrpc-frame.h"

#include <string.h>

#include "cocoon-ttrpc-status.h"

struct _CocoonTtrpcFrameDecoder {
	GByteArray *buffer;
	/* bytes of buffer already consumed; compacted lazily */
	gsize offset;
	/* data bytes of an oversized frame still to be thrown away */
	guint64 skip;
};

static guint32
read_be32(const guint8 *in)
{
	return ((guint32)in[0] << 24) | ((guint32)in[1] << 16) | ((guint32)in[2] << 8) |
	       (guint32)in[3];
}

static void
write_be32(guint8 *out, guint32 value)
{
	out[0] = (guint8)(value >> 24);
	out[1] = (guint8)(value >> 16);
	out[2] = (guint8)(value >> 8);
	out[3] = (guint8)value;
}

/**
 * cocoon_ttrpc_frame_header_encode:
 *
 * writes the 10-byte big-endian header
 */
void
cocoon_ttrpc_frame_header_encode(const CocoonTtrpcFrameHeader *header,
				 guint8 out[COCOON_TTRPC_HEADER_SIZE])
{
	write_be32(out, header->length);
	write_be32(out + 4, header->stream_id);
	out[8] = header->type;
	out[9] = header->flags;
}

/**
 * cocoon_ttrpc_frame_header_decode:
 *
 * reads a 10-byte header; any bytes are a valid header, the caller checks the length
 */
void
cocoon_ttrpc_frame_header_decode(const guint8 in[COCOON_TTRPC_HEADER_SIZE],
				 CocoonTtrpcFrameHeader *ret_header)
{
	ret_header->length = read_be32(in);
	ret_header->stream_id = read_be32(in + 4);
	ret_header->type = in[8];
	ret_header->flags = in[9];
}

/**
 * cocoon_ttrpc_frame_encode:
 *
 * a whole frame in one buffer; RESOURCE_EXHAUSTED when data is over the 4 MiB cap
 */
GBytes *
cocoon_ttrpc_frame_encode(guint32 stream_id, guint8 type, guint8 flags, const guint8 *data,
			  gsize length, GError **error)
{
	CocoonTtrpcFrameHeader header = {
		.length = (guint32)length,
		.stream_id = stream_id,
		.type = type,
		.flags = flags,
	};
	guint8 *buf;

	if (length > COCOON_TTRPC_MAX_DATA_SIZE) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_RESOURCE_EXHAUSTED,
			    "message length %" G_GSIZE_FORMAT " exceed maximum message size of %u",
			    length, COCOON_TTRPC_MAX_DATA_SIZE);
		return NULL;
	}
	buf = g_malloc(COCOON_TTRPC_HEADER_SIZE + length);
	cocoon_ttrpc_frame_header_encode(&header, buf);
	if (length > 0)
		memcpy(buf + COCOON_TTRPC_HEADER_SIZE, data, length);
	return g_bytes_new_take(buf, COCOON_TTRPC_HEADER_SIZE + length);
}

/**
 * cocoon_ttrpc_frame_decoder_new:
 *
 * an empty incremental decoder
 */
CocoonTtrpcFrameDecoder *
cocoon_ttrpc_frame_decoder_new(void)
{
	CocoonTtrpcFrameDecoder *decoder = g_new0(CocoonTtrpcFrameDecoder, 1);
	decoder->buffer = g_byte_array_new();
	return decoder;
}

void
cocoon_ttrpc_frame_decoder_free(CocoonTtrpcFrameDecoder *decoder)
{
	if (decoder == NULL)
		return;
	g_byte_array_unref(decoder->buffer);
	g_free(decoder);
}

/**
 * cocoon_ttrpc_frame_decoder_feed:
 *
 * appends bytes as they came from a read; the data of an oversized frame is dropped here
 */
void
cocoon_ttrpc_frame_decoder_feed(CocoonTtrpcFrameDecoder *decoder, const guint8 *data, gsize length)
{
	if (decoder->skip > 0) {
		gsize n = (gsize)MIN((guint64)length, decoder->skip);
		decoder->skip -= n;
		data += n;
		length -= n;
	}
	if (length == 0)
		return;
	/* compact before growing so a long-lived connection does not keep consumed bytes */
	if (decoder->offset > 0 && decoder->offset >= decoder->buffer->len / 2) {
		g_byte_array_remove_range(decoder->buffer, 0, (guint)decoder->offset);
		decoder->offset = 0;
	}
	g_byte_array_append(decoder->buffer, data, (guint)length);
}

/**
 * cocoon_ttrpc_frame_decoder_next:
 *
 * the next whole frame, or FALSE when more bytes are needed. An oversized frame is reported as
 * soon as its header is seen (oversized = TRUE, data = NULL); its data is then skipped.
 */
gboolean
cocoon_ttrpc_frame_decoder_next(CocoonTtrpcFrameDecoder *decoder, CocoonTtrpcFrame *ret_frame)
{
	CocoonTtrpcFrameHeader header;
	const guint8 *start;
	gsize avail;

	/* an oversized frame still being skipped: nothing after it is available yet */
	if (decoder->skip > 0)
		return FALSE;
	avail = decoder->buffer->len - decoder->offset;
	if (avail < COCOON_TTRPC_HEADER_SIZE)
		return FALSE;
	start = decoder->buffer->data + decoder->offset;
	cocoon_ttrpc_frame_header_decode(start, &header);

	if (header.length > COCOON_TTRPC_MAX_DATA_SIZE) {
		gsize have = MIN(avail - COCOON_TTRPC_HEADER_SIZE, (gsize)header.length);
		decoder->offset += COCOON_TTRPC_HEADER_SIZE + have;
		decoder->skip = header.length - have;
		ret_frame->header = header;
		ret_frame->oversized = TRUE;
		ret_frame->data = NULL;
		if (decoder->offset == decoder->buffer->len) {
			g_byte_array_set_size(decoder->buffer, 0);
			decoder->offset = 0;
		}
		return TRUE;
	}
	if (avail - COCOON_TTRPC_HEADER_SIZE < header.length)
		return FALSE;

	ret_frame->header = header;
	ret_frame->oversized = FALSE;
	ret_frame->data = g_bytes_new(start + COCOON_TTRPC_HEADER_SIZE, header.length);
	decoder->offset += COCOON_TTRPC_HEADER_SIZE + header.length;
	if (decoder->offset == decoder->buffer->len) {
		g_byte_array_set_size(decoder->buffer, 0);
		decoder->offset = 0;
	}
	return TRUE;
}

/**
 * cocoon_ttrpc_frame_decoder_pending:
 *
 * bytes that do not form a frame yet, counting the data of an oversized frame still to be skipped
 */
gsize
cocoon_ttrpc_frame_decoder_pending(CocoonTtrpcFrameDecoder *decoder)
{
	guint64 pending = (guint64)(decoder->buffer->len - decoder->offset) + decoder->skip;
	return (gsize)MIN(pending, (guint64)G_MAXSIZE);
}

void
cocoon_ttrpc_frame_clear(CocoonTtrpcFrame *frame)
{
	if (frame == NULL)
		return;
	g_clear_pointer(&frame->data, g_bytes_unref);
}
