/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-hypervisor"

#include "config.h"

#include "cocoon-qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cocoon-accel.h"
#include "cocoon-console-log.h"
#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-hypervisor-driver.h"
#include "cocoon-jail.h"
#include "cocoon-pidfd.h"
#include "cocoon-qemu-cmdline.h"
#include "cocoon-qmp.h"
#include "cocoon-uid-lease.h"
#include "cocoon-unix.h"
#include "cocoon-virtiofsd.h"

/* how long we wait for QEMU to go away after SIGKILL (only D state takes longer) */
#define KILL_WAIT_MS 5000
/* the pid file is two numbers */
#define PID_FILE_MAX 64
/* what of qemu.log an error quotes: its last lines, at most this many bytes */
#define QEMU_LOG_TAIL_LINES 3
#define QEMU_LOG_TAIL_MAX   1024
/* how long a failed QMP handshake waits for QEMU's exit, to quote its own reason instead */
#define EXIT_GRACE_MS 1000
/* a confined QEMU's limits: fds, and threads on top of one per vCPU */
#define QEMU_NOFILE_MAX 8192
#define QEMU_NPROC_MAX	256
/* qemu.log (QEMU's stderr) at most, then rotated once to qemu.log.1 */
#define QEMU_LOG_MAX (256 * 1024)
/* the console reader's buffer */
#define CONSOLE_CHUNK 16384

typedef struct {
	CocoonHypervisor parent;
	gchar *qmp_socket_path;
	gchar *qemu_log_path;
	gchar *pid_file_path;

	GPid pid; /* 0 when not running */
	/*
	 * signals and the exit: QEMU's pidfd or, without pidfd_open(2) (cocoon_pidfd_supported()),
	 * its pid and the read end of a pipe whose write end QEMU alone holds; NULL when not
	 * running
	 */
	CocoonPidfd *exit;
	GSource *exit_watch;
	CocoonQmp *qmp;
	gboolean stopping; /* the exit was asked for: no died callback */
	gchar *shutdown_reason;

	/* shared_fs VIRTIO_FS: the pod's virtiofsd, started before QEMU and ended after it */
	CocoonVirtiofsd *virtiofsd;
	gchar *backend_failure; /* why the driver killed QEMU (virtiofsd died), for the reason */

	/* the console: our end of QEMU's serial socket, read by console_thread into console_log */
	int console_fd;
	GThread *console_thread;
	CocoonConsoleLog *console_log;
	/* QEMU's stderr: the read end of its pipe, read by the same thread into qemu.log, capped */
	int stderr_fd;
	CocoonConsoleLog *stderr_log;

	/* hypervisor.confine: the uid QEMU runs as, held until QEMU is reaped */
	CocoonUidLease *lease;
} CocoonQemu;

static CocoonQemu *
cocoon_qemu(CocoonHypervisor *hypervisor)
{
	return (CocoonQemu *)hypervisor;
}

static const gchar *
sandbox_id(CocoonQemu *self)
{
	return self->parent.config->sandbox_id;
}

/* FALSE with error, unless QEMU is gone already */
static gboolean
signal_qemu(CocoonQemu *self, int signal, GError **error)
{
	g_autoptr(GError) local_error = NULL;
	if (cocoon_pidfd_send_signal(self->exit, signal, &local_error) ||
	    g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
		return TRUE;
	g_propagate_error(error, g_steal_pointer(&local_error));
	return FALSE;
}

gboolean
cocoon_qemu_read_start_time(GPid pid, guint64 *ret_start_time, GError **error)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) fields = NULL;
	const gchar *end;
	guint64 value;

	if (!g_file_get_contents(path, &contents, NULL, error))
		return FALSE;
	/* the command name may contain spaces and parentheses: fields start after the last ')' */
	end = strrchr(contents, ')');
	if (end != NULL)
		fields = g_strsplit(end + 1, " ", -1);
	/* fields[0] is "", [1] the state (field 3), so field 22 is fields[20] */
	if (fields == NULL || g_strv_length(fields) < 21 ||
	    !g_ascii_string_to_unsigned(fields[20], 10, 0, G_MAXUINT64, &value, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "cannot parse %s", path);
		return FALSE;
	}
	*ret_start_time = value;
	return TRUE;
}

/* ---- the child ---- */

typedef struct {
	pid_t parent;
	int netns_fd; /* the child's fd of the network namespace to enter, or -1 */
} ChildSetup;

/* after fork, before exec: async-signal-safe calls only */
static void
child_setup(gpointer user_data)
{
	const ChildSetup *setup = user_data;
	struct sigaction action = {.sa_handler = SIG_DFL};
	sigset_t none;

	/* die with the thread that forked us (see cocoon-hypervisor.h) */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != setup->parent)
		_exit(127);
	/* a signal to the shim's process group (a terminal's ^C) is not for QEMU */
	setpgid(0, 0);
	/* the pod's network namespace: /proc/<QEMU pid>/ns/net is the pod's network */
	if (setup->netns_fd >= 0) {
		static const char message[] = "cocoon: cannot enter the pod's network namespace\n";
		if (setns(setup->netns_fd, CLONE_NEWNET) < 0) {
			(void)!write(STDERR_FILENO, message, sizeof(message) - 1);
			_exit(127);
		}
		close(setup->netns_fd);
	}
	/* the shim's threads may block or ignore signals; QEMU must see them as usual */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sigaction(SIGPIPE, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGHUP, &action, NULL);
}

/* ---- the console ---- */

