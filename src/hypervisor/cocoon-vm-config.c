/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-hypervisor"

#include "config.h"

#include "cocoon-vm-config.h"

#include "cocoon-uid-lease.h"

#include <string.h>

#include <gio/gio.h>

#include "cocoon-names.h"

/* the config's names of the accelerators and the shared file systems, both ways */
static const gchar *const accel_names[] = {
	[COCOON_ACCEL_AUTO] = "auto",
	[COCOON_ACCEL_KVM] = "kvm",
	[COCOON_ACCEL_TCG] = "tcg",
};
static const gchar *const shared_fs_names[] = {
	[COCOON_SHARED_FS_NONE] = "none",
	[COCOON_SHARED_FS_9P] = "9p",
	[COCOON_SHARED_FS_VIRTIO_FS] = "virtio-fs",
};

/* NULL: AUTO; an unknown name: INVALID */
CocoonAccel
cocoon_accel_from_string(const gchar *value)
{
	if (value == NULL)
		return COCOON_ACCEL_AUTO;
	return (CocoonAccel)cocoon_names_lookup(accel_names, G_N_ELEMENTS(accel_names), value);
}

const gchar *
cocoon_accel_to_string(CocoonAccel accel)
{
	return cocoon_names_get(accel_names, G_N_ELEMENTS(accel_names), accel, "invalid");
}

gint
cocoon_shared_fs_from_string(const gchar *value)
{
	return cocoon_names_lookup(shared_fs_names, G_N_ELEMENTS(shared_fs_names), value);
}

const gchar *
cocoon_shared_fs_to_string(CocoonSharedFs shared_fs)
{
	return cocoon_names_get(shared_fs_names, G_N_ELEMENTS(shared_fs_names), shared_fs,
				"invalid");
}

static void
nic_free(CocoonVmNic *nic)
{
	g_free(nic->id);
	g_free(nic->mac);
	g_free(nic);
}

void
cocoon_vm_config_add_nic(CocoonVmConfig *config, const gchar *id, const gchar *mac, gint tap_fd)
{
	CocoonVmNic *nic = g_new0(CocoonVmNic, 1);

	nic->id = g_strdup(id);
	nic->mac = g_strdup(mac);
	nic->tap_fd = tap_fd;
	if (config->nics == NULL)
		config->nics = g_ptr_array_new_with_free_func((GDestroyNotify)nic_free);
	g_ptr_array_add(config->nics, nic);
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
	config->virtiofsd = g_strdup("/usr/lib/qemu/virtiofsd");
	config->start_timeout_ms = 10000;
	config->qmp_timeout_ms = 5000;
	config->netns_fd = -1;
	config->console_log_max_kib = 1024;
	config->uid_base = COCOON_VM_CONFINE_UID_BASE;
	config->uid_count = COCOON_VM_CONFINE_UID_COUNT;
	config->lease_dir = g_strdup(COCOON_UID_LEASE_DIR_DEFAULT);
	return config;
}

/* the strings a config owns: a copy duplicates them, a free frees them */
static const gsize string_fields[] = {
	G_STRUCT_OFFSET(CocoonVmConfig, sandbox_id),	G_STRUCT_OFFSET(CocoonVmConfig, state_dir),
	G_STRUCT_OFFSET(CocoonVmConfig, qemu_binary),	G_STRUCT_OFFSET(CocoonVmConfig, machine),
	G_STRUCT_OFFSET(CocoonVmConfig, kernel),	G_STRUCT_OFFSET(CocoonVmConfig, initrd),
	G_STRUCT_OFFSET(CocoonVmConfig, kernel_params), G_STRUCT_OFFSET(CocoonVmConfig, shared_dir),
	G_STRUCT_OFFSET(CocoonVmConfig, virtiofsd),	G_STRUCT_OFFSET(CocoonVmConfig, lease_dir),
};

static gchar **
string_field(CocoonVmConfig *config, guint i)
{
	return G_STRUCT_MEMBER_P(config, string_fields[i]);
}

CocoonVmConfig *
cocoon_vm_config_copy(const CocoonVmConfig *config)
{
	CocoonVmConfig *copy = g_memdup2(config, sizeof(*config));

	for (guint i = 0; i < G_N_ELEMENTS(string_fields); i++)
		*string_field(copy, i) = g_strdup(*string_field(copy, i));
	copy->extra_args = g_strdupv(config->extra_args);
	copy->jail_expose = g_strdupv(config->jail_expose);
	copy->nics = NULL;
	for (guint i = 0; config->nics != NULL && i < config->nics->len; i++) {
		const CocoonVmNic *nic = g_ptr_array_index(config->nics, i);
		cocoon_vm_config_add_nic(copy, nic->id, nic->mac, nic->tap_fd);
	}
	return copy;
}

