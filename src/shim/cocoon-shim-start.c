/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-shim"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-shim-util.h"
#include "cocoon-shim.h"
#include "cocoon-unix.h"

static gboolean
socket_fill_address(const gchar *path, struct sockaddr_un *addr, GError **error)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "socket path %s is too long", path);
		return FALSE;
	}
	strcpy(addr->sun_path, path);
	return TRUE;
}

/* binds path; ret_in_use when a live shim already serves it */
static int
socket_bind_listen(const gchar *path, gboolean *ret_in_use, GError **error)
{
	struct sockaddr_un addr;
	cocoon_autofd int fd = -1;

	*ret_in_use = FALSE;
	if (!socket_fill_address(path, &addr, error))
		return -1;
	if (g_mkdir_with_parents(COCOON_SHIM_SOCKET_DIR, 0711) < 0) {
		cocoon_set_error_from_errno(error, "mkdir %s", COCOON_SHIM_SOCKET_DIR);
		return -1;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			cocoon_set_error_from_errno(error, "socket");
			return -1;
		}
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			break;
		if (errno != EADDRINUSE || attempt > 0) {
			cocoon_set_error_from_errno(error, "bind %s", path);
			return -1;
		}
		cocoon_fd_closep(&fd);
		if (cocoon_unix_is_served(path)) {
			*ret_in_use = TRUE;
			return -1;
		}
		/* a dead shim's socket file */
		g_unlink(path);
	}
	if (chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		cocoon_set_error_from_errno(error, "listen %s", path);
		g_unlink(path);
		return -1;
	}
	return cocoon_steal_fd(&fd);
}

static gboolean
write_address_file(const gchar *bundle, const gchar *address, GError **error)
{
	g_autofree gchar *path = g_build_filename(bundle, "address", NULL);
	/* no trailing newline: containerd 1.6 dials the content verbatim */
	return g_file_set_contents_full(path, address, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
					error);
}

static void
adjust_oom_score(pid_t daemon_pid)
{
	g_autofree gchar *parent_path = g_strdup_printf("/proc/%d/oom_score_adj", getppid());
	g_autofree gchar *child_path = g_strdup_printf("/proc/%d/oom_score_adj", daemon_pid);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *value = NULL;
	gint64 score;

	if (!g_file_get_contents(parent_path, &contents, NULL, NULL))
		return;
	score = g_ascii_strtoll(contents, NULL, 10);
	value = g_strdup_printf("%" G_GINT64_FORMAT, MIN(score + 1, 1000));
	/* best effort: an unprivileged containerd may not allow it */
	(void)g_file_set_contents(child_path, value, -1, NULL);
}

/* the daemon: own session, no inherited stdout/stderr (containerd waits for EOF on them) */
static pid_t
spawn_daemon(const CocoonShimOptions *options, const gchar *group, int listen_fd, GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *self = g_file_read_link("/proc/self/exe", error);
	pid_t pid;

	if (self == NULL)
		return -1;
	g_ptr_array_add(argv, g_strdup(self));
	g_ptr_array_add(argv, g_strdup("-namespace"));
	g_ptr_array_add(argv, g_strdup(options->namespace_));
	g_ptr_array_add(argv, g_strdup("-id"));
	g_ptr_array_add(argv, g_strdup(options->id));
	g_ptr_array_add(argv, g_strdup("-address"));
	g_ptr_array_add(argv, g_strdup(options->address != NULL ? options->address : ""));
	if (options->publish_binary != NULL) {
		g_ptr_array_add(argv, g_strdup("-publish-binary"));
		g_ptr_array_add(argv, g_strdup(options->publish_binary));
	}
	g_ptr_array_add(argv, g_strdup("-group"));
	g_ptr_array_add(argv, g_strdup(group));
	if (options->debug)
		g_ptr_array_add(argv, g_strdup("-debug"));
	g_ptr_array_add(argv, NULL);

	pid = fork();
	if (pid < 0) {
		cocoon_set_error_from_errno(error, "fork");
		return -1;
	}
	if (pid == 0) {
		int null_fd = open("/dev/null", O_RDWR);
		setsid();
		if (null_fd >= 0) {
			dup2(null_fd, 0);
			dup2(null_fd, 1);
			dup2(null_fd, 2);
		}
		if (listen_fd != 3) {
			dup2(listen_fd, 3);
		} else {
			int flags = fcntl(3, F_GETFD);
			fcntl(3, F_SETFD, flags & ~FD_CLOEXEC);
		}
		for (int fd = 4; fd < 1024; fd++)
			close(fd);
		execv(self, (char **)argv->pdata);
		_exit(127);
	}
	return pid;
}

/* drain the options Any containerd may write to stdin; cocoon has no runtime options yet */
static void
drain_stdin(void)
{
	gchar buf[4096];
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
}

static gchar *
shim_start(const CocoonShimOptions *options, GError **error)
{
	g_autofree gchar *cwd = g_get_current_dir();
	const gchar *bundle = options->bundle != NULL ? options->bundle : cwd;
	g_autofree gchar *group = NULL;
	g_autofree gchar *address = NULL;
	gboolean in_use = FALSE;
	cocoon_autofd int listen_fd = -1;

	drain_stdin();
	if (!cocoon_identifier_validate("task id", options->id, error) ||
	    !cocoon_identifier_validate("namespace", options->namespace_, error))
		return NULL;
	group = cocoon_shim_read_group(bundle, options->id, NULL, error);
	if (group == NULL)
		return NULL;
	address = cocoon_shim_socket_address(options->address != NULL ? options->address : "",
					     options->namespace_, group);
	listen_fd = socket_bind_listen(cocoon_shim_socket_path(address), &in_use, error);
	if (listen_fd < 0 && !in_use)
		return NULL;
	if (!in_use) {
		pid_t pid = spawn_daemon(options, group, listen_fd, error);
		if (pid < 0) {
			g_unlink(cocoon_shim_socket_path(address));
			return NULL;
		}
		adjust_oom_score(pid);
	}
	if (!write_address_file(bundle, address, error))
		return NULL;
	return g_steal_pointer(&address);
}

int
cocoon_shim_start(const CocoonShimOptions *options)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *address = shim_start(options, &error);

	if (address == NULL) {
		/* containerd shows this output in its error: one line, naming the task */
		g_printerr("cocoon start %s: %s", options->id, error->message);
		return 1;
	}
	g_print("%s", address);
	return 0;
}
