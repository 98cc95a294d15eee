/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-agent-private.h"

#include <errno.h>
#include <string.h>
#include <sys/inotify.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-guest-crun.h"

/* key=value lines written by the image build, crun_version among them */
#define COCOON_GUEST_IMAGE_INFO "/etc/cocoon/image-info"

/* the agent */

static void
crun_version_cb(const GError *error, const gchar *output, gpointer user_data)
{
	CocoonGuestAgent *agent = user_data;
	g_auto(GStrv) lines = NULL;

	if (error != NULL) {
		g_warning("crun --version: %s", error->message);
		return;
	}
	/* "crun version 1.8.1" */
	lines = g_strsplit(output, "\n", 2);
	if (lines[0] != NULL && g_str_has_prefix(lines[0], "crun version ")) {
		g_free(agent->oci_runtime);
		agent->oci_runtime = g_strdup_printf("crun %s", lines[0] + strlen("crun version "));
	}
	g_debug("oci runtime: %s", agent->oci_runtime);
}

/*
 * the image build recorded crun's version (scripts/build-guest-image.sh): a `crun --version` at
 * boot costs ~0.15 s of the guest's only vCPU under TCG, right when the agent comes up and the
 * first CreateContainer runs. Only for the image's own crun, as PID 1.
 */
static gboolean
crun_version_from_image(CocoonGuestAgent *agent, const CocoonGuestAgentOptions *options)
{
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) lines = NULL;

	if (!options->init || g_strcmp0(options->crun_binary, "/usr/bin/crun") != 0 ||
	    !g_file_get_contents(COCOON_GUEST_IMAGE_INFO, &contents, NULL, NULL))
		return FALSE;
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		const gchar *version = lines[i] + strlen("crun_version=");

		if (!g_str_has_prefix(lines[i], "crun_version=") || version[0] == '\0')
			continue;
		g_free(agent->oci_runtime);
		agent->oci_runtime = g_strdup_printf("crun %s", version);
		g_debug("oci runtime: %s (from %s)", agent->oci_runtime, COCOON_GUEST_IMAGE_INFO);
		return TRUE;
	}
	return FALSE;
}

/* protobuf-c's closure: a handler's answer on its call (the handlers answer on the call itself) */
static void
return_message_closure(const ProtobufCMessage *message, void *closure_data)
{
	cocoon_ttrpc_call_return_message(closure_data, message);
}

/* every method: the request as the descriptor's input type, then the method's handler */
static void
dispatch_cb(CocoonTtrpcCall *call, gpointer user_data)
{
	AgentMethod *method = user_data;
	ProtobufCService *service = &method->agent->service.base;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) request = cocoon_ttrpc_call_unpack(
		call, service->descriptor->methods[method->index].input, &error);

	if (request == NULL) {
		return_error(call, error);
		return;
	}
	service->invoke(service, method->index, request, return_message_closure, call);
}

/**
 * cocoon_guest_agent_register:
 *
 * registers every method of the service descriptor (proto/agent.proto) on server, each
 * dispatched to its handler
 */
void
cocoon_guest_agent_register(CocoonGuestAgent *agent, CocoonTtrpcServer *server)
{
	const ProtobufCServiceDescriptor *descriptor = agent->service.base.descriptor;

	for (guint i = 0; i < descriptor->n_methods; i++)
		cocoon_ttrpc_server_register(server, descriptor->name, descriptor->methods[i].name,
					     dispatch_cb, &agent->methods[i], NULL);
}

CocoonGuestStdio *
cocoon_guest_agent_get_stdio(CocoonGuestAgent *agent)
{
	return agent->stdio;
}

void
cocoon_guest_agent_set_network(CocoonGuestAgent *agent, CocoonGuestNetwork *network)
{
	agent->network = network;
}

void
cocoon_guest_agent_set_shutdown_func(CocoonGuestAgent *agent, CocoonGuestAgentShutdownFunc func,
				     gpointer user_data)
{
	agent->shutdown_func = func;
	agent->shutdown_data = user_data;
}

