/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-port.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-guest-fd-watch.h"
#include "cocoon-guest-signal.h"

/*
 * re-check of a port whose host side is not connected: back-off from MIN to MAX. The kernel also
 * sends SIGIO when the host connects (O_ASYNC while waiting), which re-checks at once; the timer
 * is the fallback.
 */
#define RETRY_MIN_MS 5
#define RETRY_MAX_MS 1000
/* bytes buffered in each direction of the relay */
#define RELAY_BUFFER_SIZE (256u * 1024)

typedef enum {
	PORT_VIRTIO,
	PORT_DEVICE,
	PORT_LISTEN,
	PORT_FD,
} PortKind;

/* bytes [head, tail) of data */
typedef struct {
	guint8 *data;
	gsize head;
	gsize tail;
} RelayBuffer;

struct _CocoonGuestPort {
	gchar *name;
	gchar *location;
	PortKind kind;
	CocoonGuestPortConnectedFunc func;
	gpointer user_data;

	int fd;	      /* the port (kept open), or the listening socket */
	int given_fd; /* PORT_FD before it is handed out */
	guint retry_id;
	guint retry_ms;
	guint accept_id;
	gboolean warned;
	gboolean direct;
	gboolean lent; /* a direct port's fd is out */

	/* a session of a port: our end of the socketpair and the two directions */
	int relay_fd;
	GSource *port_watch;
	GSource *relay_watch;
	RelayBuffer to_session;
	RelayBuffer to_port;
};

static void port_try(CocoonGuestPort *port);
static void port_retry_later(CocoonGuestPort *port);

/* the ports waiting for SIGIO, and the signalfd they share (main context) */
static GList *sigio_ports;
static int sigio_fd = -1;
static guint sigio_id;

void
cocoon_guest_port_block_signals(void)
{
	cocoon_guest_signal_block(SIGIO);
}

static gboolean
sigio_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	struct signalfd_siginfo info[8];
	g_autoptr(GList) ports = NULL;

	while (read(fd, info, sizeof(info)) > 0)
		;
	/* a try may change the list */
	ports = g_list_copy(sigio_ports);
	for (GList *l = ports; l != NULL; l = l->next) {
		CocoonGuestPort *port = l->data;
		if (port->retry_id != 0) {
			g_source_remove(port->retry_id);
			port->retry_id = 0;
		}
		port_try(port);
	}
	return G_SOURCE_CONTINUE;
}

/* while waiting for the host, ask for SIGIO on the port (the kernel sends it on connection changes)
 */
static void
port_set_async(CocoonGuestPort *port, gboolean async)
{
	int flags = fcntl(port->fd, F_GETFL);

	if (flags < 0)
		return;
	if (async && sigio_fd < 0) {
		sigio_fd = cocoon_guest_signal_fd(SIGIO);
		if (sigio_fd >= 0)
			sigio_id = g_unix_fd_add(sigio_fd, G_IO_IN, sigio_cb, NULL);
	}
	if (async && sigio_fd >= 0) {
		(void)fcntl(port->fd, F_SETOWN, getpid());
		(void)fcntl(port->fd, F_SETFL, flags | O_ASYNC);
		if (g_list_find(sigio_ports, port) == NULL)
			sigio_ports = g_list_prepend(sigio_ports, port);
	} else {
		(void)fcntl(port->fd, F_SETFL, flags & ~O_ASYNC);
		sigio_ports = g_list_remove(sigio_ports, port);
	}
}

/**
 * cocoon_guest_port_find_virtio:
 *
 * the device node of the port whose sysfs name file reads name
 */
gchar *
cocoon_guest_port_find_virtio(const gchar *sysfs_dir, const gchar *name, GError **error)
{
	g_autoptr(GDir) dir = g_dir_open(sysfs_dir, 0, error);
	const gchar *entry;

	if (dir == NULL)
		return NULL;
	while ((entry = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *name_path = g_build_filename(sysfs_dir, entry, "name", NULL);
		g_autofree gchar *dev_path = g_build_filename(sysfs_dir, entry, "dev", NULL);
		g_autofree gchar *port_name = NULL;
		g_autofree gchar *dev = NULL;
		g_autofree gchar *node = NULL;
		guint major_number, minor_number;
		struct stat st;

		if (!g_file_get_contents(name_path, &port_name, NULL, NULL))
			continue;
		if (g_strcmp0(g_strstrip(port_name), name) != 0)
			continue;
		node = g_build_filename("/dev", entry, NULL);
		if (stat(node, &st) == 0 && S_ISCHR(st.st_mode))
			return g_steal_pointer(&node);
		/* no devtmpfs node (yet): make one from the dev file */
		if (!g_file_get_contents(dev_path, &dev, NULL, error))
			return NULL;
		if (sscanf(dev, "%u:%u", &major_number, &minor_number) != 2) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "%s: cannot parse \"%s\"", dev_path, g_strstrip(dev));
			return NULL;
		}
		if (mknod(node, S_IFCHR | 0600, makedev(major_number, minor_number)) < 0 &&
		    errno != EEXIST) {
			cocoon_set_error_from_errno(error, "mknod %s", node);
			return NULL;
		}
		return g_steal_pointer(&node);
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no virtio-serial port named %s in %s",
		    name, sysfs_dir);
	return NULL;
}

