/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the guest's OCI spec rewriting (src/guest/cocoon-guest-spec.h): the input is
 * a config.json or process.json from the host. The first byte sets the terminal flag; the rest goes
 * through cocoon_guest_spec_patch() and cocoon_guest_process_patch(). What comes out must be JSON
 * again, point root.path at the rootfs it was given and use a cgroups path crun accepts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "cocoon-guest-spec.h"
#include "cocoon-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROOTFS "/run/cocoon/shared/c1/rootfs"

static void
check(gboolean condition, const gchar *what, const gchar *detail)
{
	if (condition)
		return;
	g_printerr("fuzz-guest-spec: %s: %s\n", what, detail != NULL ? detail : "");
	abort();
}

/* every CRI pod sandbox id names a running sandbox: the join and /dev/shm paths are taken */
static gboolean
pod_lookup(const gchar *sandbox_id, CocoonGuestPod *ret_pod, gpointer user_data)
{
	(void)sandbox_id;
	(void)user_data;
	ret_pod->sandbox_pid = 77;
	ret_pod->shm_dir = COCOON_GUEST_POD_DIR "/sb/shm";
	return TRUE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonGuestSpec) spec = NULL;
	g_autofree gchar *process = NULL;
	gboolean terminal;

	if (size < 1)
		return 0;
	terminal = (data[0] & 1) != 0;
	spec = cocoon_guest_spec_patch((const gchar *)data + 1, size - 1, "c1", ROOTFS, terminal,
				       pod_lookup, NULL, &error);
	check((spec == NULL) == (error != NULL), "spec patch result and error disagree", NULL);
	if (spec != NULL) {
		g_autoptr(GError) parse_error = NULL;
		g_autoptr(CocoonJson) out = cocoon_json_parse(
			spec->config_json, strlen(spec->config_json), &parse_error);
		CocoonJson *root;

		check(out != NULL, "the patched spec is not JSON", spec->config_json);
		root = cocoon_json_object_get(out, "root");
		check(root != NULL && g_strcmp0(cocoon_json_object_get_string_member(root, "path"),
						ROOTFS) == 0,
		      "root.path is not the rootfs", spec->config_json);
		check(spec->cgroups_path != NULL &&
			      cocoon_guest_cgroups_path_is_valid(spec->cgroups_path),
		      "bad cgroups path", spec->cgroups_path);
	}
	g_clear_error(&error);
	process = cocoon_guest_process_patch((const gchar *)data + 1, size - 1, terminal, &error);
	check((process == NULL) == (error != NULL), "process patch result and error disagree",
	      NULL);
	if (process != NULL) {
		g_autoptr(CocoonJson) out = cocoon_json_parse(process, strlen(process), NULL);
		check(out != NULL, "the patched process is not JSON", process);
	}
	return 0;
}
