// Command podman-verify evaluates a containers-policy.json the way podman does
// before it pulls an image, so signet's tests can check that the signatures
// they write are accepted by podman, skopeo and CRI-O (all of which verify
// through go.podman.io/image/v5, "c/image").
//
// usage:
//
//	podman-verify --key PUB.pem [--identity default|matchRepository|matchExact|exact:REF|exactRepository:REPO]
//	              [--insecure] [--platform os/arch[/variant]] [--scope repo|registry]
//	              [--skip-attestation-manifests] [--print-policy] [--debug] IMAGE
//
// IMAGE is a docker reference such as 127.0.0.1:5000/repo:tag or
// 127.0.0.1:5000/repo@sha256:…; it is used as given (a tag stays a tag), since
// the signedIdentity match depends on it.
//
// The policy and a registries.d directory are written to a temporary
// directory exactly as a podman user would write /etc/containers/policy.json
// and /etc/containers/registries.d/*.yaml, and the policy is loaded from that
// file with signature.NewPolicyFromFile.
//
// One JSON line per evaluated manifest goes to stdout:
//
//	{"instance":"sha256:…","mediaType":"…","platform":"linux/amd64","allowed":true}
//	{"instance":"sha256:…","mediaType":"…","platform":"linux/arm64","allowed":false,"error":"…"}
//
// For an index, the index itself is evaluated (platform "") and then every
// child, or with --platform only the child podman would pick for that
// platform. Exit status: 0 when every evaluated manifest is allowed, 1 when
// any is denied, 2 on usage or setup errors (message on stderr).
//
// Build with the tag containers_image_openpgp so that c/image uses its pure Go
// OpenPGP code instead of gpgme (cgo):
//
//	CGO_ENABLED=0 go build -tags containers_image_openpgp -o podman-verify .
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
)

// Exit statuses.
const (
	exitAllowed = 0
	exitDenied  = 1
	exitUsage   = 2
)

// attestationManifestAnnotation marks BuildKit's per-platform attestation
// manifests (platform unknown/unknown) in an index; podman never pulls them.
const attestationManifestAnnotation = "vnd.docker.reference.type"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command-line flags.
type options struct {
	key             string
	identity        string
	insecure        bool
	platform        string
	scope           string
	skipAttestation bool
	printPolicy     bool
	debug           bool
	image           string
	policyFile      string
	registriesD     string
}

// result is one output line.
type result struct {
	Instance  string `json:"instance"`
	MediaType string `json:"mediaType,omitempty"`
	Platform  string `json:"platform"`
	Allowed   bool   `json:"allowed"`
	Error     string `json:"error,omitempty"`
}

// usageError is reported with exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func setupErr(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitUsage
		}
		fmt.Fprintf(stderr, "podman-verify: %v\n", err)
		return exitUsage
	}
	logrus.SetOutput(stderr)
	if opts.debug {
		logrus.SetLevel(logrus.DebugLevel)
	} else {
		logrus.SetLevel(logrus.WarnLevel)
	}
	results, err := verify(ctx, opts, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "podman-verify: %v\n", err)
		return exitUsage
	}
	enc := json.NewEncoder(stdout)
	status := exitAllowed
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(stderr, "podman-verify: writing result: %v\n", err)
			return exitUsage
		}
		if !r.Allowed {
			status = exitDenied
		}
	}
	return status
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("podman-verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.key, "key", "", "public key (PEM) for the sigstoreSigned requirement (required)")
	fs.StringVar(&o.identity, "identity", "default",
		"signedIdentity: default (omitted: matchRepoDigestOrExact), matchRepoDigestOrExact, matchRepository, matchExact, exact:REF, exactRepository:REPO")
	fs.BoolVar(&o.insecure, "insecure", false, "allow plain HTTP and skip TLS verification (podman --tls-verify=false)")
	fs.StringVar(&o.platform, "platform", "", "os/arch[/variant]: evaluate only the index and the instance podman would pull for it")
	fs.StringVar(&o.scope, "scope", "repo", "policy.json transports.docker scope: repo (host:port/repo) or registry (host:port)")
	fs.BoolVar(&o.skipAttestation, "skip-attestation-manifests", false, "do not evaluate BuildKit attestation manifests in an index")
	fs.StringVar(&o.policyFile, "policy-file", "", "use this policy.json as is (instead of --key and --identity)")
	fs.StringVar(&o.registriesD, "registries-d", "", "with --policy-file: use this registries.d directory as is")
	fs.BoolVar(&o.printPolicy, "print-policy", false, "print the policy.json and registries.d file written to stderr")
	fs.BoolVar(&o.debug, "debug", false, "c/image debug logging on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: podman-verify --key PUB.pem [flags] IMAGE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return o, fmt.Errorf("want exactly one IMAGE argument, got %d", fs.NArg())
	}
	o.image = fs.Arg(0)
	if o.key == "" && o.policyFile == "" {
		return o, errors.New("--key (or --policy-file) is required")
	}
	if (o.policyFile == "") != (o.registriesD == "") {
		return o, errors.New("--policy-file and --registries-d go together")
	}
	if o.scope != "repo" && o.scope != "registry" {
		return o, fmt.Errorf("--scope %q: want repo or registry", o.scope)
	}
	return o, nil
}

