/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "agent.pb-c.h"
#include "cocoon-fd.h"
#include "cocoon-guest-cgroup.h"
#include "cocoon-guest-crun.h"
#include "cocoon-guest-init.h"
#include "cocoon-guest-spec.h"
#include "cocoon-fs.h"

/* exited exec processes a container keeps for late Waits before the oldest are forgotten */
#define EXITED_EXECS_MAX 256
/* guest events queued for WaitEvent */
#define EVENTS_MAX 256
/* a WaitEvent without deadline answers NONE after this long */
#define WAIT_EVENT_MAX_MS (60 * 1000)
/* a request's JSON documents */
#define SPEC_JSON_MAX (4u << 20)
/* the size of stdio pipes */
#define PIPE_SIZE (1024 * 1024)
/* how long after the Shutdown reply the VM ends */
#define SHUTDOWN_DELAY_MS 200
/* key=value lines written by the image build, crun_version among them */
#define COCOON_GUEST_IMAGE_INFO "/etc/cocoon/image-info"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

typedef ProtobufCMessage Message;
static void
message_free(Message *message)
{
	protobuf_c_message_free_unpacked(message, NULL);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Message, message_free)

typedef enum {
	CONTAINER_CREATING,
	CONTAINER_CREATED,
	CONTAINER_RUNNING,
	CONTAINER_PAUSED,
	CONTAINER_STOPPED,
} ContainerState;

static const gchar *const container_state_names[] = {
	"creating", "created", "running", "paused", "stopped",
};

typedef struct _Container Container;
typedef struct _Process Process;

enum {
	STREAM_STDIN = 1 << 0,
	STREAM_STDOUT = 1 << 1,
	STREAM_STDERR = 1 << 2,
};

struct _Process {
	Container *container;
	gchar *exec_id; /* NULL: the container's init */
	guint64 serial;
	pid_t pid;	 /* 0 until crun reported it */
	gboolean failed; /* crun could not create it */
	guint32 stdin_id;
	guint32 stdout_id;
	guint32 stderr_id;
	gboolean terminal;
	guint32 rows;
	guint32 cols;
	int tty_fd;	       /* the pty master, for ResizeTty */
	guint registered;      /* STREAM_* this process added to the mux */
	guint outputs_pending; /* output streams whose EOF is not on the port yet */

	gboolean exited;
	guint32 exit_status;
	gint64 exited_at_ns;
	gboolean oom_killed;
	guint64 oom_kills_at_start;
	/* exited and where its output ends is known: Wait answers */
	gboolean reported;
	guint drain_timeout_id; /* a terminal's EOF, waited for after the exit */
	/* the stdout/stderr stream offsets its output ends at, taken when it was reported */
	guint64 stdout_offset;
	guint64 stderr_offset;
	GPtrArray *waiters; /* CocoonTtrpcCall */
};

struct _Container {
	CocoonGuestAgent *agent;
	gchar *id;
	gchar *bundle;
	gchar *cgroup_dir;
	ContainerState state;
	/* crun operations in flight (create, start, exec, update, remove): Remove waits for none */
	guint operations;
	gboolean removing;
	Process *init;
	GHashTable *execs; /* exec_id -> Process */
	int oom_watch;
	guint64 oom_kills;
};

typedef struct {
	Cocoon__Agent__V1__WaitEventResponse__Kind kind;
	gchar *container_id;
} Event;

typedef struct {
	CocoonGuestAgent *agent;
	CocoonTtrpcCall *call;
	guint timeout_id;
} EventWaiter;

struct _CocoonGuestAgent {
	gchar *run_dir;
	gchar *share_dir;
	gchar *containers_dir;
	gchar *sockets_dir;
	gchar *cgroup_root;
	gboolean init;
	CocoonGuestReaper *reaper;
	CocoonGuestCrun *crun;
	CocoonGuestStdio *stdio;
	GHashTable *containers; /* id -> Container */
	guint64 serial;
	gchar *oci_runtime;

	int inotify_fd;
	guint inotify_id;
	GHashTable *oom_watches; /* wd -> Container (borrowed) */

	GQueue events;	      /* Event */
	GQueue event_waiters; /* EventWaiter */

	CocoonGuestAgentShutdownFunc shutdown_func;
	gpointer shutdown_data;
	guint shutdown_id;
};

static void process_answer_waiters(Process *process);
static void container_free(Container *container);

/* errors */

static void
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
static void
return_wrong_state(CocoonTtrpcCall *call, const Container *container, const gchar *wanted)
{
	cocoon_ttrpc_call_return_error(
		call, COCOON_TTRPC_FAILED_PRECONDITION, "container %s is %s, not %s", container->id,
		container->removing ? "being removed" : container_state_names[container->state],
		wanted);
}

/* error with the request's subject in front, as a status: a bad spec is the caller's fault */
static GError *
wrap_error(const GError *error, const gchar *subject)
{
	CocoonTtrpcCode code = error->domain == COCOON_GUEST_SPEC_ERROR
				       ? COCOON_TTRPC_INVALID_ARGUMENT
				       : cocoon_ttrpc_code_from_error(error);

	return g_error_new(COCOON_TTRPC_ERROR, code, "%s: %s", subject, error->message);
}

