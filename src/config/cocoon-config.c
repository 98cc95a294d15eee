/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-config"

#include "config.h"

#include "cocoon-config.h"

#include <stddef.h>

#include <gio/gio.h>
#include <libconfig.h>

/* limits of what a config (or an annotation) may ask for */
#define CONFIG_MAX_VCPUS	   255
#define CONFIG_MIN_MEMORY_MIB	   64
#define CONFIG_MAX_MEMORY_MIB	   (1024 * 1024)
#define CONFIG_MIN_TIMEOUT_MS	   100
#define CONFIG_MAX_TIMEOUT_MS	   600000
#define CONFIG_MAX_STRING_LENGTH   4096
#define CONFIG_MAX_CONSOLE_LOG_KIB (1024 * 1024)
/* the kernel's PID_MAX_LIMIT */
#define CONFIG_MAX_PIDS (4 * 1024 * 1024)

typedef enum {
	KEY_STRING,
	KEY_PATH, /* an absolute path */
	KEY_UINT,
	KEY_BOOL,
	KEY_CHOICE,
	KEY_STRV,
} KeyKind;

typedef struct {
	const gchar *name; /* "section.key" */
	KeyKind kind;
	gsize offset;
	guint min;
	guint max;
	gssize max_offset; /* KEY_UINT: the upper bound is this guint field's value; -1: max */
	const gchar *const *choices;
	gboolean overridable; /* may be listed in enable_annotations */
} KeySpec;

static const gchar *const accels[] = {"auto", "kvm", "tcg", NULL};
static const gchar *const machines[] = {"microvm", "q35", NULL};
static const gchar *const levels[] = {"debug", "info", "warning", "error", NULL};
static const gchar *const buses[] = {"system", "session", "none", NULL};
static const gchar *const sections[] = {"hypervisor", "confine", "agent", "runtime", NULL};
static const gchar *const shared_fses[] = {"9p", "virtio-fs", NULL};

#define FIELD(f) offsetof(CocoonConfig, f)

/* the maxima come before what they bound, so a file's own maxima apply to its values */
static const KeySpec keys[] = {
	{"hypervisor.binary", KEY_PATH, FIELD(qemu_binary), 0, 0, -1, NULL, FALSE},
	{"hypervisor.machine", KEY_CHOICE, FIELD(machine), 0, 0, -1, machines, TRUE},
	{"hypervisor.accel", KEY_CHOICE, FIELD(accel), 0, 0, -1, accels, TRUE},
	{"hypervisor.max_vcpus", KEY_UINT, FIELD(max_vcpus), 1, CONFIG_MAX_VCPUS, -1, NULL, FALSE},
	{"hypervisor.max_memory_mib", KEY_UINT, FIELD(max_memory_mib), CONFIG_MIN_MEMORY_MIB,
	 CONFIG_MAX_MEMORY_MIB, -1, NULL, FALSE},
	{"hypervisor.vcpus", KEY_UINT, FIELD(vcpus), 1, CONFIG_MAX_VCPUS, FIELD(max_vcpus), NULL,
	 TRUE},
	{"hypervisor.memory_mib", KEY_UINT, FIELD(memory_mib), CONFIG_MIN_MEMORY_MIB,
	 CONFIG_MAX_MEMORY_MIB, FIELD(max_memory_mib), NULL, TRUE},
	{"hypervisor.kernel", KEY_PATH, FIELD(kernel), 0, 0, -1, NULL, FALSE},
	{"hypervisor.initrd", KEY_PATH, FIELD(initrd), 0, 0, -1, NULL, FALSE},
	{"hypervisor.kernel_params", KEY_STRING, FIELD(kernel_params), 0, 0, -1, NULL, TRUE},
	{"hypervisor.extra_args", KEY_STRV, FIELD(extra_args), 0, 0, -1, NULL, FALSE},
	{"hypervisor.shared_fs", KEY_CHOICE, FIELD(shared_fs), 0, 0, -1, shared_fses, TRUE},
	{"hypervisor.virtiofsd", KEY_PATH, FIELD(virtiofsd), 0, 0, -1, NULL, FALSE},
	{"hypervisor.console_log_max_kib", KEY_UINT, FIELD(console_log_max_kib), 0,
	 CONFIG_MAX_CONSOLE_LOG_KIB, -1, NULL, FALSE},
	{"hypervisor.confine", KEY_BOOL, FIELD(confine), 0, 0, -1, NULL, FALSE},
	{"confine.uid_base", KEY_UINT, FIELD(uid_base), 1, G_MAXINT32, -1, NULL, FALSE},
	{"confine.uid_count", KEY_UINT, FIELD(uid_count), 1, 1 << 24, -1, NULL, FALSE},
	{"confine.expose", KEY_STRV, FIELD(confine_expose), 0, 0, -1, NULL, FALSE},
	{"agent.boot_timeout_ms", KEY_UINT, FIELD(boot_timeout_ms), CONFIG_MIN_TIMEOUT_MS,
	 CONFIG_MAX_TIMEOUT_MS, -1, NULL, TRUE},
	{"agent.request_timeout_ms", KEY_UINT, FIELD(request_timeout_ms), CONFIG_MIN_TIMEOUT_MS,
	 CONFIG_MAX_TIMEOUT_MS, -1, NULL, TRUE},
	{"agent.debug_console", KEY_BOOL, FIELD(debug_console), 0, 0, -1, NULL, TRUE},
	{"runtime.state_dir", KEY_PATH, FIELD(state_dir), 0, 0, -1, NULL, FALSE},
	{"runtime.log_level", KEY_CHOICE, FIELD(log_level), 0, 0, -1, levels, FALSE},
	{"runtime.dbus", KEY_CHOICE, FIELD(dbus), 0, 0, -1, buses, FALSE},
	{"runtime.container_pids_max", KEY_UINT, FIELD(container_pids_max), 0, CONFIG_MAX_PIDS, -1,
	 NULL, FALSE},
	{"runtime.host_cgroup", KEY_BOOL, FIELD(host_cgroup), 0, 0, -1, NULL, FALSE},
};

