package notation

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
	"github.com/signet-project/signet/signature/verdict"
)

// Name is the format's name in results, reports and --format.
const Name = "notation"

// Option configures a Format.
type Option func(*options) error

type options struct {
	agent    string
	expiry   time.Duration
	metadata map[string]string
	now      func() time.Time
}

// WithSigningAgent sets the io.cncf.notary.signingAgent header. Default
// "signet".
func WithSigningAgent(agent string) Option {
	return func(o *options) error { o.agent = agent; return nil }
}

// WithExpiry makes signatures expire d after signing (notation sign
// --expiry). Default: no expiry.
func WithExpiry(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("notation signature expiry must be positive, got %s", d)
		}
		o.expiry = d
		return nil
	}
}

// WithUserMetadata adds annotations to every payload's targetArtifact
// (notation sign --user-metadata). Keys may not start with io.cncf.notary.
func WithUserMetadata(m map[string]string) Option {
	return func(o *options) error {
		for k := range m {
			if strings.HasPrefix(k, reservedPrefix) {
				return fmt.Errorf("notation user metadata key %q uses the reserved prefix %q", k, reservedPrefix)
			}
		}
		o.metadata = m
		return nil
	}
}

// WithClock replaces time.Now for signing times (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.now = now; return nil }
}

// Format signs subjects in the Notary Project format with one key and its
// certificate chain. It is safe for concurrent use.
type Format struct {
	store       *Store
	key         signature.Signer
	chain       []*x509.Certificate
	thumbprints []string
	o           options
}

