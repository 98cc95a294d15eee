/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-spec-bounds.h"

/* Documentation/admin-guide/devices.txt: character majors */
#define MAJOR_TTY	  4 /* tty0-63 (virtual consoles), ttyS0-191 (8250 serial) */
#define MAJOR_TTY_AUX	  5 /* 0 tty, 1 console, 2 ptmx, 3 ttyprintk */
#define MINOR_CONSOLE	  1
#define MINOR_TTYPRINTK	  3
#define MAJOR_LOW_SERIAL  204 /* ttyAMA and other serial ports */
#define MAJOR_HVC	  229 /* hypervisor consoles, virtio-console's hvc0 */
#define DYNAMIC_LOW_FIRST 234
#define DYNAMIC_LOW_LAST  254
#define DYNAMIC_EXT_FIRST 384
#define DYNAMIC_EXT_LAST  511

static const gchar *const vm_device_prefixes[] = {
	"/dev/ttyS", "/dev/hvc", "/dev/vport", "/dev/virtio-ports/", "/dev/ttyAMA", NULL,
};
static const gchar *const vm_device_paths[] = {"/dev/console", "/dev/ttyprintk", NULL};

static gboolean
major_is_vm(gint64 major, gint64 minor)
{
	if (major == MAJOR_TTY || major == MAJOR_LOW_SERIAL || major == MAJOR_HVC)
		return TRUE;
	if (major == MAJOR_TTY_AUX && (minor == MINOR_CONSOLE || minor == MINOR_TTYPRINTK))
		return TRUE;
	/* allocated at boot: the guest's numbers mean something else (its virtio ports) */
	return (major >= DYNAMIC_LOW_FIRST && major <= DYNAMIC_LOW_LAST) ||
	       (major >= DYNAMIC_EXT_FIRST && major <= DYNAMIC_EXT_LAST);
}

static gboolean
device_is_vm(const CocoonJson *device)
{
	const gchar *path = cocoon_json_object_get_string_member(device, "path");
	const gchar *type = cocoon_json_object_get_string_member(device, "type");
	gint64 major = -1;
	gint64 minor = -1;

	if (path != NULL) {
		if (g_strv_contains(vm_device_paths, path))
			return TRUE;
		for (guint i = 0; vm_device_prefixes[i] != NULL; i++) {
			if (g_str_has_prefix(path, vm_device_prefixes[i]))
				return TRUE;
		}
	}
	/* block devices ("b") have majors of their own */
	if (g_strcmp0(type, "c") != 0 && g_strcmp0(type, "u") != 0)
		return FALSE;
	if (!cocoon_json_object_get_int64_member(device, "major", &major, NULL))
		return FALSE;
	(void)cocoon_json_object_get_int64_member(device, "minor", &minor, NULL);
	return major_is_vm(major, minor);
}

/**
 * cocoon_spec_drop_vm_devices:
 * @spec: an OCI spec
 * @dropped: (nullable): gets the paths of the devices removed (new strings)
 *
 * The guest is hostile anyway (a privileged container may mknod what it likes): this keeps the
 * obvious paths shut, the console log's cap is the defence.
 */
void
cocoon_spec_drop_vm_devices(CocoonJson *spec, GPtrArray *dropped)
{
	CocoonJson *linux_ = cocoon_json_object_get_object_member(spec, "linux");
	CocoonJson *devices =
		linux_ != NULL ? cocoon_json_object_get_array_member(linux_, "devices") : NULL;

	if (devices == NULL)
		return;
	for (guint i = cocoon_json_array_get_length(devices); i > 0; i--) {
		CocoonJson *device = cocoon_json_array_get(devices, i - 1);
		const gchar *path;

		if (!cocoon_json_is_object(device) || !device_is_vm(device))
			continue;
		path = cocoon_json_object_get_string_member(device, "path");
		if (dropped != NULL)
			g_ptr_array_insert(dropped, 0, g_strdup(path != NULL ? path : "(no path)"));
		cocoon_json_array_remove(devices, i - 1);
	}
}

/* the object member name of parent, created when missing (or not an object) */
static CocoonJson *
object_member_ensure(CocoonJson *parent, const gchar *name)
{
	CocoonJson *member = cocoon_json_object_get_object_member(parent, name);

	if (member == NULL) {
		cocoon_json_object_set(parent, name, cocoon_json_new_object());
		member = cocoon_json_object_get_object_member(parent, name);
	}
	return member;
}

/**
 * cocoon_spec_cap_pids:
 * @spec: an OCI spec
 * @max: the configured per-container maximum, 0 for none
 *
 * One container's fork bomb must not take the pids (and the memory) its pod's other containers
 * and the agent need.
 */
gint64
cocoon_spec_cap_pids(CocoonJson *spec, guint max)
{
	CocoonJson *linux_;
	CocoonJson *resources;
	CocoonJson *pids;
	gint64 limit = 0;

	if (!cocoon_json_is_object(spec))
		return 0;
	linux_ = cocoon_json_object_get_object_member(spec, "linux");
	resources =
		linux_ != NULL ? cocoon_json_object_get_object_member(linux_, "resources") : NULL;
	pids = resources != NULL ? cocoon_json_object_get_object_member(resources, "pids") : NULL;
	if (pids != NULL)
		(void)cocoon_json_object_get_int64_member(pids, "limit", &limit, NULL);
	if (max == 0)
		return limit > 0 ? limit : 0;
	if (limit > 0 && limit <= (gint64)max)
		return limit;
	linux_ = object_member_ensure(spec, "linux");
	resources = object_member_ensure(linux_, "resources");
	pids = object_member_ensure(resources, "pids");
	cocoon_json_object_set_int64(pids, "limit", (gint64)max);
	return (gint64)max;
}
