package hub

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/monsys/hub/internal/ca"
)

// identCacheSize bounds the cache; past it the cache starts over.
const identCacheSize = 4096

// identCacheTTL bounds how long a verification is reused, whatever the
// certificate's own lifetime.
const identCacheTTL = 10 * time.Minute

// identCache remembers successful certificate identifications by the SHA-256
// of the presented PEM, so a warm function does not re-verify the P-256 chain
// on every request (the dominant cost of an ingest after JSON decoding). Only
// successes are kept, and never past the certificate's NotAfter: pinning, not
// this cache, decides whether a certificate is acceptable for an agent.
type identCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]identEntry
}

type identEntry struct {
	id    ca.Identity
	until time.Time
}

func (c *identCache) get(pem string, now time.Time) (ca.Identity, bool) {
	k := sha256.Sum256([]byte(pem))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.until) {
		return ca.Identity{}, false
	}
	return e.id, true
}

func (c *identCache) put(pem string, id ca.Identity, now time.Time) {
	until := now.Add(identCacheTTL)
	if id.NotAfter.Before(until) {
		until = id.NotAfter
	}
	k := sha256.Sum256([]byte(pem))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= identCacheSize {
		c.m = make(map[[sha256.Size]byte]identEntry)
	}
	c.m[k] = identEntry{id: id, until: until}
}
