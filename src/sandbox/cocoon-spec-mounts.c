/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-spec-mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-fd.h"
#include "cocoon-rootfs.h"

static gboolean
options_contain(const CocoonJson *options, const gchar *option)
{
	if (options == NULL || !cocoon_json_is_array(options))
		return FALSE;
	for (guint i = 0; i < cocoon_json_array_get_length(options); i++) {
		const gchar *value = cocoon_json_get_string(cocoon_json_array_get(options, i));
		if (g_strcmp0(value, option) == 0)
			return TRUE;
	}
	return FALSE;
}

gboolean
cocoon_spec_mount_is_bind(const CocoonJson *mount)
{
	const gchar *type = cocoon_json_object_get_string_member(mount, "type");
	const gchar *source = cocoon_json_object_get_string_member(mount, "source");
	CocoonJson *options = cocoon_json_object_get(mount, "options");

	if (source == NULL || !g_path_is_absolute(source))
		return FALSE;
	return g_strcmp0(type, "bind") == 0 || options_contain(options, "bind") ||
	       options_contain(options, "rbind");
}

static void
make_guest_shm(CocoonJson *mount)
{
	CocoonJson *options = cocoon_json_new_array();
	const gchar *values[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};
	for (guint i = 0; i < G_N_ELEMENTS(values); i++)
		cocoon_json_array_append(options, cocoon_json_new_string(values[i]));
	cocoon_json_object_set_string(mount, "type", "tmpfs");
	cocoon_json_object_set_string(mount, "source", "shm");
	cocoon_json_object_set(mount, "options", options);
}

/* an empty file or directory to bind over, like the source */
static gboolean
make_mount_point(const gchar *path, gboolean directory, GError **error)
{
	if (directory) {
		if (g_mkdir(path, 0700) == 0 || errno == EEXIST)
			return TRUE;
	} else {
		cocoon_autofd int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		if (fd >= 0)
			return TRUE;
	}
	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", path,
		    g_strerror(errno));
	return FALSE;
}

gboolean
cocoon_spec_share_mounts(CocoonJson *spec, const gchar *share_dir, const gchar *guest_dir,
			 GPtrArray *mounted, GError **error)
{
	CocoonJson *mounts = cocoon_json_object_get_array_member(spec, "mounts");
	g_autofree gchar *mounts_dir = g_build_filename(share_dir, "mounts", NULL);
	guint shared = 0;

	if (mounts == NULL)
		return TRUE;
	for (guint i = 0; i < cocoon_json_array_get_length(mounts); i++) {
		CocoonJson *entry = cocoon_json_array_get(mounts, i);
		const gchar *source, *destination;
		g_autofree gchar *target = NULL;
		g_autofree gchar *guest_source = NULL;
		gulong flags = MS_BIND | MS_REC;
		struct stat st;

		if (!cocoon_json_is_object(entry) || !cocoon_spec_mount_is_bind(entry))
			continue;
		source = cocoon_json_object_get_string_member(entry, "source");
		destination = cocoon_json_object_get_string_member(entry, "destination");
		if (g_strcmp0(destination, "/dev/shm") == 0) {
			make_guest_shm(entry);
			continue;
		}
		if (stat(source, &st) < 0) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
				    "mount %s: source %s: %s", destination ? destination : "?",
				    source, g_strerror(errno));
			return FALSE;
		}
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
				    "mount %s: source %s is neither a file nor a directory; "
				    "devices and sockets of the host cannot reach a VM",
				    destination ? destination : "?", source);
			return FALSE;
		}
		if (shared == 0 && g_mkdir_with_parents(mounts_dir, 0700) < 0) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "mkdir %s: %s",
				    mounts_dir, g_strerror(errno));
			return FALSE;
		}
		target = g_strdup_printf("%s/%u", mounts_dir, shared);
		if (!make_mount_point(target, S_ISDIR(st.st_mode), error))
			return FALSE;
		/* a bind mount's type is ignored: "none", not NULL, which valgrind reads */
		if (mount(source, target, "none", flags, NULL) < 0) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
				    "bind %s on %s: %s", source, target, g_strerror(errno));
			return FALSE;
		}
		g_ptr_array_add(mounted, g_strdup(target));
		/* submounts of a recursive bind too: they keep their own flags otherwise */
		if (options_contain(cocoon_json_object_get(entry, "options"), "ro") &&
		    !cocoon_mount_make_readonly(target, error))
			return FALSE;
		guest_source = g_strdup_printf("%s/mounts/%u", guest_dir, shared);
		cocoon_json_object_set_string(entry, "source", guest_source);
		shared++;
	}
	return TRUE;
}
