/* SPDX-License-Identifier: Apache-2.0 */
/*
 * e2e: boots a real QEMU (AUTO accel: TCG where KVM cannot run guests) with the guest image from
 * $COCOON_GUEST_KERNEL (and $COCOON_GUEST_INITRD, optional), waits until the console shows the
 * kernel booting or the agent socket produces bytes, stops, and checks that no QEMU is left. Exit
 * 77 (skip) without a kernel or without QEMU.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-fd.h"
#include "cocoon-hypervisor.h"
#include "cocoon-qemu.h"

#define BOOT_TIMEOUT_S 90

static const gchar *kernel;
static const gchar *initrd;
static const gchar *qemu_binary;

/* bytes from the agent port, if the guest writes first; never blocks for long */
static gboolean
agent_has_bytes(int *fd, const gchar *path)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	gchar byte;

	if (*fd < 0) {
		g_strlcpy(address.sun_path, path, sizeof(address.sun_path));
		*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (*fd >= 0 && connect(*fd, (struct sockaddr *)&address, sizeof(address)) < 0)
			cocoon_fd_closep(fd);
		return FALSE;
	}
	return recv(*fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK) == 1;
}

/* any process whose command line mentions the state directory */
static gboolean
qemu_left_behind(const gchar *state_dir)
{
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	const gchar *name;

	while ((name = g_dir_read_name(proc)) != NULL) {
		g_autofree gchar *path = NULL;
		g_autofree gchar *cmdline = NULL;
		gsize length = 0;

		if (!g_ascii_isdigit(name[0]))
			continue;
		path = g_strdup_printf("/proc/%s/cmdline", name);
		if (!g_file_get_contents(path, &cmdline, &length, NULL))
			continue;
		for (gsize i = 0; i + 1 < length; i++)
			if (cmdline[i] == '\0')
				cmdline[i] = ' ';
		if (strstr(cmdline, state_dir) != NULL)
			return TRUE;
	}
	return FALSE;
}

static void
on_died(CocoonHypervisor *hypervisor, const gchar *reason, gpointer user_data)
{
	gchar **died = user_data;

	*died = g_strdup(reason);
}

static void
test_qemu_boot(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("cocoon-boot-XXXXXX", &error);
	g_autoptr(CocoonVmConfig) config = cocoon_vm_config_new();
	g_autoptr(CocoonHypervisor) hypervisor = NULL;
	g_autofree gchar *died = NULL;
	g_autofree gchar *tail = NULL;
	g_autofree gchar *command = NULL;
	cocoon_autofd int agent_fd = -1;
	gint64 started = g_get_monotonic_time();
	gint64 deadline = started + (gint64)BOOT_TIMEOUT_S * G_USEC_PER_SEC;
	const gchar *console;
	gboolean booted = FALSE;
	GPid pid;

	g_assert_no_error(error);
	config->sandbox_id = g_strdup("e2e-boot");
	config->state_dir = g_build_filename(dir, "state", NULL);
	config->kernel = g_strdup(kernel);
	config->initrd = g_strdup(initrd);
	g_free(config->qemu_binary);
	config->qemu_binary = g_strdup(qemu_binary);
	config->memory_mib = 256;
	/* a verbose kernel, so the console shows the boot even without an agent */
	config->debug = TRUE;
	if (g_getenv("COCOON_GUEST_MACHINE") != NULL) {
		g_free(config->machine);
		config->machine = g_strdup(g_getenv("COCOON_GUEST_MACHINE"));
	}

	hypervisor = cocoon_qemu_new(config, &error);
	g_assert_no_error(error);
	cocoon_hypervisor_set_died_func(hypervisor, on_died, &died, NULL);
	g_assert_true(cocoon_hypervisor_start(hypervisor, &error));
	g_assert_no_error(error);
	pid = cocoon_hypervisor_get_pid(hypervisor);
	g_test_message("QEMU pid %d up in %" G_GINT64_FORMAT " ms, accel %s", (int)pid,
		       (g_get_monotonic_time() - started) / 1000,
		       cocoon_accel_to_string(cocoon_hypervisor_get_accel(hypervisor)));
	g_assert_cmpint(cocoon_hypervisor_get_accel(hypervisor), !=, COCOON_ACCEL_AUTO);

	console = cocoon_hypervisor_get_console_log_path(hypervisor);
	while (!booted && died == NULL && g_get_monotonic_time() < deadline) {
		g_autofree gchar *text = NULL;

		g_main_context_iteration(NULL, FALSE);
		if (g_file_get_contents(console, &text, NULL, NULL) &&
		    (strstr(text, "Linux version") != NULL || strstr(text, "Run /init") != NULL))
			booted = TRUE;
		if (agent_has_bytes(&agent_fd, cocoon_hypervisor_get_agent_socket_path(hypervisor)))
			booted = TRUE;
		g_usleep(50 * 1000);
	}
	tail = cocoon_hypervisor_console_tail(hypervisor, 5);
	g_test_message("booted after %" G_GINT64_FORMAT " ms; console:\n%s",
		       (g_get_monotonic_time() - started) / 1000, tail);
	if (died != NULL)
		g_error("QEMU died during boot: %s", died);
	g_assert_true(booted);

	cocoon_fd_closep(&agent_fd);
	g_assert_true(cocoon_hypervisor_stop(hypervisor, 5000, &error));
	g_assert_no_error(error);
	g_assert_cmpint(cocoon_hypervisor_get_pid(hypervisor), ==, 0);
	g_assert_cmpint(kill(pid, 0), ==, -1);
	g_assert_false(qemu_left_behind(config->state_dir));
	g_assert_null(died);
	g_clear_pointer(&hypervisor, cocoon_hypervisor_free);
	errno = 0;
	g_assert_cmpint(waitpid(-1, NULL, WNOHANG), ==, -1);

	command = g_strdup_printf("rm -rf '%s'", dir);
	g_assert_cmpint(system(command), ==, 0);
}

int
main(int argc, char **argv)
{
	g_autofree gchar *qemu_path = NULL;

	g_test_init(&argc, &argv, NULL);
	kernel = g_getenv("COCOON_GUEST_KERNEL");
	initrd = g_getenv("COCOON_GUEST_INITRD");
	qemu_binary =
		g_getenv("COCOON_QEMU") != NULL ? g_getenv("COCOON_QEMU") : "qemu-system-x86_64";
	if (kernel == NULL || kernel[0] == '\0') {
		g_printerr("SKIP: set COCOON_GUEST_KERNEL (and COCOON_GUEST_INITRD) to a guest "
			   "image, e.g. from scripts/build-guest-image.sh\n");
		return 77;
	}
	qemu_path = g_find_program_in_path(qemu_binary);
	if (qemu_path == NULL) {
		g_printerr("SKIP: %s not found\n", qemu_binary);
		return 77;
	}
	g_test_add_func("/hypervisor/qemu-boot/boot-pause-resume-stop", test_qemu_boot);
	return g_test_run();
}
