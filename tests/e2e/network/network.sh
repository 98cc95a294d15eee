#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Pod networking through real parts: Debian's CNI plugins (bridge + host-local) configure the pod's
# network namespace, containerd + ctr run the pods with runtime io.containerd.cocoon.v2, the shim
# wires the namespace into the VM (tap + tc redirects, virtio-net) and cocoon-agent configures the
# guest. ctr run --cni takes its network from the first file in /etc/cni/net.d: this test puts its
# own conflist there for its run (00-cocoon-e2e.conflist, with a private IPAM dir) and removes it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=${COCOON_BUILD_DIR:-${MESON_BUILD_ROOT:-$repo/build}}
. "$repo/tests/lib/containerd.sh"
. "$repo/tests/lib/guest-image.sh"

require_root_or_skip
command -v containerd >/dev/null || skip_loudly "containerd is not installed"
command -v qemu-system-x86_64 >/dev/null || skip_loudly "qemu-system-x86_64 is not installed"
for tool in ip tc nsenter python3; do
	command -v "$tool" >/dev/null || skip_loudly "$tool is not installed"
done
cni_bin=
for dir in /opt/cni/bin /usr/lib/cni; do
	[ -x "$dir/bridge" ] && [ -x "$dir/host-local" ] && { cni_bin=$dir; break; }
done
[ -n "$cni_bin" ] || skip_loudly "no CNI plugins (apt-get install containernetworking-plugins)"
[ -x "$build/src/shim/containerd-shim-cocoon-v2" ] || skip_loudly "shim not built in $build"
guest_image_ensure || skip_loudly "no guest image (see above)"

work=$(mktemp -d /tmp/cocoon-net.XXXXXX)
ns=cocoon-net
bridge=cocoon-e2e0
subnet_prefix=10.204.0
conf_dir=/etc/cni/net.d
conf=$conf_dir/00-cocoon-e2e.conflist
made_conf_dir=
netns_name=cocoon-e2e-$$
failures=0
cleanup() {
	set +e
	for t in $($CTR -n $ns tasks ls -q 2>/dev/null); do $CTR -n $ns tasks kill -s SIGKILL "$t"; done
	sleep 1
	for t in $($CTR -n $ns tasks ls -q 2>/dev/null); do $CTR -n $ns tasks rm -f "$t"; done
	for c in $($CTR -n $ns containers ls -q 2>/dev/null); do $CTR -n $ns containers rm "$c"; done
	containerd_stop
	pkill -9 -f "containerd-shim-cocoon-v2.*-namespace $ns" 2>/dev/null
	pkill -9 -f "qemu-system-x86_64.*$work/state" 2>/dev/null
	if [ -e "/var/run/netns/$netns_name" ]; then
		cni del >/dev/null 2>&1
		ip netns del "$netns_name"
	fi
	rm -f "$conf"
	[ -z "$made_conf_dir" ] || rmdir "$conf_dir" 2>/dev/null
	ip link del "$bridge" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
qemu_pid_of() { pgrep -f "qemu-system-x86_64.*$work/state/$1/" | head -n1; }
bridge_ports() { ip -o link show master "$bridge" 2>/dev/null | wc -l; }
status_of() { $C tasks ls | awk -v id="$1" '$1 == id {print $3}'; }
wait_status() { # ID STATUS SECONDS
	local i
	for i in $(seq 1 $(($3 * 5))); do
		[ "$(status_of "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
# the container's eth0 address, from inside
address_of() { $C task exec --exec-id "addr$RANDOM" "$1" ip -o -4 addr show dev eth0 | awk '{print $4}' | cut -d/ -f1; }
# a host process fetching a URL (python3: no extra package)
fetch() { # URL TIMEOUT
	python3 -c 'import sys, urllib.request
sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read())' "$1" "$2" 2>/dev/null
}

# --- the CNI network: a bridge with the gateway on the host, addresses from a private IPAM dir
plugin_conf() {
	cat <<JSON
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$subnet_prefix.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$work/ipam"
      }
    }
JSON
}
[ -d "$conf_dir" ] || { mkdir -p "$conf_dir"; made_conf_dir=1; }
first=$(ls "$conf_dir" 2>/dev/null | grep -E '\.(conf|conflist|json)$' | sort | head -n1 || true)
if [ -n "$first" ] && [[ "$first" < "00-cocoon-e2e.conflist" ]]; then
	skip_loudly "$conf_dir/$first sorts before this test's conflist: ctr run --cni would use it"
fi
if ip link show "$bridge" >/dev/null 2>&1; then
	skip_loudly "a bridge $bridge exists already (another run of this test?)"
