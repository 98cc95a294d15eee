/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-agent-client.h"

#include <errno.h>
#include <poll.h>

#include <gio/gio.h>

#include "cocoon-rc.h"

/* how often connect_wait retries a socket that is not there yet */
#define CONNECT_RETRY_MS 25u

struct _CocoonAgentClient {
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

/* the long polls: timeout 0 means no deadline, not the default (the .proto's comments say which) */
static gboolean
is_long_poll(const ProtobufCMethodDescriptor *method)
{
	return g_str_equal(method->name, "WaitProcess") || g_str_equal(method->name, "WaitEvent");
}

static guint
effective_timeout(CocoonAgentClient *client, const ProtobufCMethodDescriptor *method,
		  guint timeout_ms)
{
	if (timeout_ms != COCOON_AGENT_TIMEOUT_DEFAULT || is_long_poll(method))
		return timeout_ms;
	return cocoon_agent_client_get_default_timeout(client);
}

/* the method of cocoon.agent.v1.Agent called name, with request (if any) of its input type */
static const ProtobufCMethodDescriptor *
lookup_method(CocoonAgentClient *client, const gchar *name, const ProtobufCMessage **request,
	      GError **error)
{
	const ProtobufCMethodDescriptor *method = protobuf_c_service_descriptor_get_method_by_name(
		&cocoon__agent__v1__agent__descriptor, name);

	if (method == NULL) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNIMPLEMENTED,
			    "sandbox %s: agent %s: no such method in %s", client->sandbox_id, name,
			    COCOON_AGENT_SERVICE);
		return NULL;
	}
	if (*request != NULL && (*request)->descriptor != method->input) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT,
			    "sandbox %s: agent %s: the request is a %s, not a %s",
			    client->sandbox_id, name, (*request)->descriptor->name,
			    method->input->name);
		return NULL;
	}
	return method;
}

/* request, or an empty message of the method's input type built in empty */
static const ProtobufCMessage *
request_or_empty(const ProtobufCMethodDescriptor *method, const ProtobufCMessage *request,
		 gpointer empty)
{
	if (request != NULL)
		return request;
	protobuf_c_message_init(method->input, empty);
	return empty;
}

/**
 * cocoon_agent_client_call:
 * @method_name: a method name of cocoon.agent.v1.Agent (proto/agent.proto)
 * @request: (nullable): a message of the method's input type; NULL sends an empty one
 *
 * The one call every typed wrapper makes: the request and response types come from the service
 * descriptor protoc-c generates. WaitProcess and WaitEvent are long polls (timeout_ms 0: no
 * deadline); the error names the sandbox and the method.
 *
 * Returns: (transfer full): the response, a message of the method's output type
 */
gpointer
cocoon_agent_client_call(CocoonAgentClient *client, const gchar *method_name,
			 const ProtobufCMessage *request, guint timeout_ms,
			 GCancellable *cancellable, GError **error)
{
	const ProtobufCMethodDescriptor *method;
	ProtobufCMessage *response;
	gpointer empty;

	g_return_val_if_fail(client != NULL, NULL);
	g_return_val_if_fail(method_name != NULL, NULL);

	method = lookup_method(client, method_name, &request, error);
	if (method == NULL)
		return NULL;
	empty = g_alloca(method->input->sizeof_message);
	response = cocoon_ttrpc_client_call_message(
		client->ttrpc, COCOON_AGENT_SERVICE, method->name,
		request_or_empty(method, request, empty), method->output,
		effective_timeout(client, method, timeout_ms), cancellable, error);
	if (response == NULL) {
		g_prefix_error(error, "sandbox %s: agent %s: ", client->sandbox_id, method->name);
		return NULL;
	}
	return response;
}

/**
 * cocoon_agent_client_call_empty:
 *
 * cocoon_agent_client_call() for a method answered with google.protobuf.Empty.
 */
gboolean
cocoon_agent_client_call_empty(CocoonAgentClient *client, const gchar *method_name,
			       const ProtobufCMessage *request, guint timeout_ms,
			       GCancellable *cancellable, GError **error)
{
	ProtobufCMessage *response = cocoon_agent_client_call(client, method_name, request,
							      timeout_ms, cancellable, error);

	if (response == NULL)
		return FALSE;
	protobuf_c_message_free_unpacked(response, NULL);
	return TRUE;
}

