package verify_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/verify"
)

// buildFrom builds March's pack from data through the pack builder, as the
// hub would from a store holding data.
func buildFrom(t *testing.T, data packtest.Data) []byte {
	t.Helper()
	meta, signer, _ := packtest.March()
	var out bytes.Buffer
	if _, err := pack.Build(context.Background(), meta, signer, pack.Options{TempDir: t.TempDir()}, &packtest.Source{Data: data}, &out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func deepText(t *testing.T, tgz []byte, deep bool) (bool, string) {
	t.Helper()
	r, err := verify.VerifyReader(bytes.NewReader(tgz), verify.Options{Deep: deep})
	if err != nil {
		t.Fatal(err)
	}
	return r.OK, r.Text()
}

func TestDeepMarch(t *testing.T) {
	_, _, data := packtest.March()
	ok, text := deepText(t, buildFrom(t, data), true)
	t.Log(text)
	if !ok || !strings.Contains(text, "Provenance:") {
		t.Fatal(text)
	}
}
