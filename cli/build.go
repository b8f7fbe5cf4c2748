package cli

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/buildkit"
	"github.com/signet-project/signet/buildkit/pending"
	"github.com/signet-project/signet/buildkit/solve"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/policy"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature/cosign"
)

type buildFlags struct {
	runFlags
	addr       string
	dockerfile string
	platforms  []string
	tags       []string
	buildArgs  []string
	provenance string
	progress   string
	secrets    []string
	ssh        []string
}

func newBuildCmd(g *globals) *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build --tag REF [--addr ADDR] [-f Dockerfile] [--platform P,...] [--key KEYREF] [CONTEXT]",
		Short: "Build with buildkitd, push, and sign the index, its images and BuildKit's provenance",
		Long: `Build builds CONTEXT (default ".") with buildkitd through BuildKit's Go client
and the Dockerfile frontend, pushes the result to every --tag, and signs what
was pushed through the batch engine: the index, every platform image and
BuildKit's attestation manifests, plus signed SLSA provenance (.att) made from
the provenance BuildKit recorded (BuildKit is asked for attest:provenance
mode=max unless --provenance says otherwise).

A Dockerfile whose first line is "# syntax=<signet frontend image>" may
declare its signing with "# signet:" lines (formats, attest, key); the
frontend records them as a sign-request attestation, and build honours it:
its formats and attestations are used, and its key unless --key or
SIGNET_KEY names another (a warning says so). Explicit --format and
--attest win too, with a warning.

--policy FILE checks the signing against a signing policy before anything
is built: here, with the key that will sign, for the repository of every
--tag; and in the frontend too when the Dockerfile declares an intent (the
file is handed over as the build context "signet-policy").

BuildKit pulls and pushes with the credentials of the docker config
($DOCKER_CONFIG, else ~/.docker/config.json, credential helpers included),
as docker buildx and buildctl do. --secret and --ssh hand secrets and SSH
agents to RUN --mount=type=secret and type=ssh, in docker buildx's syntax:
  --secret id=npmrc,src=$HOME/.npmrc    --secret id=token,env=API_TOKEN
  --ssh default                         --ssh github=$HOME/.ssh/id_ed25519
A secret is read from its file or variable while the build runs and is
never put on a command line; pass it by file or variable, not by value.

The signing flags are checked, and the key opened, before anything is
built, so that a bad flag or key exits 1 with nothing pushed.

Exit status: 0 when the build was pushed and everything signed, 2 when some
manifests failed to sign, 1 for usage errors and failed builds.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			contextDir := "."
			if len(args) == 1 {
				contextDir = args[0]
			}
			return runBuild(cmd, g, &f, contextDir)
		},
	}
	f.register(cmd, 8)
	addr := os.Getenv("BUILDKIT_HOST")
	if addr == "" {
		addr = solve.DefaultAddr
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", addr, "buildkitd address ($BUILDKIT_HOST sets the default)")
	fl.StringVarP(&f.dockerfile, "file", "f", "", "Dockerfile (default CONTEXT/Dockerfile)")
	fl.StringSliceVar(&f.platforms, "platform", nil, "target platforms, e.g. linux/amd64,linux/arm64 (default: the daemon's)")
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, "image reference to push to (repeatable; at least one)")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "build argument NAME=VALUE (repeatable)")
	fl.StringVar(&f.provenance, "provenance", solve.DefaultProvenance, `BuildKit's provenance (attest:provenance), or "disabled"`)
	fl.StringVar(&f.progress, "progress", "auto", "progress display: auto, plain, tty, quiet or rawjson")
	fl.StringArrayVar(&f.secrets, "secret", nil, "secret for RUN --mount=type=secret: id=ID[,src=FILE|,env=VAR] (repeatable)")
	fl.StringArrayVar(&f.ssh, "ssh", nil, "SSH agent for RUN --mount=type=ssh: default or ID[=SOCKET|KEY[,KEY...]] (repeatable)")
	return cmd
}

