/* SPDX-License-Identifier: Apache-2.0 */
/*
 * guest-smoke: the guest without containerd. Boots a VM from a guest image with the QEMU driver,
 * waits for cocoon-agent, runs containers on a busybox rootfs shared over 9p and reads their stdio
 * through the host side of the stdio mux, as the shim does, then tears everything down and checks
 * that no QEMU is left.
 *
 *   guest-smoke [--kernel K --initrd I]           echo/uname/exit 3, an exec in the same container
 *   guest-smoke --stdout-bytes N                  N bytes of `yes abcdefghij | head -c N`, checked
 *   guest-smoke --stdout-bytes N --stdout-zeros   N bytes of dd from /dev/zero: the mux, not `yes`
 *   guest-smoke --boot-only N                     N boots: time to agent ready, idle QEMU RSS
 *
 * Prints "PASS: ..." / "FAIL: ..." lines and "TIME: ..." figures; exit 0 when everything passed,
 * 1 on a failure, 77 (skip) without a kernel or QEMU.
 */
#define G_LOG_DOMAIN "guest-smoke"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "agent.pb-c.h"
#include "cocoon-agent-client.h"
#include "cocoon-fd.h"
#include "cocoon-hypervisor.h"
#include "cocoon-json.h"
#include "cocoon-qemu.h"
#include "cocoon-stdio-mux.h"

/* TCG on a busy 2-core host: generous */
#define BOOT_TIMEOUT_S_DEFAULT 180
#define CALL_TIMEOUT_MS	       60000
#define PROCESS_TIMEOUT_MS     300000
#define DRAIN_TIMEOUT_MS       30000
#define STOP_TIMEOUT_MS	       10000
#define IDLE_BEFORE_RSS_MS     2000
#define CONSOLE_TAIL_LINES     20
/* text outputs are kept up to this size; larger streams are only counted */
#define OUTPUT_TEXT_MAX (1024 * 1024)
/* `yes abcdefghij` prints this line forever */
#define STDOUT_PATTERN "abcdefghij\n"
static const gchar zero_pattern[1] = {0};

static gchar *opt_kernel;
static gchar *opt_initrd;
static gchar *opt_qemu;
static gchar *opt_machine;
static gchar *opt_busybox;
static gint opt_memory_mib = 256;
static gint opt_boot_timeout_s = BOOT_TIMEOUT_S_DEFAULT;
static gint64 opt_stdout_bytes;
static gboolean opt_stdout_zeros;
static gint opt_boot_only;
static gboolean opt_keep;

static const GOptionEntry option_entries[] = {
	{"kernel", 0, 0, G_OPTION_ARG_FILENAME, &opt_kernel,
	 "guest kernel (default $COCOON_GUEST_KERNEL)", "VMLINUX"},
	{"initrd", 0, 0, G_OPTION_ARG_FILENAME, &opt_initrd,
	 "guest initramfs (default $COCOON_GUEST_INITRD)", "INITRD"},
	{"qemu", 0, 0, G_OPTION_ARG_FILENAME, &opt_qemu,
	 "QEMU binary (default $COCOON_QEMU, else qemu-system-x86_64)", "PATH"},
	{"machine", 0, 0, G_OPTION_ARG_STRING, &opt_machine, "microvm (default) or q35", "NAME"},
	{"busybox", 0, 0, G_OPTION_ARG_FILENAME, &opt_busybox,
	 "a statically linked busybox for the rootfs (default /bin/busybox)", "PATH"},
	{"memory", 0, 0, G_OPTION_ARG_INT, &opt_memory_mib, "guest memory in MiB (default 256)",
	 "MIB"},
	{"boot-timeout", 0, 0, G_OPTION_ARG_INT, &opt_boot_timeout_s,
	 "seconds until the agent must answer (default 180)", "S"},
	{"stdout-bytes", 0, 0, G_OPTION_ARG_INT64, &opt_stdout_bytes,
	 "stream N bytes of container stdout through the mux and check them", "N"},
	{"stdout-zeros", 0, 0, G_OPTION_ARG_NONE, &opt_stdout_zeros,
	 "--stdout-bytes from dd if=/dev/zero (fast in the guest) instead of yes | head", NULL},
	{"boot-only", 0, 0, G_OPTION_ARG_INT, &opt_boot_only,
	 "boot N times: time to agent ready, median, idle QEMU RSS", "N"},
	{"keep", 0, 0, G_OPTION_ARG_NONE, &opt_keep, "keep the temporary directory", NULL},
	{NULL},
};

static guint failures;

static void pass(const gchar *format, ...) G_GNUC_PRINTF(1, 2);
static void fail(const gchar *format, ...) G_GNUC_PRINTF(1, 2);

static void
pass(const gchar *format, ...)
{
	g_autofree gchar *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_print("PASS: %s\n", message);
}

static void
fail(const gchar *format, ...)
{
	g_autofree gchar *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_print("FAIL: %s\n", message);
	failures++;
}

static gint64
elapsed_ms(gint64 since_us)
{
	return (g_get_monotonic_time() - since_us) / 1000;
}

/* the last lines of a file, "" when there is none */
static gchar *
file_tail(const gchar *path, guint lines)
{
	g_autofree gchar *text = NULL;
	gsize length = 0;
	gsize start;
	guint seen = 0;

	if (!g_file_get_contents(path, &text, &length, NULL))
		return g_strdup("");
	while (length > 0 && text[length - 1] == '\n')
		length--;
	for (start = length; start > 0; start--) {
		if (text[start - 1] == '\n' && ++seen == lines)
			break;
	}
	return g_utf8_make_valid(text + start, (gssize)(length - start));
}

static gchar *
console_tail(guint lines, gpointer user_data)
{
	return file_tail(user_data, lines);
}

/* ---- outputs: one reader thread per pipe the mux writes into ---- */

typedef struct {
	gchar *name;
	gint fd; /* read end */
	GThread *thread;
	/* text mode: the bytes, up to OUTPUT_TEXT_MAX */
	GString *text;
	/* pattern mode: every byte must be pattern[offset % length] */
	const gchar *pattern;
	gsize pattern_length;
	guint64 received;
	guint64 first_mismatch; /* G_MAXUINT64: none */
	gint64 first_byte_us;
	gint64 eof_us;
	gint read_errno;
} Output;

