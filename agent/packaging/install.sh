#!/bin/sh
# install.sh: install or upgrade monsys-agent with its hardened systemd unit.
#
# From a published release (build-release.sh), piped:
#
#   curl -fsSL https://RELEASES/install.sh | sudo bash -s -- --hub-url https://HUB \
#        --token-file token.txt --ca ca.pem --enroll-cert enroll.pem --enroll-key enroll.key
#   curl -fsSL https://RELEASES/install.sh | sudo bash        # upgrade: keeps /etc/monsys
#
# A first install needs the five settings, as options or environment
# variables (options win). An upgrade takes none: it keeps every file in
# /etc/monsys, replaces the binary and the unit, and restarts the service.
# The binary and the unit are downloaded from RELEASES/VERSION/ and checked
# against RELEASES/VERSION/SHA256SUMS before anything is installed; a
# mismatch installs nothing.
#
# Settings (first install only):
#   --hub-url URL        MONSYS_HUB_URL      hub base URL, https://
#   --token-file FILE    MONSYS_TOKEN_FILE   file holding the agent token ms_...
#   --token TOKEN        MONSYS_TOKEN        the token itself (prefer a file: options show in ps)
#   --ca FILE            MONSYS_CA_CERT      CA certificate that verifies the hub
#   --enroll-cert FILE   MONSYS_ENROLL_CERT  the tenant's enrollment certificate
#   --enroll-key FILE    MONSYS_ENROLL_KEY   its private key
# Source:
#   --release-url URL    MONSYS_RELEASE_URL  where releases are published (default: where this
#                                            script was published)
#   --version VERSION    MONSYS_AGENT_VERSION  the release to install (default: RELEASES/latest)
#   --binary FILE        install this binary instead, with the unit beside this script
#                        (from a checkout: sudo agent/packaging/install.sh --binary ...)
# Other:
#   --no-start           install and enable, or upgrade, without (re)starting
#   --root DIR           MONSYS_INSTALL_ROOT  install under DIR: no user is created and the
#                        service manager is not called unless MONSYS_SYSTEMCTL names one
#
# Files: /usr/bin/monsys-agent; /etc/monsys/{agent.json,token,ca.pem,enroll.pem,enroll.key}
# (root:monsys; token, key and config 0640); /etc/systemd/system/monsys-agent.service.
# The state directory /var/lib/monsys (0700, user monsys) is made by systemd.
set -eu

# Set by build-release.sh in the published copy.
MONSYS_RELEASE_URL_DEFAULT=

usage() {
	cat <<'EOF'
usage: install.sh [settings] [--release-url URL] [--version V] [--binary FILE] [--no-start] [--root DIR]

First install (settings as options or MONSYS_* variables):
  curl -fsSL https://RELEASES/install.sh | sudo bash -s -- --hub-url https://HUB \
       --token-file token.txt --ca ca.pem --enroll-cert enroll.pem --enroll-key enroll.key
Upgrade (keeps /etc/monsys, replaces the binary, restarts the service):
  curl -fsSL https://RELEASES/install.sh | sudo bash

  --hub-url URL       MONSYS_HUB_URL        --ca FILE           MONSYS_CA_CERT
  --token-file FILE   MONSYS_TOKEN_FILE     --enroll-cert FILE  MONSYS_ENROLL_CERT
  --token TOKEN       MONSYS_TOKEN          --enroll-key FILE   MONSYS_ENROLL_KEY
  --release-url URL   MONSYS_RELEASE_URL    --version V         MONSYS_AGENT_VERSION
  --binary FILE       a local binary; the unit comes from beside this script
  --no-start          do not (re)start the service
  --root DIR          MONSYS_INSTALL_ROOT (packaging, tests)
EOF
}

die() {
	echo "install.sh: $*" >&2
	exit 1
}

