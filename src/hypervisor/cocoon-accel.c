/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-hypervisor"

#include "config.h"

#include "cocoon-accel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>

#if defined(__x86_64__)
#include <linux/kvm.h>
#include <x86intrin.h>
#endif

#include "cocoon-error.h"
#include "cocoon-fd.h"

/* ---- the KVM probe ---- */

#if defined(__x86_64__)

typedef enum {
	PROBE_OPEN,
	PROBE_API_VERSION,
	PROBE_CREATE_VM,
	PROBE_MEMORY,
	PROBE_CREATE_VCPU,
	PROBE_MAP_RUN,
	PROBE_REAL_MODE_SETUP,
	PROBE_REAL_MODE_RUN,
	PROBE_LONG_MODE_SETUP,
	PROBE_LONG_MODE_RUN,
	PROBE_DONE,
} ProbeStep;

/* what the child reports after each step; smaller than PIPE_BUF, so each write is atomic */
typedef struct {
	gint32 step;
	gint32 error_number; /* errno of the failed call */
	guint32 exit_reason; /* KVM_EXIT_* when the guest stopped unexpectedly */
	guint32 io_value;    /* the byte written to the probe port */
	gint64 long_mode_ns; /* duration of the long-mode run */
} ProbeReport;

static const gchar *
probe_step_to_string(ProbeStep step)
{
	switch (step) {
	case PROBE_OPEN:
		return "open /dev/kvm";
	case PROBE_API_VERSION:
		return "KVM_GET_API_VERSION";
	case PROBE_CREATE_VM:
		return "KVM_CREATE_VM";
	case PROBE_MEMORY:
		return "guest memory";
	case PROBE_CREATE_VCPU:
		return "KVM_CREATE_VCPU";
	case PROBE_MAP_RUN:
		return "mapping the vCPU";
	case PROBE_REAL_MODE_SETUP:
		return "real-mode registers";
	case PROBE_REAL_MODE_RUN:
		return "running real-mode code";
	case PROBE_LONG_MODE_SETUP:
		return "64-bit registers";
	case PROBE_LONG_MODE_RUN:
		return "running 64-bit code";
	case PROBE_DONE:
		return "done";
	}
	return "?";
}

#define PROBE_PORT	   0x10
#define PROBE_MEMORY_SIZE  0x400000 /* 4 MiB */
#define PROBE_PML4	   0x1000
#define PROBE_PDPT	   0x2000
#define PROBE_PD	   0x3000
#define PROBE_REAL_CODE	   0x8000
#define PROBE_LONG_CODE	   0x9000
#define PROBE_MEMSET_START 0x200000
#define PROBE_MEMSET_SIZE  0x200000 /* 2 MiB */

/* mov al, 0x42; out 0x10, al; hlt */
static const guint8 real_mode_code[] = {0xb0, 0x42, 0xe6, PROBE_PORT, 0xf4};

/* clang-format off */
static const guint8 long_mode_code[] = {
	0xbf, 0x00, 0x00, 0x20, 0x00,	/* mov edi, 0x200000 */
	0xb9, 0x00, 0x00, 0x20, 0x00,	/* mov ecx, 0x200000 */
	0x31, 0xc0,			/* xor eax, eax */
	0xf3, 0xaa,			/* rep stosb */
	0xb0, 0x43,			/* mov al, 0x43 */
	0xe6, PROBE_PORT,		/* out 0x10, al */
	0xf4,				/* hlt */
};
/* clang-format on */

static gint64
monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* async-signal-safe: runs in a child forked from a threaded process */
static void
report(int fd, ProbeReport *state, ProbeStep step, gint error_number)
{
	ssize_t n;

	state->step = step;
	state->error_number = error_number;
	do
		n = write(fd, state, sizeof(*state));
	while (n < 0 && errno == EINTR);
}

/* the probe failed at step: report it and end the child */
static void G_GNUC_NORETURN
fail(int fd, ProbeReport *state, ProbeStep step, gint error_number)
{
	report(fd, state, step, error_number);
	_exit(1);
}

/* one KVM_RUN expecting "out PROBE_PORT, value" then hlt */
static gboolean
run_until_halt(int vcpu, struct kvm_run *run, guint8 value, ProbeReport *state)
{
	gboolean saw_io = FALSE;

	for (guint i = 0; i < 4; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			return FALSE;
		}
		state->exit_reason = run->exit_reason;
		if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
		    run->io.port == PROBE_PORT && run->io.size == 1) {
			state->io_value = *((guint8 *)run + run->io.data_offset);
			saw_io = state->io_value == value;
			continue;
		}
		return run->exit_reason == KVM_EXIT_HLT && saw_io;
	}
	errno = 0;
	return FALSE;
}

