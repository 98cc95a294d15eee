/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>
#include <protobuf-c/protobuf-c.h>

#include "cocoon-ttrpc-status.h"

G_BEGIN_DECLS

/*
 * A ttrpc server on GLib. Connections are read on the GMainContext that was thread-default when the
 * server was created (the "server context"); every request is dispatched on its own, so one
 * connection can have many calls in flight (containerd sends Wait and Start at once). A handler
 * runs on the GMainContext given at registration and may finish the call later, from any thread.
 */
typedef struct _CocoonTtrpcServer CocoonTtrpcServer;
typedef struct _CocoonTtrpcCall CocoonTtrpcCall;

/* namespace metadata key containerd sends on every call */
#define COCOON_TTRPC_NAMESPACE_KEY "containerd-namespace-ttrpc"

/*
 * a handler owns the call: it must finish it exactly once with cocoon_ttrpc_call_return() or
 * cocoon_ttrpc_call_return_error() (those consume it), from any thread, now or later
 */
typedef void (*CocoonTtrpcHandler)(CocoonTtrpcCall *call, gpointer user_data);

/*
 * the last unref shuts the server down (connections do not keep it alive). A handler whose
 * context is owned by the thread reading the connection (e.g. the server context) runs in place,
 * as g_main_context_invoke_full() does.
 */
CocoonTtrpcServer *cocoon_ttrpc_server_new(void);
CocoonTtrpcServer *cocoon_ttrpc_server_ref(CocoonTtrpcServer *server);
void cocoon_ttrpc_server_unref(CocoonTtrpcServer *server);

/* context NULL = the server context */
void cocoon_ttrpc_server_register(CocoonTtrpcServer *server, const gchar *service,
				  const gchar *method, CocoonTtrpcHandler handler,
				  gpointer user_data, GMainContext *context);

/* refuse peers whose SO_PEERCRED uid/gid differ from ours (default TRUE) */
void cocoon_ttrpc_server_set_require_same_user(CocoonTtrpcServer *server, gboolean require);

/* bind + listen on a unix socket path (mode 0600, a stale socket file is replaced) */
gboolean cocoon_ttrpc_server_listen_path(CocoonTtrpcServer *server, const gchar *path,
					 GError **error);
/* take over an already listening socket fd */
gboolean cocoon_ttrpc_server_listen_fd(CocoonTtrpcServer *server, gint fd, GError **error);
/* serve one already connected stream fd (e.g. a virtio-serial port); the server owns the fd */
gboolean cocoon_ttrpc_server_add_connection_fd(CocoonTtrpcServer *server, gint fd, GError **error);

/* called on the server context when a connection ends (peer closed, error or shutdown) */
typedef void (*CocoonTtrpcConnectionClosedFunc)(CocoonTtrpcServer *server, guint connections_left,
						gpointer user_data);
void cocoon_ttrpc_server_set_connection_closed_func(CocoonTtrpcServer *server,
						    CocoonTtrpcConnectionClosedFunc func,
						    gpointer user_data);
guint cocoon_ttrpc_server_get_n_connections(CocoonTtrpcServer *server);

/* stop listening, close every connection; pending calls are cancelled (their returns are dropped)
 */
void cocoon_ttrpc_server_shutdown(CocoonTtrpcServer *server);

/* a call (thread-safe) */
const gchar *cocoon_ttrpc_call_get_service(CocoonTtrpcCall *call);
const gchar *cocoon_ttrpc_call_get_method(CocoonTtrpcCall *call);
const guint8 *cocoon_ttrpc_call_get_payload(CocoonTtrpcCall *call, gsize *ret_length);
/* first value of a metadata key, or NULL */
const gchar *cocoon_ttrpc_call_get_metadata(CocoonTtrpcCall *call, const gchar *key);
/* g_get_monotonic_time() at which the caller stops waiting, or 0 for none (from timeout_nano) */
gint64 cocoon_ttrpc_call_get_deadline(CocoonTtrpcCall *call);
/* TRUE once the deadline passed or the connection closed: the answer will be dropped */
gboolean cocoon_ttrpc_call_is_cancelled(CocoonTtrpcCall *call);
/* the peer's pid from SO_PEERCRED (0 if unknown) */
gint cocoon_ttrpc_call_get_peer_pid(CocoonTtrpcCall *call);

/* finish the call with a serialized response message (may be empty); consumes the call */
void cocoon_ttrpc_call_return(CocoonTtrpcCall *call, const guint8 *payload, gsize length);
/* unpack the payload as descriptor's message; on failure fills an INVALID_ARGUMENT error naming the
 * method */
ProtobufCMessage *cocoon_ttrpc_call_unpack(CocoonTtrpcCall *call,
					   const ProtobufCMessageDescriptor *descriptor,
					   GError **error);
/* finish the call with a message (NULL = empty); consumes the call */
void cocoon_ttrpc_call_return_message(CocoonTtrpcCall *call, const ProtobufCMessage *message);
/* finish with an error status; consumes the call */
void cocoon_ttrpc_call_return_error(CocoonTtrpcCall *call, CocoonTtrpcCode code,
				    const gchar *format, ...) G_GNUC_PRINTF(3, 4);
/* finish with a GError mapped by cocoon_ttrpc_code_from_error(); consumes the call */
void cocoon_ttrpc_call_return_gerror(CocoonTtrpcCall *call, const GError *error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonTtrpcServer, cocoon_ttrpc_server_unref)

G_END_DECLS
