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
	BlobExists(ctx context.Context, repo name.Repository, digest v1.Hash) (bool, error)
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

	sharedConfig bool
	configsMu    sync.Mutex
	configs      map[string]*repoConfig
	// configAt is, per registry, a repository known to hold the shared
	// config: later repositories mount it from there instead of
	// uploading it again.
	configAt map[string]name.Repository
}

// blobMounter is what *registry.Client offers beyond Registry to copy a
// blob between repositories of one registry without uploading it.
type blobMounter interface {
	UploadBlobFrom(ctx context.Context, repo name.Repository, digest v1.Hash, body []byte, from name.Repository) error
}

// repoConfig records that the shared config blob is in a repository.
type repoConfig struct {
	mu   sync.Mutex // held while uploading, so concurrent first writers wait
	done bool
}

// repoTags is one listing of a repository's tags, kept current with the
// store's own writes, so that the common case of a manifest with no
// attachment yet costs no probe for its tag.
type repoTags struct {
	once sync.Once
	err  error
	mu   sync.Mutex
	set  map[attKey]struct{}
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

// WithSharedConfig makes every new attachment (a tag that holds no
// attachment yet) use one config blob, put in each repository once by this
// Store (uploaded to the first repository of a registry, mounted into the
// others), instead of a config naming its own layer: a signature then costs
// one blob upload (its payload) rather than two, which is what a registry
// that stores blobs on disk spends most on. Appends to an existing
// attachment still write the exact config (Attachment.Config).
//
// The shared config is go-containerregistry's empty image config with one
// history entry and one diff_id, a placeholder (see sharedConfigBlob).
// Verifiers never read the config; what reads it is an append, and cosign
// v2/v3 and podman append to such an attachment and verify the result
// (TestSharedConfigInterop). The cost is that the config no longer lists
// the layer's own digest, which tools validating images as container images
// (crane validate) would flag. Off by default: without it signet's bytes
// are cosign's for the same layer.
func WithSharedConfig() StoreOption { return func(s *Store) { s.sharedConfig = true } }

// NewStore returns a Store over reg.
func NewStore(reg Registry, opts ...StoreOption) *Store {
	s := &Store{reg: reg, repoTags: map[string]*repoTags{}, maxLayers: 1000,
		configs: map[string]*repoConfig{}, configAt: map[string]name.Repository{}}
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
// would; Append then leaves the attachment as it is. An error means the
// layer could not be checked (its payload could not be read, say), which is
// no answer either way.
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
// already does the job. covered may be nil. The only layers it drops are
// those whose payload blob is gone, when the registry refuses the manifest
// for naming them (putWithoutGone).
//
// A layer covered cannot check does not stop the others from being
// checked, as one of them may cover l; but when none does, Append fails
// rather than writes: the unchecked layer may be the very signature l
// would repeat, and a failure that persists would otherwise add one more
// copy on every run.
func (s *Store) Append(ctx context.Context, repo name.Repository, subject v1.Hash, suffix string, l Layer, covered Covered) (AppendResult, error) {
	tag := repo.Tag(Tag(subject, suffix))
	res := AppendResult{Tag: tag}
	unlock := s.locks.Lock(tag.String())
	defer unlock()

	att := &Attachment{}
	probe, err := s.mayExist(ctx, repo, subject, suffix)
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
				var unchecked []error
				for i := range att.Layers {
					ok, err := covered(ctx, &att.Layers[i])
					if err != nil {
						if ctx.Err() != nil {
							return res, fmt.Errorf("checking %s for an existing signature: %w", tag, err)
						}
						unchecked = append(unchecked, err)
						continue
					}
					if ok {
						res.Digest, res.Skipped, res.Layers = m.Digest, true, len(att.Layers)
						return res, nil
					}
				}
				if len(unchecked) > 0 {
					return res, fmt.Errorf("checking %s for an existing signature: %d of %d layers could not be checked: %w",
						tag, len(unchecked), len(att.Layers), registry.JoinErrors(unchecked))
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
	shared := s.sharedConfig && len(att.Layers) == 1
	var config []byte
	if shared {
		config = sharedConfigBlob
	} else {
		config = att.Config()
	}
	manifest, err := att.Manifest(config)
	if err != nil {
		return res, fmt.Errorf("encoding %s: %w", tag, err)
	}

	uploadConfig := func(ctx context.Context) error {
		if shared {
			return s.ensureSharedConfig(ctx, repo, tag)
		}
		if err := s.reg.UploadBlob(ctx, repo, NewLayer("", config, nil).Digest, config); err != nil {
			return fmt.Errorf("uploading config of %s: %w", tag, err)
		}
		return nil
	}
	uploadPayload := func(ctx context.Context) error {
		if err := s.reg.UploadBlob(ctx, repo, l.Digest, l.Payload); err != nil {
			return fmt.Errorf("uploading payload of %s: %w", tag, err)
		}
		return nil
	}
	switch {
	case payloadKnown:
		err = uploadConfig(ctx)
	case shared && s.sharedConfigReady(repo):
		// The common case of a batch: the repository's config is there,
		// the payload is the only blob.
		err = uploadPayload(ctx)
	default:
		// The two blobs are independent; uploading them side by side
		// hides one round trip of latency on a distant registry.
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return uploadConfig(gctx) })
		g.Go(func() error { return uploadPayload(gctx) })
		err = g.Wait()
	}
	if err != nil {
		return res, err
	}
	put, err := s.reg.PutManifest(ctx, tag, string(types.OCIManifestSchema1), manifest)
	if registry.IsRefusedReference(err) && len(att.Layers) > 1 {
		// Registries that check blobs (distribution: 400
		// MANIFEST_BLOB_UNKNOWN) refuse a manifest naming a layer whose
		// blob is gone, so one deleted blob would stop every later
		// signature of the subject.
		put, err = s.putWithoutGone(ctx, repo, tag, att, payloadKnown, err)
	}
	if err != nil {
		return res, fmt.Errorf("writing %s: %w", tag, err)
	}
	s.remember(repo, subject, suffix)
	res.Digest, res.Layers = put.Digest, len(att.Layers)
	return res, nil
}

// putWithoutGone writes att, whose last layer is the one Append adds, once
// more after the registry refused it (refusal), without the layers whose
// payload blob repo no longer has: no verifier can read such a layer, so
// dropping it loses nothing. The new layer's payload is uploaded when
// Append relied on another layer's copy of it (reused), which may be the
// gone blob. A blob that cannot be checked (the registry failing) stops
// it, so that nothing verifiable is dropped; when no blob is missing, the
// refusal stands.
func (s *Store) putWithoutGone(ctx context.Context, repo name.Repository, tag name.Tag, att *Attachment, reused bool, refusal error) (registry.PutResult, error) {
	last := len(att.Layers) - 1
	l := att.Layers[last]
	changed := false
	if reused {
		if err := s.reg.UploadBlob(ctx, repo, l.Digest, l.Payload); err != nil {
			return registry.PutResult{}, fmt.Errorf("uploading the payload again: %w (after %w)", err, refusal)
		}
		changed = true
	}
	present := map[v1.Hash]bool{l.Digest: true}
	kept := make([]Layer, 0, len(att.Layers))
	for _, e := range att.Layers[:last] {
		ok, checked := present[e.Digest]
		if !checked {
			var err error
			if ok, err = s.reg.BlobExists(ctx, repo, e.Digest); err != nil {
				// The check's failure comes first: IsTemporary judges by
				// it, and a later run may get an answer.
				return registry.PutResult{}, fmt.Errorf("checking the payload of layer %s: %w (after %w)", e.Digest, err, refusal)
			}
			present[e.Digest] = ok
		}
		if ok {
			kept = append(kept, e)
		} else {
			changed = true
		}
	}
	if !changed {
		return registry.PutResult{}, refusal
	}
	att.Layers = append(kept, l)
	config := att.Config()
	if err := s.reg.UploadBlob(ctx, repo, NewLayer("", config, nil).Digest, config); err != nil {
		return registry.PutResult{}, fmt.Errorf("uploading config of %s: %w", tag, err)
	}
	manifest, err := att.Manifest(config)
	if err != nil {
		return registry.PutResult{}, fmt.Errorf("encoding %s: %w", tag, err)
	}
	return s.reg.PutManifest(ctx, tag, string(types.OCIManifestSchema1), manifest)
}

// SameKey returns the dedupe rule for signatures, cosign's (its
// dupeDetector) but for the identity and for certificates: an existing
// simple-signing layer covers the new one when it carries the certificate
// and chain newLayer carries, or none when newLayer carries none, verifies
// with pub and vouches for subject. The identity the payload names is
// ignored, so a manifest is signed once per key and certificate however
// many tags point at it.
//
// The certificate matters both ways. Verifiers that trust a certificate
// rather than a bare key accept only a layer carrying one they trust:
// after a first certificate for a key, or a renewed one, the new layer is
// the only one that verifies, and must be written. And a verifier of the
// bare key does not ignore a certificate the layer carries: cosign v2 and
// v3 verify --key check its validity dates and, offline, reject a layer
// whose certificate has expired ("expected a signed timestamp to verify an
// expired certificate"), so a layer with a certificate stops covering a
// bare-key signature the day the certificate expires. So a bare-key
// signature is covered only by a bare-key layer, where cosign's rule lets
// a layer with a certificate cover one without. Annotations the new layer
// lacks, such as a Rekor bundle, only add to the existing layer. A missing
// chain annotation equals an empty one, which cosign tells apart: both
// mean "no intermediates" to every verifier.
//
// A layer whose payload the registry lacks, serves over MaxPayloadSize or
// serves under another digest covers nothing, since no verifier can use it
// either; any other failure to read it is an error (see Append).
func (s *Store) SameKey(repo name.Repository, pub crypto.PublicKey, subject v1.Hash, newLayer Layer) Covered {
	cert, chain := newLayer.Annotations[CertificateAnnotation], newLayer.Annotations[ChainAnnotation]
	return func(ctx context.Context, e *Layer) (bool, error) {
		// Everything that needs no payload first: layers of another
		// certificate are ruled out without a request.
		if e.MediaType != SimpleSigningMediaType || e.Signature() == "" {
			return false, nil
		}
		if e.Annotations[CertificateAnnotation] != cert || (cert != "" && e.Annotations[ChainAnnotation] != chain) {
			return false, nil
		}
		if e.Digest == newLayer.Digest {
			// Same content address, same payload: no need to fetch it.
			e.Payload = newLayer.Payload
		} else if guessPayload(e, Payload(repo.Name(), subject, nil)) {
			// cosign's own payload for this subject (a repository-only
			// identity): no need to fetch it either.
		} else if err := s.FetchPayload(ctx, repo, e); err != nil {
			if registry.IsContentFault(err) {
				return false, nil
			}
			return false, err
		}
		_, err := VerifyLayer(pub, *e, subject)
		return err == nil, nil
	}
}

// attKey names an attachment tag by the subject's digest and the suffix.
// It holds the subject's own hex string (or a slice of the listed tag), so
// remembering the tags a batch writes costs no string per signature.
type attKey struct{ hex, suffix string }

// mayExist reports whether the subject's attachment tag might exist in
// repo, consulting the repository's tag listing when the store keeps one.
func (s *Store) mayExist(ctx context.Context, repo name.Repository, subject v1.Hash, suffix string) (bool, error) {
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
		rt.set = make(map[attKey]struct{}, len(tags))
		for _, t := range tags {
			if IsAttachmentTag(t) {
				// "sha256-" + 64 hex + "." + suffix
				rt.set[attKey{hex: t[7:71], suffix: t[72:]}] = struct{}{}
			}
		}
	})
	if rt.err != nil {
		// A failed listing is not cached as truth: fall back to probing.
		return true, nil
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	_, ok := rt.set[attKey{subject.Hex, suffix}]
	return ok, nil
}

