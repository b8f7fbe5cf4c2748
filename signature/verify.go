package signature

import (
	"errors"
	"fmt"
)

// Reason classifies why a subject failed verification, so reports and
// policies can tell "nobody signed this" from "someone tampered with it".
type Reason string

// Reasons a verification fails.
const (
	// ReasonUnsigned: no signature in the format at all.
	ReasonUnsigned Reason = "unsigned"
	// ReasonUntrustedKey: signatures exist, but none by a trusted key.
	ReasonUntrustedKey Reason = "untrusted-key"
	// ReasonTampered: a signature's payload or envelope does not match what
	// was signed.
	ReasonTampered Reason = "tampered"
	// ReasonWrongSubject: a valid signature vouches for another manifest
	// (copied from elsewhere).
	ReasonWrongSubject Reason = "wrong-subject"
	// ReasonMalformed: the signature cannot be decoded.
	ReasonMalformed Reason = "malformed"
	// ReasonUntrustedCert: a certificate chain fails trust policy (untrusted
	// root, expiry, usage, identity, revocation).
	ReasonUntrustedCert Reason = "untrusted-certificate"
	// ReasonMissingAttestation: a required attestation type is absent.
	ReasonMissingAttestation Reason = "missing-attestation"
	// ReasonRevoked: the only valid signatures are by revoked keys.
	ReasonRevoked Reason = "revoked"
)

// VerifyError is a verification failure for one subject in one format.
type VerifyError struct {
	Subject Subject
	Format  string
	Reason  Reason
	Err     error
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("%s: %s %s: %v", e.Subject.Name(), e.Format, e.Reason, e.Err)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// ReasonOf returns the reason of the first VerifyError in err's chain, or ""
// when err is not a verification failure (a registry error, say).
func ReasonOf(err error) Reason {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return ""
}
