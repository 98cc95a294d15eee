/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod's share as a hostile guest sees it: it can create, rename and replace anything in the
 * share (over 9p, as root). Each test plays the guest with plain file operations in the share (what
 * QEMU's 9p server does for it on the host) and checks that the host never mounts, unmounts or
 * removes anything outside the share. Runs in a private mount namespace on a tmpfs; needs root
 * (skips loudly without it). Every test runs twice: with openat2, and with the O_NOFOLLOW walk
 * that kernels without openat2 get.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
	gchar *base;	 /* a tmpfs */
	gchar *state;	 /* <base>/state: Cocoon's state_dir */
	gchar *shared;	 /* <state>/pod/shared */
	gchar *bundle;	 /* <base>/bundle, with rootfs/ (a tmpfs of its own) and config.json */
	gchar *victim;	 /* <base>/victim: a host directory the guest would like to reach */
	gchar *volume;	 /* <base>/volume: a host volume */
	gboolean walk;	 /* force the O_NOFOLLOW walk */
	gboolean usable; /* root and a private mount namespace */
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

	f->walk = GPOINTER_TO_INT(data);
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0) {
		g_test_skip("SKIP: needs root to make a private mount namespace");
		return;
	}
	f->usable = TRUE;
	cocoon_fs_set_force_walk(f->walk);
	g_assert_cmpint(mount(NULL, "/", "none", MS_REC | MS_PRIVATE, NULL), ==, 0);
	f->base = g_dir_make_tmp("cocoon-share-XXXXXX", &error);
	g_assert_no_error(error);
	g_assert_cmpint(mount("tmpfs", f->base, "tmpfs", 0, "size=4m"), ==, 0);
	f->state = g_build_filename(f->base, "state", NULL);
	f->shared = g_build_filename(f->state, "pod", "shared", NULL);
	f->bundle = g_build_filename(f->base, "bundle", NULL);
	f->victim = g_build_filename(f->base, "victim", NULL);
	f->volume = g_build_filename(f->base, "volume", NULL);
	rootfs = g_build_filename(f->bundle, "rootfs", NULL);
	g_assert_cmpint(g_mkdir_with_parents(rootfs, 0700), ==, 0);
	g_assert_cmpint(mount("tmpfs", rootfs, "tmpfs", 0, "size=1m"), ==, 0);
	write_file(rootfs, "image-file", "from the image");
	write_file(f->bundle, "config.json", "{}");
	g_assert_cmpint(g_mkdir_with_parents(f->victim, 0700), ==, 0);
	write_file(f->victim, "precious", "host data");
	g_assert_cmpint(g_mkdir_with_parents(f->volume, 0700), ==, 0);
	write_file(f->volume, "data", "volume data");
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
	cocoon_fs_set_force_walk(FALSE);
	if (!f->usable)
		return;
	g_assert_cmpint(umount2(f->base, MNT_DETACH), ==, 0);
	g_assert_cmpint(g_rmdir(f->base), ==, 0);
	g_free(f->base);
	g_free(f->state);
	g_free(f->shared);
	g_free(f->bundle);
	g_free(f->victim);
	g_free(f->volume);
}

/* the host's own view after every test: the victim is untouched and nothing is mounted on it */
static void
assert_victim_intact(Fixture *f)
{
	g_autofree gchar *rootfs = g_build_filename(f->victim, "rootfs", NULL);
	g_autofree gchar *mounts = g_build_filename(f->victim, "mounts", "0", NULL);
	g_assert_true(file_exists(f->victim, "precious"));
	g_assert_false(is_mount_point(f->victim));
	g_assert_false(is_mount_point(rootfs));
	g_assert_false(is_mount_point(mounts));
}

