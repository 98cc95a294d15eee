/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-events"

#include "config.h"

#include "cocoon-event-bus.h"

typedef struct {
	guint id;
	CocoonEventFunc func;
	gpointer user_data;
} Subscriber;

struct _CocoonEventBus {
	/*
	 * publishers read the subscribers under the reader lock while they call them, so several
	 * sandboxes publish at once; (un)subscribe takes the writer lock, which waits for the calls
	 * in progress: after unsubscribe() nothing calls the subscriber any more
	 */
	GRWLock lock;
	GArray *subscribers; /* Subscriber, in the order they subscribed */
	guint next_id;
};

/**
 * cocoon_event_bus_subscribe:
 * @func: called on the publishing thread for every event (see the header for the rules)
 *
 * Returns: an id for cocoon_event_bus_unsubscribe()
 */
guint
cocoon_event_bus_subscribe(CocoonEventBus *bus, CocoonEventFunc func, gpointer user_data)
{
	Subscriber subscriber = {.func = func, .user_data = user_data};

	g_rw_lock_writer_lock(&bus->lock);
	subscriber.id = ++bus->next_id;
	g_array_append_val(bus->subscribers, subscriber);
	g_rw_lock_writer_unlock(&bus->lock);
	return subscriber.id;
}

void
cocoon_event_bus_unsubscribe(CocoonEventBus *bus, guint id)
{
	if (id == 0)
		return;
	g_rw_lock_writer_lock(&bus->lock);
	for (guint i = 0; i < bus->subscribers->len; i++) {
		if (g_array_index(bus->subscribers, Subscriber, i).id == id) {
			g_array_remove_index(bus->subscribers, i);
			break;
		}
	}
	g_rw_lock_writer_unlock(&bus->lock);
}

/**
 * cocoon_event_bus_publish:
 * @sandbox_id: the sandbox the event belongs to
 * @event: the containerd.events.* message named by @type_url
 *
 * Hands the event to every subscriber, on this thread, before it returns.
 */
void
cocoon_event_bus_publish(CocoonEventBus *bus, const gchar *sandbox_id, const gchar *topic,
			 const gchar *type_url, const ProtobufCMessage *event)
{
	g_rw_lock_reader_lock(&bus->lock);
	for (guint i = 0; i < bus->subscribers->len; i++) {
		const Subscriber *subscriber = &g_array_index(bus->subscribers, Subscriber, i);
		subscriber->func(sandbox_id, topic, type_url, event, subscriber->user_data);
	}
	g_rw_lock_reader_unlock(&bus->lock);
}

CocoonEventBus *
cocoon_event_bus_new(void)
{
	CocoonEventBus *bus = g_new0(CocoonEventBus, 1);
	g_rw_lock_init(&bus->lock);
	bus->subscribers = g_array_new(FALSE, FALSE, sizeof(Subscriber));
	return bus;
}

void
cocoon_event_bus_free(CocoonEventBus *bus)
{
	if (bus == NULL)
		return;
	if (bus->subscribers->len > 0)
		g_warning("event bus freed with %u subscribers", bus->subscribers->len);
	g_array_unref(bus->subscribers);
	g_rw_lock_clear(&bus->lock);
	g_free(bus);
}
