// Package api is the HTTP edge of the hub: it turns API Gateway REST proxy
// events (payload v1) into calls on the hub core and its answers into proxy
// responses with the SPEC 4 error envelope. It decides nothing itself.
package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/sig"
)

// Prefix is the path prefix of every endpoint.
const Prefix = "/api/v1"

// Group is a set of routes one Lambda function serves.
type Group int

// Route groups, one per function in template.yaml.
const (
	Register Group = 1 << iota
	Ingest
	Rotate
	Admin
	Packs
	Log
	All = Register | Ingest | Rotate | Admin | Packs | Log
)

// Services are the use cases the routes call. A route whose use case is
// nil answers 404, as a route outside the handler's groups does.
type Services struct {
	AdminAuth *hub.AdminAuth
	Register  *hub.Registrar
	Ingest    *hub.Ingester
	Agents    *hub.Agents
	Anomalies *hub.Anomalies
	Packs     *hub.Packs
	Keys      *hub.Keys
	Log       *hub.LogView
}

// Handler serves the routes of its groups.
type Handler struct {
	s      Services
	log    *slog.Logger
	groups Group
}

// New returns a handler for the given route groups. The admin routes (Admin,
// Rotate, Packs and Log) need AdminAuth.
func New(s Services, log *slog.Logger, groups Group) (*Handler, error) {
	if log == nil {
		return nil, errors.New("api: a logger is required")
	}
	if groups&(Admin|Rotate|Packs|Log) != 0 && s.AdminAuth == nil {
		return nil, errors.New("api: the admin routes need the admin-key check")
	}
	return &Handler{s: s, log: log, groups: groups}, nil
}

// request is what a route sees of the event.
type request struct {
	ev      *events.APIGatewayProxyRequest
	body    []byte
	param   string // the {id} path parameter
	id      idKind // what the {id} names, if the route has one
	reqID   string
	agentID string // for the log line
}

func (r *request) header(name string) string {
	for k, v := range r.ev.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, vs := range r.ev.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

func (r *request) bearer() string {
	t, _ := cred.Bearer(r.header("Authorization"))
	return t
}

func (r *request) clientCert() string {
	if c := r.ev.RequestContext.Identity.ClientCert; c != nil {
		return c.ClientCertPem
	}
	return ""
}

type route struct {
	group  Group
	method string
	// path segments after the prefix; "{id}" matches one segment, a last
	// "{rest}" one or more (joined with "/" as the parameter).
	segs []string
	fn   func(*Handler, context.Context, *request) (int, any, error)
	id   idKind // what {id} names
	// served reports whether the handler has the route's use case.
	served func(Services) bool
}

// idKind is what a route's {id} names, with the shape it must have.
type idKind struct {
	what  string
	valid func(string) bool
}

var (
	agentID = idKind{"agent", hub.ValidAgentID}
	packID  = idKind{"evidence pack", hub.ValidPackID}
)

var (
	registers = func(s Services) bool { return s.Register != nil }
	ingests   = func(s Services) bool { return s.Ingest != nil }
	agents    = func(s Services) bool { return s.Agents != nil }
	anomalies = func(s Services) bool { return s.Anomalies != nil }
	packs     = func(s Services) bool { return s.Packs != nil }
	keys      = func(s Services) bool { return s.Keys != nil }
	logs      = func(s Services) bool { return s.Log != nil }
)

var routes = []route{
	{Register, http.MethodPost, []string{"agents", "register"}, (*Handler).register, idKind{}, registers},
	{Ingest, http.MethodPost, []string{"ingest"}, (*Handler).ingest, idKind{}, ingests},
	{Admin, http.MethodPost, []string{"agents"}, (*Handler).createAgent, idKind{}, agents},
	{Admin, http.MethodGet, []string{"agents"}, (*Handler).listAgents, idKind{}, agents},
	{Admin, http.MethodGet, []string{"agents", "{id}"}, (*Handler).getAgent, agentID, agents},
	{Rotate, http.MethodPost, []string{"agents", "{id}", "rotate-signing-key"}, (*Handler).rotateSigningKey, agentID, agents},
	{Rotate, http.MethodPost, []string{"agents", "{id}", "rotate-token"}, (*Handler).rotateToken, agentID, agents},
	{Rotate, http.MethodPost, []string{"agents", "{id}", "rotate-client-cert"}, (*Handler).rotateClientCert, agentID, agents},
	{Admin, http.MethodGet, []string{"anomalies"}, (*Handler).listAnomalies, idKind{}, anomalies},
	{Packs, http.MethodPost, []string{"evidence-packs"}, (*Handler).requestPack, idKind{}, packs},
	{Packs, http.MethodGet, []string{"evidence-packs"}, (*Handler).listPacks, idKind{}, packs},
	{Packs, http.MethodGet, []string{"evidence-packs", "{id}"}, (*Handler).getPack, packID, packs},
	{Packs, http.MethodPost, []string{"signing-keys", "rotate"}, (*Handler).rotatePackKey, idKind{}, keys},
	{Log, http.MethodGet, []string{"log", "checkpoint"}, logObject(""), idKind{}, logs},
	{Log, http.MethodGet, []string{"log", "tile", "{rest}"}, logObject("tile/"), idKind{}, logs},
	{Log, http.MethodGet, []string{"log", "entries", "{rest}"}, logObject("tile/entries/"), idKind{}, logs},
}

// match finds the route for a method and path; allowed is true when the path
// exists under another method.
func (h *Handler) match(method, path string) (route, string, bool, bool) {
	rest, ok := strings.CutPrefix(path, Prefix+"/")
	if !ok {
		return route{}, "", false, false
	}
	segs := strings.Split(rest, "/")
	pathExists := false
	for _, rt := range routes {
		rest := len(rt.segs) > 0 && rt.segs[len(rt.segs)-1] == "{rest}"
		if rt.group&h.groups == 0 || !rt.served(h.s) || len(rt.segs) > len(segs) || (!rest && len(rt.segs) != len(segs)) {
			continue
		}
		param, ok := "", true
		for i, s := range rt.segs {
			if s == "{rest}" {
				param = strings.Join(segs[i:], "/")
				ok = ok && param != ""
			} else if s == "{id}" {
				param = segs[i]
				ok = ok && segs[i] != ""
			} else if s != segs[i] {
				ok = false
			}
		}
		if !ok {
			continue
		}
		if rt.method == method {
			return rt, param, true, true
		}
		pathExists = true
	}
	return route{}, "", false, pathExists
}

// Handle serves one API Gateway proxy event. It never returns an error: every
// failure becomes a response in the SPEC 4 envelope.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.answer(ctx, ev, h.serve), nil
}

