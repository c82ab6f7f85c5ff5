#!/bin/sh
# build-release.sh: build what install.sh downloads, in the layout it reads.
#
#   agent/packaging/build-release.sh BASE_URL [OUTDIR]     (from the repository root)
#
# BASE_URL is the HTTPS address where OUTDIR is to be published, as is. It
# becomes the default source of the published install.sh, so that on a host
#   curl -fsSL BASE_URL/install.sh | sudo bash
# needs no other argument to upgrade. OUTDIR (default dist/release) gets:
#
#   install.sh                              install.sh with BASE_URL built in
#   latest                                  VERSION, one line (written last)
#   VERSION/monsys-agent_linux_ARCH         the static binary, for each ARCH in $ARCHES
#   VERSION/monsys-agent_VERSION_ARCH.deb   the Debian package (build-deb.sh)
#   VERSION/monsys-agent.service            the systemd unit install.sh installs
#   VERSION/SHA256SUMS                      sha256sum of every other file in VERSION/
#
# VERSION is the newest entry of agent/packaging/changelog; ARCHES defaults
# to "amd64 arm64". Versions already in OUTDIR stay.
set -eu
die() { echo "build-release.sh: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: build-release.sh BASE_URL [OUTDIR]"
base=${1%/}
out=${2:-dist/release}
case "$base" in https://?*) ;; *) die "BASE_URL must start with https://" ;; esac
case "$base" in *[!A-Za-z0-9._~:/%@+-]*) die "BASE_URL may hold only letters, digits and ._~:/%@+-: $base" ;; esac
pkg=agent/packaging
version=$(sh "$pkg/version.sh")
arches=${ARCHES:-amd64 arm64}

rel="$out/$version"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$rel"
for arch in $arches; do
	GOARCH=$arch sh "$pkg/build-deb.sh" "$version" "$work/$arch" >&2
	cp "$work/$arch/monsys-agent" "$rel/monsys-agent_linux_$arch"
	cp "$work/$arch/monsys-agent_${version}_$arch.deb" "$rel/"
done
cp "$pkg/monsys-agent.service" "$rel/"
# Each file appears whole (written beside, then renamed); latest last, so
# it never names a version whose files are not all there.
(cd "$rel" && rm -f SHA256SUMS && sha256sum -- *) > "$rel/.SHA256SUMS.new"
mv "$rel/.SHA256SUMS.new" "$rel/SHA256SUMS"
sed "s|^MONSYS_RELEASE_URL_DEFAULT=.*|MONSYS_RELEASE_URL_DEFAULT=$base|" "$pkg/install.sh" > "$out/.install.sh.new"
grep -q "^MONSYS_RELEASE_URL_DEFAULT=$base\$" "$out/.install.sh.new" || die "install.sh has no MONSYS_RELEASE_URL_DEFAULT= line to set"
mv "$out/.install.sh.new" "$out/install.sh"
printf '%s\n' "$version" > "$out/.latest.new"
mv "$out/.latest.new" "$out/latest"
echo "release $version for ${arches}: publish $out at $base" >&2
