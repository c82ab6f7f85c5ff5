#!/usr/bin/env bash
# ensure-minio.sh builds the pinned MinIO server from the Go module proxy once
# and caches it (scripts/ensure-gobin.sh). Progress goes to stderr; the binary
# path goes to stdout.
#
#   MINIO_MODULE_VERSION  override the pinned pseudo-version (changes the cache key)
#   MONSYS_CACHE_DIR      cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/monsys)
set -euo pipefail

exec bash "$(dirname "${BASH_SOURCE[0]}")/ensure-gobin.sh" minio github.com/minio/minio \
	"${MINIO_MODULE_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