/* one read of fd into log; FALSE at EOF or on an error */
static gboolean
output_copy(CocoonQemu *self, int fd, CocoonConsoleLog *log, guint8 *buffer, gboolean *warned)
{
	g_autoptr(GError) error = NULL;
	ssize_t n = read(fd, buffer, CONSOLE_CHUNK);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return TRUE;
	if (n <= 0)
		return FALSE;
	if (!cocoon_console_log_write(log, buffer, (gsize)n, &error) && !*warned) {
		g_warning("sandbox %s: %s (output dropped)", sandbox_id(self), error->message);
		*warned = TRUE;
	}
	return TRUE;
}

/*
 * the cocoon-console thread (no context; blocks in poll): copies the guest's serial output and
 * QEMU's stderr into their capped logs until both end (QEMU's exit, or console_stop() shutting
 * the console). It must keep reading even when a log cannot be written: a full socket would
 * stall the guest's console, a full pipe QEMU itself.
 */
static gpointer
console_thread_run(gpointer user_data)
{
	CocoonQemu *self = user_data;
	g_autofree guint8 *buffer = g_malloc(CONSOLE_CHUNK);
	gboolean warned = FALSE;
	struct pollfd fds[2] = {
		{.fd = self->console_fd, .events = POLLIN},
		{.fd = self->stderr_fd, .events = POLLIN},
	};
	CocoonConsoleLog *logs[2] = {self->console_log, self->stderr_log};

	while (fds[0].fd >= 0 || fds[1].fd >= 0) {
		if (poll(fds, G_N_ELEMENTS(fds), -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (guint i = 0; i < G_N_ELEMENTS(fds); i++) {
			if (fds[i].fd >= 0 && fds[i].revents != 0 &&
			    !output_copy(self, fds[i].fd, logs[i], buffer, &warned))
				fds[i].fd = -1; /* poll skips it */
		}
	}
	return NULL;
}

/* ends the reader once it has drained what QEMU wrote; QEMU must be gone or going */
static void
console_stop(CocoonQemu *self)
{
	if (self->console_thread != NULL) {
		/* queued bytes are still read, then read() returns 0 even if QEMU's end lingers */
		if (self->console_fd >= 0)
			shutdown(self->console_fd, SHUT_RD);
		g_thread_join(g_steal_pointer(&self->console_thread));
	}
	cocoon_fd_closep(&self->console_fd);
	cocoon_fd_closep(&self->stderr_fd);
	g_clear_pointer(&self->console_log, cocoon_console_log_free);
	g_clear_pointer(&self->stderr_log, cocoon_console_log_free);
}

/* qemu.log, capped, and QEMU's end of the stderr pipe (ret_qemu_fd), before the spawn */
static gboolean
stderr_prepare(CocoonQemu *self, int *ret_qemu_fd, GError **error)
{
	int fds[2];

	self->stderr_log = cocoon_console_log_open(self->qemu_log_path, QEMU_LOG_MAX, error);
	if (self->stderr_log == NULL)
		return FALSE;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		cocoon_set_error_from_errno(error, "stderr pipe");
		g_clear_pointer(&self->stderr_log, cocoon_console_log_free);
		return FALSE;
	}
	self->stderr_fd = fds[0];
	*ret_qemu_fd = fds[1];
	return TRUE;
}

/* the console log and QEMU's end of the socket (ret_qemu_fd), before the spawn */
static gboolean
console_prepare(CocoonQemu *self, int *ret_qemu_fd, GError **error)
{
	const CocoonVmConfig *config = self->parent.config;
	int fds[2];

	self->console_log = cocoon_console_log_open(
		self->parent.console_log_path, (guint64)config->console_log_max_kib * 1024, error);
	if (self->console_log == NULL)
		return FALSE;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
		cocoon_set_error_from_errno(error, "console socket");
		g_clear_pointer(&self->console_log, cocoon_console_log_free);
		return FALSE;
	}
	self->console_fd = fds[0];
	*ret_qemu_fd = fds[1];
	return TRUE;
}

/* ---- exit handling ---- */

static void
remove_runtime_files(CocoonQemu *self)
{
	g_unlink(self->pid_file_path);
	g_unlink(self->qmp_socket_path);
	g_unlink(self->parent.agent_socket_path);
	g_unlink(self->parent.stdio_socket_path);
}

static void
on_qmp_event(CocoonQmp *qmp, const gchar *event, CocoonJson *data, gpointer user_data)
{
	CocoonQemu *self = user_data;

	if (g_strcmp0(event, "SHUTDOWN") == 0) {
		const gchar *reason = cocoon_json_object_get_string_member(data, "reason");
		g_free(self->shutdown_reason);
		self->shutdown_reason = g_strdup(reason != NULL ? reason : "unknown");
		g_debug("sandbox %s: QEMU shutdown: %s", sandbox_id(self), self->shutdown_reason);
	} else if (g_strcmp0(event, "STOP") == 0 || g_strcmp0(event, "RESUME") == 0) {
		g_debug("sandbox %s: vCPUs %s", sandbox_id(self),
			g_str_equal(event, "STOP") ? "stopped" : "resumed");
	}
}

/*
 * collects the exit of an exited QEMU (self->exit says so) and releases what belonged to the
 * running process; returns the wait status
 */
static gint
reap(CocoonQemu *self)
{
	gint status = 0;

	while (waitpid(self->pid, &status, 0) < 0 && errno == EINTR)
		;
	self->parent.wait_status = status;
	self->pid = 0;
	if (self->exit_watch != NULL) {
		g_source_destroy(self->exit_watch);
		g_clear_pointer(&self->exit_watch, g_source_unref);
	}
	g_clear_pointer(&self->exit, cocoon_pidfd_free);
	console_stop(self);
	if (self->qmp != NULL) {
		/* a SHUTDOWN event may still sit in the socket */
		cocoon_qmp_dispatch_pending(self->qmp);
		g_clear_pointer(&self->qmp, cocoon_qmp_free);
	}
	/* after QEMU: a virtiofsd killed first would leave the guest's I/O hanging */
	g_clear_pointer(&self->virtiofsd, cocoon_virtiofsd_free);
	/* no process runs as the uid any more (QEMU's PID namespace ended with it) */
	g_clear_pointer(&self->lease, cocoon_uid_lease_release);
	remove_runtime_files(self);
	return status;
}

