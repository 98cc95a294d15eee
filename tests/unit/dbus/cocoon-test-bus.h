/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * A private dbus-daemon for tests. GTestDBus would do, except that its bus admits only its own
 * uid, and these tests need callers of another uid (nobody) too:
 * - COCOON_TEST_BUS_OPEN: anyone may connect, own and call anything (the shim's own uid check is
 *   all that guards Stop());
 * - COCOON_TEST_BUS_SYSTEM: the system bus's default policy plus data/io.github.cocoon.conf, as a
 *   system bus with the policy installed.
 * The socket is <dir>/bus, reachable by every uid.
 */
typedef enum {
	COCOON_TEST_BUS_OPEN,
	COCOON_TEST_BUS_SYSTEM,
} CocoonTestBusPolicy;

typedef struct {
	GSubprocess *daemon;
	gchar *dir;
	gchar *address;
} CocoonTestBus;

CocoonTestBus *cocoon_test_bus_new(CocoonTestBusPolicy policy, GError **error);
void cocoon_test_bus_free(CocoonTestBus *bus);

/* runs argv as uid/gid 65534 (nobody), returns its exit status and output (stdout + stderr) */
gboolean cocoon_test_run_as_nobody(const gchar *const *argv, const gchar *const *env,
				   gint *ret_status, gchar **ret_output, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonTestBus, cocoon_test_bus_free)

G_END_DECLS
