/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the configuration file: the input is written to a file that
 * cocoon_config_load() reads (libconfig, then cocoon's keys, types, ranges, maxima and
 * enable_annotations). A loaded configuration must have a state directory and a request timeout,
 * copy, and free. Inputs with libconfig's @include directive are skipped: it reads other files.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "cocoon-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gchar *path;

static void
check(gboolean condition, const gchar *what)
{
	if (condition)
		return;
	g_printerr("fuzz-config: %s\n", what);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonConfig) config = NULL;
	g_autoptr(CocoonConfig) copy = NULL;

	if (path == NULL) {
		g_autofree gchar *dir = g_dir_make_tmp("fuzz-config-XXXXXX", NULL);
		check(dir != NULL, "mkdtemp");
		path = g_build_filename(dir, "cocoon.conf", NULL);
	}
	if (g_strstr_len((const gchar *)data, (gssize)size, "@include") != NULL)
		return 0;
	check(g_file_set_contents(path, (const gchar *)data, (gssize)size, NULL), "write");
	config = cocoon_config_load(path, &error);
	check((config == NULL) == (error != NULL), "result and error disagree");
	if (config == NULL) {
		check(error->message != NULL && error->message[0] != '\0', "an empty error");
		return 0;
	}
	check(config->state_dir != NULL && config->warnings != NULL, "missing fields");
	check(config->vcpus >= 1 && config->vcpus <= config->max_vcpus, "vcpus beyond the maximum");
	check(config->memory_mib <= config->max_memory_mib, "memory beyond the maximum");
	copy = cocoon_config_copy(config);
	check(copy != NULL && g_strcmp0(copy->state_dir, config->state_dir) == 0, "copy");
	return 0;
}
