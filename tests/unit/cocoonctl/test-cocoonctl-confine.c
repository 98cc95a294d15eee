/* SPDX-License-Identifier: Apache-2.0 */
/* cocoonctl's confinement reports: id files against the uid range, /proc/<pid>/status */
#include "config.h"

#include <gio/gio.h>

#include "cocoonctl-confine.h"

#define BASE  1900000000u
#define COUNT 65536u

static void
test_ranges(void)
{
	g_assert_true(cocoonctl_id_ranges_overlap(10, 5, 14, 1));
	g_assert_false(cocoonctl_id_ranges_overlap(10, 5, 15, 1));
	g_assert_false(cocoonctl_id_ranges_overlap(10, 5, 5, 5));
	g_assert_true(cocoonctl_id_ranges_overlap(10, 5, 5, 6));
	g_assert_true(cocoonctl_id_ranges_overlap(10, 5, 0, 100));
	g_assert_false(cocoonctl_id_ranges_overlap(10, 0, 10, 1));
	g_assert_false(cocoonctl_id_ranges_overlap(10, 5, 12, 0));
	/* no wrap at the top of the uid space */
	g_assert_true(cocoonctl_id_ranges_overlap(G_MAXUINT32 - 1, 2, G_MAXUINT32, 4000000000u));
}

static void
test_passwd_free(void)
{
	const gchar *passwd = "root:x:0:0:root:/root:/bin/bash\n"
			      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
			      "high:x:1899999999:100::/:/bin/false\n"
			      "after:x:1900065536:100::/:/bin/false\n"
			      "\n"
			      "# a comment:x:1900000000:0\n"
			      "+@nis::::::\n"
			      "broken:x:19000000001:0::/:\n"
			      "short:x\n";
	g_autofree gchar *first = NULL;

	g_assert_cmpuint(
		cocoonctl_id_file_overlaps(passwd, COCOONCTL_ID_FILE_PASSWD, BASE, COUNT, &first),
		==, 0);
	g_assert_null(first);
	g_assert_cmpuint(
		cocoonctl_id_file_overlaps("", COCOONCTL_ID_FILE_PASSWD, BASE, COUNT, &first), ==,
		0);
	g_assert_cmpuint(
		cocoonctl_id_file_overlaps(NULL, COCOONCTL_ID_FILE_SUBID, BASE, COUNT, &first), ==,
		0);
}

static void
test_passwd_taken(void)
{
	const gchar *passwd = "root:x:0:0:root:/root:/bin/bash\n"
			      "pod:x:1900000000:100::/:/bin/false\n"
			      "last:x:1900065535:100::/:/bin/false\n";
	const gchar *group = "root:x:0:\n"
			     "kvm:x:1900000123:\n";
	g_autofree gchar *first = NULL;
	g_autofree gchar *group_first = NULL;

	g_assert_cmpuint(
		cocoonctl_id_file_overlaps(passwd, COCOONCTL_ID_FILE_PASSWD, BASE, COUNT, &first),
		==, 2);
	g_assert_cmpstr(first, ==, "line 2 (pod:x:1900000000:100::/:/bin/false)");
	g_assert_cmpuint(cocoonctl_id_file_overlaps(group, COCOONCTL_ID_FILE_PASSWD, BASE, COUNT,
						    &group_first),
			 ==, 1);
	g_assert_cmpstr(group_first, ==, "line 2 (kvm:x:1900000123:)");
	/* a group's gid in the range is a passwd-format entry: subid parsing never sees it */
	g_assert_cmpuint(
		cocoonctl_id_file_overlaps(group, COCOONCTL_ID_FILE_SUBID, BASE, COUNT, NULL), ==,
		0);
}

