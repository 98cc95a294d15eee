#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""qmp.py SOCKET COMMAND... — runs QMP commands (stop, cont, query-status, ...) on a QEMU monitor socket
behind cocoon's back and prints each answer; exit 1 on an error answer or no answer within 5 s.
Only the standard library: the fault suite pauses a guest with it."""
import json
import socket
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(sys.argv[1])
    stream = sock.makefile("rwb")

    def answer():
        # events may come first; the answer has "return" or "error"
        while True:
            line = stream.readline()
            if not line:
                raise EOFError("QEMU closed the monitor")
            message = json.loads(line)
            if "return" in message or "error" in message:
                return message

    json.loads(stream.readline())  # the greeting
    for command in ["qmp_capabilities"] + sys.argv[2:]:
        stream.write(json.dumps({"execute": command}).encode() + b"\n")
        stream.flush()
        message = answer()
        if "error" in message:
            print(f"{command}: {message['error']}", file=sys.stderr)
            return 1
        if command != "qmp_capabilities":
            print(json.dumps(message["return"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
