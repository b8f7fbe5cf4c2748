package notation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
)

// Registry is what notation storage needs from a registry client;
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

// Store reads and writes notation signatures of one registry client.
type Store struct {
	reg   Registry
	locks registry.Locks

	configMu sync.Mutex
	config   map[string]*upload // by repository: the "{}" config blob
}

// upload is one blob upload that concurrent signers share; done is closed
// when err is set.
type upload struct {
	done chan struct{}
	err  error
}

// uploadConfig uploads the "{}" config blob to repo once per Store: every
// signature shares it, and distribution answers concurrent uploads of one
// blob followed by manifest PUTs with spurious DIGEST_INVALID errors. A
// failed upload is forgotten, so the next signature tries again.
func (st *Store) uploadConfig(ctx context.Context, repo name.Repository) error {
	key := repo.String()
	st.configMu.Lock()
	if st.config == nil {
		st.config = map[string]*upload{}
	}
	u, ok := st.config[key]
	if !ok {
		u = &upload{done: make(chan struct{})}
		st.config[key] = u
	}
	st.configMu.Unlock()
	if ok {
		select {
		case <-u.done:
			if u.err == nil {
				return nil
			}
			return st.uploadConfig(ctx, repo) // the failed entry is gone by now
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	u.err = ensureBlob(ctx, st.reg, repo, emptyConfig)
	if u.err != nil {
		st.configMu.Lock()
		delete(st.config, key)
		st.configMu.Unlock()
	}
	close(u.done)
	return u.err
}

// NewStore returns a Store over reg.
func NewStore(reg Registry) *Store { return &Store{reg: reg} }

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
	ann := d.Annotations
	if _, ok := ann[ThumbprintAnnotation]; !ok {
		m, err := st.reg.Manifest(ctx, s.Repo.Digest(d.Digest.String()))
		if err != nil {
			return nil, fmt.Errorf("reading notation signature %s of %s: %w", d.Digest, s.Name(), err)
		}
		pm, err := parseSignatureManifest(m.Body)
		if err != nil {
			return nil, nil // not a signature signet can read: never "the same"
		}
		ann = pm.annotations
	}
	var tp []string
	if err := json.Unmarshal([]byte(ann[ThumbprintAnnotation]), &tp); err != nil {
		return nil, nil
	}
	for i := range tp {
		tp[i] = strings.ToLower(tp[i])
	}
	return tp, nil
}

// Envelope fetches the envelope of the signature manifest d, checking the
// manifest's shape on the way. Errors from the manifest's content wrap
// ErrMalformed; registry errors do not.
func (st *Store) Envelope(ctx context.Context, s signature.Subject, d v1.Descriptor) ([]byte, error) {
	m, err := st.reg.Manifest(ctx, s.Repo.Digest(d.Digest.String()))
	if err != nil {
		return nil, fmt.Errorf("reading notation signature %s of %s: %w", d.Digest, s.Name(), err)
	}
	pm, err := parseSignatureManifest(m.Body)
	if err != nil {
		return nil, fmt.Errorf("signature manifest %s: %w", d.Digest, err)
	}
	env, err := st.reg.Blob(ctx, s.Repo, pm.envelope.Digest, MaxEnvelopeSize)
	if errors.Is(err, registry.ErrDigestMismatch) {
		return nil, fmt.Errorf("%w: envelope %s of signature %s: %w", ErrTampered, pm.envelope.Digest, d.Digest, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading envelope %s of signature %s: %w", pm.envelope.Digest, d.Digest, err)
	}
	return env, nil
}

// Push uploads the config and envelope blobs of sm, then the manifest, as
// a referrer of s.
func (st *Store) Push(ctx context.Context, s signature.Subject, sm *SignatureManifest) error {
	// The blobs are independent; uploading them side by side hides one
	// round trip per signature.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := st.uploadConfig(gctx, s.Repo); err != nil {
			return fmt.Errorf("uploading notation config blob to %s: %w", s.Repo, err)
		}
		return nil
	})
	g.Go(func() error {
		if err := st.reg.UploadBlob(gctx, s.Repo, sha256Hash(sm.Envelope), sm.Envelope); err != nil {
			return fmt.Errorf("uploading notation envelope for %s: %w", s.Name(), err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if err := st.reg.PushReferrer(ctx, s.Repo, sm.Body, string(types.OCIManifestSchema1), sm.Descriptor, s.Digest); err != nil {
		return fmt.Errorf("pushing notation signature for %s: %w", s.Name(), err)
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

// lock serialises signing of one subject, so that two workers handed the
// same manifest (a child listed by two indexes) do not both sign it.
func (st *Store) lock(s signature.Subject) func() {
	return st.locks.Lock(s.Repo.String() + "@" + s.Digest.String())
}
