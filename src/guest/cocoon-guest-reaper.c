/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-reaper.h"

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-guest-signal.h"

/* unwatched exits remembered: how many, how long */
#define UNCLAIMED_MAX	 4096
#define UNCLAIMED_TTL_US (60 * G_USEC_PER_SEC)

typedef struct {
	CocoonGuestChildFunc func;
	gpointer user_data;
} Watch;

typedef struct {
	pid_t pid;
	int wait_status;
	gint64 exited_at_ns;
	gint64 reaped_at_us; /* monotonic */
} Unclaimed;

struct _CocoonGuestReaper {
	int signal_fd;
	GSource *source;
	GHashTable *watches;	/* pid -> Watch */
	GHashTable *unclaimed;	/* pid -> Unclaimed, an index into unclaimed_order */
	GQueue unclaimed_order; /* Unclaimed, oldest first, owned */
};

gint64
cocoon_guest_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (gint64)ts.tv_sec * G_GINT64_CONSTANT(1000000000) + ts.tv_nsec;
}

guint32
cocoon_guest_exit_status_from_wait(int wait_status)
{
	if (WIFEXITED(wait_status))
		return (guint32)WEXITSTATUS(wait_status);
	if (WIFSIGNALED(wait_status))
		return 128u + (guint32)WTERMSIG(wait_status);
	/* stopped/continued are never reported here (no WUNTRACED) */
	return 255;
}

void
cocoon_guest_reaper_block_signals(void)
{
	cocoon_guest_signal_block(SIGCHLD);
}

static void
unclaimed_remove(CocoonGuestReaper *reaper, Unclaimed *unclaimed)
{
	g_hash_table_remove(reaper->unclaimed, GINT_TO_POINTER(unclaimed->pid));
	g_queue_remove(&reaper->unclaimed_order, unclaimed);
	g_free(unclaimed);
}

static void
unclaimed_add(CocoonGuestReaper *reaper, pid_t pid, int wait_status, gint64 exited_at_ns)
{
	Unclaimed *unclaimed = g_hash_table_lookup(reaper->unclaimed, GINT_TO_POINTER(pid));
	gint64 now = g_get_monotonic_time();

	if (unclaimed != NULL)
		unclaimed_remove(reaper, unclaimed);
	unclaimed = g_new0(Unclaimed, 1);
	unclaimed->pid = pid;
	unclaimed->wait_status = wait_status;
	unclaimed->exited_at_ns = exited_at_ns;
	unclaimed->reaped_at_us = now;
	g_queue_push_tail(&reaper->unclaimed_order, unclaimed);
	g_hash_table_insert(reaper->unclaimed, GINT_TO_POINTER(pid), unclaimed);

	while (!g_queue_is_empty(&reaper->unclaimed_order)) {
		Unclaimed *oldest = g_queue_peek_head(&reaper->unclaimed_order);
		if (g_queue_get_length(&reaper->unclaimed_order) <= UNCLAIMED_MAX &&
		    now - oldest->reaped_at_us < UNCLAIMED_TTL_US)
			break;
		unclaimed_remove(reaper, oldest);
	}
}

/**
 * cocoon_guest_reaper_reap:
 *
 * collects every exited child without blocking
 */
void
cocoon_guest_reaper_reap(CocoonGuestReaper *reaper)
{
	for (;;) {
		int wait_status = 0;
		pid_t pid = waitpid(-1, &wait_status, WNOHANG);
		gint64 exited_at_ns;
		Watch *watch;

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		exited_at_ns = cocoon_guest_now_ns();
		watch = g_hash_table_lookup(reaper->watches, GINT_TO_POINTER(pid));
		if (watch != NULL) {
			Watch copy = *watch;
			g_hash_table_remove(reaper->watches, GINT_TO_POINTER(pid));
			copy.func(pid, wait_status, exited_at_ns, copy.user_data);
			continue;
		}
		unclaimed_add(reaper, pid, wait_status, exited_at_ns);
		g_debug("reaped pid %d (status %u)", (int)pid,
			cocoon_guest_exit_status_from_wait(wait_status));
	}
}

static gboolean
signal_fd_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	CocoonGuestReaper *reaper = user_data;
	struct signalfd_siginfo info[16];

	/* drain; the siginfo does not matter, SIGCHLD coalesces anyway */
	while (read(fd, info, sizeof(info)) > 0)
		;
	cocoon_guest_reaper_reap(reaper);
	return G_SOURCE_CONTINUE;
}

void
cocoon_guest_reaper_watch(CocoonGuestReaper *reaper, pid_t pid, CocoonGuestChildFunc func,
			  gpointer user_data)
{
	Unclaimed *unclaimed = g_hash_table_lookup(reaper->unclaimed, GINT_TO_POINTER(pid));
	Watch *watch;

	if (unclaimed != NULL) {
		Unclaimed copy = *unclaimed;
		unclaimed_remove(reaper, unclaimed);
		/* a live process with this pid means the entry is of an older process */
		if (kill(pid, 0) < 0 && errno == ESRCH) {
			func(pid, copy.wait_status, copy.exited_at_ns, user_data);
			return;
		}
	}
	watch = g_new0(Watch, 1);
	watch->func = func;
	watch->user_data = user_data;
	g_hash_table_replace(reaper->watches, GINT_TO_POINTER(pid), watch);
}

void
cocoon_guest_reaper_unwatch(CocoonGuestReaper *reaper, pid_t pid)
{
	g_hash_table_remove(reaper->watches, GINT_TO_POINTER(pid));
}

/**
 * cocoon_guest_reaper_new:
 *
 * the signalfd source is attached to the thread-default main context
 */
CocoonGuestReaper *
cocoon_guest_reaper_new(GError **error)
{
	g_autoptr(CocoonGuestReaper) reaper = g_new0(CocoonGuestReaper, 1);

	reaper->signal_fd = -1;
	reaper->watches = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	reaper->unclaimed = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_queue_init(&reaper->unclaimed_order);

	reaper->signal_fd = cocoon_guest_signal_fd(SIGCHLD);
	if (reaper->signal_fd < 0) {
		cocoon_set_error_from_errno(error, "signalfd");
		return NULL;
	}
	reaper->source = g_unix_fd_source_new(reaper->signal_fd, G_IO_IN);
	g_source_set_callback(reaper->source, G_SOURCE_FUNC(signal_fd_cb), reaper, NULL);
	g_source_set_priority(reaper->source, G_PRIORITY_HIGH);
	g_source_attach(reaper->source, g_main_context_get_thread_default());
	/* children that exited before the signalfd existed */
	cocoon_guest_reaper_reap(reaper);
	return g_steal_pointer(&reaper);
}

void
cocoon_guest_reaper_free(CocoonGuestReaper *reaper)
{
	if (reaper == NULL)
		return;
	if (reaper->source != NULL) {
		g_source_destroy(reaper->source);
		g_source_unref(reaper->source);
	}
	cocoon_fd_closep(&reaper->signal_fd);
	g_hash_table_unref(reaper->watches);
	g_hash_table_unref(reaper->unclaimed);
	g_queue_clear_full(&reaper->unclaimed_order, g_free);
	g_free(reaper);
}