# need FLAG VALUE: the value of an option that takes one.
need() {
	[ $# -ge 2 ] || die "$1 needs a value (see --help)"
}

# fetch URL FILE: download over HTTPS only, failing on any HTTP error.
fetch() {
	curl -fsSL --proto '=https' --tlsv1.2 --retry 2 -o "$2" "$1" </dev/null ||
		die "could not download $1"
}

# verify FILE NAME: FILE's SHA-256 must be the one SHA256SUMS lists for NAME.
verify() {
	want=$(awk -v n="$2" '$2 == n || $2 == "*" n { print $1; exit }' "$tmp/SHA256SUMS")
	[ -n "$want" ] || die "$2 is not listed in $src/SHA256SUMS: refusing to install it"
	case "$want" in *[!0-9a-f]*) die "$src/SHA256SUMS lists a malformed hash for $2" ;; esac
	[ ${#want} -eq 64 ] || die "$src/SHA256SUMS lists a malformed hash for $2"
	got=$(sha256sum <"$1" | awk '{ print $1 }')
	[ "$got" = "$want" ] ||
		die "checksum mismatch for $2: SHA256SUMS lists $want, the download is $got; refusing to install it"
}

# put SRC DEST MODE [GROUP]: install SRC as DEST atomically (a whole file
# or none), owned by root:GROUP unless under --root.
put() {
	if [ $# -ge 4 ] && [ -z "$root" ]; then
		install -o root -g "$4" -m "$3" "$1" "$2.new"
	else
		install -m "$3" "$1" "$2.new"
	fi
	mv -f "$2.new" "$2"
}

# svc ARGS...: the service manager, when there is one to call.
svc() {
	[ -n "$systemctl" ] || return 0
	"$systemctl" "$@" </dev/null
}

main() {
	hub_url=${MONSYS_HUB_URL:-} token=${MONSYS_TOKEN:-} token_file=${MONSYS_TOKEN_FILE:-}
	ca=${MONSYS_CA_CERT:-} enroll_cert=${MONSYS_ENROLL_CERT:-} enroll_key=${MONSYS_ENROLL_KEY:-}
	release=${MONSYS_RELEASE_URL:-$MONSYS_RELEASE_URL_DEFAULT} version=${MONSYS_AGENT_VERSION:-}
	root=${MONSYS_INSTALL_ROOT:-} binary= start=yes
	while [ $# -gt 0 ]; do
		case "$1" in
		--hub-url) need "$@"; hub_url=$2; shift 2 ;;
		--token) need "$@"; token=$2; shift 2 ;;
		--token-file) need "$@"; token_file=$2; shift 2 ;;
		--ca) need "$@"; ca=$2; shift 2 ;;
		--enroll-cert) need "$@"; enroll_cert=$2; shift 2 ;;
		--enroll-key) need "$@"; enroll_key=$2; shift 2 ;;
		--release-url) need "$@"; release=$2; shift 2 ;;
		--version) need "$@"; version=$2; shift 2 ;;
		--binary) need "$@"; binary=$2; shift 2 ;;
		--root) need "$@"; root=$2; shift 2 ;;
		--no-start) start=no; shift ;;
		-h | --help) usage; exit 0 ;;
		*) die "unknown option $1 (see --help)" ;;
		esac
	done
	root=${root%/}
	[ -n "$root" ] || [ "$(id -u)" -eq 0 ] || die "run as root: curl -fsSL .../install.sh | sudo bash"

	# The service manager: systemctl when systemd runs this host; under
	# --root only the one MONSYS_SYSTEMCTL names (a shim in the tests).
	systemctl=${MONSYS_SYSTEMCTL:-}
	if [ -z "$systemctl" ] && [ -z "$root" ] && [ -d /run/systemd/system ]; then
		systemctl=systemctl
	fi

	etc="$root/etc/monsys"
	[ ! -e "$root/var/lib/dpkg/info/monsys-agent.list" ] ||
		die "monsys-agent is installed from the .deb here: upgrade it with apt (sudo apt install ./monsys-agent_VERSION_ARCH.deb)"
	if [ -e "$etc/agent.json" ]; then
		mode=upgrade
		[ -z "$hub_url$token$token_file$ca$enroll_cert$enroll_key" ] ||
			die "monsys-agent is already installed ($etc/agent.json exists): run without settings to upgrade, or edit the files in /etc/monsys"
	else
		mode=install
		[ -n "$hub_url$token$token_file$ca$enroll_cert$enroll_key" ] ||
			die "nothing is installed yet ($etc/agent.json does not exist): a first install needs --hub-url, --token-file, --ca, --enroll-cert and --enroll-key (see --help)"
		check_settings
	fi

	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	trap 'exit 1' HUP INT TERM
	if [ -n "$binary" ]; then
		here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
		[ -r "$binary" ] || die "cannot read --binary $binary"
		[ -r "$here/monsys-agent.service" ] ||
			die "--binary needs monsys-agent.service beside install.sh (run agent/packaging/install.sh from a checkout)"
		cp "$binary" "$tmp/monsys-agent"
		cp "$here/monsys-agent.service" "$tmp/monsys-agent.service"
		from="$binary"
	else
		download
		from="$src"
	fi

	# Everything is checked: from here on only installs.
	install -d -m 0755 "$root/usr/bin" "$root/etc/systemd/system"
	put "$tmp/monsys-agent" "$root/usr/bin/monsys-agent" 0755
	put "$tmp/monsys-agent.service" "$root/etc/systemd/system/monsys-agent.service" 0644
	if [ "$mode" = upgrade ]; then
		svc daemon-reload
		if [ "$start" = yes ]; then
			svc restart monsys-agent.service
		fi
		echo "monsys-agent upgraded from $from under ${root:-/}; /etc/monsys kept"
		return
	fi
	install_settings
	svc daemon-reload
	if [ "$start" = yes ]; then
		svc enable --now monsys-agent.service
	else
		svc enable monsys-agent.service
	fi
	echo "monsys-agent installed from $from under ${root:-/}"
	if [ -n "$systemctl" ]; then
		echo "check it with: sudo -u monsys monsys-agent status --config /etc/monsys/agent.json"
	else
		echo "no service manager was called (systemd is not running, or --root): enable and start monsys-agent.service there"
	fi
}

