/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

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

/* the per-boot cache: written by the first process, believed by the next ones, for this boot only
 */
static gchar *cache_dir;

static gchar *
cache_file(void)
{
	return g_build_filename(cache_dir, "accel", NULL);
}

static void
cache_child_resolve(void)
{
	const gchar *reason = NULL;
	CocoonAccel accel = cocoon_accel_resolve(COCOON_ACCEL_AUTO, &reason);

	g_print("accel=%s reason=%s tsc=%u\n", accel == COCOON_ACCEL_KVM ? "kvm" : "tcg", reason,
		cocoon_host_tsc_khz());
}

static void
test_accel_cache(void)
{
	g_autofree gchar *path = cache_file();
	g_autofree gchar *contents = NULL;
	g_autofree gchar *key_line = NULL;
	g_autofree gchar *fake = NULL;
	g_auto(GStrv) lines = NULL;

	if (g_test_subprocess()) {
		cache_child_resolve();
		return;
	}
	g_unlink(path);
	/* 1: nothing cached: the child probes and writes the file */
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
	g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
	g_test_message("cache: %s", contents);
	lines = g_strsplit(contents, "\n", -1);
	g_assert_true(g_str_has_prefix(lines[0], "key="));
	g_assert_nonnull(strstr(contents, "\naccel="));
	key_line = g_strdup(lines[0]);

	/* 2: a cached verdict for this boot is believed, no probe */
	fake = g_strdup_printf("%s\naccel=tcg\nreason=from the test\ntsc_khz=1234567\n", key_line);
	g_assert_true(g_file_set_contents(path, fake, -1, NULL));
	g_assert_no_errno(g_chmod(path, 0644));
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
	g_test_trap_assert_stdout("*accel=tcg reason=from the test tsc=1234567*");

	/* 3: another boot's verdict is not */
	g_clear_pointer(&fake, g_free);
	fake = g_strdup(
		"key=another-boot no-kvm\naccel=tcg\nreason=from the test\ntsc_khz=1234567\n");
	g_assert_true(g_file_set_contents(path, fake, -1, NULL));
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
	g_test_trap_assert_stdout_unmatched("*from the test*");
	g_test_trap_assert_stdout_unmatched("*tsc=1234567*");

	/* 4: a file others could have written is ignored */
	g_clear_pointer(&fake, g_free);
	fake = g_strdup_printf("%s\naccel=tcg\nreason=from the test\n", key_line);
	g_assert_true(g_file_set_contents(path, fake, -1, NULL));
	g_assert_no_errno(g_chmod(path, 0666));
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
	g_test_trap_assert_stdout_unmatched("*from the test*");
	g_unlink(path);
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	int status;

	g_test_init(&argc, &argv, NULL);
	/* never the host's /run/cocoon/accel: a private file, inherited by the subprocesses */
	cache_dir = g_strdup(g_getenv("COCOON_TEST_ACCEL_DIR"));
	if (cache_dir == NULL) {
		cache_dir = g_dir_make_tmp("cocoon-accel-XXXXXX", &error);
		g_assert_no_error(error);
		g_setenv("COCOON_TEST_ACCEL_DIR", cache_dir, TRUE);
	}
	path = cache_file();
	g_setenv("COCOON_ACCEL_CACHE", path, TRUE);
	g_test_add_func("/hypervisor/accel/probe", test_accel_probe);
	g_test_add_func("/hypervisor/accel/tsc", test_accel_tsc);
	g_test_add_func("/hypervisor/accel/cache", test_accel_cache);
	status = g_test_run();
	if (!g_test_subprocess()) {
		g_unlink(path);
		g_rmdir(cache_dir);
	}
	g_free(cache_dir);
	return status;
}
