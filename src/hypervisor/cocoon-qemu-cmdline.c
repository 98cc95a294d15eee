/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-hypervisor"

#include "config.h"

#include "cocoon-qemu-cmdline.h"

#include <stdarg.h>
#include <string.h>

#include <gio/gio.h>

#include "cocoon-vm-config.h"

/* the kernel parameters every guest gets; see docs/guest-image.md for the measurements */
#define BASE_KERNEL_PARAMS "console=ttyS0 panic=-1"
#define FAST_KERNEL_PARAMS "noreplace-smp random.trust_cpu=on"

gchar *
cocoon_qemu_escape_option_value(const gchar *value)
{
	g_autoptr(GString) out = g_string_sized_new(strlen(value) + 8);

	for (const gchar *p = value; *p != '\0'; p++) {
		if (*p == ',')
			g_string_append_c(out, ',');
		g_string_append_c(out, *p);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static gboolean
is_microvm(const CocoonVmConfig *config)
{
	return g_strcmp0(config->machine, COCOON_MACHINE_MICROVM) == 0;
}

gchar *
cocoon_qemu_build_kernel_params(const CocoonVmConfig *config, const CocoonQemuHostInfo *host)
{
	g_autoptr(GString) params = g_string_new(BASE_KERNEL_PARAMS);

	/* a debug guest logs everything to the console */
	g_string_append(params, config->debug ? " debug" : " quiet");
	g_string_append(params, " " FAST_KERNEL_PARAMS);
	/* under TCG the guest TSC runs at the host rate; without it microvm can hang calibrating */
	if (is_microvm(config) && host->accel == COCOON_ACCEL_TCG && host->tsc_khz > 0)
		g_string_append_printf(params, " tsc_early_khz=%u", host->tsc_khz);
	/* the agent mounts the share with the file system QEMU offers it */
	if (config->shared_fs == COCOON_SHARED_FS_VIRTIO_FS)
		g_string_append(params, " " COCOON_SHARE_KERNEL_PARAM "=virtiofs");
	if (config->kernel_params != NULL && config->kernel_params[0] != '\0')
		g_string_append_printf(params, " %s", config->kernel_params);
	return g_string_free(g_steal_pointer(&params), FALSE);
}

static void add(GPtrArray *argv, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

static void
add(GPtrArray *argv, const gchar *format, ...)
{
	va_list args;

	va_start(args, format);
	g_ptr_array_add(argv, g_strdup_vprintf(format, args));
	va_end(args);
}

/* a listening socket the driver made, inherited as fd */
static void
add_socket_chardev(GPtrArray *argv, const gchar *id, gint fd)
{
	add(argv, "-chardev");
	add(argv, "socket,id=%s,fd=%d,server=on,wait=off", id, fd);
}

/**
 * cocoon_qemu_build_cmdline:
 * @config: the VM
 * @host: the resolved accelerator and TSC rate
 *
 * Returns: (transfer full): the argv, or %NULL with @error set
 */
GStrv
cocoon_qemu_build_cmdline(const CocoonVmConfig *config, const CocoonQemuHostInfo *host,
			  GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *name = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *params = NULL;
	gboolean microvm;
	const gchar *bus_suffix;

	if (!cocoon_vm_config_validate(config, error))
		return NULL;
	if (host->accel != COCOON_ACCEL_KVM && host->accel != COCOON_ACCEL_TCG) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "sandbox %s: QEMU command line: the accelerator must be resolved first",
			    config->sandbox_id);
		return NULL;
	}
	microvm = is_microvm(config);
	/* microvm has virtio-mmio transports only, q35 PCI */
	bus_suffix = microvm ? "device" : "pci";

	add(argv, "%s", config->qemu_binary);
	name = cocoon_qemu_escape_option_value(config->sandbox_id);
	/*
	 * the name carries the pod's state directory, so that ps and pgrep -f tell the host which
	 * pod a QEMU is (QEMU never opens a path there: its sockets are fds); the guest never sees
	 * it
	 */
	state = cocoon_qemu_escape_option_value(config->state_dir);
	add(argv, "-name");
	add(argv, "guest=cocoon-%s@%s/,debug-threads=on", name, state);
	add(argv, "-machine");
	/*
	 * vhost-user: virtiofsd reads and writes the guest's buffers itself, so guest RAM is a
	 * memfd QEMU shares with it (the pages are counted once, split between the two in PSS)
	 */
	add(argv, "%s%s", microvm ? "microvm,rtc=on" : "q35",
	    config->shared_fs == COCOON_SHARED_FS_VIRTIO_FS ? ",memory-backend=mem" : "");
	/*
	 * microvm's virtio-mmio transports default to legacy (virtio 0.9) devices, which
	 * libvhost-user (virtiofsd) refuses: "virtio legacy devices aren't supported"; the guest
	 * kernel drives modern virtio-mmio (version 2) as well
	 */
	if (microvm && config->shared_fs == COCOON_SHARED_FS_VIRTIO_FS) {
		add(argv, "-global");
		add(argv, "virtio-mmio.force-legacy=false");
	}
	add(argv, "-accel");
	if (host->accel == COCOON_ACCEL_KVM) {
		add(argv, "kvm");
		add(argv, "-cpu");
		add(argv, "host");
	} else {
		/* a 32 MiB translation cache instead of the default saves ~15 MB of RSS */
		add(argv, "tcg,tb-size=32");
		add(argv, "-cpu");
		/*
		 * without the fast-string hints (pure performance hints, no instruction goes) the
		 * guest copies with rep movsq instead of rep movsb, which TCG runs a byte per
		 * iteration: 256 MiB of stdout 62 -> 103 MiB/s (docs/performance.md)
		 */
		add(argv, "max,-erms,-fsrm");
	}
	add(argv, "-smp");
	add(argv, "%u", config->vcpus);
	add(argv, "-m");
	add(argv, "%uM", config->memory_mib);
	if (config->shared_fs == COCOON_SHARED_FS_VIRTIO_FS) {
		add(argv, "-object");
		add(argv, "memory-backend-memfd,id=mem,size=%uM,share=on", config->memory_mib);
	}
	add(argv, "-nodefaults");
	add(argv, "-no-user-config");
	add(argv, "-nographic");
	add(argv, "-no-reboot");

	/* -kernel, -initrd and -append take plain strings: no option-list escaping */
	add(argv, "-kernel");
	add(argv, "%s", config->kernel);
	if (config->initrd != NULL && config->initrd[0] != '\0') {
		add(argv, "-initrd");
		add(argv, "%s", config->initrd);
	}
	params = cocoon_qemu_build_kernel_params(config, host);
	add(argv, "-append");
	add(argv, "%s", params);

	/*
	 * not a file QEMU writes (a guest filled the disk that way, 1 MB/s): a socket whose other
	 * end the driver reads into a capped, rotated console.log (cocoon-console-log.h)
	 */
	add(argv, "-chardev");
	if (config->console_log_max_kib > 0)
		add(argv, "socket,id=console,fd=%d", COCOON_VM_CONSOLE_FD);
	else
		add(argv, "null,id=console");
	add(argv, "-serial");
	add(argv, "chardev:console");

	add_socket_chardev(argv, "qmp", COCOON_VM_QMP_FD);
	add(argv, "-mon");
	add(argv, "chardev=qmp,mode=control");

	add(argv, "-device");
	add(argv, "virtio-serial-%s,id=vserial", bus_suffix);
	add_socket_chardev(argv, "agent", COCOON_VM_AGENT_FD);
	add(argv, "-device");
	add(argv, "virtserialport,bus=vserial.0,chardev=agent,name=" COCOON_VM_AGENT_PORT);
	add_socket_chardev(argv, "stdio", COCOON_VM_STDIO_FD);
	add(argv, "-device");
	add(argv, "virtserialport,bus=vserial.0,chardev=stdio,name=" COCOON_VM_STDIO_PORT);

	switch (config->shared_fs) {
	case COCOON_SHARED_FS_9P: {
		g_autofree gchar *dir = cocoon_vm_config_get_shared_dir(config);
		g_autofree gchar *escaped = cocoon_qemu_escape_option_value(dir);

		/* multidevs=remap: the share spans several host devices (overlay, bind mounts) */
		add(argv, "-fsdev");
		add(argv, "local,id=shared,path=%s,security_model=none,multidevs=remap", escaped);
		add(argv, "-device");
		add(argv, "virtio-9p-%s,fsdev=shared,mount_tag=" COCOON_SHARED_FS_TAG, bus_suffix);
		break;
	}
	case COCOON_SHARED_FS_VIRTIO_FS: {
		/*
		 * virtiofsd listens (cocoon-virtiofsd.c starts it first); the driver connects and
		 * QEMU inherits that connection
		 */
		add(argv, "-chardev");
		add(argv, "socket,id=virtiofs,fd=%d", COCOON_VM_VIRTIOFS_FD);
		add(argv, "-device");
		add(argv,
		    "vhost-user-fs-%s,chardev=virtiofs,tag=" COCOON_SHARED_FS_TAG
		    ",queue-size=1024",
		    bus_suffix);
		break;
	}
	case COCOON_SHARED_FS_NONE:
		break;
	}

	/* the taps come as inherited fds (see cocoon-qemu.c); the guest's devices get their MACs */
	for (guint i = 0; config->nics != NULL && i < config->nics->len; i++) {
		const CocoonVmNic *nic = g_ptr_array_index(config->nics, i);

		add(argv, "-netdev");
		add(argv, "tap,id=%s,fd=%u", nic->id, COCOON_VM_NIC_FD_BASE + i);
		add(argv, "-device");
		/* romfile=: no iPXE option ROM, the guest never boots from the network */
		add(argv, "virtio-net-%s,netdev=%s,mac=%s%s", bus_suffix, nic->id, nic->mac,
		    microvm ? "" : ",romfile=");
	}

	/*
	 * QEMU's own seccomp filter on top of the jail's: no obsolete system calls, no set*id, no
	 * fork or exec, no scheduler or CPU affinity changes (docs/security.md)
	 */
	if (config->confine) {
		add(argv, "-sandbox");
		add(argv, "%s", COCOON_QEMU_SANDBOX_OPTIONS);
	}
	if (config->debug) {
		add(argv, "-msg");
		add(argv, "timestamp=on");
	}
	for (guint i = 0; config->extra_args != NULL && config->extra_args[i] != NULL; i++)
		add(argv, "%s", config->extra_args[i]);

	g_ptr_array_add(argv, NULL);
	return (GStrv)g_ptr_array_free(g_steal_pointer(&argv), FALSE);
}

/* a value for a C virtiofsd -o option list (libfuse's fuse_opt): ',' and '\\' escaped with '\\' */
static gchar *
escape_fuse_option_value(const gchar *value)
{
	g_autoptr(GString) out = g_string_sized_new(strlen(value) + 8);

	for (const gchar *p = value; *p != '\0'; p++) {
		if (*p == ',' || *p == '\\')
			g_string_append_c(out, '\\');
		g_string_append_c(out, *p);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/**
 * cocoon_qemu_build_virtiofsd_argv:
 * @config: the VM, with shared_fs VIRTIO_FS
 *
 * Returns: (transfer full): the argv of the pod's virtiofsd, or %NULL with @error set
 */
GStrv
cocoon_qemu_build_virtiofsd_argv(const CocoonVmConfig *config, GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *socket = NULL;
	g_autofree gchar *dir = NULL;
	g_autofree gchar *source = NULL;

	if (!cocoon_vm_config_validate(config, error))
		return NULL;
	if (config->shared_fs != COCOON_SHARED_FS_VIRTIO_FS) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "sandbox %s: virtiofsd: the VM does not use virtio-fs",
			    config->sandbox_id);
		return NULL;
	}
	socket = cocoon_vm_config_state_path(config, COCOON_VM_VIRTIOFSD_SOCKET);
	dir = cocoon_vm_config_get_shared_dir(config);
	source = escape_fuse_option_value(dir);

	add(argv, "%s", config->virtiofsd);
	add(argv, "--socket-path=%s", socket);
	add(argv, "-o");
	add(argv, "source=%s", source);
	/*
	 * its own mount, pid and network namespaces with the share as its root (pivot_root), and
	 * its built-in seccomp filter and capability drop; see docs/security.md
	 */
	add(argv, "-o");
	add(argv, "sandbox=namespace");
	/*
	 * auto: attributes and names cached for 1 s, file data kept while unchanged on the host.
	 * none would open every file with direct I/O, where this guest kernel refuses shared
	 * writable mmap (ENODEV); always would never show a change made on the host side of a
	 * volume. Measured in docs/performance.md.
	 */
	add(argv, "-o");
	add(argv, "cache=auto");
	/* file capabilities and ACLs of the images, as 9p passes them */
	add(argv, "-o");
	add(argv, "xattr");
	/* each mount in the share is its own file system in the guest (st_dev, inode numbers) */
	add(argv, "-o");
	add(argv, "announce_submounts");
	/* locks stay in the guest kernel: every container of the pod is in that one kernel */
	add(argv, "-o");
	add(argv, "no_posix_lock");
	add(argv, "-o");
	add(argv, "no_flock");
	/* its log is a file of the state directory: errors only, whatever the guest sends */
	add(argv, "-o");
	add(argv, "log_level=err");
	g_ptr_array_add(argv, NULL);
	return (GStrv)g_ptr_array_free(g_steal_pointer(&argv), FALSE);
}
