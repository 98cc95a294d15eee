/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-guest-cgroup.h"
#include "cocoon-guest-reaper.h"
#include "cocoon-guest-spec.h"
#include "cocoon-json.h"

/* a containerd-like spec of a pod member: host namespace paths, hooks, a systemd cgroup */
static const gchar *pod_spec =
	"{\"ociVersion\":\"1.0.2\","
	"\"process\":{\"terminal\":true,\"args\":[\"sh\"],\"cwd\":\"/\","
	"\"apparmorProfile\":\"cri-containerd.apparmor.d\",\"selinuxLabel\":\"x\"},"
	"\"root\":{\"path\":\"/run/containerd/io.containerd.runtime.v2.task/k8s.io/c1/rootfs\","
	"\"readonly\":true},"
	"\"hostname\":\"pod-1\","
	"\"hooks\":{\"createRuntime\":[{\"path\":\"/usr/bin/nvidia\"}]},"
	"\"linux\":{\"namespaces\":["
	"{\"type\":\"pid\"},"
	"{\"type\":\"ipc\",\"path\":\"/proc/42/ns/ipc\"},"
	"{\"type\":\"uts\",\"path\":\"/proc/42/ns/uts\"},"
	"{\"type\":\"mount\"},"
	"{\"type\":\"network\",\"path\":\"/var/run/netns/cni-1\"}],"
	"\"cgroupsPath\":\"kubepods-besteffort-pod1.slice:cri-containerd:c1\","
	"\"mountLabel\":\"y\","
	"\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}}}";

static CocoonJson *
parse(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	CocoonJson *json = cocoon_json_parse(text, strlen(text), &error);

	g_assert_no_error(error);
	return json;
}

static void
test_patch_pod_member(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonGuestSpec) spec =
		cocoon_guest_spec_patch(pod_spec, strlen(pod_spec), "c1",
					"/run/cocoon/shared/c1/rootfs", FALSE, NULL, NULL, &error);
	g_autoptr(CocoonJson) root = NULL;
	CocoonJson *namespaces;
	g_autoptr(GPtrArray) types = g_ptr_array_new();

	g_assert_no_error(error);
	root = parse(spec->config_json);
	g_assert_cmpstr(
		cocoon_json_object_get_string_member(cocoon_json_object_get(root, "root"), "path"),
		==, "/run/cocoon/shared/c1/rootfs");
	/* other root members are kept */
	g_assert_true(cocoon_json_object_get_boolean_member(cocoon_json_object_get(root, "root"),
							    "readonly", FALSE));
	g_assert_false(cocoon_json_object_get_boolean_member(
		cocoon_json_object_get(root, "process"), "terminal", TRUE));
	g_assert_false(
		cocoon_json_object_has(cocoon_json_object_get(root, "process"), "apparmorProfile"));
	g_assert_false(
		cocoon_json_object_has(cocoon_json_object_get(root, "process"), "selinuxLabel"));
	g_assert_false(cocoon_json_object_has(root, "hooks"));
	g_assert_false(cocoon_json_object_has(cocoon_json_object_get(root, "linux"), "mountLabel"));

	/* joined host namespaces are gone (shared guest-wide), new ones kept */
	namespaces = cocoon_json_path_get(root, "linux", "namespaces", NULL);
	g_assert_cmpuint(cocoon_json_array_get_length(namespaces), ==, 2);
	for (guint i = 0; i < cocoon_json_array_get_length(namespaces); i++) {
		CocoonJson *entry = cocoon_json_array_get(namespaces, i);
		g_assert_false(cocoon_json_object_has(entry, "path"));
		g_ptr_array_add(types,
				(gpointer)cocoon_json_object_get_string_member(entry, "type"));
	}
	g_assert_cmpstr(g_ptr_array_index(types, 0), ==, "pid");
	g_assert_cmpstr(g_ptr_array_index(types, 1), ==, "mount");

	/* the uts namespace is the guest's: the hostname moves there */
	g_assert_false(cocoon_json_object_has(root, "hostname"));
	g_assert_cmpstr(spec->guest_hostname, ==, "pod-1");

	/* a systemd cgroup path means nothing in the guest */
	g_assert_cmpstr(spec->cgroups_path, ==, "/cocoon/c1");
	g_assert_cmpstr(cocoon_json_object_get_string_member(cocoon_json_object_get(root, "linux"),
							     "cgroupsPath"),
			==, "/cocoon/c1");
	/* resources stay */
	g_assert_nonnull(cocoon_json_path_get(root, "linux", "resources", NULL));
}

