#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# workloads-checks.sh — runs INSIDE a container of the Debian test image (scripts/build-debian-oci.sh),
# started by tests/e2e/fs/workloads.sh under each runtime:
#
#   sh workloads-checks.sh LOCATION DIR [HELLO.deb]
#
# runs every check in DIR (LOCATION names it in the output: rootfs or volume) and prints, before each check
#   BEGIN LOCATION CHECK hh:mm:ss
# and after it one line
#   RESULT LOCATION CHECK PASS|FAIL|SKIP seconds detail...
# the host script compares them between runtimes. Always exits 0: the verdict is the host's.
# Every check runs in its own sh under timeout(1): one that gets stuck reports FAIL "timed out after N s"
# and the next one runs (unless what is stuck holds the whole file system; the host's timeout ends that).
# knobs (environment): WL_TX transactions per writer, WL_ROWS rows per transaction, WL_STRESS_TIMEOUT
# seconds per stress-ng stressor, WL_STRESSORS the stressors to run (see the default below),
# WL_CHECK_TIMEOUT seconds a SQLite or dpkg check may take (a stress-ng check gets its stressor's time
# plus WL_CHECK_TIMEOUT / 2).
SELF=$0
LOCATION=$1
DIR=$2
DEB=${3:-}
TX=${WL_TX:-20}
ROWS=${WL_ROWS:-25}
STRESS_TIMEOUT=${WL_STRESS_TIMEOUT:-5}
STRESSORS=${WL_STRESSORS:-hdd flock fcntl lockf mmap dir rename link symlink xattr fallocate dentry}
CHECK_TIMEOUT=${WL_CHECK_TIMEOUT:-240}

# WL_ONE="FUNCTION [ARG]": run_check below runs this script again for one check, in the same DIR
if [ -z "${WL_ONE:-}" ]; then
	rm -rf "$DIR"
	mkdir -p "$DIR" || exit 0
fi
cd "$DIR" || exit 0

now() { date +%s.%N; }
report() { # CHECK STATUS START DETAIL...
	check=$1 status=$2 start=$3
	shift 3
	printf 'RESULT %s %s %s %.1f %s\n' "$LOCATION" "$check" "$status" \
		"$(echo "$(now) - $start" | awk '{ print $1 - $3 }')" "$(echo "$*" | tr '\n' ' ')"
}

# two sqlite3 processes write at once into one WAL database, each TX transactions of ROWS rows
sqlite_wal() {
	t0=$(now)
	db=$DIR/wal.db
	mode=$(sqlite3 "$db" "PRAGMA journal_mode=wal; CREATE TABLE t(id INTEGER PRIMARY KEY, w INTEGER, v TEXT);" 2>&1)
	for w in 1 2; do
		{
			echo ".timeout 30000"
			i=0
			while [ $i -lt "$TX" ]; do
				echo "BEGIN IMMEDIATE;"
				j=0
				while [ $j -lt "$ROWS" ]; do
					echo "INSERT INTO t(w, v) VALUES($w, 'row $i.$j of writer $w');"
					j=$((j + 1))
				done
				echo "COMMIT;"
				i=$((i + 1))
			done
		} >"$DIR/writer$w.sql"
	done
	sqlite3 -bail "$db" <"$DIR/writer1.sql" >"$DIR/writer1.out" 2>&1 &
	p1=$!
	sqlite3 -bail "$db" <"$DIR/writer2.sql" >"$DIR/writer2.out" 2>&1 &
	p2=$!
	wait $p1
	r1=$?
	wait $p2
	r2=$?
	want=$((2 * TX * ROWS))
	count=$(sqlite3 "$db" "SELECT count(*) FROM t;" 2>&1)
	per=$(sqlite3 "$db" "SELECT group_concat(n) FROM (SELECT count(*) AS n FROM t GROUP BY w ORDER BY w);" 2>&1)
	integrity=$(sqlite3 "$db" "PRAGMA integrity_check;" 2>&1)
	journal=$(sqlite3 "$db" "PRAGMA journal_mode;" 2>&1)
	# how often the writer changes in commit order: > 1 shows the two really ran at once (information)
	switches=$(sqlite3 "$db" "SELECT count(*) FROM t a JOIN t b ON b.id = a.id + 1 WHERE a.w != b.w;" 2>&1)
	detail="writers=$r1,$r2 rows=$count/$want per-writer=$per integrity=$integrity journal=$journal switches=$switches"
	if [ "$mode" = wal ] && [ $r1 = 0 ] && [ $r2 = 0 ] && [ "$count" = "$want" ] &&
		[ "$per" = "$((TX * ROWS)),$((TX * ROWS))" ] && [ "$integrity" = ok ] && [ "$journal" = wal ]; then
		report sqlite-wal PASS "$t0" "$detail"
	else
		report sqlite-wal FAIL "$t0" "$detail set=$mode $(head -c 200 "$DIR/writer1.out" "$DIR/writer2.out" | tr '\n' ' ')"
	fi
}

