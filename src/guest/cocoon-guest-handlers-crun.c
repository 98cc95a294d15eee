/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-agent-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cocoon-fd.h"
#include "cocoon-fs.h"
#include "cocoon-guest-cgroup.h"
#include "cocoon-guest-crun.h"
#include "cocoon-guest-init.h"
#include "cocoon-guest-spec.h"

/* a request's JSON documents */
#define SPEC_JSON_MAX (4u << 20)

/* files */

static gboolean
write_file(const gchar *path, const gchar *contents, GError **error)
{
	return g_file_set_contents_full(path, contents, -1, G_FILE_SET_CONTENTS_NONE, 0600, error);
}

static gboolean
read_pid_file(const gchar *path, pid_t *ret_pid, GError **error)
{
	g_autofree gchar *contents = NULL;
	guint64 value = 0;

	if (!g_file_get_contents(path, &contents, NULL, error))
		return FALSE;
	if (!g_ascii_string_to_unsigned(g_strstrip(contents), 10, 1, G_MAXINT32, &value, error)) {
		g_prefix_error(error, "pid file %s: ", path);
		return FALSE;
	}
	*ret_pid = (pid_t)value;
	return TRUE;
}

/* the share is mounted on first use in the guest (the host may add it late) */
static gboolean
ensure_share(CocoonGuestAgent *agent, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (!agent->init)
		return TRUE;
	if (!cocoon_guest_mount_share(agent->share_dir, &local)) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION, "%s",
			    local->message);
		return FALSE;
	}
	return TRUE;
}

/* a crun call on behalf of one request on one container */
typedef struct {
	CocoonGuestAgent *agent;
	CocoonTtrpcCall *call;
	Container *container;
	Process *process; /* CreateContainer (the init), ExecProcess */
	ProcessIo io;
	gchar *pid_file;
	gchar *file; /* a file to remove afterwards */
} Operation;

static Operation *
operation_new(CocoonGuestAgent *agent, CocoonTtrpcCall *call, Container *container)
{
	Operation *operation = g_new0(Operation, 1);

	operation->agent = agent;
	operation->call = call;
	operation->container = container;
	operation->io = (ProcessIo){-1, -1, -1, -1, NULL};
	container->operations++;
	return operation;
}

static void
operation_free(Operation *operation)
{
	operation->container->operations--;
	process_io_clear(&operation->io);
	cocoon_clear_file(&operation->file);
	g_free(operation->pid_file);
	g_free(operation);
}

/* crun create and exec: the operation's process, a container's init or an exec */

/* crun could not make the process: it goes again, a container's init with its container */
static void
process_create_fail(Operation *operation, const GError *error)
{
	CocoonGuestAgent *agent = operation->agent;
	Container *container = operation->container;
	Process *process = operation->process;
	g_autofree gchar *name = process_name(process);

	if (process->exec_id == NULL)
		g_warning("%s: create failed: %s", name, error->message);
	else
		g_warning("%s failed: %s", name, error->message);
	return_error(operation->call, error);
	process->failed = TRUE;
	process_fail_waiters(process, COCOON_TTRPC_NOT_FOUND, error->message);
	operation_free(operation);
	/* container_free removes the bundle and the streams */
	if (process->exec_id == NULL)
		g_hash_table_remove(agent->containers, container->id);
	else
		g_hash_table_remove(container->execs, process->exec_id);
}

/* runs crun with args, then the pid file, the console socket and the container's id */
static void
run_crun_process(Operation *operation, GPtrArray *args, CocoonGuestCrunFunc func)
{
	CocoonGuestCrunStdio stdio = process_io_crun_stdio(&operation->io);

	g_ptr_array_add(args, g_strdup_printf("--pid-file=%s", operation->pid_file));
	if (operation->io.console_path != NULL)
		g_ptr_array_add(args,
				g_strdup_printf("--console-socket=%s", operation->io.console_path));
	g_ptr_array_add(args, g_strdup(operation->container->id));
	g_ptr_array_add(args, NULL);
	cocoon_guest_crun_run(operation->agent->crun, (const gchar *const *)args->pdata, &stdio,
			      func, operation);
	/* the child has its copies now */
	cocoon_fd_closep(&operation->io.child_stdin);
	cocoon_fd_closep(&operation->io.child_stdout);
	cocoon_fd_closep(&operation->io.child_stderr);
}

