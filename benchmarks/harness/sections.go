package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/signet-project/signet/benchmarks/latencyproxy"
)

// sizes are the catalog sizes, in multi-arch images (an index and three
// children: four manifests each). Slow tools get fewer images: their rate
// is steady after a few seconds, and the ratios compare rates.
type sizes struct {
	perRepo int // tags per repository

	fastSignet, fastGGCR, fastNotation, fastCosign int
	distSignet, distGGCR, distNotation, distCosign int
	latSignet, latGGCR, latNotation, latCosign     int
	latWorkers                                     []int
	latRounds                                      int // signet's latency runs per figure (the median is reported)
	fastRounds                                     int // signet's runs on crane, one before each peer (at most 3)
	countImages                                    int
	verifyCosign, verifyNotation                   int // manifests checked one process at a time
	verifyRounds                                   int // runs of signet verify and of notation verify per figure (the median is reported)
	hsmSessions                                    []int
	hsmSeconds                                     float64 // target duration of an HSM run
	hsmRounds                                      int     // runs per HSM figure (the median is reported)
	rss                                            []int
	profile                                        int
}

var fullSizes = sizes{
	perRepo:    10,
	fastSignet: 2000, fastGGCR: 1000, fastNotation: 100, fastCosign: 20,
	distSignet: 500, distGGCR: 500, distNotation: 250, distCosign: 40,
	latSignet: 500, latGGCR: 500, latNotation: 50, latCosign: 20,
	latWorkers:   []int{16, 64, 128},
	latRounds:    3,
	fastRounds:   3,
	countImages:  25,
	verifyCosign: 40, verifyNotation: 100,
	verifyRounds: 3,
	hsmSessions:  []int{1, 4, 16, 64},
	hsmSeconds:   6,
	hsmRounds:    9,
	rss:          []int{500, 2000, 10000},
	profile:      2000,
}

var smokeSizes = sizes{
	perRepo:    2,
	fastSignet: 2, fastGGCR: 2, fastNotation: 1, fastCosign: 1,
	distSignet: 2, distGGCR: 2, distNotation: 1, distCosign: 1,
	latSignet: 2, latGGCR: 2, latNotation: 1, latCosign: 1,
	latWorkers:   []int{16},
	latRounds:    1,
	fastRounds:   1,
	countImages:  2,
	verifyCosign: 2, verifyNotation: 2,
	verifyRounds: 1,
	hsmSessions:  []int{1, 4},
	hsmSeconds:   0.1,
	hsmRounds:    1,
	rss:          []int{2, 4},
	profile:      2,
}

// Signet's settings on each registry: the best of a sweep on the 2-core
// machine (workers beyond these only queue on the registry).
var (
	signetFast = signetOpts{Workers: 32, Sessions: 4}
	signetDist = signetOpts{Workers: 32, Sessions: 4}
)

const (
	ggcrGoroutines    = 16
	ggcrLatGoroutines = 64
	latency           = 25 * time.Millisecond
)

// hsmDelay is how long the slow HSM holds a session per signature
// (-hsm-delay; 0 calibrates the hsm section: the run with the most
// sessions then repeats the limit's own, and its Δ shows how far two runs
// of the same thing in one round fall apart).
var hsmDelay = 10 * time.Millisecond

// results is everything measured.
type results struct {
	Started, Finished  time.Time
	LoadStart, LoadEnd string // /proc/loadavg's 1, 5 and 15 minute figures

	Fast, Dist, Latency []result
	Verify              []result
	Counts              []result
	// HSM are the slow-HSM runs; those with Sessions 0 are the no-delay
	// runs that measure the limit, one in each round.
	HSM         []hsmResult
	HSMAreas    map[int][]cpuArea // with -hsm-profiles: the CPU split of all runs with that many sessions (0: no delay)
	LatencyBase *result           // signet without the proxy, just before the latency runs
	RSS         []rssResult
	Profile     *profileResult
	Failures    []string
}

