package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/cosign"
)

// ProvenanceSource finds what a build recorded about a manifest. It returns
// nil and no error when it knows nothing about the subject.
type ProvenanceSource interface {
	ForSubject(ctx context.Context, s signature.Subject) (*Provenance, error)
}

// How BuildKit stores its attestations in an image index
// (buildkit-frontend.md §4): one attestation manifest per image, listed in
// the index with these annotations, whose in-toto layers name their
// predicate type.
const (
	ReferenceTypeAnnotation   = "vnd.docker.reference.type"
	ReferenceDigestAnnotation = "vnd.docker.reference.digest"
	AttestationManifestType   = "attestation-manifest"
	InTotoLayerMediaType      = "application/vnd.in-toto+json"
	InTotoPredicateAnnotation = "in-toto.io/predicate-type"
)

// IndexReader is what IndexSource needs from a registry; *registry.Client
// satisfies it.
type IndexReader interface {
	Manifest(ctx context.Context, ref name.Reference) (*registry.Manifest, error)
	Blob(ctx context.Context, repo name.Repository, digest v1.Hash, maxSize int64) ([]byte, error)
}

// IndexSource reads BuildKit's own provenance attestations from image
// indexes on a registry.
//
// An image's provenance sits in the index that lists the image, as the
// attestation manifest whose vnd.docker.reference.digest names it. A
// signature.Subject does not say which index listed it, so the caller
// (which planned the run) tells the source with AddParent; an image with no
// known parent has no BuildKit provenance as far as the source can tell.
//
// An index has no attestation of its own. Its provenance is Common over its
// images': what they all state alike, and the union of their resolved
// dependencies. Leaving the index with only the environment's facts would
// make a local build's index attestation empty, and picking one image's
// facts would attribute that platform's dependencies alone to the index.
// So when any image of the index has no BuildKit provenance (an index
// merged from builds with and without it), the index gets none from its
// images: nothing is known to be common to all of them, and the union of
// dependencies would leave out that image's.
//
// Every index and attestation is read once per source, however many
// subjects ask; a failed read is not remembered, so a retry reads again.
type IndexSource struct {
	reg     IndexReader
	mu      sync.Mutex
	parents map[string]v1.Hash
	indexes onceMap[*indexAttestations]
	images  onceMap[*Provenance]
}

// NewIndexSource returns a source reading from reg.
func NewIndexSource(reg IndexReader) *IndexSource {
	return &IndexSource{reg: reg, parents: map[string]v1.Hash{}}
}

var _ ProvenanceSource = (*IndexSource)(nil)

// AddParent records that index (in child's repository) lists child. It is
// safe to call concurrently with ForSubject.
func (s *IndexSource) AddParent(child signature.Subject, index v1.Hash) {
	s.mu.Lock()
	s.parents[subjectKey(child.Repo, child.Digest)] = index
	s.mu.Unlock()
}

func subjectKey(repo name.Repository, d v1.Hash) string { return repo.Name() + "@" + d.String() }

// ForSubject returns BuildKit's provenance for s, translated to SLSA v1, or
// nil when the registry holds none.
func (s *IndexSource) ForSubject(ctx context.Context, subj signature.Subject) (*Provenance, error) {
	if subj.Index {
		idx, err := s.index(ctx, subj.Repo, subj.Digest)
		if err != nil {
			return nil, err
		}
		var ps []*Provenance
		for _, img := range idx.images {
			att, ok := idx.attestations[img.String()]
			if !ok {
				return nil, nil
			}
			p, err := s.image(ctx, subj.Repo, img, att)
			if err != nil {
				return nil, err
			}
			if p.IsZero() {
				return nil, nil
			}
			ps = append(ps, p)
		}
		return Common(ps), nil
	}
	idx, err := s.parentIndex(ctx, subj)
	if idx == nil || err != nil {
		return nil, err
	}
	if idx.isAttestation[subj.Digest.String()] {
		return nil, fmt.Errorf("%s is %w", subj.Name(), ErrAttestationManifest)
	}
	att, ok := idx.attestations[subj.Digest.String()]
	if !ok {
		return nil, nil
	}
	return s.image(ctx, subj.Repo, subj.Digest, att)
}

// ErrAttestationManifest marks a subject that is one of BuildKit's
// attestation manifests: an artifact holding attestations about an image,
// not an image with a provenance of its own.
var ErrAttestationManifest = errors.New("a BuildKit attestation manifest, not an image")

// IsAttestationManifest reports whether subj is listed in its parent index
// (see AddParent) as one of BuildKit's attestation manifests. Those appear
// in the index beside the images, with platform unknown/unknown; a run
// that expands indexes should leave them out rather than attest or sign
// them as images.
func (s *IndexSource) IsAttestationManifest(ctx context.Context, subj signature.Subject) (bool, error) {
	if subj.Index {
		return false, nil
	}
	idx, err := s.parentIndex(ctx, subj)
	if idx == nil || err != nil {
		return false, err
	}
	return idx.isAttestation[subj.Digest.String()], nil
}

// parentIndex reads the index AddParent named for subj; nil when none was.
func (s *IndexSource) parentIndex(ctx context.Context, subj signature.Subject) (*indexAttestations, error) {
	s.mu.Lock()
	parent, ok := s.parents[subjectKey(subj.Repo, subj.Digest)]
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	return s.index(ctx, subj.Repo, parent)
}

