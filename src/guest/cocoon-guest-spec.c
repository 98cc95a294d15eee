/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-spec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "cocoon-json.h"

/* what the CRI puts on every container it creates (cocoon-shim-util.h has it for the shim) */
#define POD_CONTAINER_TYPE_ANNOTATION "io.kubernetes.cri.container-type"
#define POD_SANDBOX_ID_ANNOTATION     "io.kubernetes.cri.sandbox-id"

G_DEFINE_QUARK(cocoon - guest - spec - error - quark, cocoon_guest_spec_error)

/* longest rootfs path the host may name */
#define ROOTFS_MAX 4096

/**
 * cocoon_guest_validate_id:
 *
 * checks a container or exec id before it becomes part of a path or a crun argument
 */
gboolean
cocoon_guest_validate_id(const gchar *kind, const gchar *id, GError **error)
{
	gsize length = id != NULL ? strlen(id) : 0;

	if (length == 0) {
		g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			    "%s is empty", kind);
		return FALSE;
	}
	if (length > COCOON_GUEST_ID_MAX) {
		g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			    "%s is longer than %u characters", kind, COCOON_GUEST_ID_MAX);
		return FALSE;
	}
	if (id[0] == '.' || id[0] == '-') {
		g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			    "%s \"%s\" starts with '%c'", kind, id, id[0]);
		return FALSE;
	}
	for (gsize i = 0; i < length; i++) {
		if (!g_ascii_isalnum(id[i]) && id[i] != '_' && id[i] != '.' && id[i] != '-') {
			g_autofree gchar *escaped = g_strescape(id, NULL);
			g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
				    "%s \"%s\" has a character other than [A-Za-z0-9_.-]", kind,
				    escaped);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
path_is_below(const gchar *path, const gchar *root)
{
	gsize root_length = strlen(root);

	/* "/" is the one root that ends with a slash */
	if (g_strcmp0(root, "/") == 0)
		return path[0] == '/' && path[1] != '\0';
	return strncmp(path, root, root_length) == 0 && path[root_length] == '/' &&
	       path[root_length + 1] != '\0';
}

/**
 * cocoon_guest_resolve_rootfs:
 *
 * resolves the host's relative rootfs name below the shared filesystem; the realpath check catches
 * a symlink planted on the share that points out of it
 */
gchar *
cocoon_guest_resolve_rootfs(const gchar *share_root, const gchar *rootfs, GError **error)
{
	g_auto(GStrv) components = NULL;
	g_autofree gchar *joined = NULL;
	g_autofree gchar *real_root = NULL;
	g_autofree gchar *real_rootfs = NULL;
	struct stat st;

	if (rootfs == NULL || rootfs[0] == '\0') {
		g_set_error_literal(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
				    "rootfs is empty");
		return NULL;
	}
	if (strlen(rootfs) > ROOTFS_MAX) {
		g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			    "rootfs is longer than %u characters", ROOTFS_MAX);
		return NULL;
	}
	if (rootfs[0] == '/') {
		g_set_error(
			error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			"rootfs \"%s\" is absolute, it must be relative to the shared directory",
			rootfs);
		return NULL;
	}
	components = g_strsplit(rootfs, "/", -1);
	for (guint i = 0; components[i] != NULL; i++) {
		/* one trailing slash is harmless */
		if (components[i][0] == '\0' && components[i + 1] == NULL && i > 0)
			continue;
		if (components[i][0] == '\0' || g_strcmp0(components[i], ".") == 0 ||
		    g_strcmp0(components[i], "..") == 0) {
			g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
				    "rootfs \"%s\" has an empty, \".\" or \"..\" component",
				    rootfs);
			return NULL;
		}
	}

	real_root = realpath(share_root, NULL);
	if (real_root == NULL) {
		int saved_errno = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved_errno),
			    "shared directory %s: %s", share_root, g_strerror(saved_errno));
		return NULL;
	}
	joined = g_build_filename(real_root, rootfs, NULL);
	real_rootfs = realpath(joined, NULL);
	if (real_rootfs == NULL) {
		int saved_errno = errno;
		g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			    "rootfs \"%s\" (%s): %s", rootfs, joined, g_strerror(saved_errno));
		return NULL;
	}
	if (!path_is_below(real_rootfs, real_root)) {
		g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			    "rootfs \"%s\" resolves to %s, outside the shared directory %s", rootfs,
			    real_rootfs, real_root);
		return NULL;
	}
	if (stat(real_rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
		g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			    "rootfs \"%s\" is not a directory", rootfs);
		return NULL;
	}
	return g_steal_pointer(&real_rootfs);
}