type hsmResult struct {
	Sessions int // 0: no delay
	Round    int
	result
}

type rssResult struct {
	Images int
	result
}

// fresh runs fn on a registry of its own with a freshly seeded catalog of n
// images: no tool ever meets another's signatures or a registry grown by an
// earlier run.
func (b *bench) fresh(ctx context.Context, start func(*env) (*server, error), prefix string, n int, fn func(*server, catalog) error) {
	if tool, _, _ := strings.Cut(prefix, "-"); !b.tools[tool] && !strings.HasPrefix(prefix, "hsm") && prefix != "rss" && prefix != "profile" {
		return
	}
	srv, err := start(b.e)
	if err != nil {
		b.fail("starting a registry", err)
		return
	}
	defer srv.Stop()
	t0 := time.Now()
	c, err := seedImages(ctx, b.e.reg, srv.Host, prefix, n, b.sz.perRepo)
	if err != nil {
		b.fail("seeding "+srv.Kind, err)
		return
	}
	b.logf("seeded %d images (%d manifests) on %s in %s", n, c.Manifests(), srv.Kind, time.Since(t0).Round(time.Millisecond))
	if err := fn(srv, c); err != nil {
		b.fail(prefix+" on "+srv.Kind, err)
	}
}

// check counts the signature tags a tool left and fails when a manifest
// has none.
func (b *bench) check(ctx context.Context, c catalog, suffix, who string) error {
	n, err := signedCount(ctx, b.e.reg, c, suffix)
	if err != nil {
		return fmt.Errorf("checking %s's signatures: %w", who, err)
	}
	if n != c.Manifests() {
		return fmt.Errorf("%s left %d of %d manifests without a signature", who, c.Manifests()-n, c.Manifests())
	}
	return nil
}

// record logs r and appends it to list, if any; an error passes through.
func (b *bench) record(list *[]result, r result, err error) error {
	if err != nil {
		return err
	}
	held := ""
	if r.Held > 0 {
		held = fmt.Sprintf("  session held %s", r.Held.Round(time.Microsecond))
	}
	b.logf("%-26s %-22s %8.1f/s  %6d sigs in %7s  cpu %6.3f ms/sig  rss %5.1f MB  registry cpu %6.3f ms/sig  switches/sig %.1f+%.1f%s",
		r.Tool, r.Registry, r.Rate(), r.Sigs, r.U.Wall.Round(time.Millisecond), ms(r.CPUPerSig()), mb(r.U.MaxRSS), ms(r.RegCPUPerSig()),
		perSig(r.U.VolSwitches, r.Sigs), perSig(r.U.InvolSwitches, r.Sigs), held)
	if list != nil {
		*list = append(*list, r)
	}
	return nil
}

// signAll runs the four signers, each on a fresh registry.
func (b *bench) signAll(ctx context.Context, start func(*env) (*server, error), label string, list *[]result,
	nSignet, nGGCR, nNotation, nCosign int, opts signetOpts, ggcrN, rounds int, afterSignet, afterNotation func(*server, catalog) error) {
	// With rounds > 1 signet runs again before each peer, and its figure
	// is the median run: one run of a few seconds on this shared machine
	// moves by 30% in rate and CPU per signature.
	var runs []result
	signet := func() {
		b.fresh(ctx, start, "signet", nSignet, func(srv *server, c catalog) error {
			r, err := signetBatch(ctx, b.e, srv, c, label, opts)
			if err := b.record(&runs, r, err); err != nil {
				return err
			}
			if err := b.check(ctx, c, ".sig", "signet"); err != nil {
				return err
			}
			if afterSignet != nil && len(runs) == 1 {
				return afterSignet(srv, c)
			}
			return nil
		})
	}
	defer func() {
		if len(runs) > 0 {
			*list = append([]result{medianRun(runs)}, *list...)
		}
	}()
	signet()
	b.fresh(ctx, start, "ggcr", nGGCR, func(srv *server, c catalog) error {
		r, err := ggcrWriter(ctx, b.e, srv, c, label, ggcrN)
		if err := b.record(list, r, err); err != nil {
			return err
		}
		return b.check(ctx, c, ".sig", "the ggcr writer")
	})
	if rounds > 1 {
		signet()
	}
	b.fresh(ctx, start, "notation", nNotation, func(srv *server, c catalog) error {
		r, err := notationSign(ctx, b.e, srv, c, label)
		if err := b.record(list, r, err); err != nil {
			return err
		}
		if err := b.check(ctx, c, "", "notation"); err != nil {
			return err
		}
		if afterNotation != nil {
			return afterNotation(srv, c)
		}
		return nil
	})
	if rounds > 2 {
		signet()
	}
	b.fresh(ctx, start, "cosign", nCosign, func(srv *server, c catalog) error {
		r, err := cosignSign(ctx, b.e, srv, c, label)
		if err := b.record(list, r, err); err != nil {
			return err
		}
		return b.check(ctx, c, ".sig", "cosign")
	})
}