static CocoonShareArea *
area_with_rootfs(Fixture *f, CocoonShare *share, GError **error)
{
	g_autofree gchar *rootfs = g_build_filename(f->bundle, "rootfs", NULL);
	g_autoptr(CocoonShareArea) area = cocoon_share_area_new(share, "c1", error);
	CocoonMountCopy *tree;

	if (area == NULL)
		return NULL;
	tree = cocoon_mount_clone_path(rootfs, FALSE, error);
	if (tree == NULL || !cocoon_share_area_attach(area, NULL, "rootfs", tree, TRUE, error))
		return NULL;
	return g_steal_pointer(&area);
}

/* the guest made <share>/c1 a symlink to a host directory before the Create */
static void
test_planted_area_symlink(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = NULL;
	g_autoptr(CocoonShareArea) area = NULL;
	g_autofree gchar *link = g_build_filename(f->shared, "c1", NULL);
	g_autofree gchar *rootfs = g_build_filename(f->shared, "c1", "rootfs", NULL);

	if (!f->usable)
		return;
	share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	g_assert_no_error(error);
	g_assert_cmpint(symlink(f->victim, link), ==, 0);
	area = area_with_rootfs(f, share, &error);
	g_assert_no_error(error);
	/* the symlink went, not what it pointed to; the rootfs is in the share */
	g_assert_false(g_file_test(link, G_FILE_TEST_IS_SYMLINK));
	g_assert_true(is_mount_point(rootfs));
	g_assert_true(file_exists(rootfs, "image-file"));
	assert_victim_intact(f);
	g_clear_pointer(&area, cocoon_share_area_free);
	g_assert_false(file_exists(f->shared, "c1"));
	assert_victim_intact(f);
}

/* a symlink planted inside the area after it was made: mounts never follow it */
static void
test_planted_mounts_symlink(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	g_autoptr(CocoonShareArea) area = NULL;
	g_autofree gchar *link = g_build_filename(f->shared, "c1", "mounts", NULL);
	CocoonMountCopy *tree;

	if (!f->usable)
		return;
	area = area_with_rootfs(f, share, &error);
	g_assert_no_error(error);
	g_assert_cmpint(symlink(f->victim, link), ==, 0);
	tree = cocoon_mount_clone_path(f->volume, FALSE, &error);
	g_assert_nonnull(tree);
	g_assert_false(cocoon_share_area_attach(area, "mounts", "0", tree, TRUE, &error));
	g_assert_nonnull(error);
	g_test_message("refused: %s", error->message);
	assert_victim_intact(f);
	g_assert_cmpuint(cocoon_share_area_get_n_mounts(area), ==, 1);
	g_clear_pointer(&area, cocoon_share_area_free);
	assert_victim_intact(f);
}

/*
 * after the mounts were made the guest renames the area away and plants a symlink under its
 * name to a host directory that has a mount of its own: the release detaches our mounts where
 * they are now, never the host's mount, and removes nothing outside the share
 */
static void
test_release_after_rename(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	g_autoptr(CocoonShareArea) area = NULL;
	g_autofree gchar *area_path = g_build_filename(f->shared, "c1", NULL);
	g_autofree gchar *moved = g_build_filename(f->shared, "moved", NULL);
	g_autofree gchar *moved_rootfs = g_build_filename(moved, "rootfs", NULL);
	g_autofree gchar *moved_volume = g_build_filename(moved, "mounts", "0", NULL);
	g_autofree gchar *victim_rootfs = g_build_filename(f->victim, "rootfs", NULL);
	CocoonMountCopy *tree;

	if (!f->usable)
		return;
	area = area_with_rootfs(f, share, &error);
	g_assert_no_error(error);
	tree = cocoon_mount_clone_path(f->volume, TRUE, &error);
	g_assert_nonnull(tree);
	g_assert_true(cocoon_share_area_attach(area, "mounts", "0", tree, TRUE, &error));
	g_assert_no_error(error);
	/* the host has a mount of its own at <victim>/rootfs */
	g_assert_cmpint(g_mkdir(victim_rootfs, 0700), ==, 0);
	g_assert_cmpint(mount("tmpfs", victim_rootfs, "tmpfs", 0, "size=1m"), ==, 0);
	write_file(victim_rootfs, "in-host-mount", "x");
	/* the guest: rename the area, plant a symlink under its old name */
	g_assert_cmpint(rename(area_path, moved), ==, 0);
	g_assert_cmpint(symlink(f->victim, area_path), ==, 0);

	g_clear_pointer(&area, cocoon_share_area_free);
	/* ours are gone from where the guest moved them; the host's mount and files stay */
	g_assert_false(is_mount_point(moved_rootfs));
	g_assert_false(is_mount_point(moved_volume));
	g_assert_true(is_mount_point(victim_rootfs));
	g_assert_true(file_exists(victim_rootfs, "in-host-mount"));
	g_assert_true(file_exists(f->victim, "precious"));
	/* the symlink under the area's name went, not its target */
	g_assert_false(g_file_test(area_path, G_FILE_TEST_EXISTS | G_FILE_TEST_IS_SYMLINK));
	/* the volume's data is intact: nothing was removed through a mount */
	g_assert_true(file_exists(f->volume, "data"));
	g_assert_cmpint(umount2(victim_rootfs, MNT_DETACH), ==, 0);
}

