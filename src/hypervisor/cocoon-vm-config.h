/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* how guest code runs; AUTO probes KVM by running guest code (see cocoon-kvm-probe.h) */
typedef enum {
	COCOON_ACCEL_INVALID = -1,
	COCOON_ACCEL_AUTO,
	COCOON_ACCEL_KVM,
	COCOON_ACCEL_TCG,
} CocoonAccel;

/* "auto", "kvm", "tcg"; NULL is AUTO, anything else INVALID */
CocoonAccel cocoon_accel_from_string(const gchar *value);
const gchar *cocoon_accel_to_string(CocoonAccel accel);

/* how the host directory reaches the guest */
typedef enum {
	COCOON_SHARED_FS_NONE,
	COCOON_SHARED_FS_9P,	    /* virtio-9p, mount tag COCOON_SHARED_FS_TAG */
	COCOON_SHARED_FS_VIRTIO_FS, /* vhost-user-fs served by virtiofsd, the same tag */
} CocoonSharedFs;

#define COCOON_SHARED_FS_TAG "cocoon"
/* on the guest kernel's command line: "<param>=virtiofs" tells the agent to mount virtio-fs */
#define COCOON_SHARE_KERNEL_PARAM "cocoon.share"

/* "9p", "virtio-fs" (the config's hypervisor.shared_fs) or "none"; anything else is -1 */
gint cocoon_shared_fs_from_string(const gchar *value);
const gchar *cocoon_shared_fs_to_string(CocoonSharedFs shared_fs);

#define COCOON_MACHINE_MICROVM "microvm"
#define COCOON_MACHINE_Q35     "q35"

/* the files QEMU creates in the state directory */
#define COCOON_VM_QMP_SOCKET   "qmp.sock"
#define COCOON_VM_AGENT_SOCKET "agent.sock"
#define COCOON_VM_STDIO_SOCKET "stdio.sock"
#define COCOON_VM_CONSOLE_LOG  "console.log"
#define COCOON_VM_QEMU_LOG     "qemu.log"
#define COCOON_VM_PID_FILE     "qemu.pid"
/* and the ones of the pod's virtiofsd (shared_fs VIRTIO_FS) */
#define COCOON_VM_VIRTIOFSD_SOCKET "virtiofsd.sock"
#define COCOON_VM_VIRTIOFSD_LOG	   "virtiofsd.log"
#define COCOON_VM_VIRTIOFSD_PID	   "virtiofsd.pid"

/* the virtio-serial port names the agent looks for in /sys/class/virtio-ports/ */
#define COCOON_VM_AGENT_PORT "cocoon.agent"
#define COCOON_VM_STDIO_PORT "cocoon.stdio"

/* a virtio-net device backed by a tap the caller opened (src/network: the pod's network) */
typedef struct {
	gchar *id;   /* QEMU's netdev id: a letter, then letters, digits, '-', '_' (at most 31) */
	gchar *mac;  /* the guest device's MAC, "02:00:00:00:00:01" */
	gint tap_fd; /* borrowed: open until cocoon_hypervisor_start() returned */
} CocoonVmNic;

#define COCOON_VM_NICS_MAX 8
/* QEMU inherits NIC i's tap as this fd + i */
#define COCOON_VM_NIC_FD_BASE 3
/* and its end of the console socket as this one, after the last possible NIC */
#define COCOON_VM_CONSOLE_FD (COCOON_VM_NIC_FD_BASE + COCOON_VM_NICS_MAX)
/*
 * the monitor, agent and stdio sockets: the driver binds and listens on them (their paths in the
 * state directory) and QEMU inherits the listening sockets as these fds; QEMU never opens a path
 * of the host for them (it may be jailed, see cocoon-jail.h)
 */
