/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "cocoon-stdio-frame.h"

static void
decode_one(CocoonStdioFrameDecoder *decoder, CocoonStdioFrame *ret_frame)
{
	g_autoptr(GError) error = NULL;
	gboolean available = FALSE;

	g_assert_true(cocoon_stdio_frame_decoder_next(decoder, &available, ret_frame, &error));
	g_assert_no_error(error);
	g_assert_true(available);
}

static void
assert_need_more(CocoonStdioFrameDecoder *decoder)
{
	g_autoptr(GError) error = NULL;
	g_auto(CocoonStdioFrame) frame = {0};
	gboolean available = TRUE;

	g_assert_true(cocoon_stdio_frame_decoder_next(decoder, &available, &frame, &error));
	g_assert_no_error(error);
	g_assert_false(available);
}

static void
assert_invalid(CocoonStdioFrameDecoder *decoder)
{
	g_autoptr(GError) error = NULL;
	g_auto(CocoonStdioFrame) frame = {0};
	gboolean available = FALSE;

	g_assert_false(cocoon_stdio_frame_decoder_next(decoder, &available, &frame, &error));
	g_assert_error(error, COCOON_STDIO_FRAME_ERROR, COCOON_STDIO_FRAME_ERROR_INVALID);
}

static void
test_header_layout(void)
{
	guint8 out[COCOON_STDIO_HEADER_SIZE];
	const guint8 expected[] = {0x01, 0x02, 0x03, 0x04, 0x01, 0, 0, 0, 0x00, 0x01, 0x00, 0x00};
	guint8 credit[COCOON_STDIO_CREDIT_FRAME_SIZE];
	const guint8 expected_credit[] = {0, 0, 0, 7, 3,    0,	  0,	0,
					  0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef};
	guint8 eof[COCOON_STDIO_EOF_FRAME_SIZE];
	const guint8 expected_eof[] = {0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0, 0, 0};

	cocoon_stdio_frame_header_encode(0x01020304, COCOON_STDIO_FRAME_DATA, 65536, out);
	g_assert_cmpmem(out, sizeof(out), expected, sizeof(expected));
	cocoon_stdio_frame_encode_credit(7, 0xdeadbeef, credit);
	g_assert_cmpmem(credit, sizeof(credit), expected_credit, sizeof(expected_credit));
	cocoon_stdio_frame_encode_eof(G_MAXUINT32, eof);
	g_assert_cmpmem(eof, sizeof(eof), expected_eof, sizeof(expected_eof));
}

