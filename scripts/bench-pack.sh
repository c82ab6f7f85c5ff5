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
#      the same file;
#   4. provenance (docs/evidence-pack.md, "Speed"): a month of 20 signed,
#      chained agents (packtest.Big, RECORDS records) built in format 2 and,
#      from the same data, in format 1 (format 2 without batch.ndjson), each
#      in a fresh process: size, build time, peak RSS; then on the format 2
#      pack monsys-verify --deep, verify.py --deep with cryptography and
#      without it (DEEP_PURE=0 skips that one, the slowest), each as a ratio
#      to sha256sum + gunzip -c of the same file, in wall time (best of
#      RUNS) and in CPU time (user + system), with its peak RSS.
# RECORDS (default 1000000) and RUNS (default 5) tune it; ONLY=deep runs
# part 4 alone.
set -euo pipefail
cd "$(dirname "$0")/.."

records=${RECORDS:-1000000}
runs=${RUNS:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

deep_part() {
	echo "== provenance: packtest.Big, $records records"
	go test -c -o "$tmp/pack.test" ./internal/pack
	for f in 1 2; do
		MONSYS_BIG_RECORDS=$records MONSYS_BIG_FORMAT=$f MONSYS_BIG_OUT="$tmp/big$f.tar.gz" \
			"$tmp/pack.test" -test.run '^TestBigPack$' | grep '^big_pack' | tee "$tmp/big$f.txt"
	done
	awk '{ for (i = 1; i < NF; i++) v[FILENAME, $i] = $(i + 1) }
	END {
		a = ARGV[1]; b = ARGV[2]
		printf "format 1: %.1f MB pack, %.1f MB data; format 2: %.1f MB pack, %.1f MB data\n", v[a, "pack_bytes"] / 1e6, v[a, "data_bytes"] / 1e6, v[b, "pack_bytes"] / 1e6, v[b, "data_bytes"] / 1e6
		printf "provenance costs: pack x%.2f, data x%.2f\n", v[b, "pack_bytes"] / v[a, "pack_bytes"], v[b, "data_bytes"] / v[a, "data_bytes"]
		for (k = 1; k <= 2; k++) {
			f = ARGV[k]; n = v[f, "records"]
			printf "format %d build: %.1f s (%.0f records/s), of which reading the made-up source %.1f s; peak RSS %d KiB\n", k, v[f, "build_s"], n / v[f, "build_s"], v[f, "source_s"], v[f, "peak_rss_kib"]
		}
	}' "$tmp/big1.txt" "$tmp/big2.txt"
	go build -o "$tmp/monsys-verify" ./cmd/monsys-verify
	cp internal/pack/verify.py "$tmp/verify.py"
	mkdir -p "$tmp/nocrypto/cryptography"
	echo "raise ImportError('cryptography disabled by bench-pack.sh')" >"$tmp/nocrypto/cryptography/__init__.py"
	local pack="$tmp/big2.tar.gz"
	echo "pack: $(du -h "$pack" | cut -f1)"
	# timed NAME RUNS CMD...: best wall time and the CPU time (user + system)
	# of that run, in seconds, and its peak RSS, as "NAME wall cpu rss".
	timed() {
		local name=$1 n=$2 bw="" bc="" br=""
		shift 2
		for _ in $(seq "$n"); do
			/usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$@" >"$tmp/out" 2>&1 || { echo "command failed: $*" >&2; cat "$tmp/out" >&2; exit 1; }
			read -r w u s r <"$tmp/time"
			if [ -z "$bw" ] || awk -v w="$w" -v b="$bw" 'BEGIN { exit !(w < b) }'; then
				bw=$w bc=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }') br=$r
			fi
		done
		echo "$name $bw $bc $br"
	}
	floor_cmd() { sha256sum "$1" >/dev/null && gunzip -c "$1" >/dev/null; }
	export -f floor_cmd
	{
		timed floor "$runs" bash -c 'floor_cmd "$0"' "$pack"
		timed go "$runs" "$tmp/monsys-verify" --deep "$pack"
		timed py "$runs" python3 "$tmp/verify.py" --deep "$pack"
		if [ "${DEEP_PURE:-1}" != 0 ]; then
			timed pure 1 env PYTHONPATH="$tmp/nocrypto" python3 "$tmp/verify.py" --deep "$pack"
		fi
	} | tee "$tmp/deep.txt" | awk '
	{ w[$1] = $2; c[$1] = $3; r[$1] = $4; names[++n] = $1 }
	END {
		label["floor"] = "sha256sum + gunzip -c"
		label["go"] = "monsys-verify --deep"
		label["py"] = "verify.py --deep (cryptography)"
		label["pure"] = "verify.py --deep (pure Python, 1 run)"
		for (i = 1; i <= n; i++) {
			k = names[i]
			printf "%-40s wall %7.2f s (x%.2f)  cpu %7.2f s (x%.2f)  peak RSS %d KiB\n", label[k], w[k], w[k] / w["floor"], c[k], c[k] / c["floor"], r[k]
		}
	}'
}

if [ "${ONLY:-}" = deep ]; then
	deep_part
	exit 0
fi

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

echo
deep_part
