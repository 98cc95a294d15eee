/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "agent.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "cocoon-fd.h"
#include "cocoon-hypervisor.h"
#include "cocoon-pidfd.h"
#include "cocoon-qemu.h"
#include "cocoon-sandbox-network.h"
#include "cocoon-sandbox-private.h"
#include "cocoon-stdio-mux.h"
#include "cocoon-unix.h"

#define VM_STOP_TIMEOUT_MS 5000
/* a guest that stopped answering gets no Shutdown and little time: QMP quit, then SIGKILL */
#define VM_ABORT_TIMEOUT_MS 1000

/* the VM half of a sandbox; owned by the worker, except mux which the I/O side reads under lock */
typedef struct {
	CocoonHypervisor *hypervisor;
	CocoonAgentClient *agent;
	GMutex mux_lock;
	CocoonStdioMux *mux;
	gboolean stopping;
	gboolean failed;
	gint64 boot_ms;
	gint64 booted_at_us;
	guint vcpus;
	guint memory_mib;
} SandboxVm;

gpointer *cocoon_sandbox_vm_slot(CocoonSandbox *sandbox);
void cocoon_sandbox_vm_died(CocoonSandbox *sandbox);
void cocoon_sandbox_vm_free(CocoonSandbox *sandbox);

static SandboxVm *
sandbox_vm(CocoonSandbox *sandbox)
{
	gpointer *slot = cocoon_sandbox_vm_slot(sandbox);
	if (*slot == NULL) {
		SandboxVm *vm = g_new0(SandboxVm, 1);
		g_mutex_init(&vm->mux_lock);
		*slot = vm;
	}
	return *slot;
}

static gchar *
vm_console_tail(guint lines, gpointer user_data)
{
	SandboxVm *vm = user_data;
	return vm->hypervisor != NULL ? cocoon_hypervisor_console_tail(vm->hypervisor, lines)
				      : NULL;
}

static void
vm_died(CocoonHypervisor *hypervisor, const gchar *reason, gpointer user_data)
{
	CocoonSandbox *sandbox = user_data;
	SandboxVm *vm = sandbox_vm(sandbox);
	if (vm->stopping)
		return;
	g_warning("sandbox %s: QEMU exited unexpectedly: %s", cocoon_sandbox_get_id(sandbox),
		  reason);
	vm->failed = TRUE;
	cocoon_sandbox_vm_died(sandbox);
}

typedef struct {
	GCancellable *cancellable;
	CocoonPidfd *pidfd;
} BootWatch;

static void
boot_watch_free(gpointer data)
{
	BootWatch *watch = data;
	g_object_unref(watch->cancellable);
	cocoon_pidfd_free(watch->pidfd);
	g_free(watch);
}

static gboolean
boot_watch_qemu_exited(gint fd, GIOCondition condition, gpointer data)
{
	BootWatch *watch = data;
	g_cancellable_cancel(watch->cancellable);
	return G_SOURCE_REMOVE;
}

/*
 * the worker is blocked in the boot wait, so QEMU's died callback cannot run on it: a watch on
 * QEMU's pidfd on the main context cancels the wait instead of letting it run into the boot timeout
 * (without pidfd_open(2) there is no watch: the boot timeout ends the wait)
 */
static GSource *
boot_watch_new(CocoonSandbox *sandbox, GPid pid, GCancellable *cancellable)
{
	CocoonRuntime *runtime = cocoon_sandbox_get_runtime(sandbox);
	g_autoptr(CocoonPidfd) pidfd = cocoon_pidfd_open(pid, NULL);
	BootWatch *watch;
	GSource *source = pidfd != NULL ? cocoon_pidfd_source_new(pidfd) : NULL;

	if (source == NULL)
		return NULL;
	watch = g_new0(BootWatch, 1);
	watch->cancellable = g_object_ref(cancellable);
	watch->pidfd = g_steal_pointer(&pidfd);
	g_source_set_callback(source, G_SOURCE_FUNC(boot_watch_qemu_exited), watch,
			      boot_watch_free);
	g_source_attach(source, cocoon_runtime_get_main_context(runtime));
	return source;
}