/* the CRI's specs of a pod: its sandbox (pause) container sb1 and an app container of it */
static const gchar *cri_sandbox_spec =
	"{\"process\":{\"args\":[\"/pause\"]},\"hostname\":\"pod-1\","
	"\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandbox\","
	"\"io.kubernetes.cri.sandbox-id\":\"sb1\"},"
	"\"mounts\":[{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]}],"
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},"
	"{\"type\":\"mount\"},{\"type\":\"network\",\"path\":\"/var/run/netns/cni-1\"}]}}";
static const gchar *cri_app_spec =
	"{\"process\":{\"args\":[\"sh\"]},"
	"\"annotations\":{\"io.kubernetes.cri.container-type\":\"container\","
	"\"io.kubernetes.cri.sandbox-id\":\"sb1\"},"
	"\"mounts\":[{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]}],"
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\",\"path\":\"/proc/4242/ns/pid\"},"
	"{\"type\":\"ipc\",\"path\":\"/proc/4242/ns/ipc\"},"
	"{\"type\":\"uts\",\"path\":\"/proc/4242/ns/uts\"},{\"type\":\"mount\"},"
	"{\"type\":\"network\",\"path\":\"/var/run/netns/cni-1\"}]}}";

/* the agent's side: sb1 runs as guest pid 77 with its /dev/shm mounted */
static gboolean
pod_lookup(const gchar *sandbox_id, CocoonGuestPod *ret_pod, gpointer user_data)
{
	guint *calls = user_data;

	(*calls)++;
	if (g_strcmp0(sandbox_id, "sb1") != 0)
		return FALSE;
	ret_pod->sandbox_pid = 77;
	ret_pod->shm_dir = COCOON_GUEST_POD_DIR "/sb1/shm";
	return TRUE;
}

/* the mount at destination of a patched spec */
static CocoonJson *
find_mount(CocoonJson *root, const gchar *destination)
{
	CocoonJson *mounts = cocoon_json_object_get(root, "mounts");

	for (guint i = 0; i < cocoon_json_array_get_length(mounts); i++) {
		CocoonJson *mount = cocoon_json_array_get(mounts, i);
		if (g_strcmp0(cocoon_json_object_get_string_member(mount, "destination"),
			      destination) == 0)
			return mount;
	}
	return NULL;
}

static void
test_patch_cri_sandbox(void)
{
	g_autoptr(GError) error = NULL;
	guint calls = 0;
	g_autoptr(CocoonGuestSpec) spec =
		cocoon_guest_spec_patch(cri_sandbox_spec, strlen(cri_sandbox_spec), "sb1", "/r",
					FALSE, pod_lookup, &calls, &error);
	g_autoptr(CocoonJson) root = NULL;
	CocoonJson *shm;

	g_assert_no_error(error);
	/* the sandbox does not look itself up: it makes the pod's namespaces and /dev/shm */
	g_assert_cmpuint(calls, ==, 0);
	g_assert_cmpstr(spec->pod_shm_dir, ==, COCOON_GUEST_POD_DIR "/sb1/shm");
	g_assert_cmpstr(spec->pod_shm_options, ==, "mode=1777,size=65536k");
	root = parse(spec->config_json);
	shm = find_mount(root, "/dev/shm");
	g_assert_cmpstr(cocoon_json_object_get_string_member(shm, "type"), ==, "bind");
	g_assert_cmpstr(cocoon_json_object_get_string_member(shm, "source"), ==,
			COCOON_GUEST_POD_DIR "/sb1/shm");
	/* its own uts namespace keeps the pod's hostname */
	g_assert_cmpstr(cocoon_json_object_get_string_member(root, "hostname"), ==, "pod-1");
	g_assert_cmpstr(spec->guest_hostname, ==, "pod-1");
}

