/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replays files or directories of files through LLVMFuzzerTestOneInput, so the corpus runs in
 * every build (gcc, sanitizers) and not only under libFuzzer
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean
replay_file(const gchar *path, guint *count)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *contents = NULL;
	gsize length = 0;

	if (!g_file_get_contents(path, &contents, &length, &error)) {
		g_printerr("%s\n", error->message);
		return FALSE;
	}
	/* a copy of exactly length bytes, so ASan sees reads past the end */
	{
		g_autofree guint8 *exact = g_memdup2(contents, length);
		LLVMFuzzerTestOneInput(exact, length);
	}
	(*count)++;
	return TRUE;
}

int
main(int argc, char **argv)
{
	guint count = 0;

	if (argc < 2) {
		g_printerr("usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
			g_autoptr(GError) error = NULL;
			g_autoptr(GDir) dir = g_dir_open(argv[i], 0, &error);
			const gchar *name;

			if (dir == NULL) {
				g_printerr("%s\n", error->message);
				return 1;
			}
			while ((name = g_dir_read_name(dir)) != NULL) {
				g_autofree gchar *path = g_build_filename(argv[i], name, NULL);
				if (!replay_file(path, &count))
					return 1;
			}
		} else if (!replay_file(argv[i], &count)) {
			return 1;
		}
	}
	g_print("replayed %u inputs\n", count);
	return count > 0 ? 0 : 1;
}