/**
 * cocoon_guest_cgroups_path_is_valid:
 *
 * TRUE for an absolute cgroupfs path crun can create in the guest
 */
gboolean
cocoon_guest_cgroups_path_is_valid(const gchar *path)
{
	g_auto(GStrv) components = NULL;

	if (path == NULL || path[0] != '/' || path[1] == '\0' || strchr(path, ':') != NULL ||
	    strlen(path) > 1024)
		return FALSE;
	components = g_strsplit(path + 1, "/", -1);
	for (guint i = 0; components[i] != NULL; i++) {
		if (components[i][0] == '\0' || g_strcmp0(components[i], ".") == 0 ||
		    g_strcmp0(components[i], "..") == 0)
			return FALSE;
	}
	return TRUE;
}

void
cocoon_guest_spec_free(CocoonGuestSpec *spec)
{
	if (spec == NULL)
		return;
	g_free(spec->config_json);
	g_free(spec->cgroups_path);
	g_free(spec->guest_hostname);
	g_clear_pointer(&spec->bind_sources, g_ptr_array_unref);
	g_free(spec->pod_shm_dir);
	g_free(spec->pod_shm_options);
	g_free(spec);
}

static CocoonJson *
parse_object(const gchar *what, const gchar *json, gsize length, GError **error)
{
	g_autoptr(CocoonJson) root = NULL;

	if (json == NULL || length == 0) {
		g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			    "%s is empty", what);
		return NULL;
	}
	root = cocoon_json_parse(json, length, error);
	if (root == NULL) {
		/* a JSON error is the caller's fault */
		g_autofree gchar *message = g_strdup((*error)->message);
		g_clear_error(error);
		g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			    "%s: %s", what, message);
		return NULL;
	}
	if (!cocoon_json_is_object(root)) {
		g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			    "%s is not a JSON object", what);
		return NULL;
	}
	return g_steal_pointer(&root);
}

/* the parts of a process object that only mean something on the host */
static void
process_strip_host_labels(CocoonJson *process, gboolean terminal)
{
	cocoon_json_object_set_boolean(process, "terminal", terminal);
	cocoon_json_object_remove(process, "apparmorProfile");
	cocoon_json_object_remove(process, "selinuxLabel");
}

/* the namespaces a CRI app container joins in its pod sandbox container, by their /proc name */
static const gchar *
pod_namespace_name(const gchar *type)
{
	static const gchar *const shared[] = {"ipc", "uts", "pid"};

	for (guint i = 0; i < G_N_ELEMENTS(shared); i++) {
		if (g_strcmp0(type, shared[i]) == 0)
			return shared[i];
	}
	return NULL;
}

/*
 * an entry that joins a namespace by a host path: the pod sandbox's ipc, uts or pid namespace when
 * it runs in the guest (sandbox_pid), else dropped (the guest's), the mount namespace made private.
 * Returns FALSE when the entry goes.
 */
static gboolean
namespace_entry_join(CocoonJson *entry, const gchar *type, gint sandbox_pid,
		     gboolean *ret_joined_uts)
{
	const gchar *name = pod_namespace_name(type);

	if (name != NULL && sandbox_pid > 0) {
		g_autofree gchar *path = g_strdup_printf("/proc/%d/ns/%s", sandbox_pid, name);
		cocoon_json_object_set_string(entry, "path", path);
		if (g_strcmp0(name, "uts") == 0)
			*ret_joined_uts = TRUE;
		return TRUE;
	}
	/* a host path means nothing here; crun cannot run without its own mount ns */
	if (g_strcmp0(type, "mount") == 0) {
		cocoon_json_object_remove(entry, "path");
		return TRUE;
	}
	return FALSE;
}

