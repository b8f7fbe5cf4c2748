package attest

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/cosign"
	"github.com/signet-project/signet/signature/dsse"
)

// Option configures a Format.
type Option func(*options) error

type options struct {
	source    ProvenanceSource
	env       *Provenance
	overrides Overrides
}

// WithProvenanceSource makes provenance formats ask src what the build
// recorded about each subject (IndexSource: BuildKit's attestations).
// Default: none, so only the environment and overrides are used.
func WithProvenanceSource(src ProvenanceSource) Option {
	return func(o *options) error { o.source = src; return nil }
}

// WithEnvironment adds the facts of the environment signet runs in
// (GitHubProvenance(os.Getenv)). They fill what the build did not record:
// beside BuildKit's provenance that adds the workflow
// (externalParameters.workflow), the runner (internalParameters.github)
// and the source commit (a resolved dependency), and the builder id and
// invocation id only where BuildKit recorded none. Default: none.
//
// The environment is taken to be the build's, so give it only when the
// subjects were built there: by signet build, or in the workflow run that
// signs them. For images other runs built (signet batch --pending), the
// signing run's workflow, commit and builder would be signed as the
// build's, and a policy on them would be satisfied by the wrong run.
func WithEnvironment(p *Provenance) Option {
	return func(o *options) error { o.env = p; return nil }
}

// WithOverrides adds explicit facts, which win over every other source.
// Invalid values fail here. Default: none.
func WithOverrides(ov Overrides) Option {
	return func(o *options) error {
		if err := ov.Validate(); err != nil {
			return err
		}
		o.overrides = ov
		return nil
	}
}

// MaxEnvelopeSize bounds the envelopes signet writes: the cosign store
// reads layers back (for dedupe and verification) up to this size, so a
// larger envelope could be written but never verified by signet.
const MaxEnvelopeSize = cosign.MaxPayloadSize

// Format makes one kind of attestation (one predicate type) for every
// subject it is given, signs it as a DSSE envelope and appends it to the
// subject's .att tag in cosign's layout. It implements batch.Format and is
// safe for concurrent use.
//
// Dedupe: an existing layer covers the new one when it is a DSSE envelope
// that verifies with the signing key, about the same manifest, of the same
// predicate type, and whose predicate is the same JSON, except, for SLSA
// provenance, the run's invocation id and start and finish times. Those
// identify a run: taken from the CI environment they change with every CI
// rerun although the image did not, so comparing them would add a copy per
// rerun. Any other difference is a new fact (a rebuilt SBOM, a new
// vulnerability scan, a builder id given this time) and is appended,
// keeping the older layer.
type Format struct {
	store     *cosign.Store
	key       signature.Signer
	spec      Spec
	predicate json.RawMessage
	source    ProvenanceSource
	env       *Provenance
	overrides *Provenance
}

// NewFormat returns the format for spec, signing with key into store. A
// custom predicate's file is read and checked here, once, so that a bad
// file fails before the first signature.
func NewFormat(store *cosign.Store, key signature.Signer, spec Spec, opts ...Option) (*Format, error) {
	if spec.Type == "" {
		return nil, errors.New("attestation spec has no predicate type")
	}
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("configuring %s attestations: %w", spec.Type, err)
		}
	}
	f := &Format{store: store, key: key, spec: spec, source: o.source, env: o.env, overrides: o.overrides.Provenance()}
	if !spec.Provenance() {
		p, err := ReadPredicate(spec.File)
		if err != nil {
			return nil, err
		}
		f.predicate = p
	}
	return f, nil
}

// ReadPredicate reads a predicate file: one JSON object, small enough for
// its envelope to stay under MaxEnvelopeSize.
func ReadPredicate(file string) (json.RawMessage, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading predicate: %w", err)
	}
	// base64 grows the statement by 4/3 inside the envelope.
	if limit := MaxEnvelopeSize * 3 / 4; len(b) > limit {
		return nil, fmt.Errorf("predicate %s is %d bytes; signet's attestations hold at most %d", file, len(b), limit)
	}
	var raw json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("predicate %s is not JSON: %w", file, err)
	}
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("predicate %s is not a JSON object (in-toto predicates are objects)", file)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, fmt.Errorf("predicate %s: %w", file, err)
	}
	return compact.Bytes(), nil
}

// Name returns "attest:" and the predicate type, the name journals and
// reports know the format by.
func (f *Format) Name() string { return "attest:" + f.spec.Type }

// Spec returns the spec the format was made for.
func (f *Format) Spec() Spec { return f.spec }

// ErrNoFacts is returned when nothing at all is known about how a subject
// was built; signet signs no empty provenance.
var ErrNoFacts = errors.New("no provenance facts")

// Statement returns the statement Sign would sign for s.
func (f *Format) Statement(ctx context.Context, s signature.Subject) (*Statement, error) {
	if !f.spec.Provenance() {
		return NewStatement(s, f.spec.Type, f.predicate), nil
	}
	var built *Provenance
	if f.source != nil {
		var err error
		if built, err = f.source.ForSubject(ctx, s); err != nil {
			return nil, fmt.Errorf("looking up build provenance of %s: %w", s.Name(), err)
		}
	}
	p := Merge(f.overrides, built, f.env)
	if p.IsZero() {
		return nil, fmt.Errorf("%w for %s: it carries no BuildKit provenance, no facts of the environment that built it were given (GitHub Actions), and no builder id, build type or source", ErrNoFacts, s.Name())
	}
	raw, err := marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding provenance of %s: %w", s.Name(), err)
	}
	return NewStatement(s, f.spec.Type, raw), nil
}

