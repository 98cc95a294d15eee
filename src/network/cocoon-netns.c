/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-network"

#include "config.h"

#include "cocoon-netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"

typedef struct {
	int netns_fd; /* -1: a new namespace */
	CocoonNetnsFunc func;
	gpointer user_data;
	gboolean result;
	int new_fd;
	GError *error;
} NetnsJob;

static gboolean
set_errno_error(GError **error, const gchar *what, const gchar *detail)
{
	cocoon_set_error_from_errno(error, "%s%s%s", what, detail != NULL ? " " : "",
				    detail != NULL ? detail : "");
	return FALSE;
}

/**
 * cocoon_netns_open:
 *
 * Returns: an O_CLOEXEC fd of the network namespace at @path, or -1 with @error set
 */
int
cocoon_netns_open(const gchar *path, GError **error)
{
	cocoon_autofd int fd = open(path, O_RDONLY | O_CLOEXEC);
	int type;

	if (fd < 0) {
		set_errno_error(error, "open network namespace", path);
		return -1;
	}
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0) {
		set_errno_error(error, "network namespace", path);
		return -1;
	}
	if (type != CLONE_NEWNET) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "%s is not a network namespace", path);
		return -1;
	}
	return cocoon_steal_fd(&fd);
}

static gpointer
netns_thread(gpointer data)
{
	NetnsJob *job = data;

	if (job->netns_fd >= 0) {
		if (setns(job->netns_fd, CLONE_NEWNET) < 0) {
			job->result =
				set_errno_error(&job->error, "enter the network namespace", NULL);
			return NULL;
		}
		job->result = job->func(job->user_data, &job->error);
		return NULL;
	}
	/* this thread gets a namespace of its own; the fd keeps it once the thread is gone */
	if (unshare(CLONE_NEWNET) < 0) {
		job->result = set_errno_error(&job->error, "new network namespace", NULL);
		return NULL;
	}
	job->new_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (job->new_fd < 0) {
		job->result = set_errno_error(&job->error, "open", "/proc/thread-self/ns/net");
		return NULL;
	}
	job->result = TRUE;
	return NULL;
}

static gboolean
run_job(NetnsJob *job, GError **error)
{
	GThread *thread = g_thread_try_new("cocoon-netns", netns_thread, job, error);

	if (thread == NULL)
		return FALSE;
	g_thread_join(thread);
	if (!job->result) {
		if (job->error != NULL)
			g_propagate_error(error, g_steal_pointer(&job->error));
		else
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "network namespace job failed");
		return FALSE;
	}
	g_clear_error(&job->error);
	return TRUE;
}

/**
 * cocoon_netns_new:
 *
 * Returns: an O_CLOEXEC fd of a new, empty network namespace, or -1 with @error set
 */
int
cocoon_netns_new(GError **error)
{
	NetnsJob job = {.netns_fd = -1, .new_fd = -1};

	if (!run_job(&job, error))
		return -1;
	return job.new_fd;
}

/**
 * cocoon_netns_run:
 * @netns_fd: the namespace
 * @func: runs on a new thread inside it; its GError is handed back
 *
 * Blocks until @func returned.
 */
gboolean
cocoon_netns_run(int netns_fd, CocoonNetnsFunc func, gpointer user_data, GError **error)
{
	NetnsJob job = {.netns_fd = netns_fd, .func = func, .user_data = user_data, .new_fd = -1};

	g_return_val_if_fail(netns_fd >= 0, FALSE);
	return run_job(&job, error);
}