static gpointer
output_thread(gpointer data)
{
	Output *output = data;
	gsize buffer_size = 64 * 1024;
	g_autofree gchar *buffer = g_malloc(buffer_size);
	g_autofree gchar *expected = NULL;

	/* the pattern repeated so that any offset has a full buffer of expected bytes after it */
	if (output->pattern != NULL) {
		expected = g_malloc(buffer_size + output->pattern_length);
		for (gsize i = 0; i < buffer_size + output->pattern_length; i++)
			expected[i] = output->pattern[i % output->pattern_length];
	}
	for (;;) {
		gssize n = read(output->fd, buffer, buffer_size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			output->read_errno = errno;
			break;
		}
		if (n == 0)
			break;
		if (output->received == 0)
			output->first_byte_us = g_get_monotonic_time();
		if (output->text != NULL && output->text->len < OUTPUT_TEXT_MAX)
			g_string_append_len(output->text, buffer,
					    MIN((gsize)n, OUTPUT_TEXT_MAX - output->text->len));
		if (expected != NULL && output->first_mismatch == G_MAXUINT64) {
			const gchar *want = expected + output->received % output->pattern_length;

			if (memcmp(buffer, want, (gsize)n) != 0) {
				for (gssize i = 0; i < n; i++) {
					if (buffer[i] != want[i]) {
						output->first_mismatch =
							output->received + (guint64)i;
						break;
					}
				}
			}
		}
		output->received += (guint64)n;
	}
	output->eof_us = g_get_monotonic_time();
	cocoon_fd_closep(&output->fd);
	return NULL;
}

/* a pipe whose write end goes to the mux (ret_write_fd) and whose read end a thread drains */
static Output *
output_new(const gchar *name, const gchar *pattern, gsize pattern_length, gint *ret_write_fd,
	   GError **error)
{
	Output *output;
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "pipe for %s: %s",
			    name, g_strerror(errno));
		return NULL;
	}
	output = g_new0(Output, 1);
	output->name = g_strdup(name);
	output->fd = fds[0];
	output->first_mismatch = G_MAXUINT64;
	if (pattern != NULL) {
		output->pattern = pattern;
		output->pattern_length = pattern_length;
	} else {
		output->text = g_string_new(NULL);
	}
	output->thread = g_thread_new(name, output_thread, output);
	*ret_write_fd = fds[1];
	return output;
}

/* waits for EOF: call only once the write end is closed (by the mux's EOF or remove_stream) */
static void
output_join(Output *output)
{
	if (output->thread != NULL)
		g_thread_join(g_steal_pointer(&output->thread));
}

static void
output_free(Output *output)
{
	if (output == NULL)
		return;
	output_join(output);
	cocoon_fd_closep(&output->fd);
	if (output->text != NULL)
		g_string_free(output->text, TRUE);
	g_free(output->name);
	g_free(output);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Output, output_free)

/* ---- the VM ---- */

typedef struct {
	gchar *id;
	/* the temporary directory: state/ holds QEMU's files, state/shared/ is the 9p share */
	gchar *dir;
	gchar *state_dir;
	gchar *shared_dir;
	gchar *console_path;
	CocoonHypervisor *hypervisor;
	CocoonAgentClient *agent;
	CocoonStdioMux *mux;
	GCancellable *died;
	gchar *died_reason;
	gboolean died_reported;
	gboolean stopping;
	GPid pid;
	gint64 boot_ms;
} Vm;

static void
remove_tree(const gchar *path)
{
	const gchar *argv[] = {"rm", "-rf", "--one-file-system", path, NULL};
	g_autoptr(GError) error = NULL;
	gint status = 0;

	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
			  &status, &error) ||
	    !g_spawn_check_wait_status(status, &error))
		g_printerr("guest-smoke: removing %s: %s\n", path, error->message);
}

static void
vm_free(Vm *vm)
{
	if (vm == NULL)
		return;
	if (vm->agent != NULL)
		cocoon_agent_client_close(vm->agent);
	g_clear_pointer(&vm->agent, cocoon_agent_client_unref);
	g_clear_pointer(&vm->mux, cocoon_stdio_mux_unref);
	/* kills a QEMU that is still there */
	g_clear_pointer(&vm->hypervisor, cocoon_hypervisor_free);
	if (vm->dir != NULL) {
		if (opt_keep)
			g_print("guest-smoke: kept %s\n", vm->dir);
		else
			remove_tree(vm->dir);
	}
	g_clear_object(&vm->died);
	g_free(vm->died_reason);
	g_free(vm->console_path);
	g_free(vm->shared_dir);
	g_free(vm->state_dir);
	g_free(vm->dir);
	g_free(vm->id);
	g_free(vm);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Vm, vm_free)

static Vm *
vm_new(const gchar *id, GError **error)
{
	g_autoptr(Vm) vm = g_new0(Vm, 1);

	vm->id = g_strdup(id);
	vm->dir = g_dir_make_tmp("cocoon-guest-smoke-XXXXXX", error);
	if (vm->dir == NULL)
		return NULL;
	vm->state_dir = g_build_filename(vm->dir, "state", NULL);
	vm->shared_dir = g_build_filename(vm->state_dir, "shared", NULL);
	vm->console_path = g_build_filename(vm->state_dir, COCOON_VM_CONSOLE_LOG, NULL);
	vm->died = g_cancellable_new();
	if (g_mkdir_with_parents(vm->shared_dir, 0700) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "mkdir %s: %s",
			    vm->shared_dir, g_strerror(errno));
		return NULL;
	}
	return g_steal_pointer(&vm);
}

static void
vm_died(CocoonHypervisor *hypervisor, const gchar *reason, gpointer user_data)
{
	Vm *vm = user_data;

	g_free(vm->died_reason);
	vm->died_reason = g_strdup(reason);
	if (!vm->stopping) {
		g_printerr("guest-smoke: QEMU exited unexpectedly: %s\n", reason);
		g_cancellable_cancel(vm->died);
	}
}

typedef struct {
	const gchar *socket_path;
	const gchar *sandbox_id;
	const gchar *console_path;
	guint timeout_ms;
	GCancellable *cancellable;
	CocoonAgentClient *client;
	GError *error;
	gint done;
} AgentWait;