/* a read-only volume is read-only in the share before the guest can see it */
static void
test_readonly_volume(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	g_autoptr(CocoonShareArea) area = cocoon_share_area_new(share, "c1", &error);
	g_autofree gchar *target = g_build_filename(f->shared, "c1", "mounts", "0", "probe", NULL);
	CocoonMountCopy *tree;

	if (!f->usable)
		return;
	g_assert_no_error(error);
	tree = cocoon_mount_clone_path(f->volume, TRUE, &error);
	g_assert_true(cocoon_share_area_attach(area, "mounts", "0", tree, TRUE, &error));
	g_assert_no_error(error);
	g_assert_false(g_file_set_contents(target, "x", -1, &error));
	g_assert_true(g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_ROFS));
}

/*
 * two containers of a pod that name one volume share one copy of it (one inode in the guest for
 * virtiofsd, which tells copies apart by mount id); it stays until the last of them goes; a
 * read-only use of the same source is a copy of its own
 */
static void
test_pod_volume(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	g_autoptr(CocoonShareArea) first = cocoon_share_area_new(share, "c1", &error);
	g_autoptr(CocoonShareArea) second = cocoon_share_area_new(share, "c2", &error);
	g_autofree gchar *copy = g_build_filename(f->shared, ".volumes", "0", NULL);
	g_autofree gchar *name_first = NULL;
	g_autofree gchar *name_second = NULL;
	g_autofree gchar *name_readonly = NULL;
	int source;

	if (!f->usable)
		return;
	g_assert_no_error(error);
	g_assert_null(cocoon_share_area_new(share, ".volumes", &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	source = open(f->volume, O_PATH | O_CLOEXEC);
	g_assert_cmpint(source, >=, 0);
	name_first = cocoon_share_area_attach_volume(first, source, TRUE, FALSE, &error);
	g_assert_no_error(error);
	name_second = cocoon_share_area_attach_volume(second, source, TRUE, FALSE, &error);
	g_assert_no_error(error);
	name_readonly = cocoon_share_area_attach_volume(second, source, TRUE, TRUE, &error);
	g_assert_no_error(error);
	close(source);
	g_assert_cmpstr(name_first, ==, "0");
	g_assert_cmpstr(name_second, ==, "0");
	g_assert_cmpstr(name_readonly, ==, "1");
	g_assert_true(is_mount_point(copy));
	g_assert_true(file_exists(f->shared, ".volumes/0/data"));
	g_clear_pointer(&first, cocoon_share_area_free);
	g_assert_true(file_exists(f->shared, ".volumes/0/data"));
	g_clear_pointer(&second, cocoon_share_area_free);
	g_assert_false(g_file_test(copy, G_FILE_TEST_EXISTS));
	g_assert_false(file_exists(f->shared, ".volumes/1"));
	/* nothing was removed through the mount */
	g_assert_true(file_exists(f->volume, "data"));
}

/*
 * OCI bind sources: a relative one is the bundle's (resolved on the host, the guest's crun gets
 * the share's path); a relative one through a symlink (the container's rootfs is the guest's) is
 * refused; so is one inside Cocoon's state directory
 */
static void
test_spec_sources(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, &error);
	g_autoptr(CocoonShareArea) area = cocoon_share_area_new(share, "c1", &error);
	g_autofree gchar *rootfs = g_build_filename(f->bundle, "rootfs", NULL);
	g_autofree gchar *planted = g_build_filename(rootfs, "evil", NULL);
	g_autofree gchar *json = NULL;
	g_autoptr(CocoonJson) spec = NULL;
	g_autoptr(CocoonJson) spec_link = NULL;
	g_autoptr(CocoonJson) spec_state = NULL;
	g_autofree gchar *shared_config = NULL;
	g_autofree gchar *up = NULL;
	CocoonJson *mounts;

	if (!f->usable)
		return;
	g_assert_no_error(error);
	/* ../volume from the bundle is <base>/volume, on the host */
	up = g_strdup("../volume");
	json = g_strdup_printf(
		"{\"mounts\":["
		"{\"destination\":\"/cfg\",\"type\":\"bind\",\"source\":\"config.json\","
		"\"options\":[\"rbind\",\"ro\"]},"
		"{\"destination\":\"/vol\",\"type\":\"none\",\"source\":\"%s\","
		"\"options\":[\"rbind\"]},"
		"{\"destination\":\"/abs\",\"type\":\"bind\",\"source\":\"%s\","
		"\"options\":[\"rbind\"]}]}",
		up, f->volume);
	spec = cocoon_json_parse(json, strlen(json), &error);
	g_assert_no_error(error);
	mounts = cocoon_json_object_get_array_member(spec, "mounts");
	g_assert_true(cocoon_spec_mount_is_bind(cocoon_json_array_get(mounts, 0)));
	g_assert_true(cocoon_spec_mount_is_bind(cocoon_json_array_get(mounts, 1)));
	g_assert_true(cocoon_spec_share_mounts(spec, f->bundle, area, f->state, &error));
	g_assert_no_error(error);
	/* ../volume and the absolute path of the volume are one source: one copy */
	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *expected =
			g_strdup_printf("/run/cocoon/shared/.volumes/%u", i == 0 ? 0 : 1);
		g_assert_cmpstr(cocoon_json_object_get_string_member(
					cocoon_json_array_get(mounts, i), "source"),
				==, expected);
	}
	shared_config = g_build_filename(f->shared, ".volumes", "0", NULL);
	g_assert_true(g_file_test(shared_config, G_FILE_TEST_IS_REGULAR));
	g_assert_true(is_mount_point(shared_config));
	g_assert_true(file_exists(f->shared, ".volumes/1/data"));
	g_assert_cmpuint(cocoon_share_area_get_n_mounts(area), ==, 3);

	/* the guest wrote a symlink into its rootfs; a relative source through it is refused */
	g_assert_cmpint(symlink(f->victim, planted), ==, 0);
	g_free(json);
	json = g_strdup("{\"mounts\":[{\"destination\":\"/x\",\"type\":\"bind\","
			"\"source\":\"rootfs/evil\",\"options\":[\"rbind\"]}]}");
	spec_link = cocoon_json_parse(json, strlen(json), &error);
	g_assert_false(cocoon_spec_share_mounts(spec_link, f->bundle, area, f->state, &error));
	g_assert_nonnull(strstr(error->message, "rootfs/evil"));
	g_assert_nonnull(strstr(error->message, "/x"));
	g_test_message("refused: %s", error->message);
	g_clear_error(&error);

	/* the state directory (the share) is the guest's: never a source */
	g_free(json);
	json = g_strdup_printf("{\"mounts\":[{\"destination\":\"/y\",\"type\":\"bind\","
			       "\"source\":\"%s\",\"options\":[\"rbind\"]}]}",
			       f->shared);
	spec_state = cocoon_json_parse(json, strlen(json), &error);
	g_assert_false(cocoon_spec_share_mounts(spec_state, f->bundle, area, f->state, &error));
	g_assert_nonnull(strstr(error->message, "state directory"));
	g_clear_error(&error);
	g_assert_cmpuint(cocoon_share_area_get_n_mounts(area), ==, 3);
	assert_victim_intact(f);
}