static void
test_subid(void)
{
	/* the usual useradd allocations start at 100000, 65536 each */
	const gchar *free_ranges = "alice:100000:65536\n"
				   "bob:165536:65536\n"
				   "below:1899934464:65536\n"
				   "above:1900065536:1000\n";
	const gchar *taken = "alice:100000:65536\n"
			     "containers:1899999000:2000\n"
			     "inside:1900001000:10\n";
	const gchar *everything = "root:0:4294967295\n";
	g_autofree gchar *first = NULL;
	g_autofree gchar *all = NULL;

	g_assert_cmpuint(cocoonctl_id_file_overlaps(free_ranges, COCOONCTL_ID_FILE_SUBID, BASE,
						    COUNT, &first),
			 ==, 0);
	g_assert_null(first);
	g_assert_cmpuint(
		cocoonctl_id_file_overlaps(taken, COCOONCTL_ID_FILE_SUBID, BASE, COUNT, &first), ==,
		2);
	g_assert_cmpstr(first, ==, "line 2 (containers:1899999000:2000)");
	g_assert_cmpuint(
		cocoonctl_id_file_overlaps(everything, COCOONCTL_ID_FILE_SUBID, BASE, COUNT, &all),
		==, 1);
	/* a passwd line read as subid (four fields or more) is no subid entry */
	g_assert_cmpuint(cocoonctl_id_file_overlaps("x:1900000000:1:extra\n",
						    COCOONCTL_ID_FILE_SUBID, BASE, COUNT, NULL),
			 ==, 0);
	/* a zero count reserves nothing */
	g_assert_cmpuint(cocoonctl_id_file_overlaps("x:1900000000:0\n", COCOONCTL_ID_FILE_SUBID,
						    BASE, COUNT, NULL),
			 ==, 0);
}

static const gchar jailed_status[] = "Name:\tqemu-system-x86\n"
				     "Umask:\t0022\n"
				     "State:\tS (sleeping)\n"
				     "Uid:\t1900000042\t1900000042\t1900000042\t1900000042\n"
				     "Gid:\t1900000042\t1900000042\t1900000042\t1900000042\n"
				     "CapInh:\t0000000000000000\n"
				     "CapPrm:\t000000000000001b\n"
				     "CapEff:\t000000000000001b\n"
				     "CapBnd:\t000000000000001b\n"
				     "CapAmb:\t000000000000001b\n"
				     "NoNewPrivs:\t1\n"
				     "Seccomp:\t2\n"
				     "Seccomp_filters:\t2\n";