static gboolean
vm_boot(CocoonSandbox *sandbox, SandboxVm *vm, GError **error)
{
	CocoonConfig *config = cocoon_sandbox_get_config(sandbox);
	const gchar *state_dir = cocoon_sandbox_get_state_dir(sandbox);
	g_autoptr(CocoonVmConfig) vm_config = cocoon_vm_config_new();
	gint64 started = g_get_monotonic_time();
	cocoon_autofd int stdio_fd = -1;

	if (g_mkdir_with_parents(cocoon_sandbox_get_shared_dir(sandbox), 0700) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "mkdir %s: %s",
			    cocoon_sandbox_get_shared_dir(sandbox), g_strerror(errno));
		return FALSE;
	}
	{
		/* lets `delete` tell a shim that is still stopping this VM from a dead one */
		g_autofree gchar *pid_path = g_build_filename(state_dir, "shim.pid", NULL);
		g_autofree gchar *pid_text = NULL;
		guint64 start_time = 0;
		if (!cocoon_qemu_read_start_time(getpid(), &start_time, error))
			return FALSE;
		pid_text = g_strdup_printf("%d %" G_GUINT64_FORMAT, (int)getpid(), start_time);
		if (!g_file_set_contents(pid_path, pid_text, -1, error))
			return FALSE;
	}
	vm_config->sandbox_id = g_strdup(cocoon_sandbox_get_id(sandbox));
	vm_config->state_dir = g_strdup(state_dir);
	/* replace the defaults of cocoon_vm_config_new() */
	g_free(vm_config->qemu_binary);
	vm_config->qemu_binary = g_strdup(config->qemu_binary);
	g_free(vm_config->machine);
	vm_config->machine = g_strdup(config->machine);
	vm_config->accel = cocoon_accel_from_string(config->accel);
	vm_config->vcpus = config->vcpus;
	vm_config->memory_mib = config->memory_mib;
	vm_config->kernel = g_strdup(config->kernel);
	vm_config->initrd = g_strdup(config->initrd);
	vm_config->kernel_params = g_strdup(config->kernel_params);
	vm_config->shared_dir = g_strdup(cocoon_sandbox_get_shared_dir(sandbox));
	vm_config->extra_args = g_strdupv(config->extra_args);
	vm_config->debug = config->debug_console;
	vm_config->console_log_max_kib = config->console_log_max_kib;
	cocoon_sandbox_network_fill_vm_config(sandbox, vm_config);

	vm->hypervisor = cocoon_qemu_new(vm_config, error);
	if (vm->hypervisor == NULL)
		return FALSE;
	cocoon_hypervisor_set_died_func(vm->hypervisor, vm_died, sandbox,
					cocoon_sandbox_get_context(sandbox));
	if (!cocoon_hypervisor_start(vm->hypervisor, error))
		return FALSE;
	{
		g_autoptr(GCancellable) qemu_exited = g_cancellable_new();
		GSource *watch = boot_watch_new(sandbox, cocoon_hypervisor_get_pid(vm->hypervisor),
						qemu_exited);
		vm->agent = cocoon_agent_client_connect_wait(
			cocoon_hypervisor_get_agent_socket_path(vm->hypervisor),
			cocoon_sandbox_get_id(sandbox), config->boot_timeout_ms, vm_console_tail,
			vm, qemu_exited, error);
		if (watch != NULL) {
			g_source_destroy(watch);
			g_source_unref(watch);
		}
		if (vm->agent == NULL && g_cancellable_is_cancelled(qemu_exited)) {
			g_autofree gchar *tail =
				vm_console_tail(COCOON_AGENT_CONSOLE_TAIL_LINES, vm);
			g_clear_error(error);
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "sandbox %s: QEMU (pid %d) exited while the guest booted%s%s",
				    cocoon_sandbox_get_id(sandbox),
				    (int)cocoon_hypervisor_get_pid(vm->hypervisor),
				    tail != NULL && tail[0] != '\0' ? "; last console lines:\n"
								    : "",
				    tail != NULL ? tail : "");
		}
	}
	if (vm->agent == NULL)
		return FALSE;
	cocoon_agent_client_set_default_timeout(vm->agent, config->request_timeout_ms);
	stdio_fd =
		cocoon_unix_connect(cocoon_hypervisor_get_stdio_socket_path(vm->hypervisor), error);
	if (stdio_fd < 0)
		return FALSE;
	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&vm->mux_lock);
		vm->mux = cocoon_stdio_mux_new(cocoon_steal_fd(&stdio_fd),
					       cocoon_sandbox_get_id(sandbox), error);
		if (vm->mux == NULL)
			return FALSE;
	}
	/* the taps are QEMU's now; the guest gets the interfaces the namespace has so far */
	if (!cocoon_sandbox_network_vm_started(sandbox, cocoon_hypervisor_get_pid(vm->hypervisor),
					       error))
		return FALSE;
	vm->boot_ms = (g_get_monotonic_time() - started) / 1000;
	vm->booted_at_us = g_get_real_time();
	vm->vcpus = config->vcpus;
	vm->memory_mib = config->memory_mib;
	g_info("sandbox %s: VM up in %" G_GINT64_FORMAT " ms (QEMU pid %d, %s)",
	       cocoon_sandbox_get_id(sandbox), vm->boot_ms,
	       (int)cocoon_hypervisor_get_pid(vm->hypervisor),
	       cocoon_accel_to_string(cocoon_hypervisor_get_accel(vm->hypervisor)));
	return TRUE;
}

