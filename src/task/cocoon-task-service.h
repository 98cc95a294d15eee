/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "cocoon-runtime.h"
#include "cocoon-ttrpc-server.h"

G_BEGIN_DECLS

/*
 * containerd.task.v2.Task (and the identical containerd.task.v3.Task) on the main context: each
 * handler decodes and validates the request, answers what needs no sandbox, and queues the rest to
 * the sandbox that owns the container. The methods and request types come from the service
 * descriptor of proto/shim.proto, the handlers from a table by method name; a method without a
 * handler answers UNIMPLEMENTED naming it. shutdown_func runs on the main context when Shutdown
 * found no task left, after the reply was sent.
 */
void cocoon_task_service_register(CocoonTtrpcServer *server, CocoonRuntime *runtime,
				  GSourceFunc shutdown_func, gpointer shutdown_data);

typedef enum {
	COCOON_TASK_METHOD_MISSING,
	COCOON_TASK_METHOD_HANDLED,
	COCOON_TASK_METHOD_UNIMPLEMENTED,
} CocoonTaskMethodStatus;

/* how a method of the service is answered (tests) */
CocoonTaskMethodStatus cocoon_task_service_method_status(const gchar *method);
/* FALSE, naming them, for descriptor methods without a row and rows naming no method */
gboolean cocoon_task_service_check(GError **error);

G_END_DECLS
