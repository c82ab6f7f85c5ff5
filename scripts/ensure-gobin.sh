#!/usr/bin/env bash
# ensure-gobin.sh NAME PACKAGE VERSION builds the Go command PACKAGE at the
# module version VERSION from the Go module proxy once and caches it as
#
#   ${MONSYS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/monsys}/NAME-VERSION/<last element of PACKAGE>
#
# Progress goes to stderr; the binary path goes to stdout. Concurrent callers
# serialise on a flock; only the first one builds. ensure-minio.sh and
# ensure-rie.sh pin what to build.
set -euo pipefail

if [[ $# -ne 3 ]]; then
	printf 'usage: %s NAME PACKAGE VERSION\n' "$0" >&2
	exit 2
fi
name="$1" package="$2" version="$3"
cache_root="${MONSYS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/monsys}"
dest_dir="${cache_root}/${name}-${version}"
exe="${package##*/}"
bin="${dest_dir}/${exe}"

log() { printf 'ensure-%s: %s\n' "$name" "$*" >&2; }

if [[ -x "$bin" ]]; then
	printf '%s\n' "$bin"
	exit 0
fi

command -v go >/dev/null 2>&1 || { log "go not found in PATH"; exit 1; }
command -v flock >/dev/null 2>&1 || { log "flock not found in PATH (util-linux)"; exit 1; }

mkdir -p "$dest_dir"
exec 9>"${dest_dir}.lock"
log "waiting for build lock ${dest_dir}.lock"
flock 9

# Another caller may have finished the build while we waited.
if [[ -x "$bin" ]]; then
	log "already built by another caller"
	printf '%s\n' "$bin"
	exit 0
fi

tmp="$(mktemp -d "${dest_dir}/build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

log "building ${package}@${version} (minutes with a cold Go build cache, seconds with a warm one)"
start=$(date +%s)
# `go install pkg@version` builds outside the current module; GOFLAGS is reset so a
# caller's -mod=vendor or similar cannot leak in. -s -w: a third smaller in the cache.
if ! GOBIN="$tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
	go install -trimpath -ldflags="-s -w" "${package}@${version}" >"$tmp/build.log" 2>&1; then
	log "go install failed; last lines:"
	tail -n 40 "$tmp/build.log" >&2
	exit 1
fi
[[ -x "$tmp/$exe" ]] || { log "go install produced no $exe binary in $tmp"; exit 1; }

# Same filesystem, so mv is an atomic rename: readers see the whole binary or none.
mv -f "$tmp/$exe" "$bin"
log "built $bin in $(( $(date +%s) - start ))s"
printf '%s\n' "$bin"
