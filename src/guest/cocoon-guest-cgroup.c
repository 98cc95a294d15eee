/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"

#define SMALL_FILE_MAX (1u << 20)
/* io.stat lines kept (one per block device) */
#define IO_ENTRIES_MAX 256

struct _CocoonGuestCgroupMetrics {
	Io__Containerd__Cgroups__V2__Metrics metrics;
	Io__Containerd__Cgroups__V2__PidsStat pids;
	Io__Containerd__Cgroups__V2__CPUStat cpu;
	Io__Containerd__Cgroups__V2__MemoryStat memory;
	Io__Containerd__Cgroups__V2__MemoryEvents memory_events;
	Io__Containerd__Cgroups__V2__IOStat io;
	/* some + full for cpu, memory, io */
	Io__Containerd__Cgroups__V2__PSIStats psi[3];
	Io__Containerd__Cgroups__V2__PSIData psi_data[6];
	GPtrArray *io_entries; /* Io__Containerd__Cgroups__V2__IOEntry, g_free */
};

typedef struct {
	const gchar *key;
	gsize offset;
} KeyField;

/* clang-format off */
#define MEMORY_FIELD(name) { #name, offsetof(Io__Containerd__Cgroups__V2__MemoryStat, name) }
static const KeyField memory_stat_fields[] = {
	MEMORY_FIELD(anon),
	MEMORY_FIELD(file),
	MEMORY_FIELD(kernel_stack),
	MEMORY_FIELD(slab),
	MEMORY_FIELD(sock),
	MEMORY_FIELD(shmem),
	MEMORY_FIELD(file_mapped),
	MEMORY_FIELD(file_dirty),
	MEMORY_FIELD(file_writeback),
	MEMORY_FIELD(anon_thp),
	MEMORY_FIELD(inactive_anon),
	MEMORY_FIELD(active_anon),
	MEMORY_FIELD(inactive_file),
	MEMORY_FIELD(active_file),
	MEMORY_FIELD(unevictable),
	MEMORY_FIELD(slab_reclaimable),
	MEMORY_FIELD(slab_unreclaimable),
	MEMORY_FIELD(pgfault),
	MEMORY_FIELD(pgmajfault),
	MEMORY_FIELD(workingset_refault),
	MEMORY_FIELD(workingset_activate),
	MEMORY_FIELD(workingset_nodereclaim),
	MEMORY_FIELD(pgrefill),
	MEMORY_FIELD(pgscan),
	MEMORY_FIELD(pgsteal),
	MEMORY_FIELD(pgactivate),
	MEMORY_FIELD(pgdeactivate),
	MEMORY_FIELD(pglazyfree),
	MEMORY_FIELD(pglazyfreed),
	MEMORY_FIELD(thp_fault_alloc),
	MEMORY_FIELD(thp_collapse_alloc),
	MEMORY_FIELD(workingset_refault_anon),
	MEMORY_FIELD(workingset_refault_file),
	MEMORY_FIELD(workingset_activate_anon),
	MEMORY_FIELD(workingset_activate_file),
	{ NULL, 0 },
};

#define CPU_FIELD(name) { #name, offsetof(Io__Containerd__Cgroups__V2__CPUStat, name) }
static const KeyField cpu_stat_fields[] = {
	CPU_FIELD(usage_usec),
	CPU_FIELD(user_usec),
	CPU_FIELD(system_usec),
	CPU_FIELD(nr_periods),
	CPU_FIELD(nr_throttled),
	CPU_FIELD(throttled_usec),
	CPU_FIELD(nr_bursts),
	CPU_FIELD(burst_usec),
	{ NULL, 0 },
};

#define EVENTS_FIELD(name) { #name, offsetof(Io__Containerd__Cgroups__V2__MemoryEvents, name) }
static const KeyField memory_events_fields[] = {
	EVENTS_FIELD(low),
	EVENTS_FIELD(high),
	EVENTS_FIELD(max),
	EVENTS_FIELD(oom),
	EVENTS_FIELD(oom_kill),
	EVENTS_FIELD(oom_group_kill),
	{ NULL, 0 },
};
#define IO_FIELD(name) { #name, offsetof(Io__Containerd__Cgroups__V2__IOEntry, name) }
static const KeyField io_entry_fields[] = {
	IO_FIELD(rbytes),
	IO_FIELD(wbytes),
	IO_FIELD(rios),
	IO_FIELD(wios),
	{ NULL, 0 },
};
/* clang-format on */

