/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoonctl"

#include "config.h"

#include "cocoonctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cocoon-accel.h"
#include "cocoon-agent-client.h"
#include "cocoon-fd.h"
#include "cocoon-fs.h"
#include "cocoon-json.h"
#include "cocoon-pidfd.h"
#include "cocoon-pod-vm.h"
#include "cocoon-qemu.h"
#include "cocoon-qemu-cmdline.h"
#include "cocoon-uid-lease.h"
#include "cocoonctl-confine.h"

#define CHECK_BOOT_SANDBOX_ID	 "cocoonctl-check"
#define CHECK_STOP_TIMEOUT_MS	 5000
#define CHECK_CONSOLE_LINES	 15
#define DEFAULT_CONTAINERD_TOML	 "/etc/containerd/config.toml"
#define RUNTIME_TYPE		 "io.containerd.cocoon.v2"
#define SECCOMP_PROBE_TIMEOUT_MS 10000
#define LEASE_OWNERS_SHOWN	 3
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

/* ---------------------------------------------------------------- confinement */

/* a confinement problem fails the check only when pods are confined (hypervisor.confine) */
static CheckStatus
confine_problem(Check *check)
{
	return check->options->config->confine ? CHECK_FAIL : CHECK_WARN;
}

static void
check_confine_setting(Check *check)
{
	const CocoonConfig *config = check->options->config;

	if (config->confine)
		report(check, CHECK_OK, "confine",
		       "hypervisor.confine = true: each pod's QEMU runs jailed, as a uid of "
		       "%u-%u",
		       config->uid_base, config->uid_base + config->uid_count - 1);
	else
		report(check, CHECK_WARN, "confine",
		       "hypervisor.confine = false: pods run unconfined, their QEMU as root with "
		       "every capability (the lines below say whether confinement could be applied "
		       "here)");
}

/* no account, group or subordinate id range of the host owns a uid (or gid) of the range */
static void
check_uid_range(Check *check)
{
	const CocoonConfig *config = check->options->config;
	static const struct {
		const gchar *path;
		CocoonctlIdFile kind;
	} files[] = {
		{"/etc/passwd", COCOONCTL_ID_FILE_PASSWD},
		{"/etc/group", COCOONCTL_ID_FILE_PASSWD},
		{"/etc/subuid", COCOONCTL_ID_FILE_SUBID},
		{"/etc/subgid", COCOONCTL_ID_FILE_SUBID},
	};
	/* the configuration bounds both: base <= G_MAXINT32, count <= 2^24 */
	guint32 last = config->uid_base + config->uid_count - 1;
	g_autoptr(GPtrArray) read = g_ptr_array_new();
	gboolean clean = TRUE;

	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree gchar *contents = NULL;
		g_autofree gchar *first = NULL;
		g_autoptr(GError) error = NULL;
		guint overlaps;

		if (!g_file_get_contents(files[i].path, &contents, NULL, &error)) {
			if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
				report(check, CHECK_WARN, "uid-range", "%s", error->message);
				clean = FALSE;
			}
			continue;
		}
		g_ptr_array_add(read, (gpointer)files[i].path);
		overlaps = cocoonctl_id_file_overlaps(contents, files[i].kind, config->uid_base,
						      config->uid_count, &first);
		if (overlaps == 0)
			continue;
		clean = FALSE;
		report(check, confine_problem(check), "uid-range",
		       "%s: %u entr%s with ids of %u-%u (confine.uid_base, confine.uid_count), "
		       "first %s: a pod's QEMU would share its ids; move the range or the entries",
		       files[i].path, overlaps, overlaps == 1 ? "y" : "ies", config->uid_base, last,
		       first);
	}
	if (clean) {
		g_autofree gchar *names = NULL;
		g_ptr_array_add(read, NULL);
		names = g_strjoinv(", ", (gchar **)read->pdata);
		report(check, CHECK_OK, "uid-range",
		       "uids and gids %u-%u (confine.uid_*) are in no entry of %s",
		       config->uid_base, last,
		       names[0] != '\0' ? names : "the id files (none here)");
	}
}