/*
 * keys no longer read: a file that still sets one (or lists it in enable_annotations) loads with a
 * warning, a pod annotation naming one is ignored, so existing installs and pods keep working.
 * None at the moment (hypervisor.shared_fs, retired while only 9p existed, is read again); the
 * list ends with NULL.
 */
static const struct {
	const gchar *name;
	const gchar *why;
} retired_keys[] = {
	{NULL, NULL},
};

#define ENABLE_ANNOTATIONS "enable_annotations"

static const KeySpec *
key_lookup(const gchar *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (g_strcmp0(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

/* why a key is no longer read, or NULL when it is not a retired key */
static const gchar *
key_retired_reason(const gchar *name)
{
	for (guint i = 0; retired_keys[i].name != NULL; i++) {
		if (g_strcmp0(retired_keys[i].name, name) == 0)
			return retired_keys[i].why;
	}
	return NULL;
}

static gchar *
key_retired_warning(const gchar *path, config_setting_t *setting, const gchar *key)
{
	return g_strdup_printf("%s:%d: %s is no longer read (%s); remove it", path,
			       config_setting_source_line(setting), key, key_retired_reason(key));
}

gboolean
cocoon_config_key_is_overridable(const gchar *key)
{
	const KeySpec *spec = key_lookup(key);
	return spec != NULL && spec->overridable;
}

#define FIELD_PTR(config, type, offset) ((type *)(gpointer)((guint8 *)(config) + (offset)))

static guint
key_upper_bound(const KeySpec *spec, const CocoonConfig *config)
{
	if (spec->max_offset < 0)
		return spec->max;
	return MIN(spec->max, *FIELD_PTR(config, const guint, spec->max_offset));
}

/* what a key expects, for messages */
static gchar *
key_expected(const KeySpec *spec, const CocoonConfig *config)
{
	g_autofree gchar *joined = NULL;
	switch (spec->kind) {
	case KEY_STRING:
		return g_strdup("a string");
	case KEY_PATH:
		return g_strdup("an absolute path");
	case KEY_UINT:
		return g_strdup_printf("an integer in [%u, %u]", spec->min,
				       key_upper_bound(spec, config));
	case KEY_BOOL:
		return g_strdup("true or false");
	case KEY_CHOICE:
		joined = g_strjoinv("\" | \"", (gchar **)spec->choices);
		return g_strdup_printf("one of \"%s\"", joined);
	case KEY_STRV:
		return g_strdup("a list of strings");
	default:
		return g_strdup("?");
	}
}

static void
key_set_string(const KeySpec *spec, CocoonConfig *config, const gchar *value)
{
	gchar **field = FIELD_PTR(config, gchar *, spec->offset);
	g_free(*field);
	*field = g_strdup(value);
}

/* a string value (from the file or an annotation) checked against its key */
static gboolean
key_string_is_valid(const KeySpec *spec, const gchar *value)
{
	if (strlen(value) > CONFIG_MAX_STRING_LENGTH || !g_utf8_validate(value, -1, NULL))
		return FALSE;
	if (spec->kind == KEY_PATH)
		return g_path_is_absolute(value);
	if (spec->kind == KEY_CHOICE)
		return g_strv_contains(spec->choices, value);
	return TRUE;
}

CocoonConfig *
cocoon_config_new_default(void)
{
	CocoonConfig *config = g_new0(CocoonConfig, 1);
	config->qemu_binary = g_strdup("/usr/bin/qemu-system-x86_64");
	config->machine = g_strdup("microvm");
	config->accel = g_strdup("auto");
	config->vcpus = 1;
	config->memory_mib = 256;
	config->max_vcpus = 16;
	config->max_memory_mib = 16384;
	config->kernel = g_build_filename(COCOON_GUEST_IMAGE_DIR, "vmlinux", NULL);
	config->initrd = g_build_filename(COCOON_GUEST_IMAGE_DIR, "initrd.img", NULL);
	config->kernel_params = g_strdup("");
	config->extra_args = g_new0(gchar *, 1);
	config->confine_expose = g_new0(gchar *, 1);
	config->shared_fs = g_strdup("virtio-fs");
	config->virtiofsd = g_strdup(COCOON_VIRTIOFSD_DEFAULT);
	config->console_log_max_kib = 1024;
	config->confine = TRUE;
	config->uid_base = 1900000000u; /* as COCOON_VM_CONFINE_UID_BASE */
	config->uid_count = 65536;
	config->boot_timeout_ms = 30000;
	config->request_timeout_ms = 10000;
	config->debug_console = FALSE;
	config->state_dir = g_strdup("/run/cocoon");
	config->log_level = g_strdup("info");
	config->dbus = g_strdup("system");
	config->container_pids_max = 1024;
	config->host_cgroup = TRUE;
	config->enable_annotations = g_new0(gchar *, 1);
	config->warnings = g_new0(gchar *, 1);
	return config;
}

CocoonConfig *
cocoon_config_copy(const CocoonConfig *config)
{
	CocoonConfig *copy = g_new0(CocoonConfig, 1);
	*copy = *config;
	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		const KeySpec *spec = &keys[i];
		if (spec->kind == KEY_STRV) {
			gchar ***field = FIELD_PTR(copy, gchar **, spec->offset);
			*field = g_strdupv(*field);
		} else if (spec->kind != KEY_UINT && spec->kind != KEY_BOOL) {
			gchar **field = FIELD_PTR(copy, gchar *, spec->offset);
			*field = g_strdup(*field);
		}
	}
	copy->enable_annotations = g_strdupv(config->enable_annotations);
	copy->path = g_strdup(config->path);
	copy->warnings = g_strdupv(config->warnings);
	return copy;
}

void
cocoon_config_free(CocoonConfig *config)
{
	if (config == NULL)
		return;
	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		const KeySpec *spec = &keys[i];
		if (spec->kind == KEY_STRV)
			g_strfreev(*FIELD_PTR(config, gchar **, spec->offset));
		else if (spec->kind != KEY_UINT && spec->kind != KEY_BOOL)
			g_free(*FIELD_PTR(config, gchar *, spec->offset));
	}
	g_strfreev(config->enable_annotations);
	g_free(config->path);
	g_strfreev(config->warnings);
	g_free(config);
}

/* ---------------------------------------------------------------- the file */

static gboolean
conf_bad_value(const gchar *path, config_setting_t *setting, const gchar *key,
	       const gchar *expected, GError **error)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s:%d: %s: expected %s", path,
		    config_setting_source_line(setting), key, expected);
	return FALSE;
}

