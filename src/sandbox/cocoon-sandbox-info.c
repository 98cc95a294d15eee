/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-sandbox-info.h"

#include "cocoon-rc.h"

CocoonProcessInfo *
cocoon_process_info_new(void)
{
	return g_new0(CocoonProcessInfo, 1);
}

CocoonContainerInfo *
cocoon_container_info_new(void)
{
	CocoonContainerInfo *info = g_new0(CocoonContainerInfo, 1);
	info->execs = g_ptr_array_new_with_free_func(g_free);
	return info;
}

void
cocoon_container_info_free(CocoonContainerInfo *info)
{
	if (info == NULL)
		return;
	g_free(info->init);
	g_ptr_array_unref(info->execs);
	g_free(info);
}

CocoonSandboxInfo *
cocoon_sandbox_info_new(const gchar *id)
{
	CocoonSandboxInfo *info = g_atomic_rc_box_new0(CocoonSandboxInfo);
	info->strings = g_string_chunk_new(256);
	info->id = cocoon_sandbox_info_intern(info, id);
	info->containers =
		g_ptr_array_new_with_free_func((GDestroyNotify)cocoon_container_info_free);
	return info;
}

static void
sandbox_info_clear(CocoonSandboxInfo *info)
{
	g_ptr_array_unref(info->containers);
	g_string_chunk_free(info->strings);
}

COCOON_DEFINE_ATOMIC_RC(CocoonSandboxInfo, cocoon_sandbox_info, sandbox_info_clear)

/* a copy of string (NULL: NULL) that lives as long as the snapshot, for building it */
const gchar *
cocoon_sandbox_info_intern(CocoonSandboxInfo *info, const gchar *string)
{
	return string != NULL ? g_string_chunk_insert_const(info->strings, string) : NULL;
}
