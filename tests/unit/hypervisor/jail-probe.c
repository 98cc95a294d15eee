/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Run inside a CocoonJail by test-jail: prints what the jail lets it do, one "name value" line
 * each (the errno name, or "ok"), then its /proc/self/status lines of interest.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#include <unistd.h>

static void
report(const char *name, long result)
{
	printf("%s %s\n", name, result < 0 ? strerrorname_np(errno) : "ok");
}

#if defined(__SANITIZE_ADDRESS__)
/* the jail denies ptrace, which LeakSanitizer's end-of-run check needs (the ASan run builds us too)
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

int
main(void)
{
	struct {
		struct file_handle handle;
		unsigned char bytes[128];
	} fh = {.handle.handle_bytes = 128};
	int mount_id;
	char line[512];
	FILE *status;

	report("name_to_handle_at",
	       syscall(SYS_name_to_handle_at, AT_FDCWD, "/usr", &fh.handle, &mount_id, 0));
	report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, &fh.handle, O_RDONLY));
	report("unshare", unshare(CLONE_NEWUSER));
	report("mount", mount("none", "/usr", "tmpfs", 0, NULL));
	report("clone_newuser", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0));
	report("clone3", syscall(SYS_clone3, NULL, 0));
	report("chmod_dev", chmod("/dev/null", 0666));
	report("shadow", open("/etc/shadow", O_RDONLY));
	report("write_root", open("/probe", O_WRONLY | O_CREAT, 0600));
	report("write_usr", open("/usr/probe", O_WRONLY | O_CREAT, 0600));
	printf("getpid %d\n", (int)getpid());
	status = fopen("/proc/self/status", "r");
	while (status != NULL && fgets(line, sizeof(line), status) != NULL) {
		if (strncmp(line, "Uid:", 4) == 0 || strncmp(line, "Gid:", 4) == 0 ||
		    strncmp(line, "Groups:", 7) == 0 || strncmp(line, "Cap", 3) == 0 ||
		    strncmp(line, "NoNewPrivs:", 11) == 0 || strncmp(line, "Seccomp:", 8) == 0)
			fputs(line, stdout);
	}
	return 0;
}
