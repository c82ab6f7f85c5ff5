package emu_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
)

func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, emutest.NeedDynamo|emutest.NeedS3)) }

func TestRepoRoot(t *testing.T) {
	tests := []struct {
		name string
		wd   string // "" keeps the package directory
	}{
		{name: "ok/from package dir"},
		{name: "ok/from unrelated dir via source file", wd: t.TempDir()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wd != "" {
				if _, file, _, _ := runtime.Caller(0); !filepath.IsAbs(file) {
					t.Skip("built with -trimpath: no source path to fall back on")
				}
				t.Chdir(tc.wd)
			}
			root, err := emu.RepoRoot()
			if err != nil {
				t.Fatal(err)
			}
			gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(gomod), "module "+emu.ModulePath+"\n") {
				t.Errorf("RepoRoot() = %q, whose go.mod is not %s", root, emu.ModulePath)
			}
		})
	}
}

func TestFreePort(t *testing.T) {
	port, err := emu.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("FreePort() = %d, which cannot be bound: %v", port, err)
	}
	l.Close()
}

func TestEnsureNodeModules(t *testing.T) {
	repo, err := emu.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	const pkg = `{"name":"x","version":"1.0.0","private":true}`
	const lock = `{"name":"x","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"x","version":"1.0.0"}}}`
	tests := []struct {
		name    string
		files   map[string]string // nil: use the repository itself
		wantErr string
	}{
		{name: "ok/already installed"},
		{name: "fail/no lockfile", files: map[string]string{"package.json": pkg}, wantErr: "npm ci in"},
		{
			name:    "fail/lockfile without dynalite",
			files:   map[string]string{"package.json": pkg, "package-lock.json": lock},
			wantErr: "is dynalite in package-lock.json",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := repo
			if tc.files != nil {
				if _, err := exec.LookPath("npm"); err != nil {
					t.Skip("npm not in PATH")
				}
				root = t.TempDir()
				for name, body := range tc.files {
					if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			err := emu.EnsureNodeModules(t.Context(), root)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("EnsureNodeModules() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestClientsRejectBadEndpoints(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		wantErr  bool
	}{
		{name: "ok/http", endpoint: "http://127.0.0.1:8000"},
		{name: "ok/https", endpoint: "https://localhost:4566"},
		{name: "fail/empty", endpoint: "", wantErr: true},
		{name: "fail/no scheme", endpoint: "127.0.0.1:8000", wantErr: true},
		{name: "fail/ftp", endpoint: "ftp://127.0.0.1:21", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, derr := emu.DynamoClient(t.Context(), tc.endpoint)
			_, serr := emu.S3Client(t.Context(), tc.endpoint, "user", "password")
			for _, err := range []error{derr, serr} {
				if got := errors.Is(err, emu.ErrBadEndpoint); got != tc.wantErr {
					t.Errorf("err = %v, want ErrBadEndpoint: %v", err, tc.wantErr)
				}
			}
		})
	}
}

func TestUniqueNames(t *testing.T) {
	table := regexp.MustCompile(`^[A-Za-z0-9_.-]{3,200}$`)
	bucket := regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	for _, name := range []string{
		"ok/plain",
		"ok/Spaces and ÜNICODE ✓",
		"ok/" + strings.Repeat("very-long-name-", 10),
		"ok/---",
	} {
		t.Run(name, func(t *testing.T) {
			p1, p2 := emutest.UniquePrefix(t), emutest.UniquePrefix(t)
			if p1 == p2 {
				t.Errorf("UniquePrefix() twice = %q", p1)
			}
			if !table.MatchString(p1 + "agents") {
				t.Errorf("UniquePrefix() = %q: not a valid table-name prefix", p1)
			}
			b1, b2 := emutest.UniqueBucket(t), emutest.UniqueBucket(t)
			if b1 == b2 {
				t.Errorf("UniqueBucket() twice = %q", b1)
			}
			if !bucket.MatchString(b1) || strings.Contains(b1, "--") {
				t.Errorf("UniqueBucket() = %q: not a valid bucket name", b1)
			}
		})
	}
}

func TestSharedDynamo(t *testing.T) {
	ctx := t.Context()
	db := emutest.DynamoForTest(t)
	name := emutest.UniquePrefix(t) + "items"
	createTable(t, db, name)
	putItem(t, db, name, "a", "1")
	if got := getItem(t, db, name, "a"); got != "1" {
		t.Fatalf("GetItem(a) = %q, want 1", got)
	}
	out, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(out.TableNames, name) {
		t.Errorf("ListTables() = %v, want it to include %q", out.TableNames, name)
	}
}

func TestDynaliteRestartKeepsData(t *testing.T) {
	ctx := t.Context()
	d, err := emu.StartDynalite(ctx, emu.DynaliteOptions{Dir: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	endpoint := d.Endpoint()
	db, err := emu.DynamoClient(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	name := emutest.UniquePrefix(t) + "items"
	createTable(t, db, name)
	putItem(t, db, name, "k", "before-restart")

	if err := d.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if d.Endpoint() != endpoint {
		t.Errorf("Endpoint() after Restart = %q, want %q", d.Endpoint(), endpoint)
	}
	if got := getItem(t, db, name, "k"); got != "before-restart" {
		t.Errorf("GetItem(k) after Restart = %q, want before-restart", got)
	}

	for i := range 2 {
		if err := d.Stop(); err != nil {
			t.Fatalf("Stop() #%d = %v", i+1, err)
		}
	}
	once := func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}, once); err == nil {
		t.Error("ListTables() after Stop succeeded")
	}
}

func TestStartDynalitePortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	d, err := emu.StartDynalite(t.Context(), emu.DynaliteOptions{Port: port})
	if err == nil {
		_ = d.Stop()
		t.Fatalf("StartDynalite(port %d, taken) succeeded", port)
	}
	if !strings.Contains(err.Error(), "port already in use") {
		t.Errorf("StartDynalite(port %d, taken) = %v, want it to say the port is in use", port, err)
	}
}

func createTable(t *testing.T, db *dynamodb.Client, name string) {
	t.Helper()
	_, err := db.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable(%q): %v", name, err)
	}
	// As on AWS, a new table is CREATING for a moment (dynalite: one timer
	// tick even with --createTableMs 0) and rejects item calls until ACTIVE.
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	})
	if err := w.Wait(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 10*time.Second); err != nil {
		t.Fatalf("wait for table %q: %v", name, err)
	}
}

func putItem(t *testing.T, db *dynamodb.Client, table, pk, v string) {
	t.Helper()
	_, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk},
			"v":  &types.AttributeValueMemberS{Value: v},
		},
	})
	if err != nil {
		t.Fatalf("PutItem(%q): %v", pk, err)
	}
}

func getItem(t *testing.T, db *dynamodb.Client, table, pk string) string {
	t.Helper()
	out, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("GetItem(%q): %v", pk, err)
	}
	v, _ := out.Item["v"].(*types.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}
