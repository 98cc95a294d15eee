/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* pure helpers of the shim's command line side; no I/O unless said */

#define COCOON_SHIM_SOCKET_DIR		 "/run/containerd/s"
#define COCOON_ANNOTATION_SANDBOX_ID	 "io.kubernetes.cri.sandbox-id"
#define COCOON_ANNOTATION_CONTAINER_TYPE "io.kubernetes.cri.container-type"

/* containerd's identifier rule: ^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$, at most 76 characters */
gboolean cocoon_identifier_validate(const gchar *kind, const gchar *id, GError **error);

/* "unix:///run/containerd/s/" + hex(sha256(address/namespace/group)) */
gchar *cocoon_shim_socket_address(const gchar *containerd_address, const gchar *namespace_,
				  const gchar *group);
/* the path part of a "unix://" address */
const gchar *cocoon_shim_socket_path(const gchar *address);

/*
 * reads <bundle>/config.json and returns the pod grouping key: the sandbox-id annotation, else
 * the task id. ret_container_type gets the CRI container type ("sandbox", "container" or NULL).
 */
gchar *cocoon_shim_read_group(const gchar *bundle, const gchar *id, gchar **ret_container_type,
			      GError **error);

G_END_DECLS