/* runs crun with args (a NULL is appended) */
static void
run_crun(CocoonGuestAgent *agent, GPtrArray *args, const CocoonGuestCrunStdio *stdio,
	 CocoonGuestCrunFunc func, gpointer user_data)
{
	g_ptr_array_add(args, NULL);
	cocoon_guest_crun_run(agent->crun, (const gchar *const *)args->pdata, stdio, func,
			      user_data);
}

/* the id checks of every request */
static gboolean
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

static Container *
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
static Process *
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

static gchar *
process_name(Process *process)
{
	if (process->exec_id == NULL)
		return g_strdup_printf("container %s", process->container->id);
	return g_strdup_printf("exec %s of container %s", process->exec_id, process->container->id);
}

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

/* processes */

static Process *
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
static void
process_fail_waiters(Process *process, CocoonTtrpcCode code, const gchar *message)
{
	for (guint i = 0; i < process->waiters->len; i++)
		cocoon_ttrpc_call_return_error(g_ptr_array_index(process->waiters, i), code, "%s",
					       message);
	g_ptr_array_set_size(process->waiters, 0);
}

static void
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

static void
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
static void
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
static void
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
static void
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

/* process stdio: pipes, or a pty whose master crun sends to a console socket */

typedef struct {
	/* crun's (and so the process's) stdio */
	int child_stdin;
	int child_stdout;
	int child_stderr;
	/* terminal: the listening console socket */
	int console_fd;
	gchar *console_path;
} ProcessIo;

static void
process_io_clear(ProcessIo *io)
{
	cocoon_fd_closep(&io->child_stdin);
	cocoon_fd_closep(&io->child_stdout);
	cocoon_fd_closep(&io->child_stderr);
	cocoon_fd_closep(&io->console_fd);
	if (io->console_path != NULL)
		(void)unlink(io->console_path);
	g_clear_pointer(&io->console_path, g_free);
}

static gboolean
check_stream_ids(CocoonGuestAgent *agent, const Process *process, GError **error)
{
	guint32 ids[] = {process->stdin_id, process->stdout_id, process->stderr_id};

	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		if (ids[i] == 0)
			continue;
		if (cocoon_guest_stdio_has_stream(agent->stdio, ids[i])) {
			g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_ALREADY_EXISTS,
				    "stdio stream %u is already in use", ids[i]);
			return FALSE;
		}
	}
	/* stdout and stderr may share a stream; stdin is the other direction */
	if (process->stdin_id != 0 &&
	    (process->stdin_id == process->stdout_id || process->stdin_id == process->stderr_id)) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT,
			    "stdio stream %u is both stdin and an output", process->stdin_id);
		return FALSE;
	}
	return TRUE;
}

static gboolean
make_pipe(int fds[2], GError **error)
{
	if (pipe2(fds, O_CLOEXEC) < 0) {
		int saved_errno = errno;
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL, "pipe: %s",
			    g_strerror(saved_errno));
		return FALSE;
	}
	/* fewer wake-ups per MiB for a chatty process (best effort: pipe-max-size may be lower) */
	(void)fcntl(fds[0], F_SETPIPE_SZ, PIPE_SIZE);
	return TRUE;
}

static gboolean
console_socket_new(CocoonGuestAgent *agent, ProcessIo *io, GError **error)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	cocoon_autofd int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	g_autofree gchar *path = g_strdup_printf("%s/%" G_GUINT64_FORMAT ".sock",
						 agent->sockets_dir, ++agent->serial);

	if (strlen(path) >= sizeof(address.sun_path)) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
			    "console socket path %s is too long", path);
		return FALSE;
	}
	strcpy(address.sun_path, path);
	(void)unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0 ||
	    listen(fd, 1) < 0) {
		int saved_errno = errno;
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
			    "console socket %s: %s", path, g_strerror(saved_errno));
		return FALSE;
	}
	io->console_fd = cocoon_steal_fd(&fd);
	io->console_path = g_steal_pointer(&path);
	return TRUE;
}

/* the pty master crun sent while it ran (it is queued on the socket by now) */
static int
console_receive(ProcessIo *io, GError **error)
{
	cocoon_autofd int connection = accept4(io->console_fd, NULL, NULL, SOCK_CLOEXEC);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control = {0};
	char name[256];
	struct iovec iov = {.iov_base = name, .iov_len = sizeof(name)};
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *cmsg;
	ssize_t n;

	if (connection < 0) {
		int saved_errno = errno;
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
			    "crun did not connect to the console socket: %s",
			    g_strerror(saved_errno));
		return -1;
	}
	do
		n = recvmsg(connection, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	for (cmsg = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; cmsg != NULL;
	     cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
		    cmsg->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int fd;
			memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
			return fd;
		}
	}
	g_set_error_literal(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
			    "crun sent no terminal on the console socket");
	return -1;
}