func runBuild(cmd *cobra.Command, g *globals, f *buildFlags, contextDir string) error {
	ctx := cmd.Context()
	if len(f.tags) == 0 {
		return usageErr("pass --tag REF: the image is pushed there, and signed there")
	}
	reg, err := g.registry()
	if err != nil {
		return err
	}
	var tags []name.Tag
	for _, t := range f.tags {
		tag, err := name.NewTag(t, name.StrictValidation)
		if err != nil {
			return usageErr("--tag %q: %w (want host/repository:tag)", t, err)
		}
		tags = append(tags, tag)
	}
	buildArgs := map[string]string{}
	for _, a := range f.buildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return usageErr("--build-arg %q: want NAME=VALUE", a)
		}
		// BuildKit records build args in its provenance: a PIN given
		// here would be published with the image.
		if strings.Contains(strings.ToLower(v), "pin-value=") {
			return usageErr("--build-arg %s carries a PIN (pin-value=): build args are recorded in BuildKit's provenance; give the PIN to signet instead (SIGNET_PKCS11_PIN)", k)
		}
		buildArgs[k] = v
	}
	secrets := make([]solve.Secret, 0, len(f.secrets))
	for _, v := range f.secrets {
		s, err := solve.ParseSecret(v)
		if err != nil {
			return usageErr("--secret: %w", err)
		}
		secrets = append(secrets, s)
	}
	agents := make([]solve.SSH, 0, len(f.ssh))
	for _, v := range f.ssh {
		a, err := solve.ParseSSH(v)
		if err != nil {
			return usageErr("--ssh: %w", err)
		}
		agents = append(agents, a)
	}
	dockerfile := f.dockerfile
	if dockerfile == "" {
		dockerfile = filepath.Join(contextDir, "Dockerfile")
	}
	if _, err := f.signingPolicy(ctx, g); err != nil {
		return err
	}
	if f.policy != "" {
		addPolicyRepository(buildArgs, dockerfile, tags[0])
	}
	// What the frontend will record, unless the Dockerfile lacks the
	// `# syntax=` line; an intent it refuses fails the build with its own
	// message.
	var local *buildkit.SignRequest
	if data, err := os.ReadFile(dockerfile); err == nil {
		if r, err := buildkit.ParseIntent(filepath.Base(dockerfile), data, buildArgs); err == nil {
			local = r
		}
	}
	// Everything that would refuse the signing is checked before anything
	// is built: found after the push, it would leave an unsigned image in
	// the registry and exit 1 as if nothing had been attempted.
	defer f.closeKeys()
	rk := newRequestKeys(&f.runFlags, true)
	planned := f.buildSettings(ctx, g, cmd, rk, local)
	if err := f.checkSigning(ctx, g, reg, planned, tags); err != nil {
		return err
	}

	res, err := solve.Build(ctx, solve.Request{
		Addr:         f.addr,
		Context:      contextDir,
		Dockerfile:   dockerfile,
		Platforms:    f.platforms,
		Tags:         f.tags,
		BuildArgs:    buildArgs,
		Provenance:   f.provenance,
		PolicyFile:   f.policy,
		Secrets:      secrets,
		SSH:          agents,
		Insecure:     slices.ContainsFunc(tags, func(t name.Tag) bool { return g.isInsecure(t.RegistryStr()) }),
		Progress:     g.stderr,
		ProgressMode: f.progress,
	})
	if err != nil {
		return usageErr("%w", err)
	}
	for _, t := range tags {
		fmt.Fprintf(g.stdout, "pushed   %s@%s\n", t, res.Digest)
	}

	first := tags[0].Context().Digest(res.Digest.String())
	img, err := pending.Inspect(ctx, reg, first, batch.Identity(tags[0]))
	if err != nil {
		return failedErr("the build was pushed, but reading it back failed: %w", err)
	}
	req := img.Request
	if req == nil && local != nil {
		// Without the `# syntax=` line no frontend recorded the intent,
		// but the Dockerfile still says what its author wants.
		g.warn("the image carries no sign request (is the Dockerfile's first line `# syntax=<signet frontend>`?); signing as its # signet: lines say",
			"dockerfile", dockerfile)
		req = local
	}
	// The request was read back by digest from what this build pushed, so
	// it says what the operator's own Dockerfile says; it is what was
	// checked before the build unless the frontend recorded otherwise.
	settings := planned
	if (req == nil) != (local == nil) || req != nil && !req.Equal(local) {
		settings = f.buildSettings(ctx, g, cmd, rk, req)
	}
	targets := make([]batch.Target, len(tags))
	for i, t := range tags {
		targets[i] = batch.Target{Ref: t.String() + "@" + res.Digest.String(), Source: "signet build", Recursive: true, Settings: settings}
	}
	return f.run(ctx, g, targets, nil)
}

