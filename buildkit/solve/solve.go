// Package solve owns driving a buildkitd for `signet build`: it turns a
// build request (context, Dockerfile, platforms, tags) into a BuildKit
// solve with the Dockerfile frontend, pushes the result, shows BuildKit's
// usual progress display, and returns what the exporter reported (the
// digest of the pushed index). Signing is the caller's business: a
// frontend cannot sign what the exporter has yet to choose.
package solve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/buildkit"
)

// DefaultAddr is buildkitd's default socket.
const DefaultAddr = "unix:///run/buildkit/buildkitd.sock"

// DefaultProvenance is the provenance BuildKit is asked for unless the
// request says otherwise: max mode records the build args, contexts and
// every material (the frontend image included), which signet turns into
// signed SLSA provenance.
const DefaultProvenance = "mode=max"

// Request is one build.
type Request struct {
	// Addr is buildkitd's address (DefaultAddr when empty).
	Addr string
	// Context is the build context directory.
	Context string
	// Dockerfile is the Dockerfile's path; empty means Context/Dockerfile.
	Dockerfile string
	// Platforms are the target platforms ("linux/amd64"); empty means the
	// daemon's.
	Platforms []string
	// Tags are the references the image is pushed to; at least one.
	Tags []string
	// BuildArgs are passed as build-arg:NAME.
	BuildArgs map[string]string
	// Provenance is BuildKit's attest:provenance value (DefaultProvenance
	// when empty; "disabled" asks for none).
	Provenance string
	// PolicyFile, when set, is handed to the frontend as the named
	// context buildkit.PolicyContext (its directory, filtered down to the
	// file) so that a `# syntax=` signet frontend refuses a forbidden
	// signing request before building.
	PolicyFile string
	// Insecure pushes over plain HTTP (the exporter's registry.insecure).
	Insecure bool
	// Progress receives BuildKit's progress display; nil discards it.
	Progress io.Writer
	// ProgressMode is progressui's mode: auto, plain, tty, quiet or
	// rawjson (auto when empty).
	ProgressMode string
}

// Result is what the exporter reported.
type Result struct {
	// Digest is the pushed manifest: the index of a multi-platform build,
	// or of any build with attestations.
	Digest v1.Hash
	// Response is the exporter's whole response (containerimage.digest,
	// image.name, containerimage.descriptor, …).
	Response map[string]string
}

// solveOpt turns r into BuildKit's solve options.
func (r *Request) solveOpt() (bkclient.SolveOpt, error) {
	if len(r.Tags) == 0 {
		return bkclient.SolveOpt{}, errors.New("no tag to push the image to")
	}
	ctxDir := r.Context
	if ctxDir == "" {
		ctxDir = "."
	}
	dockerfile := r.Dockerfile
	if dockerfile == "" {
		dockerfile = filepath.Join(ctxDir, "Dockerfile")
	}
	contextFS, err := fsutil.NewFS(ctxDir)
	if err != nil {
		return bkclient.SolveOpt{}, fmt.Errorf("opening build context %s: %w", ctxDir, err)
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(dockerfile))
	if err != nil {
		return bkclient.SolveOpt{}, fmt.Errorf("opening the directory of %s: %w", dockerfile, err)
	}
	if _, err := os.Stat(dockerfile); err != nil {
		return bkclient.SolveOpt{}, fmt.Errorf("reading Dockerfile: %w", err)
	}
	attrs := map[string]string{"filename": filepath.Base(dockerfile)}
	if len(r.Platforms) > 0 {
		attrs["platform"] = strings.Join(r.Platforms, ",")
	}
	switch prov := r.Provenance; prov {
	case "":
		attrs["attest:provenance"] = DefaultProvenance
	case "disabled":
	default:
		attrs["attest:provenance"] = prov
	}
	for k, v := range r.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	mounts := map[string]fsutil.FS{"context": contextFS, "dockerfile": dfFS}
	if r.PolicyFile != "" {
		if _, err := os.Stat(r.PolicyFile); err != nil {
			return bkclient.SolveOpt{}, fmt.Errorf("reading signing policy: %w", err)
		}
		dir, err := fsutil.NewFS(filepath.Dir(r.PolicyFile))
		if err != nil {
			return bkclient.SolveOpt{}, fmt.Errorf("opening the directory of %s: %w", r.PolicyFile, err)
		}
		// Only the policy file is sent: its directory may be a whole
		// repository.
		only, err := fsutil.NewFilterFS(dir, &fsutil.FilterOpt{IncludePatterns: []string{filepath.Base(r.PolicyFile)}})
		if err != nil {
			return bkclient.SolveOpt{}, fmt.Errorf("filtering %s: %w", r.PolicyFile, err)
		}
		mounts[buildkit.PolicyContext] = only
		attrs["context:"+buildkit.PolicyContext] = "local:" + buildkit.PolicyContext
		attrs["build-arg:"+buildkit.ArgPolicyFile] = filepath.Base(r.PolicyFile)
	}
	exportAttrs := map[string]string{"name": strings.Join(r.Tags, ","), "push": "true"}
	if r.Insecure {
		exportAttrs["registry.insecure"] = "true"
	}
	return bkclient.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   mounts,
		Exports:       []bkclient.ExportEntry{{Type: bkclient.ExporterImage, Attrs: exportAttrs}},
	}, nil
}

// Build runs the build on buildkitd and pushes the image. The Dockerfile
// is built by the daemon's dockerfile.v0, which hands over to the image a
// `# syntax=` line names (signet's frontend, typically), so BuildKit's
// provenance records that image as a material.
func Build(ctx context.Context, r Request) (*Result, error) {
	opt, err := r.solveOpt()
	if err != nil {
		return nil, err
	}
	addr := r.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	c, err := bkclient.New(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to buildkitd at %s: %w", addr, err)
	}
	defer c.Close()

	out := r.Progress
	if out == nil {
		out = io.Discard
	}
	mode := progressui.DisplayMode(r.ProgressMode)
	if mode == "" {
		mode = progressui.AutoMode
	}
	display, err := progressui.NewDisplay(out, mode)
	if err != nil {
		return nil, fmt.Errorf("progress display: %w", err)
	}

	ch := make(chan *bkclient.SolveStatus)
	var resp *bkclient.SolveResponse
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		resp, err = c.Solve(gctx, nil, opt, ch)
		return err
	})
	g.Go(func() error {
		// The display returns when Solve closes the channel; its error
		// is about the terminal, never about the build.
		_, _ = display.UpdateFrom(context.WithoutCancel(gctx), ch)
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("building %s on %s: %w", strings.Join(r.Tags, ", "), addr, err)
	}
	d := resp.ExporterResponse[exptypes.ExporterImageDigestKey]
	h, err := v1.NewHash(d)
	if err != nil {
		return nil, fmt.Errorf("the exporter reported digest %q for %s: %w", d, strings.Join(r.Tags, ", "), err)
	}
	return &Result{Digest: h, Response: resp.ExporterResponse}, nil
}