// fast: go-containerregistry's in-memory registry, where the client's own
// cost decides.
func (b *bench) fast(ctx context.Context) {
	b.signAll(ctx, startCrane, "crane (in memory)", &b.res.Fast,
		b.sz.fastSignet, b.sz.fastGGCR, b.sz.fastNotation, b.sz.fastCosign, signetFast, ggcrGoroutines, b.sz.fastRounds, nil, nil)
}

// distribution: Debian's docker-registry on disk, where the registry
// decides; verification is measured on the catalogs just signed.
func (b *bench) distribution(ctx context.Context) {
	b.signAll(ctx, startDistribution, "distribution", &b.res.Dist,
		b.sz.distSignet, b.sz.distGGCR, b.sz.distNotation, b.sz.distCosign, signetDist, ggcrGoroutines, 1,
		func(srv *server, c catalog) error {
			err := b.median(&b.res.Verify, b.sz.verifyRounds, func() (result, error) {
				return signetVerify(ctx, b.e, srv, c, "distribution", 32)
			})
			if err != nil {
				return err
			}
			refs := c.Digests()
			r, err := cosignVerify(ctx, b.e, srv, refs[:min(b.sz.verifyCosign, len(refs))], b.e.pubPEM, "distribution")
			return b.record(&b.res.Verify, r, err)
		},
		func(srv *server, c catalog) error {
			refs := c.Digests()
			return b.median(&b.res.Verify, b.sz.verifyRounds, func() (result, error) {
				return notationVerify(ctx, b.e, srv, refs[:min(b.sz.verifyNotation, len(refs))], "distribution")
			})
		})
}

// median runs fn n times and appends the median run to list. Verifying
// only reads, so a run can be repeated on the same registry; single runs
// of a few seconds put target 6's ratio to notation anywhere from 9.7× to
// 13× on this shared machine.
func (b *bench) median(list *[]result, n int, fn func() (result, error)) error {
	var runs []result
	for range max(n, 1) {
		r, err := fn()
		if err := b.record(nil, r, err); err != nil {
			return err
		}
		runs = append(runs, r)
	}
	*list = append(*list, medianRun(runs))
	return nil
}

// withProxy starts a latency proxy in front of srv for the length of fn.
func withProxy(srv *server, delay time.Duration, fn func(*latencyproxy.Proxy) error) error {
	p, err := latencyproxy.Start(srv.Host, delay)
	if err != nil {
		return err
	}
	defer p.Close()
	return fn(p)
}

