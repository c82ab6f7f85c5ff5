#!/usr/bin/env bash
# ensure-rie.sh builds the pinned AWS Lambda Runtime Interface Emulator
# (aws-lambda-rie) from the Go module proxy once and caches it
# (scripts/ensure-gobin.sh). Progress goes to stderr; the binary path goes to
# stdout. The module proxy serves only pseudo-versions of this module.
#
#   RIE_MODULE_VERSION  override the pinned pseudo-version (changes the cache key)
#   MONSYS_CACHE_DIR    cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/monsys)
set -euo pipefail

exec bash "$(dirname "${BASH_SOURCE[0]}")/ensure-gobin.sh" aws-lambda-rie \
	github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie \
	"${RIE_MODULE_VERSION:-v0.0.0-20261030222936-bef5c4ba774d}"
