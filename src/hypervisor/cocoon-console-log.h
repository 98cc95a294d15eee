/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The guest's serial console as a file with a size cap and one rotation: once PATH would grow past
 * max_bytes it becomes PATH.1 (replacing the previous one) and a new PATH starts, so at most twice
 * max_bytes stay on disk and the newest output is always kept. Whatever the guest writes is bytes
 * to store, never something to interpret. Plain data, used by one thread at a time (the QEMU
 * driver's console reader).
 */
typedef struct _CocoonConsoleLog CocoonConsoleLog;

/* the rotated file's suffix */
#define COCOON_CONSOLE_LOG_ROTATED_SUFFIX ".1"

/* creates (truncates) path, mode 0600, and removes a PATH.1 of an earlier run */
CocoonConsoleLog *cocoon_console_log_open(const gchar *path, guint64 max_bytes, GError **error);
/*
 * appends data, rotating as needed; a single write larger than max_bytes keeps its last max_bytes.
 * On a write error (disk full) the data is dropped and the error returned; later writes try again.
 */
gboolean cocoon_console_log_write(CocoonConsoleLog *log, const guint8 *data, gsize length,
				  GError **error);
/* bytes in the current file */
guint64 cocoon_console_log_get_size(const CocoonConsoleLog *log);
/* how many times the file was rotated */
guint cocoon_console_log_get_rotations(const CocoonConsoleLog *log);
void cocoon_console_log_free(CocoonConsoleLog *log);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonConsoleLog, cocoon_console_log_free)

G_END_DECLS