static void
set_long_mode_segments(struct kvm_sregs *sregs)
{
	/* flat 4 GiB, execute/read, 64-bit */
	struct kvm_segment code = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = 0x8,
		.present = 1,
		.type = 11,
		.dpl = 0,
		.db = 0,
		.s = 1,
		.l = 1,
		.g = 1,
	};
	/* the data segments: flat like the code, read/write data, 32-bit default size */
	struct kvm_segment data = code;

	data.selector = 0x10;
	data.type = 3;
	data.db = 1;
	data.l = 0;
	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->cr3 = PROBE_PML4;
	sregs->cr4 = 1 << 5;		    /* PAE */
	sregs->efer = (1 << 8) | (1 << 10); /* LME, LMA */
	sregs->cr0 = 0x80000001 | (1 << 4); /* PG, PE, ET */
}

/* the child: never returns; only syscalls from here on */
static void G_GNUC_NORETURN
probe_child(int fd, guint budget_ms)
{
	ProbeReport state = {0};
	struct kvm_userspace_memory_region region = {0};
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct itimerval timer = {0};
	struct sigaction action = {0};
	sigset_t all;
	struct kvm_run *run;
	guint8 *memory;
	guint64 *table;
	int kvm, vm, vcpu, run_size;
	gint64 start;

	/* a guest stuck in KVM_RUN is ended by SIGALRM, whatever the parent blocked */
	action.sa_handler = SIG_DFL;
	sigaction(SIGALRM, &action, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		fail(fd, &state, PROBE_OPEN, errno);
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		fail(fd, &state, PROBE_API_VERSION, errno);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		fail(fd, &state, PROBE_CREATE_VM, errno);
	memory = mmap(NULL, PROBE_MEMORY_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (memory == MAP_FAILED)
		fail(fd, &state, PROBE_MEMORY, errno);
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = PROBE_MEMORY_SIZE;
	region.userspace_addr = (guint64)(guintptr)memory;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		fail(fd, &state, PROBE_MEMORY, errno);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		fail(fd, &state, PROBE_CREATE_VCPU, errno);
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = run_size > 0 ? mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0)
			   : MAP_FAILED;
	if (run == MAP_FAILED)
		fail(fd, &state, PROBE_MAP_RUN, errno);

	/* 1: real mode, as the CPU comes out of reset */
	memcpy(memory + PROBE_REAL_CODE, real_mode_code, sizeof(real_mode_code));
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		fail(fd, &state, PROBE_REAL_MODE_SETUP, errno);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	memset(&regs, 0, sizeof(regs));
	regs.rip = PROBE_REAL_CODE;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		fail(fd, &state, PROBE_REAL_MODE_SETUP, errno);
	report(fd, &state, PROBE_REAL_MODE_RUN, 0);
	timer.it_value.tv_sec = 2;
	setitimer(ITIMER_REAL, &timer, NULL);
	if (!run_until_halt(vcpu, run, 0x42, &state))
		fail(fd, &state, PROBE_REAL_MODE_RUN, errno);

	/* 2: 64-bit mode with paging (identity-mapped 2 MiB pages), a kernel-style memset */
	table = (guint64 *)(memory + PROBE_PML4);
	table[0] = PROBE_PDPT | 0x3;
	table = (guint64 *)(memory + PROBE_PDPT);
	table[0] = PROBE_PD | 0x3;
	table = (guint64 *)(memory + PROBE_PD);
	table[0] = 0x000000 | 0x83;
	table[1] = 0x200000 | 0x83;
	memcpy(memory + PROBE_LONG_CODE, long_mode_code, sizeof(long_mode_code));
	/* touch the target first, so host page faults do not count as guest time */
	memset(memory + PROBE_MEMSET_START, 0xff, PROBE_MEMSET_SIZE);
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		fail(fd, &state, PROBE_LONG_MODE_SETUP, errno);
	set_long_mode_segments(&sregs);
	memset(&regs, 0, sizeof(regs));
	regs.rip = PROBE_LONG_CODE;
	regs.rsp = PROBE_REAL_CODE;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		fail(fd, &state, PROBE_LONG_MODE_SETUP, errno);
	report(fd, &state, PROBE_LONG_MODE_RUN, 0);
	timer.it_value.tv_sec = budget_ms / 1000;
	timer.it_value.tv_usec = (budget_ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &timer, NULL);
	start = monotonic_ns();
	if (!run_until_halt(vcpu, run, 0x43, &state))
		fail(fd, &state, PROBE_LONG_MODE_RUN, errno);
	state.long_mode_ns = monotonic_ns() - start;
	if (memory[PROBE_MEMSET_START] != 0 ||
	    memory[PROBE_MEMSET_START + PROBE_MEMSET_SIZE - 1] != 0)
		fail(fd, &state, PROBE_LONG_MODE_RUN, 0);
	report(fd, &state, PROBE_DONE, 0);
	_exit(0);
}

gboolean
cocoon_kvm_probe(guint budget_ms, gchar **ret_detail, GError **error)
{
	ProbeReport last = {.step = PROBE_OPEN, .error_number = 0};
	cocoon_autofd int read_fd = -1;
	cocoon_autofd int write_fd = -1;
	gint64 deadline;
	gboolean reported = FALSE;
	int fds[2];
	int status = 0;
	pid_t pid;

	if (budget_ms == 0)
		budget_ms = COCOON_KVM_PROBE_BUDGET_MS;
	if (access("/dev/kvm", F_OK) < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no /dev/kvm");
		return FALSE;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		cocoon_set_error_from_errno(error, "KVM probe: pipe");
		return FALSE;
	}
	read_fd = fds[0];
	write_fd = fds[1];
	pid = fork();
	if (pid < 0) {
		cocoon_set_error_from_errno(error, "KVM probe: fork");
		return FALSE;
	}
	if (pid == 0) {
		close(read_fd);
		probe_child(write_fd, budget_ms);
	}
	cocoon_fd_closep(&write_fd);

	/* the child's own timers end it; this is the backstop */
	deadline = g_get_monotonic_time() + (gint64)(budget_ms + 3000) * 1000;
	for (;;) {
		struct pollfd pfd = {.fd = read_fd, .events = POLLIN};
		gint64 left = deadline - g_get_monotonic_time();
		ProbeReport next;
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (gint)((left + 999) / 1000)) <= 0)
			continue;
		n = read(read_fd, &next, sizeof(next));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(next))
			break;
		last = next;
		reported = TRUE;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;

	if (reported && last.step == PROBE_DONE && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (ret_detail != NULL)
			*ret_detail = g_strdup_printf("KVM ran real-mode and 64-bit guest code (a "
						      "2 MiB memset in %.2f ms, "
						      "budget %u ms)",
						      last.long_mode_ns / 1e6, budget_ms);
		return TRUE;
	}
	if (reported && last.step == PROBE_LONG_MODE_RUN && WIFSIGNALED(status)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			    "KVM runs guest code far too slowly: a 2 MiB memset in 64-bit mode did "
			    "not finish within %u ms (a normal KVM host needs about 1 ms; PVM or a "
			    "nested setup without hardware support?)",
			    budget_ms);
		return FALSE;
	}
	if (!reported || WIFSIGNALED(status)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			    "KVM probe did not finish (%s; stopped at: %s)",
			    WIFSIGNALED(status) ? g_strsignal(WTERMSIG(status)) : "no report",
			    probe_step_to_string(last.step));
		return FALSE;
	}
	if (last.step == PROBE_OPEN &&
	    (last.error_number == EACCES || last.error_number == EPERM)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "cannot open /dev/kvm: %s", g_strerror(last.error_number));
		return FALSE;
	}
	if (last.step == PROBE_REAL_MODE_RUN || last.step == PROBE_LONG_MODE_RUN) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			    "KVM did not run the probe's guest code (%s: exit reason %u, port "
			    "value 0x%x%s%s)",
			    probe_step_to_string(last.step), last.exit_reason, last.io_value,
			    last.error_number != 0 ? ", " : "",
			    last.error_number != 0 ? g_strerror(last.error_number) : "");
		return FALSE;
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "KVM probe failed at %s: %s",
		    probe_step_to_string(last.step),
		    last.error_number != 0 ? g_strerror(last.error_number) : "unexpected result");
	return FALSE;
}

