/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-agent-private.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-guest-cgroup.h"
#include "cocoon-guest-spec.h"

/* how long after the Shutdown reply the VM ends */
#define SHUTDOWN_DELAY_MS 200

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* errors */

void
return_error(CocoonTtrpcCall *call, const GError *error)
{
	if (error->domain == COCOON_GUEST_SPEC_ERROR) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT, "%s",
					       error->message);
		return;
	}
	cocoon_ttrpc_call_return_gerror(call, error);
}

/* FAILED_PRECONDITION: "container c1 is stopped, not running" */
void
return_wrong_state(CocoonTtrpcCall *call, const Container *container, const gchar *wanted)
{
	cocoon_ttrpc_call_return_error(
		call, COCOON_TTRPC_FAILED_PRECONDITION, "container %s is %s, not %s", container->id,
		container->removing ? "being removed" : container_state_names[container->state],
		wanted);
}

/* the handlers' opening: the container, or NULL once the error went back to the caller */
Container *
lookup_container_or_return(CocoonTtrpcCall *call, CocoonGuestAgent *agent,
			   const gchar *container_id)
{
	g_autoptr(GError) error = NULL;
	Container *container = lookup_container(agent, container_id, &error);

	if (container == NULL)
		return_error(call, error);
	return container;
}

/* the same for a process; exec_id empty: the init process */
Process *
lookup_process_or_return(CocoonTtrpcCall *call, CocoonGuestAgent *agent, const gchar *container_id,
			 const gchar *exec_id)
{
	g_autoptr(GError) error = NULL;
	Process *process = lookup_process(agent, container_id, exec_id, &error);

	if (process == NULL)
		return_error(call, error);
	return process;
}

/* error with the request's subject in front, as a status: a bad spec is the caller's fault */
GError *
wrap_error(const GError *error, const gchar *subject)
{
	CocoonTtrpcCode code = error->domain == COCOON_GUEST_SPEC_ERROR
				       ? COCOON_TTRPC_INVALID_ARGUMENT
				       : cocoon_ttrpc_code_from_error(error);

	return g_error_new(COCOON_TTRPC_ERROR, code, "%s: %s", subject, error->message);
}

/* WaitProcess */

AGENT_HANDLER(wait_process, WaitProcess, RESPONSE)
{
	Process *process;

	process = lookup_process_or_return(call, agent, request->container_id, request->exec_id);
	if (process == NULL)
		return;
	process_add_waiter(process, call);
}

/* SignalProcess */

AGENT_HANDLER(signal_process, SignalProcess, EMPTY)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = NULL;
	Process *process;

	process = lookup_process_or_return(call, agent, request->container_id, request->exec_id);
	if (process == NULL)
		return;
	name = process_name(process);
	if (request->signal >= (guint32)_NSIG) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "%s: signal %u is not valid", name, request->signal);
		return;
	}
	if (request->all && process->exec_id == NULL) {
		/* every process of the container, even after its init is gone */
		if (!cocoon_guest_cgroup_signal(process->container->cgroup_dir,
						(int)request->signal, &error) &&
		    (process->pid == 0 || process->exited)) {
			cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_NOT_FOUND,
						       "%s: no processes: %s", name,
						       error->message);
			return;
		}
		if (process->pid > 0 && !process->exited)
			(void)kill(process->pid, (int)request->signal);
		cocoon_ttrpc_call_return_message(call, NULL);
		return;
	}
	if (process->pid == 0 || process->exited) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_NOT_FOUND, "%s: %s", name,
					       process->exited ? "process already finished"
							       : "process not started");
		return;
	}
	if (kill(process->pid, (int)request->signal) < 0) {
		cocoon_ttrpc_call_return_error(
			call, errno == ESRCH ? COCOON_TTRPC_NOT_FOUND : COCOON_TTRPC_INTERNAL,
			"%s: kill %d %u: %s", name, (int)process->pid, request->signal,
			g_strerror(errno));
		return;
	}
	g_debug("%s: signal %u sent to pid %d", name, request->signal, (int)process->pid);
	cocoon_ttrpc_call_return_message(call, NULL);
}

/* ResizeTty */

AGENT_HANDLER(resize_tty, ResizeTty, EMPTY)
{
	struct winsize size = {0};
	Process *process;

	process = lookup_process_or_return(call, agent, request->container_id, request->exec_id);
	if (process == NULL)
		return;
	if (process->tty_fd < 0) {
		g_autofree gchar *name = process_name(process);
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_FAILED_PRECONDITION,
					       "%s has no terminal", name);
		return;
	}
	size.ws_row = (unsigned short)MIN(request->rows, G_MAXUSHORT);
	size.ws_col = (unsigned short)MIN(request->cols, G_MAXUSHORT);
	if (ioctl(process->tty_fd, TIOCSWINSZ, &size) < 0) {
		g_autofree gchar *name = process_name(process);
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INTERNAL, "%s: TIOCSWINSZ: %s",
					       name, g_strerror(errno));
		return;
	}
	cocoon_ttrpc_call_return_message(call, NULL);
}

