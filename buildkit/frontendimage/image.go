// Package frontendimage owns the container image of signet's BuildKit
// frontend: it compiles cmd/signet-frontend as a static binary per
// platform, wraps each in a FROM-scratch image labelled the way BuildKit's
// gateway expects, and writes the multi-platform index to an OCI layout or
// a registry. No container engine is involved.
package frontendimage

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BinaryPath is where the frontend lies in the image. Not /run: BuildKit
// bind-mounts /run/config/buildkit/metadata into every frontend container,
// which fails when /run is a file.
const BinaryPath = "/bin/signet-frontend"

// Labels BuildKit's gateway reads from a frontend image's config
// (frontend/gateway/gateway.go).
const (
	// NetworkNoneLabel runs the frontend without network: it needs none,
	// and without the label it would get the worker's default network.
	NetworkNoneLabel = "moby.buildkit.frontend.network.none"
	// CapsLabel lists the capabilities the frontend supports; a build
	// asking for one not listed fails with "unsupported frontend
	// capability".
	CapsLabel = "moby.buildkit.frontend.caps"
)

// Caps is the capability list of the Dockerfile frontend image of BuildKit
// v0.34.2, the version linked (its frontend/dockerfile/cmd/dockerfile-
// frontend/Dockerfile). The frontend handles these through the linked
// builder, so it claims exactly the same; update it with the BuildKit
// module.
const Caps = "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts,moby.buildkit.frontend.gitquerystring,moby.buildkit.frontend.contexts.zstd"

// Package is the frontend's main package.
const Package = "github.com/signet-project/signet/cmd/signet-frontend"

// buildTags are those of BuildKit's own Dockerfile frontend image: a pure
// Go resolver and user lookup, so the binary runs in an empty image.
const buildTags = "netgo static_build osusergo"

// Compile builds the frontend for platform into out with the go command,
// statically (CGO_ENABLED=0). It runs in the current directory, which must
// lie inside signet's module. version is stamped into the binary.
func Compile(ctx context.Context, platform v1.Platform, version, out string) error {
	if platform.OS != "linux" {
		return fmt.Errorf("compiling the frontend for %s: BuildKit runs frontends on linux only", platform)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", buildTags,
		"-ldflags", "-s -w -X main.version="+version, "-o", out, Package)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+platform.OS, "GOARCH="+platform.Architecture)
	if platform.Architecture == "arm" && platform.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(platform.Variant, "v"))
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("compiling %s for %s: %w\n%s", Package, platform, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Image wraps binary in a FROM-scratch image for platform: one layer
// holding BinaryPath, the entrypoint, and BuildKit's frontend labels. The
// image depends only on its inputs (file times and the config's creation
// time are created), so rebuilding the same binary gives the same digest.
func Image(binary []byte, platform v1.Platform, created time.Time) (v1.Image, error) {
	layerTar, err := binaryTar(binary, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("making the frontend layer: %w", err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, fmt.Errorf("appending the frontend layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the frontend config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = platform.OS, platform.Architecture, platform.Variant
	cfg.Created = v1.Time{Time: created.UTC()}
	cfg.Config.Entrypoint = []string{BinaryPath}
	cfg.Config.Labels = map[string]string{NetworkNoneLabel: "true", CapsLabel: Caps}
	cfg.History = []v1.History{{Created: cfg.Created, CreatedBy: "signet frontend-image: " + BinaryPath}}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("setting the frontend config: %w", err)
	}
	return img, nil
}

// binaryTar is the layer: /bin and the frontend binary, owned by root.
func binaryTar(binary []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdrs := []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755, ModTime: mtime},
		{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(BinaryPath, "/"), Mode: 0o755, Size: int64(len(binary)), ModTime: mtime},
	}
	for _, h := range hdrs {
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing the frontend layer: %w", err)
		}
	}
	if _, err := tw.Write(binary); err != nil {
		return nil, fmt.Errorf("writing the frontend layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("writing the frontend layer: %w", err)
	}
	return buf.Bytes(), nil
}

// Index gathers images, one per platform, into an OCI image index.
func Index(images []v1.Image) (v1.ImageIndex, error) {
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range images {
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading an image config: %w", err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: cfg.Platform()},
		})
	}
	return idx, nil
}

// WriteLayout writes idx to an OCI image layout at dir, replacing its
// index.json with one entry named refName (org.opencontainers.image.ref.name),
// which `buildctl --oci-layout` and named contexts
// ("oci-layout://NAME@DIGEST") read.
func WriteLayout(dir string, idx v1.ImageIndex, refName string) (v1.Hash, error) {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("creating OCI layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": refName})); err != nil {
		return v1.Hash{}, fmt.Errorf("writing the frontend to OCI layout %s: %w", dir, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("digesting the frontend index: %w", err)
	}
	return d, nil
}

// Push writes idx to ref on its registry, with the credentials of the
// docker config. Loopback registries are reached over plain HTTP, as are
// insecure ones.
func Push(ctx context.Context, ref string, idx v1.ImageIndex, insecure bool) (name.Digest, error) {
	opts := []name.Option{}
	if insecure || isLoopback(ref) {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("parsing image reference %q: %w", ref, err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return name.Digest{}, fmt.Errorf("pushing the frontend to %s: %w", r, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("digesting the frontend index: %w", err)
	}
	return r.Context().Digest(d.String()), nil
}

// isLoopback reports whether ref's registry is localhost or a loopback
// address.
func isLoopback(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Build compiles the frontend for each platform and returns the index of
// the resulting images. created stamps the images (SOURCE_DATE_EPOCH, for
// reproducible builds); tmpDir holds the binaries.
func Build(ctx context.Context, platforms []v1.Platform, version string, created time.Time, tmpDir string) (v1.ImageIndex, error) {
	if len(platforms) == 0 {
		return nil, fmt.Errorf("building the frontend image: no platform given")
	}
	images := make([]v1.Image, 0, len(platforms))
	for _, p := range platforms {
		bin := fmt.Sprintf("%s/signet-frontend-%s-%s%s", tmpDir, p.OS, p.Architecture, p.Variant)
		if err := Compile(ctx, p, version, bin); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("reading the compiled frontend: %w", err)
		}
		img, err := Image(data, p, created)
		if err != nil {
			return nil, fmt.Errorf("frontend image for %s: %w", p, err)
		}
		images = append(images, img)
	}
	return Index(images)
}
