/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-hypervisor"

#include "config.h"

#include "cocoon-virtiofsd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-unix.h"
#include "cocoon-hypervisor-driver.h"
#include "cocoon-pidfd.h"
#include "cocoon-qemu-cmdline.h"

/* how long stop() waits for the exit after SIGKILL */
#define KILL_WAIT_MS 5000
/* virtiofsd gets the listening vhost-user socket as this fd */
#define SOCKET_FD 3
/* what of virtiofsd.log a message quotes */
#define LOG_TAIL_LINES 3
#define LOG_TAIL_MAX   512

struct _CocoonVirtiofsd {
	gchar *sandbox_id;
	gchar *socket_path;
	gchar *log_path;
	gchar *pid_file_path;
	GPid pid; /* 0 once reaped */
	CocoonPidfd *exit;
	GSource *exit_watch;
	gint wait_status;
	CocoonVirtiofsdExitFunc exit_func;
	gpointer exit_data;
};

typedef struct {
	pid_t parent;
} ChildSetup;

/* after fork, before exec: async-signal-safe calls only */
static void
child_setup(gpointer user_data)
{
	const ChildSetup *setup = user_data;
	struct sigaction action = {.sa_handler = SIG_DFL};
	sigset_t none;

	/* dies with the thread that started it, as QEMU does (cocoon-hypervisor.h) */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != setup->parent)
		_exit(127);
	/* its own group: stop() kills the sandboxed child with it */
	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sigaction(SIGPIPE, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGHUP, &action, NULL);
}

static gboolean
open_log(const gchar *path, int *ret_fd, GError **error)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);

	if (fd < 0) {
		cocoon_set_error_from_errno(error, "open %s", path);
		return FALSE;
	}
	*ret_fd = fd;
	return TRUE;
}

/* collects the exit of an exited virtiofsd and releases what belonged to it */
static void
reap(CocoonVirtiofsd *self)
{
	gint status = 0;

	while (waitpid(self->pid, &status, 0) < 0 && errno == EINTR)
		;
	self->wait_status = status;
	self->pid = 0;
	if (self->exit_watch != NULL) {
		g_source_destroy(self->exit_watch);
		g_clear_pointer(&self->exit_watch, g_source_unref);
	}
	g_clear_pointer(&self->exit, cocoon_pidfd_free);
	g_unlink(self->pid_file_path);
	g_unlink(self->socket_path);
}

gchar *
cocoon_virtiofsd_describe_exit(CocoonVirtiofsd *self)
{
	g_autofree gchar *how = NULL;
	g_autofree gchar *log = NULL;

	if (self == NULL || self->pid != 0 || self->wait_status < 0)
		return NULL;
	how = cocoon_hypervisor_describe_wait_status(self->wait_status);
	log = cocoon_hypervisor_file_tail(self->log_path, LOG_TAIL_LINES);
	/* virtiofsd's stderr may hold what the guest made it say: bounded */
	if (strlen(log) > LOG_TAIL_MAX) {
		gchar *cut = g_strconcat(
			"...", g_utf8_find_next_char(log + strlen(log) - LOG_TAIL_MAX, NULL), NULL);
		g_free(log);
		log = cut;
	}
	return g_strdup_printf("virtiofsd %s%s%s", how, log[0] != '\0' ? "; virtiofsd.log: " : "",
			       log);
}

static gboolean
on_virtiofsd_exited(gint fd, GIOCondition condition, gpointer user_data)
{
	CocoonVirtiofsd *self = user_data;
	g_autofree gchar *reason = NULL;

	/* reap() destroys this source: fine while it dispatches, GLib holds a reference */
	reap(self);
	reason = cocoon_virtiofsd_describe_exit(self);
	g_debug("sandbox %s: %s", self->sandbox_id, reason);
	if (self->exit_func != NULL)
		self->exit_func(self, reason, self->exit_data);
	return G_SOURCE_REMOVE;
}

/* forks and execs; on success the child runs and self->exit watches it */
static gboolean
spawn(CocoonVirtiofsd *self, const CocoonVmConfig *config, GError **error)
{
	g_auto(GStrv) argv = NULL;
	g_autoptr(GPtrArray) spawn_argv = g_ptr_array_new_with_free_func(g_free);
	cocoon_autofd int null_fd = -1;
	cocoon_autofd int log_fd = -1;
	cocoon_autofd int socket_fd = -1;
	cocoon_autofd int exit_pipe_read = -1;
	cocoon_autofd int exit_pipe_write = -1;
	gint source_fds[2];
	gint target_fds[2];
	guint n_fds = 0;
	ChildSetup setup = {.parent = getpid()};
	GPid pid = 0;

	argv = cocoon_qemu_build_virtiofsd_argv(config, error);
	if (argv == NULL)
		return FALSE;
	if (g_access(config->virtiofsd, X_OK) < 0) {
		cocoon_set_error_from_errno(error,
					    "virtiofsd %s (hypervisor.virtiofsd; Debian 12: "
					    "qemu-system-common)",
					    config->virtiofsd);
		return FALSE;
	}
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0) {
		cocoon_set_error_from_errno(error, "open /dev/null");
		return FALSE;
	}
	if (!open_log(self->log_path, &log_fd, error))
		return FALSE;
	socket_fd = cocoon_unix_listen(self->socket_path, 1, error);
	if (socket_fd < 0)
		return FALSE;
	{
		g_autofree gchar *fd_arg = g_strdup_printf("--fd=%d", SOCKET_FD);
		/* --fd instead of --socket-path: the socket is ours, listening already */
		for (guint i = 0; argv[i] != NULL; i++) {
			if (g_str_has_prefix(argv[i], "--socket-path="))
				g_ptr_array_add(spawn_argv, g_strdup(fd_arg));
			else
				g_ptr_array_add(spawn_argv, g_strdup(argv[i]));
		}
		g_ptr_array_add(spawn_argv, NULL);
	}
	source_fds[n_fds] = socket_fd;
	target_fds[n_fds++] = SOCKET_FD;
	/* no pidfds: virtiofsd holds the exit pipe, as QEMU does (cocoon-qemu.c) */
	if (!cocoon_pidfd_supported()) {
		int pipe_fds[2];
		if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
			cocoon_set_error_from_errno(error, "exit pipe");
			return FALSE;
		}
		exit_pipe_read = pipe_fds[0];
		exit_pipe_write = pipe_fds[1];
		source_fds[n_fds] = exit_pipe_write;
		target_fds[n_fds++] = SOCKET_FD + 1;
	}
	if (!g_spawn_async_with_pipes_and_fds(
		    config->state_dir, (const gchar *const *)spawn_argv->pdata, NULL,
		    G_SPAWN_DO_NOT_REAP_CHILD, child_setup, &setup, null_fd, null_fd, log_fd,
		    source_fds, target_fds, n_fds, &pid, NULL, NULL, NULL, error))
		return FALSE;
	self->pid = pid;
	if (exit_pipe_read >= 0) {
		self->exit = cocoon_pidfd_new_for_exit_pipe(pid, cocoon_steal_fd(&exit_pipe_read));
		return TRUE;
	}
	self->exit = cocoon_pidfd_open(pid, error);
	if (self->exit == NULL) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		self->pid = 0;
		return FALSE;
	}
	return TRUE;
}

