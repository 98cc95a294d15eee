/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-accel.h"

/* the outcome depends on the host; what must hold everywhere: bounded, consistent, cached */
static void
test_accel_probe(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *detail = NULL;
	gint64 start = g_get_monotonic_time();
	gboolean ok = cocoon_kvm_probe(COCOON_KVM_PROBE_BUDGET_MS, &detail, &error);
	gint64 elapsed = g_get_monotonic_time() - start;
	const gchar *reason = NULL;
	CocoonAccel accel;

	g_test_message("probe: %s (%" G_GINT64_FORMAT " ms)", ok ? detail : error->message,
		       elapsed / 1000);
	g_assert_cmpint(elapsed, <, (COCOON_KVM_PROBE_BUDGET_MS + 3500) * 1000);
	if (ok) {
		g_assert_no_error(error);
		g_assert_nonnull(detail);
	} else {
		g_assert_nonnull(error);
		g_assert_null(detail);
		if (access("/dev/kvm", F_OK) < 0)
			g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	}

	accel = cocoon_accel_resolve(COCOON_ACCEL_AUTO, &reason);
	g_assert_cmpint(accel, ==, ok ? COCOON_ACCEL_KVM : COCOON_ACCEL_TCG);
	g_assert_nonnull(reason);
	/* cached: the second answer is immediate and the same */
	start = g_get_monotonic_time();
	g_assert_cmpint(cocoon_accel_resolve(COCOON_ACCEL_AUTO, NULL), ==, accel);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 10000);

	g_assert_cmpint(cocoon_accel_resolve(COCOON_ACCEL_TCG, &reason), ==, COCOON_ACCEL_TCG);
	g_assert_cmpstr(reason, ==, "configured");
	g_assert_cmpint(cocoon_accel_resolve(COCOON_ACCEL_KVM, NULL), ==, COCOON_ACCEL_KVM);
}

static void
test_accel_tsc(void)
{
	guint khz = cocoon_host_tsc_khz();

	g_test_message("host TSC: %u kHz", khz);
#if defined(__x86_64__)
	/* 0 only without a constant TSC; otherwise a plausible clock */
	if (khz != 0) {
		g_assert_cmpuint(khz, >, 100000);
		g_assert_cmpuint(khz, <, 10000000);
	}
#endif
	g_assert_cmpuint(cocoon_host_tsc_khz(), ==, khz);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hypervisor/accel/probe", test_accel_probe);
	g_test_add_func("/hypervisor/accel/tsc", test_accel_tsc);
	return g_test_run();
}
