/* SPDX-License-Identifier: Apache-2.0 */
/* cocoon_set_error_from_errno: the message, the code and errno left as it was */
#include "config.h"

#include <errno.h>

#include <gio/gio.h>

#include "cocoon-error.h"

static void
test_from_errno(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *expected = g_strdup_printf("open /x/y: %s", g_strerror(ENOENT));

	errno = ENOENT;
	cocoon_set_error_from_errno(&error, "open %s", "/x/y");
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_cmpstr(error->message, ==, expected);
	g_assert_cmpint(errno, ==, ENOENT);
}

static void
test_null_error(void)
{
	errno = EACCES;
	cocoon_set_error_from_errno(NULL, "ignored");
	g_assert_cmpint(errno, ==, EACCES);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/util/error/from-errno", test_from_errno);
	g_test_add_func("/util/error/null-error", test_null_error);
	return g_test_run();
}
