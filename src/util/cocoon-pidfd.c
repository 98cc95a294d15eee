/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-util"

#include "config.h"

#include "cocoon-pidfd.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cocoon-fd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* how often the /proc fallback looks */
#define PROC_POLL_US (10 * 1000)

struct _CocoonPidfd {
	GPid pid;
	int fd;		    /* readable once the process exited: its pidfd or an exit pipe; or -1 */
	gboolean exit_pipe; /* fd is an exit pipe: signals go to pid */
};

static int
pidfd_open(GPid pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void
set_errno_error(GError **error, int saved_errno)
{
	g_set_error_literal(error, G_IO_ERROR,
			    saved_errno == ESRCH ? G_IO_ERROR_NOT_FOUND
						 : g_io_error_from_errno(saved_errno),
			    g_strerror(saved_errno));
}

gboolean
cocoon_pidfd_supported(void)
{
	static gsize once;
	static gboolean supported;

	if (g_once_init_enter(&once)) {
		int fd = pidfd_open(getpid());
		supported = fd >= 0 || errno != ENOSYS;
		if (fd >= 0)
			close(fd);
		g_once_init_leave(&once, 1);
	}
	return supported;
}

static CocoonPidfd *
pidfd_new(GPid pid, int fd, gboolean exit_pipe)
{
	CocoonPidfd *pidfd = g_new0(CocoonPidfd, 1);
	pidfd->pid = pid;
	pidfd->fd = fd;
	pidfd->exit_pipe = exit_pipe;
	return pidfd;
}

/**
 * cocoon_pidfd_open:
 * @pid: the process; for one not our child, check who it is after this, not before
 *
 * Returns: (transfer full): the process's pidfd, or the by-pid fallback without pidfd_open(2);
 * %NULL with G_IO_ERROR_NOT_FOUND when there is no such process
 */
CocoonPidfd *
cocoon_pidfd_open(GPid pid, GError **error)
{
	int fd = pidfd_open(pid);

	if (fd < 0 && errno == ENOSYS)
		return cocoon_pidfd_new_for_pid(pid);
	if (fd < 0) {
		set_errno_error(error, errno);
		return NULL;
	}
	return pidfd_new(pid, fd, FALSE);
}

CocoonPidfd *
cocoon_pidfd_new_for_exit_pipe(GPid pid, int exit_pipe_fd)
{
	return pidfd_new(pid, exit_pipe_fd, TRUE);
}

CocoonPidfd *
cocoon_pidfd_new_for_pid(GPid pid)
{
	return pidfd_new(pid, -1, FALSE);
}

void
cocoon_pidfd_free(CocoonPidfd *pidfd)
{
	if (pidfd == NULL)
		return;
	cocoon_fd_closep(&pidfd->fd);
	g_free(pidfd);
}

GPid
cocoon_pidfd_get_pid(CocoonPidfd *pidfd)
{
	return pidfd->pid;
}

gboolean
cocoon_pidfd_send_signal(CocoonPidfd *pidfd, int signal, GError **error)
{
	int ret = pidfd->fd >= 0 && !pidfd->exit_pipe
			  ? (int)syscall(SYS_pidfd_send_signal, pidfd->fd, signal, NULL, 0)
			  : kill(pidfd->pid, signal);
	if (ret < 0) {
		set_errno_error(error, errno);
		return FALSE;
	}
	return TRUE;
}

/**
 * cocoon_pidfd_proc_state:
 *
 * The state letter of pid in /proc/PID/stat ('R', 'S', 'Z' for a zombie, ...).
 *
 * Returns: the letter, '\0' when there is no such process
 */
gchar
cocoon_pidfd_proc_state(GPid pid)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree gchar *contents = NULL;
	const gchar *end;

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return '\0';
	/* "pid (comm) S ...": comm may contain anything, the state follows the last ')' */
	end = strrchr(contents, ')');
	if (end == NULL || end[1] != ' ')
		return '\0';
	return end[2];
}

/* without an fd: gone, or a zombie */
static gboolean
proc_has_exited(GPid pid)
{
	gchar state = cocoon_pidfd_proc_state(pid);

	return state == '\0' || state == 'Z' || state == 'X';
}

/**
 * cocoon_pidfd_wait:
 * @timeout_ms: how long to wait at most; 0 only looks
 *
 * Returns: %TRUE once the process has exited, %FALSE on timeout
 */
gboolean
cocoon_pidfd_wait(CocoonPidfd *pidfd, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		gint64 left = deadline - g_get_monotonic_time();

		if (pidfd->fd >= 0) {
			struct pollfd pfd = {.fd = pidfd->fd, .events = POLLIN};
			gint ready = poll(&pfd, 1, left > 0 ? (gint)((left + 999) / 1000) : 0);
			if (ready > 0)
				return TRUE;
			if (ready < 0 && errno == EINTR)
				continue;
			if (ready < 0)
				return FALSE;
		} else {
			if (proc_has_exited(pidfd->pid))
				return TRUE;
			if (left > 0)
				g_usleep(MIN(left, PROC_POLL_US));
		}
		if (left <= 0)
			return FALSE;
	}
}

GSource *
cocoon_pidfd_source_new(CocoonPidfd *pidfd)
{
	if (pidfd->fd < 0)
		return NULL;
	return g_unix_fd_source_new(pidfd->fd, G_IO_IN);
}
