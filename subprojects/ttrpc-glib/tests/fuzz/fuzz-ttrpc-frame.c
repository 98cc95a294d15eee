/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what a ttrpc peer controls: the frame decoder, the Request and Response
 * envelopes, and the whole server read/dispatch path. The first input byte picks the decoder's
 * feed chunk size; then the same bytes go to a live server over a socketpair, with handlers that
 * answer at once, fail, or park the call until the connection is gone.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "cocoon-ttrpc-frame.h"
#include "cocoon-ttrpc-server.h"
#include "ttrpc.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
	GMainContext *context;
	CocoonTtrpcServer *server;
	GPtrArray *parked;
	guint closed;
} FuzzServer;

static void
echo_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	gsize length = 0;
	const guint8 *payload = cocoon_ttrpc_call_get_payload(call, &length);
	(void)cocoon_ttrpc_call_get_metadata(call, COCOON_TTRPC_NAMESPACE_KEY);
	(void)cocoon_ttrpc_call_get_deadline(call);
	cocoon_ttrpc_call_return(call, payload, length);
}

static void
fail_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	ProtobufCMessage *message =
		cocoon_ttrpc_call_unpack(call, &ttrpc__key_value__descriptor, NULL);
	if (message != NULL) {
		cocoon_ttrpc_call_return_message(call, message);
		protobuf_c_message_free_unpacked(message, NULL);
		return;
	}
	cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_NOT_FOUND, "%s: not found",
				       cocoon_ttrpc_call_get_method(call));
}

static void
park_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	FuzzServer *fuzz = user_data;
	g_ptr_array_add(fuzz->parked, call);
}

static void
closed_cb(CocoonTtrpcServer *server, guint left, gpointer user_data)
{
	FuzzServer *fuzz = user_data;
	fuzz->closed++;
}

static FuzzServer *
fuzz_server_get(void)
{
	static FuzzServer *fuzz;

	if (fuzz != NULL)
		return fuzz;
	fuzz = g_new0(FuzzServer, 1);
	fuzz->context = g_main_context_new();
	fuzz->parked = g_ptr_array_new();
	g_main_context_push_thread_default(fuzz->context);
	fuzz->server = cocoon_ttrpc_server_new();
	g_main_context_pop_thread_default(fuzz->context);
	/* service and method names a mutator can reach from the seeds */
	cocoon_ttrpc_server_register(fuzz->server, "f", "e", echo_handler, fuzz, NULL);
	cocoon_ttrpc_server_register(fuzz->server, "f", "x", fail_handler, fuzz, NULL);
	cocoon_ttrpc_server_register(fuzz->server, "f", "p", park_handler, fuzz, NULL);
	cocoon_ttrpc_server_set_connection_closed_func(fuzz->server, closed_cb, fuzz);
	return fuzz;
}

static void
fuzz_decoder(const uint8_t *data, size_t size)
{
	g_autoptr(CocoonTtrpcFrameDecoder) decoder = cocoon_ttrpc_frame_decoder_new();
	gsize chunk = size > 0 ? (gsize)data[0] + 1 : 1;
	gsize offset = 0;

	while (offset < size) {
		gsize n = MIN(chunk, size - offset);
		cocoon_ttrpc_frame_decoder_feed(decoder, data + offset, n);
		offset += n;
		for (;;) {
			g_auto(CocoonTtrpcFrame) frame = {0};
			Ttrpc__Request *request;
			Ttrpc__Response *response;
			const guint8 *bytes;
			gsize length = 0;

			if (!cocoon_ttrpc_frame_decoder_next(decoder, &frame))
				break;
			if (frame.oversized) {
				g_assert_null(frame.data);
				g_assert_cmpuint(frame.header.length, >,
						 COCOON_TTRPC_MAX_DATA_SIZE);
				continue;
			}
			bytes = g_bytes_get_data(frame.data, &length);
			g_assert_cmpuint(length, ==, frame.header.length);
			request = ttrpc__request__unpack(NULL, length, bytes);
			if (request != NULL)
				ttrpc__request__free_unpacked(request, NULL);
			response = ttrpc__response__unpack(NULL, length, bytes);
			if (response != NULL)
				ttrpc__response__free_unpacked(response, NULL);
		}
	}
}

static void
drain_replies(gint fd)
{
	guint8 buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void
fuzz_server(const uint8_t *data, size_t size)
{
	FuzzServer *fuzz = fuzz_server_get();
	guint closed_before = fuzz->closed;
	gint pair[2];
	gsize written = 0;
	gboolean shut = FALSE;
	guint rounds = 0;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair),
			==, 0);
	g_assert_true(cocoon_ttrpc_server_add_connection_fd(fuzz->server, pair[0], NULL));

	/* feed the input, let the server read and answer, until it sees EOF and closes */
	while (fuzz->closed == closed_before) {
		if (written < size) {
			gssize n = send(pair[1], data + written, size - written, MSG_NOSIGNAL);
			if (n > 0)
				written += (gsize)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				written = size;
		}
		if (written == size && !shut) {
			shutdown(pair[1], SHUT_WR);
			shut = TRUE;
		}
		drain_replies(pair[1]);
		g_main_context_iteration(fuzz->context, FALSE);
		/* a deadline in the input may be far away: do not wait for it */
		if (++rounds > 100000)
			g_error("the server did not close a connection whose peer sent EOF");
	}
	close(pair[1]);
	/* parked calls are answered after their connection is gone: dropped, never sent */
	for (guint i = 0; i < fuzz->parked->len; i++) {
		CocoonTtrpcCall *call = g_ptr_array_index(fuzz->parked, i);
		g_assert_true(cocoon_ttrpc_call_is_cancelled(call));
		cocoon_ttrpc_call_return(call, NULL, 0);
	}
	g_ptr_array_set_size(fuzz->parked, 0);
	while (g_main_context_iteration(fuzz->context, FALSE))
		;
	g_assert_cmpuint(cocoon_ttrpc_server_get_n_connections(fuzz->server), ==, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decoder(data, size);
	fuzz_server(data, size);
	return 0;
}
