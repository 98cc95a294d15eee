/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <sys/types.h>

#include <glib.h>

G_BEGIN_DECLS

/*
 * cocoon-agent reaps every child (it is PID 1, or a child subreaper in tests) with one
 * waitpid(-1) loop driven by a signalfd on the main context. A pid somebody watches gets its
 * callback; any other exit is kept for a while in case its watcher comes late (a container's
 * process can exit before crun wrote its pid file), then forgotten. Main context only.
 */
typedef struct _CocoonGuestReaper CocoonGuestReaper;

/* exit code, or 128 + the signal number: what WaitProcess reports */
guint32 cocoon_guest_exit_status_from_wait(int wait_status);

/* called once with the raw wait status and the wall-clock exit time (unix ns) */
typedef void (*CocoonGuestChildFunc)(pid_t pid, int wait_status, gint64 exited_at_ns,
				     gpointer user_data);

/* blocks SIGCHLD in the calling thread; call first in main(), before any thread exists */
void cocoon_guest_reaper_block_signals(void);

CocoonGuestReaper *cocoon_guest_reaper_new(GError **error);
void cocoon_guest_reaper_free(CocoonGuestReaper *reaper);

/*
 * calls func when pid exits. When pid already exited unwatched, func runs before this returns.
 * One watch per pid; a second replaces the first.
 */
void cocoon_guest_reaper_watch(CocoonGuestReaper *reaper, pid_t pid, CocoonGuestChildFunc func,
			       gpointer user_data);
void cocoon_guest_reaper_unwatch(CocoonGuestReaper *reaper, pid_t pid);

/* reaps what is there now (also called by the signalfd source) */
void cocoon_guest_reaper_reap(CocoonGuestReaper *reaper);

/* wall clock in unix nanoseconds */
gint64 cocoon_guest_now_ns(void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonGuestReaper, cocoon_guest_reaper_free)

G_END_DECLS
