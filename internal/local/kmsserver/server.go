// Package kmsserver is a small local stand-in for AWS KMS that speaks the
// AWS KMS JSON protocol (awsJson1_1, X-Amz-Target "TrentService.<Op>"), so
// that the real aws-sdk-go-v2 KMS client can talk to it through BaseEndpoint.
//
// It exists because no emulator that runs locally creates
// ECC_NIST_EDWARDS25519 keys. It implements the subset of KMS the hub uses
// (see docs/local-kms.md); it does not verify SigV4 signatures, it only
// requires an Authorization header to be present. It imports no AWS code.
package kmsserver

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBadStore is returned by Open when the key file cannot be trusted.
var ErrBadStore = errors.New("kmsserver: invalid key file")

// ErrBadOption is returned by Open for an invalid option value.
var ErrBadOption = errors.New("kmsserver: invalid option")

const (
	// targetPrefix is the service name in X-Amz-Target.
	targetPrefix = "TrentService."
	// jsonContentType is what the server answers with.
	jsonContentType = "application/x-amz-json-1.1"
	// maxBody caps a request body; the largest legitimate request (a 6144
	// byte ciphertext blob in base64 plus context) is far below it.
	maxBody = 1 << 20
)

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
)

// Server is an http.Handler implementing a subset of the AWS KMS API.
// It is safe for concurrent use.
type Server struct {
	region  string
	account string
	now     func() time.Time
	path    string // key file; "" keeps keys in memory only

	randMu sync.Mutex
	rand   io.Reader

	mu sync.RWMutex
	st *state

	requests atomic.Uint64
}

var _ http.Handler = (*Server)(nil)

// Option configures a Server.
type Option func(*Server)

// WithRegion sets the region that appears in ARNs (default "us-east-1").
func WithRegion(region string) Option { return func(s *Server) { s.region = region } }

// WithAccount sets the 12-digit account id that appears in ARNs
// (default "000000000000").
func WithAccount(account string) Option { return func(s *Server) { s.account = account } }

// WithClock sets the clock used for creation and deletion dates.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithRand sets the source of key ids, key material, nonces and data keys
// (default crypto/rand). ECDSA signing always uses crypto/rand, because a
// predictable ECDSA nonce reveals the private key.
func WithRand(r io.Reader) Option { return func(s *Server) { s.rand = r } }