// latency: docker-registry behind a proxy adding 25 ms per request.
func (b *bench) latency(ctx context.Context) {
	label := fmt.Sprintf("distribution +%dms", latency.Milliseconds())
	// The no-latency figure the latency runs are compared with is measured
	// beside them, on a catalog of their size: the distribution section's
	// own run comes minutes earlier, before the peers filled the disk. A
	// filesystem registry on a shared machine still drifts by more than
	// the margin being measured (one run to the next has moved by 30%), so
	// signet's runs are interleaved — the baseline, then each worker
	// count, round after round — and each figure is the median run.
	var bases []result
	runs := make([][]result, len(b.sz.latWorkers)) // by worker count
	for round := 0; round < b.sz.latRounds; round++ {
		b.fresh(ctx, startDistribution, "signet", b.sz.latSignet, func(srv *server, c catalog) error {
			r, err := signetBatch(ctx, b.e, srv, c, "distribution, no proxy", signetDist)
			if err := b.record(&bases, r, err); err != nil {
				return err
			}
			return b.check(ctx, c, ".sig", "signet")
		})
		for i, w := range b.sz.latWorkers {
			b.fresh(ctx, startDistribution, "signet", b.sz.latSignet, func(srv *server, c catalog) error {
				return withProxy(srv, latency, func(p *latencyproxy.Proxy) error {
					opts := signetDist
					opts.Workers = w
					r, err := signetBatch(ctx, b.e, srv, c.via(p.Host), label, opts)
					if err := b.record(&runs[i], r, err); err != nil {
						return err
					}
					return b.check(ctx, c, ".sig", "signet")
				})
			})
		}
	}
	if len(bases) > 0 {
		m := medianRun(bases)
		b.res.LatencyBase = &m
	}
	for _, l := range runs {
		if len(l) > 0 {
			b.res.Latency = append(b.res.Latency, medianRun(l))
		}
	}
	// Each peer once, behind the proxy; suffix is what its signatures'
	// tags end with ("" for notation's referrers).
	peer := func(prefix string, n int, suffix, who string, sign func(*server, catalog) (result, error)) {
		b.fresh(ctx, startDistribution, prefix, n, func(srv *server, c catalog) error {
			return withProxy(srv, latency, func(p *latencyproxy.Proxy) error {
				r, err := sign(srv, c.via(p.Host))
				if err := b.record(&b.res.Latency, r, err); err != nil {
					return err
				}
				return b.check(ctx, c, suffix, who)
			})
		})
	}
	peer("ggcr", b.sz.latGGCR, ".sig", "the ggcr writer", func(srv *server, c catalog) (result, error) {
		return ggcrWriter(ctx, b.e, srv, c, label, ggcrLatGoroutines)
	})
	peer("notation", b.sz.latNotation, "", "notation", func(srv *server, c catalog) (result, error) {
		return notationSign(ctx, b.e, srv, c, label)
	})
	peer("cosign", b.sz.latCosign, ".sig", "cosign", func(srv *server, c catalog) (result, error) {
		return cosignSign(ctx, b.e, srv, c, label)
	})
}

// counts: every tool's HTTP requests and blob uploads per signature,
// counted by a proxy (no delay) in front of docker-registry, which has no
// referrers API.
func (b *bench) counts(ctx context.Context) {
	label := "distribution (counted)"
	type tool struct {
		prefix, suffix string
		fn             func(srv *server, c catalog) (result, error)
	}
	tools := []tool{
		{"signet", ".sig", func(srv *server, c catalog) (result, error) {
			return signetBatch(ctx, b.e, srv, c, label, signetDist)
		}},
		{"ggcr", ".sig", func(srv *server, c catalog) (result, error) {
			return ggcrWriter(ctx, b.e, srv, c, label, ggcrGoroutines)
		}},
		{"notation", "", func(srv *server, c catalog) (result, error) { return notationSign(ctx, b.e, srv, c, label) }},
		{"cosign", ".sig", func(srv *server, c catalog) (result, error) { return cosignSign(ctx, b.e, srv, c, label) }},
	}
	for _, t := range tools {
		b.fresh(ctx, startDistribution, t.prefix, b.sz.countImages, func(srv *server, c catalog) error {
			return withProxy(srv, 0, func(p *latencyproxy.Proxy) error {
				r, err := t.fn(srv, c.via(p.Host))
				if err != nil {
					return err
				}
				counts := p.Counts()
				r.Counts = &counts
				if err := b.record(&b.res.Counts, r, nil); err != nil {
					return err
				}
				if err := b.check(ctx, c, t.suffix, t.prefix); err != nil {
					return err
				}
				if t.prefix != "signet" {
					return nil
				}
				// And signet verify: what a verification costs.
				before := p.Counts()
				r, err = signetVerify(ctx, b.e, srv, c.via(p.Host), label, 32)
				if err != nil {
					return err
				}
				vcounts := p.Counts().Sub(before)
				r.Counts = &vcounts
				return b.record(&b.res.Counts, r, nil)
			})
		})
	}
}

