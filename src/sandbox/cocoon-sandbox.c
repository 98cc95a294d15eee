/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-sandbox.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-json.h"
#include "cocoon-metrics.h"
#include "cocoon-rootfs.h"
#include "cocoon-sandbox-network.h"
#include "cocoon-sandbox-private.h"
#include "cocoon-spec-bounds.h"
#include "cocoon-spec-mounts.h"
#include "cocoon-shim-util.h"
#include "containerd-task-types.pb-c.h"
#include "runc-options.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "task-events.pb-c.h"

/*
 * an exit is reported once the process's own output reached containerd (up to the offsets the
 * guest gave): given up after this long without a byte moving (containerd does not read, or the
 * guest claimed more than it sends), and after this long in any case
 */
#define EXIT_DRAIN_IDLE_US    (2 * G_USEC_PER_SEC)
#define EXIT_DRAIN_TIMEOUT_US (30 * G_USEC_PER_SEC)
#define EXEC_PROCESS_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/Process"

struct _CocoonSandbox {
	gint ref_count;
	CocoonRuntime *runtime;
	gchar *id;
	gchar *state_dir;
	gchar *shared_dir;
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
	gpointer vm;		/* cocoon-sandbox-vm.c's state */
	gpointer network;	/* cocoon-sandbox-network.c's state */
	CocoonCgroupMode cgroup_mode;
	CocoonConfig *config; /* the runtime's + the first container's annotations; NULL before */
};

typedef struct {
	CocoonSandbox *sandbox;
	CocoonSandboxTaskFunc func;
	CocoonTtrpcCall *call;
	ProtobufCMessage *request;
} TaskWork;

/* ---------------------------------------------------------------- helpers */

static void
return_error(CocoonTtrpcCall *call, const GError *error)
{
	g_message("%s: %s", cocoon_ttrpc_call_get_method(call), error->message);
	cocoon_ttrpc_call_return_gerror(call, error);
}

/* finish a call that answers Empty: success, or the error that stopped it */
static void
return_empty(CocoonTtrpcCall *call, const GError *error)
{
	if (error != NULL)
		return_error(call, error);
	else
		cocoon_ttrpc_call_return_message(call, NULL);
}

static void
fill_timestamp(Google__Protobuf__Timestamp *ts, gint64 wall_us)
{
	google__protobuf__timestamp__init(ts);
	ts->seconds = wall_us / G_USEC_PER_SEC;
	ts->nanos = (gint32)(wall_us % G_USEC_PER_SEC) * 1000;
}

static void
publish(CocoonSandbox *sandbox, const gchar *topic, const gchar *type_url,
	const ProtobufCMessage *event)
{
	cocoon_event_bus_publish(cocoon_runtime_get_event_bus(sandbox->runtime), sandbox->id, topic,
				 type_url, event);
}

static gboolean
is_init(const gchar *exec_id)
{
	return exec_id == NULL || exec_id[0] == '\0';
}

static void process_answer_waiters(CocoonProcess *process);
static void sandbox_notify(CocoonSandbox *sandbox);

static void
process_free(CocoonProcess *process)
{
	if (process == NULL)
		return;
	if (process->waiters != NULL) {
		/* nobody may hang: whoever still waits gets what was recorded */
		process_answer_waiters(process);
		g_ptr_array_free(process->waiters, TRUE);
	}
	cocoon_stdio_clear(&process->stdio);
	g_free(process->exec_id);
	g_free(process->stdin_path);
	g_free(process->stdout_path);
	g_free(process->stderr_path);
	if (process->process_json != NULL)
		g_bytes_unref(process->process_json);
	g_free(process);
}

static CocoonProcess *
process_new(CocoonContainer *container, const gchar *exec_id, gboolean terminal,
	    const gchar *stdin_path, const gchar *stdout_path, const gchar *stderr_path)
{
	CocoonProcess *process = g_new0(CocoonProcess, 1);
	CocoonStdio init = COCOON_STDIO_INIT;
	process->container = container;
	process->exec_id = g_strdup(exec_id != NULL ? exec_id : "");
	process->status = CONTAINERD__V1__TYPES__STATUS__CREATED;
	process->terminal = terminal;
	process->stdin_path = g_strdup(stdin_path);
	process->stdout_path = g_strdup(stdout_path);
	process->stderr_path = g_strdup(stderr_path);
	process->stdio = init;
	process->waiters = g_ptr_array_new();
	return process;
}

static void
container_free(CocoonContainer *container)
{
	if (container == NULL)
		return;
	g_hash_table_unref(container->execs);
	cocoon_share_area_free(container->share_area);
	process_free(container->init);
	g_free(container->id);
	g_free(container->bundle);
	g_free(container->container_type);
	g_free(container->host_rootfs);
	g_free(container);
}

static CocoonContainer *
lookup_container(CocoonSandbox *sandbox, const gchar *id, GError **error)
{
	CocoonContainer *container = g_hash_table_lookup(sandbox->containers, id);
	if (container == NULL)
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_NOT_FOUND,
			    "container %s does not exist: not found", id);
	return container;
}

static CocoonProcess *
lookup_process(CocoonSandbox *sandbox, const gchar *id, const gchar *exec_id, GError **error)
{
	CocoonContainer *container = lookup_container(sandbox, id, error);
	CocoonProcess *process;
	if (container == NULL)
		return NULL;
	if (is_init(exec_id)) {
		if (container->init == NULL)
			g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
				    "container %s is not created yet: failed precondition", id);
		return container->init;
	}
	process = g_hash_table_lookup(container->execs, exec_id);
	if (process == NULL)
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_NOT_FOUND,
			    "process does not exist %s in container %s: not found", exec_id, id);
	return process;
}

/* the agent client, or an UNAVAILABLE error naming the sandbox when no VM runs */
static CocoonAgentClient *
sandbox_agent(CocoonSandbox *sandbox, const gchar *method, GError **error)
{
	CocoonAgentClient *agent = cocoon_sandbox_get_agent(sandbox);
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

/* ---------------------------------------------------------------- exits */

static void
process_answer_waiters(CocoonProcess *process)
{
	Containerd__Task__V2__WaitResponse response = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts;

	fill_timestamp(&ts, process->exited_at_us);
	response.exit_status = process->exit_status;
	response.exited_at = &ts;
	for (guint i = 0; i < process->waiters->len; i++)
		cocoon_ttrpc_call_return_message(process->waiters->pdata[i],
						 (ProtobufCMessage *)&response);
	g_ptr_array_set_size(process->waiters, 0);
}

/* on the worker: the exit is final once the output was drained */
static gboolean
container_has_live_execs(CocoonContainer *container)
{
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, container->execs);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		CocoonProcess *exec = value;
		if (exec->status == CONTAINERD__V1__TYPES__STATUS__RUNNING ||
		    exec->status == CONTAINERD__V1__TYPES__STATUS__PAUSED || exec->exiting)
			return TRUE;
	}
	return FALSE;
}

/* the pod's sandbox (pause) container exited: the pod ends, every other container is killed */
static void
sandbox_end_pod(CocoonSandbox *sandbox, CocoonContainer *sandbox_container)
{
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, sandbox->containers);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		CocoonContainer *container = value;
		Cocoon__Agent__V1__SignalProcessRequest request =
			COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
		g_autoptr(GError) error = NULL;

		if (container == sandbox_container || container->init == NULL ||
		    (container->init->status != CONTAINERD__V1__TYPES__STATUS__RUNNING &&
		     container->init->status != CONTAINERD__V1__TYPES__STATUS__PAUSED))
			continue;
		g_message("sandbox %s: pod sandbox container %s exited, killing %s", sandbox->id,
			  sandbox_container->id, container->id);
		request.container_id = container->id;
		request.exec_id = (gchar *)"";
		request.signal = SIGKILL;
		request.all = TRUE;
		if (!AGENT_CALL(sandbox, "SignalProcess", cocoon_agent_client_signal_process,
				&request, &error))
			g_warning("%s", error->message);
	}
}

static void
process_exited(CocoonSandbox *sandbox, CocoonProcess *process, guint32 status, gint64 at_us)
{
	Containerd__Events__TaskExit event = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	Google__Protobuf__Timestamp ts;
	CocoonContainer *container = process->container;

	/* like runc: a container's init exit is reported after every exec of it has exited */
	if (is_init(process->exec_id) && container_has_live_execs(container)) {
		if (!process->exit_deferred)
			g_debug("container %s: init exited, its exit waits for the execs",
				container->id);
		process->exit_deferred = TRUE;
		process->deferred_status = status;
		process->deferred_at_us = at_us;
		return;
	}
	process->exit_deferred = FALSE;
	g_mutex_lock(&sandbox->state_lock);
	process->status = CONTAINERD__V1__TYPES__STATUS__STOPPED;
	process->exit_status = status;
	process->exited_at_us = at_us;
	g_mutex_unlock(&sandbox->state_lock);
	process->exiting = FALSE;
	g_info("container %s process %s exited with %u", container->id,
	       is_init(process->exec_id) ? "init" : process->exec_id, status);
	fill_timestamp(&ts, at_us);
	event.container_id = container->id;
	event.id = is_init(process->exec_id) ? container->id : process->exec_id;
	event.pid = process->pid;
	event.exit_status = status;
	event.exited_at = &ts;
	publish(sandbox, "/tasks/exit", "containerd.events.TaskExit", (ProtobufCMessage *)&event);
	process_answer_waiters(process);
	if (is_init(process->exec_id) && g_strcmp0(container->container_type, "sandbox") == 0)
		sandbox_end_pod(sandbox, container);
	else if (!is_init(process->exec_id) && container->init != NULL &&
		 container->init->exit_deferred && !container_has_live_execs(container))
		process_exited(sandbox, container->init, container->init->deferred_status,
			       container->init->deferred_at_us);
}