// Open returns a Server whose keys persist in dir. The directory is created
// with mode 0700 if missing; keys live in dir/keys.json (mode 0600, replaced
// atomically on every change). An empty dir keeps keys in memory only.
// Only one Server may use a given dir at a time.
func Open(dir string, opts ...Option) (*Server, error) {
	s := &Server{
		region:  "us-east-1",
		account: "000000000000",
		now:     time.Now,
		rand:    rand.Reader,
		st:      newState(),
	}
	for _, o := range opts {
		o(s)
	}
	if !regionRE.MatchString(s.region) {
		return nil, fmt.Errorf("%w: region %q", ErrBadOption, s.region)
	}
	if !accountRE.MatchString(s.account) {
		return nil, fmt.Errorf("%w: account %q", ErrBadOption, s.account)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if dir == "" {
		return s, nil
	}
	st, path, err := load(dir)
	if err != nil {
		return nil, fmt.Errorf("kmsserver: open %q: %w", dir, err)
	}
	s.st, s.path = st, path
	return s, nil
}

// apiError is an error as the KMS JSON protocol reports it.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

// fail returns a 400 error with the given exception name.
func fail(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// Exception names used on the wire. Those that the SDK does not model
// (ValidationException, SerializationException, ...) surface as
// smithy.GenericAPIError with the same ErrorCode.
const (
	excAlreadyExists   = "AlreadyExistsException"
	excDisabled        = "DisabledException"
	excDryRun          = "DryRunOperationException"
	excIncorrectKey    = "IncorrectKeyException"
	excInvalidAlias    = "InvalidAliasNameException"
	excInvalidCipher   = "InvalidCiphertextException"
	excInvalidKeyUsage = "InvalidKeyUsageException"
	excInvalidMarker   = "InvalidMarkerException"
	excInternal        = "KMSInternalException"
	excMissingAuth     = "MissingAuthenticationTokenException"
	excNotFound        = "NotFoundException"
	excSerialization   = "SerializationException"
	excTag             = "TagException"
	excTooLarge        = "RequestEntityTooLargeException"
	excUnknownOp       = "UnknownOperationException"
	excUnsupported     = "UnsupportedOperationException"
	excValidation      = "ValidationException"
)

// handler runs one operation and returns its response structure.
type handler func(s *Server, body []byte) (any, error)

// emptyResponse is the output of operations that answer with no body.
type emptyResponse struct{}

var handlers = map[string]handler{
	"CreateAlias":  (*Server).createAlias,
	"CreateKey":    (*Server).createKey,
	"Decrypt":      (*Server).decrypt,
	"DescribeKey":  (*Server).describeKey,
	"DisableKey":   (*Server).disableKey,
	"Encrypt":      (*Server).encrypt,
	"GetPublicKey": (*Server).getPublicKey,
	"ListKeys":     (*Server).listKeys,
	"Sign":         (*Server).sign,
}

// ServeHTTP answers one KMS JSON request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("X-Amzn-RequestId", fmt.Sprintf("00000000-0000-4000-8000-%012x", n))

	out, err := s.serve(r)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			// Never echo an internal error: it could name a path or worse.
			ae = &apiError{status: http.StatusInternalServerError, code: excInternal, msg: "internal error"}
		}
		w.WriteHeader(ae.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": ae.code, "message": ae.msg})
		return
	}
	if _, ok := out.(emptyResponse); ok {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"__type":"KMSInternalException","message":"internal error"}`)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (s *Server) serve(r *http.Request) (any, error) {
	if r.Method != http.MethodPost {
		return nil, &apiError{status: http.StatusMethodNotAllowed, code: excUnknownOp, msg: "only POST is supported"}
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	h := handlers[op]
	if !ok || h == nil {
		return nil, fail(excUnknownOp, "unknown operation %q", target)
	}
	// SigV4 is deliberately not verified; see docs/local-kms.md.
	if r.Header.Get("Authorization") == "" {
		return nil, fail(excMissingAuth, "Missing Authentication Token")
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-amz-json-1.") {
		return nil, fail(excSerialization, "unsupported Content-Type %q", ct)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fail(excSerialization, "cannot read request body")
	}
	if len(body) > maxBody {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: excTooLarge, msg: "request body too large"}
	}
	return h(s, body)
}

// decode parses a request body strictly enough to reject garbage: exactly
// one JSON object, with member types matching the request shape.
func decode(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if body[0] != '{' {
		return fail(excSerialization, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fail(excSerialization, "wrong type for member %q", te.Field)
		}
		return fail(excSerialization, "malformed JSON request body")
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(excSerialization, "trailing data after JSON request body")
	}
	return nil
}

// randBytes reads n bytes from the configured source.
func (s *Server) randBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	s.randMu.Lock()
	defer s.randMu.Unlock()
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return nil, fmt.Errorf("kmsserver: read random: %w", err)
	}
	return b, nil
}

// newUUID returns a random (version 4) UUID string.
func (s *Server) newUUID() (string, error) {
	b, err := s.randBytes(16)
	if err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

func (s *Server) keyARN(id string) string {
	return "arn:aws:kms:" + s.region + ":" + s.account + ":key/" + id
}

func (s *Server) aliasARN(name string) string {
	return "arn:aws:kms:" + s.region + ":" + s.account + ":" + name
}

// epoch marshals a time as JSON epoch seconds (millisecond precision), the
// timestamp format of the awsJson protocols.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Appendf(nil, "%s%d.%03d", sign, ms/1000, ms%1000), nil
}

func epochPtr(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}
