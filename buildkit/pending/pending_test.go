package pending

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/buildkit"
	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
)

// statement is an in-toto statement about digest, as BuildKit's exporter
// wraps a frontend's predicate.
func statement(t *testing.T, about v1.Hash, predicateType string, predicate any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": "pkg:docker/x", "digest": map[string]string{about.Algorithm: about.Hex}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attestationManifest is an artifact-form attestation manifest holding
// statements, each annotated with its predicate type.
func attestationManifest(t *testing.T, statements map[string][]byte) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for typ, st := range statements {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       static.NewLayer(st, types.MediaType(attest.InTotoLayerMediaType)),
			Annotations: map[string]string{attest.InTotoPredicateAnnotation: typ},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// pushBuild pushes an index of one image per request (nil: an
// attestation manifest with provenance only) the way BuildKit lays it out,
// with about overriding the statement subjects when set.
func pushBuild(t *testing.T, ref name.Reference, requests []*buildkit.SignRequest, about *v1.Hash) {
	t.Helper()
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, req := range requests {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		d, _ := img.Digest()
		subject := d
		if about != nil {
			subject = *about
		}
		sts := map[string][]byte{attest.SLSAProvenanceV1: statement(t, subject, attest.SLSAProvenanceV1, map[string]any{})}
		if req != nil {
			sts[buildkit.SignRequestPredicate] = statement(t, subject, buildkit.SignRequestPredicate, req)
		}
		arch := []string{"amd64", "arm64", "s390x"}[i]
		idx = mutate.AppendManifests(idx,
			mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}},
			mutate.IndexAddendum{Add: attestationManifest(t, sts), Descriptor: v1.Descriptor{
				Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{attest.ReferenceTypeAnnotation: attest.AttestationManifestType, attest.ReferenceDigestAnnotation: d.String()},
			}})
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
}

func TestInspect(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ref := func(repo string) name.Reference {
		r, err := name.ParseReference(reg.Host+"/"+repo+":v1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cosignReq := &buildkit.SignRequest{Formats: []string{"cosign"}, Attest: []string{"provenance"}, Key: "pkcs11:token=t;object=k"}
	notationReq := &buildkit.SignRequest{Formats: []string{"notation"}}

	t.Run("request", func(t *testing.T) {
		pushBuild(t, ref("ok"), []*buildkit.SignRequest{cosignReq, cosignReq}, nil)
		img, err := Inspect(ctx, client, ref("ok"), "id")
		if err != nil {
			t.Fatal(err)
		}
		if img.Request == nil || !img.Request.Equal(cosignReq) {
			t.Fatalf("Request = %+v; want %+v", img.Request, cosignReq)
		}
		if !img.Index.Index || len(img.Images) != 2 || len(img.Attestations) != 2 || len(img.Subjects()) != 5 {
			t.Fatalf("Inspect() = index %v, %d images, %d attestation manifests; want an index, 2 and 2", img.Index.Index, len(img.Images), len(img.Attestations))
		}
		for i, m := range img.Images {
			if m.Platform == "" || img.Attestations[i].For != m.Digest || m.Identity != "id" {
				t.Errorf("image %d = %+v, attestation for %s; want a platform, the attestation about it, identity id", i, m, img.Attestations[i].For)
			}
		}
	})
	t.Run("none", func(t *testing.T) {
		pushBuild(t, ref("none"), []*buildkit.SignRequest{nil}, nil)
		img, err := Inspect(ctx, client, ref("none"), "id")
		if err != nil || img.Request != nil {
			t.Fatalf("Inspect() = %+v, %v; want no request", img, err)
		}
	})
	t.Run("conflict", func(t *testing.T) {
		pushBuild(t, ref("conflict"), []*buildkit.SignRequest{cosignReq, notationReq}, nil)
		if _, err := Inspect(ctx, client, ref("conflict"), "id"); !errors.Is(err, ErrConflictingRequests) {
			t.Fatalf("Inspect() error = %v; want ErrConflictingRequests", err)
		}
	})
	t.Run("other subject", func(t *testing.T) {
		other, _ := v1.NewHash("sha256:" + strings.Repeat("ab", 32))
		pushBuild(t, ref("copied"), []*buildkit.SignRequest{cosignReq}, &other)
		if _, err := Inspect(ctx, client, ref("copied"), "id"); err == nil || !strings.Contains(err.Error(), "is not about image") {
			t.Fatalf("Inspect() error = %v; want a statement about another image refused", err)
		}
	})
	t.Run("single image", func(t *testing.T) {
		testenv.SeedSingle(t, reg.Host, "single", "v1")
		img, err := Inspect(ctx, client, ref("single"), "id")
		if err != nil || img.Request != nil || img.Index.Index {
			t.Fatalf("Inspect() = %+v, %v; want an image without request", img, err)
		}
	})
}

// TestInspectBindsRequests: a sign request counts only for the image of its
// own index that BuildKit's annotations bind its attestation manifest to,
// and only when it is a statement about that image; an index whose images
// do not all carry it is refused rather than signed under it.
func TestInspectBindsRequests(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := &buildkit.SignRequest{Formats: []string{"cosign"}, Key: "pkcs11:token=t;object=prod"}

	newImage := func(t *testing.T) (v1.Image, v1.Hash) {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return img, d
	}
	image := func(img v1.Image, arch string) mutate.IndexAddendum {
		return mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}}
	}
	// attestation lists am as BuildKit does, bound to image bound unless
	// that is zero.
	attestation := func(am v1.Image, bound v1.Hash) mutate.IndexAddendum {
		ann := map[string]string{attest.ReferenceTypeAnnotation: attest.AttestationManifestType}
		if bound != (v1.Hash{}) {
			ann[attest.ReferenceDigestAnnotation] = bound.String()
		}
		return mutate.IndexAddendum{Add: am, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}, Annotations: ann}}
	}
	requestFor := func(about v1.Hash) v1.Image {
		return attestationManifest(t, map[string][]byte{buildkit.SignRequestPredicate: statement(t, about, buildkit.SignRequestPredicate, req)})
	}
	withSubject := func(t *testing.T, am v1.Image, subject v1.Image) v1.Image {
		d, err := partial.Descriptor(subject)
		if err != nil {
			t.Fatal(err)
		}
		out, ok := mutate.Subject(am, *d).(v1.Image)
		if !ok {
			t.Fatal("mutate.Subject of an image is no image")
		}
		return out
	}

	legit, legitD := newImage(t) // the image a request was made for
	other, otherD := newImage(t) // an image nobody asked to sign
	manyNames, err := json.Marshal(map[string]any{
		"_type": "https://in-toto.io/Statement/v1",
		"subject": []any{
			map[string]any{"name": "pkg:docker/team/app@v1", "digest": map[string]string{"sha256": otherD.Hex}},
			map[string]any{"name": "pkg:docker/team/app@latest", "digest": map[string]string{"sha256": otherD.Hex}},
		},
		"predicateType": buildkit.SignRequestPredicate,
		"predicate":     req,
	})
	if err != nil {
		t.Fatal(err)
	}
	alsoOther, err := json.Marshal(map[string]any{
		"_type": "https://in-toto.io/Statement/v1",
		"subject": []any{
			map[string]any{"name": "a", "digest": map[string]string{"sha256": otherD.Hex}},
			map[string]any{"name": "b", "digest": map[string]string{"sha256": legitD.Hex}},
		},
		"predicateType": buildkit.SignRequestPredicate,
		"predicate":     req,
	})
	if err != nil {
		t.Fatal(err)
	}
	provenanceOnly := attestationManifest(t, map[string][]byte{attest.SLSAProvenanceV1: statement(t, otherD, attest.SLSAProvenanceV1, map[string]any{})})

	tests := []struct {
		name    string
		entries []mutate.IndexAddendum
		wantErr error  // nil: Inspect succeeds
		want    string // in the error, or "request" / "none" on success
	}{
		{
			name:    "request copied without the reference digest",
			entries: []mutate.IndexAddendum{image(other, "amd64"), attestation(requestFor(legitD), v1.Hash{})},
			wantErr: ErrUnboundRequest, want: "no " + attest.ReferenceDigestAnnotation,
		},
		{
			name:    "reference digest names an image the index does not list",
			entries: []mutate.IndexAddendum{image(other, "amd64"), attestation(requestFor(legitD), legitD)},
			wantErr: ErrUnboundRequest, want: "which the index does not list",
		},
		{
			name: "reference digest names another attestation manifest",
			entries: []mutate.IndexAddendum{image(other, "amd64"), attestation(provenanceOnly, otherD),
				attestation(requestFor(otherD), mustDigest(t, provenanceOnly))},
			wantErr: ErrUnboundRequest, want: "which the index does not list",
		},
		{
			name:    "statement about another image",
			entries: []mutate.IndexAddendum{image(other, "amd64"), attestation(requestFor(legitD), otherD)},
			wantErr: ErrUnboundRequest, want: "is not about image " + otherD.String(),
		},
		{
			name: "statement about this image and another",
			entries: []mutate.IndexAddendum{image(other, "amd64"),
				attestation(attestationManifest(t, map[string][]byte{buildkit.SignRequestPredicate: alsoOther}), otherD)},
			wantErr: ErrUnboundRequest, want: legitD.String(),
		},
		{
			name:    "artifact subject is another image",
			entries: []mutate.IndexAddendum{image(other, "amd64"), attestation(withSubject(t, requestFor(otherD), legit), otherD)},
			wantErr: ErrUnboundRequest, want: "subject is " + legitD.String(),
		},
		{
			name:    "image without a request beside one with",
			entries: []mutate.IndexAddendum{image(legit, "amd64"), image(other, "arm64"), attestation(requestFor(legitD), legitD)},
			wantErr: ErrUnrequestedImages, want: otherD.String() + " (linux/arm64)",
		},
		{
			name: "image with provenance only beside one with a request",
			entries: []mutate.IndexAddendum{image(legit, "amd64"), image(other, "arm64"),
				attestation(requestFor(legitD), legitD), attestation(provenanceOnly, otherD)},
			wantErr: ErrUnrequestedImages, want: otherD.String(),
		},
		{
			name:    "bound, artifact form",
			entries: []mutate.IndexAddendum{image(other, "amd64"), attestation(withSubject(t, requestFor(otherD), other), otherD)},
			want:    "request",
		},
		{
			name: "bound, one subject per image name",
			entries: []mutate.IndexAddendum{image(other, "amd64"),
				attestation(attestationManifest(t, map[string][]byte{buildkit.SignRequestPredicate: manyNames}), otherD)},
			want: "request",
		},
		{
			// Only requests must be bound: an attestation manifest without
			// one says nothing about signing.
			name:    "unbound attestation manifest without a request",
			entries: []mutate.IndexAddendum{image(other, "amd64"), attestation(provenanceOnly, v1.Hash{})},
			want:    "none",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
			idx = mutate.AppendManifests(idx, tt.entries...)
			ref, err := name.ParseReference(fmt.Sprintf("%s/bind/%d:v1", reg.Host, i), name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.WriteIndex(ref, idx); err != nil {
				t.Fatal(err)
			}
			img, err := Inspect(ctx, client, ref, "id")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Inspect() = %+v, %v; want an error wrapping %q and saying %q", img, err, tt.wantErr, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Inspect() error = %v", err)
			}
			if got := img.Request != nil; got != (tt.want == "request") || (got && !img.Request.Equal(req)) {
				t.Fatalf("Inspect().Request = %+v; want %s", img.Request, tt.want)
			}
		})
	}
}

func mustDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