static gchar *
describe_exit(CocoonQemu *self, gint status)
{
	g_autofree gchar *how = cocoon_hypervisor_describe_wait_status(status);
	g_autofree gchar *log =
		cocoon_hypervisor_file_tail(self->qemu_log_path, QEMU_LOG_TAIL_LINES);
	g_autoptr(GString) text = g_string_new(NULL);

	/* QEMU's stderr may hold anything: quote its end, bounded */
	if (strlen(log) > QEMU_LOG_TAIL_MAX) {
		const gchar *end = log + strlen(log) - QEMU_LOG_TAIL_MAX;
		gchar *cut = g_strconcat("...", g_utf8_find_next_char(end, NULL), NULL);
		g_free(log);
		log = cut;
	}
	g_string_append_printf(text, "QEMU %s", how);
	if (self->backend_failure != NULL)
		g_string_append_printf(text, " (killed by cocoon: %s)", self->backend_failure);
	if (self->shutdown_reason != NULL)
		g_string_append_printf(text, " (shutdown reason: %s)", self->shutdown_reason);
	if (log[0] != '\0')
		g_string_append_printf(text, "; qemu.log: %s", log);
	return g_string_free(g_steal_pointer(&text), FALSE);
}

static gboolean
on_qemu_exit(gint fd, GIOCondition condition, gpointer user_data)
{
	CocoonQemu *self = user_data;
	g_autofree gchar *reason = NULL;
	gboolean expected = self->stopping;
	gint status;

	/* reap() destroys this source: fine while it dispatches, GLib holds a reference */
	status = reap(self);
	if (expected)
		return G_SOURCE_REMOVE;
	reason = describe_exit(self, status);
	/* the owner logs it: it knows what the death means */
	g_debug("sandbox %s: %s", sandbox_id(self), reason);
	cocoon_hypervisor_emit_died(&self->parent, status, reason);
	return G_SOURCE_REMOVE;
}

/* SIGKILL and wait; TRUE once reaped */
static gboolean
kill_and_reap(CocoonQemu *self)
{
	g_autoptr(GError) error = NULL;

	if (self->pid == 0)
		return TRUE;
	self->stopping = TRUE;
	if (!signal_qemu(self, SIGKILL, &error))
		g_warning("sandbox %s: cannot kill QEMU pid %d: %s", sandbox_id(self),
			  (int)self->pid, error->message);
	if (!cocoon_pidfd_wait(self->exit, KILL_WAIT_MS))
		return FALSE;
	reap(self);
	return TRUE;
}

/* ---- start ---- */

static gboolean
check_readable(CocoonQemu *self, const gchar *what, const gchar *path, GError **error)
{
	if (g_access(path, R_OK) == 0)
		return TRUE;
	{
		cocoon_set_error_from_errno(error, "sandbox %s: start: %s %s", sandbox_id(self),
					    what, path);
	}
	return FALSE;
}

static gboolean
prepare_state_dir(CocoonQemu *self, GError **error)
{
	const CocoonVmConfig *config = self->parent.config;
	const gchar *sockets[] = {self->qmp_socket_path, self->parent.agent_socket_path,
				  self->parent.stdio_socket_path};

	if (g_mkdir_with_parents(config->state_dir, 0700) < 0) {
		cocoon_set_error_from_errno(error, "sandbox %s: start: mkdir %s", sandbox_id(self),
					    config->state_dir);
		return FALSE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(sockets); i++) {
		if (strlen(sockets[i]) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
				    "sandbox %s: start: socket path too long for a unix socket "
				    "(%zu bytes max): %s",
				    sandbox_id(self),
				    sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1, sockets[i]);
			return FALSE;
		}
	}
	if (config->shared_fs != COCOON_SHARED_FS_NONE) {
		g_autofree gchar *shared = cocoon_vm_config_get_shared_dir(config);
		if (g_mkdir_with_parents(shared, 0700) < 0) {
			cocoon_set_error_from_errno(error, "sandbox %s: start: mkdir %s",
						    sandbox_id(self), shared);
			return FALSE;
		}
	}
	/* a QEMU left over from a shim that died must not hold on to this state */
	if (!cocoon_qemu_kill_from_state(config->state_dir, error)) {
		g_prefix_error(error, "sandbox %s: start: ", sandbox_id(self));
		return FALSE;
	}
	remove_runtime_files(self);
	return TRUE;
}

static gboolean
write_pid_file(CocoonQemu *self, GError **error)
{
	return cocoon_hypervisor_write_pid_file(self->pid_file_path, self->pid, error);
}

/* kills the QEMU spawn() just started, before anything watches it */
static void
spawn_undo(CocoonQemu *self)
{
	kill(self->pid, SIGKILL);
	while (waitpid(self->pid, NULL, 0) < 0 && errno == EINTR)
		;
	self->pid = 0;
	console_stop(self);
	g_clear_pointer(&self->virtiofsd, cocoon_virtiofsd_free);
	g_clear_pointer(&self->lease, cocoon_uid_lease_release);
}

/*
 * virtiofsd died under a running VM: the guest's file system requests would wait for ever, so
 * the VM goes, and its died callback says why
 */
static void
on_virtiofsd_exit(CocoonVirtiofsd *virtiofsd, const gchar *reason, gpointer user_data)
{
	CocoonQemu *self = user_data;

	if (self->pid == 0 || self->stopping)
		return;
	g_warning("sandbox %s: %s: stopping the VM", sandbox_id(self), reason);
	g_free(self->backend_failure);
	self->backend_failure = g_strdup(reason);
	(void)signal_qemu(self, SIGKILL, NULL);
}

