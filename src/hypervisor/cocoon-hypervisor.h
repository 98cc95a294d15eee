/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

#include "cocoon-vm-config.h"

G_BEGIN_DECLS

/*
 * One pod's virtual machine, as the per-sandbox worker thread sees it. The QEMU driver
 * (cocoon_qemu_new() in cocoon-qemu.h) is the one implementation; cocoon-hypervisor-driver.h
 * holds what a driver fills in: start, stop, the pid and its own cleanup, nothing the shim does not
 * call.
 *
 * Threading: a hypervisor belongs to one thread, the "owner" (the sandbox worker). Every call is
 * made on that thread, and the died callback runs on the GMainContext given to
 * cocoon_hypervisor_set_died_func(), which must be the one the owner iterates, so callbacks
 * never run concurrently with calls. The calls block the owner for bounded time: every wait has
 * a deadline. The owner thread must outlive QEMU: QEMU is started with
 * PR_SET_PDEATHSIG(SIGKILL), which fires when the thread that forked it exits, so QEMU dies with
 * the shim even when the shim dies uncleanly, but also if the owner thread ends first.
 *
 * Errors name the sandbox id and the operation; a timeout is G_IO_ERROR_TIMED_OUT.
 */
typedef struct _CocoonHypervisor CocoonHypervisor;

/*
 * called once when QEMU exits without being asked to (stop() or free()); reason is readable,
 * e.g. "QEMU exited with status 0 (guest shutdown)" or "QEMU was killed by signal 9";
 * cocoon_hypervisor_get_wait_status() has the raw status
 */
typedef void (*CocoonHypervisorDiedFunc)(CocoonHypervisor *hypervisor, const gchar *reason,
					 gpointer user_data);

/* context NULL: the thread-default context of the thread that calls start() */
void cocoon_hypervisor_set_died_func(CocoonHypervisor *hypervisor, CocoonHypervisorDiedFunc func,
				     gpointer user_data, GMainContext *context);

/*
 * prepares the state directory, launches the VM and returns once QEMU runs and its monitor
 * answers; it does not wait for the guest (the agent client does that). On failure nothing is
 * left running.
 */
gboolean cocoon_hypervisor_start(CocoonHypervisor *hypervisor, GError **error);
/*
 * asks QEMU to quit, waits up to timeout_ms, then SIGKILLs and reaps it; TRUE once it is gone
 * (also when it was not running)
 */
gboolean cocoon_hypervisor_stop(CocoonHypervisor *hypervisor, guint timeout_ms, GError **error);

/* the QEMU process id, 0 when not running */
GPid cocoon_hypervisor_get_pid(CocoonHypervisor *hypervisor);
/* the pod's virtiofsd process id, 0 when it has none */
GPid cocoon_hypervisor_get_virtiofsd_pid(CocoonHypervisor *hypervisor);
/* -1 while running or never started, else the waitpid() status of the exit */
gint cocoon_hypervisor_get_wait_status(CocoonHypervisor *hypervisor);
const gchar *cocoon_hypervisor_get_sandbox_id(CocoonHypervisor *hypervisor);
/* unix sockets QEMU listens on for the virtio-serial ports cocoon.agent and cocoon.stdio */
const gchar *cocoon_hypervisor_get_agent_socket_path(CocoonHypervisor *hypervisor);
const gchar *cocoon_hypervisor_get_stdio_socket_path(CocoonHypervisor *hypervisor);
/* the guest's serial console, written by QEMU */
const gchar *cocoon_hypervisor_get_console_log_path(CocoonHypervisor *hypervisor);
/* the accelerator in use: AUTO until start() resolved it */
CocoonAccel cocoon_hypervisor_get_accel(CocoonHypervisor *hypervisor);
/* the last lines of the console, valid UTF-8, for boot-failure errors; "" when there is none */
gchar *cocoon_hypervisor_console_tail(CocoonHypervisor *hypervisor, guint lines);

/* stops the VM first if it still runs (SIGKILL, bounded wait): nothing is left behind */
void cocoon_hypervisor_free(CocoonHypervisor *hypervisor);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonHypervisor, cocoon_hypervisor_free)

G_END_DECLS
