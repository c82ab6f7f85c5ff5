#!/usr/bin/env bash
# ensure-litewitness.sh builds the pinned litewitness and witnessctl (the
# tlog-witness of filippo.io/torchwood) from the Go module proxy once and
# caches both in one folder (scripts/ensure-gobin.sh). Progress goes to
# stderr; the litewitness binary's path goes to stdout, witnessctl beside it.
#
#   TORCHWOOD_MODULE_VERSION  override the pinned version (changes the cache key)
#   MONSYS_CACHE_DIR          cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/monsys)
set -euo pipefail

version="${TORCHWOOD_MODULE_VERSION:-v0.9.0}"
here="$(dirname "${BASH_SOURCE[0]}")"
# witnessctl first: a cached litewitness then always has its witnessctl beside it.
bash "$here/ensure-gobin.sh" litewitness filippo.io/torchwood/cmd/witnessctl "$version" >/dev/null
exec bash "$here/ensure-gobin.sh" litewitness filippo.io/torchwood/cmd/litewitness "$version"
