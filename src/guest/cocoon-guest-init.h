/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* what cocoon-agent does as PID 1 of the guest before it serves anything */

/* the guest's share: 9p tag and mount options (cache=mmap with cocoon.cache=mmap on the cmdline) */
#define COCOON_GUEST_SHARE_TAG	   "cocoon"
#define COCOON_GUEST_SHARE_OPTIONS "trans=virtio,version=9p2000.L,msize=262144"
/* cocoon.share=virtiofs on the kernel command line: the share is virtio-fs, same tag */
#define COCOON_GUEST_SHARE_PARAM "cocoon.share"

/* log lines "[uptime] cocoon-agent: ..." to fd (the console or stderr); debug adds g_debug */
void cocoon_guest_log_setup(int fd, gboolean debug);

/* TRUE when the kernel command line has word (a "key" or "key=value" whose key is word) */
gboolean cocoon_guest_cmdline_has(const gchar *word);
/* the value of key=value on the kernel command line, or NULL */
gchar *cocoon_guest_cmdline_get(const gchar *key);

/* /proc, /sys, /dev, /dev/pts, /dev/shm, /run, /tmp, cgroup2; an existing mount is kept */
gboolean cocoon_guest_mount_basics(GError **error);
/* fds 0, 1, 2 open (on /dev/console, else /dev/null) so no pipe ever lands there */
void cocoon_guest_ensure_std_fds(void);
/* cpu cpuset io memory pids in the root cgroup's subtree_control */
void cocoon_guest_enable_cgroup_controllers(const gchar *cgroup_root);
/* loads the modules listed in path (one a line, absolute or below /lib/modules/<release>/) */
void cocoon_guest_load_modules(const gchar *path);
/* brings lo up */
gboolean cocoon_guest_loopback_up(GError **error);
/* mounts the 9p share at mountpoint; an existing 9p mount there is fine */
gboolean cocoon_guest_mount_share(const gchar *mountpoint, GError **error);
/* syncs and ends the VM; never returns */
G_NORETURN void cocoon_guest_power_off(void);

G_END_DECLS
