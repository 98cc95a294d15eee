/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * a GSource watching one fd whose events change over time; events 0 takes the fd out of the poll
 * set entirely (a hung-up pipe or port reports HUP even when nobody asked, which would wake a
 * paused watch in a loop). Attached to the thread-default main context.
 */
typedef gboolean (*CocoonGuestFdWatchFunc)(GIOCondition revents, gpointer user_data);

GSource *cocoon_guest_fd_watch_new(int fd, CocoonGuestFdWatchFunc func, gpointer user_data);
void cocoon_guest_fd_watch_set(GSource *source, GIOCondition events);
/* destroys and unrefs *source, leaves NULL */
void cocoon_guest_fd_watch_clear(GSource **source);

G_END_DECLS
