/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* what containerd passes on the command line (Go flag syntax) */
typedef struct {
	gchar *namespace_;
	gchar *address;
	gchar *publish_binary;
	gchar *id;
	gchar *bundle;
	gchar *group; /* daemon only: the pod grouping key (sandbox id) */
	gboolean debug;
	gchar *action; /* "start", "delete", NULL = run as the daemon */
} CocoonShimOptions;

/* `start`: prints the shim address, spawning the daemon when this pod has none yet */
int cocoon_shim_start(const CocoonShimOptions *options);
/* `delete`: cleans up what is left of one task, prints a raw DeleteResponse */
int cocoon_shim_delete(const CocoonShimOptions *options);
/* removes a sandbox's state directory and what a stopped VM left in it, unless a rootfs is shared
 */
void cocoon_shim_remove_state_dir(const gchar *state_dir);
/* the daemon, with the listening socket on fd 3 */
int cocoon_shim_daemon(const CocoonShimOptions *options);

G_END_DECLS
