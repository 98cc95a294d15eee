/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fs-probe DIR: the file system calls common software needs and 9p refuses (issue 14), tried in
 * DIR inside a container. One line per check, "PASS name" or "FAIL name: why"; the exit status
 * is the number of failures. Statically linked, plain libc: it runs in the busybox test image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

static char *
path_in(const char *dir, const char *name)
{
	static char buffer[4][4096];
	static int next;
	char *out = buffer[next++ % 4];

	snprintf(out, sizeof(buffer[0]), "%s/%s", dir, name);
	return out;
}

/* a write lock, and another process sees it (F_GETLK) and cannot take it (F_SETLK: EAGAIN) */
static void
check_lock(const char *dir)
{
	const char *path = path_in(dir, "probe-lock");
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	int status = 0;
	pid_t child;

	if (fd < 0 || fcntl(fd, F_SETLK, &lock) < 0) {
		result("lock", 0, fd < 0 ? "open" : "F_SETLK", errno);
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
	waitpid(child, &status, 0);
	result("lock", WIFEXITED(status) && WEXITSTATUS(status) == 0, "another process", EDEADLK);
	close(fd);
	unlink(path);
}

/* MAP_SHARED | PROT_WRITE: what is stored through the mapping is what read() returns */
static void
check_mmap(const char *dir)
{
	const char *path = path_in(dir, "probe-mmap");
	char back[16] = {0};
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	char *map;

	if (fd < 0 || ftruncate(fd, 4096) < 0) {
		result("mmap-shared-write", 0, "open", errno);
		return;
	}
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		result("mmap-shared-write", 0, "mmap", errno);
		close(fd);
		return;
	}
	memcpy(map, "mapped-bytes", 12);
	if (msync(map, 4096, MS_SYNC) < 0 || pread(fd, back, 12, 0) != 12) {
		result("mmap-shared-write", 0, "msync/pread", errno);
	} else {
		result("mmap-shared-write", memcmp(back, "mapped-bytes", 12) == 0, "read back",
		       EIO);
	}
	munmap(map, 4096);
	close(fd);
	unlink(path);
}

/* O_TMPFILE, then linked into the directory under a name */
static void
check_tmpfile(const char *dir)
{
	const char *name = path_in(dir, "probe-tmpfile");
	char proc[64];
	int fd = open(dir, O_TMPFILE | O_RDWR, 0644);

	if (fd < 0) {
		result("o-tmpfile", 0, "open O_TMPFILE", errno);
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	unlink(name);
	if (write(fd, "tmp", 3) != 3 || linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW) < 0)
		result("o-tmpfile", 0, "write/linkat", errno);
	else
		result("o-tmpfile", access(name, F_OK) == 0, "linked name", ENOENT);
	close(fd);
}

/* a FIFO made in the directory carries a byte */
static void
check_fifo(const char *dir)
{
	const char *path = path_in(dir, "probe-fifo");
	char byte = 0;
	int reader;
	int writer;

	unlink(path);
	if (mkfifo(path, 0600) < 0) {
		result("mkfifo", 0, "mkfifo", errno);
		return;
	}
	reader = open(path, O_RDONLY | O_NONBLOCK);
	writer = reader >= 0 ? open(path, O_WRONLY | O_NONBLOCK) : -1;
	if (writer < 0 || write(writer, "f", 1) != 1 || read(reader, &byte, 1) != 1)
		result("mkfifo", 0, "open/write/read", errno);
	else
		result("mkfifo", byte == 'f', "byte", EIO);
	if (reader >= 0)
		close(reader);
	if (writer >= 0)
		close(writer);
	unlink(path);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fs-probe DIR\n");
		return 100;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	check_lock(argv[1]);
	check_mmap(argv[1]);
	check_tmpfile(argv[1]);
	check_fifo(argv[1]);
	return failures;
}
