package verify

// SPEC 10 in packs: the transparency/ proofs checked against the log key
// and the witnesses' keys (verify.py --log-key, --witness-key,
// --witness-quorum). verify.py's check_transparency prints the same lines;
// both run the vectors in testdata/transparency. Verify runs them, after
// the deep checks, when Options.Transparency is set.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/sig"
	"github.com/monsys/hub/internal/tlog"
)

// Members of the transparency folder (SPEC 8, 10).
const (
	PackProofName  = "transparency/pack.tlog-proof"
	PinsProofsName = "transparency/pins.tlog-proofs"
)

// ErrUsage reports unusable transparency options (exit 2).
var ErrUsage = errors.New("verify: bad transparency option")

// TransparencyOptions are verify.py's --log-key, --witness-key (repeated)
// and --witness-quorum (0: all given witnesses).
type TransparencyOptions struct {
	LogKey      string
	WitnessKeys []string
	Quorum      int
}

// TransparencyKeys are parsed TransparencyOptions.
type TransparencyKeys struct {
	log       tlog.VKey
	logV      note.Verifier
	witnesses []witnessKey
	quorum    int
}

type witnessKey struct {
	vk tlog.VKey
	v  note.Verifier
}

// ParseTransparencyOptions checks the keys: the log key an Ed25519 note
// verifier key, each witness key a cosignature/v1 one, no key given twice,
// every public key canonical and not of small order (so that the library's
// Ed25519 checks are as strict as SPEC 3), and 1 ≤ quorum ≤ witnesses.
func ParseTransparencyOptions(o TransparencyOptions) (*TransparencyKeys, error) {
	k := &TransparencyKeys{}
	lk, err := tlog.ParseVKey(o.LogKey)
	if err != nil || lk.Alg != tlog.AlgEd25519 || sig.CheckPublicKey(lk.Key) != nil {
		return nil, fmt.Errorf("%w: --log-key %q is not an Ed25519 note verifier key", ErrUsage, o.LogKey)
	}
	if k.logV, err = note.NewVerifier(o.LogKey); err != nil {
		return nil, fmt.Errorf("%w: --log-key: %w", ErrUsage, err)
	}
	k.log = lk
	seen := map[string]bool{o.LogKey: true}
	for _, s := range o.WitnessKeys {
		wk, err := tlog.ParseVKey(s)
		if err != nil || wk.Alg != tlog.AlgCosignature || sig.CheckPublicKey(wk.Key) != nil {
			return nil, fmt.Errorf("%w: --witness-key %q is not a cosignature/v1 verifier key", ErrUsage, s)
		}
		if seen[s] {
			return nil, fmt.Errorf("%w: key %q given twice", ErrUsage, s)
		}
		seen[s] = true
		v, err := torchwood.NewCosignatureVerifier(s)
		if err != nil {
			return nil, fmt.Errorf("%w: --witness-key: %w", ErrUsage, err)
		}
		k.witnesses = append(k.witnesses, witnessKey{wk, v})
	}
	k.quorum = o.Quorum
	if k.quorum == 0 {
		k.quorum = len(k.witnesses)
	}
	if k.quorum < 0 || k.quorum > len(k.witnesses) || (len(k.witnesses) > 0 && k.quorum < 1) {
		return nil, fmt.Errorf("%w: --witness-quorum %d with %d witness keys", ErrUsage, o.Quorum, len(k.witnesses))
	}
	return k, nil
}

// TransparencyInput is what the checks read from a pack.
type TransparencyInput struct {
	PackID, TenantID, GeneratedAt string // from the manifest
	ManifestSHA256                string // of manifest.json's bytes
	PackProof                     []byte // nil when missing
	PinsProofs                    []byte // nil when missing
	KeyHistory                    []tlog.Entry
	// KeyHistoryUnreadable: data/agents.ndjson is not SPEC 9's key
	// history (or too large to hold), so its pins cannot be looked up.
	KeyHistoryUnreadable bool
}

// agentsFile keeps data/agents.ndjson as it streams by, up to
// maxAgentsFile bytes, for the key-history check.
type agentsFile struct {
	data   []byte
	tooBig bool
}

func (a *agentsFile) line(_ int64, line []byte, long bool) {
	if long || len(a.data)+len(line) > maxAgentsFile {
		a.tooBig = true
		return
	}
	a.data = append(append(a.data, line...), '\n')
}