static void
port_hand_out(CocoonGuestPort *port, int fd, gboolean borrowed)
{
	port->retry_ms = RETRY_MIN_MS;
	port->warned = FALSE;
	port->lent = borrowed;
	port->func(port, fd, borrowed, port->user_data);
}

/* the relay between a port and a session */

static gsize
buffer_length(const RelayBuffer *buffer)
{
	return buffer->tail - buffer->head;
}

static gsize
buffer_space(RelayBuffer *buffer)
{
	/* compact when the free end ran out */
	if (buffer->head > 0 && buffer->tail == RELAY_BUFFER_SIZE) {
		memmove(buffer->data, buffer->data + buffer->head, buffer_length(buffer));
		buffer->tail -= buffer->head;
		buffer->head = 0;
	}
	if (buffer->head == buffer->tail)
		buffer->head = buffer->tail = 0;
	return RELAY_BUFFER_SIZE - buffer->tail;
}

/* FALSE on EOF or an error (errno kept, 0 for EOF) */
static gboolean
buffer_fill(RelayBuffer *buffer, int fd)
{
	gsize space = buffer_space(buffer);
	ssize_t n;

	if (space == 0)
		return TRUE;
	do
		n = read(fd, buffer->data + buffer->tail, space);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return TRUE;
	if (n <= 0) {
		if (n == 0)
			errno = 0;
		return FALSE;
	}
	buffer->tail += (gsize)n;
	return TRUE;
}

static gboolean
buffer_drain(RelayBuffer *buffer, int fd)
{
	while (buffer_length(buffer) > 0) {
		ssize_t n = write(fd, buffer->data + buffer->head, buffer_length(buffer));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return TRUE;
		if (n < 0)
			return FALSE;
		buffer->head += (gsize)n;
	}
	return TRUE;
}

static void
relay_update(CocoonGuestPort *port)
{
	if (port->port_watch != NULL)
		cocoon_guest_fd_watch_set(
			port->port_watch,
			(buffer_space(&port->to_session) > 0 ? G_IO_IN : 0) |
				(buffer_length(&port->to_port) > 0 ? G_IO_OUT : 0));
	if (port->relay_watch != NULL)
		cocoon_guest_fd_watch_set(
			port->relay_watch,
			(buffer_space(&port->to_port) > 0 ? G_IO_IN : 0) |
				(buffer_length(&port->to_session) > 0 ? G_IO_OUT : 0));
}

/* the session is over: the consumer sees EOF; the port stays open */
static void
relay_end(CocoonGuestPort *port, const gchar *reason)
{
	if (port->relay_fd < 0)
		return;
	g_debug("port %s: session ended: %s", port->name, reason);
	cocoon_guest_fd_watch_clear(&port->port_watch);
	cocoon_guest_fd_watch_clear(&port->relay_watch);
	cocoon_fd_closep(&port->relay_fd);
	/* what one side said is meaningless to the next session */
	port->to_session.head = port->to_session.tail = 0;
	port->to_port.head = port->to_port.tail = 0;
}

static void
port_close(CocoonGuestPort *port)
{
	relay_end(port, "port closed");
	sigio_ports = g_list_remove(sigio_ports, port);
	cocoon_fd_closep(&port->fd);
}