static gpointer
agent_wait_thread(gpointer data)
{
	AgentWait *wait = data;

	wait->client = cocoon_agent_client_connect_wait(
		wait->socket_path, wait->sandbox_id, wait->timeout_ms, console_tail,
		(gpointer)wait->console_path, wait->cancellable, &wait->error);
	g_atomic_int_set(&wait->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

static gint
connect_unix(const gchar *path, GError **error)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	cocoon_autofd int fd = -1;

	if (strlen(path) >= sizeof(address.sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "socket path %s is too long", path);
		return -1;
	}
	g_strlcpy(address.sun_path, path, sizeof(address.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "connect %s: %s", path,
			    g_strerror(errno));
		return -1;
	}
	return cocoon_steal_fd(&fd);
}

/*
 * starts QEMU and waits for the agent; this thread owns the hypervisor and iterates the default
 * context (QEMU's exit watch, QMP events) while another thread waits for the agent
 */
static gboolean
vm_boot(Vm *vm, GError **error)
{
	g_autoptr(CocoonVmConfig) config = cocoon_vm_config_new();
	AgentWait wait = {0};
	GThread *thread;
	cocoon_autofd int stdio_fd = -1;
	gint64 started;

	config->sandbox_id = g_strdup(vm->id);
	config->state_dir = g_strdup(vm->state_dir);
	config->shared_dir = g_strdup(vm->shared_dir);
	config->kernel = g_strdup(opt_kernel);
	config->initrd = g_strdup(opt_initrd);
	config->memory_mib = (guint)opt_memory_mib;
	g_free(config->qemu_binary);
	config->qemu_binary = g_strdup(opt_qemu);
	if (opt_machine != NULL) {
		g_free(config->machine);
		config->machine = g_strdup(opt_machine);
	}
	vm->hypervisor = cocoon_qemu_new(config, error);
	if (vm->hypervisor == NULL)
		return FALSE;
	cocoon_hypervisor_set_died_func(vm->hypervisor, vm_died, vm, NULL);

	started = g_get_monotonic_time();
	if (!cocoon_hypervisor_start(vm->hypervisor, error))
		return FALSE;
	vm->pid = cocoon_hypervisor_get_pid(vm->hypervisor);

	wait.socket_path = cocoon_hypervisor_get_agent_socket_path(vm->hypervisor);
	wait.sandbox_id = vm->id;
	wait.console_path = vm->console_path;
	wait.timeout_ms = (guint)opt_boot_timeout_s * 1000;
	wait.cancellable = vm->died;
	thread = g_thread_new("agent-wait", agent_wait_thread, &wait);
	while (!g_atomic_int_get(&wait.done))
		g_main_context_iteration(NULL, TRUE);
	g_thread_join(thread);
	if (wait.client == NULL) {
		if (vm->died_reason != NULL) {
			g_autofree gchar *tail = file_tail(vm->console_path, CONSOLE_TAIL_LINES);
			g_clear_error(&wait.error);
			vm->died_reported = TRUE;
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "sandbox %s: QEMU exited during boot (%s)\n"
				    "--- last console lines ---\n%s",
				    vm->id, vm->died_reason, tail);
			return FALSE;
		}
		g_propagate_error(error, wait.error);
		return FALSE;
	}
	vm->agent = wait.client;
	vm->boot_ms = elapsed_ms(started);

	stdio_fd = connect_unix(cocoon_hypervisor_get_stdio_socket_path(vm->hypervisor), error);
	if (stdio_fd < 0)
		return FALSE;
	vm->mux = cocoon_stdio_mux_new(cocoon_steal_fd(&stdio_fd), vm->id, error);
	return vm->mux != NULL;
}

/* any process whose command line mentions path (QEMU has the state directory in its argv) */
static GPid
process_mentioning(const gchar *path)
{
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	const gchar *name;

	while (proc != NULL && (name = g_dir_read_name(proc)) != NULL) {
		g_autofree gchar *cmdline_path = NULL;
		g_autofree gchar *cmdline = NULL;
		gsize length = 0;

		if (!g_ascii_isdigit(name[0]) || atoi(name) == getpid())
			continue;
		cmdline_path = g_build_filename("/proc", name, "cmdline", NULL);
		if (!g_file_get_contents(cmdline_path, &cmdline, &length, NULL))
			continue;
		for (gsize i = 0; i + 1 < length; i++) {
			if (cmdline[i] == '\0')
				cmdline[i] = ' ';
		}
		if (strstr(cmdline, path) != NULL)
			return (GPid)atoi(name);
	}
	return 0;
}

/*
 * Shutdown, close the agent and the mux, stop QEMU; then checks that the QEMU pid is gone and
 * that no process mentions the state directory
 */
static void
vm_teardown(Vm *vm)
{
	g_autoptr(GError) error = NULL;
	gint64 started = g_get_monotonic_time();
	GPid left;

	/* QEMU's exit during the run shows up here at the latest */
	g_main_context_iteration(NULL, FALSE);
	if (vm->died_reason != NULL && !vm->died_reported)
		fail("QEMU exited on its own during the run: %s", vm->died_reason);
	vm->stopping = TRUE;
	if (vm->agent != NULL && vm->died_reason == NULL) {
		if (!cocoon_agent_client_shutdown(vm->agent, 5000, NULL, &error)) {
			fail("Shutdown: %s", error->message);
			g_clear_error(&error);
		}
	}
	if (vm->agent != NULL) {
		cocoon_agent_client_close(vm->agent);
		g_clear_pointer(&vm->agent, cocoon_agent_client_unref);
	}
	if (vm->mux != NULL) {
		cocoon_stdio_mux_close(vm->mux);
		g_clear_pointer(&vm->mux, cocoon_stdio_mux_unref);
	}
	if (vm->hypervisor != NULL) {
		if (!cocoon_hypervisor_stop(vm->hypervisor, STOP_TIMEOUT_MS, &error)) {
			fail("hypervisor stop: %s", error->message);
			g_clear_error(&error);
		}
		g_clear_pointer(&vm->hypervisor, cocoon_hypervisor_free);
	}
	g_print("TIME: teardown (Shutdown, QEMU gone): %" G_GINT64_FORMAT " ms\n",
		elapsed_ms(started));
	if (vm->pid == 0)
		return;
	if (kill(vm->pid, 0) == 0 || errno != ESRCH)
		fail("QEMU pid %d is still there after stop", (int)vm->pid);
	else
		pass("QEMU pid %d is gone", (int)vm->pid);
	left = process_mentioning(vm->state_dir);
	if (left != 0)
		fail("process %d still has %s in its command line", (int)left, vm->state_dir);
	else
		pass("no process has %s in its command line", vm->state_dir);
}

/* ---- containers ---- */

static CocoonJson *
json_string_array(const gchar *const *strings)
{
	CocoonJson *array = cocoon_json_new_array();

	for (guint i = 0; strings[i] != NULL; i++)
		cocoon_json_array_append(array, cocoon_json_new_string(strings[i]));
	return array;
}

/* an OCI process object: root, PATH=/bin, cwd / */
static CocoonJson *
process_object_new(const gchar *const *args)
{
	const gchar *env[] = {"PATH=/bin", NULL};
	CocoonJson *process = cocoon_json_new_object();
	CocoonJson *user = cocoon_json_new_object();

	cocoon_json_object_set_boolean(process, "terminal", FALSE);
	cocoon_json_object_set_int64(user, "uid", 0);
	cocoon_json_object_set_int64(user, "gid", 0);
	cocoon_json_object_set(process, "user", user);
	cocoon_json_object_set(process, "args", json_string_array(args));
	cocoon_json_object_set(process, "env", json_string_array(env));
	cocoon_json_object_set_string(process, "cwd", "/");
	return process;
}

static CocoonJson *
mount_new(const gchar *destination, const gchar *type, const gchar *const *options)
{
	CocoonJson *mount = cocoon_json_new_object();

	cocoon_json_object_set_string(mount, "destination", destination);
	cocoon_json_object_set_string(mount, "type", type);
	cocoon_json_object_set_string(mount, "source", type);
	if (options != NULL)
		cocoon_json_object_set(mount, "options", json_string_array(options));
	return mount;
}

