/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fs-probe DIR: the POSIX file system behaviour common software needs (issue 14), tried in DIR
 * inside a container. One line per check, "PASS name" or "FAIL name: what: strerror"; the exit
 * status is the number of failures. Each check makes its own files (probe-NAME*) and removes them,
 * so one failing check does not disturb the next. Statically linked, plain libc: it runs in the
 * busybox test image. Runs as root in the container (CAP_MKNOD, CAP_CHOWN, CAP_FSETID).
 *
 * fs-probe --hold-lock FILE SECONDS: takes a POSIX write lock and flock(LOCK_EX) on FILE, prints
 * "locked", holds them for SECONDS. fs-probe --test-lock FILE: checks that another process holds
 * both (checks pod-posix-lock and pod-flock), for locks between two containers of one pod.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define OTHER_UID 1000
#define OTHER_GID 1000

static int failures;

static void
result(const char *name, int ok, const char *what, int error)
{
	if (ok) {
		printf("PASS %s\n", name);
	} else {
		printf("FAIL %s: %s: %s\n", name, what, strerror(error));
		failures++;
	}
}

static void
pass(const char *name)
{
	result(name, 1, NULL, 0);
}

static void
fail(const char *name, const char *what, int error)
{
	result(name, 0, what, error);
}

static char *
path_in(const char *dir, const char *name)
{
	static char buffer[8][4096];
	static int next;
	char *out = buffer[next++ % 8];

	snprintf(out, sizeof(buffer[0]), "%s/%s", dir, name);
	return out;
}

/* a fresh file with CONTENT; -1 with errno set on failure */
static int
make_file(const char *path, const char *content)
{
	size_t length = content != NULL ? strlen(content) : 0;
	int fd;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	if (length > 0 && write(fd, content, length) != (ssize_t)length) {
		int saved = errno;
		close(fd);
		errno = saved != 0 ? saved : EIO;
		return -1;
	}
	return fd;
}