fi
{
	echo '{ "cniVersion": "1.0.0", "name": "cocoon-e2e", "plugins": ['
	plugin_conf
	echo '] }'
} >"$conf"
# one plugin invocation by hand, as CRI would (a named namespace)
cni() { # ADD|DEL
	{
		echo '{ "cniVersion": "1.0.0", "name": "cocoon-e2e",'
		plugin_conf | sed '1d'
	} | CNI_COMMAND=$1 CNI_CONTAINERID=$netns_name CNI_NETNS=/var/run/netns/$netns_name \
		CNI_IFNAME=eth0 CNI_PATH=$cni_bin "$cni_bin/bridge"
}

cat >"$work/cocoon.conf" <<CONF
hypervisor = { kernel = "$COCOON_GUEST_KERNEL"; initrd = "$COCOON_GUEST_INITRD"; memory_mib = 256; };
agent = { boot_timeout_ms = 60000; request_timeout_ms = 30000; };
runtime = { state_dir = "$work/state"; log_level = "debug"; };
CONF
export COCOON_CONFIG="$work/cocoon.conf"
export PATH="$build/src/shim:$PATH"
containerd_start "$work/containerd"
C="$CTR -n $ns"
image=docker.io/cocoon-test/busybox:latest
python3 "$repo/scripts/build-busybox-oci.py" "$work/busybox.tar" >/dev/null
$C images import "$work/busybox.tar" >/dev/null
rt="--runtime io.containerd.cocoon.v2"

# --- 1. ctr run --cni: the CNI address on eth0 inside the VM, the gateway answers
out=$(timeout 180 $C run --rm --cni $rt "$image" c1 \
	sh -c 'ip -o -4 addr show dev eth0; ip route; ping -c 2 -W 5 '$subnet_prefix'.1' 2>&1) || true
echo "$out" | sed 's/^/  c1| /'
c1_ip=$(echo "$out" | awk '$2 == "eth0" && $3 == "inet" {print $4}' | cut -d/ -f1 | head -n1)
if [ -n "$c1_ip" ] && [ "${c1_ip%.*}" = "$subnet_prefix" ]; then
	pass "c1 sees its CNI address $c1_ip on eth0"
else
	fail "c1 eth0 address: '$c1_ip'"
fi
echo "$out" | grep -q "^default via $subnet_prefix.1 dev eth0" && pass "c1 default route via the bridge" ||
	fail "c1 routes"
echo "$out" | grep -q "2 packets received" && pass "c1 pinged the gateway $subnet_prefix.1" ||
	fail "c1 ping of the gateway"

# --- 2. a server in a pod, reached from the host
timeout 180 $C run -d --cni $rt "$image" srv \
	sh -c 'echo hello-from-cocoon >/tmp/index.html; exec httpd -f -p 8080 -h /tmp'
wait_status srv RUNNING 30 || fail "srv: $(status_of srv)"
srv_ip=$(address_of srv || true)
[ -n "$srv_ip" ] && pass "srv has $srv_ip" || fail "srv has no address"
body=
for _ in $(seq 1 50); do
	body=$(fetch "http://$srv_ip:8080/index.html" 5 || true)
	[ -n "$body" ] && break
	sleep 0.2
done
[ "$body" = hello-from-cocoon ] && pass "the host reached httpd in srv" || fail "host → srv: '$body'"
# bulk both ways through the redirects (offloads, checksums, segmentation)
sum_in=$($C task exec --exec-id big srv sh -c \
	'dd if=/dev/urandom of=/tmp/big bs=1M count=8 2>/dev/null; md5sum </tmp/big' | cut -d' ' -f1)
sum_out=$(fetch "http://$srv_ip:8080/big" 60 | md5sum | cut -d' ' -f1)
[ -n "$sum_in" ] && [ "$sum_in" = "$sum_out" ] && pass "8 MiB from the VM to the host intact" ||
	fail "8 MiB VM → host: $sum_in vs $sum_out"
head -c 8388608 /dev/urandom >"$work/up"
(cd "$work" && exec python3 -m http.server 8099 --bind "$subnet_prefix.1" >/dev/null 2>&1) &
http_pid=$!
sleep 1
sum_host=$(md5sum <"$work/up" | cut -d' ' -f1)
sum_vm=$($C task exec --exec-id dl srv sh -c "wget -q -O - http://$subnet_prefix.1:8099/up | md5sum" | cut -d' ' -f1)
kill "$http_pid" 2>/dev/null || true
[ "$sum_host" = "$sum_vm" ] && pass "8 MiB from the host to the VM intact" ||
	fail "8 MiB host → VM: $sum_host vs $sum_vm"

