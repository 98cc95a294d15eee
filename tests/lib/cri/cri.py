# SPDX-License-Identifier: Apache-2.0
"""cri.py: a small CRI (k8s.io/cri-api runtime.v1) client for Cocoon's tests, library and CLI.

The python stubs are generated from api.proto beside this file with grpc_tools.protoc into
CRI_GEN_DIR (default: a directory under /tmp keyed by the proto's hash), once; Debian's
python3-grpcio, python3-grpc-tools and python3-protobuf are all it needs.

  cri.py [--address SOCK] [--timings FILE] COMMAND ...

Commands: version, runp, create, start, exec, status, stop, rm, stopp, rmp, pods, ps, podstatus;
create and exec take the container's command after "--", e.g.
  cri.py --address SOCK exec ID --timeout 5 -- sh -c 'echo hi'
Every RPC's wall time is appended to --timings (or $CRI_TIMINGS) as "METHOD SECONDS LABEL".
Errors from the runtime end the CLI with 255 and "cri.py: METHOD: CODE: DETAILS" on stderr; exec
ends with the exit code of the command it ran.
"""

import argparse
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "api.proto")

api = None  # the generated api_pb2 module, set by load_api()


def load_api(gen_dir=None):
    """generate (once) and import the runtime.v1 messages; returns the api_pb2 module"""
    global api
    if api is not None:
        return api
    with open(PROTO, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    gen_dir = gen_dir or os.environ.get("CRI_GEN_DIR") or os.path.join(
        tempfile.gettempdir(), "cocoon-cri-gen-" + digest)
    stamp = os.path.join(gen_dir, "api_pb2.py")
    if not os.path.exists(stamp):
        os.makedirs(gen_dir, exist_ok=True)
        # into a private directory first, then renamed: concurrent callers never see half a file
        tmp = tempfile.mkdtemp(dir=gen_dir)
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + HERE,
                        "--python_out=" + tmp, PROTO], check=True)
        os.replace(os.path.join(tmp, "api_pb2.py"), stamp)
        os.rmdir(tmp)
    sys.path.insert(0, gen_dir)
    api = importlib.import_module("api_pb2")
    return api


class CriError(Exception):
    def __init__(self, method, code, details):
        super().__init__("%s: %s: %s" % (method, code, details))
        self.method = method
        self.code = code
        self.details = details


