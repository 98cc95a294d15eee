/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoonctl"

#include "config.h"

#include "cocoonctl-confine.h"

#include <errno.h>
#include <stdlib.h>

#include <gio/gio.h>

/* linux/capability.h, numbers 0 .. 40 */
static const gchar *const capability_names[] = {
	"chown",
	"dac_override",
	"dac_read_search",
	"fowner",
	"fsetid",
	"kill",
	"setgid",
	"setuid",
	"setpcap",
	"linux_immutable",
	"net_bind_service",
	"net_broadcast",
	"net_admin",
	"net_raw",
	"ipc_lock",
	"ipc_owner",
	"sys_module",
	"sys_rawio",
	"sys_chroot",
	"sys_ptrace",
	"sys_pacct",
	"sys_admin",
	"sys_boot",
	"sys_nice",
	"sys_resource",
	"sys_time",
	"sys_tty_config",
	"mknod",
	"lease",
	"audit_write",
	"audit_control",
	"setfcap",
	"mac_override",
	"mac_admin",
	"syslog",
	"wake_alarm",
	"block_suspend",
	"audit_read",
	"perfmon",
	"bpf",
	"checkpoint_restore",
};

/* a whole decimal number of at most 10 digits, nothing else */
static gboolean
parse_id(const gchar *text, guint64 *ret_value)
{
	guint64 value = 0;
	gsize length = strlen(text);

	if (length == 0 || length > 10)
		return FALSE;
	for (const gchar *p = text; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p))
			return FALSE;
		value = value * 10 + (guint64)(*p - '0');
	}
	*ret_value = value;
	return TRUE;
}

/**
 * cocoonctl_id_ranges_overlap:
 *
 * Whether two ranges of ids given as base and count share an id; an empty range shares none.
 */
gboolean
cocoonctl_id_ranges_overlap(guint64 base_a, guint64 count_a, guint64 base_b, guint64 count_b)
{
	if (count_a == 0 || count_b == 0)
		return FALSE;
	return base_a < base_b + count_b && base_b < base_a + count_a;
}

/**
 * cocoonctl_id_file_overlaps:
 *
 * Counts the entries of a passwd/group or subuid/subgid file whose ids fall in the range
 * [base, base + count); the first of them is described in ret_first.
 */
guint
cocoonctl_id_file_overlaps(const gchar *contents, CocoonctlIdFile kind, guint32 base, guint32 count,
			   gchar **ret_first)
{
	g_auto(GStrv) lines = g_strsplit(contents != NULL ? contents : "", "\n", -1);
	g_autofree gchar *first = NULL;
	guint found = 0;

	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = NULL;
		guint64 start, length = 1;
		gchar *line = g_strstrip(lines[i]);

		if (line[0] == '\0' || line[0] == '#' || line[0] == '+' || line[0] == '-')
			continue;
		fields = g_strsplit(line, ":", -1);
		if (kind == COCOONCTL_ID_FILE_PASSWD) {
			if (g_strv_length(fields) < 3 || !parse_id(fields[2], &start))
				continue;
		} else if (g_strv_length(fields) != 3 || !parse_id(fields[1], &start) ||
			   !parse_id(fields[2], &length)) {
			continue;
		}
		if (!cocoonctl_id_ranges_overlap(base, count, start, length))
			continue;
		if (found++ == 0)
			first = g_strdup_printf("line %u (%s)", i + 1, line);
	}
	if (found > 0 && ret_first != NULL)
		*ret_first = g_steal_pointer(&first);
	return found;
}

/* "Name:\ta\tb..." of a status file: the values after the name, or NULL */
static gchar **
status_fields(gchar **lines, const gchar *name)
{
	gsize length = strlen(name);

	for (guint i = 0; lines[i] != NULL; i++) {
		if (strncmp(lines[i], name, length) == 0 && lines[i][length] == ':')
			return g_strsplit_set(g_strstrip(lines[i] + length + 1), " \t", -1);
	}
	return NULL;
}

static gboolean
status_ids(gchar **lines, const gchar *name, guint32 *ret_ids, GError **error)
{
	g_auto(GStrv) fields = status_fields(lines, name);
	guint32 ids[4];
	guint n = 0;

	for (guint i = 0; fields != NULL && fields[i] != NULL; i++) {
		guint64 value;
		if (fields[i][0] == '\0')
			continue;
		if (n == 4 || !parse_id(fields[i], &value) || value > G_MAXUINT32)
			break;
		ids[n++] = (guint32)value;
	}
	if (n != 4) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "no %s: line of four ids in the status", name);
		return FALSE;
	}
	memcpy(ret_ids, ids, sizeof(ids));
	return TRUE;
}

