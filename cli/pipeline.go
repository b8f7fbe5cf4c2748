package cli

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/policy"
	"github.com/signet-project/signet/signature/certs"
	"github.com/signet-project/signet/signature/cosign"
)

// runFlags are the flags shared by every command that signs through the
// batch engine (sign, batch, attest).
type runFlags struct {
	keyFlags
	provenanceFlags
	workers   int
	formats   []string
	attest    []string
	recursive bool
	journal   string
	report    string
	summaryMD string
	shard     string
	dryRun    bool
	retries   int
	grace     time.Duration
	certChain string
	// policy is a signing policy checked against the whole plan before
	// anything is signed.
	policy string
	// listTags lists each repository's tags once instead of probing every
	// .sig tag; batch turns it on (it owns its catalog), sign does not.
	listTags bool
	// perManifest prints one line per outcome (sign); batch prints a
	// summary and leaves the detail to the report.
	perManifest bool
	github      githubFlags // GitHub Actions output (cli/github.go)

	// opened are the signing keys the run has opened (openKey), by
	// reference; closeKeys closes them.
	opened map[string]hsm.Key
	// signing is the --policy file once loaded (signingPolicy).
	signing *policy.Policy
	// allowed are the signing requests the policy has allowed this run,
	// by allowedKey (see askPolicy).
	allowed map[string]bool
}

func (f *runFlags) register(cmd *cobra.Command, workers int) {
	f.keyFlags.register(cmd)
	f.provenanceFlags.register(cmd)
	fl := cmd.Flags()
	fl.IntVar(&f.workers, "workers", workers, "manifests signed concurrently (workers share the HSM sessions)")
	fl.StringSliceVar(&f.formats, "format", []string{"cosign"}, "signature formats: cosign, notation, sigstore-bundle")
	fl.StringSliceVar(&f.attest, "attest", nil, "attestations to sign beside each signature: provenance, or FILE=PREDICATE-TYPE")
	fl.BoolVar(&f.recursive, "recursive", true, "sign every child manifest of an index, nested indexes included")
	fl.StringVar(&f.journal, "journal", "", "append-only journal: a rerun skips what it lists")
	fl.StringVar(&f.report, "report", "", "write a JSON report to this file")
	fl.StringVar(&f.summaryMD, "summary-md", "", "write a Markdown summary to this file (for $GITHUB_STEP_SUMMARY)")
	fl.StringVar(&f.shard, "shard", "", "sign only shard I of N (I/N) of the planned manifests")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the plan and its counts; sign nothing")
	fl.IntVar(&f.retries, "retries", 2, "extra attempts for an item whose registry errors outlive per-request retries")
	fl.DurationVar(&f.grace, "grace", 30*time.Second, "on SIGINT/SIGTERM, time in-flight items get to finish")
	fl.StringVar(&f.certChain, "cert-chain", "", "PEM certificate chain (leaf first) when it is not stored with the key")
	fl.StringVar(&f.policy, "policy", "", "signing policy: which keys may sign which repositories in which formats (checked before anything is signed)")
	f.github.register(cmd)
}

func (f *runFlags) validate() error {
	if f.workers < 1 {
		return usageErr("--workers must be at least 1, got %d", f.workers)
	}
	if f.sessions < 1 {
		return usageErr("--hsm-sessions must be at least 1, got %d", f.sessions)
	}
	for _, name := range f.formats {
		if !slices.Contains(knownFormats, name) {
			return usageErr("unknown format %q: use %s", name, strings.Join(knownFormats, ", "))
		}
	}
	// Without this the run plans every manifest, signs nothing and exits 2
	// as if the registry had failed it.
	if len(f.formats) == 0 && len(f.attest) == 0 {
		return usageErr("--format names no format and there is no --attest: nothing would be signed; name a format (%s) or an --attest", strings.Join(knownFormats, ", "))
	}
	if len(f.attest) > 0 {
		if _, err := attest.ParseSpecs(f.attest); err != nil {
			return usageErr("--attest: %w", err)
		}
	}
	if f.retries < 0 {
		return usageErr("--retries must not be negative")
	}
	if f.shard != "" {
		if _, err := batch.ParseShard(f.shard); err != nil {
			return usageErr("--shard: %w", err)
		}
	}
	// Found only after signing, an unwritable report would cost the record
	// of signatures that were already made.
	if err := checkOutputPath("--report", f.report); err != nil {
		return err
	}
	return checkOutputPath("--summary-md", f.summaryMD)
}