static gboolean
relay_port_cb(GIOCondition revents, gpointer user_data)
{
	CocoonGuestPort *port = user_data;

	/* reported even when not asked for (a full buffer): never loop on it */
	if (revents & (G_IO_HUP | G_IO_ERR)) {
		relay_end(port, "host disconnected");
		return G_SOURCE_CONTINUE;
	}
	if (revents & G_IO_IN) {
		if (!buffer_fill(&port->to_session, port->fd)) {
			/* EOF: the host side is not connected (any more) */
			if (errno != 0) {
				g_warning("port %s: read: %s", port->name, g_strerror(errno));
				port_close(port);
			} else {
				relay_end(port, "host disconnected");
			}
			return G_SOURCE_CONTINUE;
		}
		if (!buffer_drain(&port->to_session, port->relay_fd)) {
			relay_end(port, "session closed");
			return G_SOURCE_CONTINUE;
		}
	}
	if ((revents & G_IO_OUT) && !buffer_drain(&port->to_port, port->fd)) {
		g_warning("port %s: write: %s", port->name, g_strerror(errno));
		port_close(port);
		return G_SOURCE_CONTINUE;
	}
	relay_update(port);
	return G_SOURCE_CONTINUE;
}

static gboolean
relay_session_cb(GIOCondition revents, gpointer user_data)
{
	CocoonGuestPort *port = user_data;

	if (revents & (G_IO_HUP | G_IO_ERR)) {
		relay_end(port, "session closed");
		return G_SOURCE_CONTINUE;
	}
	if (revents & G_IO_IN) {
		if (!buffer_fill(&port->to_port, port->relay_fd)) {
			/* the consumer closed its end; it asks for the next session itself */
			relay_end(port, "session closed");
			return G_SOURCE_CONTINUE;
		}
		if (!buffer_drain(&port->to_port, port->fd)) {
			g_warning("port %s: write: %s", port->name, g_strerror(errno));
			port_close(port);
			return G_SOURCE_CONTINUE;
		}
	}
	if ((revents & G_IO_OUT) && !buffer_drain(&port->to_session, port->relay_fd)) {
		relay_end(port, "session closed");
		return G_SOURCE_CONTINUE;
	}
	relay_update(port);
	return G_SOURCE_CONTINUE;
}

static gboolean
relay_start(CocoonGuestPort *port, GError **error)
{
	int pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0) {
		cocoon_set_error_from_errno(error, "socketpair");
		return FALSE;
	}
	port->relay_fd = pair[0];
	port->port_watch = cocoon_guest_fd_watch_new(port->fd, relay_port_cb, port);
	port->relay_watch = cocoon_guest_fd_watch_new(port->relay_fd, relay_session_cb, port);
	relay_update(port);
	port_hand_out(port, pair[1], FALSE);
	return TRUE;
}

static gboolean
port_retry_cb(gpointer user_data)
{
	CocoonGuestPort *port = user_data;

	port->retry_id = 0;
	port_try(port);
	return G_SOURCE_REMOVE;
}

static void
port_retry_later(CocoonGuestPort *port)
{
	if (port->retry_id != 0)
		return;
	port->retry_id = g_timeout_add(port->retry_ms, port_retry_cb, port);
	port->retry_ms = MIN(port->retry_ms * 2, RETRY_MAX_MS);
}

/* a virtio port: open it (once), start a session as soon as the host side is connected */
static void
port_try_device(CocoonGuestPort *port)
{
	g_autoptr(GError) error = NULL;
	struct pollfd pfd = {0};

	if (port->relay_fd >= 0 || port->lent)
		return;
	if (port->fd < 0) {
		g_autofree gchar *path = NULL;

		if (port->kind == PORT_VIRTIO)
			path = cocoon_guest_port_find_virtio("/sys/class/virtio-ports", port->name,
							     &error);
		else
			path = g_strdup(port->location);
		if (path != NULL) {
			port->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
			if (port->fd < 0)
				g_set_error(&error, G_IO_ERROR, g_io_error_from_errno(errno),
					    "open %s: %s", path, g_strerror(errno));
		}
		if (port->fd < 0) {
			/* the driver may still be probing */
			if (!port->warned && port->retry_ms >= RETRY_MAX_MS) {
				g_warning("port %s: %s (retrying)", port->name, error->message);
				port->warned = TRUE;
			}
			port_retry_later(port);
			return;
		}
		g_debug("port %s: opened %s", port->name, path);
	}
	pfd.fd = port->fd;
	pfd.events = POLLIN | POLLOUT;
	port_set_async(port, TRUE);
	if (poll(&pfd, 1, 0) < 0 || (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))) {
		/* the host is not connected: poll says HUP until it is; SIGIO or the timer */
		port_retry_later(port);
		return;
	}
	/* SIGIO would also come for every read */
	port_set_async(port, FALSE);
	if (port->direct) {
		port_hand_out(port, port->fd, TRUE);
		return;
	}
	if (!relay_start(port, &error)) {
		g_warning("port %s: %s", port->name, error->message);
		port_retry_later(port);
	}
}

