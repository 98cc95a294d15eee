/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mount.h>

#include "cocoon-rootfs.h"
#include "cocoon-shim-util.h"
#include "cocoon-spec-mounts.h"

static void
test_identifier(void)
{
	const gchar *good[] = {"a", "abc-1", "a.b_c-d", "0123456789", NULL};
	const gchar *bad[] = {"", "-a", "a-", "a..b", "a/b", "../x", "a b", "é", NULL};
	g_autofree gchar *long_id = g_strnfill(77, 'a');
	for (guint i = 0; good[i] != NULL; i++)
		g_assert_true(cocoon_identifier_validate("id", good[i], NULL));
	for (guint i = 0; bad[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		g_assert_false(cocoon_identifier_validate("id", bad[i], &error));
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	}
	g_assert_false(cocoon_identifier_validate("id", long_id, NULL));
	long_id[76] = '\0';
	g_assert_true(cocoon_identifier_validate("id", long_id, NULL));
}

static void
test_socket_address(void)
{
	/* sha256("/run/containerd/containerd.sock/default/mycontainer"), as containerd computes it
	 */
	g_autofree gchar *expected_hash = g_compute_checksum_for_string(
		G_CHECKSUM_SHA256, "/run/containerd/containerd.sock/default/mycontainer", -1);
	g_autofree gchar *expected = g_strdup_printf("unix:///run/containerd/s/%s", expected_hash);
	g_autofree gchar *address = cocoon_shim_socket_address("/run/containerd/containerd.sock",
							       "default", "mycontainer");
	g_assert_cmpstr(address, ==, expected);
	g_assert_cmpuint(strlen(cocoon_shim_socket_path(address)), ==, 82);
	g_assert_cmpstr(cocoon_shim_socket_path("/plain"), ==, "/plain");
}

static void
test_group(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("cocoon-bundle-XXXXXX", &error);
	g_autofree gchar *config = g_build_filename(dir, "config.json", NULL);
	g_autofree gchar *group = NULL;
	g_autofree gchar *type = NULL;

	g_assert_true(g_file_set_contents(config, "{\"ociVersion\":\"1.0.2\"}", -1, &error));
	group = cocoon_shim_read_group(dir, "task1", &type, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(group, ==, "task1");
	g_assert_null(type);
	g_clear_pointer(&group, g_free);

	g_assert_true(
		g_file_set_contents(config,
				    "{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"pod1\","
				    "\"io.kubernetes.cri.container-type\":\"container\"}}",
				    -1, &error));
	group = cocoon_shim_read_group(dir, "task1", &type, &error);
	g_assert_cmpstr(group, ==, "pod1");
	g_assert_cmpstr(type, ==, "container");
	g_clear_pointer(&group, g_free);

	/* a sandbox id that could escape the state directory is refused */
	g_assert_true(g_file_set_contents(
		config, "{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"../etc\"}}", -1,
		&error));
	group = cocoon_shim_read_group(dir, "task1", NULL, &error);
	g_assert_null(group);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);

	g_assert_true(g_file_set_contents(config, "{not json", -1, &error));
	group = cocoon_shim_read_group(dir, "task1", NULL, &error);
	g_assert_null(group);
	g_assert_nonnull(error);
	g_clear_error(&error);
	g_unlink(config);
	g_rmdir(dir);
}

static void
test_mount_options(void)
{
	gchar *options[] = {"rbind", "ro", "lowerdir=/a:/b", "nosuid", "index=off", NULL};
	g_autofree gchar *data = NULL;
	gulong flags;
	gboolean recursive;
	cocoon_mount_options_parse(options, 5, &flags, &data, &recursive);
	g_assert_cmpuint(flags, ==, MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID);
	g_assert_cmpstr(data, ==, "lowerdir=/a:/b,index=off");
	g_assert_true(recursive);
}

static void
test_spec_mounts(void)
{
	const gchar *json =
		"{\"mounts\":["
		"{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
		"{\"destination\":\"/dev/shm\",\"type\":\"bind\",\"source\":\"/run/x/shm\","
		"\"options\":[\"rbind\"]},"
		"{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/nonexistent/"
		"hosts\","
		"\"options\":[\"rbind\",\"ro\"]}]}";
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonJson) spec = cocoon_json_parse(json, strlen(json), &error);
	CocoonJson *mounts = cocoon_json_object_get_array_member(spec, "mounts");

	g_assert_false(cocoon_spec_mount_is_bind(cocoon_json_array_get(mounts, 0)));
	g_assert_true(cocoon_spec_mount_is_bind(cocoon_json_array_get(mounts, 1)));
	g_assert_true(cocoon_spec_mount_is_bind(cocoon_json_array_get(mounts, 2)));
	/* a source that is not there is an error naming it, after /dev/shm became the guest's */
	g_assert_false(
		cocoon_spec_share_mounts(spec, "/nonexistent/bundle", NULL, "/run/cocoon", &error));
	g_assert_nonnull(strstr(error->message, "/nonexistent/hosts"));
	g_assert_nonnull(strstr(error->message, "/etc/hosts"));
	g_assert_cmpstr(
		cocoon_json_object_get_string_member(cocoon_json_array_get(mounts, 1), "type"), ==,
		"tmpfs");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/shim/identifier", test_identifier);
	g_test_add_func("/shim/socket-address", test_socket_address);
	g_test_add_func("/shim/group", test_group);
	g_test_add_func("/shim/mount-options", test_mount_options);
	g_test_add_func("/shim/spec-mounts", test_spec_mounts);
	return g_test_run();
}