/*
 * the shim was killed: a later `delete` finds the mounts in mountinfo and detaches them, even
 * where the guest renamed things, and removes the state directory without following the symlinks
 * the guest left or removing what is below a host mount
 */
static void
test_unmount_below(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *pod = g_build_filename(f->state, "pod", NULL);
	g_autofree gchar *area_path = g_build_filename(f->shared, "c1", NULL);
	g_autofree gchar *moved = g_build_filename(f->shared, "moved", NULL);
	g_autofree gchar *moved_rootfs = g_build_filename(moved, "rootfs", NULL);
	g_autofree gchar *moved_volume = g_build_filename(moved, "mounts", "0", NULL);
	g_autofree gchar *link = g_build_filename(f->shared, "link", NULL);
	int status = 0;
	pid_t pid;

	if (!f->usable)
		return;
	/* the shim: mounts a rootfs and a volume, the guest moves them, then SIGKILL */
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		g_autoptr(CocoonShare) share =
			cocoon_share_new(f->shared, COCOON_SHARE_PRIVATE, NULL);
		CocoonShareArea *area = share != NULL ? area_with_rootfs(f, share, NULL) : NULL;
		CocoonMountCopy *tree = cocoon_mount_clone_path(f->volume, FALSE, NULL);
		if (area == NULL || tree == NULL ||
		    !cocoon_share_area_attach(area, "mounts", "0", tree, TRUE, NULL) ||
		    rename(area_path, moved) < 0 || symlink(f->victim, link) < 0)
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	g_assert_true(is_mount_point(moved_rootfs));
	g_assert_true(is_mount_point(moved_volume));

	/* `delete`: every mount below the pod's state directory goes, then the directory */
	g_assert_true(cocoon_unmount_below(pod, &error));
	g_assert_no_error(error);
	g_assert_false(is_mount_point(moved_rootfs));
	g_assert_false(is_mount_point(moved_volume));
	cocoon_remove_tree(pod);
	g_assert_false(g_file_test(pod, G_FILE_TEST_EXISTS));
	g_assert_true(file_exists(f->volume, "data"));
	assert_victim_intact(f);
}

