/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <protobuf-c/protobuf-c.h>

G_BEGIN_DECLS

/*
 * The task events of one shim, each published once by the sandbox it belongs to, as the typed
 * message: containerd's Forward packer (CocoonEventPublisher) and the D-Bus exporter subscribe.
 *
 * Threading: every function is thread-safe. Callbacks run on the publishing thread (a sandbox
 * worker), one subscriber after the other in the order they subscribed, while publish() waits;
 * so a sandbox's events reach every subscriber in the order it published them. A callback must
 * not block (it holds up the pod) and must not call back into the bus (publish, subscribe,
 * unsubscribe): it copies what it needs and hands it to its own thread. The event, the ids and
 * strings are only valid during the call.
 */
typedef struct _CocoonEventBus CocoonEventBus;

/* topic e.g. "/tasks/exit", type_url e.g. "containerd.events.TaskExit", event its message */
typedef void (*CocoonEventFunc)(const gchar *sandbox_id, const gchar *topic, const gchar *type_url,
				const ProtobufCMessage *event, gpointer user_data);

CocoonEventBus *cocoon_event_bus_new(void);
/* every subscriber must be gone */
void cocoon_event_bus_free(CocoonEventBus *bus);

/* returns an id for unsubscribe(), never 0 */
guint cocoon_event_bus_subscribe(CocoonEventBus *bus, CocoonEventFunc func, gpointer user_data);
/* once it returns, func is not running and is not called again; 0 is ignored */
void cocoon_event_bus_unsubscribe(CocoonEventBus *bus, guint id);
/* calls every subscriber with the event before it returns */
void cocoon_event_bus_publish(CocoonEventBus *bus, const gchar *sandbox_id, const gchar *topic,
			      const gchar *type_url, const ProtobufCMessage *event);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonEventBus, cocoon_event_bus_free)

G_END_DECLS
