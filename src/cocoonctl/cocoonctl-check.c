/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoonctl"

#include "config.h"

#include "cocoonctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/statfs.h>

#include <glib/gstdio.h>

#include "cocoon-accel.h"
#include "cocoon-agent-client.h"
#include "cocoon-json.h"
#include "cocoon-pod-vm.h"
#include "cocoon-qemu.h"
#include "cocoon-fs.h"

#define CHECK_BOOT_SANDBOX_ID	"cocoonctl-check"
#define CHECK_STOP_TIMEOUT_MS	5000
#define CHECK_CONSOLE_LINES	15
#define DEFAULT_CONTAINERD_TOML "/etc/containerd/config.toml"
#define RUNTIME_TYPE		"io.containerd.cocoon.v2"
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

typedef enum {
	CHECK_OK,
	CHECK_INFO,
	CHECK_WARN,
	CHECK_FAIL,
} CheckStatus;

static const gchar *const status_names[] = {"ok", "info", "warn", "FAIL"};

typedef struct {
	CocoonctlOptions *options;
	CocoonJson *results; /* array of {name, status, message} */
	guint failures;
	gchar *accel; /* what the VMs would run on: "kvm" or "tcg" */
} Check;

static void G_GNUC_PRINTF(4, 5)
	report(Check *check, CheckStatus status, const gchar *name, const gchar *format, ...)
{
	g_autofree gchar *message = NULL;
	CocoonJson *result = cocoon_json_new_object();
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	if (status == CHECK_FAIL)
		check->failures++;
	cocoon_json_object_set_string(result, "name", name);
	cocoon_json_object_set_string(result, "status",
				      status == CHECK_FAIL ? "fail" : status_names[status]);
	cocoon_json_object_set_string(result, "message", message);
	cocoon_json_array_append(check->results, result);
	if (!check->options->json) {
		g_print("%-4s %-11s %s\n", status_names[status], name, message);
		fflush(stdout);
	}
}

static void
check_config(Check *check)
{
	CocoonConfig *config = check->options->config;
	report(check, CHECK_OK, "config", "%s",
	       config->path != NULL ? config->path : "built-in defaults (no configuration file)");
	for (gchar **warning = config->warnings; *warning != NULL; warning++)
		report(check, CHECK_WARN, "config", "%s", *warning);
}

static gboolean
check_qemu(Check *check)
{
	const gchar *binary = check->options->config->qemu_binary;
	const gchar *argv[] = {binary, "--version", NULL};
	g_autofree gchar *output = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) lines = NULL;
	gint status = 0;

	if (!g_file_test(binary, G_FILE_TEST_IS_EXECUTABLE)) {
		report(check, CHECK_FAIL, "qemu",
		       "%s: not found or not executable (hypervisor.binary; Debian: apt-get "
		       "install "
		       "qemu-system-x86)",
		       binary);
		return FALSE;
	}
	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
			  &output, NULL, &status, &error) ||
	    !g_spawn_check_wait_status(status, &error)) {
		report(check, CHECK_FAIL, "qemu", "%s --version: %s", binary, error->message);
		return FALSE;
	}
	lines = g_strsplit(output, "\n", 2);
	report(check, CHECK_OK, "qemu", "%s: %s", binary, lines[0] != NULL ? lines[0] : "?");
	return TRUE;
}

/* the virtiofsd of shared_fs = "virtio-fs"; with 9p nothing to find */
static gboolean
check_virtiofsd(Check *check)
{
	const CocoonConfig *config = check->options->config;

	if (g_strcmp0(config->shared_fs, "virtio-fs") != 0) {
		report(check, CHECK_INFO, "virtiofsd", "not used: hypervisor.shared_fs is \"%s\"",
		       config->shared_fs);
		return TRUE;
	}
	if (!g_file_test(config->virtiofsd, G_FILE_TEST_IS_EXECUTABLE)) {
		report(check, CHECK_FAIL, "virtiofsd",
		       "%s: not found or not executable (hypervisor.virtiofsd; Debian 12: apt-get "
		       "install qemu-system-common, or hypervisor.shared_fs = \"9p\")",
		       config->virtiofsd);
		return FALSE;
	}
	report(check, CHECK_OK, "virtiofsd", "%s (hypervisor.shared_fs = \"virtio-fs\")",
	       config->virtiofsd);
	return TRUE;
}

