package frontendimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestImage checks what BuildKit's gateway reads from the image: the
// entrypoint, the labels, the binary's path and mode, and that the same
// inputs give the same digest.
func TestImage(t *testing.T) {
	created := time.Unix(1700000000, 0)
	plat := v1.Platform{OS: "linux", Architecture: "arm64"}
	img, err := Image([]byte("#!binary"), plat, created)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != BinaryPath {
		t.Errorf("Entrypoint = %v; want [%s]", got, BinaryPath)
	}
	if cfg.Config.Labels[NetworkNoneLabel] != "true" || cfg.Config.Labels[CapsLabel] != Caps {
		t.Errorf("Labels = %v; want %s=true and %s=%s", cfg.Config.Labels, NetworkNoneLabel, CapsLabel, Caps)
	}
	if cfg.OS != "linux" || cfg.Architecture != "arm64" || !cfg.Created.Time.Equal(created) {
		t.Errorf("config platform %s/%s created %v; want linux/arm64 created %v", cfg.OS, cfg.Architecture, cfg.Created, created)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("MediaType() = %s; want %s", mt, types.OCIManifestSchema1)
	}

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("Layers() = %d layers, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
	}
	bin := files["bin/signet-frontend"]
	if bin == nil || bin.Mode != 0o755 || bin.Size != int64(len("#!binary")) || files["bin/"] == nil {
		t.Errorf("layer entries = %v; want bin/ and bin/signet-frontend (0755)", files)
	}
	if files["run"] != nil {
		t.Error("the layer holds /run, which BuildKit mounts over")
	}

	again, err := Image([]byte("#!binary"), plat, created)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("the same inputs gave digests %s and %s; want one", d1, d2)
	}
}

func TestWriteLayout(t *testing.T) {
	var images []v1.Image
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := Image([]byte(arch), v1.Platform{OS: "linux", Architecture: arch}, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, img)
	}
	idx, err := Index(images)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "frontend")
	d, err := WriteLayout(dir, idx, "signet-frontend:test")
	if err != nil {
		t.Fatal(err)
	}
	// Writing again replaces the entry instead of adding one.
	if _, err := WriteLayout(dir, idx, "signet-frontend:test"); err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != d || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "signet-frontend:test" {
		t.Fatalf("index.json = %+v; want one entry %s named signet-frontend:test", im.Manifests, d)
	}
	child, err := top.ImageIndex(d)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := child.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.Manifests) != 2 || cm.Manifests[0].Platform.Architecture != "amd64" || cm.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("frontend index = %+v; want linux/amd64 and linux/arm64", cm.Manifests)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		t.Fatal(err)
	}
}

func TestIsLoopback(t *testing.T) {
	for ref, want := range map[string]bool{
		"127.0.0.1:5000/fe:1":     true,
		"localhost:5000/fe":       true,
		"localhost/fe":            true,
		"[::1]:5000/fe":           true,
		"registry.example/fe:1":   false,
		"10.0.0.1:5000/fe":        false,
		"127.example.com:5000/fe": false,
	} {
		if got := isLoopback(ref); got != want {
			t.Errorf("isLoopback(%q) = %v; want %v", ref, got, want)
		}
	}
}
