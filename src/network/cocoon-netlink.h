/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <glib.h>

G_BEGIN_DECLS

/*
 * rtnetlink by hand, for the shim (the pod's network namespace) and cocoon-agent (the guest's
 * interfaces): a message builder and an attribute parser, both pure, and a blocking NETLINK_ROUTE
 * socket for request/acknowledgement and dumps. A socket belongs to the network namespace of the
 * thread that opened it, whichever thread uses it later; it is used by one thread at a time.
 */

/* errors the kernel answered: the code is the errno (EEXIST, ENODEV, ...) */
#define COCOON_NETLINK_ERROR (cocoon_netlink_error_quark())
GQuark cocoon_netlink_error_quark(void);

/* the longest message we build or accept in one piece */
#define COCOON_NETLINK_MESSAGE_MAX 8192
/* how long a request waits for the kernel's answer */
#define COCOON_NETLINK_TIMEOUT_MS 5000

typedef struct _CocoonNetlinkMessage CocoonNetlinkMessage;

/* a request: nlmsghdr with type and flags (NLM_F_REQUEST is added), then the family header */
CocoonNetlinkMessage *cocoon_netlink_message_new(guint16 type, guint16 flags, gconstpointer header,
						 gsize header_size);
void cocoon_netlink_message_free(CocoonNetlinkMessage *message);
/* attributes; a message that outgrows COCOON_NETLINK_MESSAGE_MAX is refused when sent */
void cocoon_netlink_message_put(CocoonNetlinkMessage *message, guint16 type, gconstpointer data,
				gsize size);
void cocoon_netlink_message_put_u8(CocoonNetlinkMessage *message, guint16 type, guint8 value);
void cocoon_netlink_message_put_u16(CocoonNetlinkMessage *message, guint16 type, guint16 value);
void cocoon_netlink_message_put_u32(CocoonNetlinkMessage *message, guint16 type, guint32 value);
/* with its NUL, as the kernel wants names and kinds */
void cocoon_netlink_message_put_string(CocoonNetlinkMessage *message, guint16 type,
				       const gchar *value);
/* a nested attribute: everything put until nest_end(start) is inside it */
gsize cocoon_netlink_message_nest_start(CocoonNetlinkMessage *message, guint16 type);
void cocoon_netlink_message_nest_end(CocoonNetlinkMessage *message, gsize start);
/* the whole message, nlmsg_len up to date (sequence and port are set when it is sent) */
struct nlmsghdr *cocoon_netlink_message_get_header(CocoonNetlinkMessage *message);
gsize cocoon_netlink_message_get_length(CocoonNetlinkMessage *message);

/*
 * parsing what the kernel (or anyone) sent: every length is checked against the buffer.
 * table has max + 1 entries; attributes of a type above max are skipped, a repeated type keeps
 * the last one. FALSE when an attribute overruns its container.
 */
gconstpointer cocoon_netlink_message_payload(const struct nlmsghdr *header, gsize family_size);
gboolean cocoon_netlink_parse_attributes(gconstpointer data, gsize length,
					 const struct rtattr **table, guint max);
/* the attributes after the family header of a message */
gboolean cocoon_netlink_parse_message(const struct nlmsghdr *header, gsize family_size,
				      const struct rtattr **table, guint max);
gboolean cocoon_netlink_parse_nested(const struct rtattr *attribute, const struct rtattr **table,
				     guint max);
gconstpointer cocoon_netlink_attribute_data(const struct rtattr *attribute, gsize *ret_size);
/* FALSE when absent or of another size */
gboolean cocoon_netlink_attribute_get_u32(const struct rtattr *attribute, guint32 *ret_value);
/* NULL when absent or not NUL-terminated inside the attribute */
const gchar *cocoon_netlink_attribute_get_string(const struct rtattr *attribute);

/* walks the messages of one datagram; FALSE (and *ret_header NULL) at the end or on garbage */
gboolean cocoon_netlink_next_message(gconstpointer buffer, gsize length, gsize *offset,
				     const struct nlmsghdr **ret_header);

typedef struct _CocoonNetlink CocoonNetlink;

/* a NETLINK_ROUTE socket in the calling thread's network namespace */
CocoonNetlink *cocoon_netlink_open(GError **error);
void cocoon_netlink_free(CocoonNetlink *netlink);
/*
 * sends message with NLM_F_ACK and waits for the acknowledgement. A kernel error is
 * COCOON_NETLINK_ERROR with the errno as code and the kernel's extended message when it gave one.
 */
gboolean cocoon_netlink_request(CocoonNetlink *netlink, CocoonNetlinkMessage *message,
				GError **error);
/* the same for a message built for this request alone: it is freed */
gboolean cocoon_netlink_request_take(CocoonNetlink *netlink, CocoonNetlinkMessage *message,
				     GError **error);
/*
 * sends a dump request (NLM_F_DUMP is added) and returns every answer, each a GBytes holding one
 * nlmsghdr with its payload, in the kernel's order
 */
GPtrArray *cocoon_netlink_dump(CocoonNetlink *netlink, CocoonNetlinkMessage *message,
			       GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonNetlinkMessage, cocoon_netlink_message_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CocoonNetlink, cocoon_netlink_free)

G_END_DECLS