static void
test_patch_cri_app(void)
{
	g_autoptr(GError) error = NULL;
	guint calls = 0;
	g_autoptr(CocoonGuestSpec) spec =
		cocoon_guest_spec_patch(cri_app_spec, strlen(cri_app_spec), "app1", "/r", FALSE,
					pod_lookup, &calls, &error);
	g_autoptr(CocoonGuestSpec) alone = NULL;
	g_autoptr(CocoonJson) root = NULL;
	CocoonJson *namespaces;
	CocoonJson *shm;
	const gchar *expected[][2] = {{"pid", "/proc/77/ns/pid"},
				      {"ipc", "/proc/77/ns/ipc"},
				      {"uts", "/proc/77/ns/uts"},
				      {"mount", NULL}};

	g_assert_no_error(error);
	g_assert_cmpuint(calls, ==, 1);
	g_assert_null(spec->pod_shm_dir);
	g_assert_null(spec->guest_hostname);
	root = parse(spec->config_json);
	/* the host's paths to the pause container become the guest's */
	namespaces = cocoon_json_path_get(root, "linux", "namespaces", NULL);
	g_assert_cmpuint(cocoon_json_array_get_length(namespaces), ==, G_N_ELEMENTS(expected));
	for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
		CocoonJson *entry = cocoon_json_array_get(namespaces, i);
		g_assert_cmpstr(cocoon_json_object_get_string_member(entry, "type"), ==,
				expected[i][0]);
		g_assert_cmpstr(cocoon_json_object_get_string_member(entry, "path"), ==,
				expected[i][1]);
	}
	shm = find_mount(root, "/dev/shm");
	g_assert_cmpstr(cocoon_json_object_get_string_member(shm, "type"), ==, "bind");
	g_assert_cmpstr(cocoon_json_object_get_string_member(shm, "source"), ==,
			COCOON_GUEST_POD_DIR "/sb1/shm");

	/* a sandbox the guest does not run: the host paths go, /dev/shm stays the container's */
	alone = cocoon_guest_spec_patch(cri_app_spec, strlen(cri_app_spec), "app1", "/r", FALSE,
					NULL, NULL, &error);
	g_assert_no_error(error);
	g_clear_pointer(&root, cocoon_json_free);
	root = parse(alone->config_json);
	namespaces = cocoon_json_path_get(root, "linux", "namespaces", NULL);
	g_assert_cmpuint(cocoon_json_array_get_length(namespaces), ==, 1);
	for (guint i = 0; i < cocoon_json_array_get_length(namespaces); i++)
		g_assert_false(
			cocoon_json_object_has(cocoon_json_array_get(namespaces, i), "path"));
	g_assert_cmpstr(cocoon_json_object_get_string_member(find_mount(root, "/dev/shm"), "type"),
			==, "tmpfs");
}

