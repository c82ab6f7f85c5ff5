// Package cred makes and recognises the hub's bearer credentials (SPEC 2):
// agent tokens ("ms_") and tenant admin keys ("msa_"). Only their SHA-256 is stored.
package cred

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Kind tells an agent token from an admin key.
type Kind string

const (
	// KindAgent is an agent token, "ms_...".
	KindAgent Kind = "agent"
	// KindAdmin is a tenant admin key, "msa_...".
	KindAdmin Kind = "admin"
)

const (
	agentPrefix = "ms_"
	adminPrefix = "msa_"
	secretBytes = 32
	maxLen      = 256
)

// ErrMalformed means a presented credential has neither prefix or a bad body.
var ErrMalformed = errors.New("malformed credential")

var enc = base64.RawURLEncoding

// New makes a fresh credential of kind k from 32 bytes of r.
func New(k Kind, r io.Reader) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("new %s credential: read random: %w", k, err)
	}
	p := agentPrefix
	if k == KindAdmin {
		p = adminPrefix
	}
	return p + enc.EncodeToString(b), nil
}

// Classify tells which kind a presented credential claims to be, checking its
// shape only. The error never quotes the credential.
func Classify(s string) (Kind, error) {
	if len(s) > maxLen {
		return "", fmt.Errorf("%w: %d characters", ErrMalformed, len(s))
	}
	var k Kind
	var body string
	switch {
	case strings.HasPrefix(s, adminPrefix):
		k, body = KindAdmin, s[len(adminPrefix):]
	case strings.HasPrefix(s, agentPrefix):
		k, body = KindAgent, s[len(agentPrefix):]
	default:
		return "", fmt.Errorf("%w: unknown prefix", ErrMalformed)
	}
	if len(body) < 43 { // 32 bytes in unpadded base64
		return "", fmt.Errorf("%w: too short", ErrMalformed)
	}
	for _, c := range body {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
			return "", fmt.Errorf("%w: bad character", ErrMalformed)
		}
	}
	return k, nil
}

// Hash is the stored form of a credential: lowercase hex SHA-256.
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Bearer extracts the credential from an Authorization header value.
func Bearer(header string) (string, bool) {
	const p = "bearer "
	if len(header) < len(p) || !strings.EqualFold(header[:len(p)], p) {
		return "", false
	}
	t := strings.TrimSpace(header[len(p):])
	return t, t != ""
}
