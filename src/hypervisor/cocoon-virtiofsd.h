/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

#include "cocoon-vm-config.h"

G_BEGIN_DECLS

/*
 * CocoonVirtiofsd: the pod's virtiofsd (shared_fs VIRTIO_FS), the vhost-user back end that serves
 * the share to the guest. The QEMU driver starts it before QEMU and ends it after QEMU exited.
 *
 * The driver binds and listens on <state>/virtiofsd.sock itself and hands the listening socket to
 * virtiofsd as fd 3 (--fd=3): QEMU can connect as soon as start() returned, without a wait for
 * virtiofsd to create the socket. virtiofsd is our child in its own process group, dies with the
 * thread that started it (PR_SET_PDEATHSIG), writes stderr to <state>/virtiofsd.log, and
 * <state>/virtiofsd.pid holds "PID STARTTIME" so that `delete` after a shim crash finds it
 * (cocoon_virtiofsd_kill_from_state()). With -o sandbox=namespace it forks once the VM connects:
 * the child runs in new mount, pid and network namespaces; it gets SIGTERM when its parent dies,
 * and stop() kills the whole process group.
 *
 * Threading: one owner thread (the hypervisor's), as CocoonHypervisor.
 */
typedef struct _CocoonVirtiofsd CocoonVirtiofsd;

/* called once on the context given to start() when virtiofsd exits before stop() */
typedef void (*CocoonVirtiofsdExitFunc)(CocoonVirtiofsd *virtiofsd, const gchar *reason,
					gpointer user_data);

/* spawns virtiofsd for config (argv: cocoon_qemu_build_virtiofsd_argv()) */
CocoonVirtiofsd *cocoon_virtiofsd_start(const CocoonVmConfig *config, GMainContext *context,
					CocoonVirtiofsdExitFunc exit_func, gpointer user_data,
					GError **error);
GPid cocoon_virtiofsd_get_pid(CocoonVirtiofsd *virtiofsd);
/* "virtiofsd exited with status 1; virtiofsd.log: ..." once it exited, else NULL */
gchar *cocoon_virtiofsd_describe_exit(CocoonVirtiofsd *virtiofsd);
/* SIGKILL to its process group, a bounded wait, reaped; the socket and pid file go */
void cocoon_virtiofsd_stop(CocoonVirtiofsd *virtiofsd);
/* stops it first if it still runs; NULL is fine */
void cocoon_virtiofsd_free(CocoonVirtiofsd *virtiofsd);

/*
 * kills the virtiofsd recorded in <state_dir>/virtiofsd.pid (its process group) only if that pid
 * still belongs to the process started then; TRUE also without a pid file or when it is gone
 */
gboolean cocoon_virtiofsd_kill_from_state(const gchar *state_dir, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonVirtiofsd, cocoon_virtiofsd_free)

G_END_DECLS
