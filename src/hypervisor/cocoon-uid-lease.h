/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/*
 * A uid (and the gid of the same number) of the configured range (confine.uid_base,
 * confine.uid_count) that one pod's VMM runs as, held for as long as the lease lives.
 *
 * Leases are lock files <dir>/<uid> locked with flock(LOCK_EX) by the shim that holds the lease
 * (never by the VMM: its fds are its own): two shims never hold the same uid, and a shim that dies
 * (even by SIGKILL) releases its leases with its fds. A uid some live process still runs as (a
 * VMM whose shim died and that somehow outlived it) is skipped, whatever its lock says.
 */
typedef struct _CocoonUidLease CocoonUidLease;

#define COCOON_UID_LEASE_DIR_DEFAULT "/run/cocoon-uids"

CocoonUidLease *cocoon_uid_lease_acquire(const gchar *dir, guint32 base, guint32 count,
					 const gchar *owner, GError **error);
uid_t cocoon_uid_lease_get_uid(const CocoonUidLease *lease);
void cocoon_uid_lease_release(CocoonUidLease *lease);

/* is any process running with this uid (real, effective or as /proc shows its owner)? */
gboolean cocoon_uid_in_use(uid_t uid);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonUidLease, cocoon_uid_lease_release)

G_END_DECLS
