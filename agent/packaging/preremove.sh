#!/bin/sh
# nfpm pre-remove: stop the agent; the state directory (key, spool) stays.
set -e
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now monsys-agent.service || true
fi