/* the listening monitor, agent and stdio sockets, and virtiofsd's connection, for QEMU's fds */
static gboolean
open_sockets(CocoonQemu *self, GArray *source_fds, GArray *target_fds, GPtrArray *owned,
	     GError **error)
{
	const CocoonVmConfig *config = self->parent.config;
	const struct {
		const gchar *path;
		gint target;
	} listeners[] = {
		{self->qmp_socket_path, COCOON_VM_QMP_FD},
		{self->parent.agent_socket_path, COCOON_VM_AGENT_FD},
		{self->parent.stdio_socket_path, COCOON_VM_STDIO_FD},
	};

	for (guint i = 0; i < G_N_ELEMENTS(listeners); i++) {
		int fd = cocoon_unix_listen(listeners[i].path, 4, error);
		if (fd < 0)
			return FALSE;
		g_ptr_array_add(owned, GINT_TO_POINTER(fd));
		g_array_append_val(source_fds, fd);
		g_array_append_val(target_fds, listeners[i].target);
	}
	if (config->shared_fs == COCOON_SHARED_FS_VIRTIO_FS) {
		g_autofree gchar *path =
			cocoon_vm_config_state_path(config, COCOON_VM_VIRTIOFSD_SOCKET);
		gint target = COCOON_VM_VIRTIOFS_FD;
		/* virtiofsd listens already: the connection waits in its backlog */
		int fd = cocoon_unix_connect(path, error);
		if (fd < 0)
			return FALSE;
		g_ptr_array_add(owned, GINT_TO_POINTER(fd));
		g_array_append_val(source_fds, fd);
		g_array_append_val(target_fds, target);
	}
	return TRUE;
}

static void
close_owned(GPtrArray *owned)
{
	for (guint i = 0; i < owned->len; i++)
		close(GPOINTER_TO_INT(g_ptr_array_index(owned, i)));
	g_ptr_array_set_size(owned, 0);
}

/* the jail of a confined QEMU (hypervisor.confine, docs/security.md "The VMM's jail") */
static CocoonJail *
build_jail(CocoonQemu *self, const gchar *program, GError **error)
{
	const CocoonVmConfig *config = self->parent.config;
	uid_t uid = cocoon_uid_lease_get_uid(self->lease);
	g_autofree gchar *root = cocoon_vm_config_state_path(config, "jail");
	g_autofree gchar *hostname = g_strdup_printf("cocoon-%.12s", sandbox_id(self));
	g_autoptr(CocoonJail) jail = NULL;
	static const gchar *const devices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
					       "/dev/urandom"};

	if (g_mkdir_with_parents(root, 0700) < 0) {
		cocoon_set_error_from_errno(error, "mkdir %s", root);
		return NULL;
	}
	jail = cocoon_jail_new(root, uid, (gid_t)uid);
	cocoon_jail_expose_program(jail, program);
	cocoon_jail_expose(jail, config->kernel, FALSE);
	if (config->initrd != NULL && config->initrd[0] != '\0')
		cocoon_jail_expose(jail, config->initrd, FALSE);
	for (guint i = 0; i < G_N_ELEMENTS(devices); i++)
		cocoon_jail_add_device(jail, devices[i]);
	if (self->parent.accel == COCOON_ACCEL_KVM) {
		struct group *kvm = getgrnam("kvm");
		cocoon_jail_add_device(jail, "/dev/kvm");
		/* /dev/kvm is root:kvm 0660: the one supplementary group QEMU gets */
		if (kvm != NULL)
			cocoon_jail_add_group(jail, kvm->gr_gid);
	}
	if (config->shared_fs == COCOON_SHARED_FS_9P) {
		/*
		 * QEMU serves 9p itself: it sees the share (and the mounts the shim adds to it
		 * later) and keeps what it needs to act on files of any owner there. Never
		 * CAP_DAC_READ_SEARCH: open_by_handle_at(2) would reach the host's whole file
		 * system through any mount it sees (the jail's filter denies it too)
		 */
		g_autofree gchar *shared = cocoon_vm_config_get_shared_dir(config);
		cocoon_jail_expose_live(jail, shared);
		cocoon_jail_keep_capability(jail, CAP_CHOWN);
		cocoon_jail_keep_capability(jail, CAP_DAC_OVERRIDE);
		cocoon_jail_keep_capability(jail, CAP_FOWNER);
		cocoon_jail_keep_capability(jail, CAP_FSETID);
	}
	/*
	 * what the operator's extra_args name (firmware: read-only; "rw:DIR", an extra monitor
	 * socket's directory: writable, and the same for every pod, see docs/security.md)
	 */
	for (guint i = 0; config->jail_expose != NULL && config->jail_expose[i] != NULL; i++) {
		const gchar *path = config->jail_expose[i];
		gboolean writable = g_str_has_prefix(path, COCOON_VM_EXPOSE_RW_PREFIX);
		cocoon_jail_expose(jail,
				   writable ? path + strlen(COCOON_VM_EXPOSE_RW_PREFIX) : path,
				   writable);
	}
	cocoon_jail_set_hostname(jail, hostname);
	/* every QEMU thread counts against NPROC: vCPUs, I/O, its worker pool (64 at most) */
	cocoon_jail_set_limits(jail, QEMU_NOFILE_MAX, QEMU_NPROC_MAX + config->vcpus, 0);
	if (config->netns_fd >= 0)
		cocoon_jail_set_netns(jail, config->netns_fd);
	return g_steal_pointer(&jail);
}

