/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-config.h"
#include "cocoon-json.h"

G_BEGIN_DECLS

/*
 * How big a pod's VM is (docs/kubernetes.md): the configured base (hypervisor.vcpus, memory_mib)
 * plus what the pod asks for, as Kata sizes its VMs:
 *   vCPUs  = base + ceil(cpu quota / period)
 *   memory = base + ceil(memory limit / 1 MiB)
 * The ask is the CRI sandbox sizing annotations on the sandbox container
 * (io.kubernetes.cri.sandbox-cpu-quota, -cpu-period, -memory-limit; containerd >= 1.7), else the
 * container's own linux.resources (ctr run --cpus/--memory-limit, a pod's first container).
 * No I/O.
 */
typedef struct {
	guint vcpus;
	guint memory_mib;
	/* what was asked beyond the base, for messages: 0 = nothing */
	guint ask_vcpus;
	guint ask_memory_mib;
} CocoonPodSize;

/*
 * the size the spec asks for; an ask above hypervisor.max_vcpus / max_memory_mib is an error
 * naming the pod, the container, the ask and the maximum
 */
gboolean cocoon_pod_size_from_spec(CocoonJson *spec, const CocoonConfig *config,
				   const gchar *sandbox_id, const gchar *container_id,
				   CocoonPodSize *ret_size, GError **error);

G_END_DECLS