# python3 sqlite3: another process holds BEGIN EXCLUSIVE, this one must get "database is locked"
# (fcntl locks on the database file), then write once the holder committed
sqlite_lock() {
	t0=$(now)
	out=$(python3 - "$DIR/lock.db" 2>&1 <<'EOF_PY'
import sqlite3, subprocess, sys
db = sys.argv[1]
c = sqlite3.connect(db, isolation_level=None)
c.execute("CREATE TABLE t(x)")
c.close()
holder = subprocess.Popen([sys.executable, "-c", """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
c.execute("INSERT INTO t VALUES (1)")
print("held", flush=True)
sys.stdin.read()
c.execute("COMMIT")
""", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
if holder.stdout.readline().strip() != "held":
    print("holder failed")
    sys.exit(1)
other = sqlite3.connect(db, timeout=0.3, isolation_level=None)
try:
    other.execute("INSERT INTO t VALUES (2)")
    blocked = "not-locked"
except sqlite3.OperationalError as e:
    blocked = str(e).replace(" ", "-")
try:
    other.execute("SELECT count(*) FROM t").fetchone()
    reader = "read-ok"
except sqlite3.OperationalError as e:
    reader = "read:" + str(e).replace(" ", "-")
holder.stdin.close()
holder.wait()
other.execute("INSERT INTO t VALUES (3)")
rows = other.execute("SELECT group_concat(x) FROM t").fetchone()[0]
print("second=%s while-held=%s holder=%d rows=%s" % (blocked, reader, holder.returncode, rows))
EOF_PY
	)
	case $out in
	"second=database-is-locked while-held=read:database-is-locked holder=0 rows=1,3")
		report sqlite-lock PASS "$t0" "$out" ;;
	*) report sqlite-lock FAIL "$t0" "$(echo "$out" | tail -3 | tr '\n' ' ')" ;;
	esac
}

stress() { # STRESSOR
	t0=$(now)
	case $1 in
	hdd) opts="--hdd 1 --hdd-bytes 4M" ;;
	dir) opts="--dir 1 --dir-dirs 1024" ;;
	mmap) opts="--mmap 1 --mmap-file --mmap-bytes 4M" ;;
	fallocate) opts="--fallocate 1 --fallocate-bytes 4M" ;;
	*) opts="--$1 1" ;;
	esac
	mkdir -p "$DIR/stress-$1"
	# shellcheck disable=SC2086
	timeout -k 10 $((STRESS_TIMEOUT * 4 + 30)) stress-ng $opts --verify --metrics-brief --timeout "${STRESS_TIMEOUT}s" \
		--temp-path "$DIR/stress-$1" >"$DIR/stress-$1.log" 2>&1
	rc=$?
	[ -z "${WL_SHOW_LOGS:-}" ] || sed "s/^/  $1: /" "$DIR/stress-$1.log"
	# 0 passed; 3 (no resource) and 4 (not implemented) mean the stressor skipped itself
	ops=$(awk -v s="$1" '$4 == s && $5 ~ /^[0-9]+$/ { print $5; exit }' "$DIR/stress-$1.log")
	detail="rc=$rc bogo-ops=${ops:-?} $(grep -m1 -iE 'fail|error|skipp|not (implemented|supported)' "$DIR/stress-$1.log" | head -c 160)"
	case $rc in
	0) report "stress-$1" PASS "$t0" "$detail" ;;
	3 | 4) report "stress-$1" SKIP "$t0" "$detail" ;;
	*) report "stress-$1" FAIL "$t0" "$detail" ;;
	esac
}

# a whole workload: install a package with dpkg. on the root file system into the container's own
# dpkg database; on a volume into a fresh dpkg root there (dpkg --root), then run what it installed
package_install() {
	t0=$(now)
	if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then
		report dpkg-install SKIP "$t0" "no .deb given"
		return
	fi
	if [ "$LOCATION" = rootfs ]; then
		out=$(dpkg -i "$DEB" 2>&1 && hello 2>&1 && dpkg -s hello 2>&1 | grep '^Status:')
	else
		root=$DIR/dpkg-root
		mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" && : >"$root/var/lib/dpkg/status" &&
			: >"$root/var/lib/dpkg/available"
		out=$(dpkg --root="$root" --force-depends -i "$DEB" 2>&1 && "$root/usr/bin/hello" 2>&1 &&
			dpkg --root="$root" -s hello 2>&1 | grep '^Status:')
	fi
	case $out in
	*"Hello, world!"*"Status: install ok installed"*) report dpkg-install PASS "$t0" "hello installed and ran" ;;
	*) report dpkg-install FAIL "$t0" "$(echo "$out" | tail -3 | tr '\n' ' ')" ;;
	esac
}

case ${WL_ONE:-} in
"") ;;
sqlite_wal) sqlite_wal; exit 0 ;;
sqlite_lock) sqlite_lock; exit 0 ;;
"stress "*) stress "${WL_ONE#stress }"; exit 0 ;;
package_install) package_install; exit 0 ;;
*) echo "workloads-checks: unknown WL_ONE=$WL_ONE" >&2; exit 0 ;;
esac

# run_check CHECK LIMIT FUNCTION [ARG]: says which check begins, runs FUNCTION in a new sh under a
# timeout of LIMIT seconds (then SIGKILL 10 s later; timeout(1) signals the check's whole process group)
run_check() {
	name=$1 limit=$2
	shift 2
	echo "BEGIN $LOCATION $name $(date +%T)"
	t0=$(now)
	WL_ONE="$*" timeout -k 10 "$limit" sh "$SELF" "$LOCATION" "$DIR" "$DEB"
	rc=$?
	case $rc in
	124 | 137) report "$name" FAIL "$t0" "timed out after ${limit}s (timeout rc=$rc)" ;;
	esac
}

run_check sqlite-wal "$CHECK_TIMEOUT" sqlite_wal
run_check sqlite-lock "$CHECK_TIMEOUT" sqlite_lock
for s in $STRESSORS; do
	# stress() bounds stress-ng itself to STRESS_TIMEOUT * 4 + 30 (SIGKILL 10 s later): this bound is the outer one
	run_check "stress-$s" $((STRESS_TIMEOUT * 4 + 30 + CHECK_TIMEOUT / 2)) stress "$s"
done
run_check dpkg-install "$CHECK_TIMEOUT" package_install
exit 0
