/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-runtime"

#include "config.h"

#include "cocoon-runtime.h"

#include "cocoon-sandbox.h"

CocoonSandbox *
cocoon_runtime_lookup_container(CocoonRuntime *runtime, const gchar *container_id)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&runtime->lock);
	CocoonSandbox *sandbox = g_hash_table_lookup(runtime->containers, container_id);
	return sandbox != NULL ? cocoon_sandbox_ref(sandbox) : NULL;
}

CocoonSandbox *
cocoon_runtime_ensure_sandbox(CocoonRuntime *runtime, const gchar *sandbox_id)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&runtime->lock);
	CocoonSandbox *sandbox = g_hash_table_lookup(runtime->sandboxes, sandbox_id);
	if (sandbox == NULL) {
		sandbox = cocoon_sandbox_new(runtime, sandbox_id);
		g_hash_table_insert(runtime->sandboxes, g_strdup(sandbox_id), sandbox);
	}
	return cocoon_sandbox_ref(sandbox);
}

gboolean
cocoon_runtime_claim_container(CocoonRuntime *runtime, const gchar *container_id,
			       CocoonSandbox *sandbox)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&runtime->lock);
	if (g_hash_table_contains(runtime->containers, container_id))
		return FALSE;
	g_hash_table_insert(runtime->containers, g_strdup(container_id),
			    cocoon_sandbox_ref(sandbox));
	return TRUE;
}

void
cocoon_runtime_release_container(CocoonRuntime *runtime, const gchar *container_id)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&runtime->lock);
	g_hash_table_remove(runtime->containers, container_id);
}

guint
cocoon_runtime_count_containers(CocoonRuntime *runtime)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&runtime->lock);
	return g_hash_table_size(runtime->containers);
}
