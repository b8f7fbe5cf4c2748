package cosign

import (
	"context"
	"crypto"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/registry"
)

// MaxPayloadSize bounds a signature payload read from a registry, as
// containers/image does (4 MiB per signature).
const MaxPayloadSize = 4 << 20

// Registry is what attachment storage needs from a registry client;
// *registry.Client satisfies it.
type Registry interface {
	Manifest(ctx context.Context, ref name.Reference) (*registry.Manifest, error)
	PutManifest(ctx context.Context, ref name.Reference, mediaType string, body []byte) (registry.PutResult, error)
	Blob(ctx context.Context, repo name.Repository, digest v1.Hash, maxSize int64) ([]byte, error)
	UploadBlob(ctx context.Context, repo name.Repository, digest v1.Hash, body []byte) error
	Tags(ctx context.Context, repo name.Repository) ([]string, error)
}

// Store reads and appends cosign attachments (.sig, .att) on a registry.
// Appends to one tag are serialised inside the process; across processes
// the registry offers no compare-and-swap, which is why cosign moved
// bundles to referrers (sigstore/cosign#4496).
type Store struct {
	reg       Registry
	locks     registry.Locks
	listTags  bool
	tagsMu    sync.Mutex
	repoTags  map[string]*repoTags
	maxLayers int
}

