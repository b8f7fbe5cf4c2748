package bundle

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
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

var emptyConfig = []byte("{}")

// Registry is what bundle storage needs from a registry client;
// *registry.Client satisfies it.
type Registry interface {
	Manifest(ctx context.Context, ref name.Reference) (*registry.Manifest, error)
	Blob(ctx context.Context, repo name.Repository, digest v1.Hash, maxSize int64) ([]byte, error)
	BlobExists(ctx context.Context, repo name.Repository, digest v1.Hash) (bool, error)
	UploadBlob(ctx context.Context, repo name.Repository, digest v1.Hash, body []byte) error
	PushReferrer(ctx context.Context, repo name.Repository, manifest []byte, mediaType string, desc v1.Descriptor, subject v1.Hash) error
	ListReferrers(ctx context.Context, repo name.Repository, subject v1.Hash, artifactType string) ([]v1.Descriptor, error)
}

var _ Registry = (*registry.Client)(nil)

func sha256Hash(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

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
	m := referrerManifest{
		Manifest: v1.Manifest{
			SchemaVersion: 2,
			MediaType:     types.OCIManifestSchema1,
			Config: v1.Descriptor{
				MediaType:    emptyConfigType,
				Size:         int64(len(emptyConfig)),
				Digest:       sha256Hash(emptyConfig),
				ArtifactType: MediaType,
			},
			Layers:      []v1.Descriptor{{MediaType: MediaType, Size: int64(len(bundle)), Digest: sha256Hash(bundle)}},
			Annotations: ann,
			Subject:     &v1.Descriptor{MediaType: types.MediaType(s.MediaType), Size: s.Size, Digest: s.Digest},
		},
		ArtifactType: MediaType,
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("encoding bundle referrer for %s: %w", s.Digest, err)
	}
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(body)), Digest: sha256Hash(body), ArtifactType: MediaType, Annotations: ann}
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

// store is the registry side of the format.
type store struct {
	reg   Registry
	locks registry.Locks

	configMu sync.Mutex
	config   map[string]chan struct{} // by repository: "{}" uploaded (closed) or in flight
}

