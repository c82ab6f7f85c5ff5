// Package e2e holds the agent's end-to-end tests against the real local hub
// (internal/local) over real mutual TLS. It has no non-test code, so the
// agent's packages stay free of the hub's AWS-backed dependencies.
package e2e