#else /* !__x86_64__ */

gboolean
cocoon_kvm_probe(guint budget_ms, gchar **ret_detail, GError **error)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
		    "the KVM probe knows x86-64 guests only");
	return FALSE;
}

#endif

/* ---- the per-boot cache ---- */

/*
 * The probe costs ~0.25 s where KVM is unusable (it runs out its budget) and the TSC measurement
 * ~60 ms, in every shim, i.e. in every pod's start. Neither answer changes while the host runs, so
 * the first shim of a boot writes them to COCOON_ACCEL_CACHE_PATH and the others read them there.
 * The cache is valid for one boot (boot_id) and one /dev/kvm node (a reloaded kvm module makes a
 * new one); delete the file to probe again. $COCOON_ACCEL_CACHE names another file, "" disables it.
 */
#define ACCEL_CACHE_MAX_SIZE 4096

typedef struct {
	gboolean loaded;
	gchar *key;	   /* NULL: no cache (no boot id, or disabled) */
	CocoonAccel accel; /* COCOON_ACCEL_AUTO: not cached yet */
	gchar *reason;
	guint tsc_khz; /* 0: not cached yet */
} AccelCache;

static GMutex cache_lock;
static AccelCache cache;

static const gchar *
accel_cache_path(void)
{
	const gchar *path = g_getenv("COCOON_ACCEL_CACHE");

	return path != NULL ? path : COCOON_ACCEL_CACHE_PATH;
}

