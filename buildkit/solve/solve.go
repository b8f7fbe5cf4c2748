// Package solve owns driving a buildkitd for `signet build`: it turns a
// build request (context, Dockerfile, platforms, tags) into a BuildKit
// solve with the Dockerfile frontend, pushes the result, shows BuildKit's
// usual progress display, and returns what the exporter reported (the
// digest of the pushed index). Signing is the caller's business: a
// frontend cannot sign what the exporter has yet to choose.
//
// The client's session gives buildkitd what only the client has, as
// buildctl and docker buildx do: registry credentials from the docker
// config (buildkitd pulls and pushes with them), secrets for RUN
// --mount=type=secret and SSH agents for RUN --mount=type=ssh.
package solve

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/credentials"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
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
	// Secrets are offered to RUN --mount=type=secret.
	Secrets []Secret
	// SSH are the SSH agents offered to RUN --mount=type=ssh.
	SSH []SSH
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

// Secret is a secret the build may mount. Its value is read from File or
// from the variable Env when buildkitd asks for it during the build, so it
// never passes through signet's command line, messages or memory before.
type Secret struct {
	ID   string
	File string
	Env  string
}

// ParseSecret parses a --secret value as docker buildx and buildctl take
// it: comma-separated id=ID, src=FILE (or source=FILE), env=VAR and
// type=file|env. Without src and env the secret is the variable named ID
// when that is set, else the file named ID. An env= variable must be set:
// an unset one would mount an empty secret. Errors name fields, never
// what follows their "=".
func ParseSecret(v string) (Secret, error) {
	r := csv.NewReader(strings.NewReader(v))
	fields, err := r.Read()
	if err != nil {
		return Secret{}, fmt.Errorf("want id=ID[,src=FILE|,env=VAR]: %w", err)
	}
	var s Secret
	var typ string
	for _, field := range fields {
		key, value, ok := strings.Cut(field, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if !ok {
			return Secret{}, fmt.Errorf("a field without \"=\": want id=ID[,src=FILE|,env=VAR]")
		}
		switch key {
		case "id":
			s.ID = value
		case "src", "source":
			s.File = value
		case "env":
			s.Env = value
		case "type":
			if value != "file" && value != "env" {
				return Secret{}, fmt.Errorf("type must be file or env")
			}
			typ = value
		default:
			// The value is not quoted: a secret given by mistake as
			// value=... must not end up in the message.
			return Secret{}, fmt.Errorf("unknown field %q: want id, src, env or type (a secret is passed by file or variable, never by value)", key)
		}
	}
	if s.ID == "" {
		return Secret{}, errors.New("no id=: want id=ID[,src=FILE|,env=VAR]")
	}
	if typ == "env" && s.Env == "" {
		s.Env, s.File = s.File, ""
	}
	if s.File != "" && s.Env != "" {
		return Secret{}, fmt.Errorf("secret %s names both a file and a variable: give one", s.ID)
	}
	if s.File == "" && s.Env == "" {
		if _, ok := os.LookupEnv(s.ID); ok && typ != "file" {
			s.Env = s.ID
		} else {
			s.File = s.ID
		}
	}
	if s.Env != "" {
		if _, ok := os.LookupEnv(s.Env); !ok {
			return Secret{}, fmt.Errorf("secret %s: variable %s is not set", s.ID, s.Env)
		}
	}
	return s, nil
}

// SSH is an SSH agent the build may use: ID is what RUN
// --mount=type=ssh,id= names ("default" when it names none), Paths an
// agent socket or private key files (none: $SSH_AUTH_SOCK).
type SSH struct {
	ID    string
	Paths []string
}

// ParseSSH parses an --ssh value as docker buildx and buildctl take it:
// "default", "ID", or "ID=SOCKET" or "ID=KEY[,KEY...]".
func ParseSSH(v string) (SSH, error) {
	id, paths, ok := strings.Cut(v, "=")
	if id == "" {
		return SSH{}, errors.New("want default|ID[=SOCKET|KEY[,KEY...]]")
	}
	a := SSH{ID: id}
	if ok {
		a.Paths = strings.Split(paths, ",")
		if slices.Contains(a.Paths, "") {
			return SSH{}, fmt.Errorf("ssh %s: an empty path: want ID=SOCKET or ID=KEY[,KEY...]", id)
		}
	}
	return a, nil
}

// session returns what the client offers buildkitd during the solve: the
// docker config's registry credentials always, secrets and SSH agents
// when r has any. The docker config is read from $DOCKER_CONFIG (else
// ~/.docker) at each build, as signet's own registry client reads it.
func (r *Request) session() ([]session.Attachable, error) {
	cfg, err := config.Load(os.Getenv(config.EnvOverrideConfigDir))
	if err != nil {
		return nil, fmt.Errorf("reading registry credentials: %w", err)
	}
	if !cfg.ContainsAuth() {
		// As docker and buildctl do: a credential helper installed on the
		// system (pass, secretservice, …) is the store when the config
		// names none.
		cfg.CredentialsStore = credentials.DetectDefaultStore(cfg.CredentialsStore)
	}
	out := []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(cfg),
	})}
	if len(r.Secrets) > 0 {
		srcs := make([]secretsprovider.Source, 0, len(r.Secrets))
		seen := map[string]bool{}
		for _, s := range r.Secrets {
			if seen[s.ID] {
				return nil, fmt.Errorf("secret %s is given twice", s.ID)
			}
			seen[s.ID] = true
			if s.File == "" && s.Env == "" {
				return nil, fmt.Errorf("secret %s names neither a file nor a variable", s.ID)
			}
			srcs = append(srcs, secretsprovider.Source{ID: s.ID, FilePath: s.File, Env: s.Env})
		}
		store, err := secretsprovider.NewStore(srcs)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		out = append(out, secretsprovider.NewSecretProvider(store))
	}
	if len(r.SSH) > 0 {
		confs := make([]sshprovider.AgentConfig, 0, len(r.SSH))
		for _, a := range r.SSH {
			confs = append(confs, sshprovider.AgentConfig{ID: a.ID, Paths: slices.Clone(a.Paths)})
		}
		p, err := sshprovider.NewSSHAgentProvider(confs)
		if err != nil {
			return nil, fmt.Errorf("ssh: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
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
	attachables, err := r.session()
	if err != nil {
		return bkclient.SolveOpt{}, err
	}
	return bkclient.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   mounts,
		Session:       attachables,
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
