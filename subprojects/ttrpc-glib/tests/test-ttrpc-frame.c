/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "cocoon-ttrpc-frame.h"
#include "cocoon-ttrpc-status.h"

static void
put_header(guint8 *out, guint32 length, guint32 stream_id, guint8 type, guint8 flags)
{
	CocoonTtrpcFrameHeader header = {length, stream_id, type, flags};
	cocoon_ttrpc_frame_header_encode(&header, out);
}

static void
test_header_roundtrip(void)
{
	CocoonTtrpcFrameHeader header = {0x50, 0x01020304, COCOON_TTRPC_MESSAGE_REQUEST, 0x06};
	CocoonTtrpcFrameHeader decoded;
	guint8 buf[COCOON_TTRPC_HEADER_SIZE];
	const guint8 expected[] = {0, 0, 0, 0x50, 1, 2, 3, 4, 1, 6};

	cocoon_ttrpc_frame_header_encode(&header, buf);
	g_assert_cmpmem(buf, sizeof(buf), expected, sizeof(expected));
	cocoon_ttrpc_frame_header_decode(buf, &decoded);
	g_assert_cmpuint(decoded.length, ==, 0x50);
	g_assert_cmpuint(decoded.stream_id, ==, 0x01020304);
	g_assert_cmpuint(decoded.type, ==, COCOON_TTRPC_MESSAGE_REQUEST);
	g_assert_cmpuint(decoded.flags, ==, 6);
}

static void
test_encode(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) frame = NULL;
	g_autoptr(GBytes) big = NULL;
	g_autofree guint8 *data = g_malloc0(COCOON_TTRPC_MAX_DATA_SIZE + 1);
	const guint8 expected[] = {0, 0, 0, 3, 0, 0, 0, 7, 2, 0, 'a', 'b', 'c'};

	frame = cocoon_ttrpc_frame_encode(7, COCOON_TTRPC_MESSAGE_RESPONSE, 0,
					  (const guint8 *)"abc", 3, &error);
	g_assert_no_error(error);
	g_assert_cmpmem(g_bytes_get_data(frame, NULL), g_bytes_get_size(frame), expected,
			sizeof(expected));

	/* exactly the cap is allowed, one more byte is not */
	big = cocoon_ttrpc_frame_encode(1, 1, 0, data, COCOON_TTRPC_MAX_DATA_SIZE, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(big), ==,
			 COCOON_TTRPC_MAX_DATA_SIZE + COCOON_TTRPC_HEADER_SIZE);
	g_assert_null(
		cocoon_ttrpc_frame_encode(1, 1, 0, data, COCOON_TTRPC_MAX_DATA_SIZE + 1, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_RESOURCE_EXHAUSTED);
}

static void
test_truncated(void)
{
	g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
	g_auto(CocoonTtrpcFrame) frame = {0};
	guint8 buf[COCOON_TTRPC_HEADER_SIZE + 4];

	put_header(buf, 4, 1, COCOON_TTRPC_MESSAGE_REQUEST, 0);
	memcpy(buf + COCOON_TTRPC_HEADER_SIZE, "wxyz", 4);

	/* a short header is not a frame */
	cocoon_ttrpc_frame_decoder_feed(decoder, buf, COCOON_TTRPC_HEADER_SIZE - 1);
	g_assert_false(cocoon_ttrpc_frame_decoder_next(decoder, &frame));
	g_assert_cmpuint(cocoon_ttrpc_frame_decoder_pending(decoder), ==,
			 COCOON_TTRPC_HEADER_SIZE - 1);
	/* a whole header with half the data is not either */
	cocoon_ttrpc_frame_decoder_feed(decoder, buf + COCOON_TTRPC_HEADER_SIZE - 1, 3);
	g_assert_false(cocoon_ttrpc_frame_decoder_next(decoder, &frame));
	g_assert_cmpuint(cocoon_ttrpc_frame_decoder_pending(decoder), ==,
			 COCOON_TTRPC_HEADER_SIZE + 2);
	cocoon_ttrpc_frame_decoder_feed(decoder, buf + COCOON_TTRPC_HEADER_SIZE + 2, 2);
	g_assert_true(cocoon_ttrpc_frame_decoder_next(decoder, &frame));
	g_assert_false(frame.oversized);
	g_assert_cmpmem(g_bytes_get_data(frame.data, NULL), g_bytes_get_size(frame.data), "wxyz",
			4);
	g_assert_cmpuint(cocoon_ttrpc_frame_decoder_pending(decoder), ==, 0);
}

