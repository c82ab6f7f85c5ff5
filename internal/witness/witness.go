// Package witness asks transparency-log witnesses for cosignatures over the
// c2sp.org/tlog-witness protocol and counts them against a quorum: the
// tlog.Cosigner of the hub's log. Witnesses and the quorum come from
// MONSYS_WITNESSES and MONSYS_WITNESS_QUORUM (see Parse and
// docs/transparency-log.md).
package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/monsys/hub/internal/tlog"
)

// Errors a witness's answer maps to; each comes wrapped in an *Error that
// names the witness.
var (
	// ErrRefused: the witness refused the checkpoint (it does not know the
	// log's origin or key, or found the request malformed).
	ErrRefused = errors.New("witness refused the checkpoint")
	// ErrFork: the witness has cosigned a tree this log's history does not
	// extend (its consistency proof failed, or the same size has another
	// root): the log was rewound or forked. Never retried.
	ErrFork = errors.New("witness has cosigned a different history of this log")
	// ErrAhead: the witness has cosigned a larger tree than this checkpoint:
	// the log was rewound, or a newer checkpoint is being cosigned.
	ErrAhead = errors.New("witness has cosigned a larger tree")
	// ErrUnavailable: no usable answer (network, 5xx, garbage).
	ErrUnavailable = errors.New("witness unavailable")
)

// Error is one witness's failure.
type Error struct {
	Witness string // name
	URL     string
	Status  int   // HTTP status, 0 if none
	Known   int64 // the witness's tree size, from a 409 answer
	Err     error // one of the sentinels above, possibly joined with a cause
}

func (e *Error) Error() string {
	s := fmt.Sprintf("witness %s (%s): %v", e.Witness, e.URL, e.Err)
	if e.Status != 0 {
		s += fmt.Sprintf(" [HTTP %d]", e.Status)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Witness is one witness: its name, cosignature/v1 verifier key and
// submission prefix (add-checkpoint is POSTed to URL + "/add-checkpoint").
type Witness struct {
	Name string
	VKey string
	URL  string
	v    *torchwood.CosignatureVerifier
}

// NewWitness checks vkey (a cosignature/v1 verifier key) and url.
func NewWitness(vkey, rawURL string) (Witness, error) {
	v, err := torchwood.NewCosignatureVerifier(vkey)
	if err != nil {
		return Witness{}, fmt.Errorf("witness key %q: %w (want a cosignature/v1 verifier key)", vkey, err)
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Witness{}, fmt.Errorf("witness %s: URL %q is not an http(s) URL prefix", v.Name(), rawURL)
	}
	return Witness{Name: v.Name(), VKey: vkey, URL: strings.TrimRight(rawURL, "/"), v: v}, nil
}

var itemRE = regexp.MustCompile(`^(\S+)\s+(\S+)$`)

// Parse reads MONSYS_WITNESSES and MONSYS_WITNESS_QUORUM. witnesses is a
// comma-separated list of "<verifier key> <URL>" (blanks around items are
// ignored); quorum is "" or "all" (every witness) or a number from 1 to
// the number of witnesses. At least one witness is required, and names
// must differ.
func Parse(witnesses, quorum string) ([]Witness, int, error) {
	var out []Witness
	seen := map[string]bool{}
	for i, item := range strings.Split(witnesses, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		m := itemRE.FindStringSubmatch(item)
		if m == nil {
			return nil, 0, fmt.Errorf("MONSYS_WITNESSES item %d %q: want \"<verifier key> <URL>\"", i+1, item)
		}
		w, err := NewWitness(m[1], m[2])
		if err != nil {
			return nil, 0, fmt.Errorf("MONSYS_WITNESSES item %d: %w", i+1, err)
		}
		if seen[w.Name] {
			return nil, 0, fmt.Errorf("MONSYS_WITNESSES: witness %s listed twice", w.Name)
		}
		seen[w.Name] = true
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, 0, errors.New("MONSYS_WITNESSES is empty: the log needs at least one witness")
	}
	q := len(out)
	if quorum != "" && quorum != "all" {
		n, err := strconv.Atoi(quorum)
		if err != nil || n < 1 || n > len(out) || strconv.Itoa(n) != quorum {
			return nil, 0, fmt.Errorf("MONSYS_WITNESS_QUORUM %q: want \"all\" or 1..%d", quorum, len(out))
		}
		q = n
	}
	return out, q, nil
}

// Set is a group of witnesses and the quorum of them a checkpoint needs.
type Set struct {
	ws       []Witness
	quorum   int
	client   *http.Client
	attempts int

	mu    sync.Mutex
	known map[string]int64 // each witness's last tree size, learnt from its answers
}

var _ tlog.Cosigner = (*Set)(nil)

// DefaultTimeout bounds one add-checkpoint request when the caller's
// client has no timeout.
const DefaultTimeout = 15 * time.Second

// maxResponse bounds a witness's answer.
const maxResponse = 64 << 10

// New returns a Set; client nil uses a client with DefaultTimeout.
func New(ws []Witness, quorum int, client *http.Client) (*Set, error) {
	if len(ws) == 0 || quorum < 1 || quorum > len(ws) {
		return nil, fmt.Errorf("witness: quorum %d of %d witnesses", quorum, len(ws))
	}
	for _, w := range ws {
		if w.v == nil {
			return nil, fmt.Errorf("witness: %s was not made by NewWitness or Parse", w.Name)
		}
	}
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	return &Set{ws: ws, quorum: quorum, client: client, attempts: 5, known: map[string]int64{}}, nil
}

// VKeys lists the witnesses' verifier keys (hub.json witness_vkeys).
func (s *Set) VKeys() []string {
	out := make([]string, len(s.ws))
	for i, w := range s.ws {
		out[i] = w.VKey
	}
	return out
}

// QuorumSize is the number of cosignatures a checkpoint needs.
func (s *Set) QuorumSize() int { return s.quorum }

// cosigned reports which witnesses have a valid cosignature on signed, and
// the signature lines of signed without the invalid ones of our witnesses.
func (s *Set) cosigned(signed []byte) (text []byte, keep [][]byte, have map[string]bool, err error) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return nil, nil, nil, errors.New("witness: checkpoint is not a signed note")
	}
	text = signed[:i+1]
	have = map[string]bool{}
	bad := map[string]bool{}
	for _, w := range s.ws {
		n, err := note.Open(signed, note.VerifierList(w.v))
		var inv *note.InvalidSignatureError
		switch {
		case err == nil && len(n.Sigs) > 0:
			have[w.Name] = true
		case errors.As(err, &inv):
			bad[w.Name] = true
		}
	}
	for _, line := range bytes.SplitAfter(signed[i+2:], []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if name, ok := sigName(line); ok && bad[name] {
			continue
		}
		keep = append(keep, line)
	}
	return text, keep, have, nil
}

