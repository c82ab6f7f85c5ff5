#!/bin/sh
# version.sh: print the agent's version, the newest entry of the changelog
# beside this script (the Debian changelog the .deb ships).
set -eu
changelog="$(dirname -- "$0")/changelog"
v=$(sed -n '1s/^monsys-agent (\([^)]*\)) .*/\1/p' "$changelog")
if [ -z "$v" ]; then
	echo "version.sh: the first line of $changelog is not \"monsys-agent (VERSION) ...\"" >&2
	exit 1
fi
printf '%s\n' "$v"
