/* SPDX-License-Identifier: Apache-2.0 */
/* runs the KVM probe once and says what Cocoon would use: exit 0 KVM usable, 1 TCG */
#include "config.h"

#include <stdlib.h>

#include <gio/gio.h>

#include "cocoon-accel.h"

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *detail = NULL;
	guint budget = argc > 1 ? (guint)strtoul(argv[1], NULL, 10) : COCOON_KVM_PROBE_BUDGET_MS;
	gint64 start = g_get_monotonic_time();
	gboolean ok = cocoon_kvm_probe(budget, &detail, &error);
	gint64 elapsed_ms = (g_get_monotonic_time() - start) / 1000;

	if (ok)
		g_print("kvm: %s [probe took %" G_GINT64_FORMAT " ms]\n", detail, elapsed_ms);
	else
		g_print("tcg: %s [probe took %" G_GINT64_FORMAT " ms]\n", error->message,
			elapsed_ms);
	g_print("host TSC: %u kHz\n", cocoon_host_tsc_khz());
	return ok ? 0 : 1;
}