typedef struct {
	CocoonSandbox *sandbox;
	gchar *container_id;
	gchar *exec_id;
	guint32 exit_status;
	gint64 exited_at_us;
	guint32 streams[2];
	/* where the process's output ends in each stream; without them, at EOF */
	gboolean has_offsets;
	guint64 offsets[2];
} ExitWork;

static void
exit_work_free(ExitWork *work)
{
	cocoon_sandbox_unref(work->sandbox);
	g_free(work->container_id);
	g_free(work->exec_id);
	g_free(work);
}

static gboolean
exit_finish_on_worker(gpointer data)
{
	ExitWork *work = data;
	CocoonContainer *container =
		g_hash_table_lookup(work->sandbox->containers, work->container_id);
	CocoonProcess *process = NULL;

	if (container != NULL)
		process = is_init(work->exec_id)
				  ? container->init
				  : g_hash_table_lookup(container->execs, work->exec_id);
	if (process != NULL && process->status != CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		process_exited(work->sandbox, process, work->exit_status, work->exited_at_us);
		sandbox_notify(work->sandbox);
	}
	return G_SOURCE_REMOVE;
}

/*
 * a pool thread: wait until the output the process wrote reached containerd (not for EOF: a
 * descendant may keep the stream open; its later output still flows until Delete), then report
 * the exit on the worker
 */
static void
exit_drain_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
	ExitWork *work = g_task_get_task_data(task);
	gint64 start = g_get_monotonic_time();

	if (!cocoon_sandbox_stdio_drain(
		    work->sandbox, work->streams, work->has_offsets ? work->offsets : NULL,
		    G_N_ELEMENTS(work->streams), EXIT_DRAIN_IDLE_US, start + EXIT_DRAIN_TIMEOUT_US))
		g_warning("container %s: output of %s not delivered %" G_GINT64_FORMAT
			  " ms after the exit (stdout to %" G_GUINT64_FORMAT
			  ", stderr to %" G_GUINT64_FORMAT "%s); reporting the exit",
			  work->container_id, is_init(work->exec_id) ? "init" : work->exec_id,
			  (g_get_monotonic_time() - start) / 1000, work->offsets[0],
			  work->offsets[1], work->has_offsets ? "" : ", no offsets: to EOF");
	g_task_set_task_data(task, NULL, NULL);
	g_main_context_invoke_full(work->sandbox->context, G_PRIORITY_DEFAULT,
				   exit_finish_on_worker, work, (GDestroyNotify)exit_work_free);
	g_task_return_boolean(task, TRUE);
}

/* offsets: where the guest says the output ends (stdout, stderr), NULL for EOF */
static void
process_exit_reported(CocoonSandbox *sandbox, CocoonProcess *process, guint32 status, gint64 at_us,
		      const guint64 *offsets)
{
	g_autoptr(GTask) task = NULL;
	ExitWork *work;

	if (process->exiting || process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED)
		return;
	process->exiting = TRUE;
	work = g_new0(ExitWork, 1);
	work->sandbox = cocoon_sandbox_ref(sandbox);
	work->container_id = g_strdup(process->container->id);
	work->exec_id = g_strdup(process->exec_id);
	work->exit_status = status;
	work->exited_at_us = at_us;
	work->streams[0] = process->stream_stdout;
	work->streams[1] = process->stream_stderr;
	if (offsets != NULL) {
		work->has_offsets = TRUE;
		work->offsets[0] = offsets[0];
		work->offsets[1] = offsets[1];
	}
	task = g_task_new(NULL, NULL, NULL, NULL);
	g_task_set_task_data(task, work, NULL);
	g_task_run_in_thread(task, exit_drain_thread);
}

typedef struct {
	CocoonSandbox *sandbox;
	CocoonAgentClient *agent;
	gchar *container_id;
	gchar *exec_id;
} WaitWork;

static void
agent_wait_done(GObject *source, GAsyncResult *result, gpointer data)
{
	WaitWork *work = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Cocoon__Agent__V1__WaitProcessResponse) response =
		cocoon_agent_client_wait_process_finish(work->agent, result, &error);
	CocoonContainer *container =
		g_hash_table_lookup(work->sandbox->containers, work->container_id);
	CocoonProcess *process = NULL;
	guint32 status = 255;
	gint64 at_us = g_get_real_time();
	guint64 offsets[2] = {0, 0};
	gboolean has_offsets = FALSE;

	if (container != NULL)
		process = is_init(work->exec_id)
				  ? container->init
				  : g_hash_table_lookup(container->execs, work->exec_id);
	if (response != NULL) {
		/*
		 * the guest's wall clock comes from the emulated RTC to the second and lags the
		 * host's: the exit time is taken here, milliseconds after the guest reaped it
		 */
		status = response->exit_status;
		/* the guest's word: the drain bounds what a wrong one costs */
		has_offsets = response->output_offsets;
		offsets[0] = response->stdout_offset;
		offsets[1] = response->stderr_offset;
	} else {
		/* the agent or the VM is gone: the process is, too */
		g_warning("sandbox %s: waiting for %s %s failed: %s; reporting exit 255",
			  work->sandbox->id, work->container_id, work->exec_id, error->message);
	}
	if (process != NULL)
		process_exit_reported(work->sandbox, process, status, at_us,
				      has_offsets ? offsets : NULL);
	cocoon_agent_client_unref(work->agent);
	cocoon_sandbox_unref(work->sandbox);
	g_free(work->container_id);
	g_free(work->exec_id);
	g_free(work);
}

/* on the worker, after a successful start: a long poll for the exit, answered on the worker */
static void
process_watch_exit(CocoonSandbox *sandbox, CocoonProcess *process)
{
	Cocoon__Agent__V1__WaitProcessRequest request =
		COCOON__AGENT__V1__WAIT_PROCESS_REQUEST__INIT;
	CocoonAgentClient *agent = cocoon_sandbox_get_agent(sandbox);
	WaitWork *work = g_new0(WaitWork, 1);

	request.container_id = process->container->id;
	request.exec_id = process->exec_id;
	work->sandbox = cocoon_sandbox_ref(sandbox);
	work->agent = cocoon_agent_client_ref(agent);
	work->container_id = g_strdup(process->container->id);
	work->exec_id = g_strdup(process->exec_id);
	/* no deadline: it lasts as long as the process; a lost connection ends it */
	cocoon_agent_client_wait_process_async(agent, &request, 0, NULL, agent_wait_done, work);
}

static gboolean
process_is_live(CocoonProcess *process)
{
	return process->status == CONTAINERD__V1__TYPES__STATUS__RUNNING ||
	       process->status == CONTAINERD__V1__TYPES__STATUS__PAUSED;
}

/* the VM is gone: every process that has not exited did now, a created init too */
static void
sandbox_fail_all(CocoonSandbox *sandbox, guint32 status)
{
	GHashTableIter iter;
	gpointer value;
	gint64 now = g_get_real_time();

	g_hash_table_iter_init(&iter, sandbox->containers);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		CocoonContainer *container = value;
		GHashTableIter exec_iter;
		gpointer exec;
		g_hash_table_iter_init(&exec_iter, container->execs);
		while (g_hash_table_iter_next(&exec_iter, NULL, &exec)) {
			CocoonProcess *process = exec;
			if (process_is_live(process))
				process_exit_reported(sandbox, process, status, now, NULL);
		}
		if (container->init != NULL &&
		    (process_is_live(container->init) ||
		     (container->init->status == CONTAINERD__V1__TYPES__STATUS__CREATED &&
		      container->created_in_guest)))
			process_exit_reported(sandbox, container->init, status, now, NULL);
	}
}

/*
 * the guest did not answer a request that had to end processes (a SIGKILL, a RemoveContainer)
 * within the request deadline: a guest that stands still must not keep its pod forever, so the VM
 * is stopped without asking it, and every process of the pod is reported killed
 */
static void
sandbox_abort_vm(CocoonSandbox *sandbox, const GError *reason)
{
	g_warning("sandbox %s: the guest does not answer (%s): stopping the VM; every process of "
		  "the pod exits with 137",
		  sandbox->id, reason->message);
	cocoon_sandbox_vm_abort(sandbox);
	sandbox_fail_all(sandbox, 128 + SIGKILL);
	sandbox_notify(sandbox);
}