// NewFormat returns the notation format signing with key, whose certificate
// chain is chain (any order; it is put leaf first). The chain must reach a
// self-signed root, which notation requires in every signature, and pass
// notation's certificate rules now; a bad chain fails here rather than
// once per image.
func NewFormat(reg Registry, key signature.Signer, chain []*x509.Certificate, opts ...Option) (*Format, error) {
	o := options{agent: "signet", now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if key == nil {
		return nil, errors.New("notation format: no signing key")
	}
	if len(chain) == 0 {
		return nil, errors.New("notation format: no certificate chain for the key; notation signatures need one (signet cert issue, then signet cert import, or --cert-chain)")
	}
	ordered, err := certs.Order(chain, key.Public())
	if err != nil {
		return nil, fmt.Errorf("notation format: %w", err)
	}
	if _, err := AlgorithmFor(key.Public()); err != nil {
		return nil, fmt.Errorf("notation format: %w", err)
	}
	if err := certs.ValidateCodeSigningChain(ordered, o.now()); err != nil {
		return nil, fmt.Errorf("notation format: %w", err)
	}
	return &Format{store: NewStore(reg), key: key, chain: ordered, thumbprints: certs.Thumbprints(ordered), o: o}, nil
}

// Name returns "notation".
func (f *Format) Name() string { return Name }

// Chain returns the certificate chain signatures carry, leaf first.
func (f *Format) Chain() []*x509.Certificate { return f.chain }

// Sign signs s and pushes the signature as a referrer of s, unless s
// already has a notation signature with the same certificate chain that
// has not expired (then the result is Skipped and names that signature).
// Each envelope is verified before it is pushed, so a faulty HSM or key
// never publishes a signature that fails verification.
func (f *Format) Sign(ctx context.Context, s signature.Subject) (signature.Result, error) {
	unlock := f.store.refs.Lock(s)
	defer unlock()
	if d, ok, err := f.existing(ctx, s); err != nil {
		return signature.Result{}, err
	} else if ok {
		return signature.Result{Format: Name, Digest: d, Skipped: true}, nil
	}
	payload, err := NewPayload(s, f.o.metadata)
	if err != nil {
		return signature.Result{}, err
	}
	now := f.o.now().Truncate(time.Second).UTC()
	req := SignRequest{Payload: payload, Chain: f.chain, SigningTime: now, SigningAgent: f.o.agent}
	if f.o.expiry > 0 {
		req.Expiry = now.Add(f.o.expiry)
	}
	env, err := sign(ctx, f.key, req, true)
	if err != nil {
		return signature.Result{}, fmt.Errorf("signing %s: %w", s.Name(), err)
	}
	if err := checkGenerated(env, s); err != nil {
		return signature.Result{}, fmt.Errorf("signing %s: generated signature failed verification: %w", s.Name(), err)
	}
	sm, err := NewSignatureManifest(env, s, f.chain, now)
	if err != nil {
		return signature.Result{}, err
	}
	if err := f.store.Push(ctx, s, sm); err != nil {
		return signature.Result{}, err
	}
	return signature.Result{Format: Name, Digest: sm.Descriptor.Digest}, nil
}

// existing finds a notation signature of s that covers the one f would
// push (see covers).
//
// A signature that cannot be checked because the registry failed does not
// stop the others from being checked, as one of them may cover s; but when
// none does, existing fails rather than lets Sign write: the unchecked one
// may be the very signature Sign would repeat, and a failure that persists
// would add one more copy on every run.
func (f *Format) existing(ctx context.Context, s signature.Subject) (v1.Hash, bool, error) {
	ds, err := f.store.List(ctx, s)
	if err != nil {
		return v1.Hash{}, false, err
	}
	now := f.o.now()
	var unchecked []error
	for _, d := range ds {
		ok, err := f.covers(ctx, s, d, now)
		switch {
		case err == nil:
			if ok {
				return d.Digest, true, nil
			}
		case ctx.Err() != nil:
			return v1.Hash{}, false, err
		default:
			unchecked = append(unchecked, err)
		}
	}
	if len(unchecked) > 0 {
		return v1.Hash{}, false, fmt.Errorf("checking %s for an existing notation signature: %d of its %d signatures could not be checked: %w",
			s.Name(), len(unchecked), len(ds), registry.JoinErrors(unchecked))
	}
	return v1.Hash{}, false, nil
}

// covers reports whether signature d of s does what f's would: it names
// f's certificate chain (the thumbprint rule of notation-format.md §3.7)
// and has not expired at now, since an expired signature passes no
// verifier, and counting it would leave s with no valid signature on every
// later run. A signing time still to come does not stop it counting: the
// signing time is the signer's unauthenticated claim, and notation verify
// and signet's Verify accept such a signature, so a signer whose clock ran
// ahead would otherwise add a duplicate on every run until it passed.
//
// The thumbprints come from the listing, so signatures of other chains
// cost nothing. For one of f's chain, the listing gives its expiry if
// signet wrote it (ExpiryAnnotation); otherwise its envelope is read, and
// then checked as notation checks integrity, since it is at hand.
//
// A signature judged from the listing alone is confirmed with one HEAD of
// its manifest before it counts: on a registry without the referrers API a
// signature deleted by digest stays listed in the sha256-<hex> tag index,
// and counting it would keep Sign from pushing the signature that also
// drops it from the index (referrer.Store.Push), leaving s with none that
// notation can fetch.
//
// A signature that cannot be read for a reason of its own (deleted but
// still listed in the tag index, say) covers nothing; an error means d
// could not be checked.
func (f *Format) covers(ctx context.Context, s signature.Subject, d v1.Descriptor, now time.Time) (bool, error) {
	ann, pm, err := f.store.annotations(ctx, s, d)
	switch {
	case err == nil:
	case errors.Is(err, ErrMalformed), registry.IsContentFault(err):
		return false, nil
	default:
		return false, err
	}
	if !slices.Equal(thumbprints(ann), f.thumbprints) {
		return false, nil
	}
	if expiry, ok := validity(ann); ok {
		if !validAt(expiry, now) {
			return false, nil
		}
		if pm != nil {
			return true, nil // its manifest was just read
		}
		err := f.store.present(ctx, s, d)
		switch {
		case err == nil:
			return true, nil
		case registry.IsContentFault(err):
			return false, nil
		default:
			return false, err
		}
	}
	env, err := f.store.envelopeOf(ctx, s, d, pm)
	switch {
	case err == nil:
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrTampered), registry.IsContentFault(err):
		return false, nil
	default:
		return false, err
	}
	e, err := ParseEnvelope(env)
	if err != nil || !slices.Equal(certs.Thumbprints(e.Chain), f.thumbprints) || e.Verify() != nil {
		return false, nil
	}
	if p, err := ParsePayload(e.Payload); err != nil || p.Matches(s) != nil {
		return false, nil
	}
	return validAt(e.Header.Expiry, now), nil
}

// validity reads the expiry (zero for none) signet records in a signature
// manifest's annotations; ok is false when it is not there or not
// readable.
func validity(ann map[string]string) (expiry time.Time, ok bool) {
	exp, found := ann[ExpiryAnnotation]
	if !found {
		return time.Time{}, false
	}
	if exp == NoExpiry {
		return time.Time{}, true
	}
	expiry, err := time.Parse(time.RFC3339, exp)
	if err != nil {
		return time.Time{}, false
	}
	return expiry, true
}

