package s3store_test

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/clocktest"
)

// sessions hands out role sessions one after another (the last one again
// once they run out), as an aws.CredentialsCache over AssumeRole would
// after each Invalidate.
type sessions struct {
	list        []aws.Credentials
	i           int
	invalidated int
}

func (s *sessions) Retrieve(context.Context) (aws.Credentials, error) {
	return s.list[min(s.i, len(s.list)-1)], nil
}

func (s *sessions) Invalidate() { s.i++; s.invalidated++ }

func session(id string, expires time.Time) aws.Credentials {
	return aws.Credentials{AccessKeyID: id, SecretAccessKey: "secret-" + id, SessionToken: "token-" + id, CanExpire: true, Expires: expires}
}

// A presigned link dies with the credentials that signed it: links are
// signed only with a role session that outlives them, a new one when the
// cached one ends too soon, and never with a session that ends first.
func TestLinksOutliveTheirCredentials(t *testing.T) {
	now := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktest.At(now)
	client := s3.New(s3.Options{Region: "eu-west-1", BaseEndpoint: aws.String("https://s3.eu-west-1.amazonaws.com"),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "FUNCTION", SecretAccessKey: "s", SessionToken: "function-token"}, nil
		})})
	tests := []struct {
		name        string
		sessions    []aws.Credentials // nil: no link credentials
		ttl         time.Duration
		wantKey     string
		invalidated int
		fail        bool
	}{
		{name: "ok/own-credentials", ttl: 15 * time.Minute, wantKey: "FUNCTION"},
		{name: "ok/cached-session", sessions: []aws.Credentials{session("A", now.Add(time.Hour))}, ttl: 15 * time.Minute, wantKey: "A"},
		{name: "ok/new-session", sessions: []aws.Credentials{session("A", now.Add(10*time.Minute)), session("B", now.Add(time.Hour))},
			ttl: 55 * time.Minute, wantKey: "B", invalidated: 1},
		{name: "fail/sessions-too-short", sessions: []aws.Credentials{session("A", now.Add(10*time.Minute)), session("B", now.Add(30*time.Minute))},
			ttl: 55 * time.Minute, invalidated: 1, fail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := s3store.Config{Bucket: "packs", Now: clock.Now}
			var ss *sessions
			if tc.sessions != nil {
				ss = &sessions{list: tc.sessions}
				cfg.LinkCredentials = ss
			}
			st, err := s3store.New(client, cfg)
			if err != nil {
				t.Fatal(err)
			}
			link, err := st.PresignGet(context.Background(), "packs/acme/pk_1/p.tar.gz", "v1", "p.tar.gz", tc.ttl)
			if ss != nil && ss.invalidated != tc.invalidated {
				t.Errorf("%d new sessions, want %d", ss.invalidated, tc.invalidated)
			}
			if tc.fail {
				if !errors.Is(err, s3store.ErrLinkLifetime) || link != "" {
					t.Fatalf("PresignGet = %q, %v; want ErrLinkLifetime", link, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if cred := q.Get("X-Amz-Credential"); !strings.HasPrefix(cred, tc.wantKey+"/") {
				t.Errorf("signed by %q, want %s", cred, tc.wantKey)
			}
			if tok := q.Get("X-Amz-Security-Token"); tc.sessions != nil && tok != "token-"+tc.wantKey {
				t.Errorf("session token %q, want the signing session's", tok)
			}
			if got, want := q.Get("X-Amz-Expires"), strconv.Itoa(int(tc.ttl/time.Second)); got != want {
				t.Errorf("X-Amz-Expires %s, want %s", got, want)
			}
		})
	}
}
