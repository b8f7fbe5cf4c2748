package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// The ggcr writer is the baseline for what the registry itself can take: a
// small program that writes the same cosign .sig images signet writes (a
// simple-signing payload layer with its signature annotation, on
// go-containerregistry's empty OCI image, as cosign builds them) with
// go-containerregistry's remote package, N goroutines sharing one Pusher
// (so one auth ping per repository, not per image). It signs with an
// in-memory P-256 key and plans nothing: it is given every digest.
//
// The harness runs it as a process of its own (this binary with
// -ggcr-writer) so that its CPU and memory are measured like signet's.

// writerItem is one manifest to sign.
type writerItem struct {
	Repo     string `json:"repo"`
	Digest   string `json:"digest"`
	Identity string `json:"identity"`
}

// writePlan writes the items for the writer, one JSON object per line.
func writePlan(path string, c catalog) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, im := range c.Images {
		for _, d := range append([]v1.Hash{im.Index}, im.Children...) {
			enc.Encode(writerItem{Repo: im.Repo, Digest: d.String(), Identity: im.Ref()})
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ggcrWriterMain is the writer process: it reads the plan and writes a .sig
// image for every item.
func ggcrWriterMain(planPath string, goroutines int) error {
	b, err := os.ReadFile(planPath)
	if err != nil {
		return err
	}
	var items []writerItem
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var it writerItem
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			return fmt.Errorf("%s: %w", planPath, err)
		}
		items = append(items, it)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
	}
	ctx := context.Background()
	pusher, err := remote.NewPusher(remote.WithTransport(tr), remote.WithContext(ctx))
	if err != nil {
		return err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(goroutines)
	for _, it := range items {
		g.Go(func() error {
			d, err := v1.NewHash(it.Digest)
			if err != nil {
				return err
			}
			repo, err := name.NewRepository(it.Repo, name.Insecure)
			if err != nil {
				return err
			}
			payload := fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, it.Identity, it.Digest)
			sum := sha256.Sum256(payload)
			sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
			if err != nil {
				return err
			}
			img, err := mutate.Append(base, mutate.Addendum{
				Layer:       static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
				Annotations: map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)},
			})
			if err != nil {
				return err
			}
			ref := repo.Tag(d.Algorithm + "-" + d.Hex + ".sig")
			if err := pusher.Push(gctx, ref, img); err != nil {
				return fmt.Errorf("writing %s: %w", ref, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Printf("%d signatures written\n", len(items))
	return nil
}
