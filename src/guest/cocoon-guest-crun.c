/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-crun.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-fd.h"
#include "cocoon-fs.h"
#include "cocoon-ttrpc-status.h"

/* how much of crun's output ends up in an error message or a result */
#define OUTPUT_MAX 4096

struct _CocoonGuestCrun {
	gchar *binary;
	gchar *root;
	gchar *work_dir;
	CocoonGuestReaper *reaper;
	GHashTable *pending; /* Invocation, owned */
	guint64 serial;
};

typedef struct {
	CocoonGuestCrun *crun;
	gchar *description; /* "crun create c1" */
	CocoonGuestCrunFunc func;
	gpointer user_data;
	pid_t pid;
	int stdout_fd; /* memfd or -1 */
	int stderr_fd; /* memfd or -1 */
	gchar *log_path;
	guint timeout_id;
	gboolean timed_out;
} Invocation;

static void
invocation_free(Invocation *invocation)
{
	if (invocation->timeout_id != 0)
		g_source_remove(invocation->timeout_id);
	cocoon_fd_closep(&invocation->stdout_fd);
	cocoon_fd_closep(&invocation->stderr_fd);
	cocoon_clear_file(&invocation->log_path);
	g_free(invocation->description);
	g_free(invocation);
}

static int
memfd_new(const gchar *name)
{
	return memfd_create(name, MFD_CLOEXEC);
}

/* at most OUTPUT_MAX bytes of the end of fd's contents, trimmed */
static gchar *
read_tail(int fd)
{
	g_autofree gchar *buf = NULL;
	off_t size;
	off_t start;
	ssize_t n;

	if (fd < 0)
		return g_strdup("");
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0)
		return g_strdup("");
	start = size > OUTPUT_MAX ? size - OUTPUT_MAX : 0;
	buf = g_malloc0(OUTPUT_MAX + 1);
	n = pread(fd, buf, (size_t)(size - start), start);
	if (n <= 0)
		return g_strdup("");
	buf[n] = '\0';
	return g_strstrip(g_steal_pointer(&buf));
}

static gchar *
read_log(const gchar *path)
{
	cocoon_autofd int fd = -1;

	if (path == NULL)
		return g_strdup("");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return read_tail(fd);
}

/* crun's message in one line: its last lines joined */
static gchar *
one_line(const gchar *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	g_autoptr(GString) line = g_string_new(NULL);

	for (guint i = 0; lines[i] != NULL; i++) {
		g_strstrip(lines[i]);
		if (lines[i][0] == '\0')
			continue;
		if (line->len > 0)
			g_string_append(line, "; ");
		g_string_append(line, lines[i]);
	}
	return g_string_free(g_steal_pointer(&line), FALSE);
}

static void
invocation_exited_cb(pid_t pid, int wait_status, gint64 exited_at_ns, gpointer user_data)
{
	Invocation *invocation = user_data;
	CocoonGuestCrun *crun = invocation->crun;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *output = read_tail(invocation->stdout_fd);

	if (invocation->timed_out) {
		g_set_error(&error, COCOON_TTRPC_ERROR, COCOON_TTRPC_DEADLINE_EXCEEDED,
			    "%s did not finish within %d s", invocation->description,
			    COCOON_GUEST_CRUN_TIMEOUT_S);
	} else if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
		g_autofree gchar *log = read_log(invocation->log_path);
		g_autofree gchar *errors = read_tail(invocation->stderr_fd);
		g_autofree gchar *message = one_line(log[0] != '\0'	 ? log
						     : errors[0] != '\0' ? errors
									 : output);
		g_set_error(&error, COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL,
			    "%s failed (status %u): %s", invocation->description,
			    cocoon_guest_exit_status_from_wait(wait_status),
			    message[0] != '\0' ? message : "no message");
	}
	g_debug("%s: pid %d done, %s", invocation->description, (int)pid,
		error != NULL ? error->message : "ok");
	/* the callback may free crun: take the invocation out first */
	g_hash_table_steal(crun->pending, invocation);
	invocation->func(error, output, invocation->user_data);
	invocation_free(invocation);
}

static gboolean
invocation_timeout_cb(gpointer user_data)
{
	Invocation *invocation = user_data;

	invocation->timeout_id = 0;
	invocation->timed_out = TRUE;
	g_warning("%s: no exit after %d s, killing pid %d", invocation->description,
		  COCOON_GUEST_CRUN_TIMEOUT_S, (int)invocation->pid);
	(void)kill(invocation->pid, SIGKILL);
	return G_SOURCE_REMOVE;
}

/* runs in the child between fork and exec: async-signal-safe calls only */
static void
child_setup(gpointer user_data)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	signal(SIGPIPE, SIG_DFL);
}

typedef struct {
	CocoonGuestCrunFunc func;
	gpointer user_data;
	GError *error;
} Failure;

static gboolean
failure_cb(gpointer user_data)
{
	Failure *failure = user_data;

	failure->func(failure->error, "", failure->user_data);
	g_error_free(failure->error);
	g_free(failure);
	return G_SOURCE_REMOVE;
}

/* the caller expects its callback later, never from inside the call */
static void
fail_later(CocoonGuestCrunFunc func, gpointer user_data, const GError *error)
{
	Failure *failure = g_new0(Failure, 1);

	failure->func = func;
	failure->user_data = user_data;
	failure->error = g_error_copy(error);
	g_idle_add(failure_cb, failure);
}

