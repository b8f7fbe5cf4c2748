package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/registry"
)

// platforms of every seeded image: an index and three image manifests, the
// shape of a typical multi-arch release.
var platforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
	{OS: "linux", Architecture: "arm", Variant: "v7"},
}

// image is one seeded multi-arch image.
type image struct {
	Repo     string // host/repo
	Tag      string
	Index    v1.Hash
	Children []v1.Hash
}

// Ref is "host/repo:tag".
func (i image) Ref() string { return i.Repo + ":" + i.Tag }

// catalog is a set of seeded images on one registry.
type catalog struct {
	Host   string
	Images []image
}

// Manifests counts the manifests a recursive signer signs: every index and
// child.
func (c catalog) Manifests() int {
	n := 0
	for _, im := range c.Images {
		n += 1 + len(im.Children)
	}
	return n
}

// Digests lists every manifest as "host/repo@sha256:…", indexes first in
// each image.
func (c catalog) Digests() []string {
	out := make([]string, 0, c.Manifests())
	for _, im := range c.Images {
		out = append(out, im.Repo+"@"+im.Index.String())
		for _, d := range im.Children {
			out = append(out, im.Repo+"@"+d.String())
		}
	}
	return out
}

// via returns the catalog as seen through another host (a proxy in front
// of the same registry).
func (c catalog) via(host string) catalog {
	out := catalog{Host: host, Images: make([]image, len(c.Images))}
	for i, im := range c.Images {
		im.Repo = host + strings.TrimPrefix(im.Repo, c.Host)
		out.Images[i] = im
	}
	return out
}

// writeCatalog writes a plain-text signet catalog, one tag reference per
// line.
func (c catalog) writeCatalog(path string) error {
	var b strings.Builder
	for _, im := range c.Images {
		b.WriteString(im.Ref())
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// seedImages pushes n multi-arch images to host under repositories
// prefix/app-NNN, perRepo tags each. Every child manifest is distinct (an
// annotation names its image and platform) while the blobs are shared per
// repository: one layer and one config per platform. Seeding then costs
// four manifest PUTs per image, and the registry's blob store holds what a
// real catalog's would.
func seedImages(ctx context.Context, reg *registry.Client, host, prefix string, n, perRepo int) (catalog, error) {
	c := catalog{Host: host, Images: make([]image, n)}
	repos := (n + perRepo - 1) / perRepo
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for r := range repos {
		g.Go(func() error {
			repo, err := name.NewRepository(fmt.Sprintf("%s/%s/app-%04d", host, prefix, r))
			if err != nil {
				return err
			}
			layer := make([]byte, 64)
			rand.Read(layer)
			layerDesc := v1.Descriptor{MediaType: types.OCIUncompressedLayer, Size: int64(len(layer)), Digest: sha(layer)}
			if err := reg.UploadBlob(gctx, repo, layerDesc.Digest, layer); err != nil {
				return fmt.Errorf("seeding %s: %w", repo, err)
			}
			configs := make([]v1.Descriptor, len(platforms))
			for i, p := range platforms {
				cfg, _ := json.Marshal(v1.ConfigFile{
					Architecture: p.Architecture, OS: p.OS, Variant: p.Variant,
					RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{layerDesc.Digest}},
				})
				configs[i] = v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cfg)), Digest: sha(cfg)}
				if err := reg.UploadBlob(gctx, repo, configs[i].Digest, cfg); err != nil {
					return fmt.Errorf("seeding %s: %w", repo, err)
				}
			}
			for t := 0; t < perRepo && r*perRepo+t < n; t++ {
				im, err := seedOne(gctx, reg, repo, fmt.Sprintf("v%d", t), layerDesc, configs)
				if err != nil {
					return err
				}
				c.Images[r*perRepo+t] = im
			}
			return nil
		})
	}
	return c, g.Wait()
}

func seedOne(ctx context.Context, reg *registry.Client, repo name.Repository, tag string, layer v1.Descriptor, configs []v1.Descriptor) (image, error) {
	im := image{Repo: repo.Name(), Tag: tag}
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for i, p := range platforms {
		m := v1.Manifest{
			SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
			Config:      configs[i],
			Layers:      []v1.Descriptor{layer},
			Annotations: map[string]string{"dev.signet.bench.image": repo.Name() + ":" + tag + " " + p.String()},
		}
		body, _ := json.Marshal(m)
		d := sha(body)
		if _, err := reg.PutManifest(ctx, repo.Digest(d.String()), string(m.MediaType), body); err != nil {
			return im, fmt.Errorf("seeding %s: %w", repo.Digest(d.String()), err)
		}
		im.Children = append(im.Children, d)
		idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: m.MediaType, Size: int64(len(body)), Digest: d, Platform: &p})
	}
	body, _ := json.Marshal(idx)
	put, err := reg.PutManifest(ctx, repo.Tag(tag), string(idx.MediaType), body)
	if err != nil {
		return im, fmt.Errorf("seeding %s: %w", repo.Tag(tag), err)
	}
	im.Index = put.Digest
	return im, nil
}

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// signedCount counts the manifests of c that carry a signature tag: the
// cosign ".sig" tag (suffix ".sig") or notation's referrers fallback index
// (suffix ""). One tag listing per repository.
func signedCount(ctx context.Context, reg *registry.Client, c catalog, suffix string) (int, error) {
	byRepo := map[string][]image{}
	for _, im := range c.Images {
		byRepo[im.Repo] = append(byRepo[im.Repo], im)
	}
	n := 0
	for repoName, ims := range byRepo {
		repo, err := name.NewRepository(repoName)
		if err != nil {
			return 0, err
		}
		tags, err := reg.Tags(ctx, repo)
		if err != nil {
			return 0, err
		}
		have := make(map[string]bool, len(tags))
		for _, t := range tags {
			have[t] = true
		}
		for _, im := range ims {
			for _, d := range append([]v1.Hash{im.Index}, im.Children...) {
				if have[d.Algorithm+"-"+d.Hex+suffix] {
					n++
				}
			}
		}
	}
	return n, nil
}
