// Package pending owns finding what a BuildKit build asked signet to sign:
// it reads an image index pushed by BuildKit, sorts its manifests into
// images and BuildKit's attestation manifests, and reads the sign-request
// attestation signet's frontend left (buildkit.SignRequestPredicate). A
// Checker then tells which requested signatures and attestations are
// already there, so that `signet batch --pending` signs only images that
// still need it, and `signet build` knows what its build asked for.
//
// Nothing here signs: the caller hands the subjects to the batch engine.
package pending

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/buildkit"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
)

// Reader is what inspecting an image needs from a registry;
// *registry.Client satisfies it.
type Reader interface {
	Manifest(ctx context.Context, ref name.Reference) (*registry.Manifest, error)
	Blob(ctx context.Context, repo name.Repository, digest v1.Hash, maxSize int64) ([]byte, error)
}

var _ Reader = (*registry.Client)(nil)

// maxRequestSize bounds a sign-request statement; real ones are well under
// a kilobyte.
const maxRequestSize = 1 << 20

// Manifest is one manifest an index lists.
type Manifest struct {
	signature.Subject
	// For is the image an attestation manifest is about (its
	// vnd.docker.reference.digest); zero for images.
	For v1.Hash
}

// Image is what one build pushed: an index, its images and BuildKit's
// attestation manifests, and the sign request the images carry.
type Image struct {
	// Ref is the reference inspected, as given (a tag keeps its tag).
	Ref name.Reference
	// Index is the index itself (or the single image, when the build made
	// no index; it then carries no attestations).
	Index signature.Subject
	// Images are the platform images, in index order.
	Images []Manifest
	// Attestations are BuildKit's attestation manifests, in index order.
	Attestations []Manifest
	// Request is the build's sign request; nil when the images carry none.
	Request *buildkit.SignRequest
}

// Subjects returns every manifest of the image: the index, the images and
// the attestation manifests.
func (img *Image) Subjects() []signature.Subject {
	out := []signature.Subject{img.Index}
	for _, m := range img.Images {
		out = append(out, m.Subject)
	}
	for _, m := range img.Attestations {
		out = append(out, m.Subject)
	}
	return out
}

// ErrConflictingRequests is returned when the images of one index carry
// different sign requests; one build declares one intent, so the index is
// not what a single build made and signet will not guess.
var ErrConflictingRequests = errors.New("images carry different sign requests")

// Inspect reads the manifest ref names and, for an index, its attestation
// manifests and sign request. identity is the docker-reference signatures
// will name (batch.Identity of ref), set on every subject.
func Inspect(ctx context.Context, r Reader, ref name.Reference, identity string) (*Image, error) {
	m, err := r.Manifest(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	repo := ref.Context()
	img := &Image{Ref: ref, Index: signature.Subject{
		Repo: repo, Digest: m.Digest, MediaType: m.MediaType, Size: m.Size, Identity: identity,
	}}
	switch types.MediaType(m.MediaType) {
	case types.OCIImageIndex, types.DockerManifestList:
		img.Index.Index = true
	default:
		return img, nil
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(m.Body))
	if err != nil {
		return nil, fmt.Errorf("decoding index %s: %w", img.Index.Name(), err)
	}
	for _, d := range idx.Manifests {
		sub := signature.Subject{Repo: repo, Digest: d.Digest, MediaType: string(d.MediaType), Size: d.Size, Identity: identity}
		if d.Annotations[attest.ReferenceTypeAnnotation] != attest.AttestationManifestType {
			if d.Platform != nil {
				sub.Platform = d.Platform.String()
			}
			sub.Index = d.MediaType == types.OCIImageIndex || d.MediaType == types.DockerManifestList
			img.Images = append(img.Images, Manifest{Subject: sub})
			continue
		}
		am := Manifest{Subject: sub}
		if target := d.Annotations[attest.ReferenceDigestAnnotation]; target != "" {
			h, err := v1.NewHash(target)
			if err != nil {
				return nil, fmt.Errorf("index %s: attestation manifest %s names image %q: %w", img.Index.Name(), d.Digest, target, err)
			}
			am.For = h
		}
		img.Attestations = append(img.Attestations, am)
	}
	for _, am := range img.Attestations {
		req, err := readRequest(ctx, r, repo, am)
		if err != nil {
			return nil, err
		}
		switch {
		case req == nil:
		case img.Request == nil:
			img.Request = req
		case !img.Request.Equal(req):
			return nil, fmt.Errorf("index %s: %w (%s and %s)", img.Index.Name(), ErrConflictingRequests, describe(img.Request), describe(req))
		}
	}
	return img, nil
}

func describe(r *buildkit.SignRequest) string {
	b, _ := json.Marshal(struct {
		Formats    []string `json:"formats"`
		Attest     []string `json:"attest,omitempty"`
		Key        string   `json:"key,omitempty"`
		Repository string   `json:"repository,omitempty"`
	}{r.Formats, r.Attest, r.Key, r.Repository})
	return string(b)
}

// readRequest returns the sign request in attestation manifest am, or nil
// when it holds none. The statement must be about the image am is for: a
// request copied from another image must not steer this one's signing.
func readRequest(ctx context.Context, r Reader, repo name.Repository, am Manifest) (*buildkit.SignRequest, error) {
	m, err := r.Manifest(ctx, am.Name())
	if err != nil {
		return nil, fmt.Errorf("reading attestation manifest %s: %w", am.Name(), err)
	}
	var man v1.Manifest
	if err := json.Unmarshal(m.Body, &man); err != nil {
		return nil, fmt.Errorf("decoding attestation manifest %s: %w", am.Name(), err)
	}
	for _, l := range man.Layers {
		if l.Annotations[attest.InTotoPredicateAnnotation] != buildkit.SignRequestPredicate {
			continue
		}
		b, err := r.Blob(ctx, repo, l.Digest, maxRequestSize)
		if err != nil {
			return nil, fmt.Errorf("reading sign request %s of %s: %w", l.Digest, am.Name(), err)
		}
		st, err := attest.ParseStatement(b)
		if err != nil {
			return nil, fmt.Errorf("sign request %s of %s: %w", l.Digest, am.Name(), err)
		}
		if st.PredicateType != buildkit.SignRequestPredicate {
			return nil, fmt.Errorf("sign request %s of %s: predicate type is %q, the layer says %q", l.Digest, am.Name(), st.PredicateType, buildkit.SignRequestPredicate)
		}
		if am.For != (v1.Hash{}) && !st.About(am.For) {
			return nil, fmt.Errorf("sign request %s of %s is not about image %s", l.Digest, am.Name(), am.For)
		}
		req, err := buildkit.ParseSignRequest(st.Predicate)
		if err != nil {
			return nil, fmt.Errorf("sign request %s of %s: %w", l.Digest, am.Name(), err)
		}
		return req, nil
	}
	return nil, nil
}