/* the smallest spec crun runs: the process, the rootfs, pid/ipc/uts/mount, /proc /dev /sys */
static gchar *
spec_json_new(const gchar *hostname, const gchar *const *args)
{
	const gchar *dev_options[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
	const gchar *sys_options[] = {"nosuid", "noexec", "nodev", "ro", NULL};
	const gchar *namespaces[] = {"pid", "ipc", "uts", "mount", NULL};
	g_autoptr(CocoonJson) spec = cocoon_json_new_object();
	CocoonJson *root = cocoon_json_new_object();
	CocoonJson *mounts = cocoon_json_new_array();
	CocoonJson *linux_object = cocoon_json_new_object();
	CocoonJson *namespace_array = cocoon_json_new_array();

	cocoon_json_object_set_string(spec, "ociVersion", "1.0.2");
	cocoon_json_object_set(spec, "process", process_object_new(args));
	cocoon_json_object_set_string(root, "path", "rootfs");
	cocoon_json_object_set(spec, "root", root);
	cocoon_json_object_set_string(spec, "hostname", hostname);
	cocoon_json_array_append(mounts, mount_new("/proc", "proc", NULL));
	cocoon_json_array_append(mounts, mount_new("/dev", "tmpfs", dev_options));
	cocoon_json_array_append(mounts, mount_new("/sys", "sysfs", sys_options));
	cocoon_json_object_set(spec, "mounts", mounts);
	for (guint i = 0; namespaces[i] != NULL; i++) {
		CocoonJson *namespace_object = cocoon_json_new_object();

		cocoon_json_object_set_string(namespace_object, "type", namespaces[i]);
		cocoon_json_array_append(namespace_array, namespace_object);
	}
	cocoon_json_object_set(linux_object, "namespaces", namespace_array);
	cocoon_json_object_set(spec, "linux", linux_object);
	return cocoon_json_to_string(spec, FALSE);
}

/* <shared>/<id>/rootfs: a copy of busybox in /bin with a symlink per applet */
static gboolean
rootfs_build(Vm *vm, const gchar *container_id, GError **error)
{
	const gchar *dirs[] = {"bin", "proc", "dev", "sys", "tmp", NULL};
	const gchar *list_argv[] = {opt_busybox, "--list", NULL};
	g_autofree gchar *rootfs = g_build_filename(vm->shared_dir, container_id, "rootfs", NULL);
	g_autofree gchar *busybox = g_build_filename(rootfs, "bin", "busybox", NULL);
	g_autofree gchar *applets = NULL;
	g_autoptr(GFile) source = g_file_new_for_path(opt_busybox);
	g_autoptr(GFile) target = g_file_new_for_path(busybox);
	g_auto(GStrv) names = NULL;
	gint status = 0;

	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autofree gchar *path = g_build_filename(rootfs, dirs[i], NULL);

		if (g_mkdir_with_parents(path, 0755) < 0) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "mkdir %s: %s",
				    path, g_strerror(errno));
			return FALSE;
		}
	}
	if (!g_file_copy(source, target, G_FILE_COPY_NONE, NULL, NULL, NULL, error) ||
	    !g_spawn_sync(NULL, (gchar **)list_argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
			  &applets, NULL, &status, error) ||
	    !g_spawn_check_wait_status(status, error)) {
		g_prefix_error(error, "rootfs from %s: ", opt_busybox);
		return FALSE;
	}
	if (g_chmod(busybox, 0755) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "chmod %s: %s",
			    busybox, g_strerror(errno));
		return FALSE;
	}
	names = g_strsplit(applets, "\n", -1);
	for (guint i = 0; names[i] != NULL; i++) {
		g_autofree gchar *link = NULL;

		if (names[i][0] == '\0' || strchr(names[i], '/') != NULL ||
		    g_str_equal(names[i], "busybox"))
			continue;
		link = g_build_filename(rootfs, "bin", names[i], NULL);
		if (symlink("busybox", link) < 0 && errno != EEXIST) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
				    "symlink %s: %s", link, g_strerror(errno));
			return FALSE;
		}
	}
	return TRUE;
}

/* a process's stdio: streams named in the agent request, and what the host reads */
typedef struct {
	Cocoon__Agent__V1__StdioStreams streams;
	Output *out;
	Output *err;
	gint stdin_fd; /* write end of the process's stdin, -1 without */
} Stdio;

static void
stdio_clear(Vm *vm, Stdio *stdio)
{
	guint32 ids[] = {stdio->streams.stdin, stdio->streams.stdout, stdio->streams.stderr};

	cocoon_fd_closep(&stdio->stdin_fd);
	/* remove_stream closes the pipes' write ends, so the readers see EOF */
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		if (ids[i] != 0 && vm->mux != NULL)
			cocoon_stdio_mux_remove_stream(vm->mux, ids[i]);
	}
	g_clear_pointer(&stdio->out, output_free);
	g_clear_pointer(&stdio->err, output_free);
}

/* stdout (checked against pattern when not NULL), stderr, and a stdin when with_stdin */
static gboolean
stdio_attach(Vm *vm, Stdio *stdio, const gchar *name, const gchar *pattern, gsize pattern_length,
	     gboolean with_stdin, GError **error)
{
	g_autofree gchar *out_name = g_strdup_printf("%s-out", name);
	g_autofree gchar *err_name = g_strdup_printf("%s-err", name);
	cocoon_autofd int out_fd = -1;
	cocoon_autofd int err_fd = -1;

	cocoon__agent__v1__stdio_streams__init(&stdio->streams);
	stdio->stdin_fd = -1;
	stdio->out = output_new(out_name, pattern, pattern_length, &out_fd, error);
	if (stdio->out == NULL)
		return FALSE;
	stdio->err = output_new(err_name, NULL, 0, &err_fd, error);
	if (stdio->err == NULL)
		return FALSE;
	stdio->streams.stdout = cocoon_stdio_mux_allocate_stream_id(vm->mux);
	if (!cocoon_stdio_mux_add_output(vm->mux, stdio->streams.stdout, cocoon_steal_fd(&out_fd),
					 error))
		return FALSE;
	stdio->streams.stderr = cocoon_stdio_mux_allocate_stream_id(vm->mux);
	if (!cocoon_stdio_mux_add_output(vm->mux, stdio->streams.stderr, cocoon_steal_fd(&err_fd),
					 error))
		return FALSE;
	if (with_stdin) {
		int fds[2];

		if (pipe2(fds, O_CLOEXEC) < 0) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "pipe: %s",
				    g_strerror(errno));
			return FALSE;
		}
		stdio->stdin_fd = fds[1];
		stdio->streams.stdin = cocoon_stdio_mux_allocate_stream_id(vm->mux);
		if (!cocoon_stdio_mux_add_input(vm->mux, stdio->streams.stdin, fds[0], error))
			return FALSE;
	}
	return TRUE;
}