/* ---------------------------------------------------------------- observers */

static const gchar *
status_name(Containerd__V1__Types__Status status)
{
	switch (status) {
	case CONTAINERD__V1__TYPES__STATUS__CREATED:
		return "created";
	case CONTAINERD__V1__TYPES__STATUS__RUNNING:
		return "running";
	case CONTAINERD__V1__TYPES__STATUS__STOPPED:
		return "stopped";
	case CONTAINERD__V1__TYPES__STATUS__PAUSED:
		return "paused";
	case CONTAINERD__V1__TYPES__STATUS__PAUSING:
		return "pausing";
	default:
		return "unknown";
	}
}

static CocoonProcessInfo *
process_info(CocoonProcess *process)
{
	CocoonProcessInfo *info = cocoon_process_info_new();
	info->exec_id = g_strdup(process->exec_id);
	info->pid = process->pid;
	info->status = g_strdup(status_name(process->status));
	info->exit_status = process->exit_status;
	info->exited_at_us = process->exited_at_us;
	return info;
}

/* on the worker, after every change: a new snapshot for D-Bus and cocoonctl */
static void
sandbox_notify(CocoonSandbox *sandbox)
{
	g_autoptr(CocoonSandboxInfo) info = cocoon_sandbox_info_new(sandbox->id);
	GHashTableIter iter;
	gpointer value;

	cocoon_sandbox_vm_fill_info(sandbox, info);
	g_hash_table_iter_init(&iter, sandbox->containers);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		CocoonContainer *container = value;
		CocoonContainerInfo *cinfo = cocoon_container_info_new();
		GHashTableIter exec_iter;
		gpointer exec;
		cinfo->id = g_strdup(container->id);
		cinfo->bundle = g_strdup(container->bundle);
		cinfo->container_type = g_strdup(
			container->container_type != NULL ? container->container_type : "");
		if (container->init != NULL)
			cinfo->init = process_info(container->init);
		g_hash_table_iter_init(&exec_iter, container->execs);
		while (g_hash_table_iter_next(&exec_iter, NULL, &exec))
			g_ptr_array_add(cinfo->execs, process_info(exec));
		g_ptr_array_add(info->containers, cinfo);
	}
	cocoon_runtime_publish_info(sandbox->runtime, info);
}

/* ---------------------------------------------------------------- guest events */

static void sandbox_watch_events(CocoonSandbox *sandbox);

static void
sandbox_oom(CocoonSandbox *sandbox, const gchar *container_id)
{
	Containerd__Events__TaskOOM event = CONTAINERD__EVENTS__TASK_OOM__INIT;
	CocoonContainer *container = g_hash_table_lookup(sandbox->containers, container_id);
	g_autofree gchar *path = NULL;
	g_autoptr(GError) error = NULL;

	if (container == NULL) {
		g_warning("sandbox %s: OOM event for unknown container %s", sandbox->id,
			  container_id);
		return;
	}
	g_message("container %s: OOM kill in the guest", container_id);
	event.container_id = container->id;
	publish(sandbox, "/tasks/oom", "containerd.events.TaskOOM", (ProtobufCMessage *)&event);
	/* what CRI-O and others read to report OOMKilled */
	path = g_build_filename(container->bundle, "oom", NULL);
	if (!g_file_set_contents(path, "", 0, &error))
		g_warning("container %s: %s", container_id, error->message);
}

typedef struct {
	CocoonSandbox *sandbox;
	CocoonAgentClient *agent;
} EventWork;

static void
agent_event_done(GObject *source, GAsyncResult *result, gpointer data)
{
	EventWork *work = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Cocoon__Agent__V1__WaitEventResponse) response =
		cocoon_agent_client_wait_event_finish(work->agent, result, &error);
	/* the same connection still serves us: ask for the next event */
	gboolean again = cocoon_sandbox_get_agent(work->sandbox) == work->agent;

	if (response != NULL) {
		if (response->kind == COCOON__AGENT__V1__WAIT_EVENT_RESPONSE__KIND__OOM)
			sandbox_oom(work->sandbox, response->container_id);
	} else if (g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE)) {
		again = FALSE;
	} else {
		g_warning("sandbox %s: guest events: %s", work->sandbox->id, error->message);
	}
	if (again)
		sandbox_watch_events(work->sandbox);
	cocoon_agent_client_unref(work->agent);
	cocoon_sandbox_unref(work->sandbox);
	g_free(work);
}

/* a long poll for guest events (OOM kills), answered on the worker */
static void
sandbox_watch_events(CocoonSandbox *sandbox)
{
	CocoonAgentClient *agent = cocoon_sandbox_get_agent(sandbox);
	EventWork *work;

	if (agent == NULL)
		return;
	work = g_new0(EventWork, 1);
	work->sandbox = cocoon_sandbox_ref(sandbox);
	work->agent = cocoon_agent_client_ref(agent);
	cocoon_agent_client_wait_event_async(agent, 0, NULL, agent_event_done, work);
}

void
cocoon_sandbox_vm_booted(CocoonSandbox *sandbox)
{
	sandbox_watch_events(sandbox);
	sandbox_notify(sandbox);
}

/* ---------------------------------------------------------------- task API */

/* the pod's share, opened once: what is below it is reached by fd, never by name */
static CocoonShare *
sandbox_share(CocoonSandbox *sandbox, GError **error)
{
	if (sandbox->share == NULL)
		sandbox->share = cocoon_share_new(sandbox->shared_dir, error);
	return sandbox->share;
}

static gboolean
container_prepare_rootfs(CocoonSandbox *sandbox, CocoonContainer *container,
			 Containerd__Task__V2__CreateTaskRequest *request, GError **error)
{
	g_autofree gchar *bundle_rootfs = g_build_filename(container->bundle, "rootfs", NULL);
	CocoonShare *share = sandbox_share(sandbox, error);
	CocoonMountCopy *tree;

	if (share == NULL)
		return FALSE;
	if (request->n_rootfs > 0) {
		/* never re-create a bundle containerd removed meanwhile (it gave up on this Create)
		 */
		if (g_mkdir(bundle_rootfs, 0711) < 0 && errno != EEXIST) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "mkdir %s: %s",
				    bundle_rootfs, g_strerror(errno));
			return FALSE;
		}
		if (!cocoon_rootfs_mount(bundle_rootfs, request->rootfs, request->n_rootfs, error))
			return FALSE;
		container->host_rootfs = g_strdup(bundle_rootfs);
	}
	container->share_area = cocoon_share_area_new(share, container->id, error);
	if (container->share_area == NULL)
		return FALSE;
	tree = cocoon_mount_clone_path(bundle_rootfs, FALSE, error);
	return tree != NULL &&
	       cocoon_share_area_attach(container->share_area, NULL, "rootfs", tree, TRUE, error);
}

static void
container_release_rootfs(CocoonContainer *container)
{
	g_autoptr(GError) error = NULL;

	/* detached by the fds that name the mounts, wherever the guest moved them */
	g_clear_pointer(&container->share_area, cocoon_share_area_free);
	if (container->host_rootfs != NULL) {
		if (!cocoon_rootfs_unmount(container->host_rootfs, &error))
			g_warning("container %s: %s", container->id, error->message);
		g_clear_pointer(&container->host_rootfs, g_free);
	}
}

/* no VM plumbing among its devices, a pids limit (docs/security.md) */
static void
container_bound_spec(CocoonContainer *container, CocoonJson *spec)
{
	g_autoptr(GPtrArray) dropped = g_ptr_array_new_with_free_func(g_free);
	gint64 pids;

	cocoon_spec_drop_vm_devices(spec, dropped);
	if (dropped->len > 0) {
		g_autofree gchar *paths = NULL;
		g_ptr_array_add(dropped, NULL);
		paths = g_strjoinv(" ", (gchar **)dropped->pdata);
		g_info("container %s: devices not passed to the guest: %s", container->id, paths);
	}
	pids = cocoon_spec_cap_pids(spec, container->sandbox->config->container_pids_max);
	g_debug("container %s: pids limit %" G_GINT64_FORMAT, container->id, pids);
}

/* the spec the guest gets: host bind mounts shared over 9p and pointed at the share */
static gchar *
container_guest_spec(CocoonSandbox *sandbox, CocoonContainer *container, const gchar *spec_json,
		     gsize spec_length, GError **error)
{
	g_autoptr(CocoonJson) spec = cocoon_json_parse(spec_json, spec_length, error);
	g_autofree gchar *guest_dir = NULL;

	if (spec == NULL) {
		g_prefix_error(error, "config.json: ");
		return NULL;
	}
	guest_dir = g_build_filename(COCOON_GUEST_SHARE_DIR, container->id, NULL);
	if (!cocoon_spec_share_mounts(spec, container->bundle, container->share_area, guest_dir,
				      cocoon_sandbox_get_config(sandbox)->state_dir, error))
		return NULL;
	container_bound_spec(container, spec);
	return cocoon_json_to_string(spec, FALSE);
}

