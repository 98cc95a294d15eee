/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-agent-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cocoon-fd.h"
#include "cocoon-fs.h"

/* the size of stdio pipes */
#define PIPE_SIZE (1024 * 1024)

/* process stdio: pipes, or a pty whose master crun sends to a console socket */

void
process_io_clear(ProcessIo *io)
{
	cocoon_fd_closep(&io->child_stdin);
	cocoon_fd_closep(&io->child_stdout);
	cocoon_fd_closep(&io->child_stderr);
	cocoon_fd_closep(&io->console_fd);
	cocoon_clear_file(&io->console_path);
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

/* fd (taken) feeds the process's stdin */
static gboolean
register_input(CocoonGuestAgent *agent, Process *process, int fd, GError **error)
{
	if (!cocoon_guest_stdio_add_input(agent->stdio, process->stdin_id, fd, error))
		return FALSE;
	process->registered |= STREAM_STDIN;
	return TRUE;
}

/* fd (taken) is the process's stdout or stderr (stream: STREAM_*) */
static gboolean
register_output(CocoonGuestAgent *agent, Process *process, guint32 stream_id, guint stream, int fd,
		GError **error)
{
	if (!cocoon_guest_stdio_add_output(agent->stdio, stream_id, fd, process_output_eof_cb,
					   process, error))
		return FALSE;
	process->registered |= stream;
	process->outputs_pending++;
	return TRUE;
}

/* a pipe for the process's stdout or stderr (stream: STREAM_*), its read end on the mux */
static gboolean
output_pipe(CocoonGuestAgent *agent, Process *process, guint32 stream_id, guint stream,
	    int *ret_child_fd, GError **error)
{
	int fds[2];

	if (!make_pipe(fds, error))
		return FALSE;
	*ret_child_fd = fds[1];
	return register_output(agent, process, stream_id, stream, fds[0], error);
}

/*
 * pipes for the non-terminal case, registered on the mux at once (crun's own stdout ends up in
 * the container's stream, like runc's does); a console socket for a terminal
 */
gboolean
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
		if (!register_input(agent, process, fds[1], error))
			return FALSE;
	}
	if (process->stdout_id != 0 && !output_pipe(agent, process, process->stdout_id,
						    STREAM_STDOUT, &io->child_stdout, error))
		return FALSE;
	if (process->stderr_id != 0 && process->stderr_id == process->stdout_id)
		io->child_stderr = fcntl(io->child_stdout, F_DUPFD_CLOEXEC, 3);
	else if (process->stderr_id != 0 && !output_pipe(agent, process, process->stderr_id,
							 STREAM_STDERR, &io->child_stderr, error))
		return FALSE;
	return TRUE;
}

/* crun is done: a terminal's master joins the mux now */
gboolean
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
	if (process->stdin_id != 0 &&
	    !register_input(agent, process, fcntl(master, F_DUPFD_CLOEXEC, 3), error))
		return FALSE;
	if (process->stdout_id != 0 &&
	    !register_output(agent, process, process->stdout_id, STREAM_STDOUT,
			     cocoon_steal_fd(&master), error))
		return FALSE;
	return TRUE;
}

CocoonGuestCrunStdio
process_io_crun_stdio(const ProcessIo *io)
{
	CocoonGuestCrunStdio stdio = {io->child_stdin, io->child_stdout, io->child_stderr};

	return stdio;
}
