/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "cocoon-config.h"

static gchar *
write_config(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	gchar *path = NULL;
	int fd = g_file_open_tmp("cocoon-config-XXXXXX.conf", &path, &error);
	g_assert_no_error(error);
	close(fd);
	g_assert_true(g_file_set_contents(path, text, -1, &error));
	return path;
}

static void
test_config_defaults(void)
{
	g_autoptr(CocoonConfig) config = cocoon_config_new_default();
	g_assert_cmpstr(config->accel, ==, "auto");
	g_assert_cmpstr(config->machine, ==, "microvm");
	g_assert_cmpuint(config->vcpus, ==, 1);
	g_assert_true(g_str_has_suffix(config->kernel, "/vmlinux"));
	g_assert_cmpuint(g_strv_length(config->extra_args), ==, 0);
}

static void
test_config_every_key(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = write_config(
		"hypervisor = { binary = \"/opt/qemu\"; machine = \"q35\"; accel = \"tcg\"; vcpus = 4;\n"
		"  memory_mib = 512; kernel = \"/k\"; initrd = \"/i\"; kernel_params = \"quiet\";\n"
		"  extra_args = [\"-d\", \"guest_errors\"]; };\n"
		"agent = { boot_timeout_ms = 1000; request_timeout_ms = 2000; debug_console = true; };\n"
		"runtime = { state_dir = \"/tmp/s\"; log_level = \"debug\"; };\n");
	g_autoptr(CocoonConfig) config = cocoon_config_load(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(config->qemu_binary, ==, "/opt/qemu");
	g_assert_cmpstr(config->machine, ==, "q35");
	g_assert_cmpstr(config->accel, ==, "tcg");
	g_assert_cmpuint(config->vcpus, ==, 4);
	g_assert_cmpuint(config->memory_mib, ==, 512);
	g_assert_cmpstr(config->kernel, ==, "/k");
	g_assert_cmpstr(config->initrd, ==, "/i");
	g_assert_cmpstr(config->kernel_params, ==, "quiet");
	g_assert_cmpuint(g_strv_length(config->extra_args), ==, 2);
	g_assert_cmpstr(config->extra_args[1], ==, "guest_errors");
	g_assert_cmpuint(config->boot_timeout_ms, ==, 1000);
	g_assert_cmpuint(config->request_timeout_ms, ==, 2000);
	g_assert_true(config->debug_console);
	g_assert_cmpstr(config->state_dir, ==, "/tmp/s");
	g_assert_cmpstr(config->log_level, ==, "debug");
	g_unlink(path);
}

static void
check_rejected(const gchar *text, const gchar *expect)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = write_config(text);
	g_autoptr(CocoonConfig) config = cocoon_config_load(path, &error);
	g_assert_null(config);
	g_assert_nonnull(error);
	/* the message names the file and the key (or the parse error) */
	g_assert_nonnull(strstr(error->message, path));
	g_assert_nonnull(strstr(error->message, expect));
	g_unlink(path);
}

static void
test_config_bad_values(void)
{
	check_rejected("hypervisor = { vcpus = \"four\"; };", "hypervisor.vcpus: expected an integer");
	check_rejected("hypervisor = { vcpus = 0; };", "hypervisor.vcpus: expected an integer in [1, 256]");
	check_rejected("hypervisor = { accel = \"xen\"; };", "hypervisor.accel: expected one of");
	check_rejected("hypervisor = { kernel = \"relative\"; };", "an absolute path");
	check_rejected("agent = { debug_console = 1; };", "agent.debug_console: expected true or false");
	check_rejected("hypervisor = { extra_args = [1]; };", "a list of strings");
	check_rejected("hypervisor = { vcpus = ; };", ":1:");
}

static void
test_config_missing_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonConfig) config = cocoon_config_load("/nonexistent/cocoon.conf", &error);
	g_assert_null(config);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/defaults", test_config_defaults);
	g_test_add_func("/config/every-key", test_config_every_key);
	g_test_add_func("/config/bad-values", test_config_bad_values);
	g_test_add_func("/config/missing-file", test_config_missing_file);
	return g_test_run();
}
