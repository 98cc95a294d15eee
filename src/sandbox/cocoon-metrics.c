/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-metrics"

#include "config.h"

#include "cocoon-metrics.h"

#include <linux/magic.h>
#include <stdlib.h>
#include <sys/vfs.h>

CocoonCgroupMode
cocoon_host_cgroup_mode(void)
{
	struct statfs fs;
	if (statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
		return COCOON_CGROUP_MODE_V2;
	return COCOON_CGROUP_MODE_V1;
}

/* one allocation block for the v1 tree: every sub-message lives in it */
typedef struct {
	Io__Containerd__Cgroups__V1__Metrics metrics;
	Io__Containerd__Cgroups__V1__PidsStat pids;
	Io__Containerd__Cgroups__V1__CPUStat cpu;
	Io__Containerd__Cgroups__V1__CPUUsage cpu_usage;
	Io__Containerd__Cgroups__V1__Throttle throttle;
	Io__Containerd__Cgroups__V1__MemoryStat memory;
	Io__Containerd__Cgroups__V1__MemoryEntry memory_usage;
	Io__Containerd__Cgroups__V1__MemoryEntry memory_swap;
	Io__Containerd__Cgroups__V1__MemoryEntry memory_kernel;
	Io__Containerd__Cgroups__V1__MemoryOomControl oom;
	Io__Containerd__Cgroups__V1__BlkIOStat blkio;
	Io__Containerd__Cgroups__V1__BlkIOEntry *entries;
	Io__Containerd__Cgroups__V1__BlkIOEntry **bytes;
	Io__Containerd__Cgroups__V1__BlkIOEntry **ios;
} MetricsV1Block;

Io__Containerd__Cgroups__V1__Metrics *
cocoon_metrics_v2_to_v1(const Io__Containerd__Cgroups__V2__Metrics *in)
{
	MetricsV1Block *b = g_new0(MetricsV1Block, 1);
	const Io__Containerd__Cgroups__V2__MemoryStat *mem = in->memory;
	const Io__Containerd__Cgroups__V2__CPUStat *cpu = in->cpu;
	gsize n_io = in->io != NULL ? in->io->n_usage : 0;

	io__containerd__cgroups__v1__metrics__init(&b->metrics);
	io__containerd__cgroups__v1__pids_stat__init(&b->pids);
	io__containerd__cgroups__v1__cpustat__init(&b->cpu);
	io__containerd__cgroups__v1__cpuusage__init(&b->cpu_usage);
	io__containerd__cgroups__v1__throttle__init(&b->throttle);
	io__containerd__cgroups__v1__memory_stat__init(&b->memory);
	io__containerd__cgroups__v1__memory_entry__init(&b->memory_usage);
	io__containerd__cgroups__v1__memory_entry__init(&b->memory_swap);
	io__containerd__cgroups__v1__memory_entry__init(&b->memory_kernel);
	io__containerd__cgroups__v1__memory_oom_control__init(&b->oom);
	io__containerd__cgroups__v1__blk_iostat__init(&b->blkio);

	if (in->pids != NULL) {
		b->pids.current = in->pids->current;
		b->pids.limit = in->pids->limit;
	}
	b->metrics.pids = &b->pids;

	if (cpu != NULL) {
		b->cpu_usage.total = cpu->usage_usec * 1000;
		b->cpu_usage.user = cpu->user_usec * 1000;
		b->cpu_usage.kernel = cpu->system_usec * 1000;
		b->throttle.periods = cpu->nr_periods;
		b->throttle.throttled_periods = cpu->nr_throttled;
		b->throttle.throttled_time = cpu->throttled_usec * 1000;
	}
	b->cpu.usage = &b->cpu_usage;
	b->cpu.throttling = &b->throttle;
	b->metrics.cpu = &b->cpu;

	if (mem != NULL) {
		b->memory.cache = mem->file;
		b->memory.rss = mem->anon;
		b->memory.rss_huge = mem->anon_thp;
		b->memory.mapped_file = mem->file_mapped;
		b->memory.dirty = mem->file_dirty;
		b->memory.writeback = mem->file_writeback;
		b->memory.pg_fault = mem->pgfault;
		b->memory.pg_maj_fault = mem->pgmajfault;
		b->memory.inactive_anon = mem->inactive_anon;
		b->memory.active_anon = mem->active_anon;
		b->memory.inactive_file = mem->inactive_file;
		b->memory.active_file = mem->active_file;
		b->memory.unevictable = mem->unevictable;
		b->memory.hierarchical_memory_limit = mem->usage_limit;
		b->memory.hierarchical_swap_limit = mem->swap_limit;
		b->memory.total_cache = mem->file;
		b->memory.total_rss = mem->anon;
		b->memory.total_rss_huge = mem->anon_thp;
		b->memory.total_mapped_file = mem->file_mapped;
		b->memory.total_dirty = mem->file_dirty;
		b->memory.total_writeback = mem->file_writeback;
		b->memory.total_pg_fault = mem->pgfault;
		b->memory.total_pg_maj_fault = mem->pgmajfault;
		b->memory.total_inactive_anon = mem->inactive_anon;
		b->memory.total_active_anon = mem->active_anon;
		b->memory.total_inactive_file = mem->inactive_file;
		b->memory.total_active_file = mem->active_file;
		b->memory.total_unevictable = mem->unevictable;
		b->memory_usage.usage = mem->usage;
		b->memory_usage.limit = mem->usage_limit;
		b->memory_usage.max = mem->max_usage;
		b->memory_swap.usage = mem->swap_usage;
		b->memory_swap.limit = mem->swap_limit;
		b->memory_swap.max = mem->swap_max_usage;
		b->memory_kernel.usage = mem->kernel_stack + mem->slab;
	}
	if (in->memory_events != NULL) {
		b->memory_usage.failcnt = in->memory_events->max;
		b->oom.oom_kill = in->memory_events->oom_kill;
		b->metrics.memory_oom_control = &b->oom;
	}
	b->memory.usage = &b->memory_usage;
	b->memory.swap = &b->memory_swap;
	b->memory.kernel = &b->memory_kernel;
	b->metrics.memory = &b->memory;

	/* io.stat rbytes/wbytes/rios/wios become blkio's Read/Write entries */
	b->entries = g_new0(Io__Containerd__Cgroups__V1__BlkIOEntry, n_io * 4 + 1);
	b->bytes = g_new0(Io__Containerd__Cgroups__V1__BlkIOEntry *, n_io * 2 + 1);
	b->ios = g_new0(Io__Containerd__Cgroups__V1__BlkIOEntry *, n_io * 2 + 1);
	for (gsize i = 0; i < n_io; i++) {
		const Io__Containerd__Cgroups__V2__IOEntry *e = in->io->usage[i];
		guint64 values[4] = {e->rbytes, e->wbytes, e->rios, e->wios};
		for (guint k = 0; k < 4; k++) {
			Io__Containerd__Cgroups__V1__BlkIOEntry *entry = &b->entries[i * 4 + k];
			io__containerd__cgroups__v1__blk_ioentry__init(entry);
			entry->op = (gchar *)((k % 2 == 0) ? "Read" : "Write");
			entry->major = e->major;
			entry->minor = e->minor;
			entry->value = values[k];
			if (k < 2)
				b->bytes[i * 2 + k] = entry;
			else
				b->ios[i * 2 + k - 2] = entry;
		}
	}
	b->blkio.n_io_service_bytes_recursive = n_io * 2;
	b->blkio.io_service_bytes_recursive = b->bytes;
	b->blkio.n_io_serviced_recursive = n_io * 2;
	b->blkio.io_serviced_recursive = b->ios;
	b->metrics.blkio = &b->blkio;
	return &b->metrics;
}

void
cocoon_metrics_v1_free(Io__Containerd__Cgroups__V1__Metrics *metrics)
{
	MetricsV1Block *b = (MetricsV1Block *)metrics;
	if (b == NULL)
		return;
	g_free(b->entries);
	g_free(b->bytes);
	g_free(b->ios);
	g_free(b);
}

static GBytes *
pack(const ProtobufCMessage *message)
{
	gsize size = protobuf_c_message_get_packed_size(message);
	guint8 *buf = g_malloc(size + 1);
	protobuf_c_message_pack(message, buf);
	return g_bytes_new_take(buf, size);
}

static void
drop_unknown_fields(ProtobufCMessage *message)
{
	const ProtobufCMessageDescriptor *descriptor = message->descriptor;

	for (unsigned i = 0; i < message->n_unknown_fields; i++)
		free(message->unknown_fields[i].data);
	free(message->unknown_fields);
	message->unknown_fields = NULL;
	message->n_unknown_fields = 0;
	for (unsigned i = 0; i < descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
		guint8 *member = (guint8 *)message + field->offset;

		if (field->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (field->label == PROTOBUF_C_LABEL_REPEATED) {
			gsize count = *(gsize *)((guint8 *)message + field->quantifier_offset);
			ProtobufCMessage **items = *(ProtobufCMessage ***)member;
			for (gsize j = 0; j < count; j++)
				if (items[j] != NULL)
					drop_unknown_fields(items[j]);
		} else if (*(ProtobufCMessage **)member != NULL) {
			drop_unknown_fields(*(ProtobufCMessage **)member);
		}
	}
}

void
cocoon_metrics_drop_unknown_fields(Io__Containerd__Cgroups__V2__Metrics *metrics)
{
	if (metrics != NULL)
		drop_unknown_fields((ProtobufCMessage *)metrics);
}

const gchar *
cocoon_metrics_pack(const Io__Containerd__Cgroups__V2__Metrics *metrics, CocoonCgroupMode mode,
		    GBytes **ret_value)
{
	if (mode == COCOON_CGROUP_MODE_V2) {
		*ret_value = pack((const ProtobufCMessage *)metrics);
		return "io.containerd.cgroups.v2.Metrics";
	} else {
		Io__Containerd__Cgroups__V1__Metrics *v1 = cocoon_metrics_v2_to_v1(metrics);
		*ret_value = pack((const ProtobufCMessage *)v1);
		cocoon_metrics_v1_free(v1);
		return "io.containerd.cgroups.v1.Metrics";
	}
}