void
cocoon_vm_config_free(CocoonVmConfig *config)
{
	if (config == NULL)
		return;
	for (guint i = 0; i < G_N_ELEMENTS(string_fields); i++)
		g_free(*string_field(config, i));
	g_strfreev(config->extra_args);
	g_strfreev(config->jail_expose);
	if (config->nics != NULL)
		g_ptr_array_unref(config->nics);
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

/* a letter, then letters, digits, '-', '_': safe inside QEMU option lists without escaping */
static gboolean
nic_id_is_valid(const gchar *id)
{
	if (id == NULL || !g_ascii_isalpha(id[0]) || strlen(id) > 31)
		return FALSE;
	for (const gchar *p = id; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
			return FALSE;
	}
	return TRUE;
}

/* six hex octets separated by ':' */
static gboolean
mac_is_valid(const gchar *mac)
{
	if (mac == NULL || strlen(mac) != 17)
		return FALSE;
	for (guint i = 0; i < 17; i++) {
		if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit(mac[i]))
			return FALSE;
	}
	return TRUE;
}

static gboolean
nics_are_valid(const CocoonVmConfig *config, const gchar **ret_problem)
{
	if (config->nics == NULL)
		return TRUE;
	if (config->nics->len > COCOON_VM_NICS_MAX) {
		*ret_problem = "at most 8 network devices";
		return FALSE;
	}
	for (guint i = 0; i < config->nics->len; i++) {
		const CocoonVmNic *nic = g_ptr_array_index(config->nics, i);
		if (!nic_id_is_valid(nic->id)) {
			*ret_problem = "a network device id is not a letter followed by letters, "
				       "digits, '-' or '_'";
			return FALSE;
		}
		if (!mac_is_valid(nic->mac)) {
			*ret_problem = "a network device MAC address is not six hex octets";
			return FALSE;
		}
		if (nic->tap_fd < 0) {
			*ret_problem = "a network device has no tap fd";
			return FALSE;
		}
		for (guint j = 0; j < i; j++) {
			const CocoonVmNic *other = g_ptr_array_index(config->nics, j);
			if (g_str_equal(other->id, nic->id)) {
				*ret_problem = "two network devices have the same id";
				return FALSE;
			}
		}
	}
	return TRUE;
}

gboolean
cocoon_vm_config_validate(const CocoonVmConfig *config, GError **error)
{
	const gchar *problem = NULL;

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
	if (config->shared_fs != COCOON_SHARED_FS_NONE &&
	    config->shared_fs != COCOON_SHARED_FS_9P &&
	    config->shared_fs != COCOON_SHARED_FS_VIRTIO_FS)
		return invalid(error, config, "unknown shared file system kind");
	if (config->shared_fs == COCOON_SHARED_FS_VIRTIO_FS &&
	    (!is_set(config->virtiofsd) || !g_path_is_absolute(config->virtiofsd)))
		return invalid(error, config,
			       "virtio-fs needs the virtiofsd binary's absolute path");
	if (config->shared_dir != NULL && !g_path_is_absolute(config->shared_dir))
		return invalid(error, config, "the shared directory must be an absolute path");
	if (config->kernel_params != NULL && strpbrk(config->kernel_params, "\n\r") != NULL)
		return invalid(error, config, "kernel parameters must be one line");
	if (config->start_timeout_ms == 0 || config->qmp_timeout_ms == 0)
		return invalid(error, config, "timeouts must not be 0");
	if (config->console_log_max_kib > COCOON_VM_MAX_CONSOLE_LOG_KIB)
		return invalid(error, config, "the console log cap must be at most 1 GiB");
	if (config->confine &&
	    (config->uid_base == 0 || config->uid_count == 0 ||
	     (guint64)config->uid_base + config->uid_count > G_MAXUINT32 ||
	     !is_set(config->lease_dir) || !g_path_is_absolute(config->lease_dir)))
		return invalid(error, config,
			       "confinement needs a range of non-zero uids and an absolute lease "
			       "directory");
	for (guint i = 0; config->jail_expose != NULL && config->jail_expose[i] != NULL; i++) {
		const gchar *path = config->jail_expose[i];
		if (g_str_has_prefix(path, COCOON_VM_EXPOSE_RW_PREFIX))
			path += strlen(COCOON_VM_EXPOSE_RW_PREFIX);
		if (!g_path_is_absolute(path))
			return invalid(
				error, config,
				"confine.expose lists absolute paths only (\"rw:\" before one "
				"QEMU may write)");
	}
	if (!nics_are_valid(config, &problem))
		return invalid(error, config, problem);
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
