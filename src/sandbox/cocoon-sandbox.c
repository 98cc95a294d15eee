/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-sandbox"

#include "config.h"

#include "cocoon-sandbox.h"

#include <gio/gio.h>

#include "cocoon-metrics.h"
#include "cocoon-process.h"
#include "cocoon-rc.h"
#include "cocoon-sandbox-private.h"
#include "cocoon-sandbox-snapshot.h"
#include "cocoon-sandbox-task.h"

/*
 * The worker: one thread per pod with its own GMainContext; every Task request for the pod is
 * queued here and runs in order (the handlers: cocoon-sandbox-task*.c).
 */

typedef struct {
	CocoonSandbox *sandbox;
	CocoonSandboxTaskFunc func;
	CocoonTtrpcCall *call;
	ProtobufCMessage *request;
} TaskWork;

/* ---------------------------------------------------------------- worker */

static gboolean
task_work_run(gpointer data)
{
	TaskWork *work = data;
	work->func(work->sandbox, g_steal_pointer(&work->call), work->request);
	/* read-only requests change nothing worth a snapshot */
	if (work->func != cocoon_sandbox_task_state && work->func != cocoon_sandbox_task_wait &&
	    work->func != cocoon_sandbox_task_connect && work->func != cocoon_sandbox_task_stats &&
	    work->func != cocoon_sandbox_task_pids)
		cocoon_sandbox_notify(work->sandbox);
	return G_SOURCE_REMOVE;
}

static void
task_work_free(TaskWork *work)
{
	if (work->call != NULL)
		cocoon_ttrpc_call_return_error(work->call, COCOON_TTRPC_UNAVAILABLE,
					       "sandbox %s is shutting down: unavailable",
					       work->sandbox->id);
	protobuf_c_message_free_unpacked(work->request, NULL);
	cocoon_sandbox_unref(work->sandbox);
	g_free(work);
}

void
cocoon_sandbox_queue(CocoonSandbox *sandbox, CocoonSandboxTaskFunc func, CocoonTtrpcCall *call,
		     ProtobufCMessage *request)
{
	TaskWork *work = g_new0(TaskWork, 1);
	work->sandbox = cocoon_sandbox_ref(sandbox);
	work->func = func;
	work->call = call;
	work->request = request;
	g_main_context_invoke_full(sandbox->context, G_PRIORITY_DEFAULT, task_work_run, work,
				   (GDestroyNotify)task_work_free);
}

static gpointer
sandbox_thread(gpointer data)
{
	CocoonSandbox *sandbox = data;
	g_main_context_push_thread_default(sandbox->context);
	g_main_loop_run(sandbox->loop);
	/* shutting down: every container goes, then the VM */
	{
		GHashTableIter iter;
		gpointer value;
		g_hash_table_iter_init(&iter, sandbox->containers);
		while (g_hash_table_iter_next(&iter, NULL, &value))
			cocoon_container_teardown(sandbox, value);
		cocoon_pod_vm_stop(sandbox->vm);
		g_mutex_lock(&sandbox->state_lock);
		g_hash_table_remove_all(sandbox->containers);
		g_mutex_unlock(&sandbox->state_lock);
	}
	/* run what is still queued so every call is answered */
	while (g_main_context_iteration(sandbox->context, FALSE))
		;
	g_main_context_pop_thread_default(sandbox->context);
	return NULL;
}

static gboolean
sandbox_quit(gpointer data)
{
	CocoonSandbox *sandbox = data;
	g_main_loop_quit(sandbox->loop);
	return G_SOURCE_REMOVE;
}

void
cocoon_sandbox_stop(CocoonSandbox *sandbox)
{
	if (sandbox->thread == NULL)
		return;
	g_main_context_invoke(sandbox->context, sandbox_quit, sandbox);
	g_thread_join(g_steal_pointer(&sandbox->thread));
}

CocoonSandbox *
cocoon_sandbox_new(CocoonRuntime *runtime, const gchar *id)
{
	CocoonSandbox *sandbox = g_atomic_rc_box_new0(CocoonSandbox);
	g_autofree gchar *thread_name = g_strdup_printf("sandbox-%.8s", id);
	sandbox->runtime = runtime;
	sandbox->id = g_strdup(id);
	sandbox->state_dir =
		g_build_filename(cocoon_runtime_get_config(runtime)->state_dir, id, NULL);
	sandbox->shared_dir = g_build_filename(sandbox->state_dir, "shared", NULL);
	sandbox->cgroup_mode = cocoon_host_cgroup_mode();
	sandbox->context = g_main_context_new();
	sandbox->loop = g_main_loop_new(sandbox->context, FALSE);
	g_mutex_init(&sandbox->state_lock);
	sandbox->containers = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
						    (GDestroyNotify)cocoon_container_free);
	sandbox->thread = g_thread_new(thread_name, sandbox_thread, sandbox);
	return sandbox;
}

static void
sandbox_clear(CocoonSandbox *sandbox)
{
	cocoon_sandbox_stop(sandbox);
	g_hash_table_unref(sandbox->containers);
	cocoon_pod_vm_free(sandbox->vm);
	cocoon_config_free(sandbox->config);
	cocoon_share_free(sandbox->share);
	g_main_loop_unref(sandbox->loop);
	g_main_context_unref(sandbox->context);
	g_mutex_clear(&sandbox->state_lock);
	g_free(sandbox->id);
	g_free(sandbox->state_dir);
	g_free(sandbox->shared_dir);
	g_free(sandbox->host_cgroup_path);
}

COCOON_DEFINE_ATOMIC_RC(CocoonSandbox, cocoon_sandbox, sandbox_clear)

const gchar *
cocoon_sandbox_get_id(CocoonSandbox *sandbox)
{
	return sandbox->id;
}
