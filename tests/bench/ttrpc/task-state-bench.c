/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containerd.task.v2.Task/State round trips per second against a live shim (any runtime v2 shim:
 * Cocoon's or containerd-shim-runc-v2), with containerd's namespace metadata, from N concurrent
 * callers. Used by scripts/bench.sh; one result line on stdout:
 *   rate=<round trips/s> calls=<n> errors=<n> seconds=<s> latency_us=<median per call>
 *
 * task-state-bench --socket PATH|unix://PATH --namespace NS --id TASK
 *                  [--seconds S] [--callers N] [--connections shared|each]
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "cocoon-ttrpc-client.h"
#include "cocoon-ttrpc-server.h"
#include "shim.pb-c.h"

#define SERVICE		"containerd.task.v2.Task"
#define CALL_TIMEOUT_MS 10000
#define MAX_SAMPLES	(1u << 20)

typedef struct {
	CocoonTtrpcClient *client;
	const guint8 *request;
	gsize length;
	gint64 end;
	guint64 calls;
	guint64 errors;
	gchar *first_error;
	/* per-call latencies in ns, up to MAX_SAMPLES */
	GArray *latencies;
} Caller;

static gpointer
caller_thread(gpointer user_data)
{
	Caller *caller = user_data;

	while (g_get_monotonic_time() < caller->end) {
		g_autoptr(GError) error = NULL;
		gint64 started = g_get_monotonic_time();
		g_autoptr(GBytes) reply =
			cocoon_ttrpc_client_call(caller->client, SERVICE, "State", caller->request,
						 caller->length, CALL_TIMEOUT_MS, NULL, &error);
		gint64 took = g_get_monotonic_time() - started;

		if (reply == NULL) {
			if (caller->first_error == NULL)
				caller->first_error = g_strdup(error->message);
			caller->errors++;
			continue;
		}
		caller->calls++;
		if (caller->latencies->len < MAX_SAMPLES)
			g_array_append_val(caller->latencies, took);
	}
	return NULL;
}

static gint
compare_int64(gconstpointer a, gconstpointer b)
{
	gint64 x = *(const gint64 *)a;
	gint64 y = *(const gint64 *)b;

	return x < y ? -1 : x > y;
}

static CocoonTtrpcClient *
connect_client(const gchar *path, const gchar *namespace_)
{
	g_autoptr(GError) error = NULL;
	CocoonTtrpcClient *client = cocoon_ttrpc_client_new_for_path(path, &error);

	if (client == NULL) {
		g_printerr("task-state-bench: connect %s: %s\n", path, error->message);
		exit(1);
	}
	cocoon_ttrpc_client_set_metadata(client, COCOON_TTRPC_NAMESPACE_KEY, namespace_);
	return client;
}

/* one State first: the task must exist and answer with its own id */
static void
check_state(CocoonTtrpcClient *client, const gchar *id)
{
	Containerd__Task__V2__StateRequest request = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
	g_autoptr(GError) error = NULL;
	Containerd__Task__V2__StateResponse *response;

	request.id = (gchar *)id;
	response = (Containerd__Task__V2__StateResponse *)cocoon_ttrpc_client_call_message(
		client, SERVICE, "State", &request.base,
		&containerd__task__v2__state_response__descriptor, CALL_TIMEOUT_MS, NULL, &error);
	if (response == NULL) {
		g_printerr("task-state-bench: State %s: %s\n", id, error->message);
		exit(1);
	}
	if (g_strcmp0(response->id, id) != 0) {
		g_printerr("task-state-bench: State answered for %s, not %s\n", response->id, id);
		exit(1);
	}
	protobuf_c_message_free_unpacked(&response->base, NULL);
}

int
main(int argc, char **argv)
{
	g_autofree gchar *socket = NULL;
	g_autofree gchar *namespace_ = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *connections = NULL;
	gdouble seconds = 3.0;
	gint n_callers = 1;
	GOptionEntry entries[] = {
		{"socket", 0, 0, G_OPTION_ARG_STRING, &socket, "the shim's socket", "PATH"},
		{"namespace", 0, 0, G_OPTION_ARG_STRING, &namespace_, "containerd namespace", "NS"},
		{"id", 0, 0, G_OPTION_ARG_STRING, &id, "a running task", "ID"},
		{"seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "duration (default 3)", "S"},
		{"callers", 0, 0, G_OPTION_ARG_INT, &n_callers, "concurrent callers (default 1)",
		 "N"},
		{"connections", 0, 0, G_OPTION_ARG_STRING, &connections,
		 "each: one connection per caller (default); shared: one for all", "each|shared"},
		{NULL},
	};
	g_autoptr(GOptionContext) options = g_option_context_new("- Task/State round trips");
	g_autoptr(GError) error = NULL;
	Containerd__Task__V2__StateRequest request = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
	g_autoptr(CocoonTtrpcClient) shared = NULL;
	g_autofree guint8 *packed = NULL;
	g_autofree Caller *callers = NULL;
	g_autofree GThread **threads = NULL;
	g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(gint64));
	const gchar *path;
	gboolean share;
	guint64 calls = 0;
	guint64 errors = 0;
	gint64 start;
	gdouble elapsed;
	gdouble median_us = 0;
	gsize length;

	g_option_context_add_main_entries(options, entries, NULL);
	if (!g_option_context_parse(options, &argc, &argv, &error)) {
		g_printerr("task-state-bench: %s\n", error->message);
		return 2;
	}
	if (socket == NULL || namespace_ == NULL || id == NULL || seconds <= 0 || n_callers < 1 ||
	    n_callers > 256 ||
	    (connections != NULL && !g_str_equal(connections, "each") &&
	     !g_str_equal(connections, "shared"))) {
		g_printerr("usage: task-state-bench --socket PATH --namespace NS --id ID "
			   "[--seconds S] "
			   "[--callers 1..256] [--connections each|shared]\n");
		return 2;
	}
	share = g_strcmp0(connections, "shared") == 0;
	path = g_str_has_prefix(socket, "unix://") ? socket + strlen("unix://") : socket;

	/* the request is packed once: the client's own encoding cost stays out of the figure */
	request.id = id;
	length = protobuf_c_message_get_packed_size(&request.base);
	packed = g_malloc(MAX(length, 1));
	protobuf_c_message_pack(&request.base, packed);

	callers = g_new0(Caller, n_callers);
	threads = g_new0(GThread *, n_callers);
	if (share)
		shared = connect_client(path, namespace_);
	for (gint i = 0; i < n_callers; i++) {
		callers[i].client =
			share ? cocoon_ttrpc_client_ref(shared) : connect_client(path, namespace_);
		callers[i].request = packed;
		callers[i].length = length;
		callers[i].latencies = g_array_sized_new(FALSE, FALSE, sizeof(gint64), 4096);
	}
	check_state(callers[0].client, id);

	start = g_get_monotonic_time();
	for (gint i = 0; i < n_callers; i++) {
		callers[i].end = start + (gint64)(seconds * G_USEC_PER_SEC);
		threads[i] = g_thread_new("caller", caller_thread, &callers[i]);
	}
	for (gint i = 0; i < n_callers; i++) {
		g_thread_join(threads[i]);
		calls += callers[i].calls;
		errors += callers[i].errors;
		g_array_append_vals(all, callers[i].latencies->data, callers[i].latencies->len);
	}
	elapsed = (gdouble)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
	if (all->len > 0) {
		g_array_sort(all, compare_int64);
		median_us = (gdouble)g_array_index(all, gint64, all->len / 2);
	}
	for (gint i = 0; i < n_callers; i++) {
		if (callers[i].first_error != NULL) {
			g_printerr("task-state-bench: first error: %s\n", callers[i].first_error);
			break;
		}
	}
	g_print("rate=%.0f calls=%" G_GUINT64_FORMAT " errors=%" G_GUINT64_FORMAT
		" seconds=%.2f latency_us=%.1f\n",
		calls / elapsed, calls, errors, elapsed, median_us);
	for (gint i = 0; i < n_callers; i++) {
		cocoon_ttrpc_client_unref(callers[i].client);
		g_array_unref(callers[i].latencies);
		g_free(callers[i].first_error);
	}
	return errors == 0 ? 0 : 1;
}