/*
 * rewrites the namespace entries (see cocoon_guest_spec_patch); tells whether the container gets
 * a uts namespace of its own (no path) or joins its pod's
 */
static gboolean
namespaces_patch(CocoonJson *namespaces, gint sandbox_pid, gboolean *ret_private_uts,
		 gboolean *ret_joined_uts, GError **error)
{
	gboolean private_uts = FALSE;
	gboolean joined_uts = FALSE;

	for (guint i = 0; i < cocoon_json_array_get_length(namespaces);) {
		CocoonJson *entry = cocoon_json_array_get(namespaces, i);
		const gchar *type;

		if (!cocoon_json_is_object(entry)) {
			g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
				    "linux.namespaces[%u] is not an object", i);
			return FALSE;
		}
		type = cocoon_json_object_get_string_member(entry, "type");
		if (type == NULL) {
			g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
				    "linux.namespaces[%u] has no type", i);
			return FALSE;
		}
		/* the guest's network is the pod's (the shim wires it): every container shares it
		 */
		if (g_strcmp0(type, "network") == 0) {
			cocoon_json_array_remove(namespaces, i);
			continue;
		}
		if (cocoon_json_object_has(entry, "path")) {
			if (!namespace_entry_join(entry, type, sandbox_pid, &joined_uts)) {
				cocoon_json_array_remove(namespaces, i);
				continue;
			}
		} else if (g_strcmp0(type, "uts") == 0) {
			private_uts = TRUE;
		}
		i++;
	}
	*ret_private_uts = private_uts;
	*ret_joined_uts = joined_uts;
	return TRUE;
}

/* the pod sandbox a CRI container names (annotation io.kubernetes.cri.sandbox-id), if a valid id */
static const gchar *
pod_sandbox_id(CocoonJson *root)
{
	CocoonJson *annotations = cocoon_json_object_get(root, "annotations");
	const gchar *id;

	if (annotations == NULL || !cocoon_json_is_object(annotations))
		return NULL;
	id = cocoon_json_object_get_string_member(annotations, POD_SANDBOX_ID_ANNOTATION);
	if (id == NULL || !cocoon_guest_validate_id("sandbox id", id, NULL))
		return NULL;
	return id;
}

/* the data options of a tmpfs mount ("mode=1777,size=65536k"), its flags left to the bind */
static gchar *
tmpfs_data_options(CocoonJson *options)
{
	g_autoptr(GString) data = g_string_new(NULL);

	for (guint i = 0;
	     cocoon_json_is_array(options) && i < cocoon_json_array_get_length(options); i++) {
		const gchar *option = cocoon_json_get_string(cocoon_json_array_get(options, i));
		if (option == NULL || strchr(option, '=') == NULL ||
		    (!g_str_has_prefix(option, "mode=") && !g_str_has_prefix(option, "size=")))
			continue;
		if (data->len > 0)
			g_string_append_c(data, ',');
		g_string_append(data, option);
	}
	return g_string_free(g_steal_pointer(&data), FALSE);
}

/*
 * the pod's /dev/shm: the tmpfs mount at /dev/shm becomes a bind of shm_dir. For the pod sandbox
 * (create = TRUE) the directory and the tmpfs options go to the spec for the agent to mount.
 */
static void
pod_shm_patch(CocoonGuestSpec *spec, CocoonJson *root, const gchar *shm_dir, gboolean create)
{
	CocoonJson *mounts = cocoon_json_object_get(root, "mounts");

	for (guint i = 0; cocoon_json_is_array(mounts) && i < cocoon_json_array_get_length(mounts);
	     i++) {
		CocoonJson *mount = cocoon_json_array_get(mounts, i);
		CocoonJson *options;
		const gchar *flags[] = {"rbind", "nosuid", "nodev", "noexec"};

		if (!cocoon_json_is_object(mount) ||
		    g_strcmp0(cocoon_json_object_get_string_member(mount, "destination"),
			      "/dev/shm") != 0 ||
		    g_strcmp0(cocoon_json_object_get_string_member(mount, "type"), "tmpfs") != 0)
			continue;
		if (create) {
			spec->pod_shm_dir = g_strdup(shm_dir);
			spec->pod_shm_options =
				tmpfs_data_options(cocoon_json_object_get(mount, "options"));
		}
		options = cocoon_json_new_array();
		for (guint j = 0; j < G_N_ELEMENTS(flags); j++)
			cocoon_json_array_append(options, cocoon_json_new_string(flags[j]));
		cocoon_json_object_set_string(mount, "type", "bind");
		cocoon_json_object_set_string(mount, "source", shm_dir);
		cocoon_json_object_set(mount, "options", options);
		return;
	}
}

