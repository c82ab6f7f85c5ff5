#!/usr/bin/env bash
# ensure-lintian.sh makes sure lintian (Debian's package checker) is there for
# the agent package's tests (agent/packaging), installing it from Debian's
# packages when running as root with apt-get. Without it those tests skip the
# lintian check with a message; dpkg-deb and systemd-analyze come with the
# base image.
set -euo pipefail
log() { printf 'ensure-lintian: %s\n' "$*" >&2; }
command -v lintian >/dev/null 2>&1 && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	log "installing lintian (apt)"
	if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian >/dev/null; then
		exit 0
	fi
	log "could not install lintian; the agent package's lintian check will be skipped"
else
	log "lintian is not installed (needs root and apt-get); the agent package's lintian check will be skipped"
fi
