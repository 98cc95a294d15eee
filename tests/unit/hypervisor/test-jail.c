/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CocoonJail and the uid leases, for real: a probe program runs jailed (as root only: the jail
 * needs namespaces and setresuid; as another user the test says SKIP loudly) and reports its
 * credentials, capabilities, seccomp mode and what it can reach.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-fd.h"
#include "cocoon-jail.h"
#include "cocoon-uid-lease.h"

#define TEST_UID 1900065530u

static gboolean
need_root(void)
{
	const gchar *preload = g_getenv("LD_PRELOAD");

	/* valgrind's memcheck run (tests/lib/with-valgrind.sh): it cannot follow a jail */
	if (preload != NULL && strstr(preload, "vgpreload") != NULL) {
		g_printerr(
			"SKIP: under valgrind: it cannot follow the jail's namespaces, pivot_root "
			"and seccomp filter (the plain and ASan runs test the jail)\n");
		g_test_skip("SKIP: under valgrind");
		return FALSE;
	}
	if (geteuid() == 0)
		return TRUE;
	g_printerr("SKIP: the jail needs root (namespaces, setresuid)\n");
	g_test_skip("SKIP: the jail needs root");
	return FALSE;
}

/* runs argv in jail; its stdout, and its exit status in *ret_status */
static gchar *
run_jailed(CocoonJail *jail, const gchar *const *argv, gint *ret_status, GError **error)
{
	int pipe_fds[2];
	cocoon_autofd int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	cocoon_autofd int out_read = -1;
	cocoon_autofd int out_write = -1;
	g_autoptr(GString) out = g_string_new(NULL);
	GPid pid;
	gchar buffer[4096];
	gssize n;

	g_assert_cmpint(pipe2(pipe_fds, O_CLOEXEC), ==, 0);
	out_read = pipe_fds[0];
	out_write = pipe_fds[1];
	{
		CocoonJailFd fds[] = {{null_fd, 0}, {out_write, 1}, {out_write, 2}};
		if (!cocoon_jail_spawn(jail, argv[0], argv, fds, G_N_ELEMENTS(fds), &pid, error))
			return NULL;
	}
	cocoon_fd_closep(&out_write);
	while ((n = read(out_read, buffer, sizeof(buffer))) > 0)
		g_string_append_len(out, buffer, n);
	g_assert_cmpint(waitpid(pid, ret_status, 0), ==, pid);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static CocoonJail *
new_jail(gchar **ret_dir)
{
	g_autoptr(GError) error = NULL;
	gchar *dir = g_dir_make_tmp("test-jail-XXXXXX", &error);
	g_autofree gchar *root = g_build_filename(dir, "root", NULL);

	g_assert_no_error(error);
	g_assert_cmpint(g_mkdir(root, 0700), ==, 0);
	*ret_dir = dir;
	return cocoon_jail_new(root, TEST_UID, TEST_UID);
}

static void
remove_dir(const gchar *dir)
{
	g_autofree gchar *root = g_build_filename(dir, "root", NULL);
	g_rmdir(root);
	g_rmdir(dir);
}

/* the probe's report, run jailed keeping the capabilities of keep (bit n: CAP n) */
static gchar *
run_probe(guint64 keep)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = NULL;
	g_autoptr(CocoonJail) jail = new_jail(&dir);
	g_autofree gchar *probe =
		g_test_build_filename(G_TEST_BUILT, "unit", "hypervisor", "jail-probe", NULL);
	const gchar *argv[] = {probe, NULL};
	gchar *out;
	gint status = -1;

	cocoon_jail_expose_program(jail, probe);
	cocoon_jail_add_device(jail, "/dev/null");
	cocoon_jail_set_hostname(jail, "cocoon-test");
	cocoon_jail_set_limits(jail, 64, 64, 0);
	for (guint cap = 0; cap < 64; cap++) {
		if ((keep & (G_GUINT64_CONSTANT(1) << cap)) != 0)
			cocoon_jail_keep_capability(jail, cap);
	}
	out = run_jailed(jail, argv, &status, &error);
	g_assert_no_error(error);
	g_test_message("%s", out);
	g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	remove_dir(dir);
	return out;
}

static void
test_jail_probe(void)
{
	g_autofree gchar *out = NULL;
	g_autofree gchar *uid_line =
		g_strdup_printf("Uid:\t%u\t%u\t%u\t%u\n", TEST_UID, TEST_UID, TEST_UID, TEST_UID);

	if (!need_root())
		return;
	out = run_probe(0);
	/* the filter answers EPERM (no capability would be asked first for name_to_handle_at) */
	g_assert_nonnull(strstr(out, "name_to_handle_at EPERM\n"));
	g_assert_nonnull(strstr(out, "open_by_handle_at EPERM\n"));
	g_assert_nonnull(strstr(out, "unshare EPERM\n"));
	g_assert_nonnull(strstr(out, "mount EPERM\n"));
	/* threads may be made, namespaces not; clone3 looks absent (its flags are out of reach) */
	g_assert_nonnull(strstr(out, "clone_newuser EPERM\n"));
	g_assert_nonnull(strstr(out, "clone3 ENOSYS\n"));
	g_assert_nonnull(strstr(out, "chmod_dev EROFS\n"));
	/* the host's /etc is not there; neither / nor /usr can be written */
	g_assert_nonnull(strstr(out, "shadow ENOENT\n"));
	g_assert_nonnull(strstr(out, "write_root EROFS\n"));
	g_assert_nonnull(strstr(out, "write_usr EROFS\n"));
	/* PID 1 of its own PID namespace */
	g_assert_nonnull(strstr(out, "getpid 1\n"));
	g_assert_nonnull(strstr(out, uid_line));
	g_assert_nonnull(strstr(out, "Groups:\t \n"));
	g_assert_nonnull(strstr(out, "CapInh:\t0000000000000000\n"));
	g_assert_nonnull(strstr(out, "CapPrm:\t0000000000000000\n"));
	g_assert_nonnull(strstr(out, "CapEff:\t0000000000000000\n"));
	g_assert_nonnull(strstr(out, "CapBnd:\t0000000000000000\n"));
	g_assert_nonnull(strstr(out, "CapAmb:\t0000000000000000\n"));
	g_assert_nonnull(strstr(out, "NoNewPrivs:\t1\n"));
	g_assert_nonnull(strstr(out, "Seccomp:\t2\n"));
}

