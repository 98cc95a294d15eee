/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replays a corpus through LLVMFuzzerTestOneInput without libFuzzer, so the unit and fuzz suites
 * run every committed input with the normal compiler. Arguments: files or directories.
 */
#include "config.h"

#include <stdint.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean
replay_file(const gchar *path)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *contents = NULL;
	gsize length = 0;

	if (!g_file_get_contents(path, &contents, &length, &error)) {
		g_printerr("%s\n", error->message);
		return FALSE;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)contents, length);
	return TRUE;
}

static gboolean
replay_path(const gchar *path, guint *n_inputs)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDir) dir = NULL;
	const gchar *name;

	if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
		(*n_inputs)++;
		return replay_file(path);
	}
	dir = g_dir_open(path, 0, &error);
	if (dir == NULL) {
		g_printerr("%s\n", error->message);
		return FALSE;
	}
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *child = g_build_filename(path, name, NULL);

		if (!replay_path(child, n_inputs))
			return FALSE;
	}
	return TRUE;
}

int
main(int argc, char **argv)
{
	guint n_inputs = 0;

	if (argc < 2) {
		g_printerr("usage: %s CORPUS-FILE-OR-DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (!replay_path(argv[i], &n_inputs))
			return 1;
	}
	/* the empty input too */
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	g_print("replayed %u inputs\n", n_inputs);
	return n_inputs > 0 ? 0 : 1;
}