// CheckPackTransparency runs CheckTransparency on what was read from a pack:
// the manifest's identifiers, the SHA-256 of manifest.json's bytes, the two
// transparency/ members and the key history of data/agents.ndjson (the
// Contents must have been read with the transparency checks on).
func CheckPackTransparency(c *Contents, m *Manifest, k *TransparencyKeys) []Check {
	in := TransparencyInput{PackID: m.PackID, TenantID: m.TenantID, GeneratedAt: m.GeneratedAt,
		ManifestSHA256: pack.SHA256Hex(c.Members[pack.ManifestName]),
		PackProof:      c.Members[PackProofName], PinsProofs: c.Members[PinsProofsName]}
	if c.history == nil || c.history.tooBig {
		in.KeyHistoryUnreadable = true
	} else if es, err := KeyHistoryEntries(m.TenantID, c.history.data); err != nil {
		in.KeyHistoryUnreadable = true
	} else {
		in.KeyHistory = es
	}
	return CheckTransparency(in, k)
}

// checkpoint is a verified checkpoint and its witnesses' cosignature times.
type checkpoint struct {
	raw   []byte
	c     torchwood.Checkpoint
	times map[string]int64 // witness name → cosignature time
}

// maxCosignTime is 9999-12-31T23:59:59Z: later cosignature times are not
// counted (both verifiers print times as RFC 3339).
const maxCosignTime = 253402300799

// openCheckpoint verifies a checkpoint note (c2sp.org/signed-note with
// x/mod's note.Open): "" and the checkpoint, or the ✗ text.
func (k *TransparencyKeys) openCheckpoint(raw []byte, where string) (*checkpoint, string, string) {
	vs := []note.Verifier{k.logV}
	for _, w := range k.witnesses {
		vs = append(vs, w.v)
	}
	n, err := note.Open(raw, note.VerifierList(vs...))
	var inv *note.InvalidSignatureError
	var unv *note.UnverifiedNoteError
	switch {
	case errors.As(err, &inv):
		return nil, "checkpoint_signature_invalid", "Checkpoint signature invalid: " + inv.Name
	case errors.As(err, &unv):
		return nil, "checkpoint_unsigned", "Checkpoint not signed by the log key " + k.log.Name
	case err != nil:
		return nil, "checkpoint_malformed", "Checkpoint malformed: " + where
	}
	if !slices.ContainsFunc(n.Sigs, func(s note.Signature) bool { return s.Name == k.log.Name && s.Hash == k.log.Hash }) {
		return nil, "checkpoint_unsigned", "Checkpoint not signed by the log key " + k.log.Name
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, "checkpoint_malformed", "Checkpoint malformed: " + where
	}
	if c.Origin != k.log.Name {
		return nil, "checkpoint_origin", "Checkpoint of another log: " + c.Origin
	}
	cp := &checkpoint{raw: raw, c: c, times: map[string]int64{}}
	for _, s := range n.Sigs {
		for _, w := range k.witnesses {
			if s.Name == w.vk.Name && s.Hash == w.vk.Hash {
				b, _ := base64.StdEncoding.DecodeString(s.Base64)
				if t := binary.BigEndian.Uint64(b[4:12]); t <= maxCosignTime {
					cp.times[w.vk.Name] = int64(t)
				}
			}
		}
	}
	return cp, "", ""
}

// CheckTransparency runs the three checks of SPEC 10 in the order verify.py
// prints them: the pack's entry is in the log ("log"), its checkpoint is
// cosigned by a quorum no earlier than generated_at ("witnesses"), and
// every key-history pin and unpin is in the log ("key_history").
func CheckTransparency(in TransparencyInput, k *TransparencyKeys) []Check {
	lc, cp := checkPackLogged(in, k)
	return []Check{lc, checkWitnesses(in, k, cp), checkKeyHistory(in, k, cp)}
}