/* every byte of stdout and stderr written, then the readers saw EOF */
static gboolean
stdio_drain(Vm *vm, Stdio *stdio, GError **error)
{
	guint32 ids[] = {stdio->streams.stdout, stdio->streams.stderr};
	gboolean drained = cocoon_stdio_mux_wait_outputs(vm->mux, ids, G_N_ELEMENTS(ids),
							 g_get_monotonic_time() +
								 (gint64)DRAIN_TIMEOUT_MS * 1000);

	if (!drained) {
		/* closes the write ends: the readers end with what they have */
		for (guint i = 0; i < G_N_ELEMENTS(ids); i++)
			cocoon_stdio_mux_remove_stream(vm->mux, ids[i]);
	}
	output_join(stdio->out);
	output_join(stdio->err);
	if (!drained) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			    "the output did not reach EOF within %u ms", DRAIN_TIMEOUT_MS);
		return FALSE;
	}
	return TRUE;
}

static void
print_stderr(const Stdio *stdio, const gchar *name)
{
	if (stdio->err != NULL && stdio->err->text != NULL && stdio->err->text->len > 0)
		g_print("guest-smoke: stderr of %s:\n%s\n", name, stdio->err->text->str);
}

static guint32
container_create(Vm *vm, const gchar *id, const gchar *const *args, Stdio *stdio, GError **error)
{
	g_autofree gchar *spec = spec_json_new(id, args);
	g_autofree gchar *rootfs = g_build_filename(id, "rootfs", NULL);
	Cocoon__Agent__V1__CreateContainerRequest request =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	g_autoptr(Cocoon__Agent__V1__CreateContainerResponse) response = NULL;

	request.container_id = (gchar *)id;
	request.spec_json.data = (guint8 *)spec;
	request.spec_json.len = strlen(spec);
	request.rootfs = rootfs;
	request.stdio = &stdio->streams;
	response = cocoon_agent_client_create_container(vm->agent, &request, CALL_TIMEOUT_MS, NULL,
							error);
	return response != NULL ? response->pid : 0;
}

static gboolean
container_start(Vm *vm, const gchar *id, GError **error)
{
	Cocoon__Agent__V1__StartContainerRequest request =
		COCOON__AGENT__V1__START_CONTAINER_REQUEST__INIT;
	g_autoptr(Cocoon__Agent__V1__StartContainerResponse) response = NULL;

	request.container_id = (gchar *)id;
	response = cocoon_agent_client_start_container(vm->agent, &request, CALL_TIMEOUT_MS, NULL,
						       error);
	return response != NULL;
}

static void
container_remove(Vm *vm, const gchar *id)
{
	Cocoon__Agent__V1__RemoveContainerRequest request =
		COCOON__AGENT__V1__REMOVE_CONTAINER_REQUEST__INIT;
	g_autoptr(GError) error = NULL;

	request.container_id = (gchar *)id;
	if (cocoon_agent_client_remove_container(vm->agent, &request, CALL_TIMEOUT_MS, NULL,
						 &error))
		pass("RemoveContainer %s", id);
	else
		fail("RemoveContainer %s: %s", id, error->message);
}

/* WaitProcess as a long poll answered on the default context, which the caller iterates */
typedef struct {
	CocoonAgentClient *agent;
	gboolean done;
	gint64 done_us;
	guint32 exit_status;
	GError *error;
} ProcessWait;

static void
process_wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	ProcessWait *wait = user_data;
	g_autoptr(Cocoon__Agent__V1__WaitProcessResponse) response =
		cocoon_agent_client_wait_process_finish(wait->agent, result, &wait->error);

	if (response != NULL)
		wait->exit_status = response->exit_status;
	wait->done_us = g_get_monotonic_time();
	wait->done = TRUE;
}

static void
process_wait_start(Vm *vm, ProcessWait *wait, const gchar *container_id, const gchar *exec_id)
{
	Cocoon__Agent__V1__WaitProcessRequest request =
		COCOON__AGENT__V1__WAIT_PROCESS_REQUEST__INIT;

	wait->agent = vm->agent;
	request.container_id = (gchar *)container_id;
	request.exec_id = (gchar *)exec_id;
	cocoon_agent_client_wait_process_async(vm->agent, &request, PROCESS_TIMEOUT_MS, NULL,
					       process_wait_cb, wait);
}

/* iterates the default context until the answer; the call's own deadline bounds it */
static gboolean
process_wait_finish(ProcessWait *wait, guint32 *ret_exit_status, GError **error)
{
	while (!wait->done)
		g_main_context_iteration(NULL, TRUE);
	if (wait->error != NULL) {
		g_propagate_error(error, g_steal_pointer(&wait->error));
		return FALSE;
	}
	*ret_exit_status = wait->exit_status;
	return TRUE;
}

/* ---- the modes ---- */

static gboolean
check_vm_up(Vm *vm, gchar **ret_kernel_release)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(Cocoon__Agent__V1__GuestInfoResponse) info = NULL;

	if (!vm_boot(vm, &error)) {
		fail("boot: %s", error->message);
		return FALSE;
	}
	g_print("TIME: QEMU start -> agent ready: %" G_GINT64_FORMAT
		" ms (QEMU pid %d, accel %s)\n",
		vm->boot_ms, (int)vm->pid,
		cocoon_accel_to_string(cocoon_hypervisor_get_accel(vm->hypervisor)));
	info = cocoon_agent_client_guest_info(vm->agent, CALL_TIMEOUT_MS, NULL, &error);
	if (info == NULL) {
		fail("GuestInfo: %s", error->message);
		return FALSE;
	}
	g_print("guest-smoke: agent %s, kernel %s, %u cpu, %" G_GUINT64_FORMAT
		" MiB, cgroup %s, %s\n",
		info->agent_version, info->kernel_release, info->online_cpus,
		info->mem_total_bytes / (1024 * 1024), info->cgroup_mode, info->oci_runtime);
	if (ret_kernel_release != NULL)
		*ret_kernel_release = g_strdup(info->kernel_release);
	return TRUE;
}

/* a failure left the process running: end the container so its WaitProcess returns */
static void
process_wait_end(Vm *vm, ProcessWait *wait, const gchar *container_id)
{
	guint32 exit_status = 0;

	if (wait->agent != NULL && !wait->done) {
		Cocoon__Agent__V1__SignalProcessRequest request =
			COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;

		request.container_id = (gchar *)container_id;
		request.signal = SIGKILL;
		request.all = TRUE;
		(void)cocoon_agent_client_signal_process(vm->agent, &request, CALL_TIMEOUT_MS, NULL,
							 NULL);
		(void)process_wait_finish(wait, &exit_status, NULL);
	}
	g_clear_error(&wait->error);
}

