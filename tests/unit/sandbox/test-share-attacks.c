/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hostile review's attacks on the pod's share and on bind sources (docs/security.md), kept as
 * regression tests. Same setup as test-share.c: root, a private mount namespace, a tmpfs, and a
 * host file system with shared propagation, as systemd makes "/" (COCOON_ATTACK_PRIVATE=1: the
 * private control). The first seven failed on the design's first version (copies that were peers of
 * their sources, "bind" copied recursively, state_dir compared as a string, a deep tree left
 * behind); the others were stopped from the start (swap races, FIFOs, mountinfo escaping).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-fd.h"
#include "cocoon-fs.h"
#include "cocoon-json.h"
#include "cocoon-rootfs.h"
#include "cocoon-share.h"
#include "cocoon-spec-mounts.h"

typedef struct {
	gchar *base;   /* a tmpfs */
	gchar *state;  /* <base>/state: Cocoon's state_dir */
	gchar *pod;    /* <state>/pod */
	gchar *shared; /* <state>/pod/shared */
	gchar *bundle; /* <base>/bundle */
	gchar *victim; /* <base>/victim: a host directory */
	gchar *hostfs; /* <base>/hostfs: a tmpfs with SHARED propagation (like / under systemd) */
	gchar *src;    /* <hostfs>/src: a volume source; <src>/sub is a host mount of its own */
	gboolean usable;
} Fixture;

static gboolean
is_mount_point(const gchar *path)
{
	cocoon_autofd int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 && cocoon_fs_is_mount_root(fd);
}

static void
write_file(const gchar *dir, const gchar *name, const gchar *contents)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_autoptr(GError) error = NULL;
	g_assert_true(g_file_set_contents(path, contents, -1, &error));
}

static gboolean
file_exists(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	return g_file_test(path, G_FILE_TEST_EXISTS);
}

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *rootfs = NULL;
	g_autofree gchar *sub = NULL;

	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0) {
		g_test_skip("SKIP: needs root to make a private mount namespace");
		return;
	}
	f->usable = TRUE;
	g_assert_cmpint(mount(NULL, "/", "none", MS_REC | MS_PRIVATE, NULL), ==, 0);
	f->base = g_dir_make_tmp("cocoon-attack-XXXXXX", &error);
	g_assert_no_error(error);
	g_assert_cmpint(mount("tmpfs", f->base, "tmpfs", 0, "size=16m"), ==, 0);
	f->state = g_build_filename(f->base, "state", NULL);
	f->pod = g_build_filename(f->state, "pod", NULL);
	f->shared = g_build_filename(f->pod, "shared", NULL);
	f->bundle = g_build_filename(f->base, "bundle", NULL);
	f->victim = g_build_filename(f->base, "victim", NULL);
	f->hostfs = g_build_filename(f->base, "hostfs", NULL);
	f->src = g_build_filename(f->hostfs, "src", NULL);
	rootfs = g_build_filename(f->bundle, "rootfs", NULL);
	g_assert_cmpint(g_mkdir_with_parents(rootfs, 0700), ==, 0);
	write_file(f->bundle, "config.json", "{}");
	g_assert_cmpint(g_mkdir_with_parents(f->victim, 0700), ==, 0);
	write_file(f->victim, "precious", "host data");
	/* a host file system with shared propagation, as systemd makes "/" */
	g_assert_cmpint(g_mkdir_with_parents(f->hostfs, 0700), ==, 0);
	g_assert_cmpint(mount("tmpfs", f->hostfs, "tmpfs", 0, "size=1m"), ==, 0);
	/* COCOON_ATTACK_PRIVATE=1: the control (a private host mount) */
	if (g_getenv("COCOON_ATTACK_PRIVATE") == NULL)
		g_assert_cmpint(mount(NULL, f->hostfs, "none", MS_SHARED, NULL), ==, 0);
	sub = g_build_filename(f->src, "sub", NULL);
	g_assert_cmpint(g_mkdir_with_parents(sub, 0700), ==, 0);
	write_file(f->src, "data", "volume data");
	/* the host's own mount below the volume's source (a CSI volume, a USB disk, ...) */
	g_assert_cmpint(mount("tmpfs", sub, "tmpfs", 0, "size=1m"), ==, 0);
	write_file(sub, "host-mount-file", "x");
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
	if (!f->usable)
		return;
	g_assert_cmpint(umount2(f->base, MNT_DETACH), ==, 0);
	g_assert_cmpint(g_rmdir(f->base), ==, 0);
	g_free(f->base);
	g_free(f->state);
	g_free(f->pod);
	g_free(f->shared);
	g_free(f->bundle);
	g_free(f->victim);
	g_free(f->hostfs);
	g_free(f->src);
}