var knownFormats = []string{"cosign", "notation", "sigstore-bundle"}

// run plans targets and signs them: the one path every signing command
// takes, so sign, batch and attest behave alike.
func (f *runFlags) run(ctx context.Context, g *globals, targets []batch.Target, catalogFailures []batch.Failure) error {
	f.github.mask(g.stdout, f.key, targets) // before anything can print a secret
	defer f.closeKeys()
	if err := f.validate(); err != nil {
		return err
	}
	var shard batch.Shard
	if f.shard != "" {
		shard, _ = batch.ParseShard(f.shard) // validate checked it
	}
	reg, err := g.registry()
	if err != nil {
		return err
	}
	defaults := f.defaults()

	// Planned for signing: a manifest two catalog entries reach with two
	// keys is signed with both, and with one key in every format either
	// entry asks for.
	plan, err := batch.NewPlanner(reg, f.workers).Signing(defaults).Plan(ctx, targets)
	if err != nil {
		return err
	}
	plan.Failures = append(catalogFailures, plan.Failures...)
	plan.Items = shard.Filter(plan.Items)

	report := batch.NewReport("signet "+Version(), plan)
	report.Workers, report.HSMSessions, report.DryRun = f.workers, f.sessions, f.dryRun
	if f.shard != "" {
		report.Shard = shard.String()
	}
	if f.dryRun {
		printPlan(g.stdout, plan, defaults)
		// A dry run is the pre-flight of the real one: a target it cannot
		// resolve fails the same way, with the same annotations and exit 2.
		outErr := f.publish(g, report)
		outcome := ""
		if report.ExitCode() != 0 {
			outcome = fmt.Sprintf("%d targets could not be planned (listed above)", len(plan.Failures))
		}
		return runOutcome(outcome, outErr)
	}

	// Open every key the plan needs before anything is signed, one after
	// another: a wrong PIN then fails the run at once, with one login
	// attempt per token, instead of once per worker.
	keys, err := f.openKeys(ctx, g, plan, defaults)
	if err != nil {
		return err
	}
	if defaults.Key != "" {
		if k := keys[defaults.Key]; k != nil {
			report.Key = k.Ref()
		}
	}
	widenForHSM(keys)

	if err := f.checkSigningPolicy(ctx, g, plan, keys, defaults); err != nil {
		return err
	}

	var journal *batch.Journal
	if f.journal != "" {
		if journal, err = batch.OpenJournal(f.journal); err != nil {
			return usageErr("opening journal: %w", err)
		}
		defer journal.Close()
	}

	var storeOpts []cosign.StoreOption
	if f.listTags {
		// A batch owns its catalog: one tag listing per repository, and
		// one config blob shared by every new .sig/.att, so a signature
		// costs one blob upload (benchmarks/RESULTS.md).
		storeOpts = append(storeOpts, cosign.WithTagListing(), cosign.WithSharedConfig())
	}
	formats, err := newFormatSet(reg, cosign.NewStore(reg, storeOpts...), f)
	if err != nil {
		return err
	}
	// Only attestations need to know which index lists each image; a plan
	// of tens of thousands of manifests should not pay for it otherwise.
	for _, it := range plan.Items {
		if len(it.SignedWith(defaults).Attest) > 0 {
			noteParents(formats.attest.src, plan.Items)
			break
		}
	}
	// Build every (key, formats, attestations) combination the plan uses
	// now: a missing predicate file or an unusable certificate chain is a
	// configuration error that should stop the run before anything is
	// signed, not fail every item one by one.
	combos := map[string]bool{}
	for _, it := range plan.Items {
		s := it.SignedWith(defaults)
		id := s.Key + "\x00" + strings.Join(s.Formats, ",") + "\x00" + strings.Join(s.Attest, ",")
		if combos[id] {
			continue
		}
		combos[id] = true
		if _, err := formats.forItem(keys[s.Key], s.Formats, s.Attest); err != nil {
			return usageErr("%s (%s): %w; nothing was signed", it.Ref, it.Source, err)
		}
	}

	// The plan and the report are the run's largest live structures and
	// grow with the catalog. An explicit GOGC wins.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(gcPercent(liveHeap())))
	}

	progress := batch.NewProgress(g.stderr, g.log, isTerminal(g.stderr) && os.Getenv("GITHUB_ACTIONS") != "true")
	total := 0
	for _, it := range plan.Items {
		s := it.SignedWith(defaults)
		total += len(s.Formats) + len(s.Attest)
	}
	progress.Start(total)
	// Outcomes arrive from every worker at once, and stdout may be any
	// writer (a buffer when signet is embedded): one line at a time.
	var printMu sync.Mutex
	runner := &batch.Runner{
		Workers: f.workers,
		Retries: f.retries,
		Grace:   f.grace,
		Discard: true, // the report, journal and progress see every outcome
		Formats: func(it batch.Item) ([]batch.Format, error) {
			s := it.SignedWith(defaults)
			return formats.forItem(keys[s.Key], s.Formats, s.Attest)
		},
		Done: func(it batch.Item, format string) bool {
			return journal != nil && journal.Done(batch.JournalSubject(it), format, keys[it.SignedWith(defaults).Key].Ref())
		},
		OnOutcome: func(o batch.Outcome) error {
			var jerr error
			if journal != nil {
				if jerr = journal.RecordOutcome(o, keys[o.Item.SignedWith(defaults).Key].Ref()); jerr != nil {
					o.Err = fmt.Errorf("signed, but writing the journal failed: %w", jerr)
				}
			}
			report.Add(o)
			progress.Add(o)
			if f.perManifest {
				printMu.Lock()
				printOutcome(g.stdout, o)
				printMu.Unlock()
			}
			return jerr
		},
	}
	runner.Run(ctx, plan.Items)
	progress.Finish()
	report.FinishedAt = time.Now().UTC()
	logSessionUse(g.log, keys)

	printFailures(g.stdout, plan.Failures)
	// Everything was attempted by now: a report that cannot be written is
	// told beside the outcome, never instead of it.
	outErr := f.publish(g, report)
	code := report.ExitCode() // also brings Counts.Unfinished up to date
	c := report.Counts
	fmt.Fprintf(g.stdout, "%d manifests (%d indexes): %d signatures written, %d already present, %d from journal, %d failed, %d targets not planned\n",
		c.Manifests, c.Indexes, c.Signatures, c.Present, c.FromJournal, c.Failed, c.PlanFailures)
	outcome := ""
	switch {
	case ctx.Err() != nil:
		outcome = fmt.Sprintf("interrupted: %d manifests not started; rerun with the same --journal to finish", c.Unfinished)
	case code != 0:
		outcome = fmt.Sprintf("%d manifests failed and %d targets could not be planned (listed above and in the report)", c.Failed, c.PlanFailures)
	}
	return runOutcome(outcome, outErr)
}