func (s *Store) remember(repo name.Repository, subject v1.Hash, suffix string) {
	if !s.listTags {
		return
	}
	rt := s.tags(repo)
	rt.mu.Lock()
	if rt.set != nil {
		rt.set[attKey{subject.Hex, suffix}] = struct{}{}
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

// sharedConfigBlob is the config of new attachments under WithSharedConfig:
// go-containerregistry's empty image config, as cosign writes it, with one
// history entry and one diff_id, like a one-layer attachment's.
//
// Why one diff_id, and why this one: no verifier reads the config (cosign,
// podman), but appending tools do. cosign v2.6 (go-containerregistry
// v0.20) finds the blobs to push through the config: a diff_id it did not
// just add is mapped to the manifest layer at the same position
// (partial.DiffIDToBlob), which fails with "mismatched fs layers (2) and
// diff ids (1)" unless the list has one entry per layer; it never looks a
// diff_id up as a blob. cosign v3.1 (v0.21) walks the manifest's layers by
// digest instead, and podman appends to diff_ids without reading them. The
// placeholder is the digest of empty content, which no signature payload
// can have, so a later diff_id never equals it and positions stay right.
var sharedConfigBlob = []byte(`{"architecture":"","created":"` + emptyTime + `","history":[{"created":"` + emptyTime + `"}],"os":"","rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},"config":{}}`)

var sharedConfigDigest = NewLayer("", sharedConfigBlob, nil).Digest

func (s *Store) configState(repo name.Repository) *repoConfig {
	s.configsMu.Lock()
	defer s.configsMu.Unlock()
	rc := s.configs[repo.String()]
	if rc == nil {
		rc = &repoConfig{}
		s.configs[repo.String()] = rc
	}
	return rc
}

// sharedConfigReady reports whether the shared config is known to be in
// repo.
func (s *Store) sharedConfigReady(repo name.Repository) bool {
	rc := s.configState(repo)
	if !rc.mu.TryLock() {
		return false // being uploaded: wait for it through ensureSharedConfig
	}
	defer rc.mu.Unlock()
	return rc.done
}

// ensureSharedConfig puts the shared config in repo once per Store: it is
// uploaded to the first repository of a registry and mounted from there
// into the others (one request, no upload, where the registry mounts).
// Concurrent callers wait for the one upload; a failure is not remembered,
// so the next caller tries again.
func (s *Store) ensureSharedConfig(ctx context.Context, repo name.Repository, tag name.Tag) error {
	rc := s.configState(repo)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.done {
		return nil
	}
	s.configsMu.Lock()
	from, mountable := s.configAt[repo.RegistryStr()]
	s.configsMu.Unlock()
	var err error
	if m, ok := s.reg.(blobMounter); ok && mountable {
		err = m.UploadBlobFrom(ctx, repo, sharedConfigDigest, sharedConfigBlob, from)
	} else {
		err = s.reg.UploadBlob(ctx, repo, sharedConfigDigest, sharedConfigBlob)
	}
	if err != nil {
		return fmt.Errorf("uploading the shared config of %s (for %s): %w", repo, tag, err)
	}
	rc.done = true
	s.configsMu.Lock()
	if _, ok := s.configAt[repo.RegistryStr()]; !ok {
		s.configAt[repo.RegistryStr()] = repo
	}
	s.configsMu.Unlock()
	return nil
}