/* exec1 prints exec-ok and the command line of pid 1 of its pid namespace: the init's */
static gboolean
smoke_exec(Vm *vm, const gchar *id, Stdio *stdio)
{
	const gchar *args[] = {"sh", "-c", "echo exec-ok; tr '\\0' ' ' </proc/1/cmdline; echo",
			       NULL};
	g_autoptr(CocoonJson) process = process_object_new(args);
	g_autofree gchar *process_json = cocoon_json_to_string(process, FALSE);
	Cocoon__Agent__V1__ExecProcessRequest request =
		COCOON__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
	g_autoptr(Cocoon__Agent__V1__ExecProcessResponse) response = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) lines = NULL;
	ProcessWait wait = {0};
	guint32 exit_status = 0;
	gint64 started;

	if (!stdio_attach(vm, stdio, "exec", NULL, 0, FALSE, &error)) {
		fail("exec stdio: %s", error->message);
		return FALSE;
	}
	request.container_id = (gchar *)id;
	request.exec_id = "exec1";
	request.process_json.data = (guint8 *)process_json;
	request.process_json.len = strlen(process_json);
	request.stdio = &stdio->streams;
	started = g_get_monotonic_time();
	response = cocoon_agent_client_exec_process(vm->agent, &request, CALL_TIMEOUT_MS, NULL,
						    &error);
	if (response == NULL) {
		fail("ExecProcess: %s", error->message);
		return FALSE;
	}
	g_print("TIME: ExecProcess: %" G_GINT64_FORMAT " ms (pid %u)\n", elapsed_ms(started),
		response->pid);
	process_wait_start(vm, &wait, id, "exec1");
	if (!process_wait_finish(&wait, &exit_status, &error)) {
		fail("WaitProcess exec1: %s", error->message);
		return FALSE;
	}
	g_print("TIME: ExecProcess -> exec exit status: %" G_GINT64_FORMAT " ms\n",
		(wait.done_us - started) / 1000);
	if (!stdio_drain(vm, stdio, &error))
		fail("exec1 output: %s", error->message);
	print_stderr(stdio, "exec1");
	lines = g_strsplit(stdio->out->text->str, "\n", -1);
	if (exit_status == 0 && g_strv_length(lines) >= 2 && g_str_equal(lines[0], "exec-ok") &&
	    g_str_has_prefix(lines[1], "sh -c echo hello")) {
		pass("exec in the same container printed exec-ok and sees the init as its pid 1 "
		     "(\"%s\"), exit status 0",
		     g_strstrip(lines[1]));
		return TRUE;
	}
	fail("exec printed \"%s\", exit status %u", stdio->out->text->str, exit_status);
	return FALSE;
}

static void
smoke_check_init_output(const gchar *text, const gchar *guest_release, guint32 exit_status)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	guint n_lines = g_strv_length(lines);
	struct utsname host;

	uname(&host);
	if (n_lines >= 1 && g_str_equal(lines[0], "hello"))
		pass("init printed hello");
	else
		fail("init did not print hello first");
	if (n_lines >= 2 && lines[1][0] != '\0' && g_str_equal(lines[1], guest_release) &&
	    !g_str_equal(lines[1], host.release))
		pass("uname -r in the container is the guest kernel %s (host %s)", lines[1],
		     host.release);
	else
		fail("uname -r printed \"%s\"; guest kernel %s, host %s",
		     n_lines >= 2 ? lines[1] : "", guest_release, host.release);
	if (exit_status == 3)
		pass("exit status 3");
	else
		fail("exit status %u, not 3", exit_status);
}

/* the created container: start, exec while the init waits on stdin, stdin EOF, exit 3 */
static void
smoke_started(Vm *vm, const gchar *id, Stdio *init_stdio, Stdio *exec_stdio, ProcessWait *init_wait,
	      const gchar *guest_release)
{
	g_autoptr(GError) error = NULL;
	guint32 exit_status = 0;
	gint64 started = g_get_monotonic_time();
	gint64 eof_sent;

	if (!container_start(vm, id, &error)) {
		fail("StartContainer: %s", error->message);
		return;
	}
	g_print("TIME: StartContainer: %" G_GINT64_FORMAT " ms\n", elapsed_ms(started));
	process_wait_start(vm, init_wait, id, "");
	if (!smoke_exec(vm, id, exec_stdio))
		return;

	/* stdin EOF: the init's read returns and it exits 3 */
	eof_sent = g_get_monotonic_time();
	cocoon_fd_closep(&init_stdio->stdin_fd);
	if (!process_wait_finish(init_wait, &exit_status, &error)) {
		fail("WaitProcess init: %s", error->message);
		return;
	}
	g_print("TIME: stdin EOF -> init exit status: %" G_GINT64_FORMAT " ms\n",
		(init_wait->done_us - eof_sent) / 1000);
	if (!stdio_drain(vm, init_stdio, &error))
		fail("init output: %s", error->message);
	/* the reader thread is joined: its fields are ours now */
	if (init_stdio->out->received > 0)
		g_print("TIME: StartContainer -> first output byte: %" G_GINT64_FORMAT " ms\n",
			(init_stdio->out->first_byte_us - started) / 1000);
	print_stderr(init_stdio, "init");
	g_print("guest-smoke: init stdout:\n%s", init_stdio->out->text->str);
	smoke_check_init_output(init_stdio->out->text->str, guest_release, exit_status);
}

/*
 * init: hello, the kernel release, then a read of stdin; while it waits, an exec in the same
 * container proves it shares the init's pid namespace; then stdin gets EOF and the init exits 3
 */
static void
run_smoke(void)
{
	const gchar *init_args[] = {"sh", "-c", "echo hello; uname -r; read line; exit 3", NULL};
	const gchar *id = "smoke";
	g_autoptr(GError) error = NULL;
	g_autoptr(Vm) vm = vm_new("guest-smoke", &error);
	g_autofree gchar *guest_release = NULL;
	Stdio init_stdio = {.stdin_fd = -1};
	Stdio exec_stdio = {.stdin_fd = -1};
	ProcessWait init_wait = {0};

	if (vm == NULL || !rootfs_build(vm, id, &error)) {
		fail("%s", error->message);
		return;
	}
	if (check_vm_up(vm, &guest_release)) {
		gint64 started = g_get_monotonic_time();
		guint32 pid = 0;

		if (!stdio_attach(vm, &init_stdio, "init", NULL, 0, TRUE, &error))
			fail("stdio: %s", error->message);
		else if ((pid = container_create(vm, id, init_args, &init_stdio, &error)) == 0)
			fail("CreateContainer: %s", error->message);
		if (pid != 0) {
			g_print("TIME: CreateContainer: %" G_GINT64_FORMAT " ms (init pid %u)\n",
				elapsed_ms(started), pid);
			smoke_started(vm, id, &init_stdio, &exec_stdio, &init_wait, guest_release);
			process_wait_end(vm, &init_wait, id);
			container_remove(vm, id);
		}
		stdio_clear(vm, &exec_stdio);
		stdio_clear(vm, &init_stdio);
	}
	vm_teardown(vm);
}

