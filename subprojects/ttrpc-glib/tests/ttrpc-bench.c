/* SPDX-License-Identifier: Apache-2.0 */
/*
 * round trips per second against the ttrpc-glib server: one client, 16 clients (one connection
 * each) and 16 threads sharing one connection. The server runs on its own thread and context, the
 * handler answers at once. Usage: ttrpc-bench [SECONDS-PER-ROW] [PAYLOAD-BYTES]
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "cocoon-ttrpc-client.h"
#include "cocoon-ttrpc-server.h"

#define SERVICE "cocoon.bench.v1.Bench"

typedef struct {
	CocoonTtrpcClient *client;
	gint64 end;
	const guint8 *payload;
	gsize length;
	guint64 calls;
	guint64 errors;
} Worker;

static void
echo_handler(CocoonTtrpcCall *call, gpointer user_data)
{
	gsize length = 0;
	const guint8 *payload = cocoon_ttrpc_call_get_payload(call, &length);
	cocoon_ttrpc_call_return(call, payload, length);
}

static gpointer
server_thread(gpointer user_data)
{
	GMainLoop *loop = user_data;
	GMainContext *context = g_main_loop_get_context(loop);
	g_main_context_push_thread_default(context);
	g_main_loop_run(loop);
	g_main_context_pop_thread_default(context);
	return NULL;
}

static gpointer
worker_thread(gpointer user_data)
{
	Worker *worker = user_data;
	while (g_get_monotonic_time() < worker->end) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) reply =
			cocoon_ttrpc_client_call(worker->client, SERVICE, "Echo", worker->payload,
						 worker->length, 5000, NULL, &error);
		if (reply == NULL)
			worker->errors++;
		else
			worker->calls++;
	}
	return NULL;
}

static void
run_row(const gchar *label, const gchar *path, guint n_workers, gboolean share, gdouble seconds,
	const guint8 *payload, gsize length)
{
	g_autofree Worker *workers = g_new0(Worker, n_workers);
	g_autofree GThread **threads = g_new0(GThread *, n_workers);
	CocoonTtrpcClient *shared = NULL;
	gint64 start;
	gint64 end;
	guint64 calls = 0;
	guint64 errors = 0;
	gdouble elapsed;

	for (guint i = 0; i < n_workers; i++) {
		g_autoptr(GError) error = NULL;
		if (share && shared == NULL)
			shared = cocoon_ttrpc_client_new_for_path(path, &error);
		workers[i].client = share ? cocoon_ttrpc_client_ref(shared)
					  : cocoon_ttrpc_client_new_for_path(path, &error);
		if (workers[i].client == NULL) {
			g_printerr("connect: %s\n", error->message);
			exit(1);
		}
		workers[i].payload = payload;
		workers[i].length = length;
	}
	start = g_get_monotonic_time();
	end = start + (gint64)(seconds * G_USEC_PER_SEC);
	for (guint i = 0; i < n_workers; i++) {
		workers[i].end = end;
		threads[i] = g_thread_new("bench", worker_thread, &workers[i]);
	}
	for (guint i = 0; i < n_workers; i++) {
		g_thread_join(threads[i]);
		calls += workers[i].calls;
		errors += workers[i].errors;
		cocoon_ttrpc_client_unref(workers[i].client);
	}
	elapsed = (gdouble)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
	g_clear_pointer(&shared, cocoon_ttrpc_client_unref);
	g_print("| %-30s | %7u | %11u | %9" G_GUINT64_FORMAT " | %6" G_GUINT64_FORMAT
		" | %12.0f | %10.1f |\n",
		label, n_workers, share ? 1 : n_workers, calls, errors, calls / elapsed,
		calls > 0 ? elapsed * 1e6 * n_workers / calls : 0.0);
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(GMainLoop) loop = g_main_loop_new(context, FALSE);
	g_autoptr(CocoonTtrpcServer) server = NULL;
	g_autofree gchar *dir = NULL;
	g_autofree gchar *path = NULL;
	g_autofree guint8 *payload = NULL;
	gdouble seconds = argc > 1 ? g_ascii_strtod(argv[1], NULL) : 3.0;
	gsize length = argc > 2 ? (gsize)g_ascii_strtoull(argv[2], NULL, 10) : 64;
	GThread *thread;

	if (seconds <= 0 || length > 1024 * 1024) {
		g_printerr("usage: %s [SECONDS-PER-ROW] [PAYLOAD-BYTES <= 1 MiB]\n", argv[0]);
		return 2;
	}
	dir = g_dir_make_tmp("cocoon-ttrpc-bench-XXXXXX", &error);
	if (dir == NULL) {
		g_printerr("%s\n", error->message);
		return 1;
	}
	path = g_build_filename(dir, "bench.sock", NULL);
	payload = g_malloc(MAX(length, 1));
	memset(payload, 0x5a, length);

	g_main_context_push_thread_default(context);
	server = cocoon_ttrpc_server_new();
	g_main_context_pop_thread_default(context);
	cocoon_ttrpc_server_register(server, SERVICE, "Echo", echo_handler, NULL, NULL);
	if (!cocoon_ttrpc_server_listen_path(server, path, &error)) {
		g_printerr("%s\n", error->message);
		return 1;
	}
	thread = g_thread_new("server", server_thread, loop);

	g_print("cocoon ttrpc round trips: unary Echo, %" G_GSIZE_FORMAT
		"-byte payload, %.1f s per row, %u CPUs\n\n",
		length, seconds, g_get_num_processors());
	g_print("| %-30s | %7s | %11s | %9s | %6s | %12s | %10s |\n", "configuration", "callers",
		"connections", "calls", "errors", "round trip/s", "latency us");
	g_print("|--------------------------------|---------|-------------|-----------|--------|"
		"--------------|------------|\n");
	run_row("1 client", path, 1, FALSE, seconds, payload, length);
	run_row("16 clients, 16 connections", path, 16, FALSE, seconds, payload, length);
	run_row("16 threads, 1 shared client", path, 16, TRUE, seconds, payload, length);

	g_main_loop_quit(loop);
	g_thread_join(thread);
	cocoon_ttrpc_server_shutdown(server);
	g_unlink(path);
	g_rmdir(dir);
	return 0;
}