static void
test_header_validation(void)
{
	struct {
		guint8 bytes[COCOON_STDIO_HEADER_SIZE];
		gboolean valid;
	} cases[] = {
		{{0, 0, 0, 1, 1, 0, 0, 0, 0, 4, 0, 0}, TRUE},	  /* DATA of exactly 256 KiB */
		{{0, 0, 0, 1, 1, 0, 0, 0, 0, 4, 0, 1}, FALSE},	  /* DATA over 256 KiB */
		{{0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0}, TRUE},	  /* empty DATA */
		{{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1}, FALSE},	  /* stream 0 */
		{{0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0}, TRUE},	  /* EOF */
		{{0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 1}, FALSE},	  /* EOF with payload */
		{{0, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 4}, TRUE},	  /* CREDIT */
		{{0, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 8}, FALSE},	  /* CREDIT with 8 bytes */
		{{0, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0}, FALSE},	  /* CREDIT without payload */
		{{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, FALSE},	  /* type 0 */
		{{0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0}, FALSE},	  /* type 4 */
		{{0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0}, FALSE},	  /* reserved */
		{{0, 0, 0, 1, 1, 0, 0, 0x80, 0, 0, 0, 0}, FALSE}, /* reserved */
		{{0, 0, 0, 1, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, FALSE},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		CocoonStdioFrameHeader header = {0};
		gboolean ok = cocoon_stdio_frame_header_decode(cases[i].bytes, &header, &error);

		g_test_message("case %" G_GSIZE_FORMAT, i);
		g_assert_cmpint(ok, ==, cases[i].valid);
		if (ok) {
			g_assert_no_error(error);
			g_assert_cmpuint(header.stream_id, ==, 1);
			g_assert_cmpuint(header.type, ==, cases[i].bytes[4]);
		} else {
			g_assert_error(error, COCOON_STDIO_FRAME_ERROR,
				       COCOON_STDIO_FRAME_ERROR_INVALID);
			/* not written on failure */
			g_assert_cmpuint(header.stream_id, ==, 0);
		}
	}
}

static void
test_encode_data_limits(void)
{
	g_autofree guint8 *payload = g_malloc0(COCOON_STDIO_MAX_DATA + 1);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) frame = NULL;

	frame = cocoon_stdio_frame_encode_data(5, payload, COCOON_STDIO_MAX_DATA, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(frame), ==, COCOON_STDIO_MAX_FRAME_SIZE);
	g_clear_pointer(&frame, g_bytes_unref);

	frame = cocoon_stdio_frame_encode_data(5, payload, COCOON_STDIO_MAX_DATA + 1, &error);
	g_assert_null(frame);
	g_assert_error(error, COCOON_STDIO_FRAME_ERROR, COCOON_STDIO_FRAME_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);

	frame = cocoon_stdio_frame_encode_data(0, payload, 1, &error);
	g_assert_null(frame);
	g_assert_error(error, COCOON_STDIO_FRAME_ERROR, COCOON_STDIO_FRAME_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);

	frame = cocoon_stdio_frame_encode_data(5, NULL, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(frame), ==, COCOON_STDIO_HEADER_SIZE);
}

/* a byte stream with every frame type, decoded whole and byte by byte */
static GByteArray *
build_stream(void)
{
	GByteArray *stream = g_byte_array_new();
	g_autoptr(GBytes) data1 = NULL;
	g_autoptr(GBytes) data2 = NULL;
	g_autoptr(GBytes) empty = NULL;
	guint8 credit[COCOON_STDIO_CREDIT_FRAME_SIZE];
	guint8 eof[COCOON_STDIO_EOF_FRAME_SIZE];
	g_autofree guint8 *big = g_malloc(COCOON_STDIO_MAX_DATA);

	for (gsize i = 0; i < COCOON_STDIO_MAX_DATA; i++)
		big[i] = (guint8)(i * 7);
	data1 = cocoon_stdio_frame_encode_data(3, (const guint8 *)"hello", 5, NULL);
	data2 = cocoon_stdio_frame_encode_data(4, big, COCOON_STDIO_MAX_DATA, NULL);
	empty = cocoon_stdio_frame_encode_data(3, NULL, 0, NULL);
	cocoon_stdio_frame_encode_credit(9, 4096, credit);
	cocoon_stdio_frame_encode_eof(3, eof);

	g_byte_array_append(stream, g_bytes_get_data(data1, NULL), (guint)g_bytes_get_size(data1));
	g_byte_array_append(stream, credit, sizeof(credit));
	g_byte_array_append(stream, g_bytes_get_data(data2, NULL), (guint)g_bytes_get_size(data2));
	g_byte_array_append(stream, g_bytes_get_data(empty, NULL), (guint)g_bytes_get_size(empty));
	g_byte_array_append(stream, eof, sizeof(eof));
	return stream;
}

static void
check_stream_frames(CocoonStdioFrame *frames, guint n)
{
	gsize size = 0;
	const guint8 *data;

	g_assert_cmpuint(n, ==, 5);
	g_assert_cmpuint(frames[0].type, ==, COCOON_STDIO_FRAME_DATA);
	g_assert_cmpuint(frames[0].stream_id, ==, 3);
	data = g_bytes_get_data(frames[0].data, &size);
	g_assert_cmpmem(data, size, "hello", 5);

	g_assert_cmpuint(frames[1].type, ==, COCOON_STDIO_FRAME_CREDIT);
	g_assert_cmpuint(frames[1].stream_id, ==, 9);
	g_assert_cmpuint(frames[1].credit, ==, 4096);
	g_assert_null(frames[1].data);

	g_assert_cmpuint(frames[2].type, ==, COCOON_STDIO_FRAME_DATA);
	g_assert_cmpuint(frames[2].stream_id, ==, 4);
	data = g_bytes_get_data(frames[2].data, &size);
	g_assert_cmpuint(size, ==, COCOON_STDIO_MAX_DATA);
	for (gsize i = 0; i < size; i++)
		g_assert_cmpuint(data[i], ==, (guint8)(i * 7));

	g_assert_cmpuint(frames[3].type, ==, COCOON_STDIO_FRAME_DATA);
	g_assert_nonnull(frames[3].data);
	g_assert_cmpuint(g_bytes_get_size(frames[3].data), ==, 0);

	g_assert_cmpuint(frames[4].type, ==, COCOON_STDIO_FRAME_EOF);
	g_assert_cmpuint(frames[4].stream_id, ==, 3);
	g_assert_null(frames[4].data);
}

static void
decode_in_chunks(gsize chunk)
{
	g_autoptr(GByteArray) stream = build_stream();
	g_autoptr(CocoonStdioFrameDecoder) decoder = cocoon_stdio_frame_decoder_new();
	CocoonStdioFrame frames[8] = {0};
	guint n = 0;

	for (gsize offset = 0; offset < stream->len; offset += chunk) {
		gsize length = MIN(chunk, stream->len - offset);

		cocoon_stdio_frame_decoder_feed(decoder, stream->data + offset, length);
		for (;;) {
			g_autoptr(GError) error = NULL;
			gboolean available = FALSE;
			CocoonStdioFrame frame = {0};

			g_assert_true(cocoon_stdio_frame_decoder_next(decoder, &available, &frame,
								      &error));
			g_assert_no_error(error);
			if (!available)
				break;
			g_assert_cmpuint(n, <, G_N_ELEMENTS(frames));
			frames[n++] = frame;
		}
	}
	g_assert_cmpuint(cocoon_stdio_frame_decoder_pending(decoder), ==, 0);
	check_stream_frames(frames, n);
	for (guint i = 0; i < n; i++)
		cocoon_stdio_frame_clear(&frames[i]);
}

static void
test_decode_whole(void)
{
	decode_in_chunks(G_MAXSIZE / 2);
}

static void
test_decode_byte_by_byte(void)
{
	decode_in_chunks(1);
}

static void
test_decode_odd_chunks(void)
{
	decode_in_chunks(7);
	decode_in_chunks(4099);
}

static void
test_truncated(void)
{
	g_autoptr(CocoonStdioFrameDecoder) decoder = cocoon_stdio_frame_decoder_new();
	g_autoptr(GBytes) data =
		cocoon_stdio_frame_encode_data(1, (const guint8 *)"abcdef", 6, NULL);
	g_auto(CocoonStdioFrame) frame = {0};

	assert_need_more(decoder);
	cocoon_stdio_frame_decoder_feed(decoder, g_bytes_get_data(data, NULL), 11);
	assert_need_more(decoder);
	g_assert_cmpuint(cocoon_stdio_frame_decoder_pending(decoder), ==, 11);
	cocoon_stdio_frame_decoder_feed(decoder, (const guint8 *)g_bytes_get_data(data, NULL) + 11,
					3);
	assert_need_more(decoder);
	g_assert_cmpuint(cocoon_stdio_frame_decoder_pending(decoder), ==, 14);
	cocoon_stdio_frame_decoder_feed(decoder, (const guint8 *)g_bytes_get_data(data, NULL) + 14,
					4);
	decode_one(decoder, &frame);
	g_assert_cmpuint(g_bytes_get_size(frame.data), ==, 6);
	g_assert_cmpuint(cocoon_stdio_frame_decoder_pending(decoder), ==, 0);
}

static void
test_garbage_is_fatal(void)
{
	g_autoptr(CocoonStdioFrameDecoder) decoder = cocoon_stdio_frame_decoder_new();
	g_autoptr(GBytes) data = cocoon_stdio_frame_encode_data(1, (const guint8 *)"ok", 2, NULL);
	const guint8 garbage[] = "GET / HTTP/1.1\r\n";
	g_auto(CocoonStdioFrame) frame = {0};

	cocoon_stdio_frame_decoder_feed(decoder, g_bytes_get_data(data, NULL),
					g_bytes_get_size(data));
	cocoon_stdio_frame_decoder_feed(decoder, garbage, sizeof(garbage) - 1);
	decode_one(decoder, &frame);
	g_assert_cmpuint(frame.stream_id, ==, 1);
	assert_invalid(decoder);
	/* stays failed, even when valid bytes follow */
	cocoon_stdio_frame_decoder_feed(decoder, g_bytes_get_data(data, NULL),
					g_bytes_get_size(data));
	assert_invalid(decoder);
}

static void
test_oversized_fails_before_payload(void)
{
	g_autoptr(CocoonStdioFrameDecoder) decoder = cocoon_stdio_frame_decoder_new();
	guint8 header[COCOON_STDIO_HEADER_SIZE];

	/* a peer announcing 4 GiB must not make us wait for (or buffer) it */
	cocoon_stdio_frame_header_encode(1, COCOON_STDIO_FRAME_DATA, G_MAXUINT32, header);
	cocoon_stdio_frame_decoder_feed(decoder, header, sizeof(header));
	assert_invalid(decoder);
}

static void
test_type_names(void)
{
	g_assert_cmpstr(cocoon_stdio_frame_type_to_string(COCOON_STDIO_FRAME_DATA), ==, "DATA");
	g_assert_cmpstr(cocoon_stdio_frame_type_to_string(COCOON_STDIO_FRAME_EOF), ==, "EOF");
	g_assert_cmpstr(cocoon_stdio_frame_type_to_string(COCOON_STDIO_FRAME_CREDIT), ==, "CREDIT");
	g_assert_cmpstr(cocoon_stdio_frame_type_to_string(42), ==, "unknown");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/io/stdio-frame/header-layout", test_header_layout);
	g_test_add_func("/io/stdio-frame/header-validation", test_header_validation);
	g_test_add_func("/io/stdio-frame/encode-data-limits", test_encode_data_limits);
	g_test_add_func("/io/stdio-frame/decode-whole", test_decode_whole);
	g_test_add_func("/io/stdio-frame/decode-byte-by-byte", test_decode_byte_by_byte);
	g_test_add_func("/io/stdio-frame/decode-odd-chunks", test_decode_odd_chunks);
	g_test_add_func("/io/stdio-frame/truncated", test_truncated);
	g_test_add_func("/io/stdio-frame/garbage-is-fatal", test_garbage_is_fatal);
	g_test_add_func("/io/stdio-frame/oversized-fails-before-payload",
			test_oversized_fails_before_payload);
	g_test_add_func("/io/stdio-frame/type-names", test_type_names);
	return g_test_run();
}
