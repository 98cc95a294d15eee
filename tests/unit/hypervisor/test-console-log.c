/* SPDX-License-Identifier: Apache-2.0 */
/* the capped, once-rotated console log */
#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-console-log.h"

typedef struct {
	gchar *dir;
	gchar *path;
	gchar *rotated;
} Fixture;

static void
fixture_setup(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fixture->dir = g_dir_make_tmp("cocoon-console-XXXXXX", &error);
	g_assert_no_error(error);
	fixture->path = g_build_filename(fixture->dir, "console.log", NULL);
	fixture->rotated = g_strconcat(fixture->path, ".1", NULL);
}

static void
fixture_teardown(Fixture *fixture, gconstpointer data)
{
	g_unlink(fixture->path);
	g_unlink(fixture->rotated);
	g_rmdir(fixture->dir);
	g_free(fixture->dir);
	g_free(fixture->path);
	g_free(fixture->rotated);
}

static gchar *
contents_of(const gchar *path)
{
	gchar *contents = NULL;

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return NULL;
	return contents;
}

static void
write_text(CocoonConsoleLog *log, const gchar *text)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(cocoon_console_log_write(log, (const guint8 *)text, strlen(text), &error));
	g_assert_no_error(error);
}

static void
test_rotate(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonConsoleLog) log = NULL;
	g_autofree gchar *current = NULL;
	g_autofree gchar *previous = NULL;
	GStatBuf st;

	/* a rotation of an earlier run goes */
	g_assert_true(g_file_set_contents(fixture->rotated, "old", -1, NULL));
	g_assert_true(g_file_set_contents(fixture->path, "older", -1, NULL));
	log = cocoon_console_log_open(fixture->path, 10, &error);
	g_assert_no_error(error);
	g_assert_false(g_file_test(fixture->rotated, G_FILE_TEST_EXISTS));
	g_assert_cmpint(g_stat(fixture->path, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	write_text(log, "0123456");
	write_text(log, "789");
	/* full but not rotated yet: the cap is reached, not passed */
	g_assert_cmpuint(cocoon_console_log_get_rotations(log), ==, 0);
	write_text(log, "abcdef");
	g_assert_cmpuint(cocoon_console_log_get_rotations(log), ==, 1);
	current = contents_of(fixture->path);
	previous = contents_of(fixture->rotated);
	g_assert_cmpstr(previous, ==, "0123456789");
	g_assert_cmpstr(current, ==, "abcdef");
	g_assert_cmpuint(cocoon_console_log_get_size(log), ==, 6);

	/* a write spanning the cap is split at it */
	write_text(log, "ghijklmn");
	g_clear_pointer(&current, g_free);
	g_clear_pointer(&previous, g_free);
	current = contents_of(fixture->path);
	previous = contents_of(fixture->rotated);
	g_assert_cmpstr(previous, ==, "abcdefghij");
	g_assert_cmpstr(current, ==, "klmn");
}

static void
test_big_write(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonConsoleLog) log = NULL;
	g_autofree gchar *current = NULL;
	g_autofree gchar *previous = NULL;
	g_autoptr(GString) flood = g_string_new(NULL);
	GStatBuf st;

	log = cocoon_console_log_open(fixture->path, 4096, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < 100000; i++)
		g_string_append_printf(flood, "%u\n", i);
	/* one write of ~590 KB: its last 4096 bytes survive, and the disk never holds more */
	g_assert_true(
		cocoon_console_log_write(log, (const guint8 *)flood->str, flood->len, &error));
	g_assert_cmpint(g_stat(fixture->path, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 4096);
	g_assert_false(g_file_test(fixture->rotated, G_FILE_TEST_EXISTS));
	current = contents_of(fixture->path);
	g_assert_true(g_str_has_suffix(current, "99998\n99999\n"));
	g_assert_cmpstr(current, ==, flood->str + flood->len - 4096);

	/* many small writes: at most twice the cap, ever */
	for (guint i = 0; i < 10000; i++) {
		write_text(log, "console flood\n");
		g_assert_cmpint(g_stat(fixture->path, &st), ==, 0);
		g_assert_cmpint(st.st_size, <=, 4096);
	}
	g_assert_cmpint(g_stat(fixture->rotated, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 4096);
	previous = contents_of(fixture->rotated);
	/* split at the cap, whatever the line */
	g_assert_nonnull(strstr(previous, "console flood\nconsole"));
}

/* a path that cannot be created is an error naming it */
static void
test_open_error(Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_build_filename(fixture->dir, "missing", "console.log", NULL);
	g_autoptr(CocoonConsoleLog) log = cocoon_console_log_open(path, 100, &error);

	g_assert_null(log);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, path));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, func)                                                                            \
	g_test_add("/hypervisor/console-log/" path, Fixture, NULL, fixture_setup, func,            \
		   fixture_teardown)
	ADD("rotate", test_rotate);
	ADD("big-write", test_big_write);
	ADD("open-error", test_open_error);
#undef ADD
	return g_test_run();
}
