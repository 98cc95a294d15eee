/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-hypervisor"

#include "config.h"

#include "cocoon-jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT		 47
#define PR_CAP_AMBIENT_RAISE	 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#if defined(__x86_64__)
#define JAIL_AUDIT_ARCH AUDIT_ARCH_X86_64
#define JAIL_X32_BIT	0x40000000u
#elif defined(__aarch64__)
#define JAIL_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
/* every CLONE_NEW* flag: NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET */
#define JAIL_CLONE_NEW_FLAGS 0x7e020080u

/* the jail's root tmpfs holds directories, empty files and symlinks only */
#define JAIL_TMPFS_OPTIONS "mode=0755,size=256k,nr_inodes=1024"
#define JAIL_STEP_MAX	   160

typedef enum {
	JAIL_BIND_FILE,	   /* read-only file, no exec */
	JAIL_BIND_DIR,	   /* read-only directory, no submounts, exec allowed (/usr) */
	JAIL_BIND_DIR_RW,  /* writable directory, no submounts */
	JAIL_BIND_LIVE,	   /* writable directory with submounts, a slave of its peers */
	JAIL_BIND_DEVICE,  /* a device node: writable, no exec */
	JAIL_BIND_FILE_RW, /* writable file */
	JAIL_BIND_PROGRAM, /* read-only file that may be executed */
} JailBindKind;

typedef struct {
	gchar *source;
	gchar *target; /* root_dir + source */
	JailBindKind kind;
} JailBind;

struct _CocoonJail {
	gchar *root_dir;
	uid_t uid;
	gid_t gid;
	GArray *groups; /* gid_t */
	guint64 keep_caps;
	gchar *hostname;
	guint64 nofile, nproc, core;
	gboolean limits_set;
	int netns_fd;
	GPtrArray *binds;    /* JailBind */
	GPtrArray *requests; /* JailBind, as asked: prepared into binds by the spawn */
};

/* what the child reads: prepared by the parent, so that the child only makes system calls */
typedef struct {
	const CocoonJail *jail;
	const gchar *program;
	const gchar *const *argv;
	const gchar *const *envp;
	const CocoonJailFd *fds;
	guint n_fds;
	int high_fd;	/* fds are moved above this one first */
	gchar **mkdirs; /* absolute, parents first */
	gchar **files;	/* empty files to bind onto */
	gchar **links;	/* pairs: target, path */
	gchar *proc_dir;
	struct sock_fprog filter;
	int error_fd; /* the parent reads our error, or EOF at execve */
	int alive_fd; /* read end of a pipe the parent holds open: POLLHUP once it is gone */
} JailChild;

static const struct {
	const gchar *name;
	long nr;
} denied_syscalls[] = {
#define DENY(name)                                                                                 \
	{                                                                                          \
#name, SYS_##name                                                                  \
	}
	/* file handles reach any inode of a file system, past the jail's mounts */
	DENY(open_by_handle_at),
	DENY(name_to_handle_at),
	DENY(mount),
	DENY(umount2),
	DENY(pivot_root),
	DENY(chroot),
	DENY(unshare),
	DENY(setns),
	/* the new mount API: the numbers are the same on every architecture (Linux 5.2+) */
	{"open_tree", 428},
	{"move_mount", 429},
	{"fsopen", 430},
	{"fsconfig", 431},
	{"fsmount", 432},
	{"fspick", 433},
	{"mount_setattr", 442},
	{"open_tree_attr", 467},
	/* page faults a process handles itself: a tool for kernel race exploits (no postcopy here)
	 */
	DENY(userfaultfd),
	DENY(kexec_load),
	DENY(kexec_file_load),
	DENY(init_module),
	DENY(finit_module),
	DENY(delete_module),
	DENY(keyctl),
	DENY(add_key),
	DENY(request_key),
	DENY(ptrace),
	DENY(process_vm_readv),
	DENY(process_vm_writev),
	DENY(perf_event_open),
	DENY(bpf),
	DENY(acct),
	DENY(swapon),
	DENY(swapoff),
	DENY(reboot),
	DENY(syslog),
#ifdef SYS_iopl
	DENY(iopl),
	DENY(ioperm),
#endif
#undef DENY
};

