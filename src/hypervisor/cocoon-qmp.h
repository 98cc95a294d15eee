/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

#include "cocoon-json.h"

G_BEGIN_DECLS

/*
 * A client of QEMU's monitor protocol (QMP) over a unix stream socket.
 *
 * One command at a time, synchronous, each with its own deadline; replies are matched by "id",
 * so the late reply of a command that timed out is recognised and dropped. Events (STOP,
 * RESUME, SHUTDOWN, ...) go to the event function on the attached GMainContext: those read
 * while a command waits are queued and delivered from an idle callback, never from inside
 * cocoon_qmp_execute().
 *
 * Threading: one owner thread makes every call and iterates the attached context.
 * Errors: COCOON_QMP_ERROR_COMMAND for QEMU's error replies ("Class: description"),
 * COCOON_QMP_ERROR_PROTOCOL for anything that is not QMP (after which the connection is
 * unusable), G_IO_ERROR_TIMED_OUT, G_IO_ERROR_CONNECTION_CLOSED, other G_IO_ERRORs from errno.
 * Messages start with "sandbox <label>: QMP <command>: ".
 */
typedef struct _CocoonQmp CocoonQmp;

#define COCOON_QMP_ERROR cocoon_qmp_error_quark()
typedef enum {
	COCOON_QMP_ERROR_COMMAND,
	COCOON_QMP_ERROR_PROTOCOL,
} CocoonQmpError;

GQuark cocoon_qmp_error_quark(void);

/* a longer line from QEMU is a protocol error */
#define COCOON_QMP_MAX_MESSAGE (1024 * 1024)

/* event: its name; data: its "data" member or NULL; both borrowed for the call */
typedef void (*CocoonQmpEventFunc)(CocoonQmp *qmp, const gchar *event, CocoonJson *data,
				   gpointer user_data);

/* takes fd (a connected stream socket); reads the greeting and negotiates capabilities */
CocoonQmp *cocoon_qmp_new(int fd, const gchar *label, guint timeout_ms, GError **error);
/*
 * one connection attempt to a unix socket, then the handshake; when nobody listens (yet) the
 * error is G_IO_ERROR_NOT_FOUND or G_IO_ERROR_CONNECTION_REFUSED
 */
CocoonQmp *cocoon_qmp_connect(const gchar *path, const gchar *label, guint timeout_ms,
			      GError **error);

void cocoon_qmp_set_event_func(CocoonQmp *qmp, CocoonQmpEventFunc func, gpointer user_data);
/* deliver events on context (NULL: the thread-default one); queued events follow */
void cocoon_qmp_attach(CocoonQmp *qmp, GMainContext *context);
/* reads what is already buffered without waiting and delivers its events now */
void cocoon_qmp_dispatch_pending(CocoonQmp *qmp);

/* sends {"execute": command, "arguments": arguments (taken, may be NULL), "id": N}; returns the
 * "return" value */
CocoonJson *cocoon_qmp_execute(CocoonQmp *qmp, const gchar *command, CocoonJson *arguments,
			       guint timeout_ms, GError **error);

/* "running", "paused", "shutdown", "internal-error", ... and whether the vCPUs run */
gboolean cocoon_qmp_query_status(CocoonQmp *qmp, guint timeout_ms, gchar **ret_status,
				 gboolean *ret_running, GError **error);
/* QEMU exits right after answering; a connection closed before the answer counts as done */
gboolean cocoon_qmp_quit(CocoonQmp *qmp, guint timeout_ms, GError **error);
gboolean cocoon_qmp_system_powerdown(CocoonQmp *qmp, guint timeout_ms, GError **error);

/* FALSE after EOF or a protocol error */
gboolean cocoon_qmp_is_connected(CocoonQmp *qmp);
void cocoon_qmp_free(CocoonQmp *qmp);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonQmp, cocoon_qmp_free)

G_END_DECLS
