/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-agent-client.h"

#include <errno.h>
#include <poll.h>

#include <gio/gio.h>

#include "google/protobuf/empty.pb-c.h"

/* how often connect_wait retries a socket that is not there yet */
#define CONNECT_RETRY_MS 25u

struct _CocoonAgentClient {
	gint ref_count;
	gchar *sandbox_id;
	CocoonTtrpcClient *ttrpc;
	/* atomic */
	guint default_timeout_ms;
};

const gchar *
cocoon_agent_client_get_sandbox_id(CocoonAgentClient *client)
{
	g_return_val_if_fail(client != NULL, NULL);
	return client->sandbox_id;
}

CocoonTtrpcClient *
cocoon_agent_client_get_ttrpc(CocoonAgentClient *client)
{
	g_return_val_if_fail(client != NULL, NULL);
	return client->ttrpc;
}

/**
 * cocoon_agent_client_set_default_timeout:
 *
 * Sets the deadline of calls made with COCOON_AGENT_TIMEOUT_DEFAULT (not the long polls).
 */
void
cocoon_agent_client_set_default_timeout(CocoonAgentClient *client, guint timeout_ms)
{
	g_return_if_fail(client != NULL);
	g_atomic_int_set(&client->default_timeout_ms, timeout_ms);
}

guint
cocoon_agent_client_get_default_timeout(CocoonAgentClient *client)
{
	g_return_val_if_fail(client != NULL, 0);
	return (guint)g_atomic_int_get(&client->default_timeout_ms);
}

gboolean
cocoon_agent_client_is_connected(CocoonAgentClient *client)
{
	g_return_val_if_fail(client != NULL, FALSE);
	return cocoon_ttrpc_client_is_connected(client->ttrpc);
}

void
cocoon_agent_client_close(CocoonAgentClient *client)
{
	g_return_if_fail(client != NULL);
	cocoon_ttrpc_client_close(client->ttrpc);
}

static guint
effective_timeout(CocoonAgentClient *client, guint timeout_ms, gboolean long_poll)
{
	if (timeout_ms != COCOON_AGENT_TIMEOUT_DEFAULT || long_poll)
		return timeout_ms;
	return cocoon_agent_client_get_default_timeout(client);
}

/* one call; the error names the sandbox and the RPC */
static ProtobufCMessage *
agent_call(CocoonAgentClient *client, const gchar *method, const ProtobufCMessage *request,
	   const ProtobufCMessageDescriptor *response_descriptor, guint timeout_ms,
	   gboolean long_poll, GCancellable *cancellable, GError **error)
{
	ProtobufCMessage *response;

	response = cocoon_ttrpc_client_call_message(
		client->ttrpc, COCOON_AGENT_SERVICE, method, request, response_descriptor,
		effective_timeout(client, timeout_ms, long_poll), cancellable, error);
	if (response == NULL) {
		g_prefix_error(error, "sandbox %s: agent %s: ", client->sandbox_id, method);
		return NULL;
	}
	return response;
}

/* a call answered with google.protobuf.Empty */
static gboolean
agent_call_empty(CocoonAgentClient *client, const gchar *method, const ProtobufCMessage *request,
		 guint timeout_ms, GCancellable *cancellable, GError **error)
{
	ProtobufCMessage *response =
		agent_call(client, method, request, &google__protobuf__empty__descriptor,
			   timeout_ms, FALSE, cancellable, error);

	if (response == NULL)
		return FALSE;
	protobuf_c_message_free_unpacked(response, NULL);
	return TRUE;
}

#define CHECK_REQUEST(request, value)                                                              \
	G_STMT_START                                                                               \
	{                                                                                          \
		g_return_val_if_fail(client != NULL, value);                                       \
		g_return_val_if_fail(request != NULL, value);                                      \
	}                                                                                          \
	G_STMT_END

/**
 * cocoon_agent_client_ping:
 *
 * Returns: the agent's version and uptime
 */
