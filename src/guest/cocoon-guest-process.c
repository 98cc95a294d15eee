/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-agent-private.h"

#include <errno.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "cocoon-fd.h"
#include "cocoon-fs.h"
#include "cocoon-guest-cgroup.h"
#include "cocoon-guest-spec.h"

/* exited exec processes a container keeps for late Waits before the oldest are forgotten */
#define EXITED_EXECS_MAX 256

const gchar *const container_state_names[] = {
	"creating", "created", "running", "paused", "stopped",
};

/* the id checks of every request */
gboolean
check_ids(const gchar *container_id, const gchar *exec_id, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (!cocoon_guest_validate_id("container id", container_id, &local) ||
	    (exec_id != NULL && exec_id[0] != '\0' &&
	     !cocoon_guest_validate_id("exec id", exec_id, &local))) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT, "%s",
			    local->message);
		return FALSE;
	}
	return TRUE;
}

Container *
lookup_container(CocoonGuestAgent *agent, const gchar *container_id, GError **error)
{
	Container *container;

	if (!check_ids(container_id, NULL, error))
		return NULL;
	container = g_hash_table_lookup(agent->containers, container_id);
	if (container == NULL) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_NOT_FOUND,
			    "container %s not found", container_id);
		return NULL;
	}
	return container;
}

/* exec_id empty: the init process */
Process *
lookup_process(CocoonGuestAgent *agent, const gchar *container_id, const gchar *exec_id,
	       GError **error)
{
	Container *container;
	Process *process;

	if (!check_ids(container_id, exec_id, error))
		return NULL;
	container = lookup_container(agent, container_id, error);
	if (container == NULL)
		return NULL;
	if (exec_id == NULL || exec_id[0] == '\0')
		return container->init;
	process = g_hash_table_lookup(container->execs, exec_id);
	if (process == NULL) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_NOT_FOUND,
			    "exec %s of container %s not found", exec_id, container_id);
		return NULL;
	}
	return process;
}

gchar *
process_name(Process *process)
{
	if (process->exec_id == NULL)
		return g_strdup_printf("container %s", process->container->id);
	return g_strdup_printf("exec %s of container %s", process->exec_id, process->container->id);
}

/* processes */

Process *
process_new(Container *container, const gchar *exec_id,
	    const Cocoon__Agent__V1__StdioStreams *stdio)
{
	Process *process = g_new0(Process, 1);

	process->container = container;
	process->exec_id = exec_id != NULL && exec_id[0] != '\0' ? g_strdup(exec_id) : NULL;
	process->serial = ++container->agent->serial;
	process->tty_fd = -1;
	process->waiters = g_ptr_array_new();
	if (stdio != NULL) {
		process->terminal = stdio->terminal;
		process->stdin_id = stdio->stdin;
		process->stdout_id = stdio->stdout;
		/* a terminal has one output */
		process->stderr_id = stdio->terminal ? 0 : stdio->stderr;
		process->rows = stdio->rows;
		process->cols = stdio->cols;
	}
	return process;
}

static void
process_remove_streams(Process *process)
{
	CocoonGuestStdio *stdio = process->container->agent->stdio;

	if (process->registered & STREAM_STDIN)
		cocoon_guest_stdio_remove(stdio, process->stdin_id);
	if (process->registered & STREAM_STDOUT)
		cocoon_guest_stdio_remove(stdio, process->stdout_id);
	if (process->registered & STREAM_STDERR)
		cocoon_guest_stdio_remove(stdio, process->stderr_id);
	process->registered = 0;
	process->outputs_pending = 0;
}

/* answers the remaining waiters with error (the process is going away) */
void
process_fail_waiters(Process *process, CocoonTtrpcCode code, const gchar *message)
{
	for (guint i = 0; i < process->waiters->len; i++)
		cocoon_ttrpc_call_return_error(g_ptr_array_index(process->waiters, i), code, "%s",
					       message);
	g_ptr_array_set_size(process->waiters, 0);
}

void
process_free(Process *process)
{
	if (process == NULL)
		return;
	if (process->pid > 0 && !process->exited)
		cocoon_guest_reaper_unwatch(process->container->agent->reaper, process->pid);
	if (process->drain_timeout_id != 0)
		g_source_remove(process->drain_timeout_id);
	if (process->waiters->len > 0) {
		g_autofree gchar *name = process_name(process);
		g_autofree gchar *message = g_strdup_printf("%s was removed", name);
		process_fail_waiters(process, COCOON_TTRPC_NOT_FOUND, message);
	}
	g_ptr_array_unref(process->waiters);
	process_remove_streams(process);
	cocoon_fd_closep(&process->tty_fd);
	g_free(process->exec_id);
	g_free(process);
}

