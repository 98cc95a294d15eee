/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoonctl"

#include "config.h"

#include "cocoonctl.h"

#include <locale.h>
#include <stdio.h>

static const gchar summary[] =
	"Commands:\n"
	"  list                every sandbox of every shim: on the bus (io.github.cocoon.Shim.*),\n"
	"                      else from <runtime.state_dir>/<sandbox>/dbus.sock\n"
	"  inspect ID          one sandbox: VM, how its QEMU is confined (uid, capabilities,\n"
	"                      no_new_privs, seccomp, namespaces), containers, processes\n"
	"  events              follow task events (TaskEvent signals) until interrupted\n"
	"  check               can this host run Cocoon? QEMU and its version, KVM or the TCG\n"
	"                      fallback, the guest image and its agent version, confinement\n"
	"                      (the uid range, namespaces, QEMU's seccomp, the uid leases), a\n"
	"                      real boot, the containerd configuration, the cgroup mode\n"
	"\n"
	"Exit status:\n"
	"  0  success (check: nothing failed; warnings are fine)\n"
	"  1  check found a problem, or the operation failed\n"
	"  2  usage: bad command line, or the configuration does not load\n"
	"  3  inspect: no such sandbox\n"
	"  4  events: no bus and no sandbox socket to talk to";

static gboolean verbose;

/* libraries' progress messages only with --verbose; warnings always, on stderr */
static void
log_handler(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	if ((level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) && !verbose)
		return;
	g_printerr("cocoonctl: %s%s%s\n", domain != NULL ? domain : "", domain != NULL ? ": " : "",
		   message);
}

int
main(int argc, char **argv)
{
	g_autofree gchar *config_path = NULL;
	g_autofree gchar *bus = NULL;
	gboolean version = FALSE;
	gint boot_timeout_ms = 0;
	CocoonctlOptions options = {0};
	const GOptionEntry entries[] = {
		{"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
		 "configuration file (default: $COCOON_CONFIG, else " COCOON_DEFAULT_CONFIG ")",
		 "FILE"},
		{"bus", 0, 0, G_OPTION_ARG_STRING, &bus,
		 "system, session or none (default: the configuration's runtime.dbus)", "BUS"},
		{"json", 'j', 0, G_OPTION_ARG_NONE, &options.json, "JSON output", NULL},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &options.verbose, "say more", NULL},
		{"boot-timeout-ms", 0, 0, G_OPTION_ARG_INT, &boot_timeout_ms,
		 "check: how long the test VM may take to boot (default: agent.boot_timeout_ms)",
		 "MS"},
		{"containerd-config", 0, 0, G_OPTION_ARG_FILENAME, &options.containerd_config,
		 "check: containerd's configuration (default: /etc/containerd/config.toml)",
		 "FILE"},
		{"version", 0, 0, G_OPTION_ARG_NONE, &version, "print the version", NULL},
		{NULL},
	};
	g_autoptr(GOptionContext) context =
		g_option_context_new("COMMAND [ID] - inspect and check Cocoon sandboxes");
	g_autoptr(GError) error = NULL;
	gint status;

	setlocale(LC_ALL, "");
	g_option_context_add_main_entries(context, entries, NULL);
	g_option_context_set_description(context, summary);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("cocoonctl: %s (see cocoonctl --help)\n", error->message);
		return COCOONCTL_EXIT_USAGE;
	}
	verbose = options.verbose;
	g_log_set_default_handler(log_handler, NULL);
	if (version) {
		g_print("cocoonctl %s\n", COCOON_VERSION);
		return COCOONCTL_EXIT_OK;
	}
	if (argc < 2) {
		g_printerr("cocoonctl: no command (list, inspect, events, check; see --help)\n");
		return COCOONCTL_EXIT_USAGE;
	}
	if (boot_timeout_ms < 0) {
		g_printerr("cocoonctl: --boot-timeout-ms must not be negative\n");
		return COCOONCTL_EXIT_USAGE;
	}
	options.boot_timeout_ms = (guint)boot_timeout_ms;
	options.config = config_path != NULL ? cocoon_config_load(config_path, &error)
					     : cocoon_config_load_default(&error);
	if (options.config == NULL && g_strcmp0(argv[1], "check") != 0) {
		g_printerr("cocoonctl: configuration: %s\n", error->message);
		return COCOONCTL_EXIT_USAGE;
	}
	if (options.config != NULL)
		options.bus = g_strdup(bus != NULL ? bus : options.config->dbus);
	if (bus != NULL && g_strcmp0(bus, "system") != 0 && g_strcmp0(bus, "session") != 0 &&
	    g_strcmp0(bus, "none") != 0) {
		g_printerr("cocoonctl: --bus %s: expected system, session or none\n", bus);
		return COCOONCTL_EXIT_USAGE;
	}

	if (g_str_equal(argv[1], "list") && argc == 2) {
		status = cocoonctl_list(&options);
	} else if (g_str_equal(argv[1], "inspect") && argc == 3) {
		status = cocoonctl_inspect(&options, argv[2]);
	} else if (g_str_equal(argv[1], "events") && argc == 2) {
		status = cocoonctl_events(&options);
	} else if (g_str_equal(argv[1], "check") && argc == 2) {
		if (options.config == NULL) {
			/* the configuration is the first thing check reports on */
			g_print("FAIL config: %s\n", error->message);
			return COCOONCTL_EXIT_FAILED;
		}
		status = cocoonctl_check(&options);
	} else {
		g_printerr("cocoonctl: bad command line: %s (see --help)\n", argv[1]);
		status = COCOONCTL_EXIT_USAGE;
	}
	cocoon_config_free(options.config);
	g_free(options.bus);
	g_free(options.containerd_config);
	return status;
}
