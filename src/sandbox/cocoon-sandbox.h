/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <protobuf-c/protobuf-c.h>

#include "cocoon-runtime.h"
#include "cocoon-ttrpc-server.h"

G_BEGIN_DECLS

/*
 * A pod: one VM, its agent connection, its stdio mux and its containers. Everything about it runs
 * on its own worker thread, in order, on the worker's GMainContext; other threads only queue work
 * with cocoon_sandbox_queue(). Calls into QEMU or the agent block only this worker.
 */

/* a task request executed on the worker; it owns call and request */
typedef void (*CocoonSandboxTaskFunc)(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
				      ProtobufCMessage *request);

CocoonSandbox *cocoon_sandbox_new(CocoonRuntime *runtime, const gchar *id);
CocoonSandbox *cocoon_sandbox_ref(CocoonSandbox *sandbox);
void cocoon_sandbox_unref(CocoonSandbox *sandbox);
const gchar *cocoon_sandbox_get_id(CocoonSandbox *sandbox);

/* thread-safe: run func on the worker; request is freed with protobuf_c_message_free_unpacked */
void cocoon_sandbox_queue(CocoonSandbox *sandbox, CocoonSandboxTaskFunc func, CocoonTtrpcCall *call,
			  ProtobufCMessage *request);
/* blocks until the worker stopped the VM and exited (daemon shutdown) */
void cocoon_sandbox_stop(CocoonSandbox *sandbox);

/* the Task API on the worker; each matches containerd.task.v2.Task */
void cocoon_sandbox_task_create(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
				ProtobufCMessage *request);
void cocoon_sandbox_task_start(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			       ProtobufCMessage *request);
/* State is the exception: any thread (the task service answers it on the main context) */
void cocoon_sandbox_task_state(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			       ProtobufCMessage *request);
void cocoon_sandbox_task_delete(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
				ProtobufCMessage *request);
void cocoon_sandbox_task_pids(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			      ProtobufCMessage *request);
void cocoon_sandbox_task_pause(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			       ProtobufCMessage *request);
void cocoon_sandbox_task_resume(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
				ProtobufCMessage *request);
void cocoon_sandbox_task_kill(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			      ProtobufCMessage *request);
void cocoon_sandbox_task_exec(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			      ProtobufCMessage *request);
void cocoon_sandbox_task_resize_pty(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
				    ProtobufCMessage *request);
void cocoon_sandbox_task_close_io(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
				  ProtobufCMessage *request);
void cocoon_sandbox_task_update(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
				ProtobufCMessage *request);
void cocoon_sandbox_task_wait(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			      ProtobufCMessage *request);
void cocoon_sandbox_task_stats(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			       ProtobufCMessage *request);
void cocoon_sandbox_task_connect(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
				 ProtobufCMessage *request);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonSandbox, cocoon_sandbox_unref)

G_END_DECLS
