/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The host ends of a process's stdio as containerd names them (spec §6): FIFO paths, file:// or
 * binary:// URIs, or empty strings. Opening gives plain fds the stdio mux copies to and from.
 */
typedef struct {
	int stdin_fd;	   /* read: containerd's stdin FIFO (-1 = none) */
	int stdin_holder;  /* a writer we hold on the stdin FIFO until CloseIO */
	int stdout_fd;	   /* write: container stdout goes here (-1 = none) */
	int stderr_fd;	   /* write: container stderr goes here (-1 = none) */
	int stdout_keeper; /* a reader we hold so a detached client never causes EPIPE */
	int stderr_keeper;
	GPid logger_pid; /* binary:// logger, 0 = none */
} CocoonStdio;

#define COCOON_STDIO_INIT                                                                          \
	{                                                                                          \
		-1, -1, -1, -1, -1, -1, 0                                                          \
	}

/* opens the endpoints; nothing is left open on failure */
gboolean cocoon_stdio_open(CocoonStdio *stdio, const gchar *stdin_path, const gchar *stdout_uri,
			   const gchar *stderr_uri, gboolean terminal, const gchar *container_id,
			   const gchar *namespace_, GError **error);
/* CloseIO: drop our writer so the client's close becomes EOF */
void cocoon_stdio_close_stdin_holder(CocoonStdio *stdio);
/* closes what is still open; stops a binary:// logger (SIGTERM, then SIGKILL after 12 s) */
void cocoon_stdio_clear(CocoonStdio *stdio);

G_END_DECLS