static void
test_status_jailed(void)
{
	CocoonctlProcStatus status;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *caps = NULL;
	g_autofree gchar *missing = NULL;

	g_assert_true(cocoonctl_proc_status_parse(jailed_status, &status, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(status.uid[0], ==, 1900000042);
	g_assert_cmpuint(status.uid[3], ==, 1900000042);
	g_assert_cmpuint(status.gid[1], ==, 1900000042);
	g_assert_cmpuint(status.cap_eff, ==, COCOONCTL_CAPS_9P);
	g_assert_cmpuint(status.no_new_privs, ==, 1);
	g_assert_cmpuint(status.seccomp, ==, COCOONCTL_SECCOMP_FILTER);
	g_assert_cmpstr(cocoonctl_seccomp_to_string(status.seccomp), ==, "filter");
	caps = cocoonctl_caps_to_string(status.cap_eff);
	g_assert_cmpstr(caps, ==, "chown dac_override fowner fsetid");
	g_assert_true(cocoonctl_confined(&status, TRUE, TRUE, &missing));
	g_assert_null(missing);
	/* the same process in the host's mount namespace is not */
	g_assert_false(cocoonctl_confined(&status, FALSE, TRUE, &missing));
	g_assert_cmpstr(missing, ==, "cocoonctl's mount namespace");
	status.cap_eff = 0;
	g_assert_true(cocoonctl_confined(&status, TRUE, TRUE, NULL));
}

static void
test_status_root(void)
{
	const gchar *root = "Name:\tqemu-system-x86\n"
			    "Uid:\t0\t0\t0\t0\n"
			    "Gid:\t0\t0\t0\t0\n"
			    "CapEff:\t000001ffffffffff\n"
			    "NoNewPrivs:\t0\n"
			    "Seccomp:\t0\n";
	CocoonctlProcStatus status;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *caps = NULL;
	g_autofree gchar *missing = NULL;

	g_assert_true(cocoonctl_proc_status_parse(root, &status, &error));
	g_assert_cmpuint(status.cap_eff, ==, G_GUINT64_CONSTANT(0x1ffffffffff));
	caps = cocoonctl_caps_to_string(status.cap_eff);
	g_assert_true(g_str_has_prefix(caps, "chown dac_override dac_read_search"));
	g_assert_true(g_str_has_suffix(caps, "bpf checkpoint_restore"));
	g_assert_false(cocoonctl_confined(&status, FALSE, FALSE, &missing));
	g_assert_cmpstr(
		missing, ==,
		"runs as uid or gid 0, capabilities beyond the 9p four, no no_new_privs, "
		"no seccomp filter, cocoonctl's mount namespace, cocoonctl's PID namespace");
	g_assert_cmpstr(cocoonctl_seccomp_to_string(COCOONCTL_SECCOMP_STRICT), ==, "strict");
	g_assert_cmpstr(cocoonctl_seccomp_to_string(7), ==, "unknown");
}

static void
test_status_saved_root(void)
{
	/* a saved uid of 0 could get root back */
	g_autofree gchar *text = g_strdup(jailed_status);
	gchar *uid = strstr(text, "Uid:");
	CocoonctlProcStatus status;
	g_autofree gchar *missing = NULL;

	memcpy(uid, "Uid:\t1900000042\t1900000042\t0000000000", 37);
	g_assert_true(cocoonctl_proc_status_parse(text, &status, NULL));
	g_assert_cmpuint(status.uid[2], ==, 0);
	g_assert_false(cocoonctl_confined(&status, TRUE, TRUE, &missing));
	g_assert_cmpstr(missing, ==, "runs as uid or gid 0");
}

static void
test_status_bad(void)
{
	const gchar *bad[] = {
		"",
		"Uid:\t1\t2\t3\nGid:\t1\t2\t3\t4\nCapEff:\t0\nNoNewPrivs:\t1\nSeccomp:\t2\n",
		"Uid:\t1\t2\t3\t4\nGid:\t1\t2\t3\t4\nCapEff:\tzz\nNoNewPrivs:\t1\nSeccomp:\t2\n",
		"Uid:\t1\t2\t3\t4\nGid:\t1\t2\t3\t4\nCapEff:\t0\nSeccomp:\t2\n",
		"Uid:\t1\t2\t3\t4\nGid:\t1\t2\t3\t4\nCapEff:\t0\nNoNewPrivs:\t1\nSeccomp:\t3\n",
		"Uid:\t1\t2\t3\t99999999999\nGid:\t1\t2\t3\t4\nCapEff:\t0\nNoNewPrivs:\t1\n"
		"Seccomp:\t2\n",
		"Uid:\t1\t2\t3\t4\nGid:\t1\t2\t3\t4\nCapEff:\t00000000000000001\nNoNewPrivs:\t1\n"
		"Seccomp:\t2\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		CocoonctlProcStatus status = {.no_new_privs = 42};
		g_autoptr(GError) error = NULL;
		g_test_message("status %u", i);
		g_assert_false(cocoonctl_proc_status_parse(bad[i], &status, &error));
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
		/* ret_status is written only on success */
		g_assert_cmpuint(status.no_new_privs, ==, 42);
	}
}

static void
test_caps_names(void)
{
	g_autofree gchar *none = cocoonctl_caps_to_string(0);
	g_autofree gchar *high = cocoonctl_caps_to_string(((guint64)1 << 63) | (1u << 21));

	g_assert_cmpstr(none, ==, "none");
	g_assert_cmpstr(high, ==, "sys_admin cap_63");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cocoonctl/confine/ranges", test_ranges);
	g_test_add_func("/cocoonctl/confine/passwd-free", test_passwd_free);
	g_test_add_func("/cocoonctl/confine/passwd-taken", test_passwd_taken);
	g_test_add_func("/cocoonctl/confine/subid", test_subid);
	g_test_add_func("/cocoonctl/confine/status-jailed", test_status_jailed);
	g_test_add_func("/cocoonctl/confine/status-root", test_status_root);
	g_test_add_func("/cocoonctl/confine/status-saved-root", test_status_saved_root);
	g_test_add_func("/cocoonctl/confine/status-bad", test_status_bad);
	g_test_add_func("/cocoonctl/confine/caps-names", test_caps_names);
	return g_test_run();
}
