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

void
cocoon_runtime_init(CocoonRuntime *runtime)
{
	g_mutex_init(&runtime->lock);
	runtime->containers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						    (GDestroyNotify)cocoon_sandbox_unref);
	runtime->sandboxes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						   (GDestroyNotify)cocoon_sandbox_unref);
	runtime->infos = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					       (GDestroyNotify)cocoon_sandbox_info_unref);
}

void
cocoon_runtime_clear(CocoonRuntime *runtime)
{
	g_clear_pointer(&runtime->containers, g_hash_table_unref);
	g_clear_pointer(&runtime->sandboxes, g_hash_table_unref);
	g_clear_pointer(&runtime->infos, g_hash_table_unref);
	g_mutex_clear(&runtime->lock);
}

typedef struct {
	CocoonRuntime *runtime;
	CocoonSandboxInfo *info;
} InfoWork;

static gboolean
info_deliver(gpointer data)
{
	InfoWork *work = data;
	if (work->runtime->observer != NULL)
		work->runtime->observer(work->info, work->runtime->observer_data);
	return G_SOURCE_REMOVE;
}

static void
info_work_free(InfoWork *work)
{
	cocoon_sandbox_info_unref(work->info);
	g_free(work);
}

void
cocoon_runtime_publish_info(CocoonRuntime *runtime, CocoonSandboxInfo *info)
{
	InfoWork *work;
	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&runtime->lock);
		g_hash_table_replace(runtime->infos, g_strdup(info->id),
				     cocoon_sandbox_info_ref(info));
	}
	if (runtime->observer == NULL || runtime->main_context == NULL)
		return;
	work = g_new0(InfoWork, 1);
	work->runtime = runtime;
	work->info = cocoon_sandbox_info_ref(info);
	g_main_context_invoke_full(runtime->main_context, G_PRIORITY_DEFAULT, info_deliver, work,
				   (GDestroyNotify)info_work_free);
}

GPtrArray *
cocoon_runtime_list_infos(CocoonRuntime *runtime)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&runtime->lock);
	GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)cocoon_sandbox_info_unref);
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, runtime->infos);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		g_ptr_array_add(list, cocoon_sandbox_info_ref(value));
	return list;
}