/* removal never descends below a mount: a volume still mounted keeps its data */
static void
test_remove_keeps_mounted(Fixture *f, gconstpointer data)
{
	g_autofree gchar *dir = g_build_filename(f->base, "tree", NULL);
	g_autofree gchar *point = g_build_filename(dir, "point", NULL);
	g_autofree gchar *link = g_build_filename(dir, "link", NULL);

	if (!f->usable)
		return;
	g_assert_cmpint(g_mkdir_with_parents(point, 0700), ==, 0);
	g_assert_cmpint(mount(f->volume, point, "none", MS_BIND, NULL), ==, 0);
	g_assert_cmpint(symlink(f->victim, link), ==, 0);
	cocoon_remove_tree(dir);
	g_assert_true(file_exists(f->volume, "data"));
	g_assert_true(file_exists(point, "data"));
	assert_victim_intact(f);
	g_assert_cmpint(umount2(point, MNT_DETACH), ==, 0);
	cocoon_remove_tree(dir);
	g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
}

/* the optional fields of the mount at path in our mountinfo ("shared:12 master:3"), "" for none */
static gchar *
propagation_of(const gchar *path)
{
	g_autofree gchar *mountinfo = NULL;
	g_auto(GStrv) lines = NULL;
	gchar *found = NULL;

	g_assert_true(g_file_get_contents("/proc/self/mountinfo", &mountinfo, NULL, NULL));
	lines = g_strsplit(mountinfo, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = g_strsplit(lines[i], " ", -1);
		g_autoptr(GString) optional = g_string_new(NULL);
		if (g_strv_length(fields) < 7 || !g_str_equal(fields[4], path))
			continue;
		for (guint j = 6; fields[j] != NULL && !g_str_equal(fields[j], "-"); j++)
			g_string_append_printf(optional, "%s%s", optional->len ? " " : "",
					       fields[j]);
		g_free(found);
		found = g_string_free(g_steal_pointer(&optional), FALSE);
	}
	return found != NULL ? found : g_strdup("");
}

