/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-events"

#include "config.h"

#include "cocoon-event-publisher.h"

#include <string.h>

#include "cocoon-ttrpc-client.h"
#include "cocoon-ttrpc-server.h"
#include "events-forward.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

#define FORWARD_TIMEOUT_MS 5000
/* while containerd restarts: retry the head event for this long, then drop it */
#define RETRY_GIVE_UP_US   (120 * G_USEC_PER_SEC)
#define RETRY_MAX_DELAY_MS 2000
#define QUEUE_LIMIT	   4096

typedef struct {
	gchar *topic;
	gchar *type_url;
	GBytes *payload;
	gint64 timestamp_us; /* wall clock when queued */
	gboolean stop;
} EventItem;

struct _CocoonEventPublisher {
	gchar *path;
	gchar *namespace_;
	GAsyncQueue *queue;
	GThread *thread;
	CocoonEventBus *bus; /* subscribed to, or NULL */
	guint subscription;
	GMutex lock;
	GCond drained;
	guint pending;
	gboolean stopping;
};

static void
event_item_free(EventItem *item)
{
	if (item == NULL)
		return;
	g_free(item->topic);
	g_free(item->type_url);
	if (item->payload != NULL)
		g_bytes_unref(item->payload);
	g_free(item);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(EventItem, event_item_free)

static gboolean
publisher_forward(CocoonEventPublisher *publisher, CocoonTtrpcClient *client, EventItem *item,
		  GError **error)
{
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest request =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
	Containerd__Services__Events__Ttrpc__V1__Envelope envelope =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
	Google__Protobuf__Timestamp timestamp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	ProtobufCMessage *response;
	gsize size;

	timestamp.seconds = item->timestamp_us / G_USEC_PER_SEC;
	timestamp.nanos = (gint32)(item->timestamp_us % G_USEC_PER_SEC) * 1000;
	any.type_url = item->type_url;
	any.value.data = (guint8 *)g_bytes_get_data(item->payload, &size);
	any.value.len = size;
	envelope.timestamp = &timestamp;
	envelope.namespace_ = publisher->namespace_;
	envelope.topic = item->topic;
	envelope.event = &any;
	request.envelope = &envelope;
	response = cocoon_ttrpc_client_call_message(
		client, "containerd.services.events.ttrpc.v1.Events", "Forward",
		(const ProtobufCMessage *)&request, &google__protobuf__empty__descriptor,
		FORWARD_TIMEOUT_MS, NULL, error);
	if (response == NULL)
		return FALSE;
	protobuf_c_message_free_unpacked(response, NULL);
	return TRUE;
}

static gboolean
error_is_transient(const GError *error)
{
	return g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNAVAILABLE) ||
	       g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_DEADLINE_EXCEEDED) ||
	       error->domain == G_IO_ERROR;
}

static void
publisher_item_done(CocoonEventPublisher *publisher)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&publisher->lock);
	publisher->pending--;
	if (publisher->pending == 0)
		g_cond_broadcast(&publisher->drained);
}

static gpointer
publisher_thread(gpointer data)
{
	CocoonEventPublisher *publisher = data;
	g_autoptr(CocoonTtrpcClient) client = NULL;

	for (;;) {
		g_autoptr(EventItem) item = g_async_queue_pop(publisher->queue);
		gint64 first_try = g_get_monotonic_time();
		guint delay_ms = 50;

		if (item->stop)
			break;
		if (publisher->path == NULL) {
			g_debug("event %s (no TTRPC_ADDRESS, not forwarded)", item->topic);
			publisher_item_done(publisher);
			continue;
		}
		for (;;) {
			g_autoptr(GError) error = NULL;
			if (client == NULL || !cocoon_ttrpc_client_is_connected(client)) {
				g_clear_pointer(&client, cocoon_ttrpc_client_unref);
				client = cocoon_ttrpc_client_new_for_path(publisher->path, &error);
				if (client != NULL)
					cocoon_ttrpc_client_set_metadata(client,
									 COCOON_TTRPC_NAMESPACE_KEY,
									 publisher->namespace_);
			}
			if (client != NULL && publisher_forward(publisher, client, item, &error))
				break;
			if (!error_is_transient(error) ||
			    g_get_monotonic_time() - first_try > RETRY_GIVE_UP_US) {
				g_warning("dropping event %s: %s", item->topic, error->message);
				break;
			}
			g_debug("event %s not delivered yet (%s), retrying in %u ms", item->topic,
				error->message, delay_ms);
			g_clear_pointer(&client, cocoon_ttrpc_client_unref);
			g_usleep(delay_ms * 1000);
			delay_ms = MIN(delay_ms * 2, RETRY_MAX_DELAY_MS);
		}
		publisher_item_done(publisher);
	}
	return NULL;
}