class Client:
    """one gRPC channel to a CRI endpoint (containerd's socket); every call has a deadline"""

    def __init__(self, address, timings=None, label="", timeout=300.0):
        import grpc  # imported here so that --help works without python3-grpcio

        self._grpc = grpc
        load_api()
        target = address if address.startswith("unix:") else "unix://" + address
        self.channel = grpc.insecure_channel(target)
        self.timings = timings
        self.label = label
        self.timeout = timeout

    def close(self):
        self.channel.close()

    def call(self, service, method, request, response_type, timeout=None):
        stub = self.channel.unary_unary(
            "/runtime.v1.%s/%s" % (service, method),
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_type.FromString)
        start = time.monotonic()
        try:
            return stub(request, timeout=timeout or self.timeout)
        except self._grpc.RpcError as e:
            raise CriError(method, e.code().name, e.details()) from None
        finally:
            elapsed = time.monotonic() - start
            if self.timings:
                with open(self.timings, "a") as f:
                    f.write("%s %.3f %s\n" % (method, elapsed, self.label))

    def runtime(self, method, request, response_type, timeout=None):
        return self.call("RuntimeService", method, request, response_type, timeout)

    # the RuntimeService calls a kubelet makes for one pod, in order

    def version(self):
        return self.runtime("Version", api.VersionRequest(version="v1"), api.VersionResponse)

    def run_pod_sandbox(self, config, runtime_handler=""):
        reply = self.runtime("RunPodSandbox",
                             api.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler),
                             api.RunPodSandboxResponse)
        return reply.pod_sandbox_id

    def create_container(self, pod_id, config, pod_config):
        reply = self.runtime("CreateContainer",
                             api.CreateContainerRequest(pod_sandbox_id=pod_id, config=config,
                                                        sandbox_config=pod_config),
                             api.CreateContainerResponse)
        return reply.container_id

    def start_container(self, container_id):
        self.runtime("StartContainer", api.StartContainerRequest(container_id=container_id),
                     api.StartContainerResponse)

    def exec_sync(self, container_id, cmd, timeout=10):
        """returns (stdout bytes, stderr bytes, exit code); timeout 0 means none (as in the CRI)"""
        reply = self.runtime("ExecSync",
                             api.ExecSyncRequest(container_id=container_id, cmd=cmd, timeout=timeout),
                             api.ExecSyncResponse,
                             timeout=(timeout + 60) if timeout else None)
        return reply.stdout, reply.stderr, reply.exit_code

    def exec_url(self, container_id, cmd, tty, stdin):
        """Exec: the streaming server's URL for the session (stream.py speaks it)"""
        reply = self.runtime("Exec", api.ExecRequest(container_id=container_id, cmd=cmd, tty=tty,
                                                     stdin=stdin, stdout=True, stderr=not tty),
                             api.ExecResponse)
        return reply.url

    def attach_url(self, container_id, tty, stdin):
        reply = self.runtime("Attach", api.AttachRequest(container_id=container_id, tty=tty,
                                                         stdin=stdin, stdout=True,
                                                         stderr=not tty),
                             api.AttachResponse)
        return reply.url

    def container_status(self, container_id, verbose=False):
        return self.runtime("ContainerStatus",
                            api.ContainerStatusRequest(container_id=container_id, verbose=verbose),
                            api.ContainerStatusResponse)

    def stop_container(self, container_id, timeout=10):
        self.runtime("StopContainer", api.StopContainerRequest(container_id=container_id,
                                                               timeout=timeout),
                     api.StopContainerResponse, timeout=timeout + 120)

    def remove_container(self, container_id):
        self.runtime("RemoveContainer", api.RemoveContainerRequest(container_id=container_id),
                     api.RemoveContainerResponse)

    def stop_pod_sandbox(self, pod_id):
        self.runtime("StopPodSandbox", api.StopPodSandboxRequest(pod_sandbox_id=pod_id),
                     api.StopPodSandboxResponse)

    def remove_pod_sandbox(self, pod_id):
        self.runtime("RemovePodSandbox", api.RemovePodSandboxRequest(pod_sandbox_id=pod_id),
                     api.RemovePodSandboxResponse)

    def pod_sandbox_status(self, pod_id, verbose=False):
        return self.runtime("PodSandboxStatus",
                            api.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=verbose),
                            api.PodSandboxStatusResponse)

    def list_pod_sandboxes(self):
        return self.runtime("ListPodSandbox", api.ListPodSandboxRequest(),
                            api.ListPodSandboxResponse).items

    def list_containers(self, pod_id=""):
        request = api.ListContainersRequest()
        if pod_id:
            request.filter.pod_sandbox_id = pod_id
        return self.runtime("ListContainers", request, api.ListContainersResponse).containers


def pod_config(name, uid, namespace="default", attempt=0, log_directory="", hostname="",
               dns_servers=(), dns_searches=(), dns_options=(), labels=None, annotations=None,
               cgroup_parent="", pid_namespace="CONTAINER"):
    """a PodSandboxConfig shaped like the kubelet's for a pod without host namespaces"""
    load_api()
    config = api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=attempt),
        hostname=hostname or name, log_directory=log_directory,
        dns_config=api.DNSConfig(servers=list(dns_servers), searches=list(dns_searches),
                                 options=list(dns_options)),
        labels=labels or {}, annotations=annotations or {})
    linux = config.linux
    linux.cgroup_parent = cgroup_parent
    options = linux.security_context.namespace_options
    options.network = api.POD
    options.pid = getattr(api, pid_namespace)
    options.ipc = api.POD
    linux.security_context.seccomp.profile_type = api.SecurityProfile.Unconfined
    return config


def container_config(name, image, command=(), args=(), mounts=(), envs=None, log_path="",
                     working_dir="", attempt=0, labels=None, annotations=None, stdin=False,
                     tty=False):
    """a ContainerConfig; mounts are (host_path, container_path, readonly) tuples"""
    load_api()
    config = api.ContainerConfig(
        metadata=api.ContainerMetadata(name=name, attempt=attempt),
        image=api.ImageSpec(image=image), command=list(command), args=list(args),
        working_dir=working_dir, log_path=log_path,
        envs=[api.KeyValue(key=k, value=v) for k, v in (envs or {}).items()],
        mounts=[api.Mount(host_path=h, container_path=c, readonly=ro,
                          propagation=api.PROPAGATION_PRIVATE) for h, c, ro in mounts],
        labels=labels or {}, annotations=annotations or {}, stdin=stdin, tty=tty)
    config.linux.security_context.seccomp.profile_type = api.SecurityProfile.Unconfined
    return config


