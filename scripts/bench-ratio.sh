#!/usr/bin/env bash
# bench-ratio.sh runs benchmarks five times each and prints the median ns/op
# of each and their ratios. The benchmarks of a ratio run in turns, one round
# of each at a time (go test -count=5 would run all of one before the other,
# and a machine whose load changes in between would skew the ratio):
#   - the ingest use case (internal/hub): Policy/Floor and Policy/FloorRaw;
#   - the whole ingest Lambda path, event bytes to response bytes, with the
#     real DynamoDB store and client (internal/aws/ddb) behind an in-process transport
#     (internal/aws/dynamo, needs dynalite: make deps): LambdaPath/LambdaFloor,
#     in CPU time per batch (cpu-ns/op), which a shared machine disturbs less.
# Extra arguments go to every go test, e.g. (a -cpuprofile file keeps the last
# of the five runs only: profile one benchmark with go test itself)
#   scripts/bench-ratio.sh -benchmem
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp)
trap 'rm -f "$out"' EXIT

# ratios PKG REGEX NAMES... -- NUM/DEN...: runs the benchmarks of PKG matching
# REGEX and prints the median of each NAME and each NUM/DEN ratio.
ratios() {
	local pkg=$1 regex=$2
	shift 2
	: >"$out"
	for _ in 1 2 3 4 5; do
		go test -run '^$' -bench "$regex" -benchtime=2s -count=1 "${extra[@]}" "$pkg" | tee -a "$out"
	done
	awk -v spec="$*" -v unit="$unit" '
	/^Benchmark/ {
		name = $1
		sub(/-[0-9]+$/, "", name)
		for (i = 2; i < NF; i++)
			if ($(i + 1) == unit)
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
		n = split(spec, words, " ")
		print ""
		for (k = 1; k <= n; k++) {
			w = words[k]
			if (w == "--") { ratios = 1; continue }
			if (!ratios) {
				if (!runs[w]) {
					print "bench-ratio: no results for " w > "/dev/stderr"
					exit 1
				}
				med[w] = median(w)
				printf "%-26s median %12.0f %s over %d runs\n", w, med[w], unit, runs[w]
				continue
			}
			split(w, nd, "/")
			printf "%-15s %.2f\n", w, med["Benchmark" nd[1]] / med["Benchmark" nd[2]]
		}
	}' "$out"
}

extra=("$@")
unit=ns/op
ratios ./internal/hub/ 'BenchmarkIngest(Policy|Floor)' \
	BenchmarkIngestPolicy BenchmarkIngestFloor BenchmarkIngestFloorRaw -- IngestPolicy/IngestFloor IngestPolicy/IngestFloorRaw
unit=cpu-ns/op
ratios ./internal/aws/dynamo/ 'BenchmarkLambda(Path|Floor)$' \
	BenchmarkLambdaPath BenchmarkLambdaFloor -- LambdaPath/LambdaFloor