// HandleAdmin serves ev as an operation outside the route table, with the
// checks and answers of the admin routes: method, then admin key and operator
// certificate, then op, whose value is answered with its status and whose
// error in the SPEC 4 envelope. The local hub serves its on-demand integrity
// run (SPEC 1.1) with it.
func (h *Handler) HandleAdmin(ctx context.Context, ev events.APIGatewayProxyRequest, method string, op func(context.Context, hub.Admin) (int, any, error)) events.APIGatewayProxyResponse {
	return h.answer(ctx, ev, func(ctx context.Context, r *request) (int, events.APIGatewayProxyResponse) {
		if r.ev.HTTPMethod != method {
			return h.fail(ctx, r, &hub.Error{Code: hub.CodeNotFound, Message: "method " + r.ev.HTTPMethod + " is not allowed here"})
		}
		ad, err := h.admin(ctx, r)
		if err != nil {
			return h.fail(ctx, r, err)
		}
		status, v, err := op(ctx, ad)
		if err != nil {
			return h.fail(ctx, r, err)
		}
		return status, jsonResponse(r.reqID, status, v, nil)
	})
}

// answer serves one event with serve, with its request id and log line.
func (h *Handler) answer(ctx context.Context, ev events.APIGatewayProxyRequest, serve func(context.Context, *request) (int, events.APIGatewayProxyResponse)) events.APIGatewayProxyResponse {
	start := time.Now()
	r := &request{ev: &ev, reqID: ev.RequestContext.RequestID}
	if r.reqID == "" {
		r.reqID = newRequestID()
	}
	status, resp := serve(ctx, r)
	resp.Headers["X-Request-Id"] = r.reqID
	h.log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("request_id", r.reqID), slog.String("method", ev.HTTPMethod), slog.String("path", redact(ev.Path)),
		slog.Int("status", status), slog.String("agent_id", r.agentID), slog.Duration("duration", time.Since(start)))
	return resp
}

