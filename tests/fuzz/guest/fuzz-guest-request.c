/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the guest side of the agent protocol: every cocoon.agent.v1 request
 * cocoon-agent decodes from the host (the agent trusts nothing the host sends). The first input
 * byte picks the method of the generated service descriptor, the rest is its request. The agent's
 * checks run on every decoded one: the container and exec ids, the rootfs path resolved inside a
 * real share directory (with an escaping symlink in it), the OCI spec and process rewriting, the
 * network request check. A resolved rootfs must stay inside the share.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "agent.pb-c.h"
#include "cocoon-guest-network.h"
#include "cocoon-guest-spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the agent's limit on spec and process JSON (cocoon-guest-handlers-crun.c) */
#define SPEC_JSON_MAX (4u << 20)

static gchar *share_dir;
static gchar *share_real;

static void
check(gboolean condition, const gchar *what, const gchar *detail)
{
	if (condition)
		return;
	g_printerr("fuzz-guest-request: %s: %s\n", what, detail != NULL ? detail : "");
	abort();
}

/* a share like the guest's /run/cocoon/shared: c1/rootfs, and a symlink that leads out */
static void
make_share(void)
{
	g_autofree gchar *rootfs = NULL;
	g_autofree gchar *escape = NULL;
	g_autofree gchar *inner = NULL;

	if (share_dir != NULL)
		return;
	share_dir = g_dir_make_tmp("fuzz-guest-share-XXXXXX", NULL);
	check(share_dir != NULL, "mkdtemp", NULL);
	rootfs = g_build_filename(share_dir, "c1", "rootfs", NULL);
	check(g_mkdir_with_parents(rootfs, 0700) == 0, "mkdir", rootfs);
	escape = g_build_filename(share_dir, "out", NULL);
	check(symlink("/", escape) == 0, "symlink", escape);
	inner = g_build_filename(share_dir, "c1", "up", NULL);
	check(symlink("../..", inner) == 0, "symlink", inner);
	share_real = realpath(share_dir, NULL);
	check(share_real != NULL, "realpath", share_dir);
}

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
check_ids(const ProtobufCMessage *message)
{
	g_autoptr(GError) error = NULL;
	const gchar *container_id = string_field(message, "container_id");
	const gchar *exec_id = string_field(message, "exec_id");

	if (container_id != NULL && cocoon_guest_validate_id("container id", container_id, &error))
		check(strchr(container_id, '/') == NULL && !g_str_equal(container_id, "..") &&
			      !g_str_equal(container_id, "."),
		      "a container id that is a path was accepted", container_id);
	g_clear_error(&error);
	if (exec_id != NULL && exec_id[0] != '\0' &&
	    cocoon_guest_validate_id("exec id", exec_id, &error))
		check(strchr(exec_id, '/') == NULL, "an exec id with a slash was accepted",
		      exec_id);
}

static void
create_container(const Cocoon__Agent__V1__CreateContainerRequest *request)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *rootfs = NULL;
	g_autoptr(CocoonGuestSpec) spec = NULL;

	if (request->rootfs == NULL)
		return;
	rootfs = cocoon_guest_resolve_rootfs(share_dir, request->rootfs, &error);
	if (rootfs == NULL)
		return;
	check(g_str_has_prefix(rootfs, share_real) &&
		      (rootfs[strlen(share_real)] == '/' || rootfs[strlen(share_real)] == '\0'),
	      "a rootfs outside the share was accepted", rootfs);
	if (request->spec_json.len > SPEC_JSON_MAX ||
	    !cocoon_guest_validate_id("container id", request->container_id, NULL))
		return;
	spec = cocoon_guest_spec_patch((const gchar *)request->spec_json.data,
				       request->spec_json.len, request->container_id, rootfs,
				       request->stdio != NULL && request->stdio->terminal, NULL,
				       NULL, &error);
	if (spec != NULL)
		check(spec->config_json != NULL && spec->cgroups_path != NULL &&
			      cocoon_guest_cgroups_path_is_valid(spec->cgroups_path),
		      "a patched spec without config or with a bad cgroups path",
		      spec->cgroups_path);
}

static void
exec_process(const Cocoon__Agent__V1__ExecProcessRequest *request)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *process = NULL;

	if (request->process_json.len > SPEC_JSON_MAX)
		return;
	process = cocoon_guest_process_patch(
		(const gchar *)request->process_json.data, request->process_json.len,
		request->stdio != NULL && request->stdio->terminal, &error);
	check((process == NULL) == (error != NULL), "process patch result and error disagree",
	      NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCServiceDescriptor *service = &cocoon__agent__v1__agent__descriptor;
	const ProtobufCMethodDescriptor *method;
	ProtobufCMessage *message;

	make_share();
	if (size < 1)
		return 0;
	method = &service->methods[data[0] % service->n_methods];
	message = protobuf_c_message_unpack(method->input, NULL, size - 1, data + 1);
	if (message == NULL)
		return 0;
	check_ids(message);
	if (method->input == &cocoon__agent__v1__create_container_request__descriptor)
		create_container((Cocoon__Agent__V1__CreateContainerRequest *)message);
	else if (method->input == &cocoon__agent__v1__exec_process_request__descriptor)
		exec_process((Cocoon__Agent__V1__ExecProcessRequest *)message);
	else if (method->input == &cocoon__agent__v1__setup_network_request__descriptor) {
		g_autoptr(GError) error = NULL;
		(void)cocoon_guest_network_check_request(
			(Cocoon__Agent__V1__SetupNetworkRequest *)message, &error);
	}
	protobuf_c_message_free_unpacked(message, NULL);
	return 0;
}