static void
set_window_size(int fd, guint32 rows, guint32 cols)
{
	struct winsize size = {.ws_row = (unsigned short)MIN(rows, G_MAXUSHORT),
			       .ws_col = (unsigned short)MIN(cols, G_MAXUSHORT)};

	if (rows == 0 && cols == 0)
		return;
	if (ioctl(fd, TIOCSWINSZ, &size) < 0)
		g_debug("TIOCSWINSZ: %s", g_strerror(errno));
}

/*
 * pipes for the non-terminal case, registered on the mux at once (crun's own stdout ends up in
 * the container's stream, like runc's does); a console socket for a terminal
 */
static gboolean
process_io_prepare(CocoonGuestAgent *agent, Process *process, ProcessIo *io, GError **error)
{
	int fds[2];

	if (!check_stream_ids(agent, process, error))
		return FALSE;
	if (process->terminal)
		return console_socket_new(agent, io, error);

	if (process->stdin_id != 0) {
		if (!make_pipe(fds, error))
			return FALSE;
		io->child_stdin = fds[0];
		if (!cocoon_guest_stdio_add_input(agent->stdio, process->stdin_id, fds[1], error))
			return FALSE;
		process->registered |= STREAM_STDIN;
	}
	if (process->stdout_id != 0) {
		if (!make_pipe(fds, error))
			return FALSE;
		io->child_stdout = fds[1];
		if (!cocoon_guest_stdio_add_output(agent->stdio, process->stdout_id, fds[0],
						   process_output_eof_cb, process, error))
			return FALSE;
		process->registered |= STREAM_STDOUT;
		process->outputs_pending++;
	}
	if (process->stderr_id != 0 && process->stderr_id == process->stdout_id) {
		io->child_stderr = fcntl(io->child_stdout, F_DUPFD_CLOEXEC, 3);
	} else if (process->stderr_id != 0) {
		if (!make_pipe(fds, error))
			return FALSE;
		io->child_stderr = fds[1];
		if (!cocoon_guest_stdio_add_output(agent->stdio, process->stderr_id, fds[0],
						   process_output_eof_cb, process, error))
			return FALSE;
		process->registered |= STREAM_STDERR;
		process->outputs_pending++;
	}
	return TRUE;
}

/* crun is done: a terminal's master joins the mux now */
static gboolean
process_io_finish(CocoonGuestAgent *agent, Process *process, ProcessIo *io, GError **error)
{
	cocoon_autofd int master = -1;

	if (!process->terminal)
		return TRUE;
	master = console_receive(io, error);
	if (master < 0)
		return FALSE;
	set_window_size(master, process->rows, process->cols);
	process->tty_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
	if (process->stdin_id != 0) {
		int input = fcntl(master, F_DUPFD_CLOEXEC, 3);
		if (!cocoon_guest_stdio_add_input(agent->stdio, process->stdin_id, input, error))
			return FALSE;
		process->registered |= STREAM_STDIN;
	}
	if (process->stdout_id != 0) {
		if (!cocoon_guest_stdio_add_output(agent->stdio, process->stdout_id,
						   cocoon_steal_fd(&master), process_output_eof_cb,
						   process, error))
			return FALSE;
		process->registered |= STREAM_STDOUT;
		process->outputs_pending++;
	}
	return TRUE;
}

