/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

#include "agent.pb-c.h"
#include "cocoon-ttrpc-client.h"

G_BEGIN_DECLS

/*
 * The host-side client of cocoon-agent (proto/agent.proto) over <state>/agent.sock, QEMU's chardev
 * socket of the virtio-serial port cocoon.agent. Typed calls over the ttrpc client: thread-safe,
 * any thread may call, many calls may be in flight. Errors keep the COCOON_TTRPC_ERROR code of the
 * status (DEADLINE_EXCEEDED on timeout, UNAVAILABLE when the connection is lost) and their message
 * names the sandbox and the RPC ("sandbox S: agent StartContainer: ...").
 *
 * timeout_ms of each call: COCOON_AGENT_TIMEOUT_DEFAULT (0) takes the client's default request
 * timeout, except for the long polls WaitProcess and WaitEvent, where 0 means no deadline (they
 * still fail with UNAVAILABLE as soon as the connection dies, and on cancellable).
 *
 * Responses are owned by the caller: free them with protobuf_c_message_free_unpacked() or use
 * g_autoptr() with the response types (cleanups defined below).
 */
typedef struct _CocoonAgentClient CocoonAgentClient;

#define COCOON_AGENT_SERVICE			"cocoon.agent.v1.Agent"
#define COCOON_AGENT_TIMEOUT_DEFAULT		0u
#define COCOON_AGENT_DEFAULT_REQUEST_TIMEOUT_MS 30000u
/* connect_wait: the timeout of one boot probe, doubled up to the max while nothing answers */
#define COCOON_AGENT_PING_TIMEOUT_MS	 200u
#define COCOON_AGENT_PING_TIMEOUT_MAX_MS 2000u
/* console lines quoted in a boot failure */
#define COCOON_AGENT_CONSOLE_TAIL_LINES 20u

/* the last lines of the guest console (a new string, may be "" or NULL), e.g. the hypervisor's */
typedef gchar *(*CocoonAgentConsoleTailFunc)(guint lines, gpointer user_data);

/* wrap a connected ttrpc client (a reference is taken) */
CocoonAgentClient *cocoon_agent_client_new(CocoonTtrpcClient *ttrpc, const gchar *sandbox_id);
/*
 * connect to path and wait for the agent: retries the connect while the socket does not exist or
 * refuses, then sends Pings with short timeouts on that connection until one is answered (requests
 * written before the guest opened its port wait in QEMU and are answered late, which is harmless)
 * and reconnects when the connection drops. G_IO_ERROR_TIMED_OUT when boot_timeout_ms passed, with
 * the last console lines from console_tail (may be NULL); G_IO_ERROR_CANCELLED on cancellable;
 * the agent's own error if it answers the Ping with one.
 */
CocoonAgentClient *cocoon_agent_client_connect_wait(const gchar *path, const gchar *sandbox_id,
						    guint boot_timeout_ms,
						    CocoonAgentConsoleTailFunc console_tail,
						    gpointer user_data, GCancellable *cancellable,
						    GError **error);

CocoonAgentClient *cocoon_agent_client_ref(CocoonAgentClient *client);
void cocoon_agent_client_unref(CocoonAgentClient *client);

const gchar *cocoon_agent_client_get_sandbox_id(CocoonAgentClient *client);
CocoonTtrpcClient *cocoon_agent_client_get_ttrpc(CocoonAgentClient *client);
/* the timeout of calls made with COCOON_AGENT_TIMEOUT_DEFAULT (initially 30 s) */
void cocoon_agent_client_set_default_timeout(CocoonAgentClient *client, guint timeout_ms);
guint cocoon_agent_client_get_default_timeout(CocoonAgentClient *client);
/* FALSE once the connection is lost or closed */
gboolean cocoon_agent_client_is_connected(CocoonAgentClient *client);
/* fail every pending call with UNAVAILABLE and close the connection */
void cocoon_agent_client_close(CocoonAgentClient *client);

