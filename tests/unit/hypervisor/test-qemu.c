/* SPDX-License-Identifier: Apache-2.0 */
/* the QEMU driver against fake-qemu (see fake-qemu.c): launch, QMP, stop, deaths, cleanup */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-hypervisor-driver.h"
#include "cocoon-qemu.h"

typedef struct {
	gchar *dir;
	CocoonVmConfig *config;
	CocoonHypervisor *hypervisor;
	gchar *died_reason;
	guint died_count;
} Fixture;

static void
fixture_setup(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	const gchar *fake = g_getenv("FAKE_QEMU");

	g_assert_nonnull(fake);
	fixture->dir = g_dir_make_tmp("cocoon-qemu-XXXXXX", &error);
	g_assert_no_error(error);
	fixture->config = cocoon_vm_config_new();
	fixture->config->sandbox_id = g_strdup("sb-test");
	fixture->config->state_dir = g_build_filename(fixture->dir, "state", NULL);
	fixture->config->kernel = g_build_filename(fixture->dir, "vmlinux", NULL);
	g_free(fixture->config->qemu_binary);
	fixture->config->qemu_binary = g_strdup(fake);
	fixture->config->accel = COCOON_ACCEL_TCG;
	fixture->config->tsc_khz = 1000000;
	fixture->config->start_timeout_ms = 3000;
	fixture->config->qmp_timeout_ms = 2000;
	g_assert_true(g_file_set_contents(fixture->config->kernel, "not a kernel", -1, NULL));
	g_unsetenv("FAKE_QEMU_MODE");
	g_unsetenv("FAKE_QEMU_EXIT_AFTER_MS");
	g_unsetenv("FAKE_QEMU_CONSOLE_BYTES");
}

/* no child of ours may be left, running or zombie */
static void
assert_no_children(void)
{
	errno = 0;
	g_assert_cmpint(waitpid(-1, NULL, WNOHANG), ==, -1);
	g_assert_cmpint(errno, ==, ECHILD);
}

static void
fixture_teardown(Fixture *fixture, gconstpointer data)
{
	g_autofree gchar *command = NULL;

	g_clear_pointer(&fixture->hypervisor, cocoon_hypervisor_free);
	assert_no_children();
	cocoon_vm_config_free(fixture->config);
	command = g_strdup_printf("rm -rf '%s'", fixture->dir);
	g_assert_cmpint(system(command), ==, 0);
	g_free(fixture->dir);
	g_free(fixture->died_reason);
	g_unsetenv("FAKE_QEMU_MODE");
	g_unsetenv("FAKE_QEMU_EXIT_AFTER_MS");
	g_unsetenv("FAKE_QEMU_CONSOLE_BYTES");
}

static void
on_died(CocoonHypervisor *hypervisor, const gchar *reason, gpointer user_data)
{
	Fixture *fixture = user_data;

	fixture->died_count++;
	g_free(fixture->died_reason);
	fixture->died_reason = g_strdup(reason);
}

static void
start_ok(Fixture *fixture)
{
	g_autoptr(GError) error = NULL;

	fixture->hypervisor = cocoon_qemu_new(fixture->config, &error);
	g_assert_no_error(error);
	cocoon_hypervisor_set_died_func(fixture->hypervisor, on_died, fixture, NULL);
	g_assert_true(cocoon_hypervisor_start(fixture->hypervisor, &error));
	g_assert_no_error(error);
}

static gchar *
state_file(Fixture *fixture, const gchar *name)
{
	return g_build_filename(fixture->config->state_dir, name, NULL);
}

static gboolean
process_exists(GPid pid)
{
	return kill(pid, 0) == 0;
}

static void
wait_for_death(Fixture *fixture)
{
	gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	while (fixture->died_count == 0) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(2000);
	}
}