// runOutcome is the error a run that attempted its items ends with: exit 2
// when an item failed or an output could not be written, as exit 1 promises
// that nothing was attempted. A write failure after a clean run is still a
// failure: the report a pipeline reads next is missing or stale.
func runOutcome(outcome string, outErr error) error {
	var errs []error
	if outcome != "" {
		errs = append(errs, errors.New(outcome))
	}
	if outErr != nil {
		errs = append(errs, outErr)
	}
	if len(errs) == 0 {
		return nil
	}
	return &exitError{code: ExitFailed, err: errors.Join(errs...)}
}

// publish writes the reports and what GitHub Actions gets, each whatever
// became of the others, and returns every failure.
func (f *runFlags) publish(g *globals, r *batch.Report) error {
	var errs []error
	reportPath := f.report
	if err := writeReportFile(f.report, r.WriteJSON); err != nil {
		errs = append(errs, fmt.Errorf("writing report %s: %w", f.report, err))
		reportPath = "" // the step output must not name an older report
	}
	if err := writeReportFile(f.summaryMD, func(w io.Writer) error { return r.WriteMarkdown(w, batch.MarkdownLimit) }); err != nil {
		errs = append(errs, fmt.Errorf("writing summary %s: %w", f.summaryMD, err))
	}
	if err := f.github.finish(g.stdout, r, reportPath); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkSigningPolicy holds the whole plan to the signing policy, if any:
// one refused item stops the run before the first signature, listing every
// refusal. It is the run's one check with the keys themselves, so rules
// naming keys by fingerprint apply.
func (f *runFlags) checkSigningPolicy(ctx context.Context, g *globals, plan *batch.Plan, keys map[string]hsm.Key, defaults batch.Settings) error {
	pol, err := f.signingPolicy(ctx, g)
	if err != nil || pol == nil {
		return err
	}
	reqs := make([]policy.SigningRequest, 0, len(plan.Items))
	for _, it := range plan.Items {
		s := it.SignedWith(defaults)
		k := keys[s.Key]
		reqs = append(reqs, policy.SigningRequest{Key: k.Ref(), Public: k.Public(), Repo: it.Repo.String(),
			Formats: s.Formats, Source: it.Source})
	}
	if err := f.askPolicy(pol, reqs); err != nil {
		return usageErr("signing policy %s refuses the plan; nothing was signed:\n%w", f.policy, err)
	}
	return nil
}

// askPolicy holds reqs to the signing policy, asking about each request
// once a run: signet build asks before it builds, and the run after the
// push then asks only about what the frontend's sign request changed.
func (f *runFlags) askPolicy(pol *policy.Policy, reqs []policy.SigningRequest) error {
	if len(f.allowed) > 0 {
		reqs = slices.DeleteFunc(reqs, func(r policy.SigningRequest) bool { return f.allowed[allowedKey(r)] })
	}
	if len(reqs) == 0 {
		return nil
	}
	if err := pol.CheckSigningPlan(reqs); err != nil {
		return err
	}
	if f.allowed == nil {
		f.allowed = map[string]bool{}
	}
	for _, r := range reqs {
		f.allowed[allowedKey(r)] = true
	}
	return nil
}

// allowedKey is what the policy's answer to r depends on: the key (a
// reference names one key a run, since openKey opens each once), the
// repository and the formats. Source only locates r in messages.
func allowedKey(r policy.SigningRequest) string {
	return r.Key + "\x00" + r.Repo + "\x00" + strings.Join(r.Formats, ",")
}

// defaults are the run's own settings: the operator's key (--key, else
// SIGNET_KEY), --format and --attest. They fill what a target's settings
// leave empty (batch.Effective).
func (f *runFlags) defaults() batch.Settings {
	key, _ := f.operatorKey()
	return batch.Settings{Key: key, Formats: f.formats, Attest: f.attest}
}

// openKeys opens every key the plan names (see openKey), or fails on the
// first that does not open.
func (f *runFlags) openKeys(ctx context.Context, g *globals, plan *batch.Plan, defaults batch.Settings) (map[string]hsm.Key, error) {
	keys := map[string]hsm.Key{}
	for _, it := range plan.Items {
		ref := it.SignedWith(defaults).Key
		if ref == "" {
			return nil, usageErr("no signing key for %s (%s): pass --key KEYREF, set SIGNET_KEY, or give the catalog entry a key", it.Ref, it.Source)
		}
		if _, ok := keys[ref]; ok {
			continue
		}
		k, err := f.openKey(ctx, g, ref)
		if err != nil {
			return nil, err
		}
		keys[ref] = k
	}
	return keys, nil
}

// openKey opens the signing key ref names, once a run however often the
// run asks for it (batch --pending and signet build open keys before they
// plan), and through the run's token hold, so that a wrong PIN reaches a
// token once whichever of its keys are opened. Keys stay open until
// closeKeys. A key that does not open is a configuration error.
func (f *runFlags) openKey(ctx context.Context, g *globals, ref string) (hsm.Key, error) {
	if k := f.opened[ref]; k != nil {
		return k, nil
	}
	k, err := hsm.Open(ctx, ref, append(g.tokenHold(), hsm.WithSessions(f.sessions))...)
	if err != nil {
		return nil, usageErr("%w", err)
	}
	if f.opened == nil {
		f.opened = map[string]hsm.Key{}
	}
	f.opened[ref] = k
	return k, nil
}

// closeKeys closes the keys openKey opened.
func (f *runFlags) closeKeys() {
	for _, k := range f.opened {
		k.Close()
	}
	f.opened = nil
}

// publicKey returns the public half of the key ref names: an opened key's
// own, else loaded through the run's token hold.
func (f *runFlags) publicKey(ctx context.Context, g *globals, ref string) (crypto.PublicKey, error) {
	if k := f.opened[ref]; k != nil {
		return k.Public(), nil
	}
	return hsm.LoadPublicKey(ctx, ref, g.tokenHold()...)
}

// signingPolicy returns the --policy file (nil without one), loaded once a
// run: batch --pending and signet build need it before they plan, and run
// checks the plan against it.
func (f *runFlags) signingPolicy(ctx context.Context, g *globals) (*policy.Policy, error) {
	if f.policy == "" || f.signing != nil {
		return f.signing, nil
	}
	pol, err := loadPolicy(ctx, g, f.policy, true)
	if err != nil {
		return nil, err
	}
	if !pol.HasSigning() {
		return nil, usageErr("policy %s has no signing rules: add a signing section, or drop --policy", f.policy)
	}
	f.signing = pol
	return pol, nil
}

// checkOutputPath fails, as a usage error, when path (a --report or
// --summary-md file) cannot be written the way writeReportFile will write
// it.
func checkOutputPath(flag, path string) error {
	if path == "" {
		return nil
	}
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return usageErr("%s %s is a directory", flag, path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return usageErr("%s %s: %w", flag, path, err)
	}
	if inPlace(path) {
		// Opening a pipe to test it would wait for its reader; only a
		// regular file behind a link is opened.
		if err == nil && st.Mode().IsRegular() {
			file, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return usageErr("%s %s: %w", flag, path, err)
			}
			file.Close()
		}
		return nil
	}
	tmp, err := createTemp(path)
	if err != nil {
		return usageErr("%s %s: cannot write there: %w", flag, path, err)
	}
	tmp.Close()
	os.Remove(tmp.Name())
	return nil
}

