#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""peer-check.py ttrpc|dbus|oversized|garbage SOCKET [UID] — connects to a listening socket as UID
(default: stay root) and tries one exchange: a ttrpc Task.Connect request, the D-Bus EXTERNAL
authentication, a ttrpc frame one byte over 4 MiB followed by a Connect on the same connection, or
4 KiB of random bytes ("sent"). Prints "answered" or "refused" (connection closed, reset or the
authentication rejected) and exits 0; 2 on a usage or connect error. The fault suite's security
scenario checks that only root gets answers (SO_PEERCRED / the D-Bus auth observer), with root
itself as the control, and that bad frames cost the shim nothing."""
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


def recv_frame(sock):
    header = b""
    while len(header) < 10:
        chunk = sock.recv(10 - len(header))
        if not chunk:
            return None
        header += chunk
    length, stream, kind, _ = struct.unpack(">IIBB", header)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return stream, kind, body


def oversized(sock):
    # one byte over ttrpc's 4 MiB: answered with an error on that stream, the connection stays
    size = 4 * 1024 * 1024 + 1
    sock.sendall(struct.pack(">IIBB", size, 3, 1, 0) + b"\0" * size)
    first = recv_frame(sock)
    if first is None or first[0] != 3:
        return "refused"
    return ttrpc(sock)


def garbage(sock):
    # whatever the server makes of it, it must not die; closes our side afterwards
    sock.sendall(os.urandom(4096))
    sock.shutdown(socket.SHUT_WR)
    try:
        while sock.recv(4096):
            pass
    except socket.timeout:
        pass
    return "sent"


def dbus(sock):
    uid = str(os.getuid()).encode().hex().encode()
    sock.sendall(b"\0AUTH EXTERNAL " + uid + b"\r\n")
    line = sock.recv(4096)
    return "answered" if line.startswith(b"OK ") else "refused"


def main():
    modes = {"ttrpc": ttrpc, "dbus": dbus, "oversized": oversized, "garbage": garbage}
    if len(sys.argv) < 3 or sys.argv[1] not in modes:
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
        print(modes[sys.argv[1]](sock))
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        print("refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
