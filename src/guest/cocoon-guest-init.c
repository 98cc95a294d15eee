/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-agent"

#include "config.h"

#include "cocoon-guest-init.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/module.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-guest-cgroup.h"

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

static int log_fd = 2;
static gboolean log_debug;

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	const gchar *message = NULL;
	const gchar *prefix = "";
	g_autofree gchar *line = NULL;
	struct timespec ts;

	if ((level & G_LOG_LEVEL_DEBUG) && !log_debug)
		return G_LOG_WRITER_HANDLED;
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, "MESSAGE") == 0)
			message = fields[i].value;
	}
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		prefix = "error: ";
	else if (level & G_LOG_LEVEL_WARNING)
		prefix = "warning: ";
	clock_gettime(CLOCK_MONOTONIC, &ts);
	line = g_strdup_printf("[%5ld.%06ld] cocoon-agent: %s%s\n", (long)ts.tv_sec,
			       ts.tv_nsec / 1000, prefix, message != NULL ? message : "");
	/* one write per line: lines of concurrent writers do not interleave */
	if (write(log_fd, line, strlen(line)) < 0)
		return G_LOG_WRITER_UNHANDLED;
	return G_LOG_WRITER_HANDLED;
}

void
cocoon_guest_log_setup(int fd, gboolean debug)
{
	log_fd = fd;
	log_debug = debug;
	g_log_set_writer_func(log_writer, NULL, NULL);
}

static gchar **
cmdline_words(void)
{
	g_autofree gchar *cmdline = cocoon_guest_read_small_file("/proc/cmdline", NULL);

	if (cmdline == NULL)
		return g_new0(gchar *, 1);
	return g_strsplit_set(g_strstrip(cmdline), " \t\n", -1);
}

gboolean
cocoon_guest_cmdline_has(const gchar *word)
{
	g_auto(GStrv) words = cmdline_words();
	gsize length = strlen(word);

	for (guint i = 0; words[i] != NULL; i++) {
		if (strncmp(words[i], word, length) == 0 &&
		    (words[i][length] == '\0' || words[i][length] == '='))
			return TRUE;
	}
	return FALSE;
}

gchar *
cocoon_guest_cmdline_get(const gchar *key)
{
	g_auto(GStrv) words = cmdline_words();
	gsize length = strlen(key);

	for (guint i = 0; words[i] != NULL; i++) {
		if (strncmp(words[i], key, length) == 0 && words[i][length] == '=')
			return g_strdup(words[i] + length + 1);
	}
	return NULL;
}

typedef struct {
	const gchar *source;
	const gchar *target;
	const gchar *type;
	unsigned long flags;
	const gchar *options;
} Mount;

static const Mount basic_mounts[] = {
	{"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
	{"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
	{"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
	{"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"},
	{"shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
	{"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
	{"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
};

static gboolean
is_mount_point(const gchar *path)
{
	g_autofree gchar *parent = g_path_get_dirname(path);
	struct stat st, parent_st;

	if (stat(path, &st) < 0 || stat(parent, &parent_st) < 0)
		return FALSE;
	return st.st_dev != parent_st.st_dev;
}

/**
 * cocoon_guest_mount_basics:
 *
 * the filesystems every guest needs; fails on the first that cannot be mounted
 */
gboolean
cocoon_guest_mount_basics(GError **error)
{
	static const gchar *const links[][2] = {
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(basic_mounts); i++) {
		const Mount *m = &basic_mounts[i];

		(void)g_mkdir_with_parents(m->target, 0755);
		if (is_mount_point(m->target))
			continue;
		if (mount(m->source, m->target, m->type, m->flags, m->options) < 0 &&
		    errno != EBUSY) {
			cocoon_set_error_from_errno(error, "mount %s on %s", m->type, m->target);
			return FALSE;
		}
	}
	for (guint i = 0; i < G_N_ELEMENTS(links); i++)
		(void)symlink(links[i][0], links[i][1]);
	return TRUE;
}

void
cocoon_guest_ensure_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		int opened;

		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		opened = open("/dev/console", O_RDWR | O_NOCTTY);
		if (opened < 0)
			opened = open("/dev/null", O_RDWR);
		if (opened >= 0 && opened != fd) {
			dup2(opened, fd);
			close(opened);
		}
	}
}

void
cocoon_guest_enable_cgroup_controllers(const gchar *cgroup_root)
{
	static const gchar *const names[] = {"cpu", "cpuset", "io", "memory", "pids", NULL};

	cocoon_guest_cgroup_enable_controllers(cgroup_root, names);
}

static gchar *
module_path(const gchar *line, const gchar *release)
{
	g_autofree gchar *dir = g_build_filename("/lib/modules", release, NULL);
	g_autofree gchar *dep_path = NULL;
	g_autofree gchar *deps = NULL;
	g_auto(GStrv) lines = NULL;

	if (g_path_is_absolute(line))
		return g_strdup(line);
	if (strchr(line, '/') != NULL)
		return g_build_filename(dir, line, NULL);
	/* a bare name: look it up in modules.dep ("kernel/.../name.ko[.xz]: deps") */
	dep_path = g_build_filename(dir, "modules.dep", NULL);
	if (!g_file_get_contents(dep_path, &deps, NULL, NULL))
		return NULL;
	lines = g_strsplit(deps, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		gchar *colon = strchr(lines[i], ':');
		g_autofree gchar *base = NULL;
		gchar *dot;

		if (colon == NULL)
			continue;
		*colon = '\0';
		base = g_path_get_basename(lines[i]);
		dot = strstr(base, ".ko");
		if (dot != NULL)
			*dot = '\0';
		/* module names treat - and _ alike */
		g_strdelimit(base, "-", '_');
		{
			g_autofree gchar *wanted = g_strdelimit(g_strdup(line), "-", '_');
			if (g_strcmp0(base, wanted) == 0)
				return g_build_filename(dir, lines[i], NULL);
		}
	}
	return NULL;
}

/**
 * cocoon_guest_load_modules:
 *
 * best effort: a module that fails is logged, the others are still tried
 */
void
cocoon_guest_load_modules(const gchar *path)
{
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) lines = NULL;
	struct utsname uts;

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return;
	uname(&uts);
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		gchar *line = g_strstrip(lines[i]);
		g_autofree gchar *file = NULL;
		cocoon_autofd int fd = -1;
		int flags = 0;

		if (line[0] == '\0' || line[0] == '#')
			continue;
		file = module_path(line, uts.release);
		if (file == NULL) {
			g_warning("module %s: not found", line);
			continue;
		}
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			g_warning("module %s: %s", file, g_strerror(errno));
			continue;
		}
		if (!g_str_has_suffix(file, ".ko"))
			flags |= MODULE_INIT_COMPRESSED_FILE;
		if (syscall(SYS_finit_module, fd, "", flags) < 0 && errno != EEXIST)
			g_warning("module %s: %s", file, g_strerror(errno));
		else
			g_debug("module %s loaded", file);
	}
}

gboolean
cocoon_guest_loopback_up(GError **error)
{
	cocoon_autofd int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq request = {0};

	g_strlcpy(request.ifr_name, "lo", sizeof(request.ifr_name));
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &request) < 0) {
		cocoon_set_error_from_errno(error, "lo");
		return FALSE;
	}
	request.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &request) < 0) {
		cocoon_set_error_from_errno(error, "lo up");
		return FALSE;
	}
	return TRUE;
}