/**
 * cocoon_guest_read_small_file:
 *
 * reads a whole pseudo file (their st_size is not to be trusted)
 */
gchar *
cocoon_guest_read_small_file(const gchar *path, GError **error)
{
	cocoon_autofd int fd = open(path, O_RDONLY | O_CLOEXEC);
	g_autoptr(GString) contents = NULL;
	gchar buf[4096];

	if (fd < 0) {
		cocoon_set_error_from_errno(error, "%s", path);
		return NULL;
	}
	contents = g_string_new(NULL);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cocoon_set_error_from_errno(error, "%s", path);
			return NULL;
		}
		if (n == 0)
			break;
		if (contents->len + (gsize)n > SMALL_FILE_MAX) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "%s: larger than %u bytes", path, SMALL_FILE_MAX);
			return NULL;
		}
		g_string_append_len(contents, buf, n);
	}
	return g_string_free(g_steal_pointer(&contents), FALSE);
}

static gboolean
write_small_file(const gchar *path, const gchar *value, GError **error)
{
	cocoon_autofd int fd = open(path, O_WRONLY | O_CLOEXEC);
	gsize length = strlen(value);
	ssize_t n;

	if (fd >= 0) {
		do
			n = write(fd, value, length);
		while (n < 0 && errno == EINTR);
		if (n == (ssize_t)length)
			return TRUE;
	}
	{
		cocoon_set_error_from_errno(error, "write \"%s\" to %s", value, path);
	}
	return FALSE;
}

static gboolean
parse_u64(const gchar *text, guint64 *ret_value)
{
	gchar *end = NULL;
	guint64 value;

	if (text == NULL || !g_ascii_isdigit(text[0]))
		return FALSE;
	errno = 0;
	value = g_ascii_strtoull(text, &end, 10);
	if (errno != 0 || end == text)
		return FALSE;
	*ret_value = value;
	return TRUE;
}

/* a single-value file: a number or "max"; FALSE when missing or unreadable */
static gboolean
read_single(const gchar *dir, const gchar *file, guint64 max_value, guint64 *ret_value)
{
	g_autofree gchar *path = g_build_filename(dir, file, NULL);
	g_autofree gchar *contents = cocoon_guest_read_small_file(path, NULL);

	if (contents == NULL)
		return FALSE;
	g_strstrip(contents);
	if (g_strcmp0(contents, "max") == 0) {
		*ret_value = max_value;
		return TRUE;
	}
	return parse_u64(contents, ret_value);
}

/* the field of a message struct named key, if there is one */
static void
set_field(const KeyField *fields, const gchar *key, guint64 value, gpointer message)
{
	for (guint i = 0; fields[i].key != NULL; i++) {
		if (g_strcmp0(fields[i].key, key) == 0) {
			*(guint64 *)((guint8 *)message + fields[i].offset) = value;
			return;
		}
	}
}

/* "key value" lines into the fields of a message struct */
static void
parse_flat_keyed(const gchar *contents, const KeyField *fields, gpointer message)
{
	g_auto(GStrv) lines = g_strsplit(contents, "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) words = g_strsplit_set(lines[i], " \t", 3);
		guint64 value;

		if (words[0] == NULL || words[1] == NULL || !parse_u64(words[1], &value))
			continue;
		set_field(fields, words[0], value, message);
	}
}

static void
read_flat_keyed(const gchar *dir, const gchar *file, const KeyField *fields, gpointer message)
{
	g_autofree gchar *path = g_build_filename(dir, file, NULL);
	g_autofree gchar *contents = cocoon_guest_read_small_file(path, NULL);

	if (contents != NULL)
		parse_flat_keyed(contents, fields, message);
}

