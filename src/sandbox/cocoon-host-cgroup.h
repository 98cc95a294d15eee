/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The host cgroup a pod's VM lives in: QEMU and virtiofsd join the cgroup the pod's sandbox
 * container names in linux.cgroupsPath, as runc's pause process would, so that the kubelet's pod
 * cgroup accounts for the VM and its limits bound it (docs/kubernetes.md).
 *
 * Every mounted hierarchy counts: cgroup v2, every v1 hierarchy (cpu, memory, pids, ... and
 * name=systemd) and the hybrid layout's unified one. The path's missing directories are made
 * (a v1 cpuset gets its parent's cpus and mems) and removed again, deepest first, by
 * cocoon_host_cgroup_free() once the processes are gone; directories that were there are left.
 */
typedef struct _CocoonHostCgroup CocoonHostCgroup;

/*
 * the cgroupfs path of an OCI linux.cgroupsPath: an absolute path as it is ("/kubepods/pod1/c1");
 * systemd's "slice:prefix:name" as runc's systemd driver places it
 * ("kubepods-pod1.slice:cri-containerd:c1" -> "/kubepods.slice/kubepods-pod1.slice/
 * cri-containerd-c1.scope"). A relative path, "." or ".." components or a bad slice are errors.
 */
gchar *cocoon_host_cgroup_resolve_path(const gchar *cgroups_path, GError **error);

/* the mount points of this host's cgroup hierarchies (from /proc/self/mountinfo) */
GStrv cocoon_host_cgroup_hierarchies(GError **error);

/* the cgroup at path (cocoon_host_cgroup_resolve_path()) in each hierarchy, made where missing */
CocoonHostCgroup *cocoon_host_cgroup_new(const gchar *const *hierarchies, const gchar *path,
					 GError **error);

/* moves the process (all its threads) into the cgroup in every hierarchy */
gboolean cocoon_host_cgroup_add_process(CocoonHostCgroup *cgroup, GPid pid, GError **error);

/*
 * after a shim died: removes the (empty) cgroup at path in every hierarchy, only its last level
 * (the parents may be the kubelet's); errors are ignored
 */
void cocoon_host_cgroup_remove_leaf(const gchar *cgroups_path);

const gchar *cocoon_host_cgroup_get_path(CocoonHostCgroup *cgroup);

/* removes the directories it made (empty ones only); the processes must be gone */
void cocoon_host_cgroup_free(CocoonHostCgroup *cgroup);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonHostCgroup, cocoon_host_cgroup_free)

G_END_DECLS
