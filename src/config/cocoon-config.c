/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-config"

#include "config.h"

#include "cocoon-config.h"

#include <gio/gio.h>
#include <libconfig.h>

CocoonConfig *
cocoon_config_new_default(void)
{
	CocoonConfig *config = g_new0(CocoonConfig, 1);
	config->qemu_binary = g_strdup("/usr/bin/qemu-system-x86_64");
	config->machine = g_strdup("microvm");
	config->accel = g_strdup("auto");
	config->vcpus = 1;
	config->memory_mib = 256;
	config->kernel = g_build_filename(COCOON_GUEST_IMAGE_DIR, "vmlinux", NULL);
	config->initrd = g_build_filename(COCOON_GUEST_IMAGE_DIR, "initrd.img", NULL);
	config->kernel_params = g_strdup("");
	config->extra_args = g_new0(gchar *, 1);
	config->boot_timeout_ms = 30000;
	config->request_timeout_ms = 10000;
	config->debug_console = FALSE;
	config->state_dir = g_strdup("/run/cocoon");
	config->log_level = g_strdup("info");
	return config;
}

void
cocoon_config_free(CocoonConfig *config)
{
	if (config == NULL)
		return;
	g_free(config->qemu_binary);
	g_free(config->machine);
	g_free(config->accel);
	g_free(config->kernel);
	g_free(config->initrd);
	g_free(config->kernel_params);
	g_strfreev(config->extra_args);
	g_free(config->state_dir);
	g_free(config->log_level);
	g_free(config->path);
	g_free(config);
}

static gboolean
conf_bad_value(const gchar *path, config_setting_t *setting, const gchar *key,
		 const gchar *expected, GError **error)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s:%d: %s: expected %s", path,
		    config_setting_source_line(setting), key, expected);
	return FALSE;
}

static gboolean
conf_get_string(const gchar *path, config_t *cfg, const gchar *key, gchar **value,
		   gboolean absolute_path, GError **error)
{
	config_setting_t *setting = config_lookup(cfg, key);
	const char *str;
	if (setting == NULL)
		return TRUE;
	if (config_setting_type(setting) != CONFIG_TYPE_STRING)
		return conf_bad_value(path, setting, key, "a string", error);
	str = config_setting_get_string(setting);
	if (absolute_path && !g_path_is_absolute(str))
		return conf_bad_value(path, setting, key, "an absolute path", error);
	g_free(*value);
	*value = g_strdup(str);
	return TRUE;
}

static gboolean
conf_get_uint(const gchar *path, config_t *cfg, const gchar *key, guint *value, guint min,
		 guint max, GError **error)
{
	config_setting_t *setting = config_lookup(cfg, key);
	long long v;
	if (setting == NULL)
		return TRUE;
	if (config_setting_type(setting) != CONFIG_TYPE_INT &&
	    config_setting_type(setting) != CONFIG_TYPE_INT64)
		return conf_bad_value(path, setting, key, "an integer", error);
	v = config_setting_get_int64(setting);
	if (v < (long long)min || v > (long long)max) {
		g_autofree gchar *range = g_strdup_printf("an integer in [%u, %u]", min, max);
		return conf_bad_value(path, setting, key, range, error);
	}
	*value = (guint)v;
	return TRUE;
}

static gboolean
conf_get_bool(const gchar *path, config_t *cfg, const gchar *key, gboolean *value,
		 GError **error)
{
	config_setting_t *setting = config_lookup(cfg, key);
	if (setting == NULL)
		return TRUE;
	if (config_setting_type(setting) != CONFIG_TYPE_BOOL)
		return conf_bad_value(path, setting, key, "true or false", error);
	*value = config_setting_get_bool(setting) != 0;
	return TRUE;
}

static gboolean
conf_get_choice(const gchar *path, config_t *cfg, const gchar *key, gchar **value,
		   const gchar *const *choices, GError **error)
{
	config_setting_t *setting = config_lookup(cfg, key);
	g_autofree gchar *joined = NULL;
	g_autofree gchar *expected = NULL;
	if (setting == NULL)
		return TRUE;
	if (config_setting_type(setting) == CONFIG_TYPE_STRING &&
	    g_strv_contains(choices, config_setting_get_string(setting))) {
		g_free(*value);
		*value = g_strdup(config_setting_get_string(setting));
		return TRUE;
	}
	joined = g_strjoinv("\" | \"", (gchar **)choices);
	expected = g_strdup_printf("one of \"%s\"", joined);
	return conf_bad_value(path, setting, key, expected, error);
}