/**
 * cocoon_virtiofsd_start:
 * @config: the VM (shared_fs VIRTIO_FS)
 * @context: where @exit_func runs
 *
 * Returns: (transfer full): the running virtiofsd, or %NULL with @error set (nothing left
 * running)
 */
CocoonVirtiofsd *
cocoon_virtiofsd_start(const CocoonVmConfig *config, GMainContext *context,
		       CocoonVirtiofsdExitFunc exit_func, gpointer user_data, GError **error)
{
	g_autoptr(CocoonVirtiofsd) self = g_new0(CocoonVirtiofsd, 1);

	self->sandbox_id = g_strdup(config->sandbox_id);
	self->socket_path = cocoon_vm_config_state_path(config, COCOON_VM_VIRTIOFSD_SOCKET);
	self->log_path = cocoon_vm_config_state_path(config, COCOON_VM_VIRTIOFSD_LOG);
	self->pid_file_path = cocoon_vm_config_state_path(config, COCOON_VM_VIRTIOFSD_PID);
	self->wait_status = -1;
	self->exit_func = exit_func;
	self->exit_data = user_data;
	if (!spawn(self, config, error)) {
		g_prefix_error(error, "sandbox %s: start: virtiofsd: ", config->sandbox_id);
		return NULL;
	}
	if (!cocoon_hypervisor_write_pid_file(self->pid_file_path, self->pid, error)) {
		g_prefix_error(error,
			       "sandbox %s: start: virtiofsd pid file: ", config->sandbox_id);
		return NULL;
	}
	self->exit_watch = cocoon_pidfd_source_new(self->exit);
	if (self->exit_watch != NULL) {
		g_source_set_callback(self->exit_watch, G_SOURCE_FUNC(on_virtiofsd_exited), self,
				      NULL);
		g_source_attach(self->exit_watch, context);
	}
	g_debug("sandbox %s: virtiofsd pid %d", self->sandbox_id, (int)self->pid);
	return g_steal_pointer(&self);
}

GPid
cocoon_virtiofsd_get_pid(CocoonVirtiofsd *self)
{
	return self != NULL ? self->pid : 0;
}

void
cocoon_virtiofsd_stop(CocoonVirtiofsd *self)
{
	g_autoptr(GError) error = NULL;

	if (self == NULL || self->pid == 0)
		return;
	self->exit_func = NULL;
	/* the group while its leader is unreaped (the number is ours), then the leader */
	(void)kill(-self->pid, SIGKILL);
	if (!cocoon_pidfd_send_signal(self->exit, SIGKILL, &error) &&
	    !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
		g_warning("sandbox %s: cannot kill virtiofsd pid %d: %s", self->sandbox_id,
			  (int)self->pid, error->message);
	if (!cocoon_pidfd_wait(self->exit, KILL_WAIT_MS)) {
		g_warning("sandbox %s: virtiofsd pid %d still there %u ms after SIGKILL",
			  self->sandbox_id, (int)self->pid, KILL_WAIT_MS);
		return;
	}
	reap(self);
}

void
cocoon_virtiofsd_free(CocoonVirtiofsd *self)
{
	if (self == NULL)
		return;
	cocoon_virtiofsd_stop(self);
	if (self->exit_watch != NULL) {
		g_source_destroy(self->exit_watch);
		g_clear_pointer(&self->exit_watch, g_source_unref);
	}
	g_clear_pointer(&self->exit, cocoon_pidfd_free);
	g_free(self->sandbox_id);
	g_free(self->socket_path);
	g_free(self->log_path);
	g_free(self->pid_file_path);
	g_free(self);
}

/**
 * cocoon_virtiofsd_kill_from_state:
 * @state_dir: a sandbox state directory
 *
 * The virtiofsd of a previous start (a shim that crashed), found by pid and start time.
 */
gboolean
cocoon_virtiofsd_kill_from_state(const gchar *state_dir, GError **error)
{
	g_autofree gchar *path = g_build_filename(state_dir, COCOON_VM_VIRTIOFSD_PID, NULL);

	return cocoon_hypervisor_kill_pid_file(path, "virtiofsd", TRUE, error);
}