/* CloseStdin */

AGENT_HANDLER(close_stdin, CloseStdin, EMPTY)
{
	Process *process;

	process = lookup_process_or_return(call, agent, request->container_id, request->exec_id);
	if (process == NULL)
		return;
	/* a terminal's stdin is its master: closing our copy does not end the pty */
	if (process->registered & STREAM_STDIN)
		cocoon_guest_stdio_close_input(agent->stdio, process->stdin_id);
	cocoon_ttrpc_call_return_message(call, NULL);
}

/* ListProcesses */

/* unreaped or exiting tasks a listing may leave out before it is no longer the whole truth */
#define DYING_TASKS_MAX 64

AGENT_HANDLER(list_processes, ListProcesses, RESPONSE)
{
	g_autoptr(GError) error = NULL;
	Cocoon__Agent__V1__ListProcessesResponse response =
		COCOON__AGENT__V1__LIST_PROCESSES_RESPONSE__INIT;
	g_autoptr(GHashTable) exec_pids = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_autoptr(GArray) pids = NULL;
	g_autofree Cocoon__Agent__V1__ProcessEntry *entries = NULL;
	g_autofree Cocoon__Agent__V1__ProcessEntry **pointers = NULL;
	GHashTableIter iter;
	gpointer value;
	Container *container;
	guint64 live = 0;
	guint64 charged = 0;

	container = lookup_container_or_return(call, agent, request->container_id);
	if (container == NULL)
		return;
	g_hash_table_iter_init(&iter, container->execs);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Process *process = value;
		if (process->pid > 0 && !process->exited)
			g_hash_table_insert(exec_pids, GINT_TO_POINTER(process->pid),
					    process->exec_id);
	}
	pids = cocoon_guest_cgroup_read_procs(container->cgroup_dir, &error);
	if (pids == NULL) {
		gboolean running = container->init->pid > 0 && !container->init->exited;

		/*
		 * a running container's processes are all in its cgroup: the init alone would be a
		 * partial list that looks complete (a fork bomb's ps did that)
		 */
		if (running || !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
			cocoon_ttrpc_call_return_error(
				call, COCOON_TTRPC_UNAVAILABLE,
				"container %s: cannot list its processes: %s", container->id,
				error->message);
			return;
		}
		/* no cgroup (yet, or any more) and nothing running */
		pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
	} else if (cocoon_guest_cgroup_count_tasks(container->cgroup_dir, &live, &charged, NULL) &&
		   charged > live + MAX(live, DYING_TASKS_MAX)) {
		/*
		 * cgroup.procs leaves out exiting and unreaped tasks: under a fork bomb it lists
		 * the init alone while the cgroup holds every pid it may have
		 */
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_RESOURCE_EXHAUSTED,
			"container %s: cannot list its processes: %u listed, but its cgroup holds "
			"%" G_GUINT64_FORMAT " tasks (%" G_GUINT64_FORMAT
			" exiting or unreaped: a fork bomb?)",
			container->id, pids->len, charged, charged - live);
		return;
	}
	entries = g_new0(Cocoon__Agent__V1__ProcessEntry, pids->len);
	pointers = g_new0(Cocoon__Agent__V1__ProcessEntry *, pids->len);
	for (guint i = 0; i < pids->len; i++) {
		pid_t pid = g_array_index(pids, pid_t, i);
		const gchar *exec_id = g_hash_table_lookup(exec_pids, GINT_TO_POINTER(pid));

		cocoon__agent__v1__process_entry__init(&entries[i]);
		entries[i].pid = (guint32)pid;
		entries[i].exec_id = (gchar *)(exec_id != NULL ? exec_id : "");
		pointers[i] = &entries[i];
	}
	response.n_processes = pids->len;
	response.processes = pointers;
	cocoon_ttrpc_call_return_message(call, &response.base);
}

/* StatsContainer */

AGENT_HANDLER(stats_container, StatsContainer, RESPONSE)
{
	g_autoptr(GError) error = NULL;
	Cocoon__Agent__V1__StatsContainerResponse response =
		COCOON__AGENT__V1__STATS_CONTAINER_RESPONSE__INIT;
	g_autoptr(CocoonGuestCgroupMetrics) metrics = NULL;
	Container *container;

	container = lookup_container_or_return(call, agent, request->container_id);
	if (container == NULL)
		return;
	metrics = cocoon_guest_cgroup_metrics_read(container->cgroup_dir, &error);
	if (metrics == NULL) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_FAILED_PRECONDITION,
					       "container %s: %s", container->id, error->message);
		return;
	}
	response.metrics =
		(Io__Containerd__Cgroups__V2__Metrics *)cocoon_guest_cgroup_metrics_get(metrics);
	cocoon_ttrpc_call_return_message(call, &response.base);
}