static gchar *
accel_cache_key(void)
{
	g_autofree gchar *boot_id = NULL;
	struct stat st;

	if (!g_file_get_contents("/proc/sys/kernel/random/boot_id", &boot_id, NULL, NULL))
		return NULL;
	g_strstrip(boot_id);
	if (boot_id[0] == '\0')
		return NULL;
	if (stat("/dev/kvm", &st) < 0)
		return g_strdup_printf("%s no-kvm", boot_id);
	return g_strdup_printf("%s kvm-%lx-%lu", boot_id, (gulong)st.st_rdev, (gulong)st.st_ino);
}

/* a file only root (or we) could have written, small, and for this boot */
static void
accel_cache_load_locked(void)
{
	const gchar *path = accel_cache_path();
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) lines = NULL;
	gboolean key_matches = FALSE;
	CocoonAccel accel = COCOON_ACCEL_AUTO;
	g_autofree gchar *reason = NULL;
	guint64 khz = 0;
	struct stat st;

	if (cache.loaded)
		return;
	cache.loaded = TRUE;
	cache.accel = COCOON_ACCEL_AUTO;
	if (path[0] == '\0')
		return;
	cache.key = accel_cache_key();
	if (cache.key == NULL || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    st.st_size > ACCEL_CACHE_MAX_SIZE || !g_file_get_contents(path, &contents, NULL, NULL))
		return;
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		const gchar *line = lines[i];

		if (g_str_has_prefix(line, "key="))
			key_matches = g_str_equal(line + strlen("key="), cache.key);
		else if (g_str_has_prefix(line, "accel="))
			accel = cocoon_accel_from_string(line + strlen("accel="));
		else if (g_str_has_prefix(line, "reason=")) {
			g_free(reason);
			reason = g_strdup(line + strlen("reason="));
		} else if (g_str_has_prefix(line, "tsc_khz="))
			khz = g_ascii_strtoull(line + strlen("tsc_khz="), NULL, 10);
	}
	if (!key_matches)
		return;
	if ((accel == COCOON_ACCEL_KVM || accel == COCOON_ACCEL_TCG) && reason != NULL) {
		cache.accel = accel;
		cache.reason = g_steal_pointer(&reason);
	}
	if (khz >= 1000 && khz <= 100000000)
		cache.tsc_khz = (guint)khz;
}

/* best effort: a shim that cannot write it (not root, read-only /run) just probes every time */
static void
accel_cache_save_locked(void)
{
	const gchar *path = accel_cache_path();
	g_autoptr(GString) text = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = NULL;

	if (path[0] == '\0' || cache.key == NULL)
		return;
	text = g_string_new(NULL);
	g_string_append_printf(text, "key=%s\n", cache.key);
	if (cache.accel != COCOON_ACCEL_AUTO)
		g_string_append_printf(text, "accel=%s\nreason=%s\n",
				       cocoon_accel_to_string(cache.accel), cache.reason);
	if (cache.tsc_khz != 0)
		g_string_append_printf(text, "tsc_khz=%u\n", cache.tsc_khz);
	dir = g_path_get_dirname(path);
	if (g_mkdir_with_parents(dir, 0755) < 0 ||
	    !g_file_set_contents_full(path, text->str, (gssize)text->len,
				      G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error))
		g_debug("accelerator cache %s not written: %s", path,
			error != NULL ? error->message : g_strerror(errno));
}