// buildSettings are the settings signet build signs with, given the build's
// sign request (nil when it has none): the request's (see settingsFor), or
// without one signed provenance made from BuildKit's unless --attest or
// --provenance disabled says otherwise.
func (f *buildFlags) buildSettings(ctx context.Context, g *globals, cmd *cobra.Command, rk *requestKeys, req *buildkit.SignRequest) batch.Settings {
	s := rk.settingsFor(ctx, g, cmd, &f.runFlags, req)
	if req == nil && !cmd.Flags().Changed("attest") && f.provenance != "disabled" {
		s.Attest = []string{buildkit.ProvenanceAttest}
	}
	return s
}

// checkSigning refuses, before anything is built, what would refuse to
// sign: the signing flags, a key that does not open (it is opened now and
// kept for the signing), formats or attestations that cannot be made with
// it (notation without a certificate chain, a missing predicate file), and
// signing the --policy forbids in the repository of any of tags. The
// frontend checks the policy only for a Dockerfile that declares an intent,
// and with the key the intent names rather than the one that signs.
func (f *buildFlags) checkSigning(ctx context.Context, g *globals, reg *registry.Client, s batch.Settings, tags []name.Tag) error {
	if err := f.validate(); err != nil {
		return err
	}
	// What the images will be signed with, as run fills it in.
	signed := batch.Effective(&s, f.defaults())
	if signed.Key == "" {
		return usageErr("no signing key: pass --key KEYREF, set SIGNET_KEY, or name one in the Dockerfile (# signet:key=); nothing was built")
	}
	key, err := f.openKey(ctx, g, signed.Key)
	if err != nil {
		return err
	}
	set, err := newFormatSet(reg, cosign.NewStore(reg), &f.runFlags)
	if err != nil {
		return err
	}
	if _, err := set.forItem(key, signed.Formats, signed.Attest); err != nil {
		return usageErr("%w; nothing was built", err)
	}
	pol, err := f.signingPolicy(ctx, g)
	if err != nil || pol == nil {
		return err
	}
	// Every manifest the build pushes lives in a --tag's repository and is
	// signed with these settings: these are the requests run would ask the
	// policy about after the push, which it then leaves alone.
	reqs := make([]policy.SigningRequest, len(tags))
	for i, t := range tags {
		reqs[i] = policy.SigningRequest{Key: key.Ref(), Public: key.Public(), Repo: t.Context().String(), Formats: signed.Formats, Source: "--tag " + t.String()}
	}
	if err := f.askPolicy(pol, reqs); err != nil {
		return usageErr("signing policy %s refuses the build's signing; nothing was built:\n%w", f.policy, err)
	}
	return nil
}