func sigName(line []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("— "))
	if !ok {
		return "", false
	}
	name, _, ok := bytes.Cut(rest, []byte(" "))
	return string(name), ok
}

// Quorum implements tlog.Cosigner.
func (s *Set) Quorum(signed []byte) error {
	_, _, have, err := s.cosigned(signed)
	if err != nil {
		return err
	}
	if len(have) < s.quorum {
		return fmt.Errorf("%w: %d of %d witnesses, quorum %d", tlog.ErrNotCosigned, len(have), len(s.ws), s.quorum)
	}
	return nil
}

// QuorumError is Cosign's error when too few witnesses cosigned.
type QuorumError struct {
	Have, Quorum int
	Errs         []error // one *Error per witness that failed
}

func (e *QuorumError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return fmt.Sprintf("%d cosignatures, quorum %d: %s", e.Have, e.Quorum, strings.Join(msgs, "; "))
}

// Unwrap lets errors.Is find tlog.ErrNotCosigned and each witness's error.
func (e *QuorumError) Unwrap() []error { return append([]error{tlog.ErrNotCosigned}, e.Errs...) }

// Cosign implements tlog.Cosigner: it sends signed, with a consistency
// proof from each witness's last size, to every witness that has not
// cosigned it yet, all at once, and adds the cosignatures they return.
func (s *Set) Cosign(ctx context.Context, signed []byte, prove tlog.ProveFunc) ([]byte, error) {
	text, keep, have, err := s.cosigned(signed)
	if err != nil {
		return nil, err
	}
	c, err := torchwood.ParseCheckpoint(string(text))
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	if len(have) >= s.quorum {
		return signed, nil
	}
	type result struct {
		line []byte
		err  error
	}
	res := make([]result, len(s.ws))
	var wg sync.WaitGroup
	for i, w := range s.ws {
		if have[w.Name] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			line, err := s.add(ctx, w, signed, text, c.N, prove)
			res[i] = result{line, err}
		}()
	}
	wg.Wait()
	out := append(bytes.Clone(text), '\n')
	for _, l := range keep {
		out = append(out, l...)
	}
	n := len(have)
	var errs []error
	for _, r := range res {
		switch {
		case r.line != nil:
			out = append(out, r.line...)
			n++
		case r.err != nil:
			errs = append(errs, r.err)
		}
	}
	if n < s.quorum {
		return out, &QuorumError{Have: n, Quorum: s.quorum, Errs: errs}
	}
	return out, nil
}