static gboolean
conf_read_key(const gchar *path, config_t *cfg, const KeySpec *spec, CocoonConfig *config,
	      GError **error)
{
	config_setting_t *setting = config_lookup(cfg, spec->name);
	g_autofree gchar *expected = NULL;

	if (setting == NULL)
		return TRUE;
	expected = key_expected(spec, config);
	switch (spec->kind) {
	case KEY_STRING:
	case KEY_PATH:
	case KEY_CHOICE: {
		const gchar *value;
		if (config_setting_type(setting) != CONFIG_TYPE_STRING)
			return conf_bad_value(path, setting, spec->name, expected, error);
		value = config_setting_get_string(setting);
		if (!key_string_is_valid(spec, value))
			return conf_bad_value(path, setting, spec->name, expected, error);
		key_set_string(spec, config, value);
		return TRUE;
	}
	case KEY_UINT: {
		long long value;
		if (config_setting_type(setting) != CONFIG_TYPE_INT &&
		    config_setting_type(setting) != CONFIG_TYPE_INT64)
			return conf_bad_value(path, setting, spec->name, "an integer", error);
		value = config_setting_get_int64(setting);
		if (value < (long long)spec->min ||
		    value > (long long)key_upper_bound(spec, config))
			return conf_bad_value(path, setting, spec->name, expected, error);
		*FIELD_PTR(config, guint, spec->offset) = (guint)value;
		return TRUE;
	}
	case KEY_BOOL:
		if (config_setting_type(setting) != CONFIG_TYPE_BOOL)
			return conf_bad_value(path, setting, spec->name, expected, error);
		*FIELD_PTR(config, gboolean, spec->offset) = config_setting_get_bool(setting) != 0;
		return TRUE;
	case KEY_STRV: {
		g_autoptr(GPtrArray) array = NULL;
		gchar ***field = FIELD_PTR(config, gchar **, spec->offset);
		if (!config_setting_is_array(setting) && !config_setting_is_list(setting))
			return conf_bad_value(path, setting, spec->name, expected, error);
		array = g_ptr_array_new_with_free_func(g_free);
		for (int i = 0; i < config_setting_length(setting); i++) {
			config_setting_t *elem = config_setting_get_elem(setting, i);
			if (config_setting_type(elem) != CONFIG_TYPE_STRING)
				return conf_bad_value(path, elem, spec->name, expected, error);
			g_ptr_array_add(array, g_strdup(config_setting_get_string(elem)));
		}
		g_ptr_array_add(array, NULL);
		g_strfreev(*field);
		*field = (gchar **)g_ptr_array_free(g_steal_pointer(&array), FALSE);
		return TRUE;
	}
	default:
		return TRUE;
	}
}

