/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-qmp"

#include "config.h"

#include "cocoon-qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <glib-unix.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"

#define READ_CHUNK 65536

struct _CocoonQmp {
	int fd;
	gchar *label;
	GByteArray *input; /* bytes read, not yet parsed */
	guint64 next_id;
	GError *broken; /* why no command can be sent any more; NULL while usable */

	CocoonQmpEventFunc event_func;
	gpointer event_data;
	GQueue events; /* CocoonJson event messages not delivered yet */
	GMainContext *context;
	GSource *watch;
	GSource *idle;
};

typedef enum {
	READ_DATA,
	READ_AGAIN,
	READ_EOF,
	READ_ERROR,
} ReadResult;

GQuark
cocoon_qmp_error_quark(void)
{
	return g_quark_from_static_string("cocoon-qmp-error-quark");
}

static void set_error(CocoonQmp *qmp, const gchar *command, GError **error, GQuark domain,
		      gint code, const gchar *format, ...) G_GNUC_PRINTF(6, 7);

static void
set_error(CocoonQmp *qmp, const gchar *command, GError **error, GQuark domain, gint code,
	  const gchar *format, ...)
{
	g_autofree gchar *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, domain, code, "sandbox %s: QMP %s: %s", qmp->label, command, message);
}

static void
destroy_source(GSource **source)
{
	if (*source != NULL) {
		g_source_destroy(*source);
		g_clear_pointer(source, g_source_unref);
	}
}

/* after EOF or a protocol error: remember why, stop watching */
static void
mark_broken(CocoonQmp *qmp, GQuark domain, gint code, const gchar *reason)
{
	if (qmp->broken == NULL)
		qmp->broken = g_error_new_literal(domain, code, reason);
	destroy_source(&qmp->watch);
}

static gboolean
check_usable(CocoonQmp *qmp, const gchar *command, GError **error)
{
	if (qmp->broken == NULL)
		return TRUE;
	set_error(qmp, command, error, qmp->broken->domain, qmp->broken->code, "%s",
		  qmp->broken->message);
	return FALSE;
}

static ReadResult
read_available(CocoonQmp *qmp, GError **error)
{
	guint8 chunk[READ_CHUNK];
	ssize_t n;

	do
		n = recv(qmp->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		g_byte_array_append(qmp->input, chunk, n);
		return READ_DATA;
	}
	if (n == 0)
		return READ_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return READ_AGAIN;
	{
		cocoon_set_error_from_errno(error, "read");
	}
	return READ_ERROR;
}

/*
 * the next complete message from the input buffer: NULL without error when no full line is
 * buffered yet; a protocol error (oversized line, not a JSON object) breaks the connection
 */
static CocoonJson *
next_message(CocoonQmp *qmp, const gchar *command, GError **error)
{
	for (;;) {
		/* memchr(NULL, …, 0) is undefined: an empty GByteArray has no data */
		const guint8 *newline = qmp->input->len > 0
						? memchr(qmp->input->data, '\n', qmp->input->len)
						: NULL;
		g_autoptr(GError) local_error = NULL;
		g_autoptr(CocoonJson) message = NULL;
		gsize length;
		gboolean blank = TRUE;

		if (newline == NULL) {
			if (qmp->input->len > COCOON_QMP_MAX_MESSAGE)
				break;
			return NULL;
		}
		length = newline - qmp->input->data;
		if (length > COCOON_QMP_MAX_MESSAGE)
			break;
		for (gsize i = 0; i < length && blank; i++)
			blank = g_ascii_isspace(qmp->input->data[i]);
		if (!blank)
			message = cocoon_json_parse((const gchar *)qmp->input->data, length,
						    &local_error);
		g_byte_array_remove_range(qmp->input, 0, length + 1);
		if (blank)
			continue;
		if (message == NULL || !cocoon_json_is_object(message)) {
			g_autofree gchar *reason = g_strdup_printf(
				"not a QMP message: %s",
				local_error != NULL ? local_error->message : "not an object");
			mark_broken(qmp, COCOON_QMP_ERROR, COCOON_QMP_ERROR_PROTOCOL, reason);
			set_error(qmp, command, error, COCOON_QMP_ERROR, COCOON_QMP_ERROR_PROTOCOL,
				  "%s", reason);
			return NULL;
		}
		return g_steal_pointer(&message);
	}
	mark_broken(qmp, COCOON_QMP_ERROR, COCOON_QMP_ERROR_PROTOCOL, "message longer than 1 MiB");
	set_error(qmp, command, error, COCOON_QMP_ERROR, COCOON_QMP_ERROR_PROTOCOL,
		  "message longer than %u bytes", COCOON_QMP_MAX_MESSAGE);
	return NULL;
}

