/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-hypervisor"

#include "config.h"

#include "cocoon-hypervisor-driver.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cocoon-fd.h"

/* how much of the end of a log file console_tail() looks at */
#define TAIL_MAX_BYTES (64 * 1024)

void
cocoon_hypervisor_init(CocoonHypervisor *hypervisor, const CocoonHypervisorOps *ops,
		       const CocoonVmConfig *config)
{
	hypervisor->ops = ops;
	hypervisor->config = cocoon_vm_config_copy(config);
	hypervisor->agent_socket_path = cocoon_vm_config_state_path(config, COCOON_VM_AGENT_SOCKET);
	hypervisor->stdio_socket_path = cocoon_vm_config_state_path(config, COCOON_VM_STDIO_SOCKET);
	hypervisor->console_log_path = cocoon_vm_config_state_path(config, COCOON_VM_CONSOLE_LOG);
	hypervisor->accel = COCOON_ACCEL_AUTO;
	hypervisor->wait_status = -1;
}

void
cocoon_hypervisor_set_died_func(CocoonHypervisor *hypervisor, CocoonHypervisorDiedFunc func,
				gpointer user_data, GMainContext *context)
{
	g_return_if_fail(hypervisor != NULL);
	hypervisor->died_func = func;
	hypervisor->died_data = user_data;
	if (context != NULL) {
		g_clear_pointer(&hypervisor->died_context, g_main_context_unref);
		hypervisor->died_context = g_main_context_ref(context);
	}
}

GMainContext *
cocoon_hypervisor_get_context(CocoonHypervisor *hypervisor)
{
	if (hypervisor->died_context == NULL)
		hypervisor->died_context = g_main_context_ref_thread_default();
	return hypervisor->died_context;
}

void
cocoon_hypervisor_emit_died(CocoonHypervisor *hypervisor, gint wait_status, const gchar *reason)
{
	hypervisor->wait_status = wait_status;
	if (hypervisor->died_func != NULL)
		hypervisor->died_func(hypervisor, reason, hypervisor->died_data);
}

gchar *
cocoon_hypervisor_describe_wait_status(gint wait_status)
{
	if (WIFEXITED(wait_status))
		return g_strdup_printf("exited with status %d", WEXITSTATUS(wait_status));
	if (WIFSIGNALED(wait_status))
		return g_strdup_printf("was killed by signal %d (%s)", WTERMSIG(wait_status),
				       g_strsignal(WTERMSIG(wait_status)));
	return g_strdup_printf("ended with wait status 0x%x", (guint)wait_status);
}

gchar *
cocoon_hypervisor_file_tail(const gchar *path, guint lines)
{
	cocoon_autofd int fd = -1;
	g_autofree gchar *buffer = NULL;
	g_autofree gchar *valid = NULL;
	g_autoptr(GString) clean = NULL;
	struct stat st;
	off_t offset;
	gssize length = 0;
	const gchar *start;
	guint found = 0;

	if (path == NULL || lines == 0)
		return g_strdup("");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return g_strdup("");
	offset = st.st_size > TAIL_MAX_BYTES ? st.st_size - TAIL_MAX_BYTES : 0;
	buffer = g_malloc(TAIL_MAX_BYTES + 1);
	while (length < TAIL_MAX_BYTES) {
		gssize n = pread(fd, buffer + length, TAIL_MAX_BYTES - length, offset + length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		length += n;
	}
	/* printable text only: the console carries escape sequences and whatever the guest wrote */
	valid = g_utf8_make_valid(buffer, length);
	clean = g_string_sized_new(strlen(valid));
	for (const gchar *p = valid; *p != '\0'; p++) {
		guchar c = *p;
		if (c == '\r')
			continue;
		g_string_append_c(clean,
				  (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : c);
	}
	while (clean->len > 0 && clean->str[clean->len - 1] == '\n')
		g_string_truncate(clean, clean->len - 1);
	start = clean->str + clean->len;
	while (start > clean->str) {
		if (start[-1] == '\n' && ++found == lines)
			break;
		start--;
	}
	return g_strdup(start);
}

gboolean
cocoon_hypervisor_start(CocoonHypervisor *hypervisor, GError **error)
{
	g_return_val_if_fail(hypervisor != NULL, FALSE);
	/* the callbacks' context is fixed from here on */
	cocoon_hypervisor_get_context(hypervisor);
	return hypervisor->ops->start(hypervisor, error);
}

gboolean
cocoon_hypervisor_stop(CocoonHypervisor *hypervisor, guint timeout_ms, GError **error)
{
	g_return_val_if_fail(hypervisor != NULL, FALSE);
	return hypervisor->ops->stop(hypervisor, timeout_ms, error);
}

GPid
cocoon_hypervisor_get_pid(CocoonHypervisor *hypervisor)
{
	g_return_val_if_fail(hypervisor != NULL, 0);
	return hypervisor->ops->get_pid(hypervisor);
}

GPid
cocoon_hypervisor_get_virtiofsd_pid(CocoonHypervisor *hypervisor)
{
	g_return_val_if_fail(hypervisor != NULL, 0);
	return hypervisor->ops->get_virtiofsd_pid != NULL
		       ? hypervisor->ops->get_virtiofsd_pid(hypervisor)
		       : 0;
}

gint
cocoon_hypervisor_get_wait_status(CocoonHypervisor *hypervisor)
{
	g_return_val_if_fail(hypervisor != NULL, -1);
	return hypervisor->wait_status;
}

const gchar *
cocoon_hypervisor_get_sandbox_id(CocoonHypervisor *hypervisor)
{
	g_return_val_if_fail(hypervisor != NULL, NULL);
	return hypervisor->config->sandbox_id;
}

const gchar *
cocoon_hypervisor_get_agent_socket_path(CocoonHypervisor *hypervisor)
{
	g_return_val_if_fail(hypervisor != NULL, NULL);
	return hypervisor->agent_socket_path;
}

const gchar *
cocoon_hypervisor_get_stdio_socket_path(CocoonHypervisor *hypervisor)
{
	g_return_val_if_fail(hypervisor != NULL, NULL);
	return hypervisor->stdio_socket_path;
}

const gchar *
cocoon_hypervisor_get_console_log_path(CocoonHypervisor *hypervisor)
{
	g_return_val_if_fail(hypervisor != NULL, NULL);
	return hypervisor->console_log_path;
}

CocoonAccel
cocoon_hypervisor_get_accel(CocoonHypervisor *hypervisor)
{
	g_return_val_if_fail(hypervisor != NULL, COCOON_ACCEL_AUTO);
	return hypervisor->accel;
}

gchar *
cocoon_hypervisor_console_tail(CocoonHypervisor *hypervisor, guint lines)
{
	g_return_val_if_fail(hypervisor != NULL, g_strdup(""));
	return cocoon_hypervisor_file_tail(hypervisor->console_log_path, lines);
}

void
cocoon_hypervisor_free(CocoonHypervisor *hypervisor)
{
	if (hypervisor == NULL)
		return;
	hypervisor->ops->finalize(hypervisor);
	cocoon_vm_config_free(hypervisor->config);
	g_free(hypervisor->agent_socket_path);
	g_free(hypervisor->stdio_socket_path);
	g_free(hypervisor->console_log_path);
	g_clear_pointer(&hypervisor->died_context, g_main_context_unref);
	g_free(hypervisor);
}