static CocoonGuestCrunStdio
process_io_crun_stdio(const ProcessIo *io)
{
	CocoonGuestCrunStdio stdio = {io->child_stdin, io->child_stdout, io->child_stderr};

	return stdio;
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

static void
watch_oom(CocoonGuestAgent *agent, Container *container)
{
	g_autofree gchar *path = g_build_filename(container->cgroup_dir, "memory.events", NULL);

	(void)cocoon_guest_cgroup_read_key(container->cgroup_dir, "memory.events", "oom_kill",
					   &container->oom_kills, NULL);
	if (agent->inotify_fd < 0)
		return;
	container->oom_watch = inotify_add_watch(agent->inotify_fd, path, IN_MODIFY);
	if (container->oom_watch < 0) {
		g_debug("container %s: no OOM events: inotify %s: %s", container->id, path,
			g_strerror(errno));
		return;
	}
	g_hash_table_insert(agent->oom_watches, GINT_TO_POINTER(container->oom_watch), container);
}

/* CreateContainer */

typedef struct {
	CocoonGuestAgent *agent;
	CocoonTtrpcCall *call;
	Container *container;
	ProcessIo io;
	gchar *pid_file;
} CreateOperation;

static void
create_operation_free(CreateOperation *operation)
{
	process_io_clear(&operation->io);
	g_free(operation->pid_file);
	g_free(operation);
}

static void
create_fail(CreateOperation *operation, const GError *error)
{
	CocoonGuestAgent *agent = operation->agent;
	Container *container = operation->container;

	g_warning("container %s: create failed: %s", container->id, error->message);
	return_error(operation->call, error);
	if (container->init != NULL) {
		container->init->failed = TRUE;
		process_fail_waiters(container->init, COCOON_TTRPC_NOT_FOUND, error->message);
	}
	/* container_free removes the bundle and the streams */
	g_hash_table_remove(agent->containers, container->id);
	create_operation_free(operation);
}

static void
create_done_cb(const GError *crun_error, const gchar *output, gpointer user_data)
{
	CreateOperation *operation = user_data;
	CocoonGuestAgent *agent = operation->agent;
	Container *container = operation->container;
	Cocoon__Agent__V1__CreateContainerResponse response =
		COCOON__AGENT__V1__CREATE_CONTAINER_RESPONSE__INIT;
	g_autoptr(GError) error = NULL;
	pid_t pid = 0;

	container->operations--;
	if (crun_error != NULL) {
		create_fail(operation, crun_error);
		return;
	}
	if (!read_pid_file(operation->pid_file, &pid, &error) ||
	    !process_io_finish(agent, container->init, &operation->io, &error)) {
		g_autofree gchar *message =
			g_strdup_printf("container %s: %s", container->id, error->message);
		g_autoptr(GError) wrapped =
			g_error_new_literal(COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL, message);
		/* crun made it: take it down again */
		(void)cocoon_guest_cgroup_signal(container->cgroup_dir, SIGKILL, NULL);
		create_fail(operation, wrapped);
		return;
	}
	container->state = CONTAINER_CREATED;
	watch_oom(agent, container);
	process_started(container->init, pid);
	g_info("container %s: created, init pid %d", container->id, (int)pid);
	response.pid = (guint32)pid;
	cocoon_ttrpc_call_return_message(operation->call, &response.base);
	create_operation_free(operation);
}

/* the share, the rootfs and the rewritten spec of a CreateContainer */
static CocoonGuestSpec *
create_prepare_spec(CocoonGuestAgent *agent,
		    const Cocoon__Agent__V1__CreateContainerRequest *request, GError **error)
{
	g_autofree gchar *rootfs = NULL;

	if (!ensure_share(agent, error))
		return NULL;
	rootfs = cocoon_guest_resolve_rootfs(agent->share_dir, request->rootfs, error);
	if (rootfs == NULL)
		return NULL;
	return cocoon_guest_spec_patch((const gchar *)request->spec_json.data,
				       request->spec_json.len, request->container_id, rootfs,
				       request->stdio != NULL && request->stdio->terminal, error);
}

static void
handle_create_container(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__create_container_request__descriptor, &error);
	Cocoon__Agent__V1__CreateContainerRequest *request = (gpointer)message;
	g_autoptr(CocoonGuestSpec) spec = NULL;
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *config_path = NULL;
	g_autofree gchar *subject = NULL;
	CreateOperation *operation;
	Container *container;
	CocoonGuestCrunStdio stdio;

	if (message == NULL || !check_ids(request->container_id, NULL, &error)) {
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

	operation = g_new0(CreateOperation, 1);
	operation->agent = agent;
	operation->call = call;
	operation->container = container;
	operation->io = (ProcessIo){-1, -1, -1, -1, NULL};
	operation->pid_file = g_build_filename(container->bundle, "init.pid", NULL);

	cocoon_remove_tree(container->bundle);
	config_path = g_build_filename(container->bundle, "config.json", NULL);
	if (g_mkdir_with_parents(container->bundle, 0700) < 0) {
		g_set_error(&error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
			    "container %s: bundle %s: %s", container->id, container->bundle,
			    g_strerror(errno));
		create_fail(operation, error);
		return;
	}
	if (!write_file(config_path, spec->config_json, &error) ||
	    !process_io_prepare(agent, container->init, &operation->io, &error)) {
		g_autoptr(GError) wrapped = wrap_error(error, subject);
		create_fail(operation, wrapped);
		return;
	}
	if (spec->guest_hostname != NULL && agent->init &&
	    sethostname(spec->guest_hostname, strlen(spec->guest_hostname)) < 0)
		g_warning("container %s: hostname %s: %s", container->id, spec->guest_hostname,
			  g_strerror(errno));

	stdio = process_io_crun_stdio(&operation->io);
	g_ptr_array_add(args, g_strdup("create"));
	g_ptr_array_add(args, g_strdup("--no-pivot"));
	g_ptr_array_add(args, g_strdup_printf("--bundle=%s", container->bundle));
	g_ptr_array_add(args, g_strdup_printf("--pid-file=%s", operation->pid_file));
	if (operation->io.console_path != NULL)
		g_ptr_array_add(args,
				g_strdup_printf("--console-socket=%s", operation->io.console_path));
	g_ptr_array_add(args, g_strdup(container->id));
	container->operations++;
	run_crun(agent, args, &stdio, create_done_cb, operation);
	/* the child has its copies now */
	cocoon_fd_closep(&operation->io.child_stdin);
	cocoon_fd_closep(&operation->io.child_stdout);
	cocoon_fd_closep(&operation->io.child_stderr);
}

/* a crun call on behalf of one request on one container */
typedef struct {
	CocoonGuestAgent *agent;
	CocoonTtrpcCall *call;
	Container *container;
	Process *process; /* ExecProcess */
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
	if (operation->file != NULL)
		(void)unlink(operation->file);
	g_free(operation->file);
	g_free(operation->pid_file);
	g_free(operation);
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

static void
handle_start_container(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__start_container_request__descriptor, &error);
	Cocoon__Agent__V1__StartContainerRequest *request = (gpointer)message;
	Container *container;
	Operation *operation;

	container = message != NULL ? lookup_container(agent, request->container_id, &error) : NULL;
	if (container == NULL) {
		return_error(call, error);
		return;
	}
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
exec_fail(Operation *operation, const GError *error)
{
	Container *container = operation->container;
	Process *process = operation->process;

	g_warning("exec %s of container %s failed: %s", process->exec_id, container->id,
		  error->message);
	return_error(operation->call, error);
	process->failed = TRUE;
	process_fail_waiters(process, COCOON_TTRPC_NOT_FOUND, error->message);
	g_hash_table_remove(container->execs, process->exec_id);
	operation_free(operation);
}

static void
exec_done_cb(const GError *crun_error, const gchar *output, gpointer user_data)
{
	Operation *operation = user_data;
	CocoonGuestAgent *agent = operation->agent;
	Process *process = operation->process;
	Cocoon__Agent__V1__ExecProcessResponse response =
		COCOON__AGENT__V1__EXEC_PROCESS_RESPONSE__INIT;
	g_autoptr(GError) error = NULL;
	pid_t pid = 0;

	if (crun_error != NULL) {
		exec_fail(operation, crun_error);
		return;
	}
	if (!read_pid_file(operation->pid_file, &pid, &error) ||
	    !process_io_finish(agent, process, &operation->io, &error)) {
		g_autoptr(GError) wrapped = g_error_new(
			COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL, "exec %s of container %s: %s",
			process->exec_id, operation->container->id, error->message);
		if (pid > 0)
			(void)kill(pid, SIGKILL);
		exec_fail(operation, wrapped);
		return;
	}
	(void)unlink(operation->pid_file);
	process_started(process, pid);
	g_info("exec %s of container %s: pid %d", process->exec_id, operation->container->id,
	       (int)pid);
	response.pid = (guint32)pid;
	cocoon_ttrpc_call_return_message(operation->call, &response.base);
	container_trim_execs(operation->container);
	operation_free(operation);
}

static void
handle_exec_process(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__exec_process_request__descriptor, &error);
	Cocoon__Agent__V1__ExecProcessRequest *request = (gpointer)message;
	g_autofree gchar *process_json = NULL;
	g_autofree gchar *process_path = NULL;
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	Container *container;
	Process *process;
	Process *old;
	Operation *operation;
	CocoonGuestCrunStdio stdio;

	if (message == NULL || !check_ids(request->container_id, NULL, &error)) {
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
		exec_fail(operation, wrapped);
		return;
	}

	stdio = process_io_crun_stdio(&operation->io);
	g_ptr_array_add(args, g_strdup("exec"));
	g_ptr_array_add(args, g_strdup("--detach"));
	g_ptr_array_add(args, g_strdup_printf("--process=%s", process_path));
	g_ptr_array_add(args, g_strdup_printf("--pid-file=%s", operation->pid_file));
	if (operation->io.console_path != NULL)
		g_ptr_array_add(args,
				g_strdup_printf("--console-socket=%s", operation->io.console_path));
	g_ptr_array_add(args, g_strdup(container->id));
	run_crun(agent, args, &stdio, exec_done_cb, operation);
	cocoon_fd_closep(&operation->io.child_stdin);
	cocoon_fd_closep(&operation->io.child_stdout);
	cocoon_fd_closep(&operation->io.child_stderr);
}

/* WaitProcess */

static void
handle_wait_process(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__wait_process_request__descriptor, &error);
	Cocoon__Agent__V1__WaitProcessRequest *request = (gpointer)message;
	Process *process;

	process = message != NULL
			  ? lookup_process(agent, request->container_id, request->exec_id, &error)
			  : NULL;
	if (process == NULL) {
		return_error(call, error);
		return;
	}
	process_add_waiter(process, call);
}