/*
 * the start of create_done_cb and exec_done_cb: the process's pid from the pid file crun wrote,
 * and its stdio; FALSE when it did not come up (the operation failed and is freed)
 */
static gboolean
process_created(Operation *operation, const GError *crun_error, pid_t *ret_pid)
{
	Process *process = operation->process;
	g_autoptr(GError) error = NULL;
	pid_t pid = 0;

	if (crun_error != NULL) {
		process_create_fail(operation, crun_error);
		return FALSE;
	}
	if (!read_pid_file(operation->pid_file, &pid, &error) ||
	    !process_io_finish(operation->agent, process, &operation->io, &error)) {
		g_autofree gchar *name = process_name(process);
		g_autoptr(GError) wrapped = g_error_new(COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
							"%s: %s", name, error->message);

		/* crun made it: take it down again (a container's init: all of the container) */
		if (process->exec_id == NULL)
			(void)cocoon_guest_cgroup_signal(operation->container->cgroup_dir, SIGKILL,
							 NULL);
		else if (pid > 0)
			(void)kill(pid, SIGKILL);
		process_create_fail(operation, wrapped);
		return FALSE;
	}
	*ret_pid = pid;
	return TRUE;
}

/* CreateContainer */

static void
create_done_cb(const GError *crun_error, const gchar *output, gpointer user_data)
{
	Operation *operation = user_data;
	Container *container = operation->container;
	Cocoon__Agent__V1__CreateContainerResponse response =
		COCOON__AGENT__V1__CREATE_CONTAINER_RESPONSE__INIT;
	pid_t pid = 0;

	if (!process_created(operation, crun_error, &pid))
		return;
	container->state = CONTAINER_CREATED;
	watch_oom(operation->agent, container);
	process_started(container->init, pid);
	g_info("container %s: created, init pid %d", container->id, (int)pid);
	response.pid = (guint32)pid;
	cocoon_ttrpc_call_return_message(operation->call, &response.base);
	operation_free(operation);
}

/*
 * virtio-fs announces each host mount in the share (a pod volume, <share>/.volumes/<n>) as a
 * submount, which the guest kernel mounts on first use, a new superblock each time, in the mount
 * namespace that walked there first. crun walks there from the container's new namespace: two
 * containers of a pod would get two superblocks of one volume, two inodes per file, each with its
 * own page cache and its own locks (virtiofsd leaves locks to the guest kernel). Walking the
 * sources here first mounts them once, in the agent's namespace, which every container's
 * namespace is copied from.
 */
static void
share_sources_automount(CocoonGuestAgent *agent, const gchar *container_id,
			const CocoonGuestSpec *spec)
{
	g_autofree gchar *prefix = g_strconcat(agent->share_dir, "/", NULL);

	for (guint i = 0; i < spec->bind_sources->len; i++) {
		const gchar *source = g_ptr_array_index(spec->bind_sources, i);
		cocoon_autofd int fd = -1;

		if (!g_str_has_prefix(source, prefix))
			continue;
		/* opening a directory mounts what it walks onto; stat(2) would not
		 * (AT_NO_AUTOMOUNT). A file is no submount: ENOTDIR is fine */
		fd = open(source, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 && errno != ENOTDIR)
			g_debug("container %s: bind source %s: %s", container_id, source,
				g_strerror(errno));
	}
}

/* CocoonGuestPodLookup: a CRI pod's sandbox container, its namespaces when its init runs */
static gboolean
pod_lookup(const gchar *sandbox_id, CocoonGuestPod *ret_pod, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	Container *sandbox = g_hash_table_lookup(agent->containers, sandbox_id);

	if (sandbox == NULL)
		return FALSE;
	if (sandbox->init->pid > 0 && !sandbox->init->exited)
		ret_pod->sandbox_pid = sandbox->init->pid;
	ret_pod->shm_dir = sandbox->pod_shm_dir;
	return TRUE;
}

/* a CRI pod sandbox's /dev/shm, which its app containers bind too (a tmpfs of the pod's) */
static gboolean
pod_shm_mount(Container *container, CocoonGuestSpec *spec, GError **error)
{
	if (g_mkdir_with_parents(spec->pod_shm_dir, 0755) < 0) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL, "mkdir %s: %s",
			    spec->pod_shm_dir, g_strerror(errno));
		return FALSE;
	}
	if (mount("shm", spec->pod_shm_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  spec->pod_shm_options) < 0) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
			    "the pod's /dev/shm on %s (%s): %s", spec->pod_shm_dir,
			    spec->pod_shm_options, g_strerror(errno));
		return FALSE;
	}
	container->pod_shm_dir = g_steal_pointer(&spec->pod_shm_dir);
	return TRUE;
}