// uploadConfig uploads the empty config blob to repo once per store: every
// bundle shares it, and distribution answers concurrent uploads of one blob
// followed by manifest PUTs with spurious DIGEST_INVALID errors. A failed
// upload is forgotten, so the next bundle tries again.
func (st *store) uploadConfig(ctx context.Context, repo name.Repository) error {
	key := repo.String()
	for {
		st.configMu.Lock()
		if st.config == nil {
			st.config = map[string]chan struct{}{}
		}
		done, ok := st.config[key]
		if !ok {
			done = make(chan struct{})
			st.config[key] = done
		}
		st.configMu.Unlock()
		if !ok {
			err := ensureBlob(ctx, st.reg, repo, emptyConfig)
			if err != nil {
				st.configMu.Lock()
				delete(st.config, key)
				st.configMu.Unlock()
			}
			close(done)
			return err
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		st.configMu.Lock()
		still := st.config[key] == done
		st.configMu.Unlock()
		if still {
			return nil
		}
		// The upload we waited for failed; try ourselves.
	}
}

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
	m, err := st.reg.Manifest(ctx, s.Repo.Digest(d.Digest.String()))
	if err != nil {
		return nil, fmt.Errorf("reading referrer %s of %s: %w", d.Digest, s.Name(), err)
	}
	var rm referrerManifest
	if err := json.Unmarshal(m.Body, &rm); err != nil {
		return nil, fmt.Errorf("%w: referrer %s: %w", errNotBundle, d.Digest, err)
	}
	// cosign reads any one-layer manifest whose layer is a bundle.
	if len(rm.Layers) != 1 || !strings.HasPrefix(string(rm.Layers[0].MediaType), "application/vnd.dev.sigstore.bundle") {
		return nil, fmt.Errorf("%w: referrer %s", errNotBundle, d.Digest)
	}
	b, err := st.reg.Blob(ctx, s.Repo, rm.Layers[0].Digest, MaxBundleSize)
	if errors.Is(err, registry.ErrDigestMismatch) {
		return nil, fmt.Errorf("%w: bundle %s: %w", ErrTampered, rm.Layers[0].Digest, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s of %s: %w", rm.Layers[0].Digest, s.Name(), err)
	}
	return b, nil
}

func (st *store) push(ctx context.Context, s signature.Subject, bundle, manifest []byte, desc v1.Descriptor) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := st.uploadConfig(gctx, s.Repo); err != nil {
			return fmt.Errorf("uploading empty config to %s: %w", s.Repo, err)
		}
		return nil
	})
	g.Go(func() error {
		if err := st.reg.UploadBlob(gctx, s.Repo, sha256Hash(bundle), bundle); err != nil {
			return fmt.Errorf("uploading sigstore bundle for %s: %w", s.Name(), err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if err := st.reg.PushReferrer(ctx, s.Repo, manifest, string(types.OCIManifestSchema1), desc, s.Digest); err != nil {
		return fmt.Errorf("pushing sigstore bundle for %s: %w", s.Name(), err)
	}
	return nil
}

// ensureBlob uploads b to repo unless the registry has it. The HEAD is
// cheaper than an upload, and it keeps signet from rewriting a shared blob
// (and distribution its repository link) while another writer's manifest
// PUT checks that blob.
func ensureBlob(ctx context.Context, reg Registry, repo name.Repository, b []byte) error {
	d := sha256Hash(b)
	if ok, err := reg.BlobExists(ctx, repo, d); err == nil && ok {
		return nil
	}
	return reg.UploadBlob(ctx, repo, d, b)
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
	return &Format{st: &store{reg: reg}, key: key, o: o}, nil
}

// Name returns "sigstore-bundle".
func (f *Format) Name() string { return Name }

// Sign signs s and pushes the bundle as a referrer of s, unless s already
// has a signature bundle that verifies with f's key and names s (then the
// result is Skipped). Each bundle is verified with the key before it is
// pushed.
func (f *Format) Sign(ctx context.Context, s signature.Subject) (signature.Result, error) {
	unlock := f.st.locks.Lock(s.Repo.String() + "@" + s.Digest.String())
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

func (f *Format) existing(ctx context.Context, s signature.Subject) (v1.Hash, bool, error) {
	ds, err := f.st.list(ctx, s)
	if err != nil {
		return v1.Hash{}, false, err
	}
	for _, d := range ds {
		b, err := f.st.fetch(ctx, s, d)
		if err != nil {
			if errors.Is(err, errNotBundle) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrTampered) {
				continue
			}
			return v1.Hash{}, false, err
		}
		if checkBundle(b, f.key.Public(), s) == nil {
			return d.Digest, true, nil
		}
	}
	return v1.Hash{}, false, nil
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
)

func checkStatement(bd *Bundle, s signature.Subject) (*Statement, error) {
	if bd.DSSEEnvelope.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: DSSE payload type %q, want %q", ErrMalformed, bd.DSSEEnvelope.PayloadType, PayloadType)
	}
	st, err := ParseStatement(bd.DSSEEnvelope.Payload)
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
	return &Verifier{st: &store{reg: reg}, trust: trust, now: time.Now}, nil
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
// with the key its bundle names), untrusted-certificate, untrusted-key,
// malformed, and unsigned when there are no signature bundles.
func (v *Verifier) Verify(ctx context.Context, s signature.Subject) (*Verified, error) {
	ds, err := v.st.list(ctx, s)
	if err != nil {
		return nil, err
	}
	best := &signature.VerifyError{Subject: s, Format: Name, Reason: signature.ReasonUnsigned, Err: errors.New("no sigstore bundle signature")}
	bestRank := 0
	for i, d := range ds {
		if i >= MaxBundles {
			break
		}
		b, err := v.st.fetch(ctx, s, d)
		var res *Verified
		switch {
		case err == nil:
			res, err = v.verifyBundle(b, s)
		case errors.Is(err, errNotBundle):
			continue
		case errors.Is(err, ErrMalformed), errors.Is(err, ErrTampered):
		default:
			return nil, err
		}
		if err == nil {
			res.Manifest = d.Digest
			return res, nil
		}
		reason, rank := classify(err)
		if rank > bestRank {
			best, bestRank = &signature.VerifyError{Subject: s, Format: Name, Reason: reason, Err: fmt.Errorf("bundle %s: %w", d.Digest, err)}, rank
		}
	}
	return nil, best
}

func (v *Verifier) verifyBundle(b []byte, s signature.Subject) (*Verified, error) {
	bd, err := Parse(b)
	if err != nil {
		return nil, err
	}
	// Attestations share the layout; they are not signatures.
	if st, err := ParseStatement(bd.DSSEEnvelope.Payload); err == nil && st.PredicateType != PredicateType {
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