// addPolicyRepository tells the frontend which repository the image is for,
// so that it can check the policy's scopes, which it could not otherwise:
// the repository belongs to the exporter. It does so only when the build
// declares a signing intent: SIGNET_REPOSITORY is one of the intent's build
// args, so on its own it would make the frontend record a sign request the
// Dockerfile never asked for (and drop the provenance signet build signs
// by default). A build arg the user set is left alone.
func addPolicyRepository(buildArgs map[string]string, dockerfile string, tag name.Tag) {
	if _, ok := buildArgs[buildkit.ArgRepository]; ok {
		return
	}
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		// The build fails on the missing Dockerfile anyway.
		return
	}
	// An intent the frontend will refuse gets the repository too: the
	// frontend's error is the one to show.
	if req, err := buildkit.ParseIntent(filepath.Base(dockerfile), data, buildArgs); req != nil || err != nil {
		buildArgs[buildkit.ArgRepository] = tag.Context().Name()
	}
}

// requestKeys decides which key signs what a sign request asks for. A
// request is a wish: the operator's key, given by --key or SIGNET_KEY,
// signs whatever key the request names (with a warning when they differ).
// Only when the operator gave no key is the requested one used; a signing
// policy (--policy) then decides which requested keys may sign which
// repositories.
type requestKeys struct {
	// key is the operator's key; from says how it was given ("--key" or
	// "SIGNET_KEY").
	key, from string
	// trusted says the request comes from the operator's own Dockerfile
	// (signet build) rather than from a registry anyone who can push there
	// writes (--pending): a key an untrusted request names is never opened
	// just to compare it, since opening a key reference reads files or
	// loads PKCS#11 modules of the request's choosing.
	trusted bool
	// seen remembers the requested keys already decided on, so that a
	// registry of many images built alike compares and warns once per key.
	seen map[string]bool
}

func newRequestKeys(f *runFlags, trusted bool) *requestKeys {
	rk := &requestKeys{trusted: trusted, seen: map[string]bool{}}
	rk.key, rk.from = f.operatorKey()
	return rk
}

// settingsFor turns a build's sign request (nil when it has none) into the
// settings its targets are signed with. The request's formats,
// attestations and key are used unless the command line names others
// explicitly; the operator's key is used whatever the request names (see
// requestKeys), and an empty Key means the run's default key, which is
// the operator's.
func (rk *requestKeys) settingsFor(ctx context.Context, g *globals, cmd *cobra.Command, f *runFlags, req *buildkit.SignRequest) batch.Settings {
	var s batch.Settings
	if req == nil {
		return s
	}
	s.Formats, s.Attest = req.Formats, req.Attest
	if cmd.Flags().Changed("format") {
		if !slices.Equal(f.formats, req.Formats) {
			g.warn("--format overrides the formats the build's sign request asks for", "requested", strings.Join(req.Formats, ","), "used", strings.Join(f.formats, ","))
		}
		s.Formats = f.formats
	}
	if cmd.Flags().Changed("attest") {
		if !slices.Equal(f.attest, req.Attest) {
			g.warn("--attest overrides the attestations the build's sign request asks for", "requested", strings.Join(req.Attest, ","), "used", strings.Join(f.attest, ","))
		}
		s.Attest = f.attest
	}
	if req.Key == "" {
		return s
	}
	if rk.key == "" {
		s.Key = req.Key
	}
	if rk.seen[req.Key] {
		return s
	}
	rk.seen[req.Key] = true
	if rk.key == "" {
		if !rk.trusted && f.policy == "" {
			g.warn("signing with the key a sign request names: no --key or SIGNET_KEY says which key signs, and no --policy says which keys may sign where", "requested", req.Key)
		}
		return s
	}
	load := func(ref string) (crypto.PublicKey, error) { return f.publicKey(ctx, g, ref) }
	if same, err := sameKey(rk.key, req.Key, rk.trusted, load); !same {
		// The request's key is named, never the operator's: SIGNET_KEY
		// may carry a PIN (pin-value).
		args := []any{"requested", req.Key}
		if err != nil {
			args = append(args, "comparing", err.Error())
		}
		g.warn(rk.from+" overrides the key the build's sign request names", args...)
	}
	return s
}