/* whether the spec is a CRI pod's sandbox (pause) container */
static gboolean
is_pod_sandbox(CocoonJson *root)
{
	CocoonJson *annotations = cocoon_json_object_get(root, "annotations");

	if (annotations == NULL || !cocoon_json_is_object(annotations))
		return FALSE;
	return g_strcmp0(cocoon_json_object_get_string_member(annotations,
							      POD_CONTAINER_TYPE_ANNOTATION),
			 "sandbox") == 0;
}

/* the spec's object member name, added empty when it is missing; NULL when it is not an object */
static CocoonJson *
ensure_object_member(CocoonJson *root, const gchar *name, GError **error)
{
	CocoonJson *member = cocoon_json_object_get(root, name);

	if (member != NULL && !cocoon_json_is_object(member)) {
		g_set_error(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
			    "spec %s is not an object", name);
		return NULL;
	}
	if (member == NULL) {
		member = cocoon_json_new_object();
		cocoon_json_object_set(root, name, member);
	}
	return member;
}

/* the absolute sources of the bind mounts ("bind" type, or a bind/rbind option) */
static GPtrArray *
bind_sources_collect(CocoonJson *root)
{
	GPtrArray *sources = g_ptr_array_new_with_free_func(g_free);
	CocoonJson *mounts = cocoon_json_object_get(root, "mounts");

	if (!cocoon_json_is_array(mounts))
		return sources;
	for (guint i = 0; i < cocoon_json_array_get_length(mounts); i++) {
		CocoonJson *mount = cocoon_json_array_get(mounts, i);
		CocoonJson *options;
		const gchar *source;
		gboolean bind;

		if (!cocoon_json_is_object(mount))
			continue;
		source = cocoon_json_object_get_string_member(mount, "source");
		options = cocoon_json_object_get(mount, "options");
		bind = g_strcmp0(cocoon_json_object_get_string_member(mount, "type"), "bind") == 0;
		for (guint j = 0; !bind && cocoon_json_is_array(options) &&
				  j < cocoon_json_array_get_length(options);
		     j++) {
			const gchar *option =
				cocoon_json_get_string(cocoon_json_array_get(options, j));
			bind = g_strcmp0(option, "bind") == 0 || g_strcmp0(option, "rbind") == 0;
		}
		if (bind && source != NULL && g_path_is_absolute(source))
			g_ptr_array_add(sources, g_strdup(source));
	}
	return sources;
}

/**
 * cocoon_guest_spec_patch:
 *
 * translates the host's config.json for crun in the guest (see the header for the rules)
 */