// inPlace reports whether path is written where it is rather than
// replaced: a symbolic link (/dev/stdout is one) would be replaced by the
// rename, not what it points to, and a device or pipe holds no earlier
// report to keep and cannot be renamed over.
func inPlace(path string) bool {
	st, err := os.Lstat(path)
	return err == nil && !st.Mode().IsRegular()
}

// writeReportFile writes what write produces to path (nothing when path is
// empty). A regular file is replaced whole or not at all: write goes to a
// temporary file beside it, renamed over path once complete, so that a
// full disk or a size limit leaves the previous report intact instead of
// cut-off JSON. A file that is a mount point of its own cannot be renamed
// over and is written into once the temporary file is complete.
func writeReportFile(path string, write func(io.Writer) error) error {
	if path == "" {
		return nil
	}
	if inPlace(path) {
		file, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := write(file); err != nil {
			file.Close()
			return err
		}
		return file.Close()
	}
	tmp, err := createTemp(path)
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if st, err := os.Stat(path); err == nil {
		// Replacing the file must not change who may read it.
		if err := tmp.Chmod(st.Mode().Perm()); err != nil {
			return err
		}
	}
	// The JSON report is written a manifest at a time: unbuffered, that is
	// a system call for each.
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	// Without it a crash soon after the rename can leave an empty file
	// where the report was.
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		// A file bind-mounted on its own (docker run -v ./r.json:/out/r.json,
		// a Kubernetes subPath) is a mount point, which rename cannot replace
		// (EBUSY, or EXDEV across mounts). Writing into it is all that is
		// left: the finished report is copied in, so only a failure during
		// the copy itself can cut it short.
		if !errors.Is(err, syscall.EBUSY) && !errors.Is(err, syscall.EXDEV) {
			return err
		}
		return copyInto(path, tmp.Name())
	}
	renamed = true
	return nil
}