/* SignalProcess */

static void
handle_signal_process(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__signal_process_request__descriptor, &error);
	Cocoon__Agent__V1__SignalProcessRequest *request = (gpointer)message;
	g_autofree gchar *name = NULL;
	Process *process;

	process = message != NULL
			  ? lookup_process(agent, request->container_id, request->exec_id, &error)
			  : NULL;
	if (process == NULL) {
		return_error(call, error);
		return;
	}
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

static void
handle_resize_tty(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__resize_tty_request__descriptor, &error);
	Cocoon__Agent__V1__ResizeTtyRequest *request = (gpointer)message;
	struct winsize size = {0};
	Process *process;

	process = message != NULL
			  ? lookup_process(agent, request->container_id, request->exec_id, &error)
			  : NULL;
	if (process == NULL) {
		return_error(call, error);
		return;
	}
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

static void
handle_close_stdin(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__close_stdin_request__descriptor, &error);
	Cocoon__Agent__V1__CloseStdinRequest *request = (gpointer)message;
	Process *process;

	process = message != NULL
			  ? lookup_process(agent, request->container_id, request->exec_id, &error)
			  : NULL;
	if (process == NULL) {
		return_error(call, error);
		return;
	}
	/* a terminal's stdin is its master: closing our copy does not end the pty */
	if (process->registered & STREAM_STDIN)
		cocoon_guest_stdio_close_input(agent->stdio, process->stdin_id);
	cocoon_ttrpc_call_return_message(call, NULL);
}

