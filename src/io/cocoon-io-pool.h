/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The I/O pool: one GThreadPool per process, shared by every stdio mux (and anything else that has
 * to block on a file descriptor), with a few threads of its own (exclusive, created on first use,
 * alive until exit). Jobs may block on I/O but must not wait on locks held across the agent or
 * QEMU. SIGPIPE is blocked in its threads: a write to a pipe whose reader is gone fails with EPIPE
 * instead of killing the process, whatever the process's disposition.
 */
typedef void (*CocoonIoPoolFunc)(gpointer data);

/* creates the pool if needed; fails only if its threads cannot be created */
gboolean cocoon_io_pool_ensure(GError **error);
/* runs func(data) on a pool thread; fails only as cocoon_io_pool_ensure() */
gboolean cocoon_io_pool_push(CocoonIoPoolFunc func, gpointer data, GError **error);
guint cocoon_io_pool_get_n_threads(void);

G_END_DECLS
