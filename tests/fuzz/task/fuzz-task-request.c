/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for every containerd.task.v2 request the shim decodes from containerd's bytes.
 * The first input byte picks the method (taken from the generated service descriptor, so a new
 * method is fuzzed without touching this file); the rest is its request message. What the task
 * service does with a request before it reaches a sandbox runs on every decoded one: the id and
 * exec id validation, the bundle path check and the mount option parsing of Create, the JSON of an
 * exec spec or update resources. A decoded message must pack again and decode to the same bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include <gio/gio.h>

#include "cocoon-json.h"
#include "cocoon-rootfs.h"
#include "cocoon-shim-util.h"
#include "shim.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(gboolean condition, const gchar *method, const gchar *what)
{
	if (condition)
		return;
	g_printerr("fuzz-task-request: %s: %s\n", method, what);
	abort();
}

/* a string field of the message by name, or NULL */
static const gchar *
string_field(const ProtobufCMessage *message, const gchar *name)
{
	const ProtobufCFieldDescriptor *field =
		protobuf_c_message_descriptor_get_field_by_name(message->descriptor, name);
	if (field == NULL || field->type != PROTOBUF_C_TYPE_STRING ||
	    field->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return *(const gchar *const *)((const guint8 *)message + field->offset);
}

static void
validate_ids(const ProtobufCMessage *message)
{
	g_autoptr(GError) error = NULL;
	const gchar *id = string_field(message, "id");
	const gchar *exec_id = string_field(message, "exec_id");

	/* what the task service answers INVALID_ARGUMENT for; the result must not matter here */
	if (!cocoon_identifier_validate("id", id, &error))
		check(error != NULL && error->message != NULL, message->descriptor->name,
		      "a refused id without a message");
	g_clear_error(&error);
	if (exec_id != NULL && exec_id[0] != '\0' &&
	    !cocoon_identifier_validate("exec id", exec_id, &error))
		check(error != NULL, message->descriptor->name,
		      "a refused exec id without an error");
}

static void
validate_create(const Containerd__Task__V2__CreateTaskRequest *request)
{
	g_autoptr(GError) error = NULL;

	/* the bundle check of the task service */
	(void)(request->bundle != NULL && g_path_is_absolute(request->bundle) &&
	       strstr(request->bundle, "/../") == NULL &&
	       !g_str_has_suffix(request->bundle, "/.."));
	for (gsize i = 0; i < request->n_rootfs; i++) {
		const Containerd__Types__Mount *mount = request->rootfs[i];
		g_autofree gchar *options = NULL;
		gulong flags = 0;
		gboolean recursive = FALSE;

		cocoon_mount_options_parse(mount->options, mount->n_options, &flags, &options,
					   &recursive);
		check(options != NULL, "Create", "mount options parsed to NULL");
		check(!recursive || (flags & MS_BIND) != 0, "Create", "rbind without MS_BIND");
	}
	if (request->options != NULL && request->options->value.len > 0) {
		g_autoptr(CocoonJson) json =
			cocoon_json_parse((const gchar *)request->options->value.data,
					  request->options->value.len, &error);
		(void)json;
	}
}

static void
validate_json_any(const Google__Protobuf__Any *any)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonJson) json = NULL;

	if (any == NULL || any->value.len == 0)
		return;
	json = cocoon_json_parse((const gchar *)any->value.data, any->value.len, &error);
	check((json == NULL) == (error != NULL), "Any", "parse result and error disagree");
}

/*
 * the shim packs parts of requests again (Create's rootfs goes into the TaskCreate event): what
 * was unpacked must pack to the announced size, and when that unpacks again (protobuf-c keeps
 * unknown fields it would refuse to read back, e.g. field number 0) it must pack the same
 */
static void
round_trip(const ProtobufCMessage *message)
{
	gsize size = protobuf_c_message_get_packed_size(message);
	g_autofree guint8 *packed = g_malloc(size + 1);
	g_autofree guint8 *again = NULL;
	ProtobufCMessage *copy;

	check(protobuf_c_message_pack(message, packed) == size, message->descriptor->name,
	      "packed size");
	copy = protobuf_c_message_unpack(message->descriptor, NULL, size, packed);
	if (copy == NULL)
		return;
	check(protobuf_c_message_get_packed_size(copy) == size, message->descriptor->name,
	      "round trip changed the size");
	again = g_malloc(size + 1);
	protobuf_c_message_pack(copy, again);
	check(memcmp(packed, again, size) == 0, message->descriptor->name,
	      "round trip changed the bytes");
	protobuf_c_message_free_unpacked(copy, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCServiceDescriptor *service = &containerd__task__v2__task__descriptor;
	const ProtobufCMethodDescriptor *method;
	ProtobufCMessage *message;

	if (size < 1)
		return 0;
	method = &service->methods[data[0] % service->n_methods];
	message = protobuf_c_message_unpack(method->input, NULL, size - 1, data + 1);
	if (message == NULL)
		return 0;
	validate_ids(message);
	if (method->input == &containerd__task__v2__create_task_request__descriptor)
		validate_create((Containerd__Task__V2__CreateTaskRequest *)message);
	else if (method->input == &containerd__task__v2__exec_process_request__descriptor)
		validate_json_any(((Containerd__Task__V2__ExecProcessRequest *)message)->spec);
	else if (method->input == &containerd__task__v2__update_task_request__descriptor)
		validate_json_any(((Containerd__Task__V2__UpdateTaskRequest *)message)->resources);
	round_trip(message);
	protobuf_c_message_free_unpacked(message, NULL);
	return 0;
}
