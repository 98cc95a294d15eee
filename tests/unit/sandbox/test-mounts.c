/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon_mount_make_readonly: a recursive bind mount of a volume that has a submount, made
 * read-only, must refuse writes in the submount too (a plain remount leaves it writable). Runs in a
 * private mount namespace; needs root (skips loudly without it).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-rootfs.h"

static gboolean
can_write(const gchar *dir)
{
	g_autofree gchar *path = g_build_filename(dir, "probe", NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		g_assert_cmpint(errno, ==, EROFS);
		return FALSE;
	}
	close(fd);
	g_assert_cmpint(g_unlink(path), ==, 0);
	return TRUE;
}

static void
test_readonly_recursive(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *base = NULL;
	g_autofree gchar *volume = NULL;
	g_autofree gchar *sub = NULL;
	g_autofree gchar *target = NULL;
	g_autofree gchar *target_sub = NULL;

	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0) {
		g_test_skip("SKIP: needs root to make a private mount namespace");
		return;
	}
	g_assert_cmpint(mount(NULL, "/", "none", MS_REC | MS_PRIVATE, NULL), ==, 0);
	base = g_dir_make_tmp("cocoon-mounts-XXXXXX", &error);
	g_assert_no_error(error);
	g_assert_cmpint(mount("tmpfs", base, "tmpfs", 0, "size=1m"), ==, 0);
	volume = g_build_filename(base, "volume", NULL);
	sub = g_build_filename(volume, "sub", NULL);
	target = g_build_filename(base, "target", NULL);
	target_sub = g_build_filename(target, "sub", NULL);
	g_assert_cmpint(g_mkdir_with_parents(sub, 0700), ==, 0);
	g_assert_cmpint(g_mkdir(target, 0700), ==, 0);
	/* the volume has a submount of its own, as a host's /var/lib/... with a tmpfs inside */
	g_assert_cmpint(mount("tmpfs", sub, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m"), ==, 0);
	g_assert_cmpint(mount(volume, target, "none", MS_BIND | MS_REC, NULL), ==, 0);
	g_assert_true(can_write(target));
	g_assert_true(can_write(target_sub));

	g_assert_true(cocoon_mount_make_readonly(target, &error));
	g_assert_no_error(error);
	g_assert_false(can_write(target));
	g_assert_false(can_write(target_sub));
	/* the sources stay as they were */
	g_assert_true(can_write(volume));
	g_assert_true(can_write(sub));

	/* a missing target is an error naming it */
	g_assert_false(cocoon_mount_make_readonly("/nonexistent/cocoon", &error));
	g_assert_nonnull(strstr(error->message, "/nonexistent/cocoon"));

	g_assert_cmpint(umount2(base, MNT_DETACH), ==, 0);
	g_assert_cmpint(g_rmdir(base), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sandbox/mounts/readonly-recursive", test_readonly_recursive);
	return g_test_run();
}
