/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-host-cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-error.h"

struct _CocoonHostCgroup {
	gchar *path;
	GPtrArray *dirs;    /* gchar *: the cgroup in each hierarchy */
	GPtrArray *created; /* gchar *: the directories made, parents first */
};

static gboolean
component_is_valid(const gchar *component)
{
	return component[0] != '\0' && strchr(component, '/') == NULL &&
	       g_strcmp0(component, ".") != 0 && g_strcmp0(component, "..") != 0;
}

/* "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice" ("-.slice" is the root) */
static gboolean
expand_slice(GString *path, const gchar *slice, GError **error)
{
	g_autofree gchar *base = NULL;
	g_auto(GStrv) parts = NULL;
	g_autoptr(GString) prefix = g_string_new(NULL);

	if (g_strcmp0(slice, "-.slice") == 0)
		return TRUE;
	if (!g_str_has_suffix(slice, ".slice") || !component_is_valid(slice)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "\"%s\" is not a systemd slice name", slice);
		return FALSE;
	}
	base = g_strndup(slice, strlen(slice) - strlen(".slice"));
	parts = g_strsplit(base, "-", -1);
	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] == '\0') {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "systemd slice \"%s\" has an empty part", slice);
			return FALSE;
		}
		if (i > 0)
			g_string_append_c(prefix, '-');
		g_string_append(prefix, parts[i]);
		g_string_append_printf(path, "/%s.slice", prefix->str);
	}
	return TRUE;
}

/**
 * cocoon_host_cgroup_resolve_path:
 *
 * see the header; the result is absolute and normalized
 */
gchar *
cocoon_host_cgroup_resolve_path(const gchar *cgroups_path, GError **error)
{
	g_autoptr(GString) path = g_string_new(NULL);
	g_auto(GStrv) parts = NULL;

	if (cgroups_path == NULL || cgroups_path[0] == '\0') {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "the cgroups path is empty");
		return NULL;
	}
	if (strchr(cgroups_path, ':') != NULL) {
		g_autofree gchar *unit = NULL;
		parts = g_strsplit(cgroups_path, ":", -1);
		if (g_strv_length(parts) != 3 || parts[2][0] == '\0') {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "cgroups path \"%s\" is not slice:prefix:name", cgroups_path);
			return NULL;
		}
		if (!expand_slice(path, parts[0][0] != '\0' ? parts[0] : "system.slice", error)) {
			g_prefix_error(error, "cgroups path \"%s\": ", cgroups_path);
			return NULL;
		}
		unit = parts[1][0] != '\0' ? g_strdup_printf("%s-%s.scope", parts[1], parts[2])
					   : g_strdup_printf("%s.scope", parts[2]);
		if (!component_is_valid(unit)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "cgroups path \"%s\": bad unit name", cgroups_path);
			return NULL;
		}
		g_string_append_printf(path, "/%s", unit);
		return g_string_free(g_steal_pointer(&path), FALSE);
	}
	if (cgroups_path[0] != '/') {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "cgroups path \"%s\" is neither absolute nor slice:prefix:name",
			    cgroups_path);
		return NULL;
	}
	parts = g_strsplit(cgroups_path + 1, "/", -1);
	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] == '\0')
			continue;
		if (!component_is_valid(parts[i])) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "cgroups path \"%s\" has a \"%s\" component", cgroups_path,
				    parts[i]);
			return NULL;
		}
		g_string_append_printf(path, "/%s", parts[i]);
	}
	if (path->len == 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "cgroups path \"%s\" is the root cgroup", cgroups_path);
		return NULL;
	}
	return g_string_free(g_steal_pointer(&path), FALSE);
}

/* mountinfo escapes blanks as octal: "\040" */
static gchar *
unescape_mount_point(const gchar *text)
{
	g_autoptr(GString) out = g_string_new(NULL);

	for (const gchar *p = text; *p != '\0'; p++) {
		if (p[0] == '\\' && g_ascii_isdigit(p[1]) && g_ascii_isdigit(p[2]) &&
		    g_ascii_isdigit(p[3])) {
			g_string_append_c(out, (gchar)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) |
						       (p[3] - '0')));
			p += 3;
		} else {
			g_string_append_c(out, *p);
		}
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/**
 * cocoon_host_cgroup_hierarchies:
 *
 * one mount point per hierarchy: a v1 hierarchy mounted twice counts once (its super options)
 */
GStrv
cocoon_host_cgroup_hierarchies(GError **error)
{
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GPtrArray) result = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	if (!g_file_get_contents("/proc/self/mountinfo", &contents, NULL, error))
		return NULL;
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) halves = g_strsplit(lines[i], " - ", 2);
		g_auto(GStrv) fields = NULL;
		g_auto(GStrv) tail = NULL;
		g_autofree gchar *key = NULL;

		if (g_strv_length(halves) != 2)
			continue;
		fields = g_strsplit(halves[0], " ", -1);
		tail = g_strsplit(halves[1], " ", -1);
		if (g_strv_length(fields) < 5 || g_strv_length(tail) < 3)
			continue;
		if (g_strcmp0(tail[0], "cgroup") != 0 && g_strcmp0(tail[0], "cgroup2") != 0)
			continue;
		key = g_strdup_printf("%s %s", tail[0], tail[2]);
		if (g_hash_table_contains(seen, key))
			continue;
		g_hash_table_add(seen, g_steal_pointer(&key));
		g_ptr_array_add(result, unescape_mount_point(fields[4]));
	}
	if (result->len == 0) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
				    "no cgroup file system is mounted");
		return NULL;
	}
	g_ptr_array_add(result, NULL);
	return (GStrv)g_ptr_array_free(g_steal_pointer(&result), FALSE);
}

