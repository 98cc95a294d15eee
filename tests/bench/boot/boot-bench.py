#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Boot-time experiments: QEMU start -> cocoon-agent's first ttrpc Ping answer, N boots per variant.

Builds the command line the QEMU driver builds (src/hypervisor/cocoon-qemu-cmdline.c, TCG) and lets
one thing vary at a time, so each tuning decision in docs/performance.md can be measured again:

  boot-bench.py --kernel vmlinux --initrd initrd.img [-n 7] [--variant NAME=ARGS ...]

A variant is a list of knobs: machine=q35, qboot, cpu=MODEL, smp=2, mem=256, tb=64, append="...",
drop="word", mttcg, initrd=PATH,
mopts=",acpi=off" (appended to -machine). Variants are run round-robin (load drifts affect all alike); prints per-variant median, min,
max of the host-side time, QEMU's CPU time at that moment (less sensitive to a loaded host) and the
guest's uptime when the agent logged "ready".
"""
import argparse
import os
import re
import shlex
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

BASE_PARAMS = "console=ttyS0 panic=-1 quiet noreplace-smp random.trust_cpu=on"


def tsc_khz():
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    for pattern in (r"tsc: Refined TSC clocksource calibration: ([0-9.]+) MHz",
                    r"tsc: Detected ([0-9.]+) MHz"):
        m = re.findall(pattern, out)
        if m:
            return int(float(m[-1]) * 1000 + 0.5)
    for line in open("/proc/cpuinfo"):
        if line.startswith("cpu MHz"):
            return int(float(line.split(":")[1]) * 1000 + 0.5)
    return 0


def ping_frame(stream_id):
    # ttrpc Request{service=1, method=2, payload=3 (empty PingRequest), timeout_nano=4}
    def field(num, data):
        return bytes([num << 3 | 2]) + encode_varint(len(data)) + data
    body = field(1, b"cocoon.agent.v1.Agent") + field(2, b"Ping") + field(3, b"")
    body += bytes([4 << 3]) + encode_varint(60 * 10**9)
    return struct.pack(">IIBB", len(body), stream_id, 1, 0) + body


def encode_varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def build_argv(args, knobs, state):
    machine = knobs.get("machine", args.machine)
    microvm = machine == "microvm"
    params = BASE_PARAMS
    if microvm:
        params += " tsc_early_khz=%d" % args.tsc_khz
    for word in knobs.get("drop", []):
        params = " ".join(w for w in params.split() if w != word and not w.startswith(word + "="))
    if knobs.get("append"):
        params += " " + knobs["append"]
    bus = "device" if microvm else "pci"
    accel = "tcg,tb-size=%s" % knobs.get("tb", "32")
    if "mttcg" in knobs:
        accel += ",thread=multi"
    argv = [args.qemu, "-name", "guest=boot-bench,debug-threads=on",
            "-machine", ("microvm,rtc=on" if microvm else "q35") + knobs.get("mopts", ""),
            "-accel", accel, "-cpu", knobs.get("cpu", "max,-erms,-fsrm"), "-smp", str(knobs.get("smp", 1)),
            "-m", "%sM" % knobs.get("mem", args.memory),
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]
    if "qboot" in knobs:
        argv += ["-bios", "/usr/share/qemu/qboot.rom"]
    argv += ["-kernel", args.kernel, "-initrd", knobs.get("initrd", args.initrd), "-append", params,
             "-chardev", "file,id=console,path=%s/console.log" % state, "-serial", "chardev:console",
             "-chardev", "socket,id=qmp,path=%s/qmp.sock,server=on,wait=off" % state,
             "-mon", "chardev=qmp,mode=control",
             "-device", "virtio-serial-%s,id=vserial" % bus,
             "-chardev", "socket,id=agent,path=%s/agent.sock,server=on,wait=off" % state,
             "-device", "virtserialport,bus=vserial.0,chardev=agent,name=cocoon.agent",
             "-chardev", "socket,id=stdio,path=%s/stdio.sock,server=on,wait=off" % state,
             "-device", "virtserialport,bus=vserial.0,chardev=stdio,name=cocoon.stdio",
             "-fsdev", "local,id=shared,path=%s/shared,security_model=none,multidevs=remap" % state,
             "-device", "virtio-9p-%s,fsdev=shared,mount_tag=cocoon" % bus]
    return argv


def boot_once(args, knobs):
    state = tempfile.mkdtemp(prefix="cocoon-boot-", dir="/tmp")
    os.mkdir(os.path.join(state, "shared"))
    argv = build_argv(args, knobs, state)
    start = time.monotonic()
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(state, "qemu.log"), "w"))
    result = None
    try:
        sock = None
        while time.monotonic() - start < args.timeout:
            if qemu.poll() is not None:
                raise RuntimeError("QEMU exited %s: %s" % (qemu.returncode,
                                   open(os.path.join(state, "qemu.log")).read()[-500:]))
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(os.path.join(state, "agent.sock"))
                break
            except OSError:
                sock.close()
                sock = None
                time.sleep(0.005)
        # queued Pings are answered once the agent reads its port, the first answer is enough
        sock.sendall(ping_frame(1))
        sock.settimeout(args.timeout)
        data = sock.recv(4096)
        if not data:
            raise RuntimeError("agent socket closed")
        host_s = time.monotonic() - start
        # QEMU's CPU time so far: a load-independent view of the same boot
        fields = open("/proc/%d/stat" % qemu.pid).read().rsplit(")", 1)[1].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        guest_s = None
        console = open(os.path.join(state, "console.log"), errors="replace").read()
        m = re.search(r"\[\s*(\d+)\.(\d+)\] cocoon-agent: cocoon-agent \S+ ready", console)
        if m:
            guest_s = int(m.group(1)) + int(m.group(2)) / 1e6
        result = (host_s, guest_s, cpu_s)
        sock.close()
        if args.console_dir:
            os.makedirs(args.console_dir, exist_ok=True)
            with open(os.path.join(args.console_dir, "console-%d.log" % qemu.pid), "w") as f:
                f.write(console)
    finally:
        qemu.kill()
        qemu.wait()
        subprocess.run(["rm", "-rf", state])
    return result


def parse_variant(text):
    name, _, spec = text.partition("=")
    knobs = {}
    for item in shlex.split(spec):
        key, eq, value = item.partition("=")
        if key == "drop":
            knobs.setdefault("drop", []).append(value)
        elif key == "append":
            knobs["append"] = (knobs.get("append", "") + " " + value).strip()
        else:
            knobs[key] = value if eq else True
    return name, knobs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default=os.environ.get("COCOON_GUEST_KERNEL"))
    parser.add_argument("--initrd", default=os.environ.get("COCOON_GUEST_INITRD"))
    parser.add_argument("--qemu", default="qemu-system-x86_64")
    parser.add_argument("--machine", default="microvm")
    parser.add_argument("--memory", default="128")
    parser.add_argument("-n", "--runs", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--console-dir", help="keep each boot's console log there")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=KNOBS, e.g. 'q35-qboot=machine=q35 qboot'")
    args = parser.parse_args()
    if not args.kernel or not args.initrd:
        parser.error("--kernel and --initrd (or COCOON_GUEST_KERNEL/INITRD)")
    args.tsc_khz = tsc_khz()
    variants = [parse_variant(v) for v in args.variant] or [("default", {})]
    results = {name: [] for name, _ in variants}
    for i in range(args.runs):
        for name, knobs in variants:
            r = boot_once(args, knobs)
            results[name].append(r)
            print("run %d %-24s host %.3f s  QEMU CPU %.2f s  guest uptime at ready %s" % (
                i + 1, name, r[0], r[2], "%.3f s" % r[1] if r[1] is not None else "-"),
                file=sys.stderr, flush=True)
    print("%-24s %8s %8s %8s %10s %14s   (load %s)" % (
        "variant", "median", "min", "max", "CPU median", "guest median",
        open("/proc/loadavg").read().split()[0]))
    for name, _ in variants:
        host = [r[0] for r in results[name]]
        guest = [r[1] for r in results[name] if r[1] is not None]
        cpu = [r[2] for r in results[name]]
        print("%-24s %7.3fs %7.3fs %7.3fs %9.2fs %13s" % (
            name, statistics.median(host), min(host), max(host), statistics.median(cpu),
            "%.3fs" % statistics.median(guest) if guest else "-"))


if __name__ == "__main__":
    main()