static gboolean
status_number(gchar **lines, const gchar *name, guint base, guint64 *ret_value, GError **error)
{
	g_auto(GStrv) fields = status_fields(lines, name);
	gchar *end = NULL;
	guint64 value;

	if (fields == NULL || fields[0] == NULL || fields[0][0] == '\0' || strlen(fields[0]) > 16 ||
	    !g_ascii_isxdigit(fields[0][0])) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "no %s: line in the status",
			    name);
		return FALSE;
	}
	errno = 0;
	value = g_ascii_strtoull(fields[0], &end, base);
	if (errno != 0 || *end != '\0') {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s is not a number",
			    name, fields[0]);
		return FALSE;
	}
	*ret_value = value;
	return TRUE;
}

/**
 * cocoonctl_proc_status_parse:
 *
 * Reads the Uid, Gid, CapEff, NoNewPrivs and Seccomp lines of a /proc/<pid>/status.
 */
gboolean
cocoonctl_proc_status_parse(const gchar *contents, CocoonctlProcStatus *ret_status, GError **error)
{
	g_auto(GStrv) lines = g_strsplit(contents, "\n", -1);
	CocoonctlProcStatus status = {0};
	guint64 no_new_privs, seccomp;

	if (!status_ids(lines, "Uid", status.uid, error) ||
	    !status_ids(lines, "Gid", status.gid, error) ||
	    !status_number(lines, "CapEff", 16, &status.cap_eff, error) ||
	    !status_number(lines, "NoNewPrivs", 10, &no_new_privs, error) ||
	    !status_number(lines, "Seccomp", 10, &seccomp, error))
		return FALSE;
	if (no_new_privs > 1 || seccomp > COCOONCTL_SECCOMP_FILTER) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "NoNewPrivs %" G_GUINT64_FORMAT " or Seccomp %" G_GUINT64_FORMAT
			    " out of range",
			    no_new_privs, seccomp);
		return FALSE;
	}
	status.no_new_privs = (guint)no_new_privs;
	status.seccomp = (guint)seccomp;
	*ret_status = status;
	return TRUE;
}

const gchar *
cocoonctl_seccomp_to_string(guint seccomp)
{
	switch (seccomp) {
	case COCOONCTL_SECCOMP_DISABLED:
		return "disabled";
	case COCOONCTL_SECCOMP_STRICT:
		return "strict";
	case COCOONCTL_SECCOMP_FILTER:
		return "filter";
	default:
		return "unknown";
	}
}

gchar *
cocoonctl_caps_to_string(guint64 caps)
{
	g_autoptr(GString) text = g_string_new(NULL);

	for (guint i = 0; i < 64; i++) {
		if ((caps & ((guint64)1 << i)) == 0)
			continue;
		if (text->len > 0)
			g_string_append_c(text, ' ');
		if (i < G_N_ELEMENTS(capability_names))
			g_string_append(text, capability_names[i]);
		else
			g_string_append_printf(text, "cap_%u", i);
	}
	if (text->len == 0)
		g_string_append(text, "none");
	return g_string_free(g_steal_pointer(&text), FALSE);
}

/**
 * cocoonctl_confined:
 *
 * Whether a process is confined as hypervisor.confine jails a VMM; what it lacks goes to
 * ret_missing otherwise.
 */
gboolean
cocoonctl_confined(const CocoonctlProcStatus *status, gboolean own_mnt, gboolean own_pid,
		   gchar **ret_missing)
{
	g_autoptr(GPtrArray) missing = g_ptr_array_new();

	for (guint i = 0; i < 4; i++) {
		if (status->uid[i] == 0 || status->gid[i] == 0) {
			g_ptr_array_add(missing, (gpointer) "runs as uid or gid 0");
			break;
		}
	}
	if ((status->cap_eff & ~(guint64)COCOONCTL_CAPS_9P) != 0)
		g_ptr_array_add(missing, (gpointer) "capabilities beyond the 9p four");
	if (status->no_new_privs != 1)
		g_ptr_array_add(missing, (gpointer) "no no_new_privs");
	if (status->seccomp != COCOONCTL_SECCOMP_FILTER)
		g_ptr_array_add(missing, (gpointer) "no seccomp filter");
	if (!own_mnt)
		g_ptr_array_add(missing, (gpointer) "cocoonctl's mount namespace");
	if (!own_pid)
		g_ptr_array_add(missing, (gpointer) "cocoonctl's PID namespace");
	if (missing->len == 0)
		return TRUE;
	if (ret_missing != NULL) {
		g_ptr_array_add(missing, NULL);
		*ret_missing = g_strjoinv(", ", (gchar **)missing->pdata);
	}
	return FALSE;
}
