package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/policy"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/bundle"
	"github.com/signet-project/signet/signature/cosign"
	"github.com/signet-project/signet/signature/notation"
)

type verifyFlags struct {
	key          string
	policy       string
	catalog      string
	formats      []string
	attestations []string
	recursive    bool
	workers      int
	report       string
	summaryMD    string
	// Which flags the command line set, where their defaults must not
	// count: a catalog keeps its own recursion unless --recursive is
	// given, and --policy refuses --format and --attestation.
	recursiveGiven, formatGiven, attestationGiven bool
}

func newVerifyCmd(g *globals) *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify (--key PUBKEY | --policy FILE) [--catalog FILE] [IMAGE...]",
		Short: "Verify images, or a whole catalog, against a key or a trust policy",
		Long: `Verify checks every manifest of each image (an index and all of its
children) and prints a verdict per manifest and per image.

With --key, every format named by --format (default cosign) must carry a
signature by that key, and every --attestation type an attestation by it.
PUBKEY is a PEM public key or certificate file, or any key reference (a
pkcs11: URI or a private key file), whose public half is used.

With --policy, each repository's trust rule decides: which keys and CA roots
it trusts, which identities, what is revoked, which formats and attestation
types it requires, and whether a violation blocks (enforce), warns (warn) or
is only reported (audit). The policy is the one statement of what is
required, as notation's trust policy is: --format and --attestation belong
to --key, and passing them with --policy is a usage error; require formats
and attestations in the trust rule (require.formats, require.attestations).

Images come from the command line, from --catalog (any form signet batch
reads), or both. --recursive, when given, applies to the catalog's images
too, as in signet batch; an entry's own recursive setting still wins.

Exit status: 2 when any manifest is blocked, an image cannot be resolved or
the --report/--summary-md file cannot be written after the check; 0
otherwise (warnings allow); 1 for usage or configuration errors, an
unwritable --report or --summary-md path among them (nothing is checked).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			f.recursiveGiven, f.formatGiven, f.attestationGiven = fl.Changed("recursive"), fl.Changed("format"), fl.Changed("attestation")
			return runVerify(cmd.Context(), g, &f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.key, "key", "", "public key: PEM file, certificate, or key reference (default $SIGNET_KEY)")
	fl.StringVar(&f.policy, "policy", "", "trust policy file (instead of --key)")
	fl.StringVar(&f.catalog, "catalog", "", "catalog of images to verify, or - for standard input")
	fl.StringSliceVar(&f.formats, "format", []string{"cosign"}, "with --key only: formats that must verify (cosign, notation, sigstore-bundle); a policy names its own")
	fl.StringSliceVar(&f.attestations, "attestation", nil, "with --key only: attestation types that must verify (provenance, a cosign name or a URI); a policy names its own")
	fl.BoolVar(&f.recursive, "recursive", true, "check every child manifest of an index (catalog images included)")
	fl.IntVar(&f.workers, "workers", 8, "manifests checked concurrently")
	fl.StringVar(&f.report, "report", "", "write a JSON report to this file")
	fl.StringVar(&f.summaryMD, "summary-md", "", "write a Markdown summary to this file")
	return cmd
}

// checker verifies one format for one subject under one trust.
type checker func(ctx context.Context, s signature.Subject) error

// verifiers builds and caches each format's verifier per trust (a key, or
// a policy scope), sharing one store so signature manifests are read once.
type verifiers struct {
	reg   *registry.Client
	store *cosign.Store
	mu    sync.Mutex
	byKey map[verifierKey]checker
	att   map[signature.Trust]*attest.Verifier
}

type verifierKey struct {
	trust  signature.Trust
	format string
}

func newVerifiers(reg *registry.Client, store *cosign.Store) *verifiers {
	return &verifiers{reg: reg, store: store, byKey: map[verifierKey]checker{}, att: map[signature.Trust]*attest.Verifier{}}
}

func (v *verifiers) format(trust signature.Trust, format string) (checker, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	k := verifierKey{trust, format}
	if c, ok := v.byKey[k]; ok {
		return c, nil
	}
	var c checker
	switch format {
	case "cosign":
		cv := cosign.NewVerifier(v.store, trust)
		c = func(ctx context.Context, s signature.Subject) error { _, err := cv.Verify(ctx, s); return err }
	case "notation":
		nv, err := notation.NewVerifier(v.reg, trust)
		if err != nil {
			return nil, err
		}
		c = func(ctx context.Context, s signature.Subject) error { _, err := nv.Verify(ctx, s); return err }
	case "sigstore-bundle":
		bv, err := bundle.NewVerifier(v.reg, trust)
		if err != nil {
			return nil, err
		}
		c = func(ctx context.Context, s signature.Subject) error { _, err := bv.Verify(ctx, s); return err }
	default:
		return nil, fmt.Errorf("unknown format %q", format)
	}
	v.byKey[k] = c
	return c, nil
}

func (v *verifiers) attestations(trust signature.Trust) *attest.Verifier {
	v.mu.Lock()
	defer v.mu.Unlock()
	a := v.att[trust]
	if a == nil {
		a = attest.NewVerifier(v.store, trust)
		v.att[trust] = a
	}
	return a
}

func runVerify(ctx context.Context, g *globals, f *verifyFlags, args []string) error {
	if f.workers < 1 {
		return usageErr("--workers must be at least 1, got %d", f.workers)
	}
	if f.key == "" && f.policy == "" {
		f.key = os.Getenv("SIGNET_KEY")
	}
	if (f.key == "") == (f.policy == "") {
		return usageErr("pass exactly one of --key PUBKEY or --policy FILE")
	}
	// Laid on top of a policy, the flags would either be ignored or
	// change what a rule's level means; the policy says what it requires.
	if f.policy != "" && (f.formatGiven || f.attestationGiven) {
		return usageErr("--format and --attestation go with --key; with --policy, require formats and attestations in the trust rule (require.formats, require.attestations)")
	}
	if len(f.formats) == 0 {
		f.formats = []string{"cosign"}
	}
	if len(args) == 0 && f.catalog == "" {
		return usageErr("name images to verify, or pass --catalog FILE")
	}
	for _, name := range f.formats {
		if !slices.Contains(knownFormats, name) {
			return usageErr("unknown format %q: use %s", name, strings.Join(knownFormats, ", "))
		}
	}
	var attTypes []string
	for _, a := range f.attestations {
		t := attest.SLSAProvenanceV1
		if a != attest.ProvenanceSpec {
			var err error
			if t, err = attest.ResolveType(a); err != nil {
				return usageErr("--attestation: %w", err)
			}
		}
		attTypes = append(attTypes, t)
	}
	if err := checkOutputPath("--report", f.report); err != nil {
		return err
	}
	if err := checkOutputPath("--summary-md", f.summaryMD); err != nil {
		return err
	}

	reg, err := g.registry()
	if err != nil {
		return err
	}
	vs := newVerifiers(reg, cosign.NewStore(reg))
	var decide func(ctx context.Context, it batch.Item) batch.Check
	if f.policy != "" {
		pol, err := loadPolicy(ctx, g, f.policy, true)
		if err != nil {
			return err
		}
		if !pol.HasTrust() {
			return usageErr("policy %s has no trust rules to verify against", f.policy)
		}
		decide = func(ctx context.Context, it batch.Item) batch.Check { return decideByPolicy(ctx, vs, pol, it) }
	} else {
		pub, err := hsm.LoadPublicKey(ctx, f.key)
		if err != nil {
			return usageErr("loading public key: %w", err)
		}
		trust := signature.KeyTrust{Key: pub}
		decide = func(ctx context.Context, it batch.Item) batch.Check {
			return decideByKey(ctx, vs, trust, f.formats, attTypes, it)
		}
	}

	targets, failures, err := verifyTargets(ctx, g, reg, f, args)
	if err != nil {
		return err
	}
	plan, err := batch.NewPlanner(reg, f.workers).Plan(ctx, targets)
	if err != nil {
		return err
	}
	failures = append(failures, plan.Failures...)
	report := batch.NewVerifyReport("signet "+Version(), f.policy, failures)
	progress := batch.NewProgress(g.stderr, g.log, isTerminal(g.stderr) && os.Getenv("GITHUB_ACTIONS") != "true")
	progress.Start(len(plan.Items))
	runner := &batch.Runner{Workers: f.workers, OnCheck: func(c batch.Check) {
		report.Add(c)
		progress.Add(checkOutcome(c))
	}}
	checks := runner.Verify(ctx, plan.Items, decide)
	progress.Finish()
	report.FinishedAt = time.Now().UTC()

	if f.catalog == "" {
		printChecks(g.stdout, checks)
	}
	report.WriteTable(g.stdout, f.catalog != "")
	for _, c := range checks {
		if c.Status == batch.VerdictWarned {
			for _, p := range c.Problems {
				fmt.Fprintf(g.stderr, "warning: %s %s: %s\n", c.Item.Name(), c.Item.Platform, p)
			}
		}
	}
	// The verdicts are printed above whatever happens to the reports.
	outErr := writeVerifyReports(f, report)
	outcome := ""
	switch {
	case ctx.Err() != nil:
		outcome = fmt.Sprintf("interrupted: %d of %d manifests checked", len(checks), len(plan.Items))
	case report.ExitCode() != 0:
		c := report.Counts
		outcome = fmt.Sprintf("%d of %d manifests blocked, %d images unresolved", c.Blocked, c.Manifests, c.PlanFailures)
	}
	return runOutcome(outcome, outErr)
}

func verifyTargets(ctx context.Context, g *globals, reg *registry.Client, f *verifyFlags, args []string) ([]batch.Target, []batch.Failure, error) {
	targets := argTargets(args, f.recursive)
	if f.catalog == "" {
		return targets, nil, nil
	}
	var r io.Reader = os.Stdin
	if f.catalog != "-" {
		file, err := os.Open(f.catalog)
		if err != nil {
			return nil, nil, usageErr("reading catalog: %w", err)
		}
		defer file.Close()
		r = file
	}
	cat, err := batch.ParseCatalog(r, f.catalog)
	if err != nil {
		return nil, nil, usageErr("the catalog has errors:\n%w", err)
	}
	// As batch does, so that a catalog verifies what it signed.
	if f.recursiveGiven {
		cat.Defaults.Recursive = &f.recursive
	}
	more, failures := cat.Targets(ctx, reg, f.workers)
	return append(targets, more...), failures, nil
}

// decideByKey requires every format and attestation type asked for.
func decideByKey(ctx context.Context, vs *verifiers, trust signature.Trust, formats, attTypes []string, it batch.Item) batch.Check {
	c := batch.Check{Status: batch.VerdictVerified}
	for _, name := range formats {
		check, err := vs.format(trust, name)
		if err == nil {
			err = check(ctx, it.Subject)
		}
		if err != nil {
			c.Problems = append(c.Problems, describe(name, err))
			continue
		}
		c.Verified = append(c.Verified, name)
	}
	if len(attTypes) > 0 && !it.AttestationManifest {
		found, err := vs.attestations(trust).VerifiedTypes(ctx, it.Subject)
		for _, t := range attTypes {
			switch {
			case err != nil:
				c.Problems = append(c.Problems, describe("attestation "+t, err))
			case slices.Contains(found, t):
				c.Verified = append(c.Verified, t)
			default:
				c.Problems = append(c.Problems, fmt.Sprintf("attestation %s: %s: none signed by the key", t, signature.ReasonMissingAttestation))
			}
		}
	}
	if len(c.Problems) > 0 {
		c.Status = batch.VerdictBlocked
	}
	return c
}

// decideByPolicy gathers evidence in the formats the repository's trust
// rule cares about and lets the rule decide. When the rule requires no
// particular format, the first trusted signature in any format settles it,
// so most manifests cost one signature read.
func decideByPolicy(ctx context.Context, vs *verifiers, pol *policy.Policy, it batch.Item) batch.Check {
	scope, err := pol.TrustFor(it.Repo.String())
	if err != nil {
		return batch.Check{Status: batch.VerdictBlocked, Problems: []string{err.Error()}}
	}
	ev := policy.Evidence{Subject: it.Subject}
	formats := scope.RequiredFormats
	anyOne := len(formats) == 0
	if anyOne {
		formats = knownFormats
	}
	for _, name := range formats {
		check, err := vs.format(scope, name)
		if err != nil {
			if anyOne {
				continue
			}
			ev.Findings = append(ev.Findings, policy.Finding{Format: name, Err: err})
			continue
		}
		err = check(ctx, it.Subject)
		ev.Findings = append(ev.Findings, policy.Finding{Format: name, Err: err})
		if err == nil && anyOne {
			break
		}
	}
	if len(scope.RequiredAttestations) > 0 && !it.AttestationManifest {
		found, err := vs.attestations(scope).VerifiedTypes(ctx, it.Subject)
		if err == nil {
			ev.Attestations = found
		}
	}
	v := scope.Decide(ev)
	c := batch.Check{Status: string(v.Status), Rule: scope.Name, Verified: v.Verified, Notes: v.Notes}
	for _, viol := range v.Violations {
		c.Problems = append(c.Problems, viol.String())
	}
	return c
}

func describe(what string, err error) string {
	var ve *signature.VerifyError
	if errors.As(err, &ve) {
		return fmt.Sprintf("%s %s: %v", what, ve.Reason, ve.Err)
	}
	return fmt.Sprintf("%s: %v", what, err)
}

// checkOutcome adapts a check for the progress display, which counts
// outcomes and failures.
func checkOutcome(c batch.Check) batch.Outcome {
	o := batch.Outcome{Item: c.Item, Format: batch.CheckFormat}
	if c.Status == batch.VerdictBlocked {
		o.Err = errors.New(strings.Join(c.Problems, "; "))
	}
	return o
}

func printChecks(w io.Writer, checks []batch.Check) {
	for _, c := range checks {
		what := c.Item.Name().String()
		if c.Item.Platform != "" {
			what += " " + c.Item.Platform
		}
		word := map[string]string{batch.VerdictVerified: "verified", batch.VerdictAudited: "audited ",
			batch.VerdictWarned: "warned  ", batch.VerdictBlocked: "BLOCKED "}[c.Status]
		if len(c.Problems) == 0 {
			fmt.Fprintf(w, "%s  %s  [%s]\n", word, what, strings.Join(c.Verified, ", "))
			continue
		}
		fmt.Fprintf(w, "%s  %s: %s\n", word, what, strings.Join(c.Problems, "; "))
	}
}

// writeVerifyReports writes the JSON report and the Markdown summary, each
// whatever became of the other, and returns every failure.
func writeVerifyReports(f *verifyFlags, r *batch.VerifyReport) error {
	var errs []error
	if err := writeReportFile(f.report, func(w io.Writer) error { return jsonEncoder(w).Encode(r) }); err != nil {
		errs = append(errs, fmt.Errorf("writing report %s: %w", f.report, err))
	}
	if err := writeReportFile(f.summaryMD, func(w io.Writer) error { return r.WriteMarkdown(w, batch.MarkdownLimit) }); err != nil {
		errs = append(errs, fmt.Errorf("writing summary %s: %w", f.summaryMD, err))
	}
	return errors.Join(errs...)
}