// add runs the add-checkpoint exchange with one witness: a 409 answer
// names the witness's size, and the request is sent again with a proof
// from there.
func (s *Set) add(ctx context.Context, w Witness, signed, text []byte, size int64, prove tlog.ProveFunc) ([]byte, error) {
	s.mu.Lock()
	old := min(s.known[w.Name], size)
	s.mu.Unlock()
	fail := func(status int, known int64, err error) error {
		return &Error{Witness: w.Name, URL: w.URL, Status: status, Known: known, Err: err}
	}
	for range s.attempts {
		proof, err := prove(ctx, old)
		if err != nil {
			return nil, fail(0, old, errors.Join(ErrUnavailable, err))
		}
		var body bytes.Buffer
		fmt.Fprintf(&body, "old %d\n", old)
		for _, h := range proof {
			fmt.Fprintf(&body, "%s\n", h)
		}
		body.WriteString("\n")
		body.Write(signed)
		status, ctype, resp, err := s.post(ctx, w.URL+"/add-checkpoint", body.Bytes())
		if err != nil {
			return nil, fail(0, 0, errors.Join(ErrUnavailable, err))
		}
		switch status {
		case http.StatusOK:
			line, err := cosignature(w, text, resp)
			if err != nil {
				return nil, fail(status, 0, errors.Join(ErrUnavailable, err))
			}
			s.remember(w.Name, size)
			return line, nil
		case http.StatusConflict:
			known, err := parseSize(ctype, resp)
			switch {
			case err != nil:
				return nil, fail(status, 0, errors.Join(ErrUnavailable, err))
			case known == old:
				// Same size as ours with another root (tlog-witness): a fork.
				return nil, fail(status, known, fmt.Errorf("%w: it cosigned another tree of size %d", ErrFork, known))
			case known > size:
				s.remember(w.Name, known)
				return nil, fail(status, known, fmt.Errorf("%w: it cosigned size %d, this checkpoint is %d", ErrAhead, known, size))
			}
			s.remember(w.Name, known)
			old = known
		case http.StatusUnprocessableEntity:
			return nil, fail(status, old, fmt.Errorf("%w: it rejected the consistency proof from size %d to %d", ErrFork, old, size))
		case http.StatusForbidden:
			return nil, fail(status, 0, fmt.Errorf("%w: it does not trust the log key (%s)", ErrRefused, snippet(resp)))
		case http.StatusNotFound:
			return nil, fail(status, 0, fmt.Errorf("%w: it does not know the log's origin (%s)", ErrRefused, snippet(resp)))
		case http.StatusBadRequest:
			return nil, fail(status, 0, fmt.Errorf("%w: bad request (%s)", ErrRefused, snippet(resp)))
		default:
			return nil, fail(status, 0, fmt.Errorf("%w: %s", ErrUnavailable, snippet(resp)))
		}
	}
	return nil, fail(http.StatusConflict, old, fmt.Errorf("%w: its size kept changing", ErrUnavailable))
}

func (s *Set) remember(name string, size int64) {
	s.mu.Lock()
	s.known[name] = size
	s.mu.Unlock()
}

func (s *Set) post(ctx context.Context, u string, body []byte) (int, string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return 0, "", nil, err
	}
	if len(b) > maxResponse {
		return 0, "", nil, fmt.Errorf("answer larger than %d bytes", maxResponse)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b, nil
}

var sizeRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})\n$`)

// parseSize reads a 409 answer: the witness's tree size and a newline.
func parseSize(ctype string, b []byte) (int64, error) {
	if !sizeRE.Match(b) {
		return 0, fmt.Errorf("409 answer %q is not a tree size", snippet(b))
	}
	if ctype != "" && !strings.HasPrefix(ctype, "text/x.tlog.size") {
		return 0, fmt.Errorf("409 answer of type %q, not text/x.tlog.size", ctype)
	}
	return strconv.ParseInt(string(b[:len(b)-1]), 10, 64)
}

// cosignature returns the first line of resp that is a valid cosignature
// of w over the checkpoint text; other lines are ignored (tlog-witness).
func cosignature(w Witness, text, resp []byte) ([]byte, error) {
	for _, line := range bytes.SplitAfter(resp, []byte("\n")) {
		if name, ok := sigName(line); !ok || name != w.Name || line[len(line)-1] != '\n' {
			continue
		}
		msg := append(append(bytes.Clone(text), '\n'), line...)
		if n, err := note.Open(msg, note.VerifierList(w.v)); err == nil && len(n.Sigs) == 1 {
			return line, nil
		}
	}
	return nil, fmt.Errorf("no valid cosignature of %s in the answer %q", w.Name, snippet(resp))
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