func checkPackLogged(in TransparencyInput, k *TransparencyKeys) (Check, *checkpoint) {
	ch := newCheck("log")
	if in.PackProof == nil {
		ch.fail("transparency_missing", "Transparency proof missing: "+PackProofName)
		return ch, nil
	}
	p, err := tlog.ParseProof(in.PackProof)
	var pe *tlog.ProofError
	if errors.As(err, &pe) || (err == nil && !p.HasExtra) {
		reason := "no entry (extra line)"
		if pe != nil {
			reason = pe.Reason
		}
		ch.fail("transparency_malformed", "Transparency proof malformed: "+PackProofName+" ("+reason+")")
		return ch, nil
	}
	cp, code, msg := k.openCheckpoint(p.Checkpoint, PackProofName)
	if cp == nil {
		ch.fail(code, msg)
		return ch, nil
	}
	if sumtlog.CheckRecord(p.Path, cp.c.N, cp.c.Hash, p.Index, sumtlog.RecordHash(p.Extra)) != nil {
		ch.fail("inclusion_invalid", fmt.Sprintf("Inclusion proof invalid: %s (index %d, tree size %d)", PackProofName, p.Index, cp.c.N))
		return ch, cp
	}
	want, err := tlog.Pack(in.TenantID, in.PackID, in.ManifestSHA256, in.GeneratedAt).Bytes()
	if err != nil || !bytes.Equal(p.Extra, want) {
		ch.fail("entry_mismatch", entryMismatch(p.Extra, map[string]string{"type": tlog.TypePack, "tenant_id": in.TenantID,
			"pack_id": in.PackID, "manifest_sha256": in.ManifestSHA256, "generated_at": in.GeneratedAt}))
		return ch, cp
	}
	ch.pass(fmt.Sprintf("Logged in %s at index %d (tree size %d)", cp.c.Origin, p.Index, cp.c.N))
	return ch, cp
}

// packFields are compared in this order to name what differs.
var packFields = []string{"type", "tenant_id", "pack_id", "manifest_sha256", "generated_at"}

func entryMismatch(extra []byte, want map[string]string) string {
	var got map[string]any
	if _, err := canon.Transform(extra); err != nil || json.Unmarshal(extra, &got) != nil || got == nil {
		return "Logged entry is not a pack entry"
	}
	var diff []string
	for _, f := range packFields {
		if s, ok := got[f].(string); !ok || s != want[f] {
			diff = append(diff, f)
		}
	}
	if len(diff) == 0 {
		return "Logged entry is not this pack's: not in canonical form"
	}
	verb := " differs"
	if len(diff) > 1 {
		verb = " differ"
	}
	return "Logged entry is not this pack's: " + strings.Join(diff, ", ") + verb
}

func checkWitnesses(in TransparencyInput, k *TransparencyKeys, cp *checkpoint) Check {
	ch := newCheck("witnesses")
	switch {
	case len(k.witnesses) == 0:
		ch.fail("no_witness_key", "No witness key given: cosignatures not checked")
		return ch
	case cp == nil:
		ch.fail("not_checked", "Cosignatures not checked: the checkpoint did not verify")
		return ch
	}
	var missing []string
	first := int64(-1)
	for _, w := range k.witnesses {
		t, ok := cp.times[w.vk.Name]
		if !ok {
			missing = append(missing, w.vk.Name)
			continue
		}
		if first < 0 || t < first {
			first = t
		}
	}
	n := len(k.witnesses) - len(missing)
	if n < k.quorum {
		ch.fail("quorum", fmt.Sprintf("Cosigned by %d of %d witnesses, quorum %d not met (no cosignature from: %s)",
			n, len(k.witnesses), k.quorum, strings.Join(missing, ", ")))
		return ch
	}
	firstAt := time.Unix(first, 0).UTC().Format(time.RFC3339)
	gen, err := time.Parse(time.RFC3339Nano, in.GeneratedAt)
	switch {
	case err != nil:
		ch.fail("generated_at", "generated_at is not a valid time")
	case gen.Unix() > first:
		ch.fail("backdated", fmt.Sprintf("generated_at %s is later than the first cosignature, %s", in.GeneratedAt, firstAt))
	default:
		ch.pass(fmt.Sprintf("Cosigned by %d of %d witnesses (quorum %d), first at %s", n, len(k.witnesses), k.quorum, firstAt))
	}
	return ch
}