static gboolean
conf_get_strv(const gchar *path, config_t *cfg, const gchar *key, gchar ***value,
		 GError **error)
{
	config_setting_t *setting = config_lookup(cfg, key);
	g_autoptr(GPtrArray) array = NULL;
	if (setting == NULL)
		return TRUE;
	if (!config_setting_is_array(setting) && !config_setting_is_list(setting))
		return conf_bad_value(path, setting, key, "a list of strings", error);
	array = g_ptr_array_new_with_free_func(g_free);
	for (int i = 0; i < config_setting_length(setting); i++) {
		config_setting_t *elem = config_setting_get_elem(setting, i);
		if (config_setting_type(elem) != CONFIG_TYPE_STRING)
			return conf_bad_value(path, elem, key, "a list of strings", error);
		g_ptr_array_add(array, g_strdup(config_setting_get_string(elem)));
	}
	g_ptr_array_add(array, NULL);
	g_strfreev(*value);
	*value = (gchar **)g_ptr_array_free(g_steal_pointer(&array), FALSE);
	return TRUE;
}

/**
 * cocoon_config_load:
 * @path: a libconfig file
 *
 * Reads @path over the built-in defaults. Every bad value is an error naming the file, the line,
 * the key and what was expected.
 */
CocoonConfig *
cocoon_config_load(const gchar *path, GError **error)
{
	static const gchar *const accels[] = {"auto", "kvm", "tcg", NULL};
	static const gchar *const machines[] = {"microvm", "q35", NULL};
	static const gchar *const levels[] = {"debug", "info", "warning", "error", NULL};
	g_autoptr(CocoonConfig) config = cocoon_config_new_default();
	config_t cfg;
	gboolean ok;

	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
				    "cannot read configuration %s", path);
		else
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s:%d: %s", path,
				    config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		return NULL;
	}
	ok = conf_get_string(path, &cfg, "hypervisor.binary", &config->qemu_binary, TRUE,
				error) &&
	     conf_get_choice(path, &cfg, "hypervisor.machine", &config->machine, machines,
				error) &&
	     conf_get_choice(path, &cfg, "hypervisor.accel", &config->accel, accels, error) &&
	     conf_get_uint(path, &cfg, "hypervisor.vcpus", &config->vcpus, 1, 256, error) &&
	     conf_get_uint(path, &cfg, "hypervisor.memory_mib", &config->memory_mib, 64,
			      1024 * 1024, error) &&
	     conf_get_string(path, &cfg, "hypervisor.kernel", &config->kernel, TRUE, error) &&
	     conf_get_string(path, &cfg, "hypervisor.initrd", &config->initrd, TRUE, error) &&
	     conf_get_string(path, &cfg, "hypervisor.kernel_params", &config->kernel_params,
				FALSE, error) &&
	     conf_get_strv(path, &cfg, "hypervisor.extra_args", &config->extra_args, error) &&
	     conf_get_uint(path, &cfg, "agent.boot_timeout_ms", &config->boot_timeout_ms, 100,
			      600000, error) &&
	     conf_get_uint(path, &cfg, "agent.request_timeout_ms", &config->request_timeout_ms,
			      100, 600000, error) &&
	     conf_get_bool(path, &cfg, "agent.debug_console", &config->debug_console, error) &&
	     conf_get_string(path, &cfg, "runtime.state_dir", &config->state_dir, TRUE, error) &&
	     conf_get_choice(path, &cfg, "runtime.log_level", &config->log_level, levels, error);
	config_destroy(&cfg);
	if (!ok)
		return NULL;
	config->path = g_strdup(path);
	return g_steal_pointer(&config);
}

CocoonConfig *
cocoon_config_load_default(GError **error)
{
	const gchar *path = g_getenv("COCOON_CONFIG");
	if (path != NULL && path[0] != '\0')
		return cocoon_config_load(path, error);
	if (g_file_test(COCOON_DEFAULT_CONFIG, G_FILE_TEST_EXISTS))
		return cocoon_config_load(COCOON_DEFAULT_CONFIG, error);
	return cocoon_config_new_default();
}