static void
check_kvm(Check *check)
{
	const gchar *wanted = check->options->config->accel;
	g_autofree gchar *detail = NULL;
	g_autoptr(GError) error = NULL;

	if (cocoon_kvm_probe(COCOON_KVM_PROBE_BUDGET_MS, &detail, &error)) {
		report(check, CHECK_OK, "kvm", "KVM runs guest code: %s", detail);
		check->accel = g_strdup(g_strcmp0(wanted, "tcg") == 0 ? "tcg" : "kvm");
		return;
	}
	if (g_strcmp0(wanted, "kvm") == 0) {
		report(check, CHECK_FAIL, "kvm",
		       "hypervisor.accel is \"kvm\" but KVM is not usable here: %s",
		       error->message);
		check->accel = g_strdup("kvm");
		return;
	}
	report(check, CHECK_INFO, "kvm",
	       "KVM is not usable (%s): VMs run under TCG, QEMU's software emulation (slower)",
	       error->message);
	check->accel = g_strdup("tcg");
}

/* key=value lines of the image-info file next to the kernel */
static gchar *
image_info_value(const gchar *contents, const gchar *key)
{
	g_auto(GStrv) lines = g_strsplit(contents, "\n", -1);
	g_autofree gchar *prefix = g_strconcat(key, "=", NULL);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], prefix))
			return g_strstrip(g_strdup(lines[i] + strlen(prefix)));
	}
	return NULL;
}

static gboolean
check_guest_image(Check *check)
{
	CocoonConfig *config = check->options->config;
	g_autofree gchar *dir = g_path_get_dirname(config->kernel);
	g_autofree gchar *info_path = g_build_filename(dir, "image-info", NULL);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *agent_version = NULL;
	g_autofree gchar *kernel_version = NULL;
	const struct {
		const gchar *what;
		const gchar *path;
	} images[] = {{"kernel", config->kernel}, {"initrd", config->initrd}};
	gboolean ok = TRUE;

	for (guint i = 0; i < G_N_ELEMENTS(images); i++) {
		if (g_file_test(images[i].path, G_FILE_TEST_IS_REGULAR))
			continue;
		report(check, CHECK_FAIL, "guest",
		       "%s %s: %s (hypervisor.%s; build one with scripts/build-guest-image.sh)",
		       images[i].what, images[i].path, g_strerror(ENOENT), images[i].what);
		ok = FALSE;
	}
	if (!ok)
		return FALSE;
	if (!g_file_get_contents(info_path, &contents, NULL, NULL)) {
		report(check, CHECK_WARN, "guest",
		       "kernel %s, initrd %s; no %s, so the agent version is not known",
		       config->kernel, config->initrd, info_path);
		return TRUE;
	}
	agent_version = image_info_value(contents, "agent_version");
	kernel_version = image_info_value(contents, "kernel_version");
	if (g_strcmp0(agent_version, COCOON_VERSION) != 0) {
		report(check, CHECK_FAIL, "guest",
		       "%s: agent %s, but this is Cocoon %s: rebuild the image "
		       "(scripts/build-guest-image.sh)",
		       info_path, agent_version != NULL ? agent_version : "(unknown)",
		       COCOON_VERSION);
		return FALSE;
	}
	report(check, CHECK_OK, "guest", "%s: agent %s, kernel %s", dir, agent_version,
	       kernel_version != NULL ? kernel_version : "?");
	return TRUE;
}

static gchar *
console_tail(guint lines, gpointer data)
{
	return cocoon_hypervisor_console_tail(data, MIN(lines, CHECK_CONSOLE_LINES));
}