static gboolean
share_one(CocoonShareArea *area, const gchar *bundle, const gchar *state_dir, const gchar *source,
	  const gchar *options, GError **error)
{
	g_autofree gchar *json = g_strdup_printf(
		"{\"mounts\":[{\"destination\":\"/v\",\"type\":\"bind\",\"source\":\"%s\","
		"\"options\":[%s]}]}",
		source, options);
	g_autoptr(CocoonJson) spec = cocoon_json_parse(json, strlen(json), error);
	g_assert_nonnull(spec);
	return cocoon_spec_share_mounts(spec, bundle, area, state_dir, error);
}

/*
 * ATTACK: the volume's source lives on a mount with shared propagation (systemd's "/"), and the
 * host has a mount of its own below it. open_tree(OPEN_TREE_CLONE) makes the copy a PEER of the
 * source mount, so detaching the copy's submount propagates the umount to the host: releasing a
 * container unmounts the host's <src>/sub.
 */
static void
test_propagated_umount_release(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = NULL;
	g_autoptr(CocoonShareArea) area = NULL;
	g_autofree gchar *sub = g_build_filename(f->src, "sub", NULL);
	g_autofree gchar *copy_sub = g_build_filename(f->shared, ".volumes", "0", "sub", NULL);

	if (!f->usable)
		return;
	share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	g_assert_no_error(error);
	area = cocoon_share_area_new(share, "c1", &error);
	g_assert_no_error(error);
	g_assert_true(share_one(area, f->bundle, f->state, f->src, "\"rbind\"", &error));
	g_assert_no_error(error);
	g_assert_true(is_mount_point(copy_sub));
	g_clear_pointer(&area, cocoon_share_area_free);
	/* the host's mount must still be there */
	g_assert_true(is_mount_point(sub));
	g_assert_true(file_exists(sub, "host-mount-file"));
}

/* ATTACK: the same through `shim delete` after a SIGKILLed shim (cocoon_unmount_below) */
static void
test_propagated_umount_delete(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *sub = g_build_filename(f->src, "sub", NULL);
	int status = 0;
	pid_t pid;

	if (!f->usable)
		return;
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		g_autoptr(CocoonShare) share =
			cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, NULL);
		CocoonShareArea *area =
			share != NULL ? cocoon_share_area_new(share, "c1", NULL) : NULL;
		if (area == NULL ||
		    !share_one(area, f->bundle, f->state, f->src, "\"rbind\"", NULL))
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	g_assert_true(cocoon_unmount_below(f->pod, &error));
	g_assert_no_error(error);
	cocoon_remove_tree(f->pod);
	g_assert_true(is_mount_point(sub));
	g_assert_true(file_exists(sub, "host-mount-file"));
	g_assert_true(file_exists(f->src, "data"));
}

/*
 * ATTACK: a read-only volume becomes writable for the guest. The copy is a peer of the source,
 * so a mount the host makes below the source later (kubelet/CSI, automount) propagates into the
 * share as the host made it: read-write.
 */