func checkKeyHistory(in TransparencyInput, k *TransparencyKeys, cp *checkpoint) Check {
	ch := newCheck("key_history")
	if cp == nil {
		ch.fail("not_checked", "Key history not checked: the checkpoint did not verify")
		return ch
	}
	if in.KeyHistoryUnreadable {
		ch.fail("key_history_unreadable", "Key history unreadable: "+pack.DataDir+pack.AgentsPath)
		return ch
	}
	logged := map[string]bool{}
	if in.PinsProofs == nil {
		if len(in.KeyHistory) > 0 {
			ch.fail("transparency_missing", "Transparency proofs missing: "+PinsProofsName)
			return ch
		}
	} else {
		proofs, err := tlog.SplitProofs(in.PinsProofs)
		if err != nil || len(proofs) == 0 {
			ch.fail("transparency_malformed", "Transparency proof malformed: "+PinsProofsName+" #1 (missing header)")
			return ch
		}
		for i, raw := range proofs {
			where := fmt.Sprintf("%s #%d", PinsProofsName, i+1)
			p, err := tlog.ParseProof(raw)
			var pe *tlog.ProofError
			switch {
			case errors.As(err, &pe):
				ch.fail("transparency_malformed", "Transparency proof malformed: "+where+" ("+pe.Reason+")")
			case !p.HasExtra:
				ch.fail("transparency_malformed", "Transparency proof malformed: "+where+" (no entry (extra line))")
			case !bytes.Equal(p.Checkpoint, cp.raw):
				ch.fail("checkpoint_differs", "Transparency proof against another checkpoint: "+where)
			case sumtlog.CheckRecord(p.Path, cp.c.N, cp.c.Hash, p.Index, sumtlog.RecordHash(p.Extra)) != nil:
				ch.fail("inclusion_invalid", fmt.Sprintf("Inclusion proof invalid: %s (index %d, tree size %d)", where, p.Index, cp.c.N))
			default:
				logged[string(p.Extra)] = true
			}
		}
	}
	pins, unpins := 0, 0
	for _, e := range in.KeyHistory {
		b, err := e.Bytes()
		if err != nil || !logged[string(b)] {
			ch.fail("not_logged", fmt.Sprintf("Key history not in the log: %s of %s for %s at %s", e.Type, e.Fingerprint, e.AgentID, e.At))
			continue
		}
		if e.Type == tlog.TypePin {
			pins++
		} else {
			unpins++
		}
	}
	if ch.OK {
		ch.pass(fmt.Sprintf("Key history in the log (%d %s, %d %s)", pins, plural(pins, "pin"), unpins, plural(unpins, "unpin")))
	}
	return ch
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// KeyHistoryEntries returns the pin and unpin entries that the key history
// of data/agents.ndjson (SPEC 9: each agent line's "signing_keys", with
// "fingerprint", "pinned_at" and "unpinned_at") says the log must hold. It
// reads the file as strictly as verify.py's key_history_entries: each line
// a JSON object without duplicate keys, "agent_id" a string,
// "signing_keys" a list of objects whose "fingerprint" and "pinned_at" are
// strings and whose "unpinned_at" is a string or null.
func KeyHistoryEntries(tenantID string, agentsNDJSON []byte) ([]tlog.Entry, error) {
	var out []tlog.Entry
	for i, line := range bytes.Split(agentsNDJSON, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		bad := func(what string) error {
			return fmt.Errorf("%s%s line %d: %s", pack.DataDir, pack.AgentsPath, i+1, what)
		}
		a, _, why := parseObject(line)
		if why != "" || a == nil {
			return nil, bad("not a JSON object")
		}
		agent, ok := a.str("agent_id")
		keys, okl := a.list("signing_keys")
		if !ok || !okl {
			return nil, bad("no agent_id or signing_keys")
		}
		for _, raw := range keys {
			k, ok := asObject(raw)
			if !ok {
				return nil, bad("a signing key is not an object")
			}
			fp, ok1 := k.str("fingerprint")
			pinned, ok2 := k.str("pinned_at")
			unpinned, ok3 := optString(k, "unpinned_at")
			if !ok1 || !ok2 || !ok3 {
				return nil, bad("a signing key without fingerprint, pinned_at or unpinned_at")
			}
			out = append(out, tlog.Entry{Type: tlog.TypePin, TenantID: tenantID, AgentID: agent, Fingerprint: fp, At: pinned})
			if !k.isNull("unpinned_at") {
				out = append(out, tlog.Entry{Type: tlog.TypeUnpin, TenantID: tenantID, AgentID: agent, Fingerprint: fp, At: unpinned})
			}
		}
	}
	return out, nil
}