static void
test_patch_private_uts(void)
{
	const gchar *text = "{\"process\":{\"args\":[\"sh\"]},\"hostname\":\"h\",\"linux\":{"
			    "\"namespaces\":[{\"type\":\"uts\"},{\"type\":\"mount\","
			    "\"path\":\"/proc/1/ns/mnt\"}],\"cgroupsPath\":\"/default/c2\"}}";
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonGuestSpec) spec =
		cocoon_guest_spec_patch(text, strlen(text), "c2", "/r", TRUE, NULL, NULL, &error);
	g_autoptr(CocoonJson) root = NULL;
	CocoonJson *namespaces;

	g_assert_no_error(error);
	root = parse(spec->config_json);
	g_assert_cmpstr(cocoon_json_object_get_string_member(root, "hostname"), ==, "h");
	g_assert_null(spec->guest_hostname);
	g_assert_cmpstr(spec->cgroups_path, ==, "/default/c2");
	g_assert_true(cocoon_json_object_get_boolean_member(cocoon_json_object_get(root, "process"),
							    "terminal", FALSE));
	/* the mount namespace is kept, without the host path */
	namespaces = cocoon_json_path_get(root, "linux", "namespaces", NULL);
	g_assert_cmpuint(cocoon_json_array_get_length(namespaces), ==, 2);
	g_assert_false(cocoon_json_object_has(cocoon_json_array_get(namespaces, 1), "path"));
	g_assert_cmpstr(cocoon_json_path_get(root, "root", NULL) != NULL
				? cocoon_json_object_get_string_member(
					  cocoon_json_object_get(root, "root"), "path")
				: NULL,
			==, "/r");
}

/* the bind sources the agent walks first (virtio-fs submounts mounted once, in its namespace) */
static void
test_patch_bind_sources(void)
{
	const gchar *text =
		"{\"process\":{\"args\":[\"sh\"]},\"mounts\":["
		"{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
		"{\"destination\":\"/a\",\"type\":\"bind\",\"source\":\"/run/s/.volumes/0\"},"
		"{\"destination\":\"/b\",\"type\":\"none\",\"source\":\"/run/s/.volumes/1\","
		"\"options\":[\"rbind\",\"ro\"]},"
		"{\"destination\":\"/c\",\"type\":\"none\",\"source\":\"relative\","
		"\"options\":[\"bind\"]},"
		"{\"destination\":\"/d\",\"type\":\"tmpfs\",\"source\":\"/tmp\"}]}";
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonGuestSpec) spec =
		cocoon_guest_spec_patch(text, strlen(text), "c3", "/r", FALSE, NULL, NULL, &error);

	g_assert_no_error(error);
	g_assert_cmpuint(spec->bind_sources->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(spec->bind_sources, 0), ==, "/run/s/.volumes/0");
	g_assert_cmpstr(g_ptr_array_index(spec->bind_sources, 1), ==, "/run/s/.volumes/1");
}

static void
test_patch_pod_sandbox_hostname(void)
{
	const gchar *text = "{\"process\":{\"args\":[\"/pause\"]},\"hostname\":\"pod-1\","
			    "\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandbox\"},"
			    "\"linux\":{\"namespaces\":[{\"type\":\"uts\"},{\"type\":\"mount\"}]}}";
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonGuestSpec) spec =
		cocoon_guest_spec_patch(text, strlen(text), "p1", "/r", FALSE, NULL, NULL, &error);
	g_autoptr(CocoonJson) root = NULL;

	g_assert_no_error(error);
	root = parse(spec->config_json);
	/* its own uts namespace keeps the name, and the guest's gets it for the pod's containers */
	g_assert_cmpstr(cocoon_json_object_get_string_member(root, "hostname"), ==, "pod-1");
	g_assert_cmpstr(spec->guest_hostname, ==, "pod-1");
}

static void
test_patch_invalid(void)
{
	const gchar *const bad[] = {
		"",
		"[]",
		"{nope",
		"{\"root\":{}}",
		"{\"process\":{},\"linux\":{\"namespaces\":{}}}",
		"{\"process\":{},\"linux\":{\"namespaces\":[{\"path\":\"/x\"}]}}",
		"{\"process\":{},\"linux\":[]}",
		NULL,
	};

	for (guint i = 0; bad[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(CocoonGuestSpec) spec = cocoon_guest_spec_patch(
			bad[i], strlen(bad[i]), "c", "/r", FALSE, NULL, NULL, &error);
		g_assert_null(spec);
		g_assert_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID);
	}
}