/* PauseContainer, ResumeContainer */

static void
pause_resume(CocoonTtrpcCall *call, CocoonGuestAgent *agent, const gchar *container_id,
	     gboolean pause)
{
	g_autoptr(GError) error = NULL;
	Container *container = lookup_container_or_return(call, agent, container_id);
	ContainerState from = pause ? CONTAINER_RUNNING : CONTAINER_PAUSED;

	if (container == NULL)
		return;
	if (container->state != from || container->removing) {
		return_wrong_state(call, container, container_state_names[from]);
		return;
	}
	if (!cocoon_guest_cgroup_freeze(container->cgroup_dir, pause, &error)) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INTERNAL, "container %s: %s",
					       container->id, error->message);
		return;
	}
	container->state = pause ? CONTAINER_PAUSED : CONTAINER_RUNNING;
	g_info("container %s: %s", container->id, pause ? "paused" : "resumed");
	cocoon_ttrpc_call_return_message(call, NULL);
}

AGENT_HANDLER(pause_container, PauseContainer, EMPTY)
{
	pause_resume(call, agent, request->container_id, TRUE);
}

AGENT_HANDLER(resume_container, ResumeContainer, EMPTY)
{
	pause_resume(call, agent, request->container_id, FALSE);
}

/* sandbox level */

AGENT_HANDLER(ping, Ping, RESPONSE)
{
	Cocoon__Agent__V1__PingResponse response = COCOON__AGENT__V1__PING_RESPONSE__INIT;
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	response.agent_version = (gchar *)COCOON_VERSION;
	response.uptime_ns = (guint64)ts.tv_sec * 1000000000u + (guint64)ts.tv_nsec;
	cocoon_ttrpc_call_return_message(call, &response.base);
}

static void
read_meminfo(guint64 *ret_total, guint64 *ret_available)
{
	g_autofree gchar *contents = cocoon_guest_read_small_file("/proc/meminfo", NULL);
	g_auto(GStrv) lines = NULL;

	*ret_total = 0;
	*ret_available = 0;
	if (contents == NULL)
		return;
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		guint64 kib = 0;
		if (sscanf(lines[i], "MemTotal: %" G_GUINT64_FORMAT, &kib) == 1)
			*ret_total = kib * 1024;
		else if (sscanf(lines[i], "MemAvailable: %" G_GUINT64_FORMAT, &kib) == 1)
			*ret_available = kib * 1024;
	}
}

AGENT_HANDLER(guest_info, GuestInfo, RESPONSE)
{
	Cocoon__Agent__V1__GuestInfoResponse response =
		COCOON__AGENT__V1__GUEST_INFO_RESPONSE__INIT;
	struct utsname uts;
	struct statfs st;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	uname(&uts);
	response.agent_version = (gchar *)COCOON_VERSION;
	response.kernel_release = uts.release;
	response.online_cpus = cpus > 0 ? (guint32)cpus : 0;
	read_meminfo(&response.mem_total_bytes, &response.mem_available_bytes);
	response.cgroup_mode =
		(gchar *)(statfs(agent->cgroup_root, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC
				  ? "v2"
				  : "unknown");
	response.oci_runtime = agent->oci_runtime;
	cocoon_ttrpc_call_return_message(call, &response.base);
}

static gboolean
shutdown_cb(gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;

	agent->shutdown_id = 0;
	if (agent->shutdown_func != NULL)
		agent->shutdown_func(agent->shutdown_data);
	return G_SOURCE_REMOVE;
}

AGENT_HANDLER(shutdown, Shutdown, EMPTY)
{
	GHashTableIter iter;
	gpointer value;

	g_info("shutdown requested");
	g_hash_table_iter_init(&iter, agent->containers);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		container_kill_all(value);
	sync();
	cocoon_ttrpc_call_return_message(call, NULL);
	/* let the reply reach the host before the VM ends */
	if (agent->shutdown_id == 0)
		agent->shutdown_id = g_timeout_add(SHUTDOWN_DELAY_MS, shutdown_cb, agent);
}

/* the network is the VM's own only as PID 1 (cocoon-agent-main.c): else, like no method at all */
AGENT_HANDLER(setup_network, SetupNetwork, EMPTY)
{
	if (agent->network == NULL) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_UNIMPLEMENTED, "method %s",
					       "SetupNetwork");
		return;
	}
	cocoon_guest_network_handle_setup(agent->network, call, request);
}
