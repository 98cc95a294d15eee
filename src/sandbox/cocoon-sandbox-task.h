/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "cocoon-sandbox-private.h"

G_BEGIN_DECLS

/*
 * The Task handlers (declared in cocoon-sandbox.h) live in cocoon-sandbox-task.c (the lifecycle:
 * Create, Start, State, Delete, Kill, Exec, Wait, Connect; the pod's VM and its guest events) and
 * cocoon-sandbox-task-control.c (Pids, Pause, Resume, ResizePty, CloseIO, Update, Stats).
 */

/* on the worker: the container leaves the guest, its stdio the mux, its rootfs the share */
void cocoon_container_teardown(CocoonSandbox *sandbox, CocoonContainer *container);

/* on the worker: the pod's VM, made once, with the pod's configuration (set before) */
void cocoon_sandbox_ensure_pod_vm(CocoonSandbox *sandbox);

G_END_DECLS
