package attest

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
	"github.com/signet-project/signet/signature/cosign"
	"github.com/signet-project/signet/signature/dsse"
)

// FormatName is the format VerifyErrors from this package name.
const FormatName = "attestation"

// Verifier checks attestations in cosign's .att format as cosign
// verify-attestation does: the envelope's payload type is in-toto, a
// signature verifies with a trusted key (whatever its keyid), a subject
// carries the manifest's digest, and the predicate type is the one asked
// for.
type Verifier struct {
	store *cosign.Store
	trust signature.Trust
}

// NewVerifier returns a verifier reading from store and trusting trust
// (signature.KeyTrust for a single public key).
func NewVerifier(store *cosign.Store, trust signature.Trust) *Verifier {
	return &Verifier{store: store, trust: trust}
}

// Verify returns every statement of predicateType stored for s that passes
// the checks above and meets every requirement, oldest first. When none
// does, the error is a *signature.VerifyError saying why, from the most
// telling failure among the attestations of that type: one copied from
// another manifest, then a tampered one, then one by an untrusted key, then
// an unreadable one; with none of that type at all, which types there are.
// Other errors (the registry failing) mean s could not be checked.
func (v *Verifier) Verify(ctx context.Context, s signature.Subject, predicateType string, require ...Requirement) ([]*Statement, error) {
	fail := func(r signature.Reason, err error) ([]*Statement, error) {
		return nil, &signature.VerifyError{Subject: s, Format: FormatName, Reason: r, Err: err}
	}
	tag := cosign.Tag(s.Digest, cosign.AttestationSuffix)
	results, found, err := v.check(ctx, s)
	if err != nil {
		return nil, err
	}
	if !found {
		return fail(signature.ReasonMissingAttestation, fmt.Errorf("no attestation of type %s: tag %s does not exist", predicateType, tag))
	}
	var (
		good       []*Statement
		otherTypes = map[string]bool{}
		best       error
		bestRank   = -1
		unmet      error
	)
	for _, r := range results {
		if r.err != nil {
			// A layer that fails says nothing trustworthy about its type;
			// the annotation and the unverified statement are hints used
			// only to decide whether its failure is the one to report.
			if t := layerType(r.layer); t == "" || t == predicateType {
				if rk := rank(r.err); rk > bestRank {
					best, bestRank = r.err, rk
				}
			}
			continue
		}
		if r.st.PredicateType != predicateType {
			otherTypes[r.st.PredicateType] = true
			continue
		}
		if err := checkAll(r.st, require); err != nil {
			if unmet == nil {
				unmet = fmt.Errorf("layer %s: %w", r.layer.Digest, err)
			}
			continue
		}
		good = append(good, r.st)
	}
	switch {
	case len(good) > 0:
		return good, nil
	case unmet != nil:
		return fail(signature.ReasonMissingAttestation, fmt.Errorf("no %s attestation meets the requirements: %w", predicateType, unmet))
	case best != nil:
		return fail(reasonOf(best), best)
	case len(results) == 0:
		return fail(signature.ReasonMissingAttestation, fmt.Errorf("no attestation of type %s: %s holds no DSSE envelopes", predicateType, tag))
	}
	return fail(signature.ReasonMissingAttestation, fmt.Errorf("no attestation of type %s (found: %s)", predicateType, strings.Join(sortedKeys(otherTypes), ", ")))
}

// VerifiedTypes returns the predicate types of the attestations stored for
// s that verify (trusted signature, about s), sorted: the evidence a trust
// policy's require.attestations is checked against. No attestations at all
// is an empty list, not an error; errors mean s could not be checked.
func (v *Verifier) VerifiedTypes(ctx context.Context, s signature.Subject) ([]string, error) {
	results, _, err := v.check(ctx, s)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, r := range results {
		if r.err == nil {
			set[r.st.PredicateType] = true
		}
	}
	return sortedKeys(set), nil
}

// layerResult is the verdict on one DSSE layer.
type layerResult struct {
	layer *cosign.Layer
	st    *Statement
	err   error
}

// check reads s's .att and verifies each DSSE layer. found is false when
// the tag does not exist or is empty.
func (v *Verifier) check(ctx context.Context, s signature.Subject) (results []layerResult, found bool, err error) {
	att, err := v.store.Fetch(ctx, s.Repo, s.Digest, cosign.AttestationSuffix)
	if err != nil {
		return nil, false, err
	}
	if att == nil || len(att.Layers) == 0 {
		return nil, false, nil
	}
	for i := range att.Layers {
		l := &att.Layers[i]
		if l.MediaType != cosign.DSSEMediaType {
			continue
		}
		st, err := v.verifyLayer(ctx, s, l)
		var ce *checkError
		if errors.As(err, &ce) {
			return nil, true, ce.err
		}
		results = append(results, layerResult{layer: l, st: st, err: err})
	}
	return results, true, nil
}

// checkError is a failure to check a layer at all (the registry failing
// while its blob is read), as opposed to a verdict about it.
type checkError struct{ err error }

func (e *checkError) Error() string { return e.err.Error() }

