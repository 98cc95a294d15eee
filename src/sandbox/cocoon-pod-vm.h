/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-agent-client.h"
#include "cocoon-config.h"
#include "cocoon-sandbox-info.h"
#include "cocoon-stdio.h"
#include "cocoon-vm-config.h"

G_BEGIN_DECLS

/*
 * A pod's VM: QEMU, the agent client, the stdio mux and the pod's network (src/network does the
 * network work, see docs/networking.md). Owned and driven by the sandbox worker, on the worker's
 * GMainContext; the stdio drain alone may be called from any thread. It knows nothing of
 * containers or processes: what happens to them is the caller's, through the callbacks.
 *
 * The network: the first container's network namespace is opened (or made, when the spec asks for
 * a new one) and wired before the VM boots (cocoon_pod_vm_network_create(), every Create; host
 * networking is refused). The VM boots with a NIC per tap and QEMU inside the namespace; once the
 * agent answers, SetupNetwork configures the guest. Start (every container): interfaces that
 * appeared since (ctr run --cni runs CNI between Create and Start) are wired to the spare NIC and
 * configured the same way (cocoon_pod_vm_network_sync()). After the VM stopped: the filters,
 * qdiscs and taps go. Namespace work blocks the worker for bounded time.
 *
 * A NULL CocoonPodVm is a pod before its first Create: not running, no agent, no streams; every
 * function below but cocoon_pod_vm_ensure() and the network ones takes it.
 */
typedef struct _CocoonPodVm CocoonPodVm;

/* called on the worker's context; user_data is borrowed and outlives the VM */
typedef struct {
	/* the agent just answered for the first time */
	void (*booted)(gpointer user_data);
	/* QEMU died behind our back (not while it was being stopped) */
	void (*died)(gpointer user_data);
	gpointer user_data;
} CocoonPodVmCallbacks;

/*
 * config: the pod's configuration (borrowed, outlives the VM); context: the worker's, where QEMU's
 * death is reported; main_context: where the boot watch runs while the worker waits for the boot
 */
CocoonPodVm *cocoon_pod_vm_new(CocoonConfig *config, const gchar *sandbox_id,
			       const gchar *state_dir, const gchar *shared_dir,
			       GMainContext *context, GMainContext *main_context,
			       const CocoonPodVmCallbacks *callbacks);
void cocoon_pod_vm_free(CocoonPodVm *vm);

/* boots the VM unless it runs: QEMU, the agent's first answer, the stdio mux, the guest's network
 */
gboolean cocoon_pod_vm_ensure(CocoonPodVm *vm, GError **error);
/* the VM a pod of config boots (without its network); `cocoonctl check` boots the same */
CocoonVmConfig *cocoon_pod_vm_config_new(const CocoonConfig *config, const gchar *sandbox_id,
					 const gchar *state_dir, const gchar *shared_dir);
gboolean cocoon_pod_vm_is_running(CocoonPodVm *vm);
void cocoon_pod_vm_stop(CocoonPodVm *vm);
/* the guest stopped answering: no Shutdown request, QEMU is quit or killed at once */
void cocoon_pod_vm_abort(CocoonPodVm *vm);
/* NULL while no VM runs */
CocoonAgentClient *cocoon_pod_vm_get_agent(CocoonPodVm *vm);
/* tests: a VM without QEMU that uses this connected agent (a reference is taken) */
void cocoon_pod_vm_set_agent(CocoonPodVm *vm, CocoonAgentClient *agent);
/* the VM part of a snapshot */
void cocoon_pod_vm_fill_info(CocoonPodVm *vm, CocoonSandboxInfo *info);

/* every Create, before the VM boots: the pod's network from the spec's network namespace */
gboolean cocoon_pod_vm_network_create(CocoonPodVm *vm, const gchar *spec_json, gsize spec_length,
				      GError **error);
/* every Start: wires and announces the interfaces that appeared since */
/*
 * the host cgroup its QEMU and virtiofsd join at the next boot (the sandbox container's
 * linux.cgroupsPath; NULL: none); see cocoon-host-cgroup.h
 */
void cocoon_pod_vm_set_host_cgroup(CocoonPodVm *vm, const gchar *cgroups_path);
gboolean cocoon_pod_vm_network_sync(CocoonPodVm *vm, GError **error);
/*
 * the task pid containerd records (Connect): QEMU's while it runs, so /proc/<pid>/ns/net is the
 * pod's network namespace for ctr run --cni and the like; else guest_pid
 */
guint32 cocoon_pod_vm_task_pid(CocoonPodVm *vm, guint32 guest_pid);

/*
 * stdio: a process's host fds (taken from stdio) join the mux before the guest creates the
 * process; each stream id is written as its stream is added
 */
gboolean cocoon_pod_vm_stdio_attach(CocoonPodVm *vm, CocoonStdio *stdio, gboolean terminal,
				    guint32 *stream_stdin, guint32 *stream_stdout,
				    guint32 *stream_stderr, GError **error);
/*
 * blocks (any thread) until those output streams delivered offsets[i] bytes to their destination
 * (offsets NULL: until their EOF and last byte), or nothing moved for idle_us, or the deadline
 */
gboolean cocoon_pod_vm_stdio_drain(CocoonPodVm *vm, const guint32 *streams, const guint64 *offsets,
				   guint n_streams, gint64 idle_us, gint64 deadline_us);
/* the streams leave the mux (their ids are zeroed) */
void cocoon_pod_vm_stdio_detach(CocoonPodVm *vm, guint32 *stream_stdin, guint32 *stream_stdout,
				guint32 *stream_stderr);

G_END_DECLS
