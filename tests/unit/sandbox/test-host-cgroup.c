/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <glib/gstdio.h>
#include <gio/gio.h>

#include "cocoon-fs.h"
#include "cocoon-host-cgroup.h"

static void
test_resolve_path(void)
{
	const gchar *good[][2] = {
		{"/kubepods/besteffort/pod1/c1", "/kubepods/besteffort/pod1/c1"},
		{"/default//c1/", "/default/c1"},
		{"kubepods-burstable-pod1.slice:cri-containerd:c1",
		 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/"
		 "cri-containerd-c1.scope"},
		{"system.slice:docker:abc", "/system.slice/docker-abc.scope"},
		{"-.slice:cri:x", "/cri-x.scope"},
		{":cri:x", "/system.slice/cri-x.scope"},
	};
	const gchar *bad[] = {"",
			      "relative/path",
			      "/a/../b",
			      "/./a",
			      "/",
			      "a:b",
			      "kube--pods.slice:p:n",
			      "kubepods.scope:p:n",
			      "a.slice:p:",
			      "a:b:c:d",
			      "x/y.slice:p:n"};

	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *path = cocoon_host_cgroup_resolve_path(good[i][0], &error);
		g_assert_no_error(error);
		g_assert_cmpstr(path, ==, good[i][1]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *path = cocoon_host_cgroup_resolve_path(bad[i], &error);
		g_test_message("%s: %s", bad[i], error != NULL ? error->message : "accepted");
		g_assert_null(path);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	}
}

static void
set_file(const gchar *dir, const gchar *name, const gchar *contents)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);

	g_assert_true(g_file_set_contents(path, contents, -1, NULL));
}

/* two fake hierarchies: a v1 cpuset (its root has cpus and mems) and a v2 one */
static void
test_join_and_remove(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *root = g_dir_make_tmp("cocoon-cgroup-XXXXXX", &error);
	g_autofree gchar *cpuset = g_build_filename(root, "cpuset", NULL);
	g_autofree gchar *unified = g_build_filename(root, "unified", NULL);
	g_autofree gchar *existing = g_build_filename(cpuset, "kubepods", NULL);
	const gchar *hierarchies[] = {cpuset, unified, NULL};
	g_autoptr(CocoonHostCgroup) cgroup = NULL;
	g_autofree gchar *contents = NULL;
	g_autofree gchar *procs = NULL;
	g_autofree gchar *cpus = NULL;

	g_assert_no_error(error);
	g_assert_cmpint(g_mkdir(cpuset, 0755), ==, 0);
	g_assert_cmpint(g_mkdir(unified, 0755), ==, 0);
	g_assert_cmpint(g_mkdir(existing, 0755), ==, 0);
	set_file(existing, "cpuset.cpus", "0-1\n");
	set_file(existing, "cpuset.mems", "0\n");
	set_file(unified, "cgroup.controllers", "cpu memory\n");

	cgroup = cocoon_host_cgroup_new(hierarchies, "/kubepods/pod1/sb1", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(cocoon_host_cgroup_get_path(cgroup), ==, "/kubepods/pod1/sb1");
	/* a new v1 cpuset level takes its parent's cpus */
	cpus = g_build_filename(cpuset, "kubepods", "pod1", "cpuset.cpus", NULL);
	g_assert_true(g_file_get_contents(cpus, &contents, NULL, NULL));
	g_assert_cmpstr(contents, ==, "0-1\n");
	g_clear_pointer(&contents, g_free);

	/* the kernel makes cgroup.procs in every new cgroup */
	for (guint i = 0; hierarchies[i] != NULL; i++) {
		procs = g_build_filename(hierarchies[i], "kubepods", "pod1", "sb1", "cgroup.procs",
					 NULL);
		g_assert_true(g_file_set_contents(procs, "", 0, NULL));
		g_clear_pointer(&procs, g_free);
	}
	g_assert_true(cocoon_host_cgroup_add_process(cgroup, 4242, &error));
	g_assert_no_error(error);
	for (guint i = 0; hierarchies[i] != NULL; i++) {
		procs = g_build_filename(hierarchies[i], "kubepods", "pod1", "sb1", "cgroup.procs",
					 NULL);
		g_assert_true(g_file_get_contents(procs, &contents, NULL, NULL));
		g_assert_cmpstr(contents, ==, "4242\n");
		g_clear_pointer(&contents, g_free);
		g_clear_pointer(&procs, g_free);
	}

	/* real cgroup directories hold only kernel files; emulate their removal */
	for (guint i = 0; hierarchies[i] != NULL; i++) {
		g_autofree gchar *leaf = g_build_filename(hierarchies[i], "kubepods", "pod1", "sb1",
							  "cgroup.procs", NULL);
		g_autofree gchar *mid_cpus =
			g_build_filename(hierarchies[i], "kubepods", "pod1", "cpuset.cpus", NULL);
		g_autofree gchar *mid_mems =
			g_build_filename(hierarchies[i], "kubepods", "pod1", "cpuset.mems", NULL);
		g_autofree gchar *leaf_cpus = g_build_filename(hierarchies[i], "kubepods", "pod1",
							       "sb1", "cpuset.cpus", NULL);
		g_autofree gchar *leaf_mems = g_build_filename(hierarchies[i], "kubepods", "pod1",
							       "sb1", "cpuset.mems", NULL);
		(void)g_unlink(leaf);
		(void)g_unlink(mid_cpus);
		(void)g_unlink(mid_mems);
		(void)g_unlink(leaf_cpus);
		(void)g_unlink(leaf_mems);
	}
	g_clear_pointer(&cgroup, cocoon_host_cgroup_free);
	/* what it made is gone, what was there stays */
	g_assert_true(g_file_test(existing, G_FILE_TEST_IS_DIR));
	procs = g_build_filename(cpuset, "kubepods", "pod1", NULL);
	g_assert_false(g_file_test(procs, G_FILE_TEST_EXISTS));
	g_clear_pointer(&procs, g_free);
	procs = g_build_filename(unified, "kubepods", NULL);
	g_assert_false(g_file_test(procs, G_FILE_TEST_EXISTS));
	cocoon_remove_tree(root);
}

static void
test_hierarchies(void)
{
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) hierarchies = cocoon_host_cgroup_hierarchies(&error);

	if (hierarchies == NULL) {
		g_test_skip(error->message);
		return;
	}
	for (guint i = 0; hierarchies[i] != NULL; i++) {
		g_autofree gchar *procs = g_build_filename(hierarchies[i], "cgroup.procs", NULL);
		g_test_message("hierarchy %s", hierarchies[i]);
		g_assert_true(g_file_test(procs, G_FILE_TEST_EXISTS));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/host-cgroup/resolve-path", test_resolve_path);
	g_test_add_func("/host-cgroup/join-and-remove", test_join_and_remove);
	g_test_add_func("/host-cgroup/hierarchies", test_hierarchies);
	return g_test_run();
}
