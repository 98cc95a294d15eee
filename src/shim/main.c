/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-shim"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "cocoon-shim.h"

/* the flags that take a string: parse_options() fills them, options_clear() frees them */
static const struct {
	const gchar *name;
	gsize offset;
} string_flags[] = {
	{"namespace", G_STRUCT_OFFSET(CocoonShimOptions, namespace_)},
	{"address", G_STRUCT_OFFSET(CocoonShimOptions, address)},
	{"publish-binary", G_STRUCT_OFFSET(CocoonShimOptions, publish_binary)},
	{"id", G_STRUCT_OFFSET(CocoonShimOptions, id)},
	{"bundle", G_STRUCT_OFFSET(CocoonShimOptions, bundle)},
	{"group", G_STRUCT_OFFSET(CocoonShimOptions, group)},
};

static gchar **
string_flag(CocoonShimOptions *options, guint i)
{
	return G_STRUCT_MEMBER_P(options, string_flags[i].offset);
}

static void
options_clear(CocoonShimOptions *options)
{
	for (guint i = 0; i < G_N_ELEMENTS(string_flags); i++)
		g_free(*string_flag(options, i));
	g_free(options->action);
}

/* Go's flag package: -flag value, --flag value, -flag=value; stops at the first non-flag word */
static gboolean
parse_options(int argc, char **argv, CocoonShimOptions *options, gboolean *ret_version,
	      GError **error)
{
	int i;

	for (i = 1; i < argc; i++) {
		const gchar *arg = argv[i];
		g_autofree gchar *name = NULL;
		const gchar *value = NULL;
		const gchar *eq;
		gboolean found = FALSE;

		if (arg[0] != '-' || arg[1] == '\0')
			break;
		arg += (arg[1] == '-') ? 2 : 1;
		if (arg[0] == '\0') { /* "--" ends the flags */
			i++;
			break;
		}
		eq = strchr(arg, '=');
		name = eq != NULL ? g_strndup(arg, eq - arg) : g_strdup(arg);
		if (eq != NULL)
			value = eq + 1;

		if (g_str_equal(name, "debug")) {
			options->debug = value == NULL || g_str_equal(value, "true");
			continue;
		}
		if (g_str_equal(name, "v") || g_str_equal(name, "version")) {
			*ret_version = TRUE;
			continue;
		}
		for (guint j = 0; j < G_N_ELEMENTS(string_flags); j++) {
			if (!g_str_equal(name, string_flags[j].name))
				continue;
			if (value == NULL) {
				if (i + 1 >= argc) {
					g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
						    "flag needs an argument: -%s", name);
					return FALSE;
				}
				value = argv[++i];
			}
			g_free(*string_flag(options, j));
			*string_flag(options, j) = g_strdup(value);
			found = TRUE;
		}
		if (!found) {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
				    "flag provided but not defined: -%s", name);
			return FALSE;
		}
	}
	if (i < argc)
		options->action = g_strdup(argv[i]);
	return TRUE;
}

int
main(int argc, char **argv)
{
	CocoonShimOptions options = {0};
	g_autoptr(GError) error = NULL;
	gboolean version = FALSE;
	int rc;

	if (!parse_options(argc, argv, &options, &version, &error)) {
		g_printerr("containerd-shim-cocoon-v2: %s\n", error->message);
		options_clear(&options);
		return 2;
	}
	if (version) {
		g_print("containerd-shim-cocoon-v2:\n  Version:  %s\n  Runtime:  "
			"io.containerd.cocoon.v2\n",
			COCOON_VERSION);
		options_clear(&options);
		return 0;
	}
	if (options.namespace_ == NULL)
		options.namespace_ = g_strdup(g_getenv("NAMESPACE"));
	if (options.namespace_ == NULL || options.namespace_[0] == '\0') {
		g_printerr("containerd-shim-cocoon-v2: -namespace is required\n");
		options_clear(&options);
		return 2;
	}
	if (options.id == NULL || options.id[0] == '\0') {
		g_printerr("containerd-shim-cocoon-v2: -id is required\n");
		options_clear(&options);
		return 2;
	}

	if (options.action == NULL)
		rc = cocoon_shim_daemon(&options);
	else if (g_str_equal(options.action, "start"))
		rc = cocoon_shim_start(&options);
	else if (g_str_equal(options.action, "delete"))
		rc = cocoon_shim_delete(&options);
	else {
		g_printerr("containerd-shim-cocoon-v2: unknown action \"%s\" (start, delete)\n",
			   options.action);
		rc = 2;
	}
	options_clear(&options);
	return rc;
}
