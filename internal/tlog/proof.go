package tlog

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"

	"filippo.io/torchwood"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// ProofHeader is the first line of a c2sp.org/tlog-proof@v1 proof.
const ProofHeader = "c2sp.org/tlog-proof@v1"

// MaxProofHashes bounds an inclusion proof: a tree of 2^63 leaves needs 63.
const MaxProofHashes = 63

// Proof is a parsed c2sp.org/tlog-proof@v1 proof. Nothing in it is verified.
type Proof struct {
	Extra      []byte // the logged entry (this log always sets it)
	HasExtra   bool
	Index      int64
	Path       sumtlog.RecordProof
	Checkpoint []byte // the signed checkpoint note, verbatim
}

// FormatProof encodes the proof that entry is at index in the tree of the
// signed checkpoint (c2sp.org/tlog-proof@v1), carrying the entry itself as
// the extra data so that verifiers can read what was logged.
func FormatProof(entry []byte, index int64, path sumtlog.RecordProof, checkpoint []byte) []byte {
	return torchwood.FormatProofWithExtraData(index, entry, path, checkpoint)
}

// ProofError says why a proof is malformed. Its Reason strings are shared
// with verify.py, which prints the same ones.
type ProofError struct{ Reason string }

func (e *ProofError) Error() string { return "malformed tlog proof: " + e.Reason }

var (
	b64RE    = regexp.MustCompile(`^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$`)
	hash64RE = regexp.MustCompile(`^[A-Za-z0-9+/]{43}=$`)
	indexRE  = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})$`)
)

// ParseProof parses a c2sp.org/tlog-proof@v1 proof strictly: the header, an
// optional extra line, the index in canonical decimal, at most 63 base64
// hashes and an empty line; the rest is the checkpoint note.
func ParseProof(b []byte) (Proof, error) {
	var p Proof
	line := func() (string, bool) {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return "", false
		}
		l := string(b[:i])
		b = b[i+1:]
		return l, true
	}
	fail := func(r string) (Proof, error) { return Proof{}, &ProofError{Reason: r} }
	if l, ok := line(); !ok || l != ProofHeader {
		return fail("missing header")
	}
	l, ok := line()
	if !ok {
		return fail("truncated")
	}
	if rest, isExtra := strings.CutPrefix(l, "extra "); isExtra {
		if !b64RE.MatchString(rest) {
			return fail("bad extra line")
		}
		p.Extra, _ = base64.StdEncoding.DecodeString(rest)
		p.HasExtra = true
		if l, ok = line(); !ok {
			return fail("truncated")
		}
	}
	idx, isIndex := strings.CutPrefix(l, "index ")
	if !isIndex || !indexRE.MatchString(idx) {
		return fail("bad index line")
	}
	n, err := strconv.ParseInt(idx, 10, 64)
	if err != nil {
		return fail("bad index line")
	}
	p.Index = n
	for {
		l, ok := line()
		if !ok {
			return fail("truncated")
		}
		if l == "" {
			break
		}
		if len(p.Path) == MaxProofHashes {
			return fail("too many proof hashes")
		}
		if !hash64RE.MatchString(l) {
			return fail("bad proof hash")
		}
		var h sumtlog.Hash
		d, _ := base64.StdEncoding.DecodeString(l)
		copy(h[:], d)
		p.Path = append(p.Path, h)
	}
	if len(b) == 0 {
		return fail("truncated")
	}
	p.Checkpoint = b
	return p, nil
}

// proofSep separates the proofs of a .tlog-proofs file: an empty line, then
// the next proof's header.
var proofSep = []byte("\n\n" + ProofHeader + "\n")

// JoinProofs concatenates proofs into one file, separated by empty lines
// (the pins.tlog-proofs format of SPEC 10).
func JoinProofs(proofs [][]byte) []byte {
	return bytes.Join(proofs, []byte("\n"))
}

// SplitProofs splits a file made by JoinProofs back into its proofs.
func SplitProofs(b []byte) ([][]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if !bytes.HasPrefix(b, []byte(ProofHeader+"\n")) {
		return nil, &ProofError{Reason: "missing header"}
	}
	var out [][]byte
	for {
		i := bytes.Index(b, proofSep)
		if i < 0 {
			return append(out, b), nil
		}
		out = append(out, b[:i+1])
		b = b[i+2:]
	}
}