/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" / "full ..." */
static gboolean
read_psi(const gchar *dir, const gchar *file, Io__Containerd__Cgroups__V2__PSIStats *psi,
	 Io__Containerd__Cgroups__V2__PSIData *some, Io__Containerd__Cgroups__V2__PSIData *full)
{
	g_autofree gchar *path = g_build_filename(dir, file, NULL);
	g_autofree gchar *contents = cocoon_guest_read_small_file(path, NULL);
	g_auto(GStrv) lines = NULL;

	if (contents == NULL)
		return FALSE;
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) words = g_strsplit(lines[i], " ", -1);
		Io__Containerd__Cgroups__V2__PSIData *data;

		if (words[0] == NULL)
			continue;
		if (g_strcmp0(words[0], "some") == 0)
			data = some;
		else if (g_strcmp0(words[0], "full") == 0)
			data = full;
		else
			continue;
		for (guint j = 1; words[j] != NULL; j++) {
			const gchar *value = strchr(words[j], '=');
			if (value == NULL)
				continue;
			value++;
			if (g_str_has_prefix(words[j], "avg10="))
				data->avg10 = g_ascii_strtod(value, NULL);
			else if (g_str_has_prefix(words[j], "avg60="))
				data->avg60 = g_ascii_strtod(value, NULL);
			else if (g_str_has_prefix(words[j], "avg300="))
				data->avg300 = g_ascii_strtod(value, NULL);
			else if (g_str_has_prefix(words[j], "total="))
				parse_u64(value, &data->total);
		}
		if (data == some)
			psi->some = some;
		else
			psi->full = full;
	}
	return TRUE;
}

/* "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device */
static void
read_io_stat(CocoonGuestCgroupMetrics *self, const gchar *dir)
{
	g_autofree gchar *path = g_build_filename(dir, "io.stat", NULL);
	g_autofree gchar *contents = cocoon_guest_read_small_file(path, NULL);
	g_auto(GStrv) lines = NULL;

	if (contents == NULL)
		return;
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL && self->io_entries->len < IO_ENTRIES_MAX; i++) {
		g_auto(GStrv) words = g_strsplit(lines[i], " ", -1);
		Io__Containerd__Cgroups__V2__IOEntry *entry;
		guint major, minor;

		if (words[0] == NULL || sscanf(words[0], "%u:%u", &major, &minor) != 2)
			continue;
		entry = g_new0(Io__Containerd__Cgroups__V2__IOEntry, 1);
		io__containerd__cgroups__v2__ioentry__init(entry);
		entry->major = major;
		entry->minor = minor;
		for (guint j = 1; words[j] != NULL; j++) {
			gchar *equals = strchr(words[j], '=');
			guint64 value;

			if (equals == NULL || !parse_u64(equals + 1, &value))
				continue;
			*equals = '\0';
			set_field(io_entry_fields, words[j], value, entry);
		}
		g_ptr_array_add(self->io_entries, entry);
	}
}

/**
 * cocoon_guest_cgroup_metrics_read:
 *
 * the stats of one cgroup (fails only when dir itself is not there)
 */
