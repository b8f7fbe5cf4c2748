package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// referrerFields are the parts of a referrer manifest the referrers tag
// index repeats in its descriptor.
type referrerFields struct {
	ArtifactType string `json:"artifactType"`
	Config       struct {
		MediaType string `json:"mediaType"`
	} `json:"config"`
	Subject     *v1.Descriptor    `json:"subject"`
	Annotations map[string]string `json:"annotations"`
}

// PushReferrer stores manifest, a referrer of subject (its "subject" field
// must name subject), in repo by digest, and makes sure a referrers listing
// finds it: a registry that answers the PUT with OCI-Subject has indexed it
// itself; otherwise the tag index ReferrersTag(subject) is read, extended
// and written back, the way oras-go does (notation-format.md §3).
//
// desc describes the referrer for the tag index. Its MediaType, Digest and
// Size, when set, must match manifest and mediaType; its ArtifactType
// defaults to the manifest's artifactType or else its config media type,
// and its Annotations to the manifest's. A referrer the index already lists
// is not added twice.
//
// Index updates for one subject are serialised inside the process (the
// registry offers no compare-and-swap, so concurrent read-modify-writes
// would lose entries); across processes they remain racy, as with every
// tool using the fallback. After writing a new index, the old one is
// deleted by digest so untagged indexes do not pile up. That delete is
// housekeeping only: registries that refuse deletes (405 UNSUPPORTED on
// GHCR or with deletion disabled) or fail it are ignored, and the push
// still succeeds, as notation-go does; registry garbage collection removes
// what is left.
func (c *Client) PushReferrer(ctx context.Context, repo name.Repository, manifest []byte, mediaType string, desc v1.Descriptor, subject v1.Hash) error {
	var f referrerFields
	if err := json.Unmarshal(manifest, &f); err != nil {
		return fmt.Errorf("pushing referrer of %s to %s: decoding manifest: %w", subject, repo, err)
	}
	if f.Subject == nil || f.Subject.Digest != subject {
		return fmt.Errorf("pushing referrer of %s to %s: the manifest's subject is %v, not %s", subject, repo, subjectOf(f.Subject), subject)
	}
	if mediaType == "" {
		mediaType = string(types.OCIManifestSchema1)
	}
	d, err := digestOf("sha256", manifest)
	if err != nil {
		return err
	}
	switch {
	case desc.Digest != (v1.Hash{}) && desc.Digest != d:
		return fmt.Errorf("pushing referrer of %s to %s: descriptor names %s, manifest hashes to %s: %w", subject, repo, desc.Digest, d, ErrDigestMismatch)
	case desc.Size != 0 && desc.Size != int64(len(manifest)):
		return fmt.Errorf("pushing referrer %s of %s to %s: descriptor size %d, manifest is %d bytes", d, subject, repo, desc.Size, len(manifest))
	case desc.MediaType != "" && string(desc.MediaType) != mediaType:
		return fmt.Errorf("pushing referrer %s of %s to %s: descriptor media type %q, pushing as %q", d, subject, repo, desc.MediaType, mediaType)
	}
	entry := v1.Descriptor{
		MediaType:    types.MediaType(mediaType),
		Digest:       d,
		Size:         int64(len(manifest)),
		ArtifactType: desc.ArtifactType,
		Annotations:  desc.Annotations,
	}
	if entry.ArtifactType == "" {
		entry.ArtifactType = f.ArtifactType
	}
	if entry.ArtifactType == "" {
		// oras-go's rule, which notation's reader relies on: without an
		// artifactType entry notation does not find its signatures.
		entry.ArtifactType = f.Config.MediaType
	}
	if entry.Annotations == nil {
		entry.Annotations = f.Annotations
	}

	unlock := c.refLocks.Lock(repo.String() + "@" + subject.String())
	defer unlock()

	put, err := c.putReferrer(ctx, repo.Digest(d.String()), mediaType, manifest)
	if err != nil {
		return fmt.Errorf("pushing referrer of %s: %w", subject, err)
	}
	if put.Subject {
		return nil
	}
	return c.addToReferrersTag(ctx, repo, subject, entry)
}

// blobRaceAttempts bounds putReferrer's repetitions; with its pauses they
// add at most 300ms to a manifest whose blobs really are missing.
const blobRaceAttempts = 4