static void
test_readonly_volume_propagated_rw(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = NULL;
	g_autoptr(CocoonShareArea) area = NULL;
	g_autofree gchar *later = g_build_filename(f->src, "later", NULL);
	g_autofree gchar *guest_later = g_build_filename(f->shared, ".volumes", "0", "later", NULL);
	g_autofree gchar *guest_file = g_build_filename(guest_later, "written-by-guest", NULL);
	g_autofree gchar *guest_top = g_build_filename(f->shared, ".volumes", "0", "x", NULL);

	if (!f->usable)
		return;
	share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	area = cocoon_share_area_new(share, "c1", &error);
	g_assert_no_error(error);
	g_assert_true(share_one(area, f->bundle, f->state, f->src, "\"rbind\",\"ro\"", &error));
	g_assert_no_error(error);
	g_assert_false(g_file_set_contents(guest_top, "x", -1, NULL));
	/* the host mounts something below the source after the Create */
	g_assert_cmpint(g_mkdir(later, 0700), ==, 0);
	g_assert_cmpint(mount("tmpfs", later, "tmpfs", 0, "size=1m"), ==, 0);
	if (is_mount_point(guest_later))
		g_test_message("the host's new mount appeared in the read-only volume's copy");
	/* the guest (QEMU's 9p server) writes there: must be refused */
	g_assert_false(g_file_set_contents(guest_file, "pwned", -1, NULL));
}

/*
 * ATTACK (spec author): OCI "bind" (not "rbind") is a non-recursive bind in runc; the share copy
 * is always recursive, so submounts of the source the spec did not ask for (here the host's
 * <src>/sub) reach the guest.
 */
static void
test_bind_is_not_recursive(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = NULL;
	g_autoptr(CocoonShareArea) area = NULL;
	g_autofree gchar *copy_sub = g_build_filename(f->shared, ".volumes", "0", "sub", NULL);

	if (!f->usable)
		return;
	share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	area = cocoon_share_area_new(share, "c1", &error);
	g_assert_no_error(error);
	g_assert_true(share_one(area, f->bundle, f->state, f->src, "\"bind\"", &error));
	g_assert_no_error(error);
	g_assert_false(file_exists(copy_sub, "host-mount-file"));
	g_assert_false(is_mount_point(copy_sub));
}

/*
 * ATTACK (configuration): the state directory as configured is compared as a string with the
 * kernel's path of the source: a state_dir written through a symlink (Debian's /var/run ->
 * /run) or with a trailing slash lets a bind source inside the share through.
 */
static void
test_state_dir_noncanonical(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = NULL;
	g_autoptr(CocoonShareArea) area = NULL;
	g_autofree gchar *link = g_build_filename(f->base, "state-link", NULL);
	g_autofree gchar *via_link = g_build_filename(link, "pod", "shared", NULL);
	g_autofree gchar *slash = g_strconcat(f->state, "/", NULL);
	gboolean accepted_link, accepted_slash;

	if (!f->usable)
		return;
	share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	area = cocoon_share_area_new(share, "c1", &error);
	g_assert_no_error(error);
	g_assert_cmpint(symlink(f->state, link), ==, 0);
	/* state_dir = "<base>/state-link" (a symlink), source = the share */
	accepted_link = share_one(area, f->bundle, link, f->shared, "\"rbind\"", &error);
	g_clear_error(&error);
	/* state_dir = "<base>/state/" */
	accepted_slash = share_one(area, f->bundle, slash, via_link, "\"rbind\"", &error);
	g_clear_error(&error);
	if (accepted_link)
		g_test_message("state_dir through a symlink: the share was accepted as a source");
	if (accepted_slash)
		g_test_message(
			"state_dir with a trailing slash: the share was accepted as a source");
	g_assert_false(accepted_link);
	g_assert_false(accepted_slash);
}

/*
 * ATTACK (guest): a directory chain deeper than REMOVE_DEPTH_MAX (128) with data at the bottom.
 * Removal stops there: the area, the share and <state>/<pod> stay on the host (tmpfs /run: host
 * memory) after the pod is gone, with whatever the guest put there.
 */
