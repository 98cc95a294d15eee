/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-network"

#include "config.h"

#include "cocoon-netlink.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* a dump answer arrives in datagrams of up to 32 KiB (the kernel's default for dumps) */
#define RECEIVE_BUFFER_SIZE (64 * 1024)
/* how many answers a dump may bring before we call it runaway */
#define DUMP_MESSAGES_MAX 65536

struct _CocoonNetlinkMessage {
	GByteArray *bytes;
};

struct _CocoonNetlink {
	int fd;
	guint32 port;
	guint32 sequence;
};

G_DEFINE_QUARK(cocoon - netlink - error - quark, cocoon_netlink_error)

/* ---- building ---- */

static void
append_padded(GByteArray *bytes, gconstpointer data, gsize size)
{
	static const guint8 zeros[NLMSG_ALIGNTO] = {0};
	gsize pad = NLMSG_ALIGN(size) - size;

	if (size > 0)
		g_byte_array_append(bytes, data, (guint)size);
	if (pad > 0)
		g_byte_array_append(bytes, zeros, (guint)pad);
}

static void
update_length(CocoonNetlinkMessage *message)
{
	struct nlmsghdr *header = (struct nlmsghdr *)message->bytes->data;

	header->nlmsg_len = message->bytes->len;
}

/**
 * cocoon_netlink_message_new:
 * @type: RTM_NEWLINK, RTM_GETADDR, ...
 * @flags: NLM_F_CREATE, NLM_F_EXCL, ... (NLM_F_REQUEST is always set)
 * @header: (nullable): the family header (struct ifinfomsg, ifaddrmsg, rtmsg, tcmsg), copied
 *
 * Returns: (transfer full): a message to add attributes to
 */
CocoonNetlinkMessage *
cocoon_netlink_message_new(guint16 type, guint16 flags, gconstpointer header, gsize header_size)
{
	CocoonNetlinkMessage *message = g_new0(CocoonNetlinkMessage, 1);
	struct nlmsghdr nlmsg = {
		.nlmsg_type = type,
		.nlmsg_flags = flags | NLM_F_REQUEST,
	};

	message->bytes = g_byte_array_sized_new(256);
	append_padded(message->bytes, &nlmsg, sizeof(nlmsg));
	if (header != NULL && header_size > 0)
		append_padded(message->bytes, header, header_size);
	update_length(message);
	return message;
}

void
cocoon_netlink_message_free(CocoonNetlinkMessage *message)
{
	if (message == NULL)
		return;
	g_byte_array_unref(message->bytes);
	g_free(message);
}

void
cocoon_netlink_message_put(CocoonNetlinkMessage *message, guint16 type, gconstpointer data,
			   gsize size)
{
	struct rtattr attribute;

	/* rta_len is 16 bits: the send refuses what outgrew COCOON_NETLINK_MESSAGE_MAX anyway */
	size = MIN(size, (gsize)COCOON_NETLINK_MESSAGE_MAX);
	attribute.rta_len = (unsigned short)RTA_LENGTH(size);
	attribute.rta_type = type;
	g_byte_array_append(message->bytes, (const guint8 *)&attribute, sizeof(attribute));
	append_padded(message->bytes, data, size);
	update_length(message);
}

void
cocoon_netlink_message_put_u8(CocoonNetlinkMessage *message, guint16 type, guint8 value)
{
	cocoon_netlink_message_put(message, type, &value, sizeof(value));
}

void
cocoon_netlink_message_put_u16(CocoonNetlinkMessage *message, guint16 type, guint16 value)
{
	cocoon_netlink_message_put(message, type, &value, sizeof(value));
}

void
cocoon_netlink_message_put_u32(CocoonNetlinkMessage *message, guint16 type, guint32 value)
{
	cocoon_netlink_message_put(message, type, &value, sizeof(value));
}