/* the child's exit status, or -1 when it did not exit */
static int
wait_child(pid_t child)
{
	int status = 0;

	if (child < 0 || waitpid(child, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* the end of a check: its descriptor closed (when open), its file removed */
static void
discard(int fd, const char *path)
{
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* a write lock, and another process sees it (F_GETLK) and cannot take it (F_SETLK: EAGAIN) */
static void
check_posix_lock(const char *dir)
{
	const char *path = path_in(dir, "probe-posix-lock");
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd = make_file(path, NULL);
	pid_t child;
	int code;

	if (fd < 0 || fcntl(fd, F_SETLK, &lock) < 0) {
		fail("posix-lock", fd < 0 ? "open" : "F_SETLK", errno);
		discard(fd, path);
		return;
	}
	child = fork();
	if (child == 0) {
		struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		int other = open(path, O_RDWR);
		if (other < 0 || fcntl(other, F_GETLK, &probe) < 0)
			_exit(2);
		if (probe.l_type != F_WRLCK || probe.l_pid != getppid())
			_exit(3);
		probe.l_type = F_WRLCK;
		if (fcntl(other, F_SETLK, &probe) == 0 || (errno != EAGAIN && errno != EACCES))
			_exit(4);
		_exit(0);
	}
	code = wait_child(child);
	result("posix-lock", code == 0,
	       code == 3 ? "F_GETLK in another process" : "another process", EDEADLK);
	discard(fd, path);
}

/* F_SETLKW in another process waits until the holder unlocks, then gets the lock */
static void
check_posix_lock_wait(const char *dir)
{
	const char *path = path_in(dir, "probe-posix-lock-wait");
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd = make_file(path, NULL);
	int pipe_fds[2];
	pid_t child;
	char byte = 0;
	int code;

	if (fd < 0 || fcntl(fd, F_SETLK, &lock) < 0 || pipe(pipe_fds) < 0) {
		fail("posix-lock-wait", "open/F_SETLK", errno);
		discard(fd, path);
		return;
	}
	child = fork();
	if (child == 0) {
		struct flock wanted = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		int other = open(path, O_RDWR);
		close(pipe_fds[0]);
		if (other < 0 || fcntl(other, F_SETLKW, &wanted) < 0)
			_exit(2);
		(void)!write(pipe_fds[1], "g", 1);
		_exit(0);
	}
	close(pipe_fds[1]);
	{
		struct pollfd early = {.fd = pipe_fds[0], .events = POLLIN};
		/* the child must still be waiting after 300 ms */
		if (poll(&early, 1, 300) != 0) {
			fail("posix-lock-wait", "the waiter got the lock while it was held", EBUSY);
			close(pipe_fds[0]);
			wait_child(child);
			discard(fd, path);
			return;
		}
	}
	lock.l_type = F_UNLCK;
	fcntl(fd, F_SETLK, &lock);
	{
		struct pollfd late = {.fd = pipe_fds[0], .events = POLLIN};
		if (poll(&late, 1, 5000) != 1 || read(pipe_fds[0], &byte, 1) != 1)
			byte = 0;
	}
	close(pipe_fds[0]);
	code = wait_child(child);
	result("posix-lock-wait", byte == 'g' && code == 0, "F_SETLKW after unlock", ETIMEDOUT);
	discard(fd, path);
}

/* open file description locks: a second open of the same file conflicts, in the same process */
static void
check_ofd_lock(const char *dir)
{
	const char *path = path_in(dir, "probe-ofd-lock");
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd = make_file(path, NULL);
	int other = open(path, O_RDWR);

	if (fd < 0 || other < 0 || fcntl(fd, F_OFD_SETLK, &lock) < 0) {
		fail("ofd-lock", "open/F_OFD_SETLK", errno);
	} else if (fcntl(other, F_OFD_SETLK, &probe) == 0 || (errno != EAGAIN && errno != EACCES)) {
		fail("ofd-lock", "second open took the lock", errno != 0 ? errno : EEXIST);
	} else if (probe.l_type = F_WRLCK, fcntl(other, F_OFD_GETLK, &probe) < 0) {
		fail("ofd-lock", "F_OFD_GETLK", errno);
	} else {
		result("ofd-lock", probe.l_type == F_WRLCK && probe.l_pid == -1,
		       "F_OFD_GETLK owner", EINVAL);
	}
	if (fd >= 0)
		close(fd);
	if (other >= 0)
		close(other);
	unlink(path);
}

/* flock between two opens: exclusive conflicts, shared locks coexist */
static void
check_flock(const char *dir)
{
	const char *path = path_in(dir, "probe-flock");
	int fd = make_file(path, NULL);
	int other = open(path, O_RDWR);

	if (fd < 0 || other < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		fail("flock", "open/LOCK_EX", errno);
	} else if (flock(other, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) {
		fail("flock", "second LOCK_EX did not conflict", errno != 0 ? errno : EEXIST);
	} else if (flock(fd, LOCK_SH) < 0 || flock(other, LOCK_SH | LOCK_NB) < 0) {
		fail("flock", "two LOCK_SH", errno);
	} else if (flock(fd, LOCK_UN) < 0 || flock(other, LOCK_UN) < 0 ||
		   flock(other, LOCK_EX | LOCK_NB) < 0) {
		fail("flock", "LOCK_EX after LOCK_UN", errno);
	} else {
		pass("flock");
	}
	if (fd >= 0)
		close(fd);
	if (other >= 0)
		close(other);
	unlink(path);
}

/* user.* extended attributes: set, get, list, remove */
static void
check_xattr(const char *dir)
{
	const char *path = path_in(dir, "probe-xattr");
	int fd = make_file(path, "x");
	char value[64] = {0};
	char list[4096] = {0};
	ssize_t length;
	int listed = 0;

	if (fd < 0) {
		fail("xattr-user", "open", errno);
		return;
	}
	close(fd);
	if (setxattr(path, "user.cocoon.probe", "value-1", 7, 0) < 0) {
		fail("xattr-user", "setxattr", errno);
		unlink(path);
		return;
	}
	if (getxattr(path, "user.cocoon.probe", value, sizeof(value)) != 7 ||
	    memcmp(value, "value-1", 7) != 0) {
		fail("xattr-user", "getxattr", errno != 0 ? errno : EIO);
		unlink(path);
		return;
	}
	length = listxattr(path, list, sizeof(list));
	for (ssize_t at = 0; at < length; at += strlen(list + at) + 1)
		listed |= strcmp(list + at, "user.cocoon.probe") == 0;
	if (!listed) {
		fail("xattr-user", "listxattr", length < 0 ? errno : ENOENT);
		unlink(path);
		return;
	}
	if (removexattr(path, "user.cocoon.probe") < 0) {
		fail("xattr-user", "removexattr", errno);
		unlink(path);
		return;
	}
	errno = 0;
	result("xattr-user",
	       getxattr(path, "user.cocoon.probe", value, sizeof(value)) < 0 && errno == ENODATA,
	       "getxattr after removexattr", errno != 0 ? errno : EEXIST);
	unlink(path);
}

/* O_TMPFILE, then linked into the directory under a name */
static void
check_tmpfile(const char *dir)
{
	const char *name = path_in(dir, "probe-tmpfile");
	char proc[64];
	char back[4] = {0};
	int fd = open(dir, O_TMPFILE | O_RDWR, 0644);
	int named;

	if (fd < 0) {
		fail("o-tmpfile", "open O_TMPFILE", errno);
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	unlink(name);
	if (write(fd, "tmp", 3) != 3 ||
	    linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW) < 0) {
		fail("o-tmpfile", "write/linkat", errno);
	} else if ((named = open(name, O_RDONLY)) < 0) {
		fail("o-tmpfile", "open the linked name", errno);
	} else {
		result("o-tmpfile", read(named, back, 3) == 3 && memcmp(back, "tmp", 3) == 0,
		       "content of the linked name", EIO);
		close(named);
	}
	close(fd);
	unlink(name);
}

/* a FIFO made in the directory: a writer process and a reader process, blocking opens */
static void
check_fifo(const char *dir)
{
	const char *path = path_in(dir, "probe-fifo");
	char buffer[16] = {0};
	pid_t writer;
	int reader;
	ssize_t got;

	unlink(path);
	if (mkfifo(path, 0600) < 0) {
		fail("mkfifo", "mkfifo", errno);
		return;
	}
	writer = fork();
	if (writer == 0) {
		int fd = open(path, O_WRONLY);
		alarm(10);
		_exit(fd >= 0 && write(fd, "through-fifo", 12) == 12 ? 0 : 2);
	}
	alarm(10);
	reader = open(path, O_RDONLY);
	got = reader >= 0 ? read(reader, buffer, sizeof(buffer)) : -1;
	alarm(0);
	if (reader < 0 || got != 12)
		fail("mkfifo", "open/read", errno != 0 ? errno : EIO);
	else
		result("mkfifo", wait_child(writer) == 0 && memcmp(buffer, "through-fifo", 12) == 0,
		       "bytes from the writer", EIO);
	if (reader >= 0)
		close(reader);
	kill(writer, SIGKILL);
	waitpid(writer, NULL, 0);
	unlink(path);
}

/* a character device node (1:3, the null device) made in the directory, opened and written */
static void
check_mknod(const char *dir)
{
	const char *path = path_in(dir, "probe-mknod");
	struct stat st;
	int fd;

	unlink(path);
	if (mknod(path, S_IFCHR | 0666, makedev(1, 3)) < 0) {
		fail("mknod-chr", "mknod c 1 3", errno);
		return;
	}
	if (stat(path, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
		fail("mknod-chr", "stat", errno != 0 ? errno : EINVAL);
	} else if ((fd = open(path, O_WRONLY)) < 0) {
		fail("mknod-chr", "open", errno);
	} else {
		result("mknod-chr", write(fd, "discard", 7) == 7, "write", errno);
		close(fd);
	}
	unlink(path);
}

/* MAP_SHARED | PROT_WRITE: what is stored through the mapping is what read() returns and what a
 * second mapping in another process sees; what that process stores comes back too */
static void
check_mmap(const char *dir)
{
	const char *path = path_in(dir, "probe-mmap");
	char back[16] = {0};
	int fd = make_file(path, NULL);
	char *map;
	pid_t child;
	int code;

	if (fd < 0 || ftruncate(fd, 4096) < 0) {
		fail("mmap-shared", "open", errno);
		discard(fd, path);
		return;
	}
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		fail("mmap-shared", "mmap", errno);
		discard(fd, path);
		return;
	}
	memcpy(map, "mapped-bytes", 12);
	if (msync(map, 4096, MS_SYNC) < 0 || pread(fd, back, 12, 0) != 12) {
		fail("mmap-shared", "msync/pread", errno);
	} else if (memcmp(back, "mapped-bytes", 12) != 0) {
		fail("mmap-shared", "read() after a store through the mapping", EIO);
	} else {
		child = fork();
		if (child == 0) {
			int other = open(path, O_RDWR);
			char *second = other < 0 ? MAP_FAILED
						 : mmap(NULL, 4096, PROT_READ | PROT_WRITE,
							MAP_SHARED, other, 0);
			if (second == MAP_FAILED)
				_exit(2);
			if (memcmp(second, "mapped-bytes", 12) != 0)
				_exit(3);
			memcpy(second + 100, "from-child", 10);
			_exit(msync(second, 4096, MS_SYNC) < 0 ? 4 : 0);
		}
		code = wait_child(child);
		if (code != 0)
			fail("mmap-shared",
			     code == 3 ? "second mapping in another process" : "child mmap", EIO);
		else
			result("mmap-shared", memcmp(map + 100, "from-child", 10) == 0,
			       "the other process's store", EIO);
	}
	munmap(map, 4096);
	discard(fd, path);
}

/* inotify sees this process's own create and write in the directory */
static void
check_inotify(const char *dir)
{
	const char *path = path_in(dir, "probe-inotify");
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int seen_create = 0;
	int seen_modify = 0;
	int notify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	struct timespec start;
	int fd;

	unlink(path);
	if (notify < 0 || inotify_add_watch(notify, dir, IN_CREATE | IN_MODIFY) < 0) {
		fail("inotify", "inotify_add_watch", errno);
		discard(notify, path);
		return;
	}
	fd = make_file(path, "changed");
	if (fd < 0) {
		fail("inotify", "create", errno);
		discard(notify, path);
		return;
	}
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!(seen_create && seen_modify)) {
		struct pollfd ready = {.fd = notify, .events = POLLIN};
		struct timespec now;
		ssize_t length;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 2 || poll(&ready, 1, 500) < 0)
			break;
		length = read(notify, events, sizeof(events));
		for (ssize_t at = 0; at < length;) {
			struct inotify_event *event = (struct inotify_event *)(events + at);
			if (event->len > 0 && strcmp(event->name, "probe-inotify") == 0) {
				seen_create |= (event->mask & IN_CREATE) != 0;
				seen_modify |= (event->mask & IN_MODIFY) != 0;
			}
			at += sizeof(*event) + event->len;
		}
	}
	result("inotify", seen_create && seen_modify,
	       !seen_create ? "no IN_CREATE within 2 s" : "no IN_MODIFY within 2 s", ETIMEDOUT);
	discard(notify, path);
}

/* a file unlinked while open: still readable and writable, st_nlink 0 */
static void
check_unlink_open(const char *dir)
{
	const char *path = path_in(dir, "probe-unlink-open");
	char back[32] = {0};
	struct stat st;
	int fd = make_file(path, "before-");

	if (fd < 0 || unlink(path) < 0) {
		fail("unlink-open", "open/unlink", errno);
	} else if (access(path, F_OK) == 0) {
		fail("unlink-open", "name still there", EEXIST);
	} else if (write(fd, "after", 5) != 5) {
		fail("unlink-open", "write after unlink", errno);
	} else if (pread(fd, back, 12, 0) != 12 || memcmp(back, "before-after", 12) != 0) {
		fail("unlink-open", "read after unlink", errno != 0 ? errno : EIO);
	} else if (fstat(fd, &st) < 0) {
		fail("unlink-open", "fstat", errno);
	} else {
		result("unlink-open", st.st_nlink == 0 && st.st_size == 12,
		       "fstat st_nlink/st_size", EINVAL);
	}
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* rename over an open file: the old descriptor still reads the old content */
static void
check_rename_over_open(const char *dir)
{
	const char *path = path_in(dir, "probe-rename-target");
	const char *next = path_in(dir, "probe-rename-new");
	char back[16] = {0};
	char now[16] = {0};
	int fd = make_file(path, "old-content");
	int fresh = make_file(next, "new-content");
	int reopened;

	if (fd < 0 || fresh < 0) {
		fail("rename-over-open", "create", errno);
	} else if (rename(next, path) < 0) {
		fail("rename-over-open", "rename", errno);
	} else if (pread(fd, back, 11, 0) != 11 || memcmp(back, "old-content", 11) != 0) {
		fail("rename-over-open", "old fd after rename", errno != 0 ? errno : EIO);
	} else if ((reopened = open(path, O_RDONLY)) < 0) {
		fail("rename-over-open", "open the name", errno);
	} else {
		result("rename-over-open",
		       read(reopened, now, 11) == 11 && memcmp(now, "new-content", 11) == 0,
		       "the name has the new content", EIO);
		close(reopened);
	}
	if (fd >= 0)
		close(fd);
	if (fresh >= 0)
		close(fresh);
	unlink(path);
	unlink(next);
}

/* renameat2: RENAME_NOREPLACE refuses an existing name, RENAME_EXCHANGE swaps two */
static void
check_rename2(const char *dir)
{
	const char *a = path_in(dir, "probe-rename2-a");
	const char *b = path_in(dir, "probe-rename2-b");
	char back[2] = {0};
	int fa = make_file(a, "A");
	int fb = make_file(b, "B");
	int fd;

	if (fa < 0 || fb < 0) {
		fail("renameat2", "create", errno);
		discard(fa, a);
		discard(fb, b);
		return;
	}
	if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE) == 0 ||
	    errno != EEXIST) {
		fail("renameat2", "RENAME_NOREPLACE over an existing name", errno != 0 ? errno : 0);
		discard(fa, a);
		discard(fb, b);
		return;
	}
	if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) < 0) {
		fail("renameat2", "RENAME_EXCHANGE", errno);
		discard(fa, a);
		discard(fb, b);
		return;
	}
	fd = open(a, O_RDONLY);
	result("renameat2", fd >= 0 && read(fd, back, 1) == 1 && back[0] == 'B',
	       "content after RENAME_EXCHANGE", errno != 0 ? errno : EIO);
	if (fd >= 0)
		close(fd);
	discard(fa, a);
	discard(fb, b);
}