// errNotOpened is why a key an untrusted sign request names was not
// compared with the operator's.
var errNotOpened = errors.New("a key named by a sign request from the registry is not opened to compare it")

// sameKey reports whether key reference ref names the key the sign request
// names: the same reference, the same pkcs11 URI without its PIN, the same
// public key, or a public key with the requested fingerprint. Public keys
// come from load; only ref's is loaded unless openRequested. The error says
// why keys could not be compared.
func sameKey(ref, requested string, openRequested bool, load func(string) (crypto.PublicKey, error)) (bool, error) {
	if ref == requested {
		return true, nil
	}
	if a, err := hsm.ParseURI(ref); err == nil {
		if b, err := hsm.ParseURI(requested); err == nil && a.String() == b.String() {
			return true, nil
		}
	}
	if !strings.HasPrefix(requested, "sha256:") && !openRequested {
		return false, errNotOpened
	}
	pub, err := load(ref)
	if err != nil {
		return false, err
	}
	if strings.HasPrefix(requested, "sha256:") {
		fp, err := policy.KeyFingerprint(pub)
		return err == nil && strings.EqualFold(strings.ReplaceAll(requested, ":", ""), strings.ReplaceAll(fp, ":", "")), err
	}
	want, err := load(requested)
	if err != nil {
		return false, err
	}
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(want), nil
}

// runPending signs the images under where (a registry host, or host/repo)
// whose sign request (left by signet's BuildKit frontend) is not yet
// honoured: each requested signature and attestation is verified with the
// key first, and only images missing something go to the batch engine,
// which in turn leaves alone what is already there.
func runPending(cmd *cobra.Command, g *globals, f *runFlags, where string) error {
	ctx := cmd.Context()
	entry, err := pendingEntry(where, g.stdout)
	if err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	reg, err := g.registry()
	if err != nil {
		return err
	}
	pol, err := f.signingPolicy(ctx, g)
	if err != nil {
		return err
	}
	defer f.closeKeys()
	defaults := f.defaults()
	if defaults.Key != "" {
		// The operator's key signs whatever the requests name, so it is
		// opened first, as signet sign opens its key: a wrong PIN or a
		// missing file is a configuration error found before the registry
		// is walked, with one login.
		if _, err := f.openKey(ctx, g, defaults.Key); err != nil {
			return err
		}
	}
	cat := &batch.Catalog{Entries: []batch.Entry{entry}}
	refs, failures := cat.Targets(ctx, reg, f.workers)

	images, inspectFailures := inspectAll(ctx, reg, refs, f.workers)
	failures = append(failures, inspectFailures...)

	// These images were built elsewhere, by other runs: the environment
	// this run signs in says nothing about how they were built.
	f.provenanceFlags.builtElsewhere = true

	// What each request gets is decided for every image before any key is
	// opened: the policy must refuse a key a request names before signet
	// loads its module or logs in to its token with the host's PIN.
	type decision struct {
		pi pendingImage
		// settings are the image's target settings; signed fills them
		// in with the run's defaults.
		settings, signed batch.Settings
	}
	keys := newRequestKeys(f, false)
	var decided []decision
	var asked []policy.SigningRequest
	for _, pi := range images {
		if pi.img.Request == nil {
			continue
		}
		settings := keys.settingsFor(ctx, g, cmd, f, pi.img.Request)
		signed := batch.Effective(&settings, defaults)
		if signed.Key == "" {
			failures = append(failures, batch.Failure{Ref: pi.ref, Source: entry.Source,
				Error: "the sign request names no key: pass --key KEYREF or set SIGNET_KEY"})
			continue
		}
		if settings.Key != "" && pol != nil {
			asked = append(asked, policy.SigningRequest{Key: signed.Key, Repo: pi.ref, Formats: signed.Formats, Source: entry.Source})
		}
		decided = append(decided, decision{pi, settings, signed})
	}
	if len(asked) > 0 {
		// By reference alone (no public key): a rule naming a key by
		// fingerprint cannot admit a requested key, as learning its
		// fingerprint would mean opening it.
		if err := pol.CheckSigningPlan(asked); err != nil {
			return usageErr("nothing was signed, and no key a sign request names was opened (a signing rule must name such a key "+
				"by its pkcs11: URI or path, not by fingerprint):\n%w", err)
		}
	}

	// One checker per key, and one attempt to open each: a key that
	// fails fails every image naming it.
	checkers := map[string]*pending.Checker{}
	broken := map[string]error{}
	var targets []batch.Target
	for _, d := range decided {
		key := d.signed.Key
		checker, err := checkers[key], broken[key]
		if checker == nil && err == nil {
			var k hsm.Key
			if k, err = f.openKey(ctx, g, key); err == nil {
				checker, err = pending.NewChecker(reg, k.Public())
			}
			if err != nil && (key == defaults.Key || credentialErr(err)) {
				// The host's configuration, not the request, is wrong.
				return err
			}
			checkers[key], broken[key] = checker, err
		}
		if err != nil {
			failures = append(failures, batch.Failure{Ref: d.pi.ref, Source: entry.Source,
				Error: fmt.Sprintf("opening the key the sign request names, %s: %v", displayKey(key), err)})
			continue
		}
		gaps, err := checker.Missing(ctx, d.pi.img, d.signed.Formats, d.signed.Attest)
		if err != nil {
			failures = append(failures, batch.Failure{Ref: d.pi.ref, Source: entry.Source, Error: err.Error()})
			continue
		}
		if len(gaps) == 0 {
			fmt.Fprintf(g.stdout, "done     %s: signed as its sign request asks\n", d.pi.ref)
			continue
		}
		fmt.Fprintf(g.stdout, "pending  %s: %s\n", d.pi.ref, describeGaps(gaps))
		targets = append(targets, batch.Target{Ref: d.pi.ref, Source: entry.Source, Recursive: true, Settings: d.settings})
	}
	if len(targets) == 0 {
		fmt.Fprintln(g.stdout, batch.ScrubPIN(fmt.Sprintf("nothing pending under %s (%d images with a sign request)", where, countRequests(images))))
	}
	// Even with nothing to sign: the report, summary and step outputs a
	// pipeline reads next must be this run's, not an earlier one's.
	return f.run(ctx, g, targets, failures)
}