gboolean
cocoon_sandbox_vm_ensure(CocoonSandbox *sandbox, GError **error)
{
	SandboxVm *vm = sandbox_vm(sandbox);
	if (vm->agent != NULL && cocoon_agent_client_is_connected(vm->agent))
		return TRUE;
	if (vm->hypervisor != NULL) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
			    "sandbox %s: the VM is gone: unavailable",
			    cocoon_sandbox_get_id(sandbox));
		return FALSE;
	}
	vm->stopping = FALSE;
	if (!vm_boot(sandbox, vm, error)) {
		cocoon_sandbox_vm_stop(sandbox);
		return FALSE;
	}
	cocoon_sandbox_vm_booted(sandbox);
	return TRUE;
}

gboolean
cocoon_sandbox_vm_is_running(CocoonSandbox *sandbox)
{
	SandboxVm *vm = sandbox_vm(sandbox);
	return vm->hypervisor != NULL;
}

static void
vm_stop(CocoonSandbox *sandbox, gboolean graceful)
{
	SandboxVm *vm = sandbox_vm(sandbox);
	g_autoptr(GError) error = NULL;
	CocoonStdioMux *mux;

	vm->stopping = TRUE;
	if (graceful && vm->agent != NULL && cocoon_agent_client_is_connected(vm->agent))
		(void)cocoon_agent_client_shutdown(vm->agent, 2000, NULL, NULL);
	if (vm->agent != NULL) {
		cocoon_agent_client_close(vm->agent);
		g_clear_pointer(&vm->agent, cocoon_agent_client_unref);
	}
	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&vm->mux_lock);
		mux = g_steal_pointer(&vm->mux);
	}
	if (mux != NULL) {
		cocoon_stdio_mux_close(mux);
		cocoon_stdio_mux_unref(mux);
	}
	if (vm->hypervisor != NULL) {
		if (!cocoon_hypervisor_stop(vm->hypervisor,
					    graceful ? VM_STOP_TIMEOUT_MS : VM_ABORT_TIMEOUT_MS,
					    &error))
			g_warning("sandbox %s: %s", cocoon_sandbox_get_id(sandbox), error->message);
		g_clear_pointer(&vm->hypervisor, cocoon_hypervisor_free);
	}
	/* QEMU is gone, and with it the taps it held: the filters and qdiscs go too */
	cocoon_sandbox_network_teardown(sandbox);
}

void
cocoon_sandbox_vm_stop(CocoonSandbox *sandbox)
{
	vm_stop(sandbox, TRUE);
}

void
cocoon_sandbox_vm_abort(CocoonSandbox *sandbox)
{
	SandboxVm *vm = sandbox_vm(sandbox);
	if (vm->hypervisor != NULL)
		vm->failed = TRUE;
	vm_stop(sandbox, FALSE);
}

