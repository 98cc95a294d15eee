/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * pure helpers of cocoon-agent: id and path validation, and the translation of the host's OCI spec
 * into one crun can run inside the guest. No I/O except the realpath check of the rootfs.
 */

#define COCOON_GUEST_SPEC_ERROR (cocoon_guest_spec_error_quark())
GQuark cocoon_guest_spec_error_quark(void);

typedef enum {
	/* the request is wrong (maps to INVALID_ARGUMENT) */
	COCOON_GUEST_SPEC_ERROR_INVALID,
} CocoonGuestSpecError;

/* longest container or exec id */
#define COCOON_GUEST_ID_MAX 128

/* ids: 1..128 of [A-Za-z0-9_.-], not starting with '.' or '-'; kind names the id in the error */
gboolean cocoon_guest_validate_id(const gchar *kind, const gchar *id, GError **error);

/*
 * rootfs is relative to share_root: no absolute path, no ".." or empty component; its realpath must
 * be a directory under share_root's realpath (a symlink may not lead out). Returns the realpath.
 */
gchar *cocoon_guest_resolve_rootfs(const gchar *share_root, const gchar *rootfs, GError **error);

/* a cgroups path crun may use in the guest: absolute, no ':' (systemd notation), no "." or ".." */
gboolean cocoon_guest_cgroups_path_is_valid(const gchar *path);

typedef struct {
	/* the config.json to write into the bundle */
	gchar *config_json;
	/* the container's cgroup, absolute below the cgroup2 root ("/cocoon/<id>") */
	gchar *cgroups_path;
	/* a hostname the spec asked for that must be set on the guest (the uts namespace is shared)
	 */
	gchar *guest_hostname;
	/* gchar *: the absolute sources of the spec's bind mounts, in spec order */
	GPtrArray *bind_sources;
	/* a CRI pod sandbox's: the pod's /dev/shm to mount (tmpfs) before crun create, NULL if none
	 */
	gchar *pod_shm_dir;
	/* the tmpfs data options for pod_shm_dir ("mode=1777,size=65536k") */
	gchar *pod_shm_options;
} CocoonGuestSpec;

/* where the agent keeps a CRI pod's shared state: <dir>/<sandbox id>/shm */
#define COCOON_GUEST_POD_DIR "/run/cocoon-pods"

/* the pod a CRI app container belongs to, as the agent knows it */
typedef struct {
	/* the guest pid of the pod sandbox container's init, 0 when it is not running */
	gint sandbox_pid;
	/* the pod's /dev/shm (the sandbox container's pod_shm_dir), NULL when there is none */
	const gchar *shm_dir;
} CocoonGuestPod;

/* finds the pod sandbox container sandbox_id; FALSE when the guest has no such container */
typedef gboolean (*CocoonGuestPodLookup)(const gchar *sandbox_id, CocoonGuestPod *ret_pod,
					 gpointer user_data);

void cocoon_guest_spec_free(CocoonGuestSpec *spec);

/*
 * rewrites a host OCI spec for the guest:
 * - root.path = rootfs_path; process.terminal = terminal
 * - linux.namespaces: a CRI app container (annotation io.kubernetes.cri.sandbox-id) whose pod
 *   sandbox container runs in the guest (lookup) joins that container's ipc, uts and pid
 *   namespaces where the host spec joins the sandbox's by a path: the path becomes
 *   /proc/<guest pid>/ns/<type>. Any other entry with a path (joining a host namespace) is
 *   dropped, so the container shares the guest's namespace; a mount namespace keeps its entry
 *   without the path; the network entry goes with or without a path (the guest's network is the
 *   pod's). Without a private uts namespace of its own the hostname moves to guest_hostname; a
 *   CRI pod sandbox (annotation io.kubernetes.cri.container-type=sandbox) with one keeps its
 *   hostname and also gives it to guest_hostname.
 * - /dev/shm (a tmpfs, as the shim made it): a CRI pod sandbox's becomes a bind of
 *   COCOON_GUEST_POD_DIR/<id>/shm (pod_shm_dir, which the agent mounts), and its app containers
 *   bind the same directory, so the pod has one /dev/shm as under runc
 * - hooks, process.apparmorProfile, process.selinuxLabel, linux.mountLabel are removed
 * - linux.cgroupsPath is kept when valid for the guest, else "/cocoon/<container_id>"
 * - the absolute sources of bind mounts are listed in bind_sources
 */
CocoonGuestSpec *cocoon_guest_spec_patch(const gchar *spec_json, gsize length,
					 const gchar *container_id, const gchar *rootfs_path,
					 gboolean terminal, CocoonGuestPodLookup lookup,
					 gpointer lookup_data, GError **error);

/* rewrites an OCI process object for `crun exec --process`: terminal set, host-only labels removed
 */
gchar *cocoon_guest_process_patch(const gchar *process_json, gsize length, gboolean terminal,
				  GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonGuestSpec, cocoon_guest_spec_free)

G_END_DECLS