# the CLI

def to_json(message):
    from google.protobuf import json_format

    # with the defaults: SANDBOX_READY and CONTAINER_CREATED are enum value 0
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=1,
                                     sort_keys=True, including_default_value_fields=True)


def parse_mount(text):
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise argparse.ArgumentTypeError("--mount wants HOST:CONTAINER[:ro|rw], not %r" % text)
    return (parts[0], parts[1], len(parts) == 3 and parts[2] == "ro")


def parse_env(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("--env wants KEY=VALUE, not %r" % text)
    return (key, value)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="cri.py", description=__doc__.split("\n")[0])
    ap.add_argument("--address", default=os.environ.get("CONTAINER_RUNTIME_ENDPOINT", ""),
                    help="the CRI socket (default $CONTAINER_RUNTIME_ENDPOINT)")
    ap.add_argument("--timings", default=os.environ.get("CRI_TIMINGS", ""),
                    help="append 'METHOD SECONDS LABEL' for every RPC to this file")
    ap.add_argument("--label", default=os.environ.get("CRI_LABEL", ""),
                    help="the LABEL of the timing lines")
    sub = ap.add_subparsers(dest="command", required=True)

    sub.add_parser("version")

    p = sub.add_parser("runp", help="RunPodSandbox; prints the pod id")
    p.add_argument("--name", required=True)
    p.add_argument("--uid", required=True)
    p.add_argument("--namespace", default="default")
    p.add_argument("--log-dir", default="")
    p.add_argument("--hostname", default="")
    p.add_argument("--dns-server", action="append", default=[])
    p.add_argument("--dns-search", action="append", default=[])
    p.add_argument("--dns-option", action="append", default=[])
    p.add_argument("--cgroup-parent", default="")
    p.add_argument("--runtime-handler", default="")
    p.add_argument("--pid-namespace", default="CONTAINER", choices=("CONTAINER", "POD"),
                   help="NamespaceOption.pid: a process namespace per container or the pod's")
    p.add_argument("--config-out", required=True,
                   help="write the PodSandboxConfig here (JSON), for create --pod-config")

    p = sub.add_parser("create", help="CreateContainer; prints the container id")
    p.add_argument("pod_id")
    p.add_argument("--pod-config", required=True, help="the file runp --config-out wrote")
    p.add_argument("--name", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--mount", action="append", default=[], type=parse_mount,
                   metavar="HOST:CONTAINER[:ro|rw]")
    p.add_argument("--env", action="append", default=[], type=parse_env, metavar="KEY=VALUE")
    p.add_argument("--log-path", default="", help="relative to the pod's log directory")
    p.add_argument("--workdir", default="")
    p.add_argument("--stdin", action="store_true", help="keep the container's stdin open")
    p.add_argument("--tty", action="store_true")

    p = sub.add_parser("exec-tty", help="Exec with a TTY through the streaming server: sets the "
                       "size, runs 'stty size', resizes, runs 'stty size; exit 3' in an "
                       "interactive sh; prints the output, exits with the shell's code")
    p.add_argument("id")
    p.add_argument("--size", default="33x111", help="ROWSxCOLS at the start")
    p.add_argument("--resize", default="44x122", help="ROWSxCOLS after the first stty")

    p = sub.add_parser("attach", help="Attach (stdin, stdout): sends --send, waits for --expect")
    p.add_argument("id")
    p.add_argument("--send", required=True)
    p.add_argument("--expect", required=True)

    for name in ("start", "rm", "stopp", "rmp"):
        p = sub.add_parser(name)
        p.add_argument("id")

    p = sub.add_parser("stop")
    p.add_argument("id")
    p.add_argument("--timeout", type=int, default=10)

    p = sub.add_parser("exec", help="ExecSync; stdout/stderr pass through, exits with its code")
    p.add_argument("id")
    p.add_argument("--timeout", type=int, default=30)

    for name in ("status", "podstatus"):
        p = sub.add_parser(name, help="prints the status as JSON")
        p.add_argument("id")
        p.add_argument("--verbose", action="store_true")

    sub.add_parser("pods", help="ListPodSandbox, as JSON")
    p = sub.add_parser("ps", help="ListContainers, as JSON")
    p.add_argument("--pod", default="")

    # what follows "--" is the command of create and exec, never options of ours
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = []
    if "--" in argv:
        cmd = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    args = ap.parse_args(argv)
    args.cmd = cmd
    if args.command == "exec" and not cmd:
        ap.error("exec wants -- COMMAND ARGS...")
    if not args.address:
        ap.error("--address (or CONTAINER_RUNTIME_ENDPOINT) is needed")
    client = Client(args.address, timings=args.timings, label=args.label)
    try:
        return run(client, args)
    except CriError as e:
        print("cri.py: %s" % e, file=sys.stderr)
        return 255
    finally:
        client.close()


