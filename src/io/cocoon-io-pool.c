/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-io"

#include "config.h"

#include "cocoon-io-pool.h"

#include <signal.h>

#include <glib.h>

#define COCOON_IO_POOL_MIN_THREADS 2
#define COCOON_IO_POOL_MAX_THREADS 4

typedef struct {
	CocoonIoPoolFunc func;
	gpointer data;
} CocoonIoPoolJob;

static GMutex pool_mutex;
static GThreadPool *pool;

static void
block_sigpipe_once(void)
{
	static GPrivate blocked;
	sigset_t set;

	if (g_private_get(&blocked) != NULL)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	g_private_set(&blocked, GINT_TO_POINTER(1));
}

static void
pool_run(gpointer item, gpointer user_data)
{
	CocoonIoPoolJob *job = item;

	block_sigpipe_once();
	job->func(job->data);
	g_free(job);
}

guint
cocoon_io_pool_get_n_threads(void)
{
	return CLAMP(g_get_num_processors(), COCOON_IO_POOL_MIN_THREADS,
		     COCOON_IO_POOL_MAX_THREADS);
}

/**
 * cocoon_io_pool_ensure:
 *
 * Creates the process-wide I/O pool on first use. Callers that must not fail later (a mux that
 * schedules copies from its reader) call this once up front.
 */
gboolean
cocoon_io_pool_ensure(GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&pool_mutex);

	if (pool != NULL)
		return TRUE;
	/* exclusive threads: they are ours, so SIGPIPE can stay blocked in them */
	pool = g_thread_pool_new(pool_run, NULL, (gint)cocoon_io_pool_get_n_threads(), TRUE, error);
	if (pool == NULL) {
		g_prefix_error(error, "cannot start the I/O pool: ");
		return FALSE;
	}
	return TRUE;
}

/**
 * cocoon_io_pool_push:
 *
 * Queues func(data) for a pool thread. Jobs run in no particular order across threads.
 */
gboolean
cocoon_io_pool_push(CocoonIoPoolFunc func, gpointer data, GError **error)
{
	CocoonIoPoolJob *job;

	if (!cocoon_io_pool_ensure(error))
		return FALSE;
	job = g_new0(CocoonIoPoolJob, 1);
	job->func = func;
	job->data = data;
	/* with exclusive threads that already exist, pushing cannot fail */
	if (!g_thread_pool_push(pool, job, error)) {
		g_free(job);
		return FALSE;
	}
	return TRUE;
}
