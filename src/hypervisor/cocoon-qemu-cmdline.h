/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-vm-config.h"

G_BEGIN_DECLS

/*
 * QEMU's own seccomp filter for a confined QEMU (-sandbox): no obsolete system calls, no set*id,
 * no fork or exec, no scheduler or CPU affinity changes; cocoonctl check tries the same
 */
#define COCOON_QEMU_SANDBOX_OPTIONS                                                                \
	"on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

/* what the driver found out before building the command line */
typedef struct {
	CocoonAccel accel; /* KVM or TCG, never AUTO */
	guint tsc_khz;	   /* for tsc_early_khz= on microvm under TCG; 0 leaves it out */
} CocoonQemuHostInfo;

/*
 * The QEMU argv for config (argv[0] is config->qemu_binary). Pure: no I/O, no environment;
 * paths come from config->state_dir. Option values inside QEMU option lists (chardev and fsdev
 * paths, ...) are escaped (',' -> ",,"). G_IO_ERROR_INVALID_ARGUMENT when config does not
 * validate or a value cannot be passed (a newline in the kernel parameters).
 */
GStrv cocoon_qemu_build_cmdline(const CocoonVmConfig *config, const CocoonQemuHostInfo *host,
				GError **error);

/*
 * the argv of the pod's virtiofsd (argv[0] is config->virtiofsd, QEMU 7.2's C virtiofsd options):
 * it serves the shared directory on <state_dir>/virtiofsd.sock. Pure, like the QEMU argv.
 */
GStrv cocoon_qemu_build_virtiofsd_argv(const CocoonVmConfig *config, GError **error);

/* the kernel command line alone (also part of the argv) */
gchar *cocoon_qemu_build_kernel_params(const CocoonVmConfig *config,
				       const CocoonQemuHostInfo *host);

/* a value for a QEMU option list: every ',' doubled */
gchar *cocoon_qemu_escape_option_value(const gchar *value);

G_END_DECLS