static gboolean
spawn(CocoonQemu *self, GStrv argv, GError **error)
{
	const CocoonVmConfig *config = self->parent.config;
	g_autofree gchar *program = NULL;
	g_autoptr(GPtrArray) spawn_argv = g_ptr_array_new();
	g_autoptr(GPtrArray) owned = g_ptr_array_new();
	cocoon_autofd int null_fd = -1;
	cocoon_autofd int log_fd = -1;
	ChildSetup setup = {.parent = getpid(), .netns_fd = -1};
	g_autoptr(GArray) source_fds = g_array_new(FALSE, FALSE, sizeof(gint));
	g_autoptr(GArray) target_fds = g_array_new(FALSE, FALSE, sizeof(gint));
	cocoon_autofd int exit_pipe_read = -1;
	cocoon_autofd int exit_pipe_write = -1;
	cocoon_autofd int console_qemu_fd = -1;
	gint next_fd = COCOON_VM_VIRTIOFS_FD + 1;
	gboolean spawned;
	GPid pid = 0;

	program = g_path_is_absolute(config->qemu_binary)
			  ? g_strdup(config->qemu_binary)
			  : g_find_program_in_path(config->qemu_binary);
	if (program == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "sandbox %s: start: QEMU binary %s not found in PATH", sandbox_id(self),
			    config->qemu_binary);
		return FALSE;
	}
	if (config->confine && !cocoon_pidfd_supported()) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			    "sandbox %s: start: a confined QEMU needs pidfd_open (Linux >= 5.3); "
			    "hypervisor.confine = false runs it unconfined",
			    sandbox_id(self));
		return FALSE;
	}
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0 || !stderr_prepare(self, &log_fd, error)) {
		if (null_fd < 0)
			cocoon_set_error_from_errno(error, "open /dev/null");
		g_prefix_error(error, "sandbox %s: start: ", sandbox_id(self));
		return FALSE;
	}
	g_ptr_array_add(spawn_argv, program);
	for (guint i = 0; argv[i] != NULL; i++)
		g_ptr_array_add(spawn_argv, argv[i]);
	g_ptr_array_add(spawn_argv, NULL);
	/* the taps at the fds the command line names, then the namespace for child_setup */
	for (guint i = 0; config->nics != NULL && i < config->nics->len; i++) {
		const CocoonVmNic *nic = g_ptr_array_index(config->nics, i);
		gint target = COCOON_VM_NIC_FD_BASE + (gint)i;
		g_array_append_val(source_fds, nic->tap_fd);
		g_array_append_val(target_fds, target);
	}
	if (!open_sockets(self, source_fds, target_fds, owned, error)) {
		close_owned(owned);
		g_prefix_error(error, "sandbox %s: start: ", sandbox_id(self));
		return FALSE;
	}
	if (config->console_log_max_kib > 0) {
		gint target = COCOON_VM_CONSOLE_FD;
		if (!console_prepare(self, &console_qemu_fd, error)) {
			close_owned(owned);
			g_prefix_error(error, "sandbox %s: start: ", sandbox_id(self));
			return FALSE;
		}
		g_array_append_val(source_fds, console_qemu_fd);
		g_array_append_val(target_fds, target);
	}
	if (config->confine) {
		g_autoptr(CocoonJail) jail = NULL;
		g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(CocoonJailFd));
		CocoonJailFd stdio[] = {{null_fd, 0}, {null_fd, 1}, {log_fd, 2}};

		self->lease = cocoon_uid_lease_acquire(config->lease_dir, config->uid_base,
						       config->uid_count, sandbox_id(self), error);
		if (self->lease != NULL)
			jail = build_jail(self, program, error);
		g_array_append_vals(fds, stdio, G_N_ELEMENTS(stdio));
		for (guint i = 0; i < source_fds->len; i++) {
			CocoonJailFd fd = {g_array_index(source_fds, gint, i),
					   g_array_index(target_fds, gint, i)};
			g_array_append_val(fds, fd);
		}
		spawned = jail != NULL &&
			  cocoon_jail_spawn(jail, program, (const gchar *const *)spawn_argv->pdata,
					    (const CocoonJailFd *)(gpointer)fds->data, fds->len,
					    &pid, error);
		if (!spawned)
			g_clear_pointer(&self->lease, cocoon_uid_lease_release);
	} else {
		if (config->netns_fd >= 0) {
			setup.netns_fd = next_fd++;
			g_array_append_val(source_fds, config->netns_fd);
			g_array_append_val(target_fds, setup.netns_fd);
		}
		/* no pidfds: QEMU holds the exit pipe (it never closes it, nor starts a process) */
		if (!cocoon_pidfd_supported()) {
			int pipe_fds[2];
			gint target = next_fd++;
			if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
				int saved_errno = errno;
				console_stop(self);
				close_owned(owned);
				g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
					    "sandbox %s: start: exit pipe: %s", sandbox_id(self),
					    g_strerror(saved_errno));
				return FALSE;
			}
			exit_pipe_read = pipe_fds[0];
			exit_pipe_write = pipe_fds[1];
			g_array_append_val(source_fds, exit_pipe_write);
			g_array_append_val(target_fds, target);
		}
		/* every other fd is closed in the child (no G_SPAWN_LEAVE_DESCRIPTORS_OPEN) */
		spawned = g_spawn_async_with_pipes_and_fds(
			config->state_dir, (const gchar *const *)spawn_argv->pdata, NULL,
			G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_FILE_AND_ARGV_ZERO, child_setup, &setup,
			null_fd, null_fd, log_fd, (const gint *)source_fds->data,
			(const gint *)target_fds->data, source_fds->len, &pid, NULL, NULL, NULL,
			error);
	}
	/* QEMU holds the sockets now: its exit closes them, and our connections see it */
	close_owned(owned);
	if (!spawned) {
		console_stop(self);
		g_prefix_error(error, "sandbox %s: start: ", sandbox_id(self));
		return FALSE;
	}
	self->pid = pid;
	/* QEMU's copy is the only one left: its exit closes the socket */
	cocoon_fd_closep(&console_qemu_fd);
	/* QEMU holds the write end: its exit ends the reader's stderr */
	cocoon_fd_closep(&log_fd);
	{
		self->console_thread =
			g_thread_try_new("cocoon-console", console_thread_run, self, error);
		if (self->console_thread == NULL) {
			spawn_undo(self);
			g_prefix_error(error,
				       "sandbox %s: start: console reader: ", sandbox_id(self));
			return FALSE;
		}
	}
	if (exit_pipe_read >= 0) {
		self->exit = cocoon_pidfd_new_for_exit_pipe(pid, cocoon_steal_fd(&exit_pipe_read));
		return TRUE;
	}
	/* race-free: the pid stays ours until we reap it */
	self->exit = cocoon_pidfd_open(pid, error);
	if (self->exit == NULL) {
		spawn_undo(self);
		g_prefix_error(error, "sandbox %s: start: pidfd_open (Linux >= 5.3 needed): ",
			       sandbox_id(self));
		return FALSE;
	}
	return TRUE;
}

