/* SPDX-License-Identifier: Apache-2.0 */
/* the spec rewrites that bound a container: no VM devices, a pids limit */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "cocoon-spec-bounds.h"

static CocoonJson *
parse(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	CocoonJson *node = cocoon_json_parse(text, strlen(text), &error);

	g_assert_no_error(error);
	return node;
}

static gchar *
device_paths(const CocoonJson *spec)
{
	CocoonJson *devices = cocoon_json_path_get(spec, "linux", "devices", NULL);
	g_autoptr(GString) out = g_string_new(NULL);

	for (guint i = 0; i < cocoon_json_array_get_length(devices); i++) {
		CocoonJson *device = cocoon_json_array_get(devices, i);
		g_string_append_printf(out, "%s%s", i > 0 ? " " : "",
				       cocoon_json_object_get_string_member(device, "path"));
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* what `ctr run --privileged` copies from a host */
static void
test_drop_vm_devices(void)
{
	g_autoptr(CocoonJson) spec = parse(
		"{\"linux\": {\"devices\": ["
		"{\"path\": \"/dev/null\", \"type\": \"c\", \"major\": 1, \"minor\": 3},"
		"{\"path\": \"/dev/ttyS0\", \"type\": \"c\", \"major\": 4, \"minor\": 64},"
		"{\"path\": \"/dev/ttyS3\", \"type\": \"c\", \"major\": 4, \"minor\": 67},"
		"{\"path\": \"/dev/tty1\", \"type\": \"c\", \"major\": 4, \"minor\": 1},"
		"{\"path\": \"/dev/console\", \"type\": \"c\", \"major\": 5, \"minor\": 1},"
		"{\"path\": \"/dev/tty\", \"type\": \"c\", \"major\": 5, \"minor\": 0},"
		"{\"path\": \"/dev/ptmx\", \"type\": \"c\", \"major\": 5, \"minor\": 2},"
		"{\"path\": \"/dev/hvc0\", \"type\": \"c\", \"major\": 229, \"minor\": 0},"
		"{\"path\": \"/dev/vport1p1\", \"type\": \"c\", \"major\": 250, \"minor\": 1},"
		"{\"path\": \"/dev/ttyX\", \"type\": \"c\", \"major\": 4, \"minor\": 70},"
		"{\"path\": \"/dev/dma_heap/system\", \"type\": \"c\", \"major\": 252, \"minor\": "
		"0},"
		"{\"path\": \"/dev/kvm\", \"type\": \"c\", \"major\": 10, \"minor\": 232},"
		"{\"path\": \"/dev/vda\", \"type\": \"b\", \"major\": 252, \"minor\": 0},"
		"{\"path\": \"/dev/virtio-ports/cocoon.agent\", \"type\": \"c\", \"major\": 1, "
		"\"minor\": 99},"
		"{\"path\": \"/dev/zero\", \"type\": \"c\", \"major\": 1, \"minor\": 5}]}}");
	g_autoptr(GPtrArray) dropped = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *kept = NULL;
	g_autofree gchar *joined = NULL;

	cocoon_spec_drop_vm_devices(spec, dropped);
	kept = device_paths(spec);
	g_assert_cmpstr(kept, ==, "/dev/null /dev/tty /dev/ptmx /dev/kvm /dev/vda /dev/zero");
	g_ptr_array_add(dropped, NULL);
	joined = g_strjoinv(" ", (gchar **)dropped->pdata);
	g_assert_cmpstr(joined, ==,
			"/dev/ttyS0 /dev/ttyS3 /dev/tty1 /dev/console /dev/hvc0 /dev/vport1p1 "
			"/dev/ttyX /dev/dma_heap/system /dev/virtio-ports/cocoon.agent");

	/* no devices, no linux, odd entries: nothing to do, nothing breaks */
	{
		g_autoptr(CocoonJson) empty = parse("{\"process\": {}}");
		g_autoptr(CocoonJson) odd = parse(
			"{\"linux\": {\"devices\": [1, {\"type\": \"c\"}, {\"major\": \"x\"}]}}");
		cocoon_spec_drop_vm_devices(empty, NULL);
		cocoon_spec_drop_vm_devices(odd, NULL);
		g_assert_cmpuint(cocoon_json_array_get_length(
					 cocoon_json_path_get(odd, "linux", "devices", NULL)),
				 ==, 3);
	}
}

static gint64
pids_limit(const CocoonJson *spec)
{
	gint64 limit = -12345;

	g_assert_true(cocoon_json_object_get_int64_member(
		cocoon_json_path_get(spec, "linux", "resources", "pids", NULL), "limit", &limit,
		NULL));
	return limit;
}

static void
test_cap_pids(void)
{
	/* no limit of its own: the configured one */
	{
		g_autoptr(CocoonJson) spec = parse("{\"linux\": {}}");
		g_assert_cmpint(cocoon_spec_cap_pids(spec, 1024), ==, 1024);
		g_assert_cmpint(pids_limit(spec), ==, 1024);
	}
	{
		g_autoptr(CocoonJson) spec = parse("{}");
		g_assert_cmpint(cocoon_spec_cap_pids(spec, 100), ==, 100);
		g_assert_cmpint(pids_limit(spec), ==, 100);
	}
	/* unlimited (0 or -1 in OCI) is not more than the cap */
	{
		g_autoptr(CocoonJson) spec =
			parse("{\"linux\": {\"resources\": {\"memory\": {\"limit\": 1}, \"pids\": "
			      "{\"limit\": -1}}}}");
		g_assert_cmpint(cocoon_spec_cap_pids(spec, 1024), ==, 1024);
		g_assert_cmpint(pids_limit(spec), ==, 1024);
		g_assert_nonnull(cocoon_json_path_get(spec, "linux", "resources", "memory", NULL));
	}
	/* a lower limit of its own stays, a higher one is cut */
	{
		g_autoptr(CocoonJson) spec =
			parse("{\"linux\": {\"resources\": {\"pids\": {\"limit\": 50}}}}");
		g_assert_cmpint(cocoon_spec_cap_pids(spec, 1024), ==, 50);
		g_assert_cmpint(pids_limit(spec), ==, 50);
	}
	{
		g_autoptr(CocoonJson) spec =
			parse("{\"linux\": {\"resources\": {\"pids\": {\"limit\": 100000}}}}");
		g_assert_cmpint(cocoon_spec_cap_pids(spec, 1024), ==, 1024);
		g_assert_cmpint(pids_limit(spec), ==, 1024);
	}
	/* 0: no cap, the spec is left alone */
	{
		g_autoptr(CocoonJson) spec = parse("{\"linux\": {}}");
		g_assert_cmpint(cocoon_spec_cap_pids(spec, 0), ==, 0);
		g_assert_null(cocoon_json_path_get(spec, "linux", "resources", NULL));
	}
	/* a resources member of the wrong kind is replaced, not trusted */
	{
		g_autoptr(CocoonJson) spec = parse("{\"linux\": {\"resources\": 7}}");
		g_assert_cmpint(cocoon_spec_cap_pids(spec, 10), ==, 10);
		g_assert_cmpint(pids_limit(spec), ==, 10);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sandbox/spec-bounds/drop-vm-devices", test_drop_vm_devices);
	g_test_add_func("/sandbox/spec-bounds/cap-pids", test_cap_pids);
	return g_test_run();
}
