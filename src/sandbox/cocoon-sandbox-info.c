/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-sandbox-info.h"

CocoonProcessInfo *
cocoon_process_info_new(void)
{
	return g_new0(CocoonProcessInfo, 1);
}

void
cocoon_process_info_free(CocoonProcessInfo *info)
{
	if (info == NULL)
		return;
	g_free(info->exec_id);
	g_free(info);
}

CocoonContainerInfo *
cocoon_container_info_new(void)
{
	CocoonContainerInfo *info = g_new0(CocoonContainerInfo, 1);
	info->execs = g_ptr_array_new_with_free_func((GDestroyNotify)cocoon_process_info_free);
	return info;
}

void
cocoon_container_info_free(CocoonContainerInfo *info)
{
	if (info == NULL)
		return;
	g_free(info->id);
	g_free(info->bundle);
	g_free(info->container_type);
	cocoon_process_info_free(info->init);
	g_ptr_array_unref(info->execs);
	g_free(info);
}

CocoonSandboxInfo *
cocoon_sandbox_info_new(const gchar *id)
{
	CocoonSandboxInfo *info = g_atomic_rc_box_new0(CocoonSandboxInfo);
	info->id = g_strdup(id);
	info->containers =
		g_ptr_array_new_with_free_func((GDestroyNotify)cocoon_container_info_free);
	return info;
}

CocoonSandboxInfo *
cocoon_sandbox_info_ref(CocoonSandboxInfo *info)
{
	return g_atomic_rc_box_acquire(info);
}

static void
sandbox_info_clear(CocoonSandboxInfo *info)
{
	g_free(info->id);
	g_ptr_array_unref(info->containers);
}

void
cocoon_sandbox_info_unref(CocoonSandboxInfo *info)
{
	if (info != NULL)
		g_atomic_rc_box_release_full(info, (GDestroyNotify)sandbox_info_clear);
}
