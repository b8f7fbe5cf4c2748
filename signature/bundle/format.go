package bundle

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
	"github.com/signet-project/signet/signature/referrer"
	"github.com/signet-project/signet/signature/verdict"
)

// Name is the format's name in results, reports and --format.
const Name = "sigstore-bundle"

// Annotation keys and values of the referrer manifest, as cosign v3 writes
// them.
const (
	ContentAnnotation       = "dev.sigstore.bundle.content"
	PredicateTypeAnnotation = "dev.sigstore.bundle.predicateType"
	CreatedAnnotation       = "org.opencontainers.image.created"
	contentDSSE             = "dsse-envelope"
	// emptyConfigType is the OCI empty descriptor's media type.
	emptyConfigType = "application/vnd.oci.empty.v1+json"
)

// Registry is what bundle storage needs from a registry client;
// *registry.Client satisfies it.
type Registry = referrer.Registry

// referrerManifest is an OCI image manifest with the OCI 1.1 artifactType,
// which go-containerregistry's v1.Manifest lacks; field order as cosign
// writes it.
type referrerManifest struct {
	v1.Manifest
	ArtifactType string `json:"artifactType,omitempty"`
}

// NewReferrerManifest returns the referrer manifest holding bundle for
// subject s, laid out as cosign v3 writes it: config the empty descriptor
// with artifactType, one layer, annotations for content, predicate type
// and creation time, subject, and artifactType.
func NewReferrerManifest(bundle []byte, s signature.Subject, created time.Time) ([]byte, v1.Descriptor, error) {
	ann := map[string]string{
		ContentAnnotation:       contentDSSE,
		PredicateTypeAnnotation: PredicateType,
		CreatedAnnotation:       created.UTC().Format(time.RFC3339),
	}
	config := referrer.ConfigDescriptor(emptyConfigType)
	config.ArtifactType = MediaType
	m := referrerManifest{
		Manifest: v1.Manifest{
			SchemaVersion: 2,
			MediaType:     types.OCIManifestSchema1,
			Config:        config,
			Layers:        []v1.Descriptor{{MediaType: MediaType, Size: int64(len(bundle)), Digest: referrer.Digest(bundle)}},
			Annotations:   ann,
			Subject:       &v1.Descriptor{MediaType: types.MediaType(s.MediaType), Size: s.Size, Digest: s.Digest},
		},
		ArtifactType: MediaType,
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("encoding bundle referrer for %s: %w", s.Digest, err)
	}
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(body)), Digest: referrer.Digest(body), ArtifactType: MediaType, Annotations: ann}
	return body, desc, nil
}

// maybeBundle reports whether a referrer listing entry may be a bundle.
// Registries report artifactType differently: the manifest's artifactType,
// or its config media type (go-containerregistry's registry), which for a
// bundle is the OCI empty type; old entries may have none.
func maybeBundle(d v1.Descriptor) bool {
	switch d.ArtifactType {
	case MediaType, emptyConfigType, "":
		return d.Annotations[PredicateTypeAnnotation] == "" || d.Annotations[PredicateTypeAnnotation] == PredicateType
	}
	return false
}

// store is the registry side of the format: listing and recognising
// bundles is the format's own, reading and writing referrers is shared
// with notation.
type store struct {
	reg  Registry
	refs *referrer.Store
}

func newStore(reg Registry) *store { return &store{reg: reg, refs: referrer.NewStore(reg)} }

