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
	"sort"
	"strings"

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

// ErrUnboundRequest is returned for a sign request that BuildKit's
// annotations do not tie to an image of the same index, or whose statement
// is about another image. Such a request was made for some other image (or
// by hand); honouring it would let one build's request steer the signing of
// images it never saw.
var ErrUnboundRequest = errors.New("sign request is not bound to an image of this index")

// ErrUnrequestedImages is returned when some images of an index carry a
// sign request and others do not. The index is signed as a whole, so a
// request would otherwise extend to images no build asked to have signed,
// such as a platform merged in from elsewhere.
var ErrUnrequestedImages = errors.New("images without a sign request sit beside images with one")

// Inspect reads the manifest ref names and, for an index, its attestation
// manifests and sign request. identity is the docker-reference signatures
// will name (batch.Identity of ref), set on every subject.
//
// A request counts only as BuildKit lays it out: in an attestation manifest
// whose vnd.docker.reference.digest names an image of the same index, as a
// statement about that image. An index with a request must carry an equal
// one for every image. Anything else is an error wrapping ErrUnboundRequest,
// ErrUnrequestedImages or ErrConflictingRequests, so the index is reported
// rather than signed.
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
	listed := make(map[v1.Hash]bool, len(img.Images))
	for _, m := range img.Images {
		listed[m.Digest] = true
	}
	requested := map[v1.Hash]bool{}
	for _, am := range img.Attestations {
		req, err := readRequest(ctx, r, repo, am, listed)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", img.Index.Name(), err)
		}
		if req == nil {
			continue
		}
		requested[am.For] = true
		switch {
		case img.Request == nil:
			img.Request = req
		case !img.Request.Equal(req):
			return nil, fmt.Errorf("index %s: %w (%s and %s)", img.Index.Name(), ErrConflictingRequests, describe(img.Request), describe(req))
		}
	}
	if img.Request != nil {
		var without []string
		for _, m := range img.Images {
			if !requested[m.Digest] {
				without = append(without, describeImage(m))
			}
		}
		if len(without) > 0 {
			return nil, fmt.Errorf("index %s: %w: %s carry none, so the request (%s) is not applied to the index",
				img.Index.Name(), ErrUnrequestedImages, strings.Join(without, ", "), describe(img.Request))
		}
	}
	return img, nil
}

func describeImage(m Manifest) string {
	if m.Platform != "" {
		return m.Digest.String() + " (" + m.Platform + ")"
	}
	return m.Digest.String()
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
// when it holds none. listed are the images of am's index: a request
// counts only for the one of them am is bound to, and only as a statement
// about that image, so that a request copied from another image, or from
// another index, cannot steer this one's signing.
func readRequest(ctx context.Context, r Reader, repo name.Repository, am Manifest, listed map[v1.Hash]bool) (*buildkit.SignRequest, error) {
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
		where := fmt.Sprintf("sign request %s of attestation manifest %s", l.Digest, am.Digest)
		switch {
		case am.For == (v1.Hash{}):
			return nil, fmt.Errorf("%s: %w: the index gives the attestation manifest no %s annotation naming its image",
				where, ErrUnboundRequest, attest.ReferenceDigestAnnotation)
		case !listed[am.For]:
			return nil, fmt.Errorf("%s: %w: its %s annotation names image %s, which the index does not list",
				where, ErrUnboundRequest, attest.ReferenceDigestAnnotation, am.For)
		case man.Subject != nil && man.Subject.Digest != am.For:
			// The artifact form names its image twice; a disagreement means
			// the manifest was not written for the place it sits in.
			return nil, fmt.Errorf("%s: %w: the attestation manifest's subject is %s, the index binds it to %s",
				where, ErrUnboundRequest, man.Subject.Digest, am.For)
		}
		b, err := r.Blob(ctx, repo, l.Digest, maxRequestSize)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", where, err)
		}
		st, err := attest.ParseStatement(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if st.PredicateType != buildkit.SignRequestPredicate {
			return nil, fmt.Errorf("%s: predicate type is %q, the layer says %q", where, st.PredicateType, buildkit.SignRequestPredicate)
		}
		if !onlyAbout(st, am.For) {
			return nil, fmt.Errorf("%s is not about image %s alone (its subjects: %s): %w", where, am.For, subjectDigests(st), ErrUnboundRequest)
		}
		req, err := buildkit.ParseSignRequest(st.Predicate)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		return req, nil
	}
	return nil, nil
}

// onlyAbout reports whether every subject of st is image d. BuildKit
// writes a frontend's statement about the image it is attached to (one
// subject per image name, all with its digest); a statement that also
// names other digests was not made for this image alone.
func onlyAbout(st *attest.Statement, d v1.Hash) bool {
	for _, sub := range st.Subject {
		if sub.Digest[d.Algorithm] != d.Hex {
			return false
		}
	}
	return len(st.Subject) > 0
}

// subjectDigests lists a statement's subject digests for a message, the
// first few only: a request blob may be up to maxRequestSize.
func subjectDigests(st *attest.Statement) string {
	const shown = 3
	var out []string
	for i, sub := range st.Subject {
		if i == shown {
			out = append(out, fmt.Sprintf("and %d more", len(st.Subject)-shown))
			break
		}
		algs := make([]string, 0, len(sub.Digest))
		for alg := range sub.Digest {
			algs = append(algs, alg)
		}
		sort.Strings(algs)
		for _, alg := range algs {
			out = append(out, alg+":"+sub.Digest[alg])
		}
	}
	return strings.Join(out, ", ")
}
