package verify

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Text renders the report as verify.py prints it: each check's lines in
// order and, on failure, a closing count of problems.
func (r *Report) Text() string {
	var b strings.Builder
	n := 0
	for _, ch := range r.Checks {
		for _, l := range ch.Lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
		n += len(ch.Problems)
	}
	if !r.OK {
		s := "s"
		if n == 1 {
			s = ""
		}
		fmt.Fprintf(&b, "%s Verification FAILED: %d problem%s\n", markFail, n, s)
	}
	return b.String()
}

var checkNames = []string{"archive", "signature", "fingerprint", "manifest", "files", "inputs_hash", "key_lineage", "period", "tenant"}

// transparencyCheckNames follow checkNames in --json when the transparency
// checks ran (SPEC 10).
var transparencyCheckNames = []string{"log", "witnesses", "key_history"}

type jsonCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

type jsonReport struct {
	OK           bool        `json:"ok"`
	Pack         string      `json:"pack"`
	Ed25519      string      `json:"ed25519"`
	Fingerprint  *string     `json:"fingerprint"`
	Checks       []jsonCheck `json:"checks"`
	Problems     []Problem   `json:"problems"`
	Warnings     []string    `json:"warnings"`
	PackID       *string     `json:"pack_id"`
	TenantID     *string     `json:"tenant_id"`
	PeriodStart  *string     `json:"period_start"`
	PeriodEnd    *string     `json:"period_end"`
	GeneratedAt  *string     `json:"generated_at"`
	SigningKeyID *string     `json:"signing_key_id"`
}

// JSON renders the report as verify.py --json does (with "ed25519": "go").
func (r *Report) JSON() ([]byte, error) {
	out := jsonReport{OK: r.OK, Pack: r.Target, Ed25519: "go", Problems: []Problem{}, Warnings: []string{}}
	if r.Fingerprint != "" {
		out.Fingerprint = &r.Fingerprint
	}
	byName := map[string]Check{}
	for _, ch := range r.Checks {
		byName[ch.Name] = ch
		out.Problems = append(out.Problems, ch.Problems...)
		out.Warnings = append(out.Warnings, ch.Warnings...)
	}
	for _, n := range checkNames {
		ch, ok := byName[n]
		if !ok {
			out.Checks = append(out.Checks, jsonCheck{Name: n, Detail: "not checked"})
			continue
		}
		out.Checks = append(out.Checks, jsonCheck{Name: n, OK: ch.OK, Detail: ch.Detail})
	}
	for _, n := range transparencyCheckNames {
		if ch, ok := byName[n]; ok {
			out.Checks = append(out.Checks, jsonCheck{Name: n, OK: ch.OK, Detail: ch.Detail})
		}
	}
	if m := r.Manifest; m != nil {
		out.PackID, out.TenantID, out.SigningKeyID = &m.PackID, &m.TenantID, &m.SigningKeyID
		out.PeriodStart, out.PeriodEnd, out.GeneratedAt = &m.PeriodStart, &m.PeriodEnd, &m.GeneratedAt
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("verify: render json: %w", err)
	}
	return append(b, '\n'), nil
}