/* ---- AUTO ---- */

static CocoonAccel auto_accel = COCOON_ACCEL_AUTO;
static gchar *auto_reason;
static gsize auto_once;

CocoonAccel
cocoon_accel_resolve(CocoonAccel requested, const gchar **ret_reason)
{
	if (requested != COCOON_ACCEL_AUTO) {
		if (ret_reason != NULL)
			*ret_reason = "configured";
		return requested;
	}
	if (g_once_init_enter(&auto_once)) {
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cache_lock);
		g_autoptr(GError) error = NULL;
		g_autofree gchar *detail = NULL;

		accel_cache_load_locked();
		if (cache.accel != COCOON_ACCEL_AUTO) {
			auto_accel = cache.accel;
			auto_reason = g_strdup(cache.reason);
			g_message("accelerator: %s (probed earlier in this boot, %s: %s)",
				  cocoon_accel_to_string(auto_accel), accel_cache_path(),
				  auto_reason);
		} else {
			if (cocoon_kvm_probe(COCOON_KVM_PROBE_BUDGET_MS, &detail, &error)) {
				auto_accel = COCOON_ACCEL_KVM;
				auto_reason = g_steal_pointer(&detail);
				g_message("accelerator: kvm (%s)", auto_reason);
			} else {
				auto_accel = COCOON_ACCEL_TCG;
				auto_reason = g_strdup(error->message);
				g_message("accelerator: tcg, KVM is not usable: %s", auto_reason);
			}
			cache.accel = auto_accel;
			g_free(cache.reason);
			cache.reason = g_strdup(auto_reason);
			accel_cache_save_locked();
		}
		g_once_init_leave(&auto_once, 1);
	}
	if (ret_reason != NULL)
		*ret_reason = auto_reason;
	return auto_accel;
}

/* ---- host TSC ---- */

#if defined(__x86_64__)

static gboolean
host_has_constant_tsc(void)
{
	g_autofree gchar *cpuinfo = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL))
		return FALSE;
	lines = g_strsplit(cpuinfo, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], "flags")) {
			g_auto(GStrv) flags = g_strsplit(lines[i], " ", -1);
			return g_strv_contains((const gchar *const *)flags, "constant_tsc");
		}
	}
	return FALSE;
}

/* one measurement: TSC ticks over a ~20 ms window of CLOCK_MONOTONIC_RAW */
static gdouble
measure_tsc_khz(void)
{
	struct timespec t0, t1;
	guint64 c0, c1;

	c0 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC_RAW, &t0);
	g_usleep(20000);
	c1 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC_RAW, &t1);
	return (gdouble)(c1 - c0) * 1e6 /
	       ((gdouble)(t1.tv_sec - t0.tv_sec) * 1e9 + (gdouble)(t1.tv_nsec - t0.tv_nsec));
}

static gint
compare_doubles(gconstpointer a, gconstpointer b)
{
	gdouble x = *(const gdouble *)a;
	gdouble y = *(const gdouble *)b;

	return x < y ? -1 : x > y;
}

static guint
detect_tsc_khz(void)
{
	gdouble samples[3];

	if (!host_has_constant_tsc())
		return 0;
	for (guint i = 0; i < G_N_ELEMENTS(samples); i++)
		samples[i] = measure_tsc_khz();
	qsort(samples, G_N_ELEMENTS(samples), sizeof(samples[0]), compare_doubles);
	/* the median; a preemption between the two clocks spoils one sample, not two */
	if (samples[1] < 1000.0 || samples[1] > 100e6)
		return 0;
	return (guint)(samples[1] + 0.5);
}

#else

static guint
detect_tsc_khz(void)
{
	return 0;
}

#endif

guint
cocoon_host_tsc_khz(void)
{
	static gsize once;
	static guint khz;

	if (g_once_init_enter(&once)) {
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cache_lock);

		accel_cache_load_locked();
		if (cache.tsc_khz != 0) {
			khz = cache.tsc_khz;
			g_debug("host TSC: %u kHz (measured earlier in this boot)", khz);
		} else {
			khz = detect_tsc_khz();
			g_debug("host TSC: %u kHz", khz);
			if (khz != 0) {
				cache.tsc_khz = khz;
				accel_cache_save_locked();
			}
		}
		g_once_init_leave(&once, 1);
	}
	return khz;
}
