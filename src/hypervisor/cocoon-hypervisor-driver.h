/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* for implementations of CocoonHypervisor (the QEMU driver is the one there is); users include
 * cocoon-hypervisor.h only */

#include "cocoon-hypervisor.h"

G_BEGIN_DECLS

typedef struct {
	gboolean (*start)(CocoonHypervisor *hypervisor, GError **error);
	gboolean (*stop)(CocoonHypervisor *hypervisor, guint timeout_ms, GError **error);
	GPid (*get_pid)(CocoonHypervisor *hypervisor);
	/* the pod's virtiofsd, 0 when there is none (may be NULL) */
	GPid (*get_virtiofsd_pid)(CocoonHypervisor *hypervisor);
	/* releases the driver's part; must leave no process behind */
	void (*finalize)(CocoonHypervisor *hypervisor);
} CocoonHypervisorOps;

/* drivers embed this as the first member of their own struct */
struct _CocoonHypervisor {
	const CocoonHypervisorOps *ops;
	CocoonVmConfig *config; /* owned copy */
	gchar *agent_socket_path;
	gchar *stdio_socket_path;
	gchar *console_log_path;
	CocoonAccel accel;
	gint wait_status;

	CocoonHypervisorDiedFunc died_func;
	gpointer died_data;
	GMainContext *died_context; /* NULL until set or start() */
};

/* copies config and fills the paths from its state directory */
void cocoon_hypervisor_init(CocoonHypervisor *hypervisor, const CocoonHypervisorOps *ops,
			    const CocoonVmConfig *config);
/* the context callbacks run on: set_died_func()'s, else the thread-default one (kept) */
GMainContext *cocoon_hypervisor_get_context(CocoonHypervisor *hypervisor);
/* records the exit and calls the died callback; call on cocoon_hypervisor_get_context() */
void cocoon_hypervisor_emit_died(CocoonHypervisor *hypervisor, gint wait_status,
				 const gchar *reason);
/* "exited with status 1", "was killed by signal 9 (Killed)" */
gchar *cocoon_hypervisor_describe_wait_status(gint wait_status);
/* the last lines of a text file, at most the last 64 KiB read; valid UTF-8, never NULL */
gchar *cocoon_hypervisor_file_tail(const gchar *path, guint lines);

/* writes "PID STARTTIME\n" (field 22 of /proc/PID/stat) to path, mode 0600 */
gboolean cocoon_hypervisor_write_pid_file(const gchar *path, GPid pid, GError **error);
/*
 * kills the process recorded in a pid file only if that pid still belongs to the process started
 * then (and with group, its process group too), waits for its exit, removes the file; TRUE also
 * without a file or when the process is gone. what names it in messages.
 */
gboolean cocoon_hypervisor_kill_pid_file(const gchar *path, const gchar *what, gboolean group,
					 GError **error);

G_END_DECLS
