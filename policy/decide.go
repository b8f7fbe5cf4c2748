package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/signet-project/signet/signature"
)

// Finding is what verifying one format found for one manifest.
type Finding struct {
	// Format is the format's name ("cosign", "notation", …).
	Format string
	// Err is nil when a signature in Format verified against the rule;
	// otherwise why not, normally a *signature.VerifyError.
	Err error
}

// Evidence is everything verification found about one manifest.
type Evidence struct {
	Subject signature.Subject
	// Findings holds one entry per format checked.
	Findings []Finding
	// Attestations are the predicate types of the subject's attestations
	// whose signatures verified against the rule.
	Attestations []string
}

// Status summarises a verdict.
type Status string

// Statuses, from best to worst.
const (
	// StatusVerified: no violation.
	StatusVerified Status = "verified"
	// StatusAudited: violations under level audit; allowed, recorded.
	StatusAudited Status = "audited"
	// StatusWarned: violations under level warn; allowed with warnings.
	StatusWarned Status = "warned"
	// StatusBlocked: violations under level enforce; not allowed.
	StatusBlocked Status = "blocked"
)

func (s Status) severity() int {
	switch s {
	case StatusBlocked:
		return 3
	case StatusWarned:
		return 2
	case StatusAudited:
		return 1
	}
	return 0
}

// Worst returns the worst status of verdicts (StatusVerified when there are
// none): an image is blocked when any of its manifests is.
func Worst(verdicts []Verdict) Status {
	worst := StatusVerified
	for _, v := range verdicts {
		if v.Status.severity() > worst.severity() {
			worst = v.Status
		}
	}
	return worst
}

// ReasonNotChecked classifies a finding whose error is not a verification
// failure (a registry that could not be reached, say): the manifest could
// not be checked, which a policy counts as not verified.
const ReasonNotChecked signature.Reason = "not-checked"

// Violation is one way a manifest falls short of its trust rule.
type Violation struct {
	// Format is the format concerned; "" for a missing attestation.
	Format string
	Reason signature.Reason
	// Revoked is true when a revoked key or certificate made the signature.
	Revoked bool
	Err     error
}

func (v Violation) String() string {
	reason := string(v.Reason)
	if v.Revoked {
		reason = "revoked"
	}
	msg := ""
	if v.Err != nil {
		msg = ": " + v.Err.Error()
	}
	if v.Format == "" {
		return reason + msg
	}
	return v.Format + ": " + reason + msg
}

// Verdict is what a trust rule decides about one manifest.
type Verdict struct {
	Subject signature.Subject
	// Scope is the trust rule that decided.
	Scope *Scope
	Level Level
	// Status follows from Level and whether there are Violations.
	Status Status
	// Verified lists the formats with a trusted signature.
	Verified []string
	// Violations break the rule; under enforce any one blocks.
	Violations []Violation
	// Notes are observations that break nothing: a bad signature in a
	// format the rule does not require, next to a good one in another.
	Notes []string
}

// Allowed reports whether the manifest may be used.
func (v Verdict) Allowed() bool { return v.Status != StatusBlocked }

// Blocked reports whether the rule blocks the manifest.
func (v Verdict) Blocked() bool { return v.Status == StatusBlocked }

// Warnings returns what to print as warnings: the violations under level
// warn, nothing otherwise (enforce reports them as failures, audit only
// records them).
func (v Verdict) Warnings() []string {
	if v.Status != StatusWarned {
		return nil
	}
	out := make([]string, len(v.Violations))
	for i, vi := range v.Violations {
		out[i] = vi.String()
	}
	return out
}

func (v Verdict) String() string {
	rule := "no rule"
	if v.Scope != nil {
		rule = fmt.Sprintf("rule %q (%s)", v.Scope.Name, v.Level)
	}
	if len(v.Violations) == 0 {
		return fmt.Sprintf("%s by %s: %s", v.Status, rule, strings.Join(v.Verified, ", "))
	}
	parts := make([]string, len(v.Violations))
	for i, vi := range v.Violations {
		parts[i] = vi.String()
	}
	return fmt.Sprintf("%s by %s: %s", v.Status, rule, strings.Join(parts, "; "))
}

