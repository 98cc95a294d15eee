/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-pod-sizing.h"

#include <gio/gio.h>

#define SANDBOX_CPU_QUOTA    "io.kubernetes.cri.sandbox-cpu-quota"
#define SANDBOX_CPU_PERIOD   "io.kubernetes.cri.sandbox-cpu-period"
#define SANDBOX_MEMORY_LIMIT "io.kubernetes.cri.sandbox-memory-limit"

/* an annotation's integer; FALSE when it is absent, not an integer or not positive */
static gboolean
annotation_int64(CocoonJson *annotations, const gchar *name, gint64 *ret_value)
{
	const gchar *text = cocoon_json_object_get_string_member(annotations, name);

	return text != NULL && g_ascii_string_to_signed(text, 10, 1, G_MAXINT64, ret_value, NULL);
}

/* the ask: quota and period (0 = none) and the memory limit in bytes (0 = none) */
static void
spec_ask(CocoonJson *spec, gint64 *ret_quota, guint64 *ret_period, gint64 *ret_memory)
{
	CocoonJson *annotations = cocoon_json_object_get(spec, "annotations");
	CocoonJson *resources = cocoon_json_path_get(spec, "linux", "resources", NULL);
	CocoonJson *cpu = NULL;
	CocoonJson *memory = NULL;
	gint64 value;

	*ret_quota = 0;
	*ret_period = 0;
	*ret_memory = 0;
	if (cocoon_json_is_object(annotations)) {
		if (annotation_int64(annotations, SANDBOX_CPU_QUOTA, ret_quota) &&
		    annotation_int64(annotations, SANDBOX_CPU_PERIOD, &value))
			*ret_period = (guint64)value;
		(void)annotation_int64(annotations, SANDBOX_MEMORY_LIMIT, ret_memory);
		if (*ret_period > 0 || *ret_memory > 0)
			return;
		*ret_quota = 0;
	}
	if (!cocoon_json_is_object(resources))
		return;
	cpu = cocoon_json_object_get_object_member(resources, "cpu");
	memory = cocoon_json_object_get_object_member(resources, "memory");
	if (cpu != NULL && cocoon_json_object_get_int64_member(cpu, "quota", ret_quota, NULL) &&
	    *ret_quota > 0)
		(void)cocoon_json_object_get_uint64_member(cpu, "period", ret_period, NULL);
	if (*ret_period == 0)
		*ret_quota = 0;
	if (memory != NULL &&
	    (!cocoon_json_object_get_int64_member(memory, "limit", ret_memory, NULL) ||
	     *ret_memory < 0))
		*ret_memory = 0;
}

gboolean
cocoon_pod_size_from_spec(CocoonJson *spec, const CocoonConfig *config, const gchar *sandbox_id,
			  const gchar *container_id, CocoonPodSize *ret_size, GError **error)
{
	gint64 quota, memory;
	guint64 period;
	guint64 vcpus, memory_mib;

	spec_ask(spec, &quota, &period, &memory);
	ret_size->ask_vcpus =
		quota > 0 ? (guint)MIN(((guint64)quota + period - 1) / period, G_MAXUINT16) : 0;
	ret_size->ask_memory_mib =
		memory > 0 ? (guint)MIN(((guint64)memory + (1 << 20) - 1) >> 20, G_MAXUINT32 >> 1)
			   : 0;
	vcpus = (guint64)config->vcpus + ret_size->ask_vcpus;
	memory_mib = (guint64)config->memory_mib + ret_size->ask_memory_mib;
	if (vcpus > config->max_vcpus) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "pod %s, container %s: asks for %u vCPUs (cpu quota %" G_GINT64_FORMAT
			    "/%" G_GUINT64_FORMAT "), %" G_GUINT64_FORMAT
			    " with the VM's base of %u; the maximum is %u "
			    "(hypervisor.max_vcpus)",
			    sandbox_id, container_id, ret_size->ask_vcpus, quota, period, vcpus,
			    config->vcpus, config->max_vcpus);
		return FALSE;
	}
	if (memory_mib > config->max_memory_mib) {
		g_set_error(
			error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			"pod %s, container %s: asks for %u MiB of memory (limit %" G_GINT64_FORMAT
			" bytes), %" G_GUINT64_FORMAT
			" MiB with the VM's base of %u MiB; the maximum is %u MiB "
			"(hypervisor.max_memory_mib)",
			sandbox_id, container_id, ret_size->ask_memory_mib, memory, memory_mib,
			config->memory_mib, config->max_memory_mib);
		return FALSE;
	}
	ret_size->vcpus = (guint)vcpus;
	ret_size->memory_mib = (guint)memory_mib;
	return TRUE;
}
