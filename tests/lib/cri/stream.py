# SPDX-License-Identifier: Apache-2.0
"""The client side of the CRI streaming server (Exec, Attach) that containerd runs, as kubectl's
websocket path speaks it: one WebSocket with the "v4.channel.k8s.io" subprotocol, each message's
first byte the channel (0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize). Standard library
only: a minimal RFC 6455 client (masked client frames, no extensions)."""

import base64
import json
import os
import select
import socket
import struct
import time
import urllib.parse

STDIN, STDOUT, STDERR, ERROR, RESIZE = range(5)


class StreamError(Exception):
    pass


class Channels:
    def __init__(self, url, timeout=60.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http":
            raise StreamError("unexpected streaming URL %r" % url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        path = parts.path + ("?" + parts.query if parts.query else "")
        request = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n" % (path, parts.netloc, key))
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise StreamError("the streaming server closed during the handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise StreamError("handshake refused: %s" % status.decode(errors="replace"))
        self.buffer = b""
        self.closed = False

    def _send_frame(self, payload, opcode=0x2):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, channel, data):
        self._send_frame(bytes([channel]) + data)

    def resize(self, rows, cols):
        self.send(RESIZE, json.dumps({"Width": cols, "Height": rows}).encode())

    def _read_exact(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def receive(self, timeout):
        """(channel, data) of the next data message; None on timeout; EOFError once closed"""
        if not self.buffer:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return None
        b0, b1 = self._read_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read_exact(8))[0]
        if b1 & 0x80:
            mask = self._read_exact(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read_exact(n)))
        else:
            payload = self._read_exact(n)
        opcode = b0 & 0x0F
        if opcode == 0x8:
            self.closed = True
            raise EOFError
        if opcode == 0x9:
            self._send_frame(payload, 0xA)
            return self.receive(timeout)
        if opcode not in (0x1, 0x2) or not payload:
            return self.receive(timeout)
        return payload[0], payload[1:]

    def close(self):
        try:
            if not self.closed:
                self._send_frame(b"", 0x8)
        except OSError:
            pass
        self.sock.close()


def exit_code_of(status):
    """the exit code the v4 status message (channel 3) carries: 0 for Success"""
    try:
        message = json.loads(status)
    except ValueError:
        return 255
    if message.get("status") == "Success":
        return 0
    for cause in message.get("details", {}).get("causes", []):
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", 255))
    return 255


def run_session(url, steps, timeout=60.0, drain=True):
    """runs steps against a stream: ("resize", rows, cols), ("send", bytes), ("wait", bytes: until
    stdout has it), ("sleep", seconds), ("close-stdin",). Returns (stdout bytes, exit code or
    None when the stream ended without a status)."""
    channels = Channels(url, timeout)
    out = b""
    code = None
    deadline = time.monotonic() + timeout

    def pump(until=None):
        nonlocal out, code
        while time.monotonic() < deadline:
            if until is not None and until in out:
                return True
            try:
                message = channels.receive(0.2)
            except EOFError:
                return until is None
            if message is None:
                if until is None:
                    return True
                continue
            channel, data = message
            if channel in (STDOUT, STDERR):
                out += data
            elif channel == ERROR:
                code = exit_code_of(data)
        return False

    try:
        for step in steps:
            if step[0] == "resize":
                channels.resize(step[1], step[2])
            elif step[0] == "send":
                channels.send(STDIN, step[1])
            elif step[0] == "wait":
                if not pump(step[1]):
                    raise StreamError("no %r in the output within the timeout; got %r"
                                      % (step[1], out[-300:]))
            elif step[0] == "sleep":
                end = time.monotonic() + step[1]
                while time.monotonic() < end:
                    pump()
        # the rest, until the server closes the stream (an exec's end); an attach is left open
        while drain and time.monotonic() < deadline and not channels.closed:
            try:
                message = channels.receive(0.5)
            except EOFError:
                break
            if message is None:
                continue
            channel, data = message
            if channel in (STDOUT, STDERR):
                out += data
            elif channel == ERROR:
                code = exit_code_of(data)
    finally:
        channels.close()
    return out, code
