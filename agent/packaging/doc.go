// Package packaging holds the agent's installation files (systemd unit,
// install.sh, nfpm configuration) and the tests that check them; it has no
// Go code of its own.
package packaging
