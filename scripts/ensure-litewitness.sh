#!/usr/bin/env bash
# ensure-litewitness.sh builds the pinned litewitness and witnessctl (the
# tlog-witness of filippo.io/torchwood) from the Go module proxy once and caches
# them. Progress goes to stderr; the directory holding both binaries goes to
# stdout.
#
#   TORCHWOOD_MODULE_VERSION  override the pinned version (changes the cache key)
#   MONSYS_CACHE_DIR          cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/monsys)
#
# Concurrent callers serialise on a flock; only the first one builds.
set -euo pipefail

version="${TORCHWOOD_MODULE_VERSION:-v0.9.0}"
module="filippo.io/torchwood"
cache_root="${MONSYS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/monsys}"
dest_dir="${cache_root}/litewitness-${version}"

log() { printf 'ensure-litewitness: %s\n' "$*" >&2; }
ready() { [[ -x "$dest_dir/litewitness" && -x "$dest_dir/witnessctl" ]]; }

if ready; then
	printf '%s\n' "$dest_dir"
	exit 0
fi

command -v go >/dev/null 2>&1 || { log "go not found in PATH"; exit 1; }
command -v flock >/dev/null 2>&1 || { log "flock not found in PATH (util-linux)"; exit 1; }

mkdir -p "$dest_dir"
exec 9>"${dest_dir}.lock"
log "waiting for build lock ${dest_dir}.lock"
flock 9

if ready; then
	log "already built by another caller"
	printf '%s\n' "$dest_dir"
	exit 0
fi

tmp="$(mktemp -d "${dest_dir}/build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

log "building ${module}/cmd/{litewitness,witnessctl}@${version}"
start=$(date +%s)
# Outside the current module; GOFLAGS reset so that a caller's flags cannot leak in.
if ! GOBIN="$tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
	go install -trimpath -ldflags="-s -w" \
	"${module}/cmd/litewitness@${version}" "${module}/cmd/witnessctl@${version}" >"$tmp/build.log" 2>&1; then
	log "go install failed; last lines:"
	tail -n 40 "$tmp/build.log" >&2
	exit 1
fi
for b in litewitness witnessctl; do
	[[ -x "$tmp/$b" ]] || { log "go install produced no $b binary in $tmp"; exit 1; }
done
# witnessctl first: ready() needs both, and each mv is an atomic rename.
mv -f "$tmp/witnessctl" "$dest_dir/witnessctl"
mv -f "$tmp/litewitness" "$dest_dir/litewitness"
log "built $dest_dir in $(( $(date +%s) - start ))s"
printf '%s\n' "$dest_dir"