/* a sparse file: SEEK_DATA / SEEK_HOLE find the data, st_blocks counts less than the size */
static void
check_sparse(const char *dir)
{
	const char *path = path_in(dir, "probe-sparse");
	const off_t far = 8 << 20;
	int fd = make_file(path, "head");
	struct stat st;
	off_t data;
	off_t hole;

	if (fd < 0 || pwrite(fd, "tail", 4, far) != 4 || fsync(fd) < 0) {
		fail("sparse-seek", "write", errno);
		fail("sparse-blocks", "write", errno);
		discard(fd, path);
		return;
	}
	data = lseek(fd, 4096, SEEK_DATA);
	hole = lseek(fd, 0, SEEK_HOLE);
	if (data < 0 || hole < 0)
		fail("sparse-seek", "lseek SEEK_DATA/SEEK_HOLE", errno);
	else
		result("sparse-seek", data > 4096 && data <= far && hole >= 4 && hole < far,
		       "SEEK_DATA/SEEK_HOLE offsets", EINVAL);
	if (fstat(fd, &st) < 0)
		fail("sparse-blocks", "fstat", errno);
	else
		result("sparse-blocks",
		       st.st_size == far + 4 && st.st_blocks * 512 < st.st_size / 2,
		       "st_blocks not smaller than the size", EINVAL);
	discard(fd, path);
}