# the wiring, seen from the pod's network namespace (QEMU lives in it)
qpid=$(qemu_pid_of srv)
if [ -n "$qpid" ]; then
	links=$(nsenter --net=/proc/$qpid/ns/net ip -o link)
	filters=$(nsenter --net=/proc/$qpid/ns/net tc filter show dev eth0 ingress)
	echo "$links" | grep -q " tap0_cocoon: " && pass "tap0_cocoon in the pod's namespace" ||
		fail "no tap in the pod's namespace: $links"
	echo "$filters" | grep -q "mirred (Egress Redirect to device tap0_cocoon)" &&
		pass "eth0 ingress redirects to the tap" || fail "eth0 filters: $filters"
	[ "$(readlink /proc/$qpid/ns/net)" != "$(readlink /proc/self/ns/net)" ] &&
		pass "QEMU runs in the pod's namespace, not the host's" || fail "QEMU in the host's namespace"
else
	fail "no QEMU for srv"
fi

# --- 3. a second pod on the same bridge reaches the first
# (no wget -T: busybox 1.35 wget crashes with it)
out=$(timeout 180 $C run --rm --cni $rt "$image" cli wget -q -O - "http://$srv_ip:8080/index.html" 2>&1) || true
[ "$out" = hello-from-cocoon ] && pass "pod cli reached pod srv" || fail "cli → srv: $out"

# --- 4. teardown: the pod's namespace goes with the VM, the bridge port with it
$C task kill -s SIGKILL srv
wait_status srv STOPPED 30 || true
$C task rm srv >/dev/null 2>&1 || true
$C containers rm srv
for _ in $(seq 1 50); do [ "$(bridge_ports)" = 0 ] && [ -z "$(qemu_pid_of srv)" ] && break; sleep 0.2; done
[ "$(bridge_ports)" = 0 ] && pass "no pod left on the bridge" || fail "bridge ports left: $(ip -o link show master $bridge)"
[ -z "$(qemu_pid_of srv)" ] && pass "srv's QEMU is gone" || fail "srv's QEMU still runs"

# --- 5. a named namespace configured before Create (CRI's way; ctr --with-ns): nothing left after
ip netns add "$netns_name"
cni ADD >"$work/cni-add.json" || fail "CNI ADD in $netns_name"
before=$(ip netns exec "$netns_name" ip -o link | awk -F': ' '{print $2}' | sort | tr '\n' ' ')
timeout 180 $C run -d --with-ns "network:/var/run/netns/$netns_name" $rt "$image" named sleep 100000
wait_status named RUNNING 30 || fail "named: $(status_of named)"
named_ip=$(address_of named || true)
expected_ip=$(ip netns exec "$netns_name" ip -o -4 addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
[ -n "$named_ip" ] && [ "$named_ip" = "$expected_ip" ] && pass "named pod has the namespace's $named_ip" ||
	fail "named pod: '$named_ip', namespace: '$expected_ip'"
out=$($C task exec --exec-id ping named ping -c 1 -W 5 "$subnet_prefix.1" 2>&1) || true
echo "$out" | grep -q "1 packets received" && pass "named pod pinged the gateway" || fail "named ping: $out"
ip netns exec "$netns_name" tc filter show dev eth0 ingress | grep -q "Egress Redirect to device tap0_cocoon" &&
	pass "named namespace: eth0 redirected to the tap" || fail "named namespace: no redirect"
$C task kill -s SIGKILL named
wait_status named STOPPED 30 || true
$C task rm named >/dev/null 2>&1 || true
$C containers rm named
after=$(ip netns exec "$netns_name" ip -o link | awk -F': ' '{print $2}' | sort | tr '\n' ' ')
qdiscs=$(ip netns exec "$netns_name" tc qdisc show)
filters=$(ip netns exec "$netns_name" tc filter show dev eth0 ingress 2>&1)
[ "$after" = "$before" ] && pass "teardown: the namespace has its links as before ($after)" ||
	fail "teardown: links $after (before: $before)"
echo "$qdiscs" | grep -q ingress && fail "teardown: an ingress qdisc is left: $qdiscs" ||
	pass "teardown: no ingress qdisc left"
[ -z "$filters" ] && pass "teardown: no filter left" || fail "teardown: filters left: $filters"
cni DEL >/dev/null || fail "CNI DEL"
ip netns del "$netns_name"

# --- 6. host networking is refused, a pod without networking has lo alone
out=$(timeout 60 $C run --rm --net-host $rt "$image" hostnet true 2>&1) && fail "--net-host ran" || true
echo "$out" | grep -q "host networking (--net-host) cannot be shared with a VM" &&
	pass "--net-host refused: ${out##*: create hostnet: }" || fail "--net-host: $out"
out=$(timeout 180 $C run --rm $rt "$image" nonet sh -c 'ip -o link | cut -d: -f2' 2>&1) || true
[ "$(echo $out)" = lo ] && pass "a pod without networking sees lo alone" || fail "nonet links: $out"

if [ "$failures" -gt 0 ]; then
	echo "--- containerd log (tail)"
	grep -E "level=(warning|error)|cocoon-network|cocoon-sandbox" "$work/containerd/containerd.log" | tail -n 60 || true
	exit 1
fi
echo "all network checks passed"