/* the namespaces of the jail, made by a child that exits at once */
static void
check_namespaces(Check *check)
{
	pid_t pid;
	int status = 0;
	gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	pid_t waited = 0;

	if (!cocoon_pidfd_supported()) {
		report(check, confine_problem(check), "namespaces",
		       "pidfd_open(2) is missing (Linux >= 5.3): the shim cannot start a confined "
		       "QEMU");
		return;
	}
	if (geteuid() != 0) {
		report(check, CHECK_WARN, "namespaces",
		       "not tried: making namespaces needs root (the shim runs as root; so should "
		       "cocoonctl check)");
		return;
	}
	pid = fork();
	if (pid < 0) {
		report(check, CHECK_WARN, "namespaces", "not tried: fork: %s", g_strerror(errno));
		return;
	}
	if (pid == 0) {
		/* system calls only: the parent may have threads */
		if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
			_exit(errno < 128 ? errno : 127);
		/* the jail's first step: nothing mounted inside reaches the host */
		if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
			_exit(errno < 127 ? 128 + errno : 255);
		_exit(0);
	}
	while ((waited = waitpid(pid, &status, WNOHANG)) == 0 && g_get_monotonic_time() < deadline)
		g_usleep(10 * 1000);
	if (waited == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		report(check, confine_problem(check), "namespaces",
		       "the unshare(2) child did not exit within 5 s");
		return;
	}
	if (waited < 0 || !WIFEXITED(status)) {
		report(check, confine_problem(check), "namespaces",
		       "the unshare(2) child did not exit normally");
		return;
	}
	if (WEXITSTATUS(status) == 0) {
		report(check, CHECK_OK, "namespaces",
		       "new mount, PID, IPC and UTS namespaces can be made (unshare(2) as root), "
		       "\"/\" made a slave in them; pidfd_open(2) works");
		return;
	}
	if (WEXITSTATUS(status) < 128)
		report(check, confine_problem(check), "namespaces",
		       "unshare(CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWIPC|CLONE_NEWUTS): %s (in a "
		       "container? it must allow making namespaces)",
		       g_strerror(WEXITSTATUS(status)));
	else
		report(check, confine_problem(check), "namespaces",
		       "in a new mount namespace, making \"/\" a slave: %s",
		       WEXITSTATUS(status) < 255 ? g_strerror(WEXITSTATUS(status) - 128) : "?");
}

typedef struct {
	GAsyncResult *result;
	gboolean timed_out;
} ProbeWait;

static void
on_probe_done(GObject *source, GAsyncResult *result, gpointer data)
{
	ProbeWait *wait = data;
	wait->result = g_object_ref(result);
}

static gboolean
on_probe_timeout(gpointer data)
{
	ProbeWait *wait = data;
	wait->timed_out = TRUE;
	return G_SOURCE_REMOVE;
}

/* the first line of QEMU's output that is not QMP's JSON: its complaint */
static gchar *
qemu_complaint(const gchar *output)
{
	g_auto(GStrv) lines = g_strsplit(output != NULL ? output : "", "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		gchar *line = g_strstrip(lines[i]);
		if (line[0] != '\0' && line[0] != '{')
			return g_strdup(line);
	}
	return g_strdup("no message");
}

/* QEMU's own seccomp filter (-sandbox), as the shim asks for it: a QEMU without it refuses */
static void
check_qemu_sandbox(Check *check, gboolean qemu_found)
{
	const gchar *binary = check->options->config->qemu_binary;
	const gchar *argv[] = {binary,	   "-sandbox",	  COCOON_QEMU_SANDBOX_OPTIONS,
			       "-machine", "none",	  "-display",
			       "none",	   "-nodefaults", "-S",
			       "-qmp",	   "stdio",	  NULL};
	g_autoptr(GMainContext) context = NULL;
	g_autoptr(GSubprocess) process = NULL;
	g_autoptr(GCancellable) cancellable = NULL;
	g_autoptr(GSource) timeout = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *output = NULL;
	g_autofree gchar *complaint = NULL;
	ProbeWait wait = {NULL, FALSE};
	gboolean finished;

	if (!qemu_found) {
		report(check, CHECK_INFO, "seccomp", "not tried: no usable QEMU");
		return;
	}
	process = g_subprocess_newv(argv,
				    G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
					    G_SUBPROCESS_FLAGS_STDERR_MERGE,
				    &error);
	if (process == NULL) {
		report(check, confine_problem(check), "seccomp", "%s: %s", binary, error->message);
		return;
	}
	/* a deadline of our own: communicate has none */
	context = g_main_context_new();
	cancellable = g_cancellable_new();
	g_main_context_push_thread_default(context);
	g_subprocess_communicate_utf8_async(
		process, "{\"execute\":\"qmp_capabilities\"}{\"execute\":\"quit\"}\n", cancellable,
		on_probe_done, &wait);
	timeout = g_timeout_source_new(SECCOMP_PROBE_TIMEOUT_MS);
	g_source_set_callback(timeout, on_probe_timeout, &wait, NULL);
	g_source_attach(timeout, context);
	while (wait.result == NULL && !wait.timed_out)
		g_main_context_iteration(context, TRUE);
	if (wait.result == NULL) {
		g_subprocess_force_exit(process);
		g_cancellable_cancel(cancellable);
		while (wait.result == NULL)
			g_main_context_iteration(context, TRUE);
	}
	g_source_destroy(timeout);
	finished =
		g_subprocess_communicate_utf8_finish(process, wait.result, &output, NULL, &error);
	g_clear_object(&wait.result);
	if (!wait.timed_out && finished)
		g_subprocess_wait(process, NULL, NULL);
	g_main_context_pop_thread_default(context);

	if (wait.timed_out) {
		report(check, confine_problem(check), "seccomp",
		       "%s -sandbox %s did not quit within %u ms", binary,
		       COCOON_QEMU_SANDBOX_OPTIONS, SECCOMP_PROBE_TIMEOUT_MS);
		return;
	}
	if (!finished) {
		report(check, confine_problem(check), "seccomp", "%s -sandbox: %s", binary,
		       error->message);
		return;
	}
	if (g_subprocess_get_if_exited(process) && g_subprocess_get_exit_status(process) == 0) {
		report(check, CHECK_OK, "seccomp",
		       "QEMU's own filter works: %s -sandbox %s started and quit", binary,
		       COCOON_QEMU_SANDBOX_OPTIONS);
		return;
	}
	complaint = qemu_complaint(output);
	report(check, confine_problem(check), "seccomp", "%s -sandbox %s failed (%s %d): %s%s",
	       binary, COCOON_QEMU_SANDBOX_OPTIONS,
	       g_subprocess_get_if_exited(process) ? "exit status" : "signal",
	       g_subprocess_get_if_exited(process) ? g_subprocess_get_exit_status(process)
						   : g_subprocess_get_term_sig(process),
	       complaint,
	       strstr(complaint, "seccomp support is disabled") != NULL
		       ? " (a QEMU built without libseccomp: Debian's qemu-system-x86 has it)"
		       : "");
}

