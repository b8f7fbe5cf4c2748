package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/signature"
)

func testSubject(t *testing.T, platform string) signature.Subject {
	t.Helper()
	repo, err := name.NewRepository("127.0.0.1:5000/prod/app")
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash("sha256:" + strings.Repeat("a", 64))
	if err != nil {
		t.Fatal(err)
	}
	return signature.Subject{Repo: repo, Digest: h, Identity: "127.0.0.1:5000/prod/app:v1", Platform: platform}
}

// scopeAt returns f's trust rule with another level and requirements.
func scopeAt(f *chainFixture, level Level, formats, attestations []string) *Scope {
	s := *f.scope
	s.Level, s.RequiredFormats, s.RequiredAttestations = level, formats, attestations
	return &s
}

func TestDecideFailures(t *testing.T) {
	f := newChainFixture(t)
	subject := testSubject(t, "")
	child := testSubject(t, "linux/arm64")
	chainFinding := func(leaf string) Finding {
		err := f.scope.Chain(f.pki.chain(f.leaves[leaf]), time.Time{})
		if err == nil {
			t.Fatalf("Chain(%s) = nil", leaf)
		}
		return Finding{Format: "notation", Err: &signature.VerifyError{Subject: subject, Format: "notation", Reason: signature.ReasonUntrustedCert, Err: err}}
	}
	verr := func(reason signature.Reason, err error) Finding {
		return Finding{Format: "cosign", Err: &signature.VerifyError{Subject: subject, Format: "cosign", Reason: reason, Err: err}}
	}
	untrustedCA := f.scope.Chain(f.evil.chain(f.evil.leaf), time.Time{})
	failures := []struct {
		name    string
		subject signature.Subject
		finding Finding
		reason  string // how the violation reads
	}{
		{"untrusted CA", subject, Finding{Format: "notation", Err: &signature.VerifyError{Subject: subject, Format: "notation",
			Reason: signature.ReasonUntrustedCert, Err: untrustedCA}}, "notation: untrusted-certificate: certificate chain not trusted"},
		{"expired leaf", subject, chainFinding("expired"), "expired at verification time"},
		{"wrong EKU", subject, chainFinding("server"), "lacks codeSigning"},
		{"wrong identity", subject, chainFinding("intruder"), `identity "CN=intruder`},
		{"revoked certificate", subject, chainFinding("leaked"), "notation: revoked: "},
		{"revoked key", subject, verr(signature.ReasonUntrustedKey, fmt.Errorf("signed by key sha256:ab…: %w", ErrRevoked)), "cosign: revoked: signed by key"},
		{"unsigned child", child, verr(signature.ReasonUnsigned, errors.New("no signature")), "cosign: unsigned: no signature"},
		{"signature for another digest", subject, verr(signature.ReasonWrongSubject, errors.New("signature vouches for sha256:bbbb")), "cosign: wrong-subject"},
		{"registry unreachable", subject, Finding{Format: "cosign", Err: errors.New("dial tcp: connection refused")}, "cosign: not-checked"},
	}
	levels := []struct {
		level    Level
		status   Status
		allowed  bool
		warnings bool
	}{
		{LevelEnforce, StatusBlocked, false, false},
		{LevelWarn, StatusWarned, true, true},
		{LevelAudit, StatusAudited, true, false},
	}
	for _, fl := range failures {
		for _, lv := range levels {
			t.Run(fmt.Sprintf("%s/%s", fl.name, lv.level), func(t *testing.T) {
				s := scopeAt(f, lv.level, nil, nil)
				v := s.Decide(Evidence{Subject: fl.subject, Findings: []Finding{fl.finding}})
				if v.Status != lv.status || v.Allowed() != lv.allowed || v.Blocked() == lv.allowed {
					t.Errorf("Decide() status %s allowed %v; want %s %v", v.Status, v.Allowed(), lv.status, lv.allowed)
				}
				if len(v.Violations) != 1 || !strings.Contains(v.Violations[0].String(), fl.reason) {
					t.Errorf("Decide() violations = %v; want one containing %q", v.Violations, fl.reason)
				}
				if got := len(v.Warnings()) > 0; got != lv.warnings {
					t.Errorf("Warnings() = %v; want warnings: %v", v.Warnings(), lv.warnings)
				}
				if v.Subject.Platform != fl.subject.Platform || v.Scope != s {
					t.Errorf("Decide() subject/scope not carried through")
				}
			})
		}
	}
}