func (h *Handler) serve(ctx context.Context, r *request) (int, events.APIGatewayProxyResponse) {
	rt, param, ok, exists := h.match(r.ev.HTTPMethod, r.ev.Path)
	if !ok {
		if exists {
			return h.fail(ctx, r, &hub.Error{Code: hub.CodeNotFound, Message: "method " + r.ev.HTTPMethod + " is not allowed here"})
		}
		return h.fail(ctx, r, &hub.Error{Code: hub.CodeNotFound, Message: "no such endpoint"})
	}
	r.param, r.id = param, rt.id
	body := []byte(r.ev.Body)
	if r.ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(r.ev.Body)
		if err != nil {
			return h.fail(ctx, r, &hub.Error{Code: hub.CodeInvalidRequest, Message: "body is not valid base64", Cause: err})
		}
		body = b
	}
	r.body = body
	status, v, err := rt.fn(h, ctx, r)
	if err != nil {
		return h.fail(ctx, r, err)
	}
	if o, ok := v.(object); ok {
		return status, o.response()
	}
	return status, jsonResponse(r.reqID, status, v, nil)
}

// jsonResponse encodes v as the answer; if it cannot be encoded, the answer
// is the SPEC 4 internal error with the request's id.
func jsonResponse(reqID string, status int, v any, extra map[string]string) events.APIGatewayProxyResponse {
	b, err := json.Marshal(v)
	if err != nil {
		var e errorBody
		e.Error.Code, e.Error.Message, e.RequestID = hub.CodeInternal, "internal error", reqID
		status = http.StatusInternalServerError
		b, _ = json.Marshal(e) // strings only: it always encodes
	}
	hdr := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
	for k, v := range extra {
		hdr[k] = v
	}
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: hdr, Body: string(b)}
}