// signedIdentity returns the policy's signedIdentity object, or nil to omit it.
func signedIdentity(s string) (map[string]string, error) {
	switch {
	case s == "default" || s == "":
		return nil, nil
	case s == "matchRepoDigestOrExact" || s == "matchRepository" || s == "matchExact":
		return map[string]string{"type": s}, nil
	case strings.HasPrefix(s, "exact:"):
		return map[string]string{"type": "exactReference", "dockerReference": strings.TrimPrefix(s, "exact:")}, nil
	case strings.HasPrefix(s, "exactRepository:"):
		return map[string]string{"type": "exactRepository", "dockerRepository": strings.TrimPrefix(s, "exactRepository:")}, nil
	}
	return nil, fmt.Errorf("--identity %q: want default, matchRepoDigestOrExact, matchRepository, matchExact, exact:REF or exactRepository:REPO", s)
}

// policyJSON is what a podman user would put in /etc/containers/policy.json to
// require a cosign key signature for scope and reject everything else.
func policyJSON(scope, keyPath string, identity map[string]string) ([]byte, error) {
	req := map[string]any{"type": "sigstoreSigned", "keyPath": keyPath}
	if identity != nil {
		req["signedIdentity"] = identity
	}
	p := map[string]any{
		"default":    []any{map[string]string{"type": "reject"}},
		"transports": map[string]any{"docker": map[string]any{scope: []any{req}}},
	}
	return json.MarshalIndent(p, "", "  ")
}

// registriesDYAML enables sigstore attachments (the cosign .sig tags) for a
// registry, as /etc/containers/registries.d/*.yaml would.
func registriesDYAML(registry string) []byte {
	return fmt.Appendf(nil, "docker:\n  %q:\n    use-sigstore-attachments: true\n", registry)
}

