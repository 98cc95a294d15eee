/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-config.h"
#include "cocoon-event-bus.h"
#include "cocoon-sandbox-info.h"

G_BEGIN_DECLS

typedef struct _CocoonSandbox CocoonSandbox;

/*
 * What one shim process shares between its threads: the configuration, the namespace, the main
 * context and the event bus (read-only after new()), and the registry of containers, sandboxes
 * and their latest snapshots (under its lock). Every function is thread-safe unless it says
 * otherwise.
 */
typedef struct _CocoonRuntime CocoonRuntime;

/* takes config; main_context (a reference is kept) is where snapshot subscribers are called */
CocoonRuntime *cocoon_runtime_new(CocoonConfig *config, const gchar *namespace_,
				  GMainContext *main_context);
/* frees the tables (their sandbox references with them); every sandbox is stopped */
void cocoon_runtime_free(CocoonRuntime *runtime);

CocoonConfig *cocoon_runtime_get_config(CocoonRuntime *runtime);
const gchar *cocoon_runtime_get_namespace(CocoonRuntime *runtime);
GMainContext *cocoon_runtime_get_main_context(CocoonRuntime *runtime);
/* where the sandboxes publish their task events (cocoon-event-bus.h) */
CocoonEventBus *cocoon_runtime_get_event_bus(CocoonRuntime *runtime);

/* store info as the sandbox's latest snapshot and hand it to the subscribers on the main context */
void cocoon_runtime_publish_info(CocoonRuntime *runtime, CocoonSandboxInfo *info);
/* the latest snapshot of every sandbox (new references) */
GPtrArray *cocoon_runtime_list_infos(CocoonRuntime *runtime);
/*
 * main context: func gets every snapshot published from now on, on the main context; returns an
 * id for unsubscribe_infos(), after which func is not called again
 */
guint cocoon_runtime_subscribe_infos(CocoonRuntime *runtime, CocoonSandboxInfoFunc func,
				     gpointer user_data);
void cocoon_runtime_unsubscribe_infos(CocoonRuntime *runtime, guint id);

/* NULL when unknown; returns a new reference */
CocoonSandbox *cocoon_runtime_lookup_container(CocoonRuntime *runtime, const gchar *container_id);
/* the sandbox of that id, created (with its worker thread) when missing; a new reference */
CocoonSandbox *cocoon_runtime_ensure_sandbox(CocoonRuntime *runtime, const gchar *sandbox_id);
/* every sandbox (new references) */
GPtrArray *cocoon_runtime_list_sandboxes(CocoonRuntime *runtime);
/* claims a container id for a sandbox; FALSE when the id is already taken */
gboolean cocoon_runtime_claim_container(CocoonRuntime *runtime, const gchar *container_id,
					CocoonSandbox *sandbox);
void cocoon_runtime_release_container(CocoonRuntime *runtime, const gchar *container_id);
guint cocoon_runtime_count_containers(CocoonRuntime *runtime);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonRuntime, cocoon_runtime_free)

G_END_DECLS
