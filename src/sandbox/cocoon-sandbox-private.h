/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "cocoon-sandbox.h"

#include "agent.pb-c.h"
#include "cocoon-sandbox-info.h"
#include "cocoon-share.h"
#include "cocoon-stdio.h"
#include "cocoon-agent-client.h"
#include "cocoon-ttrpc-client.h"
#include "shim.pb-c.h"

G_BEGIN_DECLS

typedef struct _CocoonContainer CocoonContainer;

typedef struct {
	CocoonContainer *container; /* weak: the container owns its processes */
	gchar *exec_id;		    /* "" for the init process */
	Containerd__V1__Types__Status status;
	guint32 pid;
	guint32 exit_status;
	gint64 exited_at_us; /* wall clock, 0 until it exited */
	gboolean terminal;
	gchar *stdin_path;
	gchar *stdout_path;
	gchar *stderr_path;
	CocoonStdio stdio;
	guint32 stream_stdin;
	guint32 stream_stdout;
	guint32 stream_stderr;
	gboolean stdin_closed;
	GBytes *process_json;	/* exec: the OCI process spec, sent to the agent at Start */
	GPtrArray *waiters;	/* CocoonTtrpcCall waiting for the exit */
	gboolean exiting;	/* the guest reported the exit; delivering its output */
	gboolean exit_deferred; /* init: exited, reported once the execs are gone */
	guint32 deferred_status;
	gint64 deferred_at_us;
} CocoonProcess;

struct _CocoonContainer {
	CocoonSandbox *sandbox; /* weak */
	gchar *id;
	gchar *bundle;
	gchar *container_type;
	CocoonProcess *init;
	GHashTable *execs;	     /* exec id → CocoonProcess */
	gchar *host_rootfs;	     /* <bundle>/rootfs when we mounted it, else NULL */
	CocoonShareArea *share_area; /* <share>/<id>: its rootfs and volumes, by fd */
	gboolean created_in_guest;
};

/* the VM side, implemented in cocoon-sandbox-vm.c; all on the worker */
gboolean cocoon_sandbox_vm_ensure(CocoonSandbox *sandbox, GError **error);
void cocoon_sandbox_vm_stop(CocoonSandbox *sandbox);
/* the guest stopped answering: no Shutdown request, QEMU is quit or killed at once */
void cocoon_sandbox_vm_abort(CocoonSandbox *sandbox);
/* the VM part of a snapshot */
void cocoon_sandbox_vm_fill_info(CocoonSandbox *sandbox, CocoonSandboxInfo *info);
/* the VM side tells the sandbox the agent just answered for the first time */
void cocoon_sandbox_vm_booted(CocoonSandbox *sandbox);
gboolean cocoon_sandbox_vm_is_running(CocoonSandbox *sandbox);
const gchar *cocoon_sandbox_get_state_dir(CocoonSandbox *sandbox);
const gchar *cocoon_sandbox_get_shared_dir(CocoonSandbox *sandbox);
CocoonAgentClient *cocoon_sandbox_get_agent(CocoonSandbox *sandbox);
CocoonRuntime *cocoon_sandbox_get_runtime(CocoonSandbox *sandbox);
/* the pod's configuration (annotations applied at the first Create), else the runtime's */
CocoonConfig *cocoon_sandbox_get_config(CocoonSandbox *sandbox);
GMainContext *cocoon_sandbox_get_context(CocoonSandbox *sandbox);

/* stdio: attach a process's host fds to the mux before the guest creates it */
gboolean cocoon_sandbox_stdio_attach(CocoonSandbox *sandbox, CocoonProcess *process,
				     GError **error);
void cocoon_sandbox_stdio_close_stdin(CocoonSandbox *sandbox, CocoonProcess *process);
/*
 * blocks (any thread) until those output streams delivered offsets[i] bytes to their destination
 * (offsets NULL: until their EOF and last byte), or nothing moved for idle_us, or the deadline
 */
gboolean cocoon_sandbox_stdio_drain(CocoonSandbox *sandbox, const guint32 *streams,
				    const guint64 *offsets, guint n_streams, gint64 idle_us,
				    gint64 deadline_us);
void cocoon_sandbox_stdio_detach(CocoonSandbox *sandbox, CocoonProcess *process);

G_END_DECLS
