package app_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/monsys/hub/internal/app"
)

// echo answers with what it was given, HTML characters included, so that
// a difference in the decoded event or in the response's encoding shows.
func echo(_ context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return events.APIGatewayProxyResponse{
		StatusCode: 200 + len(ev.Headers),
		Headers:    map[string]string{"X-Path": ev.Path, "X-Cert": strconv.FormatBool(ev.RequestContext.Identity.ClientCert != nil)},
		Body:       "<" + ev.HTTPMethod + "&" + ev.Body + ">",
	}, nil
}

// TestAPIFuncInvoke holds APIFunc's Invoke, which lambda.Start calls, to
// what the runtime does with a plain handler function: decode with
// encoding/json, encode the result.
func TestAPIFuncInvoke(t *testing.T) {
	var _ lambda.Handler = app.APIFunc(nil)
	names, err := filepath.Glob(filepath.Join("..", "api", "testdata", "events", "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no event files: %v", err)
	}
	for _, n := range names {
		t.Run("ok/"+filepath.Base(n), func(t *testing.T) {
			ev, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			want, err := lambda.NewHandler(echo).Invoke(t.Context(), ev)
			if err != nil {
				t.Fatal(err)
			}
			got, err := app.APIFunc(echo).Invoke(t.Context(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Invoke answered\n%q\nthe runtime's handler\n%q", got, want)
			}
		})
	}
	t.Run("fail/not an event", func(t *testing.T) {
		if _, err := app.APIFunc(echo).Invoke(t.Context(), []byte(`{"body":`)); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("fail/handler error", func(t *testing.T) {
		boom := errors.New("boom")
		f := app.APIFunc(func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{}, boom
		})
		if _, err := f.Invoke(t.Context(), []byte(`{}`)); !errors.Is(err, boom) {
			t.Fatalf("error %v, want %v", err, boom)
		}
	})
}
