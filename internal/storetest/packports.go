package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
)

// The evidence packs' ports outside DynamoDB, in memory: the archives' store
// (S3 in AWS), the vault of the tenants' signing keys (KMS) and the build
// starter (the pack function invoking itself). Each can be made to fail.

// Objects is hub.ObjectStore in memory: every upload is a new version of its
// key, and each link looks like a presigned S3 GET and is new.
type Objects struct {
	mu        sync.Mutex
	fail      error
	versions  map[string][]string // key → version ids, oldest first
	data      map[string][]byte   // key + "?" + version → bytes
	presigned []Link
}

var _ hub.ObjectStore = (*Objects)(nil)

// Link is one presigned link Objects handed out.
type Link struct {
	Key, Version, FileName, URL string
	TTL                         time.Duration
}

// NewObjects returns an empty object store.
func NewObjects() *Objects {
	return &Objects{versions: map[string][]string{}, data: map[string][]byte{}}
}

// FailUploads makes every upload fail with err from now on (nil: none).
func (o *Objects) FailUploads(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fail = err
}

// Upload implements hub.ObjectStore.
func (o *Objects) Upload(_ context.Context, key string, r io.Reader) (int64, string, error) {
	o.mu.Lock()
	fail := o.fail
	o.mu.Unlock()
	if fail != nil {
		return 0, "", fail
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, "", err
	}
	return int64(len(b)), o.Put(key, b), nil
}

// Put stores b as a new version of key and returns the version id.
func (o *Objects) Put(key string, b []byte) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := fmt.Sprintf("v%03d.Qm9iamVjdFZlcnNpb24", len(o.data)+1)
	o.versions[key] = append(o.versions[key], v)
	o.data[key+"?"+v] = b
	return v
}

// PresignGet implements hub.ObjectStore.
func (o *Objects) PresignGet(_ context.Context, key, version, fileName string, ttl time.Duration) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := url.Values{}
	q.Set("versionId", version)
	q.Set("response-content-disposition", `attachment; filename="`+fileName+`"`)
	q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
	q.Set("X-Amz-Expires", fmt.Sprint(int64(ttl/time.Second)))
	q.Set("X-Amz-Signature", fmt.Sprintf("%064x", len(o.presigned)+1))
	u := "https://monsys-packs-test.s3.eu-central-1.amazonaws.com/" + key + "?" + q.Encode()
	o.presigned = append(o.presigned, Link{Key: key, Version: version, FileName: fileName, URL: u, TTL: ttl})
	return u, nil
}

// Links returns every link handed out, oldest first.
func (o *Objects) Links() []Link {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.presigned)
}

// Count is the number of versions stored under every key.
func (o *Objects) Count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.data)
}

// Versions returns the version ids of key, oldest first.
func (o *Objects) Versions(key string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.versions[key])
}

// Object returns the bytes of one version of key.
func (o *Objects) Object(key, version string) ([]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, ok := o.data[key+"?"+version]
	return b, ok
}

// Vault is hub.KeyVault with local Ed25519 keys, one fixed seed per tenant
// and key id (VaultKey). The zero value is ready.
type Vault struct {
	mu       sync.Mutex
	fail     error
	failSign error
	made     []string
}

var _ hub.KeyVault = (*Vault)(nil)

// VaultKey is the private key Vault makes for keyID of tenantID.
func VaultKey(tenantID, keyID string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("monsys test pack key " + tenantID + "/" + keyID))
	return ed25519.NewKeyFromSeed(seed[:])
}

func vaultRef(tenantID, keyID string) string { return "test-vault/" + tenantID + "/" + keyID }

// Fail makes every call fail with err from now on (nil: none).
func (v *Vault) Fail(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.fail = err
}

// FailSigning makes every signature of the signers it hands out from now on
// fail with err (nil: none).
func (v *Vault) FailSigning(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.failSign = err
}

// NewKey implements hub.KeyVault.
func (v *Vault) NewKey(_ context.Context, tenantID, keyID string) (string, ed25519.PublicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fail != nil {
		return "", nil, v.fail
	}
	v.made = append(v.made, tenantID+"/"+keyID)
	return vaultRef(tenantID, keyID), VaultKey(tenantID, keyID).Public().(ed25519.PublicKey), nil
}

// Signer implements hub.KeyVault.
func (v *Vault) Signer(_ context.Context, tenantID, keyID, ref string) (pack.Signer, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fail != nil {
		return nil, v.fail
	}
	if ref != vaultRef(tenantID, keyID) {
		return nil, fmt.Errorf("vault: ref %q does not name key %s of %s", ref, keyID, tenantID)
	}
	return vaultSigner{v, VaultKey(tenantID, keyID)}, nil
}

// Made returns "tenant/key" for every key made, oldest first.
func (v *Vault) Made() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.made)
}

// vaultSigner signs SHA-256 digests with pure Ed25519, as the KMS signers do.
type vaultSigner struct {
	v    *Vault
	priv ed25519.PrivateKey
}

func (s vaultSigner) SignDigest(_ context.Context, digest []byte) ([]byte, error) {
	s.v.mu.Lock()
	fail := s.v.failSign
	s.v.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return ed25519.Sign(s.priv, digest), nil
}

func (s vaultSigner) Public() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// Builds is hub.BuildStarter that queues builds for the test to run, as the
// pack function's build events would. The zero value is ready.
type Builds struct {
	mu       sync.Mutex
	fail     error
	queued   [][2]string
	expiries []hub.ExpiryTask
}

var _ hub.AsyncStarter = (*Builds)(nil)

// Fail makes every start fail with err from now on (nil: none).
func (b *Builds) Fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fail = err
}

// StartBuild implements hub.BuildStarter.
func (b *Builds) StartBuild(_ context.Context, tenantID, packID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.queued = append(b.queued, [2]string{tenantID, packID})
	return nil
}

// Take returns the builds started since the last Take, as (tenant, pack).
func (b *Builds) Take() [][2]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queued
	b.queued = nil
	return q
}

// StartExpiry implements hub.ExpiryStarter: the task is queued for
// TakeExpiries (and fails as StartBuild does).
func (b *Builds) StartExpiry(_ context.Context, t hub.ExpiryTask) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.expiries = append(b.expiries, t)
	return nil
}

// TakeExpiries returns the expiry tasks started since the last call.
func (b *Builds) TakeExpiries() []hub.ExpiryTask {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.expiries
	b.expiries = nil
	return q
}

// Restore queues tasks again, first (a test that took them to look).
func (b *Builds) Restore(tasks []hub.ExpiryTask) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expiries = append(slices.Clone(tasks), b.expiries...)
}
