/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what the shim reads from a bundle's config.json (written by containerd from
 * whatever the client sent): the pod grouping (cocoon_shim_read_group(): the sandbox-id and
 * container-type annotations, the sandbox id validated) and the io.cocoon.config.* annotation
 * overrides, applied to a configuration that allows every overridable key. An accepted sandbox id
 * must be a valid identifier; the overrides apply all or nothing and keep the maxima.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "cocoon-config.h"
#include "cocoon-json.h"
#include "cocoon-shim-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gchar *bundle;
static gchar *config_path;

static const gchar *const overridable[] = {
	"hypervisor.machine",	    "hypervisor.accel",		"hypervisor.vcpus",
	"hypervisor.memory_mib",    "hypervisor.kernel_params", "agent.boot_timeout_ms",
	"agent.request_timeout_ms", "agent.debug_console",	NULL,
};

static void
check(gboolean condition, const gchar *what, const gchar *detail)
{
	if (condition)
		return;
	g_printerr("fuzz-bundle-spec: %s: %s\n", what, detail != NULL ? detail : "");
	abort();
}

static void
apply_annotations(const guint8 *data, gsize size)
{
	g_autoptr(CocoonJson) spec = cocoon_json_parse((const gchar *)data, size, NULL);
	g_autoptr(CocoonConfig) config = cocoon_config_new_default();
	g_autoptr(CocoonConfig) before = NULL;
	g_autoptr(GError) error = NULL;

	if (spec == NULL)
		return;
	g_strfreev(config->enable_annotations);
	config->enable_annotations = g_strdupv((gchar **)overridable);
	for (guint i = 0; overridable[i] != NULL; i++)
		check(cocoon_config_key_is_overridable(overridable[i]), "not overridable",
		      overridable[i]);
	before = cocoon_config_copy(config);
	if (!cocoon_config_apply_annotations(config, cocoon_json_object_get(spec, "annotations"),
					     &error)) {
		check(error != NULL, "refused without an error", NULL);
		/* all or nothing */
		check(config->vcpus == before->vcpus && config->memory_mib == before->memory_mib &&
			      config->request_timeout_ms == before->request_timeout_ms &&
			      g_strcmp0(config->kernel_params, before->kernel_params) == 0,
		      "a refused override changed the configuration", error->message);
		return;
	}
	check(config->vcpus >= 1 && config->vcpus <= config->max_vcpus, "vcpus beyond the maximum",
	      NULL);
	check(config->memory_mib <= config->max_memory_mib, "memory beyond the maximum", NULL);
	check(g_strcmp0(config->qemu_binary, before->qemu_binary) == 0 &&
		      g_strcmp0(config->state_dir, before->state_dir) == 0 &&
		      g_strcmp0(config->kernel, before->kernel) == 0 &&
		      g_strv_equal((const gchar *const *)config->extra_args,
				   (const gchar *const *)before->extra_args),
	      "an annotation changed what no pod may change", NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *group = NULL;
	g_autofree gchar *type = NULL;

	if (bundle == NULL) {
		bundle = g_dir_make_tmp("fuzz-bundle-XXXXXX", NULL);
		check(bundle != NULL, "mkdtemp", NULL);
		config_path = g_build_filename(bundle, "config.json", NULL);
	}
	check(g_file_set_contents(config_path, (const gchar *)data, (gssize)size, NULL), "write",
	      config_path);
	group = cocoon_shim_read_group(bundle, "c1", &type, &error);
	check((group == NULL) == (error != NULL), "result and error disagree", NULL);
	if (group != NULL)
		check(cocoon_identifier_validate("sandbox id", group, NULL),
		      "an invalid sandbox id was accepted", group);
	apply_annotations(data, size);
	return 0;
}
