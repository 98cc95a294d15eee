/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "cocoon-vm-config.h"

G_BEGIN_DECLS

/*
 * Does KVM really run guest code here? Opening /dev/kvm is not enough: a PVM host
 * (kvm_pvm) offers /dev/kvm, runs tiny real-mode programs, and then crawls through a normal
 * guest kernel (string instructions are emulated one iteration at a time; clearing the
 * kernel's BSS takes minutes). So the probe, in a forked child, runs two guest programs: a
 * real-mode "mov al,0x42; out 0x10,al; hlt", then in 64-bit mode with paging a 2 MiB
 * "rep stosb" (what a kernel's memset does) that must reach its out/hlt within budget_ms
 * (normal KVM: about a millisecond). The child is SIGKILLed when it overruns.
 *
 * TRUE: KVM works, ret_detail says what ran and how long it took. FALSE: error says why
 * (G_IO_ERROR_NOT_FOUND no /dev/kvm, _PERMISSION_DENIED, _NOT_SUPPORTED, _TIMED_OUT too slow).
 * Callable from anywhere, e.g. `cocoonctl check`; not cached.
 */
#define COCOON_KVM_PROBE_BUDGET_MS 250

gboolean cocoon_kvm_probe(guint budget_ms, gchar **ret_detail, GError **error);

/*
 * AUTO becomes KVM or TCG by the probe (run once per process, thread-safe, logged once with
 * g_message, including why TCG was chosen); KVM and TCG are returned as they are. ret_reason
 * (optional, static) says why. The verdict is cached for the host's boot in
 * COCOON_ACCEL_CACHE_PATH (keyed by boot_id and the /dev/kvm node; $COCOON_ACCEL_CACHE names
 * another file, "" disables it): only the first shim of a boot pays for the probe.
 */
#define COCOON_ACCEL_CACHE_PATH "/run/cocoon/accel"

CocoonAccel cocoon_accel_resolve(CocoonAccel requested, const gchar **ret_reason);

/*
 * the host TSC frequency in kHz, for tsc_early_khz= on microvm under TCG (whose guest TSC runs
 * at the host rate): measured against CLOCK_MONOTONIC_RAW (3 x 20 ms) once per boot (cached
 * with the accelerator's verdict); 0 when it cannot be known (not x86, no constant TSC)
 */
guint cocoon_host_tsc_khz(void);

G_END_DECLS