/* ListProcesses */

/* unreaped or exiting tasks a listing may leave out before it is no longer the whole truth */
#define DYING_TASKS_MAX 64

static void
handle_list_processes(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__list_processes_request__descriptor, &error);
	Cocoon__Agent__V1__ListProcessesRequest *request = (gpointer)message;
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

	container = message != NULL ? lookup_container(agent, request->container_id, &error) : NULL;
	if (container == NULL) {
		return_error(call, error);
		return;
	}
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

static void
handle_stats_container(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__stats_container_request__descriptor, &error);
	Cocoon__Agent__V1__StatsContainerRequest *request = (gpointer)message;
	Cocoon__Agent__V1__StatsContainerResponse response =
		COCOON__AGENT__V1__STATS_CONTAINER_RESPONSE__INIT;
	g_autoptr(CocoonGuestCgroupMetrics) metrics = NULL;
	Container *container;

	container = message != NULL ? lookup_container(agent, request->container_id, &error) : NULL;
	if (container == NULL) {
		return_error(call, error);
		return;
	}
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
	Container *container = lookup_container(agent, container_id, &error);
	ContainerState from = pause ? CONTAINER_RUNNING : CONTAINER_PAUSED;

	if (container == NULL) {
		return_error(call, error);
		return;
	}
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

static void
handle_pause_container(CocoonTtrpcCall *call, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__pause_container_request__descriptor, &error);

	if (message == NULL) {
		return_error(call, error);
		return;
	}
	pause_resume(call, user_data,
		     ((Cocoon__Agent__V1__PauseContainerRequest *)message)->container_id, TRUE);
}

static void
handle_resume_container(CocoonTtrpcCall *call, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__resume_container_request__descriptor, &error);

	if (message == NULL) {
		return_error(call, error);
		return;
	}
	pause_resume(call, user_data,
		     ((Cocoon__Agent__V1__ResumeContainerRequest *)message)->container_id, FALSE);
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

static void
handle_update_container(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__update_container_request__descriptor, &error);
	Cocoon__Agent__V1__UpdateContainerRequest *request = (gpointer)message;
	Container *container;
	Operation *operation;

	container = message != NULL ? lookup_container(agent, request->container_id, &error) : NULL;
	if (container == NULL) {
		return_error(call, error);
		return;
	}
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

/* Wait answers for processes the removal ends: the real exit if known, else SIGKILL now */
static void
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

static void
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

static void
handle_remove_container(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__remove_container_request__descriptor, &error);
	Cocoon__Agent__V1__RemoveContainerRequest *request = (gpointer)message;
	Container *container;
	Operation *operation;

	container = message != NULL ? lookup_container(agent, request->container_id, &error) : NULL;
	if (container == NULL) {
		return_error(call, error);
		return;
	}
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

static void
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
	cocoon_remove_tree(container->bundle);
	g_free(container->bundle);
	g_free(container->cgroup_dir);
	g_free(container->id);
	g_free(container);
}

/* WaitEvent */

static void
event_free(Event *event)
{
	g_free(event->container_id);
	g_free(event);
}

static void
event_waiter_answer(EventWaiter *waiter, const Event *event)
{
	Cocoon__Agent__V1__WaitEventResponse response =
		COCOON__AGENT__V1__WAIT_EVENT_RESPONSE__INIT;

	if (event != NULL) {
		response.kind = event->kind;
		response.container_id = event->container_id;
	}
	if (waiter->timeout_id != 0)
		g_source_remove(waiter->timeout_id);
	cocoon_ttrpc_call_return_message(waiter->call, &response.base);
	g_free(waiter);
}

static gboolean
event_waiter_timeout_cb(gpointer user_data)
{
	EventWaiter *waiter = user_data;

	waiter->timeout_id = 0;
	g_queue_remove(&waiter->agent->event_waiters, waiter);
	event_waiter_answer(waiter, NULL);
	return G_SOURCE_REMOVE;
}

static void
push_event(CocoonGuestAgent *agent, Cocoon__Agent__V1__WaitEventResponse__Kind kind,
	   const gchar *container_id)
{
	Event *event = g_new0(Event, 1);
	EventWaiter *waiter;

	event->kind = kind;
	event->container_id = g_strdup(container_id);
	/* a waiter whose caller gave up would lose the event */
	while ((waiter = g_queue_pop_head(&agent->event_waiters)) != NULL) {
		if (!cocoon_ttrpc_call_is_cancelled(waiter->call)) {
			event_waiter_answer(waiter, event);
			event_free(event);
			return;
		}
		event_waiter_answer(waiter, NULL);
	}
	g_queue_push_tail(&agent->events, event);
	while (g_queue_get_length(&agent->events) > EVENTS_MAX)
		event_free(g_queue_pop_head(&agent->events));
}

