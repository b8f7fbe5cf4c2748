package demo

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image describes one sample image: a tag and the platforms of its index.
// A single platform still makes an index, as multi-platform builds do.
type Image struct {
	Repo      string
	Tag       string
	Platforms []string
}

// Push writes a small random multi-platform image (an OCI index with one
// tiny image per platform) to host/repo:tag and returns the index digest and
// the digest of each platform's manifest. Random layers make every image
// distinct, so signatures cannot be shared by accident.
func Push(ctx context.Context, host string, img Image, opts ...remote.Option) (v1.Hash, map[string]v1.Hash, error) {
	ref, err := name.NewTag(host+"/"+img.Repo+":"+img.Tag, name.Insecure)
	if err != nil {
		return v1.Hash{}, nil, err
	}
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	children := make(map[string]v1.Hash, len(img.Platforms))
	for _, p := range img.Platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			return v1.Hash{}, nil, fmt.Errorf("platform %q: %w", p, err)
		}
		layer, err := random.Layer(256, types.OCILayer)
		if err != nil {
			return v1.Hash{}, nil, err
		}
		im, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer})
		if err != nil {
			return v1.Hash{}, nil, err
		}
		im = mutate.MediaType(im, types.OCIManifestSchema1)
		im = mutate.ConfigMediaType(im, types.OCIConfigJSON)
		cf, err := im.ConfigFile()
		if err != nil {
			return v1.Hash{}, nil, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
		if im, err = mutate.ConfigFile(im, cf); err != nil {
			return v1.Hash{}, nil, err
		}
		d, err := im.Digest()
		if err != nil {
			return v1.Hash{}, nil, err
		}
		children[p] = d
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: im, Descriptor: v1.Descriptor{Platform: plat}})
	}
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	if err := remote.WriteIndex(ref, idx, opts...); err != nil {
		return v1.Hash{}, nil, fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := idx.Digest()
	return d, children, err
}

// Catalog is the sample catalog the demo signs: several repositories,
// images of one to four platforms, and a second tag on one digest (signed
// once: signatures are per manifest, not per tag).
func Catalog() []Image {
	return []Image{
		{Repo: "demo/web", Tag: "1.0", Platforms: []string{"linux/amd64", "linux/arm64"}},
		{Repo: "demo/web", Tag: "1.1", Platforms: []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}},
		{Repo: "demo/api", Tag: "2.3", Platforms: []string{"linux/amd64", "linux/arm64", "linux/ppc64le", "linux/s390x"}},
		{Repo: "demo/api", Tag: "2.4", Platforms: []string{"linux/amd64", "linux/arm64"}},
		{Repo: "demo/worker", Tag: "0.9", Platforms: []string{"linux/amd64"}},
		{Repo: "demo/db", Tag: "15", Platforms: []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}},
	}
}