static void
jail_bind_free(JailBind *bind)
{
	g_free(bind->source);
	g_free(bind->target);
	g_free(bind);
}

CocoonJail *
cocoon_jail_new(const gchar *root_dir, uid_t uid, gid_t gid)
{
	CocoonJail *jail = g_new0(CocoonJail, 1);

	jail->root_dir = g_strdup(root_dir);
	jail->uid = uid;
	jail->gid = gid;
	jail->groups = g_array_new(FALSE, FALSE, sizeof(gid_t));
	jail->netns_fd = -1;
	jail->binds = g_ptr_array_new_with_free_func((GDestroyNotify)jail_bind_free);
	jail->requests = g_ptr_array_new_with_free_func((GDestroyNotify)jail_bind_free);
	return jail;
}

void
cocoon_jail_free(CocoonJail *jail)
{
	if (jail == NULL)
		return;
	g_free(jail->root_dir);
	g_array_unref(jail->groups);
	g_free(jail->hostname);
	g_ptr_array_unref(jail->binds);
	g_ptr_array_unref(jail->requests);
	g_free(jail);
}

static void
jail_request(CocoonJail *jail, const gchar *path, JailBindKind kind)
{
	JailBind *bind = g_new0(JailBind, 1);

	bind->source = g_canonicalize_filename(path, "/");
	bind->kind = kind;
	g_ptr_array_add(jail->requests, bind);
}

void
cocoon_jail_expose(CocoonJail *jail, const gchar *path, gboolean writable)
{
	/* the kind (file or directory) is read at the spawn */
	jail_request(jail, path, writable ? JAIL_BIND_FILE_RW : JAIL_BIND_FILE);
}

void
cocoon_jail_expose_program(CocoonJail *jail, const gchar *path)
{
	jail_request(jail, path, JAIL_BIND_PROGRAM);
}

void
cocoon_jail_expose_live(CocoonJail *jail, const gchar *path)
{
	jail_request(jail, path, JAIL_BIND_LIVE);
}

void
cocoon_jail_add_device(CocoonJail *jail, const gchar *path)
{
	jail_request(jail, path, JAIL_BIND_DEVICE);
}

void
cocoon_jail_add_group(CocoonJail *jail, gid_t gid)
{
	g_array_append_val(jail->groups, gid);
}

void
cocoon_jail_keep_capability(CocoonJail *jail, guint capability)
{
	g_return_if_fail(capability < 64);
	jail->keep_caps |= G_GUINT64_CONSTANT(1) << capability;
}

void
cocoon_jail_set_hostname(CocoonJail *jail, const gchar *hostname)
{
	g_free(jail->hostname);
	jail->hostname = g_strdup(hostname);
}

void
cocoon_jail_set_limits(CocoonJail *jail, guint64 nofile, guint64 nproc, guint64 core)
{
	jail->nofile = nofile;
	jail->nproc = nproc;
	jail->core = core;
	jail->limits_set = TRUE;
}

void
cocoon_jail_set_netns(CocoonJail *jail, int netns_fd)
{
	jail->netns_fd = netns_fd;
}

/* ---- the parent's preparation ---- */

/* is path below (or at) one of the directories bound read-only already? */
static gboolean
jail_covers(GPtrArray *binds, const gchar *path)
{
	for (guint i = 0; i < binds->len; i++) {
		const JailBind *bind = g_ptr_array_index(binds, i);
		if (bind->kind != JAIL_BIND_DIR && bind->kind != JAIL_BIND_LIVE)
			continue;
		struct stat dir_st, path_st;
		if (!g_str_equal(bind->source, "/") &&
		    !(g_str_has_prefix(path, bind->source) &&
		      (path[strlen(bind->source)] == '/' || path[strlen(bind->source)] == '\0')))
			continue;
		/* binds are not recursive: a path on another mount below it (/usr/local) is not
		 * there */
		if (stat(bind->source, &dir_st) == 0 && stat(path, &path_st) == 0 &&
		    dir_st.st_dev == path_st.st_dev)
			return TRUE;
	}
	return FALSE;
}