static void
handle_wait_event(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__wait_event_request__descriptor, &error);
	EventWaiter *waiter;
	Event *event;
	gint64 deadline;
	gint64 wait_ms = WAIT_EVENT_MAX_MS;

	if (message == NULL) {
		return_error(call, error);
		return;
	}
	waiter = g_new0(EventWaiter, 1);
	waiter->agent = agent;
	waiter->call = call;
	event = g_queue_pop_head(&agent->events);
	if (event != NULL) {
		event_waiter_answer(waiter, event);
		event_free(event);
		return;
	}
	/* answer NONE before the caller's deadline (a tenth of the wait early), so it gets one */
	deadline = cocoon_ttrpc_call_get_deadline(call);
	if (deadline > 0) {
		gint64 remaining_ms = (deadline - g_get_monotonic_time()) / 1000;
		wait_ms = CLAMP(remaining_ms - CLAMP(remaining_ms / 10, 100, 1000), 0,
				WAIT_EVENT_MAX_MS);
	}
	waiter->timeout_id = g_timeout_add((guint)wait_ms, event_waiter_timeout_cb, waiter);
	g_queue_push_tail(&agent->event_waiters, waiter);
}

static gboolean
inotify_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	union {
		char buf[4096];
		struct inotify_event align;
	} events;
	ssize_t n;

	while ((n = read(fd, events.buf, sizeof(events.buf))) > 0) {
		for (char *p = events.buf; p < events.buf + n;) {
			struct inotify_event *event = (struct inotify_event *)p;
			Container *container =
				g_hash_table_lookup(agent->oom_watches, GINT_TO_POINTER(event->wd));
			guint64 oom_kills = 0;

			p += sizeof(struct inotify_event) + event->len;
			if (container == NULL || (event->mask & IN_MODIFY) == 0)
				continue;
			if (!cocoon_guest_cgroup_read_key(container->cgroup_dir, "memory.events",
							  "oom_kill", &oom_kills, NULL) ||
			    oom_kills <= container->oom_kills)
				continue;
			container->oom_kills = oom_kills;
			g_warning("container %s: OOM kill (%" G_GUINT64_FORMAT " so far)",
				  container->id, oom_kills);
			push_event(agent, COCOON__AGENT__V1__WAIT_EVENT_RESPONSE__KIND__OOM,
				   container->id);
		}
	}
	return G_SOURCE_CONTINUE;
}

/* sandbox level */

static void
handle_ping(CocoonTtrpcCall *call, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__ping_request__descriptor, &error);
	Cocoon__Agent__V1__PingResponse response = COCOON__AGENT__V1__PING_RESPONSE__INIT;
	struct timespec ts;

	if (message == NULL) {
		return_error(call, error);
		return;
	}
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

static void
handle_guest_info(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__guest_info_request__descriptor, &error);
	Cocoon__Agent__V1__GuestInfoResponse response =
		COCOON__AGENT__V1__GUEST_INFO_RESPONSE__INIT;
	struct utsname uts;
	struct statfs st;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (message == NULL) {
		return_error(call, error);
		return;
	}
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

static void
handle_shutdown(CocoonTtrpcCall *call, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = cocoon_ttrpc_call_unpack(
		call, &cocoon__agent__v1__shutdown_request__descriptor, &error);
	GHashTableIter iter;
	gpointer value;

	if (message == NULL) {
		return_error(call, error);
		return;
	}
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

/* the agent */

static void
crun_version_cb(const GError *error, const gchar *output, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_auto(GStrv) lines = NULL;

	if (error != NULL) {
		g_warning("crun --version: %s", error->message);
		return;
	}
	/* "crun version 1.8.1" */
	lines = g_strsplit(output, "\n", 2);
	if (lines[0] != NULL && g_str_has_prefix(lines[0], "crun version ")) {
		g_free(agent->oci_runtime);
		agent->oci_runtime = g_strdup_printf("crun %s", lines[0] + strlen("crun version "));
	}
	g_debug("oci runtime: %s", agent->oci_runtime);
}

/*
 * the image build recorded crun's version (scripts/build-guest-image.sh): a `crun --version` at
 * boot costs ~0.15 s of the guest's only vCPU under TCG, right when the agent comes up and the
 * first CreateContainer runs. Only for the image's own crun, as PID 1.
 */
static gboolean
crun_version_from_image(CocoonGuestAgent *agent, const CocoonGuestAgentOptions *options)
{
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) lines = NULL;

	if (!options->init || g_strcmp0(options->crun_binary, "/usr/bin/crun") != 0 ||
	    !g_file_get_contents(COCOON_GUEST_IMAGE_INFO, &contents, NULL, NULL))
		return FALSE;
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		const gchar *version = lines[i] + strlen("crun_version=");

		if (!g_str_has_prefix(lines[i], "crun_version=") || version[0] == '\0')
			continue;
		g_free(agent->oci_runtime);
		agent->oci_runtime = g_strdup_printf("crun %s", version);
		g_debug("oci runtime: %s (from %s)", agent->oci_runtime, COCOON_GUEST_IMAGE_INFO);
		return TRUE;
	}
	return FALSE;
}