CocoonGuestAgent *
cocoon_guest_agent_new(const CocoonGuestAgentOptions *options, CocoonGuestReaper *reaper,
		       GError **error)
{
	g_autoptr(CocoonGuestAgent) agent = g_new0(CocoonGuestAgent, 1);
	Cocoon__Agent__V1__Agent_Service service = COCOON__AGENT__V1__AGENT__INIT(handle_);
	const gchar *dirs[4];

	agent->service = service;
	agent->methods = g_new0(AgentMethod, service.base.descriptor->n_methods);
	for (guint i = 0; i < service.base.descriptor->n_methods; i++) {
		agent->methods[i].agent = agent;
		agent->methods[i].index = i;
	}
	agent->run_dir = g_strdup(options->run_dir);
	agent->share_dir = g_strdup(options->share_dir);
	agent->containers_dir = g_build_filename(options->run_dir, "containers", NULL);
	agent->sockets_dir = g_build_filename(options->run_dir, "sockets", NULL);
	agent->cgroup_root = g_strdup(options->cgroup_root);
	agent->init = options->init;
	agent->reaper = reaper;
	agent->inotify_fd = -1;
	agent->oci_runtime = g_strdup("crun");
	agent->containers = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
						  (GDestroyNotify)container_free);
	agent->oom_watches = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_queue_init(&agent->events);
	g_queue_init(&agent->event_waiters);

	dirs[0] = agent->containers_dir;
	dirs[1] = agent->sockets_dir;
	dirs[2] = options->crun_root;
	dirs[3] = options->share_dir;
	for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
		if (g_mkdir_with_parents(dirs[i], 0700) < 0) {
			cocoon_set_error_from_errno(error, "mkdir %s", dirs[i]);
			return NULL;
		}
	}
	agent->crun = cocoon_guest_crun_new(options->crun_binary, options->crun_root,
					    agent->run_dir, reaper);
	agent->stdio = cocoon_guest_stdio_new();
	agent->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (agent->inotify_fd >= 0)
		agent->inotify_id = g_unix_fd_add(agent->inotify_fd, G_IO_IN, inotify_cb, agent);
	else
		g_warning("inotify: %s (no OOM events)", g_strerror(errno));
	if (!crun_version_from_image(agent, options)) {
		const gchar *argv[] = {options->crun_binary, "--version", NULL};
		cocoon_guest_crun_spawn(agent->crun, argv, NULL, crun_version_cb, agent);
	}
	return g_steal_pointer(&agent);
}

void
cocoon_guest_agent_free(CocoonGuestAgent *agent)
{
	EventWaiter *waiter;

	if (agent == NULL)
		return;
	if (agent->shutdown_id != 0)
		g_source_remove(agent->shutdown_id);
	/* pending crun calls are dropped first: their operations point into the containers */
	g_clear_pointer(&agent->crun, cocoon_guest_crun_free);
	if (agent->containers != NULL)
		g_hash_table_unref(agent->containers);
	while ((waiter = g_queue_pop_head(&agent->event_waiters)) != NULL)
		event_waiter_answer(waiter, NULL);
	g_queue_clear_full(&agent->events, (GDestroyNotify)event_free);
	if (agent->inotify_id != 0)
		g_source_remove(agent->inotify_id);
	cocoon_fd_closep(&agent->inotify_fd);
	if (agent->oom_watches != NULL)
		g_hash_table_unref(agent->oom_watches);
	g_clear_pointer(&agent->stdio, cocoon_guest_stdio_free);
	g_free(agent->methods);
	g_free(agent->oci_runtime);
	g_free(agent->run_dir);
	g_free(agent->share_dir);
	g_free(agent->containers_dir);
	g_free(agent->sockets_dir);
	g_free(agent->cgroup_root);
	g_free(agent);
}
