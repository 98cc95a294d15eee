/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * An immutable snapshot of a sandbox for observers (D-Bus, cocoonctl): built on the sandbox's
 * worker after every change and handed to the main context. Plain data, refcounted, never
 * modified after it was published. Its strings are static or the snapshot's own
 * (cocoon_sandbox_info_intern()): they live as long as it does.
 */
typedef struct {
	const gchar *exec_id; /* "" = the init process */
	guint32 pid;	      /* guest pid, 0 before start */
	const gchar *status;  /* static: "created", "running", "paused", "stopped" */
	guint32 exit_status;
	gint64 exited_at_us; /* wall clock, 0 = not exited */
} CocoonProcessInfo;

typedef struct {
	const gchar *id;
	const gchar *bundle;
	const gchar *container_type; /* CRI "sandbox" / "container", or "" */
	CocoonProcessInfo *init;
	GPtrArray *execs; /* CocoonProcessInfo */
} CocoonContainerInfo;

typedef struct {
	const gchar *id;
	const gchar *state; /* static: "empty", "booting", "running", "stopping", "failed" */
	gint qemu_pid;	    /* 0 = no VM */
	const gchar *accel; /* static: "kvm", "tcg" or "" */
	guint vcpus;
	guint memory_mib;
	gint64 boot_ms;	       /* QEMU start → agent ready, 0 = not booted */
	gint64 booted_at_us;   /* wall clock */
	gint64 agent_rtt_us;   /* last agent round trip, 0 = unknown */
	GPtrArray *containers; /* CocoonContainerInfo */
	GStringChunk *strings;
} CocoonSandboxInfo;

CocoonSandboxInfo *cocoon_sandbox_info_new(const gchar *id);
CocoonSandboxInfo *cocoon_sandbox_info_ref(CocoonSandboxInfo *info);
void cocoon_sandbox_info_unref(CocoonSandboxInfo *info);
const gchar *cocoon_sandbox_info_intern(CocoonSandboxInfo *info, const gchar *string);
CocoonContainerInfo *cocoon_container_info_new(void);
void cocoon_container_info_free(CocoonContainerInfo *info);
/* plain data, its strings the snapshot's: g_free() frees it */
CocoonProcessInfo *cocoon_process_info_new(void);

/* called on the main context with every new snapshot (cocoon_runtime_subscribe_infos()) */
typedef void (*CocoonSandboxInfoFunc)(CocoonSandboxInfo *info, gpointer user_data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonSandboxInfo, cocoon_sandbox_info_unref)

G_END_DECLS
