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

/* sandbox level */
Cocoon__Agent__V1__PingResponse *cocoon_agent_client_ping(CocoonAgentClient *client,
							  guint timeout_ms,
							  GCancellable *cancellable,
							  GError **error);
Cocoon__Agent__V1__GuestInfoResponse *cocoon_agent_client_guest_info(CocoonAgentClient *client,
								     guint timeout_ms,
								     GCancellable *cancellable,
								     GError **error);
gboolean cocoon_agent_client_shutdown(CocoonAgentClient *client, guint timeout_ms,
				      GCancellable *cancellable, GError **error);
/* long poll: timeout_ms 0 = no deadline */
Cocoon__Agent__V1__WaitEventResponse *cocoon_agent_client_wait_event(CocoonAgentClient *client,
								     guint timeout_ms,
								     GCancellable *cancellable,
								     GError **error);

/* containers */
Cocoon__Agent__V1__CreateContainerResponse *
cocoon_agent_client_create_container(CocoonAgentClient *client,
				     const Cocoon__Agent__V1__CreateContainerRequest *request,
				     guint timeout_ms, GCancellable *cancellable, GError **error);
Cocoon__Agent__V1__StartContainerResponse *
cocoon_agent_client_start_container(CocoonAgentClient *client,
				    const Cocoon__Agent__V1__StartContainerRequest *request,
				    guint timeout_ms, GCancellable *cancellable, GError **error);
gboolean
cocoon_agent_client_remove_container(CocoonAgentClient *client,
				     const Cocoon__Agent__V1__RemoveContainerRequest *request,
				     guint timeout_ms, GCancellable *cancellable, GError **error);
gboolean
cocoon_agent_client_pause_container(CocoonAgentClient *client,
				    const Cocoon__Agent__V1__PauseContainerRequest *request,
				    guint timeout_ms, GCancellable *cancellable, GError **error);
gboolean
cocoon_agent_client_resume_container(CocoonAgentClient *client,
				     const Cocoon__Agent__V1__ResumeContainerRequest *request,
				     guint timeout_ms, GCancellable *cancellable, GError **error);
gboolean
cocoon_agent_client_update_container(CocoonAgentClient *client,
				     const Cocoon__Agent__V1__UpdateContainerRequest *request,
				     guint timeout_ms, GCancellable *cancellable, GError **error);
Cocoon__Agent__V1__StatsContainerResponse *
cocoon_agent_client_stats_container(CocoonAgentClient *client,
				    const Cocoon__Agent__V1__StatsContainerRequest *request,
				    guint timeout_ms, GCancellable *cancellable, GError **error);
Cocoon__Agent__V1__ListProcessesResponse *
cocoon_agent_client_list_processes(CocoonAgentClient *client,
				   const Cocoon__Agent__V1__ListProcessesRequest *request,
				   guint timeout_ms, GCancellable *cancellable, GError **error);

/* processes */
Cocoon__Agent__V1__ExecProcessResponse *
cocoon_agent_client_exec_process(CocoonAgentClient *client,
				 const Cocoon__Agent__V1__ExecProcessRequest *request,
				 guint timeout_ms, GCancellable *cancellable, GError **error);
gboolean cocoon_agent_client_signal_process(CocoonAgentClient *client,
					    const Cocoon__Agent__V1__SignalProcessRequest *request,
					    guint timeout_ms, GCancellable *cancellable,
					    GError **error);
/* long poll: timeout_ms 0 = no deadline */
Cocoon__Agent__V1__WaitProcessResponse *
cocoon_agent_client_wait_process(CocoonAgentClient *client,
				 const Cocoon__Agent__V1__WaitProcessRequest *request,
				 guint timeout_ms, GCancellable *cancellable, GError **error);
gboolean cocoon_agent_client_resize_tty(CocoonAgentClient *client,
					const Cocoon__Agent__V1__ResizeTtyRequest *request,
					guint timeout_ms, GCancellable *cancellable,
					GError **error);
gboolean cocoon_agent_client_close_stdin(CocoonAgentClient *client,
					 const Cocoon__Agent__V1__CloseStdinRequest *request,
					 guint timeout_ms, GCancellable *cancellable,
					 GError **error);

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

/* g_autoptr() for the response messages */
#define COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Type, prefix)                                          \
	static inline void prefix##_autoptr_free(Type *message)                                    \
	{                                                                                          \
		if (message != NULL)                                                               \
			prefix##__free_unpacked(message, NULL);                                    \
	}                                                                                          \
	G_DEFINE_AUTOPTR_CLEANUP_FUNC(Type, prefix##_autoptr_free)

COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Cocoon__Agent__V1__PingResponse,
				    cocoon__agent__v1__ping_response)
COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Cocoon__Agent__V1__GuestInfoResponse,
				    cocoon__agent__v1__guest_info_response)
COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Cocoon__Agent__V1__WaitEventResponse,
				    cocoon__agent__v1__wait_event_response)
COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Cocoon__Agent__V1__CreateContainerResponse,
				    cocoon__agent__v1__create_container_response)
COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Cocoon__Agent__V1__StartContainerResponse,
				    cocoon__agent__v1__start_container_response)
COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Cocoon__Agent__V1__StatsContainerResponse,
				    cocoon__agent__v1__stats_container_response)
COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Cocoon__Agent__V1__ListProcessesResponse,
				    cocoon__agent__v1__list_processes_response)
COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Cocoon__Agent__V1__ExecProcessResponse,
				    cocoon__agent__v1__exec_process_response)
COCOON_AGENT_DEFINE_MESSAGE_CLEANUP(Cocoon__Agent__V1__WaitProcessResponse,
				    cocoon__agent__v1__wait_process_response)

G_END_DECLS
