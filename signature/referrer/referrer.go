// Package referrer stores signatures that live as OCI 1.1 referrers of the
// manifest they sign, one blob each under an empty "{}" config: notation's
// JWS envelopes and sigstore bundles. It pushes the config (once per
// repository), the signature blob and the manifest, and reads a referrer's
// one blob back with a size limit. How each format lays out its manifest,
// and what its blob holds, stays with the format; this package only moves
// the bytes and serialises signing per subject.
//
// A signature manifest deleted on a registry without the referrers API
// stays listed in the subject's sha256-<hex> tag index, so a listed
// referrer that is gone is an ordinary sight there: by
// registry.IsContentFault it verifies nothing and covers nothing. And when
// such a registry refuses to extend the tag index because it still lists a
// deleted signature, Push drops the deleted entries and pushes again.
//
// Imports: signature, registry (Locks, its errors, descriptor and manifest
// types), go-containerregistry's name and v1 types, and errgroup.
package referrer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
)

// Registry is what referrer storage needs from a registry client;
// *registry.Client satisfies it.
type Registry interface {
	Resolve(ctx context.Context, ref name.Reference) (registry.Descriptor, error)
	Manifest(ctx context.Context, ref name.Reference) (*registry.Manifest, error)
	Blob(ctx context.Context, repo name.Repository, digest v1.Hash, maxSize int64) ([]byte, error)
	BlobExists(ctx context.Context, repo name.Repository, digest v1.Hash) (bool, error)
	UploadBlob(ctx context.Context, repo name.Repository, digest v1.Hash, body []byte) error
	PushReferrer(ctx context.Context, repo name.Repository, manifest []byte, mediaType string, desc v1.Descriptor, subject v1.Hash) error
	ListReferrers(ctx context.Context, repo name.Repository, subject v1.Hash, artifactType string) ([]v1.Descriptor, error)
}

var _ Registry = (*registry.Client)(nil)

// tagIndexWriter is what dropping dangling entries from a referrers tag
// index takes beyond Registry. It is asked of a Registry by type assertion,
// so that Registry stays as small as what every other path needs.
type tagIndexWriter interface {
	PutManifest(ctx context.Context, ref name.Reference, mediaType string, body []byte) (registry.PutResult, error)
	DeleteManifest(ctx context.Context, repo name.Repository, digest v1.Hash) error
}

var _ tagIndexWriter = (*registry.Client)(nil)

// pushLocks serialises the pushes of one subject's referrers across every
// Store of the process (a notation and a bundle format on one registry
// client, say), since Push may rewrite the subject's tag index outside
// PushReferrer, whose own lock does not cover that.
var pushLocks registry.Locks

// emptyConfig is the config blob of every referrer a Store pushes: the OCI
// empty JSON object. Formats name it with their own media type.
var emptyConfig = []byte("{}")

// ConfigDescriptor describes the empty "{}" config blob Push uploads, with
// the media type the format gives its config.
func ConfigDescriptor(mediaType string) v1.Descriptor {
	return v1.Descriptor{MediaType: types.MediaType(mediaType), Size: int64(len(emptyConfig)), Digest: Digest(emptyConfig)}
}