static void
add_mkdirs(GPtrArray *mkdirs, GHashTable *seen, const gchar *root, const gchar *path,
	   gboolean include_last)
{
	g_auto(GStrv) parts = g_strsplit(path + 1, "/", -1);
	g_autoptr(GString) dir = g_string_new(root);
	guint n = g_strv_length(parts);

	for (guint i = 0; i < n; i++) {
		if (i == n - 1 && !include_last)
			break;
		g_string_append_printf(dir, "/%s", parts[i]);
		if (g_hash_table_add(seen, g_strdup(dir->str)))
			g_ptr_array_add(mkdirs, g_strdup(dir->str));
	}
}

static void
jail_add_bind(CocoonJail *jail, const gchar *source, JailBindKind kind)
{
	JailBind *bind = g_new0(JailBind, 1);

	bind->source = g_strdup(source);
	bind->target = g_strconcat(jail->root_dir, source, NULL);
	bind->kind = kind;
	g_ptr_array_add(jail->binds, bind);
}

/*
 * the binds, the directories and files to create, and the merged-/usr symlinks: /usr is always
 * there (the VMM's libraries and firmware); /lib, /lib64, /bin are links where the host has them
 * as links, read-only binds otherwise
 */
static gboolean
jail_prepare(CocoonJail *jail, JailChild *child, GError **error)
{
	static const gchar *const top_dirs[] = {"/lib",	   "/lib64", "/lib32",
						"/libx32", "/bin",   "/sbin"};
	g_autoptr(GPtrArray) mkdirs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	g_ptr_array_set_size(jail->binds, 0);
	jail_add_bind(jail, "/usr", JAIL_BIND_DIR);
	for (guint i = 0; i < G_N_ELEMENTS(top_dirs); i++) {
		struct stat st;
		g_autofree gchar *target = NULL;
		if (lstat(top_dirs[i], &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			target = g_file_read_link(top_dirs[i], NULL);
			if (target == NULL)
				continue;
			g_ptr_array_add(links, g_steal_pointer(&target));
			g_ptr_array_add(links, g_strconcat(jail->root_dir, top_dirs[i], NULL));
		} else if (S_ISDIR(st.st_mode)) {
			jail_add_bind(jail, top_dirs[i], JAIL_BIND_DIR);
		}
	}
	for (guint i = 0; i < jail->requests->len; i++) {
		const JailBind *request = g_ptr_array_index(jail->requests, i);
		JailBindKind kind = request->kind;
		struct stat st;

		if (stat(request->source, &st) < 0) {
			cocoon_set_error_from_errno(error, "jail: %s", request->source);
			return FALSE;
		}
		if (kind == JAIL_BIND_FILE && S_ISDIR(st.st_mode))
			kind = JAIL_BIND_DIR;
		else if (kind == JAIL_BIND_FILE_RW && S_ISDIR(st.st_mode))
			kind = JAIL_BIND_DIR_RW;
		if ((kind == JAIL_BIND_LIVE && !S_ISDIR(st.st_mode)) ||
		    (kind == JAIL_BIND_DEVICE && !S_ISCHR(st.st_mode))) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "jail: %s is not a %s", request->source,
				    kind == JAIL_BIND_LIVE ? "directory" : "character device");
			return FALSE;
		}
		/* a read-only file below /usr (the kernel, QEMU) is there already */
		if ((kind == JAIL_BIND_FILE || kind == JAIL_BIND_DIR ||
		     kind == JAIL_BIND_PROGRAM) &&
		    jail_covers(jail->binds, request->source))
			continue;
		jail_add_bind(jail, request->source, kind);
	}
	for (guint i = 0; i < jail->binds->len; i++) {
		const JailBind *bind = g_ptr_array_index(jail->binds, i);
		gboolean dir = bind->kind == JAIL_BIND_DIR || bind->kind == JAIL_BIND_DIR_RW ||
			       bind->kind == JAIL_BIND_LIVE;
		add_mkdirs(mkdirs, seen, jail->root_dir, bind->source, dir);
		if (!dir)
			g_ptr_array_add(files, g_strdup(bind->target));
	}
	child->proc_dir = g_strconcat(jail->root_dir, "/proc", NULL);
	add_mkdirs(mkdirs, seen, jail->root_dir, "/proc", TRUE);
	g_ptr_array_add(mkdirs, NULL);
	g_ptr_array_add(files, NULL);
	g_ptr_array_add(links, NULL);
	child->mkdirs = (gchar **)g_ptr_array_free(g_steal_pointer(&mkdirs), FALSE);
	child->files = (gchar **)g_ptr_array_free(g_steal_pointer(&files), FALSE);
	child->links = (gchar **)g_ptr_array_free(g_steal_pointer(&links), FALSE);
	return TRUE;
}