static gint
remaining_ms(gint64 deadline)
{
	gint64 left = deadline - g_get_monotonic_time();

	if (left <= 0)
		return 0;
	return (gint)MIN((left + 999) / 1000, G_MAXINT);
}

/* reads until one whole message is buffered; NULL with error on timeout, EOF, errors */
static CocoonJson *
wait_message(CocoonQmp *qmp, const gchar *command, gint64 deadline, guint timeout_ms,
	     GError **error)
{
	for (;;) {
		GError *local_error = NULL;
		CocoonJson *message = next_message(qmp, command, &local_error);
		struct pollfd pfd = {.fd = qmp->fd, .events = POLLIN};
		gint timeout = remaining_ms(deadline);
		gint ready;

		if (message != NULL)
			return message;
		if (local_error != NULL) {
			g_propagate_error(error, local_error);
			return NULL;
		}
		if (qmp->broken != NULL) {
			check_usable(qmp, command, error);
			return NULL;
		}
		if (timeout == 0) {
			set_error(qmp, command, error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				  "no answer within %u ms", timeout_ms);
			return NULL;
		}
		do
			ready = poll(&pfd, 1, timeout);
		while (ready < 0 && errno == EINTR);
		if (ready == 0)
			continue; /* the deadline check above reports it */
		switch (read_available(qmp, &local_error)) {
		case READ_DATA:
		case READ_AGAIN:
			break;
		case READ_EOF:
			mark_broken(qmp, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
				    "the monitor closed the connection");
			break;
		case READ_ERROR:
			mark_broken(qmp, local_error->domain, local_error->code,
				    local_error->message);
			g_error_free(local_error);
			break;
		}
	}
}