static void
stdio_streams_fill(Cocoon__Agent__V1__StdioStreams *streams, CocoonProcess *process)
{
	cocoon__agent__v1__stdio_streams__init(streams);
	streams->terminal = process->terminal;
	streams->stdin = process->stream_stdin;
	streams->stdout = process->stream_stdout;
	streams->stderr = process->stream_stderr;
}

/* the registry entry goes before the Delete reply: containerd's Shutdown follows at once */
static void
container_forget(CocoonSandbox *sandbox, CocoonContainer *container)
{
	cocoon_runtime_release_container(sandbox->runtime, container->id);
	g_mutex_lock(&sandbox->state_lock);
	g_hash_table_remove(sandbox->containers, container->id);
	g_mutex_unlock(&sandbox->state_lock);
	if (g_hash_table_size(sandbox->containers) == 0) {
		g_info("sandbox %s: last container gone, stopping the VM", sandbox->id);
		cocoon_sandbox_vm_stop(sandbox);
	}
}

/* the pod's configuration: the runtime's with the io.cocoon.config.* annotations applied */
static gboolean
sandbox_config_from_spec(CocoonSandbox *sandbox, const gchar *spec_json, gsize spec_length,
			 GError **error)
{
	g_autoptr(CocoonJson) spec = cocoon_json_parse(spec_json, spec_length, error);
	g_autoptr(CocoonConfig) config = NULL;

	if (spec == NULL) {
		g_prefix_error(error, "config.json: ");
		return FALSE;
	}
	config = cocoon_config_copy(cocoon_runtime_get_config(sandbox->runtime));
	if (!cocoon_config_apply_annotations(config, cocoon_json_object_get(spec, "annotations"),
					     error))
		return FALSE;
	sandbox->config = g_steal_pointer(&config);
	return TRUE;
}

static CocoonContainer *
sandbox_container_of_type(CocoonSandbox *sandbox, const gchar *type)
{
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, sandbox->containers);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		CocoonContainer *container = value;
		if (g_strcmp0(container->container_type, type) == 0)
			return container;
	}
	return NULL;
}

static gboolean
task_create(CocoonSandbox *sandbox, Containerd__Task__V2__CreateTaskRequest *request,
	    guint32 *ret_pid, GError **error)
{
	Cocoon__Agent__V1__CreateContainerRequest agent_request =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	Cocoon__Agent__V1__StdioStreams streams;
	Cocoon__Agent__V1__CreateContainerResponse *agent_response;
	g_autofree gchar *config_path = g_build_filename(request->bundle, "config.json", NULL);
	g_autofree gchar *spec_json = NULL;
	g_autofree gchar *guest_spec = NULL;
	g_autofree gchar *rootfs = NULL;
	g_autofree gchar *container_type = NULL;
	CocoonContainer *container;
	gsize spec_length;

	if (!g_file_get_contents(config_path, &spec_json, &spec_length, error))
		return FALSE;
	g_free(cocoon_shim_read_group(request->bundle, request->id, &container_type, NULL));
	/* the sandbox container's exit ends the pod: a second one would end it early */
	if (g_strcmp0(container_type, "sandbox") == 0) {
		CocoonContainer *other = sandbox_container_of_type(sandbox, "sandbox");
		if (other != NULL) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "the pod already has its sandbox container %s; a second "
				    "container annotated io.kubernetes.cri.container-type=sandbox "
				    "is refused",
				    other->id);
			return FALSE;
		}
	}

	container = g_new0(CocoonContainer, 1);
	container->sandbox = sandbox;
	container->id = g_strdup(request->id);
	container->bundle = g_strdup(request->bundle);
	container->container_type = g_steal_pointer(&container_type);
	container->execs =
		g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)process_free);
	g_mutex_lock(&sandbox->state_lock);
	g_hash_table_insert(sandbox->containers, container->id, container);
	container->init = process_new(container, "", request->terminal, request->stdin,
				      request->stdout, request->stderr);
	g_mutex_unlock(&sandbox->state_lock);

	if (sandbox->config == NULL &&
	    !sandbox_config_from_spec(sandbox, spec_json, spec_length, error))
		return FALSE;
	if (!cocoon_sandbox_network_create(sandbox, spec_json, spec_length, error) ||
	    sandbox_share(sandbox, error) == NULL || !cocoon_sandbox_vm_ensure(sandbox, error) ||
	    !container_prepare_rootfs(sandbox, container, request, error) ||
	    !cocoon_stdio_open(&container->init->stdio, request->stdin, request->stdout,
			       request->stderr, request->terminal, container->id,
			       cocoon_runtime_get_namespace(sandbox->runtime), error) ||
	    !cocoon_sandbox_stdio_attach(sandbox, container->init, error))
		return FALSE;

	guest_spec = container_guest_spec(sandbox, container, spec_json, spec_length, error);
	if (guest_spec == NULL)
		return FALSE;
	rootfs = g_build_filename(container->id, "rootfs", NULL);
	agent_request.container_id = container->id;
	agent_request.spec_json.data = (guint8 *)guest_spec;
	agent_request.spec_json.len = strlen(guest_spec);
	agent_request.rootfs = rootfs;
	stdio_streams_fill(&streams, container->init);
	agent_request.stdio = &streams;
	agent_response = AGENT_CALL(sandbox, "CreateContainer",
				    cocoon_agent_client_create_container, &agent_request, error);
	if (agent_response == NULL)
		return FALSE;
	container->created_in_guest = TRUE;
	g_mutex_lock(&sandbox->state_lock);
	container->init->pid = agent_response->pid;
	g_mutex_unlock(&sandbox->state_lock);
	cocoon__agent__v1__create_container_response__free_unpacked(agent_response, NULL);
	/*
	 * from now on, not from Start: a created init that is killed before its Start exits too,
	 * and its Wait, State and Delete must see that (the worker runs the answer after this
	 * request and after any Start, so TaskStart still comes before TaskExit)
	 */
	process_watch_exit(sandbox, container->init);
	*ret_pid = container->init->pid;
	return TRUE;
}

static void
container_teardown(CocoonSandbox *sandbox, CocoonContainer *container)
{
	if (container->created_in_guest) {
		Cocoon__Agent__V1__RemoveContainerRequest request =
			COCOON__AGENT__V1__REMOVE_CONTAINER_REQUEST__INIT;
		g_autoptr(GError) error = NULL;
		request.container_id = container->id;
		container->created_in_guest = FALSE;
		if (!AGENT_CALL(sandbox, "RemoveContainer", cocoon_agent_client_remove_container,
				&request, &error)) {
			g_warning("%s", error->message);
			if (g_error_matches(error, COCOON_TTRPC_ERROR,
					    COCOON_TTRPC_DEADLINE_EXCEEDED))
				sandbox_abort_vm(sandbox, error);
		}
	}
	if (container->init != NULL)
		cocoon_sandbox_stdio_detach(sandbox, container->init);
	container_release_rootfs(container);
}

/*
 * containerd gave up on a Create (it was killed or restarted, or the call's deadline passed): it
 * will never delete that container, so the Create is undone instead of leaving a VM nobody knows of
 */
static gboolean
create_abandoned(CocoonTtrpcCall *call, GError **error)
{
	if (!cocoon_ttrpc_call_is_cancelled(call))
		return FALSE;
	g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_CANCELLED,
		    "the caller went away, undone: cancelled");
	return TRUE;
}

void
cocoon_sandbox_task_create(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__CreateTaskRequest *request =
		(Containerd__Task__V2__CreateTaskRequest *)message;
	Containerd__Task__V2__CreateTaskResponse response =
		CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
	Containerd__Events__TaskCreate event = CONTAINERD__EVENTS__TASK_CREATE__INIT;
	Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
	g_autoptr(GError) error = NULL;
	guint32 pid = 0;

	if (g_hash_table_contains(sandbox->containers, request->id)) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_ALREADY_EXISTS,
					       "container %s: already exists", request->id);
		return;
	}
	if (create_abandoned(call, &error) || !task_create(sandbox, request, &pid, &error) ||
	    create_abandoned(call, &error)) {
		CocoonContainer *container = g_hash_table_lookup(sandbox->containers, request->id);
		g_prefix_error(&error, "create %s: ", request->id);
		if (container != NULL) {
			container_teardown(sandbox, container);
			container_forget(sandbox, container);
		} else {
			cocoon_runtime_release_container(sandbox->runtime, request->id);
		}
		return_error(call, error);
		return;
	}
	event.container_id = request->id;
	event.bundle = request->bundle;
	event.n_rootfs = request->n_rootfs;
	event.rootfs = request->rootfs;
	io.stdin = request->stdin;
	io.stdout = request->stdout;
	io.stderr = request->stderr;
	io.terminal = request->terminal;
	event.io = &io;
	event.checkpoint = request->checkpoint;
	event.pid = pid;
	publish(sandbox, "/tasks/create", "containerd.events.TaskCreate",
		(ProtobufCMessage *)&event);
	response.pid = pid;
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
}

