/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "cocoon-guest-agent.h"
#include "cocoon-guest-init.h"
#include "cocoon-guest-network.h"
#include "cocoon-guest-port.h"
#include "cocoon-guest-reaper.h"
#include "cocoon-ttrpc-server.h"

#define AGENT_PORT_NAME "cocoon.agent"
#define STDIO_PORT_NAME "cocoon.stdio"
#define MODULES_LIST	"/etc/cocoon/modules"

typedef struct {
	GMainLoop *loop;
	gboolean init;
	CocoonTtrpcServer *server;
	CocoonGuestAgent *agent;
	CocoonGuestPort *agent_port;
	CocoonGuestPort *stdio_port;
	gboolean announced;
} Main;

static void
agent_connected_cb(CocoonGuestPort *port, int fd, gboolean borrowed, gpointer user_data)
{
	Main *self = user_data;
	g_autoptr(GError) error = NULL;

	if (!cocoon_ttrpc_server_add_connection_fd(self->server, fd, &error)) {
		g_warning("agent port: %s", error->message);
		cocoon_guest_port_reconnect(port);
		return;
	}
	if (!self->announced) {
		g_message("cocoon-agent %s ready", COCOON_VERSION);
		self->announced = TRUE;
	} else {
		g_info("agent port: host connected");
	}
}

static void
agent_closed_cb(CocoonTtrpcServer *server, guint connections_left, gpointer user_data)
{
	Main *self = user_data;

	g_info("agent port: host disconnected");
	if (connections_left == 0)
		cocoon_guest_port_reconnect(self->agent_port);
}

static void
stdio_connected_cb(CocoonGuestPort *port, int fd, gboolean borrowed, gpointer user_data)
{
	Main *self = user_data;

	cocoon_guest_stdio_connect(cocoon_guest_agent_get_stdio(self->agent), fd, borrowed);
}

static void
stdio_disconnected_cb(CocoonGuestStdio *stdio, gpointer user_data)
{
	Main *self = user_data;

	cocoon_guest_port_reconnect(self->stdio_port);
}

static void
shutdown_cb(gpointer user_data)
{
	Main *self = user_data;

	if (self->init) {
		g_message("powering off");
		/* whatever is left (the containers were killed already) */
		(void)kill(-1, SIGKILL);
		cocoon_guest_power_off();
	}
	g_main_loop_quit(self->loop);
}

static gboolean
quit_cb(gpointer user_data)
{
	Main *self = user_data;

	g_main_loop_quit(self->loop);
	return G_SOURCE_CONTINUE;
}

/* the PID 1 part: everything a bare initramfs lacks */
static void
init_system(const gchar *share_dir)
{
	g_autoptr(GError) error = NULL;

	cocoon_guest_load_modules(MODULES_LIST);
	cocoon_guest_enable_cgroup_controllers("/sys/fs/cgroup");
	if (!cocoon_guest_loopback_up(&error))
		g_warning("%s", error->message);
	g_clear_error(&error);
	/* the host may add the share later: CreateContainer tries again */
	if (!cocoon_guest_mount_share(share_dir, &error))
		g_info("%s (mounted on first use)", error->message);
}