static gboolean
port_accept_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	CocoonGuestPort *port = user_data;
	int connection = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (connection < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			g_warning("port %s: accept: %s", port->name, g_strerror(errno));
		return G_SOURCE_CONTINUE;
	}
	/* one connection at a time, like a virtio port: stop accepting until it ends */
	port->accept_id = 0;
	port_hand_out(port, connection, FALSE);
	return G_SOURCE_REMOVE;
}

static gboolean
port_listen(CocoonGuestPort *port, GError **error)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	cocoon_autofd int fd = -1;

	if (strlen(port->location) >= sizeof(address.sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "socket path %s is too long", port->location);
		return FALSE;
	}
	strcpy(address.sun_path, port->location);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	(void)unlink(port->location);
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0 ||
	    listen(fd, 4) < 0) {
		cocoon_set_error_from_errno(error, "listen on %s", port->location);
		return FALSE;
	}
	port->fd = cocoon_steal_fd(&fd);
	return TRUE;
}

static void
port_try(CocoonGuestPort *port)
{
	switch (port->kind) {
	case PORT_VIRTIO:
	case PORT_DEVICE:
		port_try_device(port);
		break;
	case PORT_LISTEN:
		if (port->accept_id == 0)
			port->accept_id = g_unix_fd_add(port->fd, G_IO_IN, port_accept_cb, port);
		break;
	case PORT_FD:
		if (port->given_fd >= 0)
			port_hand_out(port, cocoon_steal_fd(&port->given_fd), FALSE);
		else
			g_warning("port %s: the connection on %s ended, there is no other",
				  port->name, port->location);
		break;
	}
}

/**
 * cocoon_guest_port_reconnect:
 *
 * the consumer closed the fd it was handed: the next host connection is handed out when it comes
 */
void
cocoon_guest_port_reconnect(CocoonGuestPort *port)
{
	g_debug("port %s: waiting for the host", port->name);
	relay_end(port, "closed by the agent");
	port->lent = FALSE;
	port->retry_ms = RETRY_MIN_MS;
	port_retry_later(port);
}

void
cocoon_guest_port_set_direct(CocoonGuestPort *port, gboolean direct)
{
	port->direct = direct;
}

CocoonGuestPort *
cocoon_guest_port_new(const gchar *name, const gchar *location, CocoonGuestPortConnectedFunc func,
		      gpointer user_data, GError **error)
{
	g_autoptr(CocoonGuestPort) port = g_new0(CocoonGuestPort, 1);
	struct stat st;

	port->name = g_strdup(name);
	port->location = g_strdup(location);
	port->func = func;
	port->user_data = user_data;
	port->fd = -1;
	port->given_fd = -1;
	port->relay_fd = -1;
	port->retry_ms = RETRY_MIN_MS;
	port->to_session.data = g_malloc(RELAY_BUFFER_SIZE);
	port->to_port.data = g_malloc(RELAY_BUFFER_SIZE);

	if (location == NULL) {
		port->kind = PORT_VIRTIO;
	} else if (g_str_has_prefix(location, "fd:")) {
		guint64 value = 0;
		if (!g_ascii_string_to_unsigned(location + 3, 10, 0, G_MAXINT, &value, error))
			return NULL;
		port->kind = PORT_FD;
		port->given_fd = (int)value;
		(void)fcntl(port->given_fd, F_SETFD, FD_CLOEXEC);
	} else if (stat(location, &st) == 0 && S_ISCHR(st.st_mode)) {
		port->kind = PORT_DEVICE;
	} else {
		port->kind = PORT_LISTEN;
		if (!port_listen(port, error))
			return NULL;
	}
	/* never hand out from inside the constructor */
	port->retry_id = g_idle_add(port_retry_cb, port);
	return g_steal_pointer(&port);
}

void
cocoon_guest_port_free(CocoonGuestPort *port)
{
	if (port == NULL)
		return;
	if (port->retry_id != 0)
		g_source_remove(port->retry_id);
	if (port->accept_id != 0)
		g_source_remove(port->accept_id);
	relay_end(port, "freed");
	sigio_ports = g_list_remove(sigio_ports, port);
	cocoon_fd_closep(&port->fd);
	cocoon_fd_closep(&port->given_fd);
	if (port->kind == PORT_LISTEN && port->location != NULL)
		(void)unlink(port->location);
	g_free(port->to_session.data);
	g_free(port->to_port.data);
	g_free(port->name);
	g_free(port->location);
	g_free(port);
}
