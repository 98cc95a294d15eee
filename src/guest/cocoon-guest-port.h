/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * where a host connection comes from, and waiting for the next one after it ended:
 * - a virtio-serial port found by name in /sys/class/virtio-ports (the guest). It stays open for
 *   good: closing a port discards what the host sent and the guest has not read yet, so a request
 *   written by a host that just reconnected could vanish. Each host connection is handed out as
 *   one end of a socketpair instead, relayed to the port; when the host goes away (the port reads
 *   EOF, polls HUP) that socket is closed and the port is polled on a timer with back-off, never
 *   in a busy loop, until the host is back.
 * - "PATH" of a character device: the same, for a known device node
 * - "PATH" of anything else: a unix socket the agent listens on (tests on the host)
 * - "fd:N": an already connected fd, handed out once (tests over a socketpair)
 * Main context only.
 */
typedef struct _CocoonGuestPort CocoonGuestPort;

/*
 * a connection. The callee owns fd, except when borrowed (a direct port, see
 * cocoon_guest_port_set_direct()): then it must not close it.
 */
typedef void (*CocoonGuestPortConnectedFunc)(CocoonGuestPort *port, int fd, gboolean borrowed,
					     gpointer user_data);

/* blocks SIGIO in the calling thread (the ports' signalfd gets it); first thing in main() */
void cocoon_guest_port_block_signals(void);

/* location NULL: the virtio port called name. Starts waiting at once. */
CocoonGuestPort *cocoon_guest_port_new(const gchar *name, const gchar *location,
				       CocoonGuestPortConnectedFunc func, gpointer user_data,
				       GError **error);
void cocoon_guest_port_free(CocoonGuestPort *port);

/*
 * the connection handed out ended (an owned fd is closed, a borrowed one read EOF or HUP): wait
 * for the next
 */
void cocoon_guest_port_reconnect(CocoonGuestPort *port);

/*
 * a virtio port hands out its own fd (borrowed) instead of a relayed socketpair: two copies less
 * for a consumer that keeps the byte stream in sync itself across sessions (the stdio mux). Call
 * before the main loop runs.
 */
void cocoon_guest_port_set_direct(CocoonGuestPort *port, gboolean direct);

/* finds /dev/vportNpM of a named virtio-serial port under sysfs_dir (creating the node if needed)
 */
gchar *cocoon_guest_port_find_virtio(const gchar *sysfs_dir, const gchar *name, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonGuestPort, cocoon_guest_port_free)

G_END_DECLS