void
cocoon_netlink_message_put_string(CocoonNetlinkMessage *message, guint16 type, const gchar *value)
{
	cocoon_netlink_message_put(message, type, value, strlen(value) + 1);
}

gsize
cocoon_netlink_message_nest_start(CocoonNetlinkMessage *message, guint16 type)
{
	gsize start = message->bytes->len;
	struct rtattr attribute = {.rta_len = RTA_LENGTH(0), .rta_type = type};

	g_byte_array_append(message->bytes, (const guint8 *)&attribute, sizeof(attribute));
	update_length(message);
	return start;
}

void
cocoon_netlink_message_nest_end(CocoonNetlinkMessage *message, gsize start)
{
	struct rtattr *attribute;
	gsize length;

	g_return_if_fail(start + sizeof(struct rtattr) <= message->bytes->len);
	attribute = (struct rtattr *)(message->bytes->data + start);
	length = message->bytes->len - start;
	attribute->rta_len = (unsigned short)MIN(length, (gsize)G_MAXUINT16);
}

struct nlmsghdr *
cocoon_netlink_message_get_header(CocoonNetlinkMessage *message)
{
	return (struct nlmsghdr *)message->bytes->data;
}

gsize
cocoon_netlink_message_get_length(CocoonNetlinkMessage *message)
{
	return message->bytes->len;
}

/* ---- parsing ---- */

/**
 * cocoon_netlink_message_payload:
 *
 * Returns: the family header of a message, or %NULL when the message is too short for it
 */
gconstpointer
cocoon_netlink_message_payload(const struct nlmsghdr *header, gsize family_size)
{
	if (header->nlmsg_len < NLMSG_LENGTH(family_size))
		return NULL;
	return NLMSG_DATA(header);
}

gboolean
cocoon_netlink_parse_attributes(gconstpointer data, gsize length, const struct rtattr **table,
				guint max)
{
	const guint8 *bytes = data;
	gsize offset = 0;

	memset(table, 0, sizeof(*table) * (max + 1));
	while (offset + sizeof(struct rtattr) <= length) {
		const struct rtattr *attribute = (const struct rtattr *)(bytes + offset);
		guint type;

		if (attribute->rta_len < sizeof(struct rtattr) ||
		    attribute->rta_len > length - offset)
			return FALSE;
		/* the nested and byte-order flags are not part of the type */
		type = attribute->rta_type & NLA_TYPE_MASK;
		if (type <= max)
			table[type] = attribute;
		offset += RTA_ALIGN(attribute->rta_len);
	}
	/* trailing bytes shorter than an attribute header: padding at most */
	return length - MIN(offset, length) < sizeof(struct rtattr);
}

gboolean
cocoon_netlink_parse_message(const struct nlmsghdr *header, gsize family_size,
			     const struct rtattr **table, guint max)
{
	gsize start = NLMSG_SPACE(family_size);

	if (header->nlmsg_len < NLMSG_LENGTH(family_size))
		return FALSE;
	if (header->nlmsg_len <= start) {
		memset(table, 0, sizeof(*table) * (max + 1));
		return TRUE;
	}
	return cocoon_netlink_parse_attributes((const guint8 *)header + start,
					       header->nlmsg_len - start, table, max);
}

gboolean
cocoon_netlink_parse_nested(const struct rtattr *attribute, const struct rtattr **table, guint max)
{
	gsize size;
	gconstpointer data = cocoon_netlink_attribute_data(attribute, &size);

	return cocoon_netlink_parse_attributes(data, size, table, max);
}

gconstpointer
cocoon_netlink_attribute_data(const struct rtattr *attribute, gsize *ret_size)
{
	*ret_size = attribute->rta_len - RTA_LENGTH(0);
	return RTA_DATA(attribute);
}

gboolean
cocoon_netlink_attribute_get_u32(const struct rtattr *attribute, guint32 *ret_value)
{
	gsize size;
	gconstpointer data;

	if (attribute == NULL)
		return FALSE;
	data = cocoon_netlink_attribute_data(attribute, &size);
	if (size != sizeof(guint32))
		return FALSE;
	memcpy(ret_value, data, sizeof(guint32));
	return TRUE;
}

