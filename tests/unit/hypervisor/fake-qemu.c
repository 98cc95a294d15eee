/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stand-in for qemu-system-x86_64 in the driver's unit tests: it takes the real command line,
 * writes it to ./fake-qemu.args (one per line; the cwd is the state directory), accepts on the
 * inherited QMP socket of "-chardev socket,id=qmp,fd=N,server=on" and speaks enough QMP.
 * FAKE_QEMU_MODE:
 *   normal       serve QMP; quit exits 0 after a SHUTDOWN event
 *   exit-early   complain on stderr and exit 1 before listening
 *   no-monitor   never listen, just sleep
 *   stubborn     answer quit but keep running, ignore SIGTERM
 *   die-at-capabilities  greet, then at qmp_capabilities complain on stderr and exit 1 (a kernel
 *                QEMU cannot load: the connection resets before the answer)
 * FAKE_QEMU_CONSOLE_BYTES=N: first write N bytes of "console flood\n" lines to the console chardev
 * (-chardev socket,id=console,fd=N), then serve as the mode says.
 * FAKE_QEMU_STDERR_BYTES=N: first write N bytes of warnings on stderr.
 * FAKE_QEMU_EXIT_AFTER_MS=N: after N ms send SHUTDOWN (guest-shutdown) and exit 0, like a guest
 * that powers off.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

#include "cocoon-json.h"

/* the fd of "-chardev socket,id=<id>,fd=N", or -1 */
static int
chardev_fd(char **argv, const gchar *id)
{
	g_autofree gchar *prefix = g_strdup_printf("socket,id=%s,", id);

	for (guint i = 1; argv[i] != NULL && argv[i + 1] != NULL; i++) {
		const gchar *fd;

		if (!g_str_equal(argv[i], "-chardev") || !g_str_has_prefix(argv[i + 1], prefix))
			continue;
		fd = strstr(argv[i + 1], ",fd=");
		return fd != NULL ? (int)g_ascii_strtoll(fd + strlen(",fd="), NULL, 10) : -1;
	}
	return -1;
}

