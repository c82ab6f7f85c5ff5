#!/usr/bin/env bash
# bench-pack.sh measures the evidence-pack builder and verify.py, each as a
# ratio to a floor measured in the same run:
#   1. builder throughput (BenchmarkBuildVsFloor: raw records canonicalized,
#      sorted, hashed, signed, tarred, gzipped) against SHA-256 + gzip of the
#      same NDJSON bytes, measured in turns in the same run: gzip at the
#      builder's level 1 and at gzip's default level 6 with klauspost/compress,
#      and at level 6 with Go's compress/gzip; best and median of the runs;
#      with all cores and with one (-cpu 1);
#   2. peak RSS of a whole build at 100,000 and 1,000,000 records, each in a
#      fresh process (TestPeakRSS reads VmHWM);
#   3. verify.py on the 1,000,000-record pack against sha256sum + gunzip of
#      the same file.
# RECORDS (default 1000000) and RUNS (default 5) tune it.
set -euo pipefail
cd "$(dirname "$0")/.."

records=${RECORDS:-1000000}
runs=${RUNS:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== builder throughput, $records records, $runs runs each (GOMAXPROCS $(nproc))"
for cpu in "$(nproc)" 1; do
	MONSYS_BENCH_RECORDS=$records go test -run '^$' -bench '^BenchmarkBuildVsFloor$' \
		-benchtime "${runs}x" -cpu "$cpu" ./internal/pack/ | tee "$tmp/bench-$cpu.txt" | grep '^Benchmark'
	awk -v cpu="$cpu" '
	/^Benchmark/ {
		for (i = 2; i < NF; i++) v[$(i + 1)] = $i
		printf "cpu=%s  build %.0f records/s, %.1f MB/s (best run)\n", cpu, v["records/s"], v["build-MB/s"]
		printf "cpu=%s  build/floor, floor = SHA-256 + gzip level 1 (klauspost, the builder'"'"'s level): best %.2f, median %.2f\n", cpu, v["best-ratio-level1"], v["median-ratio-level1"]
		printf "cpu=%s  build/floor, floor = SHA-256 + gzip level 6 (klauspost, gzip'"'"'s default):  best %.2f, median %.2f\n", cpu, v["best-ratio-level6"], v["median-ratio-level6"]
		printf "cpu=%s  build/floor, floor = SHA-256 + gzip level 6 (Go standard library):       best %.2f, median %.2f\n", cpu, v["best-ratio-stdlib6"], v["median-ratio-stdlib6"]
	}' "$tmp/bench-$cpu.txt"
done

echo
echo "== peak RSS of a build"
go test -c -o "$tmp/pack.test" ./internal/pack
rss() {
	MONSYS_RSS_RECORDS=$1 MONSYS_RSS_OUT=${2:-} "$tmp/pack.test" -test.run '^TestPeakRSS$' | awk '/^peak_rss_kib/ {print $2}'
}
small=$(rss 100000)
big=$(rss 1000000 "$tmp/pack.tar.gz")
echo "100,000 records:   $small KiB"
echo "1,000,000 records: $big KiB"
awk -v a="$small" -v b="$big" 'BEGIN { printf "ratio 1M/100k      %.2f (target <= 1.5)\n", b / a }'

echo
echo "== verify.py on the 1,000,000-record pack ($(du -h "$tmp/pack.tar.gz" | cut -f1))"
cp internal/pack/verify.py "$tmp/verify.py"
best() { # best of $runs wall times of a command, in seconds
	local best=""
	for _ in $(seq "$runs"); do
		local s e
		s=$(date +%s.%N)
		"$@" >/dev/null 2>&1 || { echo "command failed: $*" >&2; exit 1; }
		e=$(date +%s.%N)
		best=$(awk -v b="$best" -v s="$s" -v e="$e" 'BEGIN { d = e - s; if (b == "" || d < b) printf "%.3f", d; else print b }')
	done
	echo "$best"
}
floor_cmd() { sha256sum "$1" && gunzip -c "$1" >/dev/null; }
tv=$(best python3 "$tmp/verify.py" "$tmp/pack.tar.gz")
tf=$(best floor_cmd "$tmp/pack.tar.gz")
echo "verify.py:          ${tv} s"
echo "sha256sum + gunzip: ${tf} s"
awk -v v="$tv" -v f="$tf" 'BEGIN { printf "ratio verify.py/floor %.2f\n", v / f }'