// verifyLayer reads and checks one layer with every trusted key, then with
// the certificate it carries when trust accepts its chain (keys come first,
// as with cosign verify-attestation --key). A blob that is missing, too
// large or not what its digest says is that layer's failure; any other
// read error is a *checkError.
func (v *Verifier) verifyLayer(ctx context.Context, s signature.Subject, l *cosign.Layer) (*Statement, error) {
	if err := v.store.FetchPayload(ctx, s.Repo, l); err != nil {
		switch {
		case errors.Is(err, registry.ErrDigestMismatch):
			return nil, fmt.Errorf("layer %s: %w: %w", l.Digest, errTampered, err)
		case registry.IsNotFound(err), errors.Is(err, registry.ErrTooLarge):
			return nil, fmt.Errorf("layer %s: %w: %w", l.Digest, errMalformed, err)
		}
		return nil, &checkError{err}
	}
	st, err := checkLayer(l, v.trust.Keys(), s.Digest)
	if err == nil || !errors.Is(err, errUntrusted) {
		return st, err
	}
	certPEM := l.Annotations[cosign.CertificateAnnotation]
	if certPEM == "" {
		return nil, err
	}
	// The leaf annotation, then the chain annotation: leaf first. The
	// newline keeps a leaf annotation without a final one from running
	// into the chain's first block.
	chain, cerr := certs.ParsePEM([]byte(certPEM + "\n" + l.Annotations[cosign.ChainAnnotation]))
	if cerr != nil {
		return nil, fmt.Errorf("layer %s: %w: certificate annotations: %w", l.Digest, errMalformed, cerr)
	}
	// Without a transparency log or timestamp the format records no
	// signing time, so the chain must be valid now.
	if terr := v.trust.Chain(chain, time.Now()); terr != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Digest, terr)
	}
	return checkLayer(l, []crypto.PublicKey{chain[0].PublicKey}, s.Digest)
}

var (
	errTampered     = errors.New("tampered attestation (its blob no longer matches the layer digest)")
	errOtherSubject = errors.New("attestation copied from another manifest")
	errMalformed    = errors.New("malformed attestation")
	errUntrusted    = errors.New("no signature verifies with a trusted key (signed by another key, or changed after signing)")
)

// checkLayer verifies a fetched .att layer with keys and returns its
// statement. Errors wrap errTampered, errOtherSubject, errMalformed,
// dsse.ErrNoSignatures or errUntrusted.
func checkLayer(l *cosign.Layer, keys []crypto.PublicKey, digest v1.Hash) (*Statement, error) {
	if got := cosign.NewLayer(l.MediaType, l.Payload, nil).Digest; got != l.Digest {
		return nil, fmt.Errorf("layer %s: envelope blob hashes to %s: %w", l.Digest, got, errTampered)
	}
	env, err := dsse.Parse(l.Payload)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w: %w", l.Digest, errMalformed, err)
	}
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("layer %s: %w: payload type %q, want %q", l.Digest, errMalformed, env.PayloadType, PayloadType)
	}
	payload, err := env.Verify(keys)
	switch {
	case errors.Is(err, dsse.ErrNoSignatures):
		return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
	case errors.Is(err, signature.ErrMismatch):
		// The key did not sign these bytes: another key did, or the
		// envelope was rewritten after signing. DSSE cannot tell which.
		if err == signature.ErrMismatch {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, errUntrusted)
		}
		return nil, fmt.Errorf("layer %s: %w: %w", l.Digest, errUntrusted, err)
	case err != nil:
		return nil, fmt.Errorf("layer %s: %w: %w", l.Digest, errMalformed, err)
	}
	st, err := ParseStatement(payload)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w: %w", l.Digest, errMalformed, err)
	}
	if !st.About(digest) {
		return nil, fmt.Errorf("layer %s: signed statement is about %s, not %s: %w", l.Digest, strings.Join(st.subjects(), ", "), digest, errOtherSubject)
	}
	return st, nil
}

// layerType guesses a layer's predicate type before it is verified: the
// annotation, else the statement inside the envelope.
func layerType(l *cosign.Layer) string {
	if t := l.Annotations[cosign.PredicateTypeAnnotation]; t != "" {
		return t
	}
	env, err := dsse.Parse(l.Payload)
	if err != nil {
		return ""
	}
	p, err := env.DecodedPayload()
	if err != nil {
		return ""
	}
	st, err := ParseStatement(p)
	if err != nil {
		return ""
	}
	return st.PredicateType
}

// rank orders failures by how much they tell a user.
func rank(err error) int {
	switch reasonOf(err) {
	case signature.ReasonWrongSubject:
		return 5
	case signature.ReasonTampered:
		return 4
	case signature.ReasonUntrustedCert:
		return 3
	case signature.ReasonUntrustedKey:
		return 2
	case signature.ReasonUnsigned:
		return 1
	}
	return 0
}

func reasonOf(err error) signature.Reason {
	switch {
	case errors.Is(err, errOtherSubject):
		return signature.ReasonWrongSubject
	case errors.Is(err, errTampered):
		return signature.ReasonTampered
	case errors.Is(err, signature.ErrUntrustedChain):
		return signature.ReasonUntrustedCert
	case errors.Is(err, dsse.ErrNoSignatures):
		return signature.ReasonUnsigned
	case errors.Is(err, errUntrusted), errors.Is(err, signature.ErrMismatch):
		return signature.ReasonUntrustedKey
	}
	return signature.ReasonMalformed
}