// validAt reports whether a signature expiring at expiry (zero for never)
// is valid at now, by the verifier's rule for expiry. Its signing time
// does not matter (see covers).
func validAt(expiry, now time.Time) bool {
	return expiry.IsZero() || !now.After(expiry)
}

// checkGenerated re-reads an envelope just made and checks what a faulty
// key or HSM could have got wrong: that it decodes, that the signature
// verifies with the chain's leaf key, and that the payload names s. The
// chain's structure was checked by NewFormat and its validity at the
// signing time by sign, so the chain checks are not repeated per signature.
func checkGenerated(env []byte, s signature.Subject) error {
	e, err := ParseEnvelope(env)
	if err != nil {
		return err
	}
	alg, err := AlgorithmFor(e.Chain[0].PublicKey)
	if err != nil {
		return err
	}
	if e.Header.Alg != alg.Name {
		return fmt.Errorf("%w: alg %q, the key signs %s", ErrMalformed, e.Header.Alg, alg.Name)
	}
	if err := e.verifySignature(alg); err != nil {
		return err
	}
	p, err := ParsePayload(e.Payload)
	if err != nil {
		return err
	}
	return p.Matches(s)
}

// DefaultMaxSignatures is how many notation signatures of one subject
// Verify examines at most, notation's own --max-signatures default. Like
// notation, failed signatures count toward it: a subject flooded with bad
// signatures costs bounded work.
const DefaultMaxSignatures = 100

// VerifierOption configures a Verifier.
type VerifierOption func(*Verifier) error

// WithMaxSignatures sets how many signatures per subject are examined.
// Default DefaultMaxSignatures.
func WithMaxSignatures(n int) VerifierOption {
	return func(v *Verifier) error {
		if n < 1 {
			return fmt.Errorf("notation verifier: max signatures must be at least 1, got %d", n)
		}
		v.max = n
		return nil
	}
}

// WithVerifyClock replaces time.Now for validity and expiry checks (tests).
func WithVerifyClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) error { v.now = now; return nil }
}

// Verifier checks notation signatures against a signature.Trust.
type Verifier struct {
	store *Store
	trust signature.Trust
	max   int
	now   func() time.Time
}

