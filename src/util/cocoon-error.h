/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void cocoon_set_error_from_errno(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

G_END_DECLS