// Sign makes, signs and stores the attestation for s, unless an equivalent
// one by the same key is already stored (see Format).
func (f *Format) Sign(ctx context.Context, s signature.Subject) (signature.Result, error) {
	st, err := f.Statement(ctx, s)
	if err != nil {
		return signature.Result{}, err
	}
	layer, err := f.seal(ctx, s, st)
	if err != nil {
		return signature.Result{}, err
	}
	r, err := f.store.Append(ctx, s.Repo, s.Digest, cosign.AttestationSuffix, layer, f.covered(s, st, layer))
	if err != nil {
		return signature.Result{}, fmt.Errorf("storing %s attestation of %s: %w", f.spec.Type, s.Name(), err)
	}
	return signature.Result{Format: f.Name(), Digest: r.Digest, Skipped: r.Skipped}, nil
}

// seal signs st and wraps it in an .att layer, checking the signature
// before anything is pushed: an HSM that returns garbage must not leave an
// attestation nobody can verify.
func (f *Format) seal(ctx context.Context, s signature.Subject, st *Statement) (cosign.Layer, error) {
	payload, err := marshal(st)
	if err != nil {
		return cosign.Layer{}, fmt.Errorf("encoding %s statement of %s: %w", f.spec.Type, s.Name(), err)
	}
	env, err := dsse.Sign(ctx, f.key, Hash, PayloadType, payload)
	if err != nil {
		return cosign.Layer{}, fmt.Errorf("attesting %s: %w", s.Name(), err)
	}
	if _, err := env.Verify([]crypto.PublicKey{f.key.Public()}); err != nil {
		return cosign.Layer{}, fmt.Errorf("attesting %s: the new envelope does not verify with the signing key: %w", s.Name(), err)
	}
	body, err := json.Marshal(env)
	if err != nil {
		return cosign.Layer{}, fmt.Errorf("encoding envelope of %s: %w", s.Name(), err)
	}
	if len(body) > MaxEnvelopeSize {
		return cosign.Layer{}, fmt.Errorf("%s attestation of %s is %d bytes, over the %d signet can read back", f.spec.Type, s.Name(), len(body), MaxEnvelopeSize)
	}
	return cosign.NewLayer(cosign.DSSEMediaType, body, map[string]string{
		// cosign requires the signature annotation on every layer, empty
		// for attestations, whose signature is inside the envelope.
		cosign.SignatureAnnotation:     "",
		cosign.PredicateTypeAnnotation: f.spec.Type,
	}), nil
}

// covered is the dedupe rule described on Format.
func (f *Format) covered(s signature.Subject, st *Statement, newLayer cosign.Layer) cosign.Covered {
	want := claimKey(st)
	keys := []crypto.PublicKey{f.key.Public()}
	return func(ctx context.Context, e *cosign.Layer) (bool, error) {
		if e.MediaType != cosign.DSSEMediaType {
			return false, nil
		}
		if pt, ok := e.Annotations[cosign.PredicateTypeAnnotation]; ok && pt != f.spec.Type {
			return false, nil
		}
		if e.Digest == newLayer.Digest {
			return true, nil
		}
		if err := f.store.FetchPayload(ctx, s.Repo, e); err != nil {
			// Another tool's layer whose blob is gone or too large cannot
			// be ours; anything else (the registry failing) may be
			// temporary and must not turn into a duplicate.
			if registry.IsNotFound(err) || errors.Is(err, registry.ErrTooLarge) || errors.Is(err, registry.ErrDigestMismatch) {
				return false, nil
			}
			return false, err
		}
		old, err := checkLayer(e, keys, s.Digest)
		if err != nil {
			return false, nil
		}
		return claimKey(old) == want, nil
	}
}

// runMetadata lists, per predicate type, the predicate fields that describe
// the signing run rather than the artifact, and so are ignored when
// deciding whether a stored attestation already says the same.
var runMetadata = map[string][][]string{
	SLSAProvenanceV1: {
		{"runDetails", "metadata", invocationIDKey},
		{"runDetails", "metadata", startedOnKey},
		{"runDetails", "metadata", finishedOnKey},
	},
	SLSAProvenanceV02: {
		{"metadata", "buildInvocationID"},
		{"metadata", "buildStartedOn"},
		{"metadata", "buildFinishedOn"},
	},
}

// claimKey is what a statement claims, canonically: its predicate type and
// its predicate without run metadata, as sorted-key JSON.
func claimKey(st *Statement) string {
	var pred any
	if decodeJSON(st.Predicate, &pred) != nil {
		return st.PredicateType + "\x00" + string(st.Predicate)
	}
	for _, path := range runMetadata[st.PredicateType] {
		deletePath(pred, path)
	}
	return st.PredicateType + "\x00" + canonicalJSON(pred)
}

// deletePath removes the field at path from a decoded JSON object, and
// then every object on the path it left empty.
func deletePath(v any, path []string) bool {
	m, ok := v.(map[string]any)
	if !ok || len(path) == 0 {
		return false
	}
	if len(path) == 1 {
		delete(m, path[0])
	} else if child, ok := m[path[0]]; ok && deletePath(child, path[1:]) {
		delete(m, path[0])
	}
	return len(m) == 0
}

// marshal encodes v without encoding/json's HTML escaping, so a predicate's
// "<", ">" and "&" reach the statement as the file wrote them.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