/* fallocate: space is allocated (size and st_blocks), and a hole can be punched again */
static void
check_fallocate(const char *dir)
{
	const char *path = path_in(dir, "probe-fallocate");
	const off_t size = 1 << 20;
	int fd = make_file(path, NULL);
	struct stat before;
	struct stat after;

	if (fd < 0 || fallocate(fd, 0, 0, size) < 0) {
		fail("fallocate", fd < 0 ? "open" : "fallocate", errno);
		fail("fallocate-punch-hole", "fallocate", errno);
		discard(fd, path);
		return;
	}
	if (fstat(fd, &before) < 0 || before.st_size != size || before.st_blocks * 512 < size) {
		fail("fallocate", "size/st_blocks after fallocate", errno != 0 ? errno : EINVAL);
		fail("fallocate-punch-hole", "fallocate", EINVAL);
		discard(fd, path);
		return;
	}
	pass("fallocate");
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, size / 2) < 0)
		fail("fallocate-punch-hole", "FALLOC_FL_PUNCH_HOLE", errno);
	else if (fstat(fd, &after) < 0)
		fail("fallocate-punch-hole", "fstat", errno);
	else
		result("fallocate-punch-hole",
		       after.st_size == size && after.st_blocks < before.st_blocks,
		       "st_blocks after the punch", EINVAL);
	discard(fd, path);
}