static void
test_process_patch(void)
{
	const gchar *text = "{\"terminal\":false,\"args\":[\"sh\"],\"apparmorProfile\":\"p\"}";
	g_autoptr(GError) error = NULL;
	g_autofree gchar *patched = cocoon_guest_process_patch(text, strlen(text), TRUE, &error);
	g_autoptr(CocoonJson) root = NULL;
	g_autofree gchar *empty = NULL;

	g_assert_no_error(error);
	root = parse(patched);
	g_assert_true(cocoon_json_object_get_boolean_member(root, "terminal", FALSE));
	g_assert_false(cocoon_json_object_has(root, "apparmorProfile"));

	empty = cocoon_guest_process_patch("{\"args\":[]}", 11, FALSE, &error);
	g_assert_null(empty);
	g_assert_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID);
}

static void
test_cgroups_path(void)
{
	g_assert_true(cocoon_guest_cgroups_path_is_valid("/cocoon/c1"));
	g_assert_true(cocoon_guest_cgroups_path_is_valid("/kubepods/besteffort/pod1/c1"));
	g_assert_false(cocoon_guest_cgroups_path_is_valid(NULL));
	g_assert_false(cocoon_guest_cgroups_path_is_valid(""));
	g_assert_false(cocoon_guest_cgroups_path_is_valid("/"));
	g_assert_false(cocoon_guest_cgroups_path_is_valid("relative/c1"));
	g_assert_false(cocoon_guest_cgroups_path_is_valid("system.slice:cri:c1"));
	g_assert_false(cocoon_guest_cgroups_path_is_valid("/a/../b"));
	g_assert_false(cocoon_guest_cgroups_path_is_valid("/a//b"));
}

static void
test_ids(void)
{
	const gchar *const good[] = {"c1", "a", "0123456789abcdef", "my_container.v2-x", NULL};
	const gchar *const bad[] = {"",	   ".",	  "..",	  "-x", ".hidden",
				    "a/b", "a b", "a\nb", "é",	NULL};
	g_autofree gchar *long_id = g_strnfill(COCOON_GUEST_ID_MAX + 1, 'a');
	g_autofree gchar *max_id = g_strnfill(COCOON_GUEST_ID_MAX, 'a');
	g_autoptr(GError) error = NULL;

	for (guint i = 0; good[i] != NULL; i++)
		g_assert_true(cocoon_guest_validate_id("id", good[i], NULL));
	for (guint i = 0; bad[i] != NULL; i++)
		g_assert_false(cocoon_guest_validate_id("id", bad[i], NULL));
	g_assert_false(cocoon_guest_validate_id("id", NULL, NULL));
	g_assert_true(cocoon_guest_validate_id("id", max_id, NULL));
	g_assert_false(cocoon_guest_validate_id("exec id", long_id, &error));
	g_assert_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "exec id"));
}