// NewVerifier returns a verifier reading from reg and trusting trust.
func NewVerifier(reg Registry, trust signature.Trust, opts ...VerifierOption) (*Verifier, error) {
	if trust == nil {
		return nil, errors.New("notation verifier: no trust")
	}
	v := &Verifier{store: NewStore(reg), trust: trust, max: DefaultMaxSignatures, now: time.Now}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Verified describes the signature that passed.
type Verified struct {
	// Manifest is the digest of the signature manifest.
	Manifest    v1.Hash
	SigningTime time.Time
	Expiry      time.Time
	// Chain is the signature's certificate chain, leaf first.
	Chain        []*x509.Certificate
	SigningAgent string
	Payload      Payload
}

// Verify checks that s carries a notation signature that passes:
//
//  1. integrity: the envelope decodes and Envelope.Verify passes (critical
//     headers, content type, algorithm against the leaf key, certificate
//     rules at the signing time, the signature itself);
//  2. authenticity: the leaf's public key is one of the trust's keys (so a
//     bare public key, signature.KeyTrust, verifies signatures by that key
//     whatever certificate carries it), or else trust.Chain accepts the
//     chain at the signing time; and, as notation does without an RFC 3161
//     timestamp, every certificate is valid now and an expiry has not
//     passed;
//  3. the payload names s: same digest, media type and size.
//
// Signatures are tried in listing order until one passes, at most the
// verifier's maximum. When none passes, the error is a
// *signature.VerifyError with the most telling reason found: a trusted
// signature for another manifest (wrong-subject) beats a tampered envelope
// (or one that is not what its digest names), which beats an untrusted
// certificate, an untrusted key, then a malformed signature (one that is
// gone or over the size limit among them). The error names the signatures
// that could not be read.
//
// A signature that could not be read because the registry failed (an
// error, or access refused) is skipped too, as a later one may pass; but
// if none does, the error is not a *signature.VerifyError: the unread one
// may be the valid signature, so s could not be checked, which must not
// pass for unsigned or untrusted. Failing to list the signatures is
// returned as it is.
func (v *Verifier) Verify(ctx context.Context, s signature.Subject) (*Verified, error) {
	ds, err := v.store.List(ctx, s)
	if err != nil {
		return nil, err
	}
	t := verdict.Tally{Subject: s, Format: Name, Noun: "signature", Classify: classify,
		Checking: fmt.Sprintf("notation signatures of %s", s.Name()),
		Unsigned: errors.New("no notation signature (no referrer of type " + ArtifactType + ")"),
		Listed:   len(ds), Examined: min(len(ds), v.max)}
	for i, d := range ds[:t.Examined] {
		env, err := v.store.Envelope(ctx, s, d)
		var res *Verified
		switch {
		case err == nil:
			res, err = v.verifyEnvelope(env, s)
		case errors.Is(err, ErrMalformed):
		case ctx.Err() != nil:
			return nil, err
		case registry.IsContentFault(err):
			t.Fault(i, err)
			if !errors.Is(err, ErrTampered) {
				err = fmt.Errorf("%w: %w", errUnreadable, err)
			}
		default:
			t.Unread(err)
			continue
		}
		if err == nil {
			res.Manifest = d.Digest
			return res, nil
		}
		t.Reject(i, fmt.Errorf("signature %s: %w", d.Digest, err))
	}
	return nil, t.Err()
}

// Errors the verifier adds to the envelope's own.
var (
	errOtherSubject = errors.New("signature for another manifest")
	errUntrustedKey = errors.New("signed by a key that is not trusted")
	errNotValidNow  = errors.New("expired or not yet valid")
	errUnreadable   = errors.New("listed, but cannot be read")
)

func (v *Verifier) verifyEnvelope(b []byte, s signature.Subject) (*Verified, error) {
	e, err := ParseEnvelope(b)
	if err != nil {
		return nil, err
	}
	if err := e.Verify(); err != nil {
		return nil, err
	}
	if err := v.authentic(e); err != nil {
		return nil, err
	}
	p, err := ParsePayload(e.Payload)
	if err != nil {
		return nil, err
	}
	if err := p.Matches(s); err != nil {
		return nil, fmt.Errorf("%w: %w", errOtherSubject, err)
	}
	return &Verified{SigningTime: e.Header.SigningTime, Expiry: e.Header.Expiry, Chain: e.Chain, SigningAgent: e.SigningAgent, Payload: *p}, nil
}

func (v *Verifier) authentic(e *Envelope) error {
	leaf := e.Chain[0]
	keyTrusted := slices.ContainsFunc(v.trust.Keys(), func(k crypto.PublicKey) bool { return certs.SamePublicKey(leaf.PublicKey, k) })
	if !keyTrusted {
		if err := v.trust.Chain(e.Chain, e.Header.SigningTime); err != nil {
			if _, bare := v.trust.(signature.KeyTrust); bare {
				return fmt.Errorf("%w: certificate %s", errUntrustedKey, certs.Describe(leaf))
			}
			if !errors.Is(err, signature.ErrUntrustedChain) {
				err = fmt.Errorf("%w: %w", signature.ErrUntrustedChain, err)
			}
			return err
		}
	}
	now := v.now()
	// The signing time is the signer's claim, not a timestamp authority's:
	// without an RFC 3161 token notation requires the chain valid now.
	for _, c := range e.Chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return fmt.Errorf("%w: certificate %s is valid from %s to %s, not now", errNotValidNow, certs.Describe(c),
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	if !e.Header.Expiry.IsZero() && now.After(e.Header.Expiry) {
		return fmt.Errorf("%w: the signature expired at %s", errNotValidNow, e.Header.Expiry.Format(time.RFC3339))
	}
	return nil
}

// classify maps a verification failure to a reason, ranked by how much it
// tells a user.
func classify(err error) (signature.Reason, int) {
	switch {
	case errors.Is(err, errOtherSubject):
		return signature.ReasonWrongSubject, 5
	case errors.Is(err, ErrTampered):
		return signature.ReasonTampered, 4
	case errors.Is(err, signature.ErrUntrustedChain), errors.Is(err, errNotValidNow), errors.Is(err, ErrBadChain):
		return signature.ReasonUntrustedCert, 3
	case errors.Is(err, errUntrustedKey):
		return signature.ReasonUntrustedKey, 2
	default:
		return signature.ReasonMalformed, 1
	}
}
