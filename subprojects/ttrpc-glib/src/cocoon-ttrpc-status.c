/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-ttrpc"

#include "config.h"

#include "cocoon-ttrpc-status.h"

#include <gio/gio.h>

/* spelled out, not G_DEFINE_QUARK: clang-format would put spaces around the dashes */
GQuark
cocoon_ttrpc_error_quark(void)
{
	return g_quark_from_static_string("cocoon-ttrpc-error-quark");
}

/**
 * cocoon_ttrpc_code_to_string:
 *
 * the errdefs class string of a code; containerd strips a trailing ": <class>" from messages,
 * so "<detail>: <class>" is the idiomatic error message
 */
const gchar *
cocoon_ttrpc_code_to_string(CocoonTtrpcCode code)
{
	switch (code) {
	case COCOON_TTRPC_OK:
		return "ok";
	case COCOON_TTRPC_CANCELLED:
		return "context canceled";
	case COCOON_TTRPC_UNKNOWN:
		return "unknown";
	case COCOON_TTRPC_INVALID_ARGUMENT:
		return "invalid argument";
	case COCOON_TTRPC_DEADLINE_EXCEEDED:
		return "context deadline exceeded";
	case COCOON_TTRPC_NOT_FOUND:
		return "not found";
	case COCOON_TTRPC_ALREADY_EXISTS:
		return "already exists";
	case COCOON_TTRPC_PERMISSION_DENIED:
		return "permission denied";
	case COCOON_TTRPC_RESOURCE_EXHAUSTED:
		return "resource exhausted";
	case COCOON_TTRPC_FAILED_PRECONDITION:
		return "failed precondition";
	case COCOON_TTRPC_ABORTED:
		return "aborted";
	case COCOON_TTRPC_OUT_OF_RANGE:
		return "out of range";
	case COCOON_TTRPC_UNIMPLEMENTED:
		return "not implemented";
	case COCOON_TTRPC_INTERNAL:
		return "internal";
	case COCOON_TTRPC_UNAVAILABLE:
		return "unavailable";
	case COCOON_TTRPC_DATA_LOSS:
		return "data loss";
	case COCOON_TTRPC_UNAUTHENTICATED:
		return "unauthenticated";
	}
	return "unknown";
}

/**
 * cocoon_ttrpc_code_to_name:
 *
 * the google.rpc.Code name ("NOT_FOUND"), for logs
 */
const gchar *
cocoon_ttrpc_code_to_name(CocoonTtrpcCode code)
{
	static const gchar *const names[] = {
		"OK",
		"CANCELLED",
		"UNKNOWN",
		"INVALID_ARGUMENT",
		"DEADLINE_EXCEEDED",
		"NOT_FOUND",
		"ALREADY_EXISTS",
		"PERMISSION_DENIED",
		"RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION",
		"ABORTED",
		"OUT_OF_RANGE",
		"UNIMPLEMENTED",
		"INTERNAL",
		"UNAVAILABLE",
		"DATA_LOSS",
		"UNAUTHENTICATED",
	};
	if ((guint)code >= G_N_ELEMENTS(names))
		return "UNKNOWN";
	return names[code];
}