const gchar *
cocoon_netlink_attribute_get_string(const struct rtattr *attribute)
{
	gsize size;
	const gchar *data;

	if (attribute == NULL)
		return NULL;
	data = cocoon_netlink_attribute_data(attribute, &size);
	if (size == 0 || memchr(data, '\0', size) == NULL)
		return NULL;
	return data;
}

gboolean
cocoon_netlink_next_message(gconstpointer buffer, gsize length, gsize *offset,
			    const struct nlmsghdr **ret_header)
{
	const struct nlmsghdr *header;

	*ret_header = NULL;
	if (*offset >= length || length - *offset < sizeof(struct nlmsghdr))
		return FALSE;
	header = (const struct nlmsghdr *)((const guint8 *)buffer + *offset);
	if (header->nlmsg_len < sizeof(struct nlmsghdr) || header->nlmsg_len > length - *offset)
		return FALSE;
	*offset += MIN((gsize)NLMSG_ALIGN(header->nlmsg_len), length - *offset);
	*ret_header = header;
	return TRUE;
}

/* ---- the socket ---- */

/**
 * cocoon_netlink_open:
 *
 * Returns: (transfer full): a NETLINK_ROUTE socket in the calling thread's network namespace
 */
CocoonNetlink *
cocoon_netlink_open(GError **error)
{
	struct sockaddr_nl address = {.nl_family = AF_NETLINK};
	socklen_t address_length = sizeof(address);
	cocoon_autofd int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	CocoonNetlink *netlink;
	int one = 1;

	if (fd < 0) {
		cocoon_set_error_from_errno(error, "netlink socket");
		return NULL;
	}
	/* the kernel's own error text (extack), and no copy of our request in its errors */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&address, &address_length) < 0) {
		cocoon_set_error_from_errno(error, "netlink bind");
		return NULL;
	}
	netlink = g_new0(CocoonNetlink, 1);
	netlink->fd = cocoon_steal_fd(&fd);
	netlink->port = address.nl_pid;
	netlink->sequence = (guint32)g_get_monotonic_time();
	return netlink;
}

void
cocoon_netlink_free(CocoonNetlink *netlink)
{
	if (netlink == NULL)
		return;
	cocoon_fd_closep(&netlink->fd);
	g_free(netlink);
}

static const gchar *
message_type_name(guint16 type)
{
	switch (type) {
	case RTM_NEWLINK:
		return "RTM_NEWLINK";
	case RTM_DELLINK:
		return "RTM_DELLINK";
	case RTM_GETLINK:
		return "RTM_GETLINK";
	case RTM_NEWADDR:
		return "RTM_NEWADDR";
	case RTM_GETADDR:
		return "RTM_GETADDR";
	case RTM_NEWROUTE:
		return "RTM_NEWROUTE";
	case RTM_GETROUTE:
		return "RTM_GETROUTE";
	case RTM_NEWQDISC:
		return "RTM_NEWQDISC";
	case RTM_DELQDISC:
		return "RTM_DELQDISC";
	case RTM_NEWTFILTER:
		return "RTM_NEWTFILTER";
	case RTM_DELTFILTER:
		return "RTM_DELTFILTER";
	case RTM_GETTFILTER:
		return "RTM_GETTFILTER";
	default:
		return "netlink request";
	}
}