static void
test_zero_length(void)
{
	g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
	g_auto(CocoonTtrpcFrame) frame = {0};
	guint8 buf[COCOON_TTRPC_HEADER_SIZE];

	put_header(buf, 0, 9, COCOON_TTRPC_MESSAGE_RESPONSE, 0);
	cocoon_ttrpc_frame_decoder_feed(decoder, buf, sizeof(buf));
	g_assert_true(cocoon_ttrpc_frame_decoder_next(decoder, &frame));
	g_assert_nonnull(frame.data);
	g_assert_cmpuint(g_bytes_get_size(frame.data), ==, 0);
	g_assert_cmpuint(frame.header.stream_id, ==, 9);
}

static void
test_over_cap(void)
{
	g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
	g_autofree guint8 *junk = g_malloc0(64 * 1024);
	guint8 header[COCOON_TTRPC_HEADER_SIZE];
	guint8 next[COCOON_TTRPC_HEADER_SIZE + 2];
	gsize left = COCOON_TTRPC_MAX_DATA_SIZE + 1;

	put_header(header, COCOON_TTRPC_MAX_DATA_SIZE + 1, 5, COCOON_TTRPC_MESSAGE_REQUEST, 0);
	cocoon_ttrpc_frame_decoder_feed(decoder, header, sizeof(header));
	{
		g_auto(CocoonTtrpcFrame) frame = {0};
		/* reported at once, without buffering its data */
		g_assert_true(cocoon_ttrpc_frame_decoder_next(decoder, &frame));
		g_assert_true(frame.oversized);
		g_assert_null(frame.data);
		g_assert_cmpuint(frame.header.stream_id, ==, 5);
		g_assert_cmpuint(frame.header.length, ==, COCOON_TTRPC_MAX_DATA_SIZE + 1);
	}
	g_assert_cmpuint(cocoon_ttrpc_frame_decoder_pending(decoder), ==, left);
	while (left > 0) {
		gsize n = MIN(left, 64 * 1024 - 1);
		g_auto(CocoonTtrpcFrame) frame = {0};
		cocoon_ttrpc_frame_decoder_feed(decoder, junk, n);
		left -= n;
		g_assert_false(cocoon_ttrpc_frame_decoder_next(decoder, &frame));
	}
	g_assert_cmpuint(cocoon_ttrpc_frame_decoder_pending(decoder), ==, 0);

	/* the stream goes on after the skipped data */
	put_header(next, 2, 7, COCOON_TTRPC_MESSAGE_REQUEST, 0);
	next[COCOON_TTRPC_HEADER_SIZE] = 'o';
	next[COCOON_TTRPC_HEADER_SIZE + 1] = 'k';
	cocoon_ttrpc_frame_decoder_feed(decoder, next, sizeof(next));
	{
		g_auto(CocoonTtrpcFrame) frame = {0};
		g_assert_true(cocoon_ttrpc_frame_decoder_next(decoder, &frame));
		g_assert_false(frame.oversized);
		g_assert_cmpuint(frame.header.stream_id, ==, 7);
		g_assert_cmpmem(g_bytes_get_data(frame.data, NULL), g_bytes_get_size(frame.data),
				"ok", 2);
	}
}

static void
test_over_cap_one_feed(void)
{
	g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
	gsize total = 2 * COCOON_TTRPC_HEADER_SIZE + COCOON_TTRPC_MAX_DATA_SIZE + 1 + 1;
	g_autofree guint8 *buf = g_malloc0(total);
	g_auto(CocoonTtrpcFrame) first = {0};
	g_auto(CocoonTtrpcFrame) second = {0};

	/* an oversized frame and the next one in the same read */
	put_header(buf, COCOON_TTRPC_MAX_DATA_SIZE + 1, 1, COCOON_TTRPC_MESSAGE_REQUEST, 0);
	put_header(buf + COCOON_TTRPC_HEADER_SIZE + COCOON_TTRPC_MAX_DATA_SIZE + 1, 1, 3,
		   COCOON_TTRPC_MESSAGE_REQUEST, 0);
	cocoon_ttrpc_frame_decoder_feed(decoder, buf, total);
	g_assert_true(cocoon_ttrpc_frame_decoder_next(decoder, &first));
	g_assert_true(first.oversized);
	g_assert_true(cocoon_ttrpc_frame_decoder_next(decoder, &second));
	g_assert_false(second.oversized);
	g_assert_cmpuint(second.header.stream_id, ==, 3);
	g_assert_cmpuint(g_bytes_get_size(second.data), ==, 1);
}