static gchar **
child_environment(void)
{
	const gchar *path = g_getenv("PATH");
	gchar **envp = g_new0(gchar *, 3);

	envp[0] = g_strdup_printf(
		"PATH=%s",
		path != NULL && path[0] != '\0'
			? path
			: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	envp[1] = g_strdup("LANG=C");
	return envp;
}

static void
spawn_internal(CocoonGuestCrun *crun, const gchar *const *argv, const gchar *description,
	       const CocoonGuestCrunStdio *stdio, const gchar *log_path, CocoonGuestCrunFunc func,
	       gpointer user_data)
{
	Invocation *invocation = g_new0(Invocation, 1);
	g_auto(GStrv) envp = child_environment();
	g_autoptr(GError) error = NULL;
	cocoon_autofd int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	GPid pid = 0;
	int stdin_fd, stdout_fd, stderr_fd;

	invocation->crun = crun;
	invocation->description = g_strdup(description);
	invocation->func = func;
	invocation->user_data = user_data;
	invocation->stdout_fd = -1;
	invocation->stderr_fd = -1;
	invocation->log_path = g_strdup(log_path);

	if (stdio != NULL) {
		stdin_fd = stdio->stdin_fd >= 0 ? stdio->stdin_fd : null_fd;
		stdout_fd = stdio->stdout_fd >= 0 ? stdio->stdout_fd : null_fd;
		stderr_fd = stdio->stderr_fd >= 0 ? stdio->stderr_fd : null_fd;
	} else {
		invocation->stdout_fd = memfd_new("crun-stdout");
		invocation->stderr_fd = memfd_new("crun-stderr");
		stdin_fd = null_fd;
		stdout_fd = invocation->stdout_fd >= 0 ? invocation->stdout_fd : null_fd;
		stderr_fd = invocation->stderr_fd >= 0 ? invocation->stderr_fd : null_fd;
	}

	if (!g_spawn_async_with_pipes_and_fds(NULL, argv, (const gchar *const *)envp,
					      G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL,
					      stdin_fd, stdout_fd, stderr_fd, NULL, NULL, 0, &pid,
					      NULL, NULL, NULL, &error)) {
		g_prefix_error(&error, "%s: ", description);
		/* a spawn failure is the guest's problem */
		{
			g_autoptr(GError) status = g_error_new(
				COCOON_TTRPC_ERROR, COCOON_TTRPC_INTERNAL, "%s", error->message);
			fail_later(func, user_data, status);
		}
		invocation_free(invocation);
		return;
	}
	invocation->pid = pid;
	g_debug("%s: pid %d", description, (int)pid);
	g_hash_table_add(crun->pending, invocation);
	invocation->timeout_id = g_timeout_add_seconds(COCOON_GUEST_CRUN_TIMEOUT_S,
						       invocation_timeout_cb, invocation);
	cocoon_guest_reaper_watch(crun->reaper, pid, invocation_exited_cb, invocation);
}

/**
 * cocoon_guest_crun_spawn:
 *
 * runs argv (argv[0] an absolute path) like a crun command
 */
void
cocoon_guest_crun_spawn(CocoonGuestCrun *crun, const gchar *const *argv,
			const CocoonGuestCrunStdio *stdio, CocoonGuestCrunFunc func,
			gpointer user_data)
{
	g_autofree gchar *description = g_strjoinv(" ", (gchar **)argv);

	spawn_internal(crun, argv, description, stdio, NULL, func, user_data);
}

/**
 * cocoon_guest_crun_run:
 *
 * `crun --root ROOT args...`; with stdio given, crun's own messages are read from a log file
 * because its stderr is the container's
 */
void
cocoon_guest_crun_run(CocoonGuestCrun *crun, const gchar *const *args,
		      const CocoonGuestCrunStdio *stdio, CocoonGuestCrunFunc func,
		      gpointer user_data)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) description = g_string_new("crun");
	g_autofree gchar *log_path = NULL;

	g_ptr_array_add(argv, g_strdup(crun->binary));
	g_ptr_array_add(argv, g_strdup_printf("--root=%s", crun->root));
	if (stdio != NULL) {
		log_path = g_strdup_printf("%s/crun-%" G_GUINT64_FORMAT ".log", crun->work_dir,
					   ++crun->serial);
		(void)unlink(log_path);
		g_ptr_array_add(argv, g_strdup_printf("--log=file:%s", log_path));
	}
	for (guint i = 0; args[i] != NULL; i++) {
		g_ptr_array_add(argv, g_strdup(args[i]));
		/* the subcommand and the container id name the call in messages */
		if (args[i][0] != '-' && description->len < 200)
			g_string_append_printf(description, " %s", args[i]);
	}
	g_ptr_array_add(argv, NULL);
	spawn_internal(crun, (const gchar *const *)argv->pdata, description->str, stdio, log_path,
		       func, user_data);
}

const gchar *
cocoon_guest_crun_get_binary(CocoonGuestCrun *crun)
{
	return crun->binary;
}

CocoonGuestCrun *
cocoon_guest_crun_new(const gchar *binary, const gchar *root, const gchar *work_dir,
		      CocoonGuestReaper *reaper)
{
	CocoonGuestCrun *crun = g_new0(CocoonGuestCrun, 1);

	crun->binary = g_strdup(binary);
	crun->root = g_strdup(root);
	crun->work_dir = g_strdup(work_dir);
	crun->reaper = reaper;
	crun->pending = g_hash_table_new(g_direct_hash, g_direct_equal);
	return crun;
}

/* pending invocations are dropped without their callbacks */
void
cocoon_guest_crun_free(CocoonGuestCrun *crun)
{
	GHashTableIter iter;
	gpointer key;

	if (crun == NULL)
		return;
	g_hash_table_iter_init(&iter, crun->pending);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		Invocation *invocation = key;
		cocoon_guest_reaper_unwatch(crun->reaper, invocation->pid);
		invocation_free(invocation);
	}
	g_hash_table_unref(crun->pending);
	g_free(crun->binary);
	g_free(crun->root);
	g_free(crun->work_dir);
	g_free(crun);
}