static void
test_jail_keep_capability(void)
{
	g_autofree gchar *out = NULL;

	if (!need_root())
		return;
	out = run_probe((G_GUINT64_CONSTANT(1) << CAP_DAC_OVERRIDE) |
			(G_GUINT64_CONSTANT(1) << CAP_FOWNER));
	/* bits 1 and 3, through execve by the ambient set; nothing else, not even in the bounding
	 * set */
	g_assert_nonnull(strstr(out, "CapEff:\t000000000000000a\n"));
	g_assert_nonnull(strstr(out, "CapBnd:\t000000000000000a\n"));
	g_assert_nonnull(strstr(out, "CapAmb:\t000000000000000a\n"));
	/* CAP_DAC_OVERRIDE does not give file handles back: the filter denies them */
	g_assert_nonnull(strstr(out, "open_by_handle_at EPERM\n"));
	/* CAP_FOWNER does not reach the host's device nodes: their binds are read-only */
	g_assert_nonnull(strstr(out, "chmod_dev EROFS\n"));
}

static void
test_jail_errors(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = NULL;
	g_autoptr(CocoonJail) jail = NULL;
	const gchar *argv[] = {"/nonexistent/program", NULL};
	gint status = -1;
	g_autofree gchar *out = NULL;

	if (!need_root())
		return;
	/* a path to expose that does not exist: the parent says so, nothing is started */
	jail = new_jail(&dir);
	cocoon_jail_expose(jail, "/nonexistent/kernel", FALSE);
	out = run_jailed(jail, argv, &status, &error);
	g_assert_null(out);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "/nonexistent/kernel"));
	g_clear_error(&error);
	g_clear_pointer(&jail, cocoon_jail_free);
	remove_dir(dir);
	g_free(g_steal_pointer(&dir));

	/* a program not in the jail: the child's execve error comes back */
	jail = new_jail(&dir);
	out = run_jailed(jail, argv, &status, &error);
	g_assert_null(out);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "execve /nonexistent/program"));
	remove_dir(dir);
}

static void
test_uid_lease(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("test-lease-XXXXXX", &error);
	g_autoptr(CocoonUidLease) first = NULL;
	g_autoptr(CocoonUidLease) second = NULL;
	g_autoptr(CocoonUidLease) third = NULL;
	g_autofree gchar *leases = NULL;

	g_assert_no_error(error);
	leases = g_build_filename(dir, "leases", NULL);
	first = cocoon_uid_lease_acquire(leases, TEST_UID, 2, "pod-a", &error);
	g_assert_no_error(error);
	second = cocoon_uid_lease_acquire(leases, TEST_UID, 2, "pod-b", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(cocoon_uid_lease_get_uid(first), !=, cocoon_uid_lease_get_uid(second));
	g_assert_cmpuint(cocoon_uid_lease_get_uid(first), >=, TEST_UID);
	g_assert_cmpuint(cocoon_uid_lease_get_uid(second), <=, TEST_UID + 1);
	/* the range is used up: a clear error, not a shared uid */
	third = cocoon_uid_lease_acquire(leases, TEST_UID, 2, "pod-c", &error);
	g_assert_null(third);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BUSY);
	g_clear_error(&error);
	/* a released uid is leased again */
	{
		uid_t freed = cocoon_uid_lease_get_uid(first);
		g_clear_pointer(&first, cocoon_uid_lease_release);
		third = cocoon_uid_lease_acquire(leases, TEST_UID, 2, "pod-c", &error);
		g_assert_no_error(error);
		g_assert_cmpuint(cocoon_uid_lease_get_uid(third), ==, freed);
	}
	/* a range that is no range */
	g_assert_null(cocoon_uid_lease_acquire(leases, 0, 10, "pod-d", &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	/* a uid some process runs as (ours) is in use */
	g_assert_true(cocoon_uid_in_use(getuid()));
	g_assert_false(cocoon_uid_in_use(TEST_UID + 7));
	g_clear_pointer(&second, cocoon_uid_lease_release);
	g_clear_pointer(&third, cocoon_uid_lease_release);
	for (guint i = 0; i < 2; i++) {
		g_autofree gchar *name = g_strdup_printf("%s/%u", leases, TEST_UID + i);
		g_unlink(name);
	}
	g_rmdir(leases);
	g_rmdir(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hypervisor/jail/probe", test_jail_probe);
	g_test_add_func("/hypervisor/jail/keep-capability", test_jail_keep_capability);
	g_test_add_func("/hypervisor/jail/errors", test_jail_errors);
	g_test_add_func("/hypervisor/uid-lease", test_uid_lease);
	return g_test_run();
}
