#!/usr/bin/env bash
# bench-ratio.sh runs the ingest benchmarks of internal/hub five times each and
# prints the median ns/op of each and the ratios Policy/Floor and
# Policy/FloorRaw. Extra arguments go to go test, e.g.
#   scripts/bench-ratio.sh -cpuprofile /tmp/cpu.out
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'BenchmarkIngest(Policy|Floor)' -benchtime=2s -count=5 "$@" ./internal/hub/ | tee "$out"

awk '
/^BenchmarkIngest/ {
	name = $1
	sub(/-[0-9]+$/, "", name)
	for (i = 2; i < NF; i++)
		if ($(i + 1) == "ns/op")
			ns[name, ++runs[name]] = $i + 0
}
function median(name,    m, a, i, j, x) {
	m = runs[name]
	for (i = 1; i <= m; i++)
		a[i] = ns[name, i]
	for (i = 2; i <= m; i++) {
		x = a[i]
		for (j = i - 1; j >= 1 && a[j] > x; j--)
			a[j + 1] = a[j]
		a[j + 1] = x
	}
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
	split("BenchmarkIngestPolicy BenchmarkIngestFloor BenchmarkIngestFloorRaw", names, " ")
	for (k = 1; k <= 3; k++) {
		if (!runs[names[k]]) {
			print "bench-ratio: no results for " names[k] > "/dev/stderr"
			exit 1
		}
		med[names[k]] = median(names[k])
	}
	print ""
	for (k = 1; k <= 3; k++)
		printf "%-26s median %12.0f ns/op over %d runs\n", names[k], med[names[k]], runs[names[k]]
	printf "Policy/Floor    %.2f\n", med["BenchmarkIngestPolicy"] / med["BenchmarkIngestFloor"]
	printf "Policy/FloorRaw %.2f\n", med["BenchmarkIngestPolicy"] / med["BenchmarkIngestFloorRaw"]
}' "$out"