Cocoon__Agent__V1__PingResponse *
cocoon_agent_client_ping(CocoonAgentClient *client, guint timeout_ms, GCancellable *cancellable,
			 GError **error)
{
	Cocoon__Agent__V1__PingRequest request = COCOON__AGENT__V1__PING_REQUEST__INIT;

	g_return_val_if_fail(client != NULL, NULL);
	return (Cocoon__Agent__V1__PingResponse *)agent_call(
		client, "Ping", &request.base, &cocoon__agent__v1__ping_response__descriptor,
		timeout_ms, FALSE, cancellable, error);
}

Cocoon__Agent__V1__GuestInfoResponse *
cocoon_agent_client_guest_info(CocoonAgentClient *client, guint timeout_ms,
			       GCancellable *cancellable, GError **error)
{
	Cocoon__Agent__V1__GuestInfoRequest request = COCOON__AGENT__V1__GUEST_INFO_REQUEST__INIT;

	g_return_val_if_fail(client != NULL, NULL);
	return (Cocoon__Agent__V1__GuestInfoResponse *)agent_call(
		client, "GuestInfo", &request.base,
		&cocoon__agent__v1__guest_info_response__descriptor, timeout_ms, FALSE, cancellable,
		error);
}

gboolean
cocoon_agent_client_shutdown(CocoonAgentClient *client, guint timeout_ms, GCancellable *cancellable,
			     GError **error)
{
	Cocoon__Agent__V1__ShutdownRequest request = COCOON__AGENT__V1__SHUTDOWN_REQUEST__INIT;

	g_return_val_if_fail(client != NULL, FALSE);
	return agent_call_empty(client, "Shutdown", &request.base, timeout_ms, cancellable, error);
}

/**
 * cocoon_agent_client_wait_event:
 *
 * Long poll for the next guest event; timeout_ms 0 waits until one comes or the connection dies.
 */
Cocoon__Agent__V1__WaitEventResponse *
cocoon_agent_client_wait_event(CocoonAgentClient *client, guint timeout_ms,
			       GCancellable *cancellable, GError **error)
{
	Cocoon__Agent__V1__WaitEventRequest request = COCOON__AGENT__V1__WAIT_EVENT_REQUEST__INIT;

	g_return_val_if_fail(client != NULL, NULL);
	return (Cocoon__Agent__V1__WaitEventResponse *)agent_call(
		client, "WaitEvent", &request.base,
		&cocoon__agent__v1__wait_event_response__descriptor, timeout_ms, TRUE, cancellable,
		error);
}

Cocoon__Agent__V1__CreateContainerResponse *
cocoon_agent_client_create_container(CocoonAgentClient *client,
				     const Cocoon__Agent__V1__CreateContainerRequest *request,
				     guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, NULL);
	return (Cocoon__Agent__V1__CreateContainerResponse *)agent_call(
		client, "CreateContainer", &request->base,
		&cocoon__agent__v1__create_container_response__descriptor, timeout_ms, FALSE,
		cancellable, error);
}

Cocoon__Agent__V1__StartContainerResponse *
cocoon_agent_client_start_container(CocoonAgentClient *client,
				    const Cocoon__Agent__V1__StartContainerRequest *request,
				    guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, NULL);
	return (Cocoon__Agent__V1__StartContainerResponse *)agent_call(
		client, "StartContainer", &request->base,
		&cocoon__agent__v1__start_container_response__descriptor, timeout_ms, FALSE,
		cancellable, error);
}

gboolean
cocoon_agent_client_remove_container(CocoonAgentClient *client,
				     const Cocoon__Agent__V1__RemoveContainerRequest *request,
				     guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, FALSE);
	return agent_call_empty(client, "RemoveContainer", &request->base, timeout_ms, cancellable,
				error);
}

gboolean
cocoon_agent_client_pause_container(CocoonAgentClient *client,
				    const Cocoon__Agent__V1__PauseContainerRequest *request,
				    guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, FALSE);
	return agent_call_empty(client, "PauseContainer", &request->base, timeout_ms, cancellable,
				error);
}

gboolean
cocoon_agent_client_resume_container(CocoonAgentClient *client,
				     const Cocoon__Agent__V1__ResumeContainerRequest *request,
				     guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, FALSE);
	return agent_call_empty(client, "ResumeContainer", &request->base, timeout_ms, cancellable,
				error);
}

