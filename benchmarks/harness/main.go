// Command harness runs signet's end-to-end benchmarks: it starts the
// registries (go-containerregistry's in-memory `crane registry serve`,
// Debian's docker-registry, and the latter behind a loopback proxy adding
// latency), makes a SoftHSM token, seeds catalogs of multi-arch images, and
// runs signet batch (built once, run as a subprocess so its CPU and peak RSS
// come from rusage), the ggcr writer (go-containerregistry's remote package
// writing the same .sig images: the registry's own limit), notation and
// cosign in turn, each on a fresh catalog. It writes what it measured to
// RESULTS.md: each figure, each ratio against the targets, the machine and
// the commands that reproduce them.
//
// Usage (from the repository's root):
//
//	go run ./benchmarks/harness -out benchmarks/RESULTS.md   # make bench
//	go run ./benchmarks/harness -smoke                       # make bench-smoke (make test)
//	go run ./benchmarks/harness -sections fast,counts        # some sections only
//
// -smoke runs every section on tiny catalogs: every code path once. It
// exits non-zero only when a tool fails or a correctness check fails (a
// manifest left unsigned, a verification that does not pass); figures are
// never checked against targets there, since wall-clock limits in tests
// only measure the machine's load.
//
// Tools come from tools/install.sh's cache ($SIGNET_CACHE/bin: crane,
// cosign-v2, notation) and apt (docker-registry, softhsm2, a C compiler for
// the slow-HSM wrapper). A missing tool skips the run, or fails it under
// CI=true.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var allSections = []string{"fast", "distribution", "latency", "counts", "hsm", "rss", "profile"}