/* hard links: st_nlink counts them, both names reach the same inode */
static void
check_hardlink(const char *dir)
{
	const char *path = path_in(dir, "probe-hardlink");
	const char *second = path_in(dir, "probe-hardlink-2");
	struct stat a;
	struct stat b;
	int fd = make_file(path, "linked");

	unlink(second);
	if (fd < 0 || link(path, second) < 0) {
		fail("hardlink", "link", errno);
	} else if (stat(path, &a) < 0 || stat(second, &b) < 0) {
		fail("hardlink", "stat", errno);
	} else if (a.st_nlink != 2 || a.st_ino != b.st_ino) {
		fail("hardlink", "st_nlink/st_ino of two links", EINVAL);
	} else if (unlink(path) < 0 || stat(second, &b) < 0) {
		fail("hardlink", "unlink one", errno);
	} else {
		result("hardlink", b.st_nlink == 1, "st_nlink after unlink", EINVAL);
	}
	if (fd >= 0)
		close(fd);
	unlink(path);
	unlink(second);
}

/* symlink, readlink, lstat, and a path through the link */
static void
check_symlink(const char *dir)
{
	const char *target = path_in(dir, "probe-symlink-target");
	const char *path = path_in(dir, "probe-symlink");
	char back[64] = {0};
	struct stat st;
	int fd = make_file(target, "t");
	ssize_t length;

	unlink(path);
	if (fd < 0 || symlink("probe-symlink-target", path) < 0) {
		fail("symlink", "symlink", errno);
	} else if ((length = readlink(path, back, sizeof(back) - 1)) < 0) {
		fail("symlink", "readlink", errno);
	} else if (strcmp(back, "probe-symlink-target") != 0) {
		fail("symlink", "readlink content", EINVAL);
	} else if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode)) {
		fail("symlink", "lstat", errno != 0 ? errno : EINVAL);
	} else {
		result("symlink", stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 1,
		       "stat through the link", errno != 0 ? errno : EINVAL);
	}
	if (fd >= 0)
		close(fd);
	unlink(path);
	unlink(target);
}