static int
run(int argc, char **argv, gboolean *ret_init)
{
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) mount_error = NULL;
	g_autoptr(CocoonGuestReaper) reaper = NULL;
	g_autoptr(CocoonGuestAgent) agent = NULL;
	g_autoptr(CocoonGuestNetwork) network = NULL;
	g_autoptr(CocoonTtrpcServer) server = NULL;
	g_autoptr(CocoonGuestPort) agent_port = NULL;
	g_autoptr(CocoonGuestPort) stdio_port = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_autofree gchar *port_agent = NULL;
	g_autofree gchar *port_stdio = NULL;
	g_autofree gchar *root = NULL;
	g_autofree gchar *crun = NULL;
	g_autofree gchar *run_dir = NULL;
	g_autofree gchar *share_dir = NULL;
	g_autofree gchar *crun_root = NULL;
	gboolean version = FALSE;
	gboolean no_init = FALSE;
	gboolean debug = FALSE;
	int log_fd = STDERR_FILENO;
	Main self = {0};
	const GOptionEntry entries[] = {
		{"version", 0, 0, G_OPTION_ARG_NONE, &version, "print the version", NULL},
		{"no-init", 0, 0, G_OPTION_ARG_NONE, &no_init,
		 "not PID 1: mount nothing, never power off (tests)", NULL},
		{"port-agent", 0, 0, G_OPTION_ARG_FILENAME, &port_agent,
		 "the agent connection: a device, a unix socket to listen on, or fd:N "
		 "(default: the virtio port " AGENT_PORT_NAME ")",
		 "PATH"},
		{"port-stdio", 0, 0, G_OPTION_ARG_FILENAME, &port_stdio,
		 "the stdio mux connection, like --port-agent (default: " STDIO_PORT_NAME ")",
		 "PATH"},
		{"root", 0, 0, G_OPTION_ARG_FILENAME, &root,
		 "prefix of the state directories (default /): ROOT/run/cocoon, ROOT/run/crun",
		 "DIR"},
		{"crun", 0, 0, G_OPTION_ARG_FILENAME, &crun,
		 "the OCI runtime (default /usr/bin/crun)", "PATH"},
		{"debug", 0, 0, G_OPTION_ARG_NONE, &debug, "debug messages (also: cocoon.debug)",
		 NULL},
		{NULL},
	};

	context = g_option_context_new("- the cocoon guest agent");
	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		fprintf(stderr, "cocoon-agent: %s\n", error->message);
		return 2;
	}
	if (version) {
		printf("cocoon-agent %s\n", COCOON_VERSION);
		return 0;
	}
	self.init = getpid() == 1 && !no_init;
	*ret_init = self.init;

	run_dir = g_build_filename(root != NULL ? root : "/", "run", "cocoon", NULL);
	share_dir = g_build_filename(run_dir, "shared", NULL);
	crun_root = g_build_filename(root != NULL ? root : "/", "run", "crun", NULL);

	if (self.init) {
		/* /dev first: the console is where everything is logged */
		if (!cocoon_guest_mount_basics(&error))
			mount_error = g_steal_pointer(&error);
		cocoon_guest_ensure_std_fds();
		log_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (log_fd < 0)
			log_fd = STDERR_FILENO;
		debug = debug || cocoon_guest_cmdline_has("cocoon.debug");
	}
	cocoon_guest_log_setup(log_fd, debug);
	if (mount_error != NULL)
		g_warning("%s", mount_error->message);
	/* a closed pipe is an EPIPE for the one write, not the end of the agent */
	signal(SIGPIPE, SIG_IGN);
	if (self.init) {
		init_system(share_dir);
	} else if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		g_warning("PR_SET_CHILD_SUBREAPER: %s", g_strerror(errno));
	}

	loop = g_main_loop_new(NULL, FALSE);
	self.loop = loop;
	/* before any socket exists: a peer that connects may SIGTERM us at once */
	if (!self.init) {
		g_unix_signal_add(SIGTERM, quit_cb, &self);
		g_unix_signal_add(SIGINT, quit_cb, &self);
	}
	reaper = cocoon_guest_reaper_new(&error);
	if (reaper == NULL) {
		g_critical("%s", error->message);
		return 1;
	}
	{
		CocoonGuestAgentOptions options = {
			.run_dir = run_dir,
			.share_dir = share_dir,
			.crun_binary = crun != NULL ? crun : "/usr/bin/crun",
			.crun_root = crun_root,
			.cgroup_root = "/sys/fs/cgroup",
			.init = self.init,
		};
		agent = cocoon_guest_agent_new(&options, reaper, &error);
	}
	if (agent == NULL) {
		g_critical("%s", error->message);
		return 1;
	}
	self.agent = agent;
	cocoon_guest_agent_set_shutdown_func(agent, shutdown_cb, &self);
	cocoon_guest_stdio_set_disconnected_func(cocoon_guest_agent_get_stdio(agent),
						 stdio_disconnected_cb, &self);

	server = cocoon_ttrpc_server_new();
	self.server = server;
	/* the port is the trust boundary, there is no peer to check */
	cocoon_ttrpc_server_set_require_same_user(server, FALSE);
	cocoon_ttrpc_server_set_connection_closed_func(server, agent_closed_cb, &self);
	cocoon_guest_agent_register(agent, server);
	/* the network is the VM's own only as PID 1; NICs stay parked until SetupNetwork */
	if (self.init) {
		network = cocoon_guest_network_new(TRUE, &error);
		if (network != NULL)
			cocoon_guest_agent_set_network(agent, network);
		else
			g_warning("network: %s", error->message);
		g_clear_error(&error);
	}

	agent_port = cocoon_guest_port_new(AGENT_PORT_NAME, port_agent, agent_connected_cb, &self,
					   &error);
	if (agent_port == NULL) {
		g_critical("agent port: %s", error->message);
		return 1;
	}
	self.agent_port = agent_port;
	stdio_port = cocoon_guest_port_new(STDIO_PORT_NAME, port_stdio, stdio_connected_cb, &self,
					   &error);
	if (stdio_port == NULL) {
		g_critical("stdio port: %s", error->message);
		return 1;
	}
	self.stdio_port = stdio_port;
	/* the bulk data path: no relay copies; the mux resynchronizes sessions itself */
	cocoon_guest_port_set_direct(stdio_port, TRUE);

	g_debug("serving (init: %s)", self.init ? "yes" : "no");
	g_main_loop_run(loop);

	cocoon_ttrpc_server_shutdown(server);
	return 0;
}

int
main(int argc, char **argv)
{
	gboolean init = FALSE;
	int status;

	/* before any thread exists: every thread inherits the mask, the reaper's signalfd gets it
	 */
	cocoon_guest_reaper_block_signals();
	cocoon_guest_port_block_signals();
	status = run(argc, argv, &init);
	if (init) {
		/* PID 1 must not exit: that panics the kernel; end the VM cleanly instead */
		g_warning("agent stopped (status %d), powering off", status);
		cocoon_guest_power_off();
	}
	return status;
}
