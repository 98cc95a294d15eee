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

struct _CocoonGuestAgent {
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

	CocoonGuestAgentShutdownFunc shutdown_func;
	gpointer shutdown_data;
	guint shutdown_id;
};

extern const gchar *const container_state_names[];

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

/* the RPC handlers (cocoon-guest-handlers.c, cocoon-guest-handlers-crun.c, cocoon-guest-events.c)
 */
void handle_ping(CocoonTtrpcCall *call, gpointer user_data);
void handle_guest_info(CocoonTtrpcCall *call, gpointer user_data);
void handle_shutdown(CocoonTtrpcCall *call, gpointer user_data);
void handle_wait_event(CocoonTtrpcCall *call, gpointer user_data);
void handle_create_container(CocoonTtrpcCall *call, gpointer user_data);
void handle_start_container(CocoonTtrpcCall *call, gpointer user_data);
void handle_remove_container(CocoonTtrpcCall *call, gpointer user_data);
void handle_pause_container(CocoonTtrpcCall *call, gpointer user_data);
void handle_resume_container(CocoonTtrpcCall *call, gpointer user_data);
void handle_update_container(CocoonTtrpcCall *call, gpointer user_data);
void handle_stats_container(CocoonTtrpcCall *call, gpointer user_data);
void handle_list_processes(CocoonTtrpcCall *call, gpointer user_data);
void handle_exec_process(CocoonTtrpcCall *call, gpointer user_data);
void handle_signal_process(CocoonTtrpcCall *call, gpointer user_data);
void handle_wait_process(CocoonTtrpcCall *call, gpointer user_data);
void handle_resize_tty(CocoonTtrpcCall *call, gpointer user_data);
void handle_close_stdin(CocoonTtrpcCall *call, gpointer user_data);

G_END_DECLS
