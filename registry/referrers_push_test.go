package registry_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
)

// seedSubject pushes a one-platform image and returns its descriptor.
func seedSubject(t *testing.T, c *registry.Client, r *testenv.Registry, repoName string) (name.Repository, *v1.Descriptor) {
	t.Helper()
	repo := mustRepo(t, r.Host+"/"+repoName)
	digest := testenv.SeedSingle(t, r.Host, repoName, "v1")
	d, err := c.Resolve(testCtx(t), repo.Digest(digest))
	if err != nil {
		t.Fatal(err)
	}
	return repo, &v1.Descriptor{MediaType: types.MediaType(d.MediaType), Digest: d.Digest, Size: d.Size}
}

func digests(ds []v1.Descriptor) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Digest.String()
	}
	slices.Sort(out)
	return out
}

// TestPushReferrerConcurrent pushes many referrers of one subject at once:
// every one must be listed afterwards, through signet's ListReferrers and
// through go-containerregistry's own reader (the code cosign uses), on
// registries with and without the referrers API.
func TestPushReferrerConcurrent(t *testing.T) {
	const n = 12
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		ctx := testCtx(t)
		c, _ := newClient(t)
		repo, subject := seedSubject(t, c, r, "refpush")
		kinds := []string{"application/vnd.cncf.notary.signature", "application/vnd.example.other"}
		var want []string
		manifests := make([][]byte, n)
		for i := range manifests {
			manifests[i] = artifact(t, c, repo, subject, kinds[i%2])
			want = append(want, sha(manifests[i]).String())
		}
		slices.Sort(want)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, m := range manifests {
			wg.Go(func() {
				desc := v1.Descriptor{Annotations: map[string]string{"i": fmt.Sprint(i)}}
				errs[i] = c.PushReferrer(ctx, repo, m, string(types.OCIManifestSchema1), desc, subject.Digest)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("PushReferrer(%d) = %v", i, err)
			}
		}
		got, err := c.ListReferrers(ctx, repo, subject.Digest, "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(digests(got), want) {
			t.Fatalf("ListReferrers() = %d referrers %v; want all %d", len(got), digests(got), n)
		}
		notary, err := c.ListReferrers(ctx, repo, subject.Digest, kinds[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(notary) != n/2 {
			t.Errorf("ListReferrers(%s) = %d entries; want %d", kinds[0], len(notary), n/2)
		}
		for _, d := range notary {
			if d.ArtifactType != kinds[0] {
				t.Errorf("ListReferrers(%s) returned artifactType %q", kinds[0], d.ArtifactType)
			}
		}

		// An independent reader: go-containerregistry, API or tag.
		idx, err := remote.Referrers(repo.Digest(subject.Digest.String()), remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("remote.Referrers: %v", err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(digests(im.Manifests), want) {
			t.Errorf("go-containerregistry lists %v; want %v", digests(im.Manifests), want)
		}
		if !b.referrers {
			// The tag index entries carry what notation filters on.
			for _, d := range im.Manifests {
				if d.ArtifactType == "" || d.Annotations["i"] == "" {
					t.Errorf("tag index entry %s = %+v; want artifactType and annotations", d.Digest, d)
				}
			}
		}
	})
}

// TestPushReferrerIndexHousekeeping checks the tag fallback's details: a
// repeated push leaves one entry, the superseded index is deleted, and the
// descriptor takes the manifest's artifactType or config media type.
func TestPushReferrerIndexHousekeeping(t *testing.T) {
	for _, b := range backends {
		if b.referrers {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			r := b.start(t)
			ctx := testCtx(t)
			c, _ := newClient(t)
			repo, subject := seedSubject(t, c, r, "refhouse")
			tag := repo.Tag(registry.ReferrersTag(subject.Digest))

			first := artifact(t, c, repo, subject, "application/vnd.example.a")
			if err := c.PushReferrer(ctx, repo, first, "", v1.Descriptor{}, subject.Digest); err != nil {
				t.Fatal(err)
			}
			if err := c.PushReferrer(ctx, repo, first, "", v1.Descriptor{}, subject.Digest); err != nil {
				t.Fatalf("repeated PushReferrer = %v", err)
			}
			old, err := c.Manifest(ctx, tag)
			if err != nil {
				t.Fatal(err)
			}
			second := artifact(t, c, repo, subject, "")
			if err := c.PushReferrer(ctx, repo, second, "", v1.Descriptor{}, subject.Digest); err != nil {
				t.Fatal(err)
			}
			got, err := c.ListReferrers(ctx, repo, subject.Digest, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("ListReferrers() = %+v; want 2 entries", got)
			}
			byDigest := map[v1.Hash]string{}
			for _, d := range got {
				byDigest[d.Digest] = d.ArtifactType
			}
			if at := byDigest[sha(first)]; at != "application/vnd.example.a" {
				t.Errorf("artifactType of the first = %q; want the config media type", at)
			}
			if at := byDigest[sha(second)]; at != "application/vnd.oci.empty.v1+json" {
				t.Errorf("artifactType of the second = %q; want the empty config type", at)
			}
			if _, err := c.Manifest(ctx, repo.Digest(old.Digest.String())); !registry.IsNotFound(err) {
				t.Errorf("superseded index %s still readable (err %v); want it deleted", old.Digest, err)
			}
		})
	}
}

func TestPushReferrerRejects(t *testing.T) {
	r := testenv.MemRegistry(t, false)
	ctx := testCtx(t)
	c, _ := newClient(t)
	repo, subject := seedSubject(t, c, r, "refbad")
	other := mustHash(t, "sha256:"+fmt.Sprintf("%064x", 1))
	m := artifact(t, c, repo, subject, "")
	if err := c.PushReferrer(ctx, repo, m, "", v1.Descriptor{}, other); err == nil {
		t.Error("PushReferrer(subject mismatch) = nil")
	}
	if err := c.PushReferrer(ctx, repo, artifact(t, c, repo, nil, ""), "", v1.Descriptor{}, subject.Digest); err == nil {
		t.Error("PushReferrer(no subject) = nil")
	}
	if err := c.PushReferrer(ctx, repo, m, "", v1.Descriptor{Digest: other}, subject.Digest); err == nil {
		t.Error("PushReferrer(descriptor digest mismatch) = nil")
	}
	// A tag that holds something else is left alone.
	if _, err := c.PutManifest(ctx, repo.Tag(registry.ReferrersTag(subject.Digest)), string(types.OCIManifestSchema1), m); err != nil {
		t.Fatal(err)
	}
	if err := c.PushReferrer(ctx, repo, artifact(t, c, repo, subject, ""), "", v1.Descriptor{}, subject.Digest); err == nil {
		t.Error("PushReferrer over a non-index tag = nil")
	}
}