/**
 * cocoon_event_publisher_new:
 * @address: containerd's ttrpc address ($TTRPC_ADDRESS)
 * @namespace_: the containerd namespace every event belongs to
 *
 * Starts the publisher thread.
 */
CocoonEventPublisher *
cocoon_event_publisher_new(const gchar *address, const gchar *namespace_)
{
	CocoonEventPublisher *publisher = g_new0(CocoonEventPublisher, 1);
	if (address != NULL && address[0] != '\0')
		publisher->path =
			g_strdup(g_str_has_prefix(address, "unix://") ? address + strlen("unix://")
								      : address);
	publisher->namespace_ = g_strdup(namespace_ != NULL ? namespace_ : "default");
	publisher->queue = g_async_queue_new_full((GDestroyNotify)event_item_free);
	g_mutex_init(&publisher->lock);
	g_cond_init(&publisher->drained);
	publisher->thread = g_thread_new("cocoon-events", publisher_thread, publisher);
	return publisher;
}

void
cocoon_event_publisher_publish(CocoonEventPublisher *publisher, const gchar *topic,
			       const gchar *type_url, const ProtobufCMessage *event)
{
	EventItem *item;
	gsize size = protobuf_c_message_get_packed_size(event);
	guint8 *buf = g_malloc(size + 1);

	protobuf_c_message_pack(event, buf);
	item = g_new0(EventItem, 1);
	item->topic = g_strdup(topic);
	item->type_url = g_strdup(type_url);
	item->payload = g_bytes_new_take(buf, size);
	item->timestamp_us = g_get_real_time();
	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&publisher->lock);
		if (publisher->stopping || publisher->pending >= QUEUE_LIMIT) {
			g_warning("event queue full or closed, dropping %s", topic);
			event_item_free(item);
			return;
		}
		publisher->pending++;
	}
	g_info("event %s", topic);
	g_async_queue_push(publisher->queue, item);
}

static void
on_bus_event(const gchar *sandbox_id, const gchar *topic, const gchar *type_url,
	     const ProtobufCMessage *event, gpointer user_data)
{
	/* containerd's envelope has no sandbox: the event names its container */
	cocoon_event_publisher_publish(user_data, topic, type_url, event);
}

/**
 * cocoon_event_publisher_subscribe:
 * @bus: the shim's events; it outlives the publisher
 *
 * Forwards every event published on @bus from now on, until the publisher is freed.
 */
void
cocoon_event_publisher_subscribe(CocoonEventPublisher *publisher, CocoonEventBus *bus)
{
	g_return_if_fail(publisher->bus == NULL);
	publisher->bus = bus;
	publisher->subscription = cocoon_event_bus_subscribe(bus, on_bus_event, publisher);
}

guint
cocoon_event_publisher_get_pending(CocoonEventPublisher *publisher)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&publisher->lock);
	return publisher->pending;
}

void
cocoon_event_publisher_free(CocoonEventPublisher *publisher, guint timeout_ms)
{
	EventItem *stop;
	gint64 deadline;

	if (publisher == NULL)
		return;
	if (publisher->bus != NULL)
		cocoon_event_bus_unsubscribe(publisher->bus, publisher->subscription);
	deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&publisher->lock);
		publisher->stopping = TRUE;
		while (publisher->pending > 0) {
			if (!g_cond_wait_until(&publisher->drained, &publisher->lock, deadline)) {
				g_warning("%u events not delivered at exit", publisher->pending);
				break;
			}
		}
	}
	stop = g_new0(EventItem, 1);
	stop->stop = TRUE;
	/* push to the front so an undeliverable backlog does not keep us waiting */
	g_async_queue_push_front(publisher->queue, stop);
	g_thread_join(publisher->thread);
	g_async_queue_unref(publisher->queue);
	g_mutex_clear(&publisher->lock);
	g_cond_clear(&publisher->drained);
	g_free(publisher->path);
	g_free(publisher->namespace_);
	g_free(publisher);
}
