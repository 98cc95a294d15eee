/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "cocoon-qemu-cmdline.h"

/*
 * golden files: one argument per line. COCOON_UPDATE_GOLDEN=1 rewrites them (then review the
 * diff before committing).
 */
static void
check_golden(const CocoonVmConfig *config, const CocoonQemuHostInfo *host, const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = cocoon_qemu_build_cmdline(config, host, &error);
	g_autofree gchar *file = g_strdup_printf("%s.args", name);
	g_autofree gchar *path =
		g_test_build_filename(G_TEST_DIST, "unit", "hypervisor", "golden", file, NULL);
	g_autofree gchar *joined = NULL;
	g_autofree gchar *expected = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(argv);
	for (guint i = 0; argv[i] != NULL; i++)
		g_assert_null(strchr(argv[i], '\n'));
	joined = g_strjoinv("\n", argv);
	{
		g_autofree gchar *with_newline = g_strconcat(joined, "\n", NULL);
		g_free(g_steal_pointer(&joined));
		joined = g_steal_pointer(&with_newline);
	}
	if (g_getenv("COCOON_UPDATE_GOLDEN") != NULL) {
		g_assert_true(g_file_set_contents(path, joined, -1, &error));
		g_assert_no_error(error);
		return;
	}
	g_assert_true(g_file_get_contents(path, &expected, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(joined, ==, expected);
}

static CocoonVmConfig *
base_config(void)
{
	CocoonVmConfig *config = cocoon_vm_config_new();

	config->sandbox_id = g_strdup("4f3c2a1b");
	config->state_dir = g_strdup("/run/cocoon/4f3c2a1b");
	config->kernel = g_strdup("/usr/local/share/cocoon/guest/vmlinux");
	config->initrd = g_strdup("/usr/local/share/cocoon/guest/initrd.img");
	return config;
}

static void
test_cmdline_microvm_tcg(void)
{
	g_autoptr(CocoonVmConfig) config = base_config();
	CocoonQemuHostInfo host = {.accel = COCOON_ACCEL_TCG, .tsc_khz = 2596136};

	check_golden(config, &host, "microvm-tcg");
}

static void
test_cmdline_q35_kvm(void)
{
	g_autoptr(CocoonVmConfig) config = base_config();
	CocoonQemuHostInfo host = {.accel = COCOON_ACCEL_KVM, .tsc_khz = 2596136};

	g_free(config->machine);
	config->machine = g_strdup(COCOON_MACHINE_Q35);
	config->vcpus = 2;
	config->memory_mib = 1024;
	config->shared_dir = g_strdup("/var/lib/cocoon/shared/4f3c2a1b");
	g_free(config->qemu_binary);
	config->qemu_binary = g_strdup("/usr/bin/qemu-system-x86_64");
	check_golden(config, &host, "q35-kvm");
}

static void
test_cmdline_extra(void)
{
	g_autoptr(CocoonVmConfig) config = base_config();
	CocoonQemuHostInfo host = {.accel = COCOON_ACCEL_TCG, .tsc_khz = 0};
	const gchar *extra[] = {"-object", "rng-random,id=rng0,filename=/dev/urandom", "-device",
				"virtio-rng-device,rng=rng0", NULL};

	config->extra_args = g_strdupv((gchar **)extra);
	config->kernel_params = g_strdup("init=/init cocoon.debug=1");
	config->debug = TRUE;
	g_clear_pointer(&config->initrd, g_free);
	check_golden(config, &host, "microvm-tcg-extra");
}

static void
test_cmdline_odd_paths(void)
{
	g_autoptr(CocoonVmConfig) config = base_config();
	CocoonQemuHostInfo host = {.accel = COCOON_ACCEL_TCG, .tsc_khz = 1000000};

	g_free(config->sandbox_id);
	config->sandbox_id = g_strdup("pod,1=x");
	g_free(config->state_dir);
	config->state_dir = g_strdup("/run/co,coon/a b,,c");
	config->shared_dir = g_strdup("/srv/share,with=commas/");
	g_free(config->kernel);
	config->kernel = g_strdup("/guest,images/vm linux");
	check_golden(config, &host, "odd-paths");
}

static void
test_cmdline_no_share(void)
{
	g_autoptr(CocoonVmConfig) config = base_config();
	CocoonQemuHostInfo host = {.accel = COCOON_ACCEL_KVM};

	config->shared_fs = COCOON_SHARED_FS_NONE;
	check_golden(config, &host, "microvm-kvm-no-share");
}

/* virtio-fs: guest RAM on a shared memfd, the vhost-user-fs device, the agent told by cmdline */
static void
test_cmdline_virtio_fs(void)
{
	g_autoptr(CocoonVmConfig) microvm = base_config();
	g_autoptr(CocoonVmConfig) q35 = base_config();
	g_autoptr(CocoonVmConfig) copy = NULL;
	CocoonQemuHostInfo tcg = {.accel = COCOON_ACCEL_TCG, .tsc_khz = 2596136};
	CocoonQemuHostInfo kvm = {.accel = COCOON_ACCEL_KVM};
	g_autofree gchar *params = NULL;

	microvm->shared_fs = COCOON_SHARED_FS_VIRTIO_FS;
	check_golden(microvm, &tcg, "microvm-tcg-virtio-fs");
	copy = cocoon_vm_config_copy(microvm);
	g_assert_cmpstr(copy->virtiofsd, ==, microvm->virtiofsd);
	check_golden(copy, &tcg, "microvm-tcg-virtio-fs");
	params = cocoon_qemu_build_kernel_params(microvm, &tcg);
	g_assert_nonnull(strstr(params, " cocoon.share=virtiofs"));

	g_free(q35->machine);
	q35->machine = g_strdup(COCOON_MACHINE_Q35);
	q35->memory_mib = 1024;
	q35->shared_fs = COCOON_SHARED_FS_VIRTIO_FS;
	check_golden(q35, &kvm, "q35-kvm-virtio-fs");
}

/* the pod's virtiofsd: golden argv; paths with commas escaped for its -o lists */
static void
check_virtiofsd_golden(const CocoonVmConfig *config, const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = cocoon_qemu_build_virtiofsd_argv(config, &error);
	g_autofree gchar *file = g_strdup_printf("%s.args", name);
	g_autofree gchar *path =
		g_test_build_filename(G_TEST_DIST, "unit", "hypervisor", "golden", file, NULL);
	g_autofree gchar *joined = NULL;
	g_autofree gchar *expected = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(argv);
	joined = g_strjoinv("\n", argv);
	{
		g_autofree gchar *with_newline = g_strconcat(joined, "\n", NULL);
		g_free(g_steal_pointer(&joined));
		joined = g_steal_pointer(&with_newline);
	}
	if (g_getenv("COCOON_UPDATE_GOLDEN") != NULL) {
		g_assert_true(g_file_set_contents(path, joined, -1, &error));
		g_assert_no_error(error);
		return;
	}
	g_assert_true(g_file_get_contents(path, &expected, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(joined, ==, expected);
}

static void
test_cmdline_virtiofsd(void)
{
	g_autoptr(CocoonVmConfig) config = base_config();
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = NULL;

	/* a VM on 9p has no virtiofsd */
	argv = cocoon_qemu_build_virtiofsd_argv(config, &error);
	g_assert_null(argv);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);

	config->shared_fs = COCOON_SHARED_FS_VIRTIO_FS;
	check_virtiofsd_golden(config, "virtiofsd");
	g_free(config->state_dir);
	config->state_dir = g_strdup("/run/co,coon/a b");
	config->shared_dir = g_strdup("/srv/share,with\\back/");
	check_virtiofsd_golden(config, "virtiofsd-odd-paths");

	/* a relative binary is refused */
	g_free(config->virtiofsd);
	config->virtiofsd = g_strdup("virtiofsd");
	argv = cocoon_qemu_build_virtiofsd_argv(config, &error);
	g_assert_null(argv);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "virtiofsd"));
}

static void
assert_invalid(const CocoonVmConfig *config, const CocoonQemuHostInfo *host, const gchar *part)
{
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = cocoon_qemu_build_cmdline(config, host, &error);

	g_assert_null(argv);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	if (strstr(error->message, part) == NULL)
		g_error("\"%s\" not in \"%s\"", part, error->message);
}

static void
test_cmdline_invalid(void)
{
	CocoonQemuHostInfo tcg = {.accel = COCOON_ACCEL_TCG};
	CocoonQemuHostInfo unresolved = {.accel = COCOON_ACCEL_AUTO};
	g_autoptr(CocoonVmConfig) config = base_config();

	assert_invalid(config, &unresolved, "resolved");

	g_free(config->machine);
	config->machine = g_strdup("pc");
	assert_invalid(config, &tcg, "machine");
	g_free(config->machine);
	config->machine = g_strdup(COCOON_MACHINE_MICROVM);

	config->vcpus = 0;
	assert_invalid(config, &tcg, "vcpus");
	config->vcpus = 256;
	assert_invalid(config, &tcg, "vcpus");
	config->vcpus = 1;

	config->memory_mib = 32;
	assert_invalid(config, &tcg, "memory");
	config->memory_mib = 256;

	config->kernel_params = g_strdup("a\nb");
	assert_invalid(config, &tcg, "one line");
	g_clear_pointer(&config->kernel_params, g_free);

	config->accel = COCOON_ACCEL_INVALID;
	assert_invalid(config, &tcg, "accel");
	config->accel = COCOON_ACCEL_AUTO;

	g_free(config->state_dir);
	config->state_dir = g_strdup("relative/dir");
	assert_invalid(config, &tcg, "4f3c2a1b");

	g_free(config->state_dir);
	config->state_dir = g_strdup("/run/x");
	g_clear_pointer(&config->kernel, g_free);
	assert_invalid(config, &tcg, "kernel");
}

/* the pod's network: taps inherited at fds 3, 4, ... (cocoon-qemu.c passes them) */
static void
test_cmdline_nics(void)
{
	g_autoptr(CocoonVmConfig) microvm = base_config();
	g_autoptr(CocoonVmConfig) q35 = base_config();
	g_autoptr(CocoonVmConfig) copy = NULL;
	CocoonQemuHostInfo tcg = {.accel = COCOON_ACCEL_TCG, .tsc_khz = 2596136};
	CocoonQemuHostInfo kvm = {.accel = COCOON_ACCEL_KVM};

	cocoon_vm_config_add_nic(microvm, "net0", "0a:58:0a:58:00:05", 17);
	cocoon_vm_config_add_nic(microvm, "net1", "02:cc:12:34:56:01", 18);
	microvm->netns_fd = 19;
	check_golden(microvm, &tcg, "microvm-tcg-nics");
	/* the copy the driver keeps has the same devices */
	copy = cocoon_vm_config_copy(microvm);
	check_golden(copy, &tcg, "microvm-tcg-nics");

	g_free(q35->machine);
	q35->machine = g_strdup(COCOON_MACHINE_Q35);
	cocoon_vm_config_add_nic(q35, "net0", "0a:58:0a:58:00:05", 5);
	check_golden(q35, &kvm, "q35-kvm-nics");
}

static void
test_cmdline_nics_invalid(void)
{
	CocoonQemuHostInfo tcg = {.accel = COCOON_ACCEL_TCG};
	g_autoptr(CocoonVmConfig) config = NULL;

	config = base_config();
	cocoon_vm_config_add_nic(config, "net,0", "02:00:00:00:00:01", 3);
	assert_invalid(config, &tcg, "network device id");
	g_clear_pointer(&config, cocoon_vm_config_free);

	config = base_config();
	cocoon_vm_config_add_nic(config, "net0", "02:00:00:00:00:1", 3);
	assert_invalid(config, &tcg, "MAC");
	g_clear_pointer(&config, cocoon_vm_config_free);

	config = base_config();
	cocoon_vm_config_add_nic(config, "net0", "02:00:00:00:00:01,x", 3);
	assert_invalid(config, &tcg, "MAC");
	g_clear_pointer(&config, cocoon_vm_config_free);

	config = base_config();
	cocoon_vm_config_add_nic(config, "net0", "02:00:00:00:00:01", -1);
	assert_invalid(config, &tcg, "tap fd");
	g_clear_pointer(&config, cocoon_vm_config_free);

	config = base_config();
	cocoon_vm_config_add_nic(config, "net0", "02:00:00:00:00:01", 3);
	cocoon_vm_config_add_nic(config, "net0", "02:00:00:00:00:02", 4);
	assert_invalid(config, &tcg, "same id");
	g_clear_pointer(&config, cocoon_vm_config_free);

	config = base_config();
	for (guint i = 0; i <= COCOON_VM_NICS_MAX; i++) {
		g_autofree gchar *id = g_strdup_printf("net%u", i);
		cocoon_vm_config_add_nic(config, id, "02:00:00:00:00:01", 3);
	}
	assert_invalid(config, &tcg, "at most 8");
}

/* the console never goes to a file QEMU writes: a socket the driver caps, or nowhere */
static void
test_cmdline_console(void)
{
	CocoonQemuHostInfo tcg = {.accel = COCOON_ACCEL_TCG, .tsc_khz = 123};
	g_autoptr(CocoonVmConfig) config = base_config();
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = NULL;
	g_autofree gchar *joined = NULL;

	argv = cocoon_qemu_build_cmdline(config, &tcg, &error);
	g_assert_no_error(error);
	joined = g_strjoinv("\n", argv);
	g_assert_nonnull(strstr(joined, "\n-chardev\nsocket,id=console,fd=11\n"
					"-serial\nchardev:console\n"));
	g_assert_null(strstr(joined, "file,"));
	g_assert_null(strstr(joined, "console.log"));
	g_clear_pointer(&joined, g_free);
	g_clear_pointer(&argv, g_strfreev);

	config->console_log_max_kib = 0;
	argv = cocoon_qemu_build_cmdline(config, &tcg, &error);
	g_assert_no_error(error);
	joined = g_strjoinv("\n", argv);
	g_assert_nonnull(strstr(joined, "\n-chardev\nnull,id=console\n-serial\nchardev:console\n"));

	config->console_log_max_kib = COCOON_VM_MAX_CONSOLE_LOG_KIB + 1;
	assert_invalid(config, &tcg, "console log cap");
}

static void
test_cmdline_helpers(void)
{
	g_autofree gchar *escaped = cocoon_qemu_escape_option_value(",a,,b,");
	g_autoptr(CocoonVmConfig) config = base_config();
	CocoonQemuHostInfo tcg = {.accel = COCOON_ACCEL_TCG, .tsc_khz = 123};
	CocoonQemuHostInfo kvm = {.accel = COCOON_ACCEL_KVM, .tsc_khz = 123};
	g_autofree gchar *tcg_params = NULL;
	g_autofree gchar *kvm_params = NULL;

	g_assert_cmpstr(escaped, ==, ",,a,,,,b,,");
	tcg_params = cocoon_qemu_build_kernel_params(config, &tcg);
	g_assert_cmpstr(tcg_params, ==,
			"console=ttyS0 panic=-1 quiet noreplace-smp random.trust_cpu=on "
			"tsc_early_khz=123");
	kvm_params = cocoon_qemu_build_kernel_params(config, &kvm);
	g_assert_cmpstr(kvm_params, ==,
			"console=ttyS0 panic=-1 quiet noreplace-smp random.trust_cpu=on");

	g_assert_cmpint(cocoon_accel_from_string(NULL), ==, COCOON_ACCEL_AUTO);
	g_assert_cmpint(cocoon_accel_from_string("auto"), ==, COCOON_ACCEL_AUTO);
	g_assert_cmpint(cocoon_accel_from_string("kvm"), ==, COCOON_ACCEL_KVM);
	g_assert_cmpint(cocoon_accel_from_string("tcg"), ==, COCOON_ACCEL_TCG);
	g_assert_cmpint(cocoon_accel_from_string("hvf"), ==, COCOON_ACCEL_INVALID);
	g_assert_cmpstr(cocoon_accel_to_string(COCOON_ACCEL_TCG), ==, "tcg");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hypervisor/cmdline/microvm-tcg", test_cmdline_microvm_tcg);
	g_test_add_func("/hypervisor/cmdline/q35-kvm", test_cmdline_q35_kvm);
	g_test_add_func("/hypervisor/cmdline/extra", test_cmdline_extra);
	g_test_add_func("/hypervisor/cmdline/odd-paths", test_cmdline_odd_paths);
	g_test_add_func("/hypervisor/cmdline/no-share", test_cmdline_no_share);
	g_test_add_func("/hypervisor/cmdline/virtio-fs", test_cmdline_virtio_fs);
	g_test_add_func("/hypervisor/cmdline/virtiofsd", test_cmdline_virtiofsd);
	g_test_add_func("/hypervisor/cmdline/invalid", test_cmdline_invalid);
	g_test_add_func("/hypervisor/cmdline/helpers", test_cmdline_helpers);
	g_test_add_func("/hypervisor/cmdline/console", test_cmdline_console);
	g_test_add_func("/hypervisor/cmdline/nics", test_cmdline_nics);
	g_test_add_func("/hypervisor/cmdline/nics-invalid", test_cmdline_nics_invalid);
	return g_test_run();
}
