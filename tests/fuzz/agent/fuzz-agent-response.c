/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the host side of the agent protocol: every cocoon.agent.v1 response the shim
 * decodes from the guest (untrusted: the guest runs the containers). The first input byte picks the
 * method of the generated service descriptor, the rest is its response. What the shim builds from a
 * decoded response runs too: the metrics for containerd in the host's cgroup v1 and v2 forms, the
 * Pids answer with the runc ProcessDetails of execs. Everything built must pack to its announced
 * size and decode again.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "agent.pb-c.h"
#include "cgroups-v1-metrics.pb-c.h"
#include "cgroups-v2-metrics.pb-c.h"
#include "cocoon-metrics.h"
#include "containerd-task-types.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "runc-options.pb-c.h"
#include "shim.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(gboolean condition, const gchar *what)
{
	if (condition)
		return;
	g_printerr("fuzz-agent-response: %s\n", what);
	abort();
}

/*
 * packs message to its announced size; what the shim built must decode again (a decoded message
 * may not: protobuf-c keeps unknown fields it refuses to read back, e.g. field number 0)
 */
static void
pack_and_decode(const ProtobufCMessage *message, gboolean built)
{
	gsize size = protobuf_c_message_get_packed_size(message);
	g_autofree guint8 *buf = g_malloc(size + 1);
	ProtobufCMessage *copy;

	check(protobuf_c_message_pack(message, buf) == size, "packed size");
	copy = protobuf_c_message_unpack(message->descriptor, NULL, size, buf);
	check(copy != NULL || !built, "a message the shim built does not decode");
	if (copy != NULL)
		protobuf_c_message_free_unpacked(copy, NULL);
}

static void
stats(Cocoon__Agent__V1__StatsContainerResponse *response)
{
	Io__Containerd__Cgroups__V2__Metrics empty = IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
	const Io__Containerd__Cgroups__V2__Metrics *metrics =
		response->metrics != NULL ? response->metrics : &empty;
	CocoonCgroupMode modes[] = {COCOON_CGROUP_MODE_V1, COCOON_CGROUP_MODE_V2};

	/* as cocoon_sandbox_task_stats does before passing them on */
	cocoon_metrics_drop_unknown_fields(response->metrics);

	for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_autoptr(GBytes) value = NULL;
		const gchar *type_url = cocoon_metrics_pack(metrics, modes[i], &value);
		const ProtobufCMessageDescriptor *descriptor =
			modes[i] == COCOON_CGROUP_MODE_V1
				? &io__containerd__cgroups__v1__metrics__descriptor
				: &io__containerd__cgroups__v2__metrics__descriptor;
		gsize length = 0;
		const guint8 *bytes;
		ProtobufCMessage *decoded;

		check(type_url != NULL && value != NULL, "metrics without a type or value");
		bytes = g_bytes_get_data(value, &length);
		decoded = protobuf_c_message_unpack(descriptor, NULL, length, bytes);
		check(decoded != NULL, "packed metrics do not decode");
		protobuf_c_message_free_unpacked(decoded, NULL);
	}
}

/* the Pids answer, as cocoon_sandbox_task_pids builds it */
static void
pids(const Cocoon__Agent__V1__ListProcessesResponse *response)
{
	Containerd__Task__V2__PidsResponse pids = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
	g_autofree Containerd__V1__Types__ProcessInfo *infos =
		g_new0(Containerd__V1__Types__ProcessInfo, response->n_processes + 1);
	g_autofree Containerd__V1__Types__ProcessInfo **info_ptrs =
		g_new0(Containerd__V1__Types__ProcessInfo *, response->n_processes + 1);
	g_autofree Google__Protobuf__Any *details =
		g_new0(Google__Protobuf__Any, response->n_processes + 1);
	g_autoptr(GPtrArray) packed = g_ptr_array_new_with_free_func(g_free);

	for (gsize i = 0; i < response->n_processes; i++) {
		const gchar *exec_id = response->processes[i]->exec_id;
		containerd__v1__types__process_info__init(&infos[i]);
		infos[i].pid = response->processes[i]->pid;
		if (exec_id != NULL && exec_id[0] != '\0') {
			Containerd__Runc__V1__ProcessDetails detail =
				CONTAINERD__RUNC__V1__PROCESS_DETAILS__INIT;
			gsize size;
			guint8 *buf;
			detail.exec_id = (gchar *)exec_id;
			size = protobuf_c_message_get_packed_size((ProtobufCMessage *)&detail);
			buf = g_malloc(size + 1);
			check(protobuf_c_message_pack((ProtobufCMessage *)&detail, buf) == size,
			      "ProcessDetails size");
			g_ptr_array_add(packed, buf);
			google__protobuf__any__init(&details[i]);
			details[i].type_url = (gchar *)"containerd.runc.v1.ProcessDetails";
			details[i].value.data = buf;
			details[i].value.len = size;
			infos[i].info = &details[i];
		}
		info_ptrs[i] = &infos[i];
	}
	pids.n_processes = response->n_processes;
	pids.processes = info_ptrs;
	pack_and_decode((ProtobufCMessage *)&pids, TRUE);
}

static void
wait_event(const Cocoon__Agent__V1__WaitEventResponse *response)
{
	/* an unknown kind is ignored by the shim; naming it must not fail */
	const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value(
		&cocoon__agent__v1__wait_event_response__kind__descriptor, response->kind);
	(void)value;
	if (response->container_id != NULL)
		(void)strlen(response->container_id);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCServiceDescriptor *service = &cocoon__agent__v1__agent__descriptor;
	const ProtobufCMethodDescriptor *method;
	ProtobufCMessage *message;

	if (size < 1)
		return 0;
	method = &service->methods[data[0] % service->n_methods];
	message = protobuf_c_message_unpack(method->output, NULL, size - 1, data + 1);
	if (message == NULL)
		return 0;
	if (method->output == &cocoon__agent__v1__stats_container_response__descriptor)
		stats((Cocoon__Agent__V1__StatsContainerResponse *)message);
	else if (method->output == &cocoon__agent__v1__list_processes_response__descriptor)
		pids((Cocoon__Agent__V1__ListProcessesResponse *)message);
	else if (method->output == &cocoon__agent__v1__wait_event_response__descriptor)
		wait_event((Cocoon__Agent__V1__WaitEventResponse *)message);
	pack_and_decode(message, FALSE);
	protobuf_c_message_free_unpacked(message, NULL);
	return 0;
}
