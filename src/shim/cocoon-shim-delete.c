/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-shim"

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-config.h"
#include "cocoon-fd.h"
#include "cocoon-fs.h"
#include "cocoon-host-cgroup.h"
#include "cocoon-json.h"
#include "cocoon-pidfd.h"
#include "cocoon-qemu.h"
#include "cocoon-rootfs.h"
#include "cocoon-shim-util.h"
#include "cocoon-shim.h"
#include "cocoon-unix.h"
#include "cocoon-ttrpc-client.h"
#include "cocoon-ttrpc-server.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "shim.pb-c.h"

/* containerd gives `delete` 5 s: at most 2 with a live shim, then 3 waiting for it to exit */
#define SHIM_EXIT_WAIT_US   (3 * G_USEC_PER_SEC)
#define LIVE_SHIM_BUDGET_US (2 * G_USEC_PER_SEC)
#define TASK_SERVICE	    "containerd.task.v2.Task"

/* TRUE when the pod's shim daemon still answers on its socket */
static gboolean
shim_is_alive(const gchar *address)
{
	return cocoon_unix_is_served(cocoon_shim_socket_path(address));
}

static void
unmount_quietly(const gchar *path)
{
	g_autoptr(GError) error = NULL;
	if (!cocoon_rootfs_unmount(path, &error))
		g_printerr("%s\n", error->message);
}

/*
 * an exited process whose parent has not reaped it yet: it holds nothing any more. The shim's
 * parent is the host's init, which may reap late (one init here reaps every ~2 s)
 */
static gboolean
process_is_zombie(GPid pid)
{
	gchar state = cocoon_pidfd_proc_state(pid);

	return state == 'Z' || state == 'X';
}

/*
 * a shim that is still stopping its VM (after Shutdown, its socket already gone) is given time to
 * finish before we kill anything; found by pid + start time, never by a bare pid
 */
static void
wait_for_exiting_shim(const gchar *state_dir)
{
	g_autofree gchar *path = g_build_filename(state_dir, "shim.pid", NULL);
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) fields = NULL;
	gint64 deadline = g_get_monotonic_time() + SHIM_EXIT_WAIT_US;
	guint64 recorded, now_start;
	GPid pid;

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return;
	fields = g_strsplit(g_strstrip(contents), " ", 2);
	if (g_strv_length(fields) != 2)
		return;
	pid = (GPid)g_ascii_strtoll(fields[0], NULL, 10);
	recorded = g_ascii_strtoull(fields[1], NULL, 10);
	if (pid <= 1 || pid == getpid())
		return;
	while (g_get_monotonic_time() < deadline &&
	       cocoon_qemu_read_start_time(pid, &now_start, NULL) && now_start == recorded &&
	       !process_is_zombie(pid))
		g_usleep(10000);
}

/* one Task call with what is left of the budget; NULL with error on failure */
static ProtobufCMessage *
live_shim_call(CocoonTtrpcClient *client, const gchar *method, const ProtobufCMessage *request,
	       const ProtobufCMessageDescriptor *response_descriptor, gint64 deadline,
	       GError **error)
{
	gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
	return cocoon_ttrpc_client_call_message(client, TASK_SERVICE, method, request,
						response_descriptor,
						(guint)CLAMP(left_ms, 100, 1000), NULL, error);
}

/*
 * containerd runs `delete` while the pod's shim still runs when it lost track of the task (e.g. its
 * Connect after a restart failed) or after a normal Delete of one container of a pod. Either way
 * the task must go from the shim (kill it, delete it), and the shim is asked to exit, which it does
 * only when it hosts nothing else. Without this a shim whose Create outlived containerd stays
 * forever.
 */
static void
release_from_live_shim(const gchar *address, const CocoonShimOptions *options,
		       gboolean wait_for_exit)
{
	Containerd__Task__V2__KillRequest kill_request = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
	Containerd__Task__V2__DeleteRequest delete_request =
		CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
	Containerd__Task__V2__ShutdownRequest shutdown_request =
		CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
	gint64 deadline = g_get_monotonic_time() + LIVE_SHIM_BUDGET_US;
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonTtrpcClient) client =
		cocoon_ttrpc_client_new_for_path(cocoon_shim_socket_path(address), &error);
	ProtobufCMessage *response;

	if (client == NULL)
		return;
	cocoon_ttrpc_client_set_metadata(client, COCOON_TTRPC_NAMESPACE_KEY, options->namespace_);
	kill_request.id = options->id;
	kill_request.signal = 9;
	kill_request.all = TRUE;
	response = live_shim_call(client, "Kill", (ProtobufCMessage *)&kill_request,
				  &google__protobuf__empty__descriptor, deadline, &error);
	if (response != NULL)
		protobuf_c_message_free_unpacked(response, NULL);
	/* a killed process is deletable once its exit was reported */
	delete_request.id = options->id;
	while (g_get_monotonic_time() < deadline) {
		g_clear_error(&error);
		response = live_shim_call(client, "Delete", (ProtobufCMessage *)&delete_request,
					  &containerd__task__v2__delete_response__descriptor,
					  deadline, &error);
		if (response != NULL) {
			g_printerr("task %s was still in its shim: deleted it there\n",
				   options->id);
			protobuf_c_message_free_unpacked(response, NULL);
			break;
		}
		if (!g_error_matches(error, COCOON_TTRPC_ERROR, COCOON_TTRPC_FAILED_PRECONDITION))
			break;
		g_usleep(100000);
	}
	g_clear_error(&error);
	shutdown_request.id = options->id;
	response = live_shim_call(client, "Shutdown", (ProtobufCMessage *)&shutdown_request,
				  &google__protobuf__empty__descriptor, deadline, &error);
	if (response == NULL)
		return;
	protobuf_c_message_free_unpacked(response, NULL);
	/* a shim that exits closes every connection at once */
	while (wait_for_exit && g_get_monotonic_time() < deadline &&
	       cocoon_ttrpc_client_is_connected(client))
		g_usleep(20000);
}