/* utimensat keeps nanoseconds; UTIME_NOW moves mtime forward */
static void
check_utimens(const char *dir)
{
	const char *path = path_in(dir, "probe-utimens");
	struct timespec times[2] = {{.tv_sec = 1000000000, .tv_nsec = 123456789},
				    {.tv_sec = 1500000000, .tv_nsec = 987654321}};
	struct stat st;
	int fd = make_file(path, "t");

	if (fd < 0 || utimensat(AT_FDCWD, path, times, 0) < 0) {
		fail("utimensat-ns", "utimensat", errno);
	} else if (stat(path, &st) < 0) {
		fail("utimensat-ns", "stat", errno);
	} else {
		result("utimensat-ns",
		       st.st_atim.tv_sec == times[0].tv_sec &&
			       st.st_atim.tv_nsec == times[0].tv_nsec &&
			       st.st_mtim.tv_sec == times[1].tv_sec &&
			       st.st_mtim.tv_nsec == times[1].tv_nsec,
		       "atime/mtime read back", EINVAL);
	}
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* chown to another uid and gid, and the owner reads back */
static void
check_chown(const char *dir)
{
	const char *path = path_in(dir, "probe-chown");
	struct stat st;
	int fd = make_file(path, "c");

	if (fd < 0 || chown(path, OTHER_UID, OTHER_GID) < 0)
		fail("chown", "chown", errno);
	else if (stat(path, &st) < 0)
		fail("chown", "stat", errno);
	else
		result("chown", st.st_uid == OTHER_UID && st.st_gid == OTHER_GID, "owner read back",
		       EINVAL);
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* chown of a set-user-ID file clears S_ISUID, as on a local file system */
static void
check_setuid_chown(const char *dir)
{
	const char *path = path_in(dir, "probe-setuid-chown");
	struct stat st;
	int fd = make_file(path, "s");

	if (fd < 0 || fchmod(fd, 04755) < 0 || stat(path, &st) < 0 || !(st.st_mode & S_ISUID))
		fail("setuid-chown-clears", "chmod 04755", errno != 0 ? errno : EINVAL);
	else if (chown(path, OTHER_UID, -1) < 0 || stat(path, &st) < 0)
		fail("setuid-chown-clears", "chown/stat", errno);
	else
		result("setuid-chown-clears", !(st.st_mode & S_ISUID), "S_ISUID kept after chown",
		       EPERM);
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* a write by a process without CAP_FSETID clears S_ISUID of a file it may write */
static void
check_setuid_write(const char *dir)
{
	const char *path = path_in(dir, "probe-setuid-write");
	struct stat st;
	int fd = make_file(path, "s");
	pid_t child;
	int code;

	if (fd < 0 || fchmod(fd, 04777) < 0 || stat(path, &st) < 0 || !(st.st_mode & S_ISUID)) {
		fail("setuid-write-clears", "chmod 04777", errno != 0 ? errno : EINVAL);
		discard(fd, path);
		return;
	}
	child = fork();
	if (child == 0) {
		int other;
		if (setgid(OTHER_GID) < 0 || setuid(OTHER_UID) < 0)
			_exit(2);
		other = open(path, O_WRONLY | O_APPEND);
		_exit(other >= 0 && write(other, "w", 1) == 1 ? 0 : 3);
	}
	code = wait_child(child);
	if (code != 0)
		fail("setuid-write-clears", code == 2 ? "setuid" : "write as another uid", EPERM);
	else if (stat(path, &st) < 0)
		fail("setuid-write-clears", "stat", errno);
	else
		result("setuid-write-clears", !(st.st_mode & S_ISUID) && st.st_size == 2,
		       "S_ISUID kept after a write by another uid", EPERM);
	discard(fd, path);
}

static void
setgid_dir_clean(const char *file, const char *inner, const char *sub)
{
	unlink(file);
	rmdir(inner);
	rmdir(sub);
}

/* a set-group-ID directory passes its group and the bit on to what is made in it */
static void
check_setgid_dir(const char *dir)
{
	const char *sub = path_in(dir, "probe-setgid-dir");
	const char *file = path_in(dir, "probe-setgid-dir/file");
	const char *inner = path_in(dir, "probe-setgid-dir/inner");
	struct stat file_st;
	struct stat inner_st;
	int fd;

	unlink(file);
	rmdir(inner);
	rmdir(sub);
	if (mkdir(sub, 0775) < 0 || chown(sub, 0, OTHER_GID) < 0 || chmod(sub, 02775) < 0) {
		fail("setgid-dir", "mkdir/chown/chmod", errno);
		setgid_dir_clean(file, inner, sub);
		return;
	}
	fd = open(file, O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || mkdir(inner, 0755) < 0) {
		fail("setgid-dir", "create in the directory", errno);
		if (fd >= 0)
			close(fd);
		setgid_dir_clean(file, inner, sub);
		return;
	}
	close(fd);
	if (stat(file, &file_st) < 0 || stat(inner, &inner_st) < 0)
		fail("setgid-dir", "stat", errno);
	else
		result("setgid-dir",
		       file_st.st_gid == OTHER_GID && inner_st.st_gid == OTHER_GID &&
			       (inner_st.st_mode & S_ISGID),
		       "group or S_ISGID not inherited", EINVAL);
	setgid_dir_clean(file, inner, sub);
}

/* chmod reads back, and access() for another uid follows the mode */
static void
check_chmod(const char *dir)
{
	const char *path = path_in(dir, "probe-chmod");
	struct stat st;
	int fd = make_file(path, "m");
	pid_t child;

	if (fd < 0 || chmod(path, 0600) < 0 || stat(path, &st) < 0) {
		fail("chmod", "chmod", errno);
		discard(fd, path);
		return;
	}
	if ((st.st_mode & 07777) != 0600) {
		fail("chmod", "mode read back", EINVAL);
		discard(fd, path);
		return;
	}
	child = fork();
	if (child == 0) {
		if (setgid(OTHER_GID) < 0 || setuid(OTHER_UID) < 0)
			_exit(2);
		/* 0600 root-owned: another uid may not open it */
		_exit(open(path, O_RDONLY) < 0 && errno == EACCES ? 0 : 3);
	}
	result("chmod", wait_child(child) == 0, "another uid opened a 0600 file", EINVAL);
	discard(fd, path);
}

/* O_EXCL, O_APPEND through two descriptors, ftruncate down and up */
static void
check_open_flags(const char *dir)
{
	const char *path = path_in(dir, "probe-open-flags");
	char back[16] = {0};
	struct stat st;
	int fd = make_file(path, NULL);
	int first = -1;
	int second = -1;

	if (fd < 0) {
		fail("o-excl", "create", errno);
		fail("o-append", "create", errno);
		fail("ftruncate", "create", errno);
		return;
	}
	errno = 0;
	result("o-excl", open(path, O_RDWR | O_CREAT | O_EXCL, 0644) < 0 && errno == EEXIST,
	       "O_EXCL on an existing name", errno != 0 ? errno : EEXIST);
	first = open(path, O_WRONLY | O_APPEND);
	second = open(path, O_WRONLY | O_APPEND);
	if (first < 0 || second < 0 || write(first, "ab", 2) != 2 || write(second, "cd", 2) != 2 ||
	    write(first, "ef", 2) != 2)
		fail("o-append", "open/write", errno);
	else
		result("o-append", pread(fd, back, 6, 0) == 6 && memcmp(back, "abcdef", 6) == 0,
		       "appended content", EIO);
	if (ftruncate(fd, 3) < 0 || ftruncate(fd, 4096) < 0 || fstat(fd, &st) < 0) {
		fail("ftruncate", "ftruncate", errno);
	} else {
		memset(back, 'x', sizeof(back));
		result("ftruncate",
		       st.st_size == 4096 && pread(fd, back, 6, 0) == 6 &&
			       memcmp(back, "abc\0\0\0", 6) == 0,
		       "size/content after shrink and grow", EIO);
	}
	if (first >= 0)
		close(first);
	if (second >= 0)
		close(second);
	close(fd);
	unlink(path);
}

/* O_DIRECT with an aligned buffer, as databases do */
static void
check_direct(const char *dir)
{
	const char *path = path_in(dir, "probe-direct");
	void *buffer = NULL;
	int fd;

	unlink(path);
	if (posix_memalign(&buffer, 4096, 4096) != 0) {
		fail("o-direct", "posix_memalign", ENOMEM);
		return;
	}
	memset(buffer, 'd', 4096);
	fd = open(path, O_RDWR | O_CREAT | O_DIRECT, 0644);
	if (fd < 0) {
		fail("o-direct", "open O_DIRECT", errno);
	} else if (pwrite(fd, buffer, 4096, 0) != 4096) {
		fail("o-direct", "write", errno);
	} else {
		memset(buffer, 0, 4096);
		result("o-direct",
		       pread(fd, buffer, 4096, 0) == 4096 && ((char *)buffer)[4095] == 'd', "read",
		       errno != 0 ? errno : EIO);
	}
	if (fd >= 0)
		close(fd);
	free(buffer);
	unlink(path);
}

/* copy_file_range (cp, coreutils) copies the bytes */
static void
check_copy_range(const char *dir)
{
	const char *from = path_in(dir, "probe-copy-from");
	const char *to = path_in(dir, "probe-copy-to");
	char back[16] = {0};
	int in = make_file(from, "copied-bytes");
	int out = make_file(to, NULL);
	loff_t offset_in = 0;
	loff_t offset_out = 0;

	if (in < 0 || out < 0)
		fail("copy-file-range", "create", errno);
	else if (copy_file_range(in, &offset_in, out, &offset_out, 12, 0) != 12)
		fail("copy-file-range", "copy_file_range", errno != 0 ? errno : EIO);
	else
		result("copy-file-range",
		       pread(out, back, 12, 0) == 12 && memcmp(back, "copied-bytes", 12) == 0,
		       "copied content", EIO);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	unlink(from);
	unlink(to);
}

/* a directory of 300 entries is listed whole; rmdir of a non-empty one fails with ENOTEMPTY;
 * a directory with content renames */
static void
check_directory(const char *dir)
{
	const char *sub = path_in(dir, "probe-dir");
	const char *moved = path_in(dir, "probe-dir-moved");
	char name[4096];
	struct dirent *entry;
	int count = 0;
	DIR *listing;

	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "%s/f%03d", sub, i);
		unlink(name);
		snprintf(name, sizeof(name), "%s/f%03d", moved, i);
		unlink(name);
	}
	rmdir(sub);
	rmdir(moved);
	if (mkdir(sub, 0755) < 0) {
		fail("readdir", "mkdir", errno);
		fail("rmdir-notempty", "mkdir", errno);
		fail("rename-dir", "mkdir", errno);
		return;
	}
	for (int i = 0; i < 300; i++) {
		int fd;
		snprintf(name, sizeof(name), "%s/f%03d", sub, i);
		fd = open(name, O_WRONLY | O_CREAT, 0644);
		if (fd < 0)
			break;
		close(fd);
	}
	listing = opendir(sub);
	while (listing != NULL && (entry = readdir(listing)) != NULL)
		count += entry->d_name[0] == 'f';
	if (listing != NULL)
		closedir(listing);
	result("readdir", count == 300, "entries listed", ENOENT);
	errno = 0;
	result("rmdir-notempty", rmdir(sub) < 0 && errno == ENOTEMPTY, "rmdir of a full directory",
	       errno != 0 ? errno : EEXIST);
	if (rename(sub, moved) < 0) {
		fail("rename-dir", "rename", errno);
	} else {
		snprintf(name, sizeof(name), "%s/f150", moved);
		result("rename-dir", access(name, F_OK) == 0 && access(sub, F_OK) < 0,
		       "content after rename", ENOENT);
	}
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "%s/f%03d", sub, i);
		unlink(name);
		snprintf(name, sizeof(name), "%s/f%03d", moved, i);
		unlink(name);
	}
	rmdir(sub);
	rmdir(moved);
}

