#!/bin/sh
# build-deb.sh: build monsys-agent and package it as a .deb with nfpm.
# Run from the repository root: agent/packaging/build-deb.sh [VERSION] [OUTDIR]
# nfpm is run from the Go module proxy (go run ...@version); go.mod is not touched.
set -eu
version=${1:-0.1.0}
out=${2:-dist}
# v2.43.0: later versions need modules the Go proxy does not serve.
NFPM=${NFPM:-github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.43.0}
GOARCH=${GOARCH:-$(go env GOARCH)}
mkdir -p "$out"
CGO_ENABLED=0 GOOS=linux GOARCH=$GOARCH go build -trimpath \
	-ldflags "-s -w -X main.version=$version" -o "$out/monsys-agent" ./agent/cmd/monsys-agent
export GOARCH MONSYS_AGENT_VERSION="$version"
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
sed "s|MONSYS_AGENT_BINARY # replaced by build-deb.sh|$out/monsys-agent|" agent/packaging/nfpm.yaml > "$cfg"
go run "$NFPM" package --config "$cfg" --packager deb --target "$out/"
ls -l "$out"/*.deb
