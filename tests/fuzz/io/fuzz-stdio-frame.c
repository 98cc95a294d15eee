/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the stdio mux frame decoder: bytes from the guest are untrusted. The first
 * input byte picks the feed chunk size; every decoded frame is re-encoded and must equal the bytes
 * it came from.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "cocoon-stdio-frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
reencode(const CocoonStdioFrame *frame, GByteArray *out)
{
	guint8 header[COCOON_STDIO_CREDIT_FRAME_SIZE];

	switch (frame->type) {
	case COCOON_STDIO_FRAME_DATA: {
		g_autoptr(GBytes) bytes = NULL;
		gsize length = 0;
		const guint8 *payload = g_bytes_get_data(frame->data, &length);

		g_assert_cmpuint(length, <=, COCOON_STDIO_MAX_DATA);
		bytes = cocoon_stdio_frame_encode_data(frame->stream_id, payload, length, NULL);
		g_assert_nonnull(bytes);
		g_byte_array_append(out, g_bytes_get_data(bytes, NULL),
				    (guint)g_bytes_get_size(bytes));
		break;
	}
	case COCOON_STDIO_FRAME_EOF:
		g_assert_null(frame->data);
		cocoon_stdio_frame_encode_eof(frame->stream_id, header);
		g_byte_array_append(out, header, COCOON_STDIO_EOF_FRAME_SIZE);
		break;
	case COCOON_STDIO_FRAME_CREDIT:
		g_assert_null(frame->data);
		cocoon_stdio_frame_encode_credit(frame->stream_id, frame->credit, header);
		g_byte_array_append(out, header, COCOON_STDIO_CREDIT_FRAME_SIZE);
		break;
	default:
		g_assert_not_reached();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(CocoonStdioFrameDecoder) decoder = cocoon_stdio_frame_decoder_new();
	g_autoptr(GByteArray) reencoded = g_byte_array_new();
	gboolean failed = FALSE;
	gsize chunk;

	if (size == 0)
		return 0;
	chunk = (gsize)data[0] + 1;
	data++;
	size--;

	for (gsize offset = 0; offset < size && !failed; offset += chunk) {
		cocoon_stdio_frame_decoder_feed(decoder, data + offset, MIN(chunk, size - offset));
		for (;;) {
			g_autoptr(GError) error = NULL;
			g_auto(CocoonStdioFrame) frame = {0};
			gboolean available = FALSE;

			if (!cocoon_stdio_frame_decoder_next(decoder, &available, &frame, &error)) {
				g_assert_error(error, COCOON_STDIO_FRAME_ERROR,
					       COCOON_STDIO_FRAME_ERROR_INVALID);
				failed = TRUE;
				break;
			}
			if (!available)
				break;
			g_assert_cmpuint(frame.stream_id, !=, 0);
			reencode(&frame, reencoded);
		}
	}

	/* what was decoded is exactly a prefix of the input */
	g_assert_cmpuint(reencoded->len, <=, size);
	g_assert_true(reencoded->len == 0 || memcmp(reencoded->data, data, reencoded->len) == 0);
	if (!failed)
		g_assert_cmpuint(reencoded->len + cocoon_stdio_frame_decoder_pending(decoder), ==,
				 size);
	return 0;
}
