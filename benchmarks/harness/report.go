package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// target is one line of the targets table.
type target struct {
	Name, Want, Got string
	Met             string // "met", "MISSED", or "n/a" (not measured)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**MISSED**"
}

func find(list []result, prefix string) *result {
	for i := range list {
		if strings.HasPrefix(list[i].Tool, prefix) {
			return &list[i]
		}
	}
	return nil
}

// ratio returns a/b's rates, and whether both were measured.
func ratio(a, b *result) (float64, bool) {
	if a == nil || b == nil || b.Rate() == 0 {
		return 0, false
	}
	return a.Rate() / b.Rate(), true
}

func (b *bench) targets() []target {
	r := b.res
	var ts []target
	add := func(name, want string, got float64, measured bool, ok bool, format string) {
		t := target{Name: name, Want: want, Met: "n/a", Got: "not measured"}
		if measured {
			t.Got, t.Met = fmt.Sprintf(format, got), verdict(ok)
		}
		ts = append(ts, t)
	}
	ratioTarget := func(name string, list []result, peer string, want float64) {
		x, ok := ratio(find(list, "signet"), find(list, peer))
		add(name, fmt.Sprintf("≥ %g×", want), x, ok, x >= want, "%.1f×")
	}
	// 1. fast registry
	ratioTarget("1. crane: signet ÷ notation", r.Fast, "notation", 8)
	ratioTarget("1. crane: signet ÷ cosign", r.Fast, "cosign", 150)
	if s := find(r.Fast, "signet"); s != nil {
		add("1. crane: signet client CPU per signature", "≤ 0.5 ms", ms(s.CPUPerSig()), true, s.CPUPerSig() <= 500*time.Microsecond, "%.3f ms")
	} else {
		add("1. crane: signet client CPU per signature", "≤ 0.5 ms", 0, false, false, "")
	}
	// 2. distribution
	ratioTarget("2. distribution: signet ÷ notation", r.Dist, "notation", 1.2)
	ratioTarget("2. distribution: signet ÷ cosign", r.Dist, "cosign", 8)
	ratioTarget("2. distribution: signet ÷ ggcr writer", r.Dist, "ggcr", 1.2)
	// 3. latency
	best := bestSignet(r.Latency)
	x, ok := ratio(best, find(r.Latency, "notation"))
	add("3. +25ms: signet ÷ notation", "≥ 3×", x, ok, x >= 3, "%.1f×")
	x, ok = ratio(best, find(r.Latency, "cosign"))
	add("3. +25ms: signet ÷ cosign", "≥ 10×", x, ok, x >= 10, "%.1f×")
	base := r.LatencyBase
	if base == nil {
		base = find(r.Dist, "signet")
	}
	x, ok = ratio(best, base)
	add("3. +25ms: signet ÷ signet without latency", "≥ 80%", 100*x, ok, x >= 0.8, "%.0f%%")
	// 4. counts
	if s := find(r.Counts, "signet batch"); s != nil && s.Counts != nil {
		rq := float64(s.Counts.Requests) / float64(s.Sigs)
		add("4. requests per signature (distribution, no referrers API)", "≤ 5", rq, true, rq <= 5, "%.2f")
		// The shared config is uploaded once per registry and run (and
		// mounted into the other repositories); every signature beyond
		// costs its payload's upload alone.
		up := float64(s.Counts.Uploads-1) / float64(s.Sigs)
		t := target{Name: "4. blob uploads per signature", Want: "≤ 1",
			Got: fmt.Sprintf("%.2f (%d uploads for %d signatures: one payload each, and the shared config once per registry; %d mounts)", up, s.Counts.Uploads, s.Sigs, s.Counts.Mounts),
			Met: verdict(up <= 1)}
		ts = append(ts, t)
	} else {
		add("4. requests per signature (distribution, no referrers API)", "≤ 5", 0, false, false, "")
		add("4. blob uploads per signature", "≤ 1", 0, false, false, "")
	}
	// 5. HSM
	for _, s := range b.sz.hsmSessions {
		runs := r.hsmRuns(s)
		if len(runs) == 0 {
			continue
		}
		exp := b.hsmExpected(s)
		dev, perRound := b.hsmDeviation(s)
		how := fmt.Sprintf("median of %d runs", len(runs))
		if len(perRound) > 0 {
			how = fmt.Sprintf("capped by the limit: median of %d runs' ratios to their round's limit", len(perRound))
		}
		add(fmt.Sprintf("5. HSM +%s, %d sessions: within 15%% of %.0f/s (%s)", hsmDelay, s, exp, how), "within ±15%", 100*dev, true, dev >= -0.15 && dev <= 0.15, "%+.0f%%")
	}
	if len(r.HSM) == 0 {
		add(fmt.Sprintf("5. HSM +%s: throughput follows sessions ÷ latency", hsmDelay), "within ±15%", 0, false, false, "")
	}
	// 6. verify
	sv := find(r.Verify, "signet verify")
	x, ok = ratio(sv, find(r.Verify, "cosign verify"))
	add("6. verify: signet ÷ cosign verify per manifest", "≥ 10×", x, ok, x >= 10, "%.1f×")
	x, ok = ratio(sv, find(r.Verify, "notation verify"))
	add("6. verify: signet ÷ notation verify per manifest", "≥ 10×", x, ok, x >= 10, "%.1f×")
	// 7. RSS
	if slope, ok := b.rssSlope(); ok {
		add("7. peak RSS growth per 1,000 planned images", "≤ 5 MB", slope, true, slope <= 5, "%.2f MB")
	} else {
		add("7. peak RSS growth per 1,000 planned images", "≤ 5 MB", 0, false, false, "")
	}
	return ts
}