/* enable_annotations: a list of keys that exist and may be overridden */
static gboolean
conf_read_enable_annotations(const gchar *path, config_t *cfg, CocoonConfig *config,
			     GPtrArray *warnings, GError **error)
{
	config_setting_t *setting = config_lookup(cfg, ENABLE_ANNOTATIONS);
	g_autoptr(GPtrArray) array = NULL;

	if (setting == NULL)
		return TRUE;
	if (!config_setting_is_array(setting) && !config_setting_is_list(setting))
		return conf_bad_value(path, setting, ENABLE_ANNOTATIONS,
				      "a list of \"section.key\" strings", error);
	array = g_ptr_array_new_with_free_func(g_free);
	for (int i = 0; i < config_setting_length(setting); i++) {
		config_setting_t *elem = config_setting_get_elem(setting, i);
		const gchar *key;
		const KeySpec *spec;
		if (config_setting_type(elem) != CONFIG_TYPE_STRING)
			return conf_bad_value(path, elem, ENABLE_ANNOTATIONS,
					      "a list of \"section.key\" strings", error);
		key = config_setting_get_string(elem);
		spec = key_lookup(key);
		if (spec == NULL && key_retired_reason(key) != NULL) {
			g_ptr_array_add(warnings, key_retired_warning(path, elem, key));
			continue;
		}
		if (spec == NULL) {
			g_autofree gchar *expected =
				g_strdup_printf("a known \"section.key\", not \"%s\"", key);
			return conf_bad_value(path, elem, ENABLE_ANNOTATIONS, expected, error);
		}
		if (!spec->overridable) {
			g_autofree gchar *expected = g_strdup_printf(
				"keys that pods may override; %s may not be (binaries, paths, QEMU "
				"arguments, limits and runtime settings stay with the host)",
				key);
			return conf_bad_value(path, elem, ENABLE_ANNOTATIONS, expected, error);
		}
		if (!g_ptr_array_find_with_equal_func(array, key, g_str_equal, NULL))
			g_ptr_array_add(array, g_strdup(key));
	}
	g_ptr_array_add(array, NULL);
	g_strfreev(config->enable_annotations);
	config->enable_annotations = (gchar **)g_ptr_array_free(g_steal_pointer(&array), FALSE);
	return TRUE;
}

