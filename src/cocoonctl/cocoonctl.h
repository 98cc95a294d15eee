/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

#include "cocoon-config.h"
#include "cocoon-dbus-generated.h"

G_BEGIN_DECLS

/* exit codes a script can rely on (cocoonctl --help lists them) */
typedef enum {
	COCOONCTL_EXIT_OK = 0,
	COCOONCTL_EXIT_FAILED = 1,	/* check found a problem, or the operation failed */
	COCOONCTL_EXIT_USAGE = 2,	/* bad command line or configuration */
	COCOONCTL_EXIT_NOT_FOUND = 3,	/* no such sandbox */
	COCOONCTL_EXIT_UNAVAILABLE = 4, /* no bus and no sandbox socket to talk to */
} CocoonctlExit;

typedef struct {
	CocoonConfig *config;
	gchar *bus; /* "system" | "session" | "none": the config's runtime.dbus unless --bus */
	gboolean json;
	gboolean verbose;
	guint boot_timeout_ms; /* check: 0 = the config's agent.boot_timeout_ms */
	gchar *containerd_config;
} CocoonctlOptions;

gint cocoonctl_list(CocoonctlOptions *options);
gint cocoonctl_inspect(CocoonctlOptions *options, const gchar *id);
gint cocoonctl_events(CocoonctlOptions *options);
gint cocoonctl_check(CocoonctlOptions *options);

GDBusConnection *cocoonctl_bus_connect(CocoonctlOptions *options);
CocoonDbusSandbox1 *cocoonctl_peer_proxy(const gchar *socket_path, const gchar *id, GError **error);

G_END_DECLS