CocoonGuestSpec *
cocoon_guest_spec_patch(const gchar *spec_json, gsize length, const gchar *container_id,
			const gchar *rootfs_path, gboolean terminal, CocoonGuestPodLookup lookup,
			gpointer lookup_data, GError **error)
{
	g_autoptr(CocoonJson) root = NULL;
	g_autoptr(CocoonGuestSpec) spec = g_new0(CocoonGuestSpec, 1);
	CocoonJson *process;
	CocoonJson *root_object;
	CocoonJson *linux_object;
	CocoonJson *namespaces;
	const gchar *cgroups_path;
	const gchar *sandbox_id;
	gboolean private_uts = FALSE;
	gboolean joined_uts = FALSE;
	gboolean is_sandbox;
	CocoonGuestPod pod = {0};

	root = parse_object("spec", spec_json, length, error);
	if (root == NULL)
		return NULL;
	/* a CRI container: the pod sandbox is itself, or a container the guest may run already */
	is_sandbox = is_pod_sandbox(root);
	sandbox_id = pod_sandbox_id(root);
	if (sandbox_id != NULL && !is_sandbox &&
	    (lookup == NULL || !lookup(sandbox_id, &pod, lookup_data)))
		sandbox_id = NULL;

	process = cocoon_json_object_get(root, "process");
	if (!cocoon_json_is_object(process)) {
		g_set_error_literal(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
				    "spec has no process object");
		return NULL;
	}
	process_strip_host_labels(process, terminal);

	root_object = ensure_object_member(root, "root", error);
	if (root_object == NULL)
		return NULL;
	cocoon_json_object_set_string(root_object, "path", rootfs_path);

	cocoon_json_object_remove(root, "hooks");

	linux_object = ensure_object_member(root, "linux", error);
	if (linux_object == NULL)
		return NULL;
	cocoon_json_object_remove(linux_object, "mountLabel");
	namespaces = cocoon_json_object_get(linux_object, "namespaces");
	if (namespaces != NULL) {
		if (!cocoon_json_is_array(namespaces)) {
			g_set_error_literal(error, COCOON_GUEST_SPEC_ERROR,
					    COCOON_GUEST_SPEC_ERROR_INVALID,
					    "linux.namespaces is not an array");
			return NULL;
		}
		if (!namespaces_patch(namespaces, pod.sandbox_pid, &private_uts, &joined_uts,
				      error))
			return NULL;
	}
	if (sandbox_id != NULL && is_sandbox) {
		g_autofree gchar *shm_dir =
			g_build_filename(COCOON_GUEST_POD_DIR, container_id, "shm", NULL);
		pod_shm_patch(spec, root, shm_dir, TRUE);
	} else if (sandbox_id != NULL && pod.shm_dir != NULL) {
		pod_shm_patch(spec, root, pod.shm_dir, FALSE);
	}

	/* crun refuses a hostname without a private uts namespace: it becomes the guest's; one
	 * that joins its pod's has the pod's already */
	if (joined_uts) {
		cocoon_json_object_remove(root, "hostname");
		cocoon_json_object_remove(root, "domainname");
	} else if (!private_uts) {
		const gchar *hostname = cocoon_json_object_get_string_member(root, "hostname");
		if (hostname != NULL && hostname[0] != '\0')
			spec->guest_hostname = g_strdup(hostname);
		cocoon_json_object_remove(root, "hostname");
		cocoon_json_object_remove(root, "domainname");
	} else if (is_sandbox) {
		/* the pod's other containers join the sandbox's uts namespace by a host path, which
		 * goes above: they share the guest's, so the pod's hostname is the guest's too */
		const gchar *hostname = cocoon_json_object_get_string_member(root, "hostname");
		if (hostname != NULL && hostname[0] != '\0')
			spec->guest_hostname = g_strdup(hostname);
	}

	cgroups_path = cocoon_json_object_get_string_member(linux_object, "cgroupsPath");
	if (cocoon_guest_cgroups_path_is_valid(cgroups_path))
		spec->cgroups_path = g_strdup(cgroups_path);
	else
		spec->cgroups_path = g_strdup_printf("/cocoon/%s", container_id);
	cocoon_json_object_set_string(linux_object, "cgroupsPath", spec->cgroups_path);

	spec->bind_sources = bind_sources_collect(root);
	spec->config_json = cocoon_json_to_string(root, FALSE);
	return g_steal_pointer(&spec);
}

/**
 * cocoon_guest_process_patch:
 *
 * the process.json for `crun exec --process`
 */
gchar *
cocoon_guest_process_patch(const gchar *process_json, gsize length, gboolean terminal,
			   GError **error)
{
	g_autoptr(CocoonJson) process = parse_object("process", process_json, length, error);

	if (process == NULL)
		return NULL;
	if (!cocoon_json_is_array(cocoon_json_object_get(process, "args")) ||
	    cocoon_json_array_get_length(cocoon_json_object_get(process, "args")) == 0) {
		g_set_error_literal(error, COCOON_GUEST_SPEC_ERROR, COCOON_GUEST_SPEC_ERROR_INVALID,
				    "process has no args");
		return NULL;
	}
	process_strip_host_labels(process, terminal);
	return cocoon_json_to_string(process, FALSE);
}
