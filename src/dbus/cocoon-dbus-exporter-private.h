/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * shared by the exporter (the bus, events, the runtime: cocoon-dbus-exporter.c) and the sandbox
 * objects it exports (properties, Stop(), peer sockets, Introspect: cocoon-dbus-sandbox.c);
 * all of it is touched on the exporter's main context only, but for the path set (paths_lock:
 * the Introspect filter reads it on GDBus's worker thread)
 */

#include "cocoon-dbus-exporter.h"
#include "cocoon-dbus-generated.h"

G_BEGIN_DECLS

/* one sandbox: a skeleton in the bus's object manager, one for its peer connections */
typedef struct {
	CocoonDbusExporter *exporter; /* weak */
	gchar *id;
	gchar *path;
	GDBusObjectSkeleton *object;
	CocoonDbusSandbox1 *bus_skeleton;
	CocoonDbusSandbox1 *peer_skeleton;
	CocoonSandboxInfo *info; /* latest snapshot */
	GDBusServer *server;
	gchar *socket_path;
	GPtrArray *peers; /* GDBusConnection */
} ExportedSandbox;

struct _CocoonDbusExporter {
	GMainContext *context;
	CocoonDbusBus bus;
	gchar *bus_address; /* NULL: from the environment */
	gchar *state_dir;
	gchar *namespace_;
	gchar *name;
	GCancellable *cancellable;
	GDBusObjectManagerServer *manager;
	GDBusConnection *connection;
	gulong closed_id;
	guint owner_id;
	guint retry_id;
	gboolean bus_failure_logged;
	GDBusAuthObserver *auth_observer;
	GHashTable *sandboxes; /* id → ExportedSandbox */
	GMutex paths_lock;
	GHashTable *paths; /* object paths of sandboxes, for the Introspect filter */
	CocoonDbusStopFunc stop_func;
	gpointer stop_data;
	CocoonRuntime *runtime; /* attached to, or NULL */
	guint info_subscription;
	guint event_subscription;
};

/* the sandbox's objects for a snapshot's id, exported on first use */
ExportedSandbox *cocoon_dbus_sandbox_ensure(CocoonDbusExporter *exporter, const gchar *id);
void cocoon_dbus_exported_sandbox_free(ExportedSandbox *sandbox);
/* answers Introspect of sandbox objects on a connection (the bus, or a peer) */
void cocoon_dbus_introspect_filter_add(CocoonDbusExporter *exporter, GDBusConnection *connection);
void cocoon_dbus_introspect_filter_remove(GDBusConnection *connection);
/* for the peer sockets: EXTERNAL only, root or this process's user */
GDBusAuthObserver *cocoon_dbus_peer_auth_observer_new(void);

G_END_DECLS
