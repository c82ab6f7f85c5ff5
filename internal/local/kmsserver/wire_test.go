package kmsserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/monsys/hub/internal/local/kmsserver"
)

// TestWire drives the handler with raw HTTP, below what the SDK would send.
func TestWire(t *testing.T) {
	srv, err := kmsserver.Open("")
	if err != nil {
		t.Fatal(err)
	}
	const auth = "AWS4-HMAC-SHA256 Credential=AKIDLOCALKMS/20250301/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00"
	tests := []struct {
		name       string
		method     string
		target     string
		ctype      string
		auth       string
		body       string
		wantStatus int
		wantType   string // "" for success
	}{
		{name: "ok/create-key", target: "TrentService.CreateKey", body: `{"KeySpec":"ECC_NIST_EDWARDS25519","KeyUsage":"SIGN_VERIFY"}`, wantStatus: 200},
		{name: "ok/empty-body-is-empty-object", target: "TrentService.ListKeys", body: ``, wantStatus: 200},
		{name: "ok/json-1.0-content-type", target: "TrentService.ListKeys", ctype: "application/x-amz-json-1.0", body: `{}`, wantStatus: 200},
		{name: "fail/no-authorization", target: "TrentService.ListKeys", auth: "-", body: `{}`, wantStatus: 400, wantType: "MissingAuthenticationTokenException"},
		{name: "fail/unknown-operation", target: "TrentService.ListKeyRotations", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "fail/other-service", target: "DynamoDB_20120810.ListTables", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "fail/no-target", target: "", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "fail/get", method: http.MethodGet, target: "TrentService.ListKeys", wantStatus: 405, wantType: "UnknownOperationException"},
		{name: "fail/malformed-json", target: "TrentService.DescribeKey", body: `{"KeyId":`, wantStatus: 400, wantType: "SerializationException"},
		{name: "fail/not-an-object", target: "TrentService.DescribeKey", body: `["KeyId"]`, wantStatus: 400, wantType: "SerializationException"},
		{name: "fail/trailing-data", target: "TrentService.DescribeKey", body: `{"KeyId":"a"} {}`, wantStatus: 400, wantType: "SerializationException"},
		{name: "fail/wrong-member-type", target: "TrentService.ListKeys", body: `{"Limit":"7"}`, wantStatus: 400, wantType: "SerializationException"},
		{name: "fail/bad-base64", target: "TrentService.Sign", body: `{"KeyId":"a","Message":"!!!","SigningAlgorithm":"ED25519_SHA_512"}`, wantStatus: 400, wantType: "SerializationException"},
		{name: "fail/form-content-type", target: "TrentService.ListKeys", ctype: "application/x-www-form-urlencoded", body: `{}`, wantStatus: 400, wantType: "SerializationException"},
		{name: "fail/missing-key-id", target: "TrentService.DescribeKey", body: `{}`, wantStatus: 400, wantType: "ValidationException"},
		{name: "fail/missing-message", target: "TrentService.Sign", body: `{"KeyId":"alias/x","SigningAlgorithm":"ED25519_SHA_512"}`, wantStatus: 400, wantType: "ValidationException"},
		{name: "fail/dry-run", target: "TrentService.Encrypt", body: `{"KeyId":"alias/sym","Plaintext":"cA==","DryRun":true}`, wantStatus: 412, wantType: "DryRunOperationException"},
	}
	// A symmetric key behind alias/sym for the DryRun case.
	rec := do(srv, http.MethodPost, "TrentService.CreateKey", "", auth, `{}`)
	var created struct{ KeyMetadata struct{ KeyId string } }
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || created.KeyMetadata.KeyId == "" {
		t.Fatalf("CreateKey: %s", rec.Body)
	}
	if rec := do(srv, http.MethodPost, "TrentService.CreateAlias", "", auth, `{"AliasName":"alias/sym","TargetKeyId":"`+created.KeyMetadata.KeyId+`"}`); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("CreateAlias = %d %q", rec.Code, rec.Body)
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := auth
			if tt.auth == "-" {
				a = ""
			}
			rec := do(srv, tt.method, tt.target, tt.ctype, a, tt.body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/x-amz-json-1.1" {
				t.Errorf("Content-Type = %q", got)
			}
			if tt.wantType == "" {
				return
			}
			// Exactly the two members the SDK's awsJson error parser reads.
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("error body %q: %v", rec.Body, err)
			}
			if body["__type"] != tt.wantType || body["message"] == "" || len(body) != 2 {
				t.Errorf("error body = %v, want __type %s and a message", body, tt.wantType)
			}
		})
	}
}

func do(h http.Handler, method, target, ctype, auth, body string) *httptest.ResponseRecorder {
	if method == "" {
		method = http.MethodPost
	}
	if ctype == "" {
		ctype = "application/x-amz-json-1.1"
	}
	req := httptest.NewRequest(method, "/", strings.NewReader(body))
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	req.Header.Set("Content-Type", ctype)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestUnimplementedOperation: an operation the SDK knows but this server
// does not implement reaches the caller as UnknownOperationException.
func TestUnimplementedOperation(t *testing.T) {
	client, _ := newClient(t)
	_, err := client.ListGrants(context.Background(), &kms.ListGrantsInput{KeyId: new("1234abcd-12ab-34cd-56ef-1234567890ab")})
	check(t, err, wantCode("UnknownOperationException"))
}