// hsmProfileDir, when set (-hsm-profiles), gets a CPU profile of every run
// of the hsm section.
var hsmProfileDir string

// hsm: a network HSM modelled by the slow wrapper (every signature holds
// its session for 10 ms), --hsm-sessions 1, 4, 16, 64; throughput should
// follow sessions ÷ latency until the registry's limit, measured with the
// same wrapper and no delay.
//
// One run on this shared machine moves by ±15% on its own (the no-delay
// limit has moved by 40% between two runs a minute apart), so every figure
// is the median of hsmRounds runs, and the rounds are interleaved (see
// hsmOrder) so that a slow minute on the host lands on every figure alike
// instead of on one.
func (b *bench) hsm(ctx context.Context) {
	shim, err := buildSlowHSM(ctx, b.e)
	if err != nil {
		b.fail("building the slow HSM wrapper", err)
		return
	}
	uri := b.e.uriFor(shim)
	maxSessions := slices.Max(b.sz.hsmSessions)
	// Runs whose rate the limit caps sign catalogs of one size, the
	// limit's own included, sized for hsmSeconds at 4,000 signatures/s
	// (above this machine's limit): the same planning, warm-up and tail
	// in each, so that the delay is all that differs between them.
	cappedImages := max(1, int(4000*b.sz.hsmSeconds/4))
	run := func(round, s int) {
		delay, sessions := hsmDelay, s
		label, name := fmt.Sprintf("crane, HSM +%s", hsmDelay), fmt.Sprintf("hsm-%d", s)
		images := cappedImages
		if ideal := hsmIdeal(s); !math.IsInf(ideal, 1) {
			if l, ok := b.res.hsmRound(0, 0); !ok || ideal < l.Rate() {
				images = max(2, int(ideal*b.sz.hsmSeconds/4))
			}
		}
		if s == 0 { // the limit: no delay, the most sessions of any run
			delay, sessions, images = 0, maxSessions, cappedImages
			label, name = "crane, no HSM delay", "hsm-limit"
		}
		if b.smoke {
			images = 2
		}
		// Enough workers to keep every session busy while the others'
		// signatures are in flight to the registry: a worker spends about
		// as long on HTTP as on the HSM here.
		opts := signetOpts{Workers: max(8, 4*sessions), Sessions: sessions, KeyURI: uri,
			Env: []string{"SLOWHSM_MODULE=" + b.e.module, fmt.Sprintf("SLOWHSM_DELAY_US=%d", delay.Microseconds())}}
		if hsmProfileDir != "" {
			opts.Args = []string{"--cpuprofile", filepath.Join(hsmProfileDir, fmt.Sprintf("hsm-%d-r%d.prof", s, round))}
		}
		b.fresh(ctx, startCrane, name, images, func(srv *server, c catalog) error {
			r, err := signetBatch(ctx, b.e, srv, c, label, opts)
			if err := b.record(nil, r, err); err != nil {
				return err
			}
			b.res.HSM = append(b.res.HSM, hsmResult{Sessions: s, Round: round, result: r})
			return b.check(ctx, c, ".sig", "signet")
		})
	}
	for round := 0; round < b.sz.hsmRounds; round++ {
		for _, s := range hsmOrder(round, b.sz.hsmSessions) {
			run(round, s)
		}
	}
	if hsmProfileDir != "" && !b.smoke {
		b.res.HSMAreas = map[int][]cpuArea{}
		for _, s := range []int{0, maxSessions} {
			a, err := b.splitProfiles(ctx, filepath.Join(hsmProfileDir, fmt.Sprintf("hsm-%d-r*.prof", s)))
			if err != nil {
				b.fail("splitting the hsm section's CPU profiles", err)
				return
			}
			b.res.HSMAreas[s] = a
		}
	}
}