/* the share, the rootfs and the rewritten spec of a CreateContainer */
static CocoonGuestSpec *
create_prepare_spec(CocoonGuestAgent *agent,
		    const Cocoon__Agent__V1__CreateContainerRequest *request, GError **error)
{
	g_autofree gchar *rootfs = NULL;
	g_autoptr(CocoonGuestSpec) spec = NULL;

	if (!ensure_share(agent, error))
		return NULL;
	rootfs = cocoon_guest_resolve_rootfs(agent->share_dir, request->rootfs, error);
	if (rootfs == NULL)
		return NULL;
	spec = cocoon_guest_spec_patch((const gchar *)request->spec_json.data,
				       request->spec_json.len, request->container_id, rootfs,
				       request->stdio != NULL && request->stdio->terminal,
				       pod_lookup, agent, error);
	if (spec != NULL)
		share_sources_automount(agent, request->container_id, spec);
	return g_steal_pointer(&spec);
}

AGENT_HANDLER(create_container, CreateContainer, RESPONSE)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonGuestSpec) spec = NULL;
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *config_path = NULL;
	g_autofree gchar *subject = NULL;
	Operation *operation;
	Container *container;

	if (!check_ids(request->container_id, NULL, &error)) {
		return_error(call, error);
		return;
	}
	if (g_hash_table_contains(agent->containers, request->container_id)) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_ALREADY_EXISTS,
					       "container %s already exists",
					       request->container_id);
		return;
	}
	if (request->spec_json.len > SPEC_JSON_MAX) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "container %s: spec is larger than %u bytes",
					       request->container_id, SPEC_JSON_MAX);
		return;
	}
	subject = g_strdup_printf("container %s", request->container_id);
	spec = create_prepare_spec(agent, request, &error);
	if (spec == NULL) {
		g_autoptr(GError) wrapped = wrap_error(error, subject);
		g_warning("%s", wrapped->message);
		return_error(call, wrapped);
		return;
	}

	container = g_new0(Container, 1);
	container->agent = agent;
	container->id = g_strdup(request->container_id);
	container->bundle = g_build_filename(agent->containers_dir, container->id, NULL);
	container->cgroup_dir = g_build_filename(agent->cgroup_root, spec->cgroups_path, NULL);
	container->state = CONTAINER_CREATING;
	container->oom_watch = -1;
	container->execs =
		g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)process_free);
	container->init = process_new(container, NULL, request->stdio);
	g_hash_table_insert(agent->containers, container->id, container);

	operation = operation_new(agent, call, container);
	operation->process = container->init;
	operation->pid_file = g_build_filename(container->bundle, "init.pid", NULL);

	cocoon_remove_tree(container->bundle);
	config_path = g_build_filename(container->bundle, "config.json", NULL);
	if (g_mkdir_with_parents(container->bundle, 0700) < 0) {
		g_set_error(&error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
			    "container %s: bundle %s: %s", container->id, container->bundle,
			    g_strerror(errno));
		process_create_fail(operation, error);
		return;
	}
	if (!write_file(config_path, spec->config_json, &error) ||
	    (spec->pod_shm_dir != NULL && !pod_shm_mount(container, spec, &error)) ||
	    !process_io_prepare(agent, container->init, &operation->io, &error)) {
		g_autoptr(GError) wrapped = wrap_error(error, subject);
		process_create_fail(operation, wrapped);
		return;
	}
	if (spec->guest_hostname != NULL && agent->init &&
	    sethostname(spec->guest_hostname, strlen(spec->guest_hostname)) < 0)
		g_warning("container %s: hostname %s: %s", container->id, spec->guest_hostname,
			  g_strerror(errno));

	g_ptr_array_add(args, g_strdup("create"));
	g_ptr_array_add(args, g_strdup("--no-pivot"));
	g_ptr_array_add(args, g_strdup_printf("--bundle=%s", container->bundle));
	run_crun_process(operation, args, create_done_cb);
}

/* StartContainer */

