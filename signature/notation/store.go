package notation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/referrer"
)

// Registry is what notation storage needs from a registry client;
// *registry.Client satisfies it.
type Registry = referrer.Registry

// Store reads and writes notation signatures of one registry client.
type Store struct {
	reg  Registry
	refs *referrer.Store
}

// NewStore returns a Store over reg.
func NewStore(reg Registry) *Store { return &Store{reg: reg, refs: referrer.NewStore(reg)} }

// List returns the descriptors of s's notation signatures, through the
// referrers API or its tag fallback.
func (st *Store) List(ctx context.Context, s signature.Subject) ([]v1.Descriptor, error) {
	ds, err := st.reg.ListReferrers(ctx, s.Repo, s.Digest, ArtifactType)
	if err != nil {
		return nil, fmt.Errorf("listing notation signatures of %s: %w", s.Name(), err)
	}
	return ds, nil
}

// Thumbprints returns the certificate thumbprints a signature manifest
// names, taken from its listing descriptor or, when the listing leaves
// annotations out, from the manifest itself. Hex is lower-cased: the spec's
// examples use upper case, notation-go writes lower case.
func (st *Store) Thumbprints(ctx context.Context, s signature.Subject, d v1.Descriptor) ([]string, error) {
	ann, _, err := st.annotations(ctx, s, d)
	if errors.Is(err, ErrMalformed) {
		return nil, nil // not a signature signet can read: never "the same"
	}
	if err != nil {
		return nil, err
	}
	return thumbprints(ann), nil
}

// annotations returns the annotations of signature manifest d: the
// listing's, or, when the listing leaves them out, the manifest's, which is
// then returned too, so that its envelope can be read without reading it
// again. A manifest that is not a notation signature is ErrMalformed.
func (st *Store) annotations(ctx context.Context, s signature.Subject, d v1.Descriptor) (map[string]string, *parsedManifest, error) {
	if _, ok := d.Annotations[ThumbprintAnnotation]; ok {
		return d.Annotations, nil, nil
	}
	m, err := st.reg.Manifest(ctx, s.Repo.Digest(d.Digest.String()))
	if err != nil {
		return nil, nil, fmt.Errorf("reading notation signature %s of %s: %w", d.Digest, s.Name(), err)
	}
	pm, err := parseSignatureManifest(m.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("notation signature %s: %w", d.Digest, err)
	}
	return pm.annotations, pm, nil
}

// present checks with one HEAD that signature manifest d of s is still in
// the registry; an error for which registry.IsContentFault holds means it
// is not.
func (st *Store) present(ctx context.Context, s signature.Subject, d v1.Descriptor) error {
	if _, err := st.reg.Resolve(ctx, s.Repo.Digest(d.Digest.String())); err != nil {
		return fmt.Errorf("checking notation signature %s of %s: %w", d.Digest, s.Name(), err)
	}
	return nil
}

// thumbprints decodes ThumbprintAnnotation, lower-casing the hex; nil when
// it is missing or not a JSON array of strings.
func thumbprints(ann map[string]string) []string {
	var tp []string
	if err := json.Unmarshal([]byte(ann[ThumbprintAnnotation]), &tp); err != nil {
		return nil
	}
	for i := range tp {
		tp[i] = strings.ToLower(tp[i])
	}
	return tp
}

// Envelope fetches the envelope of the signature manifest d, checking the
// manifest's shape on the way. Errors from the manifest's content wrap
// ErrMalformed or ErrTampered; registry errors do not.
func (st *Store) Envelope(ctx context.Context, s signature.Subject, d v1.Descriptor) ([]byte, error) {
	env, err := st.refs.Fetch(ctx, s, d, MaxEnvelopeSize, func(manifest []byte) (v1.Descriptor, error) {
		pm, err := parseSignatureManifest(manifest)
		if err != nil {
			return v1.Descriptor{}, err
		}
		return pm.envelope, nil
	})
	if errors.Is(err, registry.ErrDigestMismatch) {
		return nil, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	return env, err
}

// envelopeOf is Envelope, reading only the blob when the manifest, pm, has
// been read already.
func (st *Store) envelopeOf(ctx context.Context, s signature.Subject, d v1.Descriptor, pm *parsedManifest) ([]byte, error) {
	if pm == nil {
		return st.Envelope(ctx, s, d)
	}
	env, err := st.reg.Blob(ctx, s.Repo, pm.envelope.Digest, MaxEnvelopeSize)
	if err != nil {
		err = fmt.Errorf("reading envelope %s of notation signature %s: %w", pm.envelope.Digest, d.Digest, err)
		if errors.Is(err, registry.ErrDigestMismatch) {
			err = fmt.Errorf("%w: %w", ErrTampered, err)
		}
		return nil, err
	}
	return env, nil
}

// Push uploads the config and envelope blobs of sm, then the manifest, as
// a referrer of s.
func (st *Store) Push(ctx context.Context, s signature.Subject, sm *SignatureManifest) error {
	if err := st.refs.Push(ctx, s, sm.Envelope, sm.Body, sm.Descriptor); err != nil {
		return fmt.Errorf("pushing notation signature for %s: %w", s.Name(), err)
	}
	return nil
}
