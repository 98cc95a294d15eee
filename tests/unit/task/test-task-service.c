/* SPDX-License-Identifier: Apache-2.0 */
/*
 * the Task service against its descriptor: every method of containerd.task.v2.Task has a row, and
 * the answers that need no sandbox over a real ttrpc connection
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "cocoon-task-service.h"
#include "cocoon-ttrpc-client.h"
#include "shim.pb-c.h"

static void
test_every_method_answered(void)
{
	const ProtobufCServiceDescriptor *descriptor = &containerd__task__v2__task__descriptor;
	g_autoptr(GError) error = NULL;

	g_assert_true(cocoon_task_service_check(&error));
	g_assert_no_error(error);
	for (guint i = 0; i < descriptor->n_methods; i++) {
		const gchar *name = descriptor->methods[i].name;
		CocoonTaskMethodStatus status = cocoon_task_service_method_status(name);

		g_test_message("%s: %d", name, status);
		g_assert_cmpint(status, !=, COCOON_TASK_METHOD_MISSING);
		g_assert_cmpint(status, ==,
				g_str_equal(name, "Checkpoint") ? COCOON_TASK_METHOD_UNIMPLEMENTED
								: COCOON_TASK_METHOD_HANDLED);
	}
	g_assert_cmpint(cocoon_task_service_method_status("NoSuchMethod"), ==,
			COCOON_TASK_METHOD_MISSING);
}

static gboolean
never_shutdown(gpointer user_data)
{
	g_assert_not_reached();
	return G_SOURCE_REMOVE;
}

/* the server answers on this thread's main context: call and iterate it until the reply */
typedef struct {
	CocoonTtrpcClient *client;
	gboolean done;
	GBytes *reply;
	GError *error;
} Reply;

static void
call_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Reply *reply = user_data;

	reply->reply = cocoon_ttrpc_client_call_finish(reply->client, result, &reply->error);
	reply->done = TRUE;
}

static GBytes *
call(CocoonTtrpcClient *client, const gchar *service, const gchar *method,
     const ProtobufCMessage *request, GError **error)
{
	Reply reply = {.client = client};
	g_autofree guint8 *packed = NULL;
	gsize size = 0;

	if (request != NULL) {
		size = protobuf_c_message_get_packed_size(request);
		packed = g_malloc(size + 1);
		protobuf_c_message_pack(request, packed);
	}
	cocoon_ttrpc_client_call_async(client, service, method, packed, size, 5000, NULL, call_done,
				       &reply);
	while (!reply.done)
		g_main_context_iteration(NULL, TRUE);
	if (reply.error != NULL)
		g_propagate_error(error, reply.error);
	return reply.reply;
}

/* the answers given before any sandbox is looked up, through the descriptor-driven routing */
static void
test_answers_without_sandbox(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonTtrpcClient) client = NULL;
	g_autoptr(GBytes) reply = NULL;
	CocoonTtrpcServer *server = cocoon_ttrpc_server_new();
	Containerd__Task__V2__StateRequest state = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
	gint fds[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
	cocoon_task_service_register(server, NULL, never_shutdown, NULL);
	g_assert_true(cocoon_ttrpc_server_add_connection_fd(server, fds[0], &error));
	g_assert_no_error(error);
	client = cocoon_ttrpc_client_new_for_fd(fds[1], &error);
	g_assert_no_error(error);

	for (guint i = 0; i < 2; i++) {
		const gchar *service =
			i == 0 ? "containerd.task.v2.Task" : "containerd.task.v3.Task";

		reply = call(client, service, "Checkpoint", NULL, &error);
		g_assert_null(reply);
		g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_UNIMPLEMENTED);
		g_assert_true(g_str_has_prefix(error->message, "Checkpoint: checkpointing"));
		g_clear_error(&error);
	}

	/* the request type comes from the descriptor: a State with a bad id is refused */
	state.id = (gchar *)"../escape";
	g_assert_null(call(client, "containerd.task.v2.Task", "State", &state.base, &error));
	g_assert_error(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "State"));
	g_clear_error(&error);

	cocoon_ttrpc_client_close(client);
	cocoon_ttrpc_server_unref(server);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/task/service/every-method-answered", test_every_method_answered);
	g_test_add_func("/task/service/answers-without-sandbox", test_answers_without_sandbox);
	return g_test_run();
}
