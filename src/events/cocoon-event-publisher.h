/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <protobuf-c/protobuf-c.h>

#include "cocoon-event-bus.h"

G_BEGIN_DECLS

/*
 * The event publisher thread: task events go to containerd with ttrpc
 * containerd.services.events.ttrpc.v1.Events/Forward on $TTRPC_ADDRESS, one at a time, in the order
 * they were queued. publish() never blocks: it packs the event and queues it. While containerd
 * restarts, the head event is retried with growing delays, so order is kept. In the shim it takes
 * its events from the event bus (cocoon_event_publisher_subscribe()).
 */
typedef struct _CocoonEventPublisher CocoonEventPublisher;

/* address: "unix:///path" or a plain path; NULL or "" = events are only logged */
CocoonEventPublisher *cocoon_event_publisher_new(const gchar *address, const gchar *namespace_);
/* thread-safe; topic e.g. "/tasks/exit", type_url e.g. "containerd.events.TaskExit" */
void cocoon_event_publisher_publish(CocoonEventPublisher *publisher, const gchar *topic,
				    const gchar *type_url, const ProtobufCMessage *event);
/* publish() every event of bus (on the bus's publishing thread) until free(); once */
void cocoon_event_publisher_subscribe(CocoonEventPublisher *publisher, CocoonEventBus *bus);
/* events queued and not yet accepted by containerd */
guint cocoon_event_publisher_get_pending(CocoonEventPublisher *publisher);
/* unsubscribes, waits up to timeout_ms for the queue to drain, then stops the thread and frees */
void cocoon_event_publisher_free(CocoonEventPublisher *publisher, guint timeout_ms);

G_END_DECLS