func (st *store) list(ctx context.Context, s signature.Subject) ([]v1.Descriptor, error) {
	// Unfiltered: a registry filtering on artifactType itself would drop
	// bundles it lists under their config media type.
	ds, err := st.reg.ListReferrers(ctx, s.Repo, s.Digest, "")
	if err != nil {
		return nil, fmt.Errorf("listing sigstore bundles of %s: %w", s.Name(), err)
	}
	out := ds[:0:0]
	for _, d := range ds {
		if maybeBundle(d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// errNotBundle marks a referrer that turned out not to be a bundle.
var errNotBundle = errors.New("not a sigstore bundle")

// fetch reads the bundle of referrer d. Errors about its content wrap
// ErrMalformed, errNotBundle or ErrTampered; registry errors do not.
func (st *store) fetch(ctx context.Context, s signature.Subject, d v1.Descriptor) ([]byte, error) {
	b, err := st.refs.Fetch(ctx, s, d, MaxBundleSize, bundleLayer)
	if errors.Is(err, registry.ErrDigestMismatch) {
		return nil, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	return b, err
}

// bundleLayer picks the bundle out of a referrer manifest: cosign reads any
// one-layer manifest whose layer is a bundle.
func bundleLayer(manifest []byte) (v1.Descriptor, error) {
	var rm referrerManifest
	if err := json.Unmarshal(manifest, &rm); err != nil {
		return v1.Descriptor{}, fmt.Errorf("%w: %w", errNotBundle, err)
	}
	if len(rm.Layers) != 1 || !strings.HasPrefix(string(rm.Layers[0].MediaType), "application/vnd.dev.sigstore.bundle") {
		return v1.Descriptor{}, errNotBundle
	}
	return rm.Layers[0], nil
}

func (st *store) push(ctx context.Context, s signature.Subject, bundle, manifest []byte, desc v1.Descriptor) error {
	if err := st.refs.Push(ctx, s, bundle, manifest, desc); err != nil {
		return fmt.Errorf("pushing sigstore bundle for %s: %w", s.Name(), err)
	}
	return nil
}

// Option configures a Format.
type Option func(*options) error

type options struct {
	chain []*x509.Certificate
	now   func() time.Time
}

// WithCertificateChain makes bundles carry the signing certificate (and
// intermediates) instead of the key hint. Such bundles verify with cosign's
// certificate flags only, not with cosign verify --key. Default: key hint.
func WithCertificateChain(chain []*x509.Certificate) Option {
	return func(o *options) error {
		if len(chain) == 0 {
			return errors.New("sigstore bundle: empty certificate chain")
		}
		o.chain = chain
		return nil
	}
}

// WithClock replaces time.Now for the creation annotation (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.now = now; return nil }
}

// Format signs subjects as sigstore bundles with one key. It is safe for
// concurrent use.
type Format struct {
	st  *store
	key signature.Signer
	o   options
	// certs is the material of f's bundles when they carry certificates.
	certs *VerificationMaterial
}

// NewFormat returns the sigstore-bundle format signing with key.
func NewFormat(reg Registry, key signature.Signer, opts ...Option) (*Format, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if key == nil {
		return nil, errors.New("sigstore bundle format: no signing key")
	}
	if _, err := KeyHint(key.Public()); err != nil {
		return nil, fmt.Errorf("sigstore bundle format: %w", err)
	}
	if o.chain != nil {
		ordered, err := certs.Order(o.chain, key.Public())
		if err != nil {
			return nil, fmt.Errorf("sigstore bundle format: %w", err)
		}
		o.chain = ordered
	}
	f := &Format{st: newStore(reg), key: key, o: o}
	if o.chain != nil {
		vm := certificateMaterial(o.chain)
		f.certs = &vm
	}
	return f, nil
}

// Name returns "sigstore-bundle".
func (f *Format) Name() string { return Name }

// Sign signs s and pushes the bundle as a referrer of s, unless s already
// has a signature bundle that verifies with f's key, names s and carries
// the certificates f's bundles carry, or none when they carry none (then
// the result is Skipped). Each bundle is verified with the key before it
// is pushed.
func (f *Format) Sign(ctx context.Context, s signature.Subject) (signature.Result, error) {
	unlock := f.st.refs.Lock(s)
	defer unlock()
	if d, ok, err := f.existing(ctx, s); err != nil {
		return signature.Result{}, err
	} else if ok {
		return signature.Result{Format: Name, Digest: d, Skipped: true}, nil
	}
	statement, err := NewStatement(s.Digest)
	if err != nil {
		return signature.Result{}, fmt.Errorf("making statement for %s: %w", s.Name(), err)
	}
	b, err := Sign(ctx, f.key, statement, SignOptions{Chain: f.o.chain})
	if err != nil {
		return signature.Result{}, fmt.Errorf("signing %s: %w", s.Name(), err)
	}
	if err := checkBundle(b, f.key.Public(), s); err != nil {
		return signature.Result{}, fmt.Errorf("signing %s: generated signature failed verification: %w", s.Name(), err)
	}
	manifest, desc, err := NewReferrerManifest(b, s, f.o.now())
	if err != nil {
		return signature.Result{}, err
	}
	if err := f.st.push(ctx, s, b, manifest, desc); err != nil {
		return signature.Result{}, err
	}
	return signature.Result{Format: Name, Digest: desc.Digest}, nil
}

// existing finds a bundle of s that covers the one f would push.
//
// A referrer that cannot be read for a reason of its own
// (registry.IsContentFault: a signature deleted but still listed in the
// tag index, say) covers nothing. One that cannot be read because the
// registry failed does not stop the others from being checked, as one of
// them may cover s; but when none does, existing fails rather than lets
// Sign write: the unread one may be the very bundle Sign would repeat, and
// a failure that persists would add one more copy on every run.
func (f *Format) existing(ctx context.Context, s signature.Subject) (v1.Hash, bool, error) {
	ds, err := f.st.list(ctx, s)
	if err != nil {
		return v1.Hash{}, false, err
	}
	var unchecked []error
	for _, d := range ds {
		b, err := f.st.fetch(ctx, s, d)
		switch {
		case err == nil:
			if f.covers(b, s) {
				return d.Digest, true, nil
			}
		case errors.Is(err, errNotBundle), errors.Is(err, ErrMalformed), errors.Is(err, ErrTampered):
		case ctx.Err() != nil:
			return v1.Hash{}, false, err
		case registry.IsContentFault(err):
		default:
			unchecked = append(unchecked, err)
		}
	}
	if len(unchecked) > 0 {
		return v1.Hash{}, false, fmt.Errorf("checking %s for an existing sigstore bundle: %d of its %d referrers could not be checked: %w",
			s.Name(), len(unchecked), len(ds), registry.JoinErrors(unchecked))
	}
	return v1.Hash{}, false, nil
}

// covers reports whether bundle b, an existing referrer of s, does what
// f's would: it is by f's key and carries f's certificates, or none when f
// has none (the rule of cosign.Store.SameKey). A bundle carrying
// certificates is written although one by the same key exists unless that
// one carries the same leaf and intermediates, since a verifier that
// trusts a CA or an identity rather than the key accepts only a bundle
// whose certificate it trusts: after a first certificate for the key, or a
// renewed one, the new bundle is the only one such a verifier accepts. And
// a keyed bundle is covered only by a keyed bundle: cosign v3 verify --key
// (sigstore-go) refuses a bundle that carries a certificate ("expected key
// signature, not certificate"), so after runs with certificates the keyed
// bundle is the only one it accepts.
func (f *Format) covers(b []byte, s signature.Subject) bool {
	bd, err := Parse(b)
	if err != nil {
		return false
	}
	// The listing and the referrer manifest say nothing of certificates;
	// the bundle is the first place to look, and the comparison is
	// cheaper than the signature check it spares.
	if f.certs != nil && !carriesCertificates(bd.VerificationMaterial, *f.certs) {
		return false
	}
	if f.certs == nil && (bd.VerificationMaterial.Certificate != nil || bd.VerificationMaterial.X509CertificateChain != nil) {
		return false
	}
	if bd.VerifySignature(f.key.Public()) != nil {
		return false
	}
	_, err = checkStatement(bd, s)
	return err == nil
}

// checkBundle verifies a bundle with pub and checks that it is a signature
// of s.
func checkBundle(b []byte, pub crypto.PublicKey, s signature.Subject) error {
	bd, err := Parse(b)
	if err != nil {
		return err
	}
	if err := bd.VerifySignature(pub); err != nil {
		return err
	}
	_, err = checkStatement(bd, s)
	return err
}

// Errors the verifier adds.
var (
	errOtherSubject = errors.New("signature for another manifest")
	errNotSignature = errors.New("an attestation, not a signature")
	errUntrustedKey = errors.New("signed by a key that is not trusted")
	errUnreadable   = errors.New("listed, but cannot be read")
)

func checkStatement(bd *Bundle, s signature.Subject) (*Statement, error) {
	if bd.DSSEEnvelope.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: DSSE payload type %q, want %q", ErrMalformed, bd.DSSEEnvelope.PayloadType, PayloadType)
	}
	payload, err := bd.DSSEEnvelope.DecodedPayload()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	st, err := ParseStatement(payload)
	if err != nil {
		return nil, err
	}
	if st.PredicateType != PredicateType {
		return nil, fmt.Errorf("%w: predicate type %q, want %q", errNotSignature, st.PredicateType, PredicateType)
	}
	if !st.Names(s.Digest) {
		var names []string
		for _, sub := range st.Subject {
			for alg, hex := range sub.Digest {
				names = append(names, alg+":"+hex)
			}
		}
		return nil, fmt.Errorf("%w: the statement names %v, not %s", errOtherSubject, names, s.Digest)
	}
	return st, nil
}

// Verifier checks sigstore bundle signatures against a signature.Trust.
type Verifier struct {
	st    *store
	trust signature.Trust
	now   func() time.Time
}

// NewVerifier returns a verifier reading from reg and trusting trust.
func NewVerifier(reg Registry, trust signature.Trust) (*Verifier, error) {
	if trust == nil {
		return nil, errors.New("sigstore bundle verifier: no trust")
	}
	return &Verifier{st: newStore(reg), trust: trust, now: time.Now}, nil
}

// MaxBundles bounds how many referrers of one subject Verify examines,
// failed ones included, like notation's --max-signatures.
const MaxBundles = 100

// Verified describes the bundle that passed.
type Verified struct {
	// Manifest is the digest of the referrer manifest.
	Manifest v1.Hash
	// Key is the public key that verified the signature.
	Key crypto.PublicKey
	// Chain is the bundle's certificates when it carries any.
	Chain     []*x509.Certificate
	Statement Statement
}

// Verify checks that s carries a sigstore bundle signature that passes:
// the bundle decodes; a DSSE signature verifies with one of the trust's
// keys, or, for a bundle carrying certificates, trust.Chain accepts them
// (at the current time: bundles without a timestamp carry no signing time)
// and the signature verifies with the leaf's key; the payload is an in-toto
// statement of predicate type PredicateType whose subject digest is s's.
// Attestation bundles (other predicate types) are not signatures and do
// not count.
//
// When none passes, the error is a *signature.VerifyError whose reason is
// the most telling found: wrong-subject, tampered (a signature that fails
// with the key its bundle names, or a blob that is not what its digest
// names), untrusted-certificate, untrusted-key, malformed (a referrer that
// is gone or over the size limit among them), and unsigned when there are
// no signature bundles. It names the referrers that could not be read, and
// says when only the first MaxBundles referrers were examined.
//
// A referrer that could not be read because the registry failed (an
// error, or access refused) is skipped too, as a later one may pass; but
// if none does, the error is not a *signature.VerifyError: the unread one
// may be the valid signature, so s could not be checked, which must not
// pass for unsigned or untrusted.
func (v *Verifier) Verify(ctx context.Context, s signature.Subject) (*Verified, error) {
	ds, err := v.st.list(ctx, s)
	if err != nil {
		return nil, err
	}
	t := verdict.Tally{Subject: s, Format: Name, Noun: "referrer", Classify: classify,
		Checking: fmt.Sprintf("sigstore bundles of %s", s.Name()),
		Unsigned: errors.New("no sigstore bundle signature"),
		Listed:   len(ds), Examined: min(len(ds), MaxBundles)}
	for i, d := range ds[:t.Examined] {
		b, err := v.st.fetch(ctx, s, d)
		var res *Verified
		switch {
		case err == nil:
			res, err = v.verifyBundle(b, s)
		case errors.Is(err, errNotBundle):
			continue
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
		t.Reject(i, fmt.Errorf("bundle %s: %w", d.Digest, err))
	}
	return nil, t.Err()
}

func (v *Verifier) verifyBundle(b []byte, s signature.Subject) (*Verified, error) {
	bd, err := Parse(b)
	if err != nil {
		return nil, err
	}
	// Attestations share the layout; they are not signatures.
	payload, _ := bd.DSSEEnvelope.DecodedPayload() // Parse checked it
	if st, err := ParseStatement(payload); err == nil && st.PredicateType != PredicateType {
		return nil, fmt.Errorf("%w: predicate type %q", errNotSignature, st.PredicateType)
	}
	chain, _ := bd.Chain() // Parse checked it
	pub, err := v.authenticate(bd, chain)
	if err != nil {
		return nil, err
	}
	st, err := checkStatement(bd, s)
	if err != nil {
		return nil, err
	}
	return &Verified{Key: pub, Chain: chain, Statement: *st}, nil
}

// authenticate finds the trusted key that made the signature.
func (v *Verifier) authenticate(bd *Bundle, chain []*x509.Certificate) (crypto.PublicKey, error) {
	hint := ""
	if bd.VerificationMaterial.PublicKey != nil {
		hint = bd.VerificationMaterial.PublicKey.Hint
	}
	for _, k := range v.trust.Keys() {
		err := bd.VerifySignature(k)
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, signature.ErrMismatch) {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		// The bundle names this very key, yet its signature fails.
		if h, _ := KeyHint(k); hint != "" && h == hint {
			return nil, ErrTampered
		}
		if len(chain) > 0 && certs.SamePublicKey(chain[0].PublicKey, k) {
			return nil, ErrTampered
		}
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w (key hint %q)", errUntrustedKey, hint)
	}
	if err := v.trust.Chain(chain, v.now()); err != nil {
		if _, bare := v.trust.(signature.KeyTrust); bare {
			return nil, fmt.Errorf("%w: certificate %s", errUntrustedKey, certs.Describe(chain[0]))
		}
		if !errors.Is(err, signature.ErrUntrustedChain) {
			err = fmt.Errorf("%w: %w", signature.ErrUntrustedChain, err)
		}
		return nil, err
	}
	if err := bd.VerifySignature(chain[0].PublicKey); err != nil {
		if errors.Is(err, signature.ErrMismatch) {
			return nil, ErrTampered
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return chain[0].PublicKey, nil
}

func classify(err error) (signature.Reason, int) {
	switch {
	case errors.Is(err, errOtherSubject):
		return signature.ReasonWrongSubject, 6
	case errors.Is(err, ErrTampered):
		return signature.ReasonTampered, 5
	case errors.Is(err, signature.ErrUntrustedChain):
		return signature.ReasonUntrustedCert, 4
	case errors.Is(err, errUntrustedKey):
		return signature.ReasonUntrustedKey, 3
	case errors.Is(err, errNotSignature):
		return signature.ReasonUnsigned, 1
	default:
		return signature.ReasonMalformed, 2
	}
}