/* unknown keys are warned about (a typo must not go unnoticed), known sections must be groups */
static gboolean
conf_check_names(const gchar *path, config_t *cfg, GPtrArray *warnings, GError **error)
{
	config_setting_t *root = config_root_setting(cfg);

	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *setting = config_setting_get_elem(root, i);
		const gchar *name = config_setting_name(setting);
		if (g_strcmp0(name, ENABLE_ANNOTATIONS) == 0)
			continue;
		if (!g_strv_contains(sections, name)) {
			g_ptr_array_add(warnings,
					g_strdup_printf("%s:%d: unknown key %s (ignored)", path,
							config_setting_source_line(setting), name));
			continue;
		}
		if (!config_setting_is_group(setting))
			return conf_bad_value(path, setting, name, "a group { ... }", error);
		for (int j = 0; j < config_setting_length(setting); j++) {
			config_setting_t *member = config_setting_get_elem(setting, j);
			g_autofree gchar *key =
				g_strdup_printf("%s.%s", name, config_setting_name(member));
			if (key_lookup(key) != NULL)
				continue;
			if (key_retired_reason(key) != NULL)
				g_ptr_array_add(warnings, key_retired_warning(path, member, key));
			else
				g_ptr_array_add(
					warnings,
					g_strdup_printf("%s:%d: unknown key %s (ignored)", path,
							config_setting_source_line(member), key));
		}
	}
	return TRUE;
}

/* the file may lower a maximum below a default it did not set */
static gboolean
conf_check_maxima(const gchar *path, config_t *cfg, CocoonConfig *config, GError **error)
{
	const struct {
		const gchar *max_key;
		guint max;
		const gchar *key;
		guint value;
	} pairs[] = {
		{"hypervisor.max_vcpus", config->max_vcpus, "hypervisor.vcpus", config->vcpus},
		{"hypervisor.max_memory_mib", config->max_memory_mib, "hypervisor.memory_mib",
		 config->memory_mib},
	};
	for (guint i = 0; i < G_N_ELEMENTS(pairs); i++) {
		if (pairs[i].value > pairs[i].max) {
			g_autofree gchar *expected = g_strdup_printf(
				"an integer of at least %s (%u)", pairs[i].key, pairs[i].value);
			return conf_bad_value(path, config_lookup(cfg, pairs[i].max_key),
					      pairs[i].max_key, expected, error);
		}
	}
	return TRUE;
}

/**
 * cocoon_config_load:
 * @path: a libconfig file
 *
 * Reads @path over the built-in defaults. Every bad value is an error naming the file, the line,
 * the key and what was expected; unknown keys end up in config->warnings.
 */
CocoonConfig *
cocoon_config_load(const gchar *path, GError **error)
{
	g_autoptr(CocoonConfig) config = cocoon_config_new_default();
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
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
	ok = conf_check_names(path, &cfg, warnings, error);
	for (guint i = 0; ok && i < G_N_ELEMENTS(keys); i++)
		ok = conf_read_key(path, &cfg, &keys[i], config, error);
	ok = ok && conf_check_maxima(path, &cfg, config, error) &&
	     conf_read_enable_annotations(path, &cfg, config, warnings, error);
	config_destroy(&cfg);
	if (!ok)
		return NULL;
	config->path = g_strdup(path);
	g_ptr_array_add(warnings, NULL);
	g_strfreev(config->warnings);
	config->warnings = (gchar **)g_ptr_array_free(g_steal_pointer(&warnings), FALSE);
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

/* ---------------------------------------------------------------- annotations */

static gboolean
annotation_bad_value(const gchar *annotation, const gchar *expected, const gchar *value,
		     GError **error)
{
	g_autofree gchar *shown = value != NULL ? g_strescape(value, NULL) : NULL;
	if (shown != NULL && strlen(shown) > 64)
		shown[64] = '\0';
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		    "annotation %s: expected %s, got \"%s\"", annotation, expected,
		    shown != NULL ? shown : "(not a string)");
	return FALSE;
}