/*
 * a QMP failure while starting (the connection reset, an answer missing) mostly means QEMU is
 * dying of something it wrote on stderr (a kernel it cannot load): once it exited, the error is
 * its exit and the tail of qemu.log, with the QMP error after it
 */
static void
explain_start_failure(CocoonQemu *self, GError **error)
{
	g_autofree gchar *reason = NULL;
	g_autofree gchar *qmp_message = NULL;

	if (error == NULL || *error == NULL || self->pid == 0 ||
	    !cocoon_pidfd_wait(self->exit, EXIT_GRACE_MS))
		return;
	reason = describe_exit(self, reap(self));
	qmp_message = g_strdup((*error)->message);
	g_clear_error(error);
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "sandbox %s: start: %s (then: %s)",
		    sandbox_id(self), reason, qmp_message);
}

/* retries while the socket is not there yet; fails at once when QEMU exits */
static gboolean
connect_monitor(CocoonQemu *self, gint64 deadline, GError **error)
{
	const CocoonVmConfig *config = self->parent.config;

	for (;;) {
		g_autoptr(GError) local_error = NULL;
		gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;

		if (cocoon_pidfd_wait(self->exit, 0)) {
			g_autofree gchar *reason = describe_exit(self, reap(self));
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "sandbox %s: start: %s",
				    sandbox_id(self), reason);
			return FALSE;
		}
		if (left_ms <= 0) {
			g_set_error(
				error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				"sandbox %s: start: QEMU did not open its monitor %s within %u ms",
				sandbox_id(self), self->qmp_socket_path, config->start_timeout_ms);
			return FALSE;
		}
		self->qmp = cocoon_qmp_connect(self->qmp_socket_path, sandbox_id(self),
					       (guint)MIN(left_ms, (gint64)config->qmp_timeout_ms),
					       &local_error);
		if (self->qmp != NULL)
			return TRUE;
		/* the socket is QEMU's from the start: a QEMU that never serves it times out here
		 */
		if (g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
			if (g_get_monotonic_time() < deadline)
				continue;
			g_set_error(
				error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				"sandbox %s: start: QEMU did not open its monitor %s within %u ms",
				sandbox_id(self), self->qmp_socket_path, config->start_timeout_ms);
			return FALSE;
		}
		if (!g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) &&
		    !g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)) {
			g_propagate_prefixed_error(error, g_steal_pointer(&local_error),
						   "sandbox %s: start: ", sandbox_id(self));
			explain_start_failure(self, error);
			return FALSE;
		}
		/* not listening yet: wait a little, or for the exit */
		cocoon_pidfd_wait(self->exit, 10);
	}
}

static gboolean
qemu_start(CocoonHypervisor *hypervisor, GError **error)
{
	CocoonQemu *self = cocoon_qemu(hypervisor);
	const CocoonVmConfig *config = hypervisor->config;
	CocoonQemuHostInfo host = {0};
	g_auto(GStrv) argv = NULL;
	g_autofree gchar *status = NULL;
	const gchar *why = NULL;
	gint64 deadline;
	gboolean running = FALSE;

	if (self->pid != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
			    "sandbox %s: start: QEMU is already running (pid %d)", sandbox_id(self),
			    (int)self->pid);
		return FALSE;
	}
	/* config was validated by cocoon_qemu_new() and the builder checks it again */
	host.accel = cocoon_accel_resolve(config->accel, &why);
	if (g_str_equal(config->machine, COCOON_MACHINE_MICROVM) && host.accel == COCOON_ACCEL_TCG)
		host.tsc_khz = config->tsc_khz != 0 ? config->tsc_khz : cocoon_host_tsc_khz();
	argv = cocoon_qemu_build_cmdline(config, &host, error);
	if (argv == NULL)
		return FALSE;
	if (!check_readable(self, "guest kernel", config->kernel, error))
		return FALSE;
	if (config->initrd != NULL && config->initrd[0] != '\0' &&
	    !check_readable(self, "guest initrd", config->initrd, error))
		return FALSE;
	if (!prepare_state_dir(self, error))
		return FALSE;

	self->stopping = FALSE;
	g_clear_pointer(&self->shutdown_reason, g_free);
	hypervisor->wait_status = -1;
	hypervisor->accel = host.accel;
	g_clear_pointer(&self->backend_failure, g_free);
	deadline = g_get_monotonic_time() + (gint64)config->start_timeout_ms * 1000;
	if (config->shared_fs == COCOON_SHARED_FS_VIRTIO_FS) {
		self->virtiofsd =
			cocoon_virtiofsd_start(config, cocoon_hypervisor_get_context(hypervisor),
					       on_virtiofsd_exit, self, error);
		if (self->virtiofsd == NULL)
			return FALSE;
	}
	if (!spawn(self, argv, error)) {
		g_clear_pointer(&self->virtiofsd, cocoon_virtiofsd_free);
		return FALSE;
	}
	g_debug("sandbox %s: QEMU pid %d (%s: %s)", sandbox_id(self), (int)self->pid,
		cocoon_accel_to_string(host.accel), why);

	if (!write_pid_file(self, error)) {
		g_prefix_error(error, "sandbox %s: start: pid file: ", sandbox_id(self));
		kill_and_reap(self);
		return FALSE;
	}
	self->exit_watch = cocoon_pidfd_source_new(self->exit);
	g_source_set_callback(self->exit_watch, G_SOURCE_FUNC(on_qemu_exit), self, NULL);
	g_source_attach(self->exit_watch, cocoon_hypervisor_get_context(hypervisor));

	if (!connect_monitor(self, deadline, error)) {
		kill_and_reap(self);
		return FALSE;
	}
	cocoon_qmp_set_event_func(self->qmp, on_qmp_event, self);
	cocoon_qmp_attach(self->qmp, cocoon_hypervisor_get_context(hypervisor));
	if (!cocoon_qmp_query_status(self->qmp, config->qmp_timeout_ms, &status, &running, error) ||
	    !running) {
		if (status != NULL)
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "sandbox %s: start: QEMU is %s, not running", sandbox_id(self),
				    status);
		explain_start_failure(self, error);
		kill_and_reap(self);
		return FALSE;
	}
	return TRUE;
}