// Status maps a SPEC error code to its HTTP status.
func Status(c hub.Code) int {
	switch c {
	case hub.CodeInvalidRequest:
		return http.StatusBadRequest
	case hub.CodeUnauthorized:
		return http.StatusUnauthorized
	case hub.CodeForbidden, hub.CodeSignatureMissing, hub.CodeSignatureInvalid, hub.CodeCertPinMismatch:
		return http.StatusForbidden
	case hub.CodeNotFound:
		return http.StatusNotFound
	case hub.CodeReplayRejected, hub.CodeConflict:
		return http.StatusConflict
	case hub.CodePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case hub.CodeUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case hub.CodeThrottled:
		return http.StatusTooManyRequests
	case hub.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error struct {
		Code    hub.Code `json:"code"`
		Message string   `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id"`
	LastSeq   *int64 `json:"last_seq,omitempty"`
}

func (h *Handler) fail(ctx context.Context, r *request, err error) (int, events.APIGatewayProxyResponse) {
	var he *hub.Error
	if !errors.As(err, &he) {
		he = &hub.Error{Code: hub.CodeInternal, Message: "internal error", Cause: err}
	}
	status := Status(he.Code)
	var b errorBody
	b.Error.Code, b.Error.Message, b.RequestID, b.LastSeq = he.Code, he.Message, r.reqID, he.LastSeq
	if status >= 500 && he.Code != hub.CodeUnavailable {
		b.Error.Message = "internal error" // never internal text in a 5xx
	}
	var extra map[string]string
	if he.RetryAfter > 0 {
		extra = map[string]string{"Retry-After": strconv.Itoa(int((he.RetryAfter + time.Second - 1) / time.Second))}
	}
	lvl := slog.LevelInfo
	if status >= 500 {
		lvl = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("request_id", r.reqID), slog.String("code", string(he.Code)), slog.Int("status", status)}
	if he.Cause != nil {
		attrs = append(attrs, slog.String("cause", redact(he.Cause.Error())))
	}
	h.log.LogAttrs(ctx, lvl, "refused", attrs...)
	return status, jsonResponse(r.reqID, status, b, extra)
}

// credential matches what must never reach a log line: agent tokens, admin
// keys and bearer values, should a backend error or a path quote them.
var credential = regexp.MustCompile(`(?i)\bbearer\s+\S+|\bmsa?_[A-Za-z0-9_=-]+`)

// redact masks credentials in text bound for the log. Every match of
// credential holds an underscore or the word bearer (whose letters fold to
// no other than their ASCII cases), so text with neither, such as most
// request paths, is returned as it is, without the regexp.
func redact(s string) string {
	if strings.IndexByte(s, '_') < 0 && !containsFold(s, "bearer") {
		return s
	}
	return credential.ReplaceAllString(s, "[redacted]")
}

// containsFold reports whether s holds word, lower-case ASCII letters, in
// any case.
func containsFold(s, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		j := 0
		for j < len(word) && s[i+j]|0x20 == word[j] {
			j++
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// --- agent routes

func (h *Handler) register(ctx context.Context, r *request) (int, any, error) {
	res, err := h.s.Register.Register(ctx, hub.RegisterRequest{Token: r.bearer(), ClientCertPEM: r.clientCert(),
		ContentType: r.header("Content-Type"), Body: r.body})
	r.agentID = res.AgentID
	return http.StatusOK, res, err
}

func (h *Handler) ingest(ctx context.Context, r *request) (int, any, error) {
	res, err := h.s.Ingest.Ingest(ctx, hub.IngestRequest{Token: r.bearer(), ClientCertPEM: r.clientCert(),
		ContentType: r.header("Content-Type"), Signature: r.header(sig.Header), Body: r.body})
	if err != nil {
		return 0, nil, err
	}
	if res.Duplicate {
		return http.StatusOK, res, nil
	}
	return http.StatusAccepted, res, nil
}

// --- admin routes

// admin authenticates the admin and then checks the route's {id}: one that
// cannot be valid is answered as one that does not exist (SPEC 4), before
// it reaches the store, which would fail on keys over DynamoDB's limits.
func (h *Handler) admin(ctx context.Context, r *request) (hub.Admin, error) {
	ad, err := h.s.AdminAuth.Authenticate(ctx, r.bearer(), r.clientCert())
	if err != nil {
		return ad, err
	}
	if r.id.valid != nil && !r.id.valid(r.param) {
		return ad, &hub.Error{Code: hub.CodeNotFound, Message: "no " + r.id.what + " with this id"}
	}
	return ad, nil
}

func (h *Handler) createAgent(ctx context.Context, r *request) (int, any, error) {
	ad, err := h.admin(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	var body struct {
		Hostname string `json:"hostname"`
	}
	if len(strings.TrimSpace(string(r.body))) > 0 {
		if ct := r.header("Content-Type"); !hub.IsJSON(ct) {
			return 0, nil, &hub.Error{Code: hub.CodeUnsupportedMedia, Message: "Content-Type must be application/json, got " + strconv.Quote(ct)}
		}
		if err := hub.DecodeJSONObject(r.body, &body); err != nil {
			return 0, nil, err
		}
	}
	res, err := h.s.Agents.Create(ctx, ad, body.Hostname)
	r.agentID = res.AgentID
	return http.StatusCreated, res, err
}

func (h *Handler) getAgent(ctx context.Context, r *request) (int, any, error) {
	ad, err := h.admin(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	res, err := h.s.Agents.Get(ctx, ad, r.param)
	return http.StatusOK, res, err
}

func (h *Handler) rotateSigningKey(ctx context.Context, r *request) (int, any, error) {
	ad, err := h.admin(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	res, err := h.s.Agents.RotateSigningKey(ctx, ad, r.param)
	return http.StatusOK, res, err
}

func (h *Handler) rotateClientCert(ctx context.Context, r *request) (int, any, error) {
	ad, err := h.admin(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	res, err := h.s.Agents.RotateClientCert(ctx, ad, r.param)
	return http.StatusOK, res, err
}

func (h *Handler) rotateToken(ctx context.Context, r *request) (int, any, error) {
	ad, err := h.admin(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	res, err := h.s.Agents.RotateToken(ctx, ad, r.param)
	return http.StatusOK, res, err
}

// page reads a listing's limit and cursor (SPEC 4: the same rules for every
// listing): a limit from 1 to 500, a cursor of the hub's shape.
func page(q map[string]string) (int, error) {
	limit := 0
	if l := q["limit"]; l != "" {
		var err error
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 500 {
			return 0, &hub.Error{Code: hub.CodeInvalidRequest, Message: "limit must be a number from 1 to 500"}
		}
	}
	if c := q["cursor"]; c != "" && !hub.ValidCursor(c) {
		return 0, &hub.Error{Code: hub.CodeInvalidRequest, Message: "the cursor is not one this hub issued"}
	}
	return limit, nil
}

// list serves a listing route: the admin, the page's limit and cursor, then fn.
func (h *Handler) list(ctx context.Context, r *request, fn func(ad hub.Admin, q map[string]string, limit int) (any, error)) (int, any, error) {
	ad, err := h.admin(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	q := r.ev.QueryStringParameters
	limit, err := page(q)
	if err != nil {
		return 0, nil, err
	}
	v, err := fn(ad, q, limit)
	return http.StatusOK, v, err
}

func (h *Handler) listAgents(ctx context.Context, r *request) (int, any, error) {
	return h.list(ctx, r, func(ad hub.Admin, q map[string]string, limit int) (any, error) {
		return h.s.Agents.List(ctx, ad, q["status"], q["cursor"], limit)
	})
}

func (h *Handler) listPacks(ctx context.Context, r *request) (int, any, error) {
	return h.list(ctx, r, func(ad hub.Admin, q map[string]string, limit int) (any, error) {
		return h.s.Packs.ListPacks(ctx, ad, q["cursor"], limit)
	})
}

type anomalyList struct {
	Anomalies  []anomaly.Anomaly `json:"anomalies"`
	NextCursor *string           `json:"next_cursor"`
}

func (h *Handler) listAnomalies(ctx context.Context, r *request) (int, any, error) {
	ad, err := h.admin(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	q := r.ev.QueryStringParameters
	limit, err := page(q)
	if err != nil {
		return 0, nil, err
	}
	if id := q["agent_id"]; id != "" && !hub.ValidAgentID(id) {
		return 0, nil, &hub.Error{Code: hub.CodeInvalidRequest, Message: "agent_id is not an agent id"}
	}
	f := anomaly.Filter{Status: anomaly.Status(q["status"]), Kind: anomaly.Kind(q["kind"]), AgentID: q["agent_id"]}
	p, err := h.s.Anomalies.List(ctx, ad, f, q["cursor"], limit)
	if err != nil {
		return 0, nil, err
	}
	out := anomalyList{Anomalies: p.Anomalies}
	if p.NextCursor != "" {
		out.NextCursor = &p.NextCursor
	}
	return http.StatusOK, out, nil
}

// --- evidence packs and pack-signing keys

func (h *Handler) requestPack(ctx context.Context, r *request) (int, any, error) {
	ad, err := h.admin(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	if ct := r.header("Content-Type"); !hub.IsJSON(ct) {
		return 0, nil, &hub.Error{Code: hub.CodeUnsupportedMedia, Message: "Content-Type must be application/json, got " + strconv.Quote(ct)}
	}
	v, err := h.s.Packs.RequestPack(ctx, ad, r.body)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, v, nil
}

func (h *Handler) getPack(ctx context.Context, r *request) (int, any, error) {
	ad, err := h.admin(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	v, err := h.s.Packs.GetPack(ctx, ad, r.param, r.ev.QueryStringParameters["expires_in"])
	return http.StatusOK, v, err
}

func (h *Handler) rotatePackKey(ctx context.Context, r *request) (int, any, error) {
	ad, err := h.admin(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	v, err := h.s.Keys.Rotate(ctx, ad)
	return http.StatusOK, v, err
}

// --- the transparency log (SPEC 10), as c2sp.org/tlog-tiles serves it

// object is an answer that is not JSON: a log object, byte for byte.
type object struct {
	contentType, cacheControl string
	data                      []byte
}

// response carries the bytes as they are: text as the body, binary
// base64-encoded (API Gateway returns it decoded; template.yaml lists
// application/octet-stream as a binary media type).
func (o object) response() events.APIGatewayProxyResponse {
	hdr := map[string]string{"Content-Type": o.contentType, "Cache-Control": o.cacheControl}
	if strings.HasPrefix(o.contentType, "text/") {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Headers: hdr, Body: string(o.data)}
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Headers: hdr,
		Body: base64.StdEncoding.EncodeToString(o.data), IsBase64Encoded: true}
}

// Cache headers of the log's objects (docs/transparency-log.md): tiles and
// entry bundles, full or partial, never change once written; the
// checkpoint does with every integration. Private: the routes need the
// admin key, so no shared cache may keep an answer.
const (
	cacheImmutable  = "private, max-age=31536000, immutable"
	cacheCheckpoint = "private, no-cache"
)

// logObject serves GET /log/checkpoint (under = ""), /log/tile/... (the
// tile path under "tile/") and /log/entries/... (the entry bundle under
// "tile/entries/"; /log/tile/entries/... serves it too, at the path a
// c2sp.org/tlog-tiles client with the prefix /api/v1/log asks for).
func logObject(under string) func(*Handler, context.Context, *request) (int, any, error) {
	return func(h *Handler, ctx context.Context, r *request) (int, any, error) {
		ad, err := h.admin(ctx, r)
		if err != nil {
			return 0, nil, err
		}
		path := "checkpoint"
		if under != "" {
			path = under + r.param
		}
		b, err := h.s.Log.Read(ctx, ad, path)
		if err != nil {
			return 0, nil, err
		}
		if path == "checkpoint" {
			return http.StatusOK, object{"text/plain; charset=utf-8", cacheCheckpoint, b}, nil
		}
		return http.StatusOK, object{"application/octet-stream", cacheImmutable, b}, nil
	}
}
