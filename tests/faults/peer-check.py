#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""peer-check.py ttrpc|dbus SOCKET [UID] — connects to a listening socket as UID (default: stay
root) and tries one exchange: a ttrpc Task.Connect request, or the D-Bus EXTERNAL authentication.
Prints "answered" or "refused" (connection closed, reset or the authentication rejected) and exits 0;
2 on a usage or connect error. The fault suite's security scenario checks that only root gets
answers (SO_PEERCRED / the D-Bus auth observer), with root itself as the control."""
import os
import socket
import struct
import sys


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def ttrpc(sock):
    payload = field(1, b"c1")  # ConnectRequest{id}
    request = field(1, b"containerd.task.v2.Task") + field(2, b"Connect") + field(3, payload)
    sock.sendall(struct.pack(">IIBB", len(request), 1, 1, 0) + request)
    header = sock.recv(10)
    return "answered" if len(header) == 10 else "refused"


def dbus(sock):
    uid = str(os.getuid()).encode().hex().encode()
    sock.sendall(b"\0AUTH EXTERNAL " + uid + b"\r\n")
    line = sock.recv(4096)
    return "answered" if line.startswith(b"OK ") else "refused"


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("ttrpc", "dbus"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if len(sys.argv) > 3:
        uid = int(sys.argv[3])
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(sys.argv[2])
    except OSError as error:
        print(f"connect: {error}", file=sys.stderr)
        return 2
    try:
        print(ttrpc(sock) if sys.argv[1] == "ttrpc" else dbus(sock))
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        print("refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