/* a real VM, as a pod would get, up to the agent's first answer */
static void
check_boot(Check *check)
{
	CocoonConfig *config = check->options->config;
	guint timeout_ms = check->options->boot_timeout_ms != 0 ? check->options->boot_timeout_ms
								: config->boot_timeout_ms;
	g_autoptr(CocoonVmConfig) vm_config = NULL;
	g_autoptr(CocoonHypervisor) hypervisor = NULL;
	g_autoptr(CocoonAgentClient) agent = NULL;
	g_autoptr(Cocoon__Agent__V1__PingResponse) ping = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *state_dir = g_dir_make_tmp("cocoon-check-XXXXXX", &error);
	g_autofree gchar *shared_dir = NULL;
	gint64 started;
	gint64 boot_ms;

	if (state_dir == NULL) {
		report(check, CHECK_FAIL, "boot", "temporary directory: %s", error->message);
		return;
	}
	shared_dir = g_build_filename(state_dir, "shared", NULL);
	vm_config = cocoon_pod_vm_config_new(config, CHECK_BOOT_SANDBOX_ID, state_dir, shared_dir);

	started = g_get_monotonic_time();
	hypervisor = cocoon_qemu_new(vm_config, &error);
	if (hypervisor == NULL || !cocoon_hypervisor_start(hypervisor, &error)) {
		report(check, CHECK_FAIL, "boot", "QEMU did not start: %s", error->message);
		g_clear_pointer(&hypervisor, cocoon_hypervisor_free);
		cocoon_remove_tree(state_dir);
		return;
	}
	agent = cocoon_agent_client_connect_wait(
		cocoon_hypervisor_get_agent_socket_path(hypervisor), CHECK_BOOT_SANDBOX_ID,
		timeout_ms, console_tail, hypervisor, NULL, &error);
	boot_ms = (g_get_monotonic_time() - started) / 1000;
	if (agent != NULL)
		ping = cocoon_agent_client_ping(agent, COCOON_AGENT_TIMEOUT_DEFAULT, NULL, &error);
	if (ping == NULL) {
		report(check, CHECK_FAIL, "boot",
		       "the guest did not answer within %u ms (under %s): %s", timeout_ms,
		       cocoon_accel_to_string(cocoon_hypervisor_get_accel(hypervisor)),
		       error->message);
	} else if (g_strcmp0(ping->agent_version, COCOON_VERSION) != 0) {
		report(check, CHECK_FAIL, "boot",
		       "booted in %" G_GINT64_FORMAT " ms, but its agent is %s, not %s: rebuild "
		       "the guest image",
		       boot_ms, ping->agent_version, COCOON_VERSION);
	} else {
		report(check, CHECK_OK, "boot",
		       "a %u MiB %s VM booted under %s, agent %s answered after %" G_GINT64_FORMAT
		       " ms",
		       config->memory_mib, config->machine,
		       cocoon_accel_to_string(cocoon_hypervisor_get_accel(hypervisor)),
		       ping->agent_version, boot_ms);
		g_free(check->accel);
		check->accel =
			g_strdup(cocoon_accel_to_string(cocoon_hypervisor_get_accel(hypervisor)));
	}
	if (agent != NULL) {
		/* a clean power-off first; stop() kills whatever is left */
		cocoon_agent_client_shutdown(agent, 2000, NULL, NULL);
		cocoon_agent_client_close(agent);
	}
	g_clear_error(&error);
	if (!cocoon_hypervisor_stop(hypervisor, CHECK_STOP_TIMEOUT_MS, &error))
		report(check, CHECK_WARN, "boot", "stopping the test VM: %s", error->message);
	g_clear_pointer(&hypervisor, cocoon_hypervisor_free);
	cocoon_remove_tree(state_dir);
}

