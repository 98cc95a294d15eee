/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-runtime"

#include "config.h"

#include "cocoon-runtime.h"

#include "cocoon-sandbox.h"

typedef struct {
	guint id;
	CocoonSandboxInfoFunc func;
	gpointer user_data;
} InfoSubscriber;

struct _CocoonRuntime {
	CocoonConfig *config;
	gchar *namespace_;
	GMainContext *main_context;
	CocoonEventBus *events;

	GMutex lock;
	GHashTable *containers;	  /* container id → CocoonSandbox (ref) */
	GHashTable *sandboxes;	  /* sandbox id → CocoonSandbox (ref) */
	GHashTable *infos;	  /* sandbox id → latest CocoonSandboxInfo */
	GArray *info_subscribers; /* InfoSubscriber */
	guint next_subscriber_id;
};

CocoonConfig *
cocoon_runtime_get_config(CocoonRuntime *runtime)
{
	return runtime->config;
}

const gchar *
cocoon_runtime_get_namespace(CocoonRuntime *runtime)
{
	return runtime->namespace_;
}

GMainContext *
cocoon_runtime_get_main_context(CocoonRuntime *runtime)
{
	return runtime->main_context;
}

CocoonEventBus *
cocoon_runtime_get_event_bus(CocoonRuntime *runtime)
{
	return runtime->events;
}

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

/* the values of one of the tables, each with a new reference */
static GPtrArray *
list_values(CocoonRuntime *runtime, GHashTable *table, GBoxedCopyFunc ref, GDestroyNotify unref)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&runtime->lock);
	GPtrArray *list = g_ptr_array_new_with_free_func(unref);
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, table);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		g_ptr_array_add(list, ref(value));
	return list;
}

GPtrArray *
cocoon_runtime_list_sandboxes(CocoonRuntime *runtime)
{
	return list_values(runtime, runtime->sandboxes, (GBoxedCopyFunc)cocoon_sandbox_ref,
			   (GDestroyNotify)cocoon_sandbox_unref);
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

typedef struct {
	CocoonRuntime *runtime;
	CocoonSandboxInfo *info;
} InfoWork;

/* on the main context, where subscribers come and go: those of this moment get it */
static gboolean
info_deliver(gpointer data)
{
	InfoWork *work = data;
	g_autoptr(GArray) subscribers = NULL;
	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&work->runtime->lock);
		subscribers = g_array_copy(work->runtime->info_subscribers);
	}
	for (guint i = 0; i < subscribers->len; i++) {
		const InfoSubscriber *subscriber = &g_array_index(subscribers, InfoSubscriber, i);
		subscriber->func(work->info, subscriber->user_data);
	}
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
	g_autoptr(GSource) source = NULL;
	InfoWork *work;
	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&runtime->lock);
		g_hash_table_replace(runtime->infos, g_strdup(info->id),
				     cocoon_sandbox_info_ref(info));
		if (runtime->info_subscribers->len == 0)
			return;
	}
	work = g_new0(InfoWork, 1);
	work->runtime = runtime;
	work->info = cocoon_sandbox_info_ref(info);
	/* always queued, in order: not run here even when this thread could take the main context
	 */
	source = g_idle_source_new();
	g_source_set_priority(source, G_PRIORITY_DEFAULT);
	g_source_set_callback(source, info_deliver, work, (GDestroyNotify)info_work_free);
	g_source_attach(source, runtime->main_context);
}

GPtrArray *
cocoon_runtime_list_infos(CocoonRuntime *runtime)
{
	return list_values(runtime, runtime->infos, (GBoxedCopyFunc)cocoon_sandbox_info_ref,
			   (GDestroyNotify)cocoon_sandbox_info_unref);
}

/**
 * cocoon_runtime_subscribe_infos:
 * @func: called on the main context with every snapshot published from now on
 *
 * Call on the main context. Returns: an id for cocoon_runtime_unsubscribe_infos()
 */
guint
cocoon_runtime_subscribe_infos(CocoonRuntime *runtime, CocoonSandboxInfoFunc func,
			       gpointer user_data)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&runtime->lock);
	InfoSubscriber subscriber = {
		.id = ++runtime->next_subscriber_id, .func = func, .user_data = user_data};
	g_array_append_val(runtime->info_subscribers, subscriber);
	return subscriber.id;
}

void
cocoon_runtime_unsubscribe_infos(CocoonRuntime *runtime, guint id)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&runtime->lock);
	for (guint i = 0; i < runtime->info_subscribers->len; i++) {
		if (g_array_index(runtime->info_subscribers, InfoSubscriber, i).id == id) {
			g_array_remove_index(runtime->info_subscribers, i);
			break;
		}
	}
}

/**
 * cocoon_runtime_new:
 * @config: (transfer full): the shim's configuration
 * @namespace_: the containerd namespace
 * @main_context: where snapshot subscribers are called (NULL: the default context)
 */
CocoonRuntime *
cocoon_runtime_new(CocoonConfig *config, const gchar *namespace_, GMainContext *main_context)
{
	CocoonRuntime *runtime = g_new0(CocoonRuntime, 1);
	runtime->config = config;
	runtime->namespace_ = g_strdup(namespace_);
	runtime->main_context =
		g_main_context_ref(main_context != NULL ? main_context : g_main_context_default());
	runtime->events = cocoon_event_bus_new();
	g_mutex_init(&runtime->lock);
	runtime->containers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						    (GDestroyNotify)cocoon_sandbox_unref);
	runtime->sandboxes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						   (GDestroyNotify)cocoon_sandbox_unref);
	runtime->infos = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					       (GDestroyNotify)cocoon_sandbox_info_unref);
	runtime->info_subscribers = g_array_new(FALSE, FALSE, sizeof(InfoSubscriber));
	return runtime;
}

void
cocoon_runtime_free(CocoonRuntime *runtime)
{
	if (runtime == NULL)
		return;
	g_hash_table_unref(runtime->containers);
	g_hash_table_unref(runtime->sandboxes);
	g_hash_table_unref(runtime->infos);
	g_array_unref(runtime->info_subscribers);
	g_mutex_clear(&runtime->lock);
	cocoon_event_bus_free(runtime->events);
	g_main_context_unref(runtime->main_context);
	cocoon_config_free(runtime->config);
	g_free(runtime->namespace_);
	g_free(runtime);
}