/* fsync, fdatasync, syncfs, statfs: what databases and package managers call */
static void
check_sync(const char *dir)
{
	const char *path = path_in(dir, "probe-sync");
	struct statfs fs;
	int fd = make_file(path, "s");

	if (fd < 0 || fsync(fd) < 0 || fdatasync(fd) < 0 || syncfs(fd) < 0)
		fail("fsync", "fsync/fdatasync/syncfs", errno);
	else
		pass("fsync");
	if (statfs(dir, &fs) < 0)
		fail("statfs", "statfs", errno);
	else
		result("statfs", fs.f_bsize > 0 && fs.f_blocks > 0 && fs.f_namelen >= 255,
		       "f_bsize/f_blocks/f_namelen", EINVAL);
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* a file offset past 4 GiB */
static void
check_large_offset(const char *dir)
{
	const char *path = path_in(dir, "probe-large-offset");
	const off_t far = 5LL << 30;
	char back[4] = {0};
	struct stat st;
	int fd = make_file(path, NULL);

	if (fd < 0 || pwrite(fd, "big", 3, far) != 3)
		fail("large-offset", "pwrite at 5 GiB", errno);
	else if (fstat(fd, &st) < 0 || st.st_size != far + 3)
		fail("large-offset", "size", errno != 0 ? errno : EFBIG);
	else
		result("large-offset", pread(fd, back, 3, far) == 3 && memcmp(back, "big", 3) == 0,
		       "read back", EIO);
	if (fd >= 0)
		close(fd);
	unlink(path);
}

static int
hold_lock(const char *path, int seconds)
{
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd = open(path, O_RDWR | O_CREAT, 0644);

	if (fd < 0 || fcntl(fd, F_SETLK, &lock) < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		printf("hold-lock %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("locked\n");
	sleep(seconds);
	return 0;
}

static int
test_lock(const char *path)
{
	struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd = open(path, O_RDWR);

	if (fd < 0) {
		fail("pod-posix-lock", "open", errno);
		fail("pod-flock", "open", errno);
		return failures;
	}
	if (fcntl(fd, F_GETLK, &probe) < 0)
		fail("pod-posix-lock", "F_GETLK", errno);
	else if (probe.l_type != F_WRLCK)
		fail("pod-posix-lock", "F_GETLK saw no lock", ENOLCK);
	else if (probe.l_type = F_WRLCK, fcntl(fd, F_SETLK, &probe) == 0)
		fail("pod-posix-lock", "F_SETLK took a held lock", EEXIST);
	else
		pass("pod-posix-lock");
	errno = 0;
	result("pod-flock", flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK,
	       "LOCK_EX of a held lock", errno != 0 ? errno : EEXIST);
	close(fd);
	return failures;
}

int
main(int argc, char **argv)
{
	const char *dir = argv[1];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "--hold-lock") == 0)
		return hold_lock(argv[2], atoi(argv[3]));
	if (argc == 3 && strcmp(argv[1], "--test-lock") == 0)
		return test_lock(argv[2]);
	if (argc != 2) {
		fprintf(stderr,
			"usage: fs-probe DIR | --hold-lock FILE SECONDS | --test-lock FILE\n");
		return 100;
	}
	umask(022);
	check_posix_lock(dir);
	check_posix_lock_wait(dir);
	check_ofd_lock(dir);
	check_flock(dir);
	check_xattr(dir);
	check_tmpfile(dir);
	check_fifo(dir);
	check_mknod(dir);
	check_mmap(dir);
	check_inotify(dir);
	check_unlink_open(dir);
	check_rename_over_open(dir);
	check_rename2(dir);
	check_sparse(dir);
	check_fallocate(dir);
	check_large_offset(dir);
	check_hardlink(dir);
	check_symlink(dir);
	check_utimens(dir);
	check_chmod(dir);
	check_chown(dir);
	check_setuid_chown(dir);
	check_setuid_write(dir);
	check_setgid_dir(dir);
	check_open_flags(dir);
	check_direct(dir);
	check_copy_range(dir);
	check_directory(dir);
	check_sync(dir);
	return failures > 99 ? 99 : failures;
}