static void
stdout_check(const Output *out, guint64 bytes, guint32 exit_status, gint64 started,
	     gint64 exited_us)
{
	if (out->read_errno != 0)
		fail("reading the pipe: %s", g_strerror(out->read_errno));
	if (out->received == bytes)
		pass("exactly %" G_GUINT64_FORMAT " bytes arrived", bytes);
	else
		fail("%" G_GUINT64_FORMAT " bytes arrived, not %" G_GUINT64_FORMAT, out->received,
		     bytes);
	if (out->first_mismatch == G_MAXUINT64)
		pass("every byte in order (%s)",
		     opt_stdout_zeros ? "all zero" : "\"abcdefghij\\n\" repeated");
	else
		fail("byte %" G_GUINT64_FORMAT " differs from the pattern", out->first_mismatch);
	if (exit_status == 0)
		pass("exit status 0");
	else
		fail("exit status %u", exit_status);
	if (out->received > 0) {
		gdouble mib = (gdouble)out->received / (1024.0 * 1024.0);
		gdouble total_s = (gdouble)(out->eof_us - started) / G_USEC_PER_SEC;
		gdouble stream_s = (gdouble)(out->eof_us - out->first_byte_us) / G_USEC_PER_SEC;

		g_print("TIME: stdout %" G_GUINT64_FORMAT " bytes: StartContainer -> EOF %.2f s = "
			"%.1f MiB/s; first byte -> EOF %.2f s = %.1f MiB/s\n",
			out->received, total_s, mib / total_s, stream_s,
			stream_s > 0 ? mib / stream_s : 0.0);
		g_print("TIME: exit status answered %+" G_GINT64_FORMAT " ms after the last byte\n",
			(exited_us - out->eof_us) / 1000);
	}
}

/*
 * create, start, wait for the exit and drain the output; FALSE (reported) on a failure.
 * *ret_created: the container exists in the guest and needs a RemoveContainer.
 */
static gboolean
container_run(Vm *vm, const gchar *id, const gchar *const *args, Stdio *stdio,
	      gboolean *ret_created, guint32 *ret_exit_status, gint64 *ret_started_us,
	      gint64 *ret_exited_us)
{
	g_autoptr(GError) error = NULL;
	ProcessWait wait = {0};
	gboolean ok = FALSE;
	guint32 exit_status = 0;
	gint64 started;

	*ret_created = FALSE;
	if (container_create(vm, id, args, stdio, &error) == 0) {
		fail("CreateContainer %s: %s", id, error->message);
		return FALSE;
	}
	*ret_created = TRUE;
	started = g_get_monotonic_time();
	if (!container_start(vm, id, &error)) {
		fail("StartContainer %s: %s", id, error->message);
	} else {
		process_wait_start(vm, &wait, id, "");
		if (!process_wait_finish(&wait, &exit_status, &error)) {
			fail("WaitProcess %s: %s", id, error->message);
		} else {
			ok = TRUE;
			if (!stdio_drain(vm, stdio, &error))
				fail("output of %s: %s", id, error->message);
		}
	}
	process_wait_end(vm, &wait, id);
	if (ok) {
		*ret_exit_status = exit_status;
		*ret_started_us = started;
		*ret_exited_us = wait.done_us;
	}
	return ok;
}

/* the shell command that writes exactly bytes of the pattern to its stdout */
static gchar *
stdout_command(guint64 bytes)
{
	guint64 blocks = bytes / 65536;
	guint64 rest = bytes % 65536;

	if (!opt_stdout_zeros)
		return g_strdup_printf("yes abcdefghij | head -c %" G_GUINT64_FORMAT, bytes);
	if (rest == 0)
		return g_strdup_printf(
			"dd if=/dev/zero bs=65536 count=%" G_GUINT64_FORMAT " 2>/dev/null", blocks);
	return g_strdup_printf("dd if=/dev/zero bs=65536 count=%" G_GUINT64_FORMAT " 2>/dev/null; "
			       "dd if=/dev/zero bs=%" G_GUINT64_FORMAT " count=1 2>/dev/null",
			       blocks, rest);
}

/* the same pipeline into /dev/null in the guest: what TCG makes of the generator alone */
static void
stdout_baseline(Vm *vm, guint64 bytes)
{
	g_autofree gchar *command = stdout_command(bytes);
	g_autofree gchar *script = g_strdup_printf("time -p sh -c '{ %s; } >/dev/null'", command);
	const gchar *args[] = {"sh", "-c", script, NULL};
	const gchar *id = "baseline";
	g_autoptr(GError) error = NULL;
	Stdio stdio = {.stdin_fd = -1};
	guint32 exit_status = 0;
	gint64 started = 0;
	gint64 exited = 0;
	gboolean created = FALSE;

	if (!rootfs_build(vm, id, &error) ||
	    !stdio_attach(vm, &stdio, id, NULL, 0, FALSE, &error)) {
		fail("baseline: %s", error->message);
	} else if (container_run(vm, id, args, &stdio, &created, &exit_status, &started, &exited)) {
		const gchar *real = strstr(stdio.err->text->str, "real ");
		gdouble seconds = real != NULL ? g_ascii_strtod(real + strlen("real "), NULL) : 0;

		if (exit_status == 0 && seconds > 0)
			g_print("TIME: in-guest baseline, the same pipeline into /dev/null: %.2f s "
				"= "
				"%.1f MiB/s\n",
				seconds, (gdouble)bytes / (1024.0 * 1024.0) / seconds);
		else
			g_print("guest-smoke: no baseline (exit status %u): %s\n", exit_status,
				stdio.err->text->str);
	}
	if (created)
		container_remove(vm, id);
	stdio_clear(vm, &stdio);
}

/* N bytes of a known pattern from the guest through the mux into a pipe, checked byte for byte */
static void
run_stdout_bytes(guint64 bytes)
{
	g_autofree gchar *script = stdout_command(bytes);
	const gchar *args[] = {"sh", "-c", script, NULL};
	const gchar *id = "stdout";
	const gchar *pattern = opt_stdout_zeros ? zero_pattern : STDOUT_PATTERN;
	gsize pattern_length = opt_stdout_zeros ? sizeof(zero_pattern) : strlen(STDOUT_PATTERN);
	g_autoptr(GError) error = NULL;
	g_autoptr(Vm) vm = vm_new("guest-stdout", &error);
	Stdio stdio = {.stdin_fd = -1};
	guint32 exit_status = 0;
	gint64 started = 0;
	gint64 exited = 0;
	gboolean created = FALSE;

	if (vm == NULL || !rootfs_build(vm, id, &error)) {
		fail("%s", error->message);
		return;
	}
	g_print("guest-smoke: stdout of `%s`\n", script);
	if (check_vm_up(vm, NULL)) {
		if (!stdio_attach(vm, &stdio, id, pattern, pattern_length, FALSE, &error)) {
			fail("stdio: %s", error->message);
		} else if (container_run(vm, id, args, &stdio, &created, &exit_status, &started,
					 &exited)) {
			print_stderr(&stdio, id);
			stdout_check(stdio.out, bytes, exit_status, started, exited);
		}
		if (created)
			container_remove(vm, id);
		stdio_clear(vm, &stdio);
		if (failures == 0)
			stdout_baseline(vm, bytes);
	}
	vm_teardown(vm);
}

