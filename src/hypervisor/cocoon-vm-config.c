/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-hypervisor"

#include "config.h"

#include "cocoon-vm-config.h"

#include <string.h>

#include <gio/gio.h>

CocoonAccel
cocoon_accel_from_string(const gchar *value)
{
	if (value == NULL || g_str_equal(value, "auto"))
		return COCOON_ACCEL_AUTO;
	if (g_str_equal(value, "kvm"))
		return COCOON_ACCEL_KVM;
	if (g_str_equal(value, "tcg"))
		return COCOON_ACCEL_TCG;
	return COCOON_ACCEL_INVALID;
}

const gchar *
cocoon_accel_to_string(CocoonAccel accel)
{
	switch (accel) {
	case COCOON_ACCEL_AUTO:
		return "auto";
	case COCOON_ACCEL_KVM:
		return "kvm";
	case COCOON_ACCEL_TCG:
		return "tcg";
	case COCOON_ACCEL_INVALID:
		break;
	}
	return "invalid";
}

CocoonVmConfig *
cocoon_vm_config_new(void)
{
	CocoonVmConfig *config = g_new0(CocoonVmConfig, 1);

	config->qemu_binary = g_strdup("qemu-system-x86_64");
	config->machine = g_strdup(COCOON_MACHINE_MICROVM);
	config->accel = COCOON_ACCEL_AUTO;
	config->vcpus = 1;
	config->memory_mib = 256;
	config->shared_fs = COCOON_SHARED_FS_9P;
	config->start_timeout_ms = 10000;
	config->qmp_timeout_ms = 5000;
	return config;
}

CocoonVmConfig *
cocoon_vm_config_copy(const CocoonVmConfig *config)
{
	CocoonVmConfig *copy = g_memdup2(config, sizeof(*config));

	copy->sandbox_id = g_strdup(config->sandbox_id);
	copy->state_dir = g_strdup(config->state_dir);
	copy->qemu_binary = g_strdup(config->qemu_binary);
	copy->machine = g_strdup(config->machine);
	copy->kernel = g_strdup(config->kernel);
	copy->initrd = g_strdup(config->initrd);
	copy->kernel_params = g_strdup(config->kernel_params);
	copy->shared_dir = g_strdup(config->shared_dir);
	copy->extra_args = g_strdupv(config->extra_args);
	return copy;
}

void
cocoon_vm_config_free(CocoonVmConfig *config)
{
	if (config == NULL)
		return;
	g_free(config->sandbox_id);
	g_free(config->state_dir);
	g_free(config->qemu_binary);
	g_free(config->machine);
	g_free(config->kernel);
	g_free(config->initrd);
	g_free(config->kernel_params);
	g_free(config->shared_dir);
	g_strfreev(config->extra_args);
	g_free(config);
}

static gboolean
invalid(GError **error, const CocoonVmConfig *config, const gchar *message)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "sandbox %s: VM config: %s",
		    config->sandbox_id != NULL ? config->sandbox_id : "(no id)", message);
	return FALSE;
}

static gboolean
is_set(const gchar *value)
{
	return value != NULL && value[0] != '\0';
}

gboolean
cocoon_vm_config_validate(const CocoonVmConfig *config, GError **error)
{
	if (!is_set(config->sandbox_id))
		return invalid(error, config, "no sandbox id");
	if (!is_set(config->state_dir) || !g_path_is_absolute(config->state_dir))
		return invalid(error, config, "the state directory must be an absolute path");
	if (!is_set(config->qemu_binary))
		return invalid(error, config, "no QEMU binary");
	if (g_strcmp0(config->machine, COCOON_MACHINE_MICROVM) != 0 &&
	    g_strcmp0(config->machine, COCOON_MACHINE_Q35) != 0)
		return invalid(error, config, "machine must be \"microvm\" or \"q35\"");
	if (config->accel != COCOON_ACCEL_AUTO && config->accel != COCOON_ACCEL_KVM &&
	    config->accel != COCOON_ACCEL_TCG)
		return invalid(error, config, "accel must be \"auto\", \"kvm\" or \"tcg\"");
	if (config->vcpus < 1 || config->vcpus > COCOON_VM_MAX_VCPUS)
		return invalid(error, config, "vcpus must be between 1 and 255");
	if (config->memory_mib < COCOON_VM_MIN_MEMORY_MIB ||
	    config->memory_mib > COCOON_VM_MAX_MEMORY_MIB)
		return invalid(error, config, "memory must be between 64 MiB and 1 TiB");
	if (!is_set(config->kernel))
		return invalid(error, config, "no guest kernel");
	if (config->shared_fs != COCOON_SHARED_FS_NONE && config->shared_fs != COCOON_SHARED_FS_9P)
		return invalid(error, config, "unknown shared file system kind");
	if (config->shared_dir != NULL && !g_path_is_absolute(config->shared_dir))
		return invalid(error, config, "the shared directory must be an absolute path");
	if (config->kernel_params != NULL && strpbrk(config->kernel_params, "\n\r") != NULL)
		return invalid(error, config, "kernel parameters must be one line");
	if (config->start_timeout_ms == 0 || config->qmp_timeout_ms == 0)
		return invalid(error, config, "timeouts must not be 0");
	return TRUE;
}

gchar *
cocoon_vm_config_state_path(const CocoonVmConfig *config, const gchar *name)
{
	return g_build_filename(config->state_dir, name, NULL);
}

gchar *
cocoon_vm_config_get_shared_dir(const CocoonVmConfig *config)
{
	if (config->shared_dir != NULL)
		return g_strdup(config->shared_dir);
	return cocoon_vm_config_state_path(config, "shared");
}