// Digest returns the SHA-256 digest of b, which addresses every blob and
// manifest a Store writes.
func Digest(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// Store reads and writes referrer signatures through one registry client.
// It is safe for concurrent use.
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

// NewStore returns a Store over reg.
func NewStore(reg Registry) *Store { return &Store{reg: reg} }

// Lock serialises signing of one subject, so that two workers handed the
// same manifest (a child listed by two indexes) do not both sign it. It
// returns the function that releases the subject.
func (st *Store) Lock(s signature.Subject) (unlock func()) {
	return st.locks.Lock(s.Repo.String() + "@" + s.Digest.String())
}

// Push uploads the config and blob side by side, then pushes manifest, whose
// referrers-listing descriptor is desc, as a referrer of s. The blobs are
// independent; uploading them together hides one round trip per signature.
//
// When the registry refuses the updated tag index because it lists
// referrers whose manifests are gone, Push drops those entries and pushes
// once more; an entry it cannot check keeps the first failure.
func (st *Store) Push(ctx context.Context, s signature.Subject, blob, manifest []byte, desc v1.Descriptor) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := st.uploadConfig(gctx, s.Repo); err != nil {
			return fmt.Errorf("uploading the empty config blob to %s: %w", s.Repo, err)
		}
		return nil
	})
	g.Go(func() error {
		d := Digest(blob)
		if err := st.reg.UploadBlob(gctx, s.Repo, d, blob); err != nil {
			return fmt.Errorf("uploading blob %s to %s: %w", d, s.Repo, err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	unlock := pushLocks.Lock(s.Repo.String() + "@" + s.Digest.String())
	defer unlock()
	err := st.reg.PushReferrer(ctx, s.Repo, manifest, string(desc.MediaType), desc, s.Digest)
	if registry.IsRefusedReference(err) {
		// Registries refuse an index naming a manifest they lack
		// (distribution: 400 MANIFEST_BLOB_UNKNOWN; go-containerregistry:
		// 404), so one signature deleted from a registry without the
		// referrers API would block every later one of its subject.
		gone, perr := st.dropGone(ctx, s)
		switch {
		case perr != nil:
			err = fmt.Errorf("%w (dropping deleted referrers from the tag index: %w)", err, perr)
		case gone > 0:
			err = st.reg.PushReferrer(ctx, s.Repo, manifest, string(desc.MediaType), desc, s.Digest)
		}
	}
	if err != nil {
		return fmt.Errorf("pushing referrer %s: %w", desc.Digest, err)
	}
	return nil
}

// dropGone rewrites s's referrers tag index without the entries whose
// manifests the registry no longer has, and returns how many it dropped.
// Such an entry lists a signature that is gone, so dropping it loses
// nothing; an entry it cannot check (the registry failing) stops it, so
// that nothing live is dropped. The caller holds pushLocks for s.
func (st *Store) dropGone(ctx context.Context, s signature.Subject) (int, error) {
	w, ok := st.reg.(tagIndexWriter)
	if !ok {
		return 0, nil
	}
	tag := s.Repo.Tag(registry.ReferrersTag(s.Digest))
	m, err := st.reg.Manifest(ctx, tag)
	if registry.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(m.Body, &idx); err != nil || (idx.MediaType != types.OCIImageIndex && m.MediaType != string(types.OCIImageIndex)) {
		return 0, nil // not an index signet writes: left alone
	}
	kept := make([]v1.Descriptor, 0, len(idx.Manifests))
	for _, d := range idx.Manifests {
		_, err := st.reg.Resolve(ctx, s.Repo.Digest(d.Digest.String()))
		switch {
		case err == nil:
			kept = append(kept, d)
		case registry.IsNotFound(err):
		default:
			return 0, fmt.Errorf("checking %s listed in %s: %w", d.Digest, tag, err)
		}
	}
	gone := len(idx.Manifests) - len(kept)
	if gone == 0 {
		return 0, nil
	}
	idx.MediaType, idx.Manifests = types.OCIImageIndex, kept
	body, err := json.Marshal(idx)
	if err != nil {
		return 0, fmt.Errorf("encoding %s: %w", tag, err)
	}
	put, err := w.PutManifest(ctx, tag, string(types.OCIImageIndex), body)
	if err != nil {
		return 0, fmt.Errorf("writing %s without %d deleted referrer(s): %w", tag, gone, err)
	}
	if put.Digest != m.Digest {
		// Housekeeping only, as after every index update: registries that
		// refuse deletes keep the old index untagged until collected.
		_ = w.DeleteManifest(ctx, s.Repo, m.Digest)
	}
	return gone, nil
}

// Fetch reads referrer d of s and returns its signature blob: the layer
// layerOf picks from the manifest (checking the manifest's shape on the
// way), at most maxSize bytes. An error of layerOf is returned wrapped, so
// the format's own sentinels still match; a blob that does not hash to its
// digest wraps registry.ErrDigestMismatch (tampered in the registry); other
// errors are the registry's.
func (st *Store) Fetch(ctx context.Context, s signature.Subject, d v1.Descriptor, maxSize int64, layerOf func(manifest []byte) (v1.Descriptor, error)) ([]byte, error) {
	m, err := st.reg.Manifest(ctx, s.Repo.Digest(d.Digest.String()))
	if err != nil {
		return nil, fmt.Errorf("reading referrer %s of %s: %w", d.Digest, s.Name(), err)
	}
	layer, err := layerOf(m.Body)
	if err != nil {
		return nil, fmt.Errorf("referrer %s: %w", d.Digest, err)
	}
	b, err := st.reg.Blob(ctx, s.Repo, layer.Digest, maxSize)
	if err != nil {
		return nil, fmt.Errorf("reading blob %s of referrer %s: %w", layer.Digest, d.Digest, err)
	}
	return b, nil
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

// ensureBlob uploads b to repo unless the registry has it. The HEAD is
// cheaper than an upload, and it keeps signet from rewriting a shared blob
// (and distribution its repository link) while another writer's manifest
// PUT checks that blob.
func ensureBlob(ctx context.Context, reg Registry, repo name.Repository, b []byte) error {
	d := Digest(b)
	if ok, err := reg.BlobExists(ctx, repo, d); err == nil && ok {
		return nil
	}
	return reg.UploadBlob(ctx, repo, d, b)
}
