package daemon

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/monsys/hub/agent/identity"
	"github.com/monsys/hub/agent/keyfile"
	"github.com/monsys/hub/agent/spool"
	"github.com/monsys/hub/agent/state"
)

// Report is what `monsys-agent status` shows. It is read from the state
// directory only; it changes nothing and contacts nobody.
type Report struct {
	StateDir    string
	KeyPath     string
	KeyErr      error
	Fingerprint string
	KeyMatches  bool // the key file's key is the one last registered
	State       state.State
	Cert        *identity.Identity
	CertErr     error
	Spool       spool.Stats
	SpoolMax    int64
}

// Inspect builds the Report for stateDir.
func Inspect(stateDir string, spoolMax int64) (Report, error) {
	r := Report{StateDir: stateDir, KeyPath: keyfile.Path(stateDir), SpoolMax: spoolMax}
	st, err := state.NewStore(stateDir).Load()
	if err != nil {
		return r, err
	}
	r.State = st
	if k, err := keyfile.Load(r.KeyPath); err != nil {
		r.KeyErr = err
	} else {
		r.Fingerprint = Fingerprint(k.Public().(ed25519.PublicKey))
		r.KeyMatches = st.RegisteredPubkey == PubkeyB64(k)
	}
	if id, err := identity.Load(identity.Path(stateDir)); err == nil {
		r.Cert = &id
	} else {
		r.CertErr = err
	}
	if r.Spool, err = spool.Inspect(filepath.Join(stateDir, SpoolDir)); err != nil {
		return r, err
	}
	return r, nil
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		return t.UTC().Format(time.RFC3339) + " (in the future)"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), d)
}

// Format renders the report for a person.
func (r Report) Format(now time.Time) string {
	var b strings.Builder
	line := func(k, f string, args ...any) { fmt.Fprintf(&b, "%-20s %s\n", k+":", fmt.Sprintf(f, args...)) }
	line("state directory", "%s", r.StateDir)
	agent := r.State.AgentID
	if agent == "" {
		agent = "not registered yet"
	}
	line("agent id", "%s", agent)
	switch {
	case errors.Is(r.KeyErr, keyfile.ErrNotExist):
		line("signing key", "none yet (created on first start)")
	case r.KeyErr != nil:
		line("signing key", "REFUSED: %v", r.KeyErr)
	default:
		line("signing key", "%s", r.KeyPath)
		line("key fingerprint", "%s", r.Fingerprint)
	}
	switch {
	case r.State.AgentID == "":
		line("signing pin", "unknown (never registered)")
	case !r.State.SigningPinned:
		line("signing pin", "NOT PINNED: the hub accepts this agent's data as unsigned")
	case !r.KeyMatches && r.KeyErr == nil:
		line("signing pin", "pinned since %s, but to another key than the key file's (registers on next send)", r.State.SigningSetAt)
	default:
		line("signing pin", "pinned since %s", r.State.SigningSetAt)
	}
	switch {
	case r.Cert != nil:
		leaf := r.Cert.Leaf
		life := leaf.NotAfter.Sub(leaf.NotBefore)
		renew := leaf.NotBefore.Add(life * 2 / 3)
		left := leaf.NotAfter.Sub(now).Round(time.Minute)
		state := fmt.Sprintf("expires %s (in %s), renewal from %s", leaf.NotAfter.UTC().Format(time.RFC3339), left, renew.UTC().Format(time.RFC3339))
		if left <= 0 {
			state = fmt.Sprintf("EXPIRED %s", leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		line("client certificate", "%s, %s", leaf.Subject.CommonName, state)
	case errors.Is(r.CertErr, identity.ErrNotExist):
		line("client certificate", "none yet (enrolls with the tenant enrollment certificate)")
	default:
		line("client certificate", "UNUSABLE: %v", r.CertErr)
	}
	max := r.SpoolMax
	if max == 0 {
		max = spool.DefaultMaxBytes
	}
	line("spool", "%d batches waiting, %s of %s", r.Spool.Batches, bytesHuman(r.Spool.Bytes), bytesHuman(max))
	line("spool drops", "%d batches (%d records) in all, %d not yet reported", r.Spool.DropTotal.Batches, r.Spool.DropTotal.Records, r.Spool.Unsent.Batches)
	if r.State.Rejected > 0 {
		line("rejected batches", "%d refused by the hub as malformed", r.State.Rejected)
	}
	line("last contact", "%s", ago(now, r.State.LastContact))
	if r.State.LastError != "" {
		line("last error", "%s, %s", ago(now, r.State.LastErrorAt), r.State.LastError)
	}
	return b.String()
}

func bytesHuman(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