// Decide applies the rule to what verification found for one manifest
// (an index and each of its children are decided separately).
//
// Without require.formats, one trusted signature in any format satisfies
// the rule; when none verifies, every format's failure is a violation.
// With require.formats, each listed format must carry a trusted
// signature, and its failure is a violation; failures in other formats are
// only notes (unsigned ones are not even that). Every type in
// require.attestations must be among ev.Attestations. Under enforce any
// violation blocks; under warn and audit the manifest is allowed.
func (s *Scope) Decide(ev Evidence) Verdict {
	v := Verdict{Subject: ev.Subject, Scope: s, Level: s.Level}
	verified := map[string]bool{}
	for _, f := range ev.Findings {
		if f.Err == nil && !verified[f.Format] {
			verified[f.Format] = true
			v.Verified = append(v.Verified, f.Format)
		}
	}
	failures := func(format string) []Violation {
		var out []Violation
		for _, f := range ev.Findings {
			if f.Format == format && f.Err != nil {
				out = append(out, violationOf(f))
			}
		}
		return out
	}
	note := func(f Finding) {
		vi := violationOf(f)
		if vi.Reason != signature.ReasonUnsigned {
			v.Notes = append(v.Notes, vi.String())
		}
	}
	if len(s.RequiredFormats) > 0 {
		for _, rf := range s.RequiredFormats {
			if verified[rf] {
				continue
			}
			if fs := failures(rf); len(fs) > 0 {
				v.Violations = append(v.Violations, fs...)
			} else {
				v.Violations = append(v.Violations, Violation{Format: rf, Reason: signature.ReasonUnsigned,
					Err: fmt.Errorf("rule %q requires a %s signature and none was checked", s.Name, rf)})
			}
		}
		for _, f := range ev.Findings {
			if f.Err != nil && !verified[f.Format] && !slices.Contains(s.RequiredFormats, f.Format) {
				note(f)
			}
		}
	} else if len(v.Verified) == 0 {
		for _, f := range ev.Findings {
			if f.Err != nil {
				v.Violations = append(v.Violations, violationOf(f))
			}
		}
		if len(v.Violations) == 0 {
			v.Violations = append(v.Violations, Violation{Reason: signature.ReasonUnsigned,
				Err: errors.New("no signature was checked in any format")})
		}
	} else {
		for _, f := range ev.Findings {
			if f.Err != nil && !verified[f.Format] {
				note(f)
			}
		}
	}
	for _, want := range s.RequiredAttestations {
		if !slices.Contains(ev.Attestations, want) {
			v.Violations = append(v.Violations, Violation{Reason: signature.ReasonMissingAttestation,
				Err: fmt.Errorf("no attestation of type %q signed by a trusted signer", want)})
		}
	}
	switch {
	case len(v.Violations) == 0:
		v.Status = StatusVerified
	case s.Level == LevelEnforce:
		v.Status = StatusBlocked
	case s.Level == LevelWarn:
		v.Status = StatusWarned
	default:
		v.Status = StatusAudited
	}
	return v
}

// violationOf classifies a failed finding, keeping the inner error of a
// *signature.VerifyError so the reference is not repeated.
func violationOf(f Finding) Violation {
	vi := Violation{Format: f.Format, Err: f.Err, Revoked: errors.Is(f.Err, ErrRevoked)}
	var ve *signature.VerifyError
	switch {
	case errors.As(f.Err, &ve):
		vi.Reason = ve.Reason
		if ve.Err != nil {
			vi.Err = ve.Err
		}
		if vi.Format == "" {
			vi.Format = ve.Format
		}
	case errors.Is(f.Err, signature.ErrUntrustedChain):
		vi.Reason = signature.ReasonUntrustedCert
	case errors.Is(f.Err, signature.ErrMismatch):
		vi.Reason = signature.ReasonTampered
	default:
		vi.Reason = ReasonNotChecked
	}
	return vi
}