// copyInto overwrites the file at path, in place, with the content of the
// file at from.
func copyInto(path, from string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// createTemp creates a new file beside path to be renamed over it. Unlike
// os.CreateTemp's 0600 it asks for 0666, as os.Create does, so that a new
// report gets the permissions the umask gives any other file.
func createTemp(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	for range 100 {
		var r [6]byte
		rand.Read(r[:])
		name := filepath.Join(dir, "."+base+"."+hex.EncodeToString(r[:])+".tmp")
		file, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return file, err
	}
	return nil, fmt.Errorf("no unused temporary name in %s", dir)
}

func printPlan(w io.Writer, plan *batch.Plan, defaults batch.Settings) {
	for _, it := range plan.Items {
		kind := "manifest"
		if it.Index {
			kind = "index"
		}
		line := fmt.Sprintf("plan  %-8s %s", kind, it.Name())
		if it.Platform != "" {
			line += " " + it.Platform
		}
		s := it.SignedWith(defaults)
		line += "  [" + strings.Join(slices.Concat(s.Formats, s.Attest), ",") + "]"
		fmt.Fprintln(w, line)
	}
	printFailures(w, plan.Failures)
	fmt.Fprintf(w, "plan: %d targets, %d manifests (%d indexes), %d repositories, %d duplicates merged, %d targets failed\n",
		plan.Targets, len(plan.Items), plan.Indexes(), len(plan.Repositories()), plan.Duplicates, len(plan.Failures))
}

// printFailures lists the targets that could not be planned or checked.
// Their references and sources are what the user typed (arguments, catalog
// lines, --pending), where a key URI pasted by mistake brings its PIN.
func printFailures(w io.Writer, failures []batch.Failure) {
	for _, fl := range failures {
		fmt.Fprintln(w, batch.ScrubPIN(fmt.Sprintf("FAILED   %s (%s): %s", fl.Ref, fl.Source, fl.Error)))
	}
}

func printOutcome(w io.Writer, o batch.Outcome) {
	state := map[string]string{
		batch.StatusSigned: "signed ", batch.StatusPresent: "present", batch.StatusJournal: "journal", batch.StatusFailed: "FAILED ",
	}[batch.Status(o)]
	line := fmt.Sprintf("%s  %s  %s", state, o.Format, o.Item.Name())
	if o.Item.Platform != "" {
		line += " " + o.Item.Platform
	}
	if o.Err != nil {
		line += ": " + o.Err.Error()
	}
	fmt.Fprintln(w, line)
}

// chainFor returns the certificate chain to put beside signatures: the
// --cert-chain file, else what is stored with the key.
func chainFor(k hsm.Key, certChain string) ([]*x509.Certificate, error) {
	if certChain == "" {
		return k.Certificates(), nil
	}
	b, err := os.ReadFile(certChain)
	if err != nil {
		return nil, usageErr("reading --cert-chain: %w", err)
	}
	chain, err := certs.ParsePEM(b)
	if err != nil {
		return nil, usageErr("--cert-chain %s: %w", certChain, err)
	}
	if len(chain) == 0 {
		return nil, usageErr("--cert-chain %s holds no PEM certificate", certChain)
	}
	return chain, nil
}

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc
}

