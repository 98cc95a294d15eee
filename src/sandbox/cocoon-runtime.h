/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-config.h"
#include "cocoon-event-publisher.h"

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
} CocoonRuntime;

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