/*
 * a new v1 cpuset has no cpus and mems: it takes its parent's, or nothing can join it (as runc
 * does, also for a level someone else made and left empty)
 */
static gboolean
cpuset_inherit(const gchar *parent, const gchar *dir, GError **error)
{
	const gchar *files[] = {"cpuset.cpus", "cpuset.mems"};
	g_autofree gchar *controllers = g_build_filename(dir, "cgroup.controllers", NULL);

	/* cgroup v2 takes the parent's when its own is empty */
	if (g_file_test(controllers, G_FILE_TEST_EXISTS))
		return TRUE;
	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree gchar *from = g_build_filename(parent, files[i], NULL);
		g_autofree gchar *to = g_build_filename(dir, files[i], NULL);
		g_autofree gchar *value = NULL;

		g_autofree gchar *current = NULL;

		if (!g_file_test(from, G_FILE_TEST_EXISTS))
			return TRUE;
		if (g_file_get_contents(to, &current, NULL, NULL) && g_strstrip(current)[0] != '\0')
			continue;
		if (!g_file_get_contents(from, &value, NULL, error) ||
		    !g_file_set_contents_full(to, value, -1, G_FILE_SET_CONTENTS_NONE, 0644,
					      error)) {
			g_prefix_error(error, "%s: ", files[i]);
			return FALSE;
		}
	}
	return TRUE;
}

/* the path's directories in one hierarchy, the missing ones made */
static gchar *
make_dirs(CocoonHostCgroup *self, const gchar *hierarchy, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(self->path + 1, "/", -1);
	g_autofree gchar *dir = g_strdup(hierarchy);

	for (guint i = 0; parts[i] != NULL; i++) {
		g_autofree gchar *parent = g_steal_pointer(&dir);
		dir = g_build_filename(parent, parts[i], NULL);
		if (g_mkdir(dir, 0755) == 0) {
			g_ptr_array_add(self->created, g_strdup(dir));
		} else if (errno != EEXIST) {
			cocoon_set_error_from_errno(error, "mkdir %s", dir);
			return NULL;
		}
		if (!cpuset_inherit(parent, dir, error))
			return NULL;
	}
	return g_steal_pointer(&dir);
}

/**
 * cocoon_host_cgroup_new:
 *
 * hierarchies: the mount points (cocoon_host_cgroup_hierarchies(), or test directories)
 */
CocoonHostCgroup *
cocoon_host_cgroup_new(const gchar *const *hierarchies, const gchar *path, GError **error)
{
	g_autoptr(CocoonHostCgroup) self = g_new0(CocoonHostCgroup, 1);

	self->path = cocoon_host_cgroup_resolve_path(path, error);
	self->dirs = g_ptr_array_new_with_free_func(g_free);
	self->created = g_ptr_array_new_with_free_func(g_free);
	if (self->path == NULL)
		return NULL;
	for (guint i = 0; hierarchies[i] != NULL; i++) {
		gchar *dir = make_dirs(self, hierarchies[i], error);
		if (dir == NULL) {
			g_prefix_error(error, "cgroup %s: ", self->path);
			return NULL;
		}
		g_ptr_array_add(self->dirs, dir);
	}
	return g_steal_pointer(&self);
}

gboolean
cocoon_host_cgroup_add_process(CocoonHostCgroup *self, GPid pid, GError **error)
{
	g_autofree gchar *text = g_strdup_printf("%d\n", (int)pid);

	for (guint i = 0; i < self->dirs->len; i++) {
		g_autofree gchar *procs =
			g_build_filename(g_ptr_array_index(self->dirs, i), "cgroup.procs", NULL);
		int fd = open(procs, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		gboolean ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
		int saved_errno = errno;

		if (fd >= 0)
			close(fd);
		if (!ok) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
				    "cannot move pid %d into %s: %s", (int)pid, procs,
				    g_strerror(saved_errno));
			return FALSE;
		}
	}
	return TRUE;
}

void
cocoon_host_cgroup_remove_leaf(const gchar *cgroups_path)
{
	g_autofree gchar *path = cocoon_host_cgroup_resolve_path(cgroups_path, NULL);
	g_auto(GStrv) hierarchies = NULL;

	if (path == NULL)
		return;
	hierarchies = cocoon_host_cgroup_hierarchies(NULL);
	for (guint i = 0; hierarchies != NULL && hierarchies[i] != NULL; i++) {
		g_autofree gchar *dir = g_build_filename(hierarchies[i], path, NULL);
		(void)g_rmdir(dir);
	}
}

const gchar *
cocoon_host_cgroup_get_path(CocoonHostCgroup *self)
{
	return self->path;
}

void
cocoon_host_cgroup_free(CocoonHostCgroup *self)
{
	if (self == NULL)
		return;
	/* deepest first; a directory someone else uses meanwhile stays */
	for (guint i = self->created->len; i > 0; i--) {
		const gchar *dir = g_ptr_array_index(self->created, i - 1);
		if (g_rmdir(dir) < 0 && errno != ENOENT)
			g_debug("cgroup %s: rmdir %s: %s", self->path, dir, g_strerror(errno));
	}
	g_ptr_array_unref(self->created);
	g_ptr_array_unref(self->dirs);
	g_free(self->path);
	g_free(self);
}