CocoonGuestCgroupMetrics *
cocoon_guest_cgroup_metrics_read(const gchar *dir, GError **error)
{
	g_autoptr(CocoonGuestCgroupMetrics) self = g_new0(CocoonGuestCgroupMetrics, 1);
	g_autofree gchar *procs = g_build_filename(dir, "cgroup.procs", NULL);

	if (access(procs, F_OK) < 0) {
		cocoon_set_error_from_errno(error, "cgroup %s", dir);
		return NULL;
	}
	io__containerd__cgroups__v2__metrics__init(&self->metrics);
	io__containerd__cgroups__v2__pids_stat__init(&self->pids);
	io__containerd__cgroups__v2__cpustat__init(&self->cpu);
	io__containerd__cgroups__v2__memory_stat__init(&self->memory);
	io__containerd__cgroups__v2__memory_events__init(&self->memory_events);
	io__containerd__cgroups__v2__iostat__init(&self->io);
	for (guint i = 0; i < G_N_ELEMENTS(self->psi); i++)
		io__containerd__cgroups__v2__psistats__init(&self->psi[i]);
	for (guint i = 0; i < G_N_ELEMENTS(self->psi_data); i++)
		io__containerd__cgroups__v2__psidata__init(&self->psi_data[i]);
	self->io_entries = g_ptr_array_new_with_free_func(g_free);

	/* pids.max "max" is no limit: containerd reports 0 */
	read_single(dir, "pids.current", 0, &self->pids.current);
	read_single(dir, "pids.max", 0, &self->pids.limit);
	self->metrics.pids = &self->pids;

	read_flat_keyed(dir, "cpu.stat", cpu_stat_fields, &self->cpu);
	if (read_psi(dir, "cpu.pressure", &self->psi[0], &self->psi_data[0], &self->psi_data[1]))
		self->cpu.psi = &self->psi[0];
	self->metrics.cpu = &self->cpu;

	read_flat_keyed(dir, "memory.stat", memory_stat_fields, &self->memory);
	read_single(dir, "memory.current", G_MAXUINT64, &self->memory.usage);
	read_single(dir, "memory.max", G_MAXUINT64, &self->memory.usage_limit);
	read_single(dir, "memory.swap.current", G_MAXUINT64, &self->memory.swap_usage);
	read_single(dir, "memory.swap.max", G_MAXUINT64, &self->memory.swap_limit);
	read_single(dir, "memory.peak", G_MAXUINT64, &self->memory.max_usage);
	read_single(dir, "memory.swap.peak", G_MAXUINT64, &self->memory.swap_max_usage);
	if (read_psi(dir, "memory.pressure", &self->psi[1], &self->psi_data[2], &self->psi_data[3]))
		self->memory.psi = &self->psi[1];
	self->metrics.memory = &self->memory;

	read_flat_keyed(dir, "memory.events", memory_events_fields, &self->memory_events);
	self->metrics.memory_events = &self->memory_events;

	read_io_stat(self, dir);
	self->io.n_usage = self->io_entries->len;
	self->io.usage = (Io__Containerd__Cgroups__V2__IOEntry **)self->io_entries->pdata;
	if (read_psi(dir, "io.pressure", &self->psi[2], &self->psi_data[4], &self->psi_data[5]))
		self->io.psi = &self->psi[2];
	self->metrics.io = &self->io;

	return g_steal_pointer(&self);
}

const Io__Containerd__Cgroups__V2__Metrics *
cocoon_guest_cgroup_metrics_get(const CocoonGuestCgroupMetrics *metrics)
{
	return &metrics->metrics;
}

void
cocoon_guest_cgroup_metrics_free(CocoonGuestCgroupMetrics *metrics)
{
	if (metrics == NULL)
		return;
	if (metrics->io_entries != NULL)
		g_ptr_array_unref(metrics->io_entries);
	g_free(metrics);
}

/**
 * cocoon_guest_cgroup_read_key:
 *
 * one counter of a flat-keyed file such as memory.events
 */
gboolean
cocoon_guest_cgroup_read_key(const gchar *dir, const gchar *file, const gchar *key,
			     guint64 *ret_value, GError **error)
{
	g_autofree gchar *path = g_build_filename(dir, file, NULL);
	g_autofree gchar *contents = cocoon_guest_read_small_file(path, error);
	const KeyField fields[] = {{key, 0}, {NULL, 0}};
	guint64 value = G_MAXUINT64;

	if (contents == NULL)
		return FALSE;
	parse_flat_keyed(contents, fields, &value);
	if (value == G_MAXUINT64) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s has no %s", path, key);
		return FALSE;
	}
	*ret_value = value;
	return TRUE;
}

/**
 * cocoon_guest_cgroup_read_procs:
 *
 * the pids of cgroup.procs, in file order
 */
GArray *
cocoon_guest_cgroup_read_procs(const gchar *dir, GError **error)
{
	g_autofree gchar *path = g_build_filename(dir, "cgroup.procs", NULL);
	g_autofree gchar *contents = cocoon_guest_read_small_file(path, error);
	g_autoptr(GArray) pids = NULL;
	g_auto(GStrv) lines = NULL;

	if (contents == NULL)
		return NULL;
	pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		guint64 value;
		pid_t pid;

		if (!parse_u64(lines[i], &value) || value == 0 || value > G_MAXINT32)
			continue;
		pid = (pid_t)value;
		g_array_append_val(pids, pid);
	}
	return g_steal_pointer(&pids);
}

