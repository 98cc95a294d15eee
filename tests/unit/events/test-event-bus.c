/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event bus: every subscriber gets every event, typed, on the publishing thread, in the
 * order of publication and of subscription; unsubscribe() is final once it returns, also while
 * other threads publish.
 */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "cocoon-event-bus.h"
#include "task-events.pb-c.h"

#define THREADS		  4
#define EVENTS_PER_THREAD 2000

typedef struct {
	GMutex lock;
	GPtrArray *log; /* "name sandbox topic pid" */
} Recorder;

typedef struct {
	Recorder *recorder;
	const gchar *name;
} Subscription;

static void
record(const gchar *sandbox_id, const gchar *topic, const gchar *type_url,
       const ProtobufCMessage *event, gpointer user_data)
{
	Subscription *subscription = user_data;
	const Containerd__Events__TaskExit *exit_event = (gconstpointer)event;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&subscription->recorder->lock);

	/* the message itself, typed, not a copy of its bytes */
	g_assert_true(event->descriptor == &containerd__events__task_exit__descriptor);
	g_assert_cmpstr(type_url, ==, "containerd.events.TaskExit");
	g_ptr_array_add(subscription->recorder->log,
			g_strdup_printf("%s %s %s %u", subscription->name, sandbox_id, topic,
					exit_event->pid));
}

static void
recorder_init(Recorder *recorder)
{
	g_mutex_init(&recorder->lock);
	recorder->log = g_ptr_array_new_with_free_func(g_free);
}

static void
recorder_clear(Recorder *recorder)
{
	g_ptr_array_unref(recorder->log);
	g_mutex_clear(&recorder->lock);
}

static void
publish_exit(CocoonEventBus *bus, const gchar *sandbox_id, guint32 pid)
{
	Containerd__Events__TaskExit event = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	event.container_id = (gchar *)"c1";
	event.pid = pid;
	cocoon_event_bus_publish(bus, sandbox_id, "/tasks/exit", "containerd.events.TaskExit",
				 (ProtobufCMessage *)&event);
}

static void
assert_log(Recorder *recorder, const gchar *const *expected)
{
	g_assert_cmpuint(recorder->log->len, ==, g_strv_length((gchar **)expected));
	for (guint i = 0; expected[i] != NULL; i++)
		g_assert_cmpstr(recorder->log->pdata[i], ==, expected[i]);
}

/* two subscribers: each event goes to both, in the order they subscribed, before publish returns */
static void
test_order(void)
{
	g_autoptr(CocoonEventBus) bus = cocoon_event_bus_new();
	Recorder recorder;
	Subscription a = {&recorder, "a"};
	Subscription b = {&recorder, "b"};
	const gchar *const expected[] = {"a pod-1 /tasks/exit 1",
					 "b pod-1 /tasks/exit 1",
					 "a pod-2 /tasks/exit 2",
					 "b pod-2 /tasks/exit 2",
					 "a pod-1 /tasks/exit 3",
					 "b pod-1 /tasks/exit 3",
					 NULL};
	guint id_a, id_b;

	recorder_init(&recorder);
	/* nobody listening: nothing happens */
	publish_exit(bus, "pod-0", 0);
	id_a = cocoon_event_bus_subscribe(bus, record, &a);
	id_b = cocoon_event_bus_subscribe(bus, record, &b);
	g_assert_cmpuint(id_a, !=, 0);
	g_assert_cmpuint(id_b, !=, id_a);
	publish_exit(bus, "pod-1", 1);
	publish_exit(bus, "pod-2", 2);
	publish_exit(bus, "pod-1", 3);
	assert_log(&recorder, expected);
	cocoon_event_bus_unsubscribe(bus, id_a);
	cocoon_event_bus_unsubscribe(bus, id_b);
	recorder_clear(&recorder);
}

static void
test_unsubscribe(void)
{
	g_autoptr(CocoonEventBus) bus = cocoon_event_bus_new();
	Recorder recorder;
	Subscription a = {&recorder, "a"};
	Subscription b = {&recorder, "b"};
	const gchar *const expected[] = {"a pod-1 /tasks/exit 1", "b pod-1 /tasks/exit 1",
					 "b pod-1 /tasks/exit 2", NULL};
	guint id_a, id_b;

	recorder_init(&recorder);
	id_a = cocoon_event_bus_subscribe(bus, record, &a);
	id_b = cocoon_event_bus_subscribe(bus, record, &b);
	publish_exit(bus, "pod-1", 1);
	cocoon_event_bus_unsubscribe(bus, id_a);
	/* twice, 0 and unknown ids: nothing */
	cocoon_event_bus_unsubscribe(bus, id_a);
	cocoon_event_bus_unsubscribe(bus, 0);
	cocoon_event_bus_unsubscribe(bus, 12345);
	publish_exit(bus, "pod-1", 2);
	cocoon_event_bus_unsubscribe(bus, id_b);
	publish_exit(bus, "pod-1", 3);
	assert_log(&recorder, expected);
	recorder_clear(&recorder);
}

