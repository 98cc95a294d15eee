/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The pure part of cocoonctl's confinement reports (check and inspect, docs/security.md): what
 * /etc/passwd-like files and /proc/<pid>/status say, given as strings. No I/O: tested alone.
 */

/* a confined QEMU serving 9p keeps these: CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID */
#define COCOONCTL_CAPS_9P ((1u << 0) | (1u << 1) | (1u << 3) | (1u << 4))

typedef enum {
	COCOONCTL_ID_FILE_PASSWD, /* /etc/passwd, /etc/group: name:password:id:... */
	COCOONCTL_ID_FILE_SUBID,  /* /etc/subuid, /etc/subgid: name:start:count */
} CocoonctlIdFile;

/* do [base_a, base_a + count_a) and [base_b, base_b + count_b) share an id? */
gboolean cocoonctl_id_ranges_overlap(guint64 base_a, guint64 count_a, guint64 base_b,
				     guint64 count_b);

/*
 * the lines of contents (a file of the given kind) whose ids fall in [base, base + count):
 * how many, and the first as "line N (text)" in ret_first when there is one. Lines that do not
 * parse (blank, comments, NIS "+" entries) are skipped.
 */
guint cocoonctl_id_file_overlaps(const gchar *contents, CocoonctlIdFile kind, guint32 base,
				 guint32 count, gchar **ret_first);

/* the Seccomp: field of /proc/<pid>/status */
typedef enum {
	COCOONCTL_SECCOMP_DISABLED = 0,
	COCOONCTL_SECCOMP_STRICT = 1,
	COCOONCTL_SECCOMP_FILTER = 2,
} CocoonctlSeccomp;

/* what /proc/<pid>/status says of a process's credentials and confinement */
typedef struct {
	guint32 uid[4]; /* real, effective, saved, file system */
	guint32 gid[4];
	guint64 cap_eff;
	guint no_new_privs;
	guint seccomp; /* CocoonctlSeccomp */
} CocoonctlProcStatus;

gboolean cocoonctl_proc_status_parse(const gchar *contents, CocoonctlProcStatus *ret_status,
				     GError **error);

/* "disabled", "strict", "filter" or "unknown" */
const gchar *cocoonctl_seccomp_to_string(guint seccomp);

/* capability names without "cap_", space-separated: "chown dac_override", or "none" */
gchar *cocoonctl_caps_to_string(guint64 caps);

/*
 * is the process confined as a jailed VMM is: no uid 0, no capability but the 9p four,
 * no_new_privs, a seccomp filter, mount and PID namespaces of its own. Otherwise what is missing,
 * comma-separated, in ret_missing.
 */
gboolean cocoonctl_confined(const CocoonctlProcStatus *status, gboolean own_mnt, gboolean own_pid,
			    gchar **ret_missing);

G_END_DECLS
