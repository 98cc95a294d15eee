/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-sandbox-snapshot.h"

static const gchar *
status_name(Containerd__V1__Types__Status status)
{
	switch (status) {
	case CONTAINERD__V1__TYPES__STATUS__CREATED:
		return "created";
	case CONTAINERD__V1__TYPES__STATUS__RUNNING:
		return "running";
	case CONTAINERD__V1__TYPES__STATUS__STOPPED:
		return "stopped";
	case CONTAINERD__V1__TYPES__STATUS__PAUSED:
		return "paused";
	case CONTAINERD__V1__TYPES__STATUS__PAUSING:
		return "pausing";
	default:
		return "unknown";
	}
}

static CocoonProcessInfo *
process_info(CocoonSandboxInfo *snapshot, CocoonProcess *process)
{
	CocoonProcessInfo *info = cocoon_process_info_new();
	info->exec_id = cocoon_sandbox_info_intern(snapshot, process->exec_id);
	info->pid = process->pid;
	info->status = status_name(process->status);
	info->exit_status = process->exit_status;
	info->exited_at_us = process->exited_at_us;
	return info;
}

/* on the worker, after every change: a new snapshot for D-Bus and cocoonctl */
void
cocoon_sandbox_notify(CocoonSandbox *sandbox)
{
	g_autoptr(CocoonSandboxInfo) info = cocoon_sandbox_info_new(sandbox->id);
	GHashTableIter iter;
	gpointer value;

	cocoon_pod_vm_fill_info(sandbox->vm, info);
	g_hash_table_iter_init(&iter, sandbox->containers);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		CocoonContainer *container = value;
		CocoonContainerInfo *cinfo = cocoon_container_info_new();
		GHashTableIter exec_iter;
		gpointer exec;
		cinfo->id = cocoon_sandbox_info_intern(info, container->id);
		cinfo->bundle = cocoon_sandbox_info_intern(info, container->bundle);
		cinfo->container_type = cocoon_sandbox_info_intern(
			info, container->container_type != NULL ? container->container_type : "");
		if (container->init != NULL)
			cinfo->init = process_info(info, container->init);
		g_hash_table_iter_init(&exec_iter, container->execs);
		while (g_hash_table_iter_next(&exec_iter, NULL, &exec))
			g_ptr_array_add(cinfo->execs, process_info(info, exec));
		g_ptr_array_add(info->containers, cinfo);
	}
	cocoon_runtime_publish_info(sandbox->runtime, info);
}