/* a killed shim left its VM's host cgroup: it goes once empty (QEMU died with the shim) */
static void
remove_host_cgroup(const gchar *bundle)
{
	g_autofree gchar *config_path = g_build_filename(bundle, "config.json", NULL);
	g_autoptr(CocoonJson) spec = cocoon_json_parse_file(config_path, NULL);

	if (spec != NULL)
		cocoon_host_cgroup_remove_leaf(cocoon_json_get_string(
			cocoon_json_path_get(spec, "linux", "cgroupsPath", NULL)));
}

/*
 * The shim of a pod died (or containerd cleans up after a normal Delete): release what belongs to
 * this task id. The VM is killed only when no shim serves the pod any more; it is found from the
 * persisted pid + start time, never by a bare pid.
 */
static void
shim_delete(const CocoonShimOptions *options, const gchar *bundle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CocoonConfig) config = cocoon_config_load_default(&error);
	g_autofree gchar *group = NULL;
	g_autofree gchar *address = NULL;
	g_autofree gchar *bundle_rootfs = g_build_filename(bundle, "rootfs", NULL);
	g_autofree gchar *state_dir = NULL;

	if (config == NULL) {
		g_printerr("%s; using defaults\n", error->message);
		g_clear_error(&error);
		config = cocoon_config_new_default();
	}
	group = cocoon_shim_read_group(bundle, options->id, NULL, NULL);
	if (group == NULL)
		group = g_strdup(options->id);
	if (!cocoon_identifier_validate("sandbox id", group, &error)) {
		g_printerr("%s\n", error->message);
		return;
	}
	address = cocoon_shim_socket_address(options->address != NULL ? options->address : "",
					     options->namespace_, group);
	state_dir = g_build_filename(config->state_dir, group, NULL);

	if (shim_is_alive(address))
		release_from_live_shim(address, options, g_str_equal(group, options->id));
	if (!shim_is_alive(address)) {
		wait_for_exiting_shim(state_dir);
		if (g_file_test(state_dir, G_FILE_TEST_IS_DIR) &&
		    !cocoon_qemu_kill_from_state(state_dir, &error)) {
			g_printerr("sandbox %s: %s\n", group, error->message);
			g_clear_error(&error);
		}
		g_unlink(cocoon_shim_socket_path(address));
	}
	/*
	 * a live shim released what it mounted for this task itself, by the fds that name the
	 * mounts; the share is the guest's, so nothing below it is touched by name here while a VM
	 * may still write in it. containerd's own <bundle>/rootfs is no guest's to change.
	 */
	unmount_quietly(bundle_rootfs);
	if (!shim_is_alive(address)) {
		cocoon_shim_remove_state_dir(state_dir);
		/* the VM's host cgroup is named by the pod's first (sandbox) container */
		if (g_str_equal(group, options->id) && config->host_cgroup)
			remove_host_cgroup(bundle);
	}
}

/**
 * cocoon_shim_remove_state_dir:
 * @state_dir: <runtime.state_dir>/<sandbox>
 *
 * The pod's VM is gone and no shim serves it: every mount left below the state directory (the
 * containers' rootfs and volumes in the share, after a shim was killed) is detached, found in
 * mountinfo and reached without following a symlink the guest planted, then the directory goes
 * with what the VM and the guest left in it, never following a symlink nor descending below a
 * mount that stayed.
 */
void
cocoon_shim_remove_state_dir(const gchar *state_dir)
{
	g_autoptr(GError) error = NULL;

	if (!cocoon_unmount_below(state_dir, &error)) {
		g_printerr("%s\n", error->message);
		return;
	}
	cocoon_remove_tree(state_dir);
}

int
cocoon_shim_delete(const CocoonShimOptions *options)
{
	Containerd__Task__V2__DeleteResponse response = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	g_autofree gchar *cwd = g_get_current_dir();
	const gchar *bundle = options->bundle != NULL ? options->bundle : cwd;
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *buf = NULL;
	gint64 now = g_get_real_time();
	gsize size;

	if (!cocoon_identifier_validate("task id", options->id, &error)) {
		g_printerr("cocoon delete: %s\n", error->message);
		return 1;
	}
	shim_delete(options, bundle);
	/* what runc reports for a task cleaned up this way: killed */
	ts.seconds = now / G_USEC_PER_SEC;
	ts.nanos = (gint32)(now % G_USEC_PER_SEC) * 1000;
	response.exit_status = 128 + 9;
	response.exited_at = &ts;
	size = protobuf_c_message_get_packed_size((ProtobufCMessage *)&response);
	buf = g_malloc(size + 1);
	protobuf_c_message_pack((ProtobufCMessage *)&response, buf);
	if (fwrite(buf, 1, size, stdout) != size || fflush(stdout) != 0)
		return 1;
	return 0;
}