func main() {
	var (
		out        = flag.String("out", "", "write RESULTS.md here (default: standard output only)")
		smoke      = flag.Bool("smoke", false, "tiny catalogs, every code path once; fail only on tool or correctness failures")
		sections   = flag.String("sections", strings.Join(allSections, ","), "sections to run: "+strings.Join(allSections, ","))
		keep       = flag.Bool("keep", false, "keep the work directory")
		tools      = flag.String("tools", "signet,ggcr,notation,cosign", "signers to run in the fast, distribution and latency sections")
		workers    = flag.Int("workers", 0, "signet batch --workers in the fast and distribution sections (default: the tuned value)")
		sessions   = flag.Int("sessions", 0, "signet batch --hsm-sessions in the fast and distribution sections (default: the tuned value)")
		seedN      = flag.Int("seed", 0, "start a registry (-registry), seed this many images, print how to use it and wait for Ctrl-C")
		regKind    = flag.String("registry", "crane", "with -seed: crane or distribution")
		writerPlan = flag.String("ggcr-writer", "", "internal: run the ggcr writer over this plan")
		goroutines = flag.Int("goroutines", 16, "internal: ggcr writer goroutines")
		hsmList    = flag.String("hsm-sessions", "", "--hsm-sessions values of the hsm section, comma-separated (default 1,4,16,64)")
		hsmProf    = flag.String("hsm-profiles", "", "write a CPU profile of every hsm-section run into this directory (hsm-SESSIONS-rROUND.prof; 0 sessions: no delay) and add their CPU split, no delay against the most sessions, to the report")
		hsmDelayF  = flag.Duration("hsm-delay", hsmDelay, "how long the slow HSM holds a session per signature in the hsm section (0 calibrates: the most sessions then repeat the limit's run)")
		extraEnv   = flag.String("signet-env", "", "extra environment for every signet run, comma-separated K=V (experiments, e.g. GOMAXPROCS=2)")
	)
	flag.Parse()
	if *hsmList != "" {
		fullSizes.hsmSessions = nil
		for _, f := range strings.Split(*hsmList, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "harness: -hsm-sessions: %q is not a positive number\n", f)
				os.Exit(2)
			}
			fullSizes.hsmSessions = append(fullSizes.hsmSessions, n)
		}
	}
	hsmProfileDir = *hsmProf
	if *hsmDelayF < 0 {
		fmt.Fprintln(os.Stderr, "harness: -hsm-delay must not be negative")
		os.Exit(2)
	}
	hsmDelay = *hsmDelayF
	if *extraEnv != "" {
		extraSignetEnv = strings.Split(*extraEnv, ",")
	}
	if *writerPlan != "" {
		if err := ggcrWriterMain(*writerPlan, *goroutines); err != nil {
			fmt.Fprintln(os.Stderr, "ggcr writer:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, o := range []*signetOpts{&signetFast, &signetDist} {
		if *workers > 0 {
			o.Workers = *workers
		}
		if *sessions > 0 {
			o.Sessions = *sessions
		}
	}
	if *seedN > 0 {
		if err := serveSeeded(ctx, *regKind, *seedN); err != nil {
			fmt.Fprintln(os.Stderr, "harness:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(harness(ctx, *out, *smoke, *sections, *tools, *keep))
}

func harness(ctx context.Context, out string, smoke bool, sectionList, toolList string, keep bool) int {
	want := map[string]bool{}
	for _, s := range strings.Split(sectionList, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allSections, s) {
			fmt.Fprintf(os.Stderr, "harness: unknown section %q (want %s)\n", s, strings.Join(allSections, ","))
			return 2
		}
		want[s] = true
	}
	work, err := os.MkdirTemp("", "signet-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	if keep {
		fmt.Fprintln(os.Stderr, "harness: work directory", work)
	} else {
		defer os.RemoveAll(work)
	}
	b := &bench{smoke: smoke, sz: fullSizes, want: want, tools: map[string]bool{}, res: &results{Started: time.Now()}, cmdline: strings.Join(os.Args, " ")}
	for _, t := range strings.Split(toolList, ",") {
		b.tools[strings.TrimSpace(t)] = true
	}
	if smoke {
		b.sz = smokeSizes
	}
	b.e, err = newEnv(ctx, work)
	if err == nil {
		err = b.setup(ctx)
	}
	var miss *missingError
	switch {
	case errors.As(err, &miss) && os.Getenv("CI") != "true":
		fmt.Fprintf(os.Stderr, "harness: skipped, %v\n", err)
		return 0
	case err != nil:
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	b.res.LoadStart = loadavg()
	b.run(ctx)
	b.res.Finished = time.Now()
	b.res.LoadEnd = loadavg()

	var w io.Writer = os.Stdout
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "harness:", err)
			return 1
		}
		defer f.Close()
		w = io.MultiWriter(f, os.Stdout)
	}
	if !smoke || out != "" {
		b.writeResults(w)
	}
	if len(b.res.Failures) > 0 {
		fmt.Fprintf(os.Stderr, "\nharness: %d failures:\n", len(b.res.Failures))
		for _, f := range b.res.Failures {
			fmt.Fprintln(os.Stderr, " -", f)
		}
		return 1
	}
	if smoke {
		fmt.Fprintln(os.Stderr, "harness: smoke run passed: every tool ran and every check held")
	}
	return 0
}

// missingError is a tool the harness needs and cannot find.
type missingError struct{ what string }

func (m *missingError) Error() string { return m.what + " (tools/install.sh installs them)" }

// bench is one harness run.
type bench struct {
	e       *env
	smoke   bool
	sz      sizes
	want    map[string]bool
	tools   map[string]bool // signers to run: signet, ggcr, notation, cosign
	res     *results
	cmdline string
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// fail records a failure; the run goes on with the next measurement.
func (b *bench) fail(what string, err error) {
	b.logf("FAILED %s: %v", what, err)
	b.res.Failures = append(b.res.Failures, fmt.Sprintf("%s: %v", what, firstLine(err.Error())))
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func (b *bench) setup(ctx context.Context) error {
	e := b.e
	var missing []string
	missing = append(missing, e.missingTools("crane", "cosign-v2", "notation")...)
	for _, prog := range []string{"docker-registry", "softhsm2-util", "cc"} {
		if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, prog)
		}
	}
	if len(missing) > 0 {
		return &missingError{what: "missing tools: " + strings.Join(missing, ", ")}
	}
	b.logf("building signet")
	if err := e.buildSignet(ctx); err != nil {
		return err
	}
	b.logf("making a SoftHSM token, a cosign key and a notation key")
	if err := e.makeToken(ctx); err != nil {
		return err
	}
	if err := e.makeCosignKey(ctx); err != nil {
		return err
	}
	return e.makeNotationKey()
}

func (b *bench) run(ctx context.Context) {
	steps := []struct {
		name string
		fn   func(context.Context)
	}{
		{"fast", b.fast},
		{"distribution", b.distribution},
		{"latency", b.latency},
		{"counts", b.counts},
		{"hsm", b.hsm},
		{"rss", b.rss},
		{"profile", b.profile},
	}
	for _, s := range steps {
		if !b.want[s.name] || ctx.Err() != nil {
			continue
		}
		b.logf("== section %s", s.name)
		s.fn(ctx)
	}
	if ctx.Err() != nil {
		b.res.Failures = append(b.res.Failures, "interrupted")
	}
}

// serveSeeded starts a registry, seeds it as the benchmarks do, writes the
// catalog and the ggcr writer's plan, and waits: for reproducing one figure
// by hand, or profiling.
func serveSeeded(ctx context.Context, kind string, n int) error {
	work, err := os.MkdirTemp("", "signet-seeded-")
	if err != nil {
		return err
	}
	e, err := newEnv(ctx, work)
	if err != nil {
		return err
	}
	start := map[string]func(*env) (*server, error){"crane": startCrane, "distribution": startDistribution}[kind]
	if start == nil {
		return fmt.Errorf("-registry %q: want crane or distribution", kind)
	}
	srv, err := start(e)
	if err != nil {
		return err
	}
	defer srv.Stop()
	c, err := seedImages(ctx, e.reg, srv.Host, "seeded", n, fullSizes.perRepo)
	if err != nil {
		return err
	}
	cat, plan := filepath.Join(work, "catalog.txt"), filepath.Join(work, "plan.jsonl")
	if err := c.writeCatalog(cat); err != nil {
		return err
	}
	if err := writePlan(plan, c); err != nil {
		return err
	}
	fmt.Printf("registry %s on %s: %d images, %d manifests\ncatalog: %s\nggcr writer plan: %s\nwork directory (removed on exit): %s\nCtrl-C to stop\n",
		kind, srv.Host, len(c.Images), c.Manifests(), cat, plan, work)
	<-ctx.Done()
	return os.RemoveAll(work)
}
