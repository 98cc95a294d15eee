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

/* a connection: the callee owns fd */
typedef void (*CocoonGuestPortConnectedFunc)(CocoonGuestPort *port, int fd, gpointer user_data);

/* blocks SIGIO in the calling thread (the ports' signalfd gets it); first thing in main() */
void cocoon_guest_port_block_signals(void);

/* location NULL: the virtio port called name. Starts waiting at once. */
CocoonGuestPort *cocoon_guest_port_new(const gchar *name, const gchar *location,
				       CocoonGuestPortConnectedFunc func, gpointer user_data,
				       GError **error);
void cocoon_guest_port_free(CocoonGuestPort *port);

/* the connection handed out ended (its fd is closed): wait for the next */
void cocoon_guest_port_reconnect(CocoonGuestPort *port);

/* finds /dev/vportNpM of a named virtio-serial port under sysfs_dir (creating the node if needed) */
gchar *cocoon_guest_port_find_virtio(const gchar *sysfs_dir, const gchar *name, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonGuestPort, cocoon_guest_port_free)

G_END_DECLS