// credentialErr reports whether err is a refused PIN or key password: a
// configuration error of the signing host, tried once and never per image.
func credentialErr(err error) bool {
	return errors.Is(err, hsm.ErrPINIncorrect) || errors.Is(err, hsm.ErrPINLocked) ||
		errors.Is(err, hsm.ErrPINExpired) || errors.Is(err, hsm.ErrWrongPassword)
}

// pendingEntry is the catalog entry --pending's value stands for: every
// repository of a registry host, or one repository. Anything else is a
// usage error before the registry is asked, since a value that fails later
// is quoted in failure lines and the report; a key URI given there (the
// flags swapped) is never quoted, as it may carry its PIN.
func pendingEntry(where string, stdout io.Writer) (batch.Entry, error) {
	if looksLikeKey(where) {
		maskRefs(stdout, []string{where})
		return batch.Entry{}, usageErr("--pending takes a registry host or a repository (HOST[/REPO]), and its value looks like a key (pkcs11: URI); pass keys with --key or SIGNET_KEY")
	}
	entry := batch.Entry{Source: "--pending " + where}
	if !strings.Contains(where, "/") {
		if _, err := name.NewRegistry(where, name.StrictValidation); err != nil {
			return batch.Entry{}, usageErr("--pending %s: %w (want HOST[:PORT] or HOST/REPO)", where, err)
		}
		entry.Registry = where
		return entry, nil
	}
	if _, err := name.NewRepository(where); err != nil {
		hint := ""
		if last := where[strings.LastIndex(where, "/")+1:]; strings.ContainsAny(last, ":@") {
			hint = "; --pending signs every tag of a repository whose sign request is not honoured, so name no tag or digest"
		}
		return batch.Entry{}, usageErr("--pending %s: %w (want HOST or HOST/REPO)%s", where, err, hint)
	}
	entry.Repository = where
	return entry, nil
}