static void
test_qemu_lifecycle(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *pid_file = state_file(fixture, "qemu.pid");
	g_autofree gchar *args_file = state_file(fixture, "fake-qemu.args");
	g_autofree gchar *contents = NULL;
	g_autofree gchar *args = NULL;
	g_autofree gchar *expected = NULL;
	guint64 start_time = 0;
	gint64 started;
	GPid pid;

	start_ok(fixture);
	pid = cocoon_hypervisor_get_pid(fixture->hypervisor);
	g_assert_cmpint(pid, >, 0);
	g_assert_true(process_exists(pid));
	g_assert_cmpint(cocoon_hypervisor_get_accel(fixture->hypervisor), ==, COCOON_ACCEL_TCG);
	g_assert_cmpint(cocoon_hypervisor_get_wait_status(fixture->hypervisor), ==, -1);

	/* the pid file lets a later process kill exactly this QEMU */
	g_assert_true(g_file_get_contents(pid_file, &contents, NULL, NULL));
	g_assert_true(cocoon_qemu_read_start_time(pid, &start_time, &error));
	expected = g_strdup_printf("%d %" G_GUINT64_FORMAT "\n", (int)pid, start_time);
	g_assert_cmpstr(contents, ==, expected);

	/* QEMU got the built command line, in the state directory */
	g_assert_true(g_file_get_contents(args_file, &args, NULL, NULL));
	g_assert_nonnull(strstr(args, "\n-accel\ntcg,tb-size=32\n"));
	g_assert_nonnull(strstr(args, "tsc_early_khz=1000000"));
	g_assert_nonnull(strstr(args, "name=cocoon.agent"));

	started = g_get_monotonic_time();
	g_assert_true(cocoon_hypervisor_stop(fixture->hypervisor, 3000, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_get_monotonic_time() - started, <, G_USEC_PER_SEC);
	g_assert_cmpint(cocoon_hypervisor_get_pid(fixture->hypervisor), ==, 0);
	g_assert_false(process_exists(pid));
	g_assert_true(WIFEXITED(cocoon_hypervisor_get_wait_status(fixture->hypervisor)));
	g_assert_false(g_file_test(pid_file, G_FILE_TEST_EXISTS));
	/* stopping twice is fine */
	g_assert_true(cocoon_hypervisor_stop(fixture->hypervisor, 3000, &error));
	for (guint i = 0; i < 20; i++)
		g_main_context_iteration(NULL, FALSE);
	g_assert_cmpuint(fixture->died_count, ==, 0);
}

static void
test_qemu_guest_poweroff(Fixture *fixture, gconstpointer data)
{
	GPid pid;

	g_setenv("FAKE_QEMU_EXIT_AFTER_MS", "300", TRUE);
	start_ok(fixture);
	pid = cocoon_hypervisor_get_pid(fixture->hypervisor);
	wait_for_death(fixture);
	g_assert_cmpuint(fixture->died_count, ==, 1);
	g_assert_nonnull(strstr(fixture->died_reason, "QEMU exited with status 0"));
	g_assert_nonnull(strstr(fixture->died_reason, "guest-shutdown"));
	g_assert_cmpint(cocoon_hypervisor_get_pid(fixture->hypervisor), ==, 0);
	g_assert_false(process_exists(pid));
}

static void
test_qemu_killed(Fixture *fixture, gconstpointer data)
{
	start_ok(fixture);
	g_assert_cmpint(kill(cocoon_hypervisor_get_pid(fixture->hypervisor), SIGKILL), ==, 0);
	wait_for_death(fixture);
	g_assert_nonnull(strstr(fixture->died_reason, "killed by signal 9"));
	g_assert_true(WIFSIGNALED(cocoon_hypervisor_get_wait_status(fixture->hypervisor)));
}

static void
test_qemu_exit_early(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	g_setenv("FAKE_QEMU_MODE", "exit-early", TRUE);
	fixture->hypervisor = cocoon_qemu_new(fixture->config, &error);
	g_assert_false(cocoon_hypervisor_start(fixture->hypervisor, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(
		strstr(error->message, "sandbox sb-test: start: QEMU exited with status 1"));
	/* the reason from QEMU's stderr */
	g_assert_nonnull(strstr(error->message, "could not load kernel"));
	g_assert_cmpint(cocoon_hypervisor_get_pid(fixture->hypervisor), ==, 0);
}

static void
test_qemu_no_monitor(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 started = g_get_monotonic_time();

	g_setenv("FAKE_QEMU_MODE", "no-monitor", TRUE);
	fixture->config->start_timeout_ms = 300;
	fixture->hypervisor = cocoon_qemu_new(fixture->config, &error);
	g_assert_false(cocoon_hypervisor_start(fixture->hypervisor, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_assert_nonnull(strstr(error->message, "did not open its monitor"));
	g_assert_cmpint(g_get_monotonic_time() - started, <, 3 * G_USEC_PER_SEC);
	/* killed and reaped: teardown checks there is no child left */
	g_assert_cmpint(cocoon_hypervisor_get_pid(fixture->hypervisor), ==, 0);
}

static void
test_qemu_stubborn(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 started;

	g_setenv("FAKE_QEMU_MODE", "stubborn", TRUE);
	start_ok(fixture);
	started = g_get_monotonic_time();
	g_assert_true(cocoon_hypervisor_stop(fixture->hypervisor, 300, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_get_monotonic_time() - started, >=, 290 * 1000);
	g_assert_cmpint(g_get_monotonic_time() - started, <, 3 * G_USEC_PER_SEC);
	g_assert_true(WIFSIGNALED(cocoon_hypervisor_get_wait_status(fixture->hypervisor)));
	g_assert_cmpint(WTERMSIG(cocoon_hypervisor_get_wait_status(fixture->hypervisor)), ==,
			SIGKILL);
	g_assert_cmpuint(fixture->died_count, ==, 0);
}

static void
test_qemu_free_kills(Fixture *fixture, gconstpointer data)
{
	GPid pid;

	start_ok(fixture);
	pid = cocoon_hypervisor_get_pid(fixture->hypervisor);
	g_clear_pointer(&fixture->hypervisor, cocoon_hypervisor_free);
	g_assert_false(process_exists(pid));
}

static void
test_qemu_start_twice(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	start_ok(fixture);
	g_assert_false(cocoon_hypervisor_start(fixture->hypervisor, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
}

static void
test_qemu_missing_kernel(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	g_unlink(fixture->config->kernel);
	fixture->hypervisor = cocoon_qemu_new(fixture->config, &error);
	g_assert_false(cocoon_hypervisor_start(fixture->hypervisor, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "sandbox sb-test: start: guest kernel"));

	g_clear_error(&error);
	g_free(fixture->config->qemu_binary);
	fixture->config->qemu_binary = g_strdup("no-such-qemu-binary");
	g_assert_true(g_file_set_contents(fixture->config->kernel, "x", -1, NULL));
	g_clear_pointer(&fixture->hypervisor, cocoon_hypervisor_free);
	fixture->hypervisor = cocoon_qemu_new(fixture->config, &error);
	g_assert_false(cocoon_hypervisor_start(fixture->hypervisor, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "no-such-qemu-binary"));

	g_clear_error(&error);
	g_clear_pointer(&fixture->config->sandbox_id, g_free);
	g_assert_null(cocoon_qemu_new(fixture->config, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

/* a thread that starts QEMU and ends without stopping it: PR_SET_PDEATHSIG must kill QEMU */
static gpointer
start_and_leave(gpointer data)
{
	Fixture *fixture = data;
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(GError) error = NULL;

	g_main_context_push_thread_default(context);
	fixture->hypervisor = cocoon_qemu_new(fixture->config, &error);
	g_assert_true(cocoon_hypervisor_start(fixture->hypervisor, &error));
	g_main_context_pop_thread_default(context);
	return GINT_TO_POINTER(cocoon_hypervisor_get_pid(fixture->hypervisor));
}

static void
test_qemu_pdeathsig(Fixture *fixture, gconstpointer data)
{
	GThread *thread = g_thread_new("owner", start_and_leave, fixture);
	GPid pid = GPOINTER_TO_INT(g_thread_join(thread));
	siginfo_t info = {0};

	g_assert_cmpint(pid, >, 0);
	/* look without reaping: the hypervisor reaps it when freed */
	g_assert_cmpint(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), ==, 0);
	g_assert_cmpint(info.si_code, ==, CLD_KILLED);
	g_assert_cmpint(info.si_status, ==, SIGKILL);
}

static void
test_qemu_stale_state(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *pid_file = state_file(fixture, "qemu.pid");
	g_autofree gchar *text = NULL;
	const gchar *sleep_argv[] = {"sleep", "60", NULL};
	guint64 start_time;
	GPid stale;
	gint status;

	/* a QEMU left over by a shim that crashed, recorded in the state directory */
	g_assert_true(g_spawn_async(NULL, (gchar **)sleep_argv, NULL,
				    G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				    &stale, &error));
	g_assert_true(cocoon_qemu_read_start_time(stale, &start_time, &error));
	g_assert_cmpint(g_mkdir_with_parents(fixture->config->state_dir, 0700), ==, 0);
	text = g_strdup_printf("%d %" G_GUINT64_FORMAT "\n", (int)stale, start_time);
	g_assert_true(g_file_set_contents(pid_file, text, -1, NULL));

	start_ok(fixture);
	g_assert_cmpint(waitpid(stale, &status, WNOHANG), <=, 0);
	g_assert_false(process_exists(stale));
	g_assert_cmpint(cocoon_hypervisor_get_pid(fixture->hypervisor), !=, stale);
}

static GPid
spawn_sleep(void)
{
	const gchar *argv[] = {"sleep", "60", NULL};
	g_autoptr(GError) error = NULL;
	GPid pid = 0;

	g_assert_true(g_spawn_async(NULL, (gchar **)argv, NULL,
				    G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				    &pid, &error));
	g_assert_no_error(error);
	return pid;
}

static void
test_qemu_kill_from_state(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	const gchar *dir = fixture->dir;
	g_autofree gchar *pid_file = g_build_filename(dir, "qemu.pid", NULL);
	g_autofree gchar *text = NULL;
	guint64 start_time = 0;
	GPid pid = spawn_sleep();
	gint status = 0;

	/* nothing recorded: nothing to do */
	g_assert_true(cocoon_qemu_kill_from_state(dir, &error));
	g_assert_no_error(error);

	/* the pid was reused by another process (start time differs): it must survive */
	g_assert_true(cocoon_qemu_read_start_time(pid, &start_time, &error));
	text = g_strdup_printf("%d %" G_GUINT64_FORMAT "\n", (int)pid, start_time + 1);
	g_assert_true(g_file_set_contents(pid_file, text, -1, NULL));
	g_assert_true(cocoon_qemu_kill_from_state(dir, &error));
	g_assert_no_error(error);
	g_usleep(50 * 1000);
	g_assert_cmpint(waitpid(pid, &status, WNOHANG), ==, 0);
	g_assert_true(process_exists(pid));
	g_assert_false(g_file_test(pid_file, G_FILE_TEST_EXISTS));

	/* garbage in the pid file: refuse, kill nothing */
	g_assert_true(g_file_set_contents(pid_file, "12x 34\n", -1, NULL));
	g_assert_false(cocoon_qemu_kill_from_state(dir, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_assert_true(g_file_set_contents(pid_file, "1 2 3\n", -1, NULL));
	g_assert_false(cocoon_qemu_kill_from_state(dir, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_assert_true(process_exists(pid));

	/* the recorded process itself: killed, and gone before the call returns */
	g_clear_pointer(&text, g_free);
	text = g_strdup_printf("%d %" G_GUINT64_FORMAT "\n", (int)pid, start_time);
	g_assert_true(g_file_set_contents(pid_file, text, -1, NULL));
	g_assert_true(cocoon_qemu_kill_from_state(dir, &error));
	g_assert_no_error(error);
	/* it was our child: already collected, or a zombie killed by SIGKILL */
	if (waitpid(pid, &status, WNOHANG) == pid) {
		g_assert_true(WIFSIGNALED(status));
		g_assert_cmpint(WTERMSIG(status), ==, SIGKILL);
	}
	g_assert_false(process_exists(pid));
	g_assert_false(g_file_test(pid_file, G_FILE_TEST_EXISTS));

	/* a pid nobody has any more */
	g_assert_true(g_file_set_contents(pid_file, text, -1, NULL));
	g_assert_true(cocoon_qemu_kill_from_state(dir, &error));
	g_assert_no_error(error);
	g_assert_false(g_file_test(pid_file, G_FILE_TEST_EXISTS));
}

static void
test_qemu_console_tail(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *console = NULL;
	g_autofree gchar *tail = NULL;
	g_autoptr(GString) big = g_string_new(NULL);

	fixture->hypervisor = cocoon_qemu_new(fixture->config, &error);
	console = g_strdup(cocoon_hypervisor_get_console_log_path(fixture->hypervisor));
	tail = cocoon_hypervisor_console_tail(fixture->hypervisor, 3);
	g_assert_cmpstr(tail, ==, "");
	g_clear_pointer(&tail, g_free);

	g_assert_cmpint(g_mkdir_with_parents(fixture->config->state_dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(console,
					  "[    0.0] one\r\n[    0.1] two\r\n\x1b[0mthree \xff\n"
					  "four\n\n",
					  -1, NULL));
	tail = cocoon_hypervisor_console_tail(fixture->hypervisor, 2);
	g_assert_cmpstr(tail, ==, "?[0mthree \xef\xbf\xbd\nfour");
	g_clear_pointer(&tail, g_free);
	tail = cocoon_hypervisor_console_tail(fixture->hypervisor, 10);
	g_assert_cmpstr(tail, ==, "[    0.0] one\n[    0.1] two\n?[0mthree \xef\xbf\xbd\nfour");
	g_clear_pointer(&tail, g_free);

	/* only the end of a big file is read */
	for (guint i = 0; i < 20000; i++)
		g_string_append_printf(big, "line %u\n", i);
	g_assert_true(g_file_set_contents(console, big->str, big->len, NULL));
	tail = cocoon_hypervisor_console_tail(fixture->hypervisor, 2);
	g_assert_cmpstr(tail, ==, "line 19998\nline 19999");

	g_assert_cmpstr(cocoon_hypervisor_get_agent_socket_path(fixture->hypervisor) +
				strlen(fixture->config->state_dir),
			==, "/agent.sock");
	g_assert_cmpstr(cocoon_hypervisor_get_stdio_socket_path(fixture->hypervisor) +
				strlen(fixture->config->state_dir),
			==, "/stdio.sock");
	g_assert_cmpstr(cocoon_hypervisor_get_sandbox_id(fixture->hypervisor), ==, "sb-test");
}

/* a guest that floods its serial console: console.log stays under the cap, rotated once */
static void
test_qemu_console_cap(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *console = NULL;
	g_autofree gchar *rotated = NULL;
	g_autofree gchar *tail = NULL;
	g_autofree gchar *args = NULL;
	g_autofree gchar *args_file = state_file(fixture, "fake-qemu.args");
	GStatBuf st;

	fixture->config->console_log_max_kib = 64;
	/* 3.5 MiB, 56 times the cap and whole lines: QEMU's file chardev wrote it all */
	g_setenv("FAKE_QEMU_CONSOLE_BYTES", "3670016", TRUE);
	start_ok(fixture);
	g_assert_true(g_file_get_contents(args_file, &args, NULL, NULL));
	g_assert_nonnull(strstr(args, "\n-chardev\nsocket,id=console,fd=11\n"));
	g_assert_null(strstr(args, "console.log"));
	g_assert_true(cocoon_hypervisor_stop(fixture->hypervisor, 3000, &error));
	g_assert_no_error(error);
	g_unsetenv("FAKE_QEMU_CONSOLE_BYTES");

	/* the reader drained everything before stop() returned */
	console = g_strdup(cocoon_hypervisor_get_console_log_path(fixture->hypervisor));
	rotated = g_strconcat(console, ".1", NULL);
	/* both files full, nothing more on disk */
	g_assert_cmpint(g_stat(console, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 64 * 1024);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_cmpint(g_stat(rotated, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 64 * 1024);
	/* the newest output is what is kept */
	tail = cocoon_hypervisor_console_tail(fixture->hypervisor, 1);
	g_assert_cmpstr(tail, ==, "console flood");

	/* a new start begins a new log and drops the old rotation */
	g_clear_pointer(&fixture->hypervisor, cocoon_hypervisor_free);
	start_ok(fixture);
	g_assert_true(cocoon_hypervisor_stop(fixture->hypervisor, 3000, &error));
	g_assert_cmpint(g_stat(console, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 0);
	g_assert_false(g_file_test(rotated, G_FILE_TEST_EXISTS));

	/* 0: no console at all */
	fixture->config->console_log_max_kib = 0;
	g_clear_pointer(&fixture->hypervisor, cocoon_hypervisor_free);
	g_clear_pointer(&args, g_free);
	start_ok(fixture);
	g_assert_true(g_file_get_contents(args_file, &args, NULL, NULL));
	g_assert_nonnull(strstr(args, "\n-chardev\nnull,id=console\n"));
}

/* a QEMU that writes without end on stderr: qemu.log is capped (256 KiB) and rotated once */
static void
test_qemu_stderr_cap(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *log = state_file(fixture, "qemu.log");
	g_autofree gchar *rotated = state_file(fixture, "qemu.log.1");
	struct stat st;

	g_setenv("FAKE_QEMU_STDERR_BYTES", "3145728", TRUE);
	start_ok(fixture);
	g_unsetenv("FAKE_QEMU_STDERR_BYTES");
	g_assert_true(cocoon_hypervisor_stop(fixture->hypervisor, 3000, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_stat(log, &st), ==, 0);
	g_assert_cmpint(st.st_size, <=, 256 * 1024);
	g_assert_cmpint(g_stat(rotated, &st), ==, 0);
	g_assert_cmpint(st.st_size, <=, 256 * 1024);
	g_assert_cmpint(st.st_size, >, 0);
}

/* QEMU dies while QMP is handshaking: the error is QEMU's own reason, not the reset */
static void
test_qemu_die_at_capabilities(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	g_setenv("FAKE_QEMU_MODE", "die-at-capabilities", TRUE);
	fixture->hypervisor = cocoon_qemu_new(fixture->config, &error);
	g_assert_false(cocoon_hypervisor_start(fixture->hypervisor, &error));
	g_assert_nonnull(error);
	g_test_message("%s", error->message);
	g_assert_nonnull(
		strstr(error->message, "sandbox sb-test: start: QEMU exited with status 1"));
	g_assert_nonnull(strstr(error->message, "qemu.log: fake-qemu: Error loading uncompressed "
						"kernel without PVH ELF Note"));
	g_assert_cmpint(cocoon_hypervisor_get_pid(fixture->hypervisor), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, func)                                                                            \
	g_test_add("/hypervisor/qemu/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("lifecycle", test_qemu_lifecycle);
	ADD("guest-poweroff", test_qemu_guest_poweroff);
	ADD("killed", test_qemu_killed);
	ADD("exit-early", test_qemu_exit_early);
	ADD("no-monitor", test_qemu_no_monitor);
	ADD("stubborn", test_qemu_stubborn);
	ADD("free-kills", test_qemu_free_kills);
	ADD("start-twice", test_qemu_start_twice);
	ADD("missing-kernel", test_qemu_missing_kernel);
	ADD("pdeathsig", test_qemu_pdeathsig);
	ADD("stale-state", test_qemu_stale_state);
	ADD("kill-from-state", test_qemu_kill_from_state);
	ADD("console-tail", test_qemu_console_tail);
	ADD("console-cap", test_qemu_console_cap);
	ADD("die-at-capabilities", test_qemu_die_at_capabilities);
	ADD("stderr-cap", test_qemu_stderr_cap);
#undef ADD
	return g_test_run();
}