gboolean
cocoon_agent_client_update_container(CocoonAgentClient *client,
				     const Cocoon__Agent__V1__UpdateContainerRequest *request,
				     guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, FALSE);
	return agent_call_empty(client, "UpdateContainer", &request->base, timeout_ms, cancellable,
				error);
}

Cocoon__Agent__V1__StatsContainerResponse *
cocoon_agent_client_stats_container(CocoonAgentClient *client,
				    const Cocoon__Agent__V1__StatsContainerRequest *request,
				    guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, NULL);
	return (Cocoon__Agent__V1__StatsContainerResponse *)agent_call(
		client, "StatsContainer", &request->base,
		&cocoon__agent__v1__stats_container_response__descriptor, timeout_ms, FALSE,
		cancellable, error);
}

Cocoon__Agent__V1__ListProcessesResponse *
cocoon_agent_client_list_processes(CocoonAgentClient *client,
				   const Cocoon__Agent__V1__ListProcessesRequest *request,
				   guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, NULL);
	return (Cocoon__Agent__V1__ListProcessesResponse *)agent_call(
		client, "ListProcesses", &request->base,
		&cocoon__agent__v1__list_processes_response__descriptor, timeout_ms, FALSE,
		cancellable, error);
}

Cocoon__Agent__V1__ExecProcessResponse *
cocoon_agent_client_exec_process(CocoonAgentClient *client,
				 const Cocoon__Agent__V1__ExecProcessRequest *request,
				 guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, NULL);
	return (Cocoon__Agent__V1__ExecProcessResponse *)agent_call(
		client, "ExecProcess", &request->base,
		&cocoon__agent__v1__exec_process_response__descriptor, timeout_ms, FALSE,
		cancellable, error);
}

gboolean
cocoon_agent_client_signal_process(CocoonAgentClient *client,
				   const Cocoon__Agent__V1__SignalProcessRequest *request,
				   guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, FALSE);
	return agent_call_empty(client, "SignalProcess", &request->base, timeout_ms, cancellable,
				error);
}

/**
 * cocoon_agent_client_wait_process:
 *
 * Long poll until the process exits; timeout_ms 0 waits until it does or the connection dies.
 */
Cocoon__Agent__V1__WaitProcessResponse *
cocoon_agent_client_wait_process(CocoonAgentClient *client,
				 const Cocoon__Agent__V1__WaitProcessRequest *request,
				 guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, NULL);
	return (Cocoon__Agent__V1__WaitProcessResponse *)agent_call(
		client, "WaitProcess", &request->base,
		&cocoon__agent__v1__wait_process_response__descriptor, timeout_ms, TRUE,
		cancellable, error);
}

gboolean
cocoon_agent_client_resize_tty(CocoonAgentClient *client,
			       const Cocoon__Agent__V1__ResizeTtyRequest *request, guint timeout_ms,
			       GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, FALSE);
	return agent_call_empty(client, "ResizeTty", &request->base, timeout_ms, cancellable,
				error);
}

gboolean
cocoon_agent_client_close_stdin(CocoonAgentClient *client,
				const Cocoon__Agent__V1__CloseStdinRequest *request,
				guint timeout_ms, GCancellable *cancellable, GError **error)
{
	CHECK_REQUEST(request, FALSE);
	return agent_call_empty(client, "CloseStdin", &request->base, timeout_ms, cancellable,
				error);
}

typedef struct {
	CocoonAgentClient *client;
	const gchar *method;
	const ProtobufCMessageDescriptor *response_descriptor;
} AsyncCall;

static void
async_call_free(gpointer data)
{
	AsyncCall *call = data;

	cocoon_agent_client_unref(call->client);
	g_free(call);
}

static void
free_message(gpointer message)
{
	protobuf_c_message_free_unpacked(message, NULL);
}

static void
async_call_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	AsyncCall *call = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) payload = NULL;
	ProtobufCMessage *response;
	const guint8 *data;
	gsize size = 0;

	payload = cocoon_ttrpc_client_call_finish(call->client->ttrpc, result, &error);
	if (payload == NULL) {
		g_prefix_error(&error, "sandbox %s: agent %s: ", call->client->sandbox_id,
			       call->method);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	data = g_bytes_get_data(payload, &size);
	response = protobuf_c_message_unpack(call->response_descriptor, NULL, size, data);
	if (response == NULL) {
		g_task_return_new_error(task, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
					"sandbox %s: agent %s: undecodable response",
					call->client->sandbox_id, call->method);
		return;
	}
	g_task_return_pointer(task, response, free_message);
}