/* arch check, then EPERM for denied_syscalls, everything else allowed (QEMU adds its own) */
static gboolean
jail_build_filter(JailChild *child, GError **error)
{
#ifdef JAIL_AUDIT_ARCH
	guint n = G_N_ELEMENTS(denied_syscalls);
	guint len = 0;
	struct sock_filter *filter = g_new0(struct sock_filter, n + 16);

	filter[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						     offsetof(struct seccomp_data, arch));
	filter[len++] =
		(struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, JAIL_AUDIT_ARCH, 1, 0);
	filter[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	filter[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						     offsetof(struct seccomp_data, nr));
#ifdef JAIL_X32_BIT
	/* the x32 ABI's numbers would pass the list below: none of them */
	filter[len++] =
		(struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, JAIL_X32_BIT, n + 6, 0);
#endif
	/*
	 * the layout after the number is loaded: clone3, clone, the list, ALLOW, then the clone
	 * flag check, ALLOW, DENY (EPERM), NOSYS; every jump goes forward
	 */
	{
		guint list = len + 2;	       /* first list entry */
		guint allow = list + n;	       /* RET ALLOW */
		guint clone_check = allow + 1; /* LD args[0]; JSET */
		guint allow2 = clone_check + 2;
		guint deny = allow2 + 1;
		guint nosys = deny + 1;

		/* clone3(2) passes its flags in memory the filter cannot read: glibc falls back */
		filter[len] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3,
							   nosys - len - 1, 0);
		len++;
		filter[len] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone,
							   clone_check - len - 1, 0);
		len++;
		for (guint i = 0; i < n; i++, len++)
			filter[len] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
								   (guint32)denied_syscalls[i].nr,
								   deny - len - 1, 0);
		g_assert(len == allow);
		filter[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		/* threads yes, namespaces no: clone's flags are its first argument (low half) */
		filter[len++] = (struct sock_filter)BPF_STMT(
			BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
		filter[len] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K,
							   JAIL_CLONE_NEW_FLAGS, deny - len - 1, 0);
		len++;
		g_assert(len == allow2);
		filter[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		filter[len++] =
			(struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
		filter[len++] =
			(struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
		g_assert(len == nosys + 1);
	}
	child->filter.len = (unsigned short)len;
	child->filter.filter = filter;
	return TRUE;
#else
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
		    "jail: no seccomp filter for this architecture");
	return FALSE;
#endif
}

/* ---- the child: system calls only ---- */

typedef struct {
	int error;
	char step[JAIL_STEP_MAX];
} JailFailure;

static void
child_append(char *buffer, gsize *len, const char *text)
{
	while (*text != '\0' && *len < JAIL_STEP_MAX - 1)
		buffer[(*len)++] = *text++;
	buffer[*len] = '\0';
}

G_GNUC_NORETURN static void
child_fail(const JailChild *child, const char *step, const char *path)
{
	JailFailure failure = {.error = errno};
	gsize len = 0;

	child_append(failure.step, &len, step);
	if (path != NULL) {
		child_append(failure.step, &len, " ");
		child_append(failure.step, &len, path);
	}
	(void)!write(child->error_fd, &failure, sizeof(failure));
	_exit(127);
}

static void
child_check_alive(const JailChild *child)
{
	struct pollfd pfd = {.fd = child->alive_fd, .events = POLLIN};

	/* the parent holds the write end until we exec: a hang-up means it is gone */
	if (poll(&pfd, 1, 0) != 0 && (pfd.revents & (POLLHUP | POLLERR)) != 0)
		_exit(127);
}

static void
child_fds(JailChild *child)
{
	int moved[64];
	int error_fd, alive_fd;

	/* first above every target, so that no source is overwritten before it is used */
	for (guint i = 0; i < child->n_fds; i++) {
		moved[i] = fcntl(child->fds[i].source, F_DUPFD_CLOEXEC, child->high_fd + 2);
		if (moved[i] < 0)
			child_fail(child, "dup", NULL);
	}
	/* ours at high_fd and high_fd + 1, closed by execve */
	error_fd = fcntl(child->error_fd, F_DUPFD_CLOEXEC, child->high_fd + 2);
	alive_fd = fcntl(child->alive_fd, F_DUPFD_CLOEXEC, child->high_fd + 2);
	if (error_fd < 0 || alive_fd < 0 || dup3(error_fd, child->high_fd, O_CLOEXEC) < 0)
		child_fail(child, "dup", NULL);
	child->error_fd = child->high_fd;
	if (dup3(alive_fd, child->high_fd + 1, O_CLOEXEC) < 0)
		child_fail(child, "dup", NULL);
	child->alive_fd = child->high_fd + 1;
	for (guint i = 0; i < child->n_fds; i++) {
		if (dup2(moved[i], child->fds[i].target) < 0)
			child_fail(child, "dup2", NULL);
	}
	/* every other fd goes */
	for (int fd = 0; fd < child->high_fd; fd++) {
		gboolean keep = FALSE;
		for (guint i = 0; i < child->n_fds && !keep; i++)
			keep = child->fds[i].target == fd;
		if (!keep)
			close(fd);
	}
	if (syscall(SYS_close_range, child->high_fd + 2, ~0U, 0) < 0) {
		for (int fd = child->high_fd + 2; fd < 65536; fd++)
			close(fd);
	}
}

static void
child_mounts(const JailChild *child)
{
	const CocoonJail *jail = child->jail;
	const unsigned long ro = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV;

	/* nothing done here reaches the host; the host's mounts still reach us (the share) */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		child_fail(child, "make / a slave", NULL);
	if (mount("cocoon-jail", jail->root_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  JAIL_TMPFS_OPTIONS) < 0)
		child_fail(child, "mount tmpfs on", jail->root_dir);
	for (guint i = 0; child->mkdirs[i] != NULL; i++) {
		if (mkdir(child->mkdirs[i], 0755) < 0 && errno != EEXIST)
			child_fail(child, "mkdir", child->mkdirs[i]);
	}
	for (guint i = 0; child->files[i] != NULL; i++) {
		int fd = open(child->files[i], O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0)
			child_fail(child, "create", child->files[i]);
		close(fd);
	}
	for (guint i = 0; child->links[i] != NULL; i += 2) {
		if (symlink(child->links[i], child->links[i + 1]) < 0)
			child_fail(child, "symlink", child->links[i + 1]);
	}
	for (guint i = 0; i < jail->binds->len; i++) {
		const JailBind *bind = g_ptr_array_index(jail->binds, i);
		unsigned long flags = MS_BIND;
		unsigned long remount = 0;

		if (bind->kind == JAIL_BIND_LIVE)
			flags |= MS_REC;
		if (mount(bind->source, bind->target, NULL, flags, NULL) < 0)
			child_fail(child, "bind", bind->source);
		switch (bind->kind) {
		case JAIL_BIND_LIVE:
			/* a slave of the host's peer group: the host's later mounts appear */
			if (mount(NULL, bind->target, NULL, MS_REC | MS_SLAVE, NULL) < 0)
				child_fail(child, "make a slave", bind->target);
			remount = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC;
			break;
		case JAIL_BIND_FILE:
			remount = ro | MS_NOEXEC;
			break;
		case JAIL_BIND_DIR:
		case JAIL_BIND_PROGRAM:
			remount = ro;
			break;
		case JAIL_BIND_DIR_RW:
		case JAIL_BIND_FILE_RW:
			remount = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC;
			break;
		case JAIL_BIND_DEVICE:
			/*
			 * read-only: I/O on the device works, chmod/chown/utimes of the host's node
			 * (9p keeps CAP_FOWNER and CAP_CHOWN) do not
			 */
			remount = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC;
			break;
		}
		if (bind->kind != JAIL_BIND_LIVE &&
		    mount(NULL, bind->target, NULL, MS_PRIVATE, NULL) < 0)
			child_fail(child, "make private", bind->target);
		if (mount(NULL, bind->target, NULL, remount, NULL) < 0)
			child_fail(child, "remount", bind->target);
	}
	/* our PID namespace's processes only, and no /proc/sys, /proc/kcore, ... */
	if (mount("proc", child->proc_dir, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "subset=pid,hidepid=invisible") < 0 &&
	    mount("proc", child->proc_dir, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") <
		    0)
		child_fail(child, "mount proc on", child->proc_dir);
	if (chdir(jail->root_dir) < 0)
		child_fail(child, "chdir", jail->root_dir);
	/* the old root stacks under the new one, then goes */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		child_fail(child, "pivot_root", jail->root_dir);
	if (umount2(".", MNT_DETACH) < 0)
		child_fail(child, "detach the old root", NULL);
	if (chdir("/") < 0)
		child_fail(child, "chdir /", NULL);
	if (mount(NULL, "/", NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail(child, "remount / read-only", NULL);
}

static void
child_credentials(const JailChild *child)
{
	const CocoonJail *jail = child->jail;
	struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {{0}};

	if (jail->limits_set) {
		struct rlimit nofile = {jail->nofile, jail->nofile};
		struct rlimit nproc = {jail->nproc, jail->nproc};
		struct rlimit core = {jail->core, jail->core};
		if (setrlimit(RLIMIT_NOFILE, &nofile) < 0 || setrlimit(RLIMIT_NPROC, &nproc) < 0 ||
		    setrlimit(RLIMIT_CORE, &core) < 0)
			child_fail(child, "setrlimit", NULL);
	}
	for (guint cap = 0; cap < 64; cap++) {
		if ((jail->keep_caps & (G_GUINT64_CONSTANT(1) << cap)) == 0 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			child_fail(child, "drop from the bounding set", NULL);
	}
	if (setgroups(jail->groups->len, (const gid_t *)(gpointer)jail->groups->data) < 0)
		child_fail(child, "setgroups", NULL);
	if (setresgid(jail->gid, jail->gid, jail->gid) < 0)
		child_fail(child, "setresgid", NULL);
	if (jail->keep_caps != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		child_fail(child, "keep capabilities", NULL);
	if (setresuid(jail->uid, jail->uid, jail->uid) < 0)
		child_fail(child, "setresuid", NULL);
	data[0].effective = data[0].permitted = data[0].inheritable = (guint32)jail->keep_caps;
	data[1].effective = data[1].permitted = data[1].inheritable =
		(guint32)(jail->keep_caps >> 32);
	if (syscall(SYS_capset, &header, data) < 0)
		child_fail(child, "capset", NULL);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		child_fail(child, "clear the ambient set", NULL);
	for (guint cap = 0; cap < 64; cap++) {
		if ((jail->keep_caps & (G_GUINT64_CONSTANT(1) << cap)) != 0 &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			child_fail(child, "raise an ambient capability", NULL);
	}
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		child_fail(child, "keep capabilities", NULL);
}

G_GNUC_NORETURN static void
child_run(JailChild *child)
{
	const CocoonJail *jail = child->jail;
	struct sigaction action = {.sa_handler = SIG_DFL};
	sigset_t none;

	/* the parent blocked every signal around the clone: handlers are the shim's */
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &action, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail(child, "PR_SET_PDEATHSIG", NULL);
	child_check_alive(child);
	/* a signal to the shim's process group (a terminal's ^C) is not for the VMM */
	setpgid(0, 0);
	if (jail->netns_fd >= 0 && setns(jail->netns_fd, CLONE_NEWNET) < 0)
		child_fail(child, "enter the pod's network namespace", NULL);
	child_fds(child);
	child_mounts(child);
	if (jail->hostname != NULL && sethostname(jail->hostname, strlen(jail->hostname)) < 0)
		child_fail(child, "sethostname", NULL);
	child_credentials(child);
	/* the credential change cleared the parent death signal: again, then is the parent there?
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail(child, "PR_SET_PDEATHSIG", NULL);
	child_check_alive(child);
	/* no keyring of the host's root session */
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS)
		child_fail(child, "join a new session keyring", NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(child, "no_new_privs", NULL);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &child->filter) < 0)
		child_fail(child, "seccomp", NULL);
	execve(child->program, (char *const *)child->argv, (char *const *)child->envp);
	child_fail(child, "execve", child->program);
}

gboolean
cocoon_jail_spawn(CocoonJail *jail, const gchar *program, const gchar *const *argv,
		  const CocoonJailFd *fds, guint n_fds, GPid *ret_pid, GError **error)
{
	static const gchar *const envp[] = {"PATH=/usr/bin:/bin", NULL};
	JailChild child = {
		.jail = jail,
		.program = program,
		.argv = argv,
		.envp = envp,
		.fds = fds,
		.n_fds = n_fds,
		.error_fd = -1,
		.alive_fd = -1,
	};
	cocoon_autofd int error_read = -1;
	cocoon_autofd int alive_write = -1;
	int pipe_fds[2];
	sigset_t all, saved;
	JailFailure failure;
	gssize n;
	pid_t pid;
	gboolean ok = FALSE;

	g_return_val_if_fail(n_fds <= 64, FALSE);
	for (guint i = 0; i < n_fds; i++)
		child.high_fd = MAX(child.high_fd, fds[i].target + 1);
	if (!jail_prepare(jail, &child, error) || !jail_build_filter(&child, error))
		goto out;
	if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
		cocoon_set_error_from_errno(error, "jail: pipe");
		goto out;
	}
	error_read = pipe_fds[0];
	child.error_fd = pipe_fds[1];
	if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
		cocoon_set_error_from_errno(error, "jail: pipe");
		goto out;
	}
	child.alive_fd = pipe_fds[0];
	alive_write = pipe_fds[1];
	/* the child must not run the shim's signal handlers before it reset them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	pid = (pid_t)syscall(SYS_clone,
			     CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
			     NULL, NULL, NULL, NULL);
	if (pid == 0)
		child_run(&child);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (pid < 0) {
		cocoon_set_error_from_errno(error, "jail: clone");
		goto out;
	}
	cocoon_fd_closep(&child.error_fd);
	cocoon_fd_closep(&child.alive_fd);
	/* EOF: execve closed the pipe; a failure otherwise */
	do
		n = read(error_read, &failure, sizeof(failure));
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		failure.step[JAIL_STEP_MAX - 1] = '\0';
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(failure.error), "jail: %s: %s",
			    failure.step, g_strerror(failure.error));
		goto out;
	}
	*ret_pid = pid;
	ok = TRUE;
out:
	cocoon_fd_closep(&child.error_fd);
	cocoon_fd_closep(&child.alive_fd);
	g_strfreev(child.mkdirs);
	g_strfreev(child.files);
	g_strfreev(child.links);
	g_free(child.proc_dir);
	g_free(child.filter.filter);
	return ok;
}