static void
test_deep_tree_survives(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = NULL;
	g_autoptr(CocoonShareArea) area = NULL;
	g_autofree gchar *area_path = g_build_filename(f->shared, "c1", NULL);
	cocoon_autofd int fd = -1;

	if (!f->usable)
		return;
	share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	area = cocoon_share_area_new(share, "c1", &error);
	g_assert_no_error(error);
	/* the guest: mkdir d/d/d/... 300 deep, a file at the bottom */
	fd = open(area_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (guint i = 0; i < 300; i++) {
		int next;
		g_assert_cmpint(mkdirat(fd, "d", 0700), ==, 0);
		next = openat(fd, "d", O_PATH | O_DIRECTORY | O_CLOEXEC);
		g_assert_cmpint(next, >=, 0);
		close(fd);
		fd = next;
	}
	{
		int file = openat(fd, "left-behind", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		g_assert_cmpint(file, >=, 0);
		g_assert_cmpint(write(file, "guest data", 10), ==, 10);
		close(file);
	}
	g_clear_pointer(&area, cocoon_share_area_free);
	g_clear_pointer(&share, cocoon_share_free);
	cocoon_remove_tree(f->pod);
	if (g_file_test(f->pod, G_FILE_TEST_EXISTS))
		g_test_message("%s survived the removal", f->pod);
	g_assert_false(g_file_test(f->pod, G_FILE_TEST_EXISTS));
}

/*
 * (configuration) the same root cause for `delete`: cocoon_unmount_below() matches mountinfo
 * (the kernel's canonical paths) against the configured path as a string. With a state_dir
 * through a symlink nothing matches after a shim SIGKILL: every mount stays, and so does the
 * pod's state directory.
 */
static void
test_unmount_below_via_symlink(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *link = g_build_filename(f->base, "state-link", NULL);
	g_autofree gchar *pod_via_link = g_build_filename(link, "pod", NULL);
	g_autofree gchar *copy = g_build_filename(f->shared, "c1", "mounts", "0", NULL);
	int status = 0;
	pid_t pid;

	if (!f->usable)
		return;
	g_assert_cmpint(symlink(f->state, link), ==, 0);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		g_autoptr(CocoonShare) share =
			cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, NULL);
		CocoonShareArea *area =
			share != NULL ? cocoon_share_area_new(share, "c1", NULL) : NULL;
		CocoonMountCopy *tree = cocoon_mount_clone_path(f->victim, FALSE, NULL);
		if (area == NULL || tree == NULL ||
		    !cocoon_share_area_attach(area, "mounts", "0", tree, TRUE, NULL))
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	(void)cocoon_unmount_below(pod_via_link, &error);
	cocoon_remove_tree(pod_via_link);
	if (is_mount_point(copy))
		g_test_message("%s is still mounted after delete", copy);
	g_assert_false(is_mount_point(copy));
	g_assert_false(g_file_test(f->pod, G_FILE_TEST_EXISTS));
	if (is_mount_point(copy))
		(void)umount2(copy, MNT_DETACH);
}

/* ---------------------------------------------------------------- attacks that were stopped */

typedef struct {
	const gchar *parent; /* opened without following a symlink each round, as 9p would */
	const gchar *name;   /* swapped between a directory and a symlink to victim */
	const gchar *victim; /* where the symlink points */
	volatile gint stop;
	guint swaps;
} Swapper;

static gpointer
swapper_run(gpointer data)
{
	Swapper *s = data;
	g_autofree gchar *tmp_link = g_strconcat(s->name, ".l", NULL);
	g_autofree gchar *tmp_dir = g_strconcat(s->name, ".d", NULL);

	while (!g_atomic_int_get(&s->stop)) {
		int dir = open(s->parent, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dir < 0)
			continue;
		(void)symlinkat(s->victim, dir, tmp_link);
		(void)renameat(dir, tmp_link, dir, s->name); /* fails while a non-empty dir */
		(void)mkdirat(dir, tmp_dir, 0700);
		(void)renameat(dir, tmp_dir, dir, s->name); /* replaces a symlink */
		(void)unlinkat(dir, s->name, 0);	    /* a symlink goes */
		(void)symlinkat(s->victim, dir, s->name);
		close(dir);
		s->swaps++;
	}
	return NULL;
}

static gboolean
victim_touched(Fixture *f)
{
	g_autoptr(GDir) dir = g_dir_open(f->victim, 0, NULL);
	const gchar *name;
	while ((name = g_dir_read_name(dir)) != NULL)
		if (!g_str_equal(name, "precious"))
			return TRUE;
	return is_mount_point(f->victim);
}

/*
 * RACE (guest): while Creates run, the guest swaps <share>/c1 and <share>/c1/mounts between a
 * directory and a symlink to a host directory as fast as it can. Nothing may land in the victim.
 */
static void
test_race_swap(Fixture *f, gconstpointer data)
{
	g_autofree gchar *area_path = g_build_filename(f->shared, "c1", NULL);
	Swapper area_swapper = {f->shared, "c1", f->victim, 0, 0};
	Swapper mounts_swapper = {area_path, "mounts", f->victim, 0, 0};
	g_autoptr(CocoonShare) share = NULL;
	GThread *t1, *t2;
	guint ok = 0, failed = 0;

	if (!f->usable)
		return;
	cocoon_fs_set_force_walk(GPOINTER_TO_INT(data));
	share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, NULL);
	g_assert_nonnull(share);
	t1 = g_thread_new("swap-area", swapper_run, &area_swapper);
	t2 = g_thread_new("swap-mounts", swapper_run, &mounts_swapper);
	for (guint i = 0; i < 400; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(CocoonShareArea) area = cocoon_share_area_new(share, "c1", &error);
		if (area != NULL &&
		    share_one(area, f->bundle, f->state, f->src, "\"rbind\"", &error))
			ok++;
		else
			failed++;
		g_assert_false(victim_touched(f));
	}
	g_atomic_int_set(&area_swapper.stop, 1);
	g_atomic_int_set(&mounts_swapper.stop, 1);
	g_thread_join(t1);
	g_thread_join(t2);
	cocoon_fs_set_force_walk(FALSE);
	g_test_message("%u attached, %u refused, %u + %u swaps", ok, failed, area_swapper.swaps,
		       mounts_swapper.swaps);
	g_assert_false(victim_touched(f));
	g_assert_true(file_exists(f->victim, "precious"));
}