/*
 * plays virtiofsd (-o sandbox=namespace): a mount namespace of its own with "/" made a slave,
 * started before the container's mounts; answers whether it sees the rootfs and the volume
 * attached afterwards, and nothing of the host's later mount below the volume's source
 */
/* valgrind 3.19 (Debian 12) answers fsopen(2) and open_tree(2) with ENOSYS, like Linux < 5.2 */
static gboolean
new_mount_api_missing(void)
{
	int fd = (int)syscall(SYS_fsopen, "tmpfs", 0);

	if (fd >= 0) {
		close(fd);
		return FALSE;
	}
	return errno == ENOSYS;
}

static void
check_virtiofsd_view(Fixture *f, CocoonSharePropagation propagation, gboolean expect_visible)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonShare) share = cocoon_share_new(f->shared, propagation, &error);
	g_autoptr(CocoonShareArea) area = NULL;
	g_autofree gchar *host_sub = g_build_filename(f->volume, "host-later", NULL);
	g_autofree gchar *self_propagation = NULL;
	g_autofree gchar *parent_propagation = NULL;
	int ready[2];
	int go[2];
	pid_t child;
	int status = 0;
	char byte = 0;
	CocoonMountCopy *tree;

	/*
	 * without open_tree the copies would be peers of their sources for a moment: refused, in
	 * the forced walk and where the kernel (or valgrind) has no new mount API
	 */
	if ((f->walk || new_mount_api_missing()) && propagation == COCOON_SHARE_PEER_GROUP) {
		g_assert_null(share);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
		return;
	}
	g_assert_no_error(error);
	/* the share is a peer of nothing: its group (if any) is its own */
	self_propagation = propagation_of(f->shared);
	parent_propagation = propagation_of(f->base);
	if (propagation == COCOON_SHARE_PEER_GROUP)
		g_assert_true(g_str_has_prefix(self_propagation, "shared:"));
	else
		g_assert_cmpstr(self_propagation, ==, "");
	g_assert_null(strstr(self_propagation, "master:"));
	if (parent_propagation[0] != '\0')
		g_assert_cmpstr(self_propagation, !=, parent_propagation);

	g_assert_cmpint(pipe(ready), ==, 0);
	g_assert_cmpint(pipe(go), ==, 0);
	child = fork();
	g_assert_cmpint(child, >=, 0);
	if (child == 0) {
		g_autofree gchar *image =
			g_build_filename(f->shared, "c1", "rootfs", "image-file", NULL);
		g_autofree gchar *data =
			g_build_filename(f->shared, "c1", "mounts", "0", "data", NULL);
		g_autofree gchar *later =
			g_build_filename(f->shared, "c1", "mounts", "0", "host-later", "x", NULL);
		/* a parent that fails ends the wait: EOF */
		close(go[1]);
		close(ready[0]);
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", "none", MS_REC | MS_SLAVE, NULL) < 0 ||
		    write(ready[1], "r", 1) != 1 || read(go[0], &byte, 1) != 1)
			_exit(3);
		/*
		 * the look is a shell's: a forked child that exits is leak-checked by valgrind,
		 * and the parent's strings it holds look lost there; an exec'd one is not
		 */
		execl("/bin/sh", "sh", "-c",
		      "[ -e \"$3\" ] && exit 4; [ -e \"$1\" ] && [ -e \"$2\" ] && exit 0; exit 1",
		      "sh", image, data, later, (char *)NULL);
		_exit(5);
	}
	g_assert_cmpint(read(ready[0], &byte, 1), ==, 1);
	/* the container's mounts, attached after "virtiofsd" made its namespace */
	area = area_with_rootfs(f, share, &error);
	g_assert_no_error(error);
	tree = cocoon_mount_clone_path(f->volume, FALSE, &error);
	g_assert_true(cocoon_share_area_attach(area, "mounts", "0", tree, TRUE, &error));
	g_assert_no_error(error);
	/* the host mounts below the volume's source afterwards: not for the share, nor for it */
	g_assert_cmpint(g_mkdir(host_sub, 0700), ==, 0);
	g_assert_cmpint(mount("tmpfs", host_sub, "tmpfs", 0, "size=1m"), ==, 0);
	write_file(host_sub, "x", "host only");
	{
		g_autofree gchar *copy_later =
			g_build_filename(f->shared, "c1", "mounts", "0", "host-later", NULL);
		g_assert_false(file_exists(copy_later, "x"));
	}
	g_assert_cmpint(write(go[1], "g", 1), ==, 1);
	g_assert_cmpint(waitpid(child, &status, 0), ==, child);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, expect_visible ? 0 : 1);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	g_assert_cmpint(umount2(host_sub, MNT_DETACH), ==, 0);
	g_assert_cmpint(g_rmdir(host_sub), ==, 0);
	assert_victim_intact(f);
}

