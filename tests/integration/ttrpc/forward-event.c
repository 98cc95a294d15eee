/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sends containerd.services.events.ttrpc.v1.Events/Forward with a TaskCreate envelope to a real
 * containerd, through the cocoon ttrpc client, and checks the status that comes back.
 *
 *   forward-event --address TTRPC-SOCKET --container-id ID [--topic TOPIC] [--expect CODE-NAME]
 *
 * Prints "Forward: <CODE_NAME>: <message>"; exits 0 when the status is the expected one (OK unless
 * --expect says otherwise), 1 when it is not, 2 on bad usage or no connection.
 */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "cocoon-ttrpc-client.h"
#include "events-forward.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "task-events.pb-c.h"

#define EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"

static CocoonTtrpcCode
code_from_name(const gchar *name)
{
	for (gint code = COCOON_TTRPC_OK; code <= COCOON_TTRPC_UNAUTHENTICATED; code++) {
		if (g_strcmp0(cocoon_ttrpc_code_to_name((CocoonTtrpcCode)code), name) == 0)
			return (CocoonTtrpcCode)code;
	}
	return (CocoonTtrpcCode)-1;
}

int
main(int argc, char **argv)
{
	g_autofree gchar *address = NULL;
	g_autofree gchar *container_id = NULL;
	/* defaults are filled in after parsing: GOption does not free what it overwrites */
	g_autofree gchar *topic = NULL;
	g_autofree gchar *expect = NULL;
	g_autofree gchar *namespace = NULL;
	const GOptionEntry entries[] = {
		{"address", 0, 0, G_OPTION_ARG_FILENAME, &address, "containerd ttrpc socket",
		 "PATH"},
		{"container-id", 0, 0, G_OPTION_ARG_STRING, &container_id, "TaskCreate id", "ID"},
		{"topic", 0, 0, G_OPTION_ARG_STRING, &topic, "envelope topic", "TOPIC"},
		{"namespace", 0, 0, G_OPTION_ARG_STRING, &namespace, "envelope namespace", "NS"},
		{"expect", 0, 0, G_OPTION_ARG_STRING, &expect, "expected status (OK)", "CODE"},
		{NULL},
	};
	g_autoptr(GOptionContext) options = g_option_context_new("- send one Forward");
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonTtrpcClient) client = NULL;
	Containerd__Events__TaskCreate create = CONTAINERD__EVENTS__TASK_CREATE__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	Google__Protobuf__Timestamp timestamp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Containerd__Services__Events__Ttrpc__V1__Envelope envelope =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest request =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
	g_autofree guint8 *packed_event = NULL;
	ProtobufCMessage *response;
	CocoonTtrpcCode expected;
	CocoonTtrpcCode got;
	gint64 now = g_get_real_time();

	g_option_context_add_main_entries(options, entries, NULL);
	if (!g_option_context_parse(options, &argc, &argv, &error) || address == NULL ||
	    container_id == NULL) {
		g_printerr("%s\nusage: %s --address PATH --container-id ID [--topic T] "
			   "[--expect CODE]\n",
			   error != NULL ? error->message : "missing --address or --container-id",
			   argv[0]);
		return 2;
	}
	if (topic == NULL)
		topic = g_strdup("/tasks/create");
	if (expect == NULL)
		expect = g_strdup("OK");
	if (namespace == NULL)
	namespace = g_strdup("default");
	expected = code_from_name(expect);
	if ((gint)expected < 0) {
		g_printerr("unknown status code name %s\n", expect);
		return 2;
	}

	create.container_id = container_id;
	create.bundle = (gchar *)"/run/cocoon-test/bundle";
	create.pid = 4242;
	any.type_url = (gchar *)"containerd.events.TaskCreate";
	any.value.len = containerd__events__task_create__get_packed_size(&create);
	packed_event = g_malloc(MAX(any.value.len, 1));
	containerd__events__task_create__pack(&create, packed_event);
	any.value.data = packed_event;
	timestamp.seconds = now / G_USEC_PER_SEC;
	timestamp.nanos = (gint32)(now % G_USEC_PER_SEC) * 1000;
	envelope.timestamp = &timestamp;
	envelope.namespace_ = namespace;
	envelope.topic = topic;
	envelope.event = &any;
	request.envelope = &envelope;

	client = cocoon_ttrpc_client_new_for_path(address, &error);
	if (client == NULL) {
		g_printerr("cannot connect to %s: %s\n", address, error->message);
		return 2;
	}
	cocoon_ttrpc_client_set_metadata(client, "containerd-namespace-ttrpc", namespace);
	response = cocoon_ttrpc_client_call_message(
		client, EVENTS_SERVICE, "Forward", &request.base,
		&google__protobuf__empty__descriptor, 5000, NULL, &error);
	if (response != NULL) {
		protobuf_c_message_free_unpacked(response, NULL);
		got = COCOON_TTRPC_OK;
		g_print("Forward: OK\n");
	} else {
		got = error->domain == COCOON_TTRPC_ERROR ? (CocoonTtrpcCode)error->code
							  : cocoon_ttrpc_code_from_error(error);
		g_print("Forward: %s: %s\n", cocoon_ttrpc_code_to_name(got), error->message);
	}
	if (got != expected) {
		g_printerr("expected %s, got %s\n", cocoon_ttrpc_code_to_name(expected),
			   cocoon_ttrpc_code_to_name(got));
		return 1;
	}
	return 0;
}