static void
on_alarm(int sig)
{
	(void)sig;
	_exit(99);
}

/*
 * FIFO (guest): FIFOs planted where the shim makes mount points (a file and a directory one)
 * and at the area's name: the shim must fail or replace them, never block opening them.
 */
static void
test_fifo_planted(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = NULL;
	g_autoptr(CocoonShareArea) area = NULL;
	g_autofree gchar *fifo_area = g_build_filename(f->shared, "c2", NULL);
	g_autofree gchar *mounts = g_build_filename(f->shared, "c1", "mounts", NULL);
	g_autofree gchar *fifo0 = g_build_filename(mounts, "0", NULL);
	g_autofree gchar *fifo1 = g_build_filename(mounts, "1", NULL);
	g_autofree gchar *cfg = g_build_filename(f->bundle, "config.json", NULL);
	CocoonMountCopy *tree;

	if (!f->usable)
		return;
	signal(SIGALRM, on_alarm);
	alarm(10);
	share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	g_assert_no_error(error);
	g_assert_cmpint(mkfifo(fifo_area, 0600), ==, 0);
	{
		g_autoptr(CocoonShareArea) a2 = cocoon_share_area_new(share, "c2", &error);
		g_assert_no_error(error);
		g_assert_nonnull(a2);
	}
	area = cocoon_share_area_new(share, "c1", &error);
	g_assert_no_error(error);
	g_assert_cmpint(g_mkdir(mounts, 0700), ==, 0);
	g_assert_cmpint(mkfifo(fifo0, 0600), ==, 0);
	g_assert_cmpint(mkfifo(fifo1, 0600), ==, 0);
	tree = cocoon_mount_clone_path(cfg, FALSE, &error);
	g_assert_false(cocoon_share_area_attach(area, "mounts", "0", tree, FALSE, &error));
	g_test_message("file target: %s", error->message);
	g_clear_error(&error);
	tree = cocoon_mount_clone_path(f->src, FALSE, &error);
	g_assert_false(cocoon_share_area_attach(area, "mounts", "1", tree, TRUE, &error));
	g_test_message("directory target: %s", error->message);
	g_clear_error(&error);
	g_clear_pointer(&area, cocoon_share_area_free);
	alarm(0);
}

