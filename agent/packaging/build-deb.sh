#!/bin/sh
# build-deb.sh: build monsys-agent and package it as a .deb with nfpm.
#
#   agent/packaging/build-deb.sh [VERSION] [OUTDIR]     (from the repository root)
#
# VERSION is the newest entry of agent/packaging/changelog (the default; any
# other is refused: add a changelog entry first). GOARCH picks the
# architecture (default: this machine's). OUTDIR (default dist) gets the
# binary monsys-agent and monsys-agent_VERSION_ARCH.deb.
# nfpm is run from the Go module proxy (go run ...@version); go.mod is not touched.
set -eu
die() { echo "build-deb.sh: $*" >&2; exit 1; }
pkg=agent/packaging
newest=$(sh "$pkg/version.sh")
version=${1:-$newest}
out=${2:-dist}
[ "$version" = "$newest" ] ||
	die "version $version is not the newest entry of $pkg/changelog ($newest): add an entry for it first"
# v2.43.0: later versions need modules the Go proxy does not serve.
NFPM=${NFPM:-github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.43.0}
GOARCH=${GOARCH:-$(go env GOARCH)}
mkdir -p "$out"
CGO_ENABLED=0 GOOS=linux GOARCH=$GOARCH go build -trimpath \
	-ldflags "-s -w -X main.version=$version" -o "$out/monsys-agent" ./agent/cmd/monsys-agent

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$out/monsys-agent" "$work/monsys-agent"
# Debian wants these compressed at the highest level, without a timestamp.
gzip -9n <"$pkg/changelog" >"$work/changelog.gz"
gzip -9n <"$pkg/monsys-agent.8" >"$work/monsys-agent.8.gz"
sed "s|@BUILD@|$work|g" "$pkg/nfpm.yaml" >"$work/nfpm.yaml"
export GOARCH MONSYS_AGENT_VERSION="$version"
go run "$NFPM" package --config "$work/nfpm.yaml" --packager deb --target "$out/"
ls -l "$out"/monsys-agent_"$version"_*.deb