/* ---- the other operations ---- */

static gboolean
qemu_stop(CocoonHypervisor *hypervisor, guint timeout_ms, GError **error)
{
	CocoonQemu *self = cocoon_qemu(hypervisor);
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	gint64 left_ms;

	if (self->pid == 0)
		return TRUE;
	self->stopping = TRUE;
	if (self->qmp != NULL && cocoon_qmp_is_connected(self->qmp)) {
		g_autoptr(GError) local_error = NULL;
		if (!cocoon_qmp_quit(self->qmp,
				     MIN(timeout_ms, hypervisor->config->qmp_timeout_ms) + 1,
				     &local_error))
			g_debug("%s", local_error->message);
	} else {
		signal_qemu(self, SIGTERM, NULL);
	}
	left_ms = (deadline - g_get_monotonic_time()) / 1000;
	if (cocoon_pidfd_wait(self->exit, left_ms > 0 ? (guint)left_ms : 0)) {
		reap(self);
		return TRUE;
	}
	g_message("sandbox %s: QEMU pid %d did not exit within %u ms, killing it", sandbox_id(self),
		  (int)self->pid, timeout_ms);
	if (!kill_and_reap(self)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			    "sandbox %s: stop: QEMU pid %d still there %u ms after SIGKILL",
			    sandbox_id(self), (int)self->pid, KILL_WAIT_MS);
		return FALSE;
	}
	return TRUE;
}

static GPid
qemu_get_pid(CocoonHypervisor *hypervisor)
{
	return cocoon_qemu(hypervisor)->pid;
}

static GPid
qemu_get_virtiofsd_pid(CocoonHypervisor *hypervisor)
{
	CocoonQemu *self = cocoon_qemu(hypervisor);

	return self->virtiofsd != NULL ? cocoon_virtiofsd_get_pid(self->virtiofsd) : 0;
}

static void
qemu_finalize(CocoonHypervisor *hypervisor)
{
	CocoonQemu *self = cocoon_qemu(hypervisor);

	if (self->pid != 0) {
		g_message("sandbox %s: QEMU pid %d still running when its hypervisor is freed, "
			  "killing it",
			  sandbox_id(self), (int)self->pid);
		if (!kill_and_reap(self)) {
			g_warning("sandbox %s: QEMU pid %d did not exit after SIGKILL: its uid "
				  "stays leased while this shim lives",
				  sandbox_id(self), (int)self->pid);
			/* the lock fd stays open on purpose: the uid may still be in use */
			(void)g_steal_pointer(&self->lease);
		}
	}
	if (self->exit_watch != NULL) {
		g_source_destroy(self->exit_watch);
		g_clear_pointer(&self->exit_watch, g_source_unref);
	}
	g_clear_pointer(&self->exit, cocoon_pidfd_free);
	console_stop(self);
	g_clear_pointer(&self->qmp, cocoon_qmp_free);
	g_clear_pointer(&self->virtiofsd, cocoon_virtiofsd_free);
	g_clear_pointer(&self->lease, cocoon_uid_lease_release);
	g_free(self->backend_failure);
	g_free(self->qmp_socket_path);
	g_free(self->qemu_log_path);
	g_free(self->pid_file_path);
	g_free(self->shutdown_reason);
}

static const CocoonHypervisorOps qemu_ops = {
	.start = qemu_start,
	.stop = qemu_stop,
	.get_pid = qemu_get_pid,
	.get_virtiofsd_pid = qemu_get_virtiofsd_pid,
	.finalize = qemu_finalize,
};

/* ---- kill from state ---- */

static gboolean
parse_pid_file(const gchar *path, const gchar *contents, GPid *ret_pid, guint64 *ret_start_time,
	       GError **error)
{
	g_auto(GStrv) fields = g_strsplit_set(g_strstrip((gchar *)contents), " ", -1);
	guint64 pid;
	guint64 start_time;

	if (g_strv_length(fields) != 2 ||
	    !g_ascii_string_to_unsigned(fields[0], 10, 2, G_MAXINT32, &pid, NULL) ||
	    !g_ascii_string_to_unsigned(fields[1], 10, 0, G_MAXUINT64, &start_time, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "kill from state: %s is not \"PID STARTTIME\"", path);
		return FALSE;
	}
	*ret_pid = (GPid)pid;
	*ret_start_time = start_time;
	return TRUE;
}

