package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/storetest"
)

// TestPackFunctionEvents: the pack function serves API Gateway proxy events
// and its own build events; anything else is an invocation error (which
// Lambda counts, and the function's Errors alarm sees), not an answer.
func TestPackFunctionEvents(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.NewRoot(key, "wire test CA", time.Now(), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth := &ca.Authority{Cert: root, Signer: key}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	core, err := app.Assemble(storetest.NewMemory().Stores(), auth, app.CoreConfig{}, hub.Env{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(core.Services(), log, api.Packs)
	if err != nil {
		t.Fatal(err)
	}
	arch := &fakeArchive{}
	f := &app.PackFunction{API: h.Handle, Log: log, Archive: arch}

	const scheduled = `{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event",` +
		`"source":"aws.events","account":"123456789012","time":"2026-04-01T10:00:00Z","region":"us-east-1","resources":[],"detail":{}}`
	tests := []struct {
		name    string
		event   string
		status  int    // of the proxy response; 0 when an error is wanted
		errText string // in the error
	}{
		{name: "ok/api-event", status: 404,
			event: `{"resource":"/{proxy+}","path":"/api/v1/nothing-here","httpMethod":"GET","requestContext":{"requestId":"r1"}}`},
		{name: "fail/scheduled-event", event: scheduled, errText: "neither"},
		{name: "fail/empty-object", event: `{}`, errText: "neither"},
		{name: "fail/not-an-object", event: `["GET","/api/v1/evidence-packs"]`, errText: "neither"},
		{name: "fail/build-without-ids", event: `{"monsys_pack_build":{}}`, errText: "tenant_id and pack_id"},
		{name: "fail/build-without-pack", event: `{"monsys_pack_build":{"tenant_id":"acme"}}`, errText: "tenant_id and pack_id"},
		{name: "fail/build-null", event: `{"monsys_pack_build":null}`, errText: "tenant_id and pack_id"},
		{name: "ok/archive", event: `{"monsys_pack_archive":{}}`, status: -1},
		{name: "fail/archive-run-fails", event: `{"monsys_pack_archive":{"fail":true}}`, errText: "monthly archive"},
		{name: "fail/archive-null", event: `{"monsys_pack_archive":null}`, errText: "neither"},
		{name: "ok/expire", event: `{"monsys_pack_expire":{"tenant_id":"acme","pack_id":"pk_m202603r1","day":"2026-03-12","shard":3,"cursor":"ag_1#u#9","marked":7}}`, status: -2},
		{name: "fail/expire-without-day", event: `{"monsys_pack_expire":{"tenant_id":"acme","pack_id":"pk_m202603r1","shard":3}}`, errText: "day (YYYY-MM-DD)"},
		{name: "fail/expire-bad-day", event: `{"monsys_pack_expire":{"tenant_id":"acme","pack_id":"pk_m202603r1","day":"12/03/2026"}}`, errText: "day (YYYY-MM-DD)"},
		{name: "fail/expire-without-pack", event: `{"monsys_pack_expire":{"tenant_id":"acme","day":"2026-03-12"}}`, errText: "pack_id"},
		{name: "fail/expire-negative-shard", event: `{"monsys_pack_expire":{"tenant_id":"acme","pack_id":"p","day":"2026-03-12","shard":-1}}`, errText: "shard"},
		{name: "fail/expire-null", event: `{"monsys_pack_expire":null}`, errText: "tenant_id, pack_id"},
		{name: "fail/expire-not-an-object", event: `{"monsys_pack_expire":"2026-03-12"}`, errText: "decode the expire event"},
		{name: "fail/expire-fails", event: `{"monsys_pack_expire":{"tenant_id":"acme","pack_id":"pk_fail","day":"2026-03-12"}}`, errText: "expire part 20260312s0 of acme pk_fail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := f.Handle(t.Context(), json.RawMessage(tc.event))
			if tc.status == 0 {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Handle = %+v, %v; want an error saying %q", out, err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.status == -2 {
				want := hub.ExpiryTask{TenantID: "acme", PackID: "pk_m202603r1", Part: hub.ExpiryPart{Day: time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC), Shard: 3},
					Cursor: "ag_1#u#9", Marked: 7}
				if len(arch.tasks) != 1 || arch.tasks[0] != want {
					t.Fatalf("Handle(%s) expired %+v, want exactly %+v", tc.event, arch.tasks, want)
				}
				return
			}
			if tc.status == -1 {
				if arch.runs != 1 {
					t.Fatalf("Handle(%s) ran the archive %d times, want once", tc.event, arch.runs)
				}
				return
			}
			resp, ok := out.(events.APIGatewayProxyResponse)
			if !ok || resp.StatusCode != tc.status {
				t.Fatalf("Handle = %+v, want a proxy response with status %d", out, tc.status)
			}
		})
	}
}

// fakeArchive counts runs and notes expiry tasks; a run fails when the
// test says so, and an expiry of pk_fail fails.
type fakeArchive struct {
	runs  int
	tasks []hub.ExpiryTask
}

func (a *fakeArchive) Expire(ctx context.Context, t hub.ExpiryTask) error {
	if t.PackID == "pk_fail" {
		return errors.New("dynamodb down")
	}
	a.tasks = append(a.tasks, t)
	return nil
}

func (a *fakeArchive) Run(ctx context.Context) error {
	a.runs++
	if a.runs > 1 {
		return errors.New("lambda down")
	}
	return nil
}

// fakeInvoke notes the payloads LambdaStarter sends.
type fakeInvoke struct{ in []*lambda.InvokeInput }

func (f *fakeInvoke) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.in = append(f.in, in)
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

// TestExpireEventRoundTrip: the event LambdaStarter sends for a part of an
// expiry pass is an asynchronous invocation of the function itself, and
// the pack function hands Archive.Expire back exactly that task.
func TestExpireEventRoundTrip(t *testing.T) {
	inv := &fakeInvoke{}
	s := &app.LambdaStarter{API: inv, Function: "monsys-pack"}
	want := hub.ExpiryTask{TenantID: "acme", PackID: "pk_m202603r2", Part: hub.ExpiryPart{Day: time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), Shard: 7},
		Cursor: "ag_zz#s#0000000000000000042", Marked: 123456}
	for _, task := range []hub.ExpiryTask{want, {TenantID: "acme", PackID: "pk_m202603r2", Part: want.Part}} {
		if err := s.StartExpiry(t.Context(), task); err != nil {
			t.Fatal(err)
		}
		last := inv.in[len(inv.in)-1]
		if aws.ToString(last.FunctionName) != "monsys-pack" || last.InvocationType != lambdatypes.InvocationTypeEvent {
			t.Fatalf("Invoke(%s, %s), want (monsys-pack, Event)", aws.ToString(last.FunctionName), last.InvocationType)
		}
		arch := &fakeArchive{}
		f := &app.PackFunction{Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Archive: arch}
		if _, err := f.Handle(t.Context(), last.Payload); err != nil {
			t.Fatalf("Handle(%s): %v", last.Payload, err)
		}
		if len(arch.tasks) != 1 || arch.tasks[0] != task {
			t.Fatalf("Handle(%s) expired %+v, want %+v", last.Payload, arch.tasks, task)
		}
	}
}