/*
 * the typed wrappers of cocoon-agent-client.h, one per row of COCOON_AGENT_WRAPPERS, on the
 * prototypes it declares them with. The request and response types are <Method>Request and
 * <Method>Response (checked against the service descriptor by the agent client's unit test);
 * EMPTY wrappers return a gboolean for google.protobuf.Empty, NOARG ones send an empty request.
 */
#define WRAPPER_WITH_REQUEST(prototype, call, failed, Method)                                      \
	prototype                                                                                  \
	{                                                                                          \
		g_return_val_if_fail(request != NULL, failed);                                     \
		return call(client, #Method, &request->base, timeout_ms, cancellable, error);      \
	}
#define WRAPPER_WITHOUT_REQUEST(prototype, call, Method)                                           \
	prototype                                                                                  \
	{                                                                                          \
		return call(client, #Method, NULL, timeout_ms, cancellable, error);                \
	}
#define WRAPPER_TYPED(func, Method)                                                                \
	WRAPPER_WITH_REQUEST(COCOON_AGENT_WRAPPER_TYPED(func, Method), cocoon_agent_client_call,   \
			     NULL, Method)
#define WRAPPER_EMPTY(func, Method)                                                                \
	WRAPPER_WITH_REQUEST(COCOON_AGENT_WRAPPER_EMPTY(func, Method),                             \
			     cocoon_agent_client_call_empty, FALSE, Method)
#define WRAPPER_NOARG(func, Method)                                                                \
	WRAPPER_WITHOUT_REQUEST(COCOON_AGENT_WRAPPER_NOARG(func, Method),                          \
				cocoon_agent_client_call, Method)
#define WRAPPER_NOARG_EMPTY(func, Method)                                                          \
	WRAPPER_WITHOUT_REQUEST(COCOON_AGENT_WRAPPER_NOARG_EMPTY(func, Method),                    \
				cocoon_agent_client_call_empty, Method)
#define DEFINE_WRAPPER(func, Method, shape) WRAPPER_##shape(func, Method)
COCOON_AGENT_WRAPPERS(DEFINE_WRAPPER)

#define RESPONSE_TYPED(Method)	     "Cocoon__Agent__V1__" #Method "Response"
#define RESPONSE_NOARG(Method)	     RESPONSE_TYPED(Method)
#define RESPONSE_EMPTY(Method)	     "Google__Protobuf__Empty"
#define RESPONSE_NOARG_EMPTY(Method) RESPONSE_EMPTY(Method)
#define WRAPPER_ROW(func, Method, shape)                                                           \
	{"cocoon_agent_client_" #func, #Method, "Cocoon__Agent__V1__" #Method "Request",           \
	 RESPONSE_##shape(Method)},

/**
 * cocoon_agent_client_get_wrappers:
 *
 * The typed wrappers with the method and the C types each was written for, so a test can hold
 * them against the service descriptor.
 */
const CocoonAgentWrapper *
cocoon_agent_client_get_wrappers(gsize *ret_n)
{
	static const CocoonAgentWrapper wrappers[] = {COCOON_AGENT_WRAPPERS(WRAPPER_ROW)};

	*ret_n = G_N_ELEMENTS(wrappers);
	return wrappers;
}

typedef struct {
	CocoonAgentClient *client;
	const ProtobufCMethodDescriptor *method;
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
			       call->method->name);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	data = g_bytes_get_data(payload, &size);
	response = protobuf_c_message_unpack(call->method->output, NULL, size, data);
	if (response == NULL) {
		g_task_return_new_error(task, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
					"sandbox %s: agent %s: undecodable response",
					call->client->sandbox_id, call->method->name);
		return;
	}
	g_task_return_pointer(task, response, free_message);
}

/**
 * cocoon_agent_client_call_async:
 *
 * cocoon_agent_client_call() without a thread waiting for it: the request is written before this
 * returns (ordered after every call made before); callback runs on the thread-default GMainContext
 * of the caller. Finish with cocoon_agent_client_call_finish().
 */
void
cocoon_agent_client_call_async(CocoonAgentClient *client, const gchar *method_name,
			       const ProtobufCMessage *request, guint timeout_ms,
			       GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *packed = NULL;
	const ProtobufCMethodDescriptor *method;
	AsyncCall *call;
	gpointer empty;
	gsize size;

	g_return_if_fail(client != NULL);
	g_return_if_fail(method_name != NULL);

	g_task_set_source_tag(task, cocoon_agent_client_call_async);
	method = lookup_method(client, method_name, &request, &error);
	if (method == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	call = g_new0(AsyncCall, 1);
	call->client = cocoon_agent_client_ref(client);
	call->method = method;
	g_task_set_task_data(task, call, async_call_free);

	empty = g_alloca(method->input->sizeof_message);
	request = request_or_empty(method, request, empty);
	size = protobuf_c_message_get_packed_size(request);
	packed = g_malloc(MAX(size, 1));
	protobuf_c_message_pack(request, packed);
	cocoon_ttrpc_client_call_async(client->ttrpc, COCOON_AGENT_SERVICE, method->name, packed,
				       size, effective_timeout(client, method, timeout_ms),
				       cancellable, async_call_done, g_steal_pointer(&task));
}

/**
 * cocoon_agent_client_call_finish:
 *
 * Returns: (transfer full): the response of cocoon_agent_client_call_async()
 */
gpointer
cocoon_agent_client_call_finish(CocoonAgentClient *client, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(client != NULL, NULL);
	g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
	g_return_val_if_fail(
		g_task_get_source_tag(G_TASK(result)) == cocoon_agent_client_call_async, NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

void
cocoon_agent_client_wait_process_async(CocoonAgentClient *client,
				       const Cocoon__Agent__V1__WaitProcessRequest *request,
				       guint timeout_ms, GCancellable *cancellable,
				       GAsyncReadyCallback callback, gpointer user_data)
{
	g_return_if_fail(request != NULL);
	cocoon_agent_client_call_async(client, "WaitProcess", &request->base, timeout_ms,
				       cancellable, callback, user_data);
}

Cocoon__Agent__V1__WaitProcessResponse *
cocoon_agent_client_wait_process_finish(CocoonAgentClient *client, GAsyncResult *result,
					GError **error)
{
	return cocoon_agent_client_call_finish(client, result, error);
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

	g_return_if_fail(container_id != NULL);
	pause.container_id = resume.container_id = (gchar *)container_id;
	cocoon_agent_client_call_async(client, paused ? "PauseContainer" : "ResumeContainer",
				       paused ? &pause.base : &resume.base, timeout_ms, cancellable,
				       callback, user_data);
}

gboolean
cocoon_agent_client_set_paused_finish(CocoonAgentClient *client, GAsyncResult *result,
				      GError **error)
{
	ProtobufCMessage *response = cocoon_agent_client_call_finish(client, result, error);

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
	cocoon_agent_client_call_async(client, "WaitEvent", NULL, timeout_ms, cancellable, callback,
				       user_data);
}

Cocoon__Agent__V1__WaitEventResponse *
cocoon_agent_client_wait_event_finish(CocoonAgentClient *client, GAsyncResult *result,
				      GError **error)
{
	return cocoon_agent_client_call_finish(client, result, error);
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

static void
agent_client_clear(CocoonAgentClient *client)
{
	cocoon_ttrpc_client_unref(client->ttrpc);
	g_free(client->sandbox_id);
}

COCOON_DEFINE_ATOMIC_RC(CocoonAgentClient, cocoon_agent_client, agent_client_clear)

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

	client = g_atomic_rc_box_new0(CocoonAgentClient);
	client->sandbox_id = g_strdup(sandbox_id);
	client->ttrpc = cocoon_ttrpc_client_ref(ttrpc);
	client->default_timeout_ms = COCOON_AGENT_DEFAULT_REQUEST_TIMEOUT_MS;
	return client;
}
