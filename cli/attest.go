package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/cosign"
)

// provenanceFlags are the explicit provenance facts every command that
// attests takes; they win over what BuildKit recorded and what the
// environment says.
type provenanceFlags struct {
	builderID    string
	buildType    string
	sourceURI    string
	sourceDigest string
	// builtElsewhere says the images were built by other runs than the
	// one signet signs in (batch --pending), so the CI environment is not
	// the build's and only what the build recorded is signed.
	builtElsewhere bool
}

func (p *provenanceFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.builderID, "builder-id", "", "provenance runDetails.builder.id (a URI), overriding BuildKit and GitHub Actions")
	cmd.Flags().StringVar(&p.buildType, "build-type", "", "provenance buildDefinition.buildType (a URI)")
	cmd.Flags().StringVar(&p.sourceURI, "source-uri", "", "source the images were built from, e.g. git+https://host/org/app@refs/tags/v1")
	cmd.Flags().StringVar(&p.sourceDigest, "source-digest", "", "digest of --source-uri as ALG:VALUE, e.g. gitCommit:<sha>")
}

// options returns the provenance facts the flags and, unless the images
// were built elsewhere, the environment give, as attest options.
func (p *provenanceFlags) options() ([]attest.Option, error) {
	ov := attest.Overrides{BuilderID: p.builderID, BuildType: p.buildType, SourceURI: p.sourceURI}
	if p.sourceDigest != "" {
		d, err := attest.ParseDigestSet(p.sourceDigest)
		if err != nil {
			return nil, usageErr("--source-digest: %w", err)
		}
		ov.SourceDigest = d
	}
	if err := ov.Validate(); err != nil {
		return nil, usageErr("provenance flags: %w", err)
	}
	opts := []attest.Option{attest.WithOverrides(ov)}
	if !p.builtElsewhere {
		opts = append(opts, attest.WithEnvironment(attest.GitHubProvenance(os.Getenv)))
	}
	return opts, nil
}

// attestSet builds each (key, attestation spec) pair's Format once and
// shares it between workers and items, with one BuildKit provenance source
// for the whole run, so every index is read once.
type attestSet struct {
	store *cosign.Store
	src   *attest.IndexSource
	opts  []attest.Option

	mu    sync.Mutex
	built map[string]batch.Format
}

// newAttestSet returns the attestation formats of a run storing into
// store, reading BuildKit's provenance through reg, with the provenance
// facts of pf and the environment.
func newAttestSet(reg attest.IndexReader, store *cosign.Store, pf *provenanceFlags) (*attestSet, error) {
	opts, err := pf.options()
	if err != nil {
		return nil, err
	}
	src := attest.NewIndexSource(reg)
	return &attestSet{store: store, src: src, opts: append(opts, attest.WithProvenanceSource(src)), built: map[string]batch.Format{}}, nil
}

// forItem returns the formats for --attest values (or a catalog entry's
// attest list): "provenance" and FILE=TYPE. A bad value or predicate file
// fails the item, naming it.
func (s *attestSet) forItem(key hsm.Key, values []string) ([]batch.Format, error) {
	specs, err := attest.ParseSpecs(values)
	if err != nil {
		return nil, err
	}
	return s.formats(key, specs)
}

// formats returns the formats of specs for key, building each once.
func (s *attestSet) formats(key hsm.Key, specs []attest.Spec) ([]batch.Format, error) {
	out := make([]batch.Format, 0, len(specs))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, spec := range specs {
		id := key.Ref() + "\x00" + spec.Type + "\x00" + spec.File
		f, ok := s.built[id]
		if !ok {
			af, err := attest.NewFormat(s.store, key, spec, s.opts...)
			if err != nil {
				return nil, err
			}
			f = af
			s.built[id] = f
		}
		out = append(out, f)
	}
	return out, nil
}

// noteParents tells src which index lists each planned image: BuildKit's
// provenance for an image sits in its index.
func noteParents(src *attest.IndexSource, items []batch.Item) {
	for _, it := range items {
		if it.Parent == "" {
			continue
		}
		if parent, err := v1.NewHash(it.Parent); err == nil {
			src.AddParent(it.Subject, parent)
		}
	}
}

