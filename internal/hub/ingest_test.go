package hub_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/sig"
)

// sized returns a signed-batch body of exactly n bytes.
func sized(t testing.TB, seq int64, n int) []byte {
	t.Helper()
	pre := string(batchBody(seq, "1.4.2", 0, ""))
	pre = pre[:len(pre)-1] + `,{"type":"metric","ts":"2026-04-01T10:00:00Z","pad":"`
	post := `"}]`
	pad := n - len(pre) - len(post)
	if pad < 0 {
		t.Fatalf("cannot make %d bytes", n)
	}
	return []byte(pre + strings.Repeat("x", pad) + post)
}

// TestIngestChecks walks the check table of SPEC 4.2 in its order. Every
// case starts from an agent with both pins and one accepted batch; for each
// refusal it checks the code, the anomaly raised and that nothing was stored.
func TestIngestChecks(t *testing.T) {
	type env struct {
		f    *fx
		a    *agent
		prev []byte // the last accepted body
	}
	other := newSigningKey(t)
	tests := []struct {
		name      string
		legacy    bool // the agent has no signing pin
		req       func(e env) hub.IngestRequest
		code      hub.Code
		want      hub.IngestResult
		anomalies []anom
		stored    int // batches stored by this request
		lastSeq   *int64
	}{
		// 1: token.
		{name: "fail/1/no-token", code: hub.CodeUnauthorized, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.Token = ""
			return r
		}},
		{name: "fail/1/unknown-token", code: hub.CodeUnauthorized, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.Token = "ms_" + strings.Repeat("A", 43)
			return r
		}},
		{name: "fail/1/malformed-token", code: hub.CodeUnauthorized, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.Token = "hunter2"
			return r
		}},
		{name: "fail/1/admin-key-as-token", code: hub.CodeUnauthorized, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.Token = e.f.adminKey
			return r
		}},
		{name: "fail/1/bad-token-and-bad-signature", code: hub.CodeUnauthorized, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.Token, r.Signature = "ms_"+strings.Repeat("B", 43), "garbage"
			return r
		}},
		{name: "fail/1/bad-token-and-wrong-cert-and-oversize", code: hub.CodeUnauthorized, req: func(e env) hub.IngestRequest {
			r := e.a.req(sized(t, e.a.seq+1, batch.MaxBytes+1))
			r.Token, r.ClientCertPEM = "", e.f.enroll
			return r
		}},

		// 2: client certificate.
		{name: "fail/2/another-agents-cert", code: hub.CodeCertPinMismatch, anomalies: []anom{{anomaly.CertPinMismatch, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.ClientCertPEM = e.f.issue(tenant, "ag_someone_else")
				return r
			}},
		{name: "fail/2/own-id-but-not-the-pinned-cert", code: hub.CodeCertPinMismatch, anomalies: []anom{{anomaly.CertPinMismatch, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.ClientCertPEM = e.f.issue(tenant, e.a.id)
				return r
			}},
		{name: "fail/2/wrong-cert-and-oversize", code: hub.CodeCertPinMismatch, anomalies: []anom{{anomaly.CertPinMismatch, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(sized(t, e.a.seq+1, batch.MaxBytes+1))
				r.ClientCertPEM = e.f.issue(tenant, e.a.id)
				return r
			}},
		{name: "fail/2/wrong-cert-and-unsigned", code: hub.CodeCertPinMismatch, anomalies: []anom{{anomaly.CertPinMismatch, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.ClientCertPEM, r.Signature = e.f.issue(tenant, e.a.id), ""
				return r
			}},
		{name: "fail/2/enrollment-cert", code: hub.CodeCertPinMismatch, anomalies: []anom{{anomaly.CertPinMismatch, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.ClientCertPEM = e.f.enroll
				return r
			}},
		{name: "fail/2/other-tenants-agent-cert", code: hub.CodeCertPinMismatch, anomalies: []anom{{anomaly.CertPinMismatch, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.ClientCertPEM = e.f.issue(otherTenant, e.a.id)
				return r
			}},
		{name: "fail/2/other-tenants-enrollment-cert", code: hub.CodeCertPinMismatch, anomalies: []anom{{anomaly.CertPinMismatch, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.ClientCertPEM = e.f.otherEnroll
				return r
			}},
		{name: "fail/2/operator-cert", code: hub.CodeForbidden, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.ClientCertPEM = e.f.operator
			return r
		}},
		{name: "fail/2/no-cert", code: hub.CodeForbidden, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.ClientCertPEM = ""
			return r
		}},
		{name: "fail/2/untrusted-cert", code: hub.CodeForbidden, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.ClientCertPEM = untrusted(t, e.a.id)
			return r
		}},
		{name: "fail/2/not-a-cert", code: hub.CodeForbidden, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.ClientCertPEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
			return r
		}},

		// 3: size, before anything about the signature or the body.
		{name: "fail/3/256KiB-plus-one-signed", code: hub.CodePayloadTooLarge, req: func(e env) hub.IngestRequest {
			return e.a.req(sized(t, e.a.seq+1, batch.MaxBytes+1))
		}},
		{name: "fail/3/oversize-and-unsigned", code: hub.CodePayloadTooLarge, req: func(e env) hub.IngestRequest {
			r := e.a.req(sized(t, e.a.seq+1, batch.MaxBytes+1))
			r.Signature = ""
			return r
		}},
		{name: "fail/3/oversize-and-bad-signature", code: hub.CodePayloadTooLarge, req: func(e env) hub.IngestRequest {
			r := e.a.req(sized(t, e.a.seq+1, batch.MaxBytes+1))
			r.Signature = "AAAA"
			return r
		}},
		{name: "fail/3/oversize-and-wrong-content-type", code: hub.CodePayloadTooLarge, req: func(e env) hub.IngestRequest {
			r := e.a.req(sized(t, e.a.seq+1, 1<<20))
			r.ContentType = "text/plain"
			return r
		}},
		{name: "fail/3/oversize-legacy", legacy: true, code: hub.CodePayloadTooLarge, req: func(e env) hub.IngestRequest {
			r := e.a.req(sized(t, 1, batch.MaxBytes+1))
			r.Signature = ""
			return r
		}},
		{name: "ok/3/256KiB-exactly", stored: 1, want: hub.IngestResult{Accepted: 1}, req: func(e env) hub.IngestRequest {
			e.a.seq++
			return e.a.req(sized(t, e.a.seq, batch.MaxBytes))
		}},

		// A body that is not application/json: 415, before the signature checks.
		{name: "fail/415/text-plain", code: hub.CodeUnsupportedMedia, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.ContentType = "text/plain"
			return r
		}},
		{name: "fail/415/missing-and-unsigned", code: hub.CodeUnsupportedMedia, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.ContentType, r.Signature = "", ""
			return r
		}},
		{name: "ok/415/json-with-charset", stored: 1, want: hub.IngestResult{Accepted: 1}, req: func(e env) hub.IngestRequest {
			r := e.a.req(e.a.next("1.4.2", 1))
			r.ContentType = "Application/JSON; charset=utf-8"
			return r
		}},

		// 4: legacy agent, no signing pin.
		{name: "ok/4/legacy-unsigned-no-header", legacy: true, stored: 1, want: hub.IngestResult{Accepted: 2}, req: func(e env) hub.IngestRequest {
			body := []byte(`[{"type":"metric","ts":"2026-04-01T09:00:00Z"},{"type":"agent_status","ts":"2026-04-01T09:01:00Z"}]`)
			return hub.IngestRequest{Token: e.a.token, ClientCertPEM: e.a.cert, ContentType: "application/json", Body: body}
		}},
		{name: "ok/4/legacy-ignores-signature-header", legacy: true, stored: 1, want: hub.IngestResult{Accepted: 1}, req: func(e env) hub.IngestRequest {
			body := []byte(`[{"type":"metric","ts":"2026-04-01T09:00:00Z"}]`)
			return hub.IngestRequest{Token: e.a.token, ClientCertPEM: e.a.cert, ContentType: "application/json", Signature: "not base64!", Body: body}
		}},
		{name: "ok/4/legacy-with-header", legacy: true, stored: 1, want: hub.IngestResult{Accepted: 3}, req: func(e env) hub.IngestRequest {
			r := e.a.req(batchBody(5, "1.0.0", 3, ""))
			r.Signature = ""
			return r
		}},
		{name: "fail/4/legacy-invalid-body", legacy: true, code: hub.CodeInvalidRequest, req: func(e env) hub.IngestRequest {
			return hub.IngestRequest{Token: e.a.token, ClientCertPEM: e.a.cert, ContentType: "application/json", Body: []byte(`[{"type":"Metric"}]`)}
		}},
		{name: "fail/4/legacy-empty-array", legacy: true, code: hub.CodeInvalidRequest, req: func(e env) hub.IngestRequest {
			return hub.IngestRequest{Token: e.a.token, ClientCertPEM: e.a.cert, ContentType: "application/json", Body: []byte(`[]`)}
		}},

		// 5: pinned agent, no signature.
		{name: "fail/5/missing-signature", code: hub.CodeSignatureMissing, anomalies: []anom{{anomaly.UnsignedPayload, anomaly.High, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.Signature = ""
				return r
			}},
		{name: "fail/5/blank-signature", code: hub.CodeSignatureMissing, anomalies: []anom{{anomaly.UnsignedPayload, anomaly.High, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.Signature = "   "
				return r
			}},
		{name: "fail/5/missing-signature-and-invalid-body", code: hub.CodeSignatureMissing, anomalies: []anom{{anomaly.UnsignedPayload, anomaly.High, 1}},
			req: func(e env) hub.IngestRequest {
				return hub.IngestRequest{Token: e.a.token, ClientCertPEM: e.a.cert, ContentType: "application/json", Body: []byte(`{}`)}
			}},
		{name: "fail/5/missing-signature-and-replayed-body", code: hub.CodeSignatureMissing, anomalies: []anom{{anomaly.UnsignedPayload, anomaly.High, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.prev)
				r.Signature = ""
				return r
			}},

		// 6: signature not valid.
		{name: "fail/6/not-base64", code: hub.CodeSignatureInvalid, anomalies: []anom{{anomaly.SignatureInvalid, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.Signature = "this is not base64"
				return r
			}},
		{name: "fail/6/63-bytes", code: hub.CodeSignatureInvalid, anomalies: []anom{{anomaly.SignatureInvalid, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				raw, _ := base64.StdEncoding.DecodeString(r.Signature)
				r.Signature = base64.StdEncoding.EncodeToString(raw[:63])
				return r
			}},
		{name: "fail/6/url-safe-base64", code: hub.CodeSignatureInvalid, anomalies: []anom{{anomaly.SignatureInvalid, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.Signature = strings.NewReplacer("+", "-", "/", "_").Replace(r.Signature)
				if !strings.ContainsAny(r.Signature, "-_") {
					r.Signature = strings.TrimRight(r.Signature, "=") // still not padded standard base64
				}
				return r
			}},
		{name: "fail/6/wrong-key", code: hub.CodeSignatureInvalid, anomalies: []anom{{anomaly.SignatureInvalid, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.Signature = sig.Sign(other, r.Body)
				return r
			}},
		{name: "fail/6/flipped-body-byte", code: hub.CodeSignatureInvalid, anomalies: []anom{{anomaly.SignatureInvalid, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(e.a.next("1.4.2", 1))
				r.Body = bytes.Replace(r.Body, []byte(`"cpu"`), []byte(`"cpv"`), 1)
				return r
			}},
		{name: "fail/6/bad-signature-and-invalid-body", code: hub.CodeSignatureInvalid, anomalies: []anom{{anomaly.SignatureInvalid, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req([]byte(`not json`))
				r.Signature = sig.Sign(other, r.Body)
				return r
			}},
		{name: "fail/6/bad-signature-and-replayed-seq", code: hub.CodeSignatureInvalid, anomalies: []anom{{anomaly.SignatureInvalid, anomaly.Critical, 1}},
			req: func(e env) hub.IngestRequest {
				r := e.a.req(batchBody(1, "1.4.2", 1, ""))
				r.Signature = sig.Sign(other, r.Body)
				return r
			}},

		// 7: not a well-formed batch (validly signed).
		{name: "fail/7/no-header", code: hub.CodeInvalidRequest, req: func(e env) hub.IngestRequest {
			return e.a.req([]byte(`[{"type":"metric","ts":"2026-04-01T09:00:00Z"}]`))
		}},
		{name: "fail/7/not-an-array", code: hub.CodeInvalidRequest, req: func(e env) hub.IngestRequest {
			return e.a.req([]byte(`{"type":"batch"}`))
		}},
		{name: "fail/7/empty-array", code: hub.CodeInvalidRequest, req: func(e env) hub.IngestRequest {
			return e.a.req([]byte(`[]`))
		}},
		{name: "fail/7/empty-body", code: hub.CodeInvalidRequest, req: func(e env) hub.IngestRequest {
			return e.a.req([]byte(``))
		}},
		{name: "fail/7/1001-objects", code: hub.CodeInvalidRequest, req: func(e env) hub.IngestRequest {
			return e.a.req(e.a.next("1.4.2", 1000))
		}},
		{name: "fail/7/seq-zero", code: hub.CodeInvalidRequest, req: func(e env) hub.IngestRequest {
			return e.a.req(batchBody(0, "1.4.2", 1, ""))
		}},
		{name: "fail/7/trailing-data", code: hub.CodeInvalidRequest, req: func(e env) hub.IngestRequest {
			return e.a.req(append(e.a.next("1.4.2", 1), []byte(" []")...))
		}},

		// 8: replay.
		{name: "fail/8/same-seq-other-body", code: hub.CodeReplayRejected, lastSeq: ptr(int64(1743501600000000001)),
			anomalies: []anom{{anomaly.ReplayDetected, anomaly.High, 1}},
			req: func(e env) hub.IngestRequest {
				return e.a.req(batchBody(e.a.seq, "1.4.2", 2, "different"))
			}},
		{name: "fail/8/lower-seq", code: hub.CodeReplayRejected, lastSeq: ptr(int64(1743501600000000001)),
			anomalies: []anom{{anomaly.ReplayDetected, anomaly.High, 1}},
			req: func(e env) hub.IngestRequest {
				return e.a.req(batchBody(1, "1.4.2", 1, ""))
			}},
		{name: "fail/8/replay-and-downgrade", code: hub.CodeReplayRejected, lastSeq: ptr(int64(1743501600000000001)),
			anomalies: []anom{{anomaly.ReplayDetected, anomaly.High, 1}},
			req: func(e env) hub.IngestRequest {
				return e.a.req(batchBody(e.a.seq-5, "0.1.0", 1, ""))
			}},
		{name: "ok/8/idempotent-retry", want: hub.IngestResult{Duplicate: true}, req: func(e env) hub.IngestRequest {
			return e.a.req(e.prev)
		}},
		{name: "ok/8/next-seq", stored: 1, want: hub.IngestResult{Accepted: 1}, req: func(e env) hub.IngestRequest {
			return e.a.req(e.a.next("1.4.2", 1))
		}},
		{name: "ok/8/seq-jumps-ahead", stored: 1, want: hub.IngestResult{Accepted: 1}, req: func(e env) hub.IngestRequest {
			e.a.seq += 1e12
			return e.a.req(batchBody(e.a.seq, "1.4.2", 1, ""))
		}},

		// 9: version downgrade: accepted, with an anomaly.
		{name: "ok/9/downgrade", stored: 1, want: hub.IngestResult{Accepted: 1}, anomalies: []anom{{anomaly.VersionDowngrade, anomaly.High, 1}},
			req: func(e env) hub.IngestRequest {
				return e.a.req(e.a.next("1.4.1", 1))
			}},
		{name: "ok/9/downgrade-to-pre-release", stored: 1, want: hub.IngestResult{Accepted: 1}, anomalies: []anom{{anomaly.VersionDowngrade, anomaly.High, 1}},
			req: func(e env) hub.IngestRequest {
				return e.a.req(e.a.next("1.4.2-rc.1", 1))
			}},
		{name: "ok/9/upgrade", stored: 1, want: hub.IngestResult{Accepted: 1}, req: func(e env) hub.IngestRequest {
			return e.a.req(e.a.next("1.5.0", 1))
		}},
		{name: "ok/9/same-version-other-build", stored: 1, want: hub.IngestResult{Accepted: 1}, req: func(e env) hub.IngestRequest {
			return e.a.req(e.a.next("1.4.2+build.7", 1))
		}},
		{name: "ok/9/unparsable-version", stored: 1, want: hub.IngestResult{Accepted: 1}, req: func(e env) hub.IngestRequest {
			return e.a.req(e.a.next("nightly", 1))
		}},

		// Otherwise: 202 with the record count (the header is not a record).
		{name: "ok/202/1000-objects", stored: 1, want: hub.IngestResult{Accepted: 999}, req: func(e env) hub.IngestRequest {
			return e.a.req(e.a.next("1.4.2", 999))
		}},
		{name: "ok/202/header-only", stored: 1, want: hub.IngestResult{Accepted: 0}, req: func(e env) hub.IngestRequest {
			return e.a.req(e.a.next("1.4.2", 0))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFx(t)
			var e env
			if tt.legacy {
				e = env{f: f, a: f.legacyAgent()}
			} else {
				e = env{f: f, a: f.enrolled()}
				e.prev = f.mustIngest(e.a, "1.4.2", 2)
			}
			before := f.store.Batches(e.a.id)
			stateBefore := f.agentState(e.a.id)
			r := tt.req(e)

			res, err := f.ingest(r)
			he := wantCode(t, err, tt.code)
			if tt.code == "" && res != tt.want {
				t.Fatalf("result = %+v, want %+v", res, tt.want)
			}
			if tt.lastSeq != nil && (he.LastSeq == nil || *he.LastSeq != *tt.lastSeq) {
				t.Fatalf("last_seq = %v, want %d", he.LastSeq, *tt.lastSeq)
			}
			if tt.lastSeq == nil && he != nil && he.LastSeq != nil {
				t.Fatalf("last_seq %d on a %s", *he.LastSeq, he.Code)
			}
			f.wantAnomalies(e.a.id, tt.anomalies...)

			after := f.store.Batches(e.a.id)
			if len(after) != len(before)+tt.stored {
				t.Fatalf("%d batches stored, want %d", len(after)-len(before), tt.stored)
			}
			f.consistent(e.a.id)
			st := f.agentState(e.a.id)
			if tt.code != "" || tt.want.Duplicate {
				if st.LastSeq != stateBefore.LastSeq || st.LastBatchSHA != stateBefore.LastBatchSHA ||
					st.AgentVersion != stateBefore.AgentVersion || st.MaxAgentVersion != stateBefore.MaxAgentVersion {
					t.Fatalf("a refusal changed the agent: %+v -> %+v", stateBefore, st)
				}
			}
			if tt.stored == 1 {
				var got *hub.StoredBatch
				for _, b := range after {
					if !bytes.Equal(b.Body, r.Body) {
						continue
					}
					got = &b
				}
				if got == nil {
					t.Fatal("the accepted body is not stored byte for byte")
				}
				if got.Records != tt.want.Accepted || got.TenantID != tenant || got.AgentID != e.a.id || !got.ReceivedAt.Equal(t0) {
					t.Fatalf("stored batch = %+v", *got)
				}
				if tt.legacy {
					if got.Signed || !strings.HasPrefix(got.Key, "u#") || st.LastUnsignedAt.IsZero() {
						t.Fatalf("legacy batch stored as %+v; agent last_unsigned_at %v", *got, st.LastUnsignedAt)
					}
				} else if !got.Signed || got.Signature != r.Signature || got.Seq != e.a.seq || st.LastSeq != e.a.seq {
					t.Fatalf("signed batch stored as seq %d signed %v, agent last_seq %d; want seq %d", got.Seq, got.Signed, st.LastSeq, e.a.seq)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestIngestStoredBatch checks what is kept of an accepted batch.
func TestIngestStoredBatch(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	body := []byte(`[{"type":"batch","ts":"2026-04-01T10:00:00Z","seq":1743501600000000005,"agent_version":"1.4.2"},` +
		` {"type":"metric","ts":"2026-03-31T23:59:59+00:00","v":1.50},` + "\n" +
		`{"type":"honeypot_trip","ts":"2026-04-01T01:30:00+02:00","path":"/etc/sh\u00e4dow"},` +
		`{"type":"process_dna","ts":"2026-04-02T00:00:00.5Z"}]`)
	r := a.req(body)
	res, err := f.ingest(r)
	if err != nil || res.Accepted != 3 {
		t.Fatalf("ingest: %+v, %v", res, err)
	}
	bs := f.store.Batches(a.id)
	if len(bs) != 1 {
		t.Fatalf("%d batches", len(bs))
	}
	b := bs[0]
	if !bytes.Equal(b.Body, body) || b.Signature != r.Signature || !b.Signed || b.Seq != 1743501600000000005 ||
		b.Key != "s#1743501600000000005" || b.Records != 3 {
		t.Fatalf("stored = %+v", b)
	}
	if err := sig.VerifyHeader([]byte(a.key.Public().(ed25519.PublicKey)), b.Body, b.Signature); err != nil {
		t.Fatalf("the stored batch does not re-verify: %v", err)
	}
	if want := []string{"2026-03-31", "2026-04-02"}; strings.Join(b.Days, ",") != strings.Join(want, ",") {
		t.Fatalf("days = %v, want %v", b.Days, want)
	}
	if !b.MinTS.Equal(time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC)) || !b.MaxTS.Equal(time.Date(2026, 4, 2, 0, 0, 0, 5e8, time.UTC)) {
		t.Fatalf("min/max ts = %v / %v", b.MinTS, b.MaxTS)
	}
	st := f.agentState(a.id)
	if st.LastSeq != b.Seq || st.LastBatchSHA != b.SHA || st.AgentVersion != "1.4.2" || !st.LastSignedAt.Equal(t0) || !st.LastSeen.Equal(t0) {
		t.Fatalf("agent after ingest = %+v", st)
	}
}

// TestIngestReplayAnomalyRepeats: every replay folds into the one open
// replay_detected anomaly, and the idempotent retry never counts.
func TestIngestReplayAnomalyRepeats(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	prev := f.mustIngest(a, "1.4.2", 1)
	for i := range 3 {
		f.clock.Advance(time.Second)
		_, err := f.ingest(a.req(batchBody(a.seq-int64(i), "1.4.2", 1, "x")))
		he := wantCode(t, err, hub.CodeReplayRejected)
		if *he.LastSeq != a.seq {
			t.Fatalf("last_seq = %d, want %d", *he.LastSeq, a.seq)
		}
		res, err := f.ingest(a.req(prev))
		if err != nil || !res.Duplicate || res.Accepted != 0 {
			t.Fatalf("retry: %+v, %v", res, err)
		}
	}
	f.wantAnomalies(a.id, anom{anomaly.ReplayDetected, anomaly.High, 3})
	p, _ := f.store.Memory.ListAnomalies(f.ctx, tenant, anomaly.Filter{}, "", 10)
	if an := p.Anomalies[0]; !an.FirstSeen.Equal(t0.Add(time.Second)) || !an.LastSeen.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("first/last seen = %v / %v", an.FirstSeen, an.LastSeen)
	}
	if len(f.store.Batches(a.id)) != 1 {
		t.Fatal("a replay or a retry stored something")
	}
}

// TestIngestVersionDowngrade: the highest version reported (at registration
// or in a batch) is the bar, and it never goes down.
func TestIngestVersionDowngrade(t *testing.T) {
	f := newFx(t)
	a := f.newAgent()
	res, err := f.register(a.token, f.enroll, regBody("2.0.0", pubB64(a.key), csrPEM(t, a.tlsKey)))
	if err != nil {
		t.Fatal(err)
	}
	a.cert = res.ClientCert
	if st := f.agentState(a.id); st.MaxAgentVersion != "2.0.0" {
		t.Fatalf("max version after registration = %q", st.MaxAgentVersion)
	}
	f.mustIngest(a, "1.9.0", 1) // below what it registered with
	f.wantAnomalies(a.id, anom{anomaly.VersionDowngrade, anomaly.High, 1})
	f.mustIngest(a, "1.9.5", 1) // still below 2.0.0
	f.wantAnomalies(a.id, anom{anomaly.VersionDowngrade, anomaly.High, 2})
	f.mustIngest(a, "2.1.0", 1)
	f.mustIngest(a, "2.1.0", 1)
	f.wantAnomalies(a.id, anom{anomaly.VersionDowngrade, anomaly.High, 2})
	if st := f.agentState(a.id); st.MaxAgentVersion != "2.1.0" || st.AgentVersion != "2.1.0" {
		t.Fatalf("versions = %q / %q", st.AgentVersion, st.MaxAgentVersion)
	}
	f.mustIngest(a, "2.0.0", 1)
	f.wantAnomalies(a.id, anom{anomaly.VersionDowngrade, anomaly.High, 3})
	if st := f.agentState(a.id); st.MaxAgentVersion != "2.1.0" || st.AgentVersion != "2.0.0" {
		t.Fatalf("versions after downgrade = %q / %q", st.AgentVersion, st.MaxAgentVersion)
	}
}

// TestIngestLegacyAgent: a legacy agent needs no header and no signature,
// every body is stored once (by content), and the agent is marked unsigned.
func TestIngestLegacyAgent(t *testing.T) {
	f := newFx(t)
	a := f.legacyAgent()
	body := []byte(`[{"type":"metric","ts":"2026-04-01T09:00:00Z"}]`)
	r := hub.IngestRequest{Token: a.token, ClientCertPEM: a.cert, ContentType: "application/json", Body: body}
	for range 2 {
		res, err := f.ingest(r)
		if err != nil || res.Accepted != 1 {
			t.Fatalf("legacy ingest: %+v, %v", res, err)
		}
	}
	if n := len(f.store.Batches(a.id)); n != 1 {
		t.Fatalf("the same legacy body is stored %d times", n)
	}
	st := f.agentState(a.id)
	if !st.LastUnsignedAt.Equal(t0) || st.LastSeq != 0 {
		t.Fatalf("agent = %+v", st)
	}
	v, err := f.core.Agents.Get(f.ctx, f.admin, a.id)
	if err != nil || !v.SendsUnsigned || v.SigningPubKeyPinned {
		t.Fatalf("admin view = %+v, %v", v, err)
	}
	f.wantAnomalies(a.id) // the integrity cycle raises unsigned_payload, not ingest
}

// chained is a's next batch body with "prev" set (prev "" leaves it out).
func (a *agent) chained(prev string, n int) []byte {
	a.seq++
	body, err := batch.Rechain(batchBody(a.seq, "1.4.2", n, ""), prev)
	if err != nil {
		panic(err)
	}
	return body
}

func shaHex(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// TestIngestChainFork is check 10: a signed batch whose prev is not the
// SHA-256 of the agent's last accepted signed body is stored and raises
// chain_fork; a right prev, or none, raises nothing.
func TestIngestChainFork(t *testing.T) {
	type step struct {
		prev func(last string) string // the prev to send, given the last accepted body's SHA-256
		fork int64                    // chain_fork count after the step
	}
	right := func(last string) string { return last }
	none := func(string) string { return "" }
	other := func(string) string { return strings.Repeat("0", 64) }
	tests := []struct {
		name  string
		steps []step
	}{
		{"ok/first-without-prev-then-chained", []step{{none, 0}, {right, 0}, {right, 0}}},
		{"ok/prev-absent-after-chained", []step{{none, 0}, {right, 0}, {none, 0}}},
		{"fail/first-batch-with-prev", []step{{other, 1}}},
		{"fail/prev-names-another-body", []step{{none, 0}, {right, 0}, {other, 1}, {right, 1}}},
		{"fail/two-forks-count-up", []step{{none, 0}, {other, 1}, {other, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFx(t)
			a := f.enrolled()
			last := ""
			for i, s := range tt.steps {
				body := a.chained(s.prev(last), 1)
				res, err := f.ingest(a.req(body))
				if err != nil || res.Accepted != 1 {
					t.Fatalf("step %d: %+v, %v: a forked batch is still stored", i, res, err)
				}
				last = shaHex(body)
				var want []anom
				if s.fork > 0 {
					want = []anom{{anomaly.ChainFork, anomaly.Critical, s.fork}}
				}
				f.wantAnomalies(a.id, want...)
			}
			if got := len(f.store.Batches(a.id)); got != len(tt.steps) {
				t.Fatalf("%d batches stored, want %d", got, len(tt.steps))
			}
		})
	}
}

// TestIngestChainRefusalDoesNotMove: a refused batch (4xx) is not the
// agent's last accepted body, so the next batch chains past it.
func TestIngestChainRefusalDoesNotMove(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	first := a.chained("", 1)
	if _, err := f.ingest(a.req(first)); err != nil {
		t.Fatal(err)
	}
	bad := a.chained(shaHex(first), 1)
	r := a.req(bad)
	r.Signature = sig.Sign(newSigningKey(t), bad)
	wantCode(t, errOf(f.ingest(r)), hub.CodeSignatureInvalid)
	if _, err := f.ingest(a.req(a.chained(shaHex(first), 1))); err != nil {
		t.Fatal(err)
	}
	f.wantAnomalies(a.id, anom{anomaly.SignatureInvalid, anomaly.Critical, 1})
}

func errOf(_ hub.IngestResult, err error) error { return err }

// TestIngestChainForkOnRetry: check 10 runs on every path that stores a
// signed batch (the first request, the retry that ends a batch already
// whole, the takeover after the lease), before the batch is
// acknowledged, and counts a forked batch once however many requests
// judge it; an honest agent's retries raise nothing.
func TestIngestChainForkOnRetry(t *testing.T) {
	other := strings.Repeat("0", 64)
	tests := []struct {
		name string
		fork bool
		// fault makes the first attempt of the batch fail; the agent then
		// retries the same body after wait.
		fault func(f *fx)
		wait  time.Duration
		code  hub.Code
	}{
		{"ok/honest-end-batch-fails", false, func(f *fx) { f.store.FailNext("EndBatch", hub.ErrUnavailable) }, 0, hub.CodeUnavailable},
		{"ok/honest-stale-marker-taken-over", false, func(f *fx) {
			f.store.FailNext("PutBatch", errBoom)
			f.store.FailNext("AbortBatch", errBoom)
		}, lease + time.Second, hub.CodeInternal},
		{"fail/fork-end-batch-fails", true, func(f *fx) { f.store.FailNext("EndBatch", hub.ErrUnavailable) }, 0, hub.CodeUnavailable},
		{"fail/fork-stale-marker-taken-over", true, func(f *fx) {
			f.store.FailNext("PutBatch", errBoom)
			f.store.FailNext("AbortBatch", errBoom)
		}, lease + time.Second, hub.CodeInternal},
		{"fail/fork-raise-fails", true, func(f *fx) { f.store.FailNext("RaiseAnomaly", hub.ErrUnavailable) }, 0, hub.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFx(t)
			a := f.enrolled()
			first := a.chained("", 1)
			if _, err := f.ingest(a.req(first)); err != nil {
				t.Fatal(err)
			}
			prev := shaHex(first)
			if tt.fork {
				prev = other
			}
			r := a.req(a.chained(prev, 1))
			tt.fault(f)
			wantCode(t, errOf(f.ingest(r)), tt.code)
			f.clock.Advance(tt.wait)
			for i := range 2 { // the retry, then a retry of the retry
				if _, err := f.ingest(r); err != nil {
					t.Fatalf("retry %d: %v", i+1, err)
				}
				f.consistent(a.id)
				if tt.fork {
					f.wantAnomalies(a.id, anom{anomaly.ChainFork, anomaly.Critical, 1})
				} else {
					f.wantAnomalies(a.id)
				}
			}
			if _, err := f.ingest(a.req(a.chained(shaHex(r.Body), 1))); err != nil {
				t.Fatal(err)
			}
			if n := len(f.store.Batches(a.id)); n != 3 {
				t.Fatalf("%d batches stored, want 3", n)
			}
		})
	}
}