/*
 * mountinfo escaping (guest): directory names with a newline, spaces, tabs and backslashes
 * around the mounts before a shim SIGKILL; `delete` must still find and detach every mount.
 */
static void
test_mountinfo_escaping(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *area_path = g_build_filename(f->shared, "c1", NULL);
	g_autofree gchar *weird =
		g_build_filename(f->shared, "a b\n12 34 0:99 \\057 \\057etc rw\\012\t\\", NULL);
	g_autofree gchar *weird_volume = g_build_filename(weird, "mounts", "0", NULL);
	int status = 0;
	pid_t pid;

	if (!f->usable)
		return;
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		g_autoptr(CocoonShare) share =
			cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, NULL);
		CocoonShareArea *area =
			share != NULL ? cocoon_share_area_new(share, "c1", NULL) : NULL;
		CocoonMountCopy *tree = cocoon_mount_clone_path(f->victim, FALSE, NULL);
		if (area == NULL || tree == NULL ||
		    !cocoon_share_area_attach(area, "mounts", "0", tree, TRUE, NULL) ||
		    rename(area_path, weird) < 0)
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	g_assert_true(is_mount_point(weird_volume));
	g_assert_true(cocoon_unmount_below(f->pod, &error));
	g_assert_no_error(error);
	g_assert_false(is_mount_point(weird_volume));
	cocoon_remove_tree(f->pod);
	g_assert_false(g_file_test(f->pod, G_FILE_TEST_EXISTS));
	g_assert_true(file_exists(f->victim, "precious"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/sandbox/share-attacks/propagated-umount-release", Fixture, NULL,
		   fixture_set_up, test_propagated_umount_release, fixture_tear_down);
	g_test_add("/sandbox/share-attacks/propagated-umount-delete", Fixture, NULL, fixture_set_up,
		   test_propagated_umount_delete, fixture_tear_down);
	g_test_add("/sandbox/share-attacks/readonly-volume-propagated-rw", Fixture, NULL,
		   fixture_set_up, test_readonly_volume_propagated_rw, fixture_tear_down);
	g_test_add("/sandbox/share-attacks/bind-is-not-recursive", Fixture, NULL, fixture_set_up,
		   test_bind_is_not_recursive, fixture_tear_down);
	g_test_add("/sandbox/share-attacks/state-dir-noncanonical", Fixture, NULL, fixture_set_up,
		   test_state_dir_noncanonical, fixture_tear_down);
	g_test_add("/sandbox/share-attacks/unmount-below-via-symlink", Fixture, NULL,
		   fixture_set_up, test_unmount_below_via_symlink, fixture_tear_down);
	g_test_add("/sandbox/share-attacks/deep-tree-survives", Fixture, NULL, fixture_set_up,
		   test_deep_tree_survives, fixture_tear_down);
	g_test_add("/sandbox/share-attacks/race-swap/openat2", Fixture, GINT_TO_POINTER(FALSE),
		   fixture_set_up, test_race_swap, fixture_tear_down);
	g_test_add("/sandbox/share-attacks/race-swap/walk", Fixture, GINT_TO_POINTER(TRUE),
		   fixture_set_up, test_race_swap, fixture_tear_down);
	g_test_add("/sandbox/share-attacks/fifo-planted", Fixture, NULL, fixture_set_up,
		   test_fifo_planted, fixture_tear_down);
	g_test_add("/sandbox/share-attacks/mountinfo-escaping", Fixture, NULL, fixture_set_up,
		   test_mountinfo_escaping, fixture_tear_down);
	return g_test_run();
}