static void
check_containerd(Check *check)
{
	const gchar *path = check->options->containerd_config != NULL
				    ? check->options->containerd_config
				    : DEFAULT_CONTAINERD_TOML;
	g_autofree gchar *contents = NULL;
	g_autofree gchar *snippet =
		g_build_filename(COCOON_DATADIR, "cocoon", "containerd-cocoon.toml", NULL);
	g_autofree gchar *shim = g_find_program_in_path("containerd-shim-cocoon-v2");

	if (shim == NULL)
		report(check, CHECK_WARN, "containerd",
		       "containerd-shim-cocoon-v2 is not in PATH: containerd will not find the "
		       "runtime %s",
		       RUNTIME_TYPE);
	else
		report(check, CHECK_OK, "containerd", "shim %s", shim);
	if (!g_file_get_contents(path, &contents, NULL, NULL)) {
		report(check, CHECK_WARN, "containerd",
		       "no %s: for CRI (Kubernetes), create it with the runtime from %s; ctr needs "
		       "nothing (ctr run --runtime %s)",
		       path, snippet, RUNTIME_TYPE);
		return;
	}
	if (strstr(contents, RUNTIME_TYPE) != NULL) {
		report(check, CHECK_OK, "containerd", "%s registers %s", path, RUNTIME_TYPE);
		return;
	}
	report(check, CHECK_WARN, "containerd",
	       "%s does not mention %s: for CRI (Kubernetes), append %s to it and restart "
	       "containerd; ctr needs nothing (ctr run --runtime %s)",
	       path, RUNTIME_TYPE, snippet, RUNTIME_TYPE);
}

static void
check_cgroups(Check *check)
{
	struct statfs fs;
	g_autofree gchar *unified = g_build_filename("/sys/fs/cgroup", "unified", NULL);

	if (statfs("/sys/fs/cgroup", &fs) < 0) {
		report(check, CHECK_WARN, "cgroup", "/sys/fs/cgroup: %s", g_strerror(errno));
		return;
	}
	if (fs.f_type == CGROUP2_SUPER_MAGIC) {
		report(check, CHECK_OK, "cgroup", "unified (cgroup v2)");
		return;
	}
	if (statfs(unified, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
		report(check, CHECK_INFO, "cgroup",
		       "hybrid (cgroup v1 with v2 at %s): the shim reports v1 metrics; guests "
		       "always use cgroup v2",
		       unified);
	else
		report(check, CHECK_INFO, "cgroup",
		       "legacy (cgroup v1): the shim reports v1 metrics; guests always use cgroup "
		       "v2");
}

gint
cocoonctl_check(CocoonctlOptions *options)
{
	Check check = {options, cocoon_json_new_array(), 0, NULL};
	gboolean qemu_ok, image_ok;

	check_config(&check);
	qemu_ok = check_qemu(&check);
	if (!check_virtiofsd(&check))
		qemu_ok = FALSE;
	check_kvm(&check);
	image_ok = check_guest_image(&check);
	if (qemu_ok && image_ok)
		check_boot(&check);
	else
		report(&check, CHECK_INFO, "boot", "not tried: %s",
		       !qemu_ok ? "no usable QEMU or virtiofsd" : "no guest image");
	check_containerd(&check);
	check_cgroups(&check);

	if (options->json) {
		g_autoptr(CocoonJson) json = cocoon_json_new_object();
		g_autofree gchar *text = NULL;
		cocoon_json_object_set_boolean(json, "ok", check.failures == 0);
		cocoon_json_object_set_string(json, "accel",
					      check.accel != NULL ? check.accel : "");
		cocoon_json_object_set(json, "checks", g_steal_pointer(&check.results));
		text = cocoon_json_to_string(json, TRUE);
		g_print("%s\n", text);
	} else if (check.failures == 0) {
		g_print("check passed: this host can run Cocoon pods (%s)\n", check.accel);
	} else {
		g_print("check failed: %u problem%s\n", check.failures,
			check.failures == 1 ? "" : "s");
	}
	cocoon_json_free(check.results);
	g_free(check.accel);
	return check.failures == 0 ? COCOONCTL_EXIT_OK : COCOONCTL_EXIT_FAILED;
}