static void
process_answer_waiters(Process *process)
{
	Cocoon__Agent__V1__WaitProcessResponse response =
		COCOON__AGENT__V1__WAIT_PROCESS_RESPONSE__INIT;

	response.exit_status = process->exit_status;
	response.exited_at_ns = process->exited_at_ns;
	response.oom_killed = process->oom_killed;
	response.output_offsets = TRUE;
	response.stdout_offset = process->stdout_offset;
	response.stderr_offset = process->stderr_offset;
	for (guint i = 0; i < process->waiters->len; i++)
		cocoon_ttrpc_call_return_message(g_ptr_array_index(process->waiters, i),
						 &response.base);
	g_ptr_array_set_size(process->waiters, 0);
}

/* where the output ends now: a stream that is gone (or never was) has nothing left to wait for */
static void
process_take_output_offsets(Process *process)
{
	CocoonGuestStdio *stdio = process->container->agent->stdio;

	process->stdout_offset = 0;
	process->stderr_offset = 0;
	if (process->registered & STREAM_STDOUT)
		(void)cocoon_guest_stdio_get_output_offset(stdio, process->stdout_id,
							   &process->stdout_offset);
	if (process->registered & STREAM_STDERR)
		(void)cocoon_guest_stdio_get_output_offset(stdio, process->stderr_id,
							   &process->stderr_offset);
}

/*
 * Wait answers once the exit is known and where the output ends: pipes at the exit, a terminal
 * after its EOF or the drain timeout (which zeroes outputs_pending)
 */
static void
process_check_reported(Process *process)
{
	if (!process->exited || process->reported || process->outputs_pending > 0)
		return;
	process->reported = TRUE;
	if (process->drain_timeout_id != 0) {
		g_source_remove(process->drain_timeout_id);
		process->drain_timeout_id = 0;
	}
	process_take_output_offsets(process);
	/* stdin has no reader any more */
	if (process->registered & STREAM_STDIN) {
		cocoon_guest_stdio_remove(process->container->agent->stdio, process->stdin_id);
		process->registered &= ~STREAM_STDIN;
	}
	process_answer_waiters(process);
}

static gboolean
process_drain_timeout_cb(gpointer user_data)
{
	Process *process = user_data;
	g_autofree gchar *name = process_name(process);

	/* a daemonized grandchild keeps the terminal open: report the exit anyway */
	g_info("%s: terminal still open %d ms after the exit, reporting the exit", name,
	       COCOON_GUEST_DRAIN_TIMEOUT_MS);
	process->drain_timeout_id = 0;
	process->outputs_pending = 0;
	process_check_reported(process);
	return G_SOURCE_REMOVE;
}

void
process_output_eof_cb(guint32 stream_id, gpointer user_data)
{
	Process *process = user_data;

	if (process->outputs_pending > 0)
		process->outputs_pending--;
	process_check_reported(process);
}

static void
process_exited_cb(pid_t pid, int wait_status, gint64 exited_at_ns, gpointer user_data)
{
	Process *process = user_data;
	Container *container = process->container;
	g_autofree gchar *name = process_name(process);

	process->exited = TRUE;
	process->exit_status = cocoon_guest_exit_status_from_wait(wait_status);
	process->exited_at_ns = exited_at_ns;
	if (WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL) {
		guint64 oom_kills = 0;
		if (cocoon_guest_cgroup_read_key(container->cgroup_dir, "memory.events", "oom_kill",
						 &oom_kills, NULL) &&
		    oom_kills > process->oom_kills_at_start)
			process->oom_killed = TRUE;
	}
	g_info("%s: pid %d exited with status %u%s", name, (int)pid, process->exit_status,
	       process->oom_killed ? " (oom killed)" : "");
	if (process == container->init &&
	    (container->state == CONTAINER_RUNNING || container->state == CONTAINER_PAUSED ||
	     container->state == CONTAINER_CREATED))
		container->state = CONTAINER_STOPPED;
	/*
	 * every byte the process wrote to a pipe is in it now: the offsets say where its output
	 * ends, and a descendant holding the pipe open delays nothing. A pty's bytes may still be
	 * on their way through the line discipline: its EOF is waited for, bounded.
	 */
	if (!process->terminal)
		process->outputs_pending = 0;
	else if (process->outputs_pending > 0)
		process->drain_timeout_id = g_timeout_add(COCOON_GUEST_DRAIN_TIMEOUT_MS,
							  process_drain_timeout_cb, process);
	process_check_reported(process);
}

