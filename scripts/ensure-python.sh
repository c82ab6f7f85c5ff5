#!/usr/bin/env bash
# ensure-python.sh makes sure python3 is there for verify.py's tests, and tries
# to add the optional `cryptography` module from Debian's packages. verify.py
# also works without it, and its tests cover both paths.
set -euo pipefail
log() { printf 'ensure-python: %s\n' "$*" >&2; }
if ! command -v python3 >/dev/null 2>&1; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		log "installing python3 (apt)"
		apt-get update -qq && apt-get install -y -qq python3 python3-cryptography >/dev/null
	else
		log "python3 is required for the verify.py tests"; exit 1
	fi
fi
if ! python3 -c 'import cryptography' >/dev/null 2>&1; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		log "installing python3-cryptography (apt)"
		apt-get update -qq && apt-get install -y -qq python3-cryptography >/dev/null || log "could not install python3-cryptography; the cryptography path of verify.py will be skipped"
	else
		log "python3 has no cryptography module; the cryptography path of verify.py will be skipped"
	fi
fi
