/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cgroups-v1-metrics.pb-c.h"
#include "cgroups-v2-metrics.pb-c.h"

G_BEGIN_DECLS

/*
 * The guest always has cgroup v2; containerd wants the metrics type of the *host's* cgroup mode
 * (its Prometheus collector and CRI decode v1 on v1 hosts). These build the Any value to answer
 * Stats with; pure code.
 */
typedef enum {
	COCOON_CGROUP_MODE_V1,
	COCOON_CGROUP_MODE_V2,
} CocoonCgroupMode;

/* statfs(/sys/fs/cgroup): cgroup2 → V2, anything else → V1 */
CocoonCgroupMode cocoon_host_cgroup_mode(void);

/*
 * drops the fields the guest sent that cocoon does not know, in metrics and every sub-message
 * (unpacked with the default allocator): v2 metrics are passed on to containerd, and protobuf-c
 * would pack such fields again, including ones neither it nor containerd read back (field 0)
 */
void cocoon_metrics_drop_unknown_fields(Io__Containerd__Cgroups__V2__Metrics *metrics);

/* returns the type URL; ret_value is the packed message (v2 as is, or converted to v1) */
const gchar *cocoon_metrics_pack(const Io__Containerd__Cgroups__V2__Metrics *metrics,
				 CocoonCgroupMode mode, GBytes **ret_value);

/* v2 → v1, with memory.usage and cpu.usage always present (ctr dereferences them) */
Io__Containerd__Cgroups__V1__Metrics *
cocoon_metrics_v2_to_v1(const Io__Containerd__Cgroups__V2__Metrics *metrics);
void cocoon_metrics_v1_free(Io__Containerd__Cgroups__V1__Metrics *metrics);

G_END_DECLS
