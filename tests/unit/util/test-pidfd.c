/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CocoonPidfd on real children (sleep): signal, wait with a deadline, a main-context watch, and a
 * process that is gone; with a pidfd where the kernel has pidfd_open(2), and always the two
 * fallbacks (an exit pipe; the pid and /proc).
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-pidfd.h"

#define EXIT_TIMEOUT_MS 5000

typedef enum {
	KIND_OPEN,	/* cocoon_pidfd_open(): a pidfd, or the pid fallback without one */
	KIND_EXIT_PIPE, /* cocoon_pidfd_new_for_exit_pipe() */
	KIND_PID,	/* cocoon_pidfd_new_for_pid() */
} Kind;

/* a sleeping child, not reaped; for KIND_EXIT_PIPE it holds the pipe's write end alone */
static CocoonPidfd *
child_new(Kind kind)
{
	const gchar *argv[] = {"sleep", "60", NULL};
	g_autoptr(GError) error = NULL;
	int pipe_fds[2] = {-1, -1};
	gint source_fds[1], target_fds[1] = {3};
	CocoonPidfd *pidfd;
	GPid pid;

	if (kind == KIND_EXIT_PIPE) {
		g_assert_cmpint(pipe2(pipe_fds, O_CLOEXEC), ==, 0);
		source_fds[0] = pipe_fds[1];
	}
	g_assert_true(g_spawn_async_with_pipes_and_fds(
		NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, -1,
		-1, -1, source_fds, target_fds, kind == KIND_EXIT_PIPE ? 1 : 0, &pid, NULL, NULL,
		NULL, &error));
	g_assert_no_error(error);
	switch (kind) {
	case KIND_OPEN:
		pidfd = cocoon_pidfd_open(pid, &error);
		g_assert_no_error(error);
		break;
	case KIND_EXIT_PIPE:
		close(pipe_fds[1]);
		pidfd = cocoon_pidfd_new_for_exit_pipe(pid, pipe_fds[0]);
		break;
	default:
		pidfd = cocoon_pidfd_new_for_pid(pid);
		break;
	}
	g_assert_nonnull(pidfd);
	g_assert_cmpint(cocoon_pidfd_get_pid(pidfd), ==, pid);
	return pidfd;
}

static void
reap(CocoonPidfd *pidfd, int expected_signal)
{
	int status = 0;
	g_assert_cmpint(waitpid(cocoon_pidfd_get_pid(pidfd), &status, 0), ==,
			cocoon_pidfd_get_pid(pidfd));
	g_assert_true(WIFSIGNALED(status));
	g_assert_cmpint(WTERMSIG(status), ==, expected_signal);
}

static void
test_kill_wait(gconstpointer data)
{
	Kind kind = GPOINTER_TO_INT(data);
	g_autoptr(CocoonPidfd) pidfd = child_new(kind);
	g_autoptr(GError) error = NULL;
	gint64 started = g_get_monotonic_time();

	/* running: the deadline ends the wait */
	g_assert_false(cocoon_pidfd_wait(pidfd, 0));
	g_assert_false(cocoon_pidfd_wait(pidfd, 50));
	g_assert_cmpint(g_get_monotonic_time() - started, >=, 50 * 1000);
	g_assert_true(cocoon_pidfd_send_signal(pidfd, SIGTERM, &error));
	g_assert_no_error(error);
	/* exited, not reaped yet (a zombie counts) */
	g_assert_true(cocoon_pidfd_wait(pidfd, EXIT_TIMEOUT_MS));
	g_assert_true(cocoon_pidfd_wait(pidfd, 0));
	reap(pidfd, SIGTERM);
}

static gboolean
on_child_exit(gint fd, GIOCondition condition, gpointer data)
{
	gboolean *exited = data;
	*exited = TRUE;
	return G_SOURCE_REMOVE;
}

static void
test_source(gconstpointer data)
{
	Kind kind = GPOINTER_TO_INT(data);
	g_autoptr(CocoonPidfd) pidfd = child_new(kind);
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(GSource) source = cocoon_pidfd_source_new(pidfd);
	gint64 deadline = g_get_monotonic_time() + EXIT_TIMEOUT_MS * 1000;
	gboolean exited = FALSE;

	if (kind == KIND_PID || (kind == KIND_OPEN && !cocoon_pidfd_supported())) {
		/* nothing to watch: the caller's deadline is all there is */
		g_assert_null(source);
		g_assert_true(cocoon_pidfd_send_signal(pidfd, SIGKILL, NULL));
		g_assert_true(cocoon_pidfd_wait(pidfd, EXIT_TIMEOUT_MS));
		reap(pidfd, SIGKILL);
		return;
	}
	g_assert_nonnull(source);
	g_source_set_callback(source, G_SOURCE_FUNC(on_child_exit), &exited, NULL);
	g_source_attach(source, context);
	while (g_main_context_iteration(context, FALSE))
		;
	g_assert_false(exited);
	g_assert_true(cocoon_pidfd_send_signal(pidfd, SIGKILL, NULL));
	while (!exited) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(context, TRUE);
	}
	g_source_destroy(source);
	reap(pidfd, SIGKILL);
}

/* reaped: a pidfd says so (ESRCH is NOT_FOUND); opening a pid nobody has fails the same way */
static void
test_gone(void)
{
	g_autoptr(CocoonPidfd) pidfd = NULL;
	g_autoptr(CocoonPidfd) again = NULL;
	g_autoptr(GError) error = NULL;
	GPid pid;

	if (!cocoon_pidfd_supported()) {
		g_test_skip("no pidfd_open(2) here");
		return;
	}
	pidfd = child_new(KIND_OPEN);
	pid = cocoon_pidfd_get_pid(pidfd);
	g_assert_true(cocoon_pidfd_send_signal(pidfd, SIGKILL, NULL));
	reap(pidfd, SIGKILL);
	g_assert_true(cocoon_pidfd_wait(pidfd, 0));
	g_assert_false(cocoon_pidfd_send_signal(pidfd, SIGKILL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	/* just reaped: the pid is free (pid reuse within this instant is not to be expected) */
	again = cocoon_pidfd_open(pid, &error);
	g_assert_null(again);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

int
main(int argc, char **argv)
{
	static const struct {
		const gchar *name;
		Kind kind;
	} kinds[] = {{"open", KIND_OPEN}, {"exit-pipe", KIND_EXIT_PIPE}, {"pid", KIND_PID}};

	g_test_init(&argc, &argv, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
		g_autofree gchar *kill_path =
			g_strdup_printf("/util/pidfd/%s/kill-wait", kinds[i].name);
		g_autofree gchar *source_path =
			g_strdup_printf("/util/pidfd/%s/source", kinds[i].name);
		g_test_add_data_func(kill_path, GINT_TO_POINTER(kinds[i].kind), test_kill_wait);
		g_test_add_data_func(source_path, GINT_TO_POINTER(kinds[i].kind), test_source);
	}
	g_test_add_func("/util/pidfd/gone", test_gone);
	return g_test_run();
}
