#!/usr/bin/env bash
# ensure-minio.sh builds the pinned MinIO server from the Go module proxy once
# and caches it. Progress goes to stderr; the binary path goes to stdout.
#
#   MINIO_MODULE_VERSION  override the pinned pseudo-version (changes the cache key)
#   MONSYS_CACHE_DIR      cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/monsys)
#
# Concurrent callers serialise on a flock; only the first one builds.
set -euo pipefail

version="${MINIO_MODULE_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
module="github.com/minio/minio"
cache_root="${MONSYS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/monsys}"
dest_dir="${cache_root}/minio-${version}"
bin="${dest_dir}/minio"

log() { printf 'ensure-minio: %s\n' "$*" >&2; }

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

log "building ${module}@${version} (minutes with a cold Go build cache, seconds with a warm one)"
start=$(date +%s)
# `go install pkg@version` builds outside the current module; GOFLAGS is reset so a
# caller's -mod=vendor or similar cannot leak in. -s -w: a third smaller in the cache.
if ! GOBIN="$tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
	go install -trimpath -ldflags="-s -w" "${module}@${version}" >"$tmp/build.log" 2>&1; then
	log "go install failed; last lines:"
	tail -n 40 "$tmp/build.log" >&2
	exit 1
fi
[[ -x "$tmp/minio" ]] || { log "go install produced no minio binary in $tmp"; exit 1; }

# Same filesystem, so mv is an atomic rename: readers see the whole binary or none.
mv -f "$tmp/minio" "$bin"
log "built $bin in $(( $(date +%s) - start ))s"
printf '%s\n' "$bin"
