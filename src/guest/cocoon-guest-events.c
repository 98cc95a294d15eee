/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-agent-private.h"

#include <errno.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cocoon-guest-cgroup.h"

/* guest events queued for WaitEvent */
#define EVENTS_MAX 256
/* a WaitEvent without deadline answers NONE after this long */
#define WAIT_EVENT_MAX_MS (60 * 1000)

/* OOM watches */

void
watch_oom(CocoonGuestAgent *agent, Container *container)
{
	g_autofree gchar *path = g_build_filename(container->cgroup_dir, "memory.events", NULL);

	(void)cocoon_guest_cgroup_read_key(container->cgroup_dir, "memory.events", "oom_kill",
					   &container->oom_kills, NULL);
	if (agent->inotify_fd < 0)
		return;
	container->oom_watch = inotify_add_watch(agent->inotify_fd, path, IN_MODIFY);
	if (container->oom_watch < 0) {
		g_debug("container %s: no OOM events: inotify %s: %s", container->id, path,
			g_strerror(errno));
		return;
	}
	g_hash_table_insert(agent->oom_watches, GINT_TO_POINTER(container->oom_watch), container);
}

/* WaitEvent */

void
event_free(Event *event)
{
	g_free(event->container_id);
	g_free(event);
}

void
event_waiter_answer(EventWaiter *waiter, const Event *event)
{
	Cocoon__Agent__V1__WaitEventResponse response =
		COCOON__AGENT__V1__WAIT_EVENT_RESPONSE__INIT;

	if (event != NULL) {
		response.kind = event->kind;
		response.container_id = event->container_id;
	}
	if (waiter->timeout_id != 0)
		g_source_remove(waiter->timeout_id);
	cocoon_ttrpc_call_return_message(waiter->call, &response.base);
	g_free(waiter);
}

static gboolean
event_waiter_timeout_cb(gpointer user_data)
{
	EventWaiter *waiter = user_data;

	waiter->timeout_id = 0;
	g_queue_remove(&waiter->agent->event_waiters, waiter);
	event_waiter_answer(waiter, NULL);
	return G_SOURCE_REMOVE;
}

static void
push_event(CocoonGuestAgent *agent, Cocoon__Agent__V1__WaitEventResponse__Kind kind,
	   const gchar *container_id)
{
	Event *event = g_new0(Event, 1);
	EventWaiter *waiter;

	event->kind = kind;
	event->container_id = g_strdup(container_id);
	/* a waiter whose caller gave up would lose the event */
	while ((waiter = g_queue_pop_head(&agent->event_waiters)) != NULL) {
		if (!cocoon_ttrpc_call_is_cancelled(waiter->call)) {
			event_waiter_answer(waiter, event);
			event_free(event);
			return;
		}
		event_waiter_answer(waiter, NULL);
	}
	g_queue_push_tail(&agent->events, event);
	while (g_queue_get_length(&agent->events) > EVENTS_MAX)
		event_free(g_queue_pop_head(&agent->events));
}

AGENT_HANDLER(wait_event, WaitEvent, RESPONSE)
{
	EventWaiter *waiter;
	Event *event;
	gint64 deadline;
	gint64 wait_ms = WAIT_EVENT_MAX_MS;

	waiter = g_new0(EventWaiter, 1);
	waiter->agent = agent;
	waiter->call = call;
	event = g_queue_pop_head(&agent->events);
	if (event != NULL) {
		event_waiter_answer(waiter, event);
		event_free(event);
		return;
	}
	/* answer NONE before the caller's deadline (a tenth of the wait early), so it gets one */
	deadline = cocoon_ttrpc_call_get_deadline(call);
	if (deadline > 0) {
		gint64 remaining_ms = (deadline - g_get_monotonic_time()) / 1000;
		wait_ms = CLAMP(remaining_ms - CLAMP(remaining_ms / 10, 100, 1000), 0,
				WAIT_EVENT_MAX_MS);
	}
	waiter->timeout_id = g_timeout_add((guint)wait_ms, event_waiter_timeout_cb, waiter);
	g_queue_push_tail(&agent->event_waiters, waiter);
}

gboolean
inotify_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	union {
		char buf[4096];
		struct inotify_event align;
	} events;
	ssize_t n;

	while ((n = read(fd, events.buf, sizeof(events.buf))) > 0) {
		for (char *p = events.buf; p < events.buf + n;) {
			struct inotify_event *event = (struct inotify_event *)p;
			Container *container =
				g_hash_table_lookup(agent->oom_watches, GINT_TO_POINTER(event->wd));
			guint64 oom_kills = 0;

			p += sizeof(struct inotify_event) + event->len;
			if (container == NULL || (event->mask & IN_MODIFY) == 0)
				continue;
			if (!cocoon_guest_cgroup_read_key(container->cgroup_dir, "memory.events",
							  "oom_kill", &oom_kills, NULL) ||
			    oom_kills <= container->oom_kills)
				continue;
			container->oom_kills = oom_kills;
			g_warning("container %s: OOM kill (%" G_GUINT64_FORMAT " so far)",
				  container->id, oom_kills);
			push_event(agent, COCOON__AGENT__V1__WAIT_EVENT_RESPONSE__KIND__OOM,
				   container->id);
		}
	}
	return G_SOURCE_CONTINUE;
}
