/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "cocoon-sandbox.h"

#include "agent.pb-c.h"
#include "cocoon-agent-client.h"
#include "cocoon-metrics.h"
#include "cocoon-pod-vm.h"
#include "cocoon-sandbox-info.h"
#include "cocoon-share.h"
#include "cocoon-stdio.h"
#include "cocoon-ttrpc-client.h"
#include "google/protobuf/timestamp.pb-c.h"
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

/*
 * A pod: what the worker (cocoon-sandbox.c), the Task handlers (cocoon-sandbox-task*.c), the
 * process model (cocoon-process.c) and the snapshots (cocoon-sandbox-snapshot.c) share.
 */
struct _CocoonSandbox {
	CocoonRuntime *runtime;
	gchar *id;
	gchar *state_dir;
	gchar *shared_dir;
	/* the first container's linux.cgroupsPath: the VM's host cgroup (cocoon-host-cgroup.h) */
	gchar *host_cgroup_path;
	CocoonShare *share; /* opened at the first Create, before the guest can write in it */
	GThread *thread;
	GMainContext *context;
	GMainLoop *loop;
	/*
	 * State is answered on the main context, not queued to the worker: the worker takes
	 * state_lock around every change of what State reads (the containers and execs tables,
	 * a process's status, pid and exit), the main context around its reads. Never held while
	 * waiting on anything.
	 */
	GMutex state_lock;
	/* worker-owned from here on (written under state_lock where State reads it) */
	GHashTable *containers; /* id → CocoonContainer */
	CocoonPodVm *vm;	/* made with the pod's config at the first Create; NULL before */
	CocoonCgroupMode cgroup_mode;
	CocoonConfig *config; /* the runtime's + the first container's annotations; NULL before */
};

static inline gboolean
is_init(const gchar *exec_id)
{
	return exec_id == NULL || exec_id[0] == '\0';
}

static inline void
return_error(CocoonTtrpcCall *call, const GError *error)
{
	g_message("%s: %s", cocoon_ttrpc_call_get_method(call), error->message);
	cocoon_ttrpc_call_return_gerror(call, error);
}

/* finish a call that answers Empty: success, or the error that stopped it */
static inline void
return_empty(CocoonTtrpcCall *call, const GError *error)
{
	if (error != NULL)
		return_error(call, error);
	else
		cocoon_ttrpc_call_return_message(call, NULL);
}

static inline void
fill_timestamp(Google__Protobuf__Timestamp *ts, gint64 wall_us)
{
	google__protobuf__timestamp__init(ts);
	ts->seconds = wall_us / G_USEC_PER_SEC;
	ts->nanos = (gint32)(wall_us % G_USEC_PER_SEC) * 1000;
}

static inline void
publish(CocoonSandbox *sandbox, const gchar *topic, const gchar *type_url,
	const ProtobufCMessage *event)
{
	cocoon_event_bus_publish(cocoon_runtime_get_event_bus(sandbox->runtime), sandbox->id, topic,
				 type_url, event);
}

/* the agent client, or an UNAVAILABLE error naming the sandbox when no VM runs */
static inline CocoonAgentClient *
sandbox_agent(CocoonSandbox *sandbox, const gchar *method, GError **error)
{
	CocoonAgentClient *agent = cocoon_pod_vm_get_agent(sandbox->vm);
	if (agent == NULL)
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
			    "sandbox %s: agent %s: the VM is not running: unavailable", sandbox->id,
			    method);
	return agent;
}

#define AGENT_CALL(sandbox, method, func, request, error)                                          \
	({                                                                                         \
		CocoonAgentClient *agent_ = sandbox_agent(sandbox, method, error);                 \
		agent_ != NULL ? func(agent_, request, COCOON_AGENT_TIMEOUT_DEFAULT, NULL, error)  \
			       : 0;                                                                \
	})

/* the pod's configuration (annotations applied at the first Create), else the runtime's */
static inline CocoonConfig *
cocoon_sandbox_get_config(CocoonSandbox *sandbox)
{
	return sandbox->config != NULL ? sandbox->config
				       : cocoon_runtime_get_config(sandbox->runtime);
}

G_END_DECLS
