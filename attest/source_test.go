package attest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
)

// TestIndexProvenanceNeedsEveryImage: an index's provenance is what all its
// images state alike. When one image has no BuildKit provenance (an index
// merged from builds with and without it), nothing is known to be common,
// so the index gets none; the other image's own facts (its build
// configuration, its platform's dependencies) must not be stated as the
// index's.
func TestIndexProvenanceNeedsEveryImage(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	c := newClient(t)
	ctx := context.Background()
	bk := seedBuildKitImage(t, c, reg.Host, "team/app", "1")
	ref, err := name.ParseReference(bk.ref)
	if err != nil {
		t.Fatal(err)
	}
	repo := ref.Context()
	m, err := c.Manifest(ctx, repo.Digest(bk.index.String()))
	if err != nil {
		t.Fatal(err)
	}
	var built v1.IndexManifest
	if err := json.Unmarshal(m.Body, &built); err != nil {
		t.Fatal(err)
	}
	arm := bk.children["linux/arm64"]
	// armAttestation is the index entry of the arm64 image's attestation
	// manifest, which each case below takes away or spoils.
	armAttestation, armImage := -1, -1
	for i, d := range built.Manifests {
		switch {
		case d.Annotations[attest.ReferenceDigestAnnotation] == arm.String():
			armAttestation = i
		case d.Digest == arm:
			armImage = i
		}
	}
	if armAttestation < 0 || armImage < 0 {
		t.Fatalf("the seeded index lacks the arm64 image %s or its attestation manifest", arm)
	}
	noProvenance := putAttestationManifest(t, c, repo, built.Manifests[armImage], "https://signet.dev/sign-request/v1")

	tests := []struct {
		name string
		edit func(idx *v1.IndexManifest)
		// whole: the index's provenance is Common over both images';
		// otherwise it is nil.
		whole bool
	}{
		{name: "every image has provenance", edit: func(*v1.IndexManifest) {}, whole: true},
		{name: "an image without attestation manifest", edit: func(idx *v1.IndexManifest) {
			idx.Manifests = append(idx.Manifests[:armAttestation:armAttestation], idx.Manifests[armAttestation+1:]...)
		}},
		{name: "an attestation manifest bound to no image", edit: func(idx *v1.IndexManifest) {
			idx.Manifests[armAttestation].Annotations = map[string]string{attest.ReferenceTypeAnnotation: attest.AttestationManifestType}
		}},
		{name: "an attestation manifest without provenance", edit: func(idx *v1.IndexManifest) {
			d := noProvenance
			d.Annotations = idx.Manifests[armAttestation].Annotations
			idx.Manifests[armAttestation] = d
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := built
			idx.Manifests = append([]v1.Descriptor(nil), built.Manifests...)
			tt.edit(&idx)
			body, err := json.Marshal(idx)
			if err != nil {
				t.Fatal(err)
			}
			put, err := c.PutManifest(ctx, repo.Tag(fmt.Sprintf("case%d", i)), string(idx.MediaType), body)
			if err != nil {
				t.Fatal(err)
			}
			src := attest.NewIndexSource(c)
			images := map[string]*attest.Provenance{}
			for plat, d := range bk.children {
				img := signature.Subject{Repo: repo, Digest: d}
				src.AddParent(img, put.Digest)
				if images[plat], err = src.ForSubject(ctx, img); err != nil {
					t.Fatalf("ForSubject(%s image) error = %v", plat, err)
				}
			}
			if images["linux/amd64"] == nil {
				t.Fatal("the amd64 image lost its own provenance")
			}
			got, err := src.ForSubject(ctx, signature.Subject{Repo: repo, Digest: put.Digest, Index: true})
			if err != nil {
				t.Fatalf("ForSubject(index) error = %v", err)
			}
			if !tt.whole {
				if got != nil {
					b, _ := json.Marshal(got)
					t.Fatalf("index provenance = %s; want none, since the arm64 image has none to share", b)
				}
				return
			}
			want := attest.Common([]*attest.Provenance{images["linux/amd64"], images["linux/arm64"]})
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			if got == nil || string(gotJSON) != string(wantJSON) {
				t.Fatalf("index provenance = %s; want what both images share, %s", gotJSON, wantJSON)
			}
		})
	}
}

// putAttestationManifest pushes an artifact-form attestation manifest about
// image holding one statement of predicateType and returns its descriptor.
func putAttestationManifest(t *testing.T, c *registry.Client, repo name.Repository, image v1.Descriptor, predicateType string) v1.Descriptor {
	t.Helper()
	ctx := context.Background()
	stmt := []byte(fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"_","digest":{"sha256":%q}}],"predicateType":%q,"predicate":{}}`,
		image.Digest.Hex, predicateType))
	empty := []byte("{}")
	for _, b := range [][]byte{stmt, empty} {
		if err := c.UploadBlob(ctx, repo, sha(b), b); err != nil {
			t.Fatal(err)
		}
	}
	am := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.docker.attestation.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},`+
		`"layers":[{"mediaType":"application/vnd.in-toto+json","digest":"%s","size":%d,"annotations":{"in-toto.io/predicate-type":%q}}],`+
		`"subject":{"mediaType":"%s","digest":"%s","size":%d}}`,
		sha(empty), sha(stmt), len(stmt), predicateType, image.MediaType, image.Digest, image.Size)
	put, err := c.PutManifest(ctx, repo.Digest(sha([]byte(am)).String()), "application/vnd.oci.image.manifest.v1+json", []byte(am))
	if err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: put.Digest, Size: int64(len(am)),
		Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}
}