/* ---- threads ---- */

typedef struct {
	GMutex lock;
	guint32 last[THREADS]; /* per sandbox: the last pid seen */
	guint count;
} OrderCheck;

static void
check_order(const gchar *sandbox_id, const gchar *topic, const gchar *type_url,
	    const ProtobufCMessage *event, gpointer user_data)
{
	OrderCheck *check = user_data;
	const Containerd__Events__TaskExit *exit_event = (gconstpointer)event;
	guint sandbox = (guint)g_ascii_strtoull(sandbox_id + strlen("pod-"), NULL, 10);
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&check->lock);

	g_assert_cmpuint(sandbox, <, THREADS);
	/* a sandbox's events come in the order it published them: 1, 2, 3, ... */
	g_assert_cmpuint(exit_event->pid, ==, check->last[sandbox] + 1);
	check->last[sandbox] = exit_event->pid;
	check->count++;
}

typedef struct {
	gint running; /* atomic: a call is in progress */
	gint calls;   /* atomic */
} Probe;

static void
probe(const gchar *sandbox_id, const gchar *topic, const gchar *type_url,
      const ProtobufCMessage *event, gpointer user_data)
{
	Probe *self = user_data;
	g_atomic_int_inc(&self->running);
	g_atomic_int_inc(&self->calls);
	g_thread_yield();
	g_atomic_int_add(&self->running, -1);
}

typedef struct {
	CocoonEventBus *bus;
	guint index;
} Publisher;

static gpointer
publisher_thread(gpointer data)
{
	Publisher *publisher = data;
	g_autofree gchar *sandbox_id = g_strdup_printf("pod-%u", publisher->index);
	for (guint32 pid = 1; pid <= EVENTS_PER_THREAD; pid++)
		publish_exit(publisher->bus, sandbox_id, pid);
	return NULL;
}

/*
 * sandboxes publish at once while others subscribe and unsubscribe: each sandbox's order holds
 * for the subscriber that stays, and an unsubscribed callback is neither running nor called
 */
static void
test_threads(void)
{
	g_autoptr(CocoonEventBus) bus = cocoon_event_bus_new();
	OrderCheck check = {0};
	Publisher publishers[THREADS];
	GThread *threads[THREADS];
	guint id = cocoon_event_bus_subscribe(bus, check_order, &check);
	guint rounds = 0;
	gboolean done = FALSE;

	g_mutex_init(&check.lock);
	for (guint i = 0; i < THREADS; i++) {
		publishers[i] = (Publisher){bus, i};
		threads[i] = g_thread_new("publisher", publisher_thread, &publishers[i]);
	}
	while (!done) {
		Probe self = {0};
		guint probe_id = cocoon_event_bus_subscribe(bus, probe, &self);
		gint calls;
		g_thread_yield();
		cocoon_event_bus_unsubscribe(bus, probe_id);
		calls = g_atomic_int_get(&self.calls);
		g_assert_cmpint(g_atomic_int_get(&self.running), ==, 0);
		g_thread_yield();
		g_assert_cmpint(g_atomic_int_get(&self.calls), ==, calls);
		rounds++;
		{
			g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&check.lock);
			done = check.count == THREADS * EVENTS_PER_THREAD;
		}
	}
	for (guint i = 0; i < THREADS; i++)
		g_thread_join(threads[i]);
	cocoon_event_bus_unsubscribe(bus, id);
	for (guint i = 0; i < THREADS; i++)
		g_assert_cmpuint(check.last[i], ==, EVENTS_PER_THREAD);
	g_assert_cmpuint(rounds, >, 0);
	g_mutex_clear(&check.lock);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/events/bus/order", test_order);
	g_test_add_func("/events/bus/unsubscribe", test_unsubscribe);
	g_test_add_func("/events/bus/threads", test_threads);
	return g_test_run();
}
