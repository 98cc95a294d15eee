#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""build-busybox-oci.py — builds an OCI image-layout tarball offline from busybox-static.

usage: build-busybox-oci.py OUT.tar [--name cocoon-test/busybox:latest] [--busybox /bin/busybox]
                             [--add SRC:DEST ...]

The image has one layer: /bin/busybox with every applet linked (bin/sh, bin/echo, ...), /etc/passwd,
/etc/group, /tmp (1777), /root, and each --add SRC:DEST file (mode 0755, e.g. a test's static probe as
usr/local/bin/fs-probe); config Cmd ["sh"], Env PATH. The output is deterministic (fixed mtimes,
owners and order, gzip without timestamp), so the same busybox gives the same digest.

index.json names the image with the annotations containerd's importer reads:
io.containerd.image.name = the full reference (docker.io/cocoon-test/busybox:latest) and
org.opencontainers.image.ref.name = the tag, as `ctr images export` writes them, so that

    ctr images import OUT.tar        # -> docker.io/cocoon-test/busybox:latest

needs no --base-name. Python 3 standard library only.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

MTIME = 0  # 1970-01-01: fixed so the digests are stable
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"


def normalize(name):
    """docker-style reference normalisation: busybox -> docker.io/library/busybox:latest"""
    if "@" in name:
        raise SystemExit("build-busybox-oci: --name must be a tag reference, not a digest")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = "docker.io/" + (name if rest else "library/" + name)
    last = name.rsplit("/", 1)[1]
    if ":" not in last:
        name += ":latest"
    return name


def tar_info(name, kind, mode, size=0, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = linkname
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def build_layer(busybox, extra=()):
    """returns the uncompressed layer tar (bytes); extra: (source path, path in the image)"""
    out = subprocess.run([busybox, "--list-full"], check=True, capture_output=True, text=True).stdout
    applets = sorted({a.strip() for a in out.split() if a.strip()} - {"bin/busybox", "linuxrc"})
    with open(busybox, "rb") as f:
        busybox_data = f.read()

    dirs = {"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
            "etc": 0o755, "tmp": 0o1777, "root": 0o700, "dev": 0o755, "proc": 0o755, "sys": 0o755,
            "var": 0o755}
    for _, dest in extra:
        parent = os.path.dirname(dest)
        while parent:
            dirs.setdefault(parent, 0o755)
            parent = os.path.dirname(parent)
    for a in applets:
        parent = os.path.dirname(a)
        while parent:
            dirs.setdefault(parent, 0o755)
            parent = os.path.dirname(parent)
    entries = []  # (path, kind, mode, data, linkname)
    for d, mode in dirs.items():
        entries.append((d, tarfile.DIRTYPE, mode, b"", ""))
    entries.append(("bin/busybox", tarfile.REGTYPE, 0o755, busybox_data, ""))
    entries.append(("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD, ""))
    entries.append(("etc/group", tarfile.REGTYPE, 0o644, GROUP, ""))
    for a in applets:
        entries.append((a, tarfile.SYMTYPE, 0o777, b"", "/bin/busybox"))
    for source, dest in extra:
        with open(source, "rb") as f:
            entries.append((dest, tarfile.REGTYPE, 0o755, f.read(), ""))
    entries.sort(key=lambda e: e[0])

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, kind, mode, data, link in entries:
            name = path + "/" if kind == tarfile.DIRTYPE else path
            info = tar_info(name, kind, mode, len(data), link)
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def gzip_bytes(data):
    buf = io.BytesIO()
    # no file name, mtime 0: deterministic
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def jbytes(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", metavar="OUT.tar")
    ap.add_argument("--name", default="cocoon-test/busybox:latest",
                    help="image reference (default cocoon-test/busybox:latest -> docker.io/cocoon-test/busybox:latest)")
    ap.add_argument("--busybox", default="/bin/busybox", help="a statically linked busybox (busybox-static)")
    ap.add_argument("--add", action="append", default=[], metavar="SRC:DEST",
                    help="also put the file SRC at DEST (relative, mode 0755) in the image")
    ap.add_argument("--cmd", action="append", default=None, metavar="ARG",
                    help="the image's Cmd, one ARG per option (default: sh)")
    args = ap.parse_args()
    extra = []
    for item in args.add:
        source, _, dest = item.partition(":")
        dest = dest.strip("/")
        if not source or not dest or ".." in dest.split("/"):
            raise SystemExit("build-busybox-oci: --add wants SRC:DEST with a relative DEST, not %r" % item)
        extra.append((source, dest))

    if not os.access(args.busybox, os.X_OK):
        raise SystemExit("build-busybox-oci: %s not found or not executable (apt-get install busybox-static)"
                         % args.busybox)
    name = normalize(args.name)
    tag = name.rsplit(":", 1)[1]

    layer = build_layer(args.busybox, extra)
    layer_gz = gzip_bytes(layer)
    config = jbytes({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": [PATH_ENV], "Cmd": args.cmd or ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(layer)]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "build-busybox-oci.py"}],
    })
    manifest = jbytes({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(layer_gz),
                    "size": len(layer_gz)}],
    })
    index = jbytes({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha(manifest),
            "size": len(manifest),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    })
    layout = jbytes({"imageLayoutVersion": "1.0.0"})

    files = [("oci-layout", layout), ("index.json", index)]
    for blob in (layer_gz, config, manifest):
        files.append(("blobs/sha256/" + sha(blob)[7:], blob))
    tmp = args.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs/", "blobs/sha256/"):
            tar.addfile(tar_info(d, tarfile.DIRTYPE, 0o755))
        for path, data in files:
            tar.addfile(tar_info(path, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    os.replace(tmp, args.out)
    print("%s: %s manifest %s (%d bytes)" % (args.out, name, sha(manifest), os.path.getsize(args.out)))


if __name__ == "__main__":
    sys.exit(main())
