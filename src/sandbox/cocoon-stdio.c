/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-stdio"

#include "config.h"

#include "cocoon-stdio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"

#define LOGGER_READY_TIMEOUT_MS 10000
#define LOGGER_STOP_TIMEOUT_MS	12000

static gboolean
set_blocking(int fd, GError **error)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		cocoon_set_error_from_errno(error, "fcntl");
		return FALSE;
	}
	return TRUE;
}

static int
open_or_error(const gchar *path, int flags, mode_t mode, GError **error)
{
	int fd = open(path, flags | O_CLOEXEC, mode);
	if (fd < 0)
		cocoon_set_error_from_errno(error, "open %s", path);
	return fd;
}

/* an output path: a FIFO gets a writer plus a reader we keep; a regular file is appended to */
static gboolean
open_output_path(const gchar *path, int *ret_fd, int *ret_keeper, GError **error)
{
	struct stat st;
	cocoon_autofd int keeper = -1;
	cocoon_autofd int fd = -1;

	if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode)) {
		keeper = open_or_error(path, O_RDONLY | O_NONBLOCK, 0, error);
		if (keeper < 0)
			return FALSE;
		/* cannot block: we are a reader ourselves */
		fd = open_or_error(path, O_WRONLY | O_NONBLOCK, 0, error);
		if (fd < 0 || !set_blocking(fd, error))
			return FALSE;
	} else {
		fd = open_or_error(path, O_WRONLY | O_APPEND | O_CREAT, 0644, error);
		if (fd < 0)
			return FALSE;
	}
	*ret_fd = cocoon_steal_fd(&fd);
	*ret_keeper = cocoon_steal_fd(&keeper);
	return TRUE;
}

static gboolean
open_file_uri(CocoonStdio *stdio, GUri *uri, GError **error)
{
	const gchar *path = g_uri_get_path(uri);
	g_autofree gchar *dir = NULL;
	int fd;

	if (path == NULL || !g_path_is_absolute(path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "file:// log uri needs an absolute path");
		return FALSE;
	}
	dir = g_path_get_dirname(path);
	if (g_mkdir_with_parents(dir, 0755) < 0) {
		cocoon_set_error_from_errno(error, "mkdir %s", dir);
		return FALSE;
	}
	fd = open_or_error(path, O_WRONLY | O_APPEND | O_CREAT, 0644, error);
	if (fd < 0)
		return FALSE;
	stdio->stdout_fd = fd;
	stdio->stderr_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return TRUE;
}

/* binary://: fd 3 = stdout pipe, fd 4 = stderr pipe, fd 5 = readiness; env is only the ids */
static gboolean
open_binary_uri(CocoonStdio *stdio, GUri *uri, const gchar *container_id, const gchar *namespace_,
		GError **error)
{
	const gchar *path = g_uri_get_path(uri);
	const gchar *query = g_uri_get_query(uri);
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *env_id = g_strdup_printf("CONTAINER_ID=%s", container_id);
	g_autofree gchar *env_ns = g_strdup_printf("CONTAINER_NAMESPACE=%s", namespace_);
	gchar *envp[] = {env_id, env_ns, NULL};
	int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, ready_pipe[2] = {-1, -1};
	gint source_fds[3], target_fds[3] = {3, 4, 5};
	GPid pid = 0;
	gboolean ok;

	if (path == NULL || !g_path_is_absolute(path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "binary:// log uri needs an absolute path");
		return FALSE;
	}
	g_ptr_array_add(argv, g_strdup(path));
	/* like Go's url.ParseQuery: "k=v&k2" — a key without '=' is a key with an empty value */
	if (query != NULL && query[0] != '\0') {
		g_auto(GStrv) pairs = g_strsplit(query, "&", -1);
		for (guint i = 0; pairs[i] != NULL; i++) {
			g_auto(GStrv) kv = g_strsplit(pairs[i], "=", 2);
			g_autofree gchar *key = NULL;
			if (kv[0] == NULL || kv[0][0] == '\0')
				continue;
			key = g_uri_unescape_string(kv[0], NULL);
			if (key == NULL) {
				g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
					    "binary:// log uri: bad query %s", pairs[i]);
				return FALSE;
			}
			g_ptr_array_add(argv, g_steal_pointer(&key));
			if (kv[1] != NULL && kv[1][0] != '\0') {
				gchar *value = g_uri_unescape_string(kv[1], NULL);
				if (value == NULL) {
					g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
						    "binary:// log uri: bad query %s", pairs[i]);
					return FALSE;
				}
				g_ptr_array_add(argv, value);
			}
		}
	}
	g_ptr_array_add(argv, NULL);
	if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0 ||
	    pipe2(ready_pipe, O_CLOEXEC) < 0) {
		cocoon_set_error_from_errno(error, "pipe");
		ok = FALSE;
	} else {
		source_fds[0] = out_pipe[0];
		source_fds[1] = err_pipe[0];
		source_fds[2] = ready_pipe[1];
		ok = g_spawn_async_with_pipes_and_fds(
			NULL, (const gchar *const *)argv->pdata, (const gchar *const *)envp,
			G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, -1, -1,
			-1, source_fds, target_fds, 3, &pid, NULL, NULL, NULL, error);
		if (!ok)
			g_prefix_error(error, "logger %s: ", path);
	}
	for (int i = 0; i < 2; i++) {
		if (out_pipe[0] >= 0 && i == 0)
			close(out_pipe[0]);
		if (err_pipe[0] >= 0 && i == 1)
			close(err_pipe[0]);
	}
	if (ready_pipe[1] >= 0)
		close(ready_pipe[1]);
	if (ok) {
		/* the logger is ready when it closes fd 5 (or writes to it) */
		GPollFD pfd = {ready_pipe[0], G_IO_IN | G_IO_HUP | G_IO_ERR, 0};
		if (g_poll(&pfd, 1, LOGGER_READY_TIMEOUT_MS) <= 0) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "logger %s not ready after %d ms", path,
				    LOGGER_READY_TIMEOUT_MS);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			ok = FALSE;
		}
	}
	if (ready_pipe[0] >= 0)
		close(ready_pipe[0]);
	if (!ok) {
		if (out_pipe[1] >= 0)
			close(out_pipe[1]);
		if (err_pipe[1] >= 0)
			close(err_pipe[1]);
		return FALSE;
	}
	stdio->stdout_fd = out_pipe[1];
	stdio->stderr_fd = err_pipe[1];
	stdio->logger_pid = pid;
	return TRUE;
}