static void
test_huge_length(void)
{
	g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
	g_auto(CocoonTtrpcFrame) frame = {0};
	guint8 header[COCOON_TTRPC_HEADER_SIZE];

	put_header(header, G_MAXUINT32, 1, COCOON_TTRPC_MESSAGE_REQUEST, 0);
	cocoon_ttrpc_frame_decoder_feed(decoder, header, sizeof(header));
	g_assert_true(cocoon_ttrpc_frame_decoder_next(decoder, &frame));
	g_assert_true(frame.oversized);
	g_assert_cmpuint(cocoon_ttrpc_frame_decoder_pending(decoder), ==, G_MAXUINT32);
}

static void
test_exactly_cap(void)
{
	g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
	g_autofree guint8 *buf = g_malloc0(COCOON_TTRPC_HEADER_SIZE + COCOON_TTRPC_MAX_DATA_SIZE);
	g_auto(CocoonTtrpcFrame) frame = {0};

	put_header(buf, COCOON_TTRPC_MAX_DATA_SIZE, 3, COCOON_TTRPC_MESSAGE_REQUEST, 0);
	buf[COCOON_TTRPC_HEADER_SIZE + COCOON_TTRPC_MAX_DATA_SIZE - 1] = 0x5a;
	cocoon_ttrpc_frame_decoder_feed(decoder, buf,
					COCOON_TTRPC_HEADER_SIZE + COCOON_TTRPC_MAX_DATA_SIZE);
	g_assert_true(cocoon_ttrpc_frame_decoder_next(decoder, &frame));
	g_assert_false(frame.oversized);
	g_assert_cmpuint(g_bytes_get_size(frame.data), ==, COCOON_TTRPC_MAX_DATA_SIZE);
	g_assert_cmpuint(((const guint8 *)g_bytes_get_data(frame.data,
							   NULL))[COCOON_TTRPC_MAX_DATA_SIZE - 1],
			 ==, 0x5a);
}

static void
test_unknown_type(void)
{
	g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
	g_auto(CocoonTtrpcFrame) frame = {0};
	guint8 buf[COCOON_TTRPC_HEADER_SIZE + 1];

	/* the codec does not judge types or flags; the server ignores what it does not know */
	put_header(buf, 1, 11, 0x7f, 0xff);
	buf[COCOON_TTRPC_HEADER_SIZE] = 0;
	cocoon_ttrpc_frame_decoder_feed(decoder, buf, sizeof(buf));
	g_assert_true(cocoon_ttrpc_frame_decoder_next(decoder, &frame));
	g_assert_cmpuint(frame.header.type, ==, 0x7f);
	g_assert_cmpuint(frame.header.flags, ==, 0xff);
}

/* three frames: data sizes 0, 5, 300 */
static GByteArray *
three_frames(void)
{
	GByteArray *all = g_byte_array_new();
	const guint sizes[] = {0, 5, 300};

	for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
		guint8 header[COCOON_TTRPC_HEADER_SIZE];
		put_header(header, sizes[i], 2 * i + 1, COCOON_TTRPC_MESSAGE_REQUEST, 0);
		g_byte_array_append(all, header, sizeof(header));
		for (guint j = 0; j < sizes[i]; j++) {
			guint8 b = (guint8)(i + j);
			g_byte_array_append(all, &b, 1);
		}
	}
	return all;
}

static void
check_three_frames(GPtrArray *frames)
{
	const guint sizes[] = {0, 5, 300};

	g_assert_cmpuint(frames->len, ==, 3);
	for (guint i = 0; i < frames->len; i++) {
		CocoonTtrpcFrame *frame = g_ptr_array_index(frames, i);
		const guint8 *data = g_bytes_get_data(frame->data, NULL);
		g_assert_cmpuint(frame->header.stream_id, ==, 2 * i + 1);
		g_assert_cmpuint(g_bytes_get_size(frame->data), ==, sizes[i]);
		for (guint j = 0; j < sizes[i]; j++)
			g_assert_cmpuint(data[j], ==, (guint8)(i + j));
	}
}