static void
agent_call_async(CocoonAgentClient *client, const gchar *method, gpointer source_tag,
		 const ProtobufCMessage *request,
		 const ProtobufCMessageDescriptor *response_descriptor, guint timeout_ms,
		 gboolean long_poll, GCancellable *cancellable, GAsyncReadyCallback callback,
		 gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	g_autofree guint8 *packed = NULL;
	AsyncCall *call = g_new0(AsyncCall, 1);
	gsize size;

	g_task_set_source_tag(task, source_tag);
	call->client = cocoon_agent_client_ref(client);
	call->method = method;
	call->response_descriptor = response_descriptor;
	g_task_set_task_data(task, call, async_call_free);

	size = protobuf_c_message_get_packed_size(request);
	packed = g_malloc(MAX(size, 1));
	protobuf_c_message_pack(request, packed);
	cocoon_ttrpc_client_call_async(client->ttrpc, COCOON_AGENT_SERVICE, method, packed, size,
				       effective_timeout(client, timeout_ms, long_poll),
				       cancellable, async_call_done, g_steal_pointer(&task));
}

static gpointer
agent_call_finish(CocoonAgentClient *client, GAsyncResult *result, gpointer source_tag,
		  GError **error)
{
	g_return_val_if_fail(client != NULL, NULL);
	g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == source_tag, NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

void
cocoon_agent_client_wait_process_async(CocoonAgentClient *client,
				       const Cocoon__Agent__V1__WaitProcessRequest *request,
				       guint timeout_ms, GCancellable *cancellable,
				       GAsyncReadyCallback callback, gpointer user_data)
{
	g_return_if_fail(client != NULL);
	g_return_if_fail(request != NULL);
	agent_call_async(client, "WaitProcess", cocoon_agent_client_wait_process_async,
			 &request->base, &cocoon__agent__v1__wait_process_response__descriptor,
			 timeout_ms, TRUE, cancellable, callback, user_data);
}

Cocoon__Agent__V1__WaitProcessResponse *
cocoon_agent_client_wait_process_finish(CocoonAgentClient *client, GAsyncResult *result,
					GError **error)
{
	return agent_call_finish(client, result, cocoon_agent_client_wait_process_async, error);
}

/**
 * cocoon_agent_client_set_paused_async:
 *
 * PauseContainer (paused) or ResumeContainer without a thread waiting for it; the request is
 * written before this returns, so it is ordered after every call made before
 */
void
cocoon_agent_client_set_paused_async(CocoonAgentClient *client, const gchar *container_id,
				     gboolean paused, guint timeout_ms, GCancellable *cancellable,
				     GAsyncReadyCallback callback, gpointer user_data)
{
	Cocoon__Agent__V1__PauseContainerRequest pause =
		COCOON__AGENT__V1__PAUSE_CONTAINER_REQUEST__INIT;
	Cocoon__Agent__V1__ResumeContainerRequest resume =
		COCOON__AGENT__V1__RESUME_CONTAINER_REQUEST__INIT;

	g_return_if_fail(client != NULL);
	g_return_if_fail(container_id != NULL);
	pause.container_id = resume.container_id = (gchar *)container_id;
	agent_call_async(client, paused ? "PauseContainer" : "ResumeContainer",
			 cocoon_agent_client_set_paused_async, paused ? &pause.base : &resume.base,
			 &google__protobuf__empty__descriptor, timeout_ms, FALSE, cancellable,
			 callback, user_data);
}

gboolean
cocoon_agent_client_set_paused_finish(CocoonAgentClient *client, GAsyncResult *result,
				      GError **error)
{
	ProtobufCMessage *response =
		agent_call_finish(client, result, cocoon_agent_client_set_paused_async, error);

	if (response == NULL)
		return FALSE;
	protobuf_c_message_free_unpacked(response, NULL);
	return TRUE;
}

void
cocoon_agent_client_wait_event_async(CocoonAgentClient *client, guint timeout_ms,
				     GCancellable *cancellable, GAsyncReadyCallback callback,
				     gpointer user_data)
{
	Cocoon__Agent__V1__WaitEventRequest request = COCOON__AGENT__V1__WAIT_EVENT_REQUEST__INIT;

	g_return_if_fail(client != NULL);
	agent_call_async(client, "WaitEvent", cocoon_agent_client_wait_event_async, &request.base,
			 &cocoon__agent__v1__wait_event_response__descriptor, timeout_ms, TRUE,
			 cancellable, callback, user_data);
}

Cocoon__Agent__V1__WaitEventResponse *
cocoon_agent_client_wait_event_finish(CocoonAgentClient *client, GAsyncResult *result,
				      GError **error)
{
	return agent_call_finish(client, result, cocoon_agent_client_wait_event_async, error);
}

/* sleep until deadline (monotonic µs); FALSE with error when cancellable fired */
static gboolean
sleep_until(gint64 deadline, GCancellable *cancellable, GError **error)
{
	GPollFD pfd;
	gint64 left = deadline - g_get_monotonic_time();

	if (left <= 0)
		return !g_cancellable_set_error_if_cancelled(cancellable, error);
	if (cancellable == NULL || !g_cancellable_make_pollfd(cancellable, &pfd)) {
		g_usleep((gulong)left);
		return TRUE;
	}
	g_poll(&pfd, 1, (gint)((left + 999) / 1000));
	g_cancellable_release_fd(cancellable);
	return !g_cancellable_set_error_if_cancelled(cancellable, error);
}

static gboolean
is_cancelled_error(const GError *error)
{
	return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
	       g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_CANCELLED);
}

