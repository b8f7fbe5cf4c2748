// Package verdict makes the error a format's Verify returns when none of a
// subject's candidate signatures passes. cosign, notation and sigstore
// bundles share it so that they agree on the rules: the most telling
// failure is the verdict; a candidate that cannot be read through its own
// fault (registry.IsContentFault: gone, over the size limit, altered) is
// judged like any other and named in the error; and one that cannot be read
// because the registry failed leaves the subject unchecked, since it may be
// the valid signature, so the error is then no verdict at all.
//
// It is not part of package signature because it joins registry errors
// (registry.JoinErrors), and signature is linked, through policy, into the
// BuildKit frontend, which needs no registry client.
//
// Imports: signature, registry.
package verdict

import (
	"fmt"
	"strings"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
)

// Tally gathers what a Verify learnt of the candidates it examined, in
// listing order, and makes its error. It knows nothing of a candidate that
// passes: Verify returns that one at once, without reading the rest, and
// never asks for the error.
type Tally struct {
	// Subject and Format go into the *signature.VerifyError.
	Subject signature.Subject
	Format  string
	// Noun names one candidate in messages: "layer", "signature",
	// "referrer". An s makes the plural.
	Noun string
	// Checking is what an unchecked subject's error says was being
	// checked: "sha256-<hex>.sig in <repo>", "notation signatures of
	// <subject>".
	Checking string
	// Listed is how many candidates the subject has; Examined how many of
	// them, the first, Verify looked at: fewer when it bounds the work.
	Listed, Examined int
	// Classify gives a verdict's reason and rank; the verdict of highest
	// rank, the first among equals, is reported, as the most telling.
	Classify func(error) (signature.Reason, int)
	// Unsigned is the verdict when no candidate yields one: there is none.
	Unsigned error

	best   error
	reason signature.Reason
	rank   int
	bestAt int
	faults []fault
	unread []error
}

// fault is a candidate that could not be read through its own fault; at is
// its place in the listing.
type fault struct {
	at  int
	err error
}

// Reject records the verdict on the candidate at: err, why it does not
// pass.
func (t *Tally) Reject(at int, err error) {
	if reason, rank := t.Classify(err); t.best == nil || rank > t.rank {
		t.best, t.reason, t.rank, t.bestAt = err, reason, rank, at
	}
}

// Fault records that the candidate at could not be read through its own
// fault, err being the read's error. The caller judges it too (Reject, with
// what the fault makes of it: malformed, tampered); the error names err
// unless that verdict is the one reported, which names it already.
func (t *Tally) Fault(at int, err error) {
	t.faults = append(t.faults, fault{at: at, err: err})
}

// Unread records a candidate that could not be read for a reason that says
// nothing about it (the registry failing, access refused): err.
func (t *Tally) Unread(err error) {
	t.unread = append(t.unread, err)
}

// Err is Verify's error when no candidate passed. With an unread
// candidate it is not a *signature.VerifyError, so that a registry outage
// is not taken for an unsigned or untrusted subject: it wraps the read
// errors (registry.JoinErrors, so a temporary one makes it temporary) and
// quotes the best verdict on the others. Otherwise it is a
// *signature.VerifyError wrapping the best verdict, or Unsigned.
func (t *Tally) Err() error {
	var others []string // faults that the reported verdict does not name
	for _, f := range t.faults {
		if t.best == nil || f.at != t.bestAt {
			others = append(others, f.err.Error())
		}
	}
	if len(t.unread) > 0 {
		among := fmt.Sprintf("its %d %ss", t.Examined, t.Noun)
		if t.Examined < t.Listed {
			among = fmt.Sprintf("the %d examined", t.Examined)
		}
		err := fmt.Errorf("checking %s: could not read %d of %s: %w",
			t.Checking, len(t.unread)+len(t.faults), among, registry.JoinErrors(t.unread))
		if len(others) > 0 {
			err = fmt.Errorf("%w; %s", err, strings.Join(others, "; "))
		}
		if t.best != nil {
			// %v, not %w: the verdict on the others must not make this
			// error pass for one (signature.ErrMismatch and the like).
			err = fmt.Errorf("%w; of the other %ss none verifies: %v", err, t.Noun, t.best)
		}
		return err
	}
	err, reason := t.best, t.reason
	if err == nil {
		err, reason = t.Unsigned, signature.ReasonUnsigned
	}
	if len(others) > 0 {
		err = fmt.Errorf("%w; could not read %d other %s(s): %s", err, len(others), t.Noun, strings.Join(others, "; "))
	}
	if t.Examined < t.Listed {
		err = fmt.Errorf("%w (examined the first %d of %d %ss)", err, t.Examined, t.Listed, t.Noun)
	}
	return &signature.VerifyError{Subject: t.Subject, Format: t.Format, Reason: reason, Err: err}
}
