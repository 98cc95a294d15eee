/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * the agent's private parts, shared by its files: the container/process model
 * (cocoon-guest-process.c), process stdio (cocoon-guest-io.c), OOM watches and the WaitEvent
 * queue (cocoon-guest-events.c), the RPC handlers (cocoon-guest-handlers.c,
 * cocoon-guest-handlers-crun.c) and the object itself (cocoon-guest-agent.c). Main context only.
 */

#include <sys/types.h>

#include <glib.h>

#include "agent.pb-c.h"
#include "cocoon-guest-agent.h"
#include "cocoon-guest-crun.h"
#include "cocoon-guest-network.h"
#include "cocoon-ttrpc-server.h"

G_BEGIN_DECLS

typedef ProtobufCMessage Message;
static inline void
message_free(Message *message)
{
	protobuf_c_message_free_unpacked(message, NULL);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Message, message_free)

typedef enum {
	CONTAINER_CREATING,
	CONTAINER_CREATED,
	CONTAINER_RUNNING,
	CONTAINER_PAUSED,
	CONTAINER_STOPPED,
} ContainerState;

typedef struct _Container Container;
typedef struct _Process Process;

enum {
	STREAM_STDIN = 1 << 0,
	STREAM_STDOUT = 1 << 1,
	STREAM_STDERR = 1 << 2,
};

struct _Process {
	Container *container;
	gchar *exec_id; /* NULL: the container's init */
	guint64 serial;
	pid_t pid;	 /* 0 until crun reported it */
	gboolean failed; /* crun could not create it */
	guint32 stdin_id;
	guint32 stdout_id;
	guint32 stderr_id;
	gboolean terminal;
	guint32 rows;
	guint32 cols;
	int tty_fd;	       /* the pty master, for ResizeTty */
	guint registered;      /* STREAM_* this process added to the mux */
	guint outputs_pending; /* output streams whose EOF is not on the port yet */

	gboolean exited;
	guint32 exit_status;
	gint64 exited_at_ns;
	gboolean oom_killed;
	guint64 oom_kills_at_start;
	/* exited and where its output ends is known: Wait answers */
	gboolean reported;
	guint drain_timeout_id; /* a terminal's EOF, waited for after the exit */
	/* the stdout/stderr stream offsets its output ends at, taken when it was reported */
	guint64 stdout_offset;
	guint64 stderr_offset;
	GPtrArray *waiters; /* CocoonTtrpcCall */
};

struct _Container {
	CocoonGuestAgent *agent;
	gchar *id;
	gchar *bundle;
	gchar *cgroup_dir;
	ContainerState state;
	/* crun operations in flight (create, start, exec, update, remove): Remove waits for none */
	guint operations;
	gboolean removing;
	Process *init;
	GHashTable *execs; /* exec_id -> Process */
	int oom_watch;
	guint64 oom_kills;
	/* a CRI pod sandbox's: the pod's /dev/shm it mounted, unmounted when it goes */
	gchar *pod_shm_dir;
};

typedef struct {
	Cocoon__Agent__V1__WaitEventResponse__Kind kind;
	gchar *container_id;
} Event;

typedef struct {
	CocoonGuestAgent *agent;
	CocoonTtrpcCall *call;
	guint timeout_id;
} EventWaiter;

/* a method of the service, as registered on the ttrpc server */
typedef struct {
	CocoonGuestAgent *agent;
	guint index; /* in cocoon__agent__v1__agent__descriptor.methods */
} AgentMethod;

struct _CocoonGuestAgent {
	/* the handlers (COCOON__AGENT__V1__AGENT__INIT(handle_)); agent_from_service() */
	Cocoon__Agent__V1__Agent_Service service;
	/* one per method of the service descriptor: what the server's handler gets */
	AgentMethod *methods;

	gchar *run_dir;
	gchar *share_dir;
	gchar *containers_dir;
	gchar *sockets_dir;
	gchar *cgroup_root;
	gboolean init;
	CocoonGuestReaper *reaper;
	CocoonGuestCrun *crun;
	CocoonGuestStdio *stdio;
	GHashTable *containers; /* id -> Container */
	guint64 serial;
	gchar *oci_runtime;

	int inotify_fd;
	guint inotify_id;
	GHashTable *oom_watches; /* wd -> Container (borrowed) */

	GQueue events;	      /* Event */
	GQueue event_waiters; /* EventWaiter */

	CocoonGuestNetwork *network; /* SetupNetwork, NULL: UNIMPLEMENTED */

	CocoonGuestAgentShutdownFunc shutdown_func;
	gpointer shutdown_data;
	guint shutdown_id;
};

extern const gchar *const container_state_names[];

/* the agent whose service a handler was called on */
static inline CocoonGuestAgent *
agent_from_service(Cocoon__Agent__V1__Agent_Service *service)
{
	return (CocoonGuestAgent *)((gchar *)service - G_STRUCT_OFFSET(CocoonGuestAgent, service));
}

/* process stdio: pipes, or a pty whose master crun sends to a console socket */
typedef struct {
	/* crun's (and so the process's) stdio */
	int child_stdin;
	int child_stdout;
	int child_stderr;
	/* terminal: the listening console socket */
	int console_fd;
	gchar *console_path;
} ProcessIo;

/* errors (cocoon-guest-handlers.c) */
void return_error(CocoonTtrpcCall *call, const GError *error);
void return_wrong_state(CocoonTtrpcCall *call, const Container *container, const gchar *wanted);
Container *lookup_container_or_return(CocoonTtrpcCall *call, CocoonGuestAgent *agent,
				      const gchar *container_id);
Process *lookup_process_or_return(CocoonTtrpcCall *call, CocoonGuestAgent *agent,
				  const gchar *container_id, const gchar *exec_id);
