/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * ttrpc carries google.rpc.Status codes. A GError in COCOON_TTRPC_ERROR has one of these as its
 * code and is the one way status travels through cocoon: handlers fail with it, clients receive it.
 */
typedef enum {
	COCOON_TTRPC_OK = 0,
	COCOON_TTRPC_CANCELLED = 1,
	COCOON_TTRPC_UNKNOWN = 2,
	COCOON_TTRPC_INVALID_ARGUMENT = 3,
	COCOON_TTRPC_DEADLINE_EXCEEDED = 4,
	COCOON_TTRPC_NOT_FOUND = 5,
	COCOON_TTRPC_ALREADY_EXISTS = 6,
	COCOON_TTRPC_PERMISSION_DENIED = 7,
	COCOON_TTRPC_RESOURCE_EXHAUSTED = 8,
	COCOON_TTRPC_FAILED_PRECONDITION = 9,
	COCOON_TTRPC_ABORTED = 10,
	COCOON_TTRPC_OUT_OF_RANGE = 11,
	COCOON_TTRPC_UNIMPLEMENTED = 12,
	COCOON_TTRPC_INTERNAL = 13,
	COCOON_TTRPC_UNAVAILABLE = 14,
	COCOON_TTRPC_DATA_LOSS = 15,
	COCOON_TTRPC_UNAUTHENTICATED = 16,
} CocoonTtrpcCode;

#define COCOON_TTRPC_ERROR (cocoon_ttrpc_error_quark())
GQuark cocoon_ttrpc_error_quark(void);

/* the errdefs class string containerd appends ("not found", "already exists", ...) */
const gchar *cocoon_ttrpc_code_to_string(CocoonTtrpcCode code);
/* the google.rpc.Code name ("NOT_FOUND"), for logs and tests */
const gchar *cocoon_ttrpc_code_to_name(CocoonTtrpcCode code);

/*
 * the one place a GError becomes a status: COCOON_TTRPC_ERROR keeps its code, G_IO_ERROR and
 * G_FILE_ERROR codes are mapped (NOT_FOUND, EXISTS, PERMISSION_DENIED, TIMED_OUT, ...), others
 * UNKNOWN.
 */
CocoonTtrpcCode cocoon_ttrpc_code_from_error(const GError *error);

G_END_DECLS