static gboolean
stdio_open(CocoonStdio *stdio, const gchar *stdin_path, const gchar *stdout_uri,
	   const gchar *stderr_uri, gboolean terminal, const gchar *container_id,
	   const gchar *namespace_, GError **error)
{
	g_autoptr(GUri) uri = NULL;

	if (stdin_path != NULL && stdin_path[0] != '\0') {
		stdio->stdin_fd = open_or_error(stdin_path, O_RDONLY | O_NONBLOCK, 0, error);
		if (stdio->stdin_fd < 0)
			return FALSE;
		stdio->stdin_holder = open_or_error(stdin_path, O_WRONLY | O_NONBLOCK, 0, error);
		if (stdio->stdin_holder < 0 || !set_blocking(stdio->stdin_fd, error))
			return FALSE;
	}
	if (stdout_uri == NULL || stdout_uri[0] == '\0') {
		if (stderr_uri != NULL && stderr_uri[0] != '\0' && !terminal)
			return open_output_path(stderr_uri, &stdio->stderr_fd,
						&stdio->stderr_keeper, error);
		return TRUE;
	}
	if (stdout_uri[0] != '/') {
		const gchar *scheme;
		uri = g_uri_parse(stdout_uri, G_URI_FLAGS_NONE, error);
		if (uri == NULL) {
			g_prefix_error(error, "stdout %s: ", stdout_uri);
			return FALSE;
		}
		scheme = g_uri_get_scheme(uri);
		if (g_str_equal(scheme, "file"))
			return open_file_uri(stdio, uri, error);
		if (g_str_equal(scheme, "binary"))
			return open_binary_uri(stdio, uri, container_id, namespace_, error);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "unknown STDIO scheme %s",
			    scheme);
		return FALSE;
	}
	if (!open_output_path(stdout_uri, &stdio->stdout_fd, &stdio->stdout_keeper, error))
		return FALSE;
	/* with a terminal, stderr goes through the pty too */
	if (terminal || stderr_uri == NULL || stderr_uri[0] == '\0')
		return TRUE;
	if (g_str_equal(stderr_uri, stdout_uri)) {
		stdio->stderr_fd = fcntl(stdio->stdout_fd, F_DUPFD_CLOEXEC, 3);
		return TRUE;
	}
	return open_output_path(stderr_uri, &stdio->stderr_fd, &stdio->stderr_keeper, error);
}

/**
 * cocoon_stdio_open:
 *
 * Opens the host ends of one process's stdio, following containerd's conventions.
 */
gboolean
cocoon_stdio_open(CocoonStdio *stdio, const gchar *stdin_path, const gchar *stdout_uri,
		  const gchar *stderr_uri, gboolean terminal, const gchar *container_id,
		  const gchar *namespace_, GError **error)
{
	if (!stdio_open(stdio, stdin_path, stdout_uri, stderr_uri, terminal, container_id,
			namespace_, error)) {
		cocoon_stdio_clear(stdio);
		return FALSE;
	}
	return TRUE;
}

void
cocoon_stdio_close_stdin_holder(CocoonStdio *stdio)
{
	cocoon_fd_closep(&stdio->stdin_holder);
}

void
cocoon_stdio_clear(CocoonStdio *stdio)
{
	cocoon_fd_closep(&stdio->stdin_fd);
	cocoon_fd_closep(&stdio->stdin_holder);
	cocoon_fd_closep(&stdio->stdout_fd);
	cocoon_fd_closep(&stdio->stderr_fd);
	cocoon_fd_closep(&stdio->stdout_keeper);
	cocoon_fd_closep(&stdio->stderr_keeper);
	if (stdio->logger_pid > 0) {
		gint64 deadline = g_get_monotonic_time() + LOGGER_STOP_TIMEOUT_MS * 1000;
		kill(stdio->logger_pid, SIGTERM);
		while (waitpid(stdio->logger_pid, NULL, WNOHANG) == 0) {
			if (g_get_monotonic_time() > deadline) {
				kill(stdio->logger_pid, SIGKILL);
				waitpid(stdio->logger_pid, NULL, 0);
				break;
			}
			g_usleep(10000);
		}
		stdio->logger_pid = 0;
	}
}