/*
 * the generic call behind every wrapper below, driven by the service descriptor protoc-c generates
 * for proto/agent.proto: method_name names a method of cocoon.agent.v1.Agent, request is a message
 * of its input type (NULL: an empty one), the response a message of its output type. A new RPC
 * needs no wrapper: call it by name. UNIMPLEMENTED for a name the service does not have,
 * INVALID_ARGUMENT for a request of another type.
 */
gpointer cocoon_agent_client_call(CocoonAgentClient *client, const gchar *method_name,
				  const ProtobufCMessage *request, guint timeout_ms,
				  GCancellable *cancellable, GError **error);
/* for a method answered with google.protobuf.Empty */
gboolean cocoon_agent_client_call_empty(CocoonAgentClient *client, const gchar *method_name,
					const ProtobufCMessage *request, guint timeout_ms,
					GCancellable *cancellable, GError **error);
void cocoon_agent_client_call_async(CocoonAgentClient *client, const gchar *method_name,
				    const ProtobufCMessage *request, guint timeout_ms,
				    GCancellable *cancellable, GAsyncReadyCallback callback,
				    gpointer user_data);
gpointer cocoon_agent_client_call_finish(CocoonAgentClient *client, GAsyncResult *result,
					 GError **error);

/* a typed wrapper below: the method it calls and the C types it takes and returns */
typedef struct {
	const gchar *function;
	const gchar *method;
	const gchar *request_type;
	const gchar *response_type;
} CocoonAgentWrapper;
/* every typed wrapper, for the test that holds them against the service descriptor */
const CocoonAgentWrapper *cocoon_agent_client_get_wrappers(gsize *ret_n);

/*
 * the typed wrappers: X(function, Method, shape), cocoon_agent_client_<function>() calls Method;
 * shape says what it takes and returns:
 *   TYPED        (client, const Cocoon__Agent__V1__<Method>Request *request, timeout_ms,
 *                 cancellable, error) -> Cocoon__Agent__V1__<Method>Response *
 *   EMPTY        the same with a request, -> gboolean (the method answers google.protobuf.Empty)
 *   NOARG        (client, timeout_ms, cancellable, error) -> Cocoon__Agent__V1__<Method>Response *
 *   NOARG_EMPTY  (client, timeout_ms, cancellable, error) -> gboolean
 * WaitEvent and WaitProcess are long polls: timeout_ms 0 = no deadline.
 */
#define COCOON_AGENT_WRAPPERS(X)                                                                   \
	/* sandbox level */                                                                        \
	X(ping, Ping, NOARG)                                                                       \
	X(guest_info, GuestInfo, NOARG)                                                            \
	X(shutdown, Shutdown, NOARG_EMPTY)                                                         \
	X(wait_event, WaitEvent, NOARG)                                                            \
	/* containers */                                                                           \
	X(create_container, CreateContainer, TYPED)                                                \
	X(start_container, StartContainer, TYPED)                                                  \
	X(remove_container, RemoveContainer, EMPTY)                                                \
	X(pause_container, PauseContainer, EMPTY)                                                  \
	X(resume_container, ResumeContainer, EMPTY)                                                \
	X(update_container, UpdateContainer, EMPTY)                                                \
	X(stats_container, StatsContainer, TYPED)                                                  \
	X(list_processes, ListProcesses, TYPED)                                                    \
	/* processes */                                                                            \
	X(exec_process, ExecProcess, TYPED)                                                        \
	X(signal_process, SignalProcess, EMPTY)                                                    \
	X(wait_process, WaitProcess, TYPED)                                                        \
	X(resize_tty, ResizeTty, EMPTY)                                                            \
	X(close_stdin, CloseStdin, EMPTY)

/* the prototype of a wrapper of each shape (without the semicolon) */
#define COCOON_AGENT_WRAPPER_TYPED(func, Method)                                                   \
	Cocoon__Agent__V1__##Method##Response *cocoon_agent_client_##func(                         \
		CocoonAgentClient *client, const Cocoon__Agent__V1__##Method##Request *request,    \
		guint timeout_ms, GCancellable *cancellable, GError **error)