func newAttestCmd(g *globals) *cobra.Command {
	var f runFlags
	var types, predicates []string
	cmd := &cobra.Command{
		Use:   "attest --key KEYREF [--type provenance|TYPE --predicate FILE]... IMAGE...",
		Short: "Sign attestations alone (no signature) for images and every child of an index",
		Long: `Attest signs in-toto attestations for each image, and for every child of an
image index, storing them as DSSE envelopes in cosign's .att format.

--type provenance (the default) writes SLSA Provenance v1 from what is known:
BuildKit's own provenance in the image index, the GitHub Actions environment,
and --builder-id/--build-type/--source-uri/--source-digest. Nothing unknown is
invented. Any other --type needs a --predicate FILE (JSON), paired in order:
--type spdxjson --predicate sbom.json --type vuln --predicate scan.json.

TYPE is a URI or one of cosign's names: slsaprovenance1, slsaprovenance02,
spdxjson, cyclonedx, vuln, openvex, custom.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The shared signing flags come registered (hidden) with the
			// rest; ignored, they would let attest sign something other
			// than what was asked for.
			for _, refused := range [][2]string{
				{"attest", "attest takes --type TYPE --predicate FILE (--attest is signet sign's)"},
				{"format", "attest writes attestations, not signatures; sign with signet sign --format"},
				{"cert-chain", "attestations carry no certificate chain"},
			} {
				if cmd.Flags().Changed(refused[0]) {
					return usageErr("--%s: %s", refused[0], refused[1])
				}
			}
			values, err := attestValues(types, predicates)
			if err != nil {
				return err
			}
			f.attest, f.formats = values, nil
			return f.run(cmd.Context(), g, argTargets(args, f.recursive), nil)
		},
	}
	f.perManifest = true
	f.register(cmd, 8)
	// Attest writes no signatures, so the signing flags make no sense here.
	for _, name := range []string{"format", "attest", "cert-chain"} {
		cmd.Flags().MarkHidden(name)
	}
	cmd.Flags().StringArrayVar(&types, "type", nil, "predicate type: provenance, a cosign name, or a URI (repeatable)")
	cmd.Flags().StringArrayVar(&predicates, "predicate", nil, "predicate JSON file for the --type at the same position (repeatable)")
	return cmd
}

// attestValues pairs --type and --predicate flags into --attest values
// ("provenance" or FILE=TYPE).
func attestValues(types, predicates []string) ([]string, error) {
	if len(types) == 0 && len(predicates) == 0 {
		return []string{attest.ProvenanceSpec}, nil
	}
	var out []string
	p := 0
	for _, t := range types {
		if t == attest.ProvenanceSpec {
			out = append(out, t)
			continue
		}
		if p >= len(predicates) {
			return nil, usageErr("--type %s needs a --predicate FILE", t)
		}
		out = append(out, predicates[p]+"="+t)
		p++
	}
	if p < len(predicates) {
		return nil, usageErr("--predicate %s has no --type to go with it", predicates[p])
	}
	if _, err := attest.ParseSpecs(out); err != nil {
		return nil, usageErr("%w", err)
	}
	return out, nil
}

type verifyAttestationFlags struct {
	key       string
	typ       string
	require   []string
	recursive bool
	workers   int
}

func newVerifyAttestationCmd(g *globals) *cobra.Command {
	var f verifyAttestationFlags
	cmd := &cobra.Command{
		Use:   "verify-attestation --key PUBKEY --type TYPE [--require FIELD=VALUE]... IMAGE...",
		Short: "Verify signed in-toto attestations on images; indexes are checked with every child",
		Long: `Verify-attestation checks every manifest of each image (an index and all of its
children) for an attestation of --type signed by PUBKEY, as cosign
verify-attestation does: the envelope is in-toto, its signature verifies, its
subject is the manifest's digest and its predicate type is TYPE. It prints one
verdict per manifest and exits 2 when any manifest fails.

--require FIELD=VALUE (repeatable) also demands that the statement's JSON at
FIELD, a dotted path from the statement, equals VALUE; e.g.
  --require predicate.runDetails.builder.id=https://github.com/org/app/.github/workflows/release.yml@refs/heads/main
  --require predicate.buildDefinition.externalParameters.workflow.repository=https://github.com/org/app
A numeric segment indexes a list; any other segment on a list matches any
element (predicate.buildDefinition.resolvedDependencies.uri=...).

TYPE is a URI, "provenance" (SLSA v1), or one of cosign's names:
slsaprovenance1, slsaprovenance02, spdxjson, cyclonedx, vuln, openvex, custom.
PUBKEY is a PEM public key or certificate file, or any key reference.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerifyAttestation(cmd.Context(), g, &f, args)
		},
	}
	cmd.Flags().StringVar(&f.key, "key", "", "public key: PEM file, certificate, or key reference (default $SIGNET_KEY)")
	cmd.Flags().StringVar(&f.typ, "type", "", "predicate type to require (URI, provenance, or a cosign name)")
	cmd.Flags().StringArrayVar(&f.require, "require", nil, "FIELD=VALUE the attestation must hold (repeatable)")
	cmd.Flags().BoolVar(&f.recursive, "recursive", true, "check every child manifest of an index")
	cmd.Flags().IntVar(&f.workers, "workers", 8, "manifests checked concurrently")
	return cmd
}