static void
frame_free(CocoonTtrpcFrame *frame)
{
	cocoon_ttrpc_frame_clear(frame);
	g_free(frame);
}

static void
drain(CocoonTtrpcFrameDecoder *decoder, GPtrArray *frames)
{
	for (;;) {
		CocoonTtrpcFrame *frame = g_new0(CocoonTtrpcFrame, 1);
		if (!cocoon_ttrpc_frame_decoder_next(decoder, frame)) {
			g_free(frame);
			return;
		}
		g_ptr_array_add(frames, frame);
	}
}

static void
test_byte_by_byte(void)
{
	g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
	g_autoptr(GByteArray) all = three_frames();
	g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func((GDestroyNotify)frame_free);

	for (guint i = 0; i < all->len; i++) {
		cocoon_ttrpc_frame_decoder_feed(decoder, all->data + i, 1);
		drain(decoder, frames);
	}
	check_three_frames(frames);
	g_assert_cmpuint(cocoon_ttrpc_frame_decoder_pending(decoder), ==, 0);
}

static void
test_many_per_feed(void)
{
	g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
	g_autoptr(GByteArray) all = three_frames();
	g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func((GDestroyNotify)frame_free);

	/* all three plus the first 4 bytes of a fourth header */
	cocoon_ttrpc_frame_decoder_feed(decoder, all->data, all->len);
	cocoon_ttrpc_frame_decoder_feed(decoder, all->data, 4);
	drain(decoder, frames);
	check_three_frames(frames);
	g_assert_cmpuint(cocoon_ttrpc_frame_decoder_pending(decoder), ==, 4);
}

static void
test_random_splits(void)
{
	g_autoptr(GByteArray) all = g_byte_array_new();
	g_autoptr(GByteArray) one = three_frames();

	for (guint i = 0; i < 50; i++)
		g_byte_array_append(all, one->data, one->len);
	for (guint round = 0; round < 20; round++) {
		g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
		g_autoptr(GPtrArray) frames =
			g_ptr_array_new_with_free_func((GDestroyNotify)frame_free);
		guint offset = 0;

		while (offset < all->len) {
			/* MIN() evaluates twice: draw first */
			guint n = (guint)g_test_rand_int_range(1, 700);
			n = MIN(n, all->len - offset);
			cocoon_ttrpc_frame_decoder_feed(decoder, all->data + offset, n);
			offset += n;
			drain(decoder, frames);
		}
		g_assert_cmpuint(frames->len, ==, 150);
		g_assert_cmpuint(cocoon_ttrpc_frame_decoder_pending(decoder), ==, 0);
	}
}

static void
test_status_strings(void)
{
	g_assert_cmpstr(cocoon_ttrpc_code_to_string(COCOON_TTRPC_NOT_FOUND), ==, "not found");
	g_assert_cmpstr(cocoon_ttrpc_code_to_string(COCOON_TTRPC_ALREADY_EXISTS), ==,
			"already exists");
	g_assert_cmpstr(cocoon_ttrpc_code_to_string(COCOON_TTRPC_FAILED_PRECONDITION), ==,
			"failed precondition");
	g_assert_cmpstr(cocoon_ttrpc_code_to_string(COCOON_TTRPC_INVALID_ARGUMENT), ==,
			"invalid argument");
	g_assert_cmpstr(cocoon_ttrpc_code_to_string(COCOON_TTRPC_UNAVAILABLE), ==, "unavailable");
	g_assert_cmpstr(cocoon_ttrpc_code_to_string(COCOON_TTRPC_UNIMPLEMENTED), ==,
			"not implemented");
	g_assert_cmpstr(cocoon_ttrpc_code_to_string(COCOON_TTRPC_UNKNOWN), ==, "unknown");
	g_assert_cmpstr(cocoon_ttrpc_code_to_string((CocoonTtrpcCode)99), ==, "unknown");
	g_assert_cmpstr(cocoon_ttrpc_code_to_name(COCOON_TTRPC_DEADLINE_EXCEEDED), ==,
			"DEADLINE_EXCEEDED");
	g_assert_cmpstr(cocoon_ttrpc_code_to_name((CocoonTtrpcCode)-1), ==, "UNKNOWN");
	for (gint code = 0; code <= COCOON_TTRPC_UNAUTHENTICATED; code++)
		g_assert_nonnull(cocoon_ttrpc_code_to_string((CocoonTtrpcCode)code));
}