static gboolean
task_start(CocoonSandbox *sandbox, CocoonProcess *process, GError **error)
{
	CocoonContainer *container = process->container;

	if (process->status != CONTAINERD__V1__TYPES__STATUS__CREATED) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
			    "process %s of container %s is %s, not created: failed precondition",
			    is_init(process->exec_id) ? "init" : process->exec_id, container->id,
			    protobuf_c_enum_descriptor_get_value(
				    &containerd__v1__types__status__descriptor, process->status)
				    ->name);
		return FALSE;
	}
	if (is_init(process->exec_id)) {
		Cocoon__Agent__V1__StartContainerRequest request =
			COCOON__AGENT__V1__START_CONTAINER_REQUEST__INIT;
		Cocoon__Agent__V1__StartContainerResponse *response;
		/* ctr run --cni sets the pod's network up between Create and Start */
		if (!cocoon_sandbox_network_sync(sandbox, error))
			return FALSE;
		request.container_id = container->id;
		response = AGENT_CALL(sandbox, "StartContainer",
				      cocoon_agent_client_start_container, &request, error);
		if (response == NULL)
			return FALSE;
		if (response->pid != 0) {
			g_mutex_lock(&sandbox->state_lock);
			process->pid = response->pid;
			g_mutex_unlock(&sandbox->state_lock);
		}
		cocoon__agent__v1__start_container_response__free_unpacked(response, NULL);
	} else {
		Cocoon__Agent__V1__ExecProcessRequest request =
			COCOON__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
		Cocoon__Agent__V1__ExecProcessResponse *response;
		Cocoon__Agent__V1__StdioStreams streams;
		gsize size;

		if (container->init == NULL ||
		    container->init->status != CONTAINERD__V1__TYPES__STATUS__RUNNING) {
			g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
				    "container %s is not running: failed precondition",
				    container->id);
			return FALSE;
		}
		if (!cocoon_stdio_open(&process->stdio, process->stdin_path, process->stdout_path,
				       process->stderr_path, process->terminal, container->id,
				       cocoon_runtime_get_namespace(sandbox->runtime), error) ||
		    !cocoon_sandbox_stdio_attach(sandbox, process, error))
			return FALSE;
		request.container_id = container->id;
		request.exec_id = process->exec_id;
		request.process_json.data =
			(guint8 *)g_bytes_get_data(process->process_json, &size);
		request.process_json.len = size;
		stdio_streams_fill(&streams, process);
		request.stdio = &streams;
		response = AGENT_CALL(sandbox, "ExecProcess", cocoon_agent_client_exec_process,
				      &request, error);
		if (response == NULL) {
			cocoon_sandbox_stdio_detach(sandbox, process);
			return FALSE;
		}
		g_mutex_lock(&sandbox->state_lock);
		process->pid = response->pid;
		g_mutex_unlock(&sandbox->state_lock);
		cocoon__agent__v1__exec_process_response__free_unpacked(response, NULL);
	}
	g_mutex_lock(&sandbox->state_lock);
	process->status = CONTAINERD__V1__TYPES__STATUS__RUNNING;
	g_mutex_unlock(&sandbox->state_lock);
	return TRUE;
}

void
cocoon_sandbox_task_start(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__StartRequest *request = (Containerd__Task__V2__StartRequest *)message;
	Containerd__Task__V2__StartResponse response = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
	g_autoptr(GError) error = NULL;
	CocoonProcess *process = lookup_process(sandbox, request->id, request->exec_id, &error);

	if (process == NULL || !task_start(sandbox, process, &error)) {
		g_prefix_error(&error, "start %s: ", request->id);
		return_error(call, error);
		return;
	}
	/* the start event goes out before the exit watch exists, so before any TaskExit */
	if (is_init(process->exec_id)) {
		Containerd__Events__TaskStart event = CONTAINERD__EVENTS__TASK_START__INIT;
		event.container_id = request->id;
		event.pid = process->pid;
		publish(sandbox, "/tasks/start", "containerd.events.TaskStart",
			(ProtobufCMessage *)&event);
	} else {
		Containerd__Events__TaskExecStarted event =
			CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
		event.container_id = request->id;
		event.exec_id = process->exec_id;
		event.pid = process->pid;
		publish(sandbox, "/tasks/exec-started", "containerd.events.TaskExecStarted",
			(ProtobufCMessage *)&event);
	}
	/* an init's exit is watched since its Create */
	if (!is_init(process->exec_id))
		process_watch_exit(sandbox, process);
	response.pid = process->pid;
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
}

static guint8 *
state_pack_locked(CocoonSandbox *sandbox, Containerd__Task__V2__StateRequest *request,
		  gsize *ret_size, GError **error)
{
	Containerd__Task__V2__StateResponse response = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts;
	CocoonProcess *process = lookup_process(sandbox, request->id, request->exec_id, error);
	guint8 *packed;

	if (process == NULL)
		return NULL;
	response.id = is_init(process->exec_id) ? process->container->id : process->exec_id;
	response.bundle = process->container->bundle;
	response.pid = process->pid;
	response.status = process->status;
	response.stdin = process->stdin_path;
	response.stdout = process->stdout_path;
	response.stderr = process->stderr_path;
	response.terminal = process->terminal;
	response.exec_id = process->exec_id;
	if (process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		response.exit_status = process->exit_status;
		fill_timestamp(&ts, process->exited_at_us);
		response.exited_at = &ts;
	}
	*ret_size = protobuf_c_message_get_packed_size((ProtobufCMessage *)&response);
	packed = g_malloc(*ret_size + 1);
	protobuf_c_message_pack((ProtobufCMessage *)&response, packed);
	return packed;
}

/* any thread (the main context answers State itself): reads under state_lock, sends after it */
void
cocoon_sandbox_task_state(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__StateRequest *request = (Containerd__Task__V2__StateRequest *)message;
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *packed = NULL;
	gsize size = 0;

	g_mutex_lock(&sandbox->state_lock);
	packed = state_pack_locked(sandbox, request, &size, &error);
	g_mutex_unlock(&sandbox->state_lock);
	if (packed == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	cocoon_ttrpc_call_return(call, packed, size);
}

static gboolean
process_deletable(CocoonProcess *process, GError **error)
{
	if (process->status == CONTAINERD__V1__TYPES__STATUS__CREATED ||
	    (process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED && !process->exiting))
		return TRUE;
	g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
		    "process %s of container %s is still running: failed precondition",
		    is_init(process->exec_id) ? "init" : process->exec_id, process->container->id);
	return FALSE;
}

void
cocoon_sandbox_task_delete(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__DeleteRequest *request =
		(Containerd__Task__V2__DeleteRequest *)message;
	Containerd__Task__V2__DeleteResponse response = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Containerd__Events__TaskDelete event = CONTAINERD__EVENTS__TASK_DELETE__INIT;
	Google__Protobuf__Timestamp ts;
	g_autoptr(GError) error = NULL;
	CocoonProcess *process = lookup_process(sandbox, request->id, request->exec_id, &error);
	CocoonContainer *container;

	if (process == NULL || !process_deletable(process, &error)) {
		g_prefix_error(&error, "delete %s: ", request->id);
		return_error(call, error);
		return;
	}
	container = process->container;
	if (!is_init(request->exec_id)) {
		/* the init process outlives its execs: an exec holds nothing else */
		if (container->init == NULL ||
		    container->init->status != CONTAINERD__V1__TYPES__STATUS__STOPPED) {
			/* nothing in the guest to do: the agent forgets execs at their exit */
		}
	} else {
		GHashTableIter iter;
		gpointer value;
		g_hash_table_iter_init(&iter, container->execs);
		while (g_hash_table_iter_next(&iter, NULL, &value)) {
			if (((CocoonProcess *)value)->exiting) {
				cocoon_ttrpc_call_return_error(
					call, COCOON_TTRPC_FAILED_PRECONDITION,
					"delete %s: an exec is still exiting: failed precondition",
					request->id);
				return;
			}
		}
	}
	response.pid = process->pid;
	response.exit_status = process->exit_status;
	fill_timestamp(&ts, process->exited_at_us != 0 ? process->exited_at_us : g_get_real_time());
	response.exited_at = &ts;
	event.container_id = container->id;
	event.pid = process->pid;
	event.exit_status = process->exit_status;
	event.exited_at = &ts;
	event.id = process->exec_id;
	if (is_init(request->exec_id)) {
		/*
		 * the pod's last container: its VM is stopped right after this reply, so removing
		 * the container in the guest first (a crun delete, ~0.2 s under TCG) is wasted
		 */
		if (g_hash_table_size(sandbox->containers) == 1)
			container->created_in_guest = FALSE;
		container_teardown(sandbox, container);
		publish(sandbox, "/tasks/delete", "containerd.events.TaskDelete",
			(ProtobufCMessage *)&event);
		cocoon_runtime_release_container(sandbox->runtime, container->id);
		cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
		container_forget(sandbox, container);
		return;
	}
	cocoon_sandbox_stdio_detach(sandbox, process);
	publish(sandbox, "/tasks/delete", "containerd.events.TaskDelete",
		(ProtobufCMessage *)&event);
	/* gone before the reply says so (State reads the table on the main context) */
	g_mutex_lock(&sandbox->state_lock);
	g_hash_table_remove(container->execs, request->exec_id);
	g_mutex_unlock(&sandbox->state_lock);
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
}

