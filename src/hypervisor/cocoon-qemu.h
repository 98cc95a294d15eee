/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "cocoon-hypervisor.h"

G_BEGIN_DECLS

/*
 * The QEMU driver of CocoonHypervisor: QEMU is our child (never -daemonize), in its own process
 * group, stdin/stdout on /dev/null, stderr to <state>/qemu.log, the console in
 * <state>/console.log, QMP on <state>/qmp.sock. <state>/qemu.pid holds "PID STARTTIME" (field 22
 * of /proc/PID/stat) so a later process can kill it safely with cocoon_qemu_kill_from_state().
 * Exits are watched with a pidfd (Linux >= 5.4; where pidfd_open(2) is missing, as under
 * valgrind 3.19, on a pipe QEMU inherits); nothing else in the process may reap QEMU (no
 * waitpid(-1) anywhere in the shim). Threading rules: cocoon-hypervisor.h.
 */
CocoonHypervisor *cocoon_qemu_new(const CocoonVmConfig *config, GError **error);

/*
 * kills the QEMU recorded in <state_dir>/qemu.pid, but only if that pid still belongs to the
 * process started then (same start time): a reused pid is never signalled. Waits (bounded) until
 * it has exited, then removes the pid file. TRUE also when there is no pid file or the process is
 * already gone.
 */
gboolean cocoon_qemu_kill_from_state(const gchar *state_dir, GError **error);

/* field 22 of /proc/PID/stat, in clock ticks since boot */
gboolean cocoon_qemu_read_start_time(GPid pid, guint64 *ret_start_time, GError **error);

G_END_DECLS
