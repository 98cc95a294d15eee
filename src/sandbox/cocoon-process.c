/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-process.h"

#include <signal.h>

#include <gio/gio.h>

#include "cocoon-sandbox-snapshot.h"
#include "containerd-task-types.pb-c.h"
#include "task-events.pb-c.h"

/*
 * an exit is reported once the process's own output reached containerd (up to the offsets the
 * guest gave): given up after this long without a byte moving (containerd does not read, or the
 * guest claimed more than it sends), and after this long in any case
 */
#define EXIT_DRAIN_IDLE_US    (2 * G_USEC_PER_SEC)
#define EXIT_DRAIN_TIMEOUT_US (30 * G_USEC_PER_SEC)

void
cocoon_process_free(CocoonProcess *process)
{
	if (process == NULL)
		return;
	if (process->waiters != NULL) {
		/* nobody may hang: whoever still waits gets what was recorded */
		cocoon_process_answer_waiters(process);
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

CocoonProcess *
cocoon_process_new(CocoonContainer *container, const gchar *exec_id, gboolean terminal,
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

void
cocoon_container_free(CocoonContainer *container)
{
	if (container == NULL)
		return;
	g_hash_table_unref(container->execs);
	cocoon_share_area_free(container->share_area);
	cocoon_process_free(container->init);
	g_free(container->id);
	g_free(container->bundle);
	g_free(container->container_type);
	g_free(container->host_rootfs);
	g_free(container);
}

CocoonContainer *
cocoon_sandbox_lookup_container(CocoonSandbox *sandbox, const gchar *id, GError **error)
{
	CocoonContainer *container = g_hash_table_lookup(sandbox->containers, id);
	if (container == NULL)
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_NOT_FOUND,
			    "container %s does not exist: not found", id);
	return container;
}

CocoonProcess *
cocoon_sandbox_lookup_process(CocoonSandbox *sandbox, const gchar *id, const gchar *exec_id,
			      GError **error)
{
	CocoonContainer *container = cocoon_sandbox_lookup_container(sandbox, id, error);
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

/* the Task handlers' opening: the container, or NULL once the error went back to the caller */
CocoonContainer *
cocoon_sandbox_lookup_container_or_return(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
					  const gchar *id)
{
	g_autoptr(GError) error = NULL;
	CocoonContainer *container = cocoon_sandbox_lookup_container(sandbox, id, &error);

	if (container == NULL)
		return_error(call, error);
	return container;
}

/* the same for a process; exec_id empty: the init process */
CocoonProcess *
cocoon_sandbox_lookup_process_or_return(CocoonSandbox *sandbox, CocoonTtrpcCall *call,
					const gchar *id, const gchar *exec_id)
{
	g_autoptr(GError) error = NULL;
	CocoonProcess *process = cocoon_sandbox_lookup_process(sandbox, id, exec_id, &error);

	if (process == NULL)
		return_error(call, error);
	return process;
}

gboolean
cocoon_process_stdio_attach(CocoonSandbox *sandbox, CocoonProcess *process, GError **error)
{
	return cocoon_pod_vm_stdio_attach(sandbox->vm, &process->stdio, process->terminal,
					  &process->stream_stdin, &process->stream_stdout,
					  &process->stream_stderr, error);
}

void
cocoon_process_stdio_detach(CocoonSandbox *sandbox, CocoonProcess *process)
{
	cocoon_pod_vm_stdio_detach(sandbox->vm, &process->stream_stdin, &process->stream_stdout,
				   &process->stream_stderr);
	cocoon_stdio_clear(&process->stdio);
}

/* ---------------------------------------------------------------- exits */

void
cocoon_process_answer_waiters(CocoonProcess *process)
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
	cocoon_process_answer_waiters(process);
	if (is_init(process->exec_id) && g_strcmp0(container->container_type, "sandbox") == 0)
		sandbox_end_pod(sandbox, container);
	else if (!is_init(process->exec_id) && container->init != NULL &&
		 container->init->exit_deferred && !container_has_live_execs(container))
		process_exited(sandbox, container->init, container->init->deferred_status,
			       container->init->deferred_at_us);
}

/* a process named for later, on the worker: by then it may be gone */
typedef struct {
	CocoonSandbox *sandbox;
	gchar *container_id;
	gchar *exec_id;
} ProcessKey;

static void
process_key_init(ProcessKey *key, CocoonSandbox *sandbox, CocoonProcess *process)
{
	key->sandbox = cocoon_sandbox_ref(sandbox);
	key->container_id = g_strdup(process->container->id);
	key->exec_id = g_strdup(process->exec_id);
}

static void
process_key_clear(ProcessKey *key)
{
	cocoon_sandbox_unref(key->sandbox);
	g_free(key->container_id);
	g_free(key->exec_id);
}

/* the process, or NULL when it is gone */
static CocoonProcess *
process_key_lookup(const ProcessKey *key)
{
	return cocoon_sandbox_lookup_process(key->sandbox, key->container_id, key->exec_id, NULL);
}

typedef struct {
	ProcessKey key;
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
	process_key_clear(&work->key);
	g_free(work);
}

static gboolean
exit_finish_on_worker(gpointer data)
{
	ExitWork *work = data;
	CocoonProcess *process = process_key_lookup(&work->key);

	if (process != NULL && process->status != CONTAINERD__V1__TYPES__STATUS__STOPPED) {
		process_exited(work->key.sandbox, process, work->exit_status, work->exited_at_us);
		cocoon_sandbox_notify(work->key.sandbox);
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

	if (!cocoon_pod_vm_stdio_drain(
		    work->key.sandbox->vm, work->streams, work->has_offsets ? work->offsets : NULL,
		    G_N_ELEMENTS(work->streams), EXIT_DRAIN_IDLE_US, start + EXIT_DRAIN_TIMEOUT_US))
		g_warning("container %s: output of %s not delivered %" G_GINT64_FORMAT
			  " ms after the exit (stdout to %" G_GUINT64_FORMAT
			  ", stderr to %" G_GUINT64_FORMAT "%s); reporting the exit",
			  work->key.container_id,
			  is_init(work->key.exec_id) ? "init" : work->key.exec_id,
			  (g_get_monotonic_time() - start) / 1000, work->offsets[0],
			  work->offsets[1], work->has_offsets ? "" : ", no offsets: to EOF");
	g_task_set_task_data(task, NULL, NULL);
	g_main_context_invoke_full(work->key.sandbox->context, G_PRIORITY_DEFAULT,
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
	process_key_init(&work->key, sandbox, process);
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
	ProcessKey key;
	CocoonAgentClient *agent;
} WaitWork;

static void
agent_wait_done(GObject *source, GAsyncResult *result, gpointer data)
{
	WaitWork *work = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Cocoon__Agent__V1__WaitProcessResponse) response =
		cocoon_agent_client_wait_process_finish(work->agent, result, &error);
	CocoonProcess *process = process_key_lookup(&work->key);
	guint32 status = 255;
	gint64 at_us = g_get_real_time();
	guint64 offsets[2] = {0, 0};
	gboolean has_offsets = FALSE;

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
			  work->key.sandbox->id, work->key.container_id, work->key.exec_id,
			  error->message);
	}
	if (process != NULL)
		process_exit_reported(work->key.sandbox, process, status, at_us,
				      has_offsets ? offsets : NULL);
	cocoon_agent_client_unref(work->agent);
	process_key_clear(&work->key);
	g_free(work);
}

/* on the worker, after a successful start: a long poll for the exit, answered on the worker */
void
cocoon_process_watch_exit(CocoonSandbox *sandbox, CocoonProcess *process)
{
	Cocoon__Agent__V1__WaitProcessRequest request =
		COCOON__AGENT__V1__WAIT_PROCESS_REQUEST__INIT;
	CocoonAgentClient *agent = cocoon_pod_vm_get_agent(sandbox->vm);
	WaitWork *work = g_new0(WaitWork, 1);

	request.container_id = process->container->id;
	request.exec_id = process->exec_id;
	process_key_init(&work->key, sandbox, process);
	work->agent = cocoon_agent_client_ref(agent);
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
void
cocoon_sandbox_fail_all(CocoonSandbox *sandbox, guint32 status)
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
void
cocoon_sandbox_abort_vm(CocoonSandbox *sandbox, const GError *reason)
{
	g_warning("sandbox %s: the guest does not answer (%s): stopping the VM; every process of "
		  "the pod exits with 137",
		  sandbox->id, reason->message);
	cocoon_pod_vm_abort(sandbox->vm);
	cocoon_sandbox_fail_all(sandbox, 128 + SIGKILL);
	cocoon_sandbox_notify(sandbox);
}