// verify writes the configuration, opens the image and evaluates the policy
// for each instance podman would check. Errors are setup errors; policy
// denials are results.
func verify(ctx context.Context, o options, stderr io.Writer) ([]result, error) {
	identity, err := signedIdentity(o.identity)
	if err != nil {
		return nil, usageError{err}
	}
	keyPath := ""
	if o.policyFile == "" {
		if keyPath, err = filepath.Abs(o.key); err != nil {
			return nil, setupErr("resolving --key: %w", err)
		}
		if _, err := os.Stat(keyPath); err != nil {
			return nil, setupErr("reading --key: %w", err)
		}
	}
	ref, err := docker.ParseReference("//" + o.image)
	if err != nil {
		return nil, setupErr("parsing image reference %q: %w", o.image, err)
	}
	// Name() is host:port/repo with any tag or digest dropped.
	repo := ref.DockerReference().Name()
	registry, _, _ := strings.Cut(repo, "/")
	scope := repo
	if o.scope == "registry" {
		scope = registry
	}

	dir, err := os.MkdirTemp("", "podman-verify-")
	if err != nil {
		return nil, setupErr("creating temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	pj, err := policyJSON(scope, keyPath, identity)
	if err != nil {
		return nil, setupErr("encoding policy: %w", err)
	}
	policyPath := filepath.Join(dir, "policy.json")
	regDir := filepath.Join(dir, "registries.d")
	regConfDir := filepath.Join(dir, "registries.conf.d")
	regYAML := registriesDYAML(registry)
	for _, d := range []string{regDir, regConfDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, setupErr("creating %s: %w", d, err)
		}
	}
	files := map[string][]byte{
		policyPath: pj,
		filepath.Join(regDir, "podman-verify.yaml"): regYAML,
		// An empty registries.conf keeps the host's /etc/containers/registries.conf
		// (mirrors, blocked or insecure registries) out of the evaluation.
		filepath.Join(dir, "registries.conf"): []byte("unqualified-search-registries = []\n"),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, setupErr("writing %s: %w", path, err)
		}
	}
	if o.printPolicy {
		fmt.Fprintf(stderr, "# %s\n%s\n# %s\n%s", policyPath, pj, filepath.Join(regDir, "podman-verify.yaml"), regYAML)
	}

	if o.policyFile != "" {
		// A user's own files (docs/examples), used exactly as written.
		policyPath, regDir = o.policyFile, o.registriesD
	}
	policy, err := signature.NewPolicyFromFile(policyPath)
	if err != nil {
		return nil, setupErr("loading policy: %w", err)
	}
	pc, err := signature.NewPolicyContext(policy)
	if err != nil {
		return nil, setupErr("creating policy context: %w", err)
	}
	defer pc.Destroy()

	sys := &types.SystemContext{
		RegistriesDirPath:           regDir,
		SystemRegistriesConfPath:    filepath.Join(dir, "registries.conf"),
		SystemRegistriesConfDirPath: regConfDir,
		SignaturePolicyPath:         policyPath,
		BlobInfoCacheDir:            dir,
	}
	if o.insecure {
		// What `podman pull --tls-verify=false` sets: c/image then tries
		// https first and falls back to http (docker/docker_client.go detectPropertiesHelper).
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
	}

	src, err := ref.NewImageSource(ctx, sys)
	if err != nil {
		return nil, setupErr("opening %s: %w", o.image, err)
	}
	defer src.Close()

	raw, mimeType, err := src.GetManifest(ctx, nil)
	if err != nil {
		return nil, setupErr("reading manifest of %s: %w", o.image, err)
	}
	top, err := manifest.Digest(raw)
	if err != nil {
		return nil, setupErr("digesting manifest of %s: %w", o.image, err)
	}

	evaluate := func(instance *digest.Digest, d digest.Digest, mt, platform string) result {
		r := result{Instance: d.String(), MediaType: mt, Platform: platform}
		// podman (copy/copy.go, copy/single.go) checks the top level with a nil
		// instance and each pulled instance with its digest, both through the
		// reference the user typed.
		allowed, err := pc.IsRunningImageAllowed(ctx, image.UnparsedInstance(src, instance))
		r.Allowed = allowed && err == nil // paranoid, as copy/single.go
		if err != nil {
			r.Error = err.Error()
		} else if !allowed {
			r.Error = "denied without an error"
		}
		return r
	}

	results := []result{evaluate(nil, top, mimeType, "")}
	if !manifest.MIMETypeIsMultiImage(mimeType) {
		return results, nil
	}
	list, err := manifest.ListFromBlob(raw, mimeType)
	if err != nil {
		return nil, setupErr("parsing index of %s: %w", o.image, err)
	}
	children := list.Instances()
	if o.platform != "" {
		parts := strings.Split(o.platform, "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, setupErr("--platform %q: want os/arch[/variant]", o.platform)
		}
		choice := &types.SystemContext{OSChoice: parts[0], ArchitectureChoice: parts[1]}
		if len(parts) == 3 {
			choice.VariantChoice = parts[2]
		}
		// The same selection podman makes for --platform / the host platform.
		d, err := list.ChooseInstance(choice)
		if err != nil {
			return nil, setupErr("choosing instance for %s in %s: %w", o.platform, o.image, err)
		}
		children = []digest.Digest{d}
	}
	for _, d := range children {
		info, err := list.Instance(d)
		if err != nil {
			return nil, setupErr("reading index entry %s: %w", d, err)
		}
		if o.skipAttestation && info.ReadOnly.Annotations[attestationManifestAnnotation] == "attestation-manifest" {
			continue
		}
		results = append(results, evaluate(&d, d, info.MediaType, platformString(info)))
	}
	return results, nil
}

func platformString(u manifest.ListUpdate) string {
	p := u.ReadOnly.Platform
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}
