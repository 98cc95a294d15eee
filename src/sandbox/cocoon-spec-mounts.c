/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-spec-mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-fs.h"
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

	/* relative sources too: OCI resolves them against the bundle, on the host */
	if (source == NULL)
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

/*
 * the source of a bind mount, resolved on the host as OCI says: an absolute path as it is (the spec
 * author's host path, its symlinks followed), a relative one against the bundle without following a
 * symlink (what is near the bundle, the container's rootfs first, the guest can write). Nothing
 * inside Cocoon's own state directory: the share is the guest's.
 */
static int
open_source(const gchar *bundle, const gchar *source, const gchar *state_dir, GError **error)
{
	cocoon_autofd int fd = -1;
	g_autofree gchar *proc = NULL;
	g_autofree gchar *resolved = NULL;
	g_autofree gchar *canonical_state = NULL;

	if (source[0] == '\0') {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "the source is empty");
		return -1;
	}
	if (g_path_is_absolute(source)) {
		fd = open(source, O_PATH | O_CLOEXEC);
		if (fd < 0) {
			cocoon_set_error_from_errno(error, "source %s", source);
			return -1;
		}
	} else {
		cocoon_autofd int bundle_fd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (bundle_fd < 0) {
			cocoon_set_error_from_errno(error, "bundle %s", bundle);
			return -1;
		}
		fd = cocoon_fs_open_nofollow(bundle_fd, source, O_PATH, error);
		if (fd < 0) {
			g_prefix_error(error, "source %s (relative to the bundle %s): ", source,
				       bundle);
			return -1;
		}
	}
	proc = g_strdup_printf("/proc/self/fd/%d", fd);
	resolved = g_file_read_link(proc, NULL);
	/* both canonical: a state_dir configured through a symlink or with a trailing slash too */
	canonical_state = state_dir != NULL ? realpath(state_dir, NULL) : NULL;
	if (canonical_state != NULL && resolved != NULL &&
	    (g_str_equal(resolved, canonical_state) ||
	     (g_str_has_prefix(resolved, canonical_state) &&
	      resolved[strlen(canonical_state)] == '/'))) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "source %s is %s, inside Cocoon's state directory %s, which guests "
			    "write",
			    source, resolved, state_dir);
		return -1;
	}
	return cocoon_steal_fd(&fd);
}

gboolean
cocoon_spec_share_mounts(CocoonJson *spec, const gchar *bundle, CocoonShareArea *area,
			 const gchar *state_dir, GError **error)
{
	CocoonJson *mounts = cocoon_json_object_get_array_member(spec, "mounts");

	if (mounts == NULL)
		return TRUE;
	for (guint i = 0; i < cocoon_json_array_get_length(mounts); i++) {
		CocoonJson *entry = cocoon_json_array_get(mounts, i);
		const gchar *source, *destination;
		g_autofree gchar *name = NULL;
		g_autofree gchar *guest_source = NULL;
		cocoon_autofd int source_fd = -1;
		gboolean readonly;
		struct stat st;

		if (!cocoon_json_is_object(entry) || !cocoon_spec_mount_is_bind(entry))
			continue;
		source = cocoon_json_object_get_string_member(entry, "source");
		destination = cocoon_json_object_get_string_member(entry, "destination");
		if (destination == NULL)
			destination = "?";
		if (g_strcmp0(destination, "/dev/shm") == 0) {
			make_guest_shm(entry);
			continue;
		}
		source_fd = open_source(bundle, source, state_dir, error);
		if (source_fd < 0 || fstat(source_fd, &st) < 0) {
			if (source_fd >= 0)
				cocoon_set_error_from_errno(error, "%s", source);
			g_prefix_error(error, "mount %s: ", destination);
			return FALSE;
		}
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
				    "mount %s: source %s is neither a file nor a directory; "
				    "devices and sockets of the host cannot reach a VM",
				    destination, source);
			return FALSE;
		}
		readonly = options_contain(cocoon_json_object_get(entry, "options"), "ro");
		/* "bind" is the source alone, as runc does; "rbind" has its submounts, which are
		 * made read-only too for "ro" (they keep their own flags otherwise) */
		name = cocoon_share_area_attach_volume(
			area, source_fd,
			options_contain(cocoon_json_object_get(entry, "options"), "rbind"),
			readonly, error);
		if (name == NULL) {
			g_prefix_error(error, "mount %s: source %s: ", destination, source);
			return FALSE;
		}
		guest_source = g_strdup_printf("%s/%s/%s", COCOON_GUEST_SHARE_DIR,
					       COCOON_SHARE_VOLUMES_DIR, name);
		cocoon_json_object_set_string(entry, "source", guest_source);
	}
	return TRUE;
}