/**
 * cocoon_hypervisor_kill_pid_file:
 * @path: a pid file written by cocoon_hypervisor_write_pid_file()
 * @what: the process, for messages ("QEMU")
 * @group: also SIGKILL its process group (the process leads one)
 *
 * Kills the process recorded in @path if and only if the recorded pid still belongs to the
 * process started then, waits (bounded) for its exit and removes the pid file.
 */
gboolean
cocoon_hypervisor_kill_pid_file(const gchar *path, const gchar *what, gboolean group,
				GError **error)
{
	g_autofree gchar *contents = NULL;
	g_autoptr(GError) local_error = NULL;
	g_autoptr(GError) open_error = NULL;
	g_autoptr(CocoonPidfd) pidfd = NULL;
	guint64 recorded_start;
	guint64 start_time;
	gsize length = 0;
	GPid pid;

	if (!g_file_get_contents(path, &contents, &length, &local_error)) {
		if (g_error_matches(local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "kill from state: %s",
			    local_error->message);
		return FALSE;
	}
	if (length > PID_FILE_MAX || strlen(contents) != length) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "kill from state: %s is not a pid file", path);
		return FALSE;
	}
	if (!parse_pid_file(path, contents, &pid, &recorded_start, error))
		return FALSE;

	/*
	 * open first, check second: if the pid was reused in between, the start time differs
	 * (without pidfds: check, then kill by pid; a reuse in between goes unnoticed)
	 */
	pidfd = cocoon_pidfd_open(pid, &open_error);
	if (pidfd == NULL && !g_error_matches(open_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
		g_set_error(error, G_IO_ERROR, open_error->code,
			    "kill from state: pidfd_open(%d): %s", (int)pid, open_error->message);
		return FALSE;
	}
	if (pidfd == NULL || !cocoon_qemu_read_start_time(pid, &start_time, NULL)) {
		g_debug("kill from state: %s pid %d is gone", what, (int)pid);
	} else if (start_time != recorded_start) {
		g_message("kill from state: pid %d now belongs to another process (started at "
			  "%" G_GUINT64_FORMAT ", %s at %" G_GUINT64_FORMAT "), not killing it",
			  (int)pid, start_time, what, recorded_start);
	} else {
		g_autoptr(GError) kill_error = NULL;
		/*
		 * the group first, while its leader (checked just now) still holds the pid: the
		 * number cannot name another group then
		 */
		if (group)
			(void)kill(-pid, SIGKILL);
		if (!cocoon_pidfd_send_signal(pidfd, SIGKILL, &kill_error) &&
		    !g_error_matches(kill_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
			g_set_error(error, G_IO_ERROR, kill_error->code,
				    "kill from state: kill %s pid %d: %s", what, (int)pid,
				    kill_error->message);
			return FALSE;
		}
		if (!cocoon_pidfd_wait(pidfd, KILL_WAIT_MS)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "kill from state: %s pid %d still there %u ms after SIGKILL",
				    what, (int)pid, KILL_WAIT_MS);
			return FALSE;
		}
		/* our own child (same process, another hypervisor object): collect it */
		waitpid(pid, NULL, WNOHANG);
		g_message("kill from state: killed %s pid %d", what, (int)pid);
	}
	if (g_unlink(path) < 0 && errno != ENOENT) {
		cocoon_set_error_from_errno(error, "kill from state: remove %s", path);
		return FALSE;
	}
	return TRUE;
}

/**
 * cocoon_hypervisor_write_pid_file:
 *
 * "PID STARTTIME" for cocoon_hypervisor_kill_pid_file()
 */
gboolean
cocoon_hypervisor_write_pid_file(const gchar *path, GPid pid, GError **error)
{
	g_autofree gchar *text = NULL;
	guint64 start_time;

	if (!cocoon_qemu_read_start_time(pid, &start_time, error))
		return FALSE;
	text = g_strdup_printf("%d %" G_GUINT64_FORMAT "\n", (int)pid, start_time);
	return g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
					error);
}

/**
 * cocoon_qemu_kill_from_state:
 * @state_dir: a sandbox state directory
 *
 * Kills the QEMU of a previous start (e.g. after the shim crashed) if and only if the recorded
 * pid still belongs to the process started then; then its virtiofsd, the same way.
 */
gboolean
cocoon_qemu_kill_from_state(const gchar *state_dir, GError **error)
{
	g_autofree gchar *path = g_build_filename(state_dir, COCOON_VM_PID_FILE, NULL);

	/* QEMU first: a virtiofsd killed under a running QEMU leaves the guest's I/O hanging */
	if (!cocoon_hypervisor_kill_pid_file(path, "QEMU", FALSE, error))
		return FALSE;
	return cocoon_virtiofsd_kill_from_state(state_dir, error);
}

/* ---- construction ---- */

/**
 * cocoon_qemu_new:
 * @config: the VM; copied
 *
 * Returns: (transfer full): a stopped QEMU hypervisor, or %NULL when @config is invalid
 */
CocoonHypervisor *
cocoon_qemu_new(const CocoonVmConfig *config, GError **error)
{
	CocoonQemu *self;

	g_return_val_if_fail(config != NULL, NULL);
	if (!cocoon_vm_config_validate(config, error))
		return NULL;
	self = g_new0(CocoonQemu, 1);
	cocoon_hypervisor_init(&self->parent, &qemu_ops, config);
	self->qmp_socket_path = cocoon_vm_config_state_path(config, COCOON_VM_QMP_SOCKET);
	self->qemu_log_path = cocoon_vm_config_state_path(config, COCOON_VM_QEMU_LOG);
	self->pid_file_path = cocoon_vm_config_state_path(config, COCOON_VM_PID_FILE);
	self->console_fd = -1;
	self->stderr_fd = -1;
	return &self->parent;
}