static gboolean
send_message(CocoonNetlink *netlink, CocoonNetlinkMessage *message, guint16 extra_flags,
	     guint32 *ret_sequence, GError **error)
{
	struct nlmsghdr *header = cocoon_netlink_message_get_header(message);
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	gsize length = cocoon_netlink_message_get_length(message);
	gssize sent;

	if (length > COCOON_NETLINK_MESSAGE_MAX) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
			    "%s: message of %zu bytes (at most %u)",
			    message_type_name(header->nlmsg_type), length,
			    COCOON_NETLINK_MESSAGE_MAX);
		return FALSE;
	}
	header->nlmsg_flags |= extra_flags;
	header->nlmsg_seq = ++netlink->sequence;
	header->nlmsg_pid = netlink->port;
	do {
		sent = sendto(netlink->fd, header, length, 0, (struct sockaddr *)&kernel,
			      sizeof(kernel));
	} while (sent < 0 && errno == EINTR);
	if (sent < 0 || (gsize)sent != length) {
		int saved_errno = sent < 0 ? errno : EMSGSIZE;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno), "%s: send: %s",
			    message_type_name(header->nlmsg_type), g_strerror(saved_errno));
		return FALSE;
	}
	*ret_sequence = header->nlmsg_seq;
	return TRUE;
}

/* one datagram from the kernel, or an error when none arrives before the deadline */
static gssize
receive(CocoonNetlink *netlink, guint8 *buffer, gsize size, gint64 deadline, const gchar *what,
	GError **error)
{
	for (;;) {
		struct sockaddr_nl from;
		socklen_t from_length = sizeof(from);
		struct pollfd pfd = {.fd = netlink->fd, .events = POLLIN};
		gint64 left = deadline - g_get_monotonic_time();
		gssize received;
		int ready;

		if (left <= 0) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "%s: no answer from the kernel within %u ms", what,
				    COCOON_NETLINK_TIMEOUT_MS);
			return -1;
		}
		ready = poll(&pfd, 1, (int)((left + 999) / 1000));
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			continue;
		received = recvfrom(netlink->fd, buffer, size, MSG_TRUNC, (struct sockaddr *)&from,
				    &from_length);
		if (received < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (received < 0) {
			cocoon_set_error_from_errno(error, "%s: receive", what);
			return -1;
		}
		if ((gsize)received > size) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
				    "%s: an answer of %zd bytes does not fit %zu", what, received,
				    size);
			return -1;
		}
		/* only the kernel speaks to us */
		if (from.nl_pid != 0)
			continue;
		return received;
	}
}

/* turns an NLMSG_ERROR into a GError; TRUE when it is an acknowledgement (error 0) */
static gboolean
check_error_message(const struct nlmsghdr *header, const gchar *what, GError **error)
{
	const struct nlmsgerr *answer = cocoon_netlink_message_payload(header, sizeof(*answer));
	const gchar *detail = NULL;
	int code;

	if (answer == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "%s: truncated error message from the kernel", what);
		return FALSE;
	}
	if (answer->error == 0)
		return TRUE;
	code = -answer->error;
	if (header->nlmsg_flags & NLM_F_ACK_TLVS) {
		const struct rtattr *table[NLMSGERR_ATTR_MAX + 1];
		/* NETLINK_CAP_ACK: the request's header only, its payload is not echoed */
		gsize start = NLMSG_SPACE(sizeof(*answer));
		if (header->nlmsg_len > start &&
		    cocoon_netlink_parse_attributes((const guint8 *)header + start,
						    header->nlmsg_len - start, table,
						    NLMSGERR_ATTR_MAX))
			detail = cocoon_netlink_attribute_get_string(table[NLMSGERR_ATTR_MSG]);
	}
	if (detail != NULL && detail[0] != '\0')
		g_set_error(error, COCOON_NETLINK_ERROR, code, "%s: %s (%s)", what,
			    g_strerror(code), detail);
	else
		g_set_error(error, COCOON_NETLINK_ERROR, code, "%s: %s", what, g_strerror(code));
	return FALSE;
}

/*
 * one answer with our sequence number: FALSE with error set ends the exchange in failure, TRUE
 * with *ret_done set ends it in success, TRUE alone reads on
 */