GError *wrap_error(const GError *error, const gchar *subject);

/* containers and processes (cocoon-guest-process.c) */
gboolean check_ids(const gchar *container_id, const gchar *exec_id, GError **error);
Container *lookup_container(CocoonGuestAgent *agent, const gchar *container_id, GError **error);
Process *lookup_process(CocoonGuestAgent *agent, const gchar *container_id, const gchar *exec_id,
			GError **error);
gchar *process_name(Process *process);
Process *process_new(Container *container, const gchar *exec_id,
		     const Cocoon__Agent__V1__StdioStreams *stdio);
void process_fail_waiters(Process *process, CocoonTtrpcCode code, const gchar *message);
void process_free(Process *process);
void process_output_eof_cb(guint32 stream_id, gpointer user_data);
void process_started(Process *process, pid_t pid);
void process_add_waiter(Process *process, CocoonTtrpcCall *call);
void process_report_removed(Process *process);
void container_trim_execs(Container *container);
void container_kill_all(Container *container);
void container_free(Container *container);

/* process stdio (cocoon-guest-io.c) */
void process_io_clear(ProcessIo *io);
gboolean process_io_prepare(CocoonGuestAgent *agent, Process *process, ProcessIo *io,
			    GError **error);
gboolean process_io_finish(CocoonGuestAgent *agent, Process *process, ProcessIo *io,
			   GError **error);
CocoonGuestCrunStdio process_io_crun_stdio(const ProcessIo *io);

/* OOM watches and WaitEvent (cocoon-guest-events.c) */
void watch_oom(CocoonGuestAgent *agent, Container *container);
void event_free(Event *event);
void event_waiter_answer(EventWaiter *waiter, const Event *event);
gboolean inotify_cb(gint fd, GIOCondition condition, gpointer user_data);

/*
 * the RPC handlers, one per method of proto/agent.proto, named handle_<method> after protoc-c's
 * names: cocoon-guest-agent.c builds the service with COCOON__AGENT__V1__AGENT__INIT(handle_), so
 * a method without its handler does not build. X(name, Method, response): response is RESPONSE
 * for a method answered with <Method>Response, EMPTY for one answered with google.protobuf.Empty.
 * The request is unpacked (and freed after the handler returned) by the dispatcher; closure_data is
 * the CocoonTtrpcCall, which the handler answers (now or later) with cocoon_ttrpc_call_return_*().
 */
#define AGENT_HANDLERS(X)                                                                          \
	/* sandbox level (cocoon-guest-handlers.c, WaitEvent: cocoon-guest-events.c) */            \
	X(ping, Ping, RESPONSE)                                                                    \
	X(guest_info, GuestInfo, RESPONSE)                                                         \
	X(shutdown, Shutdown, EMPTY)                                                               \
	X(wait_event, WaitEvent, RESPONSE)                                                         \
	X(setup_network, SetupNetwork, EMPTY)                                                      \
	/* containers (Create, Start, Update, Remove: cocoon-guest-handlers-crun.c) */             \
	X(create_container, CreateContainer, RESPONSE)                                             \
	X(start_container, StartContainer, RESPONSE)                                               \
	X(remove_container, RemoveContainer, EMPTY)                                                \
	X(pause_container, PauseContainer, EMPTY)                                                  \
	X(resume_container, ResumeContainer, EMPTY)                                                \
	X(update_container, UpdateContainer, EMPTY)                                                \
	X(stats_container, StatsContainer, RESPONSE)                                               \
	X(list_processes, ListProcesses, RESPONSE)                                                 \
	/* processes (Exec: cocoon-guest-handlers-crun.c) */                                       \
	X(exec_process, ExecProcess, RESPONSE)                                                     \
	X(signal_process, SignalProcess, EMPTY)                                                    \
	X(wait_process, WaitProcess, RESPONSE)                                                     \
	X(resize_tty, ResizeTty, EMPTY)                                                            \
	X(close_stdin, CloseStdin, EMPTY)

/* the closure of a method answered with its own <Method>Response, or with google.protobuf.Empty */
#define AGENT_HANDLER_CLOSURE_RESPONSE(Method) Cocoon__Agent__V1__##Method##Response_Closure
#define AGENT_HANDLER_CLOSURE_EMPTY(Method)    Google__Protobuf__Empty_Closure

/* the prototype of handle_<name>, protoc-c's for Method */
#define AGENT_HANDLER_PROTOTYPE(name, Method, response)                                            \
	void handle_##name(Cocoon__Agent__V1__Agent_Service *service,                              \
			   const Cocoon__Agent__V1__##Method##Request *request,                    \
			   AGENT_HANDLER_CLOSURE_##response(Method) closure, void *closure_data)

/*
 * a handler's definition opens with it: handle_<name> finds the agent and the call (the
 * closure's data; handlers answer on the call itself) and hands them to serve_<name>, the body
 * that follows
 */
#define AGENT_HANDLER(name, Method, response)                                                      \
	static void serve_##name(CocoonGuestAgent *agent, CocoonTtrpcCall *call,                   \
				 const Cocoon__Agent__V1__##Method##Request *request);             \
	AGENT_HANDLER_PROTOTYPE(name, Method, response)                                            \
	{                                                                                          \
		serve_##name(agent_from_service(service), closure_data, request);                  \
	}                                                                                          \
	static void serve_##name(CocoonGuestAgent *agent, CocoonTtrpcCall *call,                   \
				 const Cocoon__Agent__V1__##Method##Request *request)

#define AGENT_DECLARE_HANDLER(name, Method, response)                                              \
	AGENT_HANDLER_PROTOTYPE(name, Method, response);
AGENT_HANDLERS(AGENT_DECLARE_HANDLER)

G_END_DECLS
