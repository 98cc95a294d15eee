/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-shim"

#include "config.h"

#include "cocoon-shim-util.h"

#include <gio/gio.h>

#include "cocoon-json.h"

gboolean
cocoon_identifier_validate(const gchar *kind, const gchar *id, GError **error)
{
	gsize len;
	gboolean separator = TRUE; /* must start with an alphanumeric */

	if (id == NULL || id[0] == '\0') {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s must not be empty",
			    kind);
		return FALSE;
	}
	len = strlen(id);
	if (len > 76) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "%s %.76s... is longer than 76 characters", kind, id);
		return FALSE;
	}
	for (gsize i = 0; i < len; i++) {
		gchar c = id[i];
		if (g_ascii_isalnum(c)) {
			separator = FALSE;
		} else if ((c == '.' || c == '_' || c == '-') && !separator && i + 1 < len) {
			separator = TRUE;
		} else {
			g_set_error(
				error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				"%s \"%s\" is not a valid identifier (letters, digits and single "
				"._- between them)",
				kind, g_str_is_ascii(id) ? id : "(non-ascii)");
			return FALSE;
		}
	}
	return TRUE;
}

gchar *
cocoon_shim_socket_address(const gchar *containerd_address, const gchar *namespace_,
			   const gchar *group)
{
	g_autofree gchar *joined = g_build_filename(containerd_address, namespace_, group, NULL);
	g_autofree gchar *hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, joined, -1);
	return g_strdup_printf("unix://%s/%s", COCOON_SHIM_SOCKET_DIR, hash);
}

const gchar *
cocoon_shim_socket_path(const gchar *address)
{
	if (g_str_has_prefix(address, "unix://"))
		return address + strlen("unix://");
	return address;
}

gchar *
cocoon_shim_read_group(const gchar *bundle, const gchar *id, gchar **ret_container_type,
		       GError **error)
{
	g_autofree gchar *path = g_build_filename(bundle, "config.json", NULL);
	g_autofree gchar *contents = NULL;
	g_autoptr(CocoonJson) spec = NULL;
	CocoonJson *annotations;
	const gchar *sandbox_id = NULL;
	const gchar *type = NULL;
	gsize length;

	if (!g_file_get_contents(path, &contents, &length, error))
		return NULL;
	spec = cocoon_json_parse(contents, length, error);
	if (spec == NULL) {
		g_prefix_error(error, "%s: ", path);
		return NULL;
	}
	annotations = cocoon_json_object_get(spec, "annotations");
	if (annotations != NULL && cocoon_json_is_object(annotations)) {
		sandbox_id = cocoon_json_object_get_string_member(annotations,
								  COCOON_ANNOTATION_SANDBOX_ID);
		type = cocoon_json_object_get_string_member(annotations,
							    COCOON_ANNOTATION_CONTAINER_TYPE);
	}
	if (sandbox_id != NULL && !cocoon_identifier_validate("sandbox id", sandbox_id, error)) {
		g_prefix_error(error, "%s: annotation %s: ", path, COCOON_ANNOTATION_SANDBOX_ID);
		return NULL;
	}
	if (ret_container_type != NULL)
		*ret_container_type = g_strdup(type);
	return g_strdup(sandbox_id != NULL ? sandbox_id : id);
}