void
cocoon_sandbox_task_pids(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__PidsRequest *request = (Containerd__Task__V2__PidsRequest *)message;
	Containerd__Task__V2__PidsResponse response = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
	Cocoon__Agent__V1__ListProcessesRequest agent_request =
		COCOON__AGENT__V1__LIST_PROCESSES_REQUEST__INIT;
	Cocoon__Agent__V1__ListProcessesResponse *agent_response = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree Containerd__V1__Types__ProcessInfo *infos = NULL;
	g_autofree Containerd__V1__Types__ProcessInfo **info_ptrs = NULL;
	g_autofree Google__Protobuf__Any *details = NULL;
	g_autoptr(GPtrArray) packed = NULL;
	CocoonContainer *container = lookup_container(sandbox, request->id, &error);

	if (container == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	if (container->init != NULL &&
	    container->init->status == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
		return;
	}
	agent_request.container_id = container->id;
	agent_response = AGENT_CALL(sandbox, "ListProcesses", cocoon_agent_client_list_processes,
				    &agent_request, &error);
	if (agent_response == NULL) {
		return_error(call, error);
		return;
	}
	infos = g_new0(Containerd__V1__Types__ProcessInfo, agent_response->n_processes + 1);
	info_ptrs = g_new0(Containerd__V1__Types__ProcessInfo *, agent_response->n_processes + 1);
	details = g_new0(Google__Protobuf__Any, agent_response->n_processes + 1);
	packed = g_ptr_array_new_with_free_func(g_free);
	for (gsize i = 0; i < agent_response->n_processes; i++) {
		const gchar *exec_id = agent_response->processes[i]->exec_id;
		containerd__v1__types__process_info__init(&infos[i]);
		infos[i].pid = agent_response->processes[i]->pid;
		/* like runc: execs carry their id, so `ctr task ps` tells them apart */
		if (exec_id != NULL && exec_id[0] != '\0') {
			Containerd__Runc__V1__ProcessDetails detail =
				CONTAINERD__RUNC__V1__PROCESS_DETAILS__INIT;
			gsize size;
			guint8 *buf;
			detail.exec_id = (gchar *)exec_id;
			size = protobuf_c_message_get_packed_size((ProtobufCMessage *)&detail);
			buf = g_malloc(size + 1);
			protobuf_c_message_pack((ProtobufCMessage *)&detail, buf);
			g_ptr_array_add(packed, buf);
			google__protobuf__any__init(&details[i]);
			details[i].type_url = (gchar *)"containerd.runc.v1.ProcessDetails";
			details[i].value.data = buf;
			details[i].value.len = size;
			infos[i].info = &details[i];
		}
		info_ptrs[i] = &infos[i];
	}
	response.n_processes = agent_response->n_processes;
	response.processes = info_ptrs;
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
	cocoon__agent__v1__list_processes_response__free_unpacked(agent_response, NULL);
}

/* how long the undo of a late Pause/Resume waits for a guest that stood still */
#define UNDO_TIMEOUT_MS (10u * 60 * 1000)

typedef struct {
	CocoonAgentClient *agent;
	gchar *sandbox_id;
	gchar *container_id;
	gboolean paused;
} Undo;

static void
undo_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Undo *undo = user_data;
	g_autoptr(GError) error = NULL;

	if (cocoon_agent_client_set_paused_finish(undo->agent, result, &error))
		g_info("sandbox %s: container %s %s again after the unanswered call",
		       undo->sandbox_id, undo->container_id, undo->paused ? "paused" : "running");
	else
		g_debug("sandbox %s: undo for container %s: %s", undo->sandbox_id,
			undo->container_id, error->message);
	cocoon_agent_client_unref(undo->agent);
	g_free(undo->sandbox_id);
	g_free(undo->container_id);
	g_free(undo);
}

/*
 * a Pause or Resume the agent did not answer in time is still queued for a guest that stood
 * still, and runs when it wakes: the opposite call, queued right behind it on the same connection
 * (the agent serves them in order), leaves the container as the failed call reported it
 */
static void
undo_unanswered(CocoonSandbox *sandbox, CocoonContainer *container, gboolean pause)
{
	CocoonAgentClient *agent = cocoon_sandbox_get_agent(sandbox);
	Undo *undo;

	if (agent == NULL)
		return;
	undo = g_new0(Undo, 1);
	undo->agent = cocoon_agent_client_ref(agent);
	undo->sandbox_id = g_strdup(sandbox->id);
	undo->container_id = g_strdup(container->id);
	undo->paused = !pause;
	g_info("sandbox %s: %s of %s unanswered: %s queued behind it", sandbox->id,
	       pause ? "PauseContainer" : "ResumeContainer", container->id,
	       pause ? "ResumeContainer" : "PauseContainer");
	cocoon_agent_client_set_paused_async(agent, container->id, !pause, UNDO_TIMEOUT_MS, NULL,
					     undo_done, undo);
}

static void
task_pause_resume(CocoonSandbox *sandbox, CocoonTtrpcCall *call, const gchar *id, gboolean pause)
{
	g_autoptr(GError) error = NULL;
	CocoonContainer *container = lookup_container(sandbox, id, &error);
	Cocoon__Agent__V1__PauseContainerRequest pause_request =
		COCOON__AGENT__V1__PAUSE_CONTAINER_REQUEST__INIT;
	Cocoon__Agent__V1__ResumeContainerRequest resume_request =
		COCOON__AGENT__V1__RESUME_CONTAINER_REQUEST__INIT;
	Containerd__V1__Types__Status need = pause ? CONTAINERD__V1__TYPES__STATUS__RUNNING
						   : CONTAINERD__V1__TYPES__STATUS__PAUSED;

	if (container == NULL || container->init == NULL) {
		if (error == NULL)
			g_set_error(&error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
				    "container %s is not created: failed precondition", id);
		return_error(call, error);
		return;
	}
	if (container->init->status != need) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_FAILED_PRECONDITION,
					       "%s %s: container is not %s: failed precondition",
					       pause ? "pause" : "resume", id,
					       pause ? "running" : "paused");
		return;
	}
	pause_request.container_id = container->id;
	resume_request.container_id = container->id;
	if (pause ? !AGENT_CALL(sandbox, "PauseContainer", cocoon_agent_client_pause_container,
				&pause_request, &error)
		  : !AGENT_CALL(sandbox, "ResumeContainer", cocoon_agent_client_resume_container,
				&resume_request, &error)) {
		if (g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_DEADLINE_EXCEEDED))
			undo_unanswered(sandbox, container, pause);
		return_error(call, error);
		return;
	}
	g_mutex_lock(&sandbox->state_lock);
	container->init->status = pause ? CONTAINERD__V1__TYPES__STATUS__PAUSED
					: CONTAINERD__V1__TYPES__STATUS__RUNNING;
	g_mutex_unlock(&sandbox->state_lock);
	if (pause) {
		Containerd__Events__TaskPaused event = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
		event.container_id = container->id;
		publish(sandbox, "/tasks/paused", "containerd.events.TaskPaused",
			(ProtobufCMessage *)&event);
	} else {
		Containerd__Events__TaskResumed event = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
		event.container_id = container->id;
		publish(sandbox, "/tasks/resumed", "containerd.events.TaskResumed",
			(ProtobufCMessage *)&event);
	}
	cocoon_ttrpc_call_return_message(call, NULL);
}

void
cocoon_sandbox_task_pause(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	task_pause_resume(sandbox, call, ((Containerd__Task__V2__PauseRequest *)message)->id, TRUE);
}

void
cocoon_sandbox_task_resume(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	task_pause_resume(sandbox, call, ((Containerd__Task__V2__ResumeRequest *)message)->id,
			  FALSE);
}