// displayKey is a key reference as messages may show it: a pkcs11 URI
// without its PIN (SIGNET_KEY may carry pin-value).
func displayKey(ref string) string {
	if u, err := hsm.ParseURI(ref); err == nil {
		return u.String()
	}
	if strings.HasPrefix(strings.ToLower(ref), "pkcs11:") {
		return "pkcs11:…"
	}
	return ref
}

// pendingImage is an inspected image and the reference to sign it by:
// "host/repo:tag@digest", so signatures name the tag as identity.
type pendingImage struct {
	ref string
	img *pending.Image
}

// inspectAll inspects every tag concurrently and keeps each index once
// (several tags may name it; the first in tag order is kept).
func inspectAll(ctx context.Context, reg *registry.Client, targets []batch.Target, workers int) ([]pendingImage, []batch.Failure) {
	out := make([]*pendingImage, len(targets))
	fails := make([]*batch.Failure, len(targets))
	var eg errgroup.Group
	eg.SetLimit(max(workers, 1))
	for i, t := range targets {
		eg.Go(func() error {
			ref, err := name.ParseReference(t.Ref)
			if err == nil {
				var img *pending.Image
				if img, err = pending.Inspect(ctx, reg, ref, batch.Identity(ref)); err == nil {
					out[i] = &pendingImage{ref: ref.String() + "@" + img.Index.Digest.String(), img: img}
					return nil
				}
			}
			fails[i] = &batch.Failure{Ref: t.Ref, Source: t.Source, Error: err.Error()}
			return nil
		})
	}
	_ = eg.Wait()
	var images []pendingImage
	var failures []batch.Failure
	seen := map[string]bool{}
	for i := range targets {
		if fails[i] != nil {
			failures = append(failures, *fails[i])
			continue
		}
		k := out[i].img.Index.Name().String()
		if !seen[k] {
			seen[k] = true
			images = append(images, *out[i])
		}
	}
	return images, failures
}

func countRequests(images []pendingImage) int {
	n := 0
	for _, pi := range images {
		if pi.img.Request != nil {
			n++
		}
	}
	return n
}

// describeGaps summarises what an image lacks: "cosign on 5 manifests,
// provenance on 3".
func describeGaps(gaps []pending.Gap) string {
	var order []string
	count := map[string]int{}
	for _, gp := range gaps {
		if count[gp.Format] == 0 {
			order = append(order, gp.Format)
		}
		count[gp.Format]++
	}
	parts := make([]string, len(order))
	for i, f := range order {
		parts[i] = fmt.Sprintf("%s missing on %d manifest%s", f, count[f], plural(count[f]))
	}
	return strings.Join(parts, ", ")
}

// warn logs a warning, or prints it when no logger is set up yet.
func (g *globals) warn(msg string, args ...any) {
	if g.log != nil {
		g.log.Warn(msg, args...)
		return
	}
	fmt.Fprintln(g.stderr, "signet: warning:", msg, fmt.Sprint(args...))
}

// isInsecure reports whether host is reached over plain HTTP, as the
// registry client decides it: loopback hosts and --insecure-registry ones.
func (g *globals) isInsecure(host string) bool {
	if slices.Contains(g.insecure, host) {
		return true
	}
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	hostname = strings.Trim(hostname, "[]")
	if hostname == "localhost" || slices.Contains(g.insecure, hostname) {
		return true
	}
	ip := net.ParseIP(hostname)
	return ip != nil && ip.IsLoopback()
}