func runVerifyAttestation(ctx context.Context, g *globals, f *verifyAttestationFlags, args []string) error {
	ref := f.key
	if ref == "" {
		ref = os.Getenv("SIGNET_KEY")
	}
	if ref == "" {
		return usageErr("no public key: pass --key PUBKEY")
	}
	if f.typ == "" {
		// cosign defaults to its "custom" type and then fails on every
		// other attestation; an explicit type is clearer.
		return usageErr("no attestation type: pass --type (e.g. provenance, spdxjson or a URI)")
	}
	typ := attest.SLSAProvenanceV1
	if f.typ != attest.ProvenanceSpec {
		var err error
		if typ, err = attest.ResolveType(f.typ); err != nil {
			return usageErr("--type: %w", err)
		}
	}
	reqs := make([]attest.Requirement, 0, len(f.require))
	for _, r := range f.require {
		req, err := attest.ParseRequirement(r)
		if err != nil {
			return usageErr("--require: %w", err)
		}
		reqs = append(reqs, req)
	}
	if f.workers < 1 {
		return usageErr("--workers must be at least 1, got %d", f.workers)
	}
	pub, err := hsm.LoadPublicKey(ctx, ref)
	if err != nil {
		return usageErr("loading public key: %w", err)
	}
	reg, err := g.registry()
	if err != nil {
		return err
	}
	plan, err := batch.NewPlanner(reg, f.workers).Plan(ctx, argTargets(args, f.recursive))
	if err != nil {
		return err
	}
	// Attestations are about images: BuildKit's attestation manifests are
	// signed, but carry none of their own.
	var items []batch.Item
	for _, it := range plan.Items {
		if !it.AttestationManifest {
			items = append(items, it)
		}
	}
	failures := plan.Failures

	v := attest.NewVerifier(cosign.NewStore(reg), signature.KeyTrust{Key: pub})
	results := make([][]*attest.Statement, len(items))
	errs := make([]error, len(items))
	var eg errgroup.Group
	eg.SetLimit(f.workers)
	for i, it := range items {
		eg.Go(func() error {
			results[i], errs[i] = v.Verify(ctx, it.Subject, typ, reqs...)
			return nil
		})
	}
	_ = eg.Wait()

	failed := len(failures)
	for _, fl := range failures {
		fmt.Fprintf(g.stdout, "FAILED    %s (%s): %s\n", fl.Ref, fl.Source, fl.Error)
	}
	for i, it := range items {
		what := it.Name().String()
		if it.Platform != "" {
			what += " " + it.Platform
		}
		if errs[i] != nil {
			failed++
			fmt.Fprintf(g.stdout, "FAILED    %s: %s\n", what, describeVerifyErr(errs[i]))
			continue
		}
		fmt.Fprintf(g.stdout, "verified  %s  %s (%d attestation%s)\n", what, typ, len(results[i]), plural(len(results[i])))
	}
	if failed > 0 {
		return failedErr("%d of %d manifests failed attestation verification", failed, len(items)+len(failures))
	}
	return nil
}

// describeVerifyErr drops the manifest reference a VerifyError starts with:
// the line already names it.
func describeVerifyErr(err error) string {
	var ve *signature.VerifyError
	if errors.As(err, &ve) {
		return fmt.Sprintf("%s: %v", ve.Reason, ve.Err)
	}
	return err.Error()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
