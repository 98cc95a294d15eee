/* SPDX-License-Identifier: Apache-2.0 */
/*
 * feeds every file of the given corpus directories (or single files) to LLVMFuzzerTestOneInput,
 * so the committed corpus runs in the unit and fuzz suites without libFuzzer, under every compiler
 * and sanitizer; shared by every fuzz target (tests/fuzz/meson.build: fuzz_replay_main)
 */
#include "config.h"

#include <stdint.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean
replay(const gchar *path, guint *ret_count)
{
	g_autoptr(GError) error = NULL;

	if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
		g_autoptr(GDir) dir = g_dir_open(path, 0, &error);
		g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
		const gchar *name;

		if (dir == NULL) {
			g_printerr("%s\n", error->message);
			return FALSE;
		}
		while ((name = g_dir_read_name(dir)) != NULL)
			g_ptr_array_add(names, g_build_filename(path, name, NULL));
		/* a stable order makes a failure reproducible */
		g_ptr_array_sort(names, (GCompareFunc)(void (*)(void))g_strcmp0);
		for (guint i = 0; i < names->len; i++) {
			if (!replay(g_ptr_array_index(names, i), ret_count))
				return FALSE;
		}
		return TRUE;
	} else {
		g_autofree gchar *contents = NULL;
		gsize length = 0;

		if (!g_file_get_contents(path, &contents, &length, &error)) {
			g_printerr("%s\n", error->message);
			return FALSE;
		}
		/* a copy of exactly length bytes, so ASan sees reads past the end */
		g_autofree guint8 *exact = g_memdup2(contents, length);
		LLVMFuzzerTestOneInput(exact, length);
		(*ret_count)++;
		return TRUE;
	}
}

int
main(int argc, char **argv)
{
	guint count = 0;

	if (argc < 2) {
		g_printerr("usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
		return 2;
	}
	for (gint i = 1; i < argc; i++) {
		if (!replay(argv[i], &count))
			return 1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	g_print("replayed %u inputs\n", count);
	return count > 0 ? 0 : 1;
}
