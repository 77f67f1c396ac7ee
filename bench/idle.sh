#!/usr/bin/env bash
# Idle CPU of a Caddy with many guarded sites on a storage holding many live
# revocations: nothing is served; what burns is the background work (one
# revocation sync per storage every 3 s, shared by every site).
#
#   bash bench/idle.sh                      # 20 sites, 100,000 revocations, 15 s
#   SITES=20 REVOCATIONS=100000 SECONDS_SAMPLED=15 bash bench/idle.sh
#
# What it does: builds ./cmd/caddy into a temp dir; writes REVOCATIONS live
# revocations (2 h to go) straight into the file storage, as the plugin lays
# them out (caddyjwt/revoked/<unix minute>/<hex hash>.<until>, spread over 4
# minute folders a few minutes old); starts Caddy with SITES sites, each
# `jwt_auth { key <ES256 key> }` + `respond "ok"`, on that storage; checks
# one site answers 401 without a token; lets it settle (SETTLE seconds: the
# first sync reads every entry); then samples utime+stime of the process from
# /proc/<pid>/stat over SECONDS_SAMPLED seconds and prints the share of one
# core. Target: under 1 %.
#
# Exit status: 0 under the target; 1 over it; 2 a tool is missing; 3 the run
# failed.
set -euo pipefail

SITES=${SITES:-20}
REVOCATIONS=${REVOCATIONS:-100000}
SECONDS_SAMPLED=${SECONDS_SAMPLED:-15}
SETTLE=${SETTLE:-5}

die() {
	local status=$1
	shift
	echo "idle.sh: $*" >&2
	exit "$status"
}
for tool in go curl awk getconf; do
	command -v "$tool" >/dev/null 2>&1 || die 2 "$tool not found"
done
[[ $SITES =~ ^[1-9][0-9]*$ && $REVOCATIONS =~ ^[0-9]+$ && $SECONDS_SAMPLED =~ ^[1-9][0-9]*$ && $SETTLE =~ ^[0-9]+$ ]] ||
	die 2 "SITES, REVOCATIONS, SECONDS_SAMPLED and SETTLE must be integers"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/caddyjwt-idle.XXXXXX")
caddy_pid=
cleanup() {
	if [[ -n $caddy_pid ]] && kill -0 "$caddy_pid" 2>/dev/null; then
		kill "$caddy_pid" 2>/dev/null || true
		wait "$caddy_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "== caddyjwt idle CPU: $SITES sites, $REVOCATIONS live revocations, ${SECONDS_SAMPLED}s sampled"
echo "nproc: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
echo "-- building ./cmd/caddy"
(cd "$root" && go build -o "$tmp/caddy" ./cmd/caddy) || die 3 "go build failed"
"$tmp/caddy" jwt keygen --alg ES256 --out "$tmp/es.pem" 2>/dev/null || die 3 "keygen failed"

echo "-- writing $REVOCATIONS revocations into the storage"
data=$tmp/data
minute=$(($(date +%s) / 60 - 5))
until=$(($(date +%s) + 7200))
for f in 0 1 2 3; do
	mkdir -p "$data/caddyjwt/revoked/$((minute + f))"
done
# Names: 32 hex digits (a 128-bit hash) and the until time.
awk -v n="$REVOCATIONS" -v m="$minute" -v u="$until" -v d="$data/caddyjwt/revoked" 'BEGIN {
	srand(1)
	for (i = 0; i < n; i++)
		printf "%s/%d/%08x%08x%08x%08x.%d\n", d, m + i % 4, i, int(rand() * 4294967295), int(rand() * 4294967295), int(rand() * 4294967295), u
}' | xargs -r -d '\n' touch
written=$(find "$data/caddyjwt/revoked" -type f | wc -l)
[[ $written == "$REVOCATIONS" ]] || die 3 "wrote $written entries, not $REVOCATIONS"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=
for _ in $(seq 20); do
	base=$((20000 + RANDOM % 30000))
	ok=1
	for ((i = 0; i < SITES; i++)); do
		if port_busy $((base + i)); then
			ok=0
			break
		fi
	done
	((ok)) && break
	base=
done
[[ -n $base ]] || die 3 "found no $SITES free consecutive ports"

{
	printf '{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n\tdefault_bind 127.0.0.1\n\tstorage file_system %s\n\tlog {\n\t\toutput stderr\n\t\tlevel ERROR\n\t}\n}\n' "$data"
	for ((i = 0; i < SITES; i++)); do
		printf 'http://:%d {\n\tjwt_auth {\n\t\tkey %s\n\t}\n\trespond "ok"\n}\n' $((base + i)) "$tmp/es.pem"
	done
} >"$tmp/Caddyfile"

echo "-- starting Caddy ($SITES sites on 127.0.0.1:$base..$((base + SITES - 1)))"
mkdir -p "$tmp/home"
HOME=$tmp/home XDG_DATA_HOME=$tmp/home/data XDG_CONFIG_HOME=$tmp/home/config \
	"$tmp/caddy" run --config "$tmp/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
deadline=$((SECONDS + 30))
until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$base/" || true) == 401 ]]; do
	if ! kill -0 "$caddy_pid" 2>/dev/null || ((SECONDS >= deadline)); then
		tail -n 20 "$tmp/caddy.log" >&2
		die 3 "Caddy did not come up answering 401"
	fi
	sleep 0.2
done
curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$((base + SITES - 1))/" || die 3 "the last site does not answer"
sleep "$SETTLE"

ticks() { awk '{print $14 + $15}' "/proc/$caddy_pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
s0=$(date +%s.%N)
sleep "$SECONDS_SAMPLED"
t1=$(ticks)
s1=$(date +%s.%N)
kill -0 "$caddy_pid" 2>/dev/null || die 3 "Caddy exited while sampled"
pct=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s0="$s0" -v s1="$s1" 'BEGIN {printf "%.2f", d / hz / (s1 - s0) * 100}')
echo "cpu: $((t1 - t0)) ticks (1/$hz s) in $(awk -v a="$s0" -v b="$s1" 'BEGIN {printf "%.1f", b - a}') s = $pct % of one core (target < 1 %)"
echo "rss: $(awk '/^VmRSS/ {print $2, $3}' "/proc/$caddy_pid/status")"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) at the end"
if awk -v p="$pct" 'BEGIN {exit !(p < 1)}'; then
	echo "RESULT: PASS"
else
	echo "RESULT: FAIL"
	exit 1
fi