static void
test_rootfs(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *tmp = g_dir_make_tmp("cocoon-rootfs-XXXXXX", &error);
	g_autofree gchar *share = g_build_filename(tmp, "share", NULL);
	g_autofree gchar *rootfs = g_build_filename(share, "c1", "rootfs", NULL);
	g_autofree gchar *outside = g_build_filename(tmp, "outside", NULL);
	g_autofree gchar *escape = g_build_filename(share, "escape", NULL);
	g_autofree gchar *inner = g_build_filename(share, "inner", NULL);
	g_autofree gchar *file = g_build_filename(share, "file", NULL);
	g_autofree gchar *resolved = NULL;
	const gchar *const bad[] = {
		"",	      "/etc",	"../outside", "c1/../../outside", "c1/./rootfs",
		"c1//rootfs", "escape", "escape/x",   "missing",	  "file",
		".",	      NULL};

	g_assert_no_error(error);
	g_assert_cmpint(g_mkdir_with_parents(rootfs, 0755), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(outside, 0755), ==, 0);
	g_assert_cmpint(symlink(outside, escape), ==, 0);
	g_assert_cmpint(symlink("c1/rootfs", inner), ==, 0);
	g_assert_true(g_file_set_contents(file, "x", 1, NULL));

	resolved = cocoon_guest_resolve_rootfs(share, "c1/rootfs", &error);
	g_assert_no_error(error);
	g_assert_true(g_str_has_suffix(resolved, "/share/c1/rootfs"));
	g_clear_pointer(&resolved, g_free);
	resolved = cocoon_guest_resolve_rootfs(share, "c1/rootfs/", &error);
	g_assert_no_error(error);
	g_clear_pointer(&resolved, g_free);
	/* a symlink that stays inside is fine */
	resolved = cocoon_guest_resolve_rootfs(share, "inner", &error);
	g_assert_no_error(error);
	g_assert_true(g_str_has_suffix(resolved, "/share/c1/rootfs"));
	g_clear_pointer(&resolved, g_free);

	for (guint i = 0; bad[i] != NULL; i++) {
		g_autoptr(GError) local = NULL;
		g_autofree gchar *path = cocoon_guest_resolve_rootfs(share, bad[i], &local);
		if (path != NULL)
			g_error("rootfs \"%s\" was accepted as %s", bad[i], path);
		g_assert_error(local, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID);
	}
	/* the share itself must be there */
	{
		g_autoptr(GError) local = NULL;
		g_autofree gchar *path =
			cocoon_guest_resolve_rootfs("/nonexistent-share", "c1", &local);
		g_assert_null(path);
		g_assert_nonnull(local);
	}
	(void)g_unlink(escape);
	(void)g_unlink(inner);
	(void)g_unlink(file);
	(void)g_rmdir(rootfs);
	{
		g_autofree gchar *container_dir = g_path_get_dirname(rootfs);
		(void)g_rmdir(container_dir);
	}
	(void)g_rmdir(share);
	(void)g_rmdir(outside);
	(void)g_rmdir(tmp);
}

static void
test_exit_status(void)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid == 0)
		_exit(42);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_cmpuint(cocoon_guest_exit_status_from_wait(status), ==, 42);

	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	kill(pid, SIGKILL);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_cmpuint(cocoon_guest_exit_status_from_wait(status), ==, 137);

	pid = fork();
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		raise(SIGTERM);
		_exit(0);
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_cmpuint(cocoon_guest_exit_status_from_wait(status), ==, 128 + SIGTERM);
}

