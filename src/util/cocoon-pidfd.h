/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * A process to signal and to watch for its exit without the races of a bare pid. With
 * pidfd_open(2) (Linux >= 5.3) it holds the process's pidfd: signals reach that process and no
 * other, and the pidfd is readable once it exited. Without it (older kernels; valgrind 3.19, the
 * memcheck run of scripts/run-tests.sh) signals go to the pid, and the exit shows on an exit pipe
 * if the caller made one (the read end of a pipe whose write end only the child holds: it hangs up
 * when the child exits), else by polling /proc/<pid>/stat. A child stays the pid's owner until it
 * is reaped, so for one's own unreaped child the fallback is as good.
 *
 * Errors carry g_strerror() as their message (the caller says which process and what for); a
 * process that is gone is G_IO_ERROR_NOT_FOUND (ESRCH). One owner; no locking.
 */
typedef struct _CocoonPidfd CocoonPidfd;

/* TRUE when pidfd_open(2) works here; asked once */
gboolean cocoon_pidfd_supported(void);

/* a pidfd for pid; without pidfd_open(2) the by-pid fallback (never an error for that) */
CocoonPidfd *cocoon_pidfd_open(GPid pid, GError **error);
/* the fallback: signals to pid, the exit seen when exit_pipe_fd (taken) hangs up */
CocoonPidfd *cocoon_pidfd_new_for_exit_pipe(GPid pid, int exit_pipe_fd);
/* the fallback without an exit pipe: signals to pid, the exit seen in /proc */
CocoonPidfd *cocoon_pidfd_new_for_pid(GPid pid);
void cocoon_pidfd_free(CocoonPidfd *pidfd);

GPid cocoon_pidfd_get_pid(CocoonPidfd *pidfd);
/* the state letter of any pid in /proc/PID/stat ('Z': a zombie), '\0' when there is none */
gchar cocoon_pidfd_proc_state(GPid pid);
gboolean cocoon_pidfd_send_signal(CocoonPidfd *pidfd, int signal, GError **error);
/* TRUE once the process exited (a zombie counts), FALSE when timeout_ms (0: just look) ran out */
gboolean cocoon_pidfd_wait(CocoonPidfd *pidfd, guint timeout_ms);
/*
 * a source that dispatches (G_IO_IN) once the process exited, for g_source_set_callback() with a
 * GUnixFDSourceFunc; NULL without a pidfd or an exit pipe. It must not outlive pidfd.
 */
GSource *cocoon_pidfd_source_new(CocoonPidfd *pidfd);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonPidfd, cocoon_pidfd_free)

G_END_DECLS