void
cocoon_sandbox_task_kill(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__KillRequest *request = (Containerd__Task__V2__KillRequest *)message;
	Cocoon__Agent__V1__SignalProcessRequest agent_request =
		COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	CocoonProcess *process = lookup_process(sandbox, request->id, request->exec_id, &error);

	if (process == NULL) {
		return_error(call, error);
		return;
	}
	if (request->signal == 0 || request->signal > 64) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_INVALID_ARGUMENT,
			"kill %s: signal %u is out of range: invalid argument", request->id,
			request->signal);
		return;
	}
	if (process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED || process->exiting) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_NOT_FOUND,
					       "kill %s: process already finished: not found",
					       request->id);
		return;
	}
	if (process->status == CONTAINERD__V1__TYPES__STATUS__CREATED &&
	    !is_init(request->exec_id)) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_FAILED_PRECONDITION,
			"kill %s: exec %s is not started: failed precondition", request->id,
			request->exec_id);
		return;
	}
	agent_request.container_id = request->id;
	agent_request.exec_id = process->exec_id;
	agent_request.signal = request->signal;
	agent_request.all = request->all;
	if (!AGENT_CALL(sandbox, "SignalProcess", cocoon_agent_client_signal_process,
			&agent_request, &error)) {
		/* a SIGKILL always ends the process: if the guest cannot, the VM goes */
		if (request->signal == SIGKILL &&
		    g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_DEADLINE_EXCEEDED)) {
			sandbox_abort_vm(sandbox, error);
			cocoon_ttrpc_call_return_message(call, NULL);
			return;
		}
		g_prefix_error(&error, "kill %s: ", request->id);
		return_error(call, error);
		return;
	}
	cocoon_ttrpc_call_return_message(call, NULL);
}

void
cocoon_sandbox_task_exec(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__ExecProcessRequest *request =
		(Containerd__Task__V2__ExecProcessRequest *)message;
	Containerd__Events__TaskExecAdded event = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonJson) spec = NULL;
	CocoonContainer *container = lookup_container(sandbox, request->id, &error);
	CocoonProcess *process;

	if (container == NULL) {
		return_error(call, error);
		return;
	}
	if (!cocoon_identifier_validate("exec id", request->exec_id, &error)) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "exec %s: %s: invalid argument", request->id,
					       error->message);
		return;
	}
	if (g_hash_table_contains(container->execs, request->exec_id)) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_ALREADY_EXISTS,
					       "exec %s in container %s: already exists",
					       request->exec_id, request->id);
		return;
	}
	if (container->init == NULL ||
	    container->init->status == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_FAILED_PRECONDITION,
			"exec %s: container %s is not running: failed precondition",
			request->exec_id, request->id);
		return;
	}
	if (request->spec == NULL || request->spec->value.len == 0) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "exec %s: no process spec: invalid argument",
					       request->exec_id);
		return;
	}
	spec = cocoon_json_parse((const gchar *)request->spec->value.data, request->spec->value.len,
				 &error);
	if (spec == NULL || !cocoon_json_is_object(spec)) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_INVALID_ARGUMENT,
			"exec %s: the process spec (%s) is not a JSON object: %s: "
			"invalid argument",
			request->exec_id, request->spec->type_url,
			error != NULL ? error->message : "wrong type");
		return;
	}
	process = process_new(container, request->exec_id, request->terminal, request->stdin,
			      request->stdout, request->stderr);
	process->process_json = g_bytes_new(request->spec->value.data, request->spec->value.len);
	g_mutex_lock(&sandbox->state_lock);
	g_hash_table_insert(container->execs, process->exec_id, process);
	g_mutex_unlock(&sandbox->state_lock);
	event.container_id = request->id;
	event.exec_id = request->exec_id;
	publish(sandbox, "/tasks/exec-added", "containerd.events.TaskExecAdded",
		(ProtobufCMessage *)&event);
	cocoon_ttrpc_call_return_message(call, NULL);
}

void
cocoon_sandbox_task_resize_pty(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			       ProtobufCMessage *message)
{
	Containerd__Task__V2__ResizePtyRequest *request =
		(Containerd__Task__V2__ResizePtyRequest *)message;
	Cocoon__Agent__V1__ResizeTtyRequest agent_request =
		COCOON__AGENT__V1__RESIZE_TTY_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	CocoonProcess *process = lookup_process(sandbox, request->id, request->exec_id, &error);

	if (process == NULL) {
		return_error(call, error);
		return;
	}
	/* no pty, or not running: nothing to resize */
	if (!process->terminal || process->status != CONTAINERD__V1__TYPES__STATUS__RUNNING) {
		cocoon_ttrpc_call_return_message(call, NULL);
		return;
	}
	agent_request.container_id = request->id;
	agent_request.exec_id = process->exec_id;
	agent_request.rows = request->height;
	agent_request.cols = request->width;
	AGENT_CALL(sandbox, "ResizeTty", cocoon_agent_client_resize_tty, &agent_request, &error);
	return_empty(call, error);
}

void
cocoon_sandbox_task_close_io(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			     ProtobufCMessage *message)
{
	Containerd__Task__V2__CloseIORequest *request =
		(Containerd__Task__V2__CloseIORequest *)message;
	g_autoptr(GError) error = NULL;
	CocoonProcess *process = lookup_process(sandbox, request->id, request->exec_id, &error);

	if (process == NULL) {
		return_error(call, error);
		return;
	}
	if (request->stdin && !process->stdin_closed) {
		process->stdin_closed = TRUE;
		/* our held writer goes; the client's close then reads as EOF and reaches the guest
		 */
		cocoon_stdio_close_stdin_holder(&process->stdio);
	}
	cocoon_ttrpc_call_return_message(call, NULL);
}

/*
 * limits above the VM's size cannot be met inside it: say so instead of pretending (hot-plug of
 * vCPUs and memory is not implemented yet)
 */
static gboolean
update_fits_vm(CocoonSandbox *sandbox, Containerd__Task__V2__UpdateTaskRequest *request,
	       GError **error)
{
	CocoonConfig *config = cocoon_sandbox_get_config(sandbox);
	g_autoptr(CocoonJson) resources = NULL;
	CocoonJson *memory, *cpu;
	gint64 limit = 0, quota = 0;
	guint64 period = 0;
	guint64 vm_bytes = (guint64)config->memory_mib << 20;

	resources = cocoon_json_parse((const gchar *)request->resources->value.data,
				      request->resources->value.len, error);
	if (resources == NULL || !cocoon_json_is_object(resources)) {
		g_clear_error(error);
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT,
			    "update %s: resources (%s) are not a JSON object: invalid argument",
			    request->id, request->resources->type_url);
		return FALSE;
	}
	memory = cocoon_json_object_get_object_member(resources, "memory");
	if (memory != NULL && cocoon_json_object_get_int64_member(memory, "limit", &limit, NULL) &&
	    limit > 0 && (guint64)limit > vm_bytes) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
			    "update %s: memory limit %" G_GINT64_FORMAT " bytes exceeds the VM's "
			    "%u MiB (hypervisor.memory_mib); memory hot-plug is not supported yet: "
			    "failed precondition",
			    request->id, limit, config->memory_mib);
		return FALSE;
	}
	cpu = cocoon_json_object_get_object_member(resources, "cpu");
	if (cpu != NULL && cocoon_json_object_get_int64_member(cpu, "quota", &quota, NULL) &&
	    cocoon_json_object_get_uint64_member(cpu, "period", &period, NULL) && quota > 0 &&
	    period > 0 && (guint64)quota > period * config->vcpus) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION,
			    "update %s: cpu quota %" G_GINT64_FORMAT "/%" G_GUINT64_FORMAT
			    " asks for more than the VM's %u vCPUs (hypervisor.vcpus); vCPU "
			    "hot-plug is "
			    "not supported yet: failed precondition",
			    request->id, quota, period, config->vcpus);
		return FALSE;
	}
	return TRUE;
}

void
cocoon_sandbox_task_update(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__UpdateTaskRequest *request =
		(Containerd__Task__V2__UpdateTaskRequest *)message;
	Cocoon__Agent__V1__UpdateContainerRequest agent_request =
		COCOON__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	CocoonContainer *container = lookup_container(sandbox, request->id, &error);

	if (container == NULL) {
		return_error(call, error);
		return;
	}
	if (container->init == NULL ||
	    container->init->status == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_FAILED_PRECONDITION,
			"update %s: container is not running: failed precondition", request->id);
		return;
	}
	if (request->resources == NULL) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "update %s: no resources: invalid argument",
					       request->id);
		return;
	}
	if (!update_fits_vm(sandbox, request, &error)) {
		return_error(call, error);
		return;
	}
	agent_request.container_id = request->id;
	agent_request.resources_json = request->resources->value;
	AGENT_CALL(sandbox, "UpdateContainer", cocoon_agent_client_update_container, &agent_request,
		   &error);
	return_empty(call, error);
}

