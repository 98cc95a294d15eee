/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>
#include <protobuf-c/protobuf-c.h>

#include "cocoon-ttrpc-status.h"

G_BEGIN_DECLS

/*
 * A ttrpc client over one unix stream connection: stream ids 1, 3, 5, ..., many calls in flight at
 * once, each with its own deadline. Thread-safe: any thread may call. A dedicated reader thread
 * owned by the client matches responses to calls; async callbacks run on the GMainContext that was
 * thread-default when the call was made. Errors are COCOON_TTRPC_ERROR statuses from the peer, or
 * local ones: DEADLINE_EXCEEDED on timeout, UNAVAILABLE when the connection is lost or closed.
 */
typedef struct _CocoonTtrpcClient CocoonTtrpcClient;

/* connect to a unix socket path (blocking connect; fails at once when nobody listens) */
CocoonTtrpcClient *cocoon_ttrpc_client_new_for_path(const gchar *path, GError **error);
/* use an already connected stream fd; the client owns it */
CocoonTtrpcClient *cocoon_ttrpc_client_new_for_fd(gint fd, GError **error);

CocoonTtrpcClient *cocoon_ttrpc_client_ref(CocoonTtrpcClient *client);
void cocoon_ttrpc_client_unref(CocoonTtrpcClient *client);

/* metadata sent with every call, e.g. COCOON_TTRPC_NAMESPACE_KEY */
void cocoon_ttrpc_client_set_metadata(CocoonTtrpcClient *client, const gchar *key,
				      const gchar *value);

/*
 * timeout_ms: 0 = none (not recommended); it is sent as timeout_nano and enforced locally.
 * returns the response payload (possibly empty, never NULL on success). A cancelled call fails
 * with COCOON_TTRPC_CANCELLED; a late answer to a call that gave up is dropped.
 */
GBytes *cocoon_ttrpc_client_call(CocoonTtrpcClient *client, const gchar *service,
				 const gchar *method, const guint8 *payload, gsize length,
				 guint timeout_ms, GCancellable *cancellable, GError **error);
void cocoon_ttrpc_client_call_async(CocoonTtrpcClient *client, const gchar *service,
				    const gchar *method, const guint8 *payload, gsize length,
				    guint timeout_ms, GCancellable *cancellable,
				    GAsyncReadyCallback callback, gpointer user_data);
GBytes *cocoon_ttrpc_client_call_finish(CocoonTtrpcClient *client, GAsyncResult *result,
					GError **error);

/*
 * packs request, calls, and unpacks a response of response_descriptor; free the result with
 * protobuf_c_message_free_unpacked(result, NULL). An undecodable response is INTERNAL.
 */
ProtobufCMessage *
cocoon_ttrpc_client_call_message(CocoonTtrpcClient *client, const gchar *service,
				 const gchar *method, const ProtobufCMessage *request,
				 const ProtobufCMessageDescriptor *response_descriptor,
				 guint timeout_ms, GCancellable *cancellable, GError **error);

/* FALSE once the connection is lost or closed */
gboolean cocoon_ttrpc_client_is_connected(CocoonTtrpcClient *client);
/* fail every pending call with UNAVAILABLE and close the connection */
void cocoon_ttrpc_client_close(CocoonTtrpcClient *client);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonTtrpcClient, cocoon_ttrpc_client_unref)

G_END_DECLS