gboolean
cocoon_guest_mount_share(const gchar *mountpoint, GError **error)
{
	g_autofree gchar *share = cocoon_guest_cmdline_get(COCOON_GUEST_SHARE_PARAM);
	g_autofree gchar *cache = NULL;
	g_autofree gchar *options = NULL;

	/* statfs cannot tell: 9p reports the f_type of the host's filesystem */
	if (is_mount_point(mountpoint))
		return TRUE;
	(void)g_mkdir_with_parents(mountpoint, 0755);
	/*
	 * the host offers virtio-fs instead of 9p (hypervisor.shared_fs = "virtio-fs").
	 * nosuid and nodev are the agent's own view of the share, and containers do not inherit
	 * them: crun bind-mounts each rootfs and volume from here and remounts the copy with the
	 * flags of its spec entry, so a container's / and volumes are nodev or nosuid only where
	 * the spec says so, as under runc (shim-fs-posix: mknod c 1 3 then write, set-id bits).
	 * Device nodes are safe to honour there: a FUSE device inode is a special inode of the
	 * guest kernel, opened by the guest's own driver and never passed to virtiofsd, so it
	 * reaches the guest's device, limited by the device cgroup crun sets from the spec; on the
	 * host it is an inode virtiofsd made, as runc would have made it in the overlay's upper
	 * directory.
	 */
	if (g_strcmp0(share, "virtiofs") == 0) {
		if (mount(COCOON_GUEST_SHARE_TAG, mountpoint, "virtiofs", MS_NOSUID | MS_NODEV,
			  NULL) < 0) {
			cocoon_set_error_from_errno(error, "mount virtiofs %s on %s",
						    COCOON_GUEST_SHARE_TAG, mountpoint);
			return FALSE;
		}
		g_debug("mounted virtiofs %s on %s", COCOON_GUEST_SHARE_TAG, mountpoint);
		return TRUE;
	}
	cache = cocoon_guest_cmdline_get("cocoon.cache");
	options = g_strdup_printf("%s,cache=%s", COCOON_GUEST_SHARE_OPTIONS,
				  cache != NULL ? cache : "none");
	if (mount(COCOON_GUEST_SHARE_TAG, mountpoint, "9p", MS_NOSUID | MS_NODEV, options) < 0) {
		cocoon_set_error_from_errno(error, "mount 9p %s on %s (%s)", COCOON_GUEST_SHARE_TAG,
					    mountpoint, options);
		return FALSE;
	}
	g_debug("mounted 9p %s on %s (%s)", COCOON_GUEST_SHARE_TAG, mountpoint, options);
	return TRUE;
}

void
cocoon_guest_power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	/* not reached unless we are not allowed to: PID 1 must never exit */
	for (;;)
		pause();
}
