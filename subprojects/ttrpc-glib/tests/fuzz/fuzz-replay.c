/* SPDX-License-Identifier: Apache-2.0 */
/*
 * the committed corpus of fuzz-ttrpc-frame.c as a GTest, one case per file and one for the empty
 * input, so it runs in every build and under every sanitizer without libFuzzer
 */
#include "config.h"

#include <stdint.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
test_corpus_file(gconstpointer user_data)
{
	const gchar *path = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *contents = NULL;
	gsize length = 0;

	g_file_get_contents(path, &contents, &length, &error);
	g_assert_no_error(error);
	/* a copy of exactly length bytes, so ASan sees a read past the end */
	g_autofree guint8 *exact = g_memdup2(contents, length);
	LLVMFuzzerTestOneInput(exact, length);
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

static void
test_empty(void)
{
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *corpus = NULL;
	g_autoptr(GDir) dir = NULL;
	const gchar *name;

	g_test_init(&argc, &argv, NULL);
	corpus = g_test_build_filename(G_TEST_DIST, "fuzz", "corpus", NULL);
	dir = g_dir_open(corpus, 0, &error);
	g_assert_no_error(error);
	while ((name = g_dir_read_name(dir)) != NULL)
		g_ptr_array_add(paths, g_strdup(name));
	/* a stable order makes a failure reproducible */
	g_ptr_array_sort(paths, compare_names);
	g_assert_cmpuint(paths->len, >, 0);
	for (guint i = 0; i < paths->len; i++) {
		g_autofree gchar *test_path = g_strdup_printf("/ttrpc/fuzz/corpus/%s",
							      (gchar *)g_ptr_array_index(paths, i));
		gchar *path = g_build_filename(corpus, g_ptr_array_index(paths, i), NULL);

		g_test_add_data_func_full(test_path, path, test_corpus_file, g_free);
	}
	g_test_add_func("/ttrpc/fuzz/empty", test_empty);
	return g_test_run();
}
