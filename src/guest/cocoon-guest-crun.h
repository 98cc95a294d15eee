/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-guest-reaper.h"

G_BEGIN_DECLS

/*
 * runs crun asynchronously (the reaper reports its exit; nothing blocks the main context).
 * Main context only.
 */
typedef struct _CocoonGuestCrun CocoonGuestCrun;

/* how long one crun invocation may take before it is killed */
#define COCOON_GUEST_CRUN_TIMEOUT_S 60

/*
 * the stdio crun (and so the container process it creates) gets; the fds are borrowed (dup2'ed in
 * the child). NULL stdio: /dev/null in, stdout and stderr captured for the result.
 */
typedef struct {
	int stdin_fd;  /* -1: /dev/null */
	int stdout_fd; /* -1: /dev/null */
	int stderr_fd; /* -1: /dev/null */
} CocoonGuestCrunStdio;

/*
 * error NULL on success; else COCOON_TTRPC_ERROR INTERNAL (or DEADLINE_EXCEEDED) whose message
 * has crun's own. output: what crun printed on stdout when it was captured, else "".
 */
typedef void (*CocoonGuestCrunFunc)(const GError *error, const gchar *output, gpointer user_data);

/* binary: the crun executable; root: its --root state directory; work_dir: for its log files */
CocoonGuestCrun *cocoon_guest_crun_new(const gchar *binary, const gchar *root,
				       const gchar *work_dir, CocoonGuestReaper *reaper);
void cocoon_guest_crun_free(CocoonGuestCrun *crun);

const gchar *cocoon_guest_crun_get_binary(CocoonGuestCrun *crun);

/* runs `crun --root ROOT [--log ...] args...` (args NULL-terminated); func runs once, later */
void cocoon_guest_crun_run(CocoonGuestCrun *crun, const gchar *const *args,
			   const CocoonGuestCrunStdio *stdio, CocoonGuestCrunFunc func,
			   gpointer user_data);

/* runs any program the same way (used for `crun --version` and by tests) */
void cocoon_guest_crun_spawn(CocoonGuestCrun *crun, const gchar *const *argv,
			     const CocoonGuestCrunStdio *stdio, CocoonGuestCrunFunc func,
			     gpointer user_data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonGuestCrun, cocoon_guest_crun_free)

G_END_DECLS