typedef gboolean (*AnswerFunc)(const struct nlmsghdr *header, const gchar *what, gpointer user_data,
			       gboolean *ret_done, GError **error);

/* sends @message with @extra_flags and hands each of our answers to @answer until it is done */
static gboolean
exchange(CocoonNetlink *netlink, CocoonNetlinkMessage *message, guint16 extra_flags,
	 AnswerFunc answer, gpointer user_data, GError **error)
{
	const gchar *what =
		message_type_name(cocoon_netlink_message_get_header(message)->nlmsg_type);
	g_autofree guint8 *buffer = g_malloc(RECEIVE_BUFFER_SIZE);
	gint64 deadline =
		g_get_monotonic_time() + COCOON_NETLINK_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
	guint32 sequence;

	if (!send_message(netlink, message, extra_flags, &sequence, error))
		return FALSE;
	for (;;) {
		gssize received =
			receive(netlink, buffer, RECEIVE_BUFFER_SIZE, deadline, what, error);
		const struct nlmsghdr *header;
		gsize offset = 0;

		if (received < 0)
			return FALSE;
		while (cocoon_netlink_next_message(buffer, (gsize)received, &offset, &header)) {
			gboolean done = FALSE;

			/* a late answer to an earlier request that timed out */
			if (header->nlmsg_seq != sequence)
				continue;
			if (!answer(header, what, user_data, &done, error))
				return FALSE;
			if (done)
				return TRUE;
		}
	}
}

static gboolean
request_answer(const struct nlmsghdr *header, const gchar *what, gpointer user_data,
	       gboolean *ret_done, GError **error)
{
	if (header->nlmsg_type != NLMSG_ERROR)
		return TRUE;
	*ret_done = TRUE;
	return check_error_message(header, what, error);
}

/**
 * cocoon_netlink_request:
 *
 * Sends @message with NLM_F_ACK and waits for the kernel's acknowledgement.
 */
gboolean
cocoon_netlink_request(CocoonNetlink *netlink, CocoonNetlinkMessage *message, GError **error)
{
	return exchange(netlink, message, NLM_F_ACK, request_answer, NULL, error);
}

/**
 * cocoon_netlink_request_take:
 *
 * cocoon_netlink_request() for a message made for it, e.g. by a cocoon_rtnl_*() builder: it is
 * freed.
 */
gboolean
cocoon_netlink_request_take(CocoonNetlink *netlink, CocoonNetlinkMessage *message, GError **error)
{
	g_autoptr(CocoonNetlinkMessage) owned = message;

	return cocoon_netlink_request(netlink, owned, error);
}

static gboolean
dump_answer(const struct nlmsghdr *header, const gchar *what, gpointer user_data,
	    gboolean *ret_done, GError **error)
{
	GPtrArray *answers = user_data;

	if (header->nlmsg_type == NLMSG_DONE) {
		*ret_done = TRUE;
		return TRUE;
	}
	if (header->nlmsg_type == NLMSG_ERROR)
		return check_error_message(header, what, error);
	if (header->nlmsg_flags & NLM_F_DUMP_INTR) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY,
			    "%s: the dump was interrupted by a change", what);
		return FALSE;
	}
	if (answers->len >= DUMP_MESSAGES_MAX) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
			    "%s: more than %u answers", what, DUMP_MESSAGES_MAX);
		return FALSE;
	}
	g_ptr_array_add(answers, g_bytes_new(header, header->nlmsg_len));
	return TRUE;
}

/**
 * cocoon_netlink_dump:
 *
 * Returns: (transfer full) (element-type GBytes): every answer of the dump
 */
GPtrArray *
cocoon_netlink_dump(CocoonNetlink *netlink, CocoonNetlinkMessage *message, GError **error)
{
	g_autoptr(GPtrArray) answers =
		g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);

	if (!exchange(netlink, message, NLM_F_DUMP, dump_answer, answers, error))
		return NULL;
	return g_steal_pointer(&answers);
}