void
cocoon_sandbox_task_wait(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__WaitRequest *request = (Containerd__Task__V2__WaitRequest *)message;
	g_autoptr(GError) error = NULL;
	CocoonProcess *process = lookup_process(sandbox, request->id, request->exec_id, &error);

	if (process == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	g_ptr_array_add(process->waiters, call);
	if (process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED && !process->exiting)
		process_answer_waiters(process);
}

void
cocoon_sandbox_task_stats(CocoonSandbox *sandbox, CocoonTtrpcCall *call, ProtobufCMessage *message)
{
	Containerd__Task__V2__StatsRequest *request = (Containerd__Task__V2__StatsRequest *)message;
	Containerd__Task__V2__StatsResponse response = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
	Cocoon__Agent__V1__StatsContainerRequest agent_request =
		COCOON__AGENT__V1__STATS_CONTAINER_REQUEST__INIT;
	Cocoon__Agent__V1__StatsContainerResponse *agent_response;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *buf = NULL;
	CocoonContainer *container = lookup_container(sandbox, request->id, &error);

	if (container == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	if (container->init == NULL ||
	    container->init->status == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_NOT_FOUND,
					       "stats %s: container is not running: not found",
					       request->id);
		return;
	}
	agent_request.container_id = request->id;
	agent_response = AGENT_CALL(sandbox, "StatsContainer", cocoon_agent_client_stats_container,
				    &agent_request, &error);
	if (agent_response == NULL) {
		return_error(call, error);
		return;
	}
	{
		Io__Containerd__Cgroups__V2__Metrics empty =
			IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
		g_autoptr(GBytes) value = NULL;
		gsize size;
		cocoon_metrics_drop_unknown_fields(agent_response->metrics);
		any.type_url = (gchar *)cocoon_metrics_pack(
			agent_response->metrics != NULL ? agent_response->metrics : &empty,
			sandbox->cgroup_mode, &value);
		buf = g_bytes_unref_to_data(g_steal_pointer(&value), &size);
		any.value.data = buf;
		any.value.len = size;
	}
	response.stats = &any;
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
	cocoon__agent__v1__stats_container_response__free_unpacked(agent_response, NULL);
}

void
cocoon_sandbox_task_connect(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
			    ProtobufCMessage *message)
{
	Containerd__Task__V2__ConnectRequest *request =
		(Containerd__Task__V2__ConnectRequest *)message;
	Containerd__Task__V2__ConnectResponse response =
		CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	g_autoptr(GError) error = NULL;
	CocoonContainer *container = lookup_container(sandbox, request->id, &error);

	if (container == NULL) {
		cocoon_ttrpc_call_return_gerror(call, error);
		return;
	}
	response.shim_pid = (guint32)getpid();
	response.task_pid = cocoon_sandbox_network_task_pid(
		sandbox, container->init != NULL ? container->init->pid : 0);
	response.version = (gchar *)COCOON_VERSION;
	cocoon_ttrpc_call_return_message(call, (ProtobufCMessage *)&response);
}

/* ---------------------------------------------------------------- worker */

static gboolean
task_work_run(gpointer data)
{
	TaskWork *work = data;
	work->func(work->sandbox, g_steal_pointer(&work->call), work->request);
	/* read-only requests change nothing worth a snapshot */
	if (work->func != cocoon_sandbox_task_state && work->func != cocoon_sandbox_task_wait &&
	    work->func != cocoon_sandbox_task_connect && work->func != cocoon_sandbox_task_stats &&
	    work->func != cocoon_sandbox_task_pids)
		sandbox_notify(work->sandbox);
	return G_SOURCE_REMOVE;
}

static void
task_work_free(TaskWork *work)
{
	if (work->call != NULL)
		cocoon_ttrpc_call_return_error(work->call, COCOON_TTRPC_UNAVAILABLE,
					       "sandbox %s is shutting down: unavailable",
					       work->sandbox->id);
	protobuf_c_message_free_unpacked(work->request, NULL);
	cocoon_sandbox_unref(work->sandbox);
	g_free(work);
}

void
cocoon_sandbox_queue(CocoonSandbox *sandbox, CocoonSandboxTaskFunc func, CocoonTtrpcCall *call,
		     ProtobufCMessage *request)
{
	TaskWork *work = g_new0(TaskWork, 1);
	work->sandbox = cocoon_sandbox_ref(sandbox);
	work->func = func;
	work->call = call;
	work->request = request;
	g_main_context_invoke_full(sandbox->context, G_PRIORITY_DEFAULT, task_work_run, work,
				   (GDestroyNotify)task_work_free);
}

static gpointer
sandbox_thread(gpointer data)
{
	CocoonSandbox *sandbox = data;
	g_main_context_push_thread_default(sandbox->context);
	g_main_loop_run(sandbox->loop);
	/* shutting down: every container goes, then the VM */
	{
		GHashTableIter iter;
		gpointer value;
		g_hash_table_iter_init(&iter, sandbox->containers);
		while (g_hash_table_iter_next(&iter, NULL, &value))
			container_teardown(sandbox, value);
		cocoon_sandbox_vm_stop(sandbox);
		g_mutex_lock(&sandbox->state_lock);
		g_hash_table_remove_all(sandbox->containers);
		g_mutex_unlock(&sandbox->state_lock);
	}
	/* run what is still queued so every call is answered */
	while (g_main_context_iteration(sandbox->context, FALSE))
		;
	g_main_context_pop_thread_default(sandbox->context);
	return NULL;
}

static gboolean
sandbox_quit(gpointer data)
{
	CocoonSandbox *sandbox = data;
	g_main_loop_quit(sandbox->loop);
	return G_SOURCE_REMOVE;
}

void
cocoon_sandbox_stop(CocoonSandbox *sandbox)
{
	if (sandbox->thread == NULL)
		return;
	g_main_context_invoke(sandbox->context, sandbox_quit, sandbox);
	g_thread_join(g_steal_pointer(&sandbox->thread));
}

/* called by the VM code on the worker when QEMU died behind our back */
void cocoon_sandbox_vm_died(CocoonSandbox *sandbox);
void
cocoon_sandbox_vm_died(CocoonSandbox *sandbox)
{
	g_warning("sandbox %s: the VM died; every running process exits with 255", sandbox->id);
	sandbox_fail_all(sandbox, 255);
	sandbox_notify(sandbox);
}

CocoonSandbox *
cocoon_sandbox_new(CocoonRuntime *runtime, const gchar *id)
{
	CocoonSandbox *sandbox = g_new0(CocoonSandbox, 1);
	g_autofree gchar *thread_name = g_strdup_printf("sandbox-%.8s", id);
	sandbox->ref_count = 1;
	sandbox->runtime = runtime;
	sandbox->id = g_strdup(id);
	sandbox->state_dir =
		g_build_filename(cocoon_runtime_get_config(runtime)->state_dir, id, NULL);
	sandbox->shared_dir = g_build_filename(sandbox->state_dir, "shared", NULL);
	sandbox->cgroup_mode = cocoon_host_cgroup_mode();
	sandbox->context = g_main_context_new();
	sandbox->loop = g_main_loop_new(sandbox->context, FALSE);
	g_mutex_init(&sandbox->state_lock);
	sandbox->containers = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
						    (GDestroyNotify)container_free);
	sandbox->thread = g_thread_new(thread_name, sandbox_thread, sandbox);
	return sandbox;
}

CocoonSandbox *
cocoon_sandbox_ref(CocoonSandbox *sandbox)
{
	g_atomic_int_inc(&sandbox->ref_count);
	return sandbox;
}

void cocoon_sandbox_vm_free(CocoonSandbox *sandbox);

void
cocoon_sandbox_unref(CocoonSandbox *sandbox)
{
	if (sandbox == NULL || !g_atomic_int_dec_and_test(&sandbox->ref_count))
		return;
	cocoon_sandbox_stop(sandbox);
	g_hash_table_unref(sandbox->containers);
	cocoon_sandbox_vm_free(sandbox);
	cocoon_sandbox_network_free(sandbox);
	cocoon_config_free(sandbox->config);
	cocoon_share_free(sandbox->share);
	g_main_loop_unref(sandbox->loop);
	g_main_context_unref(sandbox->context);
	g_mutex_clear(&sandbox->state_lock);
	g_free(sandbox->id);
	g_free(sandbox->state_dir);
	g_free(sandbox->shared_dir);
	g_free(sandbox);
}

const gchar *
cocoon_sandbox_get_id(CocoonSandbox *sandbox)
{
	return sandbox->id;
}

const gchar *
cocoon_sandbox_get_state_dir(CocoonSandbox *sandbox)
{
	return sandbox->state_dir;
}

const gchar *
cocoon_sandbox_get_shared_dir(CocoonSandbox *sandbox)
{
	return sandbox->shared_dir;
}

CocoonConfig *
cocoon_sandbox_get_config(CocoonSandbox *sandbox)
{
	return sandbox->config != NULL ? sandbox->config
				       : cocoon_runtime_get_config(sandbox->runtime);
}

CocoonRuntime *
cocoon_sandbox_get_runtime(CocoonSandbox *sandbox)
{
	return sandbox->runtime;
}

GMainContext *
cocoon_sandbox_get_context(CocoonSandbox *sandbox)
{
	return sandbox->context;
}

gpointer *cocoon_sandbox_vm_slot(CocoonSandbox *sandbox);
gpointer *
cocoon_sandbox_vm_slot(CocoonSandbox *sandbox)
{
	return &sandbox->vm;
}

gpointer *cocoon_sandbox_network_slot(CocoonSandbox *sandbox);
gpointer *
cocoon_sandbox_network_slot(CocoonSandbox *sandbox)
{
	return &sandbox->network;
}
