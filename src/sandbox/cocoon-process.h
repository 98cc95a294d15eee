/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "cocoon-sandbox-private.h"

G_BEGIN_DECLS

/*
 * The pod's processes and their exits, all on the worker unless said otherwise: a process's exit
 * is watched with the agent's WaitProcess, reported (TaskExit, the waiters answered) once its
 * output reached containerd, an init's after its execs'; a dead or aborted VM ends every process.
 */

CocoonProcess *cocoon_process_new(CocoonContainer *container, const gchar *exec_id,
				  gboolean terminal, const gchar *stdin_path,
				  const gchar *stdout_path, const gchar *stderr_path);
/* whoever still waits gets what was recorded */
void cocoon_process_free(CocoonProcess *process);
void cocoon_container_free(CocoonContainer *container);

/* NOT_FOUND (FAILED_PRECONDITION for an init not created yet) when there is none */
CocoonContainer *cocoon_sandbox_lookup_container(CocoonSandbox *sandbox, const gchar *id,
						 GError **error);
CocoonProcess *cocoon_sandbox_lookup_process(CocoonSandbox *sandbox, const gchar *id,
					     const gchar *exec_id, GError **error);
/* the same for the Task handlers: NULL once the error went back to the caller (return_error) */
CocoonContainer *cocoon_sandbox_lookup_container_or_return(CocoonSandbox *sandbox,
							   CocoonTtrpcCall *call, const gchar *id);
CocoonProcess *cocoon_sandbox_lookup_process_or_return(CocoonSandbox *sandbox,
						       CocoonTtrpcCall *call, const gchar *id,
						       const gchar *exec_id);

/* stdio: attach a process's host fds to the mux before the guest creates it */
gboolean cocoon_process_stdio_attach(CocoonSandbox *sandbox, CocoonProcess *process,
				     GError **error);
void cocoon_process_stdio_detach(CocoonSandbox *sandbox, CocoonProcess *process);

void cocoon_process_answer_waiters(CocoonProcess *process);
/* after the guest created or started it: a long poll for the exit, answered on the worker */
void cocoon_process_watch_exit(CocoonSandbox *sandbox, CocoonProcess *process);

/* the VM is gone: every process that has not exited did now, a created init too */
void cocoon_sandbox_fail_all(CocoonSandbox *sandbox, guint32 status);
/* the guest did not answer a SIGKILL or a RemoveContainer: the VM goes, every process exits 137 */
void cocoon_sandbox_abort_vm(CocoonSandbox *sandbox, const GError *reason);

G_END_DECLS