static void
start_done_cb(const GError *crun_error, const gchar *output, gpointer user_data)
{
	Operation *operation = user_data;
	Container *container = operation->container;
	Cocoon__Agent__V1__StartContainerResponse response =
		COCOON__AGENT__V1__START_CONTAINER_RESPONSE__INIT;

	/* the init may be gone already: the container is stopped, the start still happened */
	if (crun_error != NULL) {
		g_warning("container %s: start failed: %s", container->id, crun_error->message);
		container->state = container->init->exited ? CONTAINER_STOPPED : CONTAINER_CREATED;
		return_error(operation->call, crun_error);
		operation_free(operation);
		return;
	}
	container->state = container->init->exited ? CONTAINER_STOPPED : CONTAINER_RUNNING;
	g_info("container %s: started", container->id);
	response.pid = (guint32)container->init->pid;
	cocoon_ttrpc_call_return_message(operation->call, &response.base);
	operation_free(operation);
}

AGENT_HANDLER(start_container, StartContainer, RESPONSE)
{
	Container *container;
	Operation *operation;

	container = lookup_container_or_return(call, agent, request->container_id);
	if (container == NULL)
		return;
	if (container->state != CONTAINER_CREATED || container->removing) {
		return_wrong_state(call, container, "created");
		return;
	}
	/* "creating" again while crun start runs: a second Start is refused */
	container->state = CONTAINER_CREATING;
	operation = operation_new(agent, call, container);
	{
		const gchar *args[] = {"start", container->id, NULL};
		cocoon_guest_crun_run(agent->crun, args, NULL, start_done_cb, operation);
	}
}

/* ExecProcess */

static void
exec_done_cb(const GError *crun_error, const gchar *output, gpointer user_data)
{
	Operation *operation = user_data;
	Process *process = operation->process;
	Cocoon__Agent__V1__ExecProcessResponse response =
		COCOON__AGENT__V1__EXEC_PROCESS_RESPONSE__INIT;
	pid_t pid = 0;

	if (!process_created(operation, crun_error, &pid))
		return;
	(void)unlink(operation->pid_file);
	process_started(process, pid);
	g_info("exec %s of container %s: pid %d", process->exec_id, operation->container->id,
	       (int)pid);
	response.pid = (guint32)pid;
	cocoon_ttrpc_call_return_message(operation->call, &response.base);
	container_trim_execs(operation->container);
	operation_free(operation);
}

AGENT_HANDLER(exec_process, ExecProcess, RESPONSE)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *process_json = NULL;
	g_autofree gchar *process_path = NULL;
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	Container *container;
	Process *process;
	Process *old;
	Operation *operation;

	if (!check_ids(request->container_id, NULL, &error)) {
		return_error(call, error);
		return;
	}
	if (request->exec_id == NULL || request->exec_id[0] == '\0') {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "container %s: exec id is empty",
					       request->container_id);
		return;
	}
	container = lookup_container(agent, request->container_id, &error);
	if (container == NULL || !check_ids(request->container_id, request->exec_id, &error)) {
		return_error(call, error);
		return;
	}
	if (container->state != CONTAINER_RUNNING || container->removing) {
		return_wrong_state(call, container, "running");
		return;
	}
	old = g_hash_table_lookup(container->execs, request->exec_id);
	if (old != NULL && !old->reported) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_ALREADY_EXISTS,
					       "exec %s of container %s already exists",
					       request->exec_id, container->id);
		return;
	}
	if (request->process_json.len > SPEC_JSON_MAX) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_INVALID_ARGUMENT,
			"exec %s of container %s: process is larger than %u bytes",
			request->exec_id, container->id, SPEC_JSON_MAX);
		return;
	}
	process_json = cocoon_guest_process_patch(
		(const gchar *)request->process_json.data, request->process_json.len,
		request->stdio != NULL && request->stdio->terminal, &error);
	if (process_json == NULL) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INVALID_ARGUMENT,
					       "exec %s of container %s: %s", request->exec_id,
					       container->id, error->message);
		return;
	}
	/* an exited exec's id may be used again */
	if (old != NULL)
		g_hash_table_remove(container->execs, request->exec_id);

	process = process_new(container, request->exec_id, request->stdio);
	g_hash_table_insert(container->execs, process->exec_id, process);
	operation = operation_new(agent, call, container);
	operation->process = process;
	operation->pid_file =
		g_strdup_printf("%s/exec-%s.pid", container->bundle, process->exec_id);
	process_path = g_strdup_printf("%s/exec-%s.json", container->bundle, process->exec_id);
	operation->file = g_strdup(process_path);
	(void)unlink(operation->pid_file);
	if (!write_file(process_path, process_json, &error) ||
	    !process_io_prepare(agent, process, &operation->io, &error)) {
		g_autofree gchar *subject =
			g_strdup_printf("exec %s of container %s", process->exec_id, container->id);
		g_autoptr(GError) wrapped = wrap_error(error, subject);
		process_create_fail(operation, wrapped);
		return;
	}

	g_ptr_array_add(args, g_strdup("exec"));
	g_ptr_array_add(args, g_strdup("--detach"));
	g_ptr_array_add(args, g_strdup_printf("--process=%s", process_path));
	run_crun_process(operation, args, exec_done_cb);
}

