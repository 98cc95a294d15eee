/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-json.h"

G_BEGIN_DECLS

/*
 * cocoon's configuration, read with libconfig from $COCOON_CONFIG or COCOON_DEFAULT_CONFIG.
 * Plain data: loaded once at start, read-only afterwards, safe to read from any thread. A sandbox
 * gets its own copy with the pod's annotations applied (cocoon_config_apply_annotations()).
 */
typedef struct {
	/* hypervisor */
	gchar *qemu_binary;
	gchar *machine;
	gchar *accel; /* "auto" | "kvm" | "tcg" */
	guint vcpus;
	guint memory_mib;
	guint max_vcpus;      /* what vcpus may be raised to, by the file or an annotation */
	guint max_memory_mib; /* same for memory_mib */
	gchar *kernel;
	gchar *initrd;
	gchar *kernel_params;
	gchar **extra_args;
	/* how the pod's share reaches the guest: "virtio-fs" (default) | "9p" */
	gchar *shared_fs;
	/* the virtiofsd binary for "virtio-fs" (QEMU 7.2's C one, or the Rust one) */
	gchar *virtiofsd;
	/* the guest console's log cap, KiB (rotated once: twice this on disk); 0 = no console */
	guint console_log_max_kib;
	/* the VMM jailed as a uid of its own (docs/security.md); FALSE for debugging only */
	gboolean confine;
	/* confine: the uids leased to pods' VMMs, uid_base .. uid_base + uid_count - 1 */
	guint uid_base;
	guint uid_count;
	/* confine: host directories the jailed QEMU sees, writable (for extra_args naming paths) */
	gchar **confine_expose;
	/* agent */
	guint boot_timeout_ms;
	guint request_timeout_ms;
	gboolean debug_console;
	/* runtime */
	gchar *state_dir;
	gchar *log_level;
	gchar *dbus; /* "system" | "session" | "none" */
	/* each container's pids.max in the guest at most (a spec may ask less); 0 = none */
	guint container_pids_max;
	/* the pod's VM processes join the host cgroup of its sandbox container's cgroupsPath */
	gboolean host_cgroup;
	/* "section.key" that pods may override with io.cocoon.config.<section>.<key> annotations */
	gchar **enable_annotations;
	/* where it came from, for messages; NULL = built-in defaults */
	gchar *path;
	/* "FILE:LINE: unknown key K (ignored)" for the caller to log; never NULL */
	gchar **warnings;
} CocoonConfig;

#define COCOON_CONFIG_ANNOTATION_PREFIX "io.cocoon.config."
/* Debian 12's qemu-system-common ships QEMU 7.2's C virtiofsd here */
#define COCOON_VIRTIOFSD_DEFAULT "/usr/lib/qemu/virtiofsd"

CocoonConfig *cocoon_config_new_default(void);
/* reads path; a missing file is an error, a bad value names the file, line, key and expected type
 */
CocoonConfig *cocoon_config_load(const gchar *path, GError **error);
/* $COCOON_CONFIG, else the default path if it exists, else built-in defaults */
CocoonConfig *cocoon_config_load_default(GError **error);
CocoonConfig *cocoon_config_copy(const CocoonConfig *config);
void cocoon_config_free(CocoonConfig *config);

/*
 * applies the io.cocoon.config.<section>.<key> members of annotations (an OCI annotations
 * object: string → string) to config, each checked like the file's value. Other annotations are
 * ignored. G_IO_ERROR_INVALID_ARGUMENT, naming the annotation, for a key not in
 * enable_annotations, an unknown key or a bad value; config is unchanged then.
 */
gboolean cocoon_config_apply_annotations(CocoonConfig *config, const CocoonJson *annotations,
					 GError **error);
/* TRUE for a "section.key" that enable_annotations may name (never binaries, paths, QEMU args) */
gboolean cocoon_config_key_is_overridable(const gchar *key);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonConfig, cocoon_config_free)

G_END_DECLS
