/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

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

static CocoonConfig *
load_text(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = write_config(text);
	CocoonConfig *config = cocoon_config_load(path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(config);
	g_unlink(path);
	return config;
}

static CocoonJson *
json(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	CocoonJson *node = cocoon_json_parse(text, strlen(text), &error);
	g_assert_no_error(error);
	return node;
}

static void
test_config_defaults(void)
{
	g_autoptr(CocoonConfig) config = cocoon_config_new_default();
	g_assert_cmpstr(config->accel, ==, "auto");
	g_assert_cmpstr(config->machine, ==, "microvm");
	g_assert_cmpuint(config->vcpus, ==, 1);
	g_assert_cmpuint(config->memory_mib, ==, 256);
	g_assert_cmpuint(config->max_vcpus, ==, 16);
	g_assert_cmpuint(config->max_memory_mib, ==, 16384);
	g_assert_true(g_str_has_suffix(config->kernel, "/vmlinux"));
	g_assert_cmpuint(g_strv_length(config->extra_args), ==, 0);
	g_assert_cmpstr(config->dbus, ==, "system");
	g_assert_cmpuint(config->console_log_max_kib, ==, 1024);
	g_assert_cmpuint(config->container_pids_max, ==, 1024);
	g_assert_cmpstr(config->shared_fs, ==, "virtio-fs");
	g_assert_cmpstr(config->virtiofsd, ==, "/usr/lib/qemu/virtiofsd");
	g_assert_cmpuint(g_strv_length(config->enable_annotations), ==, 0);
	g_assert_cmpuint(g_strv_length(config->warnings), ==, 0);
	g_assert_null(config->path);
}

static void
test_config_every_key(void)
{
	g_autoptr(CocoonConfig) config = load_text(
		"hypervisor = { binary = \"/opt/qemu\"; machine = \"q35\"; accel = \"tcg\"; vcpus "
		"= 4;\n"
		"  memory_mib = 512; max_vcpus = 8; max_memory_mib = 2048; kernel = \"/k\";\n"
		"  initrd = \"/i\"; kernel_params = \"quiet\";\n"
		"  extra_args = [\"-d\", \"guest_errors\"]; console_log_max_kib = 0;\n"
		"  shared_fs = \"virtio-fs\"; virtiofsd = \"/usr/libexec/virtiofsd\"; };\n"
		"agent = { boot_timeout_ms = 1000; request_timeout_ms = 2000; debug_console = "
		"true; };\n"
		"runtime = { state_dir = \"/tmp/s\"; log_level = \"debug\"; dbus = \"session\"; "
		"container_pids_max = 64; };\n"
		"enable_annotations = [\"hypervisor.vcpus\", \"agent.debug_console\"];\n");
	g_assert_cmpstr(config->qemu_binary, ==, "/opt/qemu");
	g_assert_cmpstr(config->machine, ==, "q35");
	g_assert_cmpstr(config->accel, ==, "tcg");
	g_assert_cmpuint(config->vcpus, ==, 4);
	g_assert_cmpuint(config->memory_mib, ==, 512);
	g_assert_cmpuint(config->max_vcpus, ==, 8);
	g_assert_cmpuint(config->max_memory_mib, ==, 2048);
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
	g_assert_cmpstr(config->dbus, ==, "session");
	g_assert_cmpuint(config->console_log_max_kib, ==, 0);
	g_assert_cmpstr(config->shared_fs, ==, "virtio-fs");
	g_assert_cmpstr(config->virtiofsd, ==, "/usr/libexec/virtiofsd");
	g_assert_cmpuint(config->container_pids_max, ==, 64);
	g_assert_cmpuint(g_strv_length(config->enable_annotations), ==, 2);
	g_assert_cmpstr(config->enable_annotations[0], ==, "hypervisor.vcpus");
	g_assert_cmpstr(config->enable_annotations[1], ==, "agent.debug_console");
	g_assert_cmpuint(g_strv_length(config->warnings), ==, 0);
	g_assert_nonnull(config->path);
}

/* every choice of every choice key is accepted */
static void
test_config_choices(void)
{
	const gchar *const accels[] = {"auto", "kvm", "tcg"};
	const gchar *const buses[] = {"system", "session", "none"};
	const gchar *const levels[] = {"debug", "info", "warning", "error"};
	for (guint i = 0; i < G_N_ELEMENTS(accels); i++) {
		g_autofree gchar *text =
			g_strdup_printf("hypervisor = { accel = \"%s\"; };", accels[i]);
		g_autoptr(CocoonConfig) config = load_text(text);
		g_assert_cmpstr(config->accel, ==, accels[i]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(buses); i++) {
		g_autofree gchar *text = g_strdup_printf("runtime = { dbus = \"%s\"; };", buses[i]);
		g_autoptr(CocoonConfig) config = load_text(text);
		g_assert_cmpstr(config->dbus, ==, buses[i]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(levels); i++) {
		g_autofree gchar *text =
			g_strdup_printf("runtime = { log_level = \"%s\"; };", levels[i]);
		g_autoptr(CocoonConfig) config = load_text(text);
		g_assert_cmpstr(config->log_level, ==, levels[i]);
	}
	{
		g_autoptr(CocoonConfig) config =
			load_text("hypervisor = { machine = \"microvm\"; };");
		g_assert_cmpstr(config->machine, ==, "microvm");
	}
	{
		/* 64-bit integers are fine when they fit */
		g_autoptr(CocoonConfig) config = load_text("hypervisor = { memory_mib = 1024L; };");
		g_assert_cmpuint(config->memory_mib, ==, 1024);
	}
}

static void
check_rejected(const gchar *text, const gchar *expect)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = write_config(text);
	g_autoptr(CocoonConfig) config = cocoon_config_load(path, &error);
	g_assert_null(config);
	g_assert_nonnull(error);
	if (g_test_verbose())
		g_printerr("%s\n", error->message);
	/* the message names the file and the key (or the parse error) */
	g_assert_nonnull(strstr(error->message, path));
	if (strstr(error->message, expect) == NULL)
		g_error("\"%s\" does not contain \"%s\"", error->message, expect);
	g_unlink(path);
}

static void
test_config_bad_types(void)
{
	check_rejected("hypervisor = { binary = 1; };",
		       ":1: hypervisor.binary: expected an absolute path");
	check_rejected("hypervisor = { machine = 1; };",
		       "hypervisor.machine: expected one of \"microvm\" | \"q35\"");
	check_rejected("hypervisor = { vcpus = \"four\"; };",
		       "hypervisor.vcpus: expected an integer");
	check_rejected("hypervisor = { memory_mib = 1.5; };",
		       "hypervisor.memory_mib: expected an integer");
	check_rejected("hypervisor = { max_vcpus = true; };",
		       "hypervisor.max_vcpus: expected an integer");
	check_rejected("hypervisor = { max_memory_mib = \"x\"; };",
		       "hypervisor.max_memory_mib: expected an integer");
	check_rejected("hypervisor = { kernel = [\"/k\"]; };",
		       "hypervisor.kernel: expected an absolute path");
	check_rejected("hypervisor = { initrd = 0; };",
		       "hypervisor.initrd: expected an absolute path");
	check_rejected("hypervisor = { kernel_params = 3; };",
		       "hypervisor.kernel_params: expected a string");
	check_rejected("hypervisor = { extra_args = \"-S\"; };",
		       "hypervisor.extra_args: expected a list of strings");
	check_rejected("hypervisor = { extra_args = [1]; };", "a list of strings");
	check_rejected("agent = { boot_timeout_ms = \"1s\"; };",
		       "agent.boot_timeout_ms: expected an integer");
	check_rejected("agent = { request_timeout_ms = 1.0; };",
		       "agent.request_timeout_ms: expected an integer");
	check_rejected("agent = { debug_console = 1; };",
		       "agent.debug_console: expected true or false");
	check_rejected("runtime = { state_dir = true; };",
		       "runtime.state_dir: expected an absolute path");
	check_rejected("runtime = { log_level = 2; };", "runtime.log_level: expected one of");
	check_rejected("runtime = { dbus = false; };",
		       "runtime.dbus: expected one of \"system\" | \"session\" | \"none\"");
	check_rejected("enable_annotations = \"hypervisor.vcpus\";",
		       "enable_annotations: expected a list");
	check_rejected("enable_annotations = [1];", "enable_annotations: expected a list");
	check_rejected("hypervisor = 4;", "hypervisor: expected a group");
	check_rejected("hypervisor = { vcpus = ; };", ":1:");
}

static void
test_config_out_of_range(void)
{
	check_rejected("hypervisor = { vcpus = 0; };",
		       "hypervisor.vcpus: expected an integer in [1, 16]");
	check_rejected("hypervisor = { vcpus = 17; };",
		       "hypervisor.vcpus: expected an integer in [1, 16]");
	check_rejected("hypervisor = { vcpus = -1; };",
		       "hypervisor.vcpus: expected an integer in [1, 16]");
	check_rejected("hypervisor = { max_vcpus = 2; vcpus = 3; };",
		       "hypervisor.vcpus: expected an integer in [1, 2]");
	check_rejected("hypervisor = { max_vcpus = 256; };",
		       "hypervisor.max_vcpus: expected an integer in [1, 255]");
	check_rejected("hypervisor = { max_vcpus = 0; };",
		       "hypervisor.max_vcpus: expected an integer in [1, 255]");
	check_rejected("hypervisor = { memory_mib = 63; };",
		       "hypervisor.memory_mib: expected an integer in [64, 16384]");
	check_rejected("hypervisor = { max_memory_mib = 512;\n memory_mib = 1024; };",
		       ":2: hypervisor.memory_mib: expected an integer in [64, 512]");
	check_rejected("hypervisor = { max_memory_mib = 2097152; };",
		       "hypervisor.max_memory_mib: expected an integer in [64, 1048576]");
	/* a maximum below a default the file did not change */
	check_rejected("hypervisor = { max_memory_mib = 128; };",
		       "hypervisor.max_memory_mib: expected an integer of at least "
		       "hypervisor.memory_mib (256)");
	check_rejected("hypervisor = { memory_mib = 4294967297L; };",
		       "hypervisor.memory_mib: expected an integer in");
	check_rejected("hypervisor = { accel = \"xen\"; };", "hypervisor.accel: expected one of");
	check_rejected("hypervisor = { machine = \"pc\"; };",
		       "hypervisor.machine: expected one of");
	check_rejected("hypervisor = { kernel = \"relative\"; };", "an absolute path");
	check_rejected("hypervisor = { binary = \"qemu\"; };",
		       "hypervisor.binary: expected an absolute path");
	check_rejected("hypervisor = { console_log_max_kib = 1048577; };",
		       "hypervisor.console_log_max_kib: expected an integer in [0, 1048576]");
	check_rejected("hypervisor = { shared_fs = \"virtiofs\"; };",
		       "hypervisor.shared_fs: expected one of \"9p\" | \"virtio-fs\"");
	check_rejected("hypervisor = { virtiofsd = \"virtiofsd\"; };",
		       "hypervisor.virtiofsd: expected an absolute path");
	check_rejected("runtime = { container_pids_max = -1; };",
		       "runtime.container_pids_max: expected an integer in [0, 4194304]");
	check_rejected("agent = { boot_timeout_ms = 99; };",
		       "agent.boot_timeout_ms: expected an integer in [100, 600000]");
	check_rejected("agent = { request_timeout_ms = 600001; };",
		       "agent.request_timeout_ms: expected an integer in [100, 600000]");
	check_rejected("runtime = { state_dir = \"run/cocoon\"; };",
		       "runtime.state_dir: expected an absolute path");
	check_rejected("runtime = { log_level = \"trace\"; };",
		       "runtime.log_level: expected one of");
	check_rejected("runtime = { dbus = \"user\"; };", "runtime.dbus: expected one of");
}

static void
test_config_enable_annotations_checked(void)
{
	/* never the binary, paths, QEMU arguments, limits or runtime settings */
	const gchar *const denied[] = {
		"hypervisor.binary",	      "hypervisor.kernel",
		"hypervisor.initrd",	      "hypervisor.extra_args",
		"hypervisor.max_vcpus",	      "hypervisor.max_memory_mib",
		"runtime.state_dir",	      "runtime.dbus",
		"runtime.log_level",	      "hypervisor.console_log_max_kib",
		"runtime.container_pids_max", "hypervisor.virtiofsd"};
	for (guint i = 0; i < G_N_ELEMENTS(denied); i++) {
		g_autofree gchar *text = g_strdup_printf(
			"enable_annotations = [\"hypervisor.vcpus\",\n\"%s\"];", denied[i]);
		g_autofree gchar *expect = g_strdup_printf(":2: enable_annotations: expected keys "
							   "that pods may override; %s may not be",
							   denied[i]);
		check_rejected(text, expect);
		g_assert_false(cocoon_config_key_is_overridable(denied[i]));
	}
	check_rejected(
		"enable_annotations = [\"hypervisor.cpus\"];",
		"enable_annotations: expected a known \"section.key\", not \"hypervisor.cpus\"");
	g_assert_true(cocoon_config_key_is_overridable("hypervisor.memory_mib"));
	g_assert_false(cocoon_config_key_is_overridable("nonsense"));
	{
		/* duplicates collapse */
		g_autoptr(CocoonConfig) config =
			load_text("enable_annotations = [\"agent.boot_timeout_ms\", "
				  "\"agent.boot_timeout_ms\"];");
		g_assert_cmpuint(g_strv_length(config->enable_annotations), ==, 1);
	}
}

static void
test_config_unknown_keys_warned(void)
{
	g_autoptr(CocoonConfig) config =
		load_text("hypervisor = {\n"
			  "  vcpus = 2;\n"
			  "  cpus = 4;\n"
			  "};\n"
			  "agnet = { debug_console = true; };\n"
			  "runtime = { dbus = \"none\"; nested = { a = 1; }; };\n");
	g_assert_cmpuint(config->vcpus, ==, 2);
	g_assert_cmpuint(g_strv_length(config->warnings), ==, 3);
	g_assert_true(
		g_str_has_suffix(config->warnings[0], ":3: unknown key hypervisor.cpus (ignored)"));
	g_assert_true(g_str_has_suffix(config->warnings[1], ":5: unknown key agnet (ignored)"));
	g_assert_true(
		g_str_has_suffix(config->warnings[2], ":6: unknown key runtime.nested (ignored)"));
	g_assert_true(g_str_has_prefix(config->warnings[0], config->path));
}

/*
 * hypervisor.shared_fs was retired while only 9p existed; it selects virtio-fs now. A pod may pick
 * it (both ways are the host's, the virtiofsd binary is not the pod's to choose), a bad value is
 * refused like any other
 */
static void
test_config_shared_fs(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonConfig) config = load_text(
		"hypervisor = {\n"
		"  shared_fs = \"9p\";\n"
		"};\n"
		"enable_annotations = [\"hypervisor.shared_fs\", \"hypervisor.vcpus\"];\n");
	g_autoptr(CocoonJson) annotations =
		json("{\"io.cocoon.config.hypervisor.shared_fs\": \"virtio-fs\"}");
	g_autoptr(CocoonJson) bad = json("{\"io.cocoon.config.hypervisor.shared_fs\": \"nfs\"}");
	g_autoptr(CocoonJson) binary =
		json("{\"io.cocoon.config.hypervisor.virtiofsd\": \"/tmp/evil\"}");

	g_assert_cmpuint(g_strv_length(config->warnings), ==, 0);
	g_assert_cmpuint(g_strv_length(config->enable_annotations), ==, 2);
	g_assert_cmpstr(config->shared_fs, ==, "9p");
	g_assert_true(cocoon_config_key_is_overridable("hypervisor.shared_fs"));
	g_assert_false(cocoon_config_key_is_overridable("hypervisor.virtiofsd"));
	g_assert_true(cocoon_config_apply_annotations(config, annotations, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(config->shared_fs, ==, "virtio-fs");
	g_assert_false(cocoon_config_apply_annotations(config, bad, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_cmpstr(config->shared_fs, ==, "virtio-fs");
	g_assert_false(cocoon_config_apply_annotations(config, binary, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_cmpstr(config->virtiofsd, ==, "/usr/lib/qemu/virtiofsd");
}

static void
test_config_missing_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonConfig) config = cocoon_config_load("/nonexistent/cocoon.conf", &error);
	g_assert_null(config);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

/* the documented default file loads without a warning and says what the built-in defaults say */
static void
test_config_shipped_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_build_filename(g_getenv("COCOON_BUILD_DIR") ?: COCOON_BUILD_DIR,
						  "data", "cocoon.conf", NULL);
	g_autoptr(CocoonConfig) config = cocoon_config_load(path, &error);
	g_autoptr(CocoonConfig) defaults = cocoon_config_new_default();
	g_assert_no_error(error);
	g_assert_cmpuint(g_strv_length(config->warnings), ==, 0);
	g_assert_cmpstr(config->qemu_binary, ==, defaults->qemu_binary);
	g_assert_cmpstr(config->kernel, ==, defaults->kernel);
	g_assert_cmpstr(config->initrd, ==, defaults->initrd);
	g_assert_cmpuint(config->vcpus, ==, defaults->vcpus);
	g_assert_cmpuint(config->memory_mib, ==, defaults->memory_mib);
	g_assert_cmpuint(config->max_vcpus, ==, defaults->max_vcpus);
	g_assert_cmpuint(config->max_memory_mib, ==, defaults->max_memory_mib);
	g_assert_cmpuint(config->boot_timeout_ms, ==, defaults->boot_timeout_ms);
	g_assert_cmpuint(config->request_timeout_ms, ==, defaults->request_timeout_ms);
	g_assert_cmpstr(config->state_dir, ==, defaults->state_dir);
	g_assert_cmpstr(config->dbus, ==, defaults->dbus);
	g_assert_cmpstr(config->shared_fs, ==, defaults->shared_fs);
	g_assert_cmpstr(config->virtiofsd, ==, defaults->virtiofsd);
	g_assert_cmpuint(g_strv_length(config->enable_annotations), ==, 0);
}

static void
test_config_copy(void)
{
	g_autoptr(CocoonConfig) config =
		load_text("hypervisor = { extra_args = [\"-S\"]; };\nenable_annotations = "
			  "[\"hypervisor.vcpus\"];\n"
			  "bogus = 1;\n");
	g_autoptr(CocoonConfig) copy = cocoon_config_copy(config);
	g_assert_true(copy->kernel != config->kernel);
	g_assert_cmpstr(copy->kernel, ==, config->kernel);
	g_assert_cmpstr(copy->extra_args[0], ==, "-S");
	g_assert_true(copy->extra_args != config->extra_args);
	g_assert_cmpstr(copy->enable_annotations[0], ==, "hypervisor.vcpus");
	g_assert_cmpstr(copy->path, ==, config->path);
	g_assert_cmpuint(g_strv_length(copy->warnings), ==, 1);
	g_free(copy->machine);
	copy->machine = g_strdup("q35");
	g_assert_cmpstr(config->machine, ==, "microvm");
}

static void
check_annotation_rejected(CocoonConfig *config, const gchar *annotations, const gchar *expect)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonJson) node = json(annotations);
	g_autoptr(CocoonConfig) before = cocoon_config_copy(config);
	g_assert_false(cocoon_config_apply_annotations(config, node, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	if (g_test_verbose())
		g_printerr("%s\n", error->message);
	if (strstr(error->message, expect) == NULL)
		g_error("\"%s\" does not contain \"%s\"", error->message, expect);
	/* all or nothing */
	g_assert_cmpuint(config->vcpus, ==, before->vcpus);
	g_assert_cmpuint(config->memory_mib, ==, before->memory_mib);
	g_assert_cmpstr(config->kernel_params, ==, before->kernel_params);
	g_assert_cmpint(config->debug_console, ==, before->debug_console);
}

static void
test_config_annotation_not_allowed(void)
{
	g_autoptr(CocoonConfig) config =
		load_text("enable_annotations = [\"hypervisor.vcpus\"];\n");
	g_autoptr(CocoonConfig) defaults = cocoon_config_new_default();

	check_annotation_rejected(config, "{\"io.cocoon.config.hypervisor.memory_mib\": \"512\"}",
				  "annotation io.cocoon.config.hypervisor.memory_mib: "
				  "hypervisor.memory_mib may not be overridden by pods");
	/* deny by default, and never the paths, even when asked nicely */
	check_annotation_rejected(defaults, "{\"io.cocoon.config.hypervisor.vcpus\": \"2\"}",
				  "annotation io.cocoon.config.hypervisor.vcpus: hypervisor.vcpus "
				  "may not be overridden");
	check_annotation_rejected(config, "{\"io.cocoon.config.hypervisor.kernel\": \"/tmp/evil\"}",
				  "hypervisor.kernel cannot be overridden by annotation");
	check_annotation_rejected(
		config, "{\"io.cocoon.config.hypervisor.binary\": \"/bin/sh\"}",
		"annotation io.cocoon.config.hypervisor.binary: hypervisor.binary "
		"cannot be overridden by annotation");
	check_annotation_rejected(config, "{\"io.cocoon.config.hypervisor.initrd\": \"/x\"}",
				  "hypervisor.initrd cannot be overridden by annotation");
	check_annotation_rejected(config,
				  "{\"io.cocoon.config.runtime.container_pids_max\": \"100000\"}",
				  "runtime.container_pids_max cannot be overridden by annotation");
	/* the advice is true: enable_annotations is offered only for keys it may list */
	{
		g_autoptr(CocoonJson) annotations =
			json("{\"io.cocoon.config.hypervisor.binary\": \"/bin/sh\"}");
		g_autoptr(GError) error = NULL;

		g_assert_false(cocoon_config_apply_annotations(config, annotations, &error));
		g_assert_null(strstr(error->message, "enable_annotations"));
	}
	{
		g_autoptr(CocoonJson) annotations =
			json("{\"io.cocoon.config.hypervisor.memory_mib\": \"512\"}");
		g_autoptr(GError) error = NULL;

		g_assert_false(cocoon_config_apply_annotations(config, annotations, &error));
		g_assert_nonnull(strstr(error->message, "add \"hypervisor.memory_mib\" to "
							"enable_annotations"));
	}
	check_annotation_rejected(
		config, "{\"io.cocoon.config.hypervisor.nope\": \"1\"}",
		"annotation io.cocoon.config.hypervisor.nope: unknown configuration key");
	/* one bad annotation rejects them all */
	check_annotation_rejected(config,
				  "{\"io.cocoon.config.hypervisor.vcpus\": \"2\","
				  " \"io.cocoon.config.agent.debug_console\": \"true\"}",
				  "agent.debug_console may not be overridden");
}

static void
test_config_annotation_bad_value(void)
{
	g_autoptr(CocoonConfig) config = load_text(
		"hypervisor = { max_vcpus = 4; max_memory_mib = 1024; };\n"
		"enable_annotations = [\"hypervisor.vcpus\", \"hypervisor.memory_mib\", "
		"\"hypervisor.accel\", \"agent.debug_console\", \"agent.boot_timeout_ms\"];\n");
	check_annotation_rejected(
		config, "{\"io.cocoon.config.hypervisor.vcpus\": \"5\"}",
		"annotation io.cocoon.config.hypervisor.vcpus: expected an integer "
		"in [1, 4], got \"5\"");
	check_annotation_rejected(config, "{\"io.cocoon.config.hypervisor.vcpus\": \"0\"}",
				  "expected an integer in [1, 4]");
	check_annotation_rejected(config, "{\"io.cocoon.config.hypervisor.vcpus\": \"two\"}",
				  "expected an integer in [1, 4], got \"two\"");
	check_annotation_rejected(config, "{\"io.cocoon.config.hypervisor.vcpus\": \"-1\"}",
				  "expected an integer");
	check_annotation_rejected(config, "{\"io.cocoon.config.hypervisor.vcpus\": 2}",
				  "got \"(not a string)\"");
	check_annotation_rejected(config, "{\"io.cocoon.config.hypervisor.memory_mib\": \"2048\"}",
				  "hypervisor.memory_mib: expected an integer in [64, 1024]");
	check_annotation_rejected(config, "{\"io.cocoon.config.hypervisor.accel\": \"xen\"}",
				  "hypervisor.accel: expected one of \"auto\" | \"kvm\" | \"tcg\"");
	check_annotation_rejected(config, "{\"io.cocoon.config.agent.debug_console\": \"yes\"}",
				  "agent.debug_console: expected true or false, got \"yes\"");
	check_annotation_rejected(config, "{\"io.cocoon.config.agent.boot_timeout_ms\": \"10\"}",
				  "agent.boot_timeout_ms: expected an integer in [100, 600000]");
	check_annotation_rejected(config, "[\"io.cocoon.config.agent.boot_timeout_ms\"]",
				  "annotations: expected an object");
}

static void
test_config_annotation_applied(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonConfig) config = load_text(
		"hypervisor = { max_vcpus = 4; };\n"
		"enable_annotations = [\"hypervisor.vcpus\", \"hypervisor.memory_mib\", "
		"\"hypervisor.machine\", \"hypervisor.accel\", \"hypervisor.kernel_params\", "
		"\"agent.boot_timeout_ms\", "
		"\"agent.request_timeout_ms\", "
		"\"agent.debug_console\"];\n");
	g_autoptr(CocoonJson) annotations =
		json("{\"io.kubernetes.cri.sandbox-id\": \"pod1\","
		     " \"io.cocoon.config.hypervisor.vcpus\": \"4\","
		     " \"io.cocoon.config.hypervisor.memory_mib\": \"512\","
		     " \"io.cocoon.config.hypervisor.machine\": \"q35\","
		     " \"io.cocoon.config.hypervisor.accel\": \"tcg\","
		     " \"io.cocoon.config.hypervisor.kernel_params\": \"loglevel=7\","
		     " \"io.cocoon.config.agent.boot_timeout_ms\": \"120000\","
		     " \"io.cocoon.config.agent.request_timeout_ms\": \"5000\","
		     " \"io.cocoon.config.agent.debug_console\": \"true\","
		     " \"io.cocoon.other\": \"ignored\"}");

	g_assert_true(cocoon_config_apply_annotations(config, annotations, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(config->vcpus, ==, 4);
	g_assert_cmpuint(config->memory_mib, ==, 512);
	g_assert_cmpstr(config->machine, ==, "q35");
	g_assert_cmpstr(config->accel, ==, "tcg");
	g_assert_cmpstr(config->kernel_params, ==, "loglevel=7");
	g_assert_cmpuint(config->boot_timeout_ms, ==, 120000);
	g_assert_cmpuint(config->request_timeout_ms, ==, 5000);
	g_assert_true(config->debug_console);
	/* what is not annotated stays */
	g_assert_cmpuint(config->max_vcpus, ==, 4);
	g_assert_cmpstr(config->qemu_binary, ==, "/usr/bin/qemu-system-x86_64");
	g_assert_cmpuint(g_strv_length(config->enable_annotations), ==, 8);

	/* no annotations at all, or none of ours: nothing changes */
	g_assert_true(cocoon_config_apply_annotations(config, NULL, &error));
	{
		g_autoptr(CocoonJson) none =
			json("{\"io.kubernetes.cri.container-type\": \"sandbox\"}");
		g_assert_true(cocoon_config_apply_annotations(config, none, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(config->vcpus, ==, 4);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/defaults", test_config_defaults);
	g_test_add_func("/config/every-key", test_config_every_key);
	g_test_add_func("/config/choices", test_config_choices);
	g_test_add_func("/config/bad-types", test_config_bad_types);
	g_test_add_func("/config/out-of-range", test_config_out_of_range);
	g_test_add_func("/config/enable-annotations-checked",
			test_config_enable_annotations_checked);
	g_test_add_func("/config/unknown-keys-warned", test_config_unknown_keys_warned);
	g_test_add_func("/config/shared-fs", test_config_shared_fs);
	g_test_add_func("/config/missing-file", test_config_missing_file);
	g_test_add_func("/config/shipped-file", test_config_shipped_file);
	g_test_add_func("/config/copy", test_config_copy);
	g_test_add_func("/config/annotation/not-allowed", test_config_annotation_not_allowed);
	g_test_add_func("/config/annotation/bad-value", test_config_annotation_bad_value);
	g_test_add_func("/config/annotation/applied", test_config_annotation_applied);
	return g_test_run();
}
