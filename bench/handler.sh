#!/usr/bin/env bash
# Handler benchmarks against their physical limits, no network:
#
#   bash bench/handler.sh          # COUNT=5 runs of each benchmark, about 1 minute
#
# Runs `go test -bench` for the guard with a fresh token every call (cache
# off: every call checks a signature) and for the bare signature check of
# the same tokens (hash + crypto/ecdsa, crypto/rsa, crypto/ed25519), and
# for a login against the bcrypt comparison at the same cost. Prints the
# medians and the ratios; exits 1 when a ratio misses its target (0.9).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}

out=$(go test -run '^$' -count "$COUNT" -benchtime 1s \
	-bench 'BenchmarkGuard/(ES256|RS256|EdDSA)/miss$|BenchmarkBareSignature|BenchmarkLogin' .)
median() { # benchmark name → median ns/op
	awk -v n="$1" '$1 ~ "^"n"(-[0-9]+)?$" {print $3}' <<<"$out" | sort -g |
		awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
failed=0
printf '%-28s %12s %12s %7s %7s\n' "what" "limit ns/op" "ours ns/op" ratio result
row() { # label limit-benchmark ours-benchmark
	local lim ours ratio result=PASS
	lim=$(median "$2")
	ours=$(median "$3")
	ratio=$(awk -v a="$lim" -v b="$ours" 'BEGIN {printf "%.3f", a / b}')
	awk -v r="$ratio" 'BEGIN {exit !(r >= 0.9)}' || { result=FAIL; failed=1; }
	printf '%-28s %12.0f %12.0f %7s %7s\n' "$1" "$lim" "$ours" "$ratio" "$result"
}
row "ES256, fresh token" BenchmarkBareSignature/ES256 BenchmarkGuard/ES256/miss
row "RS256, fresh token" BenchmarkBareSignature/RS256 BenchmarkGuard/RS256/miss
row "EdDSA, fresh token" BenchmarkBareSignature/EdDSA BenchmarkGuard/EdDSA/miss
row "login (bcrypt cost 10)" BenchmarkLogin/bcrypt BenchmarkLogin/login
exit "$failed"
