/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * cocoon's configuration, read with libconfig from $COCOON_CONFIG or COCOON_DEFAULT_CONFIG.
 * Plain data: loaded once at start, read-only afterwards, safe to read from any thread.
 */
typedef struct {
	/* hypervisor */
	gchar *qemu_binary;
	gchar *machine;
	gchar *accel; /* "auto" | "kvm" | "tcg" */
	guint vcpus;
	guint memory_mib;
	gchar *kernel;
	gchar *initrd;
	gchar *kernel_params;
	gchar **extra_args;
	/* agent */
	guint boot_timeout_ms;
	guint request_timeout_ms;
	gboolean debug_console;
	/* runtime */
	gchar *state_dir;
	gchar *log_level;
	/* where it came from, for messages; NULL = built-in defaults */
	gchar *path;
} CocoonConfig;

CocoonConfig *cocoon_config_new_default(void);
/* reads path; a missing file is an error, a bad value names the file, line, key and expected type */
CocoonConfig *cocoon_config_load(const gchar *path, GError **error);
/* $COCOON_CONFIG, else the default path if it exists, else built-in defaults */
CocoonConfig *cocoon_config_load_default(GError **error);
void cocoon_config_free(CocoonConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonConfig, cocoon_config_free)

G_END_DECLS