static CocoonTtrpcCode
code_from_io_error(gint code)
{
	switch (code) {
	case G_IO_ERROR_NOT_FOUND:
	case G_IO_ERROR_HOST_NOT_FOUND:
		return COCOON_TTRPC_NOT_FOUND;
	case G_IO_ERROR_EXISTS:
	case G_IO_ERROR_ADDRESS_IN_USE:
		return COCOON_TTRPC_ALREADY_EXISTS;
	case G_IO_ERROR_PERMISSION_DENIED:
	case G_IO_ERROR_READ_ONLY:
		return COCOON_TTRPC_PERMISSION_DENIED;
	case G_IO_ERROR_TIMED_OUT:
		return COCOON_TTRPC_DEADLINE_EXCEEDED;
	case G_IO_ERROR_CANCELLED:
		return COCOON_TTRPC_CANCELLED;
	case G_IO_ERROR_INVALID_ARGUMENT:
	case G_IO_ERROR_INVALID_FILENAME:
	case G_IO_ERROR_FILENAME_TOO_LONG:
	case G_IO_ERROR_INVALID_DATA:
		return COCOON_TTRPC_INVALID_ARGUMENT;
	case G_IO_ERROR_NOT_SUPPORTED:
		return COCOON_TTRPC_UNIMPLEMENTED;
	case G_IO_ERROR_NO_SPACE:
	case G_IO_ERROR_TOO_MANY_OPEN_FILES:
	case G_IO_ERROR_MESSAGE_TOO_LARGE:
		return COCOON_TTRPC_RESOURCE_EXHAUSTED;
	case G_IO_ERROR_IS_DIRECTORY:
	case G_IO_ERROR_NOT_DIRECTORY:
	case G_IO_ERROR_NOT_EMPTY:
	case G_IO_ERROR_NOT_REGULAR_FILE:
	case G_IO_ERROR_NOT_SYMBOLIC_LINK:
	case G_IO_ERROR_NOT_MOUNTED:
	case G_IO_ERROR_ALREADY_MOUNTED:
	case G_IO_ERROR_CLOSED:
	case G_IO_ERROR_BROKEN_PIPE:
	case G_IO_ERROR_PARTIAL_INPUT:
		return COCOON_TTRPC_FAILED_PRECONDITION;
	case G_IO_ERROR_BUSY:
	case G_IO_ERROR_WOULD_BLOCK:
	case G_IO_ERROR_PENDING:
	case G_IO_ERROR_HOST_UNREACHABLE:
	case G_IO_ERROR_NETWORK_UNREACHABLE:
	case G_IO_ERROR_CONNECTION_REFUSED:
	case G_IO_ERROR_NOT_CONNECTED:
		return COCOON_TTRPC_UNAVAILABLE;
	default:
		return COCOON_TTRPC_UNKNOWN;
	}
}

static CocoonTtrpcCode
code_from_file_error(gint code)
{
	switch (code) {
	case G_FILE_ERROR_NOENT:
	case G_FILE_ERROR_NXIO:
	case G_FILE_ERROR_NODEV:
		return COCOON_TTRPC_NOT_FOUND;
	case G_FILE_ERROR_EXIST:
		return COCOON_TTRPC_ALREADY_EXISTS;
	case G_FILE_ERROR_ACCES:
	case G_FILE_ERROR_PERM:
	case G_FILE_ERROR_ROFS:
		return COCOON_TTRPC_PERMISSION_DENIED;
	case G_FILE_ERROR_INVAL:
	case G_FILE_ERROR_NAMETOOLONG:
	case G_FILE_ERROR_BADF:
	case G_FILE_ERROR_FAULT:
	case G_FILE_ERROR_LOOP:
		return COCOON_TTRPC_INVALID_ARGUMENT;
	case G_FILE_ERROR_NOSPC:
	case G_FILE_ERROR_NOMEM:
	case G_FILE_ERROR_MFILE:
	case G_FILE_ERROR_NFILE:
		return COCOON_TTRPC_RESOURCE_EXHAUSTED;
	case G_FILE_ERROR_ISDIR:
	case G_FILE_ERROR_NOTDIR:
	case G_FILE_ERROR_TXTBSY:
	case G_FILE_ERROR_PIPE:
		return COCOON_TTRPC_FAILED_PRECONDITION;
	case G_FILE_ERROR_AGAIN:
	case G_FILE_ERROR_INTR:
		return COCOON_TTRPC_UNAVAILABLE;
	case G_FILE_ERROR_NOSYS:
		return COCOON_TTRPC_UNIMPLEMENTED;
	default:
		return COCOON_TTRPC_UNKNOWN;
	}
}

/**
 * cocoon_ttrpc_code_from_error:
 *
 * the one place a GError becomes a status; an error that claims OK (or NULL) is UNKNOWN so a
 * failure never travels as success
 */
CocoonTtrpcCode
cocoon_ttrpc_code_from_error(const GError *error)
{
	if (error == NULL)
		return COCOON_TTRPC_UNKNOWN;
	if (error->domain == COCOON_TTRPC_ERROR) {
		if (error->code <= COCOON_TTRPC_OK || error->code > COCOON_TTRPC_UNAUTHENTICATED)
			return COCOON_TTRPC_UNKNOWN;
		return (CocoonTtrpcCode)error->code;
	}
	if (error->domain == G_IO_ERROR)
		return code_from_io_error(error->code);
	if (error->domain == G_FILE_ERROR)
		return code_from_file_error(error->code);
	return COCOON_TTRPC_UNKNOWN;
}