void
cocoon_sandbox_vm_free(CocoonSandbox *sandbox)
{
	gpointer *slot = cocoon_sandbox_vm_slot(sandbox);
	SandboxVm *vm = *slot;
	if (vm == NULL)
		return;
	g_mutex_clear(&vm->mux_lock);
	g_free(vm);
	*slot = NULL;
}

CocoonAgentClient *
cocoon_sandbox_get_agent(CocoonSandbox *sandbox)
{
	return sandbox_vm(sandbox)->agent;
}

static CocoonStdioMux *
sandbox_mux_ref(CocoonSandbox *sandbox)
{
	SandboxVm *vm = sandbox_vm(sandbox);
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&vm->mux_lock);
	return vm->mux != NULL ? cocoon_stdio_mux_ref(vm->mux) : NULL;
}

gboolean
cocoon_sandbox_stdio_attach(CocoonSandbox *sandbox, CocoonProcess *process, GError **error)
{
	g_autoptr(CocoonStdioMux) mux = sandbox_mux_ref(sandbox);
	CocoonStdio *stdio = &process->stdio;

	if (mux == NULL) {
		g_set_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE,
			    "sandbox %s: no stdio connection", cocoon_sandbox_get_id(sandbox));
		return FALSE;
	}
	if (stdio->stdout_fd >= 0) {
		process->stream_stdout = cocoon_stdio_mux_allocate_stream_id(mux);
		if (!cocoon_stdio_mux_add_output(mux, process->stream_stdout,
						 cocoon_steal_fd(&stdio->stdout_fd), error))
			return FALSE;
	}
	if (stdio->stderr_fd >= 0 && !process->terminal) {
		process->stream_stderr = cocoon_stdio_mux_allocate_stream_id(mux);
		if (!cocoon_stdio_mux_add_output(mux, process->stream_stderr,
						 cocoon_steal_fd(&stdio->stderr_fd), error))
			return FALSE;
	}
	if (stdio->stdin_fd >= 0) {
		process->stream_stdin = cocoon_stdio_mux_allocate_stream_id(mux);
		if (!cocoon_stdio_mux_add_input(mux, process->stream_stdin,
						cocoon_steal_fd(&stdio->stdin_fd), error))
			return FALSE;
	}
	return TRUE;
}

gboolean
cocoon_sandbox_stdio_drain(CocoonSandbox *sandbox, const guint32 *streams, const guint64 *offsets,
			   guint n_streams, gint64 idle_us, gint64 deadline_us)
{
	g_autoptr(CocoonStdioMux) mux = sandbox_mux_ref(sandbox);
	if (mux == NULL)
		return TRUE;
	return cocoon_stdio_mux_wait_delivered(mux, streams, offsets, n_streams, idle_us,
					       deadline_us);
}

void
cocoon_sandbox_stdio_detach(CocoonSandbox *sandbox, CocoonProcess *process)
{
	g_autoptr(CocoonStdioMux) mux = sandbox_mux_ref(sandbox);
	guint32 *ids[] = {&process->stream_stdin, &process->stream_stdout, &process->stream_stderr};

	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		if (*ids[i] != 0 && mux != NULL)
			cocoon_stdio_mux_remove_stream(mux, *ids[i]);
		*ids[i] = 0;
	}
	cocoon_stdio_clear(&process->stdio);
}

void
cocoon_sandbox_vm_fill_info(CocoonSandbox *sandbox, CocoonSandboxInfo *info)
{
	SandboxVm *vm = sandbox_vm(sandbox);
	if (vm->hypervisor == NULL) {
		info->state = g_strdup("empty");
		info->accel = g_strdup("");
		return;
	}
	info->state = g_strdup(vm->failed ? "failed" : vm->stopping ? "stopping" : "running");
	info->qemu_pid = (gint)cocoon_hypervisor_get_pid(vm->hypervisor);
	info->accel = g_strdup(cocoon_accel_to_string(cocoon_hypervisor_get_accel(vm->hypervisor)));
	info->vcpus = vm->vcpus;
	info->memory_mib = vm->memory_mib;
	info->boot_ms = vm->boot_ms;
	info->booted_at_us = vm->booted_at_us;
}