/* a lease file's uid: its whole name, a number */
static gboolean
lease_name_is_uid(const gchar *name)
{
	gsize length = strlen(name);
	if (length == 0 || length > 10)
		return FALSE;
	for (const gchar *p = name; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p))
			return FALSE;
	}
	return TRUE;
}

/* the lease directory of the shims (cocoon-uid-lease.h) and the uids leased now */
static void
check_uid_leases(Check *check)
{
	const gchar *dir = COCOON_UID_LEASE_DIR_DEFAULT;
	cocoon_autofd int dir_fd = -1;
	g_autoptr(GString) owners = g_string_new(NULL);
	struct stat st;
	struct dirent *entry;
	DIR *entries;
	guint files = 0, leased = 0;

	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			report(check, CHECK_OK, "uid-leases",
			       "%s does not exist yet (the first confined pod makes it): no uid "
			       "leased",
			       dir);
		else
			report(check, confine_problem(check), "uid-leases", "%s: %s", dir,
			       g_strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
		report(check, confine_problem(check), "uid-leases",
		       "%s must be a directory of root's that others cannot write, not a %s of uid "
		       "%u, mode %04o: remove it (the shim makes it again)",
		       dir, S_ISDIR(st.st_mode) ? "directory" : "non-directory", (guint)st.st_uid,
		       (guint)(st.st_mode & 07777));
		return;
	}
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	entries = dir_fd >= 0 ? fdopendir(fcntl(dir_fd, F_DUPFD_CLOEXEC, 0)) : NULL;
	if (entries == NULL) {
		report(check, errno == EACCES ? CHECK_WARN : confine_problem(check), "uid-leases",
		       "%s: root's, mode %04o; the leases cannot be counted: %s%s", dir,
		       (guint)(st.st_mode & 07777), g_strerror(errno),
		       errno == EACCES ? " (run as root)" : "");
		return;
	}
	while ((entry = readdir(entries)) != NULL) {
		cocoon_autofd int fd = -1;
		gchar text[128];
		ssize_t length;

		if (!lease_name_is_uid(entry->d_name))
			continue;
		fd = openat(dir_fd, entry->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		files++;
		/* a file we can lock is free: let it go at once, a shim may want it */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			flock(fd, LOCK_UN);
			continue;
		}
		if (errno != EWOULDBLOCK)
			continue;
		leased++;
		if (leased > LEASE_OWNERS_SHOWN)
			continue;
		length = pread(fd, text, sizeof(text) - 1, 0);
		text[MAX(length, 0)] = '\0';
		g_strstrip(text);
		g_string_append_printf(owners, "%s%s: %s", owners->len > 0 ? "; " : "",
				       entry->d_name, text[0] != '\0' ? text : "?");
	}
	closedir(entries);
	report(check, CHECK_OK, "uid-leases",
	       "%s: root's, mode %04o; %u uid%s leased now (%u lease file%s)%s%s%s%s", dir,
	       (guint)(st.st_mode & 07777), leased, leased == 1 ? "" : "s", files,
	       files == 1 ? "" : "s", leased > 0 ? ": " : "", owners->str,
	       leased > LEASE_OWNERS_SHOWN ? "; ..." : "",
	       leased > 0 ? " (uid: shim pid, pod)" : "");
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
	gboolean qemu_found, qemu_ok, image_ok;

	check_config(&check);
	qemu_found = check_qemu(&check);
	qemu_ok = qemu_found;
	if (!check_virtiofsd(&check))
		qemu_ok = FALSE;
	check_kvm(&check);
	image_ok = check_guest_image(&check);
	check_confine_setting(&check);
	check_uid_range(&check);
	check_namespaces(&check);
	check_qemu_sandbox(&check, qemu_found);
	check_uid_leases(&check);
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
