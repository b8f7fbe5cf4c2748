package main

import (
	"bufio"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A pprof top list names the hottest functions, but the question RESULTS.md
// has to answer is where a signature's CPU goes: the HSM, the HTTP client,
// building payloads, the runtime. cpuSplit reads every sampled stack from
// `go tool pprof -traces` and charges it to one area.

// cpuArea is one line of the breakdown.
type cpuArea struct {
	Name string
	Time time.Duration
}

// areas are tried frame by frame from the leaf up: the first frame with one
// of an area's prefixes decides. Leaf first, so that a wake-up the HTTP
// client causes counts as the scheduler's, an allocation counts where it was
// made (mallocgc is in no area), and a GC assist counts as collection.
var areas = []struct {
	name     string
	prefixes []string
}{
	{"garbage collection (mark workers, assists, sweeping)", []string{
		"runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.gcAssistAlloc", "runtime.bgsweep",
		"runtime.bgscavenge", "runtime.markroot", "runtime.scanobject", "runtime.scanObject", "runtime.gcStart",
		"runtime.gcMarkDone", "runtime.gcMarkTermination", "runtime.sweepone", "runtime.(*sweepLocked)",
	}},
	{"scheduler (wake-ups, idle Ps, network poller, cgo entry and exit)", []string{
		"runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.mcall", "runtime.sysmon",
		"runtime.startm", "runtime.stopm", "runtime.wakep", "runtime.ready", "runtime.netpoll",
		"runtime.exitsyscall", "runtime.entersyscall", "runtime.goschedImpl", "runtime.gopark",
		"runtime.handoffp", "runtime.injectglist", "runtime.newproc", "runtime.goexit0",
	}},
	{"HSM signing (PKCS#11 calls; SoftHSM's C code)", []string{
		"github.com/signet-project/signet/hsm.", "github.com/miekg/pkcs11.",
	}},
	{"HTTP to the registry (net/http, sockets, the registry client)", []string{
		"net/http.", "net.", "internal/poll.", "net/textproto.", "bufio.", "crypto/tls.",
		"github.com/signet-project/signet/registry.",
	}},
	{"payloads and manifests (JSON, digests, signature formats)", []string{
		"encoding/json.", "encoding/base64.", "crypto/sha256.", "crypto/internal/fips140/sha256.",
		"github.com/signet-project/signet/signature", "github.com/google/go-containerregistry/",
	}},
	{"batch runner (catalog, plan, pool, journal, report)", []string{
		"github.com/signet-project/signet/batch.", "github.com/signet-project/signet/cli.",
	}},
}

// otherArea takes stacks no area claims: runtime start-up, timers, and the
// like.
const otherArea = "other (start-up, timers, the rest of the runtime)"

// cpuSplit charges each stack in the output of `go tool pprof -traces` to an
// area and returns the areas with samples, the costliest first and other
// last; none for a run too short to be sampled (the smoke run's).
func cpuSplit(traces string) ([]cpuArea, error) {
	sums := map[string]time.Duration{}
	var (
		value  time.Duration
		frames []string
		inRec  bool // past a separator
		first  bool // the record's first line, which carries its value
	)
	flush := func() {
		if len(frames) > 0 {
			sums[areaOf(frames)] += value
		}
		frames = frames[:0]
	}
	sc := bufio.NewScanner(strings.NewReader(traces))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "-----------+"):
			flush()
			inRec, first = true, true
		case !inRec || len(f) == 0:
			// pprof's header, or a blank line
		case first:
			d, err := pprofDuration(f[0])
			if err != nil || len(f) < 2 {
				return nil, fmt.Errorf("pprof -traces line %d: want a sample value and a frame, got %q", n, line)
			}
			value, first = d, false
			frames = append(frames, f[1])
		default:
			frames = append(frames, f[0])
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []cpuArea
	for _, a := range areas {
		if sums[a.name] > 0 {
			out = append(out, cpuArea{a.name, sums[a.name]})
		}
	}
	slices.SortStableFunc(out, func(a, b cpuArea) int { return cmp.Compare(b.Time, a.Time) })
	if sums[otherArea] > 0 {
		out = append(out, cpuArea{otherArea, sums[otherArea]})
	}
	return out, nil
}

// areaNames are the names of every area, other last.
func areaNames() []string {
	names := make([]string, 0, len(areas)+1)
	for _, a := range areas {
		names = append(names, a.name)
	}
	return append(names, otherArea)
}

// perSignature is each area's CPU in µs per signature, and their sum.
func perSignature(l []cpuArea, sigs int) (map[string]float64, float64) {
	m, sum := map[string]float64{}, 0.0
	for _, a := range l {
		us := float64(a.Time.Microseconds()) / float64(sigs)
		m[a.Name], sum = us, sum+us
	}
	return m, sum
}

// areaOf is the area of one stack, leaf first.
func areaOf(frames []string) string {
	for _, f := range frames {
		for _, a := range areas {
			for _, p := range a.prefixes {
				if strings.HasPrefix(f, p) {
					return a.name
				}
			}
		}
	}
	return otherArea
}

// pprofDuration reads a sample value as pprof prints it: Go durations, and
// "mins" or "hrs" for long ones.
func pprofDuration(s string) (time.Duration, error) {
	for unit, scale := range map[string]time.Duration{"mins": time.Minute, "hrs": time.Hour} {
		if v, ok := strings.CutSuffix(s, unit); ok {
			x, err := strconv.ParseFloat(v, 64)
			return time.Duration(x * float64(scale)), err
		}
	}
	return time.ParseDuration(s)
}