static gboolean
annotation_apply_one(CocoonConfig *config, const gchar *annotation, const CocoonJson *node,
		     GError **error)
{
	const gchar *key = annotation + strlen(COCOON_CONFIG_ANNOTATION_PREFIX);
	const KeySpec *spec = key_lookup(key);
	const gchar *value = cocoon_json_get_string(node);
	g_autofree gchar *expected = NULL;

	/* it never changed anything: a pod that still sets it is not refused for it */
	if (spec == NULL && key_retired_reason(key) != NULL)
		return TRUE;
	if (spec == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "annotation %s: unknown configuration key %s", annotation, key);
		return FALSE;
	}
	/* enable_annotations cannot list it either (conf_read_enable_annotations) */
	if (!spec->overridable) {
		g_set_error(
			error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			"annotation %s: %s cannot be overridden by annotation (binaries, paths, "
			"QEMU arguments, limits and runtime settings stay with the host); set "
			"it in %s",
			annotation, key,
			config->path != NULL ? config->path : COCOON_DEFAULT_CONFIG);
		return FALSE;
	}
	if (!g_strv_contains((const gchar *const *)config->enable_annotations, key)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "annotation %s: %s may not be overridden by pods; add \"%s\" to "
			    "enable_annotations in %s to allow it",
			    annotation, key, key,
			    config->path != NULL ? config->path : COCOON_DEFAULT_CONFIG);
		return FALSE;
	}
	expected = key_expected(spec, config);
	if (value == NULL)
		return annotation_bad_value(annotation, expected, NULL, error);
	switch (spec->kind) {
	case KEY_STRING:
	case KEY_PATH:
	case KEY_CHOICE:
		if (!key_string_is_valid(spec, value))
			return annotation_bad_value(annotation, expected, value, error);
		key_set_string(spec, config, value);
		return TRUE;
	case KEY_UINT: {
		guint64 number;
		if (!g_ascii_string_to_unsigned(value, 10, spec->min, key_upper_bound(spec, config),
						&number, NULL))
			return annotation_bad_value(annotation, expected, value, error);
		*FIELD_PTR(config, guint, spec->offset) = (guint)number;
		return TRUE;
	}
	case KEY_BOOL:
		if (g_strcmp0(value, "true") == 0)
			*FIELD_PTR(config, gboolean, spec->offset) = TRUE;
		else if (g_strcmp0(value, "false") == 0)
			*FIELD_PTR(config, gboolean, spec->offset) = FALSE;
		else
			return annotation_bad_value(annotation, expected, value, error);
		return TRUE;
	default:
		/* lists are never overridable */
		return annotation_bad_value(annotation, expected, value, error);
	}
}

/**
 * cocoon_config_apply_annotations:
 * @config: a sandbox's copy of the configuration
 * @annotations: (nullable): the OCI spec's "annotations" object
 *
 * Applies every io.cocoon.config.<section>.<key> annotation whose key is in enable_annotations,
 * typed and checked like the file's value. All or nothing: on error @config is unchanged.
 */
gboolean
cocoon_config_apply_annotations(CocoonConfig *config, const CocoonJson *annotations, GError **error)
{
	g_autoptr(CocoonConfig) work = NULL;
	CocoonJsonIter iter;
	const gchar *name;
	CocoonJson *value;
	CocoonConfig swap;

	if (annotations == NULL)
		return TRUE;
	if (!cocoon_json_is_object(annotations)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "annotations: expected an object of strings");
		return FALSE;
	}
	work = cocoon_config_copy(config);
	cocoon_json_iter_init(&iter, annotations);
	while (cocoon_json_iter_next(&iter, &name, &value)) {
		if (!g_str_has_prefix(name, COCOON_CONFIG_ANNOTATION_PREFIX))
			continue;
		if (!annotation_apply_one(work, name, value, error))
			return FALSE;
	}
	swap = *config;
	*config = *work;
	*work = swap;
	return TRUE;
}