/* a "Name:  N kB" line of /proc/<pid>/status in KiB, 0 when unknown */
static gint64
status_kib(GPid pid, const gchar *field)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%d/status", (int)pid);
	g_autofree gchar *status = NULL;
	g_autofree gchar *key = g_strdup_printf("\n%s:", field);
	const gchar *line;

	if (!g_file_get_contents(path, &status, NULL, NULL))
		return 0;
	line = strstr(status, key);
	return line != NULL ? (gint64)g_ascii_strtoull(line + strlen(key), NULL, 10) : 0;
}

static gint
compare_int64(gconstpointer a, gconstpointer b)
{
	gint64 x = *(const gint64 *)a;
	gint64 y = *(const gint64 *)b;

	return x < y ? -1 : x > y;
}

static gint64
median(GArray *values)
{
	guint n = values->len;

	g_array_sort(values, compare_int64);
	if (n == 0)
		return 0;
	if (n % 2 == 1)
		return g_array_index(values, gint64, n / 2);
	return (g_array_index(values, gint64, n / 2 - 1) + g_array_index(values, gint64, n / 2)) /
	       2;
}

static void
run_boot_only(guint count)
{
	g_autoptr(GArray) boots = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(GArray) rss = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(GArray) rss_anon = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autofree gchar *release = NULL;

	for (guint i = 1; i <= count; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(Vm) vm = vm_new("guest-boot", &error);
		g_autofree gchar *kernel_release = NULL;
		gint64 idle_until;
		gint64 kib;
		gint64 anon_kib;

		if (vm == NULL) {
			fail("%s", error->message);
			return;
		}
		g_print("guest-smoke: boot %u of %u\n", i, count);
		if (check_vm_up(vm, &kernel_release)) {
			g_array_append_val(boots, vm->boot_ms);
			if (release == NULL)
				release = g_strdup(kernel_release);
			/* let the guest settle, still serving the default context */
			idle_until = g_get_monotonic_time() + (gint64)IDLE_BEFORE_RSS_MS * 1000;
			while (g_get_monotonic_time() < idle_until) {
				if (!g_main_context_iteration(NULL, FALSE))
					g_usleep(20000);
			}
			kib = status_kib(vm->pid, "VmRSS");
			anon_kib = status_kib(vm->pid, "RssAnon");
			g_array_append_val(rss, kib);
			g_array_append_val(rss_anon, anon_kib);
			g_print("TIME: boot %u: QEMU start -> agent ready %" G_GINT64_FORMAT
				" ms, QEMU idle VmRSS %.1f MiB (RssAnon %.1f MiB)\n",
				i, vm->boot_ms, (gdouble)kib / 1024.0, (gdouble)anon_kib / 1024.0);
		}
		vm_teardown(vm);
	}
	if (boots->len > 0) {
		gint64 rss_median = median(rss);
		gint64 anon_median = median(rss_anon);

		g_print("TIME: kernel %s, %u boots, median QEMU start -> agent ready: "
			"%" G_GINT64_FORMAT " ms\n",
			release, boots->len, median(boots));
		g_print("TIME: kernel %s, median QEMU idle VmRSS (%u s after ready): %.1f MiB "
			"(RssAnon %.1f MiB)\n",
			release, IDLE_BEFORE_RSS_MS / 1000, (gdouble)rss_median / 1024.0,
			(gdouble)anon_median / 1024.0);
	}
}

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) context =
		g_option_context_new("- boot a Cocoon guest and run containers without containerd");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *qemu_path = NULL;

	g_option_context_add_main_entries(context, option_entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("guest-smoke: %s\n", error->message);
		return 2;
	}
	if (opt_stdout_bytes < 0 || opt_boot_only < 0 || opt_memory_mib <= 0 ||
	    opt_boot_timeout_s <= 0 || (opt_stdout_bytes > 0 && opt_boot_only > 0)) {
		g_printerr("guest-smoke: bad options (--stdout-bytes and --boot-only exclude each "
			   "other; counts are positive)\n");
		return 2;
	}
	if (opt_kernel == NULL)
		opt_kernel = g_strdup(g_getenv("COCOON_GUEST_KERNEL"));
	if (opt_initrd == NULL)
		opt_initrd = g_strdup(g_getenv("COCOON_GUEST_INITRD"));
	if (opt_qemu == NULL)
		opt_qemu = g_strdup(g_getenv("COCOON_QEMU") != NULL ? g_getenv("COCOON_QEMU")
								    : "qemu-system-x86_64");
	if (opt_busybox == NULL)
		opt_busybox = g_strdup("/bin/busybox");
	if (opt_kernel == NULL || opt_kernel[0] == '\0' || opt_initrd == NULL ||
	    opt_initrd[0] == '\0') {
		g_printerr(
			"SKIP: no guest image: pass --kernel/--initrd or set COCOON_GUEST_KERNEL "
			"and COCOON_GUEST_INITRD (tests/lib/guest-image.sh)\n");
		return 77;
	}
	qemu_path = g_find_program_in_path(opt_qemu);
	if (qemu_path == NULL) {
		g_printerr("SKIP: %s not found\n", opt_qemu);
		return 77;
	}
	if (!g_file_test(opt_busybox, G_FILE_TEST_IS_EXECUTABLE)) {
		g_printerr("SKIP: no busybox at %s (apt-get install busybox-static)\n",
			   opt_busybox);
		return 77;
	}
	/* the mux writes to pipes whose readers may be gone */
	signal(SIGPIPE, SIG_IGN);
	g_print("guest-smoke: kernel %s, initrd %s\n", opt_kernel, opt_initrd);

	if (opt_boot_only > 0)
		run_boot_only((guint)opt_boot_only);
	else if (opt_stdout_bytes > 0)
		run_stdout_bytes((guint64)opt_stdout_bytes);
	else
		run_smoke();

	g_print("guest-smoke: %s (%u failure%s)\n", failures == 0 ? "OK" : "FAILED", failures,
		failures == 1 ? "" : "s");
	return failures == 0 ? 0 : 1;
}
