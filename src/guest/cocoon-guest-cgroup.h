/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <sys/types.h>

#include <glib.h>

#include "cgroups-v2-metrics.pb-c.h"

G_BEGIN_DECLS

/* cgroup2 files of one cgroup directory: reading stats, freezing, killing. Blocking but local. */

/* reads a (small) cgroupfs or procfs file; at most 1 MiB */
gchar *cocoon_guest_read_small_file(const gchar *path, GError **error);

/*
 * the metrics of the cgroup in dir, as containerd's cgroups v2 manager reports them: missing files
 * leave their fields 0, "max" limits read as G_MAXUINT64 (memory) or 0 (pids)
 */
typedef struct _CocoonGuestCgroupMetrics CocoonGuestCgroupMetrics;

CocoonGuestCgroupMetrics *cocoon_guest_cgroup_metrics_read(const gchar *dir, GError **error);
/* borrowed, valid until the metrics are freed */
const Io__Containerd__Cgroups__V2__Metrics *
cocoon_guest_cgroup_metrics_get(const CocoonGuestCgroupMetrics *metrics);
void cocoon_guest_cgroup_metrics_free(CocoonGuestCgroupMetrics *metrics);

/* the value of key in a flat-keyed file ("key value" lines, e.g. memory.events) */
gboolean cocoon_guest_cgroup_read_key(const gchar *dir, const gchar *file, const gchar *key,
				      guint64 *ret_value, GError **error);

/* pids in cgroup.procs */
GArray *cocoon_guest_cgroup_read_procs(const gchar *dir, GError **error);

/*
 * live tasks (cgroup.threads) and the tasks charged (pids.current, with exiting and unreaped ones);
 * fails without the pids controller
 */
gboolean cocoon_guest_cgroup_count_tasks(const gchar *dir, guint64 *ret_live, guint64 *ret_charged,
					 GError **error);

/* cgroup.freeze */
gboolean cocoon_guest_cgroup_freeze(const gchar *dir, gboolean frozen, GError **error);

/* SIGKILL: cgroup.kill when the kernel has it; other signals (and older kernels): every pid */
gboolean cocoon_guest_cgroup_signal(const gchar *dir, int signal_number, GError **error);

/* turns on every controller of names the root offers in root's cgroup.subtree_control */
void cocoon_guest_cgroup_enable_controllers(const gchar *root, const gchar *const *names);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonGuestCgroupMetrics, cocoon_guest_cgroup_metrics_free)

G_END_DECLS
