/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "cocoon-pod-sizing.h"

static CocoonJson *
parse(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	CocoonJson *json = cocoon_json_parse(text, strlen(text), &error);

	g_assert_no_error(error);
	return json;
}

static void
test_sizes(void)
{
	g_autoptr(CocoonConfig) config = cocoon_config_new_default();
	const struct {
		const gchar *spec;
		guint vcpus, memory_mib;
	} cases[] = {
		/* nothing asked: the base */
		{"{}", 1, 256},
		{"{\"linux\":{\"resources\":{\"memory\":{\"limit\":-1}}}}", 1, 256},
		/* ctr run --cpus 2 --memory-limit 1073741824 */
		{"{\"linux\":{\"resources\":{\"cpu\":{\"quota\":200000,\"period\":100000},"
		 "\"memory\":{\"limit\":1073741824}}}}",
		 3, 1280},
		/* half a CPU rounds up to one; a byte over a MiB is a MiB */
		{"{\"linux\":{\"resources\":{\"cpu\":{\"quota\":50000,\"period\":100000},"
		 "\"memory\":{\"limit\":1048577}}}}",
		 2, 258},
		/* a quota without a period asks nothing */
		{"{\"linux\":{\"resources\":{\"cpu\":{\"quota\":50000}}}}", 1, 256},
		/* the CRI sandbox annotations (containerd >= 1.7) win over the pause's resources */
		{"{\"annotations\":{\"io.kubernetes.cri.sandbox-cpu-quota\":\"150000\","
		 "\"io.kubernetes.cri.sandbox-cpu-period\":\"100000\","
		 "\"io.kubernetes.cri.sandbox-memory-limit\":\"536870912\"},"
		 "\"linux\":{\"resources\":{\"cpu\":{\"quota\":1000,\"period\":100000}}}}",
		 3, 768},
		/* bad annotations are no ask */
		{"{\"annotations\":{\"io.kubernetes.cri.sandbox-memory-limit\":\"lots\"}}", 1, 256},
	};

	config->vcpus = 1;
	config->memory_mib = 256;
	config->max_vcpus = 16;
	config->max_memory_mib = 16384;
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(CocoonJson) spec = parse(cases[i].spec);
		CocoonPodSize size;

		g_test_message("%s", cases[i].spec);
		g_assert_true(cocoon_pod_size_from_spec(spec, config, "pod1", "c1", &size, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(size.vcpus, ==, cases[i].vcpus);
		g_assert_cmpuint(size.memory_mib, ==, cases[i].memory_mib);
	}
}

static void
test_above_maximum(void)
{
	g_autoptr(CocoonConfig) config = cocoon_config_new_default();
	g_autoptr(CocoonJson) cpus = parse(
		"{\"linux\":{\"resources\":{\"cpu\":{\"quota\":1600000,\"period\":100000}}}}");
	g_autoptr(CocoonJson) memory =
		parse("{\"linux\":{\"resources\":{\"memory\":{\"limit\":17179869184}}}}");
	g_autoptr(GError) error = NULL;
	CocoonPodSize size;

	config->vcpus = 1;
	config->memory_mib = 256;
	config->max_vcpus = 16;
	config->max_memory_mib = 16384;
	g_assert_false(cocoon_pod_size_from_spec(cpus, config, "pod1", "big", &size, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	/* the pod, the container, the ask and the maximum */
	g_assert_nonnull(strstr(error->message, "pod pod1, container big"));
	g_assert_nonnull(strstr(error->message, "16 vCPUs"));
	g_assert_nonnull(strstr(error->message, "maximum is 16"));
	g_clear_error(&error);
	g_assert_false(cocoon_pod_size_from_spec(memory, config, "pod1", "big", &size, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "16384 MiB of memory"));
	g_assert_nonnull(strstr(error->message, "maximum is 16384 MiB"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pod-sizing/sizes", test_sizes);
	g_test_add_func("/pod-sizing/above-maximum", test_above_maximum);
	return g_test_run();
}
