/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "cocoon-test-bus.h"

#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define NOBODY 65534

static const gchar open_policy[] = "  <policy context=\"default\">\n"
				   "    <allow user=\"*\"/>\n"
				   "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
				   "    <allow eavesdrop=\"true\"/>\n"
				   "    <allow own=\"*\"/>\n"
				   "  </policy>\n";

/* what /usr/share/dbus-1/system.conf says, minus what a test bus does not need */
static const gchar system_policy[] =
	"  <policy context=\"default\">\n"
	"    <allow user=\"*\"/>\n"
	"    <deny own=\"*\"/>\n"
	"    <deny send_type=\"method_call\"/>\n"
	"    <allow send_type=\"signal\"/>\n"
	"    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
	"    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
	"    <allow receive_type=\"method_call\"/>\n"
	"    <allow receive_type=\"method_return\"/>\n"
	"    <allow receive_type=\"error\"/>\n"
	"    <allow receive_type=\"signal\"/>\n"
	"    <allow send_destination=\"org.freedesktop.DBus\" "
	"send_interface=\"org.freedesktop.DBus\"/>\n"
	"    <allow send_destination=\"org.freedesktop.DBus\" "
	"send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
	"    <allow send_destination=\"org.freedesktop.DBus\" "
	"send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
	"  </policy>\n";

static void
die_with_parent(gpointer data)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

CocoonTestBus *
cocoon_test_bus_new(CocoonTestBusPolicy policy, GError **error)
{
	g_autoptr(CocoonTestBus) bus = g_new0(CocoonTestBus, 1);
	g_autofree gchar *config_path = NULL;
	g_autofree gchar *socket_path = NULL;
	g_autofree gchar *include = NULL;
	g_autofree gchar *config = NULL;
	g_autoptr(GString) line = g_string_new(NULL);
	GInputStream *stdout_pipe;
	gchar c;

	bus->dir = g_dir_make_tmp("cocoon-bus-XXXXXX", error);
	if (bus->dir == NULL)
		return NULL;
	g_chmod(bus->dir, 0755);
	config_path = g_build_filename(bus->dir, "bus.conf", NULL);
	socket_path = g_build_filename(bus->dir, "bus", NULL);
	if (policy == COCOON_TEST_BUS_SYSTEM)
		include = g_strdup_printf("  <include>%s/data/io.github.cocoon.conf</include>\n",
					  g_getenv("COCOON_SOURCE_DIR") != NULL
						  ? g_getenv("COCOON_SOURCE_DIR")
						  : COCOON_SOURCE_DIR);
	config = g_strdup_printf(
		"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus "
		"Configuration 1.0//EN\"\n"
		" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
		"<busconfig>\n"
		"  <type>%s</type>\n"
		"  <listen>unix:path=%s</listen>\n"
		"  <auth>EXTERNAL</auth>\n"
		"%s%s"
		"</busconfig>\n",
		policy == COCOON_TEST_BUS_SYSTEM ? "system" : "session", socket_path,
		policy == COCOON_TEST_BUS_SYSTEM ? system_policy : open_policy,
		include != NULL ? include : "");
	if (!g_file_set_contents(config_path, config, -1, error))
		return NULL;
	{
		g_autoptr(GSubprocessLauncher) launcher =
			g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
		/* a test that aborts takes its bus with it */
		g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
		bus->daemon = g_subprocess_launcher_spawn(launcher, error, "dbus-daemon",
							  "--nofork", "--print-address=1",
							  "--config-file", config_path, NULL);
	}
	if (bus->daemon == NULL)
		return NULL;
	/* the first line is the address, once it listens */
	stdout_pipe = g_subprocess_get_stdout_pipe(bus->daemon);
	while (g_input_stream_read(stdout_pipe, &c, 1, NULL, error) == 1 && c != '\n')
		g_string_append_c(line, c);
	if (line->len == 0) {
		if (error != NULL && *error == NULL)
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "dbus-daemon --config-file %s printed no address", config_path);
		return NULL;
	}
	bus->address = g_strdup(line->str);
	g_chmod(socket_path, 0777);
	return g_steal_pointer(&bus);
}

void
cocoon_test_bus_free(CocoonTestBus *bus)
{
	if (bus == NULL)
		return;
	if (bus->daemon != NULL) {
		g_subprocess_send_signal(bus->daemon, SIGTERM);
		g_subprocess_wait(bus->daemon, NULL, NULL);
		g_object_unref(bus->daemon);
	}
	if (bus->dir != NULL) {
		g_autofree gchar *config_path = g_build_filename(bus->dir, "bus.conf", NULL);
		g_autofree gchar *socket_path = g_build_filename(bus->dir, "bus", NULL);
		g_unlink(config_path);
		g_unlink(socket_path);
		g_rmdir(bus->dir);
	}
	g_free(bus->dir);
	g_free(bus->address);
	g_free(bus);
}

static void
drop_to_nobody(gpointer data)
{
	/* async-signal-safe calls only: we are between fork and exec */
	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		_exit(126);
}

static void
communicate_done(GObject *source, GAsyncResult *result, gpointer data)
{
	*(GAsyncResult **)data = g_object_ref(result);
}

gboolean
cocoon_test_run_as_nobody(const gchar *const *argv, const gchar *const *env, gint *ret_status,
			  gchar **ret_output, GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_autoptr(GSubprocess) process = NULL;
	g_autofree gchar *output = NULL;
	GAsyncResult *result = NULL;

	g_subprocess_launcher_set_child_setup(launcher, drop_to_nobody, NULL, NULL);
	g_subprocess_launcher_set_cwd(launcher, "/");
	for (guint i = 0; env != NULL && env[i] != NULL; i++) {
		g_auto(GStrv) pair = g_strsplit(env[i], "=", 2);
		g_subprocess_launcher_setenv(launcher, pair[0], pair[1] != NULL ? pair[1] : "",
					     TRUE);
	}
	process = g_subprocess_launcher_spawnv(launcher, argv, error);
	if (process == NULL)
		return FALSE;
	/* the service under test may live on this thread's main context: keep it running */
	g_subprocess_communicate_utf8_async(process, NULL, NULL, communicate_done, &result);
	while (result == NULL)
		g_main_context_iteration(NULL, TRUE);
	if (!g_subprocess_communicate_utf8_finish(process, result, &output, NULL, error)) {
		g_object_unref(result);
		return FALSE;
	}
	g_object_unref(result);
	*ret_status = g_subprocess_get_if_exited(process)
			      ? g_subprocess_get_exit_status(process)
			      : 128 + g_subprocess_get_term_sig(process);
	*ret_output = g_steal_pointer(&output);
	return TRUE;
}