/* UpdateContainer */

static void
update_done_cb(const GError *crun_error, const gchar *output, gpointer user_data)
{
	Operation *operation = user_data;

	if (crun_error != NULL) {
		g_warning("container %s: update failed: %s", operation->container->id,
			  crun_error->message);
		return_error(operation->call, crun_error);
	} else {
		g_info("container %s: resources updated", operation->container->id);
		cocoon_ttrpc_call_return_message(operation->call, NULL);
	}
	operation_free(operation);
}

AGENT_HANDLER(update_container, UpdateContainer, EMPTY)
{
	g_autoptr(GError) error = NULL;
	Container *container;
	Operation *operation;

	container = lookup_container_or_return(call, agent, request->container_id);
	if (container == NULL)
		return;
	if (container->state == CONTAINER_CREATING || container->state == CONTAINER_STOPPED ||
	    container->removing) {
		return_wrong_state(call, container, "created, running or paused");
		return;
	}
	if (request->resources_json.len == 0 || request->resources_json.len > SPEC_JSON_MAX) {
		cocoon_ttrpc_call_return_error(
			call, COCOON_TTRPC_INVALID_ARGUMENT,
			"container %s: resources must be 1..%u bytes of JSON", container->id,
			SPEC_JSON_MAX);
		return;
	}
	operation = operation_new(agent, call, container);
	operation->file = g_strdup_printf("%s/resources-%" G_GUINT64_FORMAT ".json",
					  container->bundle, ++agent->serial);
	if (!g_file_set_contents_full(operation->file, (const gchar *)request->resources_json.data,
				      (gssize)request->resources_json.len, G_FILE_SET_CONTENTS_NONE,
				      0600, &error)) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_INTERNAL, "container %s: %s",
					       container->id, error->message);
		operation_free(operation);
		return;
	}
	{
		g_autofree gchar *resources_arg =
			g_strdup_printf("--resources=%s", operation->file);
		const gchar *args[] = {"update", resources_arg, container->id, NULL};
		cocoon_guest_crun_run(agent->crun, args, NULL, update_done_cb, operation);
	}
}

/* RemoveContainer */

static void
remove_done_cb(const GError *crun_error, const gchar *output, gpointer user_data)
{
	Operation *operation = user_data;
	CocoonGuestAgent *agent = operation->agent;
	Container *container = operation->container;
	CocoonTtrpcCall *call = operation->call;
	GHashTableIter iter;
	gpointer value;

	/* forced: a container crun does not know (any more) is removed all the same */
	if (crun_error != NULL)
		g_warning("container %s: %s (removing it anyway)", container->id,
			  crun_error->message);
	operation_free(operation);

	process_report_removed(container->init);
	g_hash_table_iter_init(&iter, container->execs);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		process_report_removed(value);
	g_info("container %s: removed", container->id);
	g_hash_table_remove(agent->containers, container->id);
	cocoon_ttrpc_call_return_message(call, NULL);
}

AGENT_HANDLER(remove_container, RemoveContainer, EMPTY)
{
	Container *container;
	Operation *operation;

	container = lookup_container_or_return(call, agent, request->container_id);
	if (container == NULL)
		return;
	if (container->removing || container->operations > 0) {
		cocoon_ttrpc_call_return_error(call, COCOON_TTRPC_FAILED_PRECONDITION,
					       "container %s is busy (%s)", container->id,
					       container->removing ? "being removed"
								   : "an operation is running");
		return;
	}
	container->removing = TRUE;
	container_kill_all(container);
	operation = operation_new(agent, call, container);
	{
		const gchar *args[] = {"delete", "--force", container->id, NULL};
		cocoon_guest_crun_run(agent->crun, args, NULL, remove_done_cb, operation);
	}
}