// repoTags is one listing of a repository's tags, kept current with the
// store's own writes, so that the common case of a manifest with no
// attachment yet costs no probe for its tag.
type repoTags struct {
	once sync.Once
	err  error
	mu   sync.Mutex
	set  map[string]struct{}
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithTagListing makes the store list each repository's tags once, on first
// use, and skip the manifest GET for attachment tags the listing lacks. One
// listing per repository replaces one probe per signature; the cost is that
// an attachment written by another process after the listing is
// overwritten rather than appended to, so use it for batch runs that own
// their catalog. Off by default.
func WithTagListing() StoreOption { return func(s *Store) { s.listTags = true } }

// NewStore returns a Store over reg.
func NewStore(reg Registry, opts ...StoreOption) *Store {
	s := &Store{reg: reg, repoTags: map[string]*repoTags{}, maxLayers: 1000}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Fetch reads the attachment of subject with the given suffix. It returns
// nil and no error when there is none. Layer payloads are not fetched; use
// FetchPayload.
func (s *Store) Fetch(ctx context.Context, repo name.Repository, subject v1.Hash, suffix string) (*Attachment, error) {
	tag := repo.Tag(Tag(subject, suffix))
	m, err := s.reg.Manifest(ctx, tag)
	if registry.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	a, err := ParseAttachment(m.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	return a, nil
}

// FetchPayload fills l.Payload from the registry unless it is already set.
func (s *Store) FetchPayload(ctx context.Context, repo name.Repository, l *Layer) error {
	if l.Payload != nil {
		return nil
	}
	b, err := s.reg.Blob(ctx, repo, l.Digest, MaxPayloadSize)
	if err != nil {
		return fmt.Errorf("reading payload %s from %s: %w", l.Digest, repo, err)
	}
	l.Payload = b
	return nil
}

// Covered decides whether an existing layer already does what a new one
// would; Append then leaves the attachment as it is.
type Covered func(ctx context.Context, existing *Layer) (bool, error)

// AppendResult says what Append did.
type AppendResult struct {
	// Tag is the attachment tag written or found.
	Tag name.Tag
	// Digest is the attachment manifest's digest after the call.
	Digest v1.Hash
	// Skipped is true when an existing layer covered the new one.
	Skipped bool
	// Layers is the number of layers in the attachment after the call.
	Layers int
}

// Append adds l to the attachment of subject, keeping every existing layer
// (other signers' included), unless covered reports that an existing layer
// already does the job. covered may be nil.
func (s *Store) Append(ctx context.Context, repo name.Repository, subject v1.Hash, suffix string, l Layer, covered Covered) (AppendResult, error) {
	tag := repo.Tag(Tag(subject, suffix))
	res := AppendResult{Tag: tag}
	unlock := s.locks.Lock(tag.String())
	defer unlock()

	att := &Attachment{}
	probe, err := s.mayExist(ctx, repo, tag.TagStr())
	if err != nil {
		return res, err
	}
	if probe {
		m, err := s.reg.Manifest(ctx, tag)
		switch {
		case registry.IsNotFound(err):
		case err != nil:
			return res, fmt.Errorf("reading %s: %w", tag, err)
		default:
			if att, err = ParseAttachment(m.Body); err != nil {
				return res, fmt.Errorf("reading %s: %w", tag, err)
			}
			if covered != nil {
				for i := range att.Layers {
					ok, err := covered(ctx, &att.Layers[i])
					if err != nil {
						return res, fmt.Errorf("checking %s for an existing signature: %w", tag, err)
					}
					if ok {
						res.Digest, res.Skipped, res.Layers = m.Digest, true, len(att.Layers)
						return res, nil
					}
				}
			}
		}
	}
	if len(att.Layers) >= s.maxLayers {
		return res, fmt.Errorf("%s already holds %d layers, cosign's limit", tag, len(att.Layers))
	}
	payloadKnown := false
	for _, e := range att.Layers {
		if e.Digest == l.Digest {
			payloadKnown = true
		}
	}
	att.Layers = append(att.Layers, l)
	config := att.Config()
	manifest, err := att.Manifest(config)
	if err != nil {
		return res, fmt.Errorf("encoding %s: %w", tag, err)
	}

	// The two blobs are independent; uploading them side by side hides one
	// round trip of latency per signature on a distant registry.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		cd := NewLayer("", config, nil).Digest
		if err := s.reg.UploadBlob(gctx, repo, cd, config); err != nil {
			return fmt.Errorf("uploading config of %s: %w", tag, err)
		}
		return nil
	})
	if !payloadKnown {
		g.Go(func() error {
			if err := s.reg.UploadBlob(gctx, repo, l.Digest, l.Payload); err != nil {
				return fmt.Errorf("uploading payload of %s: %w", tag, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	put, err := s.reg.PutManifest(ctx, tag, string(types.OCIManifestSchema1), manifest)
	if err != nil {
		return res, fmt.Errorf("writing %s: %w", tag, err)
	}
	s.remember(repo, tag.TagStr())
	res.Digest, res.Layers = put.Digest, len(att.Layers)
	return res, nil
}

// SameKey returns the dedupe rule for signatures: an existing simple-signing
// layer covers the new one when it verifies with pub and vouches for
// subject, whatever identity it names. It makes signing with the same key a
// no-op, one signature per manifest per key, however many tags point at it.
func (s *Store) SameKey(repo name.Repository, pub crypto.PublicKey, subject v1.Hash, newLayer Layer) Covered {
	return func(ctx context.Context, e *Layer) (bool, error) {
		if e.MediaType != SimpleSigningMediaType || e.Signature() == "" {
			return false, nil
		}
		if e.Digest == newLayer.Digest {
			// Same content address, same payload: no need to fetch it.
			e.Payload = newLayer.Payload
		} else if err := s.FetchPayload(ctx, repo, e); err != nil {
			return false, err
		}
		_, err := VerifyLayer(pub, *e, subject)
		return err == nil, nil
	}
}

// mayExist reports whether tag might exist in repo, consulting the
// repository's tag listing when the store keeps one.
func (s *Store) mayExist(ctx context.Context, repo name.Repository, tag string) (bool, error) {
	if !s.listTags {
		return true, nil
	}
	rt := s.tags(repo)
	rt.once.Do(func() {
		tags, err := s.reg.Tags(ctx, repo)
		if err != nil {
			rt.err = fmt.Errorf("listing tags of %s: %w", repo, err)
			return
		}
		rt.set = make(map[string]struct{}, len(tags))
		for _, t := range tags {
			if IsAttachmentTag(t) {
				rt.set[t] = struct{}{}
			}
		}
	})
	if rt.err != nil {
		// A failed listing is not cached as truth: fall back to probing.
		return true, nil
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	_, ok := rt.set[tag]
	return ok, nil
}

func (s *Store) remember(repo name.Repository, tag string) {
	if !s.listTags {
		return
	}
	rt := s.tags(repo)
	rt.mu.Lock()
	if rt.set != nil {
		rt.set[tag] = struct{}{}
	}
	rt.mu.Unlock()
}

func (s *Store) tags(repo name.Repository) *repoTags {
	s.tagsMu.Lock()
	defer s.tagsMu.Unlock()
	rt := s.repoTags[repo.String()]
	if rt == nil {
		rt = &repoTags{}
		s.repoTags[repo.String()] = rt
	}
	return rt
}