# check_settings: a first install's settings are complete and sound.
check_settings() {
	[ -n "$hub_url" ] || die "a first install needs --hub-url (or MONSYS_HUB_URL)"
	case "$hub_url" in https://?*) ;; *) die "--hub-url must start with https://: $hub_url" ;; esac
	case "$hub_url" in *[!A-Za-z0-9._~:/%@+-]*) die "--hub-url may hold only letters, digits and ._~:/%@+-: $hub_url" ;; esac
	if [ -z "$token" ]; then
		[ -n "$token_file" ] || die "a first install needs --token-file (or --token, MONSYS_TOKEN_FILE, MONSYS_TOKEN)"
		[ -r "$token_file" ] || die "cannot read --token-file $token_file"
		token=$(cat -- "$token_file")
	fi
	case "$token" in ms_*) ;; *) die "the agent token must start with ms_ (an admin key msa_ is not an agent token)" ;; esac
	case "$token" in *[!A-Za-z0-9_=-]*) die "the agent token holds a character that is not base32 or base64url (a stray carriage return?)" ;; esac
	for pair in "--ca:$ca" "--enroll-cert:$enroll_cert" "--enroll-key:$enroll_key"; do
		flag=${pair%%:*} file=${pair#*:}
		[ -n "$file" ] || die "a first install needs $flag FILE"
		[ -r "$file" ] || die "cannot read $flag $file"
	done
}

# download: the release's binary for this machine and its unit, checked.
download() {
	[ -n "$release" ] || die "no release URL: pass --release-url https://... (or MONSYS_RELEASE_URL)"
	release=${release%/}
	case "$release" in https://?*) ;; *) die "the release URL must start with https://: $release" ;; esac
	command -v curl >/dev/null 2>&1 || die "curl is needed to download the release"
	command -v sha256sum >/dev/null 2>&1 || die "sha256sum is needed to check the release"
	case $(uname -m) in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) die "no monsys-agent release for this machine ($(uname -m))" ;;
	esac
	if [ -z "$version" ]; then
		fetch "$release/latest" "$tmp/latest"
		version=$(tr -d ' \r\n' <"$tmp/latest")
	fi
	case "$version" in '' | .* | *[!0-9A-Za-z.+~_-]*) die "bad version \"$version\"" ;; esac
	src="$release/$version"
	fetch "$src/SHA256SUMS" "$tmp/SHA256SUMS"
	fetch "$src/monsys-agent_linux_$arch" "$tmp/monsys-agent"
	fetch "$src/monsys-agent.service" "$tmp/monsys-agent.service"
	verify "$tmp/monsys-agent" "monsys-agent_linux_$arch"
	verify "$tmp/monsys-agent.service" monsys-agent.service
}

# install_settings: the user, /etc/monsys and its files; agent.json last,
# so that an interrupted first install is not taken for an installed one.
install_settings() {
	group=root
	if [ -z "$root" ]; then
		if ! getent passwd monsys >/dev/null 2>&1; then
			useradd --system --home-dir /var/lib/monsys --no-create-home \
				--shell /usr/sbin/nologin --user-group monsys </dev/null
		fi
		group=monsys
	fi
	umask 077
	install -d -m 0750 "$etc"
	[ -n "$root" ] || chown "root:$group" "$etc"
	put "$ca" "$etc/ca.pem" 0644 "$group"
	put "$enroll_cert" "$etc/enroll.pem" 0644 "$group"
	put "$enroll_key" "$etc/enroll.key" 0640 "$group"
	printf '%s\n' "$token" >"$tmp/token"
	put "$tmp/token" "$etc/token" 0640 "$group"
	cat >"$tmp/agent.json" <<JSON
{
  "hub_url": "$hub_url",
  "token_file": "/etc/monsys/token",
  "ca_cert": "/etc/monsys/ca.pem",
  "enroll_cert": "/etc/monsys/enroll.pem",
  "enroll_key": "/etc/monsys/enroll.key",
  "state_dir": "/var/lib/monsys"
}
JSON
	put "$tmp/agent.json" "$etc/agent.json" 0640 "$group"
}

# Nothing runs until the whole script has arrived: a download cut short
# ends before this line and does nothing.
main "$@"