static gboolean
write_all(CocoonQmp *qmp, const gchar *command, const gchar *data, gsize length, gint64 deadline,
	  guint timeout_ms, GError **error)
{
	while (length > 0) {
		struct pollfd pfd = {.fd = qmp->fd, .events = POLLOUT};
		ssize_t n = send(qmp->fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
		gint ready;

		if (n > 0) {
			data += n;
			length -= n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			int saved_errno = errno;
			mark_broken(qmp, G_IO_ERROR, g_io_error_from_errno(saved_errno),
				    g_strerror(saved_errno));
			set_error(qmp, command, error, G_IO_ERROR,
				  g_io_error_from_errno(saved_errno), "write: %s",
				  g_strerror(saved_errno));
			return FALSE;
		}
		if (remaining_ms(deadline) == 0) {
			set_error(qmp, command, error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				  "could not send within %u ms", timeout_ms);
			return FALSE;
		}
		do
			ready = poll(&pfd, 1, remaining_ms(deadline));
		while (ready < 0 && errno == EINTR);
	}
	return TRUE;
}

static void
deliver_events(CocoonQmp *qmp)
{
	CocoonJson *message;

	while ((message = g_queue_pop_head(&qmp->events)) != NULL) {
		g_autoptr(CocoonJson) owned = message;
		const gchar *name = cocoon_json_object_get_string_member(owned, "event");

		g_debug("sandbox %s: QMP event %s", qmp->label, name);
		if (qmp->event_func != NULL)
			qmp->event_func(qmp, name, cocoon_json_object_get(owned, "data"),
					qmp->event_data);
	}
}

static gboolean
on_idle(gpointer user_data)
{
	CocoonQmp *qmp = user_data;

	g_clear_pointer(&qmp->idle, g_source_unref);
	deliver_events(qmp);
	return G_SOURCE_REMOVE;
}

static void
schedule_delivery(CocoonQmp *qmp)
{
	if (qmp->context == NULL || qmp->idle != NULL || g_queue_is_empty(&qmp->events))
		return;
	qmp->idle = g_idle_source_new();
	g_source_set_callback(qmp->idle, on_idle, qmp, NULL);
	g_source_attach(qmp->idle, qmp->context);
}

static gboolean
is_event(const CocoonJson *message)
{
	return cocoon_json_object_get_string_member(message, "event") != NULL;
}

/* takes message: an event is queued, anything else outside a command is dropped */
static void
handle_unsolicited(CocoonQmp *qmp, CocoonJson *message)
{
	if (is_event(message)) {
		g_queue_push_tail(&qmp->events, message);
		return;
	}
	g_debug("sandbox %s: QMP: dropping a reply nobody waits for", qmp->label);
	cocoon_json_free(message);
}

/* reads everything available without waiting; complete messages are handled */
static void
drain(CocoonQmp *qmp)
{
	for (;;) {
		g_autoptr(GError) error = NULL;
		CocoonJson *message;
		ReadResult result;

		while ((message = next_message(qmp, "event", &error)) != NULL)
			handle_unsolicited(qmp, message);
		if (qmp->broken != NULL)
			return;
		result = read_available(qmp, &error);
		if (result == READ_AGAIN)
			return;
		if (result == READ_EOF) {
			/* what was buffered before EOF still counts */
			while ((message = next_message(qmp, "event", NULL)) != NULL)
				handle_unsolicited(qmp, message);
			mark_broken(qmp, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
				    "the monitor closed the connection");
			return;
		}
		if (result == READ_ERROR) {
			mark_broken(qmp, error->domain, error->code, error->message);
			return;
		}
	}
}

static gboolean
on_readable(gint fd, GIOCondition condition, gpointer user_data)
{
	CocoonQmp *qmp = user_data;
	gboolean keep;

	drain(qmp);
	/* when the connection ended, mark_broken() destroyed this source already */
	keep = qmp->broken == NULL;
	deliver_events(qmp);
	return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/**
 * cocoon_qmp_execute:
 * @qmp: the connection
 * @command: a QMP command name
 * @arguments: (transfer full) (nullable): its arguments object
 * @timeout_ms: the deadline for sending and for the reply
 *
 * Returns: (transfer full): the "return" value (often an empty object), or %NULL with @error
 */
CocoonJson *
cocoon_qmp_execute(CocoonQmp *qmp, const gchar *command, CocoonJson *arguments, guint timeout_ms,
		   GError **error)
{
	g_autoptr(CocoonJson) owned_arguments = arguments;
	g_autoptr(CocoonJson) request = NULL;
	g_autofree gchar *text = NULL;
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	guint64 id;

	g_return_val_if_fail(qmp != NULL && command != NULL, NULL);
	if (!check_usable(qmp, command, error))
		return NULL;

	id = ++qmp->next_id;
	request = cocoon_json_new_object();
	cocoon_json_object_set_string(request, "execute", command);
	if (owned_arguments != NULL)
		cocoon_json_object_set(request, "arguments", g_steal_pointer(&owned_arguments));
	cocoon_json_object_set(request, "id", cocoon_json_new_uint64(id));
	text = cocoon_json_to_string(request, FALSE);
	g_debug("sandbox %s: QMP -> %s", qmp->label, text);
	{
		g_autofree gchar *line = g_strconcat(text, "\n", NULL);
		if (!write_all(qmp, command, line, strlen(line), deadline, timeout_ms, error))
			return NULL;
	}

	for (;;) {
		g_autoptr(CocoonJson) message =
			wait_message(qmp, command, deadline, timeout_ms, error);
		CocoonJson *reply_id;
		CocoonJson *failure;
		guint64 value;

		if (message == NULL)
			return NULL;
		if (is_event(message)) {
			g_queue_push_tail(&qmp->events, g_steal_pointer(&message));
			schedule_delivery(qmp);
			continue;
		}
		if (!cocoon_json_object_has(message, "return") &&
		    !cocoon_json_object_has(message, "error")) {
			mark_broken(qmp, COCOON_QMP_ERROR, COCOON_QMP_ERROR_PROTOCOL,
				    "unexpected message");
			set_error(qmp, command, error, COCOON_QMP_ERROR, COCOON_QMP_ERROR_PROTOCOL,
				  "unexpected message, neither a reply nor an event");
			return NULL;
		}
		/* QEMU leaves the id out only when it could not parse the request: ours */
		reply_id = cocoon_json_object_get(message, "id");
		if (reply_id != NULL &&
		    (!cocoon_json_get_uint64(reply_id, &value, NULL) || value != id)) {
			g_debug("sandbox %s: QMP: dropping a late reply", qmp->label);
			continue;
		}
		failure = cocoon_json_object_get(message, "error");
		if (failure != NULL) {
			const gchar *klass = cocoon_json_object_get_string_member(failure, "class");
			const gchar *desc = cocoon_json_object_get_string_member(failure, "desc");
			set_error(qmp, command, error, COCOON_QMP_ERROR, COCOON_QMP_ERROR_COMMAND,
				  "%s: %s", klass != NULL ? klass : "Error",
				  desc != NULL ? desc : "(no description)");
			return NULL;
		}
		return cocoon_json_object_steal(message, "return");
	}
}

static gboolean
execute_simple(CocoonQmp *qmp, const gchar *command, guint timeout_ms, GError **error)
{
	g_autoptr(CocoonJson) result = cocoon_qmp_execute(qmp, command, NULL, timeout_ms, error);

	return result != NULL;
}

gboolean
cocoon_qmp_query_status(CocoonQmp *qmp, guint timeout_ms, gchar **ret_status, gboolean *ret_running,
			GError **error)
{
	g_autoptr(CocoonJson) result =
		cocoon_qmp_execute(qmp, "query-status", NULL, timeout_ms, error);
	const gchar *status;
	CocoonJson *running;

	if (result == NULL)
		return FALSE;
	status = cocoon_json_object_get_string_member(result, "status");
	running = cocoon_json_object_get(result, "running");
	if (status == NULL || cocoon_json_get_kind(running) != COCOON_JSON_BOOLEAN) {
		set_error(qmp, "query-status", error, COCOON_QMP_ERROR, COCOON_QMP_ERROR_PROTOCOL,
			  "reply without status or running");
		return FALSE;
	}
	if (ret_status != NULL)
		*ret_status = g_strdup(status);
	if (ret_running != NULL)
		cocoon_json_get_boolean(running, ret_running, NULL);
	return TRUE;
}

gboolean
cocoon_qmp_quit(CocoonQmp *qmp, guint timeout_ms, GError **error)
{
	g_autoptr(GError) local_error = NULL;

	if (execute_simple(qmp, "quit", timeout_ms, &local_error))
		return TRUE;
	/* QEMU may exit before its answer is read */
	if (g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
	    g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
	    g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE))
		return TRUE;
	g_propagate_error(error, g_steal_pointer(&local_error));
	return FALSE;
}

gboolean
cocoon_qmp_system_powerdown(CocoonQmp *qmp, guint timeout_ms, GError **error)
{
	return execute_simple(qmp, "system_powerdown", timeout_ms, error);
}

void
cocoon_qmp_set_event_func(CocoonQmp *qmp, CocoonQmpEventFunc func, gpointer user_data)
{
	g_return_if_fail(qmp != NULL);
	qmp->event_func = func;
	qmp->event_data = user_data;
}

void
cocoon_qmp_attach(CocoonQmp *qmp, GMainContext *context)
{
	g_return_if_fail(qmp != NULL);
	destroy_source(&qmp->watch);
	destroy_source(&qmp->idle);
	g_clear_pointer(&qmp->context, g_main_context_unref);
	qmp->context =
		context != NULL ? g_main_context_ref(context) : g_main_context_ref_thread_default();
	if (qmp->broken == NULL) {
		qmp->watch = g_unix_fd_source_new(qmp->fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
		g_source_set_callback(qmp->watch, G_SOURCE_FUNC(on_readable), qmp, NULL);
		g_source_attach(qmp->watch, qmp->context);
	}
	schedule_delivery(qmp);
}

void
cocoon_qmp_dispatch_pending(CocoonQmp *qmp)
{
	g_return_if_fail(qmp != NULL);
	drain(qmp);
	destroy_source(&qmp->idle);
	deliver_events(qmp);
}

gboolean
cocoon_qmp_is_connected(CocoonQmp *qmp)
{
	return qmp != NULL && qmp->broken == NULL;
}

void
cocoon_qmp_free(CocoonQmp *qmp)
{
	if (qmp == NULL)
		return;
	destroy_source(&qmp->watch);
	destroy_source(&qmp->idle);
	g_clear_pointer(&qmp->context, g_main_context_unref);
	g_queue_clear_full(&qmp->events, (GDestroyNotify)cocoon_json_free);
	cocoon_fd_closep(&qmp->fd);
	g_byte_array_unref(qmp->input);
	g_clear_error(&qmp->broken);
	g_free(qmp->label);
	g_free(qmp);
}

/**
 * cocoon_qmp_new:
 * @fd: a connected stream socket; taken, also on failure
 * @label: the sandbox id, for messages
 * @timeout_ms: deadline for the greeting and qmp_capabilities together
 *
 * Returns: (transfer full): a client in command mode, or %NULL with @error set
 */
CocoonQmp *
cocoon_qmp_new(int fd, const gchar *label, guint timeout_ms, GError **error)
{
	g_autoptr(CocoonQmp) qmp = g_new0(CocoonQmp, 1);
	g_autoptr(CocoonJson) greeting = NULL;
	g_autoptr(CocoonJson) result = NULL;
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	gint flags;

	qmp->fd = fd;
	qmp->label = g_strdup(label != NULL ? label : "?");
	qmp->input = g_byte_array_new();
	g_queue_init(&qmp->events);

	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int saved_errno = errno;
		set_error(qmp, "connect", error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
			  "fcntl: %s", g_strerror(saved_errno));
		return NULL;
	}
	greeting = wait_message(qmp, "greeting", deadline, timeout_ms, error);
	if (greeting == NULL)
		return NULL;
	if (!cocoon_json_is_object(cocoon_json_object_get(greeting, "QMP"))) {
		set_error(qmp, "greeting", error, COCOON_QMP_ERROR, COCOON_QMP_ERROR_PROTOCOL,
			  "the peer did not greet with {\"QMP\": ...}");
		return NULL;
	}
	result = cocoon_qmp_execute(qmp, "qmp_capabilities", NULL, remaining_ms(deadline) + 1,
				    error);
	if (result == NULL)
		return NULL;
	return g_steal_pointer(&qmp);
}

CocoonQmp *
cocoon_qmp_connect(const gchar *path, const gchar *label, guint timeout_ms, GError **error)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	cocoon_autofd int fd = -1;

	if (strlen(path) >= sizeof(address.sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "sandbox %s: QMP connect: socket path longer than %zu bytes: %s", label,
			    sizeof(address.sun_path) - 1, path);
		return NULL;
	}
	strcpy(address.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0) {
		cocoon_set_error_from_errno(error, "sandbox %s: QMP connect to %s", label, path);
		return NULL;
	}
	return cocoon_qmp_new(cocoon_steal_fd(&fd), label, timeout_ms, error);
}