/* the process runs as pid: watch its exit */
void
process_started(Process *process, pid_t pid)
{
	Container *container = process->container;

	process->pid = pid;
	(void)cocoon_guest_cgroup_read_key(container->cgroup_dir, "memory.events", "oom_kill",
					   &process->oom_kills_at_start, NULL);
	/* may call process_exited_cb at once */
	cocoon_guest_reaper_watch(container->agent->reaper, pid, process_exited_cb, process);
}

/* a Wait arrived */
void
process_add_waiter(Process *process, CocoonTtrpcCall *call)
{
	if (process->reported) {
		g_ptr_array_add(process->waiters, call);
		process_answer_waiters(process);
		return;
	}
	/* drop the calls whose callers gave up, so retried Waits do not pile up */
	for (guint i = 0; i < process->waiters->len;) {
		CocoonTtrpcCall *old = g_ptr_array_index(process->waiters, i);
		if (cocoon_ttrpc_call_is_cancelled(old)) {
			cocoon_ttrpc_call_return_error(old, COCOON_TTRPC_CANCELLED, "cancelled");
			g_ptr_array_remove_index_fast(process->waiters, i);
			continue;
		}
		i++;
	}
	g_ptr_array_add(process->waiters, call);
}

/* exited, reported exec processes beyond the limit are forgotten, oldest first */
void
container_trim_execs(Container *container)
{
	while (g_hash_table_size(container->execs) > EXITED_EXECS_MAX) {
		GHashTableIter iter;
		gpointer value;
		Process *oldest = NULL;

		g_hash_table_iter_init(&iter, container->execs);
		while (g_hash_table_iter_next(&iter, NULL, &value)) {
			Process *process = value;
			if (process->reported && process->waiters->len == 0 &&
			    (oldest == NULL || process->serial < oldest->serial))
				oldest = process;
		}
		if (oldest == NULL)
			break;
		g_hash_table_remove(container->execs, oldest->exec_id);
	}
}

/* Wait answers for processes the removal ends: the real exit if known, else SIGKILL now */
void
process_report_removed(Process *process)
{
	if (process->reported || process->failed)
		return;
	if (!process->exited) {
		process->exited = TRUE;
		process->exit_status = 128 + SIGKILL;
		process->exited_at_ns = cocoon_guest_now_ns();
	}
	process->outputs_pending = 0;
	process_check_reported(process);
}

void
container_kill_all(Container *container)
{
	GHashTableIter iter;
	gpointer value;

	(void)cocoon_guest_cgroup_signal(container->cgroup_dir, SIGKILL, NULL);
	/* also what is not (or no longer) in the cgroup */
	if (container->init->pid > 0 && !container->init->exited)
		(void)kill(container->init->pid, SIGKILL);
	g_hash_table_iter_init(&iter, container->execs);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Process *process = value;
		if (process->pid > 0 && !process->exited)
			(void)kill(process->pid, SIGKILL);
	}
}

void
container_free(Container *container)
{
	CocoonGuestAgent *agent = container->agent;

	if (container->oom_watch >= 0) {
		g_hash_table_remove(agent->oom_watches, GINT_TO_POINTER(container->oom_watch));
		if (agent->inotify_fd >= 0)
			(void)inotify_rm_watch(agent->inotify_fd, container->oom_watch);
	}
	g_hash_table_unref(container->execs);
	process_free(container->init);
	if (container->pod_shm_dir != NULL) {
		g_autofree gchar *pod_dir = g_path_get_dirname(container->pod_shm_dir);
		if (umount2(container->pod_shm_dir, MNT_DETACH) < 0 && errno != EINVAL)
			g_warning("container %s: umount %s: %s", container->id,
				  container->pod_shm_dir, g_strerror(errno));
		(void)rmdir(container->pod_shm_dir);
		(void)rmdir(pod_dir);
		g_free(container->pod_shm_dir);
	}
	cocoon_remove_tree(container->bundle);
	g_free(container->bundle);
	g_free(container->cgroup_dir);
	g_free(container->id);
	g_free(container);
}
