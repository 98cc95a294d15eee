/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-util"

#include "config.h"

#include "cocoon-error.h"

#include <errno.h>
#include <stdarg.h>

#include <gio/gio.h>

/**
 * cocoon_set_error_from_errno:
 * @error: return location for the error
 * @format: what failed, printf-style
 *
 * Sets @error from errno as "<what failed>: <strerror>" in the G_IO_ERROR domain, the code
 * from g_io_error_from_errno(). Reads errno first thing and leaves it as it was, so callers
 * may format with functions that touch it.
 */
void
cocoon_set_error_from_errno(GError **error, const gchar *format, ...)
{
	int saved_errno = errno;
	g_autofree gchar *what = NULL;
	va_list args;

	va_start(args, format);
	what = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno), "%s: %s", what,
		    g_strerror(saved_errno));
	errno = saved_errno;
}
