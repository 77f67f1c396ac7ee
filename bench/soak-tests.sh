#!/usr/bin/env bash
# Runs the whole test suite N times under CPU load, to show that no test
# fails by chance (issue 18): a busy loop per core keeps the CPU full, each
# run uses -count=1 (no cached results) and -shuffle=on (a new order each
# time, its seed printed), and every run's result is reported with its failing tests and the
# shuffle seed that reproduces its order.
#
#	bench/soak-tests.sh [N] [go test flags...]     N defaults to $SOAK_RUNS or 10
#
# Examples:
#	bench/soak-tests.sh 10
#	bench/soak-tests.sh 1 -run TestIntegrationHMACSecrets
#	SOAK_LOAD=0 bench/soak-tests.sh 5              # without the busy loops
#
# Exit status: 0 when every run passed, 1 otherwise. Logs are kept in
# $SOAK_LOGS (default: a new temporary folder), one file per run.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${SOAK_RUNS:-10}
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
	runs=$1
	shift
fi
if ((runs < 1)); then
	echo "soak-tests: N must be at least 1" >&2
	exit 2
fi
logs=${SOAK_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/soak-tests.XXXXXX")}
mkdir -p "$logs"

# One busy loop per core, each in the background; all killed on exit,
# however the script ends.
busy=()
stop_load() {
	for pid in "${busy[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait "${busy[@]}" 2>/dev/null || true
}
trap stop_load EXIT
trap 'exit 130' INT TERM
cores=$(nproc)
if [[ ${SOAK_LOAD:-1} != 0 ]]; then
	for ((i = 0; i < cores; i++)); do
		bash -c 'while :; do :; done' &
		busy+=($!)
	done
fi

echo "soak-tests: $runs run(s) of go test -count=1 -shuffle=<seed> $* ./...; ${#busy[@]} busy loop(s) on $cores core(s); logs in $logs"
failed=0
for ((run = 1; run <= runs; run++)); do
	log=$logs/run-$run.log
	# -shuffle=on with the seed picked here (from the clock, as "on"
	# does), so that it is known for passing runs too: go test prints it
	# only in a failing package's output.
	seed=$(date +%s%N)
	start=$SECONDS
	status=0
	go test -count=1 -shuffle="$seed" "$@" ./... >"$log" 2>&1 || status=$?
	took=$((SECONDS - start))
	if ((status == 0)); then
		echo "run $run/$runs: PASS in ${took}s (seed $seed)"
		continue
	fi
	failed=$((failed + 1))
	# Failed tests, and those still running when a package panicked or
	# timed out (go test lists them under "running tests:").
	tests=$( {
		grep -ho -- '--- FAIL: [^ ]*' "$log" | awk '{print $3}'
		awk '/^\trunning tests:/ {on = 1; next} on && /^\t\t[^ ]+ \(/ {print $1; next} {on = 0}' "$log"
	} | sort -u | paste -sd' ' - || true)
	panicked=$(grep -m1 '^panic: ' "$log" || true)
	packages=$(grep -h '^FAIL	' "$log" | awk '{print $2}' | sort -u | paste -sd' ' - || true)
	echo "run $run/$runs: FAIL in ${took}s (exit $status); failing tests: ${tests:-none named}${panicked:+ ($panicked)}; packages: ${packages:-?}; seed $seed (go test -shuffle=$seed); log $log"
done

echo "soak-tests: $((runs - failed)) of $runs run(s) passed, $failed failed (CPU load: ${#busy[@]} busy loop(s))"
((failed == 0))
