/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>
#include <protobuf-c/protobuf-c.h>

#include "cocoon-runtime.h"
#include "cocoon-sandbox-info.h"

G_BEGIN_DECLS

/*
 * Publishes one shim's sandboxes as io.github.cocoon.Sandbox1 objects
 * (data/io.github.cocoon.Sandbox1.xml):
 * - on the bus chosen by runtime.dbus, under the name io.github.cocoon.Shim.p<PID>, at
 *   /io/github/cocoon/Sandbox/<escaped id>, with an ObjectManager at /io/github/cocoon;
 * - always, peer to peer, on <state_dir>/<id>/dbus.sock (EXTERNAL auth, uid 0 or the shim's own).
 * No bus (none configured, none reachable, or it went away) is logged once and never fatal; a lost
 * bus is reconnected every few seconds.
 *
 * Threading: every function runs on the main context (the thread-default context at new()),
 * except cocoon_dbus_exporter_queue_event(), which any thread may call.
 */
typedef struct _CocoonDbusExporter CocoonDbusExporter;

#define COCOON_DBUS_INTERFACE		"io.github.cocoon.Sandbox1"
#define COCOON_DBUS_NAME_PREFIX		"io.github.cocoon.Shim.p"
#define COCOON_DBUS_MANAGER_PATH	"/io/github/cocoon"
#define COCOON_DBUS_SANDBOX_PATH_PREFIX "/io/github/cocoon/Sandbox/"
#define COCOON_DBUS_PEER_SOCKET		"dbus.sock"

typedef enum {
	COCOON_DBUS_BUS_NONE,
	COCOON_DBUS_BUS_SYSTEM,
	COCOON_DBUS_BUS_SESSION,
} CocoonDbusBus;

/* "system", "session", anything else NONE */
CocoonDbusBus cocoon_dbus_bus_from_string(const gchar *value);

/*
 * what Stop() does once the caller was found to be root; info is the sandbox's latest snapshot.
 * FALSE with error: the caller gets org.freedesktop.DBus.Error.Failed with the message.
 */
typedef gboolean (*CocoonDbusStopFunc)(CocoonSandboxInfo *info, gpointer user_data, GError **error);

CocoonDbusExporter *cocoon_dbus_exporter_new(CocoonDbusBus bus, const gchar *state_dir,
					     const gchar *namespace_);
void cocoon_dbus_exporter_free(CocoonDbusExporter *exporter);

/* the bus's address instead of $DBUS_{SYSTEM,SESSION}_BUS_ADDRESS (tests); before start() */
void cocoon_dbus_exporter_set_bus_address(CocoonDbusExporter *exporter, const gchar *address);
/* connects to the bus in the background; the peer sockets do not wait for it */
void cocoon_dbus_exporter_start(CocoonDbusExporter *exporter);
/* default: cocoon_dbus_stop_qemu() */
void cocoon_dbus_exporter_set_stop_func(CocoonDbusExporter *exporter, CocoonDbusStopFunc func,
					gpointer user_data);
/* a new snapshot: the object is created on the first one, its properties follow */
void cocoon_dbus_exporter_update(CocoonDbusExporter *exporter, CocoonSandboxInfo *info);
/*
 * any thread, never blocks: a task event of sandbox_id (a containerd.events.* message, named by
 * type_url) becomes a TaskEvent signal on the main context; what the signal needs is copied
 * before it returns. What the exporter subscribes to on the runtime's event bus.
 */
void cocoon_dbus_exporter_queue_event(CocoonDbusExporter *exporter, const gchar *sandbox_id,
				      const gchar *topic, const gchar *type_url,
				      const ProtobufCMessage *event);
/*
 * wires a shim's runtime: subscribes to its snapshots and to its event bus (until free(), which
 * must come before the runtime's); call before the first sandbox exists
 */
void cocoon_dbus_exporter_attach(CocoonDbusExporter *exporter, CocoonRuntime *runtime);

/* the bus connection when there is one (NULL otherwise) and the name owned on it */
GDBusConnection *cocoon_dbus_exporter_get_bus(CocoonDbusExporter *exporter);
const gchar *cocoon_dbus_exporter_get_name(CocoonDbusExporter *exporter);

/* SIGKILL to the snapshot's QEMU, if it is still this process's child */
gboolean cocoon_dbus_stop_qemu(CocoonSandboxInfo *info, gpointer user_data, GError **error);

/* /io/github/cocoon/Sandbox/<g_dbus_escape_object_path(id)> */
gchar *cocoon_dbus_sandbox_object_path(const gchar *sandbox_id);
/* <state_dir>/<id>/dbus.sock */
gchar *cocoon_dbus_peer_socket_path(const gchar *state_dir, const gchar *sandbox_id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonDbusExporter, cocoon_dbus_exporter_free)

G_END_DECLS