func TestDecideRequirements(t *testing.T) {
	f := newChainFixture(t)
	subject := testSubject(t, "")
	ok := func(format string) Finding { return Finding{Format: format} }
	fail := func(format string, reason signature.Reason) Finding {
		return Finding{Format: format, Err: &signature.VerifyError{Subject: subject, Format: format, Reason: reason, Err: errors.New(string(reason))}}
	}
	const slsa = "https://slsa.dev/provenance/v1"
	tests := []struct {
		name         string
		formats      []string
		attestations []string
		findings     []Finding
		found        []string
		status       Status
		violations   []string
		notes        []string
	}{
		{name: "one format verified", findings: []Finding{ok("cosign")}, status: StatusVerified},
		{name: "any format suffices", findings: []Finding{fail("cosign", signature.ReasonUnsigned), ok("notation")}, status: StatusVerified},
		{name: "bad signature next to a good one is a note", findings: []Finding{ok("cosign"), fail("notation", signature.ReasonWrongSubject)},
			status: StatusVerified, notes: []string{"notation: wrong-subject"}},
		{name: "nothing verified: every failure counts",
			findings: []Finding{fail("cosign", signature.ReasonUnsigned), fail("notation", signature.ReasonUntrustedKey)},
			status:   StatusBlocked, violations: []string{"cosign: unsigned", "notation: untrusted-key"}},
		{name: "no findings at all", status: StatusBlocked, violations: []string{"unsigned: no signature was checked"}},
		{name: "required formats all present", formats: []string{"cosign", "notation"}, findings: []Finding{ok("cosign"), ok("notation")},
			status: StatusVerified},
		{name: "required format failed", formats: []string{"cosign", "notation"},
			findings: []Finding{ok("cosign"), fail("notation", signature.ReasonUnsigned)},
			status:   StatusBlocked, violations: []string{"notation: unsigned"}},
		{name: "required format not checked", formats: []string{"cosign", "notation"}, findings: []Finding{ok("cosign")},
			status: StatusBlocked, violations: []string{`notation: unsigned: rule "prod" requires a notation signature and none was checked`}},
		{name: "unrequired format failure is a note", formats: []string{"cosign"},
			findings: []Finding{ok("cosign"), fail("notation", signature.ReasonTampered), fail("sigstore-bundle", signature.ReasonUnsigned)},
			status:   StatusVerified, notes: []string{"notation: tampered"}},
		{name: "required attestation present", attestations: []string{slsa}, findings: []Finding{ok("cosign")}, found: []string{slsa},
			status: StatusVerified},
		{name: "required attestation missing", attestations: []string{slsa}, findings: []Finding{ok("cosign")},
			found:  []string{"https://spdx.dev/Document"},
			status: StatusBlocked, violations: []string{`missing-attestation: no attestation of type "` + slsa + `"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := scopeAt(f, LevelEnforce, tt.formats, tt.attestations).Decide(Evidence{Subject: subject, Findings: tt.findings, Attestations: tt.found})
			if v.Status != tt.status {
				t.Errorf("Decide() = %s; want %s", v, tt.status)
			}
			if len(v.Violations) != len(tt.violations) {
				t.Fatalf("Decide() violations = %v; want %q", v.Violations, tt.violations)
			}
			for i, want := range tt.violations {
				if !strings.HasPrefix(v.Violations[i].String(), want) {
					t.Errorf("violation %d = %q; want prefix %q", i, v.Violations[i], want)
				}
			}
			if len(v.Notes) != len(tt.notes) {
				t.Fatalf("Decide() notes = %q; want %q", v.Notes, tt.notes)
			}
			for i, want := range tt.notes {
				if !strings.HasPrefix(v.Notes[i], want) {
					t.Errorf("note %d = %q; want prefix %q", i, v.Notes[i], want)
				}
			}
		})
	}
}

func TestWorst(t *testing.T) {
	vs := []Verdict{{Status: StatusVerified}, {Status: StatusAudited}, {Status: StatusWarned}}
	if got := Worst(vs); got != StatusWarned {
		t.Errorf("Worst() = %s; want warned", got)
	}
	if got := Worst(append(vs, Verdict{Status: StatusBlocked})); got != StatusBlocked {
		t.Errorf("Worst() = %s; want blocked", got)
	}
	if got := Worst(nil); got != StatusVerified {
		t.Errorf("Worst(nil) = %s; want verified", got)
	}
	v := Verdict{Status: StatusBlocked, Scope: &Scope{Name: "prod"}, Level: LevelEnforce,
		Violations: []Violation{{Format: "cosign", Reason: signature.ReasonUnsigned, Err: errors.New("no signature")}}}
	if got, want := v.String(), `blocked by rule "prod" (enforce): cosign: unsigned: no signature`; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	if !slices.Equal(Verdict{Status: StatusWarned, Violations: v.Violations}.Warnings(), []string{"cosign: unsigned: no signature"}) {
		t.Error("Warnings() under warn does not list the violation")
	}
}
