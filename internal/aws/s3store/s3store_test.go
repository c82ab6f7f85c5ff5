package s3store_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/local/emu/emutest"
)

func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, emutest.NeedS3)) }

func lockedBucket(t *testing.T) (*s3.Client, string) {
	t.Helper()
	c := emutest.S3ForTest(t)
	b := emutest.UniqueBucket(t)
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	return c, b
}

// failAfter yields n bytes of data, then err.
type failAfter struct {
	r   io.Reader
	n   int
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func leftovers(t *testing.T, c *s3.Client, bucket string) (versions, uploads int) {
	t.Helper()
	v, err := c.ListObjectVersions(t.Context(), &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	return len(v.Versions), len(u.Uploads)
}

func TestUpload(t *testing.T) {
	data := make([]byte, 13<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		size int
	}{{"ok/three-parts", len(data)}, {"ok/exact-part", s3store.MinPartSize}, {"ok/small", 10}, {"ok/empty", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			c, bucket := lockedBucket(t)
			st, err := s3store.New(c, s3store.Config{Bucket: bucket, Retention: time.Hour, PartSize: s3store.MinPartSize})
			if err != nil {
				t.Fatal(err)
			}
			n, version, err := st.Upload(t.Context(), "packs/p.tar.gz", bytes.NewReader(data[:tc.size]))
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(tc.size) || version == "" {
				t.Fatalf("Upload = %d bytes, version %q; want %d bytes and a version", n, version, tc.size)
			}
			head, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("packs/p.tar.gz"), VersionId: aws.String(version)})
			if err != nil {
				t.Fatal(err)
			}
			if head.ObjectLockMode != types.ObjectLockModeCompliance || head.ObjectLockRetainUntilDate == nil ||
				time.Until(*head.ObjectLockRetainUntilDate) < 50*time.Minute {
				t.Fatalf("object lock %q until %v, want COMPLIANCE for an hour", head.ObjectLockMode, head.ObjectLockRetainUntilDate)
			}
			link, err := st.PresignGet(t.Context(), "packs/p.tar.gz", version, "evidence_acme_april-2026.tar.gz", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.Get(link)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !bytes.Equal(got, data[:tc.size]) {
				t.Fatalf("presigned GET: %d, %d bytes", res.StatusCode, len(got))
			}
			if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="evidence_acme_april-2026.tar.gz"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			if _, err := c.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("packs/p.tar.gz"), VersionId: aws.String(version)}); err == nil {
				t.Fatal("deleted a version under COMPLIANCE retention")
			}
		})
	}
	for _, tc := range []struct {
		name string
		at   int
	}{{"fail/source-breaks-in-part-two", 7 << 20}, {"fail/source-breaks-at-once", 0}, {"fail/source-breaks-in-part-one", 100}} {
		t.Run(tc.name, func(t *testing.T) {
			c, bucket := lockedBucket(t)
			st, err := s3store.New(c, s3store.Config{Bucket: bucket, Retention: time.Hour, PartSize: s3store.MinPartSize})
			if err != nil {
				t.Fatal(err)
			}
			boom := errors.New("signing failed")
			_, _, err = st.Upload(t.Context(), "packs/p.tar.gz", &failAfter{r: bytes.NewReader(data), n: tc.at, err: boom})
			if !errors.Is(err, boom) {
				t.Fatalf("Upload = %v, want the source's error", err)
			}
			if v, u := leftovers(t, c, bucket); v != 0 || u != 0 {
				t.Fatalf("aborted upload left %d versions and %d multipart uploads", v, u)
			}
		})
	}
	t.Run("fail/config", func(t *testing.T) {
		c := emutest.S3ForTest(t)
		for _, cfg := range []s3store.Config{{}, {Bucket: "b", PartSize: 1 << 20}, {Bucket: "b", Retention: -time.Second}} {
			if _, err := s3store.New(c, cfg); !errors.Is(err, s3store.ErrConfig) {
				t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
			}
		}
	})
}
