/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-guest-network.h"
#include "cocoon-guest-reaper.h"
#include "cocoon-guest-stdio.h"
#include "cocoon-ttrpc-server.h"

G_BEGIN_DECLS

/*
 * the cocoon.agent.v1.Agent service (proto/agent.proto): containers and processes through crun,
 * their stdio on the stdio mux, exits from the reaper. Everything runs on the main context; no
 * handler blocks on a child, a pipe or the host (crun runs asynchronously).
 */
typedef struct _CocoonGuestAgent CocoonGuestAgent;

/*
 * how long a Wait answer waits for the EOF of a terminal process's output after the exit (a
 * pipe's output offsets are taken at the exit, without waiting)
 */
#define COCOON_GUEST_DRAIN_TIMEOUT_MS 2000

typedef struct {
	/* agent state: bundles, console sockets, crun logs ("/run/cocoon") */
	const gchar *run_dir;
	/* the mounted share holding the rootfs directories ("/run/cocoon/shared") */
	const gchar *share_dir;
	const gchar *crun_binary; /* "/usr/bin/crun" */
	const gchar *crun_root;	  /* "/run/crun" */
	const gchar *cgroup_root; /* "/sys/fs/cgroup" */
	/* PID 1 duties: mount the share on demand, set the hostname */
	gboolean init;
} CocoonGuestAgentOptions;

/* called after the Shutdown reply went out (give it a moment): end the VM or the main loop */
typedef void (*CocoonGuestAgentShutdownFunc)(gpointer user_data);

CocoonGuestAgent *cocoon_guest_agent_new(const CocoonGuestAgentOptions *options,
					 CocoonGuestReaper *reaper, GError **error);
void cocoon_guest_agent_free(CocoonGuestAgent *agent);

/*
 * registers every method of the service descriptor on server (handlers on the server context);
 * a method of proto/agent.proto without a handler does not build
 */
void cocoon_guest_agent_register(CocoonGuestAgent *agent, CocoonTtrpcServer *server);
/* SetupNetwork applies its requests to network (borrowed); without one it is UNIMPLEMENTED */
void cocoon_guest_agent_set_network(CocoonGuestAgent *agent, CocoonGuestNetwork *network);
CocoonGuestStdio *cocoon_guest_agent_get_stdio(CocoonGuestAgent *agent);
void cocoon_guest_agent_set_shutdown_func(CocoonGuestAgent *agent,
					  CocoonGuestAgentShutdownFunc func, gpointer user_data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonGuestAgent, cocoon_guest_agent_free)

G_END_DECLS
