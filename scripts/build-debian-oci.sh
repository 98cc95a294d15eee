#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# build-debian-oci.sh — a real Debian bookworm userland as an OCI image-layout tarball, offline from
# Debian's archive only (mmdebstrap --variant=minbase), cached.
#
#   scripts/build-debian-oci.sh [--include PKG,PKG...] [--name REF] [--cache DIR]
#
# prints the path of the tarball on stdout; `ctr images import THAT` gives the image REF (default
# docker.io/cocoon-test/debian:bookworm: index.json carries the annotations containerd's importer reads,
# written by the helpers of scripts/build-busybox-oci.py). The tarball is kept in
# DIR/<key>/image.tar (DIR defaults to /var/cache/cocoon/debian-image) where key hashes the package list,
# the name, this script and build-busybox-oci.py, so a second call returns at once. A cold build takes
# about a minute with a warm apt cache (see the report of issue 14 for measured times).
#
# The packages come from the Debian sources this machine's apt uses (/etc/apt/sources.list{,.d/*}, only
# entries of deb.debian.org / security.debian.org / a Debian snapshot). mmdebstrap is installed with
# apt-get when missing (CI starts from a clean Debian 12). Docs, man pages and locales are left out
# (dpkg path-exclude) to keep the image small. Needs root (mmdebstrap's root mode) and python3.
# exit status: 0 ok, 1 failed, 2 usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
include=python3-minimal,libpython3-stdlib,sqlite3,stress-ng
name=docker.io/cocoon-test/debian:bookworm
cache=/var/cache/cocoon/debian-image
suite=bookworm

while [ $# -gt 0 ]; do
	case $1 in
	--include) include=$2; shift 2 ;;
	--name) name=$2; shift 2 ;;
	--cache) cache=$2; shift 2 ;;
	-h | --help) sed -n '3,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-debian-oci: unknown argument $1" >&2; exit 2 ;;
	esac
done

# the key: what decides the content; the archive itself is whatever the mirror serves that day
sorted=$(tr ',' '\n' <<<"$include" | sed '/^$/d' | sort -u | paste -sd, -)
key=$({ echo "$suite $sorted $name"; cat "$0" "$here/build-busybox-oci.py"; } | sha256sum | cut -c1-16)
out=$cache/$key/image.tar
if [ -s "$out" ]; then
	echo "$out"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "build-debian-oci: needs root (mmdebstrap root mode, apt-get)" >&2
	exit 1
fi
if ! command -v mmdebstrap >/dev/null; then
	echo "build-debian-oci: installing mmdebstrap with apt-get" >&2
	# quiet but not silent: a failure says why
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >&2; then
		apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends mmdebstrap >&2
	fi
fi

# the host's Debian sources as one-line entries (deb822 .sources and .list both)
sources_lines() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && grep -E '^[[:space:]]*deb[[:space:]]' "$f" | sed 's/\[[^]]*\]//'
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'function flush() { if (types ~ /(^| )deb( |$)/) { n = split(uris, u, " "); m = split(suites, s, " ");
				for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print "deb " u[i] " " s[j] " " comps }
				types = uris = suites = comps = "" }
			/^[[:space:]]*$/ { flush(); next }
			/^Types:/ { sub(/^Types:[[:space:]]*/, ""); types = $0 }
			/^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
			/^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
			/^Components:/ { sub(/^Components:[[:space:]]*/, ""); comps = $0 }
			END { flush() }' "$f"
	done
}
mirrors=()
while read -r line; do
	mirrors+=("$line")
done < <(sources_lines | awk '$2 ~ /(deb|security)\.debian\.org|snapshot\.debian\.org/ && $3 ~ /^'"$suite"'(-updates|-security)?$/' | sort -u)
if [ ${#mirrors[@]} -eq 0 ]; then
	mirrors=("deb http://deb.debian.org/debian $suite main")
fi

mkdir -p "$cache/$key"
tmp=$(mktemp -d "$cache/$key/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
export SOURCE_DATE_EPOCH=0
mmdebstrap --variant=minbase --include="$sorted" --mode=root --format=tar -q \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
	--customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*' \
	"$suite" "$tmp/rootfs.tar" "${mirrors[@]}" >&2

python3 - "$here/build-busybox-oci.py" "$tmp/rootfs.tar" "$tmp/image.tar" "$name" <<'EOF_PY'
# wraps a rootfs tar as a one-layer OCI image layout with the helpers of build-busybox-oci.py
import gzip, hashlib, importlib.util, io, os, sys, tarfile
helper_path, rootfs, out, name = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("build_busybox_oci", helper_path)
oci = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oci)
name = oci.normalize(name)
tag = name.rsplit(":", 1)[1]

# stream: the uncompressed digest (diff_id) and the gzip digest in one pass
layer_path = out + ".layer"
diff = hashlib.sha256()
with open(rootfs, "rb") as src, open(layer_path, "wb") as raw:
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) as gz:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            diff.update(chunk)
            gz.write(chunk)
comp = hashlib.sha256()
with open(layer_path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        comp.update(chunk)
layer_digest = "sha256:" + comp.hexdigest()
layer_size = os.path.getsize(layer_path)

config = oci.jbytes({
    "architecture": "amd64",
    "os": "linux",
    "created": "1970-01-01T00:00:00Z",
    "config": {"Env": [oci.PATH_ENV], "Cmd": ["bash"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff.hexdigest()]},
    "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "build-debian-oci.sh (mmdebstrap)"}],
})
manifest = oci.jbytes({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": oci.sha(config),
               "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                "size": layer_size}],
})
index = oci.jbytes({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": oci.sha(manifest),
        "size": len(manifest),
        "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
    }],
})
with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for d in ("blobs/", "blobs/sha256/"):
        tar.addfile(oci.tar_info(d, tarfile.DIRTYPE, 0o755))
    for path, data in (("oci-layout", oci.jbytes({"imageLayoutVersion": "1.0.0"})), ("index.json", index),
                       ("blobs/sha256/" + oci.sha(config)[7:], config),
                       ("blobs/sha256/" + oci.sha(manifest)[7:], manifest)):
        tar.addfile(oci.tar_info(path, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    with open(layer_path, "rb") as f:
        tar.addfile(oci.tar_info("blobs/sha256/" + layer_digest[7:], tarfile.REGTYPE, 0o644, layer_size), f)
os.unlink(layer_path)
print("build-debian-oci: %s manifest %s layer %d bytes" % (name, oci.sha(manifest), layer_size),
      file=sys.stderr)
EOF_PY

mv "$tmp/image.tar" "$out"
echo "build-debian-oci: built $out in $(($(date +%s) - start)) s" >&2
echo "$out"