void
cocoon_guest_agent_register(CocoonGuestAgent *agent, CocoonTtrpcServer *server)
{
	static const struct {
		const gchar *method;
		CocoonTtrpcHandler handler;
	} methods[] = {
		{"Ping", handle_ping},
		{"GuestInfo", handle_guest_info},
		{"Shutdown", handle_shutdown},
		{"WaitEvent", handle_wait_event},
		{"CreateContainer", handle_create_container},
		{"StartContainer", handle_start_container},
		{"RemoveContainer", handle_remove_container},
		{"PauseContainer", handle_pause_container},
		{"ResumeContainer", handle_resume_container},
		{"UpdateContainer", handle_update_container},
		{"StatsContainer", handle_stats_container},
		{"ListProcesses", handle_list_processes},
		{"ExecProcess", handle_exec_process},
		{"SignalProcess", handle_signal_process},
		{"WaitProcess", handle_wait_process},
		{"ResizeTty", handle_resize_tty},
		{"CloseStdin", handle_close_stdin},
	};

	for (guint i = 0; i < G_N_ELEMENTS(methods); i++)
		cocoon_ttrpc_server_register(server, COCOON_GUEST_AGENT_SERVICE, methods[i].method,
					     methods[i].handler, agent, NULL);
}

CocoonGuestStdio *
cocoon_guest_agent_get_stdio(CocoonGuestAgent *agent)
{
	return agent->stdio;
}

void
cocoon_guest_agent_set_shutdown_func(CocoonGuestAgent *agent, CocoonGuestAgentShutdownFunc func,
				     gpointer user_data)
{
	agent->shutdown_func = func;
	agent->shutdown_data = user_data;
}

CocoonGuestAgent *
cocoon_guest_agent_new(const CocoonGuestAgentOptions *options, CocoonGuestReaper *reaper,
		       GError **error)
{
	g_autoptr(CocoonGuestAgent) agent = g_new0(CocoonGuestAgent, 1);
	const gchar *dirs[4];

	agent->run_dir = g_strdup(options->run_dir);
	agent->share_dir = g_strdup(options->share_dir);
	agent->containers_dir = g_build_filename(options->run_dir, "containers", NULL);
	agent->sockets_dir = g_build_filename(options->run_dir, "sockets", NULL);
	agent->cgroup_root = g_strdup(options->cgroup_root);
	agent->init = options->init;
	agent->reaper = reaper;
	agent->inotify_fd = -1;
	agent->oci_runtime = g_strdup("crun");
	agent->containers = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
						  (GDestroyNotify)container_free);
	agent->oom_watches = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_queue_init(&agent->events);
	g_queue_init(&agent->event_waiters);

	dirs[0] = agent->containers_dir;
	dirs[1] = agent->sockets_dir;
	dirs[2] = options->crun_root;
	dirs[3] = options->share_dir;
	for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
		if (g_mkdir_with_parents(dirs[i], 0700) < 0) {
			int saved_errno = errno;
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
				    "mkdir %s: %s", dirs[i], g_strerror(saved_errno));
			return NULL;
		}
	}
	agent->crun = cocoon_guest_crun_new(options->crun_binary, options->crun_root,
					    agent->run_dir, reaper);
	agent->stdio = cocoon_guest_stdio_new();
	agent->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (agent->inotify_fd >= 0)
		agent->inotify_id = g_unix_fd_add(agent->inotify_fd, G_IO_IN, inotify_cb, agent);
	else
		g_warning("inotify: %s (no OOM events)", g_strerror(errno));
	if (!crun_version_from_image(agent, options)) {
		const gchar *argv[] = {options->crun_binary, "--version", NULL};
		cocoon_guest_crun_spawn(agent->crun, argv, NULL, crun_version_cb, agent);
	}
	return g_steal_pointer(&agent);
}

void
cocoon_guest_agent_free(CocoonGuestAgent *agent)
{
	EventWaiter *waiter;

	if (agent == NULL)
		return;
	if (agent->shutdown_id != 0)
		g_source_remove(agent->shutdown_id);
	/* pending crun calls are dropped first: their operations point into the containers */
	g_clear_pointer(&agent->crun, cocoon_guest_crun_free);
	if (agent->containers != NULL)
		g_hash_table_unref(agent->containers);
	while ((waiter = g_queue_pop_head(&agent->event_waiters)) != NULL)
		event_waiter_answer(waiter, NULL);
	g_queue_clear_full(&agent->events, (GDestroyNotify)event_free);
	if (agent->inotify_id != 0)
		g_source_remove(agent->inotify_id);
	cocoon_fd_closep(&agent->inotify_fd);
	if (agent->oom_watches != NULL)
		g_hash_table_unref(agent->oom_watches);
	g_clear_pointer(&agent->stdio, cocoon_guest_stdio_free);
	g_free(agent->oci_runtime);
	g_free(agent->run_dir);
	g_free(agent->share_dir);
	g_free(agent->containers_dir);
	g_free(agent->sockets_dir);
	g_free(agent->cgroup_root);
	g_free(agent);
}