// splitProfiles is the CPU split (see cpuSplit) of the CPU profiles of
// signet's runs matching glob, merged. A directory reused with -hsm-profiles
// keeps the profiles of an earlier run's extra rounds; they are merged too.
func (b *bench) splitProfiles(ctx context.Context, glob string) ([]cpuArea, error) {
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no profiles match %s (%v)", glob, err)
	}
	out, err := b.pprof(ctx, append([]string{"-traces", b.e.signet}, files...)...)
	if err != nil {
		return nil, err
	}
	return cpuSplit(out)
}

// pprof runs `go tool pprof` with args and returns what it prints.
func (b *bench) pprof(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, args...)...)
	cmd.Dir = b.e.root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// hsmOrder is the order of a round's runs, 0 standing for the limit. The
// limit opens round 0 (the runs it caps are sized by it) and from then on
// sits next to the run it is compared with, the most sessions: before it
// in even rounds, after it in odd ones, so that what one run leaves
// behind on the machine (a registry's memory going back, the load other
// tenants bring in the meantime) does not always fall on the same one of
// the pair.
func hsmOrder(round int, sessions []int) []int {
	asc := slices.Sorted(slices.Values(sessions))
	if round%2 == 1 {
		return append(asc, 0)
	}
	slices.Reverse(asc)
	return append([]int{0}, asc...)
}

// hsmIdeal is what s sessions sign per second when only the delay limits
// them.
func hsmIdeal(s int) float64 {
	if hsmDelay <= 0 {
		return math.Inf(1)
	}
	return float64(s) / hsmDelay.Seconds()
}

// hsmLimit is the median rate of the no-delay runs, 0 without one.
func (r *results) hsmLimit() float64 {
	if l := r.hsmRuns(0); len(l) > 0 {
		return medianRun(l).Rate()
	}
	return 0
}

// hsmTotals are the signatures and signet's CPU of all runs with s
// sessions (0: the no-delay runs).
func (r *results) hsmTotals(s int) (sigs int, cpu time.Duration) {
	for _, x := range r.hsmRuns(s) {
		sigs, cpu = sigs+x.Sigs, cpu+x.U.CPU()
	}
	return sigs, cpu
}

// hsmRuns are the runs with s sessions (0: the no-delay runs).
func (r *results) hsmRuns(s int) []result {
	var l []result
	for _, h := range r.HSM {
		if h.Sessions == s {
			l = append(l, h.result)
		}
	}
	return l
}

// hsmRound is the run with s sessions in the given round.
func (r *results) hsmRound(round, s int) (result, bool) {
	for _, h := range r.HSM {
		if h.Sessions == s && h.Round == round {
			return h.result, true
		}
	}
	return result{}, false
}

// hsmDeviation is how far the runs with s sessions fall from expected.
// Where the limit caps them, each run is compared with the limit measured
// in its own round, a minute apart at most, and the deviation is the
// median of those ratios: the host's load moves both runs of a round
// alike but moves whole rounds by more than the target's margin. perRound
// lists the ratios behind it (empty when not capped).
func (b *bench) hsmDeviation(s int) (dev float64, perRound []float64) {
	r := b.res
	exp := b.hsmExpected(s)
	if exp < hsmIdeal(s) {
		for round := 0; round < b.sz.hsmRounds; round++ {
			run, ok1 := r.hsmRound(round, s)
			lim, ok2 := r.hsmRound(round, 0)
			if ok1 && ok2 && lim.Rate() > 0 {
				perRound = append(perRound, run.Rate()/lim.Rate()-1)
			}
		}
		if len(perRound) > 0 {
			sorted := slices.Clone(perRound)
			slices.Sort(sorted)
			return sorted[(len(sorted)-1)/2], perRound
		}
	}
	return medianRun(r.hsmRuns(s)).Rate()/exp - 1, nil
}

