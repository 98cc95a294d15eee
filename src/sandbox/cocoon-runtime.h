/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-config.h"
#include "cocoon-event-publisher.h"
#include "cocoon-sandbox-info.h"

G_BEGIN_DECLS

typedef struct _CocoonSandbox CocoonSandbox;

/*
 * What one shim process shares between its threads: configuration and the event publisher
 * (read-only after start), and the registry of containers and sandboxes (under lock).
 */
typedef struct {
	CocoonConfig *config;
	CocoonEventPublisher *publisher;
	gchar *namespace_;
	gchar *containerd_address;
	GMainContext *main_context;

	GMutex lock;
	GHashTable *containers; /* container id → CocoonSandbox (ref) */
	GHashTable *sandboxes;	/* sandbox id → CocoonSandbox (ref) */
	GHashTable *infos;	/* sandbox id → latest CocoonSandboxInfo */

	/* set once before the first sandbox exists; called on main_context */
	CocoonSandboxObserver observer;
	gpointer observer_data;
} CocoonRuntime;

/* initializes the lock and the tables (config, publisher, namespace are set by the caller) */
void cocoon_runtime_init(CocoonRuntime *runtime);
/* frees the tables (their sandbox references with them) and the lock; every sandbox is stopped */
void cocoon_runtime_clear(CocoonRuntime *runtime);
/* thread-safe: store info as the sandbox's latest snapshot and hand it to the observer */
void cocoon_runtime_publish_info(CocoonRuntime *runtime, CocoonSandboxInfo *info);
/* the latest snapshot of every sandbox (new references), any thread */
GPtrArray *cocoon_runtime_list_infos(CocoonRuntime *runtime);

/* NULL when unknown; returns a new reference */
CocoonSandbox *cocoon_runtime_lookup_container(CocoonRuntime *runtime, const gchar *container_id);
/* the sandbox of that id, created (with its worker thread) when missing; a new reference */
CocoonSandbox *cocoon_runtime_ensure_sandbox(CocoonRuntime *runtime, const gchar *sandbox_id);
/* claims a container id for a sandbox; FALSE when the id is already taken */
gboolean cocoon_runtime_claim_container(CocoonRuntime *runtime, const gchar *container_id,
					CocoonSandbox *sandbox);
void cocoon_runtime_release_container(CocoonRuntime *runtime, const gchar *container_id);
guint cocoon_runtime_count_containers(CocoonRuntime *runtime);

G_END_DECLS
