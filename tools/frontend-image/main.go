// Command frontend-image writes the image of signet's BuildKit frontend
// (cmd/signet-frontend) without a container engine: a FROM-scratch image
// per platform holding the static binary, gathered in an OCI index, written
// to an OCI layout or pushed to a registry. `make frontend-image` runs it
// from the repository root:
//
//	go run ./tools/frontend-image -out dist/frontend [-push host/repo:tag] [-platforms linux/amd64,linux/arm64]
//
// SOURCE_DATE_EPOCH, when set, stamps the image, so two runs over the same
// sources give the same digest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/buildkit/frontendimage"
)

func main() {
	out := flag.String("out", "dist/frontend", "OCI layout directory to write (empty: none)")
	push := flag.String("push", "", "image reference to push to as well, e.g. registry.example.com/signet-frontend:1")
	insecure := flag.Bool("insecure", false, "push over plain HTTP (loopback registries always are)")
	platformList := flag.String("platforms", "linux/"+runtime.GOARCH, "comma-separated platforms to compile for")
	version := flag.String("version", "devel", "version stamped into the binary and the layout's ref name")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out, *push, *insecure, *platformList, *version); err != nil {
		fmt.Fprintln(os.Stderr, "frontend-image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, push string, insecure bool, platformList, version string) error {
	if out == "" && push == "" {
		return fmt.Errorf("nothing to do: give -out DIR, -push REF or both")
	}
	var platforms []v1.Platform
	for _, s := range strings.Split(platformList, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-platforms: %q: %w", s, err)
		}
		platforms = append(platforms, *p)
	}
	created := time.Unix(0, 0)
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970: %w", s, err)
		}
		created = time.Unix(sec, 0)
	}
	tmp, err := os.MkdirTemp("", "signet-frontend")
	if err != nil {
		return fmt.Errorf("making a directory for the binaries: %w", err)
	}
	defer os.RemoveAll(tmp)

	idx, err := frontendimage.Build(ctx, platforms, version, created, tmp)
	if err != nil {
		return err
	}
	if out != "" {
		d, err := frontendimage.WriteLayout(out, idx, "signet-frontend:"+version)
		if err != nil {
			return err
		}
		fmt.Printf("wrote %s (index %s, %s)\n", out, d, platformList)
	}
	if push != "" {
		ref, err := frontendimage.Push(ctx, push, idx, insecure)
		if err != nil {
			return err
		}
		fmt.Printf("pushed %s\n", ref)
	}
	return nil
}