static void
test_status_from_error(void)
{
	const struct {
		GQuark domain;
		gint code;
		CocoonTtrpcCode expected;
	} cases[] = {
		{G_IO_ERROR, G_IO_ERROR_NOT_FOUND, COCOON_TTRPC_NOT_FOUND},
		{G_IO_ERROR, G_IO_ERROR_EXISTS, COCOON_TTRPC_ALREADY_EXISTS},
		{G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, COCOON_TTRPC_PERMISSION_DENIED},
		{G_IO_ERROR, G_IO_ERROR_TIMED_OUT, COCOON_TTRPC_DEADLINE_EXCEEDED},
		{G_IO_ERROR, G_IO_ERROR_CANCELLED, COCOON_TTRPC_CANCELLED},
		{G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, COCOON_TTRPC_INVALID_ARGUMENT},
		{G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, COCOON_TTRPC_UNIMPLEMENTED},
		{G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, COCOON_TTRPC_UNAVAILABLE},
		{G_IO_ERROR, G_IO_ERROR_FAILED, COCOON_TTRPC_UNKNOWN},
		{G_FILE_ERROR, G_FILE_ERROR_NOENT, COCOON_TTRPC_NOT_FOUND},
		{G_FILE_ERROR, G_FILE_ERROR_EXIST, COCOON_TTRPC_ALREADY_EXISTS},
		{G_FILE_ERROR, G_FILE_ERROR_ACCES, COCOON_TTRPC_PERMISSION_DENIED},
		{G_FILE_ERROR, G_FILE_ERROR_INVAL, COCOON_TTRPC_INVALID_ARGUMENT},
		{G_FILE_ERROR, G_FILE_ERROR_FAILED, COCOON_TTRPC_UNKNOWN},
		{COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
		 COCOON_TTRPC_FAILED_PRECONDITION},
		/* an "error" claiming OK or an unknown code never travels as success */
		{COCOON_TTRPC_ERROR, COCOON_TTRPC_OK, COCOON_TTRPC_UNKNOWN},
		{COCOON_TTRPC_ERROR, 1000, COCOON_TTRPC_UNKNOWN},
		{G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_NOT_FOUND, COCOON_TTRPC_UNKNOWN},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = g_error_new_literal(cases[i].domain, cases[i].code, "x");
		g_assert_cmpint(cocoon_ttrpc_code_from_error(error), ==, cases[i].expected);
	}
	g_assert_cmpint(cocoon_ttrpc_code_from_error(NULL), ==, COCOON_TTRPC_UNKNOWN);
	g_assert_cmpstr(g_quark_to_string(COCOON_TTRPC_ERROR), ==, "cocoon-ttrpc-error-quark");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ttrpc/frame/header-roundtrip", test_header_roundtrip);
	g_test_add_func("/ttrpc/frame/encode", test_encode);
	g_test_add_func("/ttrpc/frame/truncated", test_truncated);
	g_test_add_func("/ttrpc/frame/zero-length", test_zero_length);
	g_test_add_func("/ttrpc/frame/over-cap", test_over_cap);
	g_test_add_func("/ttrpc/frame/over-cap-one-feed", test_over_cap_one_feed);
	g_test_add_func("/ttrpc/frame/huge-length", test_huge_length);
	g_test_add_func("/ttrpc/frame/exactly-cap", test_exactly_cap);
	g_test_add_func("/ttrpc/frame/unknown-type", test_unknown_type);
	g_test_add_func("/ttrpc/frame/byte-by-byte", test_byte_by_byte);
	g_test_add_func("/ttrpc/frame/many-per-feed", test_many_per_feed);
	g_test_add_func("/ttrpc/frame/random-splits", test_random_splits);
	g_test_add_func("/ttrpc/status/strings", test_status_strings);
	g_test_add_func("/ttrpc/status/from-error", test_status_from_error);
	return g_test_run();
}