static void
test_cgroup_metrics(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_build_filename(COCOON_SOURCE_DIR, "tests", "unit", "guest",
						 "cgroup-fixture", NULL);
	g_autoptr(CocoonGuestCgroupMetrics) metrics = cocoon_guest_cgroup_metrics_read(dir, &error);
	const Io__Containerd__Cgroups__V2__Metrics *m;
	g_autoptr(GArray) pids = NULL;
	guint64 value = 0;

	g_assert_no_error(error);
	m = cocoon_guest_cgroup_metrics_get(metrics);
	g_assert_cmpuint(m->pids->current, ==, 3);
	g_assert_cmpuint(m->pids->limit, ==, 0);
	g_assert_cmpuint(m->cpu->usage_usec, ==, 123456);
	g_assert_cmpuint(m->cpu->user_usec, ==, 100000);
	g_assert_cmpuint(m->cpu->system_usec, ==, 23456);
	g_assert_cmpuint(m->cpu->nr_periods, ==, 10);
	g_assert_cmpuint(m->cpu->nr_throttled, ==, 2);
	g_assert_cmpuint(m->cpu->throttled_usec, ==, 3000);
	g_assert_cmpuint(m->cpu->nr_bursts, ==, 1);
	g_assert_cmpuint(m->cpu->burst_usec, ==, 50);
	g_assert_nonnull(m->cpu->psi);
	g_assert_cmpfloat(m->cpu->psi->some->avg10, ==, 0.5);
	g_assert_cmpuint(m->cpu->psi->some->total, ==, 123456);
	g_assert_nonnull(m->cpu->psi->full);
	g_assert_cmpuint(m->memory->usage, ==, 8388608);
	g_assert_cmpuint(m->memory->usage_limit, ==, G_MAXUINT64);
	g_assert_cmpuint(m->memory->swap_limit, ==, G_MAXUINT64);
	g_assert_cmpuint(m->memory->anon, ==, 4096000);
	g_assert_cmpuint(m->memory->file, ==, 2048000);
	g_assert_cmpuint(m->memory->kernel_stack, ==, 16384);
	g_assert_cmpuint(m->memory->slab, ==, 70000);
	g_assert_cmpuint(m->memory->file_mapped, ==, 1024000);
	g_assert_cmpuint(m->memory->active_file, ==, 1048000);
	g_assert_cmpuint(m->memory->pgmajfault, ==, 3);
	g_assert_cmpuint(m->memory->workingset_refault_file, ==, 5);
	g_assert_null(m->memory->psi);
	g_assert_cmpuint(m->memory_events->max, ==, 7);
	g_assert_cmpuint(m->memory_events->oom, ==, 2);
	g_assert_cmpuint(m->memory_events->oom_kill, ==, 1);
	g_assert_cmpuint(m->io->n_usage, ==, 2);
	g_assert_cmpuint(m->io->usage[0]->major, ==, 254);
	g_assert_cmpuint(m->io->usage[0]->minor, ==, 0);
	g_assert_cmpuint(m->io->usage[0]->rbytes, ==, 1048576);
	g_assert_cmpuint(m->io->usage[0]->wbytes, ==, 4096);
	g_assert_cmpuint(m->io->usage[1]->wios, ==, 4);

	/* it packs (what the agent sends) */
	g_assert_cmpuint(protobuf_c_message_get_packed_size(&m->base), >, 0);

	g_assert_true(
		cocoon_guest_cgroup_read_key(dir, "memory.events", "oom_kill", &value, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(value, ==, 1);
	g_assert_false(cocoon_guest_cgroup_read_key(dir, "memory.events", "nope", &value, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);

	pids = cocoon_guest_cgroup_read_procs(dir, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(pids->len, ==, 2);
	g_assert_cmpint(g_array_index(pids, pid_t, 0), ==, 1234);
	g_assert_cmpint(g_array_index(pids, pid_t, 1), ==, 1240);
}

static void
test_cgroup_missing(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonGuestCgroupMetrics) metrics =
		cocoon_guest_cgroup_metrics_read("/nonexistent/cgroup", &error);

	g_assert_null(metrics);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/guest/spec/patch-pod-member", test_patch_pod_member);
	g_test_add_func("/guest/spec/patch-private-uts", test_patch_private_uts);
	g_test_add_func("/guest/spec/patch-cri-sandbox", test_patch_cri_sandbox);
	g_test_add_func("/guest/spec/patch-cri-app", test_patch_cri_app);
	g_test_add_func("/guest/spec/patch-bind-sources", test_patch_bind_sources);
	g_test_add_func("/guest/spec/patch-pod-sandbox-hostname", test_patch_pod_sandbox_hostname);
	g_test_add_func("/guest/spec/patch-invalid", test_patch_invalid);
	g_test_add_func("/guest/spec/process-patch", test_process_patch);
	g_test_add_func("/guest/spec/cgroups-path", test_cgroups_path);
	g_test_add_func("/guest/spec/ids", test_ids);
	g_test_add_func("/guest/spec/rootfs", test_rootfs);
	g_test_add_func("/guest/reaper/exit-status", test_exit_status);
	g_test_add_func("/guest/cgroup/metrics", test_cgroup_metrics);
	g_test_add_func("/guest/cgroup/missing", test_cgroup_missing);
	return g_test_run();
}