/**
 * cocoon_agent_client_connect_wait:
 *
 * Waits for a freshly started guest's agent. With virtio-serial, QEMU accepts the connection as
 * soon as it runs, long before the guest opens its port; what is written meanwhile waits in QEMU.
 * So one connection is kept and probed with Pings whose timeout starts short and doubles, the
 * unanswered ones being answered (and dropped) once the agent reads them. The connection is made
 * again only when it drops.
 */
CocoonAgentClient *
cocoon_agent_client_connect_wait(const gchar *path, const gchar *sandbox_id, guint boot_timeout_ms,
				 CocoonAgentConsoleTailFunc console_tail, gpointer user_data,
				 GCancellable *cancellable, GError **error)
{
	g_autoptr(CocoonAgentClient) client = NULL;
	g_autoptr(GError) last_error = NULL;
	g_autofree gchar *console = NULL;
	gint64 start = g_get_monotonic_time();
	gint64 deadline = start + (gint64)boot_timeout_ms * 1000;
	guint ping_timeout_ms = COCOON_AGENT_PING_TIMEOUT_MS;
	guint attempts = 0;

	g_return_val_if_fail(path != NULL, NULL);
	g_return_val_if_fail(sandbox_id != NULL, NULL);

	for (;;) {
		g_autoptr(GError) local_error = NULL;
		g_autoptr(Cocoon__Agent__V1__PingResponse) pong = NULL;
		gint64 now = g_get_monotonic_time();
		guint timeout_ms;

		if (g_cancellable_set_error_if_cancelled(cancellable, error)) {
			g_prefix_error(error, "sandbox %s: waiting for the agent: ", sandbox_id);
			return NULL;
		}
		if (now >= deadline)
			break;

		if (client == NULL) {
			g_autoptr(CocoonTtrpcClient) ttrpc =
				cocoon_ttrpc_client_new_for_path(path, &local_error);

			if (ttrpc == NULL) {
				/* QEMU has not made (or not yet opened) its socket */
				if (!g_error_matches(local_error, G_IO_ERROR,
						     G_IO_ERROR_NOT_FOUND) &&
				    !g_error_matches(local_error, G_IO_ERROR,
						     G_IO_ERROR_CONNECTION_REFUSED)) {
					g_propagate_prefixed_error(
						error, g_steal_pointer(&local_error),
						"sandbox %s: agent socket: ", sandbox_id);
					return NULL;
				}
				g_clear_error(&last_error);
				last_error = g_steal_pointer(&local_error);
				if (!sleep_until(MIN(now + CONNECT_RETRY_MS * 1000, deadline),
						 cancellable, error)) {
					g_prefix_error(error, "sandbox %s: waiting for the agent: ",
						       sandbox_id);
					return NULL;
				}
				continue;
			}
			client = cocoon_agent_client_new(ttrpc, sandbox_id);
			ping_timeout_ms = COCOON_AGENT_PING_TIMEOUT_MS;
		}

		timeout_ms = (guint)MIN((gint64)ping_timeout_ms, (deadline - now + 999) / 1000);
		attempts++;
		pong = cocoon_agent_client_ping(client, MAX(timeout_ms, 1), cancellable,
						&local_error);
		if (pong != NULL) {
			g_debug("sandbox %s: agent %s answered after %" G_GINT64_FORMAT
				" ms (%u pings)",
				sandbox_id, pong->agent_version,
				(g_get_monotonic_time() - start) / 1000, attempts);
			return g_steal_pointer(&client);
		}
		if (is_cancelled_error(local_error)) {
			g_propagate_error(error, g_steal_pointer(&local_error));
			return NULL;
		}
		if (g_error_matches(local_error, COCOON_TTRPC_ERROR,
				    COCOON_TTRPC_DEADLINE_EXCEEDED)) {
			/* not up yet, or slow: this Ping stays queued, probe again a bit longer */
			ping_timeout_ms =
				MIN(ping_timeout_ms * 2, COCOON_AGENT_PING_TIMEOUT_MAX_MS);
		} else if (g_error_matches(local_error, COCOON_TTRPC_ERROR,
					   COCOON_TTRPC_UNAVAILABLE)) {
			/* the connection dropped (QEMU restarted its chardev): connect again */
			g_clear_pointer(&client, cocoon_agent_client_unref);
			if (!sleep_until(MIN(now + CONNECT_RETRY_MS * 1000, deadline), cancellable,
					 error)) {
				g_prefix_error(error,
					       "sandbox %s: waiting for the agent: ", sandbox_id);
				return NULL;
			}
		} else {
			/* the agent is up and answered with an error */
			g_propagate_error(error, g_steal_pointer(&local_error));
			return NULL;
		}
		g_clear_error(&last_error);
		last_error = g_steal_pointer(&local_error);
	}

	if (console_tail != NULL)
		console = console_tail(COCOON_AGENT_CONSOLE_TAIL_LINES, user_data);
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
		    "sandbox %s: the guest never came up within %u ms (%u pings; last: %s)%s%s",
		    sandbox_id, boot_timeout_ms, attempts,
		    last_error != NULL ? last_error->message : "no attempt",
		    console != NULL && console[0] != '\0' ? "; last console lines:\n"
							  : "; the console is empty",
		    console != NULL ? console : "");
	return NULL;
}