static void
flood_console(char **argv, const gchar *bytes)
{
	static const gchar line[] = "console flood\n";
	gint64 left = g_ascii_strtoll(bytes, NULL, 10);
	int fd = chardev_fd(argv, "console");

	while (fd >= 0 && left > 0) {
		gsize length = MIN((gsize)left, sizeof(line) - 1);
		ssize_t n = write(fd, line, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		left -= n;
	}
}

static void
send_line(int fd, const gchar *line)
{
	g_autofree gchar *text = g_strconcat(line, "\r\n", NULL);
	gsize length = strlen(text);
	const gchar *p = text;

	while (length > 0) {
		ssize_t n = send(fd, p, length, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		length -= n;
	}
}

static void
reply(int fd, CocoonJson *request, const gchar *result)
{
	CocoonJson *id = cocoon_json_object_get(request, "id");
	g_autofree gchar *id_text = id != NULL ? cocoon_json_to_string(id, FALSE) : g_strdup("0");
	g_autofree gchar *line = g_strdup_printf("{\"return\": %s, \"id\": %s}", result, id_text);

	send_line(fd, line);
}

static void
shutdown_and_exit(int fd, const gchar *reason)
{
	g_autofree gchar *event = g_strdup_printf(
		"{\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}, \"event\": \"SHUTDOWN\", "
		"\"data\": {\"guest\": %s, \"reason\": \"%s\"}}",
		g_str_equal(reason, "host-qmp-quit") ? "false" : "true", reason);

	if (fd >= 0)
		send_line(fd, event);
	_exit(0);
}

int
main(int argc, char **argv)
{
	const gchar *mode = g_getenv("FAKE_QEMU_MODE");
	const gchar *exit_after = g_getenv("FAKE_QEMU_EXIT_AFTER_MS");
	g_autofree gchar *joined = g_strjoinv("\n", argv);
	gint64 exit_at = 0;
	gboolean running = TRUE;
	int listener = chardev_fd(argv, "qmp");
	int client = -1;
	GString *input = g_string_new(NULL);

	if (mode == NULL)
		mode = "normal";
	g_file_set_contents("fake-qemu.args", joined, -1, NULL);
	if (g_getenv("FAKE_QEMU_STDERR_BYTES") != NULL) {
		gint64 left = g_ascii_strtoll(g_getenv("FAKE_QEMU_STDERR_BYTES"), NULL, 10);
		static const gchar warning[] = "fake-qemu: warning: the guest asked for it\n";
		while (left > 0 && write(STDERR_FILENO, warning, sizeof(warning) - 1) > 0)
			left -= sizeof(warning) - 1;
	}
	if (g_getenv("FAKE_QEMU_CONSOLE_BYTES") != NULL)
		flood_console(argv, g_getenv("FAKE_QEMU_CONSOLE_BYTES"));
	if (g_str_equal(mode, "exit-early")) {
		g_printerr("fake-qemu: could not load kernel: no such file\n");
		return 1;
	}
	if (g_str_equal(mode, "no-monitor")) {
		for (;;)
			pause();
	}
	if (g_str_equal(mode, "stubborn"))
		signal(SIGTERM, SIG_IGN);
	if (exit_after != NULL)
		exit_at = g_get_monotonic_time() + g_ascii_strtoll(exit_after, NULL, 10) * 1000;
	/* the driver listens, we inherit the socket (-chardev socket,id=qmp,fd=N,server=on) */
	if (listener < 0) {
		g_printerr("fake-qemu: no QMP chardev\n");
		return 2;
	}
	for (;;) {
		struct pollfd pfd = {.fd = client >= 0 ? client : listener, .events = POLLIN};
		gint timeout = -1;
		gchar chunk[4096];
		gchar *newline;
		ssize_t n;

		if (exit_at != 0)
			timeout = (gint)MAX((exit_at - g_get_monotonic_time()) / 1000, 0);
		if (poll(&pfd, 1, timeout) == 0)
			shutdown_and_exit(client, "guest-shutdown");
		if (client < 0) {
			client = accept(listener, NULL, NULL);
			if (client >= 0)
				send_line(client,
					  "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, "
					  "\"minor\": 2, \"major\": 7}, \"package\": "
					  "\"fake\"}, \"capabilities\": []}}");
			continue;
		}
		n = read(client, chunk, sizeof(chunk));
		if (n <= 0) {
			close(client);
			client = -1;
			g_string_truncate(input, 0);
			continue;
		}
		g_string_append_len(input, chunk, n);
		while ((newline = strchr(input->str, '\n')) != NULL) {
			gsize length = newline - input->str;
			g_autoptr(CocoonJson) request = cocoon_json_parse(input->str, length, NULL);
			const gchar *command =
				cocoon_json_object_get_string_member(request, "execute");

			g_string_erase(input, 0, length + 1);
			if (command == NULL)
				continue;
			if (g_str_equal(mode, "die-at-capabilities") &&
			    g_str_equal(command, "qmp_capabilities")) {
				g_printerr("fake-qemu: Error loading uncompressed kernel without "
					   "PVH ELF Note\n");
				_exit(1);
			}
			if (g_str_equal(command, "query-status")) {
				reply(client, request,
				      running ? "{\"status\": \"running\", \"running\": true}"
					      : "{\"status\": \"paused\", \"running\": false}");
			} else if (g_str_equal(command, "stop")) {
				running = FALSE;
				reply(client, request, "{}");
				send_line(client, "{\"event\": \"STOP\"}");
			} else if (g_str_equal(command, "cont")) {
				running = TRUE;
				reply(client, request, "{}");
				send_line(client, "{\"event\": \"RESUME\"}");
			} else if (g_str_equal(command, "quit")) {
				reply(client, request, "{}");
				if (!g_str_equal(mode, "stubborn"))
					shutdown_and_exit(client, "host-qmp-quit");
			} else {
				reply(client, request, "{}");
			}
		}
	}
}