// logSessionUse tells, for each PKCS#11 key, how many signatures found
// every session busy and waited: the figure to read when choosing
// --hsm-sessions. Many waits while the CPU has room call for more sessions;
// none mean some could be given back to the HSM.
func logSessionUse(log *slog.Logger, keys map[string]hsm.Key) {
	for _, k := range keys {
		pooled, ok := k.(interface{ Stats() hsm.PoolStats })
		if !ok {
			continue
		}
		st := pooled.Stats()
		var held time.Duration
		if st.Signatures > 0 {
			held = (st.Held / time.Duration(st.Signatures)).Round(time.Microsecond)
		}
		log.Info("HSM session pool", "key", k, "sessions", st.Sessions, "signatures", st.Signatures,
			"waited", st.Waits, "held_per_signature", held, "replaced", st.Replaced, "relogins", st.Relogins)
	}
}

// widenForHSM gives the Go scheduler more Ps than cores when a PKCS#11 key
// is in use. Each signature blocks its thread in C for the HSM's round
// trip while holding a session; when that call returns it needs a P, and
// with only one P per core it queues behind CPU-bound workers (TLS,
// hashing, the registry client) while the session stays taken. Spare Ps
// let it return at once and free the session, so throughput follows
// sessions ÷ latency (benchmarks/RESULTS.md, network HSM). An explicit
// GOMAXPROCS wins.
func widenForHSM(keys map[string]hsm.Key) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	for ref := range keys {
		if strings.HasPrefix(ref, "pkcs11:") {
			if want := 4 * runtime.NumCPU(); runtime.GOMAXPROCS(0) < want {
				runtime.GOMAXPROCS(want)
			}
			return
		}
	}
}

// gcHeadroom is the least heap growth allowed between collections while
// signing. Every signature allocates some 25 KB of short-lived HTTP and
// JSON garbage, so collecting whenever 40% of a small live heap has been
// allocated spends a sixth of the run's CPU on the collector; a floor of
// some megabytes costs little memory and keeps that cost down.
const gcHeadroom = 12 << 20

// gcPercent is the GC target for a run whose live heap after planning is
// live bytes: headroom of at least gcHeadroom, and of no more than 40% of
// a large live heap, so that peak memory stays about 1.4x the plan and
// report of a big catalog rather than 2x.
func gcPercent(live uint64) int {
	if live == 0 {
		return 100
	}
	return min(100, max(40, int(100*gcHeadroom/live)))
}

// liveHeap collects once and returns the bytes left live: the plan, and
// what every run holds.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
