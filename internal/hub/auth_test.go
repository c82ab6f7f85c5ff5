package hub_test

import (
	"errors"
	"testing"

	"github.com/monsys/hub/internal/hub"
)

// TestAgentCredentialCache: a warm function reads an agent token's
// credential once (a token's credential never changes while it is valid);
// the agent item, read on every request, still decides whether the token is
// the agent's current one.
func TestAgentCredentialCache(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	f.mustIngest(a, "1.4.2", 1)
	// The credential is not read again: a backend fault queued for it is
	// never reached.
	f.store.FailNext("GetCredential", hub.ErrUnavailable)
	f.mustIngest(a, "1.4.2", 1)
	if _, err := f.store.GetCredential(f.ctx, "unused"); !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("the ingest read the credential again (the queued fault is gone: %v)", err)
	}
	// A rotated-out token is refused at once, although its credential is cached.
	na, err := f.core.Agents.RotateToken(f.ctx, f.admin, a.id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ingest(a.req(a.next("1.4.2", 1)))
	wantCode(t, err, hub.CodeUnauthorized)
	a.token = na.Token
	f.mustIngest(a, "1.4.2", 1)
	// A failed read is not cached: the next request reads again.
	b := f.newAgent()
	body := regBody("1.4.2", pubB64(b.key), csrPEM(t, b.tlsKey))
	f.store.FailNext("GetCredential", hub.ErrUnavailable)
	_, err = f.register(b.token, f.enroll, body)
	wantCode(t, err, hub.CodeUnavailable)
	if _, err := f.register(b.token, f.enroll, body); err != nil {
		t.Fatal(err)
	}
}
