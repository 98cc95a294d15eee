/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-fd-watch.h"

typedef struct {
	GSource source;
	int fd;
	gpointer tag;
	CocoonGuestFdWatchFunc func;
	gpointer user_data;
} FdWatch;

static gboolean
fd_watch_dispatch(GSource *source, GSourceFunc callback, gpointer unused)
{
	FdWatch *watch = (FdWatch *)source;
	GIOCondition revents = watch->tag != NULL ? g_source_query_unix_fd(source, watch->tag) : 0;

	if (revents == 0)
		return G_SOURCE_CONTINUE;
	return watch->func(revents, watch->user_data);
}

static GSourceFuncs fd_watch_funcs = {
	.dispatch = fd_watch_dispatch,
};

GSource *
cocoon_guest_fd_watch_new(int fd, CocoonGuestFdWatchFunc func, gpointer user_data)
{
	GSource *source = g_source_new(&fd_watch_funcs, sizeof(FdWatch));
	FdWatch *watch = (FdWatch *)source;

	watch->fd = fd;
	watch->func = func;
	watch->user_data = user_data;
	g_source_attach(source, g_main_context_get_thread_default());
	return source;
}

void
cocoon_guest_fd_watch_set(GSource *source, GIOCondition events)
{
	FdWatch *watch = (FdWatch *)source;

	if (events == 0) {
		if (watch->tag != NULL) {
			g_source_remove_unix_fd(source, watch->tag);
			watch->tag = NULL;
		}
	} else if (watch->tag == NULL) {
		watch->tag = g_source_add_unix_fd(source, watch->fd, events);
	} else {
		g_source_modify_unix_fd(source, watch->tag, events);
	}
}

void
cocoon_guest_fd_watch_clear(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_source_unref(*source);
	*source = NULL;
}