// indexAttestations is what an index says about attestations: its images
// in order, and the attestation manifest of each image that has one.
type indexAttestations struct {
	images        []v1.Hash
	attestations  map[string]v1.Hash
	isAttestation map[string]bool
}

func (s *IndexSource) index(ctx context.Context, repo name.Repository, digest v1.Hash) (*indexAttestations, error) {
	return s.indexes.do(ctx, subjectKey(repo, digest), func() (*indexAttestations, error) {
		ref := repo.Digest(digest.String())
		m, err := s.reg.Manifest(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("reading index %s for BuildKit provenance: %w", ref, err)
		}
		idx, err := v1.ParseIndexManifest(bytes.NewReader(m.Body))
		if err != nil {
			return nil, fmt.Errorf("decoding index %s: %w", ref, err)
		}
		out := &indexAttestations{attestations: map[string]v1.Hash{}, isAttestation: map[string]bool{}}
		for _, d := range idx.Manifests {
			if d.Annotations[ReferenceTypeAnnotation] != AttestationManifestType {
				out.images = append(out.images, d.Digest)
				continue
			}
			out.isAttestation[d.Digest.String()] = true
			if target := d.Annotations[ReferenceDigestAnnotation]; target != "" {
				out.attestations[target] = d.Digest
			}
		}
		return out, nil
	})
}

// image reads the attestation manifest att of image and translates the
// provenance layer it holds; nil when it holds none.
func (s *IndexSource) image(ctx context.Context, repo name.Repository, image, att v1.Hash) (*Provenance, error) {
	return s.images.do(ctx, subjectKey(repo, image), func() (*Provenance, error) {
		ref := repo.Digest(att.String())
		m, err := s.reg.Manifest(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("reading BuildKit attestation manifest %s of %s: %w", ref, image, err)
		}
		var am v1.Manifest
		if err := json.Unmarshal(m.Body, &am); err != nil {
			return nil, fmt.Errorf("decoding BuildKit attestation manifest %s: %w", ref, err)
		}
		// BuildKit writes one provenance layer, in the version it was
		// asked for; prefer v1 should a future BuildKit write both.
		var layer *v1.Descriptor
		for i := range am.Layers {
			l := &am.Layers[i]
			if l.MediaType != types.MediaType(InTotoLayerMediaType) {
				continue
			}
			switch l.Annotations[InTotoPredicateAnnotation] {
			case SLSAProvenanceV1:
				layer = l
			case SLSAProvenanceV02:
				if layer == nil {
					layer = l
				}
			}
		}
		if layer == nil {
			return nil, nil
		}
		// The statement comes back inside signet's own envelope, which is
		// read back through the cosign store's limit; a larger one could
		// be signed but never verified.
		b, err := s.reg.Blob(ctx, repo, layer.Digest, cosign.MaxPayloadSize)
		if err != nil {
			return nil, fmt.Errorf("reading BuildKit provenance %s from attestation manifest %s: %w", layer.Digest, ref, err)
		}
		p, err := ParseBuildKitStatement(b, image)
		if err != nil {
			return nil, fmt.Errorf("BuildKit provenance %s in %s: %w", layer.Digest, ref, err)
		}
		return p, nil
	})
}

// ParseBuildKitStatement decodes a provenance statement BuildKit stored for
// image (an unsigned in-toto Statement, SLSA v1 or v0.2) and returns its
// predicate as SLSA v1. A statement about another manifest is an error:
// its facts would be vouched for under the wrong digest.
func ParseBuildKitStatement(b []byte, image v1.Hash) (*Provenance, error) {
	st, err := ParseStatement(b)
	if err != nil {
		return nil, err
	}
	if !st.About(image) {
		return nil, fmt.Errorf("statement is about %v, not %s", st.subjects(), image)
	}
	switch st.PredicateType {
	case SLSAProvenanceV1:
		return ParseProvenance(st.Predicate)
	case SLSAProvenanceV02:
		return FromSLSA02(st.Predicate)
	}
	return nil, fmt.Errorf("predicate type %q is not SLSA provenance", st.PredicateType)
}

func resource(uri string, digest map[string]string) ResourceDescriptor {
	d := ResourceDescriptor{URI: uri}
	if len(digest) > 0 {
		d.Digest = digest
	}
	return d
}

// onceMap runs a function once per key and shares its result with every
// concurrent and later caller; an error is handed to the callers waiting
// at the time and then forgotten, so the next caller tries again.
type onceMap[T any] struct {
	mu      sync.Mutex
	entries map[string]*onceEntry[T]
}

type onceEntry[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// f runs with the context of the caller that started it; a waiter whose
// own context is still live does not inherit that caller's cancellation,
// it tries again.
func (m *onceMap[T]) do(ctx context.Context, key string, f func() (T, error)) (T, error) {
	for {
		m.mu.Lock()
		if m.entries == nil {
			m.entries = map[string]*onceEntry[T]{}
		}
		e, ok := m.entries[key]
		if !ok {
			e = &onceEntry[T]{done: make(chan struct{})}
			m.entries[key] = e
			m.mu.Unlock()
			e.val, e.err = f()
			if e.err != nil {
				m.mu.Lock()
				delete(m.entries, key)
				m.mu.Unlock()
			}
			close(e.done)
			return e.val, e.err
		}
		m.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
		if e.err != nil && isContextErr(e.err) && ctx.Err() == nil {
			continue
		}
		return e.val, e.err
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