func bestSignet(list []result) *result {
	var best *result
	for i := range list {
		if strings.HasPrefix(list[i].Tool, "signet") && (best == nil || list[i].Rate() > best.Rate()) {
			best = &list[i]
		}
	}
	return best
}

// hsmExpected is sessions ÷ delay, capped by the registry limit measured
// with the same wrapper and no delay.
func (b *bench) hsmExpected(sessions int) float64 {
	exp := hsmIdeal(sessions)
	if l := b.res.hsmLimit(); l > 0 {
		exp = min(exp, l)
	}
	return exp
}

// rssSlope is the peak RSS growth per 1,000 images between the smallest
// and the largest catalog, in MB.
func (b *bench) rssSlope() (float64, bool) {
	rs := b.res.RSS
	if len(rs) < 2 {
		return 0, false
	}
	lo, hi := rs[0], rs[len(rs)-1]
	if hi.Images == lo.Images {
		return 0, false
	}
	return mb(hi.U.MaxRSS-lo.U.MaxRSS) / (float64(hi.Images-lo.Images) / 1000), true
}

func (b *bench) writeResults(w io.Writer) {
	r := b.res
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# signet benchmark results\n\n")
	if b.smoke {
		p("**Smoke run** (tiny catalogs): the figures below exercise the code paths and mean nothing.\n\n")
	}
	p("- Date: %s (took %s)\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Finished.Sub(r.Started).Round(time.Second))
	p("- Machine: %s; load average %s at the start, %s at the end (the machine is shared: figures move with its load, ratios measured side by side much less)\n", machine(), r.LoadStart, r.LoadEnd)
	p("- Command: `%s` (`make bench`)\n", b.reproduce())
	p("- Keys: P-256 everywhere. signet signs with a SoftHSM 2.6 token (`pkcs11:` URI, sessions shared by the workers); cosign with its own `cosign.key`; notation with an unencrypted PKCS#8 key and a two-certificate chain (`signingkeys.json`); the ggcr writer with an in-memory key.\n")
	p("- Catalogs: multi-arch images, each an OCI index with three image manifests (linux/amd64, linux/arm64, linux/arm/v7), %d tags per repository, seeded fresh for every run on a registry started for that run. Figures count signatures (one per manifest).\n", b.sz.perRepo)
	p("- Peers in their best form: notation and cosign run %d processes at once (`xargs -P %d`), notation once per manifest (it has no recursive mode), cosign once per image with `-r`; the ggcr writer shares one `remote.Pusher` between its goroutines. CPU is rusage user+sys of the tool's processes; the registry's CPU comes from /proc.\n\n", peerProcs, peerProcs)

	p("## Targets\n\n| target | wanted | measured | |\n|---|---|---|---|\n")
	for _, t := range b.targets() {
		p("| %s | %s | %s | %s |\n", t.Name, t.Want, t.Got, t.Met)
	}
	p("\n")

	table := func(title string, list []result) {
		if len(list) == 0 {
			return
		}
		p("### %s\n\n| tool | run as | signatures | wall | signatures/s | tool CPU/sig | peak RSS | registry CPU/sig |\n|---|---|---:|---:|---:|---:|---:|---:|\n", title)
		for _, x := range list {
			p("| %s | %s | %d | %s | **%.1f** | %.3f ms | %.1f MB | %.3f ms |\n", x.Tool, formWithRetries(x), x.Sigs, x.U.Wall.Round(time.Millisecond), x.Rate(), ms(x.CPUPerSig()), mb(x.U.MaxRSS), ms(x.RegCPUPerSig()))
		}
		p("\n")
	}
	p("## Signing throughput\n\n")
	table("go-containerregistry's registry (`crane registry serve`, in memory)", r.Fast)
	table("Debian `docker-registry` 2.8 (filesystem), fresh catalog", r.Dist)
	table(fmt.Sprintf("The same behind a loopback proxy adding %s per request", latency), r.Latency)
	if x := r.LatencyBase; x != nil && len(r.Latency) > 0 {
		p("Without the proxy, on catalogs of their size, each run just before a round of signet's runs with the proxy (target 3's baseline): signet batch %s, %d signatures, **%.1f**/s, %.3f ms CPU per signature, registry %.3f ms CPU per signature. signet's figures with and without the proxy are each the median of %d interleaved runs.\n\n",
			formWithRetries(*x), x.Sigs, x.Rate(), ms(x.CPUPerSig()), ms(x.RegCPUPerSig()), b.sz.latRounds)
	}

	if len(r.Counts) > 0 {
		p("## HTTP requests per signature\n\nCounted by a loopback proxy (no delay) in front of docker-registry, which has no referrers API; every tool on a fresh catalog of %d images (%d manifests, %d tags per repository). Per signature (per manifest verified for `signet verify`), everything included: auth pings, planning, tag listings; blob uploads and mounts also as totals.\n\n", b.sz.countImages, b.sz.countImages*4, b.sz.perRepo)
		p("| tool | signatures | requests | GET | HEAD | POST | PUT | blob uploads | mounts | pings (GET /v2/) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range r.Counts {
			c, n := x.Counts, float64(x.Sigs)
			p("| %s | %d | **%.2f** | %.2f | %.2f | %.2f | %.2f | **%.2f** (%d) | %d | %.2f |\n", x.Tool, x.Sigs, float64(c.Requests)/n, float64(c.GET)/n, float64(c.HEAD)/n,
				float64(c.POST)/n, float64(c.PUT)/n, float64(c.Uploads)/n, c.Uploads, c.Mounts, float64(c.Pings)/n)
		}
		p("\n")
	}

	if len(r.HSM) > 0 {
		p("## Network HSM: every signature holds its session %s\n\n", hsmDelay)
		p("signet batch on `crane registry serve` with its key behind `slowhsm` (benchmarks/harness/slowhsm/slowhsm.c), a PKCS#11 module that forwards to SoftHSM and sleeps %s inside `C_Sign`, so the delay holds the session like a round trip to a network HSM. Expected = sessions ÷ %s, capped by the registry limit", hsmDelay, hsmDelay)
		limits := r.hsmRuns(0)
		if len(limits) > 0 {
			p(" (%.0f/s: the same wrapper with no delay, %s, the median of %d runs)", r.hsmLimit(), limits[0].Form, len(limits))
		}
		p(". The runs are interleaved, round after round, so that the shared machine's slow minutes fall on every figure alike: the limit, then the session counts from the most to the fewest in even rounds, the reverse in odd ones, so that the limit sits next to the run it caps, before it in one round and after it in the next. Each row shows its median run. Where the limit caps the expected rate, Δ compares each run with the limit measured in its own round and is the median of those ratios (each listed): a busy minute on the host moves both runs of a round alike but whole rounds by more than the target's margin. The runs the limit caps sign catalogs of the same size as the limit's. Waited is the share of signatures that found every session busy; held is how long a signature kept its session on average, from taking it from the pool to giving it back: the delay, SoftHSM's signing and the time the signing thread waited for a CPU and for a Go processor (both from signet's HSM session pool log line). Switches are signet's context switches per signature (rusage: voluntary + involuntary); a voluntary one is a thread going to sleep. CPU busy is (signet's CPU + the registry's CPU) ÷ (wall time × %d CPUs): near 100%%, the machine, not the HSM, is the limit.\n\n", runtime.NumCPU())
		p("| --hsm-sessions | run as | signatures | waited for a session | session held | signatures/s | expected | Δ | signet CPU/sig | switches/sig | CPU busy |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		row := func(label string, s int) {
			runs := r.hsmRuns(s)
			if len(runs) == 0 {
				return
			}
			m := medianRun(runs)
			busy := 100 * (m.U.CPU() + m.RegCPU).Seconds() / (m.U.Wall.Seconds() * float64(runtime.NumCPU()))
			expCol, devCol := "(limit)", ""
			if s > 0 {
				dev, perRound := b.hsmDeviation(s)
				expCol, devCol = fmt.Sprintf("%.0f", b.hsmExpected(s)), fmt.Sprintf("%+.0f%%", 100*dev)
				if len(perRound) > 0 {
					each := make([]string, len(perRound))
					for i, d := range perRound {
						each[i] = fmt.Sprintf("%+.0f%%", 100*d)
					}
					devCol += " (rounds: " + strings.Join(each, ", ") + ")"
				}
			}
			waited := "?"
			if m.Waited >= 0 {
				waited = fmt.Sprintf("%.0f%%", 100*float64(m.Waited)/float64(max(m.Sigs, 1)))
			}
			held := "?"
			if m.Held > 0 {
				held = fmt.Sprintf("%.2f ms", ms(m.Held))
			}
			p("| %s | %s | %d | %s | %s | **%.1f** | %s | %s | %.3f ms | %.1f + %.1f | %.0f%% |\n", label, formWithRetries(m), m.Sigs, waited, held, m.Rate(), expCol, devCol,
				ms(m.CPUPerSig()), perSig(m.U.VolSwitches, m.Sigs), perSig(m.U.InvolSwitches, m.Sigs), busy)
		}
		row("no delay", 0)
		for _, s := range b.sz.hsmSessions {
			row(strconv.Itoa(s), s)
		}
		most := slices.Max(b.sz.hsmSessions)
		if a0, aN := r.HSMAreas[0], r.HSMAreas[most]; len(a0) > 0 && len(aN) > 0 {
			n0, cpu0 := r.hsmTotals(0)
			nN, cpuN := r.hsmTotals(most)
			n0, nN = max(n0, 1), max(nN, 1) // profiles of runs that all failed: no division by zero
			m0, sum0 := perSignature(a0, n0)
			mN, sumN := perSignature(aN, nN)
			p("\nWhere the CPU goes (`-hsm-profiles`: every run's CPU profile, merged by kind and split into areas as in the profile section), µs per signature:\n\n| area | no delay | --hsm-sessions %d, +%s | difference |\n|---|---:|---:|---:|\n", most, hsmDelay)
			for _, name := range areaNames() {
				if m0[name] > 0 || mN[name] > 0 {
					p("| %s | %.0f | %.0f | %+.0f |\n", name, m0[name], mN[name], mN[name]-m0[name])
				}
			}
			p("| all the profiles saw | %.0f | %.0f | %+.0f |\n", sum0, sumN, sumN-sum0)
			c0, cN := float64(cpu0.Microseconds())/float64(n0), float64(cpuN.Microseconds())/float64(nN)
			p("| signet's CPU by rusage | %.0f | %.0f | %+.0f |\n", c0, cN, cN-c0)
		}
		if hsmDelay == 0 {
			p("\nCalibration (-hsm-delay 0): nothing is delayed, so the run with the most sessions repeats the limit's own (the same sessions, workers and catalog size); its Δ is how far two runs of the very same thing in one round fall apart on this machine: the noise within the target's margin.\n")
		} else {
			p("\nWith the delay every signature is a C call that blocks its thread for %s, which costs CPU the no-delay run does not pay: the thread sleeps and wakes (on a full machine its wake-up preempts whatever runs), the Go runtime hands the thread's processor to another thread and takes one back, and SoftHSM signs with cold caches after the sleep. CPU profiles of both kinds of run (`-hsm-profiles DIR` adds their split by area to this section) put the largest part of the difference they see in the C call (SoftHSM signing with cold caches after the sleep), the rest in the HTTP client and the runtime's scheduler; rusage counts 20–40 µs per signature more than the profiles see, most likely the kernel's side of each sleep and wake-up. Where the registry and signet together keep the %d CPUs busy, that extra CPU, not the sessions, sets the rate: more sessions do not raise it. On such a machine a session is held longer than the delay, while its thread waits for a CPU; benchmarks/README.md shows that doubling the sessions removes nearly all waits without bringing the rate up.\n", hsmDelay, runtime.NumCPU())
		}
		p("\n")
	}

	if len(r.Verify) > 0 {
		p("## Verification (docker-registry)\n\n| tool | run as | manifests | wall | manifests/s | tool CPU/manifest | registry CPU/manifest |\n|---|---|---:|---:|---:|---:|---:|\n")
		for _, x := range r.Verify {
			p("| %s | %s | %d | %s | **%.1f** | %.3f ms | %.3f ms |\n", x.Tool, formWithRetries(x), x.Sigs, x.U.Wall.Round(time.Millisecond), x.Rate(), ms(x.CPUPerSig()), ms(x.RegCPUPerSig()))
		}
		p("\n")
	}

	if len(r.RSS) > 0 {
		p("## Memory: signet batch's peak RSS by catalog size (crane)\n\n| images | manifests | peak RSS | signatures/s |\n|---:|---:|---:|---:|\n")
		for _, x := range r.RSS {
			p("| %d | %d | %.1f MB | %.1f |\n", x.Images, x.Sigs, mb(x.U.MaxRSS), x.Rate())
		}
		if s, ok := b.rssSlope(); ok {
			p("\nGrowth: %.2f MB per 1,000 images (%d → %d images).\n", s, r.RSS[0].Images, r.RSS[len(r.RSS)-1].Images)
		}
		p("\n")
	}

	if pr := r.Profile; pr != nil {
		p("## Profile of the batch path\n\n`signet batch --cpuprofile cpu.prof --memprofile mem.prof` (hidden flags) over %d manifests on crane (%.0f signatures/s, %.3f ms CPU per signature), summarised with `go tool pprof -top`.\n\n", pr.Sigs, pr.Rate(), ms(pr.CPUPerSig()))
		if m, sum := perSignature(pr.Areas, max(pr.Sigs, 1)); sum > 0 {
			p("Where the CPU goes: every sampled stack charged to one area by the first frame, from the leaf up, that names one (`go tool pprof -traces`; an allocation counts where it is made, a GC assist as collection, a wake-up the HTTP client causes as the scheduler's). The profile covers the whole process, planning included.\n\n| area | CPU | share | per signature |\n|---|---:|---:|---:|\n")
			for _, a := range pr.Areas {
				p("| %s | %.2fs | %.0f%% | %.0f µs |\n", a.Name, a.Time.Seconds(), 100*m[a.Name]/sum, m[a.Name])
			}
			p("\n")
		}
		p("CPU:\n\n```\n%s\n```\n\nAllocated bytes (alloc_space):\n\n```\n%s\n```\n\nIn use at exit (inuse_space):\n\n```\n%s\n```\n\n", pr.CPUTop, pr.AllocTop, pr.InuseTop)
	}

	p("## Reproducing one figure\n\n")
	seen := map[string]bool{}
	for _, list := range [][]result{r.Fast, r.Dist, r.Latency, r.Verify} {
		for _, x := range list {
			line := fmt.Sprintf("- %s, %s: `%s`\n", x.Tool, x.Registry, x.Cmd)
			if !seen[line] {
				seen[line] = true
				p("%s", line)
			}
		}
	}
	p("\nEach needs the registry (`crane registry serve --address 127.0.0.1:PORT`, or `docker-registry serve config.yml`), a catalog seeded as the harness seeds it (`go run ./benchmarks/harness -seed N -registry crane|distribution` starts a registry, seeds N images, prints the catalog's and the ggcr writer's plan's paths and waits), and the keys; `go run ./benchmarks/harness -keep -sections NAME [-tools signet,...]` runs one section and keeps its work directory (catalogs, keys, registry logs, profiles).\n")
	if len(r.Failures) > 0 {
		p("\n## Failures\n\n")
		for _, f := range r.Failures {
			p("- %s\n", f)
		}
	}
}

func (b *bench) reproduce() string {
	if b.smoke {
		return "go run ./benchmarks/harness -smoke"
	}
	return "go run ./benchmarks/harness -out benchmarks/RESULTS.md"
}

func formWithRetries(r result) string {
	form := r.Form
	if r.Spread != "" {
		form += " (" + r.Spread + ")"
	}
	if r.U.Retries == 0 {
		return form
	}
	return fmt.Sprintf("%s (%d failed processes retried once)", form, r.U.Retries)
}