// medianRun is the run with the median rate (the slower middle one of an
// even count), annotated with how many runs it stands for and their range.
func medianRun(l []result) result {
	s := slices.Clone(l)
	slices.SortFunc(s, func(a, b result) int { return cmp.Compare(a.Rate(), b.Rate()) })
	m := s[(len(s)-1)/2]
	if len(s) > 1 {
		m.Spread = fmt.Sprintf("median of %d runs: %.1f–%.1f/s", len(s), s[0].Rate(), s[len(s)-1].Rate())
	}
	return m
}

// buildSlowHSM compiles the slow PKCS#11 wrapper.
func buildSlowHSM(ctx context.Context, e *env) (string, error) {
	src := filepath.Join(e.work, "slowhsm.c")
	if err := os.WriteFile(src, slowHSMSource, 0o644); err != nil {
		return "", err
	}
	so := filepath.Join(e.work, "slowhsm.so")
	out, err := exec.CommandContext(ctx, "cc", "-shared", "-fPIC", "-O2", "-o", so, src, "-ldl", "-lpthread").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("cc slowhsm.c: %w\n%s", err, indent(string(out)))
	}
	return so, nil
}

// rss: signet's peak RSS for catalogs of growing size on the in-memory
// registry.
func (b *bench) rss(ctx context.Context) {
	for _, n := range b.sz.rss {
		b.fresh(ctx, startCrane, "rss", n, func(srv *server, c catalog) error {
			r, err := signetBatch(ctx, b.e, srv, c, "crane (in memory)", signetFast)
			if err := b.record(nil, r, err); err != nil {
				return err
			}
			b.res.RSS = append(b.res.RSS, rssResult{Images: n, result: r})
			return nil
		})
	}
}

type profileResult struct {
	result
	CPUTop, AllocTop, InuseTop string
	Areas                      []cpuArea
}

// profile: CPU and heap profiles of one batch run on the in-memory
// registry, summarised with go tool pprof.
func (b *bench) profile(ctx context.Context) {
	b.fresh(ctx, startCrane, "profile", b.sz.profile, func(srv *server, c catalog) error {
		cpu := filepath.Join(b.e.work, "cpu.prof")
		mem := filepath.Join(b.e.work, "mem.prof")
		opts := signetFast
		opts.Args = []string{"--cpuprofile", cpu, "--memprofile", mem}
		r, err := signetBatch(ctx, b.e, srv, c, "crane (in memory), profiled", opts)
		if err := b.record(nil, r, err); err != nil {
			return err
		}
		p := &profileResult{result: r}
		top := func(args ...string) (string, error) {
			out, err := b.pprof(ctx, append([]string{"-top", "-nodecount=25"}, args...)...)
			return trimPprof(out), err
		}
		if p.CPUTop, err = top(b.e.signet, cpu); err != nil {
			return err
		}
		if p.Areas, err = b.splitProfiles(ctx, cpu); err != nil {
			return err
		}
		if p.AllocTop, err = top("-sample_index=alloc_space", b.e.signet, mem); err != nil {
			return err
		}
		if p.InuseTop, err = top("-sample_index=inuse_space", b.e.signet, mem); err != nil {
			return err
		}
		b.res.Profile = p
		return nil
	})
}

// trimPprof drops pprof's header lines that name files and build IDs.
func trimPprof(s string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(b int64) float64         { return float64(b) / (1 << 20) }

// loadavg is /proc/loadavg's first three fields.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// perSig is n per signature, 0 without signatures.
func perSig(n int64, sigs int) float64 {
	if sigs == 0 {
		return 0
	}
	return float64(n) / float64(sigs)
}