/* virtio-fs: what the shim attaches after virtiofsd started reaches virtiofsd's namespace */
static void
test_peer_group_virtiofsd(Fixture *f, gconstpointer data)
{
	if (!f->usable)
		return;
	check_virtiofsd_view(f, COCOON_SHARE_PEER_GROUP, TRUE);
}

/* 9p: the share stays private, a namespace made before the mounts never sees them */
static void
test_private_share(Fixture *f, gconstpointer data)
{
	if (!f->usable)
		return;
	check_virtiofsd_view(f, COCOON_SHARE_PRIVATE, FALSE);
}

/*
 * the state directory on a file system with shared propagation (systemd's "/"): attaching the
 * share there makes it shared with the parent's peers, so its propagation is set after the attach
 */
static void
test_shared_parent(Fixture *f, gconstpointer data)
{
	if (!f->usable)
		return;
	g_assert_cmpint(mount(NULL, f->base, "none", MS_SHARED, NULL), ==, 0);
	check_virtiofsd_view(f, COCOON_SHARE_PEER_GROUP, TRUE);
	check_virtiofsd_view(f, COCOON_SHARE_PRIVATE, FALSE);
}

static void
add(const gchar *name, void (*func)(Fixture *, gconstpointer))
{
	g_autofree gchar *openat2 = g_strdup_printf("/sandbox/share/openat2/%s", name);
	g_autofree gchar *walk = g_strdup_printf("/sandbox/share/walk/%s", name);
	g_test_add(openat2, Fixture, GINT_TO_POINTER(FALSE), fixture_set_up, func,
		   fixture_tear_down);
	g_test_add(walk, Fixture, GINT_TO_POINTER(TRUE), fixture_set_up, func, fixture_tear_down);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	add("planted-area-symlink", test_planted_area_symlink);
	add("planted-mounts-symlink", test_planted_mounts_symlink);
	add("release-after-rename", test_release_after_rename);
	add("readonly-volume", test_readonly_volume);
	add("pod-volume", test_pod_volume);
	add("spec-sources", test_spec_sources);
	add("unmount-below", test_unmount_below);
	add("remove-keeps-mounted", test_remove_keeps_mounted);
	add("peer-group-virtiofsd", test_peer_group_virtiofsd);
	add("private-share", test_private_share);
	add("shared-parent", test_shared_parent);
	return g_test_run();
}