CocoonAgentClient *
cocoon_agent_client_ref(CocoonAgentClient *client)
{
	g_return_val_if_fail(client != NULL, NULL);
	g_atomic_int_inc(&client->ref_count);
	return client;
}

void
cocoon_agent_client_unref(CocoonAgentClient *client)
{
	if (client == NULL || !g_atomic_int_dec_and_test(&client->ref_count))
		return;
	cocoon_ttrpc_client_unref(client->ttrpc);
	g_free(client->sandbox_id);
	g_free(client);
}

/**
 * cocoon_agent_client_new:
 *
 * Wraps an already connected ttrpc client (for tests, or a connection made elsewhere).
 */
CocoonAgentClient *
cocoon_agent_client_new(CocoonTtrpcClient *ttrpc, const gchar *sandbox_id)
{
	CocoonAgentClient *client;

	g_return_val_if_fail(ttrpc != NULL, NULL);
	g_return_val_if_fail(sandbox_id != NULL, NULL);

	client = g_new0(CocoonAgentClient, 1);
	client->ref_count = 1;
	client->sandbox_id = g_strdup(sandbox_id);
	client->ttrpc = cocoon_ttrpc_client_ref(ttrpc);
	client->default_timeout_ms = COCOON_AGENT_DEFAULT_REQUEST_TIMEOUT_MS;
	return client;
}