#define COCOON_VM_QMP_FD   (COCOON_VM_CONSOLE_FD + 1)
#define COCOON_VM_AGENT_FD (COCOON_VM_CONSOLE_FD + 2)
#define COCOON_VM_STDIO_FD (COCOON_VM_CONSOLE_FD + 3)
/* virtio-fs: QEMU's end of the vhost-user socket, connected by the driver to virtiofsd's */
#define COCOON_VM_VIRTIOFS_FD (COCOON_VM_CONSOLE_FD + 4)
/* a confine.expose entry QEMU may write: "rw:/path" */
#define COCOON_VM_EXPOSE_RW_PREFIX "rw:"
/* the confined VMM's uids, by default (confine.uid_base, confine.uid_count) */
#define COCOON_VM_CONFINE_UID_BASE  1900000000u
#define COCOON_VM_CONFINE_UID_COUNT 65536u

/* everything needed to start one pod's VM; plain data, filled by the shim from its config */
typedef struct {
	gchar *sandbox_id;
	gchar *state_dir;	  /* sockets, logs, pid file; created 0700 if missing */
	gchar *qemu_binary;	  /* default "qemu-system-x86_64", looked up in PATH */
	gchar *machine;		  /* COCOON_MACHINE_MICROVM (default) or COCOON_MACHINE_Q35 */
	CocoonAccel accel;	  /* default AUTO */
	guint vcpus;		  /* default 1 */
	guint memory_mib;	  /* default 256 */
	gchar *kernel;		  /* uncompressed vmlinux (PVH) or bzImage */
	gchar *initrd;		  /* optional */
	gchar *kernel_params;	  /* optional, appended to the built-in parameters */
	CocoonSharedFs shared_fs; /* default 9P */
	gchar *virtiofsd;	  /* shared_fs VIRTIO_FS: the virtiofsd binary (absolute path) */
	gchar *shared_dir;	  /* default <state_dir>/shared */
	gchar **extra_args;	  /* optional, appended to QEMU's argv as they are */
	gboolean debug;		  /* a verbose guest kernel instead of "quiet" */
	guint tsc_khz;		  /* microvm under TCG: host TSC in kHz; 0 = measure it */
	guint start_timeout_ms;	  /* QEMU started and QMP answering; default 10000 */
	guint qmp_timeout_ms;	  /* each QMP command; default 5000 */
	GPtrArray *nics;	  /* CocoonVmNic, optional */
	gint netns_fd;		  /* borrowed; >= 0: QEMU runs in that network namespace */
	/*
	 * the serial console: QEMU writes it to a socket the driver reads into console.log, capped
	 * at this size with one rotation (console.log.1); 0 = no console at all. Default 1024.
	 */
	guint console_log_max_kib;
	/*
	 * hypervisor.confine (default TRUE): QEMU runs jailed (cocoon-jail.h) as a uid of its own,
	 * leased from uid_base .. uid_base + uid_count - 1 under lease_dir (cocoon-uid-lease.h)
	 */
	gboolean confine;
	guint32 uid_base;
	guint32 uid_count;
	gchar *lease_dir;
	/* more host directories the jail shows QEMU, writable (confine.expose), absolute; optional
	 */
	gchar **jail_expose;
} CocoonVmConfig;

#define COCOON_VM_MAX_VCPUS	      255
#define COCOON_VM_MIN_MEMORY_MIB      64
#define COCOON_VM_MAX_MEMORY_MIB      (1024 * 1024)
#define COCOON_VM_MAX_CONSOLE_LOG_KIB (1024 * 1024)

CocoonVmConfig *cocoon_vm_config_new(void);
CocoonVmConfig *cocoon_vm_config_copy(const CocoonVmConfig *config);
void cocoon_vm_config_free(CocoonVmConfig *config);
/* required fields present, values in range, names known; errors are G_IO_ERROR_INVALID_ARGUMENT */
gboolean cocoon_vm_config_validate(const CocoonVmConfig *config, GError **error);
/* <state_dir>/<name> */
gchar *cocoon_vm_config_state_path(const CocoonVmConfig *config, const gchar *name);
/* the shared directory, defaulted */
gchar *cocoon_vm_config_get_shared_dir(const CocoonVmConfig *config);

/* appends a NIC (id and mac copied) */
void cocoon_vm_config_add_nic(CocoonVmConfig *config, const gchar *id, const gchar *mac,
			      gint tap_fd);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonVmConfig, cocoon_vm_config_free)

G_END_DECLS