// putReferrer PUTs a referrer manifest, repeating the PUT a few times when
// the registry answers 400 DIGEST_INVALID, BLOB_UNKNOWN or
// MANIFEST_BLOB_UNKNOWN. distribution gives those answers spuriously while
// another client uploads a blob the manifest references (the "{}" config
// every notation signature and sigstore bundle shares): it rewrites the
// blob's repository link in place, and the manifest check reads it
// half-written. Callers upload blobs before manifests, so a repeat soon
// finds them.
func (c *Client) putReferrer(ctx context.Context, ref name.Digest, mediaType string, body []byte) (PutResult, error) {
	for attempt := 1; ; attempt++ {
		put, err := c.PutManifest(ctx, ref, mediaType, body)
		var re *Error
		if err == nil || attempt == blobRaceAttempts || !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest ||
			(re.Code != "DIGEST_INVALID" && re.Code != "BLOB_UNKNOWN" && re.Code != "MANIFEST_BLOB_UNKNOWN") {
			return put, err
		}
		select {
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		case <-ctx.Done():
			return put, err
		}
	}
}

func subjectOf(d *v1.Descriptor) string {
	if d == nil {
		return "missing"
	}
	return d.Digest.String()
}

// addToReferrersTag appends entry to subject's tag index. The caller holds
// the subject's lock.
func (c *Client) addToReferrersTag(ctx context.Context, repo name.Repository, subject v1.Hash, entry v1.Descriptor) error {
	tag := repo.Tag(ReferrersTag(subject))
	idx, old, err := c.readReferrersTag(ctx, tag)
	if err != nil {
		return fmt.Errorf("updating referrers index of %s: %w", subject, err)
	}
	for _, m := range idx.Manifests {
		if m.Digest == entry.Digest {
			return nil
		}
	}
	idx.Manifests = append(idx.Manifests, entry)
	body, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("encoding referrers index %s: %w", tag, err)
	}
	put, err := c.PutManifest(ctx, tag, string(types.OCIImageIndex), body)
	if err != nil {
		return fmt.Errorf("updating referrers index of %s: %w", subject, err)
	}
	if old != nil && *old != put.Digest {
		// Housekeeping only; see PushReferrer.
		_ = c.DeleteManifest(ctx, repo, *old)
	}
	return nil
}

// readReferrersTag reads a referrers tag index, returning an empty index
// and a nil digest when the tag does not exist yet.
func (c *Client) readReferrersTag(ctx context.Context, tag name.Tag) (*v1.IndexManifest, *v1.Hash, error) {
	m, err := c.Manifest(ctx, tag)
	if IsNotFound(err) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(m.Body))
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: decoding index: %w", tag, err)
	}
	if idx.MediaType != types.OCIImageIndex && m.MediaType != string(types.OCIImageIndex) {
		// Something else lives under the tag; appending to it would
		// destroy it.
		return nil, nil, fmt.Errorf("reading %s: the tag holds %q, not an OCI image index", tag, m.MediaType)
	}
	idx.MediaType = types.OCIImageIndex
	if idx.Manifests == nil {
		idx.Manifests = []v1.Descriptor{}
	}
	return idx, &m.Digest, nil
}

// ListReferrers lists the referrers of subject in repo whose artifactType is
// artifactType (all when empty): through the referrers API when the
// registry has it, else from the tag index ReferrersTag(subject), filtered
// here. As in oras-go, a registry with the API is never asked for the tag.
// No referrers at all is an empty list, not an error.
func (c *Client) ListReferrers(ctx context.Context, repo name.Repository, subject v1.Hash, artifactType string) ([]v1.Descriptor, error) {
	idx, supported, err := c.Referrers(ctx, repo, subject, artifactType)
	switch {
	case err == nil && supported:
		return idx.Manifests, nil
	case err == nil:
		// No referrers API: the tag holds the index.
	case supported || !IsNotFound(err):
		// supported with an error is a later page failing on a registry
		// whose API answered the first: its referrers are not in the tag,
		// and falling back would turn a failed listing into an empty one.
		return nil, fmt.Errorf("listing referrers of %s: %w", subject, err)
	default:
		// The repository is unknown (404 NAME_UNKNOWN on the first page);
		// the tag read below finds nothing either, an empty list.
	}
	tagIdx, _, err := c.readReferrersTag(ctx, repo.Tag(ReferrersTag(subject)))
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s: %w", subject, err)
	}
	out := []v1.Descriptor{}
	for _, d := range tagIdx.Manifests {
		if artifactType == "" || d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	return out, nil
}
