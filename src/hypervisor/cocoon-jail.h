/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/*
 * CocoonJail: how a pod's VMM is started confined (hypervisor.confine, docs/security.md).
 *
 * The caller describes the jail (the host files the VMM may see, its credentials, the
 * capabilities it keeps, its fds), then cocoon_jail_spawn() clones a child in new mount, PID,
 * IPC and UTS namespaces that builds the jail and execs the program:
 *  - "/" becomes a slave, so nothing the child mounts reaches the host; a tmpfs at root_dir gets
 *    each exposed path bound at the same absolute path (read-only unless asked), device nodes
 *    bound from the host's /dev, a /proc of its own PID namespace (subset=pid), then
 *    pivot_root(2) into it, the old root detached and the new "/" remounted read-only;
 *  - rlimits, the bounding set reduced to the kept capabilities, supplementary groups,
 *    setresgid/setresuid to the jail's ids, then exactly the kept capabilities (ambient, so they
 *    survive execve), a new session keyring, no_new_privs and a seccomp filter of ours
 *    (denied_syscalls in cocoon-jail.c) before execve;
 *  - PR_SET_PDEATHSIG is set at once and again after the credential change (which clears it),
 *    and the child checks that the spawning process is still alive after each (the "alive"
 *    pipe), so a shim killed at any moment never leaves a VMM behind.
 * Everything the child does is prepared by the parent: the child makes system calls only.
 */
typedef struct _CocoonJail CocoonJail;

/* a fd the child gets: source (the caller's, borrowed) at target */
typedef struct {
	int source;
	int target;
} CocoonJailFd;

CocoonJail *cocoon_jail_new(const gchar *root_dir, uid_t uid, gid_t gid);
void cocoon_jail_free(CocoonJail *jail);

/* the host path, visible at the same path in the jail; a directory is bound with its submounts */
void cocoon_jail_expose(CocoonJail *jail, const gchar *path, gboolean writable);
/* an executable file (the VMM's binary when it is not below /usr), read-only */
void cocoon_jail_expose_program(CocoonJail *jail, const gchar *path);
/*
 * a directory whose later mounts (made by the host after the spawn) must appear in the jail: it
 * is bound as a slave of its peer group (the share); writable
 */
void cocoon_jail_expose_live(CocoonJail *jail, const gchar *path);
/* a device node of the host's /dev, e.g. "/dev/null" */
void cocoon_jail_add_device(CocoonJail *jail, const gchar *path);
void cocoon_jail_add_group(CocoonJail *jail, gid_t gid);
/* a capability number (CAP_*) the program keeps; none by default */
void cocoon_jail_keep_capability(CocoonJail *jail, guint capability);
void cocoon_jail_set_hostname(CocoonJail *jail, const gchar *hostname);
/* RLIMIT_NOFILE, RLIMIT_NPROC (per uid: every thread counts), RLIMIT_CORE (bytes, 0 = none) */
void cocoon_jail_set_limits(CocoonJail *jail, guint64 nofile, guint64 nproc, guint64 core);
/* the child enters this network namespace first (borrowed fd) */
void cocoon_jail_set_netns(CocoonJail *jail, int netns_fd);

/*
 * starts program (absolute; it must be exposed) with argv in the jail; fds lists what the child
 * gets (0, 1 and 2 among them), every other fd is closed. The child is the caller's (waitpid,
 * pidfd_open), PID 1 of its own PID namespace. Errors of the child before execve are written
 * to its fd 2 as "cocoon-jail: <step>: <strerror>" and it exits with status 127.
 */
gboolean cocoon_jail_spawn(CocoonJail *jail, const gchar *program, const gchar *const *argv,
			   const CocoonJailFd *fds, guint n_fds, GPid *ret_pid, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonJail, cocoon_jail_free)

G_END_DECLS
