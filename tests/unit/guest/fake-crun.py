#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# A fake crun for cocoon-agent's tests on a host without cgroup2: the same command line as crun,
# but process.args run as plain processes (no namespaces, no cgroups, no terminal). create forks
# the process and makes it wait on a fifo until start; the process is left to its grandparent
# (the agent is a child subreaper), like crun's.
import json
import os
import signal
import sys


def main():
    argv = sys.argv[1:]
    glob = {}
    while argv and argv[0].startswith("-"):
        key, _, value = argv.pop(0).lstrip("-").partition("=")
        glob[key] = value
    if "version" in glob:
        print("crun version 0.0.0-fake")
        return 0
    command = argv.pop(0)
    opts, pos = {}, []
    for arg in argv:
        if arg in ("-d", "--detach"):
            opts["detach"] = True
        elif arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            opts[key] = value
        else:
            pos.append(arg)
    root = glob["root"]

    def fail(message):
        log = glob.get("log", "")
        if log.startswith("file:"):
            with open(log[5:], "a") as f:
                f.write(message + "\n")
        sys.stderr.write(message + "\n")
        sys.exit(1)

    def state_dir(cid):
        return os.path.join(root, cid)

    def spawn(args, env, cwd, wait_fifo=None):
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                if wait_fifo is not None:
                    fd = os.open(wait_fifo, os.O_RDONLY)
                    os.read(fd, 1)
                    os.close(fd)
                os.chdir(cwd)
                environ = dict(e.split("=", 1) for e in env) if env else dict(os.environ)
                os.execvpe(args[0], args, environ)
            except Exception as e:  # noqa: BLE001
                sys.stderr.write("fake crun: exec %s: %s\n" % (args[0], e))
            os._exit(127)
        return pid

    if command == "create":
        cid = pos[0]
        if opts.get("console-socket"):
            fail("fake crun: no terminal support")
        with open(os.path.join(opts["bundle"], "config.json")) as f:
            config = json.load(f)
        state = state_dir(cid)
        if os.path.exists(state):
            fail("fake crun: container `%s` already exists" % cid)
        os.makedirs(state)
        fifo = os.path.join(state, "start")
        os.mkfifo(fifo)
        process = config["process"]
        pid = spawn(process["args"], process.get("env"), config["root"]["path"], fifo)
        with open(opts["pid-file"], "w") as f:
            f.write(str(pid))
        with open(os.path.join(state, "state.json"), "w") as f:
            json.dump({"pid": pid, "config": config}, f)
        return 0

    if command in ("start", "exec", "delete", "update", "kill"):
        cid = pos[0]
        state = state_dir(cid)
        if not os.path.exists(state):
            if command == "delete" and opts.get("force") is not None:
                return 0
            fail("fake crun: container `%s` does not exist" % cid)
        with open(os.path.join(state, "state.json")) as f:
            saved = json.load(f)

    if command == "start":
        try:
            fd = os.open(os.path.join(state, "start"), os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            fail("fake crun: start %s: %s" % (cid, e))
        os.write(fd, b"x")
        os.close(fd)
        return 0
    if command == "exec":
        if opts.get("console-socket"):
            fail("fake crun: no terminal support")
        with open(opts["process"]) as f:
            process = json.load(f)
        pid = spawn(process["args"], process.get("env"), saved["config"]["root"]["path"])
        with open(opts["pid-file"], "w") as f:
            f.write(str(pid))
        return 0
    if command == "delete":
        try:
            os.kill(saved["pid"], signal.SIGKILL)
        except OSError:
            pass
        for name in os.listdir(state):
            os.unlink(os.path.join(state, name))
        os.rmdir(state)
        return 0
    if command == "update":
        with open(opts["resources"]) as f:
            json.load(f)
        return 0
    if command == "kill":
        os.kill(saved["pid"], int(pos[1]) if len(pos) > 1 else signal.SIGTERM)
        return 0
    fail("fake crun: unknown command %s" % command)
    return 1


if __name__ == "__main__":
    sys.exit(main())