def run(client, args):
    from google.protobuf import json_format

    c = args.command
    if c == "version":
        print(to_json(client.version()))
    elif c == "runp":
        config = pod_config(args.name, args.uid, namespace=args.namespace,
                            log_directory=args.log_dir, hostname=args.hostname,
                            dns_servers=args.dns_server, dns_searches=args.dns_search,
                            dns_options=args.dns_option, cgroup_parent=args.cgroup_parent,
                            pid_namespace=args.pid_namespace)
        with open(args.config_out, "w") as f:
            f.write(to_json(config))
        print(client.run_pod_sandbox(config, args.runtime_handler))
    elif c == "create":
        with open(args.pod_config) as f:
            sandbox = json_format.Parse(f.read(), api.PodSandboxConfig())
        config = container_config(args.name, args.image, command=args.cmd,
                                  mounts=args.mount, envs=dict(args.env),
                                  log_path=args.log_path, working_dir=args.workdir,
                                  stdin=args.stdin, tty=args.tty)
        # as the kubelet does: the container's namespaces are the pod's
        config.linux.security_context.namespace_options.CopyFrom(
            sandbox.linux.security_context.namespace_options)
        print(client.create_container(args.pod_id, config, sandbox))
    elif c == "start":
        client.start_container(args.id)
    elif c == "exec":
        out, err, code = client.exec_sync(args.id, args.cmd, args.timeout)
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
        sys.stderr.buffer.write(err)
        sys.stderr.flush()
        return code
    elif c == "exec-tty":
        import stream

        rows, cols = (int(x) for x in args.size.split("x"))
        rows2, cols2 = (int(x) for x in args.resize.split("x"))
        url = client.exec_url(args.id, ["sh"], tty=True, stdin=True)
        out, code = stream.run_session(url, [
            ("resize", rows, cols), ("sleep", 0.5),
            ("send", b"stty size\n"), ("wait", b"%d %d" % (rows, cols)),
            ("resize", rows2, cols2), ("sleep", 0.5),
            ("send", b"stty size; exit 3\n")])
        sys.stdout.buffer.write(out.replace(b"\r", b""))
        return 255 if code is None else code
    elif c == "attach":
        import stream

        url = client.attach_url(args.id, tty=False, stdin=True)
        out, _ = stream.run_session(url, [("sleep", 0.5), ("send", args.send.encode() + b"\n"),
                                          ("wait", args.expect.encode())], timeout=30, drain=False)
        sys.stdout.buffer.write(out)
        return 0 if args.expect.encode() in out else 1
    elif c == "status":
        print(to_json(client.container_status(args.id, args.verbose)))
    elif c == "podstatus":
        print(to_json(client.pod_sandbox_status(args.id, args.verbose)))
    elif c == "stop":
        client.stop_container(args.id, args.timeout)
    elif c == "rm":
        client.remove_container(args.id)
    elif c == "stopp":
        client.stop_pod_sandbox(args.id)
    elif c == "rmp":
        client.remove_pod_sandbox(args.id)
    elif c == "pods":
        print(json.dumps([json.loads(to_json(p)) for p in client.list_pod_sandboxes()], indent=1))
    elif c == "ps":
        print(json.dumps([json.loads(to_json(x)) for x in client.list_containers(args.pod)],
                         indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
