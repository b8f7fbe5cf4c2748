package referrer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/referrer"
)

const (
	artifactType = "application/vnd.example.signature"
	blobType     = "application/vnd.example.signature.blob"
)

// manifest is a one-blob referrer of s, as the formats lay theirs out.
func manifest(t testing.TB, s signature.Subject, blob []byte) ([]byte, v1.Descriptor) {
	t.Helper()
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        referrer.ConfigDescriptor(artifactType),
		Layers:        []v1.Descriptor{{MediaType: blobType, Size: int64(len(blob)), Digest: referrer.Digest(blob)}},
		Subject:       &v1.Descriptor{MediaType: types.MediaType(s.MediaType), Size: s.Size, Digest: s.Digest},
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return body, v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(body)), Digest: referrer.Digest(body), ArtifactType: artifactType}
}

var errNotOurs = errors.New("not an example signature")

func layerOf(body []byte) (v1.Descriptor, error) {
	var m v1.Manifest
	if err := json.Unmarshal(body, &m); err != nil || len(m.Layers) != 1 || m.Layers[0].MediaType != blobType {
		return v1.Descriptor{}, errNotOurs
	}
	return m.Layers[0], nil
}

// TestPushFetch pushes signatures concurrently and reads them back, on a
// registry with the referrers API and on one with only the tag fallback.
func TestPushFetch(t *testing.T) {
	for _, referrers := range []bool{true, false} {
		t.Run(fmt.Sprintf("referrers=%v", referrers), func(t *testing.T) {
			tr := testenv.MemRegistry(t, referrers)
			counts := registry.NewCountingTransport(nil)
			c, err := registry.New(registry.WithTransport(counts))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ref, err := name.ParseReference(tr.Host + "/app:v1")
			if err != nil {
				t.Fatal(err)
			}
			testenv.SeedSingle(t, tr.Host, "app", "v1")
			d, err := c.Resolve(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			s := signature.Subject{Repo: ref.Context(), Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, Identity: ref.Name()}

			st := referrer.NewStore(c)
			const n = 4
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					blob := fmt.Appendf(nil, `{"signature":%d}`, i)
					body, desc := manifest(t, s, blob)
					errs[i] = st.Push(ctx, s, blob, body, desc)
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			// One upload per signature, and the shared config once.
			if got := counts.Uploads(); got != n+1 {
				t.Errorf("uploads = %d; want %d (the config once, each blob once)", got, n+1)
			}

			ds, err := c.ListReferrers(ctx, s.Repo, s.Digest, artifactType)
			if err != nil || len(ds) != n {
				t.Fatalf("ListReferrers() = %d, %v; want %d", len(ds), err, n)
			}
			seen := map[string]bool{}
			for _, d := range ds {
				b, err := st.Fetch(ctx, s, d, 1<<10, layerOf)
				if err != nil {
					t.Fatalf("Fetch(%s) = %v", d.Digest, err)
				}
				seen[string(b)] = true
				if _, err := st.Fetch(ctx, s, d, 4, layerOf); !errors.Is(err, registry.ErrTooLarge) {
					t.Errorf("Fetch(%s, 4 bytes) = %v; want ErrTooLarge", d.Digest, err)
				}
				wrong := func([]byte) (v1.Descriptor, error) { return v1.Descriptor{}, errNotOurs }
				if _, err := st.Fetch(ctx, s, d, 1<<10, wrong); !errors.Is(err, errNotOurs) {
					t.Errorf("Fetch(%s) with a refusing layerOf = %v; want its error", d.Digest, err)
				}
			}
			if len(seen) != n {
				t.Errorf("Fetch read %d distinct signatures; want %d", len(seen), n)
			}
		})
	}
}
