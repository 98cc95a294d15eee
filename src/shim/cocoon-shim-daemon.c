/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-shim"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "cocoon-dbus-exporter.h"
#include "cocoon-event-publisher.h"
#include "cocoon-qemu.h"
#include "cocoon-runtime.h"
#include "cocoon-sandbox.h"
#include "cocoon-shim-util.h"
#include "cocoon-shim.h"
#include "cocoon-task-service.h"
#include "cocoon-ttrpc-server.h"

#define LISTEN_FD		3
#define EVENT_DRAIN_TIMEOUT_MS	5000
#define ORPHAN_CHECK_INTERVAL_S 5

static GMainLoop *main_loop;
static gboolean log_debug;
/* main context only */
static struct {
	CocoonRuntime *runtime;
	CocoonTtrpcServer *server;
	guint checks;
} orphan;

static void
log_handler(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree gchar *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
	const gchar *name = "info";

	if ((level & G_LOG_LEVEL_DEBUG) && !log_debug)
		return;
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		name = "error";
	else if (level & G_LOG_LEVEL_WARNING)
		name = "warning";
	else if (level & G_LOG_LEVEL_DEBUG)
		name = "debug";
	/* containerd copies the log FIFO into its own log; a write error while it restarts is fine
	 */
	fprintf(stderr,
		"time=\"%s\" level=%s msg=\"%s\" runtime=io.containerd.cocoon.v2 pid=%d %s\n",
		stamp, name, message, getpid(), domain != NULL ? domain : "");
	fflush(stderr);
}