#define COCOON_AGENT_WRAPPER_EMPTY(func, Method)                                                   \
	gboolean cocoon_agent_client_##func(                                                       \
		CocoonAgentClient *client, const Cocoon__Agent__V1__##Method##Request *request,    \
		guint timeout_ms, GCancellable *cancellable, GError **error)
#define COCOON_AGENT_WRAPPER_NOARG(func, Method)                                                   \
	Cocoon__Agent__V1__##Method##Response *cocoon_agent_client_##func(                         \
		CocoonAgentClient *client, guint timeout_ms, GCancellable *cancellable,            \
		GError **error)
#define COCOON_AGENT_WRAPPER_NOARG_EMPTY(func, Method)                                             \
	gboolean cocoon_agent_client_##func(CocoonAgentClient *client, guint timeout_ms,           \
					    GCancellable *cancellable, GError **error)

#define COCOON_AGENT_DECLARE_WRAPPER(func, Method, shape)                                          \
	COCOON_AGENT_WRAPPER_##shape(func, Method);
COCOON_AGENT_WRAPPERS(COCOON_AGENT_DECLARE_WRAPPER)

/*
 * the long polls without a thread each: callback runs on the thread-default GMainContext of the
 * caller (see cocoon_ttrpc_client_call_async()); same timeout rules as the blocking calls
 */
void cocoon_agent_client_wait_process_async(CocoonAgentClient *client,
					    const Cocoon__Agent__V1__WaitProcessRequest *request,
					    guint timeout_ms, GCancellable *cancellable,
					    GAsyncReadyCallback callback, gpointer user_data);
Cocoon__Agent__V1__WaitProcessResponse *
cocoon_agent_client_wait_process_finish(CocoonAgentClient *client, GAsyncResult *result,
					GError **error);
void cocoon_agent_client_wait_event_async(CocoonAgentClient *client, guint timeout_ms,
					  GCancellable *cancellable, GAsyncReadyCallback callback,
					  gpointer user_data);
void cocoon_agent_client_set_paused_async(CocoonAgentClient *client, const gchar *container_id,
					  gboolean paused, guint timeout_ms,
					  GCancellable *cancellable, GAsyncReadyCallback callback,
					  gpointer user_data);
gboolean cocoon_agent_client_set_paused_finish(CocoonAgentClient *client, GAsyncResult *result,
					       GError **error);
Cocoon__Agent__V1__WaitEventResponse *
cocoon_agent_client_wait_event_finish(CocoonAgentClient *client, GAsyncResult *result,
				      GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonAgentClient, cocoon_agent_client_unref)

/* g_autoptr() for the response messages of the wrappers that return one */
#define COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Type, prefix)                                          \
	static inline void prefix##_autoptr_free(Type *message)                                    \
	{                                                                                          \
		if (message != NULL)                                                               \
			prefix##__free_unpacked(message, NULL);                                    \
	}                                                                                          \
	G_DEFINE_AUTOPTR_CLEANUP_FUNC(Type, prefix##_autoptr_free)
#define COCOON_AGENT_RESPONSE_CLEANUP_TYPED(func, Method)                                          \
	COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Cocoon__Agent__V1__##Method##Response,                 \
					    cocoon__agent__v1__##func##_response)
#define COCOON_AGENT_RESPONSE_CLEANUP_NOARG(func, Method)                                          \
	COCOON_AGENT_RESPONSE_CLEANUP_TYPED(func, Method)
#define COCOON_AGENT_RESPONSE_CLEANUP_EMPTY(func, Method)
#define COCOON_AGENT_RESPONSE_CLEANUP_NOARG_EMPTY(func, Method)
#define COCOON_AGENT_RESPONSE_CLEANUP(func, Method, shape)                                         \
	COCOON_AGENT_RESPONSE_CLEANUP_##shape(func, Method)
COCOON_AGENT_WRAPPERS(COCOON_AGENT_RESPONSE_CLEANUP)

G_END_DECLS
