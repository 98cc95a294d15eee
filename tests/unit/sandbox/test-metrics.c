/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "cocoon-metrics.h"

static void
test_metrics_v2_to_v1(void)
{
	Io__Containerd__Cgroups__V2__Metrics in = IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
	Io__Containerd__Cgroups__V2__MemoryStat mem =
		IO__CONTAINERD__CGROUPS__V2__MEMORY_STAT__INIT;
	Io__Containerd__Cgroups__V2__CPUStat cpu = IO__CONTAINERD__CGROUPS__V2__CPUSTAT__INIT;
	Io__Containerd__Cgroups__V2__MemoryEvents events =
		IO__CONTAINERD__CGROUPS__V2__MEMORY_EVENTS__INIT;
	Io__Containerd__Cgroups__V2__IOStat io = IO__CONTAINERD__CGROUPS__V2__IOSTAT__INIT;
	Io__Containerd__Cgroups__V2__IOEntry entry = IO__CONTAINERD__CGROUPS__V2__IOENTRY__INIT;
	Io__Containerd__Cgroups__V2__IOEntry *entries[] = {&entry};
	Io__Containerd__Cgroups__V1__Metrics *out;
	Io__Containerd__Cgroups__V1__Metrics *decoded;
	g_autoptr(GBytes) value = NULL;
	const gchar *type;
	gsize size;
	const guint8 *data;

	mem.usage = 4096 * 10;
	mem.usage_limit = 64 << 20;
	mem.anon = 8192;
	mem.file = 4096;
	cpu.usage_usec = 1500;
	cpu.user_usec = 1000;
	cpu.system_usec = 500;
	events.oom_kill = 2;
	entry.major = 254;
	entry.minor = 1;
	entry.rbytes = 100;
	entry.wbytes = 200;
	io.n_usage = 1;
	io.usage = entries;
	in.memory = &mem;
	in.cpu = &cpu;
	in.memory_events = &events;
	in.io = &io;

	out = cocoon_metrics_v2_to_v1(&in);
	g_assert_nonnull(out->memory->usage);
	g_assert_cmpuint(out->memory->usage->usage, ==, 40960);
	g_assert_cmpuint(out->memory->usage->limit, ==, 64 << 20);
	g_assert_cmpuint(out->memory->rss, ==, 8192);
	g_assert_cmpuint(out->memory->cache, ==, 4096);
	g_assert_nonnull(out->cpu->usage);
	g_assert_cmpuint(out->cpu->usage->total, ==, 1500000);
	g_assert_cmpuint(out->cpu->usage->kernel, ==, 500000);
	g_assert_cmpuint(out->memory_oom_control->oom_kill, ==, 2);
	g_assert_cmpuint(out->blkio->n_io_service_bytes_recursive, ==, 2);
	g_assert_cmpstr(out->blkio->io_service_bytes_recursive[1]->op, ==, "Write");
	g_assert_cmpuint(out->blkio->io_service_bytes_recursive[1]->value, ==, 200);
	cocoon_metrics_v1_free(out);

	/* what containerd receives decodes, and the fields ctr dereferences are there */
	type = cocoon_metrics_pack(&in, COCOON_CGROUP_MODE_V1, &value);
	g_assert_cmpstr(type, ==, "io.containerd.cgroups.v1.Metrics");
	data = g_bytes_get_data(value, &size);
	decoded = io__containerd__cgroups__v1__metrics__unpack(NULL, size, data);
	g_assert_nonnull(decoded);
	g_assert_nonnull(decoded->memory->usage);
	g_assert_nonnull(decoded->cpu->usage);
	g_assert_cmpuint(decoded->memory->usage->usage, ==, 40960);
	io__containerd__cgroups__v1__metrics__free_unpacked(decoded, NULL);
	g_clear_pointer(&value, g_bytes_unref);

	type = cocoon_metrics_pack(&in, COCOON_CGROUP_MODE_V2, &value);
	g_assert_cmpstr(type, ==, "io.containerd.cgroups.v2.Metrics");
}

static void
test_metrics_empty(void)
{
	Io__Containerd__Cgroups__V2__Metrics in = IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
	Io__Containerd__Cgroups__V1__Metrics *out = cocoon_metrics_v2_to_v1(&in);
	/* never a NULL where ctr dereferences */
	g_assert_nonnull(out->memory);
	g_assert_nonnull(out->memory->usage);
	g_assert_nonnull(out->cpu);
	g_assert_nonnull(out->cpu->usage);
	cocoon_metrics_v1_free(out);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/metrics/v2-to-v1", test_metrics_v2_to_v1);
	g_test_add_func("/metrics/empty", test_metrics_empty);
	return g_test_run();
}
