package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestRegistries checks the registry helpers: each serves on loopback,
// SeedImage and SeedSingle push what they say, and content and port survive
// Stop and Start.
func TestRegistries(t *testing.T) {
	starts := []struct {
		name  string
		start func(testing.TB) *Registry
	}{
		{"docker-registry", DockerRegistry},
		{"mem", func(t testing.TB) *Registry { return MemRegistry(t, false) }},
		{"mem-referrers", func(t testing.TB) *Registry { return MemRegistry(t, true) }},
	}
	for _, s := range starts {
		t.Run(s.name, func(t *testing.T) {
			r := s.start(t)
			if !strings.HasPrefix(r.Host, "127.0.0.1:") || r.URL() != "http://"+r.Host {
				t.Fatalf("Host, URL() = %q, %q; want 127.0.0.1:PORT and its http URL", r.Host, r.URL())
			}

			platforms := []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}
			idxDigest, children := SeedImage(t, r.Host, "seed/multi", "v1", platforms)
			single := SeedSingle(t, r.Host, "seed/single", "v1")
			check := func() {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				idx, err := remote.Index(parseSeeded(t, r.Host+"/seed/multi:v1"), remote.WithContext(ctx))
				if err != nil {
					t.Fatalf("reading the seeded index: %v", err)
				}
				im, err := idx.IndexManifest()
				if err != nil {
					t.Fatal(err)
				}
				d, _ := idx.Digest()
				if d.String() != idxDigest || im.MediaType != types.OCIImageIndex || len(im.Manifests) != len(platforms) {
					t.Fatalf("seeded index %s (%s, %d manifests); want %s, OCI, %d", d, im.MediaType, len(im.Manifests), idxDigest, len(platforms))
				}
				for _, m := range im.Manifests {
					p := m.Platform.OS + "/" + m.Platform.Architecture
					if m.Platform.Variant != "" {
						p += "/" + m.Platform.Variant
					}
					if children[p] != m.Digest.String() || m.MediaType != types.OCIManifestSchema1 {
						t.Errorf("index entry %s %s %s; SeedImage said %s", p, m.Digest, m.MediaType, children[p])
					}
				}
				desc, err := remote.Head(parseSeeded(t, r.Host+"/seed/single:v1"), remote.WithContext(ctx))
				if err != nil || desc.Digest.String() != single {
					t.Fatalf("seeded single image = %v, %v; want %s", desc, err, single)
				}
			}
			check()

			r.Stop()
			if _, err := http.Get(r.URL() + "/v2/"); err == nil {
				t.Errorf("GET /v2/ answered after Stop")
			}
			r.Stop() // stopping twice is harmless
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			check()
		})
	}
}

func parseSeeded(t testing.TB, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestRepairCrashedStorage lays out a docker-registry store with the damage a
// SIGKILL leaves and checks that exactly the damaged entries go.
func TestRepairCrashedStorage(t *testing.T) {
	blob := []byte(`{"schemaVersion":2}`)
	sum := sha256.Sum256(blob)
	hexSum := hex.EncodeToString(sum[:])
	digest := "sha256:" + hexSum
	v2 := "docker/registry/v2"
	tag := v2 + "/repositories/app/_manifests/tags/v1/current/link"
	files := []struct {
		path    string
		content string
		removed bool
	}{
		{tag, digest, false},
		{v2 + "/repositories/app/_manifests/tags/v2/current/link", "", true},
		{v2 + "/repositories/app/_manifests/revisions/sha256/" + hexSum + "/link", "sha256:12", true},
		{v2 + "/repositories/app/_layers/sha256/" + hexSum + "/link", digest, false},
		{v2 + "/blobs/sha256/" + hexSum[:2] + "/" + hexSum + "/data", string(blob), false},
		{v2 + "/blobs/sha256/" + hexSum[:2] + "/" + hexSum + "/data.partial", "", false},
		{v2 + "/blobs/sha256/aa/" + strings.Repeat("a", 64) + "/data", string(blob[:5]), true},
		{v2 + "/repositories/app/_uploads/0b8f/data", "half an upload", false},
		{v2 + "/repositories/app/_uploads/0b8f/startedat", "", false},
	}
	root := t.TempDir()
	var want []string
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if f.removed {
			want = append(want, filepath.FromSlash(f.path))
		}
	}
	removed, err := RepairCrashedStorage(root)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(removed)
	sort.Strings(want)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %q; want %q", removed, want)
	}
	for _, f := range files {
		_, err := os.Stat(filepath.Join(root, f.path))
		if gone := errors.Is(err, fs.ErrNotExist); gone != f.removed {
			t.Errorf("%s: gone = %v; want %v", f.path, gone, f.removed)
		}
	}

	if removed, err := RepairCrashedStorage(filepath.Join(root, "never-started")); err != nil || len(removed) != 0 {
		t.Errorf("a store not yet written: %q, %v; want nothing removed and no error", removed, err)
	}
}
