/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "cocoon-runtime.h"
#include "cocoon-ttrpc-server.h"

G_BEGIN_DECLS

/*
 * containerd.task.v2.Task (and the identical containerd.task.v3.Task) on the main context: each
 * handler decodes and validates the request, answers what needs no sandbox, and queues the rest to
 * the sandbox that owns the container. shutdown_func runs on the main context when Shutdown found
 * no task left, after the reply was sent.
 */
void cocoon_task_service_register(CocoonTtrpcServer *server, CocoonRuntime *runtime,
				  GSourceFunc shutdown_func, gpointer shutdown_data);

G_END_DECLS