/**
 * cocoon_guest_cgroup_count_tasks:
 *
 * the cgroup's live tasks (lines of cgroup.threads, which like cgroup.procs leaves out exiting and
 * unreaped ones) and the tasks it is charged for (pids.current, which counts those too)
 */
gboolean
cocoon_guest_cgroup_count_tasks(const gchar *dir, guint64 *ret_live, guint64 *ret_charged,
				GError **error)
{
	g_autofree gchar *threads_path = g_build_filename(dir, "cgroup.threads", NULL);
	g_autofree gchar *current_path = g_build_filename(dir, "pids.current", NULL);
	g_autofree gchar *threads = cocoon_guest_read_small_file(threads_path, error);
	g_autofree gchar *current = NULL;
	guint64 live = 0;
	guint64 charged;

	if (threads == NULL)
		return FALSE;
	current = cocoon_guest_read_small_file(current_path, error);
	if (current == NULL)
		return FALSE;
	if (!parse_u64(g_strstrip(current), &charged)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a number",
			    current_path);
		return FALSE;
	}
	for (const gchar *p = threads; *p != '\0'; p++) {
		if (*p == '\n')
			live++;
	}
	*ret_live = live;
	*ret_charged = charged;
	return TRUE;
}

/**
 * cocoon_guest_cgroup_freeze:
 *
 * cgroup.freeze; the kernel completes the freeze asynchronously
 */
gboolean
cocoon_guest_cgroup_freeze(const gchar *dir, gboolean frozen, GError **error)
{
	g_autofree gchar *path = g_build_filename(dir, "cgroup.freeze", NULL);

	return write_small_file(path, frozen ? "1" : "0", error);
}

/**
 * cocoon_guest_cgroup_signal:
 *
 * signals every process of the cgroup (and of its descendants for SIGKILL via cgroup.kill)
 */
gboolean
cocoon_guest_cgroup_signal(const gchar *dir, int signal_number, GError **error)
{
	g_autoptr(GArray) pids = NULL;

	if (signal_number == SIGKILL) {
		g_autofree gchar *kill_path = g_build_filename(dir, "cgroup.kill", NULL);
		if (write_small_file(kill_path, "1", NULL))
			return TRUE;
	}
	pids = cocoon_guest_cgroup_read_procs(dir, error);
	if (pids == NULL)
		return FALSE;
	for (guint i = 0; i < pids->len; i++) {
		pid_t pid = g_array_index(pids, pid_t, i);
		if (kill(pid, signal_number) < 0 && errno != ESRCH)
			g_debug("kill %d %d: %s", (int)pid, signal_number, g_strerror(errno));
	}
	return TRUE;
}

/**
 * cocoon_guest_cgroup_enable_controllers:
 *
 * best effort: a controller the kernel lacks is skipped
 */
void
cocoon_guest_cgroup_enable_controllers(const gchar *root, const gchar *const *names)
{
	g_autofree gchar *controllers_path = g_build_filename(root, "cgroup.controllers", NULL);
	g_autofree gchar *subtree_path = g_build_filename(root, "cgroup.subtree_control", NULL);
	g_autofree gchar *available = cocoon_guest_read_small_file(controllers_path, NULL);
	g_auto(GStrv) offered = NULL;

	if (available == NULL)
		return;
	offered = g_strsplit_set(g_strstrip(available), " \n", -1);
	for (guint i = 0; names[i] != NULL; i++) {
		g_autofree gchar *value = g_strdup_printf("+%s", names[i]);
		g_autoptr(GError) error = NULL;

		if (!g_strv_contains((const gchar *const *)offered, names[i]))
			continue;
		if (!write_small_file(subtree_path, value, &error))
			g_warning("cgroup controller %s: %s", names[i], error->message);
	}
}