static void
open_log_fifo(void)
{
	int fd = open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	/* blocking writes would stall a thread while containerd is away: keep it non-blocking */
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static gboolean
on_terminate(gpointer data)
{
	g_message("signal received, shutting down");
	g_main_loop_quit(main_loop);
	return G_SOURCE_CONTINUE;
}

/*
 * A shim that hosts no container and has no client is an orphan: containerd lost track of it (it
 * was killed during a Create, or its Connect after a restart failed while a Create was still
 * booting) and will never send Shutdown. Two checks in a row, so that a containerd about to connect
 * after `start` is not missed.
 */
static gboolean
on_orphan_check(gpointer data)
{
	if (cocoon_runtime_count_containers(orphan.runtime) > 0 ||
	    cocoon_ttrpc_server_get_n_connections(orphan.server) > 0) {
		orphan.checks = 0;
		return G_SOURCE_CONTINUE;
	}
	if (++orphan.checks < 2)
		return G_SOURCE_CONTINUE;
	g_message("no container and no client for %d s: containerd lost this shim, exiting",
		  orphan.checks * ORPHAN_CHECK_INTERVAL_S);
	g_main_loop_quit(main_loop);
	return G_SOURCE_REMOVE;
}

/*
 * after an orderly stop `delete` may never come (an orphan's exit): the sandbox's state directory
 * goes here, unless a newer shim of the same pod owns it already (its shim.pid)
 */
static void
remove_own_state_dir(const gchar *state_dir)
{
	g_autofree gchar *path = g_build_filename(state_dir, "shim.pid", NULL);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *ours = NULL;
	guint64 start_time;

	if (!g_file_get_contents(path, &contents, NULL, NULL)) {
		/* no VM was booted here: only empty directories go */
		g_autofree gchar *shared_dir = g_build_filename(state_dir, "shared", NULL);
		g_rmdir(shared_dir);
		g_rmdir(state_dir);
		return;
	}
	if (!cocoon_qemu_read_start_time(getpid(), &start_time, NULL))
		return;
	ours = g_strdup_printf("%d %" G_GUINT64_FORMAT, (int)getpid(), start_time);
	if (g_str_equal(g_strstrip(contents), ours))
		cocoon_shim_remove_state_dir(state_dir);
}

static gboolean
on_shutdown(gpointer data)
{
	g_main_loop_quit(main_loop);
	return G_SOURCE_REMOVE;
}

int
cocoon_shim_daemon(const CocoonShimOptions *options)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonTtrpcServer) server = NULL;
	g_autoptr(GPtrArray) sandboxes = NULL;
	g_autoptr(CocoonDbusExporter) exporter = NULL;
	CocoonRuntime *runtime = NULL;
	CocoonConfig *config; /* the runtime's */
	CocoonEventPublisher *publisher = NULL;
	g_autofree gchar *address = NULL;
	const gchar *group = options->group != NULL ? options->group : options->id;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	open_log_fifo();
	log_debug = options->debug;
	g_log_set_default_handler(log_handler, NULL);
	/*
	 * a subreaper, like every shim; but nothing here calls waitpid(-1): QEMU's exit belongs to
	 * the hypervisor driver's pidfd, loggers are reaped by pid
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		g_warning("cannot become a subreaper: %s", g_strerror(errno));

	config = cocoon_config_load_default(&error);
	if (config == NULL) {
		g_critical("configuration: %s", error->message);
		return 1;
	}
	if (g_strcmp0(config->log_level, "debug") == 0)
		log_debug = TRUE;
	for (gchar **warning = config->warnings; *warning != NULL; warning++)
		g_warning("configuration: %s", *warning);
	runtime = cocoon_runtime_new(config, options->namespace_, g_main_context_default());
	publisher = cocoon_event_publisher_new(g_getenv("TTRPC_ADDRESS"), options->namespace_);
	cocoon_event_publisher_subscribe(publisher, cocoon_runtime_get_event_bus(runtime));
	/* sandboxes on D-Bus (runtime.dbus) and on <state_dir>/<sandbox>/dbus.sock */
	exporter = cocoon_dbus_exporter_new(cocoon_dbus_bus_from_string(config->dbus),
					    config->state_dir, options->namespace_);
	cocoon_dbus_exporter_attach(exporter, runtime);
	cocoon_dbus_exporter_start(exporter);

	main_loop = g_main_loop_new(NULL, FALSE);
	server = cocoon_ttrpc_server_new();
	cocoon_task_service_register(server, runtime, on_shutdown, NULL);
	if (!cocoon_ttrpc_server_listen_fd(server, LISTEN_FD, &error)) {
		g_critical("serving on fd %d: %s", LISTEN_FD, error->message);
		return 1;
	}
	g_unix_signal_add(SIGTERM, on_terminate, NULL);
	g_unix_signal_add(SIGINT, on_terminate, NULL);
	orphan.runtime = runtime;
	orphan.server = server;
	g_timeout_add_seconds(ORPHAN_CHECK_INTERVAL_S, on_orphan_check, NULL);
	g_info("serving pod %s (first task %s, namespace %s), config %s", group, options->id,
	       options->namespace_, config->path ? config->path : "(defaults)");

	g_main_loop_run(main_loop);

	/* stop taking requests, then take every sandbox down (VMs stopped, mounts released) */
	cocoon_ttrpc_server_shutdown(server);
	address = cocoon_shim_socket_address(options->address != NULL ? options->address : "",
					     options->namespace_, group);
	g_unlink(cocoon_shim_socket_path(address));
	sandboxes = cocoon_runtime_list_sandboxes(runtime);
	for (guint i = 0; i < sandboxes->len; i++)
		cocoon_sandbox_stop(sandboxes->pdata[i]);
	cocoon_event_publisher_free(publisher, EVENT_DRAIN_TIMEOUT_MS);
	/* the D-Bus peer sockets go with the exporter, then the rest of each state directory */
	g_clear_pointer(&exporter, cocoon_dbus_exporter_free);
	for (guint i = 0; i < sandboxes->len; i++) {
		g_autofree gchar *state_dir = g_build_filename(
			config->state_dir, cocoon_sandbox_get_id(sandboxes->pdata[i]), NULL);
		remove_own_state_dir(state_dir);
	}
	g_info("exiting");
	/* the sandboxes are stopped: nothing reads these any more (LeakSanitizer, memcheck) */
	g_clear_pointer(&sandboxes, g_ptr_array_unref);
	g_clear_pointer(&runtime, cocoon_runtime_free);
	return 0;
}
